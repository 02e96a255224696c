/* GHCB: the core's client against the emulated hypervisor, MSR and page protocol, misuse and hostile answers. */
#include <svsm/ghcb_client.h>
#include <svsm/log.h>
#include <svsm/panic.h>

#include "test_common.h"

static struct ghcb_page *svsm_ghcb(void)
{
	return &cpu_find_apic(0)->ghcb;
}

/* Run the body as the SVSM on the startup vCPU. */
#define AS_SVSM(h, body)                                                         \
	do {                                                                     \
		hx_as_svsm_begin(h);                                             \
		body;                                                            \
		hx_as_svsm_end(h);                                               \
	} while (0)

static void test_msr_sev_info(void **state)
{
	struct hx *h = *state;
	u16 min = 0, max = 0;
	u8 cbit = 0;
	int rc;

	AS_SVSM(h, rc = ghcb_msr_sev_info(&min, &max, &cbit));
	assert_int_equal(rc, GHCB_CLIENT_OK);
	assert_int_equal(min, 1);
	assert_int_equal(max, 2);
	assert_int_equal(cbit, EMU_CBIT);
}

static void test_msr_cpuid(void **state)
{
	struct hx *h = *state;
	u32 ebx = 0;
	int rc;

	AS_SVSM(h, rc = ghcb_msr_cpuid(0x8000001F, 1, &ebx));
	assert_int_equal(rc, GHCB_CLIENT_OK);
	assert_int_equal(ebx & 0x3F, EMU_CBIT);
	assert_int_equal((ebx >> 12) & 0xF, 4);
	AS_SVSM(h, rc = ghcb_msr_cpuid(0x8000001F, 4, &ebx));
	assert_int_equal(rc, GHCB_CLIENT_INVALID);
}

static void test_msr_hv_features(void **state)
{
	struct hx *h = *state;
	u64 f = 0;
	int rc;

	AS_SVSM(h, rc = ghcb_msr_hv_features(&f));
	assert_int_equal(rc, GHCB_CLIENT_OK);
	assert_true(f & GHCB_HV_FT_SNP);
	assert_true(f & GHCB_HV_FT_SNP_MULTI_VMPL);
	assert_true(f & GHCB_HV_FT_SNP_AP_CREATION);
}

static void test_msr_psc_round_trip(void **state)
{
	struct hx *h = *state;
	u64 gpa = h->m->cfg.mem_size - PAGE_SIZE;
	int rc1, rc2;

	AS_SVSM(h, rc1 = ghcb_msr_psc(gpa, PSC_OP_SHARED));
	assert_int_equal(rc1, GHCB_CLIENT_OK);
	assert_false(hx_rmp(h, gpa)->assigned);
	AS_SVSM(h, rc2 = ghcb_msr_psc(gpa, PSC_OP_PRIVATE));
	assert_int_equal(rc2, GHCB_CLIENT_OK);
	assert_true(hx_rmp(h, gpa)->assigned);
	assert_false(hx_rmp(h, gpa)->validated);
	AS_SVSM(h, rc1 = ghcb_msr_psc(gpa, 7));
	assert_int_equal(rc1, GHCB_CLIENT_INVALID);
}

static void test_msr_register_private_page_refused(void **state)
{
	struct hx *h = *state;
	int rc;

	AS_SVSM(h, rc = ghcb_msr_register(h->m->cfg.svsm_base + 0x7000));
	assert_int_equal(rc, GHCB_CLIENT_BAD_RESPONSE);
}

static void test_msr_register_bad_echo(void **state)
{
	struct hx *h = *state;
	u64 gpa = h->m->cfg.mem_size - PAGE_SIZE;
	int rc;

	AS_SVSM(h, rc = ghcb_msr_psc(gpa, PSC_OP_SHARED));
	assert_int_equal(rc, 0);
	h->m->hostile.register_bad_echo = true;
	AS_SVSM(h, rc = ghcb_msr_register(gpa));
	assert_int_equal(rc, GHCB_CLIENT_BAD_RESPONSE);
}

static void test_msr_garbage_answers(void **state)
{
	struct hx *h = *state;
	u16 min, max;
	u8 cbit;
	u64 f;
	int rc1, rc2;

	h->m->hostile.msr_garbage = true;
	AS_SVSM(h, rc1 = ghcb_msr_sev_info(&min, &max, &cbit));
	AS_SVSM(h, rc2 = ghcb_msr_hv_features(&f));
	assert_int_equal(rc1, GHCB_CLIENT_BAD_RESPONSE);
	assert_int_equal(rc2, GHCB_CLIENT_BAD_RESPONSE);
}

