#!/bin/sh
# The project's version and source date, from git when this is a checkout, else from the
# files `make dist` puts in the release tarball.
#   ci/version.sh          the version: the tag vX.Y.Z when HEAD is tagged, else
#                          <core version>+git<commit date>.<short hash>; .tarball-version otherwise
#   ci/version.sh --epoch  SOURCE_DATE_EPOCH: the commit time of HEAD, or .tarball-epoch
# Run from the top of the source tree. Prints nothing and fails when it can tell neither.
set -eu
what=${1:-version}

core_version() {
	sed -n 's/^#define SVSM_VERSION_STRING "\(.*\)"$/\1/p' svsm/include/svsm/core.h
}

if [ -e .git ] && command -v git >/dev/null 2>&1 && git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	case $what in
	--epoch)
		git log -1 --format=%ct HEAD
		;;
	*)
		if tag=$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null); then
			echo "${tag#v}"
		else
			base=$(core_version)
			[ -n "$base" ] || exit 1
			echo "$base+git$(TZ=UTC0 git log -1 --date=format-local:%Y%m%d --format=%cd HEAD).$(git rev-parse --short=12 HEAD)"
		fi
		;;
	esac
	exit 0
fi

case $what in
--epoch) f=.tarball-epoch ;;
*) f=.tarball-version ;;
esac
[ -s "$f" ] || exit 1
head -n 1 "$f"
