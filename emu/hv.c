/*
 * The emulated hypervisor's side of the GHCB: the MSR protocol and the GHCB page exits
 * (NAE), validated the way KVM's sev_es_validate_vmgexit does: the GHCB must be the
 * registered one, in shared memory, with usage 0, every input field marked valid and
 * scratch areas inside the shared buffer; misuse is answered with the GHCB error codes.
 * It also switches VMPLs: "run VMPL0" from the guest enters the SVSM's request handler.
 */
#include <svsm/core.h>
#include <svsm/ghcb.h>
#include <svsm/svsm_abi.h>
#include <svsm/log.h>
#include <svsm/string.h>
#include <svsm/vmsa.h>

#include "machine.h"

#define EMU_HV_FEATURES (GHCB_HV_FT_SNP | GHCB_HV_FT_SNP_AP_CREATION | GHCB_HV_FT_SNP_MULTI_VMPL)

/* CPUID values the emulated platform reports (leaf, register index -> value). */
u32 emu_hv_cpuid(u32 leaf, unsigned reg)
{
	switch (leaf) {
	case 0x80000000:
		return reg == 0 ? 0x8000001F : 0;
	case 0x8000001F: {
		/* EAX: SME, SEV, SEV-ES, SNP (bit 4), VMPL (bit 5); EBX: C-bit 51, 4 VMPLs. */
		static const u32 v[4] = {0x3B, (4u << 12) | EMU_CBIT, 0, 0};
		return v[reg];
	}
	default:
		return 0;
	}
}

/* The answer at @point: the honest @proper one unless a hostile decide hook overrides it. */
static inline u64 hv_decide(struct emu_machine *m, enum emu_hostile_point point, u64 proper)
{
	return m->hostile.decide ? m->hostile.decide(m->hostile.decide_ctx, point, proper) : proper;
}

/* The vCPU whose VMGEXIT this thread is handling (its exits are counted on it). */
static _Thread_local struct emu_vcpu *hv_exiting;

/* Count an exit on the exiting vCPU (no cache line shared between vCPU threads); emu_exits adds up. */
static void hv_count(struct emu_machine *m, enum emu_exit_kind k)
{
	struct emu_vcpu *v = hv_exiting;

	if (v) {
		__atomic_store_n(&v->exits[k], v->exits[k] + 1, __ATOMIC_RELAXED);
	} else {
		__atomic_add_fetch(&m->stats.exits[k], 1, __ATOMIC_RELAXED);
	}
}

u64 emu_exits(const struct emu_machine *m, enum emu_exit_kind k)
{
	u64 n = __atomic_load_n(&m->stats.exits[k], __ATOMIC_RELAXED);

	for (unsigned i = 0; i < EMU_MAX_VCPUS; i++) {
		n += __atomic_load_n(&m->vcpus[i].exits[k], __ATOMIC_RELAXED);
	}
	return n;
}

/* Fill the page with the host's bytes: after a conversion the other side sees garbage. */
static void hv_scramble(struct emu_machine *m, u64 gpa)
{
	emu_mem_will_write(m, gpa, PAGE_SIZE);
	memset(emu_mem(m, gpa), 0xA5, PAGE_SIZE);
}

/* Hardware: save the guest's register file into its VMSA and record a VMGEXIT. */
static void hv_save_guest(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl)
{
	u8 *vmsa = emu_mem(m, v->vmsa_gpa[vmpl]);

	emu_mem_will_write(m, v->vmsa_gpa[vmpl], PAGE_SIZE);
	memcpy(vmsa + VMSA_RAX, &v->rax, 8);
	memcpy(vmsa + VMSA_RCX, &v->rcx, 8);
	memcpy(vmsa + VMSA_RDX, &v->rdx, 8);
	memcpy(vmsa + VMSA_R8, &v->r8, 8);
	memcpy(vmsa + VMSA_R9, &v->r9, 8);
	u64 code = VMEXIT_VMGEXIT;
	memcpy(vmsa + VMSA_GUEST_EXITCODE, &code, 8);
}

