/* The emulated machine: memory, RMP, vCPUs, launch and boot of the SVSM (freestanding). */
#include <stdarg.h>

#include <svsm/ghcb.h>
#include <svsm/log.h>
#include <svsm/string.h>
#include <svsm/vmsa.h>

#include "machine.h"

static struct emu_machine *emu_current_machine;
static _Thread_local struct emu_vcpu *emu_current_vcpu;

const char *const emu_exit_kind_names[EXIT_KIND_COUNT] = {
	[EXIT_MSR_SEV_INFO] = "msr:sev-info",
	[EXIT_MSR_CPUID] = "msr:cpuid",
	[EXIT_MSR_REGISTER] = "msr:register-ghcb",
	[EXIT_MSR_PSC] = "msr:page-state-change",
	[EXIT_MSR_RUN_VMPL] = "msr:run-vmpl",
	[EXIT_MSR_HV_FEATURES] = "msr:hv-features",
	[EXIT_MSR_TERMINATE] = "msr:terminate",
	[EXIT_MSR_OTHER] = "msr:unsupported",
	[EXIT_NAE_IOIO] = "nae:ioio",
	[EXIT_NAE_CPUID] = "nae:cpuid",
	[EXIT_NAE_MSR] = "nae:msr",
	[EXIT_NAE_PSC] = "nae:page-state-change",
	[EXIT_NAE_AP_CREATION] = "nae:ap-creation",
	[EXIT_NAE_RUN_VMPL] = "nae:run-vmpl",
	[EXIT_NAE_HV_FEATURES] = "nae:hv-features",
	[EXIT_NAE_TERMINATE] = "nae:terminate",
	[EXIT_NAE_GUEST_REQUEST] = "nae:guest-request",
	[EXIT_NAE_OTHER] = "nae:unsupported",
	[EXIT_NAE_ERROR] = "nae:rejected",
};

struct emu_machine *emu_machine_current(void)
{
	return emu_current_machine;
}

void emu_vcpu_set_current(struct emu_vcpu *v)
{
	emu_current_vcpu = v;
}

struct emu_vcpu *emu_vcpu_current(void)
{
	return emu_current_vcpu;
}

/* The vCPU with @apic_id, or NULL. */
struct emu_vcpu *emu_vcpu_find(struct emu_machine *m, u32 apic_id)
{
	for (unsigned i = 0; i < EMU_MAX_VCPUS; i++) {
		/* A slot is filled in before present is set (hv.c, under m->lock). */
		if (__atomic_load_n(&m->vcpus[i].present, __ATOMIC_ACQUIRE) && m->vcpus[i].apic_id == apic_id) {
			return &m->vcpus[i];
		}
	}
	return NULL;
}

const char *emu_fault_kind_name(enum rmp_fault_kind k)
{
	switch (k) {
	case RMP_OK:
		return "none";
	case RMP_FAULT_NPF:
		return "#NPF";
	case RMP_FAULT_VC_NOT_VALIDATED:
		return "#VC(0x404 page not validated)";
	case RMP_FAULT_OUT_OF_RANGE:
		return "#NPF(outside guest memory)";
	}
	return "?";
}

void emu_finding(struct emu_machine *m, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(&m->findings.count, 1, __ATOMIC_RELAXED) == 0) {
		va_start(ap, fmt);
		svsm_vsnprintf(m->findings.first, sizeof(m->findings.first), fmt, ap);
		va_end(ap);
	}
}

void emu_request_begin(struct emu_vcpu *v, u8 vmpl)
{
	struct emu_req_trace *t = &v->trace;

	t->active = true;
	t->vmpl = vmpl;
	memset(t->opportunities, 0, sizeof(t->opportunities));
	t->reads = t->writes = t->adjusts = 0;
	t->reads_overflow = t->writes_overflow = t->adjusts_overflow = false;
}

void emu_request_end(struct emu_vcpu *v)
{
	v->trace.active = false;
}

/* Remember the fault for the harness; the access itself was refused. */
void emu_fault_record(struct emu_machine *m, const struct rmp_fault *f)
{
	spin_lock(&m->lock);
	m->faults.count++;
	m->faults.last = *f;
	spin_unlock(&m->lock);
}

