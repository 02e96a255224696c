/*
 * The SVSM core protocol (0): REMAP_CA, PVALIDATE, CREATE_VCPU, DELETE_VCPU,
 * DEPOSIT_MEM, WITHDRAW_MEM, QUERY_PROTOCOL, CONFIGURE_VTOM.
 *
 * Every handler decodes and checks all of its input before it changes anything, so a
 * rejected call leaves the RMP, guest memory and the SVSM's state as they were. The list
 * calls (PVALIDATE, DEPOSIT_MEM) are the exception the spec defines: entries are done in
 * order and the list's "next" index records how far they got. Handlers run under
 * core_lock, which also guards the static buffers below.
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

/* PVALIDATE work per call before answering INCOMPLETE, in 4 KiB pages. */
#define PVALIDATE_BATCH_PAGES 256u
#define LIST_MAX_ENTRIES ((PAGE_SIZE - sizeof(struct svsm_list_hdr)) / 8)

static SVSM_SCRATCH u64 list_buf[LIST_MAX_ENTRIES];
static SVSM_SCRATCH void *withdraw_buf[LIST_MAX_ENTRIES];
/* DEPOSIT_MEM: each entry decoded once (address and 4 KiB page count). */
static SVSM_SCRATCH u64 deposit_gpa[LIST_MAX_ENTRIES];
static SVSM_SCRATCH u64 deposit_pages[LIST_MAX_ENTRIES];
static SVSM_SCRATCH u64 withdraw_gpas[LIST_MAX_ENTRIES];
static const u8 zero_page[PAGE_SIZE];

/* Map a PVALIDATE/RMPADJUST outcome to the SVSM result code. */
static u32 core_rmp_result(u32 rc)
{
	if (rc == RMP_SUCCESS) {
		return SVSM_SUCCESS;
	}
	if (rc == RMP_FAULT) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	if (rc == RMP_UNCHANGED) {
		return SVSM_ERR_PVALIDATE_FAIL_UNCHANGED;
	}
	if (rc <= 0xF) {
		return SVSM_ERR_PROTOCOL_BASE + rc;
	}
	return SVSM_ERR_PVALIDATE_FAIL_OTHER;
}

static u64 core_page_bytes(enum page_size size)
{
	return size == PAGE_SIZE_2M ? PAGE_2M_SIZE : PAGE_SIZE;
}

/* Grant full access to VMPLs guest_vmpl..@caller_vmpl; undone on failure. */
u32 core_grant(u64 gpa, enum page_size size, u8 caller_vmpl)
{
	u8 first = svsm_boot_params()->guest_vmpl;

	for (u8 vmpl = first; vmpl <= caller_vmpl && vmpl <= 3; vmpl++) {
		u32 rc = arch_rmpadjust(gpa, size, vmpl, VMPL_PERM_ALL, false);
		if (rc != RMP_SUCCESS) {
			for (u8 undo = first; undo < vmpl; undo++) {
				arch_rmpadjust(gpa, size, undo, 0, false);
			}
			return rc;
		}
	}
	return RMP_SUCCESS;
}

/* Remove every guest VMPL's access. Fails without change if the first adjust fails. */
u32 core_revoke(u64 gpa, enum page_size size)
{
	for (u8 vmpl = 1; vmpl <= 3; vmpl++) {
		u32 rc = arch_rmpadjust(gpa, size, vmpl, 0, false);
		if (rc != RMP_SUCCESS) {
			return rc;
		}
	}
	return RMP_SUCCESS;
}

/* Zero a validated guest range through the VMPL0 mapping. */
static bool core_zero_guest(u64 gpa, u64 len)
{
	for (u64 off = 0; off < len; off += PAGE_SIZE) {
		if (arch_guest_write(gpa + off, zero_page, PAGE_SIZE) != 0) {
			return false;
		}
	}
	return true;
}

/* A guest-named page range that the SVSM must not touch on the guest's behalf. */
static bool core_range_private(u64 gpa, u64 len)
{
	return owned_range(gpa, len) || vcpu_range_has_vmsa(gpa, len);
}

