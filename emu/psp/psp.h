/*
 * The emulated AMD Secure Processor (hosted, OpenSSL 3 EVP): the launch digest of
 * SNP_LAUNCH_START/UPDATE/FINISH, the secrets page with VMPCK0-3, SNP guest messages
 * (MSG_REPORT_REQ, MSG_KEY_REQ) with the firmware's checks, signed attestation reports,
 * a test key hierarchy shaped like AMD's (ARK -> ASK -> VCEK), and the hypervisor's side of
 * the guest-request exits with its certificate table. docs/attestation.md describes the
 * model and every choice it makes where the reference is silent.
 */
#ifndef EMU_PSP_H
#define EMU_PSP_H

#include <stdio.h>

#include <svsm/snp_guest.h>

#include "machine.h"

/* The emulated firmware and platform (test values, documented in docs/attestation.md). */
#define PSP_FW_MAJOR 1
#define PSP_FW_MINOR 55
#define PSP_FW_BUILD 21
#define PSP_REPORT_VERSION 3
#define PSP_CPUID_FAMILY 0x19
#define PSP_CPUID_MODEL 0x11
#define PSP_CPUID_STEPPING 0x01
/* PLATFORM_INFO: SMT enabled. */
#define PSP_PLATFORM_INFO 0x1ull
#define PSP_LAUNCH_DIGEST_SIZE 48

/* --- the launch digest (emu/psp/launch.c) ------------------------------------------------ */

struct psp_launch_entry {
	u64 gpa;
	u8 type;
	u8 perms[3];
	u8 contents[PSP_LAUNCH_DIGEST_SIZE];
};

enum psp_launch_state {
	PSP_LAUNCH_IDLE,
	PSP_LAUNCH_STARTED,
	PSP_LAUNCH_FINISHED,
};

struct psp_launch {
	enum psp_launch_state state;
	u64 policy;
	u8 ld[PSP_LAUNCH_DIGEST_SIZE]; /* the launch digest so far; MEASUREMENT after finish */
	u64 pages;
	bool keep_log;
	struct psp_launch_entry *log;  /* every page, when keep_log */
	size_t log_len, log_cap;
};

/* Why @policy is refused by the emulated firmware, or NULL if it is accepted. */
const char *psp_policy_check(u64 policy);

void psp_launch_init(struct psp_launch *l, bool keep_log);
void psp_launch_free(struct psp_launch *l);
/* SNP_LAUNCH_START: 0, SEV_RET_POLICY_FAILURE or SEV_RET_INVALID_GUEST_STATE. */
u32 psp_launch_start(struct psp_launch *l, u64 policy);
/*
 * Measure one page: LD = SHA-384(PAGE_INFO), with CONTENTS = SHA-384 of the page for
 * NORMAL and VMSA (their @p->contents), 48 zero bytes for the other types. Returns 0,
 * SEV_RET_INVALID_GUEST_STATE (not started) or SEV_RET_INVALID_PARAM (bad type, GPA or
 * missing contents).
 */
u32 psp_launch_measure(struct psp_launch *l, const struct emu_launch_page *p);
/* SNP_LAUNCH_FINISH: freezes the measurement. */
u32 psp_launch_finish(struct psp_launch *l);
/*
 * The launch log as JSON (docs/attestation.md, "Launch log"): the policy, one entry per
 * page with GPA, type, VMPL permissions and contents digest, and the measurement.
 */
int psp_launch_write_log(const struct psp_launch *l, FILE *f);

/* --- keys and certificates (emu/psp/keys.c) ---------------------------------------------- */

/* Who the chip is: CHIP_ID and the TCB its VCEK was derived for. */
struct psp_chip {
	u8 chip_id[SNP_CHIP_ID_SIZE];
	u8 bl_spl, tee_spl, snp_spl, ucode_spl;
};

/* TCB_VERSION of a chip (Milan/Genoa layout: bytes 0, 1, 6, 7). */
u64 psp_chip_tcb(const struct psp_chip *c);

struct evp_pkey_st;
struct x509_st;

