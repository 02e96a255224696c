/*
 * The SVSM's guest-request client against a hostile hypervisor and a PSP whose state was
 * changed behind its back: tampered, replayed, dropped and busy answers, every error the
 * guest-request exits can report, oversized and malformed certificate tables, a wrong
 * VMPCK, skipped and replayed sequence numbers, and MSG_KEY_REQ. A bad answer never
 * becomes a report; whatever breaks the sequence wipes VMPCK0 (and the channel stays
 * dead); what does not (a valid answer with an error status, oversized certificates)
 * leaves the channel working.
 */
#include <svsm/attest.h>
#include <svsm/ghcb.h>
#include <svsm/greq.h>

#include "lib/hxa.h"
#include "test_common.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

/* Lies of the hypervisor on the guest-request path: at @point, @times times (-1: always). */
struct lie {
	int times[PSP_HOSTILE_POINT_COUNT];
	u64 value[PSP_HOSTILE_POINT_COUNT];
	unsigned asked[PSP_HOSTILE_POINT_COUNT];
};

static u64 lie_decide(void *ctx, enum psp_hostile_point point, u64 proper)
{
	struct lie *l = ctx;

	l->asked[point]++;
	if (l->times[point] == 0) {
		return proper;
	}
	if (l->times[point] > 0) {
		l->times[point]--;
	}
	return l->value[point];
}

static struct lie lies;

static void lie_arm(struct hxa *a, enum psp_hostile_point point, u64 value, int times)
{
	lies.times[point] = times;
	lies.value[point] = value;
	a->p->hostile = lie_decide;
	a->p->hostile_ctx = &lies;
}

static struct hxa *boot(const struct hxa_opts *extra)
{
	struct hxa_opts o = {.fixtures = FIXTURES_DIR};

	if (extra) {
		o = *extra;
		o.fixtures = FIXTURES_DIR;
	}
	memset(&lies, 0, sizeof(lies));
	struct hxa *a = hxa_boot(&o);
	assert_non_null(a);
	hxa_prepare(a, true);
	return a;
}

static int setup(void **state)
{
	*state = boot(NULL);
	return 0;
}

static int teardown(void **state)
{
	hxa_shutdown(*state);
	return 0;
}

static u64 greq_exits(struct hxa *a)
{
	return emu_exits(a->h->m, EXIT_NAE_GUEST_REQUEST);
}

/* One SERVICES call with certificates; returns RAX. */
static u64 attest(struct hxa *a)
{
	assert_int_equal(hxa_write_req(a, false), 0);
	return hxa_call(a, SVSM_ATTEST_SERVICES, NULL);
}

/* The call failed, nothing reached the guest's buffers, VMPCK0 is wiped and stays so. */
static void assert_failed_and_wiped(struct hxa *a)
{
	u64 rep = hx_hash_mem(a->h, a->report_gpa, PAGE_SIZE);
	u64 man = hx_hash_mem(a->h, a->manifest_gpa, PAGE_SIZE);
	u64 certs = hx_hash_mem(a->h, a->certs_gpa, SNP_CERTS_MAX_SIZE);
	struct greq_info gi;

	assert_int_equal(attest(a), SVSM_ERR_INVALID_REQUEST);
	assert_int_equal(a->h->last_status, GUEST_OK);
	assert_true(hx_hash_mem(a->h, a->report_gpa, PAGE_SIZE) == rep);
	assert_true(hx_hash_mem(a->h, a->manifest_gpa, PAGE_SIZE) == man);
	assert_true(hx_hash_mem(a->h, a->certs_gpa, SNP_CERTS_MAX_SIZE) == certs);
	hxa_greq_info(a, &gi);
	assert_true(gi.disabled);
	assert_int_equal(gi.wipes, 1);
	assert_true(hxa_vmpck0_wiped(a));
	/* Dead for good: no further guest request leaves the SVSM. */
	a->p->hostile = NULL;
	u64 exits = greq_exits(a);
	assert_int_equal(attest(a), SVSM_ERR_INVALID_REQUEST);
	assert_true(greq_exits(a) == exits);
	assert_oracle_clean(a->h);
}

static void assert_channel_works(struct hxa *a)
{
	struct greq_info gi;

	a->p->hostile = NULL;
	assert_int_equal(attest(a), SVSM_SUCCESS);
	hxa_greq_info(a, &gi);
	assert_false(gi.disabled);
	assert_false(hxa_vmpck0_wiped(a));
}

