/*
 * The SNP hardware platform of build/svsm.elf: every arch_* function of
 * svsm/include/svsm/arch.h, defined directly on the CPU (PVALIDATE, RMPADJUST, RMPQUERY,
 * the GHCB MSR, VMGEXIT) and the real hypervisor; the boot that follows the common one
 * (SNP required); and the startup vCPU's request loop. Nothing here knows of emulation:
 * the test image links emu/nosnp/ in place of this file.
 */
#include <svsm/arch.h>
#include <svsm/ghcb_client.h>
#include <svsm/log.h>
#include <svsm/string.h>

#include "insn.h"
#include "snp.h"

static struct {
	bool rdrand;
	bool core_started; /* svsm_boot has begun: vCPU lookups and the GHCB are the core's */
} hw;

/* PVALIDATE through the direct map; CF=1 with EAX=0 becomes RMP_UNCHANGED. */
u32 arch_pvalidate(u64 gpa, enum page_size size, bool validate)
{
	void *va = paging_phys_to_virt(gpa);
	bool unchanged = false;

	if (!va) {
		return RMP_FAULT;
	}
	u32 rc = insn_pvalidate(va, size, validate, &unchanged);
	if (rc == RMP_SUCCESS && unchanged) {
		return RMP_UNCHANGED;
	}
	return rc;
}

u32 arch_rmpadjust(u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa)
{
	void *va = paging_phys_to_virt(gpa);

	if (!va) {
		return RMP_FAULT;
	}
	return insn_rmpadjust(va, size, (u64)target_vmpl | ((u64)perms << 8) | ((u64)vmsa << 16));
}

u32 arch_rmpquery(u64 gpa, u8 target_vmpl, u8 *perms)
{
	return gmem_rmpquery(gpa, target_vmpl, perms);
}

u64 arch_ghcb_msr_read(void)
{
	return insn_rdmsr(GHCB_MSR);
}

void arch_ghcb_msr_write(u64 value)
{
	insn_wrmsr(GHCB_MSR, value);
}

void arch_vmgexit(void)
{
	insn_vmgexit();
}

/*
 * Guest memory is [0, mem_size) of the launch; the copies check the direct map and
 * faults. An empty copy succeeds wherever it points, as on the model.
 */
static bool hw_guest_range_ok(u64 gpa, size_t len)
{
	const struct svsm_boot_info *b = svsm_boot_params();

	return len == 0 || (gpa + len >= gpa && gpa + len <= b->mem_size);
}

int arch_guest_read(u64 gpa, void *dst, size_t len)
{
	if (!hw_guest_range_ok(gpa, len)) {
		return -1;
	}
	return gmem_copy_from_guest(dst, gpa, len);
}

int arch_guest_write(u64 gpa, const void *src, size_t len)
{
	if (!hw_guest_range_ok(gpa, len)) {
		return -1;
	}
	return gmem_copy_to_guest(gpa, src, len);
}

void *arch_phys_to_virt(u64 gpa)
{
	return paging_phys_to_virt(gpa);
}

u64 arch_virt_to_phys(const void *va)
{
	return paging_virt_to_phys(va);
}

void *arch_map_shared(u64 gpa)
{
	return paging_map_shared(gpa);
}

u32 arch_cpu_apic_id(void)
{
	return percpu_this()->apic_id;
}

/* Each vCPU has its own physical CPU while it runs the SVSM: keep spinning. */
void arch_spin_backoff(void)
{
	__builtin_ia32_pause();
}

void *arch_cpu_local(void)
{
	return percpu_this()->svsm_local;
}

void arch_cpu_set_local(void *p)
{
	percpu_this()->svsm_local = p;
}

/* The serial port through this vCPU's GHCB (IOIO exits); silent before the GHCB exists. */
void arch_console_write(const char *buf, size_t len)
{
	struct ghcb_page *g = hw.core_started ? cpu_ghcb() : NULL;

	if (g) {
		ghcb_ioio_write(g, SERIAL_COM1, buf, len);
	}
}

u64 arch_clock_ns(void)
{
	return clock_ns();
}

