/*
 * Callers at several VMPLs: a VMPL1 guest OS hosts a VMPL2 guest, which hosts a VMPL3
 * one, each on its own vCPU with its own memory and calling area, every access checked
 * as its own VMPL. A less privileged caller can never make the SVSM read, write, zero,
 * validate, rescind, deposit or take a page that the caller itself could not access.
 */
#include <stdlib.h>

#include <svsm/guestmem.h>
#include <svsm/vmsa.h>

#include "test_common.h"

struct mv {
	struct hx *h;
	struct emu_guest vmpl2;
	struct emu_guest vmpl3;
};

#define APIC_VMPL2 1
#define APIC_VMPL3 2

static int mv_setup_cfg(void **state, const struct emu_config *cfg)
{
	struct mv *t = calloc(1, sizeof(*t));

	if (!t) {
		return -1;
	}
	t->h = hx_boot(cfg);
	if (!t->h) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int mv_setup(void **state)
{
	if (mv_setup_cfg(state, NULL) != 0) {
		return -1;
	}
	struct mv *t = *state;
	if (guest_spawn(&t->h->g, &t->vmpl2, 2, APIC_VMPL2, 96) != SVSM_SUCCESS ||
	    guest_spawn(&t->vmpl2, &t->vmpl3, 3, APIC_VMPL3, 16) != SVSM_SUCCESS) {
		return -1;
	}
	return 0;
}

static int mv_teardown(void **state)
{
	struct mv *t = *state;

	hx_shutdown(t->h);
	free(t);
	return 0;
}

/* What must not change: the page's RMP entry and its bytes. */
struct pagestate {
	struct rmp_entry e;
	u64 hash;
	bool owned;
};

static struct pagestate page_state(struct hx *h, u64 gpa)
{
	return (struct pagestate){*hx_rmp(h, gpa), hx_hash_mem(h, gpa, PAGE_SIZE), owned_page(gpa)};
}

static void assert_page_unchanged(struct hx *h, u64 gpa, const struct pagestate *before)
{
	struct pagestate now = page_state(h, gpa);

	assert_memory_equal(&now.e, &before->e, sizeof(now.e));
	assert_int_equal(now.hash, before->hash);
	assert_int_equal(now.owned, before->owned);
}

/* A call from guest @g that must complete with a clean oracle; returns RAX. */
static u64 as(struct mv *t, struct emu_guest *g, u32 call, u64 rcx, u64 rdx, u64 r8)
{
	u64 rc = hx_core_as(t->h, g, call, rcx, rdx, r8, NULL);

	assert_int_equal(t->h->last_status, GUEST_OK);
	assert_oracle_clean(t->h);
	return rc;
}

/* A page only the VMPL1 OS can access, with recognisable contents. */
static u64 vmpl1_page(struct mv *t)
{
	u64 gpa = hx_page(t->h);
	u8 pattern[64];

	memset(pattern, 0xC5, sizeof(pattern));
	assert_int_equal(guest_write(&t->h->g, gpa, pattern, sizeof(pattern)), 0);
	assert_int_equal(hx_rmp(t->h, gpa)->perms[2], 0);
	return gpa;
}

/* A VMPL1 page the VMPL2 guest may read but not write. */
static u64 readonly_page(struct mv *t)
{
	u64 gpa = vmpl1_page(t);

	assert_int_equal(guest_rmpadjust(&t->h->g, gpa, PAGE_SIZE_4K, 2, VMPL_PERM_READ), RMP_SUCCESS);
	return gpa;
}

/* Write a list as @g would (header + entries at @gpa). */
static void put_list(struct emu_guest *g, u64 gpa, const u64 *e, u16 n)
{
	struct svsm_list_hdr hdr = {.entries = n, .next = 0};

	assert_int_equal(guest_write(g, gpa, &hdr, sizeof(hdr)), 0);
	assert_int_equal(guest_write(g, gpa + sizeof(hdr), e, 8ull * n), 0);
}

/* The list buffer of @g's calling area. */
static u64 ca_list(struct emu_guest *g)
{
	return g->vcpus[0].caa_gpa + 8;
}

/* Ask the core (as VMPL0 code on the startup vCPU) whether it serves several VMPLs. */
static bool multi_vmpl(struct hx *h)
{
	hx_as_svsm_begin(h);
	bool yes = guestmem_multi_vmpl();
	hx_as_svsm_end(h);
	return yes;
}

static void test_spawned_guests_run_at_their_vmpl(void **state)
{
	struct mv *t = *state;
	struct guest_regs r;

	assert_int_equal(hx_core_as(t->h, &t->vmpl2, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, (1ull << 32) | 1);
	assert_int_equal(vcpu_find_apic(APIC_VMPL2)->guest_vmpl, 2);
	assert_int_equal(vcpu_find_apic(APIC_VMPL3)->guest_vmpl, 3);
	assert_int_equal(as(t, &t->vmpl3, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0), SVSM_SUCCESS);
	/* Each guest's accesses are its own VMPL's: VMPL3 cannot read a VMPL2-only page. */
	u64 p2 = guest_alloc_pages(&t->vmpl2, 1);
	u8 b;
	assert_int_equal(guest_read(&t->vmpl2, p2, &b, 1), 0);
	assert_int_equal(guest_read(&t->vmpl3, p2, &b, 1), -1);
	assert_true(multi_vmpl(t->h));
}

/* REMAP_CA onto a VMPL1 page would zero its first 8 bytes: refused, page untouched. */
static void test_remap_ca_onto_other_vmpl_page(void **state)
{
	struct mv *t = *state;
	u64 own1 = vmpl1_page(t);
	u64 ro = readonly_page(t);
	struct pagestate a = page_state(t->h, own1), b = page_state(t->h, ro);

	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_REMAP_CA, own1, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_REMAP_CA, ro, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, own1, &a);
	assert_page_unchanged(t->h, ro, &b);
	/* Its own page is fine. */
	u64 mine = guest_alloc_pages(&t->vmpl2, 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_REMAP_CA, mine, 0, 0), SVSM_SUCCESS);
	assert_int_equal(vcpu_find_apic(APIC_VMPL2)->caa_gpa, mine);
}

