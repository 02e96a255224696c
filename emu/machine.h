/*
 * The emulated SNP machine: sparse guest-physical memory, the RMP, vCPUs with their
 * per-VMPL state, the hypervisor side of the GHCB, and the statistics a run reports.
 * One machine exists per process at a time (emu_machine_current()); the arch interface
 * implementation (arch_emu.c) serves the SVSM core from it.
 *
 * The model is freestanding (no libc), so that the SNP image links it for its no-SNP
 * platform. What depends on its surroundings (where memory comes from, where console
 * bytes go, what termination does) is behind the hooks in struct emu_host: emu/host.c
 * provides them in a Linux process, svsm/arch/snp/nosnp.c in the image.
 */
#ifndef EMU_MACHINE_H
#define EMU_MACHINE_H

#include <svsm/core.h>
#include <svsm/types.h>

#include "rmp.h"

#define EMU_MAX_VCPUS 64
#define EMU_DEFAULT_MEM_MIB 256
#define EMU_DEFAULT_SVSM_BASE 0x800000ull  /* 8 MiB */
#define EMU_DEFAULT_SVSM_SIZE 0x1000000ull /* 16 MiB */
#define EMU_DEFAULT_CAA 0x4000000ull       /* 64 MiB: the startup calling area */
#define EMU_GUEST_VMPL 1
#define EMU_SERIAL_PORT 0x3F8
#define EMU_SEV_FEATURES 0x1ull            /* SNP active */
#define EMU_CBIT 51
/* The legacy VGA/BIOS hole: ROM and MMIO on real machines, never guest RAM. */
#define EMU_LEGACY_HOLE_START 0xA0000ull
#define EMU_LEGACY_HOLE_END 0x100000ull

/*
 * The launch through the AMD Secure Processor (SNP_LAUNCH_START / SNP_LAUNCH_UPDATE /
 * SNP_LAUNCH_FINISH), when a PSP is attached (emu/psp/, hosted; docs/attestation.md).
 * Page types of SNP_LAUNCH_UPDATE (shared/spec section 4.6):
 */
enum emu_page_type {
	EMU_PAGE_NORMAL = 1,
	EMU_PAGE_VMSA = 2,
	EMU_PAGE_ZERO = 3,
	EMU_PAGE_UNMEASURED = 4,
	EMU_PAGE_SECRETS = 5,
	EMU_PAGE_CPUID = 6,
};

/* Where KVM measures every initial VMSA: (u64)-1 page-aligned, cut to 48 bits. */
#define EMU_LAUNCH_VMSA_GPA 0xFFFFFFFFF000ull
/* Guest policy of the launch: SMT allowed, bit 17 (must be one), ABI 0.0. */
#define EMU_DEFAULT_POLICY 0x30000ull

/* One 4 KiB page of the launch, in SNP_LAUNCH_UPDATE order (emu_launch_plan). */
struct emu_launch_page {
	u64 gpa;
	u8 type;            /* enum emu_page_type */
	u8 perms[3];        /* VMPL1, VMPL2, VMPL3 permission masks */
	const u8 *contents; /* the 4 KiB the page starts with (NORMAL, VMSA, CPUID); else NULL */
};

struct emu_machine;
struct emu_vcpu;
struct ghcb;

/*
 * The PSP's side of the machine: the launch commands and the guest-request exits
 * (0x8000_0011/12). Each launch command returns 0 or a firmware error (SEV_RET_*);
 * @page is the page's memory (NULL for the VMSA, which lies outside guest memory).
 * guest_request answers the exit in @g, the hypervisor's copy of @v's GHCB.
 */
struct emu_psp_ops {
	u32 (*launch_start)(void *ctx, u64 policy);
	u32 (*launch_update)(void *ctx, const struct emu_launch_page *p, u8 *page);
	u32 (*launch_finish)(void *ctx);
	void (*guest_request)(void *ctx, struct emu_machine *m, struct emu_vcpu *v, struct ghcb *g, u64 exit_code);
};


