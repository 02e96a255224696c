/* In-image tests of the image's own machinery: arch binding, IDT and IST stacks, per-CPU/TLS, paging, fixups, clock. */
#include <svsm/arch.h>
#include <svsm/ghcb.h>
#include <svsm/log.h>
#include <svsm/string.h>

#include "insn.h"
#include "ktest.h"
#include "machine.h"
#include "nosnp.h"
#include "snp.h"

/*
 * Without SNP hardware the test image runs; its arch_* functions are bound at link time
 * to the emulated machine (emu/nosnp/arch_nosnp.c): a guest read is counted by the
 * modelled vCPU and RMPQUERY answers what the model's RMP holds.
 */
static void test_arch_bound_to_model(void)
{
	u32 r[4];
	u8 byte = 0;
	u8 perms = 0xEE;

	KCHECK(!boot_snp_active(), "SNP reported active under QEMU without SNP");
	insn_cpuid(0x80000000, 0, r);
	if (r[0] >= 0x8000001F) {
		insn_cpuid(0x8000001F, 0, r);
		KCHECK(!(r[0] & BIT(1)) || !(insn_rdmsr(SEV_STATUS_MSR) & BIT(2)), "SNP bit set");
	}
	struct ktest_env *e = ktest_boot();
	if (!e) {
		return;
	}
	const struct emu_config *cfg = &e->m->cfg;
	ktest_as_svsm_begin(e);
	struct emu_vcpu *v = emu_vcpu_current();
	u64 reads = v->svsm_guest_reads;
	KCHECK_EQ(arch_guest_read(cfg->caa_gpa, &byte, 1), 0);
	KCHECK_EQ(v->svsm_guest_reads, reads + 1);
	/* The calling area is the guest's (VMPL1 read/write), the SVSM region is not. */
	KCHECK_EQ(arch_rmpquery(cfg->caa_gpa, EMU_GUEST_VMPL, &perms), RMP_SUCCESS);
	KCHECK_EQ(perms, rmp_entry(&e->m->rmp, cfg->caa_gpa)->perms[EMU_GUEST_VMPL]);
	KCHECK(perms & VMPL_PERM_WRITE, "calling area not writable by VMPL1 (0x%x)", perms);
	KCHECK_EQ(arch_rmpquery(cfg->svsm_base, EMU_GUEST_VMPL, &perms), RMP_SUCCESS);
	KCHECK_EQ(perms, 0);
	KCHECK_EQ(arch_rmpquery(cfg->caa_gpa, 0, &perms), RMP_FAIL_PERMISSION);
	KCHECK_EQ(arch_rmpquery(cfg->caa_gpa, 4, &perms), RMP_FAIL_INPUT);
	/* Guest memory the guest has not validated yet. */
	KCHECK_EQ(arch_rmpquery(cfg->mem_size - PAGE_SIZE, EMU_GUEST_VMPL, &perms), RMP_FAULT);
	e->m->rmp.no_rmpquery = true;
	KCHECK_EQ(arch_rmpquery(cfg->caa_gpa, EMU_GUEST_VMPL, &perms), RMP_UNSUPPORTED);
	e->m->rmp.no_rmpquery = false;
	ktest_as_svsm_end(e);
}

/* INT3 goes through the IDT and resumes after the instruction. */
static void test_idt_breakpoint_resumes(void)
{
	struct idt_stats before, after;

	idt_get_stats(&before);
	__asm__ volatile("int3");
	__asm__ volatile("int3");
	idt_get_stats(&after);
	KCHECK_EQ(after.breakpoints, before.breakpoints + 2);
}

/* The NMI gate switches to its IST stack (a software INT 2 uses the same gate). */
static void test_idt_nmi_on_ist_stack(void)
{
	struct idt_stats st;
	u64 lo, hi;
	u64 here = (u64)&lo;

	__asm__ volatile("int $2");
	idt_get_stats(&st);
	percpu_ist_bounds(IST_NMI, &lo, &hi);
	KCHECK(st.nmis >= 1, "no NMI counted");
	KCHECK(st.nmi_rsp >= lo && st.nmi_rsp < hi, "NMI frame at 0x%llx, IST stack 0x%llx-0x%llx",
	       (unsigned long long)st.nmi_rsp, (unsigned long long)lo, (unsigned long long)hi);
	KCHECK(here < lo || here >= hi, "test itself runs on the IST stack");
}

/* A #PF inside a guarded access resumes at its fixup (what arch_guest_read relies on under SNP). */
static void test_guarded_access_fixup(void)
{
	struct idt_stats before, after;
	volatile u8 *unmapped = (volatile u8 *)(3ull << 39); /* PML4[3]: never mapped */
	static u8 mapped = 0x5A;
	u8 v = 0;

	idt_get_stats(&before);
	KCHECK_EQ(guard_read8(unmapped, &v), (u64)-1);
	KCHECK_EQ(guard_write8(unmapped, 1), (u64)-1);
	KCHECK_EQ(guard_read8(&mapped, &v), 0);
	KCHECK_EQ(v, 0x5A);
	KCHECK_EQ(guard_write8(&mapped, 0xA5), 0);
	KCHECK_EQ(mapped, 0xA5);
	idt_get_stats(&after);
	KCHECK_EQ(after.fixups, before.fixups + 2);
}