static void test_msr_run_vmpl_error(void **state)
{
	struct hx *h = *state;

	h->m->hostile.run_vmpl_fail = true;
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	assert_int_equal(guest_call_once(&h->g, 0, &r), GUEST_HV_ERROR);
}

static void test_nae_hv_features(void **state)
{
	struct hx *h = *state;
	u64 f = 0;
	int rc;

	AS_SVSM(h, rc = ghcb_hv_features(svsm_ghcb(), &f));
	assert_int_equal(rc, GHCB_CLIENT_OK);
	assert_true(f & GHCB_HV_FT_SNP_MULTI_VMPL);
}

static void test_nae_ioio_console(void **state)
{
	struct hx *h = *state;
	u64 before = h->m->stats.console_bytes;
	int rc;

	AS_SVSM(h, rc = ghcb_ioio_write(svsm_ghcb(), EMU_SERIAL_PORT, "hello", 5));
	assert_int_equal(rc, GHCB_CLIENT_OK);
	assert_int_equal(h->m->stats.console_bytes, before + 5);
	assert_int_equal(emu_exits(h->m, EXIT_NAE_IOIO) >= 5, 1);
}

/* Hand-craft a request in the SVSM's GHCB page and exit with it. */
static u64 raw_nae(struct hx *h, void (*fill)(struct ghcb *g, u64 gpa), u64 *info2)
{
	struct ghcb_page *gp = svsm_ghcb();

	hx_as_svsm_begin(h);
	memset(gp->ghcb, 0, sizeof(*gp->ghcb));
	fill(gp->ghcb, gp->gpa);
	arch_ghcb_msr_write(gp->gpa);
	arch_vmgexit();
	hx_as_svsm_end(h);
	*info2 = ghcb_get_sw_exit_info_2(gp->ghcb);
	return ghcb_get_sw_exit_info_1(gp->ghcb);
}

static void fill_bad_usage(struct ghcb *g, u64 gpa)
{
	g->usage = 1;
	ghcb_set_sw_exit_code(g, SVM_VMGEXIT_HV_FEATURES);
}

static void fill_no_exit_code(struct ghcb *g, u64 gpa)
{
	ghcb_set_sw_exit_info_1(g, 0);
}

static void fill_ioio_without_rax(struct ghcb *g, u64 gpa)
{
	ghcb_set_sw_exit_code(g, SVM_EXIT_IOIO);
	ghcb_set_sw_exit_info_1(g, ((u64)EMU_SERIAL_PORT << 16) | IOIO_DATA_8);
}

static void fill_unknown_exit(struct ghcb *g, u64 gpa)
{
	ghcb_set_sw_exit_code(g, 0x12345);
}

static void fill_psc_bad_scratch(struct ghcb *g, u64 gpa)
{
	ghcb_set_sw_exit_code(g, SVM_VMGEXIT_PSC);
	ghcb_set_sw_scratch(g, gpa + 0x100); /* inside the save area, not the shared buffer */
}

static void fill_psc_no_scratch(struct ghcb *g, u64 gpa)
{
	ghcb_set_sw_exit_code(g, SVM_VMGEXIT_PSC);
}

static void fill_psc_too_many(struct ghcb *g, u64 gpa)
{
	struct psc_hdr hdr = {.cur_entry = 0, .end_entry = PSC_MAX_ENTRIES};

	memcpy(g->shared_buffer, &hdr, sizeof(hdr));
	ghcb_set_sw_exit_code(g, SVM_VMGEXIT_PSC);
	ghcb_set_sw_scratch(g, gpa + GHCB_SHARED_BUFFER_OFFSET);
}

static void fill_ap_create_not_vmsa(struct ghcb *g, u64 gpa)
{
	ghcb_set_sw_exit_code(g, SVM_VMGEXIT_AP_CREATION);
	ghcb_set_sw_exit_info_1(g, SVM_AP_EXITINFO1(SVM_AP_CREATE, 1, 9));
	ghcb_set_sw_exit_info_2(g, gpa - PAGE_SIZE);
	ghcb_set_rax(g, EMU_SEV_FEATURES);
}