/* Hardware: VMRUN of the guest's VMSA. Fails (VMEXIT_INVALID) if the VMSA is not runnable. */
static bool hv_resume_guest(struct emu_machine *m, struct emu_vcpu *v, u8 vmpl)
{
	if (!v->vmsa_valid[vmpl]) {
		return false;
	}
	u64 gpa = v->vmsa_gpa[vmpl];
	u8 *vmsa = emu_mem(m, gpa);
	u64 efer = __atomic_load_n((const u64 *)(vmsa + VMSA_EFER), __ATOMIC_ACQUIRE);
	/* A runnable VMSA (RMP), not running elsewhere, that allows VMRUN (EFER.SVME). */
	if (!(efer & EFER_SVME) || !rmp_vmrun(&m->rmp, gpa)) {
		__atomic_fetch_add(&m->stats.vmrun_invalid, 1, __ATOMIC_RELAXED);
		return false;
	}
	memcpy(&v->rax, vmsa + VMSA_RAX, 8);
	memcpy(&v->rcx, vmsa + VMSA_RCX, 8);
	memcpy(&v->rdx, vmsa + VMSA_RDX, 8);
	memcpy(&v->r8, vmsa + VMSA_R8, 8);
	memcpy(&v->r9, vmsa + VMSA_R9, 8);
	v->vmpl = vmpl;
	emu_vcpu_vmrun(m, v, vmpl);
	return true;
}

/*
 * Switch @v from its current VMPL to @target. From the guest to VMPL0 this runs the
 * SVSM's request handler and comes back; returns 0 on success, non-zero as the error
 * the hypervisor reports.
 */
static u32 hv_run_vmpl(struct emu_machine *m, struct emu_vcpu *v, u8 target)
{
	u8 from = v->vmpl;

	if (target >= RMP_VMPL_COUNT || m->hostile.run_vmpl_fail) {
		return 1;
	}
	u32 refused = (u32)hv_decide(m, HOSTILE_RUN_VMPL, 0);
	if (refused) {
		return refused;
	}
	if (from == 0) {
		/*
		 * The SVSM asks to run its guest. In this process the guest is the caller of the
		 * request handler further up the stack, so "running it" means returning there:
		 * answer success now, the handler's return resumes the guest.
		 */
		return v->vmsa_valid[target] ? 0 : 1;
	}
	if (target != 0) {
		return 1; /* only the SVSM (VMPL0) may be entered from a guest VMPL */
	}
	if (!v->vmsa_valid[from]) {
		return 1;
	}
	u64 guest_vmsa = v->vmsa_gpa[from];
	hv_save_guest(m, v, from);
	rmp_vmexit(&m->rmp, guest_vmsa);
	v->vmpl = 0;
	struct emu_vcpu *prev = emu_vcpu_current();
	emu_vcpu_set_current(v);
	emu_request_begin(v, from);
	svsm_request_handle();
	emu_request_end(v);
	emu_vcpu_set_current(prev);
	/* The SVSM may have deleted this very VMSA or created a new one. */
	if (!hv_resume_guest(m, v, from)) {
		v->vmpl = from;
		v->destroyed_while_running = !v->vmsa_valid[from];
		return 2;
	}
	return 0;
}

