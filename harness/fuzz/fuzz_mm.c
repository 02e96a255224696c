/* Fuzz target for the allocators: random operation sequences checked against a reference model. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <svsm/mm.h>
#include <svsm/panic.h>
#include <svsm/spinlock.h>

#include "fuzz_common.h"

/*
 * Input: one setup byte (size of the first range), then operations of 4 bytes each:
 * opcode, slot, and a 16-bit argument. Every live allocation is filled with a pattern
 * and checked before it is freed or resized and at the end; allocations must stay in
 * owned memory and never overlap each other or withdrawn pages. At the end everything
 * is freed, the caches drained, and the usage counters must be back to where they were.
 */

#define FUZZ_SPAN ((size_t)8 << 20)
#define FUZZ_SLOTS 64
#define FUZZ_MAX_WITHDRAWN 2048
#define FUZZ_META_PAGES 9 /* metadata of an 8 MiB span (see buddy.c) */
#define PG 4096u

enum fuzz_kind {
	FUZZ_FREE_SLOT,
	FUZZ_HEAP,
	FUZZ_PAGES,
};

struct fuzz_slot {
	unsigned char *p;
	size_t size;
	unsigned order;
	enum fuzz_kind kind;
	unsigned seed;
};

static unsigned char *fuzz_arena;
static struct fuzz_slot fuzz_slots[FUZZ_SLOTS];
static void *fuzz_withdrawn[FUZZ_MAX_WITHDRAWN];
static size_t fuzz_withdrawn_count;

/** A panic is a bug found: report it so the fuzzer (or the replay) records a crash. */
/* The allocator's spinlocks back off through the arch layer (single-threaded here). */
void arch_spin_backoff(void)
{
}

void svsm_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "svsm_panic: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/** Report a violated expectation and crash. */
static void fuzz_fail(const char *what, const void *p)
{
	fprintf(stderr, "fuzz_mm: %s (%p)\n", what, p);
	abort();
}

/*
 * Fill patterns come from one precomputed table (position-dependent bytes); a seed picks
 * the starting offset. Filling and checking are then memcpy/memcmp, which is what keeps
 * this target fast: byte loops over megabytes under coverage tracing cost ~20 ms/input.
 */
#define FUZZ_PATTERN_SEEDS 65536u
static unsigned char *fuzz_pattern;
static unsigned char *fuzz_zero;

/** Build the pattern table and a zero block (once). */
FUZZ_NOCOV static void fuzz_tables(void)
{
	if (fuzz_pattern) {
		return;
	}
	fuzz_pattern = malloc(FUZZ_SPAN + FUZZ_PATTERN_SEEDS);
	fuzz_zero = calloc(1, (size_t)PG << MM_MAX_ORDER);
	if (!fuzz_pattern || !fuzz_zero) {
		abort();
	}
	for (size_t i = 0; i < FUZZ_SPAN + FUZZ_PATTERN_SEEDS; i++) {
		fuzz_pattern[i] = (unsigned char)(i * 7 + (i >> 9) + (i >> 16) * 13);
	}
}

/** The pattern of seed @seed. */
static const unsigned char *fuzz_pattern_of(unsigned seed)
{
	return fuzz_pattern + seed % FUZZ_PATTERN_SEEDS;
}

/*
 * Blocks above FUZZ_FULL_CHECK bytes are filled and checked in part: the first and the
 * last 4 KiB whole, and the first FUZZ_SAMPLE bytes of every 4 KiB page in between, which
 * is where allocator metadata (free-list links, slab tags, heap headers) would land if
 * it wrote into a live block. Filling and checking megabytes whole cost ~100 us/op.
 */
#define FUZZ_FULL_CHECK ((size_t)64 << 10)
#define FUZZ_SAMPLE 64u