/* Kinds of VMGEXIT, for statistics. */
enum emu_exit_kind {
	EXIT_MSR_SEV_INFO,
	EXIT_MSR_CPUID,
	EXIT_MSR_REGISTER,
	EXIT_MSR_PSC,
	EXIT_MSR_RUN_VMPL,
	EXIT_MSR_HV_FEATURES,
	EXIT_MSR_TERMINATE,
	EXIT_MSR_OTHER,
	EXIT_NAE_IOIO,
	EXIT_NAE_CPUID,
	EXIT_NAE_MSR,
	EXIT_NAE_PSC,
	EXIT_NAE_AP_CREATION,
	EXIT_NAE_RUN_VMPL,
	EXIT_NAE_HV_FEATURES,
	EXIT_NAE_TERMINATE,
	EXIT_NAE_GUEST_REQUEST,
	EXIT_NAE_OTHER,
	EXIT_NAE_ERROR, /* rejected with a GHCB error code */
	EXIT_KIND_COUNT,
};

extern const char *const emu_exit_kind_names[EXIT_KIND_COUNT];

/* Decisions of the hypervisor that struct emu_hostile's decide hook can override. */
enum emu_hostile_point {
	HOSTILE_MSR_RESPONSE,  /* the whole MSR-protocol answer (also the run-VMPL one) */
	HOSTILE_MSR_PSC_DO,    /* MSR page state change: 1 = change the RMP, 0 = pretend */
	HOSTILE_PSC_BUDGET,    /* entries a GHCB page state change processes in this exit */
	HOSTILE_PSC_CUR_ENTRY, /* cur_entry written back to the PSC header */
	HOSTILE_PSC_ERROR,     /* SW_EXITINFO2 of a page state change (0 = success) */
	HOSTILE_AP_CREATION,   /* 0 = do it, 1 = reject, 2 = claim success without doing it */
	HOSTILE_RUN_VMPL,      /* 0 = switch VMPLs, else the error reported */
	HOSTILE_IOIO,          /* 0 = accept the port access, else reject it */
	HOSTILE_NAE_EXITINFO1, /* SW_EXITINFO1 of any GHCB page exit, after handling */
	HOSTILE_NAE_EXITINFO2, /* SW_EXITINFO2 of any GHCB page exit, after handling */
	/*
	 * At every host opportunity while the SVSM serves a request (each privileged
	 * operation or guest copy it makes, each of its VMGEXITs: the host runs on other CPUs
	 * and can act at any time): 0 = nothing, else a page-aligned GPA | enum emu_take_op,
	 * the page the host takes right now (anywhere in guest memory).
	 */
	HOSTILE_TAKE_PAGE,
	HOSTILE_POINT_COUNT,
};

/* How the host takes a page (RMPUPDATE; the contents become the host's garbage). */
enum emu_take_op {
	TAKE_OP_SHARED = 1,   /* to shared: hypervisor-owned */
	TAKE_OP_REASSIGN = 2, /* to shared and back to private: assigned, not validated, masks reset */
};

#define EMU_TAKES_MAX 4

/* Kinds of host opportunity (what the SVSM is about to do). */
enum emu_opp {
	OPP_ANY,       /* (filter only) every kind */
	OPP_READ,      /* a guest-memory read */
	OPP_WRITE,     /* a guest-memory write */
	OPP_PVALIDATE,
	OPP_RMPADJUST,
	OPP_RMPQUERY,
	OPP_VMGEXIT,   /* a VMGEXIT of the SVSM */
};

/* Which page a planned take aims at, resolved when it happens. */
enum emu_take_target {
	TAKE_TARGET_GPA,         /* emu_take.gpa */
	TAKE_TARGET_SVSM_FIRST,  /* the SVSM region's first page (its ownership map) */
	TAKE_TARGET_SVSM_LAST,   /* the SVSM region's last page (allocator memory) */
	TAKE_TARGET_CALLER_VMSA, /* the VMSA of the vCPU whose request is served */
	TAKE_TARGET_CALLER_CA,   /* that vCPU's calling area */
	TAKE_TARGET_SVSM_GHCB,   /* the SVSM's GHCB on that vCPU */
	TAKE_TARGET_SVSM_VCPU,   /* the SVSM page holding its own state of that vCPU */
	TAKE_TARGET_RCX,         /* the page RCX names (a list, a buffer, a VMSA) */
	TAKE_TARGET_RDX,         /* the page RDX names (CREATE_VCPU's calling area) */
	TAKE_TARGET_LIST_ENTRY,  /* the page of the list entry at "next" (PVALIDATE, DEPOSIT) */
};

