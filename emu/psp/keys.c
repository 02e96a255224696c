/*
 * The PSP's test key hierarchy, shaped like AMD's: an RSA-4096 ARK (self-signed), an
 * RSA-4096 ASK signed by it, and a per-chip ECDSA P-384 VCEK signed by the ASK, every
 * signature RSASSA-PSS with SHA-384 (salt 48, MGF1-SHA-384). The VCEK certificate carries
 * the chip's identity the way AMD's key distribution service writes it: hwID (CHIP_ID) and
 * the TCB components as X.509 extensions. These are TEST KEYS: their subjects say so, and
 * the committed ones live only in fixtures/attestation/keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "psp.h"

/* AMD's VCEK extensions (key distribution service, AMD pub. 57230). */
#define OID_PRODUCT_NAME "1.3.6.1.4.1.3704.1.2"
#define OID_BL_SPL "1.3.6.1.4.1.3704.1.3.1"
#define OID_TEE_SPL "1.3.6.1.4.1.3704.1.3.2"
#define OID_SNP_SPL "1.3.6.1.4.1.3704.1.3.3"
#define OID_UCODE_SPL "1.3.6.1.4.1.3704.1.3.8"
#define OID_HWID "1.3.6.1.4.1.3704.1.4"

#define KEYS_TEST_MARK "# TEST KEY of svsm-emu (emulated AMD key hierarchy): never use outside tests.\n"

u64 psp_chip_tcb(const struct psp_chip *c)
{
	return (u64)c->bl_spl | (u64)c->tee_spl << 8 | (u64)c->snp_spl << 48 | (u64)c->ucode_spl << 56;
}

static void keys_err(char *err, size_t n, const char *what, const char *detail)
{
	if (err) {
		snprintf(err, n, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
	}
}

static X509_NAME *keys_name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (!n || !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const u8 *)"svsm-emu TEST KEYS (not AMD)", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const u8 *)"Emulated AMD SEV", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const u8 *)cn, -1, -1, 0)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

/* A standard extension from its configuration string (issuer/subject set in @ctx). */
static int keys_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	if (!e) {
		return -1;
	}
	int ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* An extension whose value is the DER bytes @der (@len). */
static int keys_add_raw_ext(X509 *x, const char *oid, const u8 *der, int len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e = NULL;
	int rc = -1;

	if (obj && os && ASN1_OCTET_STRING_set(os, der, len)) {
		e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
		if (e && X509_add_ext(x, e, -1)) {
			rc = 0;
		}
	}
	X509_EXTENSION_free(e);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return rc;
}

/* An AMD SPL extension: a DER INTEGER. */
static int keys_add_spl(X509 *x, const char *oid, u8 value)
{
	u8 der[3] = {0x02, 0x01, value};

	if (value & 0x80) {
		u8 der4[4] = {0x02, 0x02, 0x00, value};
		return keys_add_raw_ext(x, oid, der4, sizeof(der4));
	}
	return keys_add_raw_ext(x, oid, der, sizeof(der));
}

/* Sign @x with @key: RSASSA-PSS/SHA-384 for RSA issuers. */
static int keys_sign(X509 *x, EVP_PKEY *key)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int rc = -1;

	if (mctx && EVP_DigestSignInit(mctx, &pctx, EVP_sha384(), NULL, key) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) == 1 &&
	    X509_sign_ctx(x, mctx) > 0) {
		rc = 0;
	}
	EVP_MD_CTX_free(mctx);
	return rc;
}

