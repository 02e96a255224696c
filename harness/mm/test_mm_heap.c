/* Tests of the slab caches and the heap: sizes, alignment, realloc, exhaustion, stats. */
#include "mm/mm_test.h"

#include <string.h>

#define PG 4096u

static u8 *arena;

/** Fresh allocator over 16 MiB, all of it added. */
static int setup(void **state)
{
	arena = mm_test_init_all(16 * MM_TEST_MIB);
	return 0;
}

/** Stats after the caches were drained, the baseline every test returns to. */
static struct mm_stats drained_stats(void)
{
	mm_drain();
	return mm_test_stats();
}

/** Fail unless the drained stats equal @base (nothing leaked, nothing cached). */
static void assert_back_to(const struct mm_stats *base)
{
	struct mm_stats s = drained_stats();

	assert_int_equal(s.page.in_use, base->page.in_use);
	assert_int_equal(s.page.free, base->page.free);
	assert_int_equal(s.slab.in_use, base->slab.in_use);
	assert_int_equal(s.slab.free, base->slab.free);
	assert_int_equal(s.heap.in_use, base->heap.in_use);
}

static const size_t sizes[] = {0,   1,    7,    12,   13,   16,   17,   31,    64,    100,  255,
			       256, 500,  1000, 2043, 2044, 2045, 3000, 3580,  3581,  4095, 4096,
			       4097, 8191, 10000, 65536, 100000, 2097152, 3000000};

