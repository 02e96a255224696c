/*
 * The hypervisor's side of the guest-request exits, as KVM serves them: 0x8000_0011
 * (SNP guest request) forwards the request page to the firmware and writes its answer to
 * the response page; 0x8000_0012 (extended) also writes the certificate table into the
 * guest's pages, or answers "too small" (VMM error INVALID_LEN, pages needed in RBX)
 * without forwarding anything. Both pages must be shared guest pages. SW_EXITINFO2 =
 * VMM error << 32 | firmware error. A hostile hook (struct psp) can make it lie at each
 * decision: busy, dropped, replayed or tampered answers, wrong sizes, other errors.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/psp-sev.h>
#include <linux/sev-guest.h>

#include <svsm/ghcb.h>

#include "psp.h"
#include "psp_common.h"

static u64 greq_decide(struct psp *p, enum psp_hostile_point point, u64 proper)
{
	return p->hostile ? p->hostile(p->hostile_ctx, point, proper) : proper;
}

void psp_hv_guest_request(void *ctx, struct emu_machine *m, struct emu_vcpu *v, struct ghcb *g, u64 exit_code)
{
	struct psp *p = ctx;
	bool ext = exit_code == SVM_VMGEXIT_EXT_GUEST_REQUEST;
	u8 req[SNP_MSG_PAGE_SIZE], resp[SNP_MSG_PAGE_SIZE];

	(void)v;
	u64 req_gpa, resp_gpa;
	if (!psp_hv_request_pages(m, g, ext, &req_gpa, &resp_gpa)) {
		return;
	}
	ghcb_set_sw_exit_info_1(g, 0);
	u64 certs_gpa = 0, cert_pages = 0;
	if (ext) {
		certs_gpa = ghcb_get_rax(g);
		u64 offered = ghcb_get_rbx(g);
		u64 needed = p->cert_table_len ? ALIGN_UP((u64)p->cert_table_len, PAGE_SIZE) / PAGE_SIZE : 1;
		if (offered < needed) {
			/* Not forwarded: the firmware never sees this message (Linux resends it as a plain request). */
			ghcb_set_rbx(g, greq_decide(p, PSP_HOSTILE_CERT_PAGES, needed));
			ghcb_set_sw_exit_info_2(g, greq_decide(p, PSP_HOSTILE_EXITINFO2,
								(u64)SNP_GUEST_VMM_ERR_INVALID_LEN << SNP_GUEST_VMM_ERR_SHIFT));
			return;
		}
		if (!psp_hv_pages_shared(m, certs_gpa, needed)) {
			psp_hv_nae_error(g, GHCB_ERR_INVALID_INPUT);
			return;
		}
		cert_pages = needed;
	}
	if (greq_decide(p, PSP_HOSTILE_BUSY, 0)) {
		ghcb_set_sw_exit_info_2(g, greq_decide(p, PSP_HOSTILE_EXITINFO2,
							(u64)SNP_GUEST_VMM_ERR_BUSY << SNP_GUEST_VMM_ERR_SHIFT));
		return;
	}
	if (greq_decide(p, PSP_HOSTILE_DROP, 0)) {
		ghcb_set_sw_exit_info_2(g, greq_decide(p, PSP_HOSTILE_EXITINFO2, 0));
		return;
	}
	if (p->st->have_last_resp && greq_decide(p, PSP_HOSTILE_REPLAY, 0)) {
		psp_hv_write(m, resp_gpa, p->st->last_resp, SNP_MSG_PAGE_SIZE);
		ghcb_set_sw_exit_info_2(g, greq_decide(p, PSP_HOSTILE_EXITINFO2, 0));
		return;
	}
	/* The firmware works on private copies; the guest's shared pages may change meanwhile. */
	memcpy(req, emu_mem(m, req_gpa), sizeof(req));
	u32 fw = psp_guest_request(p, req, resp);
	if (fw == SEV_RET_SUCCESS) {
		if (ext) {
			u64 len = cert_pages * PAGE_SIZE;
			u8 *certs = calloc(1, len);
			if (!certs) {
				psp_hv_nae_error(g, GHCB_ERR_INVALID_INPUT);
				return;
			}
			if (p->cert_table_len) {
				memcpy(certs, p->cert_table, p->cert_table_len);
			}
			u64 flip = greq_decide(p, PSP_HOSTILE_CERTS, 0);
			if (flip) {
				certs[(flip >> 8) % len] ^= (u8)flip;
			}
			psp_hv_write(m, certs_gpa, certs, len);
			free(certs);
		}
		u64 flip = greq_decide(p, PSP_HOSTILE_TAMPER, 0);
		if (flip) {
			resp[(flip >> 8) % SNP_MSG_PAGE_SIZE] ^= (u8)flip;
		}
		psp_hv_write(m, resp_gpa, resp, SNP_MSG_PAGE_SIZE);
		memcpy(p->st->last_resp, resp, sizeof(resp));
		p->st->have_last_resp = true;
	}
	ghcb_set_sw_exit_info_2(g, greq_decide(p, PSP_HOSTILE_EXITINFO2, fw));
}
