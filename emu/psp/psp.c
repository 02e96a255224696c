/*
 * The emulated AMD Secure Processor: the launch (digest, secrets page, CPUID page check,
 * policy), SNP guest messages with the firmware's checks (header, sequence number per
 * VMPCK, AES-256-GCM), MSG_REPORT_REQ and MSG_KEY_REQ, and reports signed with the VCEK.
 * Where the reference does not give the firmware's answer, the choice is marked
 * "emulator choice" and listed in docs/attestation.md.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/psp-sev.h>
#include <linux/sev-guest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <svsm/vmsa.h>

#include "psp.h"
#include "psp_common.h"

/* The certificate table's GUIDs (UEFI byte order). */
static const u8 psp_guid_ark[16] = SNP_GUID_ARK;
static const u8 psp_guid_ask[16] = SNP_GUID_ASK;
static const u8 psp_guid_vcek[16] = SNP_GUID_VCEK;

/* --- randomness ------------------------------------------------------------------------------ */

/* Random bytes: from @seed and a counter when deterministic, else from OpenSSL. */
static void psp_random(struct psp *p, void *buf, size_t len)
{
	u8 *out = buf;

	if (!p->cfg.deterministic) {
		if (RAND_bytes(out, (int)len) != 1) {
			abort();
		}
		return;
	}
	while (len) {
		u8 in[16], d[48];
		unsigned int n = 0;
		memcpy(in, &p->cfg.seed, 8);
		memcpy(in + 8, &p->st->rng, 8);
		p->st->rng++;
		if (!EVP_Digest(in, sizeof(in), d, &n, EVP_sha384(), NULL)) {
			abort();
		}
		size_t take = len < n ? len : n;
		memcpy(out, d, take);
		out += take;
		len -= take;
	}
}

/* --- guest messages (both sides) ------------------------------------------------------------- */

static void psp_iv(u8 iv[12], u64 seqno)
{
	memset(iv, 0, 12);
	memcpy(iv, &seqno, 8);
}

/* AES-256-GCM through EVP. @enc: seal (tag out) or open (tag in). 0, or -1 (bad tag). */
static int psp_gcm(bool enc, const u8 key[32], const u8 iv[12], const u8 *aad, int aad_len, const u8 *in, int len,
		   u8 *out, u8 tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, rc = -1;

	if (!c) {
		return -1;
	}
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc ? 1 : 0) == 1 &&
	    EVP_CipherUpdate(c, NULL, &n, aad, aad_len) == 1 && (len == 0 || EVP_CipherUpdate(c, out, &n, in, len) == 1)) {
		if (enc) {
			if (EVP_CipherFinal_ex(c, out + (len ? n : 0), &n) == 1 &&
			    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1) {
				rc = 0;
			}
		} else if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
			   EVP_CipherFinal_ex(c, out + (len ? n : 0), &n) == 1) {
			rc = 0;
		}
	}
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int psp_msg_seal(const u8 key[SNP_VMPCK_SIZE], u8 vmpck, u64 seqno, u8 type, const void *payload, u16 len, u8 *page)
{
	struct snp_msg_hdr h;
	u8 iv[12];

	if (len > SNP_MSG_MAX_PAYLOAD) {
		return -1;
	}
	memset(page, 0, SNP_MSG_PAGE_SIZE);
	memset(&h, 0, sizeof(h));
	h.msg_seqno = seqno;
	h.algo = SNP_MSG_ALGO_AES_256_GCM;
	h.hdr_version = SNP_MSG_HDR_VERSION;
	h.hdr_size = SNP_MSG_HDR_SIZE;
	h.msg_type = type;
	h.msg_version = 1;
	h.msg_size = len;
	h.msg_vmpck = vmpck;
	memcpy(page, &h, sizeof(h));
	psp_iv(iv, seqno);
	return psp_gcm(true, key, iv, page + SNP_MSG_AAD_OFFSET, SNP_MSG_AAD_SIZE, payload, len, page + SNP_MSG_HDR_SIZE,
		       page);
}

