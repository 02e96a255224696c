/*
 * The vTPM protocol (2) at the seam, over the scripted engine (fake_engine.h): QUERY,
 * every size limit of SVSM_VTPM_CMD's buffer, locality, platform commands, engine
 * failures, buffers across pages, and pages the caller has no right to. A rejected call
 * leaves the buffer untouched and never reaches the engine. Also: while the TPM runs,
 * another vCPU's core calls go on (no lock of the core is held) and cannot delete the
 * busy vCPU; and the vTPM's attestation service makes its EK with no lock held (not the
 * attestation registry's, not the guest-request channel).
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <svsm/guestmem.h>
#include <svsm/mm.h>
#include <svsm/vtpm.h>

#include "../test_common.h"
#include "fake_engine.h"
#include "lib/hxa.h"
#include "vtpm/tpm_guest.h"

static int setup(void **state)
{
	fake_engine_reset();
	return hx_setup(state);
}

/* For tests that boot their own machine. */
static int setup_engine(void **state)
{
	fake_engine_reset();
	return 0;
}

static void put_le32(u8 *p, u32 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
	p[2] = (u8)(v >> 16);
	p[3] = (u8)(v >> 24);
}

static u32 get_le32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

/* Write a request {cmd, locality, size} and @len bytes of pattern @fill at @gpa as guest @g. */
static void put_request(struct emu_guest *g, u64 gpa, u32 cmd, u8 locality, u32 size, u32 len, u8 fill)
{
	static u8 req[VTPM_BUFFER_SIZE];

	put_le32(req, cmd);
	req[4] = locality;
	put_le32(req + 5, size);
	for (u32 i = 0; i < len; i++) {
		req[VTPM_REQ_HDR_SIZE + i] = (u8)(fill + i);
	}
	assert_int_equal(guest_write(g, gpa, req, VTPM_REQ_HDR_SIZE + len), 0);
}

static u64 vtpm_cmd_as(struct hx *h, struct emu_guest *g, u32 apic_id, u64 gpa)
{
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_VTPM, SVSM_VTPM_CMD), .rcx = gpa};
	u64 rc = hx_call_guest(h, g, apic_id, &r);

	assert_int_equal(h->last_status, GUEST_OK);
	assert_oracle_clean(h);
	return rc;
}

static u64 vtpm_cmd(struct hx *h, u64 gpa)
{
	return vtpm_cmd_as(h, &h->g, 0, gpa);
}

/*
 * The bytes of the 4096-byte buffer at @gpa as they are in memory, with what every call
 * rewrites masked out: calling-area headers and VMSAs (the registers).
 */
static void buffer_snapshot(struct hx *h, u64 gpa, u8 *out)
{
	struct svsm_vcpu *list[SVSM_MAX_VCPUS];
	u32 n = vcpu_list(list, SVSM_MAX_VCPUS);

	memcpy(out, emu_mem(h->m, gpa), VTPM_BUFFER_SIZE);
	for (u32 i = 0; i < n; i++) {
		for (u64 b = list[i]->caa_gpa; b < list[i]->caa_gpa + 8; b++) {
			if (b >= gpa && b < gpa + VTPM_BUFFER_SIZE) {
				out[b - gpa] = 0;
			}
		}
		for (u64 b = list[i]->guest_vmsa_gpa; b < list[i]->guest_vmsa_gpa + PAGE_SIZE; b++) {
			if (b >= gpa && b < gpa + VTPM_BUFFER_SIZE) {
				out[b - gpa] = 0;
			}
		}
	}
}

