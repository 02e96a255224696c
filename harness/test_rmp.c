/* RMP model: PVALIDATE and RMPADJUST semantics, every return code, 2 MiB rules, RMPUPDATE. */
#include <stdlib.h>

#include "test_common.h"

#define PAGES 2048 /* 8 MiB: four 2 MiB regions */

struct rmp_fixture {
	struct rmp r;
	struct rmp_entry e[PAGES];
};

/* The RMP's counters, added up over its stripes. */
static struct rmp_stats rmp_stat(const struct rmp *r)
{
	struct rmp_stats s;

	rmp_stats_get(r, &s);
	return s;
}

static int rmp_setup(void **state)
{
	struct rmp_fixture *f = calloc(1, sizeof(*f));

	rmp_init(&f->r, f->e, PAGES);
	/* 0-2 MiB: 4 KiB private; 2-4 MiB: one 2 MiB private; 4-8 MiB: shared. */
	for (u64 gpa = 0; gpa < PAGE_2M_SIZE; gpa += PAGE_SIZE) {
		rmp_make_private(&f->r, gpa, false);
	}
	rmp_make_private(&f->r, PAGE_2M_SIZE, true);
	*state = f;
	return 0;
}

static int rmp_teardown(void **state)
{
	free(*state);
	return 0;
}

static struct rmp *R(void **state)
{
	return &((struct rmp_fixture *)*state)->r;
}

static void test_make_private_assigns_vmpl0_only(void **state)
{
	const struct rmp_entry *e = rmp_entry(R(state), 0x1000);

	assert_true(e->assigned);
	assert_false(e->validated);
	assert_int_equal(e->perms[0], VMPL_PERM_ALL);
	assert_int_equal(e->perms[1], 0);
	assert_int_equal(e->perms[3], 0);
}

static void test_pvalidate_4k_success_then_unchanged(void **state)
{
	assert_int_equal(rmp_pvalidate(R(state), 0, 0x3000, PAGE_SIZE_4K, true), RMP_SUCCESS);
	assert_true(rmp_entry(R(state), 0x3000)->validated);
	assert_int_equal(rmp_pvalidate(R(state), 0, 0x3000, PAGE_SIZE_4K, true), RMP_UNCHANGED);
	assert_int_equal(rmp_pvalidate(R(state), 0, 0x3000, PAGE_SIZE_4K, false), RMP_SUCCESS);
	assert_int_equal(rmp_pvalidate(R(state), 0, 0x3000, PAGE_SIZE_4K, false), RMP_UNCHANGED);
}

static void test_pvalidate_rescind_unvalidated_is_unchanged(void **state)
{
	assert_int_equal(rmp_pvalidate(R(state), 0, 0x5000, PAGE_SIZE_4K, false), RMP_UNCHANGED);
	assert_int_equal(rmp_stat(R(state)).unchanged, 1);
}

static void test_pvalidate_misaligned_is_fail_input(void **state)
{
	assert_int_equal(rmp_pvalidate(R(state), 0, 0x3008, PAGE_SIZE_4K, true), RMP_FAIL_INPUT);
	assert_int_equal(rmp_pvalidate(R(state), 0, PAGE_2M_SIZE + 0x1000, PAGE_SIZE_2M, true), RMP_FAIL_INPUT);
}

static void test_pvalidate_bad_size_is_fail_input(void **state)
{
	assert_int_equal(rmp_pvalidate(R(state), 0, 0x3000, (enum page_size)2, true), RMP_FAIL_INPUT);
}

static void test_pvalidate_2m_on_4k_entries_is_sizemismatch(void **state)
{
	assert_int_equal(rmp_pvalidate(R(state), 0, 0, PAGE_SIZE_2M, true), RMP_FAIL_SIZEMISMATCH);
	assert_false(rmp_entry(R(state), 0)->validated);
}

static void test_pvalidate_2m_on_2m_entry_validates_512(void **state)
{
	assert_int_equal(rmp_pvalidate(R(state), 0, PAGE_2M_SIZE, PAGE_SIZE_2M, true), RMP_SUCCESS);
	for (u64 p = 0; p < PAGES_PER_2M; p++) {
		assert_true(rmp_entry(R(state), PAGE_2M_SIZE + p * PAGE_SIZE)->validated);
	}
	assert_int_equal(rmp_stat(R(state)).validate, PAGES_PER_2M);
}

static void test_pvalidate_4k_on_2m_entry_smashes(void **state)
{
	u64 gpa = PAGE_2M_SIZE + 0x5000;

	assert_int_equal(rmp_pvalidate(R(state), 0, gpa, PAGE_SIZE_4K, true), RMP_SUCCESS);
	assert_false(rmp_entry(R(state), gpa)->page_2m);
	assert_false(rmp_entry(R(state), PAGE_2M_SIZE)->page_2m);
	assert_int_equal(rmp_stat(R(state)).psmash, 1);
	/* Now the region is 4 KiB entries: a 2 MiB request is a size mismatch. */
	assert_int_equal(rmp_pvalidate(R(state), 0, PAGE_2M_SIZE, PAGE_SIZE_2M, true), RMP_FAIL_SIZEMISMATCH);
}

