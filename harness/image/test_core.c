/*
 * In-image tests of the core protocol and the request handler, driven by the guest
 * driver (emu/guest.c) through the emulated hypervisor of the no-SNP platform, with the
 * invariant oracle after every call (ktest_call).
 */
#include <svsm/arch.h>
#include <svsm/ghcb.h>
#include <svsm/ghcb_client.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/panic.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

#include "ktest.h"
#include "snp.h"

#define CORE_CALL(e, call, rcx, rdx, r8, out) ktest_call((e), SVSM_PROTOCOL_CORE, (call), (rcx), (rdx), (r8), (out))

static const struct rmp_entry *rmp(struct ktest_env *e, u64 gpa)
{
	return rmp_entry(&e->m->rmp, gpa);
}

/* Not yet validated guest pages, 2 MiB aligned, taken from the driver's pool. */
static u64 raw_pages(struct ktest_env *e, u64 pages)
{
	u64 gpa = ALIGN_UP(e->g.pool_next, PAGE_2M_SIZE);

	e->g.pool_next = gpa + ALIGN_UP(pages * PAGE_SIZE, PAGE_2M_SIZE);
	return gpa;
}

static u64 pval_entry(u64 gpa, bool huge, bool validate, bool ignore_cf)
{
	return gpa | (huge ? PAGE_SIZE_2M : PAGE_SIZE_4K) | (validate ? SVSM_PVAL_VALIDATE : 0) |
	       (ignore_cf ? SVSM_PVAL_IGNORE_CF : 0);
}

/* Write a PVALIDATE/DEPOSIT list at @list; 0 or -1. */
static int write_list(struct ktest_env *e, u64 list, const u64 *entries, u16 n, u16 next)
{
	struct svsm_list_hdr hdr = {.entries = n, .next = next};

	if (guest_write(&e->g, list, &hdr, sizeof(hdr)) != 0) {
		return -1;
	}
	return guest_write(&e->g, list + sizeof(hdr), entries, 8ull * n);
}

static u16 list_next(struct ktest_env *e, u64 list)
{
	struct svsm_list_hdr hdr = {0};

	guest_read(&e->g, list, &hdr, sizeof(hdr));
	return hdr.next;
}

static u64 pvalidate(struct ktest_env *e, u64 list, const u64 *entries, u16 n)
{
	if (!KCHECK(write_list(e, list, entries, n, 0) == 0, "cannot write the list")) {
		return ~0ull;
	}
	return CORE_CALL(e, SVSM_CORE_PVALIDATE, list, 0, 0, NULL);
}

static void test_core_query_protocol(void)
{
	struct ktest_env *e = ktest_boot();
	struct guest_regs r;

	if (!e) {
		return;
	}
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, &r), SVSM_SUCCESS);
	KCHECK_EQ(r.rcx, (1ull << 32) | 1);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_QUERY_PROTOCOL, 2, 0, 0, &r), SVSM_SUCCESS);
	KCHECK_EQ(r.rcx, 0);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_QUERY_PROTOCOL, (0x77ull << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
	KCHECK_EQ(r.rcx, 0);
}

/* The image has no TPM engine (svsm/vtpm/engine_absent.c): protocol 2 does not exist. */
static void test_core_no_vtpm_in_image(void)
{
	struct ktest_env *e = ktest_boot();
	struct guest_regs r;

	if (!e) {
		return;
	}
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_QUERY_PROTOCOL, (2ull << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
	KCHECK_EQ(r.rcx, 0);
	KCHECK_EQ(ktest_call(e, SVSM_PROTOCOL_VTPM, 0, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_PROTOCOL);
	KCHECK_EQ(ktest_call(e, SVSM_PROTOCOL_VTPM, 1, e->m->cfg.caa_gpa + 8, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_PROTOCOL);
}

static void test_core_unknown_call_and_protocol(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CALL_COUNT, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_CALL);
	KCHECK_EQ(ktest_call(e, 0x99, 0, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_PROTOCOL);
}

static void test_core_configure_vtom(void)
{
	struct ktest_env *e = ktest_boot();
	struct guest_regs r;

	if (!e) {
		return;
	}
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CONFIGURE_VTOM, SVSM_VTOM_QUERY, 0, 0, &r), SVSM_SUCCESS);
	KCHECK_EQ(r.rcx, 0);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CONFIGURE_VTOM, 0, 0, 0, NULL), SVSM_ERR_INVALID_REQUEST);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CONFIGURE_VTOM, BIT(5), 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
}