static void hv_msr_protocol(struct emu_machine *m, struct emu_vcpu *v, u64 msr)
{
	u8 vmpl = v->vmpl;
	u64 resp;

	switch (GHCB_MSR_INFO(msr)) {
	case GHCB_MSR_SEV_INFO_REQ:
		hv_count(m, EXIT_MSR_SEV_INFO);
		resp = GHCB_MSR_SEV_INFO(GHCB_PROTOCOL_MAX, GHCB_PROTOCOL_MIN, EMU_CBIT);
		break;
	case GHCB_MSR_CPUID_REQ: {
		hv_count(m, EXIT_MSR_CPUID);
		unsigned reg = (unsigned)((msr >> 30) & 3);
		resp = ((u64)emu_hv_cpuid((u32)(msr >> 32), reg) << 32) | GHCB_MSR_CPUID_RESP;
		break;
	}
	case GHCB_MSR_REG_GPA_REQ: {
		hv_count(m, EXIT_MSR_REGISTER);
		u64 gfn = GHCB_MSR_DATA(msr);
		struct rmp_entry e;
		/* A GHCB must be a shared page inside guest memory. */
		if (!rmp_read(&m->rmp, gfn << PAGE_SHIFT, &e) || e.assigned) {
			resp = (0xFFFFFFFFFFFFFull << 12) | GHCB_MSR_REG_GPA_RESP;
		} else {
			v->ghcb_registered[vmpl] = (gfn << PAGE_SHIFT) + 1;
			if (m->hostile.register_bad_echo) {
				gfn ^= 1;
			}
			resp = (gfn << 12) | GHCB_MSR_REG_GPA_RESP;
		}
		break;
	}
	case GHCB_MSR_PSC_REQ: {
		hv_count(m, EXIT_MSR_PSC);
		u64 gpa = GHCB_MSR_PSC_GFN(msr) << PAGE_SHIFT;
		u64 op = GHCB_MSR_PSC_OP(msr);
		u32 rc = 1;
		if (m->hostile.psc_fail || !hv_decide(m, HOSTILE_MSR_PSC_DO, 1)) {
			rc = 1;
		} else if (op == PSC_OP_PRIVATE) {
			rc = rmp_make_private(&m->rmp, gpa, false);
		} else if (op == PSC_OP_SHARED) {
			rc = rmp_make_shared(&m->rmp, gpa);
		}
		if (rc == RMP_SUCCESS) {
			hv_scramble(m, gpa);
		}
		resp = ((u64)(rc != RMP_SUCCESS) << 32) | GHCB_MSR_PSC_RESP;
		break;
	}
	case GHCB_MSR_RUN_VMPL_REQ: {
		hv_count(m, EXIT_MSR_RUN_VMPL);
		/* Reserved bits 31:12 and 63:40 must be zero. */
		u32 rc = (msr & 0xFFFFFF00000FF000ull) ? 1 : hv_run_vmpl(m, v, GHCB_MSR_RUN_VMPL_TARGET(msr));
		resp = ((u64)rc << 32) | GHCB_MSR_RUN_VMPL_RESP;
		/* The answer lands in the MSR of the VMPL that asked. */
		v->ghcb_msr[vmpl] = m->hostile.msr_garbage ? 0xFFF : hv_decide(m, HOSTILE_MSR_RESPONSE, resp);
		return;
	}
	case GHCB_MSR_HV_FEATURES_REQ:
		hv_count(m, EXIT_MSR_HV_FEATURES);
		resp = (EMU_HV_FEATURES << 12) | GHCB_MSR_HV_FEATURES_RESP;
		break;
	case GHCB_MSR_TERM_REQ:
		hv_count(m, EXIT_MSR_TERMINATE);
		emu_terminate(m, GHCB_MSR_TERM_SET(msr), GHCB_MSR_TERM_CODE(msr));
	default:
		/* KVM refuses unknown MSR-protocol requests by stopping the guest. */
		hv_count(m, EXIT_MSR_OTHER);
		emu_terminate(m, TERM_SET_GENERAL, TERM_GHCB_PROTOCOL);
	}
	if (m->hostile.msr_garbage) {
		resp = (resp & ~GHCB_MSR_INFO_MASK) | 0xFFF;
	}
	v->ghcb_msr[vmpl] = hv_decide(m, HOSTILE_MSR_RESPONSE, resp);
}

/* Answer a NAE with SW_EXITINFO1 = 2 and @reason in SW_EXITINFO2. */
static void hv_nae_error(struct emu_machine *m, struct ghcb *g, u64 reason)
{
	hv_count(m, EXIT_NAE_ERROR);
	ghcb_set_sw_exit_info_1(g, GHCB_NAE_ERROR);
	ghcb_set_sw_exit_info_2(g, reason);
}

/* The scratch area [scratch, scratch + len) must lie inside the GHCB's shared buffer. */
static bool hv_scratch_ok(u64 ghcb_gpa, u64 scratch, u64 len)
{
	u64 lo = ghcb_gpa + GHCB_SHARED_BUFFER_OFFSET;
	u64 hi = lo + GHCB_SHARED_BUFFER_SIZE;

	return scratch >= lo && scratch <= hi && len <= hi - scratch;
}