/*
 * A page the host takes at a chosen moment of a request: just before the @at-th host
 * opportunity of kind @kind (0 = the first) in the first request whose RAX is @call (~0 =
 * any). Used by the named misbehaviours (emu/hostile.h) and tests.
 */
struct emu_take {
	bool armed;
	enum emu_take_target target;
	enum emu_take_op op;
	u64 gpa;
	u64 call;
	enum emu_opp kind;
	u32 at;
	bool done;        /* it happened */
	u64 taken_gpa;    /* where */
	bool refused;     /* RMPUPDATE refused it (a running VMSA) */
};

/*
 * Ways the emulated hypervisor can misbehave on purpose, to test the core against a
 * hostile host. Each is consulted on the next matching exit.
 */
struct emu_hostile {
	u32 psc_partial;        /* PSC page exits process at most this many entries (0 = all) */
	bool psc_fail;          /* PSC answers with an error */
	bool psc_no_progress;   /* PSC answers success without advancing cur_entry */
	bool register_bad_echo; /* GHCB registration echoes a wrong GFN */
	bool run_vmpl_fail;     /* run-VMPL answers with an error */
	bool ap_create_fail;    /* AP creation answers with an error */
	bool msr_garbage;       /* MSR-protocol answers carry a wrong response code */
	bool ioio_fail;         /* IOIO answers with a GHCB error */
	/*
	 * When set, consulted at every decision point below with the answer the honest
	 * hypervisor would give (@proper); whatever it returns is used instead. Fuzzers
	 * let input bytes decide (harness/fuzz/fuzz_hv.c).
	 */
	u64 (*decide)(void *ctx, enum emu_hostile_point point, u64 proper);
	void *decide_ctx;
	struct emu_take takes[EMU_TAKES_MAX];
};

/* Machine configuration (emu_config_default() fills sensible values). */
struct emu_config {
	u64 mem_size;       /* bytes, multiple of 2 MiB */
	u64 svsm_base;      /* the SVSM region, 2 MiB aligned */
	u64 svsm_size;
	u64 caa_gpa;        /* the startup vCPU's calling area */
	bool rmp_2m;        /* back guest memory with 2 MiB RMP entries where possible */
	void *console;      /* serial output, a FILE * in a process (emu/host.c); NULL = discard */
	bool deterministic; /* seeded random source and clock, for fuzzing */
	u64 seed;
	u8 guest_vmpl;      /* VMPL of the boot guest OS (SVSM_GUEST_VMPL), 1-3 */
	bool legacy_hole;   /* [0xA0000, 0x100000) is MMIO/ROM: not RAM, never assigned */
	bool no_rmpquery;   /* the CPU lacks RMPQUERY (the SVSM then serves guest_vmpl only) */
	bool rmpadjust_unvalidated; /* RMPADJUST succeeds on pages that are not validated */
	/*
	 * The SVSM's direct map is guest memory itself, unchecked (hosted machines only): no
	 * fault on an SVSM access the RMP forbids, and no mprotect per RMP change. For
	 * measurements of the core alone (make bench); everything else keeps the checks.
	 */
	bool unchecked_direct_map;
	/*
	 * The machine's CPUs are APIC IDs 0 .. apic_id_limit - 1 (0 = any APIC ID): only there
	 * does the SVSM have a VMPL0 context (arch_cpu_present), so CREATE_VCPU refuses other
	 * APIC IDs and the hypervisor's AP creation fails for them.
	 */
	u32 apic_id_limit;
	struct emu_hostile boot_hostile; /* misbehaviours armed before the SVSM boots */
	/* The PSP, NULL = none: then the launch is unmeasured and guest requests unsupported. */
	const struct emu_psp_ops *psp;
	void *psp_ctx;
	u64 policy;         /* given to SNP_LAUNCH_START */
	u64 secrets_gpa;    /* the secrets and CPUID pages (PSP launches only; 0 = none) */
	u64 cpuid_gpa;
};

