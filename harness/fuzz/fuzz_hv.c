/*
 * Fuzz target "hv": the core against a hostile hypervisor. Input bytes decide the
 * hypervisor's answers (struct emu_hostile's decide hook: MSR-protocol responses, page
 * state change progress and results, AP creation, run-VMPL and IOIO errors, SW_EXITINFO
 * of every GHCB exit) while the SVSM boots and while it serves calls, sets up the GHCB of
 * a new vCPU, deletes its own VMSA, writes to its console and uses the GHCB client; and,
 * at every host opportunity of a request (each privileged operation, guest copy and
 * VMGEXIT of the SVSM), whether the host takes a page (HOSTILE_TAKE_PAGE): anywhere in
 * guest memory, the SVSM's own pages, VMSAs, GHCBs and calling areas included. The
 * SVSM then either never uses the page again or faults on it (TERM_SVSM_FAULT, a
 * fail-safe end); an oracle violation or a finding of the machine is a bug.
 *
 * Input: the common header, a mode byte (bit 0: hostile from the start, i.e. during
 * svsm_boot; else only after the header's setup), then operations; the hypervisor's
 * decisions take bytes from the same stream whenever it answers (75% of byte values
 * mean "answer honestly", at a host opportunity 94%; a finished input means honest
 * answers). A take is a byte >= 0xF0 (bit 0: make the page shared, else shared and
 * private again, i.e. reassigned), then a target byte (fuzz_hv_take_target), for some
 * targets more bytes:
 *   0 call       vcpu byte, call id byte, RCX (fuzz_value): a core call from the guest
 *   1 new vcpu   APIC byte: CREATE_VCPU + AP creation, then its first call (GHCB set-up)
 *   2 self-del   vcpu byte: the vCPU deletes its own VMSA (AP destroy by the SVSM)
 *   3 console    u16: the SVSM logs an error line (IOIO through its GHCB)
 *   4 psc        page (u16, in the unvalidated upper 8 MiB), count u16, op byte: ghcb_psc
 *   5 msr        kind byte, u64 argument: one MSR-protocol request of the client
 *   6 ghcb page  kind byte, byte argument: hv-features or run-VMPL through the GHCB page
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/ghcb.h>
#include <svsm/ghcb_client.h>
#include <svsm/log.h>
#include <svsm/svsm_abi.h>

#include "fuzz_common.h"
#include "guest.h"
#include "machine.h"

#define FUZZ_HV_OPS 7
#define FUZZ_HV_PSC_BASE (24ull << 20)
#define FUZZ_HV_TAKE_TARGETS 16

static struct emu_guest *fuzz_hv_guest_vcpu(u32 apic, struct guest_vcpu **gv)
{
	struct emu_guest *g = fuzz_guest_of(apic);

	*gv = guest_vcpu(g, apic);
	return g;
}

/*
 * The page a take aims at (0: none), from what the machine and the guest driver know
 * (never the SVSM's memory: the harness must not touch a page the host may have taken):
 *   0 the caller's VMSA      1 the caller's calling area     2 the SVSM's GHCB on this vCPU
 *   3 the SVSM's state of the calling vCPU (struct svsm_vcpu)
 *   4/5/6 the page RCX/RDX/R8 names (a list, a buffer, a VMSA, a calling area)
 *   7 the page of the list entry at "next" (PVALIDATE, DEPOSIT_MEM)
 *   8 the SVSM region's first page (the ownership map)   9 an SVSM page (u16)
 *   10 any page of guest memory (u16)                     11 the guest's GHCB
 *   12/13 the VMSA / calling area of a guest vCPU (byte)  14 the startup vCPU's VMSA
 *   15 a page of the window (u16)
 */
