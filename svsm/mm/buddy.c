/* Buddy page allocator: out-of-band page metadata, memory ranges, free lists, withdrawal. */
#include "mm_internal.h"

#include <svsm/panic.h>
#include <svsm/string.h>

/*
 * Every 4 KiB page of the span has a 16-byte struct mm_page in one array carved from the
 * front of the first range. The array is only made usable (zeroed) one metadata page at
 * a time, when a range that needs it arrives, and a bitmap records which metadata pages
 * are ready: a huge span therefore costs nothing until memory inside it is handed in.
 *
 * Invariants, all under buddy_lock:
 *  - a page's state is PG_NONE exactly when the allocator does not own it;
 *  - every owned page that is not the first page of a block is PG_TAIL (or PG_SLAB_TAIL),
 *    so a pointer to the middle of a block is never mistaken for a block;
 *  - a free block lies inside one range (same range id on all its pages) and is
 *    naturally aligned on its physical address; blocks only merge with a buddy of the
 *    same range, so memory from two mm_add_memory() calls never coalesces;
 *  - free blocks of withdrawable pages sit on their own lists (zone 1), so allocations
 *    prefer boot memory and mm_withdraw() finds deposited pages without searching.
 */

#define BUDDY_ZONES 2
#define BUDDY_ENTRIES_PER_META_PAGE (PAGE_SIZE / sizeof(struct mm_page))

static SVSM_STATE struct spinlock buddy_lock;
static SVSM_STATE bool buddy_initialized;
static SVSM_STATE uintptr_t buddy_span_base;
static SVSM_STATE u64 buddy_span_pfn;
static SVSM_STATE u64 buddy_span_pages;
static SVSM_STATE struct mm_page *buddy_pages; /* NULL until the first range arrives */
static SVSM_STATE u64 *buddy_ready;            /* one bit per metadata page: zeroed and usable */
static SVSM_STATE u64 buddy_meta_page_count;   /* pages taken by the array and the bitmap */
static SVSM_STATE u32 buddy_heads[BUDDY_ZONES][MM_MAX_ORDER + 1];
static SVSM_STATE u32 buddy_next_range;

static SVSM_STATE u64 buddy_free_pages;
static SVSM_STATE u64 buddy_used_pages;
static SVSM_STATE u64 buddy_peak_pages;
static SVSM_STATE u64 buddy_alloc_count;
static SVSM_STATE u64 buddy_fail_count;

/** Byte address of page @idx of the span. */
void *buddy_page_addr(u32 idx)
{
	return (void *)(buddy_span_base + ((uintptr_t)idx << PAGE_SHIFT));
}

/** Metadata of page @idx; the caller knows the page is owned. */
struct mm_page *buddy_meta(u32 idx)
{
	return &buddy_pages[idx];
}

/** Whether the metadata page holding the entry of page @idx has been zeroed. */
static bool buddy_meta_ready(u64 idx)
{
	u64 mpage = idx / BUDDY_ENTRIES_PER_META_PAGE;

	return (__atomic_load_n(&buddy_ready[mpage / 64], __ATOMIC_ACQUIRE) >> (mpage % 64)) & 1;
}

/** Zero and publish the metadata pages for pages [@first, @first + @count). */
static void buddy_meta_prepare(u64 first, u64 count)
{
	u64 mfirst = first / BUDDY_ENTRIES_PER_META_PAGE;
	u64 mlast = (first + count - 1) / BUDDY_ENTRIES_PER_META_PAGE;

	for (u64 mp = mfirst; mp <= mlast; mp++) {
		if (buddy_meta_ready(mp * BUDDY_ENTRIES_PER_META_PAGE)) {
			continue;
		}
		memset(&buddy_pages[mp * BUDDY_ENTRIES_PER_META_PAGE], 0, PAGE_SIZE);
		__atomic_fetch_or(&buddy_ready[mp / 64], BIT(mp % 64), __ATOMIC_RELEASE);
	}
}