/* Sizes of the per-request trace (what the SVSM did for one call on one vCPU). */
#define EMU_TRACE_READS 64
#define EMU_TRACE_WRITES 64
#define EMU_TRACE_ADJUSTS 32

/* One guest-memory read made for the SVSM, with the core code that asked for it. */
struct emu_trace_read {
	u64 gpa;
	u64 len;
	const void *site;
};

/* A VMPL's mask on a range of pages the first time the SVSM changed it in this request. */
struct emu_trace_adjust {
	u64 pfn;
	u64 pages;
	u8 vmpl;
	u8 old_perms; /* AND of the masks of the range */
};

/*
 * What the SVSM did during the request it is serving on a vCPU (from the hypervisor's
 * switch into VMPL0 to the switch back): every guest-memory read (the double-fetch
 * check), every guest-memory write, and the masks it changed (so that putting back a
 * mask the guest had at the start of the request is not taken for a grant of unzeroed
 * memory). Overflow makes the checks conservative, never silent.
 */
struct emu_req_trace {
	bool active;
	u32 reads, writes, adjusts;
	bool reads_overflow, writes_overflow, adjusts_overflow;
	u32 opportunities[OPP_VMGEXIT + 1]; /* host opportunities so far, by kind (struct emu_take) */
	u8 vmpl;           /* the VMPL whose request this is */
	struct emu_trace_read read[EMU_TRACE_READS];
	struct emu_trace_read write[EMU_TRACE_WRITES];
	struct emu_trace_adjust adjust[EMU_TRACE_ADJUSTS];
};

/*
 * The translations a vCPU caches per VMPL (docs/architecture.md, "Stale translations"):
 * a small direct-mapped TLB of the rights the RMP gave on a page when the guest last
 * touched it. A hit is used without asking the RMP again, as hardware does, until the
 * flush at the next VMRUN of that VMPL's VMSA when its PCPU_ID is 0. Only accesses made
 * through a guest thread bound to its vCPU (guest_bind_thread) use it.
 */
#define EMU_TLB_ENTRIES 64

struct emu_tlb {
	u64 e[EMU_TLB_ENTRIES]; /* (pfn + 1) << 8 | perms, 0 = empty; atomic words */
};

struct emu_vcpu {
	/*
	 * Read by every thread looking a vCPU up (emu_vcpu_find), written once: on a cache
	 * line of their own, apart from the fields the vCPU's thread writes at every call.
	 */
	bool present;
	u32 apic_id;
	u8 vmpl __attribute__((aligned(64))); /* VMPL currently executing */
	u64 ghcb_msr[RMP_VMPL_COUNT];
	u64 ghcb_registered[RMP_VMPL_COUNT]; /* registered GHCB GPA + 1, 0 = none */
	u64 vmsa_gpa[RMP_VMPL_COUNT];        /* VMSA per VMPL, from AP creation; 0 = none */
	bool vmsa_valid[RMP_VMPL_COUNT];
	/* The guest's register file while it runs (saved to its VMSA on VMGEXIT). */
	u64 rax, rcx, rdx, r8, r9;
	bool destroyed_while_running; /* its running VMSA was deleted */
	/* The SVSM's guest-memory accesses on this vCPU (double-fetch checks); per vCPU so
	 * that counting needs no atomics. */
	u64 svsm_guest_reads;
	u64 svsm_guest_writes;
	struct emu_req_trace trace;
	void *svsm_local; /* the core's per-CPU pointer (arch_cpu_local) */
	struct emu_tlb tlb[RMP_VMPL_COUNT];
	u64 tlb_flushes;  /* flushes at VMRUN (PCPU_ID was 0) */
	u64 exits[EXIT_KIND_COUNT]; /* this vCPU's VMGEXITs by kind (emu_exits adds them up) */
} __attribute__((aligned(64))); /* no cache line shared with another vCPU's thread */