static u64 fuzz_hv_take_target(struct fuzz_in *in)
{
	struct emu_machine *m = fuzz_m();
	struct emu_vcpu *v = emu_vcpu_current();
	u8 sel = fuzz_u8(in) % FUZZ_HV_TAKE_TARGETS;
	struct guest_vcpu *gv = NULL;

	if (!v) {
		return 0;
	}
	switch (sel) {
	case 0:
		return v->vmsa_valid[v->trace.vmpl] ? v->vmsa_gpa[v->trace.vmpl] : 0;
	case 1:
		fuzz_hv_guest_vcpu(v->apic_id, &gv);
		return gv ? gv->caa_gpa : 0;
	case 2:
		return v->ghcb_registered[0] ? v->ghcb_registered[0] - 1 : 0;
	case 3:
		return fuzz_caller_svsm_page();
	case 4:
		return v->rcx;
	case 5:
		return v->rdx;
	case 6:
		return v->r8;
	case 7: {
		struct svsm_list_hdr h;
		u64 e;
		if (!IS_ALIGNED(v->rcx, 8) || v->rcx >= FUZZ_MEM_SIZE - PAGE_SIZE) {
			return 0;
		}
		memcpy(&h, emu_mem(m, v->rcx), sizeof(h));
		u64 at = v->rcx + sizeof(h) + 8ull * h.next;
		if (h.next >= h.entries || ALIGN_DOWN(at, PAGE_SIZE) != ALIGN_DOWN(v->rcx, PAGE_SIZE)) {
			return 0;
		}
		memcpy(&e, emu_mem(m, at), 8);
		return e;
	}
	case 8:
		return FUZZ_SVSM_BASE;
	case 9:
		return FUZZ_SVSM_BASE + (u64)(fuzz_u16(in) % (FUZZ_SVSM_SIZE >> PAGE_SHIFT)) * PAGE_SIZE;
	case 10:
		return (u64)(fuzz_u16(in) % FUZZ_MEM_PAGES) << PAGE_SHIFT;
	case 11:
		return fuzz_g()->vcpus[0].ghcb_gpa;
	case 12:
	case 13:
		fuzz_hv_guest_vcpu(fuzz_u8(in) % (FUZZ_MAX_EXTRA_VCPUS + 2), &gv);
		return !gv ? 0 : sel == 12 ? gv->vmsa_gpa : gv->caa_gpa;
	case 14: {
		const struct emu_vcpu *bsp = &m->vcpus[0];
		return bsp->vmsa_valid[EMU_GUEST_VMPL] ? bsp->vmsa_gpa[EMU_GUEST_VMPL] : 0;
	}
	default:
		return FUZZ_WINDOW + (u64)(fuzz_u16(in) % (FUZZ_WINDOW_REGIONS * PAGES_PER_2M)) * PAGE_SIZE;
	}
}

/* The hypervisor's answer at @point: honest unless the next input byte says otherwise. */
static u64 fuzz_hv_fuzz_decide(void *ctx, enum emu_hostile_point point, u64 proper)
{
	struct fuzz_in *in = ctx;

	if (!fuzz_more(in)) {
		return proper;
	}
	u8 b = fuzz_u8(in);
	if (point == HOSTILE_TAKE_PAGE) {
		/* Many opportunities per call: a take is rarer than a lie. */
		if (b < 0xF0) {
			return proper;
		}
		u64 gpa = fuzz_hv_take_target(in) & ~PAGE_MASK;
		return gpa >= FUZZ_MEM_SIZE ? 0 : gpa | ((b & 1) ? TAKE_OP_SHARED : TAKE_OP_REASSIGN);
	}
	if (b < 0xC0) {
		return proper;
	}
	switch (point) {
	case HOSTILE_MSR_RESPONSE:
		switch (b & 7) {
		case 0:
			return proper ^ 1; /* another response code */
		case 1:
			return proper | BIT(32); /* an error */
		case 2:
			return fuzz_u64(in);
		case 3:
			return (proper & GHCB_MSR_INFO_MASK) | (fuzz_u64(in) & ~(u64)GHCB_MSR_INFO_MASK);
		case 4:
			return 0;
		case 5:
			return proper + 0x1000; /* data off by one (a wrong GFN echo) */
		default:
			return proper;
		}
	case HOSTILE_MSR_PSC_DO:
		return 0;
	case HOSTILE_PSC_BUDGET:
		return b & 7;
	case HOSTILE_PSC_CUR_ENTRY:
		return (b & 1) ? fuzz_u16(in) : proper - 1;
	case HOSTILE_PSC_ERROR:
		return (b & 1) ? 1 : fuzz_u64(in);
	case HOSTILE_AP_CREATION:
		return 1 + (b & 1);
	case HOSTILE_RUN_VMPL:
		return 1 + (b & 3);
	case HOSTILE_IOIO:
		return 1;
	case HOSTILE_NAE_EXITINFO1:
		switch (b & 3) {
		case 0:
			return GHCB_NAE_EXCEPTION;
		case 1:
			return GHCB_NAE_ERROR;
		default:
			return fuzz_u64(in);
		}
	case HOSTILE_NAE_EXITINFO2:
		return (b & 1) ? fuzz_u64(in) : proper + 1;
	default:
		return proper;
	}
}