/** Metadata of the page holding @ptr and its index, or NULL if the allocator does not own it. */
struct mm_page *buddy_lookup(const void *ptr, u32 *idx)
{
	uintptr_t a = (uintptr_t)ptr;
	struct mm_page *m;
	u64 i;

	if (!buddy_pages || a < buddy_span_base || a - buddy_span_base >= buddy_span_pages * PAGE_SIZE) {
		return NULL;
	}
	i = (a - buddy_span_base) >> PAGE_SHIFT;
	if (!buddy_meta_ready(i)) {
		return NULL;
	}
	m = &buddy_pages[i];
	if (m->state == PG_NONE) {
		return NULL;
	}
	*idx = (u32)i;
	return m;
}

/** Largest order a block starting at page @idx may have without leaving [@idx, @end). */
static unsigned buddy_fit_order(u64 idx, u64 end)
{
	unsigned o = 0;

	while (o < MM_MAX_ORDER && ((buddy_span_pfn + idx) & BIT(o)) == 0 && idx + BIT(o + 1) <= end) {
		o++;
	}
	return o;
}

/** Put the free block at @idx of @order on its free list; @flags are its PGF_* bits. */
static void buddy_push(u32 idx, unsigned order, u8 flags)
{
	struct mm_page *m = &buddy_pages[idx];
	unsigned zone = (flags & PGF_WITHDRAWABLE) ? 1 : 0;
	u32 head = buddy_heads[zone][order];

	m->state = PG_FREE;
	m->order = (u8)order;
	m->flags = flags;
	m->u.free.prev = MM_NIL;
	m->u.free.next = head;
	if (head != MM_NIL) {
		buddy_pages[head].u.free.prev = idx;
	}
	__atomic_store_n(&buddy_heads[zone][order], idx, __ATOMIC_RELAXED);
}

/** Take the free block at @idx off its free list (its state is left to the caller). */
static void buddy_unlink(u32 idx)
{
	struct mm_page *m = &buddy_pages[idx];
	unsigned zone = (m->flags & PGF_WITHDRAWABLE) ? 1 : 0;

	if (m->u.free.prev != MM_NIL) {
		buddy_pages[m->u.free.prev].u.free.next = m->u.free.next;
	} else {
		__atomic_store_n(&buddy_heads[zone][m->order], m->u.free.next, __ATOMIC_RELAXED);
	}
	if (m->u.free.next != MM_NIL) {
		buddy_pages[m->u.free.next].u.free.prev = m->u.free.prev;
	}
}

/** Free the block at @idx of @order, merging with free buddies of the same range. */
static void buddy_merge_push(u32 idx, unsigned order, bool poisoned)
{
	u32 range = buddy_pages[idx].range;
	u8 wd = buddy_pages[idx].flags & PGF_WITHDRAWABLE;

	while (order < MM_MAX_ORDER) {
		u64 bpfn = (buddy_span_pfn + idx) ^ BIT(order);
		u64 b;
		struct mm_page *bm;

		if (bpfn < buddy_span_pfn || bpfn - buddy_span_pfn >= buddy_span_pages) {
			break;
		}
		b = bpfn - buddy_span_pfn;
		if (!buddy_meta_ready(b)) {
			break;
		}
		bm = &buddy_pages[b];
		if (bm->state != PG_FREE || bm->order != order || bm->range != range) {
			break;
		}
		buddy_unlink((u32)b);
		poisoned = poisoned && (bm->flags & PGF_POISONED);
		bm->state = PG_TAIL;
		bm->order = 0;
		bm->flags = wd;
		if (b < idx) {
			idx = (u32)b;
		}
		order++;
	}
	buddy_push(idx, order, wd | (poisoned ? PGF_POISONED : 0));
}

