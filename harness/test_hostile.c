/*
 * The hostile host: one test per entry of the misbehaviour catalogue (emu/hostile.c), each
 * showing that the SVSM fails safe the way the catalogue says: it keeps working, refuses
 * the affected call without changing anything, terminates, or does not boot. It never
 * uses a byte the host could have changed: its direct map follows the RMP, so touching a
 * page the host took faults (and a finding or an oracle violation fails the test).
 */
#include <stdlib.h>

#include <svsm/ghcb.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/vmsa.h>

#include "dmap.h"
#include "hostile.h"
#include "test_common.h"

/* Boot with @name armed; NULL (machine refused) is what boot-time entries expect. */
static struct hx *boot_with(const char *name)
{
	struct emu_config cfg;
	char err[128];

	emu_config_default(&cfg);
	cfg.console = NULL;
	assert_int_equal(hostile_arm_names(&cfg.boot_hostile, name, true, err, sizeof(err)), 0);
	return hx_boot(&cfg);
}

/* A booted machine with @name armed after boot. */
static struct hx *armed(void **state, const char *name)
{
	struct hx *h = *state;
	char err[128];
	const struct hostile_entry *e = hostile_find(name);

	assert_non_null(e);
	assert_false(e->at_boot);
	assert_int_equal(hostile_arm_names(&h->m->hostile, name, false, err, sizeof(err)), 0);
	return h;
}

/* The take the entry planned: it happened, and it hit @gpa when @gpa is not 0. */
static void assert_taken(struct hx *h, u64 gpa)
{
	const struct emu_take *t = &h->m->hostile.takes[0];

	assert_true(t->done);
	assert_false(t->refused);
	if (gpa) {
		assert_int_equal(t->taken_gpa, ALIGN_DOWN(gpa, PAGE_SIZE));
	}
}

/*
 * Run @call on the boot guest's first vCPU; true if the machine was terminated meanwhile
 * (then it was the SVSM stopping on a fault it cannot handle, nothing else).
 */
static bool call_terminates(struct hx *h, u32 call, u64 rcx, u64 rdx, u64 r8)
{
	jmp_buf jb;
	volatile bool terminated = false;

	h->m->term_jmp = &jb;
	if (setjmp(jb) == 0) {
		hx_call(h, SVSM_PROTOCOL_CORE, call, rcx, rdx, r8, NULL);
	} else {
		terminated = true;
	}
	h->m->term_jmp = NULL;
	if (terminated) {
		core_lock_reset();
		assert_int_equal(h->m->term_set, TERM_SET_SVSM);
		assert_int_equal(h->m->term_code, TERM_SVSM_FAULT);
		assert_int_equal(h->m->findings.count, 0);
	}
	return terminated;
}

static void put_list(struct hx *h, u64 gpa, const u64 *e, u16 n)
{
	assert_int_equal(hx_write_list(h, gpa, e, n, 0), 0);
}

/* --- at boot --------------------------------------------------------------------------- */

static void test_boot_msr_garbage(void **state)
{
	assert_null(boot_with("boot-msr-garbage"));
}

static void test_boot_psc_fail(void **state)
{
	assert_null(boot_with("boot-psc-fail"));
}

static void test_boot_register_bad_echo(void **state)
{
	assert_null(boot_with("boot-register-bad-echo"));
}

static void test_boot_ap_create_fail(void **state)
{
	assert_null(boot_with("boot-ap-create-fail"));
}

/* --- the GHCB protocol, after boot ------------------------------------------------------ */

static void test_run_vmpl_fail(void **state)
{
	struct hx *h = armed(state, "run-vmpl-fail");
	u64 rmp = hx_hash_rmp(h);

	assert_int_equal(hx_call(h, SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), ~0ull);
	assert_int_equal(h->last_status, GUEST_HV_ERROR);
	assert_int_equal(hx_hash_rmp(h), rmp);
	assert_oracle_clean(h);
}

/*
 * A new vCPU (created before the host turns hostile) whose first entry into the SVSM sets
 * up the SVSM's GHCB on it: it must still be served, without a GHCB.
 */
static void vcpu_still_served(void **state, const char *name)
{
	struct hx *h = *state;
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&h->g, 3, &vmsa), SVSM_SUCCESS);
	armed(state, name);
	assert_int_equal(hx_call_vcpu(h, 3, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, (1ull << 32) | 1);
	assert_true(cpu_find_apic(3) == NULL || !cpu_find_apic(3)->ghcb_ready);
	assert_oracle_clean(h);
}