static void fuzz_hv_hostile_on(struct fuzz_in *in)
{
	fuzz_m()->hostile.decide = fuzz_hv_fuzz_decide;
	fuzz_m()->hostile.decide_ctx = in;
}

static u32 fuzz_hv_vcpu(struct fuzz_in *in)
{
	return fuzz_u8(in) % (FUZZ_MAX_EXTRA_VCPUS + 2);
}

struct fuzz_hv_start {
	u32 apic;
	u64 vmsa, caa;
	int rc;
};

static void fuzz_hv_start_fn(void *p)
{
	struct fuzz_hv_start *st = p;

	st->rc = guest_start_vcpu(fuzz_g(), st->apic, st->vmsa, st->caa);
}

static void fuzz_hv_new_vcpu(struct fuzz_in *in)
{
	struct fuzz_hv_start st = {.apic = 1 + fuzz_u8(in) % (FUZZ_MAX_EXTRA_VCPUS + 1), .rc = -1};

	if (guest_vcpu(fuzz_guest_of(st.apic), st.apic)) {
		return;
	}
	if (guest_prepare_vcpu(fuzz_g(), &st.vmsa, &st.caa) != 0) {
		return;
	}
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_CREATE_VCPU), .rcx = st.vmsa, .rdx = st.caa, .r8 = st.apic};
	if (fuzz_call(0, &r, false) != GUEST_OK || (u32)r.rax != SVSM_SUCCESS) {
		return;
	}
	/* AP creation may set the guest's GHCB up first: SVSM calls, checked like the others. */
	fuzz_guest_op(fuzz_hv_start_fn, &st);
	if (st.rc != 0) {
		return;
	}
	struct guest_regs q = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1ull << 32 | 1};
	fuzz_call(st.apic, &q, false);
}

static void fuzz_hv_self_delete(struct fuzz_in *in)
{
	u32 apic = fuzz_hv_vcpu(in);
	struct guest_vcpu *gv = guest_vcpu(fuzz_guest_of(apic), apic);

	if (!gv || apic == 0) {
		return;
	}
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_DELETE_VCPU), .rcx = gv->vmsa_gpa};
	fuzz_call(apic, &r, false);
}

/* Direct uses of the GHCB client, as VMPL0 code on the startup vCPU. */
struct fuzz_hv_client_op {
	u8 kind;
	u64 a, b;
	u8 c;
};

