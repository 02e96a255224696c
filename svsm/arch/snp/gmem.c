/*
 * Guest memory and the RMP as the hardware platform touches them: copies through the
 * direct map whose loads and stores are covered by fault fixups, and RMPQUERY. A page
 * the guest or the hypervisor made unusable raises #PF (not mapped), #GP (non-canonical)
 * or #VC 0x404 (not validated) inside the SVSM; here that becomes -1 or RMP_FAULT.
 * Hardware-independent enough to run without SNP: the test image exercises it on pages
 * it unmaps itself (harness/image/test_hw.c).
 */
#include <svsm/arch.h>
#include <svsm/string.h>

#include "insn.h"
#include "snp.h"

#define CPUID_SEV_RMPQUERY BIT(6) /* CPUID 0x8000001F EAX */

/* The direct-map address of [@gpa, @gpa + @len), or NULL if any of it is outside. */
static u8 *gmem_va(u64 gpa, size_t len)
{
	if (gpa + len < gpa || gpa + len > PAGING_DIRECT_MAP_LIMIT) {
		return NULL;
	}
	return paging_phys_to_virt(gpa);
}

/* A guarded read of one byte in every page of [@va, @va + @len), @len > 0: 0, or -1. */
static int gmem_probe(const u8 *va, size_t len)
{
	u64 p = (u64)va;
	u64 last = p + len - 1;

	for (;;) {
		u8 byte;
		if (guard_read8((const volatile u8 *)p, &byte) != 0) {
			return -1;
		}
		u64 next = ALIGN_DOWN(p, PAGE_SIZE) + PAGE_SIZE;
		if (next > last) {
			return 0;
		}
		p = next;
	}
}

/*
 * See snp.h. The probe makes the usual failure (a page of the range not mapped or not
 * validated) leave @dst untouched, as arch.h promises; the guarded copy covers the page
 * that goes away after the probe, and then no partial guest data stays in @dst.
 */
int gmem_copy_from_guest(void *dst, u64 gpa, size_t len)
{
	if (len == 0) {
		return 0;
	}
	const u8 *src = gmem_va(gpa, len);
	if (!src) {
		return -1;
	}
	if (gmem_probe(src, len) != 0) {
		return -1;
	}
	if (guard_copy(dst, src, len) != 0) {
		memset(dst, 0, len);
		return -1;
	}
	return 0;
}

/*
 * See snp.h. Nothing is stored before every page has answered the probe; the stores are
 * guarded as well, so a page taken away meanwhile ends the copy with -1 (guest memory
 * then holds a prefix of @src: the guest raced its own call, and is told it failed).
 */
int gmem_copy_to_guest(u64 gpa, const void *src, size_t len)
{
	if (len == 0) {
		return 0;
	}
	u8 *dst = gmem_va(gpa, len);
	if (!dst) {
		return -1;
	}
	if (gmem_probe(dst, len) != 0) {
		return -1;
	}
	return guard_copy(dst, src, len);
}

/* CPUID answers do not change while the image runs: asked once (0 unknown, 1 yes, 2 no). */
static u8 gmem_rmpquery_state;

bool gmem_rmpquery_supported(void)
{
	u8 state = __atomic_load_n(&gmem_rmpquery_state, __ATOMIC_RELAXED);

	if (!state) {
		u32 r[4];
		bool ok = false;
		insn_cpuid(0x80000000, 0, r);
		if (r[0] >= 0x8000001F) {
			insn_cpuid(0x8000001F, 0, r);
			ok = (r[0] & CPUID_SEV_RMPQUERY) != 0;
		}
		/* Every CPU that races here finds the same answer. */
		state = ok ? 1 : 2;
		__atomic_store_n(&gmem_rmpquery_state, state, __ATOMIC_RELAXED);
	}
	return state == 1;
}

/*
 * See arch.h (arch_rmpquery). Inputs RAX = the page's direct-map address, RDX[7:0] = the
 * target VMPL; outputs EAX = result, RDX[15:8] = the target's permission mask (RDX bit
 * 16 = VMSA, RCX = page size, both unused here). Result codes above the architectural
 * range (0-0xF) cannot be told from the software codes of arch.h: they become
 * RMP_FAULT rather than a code that means something else.
 */
u32 gmem_rmpquery(u64 gpa, u8 target_vmpl, u8 *perms)
{
	struct guard_rmpquery_out out;

	if (!gmem_rmpquery_supported()) {
		return RMP_UNSUPPORTED;
	}
	if (target_vmpl > 3) {
		return RMP_FAIL_INPUT;
	}
	const u8 *va = gmem_va(ALIGN_DOWN(gpa, PAGE_SIZE), PAGE_SIZE);
	if (!va) {
		return RMP_FAULT;
	}
	if (guard_rmpquery(va, target_vmpl, &out) != 0) {
		return RMP_FAULT; /* #VC 0x404: the page is not validated */
	}
	u32 rc = (u32)out.rax;
	if (rc > 0xF) {
		return RMP_FAULT;
	}
	if (rc == RMP_SUCCESS) {
		*perms = (u8)(out.rdx >> 8);
	}
	return rc;
}
