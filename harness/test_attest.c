/*
 * The attestation protocol (1) from the guest side: SVSM_ATTEST_SERVICES and
 * SVSM_ATTEST_SINGLE_SERVICE end to end through the emulated PSP, and every rejection:
 * reserved bytes, nonce rules, every buffer too small (with the sizes in RCX/RDX/R8 and
 * Linux's retry loop), misaligned, SVSM-owned, VMSA, calling-area, unvalidated and
 * not-the-caller's GPAs, unknown service or call, manifest version. Each rejected call must
 * leave guest memory and the RMP exactly as they were.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <svsm/attest.h>
#include <svsm/snp_guest.h>

#include "lib/hxa.h"
#include "psp/verify.h"
#include "test_common.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

static const u8 manifest_guid[16] = SVSM_MANIFEST_GUID;
static const u8 test_guid[16] = ATTEST_TEST_SERVICE_GUID;

static int setup(void **state)
{
	struct hxa_opts o = {.fixtures = FIXTURES_DIR};
	struct hxa *a = hxa_boot(&o);

	*state = a;
	if (a) {
		hxa_prepare(a, false);
	}
	return a ? 0 : -1;
}

static int setup_no_service(void **state)
{
	struct hxa_opts o = {.fixtures = FIXTURES_DIR, .no_test_service = true};
	struct hxa *a = hxa_boot(&o);

	*state = a;
	if (a) {
		hxa_prepare(a, false);
	}
	return a ? 0 : -1;
}

static int teardown(void **state)
{
	hxa_shutdown(*state);
	return 0;
}

/* A fingerprint of everything a rejected call must not change. */
struct snap {
	u64 report, manifest, certs, rmp, ca;
	struct greq_info greq;
};

static void snap_take(struct hxa *a, struct snap *s)
{
	s->report = hx_hash_mem(a->h, a->report_gpa, PAGE_SIZE);
	s->manifest = hx_hash_mem(a->h, a->manifest_gpa, PAGE_SIZE);
	s->certs = hx_hash_mem(a->h, a->certs_gpa, SNP_CERTS_MAX_SIZE);
	s->rmp = hx_hash_rmp(a->h);
	/* The CA beyond call_pending/mem_available (the request and nonce live there). */
	s->ca = hx_hash_mem(a->h, a->req_gpa, PAGE_SIZE - 8);
	hxa_greq_info(a, &s->greq);
}

static void assert_unchanged(struct hxa *a, const struct snap *before)
{
	struct snap now;

	snap_take(a, &now);
	assert_true(now.report == before->report);
	assert_true(now.manifest == before->manifest);
	assert_true(now.certs == before->certs);
	assert_true(now.rmp == before->rmp);
	assert_true(now.ca == before->ca);
	assert_int_equal(now.greq.seqno, before->greq.seqno);
	assert_false(now.greq.disabled);
	assert_oracle_clean(a->h);
}

/* Write the request, call, and expect @want with nothing changed. */
static struct guest_regs expect_rejected(struct hxa *a, u32 call, u32 want)
{
	struct snap before;
	struct guest_regs r;

	assert_int_equal(hxa_write_req(a, call == SVSM_ATTEST_SINGLE_SERVICE), 0);
	snap_take(a, &before);
	assert_int_equal(hxa_call(a, call, &r), want);
	assert_int_equal(a->h->last_status, GUEST_OK);
	assert_unchanged(a, &before);
	return r;
}

static void read_guest(struct hxa *a, u64 gpa, void *buf, size_t len)
{
	assert_int_equal(guest_read(&a->h->g, gpa, buf, len), 0);
}

static void load_certs(struct verify_input *in, X509 **ark, X509 **ask, X509 **vcek)
{
	*ark = verify_load_cert(FIXTURES_DIR "/attestation/keys/ark.pem");
	*ask = verify_load_cert(FIXTURES_DIR "/attestation/keys/ask.pem");
	*vcek = verify_load_cert(FIXTURES_DIR "/attestation/keys/vcek.pem");
	assert_non_null(*ark);
	assert_non_null(*ask);
	assert_non_null(*vcek);
	in->ark = *ark;
	in->ask = *ask;
	in->vcek = *vcek;
}

/* The report verifies against the test keys, with a->nonce and @manifest. */
static void assert_report_verifies(struct hxa *a, const u8 *report, const u8 *manifest, u32 msize)
{
	struct verify_input in = {.report = report, .report_len = SNP_REPORT_SIZE, .nonce = a->nonce,
				  .nonce_len = sizeof(a->nonce), .manifest = manifest, .manifest_len = msize};
	X509 *ark, *ask, *vcek;
	struct verify_result vr;

	load_certs(&in, &ark, &ask, &vcek);
	assert_int_equal(verify_report(&in, &vr), 0);
	X509_free(ark);
	X509_free(ask);
	X509_free(vcek);
}

