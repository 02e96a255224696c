/*
 * The guest's side of the SVSM attestation protocol, as Linux's sev-guest driver drives it
 * (configfs-tsm, "svsm" service provider): the request in the calling area's buffer, a
 * 64-byte nonce, page-aligned report (4 KiB), manifest (4 KiB) and certificate (16 KiB)
 * buffers, RDX and R8 preset to all-ones to see whether lengths came back, and up to three
 * retries with larger buffers on INVALID_PARAMETER. Hosted (the CLI, tests, fuzzers).
 */
#ifndef EMU_GUEST_ATTEST_H
#define EMU_GUEST_ATTEST_H

#include <svsm/attest.h>
#include <svsm/snp_guest.h>

#include "guest.h"

#define GUEST_ATTEST_RETRIES 3

struct guest_attest_req {
	const u8 *nonce;
	u16 nonce_len;        /* 0 = SVSM_ATTEST_NONCE_SIZE (what Linux sends); others test the SVSM's rule */
	const u8 *service;    /* 16-byte GUID (UEFI byte order) or NULL: SVSM_ATTEST_SERVICES */
	u32 manifest_version;
	bool certs;           /* pass a certificate buffer (Linux always does) */
	u32 apic_id;          /* the calling vCPU */
};

struct guest_attest_result {
	u64 rax;              /* the SVSM's last answer */
	int status;           /* guest_call status of the last call (GUEST_OK ...) */
	unsigned calls;       /* calls made (1 + retries) */
	u8 report[SNP_REPORT_SIZE];
	u32 report_len;
	u8 *manifest;         /* malloc'ed, manifest_len bytes */
	u32 manifest_len;
	u8 *certs;            /* malloc'ed, certs_len bytes, NULL if none */
	u32 certs_len;
};

/* Run the request; 0 if the SVSM answered SUCCESS (then *@out is filled), else -1. */
int guest_attest(struct emu_guest *g, const struct guest_attest_req *req, struct guest_attest_result *out);
void guest_attest_result_free(struct guest_attest_result *r);

#endif
