/*
 * The test image's PSP model (see minipsp.h): launch, guest messages, signed reports and
 * the hypervisor's side of the guest-request exits, freestanding. Where it answers, it
 * answers as the hosted model (emu/psp/psp.c, hv_greq.c) does; the choices the reference
 * leaves open are the same and are listed in docs/attestation.md.
 */
#include <svsm/crypto.h>
#include <svsm/ghcb.h>
#include <svsm/string.h>

#include "minipsp.h"
#include "psp_common.h"

/* The emulated firmware and platform: the hosted model's values (emu/psp/psp.h). */
#define MINIPSP_FW_MAJOR 1
#define MINIPSP_FW_MINOR 55
#define MINIPSP_FW_BUILD 21
#define MINIPSP_REPORT_VERSION 3
#define MINIPSP_CPUID_FAMILY 0x19
#define MINIPSP_CPUID_MODEL 0x11
#define MINIPSP_CPUID_STEPPING 0x01
#define MINIPSP_PLATFORM_INFO 0x1ull /* SMT enabled */
#define MINIPSP_SECRETS_VERSION 3u
#define MINIPSP_FMS 0x00A10F11u
/* SEV_RET_INVALID_PLATFORM_STATE: the firmware could not make its answer. */
#define MINIPSP_INVALID_PLATFORM_STATE 0x01u


/* --- randomness: everything secret derives from the seed --------------------------------------- */

static void minipsp_derive(const struct minipsp *p, const char *label, u8 *out, size_t len)
{
	struct sha512_ctx h;
	u8 d[SHA512_DIGEST_SIZE];

	sha512_init(&h);
	sha512_update(&h, p->cfg.seed, sizeof(p->cfg.seed));
	sha512_update(&h, label, strlen(label));
	sha512_final(&h, d);
	memcpy(out, d, len <= sizeof(d) ? len : sizeof(d));
	crypto_wipe(d, sizeof(d));
}

void minipsp_init(struct minipsp *p, const struct minipsp_config *cfg)
{
	static const char *const vmpck_labels[SNP_VMPCK_COUNT] = {"vmpck0", "vmpck1", "vmpck2", "vmpck3"};

	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	for (unsigned i = 0; i < SNP_VMPCK_COUNT; i++) {
		minipsp_derive(p, vmpck_labels[i], p->vmpck[i], SNP_VMPCK_SIZE);
	}
}

/* --- the launch ------------------------------------------------------------------------------ */

static u32 minipsp_launch_start(void *ctx, u64 policy)
{
	struct minipsp *p = ctx;

	if (p->state != MINIPSP_IDLE) {
		return SNP_STATUS_INVALID_GUEST_STATE;
	}
	if (psp_policy_problem(policy, MINIPSP_FW_MAJOR, MINIPSP_FW_MINOR, MINIPSP_PLATFORM_INFO)) {
		return SNP_STATUS_POLICY_FAILURE;
	}
	p->policy = policy;
	memset(p->ld, 0, sizeof(p->ld));
	p->state = MINIPSP_LAUNCHING;
	return SNP_STATUS_SUCCESS;
}

static void minipsp_write_secrets(const struct minipsp *p, u8 *page)
{
	u32 version = MINIPSP_SECRETS_VERSION, fms = MINIPSP_FMS;

	memset(page, 0, PAGE_SIZE);
	memcpy(page + SNP_SECRETS_VERSION_OFFSET, &version, 4);
	memcpy(page + SNP_SECRETS_FMS_OFFSET, &fms, 4);
	for (unsigned i = 0; i < SNP_VMPCK_COUNT; i++) {
		memcpy(page + SNP_SECRETS_VMPCK_OFFSET(i), p->vmpck[i], SNP_VMPCK_SIZE);
	}
}