/** Fill @n bytes of @p with pattern @seed (sampled above FUZZ_FULL_CHECK). */
FUZZ_NOCOV static void fuzz_fill(unsigned char *p, size_t n, unsigned seed)
{
	const unsigned char *pat = fuzz_pattern_of(seed);

	if (n <= FUZZ_FULL_CHECK) {
		memcpy(p, pat, n);
		return;
	}
	memcpy(p, pat, PG);
	for (size_t off = PG; off < n - PG; off += PG) {
		memcpy(p + off, pat + off, FUZZ_SAMPLE);
	}
	memcpy(p + n - PG, pat + n - PG, PG);
}

/* Compare [@from, @to) of @p with the pattern, clipped to the first @n bytes. */
FUZZ_NOCOV static bool fuzz_same(const unsigned char *p, const unsigned char *pat, size_t from, size_t to, size_t n)
{
	to = to < n ? to : n;
	return from >= to || memcmp(p + from, pat + from, to - from) == 0;
}

/*
 * Crash unless the first @n bytes of @p hold pattern @seed wherever fuzz_fill(@filled)
 * wrote it (@n < @filled after a shrinking realloc).
 */
FUZZ_NOCOV static void fuzz_check_part(const unsigned char *p, size_t n, size_t filled, unsigned seed)
{
	const unsigned char *pat = fuzz_pattern_of(seed);
	bool ok;

	if (filled <= FUZZ_FULL_CHECK) {
		ok = fuzz_same(p, pat, 0, filled, n);
	} else {
		ok = fuzz_same(p, pat, 0, PG, n) && fuzz_same(p, pat, filled - PG, filled, n);
		for (size_t off = PG; off < filled - PG && ok; off += PG) {
			ok = fuzz_same(p, pat, off, off + FUZZ_SAMPLE, n);
		}
	}
	if (!ok) {
		fuzz_fail("contents changed", p);
	}
}

/** Crash unless @n bytes of @p hold pattern @seed where fuzz_fill(@n) wrote it. */
FUZZ_NOCOV static void fuzz_check(const unsigned char *p, size_t n, unsigned seed)
{
	fuzz_check_part(p, n, n, seed);
}

/** Crash if [@p, @p + @n) leaves the arena or meets a live slot other than @self or a withdrawn page. */
FUZZ_NOCOV static void fuzz_check_placement(const unsigned char *p, size_t n, int self)
{
	size_t len = n ? n : 1;

	if (p < fuzz_arena || p + len > fuzz_arena + FUZZ_SPAN) {
		fuzz_fail("allocation outside the arena", p);
	}
	for (int i = 0; i < FUZZ_SLOTS; i++) {
		const struct fuzz_slot *s = &fuzz_slots[i];
		size_t slen = s->size ? s->size : 1;

		if (i == self || s->kind == FUZZ_FREE_SLOT) {
			continue;
		}
		if (p < s->p + slen && s->p < p + len) {
			fuzz_fail("allocations overlap", p);
		}
	}
	for (size_t i = 0; i < fuzz_withdrawn_count; i++) {
		const unsigned char *w = fuzz_withdrawn[i];

		if (w && p < w + PG && w < p + len) {
			fuzz_fail("allocation inside a withdrawn page", p);
		}
	}
}

/** Check and release slot @i. */
static void fuzz_release(int i)
{
	struct fuzz_slot *s = &fuzz_slots[i];

	if (s->kind == FUZZ_FREE_SLOT) {
		return;
	}
	fuzz_check(s->p, s->size, s->seed);
	if (s->kind == FUZZ_HEAP) {
		if (mem_usable_size(s->p) != s->size) {
			fuzz_fail("usable size changed", s->p);
		}
		mem_free(s->p);
	} else {
		page_free(s->p, s->order);
	}
	s->kind = FUZZ_FREE_SLOT;
}

