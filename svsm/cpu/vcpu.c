/*
 * The vCPU table (vcpu.h): the entries of every guest VMSA the SVSM serves (startup vCPU
 * and every CREATE_VCPU). Entries live in the CPU contexts (cpu.h) and are never freed;
 * the table is an array of pointers to the entries in use, with holes.
 *
 * Concurrency. The table lock is a leaf held only to add or remove an entry; lookups and
 * scans take no lock: they load the pointers and the fields other CPUs may change with
 * atomic loads. A scan running while an entry is added or removed may or may not see it:
 * both happen only while the call doing it holds the claims of the entry's pages
 * (claim.h), so a call that could be affected gets SVSM_ERR_BUSY for those pages first.
 * An entry's state word orders a call against the deletion of its vCPU (vcpu_enter,
 * vcpu_delete_begin: compare-and-swap on the same word).
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
	struct spinlock lock;                  /* writers of slots[] and count */
	struct svsm_vcpu *slots[SVSM_MAX_VCPUS]; /* entries in use; NULL = hole (atomic) */
	u32 count;                             /* slots ever used (atomic, only grows) */
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

static u32 vcpu_state(const struct svsm_vcpu *v)
{
	return __atomic_load_n(&v->state, __ATOMIC_ACQUIRE);
}

/* The kind of @v from its read-mostly copy (the scans: no load of the line calls write). */
static u32 vcpu_kind(const struct svsm_vcpu *v)
{
	return __atomic_load_n(&v->kind, __ATOMIC_ACQUIRE);
}

/* The table's entry @i, or NULL (a hole, or past the end). */
static struct svsm_vcpu *vcpu_slot(u32 i)
{
	return __atomic_load_n(&vcpus.slots[i], __ATOMIC_ACQUIRE);
}

static u32 vcpu_count(void)
{
	u32 n = __atomic_load_n(&vcpus.count, __ATOMIC_ACQUIRE);

	return n < SVSM_MAX_VCPUS ? n : SVSM_MAX_VCPUS;
}

u64 vcpu_caa(const struct svsm_vcpu *v)
{
	return __atomic_load_n(&v->caa_gpa, __ATOMIC_ACQUIRE);
}

void vcpu_set_caa(struct svsm_vcpu *v, u64 gpa)
{
	__atomic_store_n(&v->caa_gpa, gpa, __ATOMIC_RELEASE);
}

bool vcpu_is_retired(const struct svsm_vcpu *v)
{
	return vcpu_kind(v) == VCPU_RETIRED;
}

bool vcpu_is_busy(const struct svsm_vcpu *v)
{
	return (vcpu_state(v) & (VCPU_IN_CALL | VCPU_DELETING)) != 0;
}

/* The live entry for @apic_id, or NULL (lock-free scan). */
static struct svsm_vcpu *vcpu_lookup_apic(u32 apic_id)
{
	for (u32 i = 0, n = vcpu_count(); i < n; i++) {
		struct svsm_vcpu *v = vcpu_slot(i);
		if (v && __atomic_load_n(&v->apic_id, __ATOMIC_RELAXED) == apic_id &&
		    vcpu_kind(v) == VCPU_LIVE) {
			return v;
		}
	}
	return NULL;
}

static struct svsm_vcpu *vcpu_lookup_vmsa(u64 vmsa_gpa)
{
	for (u32 i = 0, n = vcpu_count(); i < n; i++) {
		struct svsm_vcpu *v = vcpu_slot(i);
		if (v && __atomic_load_n(&v->guest_vmsa_gpa, __ATOMIC_RELAXED) == vmsa_gpa &&
		    vcpu_kind(v) != VCPU_FREE) {
			return v;
		}
	}
	return NULL;
}

/*
 * entry_caa := the current calling area, written only if it differs (after a REMAP_CA):
 * at entry it is the area the call comes through, at leave the moved one.
 */
static void vcpu_entry_caa_sync(struct svsm_vcpu *v)
{
	u64 caa = vcpu_caa(v);

	if (__atomic_load_n(&v->entry_caa, __ATOMIC_RELAXED) != caa) {
		__atomic_store_n(&v->entry_caa, caa, __ATOMIC_RELEASE);
	}
}

