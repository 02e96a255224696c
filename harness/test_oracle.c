/* The invariant oracle: clean on a correct SVSM, and it catches deliberately broken handlers. */
#include <svsm/arch.h>
#include <svsm/guestmem.h>
#include <svsm/mm.h>
#include <svsm/vmsa.h>

#include "test_common.h"

#define BROKEN_PROTOCOL 0x80000000u

/*
 * A deliberately broken protocol (AMD's implementation-specific range): each call id
 * breaks one invariant the way a buggy handler could.
 */
/* What broken case 8 keeps (the oracle must report the allocator change). */
static void *leaked;

static u32 broken_handle(u32 call_id, struct svsm_call *call)
{
	const struct svsm_boot_info *b = svsm_boot_params();

	switch (call_id) {
	case 0: /* grant an SVSM page to the guest */
		arch_rmpadjust(b->svsm_base + 0x100000, PAGE_SIZE_4K, 1, VMPL_PERM_READ, false);
		return SVSM_SUCCESS;
	case 1: /* make the startup VMSA guest-writable */
		arch_rmpadjust(vcpu_find_apic(0)->guest_vmsa_gpa, PAGE_SIZE_4K, 1,
			       VMPL_PERM_READ | VMPL_PERM_WRITE, true);
		return SVSM_SUCCESS;
	case 2: { /* grant a page without zeroing it: the guest page in RCX, revoked then re-granted */
		u8 junk = 0xAB;
		arch_rmpadjust(call->rcx, PAGE_SIZE_4K, 1, 0, false);
		arch_guest_write(call->rcx, &junk, 1);
		arch_rmpadjust(call->rcx, PAGE_SIZE_4K, 1, VMPL_PERM_ALL, false);
		return SVSM_SUCCESS;
	}
	case 3: /* point the calling area at the VMSA */
		call->vcpu->caa_gpa = call->vcpu->guest_vmsa_gpa;
		return SVSM_SUCCESS;
	case 4: { /* a double fetch: the guest could change the u64 between the two reads */
		u64 first = 0, again = 0;
		guestmem_read(call->caller_vmpl, call->rcx, &first, sizeof(first));
		guestmem_read(call->caller_vmpl, call->rcx + 4, &again, sizeof(again));
		return first == again ? SVSM_SUCCESS : SVSM_ERR_INVALID_PARAMETER;
	}
	case 5: { /* rejected, but wrote guest memory first */
		u8 junk = 0xCD;
		guestmem_write(call->caller_vmpl, call->rcx + 16, &junk, 1);
		return SVSM_ERR_INVALID_PARAMETER;
	}
	case 6: /* rejected, but changed a mask first */
		arch_rmpadjust(call->rcx, PAGE_SIZE_4K, 1, VMPL_PERM_READ, false);
		return SVSM_ERR_INVALID_ADDRESS;
	case 7: /* rejected, but moved the calling area first */
		call->vcpu->caa_gpa = call->rcx;
		return SVSM_ERR_INVALID_ADDRESS;
	case 8: /* rejected, but kept memory */
		leaked = mem_alloc(64); /* kept on purpose: the oracle must see the allocator change */
		return SVSM_ERR_INVALID_REQUEST;
	case 9: /* set the VMSA bit on a page the SVSM does not know as a VMSA */
		arch_rmpadjust(call->rcx, PAGE_SIZE_4K, 1, VMPL_PERM_READ, true);
		return SVSM_SUCCESS;
	case 10: { /* rejected, but wrote guest memory through the direct map */
		u8 *p = arch_phys_to_virt(call->rcx);
		p[100] = 0xEE;
		return SVSM_ERR_INVALID_PARAMETER;
	}
	default: /* PVALIDATE a page of the legacy ROM/MMIO hole: a hang on KVM */
		arch_pvalidate(0xA0000, PAGE_SIZE_4K, true);
		return SVSM_ERR_INVALID_ADDRESS;
	}
}

static const struct svsm_protocol broken = {
	.id = BROKEN_PROTOCOL,
	.min_version = 1,
	.max_version = 1,
	.name = "broken",
	.handle = broken_handle,
};

static int broken_setup(void **state)
{
	int rc = hx_setup(state);

	if (rc == 0) {
		rc = protocol_register(&broken);
	}
	return rc;
}

static void test_clean_after_boot_and_calls(void **state)
{
	struct hx *h = *state;

	assert_int_equal(hx_oracle(h), 0);
	CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL);
	assert_int_equal(h->violations, 0);
}

static void test_detects_svsm_page_granted(void **state)
{
	struct hx *h = *state;

	hx_call(h, BROKEN_PROTOCOL, 0, 0, 0, 0, NULL);
	assert_true(h->violations > 0);
	assert_non_null(strstr(h->report, "accessible to VMPL1"));
}

static void test_detects_writable_vmsa(void **state)
{
	struct hx *h = *state;

	/* The VMSA is not running while the SVSM handles the call, so the adjust succeeds. */
	hx_call(h, BROKEN_PROTOCOL, 1, 0, 0, 0, NULL);
	assert_true(h->violations > 0);
	assert_non_null(strstr(h->report, "writable by VMPL1"));
}

static void test_detects_unzeroed_grant(void **state)
{
	struct hx *h = *state;
	u64 page = hx_page(h);

	hx_call(h, BROKEN_PROTOCOL, 2, page, 0, 0, NULL);
	assert_true(h->violations > 0);
	assert_non_null(strstr(h->report, "without being zeroed"));
}