/* A PVALIDATE list in memory the caller cannot write (the SVSM writes "next") or read. */
static void test_pvalidate_list_in_other_vmpl_page(void **state)
{
	struct mv *t = *state;
	u64 own1 = vmpl1_page(t);
	u64 ro = readonly_page(t);
	u64 target = guest_alloc_pages(&t->vmpl2, 1);
	u64 e = hx_pval_entry(target, false, false, false);

	put_list(&t->h->g, own1, &e, 1);
	put_list(&t->h->g, ro, &e, 1);
	struct pagestate a = page_state(t->h, own1), b = page_state(t->h, ro), c = page_state(t->h, target);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_PVALIDATE, own1, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_PVALIDATE, ro, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, own1, &a);
	assert_page_unchanged(t->h, ro, &b);
	assert_page_unchanged(t->h, target, &c);
}

/* Rescinding a page the caller cannot write (VMPL1-only, or read-only for it). */
static void test_pvalidate_rescind_other_vmpl_page(void **state)
{
	struct mv *t = *state;
	u64 own1 = vmpl1_page(t);
	u64 ro = readonly_page(t);
	u64 e[2] = {hx_pval_entry(own1, false, false, false), hx_pval_entry(ro, false, false, false)};
	struct pagestate a = page_state(t->h, own1), b = page_state(t->h, ro);

	put_list(&t->vmpl2, ca_list(&t->vmpl2), &e[0], 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_PVALIDATE, ca_list(&t->vmpl2), 0, 0), SVSM_ERR_INVALID_ADDRESS);
	put_list(&t->vmpl2, ca_list(&t->vmpl2), &e[1], 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_PVALIDATE, ca_list(&t->vmpl2), 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, own1, &a);
	assert_page_unchanged(t->h, ro, &b);
	/* The VMPL1 OS may rescind its own page. */
	put_list(&t->h->g, ca_list(&t->h->g), &e[0], 1);
	assert_int_equal(CORE(t->h, SVSM_CORE_PVALIDATE, ca_list(&t->h->g), 0, 0, NULL), SVSM_SUCCESS);
	assert_false(hx_rmp(t->h, own1)->validated);
}

