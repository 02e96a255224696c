/*
 * Launch-time data of the image at fixed places (svsm.ld puts them first): the SNP
 * secrets page and CPUID page, which an SNP launch fills with SNP_LAUNCH_UPDATE page
 * types SECRETS and CPUID, and the launch parameters measured with the image.
 */
#include "snp.h"

u8 snp_secrets_page[4096] __attribute__((section(".snp.secrets"), aligned(4096)));
u8 snp_cpuid_page[4096] __attribute__((section(".snp.cpuid"), aligned(4096)));

/*
 * Defaults for a 512 MiB guest with 4 vCPUs (APIC IDs 0-3, what QEMU gives -smp 4): the
 * SVSM region is the 16 MiB above the image's 16 MiB load window, the startup calling
 * area follows it, and the guest OS (OVMF) starts at its reset vector in real mode.
 * docs/image.md explains each value.
 */
const struct snp_launch_params snp_launch __attribute__((section(".snp.launch"), aligned(4096))) = {
	.magic = SNP_LAUNCH_MAGIC,
	.version = SNP_LAUNCH_VERSION,
	.mem_size = 512ull << 20,
	.svsm_base = 16ull << 20,
	.svsm_size = 16ull << 20,
	.caa_gpa = 32ull << 20,
	.guest_rip = 0xFFFFFFF0,
	.guest_rsp = 0,
	.guest_cr0 = 0x60000010,
	.guest_cr3 = 0,
	.guest_cr4 = 0,
	.guest_vmpl = 1,
	.cpu_count = 4,
	.apic_ids = {0, 1, 2, 3},
};
