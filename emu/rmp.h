/*
 * The RMP model: one entry per 4 KiB guest page with the architectural fields, and the
 * instructions that read or change it (PVALIDATE, RMPADJUST, the hypervisor's RMPUPDATE
 * and PSMASH, and the access check every memory access goes through).
 *
 * Freestanding (no libc): the SNP image links it for its no-SNP platform.
 * Strict where the architecture is unclear; each such choice is marked "emulator choice"
 * and listed in docs/architecture.md.
 *
 * Concurrency: every vCPU thread executes these instructions at once. An entry is one
 * aligned 8-byte word: an instruction changes entries under the lock of their 2 MiB
 * region's stripe (a leaf; like the hardware's RMP update atomicity; no instruction spans
 * two 2 MiB regions) and stores each entry with one atomic write; access checks and
 * observers read an entry with one atomic load (rmp_read) and take no lock. Statistics
 * are counted per stripe under its lock (rmp_stats_get adds them up), so vCPUs working on
 * different regions share no cache line.
 */
#ifndef EMU_RMP_H
#define EMU_RMP_H

#include <svsm/arch.h>
#include <svsm/spinlock.h>
#include <svsm/types.h>

#define RMP_VMPL_COUNT 4

struct rmp_entry {
	u8 assigned : 1;  /* guest-owned (1) or hypervisor-owned (0) */
	u8 page_2m : 1;   /* part of a 2 MiB RMP entry */
	u8 immutable : 1;
	u8 validated : 1;
	u8 vmsa : 1;
	u8 perms[RMP_VMPL_COUNT]; /* [0] is VMPL0's, always full while assigned */
	u8 pad[3];        /* always zero */
} __attribute__((aligned(8)));

_Static_assert(sizeof(struct rmp_entry) == 8, "an RMP entry is one atomic word");

/* Counters of RMP transitions, for the CLI summary. */
struct rmp_stats {
	u64 validate;   /* Validated 0 -> 1, per 4 KiB page */
	u64 rescind;    /* Validated 1 -> 0 */
	u64 unchanged;  /* PVALIDATE that changed nothing */
	u64 perm_changes;
	u64 vmsa_set;
	u64 vmsa_clear;
	u64 assign;     /* RMPUPDATE to private */
	u64 unassign;   /* RMPUPDATE to shared */
	u64 psmash;
	u64 failures;   /* instructions that returned a failure code or faulted */
};

/* The entries of 2 MiB regions whose index is the same modulo RMP_STRIPES: lock and counts. */
#define RMP_STRIPES 16

struct rmp_stripe {
	struct spinlock lock; /* serialises changes of these entries (held while calling the
				 journal and changed hooks, nothing else) */
	struct rmp_stats stats;
} __attribute__((aligned(64)));

/*
 * The table's memory: @pages entries, then one byte per page that is 1 while a vCPU runs
 * the page as its VMSA (from VMRUN to #VMEXIT; the "in use" of the architecture). The
 * marks live apart from the entries so that VMRUN and #VMEXIT, which happen at every SVSM
 * call, take no stripe lock (rmp_vmrun explains how they stay atomic with instructions).
 */
#define RMP_MARK_SPREAD 64 /* marks of consecutive pages sit this many rows apart (rmp.c) */
#define RMP_TABLE_BYTES(pages) \
	((u64)(pages) * sizeof(struct rmp_entry) + ALIGN_UP((u64)(pages), RMP_MARK_SPREAD))

struct rmp {
	struct rmp_entry *entries;
	u8 *running;     /* the in-use marks after the entries (atomic; rmp_mark) */
	u64 page_count;
	struct rmp_stripe stripes[RMP_STRIPES];
	/* The CPU has no RMPQUERY (CPUID 0x8000_001F EAX bit 6 clear): it answers RMP_UNSUPPORTED. */
	bool no_rmpquery;
	/*
	 * RMPADJUST on a page that is not validated: refused with FAIL_PERMISSION (false, the
	 * default, stricter) or carried out (true). The reference does not say which the
	 * hardware does, so the core must work with both (tests run it both ways).
	 */
	bool adjust_unvalidated;
	/*
	 * When set, told before entries [pfn, pfn + count) may change, so that an observer
	 * (the fuzzers' per-call oracles) can keep their previous values.
	 */
	void (*journal)(void *ctx, u64 pfn, u64 count);
	void *journal_ctx;
	/*
	 * When set, told after entries [pfn, pfn + count) changed in a way that can change
	 * what VMPL0 may access (assigned or validated): the machine keeps the SVSM's
	 * direct map in step with the RMP through it.
	 */
	void (*changed)(void *ctx, u64 pfn, u64 count);
	void *changed_ctx;
};

/* Kinds of access checked against the RMP. */
enum rmp_access {
	RMP_ACCESS_READ,
	RMP_ACCESS_WRITE,
	RMP_ACCESS_EXEC_USER,
	RMP_ACCESS_EXEC_SUPER,
};

/* What an access violation would raise on hardware. */
enum rmp_fault_kind {
	RMP_OK = 0,
	RMP_FAULT_NPF,          /* #VMEXIT(NPF): not guest-owned / size / VMPL */
	RMP_FAULT_VC_NOT_VALIDATED, /* #VC 0x404 to the guest */
	RMP_FAULT_OUT_OF_RANGE, /* beyond guest memory */
};

/* #NPF EXITINFO1 bits for RMP violations. */
#define NPF_RMP BIT(31)
#define NPF_ENC BIT(34)
#define NPF_SIZEM BIT(35)
#define NPF_VMPL BIT(36)
#define VC_NOT_VALIDATED 0x404

