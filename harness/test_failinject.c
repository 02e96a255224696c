/*
 * Allocation-failure injection: for every scenario, make the Nth allocation fail for
 * every N up to the number of allocations the scenario makes. Each time: no crash, the
 * oracle stays clean, the guest sees either SUCCESS with everything done or a spec error
 * code with nothing changed, and the allocators' accounting returns to its baseline
 * (the sanitizer build adds LeakSanitizer on the host side).
 */
#include <svsm/mm.h>

#include "scenario.h"
#include "test_common.h"

struct fi_ctx {
	u64 vmsa;
	u64 list;
	u64 pages;
	u64 buf;
	u64 ca;
};

struct fi_case {
	const char *name;
	void (*prepare)(struct hx *h, struct fi_ctx *c); /* before the baseline; may be NULL */
	u64 (*run)(struct hx *h, struct fi_ctx *c);      /* returns the SVSM result that matters */
	void (*undo)(struct hx *h, struct fi_ctx *c);    /* after SUCCESS: back to the boot state */
};

/* Allocator bytes in use, but the SVSM's CPU contexts (kept for as long as the CPU exists, cpu.h). */
static u64 in_use(void)
{
	static struct svsm_cpu *cpus[SVSM_MAX_VCPUS];
	struct mm_stats s;
	u64 contexts = 0;

	mm_get_stats(&s);
	for (u32 i = 0, n = cpu_list(cpus, SVSM_MAX_VCPUS); i < n; i++) {
		contexts += cpu_context_pages(cpus[i]) << PAGE_SHIFT;
	}
	return s.page.in_use + s.heap.in_use + s.slab.in_use - contexts;
}

static bool is_spec_error(u64 rc)
{
	u32 v = (u32)rc;

	return rc <= 0xFFFFFFFFull && ((v >= SVSM_RESULT_NEED_MEMORY && v <= 0x7FFFFFFFu) ||
				       (v >= SVSM_ERR_INCOMPLETE && v <= SVSM_ERR_BUSY) || v >= SVSM_ERR_PROTOCOL_BASE);
}

/* --- scenarios ------------------------------------------------------------------------ */

static void prepare_create(struct hx *h, struct fi_ctx *c)
{
	assert_int_equal(guest_prepare_vcpu(&h->g, &c->vmsa, &c->ca), 0);
}

static u64 run_create(struct hx *h, struct fi_ctx *c)
{
	u64 rc = CORE(h, SVSM_CORE_CREATE_VCPU, c->vmsa, c->ca, 1, NULL);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	assert_int_equal(guest_start_vcpu(&h->g, 1, c->vmsa, c->ca), 0);
	/* The first entry on the new vCPU sets up its GHCB (an allocation too). */
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	return hx_call_vcpu(h, 1, &r);
}

static void undo_create(struct hx *h, struct fi_ctx *c)
{
	assert_int_equal(guest_ap_destroy(&h->g, 1), 0);
	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, c->vmsa, 0, 0, NULL), SVSM_SUCCESS);
}

static void prepare_delete(struct hx *h, struct fi_ctx *c)
{
	assert_int_equal(guest_create_vcpu(&h->g, 2, &c->vmsa), SVSM_SUCCESS);
	assert_int_equal(guest_ap_destroy(&h->g, 2), 0);
}

static u64 run_delete(struct hx *h, struct fi_ctx *c)
{
	return CORE(h, SVSM_CORE_DELETE_VCPU, c->vmsa, 0, 0, NULL);
}

static void prepare_mem(struct hx *h, struct fi_ctx *c)
{
	c->list = hx_page(h);
	c->pages = hx_pages(h, 8);
	c->buf = hx_page(h);
	u64 e[8];
	for (unsigned i = 0; i < 8; i++) {
		e[i] = c->pages + i * PAGE_SIZE;
	}
	assert_int_equal(hx_write_list(h, c->list, e, 8, 0), 0);
}