static u32 minipsp_launch_update(void *ctx, const struct emu_launch_page *lp, u8 *page)
{
	struct minipsp *p = ctx;
	struct psp_page_info info;
	const u8 *contents = lp->contents;

	if (!page && lp->type != EMU_PAGE_VMSA) {
		return SNP_STATUS_INVALID_ADDRESS;
	}
	if (p->state != MINIPSP_LAUNCHING) {
		return SNP_STATUS_INVALID_GUEST_STATE;
	}
	if (lp->type < EMU_PAGE_NORMAL || lp->type > EMU_PAGE_CPUID || !IS_ALIGNED(lp->gpa, PAGE_SIZE) ||
	    lp->gpa >= (1ull << 52)) {
		return SNP_STATUS_INVALID_PARAM;
	}
	/* What is measured is what the page holds (NORMAL), not what the loader meant. */
	if (page && lp->type == EMU_PAGE_NORMAL) {
		contents = page;
	}
	memset(&info, 0, sizeof(info));
	memcpy(info.digest_cur, p->ld, sizeof(p->ld));
	if (lp->type == EMU_PAGE_NORMAL || lp->type == EMU_PAGE_VMSA) {
		if (!contents) {
			return SNP_STATUS_INVALID_PARAM;
		}
		sha384(contents, PAGE_SIZE, info.contents);
	}
	info.length = sizeof(info);
	info.page_type = lp->type;
	info.vmpl1_perms = lp->perms[0];
	info.vmpl2_perms = lp->perms[1];
	info.vmpl3_perms = lp->perms[2];
	info.gpa = lp->gpa;
	sha384(&info, sizeof(info), p->ld);
	p->pages++;
	switch (lp->type) {
	case EMU_PAGE_ZERO:
		memset(page, 0, PAGE_SIZE);
		break;
	case EMU_PAGE_SECRETS:
		minipsp_write_secrets(p, page);
		break;
	case EMU_PAGE_CPUID:
		return psp_cpuid_check(page);
	default:
		break;
	}
	return SNP_STATUS_SUCCESS;
}

static u32 minipsp_launch_finish(void *ctx)
{
	struct minipsp *p = ctx;

	if (p->state != MINIPSP_LAUNCHING) {
		return SNP_STATUS_INVALID_GUEST_STATE;
	}
	p->state = MINIPSP_RUNNING;
	minipsp_derive(p, "report_id", p->report_id, sizeof(p->report_id));
	return SNP_STATUS_SUCCESS;
}

/* --- reports ----------------------------------------------------------------------------------- */

static u64 minipsp_tcb(const struct minipsp_keys *k)
{
	return (u64)k->bl_spl | (u64)k->tee_spl << 8 | (u64)k->snp_spl << 48 | (u64)k->ucode_spl << 56;
}

int minipsp_vcek_public(const struct minipsp *p, u8 qx[P384_BYTES], u8 qy[P384_BYTES])
{
	return p384_public_key(p->cfg.keys->vcek_d, qx, qy);
}

int minipsp_make_report(struct minipsp *p, const u8 report_data[SNP_REPORT_DATA_SIZE], u32 vmpl,
			struct snp_attestation_report *out)
{
	const struct minipsp_keys *k = p->cfg.keys;
	u64 tcb = minipsp_tcb(k);
	u8 digest[SHA384_DIGEST_SIZE], r[P384_BYTES], s[P384_BYTES];

	memset(out, 0, sizeof(*out));
	out->version = MINIPSP_REPORT_VERSION;
	out->policy = p->policy;
	out->vmpl = vmpl;
	out->signature_algo = SNP_REPORT_SIG_ALGO_ECDSA_P384_SHA384;
	out->current_tcb = tcb;
	out->platform_info = MINIPSP_PLATFORM_INFO;
	out->key_info = SNP_SIGNING_KEY_VCEK << 2;
	memcpy(out->report_data, report_data, SNP_REPORT_DATA_SIZE);
	memcpy(out->measurement, p->ld, SNP_MEASUREMENT_SIZE);
	memcpy(out->host_data, p->cfg.host_data, SNP_HOST_DATA_SIZE);
	memcpy(out->report_id, p->report_id, sizeof(out->report_id));
	/* No migration agent: REPORT_ID_MA reads all ones (the hosted model's choice). */
	memset(out->report_id_ma, 0xFF, sizeof(out->report_id_ma));
	out->reported_tcb = tcb;
	out->cpuid_fam_id = MINIPSP_CPUID_FAMILY;
	out->cpuid_mod_id = MINIPSP_CPUID_MODEL;
	out->cpuid_step = MINIPSP_CPUID_STEPPING;
	memcpy(out->chip_id, k->chip_id, SNP_CHIP_ID_SIZE);
	out->committed_tcb = tcb;
	out->current_build = MINIPSP_FW_BUILD;
	out->current_minor = MINIPSP_FW_MINOR;
	out->current_major = MINIPSP_FW_MAJOR;
	out->committed_build = MINIPSP_FW_BUILD;
	out->committed_minor = MINIPSP_FW_MINOR;
	out->committed_major = MINIPSP_FW_MAJOR;
	out->launch_tcb = tcb;
	/* ECDSA P-384 over bytes 0x000-0x29F; r and s little-endian in their 72-byte fields. */
	sha384(out, SNP_REPORT_SIGNED_SIZE, digest);
	if (p384_sign_digest(k->vcek_d, digest, r, s) != 0) {
		return -1;
	}
	for (unsigned i = 0; i < P384_BYTES; i++) {
		out->sig_r[i] = r[P384_BYTES - 1 - i];
		out->sig_s[i] = s[P384_BYTES - 1 - i];
	}
	return 0;
}

