/*
 * In-image tests with every CPU of the VM (QEMU -smp 4, no SNP): the APs the no-SNP
 * platform started (emu/nosnp/smp.c) run on their own per-CPU areas, and each plays one
 * vCPU of the emulated machine, as a host thread does in the hosted emulator: concurrent
 * SVSM calls from all of them at once, then the invariant oracle at the quiescent point.
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/log.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

#include "insn.h"
#include "ktest.h"
#include "snp.h"

/* --- every CPU on its own area ---------------------------------------------------------- */

struct smp_seen {
	struct percpu *pc;
	u64 gs_base, fs_base, rsp;
	u32 lapic_index;       /* percpu cpu_index as seen through %gs */
	bool tls_kept;         /* the TLS variable kept this CPU's value across the barrier */
	u64 breakpoints_delta; /* this CPU's counter after one INT3 */
	u64 nmi_rsp, ist_lo, ist_hi;
};

static struct {
	struct smp_seen seen[SNP_MAX_CPUS];
	struct emu_vcpu markers[SNP_MAX_CPUS];
	struct nosnp_barrier barrier;
	u32 cpus;
} smp_areas;

static void smp_areas_worker(void *arg)
{
	struct percpu *pc = percpu_this();
	struct smp_seen *s = &smp_areas.seen[pc->cpu_index];
	struct idt_stats before, after;
	u64 local;

	s->pc = pc;
	s->lapic_index = pc->cpu_index;
	s->gs_base = insn_rdmsr(MSR_GS_BASE);
	s->fs_base = insn_rdmsr(MSR_FS_BASE);
	s->rsp = (u64)&local;
	/* The emulator's current vCPU is thread-local: every CPU sets its own, all at once. */
	emu_vcpu_set_current(&smp_areas.markers[pc->cpu_index]);
	nosnp_barrier_wait(&smp_areas.barrier, smp_areas.cpus);
	s->tls_kept = emu_vcpu_current() == &smp_areas.markers[pc->cpu_index];
	nosnp_barrier_wait(&smp_areas.barrier, smp_areas.cpus);
	emu_vcpu_set_current(NULL);
	/* Exceptions count on the CPU that takes them; an NMI lands on that CPU's IST stack. */
	idt_get_stats(&before);
	__asm__ volatile("int3");
	__asm__ volatile("int $2");
	idt_get_stats(&after);
	s->breakpoints_delta = after.breakpoints - before.breakpoints;
	s->nmi_rsp = after.nmi_rsp;
	percpu_ist_bounds(IST_NMI, &s->ist_lo, &s->ist_hi);
}

/* The MADT's CPUs all run, each on its own per-CPU area, GDT/TSS/IST, stack and TLS block. */
static void test_smp_cpus_on_own_areas(void)
{
	struct nosnp_smp_info info;

	nosnp_smp_get_info(&info);
	KCHECK(info.madt_found, "no ACPI MADT found");
	if (!KCHECK(info.cpus >= 2, "%u CPU running: the suite needs QEMU -smp 2 or more (ci/test-qemu.py: -smp 4)",
		    info.cpus)) {
		return;
	}
	KCHECK_EQ(info.cpus, MIN(info.madt_cpus, (u32)SNP_MAX_CPUS));
	KCHECK_EQ(percpu_count(), info.cpus);
	memset(&smp_areas, 0, sizeof(smp_areas));
	smp_areas.cpus = info.cpus;
	nosnp_smp_run(smp_areas_worker, NULL);
	for (u32 i = 0; i < info.cpus; i++) {
		const struct smp_seen *s = &smp_areas.seen[i];
		if (!KCHECK(s->pc != NULL, "CPU %u never ran the work", i)) {
			continue;
		}
		KCHECK(s->pc == percpu_get(i) && s->pc->self == s->pc, "CPU %u: %%gs:0 is not its area", i);
		KCHECK_EQ(s->lapic_index, i);
		KCHECK_EQ(s->gs_base, (u64)s->pc);
		KCHECK_EQ(s->fs_base, (u64)(s->pc->tls_block + s->pc->tls_size));
		KCHECK(s->tls_kept, "CPU %u: its thread-local vCPU was overwritten by another CPU", i);
		KCHECK_EQ(s->breakpoints_delta, 1);
		KCHECK(s->nmi_rsp >= s->ist_lo && s->nmi_rsp < s->ist_hi, "CPU %u: NMI frame 0x%llx outside its IST stack", i,
		       (unsigned long long)s->nmi_rsp);
		if (i > 0) {
			KCHECK(s->rsp < s->pc->stack_top && s->rsp >= s->pc->stack_top - PERCPU_STACK_SIZE,
			       "CPU %u runs on 0x%llx, not on its stack", i, (unsigned long long)s->rsp);
		}
		for (u32 j = 0; j < i; j++) {
			KCHECK(smp_areas.seen[j].pc != s->pc && smp_areas.seen[j].fs_base != s->fs_base &&
				       smp_areas.seen[j].ist_lo != s->ist_lo,
			       "CPUs %u and %u share per-CPU state", j, i);
		}
	}
}