/** Return pages [@idx, @idx + @count) of one range to the free lists as aligned blocks. */
static void buddy_release_locked(u32 idx, u64 count, bool poisoned)
{
	u64 end = (u64)idx + count;

	for (u64 i = idx; i < end; i++) {
		struct mm_page *m = &buddy_pages[i];

		m->state = PG_TAIL;
		m->order = 0;
		m->cls = 0;
		m->flags &= PGF_WITHDRAWABLE;
		m->u.raw = 0;
	}
	for (u64 p = idx; p < end;) {
		unsigned o = buddy_fit_order(p, end);

		buddy_merge_push((u32)p, o, poisoned);
		p += BIT(o);
	}
}

/** Prepare the allocator for addresses in [@span_base, @span_base + @span_size). */
int buddy_init(void *span_base, u64 span_size)
{
	uintptr_t base = (uintptr_t)span_base;

	if (!IS_ALIGNED(base, PAGE_SIZE) || !IS_ALIGNED(span_size, PAGE_SIZE) || span_size == 0 ||
	    span_size / PAGE_SIZE >= MM_NIL || base + span_size < base) {
		return -1;
	}
	buddy_lock = (struct spinlock)SPINLOCK_INIT;
	buddy_span_base = base;
	buddy_span_pfn = base >> PAGE_SHIFT;
	buddy_span_pages = span_size / PAGE_SIZE;
	buddy_pages = NULL;
	buddy_ready = NULL;
	buddy_meta_page_count = 0;
	for (unsigned z = 0; z < BUDDY_ZONES; z++) {
		for (unsigned o = 0; o <= MM_MAX_ORDER; o++) {
			__atomic_store_n(&buddy_heads[z][o], MM_NIL, __ATOMIC_RELAXED);
		}
	}
	buddy_next_range = 1;
	buddy_free_pages = 0;
	buddy_used_pages = 0;
	buddy_peak_pages = 0;
	buddy_alloc_count = 0;
	buddy_fail_count = 0;
	buddy_initialized = true;
	return 0;
}

/** Whether [@first, @first + @count) overlaps a page the allocator already owns. */
static bool buddy_overlaps(u64 first, u64 count)
{
	for (u64 i = first; i < first + count; i++) {
		if (buddy_meta_ready(i) && buddy_pages[i].state != PG_NONE) {
			return true;
		}
	}
	return false;
}

/** Hand @page_count pages at @base to the allocator; all checks happen before any change. */
int buddy_add(void *base, u64 page_count, bool withdrawable)
{
	uintptr_t a = (uintptr_t)base;
	u64 first, start, end;
	u64 array_pages = 0, ready_pages = 0;
	bool first_range;
	u32 range;
	u8 flags = withdrawable ? PGF_WITHDRAWABLE : 0;
	int ret = -1;

	spin_lock(&buddy_lock);
	if (!buddy_initialized || !IS_ALIGNED(a, PAGE_SIZE) || page_count == 0 ||
	    page_count > buddy_span_pages || a < buddy_span_base) {
		goto out;
	}
	first = (a - buddy_span_base) / PAGE_SIZE;
	if (first >= buddy_span_pages || page_count > buddy_span_pages - first || buddy_next_range == 0) {
		goto out;
	}
	first_range = buddy_pages == NULL;
	if (first_range) {
		u64 meta_pages_needed = (buddy_span_pages + BUDDY_ENTRIES_PER_META_PAGE - 1) /
					BUDDY_ENTRIES_PER_META_PAGE;

		array_pages = meta_pages_needed;
		ready_pages = ((meta_pages_needed + 63) / 64 * sizeof(u64) + PAGE_SIZE - 1) / PAGE_SIZE;
		if (page_count <= array_pages + ready_pages) {
			goto out;
		}
		buddy_pages = (struct mm_page *)a;
		buddy_ready = (u64 *)(a + array_pages * PAGE_SIZE);
		memset(buddy_ready, 0, ready_pages * PAGE_SIZE);
		buddy_meta_page_count = array_pages + ready_pages;
	} else if (buddy_overlaps(first, page_count)) {
		goto out;
	}

	range = buddy_next_range++;
	end = first + page_count;
	buddy_meta_prepare(first, page_count);
	for (u64 i = first; i < end; i++) {
		struct mm_page *m = &buddy_pages[i];

		m->state = PG_TAIL;
		m->order = 0;
		m->cls = 0;
		m->flags = flags;
		m->range = range;
		m->u.raw = 0;
	}
	start = first;
	if (first_range) {
		for (u64 i = first; i < first + array_pages + ready_pages; i++) {
			buddy_pages[i].state = PG_META;
		}
		start = first + array_pages + ready_pages;
	}
	for (u64 p = start; p < end;) {
		unsigned o = buddy_fit_order(p, end);

		buddy_push((u32)p, o, flags);
		p += BIT(o);
	}
	buddy_free_pages += end - start;
	ret = 0;
out:
	spin_unlock(&buddy_lock);
	return ret;
}