static void hv_nae_ioio(struct emu_machine *m, struct ghcb *g)
{
	hv_count(m, EXIT_NAE_IOIO);
	if (!ghcb_sw_exit_info_1_is_valid(g)) {
		hv_nae_error(m, g, GHCB_ERR_MISSING_INPUT);
		return;
	}
	u64 info = ghcb_get_sw_exit_info_1(g);
	u16 port = (u16)(info >> IOIO_PORT_SHIFT);
	/* String and REP forms need a scratch area; the core never uses them. */
	if (info & (BIT(2) | BIT(3))) {
		hv_nae_error(m, g, GHCB_ERR_INVALID_INPUT);
		return;
	}
	if (m->hostile.ioio_fail || hv_decide(m, HOSTILE_IOIO, 0)) {
		hv_nae_error(m, g, GHCB_ERR_INVALID_INPUT);
		return;
	}
	if (info & IOIO_TYPE_IN) {
		/* Serial line status: transmitter empty; everything else reads as 0. */
		ghcb_set_rax(g, port == EMU_SERIAL_PORT + 5 ? 0x60 : 0);
	} else {
		if (!ghcb_rax_is_valid(g)) {
			hv_nae_error(m, g, GHCB_ERR_MISSING_INPUT);
			return;
		}
		if (port == EMU_SERIAL_PORT) {
			char c = (char)ghcb_get_rax(g);
			__atomic_fetch_add(&m->stats.console_bytes, 1, __ATOMIC_RELAXED);
			m->host.console_write(m, &c, 1);
		}
	}
	ghcb_set_sw_exit_info_1(g, 0);
	ghcb_set_sw_exit_info_2(g, 0);
}

/* Page state change through the GHCB shared buffer (with 2 MiB entries and progress). */
static void hv_nae_psc(struct emu_machine *m, struct ghcb *g, u64 ghcb_gpa)
{
	hv_count(m, EXIT_NAE_PSC);
	if (!ghcb_sw_scratch_is_valid(g)) {
		hv_nae_error(m, g, GHCB_ERR_MISSING_INPUT);
		return;
	}
	u64 scratch = ghcb_get_sw_scratch(g);
	if (!hv_scratch_ok(ghcb_gpa, scratch, sizeof(struct psc_hdr))) {
		hv_nae_error(m, g, GHCB_ERR_INVALID_SCRATCH_AREA);
		return;
	}
	u8 *buf = g->shared_buffer + (scratch - ghcb_gpa - GHCB_SHARED_BUFFER_OFFSET);
	struct psc_hdr hdr;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.end_entry >= PSC_MAX_ENTRIES || hdr.cur_entry > hdr.end_entry ||
	    !hv_scratch_ok(ghcb_gpa, scratch, sizeof(hdr) + 8ull * (hdr.end_entry + 1u))) {
		hv_nae_error(m, g, GHCB_ERR_INVALID_INPUT);
		return;
	}
	if (m->hostile.psc_fail) {
		ghcb_set_sw_exit_info_1(g, 0);
		ghcb_set_sw_exit_info_2(g, 1);
		return;
	}
	u32 budget = m->hostile.psc_partial ? m->hostile.psc_partial : PSC_MAX_ENTRIES;
	if (m->hostile.psc_no_progress) {
		budget = 0;
	}
	budget = (u32)hv_decide(m, HOSTILE_PSC_BUDGET, budget);
	u64 error = 0;
	while (hdr.cur_entry <= hdr.end_entry && budget > 0) {
		u64 e;
		memcpy(&e, buf + sizeof(hdr) + 8ull * hdr.cur_entry, 8);
		u64 op = PSC_ENTRY_OP(e);
		bool huge = (e & PSC_ENTRY_2M) != 0;
		u64 gpa = PSC_ENTRY_GFN(e) << PAGE_SHIFT;
		if ((e & PSC_ENTRY_RESERVED_MASK) || (op != PSC_OP_PRIVATE && op != PSC_OP_SHARED) ||
		    (huge && !IS_ALIGNED(gpa, PAGE_2M_SIZE))) {
			error = 1;
			break;
		}
		u32 rc;
		if (op == PSC_OP_PRIVATE) {
			rc = rmp_make_private(&m->rmp, gpa, huge);
		} else if (huge) {
			rc = RMP_SUCCESS;
			for (u64 p = 0; p < PAGES_PER_2M && rc == RMP_SUCCESS; p++) {
				rc = rmp_make_shared(&m->rmp, gpa + p * PAGE_SIZE);
			}
		} else {
			rc = rmp_make_shared(&m->rmp, gpa);
		}
		if (rc != RMP_SUCCESS) {
			error = 1;
			break;
		}
		for (u64 p = 0; p < (huge ? PAGES_PER_2M : 1); p++) {
			hv_scramble(m, gpa + p * PAGE_SIZE);
		}
		hdr.cur_entry++;
		budget--;
	}
	hdr.cur_entry = (u16)hv_decide(m, HOSTILE_PSC_CUR_ENTRY, hdr.cur_entry);
	memcpy(buf, &hdr, sizeof(hdr));
	ghcb_set_sw_exit_info_1(g, 0);
	ghcb_set_sw_exit_info_2(g, hv_decide(m, HOSTILE_PSC_ERROR, error));
}

