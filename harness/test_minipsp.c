/*
 * The test image's PSP model (emu/minipsp/, freestanding) in a process, against the hosted
 * model (emu/psp/, OpenSSL) and the verifier: the same launch gives the same MEASUREMENT
 * (the default machine and the test image's layout); a report is the hosted model's field
 * for field; attestations through the whole path (guest at VMPL1 -> SVSM -> this PSP)
 * verify under the committed test ARK, with the certificate table it hands out; guest
 * messages sealed with OpenSSL are served and its answers open with OpenSSL; replayed,
 * skipped, tampered, wrong-key and malformed messages are refused; the extended request's
 * "too small" answer; the launch's policy and CPUID checks.
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/x509.h>

#include <svsm/attest.h>
#include <svsm/crypto.h>
#include <svsm/ghcb.h>
#include <svsm/snp_guest.h>

#include "attest_test_service.h"
#include "guest_attest.h"
#include "minipsp/minipsp.h"
#include "psp/psp.h"
#include "psp/verify.h"
#include "test_common.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

struct mp {
	struct psp *host;          /* the hosted model with the committed test keys */
	struct minipsp_keys keys;  /* the same keys for the freestanding model */
	struct minipsp psp;
	struct emu_config cfg;
	struct hx *h;
};

static struct minipsp_config mp_config(struct mp *t)
{
	struct minipsp_config c = {.keys = &t->keys};

	for (unsigned i = 0; i < sizeof(c.seed); i++) {
		c.seed[i] = (u8)(0x40 + i);
	}
	return c;
}

/* The test image's machine layout (emu/nosnp/nosnp.c, nosnp_config_default). */
static void nosnp_layout(struct emu_config *cfg)
{
	cfg->mem_size = 32ull << 20;
	cfg->svsm_base = 2ull << 20;
	cfg->svsm_size = 4ull << 20;
	cfg->caa_gpa = 8ull << 20;
	cfg->legacy_hole = true;
}

static int mp_boot(void **state, bool image_layout)
{
	struct mp *t = calloc(1, sizeof(*t));
	struct psp_config pc = {.keys_dir = FIXTURES_DIR "/attestation/keys", .deterministic = true, .seed = 9};
	char err[256];

	*state = t;
	if (!t) {
		return -1;
	}
	t->host = psp_create(&pc, err, sizeof(err));
	if (!t->host || psp_minipsp_keys(t->host, &t->keys) != 0) {
		return -1;
	}
	struct minipsp_config mc = mp_config(t);
	minipsp_init(&t->psp, &mc);
	emu_config_default(&t->cfg);
	t->cfg.console = NULL;
	if (image_layout) {
		nosnp_layout(&t->cfg);
	}
	minipsp_attach(&t->psp, &t->cfg);
	t->h = hx_boot(&t->cfg);
	return t->h ? 0 : -1;
}

static int setup(void **state)
{
	return mp_boot(state, false);
}

static int setup_image_layout(void **state)
{
	return mp_boot(state, true);
}

static int teardown(void **state)
{
	struct mp *t = *state;

	if (t) {
		hx_shutdown(t->h);
		psp_destroy(t->host);
		free(t);
	}
	return 0;
}

/* --- the launch ------------------------------------------------------------------------------ */

struct measure {
	struct psp_launch l;
	u32 err;
};

static void measure_page(void *ctx, const struct emu_launch_page *p)
{
	struct measure *m = ctx;

	if (!m->err) {
		m->err = psp_launch_measure(&m->l, p);
	}
}

/* The hosted model's digest of @cfg's launch (what svsm-emu measure computes). */
static void hosted_measurement(const struct emu_config *cfg, u8 out[48])
{
	struct measure m;

	psp_launch_init(&m.l, false);
	m.err = psp_launch_start(&m.l, cfg->policy);
	emu_launch_plan(cfg, measure_page, &m);
	assert_int_equal(m.err, 0);
	assert_int_equal(psp_launch_finish(&m.l), 0);
	memcpy(out, m.l.ld, 48);
	psp_launch_free(&m.l);
}

/* Both models measure the same launch to the same digest (default machine and the image's). */
static void test_same_measurement(void **state)
{
	struct mp *t = *state;
	u8 want[48];

	assert_int_equal(t->psp.state, MINIPSP_RUNNING);
	hosted_measurement(&t->cfg, want);
	assert_memory_equal(t->psp.ld, want, 48);
	assert_int_equal(t->psp.pages, t->cfg.svsm_size / PAGE_SIZE + 4);
	/* The secrets page holds the VMPCKs, the SVSM took VMPCK0 from it. */
	assert_memory_equal(emu_mem(t->h->m, t->cfg.secrets_gpa) + SNP_SECRETS_VMPCK_OFFSET(1), t->psp.vmpck[1], 32);
}

