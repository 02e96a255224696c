/* Guest memory as hostile input: checked copies between guest memory and SVSM memory. */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/svsm_abi.h>

/* Every check shared by reads and writes; SVSM_SUCCESS if the range may be touched. */
static u32 guest_range_check(u64 gpa, u64 len)
{
	u64 end = gpa + len;

	if (end < gpa || end > owned_mem_size()) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	if (owned_range(gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	if (vcpu_range_has_vmsa(gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	return SVSM_SUCCESS;
}

/* Copy guest memory into SVSM memory, once; see core.h. */
u32 guestmem_read(u64 gpa, void *dst, u64 len)
{
	if (len == 0) {
		return SVSM_SUCCESS;
	}
	u32 rc = guest_range_check(gpa, len);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	return arch_guest_read(gpa, dst, len) == 0 ? SVSM_SUCCESS : SVSM_ERR_INVALID_ADDRESS;
}

/* Copy SVSM memory out to guest memory; see core.h. */
u32 guestmem_write(u64 gpa, const void *src, u64 len)
{
	if (len == 0) {
		return SVSM_SUCCESS;
	}
	u32 rc = guest_range_check(gpa, len);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	return arch_guest_write(gpa, src, len) == 0 ? SVSM_SUCCESS : SVSM_ERR_INVALID_ADDRESS;
}
