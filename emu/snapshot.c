/* Snapshot and dirty-page reset of tracked memory and its aliases, by write protection and a SIGSEGV handler (hosted). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "snapshot.h"

#define MIN_SZ(a, b) ((a) < (b) ? (a) : (b))
#define MAX_SZ(a, b) ((a) > (b) ? (a) : (b))

_Static_assert(SNAP_NONE == PROT_NONE && SNAP_R == PROT_READ && SNAP_RW == (PROT_READ | PROT_WRITE),
	       "view protections are mman.h's");

/* The snapshot the handler serves (one per process). */
static struct snapshot *snap_active;
static struct sigaction snap_prev_action;
static bool snap_handler_installed;

/*
 * Copy without sanitizer checks: the edges of the core's state section include the
 * redzones ASan puts between globals, which are not addressable to instrumented code.
 */
static void snapshot_copy(void *dst, const void *src, size_t len)
{
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(len) : : "memory");
}

void snapshot_page_copy(void *dst, const void *src)
{
	snapshot_copy(dst, src, SNAP_PAGE);
}

__attribute__((no_sanitize("address", "undefined"))) bool snapshot_page_equal(const void *a, const void *b)
{
	const uint64_t *x = a;
	const uint64_t *y = b;
	uint64_t diff = 0;

	for (size_t i = 0; i < SNAP_PAGE / 8; i += 8) {
		for (size_t k = 0; k < 8; k++) {
			diff |= x[i + k] ^ y[i + k];
		}
		if (diff) {
			return false;
		}
	}
	return true;
}

void snapshot_init(struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
}

/* The region (primary view) and page index of @p, or NULL. */
static struct snap_region *snapshot_find(const struct snapshot *s, const void *p, size_t *index)
{
	const uint8_t *b = p;

	for (unsigned i = 0; i < s->region_count; i++) {
		const struct snap_region *r = &s->regions[i];
		if (b >= r->base && b < r->base + r->pages * SNAP_PAGE) {
			*index = (size_t)(b - r->base) / SNAP_PAGE;
			return (struct snap_region *)r;
		}
	}
	return NULL;
}

/* The alias holding @p and the page index in its region, or -1. */
static int snapshot_find_alias(const struct snapshot *s, const void *p, size_t *index)
{
	const uint8_t *b = p;

	for (unsigned a = 0; a < s->alias_count; a++) {
		const struct snap_alias *al = &s->aliases[a];
		const struct snap_region *r = &s->regions[al->region];
		if (b >= al->base && b < al->base + r->pages * SNAP_PAGE) {
			*index = (size_t)(b - al->base) / SNAP_PAGE;
			return (int)a;
		}
	}
	return -1;
}

/* --- protections of the views ------------------------------------------------------------ */

/* A run of pages of one view that gets one protection with one mprotect. */
struct snap_run {
	uint8_t *base;
	uint8_t *prot;
	size_t first, count;
	int want;
};

static void snapshot_run_flush(struct snapshot *s, struct snap_run *run)
{
	if (run->count == 0) {
		return;
	}
	if (mprotect(run->base + run->first * SNAP_PAGE, run->count * SNAP_PAGE, run->want) != 0) {
		/* A view left more permissive than its rule would hide faults: never continue. */
		abort();
	}
	memset(run->prot + run->first, run->want, run->count);
	s->stats.protects++;
	run->count = 0;
}

/*
 * Give page @page of the view at @base (protections @prot) protection @want, batching
 * adjacent pages into one mprotect. A page that already has it extends an open run of the
 * same protection for free and otherwise costs nothing.
 */
static void snapshot_run_add(struct snapshot *s, struct snap_run *run, uint8_t *base, uint8_t *prot, size_t page,
			     int want)
{
	bool joins = run->count && run->base == base && run->first + run->count == page && run->want == want;

	if (joins) {
		run->count++;
		return;
	}
	if (prot[page] == want) {
		return;
	}
	snapshot_run_flush(s, run);
	*run = (struct snap_run){.base = base, .prot = prot, .first = page, .count = 1, .want = want};
}