static void fuzz_hv_client_fn(void *p)
{
	const struct fuzz_hv_client_op *op = p;
	struct svsm_cpu *bsp = cpu_find_apic(0);
	u16 min, max;
	u8 cbit;
	u32 v32;
	u64 v64;

	switch (op->kind) {
	case 3:
		log_error("fuzz console line %u", (unsigned)op->a);
		break;
	case 4:
		if (bsp && bsp->ghcb_ready) {
			int rc = ghcb_psc(&bsp->ghcb, op->a, op->b, op->c);
			if (rc > 0 || rc < GHCB_CLIENT_EXCEPTION) {
				fuzz_finding("ghcb_psc returned %d", rc);
			}
		}
		break;
	case 5:
		switch (op->c % 6) {
		case 0:
			if (ghcb_msr_sev_info(&min, &max, &cbit) == GHCB_CLIENT_OK && min > max) {
				fuzz_finding("ghcb_msr_sev_info accepted min %u > max %u", min, max);
			}
			break;
		case 1:
			ghcb_msr_cpuid((u32)op->a, (unsigned)(op->a >> 32) & 3, &v32);
			break;
		case 2:
			ghcb_msr_hv_features(&v64);
			break;
		case 3:
			ghcb_msr_psc(FUZZ_HV_PSC_BASE + ((op->a % 2048) << PAGE_SHIFT), (op->a & BIT(20)) ? PSC_OP_SHARED
												  : PSC_OP_PRIVATE);
			break;
		case 4:
			ghcb_msr_run_vmpl((u8)(op->a & 3));
			break;
		default:
			if (bsp && bsp->ghcb_ready) {
				/* Registering the same GHCB again must keep it usable or fail cleanly. */
				if (ghcb_msr_register(bsp->ghcb.gpa) != GHCB_CLIENT_OK) {
					arch_ghcb_msr_write(bsp->ghcb.gpa);
				}
			}
			break;
		}
		break;
	default:
		if (bsp && bsp->ghcb_ready) {
			if (op->c & 1) {
				ghcb_hv_features(&bsp->ghcb, &v64);
			} else {
				ghcb_run_vmpl(&bsp->ghcb, (u8)(op->a & 7));
			}
		}
		break;
	}
}

static void fuzz_hv_client(struct fuzz_in *in, u8 kind)
{
	struct fuzz_hv_client_op op = {.kind = kind};

	switch (kind) {
	case 3:
		op.a = fuzz_u16(in);
		break;
	case 4:
		op.a = FUZZ_HV_PSC_BASE + ((u64)(fuzz_u16(in) % 2048) << PAGE_SHIFT);
		op.b = fuzz_u16(in) % 600 + 1;
		op.b = MIN(op.b, (FUZZ_MEM_SIZE - op.a) >> PAGE_SHIFT);
		op.c = (fuzz_u8(in) & 1) ? PSC_OP_SHARED : PSC_OP_PRIVATE;
		break;
	case 5:
		op.c = fuzz_u8(in);
		op.a = fuzz_u64(in);
		break;
	default:
		op.c = fuzz_u8(in);
		op.a = fuzz_u8(in);
		break;
	}
	if (!fuzz_core_readable()) {
		return;
	}
	fuzz_svsm_begin();
	bool dead = fuzz_catch_terminate(fuzz_hv_client_fn, &op);
	if (!dead) {
		fuzz_svsm_end();
	}
}

static int fuzz_hv_init(void)
{
	struct fuzz_machine_opts o = {.boot_per_input = true, .termination_ok = true};

	return fuzz_machine_init(&o);
}

static void fuzz_hv_run(const u8 *data, size_t size)
{
	static struct fuzz_in in;

	in = (struct fuzz_in){data, size};
	fuzz_begin(&in);
	u8 mode = fuzz_u8(&in);
	if (mode & 1) {
		fuzz_hv_hostile_on(&in);
	}
	if (fuzz_boot() == 0) {
		fuzz_hv_hostile_on(&in);
		for (unsigned ops = 0; fuzz_more(&in) && ops < 48 && !fuzz_m()->terminated; ops++) {
			u8 op = fuzz_u8(&in) % FUZZ_HV_OPS;
			switch (op) {
			case 0: {
				u32 apic = fuzz_hv_vcpu(&in);
				struct guest_regs r = {.rax = SVSM_CALL(0, fuzz_u8(&in) % 9), .rcx = fuzz_value(&in)};
				fuzz_call(apic, &r, false);
				break;
			}
			case 1:
				fuzz_hv_new_vcpu(&in);
				break;
			case 2:
				fuzz_hv_self_delete(&in);
				break;
			default:
				fuzz_hv_client(&in, op);
				break;
			}
		}
	}
	fuzz_end();
}

const struct fuzz_target fuzz_target = {
	.name = "hv",
	.init = fuzz_hv_init,
	.run = fuzz_hv_run,
};
