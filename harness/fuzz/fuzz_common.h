/*
 * The common fuzzing framework: target registration, the input reader, and a booted
 * machine that is reset from a snapshot between inputs, with the oracles run after
 * every SVSM call. A target is one file: it defines `fuzz_target` and decodes its input.
 */
#ifndef HARNESS_FUZZ_COMMON_H
#define HARNESS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <svsm/types.h>

/*
 * Harness code that loops over its own bookkeeping (placement checks, pattern checks)
 * is no feedback worth having: keep coverage instrumentation and comparison tracing out.
 */
#if defined(__clang__)
#define FUZZ_NOCOV __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_NOCOV
#endif

/* --- registration (harness/fuzz/fuzz_main.c drives it) ----------------------------- */

struct fuzz_target {
	const char *name;
	/* Once per process, before the first input; 0 or -1 (the fuzzer stops). */
	int (*init)(void);
	/* One input; a finding aborts (or crashes) the process. */
	void (*run)(const u8 *data, size_t size);
};

/* Every target file defines exactly this. */
extern const struct fuzz_target fuzz_target;

/* Report a finding and crash so that the fuzzer keeps the input. */
SVSM_NORETURN void fuzz_finding(const char *fmt, ...) SVSM_PRINTF(1, 2);

/* --- input --------------------------------------------------------------------------- */

struct fuzz_in {
	const u8 *p;
	size_t left;
};

/* Little-endian reads; missing bytes read as 0 (the input simply ended). */
u8 fuzz_u8(struct fuzz_in *in);
u16 fuzz_u16(struct fuzz_in *in);
u32 fuzz_u32(struct fuzz_in *in);
u64 fuzz_u64(struct fuzz_in *in);
static inline bool fuzz_more(const struct fuzz_in *in)
{
	return in->left > 0;
}

/* --- the machine --------------------------------------------------------------------- */

/*
 * Guest-physical layout of the fuzzing machine (32 MiB, so that a full oracle pass and
 * every table stay small):
 *   [0, 2 MiB)      guest memory, assigned, not validated
 *   [2, 4 MiB)      the SVSM region (ownership map at its start)
 *   4 MiB           the startup calling area
 *   [6, 8 MiB)      the guest driver's page pool (VMSAs, CAs, GHCBs it sets up)
 *   [8, 24 MiB)     eight 2 MiB regions, validated and guest RW unless the header says not
 *   [24, 32 MiB)    assigned, not validated
 */
#define FUZZ_MEM_SIZE (32ull << 20)
#define FUZZ_MEM_PAGES (FUZZ_MEM_SIZE >> PAGE_SHIFT)
#define FUZZ_SVSM_BASE (2ull << 20)
#define FUZZ_SVSM_SIZE (2ull << 20)
#define FUZZ_CAA (4ull << 20)
#define FUZZ_POOL_START (6ull << 20)
#define FUZZ_POOL_END (8ull << 20)
#define FUZZ_WINDOW (8ull << 20)
#define FUZZ_WINDOW_REGIONS 8
#define FUZZ_HEADER_SIZE 8
#define FUZZ_MAX_EXTRA_VCPUS 3

/*
 * The input header (FUZZ_HEADER_SIZE bytes; missing bytes are 0):
 *   [0] flags: bit 0 4 KiB RMP entries in the window (PSMASH), bits 1-2 extra vCPUs
 *       (0-3, CREATE_VCPU from the pool), bit 3 start them (SNP AP creation), bit 4
 *       give the guest a GHCB, bit 5 arm allocation failure ([3]), bit 6 deposit ([2])
 *   [1] 2 MiB regions of the window left as launched, i.e. not validated (bit i = region i;
 *       the others are validated and guest RW, which the snapshot already holds)
 *   [2] bits 0-4: pages deposited with DEPOSIT_MEM (from the pool); bit 7: guests at less
 *       privileged VMPLs, each on its own vCPU with pages lent by its parent (guest_spawn),
 *       bits 5-6 say which (enum fuzz_vmpl_guests: 1 + bits 5-6)
 *   [3] allocation to fail after setup (mm_fail_nth, 1-255)
 *   [4..7] for the target (fuzz_header()->extra)
 */
