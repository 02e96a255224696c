/* The guest driver: a VMPL1 guest OS that calls the SVSM the way Linux does. */
#include <svsm/ghcb.h>
#include <svsm/log.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

#include "guest.h"

/* The vCPU this thread runs for a guest (guest_bind_thread), if any. */
static _Thread_local struct {
	struct emu_guest *g;
	u32 apic_id;
} guest_bound;

u64 guest_calls(const struct emu_guest *g)
{
	u64 n = 0;

	for (unsigned i = 0; i < GUEST_MAX_VCPUS; i++) {
		n += __atomic_load_n(&g->vcpus[i].calls, __ATOMIC_RELAXED);
	}
	return n;
}

u64 guest_retries(const struct emu_guest *g)
{
	u64 n = 0;

	for (unsigned i = 0; i < GUEST_MAX_VCPUS; i++) {
		n += __atomic_load_n(&g->vcpus[i].retries, __ATOMIC_RELAXED);
	}
	return n;
}

void guest_bind_thread(struct emu_guest *g, u32 apic_id)
{
	guest_bound.g = g;
	guest_bound.apic_id = apic_id;
}

/* The vCPU a call or access of @g on this thread runs on: the bound one, else the first. */
u32 guest_this_vcpu(struct emu_guest *g)
{
	return guest_bound.g == g ? guest_bound.apic_id : g->vcpus[0].apic_id;
}

const char *guest_status_name(int status)
{
	switch (status) {
	case GUEST_OK:
		return "ok";
	case GUEST_NOT_RUN:
		return "call_pending still set: the SVSM never ran the call";
	case GUEST_FAULT:
		return "a guest access to its calling area faulted";
	case GUEST_HV_ERROR:
		return "the hypervisor refused the switch to VMPL0";
	case GUEST_NO_VCPU:
		return "no such vCPU, or its VMSA is gone";
	case GUEST_RETRY_LIMIT:
		return "INCOMPLETE/BUSY without end";
	default:
		return "?";
	}
}

/* Lock-free: a slot is filled in under g->lock before its present flag is set (release). */
struct guest_vcpu *guest_vcpu(struct emu_guest *g, u32 apic_id)
{
	for (unsigned i = 0; i < GUEST_MAX_VCPUS; i++) {
		if (__atomic_load_n(&g->vcpus[i].present, __ATOMIC_ACQUIRE) && g->vcpus[i].apic_id == apic_id) {
			return &g->vcpus[i];
		}
	}
	return NULL;
}

/* Attach to @m: the startup vCPU (APIC 0) with the launch calling area. */
int guest_init(struct emu_guest *g, struct emu_machine *m)
{
	memset(g, 0, sizeof(*g));
	g->m = m;
	g->vmpl = m->cfg.guest_vmpl;
	g->vcpus[0] = (struct guest_vcpu){.present = true, .apic_id = 0, .caa_gpa = m->cfg.caa_gpa, .vmpl = g->vmpl};
	u64 svsm_end = m->cfg.svsm_base + m->cfg.svsm_size;
	u64 start = MAX(svsm_end, m->cfg.caa_gpa + PAGE_SIZE);
	g->pool_next = ALIGN_UP(start, PAGE_2M_SIZE);
	g->pool_end = m->cfg.mem_size;
	return g->pool_next < g->pool_end ? 0 : -1;
}

/* The emulated vCPU this thread is bound to for @g, whose TLB the guest's accesses use. */
static struct emu_vcpu *guest_bound_vcpu(struct emu_guest *g)
{
	return guest_bound.g == g ? emu_vcpu_find(g->m, guest_bound.apic_id) : NULL;
}

int guest_read(struct emu_guest *g, u64 gpa, void *dst, u64 len)
{
	struct emu_vcpu *v = guest_bound_vcpu(g);

	if (v) {
		return emu_vcpu_mem_read(g->m, v, g->vmpl, gpa, dst, len);
	}
	return emu_mem_read(g->m, g->vmpl, gpa, dst, len, NULL);
}

int guest_write(struct emu_guest *g, u64 gpa, const void *src, u64 len)
{
	struct emu_vcpu *v = guest_bound_vcpu(g);

	if (v) {
		return emu_vcpu_mem_write(g->m, v, g->vmpl, gpa, src, len);
	}
	return emu_mem_write(g->m, g->vmpl, gpa, src, len, NULL);
}