/* --- guest messages ------------------------------------------------------------------------------ */

static void minipsp_iv(u8 iv[GCM_IV_SIZE], u64 seqno)
{
	memset(iv, 0, GCM_IV_SIZE);
	memcpy(iv, &seqno, sizeof(seqno));
}

/* MSG_REPORT_REQ: payload checks answered in STATUS (Linux's UAPI layout, KEY_SEL at 0x44). */
static void minipsp_serve_report(struct minipsp *p, u8 vmpck, const u8 *payload, struct snp_msg_report_rsp *rsp)
{
	struct snp_msg_report_req req;

	memcpy(&req, payload, sizeof(req));
	memset(rsp, 0, sizeof(*rsp));
	if (req.vmpl < vmpck || req.vmpl > 3 || (req.key_sel & ~3u) || req.key_sel == 3 ||
	    !psp_bytes_zero(req.rsvd, sizeof(req.rsvd))) {
		rsp->status = SNP_STATUS_INVALID_PARAM;
		return;
	}
	if (req.key_sel == 2) {
		/* No VLEK is installed on the emulated platform. */
		rsp->status = SNP_STATUS_INVALID_KEY;
		return;
	}
	if (minipsp_make_report(p, req.report_data, req.vmpl, &rsp->report) != 0) {
		memset(&rsp->report, 0, sizeof(rsp->report));
		rsp->status = MINIPSP_INVALID_PLATFORM_STATE;
		return;
	}
	rsp->status = SNP_STATUS_SUCCESS;
	rsp->report_size = SNP_REPORT_SIZE;
	p->reports++;
}

static u32 minipsp_reject(struct minipsp *p, u32 err)
{
	p->rejected++;
	p->last_fw_error = err;
	return err;
}

u32 minipsp_guest_request(struct minipsp *p, const u8 *req, u8 *resp)
{
	struct snp_msg_hdr h;
	struct aes256_gcm gcm;
	u8 iv[GCM_IV_SIZE];
	u16 out_len;

	p->requests++;
	if (p->state != MINIPSP_RUNNING) {
		return minipsp_reject(p, SNP_STATUS_INVALID_GUEST_STATE);
	}
	memcpy(&h, req, sizeof(h));
	if (!psp_msg_hdr_valid(&h)) {
		return minipsp_reject(p, SNP_STATUS_INVALID_PARAM);
	}
	/* Exactly the next sequence number of this VMPCK: replays and skips are refused. */
	if (h.msg_seqno != p->seqno[h.msg_vmpck] + 1) {
		return minipsp_reject(p, SNP_STATUS_INVALID_PARAM);
	}
	minipsp_iv(iv, h.msg_seqno);
	aes256_gcm_init(&gcm, p->vmpck[h.msg_vmpck]);
	if (aes256_gcm_open(&gcm, iv, req + SNP_MSG_AAD_OFFSET, SNP_MSG_AAD_SIZE, req + SNP_MSG_HDR_SIZE, h.msg_size,
			    p->payload, h.authtag) != 0) {
		crypto_wipe(&gcm, sizeof(gcm));
		return minipsp_reject(p, SNP_STATUS_BAD_SIGNATURE);
	}
	switch (h.msg_type) {
	case SNP_MSG_REPORT_REQ:
		if (h.msg_size != sizeof(struct snp_msg_report_req)) {
			crypto_wipe(&gcm, sizeof(gcm));
			return minipsp_reject(p, SNP_STATUS_INVALID_LEN);
		}
		minipsp_serve_report(p, h.msg_vmpck, p->payload, (struct snp_msg_report_rsp *)p->out);
		out_len = sizeof(struct snp_msg_report_rsp);
		break;
	default:
		/* MSG_KEY_REQ included: the test image's model derives no keys. */
		crypto_wipe(&gcm, sizeof(gcm));
		return minipsp_reject(p, SNP_STATUS_UNSUPPORTED);
	}
	crypto_wipe(p->payload, sizeof(p->payload));
	/* The answer: same VMPCK, SEQNO + 1, type + 1, encrypted and tagged. */
	struct snp_msg_hdr a;
	memset(resp, 0, SNP_MSG_PAGE_SIZE);
	memset(&a, 0, sizeof(a));
	a.msg_seqno = h.msg_seqno + 1;
	a.algo = SNP_MSG_ALGO_AES_256_GCM;
	a.hdr_version = SNP_MSG_HDR_VERSION;
	a.hdr_size = SNP_MSG_HDR_SIZE;
	a.msg_type = (u8)(h.msg_type + 1);
	a.msg_version = 1;
	a.msg_size = out_len;
	a.msg_vmpck = h.msg_vmpck;
	memcpy(resp, &a, sizeof(a));
	minipsp_iv(iv, a.msg_seqno);
	aes256_gcm_seal(&gcm, iv, resp + SNP_MSG_AAD_OFFSET, SNP_MSG_AAD_SIZE, p->out, out_len, resp + SNP_MSG_HDR_SIZE,
			resp);
	crypto_wipe(&gcm, sizeof(gcm));
	crypto_wipe(p->out, sizeof(p->out));
	p->seqno[h.msg_vmpck] = h.msg_seqno + 1;
	return SNP_STATUS_SUCCESS;
}

