#!/usr/bin/env bash
# Build and test a release tarball with no network, as an offline container or OBS would.
#   ci/offline-build.sh TARBALL [WORK_DIR]
# Unpacks TARBALL (from `make dist`) into WORK_DIR (default: a new temporary directory),
# then, inside ci/no-network.sh (no network namespace; fails if anything tries to connect):
# make test, the SNP image and its checks, the freestanding proof and `make run`; finally
# `make install` into a staging directory and the install check. Fails on the first error.
set -euo pipefail
tarball=${1:?usage: ci/offline-build.sh TARBALL [WORK_DIR]}
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ge 2 ]; then
	work=$2
	mkdir -p "$work"
else
	work=$(mktemp -d /tmp/svsm-offline.XXXXXX)
	trap 'rm -rf "$work"' EXIT
fi

name=$(basename "$tarball" .tar.gz)
rm -rf "${work:?}/$name"
tar -xzf "$tarball" -C "$work"
src=$work/$name
[ -f "$src/Makefile" ] || { echo "offline-build: $tarball does not unpack to $name/" >&2; exit 1; }
[ ! -e "$src/.git" ] || { echo "offline-build: the tarball must not carry .git" >&2; exit 1; }

echo "offline-build: $name in $src, no network"
"$here/no-network.sh" bash -c '
	set -euo pipefail
	cd "$1"
	echo "version (from the tarball): $(ci/version.sh)"
	nice -n 10 make -j2 test
	nice -n 10 make -j2 image
	make check-freestanding
	make run >/dev/null
	nice -n 10 make -j2 install DESTDIR="$PWD/build/stage" PREFIX=/usr
	ci/install-check.sh "$PWD/build/stage" /usr
' offline-build "$src"
echo "offline-build: OK ($name built, tested and installed with no network)"
