/* Core protocol: SVSM_CORE_PVALIDATE lists, every error code, resume, INCOMPLETE, 2 MiB rules. */
#include "test_common.h"

/* A fresh, not yet validated, 2 MiB-aligned region from the driver's pool. */
static u64 raw_region(struct hx *h, u64 pages)
{
	u64 gpa = ALIGN_UP(h->g.pool_next, PAGE_2M_SIZE);

	h->g.pool_next = gpa + ALIGN_UP(pages * PAGE_SIZE, PAGE_2M_SIZE);
	return gpa;
}

/* A list page for the entries (the CA buffer can hold 510, a page of our own 511). */
static u64 list_page(struct hx *h)
{
	u64 l = hx_page(h);

	assert_true(l != 0);
	return l;
}

static u64 pval(struct hx *h, u64 list, const u64 *e, u16 n, u16 next)
{
	assert_int_equal(hx_write_list(h, list, e, n, next), 0);
	return CORE(h, SVSM_CORE_PVALIDATE, list, 0, 0, NULL);
}

static void test_validate_4k_grants_rw_and_zeroes(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 gpa = raw_region(h, 1);
	u64 e = hx_pval_entry(gpa, false, true, false);
	u8 buf[64];

	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
	assert_int_equal(hx_list_next(h, list), 1);
	assert_true(hx_rmp(h, gpa)->validated);
	assert_int_equal(hx_rmp(h, gpa)->perms[1], VMPL_PERM_ALL);
	/* Dirty it, give it back, take it again: it comes back zeroed. */
	memset(buf, 0x5A, sizeof(buf));
	assert_int_equal(guest_write(&h->g, gpa, buf, sizeof(buf)), 0);
	e = hx_pval_entry(gpa, false, false, false);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
	e = hx_pval_entry(gpa, false, true, false);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
	assert_int_equal(guest_read(&h->g, gpa, buf, sizeof(buf)), 0);
	for (unsigned i = 0; i < sizeof(buf); i++) {
		assert_int_equal(buf[i], 0);
	}
}

static void test_invalidate_revokes_access(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 gpa = hx_page(h);
	u64 e = hx_pval_entry(gpa, false, false, false);
	u8 b;

	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
	assert_false(hx_rmp(h, gpa)->validated);
	assert_int_equal(hx_rmp(h, gpa)->perms[1], 0);
	assert_int_equal(guest_read(&h->g, gpa, &b, 1), -1);
}

static void test_validate_2m_entry(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 gpa = raw_region(h, PAGES_PER_2M);
	u64 e = hx_pval_entry(gpa, true, true, false);

	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
	assert_true(hx_rmp(h, gpa + PAGE_2M_SIZE - PAGE_SIZE)->validated);
	assert_int_equal(hx_rmp(h, gpa + 0x1000)->perms[1], VMPL_PERM_ALL);
	assert_true(hx_rmp(h, gpa)->page_2m);
}

static void test_2m_on_4k_rmp_is_sizemismatch(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 gpa = raw_region(h, PAGES_PER_2M);
	u64 e[2] = {hx_pval_entry(gpa + 0x1000, false, true, false), hx_pval_entry(gpa, true, true, false)};

	/* The first entry smashes the 2 MiB RMP entry; the second then mismatches. */
	assert_int_equal(pval(h, list, e, 2, 0), SVSM_ERR_PVALIDATE_FAIL_SIZEMISMATCH);
	assert_int_equal(hx_list_next(h, list), 1);
	assert_true(hx_rmp(h, gpa + 0x1000)->validated);
	assert_false(hx_rmp(h, gpa)->validated);
}

static void test_unchanged_without_ignore_cf(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 a = raw_region(h, 2);
	u64 e[3] = {hx_pval_entry(a, false, true, false), hx_pval_entry(a + PAGE_SIZE, false, true, false),
		    hx_pval_entry(a, false, true, false)};

	assert_int_equal(pval(h, list, e, 3, 0), SVSM_ERR_PVALIDATE_FAIL_UNCHANGED);
	assert_int_equal(hx_list_next(h, list), 2);
}