/* A flipped bit anywhere that matters in the answer: ciphertext, tag, header, reserved, seqno. */
static void test_tampered_response(void **state)
{
	static const unsigned offsets[] = {0x60, 0x200, 0x00, 0x0F, 0x10, 0x1F, 0x20, 0x28, 0x30, 0x34, 0x36, 0x3C, 0x40};

	hxa_shutdown(*state);
	*state = NULL;
	for (unsigned i = 0; i < ARRAY_COUNT(offsets); i++) {
		struct hxa *a = boot(NULL);
		lie_arm(a, PSP_HOSTILE_TAMPER, (u64)offsets[i] << 8 | 0x01, 1);
		assert_failed_and_wiped(a);
		hxa_shutdown(a);
	}
}

/* The hypervisor answers a new request with the previous response. */
static void test_replayed_response(void **state)
{
	struct hxa *a = *state;

	assert_int_equal(attest(a), SVSM_SUCCESS);
	lie_arm(a, PSP_HOSTILE_REPLAY, 1, 1);
	assert_failed_and_wiped(a);
}

/* The hypervisor claims success without asking the firmware (the response page is stale). */
static void test_dropped_request(void **state)
{
	struct hxa *a = *state;

	assert_int_equal(attest(a), SVSM_SUCCESS);
	lie_arm(a, PSP_HOSTILE_DROP, 1, 1);
	assert_failed_and_wiped(a);
}

/* "Busy" is retried with the same message; endless busy ends the channel. */
static void test_busy(void **state)
{
	struct hxa *a = *state;
	struct greq_info gi;

	lie_arm(a, PSP_HOSTILE_BUSY, 1, 3);
	assert_int_equal(attest(a), SVSM_SUCCESS);
	assert_int_equal(lies.asked[PSP_HOSTILE_BUSY], 4);
	hxa_greq_info(a, &gi);
	assert_int_equal(gi.seqno, 2);
	lie_arm(a, PSP_HOSTILE_BUSY, 1, -1);
	assert_failed_and_wiped(a);
	assert_int_equal(lies.asked[PSP_HOSTILE_BUSY], 4 + 1 + GREQ_BUSY_RETRIES);
}

/* Every SW_EXITINFO2 other than success: firmware errors, VMM errors, INVALID_LEN where it cannot be. */
static void test_exitinfo2_errors(void **state)
{
	static const u64 values[] = {
		SNP_STATUS_INVALID_PARAM, SNP_STATUS_BAD_SIGNATURE, 1, 0xFFFFFFFF, 3ull << 32, 0xFFFFFFFFull << 32,
		(u64)SNP_GREQ_VMM_BUSY << 32 | 1, (u64)SNP_GREQ_VMM_INVALID_LEN << 32 | 0x16,
	};

	hxa_shutdown(*state);
	*state = NULL;
	for (unsigned i = 0; i < ARRAY_COUNT(values); i++) {
		struct hxa *a = boot(NULL);
		lie_arm(a, PSP_HOSTILE_EXITINFO2, values[i], 1);
		assert_failed_and_wiped(a);
		hxa_shutdown(a);
	}
	/* INVALID_LEN on a plain (not extended) request, which cannot have a certificate buffer. */
	struct hxa *a = boot(NULL);
	hxa_prepare(a, false);
	lie_arm(a, PSP_HOSTILE_EXITINFO2, (u64)SNP_GREQ_VMM_INVALID_LEN << 32, 1);
	assert_failed_and_wiped(a);
	hxa_shutdown(a);
	/* INVALID_LEN after the firmware served the request: the resend is a replay to the PSP. */
	a = boot(NULL);
	lie_arm(a, PSP_HOSTILE_EXITINFO2, (u64)SNP_GREQ_VMM_INVALID_LEN << 32, 1);
	assert_failed_and_wiped(a);
	hxa_shutdown(a);
}

/* SW_EXITINFO1 of the guest-request exit: a GHCB error or an exception to inject. */
static unsigned nae_lies;
static u64 nae_value;

static u64 nae_decide(void *ctx, enum emu_hostile_point point, u64 proper)
{
	if (point == HOSTILE_NAE_EXITINFO1 && nae_lies) {
		nae_lies--;
		return nae_value;
	}
	return proper;
}

static void test_ghcb_errors(void **state)
{
	static const u64 values[] = {GHCB_NAE_EXCEPTION, GHCB_NAE_ERROR, 0x12345678};

	hxa_shutdown(*state);
	*state = NULL;
	for (unsigned i = 0; i < ARRAY_COUNT(values); i++) {
		struct hxa *a = boot(NULL);
		nae_lies = 1;
		nae_value = values[i];
		a->h->m->hostile.decide = nae_decide;
		assert_failed_and_wiped(a);
		assert_int_equal(nae_lies, 0);
		a->h->m->hostile.decide = NULL;
		hxa_shutdown(a);
	}
}

