/* Tests of the buddy page allocator: ranges, alignment, splitting, coalescing, withdrawal. */
#include "mm/mm_test.h"

#include <string.h>

#define PG 4096u
/* Metadata of an 8 MiB span: 2048 entries of 16 bytes = 8 pages, plus 1 ready-bitmap page. */
#define META_PAGES_8M 9u

static u8 *arena;

/** Fresh allocator over 8 MiB with nothing added. */
static int setup_empty(void **state)
{
	arena = mm_test_init(8 * MM_TEST_MIB);
	return 0;
}

/** Fresh allocator over 8 MiB, all of it added. */
static int setup_all(void **state)
{
	arena = mm_test_init_all(8 * MM_TEST_MIB);
	return 0;
}

/** Allocate order-0 pages until none is left; returns how many, addresses in @out. */
static size_t exhaust(void **out, size_t max)
{
	size_t n = 0;

	while (n < max && (out[n] = page_alloc(0)) != NULL) {
		n++;
	}
	return n;
}

static void test_init_rejects_bad_span(void **state)
{
	assert_int_equal(mm_init((void *)(uintptr_t)0x1001, 1 << 20), -1);
	assert_int_equal(mm_init(arena, 0), -1);
	assert_int_equal(mm_init(arena, 4095), -1);
	assert_int_equal(mm_init((void *)(uintptr_t)(UINT64_MAX & ~0xfffull), 1 << 20), -1);
	assert_int_equal(mm_init(arena, 8 * MM_TEST_MIB), 0);
}

static void test_add_rejects_bad_ranges(void **state)
{
	struct mm_stats before, after;

	/* First range too small to hold the metadata array. */
	assert_int_equal(mm_add_memory(arena, META_PAGES_8M, false), -1);
	assert_null(page_alloc(0));
	assert_int_equal(mm_add_memory(arena, 64, false), 0);
	before = mm_test_stats();
	assert_int_equal(mm_add_memory(arena + 64 * PG + 1, 4, false), -1);        /* unaligned */
	assert_int_equal(mm_add_memory(arena + 64 * PG, 0, false), -1);            /* empty */
	assert_int_equal(mm_add_memory(arena - PG, 4, false), -1);                 /* below the span */
	assert_int_equal(mm_add_memory(arena + 8 * MM_TEST_MIB, 1, false), -1);    /* above */
	assert_int_equal(mm_add_memory(arena + 8 * MM_TEST_MIB - PG, 2, false), -1); /* straddles end */
	assert_int_equal(mm_add_memory(arena + 64 * PG, UINT64_MAX / 2, false), -1); /* overflow */
	assert_int_equal(mm_add_memory(arena + 10 * PG, 4, true), -1);             /* owned */
	assert_int_equal(mm_add_memory(arena + 60 * PG, 8, true), -1);             /* partly owned */
	assert_int_equal(mm_add_memory(arena, 1, true), -1);                       /* the metadata */
	after = mm_test_stats();
	assert_memory_equal(&before.page, &after.page, sizeof(before.page));
	/* A correct range right after the first one is accepted. */
	assert_int_equal(mm_add_memory(arena + 64 * PG, 4, false), 0);
	after = mm_test_stats();
	assert_int_equal(after.page.free, before.page.free + 4 * PG);
}

static void test_metadata_carved_from_first_range(void **state)
{
	struct mm_stats s;

	assert_int_equal(mm_add_memory(arena, 512, false), 0);
	s = mm_test_stats();
	assert_int_equal(s.meta_bytes, META_PAGES_8M * PG);
	assert_int_equal(s.page.free, (512 - META_PAGES_8M) * PG);
	assert_int_equal(s.page.in_use, 0);
	/* No page handed out may overlap the metadata. */
	for (int i = 0; i < 16; i++) {
		u8 *p = page_alloc(0);

		assert_non_null(p);
		assert_true(p >= arena + META_PAGES_8M * PG);
	}
}

static void test_alignment_every_order(void **state)
{
	for (unsigned o = 0; o <= MM_MAX_ORDER; o++) {
		u8 *p = page_alloc(o);

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % ((uintptr_t)PG << o), 0);
		memset(p, 0xa0 + o, (size_t)PG << o);
	}
	assert_null(page_alloc(MM_MAX_ORDER + 1));
}

