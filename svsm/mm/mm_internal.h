/* Internal interfaces shared by the allocator's files: page metadata, buddy, slabs, heap. */
#ifndef SVSM_MM_INTERNAL_H
#define SVSM_MM_INTERNAL_H

#include <svsm/mm.h>
#include <svsm/spinlock.h>

/*
 * Lock order (outermost first): per-CPU slot lock -> slab class lock -> slab record
 * lock -> buddy lock. Every path takes a subset of them in this order; mm_lock_all()
 * takes all of them in this order for fork handlers.
 */

#define MM_NIL 0xFFFFFFFFu
/* Magazines (per-CPU caches of free slab objects); vCPUs beyond this share a slot. */
#define MM_CPU_SLOTS 16
/* Number of slab size classes, 16 B .. 3840 B (see slab.c for the list). */
#define SLAB_CLASS_COUNT 47
#define SLAB_MAX_SIZE 3840u

/* What a 4 KiB page is, as recorded in its out-of-band metadata. */
enum mm_page_state {
	PG_NONE = 0,  /* not owned by the allocator (never added, or withdrawn) */
	PG_TAIL,      /* owned, inside a block whose head is another page */
	PG_FREE,      /* head of a free buddy block of `order` */
	PG_PAGE,      /* head of a page_alloc() block of `order` */
	PG_LARGE,     /* head of a heap allocation served by whole pages */
	PG_SLAB,      /* first page of a slab; u.slab is its record */
	PG_SLAB_TAIL, /* later page of a slab; u.tail.head_off leads to the first */
	PG_RECS,      /* page holding slab records */
	PG_META,      /* page of the metadata array itself */
};

#define PGF_WITHDRAWABLE 0x01 /* deposited by the guest, may leave through mm_withdraw */
#define PGF_POISONED 0x02     /* free block whose bytes were all poisoned (debug builds) */

struct slab;

/* Out-of-band metadata of one 4 KiB page; 256 of them fill one metadata page. */
struct mm_page {
	u8 state; /* enum mm_page_state */
	u8 order;
	u8 flags; /* PGF_* */
	u8 cls;   /* slab pages: the slab's size class, so a free need not read the record */
	u32 range; /* id of the mm_add_memory() call that brought the page; 0 if none */
	union {
		struct {
			u32 next;
			u32 prev;
		} free;
		struct slab *slab;
		struct {
			u32 head_off;
			u32 unused;
		} tail;
		struct {
			u32 pages;
			u32 slack; /* bytes of the last page beyond the requested size */
		} large;
		u64 raw;
	} u;
};

_Static_assert(sizeof(struct mm_page) == 16, "page metadata must stay 16 bytes");

/* --- buddy.c: page metadata, ranges, buddy free lists -------------------------------- */
int buddy_init(void *span_base, u64 span_size);
int buddy_add(void *base, u64 page_count, bool withdrawable);
/*
 * Allocate @count contiguous pages whose first page is aligned to 2^@align_order pages;
 * the first page gets @state and @payload (stored in u.raw), the others @tail_state
 * (PG_SLAB_TAIL also records the offset to the first page); all of them get @cls. Returns the first page's
 * index or MM_NIL.
 */
u32 buddy_alloc_run(u64 count, unsigned align_order, u8 state, u64 payload, u8 tail_state, u8 cls);
/* Free @count pages from @idx; they must all belong to one allocation. */
void buddy_free_run(u32 idx, u64 count);
/*
 * Free the allocation whose first page is @idx if its metadata still says @state (and,
 * for PG_PAGE, @order); otherwise panic with a reason naming @who.
 */
void buddy_free_checked(u32 idx, u8 state, unsigned order, const char *who);
/* Index of the page holding @ptr and its metadata, or NULL if @ptr is not owned memory. */
struct mm_page *buddy_lookup(const void *ptr, u32 *idx);
struct mm_page *buddy_meta(u32 idx);
void *buddy_page_addr(u32 idx);
u64 buddy_withdraw(void **pages, u64 max);
bool buddy_withdraw_available(void);
void buddy_note_injected_failure(void);
void buddy_stats(struct mm_allocator_stats *out, u64 *meta_bytes);
/* Shrink the PG_LARGE allocation at @idx to @pages pages with @slack, freeing the rest. */
void buddy_shrink_large(u32 idx, u32 pages, u32 slack);
void buddy_lock_all(void);
void buddy_unlock_all(void);

/* --- slab.c: size classes, slabs, magazines ----------------------------------------- */
void slab_init(void);
/* Class index for an object of @size bytes (1..SLAB_MAX_SIZE). */
unsigned slab_class_of(size_t size);
/* Smallest class of at least @size bytes whose objects are @align-aligned; -1 if none. */
int slab_class_aligned(size_t size, size_t align);
size_t slab_class_size(unsigned cls);
/* An object of class @cls; @count_attempt: count it as a heap allocation attempt. */
void *slab_alloc(unsigned cls, bool count_attempt);
u64 slab_attempts(void);
/* Class of the object at @ptr inside the slab described by @m (page @idx); panics otherwise. */
unsigned slab_object_class(const void *ptr, struct mm_page *m, u32 idx);
/* Panic if @obj (a checked object of @cls) is already free. */
void slab_check_live(void *obj, unsigned cls);
void slab_free(void *obj, unsigned cls);
void slab_drain(void);
/* Folded total of slab bytes held by users (without the slots' pending frees). */
u64 slab_user_bytes(void);
void slab_stats(struct mm_allocator_stats *slab, u64 *user_bytes, u64 *capacity);
void slab_lock_all(void);
void slab_unlock_all(void);

/* --- mem.c: the heap ---------------------------------------------------------------- */
void mem_init(void);
void mem_stats(struct mm_allocator_stats *heap, u64 user, u64 capacity);
/* The folded total of slab bytes held by users is now @small_bytes: track the heap peak. */
void mem_note_small(u64 small_bytes);

/* --- mm.c: bookkeeping shared by all allocators -------------------------------------- */
enum mm_attempt {
	MM_ATTEMPT_HEAP,
	MM_ATTEMPT_PAGE,
};
/* Count one allocation attempt; true if failure injection says this one must fail. */
bool mm_attempt_fails(enum mm_attempt kind);
/* Count one attempt without the failure-injection check (the caller checked it is off). */
void mm_attempt_note(enum mm_attempt kind);
/* Whether failure injection is armed; while it is, every attempt goes through mm_attempt_fails. */
bool mm_fail_armed(void);
u64 mm_attempt_count(enum mm_attempt kind);
/* Magazine slot of the calling vCPU (0 until mm_set_cpu_hook() installs a hook). */
unsigned mm_cpu_slot(void);
/* Raise *@peak to @value if it is larger (lock-free). */
void mm_peak_update(u64 *peak, u64 value);

/* Poison byte for freed memory in debug builds. */
#define MM_POISON 0x6b

#ifdef SVSM_MM_DEBUG
#define MM_DEBUG 1
#else
#define MM_DEBUG 0
#endif

#endif
