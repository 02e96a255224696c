/*
 * The guest vCPUs the SVSM serves: one entry per guest VMSA (the startup vCPU's and every
 * CREATE_VCPU's), with its APIC ID, VMPL, VMSA and calling area.
 *
 * Concurrency. An entry lives in the SVSM's context of its APIC ID's CPU (cpu.h), which is
 * never freed, so a pointer to an entry never dangles: a deleted entry's slot is only
 * reused for the same APIC ID. The table (vcpu.c) lists the entries in use; its lock is
 * held only to add or remove one. Everything else is lock-free: the lookups scan the
 * table with atomic loads, and an entry's state is one atomic word (VCPU_*) that the
 * entry into a call and the start of a deletion change with compare-and-swap, so that a
 * call and the deletion of its vCPU exclude each other. Scans read the entry's kind from
 * a copy on the entry's read-mostly line (written with the state word's kind, when the
 * entry is added, retired or freed), never the state word that calls write. An entry's fields are fixed while
 * it is in use, but for its calling area (REMAP_CA by its own vCPU) and the calling area
 * its call in progress came through; fields other CPUs read are read atomically.
 */
#ifndef SVSM_VCPU_H
#define SVSM_VCPU_H

#include <svsm/types.h>

#define SVSM_MAX_VCPUS 256

/* State of an entry: what it is, and flags. */
#define VCPU_FREE 0u          /* slot unused */
#define VCPU_LIVE 1u          /* the vCPU of its APIC ID */
#define VCPU_RETIRED 2u       /* replaced by a newer VMSA for its APIC ID; a VMSA until deleted */
#define VCPU_KIND_MASK 0xFFu
#define VCPU_IN_CALL 0x100u   /* a call of this vCPU is being served */
#define VCPU_DELETING 0x200u  /* DELETE_VCPU in progress: entries of its CPU find nothing */

struct svsm_vcpu {
	/*
	 * Read by every CPU's scans (vcpu_scan, the flush, the lookups); written only when
	 * the entry is added, replaced or deleted, or its calling area moves.
	 */
	u32 kind;              /* VCPU_FREE/LIVE/RETIRED: the kind bits of @state (atomic copy) */
	u32 apic_id;
	bool startup;          /* the boot vCPU: cannot be deleted or replaced */
	u8 guest_vmpl;         /* VMPL the vCPU's guest runs at */
	u64 guest_vmsa_gpa;    /* VMSA of the guest at its VMPL */
	u8 *vmsa;              /* the same page mapped into the SVSM (arch_phys_to_virt) */
	u64 caa_gpa;           /* current calling area (read with vcpu_caa) */
	/*
	 * The calling area the call in progress came through, or the last call's (atomic).
	 * It differs from caa_gpa only while a call that moved it (REMAP_CA) runs: it is
	 * written only when it differs, so that a call writes nothing on this line.
	 */
	u64 entry_caa;
	/* Written by its own CPU at every call: on a line of their own. */
	u32 state __attribute__((aligned(64))); /* VCPU_* (atomic) */
	u64 calls;             /* SVSM calls served on this vCPU (only its own CPU counts) */
} __attribute__((aligned(64)));

struct svsm_cpu;

/*
 * The entry of the vCPU making the current entry into the SVSM on CPU @c (the newest VMSA
 * of its APIC ID), marked in a call until vcpu_leave, with @caa_out its calling area at
 * entry. NULL if the SVSM does not know this APIC ID, if the entry is being deleted, or
 * if it is already in a call (a second entry of the same vCPU cannot happen on hardware).
 */
struct svsm_vcpu *vcpu_enter(struct svsm_cpu *c);
void vcpu_leave(struct svsm_vcpu *v);

/* Is @v replaced by a newer VMSA / in a call or being deleted (for tests and the oracle)? */
bool vcpu_is_retired(const struct svsm_vcpu *v);
bool vcpu_is_busy(const struct svsm_vcpu *v);

/*
 * The newest entry for @apic_id, or the one with @vmsa_gpa, or NULL: entries are never
 * freed (see above), so the pointer stays valid; whether the entry is still that vCPU
 * afterwards is for the caller to secure (the page claim of its VMSA, claim.h).
 * vcpu_put is the matching no-op, kept so that callers say where their use ends.
 */
