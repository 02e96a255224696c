/*
 * The RMP model: PVALIDATE, RMPADJUST, RMPUPDATE/PSMASH and access checks (freestanding).
 *
 * Every function that changes entries takes the lock of their 2 MiB region's stripe for
 * the whole instruction (so an instruction is atomic, as on hardware) and stores each
 * changed entry with one atomic write (rmp_store); under the lock entries are read
 * plainly. Readers outside the lock use rmp_read (rmp.h).
 */
#include "rmp.h"

/* The stripe of @gpa's 2 MiB region. */
static struct rmp_stripe *rmp_stripe(struct rmp *r, u64 gpa)
{
	return &r->stripes[(gpa >> 21) % RMP_STRIPES];
}

static struct rmp_stripe *rmp_lock(struct rmp *r, u64 gpa)
{
	struct rmp_stripe *st = rmp_stripe(r, gpa);

	/* Taken by a sequentially consistent exchange: it pairs with rmp_vmrun (see there). */
	spin_lock_seq_cst(&st->lock);
	return st;
}

static void rmp_unlock(struct rmp_stripe *st)
{
	spin_unlock(&st->lock);
}

/* Counters: under the stripe's lock (plain), or atomically on paths that take no lock. */
#define RMP_STAT(st, field) ((st)->stats.field++)
#define RMP_STAT_ADD(st, field, n) ((st)->stats.field += (n))
#define RMP_STAT_UNLOCKED(r, gpa, field) __atomic_fetch_add(&rmp_stripe((r), (gpa))->stats.field, 1, __ATOMIC_RELAXED)

void rmp_stats_get(const struct rmp *r, struct rmp_stats *out)
{
	*out = (struct rmp_stats){0};
	for (unsigned i = 0; i < RMP_STRIPES; i++) {
		const struct rmp_stats *s = &r->stripes[i].stats;
		out->validate += __atomic_load_n(&s->validate, __ATOMIC_RELAXED);
		out->rescind += __atomic_load_n(&s->rescind, __ATOMIC_RELAXED);
		out->unchanged += __atomic_load_n(&s->unchanged, __ATOMIC_RELAXED);
		out->perm_changes += __atomic_load_n(&s->perm_changes, __ATOMIC_RELAXED);
		out->vmsa_set += __atomic_load_n(&s->vmsa_set, __ATOMIC_RELAXED);
		out->vmsa_clear += __atomic_load_n(&s->vmsa_clear, __ATOMIC_RELAXED);
		out->assign += __atomic_load_n(&s->assign, __ATOMIC_RELAXED);
		out->unassign += __atomic_load_n(&s->unassign, __ATOMIC_RELAXED);
		out->psmash += __atomic_load_n(&s->psmash, __ATOMIC_RELAXED);
		out->failures += __atomic_load_n(&s->failures, __ATOMIC_RELAXED);
	}
}

void rmp_stats_reset(struct rmp *r)
{
	for (unsigned i = 0; i < RMP_STRIPES; i++) {
		r->stripes[i].stats = (struct rmp_stats){0};
	}
}

/* Entry of @gpa's page, NULL outside the table. */
static struct rmp_entry *rmp_lookup(struct rmp *r, u64 gpa)
{
	u64 pfn = gpa >> PAGE_SHIFT;

	if (pfn >= r->page_count) {
		return NULL;
	}
	return &r->entries[pfn];
}

/* Store one entry with a single atomic write (lock held). */
static void rmp_store(struct rmp_entry *slot, struct rmp_entry e)
{
	u64 raw;

	e.pad[0] = e.pad[1] = e.pad[2] = 0;
	__builtin_memcpy(&raw, &e, sizeof(raw));
	__atomic_store_n((u64 *)slot, raw, __ATOMIC_RELEASE);
}

/*
 * The in-use mark of page @pfn. The marks are laid out column by column, RMP_MARK_SPREAD
 * columns: consecutive pages (two vCPUs' VMSAs often are) get marks on different cache
 * lines once the RMP has 4096 pages or more, so their VMRUNs do not pull one line.
 */
