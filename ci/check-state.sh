#!/usr/bin/env bash
# Every writable global of the SVSM core must live in section svsm_state (state a fuzzer
# snapshots and restores) or svsm_scratch (per-call buffers). List offenders and fail.
#   ci/check-state.sh OBJECT...
set -euo pipefail
bad=0
for o in "$@"; do
	# objdump -t columns: value flags section size name; data objects only.
	while read -r sec name; do
		echo "check-state: $o: global '$name' in $sec (mark it SVSM_STATE or SVSM_SCRATCH)" >&2
		bad=1
	done < <(objdump -t "$o" | awk '$0 ~ / O / { sec=$(NF-2); if (sec ~ /^\.(data|bss)/ && sec !~ /^\.data\.rel\.ro/) print sec, $NF }')
done
if [ $bad -ne 0 ]; then
	exit 1
fi
echo "check-state: every writable core global is in svsm_state or svsm_scratch"
