/*
 * Private interfaces of the SNP image (svsm/arch/snp): boot, per-CPU areas, the IDT,
 * paging, the serial port, guarded guest-memory access and the platform entry. The
 * platform is bound when linking: build/svsm.elf links the SNP hardware platform
 * (hw.c), the test image links the no-SNP platform of emu/nosnp/ instead. Core code
 * never includes this header.
 */
#ifndef SNP_SNP_H
#define SNP_SNP_H

#include <svsm/core.h>
#include <svsm/types.h>

/* --- image layout (svsm.ld, start.S) --------------------------------------------- */

/* How the image was entered (start.S). */
enum boot_entry {
	BOOT_ENTRY_PVH = 1, /* QEMU -kernel / PVH: no SNP assumed by the page tables */
	BOOT_ENTRY_SNP = 2, /* SNP launch: initial VMSA at start_snp32, C-bit from the CPUID page */
};

/*
 * The most CPUs the image serves: one per-CPU area each (percpu.c, in .bss). A launch
 * that names more vCPUs is refused at boot (hw.c).
 */
#define SNP_MAX_CPUS 64

/*
 * What an SNP launch tells the image, measured with it (the .snp_launch section at a
 * fixed offset; `make launch-config` and docs/image.md describe who fills it). Values
 * are defaults chosen at link time; a launch tool may patch them before measuring.
 */
struct snp_launch_params {
	u32 magic; /* SNP_LAUNCH_MAGIC */
	u32 version;
	u64 mem_size;   /* guest-physical memory span */
	u64 svsm_base;  /* the SVSM region (validated, VMPL0-only at launch) */
	u64 svsm_size;
	u64 caa_gpa;    /* the startup vCPU's calling area */
	u64 guest_rip;  /* initial state of the guest's startup VMSA */
	u64 guest_rsp;
	u64 guest_cr0;
	u64 guest_cr3;
	u64 guest_cr4;
	u8 guest_vmpl;
	u8 reserved[7];
	/*
	 * The guest's vCPUs (version 2): how many, and their APIC IDs, distinct, the
	 * startup vCPU (the one the launch VMSA runs on) first. The image gives every one
	 * of them a VMPL0 context; CREATE_VCPU refuses any other APIC ID.
	 */
	u32 cpu_count;
	u32 reserved2;
	u32 apic_ids[SNP_MAX_CPUS];
};
#define SNP_LAUNCH_MAGIC 0x48434e4c /* "LNCH" */
#define SNP_LAUNCH_VERSION 2
_Static_assert(__builtin_offsetof(struct snp_launch_params, cpu_count) == 88, "launch parameters layout");
_Static_assert(__builtin_offsetof(struct snp_launch_params, apic_ids) == 96, "launch parameters layout");
_Static_assert(sizeof(struct snp_launch_params) <= 4096, "launch parameters fit their page");

extern const struct snp_launch_params snp_launch;
/* The SNP secrets and CPUID pages, at fixed places of the image (SNP_LAUNCH_UPDATE types 5 and 6). */
extern u8 snp_secrets_page[4096];
extern u8 snp_cpuid_page[4096];
extern char __image_start[], __image_end[];

/* --- boot (boot.c) ------------------------------------------------------------------ */

/* The C entry point, on the boot stack with the identity map. */
SVSM_NORETURN void boot_main(u32 entry, u32 pvh_info);
bool boot_snp_active(void);
/* Stop after an unrecoverable fault: GHCB termination request under SNP, isa-debug-exit without. */
SVSM_NORETURN void boot_fatal(u8 code);

/* isa-debug-exit (QEMU, -device isa-debug-exit,iobase=0xf4): QEMU's exit status is value << 1 | 1. */
#define BOOT_EXIT_PORT 0xF4
#define BOOT_EXIT_PASS 0x10   /* status 33 */
#define BOOT_EXIT_FAIL 0x11   /* status 35 */
#define BOOT_EXIT_NO_SNP 0x12 /* status 37: build/svsm.elf booted without SEV-SNP */
/* Leave QEMU with @value; without the device, halt. Never under SNP (port I/O needs #VC). */
SVSM_NORETURN void boot_exit(u32 value);

/*
 * What happens after the common boot (serial, per-CPU area, IDT, SEV_STATUS): defined
 * by the platform the image links, hw.c in build/svsm.elf (SNP required) and
 * emu/nosnp/nosnp.c in build/svsm-test.elf (SNP refused). @sev_status is 0 without SEV.
 */
SVSM_NORETURN void platform_main(u32 entry, u32 pvh_info, u64 sev_status);

/* --- per-CPU areas (percpu.c) ------------------------------------------------------- */

#define PERCPU_IST_COUNT 4
#define PERCPU_IST_SIZE 16384
/* The stack an AP starts on (the BSP runs on start.S's boot stack, of the same size). */
#define PERCPU_STACK_SIZE 32768
enum percpu_ist {
	IST_NMI = 1,
	IST_DF = 2,
	IST_MC = 3,
	IST_VC = 4,
};