static void test_pvalidate_shared_page_faults(void **state)
{
	assert_int_equal(rmp_pvalidate(R(state), 0, 4 * PAGE_2M_SIZE / 2 + 0x1000, PAGE_SIZE_4K, true), RMP_FAULT);
}

static void test_pvalidate_outside_memory_faults(void **state)
{
	assert_int_equal(rmp_pvalidate(R(state), 0, (u64)PAGES * PAGE_SIZE, PAGE_SIZE_4K, true), RMP_FAULT);
}

static void test_pvalidate_above_vmpl0_faults(void **state)
{
	assert_int_equal(rmp_pvalidate(R(state), 1, 0x3000, PAGE_SIZE_4K, true), RMP_FAULT);
	assert_false(rmp_entry(R(state), 0x3000)->validated);
}

static void test_rmpadjust_grants_and_counts(void **state)
{
	rmp_pvalidate(R(state), 0, 0x4000, PAGE_SIZE_4K, true);
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0x4000, PAGE_SIZE_4K, 1, VMPL_PERM_READ | VMPL_PERM_WRITE, false),
			 RMP_SUCCESS);
	assert_int_equal(rmp_entry(R(state), 0x4000)->perms[1], VMPL_PERM_READ | VMPL_PERM_WRITE);
	assert_int_equal(rmp_stat(R(state)).perm_changes, 1);
}

static void test_rmpadjust_own_or_lower_vmpl_is_fail_permission(void **state)
{
	rmp_pvalidate(R(state), 0, 0x4000, PAGE_SIZE_4K, true);
	rmp_rmpadjust(R(state), 0, 0x4000, PAGE_SIZE_4K, 1, VMPL_PERM_ALL, false);
	assert_int_equal(rmp_rmpadjust(R(state), 1, 0x4000, PAGE_SIZE_4K, 1, 0, false), RMP_FAIL_PERMISSION);
	assert_int_equal(rmp_rmpadjust(R(state), 1, 0x4000, PAGE_SIZE_4K, 0, 0, false), RMP_FAIL_PERMISSION);
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0x4000, PAGE_SIZE_4K, 0, 0, false), RMP_FAIL_PERMISSION);
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0x4000, PAGE_SIZE_4K, 4, 0, false), RMP_FAIL_PERMISSION);
}

static void test_rmpadjust_cannot_grant_more_than_held(void **state)
{
	rmp_pvalidate(R(state), 0, 0x4000, PAGE_SIZE_4K, true);
	rmp_rmpadjust(R(state), 0, 0x4000, PAGE_SIZE_4K, 1, VMPL_PERM_READ, false);
	/* VMPL1 holds only R: it cannot give VMPL2 W. */
	assert_int_equal(rmp_rmpadjust(R(state), 1, 0x4000, PAGE_SIZE_4K, 2, VMPL_PERM_WRITE, false),
			 RMP_FAIL_PERMISSION);
	assert_int_equal(rmp_rmpadjust(R(state), 1, 0x4000, PAGE_SIZE_4K, 2, VMPL_PERM_READ, false), RMP_SUCCESS);
	assert_int_equal(rmp_entry(R(state), 0x4000)->perms[2], VMPL_PERM_READ);
}

static void test_rmpadjust_reserved_perm_bits_fail_input(void **state)
{
	rmp_pvalidate(R(state), 0, 0x4000, PAGE_SIZE_4K, true);
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0x4000, PAGE_SIZE_4K, 1, 0x80, false), RMP_FAIL_INPUT);
}

static void test_rmpadjust_unvalidated_is_fail_permission(void **state)
{
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0x6000, PAGE_SIZE_4K, 1, VMPL_PERM_READ, false),
			 RMP_FAIL_PERMISSION);
}

static void test_rmpadjust_2m_on_4k_is_sizemismatch(void **state)
{
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0, PAGE_SIZE_2M, 1, 0, false), RMP_FAIL_SIZEMISMATCH);
}

static void test_rmpadjust_vmsa_bit_only_from_vmpl0(void **state)
{
	rmp_pvalidate(R(state), 0, 0x7000, PAGE_SIZE_4K, true);
	rmp_rmpadjust(R(state), 0, 0x7000, PAGE_SIZE_4K, 1, VMPL_PERM_ALL, false);
	assert_int_equal(rmp_rmpadjust(R(state), 1, 0x7000, PAGE_SIZE_4K, 2, 0, true), RMP_SUCCESS);
	assert_false(rmp_entry(R(state), 0x7000)->vmsa);
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0x7000, PAGE_SIZE_4K, 1, VMPL_PERM_READ, true), RMP_SUCCESS);
	assert_true(rmp_entry(R(state), 0x7000)->vmsa);
	assert_int_equal(rmp_stat(R(state)).vmsa_set, 1);
}

