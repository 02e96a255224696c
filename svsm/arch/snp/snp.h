/*
 * Private interfaces of the SNP image (svsm/arch/snp): boot, per-CPU areas, the IDT,
 * paging, the serial port, the two platforms behind the arch interface (SNP hardware
 * and the no-SNP platform that runs the emulated machine) and the image's main program.
 * Core code never includes this header.
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
};
#define SNP_LAUNCH_MAGIC 0x48434e4c /* "LNCH" */

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

/* --- per-CPU areas (percpu.c) ------------------------------------------------------- */

#define PERCPU_IST_COUNT 4
#define PERCPU_IST_SIZE 16384
enum percpu_ist {
	IST_NMI = 1,
	IST_DF = 2,
	IST_MC = 3,
	IST_VC = 4,
};

struct percpu {
	struct percpu *self; /* %gs:0 */
	u32 cpu_index;
	u32 apic_id;
	bool in_vc;          /* a #VC is being handled on this CPU (nesting is fatal) */
	u8 *tls_block;       /* this CPU's copy of the TLS image; %fs points past it */
	u64 tls_size;
};

void percpu_init(u32 cpu_index, u32 apic_id);
struct percpu *percpu_this(void);
/* Bounds of an IST stack of this CPU (for checks and tests). */
void percpu_ist_bounds(enum percpu_ist ist, u64 *lo, u64 *hi);

/* --- interrupts and exceptions (idt.c, vectors.S) ------------------------------------ */

/* Registers saved by the exception entry (vectors.S), lowest address first. */
struct idt_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss;
};

void idt_init(void);
/* Counters the tests look at: breakpoints taken, last NMI's stack pointer. */
struct idt_stats {
	u64 breakpoints;
	u64 nmis;
	u64 nmi_rsp;
	u64 fixups;
};
void idt_get_stats(struct idt_stats *out);

/*
 * Guarded accesses (vectors.S): a fault (#PF, #GP, #VC page-not-validated) inside them
 * resumes at their fixup, which returns -1; otherwise 0.
 */
int guard_read8(const volatile u8 *p, u8 *out);
int guard_write8(volatile u8 *p, u8 value);
/* The fixup for a faulting RIP, or 0 (__ex_table, idt.c). */
u64 idt_fixup_for(u64 rip);

/* --- paging (paging.c) ----------------------------------------------------------------- */

#define PAGING_DIRECT_MAP_LIMIT (4ull << 30)
void paging_init(u64 cbit_mask);
void *paging_phys_to_virt(u64 gpa);
u64 paging_virt_to_phys(const void *va);
/* Map @gpa without the C-bit (shared) in the shared window; NULL when the window is full. */
void *paging_map_shared(u64 gpa);
void paging_unmap_shared(void *va);
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

/* --- setjmp/longjmp for the image (jump.S) ------------------------------------------- */

struct jump_buf {
	u64 rbx, rbp, r12, r13, r14, r15, rsp, rip;
};
/* Returns 0 when saving, the value given to jump_long when resumed. */
int jump_set(struct jump_buf *b) __attribute__((returns_twice));
SVSM_NORETURN void jump_long(struct jump_buf *b, int value);

/* --- the platforms behind the arch interface (arch.c, hw.c, nosnp.c) ---------------- */

struct snp_platform {
	const char *name;
	u32 (*pvalidate)(u64 gpa, enum page_size size, bool validate);
	u32 (*rmpadjust)(u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa);
	u32 (*rmpquery)(u64 gpa, u8 target_vmpl, u8 *perms);
	u64 (*ghcb_msr_read)(void);
	void (*ghcb_msr_write)(u64 value);
	void (*vmgexit)(void);
	int (*guest_read)(u64 gpa, void *dst, size_t len);
	int (*guest_write)(u64 gpa, const void *src, size_t len);
	void *(*phys_to_virt)(u64 gpa);
	u64 (*virt_to_phys)(const void *va);
	void *(*map_shared)(u64 gpa);
	u32 (*cpu_apic_id)(void);
	void (*console_write)(const char *buf, size_t len);
	int (*random)(void *buf, size_t len);
	SVSM_NORETURN void (*terminate)(u8 reason_set, u8 reason_code);
};

/* Chosen once at boot (boot.c), before the core runs. */
void arch_select(const struct snp_platform *p);
const struct snp_platform *arch_platform(void);

extern const struct snp_platform hw_platform;
extern const struct snp_platform nosnp_platform;

/* SNP hardware (hw.c): launch state kept for the #VC handler and the request loop. */
void hw_init(u64 sev_status, u32 apic_id);
/* The startup vCPU's request loop on hardware: run the guest, handle its call, repeat. */
SVSM_NORETURN void hw_request_loop(void);

/* The #VC handler (vc.c); true if handled (RIP advanced). */
bool vc_handle(struct idt_frame *f);

/* --- the no-SNP platform (nosnp.c) ------------------------------------------------------ */

struct emu_config;
struct emu_machine;

/* isa-debug-exit (QEMU): status = value << 1 | 1. */
#define NOSNP_EXIT_PORT 0xF4
#define NOSNP_EXIT_PASS 0x10
#define NOSNP_EXIT_FAIL 0x11

/* Find RAM for the emulated machine in the PVH memory map; 0 or -1. */
int nosnp_init(u32 pvh_info);
/*
 * A fresh emulated machine (zeroed memory, new RMP) with the SVSM booted on it, as
 * emu_machine_create does in a process. NULL with a reason in @err on failure.
 */
struct emu_machine *nosnp_machine_boot(const struct emu_config *cfg, char *err, size_t err_size);
/* The default configuration of the image's emulated machine. */
void nosnp_config_default(struct emu_config *cfg);
/* Run @fn(@arg); true if the machine was terminated meanwhile (set and code in @m). */
bool nosnp_catch_termination(struct emu_machine *m, void (*fn)(void *), void *arg);
SVSM_NORETURN void nosnp_exit(u32 value);

/* --- the program the image runs once booted (image.c in the production image, harness/image/ktest.c in the test image) ------------ */

SVSM_NORETURN void image_run(void);

#endif
