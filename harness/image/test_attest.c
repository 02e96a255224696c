/*
 * In-image attestation: the SVSM's attestation protocol and guest-request client (core
 * code) on the emulated machine of the no-SNP platform, with the test image's PSP model
 * (emu/minipsp/: a measured launch, guest messages, reports signed with the committed test
 * VCEK). The guest at VMPL1 asks for SVSM_ATTEST_SERVICES with certificates; the SVSM asks
 * the PSP through the emulated hypervisor. The test checks what it can inside the image
 * and prints the evidence on the serial port as lines
 *   # evidence NAME OFFSET HEX      (NAME: nonce, manifest, report, certs; 64 bytes a line)
 *   # evidence-end NAME LENGTH
 * which ci/test-qemu.py collects and verifies on the host with OpenSSL
 * (ci/image-attest-verify.sh: certificate chain under the pinned test ARK, the ECDSA
 * P-384 signature, REPORT_DATA = SHA-512(nonce || manifest), VMPL).
 */
#include <svsm/attest.h>
#include <svsm/crypto.h>
#include <svsm/greq.h>
#include <svsm/log.h>
#include <svsm/snp_guest.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>

#include "ktest.h"
#include "minipsp/minipsp.h"
#include "snp.h"

/* The committed TEST keys (fixtures/attestation/keys), generated into C at build time. */
extern const struct minipsp_keys nosnp_psp_keys;

static struct minipsp attest_psp;

static struct ktest_env *boot_with_psp(void)
{
	struct emu_config cfg;
	struct minipsp_config mc = {.keys = &nosnp_psp_keys};

	for (unsigned i = 0; i < sizeof(mc.seed); i++) {
		mc.seed[i] = (u8)(0x51 + 7 * i);
	}
	nosnp_config_default(&cfg);
	cfg.policy = EMU_DEFAULT_POLICY;
	minipsp_init(&attest_psp, &mc);
	minipsp_attach(&attest_psp, &cfg);
	return ktest_boot_cfg(&cfg);
}

/* A request as Linux builds it: at CA + 8, the nonce after it, page-aligned buffers. */
struct attest_bufs {
	u64 req, nonce, report, manifest, certs;
	u8 nonce_bytes[SVSM_ATTEST_NONCE_SIZE];
};

static void attest_setup(struct ktest_env *e, struct attest_bufs *b)
{
	b->req = e->m->cfg.caa_gpa + offsetof(struct svsm_ca, buffer);
	b->nonce = b->req + sizeof(struct svsm_attest_single_req);
	b->report = guest_alloc_pages(&e->g, 1);
	b->manifest = guest_alloc_pages(&e->g, 1);
	b->certs = guest_alloc_pages(&e->g, SNP_CERTS_MAX_SIZE / PAGE_SIZE);
	for (unsigned i = 0; i < sizeof(b->nonce_bytes); i++) {
		b->nonce_bytes[i] = (u8)(0x10 + 3 * i);
	}
	KCHECK(b->report && b->manifest && b->certs, "no guest memory for the buffers");
	KCHECK_EQ(guest_write(&e->g, b->nonce, b->nonce_bytes, sizeof(b->nonce_bytes)), 0);
}

/* Write the request (SINGLE with @guid when given) and call; RAX, registers in @r. */
static u64 attest_call(struct ktest_env *e, const struct attest_bufs *b, const u8 *guid, u16 nonce_size,
		       struct guest_regs *r)
{
	struct svsm_attest_single_req q;

	memset(&q, 0, sizeof(q));
	q.base.report_gpa = b->report;
	q.base.report_size = PAGE_SIZE;
	q.base.nonce_gpa = b->nonce;
	q.base.nonce_size = nonce_size;
	q.base.manifest_gpa = b->manifest;
	q.base.manifest_size = PAGE_SIZE;
	q.base.certs_gpa = b->certs;
	q.base.certs_size = SNP_CERTS_MAX_SIZE;
	if (guid) {
		memcpy(q.guid, guid, sizeof(q.guid));
	}
	KCHECK_EQ(guest_write(&e->g, b->req, &q, guid ? sizeof(q) : sizeof(q.base)), 0);
	return ktest_call(e, SVSM_PROTOCOL_ATTEST, guid ? SVSM_ATTEST_SINGLE_SERVICE : SVSM_ATTEST_SERVICES, b->req,
			  ~0ull, ~0ull, r);
}

