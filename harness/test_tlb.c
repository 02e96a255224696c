/*
 * Stale translations (docs/architecture.md, "Stale translations"). A vCPU caches the
 * rights the RMP gave it; RMPADJUST does not flush other vCPUs' caches. The architecture
 * has VMPL0 write 0 to a VMSA's PCPU_ID so that the next VMRUN of that VMSA flushes. The
 * emulator models the cache for guest threads bound to a vCPU (emu/machine.h, struct
 * emu_tlb): these tests show that the core asks for the flush after every revoke, that a
 * stale access in the window the architecture leaves is let through, that the flush at the
 * next VMRUN ends it, and that a stale access with no flush requested is reported.
 */
#include <svsm/vmsa.h>

#include "test_common.h"

static u64 pcpu_id(struct hx *h, u64 vmsa_gpa)
{
	u64 v;

	memcpy(&v, emu_mem(h->m, vmsa_gpa) + VMSA_PCPU_ID, 8);
	return v;
}

static void set_pcpu_id(struct hx *h, u64 vmsa_gpa, u64 value)
{
	memcpy(emu_mem(h->m, vmsa_gpa) + VMSA_PCPU_ID, &value, 8);
}

/* A machine with vCPU 1 started; its VMSA in *@vmsa. */
static struct hx *boot_two(u64 *vmsa)
{
	struct hx *h = hx_boot(NULL);

	assert_non_null(h);
	assert_int_equal(guest_create_vcpu(&h->g, 1, vmsa), SVSM_SUCCESS);
	return h;
}

/* DEPOSIT_MEM of one page from vCPU 0. */
static void deposit(struct hx *h, u64 page)
{
	u64 list = hx_page(h);
	u64 e = page;

	assert_int_equal(hx_write_list(h, list, &e, 1, 0), 0);
	assert_int_equal(CORE(h, SVSM_CORE_DEPOSIT_MEM, list, 0, 0, NULL), SVSM_SUCCESS);
}

/* A guest write to @gpa made by the VMPL1 OS on vCPU @apic (through that vCPU's TLB). */
static int write_on(struct hx *h, u32 apic, u64 gpa)
{
	u8 b = 0x5A;

	guest_bind_thread(&h->g, apic);
	int rc = guest_write(&h->g, gpa, &b, 1);
	guest_bind_thread(NULL, 0);
	return rc;
}

/* Every VMSA starts with PCPU_ID 0; its first VMRUN flushes and sets it. */
static void test_vmrun_sets_pcpu_id(void **state)
{
	(void)state;
	u64 vmsa;
	struct hx *h = boot_two(&vmsa);

	assert_int_equal(pcpu_id(h, vmsa), 2);
	assert_int_equal(pcpu_id(h, vcpu_find_apic(0)->guest_vmsa_gpa), 1);
	hx_shutdown(h);
}

/* After each kind of revoke the core asks every vCPU of the VMPL for a flush. */
static void test_revokes_request_flush(void **state)
{
	(void)state;
	u64 vmsa;
	struct hx *h = boot_two(&vmsa);

	/* DEPOSIT_MEM takes the page from VMPL1. */
	deposit(h, hx_page(h));
	assert_int_equal(pcpu_id(h, vmsa), 0);
	/* The caller's own VMSA was flushed by the VMRUN that ended its call. */
	assert_int_not_equal(pcpu_id(h, vcpu_find_apic(0)->guest_vmsa_gpa), 0);
	assert_true(emu_vcpu_find(h->m, 0)->tlb_flushes >= 2);

	/* PVALIDATE rescinding a page. */
	set_pcpu_id(h, vmsa, 7);
	assert_int_equal(guest_pvalidate_range(&h->g, hx_page(h), 1, false), SVSM_SUCCESS);
	assert_int_equal(pcpu_id(h, vmsa), 0);

	/* CREATE_VCPU taking a page as a VMSA. */
	set_pcpu_id(h, vmsa, 7);
	assert_int_equal(guest_create_vcpu(&h->g, 2, NULL), SVSM_SUCCESS);
	assert_int_equal(pcpu_id(h, vmsa), 0);
	assert_oracle_clean(h);
	hx_shutdown(h);
}

/* A revoked right cached by a running vCPU works until its next VMRUN flushes it. */
static void test_stale_access_until_vmrun(void **state)
{
	(void)state;
	u64 vmsa;
	struct hx *h = boot_two(&vmsa);
	u64 page = hx_page(h);

	/* vCPU 1's guest uses the page: the translation is cached. */
	assert_int_equal(write_on(h, 1, page), 0);
	deposit(h, page);
	/* Still cached on vCPU 1: the write goes through, as on hardware; a flush is pending. */
	assert_int_equal(write_on(h, 1, page), 0);
	assert_int_equal(h->m->stats.stale_accesses, 1);
	assert_int_equal(hx_oracle(h), 0);
	/* A fresh vCPU (no cached translation) is refused at once. */
	assert_int_equal(write_on(h, 0, page), -1);
	/* vCPU 1's next VMRUN (the end of any exit) flushes: now it is refused too. */
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	assert_int_equal(hx_call_vcpu(h, 1, &r), SVSM_SUCCESS);
	assert_int_not_equal(pcpu_id(h, vmsa), 0);
	assert_int_equal(write_on(h, 1, page), -1);
	assert_oracle_clean(h);
	hx_shutdown(h);
}

/* Had the core not asked for the flush, the machine would let the stale access through and report it. */
static void test_stale_access_without_flush_is_reported(void **state)
{
	(void)state;
	u64 vmsa;
	struct hx *h = boot_two(&vmsa);
	u64 page = hx_page(h);

	assert_int_equal(write_on(h, 1, page), 0);
	deposit(h, page);
	/* What a core without the flush would leave: vCPU 1's PCPU_ID unchanged. */
	set_pcpu_id(h, vmsa, 2);
	assert_int_equal(write_on(h, 1, page), 0);
	assert_int_equal(h->m->stats.stale_accesses, 1);
	assert_int_equal(hx_oracle(h), 1);
	assert_non_null(strstr(h->report, "stale translation"));
	hx_shutdown(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmrun_sets_pcpu_id),
		cmocka_unit_test(test_revokes_request_flush),
		cmocka_unit_test(test_stale_access_until_vmrun),
		cmocka_unit_test(test_stale_access_without_flush_is_reported),
	};

	return cmocka_run_group_tests_name("tlb", tests, NULL, NULL);
}
