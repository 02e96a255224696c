/*
 * One small inline-assembly wrapper per x86 instruction the image executes: the SNP
 * instructions (PVALIDATE, RMPADJUST, VMGEXIT, by their bytes so no assembler support is
 * needed), MSR and port access, CPUID, TSC, RDRAND and the control registers.
 */
#ifndef SNP_INSN_H
#define SNP_INSN_H

#include <svsm/types.h>

#define MSR_EFER 0xC0000080u
#define MSR_FS_BASE 0xC0000100u
#define MSR_GS_BASE 0xC0000101u

static inline u64 insn_rdmsr(u32 msr)
{
	u32 lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void insn_wrmsr(u32 msr, u64 value)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)value), "d"((u32)(value >> 32)) : "memory");
}

/* CPUID leaf @leaf, sub-leaf @sub: out[0..3] = EAX, EBX, ECX, EDX. Under SEV-ES/SNP it raises #VC. */
static inline void insn_cpuid(u32 leaf, u32 sub, u32 out[4])
{
	__asm__ volatile("cpuid" : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3]) : "a"(leaf), "c"(sub));
}

/*
 * PVALIDATE (F2 0F 01 FF): RAX = virtual address, ECX = page size, EDX = validate.
 * Returns EAX; *@unchanged = CF (the Validated bit already had the requested value).
 */
static inline u32 insn_pvalidate(const void *va, u32 size, u32 validate, bool *unchanged)
{
	u32 rc;
	u8 cf;

	__asm__ volatile(".byte 0xf2, 0x0f, 0x01, 0xff\n\tsetc %1"
			 : "=a"(rc), "=qm"(cf)
			 : "a"(va), "c"(size), "d"(validate)
			 : "memory", "cc");
	*unchanged = cf != 0;
	return rc;
}

/* RMPADJUST (F3 0F 01 FE): RAX = virtual address, RCX = page size, RDX = VMPL | perms << 8 | VMSA << 16. */
static inline u32 insn_rmpadjust(const void *va, u64 size, u64 attrs)
{
	u32 rc;

	__asm__ volatile(".byte 0xf3, 0x0f, 0x01, 0xfe" : "=a"(rc) : "a"(va), "c"(size), "d"(attrs) : "memory", "cc");
	return rc;
}

/* VMGEXIT (F3 0F 01 D9, rep vmmcall): the hypervisor acts on the GHCB MSR / page. */
static inline void insn_vmgexit(void)
{
	__asm__ volatile(".byte 0xf3, 0x0f, 0x01, 0xd9" : : : "memory");
}

static inline void insn_outb(u16 port, u8 value)
{
	__asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline u8 insn_inb(u16 port)
{
	u8 v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void insn_outl(u16 port, u32 value)
{
	__asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

static inline u64 insn_rdtsc(void)
{
	u32 lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

/* RDRAND of 64 bits; false when the CPU had no entropy ready (CF = 0). */
static inline bool insn_rdrand(u64 *out)
{
	u8 ok;

	__asm__ volatile("rdrand %0\n\tsetc %1" : "=r"(*out), "=qm"(ok) : : "cc");
	return ok != 0;
}

/* Fill @buf from RDRAND, retrying a briefly exhausted generator as the APM recommends. */
static inline int insn_rdrand_fill(void *buf, size_t len)
{
	u8 *p = buf;

	while (len > 0) {
		u64 v = 0;
		bool ok = false;
		for (unsigned tries = 0; tries < 10 && !ok; tries++) {
			ok = insn_rdrand(&v);
		}
		if (!ok) {
			return -1;
		}
		size_t n = MIN(len, sizeof(v));
		__builtin_memcpy(p, &v, n);
		p += n;
		len -= n;
	}
	return 0;
}

static inline u64 insn_read_cr2(void)
{
	u64 v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline u64 insn_read_cr0(void)
{
	u64 v;

	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline u64 insn_read_cr4(void)
{
	u64 v;

	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline u64 insn_read_cr3(void)
{
	u64 v;

	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void insn_invlpg(const void *va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static inline SVSM_NORETURN void insn_halt_forever(void)
{
	for (;;) {
		__asm__ volatile("cli; hlt");
	}
}

#endif