/* A call that must be rejected with @expect, leaving the buffer as it was and the engine untouched. */
static void assert_rejected(struct hx *h, struct emu_guest *g, u32 apic_id, u64 gpa, u64 expect)
{
	static u8 before[VTPM_BUFFER_SIZE], after[VTPM_BUFFER_SIZE];
	u32 calls = fake_engine.calls;
	bool in_ram = gpa < h->m->cfg.mem_size - VTPM_BUFFER_SIZE;

	if (in_ram) {
		buffer_snapshot(h, gpa, before);
	}
	assert_int_equal(vtpm_cmd_as(h, g, apic_id, gpa), expect);
	assert_int_equal(fake_engine.calls, calls);
	if (in_ram) {
		buffer_snapshot(h, gpa, after);
		assert_memory_equal(before, after, VTPM_BUFFER_SIZE);
	}
}

/* Two contiguous guest pages. */
static u64 two_pages(struct hx *h)
{
	u64 gpa = hx_pages(h, 2);

	assert_true(gpa != 0);
	return gpa;
}

static void test_query(void **state)
{
	struct hx *h = *state;
	struct guest_regs r;

	assert_int_equal(CALL(h, SVSM_PROTOCOL_VTPM, SVSM_VTPM_QUERY, 0x55, 0x66, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 1u << 8);
	assert_int_equal(r.rdx, 0);
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, (2ull << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, (1ull << 32) | 1);
	assert_int_equal(CORE(h, SVSM_CORE_QUERY_PROTOCOL, (2ull << 32) | 2, 0, 0, &r), SVSM_SUCCESS);
	assert_int_equal(r.rcx, 0);
	assert_int_equal(CALL(h, SVSM_PROTOCOL_VTPM, 2, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_CALL);
	assert_int_equal(CALL(h, SVSM_PROTOCOL_VTPM, 0xFFFFFFFFu, 0, 0, 0, NULL), SVSM_ERR_UNSUPPORTED_CALL);
}

/* The Linux driver's path: page-aligned buffer, command forwarded byte for byte, response back. */
static void test_round_trip(void **state)
{
	struct hx *h = *state;
	struct tpm_guest t;
	u8 cmd[12] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8};
	u8 rsp[64];
	u32 len;

	assert_int_equal(tpm_guest_init(&t, &h->g, 0), TPM_GUEST_OK);
	for (u32 i = 0; i < 20; i++) {
		fake_engine.rsp[10 + i] = (u8)(0xA0 + i);
	}
	fake_engine.rsp_len = 30;
	assert_int_equal(tpm_guest_send(&t, 0, cmd, sizeof(cmd), rsp, sizeof(rsp), &len), TPM_GUEST_OK);
	assert_int_equal(fake_engine.calls, 1);
	assert_int_equal(fake_engine.last_len, sizeof(cmd));
	assert_memory_equal(fake_engine.last_cmd, cmd, sizeof(cmd));
	assert_int_equal(len, 30);
	assert_memory_equal(rsp, fake_engine.rsp, 30);
	assert_oracle_clean(h);
}

/* Command sizes: 4087 is carried whole, anything above is refused; short ones go to the TPM. */
static void test_command_sizes(void **state)
{
	struct hx *h = *state;
	u64 gpa = two_pages(h);

	put_request(&h->g, gpa, 8, 0, VTPM_MAX_COMMAND, VTPM_MAX_COMMAND, 0x11);
	assert_int_equal(vtpm_cmd(h, gpa), SVSM_SUCCESS);
	assert_int_equal(fake_engine.last_len, 4087);
	for (u32 i = 0; i < 4087; i++) {
		assert_int_equal(fake_engine.last_cmd[i], (u8)(0x11 + i));
	}
	put_request(&h->g, gpa, 8, 0, VTPM_MAX_COMMAND + 1, VTPM_MAX_COMMAND, 0x11);
	assert_rejected(h, &h->g, 0, gpa, SVSM_ERR_INVALID_PARAMETER);
	put_request(&h->g, gpa, 8, 0, 0xFFFFFFFFu, 0, 0);
	assert_rejected(h, &h->g, 0, gpa, SVSM_ERR_INVALID_PARAMETER);
	put_request(&h->g, gpa, 8, 0, 0x80000000u + 10, 0, 0);
	assert_rejected(h, &h->g, 0, gpa, SVSM_ERR_INVALID_PARAMETER);

	/* Truncated commands are the TPM's to answer (with an error inside its response). */
	for (u32 size = 0; size < 10; size += 5) {
		u32 calls = fake_engine.calls;
		put_request(&h->g, gpa, 8, 0, size, size, 0x80);
		assert_int_equal(vtpm_cmd(h, gpa), SVSM_SUCCESS);
		assert_int_equal(fake_engine.calls, calls + 1);
		assert_int_equal(fake_engine.last_len, size);
	}
}

/* Response sizes: 10..4092 go back whole; longer or shorter than a TPM header is an engine failure. */
static void test_response_sizes(void **state)
{
	struct hx *h = *state;
	u64 gpa = two_pages(h);
	u8 back[VTPM_BUFFER_SIZE];
	static const u32 good[] = {10, 11, 4091, 4092};
	static const u32 bad[] = {0, 9, 4093, 4096};

	assert_int_equal(fake_engine.last_buf_size, 0);
	for (u32 i = 0; i < 4096; i++) {
		fake_engine.rsp[i] = (u8)(i * 7);
	}
	for (unsigned k = 0; k < ARRAY_COUNT(good); k++) {
		fake_engine.rsp_len = good[k];
		put_request(&h->g, gpa, 8, 0, 12, 12, 0x80);
		assert_int_equal(vtpm_cmd(h, gpa), SVSM_SUCCESS);
		assert_int_equal(fake_engine.last_buf_size, VTPM_BUFFER_SIZE);
		assert_int_equal(guest_read(&h->g, gpa, back, sizeof(back)), 0);
		assert_int_equal(get_le32(back), good[k]);
		assert_memory_equal(back + 4, fake_engine.rsp, good[k]);
		/* Only the size and the response are written: the rest is as the guest left it. */
		for (u32 i = 4 + good[k]; i < VTPM_BUFFER_SIZE; i++) {
			assert_int_equal(back[i], i < VTPM_REQ_HDR_SIZE + 12 ? 0x80 + (i - VTPM_REQ_HDR_SIZE) : 0);
		}
	}
	for (unsigned k = 0; k < ARRAY_COUNT(bad); k++) {
		u64 before;
		fake_engine.rsp_len = bad[k];
		put_request(&h->g, gpa, 8, 0, 12, 12, 0x80);
		before = hx_hash_mem(h, gpa, 2 * PAGE_SIZE);
		assert_int_equal(vtpm_cmd(h, gpa), SVSM_ERR_INVALID_REQUEST);
		assert_int_equal(hx_hash_mem(h, gpa, 2 * PAGE_SIZE), before);
	}
}

/* No page for the command's copy: the spec's "deposit memory" answer, nothing touched. */
static void test_out_of_memory(void **state)
{
	struct hx *h = *state;
	u64 gpa = two_pages(h);

	put_request(&h->g, gpa, 8, 0, 12, 12, 0x80);
	mm_fail_nth(1);
	assert_rejected(h, &h->g, 0, gpa, SVSM_RESULT_NEED_MEMORY | 1);
	mm_fail_nth(0);
	assert_int_equal(vtpm_cmd(h, gpa), SVSM_SUCCESS);
}

static void test_engine_failure(void **state)
{
	struct hx *h = *state;
	u64 gpa = two_pages(h);

	put_request(&h->g, gpa, 8, 0, 12, 12, 0x80);
	fake_engine.exec_result = VTPM_ENGINE_FAILED;
	u64 before = hx_hash_mem(h, gpa, 2 * PAGE_SIZE);
	assert_int_equal(vtpm_cmd(h, gpa), SVSM_ERR_INVALID_REQUEST);
	assert_int_equal(fake_engine.calls, 1);
	assert_int_equal(hx_hash_mem(h, gpa, 2 * PAGE_SIZE), before);
}

static void test_locality(void **state)
{
	struct hx *h = *state;
	u64 gpa = two_pages(h);
	static const u8 localities[] = {1, 2, 3, 4, 0x80, 0xFF};

	for (unsigned k = 0; k < ARRAY_COUNT(localities); k++) {
		put_request(&h->g, gpa, 8, localities[k], 12, 12, 0x80);
		assert_rejected(h, &h->g, 0, gpa, SVSM_ERR_INVALID_PARAMETER);
	}
}

/* Platform commands: unknown numbers are INVALID_PARAMETER, known ones other than 8 UNSUPPORTED_CALL. */
static void test_platform_commands(void **state)
{
	struct hx *h = *state;
	u64 gpa = two_pages(h);
	static const u32 unknown[] = {0, 19, 22, 24, 27, 29, 31, 34, 37, 0x108, 0x80000008u, 0xFFFFFFFFu};
	static const u32 known[] = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 25, 26, 30, 35, 36};

	for (unsigned k = 0; k < ARRAY_COUNT(unknown); k++) {
		put_request(&h->g, gpa, unknown[k], 0, 12, 12, 0x80);
		assert_rejected(h, &h->g, 0, gpa, SVSM_ERR_INVALID_PARAMETER);
	}
	for (unsigned k = 0; k < ARRAY_COUNT(known); k++) {
		put_request(&h->g, gpa, known[k], 0, 12, 12, 0x80);
		assert_rejected(h, &h->g, 0, gpa, SVSM_ERR_UNSUPPORTED_CALL);
	}
}

