/* Allocator-wide bookkeeping: setup, memory ranges, withdrawal, statistics, failure injection. */
#include "mm_internal.h"

static SVSM_STATE u64 mm_attempts[2];      /* indexed by enum mm_attempt */
static SVSM_STATE u64 mm_fail_countdown;   /* the attempt that reaches 0 fails */
static SVSM_STATE bool mm_fail_armed_flag; /* fast check: is a countdown running */
static SVSM_STATE unsigned (*mm_cpu_index)(void);

/** Reset every allocator for the span [@span_base, @span_base + @span_size). */
int mm_init(void *span_base, u64 span_size)
{
	if (buddy_init(span_base, span_size) != 0) {
		return -1;
	}
	slab_init();
	mem_init();
	__atomic_store_n(&mm_attempts[MM_ATTEMPT_HEAP], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&mm_attempts[MM_ATTEMPT_PAGE], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&mm_fail_countdown, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&mm_fail_armed_flag, false, __ATOMIC_RELAXED);
	return 0;
}

/** See mm.h; all checks happen in the buddy layer before anything changes. */
int mm_add_memory(void *base, u64 page_count, bool withdrawable)
{
	return buddy_add(base, page_count, withdrawable);
}

/** See mm.h. Caches are drained first so that spare slabs count as free pages. */
u64 mm_withdraw(void **pages, u64 max)
{
	if (!pages || max == 0) {
		return 0;
	}
	slab_drain();
	return buddy_withdraw(pages, max);
}

/*
 * See mm.h. Called after every SVSM call, so it only looks at the free lists: pages
 * parked in spare slabs are found by mm_withdraw()'s own drain, never promised here.
 */
bool mm_withdraw_available(void)
{
	return buddy_withdraw_available();
}

/** See mm.h. */
void mm_drain(void)
{
	slab_drain();
}

/** See mm.h. */
void mm_get_stats(struct mm_stats *out)
{
	u64 user, capacity;

	buddy_stats(&out->page, &out->meta_bytes);
	slab_stats(&out->slab, &user, &capacity);
	mem_stats(&out->heap, user, capacity);
}

/** See mm.h. */
void mm_fail_nth(u64 nth)
{
	__atomic_store_n(&mm_fail_countdown, nth, __ATOMIC_RELAXED);
	__atomic_store_n(&mm_fail_armed_flag, nth != 0, __ATOMIC_RELEASE);
}

/** See mm.h. */
u64 mm_alloc_count(void)
{
	return mm_attempt_count(MM_ATTEMPT_HEAP) + mm_attempt_count(MM_ATTEMPT_PAGE);
}

/** Attempts of one kind since mm_init() (heap attempts are partly counted per CPU slot). */
u64 mm_attempt_count(enum mm_attempt kind)
{
	u64 n = __atomic_load_n(&mm_attempts[kind], __ATOMIC_RELAXED);

	return kind == MM_ATTEMPT_HEAP ? n + slab_attempts() : n;
}

/** See mm_internal.h. */
void mm_attempt_note(enum mm_attempt kind)
{
	__atomic_add_fetch(&mm_attempts[kind], 1, __ATOMIC_RELAXED);
}

/** See mm_internal.h. */
bool mm_fail_armed(void)
{
	return __atomic_load_n(&mm_fail_armed_flag, __ATOMIC_ACQUIRE);
}

/** See mm_internal.h. */
bool mm_attempt_fails(enum mm_attempt kind)
{
	u64 left;

	__atomic_add_fetch(&mm_attempts[kind], 1, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&mm_fail_armed_flag, __ATOMIC_ACQUIRE)) {
		return false;
	}
	/* Several vCPUs may count down together: exactly one of them takes the last step. */
	left = __atomic_load_n(&mm_fail_countdown, __ATOMIC_RELAXED);
	while (left != 0) {
		if (__atomic_compare_exchange_n(&mm_fail_countdown, &left, left - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			if (left == 1) {
				__atomic_store_n(&mm_fail_armed_flag, false, __ATOMIC_RELEASE);
				return true;
			}
			return false;
		}
	}
	return false;
}

/** See mm.h. */
void mm_set_cpu_hook(unsigned (*cpu_index)(void))
{
	__atomic_store_n(&mm_cpu_index, cpu_index, __ATOMIC_RELEASE);
}

/** See mm_internal.h. */
unsigned mm_cpu_slot(void)
{
	unsigned (*hook)(void) = __atomic_load_n(&mm_cpu_index, __ATOMIC_ACQUIRE);

	return hook ? hook() % MM_CPU_SLOTS : 0;
}

/** See mm_internal.h. */
void mm_peak_update(u64 *peak, u64 value)
{
	u64 cur = __atomic_load_n(peak, __ATOMIC_RELAXED);

	while (value > cur && !__atomic_compare_exchange_n(peak, &cur, value, true, __ATOMIC_RELAXED,
							    __ATOMIC_RELAXED)) {
	}
}

/** See mm.h: every allocator lock, in the documented order. */
void mm_lock_all(void)
{
	slab_lock_all();
	buddy_lock_all();
}

/** See mm.h. */
void mm_unlock_all(void)
{
	buddy_unlock_all();
	slab_unlock_all();
}
