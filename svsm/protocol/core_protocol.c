/*
 * The SVSM core protocol (0): REMAP_CA, PVALIDATE, CREATE_VCPU, DELETE_VCPU,
 * DEPOSIT_MEM, WITHDRAW_MEM, QUERY_PROTOCOL, CONFIGURE_VTOM.
 *
 * Every handler decodes and checks its input, including the caller's own rights to every
 * page it names (svsm/include/svsm/guestmem.h), before it changes anything, so a rejected
 * call leaves the RMP, guest memory and the SVSM's state as they were. Where an action can
 * still fail after a first change (the hardware or the hypervisor says no), the failure
 * path puts back exactly what was there: the permission masks of every guest VMPL are read
 * with RMPQUERY before they are changed. The list calls (PVALIDATE, DEPOSIT_MEM) work
 * entry by entry as the spec defines: entries before "next" are done, the entry at "next"
 * is the one that failed, nothing after it was touched.
 *
 * Concurrency: every vCPU can be in a handler at once. A handler holds no lock while it
 * works: the pages it acts on are claimed first (claim.h), so the checks made on a page
 * stay true until the action is done, and a page another call is working on gets
 * SVSM_ERR_BUSY (for a list, "next" names the busy entry). Buffers are this CPU's scratch
 * (cpu.h). After masks are reduced, the vCPUs of the VMPLs that lost rights are asked to
 * flush their translations (vcpu_flush_translations).
 */
#include <svsm/arch.h>
#include <svsm/claim.h>
#include <svsm/core.h>
#include <svsm/guestmem.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/spinlock.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

/* PVALIDATE work per call before answering INCOMPLETE, in 4 KiB pages. */
#define PVALIDATE_BATCH_PAGES 256u
#define LIST_MAX_ENTRIES ((PAGE_SIZE - sizeof(struct svsm_list_hdr)) / 8)
#define GUEST_VMPL_FIRST 1
#define GUEST_VMPL_LAST 3

/* The buffers of one call, in its CPU's scratch. */
struct core_scratch {
	u64 list[LIST_MAX_ENTRIES];
	void *withdraw_pages[LIST_MAX_ENTRIES];
	u64 withdraw_gpas[LIST_MAX_ENTRIES];
	u8 vmsa[VMSA_SIZE];
};
_Static_assert(sizeof(struct core_scratch) <= SVSM_CPU_SCRATCH_SIZE, "core scratch exceeds the per-CPU scratch");

static struct core_scratch *core_scratch(const struct svsm_call *c)
{
	return (struct core_scratch *)c->cpu->scratch;
}

static const u8 zero_page[PAGE_SIZE];

