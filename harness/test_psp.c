/*
 * The emulated PSP: the launch digest (the reference's known answers, what changes it and
 * what does not, measure = report), the guest policy, the secrets and CPUID pages, the
 * firmware's checks of guest messages (header, replayed, skipped, tampered, wrong VMPCK),
 * MSG_REPORT_REQ's payload rules, the report at every offset, and the hypervisor's side of
 * the guest-request exits (inputs, shared pages, the certificate buffer's size).
 */
#include <linux/psp-sev.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <svsm/ghcb.h>
#include <svsm/snp_guest.h>

#include "lib/hxa.h"
#include "psp/verify.h"
#include "test_common.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

static void unhex(const char *s, u8 *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (u8)v;
	}
}

static void sha384_of(const void *p, size_t n, u8 out[48])
{
	unsigned int len;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha384(), NULL), 1);
}

/* --- the launch digest ------------------------------------------------------------------------ */

/* shared/spec/snp-svsm-reference.md section 4.6, "Known answers". */
static void test_launch_known_answers(void **state)
{
	static u8 a[PAGE_SIZE], b[PAGE_SIZE], vmsa[PAGE_SIZE];
	struct psp_launch l;
	u8 want1[48], want2[48], h[48];

	for (unsigned i = 0; i < PAGE_SIZE; i++) {
		a[i] = (u8)i;
		b[i] = 0x5A;
	}
	sha384_of(a, PAGE_SIZE, h);
	assert_int_equal(h[0], 0x16);
	assert_int_equal(h[1], 0x6f);
	unhex("2442d6f2b097e133fe7b8ec757a595e8c830056a82a1c39338c681ef2c206cf5ecd23165d18851438ab30941cbde4003", want1, 48);
	unhex("fd3005f954ac083b6d69c6f919a0d3550de26f7bc328051dcb36c279b820808ab34f0bbc0f600b3c11f8f921554e7c6c", want2, 48);
	psp_launch_init(&l, true);
	assert_int_equal(psp_launch_start(&l, EMU_DEFAULT_POLICY), 0);
	struct emu_launch_page pages[] = {
		{.gpa = 0x1000, .type = EMU_PAGE_NORMAL, .contents = a},
		{.gpa = 0x2000, .type = EMU_PAGE_NORMAL, .contents = b},
		{.gpa = 0x3000, .type = EMU_PAGE_ZERO},
		{.gpa = 0x4000, .type = EMU_PAGE_SECRETS},
		{.gpa = 0x5000, .type = EMU_PAGE_CPUID},
		{.gpa = 0x6000, .type = EMU_PAGE_UNMEASURED},
		{.gpa = EMU_LAUNCH_VMSA_GPA, .type = EMU_PAGE_VMSA, .contents = vmsa},
	};
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(psp_launch_measure(&l, &pages[i]), 0);
	}
	assert_memory_equal(l.ld, want1, 48);
	for (unsigned i = 3; i < ARRAY_COUNT(pages); i++) {
		assert_int_equal(psp_launch_measure(&l, &pages[i]), 0);
	}
	assert_memory_equal(l.ld, want2, 48);
	assert_int_equal(psp_launch_finish(&l), 0);
	assert_int_equal(l.log_len, 7);
	psp_launch_free(&l);
}

/* The digest of @n pages. */
static void digest_of(const struct emu_launch_page *pages, unsigned n, u8 out[48])
{
	struct psp_launch l;

	psp_launch_init(&l, false);
	assert_int_equal(psp_launch_start(&l, EMU_DEFAULT_POLICY), 0);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(psp_launch_measure(&l, &pages[i]), 0);
	}
	memcpy(out, l.ld, 48);
	psp_launch_free(&l);
}

