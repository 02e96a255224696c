/*
 * The request handler: one entry into VMPL0 from the guest, in the order of the SVSM
 * spec. The guest VMSA's registers are read once; EFER.SVME is cleared while the call is
 * in progress so the guest vCPU cannot run, and set again only after RAX and
 * call_pending are written.
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/spinlock.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

static struct spinlock core_big_lock = SPINLOCK_INIT;
static struct svsm_counters counters;

/* The core's state is serialised by one lock; see docs/architecture.md. */
void core_lock(void)
{
	spin_lock(&core_big_lock);
}

void core_unlock(void)
{
	spin_unlock(&core_big_lock);
}

/* Snapshot of the call counters. */
void svsm_get_counters(struct svsm_counters *out)
{
	core_lock();
	*out = counters;
	core_unlock();
}

/* Forget the counters (fresh boot). */
void request_reset_counters(void)
{
	memset(&counters, 0, sizeof(counters));
}

static u64 vmsa_u64(const u8 *vmsa, unsigned off)
{
	u64 v;

	memcpy(&v, vmsa + off, sizeof(v));
	return v;
}

static void vmsa_put(u64 vmsa_gpa, unsigned off, u64 value)
{
	/* The guest VMSA is SVSM-private while we run: a failure is a broken invariant. */
	if (arch_guest_write(vmsa_gpa + off, &value, sizeof(value)) != 0) {
		log_error("cannot write guest VMSA %llx+%x", (unsigned long long)vmsa_gpa, off);
	}
}

/* Write the call's results and the CA's mem_available flag, then release the call. */
static void request_complete(struct svsm_vcpu *v, u64 vmsa_gpa, u64 entry_caa, const struct svsm_call *call,
			     u32 result)
{
	vmsa_put(vmsa_gpa, VMSA_RAX, result);
	vmsa_put(vmsa_gpa, VMSA_RCX, call->rcx);
	vmsa_put(vmsa_gpa, VMSA_RDX, call->rdx);
	vmsa_put(vmsa_gpa, VMSA_R8, call->r8);

	u8 avail = mm_withdraw_available() ? 1 : 0;
	if (arch_guest_write(v->caa_gpa + SVSM_CA_MEM_AVAILABLE_OFFSET, &avail, 1) != 0) {
		log_warn("calling area %llx not writable", (unsigned long long)v->caa_gpa);
	}
	/* Clear call_pending in the CA the call came through (the old one after REMAP_CA). */
	u8 zero = 0;
	if (arch_guest_write(entry_caa + SVSM_CA_CALL_PENDING_OFFSET, &zero, 1) != 0) {
		log_warn("calling area %llx not writable", (unsigned long long)entry_caa);
	}
}

/* One entry into VMPL0 from the guest on this vCPU; see core.h. */
void svsm_request_handle(void)
{
	u8 vmsa[VMSA_GUEST_EXITCODE + 8];

	core_lock();
	struct svsm_vcpu *v = vcpu_current();
	if (!v) {
		counters.spurious_entries++;
		core_unlock();
		log_error("entry from unknown vCPU (APIC ID %u)", arch_cpu_apic_id());
		return;
	}
	if (!v->ghcb_ready && vcpu_ghcb_setup(v) != 0) {
		/* Without a GHCB the MSR protocol still works; the console falls back. */
		log_debug("vCPU %u has no GHCB", v->apic_id);
	}
	u64 vmsa_gpa = v->guest_vmsa_gpa;
	if (arch_guest_read(vmsa_gpa, vmsa, sizeof(vmsa)) != 0) {
		counters.spurious_entries++;
		core_unlock();
		log_error("guest VMSA %llx unreadable", (unsigned long long)vmsa_gpa);
		return;
	}
	u64 efer = vmsa_u64(vmsa, VMSA_EFER);
	vmsa_put(vmsa_gpa, VMSA_EFER, efer & ~EFER_SVME);

	u64 caa = v->caa_gpa;
	u8 pending = 0;
	if (vmsa_u64(vmsa, VMSA_GUEST_EXITCODE) != VMEXIT_VMGEXIT || arch_guest_read(caa, &pending, 1) != 0 ||
	    pending == 0) {
		/* Not a call: the host entered us for nothing. Resume the guest. */
		counters.spurious_entries++;
		vmsa_put(vmsa_gpa, VMSA_EFER, efer | EFER_SVME);
		core_unlock();
		return;
	}

	struct svsm_call call = {
		.rax = vmsa_u64(vmsa, VMSA_RAX),
		.rcx = vmsa_u64(vmsa, VMSA_RCX),
		.rdx = vmsa_u64(vmsa, VMSA_RDX),
		.r8 = vmsa_u64(vmsa, VMSA_R8),
		.r9 = vmsa_u64(vmsa, VMSA_R9),
		.caller_vmpl = vmsa[VMSA_VMPL],
		.vcpu = v,
	};
	v->calls++;
	u32 result;
	if (pending != 1) {
		result = SVSM_ERR_INVALID_FORMAT;
	} else {
		result = protocol_dispatch(&call);
	}
	u32 proto = SVSM_CALL_PROTOCOL(call.rax);
	counters.calls_by_protocol[proto < 4 ? proto : 4]++;
	if (result >= SVSM_ERR_INCOMPLETE) {
		counters.errors++;
	}
	if (call.vcpu_deleted) {
		/* The call deleted its own vCPU: there is no guest to return to. */
		core_unlock();
		return;
	}
	request_complete(v, vmsa_gpa, caa, &call, result);
	vmsa_put(vmsa_gpa, VMSA_EFER, efer | EFER_SVME);
	core_unlock();
}