/* Map a PVALIDATE/RMPADJUST outcome to the SVSM result code. */
static u32 core_rmp_result(u32 rc)
{
	if (rc == RMP_SUCCESS) {
		return SVSM_SUCCESS;
	}
	if (rc == RMP_FAULT || rc == RMP_UNSUPPORTED) {
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

/* --- permission masks of the guest VMPLs ------------------------------------------ */

/* The masks VMPL1-3 hold on one page (or one 2 MiB RMP entry), to put back after a failure. */
struct core_perms {
	u8 mask[GUEST_VMPL_LAST + 1];
};

/*
 * Read the masks of a validated page. Without RMPQUERY the SVSM only knows what it gave:
 * the boot guest VMPL has full access, the others none (the SVSM serves no other VMPL
 * then, see guestmem.h).
 */
static void core_perms_save(u64 gpa, struct core_perms *p)
{
	u8 boot = svsm_boot_params()->guest_vmpl;

	for (u8 vmpl = GUEST_VMPL_FIRST; vmpl <= GUEST_VMPL_LAST; vmpl++) {
		u8 mask = 0;
		u32 rc = arch_rmpquery(gpa, vmpl, &mask);
		if (rc == RMP_UNSUPPORTED) {
			mask = vmpl == boot ? VMPL_PERM_ALL : 0;
		} else if (rc != RMP_SUCCESS) {
			mask = 0;
		}
		p->mask[vmpl] = mask;
	}
}

/* Set every guest VMPL's mask to @p (VMPL0 may set any mask, in any order). */
static u32 core_perms_set(u64 gpa, enum page_size size, const struct core_perms *p)
{
	u32 first_error = RMP_SUCCESS;

	for (u8 vmpl = GUEST_VMPL_FIRST; vmpl <= GUEST_VMPL_LAST; vmpl++) {
		u32 rc = arch_rmpadjust(gpa, size, vmpl, p->mask[vmpl], false);
		if (rc != RMP_SUCCESS && first_error == RMP_SUCCESS) {
			first_error = rc;
		}
	}
	return first_error;
}

/* Put the saved masks back after a failed action; a failure here is the host's doing. */
static void core_perms_restore(u64 gpa, enum page_size size, const struct core_perms *p)
{
	u32 rc = core_perms_set(gpa, size, p);

	if (rc != RMP_SUCCESS) {
		log_warn("cannot restore the permissions of %llx (%u)", (unsigned long long)gpa, rc);
	}
}

/* Remove every guest VMPL's access to a validated page. */
static u32 core_revoke(u64 gpa, enum page_size size)
{
	static const struct core_perms none;

	return core_perms_set(gpa, size, &none);
}

/*
 * After the masks of @saved were taken away: the VMPLs that had some access may still
 * hold it in cached translations on other vCPUs; ask for the flush (vcpu.h).
 */
static void core_flush_after_revoke(const struct core_perms *saved)
{
	u8 lost = 0;

	for (u8 vmpl = GUEST_VMPL_FIRST; vmpl <= GUEST_VMPL_LAST; vmpl++) {
		if (saved->mask[vmpl]) {
			lost |= (u8)(1u << vmpl);
		}
	}
	if (lost) {
		vcpu_flush_translations(lost);
	}
}

/* The masks of a grant to @caller_vmpl: full access from the boot VMPL down to it, none below. */
static struct core_perms core_grant_perms(u8 caller_vmpl)
{
	struct core_perms p = {0};

	for (u8 vmpl = svsm_boot_params()->guest_vmpl; vmpl <= caller_vmpl && vmpl <= GUEST_VMPL_LAST; vmpl++) {
		p.mask[vmpl] = VMPL_PERM_ALL;
	}
	return p;
}

static u32 core_grant(u64 gpa, enum page_size size, u8 caller_vmpl)
{
	struct core_perms p = core_grant_perms(caller_vmpl);

	return core_perms_set(gpa, size, &p);
}

/* --- guest ranges -------------------------------------------------------------------- */

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

/*
 * The rights a page-state call needs on [@gpa, @gpa + @len): read and write on every
 * validated page; a page that is not validated belongs to nobody below VMPL0 yet, so
 * only the boot guest VMPL (the OS the SVSM was launched for, which owns guest memory)
 * may name it. *@validated says whether the first page is validated.
 */
static u32 core_page_rights(u8 vmpl, u64 gpa, u64 len, bool *validated)
{
	u8 boot = svsm_boot_params()->guest_vmpl;

	for (u64 p = gpa; p < gpa + len; p += PAGE_SIZE) {
		u8 perms = 0;
		u32 rc = guestmem_rights(vmpl, p, &perms);
		if (p == gpa) {
			*validated = rc != RMP_FAULT;
		}
		if (rc == RMP_FAULT) {
			if (vmpl != boot) {
				return SVSM_ERR_INVALID_ADDRESS;
			}
			continue;
		}
		if ((perms & GUESTMEM_RW) != GUESTMEM_RW) {
			return SVSM_ERR_INVALID_ADDRESS;
		}
	}
	return SVSM_SUCCESS;
}

/*
 * Is the page validated? RMPQUERY says so; without it, a one-byte probe through the
 * VMPL0 mapping (which fails on a page that is not validated).
 */
static bool core_page_validated(u64 gpa)
{
	u8 perms;
	u32 rc = arch_rmpquery(gpa, 1, &perms);

	if (rc == RMP_UNSUPPORTED) {
		u8 probe;
		return arch_guest_read(gpa, &probe, 1) == 0;
	}
	return rc == RMP_SUCCESS;
}

/* Write the list header's "next" back (its page was checked writable for the caller). */
static void core_list_set_next(const struct svsm_call *c, u64 list_gpa, u16 next)
{
	if (guestmem_write(c->caller_vmpl, list_gpa + offsetof(struct svsm_list_hdr, next), &next, sizeof(next)) !=
	    SVSM_SUCCESS) {
		log_debug("list header %llx not writable", (unsigned long long)list_gpa);
	}
}

/*
 * Read a list (header and entries) at @gpa into this CPU's scratch after checking its
 * shape. The caller must be able to write it too: the SVSM writes "next" back.
 */
static u32 core_list_read(const struct svsm_call *c, u64 gpa, struct svsm_list_hdr *hdr)
{
	if (!IS_ALIGNED(gpa, 8)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	/* A list over a calling area's header would be read twice and overwritten by the call's end. */
	if (vcpu_range_has_caa_header(gpa, PAGE_SIZE - (gpa & PAGE_MASK))) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	u32 rc = guestmem_check(c->caller_vmpl, gpa, sizeof(*hdr), GUESTMEM_RW);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	rc = guestmem_read(c->caller_vmpl, gpa, hdr, sizeof(*hdr));
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	if (hdr->entries == 0 || hdr->next >= hdr->entries ||
	    (gpa & PAGE_MASK) + sizeof(*hdr) + 8ull * hdr->entries > PAGE_SIZE) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	/* Only the entries from next on are used: entries before it are done. */
	u64 first = gpa + sizeof(*hdr) + 8ull * hdr->next;
	return guestmem_read(c->caller_vmpl, first, &core_scratch(c)->list[hdr->next], 8ull * (hdr->entries - hdr->next));
}

/* --- REMAP_CA ------------------------------------------------------------------------- */

static u32 core_remap_ca(struct svsm_call *c)
{
	u64 gpa = c->rcx;
	struct svsm_vcpu *v = c->vcpu;

	if (!IS_ALIGNED(gpa, PAGE_SIZE)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (gpa == vcpu_caa(v)) {
		return SVSM_SUCCESS;
	}
	/* Claimed: no other call can make the page a calling area meanwhile. */
	if (!claim_pages(gpa, 1)) {
		return guestmem_is_ram(gpa, PAGE_SIZE) ? SVSM_ERR_BUSY : SVSM_ERR_INVALID_ADDRESS;
	}
	u32 rc = SVSM_ERR_INVALID_ADDRESS;
	if (!vcpu_page_is_caa(gpa)) {
		/* The new CA is read and written for this vCPU from now on: its VMPL must own it. */
		rc = guestmem_check(c->caller_vmpl, gpa, PAGE_SIZE, GUESTMEM_RW);
	}
	if (rc == SVSM_SUCCESS) {
		/* The new CA starts with call_pending and mem_available cleared. */
		rc = guestmem_write(c->caller_vmpl, gpa, zero_page, sizeof(struct svsm_list_hdr));
	}
	if (rc == SVSM_SUCCESS) {
		vcpu_set_caa(v, gpa);
	}
	claim_release(gpa, 1);
	return rc;
}

/* --- PVALIDATE ------------------------------------------------------------------------ */

struct pval_entry {
	u64 gpa;
	enum page_size size;
	bool validate;
	bool ignore_cf;
	bool validated; /* the page was validated when checked */
};

/* Decode one entry: its format, and that it names guest RAM (fixed facts, no claim needed). */
static u32 core_pval_decode(u64 e, struct pval_entry *out)
{
	u64 size = e & SVSM_PVAL_SIZE_MASK;

	out->validated = false;
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
	if (!guestmem_is_ram(out->gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	return SVSM_SUCCESS;
}

/* Check a decoded entry against the current state, for the caller (pages claimed; no side effect). */
static u32 core_pval_check(const struct svsm_call *c, struct pval_entry *p)
{
	u64 len = core_page_bytes(p->size);

	if (core_range_private(p->gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	return core_page_rights(c->caller_vmpl, p->gpa, len, &p->validated);
}

/* Validate (zero, then grant) or invalidate (revoke, then rescind) one checked entry. */
static u32 core_pval_one(const struct pval_entry *p, u8 caller_vmpl)
{
	u64 len = core_page_bytes(p->size);

	if (p->validate) {
		u32 rc = arch_pvalidate(p->gpa, p->size, true);
		if (rc == RMP_UNCHANGED) {
			/* Already validated, and the caller's (checked): nothing to zero or grant. */
			return p->ignore_cf ? SVSM_SUCCESS : SVSM_ERR_PVALIDATE_FAIL_UNCHANGED;
		}
		if (rc != RMP_SUCCESS) {
			return core_rmp_result(rc);
		}
		/*
		 * The page was not validated, so no guest VMPL had access to it (RMPUPDATE and
		 * the SVSM's own rescinds leave every mask empty): failures go back to that.
		 */
		if (!core_zero_guest(p->gpa, len)) {
			arch_pvalidate(p->gpa, p->size, false);
			return SVSM_ERR_INVALID_ADDRESS;
		}
		rc = core_grant(p->gpa, p->size, caller_vmpl);
		if (rc != RMP_SUCCESS) {
			core_revoke(p->gpa, p->size);
			arch_pvalidate(p->gpa, p->size, false);
			return core_rmp_result(rc);
		}
		return SVSM_SUCCESS;
	}

	if (!p->validated) {
		/* Nothing to revoke on a page that is not validated: PVALIDATE says "unchanged". */
		u32 rc = arch_pvalidate(p->gpa, p->size, false);
		if (rc == RMP_UNCHANGED) {
			return p->ignore_cf ? SVSM_SUCCESS : SVSM_ERR_PVALIDATE_FAIL_UNCHANGED;
		}
		return core_rmp_result(rc);
	}
	struct core_perms saved;
	core_perms_save(p->gpa, &saved);
	u32 rc = core_revoke(p->gpa, p->size);
	if (rc != RMP_SUCCESS) {
		core_perms_restore(p->gpa, p->size, &saved);
		return core_rmp_result(rc);
	}
	rc = arch_pvalidate(p->gpa, p->size, false);
	if (rc == RMP_SUCCESS) {
		core_flush_after_revoke(&saved);
		return SVSM_SUCCESS;
	}
	core_perms_restore(p->gpa, p->size, &saved);
	if (rc == RMP_UNCHANGED) {
		return p->ignore_cf ? SVSM_SUCCESS : SVSM_ERR_PVALIDATE_FAIL_UNCHANGED;
	}
	return core_rmp_result(rc);
}

static u32 core_pvalidate(struct svsm_call *c)
{
	struct svsm_list_hdr hdr;
	struct pval_entry p;
	u32 rc = core_list_read(c, c->rcx, &hdr);

	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	/*
	 * Entry by entry: each is claimed, checked completely, then done; the first bad or busy
	 * one stops the list.
	 */
	const u64 *list = core_scratch(c)->list;
	u64 done = 0;
	for (u16 i = hdr.next; i < hdr.entries; i++) {
		rc = core_pval_decode(list[i], &p);
		if (rc != SVSM_SUCCESS) {
			core_list_set_next(c, c->rcx, i);
			return rc;
		}
		u64 cost = core_page_bytes(p.size) >> PAGE_SHIFT;
		if (done > 0 && done + cost > PVALIDATE_BATCH_PAGES) {
			core_list_set_next(c, c->rcx, i);
			return SVSM_ERR_INCOMPLETE;
		}
		if (!claim_pages(p.gpa, cost)) {
			core_list_set_next(c, c->rcx, i);
			return SVSM_ERR_BUSY;
		}
		rc = core_pval_check(c, &p);
		if (rc == SVSM_SUCCESS) {
			rc = core_pval_one(&p, c->caller_vmpl);
		}
		claim_release(p.gpa, cost);
		if (rc != SVSM_SUCCESS) {
			core_list_set_next(c, c->rcx, i);
			return rc;
		}
		done += cost;
	}
	core_list_set_next(c, c->rcx, hdr.entries);
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
	if (vmpl == 0 || vmpl < caller_vmpl || vmpl > GUEST_VMPL_LAST) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	/* Without RMPQUERY the SVSM serves the boot guest VMPL only (guestmem.h). */
	if (!guestmem_multi_vmpl() && vmpl != svsm_boot_params()->guest_vmpl) {
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

/* A guest page the call names for a vCPU: RAM, nobody's VMSA, not the SVSM's. */
static bool core_vcpu_page_free(u64 gpa)
{
	return guestmem_is_ram(gpa, PAGE_SIZE) && !core_range_private(gpa, PAGE_SIZE);
}

/*
 * CREATE_VCPU with both pages claimed. An APIC ID that already has a vCPU at the same
 * VMPL is a replacement (Linux's CPU offline/online cycle, docs/architecture.md): the
 * calling area may then be the replaced vCPU's own.
 */
static u32 core_create_vcpu_claimed(struct svsm_call *c, u64 vmsa_gpa, u64 caa_gpa, u32 apic_id)
{
	u8 *vmsa = core_scratch(c)->vmsa;

	if (!core_vcpu_page_free(vmsa_gpa) || !core_vcpu_page_free(caa_gpa) || vcpu_page_is_caa(vmsa_gpa) ||
	    vcpu_range_has_caa_except(caa_gpa, PAGE_SIZE, apic_id)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	/* The caller gives the VMSA page away and names the CA: it must own both. */
	u32 rc = guestmem_check(c->caller_vmpl, vmsa_gpa, PAGE_SIZE, GUESTMEM_RW);
	if (rc == SVSM_SUCCESS) {
		rc = guestmem_check(c->caller_vmpl, caa_gpa, PAGE_SIZE, GUESTMEM_RW);
	}
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	/* Capacity before any change: a table slot (checked again on insert) and the vCPU's memory. */
	if (vcpu_insert_check(apic_id, c->caller_vmpl) == VCPU_TABLE_FULL) {
		return SVSM_ERR_INVALID_REQUEST;
	}
	/* The SVSM's context for the vCPU's CPU, which holds the vCPU's entry (kept: cpu.h). */
	if (!cpu_prepare(apic_id)) {
		return SVSM_RESULT_NEED_MEMORY | 1;
	}
	/*
	 * Take the page away from every guest VMPL first, then read it once: what is checked
	 * is what becomes the VMSA. Any failure from here puts the masks back as they were.
	 */
	struct core_perms saved;
	core_perms_save(vmsa_gpa, &saved);
	u32 rrc = core_revoke(vmsa_gpa, PAGE_SIZE_4K);
	if (rrc != RMP_SUCCESS) {
		rc = core_rmp_result(rrc);
		goto undo;
	}
	if (arch_guest_read(vmsa_gpa, vmsa, VMSA_SIZE) != 0) {
		rc = SVSM_ERR_INVALID_ADDRESS;
		goto undo;
	}
	rc = core_vmsa_check(vmsa, c->caller_vmpl);
	if (rc != SVSM_SUCCESS) {
		goto undo;
	}
	u8 vmpl = vmsa[VMSA_VMPL];
	/* The new vCPU's calls read and write its CA as its own VMPL. */
	rc = guestmem_check(vmpl, caa_gpa, PAGE_SIZE, GUESTMEM_RW);
	if (rc != SVSM_SUCCESS) {
		goto undo;
	}
	/* An APIC ID taken by the startup vCPU or by a vCPU at another VMPL cannot be replaced. */
	enum vcpu_insert_result ir = vcpu_insert_check(apic_id, vmpl);
	if (ir != VCPU_INSERTED) {
		rc = ir == VCPU_APIC_TAKEN ? SVSM_ERR_INVALID_PARAMETER : SVSM_ERR_INVALID_REQUEST;
		goto undo;
	}
	/* Guest VMPLs that could write the page may still do so through cached translations. */
	core_flush_after_revoke(&saved);
	rrc = arch_rmpadjust(vmsa_gpa, PAGE_SIZE_4K, vmpl, VMPL_PERM_READ, true);
	if (rrc != RMP_SUCCESS) {
		rc = core_rmp_result(rrc);
		goto undo;
	}
	const struct svsm_vcpu desc = {
		.apic_id = apic_id,
		.guest_vmsa_gpa = vmsa_gpa,
		.vmsa = arch_phys_to_virt(vmsa_gpa),
		.caa_gpa = caa_gpa,
		.guest_vmpl = vmpl,
	};
	ir = vcpu_insert(&desc, NULL);
	if (ir != VCPU_INSERTED) {
		/* Another call took the last slot or the APIC ID since the check: undo. */
		arch_rmpadjust(vmsa_gpa, PAGE_SIZE_4K, vmpl, 0, false);
		rc = ir == VCPU_APIC_TAKEN ? SVSM_ERR_INVALID_PARAMETER : SVSM_ERR_INVALID_REQUEST;
		goto undo;
	}
	return SVSM_SUCCESS;

undo:
	core_perms_restore(vmsa_gpa, PAGE_SIZE_4K, &saved);
	return rc;
}

static u32 core_create_vcpu(struct svsm_call *c)
{
	u64 vmsa_gpa = c->rcx;
	u64 caa_gpa = c->rdx;

	/* A vCPU on a CPU the SVSM does not run on could never call it (coconut's rule too). */
	if (!IS_ALIGNED(vmsa_gpa, PAGE_SIZE) || !IS_ALIGNED(caa_gpa, PAGE_SIZE) || (c->r8 >> 32) != 0 ||
	    !arch_cpu_present((u32)c->r8)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (vmsa_gpa == caa_gpa || !guestmem_is_ram(vmsa_gpa, PAGE_SIZE) || !guestmem_is_ram(caa_gpa, PAGE_SIZE)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	if (!claim_pages(vmsa_gpa, 1)) {
		return SVSM_ERR_BUSY;
	}
	if (!claim_pages(caa_gpa, 1)) {
		claim_release(vmsa_gpa, 1);
		return SVSM_ERR_BUSY;
	}
	u32 rc = core_create_vcpu_claimed(c, vmsa_gpa, caa_gpa, (u32)c->r8);
	claim_release(caa_gpa, 1);
	claim_release(vmsa_gpa, 1);
	return rc;
}

/* DELETE_VCPU of @t with its VMSA page claimed and its deletion begun. */
static u32 core_delete_vcpu_begun(struct svsm_call *c, struct svsm_vcpu *t)
{
	u64 vmsa_gpa = t->guest_vmsa_gpa;
	/*
	 * Clear the VMSA attribute first: the hardware refuses that (FAIL_INUSE) while the
	 * VMSA runs, so a running vCPU is found before anything changed, and once the
	 * attribute is gone nobody can run the page again.
	 */
	u32 rc = arch_rmpadjust(vmsa_gpa, PAGE_SIZE_4K, t->guest_vmpl, 0, false);
	if (rc != RMP_SUCCESS) {
		return rc == RMP_FAIL_INUSE ? SVSM_ERR_DELETE_VCPU_FAIL_INUSE : core_rmp_result(rc);
	}
	u64 efer = __atomic_load_n((u64 *)(t->vmsa + VMSA_EFER), __ATOMIC_RELAXED);
	__atomic_store_n((u64 *)(t->vmsa + VMSA_EFER), efer & ~EFER_SVME, __ATOMIC_RELAXED);
	/* The page goes back to the guest as a normal page, without its register state. */
	core_zero_guest(vmsa_gpa, PAGE_SIZE);
	rc = core_grant(vmsa_gpa, PAGE_SIZE_4K, c->caller_vmpl);
	if (rc != RMP_SUCCESS) {
		log_warn("cannot return VMSA page %llx to the guest (%u)", (unsigned long long)vmsa_gpa, rc);
	}
	if (t == c->vcpu) {
		/* Deleting one's own VMSA never returns: the hypervisor forgets this context. */
		struct ghcb_page *g = cpu_ghcb();
		if (g) {
			ghcb_ap_create(g, SVM_AP_DESTROY, t->guest_vmpl, t->apic_id, vmsa_gpa, 0);
		}
		c->vcpu_deleted = true;
	}
	return SVSM_SUCCESS;
}

static u32 core_delete_vcpu(struct svsm_call *c)
{
	u64 vmsa_gpa = c->rcx;

	if (!IS_ALIGNED(vmsa_gpa, PAGE_SIZE)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	struct svsm_vcpu *t = vcpu_get_vmsa(vmsa_gpa);
	if (!t) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	u32 rc = SVSM_ERR_INVALID_PARAMETER;
	if (t->startup || t->guest_vmpl < c->caller_vmpl) {
		goto out;
	}
	rc = SVSM_ERR_BUSY;
	if (!claim_pages(vmsa_gpa, 1)) {
		goto out;
	}
	/* A call of that vCPU being served on another CPU: it is in use. */
	rc = SVSM_ERR_DELETE_VCPU_FAIL_INUSE;
	if (vcpu_delete_begin(t, c->vcpu)) {
		rc = core_delete_vcpu_begun(c, t);
		vcpu_delete_end(t, rc == SVSM_SUCCESS);
	}
	claim_release(vmsa_gpa, 1);
out:
	/* After a deletion this drops the last reference but the caller's own: the entry is freed. */
	vcpu_put(t);
	if (rc == SVSM_SUCCESS) {
		/* Freed slabs go back to the page allocator so mem_available stays true. */
		mm_drain();
	}
	return rc;
}

/* --- DEPOSIT_MEM / WITHDRAW_MEM ------------------------------------------------------- */

/*
 * The startup vCPU's calling area is the one other CPUs write too (the flag after their
 * DEPOSIT_MEM and WITHDRAW_MEM): its writes, by any CPU, go under this leaf lock, the
 * answer computed under it, so the last write is the current answer. Another vCPU's CA
 * is written by its own calls only and needs no lock.
 */
static SVSM_STATE struct spinlock mem_available_lock = SPINLOCK_INIT;

void core_mem_available_lock_reset(void)
{
	mem_available_lock = (struct spinlock)SPINLOCK_INIT;
}

/* See core.h. */
void core_write_mem_available(u64 caa, u8 vmpl, bool with_pending, bool startup)
{
	if (startup) {
		spin_lock(&mem_available_lock);
	}
	u8 hdr[2] = {0, mm_withdraw_available() ? 1 : 0};
	if (with_pending) {
		if (arch_guest_write(caa + SVSM_CA_CALL_PENDING_OFFSET, hdr, sizeof(hdr)) != 0) {
			log_debug("calling area %llx not writable", (unsigned long long)caa);
		}
	} else {
		guestmem_write(vmpl, caa + SVSM_CA_MEM_AVAILABLE_OFFSET, &hdr[1], 1);
	}
	if (startup) {
		spin_unlock(&mem_available_lock);
	}
}

static void core_update_mem_available(void)
{
	struct svsm_vcpu *boot = vcpu_get_apic(svsm_boot_params()->bsp_apic_id);

	if (boot) {
		core_write_mem_available(vcpu_caa(boot), boot->guest_vmpl, false, true);
		vcpu_put(boot);
	}
}

/* Decode one deposit entry: format, guest RAM, not the list's own page. No claim needed. */
static u32 core_deposit_decode(const struct svsm_call *c, u64 e, u64 *gpa, u64 *pages)
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
	u64 list_page = ALIGN_DOWN(c->rcx, PAGE_SIZE);
	if (!guestmem_is_ram(*gpa, len) || (list_page >= *gpa && list_page - *gpa < len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	return SVSM_SUCCESS;
}

/*
 * Check a claimed deposit entry for the caller: not the SVSM's, no VMSA, no calling area,
 * validated, and the caller's to give (read and write on every page). No side effect.
 */
static u32 core_deposit_check(const struct svsm_call *c, u64 gpa, u64 len)
{
	if (core_range_private(gpa, len) || vcpu_range_has_caa(gpa, len)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	/* The SVSM will use the pages as memory: they must be validated, whatever RMPADJUST does. */
	for (u64 p = gpa; p < gpa + len; p += PAGE_SIZE) {
		if (!core_page_validated(p)) {
			return SVSM_ERR_INVALID_ADDRESS;
		}
	}
	return guestmem_check(c->caller_vmpl, gpa, len, GUESTMEM_RW);
}

/* Take one checked, claimed entry: revoke, flush, own, give to the allocator; undone on failure. */
static u32 core_deposit_take(u64 gpa, u64 pages)
{
	enum page_size size = pages == 1 ? PAGE_SIZE_4K : PAGE_SIZE_2M;
	struct core_perms saved;

	core_perms_save(gpa, &saved);
	u32 rrc = core_revoke(gpa, size);
	if (rrc != RMP_SUCCESS) {
		core_perms_restore(gpa, size, &saved);
		return core_rmp_result(rrc);
	}
	core_flush_after_revoke(&saved);
	owned_set(gpa, pages, true);
	if (mm_add_memory(arch_phys_to_virt(gpa), pages, true) != 0) {
		/* The allocator refused the range: it stays the guest's, as it was. */
		owned_set(gpa, pages, false);
		core_perms_restore(gpa, size, &saved);
		return SVSM_ERR_INVALID_ADDRESS;
	}
	return SVSM_SUCCESS;
}

static u32 core_deposit_mem(struct svsm_call *c)
{
	struct svsm_list_hdr hdr;
	u32 rc = core_list_read(c, c->rcx, &hdr);

	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	/*
	 * Entry by entry, each claimed and checked completely before it is taken. An entry
	 * that overlaps an earlier one of the same list finds its pages already owned.
	 */
	const u64 *list = core_scratch(c)->list;
	for (u16 i = hdr.next; i < hdr.entries; i++) {
		u64 gpa, pages;
		rc = core_deposit_decode(c, list[i], &gpa, &pages);
		if (rc != SVSM_SUCCESS) {
			break;
		}
		if (!claim_pages(gpa, pages)) {
			rc = SVSM_ERR_BUSY;
			break;
		}
		rc = core_deposit_check(c, gpa, pages << PAGE_SHIFT);
		if (rc == SVSM_SUCCESS) {
			rc = core_deposit_take(gpa, pages);
		}
		claim_release(gpa, pages);
		if (rc != SVSM_SUCCESS) {
			break;
		}
		hdr.next = (u16)(i + 1);
	}
	core_list_set_next(c, c->rcx, rc == SVSM_SUCCESS ? hdr.entries : hdr.next);
	core_update_mem_available();
	return rc;
}

/*
 * Take withdrawn pages back (a failed withdraw). Each page is claimed and taken only if
 * it is still validated: between the grant and now another vCPU of the guest may have
 * acted on it. A page that changed stays the guest's.
 */
static void core_withdraw_undo(struct core_scratch *s, u64 count, u8 caller_vmpl)
{
	struct core_perms granted = core_grant_perms(caller_vmpl);

	for (u64 i = 0; i < count; i++) {
		u64 gpa = s->withdraw_gpas[i];
		if (!claim_pages(gpa, 1)) {
			continue;
		}
		if (core_page_validated(gpa) && core_revoke(gpa, PAGE_SIZE_4K) == RMP_SUCCESS) {
			core_flush_after_revoke(&granted);
			owned_set(gpa, 1, true);
			mm_add_memory(s->withdraw_pages[i], 1, true);
		}
		claim_release(gpa, 1);
	}
}

static u32 core_withdraw_mem(struct svsm_call *c)
{
	struct core_scratch *s = core_scratch(c);
	u64 gpa = c->rcx;
	struct svsm_withdraw_hdr hdr = {0};

	if (!IS_ALIGNED(gpa, 8) || (gpa & PAGE_MASK) + sizeof(hdr) + 8 > PAGE_SIZE) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	u64 capacity = (PAGE_SIZE - (gpa & PAGE_MASK) - sizeof(hdr)) / 8;
	if (vcpu_range_has_caa_header(gpa, sizeof(hdr) + 8 * capacity)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	/* The whole buffer must be the caller's to write before anything is taken out. */
	u32 rc = guestmem_check(c->caller_vmpl, gpa, sizeof(hdr) + 8 * capacity, GUESTMEM_RW);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	u64 n = mm_withdraw(s->withdraw_pages, capacity);
	u64 granted = 0;
	for (; granted < n; granted++) {
		u64 pg = arch_virt_to_phys(s->withdraw_pages[granted]);
		/* The page is the SVSM's: only a stray claim (a guest call naming it) can hold it. */
		if (!claim_pages(pg, 1)) {
			break;
		}
		memset(s->withdraw_pages[granted], 0, PAGE_SIZE);
		owned_set(pg, 1, false);
		s->withdraw_gpas[granted] = pg;
		bool ok = core_grant(pg, PAGE_SIZE_4K, c->caller_vmpl) == RMP_SUCCESS;
		if (!ok) {
			core_revoke(pg, PAGE_SIZE_4K);
			owned_set(pg, 1, true);
		}
		claim_release(pg, 1);
		if (!ok) {
			break;
		}
	}
	/* Pages we could not hand back stay with the SVSM. */
	for (u64 i = granted; i < n; i++) {
		mm_add_memory(s->withdraw_pages[i], 1, true);
	}
	hdr.entries = (u16)granted;
	if (guestmem_write(c->caller_vmpl, gpa + sizeof(hdr), s->withdraw_gpas, 8 * granted) != SVSM_SUCCESS ||
	    guestmem_write(c->caller_vmpl, gpa, &hdr, sizeof(hdr)) != SVSM_SUCCESS) {
		core_withdraw_undo(s, granted, c->caller_vmpl);
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