static void test_core_pvalidate_4k(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 list = guest_alloc_pages(&e->g, 1);
	u64 gpa = raw_pages(e, 1);
	u64 entry = pval_entry(gpa, false, true, false);
	u8 junk[32];

	KCHECK_EQ(pvalidate(e, list, &entry, 1), SVSM_SUCCESS);
	KCHECK_EQ(list_next(e, list), 1);
	KCHECK(rmp(e, gpa)->validated, "page not validated");
	KCHECK_EQ(rmp(e, gpa)->perms[EMU_GUEST_VMPL], VMPL_PERM_ALL);
	/* Dirty, rescind, validate again: the guest gets a zeroed page back. */
	memset(junk, 0x6B, sizeof(junk));
	KCHECK_EQ(guest_write(&e->g, gpa, junk, sizeof(junk)), 0);
	entry = pval_entry(gpa, false, false, false);
	KCHECK_EQ(pvalidate(e, list, &entry, 1), SVSM_SUCCESS);
	KCHECK(!rmp(e, gpa)->validated && rmp(e, gpa)->perms[EMU_GUEST_VMPL] == 0, "rescind left access");
	KCHECK_EQ(guest_read(&e->g, gpa, junk, 1), (u64)-1);
	entry = pval_entry(gpa, false, true, false);
	KCHECK_EQ(pvalidate(e, list, &entry, 1), SVSM_SUCCESS);
	KCHECK_EQ(guest_read(&e->g, gpa, junk, sizeof(junk)), 0);
	bool zero = true;
	for (unsigned i = 0; i < sizeof(junk); i++) {
		zero &= junk[i] == 0;
	}
	KCHECK(zero, "revalidated page not zeroed");
}

static void test_core_pvalidate_2m(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 list = guest_alloc_pages(&e->g, 1);
	u64 gpa = raw_pages(e, PAGES_PER_2M);
	u64 entry = pval_entry(gpa, true, true, false);

	KCHECK_EQ(pvalidate(e, list, &entry, 1), SVSM_SUCCESS);
	KCHECK(rmp(e, gpa)->page_2m, "2 MiB RMP entry was split");
	KCHECK(rmp(e, gpa + PAGE_2M_SIZE - PAGE_SIZE)->validated, "last page not validated");
	KCHECK_EQ(rmp(e, gpa + 0x5000)->perms[EMU_GUEST_VMPL], VMPL_PERM_ALL);
}

static void test_core_pvalidate_2m_sizemismatch(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 list = guest_alloc_pages(&e->g, 1);
	u64 gpa = raw_pages(e, PAGES_PER_2M);
	u64 entries[2] = {pval_entry(gpa + PAGE_SIZE, false, true, false), pval_entry(gpa, true, true, false)};

	/* The 4 KiB entry splits the 2 MiB RMP entry, so the 2 MiB entry then mismatches. */
	KCHECK_EQ(pvalidate(e, list, entries, 2), SVSM_ERR_PVALIDATE_FAIL_SIZEMISMATCH);
	KCHECK_EQ(list_next(e, list), 1);
	KCHECK(rmp(e, gpa + PAGE_SIZE)->validated && !rmp(e, gpa)->validated, "wrong pages validated");
	/* The guest driver falls back to 4 KiB entries as Linux does. */
	KCHECK_EQ(guest_pvalidate_range(&e->g, gpa + PAGE_SIZE, 1, false), SVSM_SUCCESS);
	KCHECK_EQ(guest_pvalidate_range(&e->g, gpa, PAGES_PER_2M, true), SVSM_SUCCESS);
	KCHECK(rmp(e, gpa)->validated && rmp(e, gpa + PAGE_2M_SIZE - PAGE_SIZE)->validated, "fallback did not validate");
	KCHECK(!rmp(e, gpa)->page_2m, "RMP entry is still 2 MiB");
}