/* A report is the hosted model's, field for field (but REPORT_ID and the signature), and verifies. */
static void test_report_matches_hosted(void **state)
{
	struct mp *t = *state;
	struct snp_attestation_report mine, theirs;
	u8 data[64], qx[48], qy[48], digest[48], r[48], s[48];

	for (unsigned i = 0; i < sizeof(data); i++) {
		data[i] = (u8)(3 * i);
	}
	assert_int_equal(minipsp_make_report(&t->psp, data, 2, &mine), 0);
	memcpy(t->host->measurement, t->psp.ld, 48);
	t->host->policy = t->psp.policy;
	assert_int_equal(psp_make_report(t->host, data, 2, &theirs), 0);
	memcpy(theirs.report_id, mine.report_id, sizeof(mine.report_id));
	assert_memory_equal(&mine, &theirs, SNP_REPORT_SIGNED_SIZE);
	/* The signature: little-endian r and s in 72-byte fields, zero above byte 48. */
	for (unsigned i = 0; i < 48; i++) {
		r[i] = mine.sig_r[47 - i];
		s[i] = mine.sig_s[47 - i];
	}
	for (unsigned i = 48; i < SNP_REPORT_SIG_COMPONENT_SIZE; i++) {
		assert_int_equal(mine.sig_r[i] | mine.sig_s[i], 0);
	}
	sha384(&mine, SNP_REPORT_SIGNED_SIZE, digest);
	assert_int_equal(minipsp_vcek_public(&t->psp, qx, qy), 0);
	assert_int_equal(p384_verify_digest(qx, qy, digest, r, s), 0);
}

static X509 *cert(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/attestation/keys/%s", FIXTURES_DIR, name);
	X509 *c = verify_load_cert(path);
	assert_non_null(c);
	return c;
}

/* One attestation through the guest, the SVSM and this PSP, checked like a relying party. */
static void attest_and_verify(struct mp *t, const u8 *service, bool certs)
{
	struct guest_attest_result res;
	u8 nonce[64];
	for (unsigned i = 0; i < sizeof(nonce); i++) {
		nonce[i] = (u8)(0xC0 ^ i);
	}
	struct guest_attest_req req = {.nonce = nonce, .service = service, .certs = certs};

	assert_int_equal(guest_attest(&t->h->g, &req, &res), 0);
	assert_oracle_clean(t->h);
	struct verify_input in = {
		.report = res.report,
		.report_len = res.report_len,
		.nonce = nonce,
		.nonce_len = sizeof(nonce),
		.manifest = res.manifest,
		.manifest_len = res.manifest_len,
		.check_measurement = true,
	};
	hosted_measurement(&t->cfg, in.measurement);
	if (certs) {
		/* The chain from the table the hypervisor returned, the ARK pinned to the committed one. */
		assert_true(res.certs_len > 0);
		assert_int_equal(verify_certs_from_table(res.certs, res.certs_len, &in.ark, &in.ask, &in.vcek), 0);
		X509 *pinned = cert("ark.pem");
		assert_int_equal(X509_cmp(pinned, in.ark), 0);
		X509_free(pinned);
	} else {
		in.ark = cert("ark.pem");
		in.ask = cert("ask.pem");
		in.vcek = cert("vcek.pem");
	}
	struct verify_result vr;
	if (verify_report(&in, &vr) != 0) {
		fail_msg("verify: %s: %s", verify_check_name(vr.failed), vr.detail);
	}
	X509_free(in.ark);
	X509_free(in.ask);
	X509_free(in.vcek);
	guest_attest_result_free(&res);
}

/* SERVICES with certificates, and without; SINGLE of the test service: all verify. */
static void test_attestation_verifies(void **state)
{
	struct mp *t = *state;
	static const u8 test_guid[16] = ATTEST_TEST_SERVICE_GUID;

	attest_and_verify(t, NULL, true);
	attest_and_verify(t, NULL, false);
	assert_int_equal(attest_test_service_register(t->h->m, NULL, 0), 0);
	attest_and_verify(t, test_guid, true);
	attest_and_verify(t, NULL, true);
	assert_int_equal(t->psp.reports, 4);
	assert_int_equal(t->psp.seqno[0], 8);
	assert_int_equal(t->psp.rejected, 0);
}