static void print_evidence(const char *name, const u8 *p, u32 len)
{
	static const char digits[] = "0123456789abcdef";
	char line[200];

	for (u32 off = 0; off < len; off += 64) {
		u32 n = len - off < 64 ? len - off : 64;
		int k = svsm_snprintf(line, sizeof(line), "# evidence %s %u ", name, off);
		for (u32 i = 0; i < n; i++) {
			line[k++] = digits[p[off + i] >> 4];
			line[k++] = digits[p[off + i] & 15];
		}
		line[k++] = '\n';
		serial_write(line, (size_t)k);
	}
	serial_printf("# evidence-end %s %u\n", name, len);
}

/* The attestation protocol is offered when the launch had a secrets page (a PSP), not otherwise. */
static void test_attest_query_protocol(void)
{
	struct guest_regs r;
	struct ktest_env *e = ktest_boot();

	if (!e) {
		return;
	}
	KCHECK_EQ(ktest_call(e, SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL, (1ull << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
	KCHECK_EQ(r.rcx, 0);
	e = boot_with_psp();
	if (!e) {
		return;
	}
	KCHECK_EQ(ktest_call(e, SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL, (1ull << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
	KCHECK_EQ(r.rcx, (1ull << 32) | 1);
}

/*
 * SERVICES with certificates through the whole path. Checked here: the sizes, REPORT_DATA
 * = SHA-512(nonce || manifest), VMPL 0, the measurement, the signature under the VCEK's
 * public key, the certificate table the hypervisor returned; then the evidence is printed
 * for the host's OpenSSL check.
 */
static void test_attest_services_report(void)
{
	static u8 report[SNP_REPORT_SIZE], manifest[PAGE_SIZE], certs[SNP_CERTS_MAX_SIZE];
	struct ktest_env *e = boot_with_psp();
	struct attest_bufs b;
	struct guest_regs r;

	if (!e) {
		return;
	}
	attest_setup(e, &b);
	if (!KCHECK_EQ(attest_call(e, &b, NULL, SVSM_ATTEST_NONCE_SIZE, &r), SVSM_SUCCESS)) {
		return;
	}
	/* No service in the image (no TPM engine): the 24-byte table header alone. */
	KCHECK_EQ(r.rcx, sizeof(struct svsm_manifest_hdr));
	KCHECK_EQ(r.r8, SNP_REPORT_SIZE);
	KCHECK_EQ(r.rdx, nosnp_psp_keys.cert_table_len);
	if (r.rcx > sizeof(manifest) || r.rdx > sizeof(certs)) {
		return;
	}
	u32 mlen = (u32)r.rcx, clen = (u32)r.rdx;
	KCHECK_EQ(guest_read(&e->g, b.report, report, sizeof(report)), 0);
	KCHECK_EQ(guest_read(&e->g, b.manifest, manifest, mlen), 0);
	KCHECK_EQ(guest_read(&e->g, b.certs, certs, clen), 0);

	const struct snp_attestation_report *rep = (const void *)report;
	const struct svsm_manifest_hdr *h = (const void *)manifest;
	static const u8 manifest_guid[16] = SVSM_MANIFEST_GUID;
	KCHECK(!memcmp(h->guid, manifest_guid, 16), "manifest GUID");
	KCHECK_EQ(h->count, 0);
	u8 want[SHA512_DIGEST_SIZE];
	struct sha512_ctx c;
	sha512_init(&c);
	sha512_update(&c, b.nonce_bytes, sizeof(b.nonce_bytes));
	sha512_update(&c, manifest, mlen);
	sha512_final(&c, want);
	KCHECK(!memcmp(rep->report_data, want, sizeof(want)), "REPORT_DATA is not SHA-512(nonce || manifest)");
	KCHECK_EQ(rep->vmpl, 0);
	KCHECK_EQ(rep->version, 3);
	KCHECK(!memcmp(rep->measurement, attest_psp.ld, SNP_MEASUREMENT_SIZE), "MEASUREMENT is not the launch's");
	KCHECK(!memcmp(rep->chip_id, nosnp_psp_keys.chip_id, SNP_CHIP_ID_SIZE), "CHIP_ID");
	u8 qx[P384_BYTES], qy[P384_BYTES], digest[SHA384_DIGEST_SIZE], sr[P384_BYTES], ss[P384_BYTES];
	for (unsigned i = 0; i < P384_BYTES; i++) {
		sr[i] = rep->sig_r[P384_BYTES - 1 - i];
		ss[i] = rep->sig_s[P384_BYTES - 1 - i];
	}
	sha384(report, SNP_REPORT_SIGNED_SIZE, digest);
	KCHECK_EQ(minipsp_vcek_public(&attest_psp, qx, qy), 0);
	KCHECK_EQ(p384_verify_digest(qx, qy, digest, sr, ss), 0);
	KCHECK(!memcmp(certs, nosnp_psp_keys.cert_table, clen), "certificate table");
	KCHECK_EQ(attest_psp.reports, 1);

	print_evidence("nonce", b.nonce_bytes, sizeof(b.nonce_bytes));
	print_evidence("manifest", manifest, mlen);
	print_evidence("report", report, sizeof(report));
	print_evidence("certs", certs, clen);
}

/* The image has no vTPM: SINGLE_SERVICE(vTPM) is UNSUPPORTED_PROTOCOL, nothing asked of the PSP. */
static void test_attest_no_vtpm_service(void)
{
	static const u8 vtpm_guid[16] = SVSM_VTPM_SERVICE_GUID;
	struct ktest_env *e = boot_with_psp();
	struct attest_bufs b;

	if (!e) {
		return;
	}
	attest_setup(e, &b);
	KCHECK_EQ(attest_call(e, &b, vtpm_guid, SVSM_ATTEST_NONCE_SIZE, NULL), SVSM_ERR_UNSUPPORTED_PROTOCOL);
	KCHECK_EQ(attest_psp.requests, 0);
}

/* A refused request (a 32-byte nonce) writes nothing and leaves the channel's sequence alone. */
static void test_attest_refused_changes_nothing(void)
{
	static u8 before[PAGE_SIZE], after[PAGE_SIZE];
	struct ktest_env *e = boot_with_psp();
	struct attest_bufs b;
	struct guest_regs r;

	if (!e) {
		return;
	}
	attest_setup(e, &b);
	KCHECK_EQ(guest_read(&e->g, b.report, before, sizeof(before)), 0);
	KCHECK_EQ(attest_call(e, &b, NULL, 32, &r), SVSM_ERR_INVALID_PARAMETER);
	KCHECK_EQ(guest_read(&e->g, b.report, after, sizeof(after)), 0);
	KCHECK(!memcmp(before, after, sizeof(before)), "the report buffer changed");
	KCHECK_EQ(attest_psp.requests, 0);
	/* The same buffers with the right nonce: the first message carries sequence number 1. */
	KCHECK_EQ(attest_call(e, &b, NULL, SVSM_ATTEST_NONCE_SIZE, &r), SVSM_SUCCESS);
	KCHECK_EQ(attest_psp.seqno[0], 2);
}

static const struct ktest tests[] = {
	{"attest_query_protocol", test_attest_query_protocol},
	{"attest_services_report", test_attest_services_report},
	{"attest_no_vtpm_service", test_attest_no_vtpm_service},
	{"attest_refused_changes_nothing", test_attest_refused_changes_nothing},
};

const struct ktest_suite ktest_suite_attest = {"attest", tests, ARRAY_COUNT(tests)};
