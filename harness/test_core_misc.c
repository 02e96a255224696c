/* Core protocol: QUERY_PROTOCOL, CONFIGURE_VTOM, REMAP_CA and dispatch errors. */
#include "test_common.h"

static void test_query_core_v1(void **state)
{
	struct hx *h = *state;
	struct guest_regs r;

	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, ((u64)SVSM_PROTOCOL_CORE << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, (1ull << 32) | 1);
}

static void test_query_core_unsupported_version(void **state)
{
	struct hx *h = *state;
	struct guest_regs r;

	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 2, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 0);
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 0, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 0);
}

static void test_query_unknown_protocol(void **state)
{
	struct hx *h = *state;
	struct guest_regs r;

	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, (0x77ull << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 0);
}

static void test_vtom_query_not_supported(void **state)
{
	struct hx *h = *state;
	struct guest_regs r;

	assert_int_equal(CORE(h, SVSM_CORE_CONFIGURE_VTOM, 1, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 0);
}

static void test_vtom_query_reserved_bits(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CORE(h, SVSM_CORE_CONFIGURE_VTOM, 3, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(CORE(h, SVSM_CORE_CONFIGURE_VTOM, 1 | (1ull << 40), 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
}

static void test_vtom_configure_is_invalid_request(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CORE(h, SVSM_CORE_CONFIGURE_VTOM, 0x40000002ull, 0, 0, NULL), SVSM_ERR_INVALID_REQUEST);
}

static void test_vtom_configure_mbz_bits(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CORE(h, SVSM_CORE_CONFIGURE_VTOM, 0x20, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
}

static void test_unknown_core_call(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CORE(h, SVSM_CORE_CALL_COUNT, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_CALL);
	assert_int_equal(CORE(h, 0xFFFFFFFFu, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_CALL);
}

static void test_unknown_protocol(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CALL(h, 0x1234, 0, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_PROTOCOL);
	assert_int_equal(CALL(h, 0xFFFFFFFFu, 6, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_PROTOCOL);
}

static void test_remap_ca_success(void **state)
{
	struct hx *h = *state;
	u64 old = h->m->cfg.caa_gpa;
	u64 ca = hx_page(h);
	u8 junk[8] = {0xAA, 0xBB, 0xCC, 0xDD, 1, 2, 3, 4};
	u8 now[8];

	assert_int_equal(guest_write(&h->g, ca, junk, sizeof(junk)), 0);
	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, ca, 0, 0, NULL), SVSM_SUCCESS);
	/* The new CA's header is cleared; the old one's call_pending too. */
	assert_int_equal(guest_read(&h->g, ca, now, sizeof(now)), 0);
	assert_int_equal(now[0], 0);
	assert_int_equal(now[2], 0);
	assert_int_equal(guest_read(&h->g, old, now, 1), 0);
	assert_int_equal(now[0], 0);
	/* Calls now go through the new CA. */
	h->g.vcpus[0].caa_gpa = ca;
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
	/* A call through the old CA is never seen: call_pending stays set. */
	h->g.vcpus[0].caa_gpa = old;
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	assert_int_equal(guest_call_once(&h->g, 0, &r), GUEST_NOT_RUN);
}

static void test_remap_ca_same_address(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, h->m->cfg.caa_gpa, 0, 0, NULL), SVSM_SUCCESS);
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
}

static void test_remap_ca_misaligned(void **state)
{
	struct hx *h = *state;
	u64 ca = hx_page(h);

	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, ca + 8, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
}

static void test_remap_ca_svsm_page(void **state)
{
	struct hx *h = *state;
	u64 rmp = hx_hash_rmp(h);

	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, h->m->cfg.svsm_base + 0x10000, 0, 0, NULL),
			 SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(hx_hash_rmp(h), rmp);
}

static void test_remap_ca_outside_memory(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, h->m->cfg.mem_size, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, ~0xFFFull, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
}

static void test_remap_ca_unvalidated(void **state)
{
	struct hx *h = *state;
	/* Beyond the driver's pool cursor: private but never validated. */
	u64 gpa = h->m->cfg.mem_size - PAGE_SIZE;

	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, gpa, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
}

static void test_remap_ca_to_vmsa(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&h->g, 1, &vmsa), SVSM_SUCCESS);
	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, vmsa, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	/* Nor to another vCPU's calling area. */
	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, guest_vcpu(&h->g, 1)->caa_gpa, 0, 0, NULL),
			 SVSM_ERR_INVALID_ADDRESS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_query_core_v1, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_query_core_unsupported_version, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_query_unknown_protocol, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_vtom_query_not_supported, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_vtom_query_reserved_bits, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_vtom_configure_is_invalid_request, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_vtom_configure_mbz_bits, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_core_call, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_protocol, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_remap_ca_success, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_remap_ca_same_address, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_remap_ca_misaligned, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_remap_ca_svsm_page, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_remap_ca_outside_memory, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_remap_ca_unvalidated, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_remap_ca_to_vmsa, hx_setup, hx_teardown),
	};
	return cmocka_run_group_tests_name("core_misc", tests, NULL, NULL);
}