/*
 * Validating: a page that is not validated belongs to the boot guest OS; a VMPL2 caller
 * may not validate it (it would gain a page of the OS's memory), nor learn whether a
 * VMPL1 page is validated ("unchanged").
 */
static void test_pvalidate_validate_not_callers(void **state)
{
	struct mv *t = *state;
	u64 own1 = vmpl1_page(t);
	u64 unval = hx_page(t->h);
	u64 e[2] = {hx_pval_entry(own1, false, true, true), hx_pval_entry(unval, false, true, false)};

	put_list(&t->h->g, ca_list(&t->h->g), &e[1], 1);
	e[1] = hx_pval_entry(unval, false, false, false);
	put_list(&t->h->g, ca_list(&t->h->g), &e[1], 1);
	assert_int_equal(CORE(t->h, SVSM_CORE_PVALIDATE, ca_list(&t->h->g), 0, 0, NULL), SVSM_SUCCESS);
	assert_false(hx_rmp(t->h, unval)->validated);
	e[1] = hx_pval_entry(unval, false, true, false);
	struct pagestate a = page_state(t->h, own1), b = page_state(t->h, unval);

	put_list(&t->vmpl2, ca_list(&t->vmpl2), &e[0], 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_PVALIDATE, ca_list(&t->vmpl2), 0, 0), SVSM_ERR_INVALID_ADDRESS);
	put_list(&t->vmpl2, ca_list(&t->vmpl2), &e[1], 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_PVALIDATE, ca_list(&t->vmpl2), 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, own1, &a);
	assert_page_unchanged(t->h, unval, &b);
	/* The boot OS may validate it again. */
	put_list(&t->h->g, ca_list(&t->h->g), &e[1], 1);
	assert_int_equal(CORE(t->h, SVSM_CORE_PVALIDATE, ca_list(&t->h->g), 0, 0, NULL), SVSM_SUCCESS);
	assert_true(hx_rmp(t->h, unval)->validated);
}

/* CREATE_VCPU with a VMSA or a calling area the caller does not own. */
static void test_create_vcpu_other_vmpl_pages(void **state)
{
	struct mv *t = *state;
	u64 own1 = vmpl1_page(t);
	u64 ro = readonly_page(t);
	u64 vmsa = guest_alloc_pages(&t->vmpl2, 2) + PAGE_SIZE;
	u64 caa = guest_alloc_pages(&t->vmpl2, 1);
	u8 img[VMSA_SIZE];

	guest_vmsa_template(img, 2, EMU_SEV_FEATURES);
	assert_int_equal(guest_write(&t->h->g, own1, img, sizeof(img)), 0);
	assert_int_equal(guest_write(&t->vmpl2, vmsa, img, sizeof(img)), 0);
	struct pagestate a = page_state(t->h, own1), b = page_state(t->h, ro), c = page_state(t->h, vmsa);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_CREATE_VCPU, own1, caa, 9), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_CREATE_VCPU, ro, caa, 9), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_CREATE_VCPU, vmsa, own1, 9), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_CREATE_VCPU, vmsa, ro, 9), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, own1, &a);
	assert_page_unchanged(t->h, ro, &b);
	assert_page_unchanged(t->h, vmsa, &c);
	assert_null(vcpu_find_apic(9));
	/* With its own pages it works, at its own VMPL or a less privileged one. */
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_CREATE_VCPU, vmsa, caa, 9), SVSM_SUCCESS);
	assert_int_equal(vcpu_find_apic(9)->guest_vmpl, 2);
}

/*
 * A VMSA for a VMPL3 vCPU whose calling area VMPL3 cannot use: refused, and the VMSA
 * page gets back exactly the masks it had (VMPL1 and VMPL2 full, VMPL3 read-only here).
 */
