/*
 * Snapshot and fast reset of a process's emulated machine and SVSM core (hosted only:
 * mprotect and a SIGSEGV handler). Memory registered with snapshot_track() is made
 * read-only after snapshot_take(); the first write to a page faults, the handler saves the
 * page into an undo log and makes it writable again. snapshot_restore() copies the logged
 * pages back and protects them again, so a reset costs time in proportion to what was
 * written since the snapshot, not to the size of guest memory.
 *
 * Pages written by (almost) every run would fault every time. A page that faults
 * SNAP_HOT_FAULTS times with at most SNAP_HOT_WINDOW restores between one fault and the
 * next becomes "hot": it stays writable and every restore compares it with its snapshot
 * copy and copies it back if needed (up to SNAP_HOT_MAX pages). A hot page found
 * unchanged at SNAP_HOT_IDLE restores in a row is protected again (demoted), so that
 * the hot set follows what the current inputs write: a fault costs a signal and two
 * mprotect calls (~2-3 us), a hot page a 4 KiB comparison per restore (~0.1 us).
 * Parts of a tracked range that do not fill a whole page (the edges of a linker section
 * shared with other data) are copied whole on restore.
 *
 * One snapshot is active per process (the signal handler serves it); single-threaded.
 * Under ASan the handler needs allow_user_segv_handler=1 (see harness/fuzz/fuzz_main.c).
 */
#ifndef EMU_SNAPSHOT_H
#define EMU_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_PAGE 4096u
#define SNAP_MAX_REGIONS 8
#define SNAP_MAX_BLOBS 16
#define SNAP_HOT_MAX 48
#define SNAP_HOT_FAULTS 4
#define SNAP_HOT_WINDOW 64
#define SNAP_HOT_IDLE 256
/* A fault right after the previous page's also logs (and unprotects) up to this many next pages. */
#define SNAP_RUN_AHEAD 63

/* A page-aligned range under write protection. */
struct snap_region {
	uint8_t *base;
	size_t pages;
	uint8_t *state;    /* per page: SNAP_CLEAN, SNAP_LOGGED or SNAP_HOT */
	uint32_t *faults;  /* per page: recent faults (hot promotion) */
	uint32_t *last;    /* per page: restore count at its last fault */
	uint32_t *slot;    /* per page: index in the undo log (logged) or hot table (hot) */
};

/* A small unaligned range copied whole at every restore. */
struct snap_blob {
	uint8_t *ptr;
	size_t len;
	uint8_t *copy;
};

/* One logged page: where it is and its content at snapshot time. */
struct snap_undo {
	uint8_t *page;
	uint8_t *saved;
};

struct snap_stats {
	uint64_t faults;        /* write faults taken */
	uint64_t restores;
	uint64_t pages_restored; /* logged pages copied back */
	uint64_t max_logged;     /* most pages logged by one run */
	uint64_t hot_dirty;      /* hot pages found changed (and copied back) at a restore */
	uint64_t promoted;       /* pages made hot */
	uint64_t demoted;        /* hot pages protected again after SNAP_HOT_IDLE clean restores */
};

struct snapshot {
	struct snap_region regions[SNAP_MAX_REGIONS];
	unsigned region_count;
	struct snap_blob blobs[SNAP_MAX_BLOBS];
	unsigned blob_count;
	struct snap_undo *undo;
	size_t undo_count;
	size_t undo_cap;
	uint8_t *undo_pool;      /* undo_cap pages */
	uint8_t *hot[SNAP_HOT_MAX];
	uint32_t hot_idle[SNAP_HOT_MAX]; /* restores in a row at which the hot page was unchanged */
	uint8_t *hot_copy;       /* SNAP_HOT_MAX pages: the hot pages at snapshot time */
	unsigned hot_count;
	bool taken;
	/*
	 * When set, called with a page just before its first write since snapshot_take or
	 * the last restore (the page still holds its old content; also for the pages a
	 * run-ahead unprotects), so that a caller can keep what pages were like before
	 * some piece of work.
	 */
	void (*write_hook)(void *ctx, uint8_t *page);
	void *write_ctx;
	struct snap_stats stats;
};

enum snap_page_state {
	SNAP_CLEAN = 0,  /* read-only, equal to the snapshot */
	SNAP_LOGGED = 1, /* written since the snapshot; original in the undo log */
	SNAP_HOT = 2,    /* always writable, restored every time */
};

/* Empty snapshot. */
void snapshot_init(struct snapshot *s);

/*
 * Track [@ptr, @ptr + @len): whole pages by write protection, the unaligned edges as
 * blobs. Call before snapshot_take(). Returns 0, or -1 when the tables are full or out of
 * memory.
 */
int snapshot_track(struct snapshot *s, void *ptr, size_t len);

/* Also copy [@ptr, @ptr + @len) whole at every restore (no protection). 0 or -1. */
int snapshot_blob(struct snapshot *s, void *ptr, size_t len);

/*
 * Record the current contents as the snapshot, install the fault handler and protect
 * the tracked pages. 0, or -1 (handler or mprotect refused; errno set).
 */
int snapshot_take(struct snapshot *s);

/*
 * (Re)install the fault handler if something replaced it (cmocka does around each
 * test); the replacing handler becomes the one unrelated faults are passed to. 0 or -1.
 */
int snapshot_handler_install(void);

/* Put every tracked byte back to its snapshot value and protect the pages again. */
void snapshot_restore(struct snapshot *s);

/* Stop tracking: unprotect everything, remove the handler, free the tables. */
void snapshot_release(struct snapshot *s);

/*
 * Page-sized copy and comparison without sanitizer or fuzzer hooks: the harness moves
 * and compares whole pages all the time, and ASan's range checks and libFuzzer's memcmp
 * hook on each of them cost more than the work itself.
 */
void snapshot_page_copy(void *dst, const void *src);
bool snapshot_page_equal(const void *a, const void *b);

/* The state (enum snap_page_state) of the page holding @p; -1 if not tracked. */
int snapshot_page_state(const struct snapshot *s, const void *p);

#endif
