/*
 * The request handler: one entry into VMPL0 from the guest, in the order of the SVSM
 * spec. The guest VMSA's registers are read once; EFER.SVME is cleared while the call is
 * in progress so the guest vCPU cannot run, and set again only after RAX and
 * call_pending are written.
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/guestmem.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/spinlock.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

static SVSM_STATE struct spinlock core_big_lock = SPINLOCK_INIT;
static SVSM_STATE struct svsm_counters counters;

/* The core's state is serialised by one lock; see docs/architecture.md. */
void core_lock(void)
{
	spin_lock(&core_big_lock);
}

void core_unlock(void)
{
	spin_unlock(&core_big_lock);
}

void core_lock_reset(void)
{
	core_big_lock = (struct spinlock)SPINLOCK_INIT;
}

/* See core.h. */
void core_unlocked_run(struct svsm_call *call, void (*fn)(void *ctx), void *ctx)
{
	struct svsm_vcpu *v = call->vcpu;

	v->unlocked_work = true;
	core_unlock();
	fn(ctx);
	core_lock();
	v->unlocked_work = false;
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

/*
 * Guest VMSAs are mapped into the SVSM (vcpu->vmsa): neither the guest (read-only at
 * most) nor the hypervisor can write them, so plain loads are not double fetches.
 */
static u64 vmsa_get(const u8 *vmsa, unsigned off)
{
	return __atomic_load_n((const u64 *)(vmsa + off), __ATOMIC_RELAXED);
}

static void vmsa_put(u8 *vmsa, unsigned off, u64 value)
{
	__atomic_store_n((u64 *)(vmsa + off), value, __ATOMIC_RELAXED);
}

/* Write the call's results and the CA's mem_available flag, then release the call. */
static void request_complete(struct svsm_vcpu *v, u8 *vmsa, u64 entry_caa, const struct svsm_call *call, u32 result)
{
	vmsa_put(vmsa, VMSA_RAX, result);
	vmsa_put(vmsa, VMSA_RCX, call->rcx);
	vmsa_put(vmsa, VMSA_RDX, call->rdx);
	vmsa_put(vmsa, VMSA_R8, call->r8);

	u8 avail = mm_withdraw_available() ? 1 : 0;
	if (entry_caa == v->caa_gpa) {
		/* call_pending and mem_available are adjacent: one write releases the call. */
		u8 hdr[2] = {0, avail};
		if (arch_guest_write(entry_caa + SVSM_CA_CALL_PENDING_OFFSET, hdr, sizeof(hdr)) != 0) {
			log_warn("calling area %llx not writable", (unsigned long long)entry_caa);
		}
		return;
	}
	/* After REMAP_CA: mem_available in the new CA, call_pending cleared in the old one. */
	if (arch_guest_write(v->caa_gpa + SVSM_CA_MEM_AVAILABLE_OFFSET, &avail, 1) != 0) {
		log_warn("calling area %llx not writable", (unsigned long long)v->caa_gpa);
	}
	u8 zero = 0;
	if (arch_guest_write(entry_caa + SVSM_CA_CALL_PENDING_OFFSET, &zero, 1) != 0) {
		log_warn("calling area %llx not writable", (unsigned long long)entry_caa);
	}
}

/* One entry into VMPL0 from the guest on this vCPU; see core.h. */
void svsm_request_handle(void)
{
	core_lock();
	struct svsm_vcpu *v = vcpu_current();
	if (!v || !v->vmsa) {
		counters.spurious_entries++;
		core_unlock();
		log_error("entry from unknown vCPU (APIC ID %u)", arch_cpu_apic_id());
		return;
	}
	if (!v->ghcb_ready && vcpu_ghcb_setup(v) != 0) {
		/* Without a GHCB the MSR protocol still works; the console falls back. */
		log_debug("vCPU %u has no GHCB", v->apic_id);
	}
	u8 *vmsa = v->vmsa;
	u64 efer = vmsa_get(vmsa, VMSA_EFER);
	vmsa_put(vmsa, VMSA_EFER, efer & ~EFER_SVME);

	u64 caa = v->caa_gpa;
	u8 caller_vmpl = vmsa[VMSA_VMPL];
	u8 pending = 0;
	/*
	 * The calling area is read and written for the caller: its VMPL must be able to write
	 * it. A CA the caller lost access to (or that was rescinded) is no call at all.
	 */
	if (vmsa_get(vmsa, VMSA_GUEST_EXITCODE) != VMEXIT_VMGEXIT ||
	    guestmem_check(caller_vmpl, caa, 2, GUESTMEM_RW) != SVSM_SUCCESS || arch_guest_read(caa, &pending, 1) != 0 ||
	    pending == 0) {
		/* Not a call: the host entered us for nothing. Resume the guest. */
		counters.spurious_entries++;
		vmsa_put(vmsa, VMSA_EFER, efer | EFER_SVME);
		core_unlock();
		return;
	}

	struct svsm_call call = {
		.rax = vmsa_get(vmsa, VMSA_RAX),
		.rcx = vmsa_get(vmsa, VMSA_RCX),
		.rdx = vmsa_get(vmsa, VMSA_RDX),
		.r8 = vmsa_get(vmsa, VMSA_R8),
		.r9 = vmsa_get(vmsa, VMSA_R9),
		.caller_vmpl = caller_vmpl,
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
	request_complete(v, vmsa, caa, &call, result);
	vmsa_put(vmsa, VMSA_EFER, efer | EFER_SVME);
	core_unlock();
}
