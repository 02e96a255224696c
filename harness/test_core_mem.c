/* Core protocol: SVSM_CORE_DEPOSIT_MEM and SVSM_CORE_WITHDRAW_MEM, and mem_available. */
#include <svsm/mm.h>
#include <svsm/vmsa.h>

#include "test_common.h"

static u8 mem_available(struct hx *h)
{
	u8 b = 0xFF;

	assert_int_equal(guest_read(&h->g, h->m->cfg.caa_gpa + SVSM_CA_MEM_AVAILABLE_OFFSET, &b, 1), 0);
	return b;
}

static u64 deposit(struct hx *h, u64 list, const u64 *e, u16 n)
{
	assert_int_equal(hx_write_list(h, list, e, n, 0), 0);
	return CORE(h, SVSM_CORE_DEPOSIT_MEM, list, 0, 0, NULL);
}

static u64 page_free_bytes(void)
{
	struct mm_stats s;

	mm_get_stats(&s);
	return s.page.free;
}

static void test_deposit_pages_grows_pool(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 a = hx_pages(h, 4);
	u64 e[4];
	u8 b;

	for (unsigned i = 0; i < 4; i++) {
		e[i] = a + i * PAGE_SIZE;
	}
	u64 before = page_free_bytes();
	assert_int_equal(mem_available(h), 0);
	assert_int_equal(deposit(h, list, e, 4), SVSM_SUCCESS);
	assert_int_equal(hx_list_next(h, list), 4);
	assert_int_equal(page_free_bytes(), before + 4 * PAGE_SIZE);
	for (unsigned i = 0; i < 4; i++) {
		assert_true(owned_page(e[i]));
		assert_int_equal(hx_rmp(h, e[i])->perms[1], 0);
	}
	assert_int_equal(guest_read(&h->g, a, &b, 1), -1);
	assert_int_equal(mem_available(h), 1);
}

static void test_deposit_2m(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 a = ALIGN_UP(h->g.pool_next, PAGE_2M_SIZE);

	h->g.pool_next = a;
	assert_int_equal(hx_pages(h, PAGES_PER_2M), a);
	u64 e = a | PAGE_SIZE_2M;
	u64 before = page_free_bytes();
	assert_int_equal(deposit(h, list, &e, 1), SVSM_SUCCESS);
	assert_int_equal(page_free_bytes(), before + PAGE_2M_SIZE);
	assert_true(owned_page(a + PAGE_2M_SIZE - PAGE_SIZE));
}

/* A bad entry k: entry 0 is deposited, entry k refused, next = k, the SVSM page untouched. */
static void test_deposit_svsm_page_at_k(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 a = hx_page(h);
	u64 e[3] = {a, h->m->cfg.svsm_base + 0x40000, hx_page(h)};
	struct rmp_entry svsm_before = *hx_rmp(h, e[1]);
	struct rmp_entry after_before = *hx_rmp(h, e[2]);

	assert_int_equal(deposit(h, list, e, 3), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(hx_list_next(h, list), 1);
	assert_true(owned_page(a));
	assert_memory_equal(hx_rmp(h, e[1]), &svsm_before, sizeof(svsm_before));
	assert_memory_equal(hx_rmp(h, e[2]), &after_before, sizeof(after_before));
	assert_false(owned_page(e[2]));
}

static void test_deposit_calling_area_refused(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 e = h->m->cfg.caa_gpa;

	assert_int_equal(deposit(h, list, &e, 1), SVSM_ERR_INVALID_ADDRESS);
}

static void test_deposit_list_page_refused(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 e = list;

	assert_int_equal(deposit(h, list, &e, 1), SVSM_ERR_INVALID_ADDRESS);
}

/* A 2 MiB region from the guest's pool, validated for it. */
static u64 region_2m(struct hx *h)
{
	u64 a = ALIGN_UP(h->g.pool_next, PAGE_2M_SIZE);

	h->g.pool_next = a;
	assert_int_equal(hx_pages(h, PAGES_PER_2M), a);
	return a;
}

/* A 2 MiB entry is refused if any of its pages is the list, a calling area or a VMSA. */
static void test_deposit_2m_covering_list_refused(void **state)
{
	struct hx *h = *state;
	u64 a = region_2m(h);
	u64 e = a | PAGE_SIZE_2M;
	u64 rmp = hx_hash_rmp(h);

	assert_int_equal(deposit(h, a + 5 * PAGE_SIZE, &e, 1), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(hx_hash_rmp(h), rmp);
	assert_false(owned_page(a));
}

static void test_deposit_2m_covering_calling_area_refused(void **state)
{
	struct hx *h = *state;
	u64 a = region_2m(h);
	u64 list = hx_page(h);
	u64 e = a | PAGE_SIZE_2M;

	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, a + 7 * PAGE_SIZE, 0, 0, NULL), SVSM_SUCCESS);
	h->g.vcpus[0].caa_gpa = a + 7 * PAGE_SIZE;
	assert_int_equal(deposit(h, list, &e, 1), SVSM_ERR_INVALID_ADDRESS);
	assert_false(owned_page(a));
}