int psp_msg_open(const u8 key[SNP_VMPCK_SIZE], const u8 *page, void *payload, u16 max)
{
	struct snp_msg_hdr h;
	u8 iv[12];

	memcpy(&h, page, sizeof(h));
	if (h.msg_size > max || h.msg_size > SNP_MSG_MAX_PAYLOAD) {
		return -1;
	}
	psp_iv(iv, h.msg_seqno);
	if (psp_gcm(false, key, iv, page + SNP_MSG_AAD_OFFSET, SNP_MSG_AAD_SIZE, page + SNP_MSG_HDR_SIZE, h.msg_size,
		    payload, h.authtag) != 0) {
		return -1;
	}
	return h.msg_size;
}

/* --- reports ----------------------------------------------------------------------------------- */

/* A report body's SHA-384 and the signature made over it (psp_config.memo_signatures). */
struct psp_sig_memo {
	bool used;
	u8 digest[48];
	u8 r[SNP_REPORT_SIG_COMPONENT_SIZE];
	u8 s[SNP_REPORT_SIG_COMPONENT_SIZE];
};

/* The memo slot of @report's body, with its digest in @digest; NULL without a memo. */
static struct psp_sig_memo *psp_memo_slot(struct psp *p, const struct snp_attestation_report *report, u8 digest[48])
{
	unsigned int n = 0;

	if (!p->memo || !EVP_Digest(report, SNP_REPORT_SIGNED_SIZE, digest, &n, EVP_sha384(), NULL) || n != 48) {
		return NULL;
	}
	u32 h;
	memcpy(&h, digest, sizeof(h));
	return &p->memo[h % p->cfg.memo_signatures];
}

int psp_sign_report(struct psp *p, struct snp_attestation_report *report)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	u8 der[160], digest[48];
	size_t der_len = sizeof(der);
	int rc = -1;

	memset(report->sig_r, 0, sizeof(report->sig_r));
	memset(report->sig_s, 0, sizeof(report->sig_s));
	memset(report->sig_rsvd, 0, sizeof(report->sig_rsvd));
	struct psp_sig_memo *memo = psp_memo_slot(p, report, digest);
	if (memo && memo->used && !memcmp(memo->digest, digest, sizeof(digest))) {
		memcpy(report->sig_r, memo->r, sizeof(memo->r));
		memcpy(report->sig_s, memo->s, sizeof(memo->s));
		p->memo_hits++;
		EVP_MD_CTX_free(m);
		return 0;
	}
	if (m && EVP_DigestSignInit(m, NULL, EVP_sha384(), NULL, p->keys.vcek) == 1 &&
	    EVP_DigestSign(m, der, &der_len, (const u8 *)report, SNP_REPORT_SIGNED_SIZE) == 1) {
		const u8 *q = der;
		ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
		const BIGNUM *r = NULL, *s = NULL;
		if (sig) {
			ECDSA_SIG_get0(sig, &r, &s);
			if (BN_bn2lebinpad(r, report->sig_r, SNP_REPORT_SIG_COMPONENT_SIZE) > 0 &&
			    BN_bn2lebinpad(s, report->sig_s, SNP_REPORT_SIG_COMPONENT_SIZE) > 0) {
				rc = 0;
				if (memo) {
					memo->used = true;
					memcpy(memo->digest, digest, sizeof(digest));
					memcpy(memo->r, report->sig_r, sizeof(memo->r));
					memcpy(memo->s, report->sig_s, sizeof(memo->s));
				}
			}
			ECDSA_SIG_free(sig);
		}
	}
	EVP_MD_CTX_free(m);
	return rc;
}

int psp_make_report(struct psp *p, const u8 report_data[SNP_REPORT_DATA_SIZE], u32 vmpl,
		    struct snp_attestation_report *out)
{
	u64 tcb = psp_chip_tcb(&p->keys.chip);

