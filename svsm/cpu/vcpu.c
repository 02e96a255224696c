/*
 * The vCPU table: one entry per guest VMSA the SVSM serves (startup vCPU and every
 * CREATE_VCPU), found by APIC ID on entry or by VMSA, with the vCPU's calling area.
 *
 * Lock order: the table lock is a leaf. While it is held nothing else is locked, nothing
 * is allocated or freed, no guest memory is touched and no VMGEXIT happens; functions
 * that need it take a `struct vcpus_locked` (proof that the caller holds it).
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/spinlock.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

static SVSM_STATE struct {
	struct spinlock lock;
	struct svsm_vcpu *slots[SVSM_MAX_VCPUS];
	u32 count;
	u64 reference_sev_features;
} vcpus;

/* Proof that the table lock is held. */
struct vcpus_locked {
	int unused;
};

static struct vcpus_locked vcpus_lock(void)
{
	spin_lock(&vcpus.lock);
	return (struct vcpus_locked){0};
}

static void vcpus_unlock(struct vcpus_locked l)
{
	(void)l;
	spin_unlock(&vcpus.lock);
}

/* Forget every vCPU (fresh boot); the structures were freed with the old heap. */
static void vcpu_table_reset(void)
{
	memset(&vcpus, 0, sizeof(vcpus));
}

u64 vcpu_caa(const struct svsm_vcpu *v)
{
	return __atomic_load_n(&v->caa_gpa, __ATOMIC_ACQUIRE);
}

void vcpu_set_caa(struct svsm_vcpu *v, u64 gpa)
{
	__atomic_store_n(&v->caa_gpa, gpa, __ATOMIC_RELEASE);
}

/* The newest entry for @apic_id (the one not retired), or NULL. */
static struct svsm_vcpu *vcpu_lookup_apic(struct vcpus_locked l, u32 apic_id)
{
	(void)l;
	for (u32 i = 0; i < vcpus.count; i++) {
		struct svsm_vcpu *v = vcpus.slots[i];
		if (v->apic_id == apic_id && !v->retired) {
			return v;
		}
	}
	return NULL;
}

static struct svsm_vcpu *vcpu_lookup_vmsa(struct vcpus_locked l, u64 vmsa_gpa)
{
	(void)l;
	for (u32 i = 0; i < vcpus.count; i++) {
		if (vcpus.slots[i]->guest_vmsa_gpa == vmsa_gpa) {
			return vcpus.slots[i];
		}
	}
	return NULL;
}

/* See vcpu.h. */
struct svsm_vcpu *vcpu_enter(void)
{
	u32 apic = arch_cpu_apic_id();
	struct vcpus_locked l = vcpus_lock();
	struct svsm_vcpu *v = vcpu_lookup_apic(l, apic);

	if (v && (v->in_call || v->deleting || !v->vmsa)) {
		v = NULL;
	}
	if (v) {
		v->refs++;
		v->in_call = true;
		v->entry_caa = vcpu_caa(v);
	}
	vcpus_unlock(l);
	return v;
}

void vcpu_leave(struct svsm_vcpu *v)
{
	struct vcpus_locked l = vcpus_lock();

	v->in_call = false;
	v->entry_caa = 0;
	vcpus_unlock(l);
	vcpu_put(v);
}

struct svsm_vcpu *vcpu_get_apic(u32 apic_id)
{
	struct vcpus_locked l = vcpus_lock();
	struct svsm_vcpu *v = vcpu_lookup_apic(l, apic_id);

	if (v) {
		v->refs++;
	}
	vcpus_unlock(l);
	return v;
}

struct svsm_vcpu *vcpu_get_vmsa(u64 vmsa_gpa)
{
	struct vcpus_locked l = vcpus_lock();
	struct svsm_vcpu *v = vcpu_lookup_vmsa(l, vmsa_gpa);

	if (v) {
		v->refs++;
	}
	vcpus_unlock(l);
	return v;
}

