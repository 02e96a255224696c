/*
 * The SVSM's guest-request channel to the PSP: SNP guest messages encrypted with VMPCK0
 * (AES-256-GCM, the message sequence number as IV), sent through the GHCB guest-request
 * exits (0x8000_0011, and 0x8000_0012 with certificates), answers decrypted and checked.
 *
 * Ownership: the channel (VMPCK0, its sequence number, its shared and private pages) is
 * shared state of the SVSM. One vCPU at a time owns it, from greq_claim() to
 * greq_release(); a vCPU that finds it owned gets GREQ_BUSY and never waits, so no lock is
 * held across the VMGEXIT and no vCPU spins on another's guest request. Only the owner
 * reads or advances the sequence number.
 *
 * Anything that breaks the sequence (an error from the hypervisor or the firmware, an
 * answer that does not decrypt or does not match the request) wipes VMPCK0, in the secrets
 * page and here, as Linux does: a sequence number must never be reused with another
 * message, and the SVSM cannot know what the PSP saw. The channel is disabled from then on.
 */
#ifndef SVSM_GREQ_H
#define SVSM_GREQ_H

#include <svsm/snp_guest.h>
#include <svsm/types.h>

enum greq_result {
	GREQ_OK = 0,
	GREQ_BUSY = -1,            /* another vCPU owns the channel: retry later */
	GREQ_DISABLED = -2,        /* no channel, or VMPCK0 was wiped */
	GREQ_HV_ERROR = -3,        /* the hypervisor failed the exit (VMPCK0 wiped) */
	GREQ_FW_ERROR = -4,        /* the firmware rejected the message (VMPCK0 wiped) */
	GREQ_BAD_RESPONSE = -5,    /* the answer failed a check or did not decrypt (VMPCK0 wiped) */
	GREQ_STATUS = -6,          /* a valid answer with a non-zero STATUS (channel intact) */
	GREQ_BAD_REPORT = -7,      /* a valid answer whose report is wrong (size, REPORT_DATA, VMPL) */
	GREQ_CERTS_TOO_BIG = -8,   /* the hypervisor's certificates exceed SNP_CERTS_MAX_SIZE */
	GREQ_BAD_CERTS = -9,       /* the certificate table is malformed */
	GREQ_NO_GHCB = -10,        /* this vCPU has no GHCB (nothing was sent) */
	GREQ_INVALID = -11,        /* bad argument from the caller (nothing was sent) */
};

/* How often a "busy" answer is retried with the same message before giving up. */
#define GREQ_BUSY_RETRIES 16

/*
 * Boot: take VMPCK0 from the secrets page at @secrets_gpa and set up the pages. 0 or -1
 * (then every claim answers GREQ_DISABLED).
 */
int greq_init(u64 secrets_gpa);

/* Take the channel for this vCPU: GREQ_OK, GREQ_BUSY or GREQ_DISABLED. */
int greq_claim(void);
void greq_release(void);

/*
 * With the channel claimed: MSG_REPORT_REQ for @report_data at VMPL0 (key select 0). On
 * GREQ_OK the report is in *@report. With @want_certs the extended request is used and
 * the certificate table is copied into the channel's private buffer: *@certs points at it
 * (valid until greq_release) and *@certs_len is its length (0 if the hypervisor has no
 * certificates). On GREQ_CERTS_TOO_BIG *@certs_len is what the hypervisor asked for. On
 * GREQ_STATUS *@status holds the firmware's STATUS.
 */
int greq_report(const u8 report_data[SNP_REPORT_DATA_SIZE], struct snp_attestation_report *report, bool want_certs,
		const u8 **certs, u32 *certs_len, u32 *status);

/*
 * With the channel claimed: MSG_KEY_REQ; the derived key goes to @key. GREQ_STATUS with
 * *@status for a firmware refusal.
 */
int greq_derive_key(const struct snp_msg_key_req *req, u8 key[SNP_DERIVED_KEY_SIZE], u32 *status);

/* The channel's state, for tests and the CLI. */
struct greq_info {
	bool ready;
	bool disabled;
	u64 seqno;          /* last sequence number used (the next request carries seqno + 1) */
	u64 requests;       /* exchanges completed */
	u64 wipes;          /* 0 or 1: VMPCK0 was wiped */
	int last_error;     /* enum greq_result of the last failure */
	u64 last_exitinfo2; /* SW_EXITINFO2 of the last guest-request exit */
};
void greq_get_info(struct greq_info *out);

#endif