/* --- success paths -------------------------------------------------------------------------- */

/* SERVICES: the GUID table, REPORT_DATA = SHA-512(nonce || manifest), sizes in RCX/RDX/R8, a report that verifies. */
static void test_services_report(void **state)
{
	struct hxa *a = *state;
	struct guest_regs r;
	u8 manifest[PAGE_SIZE], report[SNP_REPORT_SIZE], want[64];

	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	assert_oracle_clean(a->h);
	u32 msize = (u32)r.rcx;
	const char *data = ATTEST_TEST_SERVICE_DEFAULT;
	u32 dlen = (u32)strlen(data);
	assert_int_equal(msize, 24 + 24 + dlen);
	assert_int_equal(r.rdx, 0);
	assert_int_equal(r.r8, SNP_REPORT_SIZE);
	read_guest(a, a->manifest_gpa, manifest, msize);
	read_guest(a, a->report_gpa, report, sizeof(report));

	/* Table 12: header GUID, total size, count; one entry; the data after the entries. */
	struct svsm_manifest_hdr h;
	struct svsm_manifest_entry e;
	memcpy(&h, manifest, sizeof(h));
	memcpy(&e, manifest + sizeof(h), sizeof(e));
	assert_memory_equal(h.guid, manifest_guid, 16);
	assert_int_equal(h.size, msize);
	assert_int_equal(h.count, 1);
	assert_memory_equal(e.guid, test_guid, 16);
	assert_int_equal(e.offset, 48);
	assert_int_equal(e.size, dlen);
	assert_memory_equal(manifest + 48, data, dlen);

	const struct snp_attestation_report *rep = (const void *)report;
	hxa_report_data(a->nonce, sizeof(a->nonce), manifest, msize, want);
	assert_memory_equal(rep->report_data, want, 64);
	assert_int_equal(rep->vmpl, 0);
	assert_memory_equal(rep->measurement, a->p->measurement, SNP_MEASUREMENT_SIZE);

	assert_report_verifies(a, report, manifest, msize);
	/* Rest of the report buffer untouched (the report is 0x4A0 bytes). */
	u8 tail[PAGE_SIZE - SNP_REPORT_SIZE], zero[PAGE_SIZE - SNP_REPORT_SIZE] = {0};
	read_guest(a, a->report_gpa + SNP_REPORT_SIZE, tail, sizeof(tail));
	assert_memory_equal(tail, zero, sizeof(tail));
}

static int setup_memo(void **state)
{
	struct hxa_opts o = {.fixtures = FIXTURES_DIR, .memo_signatures = 8};
	struct hxa *a = hxa_boot(&o);

	*state = a;
	if (a) {
		hxa_prepare(a, false);
	}
	return a ? 0 : -1;
}

/* One SERVICES call: the report and the manifest (its size returned). */
static u32 services_report(struct hxa *a, u8 report[SNP_REPORT_SIZE], u8 manifest[PAGE_SIZE])
{
	struct guest_regs r;

	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	read_guest(a, a->report_gpa, report, SNP_REPORT_SIZE);
	read_guest(a, a->manifest_gpa, manifest, (u32)r.rcx);
	return (u32)r.rcx;
}

/*
 * A PSP that remembers signatures (the fuzz targets' setting) gives a body it signed before
 * the same signature, which verifies; a new body (another nonce) is signed afresh.
 */
static void test_memo_signatures(void **state)
{
	struct hxa *a = *state;
	u8 r1[SNP_REPORT_SIZE], r2[SNP_REPORT_SIZE], r3[SNP_REPORT_SIZE], manifest[PAGE_SIZE];

	u32 msize = services_report(a, r1, manifest);
	assert_int_equal(a->p->memo_hits, 0);
	assert_report_verifies(a, r1, manifest, msize);
	services_report(a, r2, manifest);
	assert_int_equal(a->p->memo_hits, 1);
	assert_memory_equal(r1, r2, SNP_REPORT_SIZE);
	assert_report_verifies(a, r2, manifest, msize);
	a->nonce[0] ^= 1;
	services_report(a, r3, manifest);
	assert_int_equal(a->p->memo_hits, 1);
	const struct snp_attestation_report *p1 = (const void *)r1, *p3 = (const void *)r3;
	assert_memory_not_equal(p1->sig_r, p3->sig_r, sizeof(p1->sig_r));
	assert_report_verifies(a, r3, manifest, msize);
}

