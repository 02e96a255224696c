/* The page allocator's public entry points: page_alloc, page_alloc_zeroed, page_free. */
#include "mm_internal.h"

#include <svsm/panic.h>
#include <svsm/string.h>

/** 2^@order naturally aligned pages, or NULL (also for @order > MM_MAX_ORDER). */
void *page_alloc(unsigned order)
{
	u32 idx;

	if (order > MM_MAX_ORDER) {
		return NULL;
	}
	if (mm_attempt_fails(MM_ATTEMPT_PAGE)) {
		buddy_note_injected_failure();
		return NULL;
	}
	idx = buddy_alloc_run(BIT(order), order, PG_PAGE, 0, PG_TAIL, 0);
	if (idx == MM_NIL) {
		/* Spare slabs and magazines may hold whole pages: give them back and retry. */
		slab_drain();
		idx = buddy_alloc_run(BIT(order), order, PG_PAGE, 0, PG_TAIL, 0);
	}
	return idx == MM_NIL ? NULL : buddy_page_addr(idx);
}

/** page_alloc() with the block zeroed. */
void *page_alloc_zeroed(unsigned order)
{
	void *p = page_alloc(order);

	if (p) {
		memset(p, 0, PAGE_SIZE << order);
	}
	return p;
}

/** Free a block from page_alloc(); NULL is ignored, anything not allocated so panics. */
void page_free(void *page, unsigned order)
{
	struct mm_page *m;
	u32 idx;

	if (!page) {
		return;
	}
	if (order > MM_MAX_ORDER || !IS_ALIGNED((uintptr_t)page, PAGE_SIZE)) {
		svsm_panic("page_free: invalid free of %p with order %u", page, order);
	}
	m = buddy_lookup(page, &idx);
	if (!m) {
		svsm_panic("page_free: invalid free of %p (not allocator memory)", page);
	}
	buddy_free_checked(idx, PG_PAGE, order, "page_free");
}