static void snapshot_runs_flush(struct snapshot *s, struct snap_run *runs)
{
	for (unsigned a = 0; a < s->alias_count; a++) {
		snapshot_run_flush(s, &runs[a]);
	}
}

/* The most alias @a may have on page @i of @r now: its rule AND "clean => read-only". */
static int snapshot_alias_want(const struct snapshot *s, unsigned a, const struct snap_region *r, size_t i)
{
	int acc = s->access(s->alias_ctx, a, i) & SNAP_RW;

	if (s->taken && r->state[i] == SNAP_CLEAN) {
		acc &= SNAP_R;
	}
	return acc;
}

/*
 * Lower every alias of region @ri on pages [@i, @i + @n) to what they may have now, where
 * they have more (one run per alias). Raising is left to the first access that needs it.
 */
static void snapshot_aliases_lower(struct snapshot *s, unsigned ri, size_t i, size_t n, struct snap_run *runs)
{
	const struct snap_region *r = &s->regions[ri];

	for (unsigned a = 0; a < s->alias_count; a++) {
		struct snap_alias *al = &s->aliases[a];
		if (al->region != ri) {
			continue;
		}
		for (size_t k = i; k < i + n; k++) {
			if (al->prot[k] == SNAP_NONE) {
				continue; /* nothing to take away (most pages of a range) */
			}
			int want = al->prot[k] & snapshot_alias_want(s, a, r, k);
			if (want != al->prot[k]) {
				snapshot_run_add(s, &runs[a], al->base, al->prot, k, want);
			}
		}
	}
}

/* Queue pages [@i, @i + @n) of aliased region @ri for re-derivation at the next restore. */
static void snapshot_queue_fix(struct snapshot *s, unsigned ri, size_t i, size_t n)
{
	if (!s->fix) { /* not sealed: nothing to re-derive from yet */
		s->fix_all = true;
		return;
	}
	struct snap_fix *last = s->fix_count ? &s->fix[s->fix_count - 1] : NULL;

	if (last && last->region == ri && i >= last->first && i <= last->first + last->count) {
		size_t end = MAX_SZ(last->first + last->count, i + n);
		last->count = (uint32_t)(end - last->first);
		return;
	}
	if (s->fix_count == SNAP_FIX_MAX) {
		s->fix_all = true;
		return;
	}
	s->fix[s->fix_count++] = (struct snap_fix){.region = ri, .first = (uint32_t)i, .count = (uint32_t)n};
}

/* Some alias of region @r may write page @i now: list it (snapshot_seal, restores). */
static void snapshot_wlist_add(struct snapshot *s, struct snap_region *r, size_t i)
{
	if (!(r->flags[i] & SNAP_F_ALIAS_W) && s->wlist_count < s->wlist_cap) {
		r->flags[i] |= SNAP_F_ALIAS_W;
		s->wlist[s->wlist_count++] = r->base + i * SNAP_PAGE;
	}
}

/* Does any alias of region @ri have write access to page @i? */
static bool snapshot_any_alias_w(const struct snapshot *s, unsigned ri, size_t i)
{
	for (unsigned a = 0; a < s->alias_count; a++) {
		if (s->aliases[a].region == ri && (s->aliases[a].prot[i] & ~SNAP_R)) {
			return true;
		}
	}
	return false;
}

/* --- registration ------------------------------------------------------------------------ */

int snapshot_blob(struct snapshot *s, void *ptr, size_t len)
{
	if (s->blob_count >= SNAP_MAX_BLOBS || s->taken) {
		return -1;
	}
	if (len == 0) {
		return 0;
	}
	uint8_t *copy = malloc(len);
	if (!copy) {
		return -1;
	}
	s->blobs[s->blob_count++] = (struct snap_blob){.ptr = ptr, .len = len, .copy = copy};
	return 0;
}

