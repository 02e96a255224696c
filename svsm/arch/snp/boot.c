/*
 * Boot of the SNP image in 64-bit mode: per-CPU area and IDT first (so that a #VC can be
 * served), then the platform decision (CPUID 0x8000001F, then SEV_STATUS), then either
 * the SNP hardware path (C-bit page tables, launch parameters, svsm_boot) or the no-SNP
 * path (the emulated machine in RAM), and finally the image's program (image_run).
 */
#include <svsm/arch.h>
#include <svsm/ghcb_client.h>
#include <svsm/log.h>

#include "insn.h"
#include "snp.h"

#define SEV_STATUS_SNP BIT(2)

static bool boot_snp;

bool boot_snp_active(void)
{
	return boot_snp;
}

void boot_fatal(u8 code)
{
	if (boot_snp) {
		insn_wrmsr(GHCB_MSR, GHCB_MSR_TERM(TERM_SET_SVSM, code));
		insn_vmgexit();
		insn_halt_forever();
	}
	nosnp_exit(NOSNP_EXIT_FAIL);
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

/* SNP: the launch parameters become the core's boot information; then serve the guest. */
static SVSM_NORETURN void boot_snp_main(u32 entry, u64 sev_status)
{
	u32 r[4];

	if (entry != BOOT_ENTRY_SNP || snp_launch.magic != SNP_LAUNCH_MAGIC) {
		/* Page tables without the C-bit or no launch parameters: nothing can work. */
		boot_fatal(TERM_SVSM_BOOT);
	}
	insn_cpuid(0x8000001F, 0, r);
	paging_init(BIT(r[1] & 0x3F));
	insn_cpuid(1, 0, r);
	u32 apic_id = r[1] >> 24;
	hw_init(sev_status, apic_id);
	arch_select(&hw_platform);

	struct svsm_boot_info info = {
		.svsm_base = snp_launch.svsm_base,
		.svsm_size = snp_launch.svsm_size,
		.mem_size = snp_launch.mem_size,
		.caa_gpa = snp_launch.caa_gpa,
		.bsp_apic_id = apic_id,
		.guest_vmpl = snp_launch.guest_vmpl,
		/* The guest's vCPUs get this vCPU's features, as Linux does for its APs. */
		.sev_features = sev_status >> 2,
		.guest_rip = snp_launch.guest_rip,
		.guest_rsp = snp_launch.guest_rsp,
		.guest_cr0 = snp_launch.guest_cr0,
		.guest_cr3 = snp_launch.guest_cr3,
		.guest_cr4 = snp_launch.guest_cr4,
		/* Guest RAM: everything but the legacy ROM/MMIO hole. */
		.ram_count = 2,
		.ram = {{0, 0xA0000}, {0x100000, snp_launch.mem_size - 0x100000}},
	};
	if (svsm_boot(&info) != 0) {
		ghcb_msr_terminate(TERM_SET_SVSM, TERM_SVSM_BOOT);
	}
	/*
	 * The image itself (code, data, secrets and CPUID pages) lies outside the SVSM region
	 * the core manages: mark it as the SVSM's so that no guest call can touch it.
	 */
	core_lock();
	owned_set((u64)__image_start, (u64)(ALIGN_UP((u64)__image_end, PAGE_SIZE) - (u64)__image_start) >> PAGE_SHIFT,
		  true);
	core_unlock();
	/* Port I/O for the PIT goes through #VC and the GHCB, which exists now. */
	clock_init();
	image_run();
}

static SVSM_NORETURN void boot_nosnp_main(u32 pvh_info)
{
	paging_init(0);
	clock_init();
	if (nosnp_init(pvh_info) != 0) {
		nosnp_exit(NOSNP_EXIT_FAIL);
	}
	arch_select(&nosnp_platform);
	image_run();
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
	if (boot_snp) {
		boot_snp_main(entry, sev_status);
	}
	boot_nosnp_main(pvh_info);
}