static void test_create_vcpu_ca_not_usable_by_new_vmpl(void **state)
{
	struct mv *t = *state;
	u64 vmsa = guest_alloc_pages(&t->vmpl2, 2) + PAGE_SIZE;
	u64 caa = guest_alloc_pages(&t->vmpl2, 1);
	u8 img[VMSA_SIZE];

	guest_vmsa_template(img, 3, EMU_SEV_FEATURES);
	assert_int_equal(guest_write(&t->vmpl2, vmsa, img, sizeof(img)), 0);
	assert_int_equal(guest_rmpadjust(&t->vmpl2, vmsa, PAGE_SIZE_4K, 3, VMPL_PERM_READ), RMP_SUCCESS);
	struct pagestate a = page_state(t->h, vmsa);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_CREATE_VCPU, vmsa, caa, 9), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, vmsa, &a);
	assert_int_equal(hx_rmp(t->h, vmsa)->perms[3], VMPL_PERM_READ);
	assert_int_equal(guest_rmpadjust(&t->vmpl2, caa, PAGE_SIZE_4K, 3, VMPL_PERM_READ | VMPL_PERM_WRITE),
			 RMP_SUCCESS);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_CREATE_VCPU, vmsa, caa, 9), SVSM_SUCCESS);
	assert_int_equal(vcpu_find_apic(9)->guest_vmpl, 3);
}

/* A VMPL2 caller cannot create a VMPL1 vCPU; the page it offered is left as it was. */
static void test_create_vcpu_more_privileged_than_caller(void **state)
{
	struct mv *t = *state;
	u64 vmsa = guest_alloc_pages(&t->vmpl2, 2) + PAGE_SIZE;
	u64 caa = guest_alloc_pages(&t->vmpl2, 1);
	u8 img[VMSA_SIZE];

	guest_vmsa_template(img, 1, EMU_SEV_FEATURES);
	assert_int_equal(guest_write(&t->vmpl2, vmsa, img, sizeof(img)), 0);
	struct pagestate a = page_state(t->h, vmsa);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_CREATE_VCPU, vmsa, caa, 9), SVSM_ERR_INVALID_PARAMETER);
	assert_page_unchanged(t->h, vmsa, &a);
}

/* DELETE_VCPU of a more privileged vCPU is refused, and nothing changes. */
static void test_delete_more_privileged_vcpu(void **state)
{
	struct mv *t = *state;
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&t->h->g, 7, &vmsa), SVSM_SUCCESS);
	assert_int_equal(guest_ap_destroy(&t->h->g, 7), 0);
	struct pagestate a = page_state(t->h, vmsa);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0), SVSM_ERR_INVALID_PARAMETER);
	assert_page_unchanged(t->h, vmsa, &a);
	assert_non_null(vcpu_find_apic(7));
	/* ... and the VMPL1 OS may delete the VMPL3 vCPU. */
	u64 vmsa3 = vcpu_find_apic(APIC_VMPL3)->guest_vmsa_gpa;
	assert_int_equal(guest_ap_destroy_child(&t->vmpl2, &t->vmpl3, APIC_VMPL3), 0);
	assert_int_equal(CORE(t->h, SVSM_CORE_DELETE_VCPU, vmsa3, 0, 0, NULL), SVSM_SUCCESS);
	assert_null(vcpu_find_apic(APIC_VMPL3));
}

