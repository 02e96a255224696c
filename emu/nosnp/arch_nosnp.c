/*
 * The arch interface of the test image, bound at link time to the emulated machine
 * (what emu/arch_emu.c does in a process): thin wrappers over emu/cpu.c for the current
 * machine and vCPU, the serial port for the console, RDRAND (or the model's seeded
 * source) for randomness.
 */
#include <svsm/arch.h>

#include "insn.h"
#include "machine.h"
#include "nosnp.h"
#include "snp.h"

static struct emu_machine *nosnp_m(void)
{
	struct emu_machine *m = emu_machine_current();

	if (!m) {
		serial_printf("no-snp: SVSM core code ran without a machine\n");
		boot_exit(BOOT_EXIT_FAIL);
	}
	return m;
}

static struct emu_vcpu *nosnp_vcpu(void)
{
	struct emu_vcpu *v = emu_vcpu_current();

	if (!v) {
		serial_printf("no-snp: SVSM core code ran outside a vCPU\n");
		boot_exit(BOOT_EXIT_FAIL);
	}
	return v;
}

u32 arch_pvalidate(u64 gpa, enum page_size size, bool validate)
{
	return emu_cpu_pvalidate(nosnp_m(), nosnp_vcpu(), gpa, size, validate);
}

u32 arch_rmpadjust(u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa)
{
	return emu_cpu_rmpadjust(nosnp_m(), nosnp_vcpu(), gpa, size, target_vmpl, perms, vmsa);
}

u32 arch_rmpquery(u64 gpa, u8 target_vmpl, u8 *perms)
{
	return emu_cpu_rmpquery(nosnp_m(), nosnp_vcpu(), gpa, target_vmpl, perms);
}

u64 arch_ghcb_msr_read(void)
{
	struct emu_vcpu *v = nosnp_vcpu();

	return v->ghcb_msr[v->vmpl];
}

void arch_ghcb_msr_write(u64 value)
{
	struct emu_vcpu *v = nosnp_vcpu();

	v->ghcb_msr[v->vmpl] = value;
}

void arch_vmgexit(void)
{
	emu_hv_vmgexit(nosnp_m(), nosnp_vcpu());
}

int arch_guest_read(u64 gpa, void *dst, size_t len)
{
	return emu_cpu_guest_read(nosnp_m(), nosnp_vcpu(), gpa, dst, len, __builtin_return_address(0));
}

int arch_guest_write(u64 gpa, const void *src, size_t len)
{
	return emu_cpu_guest_write(nosnp_m(), nosnp_vcpu(), gpa, src, len, __builtin_return_address(0));
}

void *arch_phys_to_virt(u64 gpa)
{
	return emu_cpu_phys_to_virt(nosnp_m(), gpa);
}

u64 arch_virt_to_phys(const void *va)
{
	return emu_cpu_virt_to_phys(nosnp_m(), va);
}

void *arch_map_shared(u64 gpa)
{
	return emu_cpu_map_shared(nosnp_m(), gpa);
}

u32 arch_cpu_apic_id(void)
{
	return nosnp_vcpu()->apic_id;
}

/* Each vCPU is a real CPU here: keep spinning. */
void arch_spin_backoff(void)
{
	__builtin_ia32_pause();
}

bool arch_cpu_present(u32 apic_id)
{
	return emu_cpu_present(nosnp_m(), apic_id);
}

void *arch_cpu_local(void)
{
	return nosnp_vcpu()->svsm_local;
}

void arch_cpu_set_local(void *p)
{
	nosnp_vcpu()->svsm_local = p;
}

void arch_console_write(const char *buf, size_t len)
{
	serial_write(buf, len);
}

u64 arch_clock_ns(void)
{
	return clock_ns();
}

/* CPUID 1 ECX bit 30, asked once: 0 not yet known, 1 present, 2 absent. */
static u8 nosnp_rdrand;

int arch_random(void *buf, size_t len)
{
	struct emu_machine *m = emu_machine_current();

	if (m && m->cfg.deterministic) {
		emu_cpu_det_random(m, buf, len);
		return 0;
	}
	if (!nosnp_rdrand) {
		u32 r[4];
		insn_cpuid(1, 0, r);
		nosnp_rdrand = (r[2] & BIT(30)) ? 1 : 2;
	}
	if (nosnp_rdrand != 1) {
		return -1;
	}
	return insn_rdrand_fill(buf, len);
}

void arch_terminate(u8 reason_set, u8 reason_code)
{
	struct emu_machine *m = emu_machine_current();

	if (m) {
		emu_terminate(m, reason_set, reason_code);
	}
	serial_printf("no-snp: SVSM terminated (reason set %u, code %u)\n", reason_set, reason_code);
	boot_exit(BOOT_EXIT_FAIL);
}