/* A C=0 (shared) access by the guest, as used for its GHCB. */
static int guest_shared_access(struct emu_guest *g, u64 gpa, void *buf, u64 len, bool write)
{
	struct rmp_fault f;

	if (!rmp_check_access(&g->m->rmp, g->vmpl, false, gpa, len, write ? RMP_ACCESS_WRITE : RMP_ACCESS_READ,
			      &f)) {
		emu_fault_record(g->m, &f);
		return -1;
	}
	if (write) {
		emu_mem_will_write(g->m, gpa, len);
		memcpy(emu_mem(g->m, gpa), buf, len);
	} else {
		memcpy(buf, emu_mem(g->m, gpa), len);
	}
	return 0;
}

/* The emulated vCPU for @apic_id if it is running the guest. */
static struct emu_vcpu *guest_emu_vcpu(struct emu_guest *g, u32 apic_id)
{
	struct emu_vcpu *v = emu_vcpu_find(g->m, apic_id);

	if (!v || v->vmpl != g->vmpl || !v->vmsa_valid[g->vmpl]) {
		return NULL;
	}
	return v;
}

/* VMGEXIT with an MSR-protocol request at VMPL1, restoring the MSR afterwards. */
static u64 guest_msr_request(struct emu_guest *g, struct emu_vcpu *v, u64 request)
{
	u64 saved = v->ghcb_msr[g->vmpl];
	struct emu_vcpu *prev = emu_vcpu_current();

	v->ghcb_msr[g->vmpl] = request;
	emu_vcpu_set_current(v);
	emu_hv_vmgexit(g->m, v);
	emu_vcpu_set_current(prev);
	u64 resp = v->ghcb_msr[v->vmpl];
	v->ghcb_msr[g->vmpl] = saved;
	return resp;
}

/* One attempt of the Linux call sequence. */
int guest_call_once(struct emu_guest *g, u32 apic_id, struct guest_regs *r)
{
	struct guest_vcpu *gv = guest_vcpu(g, apic_id);
	struct emu_vcpu *v = guest_emu_vcpu(g, apic_id);

	if (!gv || !v) {
		return GUEST_NO_VCPU;
	}
	v->rax = r->rax;
	v->rcx = r->rcx;
	v->rdx = r->rdx;
	v->r8 = r->r8;
	v->r9 = r->r9;
	u8 pending = 1;
	if (guest_write(g, gv->caa_gpa, &pending, 1) != 0) {
		return GUEST_FAULT;
	}
	u64 resp = guest_msr_request(g, v, GHCB_MSR_RUN_VMPL(0));
	__atomic_store_n(&gv->calls, gv->calls + 1, __ATOMIC_RELAXED);
	if (v->destroyed_while_running || !v->vmsa_valid[g->vmpl]) {
		return GUEST_NO_VCPU;
	}
	if (GHCB_MSR_INFO(resp) != GHCB_MSR_RUN_VMPL_RESP || GHCB_MSR_RESP_ERROR(resp) != 0) {
		return GUEST_HV_ERROR;
	}
	r->rax = v->rax;
	r->rcx = v->rcx;
	r->rdx = v->rdx;
	r->r8 = v->r8;
	r->r9 = v->r9;
	/* xchg(call_pending, 0): a non-zero old value means the SVSM never took the call. */
	u8 old;
	if (emu_mem_xchg8(g->m, g->vmpl, gv->caa_gpa, 0, &old) != 0) {
		return GUEST_FAULT;
	}
	if (g->log_calls) {
		char line[80];
		svsm_snprintf(line, sizeof(line), "guest VMPL%u: call on vCPU %u -> rax=0x%llx\n", g->vmpl, apic_id,
			      (unsigned long long)r->rax);
		g->m->host.diag(g->m, line);
	}
	return old == 0 ? GUEST_OK : GUEST_NOT_RUN;
}