/* Every part of what is loaded changes the digest: contents, GPA, type, permissions, order, count. */
static void test_launch_digest_binds_everything(void **state)
{
	static u8 c1[PAGE_SIZE], c2[PAGE_SIZE];
	u8 base[48], d[48];
	struct emu_launch_page p[3] = {
		{.gpa = 0x10000, .type = EMU_PAGE_NORMAL, .contents = c1},
		{.gpa = 0x11000, .type = EMU_PAGE_ZERO},
		{.gpa = 0x12000, .type = EMU_PAGE_ZERO, .perms = {3, 0, 0}},
	};

	memset(c1, 1, sizeof(c1));
	memcpy(c2, c1, sizeof(c2));
	c2[PAGE_SIZE - 1] ^= 1;
	digest_of(p, 3, base);
	digest_of(p, 3, d);
	assert_memory_equal(base, d, 48);

	struct emu_launch_page q[3];
	memcpy(q, p, sizeof(q));
	q[0].contents = c2;
	digest_of(q, 3, d);
	assert_memory_not_equal(base, d, 48);
	memcpy(q, p, sizeof(q));
	q[1].gpa += PAGE_SIZE * 16;
	digest_of(q, 3, d);
	assert_memory_not_equal(base, d, 48);
	memcpy(q, p, sizeof(q));
	q[1].type = EMU_PAGE_UNMEASURED;
	digest_of(q, 3, d);
	assert_memory_not_equal(base, d, 48);
	memcpy(q, p, sizeof(q));
	q[2].perms[0] = 1;
	digest_of(q, 3, d);
	assert_memory_not_equal(base, d, 48);
	memcpy(q, p, sizeof(q));
	q[1] = p[2];
	q[2] = p[1];
	digest_of(q, 3, d);
	assert_memory_not_equal(base, d, 48);
	digest_of(p, 2, d);
	assert_memory_not_equal(base, d, 48);
	/* The contents of ZERO, SECRETS and CPUID pages are not measured: only GPA and type. */
	memcpy(q, p, sizeof(q));
	q[1].contents = c2;
	digest_of(q, 3, d);
	assert_memory_equal(base, d, 48);
	/* Bad input. */
	struct psp_launch l;
	psp_launch_init(&l, false);
	struct emu_launch_page bad = {.gpa = 0x1000, .type = EMU_PAGE_NORMAL};
	assert_int_equal(psp_launch_measure(&l, &bad), SEV_RET_INVALID_GUEST_STATE);
	assert_int_equal(psp_launch_start(&l, EMU_DEFAULT_POLICY), 0);
	assert_int_equal(psp_launch_start(&l, EMU_DEFAULT_POLICY), SEV_RET_INVALID_GUEST_STATE);
	assert_int_equal(psp_launch_measure(&l, &bad), SEV_RET_INVALID_PARAM);
	bad = (struct emu_launch_page){.gpa = 0x1001, .type = EMU_PAGE_ZERO};
	assert_int_equal(psp_launch_measure(&l, &bad), SEV_RET_INVALID_PARAM);
	bad = (struct emu_launch_page){.gpa = 0x1000, .type = 7};
	assert_int_equal(psp_launch_measure(&l, &bad), SEV_RET_INVALID_PARAM);
	bad.type = 0;
	assert_int_equal(psp_launch_measure(&l, &bad), SEV_RET_INVALID_PARAM);
	assert_int_equal(psp_launch_finish(&l), 0);
	assert_int_equal(psp_launch_finish(&l), SEV_RET_INVALID_GUEST_STATE);
	psp_launch_free(&l);
}

struct plan_digest {
	struct psp_launch l;
};

static void plan_page(void *ctx, const struct emu_launch_page *p)
{
	struct plan_digest *pd = ctx;

	assert_int_equal(psp_launch_measure(&pd->l, p), 0);
}

/* The machine's launch without running it (what svsm-emu measure computes). */
static void plan_measurement(const struct emu_config *cfg, u8 out[48])
{
	struct plan_digest pd;

	psp_launch_init(&pd.l, false);
	assert_int_equal(psp_launch_start(&pd.l, cfg->policy), 0);
	emu_launch_plan(cfg, plan_page, &pd);
	memcpy(out, pd.l.ld, 48);
	psp_launch_free(&pd.l);
}

/* Boot a machine with a PSP and @cfg's changes; its PSP's measurement and an SVSM report's. */
static void machine_measurement(struct emu_config *cfg, u8 psp_m[48], u8 report_m[48], u8 plan_m[48])
{
	char err[256];
	struct psp_config pc = {.keys_dir = FIXTURES_DIR "/attestation/keys", .deterministic = true, .seed = 3};
	struct psp *p = psp_create(&pc, err, sizeof(err));

	assert_non_null(p);
	psp_attach(p, cfg);
	plan_measurement(cfg, plan_m);
	struct hx *h = hx_boot(cfg);
	assert_non_null(h);
	memcpy(psp_m, p->measurement, 48);
	u8 nonce[64] = {1};
	struct guest_attest_req req = {.nonce = nonce};
	struct guest_attest_result res;
	assert_int_equal(guest_attest(&h->g, &req, &res), 0);
	memcpy(report_m, ((const struct snp_attestation_report *)res.report)->measurement, 48);
	guest_attest_result_free(&res);
	hx_shutdown(h);
	psp_destroy(p);
}

/*
 * MEASUREMENT changes exactly when what was loaded changes: the same machine twice gives
 * the same value; another memory size (the SVSM's parameter page), SVSM region or calling
 * area another; the policy and HOST_DATA are not loaded and change nothing. And the plan
 * (svsm-emu measure), the PSP and the report agree every time.
 */
