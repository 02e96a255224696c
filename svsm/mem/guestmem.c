/* Guest memory as hostile input: copies and rights checks made for a caller (see guestmem.h). */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/guestmem.h>
#include <svsm/svsm_abi.h>

/* See guestmem.h. */
bool guestmem_is_ram(u64 gpa, u64 len)
{
	const struct svsm_boot_info *b = svsm_boot_params();
	u64 end = gpa + len;

	if (len == 0 || end < gpa) {
		return false;
	}
	for (u32 i = 0; i < b->ram_count; i++) {
		u64 lo = b->ram[i].base;
		if (gpa >= lo && end <= lo + b->ram[i].size) {
			return true;
		}
	}
	return false;
}

/* See guestmem.h. */
u32 guestmem_rights(u8 vmpl, u64 page, u8 *perms)
{
	u32 rc = arch_rmpquery(ALIGN_DOWN(page, PAGE_SIZE), vmpl, perms);

	if (rc == RMP_UNSUPPORTED) {
		if (vmpl != svsm_boot_params()->guest_vmpl) {
			return RMP_FAULT;
		}
		*perms = VMPL_PERM_ALL;
		return RMP_UNSUPPORTED;
	}
	if (rc != RMP_SUCCESS) {
		return RMP_FAULT;
	}
	return RMP_SUCCESS;
}

/* See guestmem.h. */
bool guestmem_multi_vmpl(void)
{
	u8 perms;
	const struct svsm_boot_info *b = svsm_boot_params();

	/* The SVSM's own first page is always validated: only "unsupported" can come back non-zero. */
	return arch_rmpquery(b->svsm_base, 1, &perms) != RMP_UNSUPPORTED;
}

/* A mask grants @need if it holds every bit of it (and never W without R, which faults). */
static bool guestmem_grants(u8 perms, u8 need)
{
	if ((perms & VMPL_PERM_WRITE) && !(perms & VMPL_PERM_READ)) {
		return false;
	}
	return (perms & need) == need;
}

/* See guestmem.h. */
u32 guestmem_check(u8 vmpl, u64 gpa, u64 len, u8 need)
{
	if (!guestmem_is_ram(gpa, len) || owned_range(gpa, len) || vcpu_range_has_vmsa(gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	for (u64 p = ALIGN_DOWN(gpa, PAGE_SIZE); p < gpa + len; p += PAGE_SIZE) {
		u8 perms = 0;
		u32 rc = guestmem_rights(vmpl, p, &perms);
		if ((rc != RMP_SUCCESS && rc != RMP_UNSUPPORTED) || !guestmem_grants(perms, need)) {
			return SVSM_ERR_INVALID_ADDRESS;
		}
	}
	return SVSM_SUCCESS;
}

_Static_assert(GUESTMEM_ERR_ADDRESS == SVSM_ERR_INVALID_ADDRESS, "guestmem.h's error code");