/*
 * Bugs of the SVSM the machine saw while it ran (a double fetch, a grant of memory that
 * was not zero...): counted, the first described. The oracle reports every new one.
 */
struct emu_findings {
	u64 count;
	char first[320];
};

/* Everything that went wrong at VMPL1+ or in the hypervisor, for the harness to inspect. */
struct emu_fault_log {
	u64 count;
	struct rmp_fault last;
};

struct emu_stats {
	u64 exits[EXIT_KIND_COUNT]; /* exits with no vCPU known; read the totals with emu_exits */
	u64 ungranted_nonzero; /* pages granted to VMPL1+ while not zero (invariant) */
	u64 vmrun_invalid;     /* VMPL1 resumed with EFER.SVME clear or no valid VMSA */
	u64 console_bytes;
	/*
	 * The SVSM executed PVALIDATE/RMPADJUST/RMPQUERY or a private access on a page of
	 * the MMIO/ROM hole. On KVM that is a nested page fault nobody can resolve: the vCPU
	 * hangs. The model fails the instruction and counts it; the oracle reports it.
	 */
	u64 mmio_stalls;
	/*
	 * Guest accesses allowed by a cached translation although the RMP no longer allows
	 * them (the TLB model above). With a flush requested and not yet done that is what
	 * the architecture permits; without one it is also a finding of the SVSM.
	 */
	u64 stale_accesses;
};

struct emu_machine;

/* The surroundings of the model; every hook is set before the machine boots. */
struct emu_host {
	/* Bytes the SVSM wrote to the serial port (GHCB IOIO). */
	void (*console_write)(struct emu_machine *m, const char *buf, size_t len);
	/* Diagnostics of the emulator itself (the guest driver's call trace). */
	void (*diag)(struct emu_machine *m, const char *line);
	/* The machine was terminated (m->term_set/term_code are set); never returns. */
	SVSM_NORETURN void (*terminate)(struct emu_machine *m);
	/* Optional: describe a code address (function, file:line) for finding reports. */
	void (*symbolize)(const void *pc, char *buf, size_t size);
	/*
	 * Optional: the RMP entries of [@pfn, @pfn + @count) changed; make the SVSM's direct
	 * map (svsm_map) give access to exactly the pages VMPL0 may access (assigned and
	 * validated). Without it the direct map is guest memory itself, unchecked.
	 */
	void (*protect)(struct emu_machine *m, u64 pfn, u64 count);
	/*
	 * Optional: a vCPU waits for another (the guest driver re-issues a call the SVSM
	 * answered BUSY): let the other run, which may be preempted on the same host CPU.
	 */
	void (*relax)(struct emu_machine *m);
};

/*
 * Concurrency (vCPU threads, docs/architecture.md): each struct emu_vcpu belongs to the
 * thread running that vCPU (emu_vcpu_current), but for AP creation, which changes another
 * vCPU's VMSA slots under m->lock. The RMP has its own lock (rmp.h); m->lock may be held
 * when taking it, never the reverse. m->lock guards the vCPU slots' allocation, the fault
 * log's last fault, the host's taken pages and the deterministic random source; counters
 * are atomic. Configuration (cfg, hostile, hooks) is set while no vCPU thread runs.
 */
