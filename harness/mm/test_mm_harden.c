/* Tests of the allocators' corruption checks: each one must end in svsm_panic with its reason. */
#include "mm/mm_test.h"

#include <string.h>

#define PG 4096u

static u8 *arena;

/** Fresh allocator over 8 MiB, all of it added. */
static int setup(void **state)
{
	arena = mm_test_init_all(8 * MM_TEST_MIB);
	mm_set_cpu_hook(NULL);
	return 0;
}

/** mem_free(@arg). */
static void do_mem_free(void *arg)
{
	mem_free(arg);
}

/** mem_free(@arg) twice. */
static void do_mem_free_twice(void *arg)
{
	mem_free(arg);
	mem_free(arg);
}

/** page_free(@arg, 0). */
static void do_page_free0(void *arg)
{
	page_free(arg, 0);
}

/** page_free(@arg, 1). */
static void do_page_free1(void *arg)
{
	page_free(arg, 1);
}

/** mem_realloc(@arg, 64). */
static void do_realloc(void *arg)
{
	mem_realloc(arg, 64);
}

/** mem_usable_size(@arg). */
static void do_usable(void *arg)
{
	mem_usable_size(arg);
}

/** mem_alloc() of the size class of @arg's 64-byte object. */
static void do_alloc64(void *arg)
{
	mem_alloc(50);
}

/*
 * An order-0 page whose buddy is allocated too, so that freeing it cannot merge: 8 pages
 * are allocated and the others stay allocated.
 */
static u8 *page_with_busy_buddy(void)
{
	u8 *p[8];

	for (int i = 0; i < 8; i++) {
		p[i] = page_alloc(0);
		assert_non_null(p[i]);
	}
	for (int i = 0; i < 8; i++) {
		for (int j = 0; j < 8; j++) {
			if ((uintptr_t)p[j] == ((uintptr_t)p[i] ^ PG)) {
				return p[i];
			}
		}
	}
	fail_msg("no buddy pair among 8 pages");
	return NULL;
}

/** page_alloc(0). */
static void do_page_alloc0(void *arg)
{
	page_alloc(0);
}

static void test_double_free_small(void **state)
{
	mm_test_expect_panic(do_mem_free_twice, mem_alloc(24), "double free");
}

static void test_double_free_small_after_drain(void **state)
{
	void *keep = mem_alloc(24);
	void *p = mem_alloc(24);

	/* keep holds the slab, so that it stays a slab after the drain. */
	assert_non_null(keep);
	mem_free(p);
	/* The object is back in its slab, not in a magazine any more. */
	mm_drain();
	mm_test_expect_panic(do_mem_free, p, "double free");
}

static unsigned fake_cpu;

/** CPU hook returning the test's chosen CPU. */
static unsigned fake_cpu_index(void)
{
	return fake_cpu;
}

static void test_double_free_across_cpus(void **state)
{
	void *p;

	mm_set_cpu_hook(fake_cpu_index);
	fake_cpu = 1;
	p = mem_alloc(100);
	mem_free(p);
	/* Freed again by another vCPU: found in the first vCPU's magazine. */
	fake_cpu = 2;
	mm_test_expect_panic(do_mem_free, p, "double free");
	mm_set_cpu_hook(NULL);
}

static void test_double_free_large(void **state)
{
	mm_test_expect_panic(do_mem_free_twice, mem_alloc(3 * PG), "double free");
}

static void test_double_free_page(void **state)
{
	void *p = page_with_busy_buddy();

	page_free(p, 0);
	mm_test_expect_panic(do_page_free0, p, "double free");
}

static void test_invalid_free_interior_small(void **state)
{
	u8 *p = mem_alloc(64);

	mm_test_expect_panic(do_mem_free, p + 16, "invalid free");
}

static void test_invalid_free_interior_large(void **state)
{
	u8 *p = mem_alloc(5 * PG);

	mm_test_expect_panic(do_mem_free, p + PG, "invalid free");
}

static void test_invalid_free_foreign_pointer(void **state)
{
	int on_stack;

	mm_test_expect_panic(do_mem_free, &on_stack, "not heap memory");
	/* Inside the span but never handed in: the metadata pages. */
	mm_test_expect_panic(do_mem_free, arena + 16, "invalid free");
}

static void test_page_free_wrong_order(void **state)
{
	void *p = page_alloc(0);

	mm_test_expect_panic(do_page_free1, p, "order");
}

static void test_page_free_of_heap_memory(void **state)
{
	void *p = mem_alloc(8 * PG);

	mm_test_expect_panic(do_page_free0, p, "invalid free");
}

static void test_mem_free_of_page(void **state)
{
	void *p = page_alloc(0);

	mm_test_expect_panic(do_mem_free, p, "invalid free");
}

static void test_page_free_unaligned(void **state)
{
	u8 *p = page_alloc(0);

	mm_test_expect_panic(do_page_free0, p + 8, "invalid free");
}

