/*
 * Fuzz target "attest": the attestation protocol from the guest side, on a machine
 * launched through the emulated PSP with the test service registered. Every request
 * field comes from the input: placement of the request, report/manifest/certificate
 * buffers (good pages, any page, any value) and sizes, the nonce's place and size,
 * reserved bytes, the service GUID and manifest version, the call id; plus the test
 * service's manifest size and pages taken away from the guest.
 *
 * Input: the common header (fuzz_common.h), then operations until the input ends:
 *   0 call     flags byte, call byte, then per flag the fields below: one SVSM_ATTEST_* call
 *              flags: bit 0 request at a fuzz address (else CA + 8), bit 1 report buffer,
 *              bit 2 manifest buffer, bit 3 certificate buffer, bit 4 nonce, bit 5 a
 *              reserved field, bit 6 GUID and version, bit 7 sizes
 *   1 service  u16: the test service's manifest becomes that many bytes (mod 8 KiB)
 *   2 revoke   buffer byte, how byte: a good buffer page rescinded by PVALIDATE (how & 1)
 *              or made read-only / inaccessible for VMPL1 (RMPADJUST by the SVSM)
 * Oracles beyond fuzz_call's: a successful call wrote the PSP's latest report, with
 * REPORT_DATA = SHA-512(nonce || manifest written) and sizes within the buffers; sizes
 * answered with INVALID_PARAMETER name a buffer that really was too small; the
 * guest-request channel is never wiped (the hypervisor is honest here).
 */
#include <string.h>

#include <svsm/arch.h>
#include <svsm/attest.h>
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

#define FUZZ_ATTEST_OPS 3
/* Good buffers the guest driver owns (the pool is validated, guest RW and zero). */
#define FA_REPORT (FUZZ_POOL_END - 8 * PAGE_SIZE)
#define FA_MANIFEST (FUZZ_POOL_END - 6 * PAGE_SIZE)
#define FA_CERTS (FUZZ_POOL_END - 4 * PAGE_SIZE)

static struct psp *fa_psp;

/* A PSP with the committed test keys, or new keys when the fixtures are not at hand. */
static struct psp *fa_make_psp(void)
{
	struct psp_config pc = {
		.keys_dir = FIXTURES_DIR "/attestation/keys", .deterministic = true, .seed = 7, .memo_signatures = 4096};
	char err[256];
	struct psp *p = psp_create(&pc, err, sizeof(err));

	if (!p) {
		pc.keys_dir = NULL;
		memset(pc.chip.chip_id, 0x5A, sizeof(pc.chip.chip_id));
		p = psp_create(&pc, err, sizeof(err));
	}
	if (!p) {
		fprintf(stderr, "fuzz attest: %s\n", err);
	}
	return p;
}

static int fa_init(void)
{
	fa_psp = fa_make_psp();
	if (!fa_psp) {
		return -1;
	}
	if (fuzz_machine_init(&(struct fuzz_machine_opts){.psp = fa_psp}) != 0) {
		return -1;
	}
	return 0;
}

static void fa_set_service(u32 len)
{
	static u8 data[ATTEST_TEST_SERVICE_MAX];

	for (u32 i = 0; i < len; i++) {
		data[i] = (u8)(i * 7 + len);
	}
	if (attest_test_service_register(fuzz_m(), data, len) != 0) {
		fuzz_finding("the test service could not be registered");
	}
}

static u64 fa_gpa(struct fuzz_in *in, u64 good)
{
	switch (fuzz_u8(in) % 4) {
	case 0:
		return good;
	case 1:
		return fuzz_page(in);
	case 2:
		return good + (fuzz_u16(in) & 0xFFF);
	default:
		return fuzz_value(in);
	}
}

static u32 fa_size(struct fuzz_in *in, u32 good)
{
	switch (fuzz_u8(in) % 4) {
	case 0:
		return good;
	case 1:
		return fuzz_u16(in);
	case 2:
		return good - 1;
	default:
		return fuzz_u32(in);
	}
}

