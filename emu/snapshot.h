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
 * Views. A tracked range of shared memory (a memfd mapped several times, emu/dmap.h) may
 * have aliases: other mappings of the same pages (snapshot_alias), e.g. the SVSM's direct
 * map and its C=0 mapping of guest memory. A page has one state (clean, logged, hot) for
 * all its views. What an alias may do with a page is its owner's rule (the access hook,
 * e.g. "what the RMP lets VMPL0 do"); the snapshot applies it AND "a clean page is
 * read-only", so the first write through any view is logged. An access the rule forbids
 * goes to the fault hook (the machine turns it into the fault hardware raises). When the
 * rule changes for some pages, the owner calls snapshot_alias_update() (or, knowing the
 * new rule, snapshot_alias_limit()); after a restore the aliases of every page whose rule
 * or state changed since the snapshot are re-derived. Writes a program announces
 * (snapshot_prepare_write: the machine model's own writes) are logged without a fault.
 * Protections are lowered eagerly and raised lazily, at the first access that needs it
 * (a read raises the pages after it along, up to SNAP_RAISE_AHEAD), so a view never
 * allows more than its rule and the page's state do, and pages nobody touches cost no
 * system call.
 *
 * Writes through the aliases are always seen: an alias gets write access to a page only
 * by a write fault, which calls the write hook (for a clean page as it is logged).
 * snapshot_seal() takes write access away again from the written pages a filter picks,
 * so that their next write through an alias is reported too: the fuzzers keep pre-images
 * of every page a call writes this way, and snapshot_alias_writable() tells which pages
 * no alias can have written since their last seal.
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
#define SNAP_MAX_ALIASES 4
#define SNAP_MAX_BLOBS 16
#define SNAP_HOT_MAX 48
#define SNAP_HOT_FAULTS 4
#define SNAP_HOT_WINDOW 64
#define SNAP_HOT_IDLE 256
/* A fault right after the previous page's also logs (and unprotects) up to this many next pages. */
#define SNAP_RUN_AHEAD 63
/* A fault on a page its alias may access but was not raised for raises up to this many pages. */
#define SNAP_RAISE_AHEAD 512

/* Protections a view can have (the PROT_* values of mman.h). */
#define SNAP_NONE 0
#define SNAP_R 1
#define SNAP_RW 3

/* A page-aligned range under write protection. */
struct snap_region {
	uint8_t *base;     /* its primary view */
	size_t pages;
	uint8_t *state;    /* per page: SNAP_CLEAN, SNAP_LOGGED or SNAP_HOT */
	uint8_t *flags;    /* per page: SNAP_F_* */
	uint8_t *prot;     /* per page: the primary view's protection now */
	uint32_t *faults;  /* per page: recent faults (hot promotion) */
	uint32_t *last;    /* per page: restore count at its last fault */
	uint32_t *slot;    /* per page: index in the undo log (logged) or hot table (hot) */
	uint8_t *backdoor; /* with aliases: a writable mapping of the same pages (restores) */
	unsigned aliases;  /* how many aliases it has */
	bool announced;    /* the primary view is never write-protected (snapshot_track_announced) */
};

/* Another mapping of a tracked region's pages, with its own access rule. */
struct snap_alias {
	uint8_t *base;
	unsigned region;
	uint8_t *prot;     /* per page: its protection now */
};

/* A small unaligned range copied whole at every restore. */
struct snap_blob {
	uint8_t *ptr;
	size_t len;
	uint8_t *copy;
};

/* Pages of an aliased region whose rule changed since the snapshot (re-derived at the restore). */
struct snap_fix {
	uint32_t region;
	uint32_t first, count;
};
#define SNAP_FIX_MAX 4096

/* One logged page: where it is and its content at snapshot time. */
struct snap_undo {
	uint8_t *page;
	uint8_t *saved;
};

struct snap_stats {
	uint64_t faults;        /* write faults taken that logged pages */
	uint64_t hook_logs;     /* pages logged from snapshot_prepare_write, without a fault */
	uint64_t alias_faults;  /* faults through an alias that logged a page, raised or reported a write */
	uint64_t alias_writes;  /* written pages given write access in an alias (the hook told) */
	uint64_t seals;         /* pages whose aliases' write access snapshot_seal took away */
	uint64_t restores;
	uint64_t pages_restored; /* logged pages copied back */
	uint64_t max_logged;     /* most pages logged by one run */
	uint64_t hot_dirty;      /* hot pages found changed (and copied back) at a restore */
	uint64_t promoted;       /* pages made hot */
	uint64_t demoted;        /* hot pages protected again after SNAP_HOT_IDLE clean restores */
	uint64_t protects;       /* mprotect calls */
};

/* What an alias may do with page @page of its region (SNAP_NONE, SNAP_R or SNAP_RW). */
typedef int (*snap_access_fn)(void *ctx, unsigned alias, size_t page);
/*
 * An access through alias @alias at byte @offset that its rule forbids. Normally does
 * not return (the owner stops the program or longjmps); if it does, the fault goes to
 * the previous handler.
 */
typedef void (*snap_fault_fn)(void *ctx, unsigned alias, size_t offset, bool write);

struct snapshot {
	struct snap_region regions[SNAP_MAX_REGIONS];
	unsigned region_count;
	struct snap_alias aliases[SNAP_MAX_ALIASES];
	unsigned alias_count;
	snap_access_fn access;
	snap_fault_fn fault;
	void *alias_ctx;
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
	/* Pages of aliased regions whose aliases must be re-derived at the next restore (all: fix_all). */
	struct snap_fix *fix;
	size_t fix_count;
	bool fix_all;
	/* Pages some alias may write (SNAP_F_ALIAS_W), i.e. written through it since its last seal. */
	uint8_t **wlist;
	size_t wlist_count, wlist_cap;
	bool taken;
	/*
	 * When set, called with a page just before its first write since snapshot_take or
	 * the last restore (the page still holds its old content; also for the pages a
	 * run-ahead unprotects), and before a write through an alias that has no write access
	 * to the page (see snapshot_seal), so that a caller can keep what pages were like
	 * before some piece of work. @page is the primary view's address.
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

/* Per-page flags. */
#define SNAP_F_ALIAS_W 1u /* in snapshot.wlist: some alias may write it */

/* Empty snapshot. */
void snapshot_init(struct snapshot *s);

/*
 * Track [@ptr, @ptr + @len): whole pages by write protection, the unaligned edges as
 * blobs. Call before snapshot_take(). Returns 0, or -1 when the tables are full or out of
 * memory.
 */
int snapshot_track(struct snapshot *s, void *ptr, size_t len);

/*
 * Track the page-aligned [@ptr, @ptr + @len) whose every write through this mapping is
 * announced by snapshot_prepare_write() (a machine model that writes only through its
 * write hook): this view is never write-protected, so those writes cost no fault and no
 * mprotect; its aliases still are. A write that is not announced is not undone by the
 * restore. 0 or -1.
 */
int snapshot_track_announced(struct snapshot *s, void *ptr, size_t len);

/* Also copy [@ptr, @ptr + @len) whole at every restore (no protection). 0 or -1. */
int snapshot_blob(struct snapshot *s, void *ptr, size_t len);

/*
 * Register @alias as another mapping of the tracked region that starts at @primary (its
 * whole length; @primary must be a MAP_SHARED mapping). Before snapshot_take(); the
 * access and fault hooks must be set first (snapshot_alias_hooks). From now on this
 * snapshot's handler serves faults in the alias, and the alias's protections follow its
 * rule (the rule alone until the snapshot is taken). Returns the alias's index, or -1.
 */
int snapshot_alias(struct snapshot *s, void *primary, void *alias);
void snapshot_alias_hooks(struct snapshot *s, snap_access_fn access, snap_fault_fn fault, void *ctx);

/*
 * The rule of the aliases changed for the @pages pages from @primary (inside an aliased
 * region): apply it now, and re-derive them again after the next restore.
 */
void snapshot_alias_update(struct snapshot *s, void *primary, size_t pages);

/*
 * [@ptr, @ptr + @len) of a tracked range is about to be written through its primary
 * view: log its clean pages (the write hook sees them unchanged) and make them writable
 * there, without a fault. Cheap when nothing is to be done.
 */
void snapshot_prepare_write(struct snapshot *s, void *ptr, size_t len);

/*
 * The rule of alias @alias gives at most @max (SNAP_NONE, SNAP_R) on the @pages pages from
 * @primary now: snapshot_alias_update() for an owner that knows the new rule of a whole
 * range (no access hook per page).
 */
void snapshot_alias_limit(struct snapshot *s, unsigned alias, void *primary, size_t pages, int max);

/*
 * Take write access away from the aliases of every page they may write now for which
 * @filter(@ctx, primary page) says so (one mprotect per run of adjacent pages): the next
 * write through an alias to such a page calls the write hook.
 */
void snapshot_seal(struct snapshot *s, bool (*filter)(void *ctx, uint8_t *page), void *ctx);
/* May an alias write the page holding @p without a fault (written through it since its last seal)? */
bool snapshot_alias_writable(const struct snapshot *s, const void *p);

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
