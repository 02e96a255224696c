/* The default scenario of `svsm-emu run` (see scenario.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <svsm/core.h>
#include <svsm/svsm_abi.h>
#include <svsm/vtpm.h>

#include "scenario.h"

#define QUERY_LOOP 10000

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

static struct scenario_step *step_begin(struct scenario *s, const char *name, const char *expect)
{
	struct scenario_step *st = &s->steps[s->step_count++];

	*st = (struct scenario_step){.name = name, .expect = expect, .passed = true, .verdict = STEP_PASS};
	st->calls = guest_calls(&s->g);
	st->ns = now_ns();
	return st;
}

static void step_fail(struct scenario_step *st, const char *fmt, ...)
{
	va_list ap;

	if (!st->passed) {
		return; /* keep the first failure */
	}
	st->passed = false;
	st->verdict = STEP_FAIL;
	va_start(ap, fmt);
	vsnprintf(st->detail, sizeof(st->detail), fmt, ap);
	va_end(ap);
}

static void step_end(struct scenario *s, struct scenario_step *st)
{
	st->ns = now_ns() - st->ns;
	st->calls = guest_calls(&s->g) - st->calls;
	/* In a hostile run a failed step is safe unless the oracle or the machine says otherwise. */
	if (s->hostile && st->verdict == STEP_FAIL) {
		st->verdict = STEP_SAFE;
		st->passed = true;
	}
	if (s->m->findings.count != s->findings_seen) {
		s->findings_seen = s->m->findings.count;
		st->unsafe = true;
	}
	if (s->check_oracle) {
		char report[512];
		unsigned n = oracle_check(&s->oracle, s->m, report, sizeof(report));
		if (n) {
			s->oracle_violations += n;
			if (!s->oracle_report[0]) {
				snprintf(s->oracle_report, sizeof(s->oracle_report), "%s", report);
			}
			st->verdict = STEP_PASS; /* let step_fail record it */
			st->passed = true;
			step_fail(st, "invariant oracle: %s", report);
			st->unsafe = true;
		}
	}
	if (st->unsafe) {
		st->verdict = STEP_FAIL;
		st->passed = false;
	}
	if (st->verdict == STEP_PASS && !st->detail[0]) {
		snprintf(st->detail, sizeof(st->detail), "ok");
	}
}

const char *scenario_verdict_name(enum step_verdict v)
{
	static const char *const names[] = {"PASS", "FAIL", "SAFE", "TERM", "SKIP"};

	return v <= STEP_SKIPPED ? names[v] : "?";
}

/* An SVSM call on vCPU @apic that must complete and return @want. */
static u64 expect_call(struct scenario *s, struct scenario_step *st, u32 apic, struct guest_regs *r, u64 want)
{
	int rc = guest_call(&s->g, apic, r);

	if (rc != GUEST_OK) {
		step_fail(st, "call %#llx did not complete: %s", (unsigned long long)r->rax, guest_status_name(rc));
		return ~0ull;
	}
	if ((u32)r->rax != want) {
		step_fail(st, "call returned %#x, spec says %#llx", (u32)r->rax, (unsigned long long)want);
	}
	return (u32)r->rax;
}

static u64 core_regs(struct guest_regs *r, u32 call, u64 rcx, u64 rdx, u64 r8)
{
	*r = (struct guest_regs){.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, call), .rcx = rcx, .rdx = rdx, .r8 = r8};
	return r->rax;
}

