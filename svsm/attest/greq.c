/*
 * The guest-request channel to the PSP (see greq.h): build and encrypt an SNP guest
 * message with VMPCK0, hand it to the hypervisor through the calling vCPU's GHCB, take
 * the answer out of the shared page once and accept it only if every header field and the
 * tag check out. Everything the hypervisor can touch (the shared pages, SW_EXITINFO2, RBX)
 * is read once and checked.
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/crypto.h>
#include <svsm/ghcb_client.h>
#include <svsm/greq.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/string.h>

#define GREQ_CERT_PAGES (SNP_CERTS_MAX_SIZE / PAGE_SIZE)
#define GREQ_CERT_ORDER 2
_Static_assert(GREQ_CERT_PAGES == (1u << GREQ_CERT_ORDER), "certificate pages are one allocation");

/* The channel: owned by one vCPU at a time (greq_claim), state in svsm_state. */
static SVSM_STATE struct {
	bool ready;
	bool disabled;
	u32 owner;            /* 0 = free, else APIC ID + 1 of the owner */
	u64 seqno;            /* last sequence number used */
	u64 secrets_gpa;
	struct aes256_gcm key; /* VMPCK0, expanded */
	u64 req_gpa, resp_gpa, certs_gpa;
	u8 *req;              /* shared request page */
	u8 *resp;             /* shared response page */
	u8 *certs[GREQ_CERT_PAGES]; /* shared certificate pages, mapped one by one */
	u8 *msg;              /* private page: the message being built or checked */
	u8 *certs_copy;       /* private copy of the certificate table */
	u64 requests;
	u64 wipes;
	int last_error;
	u64 last_exitinfo2;
} chan;

/* Wipe VMPCK0 (secrets page and expanded key) and disable the channel for good. */
static void greq_wipe(int why)
{
	u8 *secrets = arch_phys_to_virt(chan.secrets_gpa);

	if (secrets) {
		crypto_wipe(secrets + SNP_SECRETS_VMPCK_OFFSET(0), SNP_VMPCK_SIZE);
	}
	crypto_wipe(&chan.key, sizeof(chan.key));
	chan.disabled = true;
	chan.wipes = 1;
	log_error("guest request failed (%d): VMPCK0 wiped, attestation disabled", why);
}

static int greq_fail(int why, bool wipe)
{
	chan.last_error = why;
	if (wipe) {
		greq_wipe(why);
	}
	return why;
}

/* Make the page at @va private -> shared and map it; returns the mapping or NULL. */
static u8 *greq_share_page(void *va)
{
	u64 gpa = arch_virt_to_phys(va);

	if (arch_pvalidate(gpa, PAGE_SIZE_4K, false) != RMP_SUCCESS) {
		return NULL;
	}
	if (ghcb_msr_psc(gpa, PSC_OP_SHARED) != GHCB_CLIENT_OK) {
		/* Whatever the hypervisor did, only a page PVALIDATE takes back is usable again. */
		(void)ghcb_msr_psc(gpa, PSC_OP_PRIVATE);
		(void)arch_pvalidate(gpa, PAGE_SIZE_4K, true);
		return NULL;
	}
	u8 *p = arch_map_shared(gpa);
	if (p) {
		memset(p, 0, PAGE_SIZE);
	}
	return p;
}

