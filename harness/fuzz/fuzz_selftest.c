/*
 * Proof that the fuzzing oracles fire: a deliberately broken protocol breaks one rule
 * per call (an SVSM page granted to the guest; guest memory, the RMP, the vCPU table or
 * the allocators changed by a rejected call, through the machine or through the SVSM's
 * direct map, also to a page already written in the input; a leaked allocation; a
 * double fetch followed by a termination; accesses the RMP forbids through the direct
 * map and the C=0 mapping) and each must be reported; an honest call must not be; the
 * snapshot reset must bring memory, the RMP and the SVSM's views back exactly; and the
 * header's guests at VMPL2/3 call the SVSM from their own vCPUs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/mm.h>
#include <svsm/svsm_abi.h>

#include "fuzz/fuzz_common.h"
#include "guest.h"
#include "machine.h"
#include "snapshot.h"

#define BROKEN_PROTOCOL 9u
#define SVSM_FREE_PAGE (FUZZ_SVSM_BASE + FUZZ_SVSM_SIZE - 16 * PAGE_SIZE)
/* Window pages the broken calls use (validated, guest RW, zero in the snapshot). */
#define PAGE_DMAP_TWICE (FUZZ_WINDOW + 6 * PAGE_SIZE)
#define PAGE_FAKE_CA (FUZZ_WINDOW + 7 * PAGE_SIZE)
#define PAGE_SHARED (FUZZ_WINDOW + 9 * PAGE_SIZE)
/* Assigned but never validated ([24, 32 MiB)). */
#define PAGE_UNVALIDATED (24ull << 20)

const struct fuzz_target fuzz_target = {.name = "selftest"};
struct fuzz_stats fuzz_counters;

static jmp_buf fuzz_selftest_jmp;
static char fuzz_selftest_msg[4608];

static void fuzz_selftest_hook(const char *msg)
{
	strncpy(fuzz_selftest_msg, msg, sizeof(fuzz_selftest_msg) - 1);
	longjmp(fuzz_selftest_jmp, 1);
}

/* Each call breaks one rule (see the file comment). */
static u32 fuzz_selftest_broken_handle(u32 call_id, struct svsm_call *call)
{
	u8 byte = 0x5A;

	switch (call_id) {
	case 0:
		arch_rmpadjust(SVSM_FREE_PAGE, PAGE_SIZE_4K, 1, VMPL_PERM_READ, false);
		return SVSM_SUCCESS;
	case 1:
		arch_guest_write(FUZZ_WINDOW + 0x100, &byte, 1);
		return SVSM_ERR_INVALID_PARAMETER;
	case 2:
		arch_rmpadjust(FUZZ_WINDOW, PAGE_SIZE_4K, 1, 0, false);
		return SVSM_ERR_INVALID_ADDRESS;
	case 3:
		return mem_alloc(64) ? SVSM_SUCCESS : SVSM_ERR_INVALID_REQUEST;
	case 4:
		/* A stray write through the direct map, as a use-after-free would make. */
		((u8 *)arch_phys_to_virt(FUZZ_WINDOW + 3 * PAGE_SIZE))[0x40] = byte;
		return SVSM_ERR_INVALID_PARAMETER;
	case 8:
		/* A successful call may write guest memory (through the direct map, too). */
		((u8 *)arch_phys_to_virt(PAGE_DMAP_TWICE))[0x80] = byte;
		return SVSM_SUCCESS;
	case 9:
		/* The same page again, now from a call that fails. */
		((u8 *)arch_phys_to_virt(PAGE_DMAP_TWICE))[0x81] = byte;
		return SVSM_ERR_INVALID_PARAMETER;
	case 10: {
		/* A vCPU the table did not have (the caller's VMSA: the invariant oracle has nothing to say). */
		const struct svsm_vcpu fake = {.apic_id = 77, .guest_vmsa_gpa = call->vcpu->guest_vmsa_gpa,
					       .vmsa = call->vcpu->vmsa, .caa_gpa = PAGE_FAKE_CA, .guest_vmpl = 1};
		cpu_prepare(77);
		vcpu_insert(&fake, NULL);
		return SVSM_ERR_INVALID_PARAMETER;
	}
	case 11:
		/* Memory taken by a call that fails. */
		return mem_alloc(64) ? SVSM_ERR_INVALID_PARAMETER : SVSM_ERR_INVALID_REQUEST;
	case 12: {
		/* A double fetch, and then a fault that ends the machine. */
		u64 v;
		arch_guest_read(FUZZ_WINDOW + 0x300, &v, sizeof(v));
		arch_guest_read(FUZZ_WINDOW + 0x300, &v, sizeof(v));
		return ((volatile u8 *)arch_phys_to_virt(PAGE_UNVALIDATED))[0x10] ? SVSM_SUCCESS : SVSM_ERR_INVALID_PARAMETER;
	}
	case 13:
		/* A read through the direct map of a page that is not validated (#VC 0x404 on hardware). */
		return ((volatile u8 *)arch_phys_to_virt(PAGE_UNVALIDATED))[0x20] ? SVSM_SUCCESS : SVSM_ERR_INVALID_PARAMETER;
	case 14: {
		/* A C=0 write to a page the host made private again after the SVSM mapped it shared. */
		volatile u8 *p = arch_map_shared(PAGE_SHARED);
		if (!p) {
			return SVSM_ERR_INVALID_ADDRESS;
		}
		emu_host_take_page(fuzz_m(), PAGE_SHARED, TAKE_OP_REASSIGN);
		p[0] = byte;
		return SVSM_SUCCESS;
	}
	default:
		return SVSM_ERR_UNSUPPORTED_CALL;
	}
}