/* Issue a call, re-issuing the same registers while the SVSM says INCOMPLETE or BUSY. */
int guest_call(struct emu_guest *g, u32 apic_id, struct guest_regs *r)
{
	const struct guest_regs in = *r;

	for (unsigned attempt = 0; attempt < GUEST_RETRY_LIMIT_COUNT; attempt++) {
		*r = in;
		int rc = guest_call_once(g, apic_id, r);
		if (rc != GUEST_OK) {
			return rc;
		}
		if ((u32)r->rax != SVSM_ERR_INCOMPLETE && (u32)r->rax != SVSM_ERR_BUSY) {
			return GUEST_OK;
		}
		struct guest_vcpu *gv = guest_vcpu(g, apic_id);
		if (gv) {
			__atomic_store_n(&gv->retries, gv->retries + 1, __ATOMIC_RELAXED);
		}
		/* BUSY: another vCPU holds a page; it may be preempted on this host CPU. */
		if ((u32)r->rax == SVSM_ERR_BUSY && g->m->host.relax) {
			g->m->host.relax(g->m);
		}
	}
	return GUEST_RETRY_LIMIT;
}

u64 guest_svsm(struct emu_guest *g, u32 protocol, u32 call, u64 rcx, u64 rdx, u64 r8, struct guest_regs *out)
{
	struct guest_regs r = {.rax = SVSM_CALL(protocol, call), .rcx = rcx, .rdx = rdx, .r8 = r8};

	if (guest_call(g, guest_this_vcpu(g), &r) != GUEST_OK) {
		return ~0ull;
	}
	if (out) {
		*out = r;
	}
	return (u32)r.rax;
}

/* Run one PVALIDATE list of @n entries (already in the CA buffer). */
static u64 guest_pvalidate_list(struct emu_guest *g, const u64 *entries, u16 n, u16 *failed_at)
{
	struct guest_vcpu *gv = guest_vcpu(g, guest_this_vcpu(g));
	if (!gv) {
		return ~0ull;
	}
	u64 list = gv->caa_gpa + offsetof(struct svsm_ca, buffer);

	struct svsm_list_hdr hdr = {.entries = n, .next = 0};

	if (guest_write(g, list, &hdr, sizeof(hdr)) != 0 || guest_write(g, list + sizeof(hdr), entries, 8ull * n) != 0) {
		return ~0ull;
	}
	u64 rc = guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_PVALIDATE, list, 0, 0, NULL);
	if (guest_read(g, list, &hdr, sizeof(hdr)) != 0) {
		return ~0ull;
	}
	*failed_at = hdr.next;
	return rc;
}

/* See guest.h: Linux's svsm_pval_pages with the 4 KiB fallback. */
u64 guest_pvalidate_range(struct emu_guest *g, u64 gpa, u64 count, bool validate)
{
	u64 entries[SVSM_PVAL_MAX_ENTRIES_IN_CA];
	u64 end = gpa + count * PAGE_SIZE;
	u64 no_2m_below = 0; /* a 2 MiB entry failed with size mismatch: 4 KiB up to here */

	while (gpa < end) {
		u16 n = 0;
		u64 cursor = gpa;
		while (cursor < end && n < SVSM_PVAL_MAX_ENTRIES_IN_CA) {
			bool huge = IS_ALIGNED(cursor, PAGE_2M_SIZE) && end - cursor >= PAGE_2M_SIZE && cursor >= no_2m_below;
			entries[n++] = cursor | (huge ? PAGE_SIZE_2M : PAGE_SIZE_4K) | (validate ? SVSM_PVAL_VALIDATE : 0);
			cursor += huge ? PAGE_2M_SIZE : PAGE_SIZE;
		}
		u16 failed_at = 0;
		u64 rc = guest_pvalidate_list(g, entries, n, &failed_at);
		if (rc == SVSM_ERR_PVALIDATE_FAIL_SIZEMISMATCH && failed_at < n &&
		    (entries[failed_at] & SVSM_PVAL_SIZE_MASK) == PAGE_SIZE_2M) {
			gpa = entries[failed_at] & ~PAGE_MASK;
			no_2m_below = gpa + PAGE_2M_SIZE;
			continue;
		}
		if (rc != SVSM_SUCCESS) {
			return rc;
		}
		gpa = cursor;
	}
	return SVSM_SUCCESS;
}