	memset(out, 0, sizeof(*out));
	out->version = PSP_REPORT_VERSION;
	out->guest_svn = 0;
	out->policy = p->policy;
	out->vmpl = vmpl;
	out->signature_algo = SNP_REPORT_SIG_ALGO_ECDSA_P384_SHA384;
	out->current_tcb = tcb;
	out->platform_info = PSP_PLATFORM_INFO;
	out->key_info = SNP_SIGNING_KEY_VCEK << 2;
	memcpy(out->report_data, report_data, SNP_REPORT_DATA_SIZE);
	memcpy(out->measurement, p->measurement, SNP_MEASUREMENT_SIZE);
	memcpy(out->host_data, p->cfg.host_data, SNP_HOST_DATA_SIZE);
	memcpy(out->report_id, p->st->report_id, sizeof(out->report_id));
	/* No migration agent: REPORT_ID_MA reads all ones (emulator choice). */
	memset(out->report_id_ma, 0xFF, sizeof(out->report_id_ma));
	out->reported_tcb = tcb;
	out->cpuid_fam_id = PSP_CPUID_FAMILY;
	out->cpuid_mod_id = PSP_CPUID_MODEL;
	out->cpuid_step = PSP_CPUID_STEPPING;
	memcpy(out->chip_id, p->keys.chip.chip_id, SNP_CHIP_ID_SIZE);
	out->committed_tcb = tcb;
	out->current_build = PSP_FW_BUILD;
	out->current_minor = PSP_FW_MINOR;
	out->current_major = PSP_FW_MAJOR;
	out->committed_build = PSP_FW_BUILD;
	out->committed_minor = PSP_FW_MINOR;
	out->committed_major = PSP_FW_MAJOR;
	out->launch_tcb = tcb;
	return psp_sign_report(p, out);
}

/* --- MSG_REPORT_REQ and MSG_KEY_REQ -------------------------------------------------------------- */

/* Payload checks of MSG_REPORT_REQ, answered in STATUS; the layout is Linux's UAPI one. */
static void psp_serve_report(struct psp *p, u8 vmpck, const u8 *payload, struct snp_msg_report_rsp *rsp)
{
	struct snp_report_req req;
	u32 key_sel;

	memcpy(&req, payload, sizeof(req));
	/* KEY_SEL is the first word of what linux/sev-guest.h calls rsvd (shared/spec 4.3). */
	memcpy(&key_sel, req.rsvd, sizeof(key_sel));
	memset(rsp, 0, sizeof(*rsp));
	bool rsvd_zero = true;
	for (size_t i = 4; i < sizeof(req.rsvd); i++) {
		rsvd_zero &= req.rsvd[i] == 0;
	}
	if (req.vmpl < vmpck || req.vmpl > 3 || (key_sel & ~3u) || key_sel == 3 || !rsvd_zero) {
		rsp->status = SEV_RET_INVALID_PARAM;
		return;
	}
	if (key_sel == 2) {
		/* No VLEK is installed on the emulated platform. */
		rsp->status = SNP_STATUS_INVALID_KEY;
		return;
	}
	u64 flip = p->hostile ? p->hostile(p->hostile_ctx, PSP_HOSTILE_REPORT, 0) : 0;
	if (flip) {
		/* Sign a report other than the one asked for (tests of the SVSM's check). */
		if (psp_make_report(p, req.user_data, req.vmpl, &rsp->report) != 0) {
			rsp->status = SEV_RET_INVALID_PLATFORM_STATE;
			return;
		}
		((u8 *)&rsp->report)[(flip >> 8) % SNP_REPORT_SIGNED_SIZE] ^= (u8)flip;
		psp_sign_report(p, &rsp->report);
	} else if (psp_make_report(p, req.user_data, req.vmpl, &rsp->report) != 0) {
		rsp->status = SEV_RET_INVALID_PLATFORM_STATE;
		memset(&rsp->report, 0, sizeof(rsp->report));
		return;
	}
	rsp->status = SEV_RET_SUCCESS;
	rsp->report_size = SNP_REPORT_SIZE;
	p->st->last_report = rsp->report;
	p->st->reports++;
}

/*
 * MSG_KEY_REQ: the derived key is HMAC-SHA-384 (truncated to 32 bytes) over the selected
 * guest fields, keyed with the chip's VCEK-root secret or the VM's VMRK (emulator choice:
 * the firmware's derivation is not in the reference; what matters is which inputs bind).
 */
