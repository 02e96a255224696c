/*
 * The vTPM as an attestation service, on its real engine (libtpms) and the emulated PSP:
 * SVSM_ATTEST_SINGLE_SERVICE(vTPM) returns the EK's TPMT_PUBLIC (what the guest gets from
 * TPM2_CreatePrimary with the default template) with REPORT_DATA = SHA-512(nonce ||
 * manifest) in a report that verifies; SVSM_ATTEST_SERVICES lists the vTPM with the same
 * data; with the vTPM as the only service the two answers still differ; before the
 * guest's TPM2_Startup (no EK can be made) both are refused with nothing written; a new
 * endorsement seed gives a new manifest.
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/x509.h>

#include <svsm/attest.h>
#include <svsm/vtpm.h>

#include "../test_common.h"
#include "lib/hxa.h"
#include "psp/verify.h"
#include "tpm_cmd.h"
#include "vtpm/engine.h"
#include "vtpm/tpm_guest.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

static const u8 manifest_guid[16] = SVSM_MANIFEST_GUID;
static const u8 vtpm_guid[16] = SVSM_VTPM_SERVICE_GUID;
static const u8 test_guid[16] = ATTEST_TEST_SERVICE_GUID;

struct va {
	struct hxa *a;
	struct tpm_guest t;
	u8 rsp[VTPM_MAX_RESPONSE];
	u32 rsp_len;
};

static int boot(void **state, bool test_service)
{
	struct va *v = calloc(1, sizeof(*v));
	struct hxa_opts o = {.fixtures = FIXTURES_DIR, .no_test_service = !test_service};

	*state = v;
	if (!v) {
		return -1;
	}
	/* A fresh TPM in memory at every boot (no store set). */
	v->a = hxa_boot(&o);
	if (!v->a || !vtpm_present() || tpm_guest_init(&v->t, &v->a->h->g, 0) != TPM_GUEST_OK) {
		return -1;
	}
	hxa_prepare(v->a, false);
	memcpy(v->a->req.guid, vtpm_guid, 16);
	return 0;
}

static int setup(void **state)
{
	return boot(state, false);
}

static int setup_with_test_service(void **state)
{
	return boot(state, true);
}

static int teardown(void **state)
{
	struct va *v = *state;

	if (v) {
		vtpm_idle(true);
		hxa_shutdown(v->a);
		emu_vtpm_shutdown();
		free(v);
	}
	return 0;
}

/* One TPM command from the guest; its response code. */
static u32 tpm(struct va *v, const u8 *cmd, size_t len)
{
	assert_int_equal(tpm_guest_send(&v->t, 0, cmd, (u32)len, v->rsp, sizeof(v->rsp), &v->rsp_len), TPM_GUEST_OK);
	return tc_rc(v->rsp, v->rsp_len);
}