/* --- the VMPL0 VMSA the SNP platform gives an AP ---------------------------------------- */

static u64 vmsa_u64(const u8 *v, unsigned off)
{
	u64 x;

	memcpy(&x, v + off, 8);
	return x;
}

/*
 * Checked here because the production image cannot run without SNP: the VMSA hw.c hands
 * to SNP AP creation starts the AP at smp_ap_start64 in 64-bit mode on this CPU's page
 * tables, with its own stack, GDT, TSS, %gs/%fs, the shared IDT and VMPL 0.
 */
static void test_smp_ap_vmsa(void)
{
	static u8 vmsa[VMSA_SIZE] __attribute__((aligned(4096)));
	const struct percpu *pc = percpu_get(1);
	u64 gdt, tss, idt;
	u16 gdt_limit, idt_limit, sel, attr;
	u32 tss_limit, limit;

	if (!KCHECK(pc != NULL, "no AP area")) {
		return;
	}
	percpu_tables(pc, &gdt, &gdt_limit, &tss, &tss_limit);
	idt_table(&idt, &idt_limit);
	smp_build_vmsa(vmsa, pc, 0x1);
	KCHECK_EQ(vmsa[VMSA_VMPL], 0);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_EFER), EFER_LME | EFER_LMA | EFER_SVME);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_CR3), insn_read_cr3());
	KCHECK(vmsa_u64(vmsa, VMSA_CR0) & BIT(31), "paging off in the AP's CR0");
	KCHECK(vmsa_u64(vmsa, VMSA_CR4) & BIT(5), "PAE off in the AP's CR4");
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_RIP), (u64)smp_ap_start64);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_RSP), pc->stack_top);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_RSP) & 0xF, 0);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_RDI), 1);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_RFLAGS), 2);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_SEV_FEATURES), 1);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_XCR0), 1);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_G_PAT), 0x0007040600070406ull);
	memcpy(&sel, vmsa + VMSA_CS, 2);
	memcpy(&attr, vmsa + VMSA_CS + 2, 2);
	KCHECK_EQ(sel, PERCPU_SEL_CODE64);
	KCHECK(attr & BIT(9) && !(attr & BIT(10)) && (attr & 0x80), "CS attributes 0x%x: not present 64-bit code", attr);
	memcpy(&sel, vmsa + VMSA_TR, 2);
	memcpy(&limit, vmsa + VMSA_TR + 4, 4);
	KCHECK_EQ(sel, PERCPU_SEL_TSS);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_TR + 8), tss);
	KCHECK_EQ(limit, tss_limit);
	memcpy(&limit, vmsa + VMSA_GDTR + 4, 4);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_GDTR + 8), gdt);
	KCHECK_EQ(limit, gdt_limit);
	memcpy(&limit, vmsa + VMSA_IDTR + 4, 4);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_IDTR + 8), idt);
	KCHECK_EQ(limit, idt_limit);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_GS + 8), (u64)pc);
	KCHECK_EQ(vmsa_u64(vmsa, VMSA_FS + 8), (u64)(pc->tls_block + pc->tls_size));
}

/* --- concurrent SVSM calls from every CPU ----------------------------------------------- */

#define SMP_ROUNDS 12
#define SMP_QUERIES_PER_ROUND 8
#define SMP_OWN_PAGES 8    /* each CPU's own range, invalidated and validated every round */
#define SMP_SHARED_PAGES 4 /* one range every CPU invalidates and validates: claims collide */
#define SMP_SHARED_BURST 64 /* PVALIDATEs of the shared range back to back, all CPUs at once */
#define SMP_VCPU_EVERY 3   /* every third round each CPU creates and deletes one more vCPU */
#define SMP_EXTRA_APIC 64  /* the extra vCPU of CPU i has APIC ID 64 + i */

struct smp_cpu_result {
	u64 calls;    /* SVSM calls that ended as expected */
	u64 failures; /* calls that did not */
	char first[160];
};