static void test_rmpadjust_in_use_vmsa_is_fail_inuse(void **state)
{
	rmp_pvalidate(R(state), 0, 0x7000, PAGE_SIZE_4K, true);
	rmp_rmpadjust(R(state), 0, 0x7000, PAGE_SIZE_4K, 1, VMPL_PERM_READ, true);
	rmp_set_in_use(R(state), 0x7000, true);
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0x7000, PAGE_SIZE_4K, 1, 0, false), RMP_FAIL_INUSE);
	rmp_set_in_use(R(state), 0x7000, false);
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0x7000, PAGE_SIZE_4K, 1, 0, false), RMP_SUCCESS);
	assert_false(rmp_entry(R(state), 0x7000)->vmsa);
}

static void test_rescind_clears_vmsa_bit(void **state)
{
	rmp_pvalidate(R(state), 0, 0x7000, PAGE_SIZE_4K, true);
	rmp_rmpadjust(R(state), 0, 0x7000, PAGE_SIZE_4K, 1, 0, true);
	assert_int_equal(rmp_pvalidate(R(state), 0, 0x7000, PAGE_SIZE_4K, false), RMP_SUCCESS);
	assert_false(rmp_entry(R(state), 0x7000)->vmsa);
}

static void test_make_shared_and_private_again(void **state)
{
	rmp_pvalidate(R(state), 0, 0x8000, PAGE_SIZE_4K, true);
	rmp_rmpadjust(R(state), 0, 0x8000, PAGE_SIZE_4K, 1, VMPL_PERM_ALL, false);
	assert_int_equal(rmp_make_shared(R(state), 0x8000), RMP_SUCCESS);
	assert_false(rmp_entry(R(state), 0x8000)->assigned);
	assert_int_equal(rmp_make_private(R(state), 0x8000, false), RMP_SUCCESS);
	/* Reassignment clears Validated and every guest permission. */
	assert_false(rmp_entry(R(state), 0x8000)->validated);
	assert_int_equal(rmp_entry(R(state), 0x8000)->perms[1], 0);
}

static void test_make_shared_of_running_vmsa_fails(void **state)
{
	rmp_pvalidate(R(state), 0, 0x9000, PAGE_SIZE_4K, true);
	rmp_set_in_use(R(state), 0x9000, true);
	assert_int_equal(rmp_make_shared(R(state), 0x9000), RMP_FAIL_INUSE);
	assert_true(rmp_entry(R(state), 0x9000)->assigned);
}

static void test_psmash_keeps_state(void **state)
{
	rmp_pvalidate(R(state), 0, PAGE_2M_SIZE, PAGE_SIZE_2M, true);
	assert_int_equal(rmp_psmash(R(state), PAGE_2M_SIZE + 0x3000), RMP_SUCCESS);
	for (u64 p = 0; p < PAGES_PER_2M; p++) {
		const struct rmp_entry *e = rmp_entry(R(state), PAGE_2M_SIZE + p * PAGE_SIZE);
		assert_true(e->validated);
		assert_false(e->page_2m);
	}
	assert_int_equal(rmp_psmash(R(state), PAGE_2M_SIZE), RMP_FAIL_INPUT);
}

static void test_launch_page_is_validated_with_perms(void **state)
{
	const u8 perms[3] = {VMPL_PERM_READ, 0, 0};

	assert_int_equal(rmp_launch_page(R(state), 0xA000, perms, false), RMP_SUCCESS);
	assert_true(rmp_entry(R(state), 0xA000)->validated);
	assert_int_equal(rmp_entry(R(state), 0xA000)->perms[1], VMPL_PERM_READ);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_make_private_assigns_vmpl0_only, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_4k_success_then_unchanged, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_rescind_unvalidated_is_unchanged, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_misaligned_is_fail_input, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_bad_size_is_fail_input, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_2m_on_4k_entries_is_sizemismatch, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_2m_on_2m_entry_validates_512, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_4k_on_2m_entry_smashes, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_shared_page_faults, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_outside_memory_faults, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_above_vmpl0_faults, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_rmpadjust_grants_and_counts, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_rmpadjust_own_or_lower_vmpl_is_fail_permission, rmp_setup,
						rmp_teardown),
		cmocka_unit_test_setup_teardown(test_rmpadjust_cannot_grant_more_than_held, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_rmpadjust_reserved_perm_bits_fail_input, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_rmpadjust_unvalidated_is_fail_permission, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_rmpadjust_2m_on_4k_is_sizemismatch, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_rmpadjust_vmsa_bit_only_from_vmpl0, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_rmpadjust_in_use_vmsa_is_fail_inuse, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_rescind_clears_vmsa_bit, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_make_shared_and_private_again, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_make_shared_of_running_vmsa_fails, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_psmash_keeps_state, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_launch_page_is_validated_with_perms, rmp_setup, rmp_teardown),
	};
	return cmocka_run_group_tests_name("rmp", tests, NULL, NULL);
}