static const struct svsm_protocol fuzz_selftest_broken = {
	.id = BROKEN_PROTOCOL, .min_version = 1, .max_version = 1, .name = "broken", .handle = fuzz_selftest_broken_handle,
};

/* A fresh input with header byte 2 = @byte2 (0: the window validated, no other guest), the broken protocol registered. */
static void fuzz_selftest_begin_with(u8 byte2)
{
	u8 header[FUZZ_HEADER_SIZE] = {0, 0, byte2};
	struct fuzz_in in = {header, sizeof(header)};

	/* cmocka installs its own SIGSEGV handler around each test. */
	assert_int_equal(snapshot_handler_install(), 0);
	assert_true(fuzz_begin(&in));
	assert_int_equal(protocol_register(&fuzz_selftest_broken), 0);
	fuzz_selftest_msg[0] = '\0';
}

static void fuzz_selftest_begin(void)
{
	fuzz_selftest_begin_with(0);
}

/* Call the broken protocol's @call; returns true if an oracle reported it. */
static bool fuzz_selftest_caught(u32 call, bool end)
{
	struct guest_regs r = {.rax = SVSM_CALL(BROKEN_PROTOCOL, call)};

	fuzz_finding_hook = fuzz_selftest_hook;
	if (setjmp(fuzz_selftest_jmp) != 0) {
		fuzz_finding_hook = NULL;
		return true;
	}
	fuzz_call(0, &r, false);
	if (end) {
		fuzz_end();
	}
	fuzz_finding_hook = NULL;
	return false;
}

static int fuzz_selftest_setup(void **state)
{
	struct fuzz_machine_opts o = {.boot_per_input = false, .termination_ok = false};

	return fuzz_machine_init(&o);
}

static void test_honest_call_is_clean(void **state)
{
	fuzz_selftest_begin();
	assert_false(fuzz_selftest_caught(7, true));
}

static void test_svsm_page_granted_is_caught(void **state)
{
	fuzz_selftest_begin();
	assert_true(fuzz_selftest_caught(0, false));
	assert_non_null(strstr(fuzz_selftest_msg, "accessible to VMPL1"));
}

/* The page was already written in this input: the model's write hook keeps its pre-image. */
static void test_rejected_call_changing_memory_is_caught(void **state)
{
	u8 b = 1;

	fuzz_selftest_begin();
	assert_int_equal(guest_write(fuzz_g(), FUZZ_WINDOW + 0x200, &b, 1), 0);
	assert_true(fuzz_selftest_caught(1, false));
	assert_non_null(strstr(fuzz_selftest_msg, "changed guest memory"));
}

/* A direct-map write to a page untouched since the reset: the write protection sees it. */
static void test_rejected_call_direct_write_is_caught(void **state)
{
	fuzz_selftest_begin();
	assert_true(fuzz_selftest_caught(4, false));
	assert_non_null(strstr(fuzz_selftest_msg, "changed guest memory"));
}

static void test_rejected_call_changing_rmp_is_caught(void **state)
{
	fuzz_selftest_begin();
	assert_true(fuzz_selftest_caught(2, false));
	assert_non_null(strstr(fuzz_selftest_msg, "changed the RMP"));
}

static void test_leak_is_caught(void **state)
{
	fuzz_selftest_begin();
	assert_true(fuzz_selftest_caught(3, true));
	assert_non_null(strstr(fuzz_selftest_msg, "leak"));
}

/*
 * The page was written through the direct map by an earlier (successful) call of the same
 * input: only the seal at the call's start lets the write hook see the second write.
 */
static void test_rejected_call_direct_write_to_written_page_is_caught(void **state)
{
	fuzz_selftest_begin();
	assert_false(fuzz_selftest_caught(8, false));
	assert_true(fuzz_selftest_caught(9, false));
	assert_non_null(strstr(fuzz_selftest_msg, "changed guest memory"));
}