static void test_msr_garbage(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	/* The guest's own run-VMPL answer is garbled too: it sees the error. */
	assert_int_equal(guest_create_vcpu(&h->g, 3, &vmsa), SVSM_SUCCESS);
	armed(state, "msr-garbage");
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	hx_call_vcpu(h, 3, &r);
	assert_int_equal(h->last_status, GUEST_HV_ERROR);
	assert_true(cpu_find_apic(3) == NULL || !cpu_find_apic(3)->ghcb_ready);
	assert_oracle_clean(h);
}

static void test_psc_fail(void **state)
{
	vcpu_still_served(state, "psc-fail");
}

static void test_psc_pretend(void **state)
{
	vcpu_still_served(state, "psc-pretend");
}

static void test_register_bad_echo(void **state)
{
	vcpu_still_served(state, "register-bad-echo");
}

/* Log a line as the SVSM (its console goes through the GHCB). */
static void svsm_log(struct hx *h, const char *line)
{
	hx_as_svsm_begin(h);
	log_warn("%s", line);
	hx_as_svsm_end(h);
}

static bool ring_has(const char *needle)
{
	static char buf[8192];
	size_t n = log_ring_read(buf, sizeof(buf) - 1);

	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void test_ioio_failure_keeps_log(struct hx *h)
{
	u64 bytes = h->m->stats.console_bytes;

	svsm_log(h, "hostile-console-check");
	/* The first failed exit ends the line's trip to the port (the host may have taken that byte). */
	assert_true(h->m->stats.console_bytes <= bytes + 1);
	assert_true(ring_has("hostile-console-check"));
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
}

static void test_ioio_fail(void **state)
{
	test_ioio_failure_keeps_log(armed(state, "ioio-fail"));
}

static void test_exitinfo_garbage(void **state)
{
	test_ioio_failure_keeps_log(armed(state, "exitinfo-garbage"));
}

static void test_ap_create_lie(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&h->g, 2, &vmsa), SVSM_SUCCESS);
	armed(state, "ap-create-lie");
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_DELETE_VCPU), .rcx = vmsa};
	/* The host claims it stopped the context; it did not, but the VMSA bit is gone: no VMRUN. */
	int st = guest_call(&h->g, 2, &r);
	assert_true(st == GUEST_NO_VCPU || st == GUEST_HV_ERROR);
	assert_null(vcpu_find_apic(2));
	assert_false(hx_rmp(h, vmsa)->vmsa);
	assert_int_equal(hx_oracle(h), 0);
}

/* The SVSM's client of GHCB page state changes, on a page the SVSM owns. */
static int svsm_psc(struct hx *h, unsigned op)
{
	hx_as_svsm_begin(h);
	struct svsm_cpu *v = cpu_find_apic(0);
	void *page = page_alloc_zeroed(0);
	u64 gpa = arch_virt_to_phys(page);
	assert_int_equal(arch_pvalidate(gpa, PAGE_SIZE_4K, false), RMP_SUCCESS);
	int rc = ghcb_psc(&v->ghcb, gpa, 1, op);
	/* Whatever the host did, the page goes back to private and validated before reuse. */
	ghcb_msr_psc(gpa, PSC_OP_PRIVATE);
	assert_int_equal(arch_pvalidate(gpa, PAGE_SIZE_4K, true), RMP_SUCCESS);
	memset(page, 0, PAGE_SIZE);
	page_free(page, 0);
	hx_as_svsm_end(h);
	return rc;
}

static void test_psc_partial(void **state)
{
	assert_int_equal(svsm_psc(armed(state, "psc-partial"), PSC_OP_SHARED), GHCB_CLIENT_OK);
}

static void test_psc_no_progress(void **state)
{
	assert_int_equal(svsm_psc(armed(state, "psc-no-progress"), PSC_OP_SHARED), GHCB_CLIENT_NO_PROGRESS);
}

static void test_psc_beyond_end(void **state)
{
	assert_int_equal(svsm_psc(armed(state, "psc-beyond-end"), PSC_OP_SHARED), GHCB_CLIENT_BAD_RESPONSE);
}

/* --- the host takes pages --------------------------------------------------------------- */

static void test_take_svsm_map(void **state)
{
	struct hx *h = armed(state, "take-svsm-map");

	assert_true(call_terminates(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0));
	assert_taken(h, h->m->cfg.svsm_base);
	assert_int_equal(h->m->faults.last.kind, RMP_FAULT_NPF);
}

static void test_reassign_svsm_map(void **state)
{
	struct hx *h = armed(state, "reassign-svsm-map");

	assert_true(call_terminates(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0));
	assert_taken(h, h->m->cfg.svsm_base);
	assert_int_equal(h->m->faults.last.kind, RMP_FAULT_VC_NOT_VALIDATED);
}

static void test_take_svsm_vcpu(void **state)
{
	struct hx *h = armed(state, "take-svsm-vcpu");

	assert_true(call_terminates(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0));
	assert_taken(h, 0);
}