/* The buffer need not be aligned: it may start anywhere and span two pages. */
static void test_buffer_across_pages(void **state)
{
	struct hx *h = *state;
	u64 base = two_pages(h);
	u8 back[VTPM_BUFFER_SIZE];
	static const u64 offsets[] = {1, 0x7F3, 0xFF7, 0xFFF};

	for (u32 i = 0; i < 4092; i++) {
		fake_engine.rsp[i] = (u8)(i ^ 0x5A);
	}
	fake_engine.rsp_len = 4092;
	for (unsigned k = 0; k < ARRAY_COUNT(offsets); k++) {
		u64 gpa = base + offsets[k];
		put_request(&h->g, gpa, 8, 0, 300, 300, (u8)k);
		assert_int_equal(vtpm_cmd(h, gpa), SVSM_SUCCESS);
		assert_int_equal(fake_engine.last_len, 300);
		for (u32 i = 0; i < 300; i++) {
			assert_int_equal(fake_engine.last_cmd[i], (u8)(k + i));
		}
		assert_int_equal(guest_read(&h->g, gpa, back, sizeof(back)), 0);
		assert_int_equal(get_le32(back), 4092);
		assert_memory_equal(back + 4, fake_engine.rsp, 4092);
	}
}

/* The 4096 bytes must all be the caller's: a second page that is not validated is refused. */
static void test_buffer_unvalidated_page(void **state)
{
	struct hx *h = *state;
	u64 base = two_pages(h);
	u64 gpa = base + 0x800;

	put_request(&h->g, gpa, 8, 0, 12, 12, 0x80);
	assert_int_equal(guest_pvalidate_range(&h->g, base + PAGE_SIZE, 1, false), SVSM_SUCCESS);
	assert_rejected(h, &h->g, 0, gpa, SVSM_ERR_INVALID_ADDRESS);
	/* The whole buffer in the first page still works. */
	put_request(&h->g, base, 8, 0, 12, 12, 0x80);
	assert_int_equal(vtpm_cmd(h, base), SVSM_SUCCESS);
}

