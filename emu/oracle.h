/*
 * The invariant oracle: checks, after any SVSM call, that the machine is in a state the
 * SVSM must never leave it in. It reads the RMP and the core's own bookkeeping.
 */
#ifndef EMU_ORACLE_H
#define EMU_ORACLE_H

#include "machine.h"

struct oracle_state {
	u64 ungranted_nonzero_seen; /* baselines of the machine's counters */
	u64 findings_seen;
	u64 mmio_stalls_seen;
};

/* Remember the current counters as the baseline (after boot). */
void oracle_init(struct oracle_state *o, const struct emu_machine *m);

/*
 * Check every invariant; returns the number of violations and describes the first few
 * in @report (NUL-terminated, may be NULL):
 *   - every page of the SVSM region is marked as the SVSM's;
 *   - no SVSM-owned private page is accessible to VMPL1-3;
 *   - no VMSA page is writable by VMPL1-3;
 *   - every page granted to VMPL1-3 was zero when granted (or is given back, unwritten,
 *     to a VMPL that had it when the request began);
 *   - the machine saw no bug of the SVSM (double fetch: a guest byte read twice in one
 *     request) and no instruction on the MMIO/ROM hole (a hang on KVM);
 *   - calling areas and VMSAs are disjoint, CAs are not SVSM pages;
 *   - the RMP agrees with the SVSM's bookkeeping: its private pages are validated, every
 *     page with the VMSA bit is a VMSA the SVSM knows, every known VMSA has the bit.
 */
unsigned oracle_check(struct oracle_state *o, const struct emu_machine *m, char *report, size_t report_size);

/*
 * The same invariants, for a run that changed only some pages since the last clean
 * check: the RMP entries of @pfns (every page whose RMP entry or ownership changed),
 * the VMSA pages of the current vCPUs, and the vCPU-wide checks. Fuzzers call it after
 * every call; given a clean start it finds what oracle_check would.
 */
unsigned oracle_check_pages(struct oracle_state *o, const struct emu_machine *m, const u64 *pfns, size_t count,
			    char *report, size_t report_size);

#endif
