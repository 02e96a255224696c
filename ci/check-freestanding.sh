#!/usr/bin/env bash
# Check that the relocatable object built from every svsm/ core source needs nothing
# from outside but the arch interface declared in the given header.
#   ci/check-freestanding.sh OBJECT ARCH_HEADER
set -euo pipefail
obj=$1
hdr=$2
allowed=$(grep -oE '\barch_[a-z0-9_]+\(' "$hdr" | tr -d '(' | sort -u)
undef=$(nm -u "$obj" | awk '{print $2}' | sort -u)
bad=()
for s in $undef; do
	if ! grep -qx "$s" <<<"$allowed"; then
		bad+=("$s")
	fi
done
echo "check-freestanding: $(echo "$undef" | grep -c . || true) undefined symbols in $obj, all from $hdr:"
echo "$undef" | sed 's/^/  /'
if [ ${#bad[@]} -gt 0 ]; then
	echo "check-freestanding: FAILED: symbols outside the arch interface: ${bad[*]}" >&2
	exit 1
fi
echo "check-freestanding: OK"
