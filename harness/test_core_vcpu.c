/* Core protocol: SVSM_CORE_CREATE_VCPU and SVSM_CORE_DELETE_VCPU, every check in spec order. */
#include <svsm/mm.h>
#include <svsm/vmsa.h>

#include "test_common.h"

struct vc {
	u64 vmsa;
	u64 caa;
};

/* A VMSA page (not 2 MiB aligned) and a calling area, both guest pages, VMSA filled in. */
static struct vc prepare(struct hx *h, u8 vmpl, u64 efer, u64 features)
{
	struct vc v;
	u8 img[VMSA_SIZE];

	v.vmsa = hx_page(h);
	if (IS_ALIGNED(v.vmsa, PAGE_2M_SIZE)) {
		v.vmsa = hx_page(h);
	}
	v.caa = hx_page(h);
	guest_vmsa_template(img, vmpl, features);
	memcpy(img + VMSA_EFER, &efer, 8);
	assert_int_equal(guest_write(&h->g, v.vmsa, img, sizeof(img)), 0);
	return v;
}

static struct vc good(struct hx *h)
{
	return prepare(h, 1, EFER_SVME, EMU_SEV_FEATURES);
}

static u64 create(struct hx *h, struct vc v, u64 apic)
{
	return CORE(h, SVSM_CORE_CREATE_VCPU, v.vmsa, v.caa, apic, NULL);
}

static void test_create_sets_vmsa_and_protects_it(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);
	u8 b = 0;

	assert_int_equal(create(h, v, 5), SVSM_SUCCESS);
	assert_true(hx_rmp(h, v.vmsa)->vmsa);
	assert_int_equal(hx_rmp(h, v.vmsa)->perms[1], VMPL_PERM_READ);
	assert_int_equal(guest_write(&h->g, v.vmsa, &b, 1), -1);
	assert_int_equal(guest_read(&h->g, v.vmsa, &b, 1), 0);
}

static void test_created_vcpu_runs_and_calls(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&h->g, 3, &vmsa), SVSM_SUCCESS);
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	assert_int_equal(hx_call_vcpu(h, 3, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, (1ull << 32) | 1);
	assert_oracle_clean(h);
}

static void test_create_misaligned(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);

	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, v.vmsa + 8, v.caa, 1, NULL), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, v.vmsa, v.caa + 0x800, 1, NULL), SVSM_ERR_INVALID_PARAMETER);
	assert_false(hx_rmp(h, v.vmsa)->vmsa);
}

static void test_create_apic_upper_bits(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);

	assert_int_equal(create(h, v, 1ull << 32), SVSM_ERR_INVALID_PARAMETER);
}

/* An APIC ID with no CPU (no VMPL0 context of the SVSM there): refused, nothing changes. */
static void test_create_apic_without_cpu(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);
	u64 rmp = hx_hash_rmp(h);

	h->m->cfg.apic_id_limit = 4;
	assert_int_equal(create(h, v, 4), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(create(h, v, 0xFFFFFFFF), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(hx_hash_rmp(h), rmp);
	assert_null(vcpu_find_apic(4));
	assert_int_equal(create(h, v, 3), SVSM_SUCCESS);
	assert_oracle_clean(h);
}

static void test_create_vmsa_equals_caa(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);

	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, v.vmsa, v.vmsa, 1, NULL), SVSM_ERR_INVALID_ADDRESS);
}

static void test_create_svsm_pages(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);
	u64 svsm = h->m->cfg.svsm_base + 0x5000;

	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, svsm, v.caa, 1, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, v.vmsa, svsm, 1, NULL), SVSM_ERR_INVALID_ADDRESS);
}

static void test_create_collides_with_active_ca_and_vmsa(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);
	struct vc w = good(h);

	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, v.vmsa, h->m->cfg.caa_gpa, 1, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(create(h, v, 1), SVSM_SUCCESS);
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, w.vmsa, v.vmsa, 2, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, v.vmsa, w.caa, 2, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, w.vmsa, v.caa, 2, NULL), SVSM_ERR_INVALID_ADDRESS);
}

