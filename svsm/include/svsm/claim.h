/*
 * Page claims: while a call acts on a guest page (PVALIDATE, DEPOSIT_MEM, CREATE_VCPU,
 * DELETE_VCPU, REMAP_CA), it holds that page's claim, one bit per page taken with an
 * atomic test-and-set. A call that finds a page claimed by another vCPU's call answers
 * SVSM_ERR_BUSY and the guest retries: claims are never waited for, so nothing blocks
 * across a VMGEXIT, and checks made under a claim stay true until the claim is released.
 */
#ifndef SVSM_CLAIM_H
#define SVSM_CLAIM_H

#include <svsm/types.h>

/*
 * Boot: place the claim map for @mem_size bytes of guest memory at @at (SVSM memory,
 * @room bytes available) and clear it. Returns the bytes used (whole pages), or -1.
 */
long claim_init(u64 mem_size, void *at, u64 room);
/* Claim the @pages pages from @gpa (all or none). False if one is claimed (or out of memory range). */
bool claim_pages(u64 gpa, u64 pages);
void claim_release(u64 gpa, u64 pages);

#endif