static void test_buffer_outside_ram(void **state)
{
	struct hx *h = *state;
	u64 end = h->m->cfg.mem_size;

	assert_rejected(h, &h->g, 0, end - 0x100, SVSM_ERR_INVALID_ADDRESS);
	assert_rejected(h, &h->g, 0, end, SVSM_ERR_INVALID_ADDRESS);
	assert_rejected(h, &h->g, 0, ~0ull - 0x10, SVSM_ERR_INVALID_ADDRESS);
	assert_rejected(h, &h->g, 0, EMU_LEGACY_HOLE_START - 0x800, SVSM_ERR_INVALID_ADDRESS);
}

/* SVSM pages, VMSAs and calling-area headers are never a vTPM buffer. */
static void test_buffer_svsm_pages(void **state)
{
	struct hx *h = *state;
	u64 vmsa = 0;

	assert_rejected(h, &h->g, 0, h->m->cfg.svsm_base, SVSM_ERR_INVALID_ADDRESS);
	assert_rejected(h, &h->g, 0, h->m->cfg.svsm_base - 0x800, SVSM_ERR_INVALID_ADDRESS);
	assert_rejected(h, &h->g, 0, vcpu_find_apic(0)->guest_vmsa_gpa, SVSM_ERR_INVALID_ADDRESS);

	/* The startup vCPU's calling area moved to a page with a normal page after it. */
	u64 caa = two_pages(h);
	assert_int_equal(CORE(h, SVSM_CORE_REMAP_CA, caa, 0, 0, NULL), SVSM_SUCCESS);
	h->g.vcpus[0].caa_gpa = caa;
	put_request(&h->g, caa + 8, 8, 0, 12, 12, 0x80);
	assert_int_equal(vtpm_cmd(h, caa + 8), SVSM_SUCCESS); /* past the header: allowed */
	/* Over the header (the driver's call_pending = 1 then reads as platform command 1). */
	put_request(&h->g, caa, 8, 0, 12, 12, 0x80);
	assert_rejected(h, &h->g, 0, caa, SVSM_ERR_INVALID_ADDRESS);
	put_request(&h->g, caa + 7, 8, 0, 12, 12, 0x80);
	assert_rejected(h, &h->g, 0, caa + 7, SVSM_ERR_INVALID_ADDRESS);
	/* A second vCPU's VMSA. */
	assert_int_equal(guest_create_vcpu(&h->g, 1, &vmsa), SVSM_SUCCESS);
	/* A buffer over the VMSA page after a normal page. */
	assert_rejected(h, &h->g, 0, vmsa - 0x800, SVSM_ERR_INVALID_ADDRESS);
}