static void hv_ap_creation_locked(struct emu_machine *m, struct emu_vcpu *v, struct ghcb *g, unsigned op, u8 vmpl,
				  u32 apic_id, u64 vmsa_gpa);

static void hv_nae_ap_creation(struct emu_machine *m, struct emu_vcpu *v, struct ghcb *g)
{
	hv_count(m, EXIT_NAE_AP_CREATION);
	if (!ghcb_sw_exit_info_1_is_valid(g) || !ghcb_sw_exit_info_2_is_valid(g)) {
		hv_nae_error(m, g, GHCB_ERR_MISSING_INPUT);
		return;
	}
	u64 info1 = ghcb_get_sw_exit_info_1(g);
	u64 vmsa_gpa = ghcb_get_sw_exit_info_2(g);
	unsigned op = (unsigned)(info1 & 0xFFFF);
	u8 vmpl = (u8)((info1 >> 16) & 0xF);
	u32 apic_id = (u32)(info1 >> 32);
	if (op > SVM_AP_DESTROY || vmpl >= RMP_VMPL_COUNT || vmpl < v->vmpl || (op != SVM_AP_DESTROY && !ghcb_rax_is_valid(g)) ||
	    !emu_cpu_present(m, apic_id) || m->hostile.ap_create_fail) {
		hv_nae_error(m, g, GHCB_ERR_INVALID_INPUT);
		return;
	}
	u64 lie = hv_decide(m, HOSTILE_AP_CREATION, 0);
	if (lie == 1) {
		hv_nae_error(m, g, GHCB_ERR_INVALID_INPUT);
		return;
	}
	if (lie != 0) {
		/* Claims success without touching any vCPU. */
		ghcb_set_sw_exit_info_1(g, 0);
		ghcb_set_sw_exit_info_2(g, 0);
		return;
	}
	spin_lock(&m->lock);
	hv_ap_creation_locked(m, v, g, op, vmpl, apic_id, vmsa_gpa);
	spin_unlock(&m->lock);
}

/* AP creation proper, under m->lock: it changes another vCPU's VMSA slots. */
static void hv_ap_creation_locked(struct emu_machine *m, struct emu_vcpu *v, struct ghcb *g, unsigned op, u8 vmpl,
				  u32 apic_id, u64 vmsa_gpa)
{
	struct emu_vcpu *t = emu_vcpu_find(m, apic_id);
	if (op == SVM_AP_DESTROY) {
		if (!t || !t->vmsa_valid[vmpl]) {
			hv_nae_error(m, g, GHCB_ERR_INVALID_INPUT);
			return;
		}
		rmp_vmexit(&m->rmp, t->vmsa_gpa[vmpl]);
		t->vmsa_valid[vmpl] = false;
		t->vmsa_gpa[vmpl] = 0;
		ghcb_set_sw_exit_info_1(g, 0);
		ghcb_set_sw_exit_info_2(g, 0);
		return;
	}
	/* KVM checks the page is a guest VMSA: private, validated, with the RMP VMSA bit. */
	struct rmp_entry e;
	if (!IS_ALIGNED(vmsa_gpa, PAGE_SIZE) || !rmp_read(&m->rmp, vmsa_gpa, &e) || !e.assigned || !e.validated ||
	    !e.vmsa) {
		hv_nae_error(m, g, GHCB_ERR_INVALID_INPUT);
		return;
	}
	if (!t) {
		for (unsigned i = 0; i < EMU_MAX_VCPUS && !t; i++) {
			if (!m->vcpus[i].present) {
				t = &m->vcpus[i];
				*t = (struct emu_vcpu){.apic_id = apic_id, .vmpl = vmpl};
				__atomic_store_n(&t->present, true, __ATOMIC_RELEASE);
			}
		}
		if (!t) {
			hv_nae_error(m, g, GHCB_ERR_INVALID_INPUT);
			return;
		}
	}
	if (t->vmsa_valid[vmpl]) {
		rmp_vmexit(&m->rmp, t->vmsa_gpa[vmpl]);
	}
	t->vmsa_gpa[vmpl] = vmsa_gpa;
	t->vmsa_valid[vmpl] = true;
	/* A new AP starts running its VMSA at once; the caller's own context is not running now. */
	if (t != v) {
		t->vmpl = vmpl;
		/* Checked runnable above; if another vCPU runs it (a host's error), it stays that one's. */
		(void)rmp_vmrun(&m->rmp, vmsa_gpa);
		emu_vcpu_vmrun(m, t, vmpl);
	}
	ghcb_set_sw_exit_info_1(g, 0);
	ghcb_set_sw_exit_info_2(g, 0);
}

