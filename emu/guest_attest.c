/* The guest's attestation client, following Linux's sev_svsm_report_new (see guest_attest.h). */
#include <stdlib.h>
#include <string.h>

#include <svsm/svsm_abi.h>

#include "guest_attest.h"

#define GUEST_ATTEST_MAX_BUF (64u << 20)

/* Buffers for one attempt, from the guest driver's pool (validated, guest RW, zero). */
struct guest_attest_bufs {
	u64 report, manifest, certs;
	u32 report_len, manifest_len, certs_len;
};

static int guest_attest_alloc(struct emu_guest *g, struct guest_attest_bufs *b)
{
	b->report = guest_alloc_pages(g, ALIGN_UP((u64)b->report_len, PAGE_SIZE) / PAGE_SIZE);
	b->manifest = guest_alloc_pages(g, ALIGN_UP((u64)b->manifest_len, PAGE_SIZE) / PAGE_SIZE);
	b->certs = b->certs_len ? guest_alloc_pages(g, ALIGN_UP((u64)b->certs_len, PAGE_SIZE) / PAGE_SIZE) : 0;
	return b->report && b->manifest && (!b->certs_len || b->certs) ? 0 : -1;
}

int guest_attest(struct emu_guest *g, const struct guest_attest_req *req, struct guest_attest_result *out)
{
	struct guest_vcpu *gv = guest_vcpu(g, req->apic_id);
	struct guest_attest_bufs b = {
		.report_len = 4096,
		.manifest_len = 4096,
		.certs_len = req->certs ? SNP_CERTS_MAX_SIZE : 0,
	};

	memset(out, 0, sizeof(*out));
	if (!gv) {
		out->status = GUEST_NO_VCPU;
		return -1;
	}
	/* The request goes to CA + 8 (Linux's svsm_buffer); the nonce right after it. */
	u64 req_gpa = gv->caa_gpa + offsetof(struct svsm_ca, buffer);
	u64 nonce_gpa = req_gpa + sizeof(struct svsm_attest_single_req);
	u16 nonce_len = req->nonce_len ? req->nonce_len : SVSM_ATTEST_NONCE_SIZE;
	if (nonce_len > PAGE_SIZE - (nonce_gpa & PAGE_MASK) || guest_write(g, nonce_gpa, req->nonce, nonce_len) != 0) {
		out->status = GUEST_FAULT;
		return -1;
	}
	for (unsigned attempt = 0;; attempt++) {
		if (guest_attest_alloc(g, &b) != 0) {
			out->status = GUEST_FAULT;
			return -1;
		}
		struct svsm_attest_single_req r;
		memset(&r, 0, sizeof(r));
		r.base.report_gpa = b.report;
		r.base.report_size = b.report_len;
		r.base.nonce_gpa = nonce_gpa;
		r.base.nonce_size = nonce_len;
		r.base.manifest_gpa = b.manifest;
		r.base.manifest_size = b.manifest_len;
		r.base.certs_gpa = b.certs;
		r.base.certs_size = b.certs_len;
		u32 call = SVSM_ATTEST_SERVICES;
		size_t len = sizeof(r.base);
		if (req->service) {
			call = SVSM_ATTEST_SINGLE_SERVICE;
			memcpy(r.guid, req->service, sizeof(r.guid));
			r.manifest_version = req->manifest_version;
			len = sizeof(r);
		}
		if (guest_write(g, req_gpa, &r, len) != 0) {
			out->status = GUEST_FAULT;
			return -1;
		}
		/* RDX and R8 preset to all-ones: a changed value is a length from the SVSM. */
		struct guest_regs regs = {.rax = SVSM_CALL(SVSM_PROTOCOL_ATTEST, call), .rcx = req_gpa, .rdx = ~0ull, .r8 = ~0ull};
		out->status = guest_call(g, req->apic_id, &regs);
		out->calls++;
		out->rax = regs.rax;
		if (out->status != GUEST_OK) {
			return -1;
		}
		u32 man_len = regs.rcx != req_gpa ? (u32)regs.rcx : b.manifest_len;
		u32 certs_len = regs.rdx != ~0ull ? (u32)regs.rdx : b.certs_len;
		u32 rep_len = regs.r8 != ~0ull ? (u32)regs.r8 : b.report_len;
		if ((u32)regs.rax == SVSM_SUCCESS) {
			if (rep_len > sizeof(out->report) || man_len > b.manifest_len || certs_len > b.certs_len) {
				return -1;
			}
			out->report_len = rep_len;
			out->manifest_len = man_len;
			out->certs_len = certs_len;
			out->manifest = malloc(man_len ? man_len : 1);
			out->certs = certs_len ? malloc(certs_len) : NULL;
			if (!out->manifest || (certs_len && !out->certs) || guest_read(g, b.report, out->report, rep_len) != 0 ||
			    guest_read(g, b.manifest, out->manifest, man_len) != 0 ||
			    (certs_len && guest_read(g, b.certs, out->certs, certs_len) != 0)) {
				guest_attest_result_free(out);
				return -1;
			}
			return 0;
		}
		/* Like Linux: grow what was too small, at most three times, to at most 64 MiB. */
		if ((u32)regs.rax != SVSM_ERR_INVALID_PARAMETER || attempt >= GUEST_ATTEST_RETRIES ||
		    rep_len > GUEST_ATTEST_MAX_BUF || man_len > GUEST_ATTEST_MAX_BUF || certs_len > GUEST_ATTEST_MAX_BUF) {
			return -1;
		}
		bool again = false;
		if (rep_len > b.report_len) {
			b.report_len = (u32)ALIGN_UP((u64)rep_len, PAGE_SIZE);
			again = true;
		}
		if (man_len > b.manifest_len) {
			b.manifest_len = (u32)ALIGN_UP((u64)man_len, PAGE_SIZE);
			again = true;
		}
		if (certs_len > b.certs_len) {
			b.certs_len = (u32)ALIGN_UP((u64)certs_len, PAGE_SIZE);
			again = true;
		}
		if (!again) {
			return -1;
		}
	}
}

void guest_attest_result_free(struct guest_attest_result *r)
{
	free(r->manifest);
	free(r->certs);
	r->manifest = NULL;
	r->certs = NULL;
}