/* Drop a reference; the last one of an entry that left the table frees it (outside the lock). */
void vcpu_put(struct svsm_vcpu *v)
{
	struct vcpus_locked l = vcpus_lock();
	bool last = --v->refs == 0 && v->removed;

	vcpus_unlock(l);
	if (last) {
		mem_free(v);
	}
}

/* Quiescent lookups (see vcpu.h): no references, no lock needed when nobody runs. */
struct svsm_vcpu *vcpu_find_apic(u32 apic_id)
{
	struct vcpus_locked l = vcpus_lock();
	struct svsm_vcpu *v = vcpu_lookup_apic(l, apic_id);

	vcpus_unlock(l);
	return v;
}

struct svsm_vcpu *vcpu_find_vmsa(u64 vmsa_gpa)
{
	struct vcpus_locked l = vcpus_lock();
	struct svsm_vcpu *v = vcpu_lookup_vmsa(l, vmsa_gpa);

	vcpus_unlock(l);
	return v;
}

u32 vcpu_list(struct svsm_vcpu **out, u32 max)
{
	struct vcpus_locked l = vcpus_lock();
	u32 n = 0;

	for (u32 i = 0; i < vcpus.count && n < max; i++) {
		out[n++] = vcpus.slots[i];
	}
	vcpus_unlock(l);
	return n;
}

/* Whether page @page lies in the pages of [@gpa, @gpa + @len). */
static bool vcpu_page_in(u64 page, u64 gpa, u64 len)
{
	u64 first = ALIGN_DOWN(gpa, PAGE_SIZE);

	return len != 0 && page >= first && page - first < gpa + len - first;
}

enum vcpu_scan_what { SCAN_VMSA, SCAN_CAA, SCAN_CAA_HEADER };

/* One pass over the table: does [@gpa, @gpa + @len) touch what @what names (but @except's CA)? */
static bool vcpu_scan(enum vcpu_scan_what what, u64 gpa, u64 len, bool skip, u32 except)
{
	struct vcpus_locked l = vcpus_lock();
	bool hit = false;

	for (u32 i = 0; i < vcpus.count && !hit; i++) {
		const struct svsm_vcpu *v = vcpus.slots[i];
		/* Its current calling area, and the one its call in progress came through. */
		u64 caas[2] = {vcpu_caa(v), v->entry_caa};
		for (unsigned k = 0; k < 2 && !hit; k++) {
			u64 caa = caas[k];
			if (k == 1 && (caa == 0 || caa == caas[0])) {
				break;
			}
			switch (what) {
			case SCAN_VMSA:
				hit = k == 0 && vcpu_page_in(v->guest_vmsa_gpa, gpa, len);
				break;
			case SCAN_CAA:
				hit = !(skip && v->apic_id == except) && vcpu_page_in(ALIGN_DOWN(caa, PAGE_SIZE), gpa, len);
				break;
			case SCAN_CAA_HEADER:
				hit = len != 0 && gpa < caa + sizeof(struct svsm_list_hdr) && caa < gpa + len;
				break;
			}
		}
	}
	vcpus_unlock(l);
	return hit;
}

bool vcpu_page_is_vmsa(u64 gpa)
{
	return vcpu_scan(SCAN_VMSA, ALIGN_DOWN(gpa, PAGE_SIZE), PAGE_SIZE, false, 0);
}

bool vcpu_page_is_caa(u64 gpa)
{
	return vcpu_scan(SCAN_CAA, ALIGN_DOWN(gpa, PAGE_SIZE), PAGE_SIZE, false, 0);
}

bool vcpu_range_has_vmsa(u64 gpa, u64 len)
{
	return vcpu_scan(SCAN_VMSA, gpa, len, false, 0);
}

bool vcpu_range_has_caa(u64 gpa, u64 len)
{
	return vcpu_scan(SCAN_CAA, gpa, len, false, 0);
}