/* A VMPL2 caller may only use pages it can read and write itself. */
static void test_buffer_not_callers(void **state)
{
	struct hx *h = *state;
	struct emu_guest *child = calloc(1, sizeof(*child));

	assert_non_null(child);
	assert_int_equal(guest_spawn(&h->g, child, 2, 1, 16), SVSM_SUCCESS);
	u64 mine = guest_alloc_pages(child, 2);
	put_request(child, mine, 8, 0, 12, 12, 0x80);
	assert_int_equal(vtpm_cmd_as(h, child, 1, mine), SVSM_SUCCESS);
	put_request(child, mine + 0x900, 8, 0, 12, 12, 0x80);
	assert_int_equal(vtpm_cmd_as(h, child, 1, mine + 0x900), SVSM_SUCCESS);

	/* VMPL1's page: VMPL2 has no access at all. */
	u64 parents = two_pages(h);
	put_request(&h->g, parents, 8, 0, 12, 12, 0x80);
	assert_rejected(h, child, 1, parents, SVSM_ERR_INVALID_ADDRESS);
	/* Read-only for VMPL2: the response could not be written. */
	assert_int_equal(guest_rmpadjust(&h->g, parents, PAGE_SIZE_4K, 2, VMPL_PERM_READ), RMP_SUCCESS);
	assert_int_equal(guest_rmpadjust(&h->g, parents + PAGE_SIZE, PAGE_SIZE_4K, 2, VMPL_PERM_READ), RMP_SUCCESS);
	assert_rejected(h, child, 1, parents, SVSM_ERR_INVALID_ADDRESS);
	/* Its own last page, then VMPL1's (read-only for it). */
	assert_rejected(h, child, 1, child->pool_end - 0x800, SVSM_ERR_INVALID_ADDRESS);
	free(child);
}

