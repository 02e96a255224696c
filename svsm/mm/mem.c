/* The general heap: small sizes from slab classes with a checked trailer, larger ones from pages. */
#include "mm_internal.h"

#include <svsm/panic.h>
#include <svsm/string.h>

/*
 * A small allocation of n bytes takes the smallest slab class of at least n + 4 bytes.
 * The last 4 bytes of the slot are a trailer: n and a check value derived from n and
 * the address. The first byte after the n user bytes (every byte up to the trailer in
 * debug builds) is a canary. Free checks both, so writing past the requested size
 * (off-by-one included) is reported instead of silently spreading. A large allocation
 * is a run of exactly ceil(n / 4 KiB) pages whose size and slack live in the page
 * metadata; its slack begins with the same kind of canary.
 *
 * mem_usable_size() returns n, the requested size, so that callers never rely on bytes
 * the checks own.
 */

#define MEM_TRAILER 4u
#define MEM_SMALL_MAX (SLAB_MAX_SIZE - MEM_TRAILER)
#define MEM_MAX_PAGES 0xFFFFFFFFull

static SVSM_STATE u64 mem_peak;
static SVSM_STATE u64 mem_large_bytes;
static SVSM_STATE u64 mem_fail_count;

/** Reset the heap's counters (the slab and buddy layers reset themselves). */
void mem_init(void)
{
	mem_peak = 0;
	mem_large_bytes = 0;
	mem_fail_count = 0;
}

/** See mm_internal.h. */
void mem_note_small(u64 small_bytes)
{
	mm_peak_update(&mem_peak, small_bytes + __atomic_load_n(&mem_large_bytes, __ATOMIC_RELAXED));
}

/** Count @delta bytes of page-backed allocations. */
static void mem_account_large(s64 delta)
{
	u64 now = __atomic_add_fetch(&mem_large_bytes, (u64)delta, __ATOMIC_RELAXED);

	if (delta > 0) {
		mm_peak_update(&mem_peak, now + slab_user_bytes());
	}
}

/** Trailer word of a small object at @obj holding @n bytes. */
static u32 mem_trailer(const void *obj, size_t n)
{
	u32 check = (u32)(((uintptr_t)obj >> 4) * 0x9e3779b1u) ^ (u32)n ^ 0xc3a5u;

	return (u32)n | (check << 16);
}

/** Canary byte for an allocation at @obj. */
static u8 mem_canary(const void *obj)
{
	return (u8)(0xa5 ^ ((uintptr_t)obj >> 4));
}

/** Write the canary bytes into [@obj + @n, @obj + @end). */
static void mem_seal_slack(u8 *obj, size_t n, size_t end)
{
	if (n >= end) {
		return;
	}
	if (MM_DEBUG) {
		memset(obj + n, mem_canary(obj), end - n);
	} else {
		obj[n] = mem_canary(obj);
	}
}

/** Panic unless the canary bytes in [@obj + @n, @obj + @end) are intact. */
static void mem_check_slack(const u8 *obj, size_t n, size_t end, const char *who)
{
	size_t last = MM_DEBUG ? end : MIN(n + 1, end);
	u8 c = mem_canary(obj);
	u64 words = 0x0101010101010101ull * c;
	size_t i = n;

	/* Whole words where aligned (the debug build checks up to a page of slack per free). */
	while (i < last && (i & 7)) {
		if (obj[i] != c) {
			break;
		}
		i++;
	}
	if (i < last && !(i & 7)) {
		for (; i + 8 <= last; i += 8) {
			u64 w;
			__builtin_memcpy(&w, obj + i, 8);
			if (w != words) {
				break;
			}
		}
	}
	for (; i < last; i++) {
		if (obj[i] != c) {
			svsm_panic("%s: heap overflow: %p (%zu bytes) was written past its end at %p", who,
				   (const void *)obj, n, (const void *)&obj[i]);
		}
	}
}

/** Record size @n in the trailer and canary of the small object @obj of @size bytes. */
static void mem_small_seal(u8 *obj, size_t n, size_t size)
{
	u32 t = mem_trailer(obj, n);

	__builtin_memcpy(obj + size - MEM_TRAILER, &t, sizeof(t));
	mem_seal_slack(obj, n, size - MEM_TRAILER);
}

/** Check the trailer and canary of the small object @obj of @size bytes; returns its size. */
static size_t mem_small_check(const u8 *obj, size_t size, const char *who)
{
	u32 t;
	size_t n;

	__builtin_memcpy(&t, obj + size - MEM_TRAILER, sizeof(t));
	n = t & 0xffff;
	if (n > size - MEM_TRAILER || t != mem_trailer(obj, n)) {
		svsm_panic("%s: heap overflow: the trailer of %p (slot of %zu bytes) was overwritten", who,
			   (const void *)obj, size);
	}
	mem_check_slack(obj, n, size - MEM_TRAILER, who);
	return n;
}