static void fa_call(struct fuzz_in *in)
{
	static const u8 test_guid[16] = ATTEST_TEST_SERVICE_GUID;
	u8 flags = fuzz_u8(in);
	u8 call_sel = fuzz_u8(in);
	u32 call = call_sel < 0xF0 ? call_sel & 1 : call_sel;
	u64 ca_buf = FUZZ_CAA + 8;
	struct svsm_attest_single_req req;
	u8 nonce[SVSM_ATTEST_NONCE_SIZE];

	memset(&req, 0, sizeof(req));
	u64 req_gpa = (flags & 1) ? fuzz_value(in) : ca_buf;
	req.base.report_gpa = (flags & 2) ? fa_gpa(in, FA_REPORT) : FA_REPORT;
	req.base.report_size = PAGE_SIZE;
	req.base.manifest_gpa = (flags & 4) ? fa_gpa(in, FA_MANIFEST) : FA_MANIFEST;
	req.base.manifest_size = 2 * PAGE_SIZE;
	req.base.certs_gpa = (flags & 8) ? fa_gpa(in, FA_CERTS) : 0;
	req.base.certs_size = (flags & 8) ? SNP_CERTS_MAX_SIZE : 0;
	req.base.nonce_gpa = (flags & 16) ? fa_gpa(in, ca_buf + 0x100) : ca_buf + 0x100;
	req.base.nonce_size = SVSM_ATTEST_NONCE_SIZE;
	if (flags & 32) {
		static const u8 rsvd[] = {0x0C, 0x1A, 0x1F, 0x2C, 0x3C, 0x54};
		((u8 *)&req)[rsvd[fuzz_u8(in) % sizeof(rsvd)]] = (u8)(fuzz_u8(in) | 1);
	}
	memcpy(req.guid, test_guid, sizeof(test_guid));
	if (flags & 64) {
		u8 g = fuzz_u8(in);
		if (g & 1) {
			memset(req.guid, 0, sizeof(req.guid));
		}
		if (g & 2) {
			req.guid[fuzz_u8(in) % 16] ^= (u8)(fuzz_u8(in) | 1);
		}
		req.manifest_version = (g & 4) ? fuzz_u32(in) : 0;
	}
	if (flags & 128) {
		req.base.report_size = fa_size(in, SNP_REPORT_SIZE);
		req.base.manifest_size = fa_size(in, 2 * PAGE_SIZE);
		req.base.nonce_size = (u16)fa_size(in, SVSM_ATTEST_NONCE_SIZE);
		if (flags & 8) {
			req.base.certs_size = fa_size(in, SNP_CERTS_MAX_SIZE);
		}
	}
	for (unsigned i = 0; i < sizeof(nonce); i++) {
		nonce[i] = fuzz_u8(in);
	}
	/* The guest writes what it can; a write it has no right to simply does not happen. */
	guest_write(fuzz_g(), req.base.nonce_gpa, nonce, sizeof(nonce));
	guest_write(fuzz_g(), req_gpa, &req, call == SVSM_ATTEST_SINGLE_SERVICE ? sizeof(req) : sizeof(req.base));

	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_ATTEST, call), .rcx = req_gpa, .rdx = ~0ull, .r8 = ~0ull};
	if (fuzz_call(0, &r, true) != GUEST_OK) {
		return;
	}
	u32 rax = (u32)r.rax;
	bool certs_wanted = req.base.certs_size != 0;
	if (rax == SVSM_SUCCESS) {
		static u8 manifest[SVSM_ATTEST_MANIFEST_MAX];
		u8 report[SNP_REPORT_SIZE], want[64], got_nonce[SVSM_ATTEST_NONCE_SIZE];
		if (r.r8 != SNP_REPORT_SIZE || r.rcx > req.base.manifest_size || r.rcx > sizeof(manifest) ||
		    (certs_wanted ? r.rdx > req.base.certs_size : r.rdx != 0)) {
			fuzz_finding("success with sizes RCX %#llx RDX %#llx R8 %#llx outside the buffers",
				     (unsigned long long)r.rcx, (unsigned long long)r.rdx, (unsigned long long)r.r8);
		}
		if (guest_read(fuzz_g(), req.base.report_gpa, report, sizeof(report)) != 0 ||
		    guest_read(fuzz_g(), req.base.manifest_gpa, manifest, r.rcx) != 0 ||
		    guest_read(fuzz_g(), req.base.nonce_gpa, got_nonce, sizeof(got_nonce)) != 0) {
			fuzz_finding("success, but the guest cannot read what the SVSM wrote");
		}
		fuzz_report_data(got_nonce, sizeof(got_nonce), manifest, r.rcx, want);
		const struct snp_attestation_report *rep = (const void *)report;
		if (memcmp(rep->report_data, want, sizeof(want)) ||
		    memcmp(report, &fa_psp->st->last_report, sizeof(report))) {
			fuzz_finding("success with a report that is not the PSP's for SHA-512(nonce || manifest)");
		}
	} else if (rax == SVSM_ERR_INVALID_PARAMETER && r.r8 != ~0ull) {
		/* Sizes were answered: some buffer must really have been too small. */
		bool small = req.base.report_size < r.r8 || req.base.manifest_size < r.rcx ||
			     (certs_wanted && r.rdx != ~0ull && req.base.certs_size < r.rdx);
		if (!small) {
			fuzz_finding("INVALID_PARAMETER with sizes RCX %#llx RDX %#llx R8 %#llx that all fit",
				     (unsigned long long)r.rcx, (unsigned long long)r.rdx, (unsigned long long)r.r8);
		}
	}
	struct greq_info gi;
	fuzz_svsm_begin();
	greq_get_info(&gi);
	fuzz_svsm_end();
	if (gi.disabled) {
		fuzz_finding("an honest hypervisor and PSP, yet VMPCK0 was wiped (error %d)", gi.last_error);
	}
}

