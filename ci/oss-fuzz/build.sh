#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script: builds every fuzz target with the engine's
# $CC, $CFLAGS and $LIB_FUZZING_ENGINE into $OUT, with <target>_seed_corpus.zip and
# <target>.dict next to each binary. Run from the project's checkout ($SRC/svsm-emu in
# the Docker image of ci/oss-fuzz/Dockerfile); `make oss-fuzz-build-test` runs it locally.
if [ -n "${SRC:-}" ] && [ -d "$SRC/svsm-emu" ]; then
	here=$SRC/svsm-emu
else
	here=$(cd "$(dirname "$0")/../.." && pwd)
fi
cd "$here"
work=${WORK:-$here/build/oss-fuzz-work}
objs=$work/objs
mkdir -p "$OUT" "$objs"
# $CFLAGS carries the sanitizer and coverage flags: nothing is added by the Makefile.
make -j"$(nproc)" fuzz-build ROOT="$work/root" FUZZ_B="$objs" FUZZ_CC="$CC" FUZZ_CFLAGS="$CFLAGS" \
	FUZZ_SAN= FUZZ_COV= FUZZ_LINK="$LIB_FUZZING_ENGINE"
for t in $(make -s fuzz-list ROOT="$work/root"); do
	cp "$objs/fuzz_$t" "$OUT/fuzz_$t"
	rm -f "$OUT/fuzz_${t}_seed_corpus.zip"
	python3 - "$OUT/fuzz_${t}_seed_corpus.zip" "fixtures/fuzz/$t" <<'PY'
import os, sys, zipfile
out, src = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(src)):
        z.write(os.path.join(src, name), name)
PY
	if [ -f "fixtures/fuzz/$t.dict" ]; then
		cp "fixtures/fuzz/$t.dict" "$OUT/fuzz_$t.dict"
	fi
	# The snapshot reset handles its own write faults: ASan must let it.
	printf '[asan]\nallow_user_segv_handler=1\n[libfuzzer]\nhandle_segv=1\n' >"$OUT/fuzz_$t.options"
done