static void test_overflow_by_one_byte(void **state)
{
	u8 *p = mem_alloc(20);

	p[20] = 0;
	mm_test_expect_panic(do_mem_free, p, "heap overflow");
}

static void test_overflow_into_trailer(void **state)
{
	u8 *p = mem_alloc(28);

	/* 28 bytes fill the 32-byte slot up to its trailer; 4 more reach it. */
	memset(p, 0x41, 32);
	mm_test_expect_panic(do_mem_free, p, "trailer");
}

static void test_overflow_debug_catches_far_slack(void **state)
{
	u8 *p = mem_alloc(40);

	/* Slot of 48: canaries at 40..43; the debug build checks all of them. */
	p[42] = p[42] ^ 1;
	mm_test_expect_panic(do_mem_free, p, "heap overflow");
}

static void test_overflow_debug_catches_far_large_slack(void **state)
{
	u8 *p = mem_alloc(2 * PG + 100);

	/* The last canary byte of the third page, checked a word at a time. */
	p[3 * PG - 1] ^= 1;
	mm_test_expect_panic(do_mem_free, p, "heap overflow");
}

static void test_overflow_large(void **state)
{
	u8 *p = mem_alloc(2 * PG + 100);

	p[2 * PG + 100] = 7;
	mm_test_expect_panic(do_mem_free, p, "heap overflow");
}

static void test_overflow_seen_by_realloc(void **state)
{
	u8 *p = mem_alloc(100);

	p[100] ^= 0xff;
	mm_test_expect_panic(do_realloc, p, "heap overflow");
}

static void test_realloc_after_free(void **state)
{
	u8 *p = mem_alloc(100);

	mem_free(p);
	mm_test_expect_panic(do_realloc, p, "double free");
}

static void test_usable_size_of_bad_pointer(void **state)
{
	u8 *p = mem_alloc(100);

	mm_test_expect_panic(do_usable, p + 1, "invalid free");
}

static void test_freed_memory_poisoned(void **state)
{
	u8 *p = mem_alloc(200);
	u8 *pg = page_alloc(1);
	void *keep = page_alloc(1);

	assert_non_null(keep);
	memset(p, 0, 200);
	memset(pg, 0, 2 * PG);
	mem_free(p);
	page_free(pg, 1);
	/* Past the first word (the free tag), every byte of a freed object is poison. */
	for (int i = 8; i < 200; i++) {
		assert_int_equal(p[i], 0x6b);
	}
	for (unsigned i = 0; i < 2 * PG; i++) {
		assert_int_equal(pg[i], 0x6b);
	}
}

static void test_write_after_free_small(void **state)
{
	u8 *p = mem_alloc(50);

	mem_free(p);
	p[30] = 1;
	/* The next allocation of that class takes p again and sees the write. */
	mm_test_expect_panic(do_alloc64, NULL, "write after free");
}

static void test_write_after_free_page(void **state)
{
	u8 *p = page_with_busy_buddy();

	page_free(p, 0);
	p[100] = 1;
	mm_test_expect_panic(do_page_alloc0, NULL, "write after free");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_double_free_small, setup),
		cmocka_unit_test_setup(test_double_free_small_after_drain, setup),
		cmocka_unit_test_setup(test_double_free_across_cpus, setup),
		cmocka_unit_test_setup(test_double_free_large, setup),
		cmocka_unit_test_setup(test_double_free_page, setup),
		cmocka_unit_test_setup(test_invalid_free_interior_small, setup),
		cmocka_unit_test_setup(test_invalid_free_interior_large, setup),
		cmocka_unit_test_setup(test_invalid_free_foreign_pointer, setup),
		cmocka_unit_test_setup(test_page_free_wrong_order, setup),
		cmocka_unit_test_setup(test_page_free_of_heap_memory, setup),
		cmocka_unit_test_setup(test_mem_free_of_page, setup),
		cmocka_unit_test_setup(test_page_free_unaligned, setup),
		cmocka_unit_test_setup(test_overflow_by_one_byte, setup),
		cmocka_unit_test_setup(test_overflow_into_trailer, setup),
		cmocka_unit_test_setup(test_overflow_debug_catches_far_slack, setup),
		cmocka_unit_test_setup(test_overflow_debug_catches_far_large_slack, setup),
		cmocka_unit_test_setup(test_overflow_large, setup),
		cmocka_unit_test_setup(test_overflow_seen_by_realloc, setup),
		cmocka_unit_test_setup(test_realloc_after_free, setup),
		cmocka_unit_test_setup(test_usable_size_of_bad_pointer, setup),
		cmocka_unit_test_setup(test_freed_memory_poisoned, setup),
		cmocka_unit_test_setup(test_write_after_free_small, setup),
		cmocka_unit_test_setup(test_write_after_free_page, setup),
	};

	return cmocka_run_group_tests_name("mm_harden", tests, NULL, NULL);
}