static void fa_revoke(struct fuzz_in *in)
{
	static const u64 bufs[] = {FA_REPORT, FA_MANIFEST, FA_CERTS, FA_CERTS + PAGE_SIZE};
	u64 gpa = bufs[fuzz_u8(in) % 4];
	u8 how = fuzz_u8(in);

	if (how & 1) {
		u64 list = FUZZ_CAA + 0x800;
		struct svsm_list_hdr h = {.entries = 1};
		u64 e = gpa; /* 4 KiB, rescind */
		if (guest_write(fuzz_g(), list, &h, sizeof(h)) == 0 && guest_write(fuzz_g(), list + 8, &e, 8) == 0) {
			struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_PVALIDATE), .rcx = list};
			fuzz_call(0, &r, false);
		}
		return;
	}
	/* Only ever take rights away (a grant of a non-zero page is an oracle violation of its own). */
	const struct rmp_entry *e = rmp_entry(&fuzz_m()->rmp, gpa);
	u8 perms = ((how & 2) ? VMPL_PERM_READ : 0) & (e ? e->perms[EMU_GUEST_VMPL] : 0);
	if (!e || perms == e->perms[EMU_GUEST_VMPL]) {
		return;
	}
	fuzz_svsm_begin();
	arch_rmpadjust(gpa, PAGE_SIZE_4K, EMU_GUEST_VMPL, perms, false);
	fuzz_svsm_end();
}

static void fa_run(const u8 *data, size_t size)
{
	struct fuzz_in in = {.p = data, .left = size};

	/*
	 * The snapshot is of the booted SVSM without services; every input registers the
	 * test service with its default manifest first (its data lives outside the snapshot).
	 */
	if (fuzz_begin(&in) && attest_test_service_register(fuzz_m(), NULL, 0) == 0) {
		for (unsigned ops = 0; fuzz_more(&in) && ops < 64; ops++) {
			switch (fuzz_u8(&in) % FUZZ_ATTEST_OPS) {
			case 0:
				fa_call(&in);
				break;
			case 1:
				fa_set_service(fuzz_u16(&in) % ATTEST_TEST_SERVICE_MAX);
				break;
			default:
				fa_revoke(&in);
				break;
			}
		}
	}
	fuzz_end();
}

const struct fuzz_target fuzz_target = {"attest", fa_init, fa_run};
