/* The invariant oracle (see oracle.h). */
#include <stdarg.h>

#include <svsm/core.h>
#include <svsm/log.h>

#include "oracle.h"

struct oracle_report {
	char *buf;
	size_t size;
	size_t len;
	unsigned count;
};

static void oracle_fail(struct oracle_report *r, const char *fmt, ...)
{
	va_list ap;

	r->count++;
	if (!r->buf || r->count > 8 || r->len + 1 >= r->size) {
		return;
	}
	va_start(ap, fmt);
	int n = svsm_vsnprintf(r->buf + r->len, r->size - r->len, fmt, ap);
	va_end(ap);
	if (n > 0) {
		r->len = MIN(r->len + (size_t)n, r->size - 1);
	}
	if (r->len + 1 < r->size) {
		r->buf[r->len++] = '\n';
		r->buf[r->len] = '\0';
	}
}

void oracle_init(struct oracle_state *o, const struct emu_machine *m)
{
	o->ungranted_nonzero_seen = m->stats.ungranted_nonzero;
	o->findings_seen = m->findings.count;
	o->mmio_stalls_seen = m->stats.mmio_stalls;
}

static bool oracle_is_known_vmsa(struct svsm_vcpu **list, u32 n, u64 gpa)
{
	for (u32 i = 0; i < n; i++) {
		if (list[i]->guest_vmsa_gpa == gpa) {
			return true;
		}
	}
	return false;
}

/* The invariants of one RMP entry (SVSM pages private to VMPL0, VMSA bits accounted for). */
static void oracle_check_entry(struct oracle_report *r, const struct emu_machine *m, struct svsm_vcpu **list, u32 n,
			       u64 pfn)
{
	const struct rmp_entry *e = &m->rmp.entries[pfn];
	u64 gpa = pfn << PAGE_SHIFT;
	bool owned = owned_page(gpa);

	/* The SVSM region never leaves the SVSM (WITHDRAW_MEM returns deposited pages only). */
	if (!owned && gpa >= m->cfg.svsm_base && gpa < m->cfg.svsm_base + m->cfg.svsm_size) {
		oracle_fail(r, "page 0x%llx of the SVSM region is not marked as the SVSM's", (unsigned long long)gpa);
	}
	if (!e->assigned) {
		return;
	}
	for (unsigned v = 1; v < RMP_VMPL_COUNT; v++) {
		if (owned && e->perms[v]) {
			oracle_fail(r, "SVSM page 0x%llx accessible to VMPL%u (perms 0x%x)", (unsigned long long)gpa, v,
				    e->perms[v]);
		}
		if (e->vmsa && (e->perms[v] & VMPL_PERM_WRITE)) {
			oracle_fail(r, "VMSA page 0x%llx writable by VMPL%u", (unsigned long long)gpa, v);
		}
	}
	if (owned && !e->validated && !emu_host_took(m, pfn)) {
		oracle_fail(r, "SVSM private page 0x%llx is not validated", (unsigned long long)gpa);
	}
	if (e->vmsa && !oracle_is_known_vmsa(list, n, gpa)) {
		oracle_fail(r, "page 0x%llx has the VMSA bit but is no VMSA the SVSM knows", (unsigned long long)gpa);
	}
}

/* The invariants that are not about one page: zeroed grants, VMSAs and calling areas. */
static void oracle_check_vcpus(struct oracle_report *r, struct oracle_state *o, const struct emu_machine *m,
			       struct svsm_vcpu **list, u32 n)
{
	if (m->stats.ungranted_nonzero != o->ungranted_nonzero_seen) {
		oracle_fail(r, "%llu page(s) granted to the guest without being zeroed first",
			    (unsigned long long)(m->stats.ungranted_nonzero - o->ungranted_nonzero_seen));
		o->ungranted_nonzero_seen = m->stats.ungranted_nonzero;
	}
	if (m->findings.count != o->findings_seen) {
		oracle_fail(r, "%llu finding(s) of the machine; the first: %s",
			    (unsigned long long)(m->findings.count - o->findings_seen), m->findings.first);
		o->findings_seen = m->findings.count;
	}
	if (m->stats.mmio_stalls != o->mmio_stalls_seen) {
		oracle_fail(r, "%llu instruction(s) or access(es) of the SVSM on the MMIO/ROM hole (a hang on KVM)",
			    (unsigned long long)(m->stats.mmio_stalls - o->mmio_stalls_seen));
		o->mmio_stalls_seen = m->stats.mmio_stalls;
	}
	for (u32 i = 0; i < n; i++) {
		const struct rmp_entry *e = rmp_entry(&m->rmp, list[i]->guest_vmsa_gpa);
		if ((!e || !e->vmsa || !e->validated) && !emu_host_took(m, list[i]->guest_vmsa_gpa >> PAGE_SHIFT)) {
			oracle_fail(r, "vCPU %u's VMSA 0x%llx lacks the RMP VMSA bit", list[i]->apic_id,
				    (unsigned long long)list[i]->guest_vmsa_gpa);
		}
		if (owned_page(list[i]->caa_gpa)) {
			oracle_fail(r, "vCPU %u's calling area 0x%llx is an SVSM page", list[i]->apic_id,
				    (unsigned long long)list[i]->caa_gpa);
		}
		for (u32 j = 0; j < n; j++) {
			if (list[i]->caa_gpa == list[j]->guest_vmsa_gpa) {
				oracle_fail(r, "calling area 0x%llx of vCPU %u is the VMSA of vCPU %u",
					    (unsigned long long)list[i]->caa_gpa, list[i]->apic_id, list[j]->apic_id);
			}
			/* A replaced vCPU and its replacement (same APIC ID) may share one (vcpu.h). */
			if (i != j && list[i]->apic_id != list[j]->apic_id && list[i]->caa_gpa == list[j]->caa_gpa) {
				oracle_fail(r, "vCPUs %u and %u share calling area 0x%llx", list[i]->apic_id,
					    list[j]->apic_id, (unsigned long long)list[i]->caa_gpa);
			}
		}
	}
}

unsigned oracle_check(struct oracle_state *o, const struct emu_machine *m, char *report, size_t report_size)
{
	static struct svsm_vcpu *list[SVSM_MAX_VCPUS];
	struct oracle_report r = {report, report_size, 0, 0};
	u32 n = vcpu_list(list, SVSM_MAX_VCPUS);

	if (report && report_size) {
		report[0] = '\0';
	}
	for (u64 pfn = 0; pfn < m->rmp.page_count; pfn++) {
		oracle_check_entry(&r, m, list, n, pfn);
	}
	oracle_check_vcpus(&r, o, m, list, n);
	return r.count;
}

unsigned oracle_check_pages(struct oracle_state *o, const struct emu_machine *m, const u64 *pfns, size_t count,
			    char *report, size_t report_size)
{
	static struct svsm_vcpu *list[SVSM_MAX_VCPUS];
	struct oracle_report r = {report, report_size, 0, 0};
	u32 n = vcpu_list(list, SVSM_MAX_VCPUS);

	if (report && report_size) {
		report[0] = '\0';
	}
	for (size_t i = 0; i < count; i++) {
		if (pfns[i] < m->rmp.page_count) {
			oracle_check_entry(&r, m, list, n, pfns[i]);
		}
	}
	for (u32 i = 0; i < n; i++) {
		u64 pfn = list[i]->guest_vmsa_gpa >> PAGE_SHIFT;
		if (pfn < m->rmp.page_count) {
			oracle_check_entry(&r, m, list, n, pfn);
		}
	}
	oracle_check_vcpus(&r, o, m, list, n);
	return r.count;
}