int snapshot_track(struct snapshot *s, void *ptr, size_t len)
{
	uintptr_t start = (uintptr_t)ptr;
	uintptr_t end = start + len;
	uintptr_t first = (start + SNAP_PAGE - 1) & ~(uintptr_t)(SNAP_PAGE - 1);
	uintptr_t last = end & ~(uintptr_t)(SNAP_PAGE - 1);

	if (s->taken || end < start) {
		return -1;
	}
	if (first >= last) {
		/* Smaller than one whole page: copy it every time. */
		return snapshot_blob(s, ptr, len);
	}
	if (s->region_count >= SNAP_MAX_REGIONS || snapshot_blob(s, ptr, first - start) != 0 ||
	    snapshot_blob(s, (void *)last, end - last) != 0) {
		return -1;
	}
	size_t pages = (last - first) / SNAP_PAGE;
	struct snap_region *r = &s->regions[s->region_count];
	*r = (struct snap_region){.base = (uint8_t *)first, .pages = pages};
	r->state = calloc(pages, 1);
	r->flags = calloc(pages, 1);
	r->prot = malloc(pages);
	r->faults = calloc(pages, sizeof(*r->faults));
	r->last = calloc(pages, sizeof(*r->last));
	r->slot = calloc(pages, sizeof(*r->slot));
	if (!r->state || !r->flags || !r->prot || !r->faults || !r->last || !r->slot) {
		free(r->state);
		free(r->flags);
		free(r->prot);
		free(r->faults);
		free(r->last);
		free(r->slot);
		return -1;
	}
	memset(r->prot, SNAP_RW, pages);
	s->region_count++;
	return 0;
}

int snapshot_track_announced(struct snapshot *s, void *ptr, size_t len)
{
	if (((uintptr_t)ptr | len) & (SNAP_PAGE - 1) || snapshot_track(s, ptr, len) != 0) {
		return -1;
	}
	s->regions[s->region_count - 1].announced = true;
	return 0;
}

void snapshot_alias_hooks(struct snapshot *s, snap_access_fn access, snap_fault_fn fault, void *ctx)
{
	s->access = access;
	s->fault = fault;
	s->alias_ctx = ctx;
}

int snapshot_alias(struct snapshot *s, void *primary, void *alias)
{
	unsigned ri;

	if (s->taken || !s->access || s->alias_count >= SNAP_MAX_ALIASES || (snap_active && snap_active != s)) {
		return -1;
	}
	for (ri = 0; ri < s->region_count && s->regions[ri].base != (uint8_t *)primary; ri++) {
	}
	if (ri == s->region_count) {
		return -1;
	}
	struct snap_region *r = &s->regions[ri];
	if (!r->backdoor) {
		/* A new mapping of the same shared pages, writable whatever the views are. */
		void *b = mremap(r->base, 0, r->pages * SNAP_PAGE, MREMAP_MAYMOVE);
		if (b == MAP_FAILED) {
			return -1;
		}
		r->backdoor = b;
	}
	unsigned a = s->alias_count;
	uint8_t *prot = malloc(r->pages);
	if (!prot || snapshot_handler_install() != 0) {
		free(prot);
		return -1;
	}
	/* No access until the first one that needs it (whatever the mapping had). */
	if (mprotect(alias, r->pages * SNAP_PAGE, PROT_NONE) != 0) {
		free(prot);
		return -1;
	}
	memset(prot, SNAP_NONE, r->pages);
	s->aliases[a] = (struct snap_alias){.base = alias, .region = ri, .prot = prot};
	s->alias_count++;
	r->aliases++;
	snap_active = s;
	return (int)a;
}

void snapshot_alias_update(struct snapshot *s, void *primary, size_t pages)
{
	size_t i = 0;
	struct snap_region *r = snapshot_find(s, primary, &i);
	struct snap_run runs[SNAP_MAX_ALIASES] = {0};

	if (!r || !r->aliases) {
		return;
	}
	unsigned ri = (unsigned)(r - s->regions);
	size_t n = MIN_SZ(pages, r->pages - i);
	snapshot_aliases_lower(s, ri, i, n, runs);
	snapshot_runs_flush(s, runs);
	if (s->taken && n) {
		snapshot_queue_fix(s, ri, i, n);
	}
}