int arch_random(void *buf, size_t len)
{
	if (!hw.rdrand) {
		return -1;
	}
	return insn_rdrand_fill(buf, len);
}

/* The GHCB termination request was already made (ghcb_msr_terminate); stop this vCPU. */
void arch_terminate(u8 reason_set, u8 reason_code)
{
	insn_halt_forever();
}

/* Run the guest's VMPL; when the hypervisor comes back, serve its request. */
static SVSM_NORETURN void hw_request_loop(void)
{
	struct ghcb_page *g = cpu_ghcb();
	const struct svsm_boot_info *b = svsm_boot_params();

	if (!g) {
		log_error("no GHCB on the startup vCPU");
		ghcb_msr_terminate(TERM_SET_SVSM, TERM_SVSM_BOOT);
	}
	for (;;) {
		int rc = ghcb_run_vmpl(g, b->guest_vmpl);
		if (rc != GHCB_CLIENT_OK) {
			log_error("run VMPL%u refused (%d)", b->guest_vmpl, rc);
			ghcb_msr_terminate(TERM_SET_SVSM, TERM_SVSM_BOOT);
		}
		svsm_request_handle();
	}
}

/*
 * Without SNP this image has nothing to serve: it is the VMPL0 module of an SNP guest
 * and holds no emulator (build/svsm-test.elf does). Say so on the serial port (which
 * works without SNP) and leave QEMU with its own status, so that `make run-image` can
 * tell this answer from a crash or a failure.
 */
static SVSM_NORETURN void hw_no_snp(u64 sev_status)
{
	u32 r[4];
	u32 max_ext;

	insn_cpuid(0x80000000, 0, r);
	max_ext = r[0];
	r[0] = 0;
	if (max_ext >= 0x8000001F) {
		insn_cpuid(0x8000001F, 0, r);
	}
	serial_printf("svsm: SVSM %s: SEV-SNP is not active (CPUID 0x8000001F EAX 0x%x, SEV_STATUS 0x%llx)\n",
		      SVSM_VERSION_STRING, r[0], (unsigned long long)sev_status);
	serial_printf("svsm: this image runs only as the VMPL0 module of an SEV-SNP guest; "
		      "build/svsm-test.elf runs the SVSM without SNP. Stopping.\n");
	boot_exit(BOOT_EXIT_NO_SNP);
}

/* See snp.h: SNP is required; the launch parameters become the core's boot information. */
void platform_main(u32 entry, u32 pvh_info, u64 sev_status)
{
	u32 r[4];

	if (!boot_snp_active()) {
		hw_no_snp(sev_status);
	}
	if (entry != BOOT_ENTRY_SNP || snp_launch.magic != SNP_LAUNCH_MAGIC) {
		/* Page tables without the C-bit or no launch parameters: nothing can work. */
		boot_fatal(TERM_SVSM_BOOT);
	}
	insn_cpuid(0x8000001F, 0, r);
	paging_init(BIT(r[1] & 0x3F));
	insn_cpuid(1, 0, r);
	u32 apic_id = r[1] >> 24;
	hw.rdrand = (r[2] & BIT(30)) != 0;
	percpu_this()->apic_id = apic_id;

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
		/*
		 * The launch's SECRETS and CPUID pages (the image's first two pages, identity
		 * mapped): with VMPCK0 from the secrets page the core offers attestation.
		 */
		.secrets_gpa = (u64)snp_secrets_page,
		.cpuid_gpa = (u64)snp_cpuid_page,
	};
	hw.core_started = true;
	vc_use_core_ghcb();
	if (svsm_boot(&info) != 0) {
		ghcb_msr_terminate(TERM_SET_SVSM, TERM_SVSM_BOOT);
	}
	/*
	 * The image itself (code, data, secrets and CPUID pages) lies outside the SVSM region
	 * the core manages: mark it as the SVSM's so that no guest call can touch it.
	 */
	owned_set((u64)__image_start, (u64)(ALIGN_UP((u64)__image_end, PAGE_SIZE) - (u64)__image_start) >> PAGE_SHIFT,
		  true);
	/* Port I/O for the PIT goes through #VC and the GHCB, which exists now. */
	clock_init();
	hw_request_loop();
}
