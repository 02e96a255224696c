/*
 * Entry points of the SVSM core and the state it keeps: boot, the request handler,
 * vCPUs, the pages the SVSM owns, hostile-input-checked guest memory access, and the
 * protocol table.
 */
#ifndef SVSM_CORE_H
#define SVSM_CORE_H

#include <svsm/ghcb_client.h>
#include <svsm/types.h>

#define SVSM_MAX_VCPUS 256
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

/* Per-vCPU state of one guest vCPU served by the SVSM. */
struct svsm_vcpu {
	u32 apic_id;
	bool startup;          /* the boot vCPU: cannot be deleted */
	u64 guest_vmsa_gpa;    /* VMSA of the guest at its VMPL */
	u8 *vmsa;              /* the same page mapped into the SVSM (arch_phys_to_virt) */
	u64 caa_gpa;           /* current calling area */
	u8 guest_vmpl;         /* VMPL the vCPU's guest runs at */
	struct ghcb_page ghcb; /* the SVSM's GHCB on this vCPU (gpa 0 = none yet) */
	bool ghcb_ready;
	u64 calls;             /* SVSM calls served on this vCPU */
	bool unlocked_work;    /* its call runs with core_lock released (core_unlocked_run) */
};

/* The vCPU that is executing, or NULL if the SVSM does not know it. */
struct svsm_vcpu *vcpu_current(void);
/* Lookups under the vCPU table lock's protection (callers hold core_lock). */
struct svsm_vcpu *vcpu_find_apic(u32 apic_id);
struct svsm_vcpu *vcpu_find_vmsa(u64 vmsa_gpa);
/* True if @gpa's page is a guest VMSA or calling area of any vCPU. */
bool vcpu_page_is_vmsa(u64 gpa);
bool vcpu_page_is_caa(u64 gpa);
/*
 * True if a page of [@gpa, @gpa + @len) (@len > 0, not wrapping) is a guest VMSA or
 * calling area of any vCPU: one pass over the table, whatever the length.
 */
bool vcpu_range_has_vmsa(u64 gpa, u64 len);
bool vcpu_range_has_caa(u64 gpa, u64 len);
/*
 * True if [@gpa, @gpa + @len) overlaps the header (call_pending, mem_available, reserved:
 * bytes 0-7) of any vCPU's calling area, which the SVSM itself reads and writes.
 */
bool vcpu_range_has_caa_header(u64 gpa, u64 len);
/* True if no vCPU can be added (caller holds core_lock). */
bool vcpu_table_full(void);
/* Insert/remove (caller holds core_lock). Insert returns 0, -1 if full or duplicate. */
int vcpu_insert(struct svsm_vcpu *v);
void vcpu_remove(struct svsm_vcpu *v);
/* Iterate: fills @out with up to @max vCPU pointers; returns the count. */
u32 vcpu_list(struct svsm_vcpu **out, u32 max);
/* Set up this vCPU's GHCB if it has none yet (lazy, on first entry of an AP). */
int vcpu_ghcb_setup(struct svsm_vcpu *v);
/* The startup vCPU's SEV_FEATURES (reference for CREATE_VCPU). */
u64 vcpu_reference_sev_features(void);
/* Free a vCPU entry and its GHCB (after vcpu_remove). */
void vcpu_destroy(struct svsm_vcpu *v);
/* Boot: empty table; @sev_features is the reference for CREATE_VCPU. */
void vcpu_boot_init(u64 sev_features);

/* Pages the SVSM owns: its region, GHCB pages, deposits (not guest-accessible). */
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
	struct svsm_vcpu *vcpu;
	bool vcpu_deleted;     /* the call deleted the calling vCPU itself */
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

/* Serialises the core's mutable state (vCPU table, ownership, RMP changes). */
void core_lock(void);
void core_unlock(void);
/* A fresh boot: the lock is free (a terminated machine may have left it taken). */
void core_lock_reset(void);
/*
 * From a handler (core_lock held): run @fn(@ctx) with core_lock released, for long work
 * that needs none of the core's state (the vTPM engine), so that other vCPUs' calls go
 * on meanwhile. @fn must not touch core state, guest memory or the calling vCPU; the
 * handler re-checks whatever it relies on afterwards. Until it returns, the calling
 * vCPU counts as running: DELETE_VCPU of its VMSA answers FAIL_INUSE.
 */
void core_unlocked_run(struct svsm_call *call, void (*fn)(void *ctx), void *ctx);

/* Boot parameters kept for the handlers. */
const struct svsm_boot_info *svsm_boot_params(void);

/* Calls served per protocol (ids 0-3; others counted in slot 4) and results. */
struct svsm_counters {
	u64 calls_by_protocol[5];
	u64 errors;
	u64 spurious_entries;
};
void svsm_get_counters(struct svsm_counters *out);
/* Zero the counters (fresh boot). */
void request_reset_counters(void);

#endif