static u64 run_deposit_withdraw(struct hx *h, struct fi_ctx *c)
{
	u64 rc = CORE(h, SVSM_CORE_DEPOSIT_MEM, c->list, 0, 0, NULL);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	return CORE(h, SVSM_CORE_WITHDRAW_MEM, c->buf, 0, 0, NULL);
}

static void prepare_pvalidate(struct hx *h, struct fi_ctx *c)
{
	static u64 e[300];

	c->list = hx_page(h);
	c->pages = ALIGN_UP(h->g.pool_next, PAGE_SIZE);
	h->g.pool_next += 300 * PAGE_SIZE;
	for (unsigned i = 0; i < 300; i++) {
		e[i] = hx_pval_entry(c->pages + i * PAGE_SIZE, false, true, false);
	}
	assert_int_equal(hx_write_list(h, c->list, e, 300, 0), 0);
}

static u64 run_pvalidate(struct hx *h, struct fi_ctx *c)
{
	return CORE(h, SVSM_CORE_PVALIDATE, c->list, 0, 0, NULL);
}

static void prepare_remap(struct hx *h, struct fi_ctx *c)
{
	c->ca = hx_page(h);
}

static u64 run_remap_query_vtom(struct hx *h, struct fi_ctx *c)
{
	u64 rc = CORE(h, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL);
	if (rc == SVSM_SUCCESS) {
		rc = CORE(h, SVSM_CORE_CONFIGURE_VTOM, 1, 0, 0, NULL);
	}
	if (rc == SVSM_SUCCESS) {
		rc = CORE(h, SVSM_CORE_REMAP_CA, c->ca, 0, 0, NULL);
		if (rc == SVSM_SUCCESS) {
			h->g.vcpus[0].caa_gpa = c->ca;
		}
	}
	return rc;
}

static const struct fi_case cases[] = {
	{"create_vcpu", prepare_create, run_create, undo_create},
	{"delete_vcpu", prepare_delete, run_delete, NULL},
	{"deposit_withdraw", prepare_mem, run_deposit_withdraw, NULL},
	{"pvalidate", prepare_pvalidate, run_pvalidate, NULL},
	{"remap_query_vtom", prepare_remap, run_remap_query_vtom, NULL},
};

/* --- the sweep ------------------------------------------------------------------------ */

static u64 count_allocations(const struct fi_case *fc)
{
	struct fi_ctx c = {0};
	struct hx *h = hx_boot(NULL);

	assert_non_null(h);
	if (fc->prepare) {
		fc->prepare(h, &c);
	}
	u64 before = mm_alloc_count();
	assert_int_equal(fc->run(h, &c), SVSM_SUCCESS);
	u64 n = mm_alloc_count() - before;
	hx_shutdown(h);
	return n;
}

static void sweep(const struct fi_case *fc)
{
	u64 k = count_allocations(fc);

	print_message("%s: %llu allocations, each made to fail in turn\n", fc->name, (unsigned long long)k);
	/* N = k + 1 is the run in which no allocation fails. */
	for (u64 nth = 1; nth <= k + 1; nth++) {
		struct fi_ctx c = {0};
		struct hx *h = hx_boot(NULL);
		assert_non_null(h);
		u64 boot_in_use = in_use();
		if (fc->prepare) {
			fc->prepare(h, &c);
		}
		u64 rmp = hx_hash_rmp(h);
		u64 owned = owned_count();
		u32 vcpus = vcpu_list((struct svsm_vcpu *[SVSM_MAX_VCPUS]){0}, SVSM_MAX_VCPUS);
		mm_fail_nth(nth);
		u64 rc = fc->run(h, &c);
		mm_fail_nth(0);
		assert_oracle_clean(h);
		if (rc == SVSM_SUCCESS) {
			if (fc->undo) {
				fc->undo(h, &c);
			}
		} else {
			if (!is_spec_error(rc)) {
				fail_msg("%s, allocation %llu failing: result %#llx is no SVSM result code", fc->name,
					 (unsigned long long)nth, (unsigned long long)rc);
			}
			/* A refused call changed nothing. */
			if (hx_hash_rmp(h) != rmp) {
				fail_msg("%s, allocation %llu failing: result %#llx but the RMP changed", fc->name,
					 (unsigned long long)nth, (unsigned long long)rc);
			}
			assert_int_equal(owned_count(), owned);
			assert_int_equal(vcpu_list((struct svsm_vcpu *[SVSM_MAX_VCPUS]){0}, SVSM_MAX_VCPUS), vcpus);
		}
		if (in_use() != boot_in_use) {
			fail_msg("%s, allocation %llu failing: %llu bytes in use, %llu at boot", fc->name,
				 (unsigned long long)nth, (unsigned long long)in_use(), (unsigned long long)boot_in_use);
		}
		hx_shutdown(h);
	}
}

