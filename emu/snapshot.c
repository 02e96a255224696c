/* Snapshot and dirty-page reset of tracked memory, by write protection and a SIGSEGV handler (hosted). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "snapshot.h"

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

/* The region and page index of @p, or NULL. */
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
	r->base = (uint8_t *)first;
	r->pages = pages;
	r->state = calloc(pages, 1);
	r->faults = calloc(pages, sizeof(*r->faults));
	r->last = calloc(pages, sizeof(*r->last));
	r->slot = calloc(pages, sizeof(*r->slot));
	if (!r->state || !r->faults || !r->last || !r->slot) {
		free(r->state);
		free(r->faults);
		free(r->last);
		free(r->slot);
		return -1;
	}
	s->region_count++;
	return 0;
}

/* Make @page writable and remember its content; returns false if it cannot be logged. */
static bool snapshot_log_page(struct snapshot *s, struct snap_region *r, size_t index)
{
	uint8_t *page = r->base + index * SNAP_PAGE;
	uint32_t now = (uint32_t)s->stats.restores;

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
		size_t run = 1;
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
		s->stats.faults++;
		return mprotect(page, run * SNAP_PAGE, PROT_READ | PROT_WRITE) == 0;
	}
	s->stats.faults++;
	return mprotect(page, SNAP_PAGE, PROT_READ | PROT_WRITE) == 0;
}

/* Write fault: log a tracked page and retry the write; anything else goes to the previous handler. */
static void snapshot_handler(int sig, siginfo_t *info, void *uctx)
{
	struct snapshot *s = snap_active;
	size_t index;
	struct snap_region *r = s ? snapshot_find(s, info->si_addr, &index) : NULL;

	if (r && r->state[index] == SNAP_CLEAN && snapshot_log_page(s, r, index)) {
		return;
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
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &snap_prev_action) != 0) {
		return -1;
	}
	snap_handler_installed = true;
	return 0;
}

int snapshot_take(struct snapshot *s)
{
	size_t total = 0;

	if (s->taken || snap_active) {
		errno = EBUSY;
		return -1;
	}
	for (unsigned i = 0; i < s->region_count; i++) {
		total += s->regions[i].pages;
	}
	s->undo_cap = total;
	s->undo = calloc(total ? total : 1, sizeof(*s->undo));
	/* Sparse: only pages actually logged are ever backed. */
	s->undo_pool = mmap(NULL, (total ? total : 1) * SNAP_PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	s->hot_copy = malloc((size_t)SNAP_HOT_MAX * SNAP_PAGE);
	if (!s->undo || s->undo_pool == MAP_FAILED || !s->hot_copy) {
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
		if (mprotect(r->base, r->pages * SNAP_PAGE, PROT_READ) != 0) {
			snap_active = NULL;
			return -1;
		}
	}
	s->taken = true;
	return 0;
}

/* Hot page @h has been clean for a while: protect it again and give its slot to the last one. */
static void snapshot_demote(struct snapshot *s, unsigned h)
{
	size_t index = 0;
	struct snap_region *r = snapshot_find(s, s->hot[h], &index);
	unsigned last = --s->hot_count;

	if (mprotect(s->hot[h], SNAP_PAGE, PROT_READ) != 0) {
		abort();
	}
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

void snapshot_restore(struct snapshot *s)
{
	size_t i = 0;

	if (s->undo_count > s->stats.max_logged) {
		s->stats.max_logged = s->undo_count;
	}
	/* Copy back, then protect runs of adjacent pages with one call each. */
	while (i < s->undo_count) {
		size_t run = 1;
		snapshot_copy(s->undo[i].page, s->undo[i].saved, SNAP_PAGE);
		while (i + run < s->undo_count && s->undo[i + run].page == s->undo[i].page + run * SNAP_PAGE) {
			snapshot_copy(s->undo[i + run].page, s->undo[i + run].saved, SNAP_PAGE);
			run++;
		}
		if (mprotect(s->undo[i].page, run * SNAP_PAGE, PROT_READ) != 0) {
			abort();
		}
		for (size_t k = 0; k < run; k++) {
			size_t index;
			struct snap_region *r = snapshot_find(s, s->undo[i + k].page, &index);
			r->state[index] = SNAP_CLEAN;
		}
		i += run;
	}
	s->stats.pages_restored += s->undo_count;
	s->undo_count = 0;
	for (unsigned h = 0; h < s->hot_count; h++) {
		/* Reading is cheaper than writing: many hot pages are clean in a given run. */
		const uint8_t *orig = s->hot_copy + (size_t)h * SNAP_PAGE;
		if (!snapshot_page_equal(s->hot[h], orig)) {
			snapshot_copy(s->hot[h], orig, SNAP_PAGE);
			s->hot_idle[h] = 0;
			s->stats.hot_dirty++;
		} else if (++s->hot_idle[h] >= SNAP_HOT_IDLE) {
			snapshot_demote(s, h--);
		}
	}
	for (unsigned b = 0; b < s->blob_count; b++) {
		snapshot_copy(s->blobs[b].ptr, s->blobs[b].copy, s->blobs[b].len);
	}
	s->stats.restores++;
}

void snapshot_release(struct snapshot *s)
{
	if (s->taken) {
		snapshot_restore(s);
		for (unsigned i = 0; i < s->region_count; i++) {
			mprotect(s->regions[i].base, s->regions[i].pages * SNAP_PAGE, PROT_READ | PROT_WRITE);
		}
		if (snap_active == s) {
			snap_active = NULL;
		}
		munmap(s->undo_pool, (s->undo_cap ? s->undo_cap : 1) * SNAP_PAGE);
	}
	for (unsigned i = 0; i < s->region_count; i++) {
		free(s->regions[i].state);
		free(s->regions[i].faults);
		free(s->regions[i].last);
		free(s->regions[i].slot);
	}
	for (unsigned b = 0; b < s->blob_count; b++) {
		free(s->blobs[b].copy);
	}
	free(s->undo);
	free(s->hot_copy);
	snapshot_init(s);
}

int snapshot_page_state(const struct snapshot *s, const void *p)
{
	size_t index;
	const struct snap_region *r = snapshot_find(s, p, &index);

	return r ? r->state[index] : -1;
}
