/*
 * "A rejected call changes nothing", measured fully (hosted). Around one SVSM call the
 * check keeps:
 *   - every RMP entry (all VMPL masks, VMSA, validated, size, assigned);
 *   - the vCPU table (APIC ID, VMSA, calling area, VMPL of every vCPU);
 *   - the allocator totals (pages and heap bytes in use, caches drained);
 *   - a pre-image of every page of guest memory the call wrote, whoever wrote it: the
 *     machine's own writes (guest copies, register saves) through its write hook, and the
 *     SVSM's writes through its direct map, which is read-only during the call so that
 *     the first write to each page is seen (emu/dmap.c).
 * If the call was rejected (an error result, or "deposit n pages"), everything must be as
 * before, except what the protocol itself writes on failure: the caller's RAX/RCX/RDX/R8
 * and call_pending/mem_available, mem_available of the startup vCPU, the list's "next",
 * and the entries a list call did before the failing one. The SVSM's own pages (a GHCB
 * set up on a vCPU's first entry) are its business. Pages the host took are skipped.
 */
#ifndef EMU_CALLCHECK_H
#define EMU_CALLCHECK_H

#include "guest.h"

#define CALLCHECK_MAX_PAGES 4096

struct callcheck_vcpu {
	u32 apic_id;
	u64 vmsa;
	u64 caa;
	u8 vmpl;
};

struct callcheck {
	struct emu_machine *m;
	bool active;
	/* The call. */
	u64 rax, rcx;
	u32 apic_id;
	u64 caller_vmsa;
	u64 caller_caa;
	bool list_call; /* PVALIDATE or DEPOSIT_MEM */
	u16 list_entries, list_next;
	u64 list_raw[(PAGE_SIZE - 8) / 8];
	/* What was there. */
	struct rmp_entry *rmp_pre;
	struct callcheck_vcpu vcpus[256];
	u32 vcpu_count;
	u64 page_in_use, heap_in_use;
	u64 cpu_pages; /* pages of the SVSM's CPU contexts before the call (cpu.h) */
	u8 *owned_pre;  /* ownership bit per page */
	/* Pages written during the call, with their bytes from before. */
	u8 *written;    /* one byte per page: 1 = pre-image kept */
	u64 written_pfn[CALLCHECK_MAX_PAGES];
	u8 *pre_pages;  /* CALLCHECK_MAX_PAGES pages */
	u32 written_count;
	bool written_overflow;
	u64 exempt[8];
	u32 exempt_count;
	/* Results. */
	unsigned violations;
	u64 checked;    /* rejected calls checked */
	char report[1024];
};

/*
 * Another party changed page @gpa during the current call (a test playing a concurrent
 * guest VMPL or the host): the check does not hold the call to that page.
 */
void callcheck_exempt(struct callcheck *c, u64 gpa);

/* Allocate the buffers for machine @m (its size). 0 or -1. */
int callcheck_init(struct callcheck *c, struct emu_machine *m);
void callcheck_free(struct callcheck *c);

/* Before guest vCPU @apic_id (of @g) makes the call in @r. */
void callcheck_begin(struct callcheck *c, struct emu_guest *g, u32 apic_id, const struct guest_regs *r);

/*
 * After it: @status is what guest_call returned (GUEST_OK: the SVSM answered), @result
 * is RAX. A call the SVSM never ran (GUEST_NOT_RUN, GUEST_HV_ERROR) must change nothing
 * either. Returns the violations found (described in c->report).
 */
unsigned callcheck_end(struct callcheck *c, int status, u32 result);

#endif