int greq_init(u64 secrets_gpa)
{
	memset(&chan, 0, sizeof(chan));
	u8 *secrets = arch_phys_to_virt(secrets_gpa);
	if (!secrets || !IS_ALIGNED(secrets_gpa, PAGE_SIZE)) {
		return -1;
	}
	chan.secrets_gpa = secrets_gpa;
	/*
	 * Pages stay allocated for the SVSM's lifetime; a failure part-way leaks what was
	 * taken (boot only, and shared pages must not go back to the allocator unchecked).
	 */
	u8 *req = page_alloc_zeroed(0);
	u8 *resp = page_alloc_zeroed(0);
	u8 *certs = page_alloc_zeroed(GREQ_CERT_ORDER);
	chan.msg = page_alloc_zeroed(0);
	chan.certs_copy = page_alloc_zeroed(GREQ_CERT_ORDER);
	if (!req || !resp || !certs || !chan.msg || !chan.certs_copy) {
		log_error("attestation: out of memory for the guest-request pages");
		return -1;
	}
	chan.req_gpa = arch_virt_to_phys(req);
	chan.resp_gpa = arch_virt_to_phys(resp);
	chan.certs_gpa = arch_virt_to_phys(certs);
	chan.req = greq_share_page(req);
	chan.resp = greq_share_page(resp);
	bool shared = chan.req && chan.resp;
	for (unsigned i = 0; i < GREQ_CERT_PAGES && shared; i++) {
		chan.certs[i] = greq_share_page(certs + i * PAGE_SIZE);
		shared = chan.certs[i] != NULL;
	}
	if (!shared) {
		log_error("attestation: the hypervisor refused to share the guest-request pages");
		return -1;
	}
	aes256_gcm_init(&chan.key, secrets + SNP_SECRETS_VMPCK_OFFSET(0));
	chan.ready = true;
	return 0;
}

