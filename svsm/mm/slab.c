/* Slab caches: small objects in size classes, out-of-band slab records, per-CPU magazines. */
#include "mm_internal.h"

#include <svsm/panic.h>
#include <svsm/string.h>

/*
 * A slab is 2^order pages cut into equal objects of one size class. Its record (which
 * objects are free, list links) lives in a separate record page, never next to user
 * bytes, so an overflow cannot rewrite it. The page metadata of the slab's first page
 * points at the record, the other pages lead back to the first, and every page carries
 * the class, so that a free finds class and object index from the metadata alone.
 *
 * Each vCPU slot has a magazine per class: a small stack of free objects taken from
 * (and returned to) the slabs in batches under the class lock, so the common
 * alloc/free touches only the slot's own lock. The slot lock is only ever tried: a
 * vCPU that finds its slot busy (two vCPUs mapped to one slot, e.g. without a CPU hook) goes to
 * the class directly. Objects in a magazine are marked allocated in their slab; the
 * first word of a freed object holds a tag derived from its address, which makes a
 * second free of it visible at once and is then confirmed against the magazines and
 * the slab before panicking.
 */

#define SLAB_MAG 32
#define SLAB_MAX_OBJS 256
#define SLAB_RECS_PER_PAGE (PAGE_SIZE / 64)
#define SLAB_TAG_SALT 0x5d1c0a7be4f29e35ull

/* 16-byte steps up to 256 B, then 8 classes per doubling (at most 12.5% rounding). */
static const u16 slab_sizes[SLAB_CLASS_COUNT] = {
	16,   32,   48,   64,   80,   96,   112,  128,  144,  160,  176,  192,  208,  224,  240,  256,
	288,  320,  352,  384,  416,  448,  480,  512,  576,  640,  704,  768,  832,  896,  960,  1024,
	1152, 1280, 1408, 1536, 1664, 1792, 1920, 2048, 2304, 2560, 2816, 3072, 3328, 3584, 3840,
};

/* Out-of-band record of one slab. */
struct slab {
	struct slab *next;
	struct slab *prev;
	u64 free_map[SLAB_MAX_OBJS / 64]; /* 1 = free in the slab (not in a magazine) */
	u32 page;                         /* index of the first page */
	u16 free_count;
	u8 cls;
	u8 on_partial;
};

_Static_assert(SLAB_CLASS_COUNT <= 64, "slab_cpu.nonempty has one bit per class");
_Static_assert(sizeof(struct slab) <= 64, "a slab record must fit its 64-byte slot");
_Static_assert(SLAB_RECS_PER_PAGE == 64, "one u64 bitmap (used_map) covers a record page");
_Static_assert((PAGE_SIZE << 3) * (u64)SLAB_MAX_SIZE < BIT(32), "slab_index() needs off * size < 2^32");

/* Header in slot 0 of a record page. */
struct slab_rec_page {
	u64 used_map; /* bit 0 is the header itself */
	u32 used;
	u32 unused;
	struct slab_rec_page *next;
	struct slab_rec_page *prev;
};

struct slab_class {
	struct spinlock lock;
	u32 size;
	u32 recip; /* ceil(2^32 / size): offset / size as a multiply (offsets < 2^16) */
	u32 per_slab;
	u32 order;
	u32 mag_limit;
	struct slab *partial; /* slabs with free objects */
	struct slab *empty;   /* one entirely free slab kept against alloc/free thrash */
	u64 slabs;
	u64 free_objs;
	u64 alloc_count;
	u64 fail_count;
} __attribute__((aligned(64)));

/*
 * A cache slot's bookkeeping. The magazines themselves (slab_mags) live apart, so that
 * the slots' locks and counters, which mm_drain() and mm_get_stats() visit on every slot,
 * fill a few cache lines each (one 4 KiB page for all slots) rather than one page per slot.
 */
struct slab_cpu {
	struct spinlock lock;
	u32 count[SLAB_CLASS_COUNT];
	u64 nonempty;   /* bit c set: count[c] != 0 (drain and stats visit only those classes) */
	s64 user_bytes; /* change of bytes handed to users, not yet folded into the totals */
	u64 attempts;   /* heap allocation attempts counted here (written under the lock) */
	void *(*mag)[SLAB_MAG]; /* slab_mags[slot]: per class, count[class] cached objects */
} __attribute__((aligned(64)));