void snapshot_alias_limit(struct snapshot *s, unsigned alias, void *primary, size_t pages, int max)
{
	size_t i = 0;
	struct snap_region *r = snapshot_find(s, primary, &i);
	struct snap_run run = {0};

	if (!r || alias >= s->alias_count || s->aliases[alias].region != (unsigned)(r - s->regions)) {
		return;
	}
	struct snap_alias *al = &s->aliases[alias];
	size_t n = MIN_SZ(pages, r->pages - i);
	for (size_t k = i; k < i + n; k++) {
		if (al->prot[k] & ~max) {
			snapshot_run_add(s, &run, al->base, al->prot, k, al->prot[k] & max);
		}
	}
	snapshot_run_flush(s, &run);
	if (s->taken && n) {
		snapshot_queue_fix(s, al->region, i, n);
	}
}

/* --- logging ----------------------------------------------------------------------------- */

/* Raise the primary view of pages [@i, @i + @n) of @r to read-write. */
static bool snapshot_primary_rw(struct snapshot *s, struct snap_region *r, size_t i, size_t n)
{
	if (r->announced) {
		return true; /* never write-protected */
	}
	if (mprotect(r->base + i * SNAP_PAGE, n * SNAP_PAGE, SNAP_RW) != 0) {
		return false;
	}
	memset(r->prot + i, SNAP_RW, n);
	s->stats.protects++;
	return true;
}

/*
 * Give alias @a write access to the written pages [@i, @i + @n) of @r where its rule
 * allows (the write hook has seen them) and list them for snapshot_seal.
 */
static void snapshot_alias_open(struct snapshot *s, unsigned a, struct snap_region *r, size_t i, size_t n)
{
	struct snap_alias *al = &s->aliases[a];
	struct snap_run runs[SNAP_MAX_ALIASES] = {0};

	for (size_t k = i; k < i + n; k++) {
		int want = snapshot_alias_want(s, a, r, k);
		snapshot_run_add(s, &runs[a], al->base, al->prot, k, want);
		if (want & ~SNAP_R) {
			snapshot_wlist_add(s, r, k);
		}
	}
	snapshot_runs_flush(s, runs);
}

/*
 * A read through alias @a found page @i without access its rule gives (opened since, or
 * never raised): give it read access, and the pages after it that have none either,
 * up to SNAP_RAISE_AHEAD (a 2 MiB page just validated is zeroed next). Write access
 * comes only from a write fault.
 */
static void snapshot_alias_raise_reads(struct snapshot *s, unsigned a, size_t i)
{
	struct snap_alias *al = &s->aliases[a];
	const struct snap_region *r = &s->regions[al->region];
	struct snap_run runs[SNAP_MAX_ALIASES] = {0};

	for (size_t k = i; k < r->pages && k < i + SNAP_RAISE_AHEAD; k++) {
		int want = snapshot_alias_want(s, a, r, k) & SNAP_R;
		if (k > i && (al->prot[k] != SNAP_NONE || want == SNAP_NONE)) {
			break;
		}
		snapshot_run_add(s, &runs[a], al->base, al->prot, k, want);
	}
	snapshot_runs_flush(s, runs);
}

/*
 * The clean page @index of @r is about to be written through @view (-1: the primary):
 * remember its content (and, after a streak, that of the clean pages ahead), mark it
 * written and make it writable in that view. Returns false if it cannot be logged.
 */