static void test_detects_ca_vmsa_overlap(void **state)
{
	struct hx *h = *state;

	/* The call cannot complete normally (its CA is gone), but the oracle must still object. */
	hx_call(h, BROKEN_PROTOCOL, 3, 0, 0, 0, NULL);
	assert_true(h->violations > 0);
	assert_non_null(strstr(h->report, "is the VMSA"));
}

static void test_detects_unknown_vmsa(void **state)
{
	struct hx *h = *state;
	u64 page = hx_page(h);

	hx_call(h, BROKEN_PROTOCOL, 9, page, 0, 0, NULL);
	assert_true(h->violations > 0);
	assert_non_null(strstr(h->report, "no VMSA the SVSM knows"));
}

/* The double-fetch tracker: a re-read of guest bytes within one request is reported with both sites. */
static void test_detects_double_fetch(void **state)
{
	struct hx *h = *state;
	u64 page = hx_page(h);

	hx_call(h, BROKEN_PROTOCOL, 4, page, 0, 0, NULL);
	assert_true(h->violations > 0);
	assert_non_null(strstr(h->report, "double fetch"));
	/* Both call sites are the handler's own lines (named with binutils' addr2line). */
	const char *first = strstr(h->report, "broken_handle (test_oracle.c:");
	assert_non_null(first);
	assert_non_null(strstr(first + 1, "broken_handle (test_oracle.c:"));
	/* Two reads of disjoint bytes are no double fetch. */
	h->violations = 0;
	h->report[0] = '\0';
	CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL);
	assert_int_equal(h->violations, 0);
}

/* The rejected-call check: every kind of change a failing handler could leave behind. */
static void test_detects_rejected_call_writing_guest_memory(void **state)
{
	struct hx *h = *state;
	u64 page = hx_page(h);

	hx_call(h, BROKEN_PROTOCOL, 5, page, 0, 0, NULL);
	assert_non_null(strstr(h->report, "changed guest memory"));
}

static void test_detects_rejected_call_changing_rmp(void **state)
{
	struct hx *h = *state;
	u64 page = hx_page(h);

	hx_call(h, BROKEN_PROTOCOL, 6, page, 0, 0, NULL);
	assert_non_null(strstr(h->report, "changed the RMP entry"));
}

static void test_detects_rejected_call_changing_vcpus(void **state)
{
	struct hx *h = *state;
	u64 page = hx_page(h);

	hx_call(h, BROKEN_PROTOCOL, 7, page, 0, 0, NULL);
	assert_non_null(strstr(h->report, "changed the vCPU table"));
}

static void test_detects_rejected_call_keeping_memory(void **state)
{
	struct hx *h = *state;

	hx_call(h, BROKEN_PROTOCOL, 8, 0, 0, 0, NULL);
	assert_non_null(strstr(h->report, "the allocators went"));
}

static void test_detects_rejected_call_writing_through_direct_map(void **state)
{
	struct hx *h = *state;
	u64 page = hx_page(h);

	hx_call(h, BROKEN_PROTOCOL, 10, page, 0, 0, NULL);
	assert_non_null(strstr(h->report, "changed guest memory"));
}

static void test_detects_pvalidate_of_mmio_hole(void **state)
{
	struct hx *h = *state;

	hx_call(h, BROKEN_PROTOCOL, 11, 0, 0, 0, NULL);
	assert_non_null(strstr(h->report, "MMIO/ROM hole"));
}

static void test_correct_handlers_stay_clean_through_a_scenario(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&h->g, 1, &vmsa), SVSM_SUCCESS);
	assert_int_equal(guest_ap_destroy(&h->g, 1), 0);
	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0, NULL), SVSM_SUCCESS);
	assert_int_equal(guest_pvalidate_range(&h->g, h->g.pool_next, 1024, true), SVSM_SUCCESS);
	assert_int_equal(hx_oracle(h), 0);
}

static void test_protocol_register_rules(void **state)
{
	struct hx *h = *state;
	struct svsm_protocol dup = broken;
	struct svsm_protocol inverted = {.id = 0x80000001u, .min_version = 2, .max_version = 1, .handle = broken_handle};

	(void)h;
	assert_int_equal(protocol_register(&dup), -1);
	assert_int_equal(protocol_register(&inverted), -1);
	assert_int_equal(protocol_register(NULL), -1);
	struct guest_regs r;
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, ((u64)BROKEN_PROTOCOL << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, (1ull << 32) | 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean_after_boot_and_calls, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_svsm_page_granted, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_writable_vmsa, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_unzeroed_grant, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_ca_vmsa_overlap, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_unknown_vmsa, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_double_fetch, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_rejected_call_writing_guest_memory, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_rejected_call_changing_rmp, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_rejected_call_changing_vcpus, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_rejected_call_keeping_memory, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_rejected_call_writing_through_direct_map, broken_setup,
						hx_teardown),
		cmocka_unit_test_setup_teardown(test_detects_pvalidate_of_mmio_hole, broken_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_correct_handlers_stay_clean_through_a_scenario, broken_setup,
						hx_teardown),
		cmocka_unit_test_setup_teardown(test_protocol_register_rules, broken_setup, hx_teardown),
	};
	return cmocka_run_group_tests_name("oracle", tests, NULL, NULL);
}
