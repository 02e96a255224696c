/* VMPL access checks: every access by VMPL1+ is checked against the RMP and faults as hardware would. */
#include <stdlib.h>

#include "test_common.h"

#define PAGES 1024

struct vf {
	struct rmp r;
	struct rmp_entry e[(RMP_TABLE_BYTES(PAGES) + sizeof(struct rmp_entry) - 1) / sizeof(struct rmp_entry)];
	struct rmp_fault f;
};

static int vf_setup(void **state)
{
	struct vf *f = calloc(1, sizeof(*f));

	rmp_init(&f->r, f->e, PAGES);
	for (u64 gpa = 0; gpa < PAGES * PAGE_SIZE / 2; gpa += PAGE_SIZE) {
		rmp_make_private(&f->r, gpa, false);
	}
	/* 0x1000: validated, VMPL1 RW; 0x2000: validated, VMPL1 R; 0x3000: validated, none; 0x4000: unvalidated. */
	for (u64 gpa = 0x1000; gpa <= 0x3000; gpa += PAGE_SIZE) {
		rmp_pvalidate(&f->r, 0, gpa, PAGE_SIZE_4K, true);
	}
	rmp_rmpadjust(&f->r, 0, 0x1000, PAGE_SIZE_4K, 1, VMPL_PERM_READ | VMPL_PERM_WRITE, false);
	rmp_rmpadjust(&f->r, 0, 0x2000, PAGE_SIZE_4K, 1, VMPL_PERM_READ, false);
	*state = f;
	return 0;
}

static int vf_teardown(void **state)
{
	free(*state);
	return 0;
}

static bool check(void **state, u8 vmpl, bool enc, u64 gpa, u64 len, enum rmp_access a)
{
	struct vf *f = *state;

	f->f = (struct rmp_fault){0};
	return rmp_check_access(&f->r, vmpl, enc, gpa, len, a, &f->f);
}

static struct rmp_fault *F(void **state)
{
	return &((struct vf *)*state)->f;
}

static void test_vmpl1_rw_page_allows_read_write(void **state)
{
	assert_true(check(state, 1, true, 0x1000, 16, RMP_ACCESS_READ));
	assert_true(check(state, 1, true, 0x1ff0, 16, RMP_ACCESS_WRITE));
}

static void test_vmpl1_write_to_readonly_is_npf_vmpl(void **state)
{
	assert_true(check(state, 1, true, 0x2000, 8, RMP_ACCESS_READ));
	assert_false(check(state, 1, true, 0x2000, 8, RMP_ACCESS_WRITE));
	assert_int_equal(F(state)->kind, RMP_FAULT_NPF);
	assert_true(F(state)->error_code & NPF_VMPL);
	assert_true(F(state)->error_code & NPF_RMP);
}

static void test_vmpl1_no_permission_is_npf(void **state)
{
	assert_false(check(state, 1, true, 0x3000, 1, RMP_ACCESS_READ));
	assert_int_equal(F(state)->kind, RMP_FAULT_NPF);
	assert_int_equal(F(state)->gpa, 0x3000);
}

static void test_execute_needs_exec_bits(void **state)
{
	assert_false(check(state, 1, true, 0x1000, 1, RMP_ACCESS_EXEC_SUPER));
	assert_false(check(state, 1, true, 0x1000, 1, RMP_ACCESS_EXEC_USER));
	assert_true(check(state, 0, true, 0x1000, 1, RMP_ACCESS_EXEC_SUPER));
}

static void test_unvalidated_is_vc_404(void **state)
{
	assert_false(check(state, 1, true, 0x4000, 1, RMP_ACCESS_READ));
	assert_int_equal(F(state)->kind, RMP_FAULT_VC_NOT_VALIDATED);
	assert_int_equal(F(state)->error_code, VC_NOT_VALIDATED);
	/* Even VMPL0 cannot touch an unvalidated private page. */
	assert_false(check(state, 0, true, 0x4000, 1, RMP_ACCESS_READ));
}

