/*
 * The guest driver: plays the guest OSes, at VMPL1 (the boot guest) and, spawned by it,
 * at less privileged VMPLs. It owns calling areas and VMSAs and issues
 * SVSM calls exactly as Linux does: registers into its vCPU, call_pending = 1, "run
 * VMPL0" through the GHCB MSR protocol, then exchange call_pending with 0 and check the
 * old value; INCOMPLETE and BUSY are retried. Every memory access it makes is a VMPL1
 * access checked against the RMP as the guest's own VMPL. Each guest has its own vCPUs,
 * calling areas, memory and RMP rights. Tests, the CLI and fuzzers call the SVSM
 * through it.
 */
#ifndef EMU_GUEST_H
#define EMU_GUEST_H

#include "machine.h"

/* Outcomes of guest_call() other than "RAX holds the SVSM's answer" (0). */
enum guest_status {
	GUEST_OK = 0,
	GUEST_NOT_RUN = -1,     /* call_pending was still set: the SVSM never ran the call */
	GUEST_FAULT = -2,       /* a guest memory access faulted (see machine faults) */
	GUEST_HV_ERROR = -3,    /* the run-VMPL request failed */
	GUEST_NO_VCPU = -4,     /* no such guest vCPU, or its VMSA is gone */
	GUEST_RETRY_LIMIT = -5, /* INCOMPLETE/BUSY without end */
};

/* A short description of a guest_status. */
const char *guest_status_name(int status);

struct guest_regs {
	u64 rax, rcx, rdx, r8, r9;
};

struct guest_vcpu {
	bool present;
	u32 apic_id;
	u64 caa_gpa;
	u64 vmsa_gpa;   /* 0 for the startup vCPU (the SVSM created it) */
	u64 ghcb_gpa;   /* the guest's GHCB on this vCPU, 0 = none */
	u8 vmpl;        /* the VMPL its context runs at (its guest's) */
	/*
	 * Calls and retries made on this vCPU (by the thread running it): they change at
	 * every call, so they sit on a line apart from the fields above, which every thread
	 * reads when it looks a vCPU up.
	 */
	u64 calls __attribute__((aligned(64)));
	u64 retries;
} __attribute__((aligned(64)));

#define GUEST_MAX_VCPUS EMU_MAX_VCPUS
#define GUEST_RETRY_LIMIT_COUNT 100000

/*
 * Concurrency: several host threads may drive one guest, each on its own vCPU
 * (guest_bind_thread). The lock guards the vCPU slots and the memory pool; the counters
 * are atomic. A thread calls and accesses memory on its bound vCPU, using its calling
 * area and its GHCB, and its accesses go through that vCPU's TLB (machine.h).
 */
struct emu_guest {
	struct emu_machine *m;
	struct spinlock lock;
	u8 vmpl;                  /* every access and call of this guest is made at this VMPL */
	struct emu_guest *parent; /* the more privileged guest that spawned it, or NULL */
	struct guest_vcpu vcpus[GUEST_MAX_VCPUS];
	u64 pool_next;     /* bump allocator over guest memory the driver validates */
	u64 pool_end;
	/*
	 * Pages below pool_validated_end are validated, zero and guest RW already (a harness
	 * set them up that way in its snapshot): guest_alloc_pages hands them out as they are.
	 */
	u64 pool_validated_end;
	bool log_calls;    /* trace each call through the host's diag hook (stderr in a process) */
};

/*
 * Attach to a booted machine as the boot guest (at cfg.guest_vmpl); its first vCPU is the
 * startup vCPU (APIC 0) with the launch calling area.
 */
int guest_init(struct emu_guest *g, struct emu_machine *m);

/* Issue one SVSM call on vCPU @apic_id; see enum guest_status. */
int guest_call(struct emu_guest *g, u32 apic_id, struct guest_regs *r);
/* Issue exactly one attempt (no INCOMPLETE/BUSY retry), for tests of the raw protocol. */
int guest_call_once(struct emu_guest *g, u32 apic_id, struct guest_regs *r);
/* Shorthand: call protocol/call with RCX/RDX/R8 on the guest's first vCPU; returns RAX or ~0. */
u64 guest_svsm(struct emu_guest *g, u32 protocol, u32 call, u64 rcx, u64 rdx, u64 r8, struct guest_regs *out);

/* Accesses at the guest's VMPL; -1 (and a recorded fault) when the RMP forbids them. */
int guest_read(struct emu_guest *g, u64 gpa, void *dst, u64 len);
int guest_write(struct emu_guest *g, u64 gpa, const void *src, u64 len);