/** Record a new allocation in slot @i (which is free), or nothing if @p is NULL. */
static void fuzz_store(int i, unsigned char *p, size_t n, enum fuzz_kind kind, unsigned order, unsigned seed)
{
	struct fuzz_slot *s = &fuzz_slots[i];

	if (!p) {
		return;
	}
	fuzz_check_placement(p, n, i);
	*s = (struct fuzz_slot){.p = p, .size = n, .order = order, .kind = kind, .seed = seed};
	fuzz_fill(p, n, seed);
}

/** A size from the 16-bit argument: mostly small, sometimes pages, rarely megabytes. */
static size_t fuzz_size(unsigned arg)
{
	switch (arg >> 14) {
	case 0:
	case 1:
		return arg & 0x3ff;
	case 2:
		return arg & 0x3fff;
	default:
		return (size_t)(arg & 0x3fff) * 256;
	}
}

/** Withdraw up to @n pages and remember them. */
FUZZ_NOCOV static void fuzz_withdraw(unsigned n)
{
	void *out[64];
	size_t got;

	n = n % 64 + 1;
	if (fuzz_withdrawn_count + n > FUZZ_MAX_WITHDRAWN) {
		return;
	}
	got = mm_withdraw(out, n);
	for (size_t i = 0; i < got; i++) {
		if (((uintptr_t)out[i] & (PG - 1)) != 0) {
			fuzz_fail("withdrawn page not aligned", out[i]);
		}
		fuzz_check_placement(out[i], PG, -1);
		fuzz_withdrawn[fuzz_withdrawn_count++] = out[i];
	}
}

/** Hand memory in: a withdrawn page back, or a hostile range that may well be refused. */
FUZZ_NOCOV static void fuzz_deposit(unsigned slot, unsigned arg)
{
	if (fuzz_withdrawn_count && (slot & 1)) {
		size_t i = arg % fuzz_withdrawn_count;
		void *w = fuzz_withdrawn[i];

		if (w && mm_add_memory(w, 1, true) != 0) {
			fuzz_fail("a withdrawn page could not come back", w);
		}
		fuzz_withdrawn[i] = NULL;
		return;
	}
	/* Anywhere in (or just outside) the span, of any length, aligned or not. */
	{
		uintptr_t base = (uintptr_t)fuzz_arena + (uintptr_t)(arg % 2200) * PG - 8 * PG + ((slot & 2) ? 8 : 0);
		unsigned pages = slot % 40;

		/* Withdrawn pages are the test's own record: leave them out of hostile ranges. */
		for (size_t i = 0; i < fuzz_withdrawn_count; i++) {
			uintptr_t w = (uintptr_t)fuzz_withdrawn[i];

			if (w && w + PG > base && w < base + (uintptr_t)pages * PG) {
				return;
			}
		}
		(void)mm_add_memory((void *)base, pages, (slot & 4) != 0);
	}
}

