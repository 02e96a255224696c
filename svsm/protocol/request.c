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

/*
 * Snapshot of the call counters: the calls are counted per CPU (cpu.h) and added up here,
 * each read atomically (exact once calls stop, approximate while they run).
 */
void svsm_get_counters(struct svsm_counters *out)
{
	struct svsm_cpu *cpus[SVSM_MAX_VCPUS];
	u32 n = cpu_list(cpus, SVSM_MAX_VCPUS);

	*out = (struct svsm_counters){0};
	for (u32 c = 0; c < n; c++) {
		for (unsigned i = 0; i < ARRAY_COUNT(out->calls_by_protocol); i++) {
			out->calls_by_protocol[i] += __atomic_load_n(&cpus[c]->calls_by_protocol[i], __ATOMIC_RELAXED);
		}
		out->errors += __atomic_load_n(&cpus[c]->errors, __ATOMIC_RELAXED);
	}
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
		core_write_mem_available(entry_caa, call->caller_vmpl, true, v->startup);
		return;
	}
	/* After REMAP_CA: mem_available in the new CA, call_pending cleared in the old one. */
	core_write_mem_available(caa, call->caller_vmpl, false, v->startup);
	u8 zero = 0;
	if (arch_guest_write(entry_caa + SVSM_CA_CALL_PENDING_OFFSET, &zero, 1) != 0) {
		log_warn("calling area %llx not writable", (unsigned long long)entry_caa);
	}
}

/*
 * The caller's rights on its calling area's header, checked on every call: RAM, not the
 * SVSM's, readable and writable by the caller's VMPL. A calling area is never a VMSA
 * (CREATE_VCPU and REMAP_CA refuse VMSA pages, CREATE_VCPU refuses calling areas as
 * VMSAs, DEPOSIT_MEM refuses both), so the vCPU-table scan of guestmem_check is not
 * repeated here.
 */
static u32 request_caa_check(u8 vmpl, u64 caa)
{
	u8 perms = 0;

	if (!guestmem_is_ram(caa, 2) || owned_page(caa)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	u32 rc = guestmem_rights(vmpl, caa, &perms);
	if ((rc != RMP_SUCCESS && rc != RMP_UNSUPPORTED) || (perms & GUESTMEM_RW) != GUESTMEM_RW) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	return SVSM_SUCCESS;
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
	struct svsm_vcpu *v = vcpu_enter(cpu);
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
	if (vmsa_get(vmsa, VMSA_GUEST_EXITCODE) != VMEXIT_VMGEXIT || request_caa_check(caller_vmpl, caa) != SVSM_SUCCESS ||
	    arch_guest_read(caa, &pending, 1) != 0 || pending == 0) {
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
	/* Per CPU (no shared cache line per call); svsm_get_counters adds them up. */
	u32 proto = SVSM_CALL_PROTOCOL(call.rax);
	__atomic_store_n(&cpu->calls_by_protocol[proto < 4 ? proto : 4], cpu->calls_by_protocol[proto < 4 ? proto : 4] + 1,
			 __ATOMIC_RELAXED);
	if (result >= SVSM_ERR_INCOMPLETE) {
		__atomic_store_n(&cpu->errors, cpu->errors + 1, __ATOMIC_RELAXED);
	}
	if (!call.vcpu_deleted) {
		request_complete(v, vmsa, caa, &call, result);
		vmsa_put(vmsa, VMSA_EFER, efer | EFER_SVME);
	}
	/* A call that deleted its own vCPU has no guest to return to; the entry goes now. */
	vcpu_leave(v);
}
