/*
 * Boot of the SVSM core on the startup vCPU: check the platform through the GHCB MSR
 * protocol, set up ownership and memory, register a GHCB, and create the guest's startup
 * VMSA, which the hypervisor learns about through SNP AP creation.
 */
#include <svsm/arch.h>
#include <svsm/attest.h>
#include <svsm/claim.h>
#include <svsm/core.h>
#include <svsm/guestmem.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>
#include <svsm/vtpm.h>

static SVSM_STATE struct svsm_boot_info boot_params;

const struct svsm_boot_info *svsm_boot_params(void)
{
	return &boot_params;
}

/* Console bytes go to the serial port through this vCPU's GHCB, when it has one. */
static void boot_console_write(const char *buf, size_t len)
{
	struct ghcb_page *g = cpu_ghcb();

	if (g && ghcb_ioio_write(g, 0x3F8, buf, len) == GHCB_CLIENT_OK) {
		return;
	}
	arch_console_write(buf, len);
}

/* RAM ranges: 1 to SVSM_MAX_RAM_RANGES, page aligned, sorted, disjoint, inside memory. */
static bool boot_ram_valid(const struct svsm_boot_info *b)
{
	u64 prev_end = 0;

	if (b->ram_count == 0 || b->ram_count > SVSM_MAX_RAM_RANGES) {
		return false;
	}
	for (u32 i = 0; i < b->ram_count; i++) {
		const struct svsm_ram_range *r = &b->ram[i];
		if (!IS_ALIGNED(r->base, PAGE_SIZE) || !IS_ALIGNED(r->size, PAGE_SIZE) || r->size == 0 ||
		    r->base < prev_end || r->base + r->size < r->base || r->base + r->size > b->mem_size) {
			return false;
		}
		prev_end = r->base + r->size;
	}
	return true;
}

/* A launch page outside the SVSM region and the calling area (0 = absent). */
static bool boot_extra_page_valid(const struct svsm_boot_info *b, u64 gpa)
{
	return gpa == 0 || (IS_ALIGNED(gpa, PAGE_SIZE) && gpa + PAGE_SIZE <= b->mem_size && gpa != b->caa_gpa &&
			    (gpa + PAGE_SIZE <= b->svsm_base || gpa >= b->svsm_base + b->svsm_size));
}

static bool boot_info_valid(const struct svsm_boot_info *b)
{
	return boot_ram_valid(b) && IS_ALIGNED(b->svsm_base, PAGE_SIZE) && IS_ALIGNED(b->svsm_size, PAGE_SIZE) && b->svsm_size != 0 &&
	       IS_ALIGNED(b->mem_size, PAGE_SIZE) && b->svsm_base + b->svsm_size > b->svsm_base &&
	       b->svsm_base + b->svsm_size <= b->mem_size && IS_ALIGNED(b->caa_gpa, PAGE_SIZE) &&
	       b->caa_gpa + PAGE_SIZE <= b->mem_size &&
	       (b->caa_gpa + PAGE_SIZE <= b->svsm_base || b->caa_gpa >= b->svsm_base + b->svsm_size) &&
	       b->guest_vmpl >= 1 && b->guest_vmpl <= 3 && boot_extra_page_valid(b, b->secrets_gpa) &&
	       boot_extra_page_valid(b, b->cpuid_gpa) && (!b->secrets_gpa || b->secrets_gpa != b->cpuid_gpa);
}

/* Check the hypervisor speaks GHCB v2 and offers what the SVSM needs; terminate otherwise. */
static void boot_check_platform(void)
{
	u16 min, max;
	u8 cbit;
	u64 features;
	const u64 needed = GHCB_HV_FT_SNP | GHCB_HV_FT_SNP_AP_CREATION | GHCB_HV_FT_SNP_MULTI_VMPL;

	if (ghcb_msr_sev_info(&min, &max, &cbit) != GHCB_CLIENT_OK || min > 2 || max < 2) {
		log_error("hypervisor does not offer GHCB protocol version 2");
		ghcb_msr_terminate(TERM_SET_GENERAL, TERM_GHCB_PROTOCOL);
	}
	if (ghcb_msr_hv_features(&features) != GHCB_CLIENT_OK || (features & needed) != needed) {
		log_error("hypervisor lacks SNP, AP creation or multi-VMPL support");
		ghcb_msr_terminate(TERM_SET_GENERAL, 2);
	}
}

