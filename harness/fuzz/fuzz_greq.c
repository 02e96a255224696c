/*
 * Fuzz target "greq": the hypervisor's and the PSP's answers to the SVSM's guest requests.
 * A guest asks for attestations (valid requests) while input bytes decide, at every
 * decision point of the hypervisor's guest-request service (busy, dropped, replayed or
 * tampered answers, SW_EXITINFO2, the pages it claims to need, the certificate table) and
 * of the GHCB exit itself (SW_EXITINFO1/2), whether it lies; the PSP can sign another
 * report than the one asked for, and its own state can be moved behind the SVSM's back
 * (sequence numbers, a VMPCK byte).
 *
 * Input: the common header, then operations; the decisions take bytes from the same
 * stream whenever the hypervisor answers (a byte below 0xC0 means "honest"; a finished
 * input means honest answers):
 *   0 attest   flags byte (bit 0 certificates, bit 1 single service), then the call
 *   1 psp      kind byte, value byte: seqno[n] += or -= 2, or a VMPCK byte flipped
 *   2 key      u64 guest field select, vmpl byte, root byte: MSG_KEY_REQ by the SVSM itself
 * Oracles beyond fuzz_call's: a successful call wrote exactly the PSP's latest report, for
 * SHA-512(nonce || manifest written); an attestation with no lie and an untouched PSP
 * succeeds; once VMPCK0 is wiped it is zero in the secrets page and no guest request
 * leaves the SVSM again; a derived key is the one the honest PSP gives.
 */
#include <string.h>

#include <svsm/attest.h>
#include <svsm/ghcb.h>
#include <svsm/greq.h>
#include <svsm/svsm_abi.h>

#include "attest_test_service.h"
#include "fuzz_common.h"
#include "guest.h"
#include "machine.h"
#include "psp/psp.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

#define FUZZ_GREQ_OPS 3
#define FG_REPORT (FUZZ_POOL_END - 8 * PAGE_SIZE)
#define FG_MANIFEST (FUZZ_POOL_END - 6 * PAGE_SIZE)
#define FG_CERTS (FUZZ_POOL_END - 4 * PAGE_SIZE)

static struct psp *fg_psp;
static struct fuzz_in *fg_in;
static bool fg_lied;         /* some answer of this call was a lie */
static bool fg_psp_touched;  /* the PSP's state was changed in this input */

static int fg_init(void)
{
	struct psp_config pc = {
		.keys_dir = FIXTURES_DIR "/attestation/keys", .deterministic = true, .seed = 9, .memo_signatures = 4096};
	char err[256];

	fg_psp = psp_create(&pc, err, sizeof(err));
	if (!fg_psp) {
		pc.keys_dir = NULL;
		memset(pc.chip.chip_id, 0xA5, sizeof(pc.chip.chip_id));
		fg_psp = psp_create(&pc, err, sizeof(err));
	}
	if (!fg_psp) {
		fprintf(stderr, "fuzz greq: %s\n", err);
		return -1;
	}
	return fuzz_machine_init(&(struct fuzz_machine_opts){.psp = fg_psp});
}

/* The hypervisor's guest-request service: honest unless the next byte says otherwise. */
static u64 fg_psp_decide(void *ctx, enum psp_hostile_point point, u64 proper)
{
	struct fuzz_in *in = fg_in;

	if (!in || !fuzz_more(in)) {
		return proper;
	}
	u8 b = fuzz_u8(in);
	if (b < 0xC0) {
		return proper;
	}
	fg_lied = true;
	switch (point) {
	case PSP_HOSTILE_BUSY:
	case PSP_HOSTILE_DROP:
	case PSP_HOSTILE_REPLAY:
		return 1;
	case PSP_HOSTILE_TAMPER:
	case PSP_HOSTILE_CERTS:
	case PSP_HOSTILE_REPORT:
		return (u64)fuzz_u16(in) << 8 | (fuzz_u8(in) | 1);
	case PSP_HOSTILE_CERT_PAGES:
		return fuzz_u8(in);
	case PSP_HOSTILE_EXITINFO2:
		switch (b & 3) {
		case 0:
			return proper ^ 1;
		case 1:
			return (u64)(1 + (b >> 2) % 3) << 32;
		default:
			return fuzz_u64(in);
		}
	default:
		return proper;
	}
}

