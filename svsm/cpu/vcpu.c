/*
 * The vCPU table: one entry per guest vCPU the SVSM serves (startup vCPU and every
 * CREATE_VCPU), found by APIC ID on entry, with the vCPU's guest VMSA, calling area
 * and the SVSM's own GHCB on it.
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>

static SVSM_STATE struct {
	struct svsm_vcpu *slots[SVSM_MAX_VCPUS];
	u32 count;
	u64 reference_sev_features;
} vcpus;

/* Forget every vCPU (fresh boot); the structures were freed with the old heap. */
static void vcpu_table_reset(void)
{
	memset(&vcpus, 0, sizeof(vcpus));
}

/*
 * The table is dense: slots[0..count) are in use, so lookups touch only live vCPUs.
 * Writers hold core_lock; removal moves the last entry into the hole.
 */

/* The entry for @apic_id, or NULL. */
struct svsm_vcpu *vcpu_find_apic(u32 apic_id)
{
	u32 n = __atomic_load_n(&vcpus.count, __ATOMIC_ACQUIRE);

	for (u32 i = 0; i < n; i++) {
		struct svsm_vcpu *v = __atomic_load_n(&vcpus.slots[i], __ATOMIC_ACQUIRE);
		if (v && v->apic_id == apic_id) {
			return v;
		}
	}
	return NULL;
}

/* The vCPU running this code (by APIC ID). */
struct svsm_vcpu *vcpu_current(void)
{
	return vcpu_find_apic(arch_cpu_apic_id());
}

/* The entry whose guest VMSA is at @vmsa_gpa, or NULL. */
struct svsm_vcpu *vcpu_find_vmsa(u64 vmsa_gpa)
{
	for (u32 i = 0; i < vcpus.count; i++) {
		if (vcpus.slots[i]->guest_vmsa_gpa == vmsa_gpa) {
			return vcpus.slots[i];
		}
	}
	return NULL;
}

/* True if @gpa's page is some vCPU's guest VMSA. */
bool vcpu_page_is_vmsa(u64 gpa)
{
	return vcpu_find_vmsa(ALIGN_DOWN(gpa, PAGE_SIZE)) != NULL;
}

/* True if @gpa's page is some vCPU's calling area. */
bool vcpu_page_is_caa(u64 gpa)
{
	u64 page = ALIGN_DOWN(gpa, PAGE_SIZE);

	for (u32 i = 0; i < vcpus.count; i++) {
		if (vcpus.slots[i]->caa_gpa == page) {
			return true;
		}
	}
	return false;
}

/* Whether page @page lies in the pages of [@gpa, @gpa + @len). */
static bool vcpu_page_in(u64 page, u64 gpa, u64 len)
{
	u64 first = ALIGN_DOWN(gpa, PAGE_SIZE);

	return len != 0 && page >= first && page - first < gpa + len - first;
}

bool vcpu_range_has_vmsa(u64 gpa, u64 len)
{
	for (u32 i = 0; i < vcpus.count; i++) {
		if (vcpu_page_in(vcpus.slots[i]->guest_vmsa_gpa, gpa, len)) {
			return true;
		}
	}
	return false;
}

bool vcpu_range_has_caa(u64 gpa, u64 len)
{
	for (u32 i = 0; i < vcpus.count; i++) {
		if (vcpu_page_in(ALIGN_DOWN(vcpus.slots[i]->caa_gpa, PAGE_SIZE), gpa, len)) {
			return true;
		}
	}
	return false;
}

bool vcpu_table_full(void)
{
	return vcpus.count >= SVSM_MAX_VCPUS;
}

bool vcpu_range_has_caa_header(u64 gpa, u64 len)
{
	for (u32 i = 0; i < vcpus.count; i++) {
		u64 hdr = vcpus.slots[i]->caa_gpa;
		if (len != 0 && gpa < hdr + sizeof(struct svsm_list_hdr) && hdr < gpa + len) {
			return true;
		}
	}
	return false;
}

/* Add @v; -1 if its APIC ID is taken or the table is full. */
int vcpu_insert(struct svsm_vcpu *v)
{
	if (vcpu_find_apic(v->apic_id) || vcpus.count >= SVSM_MAX_VCPUS) {
		return -1;
	}
	__atomic_store_n(&vcpus.slots[vcpus.count], v, __ATOMIC_RELEASE);
	__atomic_store_n(&vcpus.count, vcpus.count + 1, __ATOMIC_RELEASE);
	return 0;
}