static void step_query(struct scenario *s)
{
	struct scenario_step *st =
		step_begin(s, "query protocols",
			   "core v1 supported (RCX=1:1); vTPM v1 if the build has a TPM engine; attestation, others: RCX=0");
	static const u32 protos[] = {0, 1, 2, 3, 4, 0x80000000u};
	for (unsigned i = 0; i < ARRAY_COUNT(protos); i++) {
		struct guest_regs r;
		core_regs(&r, SVSM_CORE_QUERY_PROTOCOL, ((u64)protos[i] << 32) | 1, 0, 0);
		expect_call(s, st, 0, &r, SVSM_SUCCESS);
		bool served = protos[i] == SVSM_PROTOCOL_CORE || (protos[i] == SVSM_PROTOCOL_VTPM && vtpm_present());
		u64 want = served ? ((1ull << 32) | 1) : 0;
		if (r.rcx != want) {
			step_fail(st, "protocol %#x: RCX=%#llx, expected %#llx", protos[i], (unsigned long long)r.rcx,
				  (unsigned long long)want);
		}
	}
	struct guest_regs r;
	core_regs(&r, SVSM_CORE_CONFIGURE_VTOM, SVSM_VTOM_QUERY, 0, 0);
	expect_call(s, st, 0, &r, SVSM_SUCCESS);
	if (r.rcx != 0) {
		step_fail(st, "CONFIGURE_VTOM query: RCX=%#llx, expected 0", (unsigned long long)r.rcx);
	}
	step_end(s, st);
}

static void step_pvalidate(struct scenario *s)
{
	struct scenario_step *st = step_begin(
		s, "pvalidate a range", "4 MiB as 2 MiB entries and 300 4 KiB entries: SUCCESS (INCOMPLETE retried)");
	u64 base = ALIGN_UP(s->g.pool_next, PAGE_2M_SIZE);
	u64 rc = guest_pvalidate_range(&s->g, base, 1024, true);
	if (rc != SVSM_SUCCESS) {
		step_fail(st, "2 MiB range: %#llx", (unsigned long long)rc);
	}
	u64 small = base + 4 * PAGE_2M_SIZE + PAGE_SIZE;
	u64 list = s->m->cfg.caa_gpa + 8;
	static u64 e[300];
	for (unsigned i = 0; i < 300; i++) {
		e[i] = (small + i * PAGE_SIZE) | SVSM_PVAL_VALIDATE;
	}
	struct svsm_list_hdr hdr = {.entries = 300};
	u64 retries = guest_retries(&s->g);
	if (guest_write(&s->g, list, &hdr, sizeof(hdr)) != 0 || guest_write(&s->g, list + 8, e, sizeof(e)) != 0) {
		step_fail(st, "cannot write the list into the calling area");
	}
	struct guest_regs r;
	core_regs(&r, SVSM_CORE_PVALIDATE, list, 0, 0);
	expect_call(s, st, 0, &r, SVSM_SUCCESS);
	if (guest_retries(&s->g) == retries) {
		step_fail(st, "expected at least one INCOMPLETE for 300 entries");
	}
	/* Give 16 pages back, then check the guest cannot touch them. */
	if (guest_pvalidate_range(&s->g, small, 16, false) != SVSM_SUCCESS) {
		step_fail(st, "invalidating 16 pages failed");
	}
	u8 b;
	if (guest_read(&s->g, small, &b, 1) == 0) {
		step_fail(st, "an invalidated page is still readable by VMPL1");
	}
	s->g.pool_next = base + 6 * PAGE_2M_SIZE;
	step_end(s, st);
}

static void step_vcpu(struct scenario *s)
{
	struct scenario_step *st = step_begin(s, "create and delete a vCPU",
					      "CREATE_VCPU SUCCESS; running VMSA: 0x80001003; stopped: SUCCESS");
	u64 vmsa = 0;
	u64 rc = guest_create_vcpu(&s->g, 1, &vmsa);
	if (rc != SVSM_SUCCESS) {
		step_fail(st, "CREATE_VCPU: %#llx", (unsigned long long)rc);
		step_end(s, st);
		return;
	}
	struct guest_regs r;
	core_regs(&r, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0);
	expect_call(s, st, 1, &r, SVSM_SUCCESS);
	core_regs(&r, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0);
	expect_call(s, st, 0, &r, SVSM_ERR_DELETE_VCPU_FAIL_INUSE);
	if (guest_ap_destroy(&s->g, 1) != 0) {
		step_fail(st, "AP destroy refused");
	}
	core_regs(&r, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0);
	expect_call(s, st, 0, &r, SVSM_SUCCESS);
	guest_vcpu(&s->g, 1)->present = false;
	step_end(s, st);
}

