#!/usr/bin/env bash
# Prove that the images build bit for bit the same in another directory, at another time,
# under another user, umask, time zone and locale.
#   ci/repro-check.sh [TARBALL]
# Without TARBALL, `ci/dist.sh` makes one from HEAD twice (different umask and time zone)
# and the two tarballs must be identical too. The tarball is unpacked twice:
#   A  <tmp>/a/svsm-emu-V             as the caller, umask 022, TZ=UTC, LC_ALL=C
#   B  <tmp>/b/another/deeper/tree    (2 s later) as 'nobody' when run as root, umask 027,
#                                     TZ=Asia/Tokyo, LC_ALL=C.UTF-8
# and each builds svsm.elf, svsm.bin, svsm-test.elf, svsm-emu and libsvsm-malloc.so.
# Every file must be byte-identical; the SHA-256 of each is printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
work=$(mktemp -d /tmp/svsm-repro.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
files=(svsm.elf svsm.bin svsm-test.elf svsm-emu libsvsm-malloc.so)

if [ $# -ge 1 ]; then
	tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
	tarball=$(cd "$src" && umask 022 && TZ=UTC ci/dist.sh "$work/dist1")
	tarball2=$(cd "$src" && umask 077 && TZ=America/New_York ci/dist.sh "$work/dist2")
	if ! cmp "$tarball" "$tarball2"; then
		echo "repro-check: FAILED: two 'make dist' runs of the same commit differ" >&2
		exit 1
	fi
	echo "repro-check: release tarball reproducible: $(sha256sum <"$tarball" | cut -d' ' -f1)  $(basename "$tarball")"
fi
name=$(basename "$tarball" .tar.gz)

# build DIR USER UMASK TZ LOCALE
build() {
	local dir=$1 user=$2 mask=$3 tz=$4 loc=$5
	local targets=()
	for f in "${files[@]}"; do
		targets+=("build/$f")
	done
	local cmd="umask $mask && cd '$dir' && TZ=$tz LC_ALL=$loc nice -n 10 make -j2 ${targets[*]} >'$dir.log' 2>&1"
	if [ "$user" = "$(id -un)" ]; then
		bash -c "$cmd"
	else
		chown -R "$user" "$(dirname "$dir")"
		setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups bash -c "$cmd"
	fi || { echo "repro-check: the build in $dir failed:" >&2; tail -n 30 "$dir.log" >&2; exit 1; }
}

mkdir -p "$work/a" "$work/b/another/deeper"
tar -xzf "$tarball" -C "$work/a"
tar -xzf "$tarball" -C "$work/b/another/deeper"
mv "$work/b/another/deeper/$name" "$work/b/another/deeper/tree"
a=$work/a/$name
b=$work/b/another/deeper/tree

user_b=$(id -un)
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	user_b=nobody
else
	echo "repro-check: not root: build B runs as $(id -un) too (CI runs as root and uses 'nobody')"
fi
echo "repro-check: build A in $a as $(id -un)"
build "$a" "$(id -un)" 022 UTC C
sleep 2
echo "repro-check: build B in $b as $user_b"
build "$b" "$user_b" 027 Asia/Tokyo C.UTF-8

bad=0
for f in "${files[@]}"; do
	if cmp -s "$a/build/$f" "$b/build/$f"; then
		printf 'repro-check: identical  %s  %s\n' "$(sha256sum <"$a/build/$f" | cut -d' ' -f1)" "$f"
	else
		printf 'repro-check: DIFFERENT  %s\n' "$f" >&2
		bad=1
	fi
done
if [ $bad -ne 0 ]; then
	echo "repro-check: FAILED (compare with diffoscope, or readelf -wi / objdump -s on both)" >&2
	exit 1
fi
echo "repro-check: OK: ${#files[@]} outputs byte-identical across directories, times, users, umasks, time zones and locales"