/* Counters the tests look at, per CPU: breakpoints taken, last NMI's stack pointer. */
struct idt_stats {
	u64 breakpoints;
	u64 nmis;
	u64 nmi_rsp;
	u64 fixups;
};

/*
 * Life of a CPU's area (percpu.state, changed with atomics): the BSP prepares it, the
 * CPU marks it started on its first instruction of C, then ready once its platform set
 * it up (under SNP: the SVSM's context and GHCB on that CPU), or failed.
 */
enum percpu_state {
	PERCPU_UNUSED = 0,
	PERCPU_PREPARED = 1,
	PERCPU_STARTED = 2,
	PERCPU_READY = 3,
	PERCPU_FAILED = 4,
};

struct percpu {
	struct percpu *self; /* %gs:0 */
	u32 cpu_index;
	u32 apic_id;
	bool in_vc;          /* a #VC is being handled on this CPU (nesting is fatal) */
	u8 *tls_block;       /* this CPU's copy of the TLS image; %fs points past it */
	u64 tls_size;
	void *svsm_local;    /* the core's per-CPU pointer (arch_cpu_local) */
	struct idt_stats idt; /* this CPU's exception counters (idt.c) */
	u32 state;           /* enum percpu_state, atomic */
	u64 stack_top;       /* where an AP's stack starts (16-byte aligned) */
	u64 vmsa_gpa;        /* SNP: the VMPL0 VMSA the BSP created for this AP, 0 = none */
};

/*
 * Fill the area of CPU @cpu_index (GDT with its TSS and IST stacks, TLS block, stack)
 * for the CPU with @apic_id, without loading anything: the BSP prepares every AP's area
 * before starting it. NULL if @cpu_index >= SNP_MAX_CPUS.
 */
struct percpu *percpu_prepare(u32 cpu_index, u32 apic_id);
/* On the CPU itself: load @pc's GDT and TSS, %gs = @pc, %fs = its TLS block. */
void percpu_load(struct percpu *pc);
/* Both, on the BSP at boot (cpu_index 0). */
void percpu_init(u32 cpu_index, u32 apic_id);
struct percpu *percpu_this(void);
/* This CPU's index; 0 also before the BSP loaded its area (only the BSP runs then). */
u32 percpu_cpu_index(void);
/* The prepared area of @cpu_index, or of the CPU with @apic_id; NULL if none. */
struct percpu *percpu_get(u32 cpu_index);
struct percpu *percpu_find_apic(u32 apic_id);
/* Areas prepared so far (the BSP's and every AP's the platform tried to start). */
u32 percpu_count(void);
/* Bounds of an IST stack of this CPU (for checks and tests). */
void percpu_ist_bounds(enum percpu_ist ist, u64 *lo, u64 *hi);
/* What a VMSA needs to enter @pc's CPU with its tables loaded: GDT and TSS base/limit. */
void percpu_tables(const struct percpu *pc, u64 *gdt_base, u16 *gdt_limit, u64 *tss_base, u32 *tss_limit);
/* The GDT selectors of every per-CPU GDT (and of start.S's boot GDT). */
#define PERCPU_SEL_CODE64 0x08
#define PERCPU_SEL_DATA 0x10
#define PERCPU_SEL_TSS 0x18

/* Move @pc to @state (atomic, release) / read it (acquire). */
void percpu_set_state(struct percpu *pc, enum percpu_state state);
enum percpu_state percpu_state(const struct percpu *pc);

/* --- application processors (smp.c, start.S) ------------------------------------------ */

/*
 * The 64-bit entry of every AP (start.S): entered with paging on (start.S's tables),
 * interrupts off, RSP = the AP's stack top and EDI = its cpu index, by the VMSA the BSP
 * built under SNP or by the real-mode trampoline without SNP. Calls smp_ap_main.
 */
void smp_ap_start64(void);
/*
 * The AP's C entry: checks @cpu_index names an area prepared for it and not started
 * before (else it halts), loads its per-CPU area and the IDT, marks it started and runs
 * platform_ap_main. Never returns.
 */
SVSM_NORETURN void smp_ap_main(u32 cpu_index);
/*
 * What an AP does once it runs on its own per-CPU area: defined by the platform, like
 * platform_main (hw.c: the SVSM's context, GHCB and request loop on that CPU;
 * emu/nosnp: wait for work from the BSP).
 */
SVSM_NORETURN void platform_ap_main(struct percpu *pc);
/*
 * The VMPL0 VMSA that starts @pc's CPU at smp_ap_start64 in 64-bit mode with the BSP's
 * paging (CR0, CR3, CR4 read on the calling CPU), @pc's GDT, TSS and stack, the shared
 * IDT, EDI = its cpu index, and @sev_features. @vmsa is a zeroed page.
 */
