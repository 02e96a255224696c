/*
 * ECDSA P-384 of the test image's PSP model (emu/minipsp/p384.c): the published known
 * answers of RFC 6979 A.2.6 (key pair; k, r and s for "sample" and "test" with SHA-384),
 * multiples of the generator, range and curve checks, and a differential test against
 * OpenSSL: the same public keys, our signatures verified by OpenSSL, OpenSSL's signatures
 * verified by ours, every tampering refused by both.
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <svsm/crypto.h>

#include "minipsp/p384.h"
#include "test_common.h"

#define DIFF_KEYS 40
#define DIFF_MESSAGES 3

static u64 rng_state = 0xD1B54A32D192ED03ull;

static u64 rng(void)
{
	return test_rng_next(&rng_state);
}

static void rng_fill(u8 *p, size_t n)
{
	test_rng_fill(&rng_state, p, n);
}

static void hex(const char *s, u8 *out, size_t n)
{
	assert_int_equal(strlen(s), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (u8)v;
	}
}

/* RFC 6979 A.2.6: the P-384 key pair. */
static const char rfc_x[] = "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D896D5724E4C70A825F872C9EA60D2EDF5";
static const char rfc_ux[] = "EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64DEF8F0EA9055866064A254515480BC13";
static const char rfc_uy[] = "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1288B231C3AE0D4FE7344FD2533264720";

/* RFC 6979 A.2.6 with SHA-384: k, r, s for the two messages. */
static const struct {
	const char *msg, *k, *r, *s;
} rfc_sigs[] = {
	{"sample", "94ED910D1A099DAD3254E9242AE85ABDE4BA15168EAF0CA87A555FD56D10FBCA2907E3E83BA95368623B8C4686915CF9",
	 "94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C81A648152E44ACF96E36DD1E80FABE46",
	 "99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94FA329C145786E679E7B82C71A38628AC8"},
	{"test", "015EE46A5BF88773ED9123A5AB0807962D193719503C527B031B4C2D225092ADA71F4A459BC0DA98ADB95837DB8312EA",
	 "8203B63D3C853E8D77227FB377BCF7B7B772E97892A80F36AB775D509D7A5FEB0542A7F0812998DA8F1DD3CA3CF023DB",
	 "DDD0760448D42D8A43AF45AF836FCE4DE8BE06B485E9B61B827C2F13173923E06A739F040649A667BF3B828246BAA5A5"},
};

/* The curve's order n and generator (FIPS 186-4 D.1.2.4), for the edge cases. */
static const char curve_n[] = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973";
static const char curve_p[] = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF";
static const char curve_gx[] = "AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7";
static const char curve_gy[] = "3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F";

static void test_rfc6979_known_answers(void **state)
{
	u8 d[48], ux[48], uy[48], qx[48], qy[48], h[48], k[48], r[48], s[48], want[48];

	hex(rfc_x, d, 48);
	hex(rfc_ux, ux, 48);
	hex(rfc_uy, uy, 48);
	assert_int_equal(p384_public_key(d, qx, qy), 0);
	assert_memory_equal(qx, ux, 48);
	assert_memory_equal(qy, uy, 48);
	for (size_t i = 0; i < sizeof(rfc_sigs) / sizeof(rfc_sigs[0]); i++) {
		sha384(rfc_sigs[i].msg, strlen(rfc_sigs[i].msg), h);
		p384_rfc6979_k(d, h, k);
		hex(rfc_sigs[i].k, want, 48);
		assert_memory_equal(k, want, 48);
		assert_int_equal(p384_sign_digest(d, h, r, s), 0);
		hex(rfc_sigs[i].r, want, 48);
		assert_memory_equal(r, want, 48);
		hex(rfc_sigs[i].s, want, 48);
		assert_memory_equal(s, want, 48);
		assert_int_equal(p384_verify_digest(qx, qy, h, r, s), 0);
	}
}