static struct {
	struct ktest_env *e;
	u32 cpus;
	u64 own[SNP_MAX_CPUS];
	u64 shared;
	u64 extra_vmsa[SNP_MAX_CPUS], extra_caa[SNP_MAX_CPUS];
	struct smp_cpu_result res[SNP_MAX_CPUS];
	struct nosnp_barrier start;
} smp_calls;

static bool smp_expect(struct smp_cpu_result *r, bool ok, const char *what, u32 round, u64 got)
{
	if (ok) {
		r->calls++;
		return true;
	}
	if (r->failures++ == 0) {
		svsm_snprintf(r->first, sizeof(r->first), "%s in round %u: got 0x%llx", what, round, (unsigned long long)got);
	}
	return false;
}

/* PVALIDATE [@gpa, +@pages) with 4 KiB entries that ignore "unchanged": another CPU may have done it first. */
static u64 smp_pvalidate_shared(struct emu_guest *g, u32 apic, u64 gpa, u32 pages, bool validate)
{
	struct guest_vcpu *gv = guest_vcpu(g, apic);
	u64 entries[SMP_SHARED_PAGES];
	struct svsm_list_hdr hdr = {.entries = (u16)pages, .next = 0};

	if (!gv || pages > SMP_SHARED_PAGES) {
		return ~0ull;
	}
	u64 list = gv->caa_gpa + offsetof(struct svsm_ca, buffer);
	for (u32 i = 0; i < pages; i++) {
		entries[i] = (gpa + (u64)i * PAGE_SIZE) | PAGE_SIZE_4K | (validate ? SVSM_PVAL_VALIDATE : 0) |
			     SVSM_PVAL_IGNORE_CF;
	}
	if (guest_write(g, list, &hdr, sizeof(hdr)) != 0 || guest_write(g, list + sizeof(hdr), entries, 8ull * pages) != 0) {
		return ~0ull;
	}
	return guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_PVALIDATE, list, 0, 0, NULL);
}

/*
 * Linux's CPU hotplug in miniature, from this CPU: a VMSA for the extra vCPU, CREATE_VCPU,
 * SNP AP creation, one call made on that vCPU, AP destroy, DELETE_VCPU (the page comes
 * back to the guest and is used again next time).
 */
static void smp_vcpu_churn(struct emu_guest *g, u32 cpu, u32 round, struct smp_cpu_result *r)
{
	u32 apic = SMP_EXTRA_APIC + cpu;
	u64 vmsa = smp_calls.extra_vmsa[cpu];
	u64 caa = smp_calls.extra_caa[cpu];
	u8 img[VMSA_SIZE];

	guest_vmsa_template(img, g->vmpl, EMU_SEV_FEATURES);
	if (!smp_expect(r, guest_write(g, vmsa, img, sizeof(img)) == 0, "VMSA page not writable", round, 0)) {
		return;
	}
	u64 rc = guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_CREATE_VCPU, vmsa, caa, apic, NULL);
	if (!smp_expect(r, rc == SVSM_SUCCESS, "CREATE_VCPU", round, rc)) {
		return;
	}
	if (!smp_expect(r, guest_start_vcpu(g, apic, vmsa, caa) == 0, "AP creation of the new vCPU", round, 0)) {
		return;
	}
	struct guest_regs q = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
	int st = guest_call(g, apic, &q);
	smp_expect(r, st == GUEST_OK && (u32)q.rax == SVSM_SUCCESS && q.rcx == ((1ull << 32) | 1),
		   "a call on the new vCPU", round, st == GUEST_OK ? q.rax : (u64)st);
	if (!smp_expect(r, guest_ap_destroy(g, apic) == 0, "AP destroy", round, 0)) {
		return;
	}
	rc = guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0, NULL);
	smp_expect(r, rc == SVSM_SUCCESS, "DELETE_VCPU", round, rc);
}

