/* "A rejected call changes nothing", measured fully (see callcheck.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <svsm/core.h>
#include <svsm/mm.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

#include "callcheck.h"
#include "dmap.h"

static void cc_fail(struct callcheck *c, const char *fmt, ...) SVSM_PRINTF(2, 3);

static void cc_fail(struct callcheck *c, const char *fmt, ...)
{
	va_list ap;
	size_t len = strlen(c->report);

	c->violations++;
	if (c->violations > 6 || len + 2 >= sizeof(c->report)) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(c->report + len, sizeof(c->report) - len, fmt, ap);
	va_end(ap);
	len = strlen(c->report);
	if (len + 1 < sizeof(c->report)) {
		c->report[len] = '\n';
		c->report[len + 1] = '\0';
	}
}

int callcheck_init(struct callcheck *c, struct emu_machine *m)
{
	u64 pages = m->rmp.page_count;

	memset(c, 0, offsetof(struct callcheck, report));
	c->report[0] = '\0';
	c->m = m;
	c->rmp_pre = calloc(pages, sizeof(*c->rmp_pre));
	c->owned_pre = calloc(pages, 1);
	c->written = calloc(pages, 1);
	/* Sparse: only pages actually written are ever backed. */
	c->pre_pages = mmap(NULL, (size_t)CALLCHECK_MAX_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!c->rmp_pre || !c->owned_pre || !c->written || c->pre_pages == MAP_FAILED) {
		c->pre_pages = c->pre_pages == MAP_FAILED ? NULL : c->pre_pages;
		callcheck_free(c);
		return -1;
	}
	return 0;
}

void callcheck_free(struct callcheck *c)
{
	free(c->rmp_pre);
	free(c->owned_pre);
	free(c->written);
	if (c->pre_pages) {
		munmap(c->pre_pages, (size_t)CALLCHECK_MAX_PAGES * PAGE_SIZE);
	}
	c->rmp_pre = NULL;
	c->owned_pre = NULL;
	c->written = NULL;
	c->pre_pages = NULL;
}

/* Keep page @pfn's bytes before its first write of the call. */
static void cc_note_page(struct callcheck *c, u64 pfn)
{
	if (pfn >= c->m->rmp.page_count || c->written[pfn]) {
		return;
	}
	if (c->written_count == CALLCHECK_MAX_PAGES) {
		c->written_overflow = true;
		return;
	}
	c->written[pfn] = 1;
	memcpy(c->pre_pages + (u64)c->written_count * PAGE_SIZE, emu_mem(c->m, pfn << PAGE_SHIFT), PAGE_SIZE);
	c->written_pfn[c->written_count++] = pfn;
}

static void cc_model_write(void *ctx, u64 gpa, u64 len)
{
	struct callcheck *c = ctx;

	for (u64 p = ALIGN_DOWN(gpa, PAGE_SIZE); p < gpa + len; p += PAGE_SIZE) {
		cc_note_page(c, p >> PAGE_SHIFT);
	}
}

static void cc_svsm_write(void *ctx, u64 gpa)
{
	cc_note_page(ctx, gpa >> PAGE_SHIFT);
}

/* Drain the allocator caches and read the totals, as VMPL0 code on the startup vCPU. */
static void cc_mm_totals(struct emu_machine *m, u64 *pages, u64 *heap)
{
	struct emu_vcpu *v = emu_vcpu_find(m, 0);
	struct emu_vcpu *prev = emu_vcpu_current();
	u8 vmpl = v->vmpl;
	struct mm_stats st;

	v->vmpl = 0;
	emu_vcpu_set_current(v);
	mm_drain();
	mm_get_stats(&st);
	v->vmpl = vmpl;
	emu_vcpu_set_current(prev);
	*pages = st.page.in_use;
	*heap = st.heap.in_use;
}

/* The allocator pages held by the SVSM's CPU contexts (cpu.h). */
static u64 cc_cpu_pages(void)
{
	static struct svsm_cpu *cpus[SVSM_MAX_VCPUS];
	u32 n = cpu_list(cpus, SVSM_MAX_VCPUS);
	u64 pages = 0;

	for (u32 i = 0; i < n; i++) {
		pages += cpu_context_pages(cpus[i]);
	}
	return pages;
}