struct svsm_vcpu *vcpu_get_apic(u32 apic_id);
struct svsm_vcpu *vcpu_get_vmsa(u64 vmsa_gpa);
void vcpu_put(struct svsm_vcpu *v);

/* The calling area of @v (another CPU may be moving it), and its move by @v's own call. */
u64 vcpu_caa(const struct svsm_vcpu *v);
void vcpu_set_caa(struct svsm_vcpu *v, u64 gpa);

/*
 * Without references, for code that runs while no vCPU is in the SVSM (tests, the oracle,
 * boot): the newest entry for @apic_id, the entry with @vmsa_gpa, all entries.
 */
struct svsm_vcpu *vcpu_find_apic(u32 apic_id);
struct svsm_vcpu *vcpu_find_vmsa(u64 vmsa_gpa);
u32 vcpu_list(struct svsm_vcpu **out, u32 max);

/*
 * True if @gpa's page is a guest VMSA or calling area of any entry. A calling area counts
 * as long as a call that came through it is in progress: after REMAP_CA the end of that
 * call still clears call_pending there, so nobody may make it theirs before.
 */
bool vcpu_page_is_vmsa(u64 gpa);
bool vcpu_page_is_caa(u64 gpa);
/*
 * True if a page of [@gpa, @gpa + @len) (@len > 0, not wrapping) is a guest VMSA or
 * calling area of any entry: one pass over the table, whatever the length.
 */
bool vcpu_range_has_vmsa(u64 gpa, u64 len);
bool vcpu_range_has_caa(u64 gpa, u64 len);
/* The same, but a calling area of @except's APIC ID does not count (a replaced vCPU's own). */
bool vcpu_range_has_caa_except(u64 gpa, u64 len, u32 except_apic);
/*
 * True if [@gpa, @gpa + @len) overlaps the header (call_pending, mem_available, reserved:
 * bytes 0-7) of any vCPU's calling area, which the SVSM itself reads and writes.
 */
bool vcpu_range_has_caa_header(u64 gpa, u64 len);

/* Results of vcpu_insert. */
enum vcpu_insert_result {
	VCPU_INSERTED = 0,
	VCPU_TABLE_FULL = -1,
	VCPU_APIC_TAKEN = -2,  /* by the startup vCPU, or by one at another VMPL */
	VCPU_NO_CONTEXT = -3,  /* no SVSM context for the APIC ID (cpu_prepare), or all its slots used */
};

/*
 * Add the vCPU described by @v (its apic_id, startup, guest_vmpl, guest_vmsa_gpa, vmsa,
 * caa_gpa): copied into a free slot of the SVSM's context for that APIC ID (cpu_prepare
 * made it), returned in *@out. An entry already there for its APIC ID at the same VMPL is
 * replaced: it becomes retired (Linux's CPU offline/online cycle: a new VMSA for the same
 * APIC ID, the old one deleted afterwards). Capacity is checked here, under the lock.
 */
enum vcpu_insert_result vcpu_insert(const struct svsm_vcpu *v, struct svsm_vcpu **out);
/* Would vcpu_insert of a vCPU at @vmpl for @apic_id succeed now? (A check before acting.) */
enum vcpu_insert_result vcpu_insert_check(u32 apic_id, u8 vmpl);

/*
 * Deleting @t is two steps around the RMP change. vcpu_delete_begin marks it (its CPU's
 * entries into the SVSM find no vCPU from now on) unless a call of it is being served on
 * another CPU than @caller's (@caller may be @t itself: deleting one's own VMSA) or it is
 * already being deleted; false then. vcpu_delete_end takes it out of the table if @done
 * (its slot becomes free), else unmarks it.
 */
bool vcpu_delete_begin(struct svsm_vcpu *t, const struct svsm_vcpu *caller);
void vcpu_delete_end(struct svsm_vcpu *t, bool done);

/*
 * After the SVSM reduced VMPL rights (@vmpl_mask: bit n = VMPL n), ask for the flush the
 * architecture requires of every vCPU running at those VMPLs: 0 in its VMSA's PCPU_ID,
 * so that its next VMRUN drops the translations it cached (docs/architecture.md).
 */
void vcpu_flush_translations(u8 vmpl_mask);

/* The startup vCPU's SEV_FEATURES (reference for CREATE_VCPU). */
u64 vcpu_reference_sev_features(void);
/* Boot: empty table; @sev_features is the reference for CREATE_VCPU. */
void vcpu_boot_init(u64 sev_features);

#endif