/* DEPOSIT of, or with a list in, memory the caller does not own. */
static void test_deposit_other_vmpl_page(void **state)
{
	struct mv *t = *state;
	u64 own1 = vmpl1_page(t);
	u64 ro = readonly_page(t);
	u64 list = guest_alloc_pages(&t->vmpl2, 1);
	u64 e[2] = {own1, ro};
	struct pagestate a = page_state(t->h, own1), b = page_state(t->h, ro);

	put_list(&t->vmpl2, list, &e[0], 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_DEPOSIT_MEM, list, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	put_list(&t->vmpl2, list, &e[1], 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_DEPOSIT_MEM, list, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, own1, &a);
	assert_page_unchanged(t->h, ro, &b);
	/* A list in VMPL1 memory naming the caller's own page: the list itself is not the caller's. */
	u64 mine = guest_alloc_pages(&t->vmpl2, 1);
	put_list(&t->h->g, own1, &mine, 1);
	a = page_state(t->h, own1);
	struct pagestate c = page_state(t->h, mine);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_DEPOSIT_MEM, own1, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, own1, &a);
	assert_page_unchanged(t->h, mine, &c);
	/* Its own page, with its own list: taken. */
	put_list(&t->vmpl2, list, &mine, 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_DEPOSIT_MEM, list, 0, 0), SVSM_SUCCESS);
	assert_true(owned_page(mine));
	assert_int_equal(hx_rmp(t->h, mine)->perms[1], 0);
	assert_int_equal(hx_rmp(t->h, mine)->perms[2], 0);
}

/* WITHDRAW into a buffer the caller cannot write: refused, the SVSM keeps its pages. */
static void test_withdraw_into_other_vmpl_page(void **state)
{
	struct mv *t = *state;
	u64 own1 = vmpl1_page(t);
	u64 ro = readonly_page(t);
	u64 list = guest_alloc_pages(&t->vmpl2, 1);
	u64 dep = guest_alloc_pages(&t->vmpl2, 1);
	struct guest_regs r;

	put_list(&t->vmpl2, list, &dep, 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_DEPOSIT_MEM, list, 0, 0), SVSM_SUCCESS);
	struct pagestate a = page_state(t->h, own1), b = page_state(t->h, ro);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_WITHDRAW_MEM, own1, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_WITHDRAW_MEM, ro, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, own1, &a);
	assert_page_unchanged(t->h, ro, &b);
	assert_true(owned_page(dep));
	/* Into its own buffer: the page comes back to VMPL2 and the VMPLs above it. */
	assert_int_equal(hx_core_as(t->h, &t->vmpl2, SVSM_CORE_WITHDRAW_MEM, list, 0, 0, &r), SVSM_SUCCESS);
	assert_false(owned_page(dep));
	assert_int_equal(hx_rmp(t->h, dep)->perms[1], VMPL_PERM_ALL);
	assert_int_equal(hx_rmp(t->h, dep)->perms[2], VMPL_PERM_ALL);
	assert_int_equal(hx_rmp(t->h, dep)->perms[3], 0);
}

