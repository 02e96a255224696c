/* What the CPU does for the SVSM at VMPL0 on the emulated machine: the arch interface's model side. */
#include <svsm/arch.h>
#include <svsm/log.h>

#include "machine.h"

/*
 * An instruction or private access of the SVSM on the MMIO/ROM hole: on KVM a nested page
 * fault that nothing resolves (the vCPU hangs). Counted for the oracle; the access fails.
 */
static bool emu_cpu_mmio_stall(struct emu_machine *m, u64 gpa, u64 len)
{
	if (!emu_in_hole(&m->cfg, gpa, len)) {
		return false;
	}
	__atomic_add_fetch(&m->stats.mmio_stalls, 1, __ATOMIC_RELAXED);
	return true;
}

u32 emu_cpu_pvalidate(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, enum page_size size, bool validate)
{
	emu_host_opportunity(m, v, OPP_PVALIDATE);
	if (emu_cpu_mmio_stall(m, gpa, size == PAGE_SIZE_2M ? PAGE_2M_SIZE : PAGE_SIZE)) {
		return RMP_FAULT;
	}
	return rmp_pvalidate(&m->rmp, v->vmpl, gpa, size, validate);
}

/* True if every byte of the (validated) range is zero. */
static bool emu_cpu_range_zero(struct emu_machine *m, u64 gpa, u64 len)
{
	const u8 *p = emu_mem(m, gpa);
	u64 acc = 0;

	/* Whole pages (the only lengths used): eight bytes at a time, or 2 MiB checks dominate fuzzing. */
	for (u64 i = 0; i + 8 <= len; i += 8) {
		u64 w;
		__builtin_memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (u64 i = len & ~7ull; i < len; i++) {
		acc |= p[i];
	}
	return acc == 0;
}

/* The SVSM wrote [@gpa, @gpa + @len) during the current request (guest copies). */
static bool emu_cpu_written(const struct emu_req_trace *t, u64 gpa, u64 len)
{
	if (t->writes_overflow) {
		return true;
	}
	for (u32 i = 0; i < t->writes; i++) {
		if (gpa < t->write[i].gpa + t->write[i].len && t->write[i].gpa < gpa + len) {
			return true;
		}
	}
	return false;
}

/*
 * Did @vmpl hold at least @perms on every page of [@pfn, @pfn + @pages) when the current
 * request began? Known for ranges whose masks the SVSM changed in this request (the
 * first change of a range records what was there).
 */
static bool emu_cpu_had_access(const struct emu_req_trace *t, u64 pfn, u64 pages, u8 vmpl, u8 perms)
{
	if (!t->active || t->adjusts_overflow) {
		return false;
	}
	for (u32 i = 0; i < t->adjusts; i++) {
		const struct emu_trace_adjust *a = &t->adjust[i];
		if (a->vmpl == vmpl && pfn >= a->pfn && pfn + pages <= a->pfn + a->pages) {
			return (a->old_perms & perms) == perms;
		}
	}
	return false;
}

/* Remember @vmpl's masks on the range before the SVSM's first change of them in this request. */
static void emu_cpu_note_adjust(struct emu_machine *m, struct emu_req_trace *t, u64 pfn, u64 pages, u8 vmpl)
{
	if (!t->active) {
		return;
	}
	for (u32 i = 0; i < t->adjusts; i++) {
		const struct emu_trace_adjust *a = &t->adjust[i];
		if (a->vmpl == vmpl && pfn < a->pfn + a->pages && a->pfn < pfn + pages) {
			return; /* already known from an earlier change in this request */
		}
	}
	if (t->adjusts == EMU_TRACE_ADJUSTS) {
		t->adjusts_overflow = true;
		return;
	}
	u8 old = 0xFF;
	for (u64 p = pfn; p < pfn + pages && p < m->rmp.page_count; p++) {
		old &= rmp_read_pfn(&m->rmp, p).perms[vmpl];
	}
	t->adjust[t->adjusts++] = (struct emu_trace_adjust){pfn, pages, vmpl, old};
}

u32 emu_cpu_rmpadjust(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, enum page_size size, u8 target_vmpl,
		      u8 perms, bool vmsa)
{
	u64 len = size == PAGE_SIZE_2M ? PAGE_2M_SIZE : PAGE_SIZE;
	bool newly_granted = false;

	emu_host_opportunity(m, v, OPP_RMPADJUST);
	if (emu_cpu_mmio_stall(m, gpa, len)) {
		return RMP_FAULT;
	}
	/*
	 * Oracle input: a page that goes from no access to some access must be zero, unless
	 * the SVSM only puts back what that VMPL had when the request began and did not
	 * write the page meanwhile (a failed call undoing its own revoke).
	 */
	struct rmp_entry e;
	bool in_range = rmp_read(&m->rmp, gpa, &e) && target_vmpl < RMP_VMPL_COUNT && gpa + len <= m->cfg.mem_size &&
			IS_ALIGNED(gpa, len);
	if (in_range && perms && e.perms[target_vmpl] == 0 && e.validated) {
		newly_granted = true;
	}
	bool zero = newly_granted && emu_cpu_range_zero(m, gpa, len);
	bool restored = newly_granted && !zero &&
			emu_cpu_had_access(&v->trace, gpa >> PAGE_SHIFT, len >> PAGE_SHIFT, target_vmpl, perms) &&
			!emu_cpu_written(&v->trace, gpa, len);
	if (in_range) {
		emu_cpu_note_adjust(m, &v->trace, gpa >> PAGE_SHIFT, len >> PAGE_SHIFT, target_vmpl);
	}
	u32 rc = rmp_rmpadjust(&m->rmp, v->vmpl, gpa, size, target_vmpl, perms, vmsa);
	if (rc == RMP_SUCCESS && newly_granted && !zero && !vmsa && !restored) {
		__atomic_fetch_add(&m->stats.ungranted_nonzero, 1, __ATOMIC_RELAXED);
	}
	return rc;
}

u32 emu_cpu_rmpquery(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, u8 target_vmpl, u8 *perms)
{
	emu_host_opportunity(m, v, OPP_RMPQUERY);
	if (emu_cpu_mmio_stall(m, gpa, PAGE_SIZE)) {
		return RMP_FAULT;
	}
	return rmp_rmpquery(&m->rmp, v->vmpl, gpa, target_vmpl, perms);
}

/* Describe a code address for a report (the host may name the function). */
static void emu_cpu_site(struct emu_machine *m, const void *pc, char *buf, size_t size)
{
	if (m->host.symbolize) {
		m->host.symbolize(pc, buf, size);
	} else {
		svsm_snprintf(buf, size, "%p", pc);
	}
}

/*
 * A guest-memory read for the SVSM: within one request, a read that overlaps an earlier
 * one is a double fetch (the guest could have changed the bytes in between), reported
 * with both call sites.
 */
static void emu_cpu_note_read(struct emu_machine *m, struct emu_req_trace *t, u64 gpa, u64 len, const void *site)
{
	if (!t->active || len == 0) {
		return;
	}
	for (u32 i = 0; i < t->reads; i++) {
		const struct emu_trace_read *r = &t->read[i];
		if (gpa < r->gpa + r->len && r->gpa < gpa + len) {
			char first[128], again[128];
			emu_cpu_site(m, r->site, first, sizeof(first));
			emu_cpu_site(m, site, again, sizeof(again));
			emu_finding(m, "double fetch: guest bytes 0x%llx+%llu read at %s were read again (0x%llx+%llu) at %s",
				    (unsigned long long)r->gpa, (unsigned long long)r->len, first, (unsigned long long)gpa,
				    (unsigned long long)len, again);
			break;
		}
	}
	if (t->reads == EMU_TRACE_READS) {
		t->reads_overflow = true;
		return;
	}
	t->read[t->reads++] = (struct emu_trace_read){gpa, len, site};
}

/* Guest-memory copies by the SVSM: counted per vCPU, traced per request. */
int emu_cpu_guest_read(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, void *dst, size_t len, const void *site)
{
	v->svsm_guest_reads++;
	emu_host_opportunity(m, v, OPP_READ);
	if (emu_cpu_mmio_stall(m, gpa, len)) {
		return -1;
	}
	int rc = emu_mem_read(m, v->vmpl, gpa, dst, len, NULL);
	if (rc == 0) {
		emu_cpu_note_read(m, &v->trace, gpa, len, site);
	}
	return rc;
}

int emu_cpu_guest_write(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, const void *src, size_t len,
			const void *site)
{
	struct emu_req_trace *t = &v->trace;

	v->svsm_guest_writes++;
	emu_host_opportunity(m, v, OPP_WRITE);
	if (emu_cpu_mmio_stall(m, gpa, len)) {
		return -1;
	}
	if (t->active && len) {
		if (t->writes == EMU_TRACE_WRITES) {
			t->writes_overflow = true;
		} else {
			t->write[t->writes++] = (struct emu_trace_read){gpa, len, site};
		}
	}
	return emu_mem_write(m, v->vmpl, gpa, src, len, NULL);
}

/* The SVSM's direct map: its own view of memory, checked against the RMP where the host can. */
void *emu_cpu_phys_to_virt(struct emu_machine *m, u64 gpa)
{
	if (gpa >= m->cfg.mem_size) {
		return NULL;
	}
	return (m->svsm_map ? m->svsm_map : m->mem) + gpa;
}

/* Back from either view (the direct map, or the shared mapping of a GHCB). */
u64 emu_cpu_virt_to_phys(struct emu_machine *m, const void *va)
{
	const u8 *p = va;

	if (m->svsm_map && p >= m->svsm_map && p < m->svsm_map + m->cfg.mem_size) {
		return (u64)(p - m->svsm_map);
	}
	if (m->shared_map && p >= m->shared_map && p < m->shared_map + m->cfg.mem_size) {
		return (u64)(p - m->shared_map);
	}
	return (u64)(p - m->mem);
}

/* Only a hypervisor-owned (shared) page can be mapped without the C-bit. */
void *emu_cpu_map_shared(struct emu_machine *m, u64 gpa)
{
	struct rmp_entry e;

	if (!IS_ALIGNED(gpa, PAGE_SIZE) || !rmp_read(&m->rmp, gpa, &e) || e.assigned) {
		return NULL;
	}
	return (m->shared_map ? m->shared_map : m->mem) + gpa;
}

bool emu_cpu_present(const struct emu_machine *m, u32 apic_id)
{
	return m->cfg.apic_id_limit == 0 || apic_id < m->cfg.apic_id_limit;
}

u64 emu_cpu_det_clock(struct emu_machine *m)
{
	return __atomic_add_fetch(&m->clock_ns, 1000, __ATOMIC_RELAXED);
}

/* xorshift64*: reproducible runs for fuzzing. */
void emu_cpu_det_random(struct emu_machine *m, void *buf, size_t len)
{
	u8 *p = buf;

	spin_lock(&m->lock);
	for (size_t i = 0; i < len; i++) {
		m->rng_state ^= m->rng_state >> 12;
		m->rng_state ^= m->rng_state << 25;
		m->rng_state ^= m->rng_state >> 27;
		p[i] = (u8)((m->rng_state * 0x2545F4914F6CDD1Dull) >> 56);
	}
	spin_unlock(&m->lock);
}