static void test_alloc_zeroed(void **state)
{
	u8 *p = page_alloc(2);

	memset(p, 0xff, 4 * PG);
	page_free(p, 2);
	p = page_alloc_zeroed(2);
	assert_non_null(p);
	for (size_t i = 0; i < 4 * PG; i++) {
		assert_int_equal(p[i], 0);
	}
}

static void test_exhaustion_and_recovery(void **state)
{
	static void *pages[2048];
	struct mm_stats s0 = mm_test_stats(), s1;
	size_t n = exhaust(pages, 2048);

	assert_int_equal(n, s0.page.free / PG);
	assert_null(page_alloc(0));
	s1 = mm_test_stats();
	assert_int_equal(s1.page.free, 0);
	assert_true(s1.page.fail_count > s0.page.fail_count);
	for (size_t i = 0; i < n; i++) {
		page_free(pages[i], 0);
	}
	s1 = mm_test_stats();
	assert_int_equal(s1.page.free, s0.page.free);
	assert_int_equal(s1.page.fragmentation_permille, s0.page.fragmentation_permille);
}

static void test_coalescing_restores_2m_blocks(void **state)
{
	static void *pages[2048];
	size_t n;
	void *big[4];
	int got = 0;

	n = exhaust(pages, 2048);
	/* Free in an interleaved order so that merges happen in both directions. */
	for (size_t i = 0; i < n; i += 2) {
		page_free(pages[i], 0);
	}
	assert_null(page_alloc(1));
	for (size_t i = 1; i < n; i += 2) {
		page_free(pages[i], 0);
	}
	/* 8 MiB minus the metadata: three whole 2 MiB blocks must be back. */
	while (got < 4 && (big[got] = page_alloc(MM_MAX_ORDER)) != NULL) {
		got++;
	}
	assert_int_equal(got, 3);
}

static void test_splitting_takes_smallest_block(void **state)
{
	struct mm_stats s0, s1;
	u8 *a, *b;

	/* Two separate clean ranges of 4 pages and of 2 MiB. */
	assert_int_equal(mm_add_memory(arena, 16, false), 0);
	while (page_alloc(0)) {
	}
	assert_int_equal(mm_add_memory(arena + 2 * MM_TEST_MIB, 4, false), 0);
	assert_int_equal(mm_add_memory(arena + 4 * MM_TEST_MIB, 512, false), 0);
	s0 = mm_test_stats();
	a = page_alloc(0);
	/* The 4-page block is split, not the 2 MiB one. */
	assert_ptr_equal(a, arena + 2 * MM_TEST_MIB);
	b = page_alloc(1);
	assert_ptr_equal(b, arena + 2 * MM_TEST_MIB + 2 * PG);
	assert_non_null(page_alloc(MM_MAX_ORDER));
	s1 = mm_test_stats();
	assert_int_equal(s1.page.in_use - s0.page.in_use, 515 * PG);
}

static void test_ranges_never_coalesce(void **state)
{
	u8 *p1, *p2;

	assert_int_equal(mm_add_memory(arena, 16, false), 0);
	while (page_alloc(0)) {
	}
	/* Two adjacent halves of one aligned 2 MiB block, handed in separately. */
	assert_int_equal(mm_add_memory(arena + 2 * MM_TEST_MIB, 256, false), 0);
	assert_int_equal(mm_add_memory(arena + 3 * MM_TEST_MIB, 256, false), 0);
	assert_null(page_alloc(MM_MAX_ORDER));
	p1 = page_alloc(8);
	p2 = page_alloc(8);
	assert_non_null(p1);
	assert_non_null(p2);
	page_free(p1, 8);
	page_free(p2, 8);
	assert_null(page_alloc(MM_MAX_ORDER));
	assert_non_null(page_alloc(8));
}

static void test_free_null_and_stats(void **state)
{
	struct mm_stats s0 = mm_test_stats(), s1;
	void *p;

	page_free(NULL, 3);
	p = page_alloc(3);
	s1 = mm_test_stats();
	assert_int_equal(s1.page.in_use, s0.page.in_use + 8 * PG);
	assert_int_equal(s1.page.free, s0.page.free - 8 * PG);
	assert_int_equal(s1.page.alloc_count, s0.page.alloc_count + 1);
	assert_true(s1.page.peak >= s1.page.in_use);
	page_free(p, 3);
	s1 = mm_test_stats();
	assert_int_equal(s1.page.in_use, s0.page.in_use);
	assert_int_equal(s1.page.peak, s0.page.in_use + 8 * PG);
}