/* Copy with the common small sizes inlined (the call path moves 1- and 2-byte fields). */
static inline void emu_copy(void *dst, const void *src, u64 len)
{
	switch (len) {
	case 0:
		break;
	case 1:
		*(u8 *)dst = *(const u8 *)src;
		break;
	case 2:
		__builtin_memcpy(dst, src, 2);
		break;
	case 8:
		__builtin_memcpy(dst, src, 8);
		break;
	default:
		memcpy(dst, src, len);
		break;
	}
}

/* Checked private access by @vmpl. */
int emu_mem_read(struct emu_machine *m, u8 vmpl, u64 gpa, void *dst, u64 len, struct rmp_fault *fault)
{
	struct rmp_fault f;

	if (!rmp_check_access(&m->rmp, vmpl, true, gpa, len, RMP_ACCESS_READ, &f)) {
		emu_fault_record(m, &f);
		if (fault) {
			*fault = f;
		}
		return -1;
	}
	emu_copy(dst, emu_mem(m, gpa), len);
	return 0;
}

int emu_mem_write(struct emu_machine *m, u8 vmpl, u64 gpa, const void *src, u64 len, struct rmp_fault *fault)
{
	struct rmp_fault f;

	if (!rmp_check_access(&m->rmp, vmpl, true, gpa, len, RMP_ACCESS_WRITE, &f)) {
		emu_fault_record(m, &f);
		if (fault) {
			*fault = f;
		}
		return -1;
	}
	emu_mem_will_write(m, gpa, len);
	emu_copy(emu_mem(m, gpa), src, len);
	return 0;
}

int emu_mem_xchg8(struct emu_machine *m, u8 vmpl, u64 gpa, u8 value, u8 *old)
{
	struct rmp_fault f;

	if (!rmp_check_access(&m->rmp, vmpl, true, gpa, 1, RMP_ACCESS_READ, &f) ||
	    !rmp_check_access(&m->rmp, vmpl, true, gpa, 1, RMP_ACCESS_WRITE, &f)) {
		emu_fault_record(m, &f);
		return -1;
	}
	emu_mem_will_write(m, gpa, 1);
	*old = __atomic_exchange_n(emu_mem(m, gpa), value, __ATOMIC_ACQ_REL);
	return 0;
}

/* Stop the machine: the SVSM or the guest asked to be terminated. */
void emu_terminate(struct emu_machine *m, u8 set, u8 code)
{
	m->terminated = true;
	m->term_set = set;
	m->term_code = code;
	m->host.terminate(m);
}

/* True if [@gpa, @gpa + @len) touches the legacy hole (when the machine has one). */
bool emu_in_hole(const struct emu_config *c, u64 gpa, u64 len)
{
	return c->legacy_hole && len != 0 && gpa < EMU_LEGACY_HOLE_END && gpa + len > EMU_LEGACY_HOLE_START;
}

void emu_machine_protect(struct emu_machine *m, u64 pfn, u64 count)
{
	if (m->host.protect && (m->svsm_map || m->shared_map)) {
		m->host.protect(m, pfn, count);
	}
}

static void emu_machine_rmp_changed(void *ctx, u64 pfn, u64 count)
{
	emu_machine_protect(ctx, pfn, count);
}

void emu_svsm_map_fault(struct emu_machine *m, u64 gpa, bool write)
{
	struct rmp_entry e;
	struct rmp_fault f;
	bool known = rmp_read(&m->rmp, gpa, &e);

	if (!known || !e.assigned) {
		f = (struct rmp_fault){RMP_FAULT_NPF, gpa, NPF_RMP | NPF_ENC | (write ? 2u : 0u), 0};
	} else {
		f = (struct rmp_fault){RMP_FAULT_VC_NOT_VALIDATED, gpa, VC_NOT_VALIDATED, 0};
	}
	emu_fault_record(m, &f);
	svsm_snprintf(m->term_detail, sizeof(m->term_detail), "the SVSM %s 0x%llx through its direct map: %s (page %s)",
		      write ? "wrote" : "read", (unsigned long long)gpa, emu_fault_kind_name(f.kind),
		      !known ? "outside memory" : !e.assigned ? "not guest-owned" : "not validated");
	emu_terminate(m, TERM_SET_SVSM, TERM_SVSM_FAULT);
}

