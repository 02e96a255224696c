/*
 * The SNP hardware platform: the arch interface served by the CPU (PVALIDATE, RMPADJUST,
 * the GHCB MSR, VMGEXIT) and the real hypervisor, plus the startup vCPU's request loop.
 */
#include <svsm/arch.h>
#include <svsm/ghcb_client.h>
#include <svsm/log.h>
#include <svsm/string.h>

#include "insn.h"
#include "snp.h"

static struct {
	u64 sev_status;
	bool rdrand;
} hw;

void hw_init(u64 sev_status, u32 apic_id)
{
	u32 r[4];

	hw.sev_status = sev_status;
	insn_cpuid(1, 0, r);
	hw.rdrand = (r[2] & BIT(30)) != 0;
	percpu_this()->apic_id = apic_id;
}

/* PVALIDATE through the direct map; CF=1 with EAX=0 becomes RMP_UNCHANGED. */
static u32 hw_pvalidate(u64 gpa, enum page_size size, bool validate)
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

static u32 hw_rmpadjust(u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa)
{
	void *va = paging_phys_to_virt(gpa);

	if (!va) {
		return RMP_FAULT;
	}
	return insn_rmpadjust(va, size, (u64)target_vmpl | ((u64)perms << 8) | ((u64)vmsa << 16));
}

/* Until the image has an RMPQUERY wrapper with a #VC fixup, report the instruction as absent. */
static u32 hw_rmpquery(u64 gpa, u8 target_vmpl, u8 *perms)
{
	return RMP_UNSUPPORTED;
}

static u64 hw_ghcb_msr_read(void)
{
	return insn_rdmsr(GHCB_MSR);
}

static void hw_ghcb_msr_write(u64 value)
{
	insn_wrmsr(GHCB_MSR, value);
}

static void hw_vmgexit(void)
{
	insn_vmgexit();
}

/*
 * Copy between guest memory and private memory through the direct map. Every page of
 * the range is probed first with a guarded read (a page that is not validated raises
 * #VC 0x404, which the fixup turns into -1), so nothing is copied if any byte faults.
 */
static int hw_guest_check(u64 gpa, size_t len)
{
	const struct svsm_boot_info *b = svsm_boot_params();

	if (len == 0) {
		return 0;
	}
	if (gpa + len < gpa || gpa + len > b->mem_size || gpa + len > PAGING_DIRECT_MAP_LIMIT) {
		return -1;
	}
	for (u64 p = ALIGN_DOWN(gpa, PAGE_SIZE); p < gpa + len; p += PAGE_SIZE) {
		u8 probe;
		if (guard_read8(paging_phys_to_virt(MAX(p, gpa)), &probe) != 0) {
			return -1;
		}
	}
	return 0;
}

static int hw_guest_read(u64 gpa, void *dst, size_t len)
{
	if (hw_guest_check(gpa, len) != 0) {
		return -1;
	}
	if (len) {
		memcpy(dst, paging_phys_to_virt(gpa), len);
	}
	return 0;
}

static int hw_guest_write(u64 gpa, const void *src, size_t len)
{
	if (hw_guest_check(gpa, len) != 0) {
		return -1;
	}
	if (len) {
		memcpy(paging_phys_to_virt(gpa), src, len);
	}
	return 0;
}

static u32 hw_cpu_apic_id(void)
{
	return percpu_this()->apic_id;
}

/* The serial port through this vCPU's GHCB (IOIO exits); silent before the GHCB exists. */
static void hw_console_write(const char *buf, size_t len)
{
	struct svsm_vcpu *v = vcpu_current();

	if (v && v->ghcb_ready) {
		ghcb_ioio_write(&v->ghcb, SERIAL_COM1, buf, len);
	}
}

static int hw_random(void *buf, size_t len)
{
	if (!hw.rdrand) {
		return -1;
	}
	return insn_rdrand_fill(buf, len);
}

/* The GHCB termination request was already made (ghcb_msr_terminate); stop this vCPU. */
static SVSM_NORETURN void hw_terminate(u8 reason_set, u8 reason_code)
{
	insn_halt_forever();
}

const struct snp_platform hw_platform = {
	.name = "snp",
	.pvalidate = hw_pvalidate,
	.rmpadjust = hw_rmpadjust,
	.rmpquery = hw_rmpquery,
	.ghcb_msr_read = hw_ghcb_msr_read,
	.ghcb_msr_write = hw_ghcb_msr_write,
	.vmgexit = hw_vmgexit,
	.guest_read = hw_guest_read,
	.guest_write = hw_guest_write,
	.phys_to_virt = paging_phys_to_virt,
	.virt_to_phys = paging_virt_to_phys,
	.map_shared = paging_map_shared,
	.cpu_apic_id = hw_cpu_apic_id,
	.console_write = hw_console_write,
	.random = hw_random,
	.terminate = hw_terminate,
};

/* See snp.h: run the guest's VMPL; when the hypervisor comes back, serve its request. */
void hw_request_loop(void)
{
	struct svsm_vcpu *v = vcpu_current();
	const struct svsm_boot_info *b = svsm_boot_params();

	if (!v || !v->ghcb_ready) {
		log_error("no GHCB on the startup vCPU");
		ghcb_msr_terminate(TERM_SET_SVSM, TERM_SVSM_BOOT);
	}
	for (;;) {
		int rc = ghcb_run_vmpl(&v->ghcb, b->guest_vmpl);
		if (rc != GHCB_CLIENT_OK) {
			log_error("run VMPL%u refused (%d)", b->guest_vmpl, rc);
			ghcb_msr_terminate(TERM_SET_SVSM, TERM_SVSM_BOOT);
		}
		svsm_request_handle();
	}
}