/* With certificates: the hypervisor's table comes back through the SVSM, RDX its size. */
static void test_services_with_certs(void **state)
{
	struct hxa *a = *state;
	struct guest_regs r;
	u8 certs[SNP_CERTS_MAX_SIZE];

	hxa_prepare(a, true);
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	assert_int_equal(r.rdx, a->p->cert_table_len);
	read_guest(a, a->certs_gpa, certs, sizeof(certs));
	assert_memory_equal(certs, a->p->cert_table, a->p->cert_table_len);
	X509 *ark, *ask, *vcek;
	assert_int_equal(verify_certs_from_table(certs, r.rdx, &ark, &ask, &vcek), 0);
	X509_free(ark);
	X509_free(ask);
	X509_free(vcek);
}

/* A hypervisor without certificates: RDX = 0, nothing written to the certificate buffer. */
static void test_services_certs_none(void **state)
{
	struct hxa_opts o = {.fixtures = FIXTURES_DIR, .no_certs = true};
	struct hxa *a = hxa_boot(&o);
	struct guest_regs r;

	assert_non_null(a);
	hxa_prepare(a, true);
	u64 before = hx_hash_mem(a->h, a->certs_gpa, SNP_CERTS_MAX_SIZE);
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	assert_int_equal(r.rdx, 0);
	assert_true(hx_hash_mem(a->h, a->certs_gpa, SNP_CERTS_MAX_SIZE) == before);
	hxa_shutdown(a);
}

/* No service registered: the manifest is the bare 24-byte header. */
static void test_services_empty_manifest(void **state)
{
	struct hxa *a = *state;
	struct guest_regs r;
	u8 manifest[24];

	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 24);
	read_guest(a, a->manifest_gpa, manifest, sizeof(manifest));
	assert_memory_equal(manifest, manifest_guid, 16);
	assert_int_equal(manifest[16], 24);
	assert_int_equal(manifest[20], 0);
}

/* SINGLE_SERVICE: the service's own data, never the GUID table. */
static void test_single_service_data(void **state)
{
	struct hxa *a = *state;
	struct guest_regs r;
	const char *data = ATTEST_TEST_SERVICE_DEFAULT;
	u8 manifest[PAGE_SIZE], report[SNP_REPORT_SIZE], want[64];

	assert_int_equal(hxa_write_req(a, true), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SINGLE_SERVICE, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, strlen(data));
	read_guest(a, a->manifest_gpa, manifest, r.rcx);
	assert_memory_equal(manifest, data, r.rcx);
	read_guest(a, a->report_gpa, report, sizeof(report));
	hxa_report_data(a->nonce, sizeof(a->nonce), manifest, r.rcx, want);
	assert_memory_equal(((const struct snp_attestation_report *)report)->report_data, want, 64);
}

/*
 * The open question of the SVSM development call (2024-12-11): with exactly one service,
 * are SINGLE and SERVICES distinguishable? They must be: a relying party that asked for
 * one service's attestation must never accept an all-services report, and the other way
 * round. Different manifests, hence different REPORT_DATA for the same nonce.
 */
static void test_single_vs_all_distinct_with_one_service(void **state)
{
	struct hxa *a = *state;
	struct guest_regs r;
	u8 m_all[PAGE_SIZE], m_one[PAGE_SIZE], rep_all[SNP_REPORT_SIZE], rep_one[SNP_REPORT_SIZE];

	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	u32 len_all = (u32)r.rcx;
	read_guest(a, a->manifest_gpa, m_all, len_all);
	read_guest(a, a->report_gpa, rep_all, sizeof(rep_all));
	assert_int_equal(((const struct svsm_manifest_hdr *)m_all)->count, 1);

	assert_int_equal(hxa_write_req(a, true), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SINGLE_SERVICE, &r), SVSM_SUCCESS);
	u32 len_one = (u32)r.rcx;
	read_guest(a, a->manifest_gpa, m_one, len_one);
	read_guest(a, a->report_gpa, rep_one, sizeof(rep_one));

	assert_true(len_all != len_one || memcmp(m_all, m_one, len_all) != 0);
	/* The single manifest is not the table, nor a table filtered to the one service. */
	assert_true(len_one < 16 || memcmp(m_one, manifest_guid, 16) != 0);
	const struct snp_attestation_report *ra = (const void *)rep_all, *ro = (const void *)rep_one;
	assert_memory_not_equal(ra->report_data, ro->report_data, 64);
}

