/*
 * Harness helpers for attestation suites: a machine booted with the emulated PSP (keys
 * from fixtures/attestation/keys, deterministic), the test service, and the guest-side
 * request builder for raw SVSM_ATTEST_* calls.
 */
#ifndef HARNESS_HXA_H
#define HARNESS_HXA_H

#include <svsm/attest.h>
#include <svsm/greq.h>

#include "attest_test_service.h"
#include "guest_attest.h"
#include "hx.h"
#include "psp/psp.h"

struct hxa {
	struct hx *h;
	struct psp *p;
	/* A raw request: its buffers (guest pages) and fields, written by hxa_write_req. */
	u64 req_gpa, nonce_gpa, report_gpa, manifest_gpa, certs_gpa;
	struct svsm_attest_single_req req;
	u8 nonce[SVSM_ATTEST_NONCE_SIZE];
};

struct hxa_opts {
	bool no_test_service; /* boot with no service registered */
	bool no_certs;        /* the hypervisor has no certificates */
	u32 extra_cert_bytes; /* a CRL entry of this size in the hypervisor's table */
	const char *fixtures; /* the fixtures directory */
	u32 memo_signatures;  /* psp_config.memo_signatures */
};

/* Boot; NULL on failure (message on stderr). */
struct hxa *hxa_boot(const struct hxa_opts *o);
void hxa_shutdown(struct hxa *a);

/*
 * Prepare a raw request like Linux's (request at CA + 8, nonce after it, 1-page report and
 * manifest buffers, 4 certificate pages), valid as it stands; tests change fields in
 * a->req and call hxa_write_req + hxa_call.
 */
void hxa_prepare(struct hxa *a, bool certs);
int hxa_write_req(struct hxa *a, bool single);
/* SVSM_ATTEST_* through the guest with RDX = R8 = all-ones; returns RAX (~0 if the call did not complete). */
u64 hxa_call(struct hxa *a, u32 call, struct guest_regs *out);

/* SHA-512(nonce || manifest) with OpenSSL. */
void hxa_report_data(const u8 *nonce, size_t nlen, const u8 *manifest, size_t mlen, u8 out[64]);

/* The guest-request channel's state (run as the SVSM). */
void hxa_greq_info(struct hxa *a, struct greq_info *out);
/* True if VMPCK0 in the secrets page is all zero (wiped). */
bool hxa_vmpck0_wiped(struct hxa *a);

#endif