static void psp_serve_key(struct psp *p, u8 vmpck, const u8 *payload, struct snp_msg_key_rsp *rsp)
{
	struct snp_derived_key_req req;
	u64 tcb = psp_chip_tcb(&p->keys.chip);

	memcpy(&req, payload, sizeof(req));
	memset(rsp, 0, sizeof(*rsp));
	bool tcb_ok = true;
	for (unsigned b = 0; b < 8; b++) {
		tcb_ok &= ((req.tcb_version >> (8 * b)) & 0xFF) <= ((tcb >> (8 * b)) & 0xFF);
	}
	if ((req.root_key_select & ~1u) || req.rsvd || (req.guest_field_select & ~SNP_KEY_FIELD_MASK) ||
	    req.vmpl < vmpck || req.vmpl > 3 || req.guest_svn > 0 || !tcb_ok) {
		rsp->status = SEV_RET_INVALID_PARAM;
		return;
	}
	u8 root[48], msg[256];
	size_t n = 0;
	static const char label[] = "svsm-emu derived key";
	if (req.root_key_select & SNP_KEY_ROOT_VMRK) {
		memcpy(root, p->st->vmpck[0], 32); /* the VMRK: secret of this VM */
		memcpy(root + 32, p->st->report_id, 16);
	} else {
		/* The chip's root: fixed per CHIP_ID, so keys survive a new launch on one chip. */
		unsigned int dn = 0;
		EVP_Digest(p->keys.chip.chip_id, SNP_CHIP_ID_SIZE, root, &dn, EVP_sha384(), NULL);
	}
	memcpy(msg + n, label, sizeof(label));
	n += sizeof(label);
	memcpy(msg + n, &req.guest_field_select, 8);
	n += 8;
	memcpy(msg + n, &req.vmpl, 4);
	n += 4;
	if (req.guest_field_select & SNP_KEY_FIELD_POLICY) {
		memcpy(msg + n, &p->policy, 8);
		n += 8;
	}
	if (req.guest_field_select & (SNP_KEY_FIELD_IMAGE_ID | SNP_KEY_FIELD_FAMILY_ID)) {
		/* No ID block: both are zero. */
		memset(msg + n, 0, 32);
		n += 32;
	}
	if (req.guest_field_select & SNP_KEY_FIELD_MEASUREMENT) {
		memcpy(msg + n, p->measurement, SNP_MEASUREMENT_SIZE);
		n += SNP_MEASUREMENT_SIZE;
	}
	if (req.guest_field_select & SNP_KEY_FIELD_GUEST_SVN) {
		memcpy(msg + n, &req.guest_svn, 4);
		n += 4;
	}
	if (req.guest_field_select & SNP_KEY_FIELD_TCB_VERSION) {
		memcpy(msg + n, &req.tcb_version, 8);
		n += 8;
	}
	u8 mac[48];
	size_t mac_len = 0;
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA384", NULL, root, sizeof(root), msg, n, mac, sizeof(mac), &mac_len)) {
		rsp->status = SEV_RET_INVALID_PLATFORM_STATE;
		return;
	}
	memcpy(rsp->key, mac, SNP_DERIVED_KEY_SIZE);
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_cleanse(root, sizeof(root));
	rsp->status = SEV_RET_SUCCESS;
	p->st->derived_keys++;
}

static u32 psp_reject(struct psp *p, u32 err)
{
	p->st->rejected++;
	p->st->last_fw_error = err;
	return err;
}

u32 psp_guest_request(struct psp *p, const u8 *req, u8 *resp)
{
	struct snp_msg_hdr h;
	u8 payload[SNP_MSG_MAX_PAYLOAD];
	u8 out[SNP_MSG_MAX_PAYLOAD];
	u16 out_len;
	u8 iv[12];

	p->st->requests++;
	if (p->launch.state != PSP_LAUNCH_FINISHED) {
		return psp_reject(p, SEV_RET_INVALID_GUEST_STATE);
	}
	memcpy(&h, req, sizeof(h));
	/* The header (emulator choice: every malformed field, reserved ones included, is INVALID_PARAM). */
	if (!psp_msg_hdr_valid(&h)) {
		return psp_reject(p, SEV_RET_INVALID_PARAM);
	}
	/* Exactly the next sequence number of this VMPCK: replays and skips are refused. */
	if (h.msg_seqno != p->st->seqno[h.msg_vmpck] + 1) {
		return psp_reject(p, SEV_RET_INVALID_PARAM);
	}
	psp_iv(iv, h.msg_seqno);
	if (psp_gcm(false, p->st->vmpck[h.msg_vmpck], iv, req + SNP_MSG_AAD_OFFSET, SNP_MSG_AAD_SIZE,
		    req + SNP_MSG_HDR_SIZE, h.msg_size, payload, (u8 *)h.authtag) != 0) {
		/* Tag mismatch: another key, or the message was changed (emulator choice: BAD_SIGNATURE). */
		return psp_reject(p, SEV_RET_BAD_SIGNATURE);
	}
	switch (h.msg_type) {
	case SNP_MSG_REPORT_REQ:
		if (h.msg_size != sizeof(struct snp_report_req)) {
			return psp_reject(p, SEV_RET_INVALID_LEN);
		}
		psp_serve_report(p, h.msg_vmpck, payload, (struct snp_msg_report_rsp *)out);
		out_len = sizeof(struct snp_msg_report_rsp);
		break;
	case SNP_MSG_KEY_REQ:
		if (h.msg_size != sizeof(struct snp_derived_key_req)) {
			return psp_reject(p, SEV_RET_INVALID_LEN);
		}
		psp_serve_key(p, h.msg_vmpck, payload, (struct snp_msg_key_rsp *)out);
		out_len = sizeof(struct snp_msg_key_rsp);
		break;
	default:
		return psp_reject(p, SEV_RET_UNSUPPORTED);
	}
	OPENSSL_cleanse(payload, sizeof(payload));
	if (psp_msg_seal(p->st->vmpck[h.msg_vmpck], h.msg_vmpck, h.msg_seqno + 1, h.msg_type + 1, out, out_len, resp) != 0) {
		return psp_reject(p, SEV_RET_INVALID_PLATFORM_STATE);
	}
	OPENSSL_cleanse(out, sizeof(out));
	p->st->seqno[h.msg_vmpck] = h.msg_seqno + 1;
	return SEV_RET_SUCCESS;
}