static void test_measurement_tracks_launch(void **state)
{
	struct emu_config cfg;
	u8 base[48], m_psp[48], m_rep[48], m_plan[48];

	emu_config_default(&cfg);
	cfg.console = NULL;
	machine_measurement(&cfg, base, m_rep, m_plan);
	assert_memory_equal(base, m_rep, 48);
	assert_memory_equal(base, m_plan, 48);

	struct emu_config same = cfg;
	same.psp = NULL;
	same.secrets_gpa = same.cpuid_gpa = 0;
	machine_measurement(&same, m_psp, m_rep, m_plan);
	assert_memory_equal(base, m_psp, 48);

	struct emu_config variants[4];
	for (unsigned i = 0; i < 4; i++) {
		variants[i] = same;
	}
	variants[0].mem_size = 512ull << 20;
	variants[1].svsm_size = 8ull << 20;
	variants[2].caa_gpa += PAGE_SIZE;
	variants[3].policy = EMU_DEFAULT_POLICY | BIT(19); /* debug allowed: not loaded, not measured */
	for (unsigned i = 0; i < 4; i++) {
		machine_measurement(&variants[i], m_psp, m_rep, m_plan);
		assert_memory_equal(m_psp, m_rep, 48);
		assert_memory_equal(m_psp, m_plan, 48);
		if (i < 3) {
			assert_memory_not_equal(base, m_psp, 48);
		} else {
			assert_memory_equal(base, m_psp, 48);
		}
	}
}

/* The machine's launch, page by page, as docs/attestation.md lists it. */
struct plan_log {
	struct emu_launch_page p[8192];
	u8 first[PAGE_SIZE], vmsa[PAGE_SIZE];
	unsigned n;
};

static void plan_record(void *ctx, const struct emu_launch_page *p)
{
	struct plan_log *l = ctx;

	assert_true(l->n < ARRAY_COUNT(l->p));
	if (l->n == 0) {
		memcpy(l->first, p->contents, PAGE_SIZE);
	}
	if (p->type == EMU_PAGE_VMSA) {
		memcpy(l->vmsa, p->contents, PAGE_SIZE);
	}
	l->p[l->n++] = *p;
}

static void test_launch_plan(void **state)
{
	static struct plan_log l;
	struct emu_config cfg;

	emu_config_default(&cfg);
	psp_default_pages(&cfg);
	l.n = 0;
	emu_launch_plan(&cfg, plan_record, &l);
	u64 region = cfg.svsm_size / PAGE_SIZE;
	assert_int_equal(l.n, region + 4);
	assert_int_equal(l.p[0].gpa, cfg.svsm_base);
	assert_int_equal(l.p[0].type, EMU_PAGE_NORMAL);
	assert_memory_equal(l.first, "svsm-emu params", 16);
	for (u64 i = 1; i < region; i++) {
		assert_int_equal(l.p[i].type, EMU_PAGE_ZERO);
		assert_int_equal(l.p[i].gpa, cfg.svsm_base + i * PAGE_SIZE);
	}
	assert_int_equal(cfg.secrets_gpa, cfg.svsm_base - 2 * PAGE_SIZE);
	assert_int_equal(cfg.cpuid_gpa, cfg.svsm_base - PAGE_SIZE);
	assert_int_equal(l.p[region].type, EMU_PAGE_SECRETS);
	assert_int_equal(l.p[region].gpa, cfg.secrets_gpa);
	assert_int_equal(l.p[region + 1].type, EMU_PAGE_CPUID);
	assert_int_equal(l.p[region + 1].gpa, cfg.cpuid_gpa);
	assert_int_equal(l.p[region + 2].type, EMU_PAGE_ZERO);
	assert_int_equal(l.p[region + 2].gpa, cfg.caa_gpa);
	assert_int_equal(l.p[region + 2].perms[0], VMPL_PERM_READ | VMPL_PERM_WRITE);
	assert_int_equal(l.p[region + 3].type, EMU_PAGE_VMSA);
	assert_int_equal(l.p[region + 3].gpa, EMU_LAUNCH_VMSA_GPA);
	for (unsigned i = 0; i < l.n; i++) {
		if (i != region + 2) {
			assert_int_equal(l.p[i].perms[0] | l.p[i].perms[1] | l.p[i].perms[2], 0);
		}
	}
	u64 efer, rip, cr0, features;
	memcpy(&efer, l.vmsa + 0xD0, 8);
	memcpy(&rip, l.vmsa + 0x178, 8);
	memcpy(&cr0, l.vmsa + 0x158, 8);
	memcpy(&features, l.vmsa + 0x3B0, 8);
	assert_int_equal(l.vmsa[0xCA], 0);
	assert_int_equal(efer, 0x1000);
	assert_int_equal(rip, cfg.svsm_base);
	assert_int_equal(cr0, 0x11);
	assert_int_equal(features, 1);
}