/* A failed assertion leaves the machine behind: take it down before the next test. */
static int fi_teardown(void **state)
{
	(void)state;
	if (emu_machine_current()) {
		emu_machine_destroy(emu_machine_current());
	}
	mm_fail_nth(0);
	return 0;
}

static void test_sweep_create_vcpu(void **state)
{
	(void)state;
	sweep(&cases[0]);
}

static void test_sweep_delete_vcpu(void **state)
{
	(void)state;
	sweep(&cases[1]);
}

static void test_sweep_deposit_withdraw(void **state)
{
	(void)state;
	sweep(&cases[2]);
}

static void test_sweep_pvalidate(void **state)
{
	(void)state;
	sweep(&cases[3]);
}

static void test_sweep_remap_query_vtom(void **state)
{
	(void)state;
	sweep(&cases[4]);
}

static void test_create_vcpu_makes_allocations(void **state)
{
	(void)state;
	/* The sweep is only meaningful if the scenario allocates. */
	assert_true(count_allocations(&cases[0]) >= 2);
}

/* The whole `svsm-emu run` scenario, with each of its allocations failing in turn. */
static void test_sweep_run_scenario(void **state)
{
	static struct scenario s;
	u64 k;

	(void)state;
	{
		struct hx *h = hx_boot(NULL);
		assert_non_null(h);
		u64 before = mm_alloc_count();
		s.check_oracle = true;
		assert_int_equal(scenario_run(&s, h->m), 0);
		k = mm_alloc_count() - before;
		hx_shutdown(h);
	}
	assert_true(k >= 2);
	print_message("run scenario: %llu allocations, each made to fail in turn\n", (unsigned long long)k);
	for (u64 nth = 1; nth <= k; nth++) {
		struct hx *h = hx_boot(NULL);
		assert_non_null(h);
		u64 boot_in_use = in_use();
		s.check_oracle = true;
		s.oracle_violations = 0;
		mm_fail_nth(nth);
		unsigned failed = scenario_run(&s, h->m);
		mm_fail_nth(0);
		assert_int_equal(s.oracle_violations, 0);
		assert_false(h->m->terminated);
		/* Some step saw the failure as an error code, or the allocation was optional. */
		assert_true(failed <= s.step_count);
		if (in_use() != boot_in_use) {
			fail_msg("run scenario, allocation %llu failing: %llu bytes in use, %llu at boot",
				 (unsigned long long)nth, (unsigned long long)in_use(), (unsigned long long)boot_in_use);
		}
		hx_shutdown(h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_vcpu_makes_allocations, fi_teardown),
		cmocka_unit_test_teardown(test_sweep_create_vcpu, fi_teardown),
		cmocka_unit_test_teardown(test_sweep_delete_vcpu, fi_teardown),
		cmocka_unit_test_teardown(test_sweep_deposit_withdraw, fi_teardown),
		cmocka_unit_test_teardown(test_sweep_pvalidate, fi_teardown),
		cmocka_unit_test_teardown(test_sweep_remap_query_vtom, fi_teardown),
		cmocka_unit_test_teardown(test_sweep_run_scenario, fi_teardown),
	};
	return cmocka_run_group_tests_name("failinject", tests, NULL, NULL);
}