struct rmp_fault {
	enum rmp_fault_kind kind;
	u64 gpa;
	u64 error_code; /* NPF EXITINFO1 bits or the #VC code */
	u8 vmpl;
};

/* The counters of all stripes added up (exact once no instruction runs). */
void rmp_stats_get(const struct rmp *r, struct rmp_stats *out);
void rmp_stats_reset(struct rmp *r);

/* Attach @entries (RMP_TABLE_BYTES(@page_count) bytes) to @r: all hypervisor-owned. */
void rmp_init(struct rmp *r, struct rmp_entry *entries, u64 page_count);

/* Hypervisor RMPUPDATE: make the page private (assigned, unvalidated, VMPL0-only) or shared. */
u32 rmp_make_private(struct rmp *r, u64 gpa, bool page_2m);
u32 rmp_make_shared(struct rmp *r, u64 gpa);
/* Hypervisor PSMASH: split the 2 MiB entry containing @gpa, keeping its state. */
u32 rmp_psmash(struct rmp *r, u64 gpa);
/* Launch (SNP_LAUNCH_UPDATE): assigned, validated, with the given VMPL1-3 masks. */
u32 rmp_launch_page(struct rmp *r, u64 gpa, const u8 perms_vmpl123[3], bool vmsa);

/* PVALIDATE executed at @vmpl. Returns an RMP_* code (arch.h). */
u32 rmp_pvalidate(struct rmp *r, u8 vmpl, u64 gpa, enum page_size size, bool validate);
/* RMPADJUST executed at @vmpl. */
u32 rmp_rmpadjust(struct rmp *r, u8 vmpl, u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa);

/*
 * RMPQUERY executed at @vmpl: the mask @target_vmpl holds on @gpa's 4 KiB page. The
 * target must be numerically higher than @vmpl (FAIL_PERMISSION otherwise, FAIL_INPUT
 * past VMPL3); the page must be guest-owned (RMP_FAULT: #NPF) and validated (RMP_FAULT:
 * #VC 0x404). A 2 MiB entry answers for each of its pages.
 */
u32 rmp_rmpquery(const struct rmp *r, u8 vmpl, u64 gpa, u8 target_vmpl, u8 *perms);

/*
 * Check an access of @len bytes at @gpa by @vmpl with the C-bit @encrypted (private
 * access). Hypervisor accesses use vmpl = 0xFF (allowed only on shared pages). Returns
 * true if allowed; otherwise fills @fault with what hardware would raise.
 */
bool rmp_check_access_slow(const struct rmp *r, u8 vmpl, bool encrypted, u64 gpa, u64 len, enum rmp_access access,
			   struct rmp_fault *fault);

/* One entry, read atomically (@pfn < page_count). */
static inline struct rmp_entry rmp_read_pfn(const struct rmp *r, u64 pfn)
{
	u64 raw = __atomic_load_n((const u64 *)&r->entries[pfn], __ATOMIC_ACQUIRE);
	struct rmp_entry e;

	__builtin_memcpy(&e, &raw, sizeof(e));
	return e;
}

/* The entry of @gpa's page into *@out, read atomically; false outside the table. */
static inline bool rmp_read(const struct rmp *r, u64 gpa, struct rmp_entry *out)
{
	if ((gpa >> PAGE_SHIFT) >= r->page_count) {
		return false;
	}
	*out = rmp_read_pfn(r, gpa >> PAGE_SHIFT);
	return true;
}

static inline bool rmp_check_access(const struct rmp *r, u8 vmpl, bool encrypted, u64 gpa, u64 len,
				    enum rmp_access access, struct rmp_fault *fault)
{
	/* Fast path: a private data access within one validated page the VMPL may touch. */
	if (encrypted && len != 0 && vmpl < RMP_VMPL_COUNT && (gpa & PAGE_MASK) + len <= PAGE_SIZE &&
	    (gpa >> PAGE_SHIFT) < r->page_count && (access == RMP_ACCESS_READ || access == RMP_ACCESS_WRITE)) {
		struct rmp_entry e = rmp_read_pfn(r, gpa >> PAGE_SHIFT);
		u8 need = access == RMP_ACCESS_WRITE ? (VMPL_PERM_READ | VMPL_PERM_WRITE) : VMPL_PERM_READ;
		if (e.assigned && e.validated && (vmpl == 0 || (e.perms[vmpl] & need) == need)) {
			return true;
		}
	}
	return rmp_check_access_slow(r, vmpl, encrypted, gpa, len, access, fault);
}
#define RMP_HYPERVISOR 0xFF

/*
 * Entry of @gpa, or NULL when outside the RMP: a pointer into the table, for code that
 * runs while no vCPU thread can change it (tests, the oracle at quiescent points). Code
 * that may run concurrently reads with rmp_read.
 */
const struct rmp_entry *rmp_entry(const struct rmp *r, u64 gpa);
/*
 * VMRUN of the VMSA at @gpa: true, with the page marked in use, if its entry is a
 * runnable VMSA (assigned, validated, VMSA) that no vCPU runs; false otherwise. Atomic
 * with the instructions that refuse an in-use page (rmp.c).
 */
bool rmp_vmrun(struct rmp *r, u64 gpa);
/* #VMEXIT: the VMSA at @gpa stops running. */
void rmp_vmexit(struct rmp *r, u64 gpa);
/* Is the page at @gpa a running VMSA? (for tests) */
bool rmp_in_use(const struct rmp *r, u64 gpa);

#endif