static void test_nae_misuse_answered_with_ghcb_errors(void **state)
{
	struct hx *h = *state;
	u64 info2;

	assert_int_equal(raw_nae(h, fill_bad_usage, &info2), GHCB_NAE_ERROR);
	assert_int_equal(info2, GHCB_ERR_INVALID_USAGE);
	assert_int_equal(raw_nae(h, fill_no_exit_code, &info2), GHCB_NAE_ERROR);
	assert_int_equal(info2, GHCB_ERR_MISSING_INPUT);
	assert_int_equal(raw_nae(h, fill_ioio_without_rax, &info2), GHCB_NAE_ERROR);
	assert_int_equal(info2, GHCB_ERR_MISSING_INPUT);
	assert_int_equal(raw_nae(h, fill_unknown_exit, &info2), GHCB_NAE_ERROR);
	assert_int_equal(info2, GHCB_ERR_INVALID_EVENT);
	assert_true(emu_exits(h->m, EXIT_NAE_ERROR) >= 4);
}

static void test_nae_psc_scratch_checks(void **state)
{
	struct hx *h = *state;
	u64 info2;

	assert_int_equal(raw_nae(h, fill_psc_bad_scratch, &info2), GHCB_NAE_ERROR);
	assert_int_equal(info2, GHCB_ERR_INVALID_SCRATCH_AREA);
	assert_int_equal(raw_nae(h, fill_psc_no_scratch, &info2), GHCB_NAE_ERROR);
	assert_int_equal(info2, GHCB_ERR_MISSING_INPUT);
	assert_int_equal(raw_nae(h, fill_psc_too_many, &info2), GHCB_NAE_ERROR);
	assert_int_equal(info2, GHCB_ERR_INVALID_INPUT);
}

static void test_nae_ap_create_needs_vmsa_page(void **state)
{
	struct hx *h = *state;
	u64 info2;

	assert_int_equal(raw_nae(h, fill_ap_create_not_vmsa, &info2), GHCB_NAE_ERROR);
	assert_int_equal(info2, GHCB_ERR_INVALID_INPUT);
	assert_null(emu_vcpu_find(h->m, 9));
}

static void test_psc_through_ghcb(void **state)
{
	struct hx *h = *state;
	u64 gpa = h->m->cfg.mem_size - 8 * PAGE_SIZE;
	int rc;

	AS_SVSM(h, rc = ghcb_psc(svsm_ghcb(), gpa, 8, PSC_OP_SHARED));
	assert_int_equal(rc, GHCB_CLIENT_OK);
	for (unsigned i = 0; i < 8; i++) {
		assert_false(hx_rmp(h, gpa + i * PAGE_SIZE)->assigned);
	}
	AS_SVSM(h, rc = ghcb_psc(svsm_ghcb(), gpa, 8, PSC_OP_PRIVATE));
	assert_int_equal(rc, GHCB_CLIENT_OK);
	assert_true(hx_rmp(h, gpa)->assigned);
}

static void test_psc_more_than_one_buffer(void **state)
{
	struct hx *h = *state;
	u64 gpa = h->m->cfg.mem_size - 600 * PAGE_SIZE;
	int rc;

	AS_SVSM(h, rc = ghcb_psc(svsm_ghcb(), gpa, 600, PSC_OP_SHARED));
	assert_int_equal(rc, GHCB_CLIENT_OK);
	assert_false(hx_rmp(h, gpa + 599 * PAGE_SIZE)->assigned);
	assert_true(emu_exits(h->m, EXIT_NAE_PSC) >= 3);
}

static void test_psc_partial_progress_is_resumed(void **state)
{
	struct hx *h = *state;
	u64 gpa = h->m->cfg.mem_size - 16 * PAGE_SIZE;
	u64 exits = emu_exits(h->m, EXIT_NAE_PSC);
	int rc;

	h->m->hostile.psc_partial = 3;
	AS_SVSM(h, rc = ghcb_psc(svsm_ghcb(), gpa, 16, PSC_OP_SHARED));
	assert_int_equal(rc, GHCB_CLIENT_OK);
	assert_int_equal(emu_exits(h->m, EXIT_NAE_PSC) - exits, 6);
	assert_false(hx_rmp(h, gpa + 15 * PAGE_SIZE)->assigned);
}

static void test_psc_no_progress_detected(void **state)
{
	struct hx *h = *state;
	int rc;

	h->m->hostile.psc_no_progress = true;
	AS_SVSM(h, rc = ghcb_psc(svsm_ghcb(), h->m->cfg.mem_size - PAGE_SIZE, 1, PSC_OP_SHARED));
	assert_int_equal(rc, GHCB_CLIENT_NO_PROGRESS);
}