static SVSM_STATE struct slab_class slab_classes[SLAB_CLASS_COUNT];
static SVSM_STATE struct slab_cpu slab_cpus[MM_CPU_SLOTS];
static SVSM_STATE void *slab_mags[MM_CPU_SLOTS][SLAB_CLASS_COUNT][SLAB_MAG] __attribute__((aligned(64)));
static SVSM_STATE u8 slab_lookup_table[SLAB_MAX_SIZE / 16 + 1];

static SVSM_STATE struct spinlock slab_rec_lock;
static SVSM_STATE struct slab_rec_page *slab_rec_avail;

static SVSM_STATE u64 slab_user_folded;  /* bytes handed to users, as of the last fold */
static SVSM_STATE u64 slab_capacity;     /* bytes of all object slots of all slabs */
static SVSM_STATE u64 slab_peak;

/** Set up the classes (object count and slab order per class) and empty every cache. */
void slab_init(void)
{
	unsigned cls = 0;

	for (unsigned i = 0; i < SLAB_CLASS_COUNT; i++) {
		struct slab_class *k = &slab_classes[i];
		u32 size = slab_sizes[i];
		u32 best = 0;
		u64 best_waste = 0, best_bytes = 1;

		/* The first order that wastes at most 1/16 of the slab, else the least wasteful. */
		for (u32 o = 0; o <= 3; o++) {
			u64 bytes = PAGE_SIZE << o;
			u64 waste = bytes - MIN(bytes / size, (u64)SLAB_MAX_OBJS) * size;

			if (waste * 16 <= bytes) {
				best = o;
				break;
			}
			if (o == 0 || waste * best_bytes < best_waste * bytes) {
				best = o;
				best_waste = waste;
				best_bytes = bytes;
			}
		}
		*k = (struct slab_class){0};
		k->lock = (struct spinlock)SPINLOCK_INIT;
		k->size = size;
		k->recip = (u32)((BIT(32) + size - 1) / size);
		k->order = best;
		k->per_slab = (u32)MIN((PAGE_SIZE << best) / size, (u64)SLAB_MAX_OBJS);
		/* Magazines hold at most ~16 KiB per class, so caching costs little memory. */
		k->mag_limit = (u32)MIN(MAX(16384 / size, 4u), (u32)SLAB_MAG);
	}
	for (unsigned i = 0; i <= SLAB_MAX_SIZE / 16; i++) {
		while (slab_sizes[cls] < i * 16) {
			cls++;
		}
		slab_lookup_table[i] = (u8)cls;
	}
	for (unsigned i = 0; i < MM_CPU_SLOTS; i++) {
		slab_cpus[i].lock = (struct spinlock)SPINLOCK_INIT;
		slab_cpus[i].mag = slab_mags[i];
		slab_cpus[i].nonempty = 0;
		slab_cpus[i].user_bytes = 0;
		__atomic_store_n(&slab_cpus[i].attempts, 0, __ATOMIC_RELAXED);
		for (unsigned c = 0; c < SLAB_CLASS_COUNT; c++) {
			slab_cpus[i].count[c] = 0;
		}
	}
	slab_rec_lock = (struct spinlock)SPINLOCK_INIT;
	slab_rec_avail = NULL;
	slab_user_folded = 0;
	slab_capacity = 0;
	slab_peak = 0;
}

/** See mm_internal.h. */
unsigned slab_class_of(size_t size)
{
	return slab_lookup_table[(size + 15) / 16];
}

/** See mm_internal.h. */
int slab_class_aligned(size_t size, size_t align)
{
	for (unsigned c = size ? slab_class_of(size) : 0; c < SLAB_CLASS_COUNT; c++) {
		if (slab_sizes[c] % align == 0) {
			return (int)c;
		}
	}
	return -1;
}

/** See mm_internal.h. */
size_t slab_class_size(unsigned cls)
{
	return slab_sizes[cls];
}

/** The tag a freed object carries in its first word. */
static u64 slab_tag(const void *obj)
{
	return SLAB_TAG_SALT ^ (u64)(uintptr_t)obj;
}

