/*
 * The arch interface served by the emulated machine: what the CPU and the hypervisor do
 * for the SVSM core on hardware, done here by the models in cpu.c, rmp.c and hv.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/random.h>
#include <time.h>

#include <svsm/arch.h>

#include "machine.h"

/* The machine and vCPU the calling thread runs on; the core only runs inside one. */
static struct emu_machine *arch_machine(void)
{
	struct emu_machine *m = emu_machine_current();

	if (!m) {
		fprintf(stderr, "svsm-emu: SVSM core code ran without a machine\n");
		abort();
	}
	return m;
}

static struct emu_vcpu *arch_vcpu(void)
{
	struct emu_vcpu *v = emu_vcpu_current();

	if (!v) {
		fprintf(stderr, "svsm-emu: SVSM core code ran outside a vCPU\n");
		abort();
	}
	return v;
}

u32 arch_pvalidate(u64 gpa, enum page_size size, bool validate)
{
	return emu_cpu_pvalidate(arch_machine(), arch_vcpu(), gpa, size, validate);
}

u32 arch_rmpadjust(u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa)
{
	return emu_cpu_rmpadjust(arch_machine(), arch_vcpu(), gpa, size, target_vmpl, perms, vmsa);
}

u32 arch_rmpquery(u64 gpa, u8 target_vmpl, u8 *perms)
{
	return emu_cpu_rmpquery(arch_machine(), arch_vcpu(), gpa, target_vmpl, perms);
}

u64 arch_ghcb_msr_read(void)
{
	struct emu_vcpu *v = arch_vcpu();

	return v->ghcb_msr[v->vmpl];
}

void arch_ghcb_msr_write(u64 value)
{
	struct emu_vcpu *v = arch_vcpu();

	v->ghcb_msr[v->vmpl] = value;
}

void arch_vmgexit(void)
{
	emu_hv_vmgexit(arch_machine(), arch_vcpu());
}

/* Not inlined (LTO would): the return address must be the core code that asked for the copy. */
__attribute__((noinline)) int arch_guest_read(u64 gpa, void *dst, size_t len)
{
	return emu_cpu_guest_read(arch_machine(), arch_vcpu(), gpa, dst, len, __builtin_return_address(0));
}

__attribute__((noinline)) int arch_guest_write(u64 gpa, const void *src, size_t len)
{
	return emu_cpu_guest_write(arch_machine(), arch_vcpu(), gpa, src, len, __builtin_return_address(0));
}

void *arch_phys_to_virt(u64 gpa)
{
	return emu_cpu_phys_to_virt(arch_machine(), gpa);
}

u64 arch_virt_to_phys(const void *va)
{
	return emu_cpu_virt_to_phys(arch_machine(), va);
}

void *arch_map_shared(u64 gpa)
{
	return emu_cpu_map_shared(arch_machine(), gpa);
}

u32 arch_cpu_apic_id(void)
{
	return arch_vcpu()->apic_id;
}

/* A vCPU thread waiting for a lock lets the holder (maybe preempted) run. */
void arch_spin_backoff(void)
{
	sched_yield();
}

bool arch_cpu_present(u32 apic_id)
{
	return emu_cpu_present(arch_machine(), apic_id);
}

void *arch_cpu_local(void)
{
	return arch_vcpu()->svsm_local;
}

void arch_cpu_set_local(void *p)
{
	arch_vcpu()->svsm_local = p;
}

void arch_console_write(const char *buf, size_t len)
{
	struct emu_machine *m = emu_machine_current();
	FILE *out = m ? m->cfg.console : stderr;

	if (out) {
		fwrite(buf, 1, len, out);
	}
}

u64 arch_clock_ns(void)
{
	struct emu_machine *m = emu_machine_current();

	if (m && m->cfg.deterministic) {
		return emu_cpu_det_clock(m);
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

int arch_random(void *buf, size_t len)
{
	struct emu_machine *m = emu_machine_current();
	u8 *p = buf;

	if (m && m->cfg.deterministic) {
		emu_cpu_det_random(m, p, len);
		return 0;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = getrandom(p + done, len - done, 0);
		if (n <= 0) {
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

void arch_terminate(u8 reason_set, u8 reason_code)
{
	struct emu_machine *m = emu_machine_current();

	if (m) {
		emu_terminate(m, reason_set, reason_code);
	}
	fprintf(stderr, "svsm-emu: SVSM terminated (reason set %u, code %u)\n", reason_set, reason_code);
	exit(3);
}