struct emu_machine {
	struct emu_config cfg;
	struct emu_host host;
	struct spinlock lock;
	u8 *mem;              /* guest-physical memory, mmap'ed without reserve (sparse) */
	/*
	 * The SVSM's private direct map of the same memory (arch_phys_to_virt), or NULL to use
	 * @mem. Where the host gives it (emu/host.c), a page is accessible through it only while
	 * the RMP lets VMPL0 access it with the C-bit set (assigned and validated): any other
	 * access faults as hardware would (#NPF or #VC 0x404) and terminates the machine.
	 */
	u8 *svsm_map;
	/* The SVSM's C=0 mapping (arch_map_shared), or NULL to use @mem; see emu/dmap.h. */
	u8 *shared_map;
	struct rmp rmp;
	struct emu_hostile hostile;
	struct emu_stats stats;
	struct emu_fault_log faults;
	struct emu_findings findings;
	/*
	 * Pages the host took (emu_host_take_page): what they became is the host's doing, so
	 * the oracle does not hold the SVSM to its invariants there (an SVSM page that is no
	 * longer validated, a VMSA without its bit). Overflow means "any page may have been".
	 */
	struct {
		u32 count;
		bool overflow;
		u64 pfn[64];
	} host_taken;
	u64 rng_state;
	u64 clock_ns;         /* deterministic clock */
	/* Termination: set when the guest or the SVSM asked the hypervisor to stop it. */
	bool terminated;
	u8 term_set, term_code;
	char term_detail[200]; /* why, when the machine itself stopped the SVSM (a fault) */
	void *term_jmp;       /* a jmp_buf *: if set, termination longjmps there (emu/host.c, tests) */
	bool booted;
	u32 launch_error;     /* a launch command failed (SEV_RET_* code); the machine cannot boot */
	/*
	 * If set, called just before the model itself writes guest memory (checked accesses
	 * of the SVSM, the guest or the hypervisor, VMSA register saves, GHCB responses),
	 * with the bytes still unchanged: the fuzzers keep per-call pre-images this way.
	 * The core's writes through its direct map do not pass here.
	 */
	void (*write_hook)(void *ctx, u64 gpa, u64 len);
	void *write_ctx;
	/*
	 * When set (hosted machines with a direct map only), the direct map is read-only while
	 * it is set and the first write of the SVSM to each page through it calls this hook
	 * with the bytes still unchanged (emu/callcheck.c: pre-images of what a call writes).
	 */
	void (*svsm_write_hook)(void *ctx, u64 gpa);
	void *svsm_write_ctx;
	/* Last: the fields above and the first vCPUs, written by every call, share a page. */
	struct emu_vcpu vcpus[EMU_MAX_VCPUS];
};

/* Defaults: 256 MiB, SVSM at 8 MiB (16 MiB), CA at 64 MiB, 2 MiB RMP entries, stderr. */
void emu_config_default(struct emu_config *cfg);

/*
 * Create the machine (memory, RMP, startup vCPU), launch the SVSM region and the
 * startup calling area, and boot the SVSM core on the startup vCPU. Returns NULL with
 * a message in @err (if given) on failure. Hosted (emu/host.c).
 */
struct emu_machine *emu_machine_create(const struct emu_config *cfg, char *err, size_t err_size);
void emu_machine_destroy(struct emu_machine *m);
struct emu_machine *emu_machine_current(void);

/*
 * The freestanding steps of emu_machine_create, for any host. emu_config_check: false
 * with a reason in @err when @cfg is unusable. emu_machine_init: attach zeroed @mem
 * (cfg->mem_size bytes) and zeroed RMP @entries (one per page) to @m, whose cfg and
 * host hooks are set; assign all memory, launch the SVSM region and the startup CA, and
 * make @m the current machine. emu_machine_boot: run svsm_boot on the startup vCPU at
 * VMPL0 and then hand that vCPU to the guest; 0, or -1 with a reason in @err (the
 * host's terminate hook runs instead if the SVSM asks to be terminated).
 * emu_machine_detach: @m is no longer the current machine.
 */
bool emu_config_check(const struct emu_config *cfg, char *err, size_t err_size);
/* True if [@gpa, @gpa + @len) touches the machine's legacy MMIO/ROM hole. */
bool emu_in_hole(const struct emu_config *cfg, u64 gpa, u64 len);
/* Fill @info's RAM map (ram_count, ram[]) from @cfg. */
void emu_machine_ram_map(const struct emu_config *cfg, struct svsm_boot_info *info);
void emu_machine_init(struct emu_machine *m, u8 *mem, struct rmp_entry *entries);
int emu_machine_boot(struct emu_machine *m, char *err, size_t err_size);
void emu_machine_detach(struct emu_machine *m);

