/*
 * Application processors, common to both images: the AP's C entry (after start.S's
 * smp_ap_start64), the VMPL0 VMSA that starts an AP under SNP, and the BSP's bounded
 * waits. How an AP is started is the platform's: SNP AP creation (hw.c), INIT-SIPI-SIPI
 * without SNP (emu/nosnp/smp.c).
 */
#include <svsm/string.h>
#include <svsm/vmsa.h>

#include "insn.h"
#include "snp.h"

/* Segment attributes as the VMSA holds them: descriptor bits 40-47 in 0-7, 52-55 in 8-11. */
#define SMP_SEG_CODE64 0x0A9B /* present, DPL0, code exec/read accessed, L, G */
#define SMP_SEG_DATA 0x0C93   /* present, DPL0, data read/write accessed, D/B, G */
#define SMP_SEG_TSS_BUSY 0x008B
#define SMP_SEG_LDT 0x0082    /* the architectural reset value */
/* Reset values (AMD APM vol. 2, initial processor state). */
#define SMP_PAT_DEFAULT 0x0007040600070406ull
#define SMP_DR6_RESET 0xFFFF0FF0ull
#define SMP_DR7_RESET 0x400ull
#define SMP_MXCSR_RESET 0x1F80u
#define SMP_X87_FTW_RESET 0x5555u
#define SMP_X87_FCW_RESET 0x0040u
/* Bound of every wait, in iterations, should the TSC not advance. */
#define SMP_WAIT_SPINS_MAX 2000000000ull