/* What every CPU does at once, on the emulated vCPU whose APIC ID is its cpu index. */
static void smp_calls_worker(void *arg)
{
	u32 cpu = percpu_this()->cpu_index;
	struct smp_cpu_result *r = &smp_calls.res[cpu];
	struct emu_guest *g = &smp_calls.e->g;

	/* Start together: the wake-up IPIs reach the CPUs one after the other. */
	nosnp_barrier_wait(&smp_calls.start, smp_calls.cpus);
	guest_bind_thread(g, cpu);
	for (u32 i = 0; i < SMP_SHARED_BURST; i++) {
		u64 rc = smp_pvalidate_shared(g, cpu, smp_calls.shared, SMP_SHARED_PAGES, (i + cpu) % 2 == 1);
		smp_expect(r, rc == SVSM_SUCCESS, "PVALIDATE of the shared range (burst)", i, rc);
	}
	for (u32 round = 0; round < SMP_ROUNDS; round++) {
		for (u32 q = 0; q < SMP_QUERIES_PER_ROUND; q++) {
			struct guest_regs out;
			u64 rc = guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL, (u64)q % 3, 0, 0, &out);
			/* Protocol 0 (core) answers versions 1-1; "protocol 0 version 0" and 2 are unsupported (RCX 0). */
			u64 want = q % 3 == 1 ? (1ull << 32) | 1 : 0;
			smp_expect(r, rc == SVSM_SUCCESS && out.rcx == want, "QUERY_PROTOCOL", round, rc == SVSM_SUCCESS ? out.rcx : rc);
		}
		u64 rc = guest_pvalidate_range(g, smp_calls.own[cpu], SMP_OWN_PAGES, false);
		smp_expect(r, rc == SVSM_SUCCESS, "PVALIDATE (invalidate) of its own range", round, rc);
		rc = guest_pvalidate_range(g, smp_calls.own[cpu], SMP_OWN_PAGES, true);
		smp_expect(r, rc == SVSM_SUCCESS, "PVALIDATE (validate) of its own range", round, rc);
		rc = smp_pvalidate_shared(g, cpu, smp_calls.shared, SMP_SHARED_PAGES, (round + cpu) % 2 == 1);
		smp_expect(r, rc == SVSM_SUCCESS, "PVALIDATE of the shared range", round, rc);
		if (round % SMP_VCPU_EVERY == 0) {
			smp_vcpu_churn(g, cpu, round, r);
		}
	}
	/* Leave the shared range validated, whoever goes last. */
	u64 rc = smp_pvalidate_shared(g, cpu, smp_calls.shared, SMP_SHARED_PAGES, true);
	smp_expect(r, rc == SVSM_SUCCESS, "final PVALIDATE of the shared range", SMP_ROUNDS, rc);
	guest_bind_thread(NULL, 0);
}

/* @pages pages from @gpa: validated and fully the guest's (VMPL1 RWX), none a VMSA. */
static bool smp_pages_granted(struct ktest_env *e, u64 gpa, u64 pages, const char *what)
{
	for (u64 p = 0; p < pages; p++) {
		const struct rmp_entry *en = rmp_entry(&e->m->rmp, gpa + p * PAGE_SIZE);
		if (!KCHECK(en->validated && !en->vmsa && en->perms[e->g.vmpl] == VMPL_PERM_ALL,
			    "%s page 0x%llx: validated %u, VMSA %u, VMPL%u mask 0x%x", what,
			    (unsigned long long)(gpa + p * PAGE_SIZE), en->validated, en->vmsa, e->g.vmpl,
			    en->perms[e->g.vmpl])) {
			return false;
		}
	}
	return true;
}

/* A page for a VMSA: not 2 MiB aligned (SNP erratum). */
static u64 smp_vmsa_page(struct emu_guest *g)
{
	u64 p = guest_alloc_pages(g, 1);

	return p && IS_ALIGNED(p, PAGE_2M_SIZE) ? guest_alloc_pages(g, 1) : p;
}

/*
 * All CPUs call the SVSM at once, each as its own vCPU: QUERY_PROTOCOL, PVALIDATE of
 * its own pages and of a range all CPUs share (claims collide: SVSM_ERR_BUSY, retried by
 * the guest driver), CREATE_VCPU/DELETE_VCPU of one more vCPU each. Afterwards, with
 * every CPU back at rest: every call ended as expected, the oracle is clean, the pages
 * and the vCPU table are as the calls left them, and the SVSM dispatched exactly the
 * calls the guest made.
 */
