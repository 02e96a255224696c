/*
 * A build without a TPM engine (the SNP images link the same absent engine from the
 * core library): protocol 2 is not offered at all.
 */
#include <svsm/vtpm.h>

#include "../test_common.h"
#include "vtpm/tpm_guest.h"

static void test_protocol_not_listed(void **state)
{
	struct hx *h = *state;
	struct guest_regs r;

	assert_false(vtpm_present());
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, (2ull << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 0);
	assert_int_equal(CALL(h, SVSM_PROTOCOL_VTPM, SVSM_VTPM_QUERY, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_PROTOCOL);
	assert_int_equal(CALL(h, SVSM_PROTOCOL_VTPM, SVSM_VTPM_CMD, hx_page(h), 0, 0, NULL),
			 SVSM_ERR_UNSUPPORTED_PROTOCOL);
}

static void test_guest_finds_no_vtpm(void **state)
{
	struct hx *h = *state;
	struct tpm_guest t;

	assert_int_equal(tpm_guest_init(&t, &h->g, 0), TPM_GUEST_NO_VTPM);
	assert_int_equal((u32)t.last_rax, SVSM_ERR_UNSUPPORTED_PROTOCOL);
}

static void test_no_manifest(void **state)
{
	u8 buf[512];
	u32 len = 0;

	assert_int_equal(vtpm_manifest(buf, sizeof(buf), &len), VTPM_MANIFEST_NO_TPM);
	assert_int_equal(vtpm_idle(true), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_protocol_not_listed, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_guest_finds_no_vtpm, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_no_manifest, hx_setup, hx_teardown),
	};

	return cmocka_run_group_tests_name("vtpm_absent", tests, NULL, NULL);
}