/* --- the hypervisor's side of exits 0x8000_0011/12 (as emu/psp/hv_greq.c) ------------------------- */

static void minipsp_hv_guest_request(void *ctx, struct emu_machine *m, struct emu_vcpu *v, struct ghcb *g,
				     u64 exit_code)
{
	struct minipsp *p = ctx;
	const struct minipsp_keys *k = p->cfg.keys;
	bool ext = exit_code == SVM_VMGEXIT_EXT_GUEST_REQUEST;

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
		u64 needed = k->cert_table_len ? ALIGN_UP((u64)k->cert_table_len, PAGE_SIZE) / PAGE_SIZE : 1;
		if (offered < needed) {
			/* Not forwarded: the firmware never sees this message. */
			ghcb_set_rbx(g, needed);
			ghcb_set_sw_exit_info_2(g, (u64)SNP_GREQ_VMM_INVALID_LEN << SNP_GREQ_VMM_SHIFT);
			return;
		}
		if (!psp_hv_pages_shared(m, certs_gpa, needed)) {
			psp_hv_nae_error(g, GHCB_ERR_INVALID_INPUT);
			return;
		}
		cert_pages = needed;
	}
	/* The firmware works on a private copy; the guest's shared page may change meanwhile. */
	memcpy(p->req, emu_mem(m, req_gpa), sizeof(p->req));
	u32 fw = minipsp_guest_request(p, p->req, p->resp);
	if (fw == SNP_STATUS_SUCCESS) {
		if (ext) {
			u64 len = cert_pages * PAGE_SIZE;
			emu_mem_will_write(m, certs_gpa, len);
			memset(emu_mem(m, certs_gpa), 0, len);
			if (k->cert_table_len) {
				memcpy(emu_mem(m, certs_gpa), k->cert_table, k->cert_table_len);
			}
		}
		psp_hv_write(m, resp_gpa, p->resp, SNP_MSG_PAGE_SIZE);
	}
	ghcb_set_sw_exit_info_2(g, fw);
}

const struct emu_psp_ops minipsp_ops = {
	.launch_start = minipsp_launch_start,
	.launch_update = minipsp_launch_update,
	.launch_finish = minipsp_launch_finish,
	.guest_request = minipsp_hv_guest_request,
};

void minipsp_attach(struct minipsp *p, struct emu_config *cfg)
{
	u64 base = cfg->svsm_base >= 2 * PAGE_SIZE ? cfg->svsm_base - 2 * PAGE_SIZE : cfg->svsm_base + cfg->svsm_size;

	cfg->psp = &minipsp_ops;
	cfg->psp_ctx = p;
	if (!cfg->secrets_gpa) {
		cfg->secrets_gpa = base;
	}
	if (!cfg->cpuid_gpa) {
		cfg->cpuid_gpa = base + PAGE_SIZE;
	}
}