/** Remove and return a free block of exactly @order, splitting a larger one; MM_NIL if none. */
static u32 buddy_take_block(unsigned order)
{
	for (unsigned z = 0; z < BUDDY_ZONES; z++) {
		for (unsigned o = order; o <= MM_MAX_ORDER; o++) {
			u32 idx = buddy_heads[z][o];
			u8 flags;

			if (idx == MM_NIL) {
				continue;
			}
			buddy_unlink(idx);
			flags = buddy_pages[idx].flags;
			while (o > order) {
				o--;
				buddy_push(idx + (u32)BIT(o), o, flags);
			}
			buddy_pages[idx].order = (u8)order;
			return idx;
		}
	}
	return MM_NIL;
}

/*
 * Find @nblocks consecutive free 2 MiB blocks of one range, the first aligned to
 * 2^@align_order pages, and take them off the free lists. Returns the first or MM_NIL.
 */
static u32 buddy_take_contig(u64 nblocks, unsigned align_order)
{
	u64 align = align_order >= 63 ? 0 : BIT(align_order);

	if (align == 0) {
		return MM_NIL;
	}
	for (unsigned z = 0; z < BUDDY_ZONES; z++) {
		for (u32 idx = buddy_heads[z][MM_MAX_ORDER]; idx != MM_NIL; idx = buddy_pages[idx].u.free.next) {
			u32 range = buddy_pages[idx].range;
			bool ok = true;

			if (((buddy_span_pfn + idx) & (align - 1)) != 0 ||
			    nblocks * PAGES_PER_2M > buddy_span_pages - idx) {
				continue;
			}
			for (u64 k = 1; k < nblocks && ok; k++) {
				u64 j = idx + k * PAGES_PER_2M;
				struct mm_page *m = &buddy_pages[j];

				ok = buddy_meta_ready(j) && m->state == PG_FREE && m->order == MM_MAX_ORDER &&
				     m->range == range;
			}
			if (!ok) {
				continue;
			}
			for (u64 k = 0; k < nblocks; k++) {
				u64 j = idx + k * PAGES_PER_2M;
				bool poisoned = buddy_pages[idx].flags & buddy_pages[j].flags & PGF_POISONED;

				buddy_unlink((u32)j);
				if (k > 0) {
					buddy_pages[j].state = PG_TAIL;
					buddy_pages[j].flags &= PGF_WITHDRAWABLE;
				}
				if (!poisoned) {
					buddy_pages[idx].flags &= (u8)~PGF_POISONED;
				}
			}
			return idx;
		}
	}
	return MM_NIL;
}

/** Smallest order whose block holds @count pages. */
static unsigned buddy_order_for(u64 count)
{
	unsigned o = 0;

	while (BIT(o) < count) {
		o++;
	}
	return o;
}

/** Panic if any byte of the @count pages at @idx lost its poison (written after free). */
static void buddy_verify_poison(u32 idx, u64 count)
{
	const u64 *w = buddy_page_addr(idx);
	u64 pattern = 0x0101010101010101ull * MM_POISON;

	for (u64 i = 0; i < count * PAGE_SIZE / sizeof(u64); i++) {
		if (w[i] != pattern) {
			svsm_panic("page_alloc: write after free at %p", (void *)&w[i]);
		}
	}
}

