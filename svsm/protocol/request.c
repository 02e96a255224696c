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
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>
#include <svsm/vtpm.h>

static SVSM_STATE struct svsm_counters counters;

/* See core.h: the leaf locks a terminated request may have left taken. */
void core_lock_reset(void)
{
	core_mem_available_lock_reset();
	vtpm_lock_reset();
	log_lock_reset();
}

/* Snapshot of the call counters (each read atomically; together they are approximate). */
void svsm_get_counters(struct svsm_counters *out)
{
	for (unsigned i = 0; i < ARRAY_COUNT(counters.calls_by_protocol); i++) {
		out->calls_by_protocol[i] = __atomic_load_n(&counters.calls_by_protocol[i], __ATOMIC_RELAXED);
	}
	out->errors = __atomic_load_n(&counters.errors, __ATOMIC_RELAXED);
	out->spurious_entries = __atomic_load_n(&counters.spurious_entries, __ATOMIC_RELAXED);
}

static void counter_inc(u64 *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
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

	u64 caa = vcpu_caa(v);
	if (entry_caa == caa) {
		/* call_pending and mem_available are adjacent: one write releases the call. */
		core_write_mem_available(entry_caa, call->caller_vmpl, true);
		return;
	}
	/* After REMAP_CA: mem_available in the new CA, call_pending cleared in the old one. */
	core_write_mem_available(caa, call->caller_vmpl, false);
	u8 zero = 0;
	if (arch_guest_write(entry_caa + SVSM_CA_CALL_PENDING_OFFSET, &zero, 1) != 0) {
		log_warn("calling area %llx not writable", (unsigned long long)entry_caa);
	}
}

/* One entry into VMPL0 from the guest on this vCPU; see core.h. No lock is held throughout. */
void svsm_request_handle(void)
{
	struct svsm_cpu *cpu = cpu_this();
	if (!cpu) {
		counter_inc(&counters.spurious_entries);
		log_error("no memory for the SVSM's context of APIC ID %u", arch_cpu_apic_id());
		return;
	}
	cpu->requests++;
	if (!cpu->ghcb_ready && cpu_ghcb_setup(cpu) != 0) {
		/* Without a GHCB the MSR protocol still works; the console falls back. */
		log_debug("CPU %u has no GHCB", cpu->apic_id);
	}
	struct svsm_vcpu *v = vcpu_enter();
	if (!v) {
		counter_inc(&counters.spurious_entries);
		log_error("entry from unknown vCPU (APIC ID %u)", arch_cpu_apic_id());
		return;
	}
	u8 *vmsa = v->vmsa;
	u64 efer = vmsa_get(vmsa, VMSA_EFER);
	vmsa_put(vmsa, VMSA_EFER, efer & ~EFER_SVME);

	u64 caa = vcpu_caa(v);
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
		counter_inc(&counters.spurious_entries);
		vmsa_put(vmsa, VMSA_EFER, efer | EFER_SVME);
		vcpu_leave(v);
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
		.cpu = cpu,
	};
	v->calls++;
	u32 result;
	if (pending != 1) {
		result = SVSM_ERR_INVALID_FORMAT;
	} else {
		result = protocol_dispatch(&call);
	}
	u32 proto = SVSM_CALL_PROTOCOL(call.rax);
	counter_inc(&counters.calls_by_protocol[proto < 4 ? proto : 4]);
	if (result >= SVSM_ERR_INCOMPLETE) {
		counter_inc(&counters.errors);
	}
	if (!call.vcpu_deleted) {
		request_complete(v, vmsa, caa, &call, result);
		vmsa_put(vmsa, VMSA_EFER, efer | EFER_SVME);
	}
	/* A call that deleted its own vCPU has no guest to return to; the entry goes now. */
	vcpu_leave(v);
}
