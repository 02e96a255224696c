/*
 * The guest side of the vTPM protocol, as Linux's tpm_svsm driver does it: probe with
 * SVSM_VTPM_QUERY (bit 8 must be set), keep one private page as the command buffer,
 * fill it with {8, locality, size, command}, SVSM_VTPM_CMD with its GPA, and take
 * {size, response} back, refusing sizes above 4092 or above the caller's buffer. Every
 * access is the guest's own (RMP-checked at its VMPL).
 */
#ifndef EMU_VTPM_TPM_GUEST_H
#define EMU_VTPM_TPM_GUEST_H

#include "guest.h"

enum tpm_guest_status {
	TPM_GUEST_OK = 0,
	TPM_GUEST_TOO_LARGE = -1,  /* command above 4087 bytes: not sent (Linux: -EINVAL) */
	TPM_GUEST_SVSM_ERROR = -2, /* RAX was not SUCCESS (see last_rax) */
	TPM_GUEST_NO_CALL = -3,    /* the call did not complete (see last_call_status) */
	TPM_GUEST_BAD_SIZE = -4,   /* response size above 4092 or the caller's buffer (Linux: -E2BIG/-EINVAL) */
	TPM_GUEST_FAULT = -5,      /* the guest could not access its own buffer */
	TPM_GUEST_NO_VTPM = -6,    /* tpm_guest_init: QUERY failed or bit 8 missing */
};

struct tpm_guest {
	struct emu_guest *g;
	u32 apic_id;
	u64 buf_gpa;         /* the command page (page-aligned, as Linux allocates it) */
	u64 last_rax;
	int last_call_status;
};

/* Probe the vTPM from @g's vCPU @apic_id and take a page for commands. TPM_GUEST_* status. */
int tpm_guest_init(struct tpm_guest *t, struct emu_guest *g, u32 apic_id);

/* Send one TPM command; the response goes to @rsp (at most @rsp_size bytes). TPM_GUEST_* status. */
int tpm_guest_send(struct tpm_guest *t, u8 locality, const u8 *cmd, u32 len, u8 *rsp, u32 rsp_size, u32 *rsp_len);

#endif