void emu_svsm_shared_fault(struct emu_machine *m, u64 gpa, bool write)
{
	struct rmp_fault f = {RMP_FAULT_NPF, gpa, NPF_RMP | (write ? 2u : 0u), 0};

	emu_fault_record(m, &f);
	svsm_snprintf(m->term_detail, sizeof(m->term_detail),
		      "the SVSM %s 0x%llx through its shared (C=0) mapping, but the page is guest-owned: #NPF",
		      write ? "wrote" : "read", (unsigned long long)gpa);
	emu_terminate(m, TERM_SET_SVSM, TERM_SVSM_FAULT);
}

/* A page of the PSP launch outside the SVSM region and the calling area. */
static bool emu_launch_page_ok(const struct emu_config *c, u64 gpa)
{
	return gpa != 0 && IS_ALIGNED(gpa, PAGE_SIZE) && gpa + PAGE_SIZE <= c->mem_size && gpa != c->caa_gpa &&
	       (gpa + PAGE_SIZE <= c->svsm_base || gpa >= c->svsm_base + c->svsm_size);
}

bool emu_config_check(const struct emu_config *c, char *err, size_t err_size)
{
	const char *why = NULL;

	if (c->mem_size < (32ull << 20) || c->mem_size > (64ull << 30) || !IS_ALIGNED(c->mem_size, PAGE_2M_SIZE)) {
		why = "memory size must be a multiple of 2 MiB between 32 MiB and 64 GiB";
	} else if (!IS_ALIGNED(c->svsm_base, PAGE_2M_SIZE) || !IS_ALIGNED(c->svsm_size, PAGE_SIZE) ||
		   c->svsm_size < (1ull << 20) || c->svsm_base + c->svsm_size > c->mem_size) {
		why = "SVSM region must be 2 MiB aligned, at least 1 MiB, inside memory";
	} else if (!IS_ALIGNED(c->caa_gpa, PAGE_SIZE) || c->caa_gpa + PAGE_SIZE > c->mem_size ||
		   (c->caa_gpa >= c->svsm_base && c->caa_gpa < c->svsm_base + c->svsm_size)) {
		why = "calling area must be a page inside memory and outside the SVSM region";
	} else if (c->legacy_hole && (emu_in_hole(c, c->svsm_base, c->svsm_size) || emu_in_hole(c, c->caa_gpa, PAGE_SIZE))) {
		why = "the SVSM region and the calling area must not overlap the 0xA0000-0xFFFFF hole";
	} else if (c->guest_vmpl < 1 || c->guest_vmpl > 3) {
		why = "the guest VMPL must be 1, 2 or 3";
	} else if (c->psp && (!emu_launch_page_ok(c, c->secrets_gpa) || !emu_launch_page_ok(c, c->cpuid_gpa) ||
			      c->secrets_gpa == c->cpuid_gpa)) {
		why = "secrets and CPUID pages must be two pages inside memory, outside the SVSM region and the calling area";
	} else if (!c->psp && (c->secrets_gpa || c->cpuid_gpa)) {
		why = "secrets and CPUID pages need a PSP";
	}
	if (why && err) {
		svsm_snprintf(err, err_size, "%s", why);
	}
	return why == NULL;
}

/* The SVSM's parameter page: what the launch tells it, measured with it. */
struct emu_svsm_params {
	char magic[16];
	char version[16];
	u64 svsm_base, svsm_size, mem_size, caa_gpa, secrets_gpa, cpuid_gpa, sev_features, guest_vmpl;
};

/* The CPUID page (shared/spec section 2.7): count, 12 reserved bytes, 48-byte entries. */
struct emu_cpuid_entry {
	u32 eax_in, ecx_in;
	u64 xcr0_in, xss_in;
	u32 eax, ebx, ecx, edx;
	u64 reserved;
};
_Static_assert(sizeof(struct emu_cpuid_entry) == 48, "CPUID page entry");