/*
 * Certificates above 16 KiB: the hypervisor answers INVALID_LEN without forwarding, the
 * SVSM sends the same message as a plain request (its sequence number must not be
 * reused for anything else), answers INVALID_REQUEST, and the channel stays in sync.
 */
static void test_certs_too_big(void **state)
{
	struct hxa_opts o = {.extra_cert_bytes = SNP_CERTS_MAX_SIZE};
	struct hxa *a;
	struct greq_info gi;

	hxa_shutdown(*state);
	*state = a = boot(&o);
	u64 rep = hx_hash_mem(a->h, a->report_gpa, PAGE_SIZE);
	assert_int_equal(attest(a), SVSM_ERR_INVALID_REQUEST);
	assert_true(hx_hash_mem(a->h, a->report_gpa, PAGE_SIZE) == rep);
	hxa_greq_info(a, &gi);
	assert_int_equal(gi.seqno, 2);
	assert_int_equal(gi.last_error, GREQ_CERTS_TOO_BIG);
	assert_false(gi.disabled);
	assert_int_equal(greq_exits(a), 2);
	/* Without certificates the SVSM works on. */
	hxa_prepare(a, false);
	assert_channel_works(a);
	/* A hypervisor lying about the pages it needs changes nothing of that. */
	hxa_prepare(a, true);
	lie_arm(a, PSP_HOSTILE_CERT_PAGES, 0, 1);
	assert_int_equal(attest(a), SVSM_ERR_INVALID_REQUEST);
	hxa_prepare(a, false);
	assert_channel_works(a);
}

/* A malformed certificate table (an entry pointing outside the buffer): refused, channel intact. */
static void test_bad_cert_table(void **state)
{
	struct hxa *a = *state;
	struct greq_info gi;

	/* Byte 0x13 is the top byte of the first entry's offset. */
	lie_arm(a, PSP_HOSTILE_CERTS, 0x13ull << 8 | 0x40, 1);
	u64 certs = hx_hash_mem(a->h, a->certs_gpa, SNP_CERTS_MAX_SIZE);
	assert_int_equal(attest(a), SVSM_ERR_INVALID_REQUEST);
	assert_true(hx_hash_mem(a->h, a->certs_gpa, SNP_CERTS_MAX_SIZE) == certs);
	hxa_greq_info(a, &gi);
	assert_int_equal(gi.last_error, GREQ_BAD_CERTS);
	assert_channel_works(a);
}

/*
 * A firmware that answers, authentically, with another report (other REPORT_DATA, another
 * VMPL): never passed on; the channel is intact (the sequence held). A changed MEASUREMENT
 * is not the SVSM's to judge: it passes, and the verifier compares it.
 */
static void test_wrong_report_from_psp(void **state)
{
	struct hxa *a = *state;
	struct greq_info gi;

	lie_arm(a, PSP_HOSTILE_REPORT, 0x50ull << 8 | 0x01, 1);
	u64 rep = hx_hash_mem(a->h, a->report_gpa, PAGE_SIZE);
	assert_int_equal(attest(a), SVSM_ERR_INVALID_REQUEST);
	assert_true(hx_hash_mem(a->h, a->report_gpa, PAGE_SIZE) == rep);
	hxa_greq_info(a, &gi);
	assert_int_equal(gi.last_error, GREQ_BAD_REPORT);
	assert_false(gi.disabled);
	lie_arm(a, PSP_HOSTILE_REPORT, 0x30ull << 8 | 0x02, 1);
	assert_int_equal(attest(a), SVSM_ERR_INVALID_REQUEST);
	lie_arm(a, PSP_HOSTILE_REPORT, 0x90ull << 8 | 0x01, 1);
	assert_int_equal(attest(a), SVSM_SUCCESS);
	assert_channel_works(a);
}

/* The PSP's VMPCK0 is not the SVSM's: the firmware cannot authenticate the message. */
static void test_wrong_vmpck(void **state)
{
	struct hxa *a = *state;

	a->p->st->vmpck[0][7] ^= 0x20;
	assert_failed_and_wiped(a);
	assert_int_equal(a->p->st->last_fw_error, SNP_STATUS_BAD_SIGNATURE);
}

/* The firmware's sequence number moved: the SVSM's next message is a replay, or skips one. */
static void test_sequence_broken(void **state)
{
	struct hxa *a = *state;

	a->p->st->seqno[0] += 2;
	assert_failed_and_wiped(a);
	assert_int_equal(a->p->st->last_fw_error, SNP_STATUS_INVALID_PARAM);
	hxa_shutdown(a);
	*state = a = boot(NULL);
	assert_int_equal(attest(a), SVSM_SUCCESS);
	assert_int_equal(attest(a), SVSM_SUCCESS);
	a->p->st->seqno[0] -= 2;
	assert_failed_and_wiped(a);
}