/* The guest policy: bit 17 set, 63:26 clear, ABI not newer than the firmware's, SMT allowed. */
static void test_policy(void **state)
{
	assert_null(psp_policy_check(EMU_DEFAULT_POLICY));
	assert_null(psp_policy_check(EMU_DEFAULT_POLICY | BIT(18) | BIT(19) | BIT(20)));
	assert_null(psp_policy_check(EMU_DEFAULT_POLICY | (PSP_FW_MAJOR << 8) | PSP_FW_MINOR));
	assert_non_null(psp_policy_check(0x10000));
	assert_non_null(psp_policy_check(EMU_DEFAULT_POLICY | BIT(26)));
	assert_non_null(psp_policy_check(EMU_DEFAULT_POLICY | BIT(63)));
	assert_non_null(psp_policy_check(EMU_DEFAULT_POLICY | ((PSP_FW_MAJOR + 1) << 8)));
	assert_non_null(psp_policy_check(EMU_DEFAULT_POLICY | (PSP_FW_MAJOR << 8) | (PSP_FW_MINOR + 1)));
	assert_non_null(psp_policy_check(0x20000));
	assert_non_null(psp_policy_check(EMU_DEFAULT_POLICY | BIT(22)));

	/* A refused policy stops the launch: the machine does not boot. */
	char err[256];
	struct psp_config pc = {.keys_dir = FIXTURES_DIR "/attestation/keys"};
	struct psp *p = psp_create(&pc, err, sizeof(err));
	struct emu_config cfg;
	assert_non_null(p);
	emu_config_default(&cfg);
	cfg.console = NULL;
	cfg.policy = 0x10000;
	psp_attach(p, &cfg);
	assert_null(emu_machine_create(&cfg, err, sizeof(err)));
	if (!strstr(err, "launch failed (firmware error 0x7)")) {
		fail_msg("unexpected error: %s", err);
	}
	psp_destroy(p);
}

/* --- a booted machine with the PSP -------------------------------------------------------------- */

static int setup(void **state)
{
	struct hxa_opts o = {.fixtures = FIXTURES_DIR};

	*state = hxa_boot(&o);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	hxa_shutdown(*state);
	return 0;
}