void callcheck_begin(struct callcheck *c, struct emu_guest *g, u32 apic_id, const struct guest_regs *r)
{
	static struct svsm_vcpu *list[SVSM_MAX_VCPUS];
	struct emu_machine *m = c->m;
	u64 pages = m->rmp.page_count;

	c->active = true;
	c->rax = r->rax;
	c->rcx = r->rcx;
	c->apic_id = apic_id;
	for (u32 i = 0; i < c->written_count; i++) {
		c->written[c->written_pfn[i]] = 0;
	}
	c->written_count = 0;
	c->written_overflow = false;
	c->exempt_count = 0;
	cc_mm_totals(m, &c->page_in_use, &c->heap_in_use);
	c->cpu_pages = cc_cpu_pages();
	memcpy(c->rmp_pre, m->rmp.entries, pages * sizeof(*c->rmp_pre));
	for (u64 pfn = 0; pfn < pages; pfn++) {
		c->owned_pre[pfn] = owned_page(pfn << PAGE_SHIFT);
	}
	c->vcpu_count = vcpu_list(list, SVSM_MAX_VCPUS);
	c->caller_vmsa = c->caller_caa = 0;
	for (u32 i = 0; i < c->vcpu_count; i++) {
		c->vcpus[i] = (struct callcheck_vcpu){list[i]->apic_id, list[i]->guest_vmsa_gpa, list[i]->caa_gpa,
						      list[i]->guest_vmpl};
		if (list[i]->apic_id == apic_id) {
			c->caller_vmsa = list[i]->guest_vmsa_gpa;
			c->caller_caa = list[i]->caa_gpa;
		}
	}
	/* A list call: its entries from "next" are the pages it may have done when it fails. */
	u32 call = SVSM_CALL_ID(r->rax);
	c->list_call = SVSM_CALL_PROTOCOL(r->rax) == SVSM_PROTOCOL_CORE &&
		       (call == SVSM_CORE_PVALIDATE || call == SVSM_CORE_DEPOSIT_MEM);
	c->list_entries = c->list_next = 0;
	if (c->list_call && IS_ALIGNED(r->rcx, 8) && r->rcx + 8 <= m->cfg.mem_size) {
		struct svsm_list_hdr h;
		memcpy(&h, emu_mem(m, r->rcx), sizeof(h));
		u64 room = (PAGE_SIZE - (r->rcx & PAGE_MASK) - sizeof(h)) / 8;
		c->list_entries = (u16)MIN((u64)h.entries, room);
		c->list_next = h.next;
		memcpy(c->list_raw, emu_mem(m, r->rcx + sizeof(h)), 8ull * c->list_entries);
	}
	m->write_hook = cc_model_write;
	m->write_ctx = c;
	if (m->svsm_map) {
		m->svsm_write_hook = cc_svsm_write;
		m->svsm_write_ctx = c;
		emu_machine_protect(m, 0, pages);
	}
}

/* Entries [from, to) of the list: may page @pfn have changed because they were done? */
static bool cc_list_page(const struct callcheck *c, u16 from, u16 to, u64 pfn)
{
	for (u16 i = from; i < to && i < c->list_entries; i++) {
		u64 e = c->list_raw[i];
		u64 first = e >> PAGE_SHIFT;
		u64 count = (e & 3) == PAGE_SIZE_2M ? PAGES_PER_2M : 1;
		if (pfn >= first && pfn < first + count) {
			return true;
		}
	}
	return false;
}

void callcheck_exempt(struct callcheck *c, u64 gpa)
{
	if (c->exempt_count < ARRAY_COUNT(c->exempt)) {
		c->exempt[c->exempt_count++] = gpa >> PAGE_SHIFT;
	}
}

/* The SVSM's own pages (before or after the call) are its business; so are others' changes. */
/*
 * Two RMP entries hold the same architectural state: every field but the hypervisor's own
 * bookkeeping (in use, 2 MiB size), compared field by field (bit-fields have no unique
 * object representation, so no memcmp).
 */
