/* The verifier of SVSM attestations (see verify.h): independent of the PSP model, OpenSSL only. */
#include <stdarg.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "verify.h"

#define OID_BL_SPL "1.3.6.1.4.1.3704.1.3.1"
#define OID_TEE_SPL "1.3.6.1.4.1.3704.1.3.2"
#define OID_SNP_SPL "1.3.6.1.4.1.3704.1.3.3"
#define OID_UCODE_SPL "1.3.6.1.4.1.3704.1.3.8"
#define OID_HWID "1.3.6.1.4.1.3704.1.4"

static const char *const verify_names[VERIFY_CHECK_COUNT] = {
	[VERIFY_OK] = "ok",
	[VERIFY_FORMAT] = "format",
	[VERIFY_CHAIN] = "chain",
	[VERIFY_SIGNATURE] = "signature",
	[VERIFY_VCEK_BINDING] = "vcek_binding",
	[VERIFY_REPORT_DATA] = "report_data",
	[VERIFY_VMPL] = "vmpl",
	[VERIFY_MEASUREMENT] = "measurement",
};

const char *verify_check_name(enum verify_check c)
{
	return c < VERIFY_CHECK_COUNT ? verify_names[c] : "?";
}

static int verify_fail(struct verify_result *out, enum verify_check c, const char *fmt, ...)
{
	va_list ap;

	out->failed = c;
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
	return -1;
}

X509 *verify_load_cert(const char *path)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		return NULL;
	}
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

int verify_certs_from_table(const u8 *table, size_t len, X509 **ark, X509 **ask, X509 **vcek)
{
	static const u8 g_ark[16] = SNP_GUID_ARK, g_ask[16] = SNP_GUID_ASK, g_vcek[16] = SNP_GUID_VCEK;
	static const u8 zero[sizeof(struct snp_cert_entry)];

	*ark = *ask = *vcek = NULL;
	for (size_t off = 0; off + sizeof(struct snp_cert_entry) <= len; off += sizeof(struct snp_cert_entry)) {
		struct snp_cert_entry e;
		memcpy(&e, table + off, sizeof(e));
		if (!memcmp(&e, zero, sizeof(e))) {
			break;
		}
		if (e.offset > len || e.length > len - e.offset) {
			continue;
		}
		X509 **slot = !memcmp(e.guid, g_ark, 16) ? ark : !memcmp(e.guid, g_ask, 16) ? ask : !memcmp(e.guid, g_vcek, 16) ? vcek : NULL;
		if (!slot || *slot) {
			continue;
		}
		const u8 *p = table + e.offset;
		*slot = d2i_X509(NULL, &p, e.length);
	}
	if (!*ark || !*ask || !*vcek) {
		X509_free(*ark);
		X509_free(*ask);
		X509_free(*vcek);
		*ark = *ask = *vcek = NULL;
		return -1;
	}
	return 0;
}

/* Is @child signed by @issuer (and named by it)? */
static bool verify_signed_by(X509 *child, X509 *issuer)
{
	EVP_PKEY *k = X509_get0_pubkey(issuer);

	return k && X509_check_issued(issuer, child) == X509_V_OK && X509_verify(child, k) == 1;
}