/*
 * Index of the object at byte offset @off of a slab of class @k. Exact because offsets
 * stay below 2^15 and sizes below 2^12 (off * size < 2^32), and a multiply is much
 * cheaper than a division on the free path.
 */
static u32 slab_index(const struct slab_class *k, uintptr_t off)
{
	return (u32)(((u64)off * k->recip) >> 32);
}

/* --- slab records ------------------------------------------------------------------- */

/** Unlink record page @rp from the list of pages with free records; slab_rec_lock held. */
static void slab_rec_unlink(struct slab_rec_page *rp)
{
	if (rp->prev) {
		rp->prev->next = rp->next;
	} else {
		slab_rec_avail = rp->next;
	}
	if (rp->next) {
		rp->next->prev = rp->prev;
	}
	rp->next = NULL;
	rp->prev = NULL;
}

/** Link record page @rp at the head of the available list; slab_rec_lock held. */
static void slab_rec_link(struct slab_rec_page *rp)
{
	rp->prev = NULL;
	rp->next = slab_rec_avail;
	if (slab_rec_avail) {
		slab_rec_avail->prev = rp;
	}
	slab_rec_avail = rp;
}

/** A zeroed slab record, or NULL when no page can be had for a new record page. */
static struct slab *slab_rec_alloc(void)
{
	struct slab_rec_page *rp;
	struct slab *s;
	unsigned slot;

	spin_lock(&slab_rec_lock);
	rp = slab_rec_avail;
	if (!rp) {
		u32 idx;

		spin_unlock(&slab_rec_lock);
		idx = buddy_alloc_run(1, 0, PG_RECS, 0, PG_TAIL, 0);
		if (idx == MM_NIL) {
			return NULL;
		}
		rp = buddy_page_addr(idx);
		memset(rp, 0, sizeof(*rp));
		rp->used_map = 1;
		spin_lock(&slab_rec_lock);
		slab_rec_link(rp);
	}
	slot = (unsigned)__builtin_ctzll(~rp->used_map);
	rp->used_map |= BIT(slot);
	rp->used++;
	if (rp->used_map == ~0ull) {
		slab_rec_unlink(rp);
	}
	spin_unlock(&slab_rec_lock);
	s = (struct slab *)((u8 *)rp + (size_t)slot * 64);
	memset(s, 0, 64);
	return s;
}

/** Give back record @s; an empty record page goes back to the buddy if another has room. */
static void slab_rec_free(struct slab *s)
{
	struct slab_rec_page *rp = (struct slab_rec_page *)ALIGN_DOWN((uintptr_t)s, PAGE_SIZE);
	unsigned slot = (unsigned)(((uintptr_t)s - (uintptr_t)rp) / 64);
	bool release = false;

	spin_lock(&slab_rec_lock);
	if (slot == 0 || !(rp->used_map & BIT(slot))) {
		spin_unlock(&slab_rec_lock);
		svsm_panic("slab: record %p released twice", (void *)s);
	}
	if (rp->used_map == ~0ull) {
		slab_rec_link(rp);
	}
	rp->used_map &= ~BIT(slot);
	rp->used--;
	if (rp->used == 0 && (rp->next || rp->prev)) {
		slab_rec_unlink(rp);
		release = true;
	}
	spin_unlock(&slab_rec_lock);
	if (release) {
		u32 idx;

		buddy_lookup(rp, &idx);
		buddy_free_run(idx, 1);
	}
}

/* --- slabs -------------------------------------------------------------------------- */

/** Put @s at the head of @k's partial list; class lock held. */
static void slab_link_partial(struct slab_class *k, struct slab *s)
{
	s->prev = NULL;
	s->next = k->partial;
	if (k->partial) {
		k->partial->prev = s;
	}
	k->partial = s;
	s->on_partial = 1;
}

/** Remove @s from @k's partial list; class lock held. */
static void slab_unlink_partial(struct slab_class *k, struct slab *s)
{
	if (s->prev) {
		s->prev->next = s->next;
	} else {
		k->partial = s->next;
	}
	if (s->next) {
		s->next->prev = s->prev;
	}
	s->next = NULL;
	s->prev = NULL;
	s->on_partial = 0;
}