static u8 *rmp_mark(const struct rmp *r, u64 pfn)
{
	u64 rows = ALIGN_UP(r->page_count, RMP_MARK_SPREAD) / RMP_MARK_SPREAD;

	return &r->running[(pfn % RMP_MARK_SPREAD) * rows + pfn / RMP_MARK_SPREAD];
}

/* Is the page of entry @e a running VMSA? (its stripe locked: see rmp_vmrun) */
static bool rmp_running(const struct rmp *r, const struct rmp_entry *e)
{
	return __atomic_load_n(rmp_mark(r, (u64)(e - r->entries)), __ATOMIC_SEQ_CST) != 0;
}

/* Tell the journal (if any) that entries [@first, @first + @count) are about to change. */
static inline void rmp_journal(struct rmp *r, const struct rmp_entry *first, u64 count)
{
	if (r->journal) {
		r->journal(r->journal_ctx, (u64)(first - r->entries), count);
	}
}

/* Tell the observer (if any) that entries [@first, @first + @count) changed. */
static inline void rmp_changed(struct rmp *r, const struct rmp_entry *first, u64 count)
{
	if (r->changed) {
		r->changed(r->changed_ctx, (u64)(first - r->entries), count);
	}
}

/* Read-only lookup for observers that run while nothing changes the table (rmp.h). */
const struct rmp_entry *rmp_entry(const struct rmp *r, u64 gpa)
{
	return rmp_lookup((struct rmp *)r, gpa);
}

/* Attach a zeroed table: every page starts hypervisor-owned. */
void rmp_init(struct rmp *r, struct rmp_entry *entries, u64 page_count)
{
	r->entries = entries;
	r->running = (u8 *)(entries + page_count);
	r->page_count = page_count;
	for (unsigned i = 0; i < RMP_STRIPES; i++) {
		r->stripes[i].lock = (struct spinlock)SPINLOCK_INIT;
	}
	r->journal = NULL;
	r->journal_ctx = NULL;
	r->changed = NULL;
	r->changed_ctx = NULL;
	r->no_rmpquery = false;
	r->adjust_unvalidated = false;
	for (u64 i = 0; i < page_count; i++) {
		rmp_store(&r->entries[i], (struct rmp_entry){0});
		__atomic_store_n(rmp_mark(r, i), 0, __ATOMIC_RELAXED);
	}
	rmp_stats_reset(r);
}

static struct rmp_entry rmp_entry_assigned(bool page_2m)
{
	struct rmp_entry e = {0};

	e.assigned = 1;
	e.page_2m = page_2m;
	e.perms[0] = VMPL_PERM_ALL;
	return e;
}

/* Split the 2 MiB entry containing @gpa (its stripe @st locked). */
static u32 rmp_psmash_locked(struct rmp *r, struct rmp_stripe *st, u64 gpa)
{
	u64 base = ALIGN_DOWN(gpa, PAGE_2M_SIZE);
	struct rmp_entry *first = rmp_lookup(r, base);
	struct rmp_entry *last = rmp_lookup(r, base + PAGE_2M_SIZE - PAGE_SIZE);

	if (!first || !last) {
		return RMP_FAULT;
	}
	if (!first->page_2m) {
		return RMP_FAIL_INPUT;
	}
	rmp_journal(r, first, PAGES_PER_2M);
	for (u64 i = 0; i < PAGES_PER_2M; i++) {
		struct rmp_entry e = first[i];
		e.page_2m = 0;
		rmp_store(&first[i], e);
	}
	RMP_STAT(st, psmash);
	return RMP_SUCCESS;
}

/* RMPUPDATE to private. A 2 MiB assignment covers the aligned 2 MiB region. */
u32 rmp_make_private(struct rmp *r, u64 gpa, bool page_2m)
{
	u64 count = page_2m ? PAGES_PER_2M : 1;

	if (!IS_ALIGNED(gpa, page_2m ? PAGE_2M_SIZE : PAGE_SIZE)) {
		return RMP_FAIL_INPUT;
	}
	struct rmp_entry *first = rmp_lookup(r, gpa);
	struct rmp_entry *last = rmp_lookup(r, gpa + (count - 1) * PAGE_SIZE);
	if (!first || !last) {
		return RMP_FAULT;
	}
	struct rmp_stripe *st = rmp_lock(r, gpa);
	for (u64 i = 0; i < count; i++) {
		if (rmp_running(r, &first[i]) || first[i].immutable) {
			rmp_unlock(st);
			return RMP_FAIL_INUSE;
		}
	}
	rmp_journal(r, first, count);
	for (u64 i = 0; i < count; i++) {
		rmp_store(&first[i], rmp_entry_assigned(page_2m));
	}
	RMP_STAT_ADD(st, assign, count);
	rmp_changed(r, first, count);
	rmp_unlock(st);
	return RMP_SUCCESS;
}

