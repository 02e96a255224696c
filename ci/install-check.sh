#!/usr/bin/env bash
# Check an installation of svsm-emu: every file, the man pages, bash completion, the data
# lookup without the source tree, the pkg-config file (an out-of-tree test is built and
# run against it), the installed image in QEMU, and LD_PRELOAD of the allocator.
#   ci/install-check.sh ROOT PREFIX [LIBDIR]
# ROOT is DESTDIR ('/' for a real installation, e.g. from the Debian package); LIBDIR
# defaults to PREFIX/lib. Run from the source tree (it borrows one harness test).
set -euo pipefail
root=${1:?usage: ci/install-check.sh ROOT PREFIX [LIBDIR]}
prefix=${2:?usage: ci/install-check.sh ROOT PREFIX [LIBDIR]}
libdir=${3:-$prefix/lib}
root=${root%/}
src=$(cd "$(dirname "$0")/.." && pwd)
P=$root$prefix
L=$root$libdir
tmp=$(mktemp -d /tmp/svsm-installcheck.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install-check: FAILED: $*" >&2; exit 1; }
ok() { echo "install-check: ok: $*"; }

# --- every file ----------------------------------------------------------------------------
for f in "$P/bin/svsm-emu" "$L/svsm-emu/libsvsm-malloc.so" "$L/svsm-emu/libsvsm-malloc-debug.so" \
	"$L/libsvsmcore.a" "$L/libsvsmemu.a" "$L/libsvsmharness.a" "$L/pkgconfig/svsm-emu.pc" \
	"$P/share/svsm/svsm.elf" "$P/share/svsm/svsm.bin" "$P/share/svsm/svsm-test.elf" \
	"$P/share/bash-completion/completions/svsm-emu" \
	"$P/include/svsm-emu/svsm/core.h" "$P/include/svsm-emu/emu/machine.h" \
	"$P/include/svsm-emu/harness/test_common.h" "$P/include/svsm-emu/harness/lib/hx.h"; do
	[ -f "$f" ] || fail "$f is not installed"
done
# Man pages as installed, or compressed (dh_installman).
man1=$P/share/man/man1/svsm-emu.1
man3=$P/share/man/man3/libsvsm-malloc.3
[ -f "$man1" ] || man1=$man1.gz
[ -f "$man3" ] || man3=$man3.gz
[ -f "$man1" ] && [ -f "$man3" ] || fail "the man pages are not installed"
[ -d "$P/share/svsm/fixtures/fuzz/dispatch" ] || fail "the fixtures are not installed"
[ -x "$P/bin/svsm-emu" ] || fail "svsm-emu is not executable"
ok "every file is installed under $P"

emu=$P/bin/svsm-emu
help=$("$emu" --help)

# --- man pages: render without warnings, and document every command and option ------------
for page in "$man1" "$man3"; do
	warn=$(LC_ALL=C MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	[ -z "$warn" ] || fail "man -l $page warns: $warn"
	text=$(LC_ALL=C MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
	grep -q '^NAME' <<<"$text" || fail "man -l $page shows no NAME section"
	zcat -f "$page" | grep -q '@[A-Z_]*@' && fail "$page has an unsubstituted @VARIABLE@"
	case $page in
	*svsm-emu.1 | *svsm-emu.1.gz)
		for opt in $(grep -oE -- '--[a-z0-9-]+' <<<"$help" | sort -u); do
			grep -qF -- "$opt" <<<"$text" || fail "svsm-emu(1) does not document $opt (from --help)"
		done
		for cmd in $(sed -n '/^Commands:/,/^$/p' <<<"$help" | awk 'NF && $1 != "Commands:" && /^  [a-z]/ {print $1}'); do
			grep -qE "^ +$cmd\b" <<<"$text" || fail "svsm-emu(1) does not describe the command $cmd"
		done
		grep -qF "$prefix/share/svsm/svsm.elf" <<<"$text" || fail "svsm-emu(1) does not name the installed image"
		;;
	*libsvsm-malloc.3 | *libsvsm-malloc.3.gz)
		for var in $(grep -oE 'getenv\("[A-Z_]+"\)' "$src/emu/usermalloc/usermalloc.c" | grep -oE '[A-Z_]{4,}' | sort -u); do
			grep -qF "$var" <<<"$text" || fail "libsvsm-malloc(3) does not document $var"
		done
		grep -qF "$libdir/svsm-emu/libsvsm-malloc.so" <<<"$text" || fail "libsvsm-malloc(3) names the wrong path"
		;;
	esac
done
ok "man -l renders both pages without warnings; they document every command, option and variable"

# --- bash completion --------------------------------------------------------------------------
complete_words() { # complete_words WORD... : what completion offers for the last word
	bash --norc --noprofile -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_svsm_emu; printf "%s\n" "${COMPREPLY[@]}" | sort' complete "$P/share/bash-completion/completions/svsm-emu" "$@"
}
opts_help=$(grep -oE -- '(^| )-(-[a-z0-9-]+|h)' <<<"$help" | tr -d ' ' | sort -u)
opts_comp=$(complete_words svsm-emu - | sort -u)
[ "$opts_help" = "$opts_comp" ] || fail "completion offers other options than --help: $(diff <(echo "$opts_help") <(echo "$opts_comp") | tr '\n' ' ')"
cmds_help=$(sed -n '/^Commands:/,/^$/p' <<<"$help" | awk '/^  [a-z]/ {print $1}' | sort)
[ "$(complete_words svsm-emu '')" = "$cmds_help" ] || fail "completion offers other commands than --help"
[ "$(complete_words svsm-emu --mem 512 r)" = "run" ] || fail "completion after --mem N does not complete 'r' to run"
[ "$(complete_words svsm-emu --log-level d)" = "debug" ] || fail "completion of --log-level values"
[ -z "$(complete_words svsm-emu run '')" ] || fail "completion offers a second command"
ok "bash completion offers exactly the commands and options of --help"

# --- data without the source tree -----------------------------------------------------------
json=$(cd / && env -u SVSM_EMU_DATADIR "$emu" --json paths) || fail "svsm-emu paths: something missing: $json"
python3 - "$json" "$P/share/svsm" "$src" <<'PY' || fail "svsm-emu paths: $json"
import json, sys
j, data, src = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
assert j["origin"] == "installed" and j["complete"], j
for k in ("svsm.elf", "svsm.bin", "svsm-test.elf", "fixtures"):
    assert j[k].startswith(data + "/"), (k, j[k])
    # never the source tree's own fixtures or build directory (the staging area may lie in build/)
    assert not j[k].startswith((src + "/fixtures", src + "/build/svsm")), (k, j[k])
PY
mkdir -p "$tmp/moved/bin" "$tmp/moved/share"
cp -a "$emu" "$tmp/moved/bin/"
cp -a "$P/share/svsm" "$tmp/moved/share/"
json=$(cd / && env -u SVSM_EMU_DATADIR "$tmp/moved/bin/svsm-emu" --json paths) || fail "moved installation: $json"
grep -qF "\"svsm.elf\": \"$tmp/moved/share/svsm/svsm.elf\"" <<<"$json" || fail "a moved installation still looks elsewhere: $json"
rm -rf "$tmp/moved"
if SVSM_EMU_DATADIR=/nonexistent "$emu" paths >"$tmp/out" 2>&1; then
	fail "svsm-emu paths succeeds with SVSM_EMU_DATADIR=/nonexistent"
fi
grep -q '^data from     SVSM_EMU_DATADIR' "$tmp/out" && grep -q '(missing)' "$tmp/out" || fail "SVSM_EMU_DATADIR not honoured"
ok "svsm-emu finds its images and fixtures in $P/share/svsm (also when moved), never in the source tree"

# The uninstalled binary of the build tree finds the build's images and the source fixtures.
if [ -x "$src/build/svsm-emu" ] && [ -f "$src/build/svsm.elf" ]; then
	json=$(cd / && env -u SVSM_EMU_DATADIR "$src/build/svsm-emu" --json paths) || fail "build tree: $json"
	grep -qF "\"origin\": \"build tree\", \"images\": \"$src/build\"" <<<"$json" &&
		grep -qF "\"fixtures\": \"$src/fixtures\"" <<<"$json" || fail "build tree lookup: $json"
	ok "build/svsm-emu finds build/ and the source fixtures"
fi

(cd / && "$emu" --console none run >"$tmp/run.txt") || fail "installed svsm-emu run failed: $(tail -5 "$tmp/run.txt")"
ok "installed svsm-emu run: $(tail -n 1 "$tmp/run.txt")"

# --- the installed images in QEMU (the commands of svsm-emu(1)) ------------------------------
# The production image runs only as an SNP guest's VMPL0 module: without SNP it must say so
# and exit with status 37 (docs/image.md); the test image runs its in-image suites (33).
if command -v qemu-system-x86_64 >/dev/null; then
	qemu_boot() { # qemu_boot IMAGE OUT: QEMU's exit status
		local rc=0
		timeout 300 qemu-system-x86_64 -nodefaults -display none -no-reboot -m 128M -smp 4 -accel tcg -cpu max \
			-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$1" \
			</dev/null >"$2" 2>&1 || rc=$?
		echo "$rc"
	}
	st=$(qemu_boot "$P/share/svsm/svsm.elf" "$tmp/qemu.txt")
	[ "$st" = 37 ] && grep -q 'SEV-SNP is not active' "$tmp/qemu.txt" ||
		fail "the installed svsm.elf did not refuse to run without SNP (status $st): $(tail -5 "$tmp/qemu.txt")"
	st=$(qemu_boot "$P/share/svsm/svsm-test.elf" "$tmp/qemu-test.txt")
	[ "$st" = 33 ] || fail "the installed svsm-test.elf did not pass (status $st): $(tail -5 "$tmp/qemu-test.txt")"
	ok "in QEMU (TCG), the installed svsm.elf refuses to run without SNP (status 37) and svsm-test.elf passes its in-image tests"
fi

# --- pkg-config: build one harness suite out of tree, run it --------------------------------
pc() { PKG_CONFIG_PATH="$L/pkgconfig" pkg-config --define-variable=prefix="$P" "$@" svsm-emu; }
[ "$(pc --variable=imagedir)" = "$P/share/svsm" ] || fail "pkg-config imagedir is $(pc --variable=imagedir)"
[ -f "$(pc --variable=mallocdir)/libsvsm-malloc.so" ] || fail "pkg-config mallocdir"
cp "$src/harness/test_core_misc.c" "$tmp/outoftree.c"
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -o "$tmp/outoftree" "$tmp/outoftree.c" $(pc --cflags) $(pc --libs) ||
	fail "a harness test does not build against the installed headers and libraries"
"$tmp/outoftree" >"$tmp/outoftree.txt" 2>&1 || fail "the out-of-tree test failed: $(tail -5 "$tmp/outoftree.txt")"
ok "out-of-tree test against pkg-config svsm-emu: $(grep -E '^\[  PASSED  \]' "$tmp/outoftree.txt")"

# --- LD_PRELOAD, as libsvsm-malloc(3) says --------------------------------------------------
seq 200000 -1 1 >"$tmp/in.txt"
LC_ALL=C sort -n "$tmp/in.txt" >"$tmp/want.txt"
LC_ALL=C SVSM_MALLOC_STATS=1 LD_PRELOAD="$L/svsm-emu/libsvsm-malloc.so" sort -n "$tmp/in.txt" \
	>"$tmp/got.txt" 2>"$tmp/stats.txt" || fail "sort under LD_PRELOAD failed"
cmp -s "$tmp/want.txt" "$tmp/got.txt" || fail "sort under LD_PRELOAD gave other output"
grep -q '^libsvsm-malloc: heap' "$tmp/stats.txt" || fail "SVSM_MALLOC_STATS printed nothing"
ok "sort under LD_PRELOAD of the installed libsvsm-malloc.so: same output, statistics at exit"
echo "install-check: OK"