/* A NAE through the GHCB page at @gpa. */
static void hv_ghcb_protocol(struct emu_machine *m, struct emu_vcpu *v, u64 gpa)
{
	u8 vmpl = v->vmpl;

	/* The GHCB must be the page registered for this VMPL, and shared. */
	if (v->ghcb_registered[vmpl] != gpa + 1) {
		hv_count(m, EXIT_NAE_ERROR);
		emu_terminate(m, TERM_SET_GENERAL, TERM_GENERAL_REQUEST);
	}
	struct rmp_fault f;
	if (!rmp_check_access(&m->rmp, RMP_HYPERVISOR, false, gpa, PAGE_SIZE, RMP_ACCESS_WRITE, &f)) {
		emu_fault_record(m, &f);
		hv_count(m, EXIT_NAE_ERROR);
		emu_terminate(m, TERM_SET_GENERAL, TERM_GENERAL_REQUEST);
	}
	/* Work on a copy so the guest cannot change fields between check and use. */
	struct ghcb g;
	memcpy(&g, emu_mem(m, gpa), sizeof(g));
	u64 exit_code = ghcb_get_sw_exit_code(&g);

	if (g.usage != GHCB_USAGE_STANDARD) {
		hv_nae_error(m, &g, GHCB_ERR_INVALID_USAGE);
	} else if (!ghcb_sw_exit_code_is_valid(&g)) {
		hv_nae_error(m, &g, GHCB_ERR_MISSING_INPUT);
	} else {
		switch (exit_code) {
		case SVM_EXIT_IOIO:
			hv_nae_ioio(m, &g);
			break;
		case SVM_EXIT_CPUID:
			hv_count(m, EXIT_NAE_CPUID);
			if (!ghcb_rax_is_valid(&g) || !ghcb_rcx_is_valid(&g)) {
				hv_nae_error(m, &g, GHCB_ERR_MISSING_INPUT);
				break;
			}
			for (unsigned r = 0; r < 4; r++) {
				u64 val = emu_hv_cpuid((u32)ghcb_get_rax(&g), r);
				static const unsigned off[4] = {GHCB_OFF_RAX, GHCB_OFF_RBX, GHCB_OFF_RCX, GHCB_OFF_RDX};
				memcpy(g.save + off[r], &val, 8);
			}
			ghcb_set_sw_exit_info_1(&g, 0);
			break;
		case SVM_VMGEXIT_PSC:
			hv_nae_psc(m, &g, gpa);
			break;
		case SVM_VMGEXIT_AP_CREATION:
			hv_nae_ap_creation(m, v, &g);
			break;
		case SVM_VMGEXIT_SNP_RUN_VMPL: {
			hv_count(m, EXIT_NAE_RUN_VMPL);
			if (!ghcb_sw_exit_info_1_is_valid(&g)) {
				hv_nae_error(m, &g, GHCB_ERR_MISSING_INPUT);
				break;
			}
			u64 target = ghcb_get_sw_exit_info_1(&g);
			/* Write the request back first: the switch may re-enter and reuse the page. */
			emu_mem_will_write(m, gpa, sizeof(g));
			memcpy(emu_mem(m, gpa), &g, sizeof(g));
			u32 rc = target > 3 ? 1 : hv_run_vmpl(m, v, (u8)target);
			memcpy(&g, emu_mem(m, gpa), sizeof(g));
			if (rc != 0) {
				hv_nae_error(m, &g, GHCB_ERR_INVALID_INPUT);
			} else {
				ghcb_set_sw_exit_info_1(&g, 0);
				ghcb_set_sw_exit_info_2(&g, 0);
			}
			break;
		}
		case SVM_VMGEXIT_GUEST_REQUEST:
		case SVM_VMGEXIT_EXT_GUEST_REQUEST:
			/* Served by the PSP model and its host side (emu/psp/), if the machine has one. */
			if (m->cfg.psp && m->cfg.psp->guest_request) {
				hv_count(m, EXIT_NAE_GUEST_REQUEST);
				m->cfg.psp->guest_request(m->cfg.psp_ctx, m, v, &g, exit_code);
			} else {
				hv_count(m, EXIT_NAE_OTHER);
				hv_nae_error(m, &g, GHCB_ERR_INVALID_EVENT);
			}
			break;
		case SVM_VMGEXIT_HV_FEATURES:
			hv_count(m, EXIT_NAE_HV_FEATURES);
			ghcb_set_sw_exit_info_1(&g, 0);
			ghcb_set_sw_exit_info_2(&g, EMU_HV_FEATURES);
			break;
		case SVM_VMGEXIT_TERM_REQUEST: {
			hv_count(m, EXIT_NAE_TERMINATE);
			u64 info = ghcb_sw_exit_info_1_is_valid(&g) ? ghcb_get_sw_exit_info_1(&g) : 0;
			emu_terminate(m, (u8)(info & 0xF), (u8)((info >> 4) & 0xFF));
		}
		default:
			hv_count(m, EXIT_NAE_OTHER);
			hv_nae_error(m, &g, GHCB_ERR_INVALID_EVENT);
			break;
		}
	}
	if (m->hostile.decide) {
		ghcb_set_sw_exit_info_1(&g, hv_decide(m, HOSTILE_NAE_EXITINFO1, ghcb_get_sw_exit_info_1(&g)));
		ghcb_set_sw_exit_info_2(&g, hv_decide(m, HOSTILE_NAE_EXITINFO2, ghcb_get_sw_exit_info_2(&g)));
	}
	emu_mem_will_write(m, gpa, sizeof(g));
	memcpy(emu_mem(m, gpa), &g, sizeof(g));
}