/*
 * What makes the two answers different by construction: every SERVICES manifest starts
 * with the manifest GUID, and a service whose own data starts with it is refused for
 * SINGLE_SERVICE (INVALID_REQUEST), so the two can never be the same bytes.
 */
static void test_single_never_looks_like_services(void **state)
{
	struct hxa *a = *state;
	u8 data[40];

	memcpy(data, manifest_guid, 16);
	memset(data + 16, 0x11, sizeof(data) - 16);
	assert_int_equal(attest_test_service_register(a->h->m, data, sizeof(data)), 0);
	expect_rejected(a, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_INVALID_REQUEST);
	/* 15 bytes of it are not a GUID table header. */
	assert_int_equal(attest_test_service_register(a->h->m, data, 15), 0);
	assert_int_equal(hxa_write_req(a, true), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SINGLE_SERVICE, NULL), SVSM_SUCCESS);
	/* SERVICES carries such data inside its table as it is. */
	assert_int_equal(attest_test_service_register(a->h->m, data, sizeof(data)), 0);
	struct guest_regs r;
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 48 + sizeof(data));
}

/* Manifest larger than Linux's first 4 KiB buffer: INVALID_PARAMETER with RCX, then Linux's retry works. */
static void test_linux_retry_loop(void **state)
{
	struct hxa *a = *state;
	static u8 big[6000];
	struct guest_attest_result res;

	for (unsigned i = 0; i < sizeof(big); i++) {
		big[i] = (u8)(i * 31);
	}
	assert_int_equal(attest_test_service_register(a->h->m, big, sizeof(big)), 0);
	struct guest_attest_req req = {.nonce = a->nonce, .certs = true};
	assert_int_equal(guest_attest(&a->h->g, &req, &res), 0);
	assert_int_equal(res.calls, 2);
	assert_int_equal(res.manifest_len, 48 + sizeof(big));
	assert_int_equal(res.report_len, SNP_REPORT_SIZE);
	assert_int_equal(res.certs_len, a->p->cert_table_len);
	assert_memory_equal(res.manifest + 48, big, sizeof(big));
	guest_attest_result_free(&res);

	req.service = test_guid;
	assert_int_equal(guest_attest(&a->h->g, &req, &res), 0);
	assert_int_equal(res.calls, 2);
	assert_int_equal(res.manifest_len, sizeof(big));
	guest_attest_result_free(&res);
	assert_oracle_clean(a->h);
}

/* --- sizes ------------------------------------------------------------------------------------ */

/* Report buffer too small: INVALID_PARAMETER, RCX = manifest size, R8 = 0x4A0, RDX = 0 without certificates. */
static void test_report_buffer_too_small(void **state)
{
	struct hxa *a = *state;

	a->req.base.report_size = SNP_REPORT_SIZE - 1;
	struct guest_regs r = expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(r.rcx, 48 + strlen(ATTEST_TEST_SERVICE_DEFAULT));
	assert_int_equal(r.r8, SNP_REPORT_SIZE);
	assert_int_equal(r.rdx, 0);
}

/* Manifest buffer too small (also 0): the same answer; with certificates wanted RDX is left as passed. */
static void test_manifest_buffer_too_small(void **state)
{
	struct hxa *a = *state;
	u32 msize = 48 + (u32)strlen(ATTEST_TEST_SERVICE_DEFAULT);

	hxa_prepare(a, true);
	a->req.base.manifest_size = msize - 1;
	struct guest_regs r = expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(r.rcx, msize);
	assert_int_equal(r.r8, SNP_REPORT_SIZE);
	assert_true(r.rdx == ~0ull);
	a->req.base.manifest_size = 0;
	r = expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(r.rcx, msize);
	a->req.base.manifest_size = 3;
	r = expect_rejected(a, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(r.rcx, strlen(ATTEST_TEST_SERVICE_DEFAULT));
}

/*
 * Certificate buffer too small: its size is only known from the hypervisor's answer, so
 * the PSP was asked (the sequence number advanced) but nothing reached the guest, and RDX
 * holds the size needed.
 */
static void test_certs_buffer_too_small(void **state)
{
	struct hxa *a = *state;
	struct guest_regs r;
	struct greq_info before, after;

	hxa_prepare(a, true);
	a->req.base.certs_size = PAGE_SIZE;
	assert_int_equal(hxa_write_req(a, false), 0);
	u64 h_rep = hx_hash_mem(a->h, a->report_gpa, PAGE_SIZE), h_man = hx_hash_mem(a->h, a->manifest_gpa, PAGE_SIZE);
	u64 h_certs = hx_hash_mem(a->h, a->certs_gpa, SNP_CERTS_MAX_SIZE);
	hxa_greq_info(a, &before);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_ERR_INVALID_PARAMETER);
	hxa_greq_info(a, &after);
	assert_int_equal(r.rdx, a->p->cert_table_len);
	assert_true(a->p->cert_table_len > PAGE_SIZE);
	assert_int_equal(r.r8, SNP_REPORT_SIZE);
	assert_true(hx_hash_mem(a->h, a->report_gpa, PAGE_SIZE) == h_rep);
	assert_true(hx_hash_mem(a->h, a->manifest_gpa, PAGE_SIZE) == h_man);
	assert_true(hx_hash_mem(a->h, a->certs_gpa, SNP_CERTS_MAX_SIZE) == h_certs);
	assert_int_equal(after.seqno, before.seqno + 2);
	assert_false(after.disabled);
	/* The exact size is enough. */
	a->req.base.certs_size = (u32)r.rdx;
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	assert_oracle_clean(a->h);
}