/* A certificate for @pub named @cn, issued by @issuer_cert/@issuer_key (NULL: self-signed). */
static X509 *keys_cert(EVP_PKEY *pub, const char *cn, X509 *issuer_cert, EVP_PKEY *issuer_key, int ca_pathlen,
		       const struct psp_chip *chip)
{
	X509 *x = X509_new();
	X509_NAME *name = keys_name(cn);
	BIGNUM *serial = BN_new();
	ASN1_INTEGER *sn = NULL;
	X509V3_CTX ctx;
	bool ok = false;

	if (!x || !name || !serial || !BN_rand(serial, 120, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) ||
	    !(sn = BN_to_ASN1_INTEGER(serial, NULL))) {
		goto out;
	}
	if (!X509_set_version(x, X509_VERSION_3) || !X509_set_serialNumber(x, sn) || !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer_cert ? X509_get_subject_name(issuer_cert) : name) ||
	    !ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20240101000000Z") ||
	    !ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20740101000000Z") || !X509_set_pubkey(x, pub)) {
		goto out;
	}
	X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert : x, x, NULL, NULL, 0);
	if (keys_add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    keys_add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0) {
		goto out;
	}
	if (ca_pathlen >= 0) {
		char bc[48];
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", ca_pathlen);
		if (keys_add_ext(x, &ctx, NID_basic_constraints, bc) != 0 ||
		    keys_add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") != 0) {
			goto out;
		}
	} else if (keys_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
		   keys_add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != 0) {
		goto out;
	}
	if (chip) {
		static const u8 product[] = {0x16, 0x05, 'G', 'e', 'n', 'o', 'a'};
		if (keys_add_raw_ext(x, OID_PRODUCT_NAME, product, sizeof(product)) != 0 ||
		    keys_add_spl(x, OID_BL_SPL, chip->bl_spl) != 0 || keys_add_spl(x, OID_TEE_SPL, chip->tee_spl) != 0 ||
		    keys_add_spl(x, OID_SNP_SPL, chip->snp_spl) != 0 ||
		    keys_add_spl(x, OID_UCODE_SPL, chip->ucode_spl) != 0) {
			goto out;
		}
		/* hwID: the 64 CHIP_ID bytes themselves as the extension's value, as AMD's VCEKs do. */
		if (keys_add_raw_ext(x, OID_HWID, chip->chip_id, SNP_CHIP_ID_SIZE) != 0) {
			goto out;
		}
	}
	ok = keys_sign(x, issuer_key ? issuer_key : pub) == 0;
out:
	ASN1_INTEGER_free(sn);
	BN_free(serial);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* A DER INTEGER extension value as a byte. */
static int keys_get_spl(X509 *x, const char *oid, u8 *out)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int idx = obj ? X509_get_ext_by_OBJ(x, obj, -1) : -1;
	ASN1_OBJECT_free(obj);
	if (idx < 0) {
		return -1;
	}
	ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(x, idx));
	const u8 *p = ASN1_STRING_get0_data(os);
	ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(os));
	int64_t v = -1;
	int ok = ai && ASN1_INTEGER_get_int64(&v, ai) == 1 && v >= 0 && v <= 255;
	ASN1_INTEGER_free(ai);
	if (!ok) {
		return -1;
	}
	*out = (u8)v;
	return 0;
}

/* The chip identity out of a VCEK certificate's extensions. 0 or -1. */
static int keys_read_chip(X509 *vcek, struct psp_chip *c)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(OID_HWID, 1);
	int idx = obj ? X509_get_ext_by_OBJ(vcek, obj, -1) : -1;
	ASN1_OBJECT_free(obj);
	if (idx < 0) {
		return -1;
	}
	ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(vcek, idx));
	if (ASN1_STRING_length(os) != SNP_CHIP_ID_SIZE) {
		return -1;
	}
	memcpy(c->chip_id, ASN1_STRING_get0_data(os), SNP_CHIP_ID_SIZE);
	return keys_get_spl(vcek, OID_BL_SPL, &c->bl_spl) || keys_get_spl(vcek, OID_TEE_SPL, &c->tee_spl) ||
			       keys_get_spl(vcek, OID_SNP_SPL, &c->snp_spl) ||
			       keys_get_spl(vcek, OID_UCODE_SPL, &c->ucode_spl)
		       ? -1
		       : 0;
}

