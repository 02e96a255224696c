/*
 * The emulated SNP machine: sparse guest-physical memory, the RMP, vCPUs with their
 * per-VMPL state, the hypervisor side of the GHCB, and the statistics a run reports.
 * One machine exists per process at a time (emu_machine_current()); the arch interface
 * implementation (arch_emu.c) serves the SVSM core from it.
 */
#ifndef EMU_MACHINE_H
#define EMU_MACHINE_H

#include <setjmp.h>
#include <stdio.h>

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

/* Machine configuration (emu_config_default() fills sensible values). */
struct emu_config {
	u64 mem_size;       /* bytes, multiple of 2 MiB */
	u64 svsm_base;      /* the SVSM region, 2 MiB aligned */
	u64 svsm_size;
	u64 caa_gpa;        /* the startup vCPU's calling area */
	bool rmp_2m;        /* back guest memory with 2 MiB RMP entries where possible */
	FILE *console;      /* serial output; NULL = discard */
	bool deterministic; /* seeded random source and clock, for fuzzing */
	u64 seed;
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
	EXIT_NAE_OTHER,
	EXIT_NAE_ERROR, /* rejected with a GHCB error code */
	EXIT_KIND_COUNT,
};

extern const char *const emu_exit_kind_names[EXIT_KIND_COUNT];

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
};

struct emu_vcpu {
	bool present;
	u32 apic_id;
	u8 vmpl;               /* VMPL currently executing */
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
};

/* Everything that went wrong at VMPL1+ or in the hypervisor, for the harness to inspect. */
struct emu_fault_log {
	u64 count;
	struct rmp_fault last;
};

struct emu_stats {
	u64 exits[EXIT_KIND_COUNT];
	u64 ungranted_nonzero; /* pages granted to VMPL1+ while not zero (invariant) */
	u64 vmrun_invalid;     /* VMPL1 resumed with EFER.SVME clear or no valid VMSA */
	u64 console_bytes;
};

struct emu_machine {
	struct emu_config cfg;
	u8 *mem;              /* guest-physical memory, mmap'ed without reserve (sparse) */
	struct rmp rmp;
	struct emu_vcpu vcpus[EMU_MAX_VCPUS];
	struct emu_hostile hostile;
	struct emu_stats stats;
	struct emu_fault_log faults;
	u64 rng_state;
	u64 clock_ns;         /* deterministic clock */
	/* Termination: set when the guest or the SVSM asked the hypervisor to stop it. */
	bool terminated;
	u8 term_set, term_code;
	jmp_buf *term_jmp;    /* if set, termination longjmps here (tests) */
	bool booted;
};

/* Defaults: 256 MiB, SVSM at 8 MiB (16 MiB), CA at 64 MiB, 2 MiB RMP entries, stderr. */
void emu_config_default(struct emu_config *cfg);

/*
 * Create the machine (memory, RMP, startup vCPU), launch the SVSM region and the
 * startup calling area, and boot the SVSM core on the startup vCPU. Returns NULL with
 * a message in @err (if given) on failure.
 */
struct emu_machine *emu_machine_create(const struct emu_config *cfg, char *err, size_t err_size);
void emu_machine_destroy(struct emu_machine *m);
struct emu_machine *emu_machine_current(void);

/* The vCPU with @apic_id, or NULL. */
struct emu_vcpu *emu_vcpu_find(struct emu_machine *m, u32 apic_id);
/* Make @v the vCPU this thread executes (the arch layer serves it). */
void emu_vcpu_set_current(struct emu_vcpu *v);
struct emu_vcpu *emu_vcpu_current(void);

/* Host pointer of guest-physical @gpa (no checks: hardware and hypervisor internals only). */
static inline u8 *emu_mem(struct emu_machine *m, u64 gpa)
{
	return m->mem + gpa;
}

/*
 * An access by @vmpl (private, C=1) to guest memory, checked against the RMP. On a
 * violation nothing is copied, the fault is logged and -1 returned.
 */
int emu_mem_read(struct emu_machine *m, u8 vmpl, u64 gpa, void *dst, u64 len, struct rmp_fault *fault);
int emu_mem_write(struct emu_machine *m, u8 vmpl, u64 gpa, const void *src, u64 len, struct rmp_fault *fault);

/* Atomic exchange of the byte at @gpa by @vmpl (needs read and write permission). */
int emu_mem_xchg8(struct emu_machine *m, u8 vmpl, u64 gpa, u8 value, u8 *old);

/* The hypervisor: handle a VMGEXIT from @v at its current VMPL. */
void emu_hv_vmgexit(struct emu_machine *m, struct emu_vcpu *v);

/* Stop the machine (termination request); longjmps to term_jmp when set, else exits. */
SVSM_NORETURN void emu_terminate(struct emu_machine *m, u8 set, u8 code);

/* Log a fault raised by an access that hardware would not have allowed. */
void emu_fault_record(struct emu_machine *m, const struct rmp_fault *f);

/* Human-readable fault description. */
const char *emu_fault_kind_name(enum rmp_fault_kind k);

#endif
