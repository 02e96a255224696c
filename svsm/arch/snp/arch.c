/*
 * The arch interface (svsm/include/svsm/arch.h) of the SNP image: every call goes to the
 * platform chosen at boot, SNP hardware (hw.c) or the no-SNP platform (nosnp.c). The
 * choice is a run-time pointer here, never an #ifdef in core code.
 */
#include <svsm/arch.h>
#include <svsm/ghcb.h>

#include "snp.h"

static const struct snp_platform *arch_current;

void arch_select(const struct snp_platform *p)
{
	arch_current = p;
}

const struct snp_platform *arch_platform(void)
{
	return arch_current;
}

/* Core code before a platform is chosen is a boot-order bug. */
static const struct snp_platform *arch_p(void)
{
	if (!arch_current) {
		serial_printf("arch: SVSM core code ran before the platform was chosen\n");
		boot_fatal(TERM_SVSM_BOOT);
	}
	return arch_current;
}

u32 arch_pvalidate(u64 gpa, enum page_size size, bool validate)
{
	return arch_p()->pvalidate(gpa, size, validate);
}

u32 arch_rmpadjust(u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa)
{
	return arch_p()->rmpadjust(gpa, size, target_vmpl, perms, vmsa);
}

u32 arch_rmpquery(u64 gpa, u8 target_vmpl, u8 *perms)
{
	return arch_p()->rmpquery(gpa, target_vmpl, perms);
}

u64 arch_ghcb_msr_read(void)
{
	return arch_p()->ghcb_msr_read();
}

void arch_ghcb_msr_write(u64 value)
{
	arch_p()->ghcb_msr_write(value);
}

void arch_vmgexit(void)
{
	arch_p()->vmgexit();
}

int arch_guest_read(u64 gpa, void *dst, size_t len)
{
	return arch_p()->guest_read(gpa, dst, len);
}

int arch_guest_write(u64 gpa, const void *src, size_t len)
{
	return arch_p()->guest_write(gpa, src, len);
}

void *arch_phys_to_virt(u64 gpa)
{
	return arch_p()->phys_to_virt(gpa);
}

u64 arch_virt_to_phys(const void *va)
{
	return arch_p()->virt_to_phys(va);
}

void *arch_map_shared(u64 gpa)
{
	return arch_p()->map_shared(gpa);
}

u32 arch_cpu_apic_id(void)
{
	return arch_p()->cpu_apic_id();
}

/* Before a platform exists (early boot) the console is the serial port itself. */
void arch_console_write(const char *buf, size_t len)
{
	if (arch_current) {
		arch_current->console_write(buf, len);
	} else if (!boot_snp_active()) {
		serial_write(buf, len);
	}
}

u64 arch_clock_ns(void)
{
	return clock_ns();
}

int arch_random(void *buf, size_t len)
{
	return arch_p()->random(buf, len);
}

void arch_terminate(u8 reason_set, u8 reason_code)
{
	arch_p()->terminate(reason_set, reason_code);
}