/*
 * The launch of @cfg, page by page in SNP_LAUNCH_UPDATE order, VMSAs last: the SVSM's
 * parameter page (NORMAL) and the rest of its region (ZERO), the secrets and CPUID pages,
 * the startup calling area (ZERO, VMPL1 read-write), the startup vCPU's VMPL0 VMSA. With
 * a PSP, emu_machine_init loads these; svsm-emu measure computes their digest without
 * running anything. @fn may be called with contents in a buffer reused for the next page.
 */
void emu_launch_plan(const struct emu_config *cfg, void (*fn)(void *ctx, const struct emu_launch_page *p), void *ctx);

/* The CPUID values the emulated platform reports (leaf, register 0-3 = EAX..EDX). */
u32 emu_hv_cpuid(u32 leaf, unsigned reg);

/* The vCPU with @apic_id, or NULL. */
struct emu_vcpu *emu_vcpu_find(struct emu_machine *m, u32 apic_id);
/*
 * Run the calling code as the SVSM (VMPL0) on the startup vCPU, and back to the guest:
 * lets tests exercise core pieces directly.
 */
void emu_startup_vcpu_enter_svsm(struct emu_machine *m);
void emu_startup_vcpu_leave_svsm(struct emu_machine *m);

/* Make @v the vCPU this thread executes (the arch layer serves it). */
void emu_vcpu_set_current(struct emu_vcpu *v);
struct emu_vcpu *emu_vcpu_current(void);

/* Host pointer of guest-physical @gpa (no checks: hardware and hypervisor internals only). */
static inline u8 *emu_mem(struct emu_machine *m, u64 gpa)
{
	return m->mem + gpa;
}

/* The model is about to write [@gpa, @gpa + @len) of guest memory (see write_hook). */
static inline void emu_mem_will_write(struct emu_machine *m, u64 gpa, u64 len)
{
	if (m->write_hook) {
		m->write_hook(m->write_ctx, gpa, len);
	}
}

/*
 * An access by @vmpl (private, C=1) to guest memory, checked against the RMP. On a
 * violation nothing is copied, the fault is logged and -1 returned.
 */
int emu_mem_read(struct emu_machine *m, u8 vmpl, u64 gpa, void *dst, u64 len, struct rmp_fault *fault);
int emu_mem_write(struct emu_machine *m, u8 vmpl, u64 gpa, const void *src, u64 len, struct rmp_fault *fault);
/*
 * The same accesses made by the guest running on vCPU @v at @vmpl, through its TLB (see
 * struct emu_tlb): a cached translation is used even after the RMP revoked it; such a
 * stale access is counted, and reported as a finding when no flush was requested.
 */
int emu_vcpu_mem_read(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl, u64 gpa, void *dst, u64 len);
int emu_vcpu_mem_write(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl, u64 gpa, const void *src, u64 len);
/*
 * VMRUN of @v's VMSA at @vmpl: if its PCPU_ID is 0 (a flush was asked for, or the VMSA
 * never ran), drop the VMPL's cached translations and set PCPU_ID to a non-zero value
 * (this vCPU's APIC ID + 1: the model's physical CPU number).
 */
void emu_vcpu_vmrun(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl);

/* Atomic exchange of the byte at @gpa by @vmpl (needs read and write permission). */
int emu_mem_xchg8(struct emu_machine *m, u8 vmpl, u64 gpa, u8 value, u8 *old);

/* The hypervisor: handle a VMGEXIT from @v at its current VMPL. */
void emu_hv_vmgexit(struct emu_machine *m, struct emu_vcpu *v);

/* Stop the machine (termination request): records it and calls the host's terminate hook. */
SVSM_NORETURN void emu_terminate(struct emu_machine *m, u8 set, u8 code);

