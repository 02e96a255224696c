/* The in-image test runner: image_run() of the test image (emu/nosnp/nosnp.h), TAP on the serial port, isa-debug-exit. */
#include <stdarg.h>

#include <svsm/ghcb.h>
#include <svsm/log.h>
#include <svsm/svsm_abi.h>

#include "ktest.h"
#include "snp.h"

static const struct ktest_suite *const ktest_suites[] = {
	&ktest_suite_arch,
	&ktest_suite_hw,
	&ktest_suite_mm,
	&ktest_suite_core,
	&ktest_suite_attest,
	&ktest_suite_smp,
};

static unsigned ktest_failed_checks;

bool ktest_check(bool ok, const char *file, int line, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (ok) {
		return true;
	}
	__atomic_fetch_add(&ktest_failed_checks, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	svsm_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	serial_printf("# %s:%d: %s\n", file, line, msg);
	return false;
}

bool ktest_check_eq(u64 a, u64 b, const char *expr_a, const char *expr_b, const char *file, int line)
{
	return ktest_check(a == b, file, line, "%s == %s: 0x%llx != 0x%llx", expr_a, expr_b, (unsigned long long)a,
			   (unsigned long long)b);
}

static struct ktest_env ktest_env;

struct ktest_env *ktest_boot(void)
{
	struct emu_config cfg;

	nosnp_config_default(&cfg);
	return ktest_boot_cfg(&cfg);
}

struct ktest_env *ktest_boot_cfg(const struct emu_config *cfg)
{
	struct ktest_env *e = &ktest_env;
	char err[160];

	e->m = nosnp_machine_boot(cfg, err, sizeof(err));
	if (!KCHECK(e->m != NULL, "machine boot: %s", err)) {
		return NULL;
	}
	if (!KCHECK(guest_init(&e->g, e->m) == 0, "guest driver has no memory")) {
		return NULL;
	}
	oracle_init(&e->oracle, e->m);
	return e;
}

u64 ktest_call(struct ktest_env *e, u32 protocol, u32 call, u64 rcx, u64 rdx, u64 r8, struct guest_regs *out)
{
	struct guest_regs r = {.rax = SVSM_CALL(protocol, call), .rcx = rcx, .rdx = rdx, .r8 = r8};
	int status = guest_call(&e->g, 0, &r);

	KCHECK(oracle_check(&e->oracle, e->m, e->report, sizeof(e->report)) == 0, "oracle: %s", e->report);
	if (out) {
		*out = r;
	}
	return status == GUEST_OK ? (u32)r.rax : ~0ull;
}

void ktest_as_svsm_begin(struct ktest_env *e)
{
	emu_startup_vcpu_enter_svsm(e->m);
}

void ktest_as_svsm_end(struct ktest_env *e)
{
	emu_startup_vcpu_leave_svsm(e->m);
}

void image_run(void)
{
	unsigned total = 0;
	unsigned failed = 0;
	unsigned n = 0;

	for (size_t s = 0; s < ARRAY_COUNT(ktest_suites); s++) {
		total += (unsigned)ktest_suites[s]->count;
	}
	serial_printf("TAP version 13\n1..%u\n", total);
	u64 t0 = clock_ns();
	for (size_t s = 0; s < ARRAY_COUNT(ktest_suites); s++) {
		const struct ktest_suite *suite = ktest_suites[s];
		serial_printf("# suite %s\n", suite->name);
		for (size_t i = 0; i < suite->count; i++) {
			ktest_failed_checks = 0;
			u64 start = clock_ns();
			suite->tests[i].fn();
			u64 us = (clock_ns() - start) / 1000;
			n++;
			if (ktest_failed_checks) {
				failed++;
				serial_printf("not ok %u - %s # %llu us\n", n, suite->tests[i].name, (unsigned long long)us);
			} else {
				serial_printf("ok %u - %s # %llu us\n", n, suite->tests[i].name, (unsigned long long)us);
			}
		}
	}
	serial_printf("# in-image tests: %u passed, %u failed, %llu ms\n", total - failed, failed,
		      (unsigned long long)((clock_ns() - t0) / 1000000));
	boot_exit(failed ? BOOT_EXIT_FAIL : BOOT_EXIT_PASS);
}