static void step_memory(struct scenario *s)
{
	struct scenario_step *st = step_begin(s, "deposit and withdraw memory",
					      "DEPOSIT 64 pages SUCCESS, mem_available=1; WITHDRAW returns all 64 zeroed");
	u64 list = guest_alloc_pages(&s->g, 1);
	u64 pages = guest_alloc_pages(&s->g, 64);
	u64 buf = guest_alloc_pages(&s->g, 1);
	if (!list || !pages || !buf) {
		step_fail(st, "guest memory exhausted");
		step_end(s, st);
		return;
	}
	u64 e[64];
	for (unsigned i = 0; i < 64; i++) {
		e[i] = pages + i * PAGE_SIZE;
	}
	struct svsm_list_hdr hdr = {.entries = 64};
	guest_write(&s->g, list, &hdr, sizeof(hdr));
	guest_write(&s->g, list + 8, e, sizeof(e));
	struct guest_regs r;
	core_regs(&r, SVSM_CORE_DEPOSIT_MEM, list, 0, 0);
	expect_call(s, st, 0, &r, SVSM_SUCCESS);
	u8 avail = 0;
	guest_read(&s->g, s->m->cfg.caa_gpa + 1, &avail, 1);
	if (avail != 1) {
		step_fail(st, "mem_available=%u after deposit", avail);
	}
	u64 total = 0;
	for (unsigned round = 0; round < 4; round++) {
		core_regs(&r, SVSM_CORE_WITHDRAW_MEM, buf, 0, 0);
		expect_call(s, st, 0, &r, SVSM_SUCCESS);
		struct svsm_withdraw_hdr wh = {0};
		guest_read(&s->g, buf, &wh, sizeof(wh));
		total += wh.entries;
		if (wh.entries == 0) {
			break;
		}
	}
	guest_read(&s->g, s->m->cfg.caa_gpa + 1, &avail, 1);
	if (total != 64 || avail != 0) {
		step_fail(st, "withdrew %llu pages, mem_available=%u", (unsigned long long)total, avail);
	}
	step_end(s, st);
}

static void step_remap(struct scenario *s)
{
	struct scenario_step *st = step_begin(s, "remap the calling area", "SUCCESS; the next call uses the new CA");
	u64 ca = guest_alloc_pages(&s->g, 1);
	struct guest_regs r;
	core_regs(&r, SVSM_CORE_REMAP_CA, ca, 0, 0);
	if (expect_call(s, st, 0, &r, SVSM_SUCCESS) == SVSM_SUCCESS) {
		s->g.vcpus[0].caa_gpa = ca;
		core_regs(&r, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0);
		expect_call(s, st, 0, &r, SVSM_SUCCESS);
	}
	step_end(s, st);
}

static void step_rejections(struct scenario *s)
{
	struct scenario_step *st = step_begin(
		s, "hostile requests are refused",
		"SVSM page: INVALID_ADDRESS; misaligned: INVALID_PARAMETER; unknown protocol/call: UNSUPPORTED_*");
	struct guest_regs r;
	u64 list = s->g.vcpus[0].caa_gpa + 8;
	u64 entry = (s->m->cfg.svsm_base + 0x10000) | SVSM_PVAL_VALIDATE;
	struct svsm_list_hdr hdr = {.entries = 1};
	guest_write(&s->g, list, &hdr, sizeof(hdr));
	guest_write(&s->g, list + 8, &entry, 8);
	core_regs(&r, SVSM_CORE_PVALIDATE, list, 0, 0);
	expect_call(s, st, 0, &r, SVSM_ERR_INVALID_ADDRESS);
	core_regs(&r, SVSM_CORE_REMAP_CA, s->m->cfg.svsm_base, 0, 0);
	expect_call(s, st, 0, &r, SVSM_ERR_INVALID_ADDRESS);
	core_regs(&r, SVSM_CORE_CREATE_VCPU, 0x1008, 0x2000, 3);
	expect_call(s, st, 0, &r, SVSM_ERR_INVALID_PARAMETER);
	r = (struct guest_regs){.rax = SVSM_CALL(0x4242, 0)};
	expect_call(s, st, 0, &r, SVSM_ERR_UNSUPPORTED_PROTOCOL);
	core_regs(&r, 99, 0, 0, 0);
	expect_call(s, st, 0, &r, SVSM_ERR_UNSUPPORTED_CALL);
	step_end(s, st);
}

