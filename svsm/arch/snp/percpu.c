/*
 * Per-CPU areas of the image, one per CPU (SNP_MAX_CPUS): a GDT with a TSS and IST
 * stacks, the stack an AP starts on, %gs = struct percpu, %fs = the CPU's copy of the
 * thread-local storage image. The BSP prepares every area; each CPU loads its own.
 */
#include <svsm/string.h>

#include "insn.h"
#include "snp.h"

/* Room for the image's TLS block (the emulator's current vCPU, the guest driver's bound vCPU) plus the TCB word. */
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
	u8 stack[PERCPU_STACK_SIZE] __attribute__((aligned(16))); /* unused by the BSP */
};

static struct percpu_area percpu_areas[SNP_MAX_CPUS] __attribute__((aligned(64)));
/* The BSP loaded its area: %gs is usable on every CPU from now on (APs load theirs first). */
static bool percpu_live;

/* The TLS image (svsm.ld): .tdata is copied, .tbss is zero. */
extern char __tls_start[], __tdata_end[], __tls_end[];

static struct percpu_area *percpu_area_of(const struct percpu *pc)
{
	return (struct percpu_area *)((u8 *)pc - __builtin_offsetof(struct percpu_area, pc));
}

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
			 : "m"(desc), "i"(PERCPU_SEL_CODE64), "i"(PERCPU_SEL_DATA), "r"(PERCPU_SEL_TSS)
			 : "rax", "memory");
}

/* A TLS block per CPU: the image's TLS data, then the TCB whose first word points to itself. */
static void percpu_prepare_tls(struct percpu_area *a)
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
}

/* See snp.h. */
struct percpu *percpu_prepare(u32 cpu_index, u32 apic_id)
{
	if (cpu_index >= SNP_MAX_CPUS) {
		return NULL;
	}
	struct percpu_area *a = &percpu_areas[cpu_index];

	memset(&a->pc, 0, sizeof(a->pc));
	memset(&a->tss, 0, sizeof(a->tss));
	a->pc.self = &a->pc;
	a->pc.cpu_index = cpu_index;
	a->pc.apic_id = apic_id;
	a->pc.stack_top = (u64)(a->stack + PERCPU_STACK_SIZE);
	for (unsigned i = 0; i < PERCPU_IST_COUNT; i++) {
		a->tss.ist[i] = (u64)(a->ist[i] + PERCPU_IST_SIZE);
	}
	a->tss.iopb = sizeof(a->tss);
	a->gdt[0] = 0;
	a->gdt[1] = 0x00af9a000000ffffull;
	a->gdt[2] = 0x00cf92000000ffffull;
	a->gdt[3] = percpu_tss_low((u64)&a->tss, sizeof(a->tss) - 1);
	a->gdt[4] = (u64)&a->tss >> 32;
	percpu_prepare_tls(a);
	percpu_set_state(&a->pc, PERCPU_PREPARED);
	return &a->pc;
}

/* See snp.h. */
void percpu_load(struct percpu *pc)
{
	struct percpu_area *a = percpu_area_of(pc);
	u64 tcb = (u64)(pc->tls_block + pc->tls_size);

	percpu_load_gdt(a);
	insn_wrmsr(MSR_GS_BASE, (u64)pc);
	insn_wrmsr(MSR_FS_BASE, tcb);
}

void percpu_init(u32 cpu_index, u32 apic_id)
{
	struct percpu *pc = percpu_prepare(cpu_index, apic_id);

	if (!pc) {
		insn_halt_forever();
	}
	percpu_load(pc);
	percpu_set_state(pc, PERCPU_STARTED);
	__atomic_store_n(&percpu_live, true, __ATOMIC_RELEASE);
}

u32 percpu_cpu_index(void)
{
	return __atomic_load_n(&percpu_live, __ATOMIC_ACQUIRE) ? percpu_this()->cpu_index : 0;
}

struct percpu *percpu_this(void)
{
	struct percpu *p;

	__asm__ volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

struct percpu *percpu_get(u32 cpu_index)
{
	if (cpu_index >= SNP_MAX_CPUS || percpu_state(&percpu_areas[cpu_index].pc) == PERCPU_UNUSED) {
		return NULL;
	}
	return &percpu_areas[cpu_index].pc;
}

struct percpu *percpu_find_apic(u32 apic_id)
{
	for (u32 i = 0; i < SNP_MAX_CPUS; i++) {
		struct percpu *pc = &percpu_areas[i].pc;
		if (percpu_state(pc) != PERCPU_UNUSED && pc->apic_id == apic_id) {
			return pc;
		}
	}
	return NULL;
}

u32 percpu_count(void)
{
	u32 n = 0;

	for (u32 i = 0; i < SNP_MAX_CPUS; i++) {
		if (percpu_state(&percpu_areas[i].pc) != PERCPU_UNUSED) {
			n++;
		}
	}
	return n;
}

void percpu_ist_bounds(enum percpu_ist ist, u64 *lo, u64 *hi)
{
	struct percpu_area *a = percpu_area_of(percpu_this());

	*lo = (u64)a->ist[ist - 1];
	*hi = *lo + PERCPU_IST_SIZE;
}

void percpu_tables(const struct percpu *pc, u64 *gdt_base, u16 *gdt_limit, u64 *tss_base, u32 *tss_limit)
{
	struct percpu_area *a = percpu_area_of(pc);

	*gdt_base = (u64)a->gdt;
	*gdt_limit = sizeof(a->gdt) - 1;
	*tss_base = (u64)&a->tss;
	*tss_limit = sizeof(a->tss) - 1;
}

void percpu_set_state(struct percpu *pc, enum percpu_state state)
{
	__atomic_store_n(&pc->state, (u32)state, __ATOMIC_RELEASE);
}

enum percpu_state percpu_state(const struct percpu *pc)
{
	return (enum percpu_state)__atomic_load_n(&pc->state, __ATOMIC_ACQUIRE);
}