/* --- the TPM runs while other vCPUs call ----------------------------------------------- */

struct busy {
	struct hx *h;
	u64 victim_vmsa;
	u64 lost_page;
	struct emu_guest *child;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	u64 query_rc;
	u64 delete_rc;
	u64 query_rcx;
};

/* Another vCPU (the startup one) calls the SVSM while vCPU 1's command is in the engine. */
static void *busy_other_vcpu(void *arg)
{
	struct busy *b = arg;
	struct guest_regs q = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL), .rcx = (2ull << 32) | 1};
	struct guest_regs d = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_DELETE_VCPU), .rcx = b->victim_vmsa};

	int s1 = guest_call(&b->h->g, 0, &q);
	int s2 = guest_call(&b->h->g, 0, &d);
	pthread_mutex_lock(&b->mu);
	b->query_rc = s1 == GUEST_OK ? q.rax : ~0ull;
	b->query_rcx = q.rcx;
	b->delete_rc = s2 == GUEST_OK ? d.rax : ~0ull;
	b->done = true;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Runs inside the engine: the other vCPU's calls must complete before the TPM returns. */
static void busy_hook(void *ctx)
{
	struct busy *b = ctx;
	pthread_t t;
	struct timespec deadline;

	assert_int_equal(pthread_create(&t, NULL, busy_other_vcpu, b), 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 60; /* a guard against a hang, not a measurement */
	pthread_mutex_lock(&b->mu);
	while (!b->done) {
		if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) != 0) {
			break;
		}
	}
	bool done = b->done;
	pthread_mutex_unlock(&b->mu);
	if (!done) {
		/* The other vCPU's calls did not finish: let the thread end on its own. */
		fake_engine.hook = NULL;
		return;
	}
	pthread_join(t, NULL);
}

static void test_engine_runs_unlocked(void **state)
{
	struct hx *h = *state;
	struct busy b = {.h = h, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

	assert_int_equal(guest_create_vcpu(&h->g, 1, &b.victim_vmsa), SVSM_SUCCESS);
	u64 gpa = two_pages(h);
	put_request(&h->g, gpa, 8, 0, 12, 12, 0x80);
	fake_engine.hook = busy_hook;
	fake_engine.hook_ctx = &b;
	assert_int_equal(vtpm_cmd_as(h, &h->g, 1, gpa), SVSM_SUCCESS);
	assert_true(b.done);
	assert_int_equal(b.query_rc, SVSM_SUCCESS);
	assert_int_equal(b.query_rcx, (1ull << 32) | 1);
	/* The busy vCPU's VMSA is in use until its call returns. */
	assert_int_equal(b.delete_rc, SVSM_ERR_DELETE_VCPU_FAIL_INUSE);
	assert_non_null(vcpu_find_vmsa(b.victim_vmsa));
	assert_int_equal(hx_oracle(h), 0);
	/* Once the call is over, the vCPU can go (stopped first, as Linux does). */
	fake_engine.hook = NULL;
	assert_int_equal(guest_ap_destroy(&h->g, 1), 0);
	assert_int_equal(CORE(h, SVSM_CORE_DELETE_VCPU, b.victim_vmsa, 0, 0, NULL), SVSM_SUCCESS);
}

/* The caller gives its buffer away while the TPM runs: the response is not written. */
static void lose_rights_hook(void *ctx)
{
	struct busy *b = ctx;

	assert_int_equal(guest_rmpadjust(&b->h->g, b->lost_page, PAGE_SIZE_4K, 2, VMPL_PERM_READ), RMP_SUCCESS);
	/* The VMPL1 OS's own change, made while the call runs: not the SVSM's doing. */
	callcheck_exempt(&b->h->cc, b->lost_page);
}

static void test_rights_lost_while_running(void **state)
{
	struct hx *h = *state;
	struct emu_guest *child = calloc(1, sizeof(*child));
	struct busy b = {.h = h};

	assert_non_null(child);
	assert_int_equal(guest_spawn(&h->g, child, 2, 1, 16), SVSM_SUCCESS);
	u64 gpa = guest_alloc_pages(child, 2);
	put_request(child, gpa, 8, 0, 12, 12, 0x80);
	b.lost_page = gpa;
	fake_engine.hook = lose_rights_hook;
	fake_engine.hook_ctx = &b;
	u64 before = hx_hash_mem(h, gpa, 2 * PAGE_SIZE);
	assert_int_equal(vtpm_cmd_as(h, child, 1, gpa), SVSM_ERR_INVALID_ADDRESS);
	assert_int_equal(fake_engine.calls, 1);
	assert_int_equal(hx_hash_mem(h, gpa, 2 * PAGE_SIZE), before);
	free(child);
}

/* --- the vTPM attestation service: its EK is made with no lock held --------------------- */

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

static void put_be32(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 24);
	p[1] = (u8)(v >> 16);
	p[2] = (u8)(v >> 8);
	p[3] = (u8)v;
}

