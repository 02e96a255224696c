/* In-image tests of the allocators (svsm/mm) as the booted SVSM uses them: pages, heap, slabs, stats, failure injection. */
#include <svsm/arch.h>
#include <svsm/ghcb.h>
#include <svsm/mm.h>
#include <svsm/panic.h>
#include <svsm/string.h>

#include "ktest.h"
#include "snp.h"

/* True if the page-allocator block at @p lies inside the booted SVSM region. */
static bool in_svsm_region(struct ktest_env *e, const void *p, u64 len)
{
	u64 gpa = arch_virt_to_phys(p);

	return gpa >= e->m->cfg.svsm_base && gpa + len <= e->m->cfg.svsm_base + e->m->cfg.svsm_size;
}

static void test_mm_page_orders(void)
{
	struct ktest_env *e = ktest_boot();
	struct mm_stats before, after;

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	mm_get_stats(&before);
	for (unsigned order = 0; order <= MM_MAX_ORDER; order++) {
		u64 len = PAGE_SIZE << order;
		void *p = page_alloc(order);
		if (!KCHECK(p != NULL, "order %u failed", order)) {
			continue;
		}
		KCHECK(IS_ALIGNED(arch_virt_to_phys(p), len), "order %u block not naturally aligned", order);
		KCHECK(in_svsm_region(e, p, len), "order %u block outside the SVSM region", order);
		page_free(p, order);
	}
	mm_get_stats(&after);
	KCHECK_EQ(after.page.in_use, before.page.in_use);
	ktest_as_svsm_end(e);
}

static void test_mm_page_zeroed(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	u8 *p = page_alloc(0);
	KCHECK(p != NULL, "page_alloc");
	if (p) {
		memset(p, 0xFF, PAGE_SIZE);
		page_free(p, 0);
	}
	u8 *q = page_alloc_zeroed(0);
	bool zero = q != NULL;
	for (u64 i = 0; q && i < PAGE_SIZE; i++) {
		zero &= q[i] == 0;
	}
	KCHECK(zero, "page_alloc_zeroed returned dirty memory");
	if (q) {
		page_free(q, 0);
	}
	ktest_as_svsm_end(e);
}

static void test_mm_heap_sizes(void)
{
	static const size_t sizes[] = {1, 7, 8, 16, 31, 64, 100, 256, 1000, 2048, 4000, 4096, 5000, 16384};
	void *ptrs[ARRAY_COUNT(sizes)];
	struct ktest_env *e = ktest_boot();
	struct mm_stats before, after;

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	mm_get_stats(&before);
	for (size_t i = 0; i < ARRAY_COUNT(sizes); i++) {
		ptrs[i] = mem_alloc(sizes[i]);
		if (KCHECK(ptrs[i] != NULL, "mem_alloc(%zu)", sizes[i])) {
			KCHECK(mem_usable_size(ptrs[i]) >= sizes[i], "usable size below %zu", sizes[i]);
			memset(ptrs[i], (int)(i + 1), sizes[i]);
		}
	}
	for (size_t i = 0; i < ARRAY_COUNT(sizes); i++) {
		const u8 *b = ptrs[i];
		bool intact = b != NULL;
		for (size_t j = 0; b && j < sizes[i]; j++) {
			intact &= b[j] == (u8)(i + 1);
		}
		KCHECK(intact, "allocation %zu (%zu bytes) was overwritten", i, sizes[i]);
		mem_free(ptrs[i]);
	}
	mm_get_stats(&after);
	KCHECK_EQ(after.heap.in_use, before.heap.in_use);
	ktest_as_svsm_end(e);
}

static void test_mm_heap_realloc_aligned(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	u8 *p = mem_alloc(24);
	if (KCHECK(p != NULL, "mem_alloc")) {
		for (unsigned i = 0; i < 24; i++) {
			p[i] = (u8)i;
		}
		p = mem_realloc(p, 6000);
		bool kept = p != NULL;
		for (unsigned i = 0; p && i < 24; i++) {
			kept &= p[i] == (u8)i;
		}
		KCHECK(kept, "realloc lost the contents");
		mem_free(p);
	}
	static const size_t aligns[] = {16, 64, 256, 4096};
	for (size_t i = 0; i < ARRAY_COUNT(aligns); i++) {
		void *a = mem_alloc_aligned(aligns[i], 100);
		KCHECK(a && IS_ALIGNED((u64)a, aligns[i]), "mem_alloc_aligned(%zu)", aligns[i]);
		mem_free(a);
	}
	void *z = mem_zalloc(300);
	bool zero = z != NULL;
	for (unsigned i = 0; z && i < 300; i++) {
		zero &= ((u8 *)z)[i] == 0;
	}
	KCHECK(zero, "mem_zalloc not zeroed");
	mem_free(z);
	ktest_as_svsm_end(e);
}