/** Add one new slab to class @cls. False when pages or a record cannot be had. */
static bool slab_grow(unsigned cls)
{
	struct slab_class *k = &slab_classes[cls];
	struct slab *s = slab_rec_alloc();
	u32 idx;

	if (!s) {
		goto fail;
	}
	idx = buddy_alloc_run(BIT(k->order), k->order, PG_SLAB, (u64)(uintptr_t)s, PG_SLAB_TAIL, (u8)cls);
	if (idx == MM_NIL) {
		slab_rec_free(s);
		goto fail;
	}
	s->page = idx;
	s->cls = (u8)cls;
	s->free_count = (u16)k->per_slab;
	for (u32 i = 0; i < k->per_slab; i++) {
		s->free_map[i / 64] |= BIT(i % 64);
	}
	if (MM_DEBUG) {
		memset(buddy_page_addr(idx), MM_POISON, PAGE_SIZE << k->order);
	}
	__atomic_add_fetch(&slab_capacity, (u64)k->per_slab * k->size, __ATOMIC_RELAXED);
	spin_lock(&k->lock);
	slab_link_partial(k, s);
	k->slabs++;
	k->free_objs += k->per_slab;
	spin_unlock(&k->lock);
	return true;
fail:
	spin_lock(&k->lock);
	k->fail_count++;
	spin_unlock(&k->lock);
	return false;
}

/** Move up to @n free objects of class @k from its slabs to @out; class lock held. */
static u32 slab_take_locked(struct slab_class *k, void **out, u32 n)
{
	u32 got = 0;

	while (got < n) {
		struct slab *s = k->partial;
		u8 *base;

		if (!s) {
			s = k->empty;
			if (!s) {
				break;
			}
			k->empty = NULL;
			slab_link_partial(k, s);
		}
		base = buddy_page_addr(s->page);
		for (u32 w = 0; w < SLAB_MAX_OBJS / 64 && got < n; w++) {
			while (s->free_map[w] && got < n) {
				u32 b = (u32)__builtin_ctzll(s->free_map[w]);

				s->free_map[w] &= s->free_map[w] - 1;
				out[got++] = base + (uintptr_t)(w * 64 + b) * k->size;
				s->free_count--;
			}
		}
		if (s->free_count == 0) {
			slab_unlink_partial(k, s);
		}
	}
	k->free_objs -= got;
	k->alloc_count += got;
	return got;
}

/** The record of the slab holding @obj (known to be a slab object). */
static struct slab *slab_of(const void *obj)
{
	u32 idx = 0;
	struct mm_page *m = buddy_lookup(obj, &idx);

	if (m->state == PG_SLAB_TAIL) {
		m = buddy_meta(idx - m->u.tail.head_off);
	}
	return m->u.slab;
}

/*
 * Return @obj to its slab; class lock held. A slab that becomes entirely free is kept
 * as the class's one spare, or pushed on @release for the caller to free unlocked.
 */
static void slab_put_locked(struct slab_class *k, void *obj, struct slab **release)
{
	struct slab *s = slab_of(obj);
	u32 i = slab_index(k, (uintptr_t)obj - (uintptr_t)buddy_page_addr(s->page));

	if (s->free_map[i / 64] & BIT(i % 64)) {
		spin_unlock(&k->lock);
		svsm_panic("mem_free: double free of %p", obj);
	}
	s->free_map[i / 64] |= BIT(i % 64);
	s->free_count++;
	k->free_objs++;
	if (s->free_count == 1 && k->per_slab > 1) {
		slab_link_partial(k, s);
	}
	if (s->free_count == k->per_slab) {
		if (s->on_partial) {
			slab_unlink_partial(k, s);
		}
		if (!k->empty) {
			k->empty = s;
		} else {
			k->free_objs -= k->per_slab;
			k->slabs--;
			s->next = *release;
			*release = s;
		}
	}
}