/*
 * Ask the SVSM to validate (or invalidate) @count 4 KiB pages from @gpa with PVALIDATE
 * lists in the calling area, 2 MiB entries where aligned, falling back to 4 KiB entries
 * on FAIL_SIZEMISMATCH like Linux. Returns the final SVSM result code.
 */
u64 guest_pvalidate_range(struct emu_guest *g, u64 gpa, u64 count, bool validate);

/* @count contiguous zeroed pages validated for the guest; 0 when the pool is exhausted. */
u64 guest_alloc_pages(struct emu_guest *g, u64 count);

/* Calls and INCOMPLETE/BUSY retries the guest made, on all its vCPUs (exact once they stop). */
u64 guest_calls(const struct emu_guest *g);
u64 guest_retries(const struct emu_guest *g);

/* Look up the guest's view of a vCPU. */
struct guest_vcpu *guest_vcpu(struct emu_guest *g, u32 apic_id);

/*
 * Run @g on vCPU @apic_id on the calling thread: from now on this thread's calls that
 * name no vCPU, its PVALIDATE lists, AP creations and memory accesses for @g use that
 * vCPU (its calling area, its GHCB, its TLB). guest_bind_thread(NULL, 0) unbinds.
 * Unbound, a thread uses the guest's first vCPU and accesses bypass the TLB.
 */
void guest_bind_thread(struct emu_guest *g, u32 apic_id);
/* The vCPU this thread uses for @g (the bound one, else the first). */
u32 guest_this_vcpu(struct emu_guest *g);

/*
 * Linux's CPU offline/online cycle for vCPU @apic_id (wakeup_cpu_via_vmgexit in
 * arch/x86/coco/sev/core.c), from this thread's vCPU: a new VMSA page, CREATE_VCPU for
 * the same APIC ID with the same calling area, SNP AP creation of the new VMSA, then
 * DELETE_VCPU of the old VMSA. Returns the last SVSM result (~0 if a guest-side step
 * failed); *@new_vmsa gets the new VMSA on success.
 */
u64 guest_cpu_offline_online(struct emu_guest *g, u32 apic_id, u64 *new_vmsa);

/*
 * Bring up a new vCPU the way Linux does: a VMSA page and a calling area from the pool,
 * CREATE_VCPU, then SNP AP creation through the guest's GHCB. Returns the SVSM result
 * of CREATE_VCPU (or ~0 if a guest-side step failed).
 */
u64 guest_create_vcpu(struct emu_guest *g, u32 apic_id, u64 *vmsa_out);

/*
 * Stop vCPU @apic_id's guest context (SNP AP creation DESTROY through the guest's GHCB),
 * as Linux does before it hands the VMSA back with DELETE_VCPU. 0 or -1.
 */
int guest_ap_destroy(struct emu_guest *g, u32 apic_id);

/* Stop vCPU @apic_id of @child (a guest @g spawned) from @g, through @g's GHCB. 0 or -1. */
int guest_ap_destroy_child(struct emu_guest *g, const struct emu_guest *child, u32 apic_id);

/* Guest side of a new vCPU: a VMSA page (filled in) and a calling area from the pool. */
int guest_prepare_vcpu(struct emu_guest *g, u64 *vmsa_out, u64 *caa_out);
/* After CREATE_VCPU succeeded: SNP AP creation of @vmsa_gpa and the driver's bookkeeping. */
int guest_start_vcpu(struct emu_guest *g, u32 apic_id, u64 vmsa_gpa, u64 caa_gpa);

/* Fill a VMSA image for a new vCPU at @vmpl (page-sized buffer). */
void guest_vmsa_template(u8 *vmsa, u8 vmpl, u64 sev_features);

/* Set up a GHCB for the guest on @apic_id (invalidate, share, register). 0 or -1. */
int guest_ghcb_setup(struct emu_guest *g, u32 apic_id);

/* RMPADJUST executed by guest @g at its own VMPL (it may only lower-privilege VMPLs). RMP_* code. */
u32 guest_rmpadjust(struct emu_guest *g, u64 gpa, enum page_size size, u8 target_vmpl, u8 perms);

/*
 * Start a guest OS @child at @vmpl (less privileged than @parent) on a new vCPU @apic_id,
 * as a VMPL1 OS would host a less privileged one: @pages pages of the parent's memory are
 * lent to the child with full access (RMPADJUST by the parent); the child's calling area
 * is one of them; the parent gives a VMSA page, calls CREATE_VCPU and starts the vCPU
 * through SNP AP creation. Returns the SVSM result of CREATE_VCPU, or ~0 if a guest-side
 * step failed. The child then calls the SVSM on its own (guest_call(child, apic_id, ...)).
 */
u64 guest_spawn(struct emu_guest *parent, struct emu_guest *child, u8 vmpl, u32 apic_id, u64 pages);

#endif