static void test_create_vmpl0_rejected(void **state)
{
	struct hx *h = *state;
	struct vc v = prepare(h, 0, EFER_SVME, EMU_SEV_FEATURES);
	u64 rmp = hx_hash_rmp(h);

	assert_int_equal(create(h, v, 1), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(hx_hash_rmp(h), rmp);
}

static void test_create_vmpl_out_of_range(void **state)
{
	struct hx *h = *state;
	struct vc v = prepare(h, 4, EFER_SVME, EMU_SEV_FEATURES);

	assert_int_equal(create(h, v, 1), SVSM_ERR_INVALID_PARAMETER);
}

/*
 * A VMPL1 caller may create a VMPL2 vCPU, whose calling area VMPL2 must be able to use.
 * The reverse (a VMPL2 caller and a VMPL1 VMSA) runs with a real VMPL2 guest in
 * multivmpl:test_create_vcpu_more_privileged_than_caller.
 */
static void test_create_less_privileged_vcpu(void **state)
{
	struct hx *h = *state;
	struct vc v = prepare(h, 2, EFER_SVME, EMU_SEV_FEATURES);

	/* Its CA is VMPL1-only: VMPL2 could not use it. */
	assert_int_equal(create(h, v, 1), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(guest_rmpadjust(&h->g, v.caa, PAGE_SIZE_4K, 2, VMPL_PERM_READ | VMPL_PERM_WRITE), RMP_SUCCESS);
	assert_int_equal(create(h, v, 1), SVSM_SUCCESS);
	assert_int_equal(hx_rmp(h, v.vmsa)->perms[2], VMPL_PERM_READ);
	assert_int_equal(hx_rmp(h, v.vmsa)->perms[1], 0);
}

static void test_create_svme_clear(void **state)
{
	struct hx *h = *state;
	struct vc v = prepare(h, 1, 0, EMU_SEV_FEATURES);

	assert_int_equal(create(h, v, 1), SVSM_ERR_INVALID_PARAMETER);
	assert_false(hx_rmp(h, v.vmsa)->vmsa);
	assert_int_equal(hx_rmp(h, v.vmsa)->perms[1], VMPL_PERM_ALL);
}

static void test_create_sev_features_mismatch(void **state)
{
	struct hx *h = *state;
	struct vc v = prepare(h, 1, EFER_SVME, EMU_SEV_FEATURES | BIT(2));

	assert_int_equal(create(h, v, 1), SVSM_ERR_INVALID_PARAMETER);
}

/* The startup vCPU's APIC ID cannot be taken over. */
static void test_create_duplicate_apic(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);

	assert_int_equal(create(h, v, 0), SVSM_ERR_INVALID_PARAMETER);
	assert_false(hx_rmp(h, v.vmsa)->vmsa);
}

/*
 * CREATE_VCPU for an APIC ID that has a vCPU at the same VMPL replaces it (Linux's CPU
 * offline/online cycle): the new VMSA serves the APIC ID, may reuse the old calling area,
 * and the old VMSA stays a VMSA until its own DELETE_VCPU.
 */
static void test_create_replaces_same_apic(void **state)
{
	struct hx *h = *state;
	struct vc a = good(h);
	struct vc b = good(h);

	assert_int_equal(create(h, a, 5), SVSM_SUCCESS);
	b.caa = a.caa;
	assert_int_equal(create(h, b, 5), SVSM_SUCCESS);
	assert_int_equal(vcpu_find_apic(5)->guest_vmsa_gpa, b.vmsa);
	assert_true(hx_rmp(h, a.vmsa)->vmsa);
	assert_true(hx_rmp(h, b.vmsa)->vmsa);
	assert_non_null(vcpu_find_vmsa(a.vmsa));
	assert_true(vcpu_is_retired(vcpu_find_vmsa(a.vmsa)));
	/* Old first, as Linux does; the APIC ID keeps its new vCPU. */
	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, a.vmsa, 0, 0, NULL), SVSM_SUCCESS);
	assert_false(hx_rmp(h, a.vmsa)->vmsa);
	assert_int_equal(vcpu_find_apic(5)->guest_vmsa_gpa, b.vmsa);
	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, b.vmsa, 0, 0, NULL), SVSM_SUCCESS);
	assert_null(vcpu_find_apic(5));
}