static void test_unchanged_with_ignore_cf(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 a = hx_page(h);
	u8 junk = 0x77;
	u64 e = hx_pval_entry(a, false, true, true);

	assert_int_equal(guest_write(&h->g, a, &junk, 1), 0);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
	/* Nothing was redone: the guest's data is intact. */
	assert_int_equal(guest_read(&h->g, a, &junk, 1), 0);
	assert_int_equal(junk, 0x77);
	u64 b = raw_region(h, 1);
	e = hx_pval_entry(b, false, false, true);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
	e = hx_pval_entry(b, false, false, false);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_PVALIDATE_FAIL_UNCHANGED);
}

static void test_incomplete_and_resume(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 a = raw_region(h, 300);
	static u64 e[300];

	for (unsigned i = 0; i < 300; i++) {
		e[i] = hx_pval_entry(a + i * PAGE_SIZE, false, true, false);
	}
	assert_int_equal(hx_write_list(h, list, e, 300, 0), 0);
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_PVALIDATE), .rcx = list};
	assert_int_equal(guest_call_once(&h->g, 0, &r), GUEST_OK);
	assert_int_equal((u32)r.rax, SVSM_ERR_INCOMPLETE);
	assert_int_equal(hx_list_next(h, list), 256);
	assert_true(hx_rmp(h, a + 255 * PAGE_SIZE)->validated);
	assert_false(hx_rmp(h, a + 256 * PAGE_SIZE)->validated);
	/* The guest re-issues the same call; the SVSM resumes at "next". */
	r = (struct guest_regs){.rax = SVSM_CALL(0, SVSM_CORE_PVALIDATE), .rcx = list};
	assert_int_equal(guest_call_once(&h->g, 0, &r), GUEST_OK);
	assert_int_equal((u32)r.rax, SVSM_SUCCESS);
	assert_int_equal(hx_list_next(h, list), 300);
	assert_true(hx_rmp(h, a + 299 * PAGE_SIZE)->validated);
	assert_int_equal(hx_oracle(h), 0);
}

static void test_resume_from_next(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 a = raw_region(h, 3);
	u64 e[3] = {hx_pval_entry(a, false, true, false), hx_pval_entry(a + PAGE_SIZE, false, true, false),
		    hx_pval_entry(a + 2 * PAGE_SIZE, false, true, false)};

	assert_int_equal(pval(h, list, e, 3, 2), SVSM_SUCCESS);
	assert_false(hx_rmp(h, a)->validated);
	assert_true(hx_rmp(h, a + 2 * PAGE_SIZE)->validated);
}

static void test_list_misaligned(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);

	assert_int_equal(CORE(h, SVSM_CORE_PVALIDATE, list + 4, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
}

static void test_list_zero_entries(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);

	assert_int_equal(pval(h, list, NULL, 0, 0), SVSM_ERR_INVALID_PARAMETER);
}