/** A small allocation of @n bytes from class @cls, or NULL; see slab_alloc() for @count. */
static void *mem_small_alloc(size_t n, unsigned cls, bool count)
{
	u8 *obj = slab_alloc(cls, count);

	if (obj) {
		mem_small_seal(obj, n, slab_class_size(cls));
	}
	return obj;
}

/** A page-backed allocation of @n bytes aligned to 2^@align_order pages, or NULL. */
static void *mem_large_alloc(size_t n, unsigned align_order)
{
	u64 pages = MAX(((u64)n + PAGE_SIZE - 1) / PAGE_SIZE, 1ull);
	u64 slack;
	u32 idx;
	u8 *p;

	if ((u64)n > MEM_MAX_PAGES * PAGE_SIZE - PAGE_SIZE) {
		return NULL;
	}
	slack = pages * PAGE_SIZE - n;
	idx = buddy_alloc_run(pages, align_order, PG_LARGE, pages | (slack << 32), PG_TAIL, 0);
	if (idx == MM_NIL) {
		return NULL;
	}
	p = buddy_page_addr(idx);
	mem_seal_slack(p, n, pages * PAGE_SIZE);
	mem_account_large((s64)(pages * PAGE_SIZE));
	return p;
}

/** log2 of @v, a power of two. */
static unsigned mem_log2(u64 v)
{
	return (unsigned)__builtin_ctzll(v);
}

/*
 * One try at @n bytes aligned to @align (a power of two). @count: the attempt has not
 * been counted yet and is a plain small one, which the slab layer counts on its slot.
 */
static void *mem_alloc_try(size_t n, size_t align, bool count)
{
	if (n <= MEM_SMALL_MAX) {
		if (align <= 16) {
			return mem_small_alloc(n, slab_class_of(n + MEM_TRAILER), count);
		}
		if (align <= PAGE_SIZE) {
			int cls = slab_class_aligned(n + MEM_TRAILER, align);

			if (cls >= 0) {
				return mem_small_alloc(n, (unsigned)cls, false);
			}
		}
	}
	return mem_large_alloc(n, align > PAGE_SIZE ? mem_log2(align) - PAGE_SHIFT : 0);
}

/** mem_alloc_try(), and once more after the caches were drained back to the pages. */
static void *mem_alloc_retry(size_t n, size_t align, bool count)
{
	void *p = mem_alloc_try(n, align, count);

	if (!p) {
		slab_drain();
		p = mem_alloc_try(n, align, false);
	}
	if (!p) {
		__atomic_add_fetch(&mem_fail_count, 1, __ATOMIC_RELAXED);
	}
	return p;
}

/** Count an attempt; true (and a failure counted) when failure injection picks it. */
static bool mem_injected_failure(void)
{
	if (mm_attempt_fails(MM_ATTEMPT_HEAP)) {
		__atomic_add_fetch(&mem_fail_count, 1, __ATOMIC_RELAXED);
		return true;
	}
	return false;
}

/*
 * Count the attempt and allocate. The common case (small, no failure injection armed)
 * leaves the counting to the slab layer, which does it without a shared atomic.
 */
static void *mem_alloc_counted(size_t n, size_t align)
{
	if (!mm_fail_armed() && n <= MEM_SMALL_MAX && align <= 16) {
		return mem_alloc_retry(n, align, true);
	}
	if (mem_injected_failure()) {
		return NULL;
	}
	return mem_alloc_retry(n, align, false);
}

/** @size bytes aligned to 16, or NULL. mem_alloc(0) returns a unique pointer with usable size 0. */
void *mem_alloc(size_t size)
{
	return mem_alloc_counted(size, 16);
}

/** mem_alloc() with the @size bytes zeroed. */
void *mem_zalloc(size_t size)
{
	void *p = mem_alloc_counted(size, 16);

	if (p) {
		memset(p, 0, size);
	}
	return p;
}

/** @size bytes aligned to @align (a power of two); NULL if @align is not one or on failure. */
void *mem_alloc_aligned(size_t align, size_t size)
{
	if (mem_injected_failure()) {
		return NULL;
	}
	if (align == 0 || (align & (align - 1)) != 0 || align > ((size_t)1 << 40)) {
		return NULL;
	}
	return mem_alloc_retry(size, MAX(align, (size_t)16), false);
}

/* What a checked heap pointer is. */
struct mem_block {
	u32 idx;       /* page holding the allocation's first byte */
	bool large;
	unsigned cls;  /* small: slab class */
	size_t size;   /* requested size */
	u64 pages;     /* large: pages of the run */
};