static bool cc_rmp_same(const struct rmp_entry *a, const struct rmp_entry *b)
{
	if (a->assigned != b->assigned || a->immutable != b->immutable || a->validated != b->validated ||
	    a->vmsa != b->vmsa) {
		return false;
	}
	for (unsigned v = 0; v < RMP_VMPL_COUNT; v++) {
		if (a->perms[v] != b->perms[v]) {
			return false;
		}
	}
	return true;
}

static bool cc_svsm_page(const struct callcheck *c, u64 pfn)
{
	for (u32 i = 0; i < c->exempt_count; i++) {
		if (c->exempt[i] == pfn) {
			return true;
		}
	}
	return c->owned_pre[pfn] || owned_page(pfn << PAGE_SHIFT) || emu_host_took(c->m, pfn);
}

/* Bytes of page @pfn that a rejected call may still write (see callcheck.h). */
static bool cc_byte_allowed(const struct callcheck *c, u64 pfn, size_t off)
{
	u64 gpa = (pfn << PAGE_SHIFT) + off;
	static const unsigned regs[] = {VMSA_RAX, VMSA_RCX, VMSA_RDX, VMSA_R8, VMSA_R9, VMSA_GUEST_EXITCODE};

	if (c->caller_vmsa && pfn == c->caller_vmsa >> PAGE_SHIFT) {
		for (unsigned i = 0; i < ARRAY_COUNT(regs); i++) {
			if (off >= regs[i] && off < regs[i] + 8) {
				return true;
			}
		}
	}
	if (c->caller_caa && gpa >= c->caller_caa && gpa < c->caller_caa + 2) {
		return true;
	}
	/* mem_available of the startup vCPU (DEPOSIT/WITHDRAW update it whatever they return). */
	for (u32 i = 0; i < c->vcpu_count; i++) {
		if (c->vcpus[i].apic_id == 0 && gpa == c->vcpus[i].caa + SVSM_CA_MEM_AVAILABLE_OFFSET) {
			return true;
		}
	}
	if (c->list_call && gpa >= c->rcx + 2 && gpa < c->rcx + 4) {
		return true;
	}
	/*
	 * PCPU_ID of any VMSA: the SVSM asks for a TLB flush there (a harmless extra one on a
	 * failure path), the hardware sets it at the next VMRUN (machine.h, the TLB model).
	 */
	if (off >= VMSA_PCPU_ID && off < VMSA_PCPU_ID + 8) {
		for (u32 i = 0; i < c->vcpu_count; i++) {
			if (c->vcpus[i].vmsa >> PAGE_SHIFT == pfn) {
				return true;
			}
		}
	}
	return false;
}

