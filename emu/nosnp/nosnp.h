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

/* The program the test image runs once the platform is up (harness/image/ktest.c). */
SVSM_NORETURN void image_run(void);

#endif
