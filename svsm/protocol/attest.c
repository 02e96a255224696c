/*
 * The attestation protocol (1): SVSM_ATTEST_SERVICES and SVSM_ATTEST_SINGLE_SERVICE.
 *
 * Every field of the request is decoded and checked, and every guest page the call will
 * read or write is checked for the caller's rights, before anything is done; the only
 * work before a size answer is building the manifest in SVSM memory (and, before that, the
 * services' own preparation, with no lock held: the vTPM's EK). Then the report is
 * requested from the PSP with REPORT_DATA = SHA-512(nonce || manifest), and certificates,
 * manifest and report are written. RCX/RDX/R8 carry the manifest, certificate and report
 * sizes and are set before each size check, so that a guest can grow its buffers and call
 * again (Linux's retry loop); RDX is left as the guest passed it while the certificate
 * size is unknown.
 *
 * A rejected call writes no guest memory. One rejection comes after the PSP was asked: a
 * certificate buffer too small for what the hypervisor returned (its size is only known
 * then); the channel's sequence number has advanced, nothing else changed.
 */
#include <svsm/arch.h>
#include <svsm/attest.h>
#include <svsm/guestmem.h>
#include <svsm/crypto.h>
#include <svsm/greq.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>

#define ATTEST_MANIFEST_ORDER 2
_Static_assert(SVSM_ATTEST_MANIFEST_MAX == (PAGE_SIZE << ATTEST_MANIFEST_ORDER), "manifest buffer is one allocation");

/*
 * The manifest being built: used only by the vCPU that owns the guest-request channel
 * (greq_claim), so it needs no lock of its own.
 */
static SVSM_STATE u8 *attest_manifest_buf;

static const struct svsm_protocol attest_protocol = {
	.id = SVSM_PROTOCOL_ATTEST,
	.min_version = SVSM_ATTEST_VERSION_MIN,
	.max_version = SVSM_ATTEST_VERSION_MAX,
	.name = "attestation",
	.handle = attest_protocol_handle,
};

int attest_protocol_init(u64 secrets_gpa)
{
	attest_manifest_buf = page_alloc_zeroed(ATTEST_MANIFEST_ORDER);
	if (!attest_manifest_buf) {
		return -1;
	}
	if (greq_init(secrets_gpa) != 0) {
		return -1;
	}
	return protocol_register(&attest_protocol);
}

/* Guest memory, read and written for the caller with its own rights (guestmem.h). */
static u32 attest_read(const struct svsm_call *call, u64 gpa, void *buf, u64 len)
{
	return guestmem_read(call->caller_vmpl, gpa, buf, len);
}

static u32 attest_write(const struct svsm_call *call, u64 gpa, const void *buf, u64 len)
{
	return guestmem_write(call->caller_vmpl, gpa, buf, len);
}

/*
 * May the caller have the SVSM read (or write) [@gpa, @gpa + @len) for it? The range must
 * be guest RAM, touch no SVSM page, VMSA or (for writes) calling area, and the caller's
 * VMPL must hold read (and write) permission on every page (guestmem_check).
 */