static void test_list_next_out_of_range(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 e = hx_pval_entry(raw_region(h, 1), false, true, false);

	assert_int_equal(pval(h, list, &e, 1, 1), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(pval(h, list, &e, 1, 0xFFFF), SVSM_ERR_INVALID_PARAMETER);
}

static void test_list_crosses_page(void **state)
{
	struct hx *h = *state;
	u64 list = hx_pages(h, 2);
	u64 e[4];

	for (unsigned i = 0; i < 4; i++) {
		e[i] = hx_pval_entry(raw_region(h, 1), false, true, false);
	}
	u64 at = list + PAGE_SIZE - 24; /* header + 2 entries fit, 4 do not */
	assert_int_equal(hx_write_list(h, at, e, 4, 0), 0);
	assert_int_equal(CORE(h, SVSM_CORE_PVALIDATE, at, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	assert_false(hx_rmp(h, e[0] & ~PAGE_MASK)->validated);
}

/*
 * A bad entry k: entries before it are done, the entry at k and every later one are not
 * touched, and next = k (the reference: "next points at the failing entry"), so the guest
 * never believes a page was validated when it was not.
 */
static void test_bad_entry_k_after_valid_entries_are_done(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 a = raw_region(h, 2);
	u64 e[3] = {hx_pval_entry(a, false, true, false), (a + PAGE_SIZE) | 2 | SVSM_PVAL_VALIDATE,
		    hx_pval_entry(a + 2 * PAGE_SIZE, false, true, false)};

	assert_int_equal(pval(h, list, e, 3, 0), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(hx_list_next(h, list), 1);
	assert_true(hx_rmp(h, a)->validated);
	assert_int_equal(hx_rmp(h, a)->perms[1], VMPL_PERM_ALL);
	assert_false(hx_rmp(h, a + PAGE_SIZE)->validated);
	assert_false(hx_rmp(h, a + 2 * PAGE_SIZE)->validated);
	/* The guest fixes entry 1 and re-issues from next: entry 0 is not done twice. */
	e[1] = hx_pval_entry(a + PAGE_SIZE, false, true, false);
	assert_int_equal(hx_write_list(h, list, e, 3, 1), 0);
	assert_int_equal(CORE(h, SVSM_CORE_PVALIDATE, list, 0, 0, NULL), SVSM_SUCCESS);
	assert_int_equal(hx_list_next(h, list), 3);
	assert_true(hx_rmp(h, a + 2 * PAGE_SIZE)->validated);
}

/* The same with the list outside the calling area, and a bad address (not a bad format) at k. */
static void test_bad_entry_k_list_elsewhere(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 a = raw_region(h, 2);
	u64 e[3] = {hx_pval_entry(a, false, true, false), hx_pval_entry(h->m->cfg.svsm_base, false, true, false),
		    hx_pval_entry(a + PAGE_SIZE, false, true, false)};

	assert_int_equal(pval(h, list, e, 3, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(hx_list_next(h, list), 1);
	assert_true(hx_rmp(h, a)->validated);
	assert_false(hx_rmp(h, a + PAGE_SIZE)->validated);
}

static void test_reserved_bits(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 e = hx_pval_entry(raw_region(h, 1), false, true, false) | 0x100;

	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_PARAMETER);
}

static void test_2m_entry_misaligned(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 e = hx_pval_entry(raw_region(h, PAGES_PER_2M) + PAGE_SIZE, true, true, false);

	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_PARAMETER);
}

static void test_svsm_page_is_invalid_address(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 e = hx_pval_entry(h->m->cfg.svsm_base + 0x20000, false, false, false);
	u64 rmp = hx_hash_rmp(h);

	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(hx_hash_rmp(h), rmp);
	/* A 2 MiB entry overlapping the SVSM region is refused too. */
	e = hx_pval_entry(h->m->cfg.svsm_base, true, false, false);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_ADDRESS);
}

static void test_list_in_svsm_memory(void **state)
{
	struct hx *h = *state;

	assert_int_equal(CORE(h, SVSM_CORE_PVALIDATE, h->m->cfg.svsm_base + 0x3000, 0, 0, NULL),
			 SVSM_ERR_INVALID_ADDRESS);
}

static void test_entry_outside_memory(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 e = hx_pval_entry(h->m->cfg.mem_size, false, true, false);

	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_ADDRESS);
	e = hx_pval_entry(0xFFFFFFFFFFE00000ull, true, true, false);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_ADDRESS);
}

/*
 * The legacy 0xA0000-0xFFFFF hole is ROM and MMIO on real machines: a PVALIDATE there is
 * an exit KVM cannot resolve (the vCPU hangs). The SVSM refuses every such address from
 * its RAM map before executing anything; the oracle reports any instruction it would
 * still have executed there (oracle:test_detects_pvalidate_of_mmio_hole).
 */
static void test_legacy_hole_is_refused(void **state)
{
	struct hx *h = *state;
	u64 list = list_page(h);
	u64 e = hx_pval_entry(0xA0000, false, true, false);

	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_ADDRESS);
	e = hx_pval_entry(0xFF000, false, false, false);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_ADDRESS);
	e = hx_pval_entry(0, true, true, false); /* a 2 MiB entry over the hole */
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, 0xB8000, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, 0xF0000, hx_page(h), 4, NULL), SVSM_ERR_INVALID_ADDRESS);
	u64 dep = 0xC0000;
	assert_int_equal(hx_write_list(h, list, &dep, 1, 0), 0);
	assert_int_equal(CORE(h, SVSM_CORE_DEPOSIT_MEM, list, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, 0xC0000, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(h->m->stats.mmio_stalls, 0);
	/* RAM right below the hole is ordinary memory. */
	e = hx_pval_entry(0x9F000, false, true, false);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
}

static void test_vmsa_page_is_invalid_address(void **state)
{
	struct hx *h = *state;
	u64 vmsa;

	assert_int_equal(guest_create_vcpu(&h->g, 1, &vmsa), SVSM_SUCCESS);
	u64 list = list_page(h);
	u64 e = hx_pval_entry(vmsa, false, false, false);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_ERR_INVALID_ADDRESS);
	assert_true(hx_rmp(h, vmsa)->vmsa);
}