#define TPM(v, builder, ...)                                                   \
	({                                                                     \
		u8 cmd_[TC_MAX];                                               \
		size_t n_ = builder(cmd_, ##__VA_ARGS__);                      \
		tpm((v), cmd_, n_);                                            \
	})

/* What a verifier gets from the TPM itself: the guest's own TPM2_CreatePrimary of the EK. */
static size_t guest_ek(struct va *v, u8 *out)
{
	u32 handle;
	const u8 *pub;
	size_t len;

	assert_int_equal(TPM(v, tc_create_ek_rsa), TPM_RC_SUCCESS);
	assert_int_equal(tc_created(v->rsp, v->rsp_len, &handle, &pub, &len), 0);
	memcpy(out, pub, len);
	assert_int_equal(TPM(v, tc_flush_context, handle), TPM_RC_SUCCESS);
	return len;
}

static u64 engine_commands(void)
{
	struct emu_vtpm_stats s;

	emu_vtpm_get_stats(&s);
	return s.commands;
}

/* An attestation that must succeed: its manifest (@m, returned length) and report. */
static u32 attest_ok(struct va *v, u32 call, u8 *m, struct snp_attestation_report *rep)
{
	struct guest_regs r;

	assert_int_equal(hxa_write_req(v->a, call == SVSM_ATTEST_SINGLE_SERVICE), 0);
	assert_int_equal(hxa_call(v->a, call, &r), SVSM_SUCCESS);
	assert_oracle_clean(v->a->h);
	assert_true(r.rcx <= PAGE_SIZE);
	assert_int_equal(guest_read(&v->a->h->g, v->a->manifest_gpa, m, r.rcx), 0);
	assert_int_equal(guest_read(&v->a->h->g, v->a->report_gpa, rep, sizeof(*rep)), 0);
	return (u32)r.rcx;
}

/* The report verifies like a relying party checks it, for this nonce and manifest. */
static void assert_verifies(struct va *v, const u8 *m, u32 mlen, const struct snp_attestation_report *rep)
{
	struct verify_input in = {
		.report = (const u8 *)rep,
		.report_len = sizeof(*rep),
		.nonce = v->a->nonce,
		.nonce_len = sizeof(v->a->nonce),
		.manifest = m,
		.manifest_len = mlen,
		.ark = verify_load_cert(FIXTURES_DIR "/attestation/keys/ark.pem"),
		.ask = verify_load_cert(FIXTURES_DIR "/attestation/keys/ask.pem"),
		.vcek = verify_load_cert(FIXTURES_DIR "/attestation/keys/vcek.pem"),
	};
	struct verify_result vr;
	u8 want[64];

	assert_non_null(in.ark);
	assert_non_null(in.ask);
	assert_non_null(in.vcek);
	int rc = verify_report(&in, &vr);
	if (rc != 0) {
		fail_msg("verify: %s: %s", verify_check_name(vr.failed), vr.detail);
	}
	hxa_report_data(v->a->nonce, sizeof(v->a->nonce), m, mlen, want);
	assert_memory_equal(rep->report_data, want, 64);
	X509_free(in.ark);
	X509_free(in.ask);
	X509_free(in.vcek);
}

/* SINGLE_SERVICE(vTPM): the EK a verifier creates from the default template, attested. */
static void test_single_vtpm_is_ek(void **state)
{
	struct va *v = *state;
	u8 m[PAGE_SIZE], ek[1024];
	struct snp_attestation_report rep;

	assert_int_equal(TPM(v, tc_startup, TPM_SU_CLEAR), TPM_RC_SUCCESS);
	u64 before = engine_commands();
	u32 mlen = attest_ok(v, SVSM_ATTEST_SINGLE_SERVICE, m, &rep);
	/* The EK was made for it (CreatePrimary, FlushContext), by the service's prepare hook. */
	assert_int_equal(engine_commands(), before + 2);
	assert_int_equal(mlen, 314);
	assert_int_equal(guest_ek(v, ek), mlen);
	assert_memory_equal(m, ek, mlen);
	assert_verifies(v, m, mlen, &rep);
	/* Asked again: the cached EK, the TPM is not run. */
	before = engine_commands();
	u8 m2[PAGE_SIZE];
	assert_int_equal(attest_ok(v, SVSM_ATTEST_SINGLE_SERVICE, m2, &rep), mlen);
	assert_int_equal(engine_commands(), before);
	assert_memory_equal(m2, m, mlen);
}

/*
 * SERVICES lists the vTPM with the same data; with the vTPM as the only service, SERVICES
 * and SINGLE_SERVICE still give different manifests and so different REPORT_DATA.
 */
static void test_services_lists_vtpm(void **state)
{
	struct va *v = *state;
	u8 all[PAGE_SIZE], one[PAGE_SIZE];
	struct snp_attestation_report rep_all, rep_one;

	assert_int_equal(TPM(v, tc_startup, TPM_SU_CLEAR), TPM_RC_SUCCESS);
	u32 len_all = attest_ok(v, SVSM_ATTEST_SERVICES, all, &rep_all);
	assert_verifies(v, all, len_all, &rep_all);
	const struct svsm_manifest_hdr *h = (const void *)all;
	const struct svsm_manifest_entry *e = (const void *)(all + sizeof(*h));
	assert_memory_equal(h->guid, manifest_guid, 16);
	assert_int_equal(h->count, 1);
	assert_int_equal(h->size, len_all);
	assert_memory_equal(e->guid, vtpm_guid, 16);
	assert_int_equal(e->offset, sizeof(*h) + sizeof(*e));
	assert_int_equal(e->size, 314);
	assert_int_equal(len_all, e->offset + e->size);

	u32 len_one = attest_ok(v, SVSM_ATTEST_SINGLE_SERVICE, one, &rep_one);
	assert_verifies(v, one, len_one, &rep_one);
	assert_int_equal(len_one, e->size);
	assert_memory_equal(one, all + e->offset, len_one);
	/* The one service's data is never the GUID table: different bytes, different REPORT_DATA. */
	assert_true(len_one != len_all);
	assert_memory_not_equal(one, manifest_guid, 16);
	assert_memory_not_equal(rep_one.report_data, rep_all.report_data, 64);
}

/* Both services: the GUID table in registration order (the vTPM registers at boot). */
static void test_services_with_test_service(void **state)
{
	struct va *v = *state;
	u8 all[PAGE_SIZE], ek[1024];
	struct snp_attestation_report rep;

	assert_int_equal(TPM(v, tc_startup, TPM_SU_CLEAR), TPM_RC_SUCCESS);
	u32 len = attest_ok(v, SVSM_ATTEST_SERVICES, all, &rep);
	assert_verifies(v, all, len, &rep);
	const struct svsm_manifest_hdr *h = (const void *)all;
	const struct svsm_manifest_entry *e = (const void *)(all + sizeof(*h));
	assert_int_equal(h->count, 2);
	assert_memory_equal(e[0].guid, vtpm_guid, 16);
	assert_memory_equal(e[1].guid, test_guid, 16);
	assert_int_equal(guest_ek(v, ek), e[0].size);
	assert_memory_equal(all + e[0].offset, ek, e[0].size);
	assert_int_equal(e[1].size, strlen(ATTEST_TEST_SERVICE_DEFAULT));
	assert_memory_equal(all + e[1].offset, ATTEST_TEST_SERVICE_DEFAULT, e[1].size);
}

/* Guest memory and the channel as a refused call must leave them. */
struct snap {
	u64 report, manifest, rmp;
	struct greq_info greq;
};

static void snap_take(struct va *v, struct snap *s)
{
	s->report = hx_hash_mem(v->a->h, v->a->report_gpa, PAGE_SIZE);
	s->manifest = hx_hash_mem(v->a->h, v->a->manifest_gpa, PAGE_SIZE);
	s->rmp = hx_hash_rmp(v->a->h);
	hxa_greq_info(v->a, &s->greq);
}

static void expect_refused(struct va *v, u32 call, u32 want)
{
	struct snap before, after;
	struct guest_regs r;

	assert_int_equal(hxa_write_req(v->a, call == SVSM_ATTEST_SINGLE_SERVICE), 0);
	snap_take(v, &before);
	assert_int_equal(hxa_call(v->a, call, &r), want);
	assert_oracle_clean(v->a->h);
	snap_take(v, &after);
	assert_true(after.report == before.report);
	assert_true(after.manifest == before.manifest);
	assert_true(after.rmp == before.rmp);
	/* The PSP was never asked: the channel's sequence number did not move. */
	assert_int_equal(after.greq.seqno, before.greq.seqno);
	assert_false(after.greq.disabled);
	/* No size came back: the manifest's is not known. */
	assert_int_equal(r.rcx, v->a->req_gpa);
	assert_int_equal(r.rdx, ~0ull);
	assert_int_equal(r.r8, ~0ull);
}

/*
 * Before the guest's TPM2_Startup the TPM cannot make the EK: SINGLE_SERVICE(vTPM) and
 * SERVICES (which would have to leave the vTPM out or empty) are refused with
 * INVALID_REQUEST, nothing written, the PSP not asked. After TPM2_Startup both work.
 */
static void test_refused_before_startup(void **state)
{
	struct va *v = *state;
	u8 m[PAGE_SIZE];
	struct snp_attestation_report rep;

	expect_refused(v, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_INVALID_REQUEST);
	expect_refused(v, SVSM_ATTEST_SERVICES, SVSM_ERR_INVALID_REQUEST);
	/* Another service is not held hostage: SINGLE of the test service works. */
	memcpy(v->a->req.guid, test_guid, 16);
	assert_int_equal(attest_ok(v, SVSM_ATTEST_SINGLE_SERVICE, m, &rep), strlen(ATTEST_TEST_SERVICE_DEFAULT));
	memcpy(v->a->req.guid, vtpm_guid, 16);
	assert_int_equal(TPM(v, tc_startup, TPM_SU_CLEAR), TPM_RC_SUCCESS);
	assert_int_equal(attest_ok(v, SVSM_ATTEST_SINGLE_SERVICE, m, &rep), 314);
	u32 len = attest_ok(v, SVSM_ATTEST_SERVICES, m, &rep);
	assert_int_equal(((const struct svsm_manifest_hdr *)m)->count, 2);
	assert_verifies(v, m, len, &rep);
}

/* Only manifest version 0 exists: version 1 is INVALID_PARAMETER, the TPM is not run. */
static void test_version_one_refused(void **state)
{
	struct va *v = *state;

	assert_int_equal(TPM(v, tc_startup, TPM_SU_CLEAR), TPM_RC_SUCCESS);
	v->a->req.manifest_version = 1;
	u64 before = engine_commands();
	expect_refused(v, SVSM_ATTEST_SINGLE_SERVICE, SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(engine_commands(), before);
}

/* A new endorsement seed from the guest (TPM2_ChangeEPS): the next attestation has the new EK. */
static void test_follows_eps(void **state)
{
	struct va *v = *state;
	u8 m1[PAGE_SIZE], m2[PAGE_SIZE], ek[1024];
	struct snp_attestation_report rep;

	assert_int_equal(TPM(v, tc_startup, TPM_SU_CLEAR), TPM_RC_SUCCESS);
	u32 len1 = attest_ok(v, SVSM_ATTEST_SINGLE_SERVICE, m1, &rep);
	assert_int_equal(TPM(v, tc_change_eps), TPM_RC_SUCCESS);
	u32 len2 = attest_ok(v, SVSM_ATTEST_SINGLE_SERVICE, m2, &rep);
	assert_int_equal(len1, len2);
	assert_memory_not_equal(m1, m2, len1);
	assert_int_equal(guest_ek(v, ek), len2);
	assert_memory_equal(ek, m2, len2);
	assert_verifies(v, m2, len2, &rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single_vtpm_is_ek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_services_lists_vtpm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_services_with_test_service, setup_with_test_service, teardown),
		cmocka_unit_test_setup_teardown(test_refused_before_startup, setup_with_test_service, teardown),
		cmocka_unit_test_setup_teardown(test_version_one_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follows_eps, setup, teardown),
	};

	return cmocka_run_group_tests_name("vtpm_attest", tests, NULL, NULL);
}