/** Run the 4-byte operation at @op. */
static void fuzz_op(const uint8_t *op)
{
	unsigned code = op[0] % 12;
	int i = op[1] % FUZZ_SLOTS;
	unsigned arg = (unsigned)op[2] | (unsigned)op[3] << 8;
	struct fuzz_slot *s = &fuzz_slots[i];
	unsigned seed = op[1] * 31u + arg;

	switch (code) {
	case 0:
	case 1:
		if (s->kind == FUZZ_FREE_SLOT) {
			size_t n = fuzz_size(arg);

			fuzz_store(i, code == 0 ? mem_alloc(n) : mem_zalloc(n), n, FUZZ_HEAP, 0, seed);
		}
		break;
	case 2:
	case 3:
		fuzz_release(i);
		break;
	case 4:
		if (s->kind == FUZZ_HEAP) {
			size_t n = fuzz_size(arg);
			unsigned char *q;

			fuzz_check(s->p, s->size, s->seed);
			q = mem_realloc(s->p, n);
			if (n == 0) {
				s->kind = FUZZ_FREE_SLOT;
			} else if (q) {
				fuzz_check_part(q, s->size < n ? s->size : n, s->size, s->seed);
				s->kind = FUZZ_FREE_SLOT;
				fuzz_store(i, q, n, FUZZ_HEAP, 0, seed);
			}
		}
		break;
	case 5:
		if (s->kind == FUZZ_FREE_SLOT) {
			size_t align = (size_t)1 << (arg % 23);
			size_t n = fuzz_size(arg >> 5 << 5);
			unsigned char *p = mem_alloc_aligned(align, n);

			if (p && ((uintptr_t)p & (align - 1)) != 0) {
				fuzz_fail("misaligned allocation", p);
			}
			fuzz_store(i, p, n, FUZZ_HEAP, 0, seed);
		}
		break;
	case 6:
		if (s->kind == FUZZ_FREE_SLOT) {
			unsigned order = arg % (MM_MAX_ORDER + 1);
			unsigned char *p = (arg & 0x100) ? page_alloc_zeroed(order) : page_alloc(order);

			if (p && ((uintptr_t)p & ((PG << order) - 1)) != 0) {
				fuzz_fail("misaligned page block", p);
			}
			if (p && (arg & 0x100) && memcmp(p, fuzz_zero, (size_t)PG << order) != 0) {
				fuzz_fail("page_alloc_zeroed gave dirty memory", p);
			}
			fuzz_store(i, p, PG << order, FUZZ_PAGES, order, seed);
		}
		break;
	case 7:
		mm_fail_nth(arg % 5);
		break;
	case 8:
		fuzz_deposit((unsigned)op[1], arg);
		break;
	case 9:
		fuzz_withdraw(arg);
		break;
	case 10:
		mm_drain();
		break;
	default:
		if (s->kind == FUZZ_HEAP && mem_usable_size(s->p) != s->size) {
			fuzz_fail("usable size", s->p);
		}
		break;
	}
}

/** One input (harness/fuzz/fuzz_main.c calls it for libFuzzer, AFL++ and the replay). */
static void fuzz_mm_run(const uint8_t *data, size_t size)
{
	struct mm_stats base, end;
	unsigned first_pages;

	fuzz_tables();
	if (!fuzz_arena) {
		void *p = mmap(NULL, FUZZ_SPAN * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			abort();
		}
		fuzz_arena = (unsigned char *)(((uintptr_t)p + FUZZ_SPAN - 1) & ~(uintptr_t)(FUZZ_SPAN - 1));
	}
	if (size < 1) {
		return;
	}
	memset(fuzz_slots, 0, sizeof(fuzz_slots));
	fuzz_withdrawn_count = 0;
	first_pages = FUZZ_META_PAGES + 1 + (data[0] * 8u) % 2032;
	if (mm_init(fuzz_arena, FUZZ_SPAN) != 0 || mm_add_memory(fuzz_arena, first_pages, false) != 0) {
		fuzz_fail("setup refused", fuzz_arena);
	}
	mm_get_stats(&base);
	for (size_t off = 1; off + 4 <= size; off += 4) {
		fuzz_op(data + off);
	}
	mm_fail_nth(0);
	for (int i = 0; i < FUZZ_SLOTS; i++) {
		fuzz_release(i);
	}
	mm_drain();
	mm_get_stats(&end);
	if (end.page.in_use != base.page.in_use || end.slab.in_use != base.slab.in_use ||
	    end.heap.in_use != base.heap.in_use || end.slab.free != 0) {
		fprintf(stderr, "fuzz_mm: accounting: page %llu/%llu slab %llu/%llu heap %llu/%llu slab free %llu\n",
			(unsigned long long)end.page.in_use, (unsigned long long)base.page.in_use,
			(unsigned long long)end.slab.in_use, (unsigned long long)base.slab.in_use,
			(unsigned long long)end.heap.in_use, (unsigned long long)base.heap.in_use,
			(unsigned long long)end.slab.free);
		abort();
	}
}

const struct fuzz_target fuzz_target = {
	.name = "mm",
	.init = NULL,
	.run = fuzz_mm_run,
};