static void test_access_spanning_pages_checks_each(void **state)
{
	/* 0x1ff8..0x2007: RW page then R page: a write faults on the second page. */
	assert_false(check(state, 1, true, 0x1ff8, 16, RMP_ACCESS_WRITE));
	assert_int_equal(F(state)->gpa, 0x2000);
}

static void test_private_access_to_shared_page_is_npf(void **state)
{
	u64 shared = PAGES * PAGE_SIZE / 2 + 0x1000;

	assert_false(check(state, 1, true, shared, 8, RMP_ACCESS_READ));
	assert_int_equal(F(state)->kind, RMP_FAULT_NPF);
	assert_true(check(state, 1, false, shared, 8, RMP_ACCESS_WRITE));
}

static void test_shared_write_to_private_page_is_npf(void **state)
{
	assert_false(check(state, 1, false, 0x1000, 8, RMP_ACCESS_WRITE));
	assert_int_equal(F(state)->kind, RMP_FAULT_NPF);
}

static void test_hypervisor_cannot_touch_private(void **state)
{
	assert_false(check(state, RMP_HYPERVISOR, false, 0x1000, 8, RMP_ACCESS_READ));
	assert_true(check(state, RMP_HYPERVISOR, false, PAGES * PAGE_SIZE / 2, 8, RMP_ACCESS_WRITE));
}

static void test_out_of_range_and_wrap(void **state)
{
	assert_false(check(state, 1, true, PAGES * PAGE_SIZE, 1, RMP_ACCESS_READ));
	assert_int_equal(F(state)->kind, RMP_FAULT_OUT_OF_RANGE);
	assert_false(check(state, 1, true, ~0ull - 4, 16, RMP_ACCESS_READ));
	assert_int_equal(F(state)->kind, RMP_FAULT_OUT_OF_RANGE);
}

static void test_write_without_read_is_illegal(void **state)
{
	struct vf *f = *state;

	f->e[1].perms[1] = VMPL_PERM_WRITE; /* the illegal combination, set behind the model's back */
	assert_false(check(state, 1, true, 0x1000, 8, RMP_ACCESS_WRITE));
	assert_false(check(state, 1, true, 0x1000, 8, RMP_ACCESS_READ));
}

/* Through the machine: the guest driver's accesses are checked and logged. */
static void test_machine_guest_access_faults_are_logged(void **state)
{
	struct hx *h = hx_boot(NULL);
	u8 b = 0;

	assert_non_null(h);
	u64 before = h->m->faults.count;
	/* The SVSM region is VMPL0-only. */
	assert_int_equal(guest_read(&h->g, h->m->cfg.svsm_base, &b, 1), -1);
	assert_int_equal(h->m->faults.count, before + 1);
	assert_int_equal(h->m->faults.last.kind, RMP_FAULT_NPF);
	assert_true(h->m->faults.last.error_code & NPF_VMPL);
	/* The calling area was launched guest-RW. */
	assert_int_equal(guest_write(&h->g, h->m->cfg.caa_gpa + 8, &b, 1), 0);
	hx_shutdown(h);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vmpl1_rw_page_allows_read_write, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_vmpl1_write_to_readonly_is_npf_vmpl, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_vmpl1_no_permission_is_npf, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_execute_needs_exec_bits, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_unvalidated_is_vc_404, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_access_spanning_pages_checks_each, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_private_access_to_shared_page_is_npf, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_shared_write_to_private_page_is_npf, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_hypervisor_cannot_touch_private, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range_and_wrap, vf_setup, vf_teardown),
		cmocka_unit_test_setup_teardown(test_write_without_read_is_illegal, vf_setup, vf_teardown),
		cmocka_unit_test(test_machine_guest_access_faults_are_logged),
	};
	return cmocka_run_group_tests_name("vmpl", tests, NULL, NULL);
}
