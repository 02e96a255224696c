/* Per-CPU areas of the image: a GDT with a TSS and IST stacks, %gs = struct percpu, %fs = thread-local storage. */
#include <svsm/string.h>

#include "insn.h"
#include "snp.h"

#define GDT_CODE64 0x08
#define GDT_DATA 0x10
#define GDT_TSS 0x18
/* Room for the image's TLS block (the emulator's current vCPU) plus the TCB word. */
#define PERCPU_TLS_MAX 256

struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iopb;
} SVSM_PACKED;
_Static_assert(sizeof(struct tss64) == 104, "64-bit TSS");

struct percpu_area {
	struct percpu pc;
	struct tss64 tss;
	u64 gdt[5]; /* null, code64, data, TSS (two slots) */
	u8 ist[PERCPU_IST_COUNT][PERCPU_IST_SIZE] __attribute__((aligned(16)));
	u8 tls[PERCPU_TLS_MAX] __attribute__((aligned(64)));
};

/* The image serves the startup vCPU only (docs/image.md). */
static struct percpu_area percpu_bsp __attribute__((aligned(64)));

/* The TLS image (svsm.ld): .tdata is copied, .tbss is zero. */
extern char __tls_start[], __tdata_end[], __tls_end[];

static u64 percpu_tss_low(u64 base, u32 limit)
{
	return (limit & 0xFFFFull) | ((base & 0xFFFFFFull) << 16) | (0x89ull << 40) | (((u64)(limit >> 16) & 0xF) << 48) |
	       (((base >> 24) & 0xFF) << 56);
}

static void percpu_load_gdt(struct percpu_area *a)
{
	struct {
		u16 limit;
		u64 base;
	} SVSM_PACKED desc = {sizeof(a->gdt) - 1, (u64)a->gdt};

	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movl %2, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "movl %%eax, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(desc), "i"(GDT_CODE64), "i"(GDT_DATA), "r"(GDT_TSS)
			 : "rax", "memory");
}

/* A TLS block per CPU: the image's TLS data, then the TCB whose first word points to itself. */
static void percpu_setup_tls(struct percpu_area *a)
{
	u64 size = (u64)(__tls_end - __tls_start);
	u64 data = (u64)(__tdata_end - __tls_start);

	if (size + 8 > PERCPU_TLS_MAX) {
		serial_printf("percpu: TLS image of %llu bytes does not fit\n", (unsigned long long)size);
		insn_halt_forever();
	}
	memset(a->tls, 0, sizeof(a->tls));
	memcpy(a->tls, __tls_start, data);
	u64 *tcb = (u64 *)(a->tls + size);
	*tcb = (u64)tcb;
	a->pc.tls_block = a->tls;
	a->pc.tls_size = size;
	insn_wrmsr(MSR_FS_BASE, (u64)tcb);
}

/* See snp.h. */
void percpu_init(u32 cpu_index, u32 apic_id)
{
	struct percpu_area *a = &percpu_bsp;

	memset(a, 0, sizeof(*a));
	a->pc.self = &a->pc;
	a->pc.cpu_index = cpu_index;
	a->pc.apic_id = apic_id;
	for (unsigned i = 0; i < PERCPU_IST_COUNT; i++) {
		a->tss.ist[i] = (u64)(a->ist[i] + PERCPU_IST_SIZE);
	}
	a->tss.iopb = sizeof(a->tss);
	a->gdt[1] = 0x00af9a000000ffffull;
	a->gdt[2] = 0x00cf92000000ffffull;
	a->gdt[3] = percpu_tss_low((u64)&a->tss, sizeof(a->tss) - 1);
	a->gdt[4] = (u64)&a->tss >> 32;
	percpu_load_gdt(a);
	insn_wrmsr(MSR_GS_BASE, (u64)&a->pc);
	percpu_setup_tls(a);
}

struct percpu *percpu_this(void)
{
	struct percpu *p;

	__asm__ volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

void percpu_ist_bounds(enum percpu_ist ist, u64 *lo, u64 *hi)
{
	*lo = (u64)percpu_bsp.ist[ist - 1];
	*hi = *lo + PERCPU_IST_SIZE;
}