static void test_fragmentation_reported(void **state)
{
	static void *pages[2048];
	struct mm_stats s;
	size_t n = exhaust(pages, 2048);

	for (size_t i = 0; i < n; i += 2) {
		page_free(pages[i], 0);
	}
	s = mm_test_stats();
	/* Only single pages are free: largest block / free is tiny. */
	assert_true(s.page.fragmentation_permille > 990);
	for (size_t i = 1; i < n; i += 2) {
		page_free(pages[i], 0);
	}
	s = mm_test_stats();
	assert_true(s.page.fragmentation_permille < 800);
}

/** First range: metadata plus @usable pages. */
static void add_small_first_range(unsigned usable)
{
	assert_int_equal(mm_add_memory(arena, META_PAGES_8M + usable, false), 0);
}

static void test_withdraw_only_deposited(void **state)
{
	void *out[64];

	add_small_first_range(64);
	assert_false(mm_withdraw_available());
	assert_int_equal(mm_withdraw(out, 64), 0);
	assert_int_equal(mm_add_memory(arena + 2 * MM_TEST_MIB, 16, true), 0);
	assert_true(mm_withdraw_available());
	assert_int_equal(mm_withdraw(out, 64), 16);
	for (int i = 0; i < 16; i++) {
		assert_true((u8 *)out[i] >= arena + 2 * MM_TEST_MIB);
		assert_true((u8 *)out[i] < arena + 2 * MM_TEST_MIB + 16 * PG);
		assert_int_equal((uintptr_t)out[i] % PG, 0);
		for (int j = 0; j < i; j++) {
			assert_ptr_not_equal(out[i], out[j]);
		}
	}
	assert_false(mm_withdraw_available());
	assert_int_equal(mm_withdraw(NULL, 4), 0);
}

static void test_withdraw_skips_pages_in_use(void **state)
{
	void *used[8], *out[64];
	int n;

	add_small_first_range(1);
	assert_int_equal(mm_add_memory(arena + 2 * MM_TEST_MIB, 16, true), 0);
	for (int i = 0; i < 4; i++) {
		used[i] = page_alloc(0);
		assert_non_null(used[i]);
		memset(used[i], 0x5a, PG);
	}
	n = (int)mm_withdraw(out, 64);
	assert_int_equal(n, 13);
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < 4; j++) {
			assert_ptr_not_equal(out[i], used[j]);
		}
	}
	/* Withdrawn pages are gone: nothing is left to allocate. */
	assert_null(page_alloc(0));
	/* A page in use becomes withdrawable once freed. */
	page_free(used[2], 0);
	assert_int_equal(mm_withdraw(out, 64), 1);
	assert_ptr_equal(out[0], used[2]);
}

static void test_withdraw_partial_and_redeposit(void **state)
{
	void *out[16];
	struct mm_stats s;

	add_small_first_range(1);
	assert_int_equal(mm_add_memory(arena + 2 * MM_TEST_MIB, 8, true), 0);
	assert_int_equal(mm_withdraw(out, 3), 3);
	s = mm_test_stats();
	assert_int_equal(s.page.free, (1 + 5) * PG);
	/* A withdrawn page may come back; a page still owned may not come twice. */
	assert_int_equal(mm_add_memory(out[0], 1, true), 0);
	assert_int_equal(mm_add_memory(out[0], 1, true), -1);
	assert_int_equal(mm_withdraw(out + 3, 16), 6);
	assert_false(mm_withdraw_available());
}

static void test_redeposit_does_not_merge_with_old_range(void **state)
{
	void *out[4];
	u8 *base = arena + 2 * MM_TEST_MIB;

	add_small_first_range(1);
	assert_non_null(page_alloc(0));
	assert_int_equal(mm_add_memory(base, 2, true), 0);
	assert_int_equal(mm_withdraw(out, 1), 1);
	assert_ptr_equal(out[0], base);
	assert_int_equal(mm_add_memory(base, 1, true), 0);
	/* base and base+4K are free and buddies, but from different ranges. */
	assert_null(page_alloc(1));
	assert_non_null(page_alloc(0));
	assert_non_null(page_alloc(0));
}