/* See machine.h. */
u32 emu_host_take_page(struct emu_machine *m, u64 gpa, enum emu_take_op op)
{
	gpa = ALIGN_DOWN(gpa, PAGE_SIZE);
	if (gpa >= m->cfg.mem_size || emu_in_hole(&m->cfg, gpa, PAGE_SIZE)) {
		return RMP_FAULT;
	}
	u32 rc = rmp_make_shared(&m->rmp, gpa);
	if (rc != RMP_SUCCESS) {
		return rc;
	}
	if (!emu_host_took(m, gpa >> PAGE_SHIFT)) {
		spin_lock(&m->lock);
		if (m->host_taken.count < ARRAY_COUNT(m->host_taken.pfn)) {
			m->host_taken.pfn[m->host_taken.count++] = gpa >> PAGE_SHIFT;
		} else {
			m->host_taken.overflow = true;
		}
		spin_unlock(&m->lock);
	}
	hv_scramble(m, gpa);
	if (op == TAKE_OP_REASSIGN) {
		rc = rmp_make_private(&m->rmp, gpa, false);
	}
	return rc;
}

/* See machine.h. */
bool emu_host_took(const struct emu_machine *m, u64 pfn)
{
	struct spinlock *lock = (struct spinlock *)&m->lock;
	bool took = m->host_taken.overflow;

	spin_lock(lock);
	for (u32 i = 0; i < m->host_taken.count && !took; i++) {
		took = m->host_taken.pfn[i] == pfn;
	}
	took = took || m->host_taken.overflow;
	spin_unlock(lock);
	return took;
}

