#!/usr/bin/env bash
# make lint: clang-tidy (.clang-tidy) and cppcheck (ci/lint/) over every C source that
# `make all image` compiles, each with the flags it is compiled with (from a dry run with
# CC=clang: build/lint/compile_commands.json). Fails on any finding of either.
#   ci/lint.sh [BUILD_DIR]     (default build/lint)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/lint}
jobs=2
mkdir -p "$out"
for tool in clang-tidy run-clang-tidy cppcheck; do
	command -v "$tool" >/dev/null || { echo "lint: $tool is missing (ci/install-deps.sh)" >&2; exit 2; }
done

make -n -B CC=clang ROOT="$out" all image 2>/dev/null | python3 ci/lint/compdb.py "$PWD" >"$out/compile_commands.json"
count=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$out/compile_commands.json")
echo "lint: $count C sources (build/lint/compile_commands.json)"

rc=0
echo "lint: clang-tidy $(clang-tidy --version | sed -n 's/.*LLVM version \([0-9.]*\).*/\1/p') (.clang-tidy)"
if ! run-clang-tidy -p "$out" -j "$jobs" -quiet >"$out/clang-tidy.log" 2>&1; then
	rc=1
fi
# Findings only (run-clang-tidy also echoes each command line).
sed 's/\x1b\[[0-9;]*m//g' "$out/clang-tidy.log" | grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' |
	sed "s#^$PWD/##" | sort -u >"$out/clang-tidy.findings" || true
if [ $rc -ne 0 ] || [ -s "$out/clang-tidy.findings" ]; then
	echo "lint: clang-tidy: FAILED: $(wc -l <"$out/clang-tidy.findings") findings (full log: $out/clang-tidy.log)" >&2
	cat "$out/clang-tidy.findings" >&2
	rc=1
else
	echo "lint: clang-tidy: clean"
fi

echo "lint: cppcheck $(cppcheck --version | awk '{print $2}') (ci/lint/cppcheck.sh options, ci/lint/svsm.cfg, ci/lint/cppcheck-suppressions.txt)"
mkdir -p "$out/cppcheck-build"
if ci/lint/cppcheck.sh "$out/compile_commands.json" "$out/cppcheck-build" "$jobs" >"$out/cppcheck.log" 2>&1; then
	echo "lint: cppcheck: clean"
else
	echo "lint: cppcheck: FAILED" >&2
	cat "$out/cppcheck.log" >&2
	rc=1
fi
ci/check-deps-doc.sh || rc=1
[ $rc -eq 0 ] && echo "lint: OK"
exit $rc