/* See machine.h. */
void emu_launch_plan(const struct emu_config *cfg, void (*fn)(void *ctx, const struct emu_launch_page *p), void *ctx)
{
	static const u32 cpuid_leaves[] = {0x80000000, 0x8000001F};
	u8 page[PAGE_SIZE];
	struct emu_launch_page p = {0};

	memset(page, 0, sizeof(page));
	struct emu_svsm_params params = {
		.magic = "svsm-emu params",
		.svsm_base = cfg->svsm_base,
		.svsm_size = cfg->svsm_size,
		.mem_size = cfg->mem_size,
		.caa_gpa = cfg->caa_gpa,
		.secrets_gpa = cfg->secrets_gpa,
		.cpuid_gpa = cfg->cpuid_gpa,
		.sev_features = EMU_SEV_FEATURES,
		.guest_vmpl = EMU_GUEST_VMPL,
	};
	memcpy(params.version, SVSM_VERSION_STRING, sizeof(SVSM_VERSION_STRING));
	memcpy(page, &params, sizeof(params));
	p = (struct emu_launch_page){.gpa = cfg->svsm_base, .type = EMU_PAGE_NORMAL, .contents = page};
	fn(ctx, &p);
	for (u64 gpa = cfg->svsm_base + PAGE_SIZE; gpa < cfg->svsm_base + cfg->svsm_size; gpa += PAGE_SIZE) {
		p = (struct emu_launch_page){.gpa = gpa, .type = EMU_PAGE_ZERO};
		fn(ctx, &p);
	}
	if (cfg->secrets_gpa) {
		p = (struct emu_launch_page){.gpa = cfg->secrets_gpa, .type = EMU_PAGE_SECRETS};
		fn(ctx, &p);
	}
	if (cfg->cpuid_gpa) {
		memset(page, 0, sizeof(page));
		u32 count = ARRAY_COUNT(cpuid_leaves);
		memcpy(page, &count, sizeof(count));
		for (u32 i = 0; i < count; i++) {
			struct emu_cpuid_entry e = {
				.eax_in = cpuid_leaves[i],
				.eax = emu_hv_cpuid(cpuid_leaves[i], 0),
				.ebx = emu_hv_cpuid(cpuid_leaves[i], 1),
				.ecx = emu_hv_cpuid(cpuid_leaves[i], 2),
				.edx = emu_hv_cpuid(cpuid_leaves[i], 3),
			};
			memcpy(page + 16 + i * sizeof(e), &e, sizeof(e));
		}
		p = (struct emu_launch_page){.gpa = cfg->cpuid_gpa, .type = EMU_PAGE_CPUID, .contents = page};
		fn(ctx, &p);
	}
	p = (struct emu_launch_page){.gpa = cfg->caa_gpa, .type = EMU_PAGE_ZERO, .perms = {VMPL_PERM_READ | VMPL_PERM_WRITE, 0, 0}};
	fn(ctx, &p);
	/* VMSAs last: the startup vCPU's VMPL0 context, entering the SVSM at its base. */
	memset(page, 0, sizeof(page));
	u64 efer = EFER_SVME, sev_features = EMU_SEV_FEATURES, rip = cfg->svsm_base, cr0 = 0x11;
	page[VMSA_VMPL] = 0;
	memcpy(page + VMSA_EFER, &efer, 8);
	memcpy(page + VMSA_SEV_FEATURES, &sev_features, 8);
	memcpy(page + VMSA_RIP, &rip, 8);
	memcpy(page + VMSA_CR0, &cr0, 8);
	p = (struct emu_launch_page){.gpa = EMU_LAUNCH_VMSA_GPA, .type = EMU_PAGE_VMSA, .contents = page};
	fn(ctx, &p);
}