/* --- guest messages, sealed and opened by the hosted model (OpenSSL) ----------------------------- */

static void report_req(u8 *page, const u8 *key, u8 vmpck, u64 seqno, u8 type, u32 vmpl)
{
	struct snp_msg_report_req r;

	memset(&r, 0, sizeof(r));
	memset(r.report_data, 0x5D, sizeof(r.report_data));
	r.vmpl = vmpl;
	assert_int_equal(psp_msg_seal(key, vmpck, seqno, type, &r, sizeof(r), page), 0);
}

static void test_guest_messages(void **state)
{
	struct mp *t = *state;
	struct minipsp *p = &t->psp;
	static u8 req[SNP_MSG_PAGE_SIZE], resp[SNP_MSG_PAGE_SIZE], keep[SNP_MSG_PAGE_SIZE];
	struct snp_msg_report_rsp rsp;

	/* VMPCK2, sequence 1: served; the answer opens with the same key, SEQNO 2, type + 1. */
	report_req(req, p->vmpck[2], 2, 1, SNP_MSG_REPORT_REQ, 2);
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_SUCCESS);
	assert_int_equal(psp_msg_open(p->vmpck[2], resp, &rsp, sizeof(rsp)), sizeof(rsp));
	const struct snp_msg_hdr *h = (const void *)resp;
	assert_int_equal(h->msg_seqno, 2);
	assert_int_equal(h->msg_type, SNP_MSG_REPORT_RSP);
	assert_int_equal(h->msg_vmpck, 2);
	assert_int_equal(rsp.status, 0);
	assert_int_equal(rsp.report_size, SNP_REPORT_SIZE);
	assert_int_equal(rsp.report.vmpl, 2);
	/* A VMPL below the VMPCK's number: a valid answer with STATUS INVALID_PARAM. */
	report_req(req, p->vmpck[2], 2, 3, SNP_MSG_REPORT_REQ, 1);
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_SUCCESS);
	assert_int_equal(psp_msg_open(p->vmpck[2], resp, &rsp, sizeof(rsp)), sizeof(rsp));
	assert_int_equal(rsp.status, SNP_STATUS_INVALID_PARAM);
	assert_int_equal(rsp.report_size, 0);

	/* Refusals leave the answer page and the sequence alone. */
	memset(resp, 0xEE, sizeof(resp));
	memcpy(keep, resp, sizeof(resp));
	report_req(req, p->vmpck[2], 2, 5, SNP_MSG_REPORT_REQ, 2);
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_SUCCESS);
	memcpy(resp, keep, sizeof(resp));
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_INVALID_PARAM); /* replay */
	report_req(req, p->vmpck[2], 2, 9, SNP_MSG_REPORT_REQ, 2);
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_INVALID_PARAM); /* skip */
	report_req(req, p->vmpck[3], 2, 7, SNP_MSG_REPORT_REQ, 2);
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_BAD_SIGNATURE); /* another key */
	report_req(req, p->vmpck[2], 2, 7, SNP_MSG_REPORT_REQ, 2);
	req[SNP_MSG_HDR_SIZE + 3] ^= 1;
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_BAD_SIGNATURE); /* tampered */
	report_req(req, p->vmpck[2], 2, 7, SNP_MSG_REPORT_REQ, 2);
	req[0x31] = 2;
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_INVALID_PARAM); /* header version */
	report_req(req, p->vmpck[2], 2, 7, SNP_MSG_KEY_REQ, 2);
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_UNSUPPORTED); /* no derived keys here */
	assert_memory_equal(resp, keep, sizeof(resp));
	/* The sequence goes on where it was: 7 is next. */
	report_req(req, p->vmpck[2], 2, 7, SNP_MSG_REPORT_REQ, 2);
	assert_int_equal(minipsp_guest_request(p, req, resp), SNP_STATUS_SUCCESS);
	assert_int_equal(p->seqno[2], 8);
}

