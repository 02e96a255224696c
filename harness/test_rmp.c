/* RMP model: PVALIDATE and RMPADJUST semantics, every return code, 2 MiB rules, RMPUPDATE. */
#include <pthread.h>
#include <stdlib.h>

#include "test_common.h"

#define PAGES 2048 /* 8 MiB: four 2 MiB regions */

struct rmp_fixture {
	struct rmp r;
	struct rmp_entry e[(RMP_TABLE_BYTES(PAGES) + sizeof(struct rmp_entry) - 1) / sizeof(struct rmp_entry)];
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
	assert_true(rmp_vmrun(R(state), 0x7000));
	assert_true(rmp_in_use(R(state), 0x7000));
	assert_int_equal(rmp_rmpadjust(R(state), 0, 0x7000, PAGE_SIZE_4K, 1, 0, false), RMP_FAIL_INUSE);
	assert_int_equal(rmp_pvalidate(R(state), 0, 0x7000, PAGE_SIZE_4K, false), RMP_FAIL_INPUT);
	rmp_vmexit(R(state), 0x7000);
	assert_false(rmp_in_use(R(state), 0x7000));
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
	rmp_rmpadjust(R(state), 0, 0x9000, PAGE_SIZE_4K, 1, VMPL_PERM_READ, true);
	assert_true(rmp_vmrun(R(state), 0x9000));
	assert_int_equal(rmp_make_shared(R(state), 0x9000), RMP_FAIL_INUSE);
	assert_true(rmp_entry(R(state), 0x9000)->assigned);
}

/* VMRUN needs an assigned, validated VMSA page that no other vCPU runs. */
static void test_vmrun_needs_a_runnable_idle_vmsa(void **state)
{
	assert_false(rmp_vmrun(R(state), 0xA000)); /* not validated */
	rmp_pvalidate(R(state), 0, 0xA000, PAGE_SIZE_4K, true);
	assert_false(rmp_vmrun(R(state), 0xA000)); /* not a VMSA */
	rmp_rmpadjust(R(state), 0, 0xA000, PAGE_SIZE_4K, 1, VMPL_PERM_READ, true);
	assert_true(rmp_vmrun(R(state), 0xA000));
	assert_false(rmp_vmrun(R(state), 0xA000)); /* a second vCPU cannot run it too */
	rmp_vmexit(R(state), 0xA000);
	assert_true(rmp_vmrun(R(state), 0xA000));
	rmp_vmexit(R(state), 0xA000);
	assert_false(rmp_vmrun(R(state), 4 * PAGE_2M_SIZE)); /* shared */
	assert_false(rmp_vmrun(R(state), (u64)PAGES * PAGE_SIZE)); /* outside the RMP */
	assert_false(rmp_in_use(R(state), (u64)PAGES * PAGE_SIZE));
}

/*
 * VMRUN takes no lock, yet stays atomic with RMPADJUST: while one thread's VMRUN holds
 * the page in use, the other thread's RMPADJUST cannot take its VMSA attribute away.
 * (Deciding VMRUN without looking at the stripe lock fails this: the adjust reads the
 * mark before the VMRUN sets it and clears the attribute after VMRUN read the entry.)
 */
#define RACE_ROUNDS 20000       /* each side succeeds at least this often */
#define RACE_ATTEMPTS 20000000u /* a bound, in case one side starves */

struct vmrun_race {
	struct rmp *r;
	u64 gpa;
	u64 runs, lost_vmsa, adjusts; /* atomic: both threads read them */
};

static u64 race_get(const u64 *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void race_inc(u64 *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static bool race_done(const struct vmrun_race *x)
{
	return race_get(&x->runs) >= RACE_ROUNDS && race_get(&x->adjusts) >= RACE_ROUNDS;
}

/* A moment outside the critical part, so that the other side wins some of the time. */
static void race_pause(unsigned spins)
{
	for (unsigned k = 0; k < spins; k++) {
		__builtin_ia32_pause();
	}
}

static void *vmrun_race_runner(void *arg)
{
	struct vmrun_race *x = arg;

	for (unsigned i = 0; i < RACE_ATTEMPTS && !race_done(x); i++) {
		if (rmp_vmrun(x->r, x->gpa)) {
			struct rmp_entry e;
			if (!rmp_read(x->r, x->gpa, &e) || !e.vmsa) {
				race_inc(&x->lost_vmsa);
			}
			race_inc(&x->runs);
			rmp_vmexit(x->r, x->gpa);
		}
		race_pause(i % 64);
	}
	return NULL;
}

static void test_vmrun_is_atomic_with_rmpadjust(void **state)
{
	struct vmrun_race x = {.r = R(state), .gpa = 0xB000};
	pthread_t t;

	rmp_pvalidate(x.r, 0, x.gpa, PAGE_SIZE_4K, true);
	rmp_rmpadjust(x.r, 0, x.gpa, PAGE_SIZE_4K, 1, VMPL_PERM_READ, true);
	assert_int_equal(pthread_create(&t, NULL, vmrun_race_runner, &x), 0);
	for (unsigned i = 0; i < RACE_ATTEMPTS && !race_done(&x); i++) {
		/* Take the attribute away and give it back; each fails while the page runs. */
		if (rmp_rmpadjust(x.r, 0, x.gpa, PAGE_SIZE_4K, 1, VMPL_PERM_READ, false) == RMP_SUCCESS) {
			race_inc(&x.adjusts);
			while (rmp_rmpadjust(x.r, 0, x.gpa, PAGE_SIZE_4K, 1, VMPL_PERM_READ, true) != RMP_SUCCESS) {
			}
		}
		race_pause(i % 61);
	}
	pthread_join(t, NULL);
	if (x.lost_vmsa || !race_done(&x) || getenv("RACE_SHOW")) {
		print_error("VMRUN held the page %llu times and saw its VMSA attribute gone %llu times; %llu adjusts\n",
			    (unsigned long long)x.runs, (unsigned long long)x.lost_vmsa, (unsigned long long)x.adjusts);
	}
	assert_int_equal(x.lost_vmsa, 0);
	assert_true(race_done(&x));
	assert_false(rmp_in_use(x.r, x.gpa));
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
		cmocka_unit_test_setup_teardown(test_vmrun_needs_a_runnable_idle_vmsa, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_vmrun_is_atomic_with_rmpadjust, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_psmash_keeps_state, rmp_setup, rmp_teardown),
		cmocka_unit_test_setup_teardown(test_launch_page_is_validated_with_perms, rmp_setup, rmp_teardown),
	};
	return cmocka_run_group_tests_name("rmp", tests, NULL, NULL);
}