/* A replacement must be at the same VMPL: an APIC ID's vCPU at another VMPL is not replaced. */
static void test_create_replace_other_vmpl_refused(void **state)
{
	struct hx *h = *state;
	struct vc a = good(h);
	struct vc b = prepare(h, 2, EFER_SVME, EMU_SEV_FEATURES);

	assert_int_equal(create(h, a, 5), SVSM_SUCCESS);
	assert_int_equal(guest_rmpadjust(&h->g, b.caa, PAGE_SIZE_4K, 2, VMPL_PERM_READ | VMPL_PERM_WRITE), RMP_SUCCESS);
	u64 rmp = hx_hash_rmp(h);
	assert_int_equal(create(h, b, 5), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(hx_hash_rmp(h), rmp);
	assert_int_equal(vcpu_find_apic(5)->guest_vmsa_gpa, a.vmsa);
	/* Nor may a replacement take another APIC ID's calling area. */
	struct vc c = good(h);
	c.caa = a.caa;
	assert_int_equal(create(h, c, 6), SVSM_ERR_INVALID_ADDRESS);
}

/* The whole cycle through the guest driver: the vCPU keeps calling, through its new VMSA. */
static void test_cpu_offline_online(void **state)
{
	struct hx *h = *state;
	struct svsm_vcpu *list[SVSM_MAX_VCPUS];
	u64 old_vmsa, new_vmsa = 0;

	assert_int_equal(guest_create_vcpu(&h->g, 3, &old_vmsa), SVSM_SUCCESS);
	for (int cycle = 0; cycle < 3; cycle++) {
		assert_int_equal(guest_cpu_offline_online(&h->g, 3, &new_vmsa), SVSM_SUCCESS);
		assert_int_not_equal(new_vmsa, old_vmsa);
		/* The old VMSA page is the guest's again, the new one is the vCPU's. */
		assert_false(hx_rmp(h, old_vmsa)->vmsa);
		assert_int_equal(hx_rmp(h, old_vmsa)->perms[1], VMPL_PERM_ALL);
		assert_true(hx_rmp(h, new_vmsa)->vmsa);
		assert_int_equal(vcpu_find_apic(3)->guest_vmsa_gpa, new_vmsa);
		struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
		assert_int_equal(hx_call_vcpu(h, 3, &r), SVSM_SUCCESS);
		assert_int_equal(r.rcx, (1ull << 32) | 1);
		assert_oracle_clean(h);
		old_vmsa = new_vmsa;
	}
	assert_int_equal(vcpu_list(list, SVSM_MAX_VCPUS), 2);
}

static void test_create_unvalidated_vmsa(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);
	u64 raw = h->m->cfg.mem_size - 3 * PAGE_SIZE;

	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, raw, v.caa, 1, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, v.vmsa, raw, 1, NULL), SVSM_ERR_INVALID_ADDRESS);
}

static void test_create_outside_memory(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);

	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, h->m->cfg.mem_size, v.caa, 1, NULL), SVSM_ERR_INVALID_ADDRESS);
}

static void test_delete_running_vcpu_is_inuse(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&h->g, 1, &vmsa), SVSM_SUCCESS);
	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0, NULL), SVSM_ERR_DELETE_VCPU_FAIL_INUSE);
	assert_true(hx_rmp(h, vmsa)->vmsa);
	/* EFER.SVME was restored: the vCPU still runs. */
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	assert_int_equal(hx_call_vcpu(h, 1, &r), SVSM_SUCCESS);
}

