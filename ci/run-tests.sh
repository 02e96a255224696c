#!/usr/bin/env bash
# Run cmocka suites and print their summaries plus one closing total line.
#   ci/run-tests.sh BUILD_DIR SUITE...
# A SUITE written PATH@VAR=VALUE runs PATH once more with that variable in its environment
# (its logs and XML are named NAME@VAR=VALUE).
# CMOCKA_MESSAGE_OUTPUT=xml: each suite also writes JUnit XML to BUILD_DIR/junit/<suite>.xml
# (the suite is then run a second time for the normal stdout summary).
set -u
bdir=$1
shift
passed=0
failed=0
bad_suites=()
mkdir -p "$bdir/junit" "$bdir/test-logs"
for item in "$@"; do
	t=${item%%@*}
	envset=()
	name=$(basename "$t")
	if [ "$item" != "$t" ]; then
		envset=("${item#*@}")
		name="$name@${item#*@}"
	fi
	log="$bdir/test-logs/$name.log"
	if [ "${CMOCKA_MESSAGE_OUTPUT:-}" = "xml" ] || [ "${CMOCKA_MESSAGE_OUTPUT:-}" = "XML" ]; then
		rm -f "$bdir/junit/$name.xml"
		env "${envset[@]}" CMOCKA_MESSAGE_OUTPUT=xml CMOCKA_XML_FILE="$bdir/junit/$name.xml" "$t" >/dev/null 2>&1 || true
	fi
	env "${envset[@]}" CMOCKA_MESSAGE_OUTPUT=stdout timeout 600 "$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$log" | tail -n 1 | sed -E 's/^\[  PASSED  \] ([0-9]+).*/\1/')
	f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$log" | tail -n 1 | sed -E 's/^\[  FAILED  \] ([0-9]+).*/\1/')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ $rc -ne 0 ]; then
		bad_suites+=("$name (exit $rc)")
		if [ -z "$f" ] || [ "$f" = 0 ]; then
			failed=$((failed + 1))
		fi
	fi
done
echo
if [ ${#bad_suites[@]} -gt 0 ]; then
	echo "failing suites: ${bad_suites[*]}"
fi
echo "cmocka: $passed passed, $failed failed"
[ ${#bad_suites[@]} -eq 0 ]
