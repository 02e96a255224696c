/*
 * Shared helpers of the harness: a fresh machine with the SVSM booted and a guest driver
 * attached, SVSM calls that run the invariant oracle afterwards, and small builders for
 * the in-memory arguments of the core protocol.
 */
#ifndef HARNESS_HX_H
#define HARNESS_HX_H

#include <svsm/core.h>
#include <svsm/svsm_abi.h>

#include "callcheck.h"
#include "guest.h"
#include "machine.h"
#include "oracle.h"

struct hx {
	struct emu_machine *m;
	struct emu_guest g;
	struct oracle_state oracle;
	bool oracle_each_call; /* default true: the invariant oracle and the rejected-call check */
	struct callcheck cc;   /* "a rejected call changes nothing", around every hx call */
	unsigned violations;   /* oracle violations seen so far */
	char report[4096];     /* the first violations, for failure messages */
	int last_status;       /* guest_call status of the last hx_call */
};

/*
 * Boot a machine (NULL = defaults, console discarded unless HX_CONSOLE=1 is set in the
 * environment; HX_RMPADJUST_UNVALIDATED=1: RMPADJUST succeeds on unvalidated pages) and
 * attach the guest driver. NULL on failure (message on stderr).
 */
struct hx *hx_boot(const struct emu_config *cfg);
void hx_shutdown(struct hx *h);

/*
 * Every hx call (and hx_as_svsm_begin) first makes sure the direct map's fault handler
 * is in front of the test framework's: a fault there is the SVSM's, not the test's.
 *
 * SVSM call on the startup vCPU; returns RAX (low 32 bits), or ~0 if the call did not
 * complete (then h->last_status says why). Runs the oracle afterwards when enabled.
 */
u64 hx_call(struct hx *h, u32 protocol, u32 call, u64 rcx, u64 rdx, u64 r8, struct guest_regs *out);
/* Same on any guest vCPU, with raw registers. */
u64 hx_call_vcpu(struct hx *h, u32 apic_id, struct guest_regs *r);
/* Same from guest @g (e.g. one spawned at VMPL2) on its vCPU @apic_id. */
u64 hx_call_guest(struct hx *h, struct emu_guest *g, u32 apic_id, struct guest_regs *r);
/* Core-protocol call from guest @g's first vCPU; returns RAX or ~0. */
u64 hx_core_as(struct hx *h, struct emu_guest *g, u32 call, u64 rcx, u64 rdx, u64 r8, struct guest_regs *out);
/* Run the oracle now; returns violations found by this check. */
unsigned hx_oracle(struct hx *h);

/* A fresh page (or @count pages) the guest owns, validated and zeroed. */
u64 hx_page(struct hx *h);
u64 hx_pages(struct hx *h, u64 count);

/* Write a list (PVALIDATE/DEPOSIT format) at @gpa; returns 0 or -1. */
int hx_write_list(struct hx *h, u64 gpa, const u64 *entries, u16 count, u16 next);
/* Read back the list header's "next". */
u16 hx_list_next(struct hx *h, u64 gpa);

/* PVALIDATE entry builder. */
static inline u64 hx_pval_entry(u64 gpa, bool huge, bool validate, bool ignore_cf)
{
	return gpa | (huge ? 1u : 0u) | (validate ? SVSM_PVAL_VALIDATE : 0) | (ignore_cf ? SVSM_PVAL_IGNORE_CF : 0);
}

/* Run @fn as VMPL0 code on the startup vCPU (to exercise core pieces directly). */
void hx_as_svsm_begin(struct hx *h);
void hx_as_svsm_end(struct hx *h);

/* The RMP entry of @gpa. */
const struct rmp_entry *hx_rmp(struct hx *h, u64 gpa);

/* Fingerprint of guest memory pages [gpa, gpa + len) and of the whole RMP, to prove "nothing changed". */
u64 hx_hash_mem(struct hx *h, u64 gpa, u64 len);
u64 hx_hash_rmp(struct hx *h);

#endif