/* The scripted engine answers every command with a CreatePrimary success carrying an RSA public area. */
static void fake_ek_response(void)
{
	const u32 pub = 314, len = 20 + pub;
	u8 *r = fake_engine.rsp;

	memset(r, 0, len);
	r[0] = 0x80;
	r[1] = 0x02; /* TPM_ST_SESSIONS */
	put_be32(r + 2, len);
	put_be32(r + 10, 0x80000000u); /* the object's handle */
	put_be32(r + 14, 2 + pub);     /* parameterSize */
	r[18] = (u8)(pub >> 8);
	r[19] = (u8)pub;
	r[21] = 0x01; /* TPM_ALG_RSA */
	for (u32 i = 2; i < pub; i++) {
		r[20 + i] = (u8)(0x5A ^ i);
	}
	fake_engine.rsp_len = len;
}

struct attest_busy {
	struct hxa *a;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	bool done_in_engine; /* vCPU 0's calls completed while vCPU 1 was in the engine */
	u64 query_rc;
	u64 single_rc;
	u64 single_rcx;
};

/* vCPU 0 while vCPU 1's EK is being made: a core call, and an attestation of another service. */
static void *attest_busy_other(void *arg)
{
	struct attest_busy *b = arg;
	struct guest_regs q = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL), .rcx = (1ull << 32) | 1};
	struct guest_regs r = {0};

	int s = guest_call(&b->a->h->g, 0, &q);
	u64 single = hxa_write_req(b->a, true) == 0 ? hxa_call(b->a, SVSM_ATTEST_SINGLE_SERVICE, &r) : ~0ull;
	pthread_mutex_lock(&b->mu);
	b->query_rc = s == GUEST_OK ? q.rax : ~0ull;
	b->single_rc = single;
	b->single_rcx = r.rcx;
	b->done = true;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Inside the engine (the EK's CreatePrimary): vCPU 0's calls must complete before it returns. */
static void attest_busy_hook(void *ctx)
{
	struct attest_busy *b = ctx;
	pthread_t t;
	struct timespec deadline;

	fake_engine.hook = NULL; /* the FlushContext that follows runs through */
	assert_int_equal(pthread_create(&t, NULL, attest_busy_other, b), 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 60; /* a guard against a hang, not a measurement */
	pthread_mutex_lock(&b->mu);
	while (!b->done) {
		if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) != 0) {
			break;
		}
	}
	bool done = b->done;
	b->done_in_engine = done;
	pthread_mutex_unlock(&b->mu);
	if (done) {
		pthread_join(t, NULL);
	} else {
		/* A lock this call holds blocks vCPU 0: the test fails below; let the thread go. */
		pthread_detach(t);
	}
}