int greq_claim(void)
{
	if (!chan.ready || __atomic_load_n(&chan.disabled, __ATOMIC_ACQUIRE)) {
		return GREQ_DISABLED;
	}
	u32 expected = 0;
	u32 me = arch_cpu_apic_id() + 1;
	if (!__atomic_compare_exchange_n(&chan.owner, &expected, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		return GREQ_BUSY;
	}
	if (chan.disabled) {
		__atomic_store_n(&chan.owner, 0, __ATOMIC_RELEASE);
		return GREQ_DISABLED;
	}
	return GREQ_OK;
}

void greq_release(void)
{
	crypto_wipe(chan.certs_copy, SNP_CERTS_MAX_SIZE);
	__atomic_store_n(&chan.owner, 0, __ATOMIC_RELEASE);
}

/* The 96-bit IV: the sequence number, little-endian, then zeros. */
static void greq_iv(u8 iv[GCM_IV_SIZE], u64 seqno)
{
	memset(iv, 0, GCM_IV_SIZE);
	for (unsigned i = 0; i < 8; i++) {
		iv[i] = (u8)(seqno >> (8 * i));
	}
}

/*
 * Issue the request in the shared page until the hypervisor gives a final answer:
 * "busy" resends the same message; "certificate buffer too small" on the extended exit
 * resends it as a plain guest request, because the firmware has not seen it and its
 * sequence number may not be reused for anything else (Linux does the same).
 * Returns GREQ_OK with *@exitinfo2 = 0, or an error.
 */
static int greq_issue(bool ext, bool *certs_too_big, u32 *certs_needed)
{
	struct ghcb_page *g = cpu_ghcb();

	if (!g) {
		return GREQ_NO_GHCB;
	}
	unsigned busy = 0;
	for (;;) {
		u64 info2 = 0;
		ghcb_invalidate(g->ghcb);
		if (ext) {
			ghcb_set_rax(g->ghcb, chan.certs_gpa);
			ghcb_set_rbx(g->ghcb, GREQ_CERT_PAGES);
		}
		int rc = ghcb_nae(g, ext ? SVM_VMGEXIT_EXT_GUEST_REQUEST : SVM_VMGEXIT_GUEST_REQUEST, chan.req_gpa,
				  chan.resp_gpa, &info2);
		chan.last_exitinfo2 = info2;
		if (rc != GHCB_CLIENT_OK) {
			return GREQ_HV_ERROR;
		}
		u32 vmm = SNP_GREQ_VMM_ERR(info2);
		if (vmm == SNP_GREQ_VMM_BUSY && SNP_GREQ_FW_ERR(info2) == 0 && busy < GREQ_BUSY_RETRIES) {
			busy++;
			continue;
		}
		if (ext && vmm == SNP_GREQ_VMM_INVALID_LEN && SNP_GREQ_FW_ERR(info2) == 0) {
			u64 pages = __atomic_load_n((u64 *)(g->ghcb->save + GHCB_OFF_RBX), __ATOMIC_RELAXED);
			*certs_too_big = true;
			*certs_needed = pages > (0xFFFFFFFFull >> PAGE_SHIFT) ? 0xFFFFFFFFu : (u32)(pages << PAGE_SHIFT);
			ext = false;
			continue;
		}
		if (info2 != 0) {
			return vmm ? GREQ_HV_ERROR : GREQ_FW_ERROR;
		}
		return GREQ_OK;
	}
}

/*
 * Copy the certificate table out of the shared pages once, then check it: 24-byte entries
 * up to an all-zero one, each naming a range inside the buffer. *@len: the bytes that
 * matter (the table and every entry's data), 0 when the first entry is the terminator.
 */
static int greq_take_certs(u32 *len)
{
	static const u8 zero[sizeof(struct snp_cert_entry)];
	u32 end = 0;

	for (unsigned i = 0; i < GREQ_CERT_PAGES; i++) {
		memcpy(chan.certs_copy + i * PAGE_SIZE, chan.certs[i], PAGE_SIZE);
	}
	for (u32 off = 0;; off += sizeof(struct snp_cert_entry)) {
		if (off + sizeof(struct snp_cert_entry) > SNP_CERTS_MAX_SIZE) {
			return GREQ_BAD_CERTS;
		}
		struct snp_cert_entry e;
		memcpy(&e, chan.certs_copy + off, sizeof(e));
		if (!memcmp(&e, zero, sizeof(e))) {
			end = MAX(end, off + (u32)sizeof(e));
			break;
		}
		if (e.offset > SNP_CERTS_MAX_SIZE || e.length > SNP_CERTS_MAX_SIZE - e.offset) {
			return GREQ_BAD_CERTS;
		}
		end = MAX(end, e.offset + e.length);
	}
	*len = end == sizeof(struct snp_cert_entry) ? 0 : end;
	return GREQ_OK;
}

/*
 * One exchange: @req (@req_size bytes) as message @type, answer of exactly @rsp_size
 * bytes into @rsp. The caller owns the channel.
 */
static int greq_exchange(u8 type, const void *req, u16 req_size, void *rsp, u16 rsp_size, bool want_certs,
			 u32 *certs_len)
{
	if (req_size > SNP_MSG_MAX_PAYLOAD || rsp_size > SNP_MSG_MAX_PAYLOAD) {
		return GREQ_INVALID;
	}
	if (!chan.ready || chan.disabled) {
		return GREQ_DISABLED;
	}
	/* Linux keeps the count in 32 bits and stops before it wraps; so does the SVSM. */
	u64 seq = chan.seqno + 1;
	if (seq + 1 >= 0xFFFFFFFFull) {
		return greq_fail(GREQ_DISABLED, true);
	}
	struct snp_msg_hdr h = {
		.msg_seqno = seq,
		.algo = SNP_MSG_ALGO_AES_256_GCM,
		.hdr_version = SNP_MSG_HDR_VERSION,
		.hdr_size = SNP_MSG_HDR_SIZE,
		.msg_type = type,
		.msg_version = 1,
		.msg_size = req_size,
		.msg_vmpck = 0,
	};
	u8 iv[GCM_IV_SIZE];
	greq_iv(iv, seq);
	memset(chan.msg, 0, PAGE_SIZE);
	memcpy(chan.msg, &h, sizeof(h));
	aes256_gcm_seal(&chan.key, iv, chan.msg + SNP_MSG_AAD_OFFSET, SNP_MSG_AAD_SIZE, req, req_size,
			chan.msg + SNP_MSG_HDR_SIZE, chan.msg);
	memcpy(chan.req, chan.msg, PAGE_SIZE);

	bool too_big = false;
	u32 needed = 0;
	int rc = greq_issue(want_certs, &too_big, &needed);
	if (rc == GREQ_NO_GHCB) {
		/* Nothing reached the hypervisor: the sequence number is still unused. */
		return greq_fail(rc, false);
	}
	if (rc != GREQ_OK) {
		return greq_fail(rc, true);
	}

	/* The answer: one copy out of the shared page, then checks on the copy only. */
	memcpy(chan.msg, chan.resp, PAGE_SIZE);
	struct snp_msg_hdr r;
	memcpy(&r, chan.msg, sizeof(r));
	static const u8 zero8[8], zero16[16];
	if (r.msg_seqno != seq + 1 || r.algo != SNP_MSG_ALGO_AES_256_GCM || r.hdr_version != SNP_MSG_HDR_VERSION ||
	    r.hdr_size != SNP_MSG_HDR_SIZE || r.msg_type != type + 1 || r.msg_version != 1 || r.msg_vmpck != 0 ||
	    r.msg_size != rsp_size || memcmp(r.rsvd1, zero8, sizeof(zero8)) ||
	    memcmp(r.authtag + GCM_TAG_SIZE, zero16, sizeof(zero16))) {
		return greq_fail(GREQ_BAD_RESPONSE, true);
	}
	greq_iv(iv, seq + 1);
	if (aes256_gcm_open(&chan.key, iv, chan.msg + SNP_MSG_AAD_OFFSET, SNP_MSG_AAD_SIZE, chan.msg + SNP_MSG_HDR_SIZE,
			    rsp_size, rsp, r.authtag) != 0) {
		return greq_fail(GREQ_BAD_RESPONSE, true);
	}
	crypto_wipe(chan.msg, PAGE_SIZE);
	chan.seqno = seq + 1;
	chan.requests++;
	if (too_big) {
		*certs_len = needed;
		return greq_fail(GREQ_CERTS_TOO_BIG, false);
	}
	if (want_certs) {
		rc = greq_take_certs(certs_len);
		if (rc != GREQ_OK) {
			return greq_fail(rc, false);
		}
	}
	return GREQ_OK;
}

int greq_report(const u8 report_data[SNP_REPORT_DATA_SIZE], struct snp_attestation_report *report, bool want_certs,
		const u8 **certs, u32 *certs_len, u32 *status)
{
	struct snp_msg_report_req req;
	struct snp_msg_report_rsp rsp;
	u32 clen = 0;

	memset(&req, 0, sizeof(req));
	memcpy(req.report_data, report_data, SNP_REPORT_DATA_SIZE);
	req.vmpl = 0;
	req.key_sel = 0;
	int rc = greq_exchange(SNP_MSG_REPORT_REQ, &req, sizeof(req), &rsp, sizeof(rsp), want_certs, &clen);
	if (certs_len) {
		*certs_len = clen;
	}
	if (rc != GREQ_OK) {
		return rc;
	}
	if (rsp.status != SNP_STATUS_SUCCESS) {
		if (status) {
			*status = rsp.status;
		}
		return greq_fail(GREQ_STATUS, false);
	}
	/* Authentic, but must also be the report asked for: never pass on another one. */
	if (rsp.report_size != SNP_REPORT_SIZE || rsp.report.vmpl != 0 ||
	    memcmp(rsp.report.report_data, report_data, SNP_REPORT_DATA_SIZE)) {
		return greq_fail(GREQ_BAD_REPORT, false);
	}
	memcpy(report, &rsp.report, sizeof(*report));
	if (certs) {
		*certs = chan.certs_copy;
	}
	return GREQ_OK;
}

int greq_derive_key(const struct snp_msg_key_req *req, u8 key[SNP_DERIVED_KEY_SIZE], u32 *status)
{
	struct snp_msg_key_rsp rsp;

	int rc = greq_exchange(SNP_MSG_KEY_REQ, req, sizeof(*req), &rsp, sizeof(rsp), false, NULL);
	if (rc != GREQ_OK) {
		return rc;
	}
	if (rsp.status != SNP_STATUS_SUCCESS) {
		if (status) {
			*status = rsp.status;
		}
		crypto_wipe(&rsp, sizeof(rsp));
		return greq_fail(GREQ_STATUS, false);
	}
	memcpy(key, rsp.key, SNP_DERIVED_KEY_SIZE);
	crypto_wipe(&rsp, sizeof(rsp));
	return GREQ_OK;
}

void greq_get_info(struct greq_info *out)
{
	*out = (struct greq_info){
		.ready = chan.ready,
		.disabled = chan.disabled,
		.seqno = chan.seqno,
		.requests = chan.requests,
		.wipes = chan.wipes,
		.last_error = chan.last_error,
		.last_exitinfo2 = chan.last_exitinfo2,
	};
}