static bool snapshot_log_page(struct snapshot *s, struct snap_region *r, size_t index, int view)
{
	uint8_t *page = r->base + index * SNAP_PAGE;
	uint32_t now = (uint32_t)s->stats.restores;
	size_t run = 1;

	if (now - r->last[index] > SNAP_HOT_WINDOW) {
		r->faults[index] = 0;
	}
	r->last[index] = now;
	r->faults[index]++;
	if (s->write_hook) {
		s->write_hook(s->write_ctx, page);
	}
	if (r->faults[index] >= SNAP_HOT_FAULTS && s->hot_count < SNAP_HOT_MAX) {
		unsigned h = s->hot_count++;
		s->hot[h] = page;
		s->hot_idle[h] = 0;
		snapshot_copy(s->hot_copy + (size_t)h * SNAP_PAGE, page, SNAP_PAGE);
		r->state[index] = SNAP_HOT;
		r->slot[index] = h;
		s->stats.promoted++;
	} else {
		/*
		 * Sequential writes (zeroing a 2 MiB page): after a streak of logged pages just
		 * below, take as many clean pages ahead along at once (doubling, like read-ahead).
		 */
		size_t streak = 0;
		while (streak < SNAP_RUN_AHEAD && streak < index && r->state[index - 1 - streak] == SNAP_LOGGED) {
			streak++;
		}
		size_t ahead = streak >= 4 ? streak : 0;
		while (run <= ahead && index + run < r->pages && r->state[index + run] == SNAP_CLEAN) {
			run++;
		}
		if (s->undo_count + run > s->undo_cap) {
			return false;
		}
		for (size_t k = 0; k < run; k++) {
			if (k > 0 && s->write_hook) {
				s->write_hook(s->write_ctx, page + k * SNAP_PAGE);
			}
			size_t u = s->undo_count++;
			uint8_t *saved = s->undo_pool + u * SNAP_PAGE;
			snapshot_copy(saved, page + k * SNAP_PAGE, SNAP_PAGE);
			s->undo[u] = (struct snap_undo){.page = page + k * SNAP_PAGE, .saved = saved};
			r->state[index + k] = SNAP_LOGGED;
			r->slot[index + k] = (uint32_t)u;
		}
	}
	if (view < 0) {
		return snapshot_primary_rw(s, r, index, run);
	}
	snapshot_alias_open(s, (unsigned)view, r, index, run);
	return true;
}

void snapshot_prepare_write(struct snapshot *s, void *ptr, size_t len)
{
	uint8_t *p = ptr;
	size_t i = 0;
	struct snap_region *r;

	if (!s->taken || len == 0 || !(r = snapshot_find(s, p, &i))) {
		return;
	}
	size_t last = (size_t)(p + len - 1 - r->base) / SNAP_PAGE;
	for (; i <= last && i < r->pages; i++) {
		if (r->state[i] == SNAP_CLEAN) {
			if (!snapshot_log_page(s, r, i, -1)) {
				return; /* the fault path will find it full too and pass the fault on */
			}
			s->stats.hook_logs++;
		} else if (r->prot[i] != SNAP_RW) {
			snapshot_primary_rw(s, r, i, 1);
		}
	}
}

void snapshot_seal(struct snapshot *s, bool (*filter)(void *ctx, uint8_t *page), void *ctx)
{
	struct snap_run runs[SNAP_MAX_ALIASES] = {0};
	size_t kept = 0;

	for (size_t w = 0; w < s->wlist_count; w++) {
		uint8_t *page = s->wlist[w];
		size_t i = 0;
		struct snap_region *r = snapshot_find(s, page, &i);
		if (!filter(ctx, page)) {
			s->wlist[kept++] = page;
			continue;
		}
		unsigned ri = (unsigned)(r - s->regions);
		for (unsigned a = 0; a < s->alias_count; a++) {
			struct snap_alias *al = &s->aliases[a];
			if (al->region == ri && (al->prot[i] & ~SNAP_R)) {
				snapshot_run_add(s, &runs[a], al->base, al->prot, i, al->prot[i] & SNAP_R);
			}
		}
		r->flags[i] &= (uint8_t)~SNAP_F_ALIAS_W;
		s->stats.seals++;
	}
	s->wlist_count = kept;
	snapshot_runs_flush(s, runs);
}

bool snapshot_alias_writable(const struct snapshot *s, const void *p)
{
	size_t i = 0;
	const struct snap_region *r = snapshot_find(s, p, &i);

	return r && (r->flags[i] & SNAP_F_ALIAS_W);
}

/* --- the fault handler ------------------------------------------------------------------- */

/* x86-64 Linux: bit 1 of the page-fault error code says "write". */
static bool snapshot_fault_is_write(const void *uctx)
{
#if defined(__x86_64__)
	const ucontext_t *uc = uctx;
	return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
	(void)uctx;
	return true;
#endif
}