static void test_sizes_alignment_and_usable_size(void **state)
{
	void *p[ARRAY_COUNT(sizes)];

	for (size_t i = 0; i < ARRAY_COUNT(sizes); i++) {
		p[i] = mem_alloc(sizes[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		assert_int_equal(mem_usable_size(p[i]), sizes[i]);
		mm_test_fill(p[i], sizes[i], (unsigned)i);
	}
	for (size_t i = 0; i < ARRAY_COUNT(sizes); i++) {
		assert_true(mm_test_check(p[i], sizes[i], (unsigned)i));
		mem_free(p[i]);
	}
}

static void test_zero_size_unique(void **state)
{
	void *a = mem_alloc(0), *b = mem_alloc(0);

	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal(mem_usable_size(a), 0);
	mem_free(a);
	mem_free(b);
	mem_free(NULL);
	assert_int_equal(mem_usable_size(NULL), 0);
}

static void test_zalloc_zeroes_reused_memory(void **state)
{
	for (size_t n = 8; n < 20000; n = n * 3 + 1) {
		u8 *p = mem_alloc(n);

		memset(p, 0xee, n);
		mem_free(p);
		p = mem_zalloc(n);
		assert_non_null(p);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(p[i], 0);
		}
		mem_free(p);
	}
}

static void test_small_objects_disjoint(void **state)
{
	enum { N = 3000 };
	static u8 *p[N];
	static size_t n[N];

	for (int i = 0; i < N; i++) {
		n[i] = (size_t)(i * 37 % 3580) + 1;
		p[i] = mem_alloc(n[i]);
		assert_non_null(p[i]);
		mm_test_fill(p[i], n[i], (unsigned)i);
	}
	for (int i = 0; i < N; i++) {
		assert_true(mm_test_check(p[i], n[i], (unsigned)i));
	}
	for (int i = 0; i < N; i += 3) {
		mem_free(p[i]);
	}
	for (int i = 1; i < N; i += 3) {
		assert_true(mm_test_check(p[i], n[i], (unsigned)i));
		mem_free(p[i]);
	}
	for (int i = 2; i < N; i += 3) {
		assert_true(mm_test_check(p[i], n[i], (unsigned)i));
		mem_free(p[i]);
	}
}

static void test_large_is_page_aligned_and_exact(void **state)
{
	struct mm_stats s0 = drained_stats(), s1;
	u8 *p = mem_alloc(5 * PG + 1);

	assert_non_null(p);
	assert_int_equal((uintptr_t)p % PG, 0);
	s1 = mm_test_stats();
	/* Exactly 6 pages, not a rounded-up 8-page block. */
	assert_int_equal(s1.page.in_use - s0.page.in_use, 6 * PG);
	assert_int_equal(s1.heap.in_use - s0.heap.in_use, 6 * PG);
	mem_free(p);
	assert_back_to(&s0);
}

static void test_huge_beyond_2m(void **state)
{
	size_t n = 5 * MM_TEST_MIB + 123;
	u8 *p = mem_alloc(n);

	assert_non_null(p);
	mm_test_fill(p, n, 9);
	assert_true(mm_test_check(p, n, 9));
	assert_int_equal(mem_usable_size(p), n);
	mem_free(p);
	assert_null(mem_alloc(64 * MM_TEST_MIB));
	assert_null(mem_alloc(SIZE_MAX));
	assert_null(mem_alloc(SIZE_MAX - 4096));
	assert_null(mem_zalloc(SIZE_MAX / 2));
	/* The failed attempts took nothing. */
	p = mem_alloc(12 * MM_TEST_MIB);
	assert_non_null(p);
	mem_free(p);
}

static void test_realloc_growth_keeps_contents(void **state)
{
	struct mm_stats s0 = drained_stats();
	size_t n = 1;
	u8 *p = mem_alloc(n);

	mm_test_fill(p, n, 3);
	while (n < 3 * MM_TEST_MIB) {
		size_t m = n * 2 + 7;
		u8 *q = mem_realloc(p, m);

		assert_non_null(q);
		assert_true(mm_test_check(q, n, 3));
		assert_int_equal(mem_usable_size(q), m);
		mm_test_fill(q, m, 3);
		p = q;
		n = m;
	}
	mem_free(p);
	assert_back_to(&s0);
}

static void test_realloc_shrink_keeps_prefix(void **state)
{
	struct mm_stats s0 = drained_stats();
	size_t n = 3 * MM_TEST_MIB;
	u8 *p = mem_alloc(n);

	mm_test_fill(p, n, 4);
	while (n > 1) {
		size_t m = n / 3;
		u8 *q = mem_realloc(p, m ? m : 1);

		m = m ? m : 1;
		assert_non_null(q);
		assert_true(mm_test_check(q, m, 4));
		p = q;
		n = m;
	}
	mem_free(p);
	assert_back_to(&s0);
}

static void test_realloc_in_place(void **state)
{
	struct mm_stats s0, s1;
	u8 *p = mem_alloc(40), *q;

	/* 40 and 44 bytes share the 48-byte class. */
	q = mem_realloc(p, 44);
	assert_ptr_equal(p, q);
	assert_int_equal(mem_usable_size(q), 44);
	mem_free(q);
	/* A large shrink gives the tail pages back without moving. */
	p = mem_alloc(40 * PG);
	s0 = mm_test_stats();
	q = mem_realloc(p, 10 * PG);
	assert_ptr_equal(p, q);
	s1 = mm_test_stats();
	assert_int_equal(s0.page.in_use - s1.page.in_use, 30 * PG);
	mem_free(q);
}

static void test_realloc_null_and_zero(void **state)
{
	struct mm_stats s0 = drained_stats();
	void *p = mem_realloc(NULL, 100);

	assert_non_null(p);
	assert_int_equal(mem_usable_size(p), 100);
	assert_null(mem_realloc(p, 0));
	assert_back_to(&s0);
}

static void test_aligned_allocations(void **state)
{
	static const size_t lens[] = {1, 24, 100, 2000, 3500, 5000, 70000};

	for (size_t align = 16; align <= 4 * MM_TEST_MIB; align *= 2) {
		for (size_t i = 0; i < ARRAY_COUNT(lens); i++) {
			u8 *p = mem_alloc_aligned(align, lens[i]);

			assert_non_null(p);
			assert_int_equal((uintptr_t)p % align, 0);
			assert_int_equal(mem_usable_size(p), lens[i]);
			mm_test_fill(p, lens[i], 5);
			assert_true(mm_test_check(p, lens[i], 5));
			mem_free(p);
		}
	}
	assert_null(mem_alloc_aligned(0, 16));
	assert_null(mem_alloc_aligned(3, 16));
	assert_null(mem_alloc_aligned(48, 16));
	assert_non_null(mem_alloc_aligned(8, 16));
}

static void test_exhaustion_returns_null(void **state)
{
	enum { N = 20000 };
	static void *p[N];
	struct mm_stats s0 = drained_stats(), s1;
	int n = 0;

	while (n < N && (p[n] = mem_alloc(1000)) != NULL) {
		n++;
	}
	assert_true(n > 1000);
	assert_true(n < N);
	assert_null(mem_alloc(10));
	assert_null(page_alloc(0));
	s1 = mm_test_stats();
	assert_true(s1.heap.fail_count > s0.heap.fail_count);
	for (int i = 0; i < n; i++) {
		mem_free(p[i]);
	}
	assert_back_to(&s0);
	/* Everything freed is whole again. */
	assert_non_null(page_alloc(MM_MAX_ORDER));
}

static void test_caches_given_back_on_demand(void **state)
{
	enum { N = 20000 };
	static void *p[N];
	int n = 0;

	while (n < N && (p[n] = mem_alloc(48)) != NULL) {
		n++;
	}
	for (int i = 0; i < n; i++) {
		mem_free(p[i]);
	}
	/* Without an explicit mm_drain(): the page allocator drains by itself. */
	assert_non_null(page_alloc(MM_MAX_ORDER));
}

static void test_stats_accounting(void **state)
{
	struct mm_stats s0 = drained_stats(), s1;
	void *a = mem_alloc(20), *b = mem_alloc(3000);

	s1 = mm_test_stats();
	/* 20 + 4 trailer bytes -> 32-byte slot; 3000 + 4 -> 3072. */
	assert_int_equal(s1.slab.in_use - s0.slab.in_use, 32 + 3072);
	assert_int_equal(s1.heap.in_use - s0.heap.in_use, 32 + 3072);
	assert_true(s1.heap.peak >= s1.heap.in_use);
	assert_true(s1.slab.free > 0);
	assert_int_equal(s1.heap.alloc_count - s0.heap.alloc_count, 2);
	mem_free(a);
	mem_free(b);
	s1 = mm_test_stats();
	assert_int_equal(s1.slab.in_use, s0.slab.in_use);
	assert_true(s1.heap.peak >= s0.heap.in_use + 32 + 3072);
	assert_back_to(&s0);
}

static void test_slab_fragmentation(void **state)
{
	enum { N = 4096 };
	static void *p[N];
	struct mm_stats s0 = drained_stats(), s1;

	for (int i = 0; i < N; i++) {
		p[i] = mem_alloc(12);
	}
	for (int i = 0; i < N; i += 2) {
		mem_free(p[i]);
	}
	s1 = drained_stats();
	/* Half of every slab is free, but only in single 16-byte slots. */
	assert_int_equal(s1.slab.free, N / 2 * 16);
	assert_true(s1.slab.fragmentation_permille > 990);
	assert_true(s1.heap.fragmentation_permille >= 499 && s1.heap.fragmentation_permille <= 501);
	for (int i = 1; i < N; i += 2) {
		mem_free(p[i]);
	}
	assert_back_to(&s0);
	s1 = mm_test_stats();
	assert_int_equal(s1.slab.free, 0);
}

static void test_fail_nth_heap(void **state)
{
	void *p;

	mm_fail_nth(1);
	assert_null(mem_alloc(10));
	mm_fail_nth(1);
	assert_null(mem_zalloc(10));
	mm_fail_nth(1);
	assert_null(mem_alloc_aligned(64, 10));
	p = mem_alloc(100);
	mm_test_fill(p, 100, 6);
	mm_fail_nth(1);
	/* A failed realloc leaves the block as it was. */
	assert_null(mem_realloc(p, 100000));
	assert_int_equal(mem_usable_size(p), 100);
	assert_true(mm_test_check(p, 100, 6));
	mem_free(p);
}

/** A small job of 5 allocations and one realloc; returns -1 if one of them failed. */
static int job(void)
{
	static const size_t lens[] = {10, 200, 5000, 40, 100000};
	void *v[ARRAY_COUNT(lens)] = {NULL};
	void *grown;
	int ret = 0;

	for (size_t i = 0; i < ARRAY_COUNT(lens); i++) {
		v[i] = mem_alloc(lens[i]);
		if (!v[i]) {
			ret = -1;
			goto out;
		}
		mm_test_fill(v[i], lens[i], (unsigned)i);
	}
	grown = mem_realloc(v[1], 3000);
	if (!grown) {
		ret = -1;
		goto out;
	}
	assert_true(mm_test_check(grown, 200, 1));
	v[1] = grown;
out:
	for (size_t i = 0; i < ARRAY_COUNT(lens); i++) {
		mem_free(v[i]);
	}
	return ret;
}

static void test_fail_nth_sweep_leaks_nothing(void **state)
{
	struct mm_stats s0 = drained_stats();
	u64 c0 = mm_alloc_count(), total;
	int failures = 0;

	assert_int_equal(job(), 0);
	total = mm_alloc_count() - c0;
	assert_int_equal(total, 6);
	for (u64 n = 1; n <= total; n++) {
		mm_fail_nth(n);
		failures += job() != 0;
		mm_fail_nth(0);
	}
	assert_int_equal(failures, (int)total);
	assert_back_to(&s0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_sizes_alignment_and_usable_size, setup),
		cmocka_unit_test_setup(test_zero_size_unique, setup),
		cmocka_unit_test_setup(test_zalloc_zeroes_reused_memory, setup),
		cmocka_unit_test_setup(test_small_objects_disjoint, setup),
		cmocka_unit_test_setup(test_large_is_page_aligned_and_exact, setup),
		cmocka_unit_test_setup(test_huge_beyond_2m, setup),
		cmocka_unit_test_setup(test_realloc_growth_keeps_contents, setup),
		cmocka_unit_test_setup(test_realloc_shrink_keeps_prefix, setup),
		cmocka_unit_test_setup(test_realloc_in_place, setup),
		cmocka_unit_test_setup(test_realloc_null_and_zero, setup),
		cmocka_unit_test_setup(test_aligned_allocations, setup),
		cmocka_unit_test_setup(test_exhaustion_returns_null, setup),
		cmocka_unit_test_setup(test_caches_given_back_on_demand, setup),
		cmocka_unit_test_setup(test_stats_accounting, setup),
		cmocka_unit_test_setup(test_slab_fragmentation, setup),
		cmocka_unit_test_setup(test_fail_nth_heap, setup),
		cmocka_unit_test_setup(test_fail_nth_sweep_leaks_nothing, setup),
	};

	return cmocka_run_group_tests_name("mm_heap", tests, NULL, NULL);
}
