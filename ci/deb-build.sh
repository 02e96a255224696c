#!/usr/bin/env bash
# Build the Debian packages from a release tarball, offline, and run lintian on them.
#   ci/deb-build.sh OUT_DIR [TARBALL] [--install]
# Without TARBALL, `ci/dist.sh` makes one from HEAD. The tarball is unpacked in a scratch
# directory; when its version is not the top entry of debian/changelog, a snapshot entry
# is added (as OBS or a CI would). `dpkg-buildpackage -us -uc -b` runs inside
# ci/no-network.sh (no network; fails if anything tries). lintian must report no error
# and no warning (overrides in debian/*.lintian-overrides, each with its reason); its full
# output goes to OUT_DIR/lintian.txt. The .deb files are copied to OUT_DIR.
# --install: then install them with apt-get (root), run ci/install-check.sh on the real
# installation, and purge them again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
out=${1:?usage: ci/deb-build.sh OUT_DIR [TARBALL] [--install]}
shift
tarball=
install=0
for a in "$@"; do
	case $a in
	--install) install=1 ;;
	*) tarball=$(cd "$(dirname "$a")" && pwd)/$(basename "$a") ;;
	esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/svsm-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -z "$tarball" ]; then
	tarball=$(cd "$src" && ci/dist.sh "$work/dist")
fi
name=$(basename "$tarball" .tar.gz)
tar -xzf "$tarball" -C "$work"
cd "$work/$name"
version=$(cat .tarball-version)
epoch=$(cat .tarball-epoch)

if [ "$(dpkg-parsechangelog -S Version)" != "$version" ]; then
	maint=$(sed -n 's/^Maintainer: //p' debian/control)
	{
		echo "svsm-emu ($version) unstable; urgency=medium"
		echo
		echo "  * Snapshot build of $version."
		echo
		echo " -- $maint  $(LC_ALL=C date -u -R -d "@$epoch")"
		echo
		cat debian/changelog
	} >debian/changelog.new
	mv debian/changelog.new debian/changelog
fi

echo "deb-build: dpkg-buildpackage -us -uc -b of $version, no network"
"$here/no-network.sh" env DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} parallel=2" \
	nice -n 10 dpkg-buildpackage -us -uc -b >"$out/dpkg-buildpackage.log" 2>&1 ||
	{ tail -n 40 "$out/dpkg-buildpackage.log" >&2; echo "deb-build: FAILED (log: $out/dpkg-buildpackage.log)" >&2; exit 1; }
# The packaged images must be the bytes the build made (nothing strips or rewrites them).
for img in svsm.elf svsm.bin svsm-test.elf; do
	if ! cmp -s "build/$img" "debian/svsm-emu/usr/share/svsm/$img"; then
		echo "deb-build: FAILED: the packaged $img differs from build/$img" >&2
		exit 1
	fi
done
echo "deb-build: packaged images identical to the build's: svsm.bin $(sha256sum <build/svsm.bin | cut -d' ' -f1)"
cd "$work"
cp ./*.deb "$out/"
changes=$(ls ./*.changes)
for d in ./*.deb; do
	echo "deb-build: $(basename "$d") ($(du -k "$d" | cut -f1) KiB)"
done

# lintian: info and pedantic tags are printed, errors and warnings fail the build.
lrc=0
lintian --info --display-info --pedantic --fail-on error,warning "$changes" >"$out/lintian.txt" 2>&1 || lrc=$?
if [ -s "$out/lintian.txt" ]; then
	sed 's/^/lintian: /' "$out/lintian.txt"
else
	echo "lintian: (nothing to report)"
fi
overridden=$(lintian --show-overrides "$changes" 2>/dev/null | grep -c '^O:' || true)
echo "deb-build: lintian exit $lrc, $overridden tags overridden (debian/*.lintian-overrides)"
[ $lrc -eq 0 ] || { echo "deb-build: FAILED: lintian reports errors or warnings" >&2; exit 1; }

if [ $install -eq 1 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "deb-build: --install needs root" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "$out"/svsm-emu_"$version"_*.deb \
		"$out"/libsvsm-machine-dev_"$version"_*.deb >/dev/null
	rc=0
	(cd "$src" && ci/install-check.sh / /usr "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)") || rc=$?
	apt-get purge -y -qq svsm-emu libsvsm-machine-dev >/dev/null
	[ $rc -eq 0 ] || { echo "deb-build: FAILED: the installed packages do not pass ci/install-check.sh" >&2; exit 1; }
	[ ! -e /usr/bin/svsm-emu ] || { echo "deb-build: FAILED: purge left /usr/bin/svsm-emu" >&2; exit 1; }
	echo "deb-build: installed, checked (ci/install-check.sh) and purged"
fi
echo "deb-build: OK"
