/*
 * Page tables of the image: the identity map of the first 4 GiB built by start.S (the
 * image runs there), the same 4 GiB as the direct map of guest memory at 1 TiB (so that
 * GPA 0 is not a NULL pointer), and a window of 4 KiB slots mapped without the C-bit
 * for shared pages such as GHCBs (one lock: every CPU maps its GHCB there).
 */
#include <svsm/spinlock.h>
#include <svsm/string.h>

#include "insn.h"
#include "snp.h"

#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define PTE_ADDR_MASK 0x000FFFFFFFFFF000ull
#define PAGING_DMAP_BASE (2ull << 39)   /* PML4[2]: 1 TiB */
#define PAGING_WINDOW_BASE (1ull << 39) /* PML4[1]: 512 GiB */
#define PAGING_WINDOW_SLOTS 512

extern u64 boot_pml4[512];

static u64 window_pdpt[512] __attribute__((aligned(4096)));
static u64 window_pd[512] __attribute__((aligned(4096)));
static u64 window_pt[PAGING_WINDOW_SLOTS] __attribute__((aligned(4096)));
static u64 paging_cbit;
/* A leaf: guards the slots of the shared window. */
static struct spinlock window_lock;

static void paging_flush_all(void)
{
	u64 cr3 = insn_read_cr3();

	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

/* @cbit_mask: the C-bit as a PTE bit under SNP (private mappings), 0 without SNP. */
void paging_init(u64 cbit_mask)
{
	paging_cbit = cbit_mask;
	/* The direct map shares start.S's page directories: same pages, second address. */
	boot_pml4[2] = boot_pml4[0];
	memset(window_pdpt, 0, sizeof(window_pdpt));
	memset(window_pd, 0, sizeof(window_pd));
	memset(window_pt, 0, sizeof(window_pt));
	window_pdpt[0] = (u64)window_pd | PTE_P | PTE_RW | cbit_mask;
	window_pd[0] = (u64)window_pt | PTE_P | PTE_RW | cbit_mask;
	boot_pml4[1] = (u64)window_pdpt | PTE_P | PTE_RW | cbit_mask;
	paging_flush_all();
}

void *paging_phys_to_virt(u64 gpa)
{
	if (gpa >= PAGING_DIRECT_MAP_LIMIT) {
		return NULL;
	}
	return (void *)(PAGING_DMAP_BASE + gpa);
}

u64 paging_virt_to_phys(const void *va)
{
	u64 v = (u64)va;

	if (v >= PAGING_DMAP_BASE && v < PAGING_DMAP_BASE + PAGING_DIRECT_MAP_LIMIT) {
		return v - PAGING_DMAP_BASE;
	}
	if (v >= PAGING_WINDOW_BASE && v < PAGING_WINDOW_BASE + PAGING_WINDOW_SLOTS * PAGE_SIZE) {
		u64 pte = window_pt[(v - PAGING_WINDOW_BASE) >> PAGE_SHIFT];
		return (pte & PTE_ADDR_MASK & ~paging_cbit) | (v & PAGE_MASK);
	}
	/* The image itself is identity mapped. */
	return v;
}

/* See snp.h: one slot per shared page; a page already in the window keeps its slot. */
void *paging_map_shared(u64 gpa)
{
	int free_slot = -1;
	void *va = NULL;

	if (!IS_ALIGNED(gpa, PAGE_SIZE) || gpa >= (1ull << 46)) {
		return NULL;
	}
	spin_lock(&window_lock);
	for (int i = 0; i < PAGING_WINDOW_SLOTS; i++) {
		if (window_pt[i] == 0) {
			if (free_slot < 0) {
				free_slot = i;
			}
		} else if ((window_pt[i] & PTE_ADDR_MASK) == gpa) {
			va = (void *)(PAGING_WINDOW_BASE + (u64)i * PAGE_SIZE);
			break;
		}
	}
	if (!va && free_slot >= 0) {
		va = (void *)(PAGING_WINDOW_BASE + (u64)free_slot * PAGE_SIZE);
		/* No C-bit: the hypervisor must see what the SVSM writes. A slot was never mapped
		 * before (or was unmapped by the CPU now mapping it), so no TLB holds it. */
		window_pt[free_slot] = gpa | PTE_P | PTE_RW;
		insn_invlpg(va);
	}
	spin_unlock(&window_lock);
	return va;
}

void paging_unmap_shared(void *va)
{
	u64 v = (u64)va;

	if (v < PAGING_WINDOW_BASE || v >= PAGING_WINDOW_BASE + PAGING_WINDOW_SLOTS * PAGE_SIZE) {
		return;
	}
	spin_lock(&window_lock);
	window_pt[(v - PAGING_WINDOW_BASE) >> PAGE_SHIFT] = 0;
	insn_invlpg(va);
	spin_unlock(&window_lock);
}

/* See snp.h: start.S's page directories are contiguous, one 2 MiB entry per index. */
void paging_set_uncached(u64 pa)
{
	extern u64 boot_pd[4 * 512];

	if (pa >= PAGING_DIRECT_MAP_LIMIT) {
		return;
	}
	boot_pd[pa >> PAGE_2M_SHIFT] |= PTE_PCD | PTE_PWT;
	paging_flush_all();
}

/* Walk the tables for @va: the leaf entry, or 0 if not mapped. */
u64 paging_lookup(const void *va)
{
	u64 v = (u64)va;
	const u64 *table = boot_pml4;
	static const unsigned shifts[4] = {39, 30, 21, 12};

	for (unsigned level = 0; level < 4; level++) {
		u64 e = table[(v >> shifts[level]) & 511];
		if (!(e & PTE_P)) {
			return 0;
		}
		if (level == 3 || (level > 0 && (e & PTE_PS))) {
			return e;
		}
		/* Tables live in the identity-mapped image. */
		table = (const u64 *)(e & PTE_ADDR_MASK & ~paging_cbit);
	}
	return 0;
}