enum fuzz_vmpl_guests {
	FUZZ_VMPL_NONE = 0,      /* the VMPL1 guest alone */
	FUZZ_VMPL_2 = 1,         /* a VMPL2 guest on APIC FUZZ_APIC_CHILD */
	FUZZ_VMPL_3 = 2,         /* a VMPL3 guest on APIC FUZZ_APIC_CHILD */
	FUZZ_VMPL_2_HOSTS_3 = 3, /* a VMPL2 guest on APIC FUZZ_APIC_CHILD hosting a VMPL3 guest on
				  * APIC FUZZ_APIC_GRANDCHILD (its memory is the VMPL2 guest's) */
	FUZZ_VMPL_2_AND_3 = 4,   /* both spawned by the VMPL1 guest, on those two APIC IDs */
};
/*
 * The APIC IDs of the spawned guests' vCPUs: inside the range every vCPU selector of the
 * targets names (0-4), so that every operation can call from them. With a guest on
 * FUZZ_APIC_GRANDCHILD the header creates at most 2 extra vCPUs.
 */
#define FUZZ_APIC_CHILD 4
#define FUZZ_APIC_GRANDCHILD 3
#define FUZZ_CHILD_PAGES 48
#define FUZZ_GRANDCHILD_PAGES 16

struct fuzz_header {
	bool rmp_4k;
	unsigned extra_vcpus;
	bool start_vcpus;
	bool guest_ghcb;
	bool fail_alloc;
	bool deposit;
	u8 unvalidated_regions;
	u8 deposit_pages;
	enum fuzz_vmpl_guests vmpl_guests;
	u8 fail_nth;
	u8 extra[4];
};

struct emu_machine;
struct emu_guest;
struct guest_regs;

struct psp;

/* Options of the machine a target wants (fuzz_machine_init). */
struct fuzz_machine_opts {
	/* Launch through this emulated PSP (attestation targets); its state is reset per input. */
	struct psp *psp;
	/* Take the snapshot before svsm_boot, so every input boots (hostile-boot fuzzing). */
	bool boot_per_input;
	/* Terminations other than a panic are a normal outcome (hostile hypervisor). */
	bool termination_ok;
	/*
	 * Optional, without boot_per_input: run once after the boot, before the snapshot, so
	 * that what it does is part of every input's starting state. 0 or -1.
	 */
	int (*after_boot)(void);
};

/* Build the machine, boot it (unless boot_per_input) and take the snapshot. 0 or -1. */
int fuzz_machine_init(const struct fuzz_machine_opts *opts);
struct emu_machine *fuzz_m(void);
/* The VMPL1 guest (it spawned the others, if any). */
struct emu_guest *fuzz_g(void);
/* The guest that runs vCPU @apic_id (the VMPL1 guest if none does). */
struct emu_guest *fuzz_guest_of(u32 apic_id);

/*
 * Start an input: reset the machine to the snapshot, decode the header from @in and
 * set the machine up accordingly. Returns false if the setup could not complete (then
 * the input ends; fuzz_end() must still be called).
 */
bool fuzz_begin(struct fuzz_in *in);
const struct fuzz_header *fuzz_header(void);

/*
 * Boot the SVSM now (boot_per_input targets). Returns 0, a negative svsm_boot result,
 * or 1 if the machine was terminated during boot.
 */
int fuzz_boot(void);

/*
 * End an input: undo what it created (vCPUs) and check that the SVSM's allocators are
 * back at the snapshot's usage (no leak). The next fuzz_begin resets everything.
 */
void fuzz_end(void);

/*
 * One SVSM call from guest vCPU @apic_id through the guest driver (@once: a single
 * attempt, else INCOMPLETE/BUSY are retried). Afterwards: the invariant oracle on every
 * page whose RMP entry or ownership changed, and, if the call was rejected, the check
 * that nothing changed (the 'next' rule for list calls). Returns the guest_call status;
 * *r holds the registers afterwards.
 */
int fuzz_call(u32 apic_id, struct guest_regs *r, bool once);

/*
 * One entry into the SVSM from guest vCPU @apic_id with call_pending = @pending written
 * raw (0: a spurious entry, 2-255: reserved values), then the same oracles as
 * fuzz_call plus the spec's answers for those values.
 */
int fuzz_entry(u32 apic_id, u8 pending, struct guest_regs *r);

/*
 * Enter the SVSM as VMPL0 code on the startup vCPU around direct calls into the core
 * (GHCB client, log), with termination caught. fuzz_svsm_end runs the oracle.
 */