/* SW_EXITINFO1/2 of GHCB exits (the guest request's and the console's). */
static u64 fg_nae_decide(void *ctx, enum emu_hostile_point point, u64 proper)
{
	struct fuzz_in *in = fg_in;

	if ((point != HOSTILE_NAE_EXITINFO1 && point != HOSTILE_NAE_EXITINFO2) || !in || !fuzz_more(in)) {
		return proper;
	}
	u8 b = fuzz_u8(in);
	if (b < 0xE0) {
		return proper;
	}
	fg_lied = true;
	if (point == HOSTILE_NAE_EXITINFO1) {
		return (b & 1) ? GHCB_NAE_ERROR : GHCB_NAE_EXCEPTION;
	}
	return fuzz_u64(in);
}

static struct greq_info fg_info(void)
{
	struct greq_info gi;

	fuzz_svsm_begin();
	greq_get_info(&gi);
	fuzz_svsm_end();
	return gi;
}

static bool fg_vmpck0_zero(void)
{
	static const u8 zero[SNP_VMPCK_SIZE];

	return !memcmp(emu_mem(fuzz_m(), fuzz_m()->cfg.secrets_gpa) + SNP_SECRETS_VMPCK_OFFSET(0), zero, sizeof(zero));
}

static void fg_attest(struct fuzz_in *in)
{
	static const u8 test_guid[16] = ATTEST_TEST_SERVICE_GUID;
	u8 flags = fuzz_u8(in);
	u64 req_gpa = FUZZ_CAA + 8;
	struct svsm_attest_single_req req;
	u8 nonce[SVSM_ATTEST_NONCE_SIZE];
	bool single = flags & 2;

	memset(&req, 0, sizeof(req));
	req.base.report_gpa = FG_REPORT;
	req.base.report_size = PAGE_SIZE;
	req.base.manifest_gpa = FG_MANIFEST;
	req.base.manifest_size = PAGE_SIZE;
	req.base.certs_gpa = (flags & 1) ? FG_CERTS : 0;
	req.base.certs_size = (flags & 1) ? SNP_CERTS_MAX_SIZE : 0;
	req.base.nonce_gpa = req_gpa + 0x100;
	req.base.nonce_size = SVSM_ATTEST_NONCE_SIZE;
	memcpy(req.guid, test_guid, sizeof(test_guid));
	for (unsigned i = 0; i < sizeof(nonce); i++) {
		nonce[i] = (u8)(flags + i);
	}
	if (guest_write(fuzz_g(), req.base.nonce_gpa, nonce, sizeof(nonce)) != 0 ||
	    guest_write(fuzz_g(), req_gpa, &req, single ? sizeof(req) : sizeof(req.base)) != 0) {
		fuzz_finding("the guest cannot write its own calling area");
	}
	struct greq_info before = fg_info();
	u64 exits = emu_exits(fuzz_m(), EXIT_NAE_GUEST_REQUEST);
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_ATTEST, single ? SVSM_ATTEST_SINGLE_SERVICE : SVSM_ATTEST_SERVICES),
			       .rcx = req_gpa,
			       .rdx = ~0ull,
			       .r8 = ~0ull};
	fg_lied = false;
	fg_in = in;
	fg_psp->hostile = fg_psp_decide;
	fuzz_m()->hostile.decide = fg_nae_decide;
	int st = fuzz_call(0, &r, false);
	fg_psp->hostile = NULL;
	fuzz_m()->hostile.decide = NULL;
	fg_in = NULL;
	if (st != GUEST_OK) {
		return;
	}
	struct greq_info after = fg_info();
	if ((u32)r.rax == SVSM_SUCCESS) {
		static u8 manifest[PAGE_SIZE];
		u8 report[SNP_REPORT_SIZE], want[64];
		if (r.rcx > sizeof(manifest) || guest_read(fuzz_g(), FG_REPORT, report, sizeof(report)) != 0 ||
		    guest_read(fuzz_g(), FG_MANIFEST, manifest, r.rcx) != 0) {
			fuzz_finding("success, but the guest cannot read the report and manifest");
		}
		fuzz_report_data(nonce, sizeof(nonce), manifest, r.rcx, want);
		if (memcmp(((const struct snp_attestation_report *)report)->report_data, want, sizeof(want)) ||
		    memcmp(report, &fg_psp->st->last_report, sizeof(report))) {
			fuzz_finding("a report that is not the PSP's latest for SHA-512(nonce || manifest) was accepted");
		}
	} else if (!fg_lied && !fg_psp_touched && !before.disabled) {
		fuzz_finding("no lie and an untouched PSP, yet the attestation failed (0x%x, error %d)", (u32)r.rax,
			     after.last_error);
	}
	if (after.disabled && !fg_vmpck0_zero()) {
		fuzz_finding("the channel is disabled but VMPCK0 is still in the secrets page");
	}
	if (before.disabled && emu_exits(fuzz_m(), EXIT_NAE_GUEST_REQUEST) != exits) {
		fuzz_finding("a guest request left the SVSM after VMPCK0 was wiped");
	}
}