static void test_delete_stopped_vcpu(void **state)
{
	struct hx *h = *state;
	u64 vmsa;
	u8 buf[64];

	assert_int_equal(guest_create_vcpu(&h->g, 1, &vmsa), SVSM_SUCCESS);
	assert_int_equal(guest_ap_destroy(&h->g, 1), 0);
	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0, NULL), SVSM_SUCCESS);
	assert_false(hx_rmp(h, vmsa)->vmsa);
	assert_int_equal(hx_rmp(h, vmsa)->perms[1], VMPL_PERM_ALL);
	/* The page comes back zeroed and writable. */
	assert_int_equal(guest_read(&h->g, vmsa, buf, sizeof(buf)), 0);
	for (unsigned i = 0; i < sizeof(buf); i++) {
		assert_int_equal(buf[i], 0);
	}
	assert_int_equal(guest_write(&h->g, vmsa, buf, 1), 0);
	assert_null(vcpu_find_apic(1));
}

static void test_delete_unknown_vmsa(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, hx_page(h), 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
}

static void test_delete_misaligned(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&h->g, 1, &vmsa), SVSM_SUCCESS);
	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, vmsa + 0x10, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
}

static void test_delete_startup_vcpu_refused(void **state)
{
	struct hx *h = *state;
	u64 boot = vcpu_find_apic(0)->guest_vmsa_gpa;

	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, boot, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	assert_true(hx_rmp(h, boot)->vmsa);
}

static void test_delete_own_vmsa_never_returns(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&h->g, 2, &vmsa), SVSM_SUCCESS);
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_DELETE_VCPU), .rcx = vmsa};
	assert_int_equal(guest_call(&h->g, 2, &r), GUEST_NO_VCPU);
	assert_null(vcpu_find_apic(2));
	assert_false(hx_rmp(h, vmsa)->vmsa);
	assert_int_equal(hx_oracle(h), 0);
	/* The rest of the machine carries on. */
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
}

static void test_create_out_of_memory_asks_for_a_deposit(void **state)
{
	struct hx *h = *state;
	struct vc v = good(h);
	u64 rmp = hx_hash_rmp(h);

	mm_fail_nth(1);
	assert_int_equal(create(h, v, 1), SVSM_RESULT_NEED_MEMORY | 1);
	mm_fail_nth(0);
	assert_int_equal(hx_hash_rmp(h), rmp);
	assert_null(vcpu_find_apic(1));
	assert_int_equal(create(h, v, 1), SVSM_SUCCESS);
}

static void test_create_delete_many(void **state)
{
	struct hx *h = *state;

	for (u32 apic = 1; apic <= 16; apic++) {
		u64 vmsa;
		assert_int_equal(guest_create_vcpu(&h->g, apic, &vmsa), SVSM_SUCCESS);
		assert_int_equal(guest_ap_destroy(&h->g, apic), 0);
		assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0, NULL), SVSM_SUCCESS);
		guest_vcpu(&h->g, apic)->present = false;
	}
	assert_int_equal(vcpu_list((struct svsm_vcpu *[4]){0}, 4), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_sets_vmsa_and_protects_it, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_created_vcpu_runs_and_calls, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_misaligned, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_apic_upper_bits, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_apic_without_cpu, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_vmsa_equals_caa, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_svsm_pages, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_collides_with_active_ca_and_vmsa, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_vmpl0_rejected, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_vmpl_out_of_range, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_less_privileged_vcpu, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_svme_clear, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_sev_features_mismatch, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_duplicate_apic, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_replaces_same_apic, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_replace_other_vmpl_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_cpu_offline_online, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_unvalidated_vmsa, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_outside_memory, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_delete_running_vcpu_is_inuse, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_delete_stopped_vcpu, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_delete_unknown_vmsa, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_delete_misaligned, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_delete_startup_vcpu_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_delete_own_vmsa_never_returns, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_out_of_memory_asks_for_a_deposit, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_create_delete_many, hx_setup, hx_teardown),
	};
	return cmocka_run_group_tests_name("core_vcpu", tests, NULL, NULL);
}
