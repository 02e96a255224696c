#!/usr/bin/env bash
# Write the release tarball OUT_DIR/svsm-emu-VERSION.tar.gz and print its path.
#   ci/dist.sh OUT_DIR
# From a git checkout: the committed tree of HEAD (git archive; uncommitted changes are not
# in it, and a warning says so). From an unpacked tarball: its files, build output excluded.
# Either way the tarball carries .tarball-version and .tarball-epoch, so that a build from it
# knows its version and source date without git, and the same sources always give the same
# bytes (sorted names, fixed owner and times, gzip without a time stamp).
set -euo pipefail
out=${1:?usage: ci/dist.sh OUT_DIR}
cd "$(dirname "$0")/.."

version=$(ci/version.sh) || { echo "dist: cannot tell the version (no git, no .tarball-version)" >&2; exit 1; }
epoch=$(ci/version.sh --epoch) || { echo "dist: cannot tell the source date" >&2; exit 1; }
name=svsm-emu-$version
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/$name"
if [ -e .git ] && git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
		echo "dist: warning: uncommitted changes are not in the tarball (it holds HEAD)" >&2
	fi
	git archive --format=tar HEAD | tar -x -C "$tmp/$name"
else
	tar -c --exclude=./build --exclude='./.tarball-*' . | tar -x -C "$tmp/$name"
fi
echo "$version" >"$tmp/$name/.tarball-version"
echo "$epoch" >"$tmp/$name/.tarball-epoch"

# Permissions as git would give them, so that the umask of whoever builds does not matter.
chmod -R u+rwX,go+rX,go-w "$tmp/$name"
(cd "$tmp" && LC_ALL=C tar -c --sort=name --format=gnu --mtime="@$epoch" --owner=0 --group=0 \
	--numeric-owner --mode=go-w "$name") | gzip -n -9 >"$out/$name.tar.gz.tmp"
mv "$out/$name.tar.gz.tmp" "$out/$name.tar.gz"
echo "$out/$name.tar.gz"