/* One page of the PSP launch: load its contents, SNP_LAUNCH_UPDATE, then the RMP entry. */
static void emu_launch_load(void *ctx, const struct emu_launch_page *p)
{
	struct emu_machine *m = ctx;
	u8 *page = NULL;

	if (m->launch_error) {
		return;
	}
	if (p->type != EMU_PAGE_VMSA) {
		page = emu_mem(m, p->gpa);
		if (p->contents) {
			memcpy(page, p->contents, PAGE_SIZE);
		}
	}
	u32 rc = m->cfg.psp->launch_update(m->cfg.psp_ctx, p, page);
	if (rc != 0) {
		m->launch_error = rc;
		return;
	}
	if (page) {
		rmp_launch_page(&m->rmp, p->gpa, p->perms, false);
	}
}

/* SNP_LAUNCH_START, every page of the plan, SNP_LAUNCH_FINISH; a failure stops the launch. */
static void emu_launch_measured(struct emu_machine *m)
{
	const struct emu_psp_ops *psp = m->cfg.psp;

	m->launch_error = psp->launch_start(m->cfg.psp_ctx, m->cfg.policy);
	if (m->launch_error) {
		return;
	}
	emu_launch_plan(&m->cfg, emu_launch_load, m);
	if (!m->launch_error) {
		m->launch_error = psp->launch_finish(m->cfg.psp_ctx);
	}
}

/* Assign all memory, launch the SVSM region and the startup CA; see machine.h. */
void emu_machine_init(struct emu_machine *m, u8 *mem, struct rmp_entry *entries)
{
	const struct emu_config *cfg = &m->cfg;
	u64 pages = cfg->mem_size >> PAGE_SHIFT;

	m->mem = mem;
	m->rng_state = cfg->seed ? cfg->seed : 1;
	rmp_init(&m->rmp, entries, pages);

	m->hostile = cfg->boot_hostile;
	m->rmp.no_rmpquery = cfg->no_rmpquery;
	m->rmp.adjust_unvalidated = cfg->rmpadjust_unvalidated;

	/*
	 * The hypervisor assigns all guest RAM as private (KVM's default for SNP); the legacy
	 * hole is MMIO/ROM and stays hypervisor-owned (4 KiB entries around it).
	 */
	for (u64 gpa = 0; gpa < cfg->mem_size; gpa += PAGE_2M_SIZE) {
		if (cfg->rmp_2m && !emu_in_hole(cfg, gpa, PAGE_2M_SIZE)) {
			rmp_make_private(&m->rmp, gpa, true);
		} else {
			for (u64 p = gpa; p < gpa + PAGE_2M_SIZE; p += PAGE_SIZE) {
				if (!emu_in_hole(cfg, p, PAGE_SIZE)) {
					rmp_make_private(&m->rmp, p, false);
				}
			}
		}
	}
	if (cfg->psp) {
		emu_launch_measured(m);
	} else {
		/* Launch: the SVSM region (VMPL0 only) and the startup calling area (guest RW). */
		static const u8 no_perms[3] = {0, 0, 0};
		u8 guest_rw[3] = {0, 0, 0};
		guest_rw[cfg->guest_vmpl - 1] = VMPL_PERM_READ | VMPL_PERM_WRITE;
		for (u64 gpa = cfg->svsm_base; gpa < cfg->svsm_base + cfg->svsm_size; gpa += PAGE_SIZE) {
			rmp_launch_page(&m->rmp, gpa, no_perms, false);
		}
		rmp_launch_page(&m->rmp, cfg->caa_gpa, guest_rw, false);
	}
	rmp_stats_reset(&m->rmp);
	/* From now on the SVSM's direct map follows the RMP; start from the launched state. */
	m->rmp.changed = emu_machine_rmp_changed;
	m->rmp.changed_ctx = m;
	emu_machine_protect(m, 0, pages);

	/* The startup vCPU starts at VMPL0 in the SVSM. */
	m->vcpus[0] = (struct emu_vcpu){.present = true, .apic_id = 0, .vmpl = 0};
	emu_current_machine = m;
}