#define SLAB_COUNT 1500
static void test_mm_slab_many(void)
{
	static u32 *objs[SLAB_COUNT];
	struct ktest_env *e = ktest_boot();
	struct mm_stats before, after;

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	/* Empty the per-CPU caches: every object below then comes through the class's count. */
	mm_drain();
	mm_get_stats(&before);
	unsigned got = 0;
	for (unsigned i = 0; i < SLAB_COUNT; i++) {
		objs[i] = mem_alloc(48);
		if (objs[i]) {
			objs[i][0] = i;
			objs[i][11] = ~i;
			got++;
		}
	}
	KCHECK_EQ(got, SLAB_COUNT);
	bool distinct = true;
	for (unsigned i = 0; i < SLAB_COUNT; i++) {
		distinct &= !objs[i] || (objs[i][0] == i && objs[i][11] == ~i);
	}
	KCHECK(distinct, "slab objects overlap");
	for (unsigned i = SLAB_COUNT; i-- > 0;) {
		mem_free(objs[i]);
	}
	mm_get_stats(&after);
	KCHECK_EQ(after.slab.in_use, before.slab.in_use);
	KCHECK(after.slab.alloc_count >= before.slab.alloc_count + SLAB_COUNT, "slab alloc_count did not grow");
	ktest_as_svsm_end(e);
}

static void test_mm_stats_accounting(void)
{
	struct ktest_env *e = ktest_boot();
	struct mm_stats s0, s1, s2;

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	mm_get_stats(&s0);
	void *p = page_alloc(2);
	mm_get_stats(&s1);
	page_free(p, 2);
	mm_get_stats(&s2);
	KCHECK(p != NULL, "page_alloc(2)");
	KCHECK_EQ(s1.page.in_use, s0.page.in_use + 4 * PAGE_SIZE);
	KCHECK_EQ(s1.page.alloc_count, s0.page.alloc_count + 1);
	KCHECK(s1.page.peak >= s1.page.in_use, "peak below in_use");
	KCHECK_EQ(s2.page.in_use, s0.page.in_use);
	KCHECK(s0.meta_bytes > 0, "no metadata accounted");
	ktest_as_svsm_end(e);
}

static void test_mm_fail_nth(void)
{
	struct ktest_env *e = ktest_boot();
	struct mm_stats s0, s1;

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	mm_get_stats(&s0);
	u64 attempts = mm_alloc_count();
	mm_fail_nth(1);
	void *a = mem_alloc(32);
	void *b = mem_alloc(32);
	KCHECK(a == NULL, "first allocation after mm_fail_nth(1) succeeded");
	KCHECK(b != NULL, "second allocation failed too");
	mm_fail_nth(3);
	void *c1 = page_alloc(0);
	void *c2 = page_alloc(0);
	void *c3 = page_alloc(0);
	KCHECK(c1 && c2 && !c3, "mm_fail_nth(3) did not fail exactly the third");
	mm_fail_nth(0);
	mm_get_stats(&s1);
	KCHECK(mm_alloc_count() >= attempts + 5, "attempts not counted");
	KCHECK(s1.heap.fail_count + s1.page.fail_count + s1.slab.fail_count >=
		       s0.heap.fail_count + s0.page.fail_count + s0.slab.fail_count + 2,
	       "failures not counted");
	mem_free(b);
	page_free(c1, 0);
	page_free(c2, 0);
	ktest_as_svsm_end(e);
}

#define EXHAUST_MAX 2048
static void test_mm_exhaust_and_recover(void)
{
	static void *pages[EXHAUST_MAX];
	struct ktest_env *e = ktest_boot();
	struct mm_stats s0, s1;

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	mm_get_stats(&s0);
	unsigned n = 0;
	while (n < EXHAUST_MAX && (pages[n] = page_alloc(0)) != NULL) {
		n++;
	}
	KCHECK(n > 100 && n < EXHAUST_MAX, "took %u pages from a 4 MiB region", n);
	KCHECK(page_alloc(0) == NULL, "allocation after exhaustion succeeded");
	while (n > 0) {
		page_free(pages[--n], 0);
	}
	mm_get_stats(&s1);
	KCHECK_EQ(s1.page.in_use, s0.page.in_use);
	void *p = page_alloc(0);
	KCHECK(p != NULL, "no page after recovery");
	page_free(p, 0);
	ktest_as_svsm_end(e);
}

static void *double_free_page;
static void mm_double_free(void *arg)
{
	page_free(double_free_page, 0);
	page_free(double_free_page, 0);
}

/* Corruption ends in svsm_panic, which terminates through the GHCB (the emulated hypervisor). */
static void test_mm_double_free_panics(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	double_free_page = page_alloc(0);
	bool terminated = nosnp_catch_termination(e->m, mm_double_free, NULL);
	ktest_as_svsm_end(e);
	KCHECK(terminated, "double free was not detected");
	KCHECK_EQ(e->m->term_set, TERM_SET_SVSM);
	KCHECK_EQ(e->m->term_code, TERM_SVSM_PANIC);
	KCHECK(emu_exits(e->m, EXIT_MSR_TERMINATE) == 1, "termination did not go through the GHCB MSR protocol");
}

static const struct ktest tests[] = {
	{"mm_page_orders", test_mm_page_orders},
	{"mm_page_zeroed", test_mm_page_zeroed},
	{"mm_heap_sizes", test_mm_heap_sizes},
	{"mm_heap_realloc_aligned", test_mm_heap_realloc_aligned},
	{"mm_slab_many", test_mm_slab_many},
	{"mm_stats_accounting", test_mm_stats_accounting},
	{"mm_fail_nth", test_mm_fail_nth},
	{"mm_exhaust_and_recover", test_mm_exhaust_and_recover},
	{"mm_double_free_panics", test_mm_double_free_panics},
};

const struct ktest_suite ktest_suite_mm = {"mm", tests, ARRAY_COUNT(tests)};