unsigned callcheck_end(struct callcheck *c, int status, u32 result)
{
	static struct svsm_vcpu *list[SVSM_MAX_VCPUS];
	struct emu_machine *m = c->m;
	u64 pages = m->rmp.page_count;

	m->write_hook = NULL;
	m->svsm_write_hook = NULL;
	if (m->svsm_map) {
		emu_machine_protect(m, 0, pages);
	}
	if (!c->active) {
		return 0;
	}
	c->active = false;
	bool answered = status == GUEST_OK;
	/* No answer because the SVSM never ran it (call_pending still set, host refused the switch). */
	bool not_run = status == GUEST_NOT_RUN || status == GUEST_HV_ERROR;
	bool rejected = answered && ((result >= SVSM_ERR_INCOMPLETE && result != SVSM_ERR_INCOMPLETE) ||
				     (result & 0xC0000000u) == SVSM_RESULT_NEED_MEMORY);
	if (answered && c->list_call && result != SVSM_SUCCESS) {
		rejected = true;
	}
	if (!rejected && !not_run) {
		return 0;
	}
	unsigned before = c->violations;
	c->checked++;
	/* Entries a failed list call may have done: [old next, new next). */
	u16 done_to = c->list_next;
	if (c->list_call && answered && c->rcx + 4 <= m->cfg.mem_size) {
		struct svsm_list_hdr h;
		memcpy(&h, emu_mem(m, c->rcx), sizeof(h));
		if (h.next >= c->list_next && h.next <= c->list_entries) {
			done_to = h.next;
		}
	}
	/* RMP entries: all of them, but for the hypervisor's own bookkeeping (in use, 2 MiB). */
	for (u64 pfn = 0; pfn < pages; pfn++) {
		struct rmp_entry a = c->rmp_pre[pfn], b = m->rmp.entries[pfn];
		if (cc_rmp_same(&a, &b) || cc_svsm_page(c, pfn) || cc_list_page(c, c->list_next, done_to, pfn)) {
			continue;
		}
		cc_fail(c, "call rax %#llx rcx %#llx returned %#x but changed the RMP entry of %#llx "
			   "(validated %u->%u, VMSA %u->%u, masks %02x/%02x/%02x -> %02x/%02x/%02x)",
			(unsigned long long)c->rax, (unsigned long long)c->rcx, result,
			(unsigned long long)pfn << PAGE_SHIFT, a.validated, b.validated, a.vmsa, b.vmsa, a.perms[1],
			a.perms[2], a.perms[3], b.perms[1], b.perms[2], b.perms[3]);
	}
	/* The vCPU table. */
	u32 n = vcpu_list(list, SVSM_MAX_VCPUS);
	bool same = n == c->vcpu_count;
	for (u32 i = 0; same && i < n; i++) {
		bool found = false;
		for (u32 j = 0; j < c->vcpu_count && !found; j++) {
			const struct callcheck_vcpu *p = &c->vcpus[j];
			found = p->apic_id == list[i]->apic_id && p->vmsa == list[i]->guest_vmsa_gpa &&
				p->caa == list[i]->caa_gpa && p->vmpl == list[i]->guest_vmpl;
		}
		same = found;
	}
	if (!same) {
		cc_fail(c, "call rax %#llx returned %#x but changed the vCPU table (%u -> %u vCPUs)",
			(unsigned long long)c->rax, result, c->vcpu_count, n);
	}
	/*
	 * Allocator totals. The SVSM's contexts for CPUs (cpu.h: its page, scratch and GHCB),
	 * created on a CPU's first entry or by CREATE_VCPU, are the SVSM's own and stay.
	 */
	u64 page_in_use, heap_in_use;
	cc_mm_totals(m, &page_in_use, &heap_in_use);
	c->page_in_use += (cc_cpu_pages() - c->cpu_pages) << PAGE_SHIFT;
	if (page_in_use != c->page_in_use || heap_in_use != c->heap_in_use) {
		cc_fail(c, "call rax %#llx returned %#x but the allocators went from %llu pages / %llu heap bytes to "
			   "%llu / %llu",
			(unsigned long long)c->rax, result, (unsigned long long)(c->page_in_use >> PAGE_SHIFT),
			(unsigned long long)c->heap_in_use, (unsigned long long)(page_in_use >> PAGE_SHIFT),
			(unsigned long long)heap_in_use);
	}
	/* Guest memory it wrote. */
	for (u32 i = 0; i < c->written_count; i++) {
		u64 pfn = c->written_pfn[i];
		const u8 *pre = c->pre_pages + (u64)i * PAGE_SIZE;
		const u8 *now = emu_mem(m, pfn << PAGE_SHIFT);
		if (cc_svsm_page(c, pfn) || cc_list_page(c, c->list_next, done_to, pfn) || !memcmp(pre, now, PAGE_SIZE)) {
			continue;
		}
		for (size_t off = 0; off < PAGE_SIZE; off++) {
			if (pre[off] != now[off] && !cc_byte_allowed(c, pfn, off)) {
				cc_fail(c, "call rax %#llx rcx %#llx returned %#x but changed guest memory at %#llx (%02x -> %02x)",
					(unsigned long long)c->rax, (unsigned long long)c->rcx, result,
					((unsigned long long)pfn << PAGE_SHIFT) + off, pre[off], now[off]);
				break;
			}
		}
	}
	if (c->written_overflow) {
		cc_fail(c, "call rax %#llx returned %#x after writing more than %u pages: not all could be checked",
			(unsigned long long)c->rax, result, CALLCHECK_MAX_PAGES);
	}
	return c->violations - before;
}