static void test_core_pvalidate_unchanged(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 list = guest_alloc_pages(&e->g, 1);
	u64 gpa = raw_pages(e, 1);
	u64 twice[2] = {pval_entry(gpa, false, true, false), pval_entry(gpa, false, true, false)};

	KCHECK_EQ(pvalidate(e, list, twice, 2), SVSM_ERR_PVALIDATE_FAIL_UNCHANGED);
	KCHECK_EQ(list_next(e, list), 1);
	u64 ignore = pval_entry(gpa, false, true, true);
	KCHECK_EQ(pvalidate(e, list, &ignore, 1), SVSM_SUCCESS);
}

static void test_core_pvalidate_rejects_bad_lists(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 list = guest_alloc_pages(&e->g, 1);
	u64 gpa = raw_pages(e, 1);
	u64 svsm_page = pval_entry(e->m->cfg.svsm_base + 0x3000, false, false, false);
	u64 outside = pval_entry(e->m->cfg.mem_size, false, true, false);
	u64 reserved = pval_entry(gpa, false, true, false) | 0x10;
	u64 hash = rmp(e, gpa)->validated;

	KCHECK_EQ(pvalidate(e, list, &svsm_page, 1), SVSM_ERR_INVALID_ADDRESS);
	KCHECK_EQ(pvalidate(e, list, &outside, 1), SVSM_ERR_INVALID_ADDRESS);
	KCHECK_EQ(pvalidate(e, list, &reserved, 1), SVSM_ERR_INVALID_PARAMETER);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_PVALIDATE, list + 4, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	u64 ok_entry = pval_entry(gpa, false, true, false);
	KCHECK_EQ(write_list(e, list, &ok_entry, 1, 1), 0);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_PVALIDATE, list, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	/* A rejected call changes nothing. */
	KCHECK_EQ(rmp(e, gpa)->validated, hash);
	KCHECK(rmp(e, e->m->cfg.svsm_base + 0x3000)->validated, "SVSM page lost its validation");
}

static void test_core_pvalidate_incomplete(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	static u64 entries[300];
	u64 list = guest_alloc_pages(&e->g, 1);
	u64 gpa = raw_pages(e, 300);
	struct guest_regs r;

	for (unsigned i = 0; i < 300; i++) {
		entries[i] = pval_entry(gpa + i * PAGE_SIZE, false, true, false);
	}
	KCHECK_EQ(write_list(e, list, entries, 300, 0), 0);
	r = (struct guest_regs){.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_PVALIDATE), .rcx = list};
	KCHECK_EQ(guest_call_once(&e->g, 0, &r), GUEST_OK);
	KCHECK_EQ((u32)r.rax, SVSM_ERR_INCOMPLETE);
	u16 next = list_next(e, list);
	KCHECK(next > 0 && next < 300, "next %u after INCOMPLETE", next);
	/* Re-issued unchanged, as Linux does, until done. */
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_PVALIDATE, list, 0, 0, NULL), SVSM_SUCCESS);
	KCHECK_EQ(list_next(e, list), 300);
	KCHECK(rmp(e, gpa + 299 * PAGE_SIZE)->validated, "last page not validated");
}

