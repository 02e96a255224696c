#!/usr/bin/env bash
# CI smoke: every fuzz target under libFuzzer (ASan+UBSan) for SECONDS, two at a time,
# each starting from a copy of its committed seeds, then a replay of the seeds with the
# same binary. Any crash, leak or oracle finding fails the run; reproducers are kept in
# WORKDIR/smoke/artifacts/.
#   ci/fuzz-smoke.sh SECONDS WORKDIR TARGET...
set -uo pipefail
seconds=$1 work=$2
shift 2
smoke=$work/smoke
rm -rf "$smoke"
mkdir -p "$smoke/artifacts"
status=0
run_one() {
	local t=$1 bin=$work/libfuzzer/fuzz_$1
	local corpus=$smoke/corpus/$t
	mkdir -p "$corpus"
	cp -r "fixtures/fuzz/$t/." "$corpus/"
	local dict=()
	if [ -f "fixtures/fuzz/$t.dict" ]; then
		dict=(-dict="fixtures/fuzz/$t.dict")
	fi
	if ! "$bin" -max_total_time="$seconds" -artifact_prefix="$smoke/artifacts/$t-" -print_final_stats=1 \
		"${dict[@]}" "$corpus" >"$smoke/$t.log" 2>&1; then
		echo "fuzz-smoke: $t FAILED (log: $smoke/$t.log)"
		tail -n 40 "$smoke/$t.log"
		return 1
	fi
	local execs rate
	execs=$(grep -Eo 'stat::number_of_executed_units: +[0-9]+' "$smoke/$t.log" | grep -Eo '[0-9]+$')
	rate=$(grep -Eo 'stat::average_exec_per_sec: +[0-9]+' "$smoke/$t.log" | grep -Eo '[0-9]+$')
	# -runs=0: execute the seeds only (nothing is written into fixtures/).
	if ! "$bin" -runs=0 "fixtures/fuzz/$t" >"$smoke/$t-replay.log" 2>&1; then
		echo "fuzz-smoke: $t seed replay FAILED (log: $smoke/$t-replay.log)"
		tail -n 40 "$smoke/$t-replay.log"
		return 1
	fi
	echo "fuzz-smoke: $t ok: ${execs:-?} executions, ${rate:-?} exec/s, seeds replayed"
}
# Two targets at a time: the CI machine has two cores.
pids=()
names=()
for t in "$@"; do
	run_one "$t" &
	pids+=($!)
	names+=("$t")
	if [ ${#pids[@]} -ge 2 ]; then
		wait "${pids[0]}" || status=1
		pids=("${pids[@]:1}")
		names=("${names[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || status=1
done
if [ $status -ne 0 ]; then
	echo "fuzz-smoke: FAILED"
else
	echo "fuzz-smoke: all targets passed"
fi
exit $status