/* Inside guest memory, without wrapping. */
static bool core_range_in_memory(u64 gpa, u64 len)
{
	return gpa + len >= gpa && gpa + len <= owned_mem_size();
}

/* Write the list header's "next" back; a fault there is the guest's own doing. */
static void core_list_set_next(u64 list_gpa, u16 next)
{
	if (guestmem_write(list_gpa + offsetof(struct svsm_list_hdr, next), &next, sizeof(next)) != SVSM_SUCCESS) {
		log_debug("list header %llx not writable", (unsigned long long)list_gpa);
	}
}

/* Read a list (header and entries) at @gpa into list_buf after checking its shape. */
static u32 core_list_read(u64 gpa, struct svsm_list_hdr *hdr)
{
	if (!IS_ALIGNED(gpa, 8)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	u32 rc = guestmem_read(gpa, hdr, sizeof(*hdr));
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	if (hdr->entries == 0 || hdr->next >= hdr->entries ||
	    (gpa & PAGE_MASK) + sizeof(*hdr) + 8ull * hdr->entries > PAGE_SIZE) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	return guestmem_read(gpa + sizeof(*hdr), list_buf, 8ull * hdr->entries);
}

/* --- REMAP_CA ------------------------------------------------------------------------- */

static u32 core_remap_ca(struct svsm_call *c)
{
	u64 gpa = c->rcx;
	struct svsm_vcpu *v = c->vcpu;

	if (!IS_ALIGNED(gpa, PAGE_SIZE)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (gpa == v->caa_gpa) {
		return SVSM_SUCCESS;
	}
	if (!core_range_in_memory(gpa, PAGE_SIZE) || core_range_private(gpa, PAGE_SIZE) || vcpu_page_is_caa(gpa)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	/* The new CA starts with call_pending and mem_available cleared. */
	u32 rc = guestmem_write(gpa, zero_page, sizeof(struct svsm_list_hdr));
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	v->caa_gpa = gpa;
	return SVSM_SUCCESS;
}

/* --- PVALIDATE ------------------------------------------------------------------------ */

struct pval_entry {
	u64 gpa;
	enum page_size size;
	bool validate;
	bool ignore_cf;
};

static u32 core_pval_decode(u64 e, struct pval_entry *out)
{
	u64 size = e & SVSM_PVAL_SIZE_MASK;

	if (size > PAGE_SIZE_2M || (e & SVSM_PVAL_RESERVED_MASK)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	out->gpa = e & ~PAGE_MASK;
	out->size = (enum page_size)size;
	out->validate = (e & SVSM_PVAL_VALIDATE) != 0;
	out->ignore_cf = (e & SVSM_PVAL_IGNORE_CF) != 0;
	u64 len = core_page_bytes(out->size);
	if (!IS_ALIGNED(out->gpa, len)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (!core_range_in_memory(out->gpa, len) || core_range_private(out->gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	return SVSM_SUCCESS;
}

/* Validate (zero, then grant) or invalidate (revoke, then rescind) one entry. */
static u32 core_pval_one(const struct pval_entry *p, u8 caller_vmpl)
{
	u64 len = core_page_bytes(p->size);

	if (p->validate) {
		u32 rc = arch_pvalidate(p->gpa, p->size, true);
		if (rc == RMP_UNCHANGED) {
			/* Already validated, hence already the guest's: nothing to zero or grant. */
			return p->ignore_cf ? SVSM_SUCCESS : SVSM_ERR_PVALIDATE_FAIL_UNCHANGED;
		}
		if (rc != RMP_SUCCESS) {
			return core_rmp_result(rc);
		}
		if (!core_zero_guest(p->gpa, len)) {
			arch_pvalidate(p->gpa, p->size, false);
			return SVSM_ERR_INVALID_ADDRESS;
		}
		rc = core_grant(p->gpa, p->size, caller_vmpl);
		if (rc != RMP_SUCCESS) {
			arch_pvalidate(p->gpa, p->size, false);
			return core_rmp_result(rc);
		}
		return SVSM_SUCCESS;
	}

	u32 rc = core_revoke(p->gpa, p->size);
	/* FAIL_PERMISSION here means "not validated": PVALIDATE will report unchanged. */
	if (rc != RMP_SUCCESS && rc != RMP_FAIL_PERMISSION) {
		return core_rmp_result(rc);
	}
	bool revoked = rc == RMP_SUCCESS;
	rc = arch_pvalidate(p->gpa, p->size, false);
	if (rc == RMP_UNCHANGED) {
		return p->ignore_cf ? SVSM_SUCCESS : SVSM_ERR_PVALIDATE_FAIL_UNCHANGED;
	}
	if (rc != RMP_SUCCESS) {
		if (revoked) {
			core_grant(p->gpa, p->size, caller_vmpl);
		}
		return core_rmp_result(rc);
	}
	return SVSM_SUCCESS;
}

static u32 core_pvalidate(struct svsm_call *c)
{
	struct svsm_list_hdr hdr;
	struct pval_entry p;
	u32 rc = core_list_read(c->rcx, &hdr);

	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	/* Check every remaining entry before acting on any. */
	for (u16 i = hdr.next; i < hdr.entries; i++) {
		rc = core_pval_decode(list_buf[i], &p);
		if (rc != SVSM_SUCCESS) {
			core_list_set_next(c->rcx, i);
			return rc;
		}
	}
	u64 done = 0;
	for (u16 i = hdr.next; i < hdr.entries; i++) {
		core_pval_decode(list_buf[i], &p);
		u64 cost = core_page_bytes(p.size) >> PAGE_SHIFT;
		if (done > 0 && done + cost > PVALIDATE_BATCH_PAGES) {
			core_list_set_next(c->rcx, i);
			return SVSM_ERR_INCOMPLETE;
		}
		rc = core_pval_one(&p, c->caller_vmpl);
		if (rc != SVSM_SUCCESS) {
			core_list_set_next(c->rcx, i);
			return rc;
		}
		done += cost;
	}
	core_list_set_next(c->rcx, hdr.entries);
	return SVSM_SUCCESS;
}

/* --- CREATE_VCPU / DELETE_VCPU -------------------------------------------------------- */

/* The VMSA rules of CREATE_VCPU, in spec order, on a private copy. */
static u32 core_vmsa_check(const u8 *vmsa, u8 caller_vmpl)
{
	u8 vmpl = vmsa[VMSA_VMPL];
	u64 efer;
	u64 features;

	memcpy(&efer, vmsa + VMSA_EFER, sizeof(efer));
	memcpy(&features, vmsa + VMSA_SEV_FEATURES, sizeof(features));
	if (vmpl == 0 || vmpl < caller_vmpl || vmpl > 3) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (!(efer & EFER_SVME)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (features != vcpu_reference_sev_features()) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	return SVSM_SUCCESS;
}

static u32 core_create_vcpu(struct svsm_call *c)
{
	static SVSM_SCRATCH u8 vmsa[VMSA_SIZE];
	static SVSM_SCRATCH u8 recheck[VMSA_SIZE];
	u64 vmsa_gpa = c->rcx;
	u64 caa_gpa = c->rdx;

	if (!IS_ALIGNED(vmsa_gpa, PAGE_SIZE) || !IS_ALIGNED(caa_gpa, PAGE_SIZE) || (c->r8 >> 32) != 0) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	u32 apic_id = (u32)c->r8;
	if (vmsa_gpa == caa_gpa) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	u64 gpas[2] = {vmsa_gpa, caa_gpa};
	for (unsigned i = 0; i < 2; i++) {
		if (!core_range_in_memory(gpas[i], PAGE_SIZE) || core_range_private(gpas[i], PAGE_SIZE) ||
		    vcpu_page_is_caa(gpas[i])) {
			return SVSM_ERR_INVALID_ADDRESS;
		}
	}
	if (vcpu_find_apic(apic_id)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	u8 probe;
	u32 rc = guestmem_read(caa_gpa, &probe, 1);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	rc = guestmem_read(vmsa_gpa, vmsa, VMSA_SIZE);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	rc = core_vmsa_check(vmsa, c->caller_vmpl);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	struct svsm_vcpu *nv = mem_zalloc(sizeof(*nv));
	if (!nv) {
		return SVSM_RESULT_NEED_MEMORY | 1;
	}
	u8 vmpl = vmsa[VMSA_VMPL];
	/* Take the page away from the guest, then make it a VMSA readable at its VMPL. */
	u32 rrc = core_revoke(vmsa_gpa, PAGE_SIZE_4K);
	if (rrc != RMP_SUCCESS) {
		mem_free(nv);
		return rrc == RMP_FAIL_PERMISSION ? SVSM_ERR_INVALID_ADDRESS : core_rmp_result(rrc);
	}
	/* The guest may have raced us between the copy and the revoke: check what we own now. */
	if (arch_guest_read(vmsa_gpa, recheck, VMSA_SIZE) != 0 || memcmp(vmsa, recheck, VMSA_SIZE) != 0) {
		core_zero_guest(vmsa_gpa, PAGE_SIZE);
		core_grant(vmsa_gpa, PAGE_SIZE_4K, c->caller_vmpl);
		mem_free(nv);
		return SVSM_ERR_INVALID_PARAMETER;
	}
	rrc = arch_rmpadjust(vmsa_gpa, PAGE_SIZE_4K, vmpl, VMPL_PERM_READ, true);
	if (rrc != RMP_SUCCESS) {
		core_grant(vmsa_gpa, PAGE_SIZE_4K, c->caller_vmpl);
		mem_free(nv);
		return core_rmp_result(rrc);
	}
	nv->apic_id = apic_id;
	nv->guest_vmsa_gpa = vmsa_gpa;
	nv->vmsa = arch_phys_to_virt(vmsa_gpa);
	nv->caa_gpa = caa_gpa;
	nv->guest_vmpl = vmpl;
	if (vcpu_insert(nv) != 0) {
		arch_rmpadjust(vmsa_gpa, PAGE_SIZE_4K, vmpl, 0, false);
		core_grant(vmsa_gpa, PAGE_SIZE_4K, c->caller_vmpl);
		mem_free(nv);
		return SVSM_ERR_INVALID_REQUEST;
	}
	return SVSM_SUCCESS;
}

static u32 core_delete_vcpu(struct svsm_call *c)
{
	u64 vmsa_gpa = c->rcx;

	if (!IS_ALIGNED(vmsa_gpa, PAGE_SIZE)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	struct svsm_vcpu *t = vcpu_find_vmsa(vmsa_gpa);
	if (!t || t->startup || t->guest_vmpl < c->caller_vmpl) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	u64 efer;
	if (arch_guest_read(vmsa_gpa + VMSA_EFER, &efer, sizeof(efer)) != 0) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	u64 stopped = efer & ~EFER_SVME;
	if (arch_guest_write(vmsa_gpa + VMSA_EFER, &stopped, sizeof(stopped)) != 0) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	/* A VMSA that is running cannot be changed: RMPADJUST says FAIL_INUSE. */
	u32 rc = arch_rmpadjust(vmsa_gpa, PAGE_SIZE_4K, t->guest_vmpl, 0, false);
	if (rc != RMP_SUCCESS) {
		arch_guest_write(vmsa_gpa + VMSA_EFER, &efer, sizeof(efer));
		return rc == RMP_FAIL_INUSE ? SVSM_ERR_DELETE_VCPU_FAIL_INUSE : core_rmp_result(rc);
	}
	/* The page goes back to the guest as a normal page, without its register state. */
	core_zero_guest(vmsa_gpa, PAGE_SIZE);
	rc = core_grant(vmsa_gpa, PAGE_SIZE_4K, c->caller_vmpl);
	if (rc != RMP_SUCCESS) {
		log_warn("cannot return VMSA page %llx to the guest (%u)", (unsigned long long)vmsa_gpa, rc);
	}
	if (t == c->vcpu) {
		/* Deleting one's own VMSA never returns: the hypervisor forgets this context. */
		if (t->ghcb_ready) {
			ghcb_ap_create(&t->ghcb, SVM_AP_DESTROY, t->guest_vmpl, t->apic_id, vmsa_gpa, 0);
		}
		c->vcpu_deleted = true;
	}
	vcpu_remove(t);
	vcpu_destroy(t);
	/* Freed slabs go back to the page allocator so mem_available stays true. */
	mm_drain();
	return SVSM_SUCCESS;
}

/* --- DEPOSIT_MEM / WITHDRAW_MEM ------------------------------------------------------- */

static void core_update_mem_available(void)
{
	struct svsm_vcpu *boot = vcpu_find_apic(svsm_boot_params()->bsp_apic_id);
	u8 avail = mm_withdraw_available() ? 1 : 0;

	if (boot) {
		arch_guest_write(boot->caa_gpa + SVSM_CA_MEM_AVAILABLE_OFFSET, &avail, 1);
	}
}

static u32 core_deposit_decode(u64 e, u64 list_gpa, u64 *gpa, u64 *pages)
{
	u64 size = e & SVSM_DEPOSIT_SIZE_MASK;

	if (size > PAGE_SIZE_2M || (e & SVSM_DEPOSIT_RESERVED_MASK)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	u64 len = core_page_bytes((enum page_size)size);
	*gpa = e & ~PAGE_MASK;
	*pages = len >> PAGE_SHIFT;
	if (!IS_ALIGNED(*gpa, len)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (!core_range_in_memory(*gpa, len) || core_range_private(*gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	/* Neither a calling area nor the list itself can become SVSM memory. */
	u64 list_page = ALIGN_DOWN(list_gpa, PAGE_SIZE);
	if (vcpu_range_has_caa(*gpa, len) || (list_page >= *gpa && list_page - *gpa < len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	return SVSM_SUCCESS;
}

static u32 core_deposit_mem(struct svsm_call *c)
{
	struct svsm_list_hdr hdr;
	u32 rc = core_list_read(c->rcx, &hdr);

	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	/*
	 * Decode and check every entry before changing anything; the overlap check compares
	 * decoded ranges (at most ~130 000 pairs for a full list, no per-page work).
	 */
	for (u16 i = hdr.next; i < hdr.entries; i++) {
		u64 gpa, pages;
		rc = core_deposit_decode(list_buf[i], c->rcx, &gpa, &pages);
		/* Overlap with an earlier entry of this list. */
		for (u16 j = hdr.next; j < i && rc == SVSM_SUCCESS; j++) {
			u64 g2 = deposit_gpa[j];
			if (gpa < g2 + (deposit_pages[j] << PAGE_SHIFT) && g2 < gpa + (pages << PAGE_SHIFT)) {
				rc = SVSM_ERR_INVALID_ADDRESS;
			}
		}
		if (rc != SVSM_SUCCESS) {
			core_list_set_next(c->rcx, i);
			return rc;
		}
		deposit_gpa[i] = gpa;
		deposit_pages[i] = pages;
	}
	for (u16 i = hdr.next; i < hdr.entries; i++) {
		u64 gpa = deposit_gpa[i], pages = deposit_pages[i];
		enum page_size size = pages == 1 ? PAGE_SIZE_4K : PAGE_SIZE_2M;
		u32 rrc = core_revoke(gpa, size);
		if (rrc != RMP_SUCCESS) {
			core_list_set_next(c->rcx, i);
			core_update_mem_available();
			return rrc == RMP_FAIL_PERMISSION ? SVSM_ERR_INVALID_ADDRESS : core_rmp_result(rrc);
		}
		owned_set(gpa, pages, true);
		if (mm_add_memory(arch_phys_to_virt(gpa), pages, true) != 0) {
			/* Cannot happen for checked input; give the (zeroed) pages back unchanged in RMP. */
			owned_set(gpa, pages, false);
			core_zero_guest(gpa, pages << PAGE_SHIFT);
			core_grant(gpa, size, c->caller_vmpl);
			core_list_set_next(c->rcx, i);
			core_update_mem_available();
			return SVSM_ERR_INVALID_ADDRESS;
		}
	}
	core_list_set_next(c->rcx, hdr.entries);
	core_update_mem_available();
	return SVSM_SUCCESS;
}

/* Put withdrawn pages back into the SVSM (rollback of a failed withdraw). */
static void core_withdraw_undo(u64 count)
{
	for (u64 i = 0; i < count; i++) {
		u64 gpa = withdraw_gpas[i];
		core_revoke(gpa, PAGE_SIZE_4K);
		owned_set(gpa, 1, true);
		mm_add_memory(withdraw_buf[i], 1, true);
	}
}

static u32 core_withdraw_mem(struct svsm_call *c)
{
	u64 gpa = c->rcx;
	struct svsm_withdraw_hdr hdr = {0};

	if (!IS_ALIGNED(gpa, 8) || (gpa & PAGE_MASK) + sizeof(hdr) + 8 > PAGE_SIZE) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	u64 capacity = (PAGE_SIZE - (gpa & PAGE_MASK) - sizeof(hdr)) / 8;
	/* The whole buffer must be writable guest memory before anything is taken out. */
	u32 rc = guestmem_read(gpa, &hdr, sizeof(hdr));
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	u64 n = mm_withdraw(withdraw_buf, capacity);
	u64 granted = 0;
	for (; granted < n; granted++) {
		u64 pg = arch_virt_to_phys(withdraw_buf[granted]);
		memset(withdraw_buf[granted], 0, PAGE_SIZE);
		owned_set(pg, 1, false);
		withdraw_gpas[granted] = pg;
		if (core_grant(pg, PAGE_SIZE_4K, c->caller_vmpl) != RMP_SUCCESS) {
			owned_set(pg, 1, true);
			break;
		}
	}
	/* Pages we could not hand back stay with the SVSM. */
	for (u64 i = granted; i < n; i++) {
		mm_add_memory(withdraw_buf[i], 1, true);
	}
	hdr.entries = (u16)granted;
	if (guestmem_write(gpa + sizeof(hdr), withdraw_gpas, 8 * granted) != SVSM_SUCCESS ||
	    guestmem_write(gpa, &hdr, sizeof(hdr)) != SVSM_SUCCESS) {
		core_withdraw_undo(granted);
		core_update_mem_available();
		return SVSM_ERR_INVALID_ADDRESS;
	}
	core_update_mem_available();
	return SVSM_SUCCESS;
}

/* --- QUERY_PROTOCOL / CONFIGURE_VTOM -------------------------------------------------- */

static u32 core_query_protocol(struct svsm_call *c)
{
	const struct svsm_protocol *p = protocol_find((u32)(c->rcx >> 32));
	u32 version = (u32)c->rcx;

	if (p && version >= p->min_version && version <= p->max_version) {
		c->rcx = ((u64)p->max_version << 32) | p->min_version;
	} else {
		c->rcx = 0;
	}
	return SVSM_SUCCESS;
}

static u32 core_configure_vtom(struct svsm_call *c)
{
	if (c->rcx & SVSM_VTOM_QUERY) {
		if (c->rcx != SVSM_VTOM_QUERY) {
			return SVSM_ERR_INVALID_PARAMETER;
		}
		/* vTOM is not supported: RCX = 0 (no "supported" bit). */
		c->rcx = 0;
		return SVSM_SUCCESS;
	}
	if (c->rcx & 0xFE0ull) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	return SVSM_ERR_INVALID_REQUEST;
}

/* Dispatch within the core protocol. */
u32 core_protocol_handle(u32 call_id, struct svsm_call *call)
{
	switch (call_id) {
	case SVSM_CORE_REMAP_CA:
		return core_remap_ca(call);
	case SVSM_CORE_PVALIDATE:
		return core_pvalidate(call);
	case SVSM_CORE_CREATE_VCPU:
		return core_create_vcpu(call);
	case SVSM_CORE_DELETE_VCPU:
		return core_delete_vcpu(call);
	case SVSM_CORE_DEPOSIT_MEM:
		return core_deposit_mem(call);
	case SVSM_CORE_WITHDRAW_MEM:
		return core_withdraw_mem(call);
	case SVSM_CORE_QUERY_PROTOCOL:
		return core_query_protocol(call);
	case SVSM_CORE_CONFIGURE_VTOM:
		return core_configure_vtom(call);
	default:
		return SVSM_ERR_UNSUPPORTED_CALL;
	}
}
