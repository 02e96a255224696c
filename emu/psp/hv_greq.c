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

static u64 greq_decide(struct psp *p, enum psp_hostile_point point, u64 proper)
{
	return p->hostile ? p->hostile(p->hostile_ctx, point, proper) : proper;
}

/* @pages shared guest pages at @gpa that the hypervisor may write. */
static bool greq_shared(struct emu_machine *m, u64 gpa, u64 pages)
{
	struct rmp_fault f;

	if (!IS_ALIGNED(gpa, PAGE_SIZE) || pages == 0 || pages > m->cfg.mem_size / PAGE_SIZE ||
	    gpa > m->cfg.mem_size - pages * PAGE_SIZE) {
		return false;
	}
	return rmp_check_access(&m->rmp, RMP_HYPERVISOR, false, gpa, pages * PAGE_SIZE, RMP_ACCESS_WRITE, &f);
}

static void greq_write(struct emu_machine *m, u64 gpa, const void *src, u64 len)
{
	emu_mem_will_write(m, gpa, len);
	memcpy(emu_mem(m, gpa), src, len);
}

static void greq_nae_error(struct ghcb *g, u64 reason)
{
	ghcb_set_sw_exit_info_1(g, GHCB_NAE_ERROR);
	ghcb_set_sw_exit_info_2(g, reason);
}

void psp_hv_guest_request(void *ctx, struct emu_machine *m, struct emu_vcpu *v, struct ghcb *g, u64 exit_code)
{
	struct psp *p = ctx;
	bool ext = exit_code == SVM_VMGEXIT_EXT_GUEST_REQUEST;
	u8 req[SNP_MSG_PAGE_SIZE], resp[SNP_MSG_PAGE_SIZE];

	(void)v;
	if (!ghcb_sw_exit_info_1_is_valid(g) || !ghcb_sw_exit_info_2_is_valid(g) ||
	    (ext && (!ghcb_rax_is_valid(g) || !ghcb_rbx_is_valid(g)))) {
		greq_nae_error(g, GHCB_ERR_MISSING_INPUT);
		return;
	}
	u64 req_gpa = ghcb_get_sw_exit_info_1(g);
	u64 resp_gpa = ghcb_get_sw_exit_info_2(g);
	if (!greq_shared(m, req_gpa, 1) || !greq_shared(m, resp_gpa, 1) || req_gpa == resp_gpa) {
		greq_nae_error(g, GHCB_ERR_INVALID_INPUT);
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
		if (!greq_shared(m, certs_gpa, needed)) {
			greq_nae_error(g, GHCB_ERR_INVALID_INPUT);
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
		greq_write(m, resp_gpa, p->st->last_resp, SNP_MSG_PAGE_SIZE);
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
				greq_nae_error(g, GHCB_ERR_INVALID_INPUT);
				return;
			}
			if (p->cert_table_len) {
				memcpy(certs, p->cert_table, p->cert_table_len);
			}
			u64 flip = greq_decide(p, PSP_HOSTILE_CERTS, 0);
			if (flip) {
				certs[(flip >> 8) % len] ^= (u8)flip;
			}
			greq_write(m, certs_gpa, certs, len);
			free(certs);
		}
		u64 flip = greq_decide(p, PSP_HOSTILE_TAMPER, 0);
		if (flip) {
			resp[(flip >> 8) % SNP_MSG_PAGE_SIZE] ^= (u8)flip;
		}
		greq_write(m, resp_gpa, resp, SNP_MSG_PAGE_SIZE);
		memcpy(p->st->last_resp, resp, sizeof(resp));
		p->st->have_last_resp = true;
	}
	ghcb_set_sw_exit_info_2(g, greq_decide(p, PSP_HOSTILE_EXITINFO2, fw));
}
