#!/usr/bin/env bash
# Local check of the OSS-Fuzz build: set the variables OSS-Fuzz sets (clang, ASan,
# libFuzzer), run ci/oss-fuzz/build.sh, then check that every target has its binary,
# seed corpus zip and dictionary in $OUT and runs over its seed corpus without a finding.
#   ci/oss-fuzz/build-test.sh OUT_DIR TARGET...
set -euo pipefail
out=$1
shift
export CC=clang CXX=clang++
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
export OUT=$out
export WORK=${out%/}-work
# A fresh build, as OSS-Fuzz does.
rm -rf "$OUT" "$WORK"
mkdir -p "$OUT"
ci/oss-fuzz/build.sh
status=0
for t in "$@"; do
	for f in "fuzz_$t" "fuzz_${t}_seed_corpus.zip"; do
		if [ ! -s "$OUT/$f" ]; then
			echo "oss-fuzz-build-test: missing $OUT/$f"
			status=1
		fi
	done
	seeds=$(mktemp -d)
	python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
		"$OUT/fuzz_${t}_seed_corpus.zip" "$seeds"
	n=$(ls "$seeds" | wc -l)
	if "$OUT/fuzz_$t" -runs=2000 "$seeds" >"$OUT/fuzz_$t.check.log" 2>&1; then
		echo "oss-fuzz-build-test: fuzz_$t ok ($n seeds, 2000 mutations)"
	else
		echo "oss-fuzz-build-test: fuzz_$t FAILED (log: $OUT/fuzz_$t.check.log)"
		tail -n 30 "$OUT/fuzz_$t.check.log"
		status=1
	fi
	rm -rf "$seeds"
done
exit $status