/* Drop @v from the table (the caller frees it). */
void vcpu_remove(struct svsm_vcpu *v)
{
	for (u32 i = 0; i < vcpus.count; i++) {
		if (vcpus.slots[i] == v) {
			u32 last = vcpus.count - 1;
			__atomic_store_n(&vcpus.slots[i], vcpus.slots[last], __ATOMIC_RELEASE);
			__atomic_store_n(&vcpus.slots[last], NULL, __ATOMIC_RELEASE);
			__atomic_store_n(&vcpus.count, last, __ATOMIC_RELEASE);
			return;
		}
	}
}

/* Snapshot of the table. */
u32 vcpu_list(struct svsm_vcpu **out, u32 max)
{
	u32 n = 0;

	for (u32 i = 0; i < vcpus.count && n < max; i++) {
		out[n++] = vcpus.slots[i];
	}
	return n;
}

/* SEV_FEATURES every guest VMSA must carry (the startup vCPU's). */
u64 vcpu_reference_sev_features(void)
{
	return vcpus.reference_sev_features;
}

/* Undo vcpu_ghcb_setup's page conversion: make the page private, validated and free it. */
static void vcpu_ghcb_release_page(u64 gpa, void *page, bool shared)
{
	if (shared) {
		/*
		 * Neither answer of the hypervisor is trusted: whether the page is private again
		 * is what PVALIDATE finds (a page it made private while answering "error" must
		 * not stay owned but unvalidated). Only a page validated here is reused.
		 */
		(void)ghcb_msr_psc(gpa, PSC_OP_PRIVATE);
		if (arch_pvalidate(gpa, PAGE_SIZE_4K, true) != RMP_SUCCESS) {
			/* The hypervisor kept the page: leak it rather than hand out a shared page. */
			log_warn("GHCB page %llx could not be made private again; not reused", (unsigned long long)gpa);
			return;
		}
		memset(page, 0, PAGE_SIZE);
	}
	/* Back to the allocator, still the SVSM's: its pages never stop being owned (see below). */
	page_free(page, 0);
}

/*
 * Give @v a GHCB: take a page, rescind its validation, make it shared, map it and
 * register it with the hypervisor. On any failure everything is undone.
 */
int vcpu_ghcb_setup(struct svsm_vcpu *v)
{
	if (v->ghcb_ready) {
		return 0;
	}
	void *page = page_alloc_zeroed(0);
	if (!page) {
		return -1;
	}
	/*
	 * Every page of the allocator is already marked owned (the SVSM region, deposits):
	 * the GHCB page stays owned while shared and after it is freed. Clearing the mark
	 * would let the guest name a freed allocator page (REMAP_CA, PVALIDATE).
	 */
	u64 gpa = arch_virt_to_phys(page);
	if (arch_pvalidate(gpa, PAGE_SIZE_4K, false) != RMP_SUCCESS) {
		page_free(page, 0);
		return -1;
	}
	if (ghcb_msr_psc(gpa, PSC_OP_SHARED) != GHCB_CLIENT_OK) {
		/* The host's "no" proves nothing: it may have made the page shared anyway. */
		vcpu_ghcb_release_page(gpa, page, true);
		return -1;
	}
	struct ghcb *g = arch_map_shared(gpa);
	if (!g || ghcb_msr_register(gpa) != GHCB_CLIENT_OK) {
		vcpu_ghcb_release_page(gpa, page, true);
		return -1;
	}
	memset(g, 0, sizeof(*g));
	v->ghcb.ghcb = g;
	v->ghcb.gpa = gpa;
	v->ghcb_ready = true;
	return 0;
}

/* Release @v's GHCB (vCPU deletion). */
static void vcpu_ghcb_teardown(struct svsm_vcpu *v)
{
	if (!v->ghcb_ready) {
		return;
	}
	v->ghcb_ready = false;
	vcpu_ghcb_release_page(v->ghcb.gpa, arch_phys_to_virt(v->ghcb.gpa), true);
	v->ghcb.ghcb = NULL;
	v->ghcb.gpa = 0;
}

/* Free a vCPU entry and its GHCB. */
void vcpu_destroy(struct svsm_vcpu *v)
{
	vcpu_ghcb_teardown(v);
	mem_free(v);
}

/* Boot: empty table, remember the reference SEV_FEATURES. */
void vcpu_boot_init(u64 sev_features)
{
	vcpu_table_reset();
	vcpus.reference_sev_features = sev_features;
}