/* RMPUPDATE to shared. A page inside a 2 MiB entry is smashed first, as KVM does. */
u32 rmp_make_shared(struct rmp *r, u64 gpa)
{
	struct rmp_entry *e = rmp_lookup(r, gpa);

	if (!IS_ALIGNED(gpa, PAGE_SIZE)) {
		return RMP_FAIL_INPUT;
	}
	if (!e) {
		return RMP_FAULT;
	}
	struct rmp_stripe *st = rmp_lock(r, gpa);
	if (rmp_running(r, e) || e->immutable) {
		rmp_unlock(st);
		return RMP_FAIL_INUSE;
	}
	if (e->page_2m) {
		u32 rc = rmp_psmash_locked(r, st, gpa);
		if (rc != RMP_SUCCESS) {
			rmp_unlock(st);
			return rc;
		}
	}
	if (e->assigned) {
		RMP_STAT(st, unassign);
	}
	rmp_journal(r, e, 1);
	rmp_store(e, (struct rmp_entry){0});
	rmp_changed(r, e, 1);
	rmp_unlock(st);
	return RMP_SUCCESS;
}

/* Split a 2 MiB entry into 512 4 KiB entries with the same state. */
u32 rmp_psmash(struct rmp *r, u64 gpa)
{
	struct rmp_stripe *st = rmp_lock(r, gpa);
	u32 rc = rmp_psmash_locked(r, st, gpa);
	rmp_unlock(st);
	return rc;
}

/* SNP_LAUNCH_UPDATE: the page is private and validated with the given VMPL1-3 masks. */
u32 rmp_launch_page(struct rmp *r, u64 gpa, const u8 perms_vmpl123[3], bool vmsa)
{
	struct rmp_entry *e = rmp_lookup(r, gpa);

	if (!IS_ALIGNED(gpa, PAGE_SIZE)) {
		return RMP_FAIL_INPUT;
	}
	if (!e) {
		return RMP_FAULT;
	}
	struct rmp_stripe *st = rmp_lock(r, gpa);
	if (e->page_2m) {
		rmp_psmash_locked(r, st, gpa);
	}
	rmp_journal(r, e, 1);
	struct rmp_entry n = rmp_entry_assigned(false);
	n.validated = 1;
	n.vmsa = vmsa;
	for (unsigned v = 1; v < RMP_VMPL_COUNT; v++) {
		n.perms[v] = perms_vmpl123[v - 1];
	}
	rmp_store(e, n);
	RMP_STAT(st, validate);
	rmp_changed(r, e, 1);
	rmp_unlock(st);
	return RMP_SUCCESS;
}

/*
 * Common checks of PVALIDATE/RMPADJUST on [gpa, gpa + size) (lock held): alignment,
 * range, ownership and the RMP page size. A 4 KiB request on a 2 MiB entry is an
 * #NPF(SIZEM) that the hypervisor resolves by PSMASH before the guest retries: the
 * model does the PSMASH and carries on, which is what the guest observes.
 */
