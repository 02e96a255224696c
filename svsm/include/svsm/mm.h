/*
 * Memory management of the SVSM core: the page allocator (buddy, 4 KiB .. 2 MiB),
 * slab caches for small objects and a general heap on top. Every allocation may fail
 * and returns NULL; nothing here aborts on out-of-memory. Corruption that the
 * allocator detects (double free, invalid free, overwritten metadata) ends in
 * svsm_panic() with a reason.
 *
 * All addresses are direct-map virtual addresses (arch_phys_to_virt); memory enters
 * the allocator as page ranges at boot and through SVSM_CORE_DEPOSIT_MEM, and leaves
 * through SVSM_CORE_WITHDRAW_MEM.
 */
#ifndef SVSM_MM_H
#define SVSM_MM_H

#include <svsm/types.h>

#define MM_MAX_ORDER 9 /* 2^9 pages = 2 MiB */

/*
 * Prepare the allocator. @span_base/@span_size bound every address that will ever be
 * handed in (the direct map of guest memory); out-of-band metadata is sized from it
 * and carved from the first range given to mm_add_memory(): 16 bytes per 4 KiB page of
 * the span plus one bit per 1 MiB, i.e. span / 256 (only the parts covering memory
 * actually handed in are ever written). Resets every allocator: no allocation may be
 * live. Returns 0 or -1 (span not page aligned, empty, or over 2^32 pages).
 */
int mm_init(void *span_base, u64 span_size);

/*
 * Hand @page_count 4 KiB pages at @base (page aligned, inside the span, not already
 * owned) to the page allocator. @withdrawable marks guest-deposited memory that
 * mm_withdraw() may give back. Returns 0, or -1 (and takes nothing) if the range is
 * invalid or overlaps memory the allocator already has.
 */
int mm_add_memory(void *base, u64 page_count, bool withdrawable);

/* 2^@order contiguous pages, naturally aligned; NULL when none is free. */
void *page_alloc(unsigned order);
/* Same, zero-filled. */
void *page_alloc_zeroed(unsigned order);
/* Give back a block from page_alloc() with the same order. */
void page_free(void *page, unsigned order);

/*
 * Take up to @max free withdrawable 4 KiB pages out of the allocator for good and
 * store their addresses in @pages. Returns how many were taken.
 */
u64 mm_withdraw(void **pages, u64 max);
/*
 * True when a withdrawable page is free, so that mm_withdraw() will return at least one.
 * Cheap (no cache drain); mm_withdraw() may find more once it has drained the caches.
 */
bool mm_withdraw_available(void);

/*
 * General heap: sizes up to 3836 bytes from slab classes (a 4-byte trailer per object
 * checks for overflow), larger ones as exact runs of pages, above 2 MiB as runs of
 * 2 MiB blocks. 16-byte alignment. mem_alloc(0) returns a unique pointer with usable
 * size 0. mem_usable_size() returns the size last requested. mem_realloc(NULL, n) is
 * mem_alloc(n); mem_realloc(p, 0) frees p and returns NULL; a failed mem_realloc leaves
 * p untouched. mem_alloc_aligned() wants a power-of-two alignment (NULL otherwise).
 * mem_free(NULL) does nothing; freeing anything that is not a live allocation panics.
 */
void *mem_alloc(size_t size);
void *mem_zalloc(size_t size);
void *mem_realloc(void *ptr, size_t size);
void *mem_alloc_aligned(size_t align, size_t size);
void mem_free(void *ptr);
size_t mem_usable_size(const void *ptr);

/* Usage of one allocator, in bytes. */
struct mm_allocator_stats {
	u64 in_use;
	u64 free;
	u64 peak;
	u32 fragmentation_permille; /* 1000 * (1 - largest free block / free) */
	u64 alloc_count;
	u64 fail_count;
};

/*
 * page: pages handed out (heap, slabs and slab records included); slab: object slots,
 * in_use = slots held by users, free = empty slots (magazines included); heap: in_use =
 * slab slots plus page runs held by users, free = empty slab slots, and
 * fragmentation_permille = 1000 * free / (in_use + free), the share of the heap's
 * footprint not handed out. meta_bytes: the page metadata array (not in page.in_use).
 */
struct mm_stats {
	struct mm_allocator_stats page;
	struct mm_allocator_stats slab;
	struct mm_allocator_stats heap;
	u64 meta_bytes;
};

/* Snapshot of every allocator's usage (the observability protocol reports it). */
void mm_get_stats(struct mm_stats *out);

/*
 * Allocation-failure injection for tests: make the @nth allocation from now (1-based,
 * counted across page_alloc, slab and heap) fail; 0 disables it. mm_alloc_count()
 * returns allocations attempted since boot, so a harness can size its sweep.
 */
void mm_fail_nth(u64 nth);
u64 mm_alloc_count(void);

/*
 * Give every cached free object (per-CPU magazines, spare slabs, empty slab record
 * pages) back to the page allocator. Allocations do this by themselves before failing;
 * mm_withdraw() does it first.
 */
void mm_drain(void);

/*
 * Install the function that says which vCPU is running (any small number; it is taken
 * modulo the number of cache slots). Without one, all vCPUs share one cache slot, which
 * stays correct (a busy slot is bypassed) but scales worse. Survives mm_init().
 */
void mm_set_cpu_hook(unsigned (*cpu_index)(void));

/* Take / release every allocator lock, in order (for fork handlers of the hosted build). */
void mm_lock_all(void);
void mm_unlock_all(void);

#endif