/* See snp.h. */
void smp_ap_main(u32 cpu_index)
{
	struct percpu *pc = percpu_get(cpu_index);
	u32 expected = PERCPU_PREPARED;

	/*
	 * Only an area the BSP prepared for an AP and nobody started yet: a second start of
	 * the same context would run on a live CPU's stack.
	 */
	if (!pc || cpu_index == 0 ||
	    !__atomic_compare_exchange_n(&pc->state, &expected, (u32)PERCPU_STARTED, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		insn_halt_forever();
	}
	percpu_load(pc);
	idt_load();
	platform_ap_main(pc);
}

static void smp_vmsa_put(u8 *vmsa, unsigned off, const void *v, size_t len)
{
	memcpy(vmsa + off, v, len);
}

static void smp_vmsa_u64(u8 *vmsa, unsigned off, u64 v)
{
	smp_vmsa_put(vmsa, off, &v, sizeof(v));
}

static void smp_vmsa_seg(u8 *vmsa, unsigned off, u16 sel, u16 attrib, u32 limit, u64 base)
{
	smp_vmsa_put(vmsa, off, &sel, 2);
	smp_vmsa_put(vmsa, off + 2, &attrib, 2);
	smp_vmsa_put(vmsa, off + 4, &limit, 4);
	smp_vmsa_put(vmsa, off + 8, &base, 8);
}

/*
 * See snp.h. The AP starts where the trampoline of the no-SNP platform ends: 64-bit
 * mode, the BSP's page tables, its own GDT/TSS already loaded (so that a #VC taken
 * before smp_ap_main reloads them finds its IST stack), %gs/%fs bases set.
 */
void smp_build_vmsa(u8 *vmsa, const struct percpu *pc, u64 sev_features)
{
	u64 gdt_base, tss_base, idt_base;
	u16 gdt_limit, idt_limit;
	u32 tss_limit;
	u16 u16v;
	u32 u32v;

	percpu_tables(pc, &gdt_base, &gdt_limit, &tss_base, &tss_limit);
	idt_table(&idt_base, &idt_limit);
	memset(vmsa, 0, VMSA_SIZE);
	smp_vmsa_seg(vmsa, VMSA_CS, PERCPU_SEL_CODE64, SMP_SEG_CODE64, 0xFFFFFFFF, 0);
	smp_vmsa_seg(vmsa, VMSA_DS, PERCPU_SEL_DATA, SMP_SEG_DATA, 0xFFFFFFFF, 0);
	smp_vmsa_seg(vmsa, VMSA_ES, PERCPU_SEL_DATA, SMP_SEG_DATA, 0xFFFFFFFF, 0);
	smp_vmsa_seg(vmsa, VMSA_SS, PERCPU_SEL_DATA, SMP_SEG_DATA, 0xFFFFFFFF, 0);
	smp_vmsa_seg(vmsa, VMSA_FS, PERCPU_SEL_DATA, SMP_SEG_DATA, 0xFFFFFFFF, (u64)(pc->tls_block + pc->tls_size));
	smp_vmsa_seg(vmsa, VMSA_GS, PERCPU_SEL_DATA, SMP_SEG_DATA, 0xFFFFFFFF, (u64)pc);
	smp_vmsa_seg(vmsa, VMSA_GDTR, 0, 0, gdt_limit, gdt_base);
	smp_vmsa_seg(vmsa, VMSA_IDTR, 0, 0, idt_limit, idt_base);
	smp_vmsa_seg(vmsa, VMSA_LDTR, 0, SMP_SEG_LDT, 0xFFFF, 0);
	smp_vmsa_seg(vmsa, VMSA_TR, PERCPU_SEL_TSS, SMP_SEG_TSS_BUSY, tss_limit, tss_base);
	vmsa[VMSA_VMPL] = 0;
	vmsa[VMSA_CPL] = 0;
	smp_vmsa_u64(vmsa, VMSA_EFER, EFER_LME | EFER_LMA | EFER_SVME);
	smp_vmsa_u64(vmsa, VMSA_CR0, insn_read_cr0());
	smp_vmsa_u64(vmsa, VMSA_CR3, insn_read_cr3());
	smp_vmsa_u64(vmsa, VMSA_CR4, insn_read_cr4());
	smp_vmsa_u64(vmsa, VMSA_DR6, SMP_DR6_RESET);
	smp_vmsa_u64(vmsa, VMSA_DR7, SMP_DR7_RESET);
	smp_vmsa_u64(vmsa, VMSA_RFLAGS, 0x2);
	smp_vmsa_u64(vmsa, VMSA_RIP, (u64)smp_ap_start64);
	smp_vmsa_u64(vmsa, VMSA_RSP, pc->stack_top);
	smp_vmsa_u64(vmsa, VMSA_RDI, pc->cpu_index);
	smp_vmsa_u64(vmsa, VMSA_G_PAT, SMP_PAT_DEFAULT);
	smp_vmsa_u64(vmsa, VMSA_XCR0, 1);
	u32v = SMP_MXCSR_RESET;
	smp_vmsa_put(vmsa, VMSA_MXCSR, &u32v, 4);
	u16v = SMP_X87_FTW_RESET;
	smp_vmsa_put(vmsa, VMSA_X87_FTW, &u16v, 2);
	u16v = SMP_X87_FCW_RESET;
	smp_vmsa_put(vmsa, VMSA_X87_FCW, &u16v, 2);
	smp_vmsa_u64(vmsa, VMSA_SEV_FEATURES, sev_features);
}

bool smp_wait_ready(const struct percpu *pc, u64 timeout_ns)
{
	u64 start = clock_ns();

	for (u64 spins = 0; spins < SMP_WAIT_SPINS_MAX; spins++) {
		enum percpu_state s = percpu_state(pc);
		if (s == PERCPU_READY) {
			return true;
		}
		if (s == PERCPU_FAILED || clock_ns() - start > timeout_ns) {
			return false;
		}
		__builtin_ia32_pause();
	}
	return false;
}

void smp_delay_ns(u64 ns)
{
	u64 start = clock_ns();

	for (u64 spins = 0; spins < SMP_WAIT_SPINS_MAX && clock_ns() - start < ns; spins++) {
		__builtin_ia32_pause();
	}
}