static void test_psc_failure_reported(void **state)
{
	struct hx *h = *state;
	int rc1, rc2;

	h->m->hostile.psc_fail = true;
	AS_SVSM(h, rc1 = ghcb_psc(svsm_ghcb(), h->m->cfg.mem_size - PAGE_SIZE, 1, PSC_OP_SHARED));
	AS_SVSM(h, rc2 = ghcb_msr_psc(h->m->cfg.mem_size - PAGE_SIZE, PSC_OP_SHARED));
	assert_int_equal(rc1, GHCB_CLIENT_HV_ERROR);
	assert_int_equal(rc2, GHCB_CLIENT_HV_ERROR);
	assert_true(hx_rmp(h, h->m->cfg.mem_size - PAGE_SIZE)->assigned);
}

static void test_ioio_failure_falls_back(void **state)
{
	struct hx *h = *state;
	int rc;

	h->m->hostile.ioio_fail = true;
	AS_SVSM(h, rc = ghcb_ioio_write(svsm_ghcb(), EMU_SERIAL_PORT, "x", 1));
	assert_int_equal(rc, GHCB_CLIENT_HV_ERROR);
	/* Logging through the failing console does not break calls. */
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
}

static void test_ap_create_failure_keeps_svsm_consistent(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	h->m->hostile.ap_create_fail = true;
	/* CREATE_VCPU itself succeeds; the guest's own AP creation is refused. */
	assert_int_equal(guest_create_vcpu(&h->g, 4, &vmsa), ~0ull);
	assert_int_equal(hx_oracle(h), 0);
}

static void test_termination_request(void **state)
{
	struct hx *h = *state;
	jmp_buf jb;

	h->m->term_jmp = &jb;
	if (setjmp(jb) == 0) {
		hx_as_svsm_begin(h);
		ghcb_msr_terminate(TERM_SET_SVSM, 42);
		fail_msg("terminate returned");
	}
	hx_as_svsm_end(h);
	h->m->term_jmp = NULL;
	assert_true(h->m->terminated);
	assert_int_equal(h->m->term_set, TERM_SET_SVSM);
	assert_int_equal(h->m->term_code, 42);
}

static void test_unregistered_ghcb_terminates(void **state)
{
	struct hx *h = *state;
	jmp_buf jb;

	h->m->term_jmp = &jb;
	if (setjmp(jb) == 0) {
		hx_as_svsm_begin(h);
		arch_ghcb_msr_write(h->m->cfg.mem_size - PAGE_SIZE); /* not the registered GHCB */
		arch_vmgexit();
		fail_msg("the hypervisor accepted an unregistered GHCB");
	}
	hx_as_svsm_end(h);
	h->m->term_jmp = NULL;
	assert_true(h->m->terminated);
}

static void test_panic_terminates_with_reason(void **state)
{
	struct hx *h = *state;
	jmp_buf jb;

	h->m->term_jmp = &jb;
	if (setjmp(jb) == 0) {
		hx_as_svsm_begin(h);
		svsm_panic("test panic %d", 7);
	}
	hx_as_svsm_end(h);
	h->m->term_jmp = NULL;
	assert_true(h->m->terminated);
	assert_int_equal(h->m->term_set, TERM_SET_SVSM);
	assert_int_equal(h->m->term_code, TERM_SVSM_PANIC);
	char log[LOG_RING_SIZE];
	log_ring_read(log, sizeof(log));
	assert_non_null(strstr(log, "panic: test panic 7"));
}

static void test_machine_rejects_bad_config(void **state)
{
	struct emu_config c;
	char err[200];

	(void)state;
	emu_config_default(&c);
	c.console = NULL;
	c.mem_size = 1ull << 20; /* invalid: too small */
	assert_null(emu_machine_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "memory size"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_msr_sev_info, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_msr_cpuid, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_msr_hv_features, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_msr_psc_round_trip, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_msr_register_private_page_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_msr_register_bad_echo, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_msr_garbage_answers, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_msr_run_vmpl_error, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_nae_hv_features, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_nae_ioio_console, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_nae_misuse_answered_with_ghcb_errors, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_nae_psc_scratch_checks, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_nae_ap_create_needs_vmsa_page, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_psc_through_ghcb, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_psc_more_than_one_buffer, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_psc_partial_progress_is_resumed, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_psc_no_progress_detected, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_psc_failure_reported, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_ioio_failure_falls_back, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_ap_create_failure_keeps_svsm_consistent, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_termination_request, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_unregistered_ghcb_terminates, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_panic_terminates_with_reason, hx_setup, hx_teardown),
		cmocka_unit_test(test_machine_rejects_bad_config),
	};
	return cmocka_run_group_tests_name("ghcb", tests, NULL, NULL);
}