static void test_take_caller_vmsa(void **state)
{
	struct hx *h = armed(state, "take-caller-vmsa");
	u64 vmsa = vcpu_find_apic(0)->guest_vmsa_gpa;

	assert_true(call_terminates(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0));
	assert_taken(h, vmsa);
}

static void test_reassign_caller_vmsa(void **state)
{
	struct hx *h = armed(state, "reassign-caller-vmsa");
	u64 vmsa = vcpu_find_apic(0)->guest_vmsa_gpa;

	assert_true(call_terminates(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0));
	assert_taken(h, vmsa);
	assert_int_equal(h->m->faults.last.kind, RMP_FAULT_VC_NOT_VALIDATED);
}

static void test_take_svsm_ghcb(void **state)
{
	struct hx *h = armed(state, "take-svsm-ghcb");
	u64 ghcb = cpu_find_apic(0)->ghcb.gpa;
	jmp_buf jb;

	/* The take happens at the next call's first opportunity; the next GHCB use faults. */
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
	assert_taken(h, ghcb);
	h->m->term_jmp = &jb;
	if (setjmp(jb) == 0) {
		svsm_log(h, "console through a GHCB the host took");
		fail_msg("the SVSM wrote its GHCB after the host made it private");
	}
	h->m->term_jmp = NULL;
	assert_int_equal(h->m->term_code, TERM_SVSM_FAULT);
	assert_int_equal(h->m->faults.last.kind, RMP_FAULT_NPF);
}

static void test_take_caller_ca(void **state)
{
	struct hx *h = armed(state, "take-caller-ca");
	u64 ca = h->g.vcpus[0].caa_gpa;
	u64 owned = owned_count();

	assert_int_equal(hx_call(h, SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), ~0ull);
	assert_int_equal(h->last_status, GUEST_FAULT);
	assert_taken(h, ca);
	assert_int_equal(owned_count(), owned);
	assert_int_equal(h->m->findings.count, 0);
	assert_oracle_clean(h);
}