static void test_list_in_calling_area_max_entries(void **state)
{
	struct hx *h = *state;
	u64 a = raw_region(h, SVSM_PVAL_MAX_ENTRIES_IN_CA);
	static u64 e[SVSM_PVAL_MAX_ENTRIES_IN_CA];
	u64 list = h->m->cfg.caa_gpa + 8;

	for (unsigned i = 0; i < SVSM_PVAL_MAX_ENTRIES_IN_CA; i++) {
		e[i] = hx_pval_entry(a + i * PAGE_SIZE, false, true, false);
	}
	assert_int_equal(hx_write_list(h, list, e, SVSM_PVAL_MAX_ENTRIES_IN_CA, 0), 0);
	/* The driver retries INCOMPLETE as Linux does. */
	assert_int_equal(CORE(h, SVSM_CORE_PVALIDATE, list, 0, 0, NULL), SVSM_SUCCESS);
	assert_int_equal(hx_list_next(h, list), SVSM_PVAL_MAX_ENTRIES_IN_CA);
	assert_true(guest_retries(&h->g) >= 1);
}

static void test_driver_falls_back_to_4k(void **state)
{
	struct hx *h = *state;
	u64 a = raw_region(h, PAGES_PER_2M);
	u64 list = list_page(h);
	u64 e = hx_pval_entry(a + PAGE_SIZE, false, true, false);

	/* Smash the region first, then ask the driver for the whole 2 MiB. */
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
	e = hx_pval_entry(a + PAGE_SIZE, false, false, false);
	assert_int_equal(pval(h, list, &e, 1, 0), SVSM_SUCCESS);
	assert_int_equal(guest_pvalidate_range(&h->g, a, PAGES_PER_2M, true), SVSM_SUCCESS);
	assert_true(hx_rmp(h, a + PAGE_2M_SIZE - PAGE_SIZE)->validated);
	assert_oracle_clean(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_validate_4k_grants_rw_and_zeroes, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_invalidate_revokes_access, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_validate_2m_entry, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_2m_on_4k_rmp_is_sizemismatch, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_without_ignore_cf, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_with_ignore_cf, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_incomplete_and_resume, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_resume_from_next, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_list_misaligned, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_list_zero_entries, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_list_next_out_of_range, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_list_crosses_page, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_entry_k_after_valid_entries_are_done, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_entry_k_list_elsewhere, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_reserved_bits, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_2m_entry_misaligned, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_svsm_page_is_invalid_address, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_list_in_svsm_memory, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_entry_outside_memory, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_legacy_hole_is_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_vmsa_page_is_invalid_address, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_list_in_calling_area_max_entries, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_driver_falls_back_to_4k, hx_setup, hx_teardown),
	};
	return cmocka_run_group_tests_name("core_pvalidate", tests, NULL, NULL);
}