/* The guest RAM map the launch hands to the SVSM: all memory but the legacy hole. */
void emu_machine_ram_map(const struct emu_config *cfg, struct svsm_boot_info *info)
{
	info->ram_count = 0;
	if (cfg->legacy_hole) {
		info->ram[info->ram_count++] = (struct svsm_ram_range){0, EMU_LEGACY_HOLE_START};
		info->ram[info->ram_count++] =
			(struct svsm_ram_range){EMU_LEGACY_HOLE_END, cfg->mem_size - EMU_LEGACY_HOLE_END};
	} else {
		info->ram[info->ram_count++] = (struct svsm_ram_range){0, cfg->mem_size};
	}
}

/* Boot the SVSM on the startup vCPU, then run the guest's VMPL there; see machine.h. */
int emu_machine_boot(struct emu_machine *m, char *err, size_t err_size)
{
	const struct emu_config *cfg = &m->cfg;
	struct svsm_boot_info info = {
		.svsm_base = cfg->svsm_base,
		.svsm_size = cfg->svsm_size,
		.mem_size = cfg->mem_size,
		.caa_gpa = cfg->caa_gpa,
		.bsp_apic_id = 0,
		.guest_vmpl = cfg->guest_vmpl,
		.sev_features = EMU_SEV_FEATURES,
		.guest_rip = 0xFFFFFFF0,
		.guest_cr0 = 0x60000010,
		.secrets_gpa = cfg->psp ? cfg->secrets_gpa : 0,
		.cpuid_gpa = cfg->psp ? cfg->cpuid_gpa : 0,
	};

	if (m->launch_error) {
		svsm_snprintf(err, err_size, "the launch failed (firmware error 0x%x)", m->launch_error);
		return -1;
	}
	emu_machine_ram_map(cfg, &info);
	emu_vcpu_set_current(&m->vcpus[0]);
	int rc = svsm_boot(&info);
	if (rc != 0) {
		svsm_snprintf(err, err_size, "svsm_boot failed (%d)", rc);
		emu_vcpu_set_current(NULL);
		return -1;
	}
	/* svsm_boot handed the guest's VMSA to us through AP creation: run VMPL1 now. */
	struct emu_vcpu *bsp = &m->vcpus[0];
	if (!bsp->vmsa_valid[cfg->guest_vmpl]) {
		svsm_snprintf(err, err_size, "the SVSM did not create the guest's startup VMSA");
		emu_vcpu_set_current(NULL);
		return -1;
	}
	bsp->vmpl = cfg->guest_vmpl;
	(void)rmp_vmrun(&m->rmp, bsp->vmsa_gpa[cfg->guest_vmpl]);
	emu_vcpu_vmrun(m, bsp, cfg->guest_vmpl);
	m->booted = true;
	emu_vcpu_set_current(NULL);
	return 0;
}

void emu_machine_detach(struct emu_machine *m)
{
	if (emu_current_machine == m) {
		emu_current_machine = NULL;
	}
	emu_vcpu_set_current(NULL);
}

/* See machine.h. */
void emu_startup_vcpu_enter_svsm(struct emu_machine *m)
{
	struct emu_vcpu *v = emu_vcpu_find(m, 0);

	v->vmpl = 0;
	v->trace.active = false;
	emu_vcpu_set_current(v);
}

/* See machine.h. */
void emu_startup_vcpu_leave_svsm(struct emu_machine *m)
{
	struct emu_vcpu *v = emu_vcpu_find(m, 0);

	v->vmpl = m->cfg.guest_vmpl;
	emu_vcpu_set_current(NULL);
}

/* --- the TLB model (machine.h, struct emu_tlb) ---------------------------------------- */

static u64 *emu_tlb_slot(struct emu_vcpu *v, u8 vmpl, u64 pfn)
{
	return &v->tlb[vmpl].e[pfn % EMU_TLB_ENTRIES];
}

/* The PCPU_ID of @v's VMSA at @vmpl: 0 means a flush is pending (~0 without a VMSA). */
static u64 emu_vcpu_pcpu_id(struct emu_machine *m, const struct emu_vcpu *v, u8 vmpl)
{
	if (!v->vmsa_valid[vmpl]) {
		return ~0ull;
	}
	return __atomic_load_n((const u64 *)(emu_mem(m, v->vmsa_gpa[vmpl]) + VMSA_PCPU_ID), __ATOMIC_ACQUIRE);
}