/* The page a planned take aims at, for the request @v is serving; 0 if there is none. */
static u64 hv_take_target(struct emu_machine *m, struct emu_vcpu *v, const struct emu_take *t)
{
	u8 vmpl = v->trace.vmpl;
	struct svsm_vcpu *sv = vcpu_find_apic(v->apic_id);

	switch (t->target) {
	case TAKE_TARGET_GPA:
		return t->gpa;
	case TAKE_TARGET_SVSM_FIRST:
		return m->cfg.svsm_base;
	case TAKE_TARGET_SVSM_LAST:
		return m->cfg.svsm_base + m->cfg.svsm_size - PAGE_SIZE;
	case TAKE_TARGET_CALLER_VMSA:
		return v->vmsa_valid[vmpl] ? v->vmsa_gpa[vmpl] : 0;
	case TAKE_TARGET_CALLER_CA:
		return sv ? sv->caa_gpa : 0;
	case TAKE_TARGET_SVSM_GHCB:
		return v->ghcb_registered[0] ? v->ghcb_registered[0] - 1 : 0;
	case TAKE_TARGET_SVSM_VCPU: {
		if (!sv) {
			return 0;
		}
		/* The state lives in SVSM memory reached through the direct map. */
		const u8 *p = (const u8 *)sv;
		if (m->svsm_map && p >= m->svsm_map && p < m->svsm_map + m->cfg.mem_size) {
			return (u64)(p - m->svsm_map);
		}
		if (p >= m->mem && p < m->mem + m->cfg.mem_size) {
			return (u64)(p - m->mem);
		}
		return 0;
	}
	case TAKE_TARGET_RCX:
		return v->rcx;
	case TAKE_TARGET_RDX:
		return v->rdx;
	case TAKE_TARGET_LIST_ENTRY: {
		struct svsm_list_hdr h;
		u64 list = v->rcx;
		if (!IS_ALIGNED(list, 8) || list + PAGE_SIZE > m->cfg.mem_size) {
			return 0;
		}
		memcpy(&h, emu_mem(m, list), sizeof(h));
		u64 at = list + sizeof(h) + 8ull * h.next;
		if (h.next >= h.entries || ALIGN_DOWN(at, PAGE_SIZE) != ALIGN_DOWN(list, PAGE_SIZE)) {
			return 0;
		}
		u64 e;
		memcpy(&e, emu_mem(m, at), 8);
		return e & ~PAGE_MASK;
	}
	}
	return 0;
}

/* See machine.h. */
void emu_host_opportunity(struct emu_machine *m, struct emu_vcpu *v, enum emu_opp kind)
{
	struct emu_req_trace *tr = &v->trace;
	const struct emu_take *k = m->hostile.takes;

	/* Nothing armed (the usual case): no bookkeeping at all. */
	if (!tr->active || (!(k[0].armed | k[1].armed | k[2].armed | k[3].armed) && !m->hostile.decide)) {
		return;
	}
	_Static_assert(EMU_TAKES_MAX == 4, "the check above names every take");
	u32 n_any = tr->opportunities[OPP_ANY]++;
	u32 n_kind = tr->opportunities[kind]++;
	for (unsigned i = 0; i < EMU_TAKES_MAX; i++) {
		struct emu_take *t = &m->hostile.takes[i];
		if (!t->armed || t->done || (t->call != ~0ull && t->call != v->rax)) {
			continue;
		}
		if ((t->kind == OPP_ANY && n_any == t->at) || (t->kind == kind && n_kind == t->at)) {
			u64 gpa = hv_take_target(m, v, t);
			t->done = true;
			t->taken_gpa = gpa;
			t->refused = !gpa || emu_host_take_page(m, gpa, t->op) != RMP_SUCCESS;
		}
	}
	if (m->hostile.decide) {
		u64 d = hv_decide(m, HOSTILE_TAKE_PAGE, 0);
		if (d & 3) {
			emu_host_take_page(m, d & ~PAGE_MASK, (enum emu_take_op)(d & 3) == TAKE_OP_REASSIGN
								      ? TAKE_OP_REASSIGN
								      : TAKE_OP_SHARED);
		}
	}
}

/* VMGEXIT from @v: the MSR protocol or the registered GHCB page. */
void emu_hv_vmgexit(struct emu_machine *m, struct emu_vcpu *v)
{
	u64 msr = v->ghcb_msr[v->vmpl];
	struct emu_vcpu *outer = hv_exiting;

	hv_exiting = v;
	if (v->vmpl == 0) {
		emu_host_opportunity(m, v, OPP_VMGEXIT);
	}

	if (GHCB_MSR_INFO(msr) == 0) {
		hv_ghcb_protocol(m, v, msr);
	} else {
		hv_msr_protocol(m, v, msr);
	}
	/* Back to a guest VMPL: a VMRUN of its VMSA (the flush check of the TLB model). */
	if (v->vmpl != 0) {
		emu_vcpu_vmrun(m, v, v->vmpl);
		hv_exiting = outer;
}
}
