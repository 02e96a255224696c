/*
 * Guest memory as hostile input, accessed on behalf of a caller. The SVSM runs at VMPL0
 * and could touch any validated page, so every access it makes for a call is checked
 * against the CALLER's rights first: the pages must be guest RAM (not MMIO, ROM or a
 * hole), not the SVSM's, not a VMSA, and the caller's VMPL must hold the rights the
 * access needs in the RMP (RMPQUERY). docs/architecture.md ("Callers at several VMPLs")
 * gives the policy and its reasons.
 */
#ifndef SVSM_GUESTMEM_H
#define SVSM_GUESTMEM_H

#include <svsm/arch.h>
#include <svsm/types.h>

/* SVSM_ERR_INVALID_ADDRESS (svsm_abi.h), the only error of the copies below. */
#define GUESTMEM_ERR_ADDRESS 0x80000003u

/* Rights an access needs: data read, or read and write (RMP masks never grant W alone). */
#define GUESTMEM_READ VMPL_PERM_READ
#define GUESTMEM_RW (VMPL_PERM_READ | VMPL_PERM_WRITE)

/* True if [@gpa, @gpa + @len) (@len > 0) lies inside one RAM range of the guest. */
bool guestmem_is_ram(u64 gpa, u64 len);

/*
 * The rights VMPL @vmpl holds on the 4 KiB page at @page, as the SVSM may rely on them:
 *   RMP_SUCCESS  the page is validated and *@perms is the caller's mask;
 *   RMP_FAULT    not validated or not guest-owned (nobody below VMPL0 can access it);
 *   RMP_UNSUPPORTED  the CPU has no RMPQUERY: then only the boot guest VMPL is served, and
 *                its mask is taken as full (its rights change only through the SVSM).
 */
u32 guestmem_rights(u8 vmpl, u64 page, u8 *perms);

/* True when the CPU answers RMPQUERY, i.e. callers at any guest VMPL can be served. */
bool guestmem_multi_vmpl(void);

/*
 * Check that VMPL @vmpl may access every page of [@gpa, @gpa + @len) with @need
 * (GUESTMEM_READ / GUESTMEM_RW) and that the range is guest RAM, outside the SVSM's pages
 * and the VMSAs. SVSM_SUCCESS or SVSM_ERR_INVALID_ADDRESS.
 */
u32 guestmem_check(u8 vmpl, u64 gpa, u64 len, u8 need);

/*
 * Copy between guest memory and SVSM memory for a caller at VMPL @vmpl, after
 * guestmem_check. Nothing is copied on failure (SVSM_ERR_INVALID_ADDRESS). The data is
 * read once and used from the copy. Inline, so that the copy is made from the handler
 * itself: the emulator's double-fetch report names the handler's line as the call site.
 */
static inline __attribute__((always_inline)) u32 guestmem_read(u8 vmpl, u64 gpa, void *dst, u64 len)
{
	if (len == 0) {
		return 0;
	}
	u32 rc = guestmem_check(vmpl, gpa, len, GUESTMEM_READ);
	if (rc != 0) {
		return rc;
	}
	return arch_guest_read(gpa, dst, len) == 0 ? 0 : GUESTMEM_ERR_ADDRESS;
}

static inline __attribute__((always_inline)) u32 guestmem_write(u8 vmpl, u64 gpa, const void *src, u64 len)
{
	if (len == 0) {
		return 0;
	}
	u32 rc = guestmem_check(vmpl, gpa, len, GUESTMEM_RW);
	if (rc != 0) {
		return rc;
	}
	return arch_guest_write(gpa, src, len) == 0 ? 0 : GUESTMEM_ERR_ADDRESS;
}

#endif