/** See mm_internal.h. */
u32 buddy_alloc_run(u64 count, unsigned align_order, u8 state, u64 payload, u8 tail_state, u8 cls)
{
	u32 idx = MM_NIL;
	u64 taken = 0;
	bool poisoned;

	spin_lock(&buddy_lock);
	buddy_alloc_count++;
	if (!buddy_pages || count == 0 || count > buddy_span_pages) {
		goto out;
	}
	if (count <= PAGES_PER_2M && align_order <= MM_MAX_ORDER) {
		unsigned order = MAX(buddy_order_for(count), align_order);

		idx = buddy_take_block(order);
		taken = BIT(order);
	} else {
		u64 nblocks = (count + PAGES_PER_2M - 1) / PAGES_PER_2M;

		idx = buddy_take_contig(nblocks, MAX(align_order, (unsigned)MM_MAX_ORDER));
		taken = nblocks * PAGES_PER_2M;
	}
	if (idx == MM_NIL) {
		goto out;
	}
	poisoned = buddy_pages[idx].flags & PGF_POISONED;
	buddy_pages[idx].flags &= PGF_WITHDRAWABLE;
	buddy_pages[idx].state = PG_TAIL;
	if (taken > count) {
		buddy_release_locked(idx + (u32)count, taken - count, poisoned);
	}
	if (MM_DEBUG && poisoned) {
		buddy_verify_poison(idx, count);
	}
	buddy_pages[idx].state = state;
	buddy_pages[idx].order = (u8)MIN(align_order, 255u);
	buddy_pages[idx].cls = cls;
	buddy_pages[idx].u.raw = payload;
	for (u64 i = 1; i < count; i++) {
		struct mm_page *m = &buddy_pages[idx + i];

		m->state = tail_state;
		m->cls = cls;
		m->u.raw = 0;
		if (tail_state == PG_SLAB_TAIL) {
			m->u.tail.head_off = (u32)i;
		}
	}
	buddy_free_pages -= count;
	buddy_used_pages += count;
	buddy_peak_pages = MAX(buddy_peak_pages, buddy_used_pages);
out:
	if (idx == MM_NIL) {
		buddy_fail_count++;
	}
	spin_unlock(&buddy_lock);
	return idx;
}

/** Count an allocation that failure injection refused, in the page allocator's stats. */
void buddy_note_injected_failure(void)
{
	spin_lock(&buddy_lock);
	buddy_alloc_count++;
	buddy_fail_count++;
	spin_unlock(&buddy_lock);
}

/** Poison (in debug builds) and free @count pages at @idx; buddy_lock held. */
static void buddy_free_locked(u32 idx, u64 count)
{
	if (MM_DEBUG) {
		memset(buddy_page_addr(idx), MM_POISON, count * PAGE_SIZE);
	}
	buddy_release_locked(idx, count, MM_DEBUG);
	buddy_used_pages -= count;
	buddy_free_pages += count;
}

/** See mm_internal.h. */
void buddy_free_run(u32 idx, u64 count)
{
	spin_lock(&buddy_lock);
	buddy_free_locked(idx, count);
	spin_unlock(&buddy_lock);
}

/** See mm_internal.h. */
void buddy_free_checked(u32 idx, u8 state, unsigned order, const char *who)
{
	struct mm_page *m;
	u8 found_state, found_order;
	u64 count;

	spin_lock(&buddy_lock);
	m = &buddy_pages[idx];
	found_state = m->state;
	found_order = m->order;
	if (found_state != state || (state == PG_PAGE && found_order != order)) {
		spin_unlock(&buddy_lock);
		if (found_state == PG_FREE) {
			svsm_panic("%s: double free of %p", who, buddy_page_addr(idx));
		}
		if (found_state == state) {
			svsm_panic("%s: %p freed with order %u but allocated with order %u", who,
				   buddy_page_addr(idx), order, found_order);
		}
		svsm_panic("%s: invalid free of %p (not the start of a live block)", who, buddy_page_addr(idx));
	}
	if (state == PG_LARGE) {
		count = m->u.large.pages;
	} else {
		count = BIT(found_order);
	}
	buddy_free_locked(idx, count);
	spin_unlock(&buddy_lock);
}