/* --- request fields ---------------------------------------------------------------------------- */

/* Each reserved field non-zero: INVALID_PARAMETER (0x0C, 0x1A-0x1F, 0x2C, 0x3C, single 0x54). */
static void test_reserved_bytes(void **state)
{
	struct hxa *a = *state;
	static const unsigned offs[] = {0x0C, 0x0F, 0x1A, 0x1F, 0x2C, 0x2F, 0x3C, 0x3F, 0x54, 0x57};

	for (unsigned i = 0; i < ARRAY_COUNT(offs); i++) {
		hxa_prepare(a, true);
		((u8 *)&a->req)[offs[i]] = 0x01;
		bool single = offs[i] >= 0x40;
		expect_rejected(a, single ? SVSM_ATTEST_SINGLE_SERVICE : SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_PARAMETER);
	}
	/* Bytes past the SERVICES request are not part of it. */
	hxa_prepare(a, false);
	((u8 *)&a->req)[0x54] = 0x01;
	assert_int_equal(hxa_write_req(a, true), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_SUCCESS);
}

/* Nonce: exactly 64 bytes, within one page. */
static void test_nonce_rules(void **state)
{
	struct hxa *a = *state;
	static const u16 sizes[] = {0, 1, 32, 63, 65, 4096, 0xFFFF};

	for (unsigned i = 0; i < ARRAY_COUNT(sizes); i++) {
		a->req.base.nonce_size = sizes[i];
		expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_PARAMETER);
	}
	a->req.base.nonce_size = SVSM_ATTEST_NONCE_SIZE;
	u64 page = hx_pages(a->h, 2);
	a->req.base.nonce_gpa = page + PAGE_SIZE - 32;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_PARAMETER);
	/* Any alignment is fine inside a page. */
	a->req.base.nonce_gpa = page + PAGE_SIZE - 64;
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_SUCCESS);
	a->req.base.nonce_gpa = page + 3;
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_SUCCESS);
}

/* Misaligned: the request (8 bytes), report, manifest and certificate buffers (4 KiB). */
static void test_misaligned(void **state)
{
	struct hxa *a = *state;
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_ATTEST, SVSM_ATTEST_SERVICES), .rcx = a->req_gpa + 4};

	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hx_call_vcpu(a->h, 0, &r), SVSM_ERR_INVALID_PARAMETER);
	a->req.base.report_gpa += 8;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_PARAMETER);
	hxa_prepare(a, true);
	a->req.base.manifest_gpa += 0x800;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_PARAMETER);
	hxa_prepare(a, true);
	a->req.base.certs_gpa += 1;
	expect_rejected(a, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_INVALID_PARAMETER);
	/* Without certificates the certificate GPA is not looked at. */
	hxa_prepare(a, false);
	a->req.base.certs_gpa = 0x123;
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_SUCCESS);
}