/** Check that @ptr is a live heap allocation and describe it; panics naming @who otherwise. */
static void mem_inspect(void *ptr, struct mem_block *b, const char *who)
{
	struct mm_page *m = buddy_lookup(ptr, &b->idx);

	if (!m) {
		svsm_panic("%s: invalid free of %p (not heap memory)", who, ptr);
	}
	switch (m->state) {
	case PG_SLAB:
	case PG_SLAB_TAIL:
		b->large = false;
		b->cls = slab_object_class(ptr, m, b->idx);
		slab_check_live(ptr, b->cls);
		b->size = mem_small_check(ptr, slab_class_size(b->cls), who);
		return;
	case PG_LARGE:
		if (ptr != buddy_page_addr(b->idx)) {
			break;
		}
		b->large = true;
		b->pages = m->u.large.pages;
		b->size = b->pages * PAGE_SIZE - m->u.large.slack;
		mem_check_slack(ptr, b->size, b->pages * PAGE_SIZE, who);
		return;
	case PG_FREE:
		if (ptr == buddy_page_addr(b->idx)) {
			svsm_panic("%s: double free of %p", who, ptr);
		}
		break;
	default:
		break;
	}
	svsm_panic("%s: invalid free of %p (not the start of a live heap allocation)", who, ptr);
}

/** Free a block described by mem_inspect(). */
static void mem_release(void *ptr, const struct mem_block *b)
{
	if (!b->large) {
		slab_free(ptr, b->cls);
		return;
	}
	buddy_free_checked(b->idx, PG_LARGE, 0, "mem_free");
	mem_account_large(-(s64)(b->pages * PAGE_SIZE));
}

/** Free @ptr from mem_alloc() & co.; NULL is ignored; anything else invalid panics. */
void mem_free(void *ptr)
{
	struct mem_block b;

	if (!ptr) {
		return;
	}
	mem_inspect(ptr, &b, "mem_free");
	mem_release(ptr, &b);
}

/** The size @ptr was allocated (or last reallocated) with; 0 for NULL. */
size_t mem_usable_size(const void *ptr)
{
	struct mem_block b;

	if (!ptr) {
		return 0;
	}
	mem_inspect((void *)ptr, &b, "mem_usable_size");
	return b.size;
}

/*
 * Resize @ptr to @size bytes, in place when the slab class or the page count allows,
 * else by moving. NULL @ptr is mem_alloc(@size); @size 0 frees @ptr and returns NULL.
 * On failure returns NULL and leaves @ptr untouched.
 */
void *mem_realloc(void *ptr, size_t size)
{
	struct mem_block b;
	void *p;

	if (!ptr) {
		return mem_alloc(size);
	}
	if (size == 0) {
		mem_free(ptr);
		return NULL;
	}
	mem_inspect(ptr, &b, "mem_realloc");
	if (mem_injected_failure()) {
		return NULL;
	}
	if (!b.large && size <= MEM_SMALL_MAX && slab_class_of(size + MEM_TRAILER) == b.cls) {
		mem_small_seal(ptr, size, slab_class_size(b.cls));
		return ptr;
	}
	if (b.large && size > MEM_SMALL_MAX) {
		u64 pages = ((u64)size + PAGE_SIZE - 1) / PAGE_SIZE;

		if (pages <= b.pages) {
			buddy_shrink_large(b.idx, (u32)pages, (u32)(pages * PAGE_SIZE - size));
			if (pages < b.pages) {
				mem_account_large(-(s64)((b.pages - pages) * PAGE_SIZE));
			}
			mem_seal_slack(ptr, size, pages * PAGE_SIZE);
			return ptr;
		}
	}
	p = mem_alloc_retry(size, 16, false);
	if (!p) {
		return NULL;
	}
	memcpy(p, ptr, MIN(size, b.size));
	mem_release(ptr, &b);
	return p;
}

/*
 * Heap statistics from the slab totals: @user bytes of slab slots held by users and
 * @capacity bytes of slab slots overall.
 */
void mem_stats(struct mm_allocator_stats *heap, u64 user, u64 capacity)
{
	u64 large = __atomic_load_n(&mem_large_bytes, __ATOMIC_RELAXED);

	heap->in_use = user + large;
	heap->free = capacity - user;
	heap->peak = MAX(__atomic_load_n(&mem_peak, __ATOMIC_RELAXED), heap->in_use);
	heap->fragmentation_permille =
		heap->in_use + heap->free ? (u32)(heap->free * 1000 / (heap->in_use + heap->free)) : 0;
	heap->alloc_count = mm_attempt_count(MM_ATTEMPT_HEAP);
	heap->fail_count = __atomic_load_n(&mem_fail_count, __ATOMIC_RELAXED);
}