/* Build the guest's startup VMSA in SVSM memory. Returns its GPA or 0. */
static u64 boot_guest_vmsa(const struct svsm_boot_info *b)
{
	u8 *vmsa = page_alloc_zeroed(0);

	if (!vmsa) {
		return 0;
	}
	u64 efer = EFER_SVME;
	vmsa[VMSA_VMPL] = b->guest_vmpl;
	memcpy(vmsa + VMSA_EFER, &efer, 8);
	memcpy(vmsa + VMSA_SEV_FEATURES, &b->sev_features, 8);
	memcpy(vmsa + VMSA_RIP, &b->guest_rip, 8);
	memcpy(vmsa + VMSA_RSP, &b->guest_rsp, 8);
	memcpy(vmsa + VMSA_CR0, &b->guest_cr0, 8);
	memcpy(vmsa + VMSA_CR3, &b->guest_cr3, 8);
	memcpy(vmsa + VMSA_CR4, &b->guest_cr4, 8);
	u64 gpa = arch_virt_to_phys(vmsa);
	/* The VMSA bit can only be set from VMPL0, by naming a higher VMPL (with no access). */
	if (arch_rmpadjust(gpa, PAGE_SIZE_4K, b->guest_vmpl, 0, true) != RMP_SUCCESS) {
		page_free(vmsa, 0);
		return 0;
	}
	return gpa;
}

/* See core.h. */
int svsm_boot(const struct svsm_boot_info *info)
{
	if (!info || !boot_info_valid(info)) {
		return -1;
	}
	boot_params = *info;
	if (!guestmem_is_ram(info->svsm_base, info->svsm_size) || !guestmem_is_ram(info->caa_gpa, PAGE_SIZE)) {
		return -1;
	}
	core_lock_reset();
	log_set_console(NULL);
	log_ring_clear();
	protocol_reset();
	attest_services_reset();
	request_reset_counters();
	vcpu_boot_init(info->sev_features);

	boot_check_platform();

	int map_bytes = owned_init(info->mem_size);
	long claim_bytes = map_bytes < 0 ? -1
			   : claim_init(info->mem_size, arch_phys_to_virt(info->svsm_base + (u64)map_bytes),
					info->svsm_size - (u64)map_bytes);
	if (map_bytes < 0 || claim_bytes < 0 || (u64)map_bytes + (u64)claim_bytes >= info->svsm_size) {
		log_error("SVSM region too small for the ownership and claim maps");
		return -2;
	}
	map_bytes += (int)claim_bytes;
	owned_set(info->svsm_base, info->svsm_size >> PAGE_SHIFT, true);
	if (info->secrets_gpa) {
		owned_set(info->secrets_gpa, 1, true);
	}
	if (info->cpuid_gpa) {
		owned_set(info->cpuid_gpa, 1, true);
	}
	/* Per-vCPU allocator caches are picked by APIC ID. */
	mm_set_cpu_hook(arch_cpu_apic_id);
	if (mm_init(arch_phys_to_virt(0), info->mem_size) != 0 ||
	    mm_add_memory(arch_phys_to_virt(info->svsm_base + (u64)map_bytes),
			  (info->svsm_size - (u64)map_bytes) >> PAGE_SHIFT, false) != 0) {
		log_error("memory allocator initialisation failed");
		return -3;
	}

	cpu_boot_init();
	struct svsm_cpu *cpu = cpu_this();
	if (!cpu) {
		return -4;
	}
	const struct svsm_vcpu desc = {
		.apic_id = info->bsp_apic_id,
		.startup = true,
		.caa_gpa = info->caa_gpa,
		.guest_vmpl = info->guest_vmpl,
	};
	struct svsm_vcpu *bsp = NULL;
	if (vcpu_insert(&desc, &bsp) != VCPU_INSERTED || cpu_ghcb_setup(cpu) != 0) {
		log_error("cannot register a GHCB for the startup vCPU");
		return -5;
	}
	log_set_console(boot_console_write);
	if (info->secrets_gpa && attest_protocol_init(info->secrets_gpa) != 0) {
		log_error("attestation unavailable: the guest-request channel could not be set up");
	}

	u64 vmsa_gpa = boot_guest_vmsa(info);
	if (!vmsa_gpa) {
		log_error("cannot create the guest's startup VMSA");
		return -6;
	}
	/* Boot runs alone: no other CPU reads the table yet. */
	__atomic_store_n(&bsp->guest_vmsa_gpa, vmsa_gpa, __ATOMIC_RELEASE);
	__atomic_store_n(&bsp->vmsa, (u8 *)arch_phys_to_virt(vmsa_gpa), __ATOMIC_RELEASE);
	if (ghcb_ap_create(&cpu->ghcb, SVM_AP_CREATE, info->guest_vmpl, info->bsp_apic_id, vmsa_gpa,
			   info->sev_features) != GHCB_CLIENT_OK) {
		log_error("hypervisor refused the guest's startup VMSA");
		return -7;
	}
	u8 avail = mm_withdraw_available() ? 1 : 0;
	arch_guest_write(info->caa_gpa + SVSM_CA_MEM_AVAILABLE_OFFSET, &avail, 1);
	vtpm_init();
	log_info("SVSM %s up: region %llx+%llx, guest VMPL%u, calling area %llx", SVSM_VERSION_STRING,
		 (unsigned long long)info->svsm_base, (unsigned long long)info->svsm_size, info->guest_vmpl,
		 (unsigned long long)info->caa_gpa);
	return 0;
}