/* Bump-allocate pages from guest memory and have the SVSM validate (and zero) them. */
u64 guest_alloc_pages(struct emu_guest *g, u64 count)
{
	/* Taken from the pool under the lock; validated afterwards on this thread's vCPU. */
	spin_lock(&g->lock);
	u64 gpa = g->pool_next;
	if (count == 0 || count > (g->pool_end - gpa) >> PAGE_SHIFT) {
		spin_unlock(&g->lock);
		return 0;
	}
	u64 end = gpa + (count << PAGE_SHIFT);
	u64 validated_end = g->pool_validated_end;
	g->pool_next = end;
	spin_unlock(&g->lock);
	if (end > validated_end) {
		u64 from = MAX(gpa, validated_end);
		if (guest_pvalidate_range(g, from, (end - from) >> PAGE_SHIFT, true) != SVSM_SUCCESS) {
			return 0;
		}
	}
	return gpa;
}

void guest_vmsa_template(u8 *vmsa, u8 vmpl, u64 sev_features)
{
	u64 efer = EFER_SVME;
	u64 cr0 = 0x80050033;

	memset(vmsa, 0, VMSA_SIZE);
	vmsa[VMSA_VMPL] = vmpl;
	memcpy(vmsa + VMSA_EFER, &efer, 8);
	memcpy(vmsa + VMSA_CR0, &cr0, 8);
	memcpy(vmsa + VMSA_SEV_FEATURES, &sev_features, 8);
}

/* Give the guest a GHCB on @apic_id: a private page made shared and registered. */
int guest_ghcb_setup(struct emu_guest *g, u32 apic_id)
{
	struct guest_vcpu *gv = guest_vcpu(g, apic_id);
	struct emu_vcpu *v = guest_emu_vcpu(g, apic_id);

	if (!gv || !v) {
		return -1;
	}
	if (gv->ghcb_gpa) {
		return 0;
	}
	u64 gpa = guest_alloc_pages(g, 1);
	if (!gpa || guest_pvalidate_range(g, gpa, 1, false) != SVSM_SUCCESS) {
		return -1;
	}
	u64 resp = guest_msr_request(g, v, GHCB_MSR_PSC(gpa >> PAGE_SHIFT, PSC_OP_SHARED));
	if (GHCB_MSR_INFO(resp) != GHCB_MSR_PSC_RESP || GHCB_MSR_RESP_ERROR(resp) != 0) {
		return -1;
	}
	resp = guest_msr_request(g, v, GHCB_MSR_REG_GPA(gpa >> PAGE_SHIFT));
	if (GHCB_MSR_INFO(resp) != GHCB_MSR_REG_GPA_RESP || GHCB_MSR_DATA(resp) != gpa >> PAGE_SHIFT) {
		return -1;
	}
	v->ghcb_msr[g->vmpl] = gpa;
	gv->ghcb_gpa = gpa;
	return 0;
}

/*
 * SNP AP creation from the guest through its GHCB on its first vCPU: a context at
 * @vmsa_vmpl (the guest's own VMPL or a less privileged one) for @apic_id.
 */
static int guest_ap_create(struct emu_guest *g, unsigned op, u32 apic_id, u64 vmsa_gpa, u8 vmsa_vmpl)
{
	struct guest_vcpu *first = guest_vcpu(g, guest_this_vcpu(g));
	struct emu_vcpu *v = first ? guest_emu_vcpu(g, first->apic_id) : NULL;
	struct ghcb gh;

	if (!first || !v || guest_ghcb_setup(g, first->apic_id) != 0) {
		return -1;
	}
	memset(&gh, 0, sizeof(gh));
	gh.protocol_version = GHCB_PROTOCOL_MAX;
	ghcb_set_sw_exit_code(&gh, SVM_VMGEXIT_AP_CREATION);
	ghcb_set_sw_exit_info_1(&gh, SVM_AP_EXITINFO1(op, vmsa_vmpl, apic_id));
	ghcb_set_sw_exit_info_2(&gh, vmsa_gpa);
	ghcb_set_rax(&gh, EMU_SEV_FEATURES);
	if (guest_shared_access(g, first->ghcb_gpa, &gh, sizeof(gh), true) != 0) {
		return -1;
	}
	v->ghcb_msr[g->vmpl] = first->ghcb_gpa;
	emu_hv_vmgexit(g->m, v);
	if (guest_shared_access(g, first->ghcb_gpa, &gh, sizeof(gh), false) != 0) {
		return -1;
	}
	return ghcb_get_sw_exit_info_1(&gh) == 0 ? 0 : -1;
}