bool vcpu_range_has_caa_except(u64 gpa, u64 len, u32 except_apic)
{
	return vcpu_scan(SCAN_CAA, gpa, len, true, except_apic);
}

bool vcpu_range_has_caa_header(u64 gpa, u64 len)
{
	return vcpu_scan(SCAN_CAA_HEADER, gpa, len, false, 0);
}

/* Can a vCPU at @vmpl for @apic_id go in: room, and the APIC ID free or replaceable? */
static enum vcpu_insert_result vcpu_can_insert(struct vcpus_locked l, u32 apic_id, u8 vmpl)
{
	const struct svsm_vcpu *old = vcpu_lookup_apic(l, apic_id);

	if (old && (old->startup || old->guest_vmpl != vmpl)) {
		return VCPU_APIC_TAKEN;
	}
	if (vcpus.count >= SVSM_MAX_VCPUS) {
		return VCPU_TABLE_FULL;
	}
	return VCPU_INSERTED;
}

enum vcpu_insert_result vcpu_insert_check(u32 apic_id, u8 vmpl)
{
	struct vcpus_locked l = vcpus_lock();
	enum vcpu_insert_result r = vcpu_can_insert(l, apic_id, vmpl);

	vcpus_unlock(l);
	return r;
}

enum vcpu_insert_result vcpu_insert(struct svsm_vcpu *v)
{
	struct vcpus_locked l = vcpus_lock();
	enum vcpu_insert_result r = vcpu_can_insert(l, v->apic_id, v->guest_vmpl);

	if (r == VCPU_INSERTED) {
		struct svsm_vcpu *old = vcpu_lookup_apic(l, v->apic_id);
		if (old) {
			old->retired = true;
		}
		v->refs = 1;
		v->retired = false;
		v->deleting = false;
		v->removed = false;
		v->in_call = false;
		vcpus.slots[vcpus.count++] = v;
	}
	vcpus_unlock(l);
	return r;
}

bool vcpu_delete_begin(struct svsm_vcpu *t, const struct svsm_vcpu *caller)
{
	struct vcpus_locked l = vcpus_lock();
	bool ok = !t->removed && !t->deleting && !(t->in_call && t != caller);

	if (ok) {
		t->deleting = true;
	}
	vcpus_unlock(l);
	return ok;
}

void vcpu_delete_end(struct svsm_vcpu *t, bool done)
{
	struct vcpus_locked l = vcpus_lock();
	bool last = false;

	t->deleting = false;
	if (done) {
		for (u32 i = 0; i < vcpus.count; i++) {
			if (vcpus.slots[i] == t) {
				vcpus.slots[i] = vcpus.slots[--vcpus.count];
				vcpus.slots[vcpus.count] = NULL;
				break;
			}
		}
		t->removed = true;
		/* The table's reference. */
		last = --t->refs == 0;
	}
	vcpus_unlock(l);
	if (last) {
		mem_free(t);
	}
}

/* See vcpu.h: PCPU_ID = 0 in every VMSA at the VMPLs of @vmpl_mask (a VMSA the SVSM owns). */
void vcpu_flush_translations(u8 vmpl_mask)
{
	struct vcpus_locked l = vcpus_lock();

	(void)l;
	for (u32 i = 0; i < vcpus.count; i++) {
		const struct svsm_vcpu *v = vcpus.slots[i];
		if (v->vmsa && (vmpl_mask & (1u << v->guest_vmpl))) {
			__atomic_store_n((u64 *)(v->vmsa + VMSA_PCPU_ID), 0, __ATOMIC_RELEASE);
		}
	}
	vcpus_unlock(l);
}

/* SEV_FEATURES every guest VMSA must carry (the startup vCPU's). */
u64 vcpu_reference_sev_features(void)
{
	return vcpus.reference_sev_features;
}

/* Boot: empty table, remember the reference SEV_FEATURES. */
void vcpu_boot_init(u64 sev_features)
{
	vcpu_table_reset();
	vcpus.reference_sev_features = sev_features;
}