static void test_deposit_2m_covering_vmsa_refused(void **state)
{
	struct hx *h = *state;
	u64 a = region_2m(h);
	u64 list = hx_page(h);
	u64 caa = hx_page(h);
	u64 vmsa = a + 9 * PAGE_SIZE;
	u8 img[VMSA_SIZE];
	u64 e = a | PAGE_SIZE_2M;

	guest_vmsa_template(img, EMU_GUEST_VMPL, EMU_SEV_FEATURES);
	assert_int_equal(guest_write(&h->g, vmsa, img, sizeof(img)), 0);
	assert_int_equal(CORE(h, SVSM_CORE_CREATE_VCPU, vmsa, caa, 1, NULL), SVSM_SUCCESS);
	assert_int_equal(deposit(h, list, &e, 1), SVSM_ERR_INVALID_ADDRESS);
	assert_false(owned_page(a));
	assert_false(owned_page(vmsa));
	assert_true(hx_rmp(h, vmsa)->vmsa);
}

/* A 4 KiB entry inside an earlier 2 MiB entry: refused at its index, nothing deposited. */
static void test_deposit_page_inside_earlier_2m_refused(void **state)
{
	struct hx *h = *state;
	u64 a = region_2m(h);
	u64 list = hx_page(h);
	u64 e[3] = {hx_page(h), a | PAGE_SIZE_2M, a + 3 * PAGE_SIZE};

	assert_int_equal(deposit(h, list, e, 3), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(hx_list_next(h, list), 2);
	/* Entries 0 and 1 were deposited; entry 2 (inside entry 1) is refused. */
	assert_true(owned_page(e[0]));
	assert_true(owned_page(a) && owned_page(a + 3 * PAGE_SIZE));
}

static void test_deposit_duplicate_refused(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 a = hx_page(h);
	u64 e[2] = {a, a};

	assert_int_equal(deposit(h, list, e, 2), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(hx_list_next(h, list), 1);
	/* The first occurrence was deposited, the second is refused: the page is taken once. */
	assert_true(owned_page(a));
	struct guest_regs r;
	u64 buf = hx_page(h);
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, buf, 0, 0, &r), SVSM_SUCCESS);
	struct svsm_withdraw_hdr wh;
	assert_int_equal(guest_read(&h->g, buf, &wh, sizeof(wh)), 0);
	assert_int_equal(wh.entries, 1);
}

static void test_deposit_reserved_and_size_bits(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 a = hx_page(h);
	u64 e = a | 0x10;

	assert_int_equal(deposit(h, list, &e, 1), SVSM_ERR_INVALID_PARAMETER);
	e = a | 3;
	assert_int_equal(deposit(h, list, &e, 1), SVSM_ERR_INVALID_PARAMETER);
	e = a | PAGE_SIZE_2M; /* not 2 MiB aligned */
	assert_int_equal(deposit(h, list, &e, 1), SVSM_ERR_INVALID_PARAMETER);
}

static void test_deposit_unvalidated_page(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 e = h->m->cfg.mem_size - PAGE_SIZE;

	assert_int_equal(deposit(h, list, &e, 1), SVSM_ERR_INVALID_ADDRESS);
	assert_false(owned_page(e));
}

static void test_deposit_bad_list(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);

	assert_int_equal(deposit(h, list, NULL, 0), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(CORE(h, SVSM_CORE_DEPOSIT_MEM, list + 2, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(CORE(h, SVSM_CORE_DEPOSIT_MEM, h->m->cfg.mem_size, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
}

static void test_withdraw_returns_deposit_zeroed(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 buf = hx_page(h);
	u64 a = hx_pages(h, 3);
	u64 e[3] = {a, a + PAGE_SIZE, a + 2 * PAGE_SIZE};
	u8 junk[32];

	memset(junk, 0xEE, sizeof(junk));
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(guest_write(&h->g, e[i], junk, sizeof(junk)), 0);
	}
	assert_int_equal(deposit(h, list, e, 3), SVSM_SUCCESS);
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, buf, 0, 0, NULL), SVSM_SUCCESS);
	struct svsm_withdraw_hdr hdr;
	u64 got[3];
	assert_int_equal(guest_read(&h->g, buf, &hdr, sizeof(hdr)), 0);
	assert_int_equal(hdr.entries, 3);
	assert_int_equal(guest_read(&h->g, buf + 8, got, sizeof(got)), 0);
	unsigned seen = 0;
	for (unsigned i = 0; i < 3; i++) {
		for (unsigned j = 0; j < 3; j++) {
			seen += got[i] == e[j];
		}
		assert_false(owned_page(got[i]));
		assert_int_equal(guest_read(&h->g, got[i], junk, sizeof(junk)), 0);
		for (unsigned k = 0; k < sizeof(junk); k++) {
			assert_int_equal(junk[k], 0);
		}
	}
	assert_int_equal(seen, 3);
	assert_int_equal(mem_available(h), 0);
}

static void test_withdraw_nothing(void **state)
{
	struct hx *h = *state;
	u64 buf = hx_page(h);
	struct svsm_withdraw_hdr hdr = {.entries = 99};

	assert_int_equal(guest_write(&h->g, buf, &hdr, sizeof(hdr)), 0);
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, buf, 0, 0, NULL), SVSM_SUCCESS);
	assert_int_equal(guest_read(&h->g, buf, &hdr, sizeof(hdr)), 0);
	assert_int_equal(hdr.entries, 0);
}