static EVP_PKEY *keys_read_key(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	if (!f) {
		return NULL;
	}
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

static X509 *keys_read_cert(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	if (!f) {
		return NULL;
	}
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

int psp_keys_load(struct psp_keys *k, const char *dir, char *err, size_t err_size)
{
	memset(k, 0, sizeof(*k));
	k->ark = keys_read_key(dir, "ark.key");
	k->ask = keys_read_key(dir, "ask.key");
	k->vcek = keys_read_key(dir, "vcek.key");
	k->ark_cert = keys_read_cert(dir, "ark.pem");
	k->ask_cert = keys_read_cert(dir, "ask.pem");
	k->vcek_cert = keys_read_cert(dir, "vcek.pem");
	if (!k->ark || !k->ask || !k->vcek || !k->ark_cert || !k->ask_cert || !k->vcek_cert) {
		keys_err(err, err_size, "cannot read ark/ask/vcek .key and .pem from", dir);
		psp_keys_free(k);
		return -1;
	}
	if (X509_check_private_key(k->vcek_cert, k->vcek) != 1 || X509_check_private_key(k->ask_cert, k->ask) != 1 ||
	    X509_check_private_key(k->ark_cert, k->ark) != 1) {
		keys_err(err, err_size, "a key does not match its certificate in", dir);
		psp_keys_free(k);
		return -1;
	}
	if (keys_read_chip(k->vcek_cert, &k->chip) != 0) {
		keys_err(err, err_size, "the VCEK certificate lacks the hwID/SPL extensions", NULL);
		psp_keys_free(k);
		return -1;
	}
	return 0;
}

int psp_keys_generate(struct psp_keys *k, const struct psp_keys *roots, const struct psp_chip *chip, char *err,
		      size_t err_size)
{
	memset(k, 0, sizeof(*k));
	k->chip = *chip;
	if (roots) {
		if (!EVP_PKEY_up_ref(roots->ark) || !EVP_PKEY_up_ref(roots->ask) || !X509_up_ref(roots->ark_cert) ||
		    !X509_up_ref(roots->ask_cert)) {
			keys_err(err, err_size, "cannot share the root keys", NULL);
			return -1;
		}
		k->ark = roots->ark;
		k->ask = roots->ask;
		k->ark_cert = roots->ark_cert;
		k->ask_cert = roots->ask_cert;
	} else {
		k->ark = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		k->ask = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		if (k->ark) {
			k->ark_cert = keys_cert(k->ark, "ARK-Emu (TEST KEY)", NULL, NULL, 1, NULL);
		}
		if (k->ask && k->ark_cert) {
			k->ask_cert = keys_cert(k->ask, "SEV-Emu (TEST KEY)", k->ark_cert, k->ark, 0, NULL);
		}
	}
	k->vcek = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (k->vcek && k->ask_cert) {
		k->vcek_cert = keys_cert(k->vcek, "SEV-VCEK-Emu (TEST KEY)", k->ask_cert, k->ask, -1, chip);
	}
	if (!k->ark_cert || !k->ask_cert || !k->vcek_cert) {
		keys_err(err, err_size, "key or certificate generation failed", NULL);
		psp_keys_free(k);
		return -1;
	}
	return 0;
}

static int keys_write_file(const char *dir, const char *name, EVP_PKEY *key, X509 *cert)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		return -1;
	}
	int ok = key ? (fputs(KEYS_TEST_MARK, f) >= 0 && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
		     : PEM_write_X509(f, cert);
	if (fclose(f) != 0) {
		ok = 0;
	}
	return ok ? 0 : -1;
}

int psp_keys_write(const struct psp_keys *k, const char *dir, bool private_keys, char *err, size_t err_size)
{
	if (keys_write_file(dir, "ark.pem", NULL, k->ark_cert) || keys_write_file(dir, "ask.pem", NULL, k->ask_cert) ||
	    keys_write_file(dir, "vcek.pem", NULL, k->vcek_cert) ||
	    (private_keys && (keys_write_file(dir, "ark.key", k->ark, NULL) || keys_write_file(dir, "ask.key", k->ask, NULL) ||
			      keys_write_file(dir, "vcek.key", k->vcek, NULL)))) {
		keys_err(err, err_size, "cannot write the certificates to", dir);
		return -1;
	}
	return 0;
}

void psp_keys_free(struct psp_keys *k)
{
	EVP_PKEY_free(k->ark);
	EVP_PKEY_free(k->ask);
	EVP_PKEY_free(k->vcek);
	X509_free(k->ark_cert);
	X509_free(k->ask_cert);
	X509_free(k->vcek_cert);
	memset(k, 0, sizeof(*k));
}

size_t psp_cert_der(X509 *cert, u8 **out)
{
	*out = NULL;
	int n = i2d_X509(cert, out);
	return n > 0 ? (size_t)n : 0;
}
