/*
 * Entry points of the SVSM core and the state it keeps: boot, the request handler, the
 * pages the SVSM owns and the protocol table. The guest vCPUs are in vcpu.h, the SVSM's
 * per-CPU contexts in cpu.h, page claims in claim.h, guest memory in guestmem.h.
 *
 * Concurrency: every vCPU can be in the SVSM at once. No lock is held across a VMGEXIT
 * or console output. Locks are leaves (nothing else is taken while one is held), with one
 * exception written down here. They are the vCPU table's (vcpu.c, held only to add or
 * remove an entry), the CPU contexts' registry (cpu.c), the log ring's (log.c), the
 * startup vCPU's mem_available flag's (core_protocol.c), the attestation registry's
 * (services.c), the vTPM's and its EK cache's (vtpm.c: vtpm_lock and the registry's may
 * each be held when taking vtpm_ek_lock, never the reverse) and the allocators' own
 * (docs/memory.md). What a call must hold across a VMGEXIT is claimed instead, and a
 * second claimant gets SVSM_ERR_BUSY rather than waiting: guest pages (claim.h), the
 * guest-request channel (greq.h), the console (log.c). Everything else is per CPU
 * (cpu.h), atomic (ownership, vCPU entry states, counters), or immutable after boot (the
 * protocol table, the boot parameters).
 */
#ifndef SVSM_CORE_H
#define SVSM_CORE_H

#include <svsm/cpu.h>
#include <svsm/ghcb_client.h>
#include <svsm/types.h>
#include <svsm/vcpu.h>

#define SVSM_VERSION_STRING "0.1.0"
#define SVSM_MAX_RAM_RANGES 8

/* A range of guest RAM (page aligned). */
struct svsm_ram_range {
	u64 base;
	u64 size;
};

/* What the launch tells the SVSM (on hardware: the secrets page and the IGVM parameters). */
struct svsm_boot_info {
	u64 svsm_base;        /* GPA of the SVSM region (validated, VMPL0-only) */
	u64 svsm_size;        /* bytes, 4 KiB multiple */
	u64 mem_size;         /* guest-physical memory span, bytes */
	u64 caa_gpa;          /* the startup vCPU's calling area (validated, guest RW) */
	u32 bsp_apic_id;      /* APIC ID of the startup vCPU */
	u8 guest_vmpl;        /* VMPL of the guest OS, 1-3 */
	u64 sev_features;     /* SEV_FEATURES of guest vCPUs */
	u64 guest_rip;        /* initial guest state for the startup vCPU's VMSA */
	u64 guest_rsp;
	u64 guest_cr0;
	u64 guest_cr3;
	u64 guest_cr4;
	/*
	 * Guest RAM, sorted and disjoint, inside [0, mem_size). Everything else (the legacy
	 * 0xA0000-0xFFFFF ROM/MMIO hole, MMIO) is refused whenever a guest names it: on KVM a
	 * private access or PVALIDATE there is an exit nobody can resolve, so the vCPU hangs.
	 */
	u32 ram_count;
	struct svsm_ram_range ram[SVSM_MAX_RAM_RANGES];
	/*
	 * Pages the launch put next to the SVSM region, 0 = none: the SNP secrets page (with
	 * it the SVSM offers the attestation protocol, VMPCK0 being its key to the PSP) and
	 * the CPUID page. Both become SVSM-owned.
	 */
	u64 secrets_gpa;
	u64 cpuid_gpa;
};

/*
 * Bring the SVSM up on the startup vCPU: allocator, ownership map, GHCB, the startup
 * vCPU's guest VMSA (created in SVSM memory and handed to the hypervisor through AP
 * creation). Returns 0, or a negative value if the platform is unusable.
 */
int svsm_boot(const struct svsm_boot_info *info);

/*
 * Handle one entry into VMPL0 from the guest on this vCPU (the hypervisor switched to
 * us after the guest asked to run VMPL0). Follows the sequence of the SVSM spec: check
 * the guest VMSA's exit code and call_pending, dispatch, write results, clear
 * call_pending, re-arm EFER.SVME. On hardware the arch loop calls it after each "run
 * VMPL" returns; in emu/ the emulated hypervisor calls it directly.
 */
void svsm_request_handle(void);

/*
 * Pages the SVSM owns: its region, GHCB pages, deposits (not guest-accessible). One bit
 * per page, changed with atomic operations (any vCPU, no lock): a page becomes or stops
 * being the SVSM's only while the changing call holds its claim (claim.h).
 */
int owned_init(u64 mem_size);
bool owned_page(u64 gpa);
/* True if any page of [gpa, gpa + len) is owned by the SVSM; false for len 0. */
bool owned_range(u64 gpa, u64 len);
void owned_set(u64 gpa, u64 pages, bool owned);
u64 owned_count(void);
u64 owned_mem_size(void);

/* Registers of an SVSM call, read once from the guest VMSA; outputs written back. */
struct svsm_call {
	u64 rax, rcx, rdx, r8, r9;
	u8 caller_vmpl;
	struct svsm_vcpu *vcpu; /* the calling guest vCPU (a reference held for the call) */
	struct svsm_cpu *cpu;   /* the SVSM's context on this CPU (its scratch, its GHCB) */
	bool vcpu_deleted;      /* the call deleted the calling vCPU itself */
};

/* A protocol: its id, versions and handler (returns the RAX result). */
struct svsm_protocol {
	u32 id;
	u32 min_version;
	u32 max_version;
	const char *name;
	u32 (*handle)(u32 call_id, struct svsm_call *call);
};

/*
 * Add a protocol to the dispatch table (attestation, vTPM... register here). Returns
 * 0, or -1 if the id is taken or the table is full.
 */
int protocol_register(const struct svsm_protocol *p);
/* Forget every protocol but the core one (a fresh boot). */
void protocol_reset(void);
const struct svsm_protocol *protocol_find(u32 id);
/* Dispatch @call on RAX = protocol << 32 | call id; returns the result for RAX. */
u32 protocol_dispatch(struct svsm_call *call);

/* The core protocol (0). */
u32 core_protocol_handle(u32 call_id, struct svsm_call *call);

/*
 * A fresh boot: every lock of the core is free (a terminated machine may have left one
 * taken in the middle of a request).
 */
void core_lock_reset(void);

/*
 * Write the mem_available flag of the calling area @caa (as VMPL @vmpl), or with
 * @with_pending its call_pending and mem_available bytes together (0, flag: the end of a
 * call). @startup: @caa is the startup vCPU's, which other CPUs write too: then under a
 * leaf lock, so the last write is the current answer (core_protocol.c).
 * core_mem_available_lock_reset frees that lock (core_lock_reset).
 */
void core_write_mem_available(u64 caa, u8 vmpl, bool with_pending, bool startup);
void core_mem_available_lock_reset(void);

/* Boot parameters kept for the handlers. */
const struct svsm_boot_info *svsm_boot_params(void);

/* Calls served per protocol (ids 0-3; others counted in slot 4) and results (atomic counters). */
struct svsm_counters {
	u64 calls_by_protocol[5];
	u64 errors;
	u64 spurious_entries;
};
void svsm_get_counters(struct svsm_counters *out);
/* Zero the counters (fresh boot). */
void request_reset_counters(void);

#endif
