/*
 * In-image tests of the hardware platform's own code that runs without SNP: the guarded
 * guest-memory copies behind arch_guest_read/write on SNP (svsm/arch/snp/gmem.c,
 * guard.S) on a buffer with one page unmapped, and RMPQUERY's CPU-support check.
 */
#include <svsm/arch.h>
#include <svsm/string.h>

#include "insn.h"
#include "ktest.h"
#include "snp.h"

#define PTE_P 0x1ull
#define PTE_PS 0x80ull
#define PTE_LOW_FLAGS 0x1Full /* P, RW, US, PWT, PCD: what a 2 MiB entry gives its 4 KiB pages */
#define PTE_ADDR_MASK 0x000FFFFFFFFFF000ull

extern u64 boot_pml4[512];

/* Three pages A, B, C; B is the one the tests unmap. */
static u8 hole_buf[3][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static u64 hole_pt[512] __attribute__((aligned(PAGE_SIZE)));
static u64 *hole_pde;
static u64 hole_saved_pde;

static void hole_flush_tlb(void)
{
	u64 cr3 = insn_read_cr3();

	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

/*
 * Unmap page B (or, with @readonly, map it without write access): its 2 MiB mapping
 * becomes a page table with the same 4 KiB pages but B. The identity map and the direct
 * map share page directories (paging.c), so B changes in both; nothing but these tests
 * uses it. Without SNP there is no C-bit to keep.
 */
static bool hole_punch_as(bool readonly)
{
	u64 v = (u64)hole_buf[1];
	u64 *pdpt = (u64 *)(boot_pml4[(v >> 39) & 511] & PTE_ADDR_MASK);
	u64 *pd = (u64 *)(pdpt[(v >> 30) & 511] & PTE_ADDR_MASK);
	u64 *pde = &pd[(v >> 21) & 511];

	if (!KCHECK((*pde & (PTE_P | PTE_PS)) == (PTE_P | PTE_PS), "page B is not in a 2 MiB mapping (0x%llx)",
		    (unsigned long long)*pde)) {
		return false;
	}
	u64 base = *pde & PTE_ADDR_MASK & ~(PAGE_2M_SIZE - 1);
	u64 flags = *pde & PTE_LOW_FLAGS;
	for (unsigned i = 0; i < 512; i++) {
		hole_pt[i] = (base + (u64)i * PAGE_SIZE) | flags;
	}
	hole_pt[(v >> 12) & 511] = readonly ? (v | PTE_P) : 0;
	hole_pde = pde;
	hole_saved_pde = *pde;
	*pde = (u64)hole_pt | flags;
	hole_flush_tlb();
	return true;
}

static bool hole_punch(void)
{
	return hole_punch_as(false);
}

static void hole_fill(void)
{
	if (hole_pde) {
		*hole_pde = hole_saved_pde;
		hole_pde = NULL;
		hole_flush_tlb();
	}
}

static u64 hole_gpa(unsigned page, u64 offset)
{
	return (u64)hole_buf[page] + offset; /* the image is identity mapped: VA = GPA */
}

static bool all_bytes(const u8 *p, size_t len, u8 value)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != value) {
			return false;
		}
	}
	return true;
}

/* Fully mapped ranges copy both ways, across page boundaries, with and without a tail. */
static void test_guest_copy_mapped(void)
{
	static u8 src[PAGE_SIZE + 300];
	static u8 back[PAGE_SIZE + 300];

	memset(hole_buf, 0xAA, sizeof(hole_buf));
	for (size_t i = 0; i < sizeof(src); i++) {
		src[i] = (u8)(i * 7 + 1);
	}
	KCHECK_EQ(gmem_copy_to_guest(hole_gpa(0, 4000), src, sizeof(src)), 0);
	KCHECK(memcmp(hole_buf[0] + 4000, src, sizeof(src)) == 0, "guest memory differs after the write");
	KCHECK_EQ(hole_buf[0][3999], 0xAA);
	KCHECK_EQ(hole_buf[2][4000 + sizeof(src) - 2 * PAGE_SIZE], 0xAA);
	memset(back, 0, sizeof(back));
	KCHECK_EQ(gmem_copy_from_guest(back, hole_gpa(0, 4000), sizeof(back)), 0);
	KCHECK(memcmp(back, src, sizeof(back)) == 0, "read back differs");
	KCHECK_EQ(gmem_copy_from_guest(back, hole_gpa(1, 5), 3), 0);
	KCHECK(memcmp(back, src + (PAGE_SIZE - 4000) + 5, 3) == 0, "short read differs");
	/* Empty copies succeed; ranges past the direct map or wrapping fail. */
	KCHECK_EQ(gmem_copy_to_guest(~0ull, src, 0), 0);
	KCHECK_EQ(gmem_copy_from_guest(back, PAGING_DIRECT_MAP_LIMIT - 4, 8), (u64)-1);
	KCHECK_EQ(gmem_copy_to_guest(~0ull - 3, src, 8), (u64)-1);
}

