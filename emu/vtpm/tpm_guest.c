/* The guest's vTPM driver (tpm_guest.h), modelled on Linux's tpm_svsm. */
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vtpm.h>

#include "tpm_guest.h"

static void put_le32(u8 *p, u32 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
	p[2] = (u8)(v >> 16);
	p[3] = (u8)(v >> 24);
}

/* See tpm_guest.h. */
int tpm_guest_init(struct tpm_guest *t, struct emu_guest *g, u32 apic_id)
{
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_VTPM, SVSM_VTPM_QUERY)};

	memset(t, 0, sizeof(*t));
	t->g = g;
	t->apic_id = apic_id;
	t->last_call_status = guest_call(g, apic_id, &r);
	t->last_rax = r.rax;
	if (t->last_call_status != GUEST_OK || (u32)r.rax != SVSM_SUCCESS ||
	    !(r.rcx & BIT(VTPM_PLATFORM_SEND_COMMAND))) {
		return TPM_GUEST_NO_VTPM;
	}
	t->buf_gpa = guest_alloc_pages(g, 1);
	return t->buf_gpa ? TPM_GUEST_OK : TPM_GUEST_FAULT;
}

/* See tpm_guest.h. */
int tpm_guest_send(struct tpm_guest *t, u8 locality, const u8 *cmd, u32 len, u8 *rsp, u32 rsp_size, u32 *rsp_len)
{
	u8 req[VTPM_BUFFER_SIZE];

	*rsp_len = 0;
	if (len > VTPM_MAX_COMMAND) {
		return TPM_GUEST_TOO_LARGE;
	}
	put_le32(req + VTPM_REQ_CMD_OFFSET, VTPM_PLATFORM_SEND_COMMAND);
	req[VTPM_REQ_LOCALITY_OFFSET] = locality;
	put_le32(req + VTPM_REQ_SIZE_OFFSET, len);
	memcpy(req + VTPM_REQ_HDR_SIZE, cmd, len);
	if (guest_write(t->g, t->buf_gpa, req, VTPM_REQ_HDR_SIZE + len) != 0) {
		return TPM_GUEST_FAULT;
	}
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_VTPM, SVSM_VTPM_CMD), .rcx = t->buf_gpa};
	t->last_call_status = guest_call(t->g, t->apic_id, &r);
	t->last_rax = r.rax;
	if (t->last_call_status != GUEST_OK) {
		return TPM_GUEST_NO_CALL;
	}
	if ((u32)r.rax != SVSM_SUCCESS) {
		return TPM_GUEST_SVSM_ERROR;
	}
	u8 size_le[4];
	if (guest_read(t->g, t->buf_gpa, size_le, sizeof(size_le)) != 0) {
		return TPM_GUEST_FAULT;
	}
	u32 size = (u32)size_le[0] | (u32)size_le[1] << 8 | (u32)size_le[2] << 16 | (u32)size_le[3] << 24;
	if (size > VTPM_MAX_RESPONSE || size > rsp_size) {
		return TPM_GUEST_BAD_SIZE;
	}
	if (guest_read(t->g, t->buf_gpa + VTPM_RSP_HDR_SIZE, rsp, size) != 0) {
		return TPM_GUEST_FAULT;
	}
	*rsp_len = size;
	return TPM_GUEST_OK;
}
