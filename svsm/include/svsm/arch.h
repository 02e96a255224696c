/*
 * The arch interface: every privileged operation the SVSM core needs.
 *
 * The core never executes or imitates hardware itself. Each binary links exactly one
 * implementation (which objects are linked; never an #ifdef in core code, never a
 * choice at run time):
 *   - svsm/arch/snp/hw.c: the real instructions and page tables of an SNP guest at
 *     VMPL0 (the production image);
 *   - emu/arch_emu.c: the same prototypes served by the emulated machine in a process;
 *   - emu/nosnp/arch_nosnp.c: the same, inside the SNP test image without SNP.
 * `make check-freestanding` proves that these prototypes (plus nothing else) are all
 * the core needs from the outside.
 */
#ifndef SVSM_ARCH_H
#define SVSM_ARCH_H

#include <svsm/types.h>

/*
 * Results of PVALIDATE and RMPADJUST. Values 0x0-0xF are the architectural EAX codes;
 * the rest are software codes so that one integer carries the whole outcome.
 */
#define RMP_SUCCESS 0x00
#define RMP_FAIL_INPUT 0x01
#define RMP_FAIL_PERMISSION 0x02
/* The page is a VMSA that is running (RMPADJUST on an in-use VMSA). */
#define RMP_FAIL_INUSE 0x03
#define RMP_FAIL_SIZEMISMATCH 0x06
/* PVALIDATE returned EAX=0 with CF=1: the Validated bit already had the requested value. */
#define RMP_UNCHANGED 0x10
/*
 * The instruction did not complete: it raised #NPF (page not guest-owned, 4 KiB request
 * on a 2 MiB RMP entry, GPA outside guest memory) or another fault. On hardware the
 * hypervisor would see an NPF; the core treats the address as invalid.
 */
#define RMP_FAULT 0x100
/* The CPU does not implement the instruction (RMPQUERY: CPUID 0x8000_001F EAX bit 6 clear). */
#define RMP_UNSUPPORTED 0x101

/* VMPL permission mask bits (one byte per VMPL in the RMP entry). */
#define VMPL_PERM_READ 0x01
#define VMPL_PERM_WRITE 0x02
#define VMPL_PERM_EXEC_USER 0x04
#define VMPL_PERM_EXEC_SUPER 0x08
#define VMPL_PERM_ALL (VMPL_PERM_READ | VMPL_PERM_WRITE | VMPL_PERM_EXEC_USER | VMPL_PERM_EXEC_SUPER)

/*
 * PVALIDATE the page(s) at guest-physical address @gpa (aligned to @size) and set the
 * Validated bit to @validate. Executed at VMPL0. Returns an RMP_* code: RMP_SUCCESS,
 * RMP_UNCHANGED, RMP_FAIL_INPUT, RMP_FAIL_SIZEMISMATCH (2 MiB request on 4 KiB RMP
 * entries) or RMP_FAULT.
 */
u32 arch_pvalidate(u64 gpa, enum page_size size, bool validate);

/*
 * RMPADJUST the page(s) at @gpa: set the permission mask of @target_vmpl (1-3) to
 * @perms (VMPL_PERM_*) and the page's VMSA attribute to @vmsa. Returns RMP_SUCCESS,
 * RMP_FAIL_INPUT, RMP_FAIL_PERMISSION, RMP_FAIL_INUSE, RMP_FAIL_SIZEMISMATCH or
 * RMP_FAULT.
 */
u32 arch_rmpadjust(u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa);

/*
 * RMPQUERY the 4 KiB page at @gpa: the permission mask (VMPL_PERM_*) that @target_vmpl
 * (1-3) holds on it. Works on pages inside 2 MiB RMP entries without a size mismatch.
 * Returns RMP_SUCCESS with *@perms set; RMP_FAIL_INPUT (bad target); RMP_FAULT when the
 * page is not validated, not guest-owned or outside guest memory (hardware raises #VC
 * 0x404 or #NPF; the platform turns that into this code); RMP_UNSUPPORTED when the CPU
 * has no RMPQUERY. The core uses it to check a caller's rights (docs/architecture.md).
 */
u32 arch_rmpquery(u64 gpa, u8 target_vmpl, u8 *perms);

/* Read and write this vCPU's GHCB MSR (0xC001_0130). */
u64 arch_ghcb_msr_read(void);
void arch_ghcb_msr_write(u64 value);

/*
 * VMGEXIT: hand control to the hypervisor, which acts on the GHCB MSR value (MSR
 * protocol) or on the registered GHCB page, and returns here with its answer there.
 */
void arch_vmgexit(void);

/*
 * Copy @len bytes between guest-physical memory at @gpa and private memory, as VMPL0
 * with the C-bit set. Returns 0, or -1 without copying anything if any byte of the
 * range would fault (outside guest memory, not guest-owned, not validated). Only if a
 * page of the range stops being usable while the copy runs (the guest or hypervisor
 * racing the call) can hardware leave part of a write done; a failed read never leaves
 * guest bytes in @dst (docs/image.md).
 */
int arch_guest_read(u64 gpa, void *dst, size_t len);
int arch_guest_write(u64 gpa, const void *src, size_t len);

/*
 * Direct-map translation for memory the SVSM owns or controls (its region, deposited
 * pages, guest VMSAs): the virtual address the core uses for @gpa, and back. Only valid
 * for validated private pages that no less privileged party can write.
 */
void *arch_phys_to_virt(u64 gpa);
u64 arch_virt_to_phys(const void *va);

/*
 * Map the shared (unencrypted, hypervisor-owned) page at @gpa, for the GHCB. Returns
 * NULL if it cannot be mapped.
 */
void *arch_map_shared(u64 gpa);

/* APIC ID of the vCPU executing this code. */
u32 arch_cpu_apic_id(void);

/*
 * True if the SVSM runs on the CPU with @apic_id: the platform has a VMPL0 context there
 * that serves requests, so that the hypervisor can switch that vCPU to VMPL0. A guest
 * vCPU for any other APIC ID could never call the SVSM: CREATE_VCPU refuses it.
 */
bool arch_cpu_present(u32 apic_id);

/*
 * The core's per-CPU pointer: one slot for each CPU the SVSM runs on, NULL until the
 * core sets it. The core keeps its own state for the CPU there (svsm/include/svsm/cpu.h):
 * only code running on that CPU touches it.
 */
void *arch_cpu_local(void);
/*
 * A spinlock waiter has spun a while (svsm/include/svsm/spinlock.h): give the CPU away if
 * the platform can (a hosted vCPU thread yields to the lock holder, which may have been
 * preempted); on hardware a pause.
 */
void arch_spin_backoff(void);
void arch_cpu_set_local(void *p);

/* Early console: write bytes before the GHCB is available (and on panic). */
void arch_console_write(const char *buf, size_t len);

/* Monotonic clock in nanoseconds. */
u64 arch_clock_ns(void);

/* Fill @buf with @len random bytes. Returns 0, or -1 if no entropy is available. */
int arch_random(void *buf, size_t len);

/*
 * Stop this SVSM for good, after the GHCB termination request has been tried. Never
 * returns.
 */
SVSM_NORETURN void arch_terminate(u8 reason_set, u8 reason_code);

#endif