struct psp_keys {
	struct evp_pkey_st *ark, *ask, *vcek;    /* private keys (test keys) */
	struct x509_st *ark_cert, *ask_cert, *vcek_cert;
	struct psp_chip chip;                    /* from the VCEK certificate's extensions */
};

/*
 * Load the hierarchy from @dir: ark.key/ark.pem, ask.key/ask.pem, vcek.key/vcek.pem (PEM;
 * fixtures/attestation/keys holds the committed test keys). The chip identity comes from
 * the VCEK certificate's AMD extensions. 0, or -1 with a reason in @err.
 */
int psp_keys_load(struct psp_keys *k, const char *dir, char *err, size_t err_size);
/*
 * Make a hierarchy: with @roots the ARK and ASK are taken from it (a new chip under the
 * same AMD roots), else new RSA-4096 ones are made; the VCEK is a new P-384 key certified
 * for @chip. 0 or -1.
 */
int psp_keys_generate(struct psp_keys *k, const struct psp_keys *roots, const struct psp_chip *chip, char *err,
		      size_t err_size);
/* Write the certificates (and with @private_keys the keys) as PEM into @dir. 0 or -1. */
int psp_keys_write(const struct psp_keys *k, const char *dir, bool private_keys, char *err, size_t err_size);
void psp_keys_free(struct psp_keys *k);
/* DER of a certificate into a malloc'ed buffer; its length, or 0 on failure. */
size_t psp_cert_der(struct x509_st *cert, u8 **out);

/* --- the PSP (emu/psp/psp.c) --------------------------------------------------------------- */

/* Decision points of a hostile hypervisor on the guest-request exits (emu/psp/hv_greq.c). */
enum psp_hostile_point {
	PSP_HOSTILE_BUSY,        /* 1 = answer VMM BUSY without forwarding the request */
	PSP_HOSTILE_CERT_PAGES,  /* pages the hypervisor claims it needs (RBX on INVALID_LEN) */
	PSP_HOSTILE_DROP,        /* 1 = do not forward, answer success and leave the response page */
	PSP_HOSTILE_REPLAY,      /* 1 = answer with the previous response instead */
	PSP_HOSTILE_TAMPER,      /* non-zero: XOR the response byte at (v >> 8) % 4096 with v & 0xFF */
	PSP_HOSTILE_EXITINFO2,   /* SW_EXITINFO2 written back */
	PSP_HOSTILE_CERTS,       /* non-zero: XOR the certificate byte at (v >> 8) % 16384 with v & 0xFF */
	PSP_HOSTILE_REPORT,      /* non-zero: a firmware that signs another report: XOR the byte at
				  * (v >> 8) % 0x2A0 with v & 0xFF before signing */
	PSP_HOSTILE_POINT_COUNT,
};

struct psp_config {
	const char *keys_dir;     /* load the hierarchy from here; NULL = generate (see keys_roots) */
	const struct psp_keys *keys_roots; /* with keys_dir NULL: ARK/ASK to reuse, NULL = new ones */
	struct psp_chip chip;     /* for generated keys */
	bool deterministic;       /* VMPCKs, REPORT_ID and signatures' inputs from @seed */
	u64 seed;
	u8 host_data[SNP_HOST_DATA_SIZE];
	bool keep_launch_log;
	bool no_certs;            /* the hypervisor has no certificates for the extended request */
	u32 extra_cert_bytes;     /* and a CRL entry of this size (tests of oversized tables) */
	/*
	 * Remember the signatures of up to this many report bodies and give a body signed
	 * before the same signature again (0: every report signed afresh). For the fuzz
	 * targets, where most reports repeat and P-384 signing would take half the time; not
	 * for a PSP that several threads use at once.
	 */
	u32 memo_signatures;
};

struct psp_sig_memo;