/* A fault at page @i of alias @a: resolve it (true) or leave it to others. */
static bool snapshot_alias_fault(struct snapshot *s, unsigned a, size_t i, const uint8_t *addr, bool write)
{
	struct snap_alias *al = &s->aliases[a];
	struct snap_region *r = &s->regions[al->region];
	int need = write ? SNAP_RW : SNAP_R;
	int acc = s->access(s->alias_ctx, a, i) & SNAP_RW;

	if ((acc & need) != need) {
		if (s->fault) {
			s->fault(s->alias_ctx, a, (size_t)(addr - al->base), write);
		}
		return false;
	}
	if (!write || !s->taken) {
		if ((al->prot[i] & need) == need) {
			return false; /* nothing we know of forbids it: not ours */
		}
		if (write) {
			snapshot_alias_open(s, a, r, i, 1); /* before the snapshot: everything is allowed */
		} else {
			snapshot_alias_raise_reads(s, a, i);
		}
		s->stats.alias_faults++;
		return true;
	}
	if (al->prot[i] & ~SNAP_R) {
		return false;
	}
	if (r->state[i] == SNAP_CLEAN) {
		if (!snapshot_log_page(s, r, i, (int)a)) {
			return false;
		}
		s->stats.faults++;
	} else {
		/* Written already, but not through an alias since its last seal: report it. */
		if (s->write_hook) {
			s->write_hook(s->write_ctx, r->base + i * SNAP_PAGE);
		}
		snapshot_alias_open(s, a, r, i, 1);
		s->stats.alias_writes++;
	}
	s->stats.alias_faults++;
	return true;
}

/* Write fault: log a tracked page and retry the write; anything else goes to the previous handler. */
static void snapshot_handler(int sig, siginfo_t *info, void *uctx)
{
	struct snapshot *s = snap_active;
	size_t index = 0;

	if (s) {
		struct snap_region *r = snapshot_find(s, info->si_addr, &index);
		if (r && s->taken) {
			if (r->state[index] == SNAP_CLEAN) {
				if (snapshot_log_page(s, r, index, -1)) {
					s->stats.faults++;
					return;
				}
			} else if (r->prot[index] != SNAP_RW) {
				/* Written through an alias so far; an unannounced write is reported too. */
				if (s->write_hook) {
					s->write_hook(s->write_ctx, r->base + index * SNAP_PAGE);
				}
				if (snapshot_primary_rw(s, r, index, 1)) {
					return;
				}
			}
		}
		int a = r ? -1 : snapshot_find_alias(s, info->si_addr, &index);
		if (a >= 0 && snapshot_alias_fault(s, (unsigned)a, index, info->si_addr, snapshot_fault_is_write(uctx))) {
			return;
		}
	}
	/* Not ours: behave as if we were never installed. */
	if (snap_prev_action.sa_flags & SA_SIGINFO) {
		if (snap_prev_action.sa_sigaction) {
			snap_prev_action.sa_sigaction(sig, info, uctx);
			return;
		}
	} else if (snap_prev_action.sa_handler != SIG_DFL && snap_prev_action.sa_handler != SIG_IGN) {
		snap_prev_action.sa_handler(sig);
		return;
	}
	signal(SIGSEGV, SIG_DFL);
	/* Returning re-executes the faulting access, which now kills the process. */
}