/* --- the launch ------------------------------------------------------------------------------ */

/* The secrets page (shared/spec section 4.5) as the firmware writes it. */
static void psp_write_secrets(struct psp *p, u8 *page)
{
	u32 version = 3, fms = 0x00A10F11; /* family 0x19, model 0x11, stepping 1 */

	memset(page, 0, PAGE_SIZE);
	memcpy(page + SNP_SECRETS_VERSION_OFFSET, &version, 4);
	memcpy(page + SNP_SECRETS_FMS_OFFSET, &fms, 4);
	for (unsigned i = 0; i < SNP_VMPCK_COUNT; i++) {
		memcpy(page + SNP_SECRETS_VMPCK_OFFSET(i), p->st->vmpck[i], SNP_VMPCK_SIZE);
	}
}

static u32 psp_op_launch_start(void *ctx, u64 policy)
{
	struct psp *p = ctx;
	u32 rc = psp_launch_start(&p->launch, policy);

	if (rc == SEV_RET_SUCCESS) {
		p->policy = policy;
	}
	return rc;
}

static u32 psp_op_launch_update(void *ctx, const struct emu_launch_page *lp, u8 *page)
{
	struct psp *p = ctx;
	struct emu_launch_page m = *lp;

	/* What is measured is what the page holds (NORMAL), not what the loader meant. */
	if (page && lp->type == EMU_PAGE_NORMAL) {
		m.contents = page;
	}
	if (!page && lp->type != EMU_PAGE_VMSA) {
		return SEV_RET_INVALID_ADDRESS;
	}
	u32 rc = psp_launch_measure(&p->launch, &m);
	if (rc != SEV_RET_SUCCESS) {
		return rc;
	}
	switch (lp->type) {
	case EMU_PAGE_ZERO:
		if (!psp_bytes_zero(page, PAGE_SIZE)) {
			memset(page, 0, PAGE_SIZE);
		}
		break;
	case EMU_PAGE_SECRETS:
		psp_write_secrets(p, page);
		break;
	case EMU_PAGE_CPUID:
		rc = psp_cpuid_check(page);
		break;
	default:
		break;
	}
	return rc;
}

static u32 psp_op_launch_finish(void *ctx)
{
	struct psp *p = ctx;
	u32 rc = psp_launch_finish(&p->launch);

	if (rc == SEV_RET_SUCCESS) {
		memcpy(p->measurement, p->launch.ld, sizeof(p->measurement));
		psp_random(p, p->st->report_id, sizeof(p->st->report_id));
	}
	return rc;
}

const struct emu_psp_ops psp_machine_ops = {
	.launch_start = psp_op_launch_start,
	.launch_update = psp_op_launch_update,
	.launch_finish = psp_op_launch_finish,
	.guest_request = psp_hv_guest_request,
};

/* --- the certificate table of the extended guest request --------------------------------------- */