void fuzz_svsm_begin(void);
void fuzz_svsm_end(void);

/* Run @fn(@ctx) with termination caught: returns true if the machine was terminated. */
bool fuzz_catch_terminate(void (*fn)(void *ctx), void *ctx);

/*
 * A guest-driver operation that is no SVSM call of its own but may make some (SNP AP
 * creation sets up the guest's GHCB first, with a PVALIDATE call): @fn(@ctx) with
 * termination caught, then the invariant oracle and the machine's findings over what it
 * changed.
 */
void fuzz_guest_op(void (*fn)(void *ctx), void *ctx);

/* The input cannot go on: set-up failed, the machine was terminated or the host took an SVSM page. */
bool fuzz_dead(void);
/*
 * The harness may call into the SVSM's code directly (fuzz_svsm_begin): the machine runs
 * and the host took none of the SVSM's pages (whose contents are the host's garbage).
 */
bool fuzz_core_readable(void);

/*
 * The page holding the SVSM's own state of the calling vCPU (struct svsm_vcpu) of the
 * call being made, noted before it (0 if none): what a hostile host can take during the
 * call without the harness reading the SVSM's memory meanwhile.
 */
u64 fuzz_caller_svsm_page(void);

/*
 * Interesting guest-physical addresses (symbolic values of the encodings below): 0-15 as
 * listed in docs/fuzzing.md, 16-19 the spawned guests' (the calling area, the page after
 * it and the VMSA of the vCPU on APIC FUZZ_APIC_CHILD, the calling area of the one on
 * FUZZ_APIC_GRANDCHILD); any other index is index % 16.
 */
u64 fuzz_symbol(unsigned index);
#define FUZZ_SYMBOL_COUNT 20

/*
 * A 64-bit value: tag byte, then a payload. tag & 3: 0 raw u64; 1 the small number
 * tag >> 2; 2 a symbol (tag >> 2) plus a byte of delta (odd: pages, even: 8-byte
 * steps); 3 a page number (u16, a little beyond memory too) << 12 | tag >> 2.
 */
u64 fuzz_value(struct fuzz_in *in);
/* A guest page address from a u16: page numbers below 0xF000 (mod memory + 64 pages), else a symbol. */
u64 fuzz_page(struct fuzz_in *in);

/*
 * Check the SVSM's views of guest memory against their rules and the kernel: every page
 * of the direct map and of the C=0 mapping allows at most what the RMP and the page's
 * snapshot state allow (clean: read-only), and the protections the snapshot believes the
 * views have are those /proc/self/maps shows. True if so, else false with the first
 * mismatch in @why. Slow (it reads /proc): self-tests, and FUZZ_CHECK_VIEWS=1 runs it
 * after every reset and every call.
 */
bool fuzz_views_check(char *why, size_t why_size);

/* Counters printed by the replay and used by fuzz-bench. */
struct fuzz_stats {
	u64 inputs;
	u64 calls;
	u64 rejected_checked;  /* rejected calls whose "nothing changed" was checked */
	u64 leak_checked;
	u64 leak_skipped;      /* undo of the input's vCPUs was impossible (e.g. its CA is gone) */
	u64 terminations;
	u64 svsm_taken;        /* inputs ended because the host took a page of the SVSM's own */
	u64 takes;             /* pages the host took (hv) */
};
/*
 * Print per-input averages of the snapshot (write faults, pages restored, hot pages
 * compared and found changed, promotions and demotions) and of the calls to @out, each
 * line prefixed with the target's name; nothing for targets without a machine.
 * FUZZ_SHOW_HOT=1 also lists where the hot pages are.
 */
void fuzz_snapshot_report(FILE *out);

/* REPORT_DATA as the attestation protocol defines it: SHA-512(@nonce || @manifest) (OpenSSL). */
void fuzz_report_data(const void *nonce, size_t nonce_len, const void *manifest, size_t manifest_len, u8 out[64]);

/* Defined by the driver (fuzz_main.c); the machine code counts into it. */
extern struct fuzz_stats fuzz_counters;

/*
 * Self-test hook: when set, findings are passed here instead of crashing (the oracle
 * tests in harness/fuzz/fuzz_selftest.c use it to prove that each oracle fires).
 */
extern void (*fuzz_finding_hook)(const char *msg);

#endif