static void test_withdrawable_used_last(void **state)
{
	u8 *p;

	add_small_first_range(2);
	assert_int_equal(mm_add_memory(arena + 2 * MM_TEST_MIB, 8, true), 0);
	p = page_alloc(0);
	assert_true(p < arena + 2 * MM_TEST_MIB);
	p = page_alloc(0);
	assert_true(p < arena + 2 * MM_TEST_MIB);
	p = page_alloc(0);
	assert_true(p >= arena + 2 * MM_TEST_MIB);
}

static void test_fail_nth_pages(void **state)
{
	u64 c0 = mm_alloc_count();
	struct mm_stats s;

	mm_fail_nth(3);
	assert_non_null(page_alloc(0));
	assert_non_null(page_alloc(0));
	assert_null(page_alloc(0));
	assert_non_null(page_alloc(0));
	assert_int_equal(mm_alloc_count() - c0, 4);
	s = mm_test_stats();
	assert_int_equal(s.page.fail_count, 1);
	mm_fail_nth(1);
	mm_fail_nth(0);
	assert_non_null(page_alloc(0));
}

static void test_fail_nth_counts_heap_and_pages(void **state)
{
	void *p;

	mm_fail_nth(2);
	p = mem_alloc(10);
	assert_non_null(p);
	assert_null(page_alloc(0));
	assert_non_null(mem_alloc(10));
	mm_fail_nth(2);
	assert_non_null(page_alloc(0));
	assert_null(mem_alloc(100));
}

static void test_huge_span_costs_little(void **state)
{
	/* A 64 GiB span: the metadata array is reserved, only the used part is touched. */
	size_t span = (size_t)64 << 30;
	u8 *a = mm_test_arena(span);
	struct mm_stats s;
	void *p;

	assert_int_equal(mm_init(a, span), 0);
	assert_int_equal(mm_add_memory(a, (256u << 20) / PG + 2 + 1024, false), 0);
	s = mm_test_stats();
	assert_int_equal(s.meta_bytes, (256u << 20) + 2 * PG);
	assert_int_equal(s.page.free, 1024 * PG);
	assert_int_equal(mm_add_memory(a + ((size_t)40 << 30), 512, true), 0);
	p = page_alloc(MM_MAX_ORDER);
	assert_non_null(p);
	page_free(p, MM_MAX_ORDER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_init_rejects_bad_span, setup_empty),
		cmocka_unit_test_setup(test_add_rejects_bad_ranges, setup_empty),
		cmocka_unit_test_setup(test_metadata_carved_from_first_range, setup_empty),
		cmocka_unit_test_setup(test_alignment_every_order, setup_all),
		cmocka_unit_test_setup(test_alloc_zeroed, setup_all),
		cmocka_unit_test_setup(test_exhaustion_and_recovery, setup_all),
		cmocka_unit_test_setup(test_coalescing_restores_2m_blocks, setup_all),
		cmocka_unit_test_setup(test_splitting_takes_smallest_block, setup_empty),
		cmocka_unit_test_setup(test_ranges_never_coalesce, setup_empty),
		cmocka_unit_test_setup(test_free_null_and_stats, setup_all),
		cmocka_unit_test_setup(test_fragmentation_reported, setup_all),
		cmocka_unit_test_setup(test_withdraw_only_deposited, setup_empty),
		cmocka_unit_test_setup(test_withdraw_skips_pages_in_use, setup_empty),
		cmocka_unit_test_setup(test_withdraw_partial_and_redeposit, setup_empty),
		cmocka_unit_test_setup(test_redeposit_does_not_merge_with_old_range, setup_empty),
		cmocka_unit_test_setup(test_withdrawable_used_last, setup_empty),
		cmocka_unit_test_setup(test_fail_nth_pages, setup_all),
		cmocka_unit_test_setup(test_fail_nth_counts_heap_and_pages, setup_all),
		cmocka_unit_test_setup(test_huge_span_costs_little, setup_empty),
	};

	return cmocka_run_group_tests_name("mm_page", tests, NULL, NULL);
}