/** Give the slabs on @release (unlinked, entirely free) back to the page allocator. */
static void slab_release_list(struct slab *release)
{
	while (release) {
		struct slab *s = release;
		struct slab_class *k = &slab_classes[s->cls];

		release = s->next;
		__atomic_sub_fetch(&slab_capacity, (u64)k->per_slab * k->size, __ATOMIC_RELAXED);
		buddy_free_checked(s->page, PG_SLAB, k->order, "slab");
		slab_rec_free(s);
	}
}

/* --- accounting --------------------------------------------------------------------- */

/** Add @delta to the bytes handed to users and track the peaks. */
static void slab_account(s64 delta)
{
	u64 now;

	if (delta == 0) {
		return;
	}
	now = __atomic_add_fetch(&slab_user_folded, (u64)delta, __ATOMIC_RELAXED);
	if (delta > 0) {
		mm_peak_update(&slab_peak, now);
		mem_note_small(now);
	}
}

/** See mm_internal.h. */
u64 slab_user_bytes(void)
{
	return __atomic_load_n(&slab_user_folded, __ATOMIC_RELAXED);
}

/*
 * Fold slot @c's pending byte count into the totals; slot lock held. This happens when a
 * magazine is refilled or flushed, so the shared counter sees one update per batch.
 */
static void slab_fold(struct slab_cpu *c)
{
	slab_account(c->user_bytes);
	c->user_bytes = 0;
}

/*
 * After an allocation on slot @c: raise the peaks if the folded total plus this slot's
 * pending bytes is a new maximum. Only loads unless there is a new peak; exact on one
 * vCPU, and with several it misses at most the other slots' pending bytes.
 */
static void slab_peak_check(const struct slab_cpu *c)
{
	u64 now = __atomic_load_n(&slab_user_folded, __ATOMIC_RELAXED) + (u64)c->user_bytes;

	mm_peak_update(&slab_peak, now);
	mem_note_small(now);
}

/** Heap allocation attempts counted by the slots (see slab_alloc). */
u64 slab_attempts(void)
{
	u64 n = 0;

	for (unsigned i = 0; i < MM_CPU_SLOTS; i++) {
		n += __atomic_load_n(&slab_cpus[i].attempts, __ATOMIC_RELAXED);
	}
	return n;
}

/* --- magazines ---------------------------------------------------------------------- */

/** The calling vCPU's slot, locked, or NULL if another holder has it. */
static struct slab_cpu *slab_cpu_get(void)
{
	struct slab_cpu *c = &slab_cpus[mm_cpu_slot()];

	return spin_trylock(&c->lock) ? c : NULL;
}

/** Fill slot @c's magazine of @cls with half a magazine; false if nothing could be had. */
static bool slab_refill(struct slab_cpu *c, unsigned cls)
{
	struct slab_class *k = &slab_classes[cls];

	for (unsigned tries = 0; tries < 3; tries++) {
		u32 got;

		spin_lock(&k->lock);
		got = slab_take_locked(k, c->mag[cls], k->mag_limit / 2);
		spin_unlock(&k->lock);
		if (got) {
			c->count[cls] = got;
			c->nonempty |= 1ull << cls;
			slab_fold(c);
			return true;
		}
		if (!slab_grow(cls)) {
			return false;
		}
	}
	return false;
}

/** Return all but @keep objects of slot @c's magazine of @cls to their slabs. */
static void slab_flush(struct slab_cpu *c, unsigned cls, u32 keep)
{
	struct slab_class *k = &slab_classes[cls];
	struct slab *release = NULL;

	spin_lock(&k->lock);
	while (c->count[cls] > keep) {
		slab_put_locked(k, c->mag[cls][--c->count[cls]], &release);
	}
	spin_unlock(&k->lock);
	if (c->count[cls] == 0) {
		c->nonempty &= ~(1ull << cls);
	}
	slab_fold(c);
	slab_release_list(release);
}

/** One object straight from the class, for a vCPU whose slot is busy. */
static void *slab_alloc_direct(unsigned cls)
{
	struct slab_class *k = &slab_classes[cls];
	void *obj = NULL;

	for (unsigned tries = 0; tries < 3 && !obj; tries++) {
		u32 got;

		spin_lock(&k->lock);
		got = slab_take_locked(k, &obj, 1);
		spin_unlock(&k->lock);
		if (!got && !slab_grow(cls)) {
			break;
		}
	}
	if (obj) {
		slab_account((s64)k->size);
	}
	return obj;
}