static void test_core_remap_ca(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 old = e->m->cfg.caa_gpa;
	u64 ca = guest_alloc_pages(&e->g, 1);
	u8 junk[8] = {9, 9, 9, 9, 9, 9, 9, 9};
	struct guest_regs r;

	KCHECK_EQ(guest_write(&e->g, ca, junk, sizeof(junk)), 0);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_REMAP_CA, ca, 0, 0, NULL), SVSM_SUCCESS);
	KCHECK_EQ(guest_read(&e->g, ca, junk, 1), 0);
	KCHECK_EQ(junk[0], 0);
	e->g.vcpus[0].caa_gpa = ca;
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
	/* The old calling area is no longer looked at. */
	e->g.vcpus[0].caa_gpa = old;
	r = (struct guest_regs){.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	KCHECK_EQ(guest_call_once(&e->g, 0, &r), (u64)GUEST_NOT_RUN);
	e->g.vcpus[0].caa_gpa = ca;
}

static void test_core_remap_ca_rejected(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 ca = guest_alloc_pages(&e->g, 1);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_REMAP_CA, ca + 8, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_REMAP_CA, e->m->cfg.svsm_base, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_REMAP_CA, e->m->cfg.mem_size, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_REMAP_CA, raw_pages(e, 1), 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	KCHECK_EQ(vcpu_find_apic(0)->caa_gpa, e->m->cfg.caa_gpa);
}

static void test_core_create_vcpu_and_call(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 vmsa = 0;
	KCHECK_EQ(guest_create_vcpu(&e->g, 2, &vmsa), SVSM_SUCCESS);
	KCHECK(rmp(e, vmsa)->vmsa, "no VMSA bit");
	KCHECK_EQ(rmp(e, vmsa)->perms[EMU_GUEST_VMPL], VMPL_PERM_READ);
	u8 b = 0;
	KCHECK_EQ(guest_write(&e->g, vmsa, &b, 1), (u64)-1);
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	KCHECK_EQ(guest_call(&e->g, 2, &r), GUEST_OK);
	KCHECK_EQ((u32)r.rax, SVSM_SUCCESS);
	KCHECK_EQ(r.rcx, (1ull << 32) | 1);
	KCHECK(vcpu_find_apic(2) && vcpu_find_apic(2)->calls == 1, "call not served on vCPU 2");
	KCHECK(oracle_check(&e->oracle, e->m, e->report, sizeof(e->report)) == 0, "oracle: %s", e->report);
}

/* Build a VMSA for CREATE_VCPU in guest memory with the given fields. */
static u64 vmsa_page(struct ktest_env *e, u8 vmpl, u64 efer, u64 features)
{
	static u8 img[VMSA_SIZE];
	u64 gpa = guest_alloc_pages(&e->g, 1);

	if (IS_ALIGNED(gpa, PAGE_2M_SIZE)) {
		gpa = guest_alloc_pages(&e->g, 1);
	}
	guest_vmsa_template(img, vmpl, features);
	memcpy(img + VMSA_EFER, &efer, 8);
	KCHECK_EQ(guest_write(&e->g, gpa, img, sizeof(img)), 0);
	return gpa;
}

static void test_core_create_vcpu_rejected(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 ca = guest_alloc_pages(&e->g, 1);
	u64 vmpl0 = vmsa_page(e, 0, EFER_SVME, EMU_SEV_FEATURES);
	u64 no_svme = vmsa_page(e, 1, 0, EMU_SEV_FEATURES);
	u64 features = vmsa_page(e, 1, EFER_SVME, EMU_SEV_FEATURES | BIT(3));
	u64 good = vmsa_page(e, 1, EFER_SVME, EMU_SEV_FEATURES);

	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CREATE_VCPU, vmpl0, ca, 1, NULL), SVSM_ERR_INVALID_PARAMETER);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CREATE_VCPU, no_svme, ca, 1, NULL), SVSM_ERR_INVALID_PARAMETER);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CREATE_VCPU, features, ca, 1, NULL), SVSM_ERR_INVALID_PARAMETER);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CREATE_VCPU, good + 8, ca, 1, NULL), SVSM_ERR_INVALID_PARAMETER);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CREATE_VCPU, good, good, 1, NULL), SVSM_ERR_INVALID_ADDRESS);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CREATE_VCPU, e->m->cfg.svsm_base + 0x2000, ca, 1, NULL),
		  SVSM_ERR_INVALID_ADDRESS);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_CREATE_VCPU, good, ca, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	KCHECK(!rmp(e, good)->vmsa && !rmp(e, vmpl0)->vmsa, "a rejected CREATE_VCPU set the VMSA bit");
	KCHECK(vcpu_find_apic(1) == NULL, "a rejected CREATE_VCPU added a vCPU");
}