static u32 rmp_insn_target(struct rmp *r, struct rmp_stripe *st, u64 gpa, enum page_size size, struct rmp_entry **out,
			   u64 *count)
{
	if (size != PAGE_SIZE_4K && size != PAGE_SIZE_2M) {
		return RMP_FAIL_INPUT;
	}
	u64 n = size == PAGE_SIZE_2M ? PAGES_PER_2M : 1;
	/* Emulator choice: a misaligned address is FAIL_INPUT (the architecture leaves it open). */
	if (!IS_ALIGNED(gpa, n * PAGE_SIZE)) {
		return RMP_FAIL_INPUT;
	}
	struct rmp_entry *first = rmp_lookup(r, gpa);
	if (!first || !rmp_lookup(r, gpa + (n - 1) * PAGE_SIZE)) {
		return RMP_FAULT;
	}
	for (u64 i = 0; i < n; i++) {
		if (!first[i].assigned) {
			return RMP_FAULT; /* #NPF: not guest-owned */
		}
	}
	if (size == PAGE_SIZE_2M) {
		for (u64 i = 0; i < n; i++) {
			if (!first[i].page_2m) {
				return RMP_FAIL_SIZEMISMATCH;
			}
		}
	} else if (first->page_2m) {
		u32 rc = rmp_psmash_locked(r, st, gpa);
		if (rc != RMP_SUCCESS) {
			return rc;
		}
	}
	*out = first;
	*count = n;
	return RMP_SUCCESS;
}

/* PVALIDATE (lock held). */
static u32 rmp_pvalidate_locked(struct rmp *r, struct rmp_stripe *st, u64 gpa, enum page_size size, bool validate)
{
	struct rmp_entry *e;
	u64 n;
	u32 rc = rmp_insn_target(r, st, gpa, size, &e, &n);

	if (rc != RMP_SUCCESS) {
		return rc;
	}
	for (u64 i = 0; i < n; i++) {
		if (e[i].immutable || rmp_running(r, &e[i])) {
			return RMP_FAIL_INPUT;
		}
	}
	/* A 2 MiB entry carries one Validated state: the first page's stands for all. */
	if ((bool)e[0].validated == validate) {
		RMP_STAT(st, unchanged);
		return RMP_UNCHANGED;
	}
	rmp_journal(r, e, n);
	for (u64 i = 0; i < n; i++) {
		struct rmp_entry x = e[i];
		x.validated = validate;
		/* Rescinding clears the VMSA attribute too: the page can no longer be run. */
		if (!validate) {
			x.vmsa = 0;
		}
		rmp_store(&e[i], x);
	}
	if (validate) {
		RMP_STAT_ADD(st, validate, n);
	} else {
		RMP_STAT_ADD(st, rescind, n);
	}
	rmp_changed(r, e, n);
	return RMP_SUCCESS;
}

/* PVALIDATE: VMPL0 only; sets Validated, reporting "unchanged" as the CF=1 case. */
u32 rmp_pvalidate(struct rmp *r, u8 vmpl, u64 gpa, enum page_size size, bool validate)
{
	/* Emulator choice: PVALIDATE above VMPL0 faults (the exact exception is unconfirmed). */
	if (vmpl != 0) {
		RMP_STAT_UNLOCKED(r, gpa, failures);
		return RMP_FAULT;
	}
	struct rmp_stripe *st = rmp_lock(r, gpa);
	u32 rc = rmp_pvalidate_locked(r, st, gpa, size, validate);
	if (rc != RMP_SUCCESS && rc != RMP_UNCHANGED) {
		RMP_STAT(st, failures);
	}
	rmp_unlock(st);
	return rc;
}

/* RMPADJUST (lock held, arguments checked). */
static u32 rmp_rmpadjust_locked(struct rmp *r, struct rmp_stripe *st, u8 vmpl, u64 gpa, enum page_size size,
				u8 target_vmpl, u8 perms, bool vmsa)
{
	struct rmp_entry *e;
	u64 n;
	u32 rc = rmp_insn_target(r, st, gpa, size, &e, &n);

	if (rc != RMP_SUCCESS) {
		return rc;
	}
	for (u64 i = 0; i < n; i++) {
		if (rmp_running(r, &e[i])) {
			return RMP_FAIL_INUSE;
		}
		if (e[i].immutable || (!e[i].validated && !r->adjust_unvalidated) || (perms & ~e[i].perms[vmpl])) {
			return RMP_FAIL_PERMISSION;
		}
	}
	rmp_journal(r, e, n);
	for (u64 i = 0; i < n; i++) {
		struct rmp_entry x = e[i];
		if (x.perms[target_vmpl] != perms) {
			RMP_STAT(st, perm_changes);
		}
		x.perms[target_vmpl] = perms;
		/* The VMSA attribute can only be changed from VMPL0. */
		if (vmpl == 0 && (bool)x.vmsa != vmsa) {
			x.vmsa = vmsa;
			if (vmsa) {
				RMP_STAT(st, vmsa_set);
			} else {
				RMP_STAT(st, vmsa_clear);
			}
		}
		rmp_store(&e[i], x);
	}
	return RMP_SUCCESS;
}

