#!/usr/bin/env bash
# Run one fuzz target with libFuzzer (ENGINE=libfuzzer) or AFL++ (ENGINE=afl).
#   ci/fuzz-run.sh TARGET BINARY SECONDS WORKDIR
# The corpus grows in WORKDIR/corpus/TARGET (libFuzzer) or WORKDIR/afl-out/TARGET (AFL++);
# the committed seeds in fixtures/fuzz/TARGET are read, never written. Crashes go to
# WORKDIR/artifacts/TARGET/. AFL_JOBS=n (AFL++ only) starts one -M and n-1 -S instances.
set -euo pipefail
target=$1 bin=$2 seconds=$3 work=$4
seeds=fixtures/fuzz/$target
dict=()
if [ -f "fixtures/fuzz/$target.dict" ]; then
	dict=("fixtures/fuzz/$target.dict")
fi
mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
case "${ENGINE:-libfuzzer}" in
libfuzzer)
	args=(-max_total_time="$seconds" -artifact_prefix="$work/artifacts/$target/" -print_final_stats=1)
	if [ ${#dict[@]} -gt 0 ]; then
		args+=(-dict="${dict[0]}")
	fi
	exec "$bin" "${args[@]}" "$work/corpus/$target" "$seeds"
	;;
afl)
	out=$work/afl-out/$target
	mkdir -p "$out"
	xargs=()
	if [ ${#dict[@]} -gt 0 ]; then
		xargs=(-x "${dict[0]}")
	fi
	export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
	# The snapshot reset takes write faults on purpose: ASan must let it handle SIGSEGV.
	export ASAN_OPTIONS=allow_user_segv_handler=1:abort_on_error=1:symbolize=0:detect_leaks=0
	jobs=${AFL_JOBS:-1}
	for ((i = 1; i < jobs; i++)); do
		afl-fuzz -S "s$i" -i "$seeds" -o "$out" -V "$seconds" -m none "${xargs[@]}" -- "$bin" >"$out/s$i.log" 2>&1 &
	done
	afl-fuzz -M main -i "$seeds" -o "$out" -V "$seconds" -m none "${xargs[@]}" -- "$bin"
	wait
	;;
*)
	echo "fuzz-run: unknown ENGINE '${ENGINE}' (libfuzzer or afl)" >&2
	exit 2
	;;
esac
