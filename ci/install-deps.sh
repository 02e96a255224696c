#!/usr/bin/env bash
# Install the Debian 12 packages this project needs, only those missing.
#   ci/install-deps.sh          install what is missing (needs root or sudo)
#   ci/install-deps.sh --check  exit 1 and list what is missing, install nothing
set -euo pipefail

# Each package once: what it is for.
PACKAGES=(
	build-essential
	pkg-config
	libcmocka-dev
	libssl-dev
	linux-libc-dev
	clang
	libclang-rt-14-dev
	llvm
	qemu-system-x86
	libvirt-clients
	libjemalloc2
	libmimalloc2.0
	python3
	afl++
	valgrind
	libtpms-dev
	tpm2-tools
	libtss2-tcti-mssim0
	swtpm
	# packaging, offline build, reproducibility, coverage and lint (docs/building.md)
	debhelper
	dpkg-dev
	fakeroot
	lintian
	strace
	man-db
	bsdextrautils
	gcovr
	clang-tidy
	cppcheck
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ "${1:-}" = "--check" ]; then
	if [ ${#missing[@]} -gt 0 ]; then
		echo "missing packages: ${missing[*]}"
		exit 1
	fi
	exit 0
fi

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "install-deps: not root and no sudo; run as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
