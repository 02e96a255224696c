/*
 * Page claims (svsm/include/svsm/claim.h): a call that finds a page it must act on claimed
 * by another vCPU's call answers SVSM_ERR_BUSY, changes nothing it had not finished (a
 * list call: entries before "next" are done, "next" names the busy entry) and the guest
 * retries. Here the other call is played by holding a claim by hand as VMPL0 code; the
 * concurrent runs are in test_concurrency.c.
 */
#include <svsm/claim.h>
#include <svsm/vmsa.h>

#include "test_common.h"

static void hold(struct hx *h, u64 gpa, bool on)
{
	hx_as_svsm_begin(h);
	if (on) {
		assert_true(claim_pages(gpa, 1));
	} else {
		claim_release(gpa, 1);
	}
	hx_as_svsm_end(h);
}

/* One attempt of a core call on vCPU 0 (the driver's BUSY retry would spin on a held claim). */
static u64 once(struct hx *h, u32 call, u64 rcx, u64 rdx, u64 r8)
{
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, call), .rcx = rcx, .rdx = rdx, .r8 = r8};

	assert_int_equal(guest_call_once(&h->g, 0, &r), GUEST_OK);
	assert_int_equal(hx_oracle(h), 0);
	return (u32)r.rax;
}

static void test_pvalidate_busy_entry(void **state)
{
	struct hx *h = *state;
	u64 p = hx_pages(h, 3);
	u64 list = hx_page(h);
	u64 e[3];

	for (int i = 0; i < 3; i++) {
		e[i] = hx_pval_entry(p + (u64)i * PAGE_SIZE, false, false, false);
	}
	assert_int_equal(hx_write_list(h, list, e, 3, 0), 0);
	hold(h, p + PAGE_SIZE, true);
	assert_int_equal(once(h, SVSM_CORE_PVALIDATE, list, 0, 0), SVSM_ERR_BUSY);
	/* Entry 0 done, entry 1 (busy) and 2 untouched; next names the busy one. */
	assert_int_equal(hx_list_next(h, list), 1);
	assert_false(hx_rmp(h, p)->validated);
	assert_true(hx_rmp(h, p + PAGE_SIZE)->validated);
	assert_true(hx_rmp(h, p + 2 * PAGE_SIZE)->validated);
	hold(h, p + PAGE_SIZE, false);
	/* The guest's retry goes on from next. */
	assert_int_equal(once(h, SVSM_CORE_PVALIDATE, list, 0, 0), SVSM_SUCCESS);
	assert_false(hx_rmp(h, p + 2 * PAGE_SIZE)->validated);
}

static void test_deposit_busy_entry(void **state)
{
	struct hx *h = *state;
	u64 p = hx_page(h);
	u64 list = hx_page(h);

	assert_int_equal(hx_write_list(h, list, &p, 1, 0), 0);
	hold(h, p, true);
	u64 rmp = hx_hash_rmp(h);
	assert_int_equal(once(h, SVSM_CORE_DEPOSIT_MEM, list, 0, 0), SVSM_ERR_BUSY);
	assert_int_equal(hx_list_next(h, list), 0);
	assert_int_equal(hx_hash_rmp(h), rmp);
	assert_false(owned_page(p));
	hold(h, p, false);
	assert_int_equal(once(h, SVSM_CORE_DEPOSIT_MEM, list, 0, 0), SVSM_SUCCESS);
	assert_true(owned_page(p));
}

static void test_create_busy_pages(void **state)
{
	struct hx *h = *state;
	u64 vmsa, caa;

	assert_int_equal(guest_prepare_vcpu(&h->g, &vmsa, &caa), 0);
	u64 rmp = hx_hash_rmp(h);
	hold(h, vmsa, true);
	assert_int_equal(once(h, SVSM_CORE_CREATE_VCPU, vmsa, caa, 7), SVSM_ERR_BUSY);
	hold(h, vmsa, false);
	hold(h, caa, true);
	assert_int_equal(once(h, SVSM_CORE_CREATE_VCPU, vmsa, caa, 7), SVSM_ERR_BUSY);
	hold(h, caa, false);
	assert_int_equal(hx_hash_rmp(h), rmp);
	assert_null(vcpu_find_apic(7));
	assert_int_equal(once(h, SVSM_CORE_CREATE_VCPU, vmsa, caa, 7), SVSM_SUCCESS);
	assert_non_null(vcpu_find_apic(7));
}

static void test_delete_busy_vmsa(void **state)
{
	struct hx *h = *state;
	u64 vmsa, caa;

	assert_int_equal(guest_prepare_vcpu(&h->g, &vmsa, &caa), 0);
	assert_int_equal(once(h, SVSM_CORE_CREATE_VCPU, vmsa, caa, 7), SVSM_SUCCESS);
	hold(h, vmsa, true);
	assert_int_equal(once(h, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0), SVSM_ERR_BUSY);
	assert_true(hx_rmp(h, vmsa)->vmsa);
	assert_non_null(vcpu_find_vmsa(vmsa));
	hold(h, vmsa, false);
	assert_int_equal(once(h, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0), SVSM_SUCCESS);
	assert_null(vcpu_find_vmsa(vmsa));
}

static void test_remap_ca_busy_target(void **state)
{
	struct hx *h = *state;
	u64 ca = hx_page(h);
	u64 old = vcpu_find_apic(0)->caa_gpa;

	hold(h, ca, true);
	assert_int_equal(once(h, SVSM_CORE_REMAP_CA, ca, 0, 0), SVSM_ERR_BUSY);
	assert_int_equal(vcpu_find_apic(0)->caa_gpa, old);
	hold(h, ca, false);
}

/* The claims themselves: all or nothing, and only the bits a claim set are released. */
static void test_claim_all_or_nothing(void **state)
{
	struct hx *h = *state;
	u64 p = hx_pages(h, 130);

	hx_as_svsm_begin(h);
	assert_true(claim_pages(p + 64 * PAGE_SIZE, 1));
	/* Across two bitmap words, one page held: nothing of the range stays claimed. */
	assert_false(claim_pages(p, 130));
	assert_true(claim_pages(p, 64));
	assert_true(claim_pages(p + 65 * PAGE_SIZE, 65));
	claim_release(p, 64);
	claim_release(p + 64 * PAGE_SIZE, 66);
	assert_true(claim_pages(p, 130));
	claim_release(p, 130);
	/* Outside guest memory: never claimed. */
	assert_false(claim_pages(h->m->cfg.mem_size, 1));
	assert_false(claim_pages(h->m->cfg.mem_size - PAGE_SIZE, 2));
	hx_as_svsm_end(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pvalidate_busy_entry, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_busy_entry, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_busy_pages, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_delete_busy_vmsa, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_remap_ca_busy_target, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_claim_all_or_nothing, hx_setup, hx_teardown),
	};

	return cmocka_run_group_tests_name("claims", tests, NULL, NULL);
}