static void test_rejected_call_changing_vcpu_table_is_caught(void **state)
{
	fuzz_selftest_begin();
	assert_true(fuzz_selftest_caught(10, false));
	assert_non_null(strstr(fuzz_selftest_msg, "vCPU table"));
}

static void test_rejected_call_changing_allocators_is_caught(void **state)
{
	fuzz_selftest_begin();
	assert_true(fuzz_selftest_caught(11, false));
	assert_non_null(strstr(fuzz_selftest_msg, "allocators went from"));
}

/* A finding of the machine made before a termination is reported, not lost with the machine. */
static void test_finding_before_termination_is_caught(void **state)
{
	fuzz_selftest_begin();
	assert_true(fuzz_selftest_caught(12, false));
	assert_non_null(strstr(fuzz_selftest_msg, "double fetch"));
}

/* The fuzz machine's direct map follows the RMP: a read of an unvalidated page terminates it. */
static void test_direct_map_fault_terminates(void **state)
{
	fuzz_selftest_begin();
	assert_true(fuzz_selftest_caught(13, false));
	assert_true(fuzz_m()->terminated);
	assert_non_null(strstr(fuzz_selftest_msg, "through its direct map"));
	assert_non_null(strstr(fuzz_selftest_msg, "not validated"));
}

/* ...and so does its C=0 mapping: a page the host made private again is no longer writable through it. */
static void test_shared_mapping_fault_terminates(void **state)
{
	fuzz_selftest_begin();
	assert_int_equal(emu_host_take_page(fuzz_m(), PAGE_SHARED, TAKE_OP_SHARED), RMP_SUCCESS);
	assert_true(fuzz_selftest_caught(14, false));
	assert_true(fuzz_m()->terminated);
	assert_non_null(strstr(fuzz_selftest_msg, "shared (C=0) mapping"));
}

/* The views check compares the snapshot's idea of the views with the kernel's and with the rules. */
static void test_views_check_fires(void **state)
{
	char why[200];
	struct emu_machine *m = fuzz_m();

	fuzz_selftest_begin();
	assert_true(fuzz_views_check(why, sizeof(why)));
	/* Behind the snapshot's back: a page that is not validated made readable in the direct map. */
	assert_int_equal(mprotect(m->svsm_map + PAGE_UNVALIDATED, PAGE_SIZE, PROT_READ), 0);
	assert_false(fuzz_views_check(why, sizeof(why)));
	assert_non_null(strstr(why, "the kernel says"));
	assert_int_equal(mprotect(m->svsm_map + PAGE_UNVALIDATED, PAGE_SIZE, PROT_NONE), 0);
	assert_true(fuzz_views_check(why, sizeof(why)));
}

/* The header's guests at VMPL2 and 3 run on their own vCPUs and call the SVSM from there. */
static void test_vmpl_guests_call_from_their_vcpus(void **state)
{
	static const u8 configs[] = {0x80, 0xA0, 0xC0, 0xE0}; /* VMPL2; VMPL3; VMPL2 hosting VMPL3; both */
	static const u8 vmpl3_apic[] = {0, FUZZ_APIC_CHILD, FUZZ_APIC_GRANDCHILD, FUZZ_APIC_GRANDCHILD};
	char why[200];

	for (unsigned i = 0; i < sizeof(configs); i++) {
		fuzz_selftest_begin_with(configs[i]);
		if (i != 1) {
			assert_int_equal(fuzz_guest_of(FUZZ_APIC_CHILD)->vmpl, 2);
		}
		if (vmpl3_apic[i]) {
			struct emu_guest *g3 = fuzz_guest_of(vmpl3_apic[i]);
			assert_int_equal(g3->vmpl, 3);
			assert_ptr_equal(g3->parent, i == 2 ? fuzz_guest_of(FUZZ_APIC_CHILD) : fuzz_g());
		}
		for (u32 apic = FUZZ_APIC_GRANDCHILD; apic <= FUZZ_APIC_CHILD; apic++) {
			struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL),
					       .rcx = (1ull << 32) | 1};
			if (i < 2 && apic == FUZZ_APIC_GRANDCHILD) {
				continue;
			}
			assert_int_equal(fuzz_call(apic, &r, false), GUEST_OK);
			assert_int_equal((u32)r.rax, SVSM_SUCCESS);
			assert_int_equal(vcpu_find_apic(apic)->guest_vmpl, fuzz_guest_of(apic)->vmpl);
		}
		assert_true(fuzz_views_check(why, sizeof(why)));
		/* The end of the input deletes their vCPUs: nothing leaked. */
		assert_false(fuzz_selftest_caught(7, true));
	}
}