int snapshot_handler_install(void)
{
	struct sigaction cur;

	if (sigaction(SIGSEGV, NULL, &cur) != 0) {
		return -1;
	}
	if (snap_handler_installed && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == snapshot_handler) {
		return 0;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = snapshot_handler;
	/* NODEFER: a fault hook may longjmp out of the handler; SIGSEGV must stay deliverable. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &snap_prev_action) != 0) {
		return -1;
	}
	snap_handler_installed = true;
	return 0;
}

/* --- snapshot and restore ---------------------------------------------------------------- */

int snapshot_take(struct snapshot *s)
{
	size_t total = 0, aliased = 0;

	if (s->taken || (snap_active && snap_active != s)) {
		errno = EBUSY;
		return -1;
	}
	for (unsigned i = 0; i < s->region_count; i++) {
		total += s->regions[i].pages;
		aliased += s->regions[i].aliases ? s->regions[i].pages : 0;
	}
	s->undo_cap = total;
	s->undo = calloc(total ? total : 1, sizeof(*s->undo));
	/* Sparse: only pages actually logged are ever backed. */
	s->undo_pool = mmap(NULL, (total ? total : 1) * SNAP_PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	s->hot_copy = malloc((size_t)SNAP_HOT_MAX * SNAP_PAGE);
	s->fix = calloc(SNAP_FIX_MAX, sizeof(*s->fix));
	s->wlist_cap = aliased;
	s->wlist = calloc(aliased ? aliased : 1, sizeof(*s->wlist));
	if (!s->undo || s->undo_pool == MAP_FAILED || !s->hot_copy || !s->fix || !s->wlist) {
		errno = ENOMEM;
		return -1;
	}
	for (unsigned i = 0; i < s->blob_count; i++) {
		snapshot_copy(s->blobs[i].copy, s->blobs[i].ptr, s->blobs[i].len);
	}
	if (snapshot_handler_install() != 0) {
		return -1;
	}
	snap_active = s;
	for (unsigned i = 0; i < s->region_count; i++) {
		struct snap_region *r = &s->regions[i];
		memset(r->flags, 0, r->pages);
		if (r->announced) {
			continue; /* its primary view stays writable: writes to it are announced */
		}
		if (mprotect(r->base, r->pages * SNAP_PAGE, PROT_READ) != 0) {
			snap_active = NULL;
			return -1;
		}
		memset(r->prot, SNAP_R, r->pages);
	}
	s->taken = true;
	/* Every page is clean now: at most read-only in the aliases too. */
	struct snap_run runs[SNAP_MAX_ALIASES] = {0};
	for (unsigned i = 0; i < s->region_count; i++) {
		if (s->regions[i].aliases) {
			snapshot_aliases_lower(s, i, 0, s->regions[i].pages, runs);
		}
	}
	snapshot_runs_flush(s, runs);
	return 0;
}

/* Hot page @h has been clean for a while: it is clean again; give its slot to the last one. */
static void snapshot_demote(struct snapshot *s, unsigned h)
{
	size_t index = 0;
	struct snap_region *r = snapshot_find(s, s->hot[h], &index);
	unsigned last = --s->hot_count;

	r->state[index] = SNAP_CLEAN;
	r->faults[index] = 0;
	if (h != last) {
		struct snap_region *lr = snapshot_find(s, s->hot[last], &index);
		s->hot[h] = s->hot[last];
		s->hot_idle[h] = s->hot_idle[last];
		snapshot_copy(s->hot_copy + (size_t)h * SNAP_PAGE, s->hot_copy + (size_t)last * SNAP_PAGE, SNAP_PAGE);
		lr->slot[index] = h;
	}
	s->stats.demoted++;
}

/* Where a restore writes a page of @r: its backdoor if it has aliases (whatever they allow), else itself. */
static uint8_t *snapshot_restore_dst(const struct snap_region *r, uint8_t *page)
{
	return r->backdoor ? r->backdoor + (page - r->base) : page;
}

/* After the copies: the page @page (clean again or its rule restored) gets at most what it may have in every view. */
static void snapshot_fix_page(struct snapshot *s, uint8_t *page, struct snap_run *primary, struct snap_run *runs)
{
	size_t i = 0;
	struct snap_region *r = snapshot_find(s, page, &i);

	if (r->state[i] == SNAP_CLEAN && r->prot[i] != SNAP_R && !r->announced) {
		snapshot_run_add(s, primary, r->base, r->prot, i, SNAP_R);
	}
	if (r->aliases) {
		snapshot_aliases_lower(s, (unsigned)(r - s->regions), i, 1, runs);
	}
}

void snapshot_restore(struct snapshot *s)
{
	uint8_t *demoted[SNAP_HOT_MAX];
	unsigned demoted_count = 0;

	if (s->undo_count > s->stats.max_logged) {
		s->stats.max_logged = s->undo_count;
	}
	/* Every byte back first (the aliases' rules read restored data, e.g. the RMP)... */
	for (size_t u = 0; u < s->undo_count; u++) {
		size_t index = 0;
		struct snap_region *r = snapshot_find(s, s->undo[u].page, &index);
		snapshot_copy(snapshot_restore_dst(r, s->undo[u].page), s->undo[u].saved, SNAP_PAGE);
		r->state[index] = SNAP_CLEAN;
	}
	s->stats.pages_restored += s->undo_count;
	for (unsigned h = 0; h < s->hot_count; h++) {
		/* Reading is cheaper than writing: many hot pages are clean in a given run. */
		const uint8_t *orig = s->hot_copy + (size_t)h * SNAP_PAGE;
		if (!snapshot_page_equal(s->hot[h], orig)) {
			size_t index = 0;
			struct snap_region *r = snapshot_find(s, s->hot[h], &index);
			snapshot_copy(snapshot_restore_dst(r, s->hot[h]), orig, SNAP_PAGE);
			s->hot_idle[h] = 0;
			s->stats.hot_dirty++;
		} else if (++s->hot_idle[h] >= SNAP_HOT_IDLE) {
			demoted[demoted_count++] = s->hot[h];
			snapshot_demote(s, h--);
		}
	}
	for (unsigned b = 0; b < s->blob_count; b++) {
		snapshot_copy(s->blobs[b].ptr, s->blobs[b].copy, s->blobs[b].len);
	}
	/* ...then the protections: clean pages read-only everywhere, aliases by their restored rules. */
	struct snap_run primary = {0};
	struct snap_run runs[SNAP_MAX_ALIASES] = {0};
	for (size_t u = 0; u < s->undo_count; u++) {
		snapshot_fix_page(s, s->undo[u].page, &primary, runs);
	}
	for (unsigned d = 0; d < demoted_count; d++) {
		snapshot_fix_page(s, demoted[d], &primary, runs);
	}
	snapshot_run_flush(s, &primary);
	for (size_t f = 0; f < s->fix_count; f++) {
		snapshot_aliases_lower(s, s->fix[f].region, s->fix[f].first, s->fix[f].count, runs);
	}
	for (unsigned ri = 0; s->fix_all && ri < s->region_count; ri++) {
		if (s->regions[ri].aliases) {
			snapshot_aliases_lower(s, ri, 0, s->regions[ri].pages, runs);
		}
	}
	snapshot_runs_flush(s, runs);
	s->fix_count = 0;
	s->fix_all = false;
	/* Written pages whose aliases lost write access above are no longer listed. */
	size_t kept = 0;
	for (size_t w = 0; w < s->wlist_count; w++) {
		size_t i = 0;
		struct snap_region *r = snapshot_find(s, s->wlist[w], &i);
		if (snapshot_any_alias_w(s, (unsigned)(r - s->regions), i)) {
			s->wlist[kept++] = s->wlist[w];
		} else {
			r->flags[i] &= (uint8_t)~SNAP_F_ALIAS_W;
		}
	}
	s->wlist_count = kept;
	s->undo_count = 0;
	s->stats.restores++;
}

void snapshot_release(struct snapshot *s)
{
	if (s->taken) {
		snapshot_restore(s);
		for (unsigned i = 0; i < s->region_count; i++) {
			mprotect(s->regions[i].base, s->regions[i].pages * SNAP_PAGE, PROT_READ | PROT_WRITE);
		}
		/* The aliases keep their rules alone (raised again by the accesses that need it). */
		s->taken = false;
		munmap(s->undo_pool, (s->undo_cap ? s->undo_cap : 1) * SNAP_PAGE);
	}
	if (snap_active == s) {
		snap_active = NULL;
	}
	for (unsigned i = 0; i < s->region_count; i++) {
		struct snap_region *r = &s->regions[i];
		if (r->backdoor) {
			munmap(r->backdoor, r->pages * SNAP_PAGE);
		}
		free(r->state);
		free(r->flags);
		free(r->prot);
		free(r->faults);
		free(r->last);
		free(r->slot);
	}
	for (unsigned a = 0; a < s->alias_count; a++) {
		free(s->aliases[a].prot);
	}
	for (unsigned b = 0; b < s->blob_count; b++) {
		free(s->blobs[b].copy);
	}
	free(s->undo);
	free(s->hot_copy);
	free(s->fix);
	free(s->wlist);
	snapshot_init(s);
}

int snapshot_page_state(const struct snapshot *s, const void *p)
{
	size_t index = 0;
	const struct snap_region *r = snapshot_find(s, p, &index);

	return r ? r->state[index] : -1;
}
