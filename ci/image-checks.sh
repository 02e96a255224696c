#!/usr/bin/env bash
# Checks of the SNP image (make test-image-checks): nothing undefined, no libc, no dynamic
# linking, no SSE/x87 code, and the same core objects and functions as the userspace build.
#   ci/image-checks.sh IMAGE.elf IMAGE.bin LIBSVSMCORE.a CORE_OBJECT_LIST [MORE.elf...]
set -euo pipefail
elf=$1
bin=$2
corelib=$3
core_list=$4
shift 4
fail=0
bad() { echo "image-checks: FAILED: $*" >&2; fail=1; }

# Functions a C library would provide; the image may define only the string ones itself
# (svsm/lib/string.c), and must not reference any of them without a definition.
libc_names='^(printf|fprintf|sprintf|snprintf|vsnprintf|puts|putchar|fputc|fputs|fwrite|fopen|fclose|malloc|calloc|realloc|free|abort|exit|_exit|atexit|mmap|munmap|read|write|open|close|getrandom|clock_gettime|time|setjmp|longjmp|_setjmp|__stack_chk_fail|__libc_start_main|errno|__errno_location|strcpy|strncpy|strcmp|strncmp|strchr|strstr|qsort|bsearch|abs|__udivti3|__divti3|__umodti3)$'

for img in "$elf" "$@"; do
	name=$(basename "$img")
	undef=$(nm -u "$img" | awk '{print $2}')
	if [ -n "$undef" ]; then
		bad "$name has undefined symbols: $(echo $undef)"
	fi
	libc=$(nm "$img" | awk '{print $3}' | grep -E "$libc_names" || true)
	if [ -n "$libc" ]; then
		bad "$name has C library symbols: $(echo $libc)"
	fi
	if ! readelf -d "$img" 2>&1 | grep -q 'There is no dynamic section'; then
		bad "$name has a dynamic section"
	fi
	if readelf -lW "$img" | grep -qE '^\s+(INTERP|DYNAMIC)\s'; then
		bad "$name has an INTERP or DYNAMIC segment"
	fi
	if [ "$(readelf -hW "$img" | awk '/Type:/{print $2}')" != EXEC ]; then
		bad "$name is not a static executable"
	fi
	# No code path may touch SSE/AVX or x87 registers: nothing saves them in the image.
	fp=$(objdump -d --no-show-raw-insn "$img" | grep -cE '%[xyz]mm[0-9]|\bf(ld|st|stp|ild|istp|add|mul|div)[slt]?\b' || true)
	if [ "$fp" != 0 ]; then
		bad "$name has $fp instructions using SSE/AVX or x87 state"
	fi
	if ! readelf -nW "$img" | grep -q 'Xen.*0x00000012'; then
		bad "$name lacks the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)"
	fi
done

# The image is built from the same core sources as build/libsvsmcore.a: same object names...
lib_objs=$(ar t "$corelib" | sort)
img_objs=$(sort "$core_list")
if [ "$lib_objs" != "$img_objs" ]; then
	bad "core objects differ between $corelib and the image:"
	diff <(echo "$lib_objs") <(echo "$img_objs") >&2 || true
fi
# ...and every global function of the core library is defined in the image.
lib_funcs=$(nm --defined-only -g "$corelib" 2>/dev/null | awk '$2 == "T" {print $3}' | sort -u)
img_funcs=$(nm --defined-only -g "$elf" | awk '$2 == "T" {print $3}' | sort -u)
missing=$(comm -23 <(echo "$lib_funcs") <(echo "$img_funcs"))
if [ -n "$missing" ]; then
	bad "core functions missing from the image: $(echo $missing)"
fi

text=$(size -A "$elf" | awk '$1 == ".text" {print $2}')
echo "image-checks: $(basename "$elf"): $(stat -c %s "$elf") bytes ELF, $(stat -c %s "$bin") bytes flat binary, .text $text bytes"
size "$elf" "$@" | sed 's/^/  /'
echo "image-checks: $(echo "$lib_objs" | wc -l) core objects and $(echo "$lib_funcs" | wc -l) core functions, same as $(basename "$corelib")"
if [ $fail -ne 0 ]; then
	exit 1
fi
echo "image-checks: OK (no undefined symbols, no libc, no dynamic section, no SSE/x87, PVH note present)"