void smp_build_vmsa(u8 *vmsa, const struct percpu *pc, u64 sev_features);
/*
 * Wait until @pc is ready or failed, at most @timeout_ns (TSC clock): true if ready.
 * Bounded also in iterations, should the clock not advance.
 */
bool smp_wait_ready(const struct percpu *pc, u64 timeout_ns);
/* Spin (PAUSE) for about @ns nanoseconds. */
void smp_delay_ns(u64 ns);

/* --- interrupts and exceptions (idt.c, vectors.S) ------------------------------------ */

/* Registers saved by the exception entry (vectors.S), lowest address first. */
struct idt_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss;
};

/* Build the IDT (exceptions 0-31) and load it on this CPU (the BSP, at boot). */
void idt_init(void);
/* Load the IDT idt_init built on this CPU (an AP). */
void idt_load(void);
/*
 * Install @handler (an interrupt-return routine, not a C function) as the gate of
 * @vector (32-255), for interrupts a platform takes (emu/nosnp: the wake-up IPI). Only
 * before APs start: the table is shared.
 */
void idt_set_gate(unsigned vector, u64 handler);
/* This CPU's counters. */
void idt_get_stats(struct idt_stats *out);
/* The IDT's base and limit (what LIDT loads; for an AP's VMSA). */
void idt_table(u64 *base, u16 *limit);

/*
 * Guarded accesses (guard.S): a fault (#PF, #GP, #VC page-not-validated) at one of their
 * loads or stores resumes at their fixup, which returns -1; otherwise 0.
 */
int guard_read8(const volatile u8 *p, u8 *out);
int guard_write8(volatile u8 *p, u8 value);
/* Copy @len bytes; every load and store is guarded. On -1 a prefix may have been copied. */
int guard_copy(void *dst, const void *src, size_t len);
/* RMPQUERY (F3 0F 01 FD) of the page at @va for RDX = @rdx_in; the registers it returned. */
struct guard_rmpquery_out {
	u64 rax, rdx, rcx;
};
int guard_rmpquery(const void *va, u64 rdx_in, struct guard_rmpquery_out *out);
/* The fixup for a faulting RIP, or 0 (__ex_table, idt.c). */
u64 idt_fixup_for(u64 rip);

/* --- paging (paging.c) ----------------------------------------------------------------- */

#define PAGING_DIRECT_MAP_LIMIT (4ull << 30)
void paging_init(u64 cbit_mask);
void *paging_phys_to_virt(u64 gpa);
u64 paging_virt_to_phys(const void *va);
/* Map @gpa without the C-bit (shared) in the shared window; NULL when the window is full. */
void *paging_map_shared(u64 gpa);
/* Unmap a slot (this CPU's TLB is flushed; nothing unmaps a slot other CPUs use). */
void paging_unmap_shared(void *va);
/*
 * Make the 2 MiB page of the identity map (and of the direct map, which shares its
 * tables) that holds @pa uncached (PCD|PWT), for MMIO such as the local APIC. Before APs
 * start (their TLBs are not flushed).
 */
void paging_set_uncached(u64 pa);
/* The page-table entry that maps @va (tests), or 0. */
u64 paging_lookup(const void *va);

/* --- serial console (serial.c) --------------------------------------------------------- */

#define SERIAL_COM1 0x3F8
void serial_init(void);
void serial_write(const char *buf, size_t len);
/* printf to the serial port directly (boot, faults, test results). */
void serial_printf(const char *fmt, ...) SVSM_PRINTF(1, 2);

/* --- time (clock.c) -------------------------------------------------------------------- */

void clock_init(void);
u64 clock_ns(void);
u64 clock_tsc_hz(void);

/* --- guest memory on the hardware path (gmem.c) --------------------------------------- */

/*
 * Copy between private memory and guest-physical memory through the direct map, as
 * arch_guest_read/write need it on SNP hardware: every page of the range is probed
 * first with a guarded read, then the copy itself is guarded. -1 if the range leaves
 * the direct map or any byte faults (#PF, #GP, #VC 0x404). A failed write changes
 * guest memory only if a page went away between the probe and the copy; a failed
 * read leaves @dst untouched, or zeroed in that same race.
 */
int gmem_copy_from_guest(void *dst, u64 gpa, size_t len);
int gmem_copy_to_guest(u64 gpa, const void *src, size_t len);
/* arch_rmpquery on the hardware (see arch.h): RMPQUERY with a #VC fixup, if the CPU has it. */
u32 gmem_rmpquery(u64 gpa, u8 target_vmpl, u8 *perms);
/* CPUID 0x8000001F EAX bit 6: the CPU implements RMPQUERY. */
bool gmem_rmpquery_supported(void);

/* --- #VC (vc.c) ------------------------------------------------------------------------ */

/* The #VC handler; true if handled (RIP advanced). */
bool vc_handle(struct idt_frame *f);
/* From now on #VC may use the core's GHCB of this vCPU (once svsm_boot is running). */
void vc_use_core_ghcb(void);

#endif