/*
 * SVSM_ATTEST_SERVICES on vCPU 1 makes the vTPM's EK (the service's prepare hook runs the
 * TPM). Meanwhile vCPU 0's core call and its SINGLE_SERVICE attestation of the test
 * service complete: the EK is made under no lock that they need (the
 * registry's, the guest-request channel). Then vCPU 1's manifest holds the EK.
 */
static void test_attest_ek_made_unlocked(void **state)
{
	struct hxa_opts o = {.fixtures = FIXTURES_DIR};
	struct hxa *a = hxa_boot(&o);
	struct attest_busy b = {.a = a, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	u64 vmsa = 0;

	assert_non_null(a);
	assert_true(vtpm_present());
	hxa_prepare(a, false);
	assert_int_equal(guest_create_vcpu(&a->h->g, 1, &vmsa), SVSM_SUCCESS);
	/* vCPU 1's request, nonce and buffers in pages of its own. */
	u64 req = hx_page(a->h), report = hx_page(a->h), manifest = hx_page(a->h);
	struct svsm_attest_req r1 = {
		.report_gpa = report,
		.report_size = PAGE_SIZE,
		.nonce_gpa = req + 0x800,
		.nonce_size = SVSM_ATTEST_NONCE_SIZE,
		.manifest_gpa = manifest,
		.manifest_size = PAGE_SIZE,
	};
	u8 nonce[SVSM_ATTEST_NONCE_SIZE];
	memset(nonce, 0x3C, sizeof(nonce));
	assert_int_equal(guest_write(&a->h->g, req, &r1, sizeof(r1)), 0);
	assert_int_equal(guest_write(&a->h->g, req + 0x800, nonce, sizeof(nonce)), 0);

	fake_ek_response();
	fake_engine.hook = attest_busy_hook;
	fake_engine.hook_ctx = &b;
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_ATTEST, SVSM_ATTEST_SERVICES), .rcx = req, .rdx = ~0ull, .r8 = ~0ull};
	u64 rc = hx_call_vcpu(a->h, 1, &r);
	assert_true(b.done_in_engine);
	assert_int_equal(b.query_rc, SVSM_SUCCESS);
	assert_int_equal(b.single_rc, SVSM_SUCCESS);
	assert_int_equal(b.single_rcx, strlen(ATTEST_TEST_SERVICE_DEFAULT));
	assert_int_equal(rc, SVSM_SUCCESS);
	assert_int_equal(fake_engine.calls, 2); /* CreatePrimary, FlushContext */
	assert_oracle_clean(a->h);

	u8 m[PAGE_SIZE];
	static const u8 vtpm_guid[16] = SVSM_VTPM_SERVICE_GUID;
	assert_true(r.rcx <= sizeof(m));
	assert_int_equal(guest_read(&a->h->g, manifest, m, r.rcx), 0);
	const struct svsm_manifest_hdr *hdr = (const void *)m;
	const struct svsm_manifest_entry *e = (const void *)(m + sizeof(*hdr));
	assert_int_equal(hdr->count, 2);
	assert_memory_equal(e[0].guid, vtpm_guid, 16);
	assert_int_equal(e[0].size, 314);
	assert_memory_equal(m + e[0].offset, fake_engine.rsp + 20, 314);
	hxa_shutdown(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_query, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_command_sizes, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_response_sizes, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_engine_failure, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_out_of_memory, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_locality, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_platform_commands, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_buffer_across_pages, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_buffer_unvalidated_page, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_buffer_outside_ram, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_buffer_svsm_pages, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_buffer_not_callers, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_engine_runs_unlocked, setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_rights_lost_while_running, setup, hx_teardown),
		cmocka_unit_test_setup(test_attest_ek_made_unlocked, setup_engine),
	};

	return cmocka_run_group_tests_name("vtpm_protocol", tests, NULL, NULL);
}