static void fg_perturb(struct fuzz_in *in)
{
	u8 kind = fuzz_u8(in);
	u8 value = fuzz_u8(in);
	struct psp_state *st = fg_psp->st;

	fg_psp_touched = true;
	switch (kind % 3) {
	case 0:
		st->seqno[value % SNP_VMPCK_COUNT] += 2;
		break;
	case 1:
		st->seqno[value % SNP_VMPCK_COUNT] -= 2;
		break;
	default:
		st->vmpck[value % SNP_VMPCK_COUNT][value % SNP_VMPCK_SIZE] ^= 0x80;
		break;
	}
}

static void fg_key(struct fuzz_in *in)
{
	struct snp_msg_key_req req = {
		.guest_field_select = fuzz_u64(in) & (SNP_KEY_FIELD_MASK | 0x40),
		.vmpl = fuzz_u8(in) % 5,
		.root_key_select = fuzz_u8(in) % 3,
	};
	u8 k1[SNP_DERIVED_KEY_SIZE], k2[SNP_DERIVED_KEY_SIZE];
	u32 status = 0;

	fuzz_svsm_begin();
	int c = greq_claim();
	int rc1 = c == GREQ_OK ? greq_derive_key(&req, k1, &status) : c;
	int rc2 = c == GREQ_OK && rc1 == GREQ_OK ? greq_derive_key(&req, k2, &status) : rc1;
	if (c == GREQ_OK) {
		greq_release();
	}
	fuzz_svsm_end();
	if (rc1 == GREQ_OK && rc2 == GREQ_OK && memcmp(k1, k2, sizeof(k1))) {
		fuzz_finding("two derivations of the same key differ");
	}
	bool valid = !(req.guest_field_select & ~SNP_KEY_FIELD_MASK) && req.vmpl <= 3 && req.root_key_select <= 1;
	if (!fg_psp_touched && c == GREQ_OK && (rc1 == GREQ_OK) != valid) {
		fuzz_finding("MSG_KEY_REQ %s a %s request (%d, status 0x%x)", rc1 == GREQ_OK ? "served" : "refused",
			     valid ? "valid" : "invalid", rc1, status);
	}
}

static void fg_run(const u8 *data, size_t size)
{
	struct fuzz_in in = {.p = data, .left = size};

	fg_psp_touched = false;
	if (fuzz_begin(&in) && attest_test_service_register(fuzz_m(), NULL, 0) == 0) {
		for (unsigned ops = 0; fuzz_more(&in) && ops < 32; ops++) {
			switch (fuzz_u8(&in) % FUZZ_GREQ_OPS) {
			case 0:
				fg_attest(&in);
				break;
			case 1:
				fg_perturb(&in);
				break;
			default:
				fg_key(&in);
				break;
			}
		}
	}
	fuzz_end();
}

const struct fuzz_target fuzz_target = {"greq", fg_init, fg_run};