/* 1·G = G, (n-1)·G = -G = (Gx, p - Gy); 0 and n are no private keys. */
static void test_generator_multiples(void **state)
{
	u8 d[48], qx[48], qy[48], want[48], p[48];

	memset(d, 0, 48);
	d[47] = 1;
	assert_int_equal(p384_public_key(d, qx, qy), 0);
	hex(curve_gx, want, 48);
	assert_memory_equal(qx, want, 48);
	hex(curve_gy, want, 48);
	assert_memory_equal(qy, want, 48);

	hex(curve_n, d, 48);
	d[47] -= 1;
	assert_int_equal(p384_public_key(d, qx, qy), 0);
	hex(curve_gx, want, 48);
	assert_memory_equal(qx, want, 48);
	/* p - Gy, computed with OpenSSL's bignums */
	BIGNUM *bp = BN_bin2bn((hex(curve_p, p, 48), p), 48, NULL);
	BIGNUM *gy = BN_bin2bn((hex(curve_gy, want, 48), want), 48, NULL);
	assert_non_null(bp);
	assert_non_null(gy);
	assert_int_equal(BN_sub(bp, bp, gy), 1);
	assert_int_equal(BN_bn2binpad(bp, want, 48), 48);
	assert_memory_equal(qy, want, 48);
	BN_free(bp);
	BN_free(gy);

	memset(d, 0, 48);
	assert_int_equal(p384_public_key(d, qx, qy), -1);
	hex(curve_n, d, 48);
	assert_int_equal(p384_public_key(d, qx, qy), -1);
	assert_int_equal(p384_sign_digest(d, want, qx, qy), -1);
}

/* r or s out of [1, n-1], a point off the curve, coordinates >= p, any changed bit: refused. */
static void test_verify_refusals(void **state)
{
	u8 d[48], qx[48], qy[48], h[48], r[48], s[48], bad[48];

	hex(rfc_x, d, 48);
	assert_int_equal(p384_public_key(d, qx, qy), 0);
	sha384("sample", 6, h);
	assert_int_equal(p384_sign_digest(d, h, r, s), 0);
	assert_int_equal(p384_verify_digest(qx, qy, h, r, s), 0);

	memset(bad, 0, 48);
	assert_int_equal(p384_verify_digest(qx, qy, h, bad, s), -1);
	assert_int_equal(p384_verify_digest(qx, qy, h, r, bad), -1);
	hex(curve_n, bad, 48);
	assert_int_equal(p384_verify_digest(qx, qy, h, bad, s), -1);
	assert_int_equal(p384_verify_digest(qx, qy, h, r, bad), -1);
	/* Q not on the curve */
	memcpy(bad, qy, 48);
	bad[47] ^= 1;
	assert_int_equal(p384_verify_digest(qx, bad, h, r, s), -1);
	/* a coordinate >= p */
	hex(curve_p, bad, 48);
	assert_int_equal(p384_verify_digest(bad, qy, h, r, s), -1);
	/* every single-bit change of digest, r and s */
	for (unsigned bit = 0; bit < 384; bit += 7) {
		u8 t[48];
		memcpy(t, h, 48);
		t[bit / 8] ^= (u8)(1u << (bit % 8));
		assert_int_equal(p384_verify_digest(qx, qy, t, r, s), -1);
		memcpy(t, r, 48);
		t[bit / 8] ^= (u8)(1u << (bit % 8));
		assert_int_equal(p384_verify_digest(qx, qy, h, t, s), -1);
		memcpy(t, s, 48);
		t[bit / 8] ^= (u8)(1u << (bit % 8));
		assert_int_equal(p384_verify_digest(qx, qy, h, r, t), -1);
	}
	/* Digests that are not below n take the reduction path: sign and verify agree. */
	memset(h, 0xFF, 48);
	assert_int_equal(p384_sign_digest(d, h, r, s), 0);
	assert_int_equal(p384_verify_digest(qx, qy, h, r, s), 0);
}

/* --- against OpenSSL ------------------------------------------------------------------------- */