static void test_core_delete_vcpu(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 vmsa = 0;
	KCHECK_EQ(guest_create_vcpu(&e->g, 4, &vmsa), SVSM_SUCCESS);
	/* Still running: the SVSM cannot clear EFER.SVME under it. */
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0, NULL), SVSM_ERR_DELETE_VCPU_FAIL_INUSE);
	KCHECK_EQ(guest_ap_destroy(&e->g, 4), 0);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0, NULL), SVSM_SUCCESS);
	KCHECK(!rmp(e, vmsa)->vmsa, "VMSA bit left");
	KCHECK_EQ(rmp(e, vmsa)->perms[EMU_GUEST_VMPL], VMPL_PERM_ALL);
	KCHECK(vcpu_find_apic(4) == NULL, "vCPU still known");
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_DELETE_VCPU, vcpu_find_apic(0)->guest_vmsa_gpa, 0, 0, NULL),
		  SVSM_ERR_INVALID_PARAMETER);
}

static u8 mem_available(struct ktest_env *e)
{
	u8 b = 0xFF;

	guest_read(&e->g, e->m->cfg.caa_gpa + SVSM_CA_MEM_AVAILABLE_OFFSET, &b, 1);
	return b;
}

static void test_core_deposit_withdraw(void)
{
	struct ktest_env *e = ktest_boot();
	struct mm_stats s0, s1;

	if (!e) {
		return;
	}
	u64 list = guest_alloc_pages(&e->g, 1);
	u64 buf = guest_alloc_pages(&e->g, 1);
	u64 a = guest_alloc_pages(&e->g, 4);
	u64 entries[4];
	for (unsigned i = 0; i < 4; i++) {
		entries[i] = a + i * PAGE_SIZE;
	}
	mm_get_stats(&s0);
	KCHECK_EQ(write_list(e, list, entries, 4, 0), 0);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_DEPOSIT_MEM, list, 0, 0, NULL), SVSM_SUCCESS);
	mm_get_stats(&s1);
	KCHECK_EQ(s1.page.free, s0.page.free + 4 * PAGE_SIZE);
	KCHECK(owned_page(a) && rmp(e, a)->perms[EMU_GUEST_VMPL] == 0, "deposited page still the guest's");
	KCHECK_EQ(mem_available(e), 1);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_WITHDRAW_MEM, buf, 0, 0, NULL), SVSM_SUCCESS);
	struct svsm_withdraw_hdr hdr;
	KCHECK_EQ(guest_read(&e->g, buf, &hdr, sizeof(hdr)), 0);
	KCHECK_EQ(hdr.entries, 4);
	KCHECK(!owned_page(a) && rmp(e, a)->perms[EMU_GUEST_VMPL] == VMPL_PERM_ALL, "withdrawn page not returned");
	KCHECK_EQ(mem_available(e), 0);
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_WITHDRAW_MEM, e->m->cfg.svsm_base, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
}

/* Run VMPL0 from the guest with @pending in call_pending (no driver help), as a raw VMGEXIT. */
static void raw_entry(struct ktest_env *e, u8 pending)
{
	struct emu_vcpu *v = emu_vcpu_find(e->m, 0);

	guest_write(&e->g, vcpu_find_apic(0)->caa_gpa, &pending, 1);
	v->rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL);
	v->rcx = 1;
	v->ghcb_msr[EMU_GUEST_VMPL] = GHCB_MSR_RUN_VMPL(0);
	emu_vcpu_set_current(v);
	emu_hv_vmgexit(e->m, v);
	emu_vcpu_set_current(NULL);
}