/*
 * RMPADJUST: a VMPL may set the mask of a numerically higher VMPL only and never grant a
 * right it lacks. On an unvalidated page it fails with FAIL_PERMISSION unless the
 * machine is set to allow it (rmp.adjust_unvalidated): the architecture leaves this open.
 */
u32 rmp_rmpadjust(struct rmp *r, u8 vmpl, u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa)
{
	u32 rc;

	if (vmpl >= RMP_VMPL_COUNT) {
		rc = RMP_FAULT;
	} else if (target_vmpl >= RMP_VMPL_COUNT || target_vmpl <= vmpl) {
		rc = RMP_FAIL_PERMISSION;
	} else if (perms & ~VMPL_PERM_ALL) {
		rc = RMP_FAIL_INPUT;
	} else {
		struct rmp_stripe *st = rmp_lock(r, gpa);
		rc = rmp_rmpadjust_locked(r, st, vmpl, gpa, size, target_vmpl, perms, vmsa);
		if (rc != RMP_SUCCESS) {
			RMP_STAT(st, failures);
		}
		rmp_unlock(st);
		return rc;
	}
	RMP_STAT_UNLOCKED(r, gpa, failures);
	return rc;
}

/* RMPQUERY: read one VMPL's mask of a validated, guest-owned page. */
u32 rmp_rmpquery(const struct rmp *r, u8 vmpl, u64 gpa, u8 target_vmpl, u8 *perms)
{
	struct rmp_entry e;

	if (r->no_rmpquery) {
		return RMP_UNSUPPORTED;
	}
	if (target_vmpl >= RMP_VMPL_COUNT) {
		return RMP_FAIL_INPUT;
	}
	if (vmpl >= RMP_VMPL_COUNT || target_vmpl <= vmpl) {
		return RMP_FAIL_PERMISSION;
	}
	if (!rmp_read(r, gpa, &e) || !e.assigned || !e.validated) {
		return RMP_FAULT;
	}
	*perms = e.perms[target_vmpl];
	return RMP_SUCCESS;
}

static u8 rmp_access_bit(enum rmp_access access)
{
	switch (access) {
	case RMP_ACCESS_READ:
		return VMPL_PERM_READ;
	case RMP_ACCESS_WRITE:
		return VMPL_PERM_WRITE;
	case RMP_ACCESS_EXEC_USER:
		return VMPL_PERM_EXEC_USER;
	default:
		return VMPL_PERM_EXEC_SUPER;
	}
}