/** See mm_internal.h. */
void buddy_shrink_large(u32 idx, u32 pages, u32 slack)
{
	struct mm_page *m;
	u32 old;

	spin_lock(&buddy_lock);
	m = &buddy_pages[idx];
	old = m->u.large.pages;
	m->u.large.pages = pages;
	m->u.large.slack = slack;
	if (pages < old) {
		buddy_free_locked(idx + pages, old - pages);
	}
	spin_unlock(&buddy_lock);
}

/** See mm_internal.h: take free withdrawable pages, smallest blocks first. */
u64 buddy_withdraw(void **out, u64 max)
{
	u64 n = 0;

	spin_lock(&buddy_lock);
	while (n < max) {
		unsigned o = 0;
		u32 idx;
		u8 flags;

		while (o <= MM_MAX_ORDER && buddy_heads[1][o] == MM_NIL) {
			o++;
		}
		if (o > MM_MAX_ORDER) {
			break;
		}
		idx = buddy_heads[1][o];
		flags = buddy_pages[idx].flags;
		buddy_unlink(idx);
		/* Take only what was asked for: the upper halves go back to the free lists. */
		while (BIT(o) > max - n) {
			o--;
			buddy_push(idx + (u32)BIT(o), o, flags);
		}
		for (u64 i = 0; i < BIT(o); i++) {
			struct mm_page *m = &buddy_pages[idx + i];

			m->state = PG_NONE;
			m->order = 0;
			m->cls = 0;
			m->flags = 0;
			m->range = 0;
			m->u.raw = 0;
			out[n++] = buddy_page_addr(idx + (u32)i);
		}
		buddy_free_pages -= BIT(o);
	}
	spin_unlock(&buddy_lock);
	return n;
}

/** Whether any withdrawable page is free. */
bool buddy_withdraw_available(void)
{
	/* A lock-free look at the list heads: the answer is a hint that may be stale by the
	 * time the caller acts, and the request handler asks after every SVSM call. */
	for (unsigned o = 0; o <= MM_MAX_ORDER; o++) {
		if (__atomic_load_n(&buddy_heads[1][o], __ATOMIC_RELAXED) != MM_NIL) {
			return true;
		}
	}
	return false;
}

/** Page allocator statistics; @meta_bytes receives the size of the metadata array. */
void buddy_stats(struct mm_allocator_stats *out, u64 *meta_bytes)
{
	u64 largest = 0;

	spin_lock(&buddy_lock);
	for (unsigned o = 0; o <= MM_MAX_ORDER; o++) {
		if (buddy_heads[0][o] != MM_NIL || buddy_heads[1][o] != MM_NIL) {
			largest = BIT(o);
		}
	}
	out->in_use = buddy_used_pages * PAGE_SIZE;
	out->free = buddy_free_pages * PAGE_SIZE;
	out->peak = buddy_peak_pages * PAGE_SIZE;
	out->fragmentation_permille = buddy_free_pages ? (u32)(1000 - largest * 1000 / buddy_free_pages) : 0;
	out->alloc_count = buddy_alloc_count;
	out->fail_count = buddy_fail_count;
	*meta_bytes = buddy_meta_page_count * PAGE_SIZE;
	spin_unlock(&buddy_lock);
}

/** Take buddy_lock for a fork handler (see mm_lock_all). */
void buddy_lock_all(void)
{
	spin_lock(&buddy_lock);
}

/** Release what buddy_lock_all() took. */
void buddy_unlock_all(void)
{
	spin_unlock(&buddy_lock);
}