/** See mm_internal.h. */
void *slab_alloc(unsigned cls, bool count_attempt)
{
	struct slab_class *k = &slab_classes[cls];
	struct slab_cpu *c = slab_cpu_get();
	u64 *obj;

	if (c) {
		/* Counted under the slot lock: no shared counter on the fast path. */
		if (count_attempt) {
			__atomic_store_n(&c->attempts, c->attempts + 1, __ATOMIC_RELAXED);
		}
		if (c->count[cls] == 0 && !slab_refill(c, cls)) {
			spin_unlock(&c->lock);
			return NULL;
		}
		obj = c->mag[cls][--c->count[cls]];
		if (c->count[cls] == 0) {
			c->nonempty &= ~(1ull << cls);
		}
		c->user_bytes += k->size;
		slab_peak_check(c);
		spin_unlock(&c->lock);
	} else {
		if (count_attempt) {
			mm_attempt_note(MM_ATTEMPT_HEAP);
		}
		obj = slab_alloc_direct(cls);
		if (!obj) {
			return NULL;
		}
	}
	if (MM_DEBUG) {
		const u8 *b = (const u8 *)obj;

		for (u32 i = sizeof(u64); i < k->size; i++) {
			if (b[i] != MM_POISON) {
				svsm_panic("mem_alloc: write after free at %p (object %p)", (void *)&b[i], (void *)obj);
			}
		}
	}
	obj[0] = 0;
	return obj;
}

/** See mm_internal.h. */
unsigned slab_object_class(const void *ptr, struct mm_page *m, u32 idx)
{
	const struct slab_class *k = &slab_classes[m->cls];
	uintptr_t off;
	u32 i;

	if (m->state == PG_SLAB_TAIL) {
		idx -= m->u.tail.head_off;
	}
	off = (uintptr_t)ptr - (uintptr_t)buddy_page_addr(idx);
	i = slab_index(k, off);
	if (off != (uintptr_t)i * k->size || i >= k->per_slab) {
		svsm_panic("mem_free: invalid free of %p (not the start of an object)", ptr);
	}
	return m->cls;
}

/** Whether @obj of class @cls sits free in its slab or in any magazine. */
static bool slab_is_free(void *obj, unsigned cls)
{
	struct slab_class *k = &slab_classes[cls];
	struct slab *s = slab_of(obj);
	u32 i = slab_index(k, (uintptr_t)obj - (uintptr_t)buddy_page_addr(s->page));
	bool found;

	spin_lock(&k->lock);
	found = (s->free_map[i / 64] >> (i % 64)) & 1;
	spin_unlock(&k->lock);
	for (unsigned n = 0; n < MM_CPU_SLOTS && !found; n++) {
		struct slab_cpu *c = &slab_cpus[n];

		spin_lock(&c->lock);
		for (u32 j = 0; j < c->count[cls] && !found; j++) {
			found = c->mag[cls][j] == obj;
		}
		spin_unlock(&c->lock);
	}
	return found;
}

/** See mm_internal.h. */
void slab_check_live(void *obj, unsigned cls)
{
	/* The tag alone could be user data that happens to match: confirm before panicking. */
	if (*(const u64 *)obj == slab_tag(obj) && slab_is_free(obj, cls)) {
		svsm_panic("mem_free: double free of %p", obj);
	}
}

/** See mm_internal.h. */
void slab_free(void *obj, unsigned cls)
{
	struct slab_class *k = &slab_classes[cls];
	struct slab_cpu *c;

	*(u64 *)obj = slab_tag(obj);
	if (MM_DEBUG) {
		memset((u8 *)obj + sizeof(u64), MM_POISON, k->size - sizeof(u64));
	}
	c = slab_cpu_get();
	if (c) {
		if (c->count[cls] >= k->mag_limit) {
			slab_flush(c, cls, k->mag_limit / 2);
		}
		c->mag[cls][c->count[cls]++] = obj;
		c->nonempty |= 1ull << cls;
		c->user_bytes -= k->size;
		spin_unlock(&c->lock);
	} else {
		struct slab *release = NULL;

		spin_lock(&k->lock);
		slab_put_locked(k, obj, &release);
		spin_unlock(&k->lock);
		slab_account(-(s64)k->size);
		slab_release_list(release);
	}
}