void emu_vcpu_vmrun(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl)
{
	if (vmpl == 0 || vmpl >= RMP_VMPL_COUNT || !v->vmsa_valid[vmpl] || emu_vcpu_pcpu_id(m, v, vmpl) != 0) {
		return;
	}
	for (unsigned i = 0; i < EMU_TLB_ENTRIES; i++) {
		__atomic_store_n(&v->tlb[vmpl].e[i], 0, __ATOMIC_RELAXED);
	}
	v->tlb_flushes++;
	u64 gpa = v->vmsa_gpa[vmpl] + VMSA_PCPU_ID;
	emu_mem_will_write(m, gpa, 8);
	__atomic_store_n((u64 *)emu_mem(m, gpa), (u64)v->apic_id + 1, __ATOMIC_RELEASE);
}

/*
 * Check one page of a guest access through @v's TLB. True if allowed (a fresh check
 * fills the TLB); false with *@f set if the RMP refuses and no translation is cached.
 */
static bool emu_tlb_access(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl, u64 gpa, u64 len, bool write,
			   struct rmp_fault *f)
{
	u64 pfn = gpa >> PAGE_SHIFT;
	u8 need = write ? (VMPL_PERM_READ | VMPL_PERM_WRITE) : VMPL_PERM_READ;
	u64 *slot = emu_tlb_slot(v, vmpl, pfn);
	u64 cached = __atomic_load_n(slot, __ATOMIC_RELAXED);
	bool ok = rmp_check_access(&m->rmp, vmpl, true, gpa, len, write ? RMP_ACCESS_WRITE : RMP_ACCESS_READ, f);
	struct rmp_entry e;

	if (!ok && cached >> 8 == pfn + 1 && ((u8)cached & need) == need && rmp_read(&m->rmp, gpa, &e) && e.assigned) {
		/* The hardware uses the cached translation: the revoked right still works. */
		__atomic_fetch_add(&m->stats.stale_accesses, 1, __ATOMIC_RELAXED);
		if (emu_vcpu_pcpu_id(m, v, vmpl) != 0) {
			emu_finding(m,
				    "stale translation: VMPL%u on vCPU %u %s 0x%llx with a right the RMP no longer gives, "
				    "and no TLB flush was requested (its VMSA's PCPU_ID is not 0)",
				    vmpl, v->apic_id, write ? "wrote" : "read", (unsigned long long)gpa);
		}
		return true;
	}
	if (ok && rmp_read(&m->rmp, gpa, &e)) {
		__atomic_store_n(slot, ((pfn + 1) << 8) | e.perms[vmpl], __ATOMIC_RELAXED);
	}
	return ok;
}

static int emu_vcpu_mem_access(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl, u64 gpa, void *buf, u64 len,
			       bool write)
{
	struct rmp_fault f;

	if (vmpl == 0 || vmpl >= RMP_VMPL_COUNT || len == 0 || gpa + len < gpa) {
		return write ? emu_mem_write(m, vmpl, gpa, buf, len, NULL) : emu_mem_read(m, vmpl, gpa, buf, len, NULL);
	}
	for (u64 page = ALIGN_DOWN(gpa, PAGE_SIZE); page < gpa + len; page += PAGE_SIZE) {
		u64 from = MAX(page, gpa);
		u64 to = MIN(page + PAGE_SIZE, gpa + len);
		if (!emu_tlb_access(m, v, vmpl, from, to - from, write, &f)) {
			emu_fault_record(m, &f);
			return -1;
		}
	}
	if (write) {
		emu_mem_will_write(m, gpa, len);
		emu_copy(emu_mem(m, gpa), buf, len);
	} else {
		emu_copy(buf, emu_mem(m, gpa), len);
	}
	return 0;
}

int emu_vcpu_mem_read(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl, u64 gpa, void *dst, u64 len)
{
	return emu_vcpu_mem_access(m, v, vmpl, gpa, dst, len, false);
}

int emu_vcpu_mem_write(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl, u64 gpa, const void *src, u64 len)
{
	return emu_vcpu_mem_access(m, v, vmpl, gpa, (void *)src, len, true);
}
