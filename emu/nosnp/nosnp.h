/*
 * The no-SNP platform of the test image (build/svsm-test.elf): without SEV-SNP the
 * image runs the SVSM core on the emulated machine of emu/ (RMP and VMPL model, GHCB
 * hypervisor, guest driver, oracle), compiled freestanding, with guest memory in the
 * VM's own RAM. It defines every arch_* function (arch_nosnp.c) and platform_main
 * (nosnp.c) at link time; build/svsm.elf never links any of it (ci/image-checks.sh).
 */
#ifndef EMU_NOSNP_H
#define EMU_NOSNP_H

#include <svsm/types.h>

#include "machine.h"

/* --- setjmp/longjmp for the image (jump.S): how terminations come back to tests ------- */

struct jump_buf {
	u64 rbx, rbp, r12, r13, r14, r15, rsp, rip;
};
/* Returns 0 when saving, the value given to jump_long when resumed. */
int jump_set(struct jump_buf *b) __attribute__((returns_twice));
SVSM_NORETURN void jump_long(struct jump_buf *b, int value);

/* --- the emulated machine in the image (nosnp.c) ----------------------------------------- */

/* Find RAM for the emulated machine in the PVH memory map; 0 or -1. */
int nosnp_init(u32 pvh_info);
/*
 * A fresh emulated machine (zeroed memory, new RMP) with the SVSM booted on it, as
 * emu_machine_create does in a process. NULL with a reason in @err on failure.
 */
struct emu_machine *nosnp_machine_boot(const struct emu_config *cfg, char *err, size_t err_size);
/* The default configuration of the image's emulated machine. */
void nosnp_config_default(struct emu_config *cfg);
/* Run @fn(@arg); true if the machine was terminated meanwhile (set and code in @m). */
bool nosnp_catch_termination(struct emu_machine *m, void (*fn)(void *), void *arg);

/* What the PVH start info said (nosnp_init): the ACPI RSDP (0 = none), RAM ranges. */
u64 nosnp_pvh_rsdp(void);
bool nosnp_pvh_is_ram(u64 addr, u64 len);

/* --- the other CPUs (smp.c) -------------------------------------------------------------- */

/*
 * Start every CPU the ACPI MADT lists (at most SNP_MAX_CPUS) the PC way: INIT-SIPI-SIPI
 * to a real-mode trampoline at NOSNP_TRAMPOLINE_BASE, which enters long mode on the BSP's
 * page tables and smp_ap_start64 on the AP's own per-CPU area. Each AP then sleeps (HLT)
 * until nosnp_smp_run gives it work. Returns the number of CPUs running, the BSP
 * included (1 if the machine has no local APIC or no MADT).
 */
#define NOSNP_TRAMPOLINE_BASE 0x8000ull
u32 nosnp_smp_start(void);

/* What nosnp_smp_start found and did (for the in-image tests and the log). */
struct nosnp_smp_info {
	bool x2apic;          /* the BSP's local APIC is in x2APIC mode (else xAPIC, MMIO) */
	bool madt_found;
	u32 madt_cpus;        /* enabled CPUs the MADT lists */
	u32 cpus;             /* CPUs running, the BSP included */
	u64 start_ns;         /* time it took to start the APs */
};
void nosnp_smp_get_info(struct nosnp_smp_info *out);

/*
 * Run @fn(@arg) on every running CPU at once, the BSP included (it runs its share
 * itself), and return when all have returned. Only the BSP calls it. @fn finds its CPU
 * with percpu_this().
 */
void nosnp_smp_run(void (*fn)(void *arg), void *arg);

/* A barrier for the @count CPUs of one nosnp_smp_run (zero-initialised, reusable). */
struct nosnp_barrier {
	u32 arrived;
	u32 phase;
};
void nosnp_barrier_wait(struct nosnp_barrier *b, u32 count);

/* End of the wake-up IPI (called by its interrupt entry, smp_entry.S). */
void nosnp_lapic_eoi(void);

/* The program the test image runs once the platform is up (harness/image/ktest.c). */
SVSM_NORETURN void image_run(void);

#endif
