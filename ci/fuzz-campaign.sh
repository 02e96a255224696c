#!/usr/bin/env bash
# A fuzzing campaign: the sanitizer-free libFuzzer build of each target for SECONDS, one
# target after the other, at low priority, from the committed seeds (read, never written)
# plus WORKDIR/corpus/TARGET (kept between runs), with the target's dictionary and
# -max_len=512. Prints one line per target (executions, exec/s, new corpus inputs,
# outcome); logs in WORKDIR/TARGET.log, reproducers in WORKDIR/artifacts/TARGET/.
#   make fuzz-build FUZZ_SAN= FUZZ_B=build/fuzz/plain
#   ci/fuzz-campaign.sh SECONDS WORKDIR TARGET...
# Keep what a campaign found: ci/fuzz-keep-corpus.sh TARGET build/fuzz/plain/fuzz_TARGET WORKDIR/corpus/TARGET
set -uo pipefail
if [ $# -lt 3 ]; then
	echo "usage: $0 SECONDS WORKDIR TARGET..." >&2
	exit 2
fi
seconds=$1 work=$2
shift 2
bins=${FUZZ_B:-build/fuzz/plain}
status=0
for t in "$@"; do
	bin=$bins/fuzz_$t
	[ -x "$bin" ] || { echo "fuzz-campaign: $bin missing (make fuzz-build FUZZ_SAN= FUZZ_B=$bins)" >&2; exit 2; }
	mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
	dict=()
	[ -f "fixtures/fuzz/$t.dict" ] && dict=(-dict="fixtures/fuzz/$t.dict")
	before=$(ls "$work/corpus/$t" | wc -l)
	start=$(date +%s)
	nice -n 15 "$bin" -max_total_time="$seconds" -max_len=512 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/$t/" "${dict[@]}" "$work/corpus/$t" "fixtures/fuzz/$t" \
		>"$work/$t.log" 2>&1
	rc=$?
	end=$(date +%s)
	execs=$(grep -Eo 'stat::number_of_executed_units: +[0-9]+' "$work/$t.log" | grep -Eo '[0-9]+$')
	rate=$(grep -Eo 'stat::average_exec_per_sec: +[0-9]+' "$work/$t.log" | grep -Eo '[0-9]+$')
	after=$(ls "$work/corpus/$t" | wc -l)
	if [ $rc -eq 0 ]; then
		outcome="no finding"
	else
		outcome="FINDING (exit $rc): $(grep -m1 -E 'fuzz finding|ERROR: |SUMMARY' "$work/$t.log")"
		status=1
	fi
	echo "fuzz-campaign: $t: ${execs:-?} executions in $((end - start)) s, ${rate:-?} exec/s," \
		"corpus $before -> $after, $outcome"
done
exit $status
