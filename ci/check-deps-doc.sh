#!/usr/bin/env bash
# docs/building.md must list exactly the packages of ci/install-deps.sh, and every
# Build-Depends of debian/control must be installed by ci/install-deps.sh (so that CI
# and developers have what the package build needs).
set -euo pipefail
cd "$(dirname "$0")/.."
script=$(sed -n '/^PACKAGES=(/,/^)/p' ci/install-deps.sh | grep -vE '^PACKAGES=\(|^\)|^\s*#' | awk '{print $1}' | sort -u)
doc=$(sed -n '/^## Dependencies/,/^## /p' docs/building.md | grep -E '^\| [a-z0-9]' | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
	grep -v '^package$' | sort -u)
bad=0
if [ "$script" != "$doc" ]; then
	echo "check-deps-doc: docs/building.md and ci/install-deps.sh differ (< install-deps, > building.md):" >&2
	diff <(echo "$script") <(echo "$doc") | grep '^[<>]' >&2 || true
	bad=1
fi
# build-essential brings gcc, make, binutils, libc6-dev; debhelper-compat is debhelper.
builddeps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' debian/control | sed 's/^Build-Depends://' | grep -v '^[A-Z]' |
	tr ',' '\n' | sed -E 's/[(<].*//; s/^[[:space:]]+//; s/[[:space:]]+$//' | grep . | sort -u)
for p in $builddeps; do
	case $p in
	gcc | make | binutils) continue ;;
	debhelper-compat) p=debhelper ;;
	esac
	if ! grep -qx "$p" <<<"$script"; then
		echo "check-deps-doc: Build-Depends $p is not installed by ci/install-deps.sh" >&2
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "check-deps-doc: docs/building.md, ci/install-deps.sh and debian/control agree ($(wc -l <<<"$script") packages)"
exit $bad