/* Mark @v in a call if it is the live, idle entry it should be. */
static bool vcpu_try_enter(struct svsm_vcpu *v)
{
	u32 idle = VCPU_LIVE;

	return __atomic_compare_exchange_n(&v->state, &idle, VCPU_LIVE | VCPU_IN_CALL, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

/* See vcpu.h. The fast path touches only this CPU's own context and entry. */
struct svsm_vcpu *vcpu_enter(struct svsm_cpu *c)
{
	struct svsm_vcpu *v = c->cur;

	if (!v || !vcpu_try_enter(v)) {
		/* Replaced, deleted or not known yet: find this APIC ID's live entry. */
		v = vcpu_lookup_apic(c->apic_id);
		if (!v || !vcpu_try_enter(v)) {
			return NULL;
		}
		c->cur = v;
	}
	vcpu_entry_caa_sync(v);
	return v;
}

void vcpu_leave(struct svsm_vcpu *v)
{
	vcpu_entry_caa_sync(v);
	__atomic_fetch_and(&v->state, ~VCPU_IN_CALL, __ATOMIC_ACQ_REL);
}

struct svsm_vcpu *vcpu_get_apic(u32 apic_id)
{
	return vcpu_lookup_apic(apic_id);
}

struct svsm_vcpu *vcpu_get_vmsa(u64 vmsa_gpa)
{
	return vcpu_lookup_vmsa(vmsa_gpa);
}

void vcpu_put(struct svsm_vcpu *v)
{
	(void)v;
}

/* Quiescent lookups (see vcpu.h). */
struct svsm_vcpu *vcpu_find_apic(u32 apic_id)
{
	return vcpu_lookup_apic(apic_id);
}

struct svsm_vcpu *vcpu_find_vmsa(u64 vmsa_gpa)
{
	return vcpu_lookup_vmsa(vmsa_gpa);
}

u32 vcpu_list(struct svsm_vcpu **out, u32 max)
{
	u32 n = 0;

	for (u32 i = 0, count = vcpu_count(); i < count && n < max; i++) {
		struct svsm_vcpu *v = vcpu_slot(i);
		if (v) {
			out[n++] = v;
		}
	}
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
	for (u32 i = 0, n = vcpu_count(); i < n; i++) {
		const struct svsm_vcpu *v = vcpu_slot(i);
		if (!v || vcpu_kind(v) == VCPU_FREE) {
			continue;
		}
		if (what == SCAN_VMSA) {
			if (vcpu_page_in(__atomic_load_n(&v->guest_vmsa_gpa, __ATOMIC_RELAXED), gpa, len)) {
				return true;
			}
			continue;
		}
		if (skip && __atomic_load_n(&v->apic_id, __ATOMIC_RELAXED) == except) {
			continue;
		}
		/* Its current calling area, and the one its call in progress came through. */
		u64 caas[2] = {vcpu_caa(v), __atomic_load_n(&v->entry_caa, __ATOMIC_ACQUIRE)};
		for (unsigned k = 0; k < 2; k++) {
			u64 caa = caas[k];
			if (k == 1 && (caa == 0 || caa == caas[0])) {
				break;
			}
			bool hit = what == SCAN_CAA ? vcpu_page_in(ALIGN_DOWN(caa, PAGE_SIZE), gpa, len)
						    : len != 0 && gpa < caa + sizeof(struct svsm_list_hdr) && caa < gpa + len;
			if (hit) {
				return true;
			}
		}
	}
	return false;
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

/* Entries in use (lock held). */
static u32 vcpu_in_use(struct vcpus_locked l)
{
	u32 used = 0;

	(void)l;
	for (u32 i = 0; i < vcpus.count; i++) {
		used += vcpus.slots[i] != NULL;
	}
	return used;
}

/* Can a vCPU at @vmpl for @apic_id go in: room, and the APIC ID free or replaceable? */
static enum vcpu_insert_result vcpu_can_insert(struct vcpus_locked l, u32 apic_id, u8 vmpl)
{
	const struct svsm_vcpu *old = vcpu_lookup_apic(apic_id);

	if (old && (old->startup || old->guest_vmpl != vmpl)) {
		return VCPU_APIC_TAKEN;
	}
	if (vcpu_in_use(l) >= SVSM_MAX_VCPUS) {
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

/* A table slot: the first hole, else a new one at the end (lock held; room checked). */
static u32 vcpu_table_slot(struct vcpus_locked l)
{
	(void)l;
	for (u32 i = 0; i < vcpus.count; i++) {
		if (!vcpus.slots[i]) {
			return i;
		}
	}
	__atomic_store_n(&vcpus.count, vcpus.count + 1, __ATOMIC_RELEASE);
	return vcpus.count - 1;
}

enum vcpu_insert_result vcpu_insert(const struct svsm_vcpu *v, struct svsm_vcpu **out)
{
	struct svsm_cpu *c = cpu_find_apic(v->apic_id);
	struct vcpus_locked l = vcpus_lock();
	enum vcpu_insert_result r = vcpu_can_insert(l, v->apic_id, v->guest_vmpl);
	struct svsm_vcpu *e = NULL;

	if (r == VCPU_INSERTED) {
		/* A free entry of the APIC ID's context (only this lock's holder takes one). */
		for (unsigned i = 0; c && i < SVSM_CPU_VCPU_SLOTS && !e; i++) {
			if (vcpu_state(&c->vcpu_slots[i]) == VCPU_FREE) {
				e = &c->vcpu_slots[i];
			}
		}
		if (!e) {
			r = VCPU_NO_CONTEXT;
		}
	}
	if (r == VCPU_INSERTED) {
		struct svsm_vcpu *old = vcpu_lookup_apic(v->apic_id);
		__atomic_store_n(&e->apic_id, v->apic_id, __ATOMIC_RELAXED);
		e->startup = v->startup;
		e->guest_vmpl = v->guest_vmpl;
		__atomic_store_n(&e->guest_vmsa_gpa, v->guest_vmsa_gpa, __ATOMIC_RELAXED);
		__atomic_store_n(&e->vmsa, v->vmsa, __ATOMIC_RELAXED);
		vcpu_set_caa(e, v->caa_gpa);
		__atomic_store_n(&e->entry_caa, v->caa_gpa, __ATOMIC_RELAXED);
		e->calls = 0;
		/* Published: the state and its kind, then the table's pointer. */
		__atomic_store_n(&e->state, VCPU_LIVE, __ATOMIC_RELEASE);
		__atomic_store_n(&e->kind, VCPU_LIVE, __ATOMIC_RELEASE);
		__atomic_store_n(&vcpus.slots[vcpu_table_slot(l)], e, __ATOMIC_RELEASE);
		if (old) {
			/* Its call in progress (if any) ends normally; its CPU's next entry finds the new one. */
			u32 s = vcpu_state(old);
			while (!__atomic_compare_exchange_n(&old->state, &s, (s & ~VCPU_KIND_MASK) | VCPU_RETIRED, false,
							    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			}
			__atomic_store_n(&old->kind, VCPU_RETIRED, __ATOMIC_RELEASE);
		}
	}
	vcpus_unlock(l);
	if (out) {
		*out = e;
	}
	return r;
}

/* See vcpu.h. The compare-and-swap excludes vcpu_enter's on the same word. */
bool vcpu_delete_begin(struct svsm_vcpu *t, const struct svsm_vcpu *caller)
{
	u32 s = vcpu_state(t);

	for (;;) {
		if ((s & VCPU_KIND_MASK) == VCPU_FREE || (s & VCPU_DELETING) || ((s & VCPU_IN_CALL) && t != caller)) {
			return false;
		}
		if (__atomic_compare_exchange_n(&t->state, &s, s | VCPU_DELETING, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			return true;
		}
	}
}

void vcpu_delete_end(struct svsm_vcpu *t, bool done)
{
	if (!done) {
		__atomic_fetch_and(&t->state, ~VCPU_DELETING, __ATOMIC_ACQ_REL);
		return;
	}
	struct vcpus_locked l = vcpus_lock();
	for (u32 i = 0; i < vcpus.count; i++) {
		if (vcpus.slots[i] == t) {
			__atomic_store_n(&vcpus.slots[i], NULL, __ATOMIC_RELEASE);
		}
	}
	/* The slot is free; a call of its own that deleted it (@t == caller) still leaves it. */
	__atomic_store_n(&t->kind, VCPU_FREE, __ATOMIC_RELEASE);
	__atomic_store_n(&t->state, VCPU_FREE, __ATOMIC_RELEASE);
	vcpus_unlock(l);
}

/* See vcpu.h: PCPU_ID = 0 in every VMSA at the VMPLs of @vmpl_mask (a VMSA the SVSM owns). */
void vcpu_flush_translations(u8 vmpl_mask)
{
	for (u32 i = 0, n = vcpu_count(); i < n; i++) {
		const struct svsm_vcpu *v = vcpu_slot(i);
		if (!v || vcpu_kind(v) == VCPU_FREE) {
			continue;
		}
		u8 *vmsa = __atomic_load_n(&v->vmsa, __ATOMIC_RELAXED);
		if (vmsa && (vmpl_mask & (1u << v->guest_vmpl))) {
			u64 *pcpu = (u64 *)(vmsa + VMSA_PCPU_ID);
			/* Written only when it is not 0 already: no needless write to another vCPU's VMSA. */
			if (__atomic_load_n(pcpu, __ATOMIC_RELAXED) != 0) {
				__atomic_store_n(pcpu, 0, __ATOMIC_RELEASE);
			}
		}
	}
}

/* SEV_FEATURES every guest VMSA must carry (the startup vCPU's). */
u64 vcpu_reference_sev_features(void)
{
	return vcpus.reference_sev_features;
}

/* Boot: empty table, remember the reference SEV_FEATURES. */
void vcpu_boot_init(u64 sev_features)
{
	memset(&vcpus, 0, sizeof(vcpus));
	vcpus.reference_sev_features = sev_features;
}