/* GPAs the SVSM must refuse for each buffer: SVSM pages, VMSAs, outside memory, wrapping. */
static void test_bad_gpas(void **state)
{
	struct hxa *a = *state;
	struct emu_machine *m = a->h->m;
	const u64 svsm = m->cfg.svsm_base + 16 * PAGE_SIZE;
	const u64 secrets = m->cfg.secrets_gpa;
	const u64 vmsa = m->vcpus[0].vmsa_gpa[EMU_GUEST_VMPL];
	const u64 bad[] = {svsm, secrets, vmsa, m->cfg.mem_size, 0xFFFFFFFFFFFFF000ull};

	for (unsigned i = 0; i < ARRAY_COUNT(bad); i++) {
		hxa_prepare(a, true);
		a->req.base.report_gpa = bad[i];
		expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
		hxa_prepare(a, true);
		a->req.base.manifest_gpa = bad[i];
		expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
		hxa_prepare(a, true);
		a->req.base.certs_gpa = bad[i];
		expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
		hxa_prepare(a, true);
		a->req.base.nonce_gpa = bad[i] + 8;
		expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
		/* The request itself. */
		struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_ATTEST, SVSM_ATTEST_SERVICES), .rcx = bad[i] + 8};
		assert_int_equal(hx_call_vcpu(a->h, 0, &r), SVSM_ERR_INVALID_ADDRESS);
	}
	/* A certificate buffer whose end wraps around. */
	hxa_prepare(a, true);
	a->req.base.certs_gpa = 0xFFFFFFFFFFFFF000ull;
	a->req.base.certs_size = 0x2000;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
}

/*
 * Outputs that overlap each other, the nonce or the request would leave the guest with
 * evidence that does not verify (a later write changes what REPORT_DATA covers): refused.
 */
static void test_overlapping_buffers(void **state)
{
	struct hxa *a = *state;

	a->req.base.manifest_gpa = a->report_gpa;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	hxa_prepare(a, true);
	a->req.base.certs_gpa = a->manifest_gpa;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	hxa_prepare(a, true);
	a->req.base.certs_gpa = a->report_gpa - PAGE_SIZE; /* 16 KiB from there reach the report */
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	hxa_prepare(a, false);
	a->req.base.nonce_gpa = a->report_gpa + 0x100;
	expect_rejected(a, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_INVALID_ADDRESS);
	hxa_prepare(a, false);
	a->req.base.nonce_gpa = a->manifest_gpa + 0x40;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	/* The request itself inside the manifest buffer (not in the calling area). */
	hxa_prepare(a, false);
	u64 old_req = a->req_gpa;
	a->req_gpa = a->manifest_gpa + 0x10;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	/* Adjacent is fine: the report's page ends where the manifest's begins. */
	a->req_gpa = old_req;
	hxa_prepare(a, false);
	a->req.base.manifest_gpa = a->report_gpa + PAGE_SIZE;
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_SUCCESS);
}

/* Outputs into a calling area would overwrite call_pending: refused; a nonce there is fine. */
static void test_calling_area_output(void **state)
{
	struct hxa *a = *state;
	u64 ca = guest_vcpu(&a->h->g, 0)->caa_gpa;

	a->req.base.report_gpa = ca;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	hxa_prepare(a, false);
	a->req.base.manifest_gpa = ca;
	expect_rejected(a, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_INVALID_ADDRESS);
	hxa_prepare(a, false);
	assert_true(a->nonce_gpa >= ca && a->nonce_gpa < ca + PAGE_SIZE);
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_SUCCESS);
	/* Except over the CA's header, which the SVSM rewrites after every call. */
	a->req.base.nonce_gpa = ca + 7;
	a->nonce_gpa = ca + 0x800;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	/* Over the request itself the nonce would be guest bytes read twice: refused too. */
	a->req.base.nonce_gpa = a->req_gpa + 8;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	/* Right after the request, still in the calling area: fine. */
	a->req.base.nonce_gpa = ALIGN_UP(a->req_gpa + sizeof(struct svsm_attest_single_req), 8);
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_SUCCESS);
}

/* Pages the guest rescinded (PVALIDATE) are no longer its to hand over. */
static void test_unvalidated_gpa(void **state)
{
	struct hxa *a = *state;
	u64 list = a->req_gpa + 0x200;
	u64 entry = hx_pval_entry(a->report_gpa, false, false, false);

	assert_int_equal(hx_write_list(a->h, list, &entry, 1, 0), 0);
	assert_int_equal(CORE(a->h, SVSM_CORE_PVALIDATE, list, 0, 0, NULL), SVSM_SUCCESS);
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	/* The same for the nonce's page. */
	hxa_prepare(a, false);
	u64 npage = hx_page(a->h);
	entry = hx_pval_entry(npage, false, false, false);
	assert_int_equal(hx_write_list(a->h, list, &entry, 1, 0), 0);
	assert_int_equal(CORE(a->h, SVSM_CORE_PVALIDATE, list, 0, 0, NULL), SVSM_SUCCESS);
	a->req.base.nonce_gpa = npage;
	assert_int_equal(guest_write(&a->h->g, a->req_gpa, &a->req, sizeof(a->req.base)), 0);
	struct snap before;
	snap_take(a, &before);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_unchanged(a, &before);
}

