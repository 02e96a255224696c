/*
 * Proof that the fuzzing oracles fire: a deliberately broken protocol breaks one rule
 * per call (an SVSM page granted to the guest, guest memory or the RMP changed by a
 * rejected call, a leaked allocation) and each must be reported; an honest call must
 * not be; and the snapshot reset must bring memory and the RMP back exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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
	default:
		return SVSM_ERR_UNSUPPORTED_CALL;
	}
}

static const struct svsm_protocol fuzz_selftest_broken = {
	.id = BROKEN_PROTOCOL, .min_version = 1, .max_version = 1, .name = "broken", .handle = fuzz_selftest_broken_handle,
};

/* A fresh input (the window validated), the broken protocol registered. */
static void fuzz_selftest_begin(void)
{
	static const u8 header[FUZZ_HEADER_SIZE] = {0};
	struct fuzz_in in = {header, sizeof(header)};

	/* cmocka installs its own SIGSEGV handler around each test. */
	assert_int_equal(snapshot_handler_install(), 0);
	assert_true(fuzz_begin(&in));
	assert_int_equal(protocol_register(&fuzz_selftest_broken), 0);
	fuzz_selftest_msg[0] = '\0';
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
	fuzz_end();
	fuzz_selftest_begin();
	assert_int_equal(fuzz_selftest_hash(m->mem, FUZZ_MEM_SIZE), mem0);
	assert_int_equal(fuzz_selftest_hash(m->rmp.entries, FUZZ_MEM_PAGES * sizeof(struct rmp_entry)), rmp0);
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
		cmocka_unit_test(test_reset_restores_memory_and_rmp),
	};

	return cmocka_run_group_tests_name("fuzz_selftest", tests, fuzz_selftest_setup, NULL);
}