static void test_request_pending_zero_is_spurious(void)
{
	struct ktest_env *e = ktest_boot();
	struct svsm_counters c0, c1;

	if (!e) {
		return;
	}
	svsm_get_counters(&c0);
	raw_entry(e, 0);
	svsm_get_counters(&c1);
	KCHECK_EQ(c1.spurious_entries, c0.spurious_entries + 1);
	KCHECK_EQ(emu_vcpu_find(e->m, 0)->rax, SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL));
	u64 efer;
	memcpy(&efer, emu_mem(e->m, vcpu_find_apic(0)->guest_vmsa_gpa) + VMSA_EFER, 8);
	KCHECK(efer & EFER_SVME, "EFER.SVME left clear");
}

static void test_request_pending_reserved_value(void)
{
	struct ktest_env *e = ktest_boot();
	u8 pending = 0xFF;

	if (!e) {
		return;
	}
	raw_entry(e, 2);
	KCHECK_EQ(emu_vcpu_find(e->m, 0)->rax, SVSM_ERR_INVALID_FORMAT);
	guest_read(&e->g, e->m->cfg.caa_gpa, &pending, 1);
	KCHECK_EQ(pending, 0);
}

static void test_request_pending_one_is_served(void)
{
	struct ktest_env *e = ktest_boot();
	u8 pending = 0xFF;

	if (!e) {
		return;
	}
	raw_entry(e, 1);
	KCHECK_EQ(emu_vcpu_find(e->m, 0)->rax, SVSM_SUCCESS);
	KCHECK_EQ(emu_vcpu_find(e->m, 0)->rcx, (1ull << 32) | 1);
	guest_read(&e->g, e->m->cfg.caa_gpa, &pending, 1);
	KCHECK_EQ(pending, 0);
}