static void test_smp_concurrent_calls(void)
{
	struct nosnp_smp_info info;
	struct svsm_counters before, after;

	nosnp_smp_get_info(&info);
	if (!KCHECK(info.cpus >= 2, "%u CPU running: the suite needs QEMU -smp 2 or more", info.cpus)) {
		return;
	}
	struct ktest_env *e = ktest_boot();
	if (!e) {
		return;
	}
	memset(&smp_calls, 0, sizeof(smp_calls));
	smp_calls.e = e;
	smp_calls.cpus = info.cpus;
	/* The guest brings its APs up the Linux way; vCPU i is played by CPU i. */
	for (u32 cpu = 1; cpu < info.cpus; cpu++) {
		if (!KCHECK_EQ(guest_create_vcpu(&e->g, cpu, NULL), SVSM_SUCCESS)) {
			return;
		}
	}
	for (u32 cpu = 0; cpu < info.cpus; cpu++) {
		smp_calls.own[cpu] = guest_alloc_pages(&e->g, SMP_OWN_PAGES);
		smp_calls.extra_vmsa[cpu] = smp_vmsa_page(&e->g);
		smp_calls.extra_caa[cpu] = guest_alloc_pages(&e->g, 1);
		if (!KCHECK(smp_calls.own[cpu] && smp_calls.extra_vmsa[cpu] && smp_calls.extra_caa[cpu],
			    "guest memory pool exhausted")) {
			return;
		}
	}
	smp_calls.shared = guest_alloc_pages(&e->g, SMP_SHARED_PAGES);
	if (!KCHECK(smp_calls.shared != 0, "guest memory pool exhausted") ||
	    !KCHECK(oracle_check(&e->oracle, e->m, e->report, sizeof(e->report)) == 0, "oracle before: %s", e->report)) {
		return;
	}
	svsm_get_counters(&before);
	u64 driver_calls = guest_calls(&e->g);
	u64 driver_retries = guest_retries(&e->g);
	u64 t0 = clock_ns();

	nosnp_smp_run(smp_calls_worker, NULL);

	u64 ms = (clock_ns() - t0) / 1000000;
	svsm_get_counters(&after);
	driver_calls = guest_calls(&e->g) - driver_calls;
	driver_retries = guest_retries(&e->g) - driver_retries;
	u64 ok_calls = 0;
	for (u32 cpu = 0; cpu < info.cpus; cpu++) {
		const struct smp_cpu_result *r = &smp_calls.res[cpu];
		KCHECK(r->failures == 0, "CPU %u: %llu of its calls failed, first: %s", cpu, (unsigned long long)r->failures,
		       r->first);
		KCHECK(r->calls > 0, "CPU %u made no call", cpu);
		ok_calls += r->calls;
	}
	/* The quiescent point: the oracle and the state the calls must have left. */
	KCHECK(oracle_check(&e->oracle, e->m, e->report, sizeof(e->report)) == 0, "oracle: %s", e->report);
	for (u32 cpu = 0; cpu < info.cpus; cpu++) {
		smp_pages_granted(e, smp_calls.own[cpu], SMP_OWN_PAGES, "own range");
		smp_pages_granted(e, smp_calls.extra_vmsa[cpu], 1, "deleted VMSA");
		const struct svsm_cpu *c = cpu_find_apic(cpu);
		KCHECK(c && c->ghcb_ready && c->requests > 0, "no SVSM context with a GHCB served vCPU %u", cpu);
		const struct svsm_vcpu *v = vcpu_find_apic(cpu);
		KCHECK(v && !vcpu_is_busy(v), "vCPU %u missing or still marked busy", cpu);
		KCHECK(vcpu_find_apic(SMP_EXTRA_APIC + cpu) == NULL, "extra vCPU %u still in the table", SMP_EXTRA_APIC + cpu);
	}
	smp_pages_granted(e, smp_calls.shared, SMP_SHARED_PAGES, "shared range");
	struct svsm_vcpu *list[2 * SNP_MAX_CPUS];
	KCHECK_EQ(vcpu_list(list, ARRAY_COUNT(list)), info.cpus);
	/* Every attempt the guest made was dispatched once: no lost or doubled call, no spurious entry. */
	KCHECK_EQ(after.calls_by_protocol[SVSM_PROTOCOL_CORE] - before.calls_by_protocol[SVSM_PROTOCOL_CORE], driver_calls);
	KCHECK_EQ(after.spurious_entries, before.spurious_entries);
	serial_printf("# smp: %u CPUs, %llu checks passed, %llu SVSM calls (%llu retries after BUSY/INCOMPLETE), %llu ms\n",
		      info.cpus, (unsigned long long)ok_calls, (unsigned long long)driver_calls,
		      (unsigned long long)driver_retries, (unsigned long long)ms);
}

static const struct ktest tests[] = {
	{"smp_cpus_on_own_areas", test_smp_cpus_on_own_areas},
	{"smp_ap_vmsa", test_smp_ap_vmsa},
	{"smp_concurrent_calls", test_smp_concurrent_calls},
};

const struct ktest_suite ktest_suite_smp = {"smp", tests, ARRAY_COUNT(tests)};