static int psp_build_cert_table(struct psp *p)
{
	static const u8 psp_guid_crl[16] = {0xc3, 0x1b, 0xf8, 0x92, 0x11, 0x58, 0x3d, 0x4d,
					     0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67, 0xea};
	X509 *certs[3] = {p->keys.ark_cert, p->keys.ask_cert, p->keys.vcek_cert};
	const u8 *guids[4] = {psp_guid_ark, psp_guid_ask, psp_guid_vcek, psp_guid_crl};
	u8 *der[4] = {NULL, NULL, NULL, NULL};
	size_t len[4] = {0, 0, 0, p->cfg.extra_cert_bytes};
	unsigned n = p->cfg.extra_cert_bytes ? 4 : 3;
	size_t off = (n + 1) * sizeof(struct snp_cert_entry); /* the entries and the terminator */
	size_t total = off;
	int rc = -1;

	for (unsigned i = 0; i < 3; i++) {
		len[i] = psp_cert_der(certs[i], &der[i]);
		if (!len[i]) {
			goto out;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		total += len[i];
	}
	p->cert_table = calloc(1, total);
	if (!p->cert_table) {
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		struct snp_cert_entry e;
		memcpy(e.guid, guids[i], 16);
		e.offset = (u32)off;
		e.length = (u32)len[i];
		memcpy(p->cert_table + i * sizeof(e), &e, sizeof(e));
		if (der[i]) {
			memcpy(p->cert_table + off, der[i], len[i]);
		} else {
			memset(p->cert_table + off, 0xC7, len[i]); /* a stand-in CRL blob */
		}
		off += len[i];
	}
	p->cert_table_len = total;
	rc = 0;
out:
	for (unsigned i = 0; i < 3; i++) {
		OPENSSL_free(der[i]);
	}
	return rc;
}

/* --- life cycle ------------------------------------------------------------------------------ */

struct psp *psp_create(const struct psp_config *cfg, char *err, size_t err_size)
{
	struct psp *p = calloc(1, sizeof(*p));
	size_t st_len = ALIGN_UP(sizeof(struct psp_state), PAGE_SIZE);

	if (!p) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	p->cfg = *cfg;
	p->st = mmap(NULL, st_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->st == MAP_FAILED) {
		free(p);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	int rc = cfg->keys_dir ? psp_keys_load(&p->keys, cfg->keys_dir, err, err_size)
			       : psp_keys_generate(&p->keys, cfg->keys_roots, &cfg->chip, err, err_size);
	if (rc != 0) {
		munmap(p->st, st_len);
		free(p);
		return NULL;
	}
	if (!cfg->no_certs && psp_build_cert_table(p) != 0) {
		snprintf(err, err_size, "cannot build the certificate table");
		psp_destroy(p);
		return NULL;
	}
	if (cfg->memo_signatures && !(p->memo = calloc(cfg->memo_signatures, sizeof(*p->memo)))) {
		snprintf(err, err_size, "out of memory");
		psp_destroy(p);
		return NULL;
	}
	for (unsigned i = 0; i < SNP_VMPCK_COUNT; i++) {
		psp_random(p, p->st->vmpck[i], SNP_VMPCK_SIZE);
	}
	psp_launch_init(&p->launch, cfg->keep_launch_log);
	return p;
}

void psp_destroy(struct psp *p)
{
	if (!p) {
		return;
	}
	psp_keys_free(&p->keys);
	psp_launch_free(&p->launch);
	free(p->cert_table);
	free(p->memo);
	OPENSSL_cleanse(p->st, sizeof(*p->st));
	munmap(p->st, ALIGN_UP(sizeof(struct psp_state), PAGE_SIZE));
	free(p);
}

void psp_default_pages(struct emu_config *cfg)
{
	u64 base = cfg->svsm_base >= 2 * PAGE_SIZE ? cfg->svsm_base - 2 * PAGE_SIZE : cfg->svsm_base + cfg->svsm_size;

	if (!cfg->secrets_gpa) {
		cfg->secrets_gpa = base;
	}
	if (!cfg->cpuid_gpa) {
		cfg->cpuid_gpa = base + PAGE_SIZE;
	}
}

void psp_attach(struct psp *p, struct emu_config *cfg)
{
	cfg->psp = &psp_machine_ops;
	cfg->psp_ctx = p;
	psp_default_pages(cfg);
}