/*
 * The machine's view is not write-protected: the model announces its writes. A write that
 * bypasses the announcement is not undone, and FUZZ_CHECK_VIEWS=1 (on for this suite)
 * reports it at the next reset.
 */
static void test_unannounced_write_is_caught(void **state)
{
	static const u8 header[FUZZ_HEADER_SIZE] = {0};
	struct fuzz_in in = {header, sizeof(header)};
	u8 *byte = fuzz_m()->mem + FUZZ_WINDOW + 0x500;

	fuzz_selftest_begin();
	assert_int_equal(*byte, 0);
	*byte = 0x77;
	fuzz_finding_hook = fuzz_selftest_hook;
	if (setjmp(fuzz_selftest_jmp) == 0) {
		fuzz_begin(&in);
		fuzz_finding_hook = NULL;
		fail_msg("the reset did not notice guest memory it could not restore");
	}
	fuzz_finding_hook = NULL;
	assert_non_null(strstr(fuzz_selftest_msg, "not as in the snapshot"));
	*byte = 0; /* what the snapshot has: the next tests start clean */
}

/* FNV-1a of a byte range. */
static u64 fuzz_selftest_hash(const void *p, size_t len)
{
	const u8 *b = p;
	u64 h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h = (h ^ b[i]) * 0x100000001b3ull;
	}
	return h;
}

static void test_reset_restores_memory_and_rmp(void **state)
{
	struct emu_machine *m = fuzz_m();
	char why[200];

	fuzz_selftest_begin();
	u64 mem0 = fuzz_selftest_hash(m->mem, FUZZ_MEM_SIZE);
	u64 rmp0 = fuzz_selftest_hash(m->rmp.entries, FUZZ_MEM_PAGES * sizeof(struct rmp_entry));
	/* Validate 2 MiB of the unvalidated part: zeroing, RMP changes, list writes. */
	u64 list = FUZZ_CAA + offsetof(struct svsm_ca, buffer);
	struct svsm_list_hdr h = {.entries = 1, .next = 0};
	u64 e = (24ull << 20) | PAGE_SIZE_2M | SVSM_PVAL_VALIDATE;
	assert_int_equal(guest_write(fuzz_g(), list, &h, sizeof(h)), 0);
	assert_int_equal(guest_write(fuzz_g(), list + 8, &e, 8), 0);
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_PVALIDATE), .rcx = list};
	assert_int_equal(fuzz_call(0, &r, false), GUEST_OK);
	assert_int_equal((u32)r.rax, SVSM_SUCCESS);
	assert_int_not_equal(fuzz_selftest_hash(m->rmp.entries, FUZZ_MEM_PAGES * sizeof(struct rmp_entry)), rmp0);
	assert_true(fuzz_views_check(why, sizeof(why)));
	fuzz_end();
	fuzz_selftest_begin();
	assert_int_equal(fuzz_selftest_hash(m->mem, FUZZ_MEM_SIZE), mem0);
	assert_int_equal(fuzz_selftest_hash(m->rmp.entries, FUZZ_MEM_PAGES * sizeof(struct rmp_entry)), rmp0);
	assert_true(fuzz_views_check(why, sizeof(why)));
	/* The region validated by the input is out of the direct map's reach again. */
	assert_true(fuzz_selftest_caught(13, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_call_is_clean),
		cmocka_unit_test(test_svsm_page_granted_is_caught),
		cmocka_unit_test(test_rejected_call_changing_memory_is_caught),
		cmocka_unit_test(test_rejected_call_direct_write_is_caught),
		cmocka_unit_test(test_rejected_call_changing_rmp_is_caught),
		cmocka_unit_test(test_leak_is_caught),
		cmocka_unit_test(test_rejected_call_direct_write_to_written_page_is_caught),
		cmocka_unit_test(test_rejected_call_changing_vcpu_table_is_caught),
		cmocka_unit_test(test_rejected_call_changing_allocators_is_caught),
		cmocka_unit_test(test_finding_before_termination_is_caught),
		cmocka_unit_test(test_direct_map_fault_terminates),
		cmocka_unit_test(test_shared_mapping_fault_terminates),
		cmocka_unit_test(test_views_check_fires),
		cmocka_unit_test(test_unannounced_write_is_caught),
		cmocka_unit_test(test_vmpl_guests_call_from_their_vcpus),
		cmocka_unit_test(test_reset_restores_memory_and_rmp),
	};

	/* Every reset and call of this suite also checks the SVSM's views and the restore. */
	setenv("FUZZ_CHECK_VIEWS", "1", 1);
	return cmocka_run_group_tests_name("fuzz_selftest", tests, fuzz_selftest_setup, NULL);
}
