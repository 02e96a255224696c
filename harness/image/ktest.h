/*
 * The in-image test runner (hftest style): tests are plain functions that record
 * failed checks; the runner prints one TAP line per test on the serial port and leaves
 * QEMU through isa-debug-exit with the overall result.
 */
#ifndef KTEST_H
#define KTEST_H

#include <svsm/types.h>

#include "guest.h"
#include "machine.h"
#include "nosnp.h"
#include "oracle.h"

struct ktest {
	const char *name;
	void (*fn)(void);
};

struct ktest_suite {
	const char *name;
	const struct ktest *tests;
	size_t count;
};

/*
 * Record a check: when @ok is false the current test fails, with the location and the
 * formatted reason printed as a TAP diagnostic. Returns @ok so callers can stop early.
 */
bool ktest_check(bool ok, const char *file, int line, const char *fmt, ...) SVSM_PRINTF(4, 5);
/* Equality of two values, each evaluated once, both printed on failure. */
bool ktest_check_eq(u64 a, u64 b, const char *expr_a, const char *expr_b, const char *file, int line);
#define KCHECK(cond, ...) ktest_check((cond), __FILE__, __LINE__, __VA_ARGS__)
#define KCHECK_EQ(a, b) ktest_check_eq((u64)(a), (u64)(b), #a, #b, __FILE__, __LINE__)

/*
 * A freshly booted emulated machine with the guest driver attached and the oracle's
 * baseline taken, as harness/lib/hx.c gives the cmocka suites. NULL (and a failed
 * check) if the machine does not boot.
 */
struct ktest_env {
	struct emu_machine *m;
	struct emu_guest g;
	struct oracle_state oracle;
	char report[1024];
};
struct ktest_env *ktest_boot(void);
/* The same with a configuration of the caller's (e.g. with a PSP attached). */
struct ktest_env *ktest_boot_cfg(const struct emu_config *cfg);
/* An SVSM call on the startup vCPU; RAX (low 32 bits) or ~0. The oracle must stay clean. */
u64 ktest_call(struct ktest_env *e, u32 protocol, u32 call, u64 rcx, u64 rdx, u64 r8, struct guest_regs *out);
/* Run core code directly as the SVSM (VMPL0 on the startup vCPU). */
void ktest_as_svsm_begin(struct ktest_env *e);
void ktest_as_svsm_end(struct ktest_env *e);

/* The suites, one per file. */
extern const struct ktest_suite ktest_suite_arch;
extern const struct ktest_suite ktest_suite_hw;
extern const struct ktest_suite ktest_suite_mm;
extern const struct ktest_suite ktest_suite_core;
extern const struct ktest_suite ktest_suite_attest;
extern const struct ktest_suite ktest_suite_smp;

#endif