/* The secrets page (section 4.5) at its GPA, SVSM-owned and VMPL0-only; the CPUID page checked. */
static void test_secrets_and_cpuid_pages(void **state)
{
	struct hxa *a = *state;
	struct emu_machine *m = a->h->m;
	const u8 *s = emu_mem(m, m->cfg.secrets_gpa);
	u32 version;

	u32 fms;
	memcpy(&version, s + SNP_SECRETS_VERSION_OFFSET, 4);
	memcpy(&fms, s + SNP_SECRETS_FMS_OFFSET, 4);
	assert_int_equal(version, 3);
	assert_int_equal(fms, 0x00A10F11);
	for (unsigned i = 0; i < SNP_VMPCK_COUNT; i++) {
		assert_memory_equal(s + SNP_SECRETS_VMPCK_OFFSET(i), a->p->st->vmpck[i], SNP_VMPCK_SIZE);
	}
	assert_memory_not_equal(a->p->st->vmpck[0], a->p->st->vmpck[1], SNP_VMPCK_SIZE);
	for (unsigned i = 0; i < 2; i++) {
		u64 gpa = i ? m->cfg.cpuid_gpa : m->cfg.secrets_gpa;
		const struct rmp_entry *e = hx_rmp(a->h, gpa);
		assert_true(e->assigned && e->validated);
		assert_int_equal(e->perms[1] | e->perms[2] | e->perms[3], 0);
		u8 b;
		assert_int_not_equal(guest_read(&a->h->g, gpa, &b, 1), 0);
	}
	/* The guest cannot hand the secrets page to the SVSM either (it is the SVSM's). */
	u64 list = guest_vcpu(&a->h->g, 0)->caa_gpa + 0x100;
	u64 entry = hx_pval_entry(m->cfg.secrets_gpa, false, false, false);
	assert_int_equal(hx_write_list(a->h, list, &entry, 1, 0), 0);
	assert_int_equal(CORE(a->h, SVSM_CORE_PVALIDATE, list, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);

	/* A CPUID table the platform does not agree with: corrected in place, the command fails. */
	char err[256];
	struct psp_config pc = {.keys_dir = FIXTURES_DIR "/attestation/keys"};
	struct psp *p = psp_create(&pc, err, sizeof(err));
	static u8 page[PAGE_SIZE];
	assert_non_null(p);
	assert_int_equal(psp_machine_ops.launch_start(p, EMU_DEFAULT_POLICY), 0);
	memcpy(page, emu_mem(m, m->cfg.cpuid_gpa), PAGE_SIZE);
	u32 good_ebx;
	memcpy(&good_ebx, page + 16 + 48 + 28, 4); /* entry 1 (0x8000001F), EBX */
	page[16 + 48 + 28] ^= 0x3F;                /* another C-bit position */
	struct emu_launch_page lp = {.gpa = 0x5000, .type = EMU_PAGE_CPUID};
	assert_int_equal(psp_machine_ops.launch_update(p, &lp, page), SEV_RET_INVALID_PARAM);
	u32 fixed;
	memcpy(&fixed, page + 16 + 48 + 28, 4);
	assert_int_equal(fixed, good_ebx);
	assert_int_equal(psp_machine_ops.launch_update(p, &lp, page), 0);
	u32 count = 65;
	memcpy(page, &count, 4);
	assert_int_equal(psp_machine_ops.launch_update(p, &lp, page), SEV_RET_INVALID_PARAM);
	/* A ZERO page becomes zero, whatever it held. */
	memset(page, 0x5A, PAGE_SIZE);
	struct emu_launch_page zp = {.gpa = 0x6000, .type = EMU_PAGE_ZERO};
	assert_int_equal(psp_machine_ops.launch_update(p, &zp, page), 0);
	for (unsigned i = 0; i < PAGE_SIZE; i++) {
		assert_int_equal(page[i], 0);
	}
	psp_destroy(p);
}

/* A guest at VMPL1 talking to the PSP with VMPCK1, as Linux's sev-guest does. */
struct vmpl1 {
	struct hxa *a;
	u64 seq;
	u8 req[SNP_MSG_PAGE_SIZE], resp[SNP_MSG_PAGE_SIZE];
};

static void report_req(struct vmpl1 *g, u32 vmpl, u32 key_sel, u8 type, u16 size)
{
	struct snp_msg_report_req r;

	memset(&r, 0, sizeof(r));
	memset(r.report_data, 0x42, sizeof(r.report_data));
	r.vmpl = vmpl;
	r.key_sel = key_sel;
	assert_int_equal(psp_msg_seal(g->a->p->st->vmpck[1], 1, g->seq, type, &r, size, g->req), 0);
}

static u32 send(struct vmpl1 *g)
{
	memset(g->resp, 0xEE, sizeof(g->resp));
	return psp_guest_request(g->a->p, g->req, g->resp);
}

/* The firmware's message checks; a refused message changes neither the answer page nor the sequence. */
static void test_firmware_message_checks(void **state)
{
	struct vmpl1 g = {.a = *state, .seq = 1};
	struct psp *p = g.a->p;
	struct snp_msg_report_rsp rsp;
	u8 untouched[SNP_MSG_PAGE_SIZE];

	memset(untouched, 0xEE, sizeof(untouched));
	report_req(&g, 1, 0, SNP_MSG_REPORT_REQ, sizeof(struct snp_msg_report_req));
	assert_int_equal(send(&g), 0);
	assert_int_equal(psp_msg_open(p->st->vmpck[1], g.resp, &rsp, sizeof(rsp)), sizeof(rsp));
	const struct snp_msg_hdr *h = (const void *)g.resp;
	assert_int_equal(h->msg_seqno, 2);
	assert_int_equal(h->msg_type, SNP_MSG_REPORT_RSP);
	assert_int_equal(h->msg_vmpck, 1);
	assert_int_equal(rsp.status, 0);
	assert_int_equal(rsp.report_size, SNP_REPORT_SIZE);
	assert_int_equal(rsp.report.vmpl, 1);
	assert_int_equal(p->st->seqno[1], 2);

	/* Replayed (the same message again) and skipped (a sequence number too far). */
	assert_int_equal(send(&g), SEV_RET_INVALID_PARAM);
	assert_memory_equal(g.resp, untouched, sizeof(untouched));
	g.seq = 5;
	report_req(&g, 1, 0, SNP_MSG_REPORT_REQ, sizeof(struct snp_msg_report_req));
	assert_int_equal(send(&g), SEV_RET_INVALID_PARAM);
	assert_int_equal(p->st->seqno[1], 2);
	g.seq = 3;

	/* Tampered: ciphertext, tag, authenticated header bytes. */
	static const unsigned flips[] = {0x60, 0x9F, 0x00, 0x0F, 0x34, 0x3E, 0x5F};
	for (unsigned i = 0; i < ARRAY_COUNT(flips); i++) {
		report_req(&g, 1, 0, SNP_MSG_REPORT_REQ, sizeof(struct snp_msg_report_req));
		g.req[flips[i]] ^= 0x01;
		u32 rc = send(&g);
		assert_true(rc == SEV_RET_BAD_SIGNATURE || rc == SEV_RET_INVALID_PARAM);
		assert_memory_equal(g.resp, untouched, sizeof(untouched));
	}
	/* The wrong VMPCK: VMPCK2's key under VMPCK1's number. */
	struct snp_msg_report_req r = {.vmpl = 1};
	assert_int_equal(psp_msg_seal(p->st->vmpck[2], 1, g.seq, SNP_MSG_REPORT_REQ, &r, sizeof(r), g.req), 0);
	assert_int_equal(send(&g), SEV_RET_BAD_SIGNATURE);
	/* Header fields. */
	static const struct {
		unsigned off;
		u8 value;
	} hdr[] = {{0x30, 0}, {0x31, 2}, {0x32, 0x50}, {0x35, 2}, {0x3C, 4}, {0x28, 1}, {0x38, 1}, {0x10, 1}};
	for (unsigned i = 0; i < ARRAY_COUNT(hdr); i++) {
		report_req(&g, 1, 0, SNP_MSG_REPORT_REQ, sizeof(struct snp_msg_report_req));
		g.req[hdr[i].off] = hdr[i].value;
		assert_int_equal(send(&g), SEV_RET_INVALID_PARAM);
	}
	report_req(&g, 1, 0, SNP_MSG_REPORT_REQ, sizeof(struct snp_msg_report_req));
	u16 big = SNP_MSG_MAX_PAYLOAD + 1;
	memcpy(g.req + 0x36, &big, 2);
	assert_int_equal(send(&g), SEV_RET_INVALID_PARAM);
	/* Payload size and type. */
	report_req(&g, 1, 0, SNP_MSG_REPORT_REQ, sizeof(struct snp_msg_report_req) - 1);
	assert_int_equal(send(&g), SEV_RET_INVALID_LEN);
	report_req(&g, 1, 0, SNP_MSG_CPUID_REQ, sizeof(struct snp_msg_report_req));
	assert_int_equal(send(&g), SEV_RET_UNSUPPORTED);
	assert_int_equal(p->st->seqno[1], 2);

	/* Valid messages whose request the firmware refuses: STATUS in the answer, the sequence moves on. */
	static const struct {
		u32 vmpl, key_sel, status;
	} bad[] = {{0, 0, SEV_RET_INVALID_PARAM}, {4, 0, SEV_RET_INVALID_PARAM}, {1, 3, SEV_RET_INVALID_PARAM},
		   {1, 4, SEV_RET_INVALID_PARAM}, {1, 2, SNP_STATUS_INVALID_KEY}};
	for (unsigned i = 0; i < ARRAY_COUNT(bad); i++) {
		report_req(&g, bad[i].vmpl, bad[i].key_sel, SNP_MSG_REPORT_REQ, sizeof(struct snp_msg_report_req));
		assert_int_equal(send(&g), 0);
		assert_int_equal(psp_msg_open(p->st->vmpck[1], g.resp, &rsp, sizeof(rsp)), sizeof(rsp));
		assert_int_equal(rsp.status, bad[i].status);
		assert_int_equal(rsp.report_size, 0);
		assert_int_equal(rsp.report.version, 0);
		assert_int_equal(rsp.report.signature_algo, 0);
		g.seq += 2;
	}
	/* Key select 1 (VCEK) is served. */
	report_req(&g, 3, 1, SNP_MSG_REPORT_REQ, sizeof(struct snp_msg_report_req));
	assert_int_equal(send(&g), 0);
	assert_int_equal(psp_msg_open(p->st->vmpck[1], g.resp, &rsp, sizeof(rsp)), sizeof(rsp));
	assert_int_equal(rsp.status, 0);
	assert_int_equal(rsp.report.vmpl, 3);
	/* Another VMPCK has its own sequence. */
	assert_int_equal(p->st->seqno[2], 0);
}

/* ATTESTATION_REPORT at every offset of section 4.1, signed over 0x000-0x29F. */
static void test_report_layout(void **state)
{
	struct hxa *a = *state;
	struct psp *p = a->p;
	u8 data[64], raw[SNP_REPORT_SIZE];
	struct snp_attestation_report r;

	for (unsigned i = 0; i < 64; i++) {
		data[i] = (u8)(0x80 + i);
	}
	assert_int_equal(psp_make_report(p, data, 2, &r), 0);
	memcpy(raw, &r, sizeof(raw));
	u64 tcb = psp_chip_tcb(&p->keys.chip);
	u32 u32v;
	u64 u64v;
#define AT32(off) (memcpy(&u32v, raw + (off), 4), u32v)
#define AT64(off) (memcpy(&u64v, raw + (off), 8), u64v)
	assert_int_equal(AT32(0x000), PSP_REPORT_VERSION);
	assert_int_equal(AT32(0x004), 0);
	assert_int_equal(AT64(0x008), EMU_DEFAULT_POLICY);
	assert_int_equal(AT32(0x030), 2);
	assert_int_equal(AT32(0x034), 1);
	assert_true(AT64(0x038) == tcb);
	assert_int_equal(AT64(0x040), PSP_PLATFORM_INFO);
	assert_int_equal(AT32(0x048), 0);
	assert_memory_equal(raw + 0x050, data, 64);
	assert_memory_equal(raw + 0x090, p->measurement, 48);
	static const u8 zeros[64];
	assert_memory_equal(raw + 0x0C0, p->cfg.host_data, 32);
	assert_memory_equal(raw + 0x010, zeros, 32);  /* FAMILY_ID, IMAGE_ID: no ID block */
	assert_memory_equal(raw + 0x0E0, zeros, 48);  /* ID_KEY_DIGEST */
	assert_memory_equal(raw + 0x110, zeros, 48);  /* AUTHOR_KEY_DIGEST */
	assert_memory_equal(raw + 0x140, p->st->report_id, 32);
	for (unsigned i = 0; i < 32; i++) {
		assert_int_equal(raw[0x160 + i], 0xFF);
	}
	assert_true(AT64(0x180) == tcb);
	assert_int_equal(raw[0x180], 3);
	assert_int_equal(raw[0x186], 22);
	assert_int_equal(raw[0x187], 213);
	assert_int_equal(raw[0x188], PSP_CPUID_FAMILY);
	assert_int_equal(raw[0x189], PSP_CPUID_MODEL);
	assert_int_equal(raw[0x18A], PSP_CPUID_STEPPING);
	assert_memory_equal(raw + 0x1A0, p->keys.chip.chip_id, 64);
	assert_true(AT64(0x1E0) == tcb);
	assert_int_equal(raw[0x1E8], PSP_FW_BUILD);
	assert_int_equal(raw[0x1E9], PSP_FW_MINOR);
	assert_int_equal(raw[0x1EA], PSP_FW_MAJOR);
	assert_true(AT64(0x1F0) == tcb);
	/* r and s: 48 significant bytes in 72-byte little-endian fields, then zeros. */
	for (unsigned i = 48; i < 72; i++) {
		assert_int_equal(raw[0x2A0 + i], 0);
		assert_int_equal(raw[0x2E8 + i], 0);
	}
	for (unsigned i = 0x330; i < SNP_REPORT_SIZE; i++) {
		assert_int_equal(raw[i], 0);
	}
#undef AT32
#undef AT64
	/* The signature verifies (verify_report rebuilds the DER signature from r and s). */
	struct verify_input in = {.report = raw, .report_len = sizeof(raw), .ark = p->keys.ark_cert, .ask = p->keys.ask_cert,
				  .vcek = p->keys.vcek_cert, .vmpl = 2};
	struct verify_result vr;
	assert_int_equal(verify_report(&in, &vr), -1);
	assert_int_equal(vr.failed, VERIFY_REPORT_DATA); /* everything before REPORT_DATA passed */
	/* Any change to the signed bytes breaks the signature; the reserved tail is not signed. */
	raw[0x29F] ^= 1;
	assert_int_equal(verify_report(&in, &vr), -1);
	assert_int_equal(vr.failed, VERIFY_SIGNATURE);
	raw[0x29F] ^= 1;
	raw[0x400] ^= 1;
	assert_int_equal(verify_report(&in, &vr), -1);
	assert_int_equal(vr.failed, VERIFY_REPORT_DATA);
}

/* The hypervisor's side of the exits: inputs present, shared pages, the certificate buffer. */
static void test_hypervisor_side(void **state)
{
	struct hxa *a = *state;
	struct emu_machine *m = a->h->m;
	struct ghcb g;
	u64 req = hx_page(a->h), resp = hx_page(a->h), certs = hx_pages(a->h, 4);

	/* Private pages first: the hypervisor may not use them. */
	memset(&g, 0, sizeof(g));
	ghcb_set_sw_exit_info_1(&g, req);
	ghcb_set_sw_exit_info_2(&g, resp);
	psp_hv_guest_request(a->p, m, &m->vcpus[0], &g, SVM_VMGEXIT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_sw_exit_info_1(&g), GHCB_NAE_ERROR);
	assert_int_equal(ghcb_get_sw_exit_info_2(&g), GHCB_ERR_INVALID_INPUT);
	/* Shared now (RMPUPDATE by the hypervisor). */
	assert_int_equal(rmp_make_shared(&m->rmp, req), 0);
	assert_int_equal(rmp_make_shared(&m->rmp, resp), 0);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(rmp_make_shared(&m->rmp, certs + i * PAGE_SIZE), 0);
	}
	/* A response page beyond guest memory. */
	memset(&g, 0, sizeof(g));
	ghcb_set_sw_exit_info_1(&g, req);
	ghcb_set_sw_exit_info_2(&g, m->cfg.mem_size);
	psp_hv_guest_request(a->p, m, &m->vcpus[0], &g, SVM_VMGEXIT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_sw_exit_info_2(&g), GHCB_ERR_INVALID_INPUT);
	/* Missing inputs. */
	memset(&g, 0, sizeof(g));
	ghcb_set_sw_exit_info_1(&g, req);
	psp_hv_guest_request(a->p, m, &m->vcpus[0], &g, SVM_VMGEXIT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_sw_exit_info_2(&g), GHCB_ERR_MISSING_INPUT);
	memset(&g, 0, sizeof(g));
	ghcb_set_sw_exit_info_1(&g, req);
	ghcb_set_sw_exit_info_2(&g, resp);
	ghcb_set_rax(&g, certs);
	psp_hv_guest_request(a->p, m, &m->vcpus[0], &g, SVM_VMGEXIT_EXT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_sw_exit_info_2(&g), GHCB_ERR_MISSING_INPUT);
	/* The same page for request and response. */
	memset(&g, 0, sizeof(g));
	ghcb_set_sw_exit_info_1(&g, req);
	ghcb_set_sw_exit_info_2(&g, req);
	psp_hv_guest_request(a->p, m, &m->vcpus[0], &g, SVM_VMGEXIT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_sw_exit_info_2(&g), GHCB_ERR_INVALID_INPUT);
	/* Too few certificate pages: INVALID_LEN, RBX = pages needed, nothing forwarded. */
	u64 requests = a->p->st->requests;
	u64 needed = ALIGN_UP((u64)a->p->cert_table_len, PAGE_SIZE) / PAGE_SIZE;
	memset(&g, 0, sizeof(g));
	ghcb_set_sw_exit_info_1(&g, req);
	ghcb_set_sw_exit_info_2(&g, resp);
	ghcb_set_rax(&g, certs);
	ghcb_set_rbx(&g, needed - 1);
	psp_hv_guest_request(a->p, m, &m->vcpus[0], &g, SVM_VMGEXIT_EXT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_sw_exit_info_1(&g), 0);
	assert_true(ghcb_get_sw_exit_info_2(&g) == (u64)SNP_GREQ_VMM_INVALID_LEN << 32);
	assert_int_equal(ghcb_get_rbx(&g), needed);
	assert_int_equal(a->p->st->requests, requests);
	/* Enough pages, but a message the firmware refuses (all zero): its error, no certificates written. */
	u64 before = hx_hash_mem(a->h, certs, 4 * PAGE_SIZE);
	ghcb_set_sw_exit_info_1(&g, req);
	ghcb_set_sw_exit_info_2(&g, resp);
	ghcb_set_rbx(&g, 4);
	psp_hv_guest_request(a->p, m, &m->vcpus[0], &g, SVM_VMGEXIT_EXT_GUEST_REQUEST);
	assert_int_equal(ghcb_get_sw_exit_info_1(&g), 0);
	assert_int_equal(ghcb_get_sw_exit_info_2(&g), SEV_RET_INVALID_PARAM);
	assert_true(hx_hash_mem(a->h, certs, 4 * PAGE_SIZE) == before);
	assert_int_equal(a->p->st->requests, requests + 1);
}