static void step_query_loop(struct scenario *s)
{
	struct scenario_step *st =
		step_begin(s, "call round trips", "10000 QUERY_PROTOCOL calls through the full emulated path: SUCCESS");
	u64 t0 = now_ns();
	for (unsigned i = 0; i < QUERY_LOOP; i++) {
		struct guest_regs r;
		core_regs(&r, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0);
		if (guest_call(&s->g, 0, &r) != GUEST_OK || (u32)r.rax != SVSM_SUCCESS) {
			step_fail(st, "call %u failed", i);
			break;
		}
	}
	s->query_loop_ns = now_ns() - t0;
	s->query_loop_calls = QUERY_LOOP;
	step_end(s, st);
}

/*
 * Run one step; if the machine is terminated meanwhile, the step ends there (the SVSM
 * stopped rather than go on) and the run is over.
 */
static void run_step(struct scenario *s, void (*fn)(struct scenario *s))
{
	static jmp_buf jb;
	static unsigned first;

	if (s->terminated) {
		return;
	}
	first = s->step_count;
	s->m->term_jmp = &jb;
	if (setjmp(jb) == 0) {
		fn(s);
		s->m->term_jmp = NULL;
		return;
	}
	s->m->term_jmp = NULL;
	s->terminated = true;
	/* The SVSM stopped in the middle of a request: its lock is still taken; nothing runs it again. */
	core_lock_reset();
	/* The step that was running did not reach step_end. */
	if (s->step_count > first) {
		struct scenario_step *st = &s->steps[s->step_count - 1];
		st->ns = now_ns() - st->ns;
		st->verdict = s->hostile ? STEP_TERMINATED : STEP_FAIL;
		st->passed = s->hostile;
		snprintf(st->detail, sizeof(st->detail), "machine terminated (set %u, code %u): %s", s->m->term_set,
			 s->m->term_code, s->m->term_detail[0] ? s->m->term_detail : "termination request");
		if (s->m->findings.count != s->findings_seen) {
			st->unsafe = true;
			st->verdict = STEP_FAIL;
			st->passed = false;
		}
	}
}

/* Record the steps a termination kept from running. */
static void skip_step(struct scenario *s, const char *name)
{
	struct scenario_step *st = &s->steps[s->step_count++];

	*st = (struct scenario_step){.name = name, .expect = "", .passed = true, .verdict = STEP_SKIPPED};
	snprintf(st->detail, sizeof(st->detail), "not run: the machine was terminated");
}

unsigned scenario_run(struct scenario *s, struct emu_machine *m)
{
	static const struct {
		const char *name;
		void (*fn)(struct scenario *s);
	} steps[] = {
		{"query protocols", step_query},
		{"pvalidate a range", step_pvalidate},
		{"create and delete a vCPU", step_vcpu},
		{"deposit and withdraw memory", step_memory},
		{"remap the calling area", step_remap},
		{"hostile requests are refused", step_rejections},
		{"call round trips", step_query_loop},
	};

	s->m = m;
	s->step_count = 0;
	s->terminated = false;
	s->findings_seen = m->findings.count;
	if (guest_init(&s->g, m) != 0) {
		return 1;
	}
	oracle_init(&s->oracle, m);
	for (unsigned i = 0; i < ARRAY_COUNT(steps); i++) {
		if (s->terminated) {
			skip_step(s, steps[i].name);
		} else {
			run_step(s, steps[i].fn);
		}
	}
	unsigned failed = 0;
	for (unsigned i = 0; i < s->step_count; i++) {
		failed += !s->steps[i].passed;
	}
	return failed;
}