/*
 * Not the caller's: validated pages where VMPL1 holds only read permission (outputs are
 * refused; a nonce there is fine) or none (refused even as the nonce). The SVSM acts with
 * VMPL0's rights and must not write or read for VMPL1 what VMPL1 could not itself.
 */
static void test_not_callers_gpa(void **state)
{
	struct hxa *a = *state;
	u64 ro = hx_page(a->h), none = hx_page(a->h);

	hx_as_svsm_begin(a->h);
	assert_int_equal(arch_rmpadjust(ro, PAGE_SIZE_4K, EMU_GUEST_VMPL, VMPL_PERM_READ, false), RMP_SUCCESS);
	assert_int_equal(arch_rmpadjust(none, PAGE_SIZE_4K, EMU_GUEST_VMPL, 0, false), RMP_SUCCESS);
	hx_as_svsm_end(a->h);

	a->req.base.report_gpa = ro;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	hxa_prepare(a, true);
	a->req.base.manifest_gpa = none;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	hxa_prepare(a, true);
	a->req.base.certs_gpa = ro;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	hxa_prepare(a, false);
	a->req.base.nonce_gpa = none + 64;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_ADDRESS);
	/* A read-only nonce is fine: the SVSM only reads it. */
	hxa_prepare(a, false);
	a->req.base.nonce_gpa = ro + 128;
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_SUCCESS);
	/* The request itself in a page VMPL1 may not read (written there while it still could). */
	u64 req_page = hx_page(a->h);
	hxa_prepare(a, false);
	a->req_gpa = req_page + 8;
	assert_int_equal(hxa_write_req(a, false), 0);
	hx_as_svsm_begin(a->h);
	assert_int_equal(arch_rmpadjust(req_page, PAGE_SIZE_4K, EMU_GUEST_VMPL, 0, false), RMP_SUCCESS);
	hx_as_svsm_end(a->h);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_oracle_clean(a->h);
}

/* A CPU without RMPQUERY: the caller's rights cannot be proven, so every address is refused. */
/*
 * Without RMPQUERY the SVSM serves the boot guest VMPL only, whose rights only the SVSM
 * changes (guestmem.h): the VMPL1 guest still gets its report.
 */
static void test_no_rmpquery_serves_boot_vmpl(void **state)
{
	struct hxa *a = *state;

	a->h->m->rmp.no_rmpquery = true;
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, NULL), SVSM_SUCCESS);
	a->h->m->rmp.no_rmpquery = false;
}

/* Unknown service, null GUID, manifest version other than 0, unknown call id. */
static void test_unknown_service_version_call(void **state)
{
	struct hxa *a = *state;

	a->req.guid[0] ^= 1;
	expect_rejected(a, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_UNSUPPORTED_PROTOCOL);
	memset(a->req.guid, 0, sizeof(a->req.guid));
	expect_rejected(a, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_UNSUPPORTED_PROTOCOL);
	memcpy(a->req.guid, test_guid, sizeof(test_guid));
	a->req.manifest_version = 1;
	expect_rejected(a, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_INVALID_PARAMETER);
	a->req.manifest_version = 0xFFFFFFFF;
	expect_rejected(a, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_INVALID_PARAMETER);
	a->req.manifest_version = 0;
	expect_rejected(a, 2, SVSM_ERR_UNSUPPORTED_CALL);
	expect_rejected(a, 0xFFFFFFFF, SVSM_ERR_UNSUPPORTED_CALL);
}