/* A new chip (its own VCEK, CHIP_ID and TCB) under the committed test roots. */
static void test_new_chip_under_test_roots(void **state)
{
	char err[256];
	struct psp_keys roots;
	u8 data[64] = {0};
	struct snp_attestation_report r;

	assert_int_equal(psp_keys_load(&roots, FIXTURES_DIR "/attestation/keys", err, sizeof(err)), 0);
	struct psp_config pc = {.keys_roots = &roots};
	memset(pc.chip.chip_id, 0x77, sizeof(pc.chip.chip_id));
	pc.chip.bl_spl = 1;
	pc.chip.snp_spl = 9;
	struct psp *p = psp_create(&pc, err, sizeof(err));
	assert_non_null(p);
	assert_memory_equal(p->keys.chip.chip_id, pc.chip.chip_id, SNP_CHIP_ID_SIZE);
	assert_int_equal(X509_cmp(p->keys.ark_cert, roots.ark_cert), 0);
	assert_int_not_equal(X509_cmp(p->keys.vcek_cert, roots.vcek_cert), 0);
	assert_int_equal(psp_make_report(p, data, 0, &r), 0);
	assert_int_equal(r.chip_id[0], 0x77);
	assert_int_equal(r.reported_tcb, psp_chip_tcb(&pc.chip));
	/* Chain (to the committed ARK), signature and VCEK binding pass; REPORT_DATA is next. */
	struct verify_input in = {.report = (const u8 *)&r, .report_len = sizeof(r), .ark = roots.ark_cert,
				  .ask = roots.ask_cert, .vcek = p->keys.vcek_cert};
	struct verify_result vr;
	assert_int_equal(verify_report(&in, &vr), -1);
	assert_int_equal(vr.failed, VERIFY_REPORT_DATA);
	/* The committed VCEK does not sign for this chip. */
	in.vcek = roots.vcek_cert;
	assert_int_equal(verify_report(&in, &vr), -1);
	assert_int_equal(vr.failed, VERIFY_SIGNATURE);
	psp_destroy(p);
	psp_keys_free(&roots);
}