/* The chain with OpenSSL's verifier: ARK the only trust anchor, ASK untrusted. */
static int verify_chain(const struct verify_input *in, struct verify_result *out)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int rc = -1;

	if (!in->ark || !in->ask || !in->vcek) {
		rc = verify_fail(out, VERIFY_CHAIN, "a certificate is missing");
		goto done;
	}
	if (!verify_signed_by(in->ark, in->ark)) {
		rc = verify_fail(out, VERIFY_CHAIN, "the ARK is not self-signed");
		goto done;
	}
	if (!verify_signed_by(in->ask, in->ark)) {
		rc = verify_fail(out, VERIFY_CHAIN, "the ASK is not signed by the ARK");
		goto done;
	}
	if (!verify_signed_by(in->vcek, in->ask)) {
		rc = verify_fail(out, VERIFY_CHAIN, "the VCEK is not signed by the ASK");
		goto done;
	}
	if (!store || !ctx || !untrusted || !X509_STORE_add_cert(store, in->ark) || !sk_X509_push(untrusted, in->ask) ||
	    !X509_STORE_CTX_init(ctx, store, in->vcek, untrusted)) {
		rc = verify_fail(out, VERIFY_CHAIN, "out of memory");
		goto done;
	}
	if (X509_verify_cert(ctx) != 1) {
		rc = verify_fail(out, VERIFY_CHAIN, "OpenSSL rejects the chain: %s",
				 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto done;
	}
	EVP_PKEY *vk = X509_get0_pubkey(in->vcek);
	char group[32] = "";
	size_t glen = 0;
	if (!vk || !EVP_PKEY_is_a(vk, "EC") || !EVP_PKEY_get_group_name(vk, group, sizeof(group), &glen) ||
	    strcmp(group, "secp384r1")) {
		rc = verify_fail(out, VERIFY_CHAIN, "the VCEK is not an ECDSA P-384 key");
		goto done;
	}
	rc = 0;
done:
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* ECDSA P-384 over the signed part; r and s are 72-byte little-endian fields. */
static int verify_signature(const struct verify_input *in, const struct snp_attestation_report *r,
			    struct verify_result *out)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *br = BN_lebin2bn(r->sig_r, SNP_REPORT_SIG_COMPONENT_SIZE, NULL);
	BIGNUM *bs = BN_lebin2bn(r->sig_s, SNP_REPORT_SIG_COMPONENT_SIZE, NULL);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	u8 *der = NULL;
	int rc = -1;

	if (!sig || !br || !bs || !m || !ECDSA_SIG_set0(sig, br, bs)) {
		BN_free(br);
		BN_free(bs);
		rc = verify_fail(out, VERIFY_SIGNATURE, "out of memory");
		goto done;
	}
	int der_len = i2d_ECDSA_SIG(sig, &der);
	if (der_len <= 0 || EVP_DigestVerifyInit(m, NULL, EVP_sha384(), NULL, X509_get0_pubkey(in->vcek)) != 1 ||
	    EVP_DigestVerify(m, der, (size_t)der_len, (const u8 *)r, SNP_REPORT_SIGNED_SIZE) != 1) {
		rc = verify_fail(out, VERIFY_SIGNATURE, "the report's signature does not verify with the VCEK");
		goto done;
	}
	rc = 0;
done:
	OPENSSL_free(der);
	EVP_MD_CTX_free(m);
	ECDSA_SIG_free(sig);
	return rc;
}

/* An AMD extension's DER value, or NULL. */
static const ASN1_OCTET_STRING *verify_ext(X509 *x, const char *oid)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int idx = obj ? X509_get_ext_by_OBJ(x, obj, -1) : -1;

	ASN1_OBJECT_free(obj);
	return idx < 0 ? NULL : X509_EXTENSION_get_data(X509_get_ext(x, idx));
}

static int verify_spl(X509 *x, const char *oid, int64_t *v)
{
	const ASN1_OCTET_STRING *os = verify_ext(x, oid);
	if (!os) {
		return -1;
	}
	const u8 *p = ASN1_STRING_get0_data(os);
	ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(os));
	int ok = ai && ASN1_INTEGER_get_int64(v, ai) == 1;
	ASN1_INTEGER_free(ai);
	return ok ? 0 : -1;
}