/*
 * A write across an unmapped page fails and stores nothing: not the bytes before the
 * hole, not after it. The same range succeeds once the page is back.
 */
static void test_guest_write_hole_no_partial_write(void)
{
	static u8 src[256];
	struct idt_stats before, after;

	memset(hole_buf, 0xAA, sizeof(hole_buf));
	memset(src, 0x55, sizeof(src));
	if (!hole_punch()) {
		return;
	}
	KCHECK_EQ(paging_lookup(paging_phys_to_virt(hole_gpa(1, 0))), 0);
	KCHECK(paging_lookup(paging_phys_to_virt(hole_gpa(0, 0))) != 0, "page A unmapped too");
	idt_get_stats(&before);
	KCHECK_EQ(gmem_copy_to_guest(hole_gpa(0, PAGE_SIZE - 100), src, sizeof(src)), (u64)-1);
	KCHECK_EQ(gmem_copy_to_guest(hole_gpa(1, 8), src, 8), (u64)-1);
	KCHECK_EQ(gmem_copy_to_guest(hole_gpa(0, 0), src, sizeof(src)), 0); /* all of it in page A */
	idt_get_stats(&after);
	KCHECK(after.fixups >= before.fixups + 2, "the probes did not fault (%llu fixups)",
	       (unsigned long long)(after.fixups - before.fixups));
	hole_fill();
	/* Page A keeps its bytes except the mapped-only write at its start; B and C untouched. */
	KCHECK(all_bytes(hole_buf[0], sizeof(src), 0x55), "mapped write at A+0 missing");
	KCHECK(all_bytes(hole_buf[0] + sizeof(src), PAGE_SIZE - sizeof(src), 0xAA), "partial write into page A");
	KCHECK(all_bytes(hole_buf[1], PAGE_SIZE, 0xAA), "write reached page B");
	KCHECK(all_bytes(hole_buf[2], PAGE_SIZE, 0xAA), "write reached page C");
	KCHECK_EQ(gmem_copy_to_guest(hole_gpa(0, PAGE_SIZE - 100), src, sizeof(src)), 0);
	KCHECK(all_bytes(hole_buf[1], sizeof(src) - 100, 0x55), "write across A/B missing once B is mapped");
}

/* A read across an unmapped page fails and leaves the private buffer untouched. */
static void test_guest_read_hole_leaves_dst(void)
{
	static u8 dst[300];

	memset(hole_buf, 0x33, sizeof(hole_buf));
	memset(dst, 0xEE, sizeof(dst));
	if (!hole_punch()) {
		return;
	}
	KCHECK_EQ(gmem_copy_from_guest(dst, hole_gpa(0, PAGE_SIZE - 100), sizeof(dst)), (u64)-1);
	KCHECK_EQ(gmem_copy_from_guest(dst, hole_gpa(1, PAGE_SIZE - 8), 16), (u64)-1);
	KCHECK(all_bytes(dst, sizeof(dst), 0xEE), "a failed read changed the destination");
	KCHECK_EQ(gmem_copy_from_guest(dst, hole_gpa(2, 0), sizeof(dst)), 0);
	hole_fill();
	KCHECK(all_bytes(dst, sizeof(dst), 0x33), "read of page C wrong");
}

/*
 * The copy itself is guarded, not only the probe: a page that disappears after the
 * probe (the race the probe alone would leave) ends guard_copy with -1 at the hole, in
 * either direction, instead of a fatal #PF. Bytes before the hole have been copied.
 */