/* The access checks of APM table 15-39, in priority order, for each page touched. */
/* The full check (rmp.h inlines the common one-page case in front of it). */
bool rmp_check_access_slow(const struct rmp *r, u8 vmpl, bool encrypted, u64 gpa, u64 len, enum rmp_access access,
			   struct rmp_fault *fault)
{
	if (len == 0) {
		return true;
	}
	u64 last = gpa + len - 1;
	if (last < gpa) {
		*fault = (struct rmp_fault){RMP_FAULT_OUT_OF_RANGE, gpa, 0, vmpl};
		return false;
	}
	for (u64 page = ALIGN_DOWN(gpa, PAGE_SIZE); page <= ALIGN_DOWN(last, PAGE_SIZE); page += PAGE_SIZE) {
		struct rmp_entry e;
		u64 at = page < gpa ? gpa : page;
		if (!rmp_read(r, page, &e)) {
			*fault = (struct rmp_fault){RMP_FAULT_OUT_OF_RANGE, at, 0, vmpl};
			return false;
		}
		if (vmpl == RMP_HYPERVISOR || !encrypted) {
			/* Host accesses and C=0 guest writes need a hypervisor-owned page. */
			if (e.assigned && (vmpl == RMP_HYPERVISOR || access != RMP_ACCESS_READ)) {
				*fault = (struct rmp_fault){RMP_FAULT_NPF, at, NPF_RMP, vmpl};
				return false;
			}
			continue;
		}
		if (!e.assigned) {
			*fault = (struct rmp_fault){RMP_FAULT_NPF, at, NPF_RMP | NPF_ENC, vmpl};
			return false;
		}
		if (!e.validated) {
			*fault = (struct rmp_fault){RMP_FAULT_VC_NOT_VALIDATED, at, VC_NOT_VALIDATED, vmpl};
			return false;
		}
		if (vmpl >= RMP_VMPL_COUNT) {
			*fault = (struct rmp_fault){RMP_FAULT_NPF, at, NPF_RMP | NPF_VMPL, vmpl};
			return false;
		}
		u8 mask = e.perms[vmpl];
		/* Write without read is an illegal combination: data accesses fault. */
		bool illegal = (mask & VMPL_PERM_WRITE) && !(mask & VMPL_PERM_READ) &&
			       (access == RMP_ACCESS_READ || access == RMP_ACCESS_WRITE);
		if (vmpl != 0 && (illegal || !(mask & rmp_access_bit(access)))) {
			*fault = (struct rmp_fault){RMP_FAULT_NPF, at, NPF_RMP | NPF_ENC | NPF_VMPL, vmpl};
			return false;
		}
	}
	return true;
}

/* Can the entry be run as a VMSA? */
static bool rmp_runnable(struct rmp_entry e)
{
	return e.assigned && e.validated && e.vmsa;
}

/*
 * VMRUN marks the page in use without the stripe lock: it happens twice per SVSM call
 * on every vCPU, and the VMSAs of two vCPUs often share a stripe. It stays atomic with
 * the instructions that refuse an in-use page (they check the mark under the lock):
 *
 *   VMRUN:        mark := 1; is the stripe locked? -> no: read the entry
 *   instruction:  lock := 1; read the mark (and the entries)
 *
 * Both writes and both reads are sequentially consistent operations (rmp_lock takes the
 * lock with such an exchange), so one of the two sees the other's write: either the
 * instruction sees the mark (and fails with FAIL_INUSE, VMRUN having come first), or
 * VMRUN sees the lock held. Then it waits for the lock and decides under it, on the
 * entry the instruction left. The mark is taken with compare-and-swap, so a VMSA runs
 * on one vCPU at a time.
 */
bool rmp_vmrun(struct rmp *r, u64 gpa)
{
	struct rmp_entry e;

	if (!rmp_read(r, gpa, &e) || !rmp_runnable(e)) {
		return false;
	}
	u8 *mark = rmp_mark(r, gpa >> PAGE_SHIFT);
	u8 idle = 0;
	if (!__atomic_compare_exchange_n(mark, &idle, 1, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
		return false; /* another vCPU runs it */
	}
	struct rmp_stripe *st = rmp_stripe(r, gpa);
	bool ok;
	if (__atomic_load_n(&st->lock.locked, __ATOMIC_SEQ_CST)) {
		spin_lock(&st->lock);
		ok = rmp_read(r, gpa, &e) && rmp_runnable(e);
		spin_unlock(&st->lock);
	} else {
		ok = rmp_read(r, gpa, &e) && rmp_runnable(e);
	}
	if (!ok) {
		__atomic_store_n(mark, 0, __ATOMIC_RELEASE);
	}
	return ok;
}

/* #VMEXIT: a stale "in use" seen by an instruction is one from before the exit. */
void rmp_vmexit(struct rmp *r, u64 gpa)
{
	if (rmp_lookup(r, gpa)) {
		__atomic_store_n(rmp_mark(r, gpa >> PAGE_SHIFT), 0, __ATOMIC_RELEASE);
	}
}

bool rmp_in_use(const struct rmp *r, u64 gpa)
{
	u64 pfn = gpa >> PAGE_SHIFT;

	return pfn < r->page_count && __atomic_load_n(rmp_mark(r, pfn), __ATOMIC_ACQUIRE) != 0;
}