/* The PSP answers only after the launch finished. */
static void test_not_launched(void **state)
{
	char err[256];
	struct psp_config pc = {.keys_dir = FIXTURES_DIR "/attestation/keys"};
	struct psp *p = psp_create(&pc, err, sizeof(err));
	static u8 req[SNP_MSG_PAGE_SIZE], resp[SNP_MSG_PAGE_SIZE];

	assert_non_null(p);
	struct snp_msg_report_req r = {0};
	assert_int_equal(psp_msg_seal(p->st->vmpck[0], 0, 1, SNP_MSG_REPORT_REQ, &r, sizeof(r), req), 0);
	assert_int_equal(psp_guest_request(p, req, resp), SEV_RET_INVALID_GUEST_STATE);
	psp_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_launch_known_answers),
		cmocka_unit_test(test_launch_digest_binds_everything),
		cmocka_unit_test(test_measurement_tracks_launch),
		cmocka_unit_test(test_launch_plan),
		cmocka_unit_test(test_policy),
		cmocka_unit_test_setup_teardown(test_secrets_and_cpuid_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware_message_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hypervisor_side, setup, teardown),
		cmocka_unit_test(test_new_chip_under_test_roots),
		cmocka_unit_test(test_not_launched),
	};
	return cmocka_run_group_tests_name("psp", tests, NULL, NULL);
}