static void test_take_list_page(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 p = hx_page(h);
	u64 e = hx_pval_entry(p, false, false, false);

	put_list(h, list, &e, 1);
	armed(state, "take-list-page");
	assert_int_equal(CORE(h, SVSM_CORE_PVALIDATE, list, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_taken(h, list);
	assert_true(hx_rmp(h, p)->validated);
}

static void test_take_pvalidate_target(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 p = hx_page(h);
	u64 e = hx_pval_entry(p, false, false, false);

	put_list(h, list, &e, 1);
	armed(state, "take-pvalidate-target");
	assert_int_equal(CORE(h, SVSM_CORE_PVALIDATE, list, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_taken(h, p);
	assert_int_equal(hx_list_next(h, list), 0);
	assert_false(hx_rmp(h, p)->assigned);
}

static void test_reassign_pvalidate_target(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 p = hx_page(h);
	u64 e = hx_pval_entry(p, false, false, false);

	put_list(h, list, &e, 1);
	armed(state, "reassign-pvalidate-target");
	u64 rc = CORE(h, SVSM_CORE_PVALIDATE, list, 0, 0, NULL);
	assert_true(rc >= SVSM_ERR_INCOMPLETE && rc != SVSM_ERR_INCOMPLETE);
	assert_taken(h, p);
	assert_int_equal(hx_list_next(h, list), 0);
	assert_false(hx_rmp(h, p)->validated);
}

static void test_take_deposit_page(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 p = hx_page(h);

	put_list(h, list, &p, 1);
	armed(state, "take-deposit-page");
	assert_int_equal(CORE(h, SVSM_CORE_DEPOSIT_MEM, list, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_taken(h, p);
	assert_false(owned_page(p));
	assert_int_equal(hx_list_next(h, list), 0);
}

static void test_take_withdraw_buffer(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 p = hx_page(h);
	u64 buf = hx_page(h);

	put_list(h, list, &p, 1);
	assert_int_equal(CORE(h, SVSM_CORE_DEPOSIT_MEM, list, 0, 0, NULL), SVSM_SUCCESS);
	armed(state, "take-withdraw-buffer");
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, buf, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_taken(h, buf);
	assert_true(owned_page(p));
	for (unsigned v = 1; v < RMP_VMPL_COUNT; v++) {
		assert_int_equal(hx_rmp(h, p)->perms[v], 0);
	}
}

static void test_take_new_vmsa(void **state)
{
	struct hx *h = *state;
	u64 vmsa, caa;

	assert_int_equal(guest_prepare_vcpu(&h->g, &vmsa, &caa), 0);
	armed(state, "take-new-vmsa");
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, vmsa, caa, 5, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_taken(h, vmsa);
	assert_null(vcpu_find_apic(5));
	assert_false(hx_rmp(h, vmsa)->vmsa);
}

static void test_take_new_ca(void **state)
{
	struct hx *h = *state;
	u64 vmsa, caa;

	assert_int_equal(guest_prepare_vcpu(&h->g, &vmsa, &caa), 0);
	armed(state, "take-new-ca");
	struct rmp_entry before = *hx_rmp(h, vmsa);
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, vmsa, caa, 5, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_taken(h, caa);
	assert_null(vcpu_find_apic(5));
	assert_memory_equal(hx_rmp(h, vmsa), &before, sizeof(before));
}

/* --- the catalogue and the machinery behind it ----------------------------------------- */

/* Every catalogue entry names a test of this suite (docs/hostile.md lists them). */
static void test_catalogue_is_complete(void **state)
{
	assert_true(hostile_entry_count >= 20);
	for (unsigned i = 0; i < hostile_entry_count; i++) {
		const struct hostile_entry *e = &hostile_entries[i];
		assert_non_null(e->arm);
		assert_true(!strncmp(e->test, "hostile:test_", 13));
		assert_ptr_equal(hostile_find(e->name), e);
	}
	char err[128];
	struct emu_hostile h = {0};
	assert_int_equal(hostile_arm_names(&h, "take-svsm-map,nonsense", false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nonsense"));
	assert_true(hostile_names_have_boot("ioio-fail,boot-psc-fail"));
	assert_false(hostile_names_have_boot("ioio-fail"));
}

/* Without a take the SVSM's own direct-map accesses never fault: the check is not vacuous. */
static void test_direct_map_faults_on_unvalidated_page(void **state)
{
	struct hx *h = *state;
	u64 p = hx_page(h);
	jmp_buf jb;

	assert_non_null(h->m->svsm_map);
	hx_as_svsm_begin(h);
	volatile u8 *va = arch_phys_to_virt(p);
	assert_int_equal(va[0], 0); /* validated: readable */
	assert_int_equal(arch_pvalidate(p, PAGE_SIZE_4K, false), RMP_SUCCESS);
	h->m->term_jmp = &jb;
	if (setjmp(jb) == 0) {
		(void)va[0];
		fail_msg("a read of an unvalidated page through the direct map went through");
	}
	h->m->term_jmp = NULL;
	hx_as_svsm_end(h);
	assert_int_equal(h->m->term_code, TERM_SVSM_FAULT);
	assert_int_equal(h->m->faults.last.kind, RMP_FAULT_VC_NOT_VALIDATED);
	assert_non_null(strstr(h->m->term_detail, "not validated"));
}

/* The host's take changes the page's contents: whatever the SVSM saw before is gone. */
static void test_take_scrambles_the_page(void **state)
{
	struct hx *h = *state;
	u64 p = hx_page(h);
	u8 b = 0x11;

	assert_int_equal(guest_write(&h->g, p, &b, 1), 0);
	assert_int_equal(emu_host_take_page(h->m, p, TAKE_OP_REASSIGN), RMP_SUCCESS);
	assert_true(hx_rmp(h, p)->assigned);
	assert_false(hx_rmp(h, p)->validated);
	assert_int_equal(emu_mem(h->m, p)[0], 0xA5);
	/* A running VMSA cannot be taken. */
	assert_int_equal(emu_host_take_page(h->m, vcpu_find_apic(0)->guest_vmsa_gpa, TAKE_OP_SHARED), RMP_FAIL_INUSE);
}

#define HT(fn) cmocka_unit_test_setup_teardown(test_##fn, hx_setup, hx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_msr_garbage),
		cmocka_unit_test(test_boot_psc_fail),
		cmocka_unit_test(test_boot_register_bad_echo),
		cmocka_unit_test(test_boot_ap_create_fail),
		HT(run_vmpl_fail),
		HT(msr_garbage),
		HT(psc_fail),
		HT(psc_pretend),
		HT(register_bad_echo),
		HT(ioio_fail),
		HT(exitinfo_garbage),
		HT(ap_create_lie),
		HT(psc_partial),
		HT(psc_no_progress),
		HT(psc_beyond_end),
		HT(take_svsm_map),
		HT(reassign_svsm_map),
		HT(take_svsm_vcpu),
		HT(take_caller_vmsa),
		HT(reassign_caller_vmsa),
		HT(take_svsm_ghcb),
		HT(take_caller_ca),
		HT(take_list_page),
		HT(take_pvalidate_target),
		HT(reassign_pvalidate_target),
		HT(take_deposit_page),
		HT(take_withdraw_buffer),
		HT(take_new_vmsa),
		HT(take_new_ca),
		cmocka_unit_test(test_catalogue_is_complete),
		HT(direct_map_faults_on_unvalidated_page),
		HT(take_scrambles_the_page),
	};
	return cmocka_run_group_tests_name("hostile", tests, NULL, NULL);
}