/*
 * The SVSM touched @gpa through its direct map although VMPL0 may not access it: the
 * fault hardware raises (#NPF for a page that is not guest-owned, #VC 0x404 for one that
 * is not validated) is recorded and, since the SVSM cannot handle either in its own
 * code, the machine is terminated (TERM_SET_SVSM, TERM_SVSM_FAULT). Never returns.
 */
SVSM_NORETURN void emu_svsm_map_fault(struct emu_machine *m, u64 gpa, bool write);

/*
 * A host opportunity on @v (see HOSTILE_TAKE_PAGE): inside a request, a planned take or
 * the decide hook may take a page now. Called by the CPU model before each privileged
 * operation or copy of the SVSM and by the hypervisor on each VMGEXIT from VMPL0.
 */
void emu_host_opportunity(struct emu_machine *m, struct emu_vcpu *v, enum emu_opp kind);

/* VMGEXITs of kind @k so far, all vCPUs (exact once no vCPU runs). */
u64 emu_exits(const struct emu_machine *m, enum emu_exit_kind k);
/*
 * The host takes the page at @gpa (@op): RMPUPDATE as KVM would on a conversion, and the
 * page's bytes become the host's garbage. RMP_SUCCESS, or why the RMP refused it.
 */
u32 emu_host_take_page(struct emu_machine *m, u64 gpa, enum emu_take_op op);
/* Did the host take page @pfn (see host_taken)? */
bool emu_host_took(const struct emu_machine *m, u64 pfn);

/*
 * The SVSM accessed @gpa through its C=0 (shared) mapping while the page is guest-owned:
 * an RMP violation (#NPF) nobody resolves; recorded, and the machine is terminated.
 */
SVSM_NORETURN void emu_svsm_shared_fault(struct emu_machine *m, u64 gpa, bool write);

/* Re-derive the direct map's access for [@pfn, @pfn + @count) through the host's protect hook. */
void emu_machine_protect(struct emu_machine *m, u64 pfn, u64 count);

/*
 * What the CPU does for code running at @v's current VMPL (the SVSM at VMPL0): the
 * privileged operations of the arch interface, served by the model (emu/cpu.c). Both
 * emu/arch_emu.c and the image's no-SNP platform are thin wrappers around these.
 */
u32 emu_cpu_pvalidate(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, enum page_size size, bool validate);
u32 emu_cpu_rmpadjust(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, enum page_size size, u8 target_vmpl,
		      u8 perms, bool vmsa);
u32 emu_cpu_rmpquery(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, u8 target_vmpl, u8 *perms);
/* @site: the code address that asked for the copy (__builtin_return_address), for reports. */
int emu_cpu_guest_read(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, void *dst, size_t len, const void *site);
int emu_cpu_guest_write(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, const void *src, size_t len,
			const void *site);
void *emu_cpu_phys_to_virt(struct emu_machine *m, u64 gpa);
u64 emu_cpu_virt_to_phys(struct emu_machine *m, const void *va);
void *emu_cpu_map_shared(struct emu_machine *m, u64 gpa);
/* Does the machine have a CPU with @apic_id (cfg.apic_id_limit)? */
bool emu_cpu_present(const struct emu_machine *m, u32 apic_id);
/* The deterministic clock and random source (cfg.deterministic). */
u64 emu_cpu_det_clock(struct emu_machine *m);
void emu_cpu_det_random(struct emu_machine *m, void *buf, size_t len);

/* Record a bug of the SVSM (see struct emu_findings). */
void emu_finding(struct emu_machine *m, const char *fmt, ...) SVSM_PRINTF(2, 3);
/* The SVSM starts / finishes serving a request on @v from @vmpl (the hypervisor's VMPL switch). */
void emu_request_begin(struct emu_vcpu *v, u8 vmpl);
void emu_request_end(struct emu_vcpu *v);

/* Log a fault raised by an access that hardware would not have allowed. */
void emu_fault_record(struct emu_machine *m, const struct rmp_fault *f);

/* Human-readable fault description. */
const char *emu_fault_kind_name(enum rmp_fault_kind k);

#endif