static int verify_binding(const struct verify_input *in, const struct snp_attestation_report *r,
			  struct verify_result *out)
{
	const ASN1_OCTET_STRING *hwid = verify_ext(in->vcek, OID_HWID);
	if (!hwid || ASN1_STRING_length(hwid) != SNP_CHIP_ID_SIZE ||
	    memcmp(ASN1_STRING_get0_data(hwid), r->chip_id, SNP_CHIP_ID_SIZE)) {
		return verify_fail(out, VERIFY_VCEK_BINDING, "CHIP_ID differs from the VCEK's hwID");
	}
	static const struct {
		const char *oid;
		const char *name;
		unsigned byte;
	} spl[] = {{OID_BL_SPL, "boot loader", 0}, {OID_TEE_SPL, "TEE", 1}, {OID_SNP_SPL, "SNP", 6}, {OID_UCODE_SPL, "microcode", 7}};
	for (unsigned i = 0; i < 4; i++) {
		int64_t v;
		if (verify_spl(in->vcek, spl[i].oid, &v) != 0) {
			return verify_fail(out, VERIFY_VCEK_BINDING, "the VCEK lacks its %s SPL", spl[i].name);
		}
		if ((u64)v != ((r->reported_tcb >> (8 * spl[i].byte)) & 0xFF)) {
			return verify_fail(out, VERIFY_VCEK_BINDING, "REPORTED_TCB's %s SVN %u is not the VCEK's %lld",
					   spl[i].name, (unsigned)((r->reported_tcb >> (8 * spl[i].byte)) & 0xFF), (long long)v);
		}
	}
	return 0;
}

int verify_report(const struct verify_input *in, struct verify_result *out)
{
	struct snp_attestation_report r;

	memset(out, 0, sizeof(*out));
	if (in->report_len != SNP_REPORT_SIZE) {
		return verify_fail(out, VERIFY_FORMAT, "the report has %zu bytes, not %u", in->report_len, SNP_REPORT_SIZE);
	}
	memcpy(&r, in->report, sizeof(r));
	if (r.version < 2 || r.version > 5) {
		return verify_fail(out, VERIFY_FORMAT, "unknown report VERSION %u", r.version);
	}
	if (r.signature_algo != SNP_REPORT_SIG_ALGO_ECDSA_P384_SHA384) {
		return verify_fail(out, VERIFY_FORMAT, "SIGNATURE_ALGO %u is not ECDSA P-384 with SHA-384", r.signature_algo);
	}
	if (SNP_KEY_INFO_SIGNING_KEY(r.key_info) != SNP_SIGNING_KEY_VCEK) {
		return verify_fail(out, VERIFY_FORMAT, "the report is not signed with a VCEK (SIGNING_KEY %u)",
				   SNP_KEY_INFO_SIGNING_KEY(r.key_info));
	}
	if (verify_chain(in, out) != 0 || verify_signature(in, &r, out) != 0 || verify_binding(in, &r, out) != 0) {
		return -1;
	}
	u8 want[SNP_REPORT_DATA_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok = m && EVP_DigestInit_ex(m, EVP_sha512(), NULL) == 1 && EVP_DigestUpdate(m, in->nonce, in->nonce_len) == 1 &&
		 EVP_DigestUpdate(m, in->manifest, in->manifest_len) == 1 && EVP_DigestFinal_ex(m, want, &n) == 1;
	EVP_MD_CTX_free(m);
	if (!ok || memcmp(want, r.report_data, sizeof(want))) {
		return verify_fail(out, VERIFY_REPORT_DATA, "REPORT_DATA is not SHA-512(nonce || manifest)");
	}
	if (r.vmpl != in->vmpl) {
		return verify_fail(out, VERIFY_VMPL, "the report is for VMPL %u, expected %u", r.vmpl, in->vmpl);
	}
	if (in->check_measurement && memcmp(r.measurement, in->measurement, SNP_MEASUREMENT_SIZE)) {
		return verify_fail(out, VERIFY_MEASUREMENT, "MEASUREMENT is not the expected launch digest");
	}
	return 0;
}

static void verify_hex(FILE *f, const u8 *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%02x", p[i]);
	}
}

static void verify_tcb(FILE *f, const char *name, u64 tcb, bool json)
{
	if (json) {
		fprintf(f, "\"%s\": {\"raw\": \"0x%016llx\", \"boot_loader\": %u, \"tee\": %u, \"snp\": %u, \"microcode\": %u}",
			name, (unsigned long long)tcb, (unsigned)(tcb & 0xFF), (unsigned)((tcb >> 8) & 0xFF),
			(unsigned)((tcb >> 48) & 0xFF), (unsigned)(tcb >> 56));
	} else {
		fprintf(f, "  %-18s 0x%016llx (boot loader %u, TEE %u, SNP %u, microcode %u)\n", name,
			(unsigned long long)tcb, (unsigned)(tcb & 0xFF), (unsigned)((tcb >> 8) & 0xFF),
			(unsigned)((tcb >> 48) & 0xFF), (unsigned)(tcb >> 56));
	}
}