/** Empty every magazine and free every spare slab and empty record page. */
void slab_drain(void)
{
	struct slab_rec_page *rp;

	for (unsigned n = 0; n < MM_CPU_SLOTS; n++) {
		struct slab_cpu *c = &slab_cpus[n];

		spin_lock(&c->lock);
		for (u64 m = c->nonempty; m; m &= m - 1) {
			slab_flush(c, (unsigned)__builtin_ctzll(m), 0);
		}
		slab_fold(c);
		spin_unlock(&c->lock);
	}
	for (unsigned cls = 0; cls < SLAB_CLASS_COUNT; cls++) {
		struct slab_class *k = &slab_classes[cls];
		struct slab *s;

		spin_lock(&k->lock);
		s = k->empty;
		k->empty = NULL;
		if (s) {
			k->free_objs -= k->per_slab;
			k->slabs--;
			s->next = NULL;
		}
		spin_unlock(&k->lock);
		slab_release_list(s);
	}
	for (;;) {
		spin_lock(&slab_rec_lock);
		for (rp = slab_rec_avail; rp && rp->used; rp = rp->next) {
		}
		if (rp) {
			slab_rec_unlink(rp);
		}
		spin_unlock(&slab_rec_lock);
		if (!rp) {
			break;
		}
		{
			u32 idx = 0;

			buddy_lookup(rp, &idx);
			buddy_free_run(idx, 1);
		}
	}
}

/*
 * Slab statistics. @user_bytes receives the bytes held by users (exact), @capacity the
 * bytes of all slots; the heap builds on both.
 */
void slab_stats(struct mm_allocator_stats *out, u64 *user_bytes, u64 *capacity)
{
	s64 pending = 0;
	u64 user, cap, largest = 0;
	u64 cached = 0; /* bit c: some magazine holds objects of class c */

	*out = (struct mm_allocator_stats){0};
	for (unsigned n = 0; n < MM_CPU_SLOTS; n++) {
		struct slab_cpu *c = &slab_cpus[n];

		spin_lock(&c->lock);
		pending += c->user_bytes;
		cached |= c->nonempty;
		spin_unlock(&c->lock);
	}
	for (unsigned cls = 0; cls < SLAB_CLASS_COUNT; cls++) {
		struct slab_class *k = &slab_classes[cls];

		spin_lock(&k->lock);
		if (k->free_objs || ((cached >> cls) & 1)) {
			largest = k->size;
		}
		out->alloc_count += k->alloc_count;
		out->fail_count += k->fail_count;
		spin_unlock(&k->lock);
	}
	user = __atomic_load_n(&slab_user_folded, __ATOMIC_RELAXED) + (u64)pending;
	cap = __atomic_load_n(&slab_capacity, __ATOMIC_RELAXED);
	out->in_use = user;
	out->free = cap - user;
	out->peak = MAX(__atomic_load_n(&slab_peak, __ATOMIC_RELAXED), user);
	out->fragmentation_permille = out->free > largest ? (u32)(1000 - largest * 1000 / out->free) : 0;
	*user_bytes = user;
	*capacity = cap;
}

/** Take every slot lock, then every class lock, then the record lock (fork handlers). */
void slab_lock_all(void)
{
	for (unsigned n = 0; n < MM_CPU_SLOTS; n++) {
		spin_lock(&slab_cpus[n].lock);
	}
	for (unsigned cls = 0; cls < SLAB_CLASS_COUNT; cls++) {
		spin_lock(&slab_classes[cls].lock);
	}
	spin_lock(&slab_rec_lock);
}

/** Release what slab_lock_all() took. */
void slab_unlock_all(void)
{
	spin_unlock(&slab_rec_lock);
	for (unsigned cls = 0; cls < SLAB_CLASS_COUNT; cls++) {
		spin_unlock(&slab_classes[cls].lock);
	}
	for (unsigned n = 0; n < MM_CPU_SLOTS; n++) {
		spin_unlock(&slab_cpus[n].lock);
	}
}
