/*
 * The SVSM's own context on each CPU it runs on: its GHCB and the scratch memory of the
 * calls served there. Only code running on that CPU touches it (no lock): it is found
 * through the arch layer's per-CPU pointer (arch_cpu_local) and created on the CPU's
 * first entry into the SVSM. It outlives the guest vCPUs of that APIC ID: the host keeps
 * using a CPU's GHCB as long as the CPU exists, so a GHCB is never freed while the host
 * may still have it registered.
 */
#ifndef SVSM_CPU_H
#define SVSM_CPU_H

#include <svsm/ghcb_client.h>
#include <svsm/types.h>
#include <svsm/vcpu.h>

/*
 * The guest vCPU entries of this APIC ID (vcpu.h) live here: the current one and those a
 * CPU offline/online cycle replaced but the guest has not deleted yet.
 */
#define SVSM_CPU_VCPU_SLOTS 8

/* Per-CPU scratch of the calls (the core protocol's lists and copies), 16 KiB. */
#define SVSM_CPU_SCRATCH_ORDER 2
#define SVSM_CPU_SCRATCH_SIZE (PAGE_SIZE << SVSM_CPU_SCRATCH_ORDER)

struct svsm_cpu {
	u32 apic_id;
	struct ghcb_page ghcb; /* the SVSM's GHCB on this CPU */
	bool ghcb_ready;
	u64 requests;          /* entries into the SVSM served on this CPU */
	u64 calls_by_protocol[5]; /* this CPU's share of struct svsm_counters */
	u64 errors;
	u8 *scratch;           /* SVSM_CPU_SCRATCH_SIZE bytes */
	struct svsm_vcpu *cur; /* the entry this CPU entered last (vcpu_enter's fast path) */
	struct svsm_vcpu vcpu_slots[SVSM_CPU_VCPU_SLOTS];
};

/*
 * This CPU's context: the one registered for its APIC ID, else created (with its
 * scratch) on first use; NULL without memory.
 */
struct svsm_cpu *cpu_this(void);
/*
 * Make sure a context exists for @apic_id (CREATE_VCPU, before the vCPU exists, so that
 * a lack of memory is the call's error and not a silent failure of that vCPU's first
 * entry). Returns it, or NULL without memory.
 */
struct svsm_cpu *cpu_prepare(u32 apic_id);
/* All registered contexts (up to @max); the count. */
u32 cpu_list(struct svsm_cpu **out, u32 max);
/* The allocator pages @c holds: its own page, its scratch, its GHCB when it has one. */
u64 cpu_context_pages(const struct svsm_cpu *c);
/* This CPU's context if it found it already, else NULL (never allocates). */
struct svsm_cpu *cpu_peek(void);
/* Give @c a GHCB (rescind a page, make it shared, register it); 0 or -1, undone on failure. */
int cpu_ghcb_setup(struct svsm_cpu *c);
/* This CPU's registered GHCB, or NULL (no context yet, or no GHCB). */
struct ghcb_page *cpu_ghcb(void);
/*
 * The context of the CPU with @apic_id, or NULL: for code that runs while that CPU is
 * not in the SVSM (tests, the oracle). Contexts are never freed while the machine runs.
 */
struct svsm_cpu *cpu_find_apic(u32 apic_id);
/* Boot: forget every context (the heap is new); the boot CPU's is created next. */
void cpu_boot_init(void);

#endif