/* Mutable state of the PSP and its hypervisor side, in one page-aligned block (snapshots). */
struct psp_state {
	u8 vmpck[SNP_VMPCK_COUNT][SNP_VMPCK_SIZE];
	u64 seqno[SNP_VMPCK_COUNT];       /* last sequence number answered per VMPCK (0 = none) */
	u8 report_id[32];
	u64 rng;
	u64 requests, reports, derived_keys, rejected;
	u32 last_fw_error;
	bool have_last_resp;
	u8 last_resp[SNP_MSG_PAGE_SIZE];   /* the hypervisor's copy of the previous response */
	struct snp_attestation_report last_report; /* the last report the firmware made */
};

struct psp {
	struct psp_config cfg;
	struct psp_keys keys;
	struct psp_launch launch;
	struct psp_state *st;
	u8 measurement[PSP_LAUNCH_DIGEST_SIZE];
	u64 policy;
	struct psp_sig_memo *memo; /* cfg.memo_signatures entries, or NULL */
	u64 memo_hits;
	u8 *cert_table;           /* the hypervisor's certificate blob (table + DER certificates) */
	size_t cert_table_len;
	/* A hostile hypervisor on the guest-request path: consulted at each point when set. */
	u64 (*hostile)(void *ctx, enum psp_hostile_point point, u64 proper);
	void *hostile_ctx;
};

/* The machine-facing operations (ctx = struct psp *). */
extern const struct emu_psp_ops psp_machine_ops;

/* Create a PSP; NULL with a reason in @err. */
struct psp *psp_create(const struct psp_config *cfg, char *err, size_t err_size);
void psp_destroy(struct psp *p);
/*
 * Attach @p to @cfg: the PSP's operations, and the secrets and CPUID pages placed by
 * psp_default_pages unless @cfg already names them.
 */
void psp_attach(struct psp *p, struct emu_config *cfg);
/* Secrets and CPUID pages just below the SVSM region (after it if there is no room below). */
void psp_default_pages(struct emu_config *cfg);

/*
 * The firmware's SNP_GUEST_REQUEST: the message in @req (one page, a private copy) is
 * checked, decrypted with the VMPCK its header names, served, and the encrypted answer
 * written to @resp. Returns 0 or the firmware error (SEV_RET_*); on error @resp is left
 * alone and no sequence number advances.
 */
u32 psp_guest_request(struct psp *p, const u8 *req, u8 *resp);

/* The hypervisor's side of exits 0x8000_0011/12 (emu/psp/hv_greq.c). */
void psp_hv_guest_request(void *ctx, struct emu_machine *m, struct emu_vcpu *v, struct ghcb *g, u64 exit_code);

/* Sign @report (bytes 0x000-0x29F) with the VCEK into its signature field. 0 or -1. */
int psp_sign_report(struct psp *p, struct snp_attestation_report *report);

/* Build a report as the firmware would for @report_data at @vmpl (signed). 0 or -1. */
int psp_make_report(struct psp *p, const u8 report_data[SNP_REPORT_DATA_SIZE], u32 vmpl,
		    struct snp_attestation_report *out);

/* --- the test image's PSP model from these keys (emu/psp/minipsp_keys.c) ------------------ */

struct minipsp_keys;
/*
 * The VCEK's private scalar, the chip's identity and the certificate table of @p for the
 * freestanding model (emu/minipsp/); the table is @p's (valid while @p lives). 0 or -1.
 */
int psp_minipsp_keys(const struct psp *p, struct minipsp_keys *out);
/* @k as C source defining `const struct minipsp_keys @name` (the test image's keys). 0 or -1. */
int psp_minipsp_keys_write_c(const struct minipsp_keys *k, const char *name, FILE *f);

/*
 * Encrypt @payload as a guest message of @type with VMPCK @vmpck and sequence number
 * @seqno into @page (a guest's side, for tests and tools). 0 or -1.
 */
int psp_msg_seal(const u8 key[SNP_VMPCK_SIZE], u8 vmpck, u64 seqno, u8 type, const void *payload, u16 len, u8 *page);
/* Check and decrypt the guest message in @page with @key into @payload (@max bytes). Its size, or -1. */
int psp_msg_open(const u8 key[SNP_VMPCK_SIZE], const u8 *page, void *payload, u16 max);

#endif