/* QUERY_PROTOCOL: attestation v1 with a PSP (secrets page); nothing on a machine without one. */
static void test_query_protocol(void **state)
{
	struct hxa *a = *state;
	struct guest_regs r;

	assert_int_equal(CORE(a->h, SVSM_CORE_QUERY_PROTOCOL, (u64)SVSM_PROTOCOL_ATTEST << 32 | 1, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, (1ull << 32) | 1);
	hxa_shutdown(a);
	*state = NULL;

	struct hx *h = hx_boot(NULL);
	assert_non_null(h);
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, (u64)SVSM_PROTOCOL_ATTEST << 32 | 1, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 0);
	assert_int_equal(CALL(h, SVSM_PROTOCOL_ATTEST, SVSM_ATTEST_SERVICES, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_PROTOCOL);
	hx_shutdown(h);
}

/* Manifests above 16 KiB are refused: three services of 8 KiB each. */
static u32 big_manifest(const struct attest_service *s, u32 version, u8 *buf, u32 size)
{
	if (size >= 8192) {
		memset(buf, 0x33, 8192);
	}
	return 8192;
}

static void test_manifest_too_big(void **state)
{
	struct hxa *a = *state;
	static struct attest_service svc[2] = {{.guid = {0x66, 1}, .manifest = big_manifest},
					       {.guid = {0x66, 2}, .manifest = big_manifest}};
	static u8 data[8192];

	assert_int_equal(attest_test_service_register(a->h->m, data, sizeof(data)), 0);
	hx_as_svsm_begin(a->h);
	assert_int_equal(attest_service_register(&svc[0]), 0);
	hx_as_svsm_end(a->h);
	/* 24 + 2 * 24 + 2 * 8192 = 16456 bytes: above SVSM_ATTEST_MANIFEST_MAX. */
	a->req.base.manifest_size = 0x8000;
	expect_rejected(a, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_REQUEST);
	/* One 8 KiB service next to a small one is fine. */
	assert_int_equal(attest_test_service_register(a->h->m, data, 100), 0);
	hx_as_svsm_begin(a->h);
	assert_int_equal(attest_service_register(&svc[1]), 0);
	assert_int_equal(attest_service_unregister(svc[0].guid), 0);
	hx_as_svsm_end(a->h);
	u64 big = hx_pages(a->h, 8);
	a->req.base.manifest_gpa = big;
	assert_int_equal(hxa_write_req(a, false), 0);
	struct guest_regs r;
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 24 + 48 + 100 + 8192);
}

/* The registry's own rules (run as SVSM code). */
static u32 dummy_manifest(const struct attest_service *s, u32 version, u8 *buf, u32 size)
{
	return 0;
}

static void test_registry_rules(void **state)
{
	struct hxa *a = *state;
	static struct attest_service svc[SVSM_ATTEST_MAX_SERVICES + 1];

	hx_as_svsm_begin(a->h);
	struct attest_service null_guid = {.manifest = dummy_manifest};
	assert_int_equal(attest_service_register(&null_guid), -1);
	struct attest_service no_fn = {.guid = {1}};
	assert_int_equal(attest_service_register(&no_fn), -1);
	struct attest_service dup = {.guid = ATTEST_TEST_SERVICE_GUID, .manifest = dummy_manifest};
	assert_int_equal(attest_service_register(&dup), -1);
	unsigned added = 0;
	for (unsigned i = 0; i <= SVSM_ATTEST_MAX_SERVICES; i++) {
		svc[i] = (struct attest_service){.guid = {0x77, (u8)i}, .manifest = dummy_manifest};
		if (attest_service_register(&svc[i]) == 0) {
			added++;
		}
	}
	/* The test service holds one slot. */
	assert_int_equal(added, SVSM_ATTEST_MAX_SERVICES - 1);
	assert_int_equal(attest_service_unregister(svc[0].guid), 0);
	assert_int_equal(attest_service_unregister(svc[0].guid), -1);
	hx_as_svsm_end(a->h);
	/* SERVICES lists them all, in registration order. */
	struct guest_regs r;
	assert_int_equal(hxa_write_req(a, false), 0);
	assert_int_equal(hxa_call(a, SVSM_ATTEST_SERVICES, &r), SVSM_SUCCESS);
	u8 m[PAGE_SIZE];
	read_guest(a, a->manifest_gpa, m, r.rcx);
	assert_int_equal(((struct svsm_manifest_hdr *)m)->count, SVSM_ATTEST_MAX_SERVICES - 1);
	assert_memory_equal(m + 24, test_guid, 16);
	assert_int_equal(m[48 + 1], 1); /* svc[1] second */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_services_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memo_signatures, setup_memo, teardown),
		cmocka_unit_test_setup_teardown(test_services_with_certs, setup, teardown),
		cmocka_unit_test(test_services_certs_none),
		cmocka_unit_test_setup_teardown(test_services_empty_manifest, setup_no_service, teardown),
		cmocka_unit_test_setup_teardown(test_single_service_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_vs_all_distinct_with_one_service, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_never_looks_like_services, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_retry_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_buffer_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_buffer_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certs_buffer_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonce_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misaligned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_gpas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlapping_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_calling_area_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unvalidated_gpa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_callers_gpa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_rmpquery_serves_boot_vmpl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_service_version_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_protocol, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_too_big, setup, teardown),
	};
	return cmocka_run_group_tests_name("attest", tests, NULL, NULL);
}