static void test_withdraw_capacity_limited(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 buf = hx_page(h);
	u64 a = hx_pages(h, 5);
	u64 e[5];

	for (unsigned i = 0; i < 5; i++) {
		e[i] = a + i * PAGE_SIZE;
	}
	assert_int_equal(deposit(h, list, e, 5), SVSM_SUCCESS);
	/* At page offset 0xFE8 there is room for the header and two entries. */
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, buf + 0xFE8, 0, 0, NULL), SVSM_SUCCESS);
	struct svsm_withdraw_hdr hdr;
	assert_int_equal(guest_read(&h->g, buf + 0xFE8, &hdr, sizeof(hdr)), 0);
	assert_int_equal(hdr.entries, 2);
	assert_int_equal(mem_available(h), 1);
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, buf, 0, 0, NULL), SVSM_SUCCESS);
	assert_int_equal(guest_read(&h->g, buf, &hdr, sizeof(hdr)), 0);
	assert_int_equal(hdr.entries, 3);
	assert_int_equal(mem_available(h), 0);
}

static void test_withdraw_bad_buffer(void **state)
{
	struct hx *h = *state;
	u64 buf = hx_page(h);

	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, buf + 0xFF8, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, buf + 4, 0, 0, NULL), SVSM_ERR_INVALID_PARAMETER);
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, h->m->cfg.svsm_base, 0, 0, NULL), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, h->m->cfg.mem_size - PAGE_SIZE, 0, 0, NULL),
			 SVSM_ERR_INVALID_ADDRESS);
}

static void test_withdraw_never_returns_svsm_memory(void **state)
{
	struct hx *h = *state;
	u64 buf = hx_page(h);
	struct svsm_withdraw_hdr hdr;

	/* Only deposits are withdrawable: the launch region never leaves. */
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(CORE(h, SVSM_CORE_WITHDRAW_MEM, buf, 0, 0, NULL), SVSM_SUCCESS);
		assert_int_equal(guest_read(&h->g, buf, &hdr, sizeof(hdr)), 0);
		assert_int_equal(hdr.entries, 0);
	}
}

static void test_deposited_memory_serves_the_svsm(void **state)
{
	struct hx *h = *state;
	u64 list = hx_page(h);
	u64 a = hx_pages(h, 8);
	u64 e[8];
	void *taken[64];
	unsigned n = 0;

	for (unsigned i = 0; i < 8; i++) {
		e[i] = a + i * PAGE_SIZE;
	}
	assert_int_equal(deposit(h, list, e, 8), SVSM_SUCCESS);
	/* Exhaust the page allocator from inside: deposited pages are handed out too. */
	hx_as_svsm_begin(h);
	void *p;
	bool saw_deposit = false;
	while ((p = page_alloc(0)) != NULL) {
		u64 gpa = arch_virt_to_phys(p);
		saw_deposit |= gpa >= a && gpa < a + 8 * PAGE_SIZE;
		if (n < 64) {
			taken[n++] = p;
		}
	}
	hx_as_svsm_end(h);
	assert_true(saw_deposit);
	(void)taken;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deposit_pages_grows_pool, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_2m, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_svsm_page_at_k, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_calling_area_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_list_page_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_duplicate_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_2m_covering_list_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_2m_covering_calling_area_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_2m_covering_vmsa_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_page_inside_earlier_2m_refused, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_reserved_and_size_bits, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_unvalidated_page, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposit_bad_list, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_withdraw_returns_deposit_zeroed, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_withdraw_nothing, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_withdraw_capacity_limited, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_withdraw_bad_buffer, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_withdraw_never_returns_svsm_memory, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_deposited_memory_serves_the_svsm, hx_setup, hx_teardown),
	};
	return cmocka_run_group_tests_name("core_mem", tests, NULL, NULL);
}