/* MSG_KEY_REQ through the channel (for the storage work): deterministic, bound to its inputs. */
static void derive(struct hxa *a, const struct snp_msg_key_req *req, u8 key[32], int want_rc, u32 want_status)
{
	u32 status = 0;

	hx_as_svsm_begin(a->h);
	assert_int_equal(greq_claim(), GREQ_OK);
	int rc = greq_derive_key(req, key, &status);
	greq_release();
	hx_as_svsm_end(a->h);
	assert_int_equal(rc, want_rc);
	if (rc == GREQ_STATUS) {
		assert_int_equal(status, want_status);
	}
}

static void test_derive_key(void **state)
{
	struct hxa *a = *state;
	u8 k1[32], k2[32], k3[32], k4[32], k5[32];
	struct snp_msg_key_req req = {.guest_field_select = SNP_KEY_FIELD_MEASUREMENT};

	derive(a, &req, k1, GREQ_OK, 0);
	derive(a, &req, k2, GREQ_OK, 0);
	assert_memory_equal(k1, k2, 32);
	req.vmpl = 1;
	derive(a, &req, k3, GREQ_OK, 0);
	assert_memory_not_equal(k1, k3, 32);
	req.vmpl = 0;
	req.guest_field_select = 0;
	derive(a, &req, k4, GREQ_OK, 0);
	assert_memory_not_equal(k1, k4, 32);
	req.root_key_select = SNP_KEY_ROOT_VMRK;
	derive(a, &req, k5, GREQ_OK, 0);
	assert_memory_not_equal(k4, k5, 32);

	/* Refusals carry a status and leave the channel working. */
	struct snp_msg_key_req bad[] = {
		{.vmpl = 4},
		{.root_key_select = 2},
		{.rsvd = 1},
		{.guest_field_select = 1ull << 40},
		{.guest_svn = 1},
		{.tcb_version = 0xFFull << 56},
	};
	for (unsigned i = 0; i < ARRAY_COUNT(bad); i++) {
		derive(a, &bad[i], k2, GREQ_STATUS, SNP_STATUS_INVALID_PARAM);
	}
	assert_channel_works(a);
	/* The measurement-bound key changes with the launch (another machine size). */
	hxa_shutdown(a);
	*state = NULL;
	struct hxa_opts o = {.fixtures = FIXTURES_DIR};
	a = hxa_boot(&o);
	assert_non_null(a);
	req = (struct snp_msg_key_req){.guest_field_select = SNP_KEY_FIELD_MEASUREMENT};
	derive(a, &req, k2, GREQ_OK, 0);
	assert_memory_equal(k1, k2, 32);
	hxa_shutdown(a);
	struct emu_config cfg;
	emu_config_default(&cfg);
	cfg.console = NULL;
	cfg.mem_size = 512ull << 20;
	char err[256];
	struct psp_config pc = {.keys_dir = FIXTURES_DIR "/attestation/keys", .deterministic = true, .seed = 5};
	struct psp *p = psp_create(&pc, err, sizeof(err));
	assert_non_null(p);
	psp_attach(p, &cfg);
	struct hx *h = hx_boot(&cfg);
	assert_non_null(h);
	hx_as_svsm_begin(h);
	u32 status;
	assert_int_equal(greq_claim(), GREQ_OK);
	assert_int_equal(greq_derive_key(&req, k3, &status), GREQ_OK);
	greq_release();
	hx_as_svsm_end(h);
	assert_memory_not_equal(k1, k3, 32);
	hx_shutdown(h);
	psp_destroy(p);
}

/* The channel has one owner at a time: a second claim is BUSY, never a wait. */
static void test_claim_busy(void **state)
{
	struct hxa *a = *state;

	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_ATTEST, SVSM_ATTEST_SERVICES), .rcx = a->req_gpa};

	assert_int_equal(hxa_write_req(a, false), 0);
	hx_as_svsm_begin(a->h);
	assert_int_equal(greq_claim(), GREQ_OK);
	hx_as_svsm_end(a->h);
	/* One attempt: the guest driver, like Linux, would retry BUSY. */
	assert_int_equal(guest_call_once(&a->h->g, 0, &r), GUEST_OK);
	assert_int_equal((u32)r.rax, SVSM_ERR_BUSY);
	hx_as_svsm_begin(a->h);
	greq_release();
	hx_as_svsm_end(a->h);
	assert_channel_works(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tampered_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replayed_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exitinfo2_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ghcb_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certs_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_cert_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_report_from_psp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_vmpck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequence_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_derive_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_busy, setup, teardown),
	};
	return cmocka_run_group_tests_name("greq", tests, NULL, NULL);
}