/* The extended request with fewer certificate pages than needed: RBX = pages, VMM INVALID_LEN. */
static void test_extended_request_too_small(void **state)
{
	struct mp *t = *state;
	static struct ghcb g;
	u64 pages = ALIGN_UP((u64)t->keys.cert_table_len, PAGE_SIZE) / PAGE_SIZE;
	u64 reqs = t->psp.requests;

	memset(&g, 0, sizeof(g));
	ghcb_set_sw_exit_info_1(&g, t->cfg.mem_size - 2 * PAGE_SIZE);
	ghcb_set_sw_exit_info_2(&g, t->cfg.mem_size - PAGE_SIZE);
	ghcb_set_rax(&g, 0);
	ghcb_set_rbx(&g, pages - 1);
	/* The two pages must be shared: hand them to the hypervisor as a guest would. */
	rmp_make_shared(&t->h->m->rmp, t->cfg.mem_size - 2 * PAGE_SIZE);
	rmp_make_shared(&t->h->m->rmp, t->cfg.mem_size - PAGE_SIZE);
	minipsp_ops.guest_request(&t->psp, t->h->m, NULL, &g, SVM_VMGEXIT_EXT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_rbx(&g), pages);
	assert_int_equal(ghcb_get_sw_exit_info_2(&g), (u64)SNP_GREQ_VMM_INVALID_LEN << SNP_GREQ_VMM_SHIFT);
	assert_int_equal(t->psp.requests, reqs); /* never forwarded */
	/* Missing inputs and private pages: GHCB errors. */
	memset(&g, 0, sizeof(g));
	minipsp_ops.guest_request(&t->psp, t->h->m, NULL, &g, SVM_VMGEXIT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_sw_exit_info_1(&g), GHCB_NAE_ERROR);
	assert_int_equal(ghcb_get_sw_exit_info_2(&g), GHCB_ERR_MISSING_INPUT);
	ghcb_set_sw_exit_info_1(&g, t->cfg.caa_gpa);
	ghcb_set_sw_exit_info_2(&g, t->cfg.mem_size - PAGE_SIZE);
	minipsp_ops.guest_request(&t->psp, t->h->m, NULL, &g, SVM_VMGEXIT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_sw_exit_info_2(&g), GHCB_ERR_INVALID_INPUT);
}

/* The launch: the policy rules and the CPUID page check, as the hosted model's. */
static void test_launch_checks(void **state)
{
	static const u64 policies[] = {0x30000, 0x10000, 0x20000, 0x4030000, 0x430000, 0x30138, 0x31000};
	struct minipsp p;
	struct mp *t = *state;
	struct minipsp_config mc = mp_config(t);

	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		minipsp_init(&p, &mc);
		u32 want = psp_policy_check(policies[i]) ? SNP_STATUS_POLICY_FAILURE : SNP_STATUS_SUCCESS;
		assert_int_equal(minipsp_ops.launch_start(&p, policies[i]), want);
	}
	/* A CPUID page with a wrong value: corrected in place, the command fails. */
	static u8 page[PAGE_SIZE];
	u32 count = 1, leaf = 0x8000001F;
	memset(page, 0, sizeof(page));
	memcpy(page, &count, 4);
	memcpy(page + 16, &leaf, 4);
	u32 wrong = emu_hv_cpuid(leaf, 1) ^ 1;
	memcpy(page + 16 + 24 + 4, &wrong, 4);
	minipsp_init(&p, &mc);
	assert_int_equal(minipsp_ops.launch_start(&p, 0x30000), 0);
	struct emu_launch_page lp = {.gpa = 0x10000, .type = EMU_PAGE_CPUID, .contents = page};
	assert_int_equal(minipsp_ops.launch_update(&p, &lp, page), SNP_STATUS_INVALID_PARAM);
	u32 fixed;
	memcpy(&fixed, page + 16 + 24 + 4, 4);
	assert_int_equal(fixed, emu_hv_cpuid(leaf, 1));
	/* Guest requests before SNP_LAUNCH_FINISH: INVALID_GUEST_STATE. */
	static u8 req[SNP_MSG_PAGE_SIZE], resp[SNP_MSG_PAGE_SIZE];
	report_req(req, p.vmpck[0], 0, 1, SNP_MSG_REPORT_REQ, 0);
	assert_int_equal(minipsp_guest_request(&p, req, resp), SNP_STATUS_INVALID_GUEST_STATE);
	assert_int_equal(minipsp_ops.launch_finish(&p), 0);
	assert_int_equal(minipsp_ops.launch_finish(&p), SNP_STATUS_INVALID_GUEST_STATE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_measurement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_measurement, setup_image_layout, teardown),
		cmocka_unit_test_setup_teardown(test_report_matches_hosted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attestation_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attestation_verifies, setup_image_layout, teardown),
		cmocka_unit_test_setup_teardown(test_guest_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extended_request_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_checks, setup, teardown),
	};

	return cmocka_run_group_tests_name("minipsp", tests, NULL, NULL);
}