/* See guest.h. */
int guest_start_vcpu(struct emu_guest *g, u32 apic_id, u64 vmsa_gpa, u64 caa_gpa)
{
	if (guest_ap_create(g, SVM_AP_CREATE, apic_id, vmsa_gpa, g->vmpl) != 0) {
		return -1;
	}
	struct guest_vcpu *slot = NULL;
	spin_lock(&g->lock);
	for (unsigned i = 0; i < GUEST_MAX_VCPUS && !slot; i++) {
		if (g->vcpus[i].present && g->vcpus[i].apic_id == apic_id) {
			slot = &g->vcpus[i]; /* a new VMSA for a vCPU the guest had (CPU online again) */
		}
	}
	for (unsigned i = 0; i < GUEST_MAX_VCPUS && !slot; i++) {
		if (!g->vcpus[i].present) {
			slot = &g->vcpus[i];
		}
	}
	if (slot && slot->present) {
		/* The same vCPU, a new VMSA: only the VMSA changes (its own thread is not calling). */
		slot->vmsa_gpa = vmsa_gpa;
		slot->caa_gpa = caa_gpa;
	} else if (slot) {
		*slot = (struct guest_vcpu){.apic_id = apic_id, .caa_gpa = caa_gpa, .vmsa_gpa = vmsa_gpa, .vmpl = g->vmpl};
		__atomic_store_n(&slot->present, true, __ATOMIC_RELEASE);
	}
	spin_unlock(&g->lock);
	return slot ? 0 : -1;
}

/* See guest.h. */
/* A page from the pool filled in as a VMSA of this guest's VMPL; 0 on failure. */
static u64 guest_new_vmsa(struct emu_guest *g)
{
	u8 vmsa[VMSA_SIZE];

	/* SNP erratum: a VMSA must not be 2 MiB aligned. */
	u64 vmsa_gpa = guest_alloc_pages(g, 1);
	if (vmsa_gpa && IS_ALIGNED(vmsa_gpa, PAGE_2M_SIZE)) {
		vmsa_gpa = guest_alloc_pages(g, 1);
	}
	if (!vmsa_gpa) {
		return 0;
	}
	guest_vmsa_template(vmsa, g->vmpl, EMU_SEV_FEATURES);
	return guest_write(g, vmsa_gpa, vmsa, sizeof(vmsa)) == 0 ? vmsa_gpa : 0;
}

int guest_prepare_vcpu(struct emu_guest *g, u64 *vmsa_out, u64 *caa_out)
{
	u64 vmsa_gpa = guest_new_vmsa(g);
	u64 caa = guest_alloc_pages(g, 1);

	if (!vmsa_gpa || !caa) {
		return -1;
	}
	*vmsa_out = vmsa_gpa;
	*caa_out = caa;
	return 0;
}

/* See guest.h. */
u64 guest_create_vcpu(struct emu_guest *g, u32 apic_id, u64 *vmsa_out)
{
	u64 vmsa_gpa, caa;

	if (guest_prepare_vcpu(g, &vmsa_gpa, &caa) != 0) {
		return ~0ull;
	}
	u64 rc = guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_CREATE_VCPU, vmsa_gpa, caa, apic_id, NULL);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	if (guest_start_vcpu(g, apic_id, vmsa_gpa, caa) != 0) {
		return ~0ull;
	}
	if (vmsa_out) {
		*vmsa_out = vmsa_gpa;
	}
	return SVSM_SUCCESS;
}

/* See guest.h. */
int guest_ap_destroy(struct emu_guest *g, u32 apic_id)
{
	struct guest_vcpu *gv = guest_vcpu(g, apic_id);

	if (!gv || !gv->vmsa_gpa) {
		return -1;
	}
	return guest_ap_create(g, SVM_AP_DESTROY, apic_id, gv->vmsa_gpa, gv->vmpl);
}

/* See guest.h. */
int guest_ap_destroy_child(struct emu_guest *g, const struct emu_guest *child, u32 apic_id)
{
	const struct guest_vcpu *cv = guest_vcpu((struct emu_guest *)child, apic_id);

	if (!cv || child->parent != g) {
		return -1;
	}
	return guest_ap_create(g, SVM_AP_DESTROY, apic_id, cv->vmsa_gpa, cv->vmpl);
}

