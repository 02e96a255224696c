/*
 * The IDT, shared by every CPU: exception gates (NMI, #DF, #MC and #VC on their own IST
 * stacks, which each CPU's TSS provides), gates a platform adds for its interrupts,
 * dispatch with per-CPU counters, and fault fixups.
 */
#include <svsm/ghcb.h>

#include "insn.h"
#include "snp.h"

struct idt_gate {
	u16 offset_lo;
	u16 selector;
	u8 ist;
	u8 type;
	u16 offset_mid;
	u32 offset_hi;
	u32 reserved;
} SVSM_PACKED;
_Static_assert(sizeof(struct idt_gate) == 16, "64-bit IDT gate");

struct ex_entry {
	u64 insn;
	u64 fixup;
};

extern const u64 isr_table[32];
extern const struct ex_entry __ex_table_start[], __ex_table_end[];

/* 256 gates: exceptions 0-31 (idt_init), the rest absent unless a platform sets one. */
static struct idt_gate idt[256] __attribute__((aligned(16)));

#define IDT_VEC_NMI 2
#define IDT_VEC_BP 3
#define IDT_VEC_DF 8
#define IDT_VEC_GP 13
#define IDT_VEC_PF 14
#define IDT_VEC_MC 18
#define IDT_VEC_VC 29
#define VC_ERROR_NOT_VALIDATED 0x404

static u8 idt_ist_for(unsigned vec)
{
	switch (vec) {
	case IDT_VEC_NMI:
		return IST_NMI;
	case IDT_VEC_DF:
		return IST_DF;
	case IDT_VEC_MC:
		return IST_MC;
	case IDT_VEC_VC:
		return IST_VC;
	default:
		return 0;
	}
}

static struct idt_gate idt_gate_for(u64 h, u8 ist)
{
	return (struct idt_gate){
		.offset_lo = (u16)h,
		.selector = PERCPU_SEL_CODE64,
		.ist = ist,
		.type = 0x8E, /* present, DPL0, 64-bit interrupt gate */
		.offset_mid = (u16)(h >> 16),
		.offset_hi = (u32)(h >> 32),
	};
}

void idt_table(u64 *base, u16 *limit)
{
	*base = (u64)idt;
	*limit = sizeof(idt) - 1;
}

void idt_load(void)
{
	struct {
		u16 limit;
		u64 base;
	} SVSM_PACKED desc = {sizeof(idt) - 1, (u64)idt};
	__asm__ volatile("lidt %0" : : "m"(desc));
}

void idt_init(void)
{
	for (unsigned v = 0; v < 32; v++) {
		idt[v] = idt_gate_for(isr_table[v], idt_ist_for(v));
	}
	idt_load();
}

void idt_set_gate(unsigned vector, u64 handler)
{
	if (vector >= 32 && vector < ARRAY_COUNT(idt)) {
		idt[vector] = idt_gate_for(handler, 0);
	}
}

void idt_get_stats(struct idt_stats *out)
{
	*out = percpu_this()->idt;
}

u64 idt_fixup_for(u64 rip)
{
	for (const struct ex_entry *e = __ex_table_start; e < __ex_table_end; e++) {
		if (e->insn == rip) {
			return e->fixup;
		}
	}
	return 0;
}

/* Report what the CPU raised and stop the platform (the frame is not recoverable). */
static SVSM_NORETURN void idt_fatal(const struct idt_frame *f)
{
	/* Under SNP the serial port needs #VC; a fault inside #VC must not print. */
	if (!boot_snp_active() || f->vector != IDT_VEC_VC) {
		serial_printf("\nfatal: exception %llu error 0x%llx at rip 0x%llx rsp 0x%llx cr2 0x%llx\n",
			      (unsigned long long)f->vector, (unsigned long long)f->error_code,
			      (unsigned long long)f->rip, (unsigned long long)f->rsp, (unsigned long long)insn_read_cr2());
	}
	boot_fatal(TERM_SVSM_PANIC);
}

/* Called by isr_common (vectors.S) with the saved frame; returning resumes at f->rip. */
void idt_dispatch(struct idt_frame *f);
void idt_dispatch(struct idt_frame *f)
{
	struct idt_stats *counters = &percpu_this()->idt;
	u64 fixup;

	switch (f->vector) {
	case IDT_VEC_BP:
		counters->breakpoints++;
		return;
	case IDT_VEC_NMI:
		counters->nmis++;
		counters->nmi_rsp = (u64)f;
		return;
	case IDT_VEC_VC:
		/* A guarded access to a page that is not validated (#VC 0x404) fails softly. */
		fixup = f->error_code == VC_ERROR_NOT_VALIDATED ? idt_fixup_for(f->rip) : 0;
		if (fixup) {
			counters->fixups++;
			f->rip = fixup;
			return;
		}
		if (boot_snp_active() && vc_handle(f)) {
			return;
		}
		break;
	case IDT_VEC_GP:
	case IDT_VEC_PF:
		fixup = idt_fixup_for(f->rip);
		if (fixup) {
			counters->fixups++;
			f->rip = fixup;
			return;
		}
		break;
	default:
		break;
	}
	idt_fatal(f);
}