static void test_guarded_copy_stops_at_hole(void)
{
	static u8 src[256];
	static u8 dst[256];
	u8 tail[8];
	struct idt_stats before, after;
	u8 *a_end = paging_phys_to_virt(hole_gpa(0, PAGE_SIZE - 100));

	memset(hole_buf, 0xAA, sizeof(hole_buf));
	memset(src, 0x55, sizeof(src));
	memset(dst, 0xEE, sizeof(dst));
	if (!hole_punch()) {
		return;
	}
	idt_get_stats(&before);
	KCHECK_EQ(guard_copy(a_end, src, sizeof(src)), (u64)-1);
	KCHECK_EQ(guard_copy(dst, a_end, sizeof(dst)), (u64)-1);
	KCHECK_EQ(guard_copy(tail, a_end + 97, 7), (u64)-1); /* the byte loop */
	idt_get_stats(&after);
	hole_fill();
	KCHECK_EQ(after.fixups, before.fixups + 3);
	KCHECK(all_bytes(hole_buf[0] + PAGE_SIZE - 100, 96, 0x55), "guard_copy did not copy up to the hole");
	KCHECK(all_bytes(hole_buf[1], PAGE_SIZE, 0xAA), "guard_copy wrote into the unmapped page");
	KCHECK(all_bytes(dst, 96, 0x55), "guarded read did not copy up to the hole");
}

/*
 * What the probe cannot see, the guarded copy still catches: page B mapped read-only
 * passes the read probe, the store into it faults. The write fails with -1 and, as in
 * the race with a page taken away after the probe, page A holds the prefix before B.
 */
static void test_guest_write_fault_after_probe(void)
{
	static u8 src[256];

	memset(hole_buf, 0xAA, sizeof(hole_buf));
	memset(src, 0x55, sizeof(src));
	if (!hole_punch_as(true)) {
		return;
	}
	KCHECK_EQ(gmem_copy_to_guest(hole_gpa(0, PAGE_SIZE - 100), src, sizeof(src)), (u64)-1);
	hole_fill();
	KCHECK(all_bytes(hole_buf[0] + PAGE_SIZE - 100, 96, 0x55), "no prefix: the store fault was not where expected");
	KCHECK(all_bytes(hole_buf[1], PAGE_SIZE, 0xAA), "a read-only page was written");
}

/* A non-canonical address raises #GP, which the copy's fixup turns into -1 as well. */
static void test_guarded_copy_gp_noncanonical(void)
{
	u8 buf[16];

	KCHECK_EQ(guard_copy(buf, (const void *)0x0000800000000000ull, 8), (u64)-1);
	KCHECK_EQ(guard_copy((void *)0xFFFF7FFFFFFFFFF8ull, buf, 8), (u64)-1);
}

/*
 * RMPQUERY is executed only when CPUID 0x8000001F EAX bit 6 says the CPU has it; QEMU
 * without SNP does not, and the hardware path answers RMP_UNSUPPORTED without touching
 * *perms. (On a CPU that has it, outside SNP the instruction is not tried here.)
 */
static void test_rmpquery_needs_cpu_support(void)
{
	u32 r[4];
	bool cpu = false;
	u8 perms = 0xEE;

	insn_cpuid(0x80000000, 0, r);
	if (r[0] >= 0x8000001F) {
		insn_cpuid(0x8000001F, 0, r);
		cpu = (r[0] & BIT(6)) != 0;
	}
	KCHECK_EQ(gmem_rmpquery_supported(), cpu);
	if (cpu) {
		serial_printf("# rmpquery: this CPU reports RMPQUERY; without SNP it is not executed\n");
		return;
	}
	KCHECK_EQ(gmem_rmpquery(hole_gpa(0, 0), 1, &perms), RMP_UNSUPPORTED);
	KCHECK_EQ(gmem_rmpquery(hole_gpa(0, 0), 9, &perms), RMP_UNSUPPORTED);
	KCHECK_EQ(perms, 0xEE);
}

static const struct ktest tests[] = {
	{"guest_copy_mapped", test_guest_copy_mapped},
	{"guest_write_hole_no_partial_write", test_guest_write_hole_no_partial_write},
	{"guest_read_hole_leaves_dst", test_guest_read_hole_leaves_dst},
	{"guarded_copy_stops_at_hole", test_guarded_copy_stops_at_hole},
	{"guest_write_fault_after_probe", test_guest_write_fault_after_probe},
	{"guarded_copy_gp_noncanonical", test_guarded_copy_gp_noncanonical},
	{"rmpquery_needs_cpu_support", test_rmpquery_needs_cpu_support},
};

const struct ktest_suite ktest_suite_hw = {"hw", tests, ARRAY_COUNT(tests)};