/* The handler reads the caller's registers once: a call's counters and guest reads are bounded. */
static void test_request_single_fetch(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	struct emu_vcpu *v = emu_vcpu_find(e->m, 0);
	u64 reads = v->svsm_guest_reads;
	KCHECK_EQ(CORE_CALL(e, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
	KCHECK_EQ(v->svsm_guest_reads - reads, 1);
}

/* The oracle is not a formality: an SVSM page granted to the guest is reported. */
static void test_oracle_detects_violation(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	KCHECK_EQ(oracle_check(&e->oracle, e->m, e->report, sizeof(e->report)), 0);
	ktest_as_svsm_begin(e);
	u32 rc = arch_rmpadjust(e->m->cfg.svsm_base + 0x10000, PAGE_SIZE_4K, EMU_GUEST_VMPL, VMPL_PERM_READ, false);
	ktest_as_svsm_end(e);
	KCHECK_EQ(rc, RMP_SUCCESS);
	unsigned n = oracle_check(&e->oracle, e->m, e->report, sizeof(e->report));
	KCHECK(n >= 1, "oracle missed an SVSM page readable by VMPL1");
	const char *want = "accessible to VMPL1";
	bool found = false;
	for (size_t i = 0; e->report[i] && !found; i++) {
		found = memcmp(e->report + i, want, strlen(want)) == 0;
	}
	KCHECK(found, "oracle report: %s", e->report);
}

/* The SVSM's console goes out through GHCB IOIO exits to the emulated serial port. */
static void test_ghcb_ioio_console(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 before = e->m->stats.console_bytes;
	u64 ioio = emu_exits(e->m, EXIT_NAE_IOIO);
	ktest_as_svsm_begin(e);
	log_info("# console check from the SVSM");
	ktest_as_svsm_end(e);
	KCHECK(e->m->stats.console_bytes > before, "no console bytes");
	KCHECK(emu_exits(e->m, EXIT_NAE_IOIO) > ioio, "console did not use IOIO exits");
}

static void core_panic(void *arg)
{
	svsm_panic("in-image test of the panic path");
}

/* svsm_panic terminates through the GHCB MSR protocol with the SVSM reason set. */
static void test_panic_terminates_via_ghcb(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	ktest_as_svsm_begin(e);
	bool terminated = nosnp_catch_termination(e->m, core_panic, NULL);
	ktest_as_svsm_end(e);
	KCHECK(terminated, "svsm_panic returned");
	KCHECK_EQ(e->m->term_set, TERM_SET_SVSM);
	KCHECK_EQ(e->m->term_code, TERM_SVSM_PANIC);
	KCHECK_EQ(emu_exits(e->m, EXIT_MSR_TERMINATE), 1);
}

/* A hostile hypervisor that stalls page state changes cannot make the client loop or lie. */
static void test_hostile_psc_no_progress(void)
{
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	u64 gpa = raw_pages(e, 1);
	e->m->hostile.psc_no_progress = true;
	ktest_as_svsm_begin(e);
	int rc = ghcb_psc(&cpu_find_apic(0)->ghcb, gpa, 4, PSC_OP_SHARED);
	ktest_as_svsm_end(e);
	e->m->hostile.psc_no_progress = false;
	KCHECK_EQ((u64)(s64)rc, (u64)(s64)GHCB_CLIENT_NO_PROGRESS);
	KCHECK(rmp(e, gpa)->assigned, "page changed state anyway");
}

/* A wrong registration echo makes the SVSM refuse to boot. */
static void test_hostile_register_echo_fails_boot(void)
{
	struct ktest_env *e = ktest_boot();
	struct emu_config cfg;
	char err[160];

	if (!e) {
		return;
	}
	/* The hostile switch must be on before the boot registers the GHCB: boot by hand. */
	nosnp_config_default(&cfg);
	cfg.mem_size = 30ull << 20;
	KCHECK(nosnp_machine_boot(&cfg, err, sizeof(err)) == NULL, "a 30 MiB machine was accepted");
	e->m->hostile.register_bad_echo = true;
	ktest_as_svsm_begin(e);
	int rc = ghcb_msr_register(e->m->cfg.mem_size - PAGE_SIZE);
	ktest_as_svsm_end(e);
	KCHECK(rc != GHCB_CLIENT_OK, "wrong echo accepted");
}

static const struct ktest tests[] = {
	{"core_query_protocol", test_core_query_protocol},
	{"core_no_vtpm_in_image", test_core_no_vtpm_in_image},
	{"core_unknown_call_and_protocol", test_core_unknown_call_and_protocol},
	{"core_configure_vtom", test_core_configure_vtom},
	{"core_pvalidate_4k", test_core_pvalidate_4k},
	{"core_pvalidate_2m", test_core_pvalidate_2m},
	{"core_pvalidate_2m_sizemismatch", test_core_pvalidate_2m_sizemismatch},
	{"core_pvalidate_unchanged", test_core_pvalidate_unchanged},
	{"core_pvalidate_rejects_bad_lists", test_core_pvalidate_rejects_bad_lists},
	{"core_pvalidate_incomplete", test_core_pvalidate_incomplete},
	{"core_remap_ca", test_core_remap_ca},
	{"core_remap_ca_rejected", test_core_remap_ca_rejected},
	{"core_create_vcpu_and_call", test_core_create_vcpu_and_call},
	{"core_create_vcpu_rejected", test_core_create_vcpu_rejected},
	{"core_delete_vcpu", test_core_delete_vcpu},
	{"core_deposit_withdraw", test_core_deposit_withdraw},
	{"request_pending_zero_is_spurious", test_request_pending_zero_is_spurious},
	{"request_pending_reserved_value", test_request_pending_reserved_value},
	{"request_pending_one_is_served", test_request_pending_one_is_served},
	{"request_single_fetch", test_request_single_fetch},
	{"oracle_detects_violation", test_oracle_detects_violation},
	{"ghcb_ioio_console", test_ghcb_ioio_console},
	{"panic_terminates_via_ghcb", test_panic_terminates_via_ghcb},
	{"hostile_psc_no_progress", test_hostile_psc_no_progress},
	{"hostile_register_echo", test_hostile_register_echo_fails_boot},
};

const struct ktest_suite ktest_suite_core = {"core", tests, ARRAY_COUNT(tests)};