/* See guest.h: RMPADJUST executed by the guest OS at its own VMPL. */
u32 guest_rmpadjust(struct emu_guest *g, u64 gpa, enum page_size size, u8 target_vmpl, u8 perms)
{
	return rmp_rmpadjust(&g->m->rmp, g->vmpl, gpa, size, target_vmpl, perms, false);
}

/* See guest.h. */
u64 guest_spawn(struct emu_guest *parent, struct emu_guest *child, u8 vmpl, u32 apic_id, u64 pages)
{
	u8 vmsa[VMSA_SIZE];

	if (vmpl <= parent->vmpl || vmpl >= RMP_VMPL_COUNT || pages < 2 || guest_vcpu(parent, apic_id)) {
		return ~0ull;
	}
	/* The child's memory: pages of the parent, lent with full access to the child's VMPL. */
	u64 pool = guest_alloc_pages(parent, pages);
	if (!pool) {
		return ~0ull;
	}
	for (u64 p = pool; p < pool + (pages << PAGE_SHIFT); p += PAGE_SIZE) {
		if (guest_rmpadjust(parent, p, PAGE_SIZE_4K, vmpl, VMPL_PERM_ALL) != RMP_SUCCESS) {
			return ~0ull;
		}
	}
	memset(child, 0, sizeof(*child));
	child->m = parent->m;
	child->vmpl = vmpl;
	child->parent = parent;
	child->pool_next = pool;
	child->pool_end = pool + (pages << PAGE_SHIFT);
	child->pool_validated_end = child->pool_end;
	u64 caa = guest_alloc_pages(child, 1);
	/* The VMSA page is the parent's to give (SNP erratum: not 2 MiB aligned). */
	u64 vmsa_gpa = guest_alloc_pages(parent, 1);
	if (vmsa_gpa && IS_ALIGNED(vmsa_gpa, PAGE_2M_SIZE)) {
		vmsa_gpa = guest_alloc_pages(parent, 1);
	}
	if (!caa || !vmsa_gpa) {
		return ~0ull;
	}
	guest_vmsa_template(vmsa, vmpl, EMU_SEV_FEATURES);
	if (guest_write(parent, vmsa_gpa, vmsa, sizeof(vmsa)) != 0) {
		return ~0ull;
	}
	u64 rc = guest_svsm(parent, SVSM_PROTOCOL_CORE, SVSM_CORE_CREATE_VCPU, vmsa_gpa, caa, apic_id, NULL);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	if (guest_ap_create(parent, SVM_AP_CREATE, apic_id, vmsa_gpa, vmpl) != 0) {
		return ~0ull;
	}
	child->vcpus[0] = (struct guest_vcpu){.present = true, .apic_id = apic_id, .caa_gpa = caa, .vmsa_gpa = vmsa_gpa,
					      .vmpl = vmpl};
	return SVSM_SUCCESS;
}

/* See guest.h: Linux's wakeup_cpu_via_vmgexit for a CPU that was online before. */
u64 guest_cpu_offline_online(struct emu_guest *g, u32 apic_id, u64 *new_vmsa)
{
	struct guest_vcpu *gv = guest_vcpu(g, apic_id);

	if (!gv || !gv->vmsa_gpa || apic_id == guest_this_vcpu(g)) {
		return ~0ull;
	}
	u64 old_vmsa = gv->vmsa_gpa;
	u64 caa = gv->caa_gpa;
	/* A fresh VMSA page, the same per-CPU calling area. */
	u64 vmsa_gpa = guest_new_vmsa(g);
	if (!vmsa_gpa) {
		return ~0ull;
	}
	u64 rc = guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_CREATE_VCPU, vmsa_gpa, caa, apic_id, NULL);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	/* Start it (the hypervisor now runs the new VMSA for the APIC ID), then delete the old one. */
	if (guest_start_vcpu(g, apic_id, vmsa_gpa, caa) != 0) {
		return ~0ull;
	}
	rc = guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_DELETE_VCPU, old_vmsa, 0, 0, NULL);
	if (rc == SVSM_SUCCESS && new_vmsa) {
		*new_vmsa = vmsa_gpa;
	}
	return rc;
}
