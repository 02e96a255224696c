#!/usr/bin/env bash
# Checks of the SNP images (make test-image-checks): nothing undefined, no libc, no dynamic
# linking, no SSE/x87 code; the production image has the same core objects and functions
# as the userspace build and nothing of the emulator: no symbol any emu/ object defines,
# no svsm/ source that includes an emu/ header, no core object built or compiled with emu/.
#   ci/image-checks.sh --elf svsm.elf --bin svsm.bin --corelib libsvsmcore.a
#       --core-list CORE_OBJECT_NAMES --core-cflags CORE_CFLAGS_FILE --core-deps "CORE .d FILES"
#       --emu-objs "EMU OBJECTS" [--also MORE.elf]...
set -euo pipefail
elf='' bin='' corelib='' core_list='' core_cflags='' core_deps='' emu_objs=''
also=()
while [ $# -gt 0 ]; do
	case $1 in
	--elf) elf=$2 ;;
	--bin) bin=$2 ;;
	--corelib) corelib=$2 ;;
	--core-list) core_list=$2 ;;
	--core-cflags) core_cflags=$2 ;;
	--core-deps) core_deps=$2 ;;
	--emu-objs) emu_objs=$2 ;;
	--also) also+=("$2") ;;
	*) echo "image-checks: unknown argument $1" >&2; exit 2 ;;
	esac
	shift 2
done
for v in elf bin corelib core_list core_cflags core_deps emu_objs; do
	if [ -z "${!v}" ]; then
		echo "image-checks: --${v//_/-} is required" >&2
		exit 2
	fi
done
fail=0
bad() { echo "image-checks: FAILED: $*" >&2; fail=1; }

# Functions a C library would provide; the image may define only the string ones itself
# (svsm/lib/string.c), and must not reference any of them without a definition.
libc_names='^(printf|fprintf|sprintf|snprintf|vsnprintf|puts|putchar|fputc|fputs|fwrite|fopen|fclose|malloc|calloc|realloc|free|abort|exit|_exit|atexit|mmap|munmap|read|write|open|close|getrandom|clock_gettime|time|setjmp|longjmp|_setjmp|__stack_chk_fail|__libc_start_main|errno|__errno_location|strcpy|strncpy|strcmp|strncmp|strchr|strstr|qsort|bsearch|abs|__udivti3|__divti3|__umodti3)$'

for img in "$elf" "${also[@]}"; do
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

# Production holds no emulator: no symbol that an emu/ object of the test image defines
# (the emulated machine, the guest driver, the oracle, the no-SNP platform) may appear in
# it. The list comes from those objects' own symbol tables; the platform seam, which both
# platforms define, is the only exception: the arch_* functions of arch.h,
# platform_main and platform_ap_main (svsm/arch/snp/snp.h).
seam_names=$( (grep -oE '\barch_[a-z0-9_]+\(' svsm/include/svsm/arch.h | tr -d '('; echo platform_main; echo platform_ap_main) | sort -u)
# shellcheck disable=SC2086
emu_syms=$(nm --defined-only -g $emu_objs | awk 'NF == 3 {print $3}' | sort -u | comm -23 - <(echo "$seam_names"))
emu_count=$(echo "$emu_syms" | grep -c . || true)
if [ "$emu_count" -lt 20 ]; then
	bad "only $emu_count symbols found in the emu objects ($emu_objs): the check would prove nothing"
fi
leaked=$(comm -12 <(echo "$emu_syms") <(nm "$elf" | awk '{print $NF}' | sort -u))
if [ -n "$leaked" ]; then
	bad "$(basename "$elf") holds $(echo "$leaked" | wc -l) symbols of the emulator: $(echo $leaked | cut -c1-600)"
fi

# No svsm/ source may include an emu/ header: by path, or by the name of a header that
# exists only in emu/ (found next to the includer, in svsm/include or svsm/arch/snp it is fine).
emu_headers=$(find emu -name '*.h' -printf '%f\n' | sort -u)
inc_bad=()
while IFS= read -r line; do
	file=${line%%:*}
	inc=$(sed -E 's/^[^:]*:[0-9]+:\s*#\s*include\s*[<"]([^">]+)[">].*/\1/' <<<"$line")
	if [[ $inc == *emu/* ]]; then
		inc_bad+=("$file: $inc")
		continue
	fi
	if grep -qx "$(basename "$inc")" <<<"$emu_headers"; then
		found=0
		for dir in "$(dirname "$file")" svsm/include svsm/arch/snp; do
			if [ -f "$dir/$inc" ]; then
				found=1
			fi
		done
		if [ $found -eq 0 ]; then
			inc_bad+=("$file: $inc")
		fi
	fi
done < <(grep -rnE '^\s*#\s*include\s*[<"]' svsm || true)
if [ ${#inc_bad[@]} -gt 0 ]; then
	bad "svsm/ includes emu/ headers: ${inc_bad[*]}"
fi
# The image's core objects: never compiled with an include path into emu/, and their
# dependency files (every header the compiler read) name nothing under emu/.
for flag in $(cat "$core_cflags"); do
	case $flag in
	-I*)
		dir=$(realpath -m "${flag#-I}")
		if [[ $dir == "$(realpath -m emu)" || $dir == "$(realpath -m emu)"/* ]]; then
			bad "the image's core objects are compiled with $flag"
		fi
		;;
	esac
done
# shellcheck disable=SC2086
dep_bad=$(grep -lE '(^|[ /])emu/[^ ]+\.h' $core_deps 2>/dev/null || true)
if [ -n "$dep_bad" ]; then
	bad "core objects of the image read emu/ headers: $(echo $dep_bad)"
fi

text=$(size -A "$elf" | awk '$1 == ".text" {print $2}')
echo "image-checks: $(basename "$elf"): $(stat -c %s "$elf") bytes ELF, $(stat -c %s "$bin") bytes flat binary, .text $text bytes"
size "$elf" "${also[@]}" | sed 's/^/  /'
echo "image-checks: $(echo "$lib_objs" | wc -l) core objects and $(echo "$lib_funcs" | wc -l) core functions, same as $(basename "$corelib")"
if [ $fail -ne 0 ]; then
	exit 1
fi
echo "image-checks: none of the $emu_count symbols of $(echo $emu_objs | wc -w) emu/ objects in $(basename "$elf"); no emu/ header in svsm/ or in the core objects' dependencies"
echo "image-checks: OK (no undefined symbols, no libc, no dynamic section, no SSE/x87, PVH note present, no emulator in $(basename "$elf"))"
