/* The request handler: call_pending rules, exit-code check, EFER.SVME, results and outputs. */
#include <svsm/vmsa.h>

#include "test_common.h"

static u64 boot_vmsa(void)
{
	return vcpu_find_apic(0)->guest_vmsa_gpa;
}

static u64 vmsa_field(struct hx *h, unsigned off)
{
	u64 v;

	memcpy(&v, emu_mem(h->m, boot_vmsa()) + off, 8);
	return v;
}

/* Run VMPL0 from the guest without touching call_pending (a raw VMGEXIT). */
static void raw_run_vmpl0(struct hx *h, u64 rax)
{
	struct emu_vcpu *v = emu_vcpu_find(h->m, 0);

	v->rax = rax;
	v->rcx = 1;
	v->ghcb_msr[1] = GHCB_MSR_RUN_VMPL(0);
	emu_vcpu_set_current(v);
	emu_hv_vmgexit(h->m, v);
	emu_vcpu_set_current(NULL);
}

static void set_pending(struct hx *h, u8 value)
{
	assert_int_equal(guest_write(&h->g, h->m->cfg.caa_gpa, &value, 1), 0);
}

static u8 get_pending(struct hx *h)
{
	u8 b;

	assert_int_equal(guest_read(&h->g, h->m->cfg.caa_gpa, &b, 1), 0);
	return b;
}

static void test_spurious_entry_without_pending(void **state)
{
	struct hx *h = *state;
	struct svsm_counters c0, c1;
	u64 rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL);

	svsm_get_counters(&c0);
	set_pending(h, 0);
	raw_run_vmpl0(h, rax);
	svsm_get_counters(&c1);
	assert_int_equal(c1.spurious_entries, c0.spurious_entries + 1);
	/* Nothing was answered: RAX is what the guest left there. */
	assert_int_equal(emu_vcpu_find(h->m, 0)->rax, rax);
	assert_true(vmsa_field(h, VMSA_EFER) & EFER_SVME);
}

static void test_reserved_pending_value_is_invalid_format(void **state)
{
	struct hx *h = *state;

	set_pending(h, 2);
	raw_run_vmpl0(h, SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL));
	assert_int_equal(emu_vcpu_find(h->m, 0)->rax, SVSM_ERR_INVALID_FORMAT);
	assert_int_equal(get_pending(h), 0);
}

static void test_pending_cleared_and_rax_written(void **state)
{
	struct hx *h = *state;

	set_pending(h, 1);
	raw_run_vmpl0(h, SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL));
	assert_int_equal(emu_vcpu_find(h->m, 0)->rax, SVSM_SUCCESS);
	assert_int_equal(emu_vcpu_find(h->m, 0)->rcx, (1ull << 32) | 1);
	assert_int_equal(get_pending(h), 0);
}

static void test_svme_rearmed_after_call(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
	assert_true(vmsa_field(h, VMSA_EFER) & EFER_SVME);
	assert_int_equal(h->m->stats.vmrun_invalid, 0);
}

static void test_not_a_vmgexit_is_ignored(void **state)
{
	struct hx *h = *state;
	u64 exitcode = 0x72; /* CPUID */

	/* Enter VMPL0 as the hypervisor would after some other exit of the guest. */
	set_pending(h, 1);
	hx_as_svsm_begin(h);
	memcpy(emu_mem(h->m, boot_vmsa()) + VMSA_GUEST_EXITCODE, &exitcode, 8);
	u64 rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL);
	memcpy(emu_mem(h->m, boot_vmsa()) + VMSA_RAX, &rax, 8);
	svsm_request_handle();
	hx_as_svsm_end(h);
	assert_int_equal(vmsa_field(h, VMSA_RAX), rax);
	assert_int_equal(get_pending(h), 1);
	assert_true(vmsa_field(h, VMSA_EFER) & EFER_SVME);
}

static void test_unknown_vcpu_entry_is_harmless(void **state)
{
	struct hx *h = *state;
	struct svsm_counters c0, c1;
	struct emu_vcpu ghost = {.present = true, .apic_id = 77, .vmpl = 0};

	svsm_get_counters(&c0);
	emu_vcpu_set_current(&ghost);
	svsm_request_handle();
	emu_vcpu_set_current(NULL);
	svsm_get_counters(&c1);
	assert_int_equal(c1.spurious_entries, c0.spurious_entries + 1);
	assert_int_equal(hx_oracle(h), 0);
}

static void test_calls_are_counted_by_protocol(void **state)
{
	struct hx *h = *state;
	struct svsm_counters c0, c1;

	svsm_get_counters(&c0);
	CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL);
	CALL(h, 2, 0, 0, 0, 0, NULL);
	CALL(h, 9, 0, 0, 0, 0, NULL);
	svsm_get_counters(&c1);
	assert_int_equal(c1.calls_by_protocol[0], c0.calls_by_protocol[0] + 1);
	assert_int_equal(c1.calls_by_protocol[2], c0.calls_by_protocol[2] + 1);
	assert_int_equal(c1.calls_by_protocol[4], c0.calls_by_protocol[4] + 1);
	assert_int_equal(c1.errors, c0.errors + 2);
}

static void test_upper_rax_bits_select_protocol(void **state)
{
	struct hx *h = *state;
	struct guest_regs r = {.rax = (1ull << 32) | SVSM_CORE_QUERY_PROTOCOL, .rcx = 1};

	/* Protocol 1 (attestation) is not registered here: the call id does not matter. */
	assert_int_equal(hx_call_vcpu(h, 0, &r), SVSM_ERR_UNSUPPORTED_PROTOCOL);
}

static void test_guest_reads_each_register_once(void **state)
{
	struct hx *h = *state;

	u64 reads = emu_vcpu_find(h->m, 0)->svsm_guest_reads;
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
	/* The VMSA is mapped (guest read-only); call_pending is the only guest read: no double fetch. */
	assert_int_equal(emu_vcpu_find(h->m, 0)->svsm_guest_reads - reads, 1);
}

static void test_vmrun_fails_without_vmsa_bit(void **state)
{
	struct hx *h = *state;

	/* A broken SVSM (simulated behind its back) drops the VMSA bit: VMRUN must refuse. */
	h->m->rmp.entries[boot_vmsa() >> PAGE_SHIFT].vmsa = 0;
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	assert_int_equal(guest_call_once(&h->g, 0, &r), GUEST_HV_ERROR);
	assert_int_equal(h->m->stats.vmrun_invalid, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spurious_entry_without_pending, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_reserved_pending_value_is_invalid_format, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_pending_cleared_and_rax_written, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_svme_rearmed_after_call, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_not_a_vmgexit_is_ignored, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_vcpu_entry_is_harmless, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_calls_are_counted_by_protocol, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_upper_rax_bits_select_protocol, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_guest_reads_each_register_once, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_vmrun_fails_without_vmsa_bit, hx_setup, hx_teardown),
	};
	return cmocka_run_group_tests_name("request", tests, NULL, NULL);
}