/* The per-CPU area is reachable through %gs and its TLS block through %fs. */
static void test_percpu_and_tls(void)
{
	struct percpu *pc = percpu_this();
	struct emu_vcpu marker;

	if (!KCHECK(pc && pc->self == pc, "%%gs:0 does not point at the per-CPU area")) {
		return;
	}
	KCHECK(pc->tls_size > 0 && pc->tls_size <= 256, "TLS size %llu", (unsigned long long)pc->tls_size);
	u64 fs_base = insn_rdmsr(MSR_FS_BASE);
	KCHECK_EQ(fs_base, (u64)(pc->tls_block + pc->tls_size));
	KCHECK_EQ(*(u64 *)fs_base, fs_base);
	/* The emulator's current vCPU is the image's one thread-local variable. */
	struct emu_vcpu *saved = emu_vcpu_current();
	emu_vcpu_set_current(&marker);
	u64 fs_word;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(fs_word));
	KCHECK(emu_vcpu_current() == &marker, "TLS variable lost its value");
	KCHECK_EQ(fs_word, fs_base);
	emu_vcpu_set_current(saved);
}

/* The direct map and the shared window alias the same physical page. */
static void test_paging_shared_window(void)
{
	static u8 page[4096] __attribute__((aligned(4096)));
	u64 gpa = (u64)page; /* the image is identity mapped */
	u8 *dmap = paging_phys_to_virt(gpa);
	u8 *shared = paging_map_shared(gpa);

	KCHECK(dmap && dmap != page, "no direct map for 0x%llx", (unsigned long long)gpa);
	KCHECK(shared != NULL, "shared window full");
	if (!dmap || !shared) {
		return;
	}
	KCHECK_EQ(paging_virt_to_phys(dmap), gpa);
	KCHECK_EQ(paging_virt_to_phys(shared), gpa);
	KCHECK_EQ(paging_map_shared(gpa), shared);
	shared[17] = 0xC3;
	KCHECK_EQ(page[17], 0xC3);
	KCHECK_EQ(dmap[17], 0xC3);
	KCHECK_EQ(paging_lookup(shared) & ~0xFFFull & 0x000FFFFFFFFFF000ull, gpa);
	paging_unmap_shared(shared);
	KCHECK_EQ(paging_lookup(shared), 0);
	KCHECK(paging_phys_to_virt(PAGING_DIRECT_MAP_LIMIT) == NULL, "direct map beyond its limit");
}

/* The TSC clock is calibrated and monotonic. */
static void test_clock_monotonic(void)
{
	u64 a = arch_clock_ns();
	for (volatile unsigned i = 0; i < 10000; i++) {
	}
	u64 b = arch_clock_ns();

	KCHECK(b > a, "clock did not advance (%llu, %llu)", (unsigned long long)a, (unsigned long long)b);
	KCHECK(clock_tsc_hz() >= 10000000ull, "TSC at %llu Hz", (unsigned long long)clock_tsc_hz());
}

static struct jump_buf test_jump;
static unsigned test_jump_depth;

static void test_jump_deep(unsigned depth)
{
	test_jump_depth = depth;
	if (depth < 5) {
		test_jump_deep(depth + 1);
	} else if (depth == 5) {
		jump_long(&test_jump, 42);
	}
}

/* jump_set/jump_long (how terminations return to the tests) keep callee-saved state. */
static void test_jump_returns_value(void)
{
	volatile u64 kept = 0x1234;
	int rc = jump_set(&test_jump);

	if (rc == 0) {
		test_jump_deep(0);
	}
	KCHECK_EQ(rc, 42);
	KCHECK_EQ(test_jump_depth, 5);
	KCHECK_EQ(kept, 0x1234);
}

/* The image's memcpy & co. (svsm/lib/string.c) and formatter. */
static void test_string_and_format(void)
{
	char buf[64];
	u8 a[16];

	for (unsigned i = 0; i < 16; i++) {
		a[i] = (u8)i;
	}
	memmove(a + 2, a, 8);
	KCHECK(a[2] == 0 && a[9] == 7 && a[10] == 10, "memmove overlap");
	KCHECK(memcmp("abc", "abd", 3) < 0, "memcmp order");
	int n = svsm_snprintf(buf, sizeof(buf), "%s-%04x-%llu-%d", "svsm", 0xbeu, 18446744073709551615ull, -5);
	KCHECK(strlen(buf) == (size_t)n && memcmp(buf, "svsm-00be-18446744073709551615--5", (size_t)n) == 0, "got %s",
	       buf);
}

/* RDRAND through the arch interface (TCG -cpu max and KVM hosts have it). */
static void test_random_source(void)
{
	u64 a = 0, b = 0;

	KCHECK_EQ(arch_random(&a, sizeof(a)), 0);
	KCHECK_EQ(arch_random(&b, sizeof(b)), 0);
	KCHECK(a != b, "two random words are equal");
}

static const struct ktest tests[] = {
	{"arch_bound_to_model", test_arch_bound_to_model},
	{"idt_breakpoint_resumes", test_idt_breakpoint_resumes},
	{"idt_nmi_on_ist_stack", test_idt_nmi_on_ist_stack},
	{"guarded_access_fixup", test_guarded_access_fixup},
	{"percpu_and_tls", test_percpu_and_tls},
	{"paging_shared_window", test_paging_shared_window},
	{"clock_monotonic", test_clock_monotonic},
	{"jump_returns_value", test_jump_returns_value},
	{"string_and_format", test_string_and_format},
	{"random_source", test_random_source},
};

const struct ktest_suite ktest_suite_arch = {"arch", tests, ARRAY_COUNT(tests)};
