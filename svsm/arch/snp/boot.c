/*
 * Boot of the SNP image in 64-bit mode, common to both images: serial port, per-CPU area
 * and IDT first (so that a #VC can be served), then the SEV decision (CPUID 0x8000001F,
 * then SEV_STATUS), then the platform the image was linked with (platform_main: hw.c in
 * build/svsm.elf, emu/nosnp/nosnp.c in build/svsm-test.elf).
 */
#include <svsm/arch.h>
#include <svsm/ghcb.h>

#include "insn.h"
#include "snp.h"

#define SEV_STATUS_SNP BIT(2)

static bool boot_snp;

bool boot_snp_active(void)
{
	return boot_snp;
}

void boot_exit(u32 value)
{
	insn_outl(BOOT_EXIT_PORT, value);
	/* No isa-debug-exit device: stop here. */
	insn_halt_forever();
}

void boot_fatal(u8 code)
{
	if (boot_snp) {
		insn_wrmsr(GHCB_MSR, GHCB_MSR_TERM(TERM_SET_SVSM, code));
		insn_vmgexit();
		insn_halt_forever();
	}
	boot_exit(BOOT_EXIT_FAIL);
}

/*
 * SEV_STATUS, or 0 when the CPU has no SEV: the MSR exists only if CPUID 0x8000001F is
 * implemented and reports SEV (EAX bit 1). Under SEV-ES/SNP these CPUIDs raise #VC,
 * which the IDT already serves.
 */
static u64 boot_sev_status(void)
{
	u32 r[4];

	insn_cpuid(0x80000000, 0, r);
	if (r[0] < 0x8000001F) {
		return 0;
	}
	insn_cpuid(0x8000001F, 0, r);
	if (!(r[0] & BIT(1))) {
		return 0;
	}
	return insn_rdmsr(SEV_STATUS_MSR);
}

/* See snp.h. */
void boot_main(u32 entry, u32 pvh_info)
{
	/* Without SNP the UART is reachable right away; with it, only through the GHCB. */
	if (entry == BOOT_ENTRY_PVH) {
		serial_init();
	}
	percpu_init(0, 0);
	idt_init();
	u64 sev_status = boot_sev_status();
	boot_snp = (sev_status & SEV_STATUS_SNP) != 0;
	platform_main(entry, pvh_info, sev_status);
}