void verify_print_report(FILE *f, const struct snp_attestation_report *r, bool json)
{
	static const struct {
		const char *name;
		size_t off, len;
	} bytes[] = {
		{"family_id", offsetof(struct snp_attestation_report, family_id), 16},
		{"image_id", offsetof(struct snp_attestation_report, image_id), 16},
		{"report_data", offsetof(struct snp_attestation_report, report_data), SNP_REPORT_DATA_SIZE},
		{"measurement", offsetof(struct snp_attestation_report, measurement), SNP_MEASUREMENT_SIZE},
		{"host_data", offsetof(struct snp_attestation_report, host_data), SNP_HOST_DATA_SIZE},
		{"id_key_digest", offsetof(struct snp_attestation_report, id_key_digest), 48},
		{"author_key_digest", offsetof(struct snp_attestation_report, author_key_digest), 48},
		{"report_id", offsetof(struct snp_attestation_report, report_id), 32},
		{"report_id_ma", offsetof(struct snp_attestation_report, report_id_ma), 32},
		{"chip_id", offsetof(struct snp_attestation_report, chip_id), SNP_CHIP_ID_SIZE},
	};
	const u8 *raw = (const u8 *)r;

	if (json) {
		fprintf(f, "{\"version\": %u, \"guest_svn\": %u, \"policy\": \"0x%llx\", \"vmpl\": %u, \"signature_algo\": %u, ",
			r->version, r->guest_svn, (unsigned long long)r->policy, r->vmpl, r->signature_algo);
		fprintf(f, "\"platform_info\": \"0x%llx\", \"key_info\": \"0x%x\", ", (unsigned long long)r->platform_info,
			r->key_info);
		verify_tcb(f, "current_tcb", r->current_tcb, true);
		fputs(", ", f);
		verify_tcb(f, "reported_tcb", r->reported_tcb, true);
		fputs(", ", f);
		verify_tcb(f, "committed_tcb", r->committed_tcb, true);
		fputs(", ", f);
		verify_tcb(f, "launch_tcb", r->launch_tcb, true);
		fprintf(f, ", \"cpuid\": {\"family\": %u, \"model\": %u, \"stepping\": %u}, \"firmware\": \"%u.%u.%u\"",
			r->cpuid_fam_id, r->cpuid_mod_id, r->cpuid_step, r->current_major, r->current_minor, r->current_build);
		for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
			fprintf(f, ", \"%s\": \"", bytes[i].name);
			verify_hex(f, raw + bytes[i].off, bytes[i].len);
			fputc('"', f);
		}
		fputc('}', f);
		return;
	}
	fprintf(f, "  %-18s %u\n  %-18s %u\n  %-18s 0x%llx\n  %-18s %u\n  %-18s %u\n", "version", r->version, "guest_svn",
		r->guest_svn, "policy", (unsigned long long)r->policy, "vmpl", r->vmpl, "signature_algo", r->signature_algo);
	fprintf(f, "  %-18s 0x%llx\n  %-18s 0x%x\n", "platform_info", (unsigned long long)r->platform_info, "key_info",
		r->key_info);
	verify_tcb(f, "current_tcb", r->current_tcb, false);
	verify_tcb(f, "reported_tcb", r->reported_tcb, false);
	verify_tcb(f, "committed_tcb", r->committed_tcb, false);
	verify_tcb(f, "launch_tcb", r->launch_tcb, false);
	fprintf(f, "  %-18s family 0x%x model 0x%x stepping %u\n  %-18s %u.%u.%u\n", "cpuid", r->cpuid_fam_id,
		r->cpuid_mod_id, r->cpuid_step, "firmware", r->current_major, r->current_minor, r->current_build);
	for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
		fprintf(f, "  %-18s ", bytes[i].name);
		verify_hex(f, raw + bytes[i].off, bytes[i].len);
		fputc('\n', f);
	}
}
