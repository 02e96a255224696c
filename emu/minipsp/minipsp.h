/*
 * The PSP model of the test image: the AMD Secure Processor's launch (digest, secrets page,
 * CPUID page check, policy), SNP guest messages with MSG_REPORT_REQ, reports signed with
 * the VCEK (ECDSA P-384, p384.h), and the hypervisor's side of the guest-request exits
 * with its certificate table. Freestanding, so that the no-SNP run of build/svsm-test.elf
 * in QEMU takes an attestation through the whole path (guest at VMPL1 -> SVSM -> PSP);
 * its crypto is the core's (svsm/crypto/) and p384.c. It follows the hosted model
 * (emu/psp/, OpenSSL) for everything it does, and does less: no MSG_KEY_REQ (answered
 * UNSUPPORTED), no hostile hooks, no launch log. The production image never links it.
 * docs/attestation.md ("The PSP in the test image") lists the differences and the tests.
 */
#ifndef EMU_MINIPSP_H
#define EMU_MINIPSP_H

#include <svsm/snp_guest.h>

#include "machine.h"
#include "minipsp/p384.h"

/* What the chip knows: its VCEK (a test key!) and identity, and the hypervisor's certificates. */
struct minipsp_keys {
	u8 vcek_d[P384_BYTES];           /* the VCEK's private scalar, big-endian */
	u8 chip_id[SNP_CHIP_ID_SIZE];    /* = the VCEK certificate's hwID */
	u8 bl_spl, tee_spl, snp_spl, ucode_spl; /* = its SPL extensions (TCB_VERSION bytes 0, 1, 6, 7) */
	const u8 *cert_table;            /* the extended request's table (ARK, ASK, VCEK in DER), or NULL */
	u32 cert_table_len;
};

struct minipsp_config {
	const struct minipsp_keys *keys;
	u8 seed[32];                      /* VMPCK0-3 and REPORT_ID are derived from it */
	u8 host_data[SNP_HOST_DATA_SIZE];
};

enum minipsp_state {
	MINIPSP_IDLE,
	MINIPSP_LAUNCHING,
	MINIPSP_RUNNING,
};

struct minipsp {
	struct minipsp_config cfg;
	enum minipsp_state state;
	u64 policy;
	u8 ld[SNP_MEASUREMENT_SIZE];           /* the launch digest; MEASUREMENT once running */
	u64 pages;                             /* SNP_LAUNCH_UPDATE pages */
	u8 vmpck[SNP_VMPCK_COUNT][SNP_VMPCK_SIZE];
	u64 seqno[SNP_VMPCK_COUNT];            /* last sequence number answered per VMPCK */
	u8 report_id[32];
	u64 requests, reports, rejected;
	u32 last_fw_error;
	/* Working pages: the firmware's private copy of the request, the answer, payloads. */
	u8 req[SNP_MSG_PAGE_SIZE];
	u8 resp[SNP_MSG_PAGE_SIZE];
	u8 payload[SNP_MSG_MAX_PAYLOAD];
	u8 out[SNP_MSG_MAX_PAYLOAD];
};

/* The machine-facing operations (ctx = struct minipsp *). */
extern const struct emu_psp_ops minipsp_ops;

/* Reset @p to a new chip and VM with @cfg (keys kept by pointer). */
void minipsp_init(struct minipsp *p, const struct minipsp_config *cfg);

/*
 * Attach @p to @cfg: the operations, and the secrets and CPUID pages just below the SVSM
 * region (after it if there is no room), as the hosted model places them.
 */
void minipsp_attach(struct minipsp *p, struct emu_config *cfg);

/* The firmware's SNP_GUEST_REQUEST on a private copy of the message: 0 or a firmware error. */
u32 minipsp_guest_request(struct minipsp *p, const u8 *req, u8 *resp);

/* Build and sign a report for @report_data at @vmpl, as the firmware would. 0 or -1. */
int minipsp_make_report(struct minipsp *p, const u8 report_data[SNP_REPORT_DATA_SIZE], u32 vmpl,
			struct snp_attestation_report *out);

/* The VCEK's public key (big-endian affine coordinates). 0 or -1. */
int minipsp_vcek_public(const struct minipsp *p, u8 qx[P384_BYTES], u8 qy[P384_BYTES]);

#endif