static u32 attest_check(const struct svsm_call *call, u64 gpa, u64 len, bool write)
{
	if (len == 0) {
		return SVSM_SUCCESS;
	}
	if (write && vcpu_range_has_caa(gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	return guestmem_check(call->caller_vmpl, gpa, len, write ? GUESTMEM_RW : GUESTMEM_READ);
}

static bool attest_bytes_zero(const u8 *p, size_t n)
{
	u8 acc = 0;

	for (size_t i = 0; i < n; i++) {
		acc |= p[i];
	}
	return acc == 0;
}

static bool attest_overlap(u64 a, u64 alen, u64 b, u64 blen);

/* The decoded request: every field checked by attest_decode. */
struct attest_args {
	u64 req_gpa; /* RCX as the guest passed it (RCX returns the manifest size) */
	struct svsm_attest_req r;
	bool single;
	u8 guid[16];
	u32 version;
	bool want_certs;
	u8 nonce[SVSM_ATTEST_NONCE_SIZE];
};

/* Read the request at RCX and check its fields (layout rules; no sizes yet). */
static u32 attest_decode(const struct svsm_call *call, bool single, struct attest_args *a)
{
	struct svsm_attest_single_req req;
	u64 len = single ? sizeof(struct svsm_attest_single_req) : sizeof(struct svsm_attest_req);
	u64 gpa = call->rcx;

	memset(&req, 0, sizeof(req));
	if (!IS_ALIGNED(gpa, 8)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	/* Over a calling area's header the SVSM would read call_pending's byte twice. */
	if (vcpu_range_has_caa_header(gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	u32 rc = attest_check(call, gpa, len, false);
	if (rc == SVSM_SUCCESS) {
		rc = attest_read(call, gpa, &req, len);
	}
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	const struct svsm_attest_req *b = &req.base;
	if (b->rsvd1 || !attest_bytes_zero(b->rsvd2, sizeof(b->rsvd2)) || b->rsvd3 || b->rsvd4 || (single && req.rsvd5)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (b->nonce_size != SVSM_ATTEST_NONCE_SIZE || (b->nonce_gpa & PAGE_MASK) + b->nonce_size > PAGE_SIZE) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (!IS_ALIGNED(b->report_gpa, PAGE_SIZE) || !IS_ALIGNED(b->manifest_gpa, PAGE_SIZE) ||
	    (b->certs_size && !IS_ALIGNED(b->certs_gpa, PAGE_SIZE))) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	a->req_gpa = gpa;
	a->r = *b;
	a->single = single;
	memcpy(a->guid, req.guid, sizeof(a->guid));
	a->version = req.manifest_version;
	a->want_certs = b->certs_size != 0;
	/* An all-zero GUID names no service (Linux sends SERVICES for it instead). */
	if (single && attest_bytes_zero(a->guid, sizeof(a->guid))) {
		return SVSM_ERR_UNSUPPORTED_PROTOCOL;
	}
	/*
	 * Not over a calling area's header: the SVSM rewrites call_pending and mem_available
	 * after the call, so the guest would no longer hold the nonce REPORT_DATA covers.
	 */
	if ((b->nonce_gpa & PAGE_MASK) < offsetof(struct svsm_ca, buffer) && vcpu_page_is_caa(b->nonce_gpa)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	/* The nonce is read on its own: over the request it would be guest bytes read twice. */
	if (attest_overlap(b->nonce_gpa, SVSM_ATTEST_NONCE_SIZE, gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	rc = attest_check(call, b->nonce_gpa, SVSM_ATTEST_NONCE_SIZE, false);
	if (rc == SVSM_SUCCESS) {
		rc = attest_read(call, b->nonce_gpa, a->nonce, SVSM_ATTEST_NONCE_SIZE);
	}
	return rc;
}

/* The SVSM result for a failed guest request. */
static u32 attest_greq_error(int rc)
{
	switch (rc) {
	case GREQ_BUSY:
		return SVSM_ERR_BUSY;
	default:
		/* Disabled channel, hypervisor or firmware failure, bad answer, oversized certificates. */
		return SVSM_ERR_INVALID_REQUEST;
	}
}

static bool attest_overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/*
 * What the SVSM writes (report, manifest, certificates) must not overlap itself, the nonce
 * or the request: a later write would change what an earlier one, or REPORT_DATA, covers,
 * and the guest would get evidence that does not verify.
 */
static u32 attest_check_disjoint(const struct attest_args *a, u32 msize)
{
	u64 req_len = a->single ? sizeof(struct svsm_attest_single_req) : sizeof(struct svsm_attest_req);
	u64 certs_len = a->want_certs ? MIN((u64)a->r.certs_size, (u64)SNP_CERTS_MAX_SIZE) : 0;
	const struct {
		u64 gpa, len;
	} out[3] = {{a->r.report_gpa, SNP_REPORT_SIZE}, {a->r.manifest_gpa, msize}, {a->r.certs_gpa, certs_len}};

	for (unsigned i = 0; i < 3; i++) {
		/* Ranges that wrap are refused by attest_check: only compare the others. */
		if (out[i].gpa + out[i].len < out[i].gpa) {
			continue;
		}
		for (unsigned j = i + 1; j < 3; j++) {
			if (attest_overlap(out[i].gpa, out[i].len, out[j].gpa, out[j].len)) {
				return SVSM_ERR_INVALID_ADDRESS;
			}
		}
		if (attest_overlap(out[i].gpa, out[i].len, a->r.nonce_gpa, SVSM_ATTEST_NONCE_SIZE) ||
		    attest_overlap(out[i].gpa, out[i].len, a->req_gpa, req_len)) {
			return SVSM_ERR_INVALID_ADDRESS;
		}
	}
	return SVSM_SUCCESS;
}

/* With the channel claimed: everything after decoding. */
static u32 attest_run(struct svsm_call *call, const struct attest_args *a)
{
	u32 msize = 0;
	u32 rc = attest_manifest_build(a->single ? a->guid : NULL, a->version, attest_manifest_buf,
				       SVSM_ATTEST_MANIFEST_MAX, &msize);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	/* Sizes out first, then the checks they answer. */
	call->rcx = msize;
	call->r8 = SNP_REPORT_SIZE;
	if (!a->want_certs) {
		call->rdx = 0;
	}
	if (a->r.manifest_size < msize || a->r.report_size < SNP_REPORT_SIZE) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	rc = attest_check_disjoint(a, msize);
	if (rc == SVSM_SUCCESS) {
		rc = attest_check(call, a->r.report_gpa, SNP_REPORT_SIZE, true);
	}
	if (rc == SVSM_SUCCESS) {
		rc = attest_check(call, a->r.manifest_gpa, msize, true);
	}
	if (rc == SVSM_SUCCESS && a->want_certs) {
		rc = attest_check(call, a->r.certs_gpa, MIN((u64)a->r.certs_size, (u64)SNP_CERTS_MAX_SIZE), true);
	}
	if (rc != SVSM_SUCCESS) {
		return rc;
	}

	u8 report_data[SHA512_DIGEST_SIZE];
	struct sha512_ctx h;
	sha512_init(&h);
	sha512_update(&h, a->nonce, SVSM_ATTEST_NONCE_SIZE);
	sha512_update(&h, attest_manifest_buf, msize);
	sha512_final(&h, report_data);

	struct snp_attestation_report report;
	const u8 *certs = NULL;
	u32 certs_len = 0, status = 0;
	int g = greq_report(report_data, &report, a->want_certs, &certs, &certs_len, &status);
	if (g != GREQ_OK) {
		log_warn("attestation: guest request failed (%d, status 0x%x)", g, status);
		return attest_greq_error(g);
	}
	if (a->want_certs) {
		call->rdx = certs_len;
		if (a->r.certs_size < certs_len) {
			return SVSM_ERR_INVALID_PARAMETER;
		}
	}
	rc = SVSM_SUCCESS;
	if (certs_len) {
		rc = attest_write(call, a->r.certs_gpa, certs, certs_len);
	}
	if (rc == SVSM_SUCCESS) {
		rc = attest_write(call, a->r.manifest_gpa, attest_manifest_buf, msize);
	}
	if (rc == SVSM_SUCCESS) {
		rc = attest_write(call, a->r.report_gpa, &report, sizeof(report));
	}
	return rc;
}

u32 attest_protocol_handle(u32 call_id, struct svsm_call *call)
{
	struct attest_args a;

	if (call_id != SVSM_ATTEST_SERVICES && call_id != SVSM_ATTEST_SINGLE_SERVICE) {
		return SVSM_ERR_UNSUPPORTED_CALL;
	}
	u32 rc = attest_decode(call, call_id == SVSM_ATTEST_SINGLE_SERVICE, &a);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	/*
	 * A service may need slow work before its manifest exists (the vTPM makes its EK in
	 * the TPM): done here, with no lock held, before the channel is claimed. Everything it
	 * relies on is checked again afterwards (the registry when the manifest is built, the
	 * caller's rights on the outputs in attest_run); the request and the nonce are in
	 * private memory already.
	 */
	rc = attest_services_prepare(a.single ? a.guid : NULL, a.version);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	int g = greq_claim();
	if (g != GREQ_OK) {
		return attest_greq_error(g);
	}
	rc = attest_run(call, &a);
	crypto_wipe(attest_manifest_buf, SVSM_ATTEST_MANIFEST_MAX);
	greq_release();
	return rc;
}
