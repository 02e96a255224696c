#!/usr/bin/env bash
# cppcheck as `make lint` runs it (the checked-in options; see ci/lint.sh).
#   ci/lint/cppcheck.sh COMPILE_COMMANDS BUILD_DIR JOBS
# warning + portability: real defects (undefined behaviour, leaks, wrong format strings,
# out-of-bounds indexes, uninitialised use); 'style' and 'performance' are left to review.
# ci/lint/svsm.cfg tells cppcheck which of our functions never return.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec cppcheck --project="$1" --cppcheck-build-dir="$2" -j "$3" --quiet \
	--enable=warning,portability --std=c11 --platform=unix64 \
	--library=posix --library="$here/svsm.cfg" \
	--suppressions-list="$here/cppcheck-suppressions.txt" --inline-suppr \
	--error-exitcode=1 --template='{file}:{line}: {severity}: {message} [{id}]'