/* VMPL3 against VMPL2's memory: the same rules one level down. */
static void test_vmpl3_cannot_use_vmpl2_pages(void **state)
{
	struct mv *t = *state;
	u64 own2 = guest_alloc_pages(&t->vmpl2, 1);
	u64 e = hx_pval_entry(own2, false, false, false);
	struct pagestate a = page_state(t->h, own2);

	assert_int_equal(as(t, &t->vmpl3, SVSM_CORE_REMAP_CA, own2, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	put_list(&t->vmpl3, ca_list(&t->vmpl3), &e, 1);
	assert_int_equal(as(t, &t->vmpl3, SVSM_CORE_PVALIDATE, ca_list(&t->vmpl3), 0, 0), SVSM_ERR_INVALID_ADDRESS);
	u64 list = guest_alloc_pages(&t->vmpl3, 1);
	put_list(&t->vmpl3, list, &own2, 1);
	assert_int_equal(as(t, &t->vmpl3, SVSM_CORE_DEPOSIT_MEM, list, 0, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_page_unchanged(t->h, own2, &a);
}

/*
 * A rescind by VMPL2 of a page VMPL1 lent it with full access is the caller's right: the
 * page goes for everybody (VMPL1 gave it away). Validating it again is the OS's job.
 */
static void test_rescind_of_lent_page_by_borrower(void **state)
{
	struct mv *t = *state;
	u64 p = guest_alloc_pages(&t->vmpl2, 1);
	u64 e = hx_pval_entry(p, false, false, false);

	put_list(&t->vmpl2, ca_list(&t->vmpl2), &e, 1);
	assert_int_equal(as(t, &t->vmpl2, SVSM_CORE_PVALIDATE, ca_list(&t->vmpl2), 0, 0), SVSM_SUCCESS);
	assert_false(hx_rmp(t->h, p)->validated);
	for (unsigned v = 1; v < RMP_VMPL_COUNT; v++) {
		assert_int_equal(hx_rmp(t->h, p)->perms[v], 0);
	}
}

/* Without RMPQUERY the SVSM serves the boot guest VMPL only: no VMPL2 vCPU can be created. */
static void test_no_rmpquery_serves_boot_vmpl_only(void **state)
{
	struct emu_config cfg;
	struct emu_guest child;

	emu_config_default(&cfg);
	cfg.console = NULL;
	cfg.no_rmpquery = true;
	assert_int_equal(mv_setup_cfg(state, &cfg), 0);
	struct mv *t = *state;
	assert_false(multi_vmpl(t->h));
	assert_int_equal(guest_spawn(&t->h->g, &child, 2, APIC_VMPL2, 16), SVSM_ERR_INVALID_PARAMETER);
	assert_oracle_clean(t->h);
	/* The boot guest is served as before. */
	u64 vmsa;
	assert_int_equal(guest_create_vcpu(&t->h->g, 3, &vmsa), SVSM_SUCCESS);
	u64 p = hx_page(t->h);
	u64 e = hx_pval_entry(p, false, false, false);
	put_list(&t->h->g, ca_list(&t->h->g), &e, 1);
	assert_int_equal(CORE(t->h, SVSM_CORE_PVALIDATE, ca_list(&t->h->g), 0, 0, NULL), SVSM_SUCCESS);
	assert_false(hx_rmp(t->h, p)->validated);
}

/* The boot guest OS may run at VMPL2 (SVSM_GUEST_VMPL = 2); then it owns guest memory. */
static void test_boot_guest_at_vmpl2(void **state)
{
	struct emu_config cfg;

	emu_config_default(&cfg);
	cfg.console = NULL;
	cfg.guest_vmpl = 2;
	assert_int_equal(mv_setup_cfg(state, &cfg), 0);
	struct mv *t = *state;
	assert_int_equal(t->h->g.vmpl, 2);
	u64 p = hx_page(t->h);
	assert_int_equal(hx_rmp(t->h, p)->perms[2], VMPL_PERM_ALL);
	assert_int_equal(hx_rmp(t->h, p)->perms[1], 0);
	u64 vmsa;
	assert_int_equal(guest_create_vcpu(&t->h->g, 3, &vmsa), SVSM_SUCCESS);
	assert_int_equal(vcpu_find_apic(3)->guest_vmpl, 2);
	struct emu_guest child;
	assert_int_equal(guest_spawn(&t->h->g, &child, 3, 4, 16), SVSM_SUCCESS);
	assert_int_equal(hx_core_as(t->h, &child, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, NULL), SVSM_SUCCESS);
	assert_oracle_clean(t->h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spawned_guests_run_at_their_vmpl, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_remap_ca_onto_other_vmpl_page, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_list_in_other_vmpl_page, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_rescind_other_vmpl_page, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_pvalidate_validate_not_callers, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_create_vcpu_other_vmpl_pages, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_create_vcpu_ca_not_usable_by_new_vmpl, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_create_vcpu_more_privileged_than_caller, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_delete_more_privileged_vcpu, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_other_vmpl_page, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_withdraw_into_other_vmpl_page, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_vmpl3_cannot_use_vmpl2_pages, mv_setup, mv_teardown),
		cmocka_unit_test_setup_teardown(test_rescind_of_lent_page_by_borrower, mv_setup, mv_teardown),
		cmocka_unit_test_teardown(test_no_rmpquery_serves_boot_vmpl_only, mv_teardown),
		cmocka_unit_test_teardown(test_boot_guest_at_vmpl2, mv_teardown),
	};
	return cmocka_run_group_tests_name("multivmpl", tests, NULL, NULL);
}