static EVP_PKEY *ossl_key(u8 d[48], u8 qx[48], u8 qy[48])
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	BIGNUM *priv = NULL;
	u8 pub[97];
	size_t len = 0;

	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &priv), 1);
	assert_int_equal(BN_bn2binpad(priv, d, 48), 48);
	BN_clear_free(priv);
	assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &len), 1);
	assert_int_equal(len, 97);
	assert_int_equal(pub[0], 0x04);
	memcpy(qx, pub + 1, 48);
	memcpy(qy, pub + 49, 48);
	return k;
}

/* OpenSSL's verdict on (r, s) over @h: 1 verified, 0 not. */
static int ossl_verify(EVP_PKEY *k, const u8 h[48], const u8 r[48], const u8 s[48])
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(r, 48, NULL), *bs = BN_bin2bn(s, 48, NULL);
	unsigned char *der = NULL;

	assert_non_null(sig);
	assert_int_equal(ECDSA_SIG_set0(sig, br, bs), 1);
	int der_len = i2d_ECDSA_SIG(sig, &der);
	assert_true(der_len > 0);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_verify_init(c), 1);
	int v = EVP_PKEY_verify(c, der, (size_t)der_len, h, 48);
	EVP_PKEY_CTX_free(c);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	return v == 1;
}

static void ossl_sign(EVP_PKEY *k, const u8 h[48], u8 r[48], u8 s[48])
{
	u8 der[128];
	size_t der_len = sizeof(der);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);

	assert_non_null(c);
	assert_int_equal(EVP_PKEY_sign_init(c), 1);
	assert_int_equal(EVP_PKEY_sign(c, der, &der_len, h, 48), 1);
	EVP_PKEY_CTX_free(c);
	const u8 *q = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
	const BIGNUM *br = NULL, *bs = NULL;
	assert_non_null(sig);
	ECDSA_SIG_get0(sig, &br, &bs);
	assert_int_equal(BN_bn2binpad(br, r, 48), 48);
	assert_int_equal(BN_bn2binpad(bs, s, 48), 48);
	ECDSA_SIG_free(sig);
}

static void test_differential_openssl(void **state)
{
	for (unsigned i = 0; i < DIFF_KEYS; i++) {
		u8 d[48], ox[48], oy[48], qx[48], qy[48];
		EVP_PKEY *k = ossl_key(d, ox, oy);

		assert_int_equal(p384_public_key(d, qx, qy), 0);
		assert_memory_equal(qx, ox, 48);
		assert_memory_equal(qy, oy, 48);
		for (unsigned j = 0; j < DIFF_MESSAGES; j++) {
			u8 msg[200], h[48], r[48], s[48];
			size_t len = rng() % sizeof(msg);
			rng_fill(msg, len);
			sha384(msg, len, h);
			if (j == 2) {
				memset(h, 0xFF, 48); /* above n: the reduction of the digest */
			}
			/* ours -> OpenSSL */
			assert_int_equal(p384_sign_digest(d, h, r, s), 0);
			assert_true(ossl_verify(k, h, r, s));
			u8 t[48];
			memcpy(t, s, 48);
			t[rng() % 48] ^= (u8)(1u << (rng() % 8));
			assert_false(ossl_verify(k, h, r, t));
			assert_int_equal(p384_verify_digest(qx, qy, h, r, t), -1);
			/* OpenSSL -> ours */
			ossl_sign(k, h, r, s);
			assert_int_equal(p384_verify_digest(qx, qy, h, r, s), 0);
			memcpy(t, h, 48);
			t[rng() % 48] ^= (u8)(1u << (rng() % 8));
			assert_int_equal(p384_verify_digest(qx, qy, t, r, s), -1);
			assert_false(ossl_verify(k, t, r, s));
		}
		EVP_PKEY_free(k);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6979_known_answers),
		cmocka_unit_test(test_generator_multiples),
		cmocka_unit_test(test_verify_refusals),
		cmocka_unit_test(test_differential_openssl),
	};

	return cmocka_run_group_tests_name("p384", tests, NULL, NULL);
}
