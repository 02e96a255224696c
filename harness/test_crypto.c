/*
 * The core's crypto (svsm/crypto/): the published known answers of fixtures/crypto/kat.txt
 * and a differential test against OpenSSL over many random inputs, for SHA-384, SHA-512,
 * AES-256 and AES-256-GCM (seal, open, in place, every tampering rejected).
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include <svsm/crypto.h>

#include "test_common.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

#define DIFF_ROUNDS 600

/* Deterministic test data (xorshift64*), so a failure reproduces. */
static u64 rng_state = 0x9E3779B97F4A7C15ull;

static u64 rng(void)
{
	return test_rng_next(&rng_state);
}

static void rng_fill(u8 *p, size_t n)
{
	test_rng_fill(&rng_state, p, n);
}

/* "field=value" of a KAT line into a malloc'ed byte buffer. */
static u8 *kat_field(const char *line, const char *name, size_t *len)
{
	char key[32];
	*len = 0;
	snprintf(key, sizeof(key), " %s=", name);
	const char *p = strstr(line, key);
	if (!p) {
		return NULL;
	}
	p += strlen(key);
	size_t n = strcspn(p, " \n");
	u8 *out = malloc(n + 1);
	assert_non_null(out);
	if (!strncmp(p, "ascii:", 6)) {
		memcpy(out, p + 6, n - 6);
		*len = n - 6;
		return out;
	}
	assert_true(n % 2 == 0);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		assert_int_equal(sscanf(p + 2 * i, "%2x", &v), 1);
		out[i] = (u8)v;
	}
	*len = n / 2;
	return out;
}

static void kat_sha(const char *line, bool is384, unsigned *count)
{
	size_t msg_len = 0, md_len = 0;
	u8 *msg = kat_field(line, "msg", &msg_len);
	u8 *md = kat_field(line, "md", &md_len);
	const char *rep = strstr(line, " repeat=");
	u8 out[SHA512_DIGEST_SIZE];

	assert_non_null(md);
	if (rep) {
		unsigned byte;
		size_t n;
		assert_int_equal(sscanf(rep, " repeat=%x:%zu", &byte, &n), 2);
		free(msg);
		msg = malloc(n);
		assert_non_null(msg);
		memset(msg, (int)byte, n);
		msg_len = n;
	}
	assert_non_null(msg);
	if (is384) {
		sha384(msg, msg_len, out);
	} else {
		sha512(msg, msg_len, out);
	}
	assert_int_equal(md_len, is384 ? SHA384_DIGEST_SIZE : SHA512_DIGEST_SIZE);
	assert_memory_equal(out, md, md_len);
	free(msg);
	free(md);
	(*count)++;
}

static void kat_aes(const char *line, unsigned *count)
{
	size_t kl, pl, cl;
	u8 *key = kat_field(line, "key", &kl), *pt = kat_field(line, "pt", &pl), *ct = kat_field(line, "ct", &cl);
	struct aes256_key k;
	u8 out[16];

	assert_int_equal(kl, 32);
	assert_int_equal(pl, 16);
	aes256_init(&k, key);
	aes256_encrypt_block(&k, pt, out);
	assert_memory_equal(out, ct, 16);
	free(key);
	free(pt);
	free(ct);
	(*count)++;
}

static void kat_gcm(const char *line, unsigned *count)
{
	size_t kl, il, al, pl, cl, tl;
	u8 *key = kat_field(line, "key", &kl), *iv = kat_field(line, "iv", &il), *aad = kat_field(line, "aad", &al);
	u8 *pt = kat_field(line, "pt", &pl), *ct = kat_field(line, "ct", &cl), *tag = kat_field(line, "tag", &tl);
	struct aes256_gcm g;
	u8 out[64], t[16], back[64];

	assert_int_equal(kl, 32);
	assert_int_equal(il, 12);
	assert_int_equal(pl, cl);
	aes256_gcm_init(&g, key);
	aes256_gcm_seal(&g, iv, aad, al, pt, pl, out, t);
	assert_memory_equal(out, ct, cl);
	assert_memory_equal(t, tag, 16);
	assert_int_equal(aes256_gcm_open(&g, iv, aad, al, ct, cl, back, tag), 0);
	assert_memory_equal(back, pt, pl);
	free(key);
	free(iv);
	free(aad);
	free(pt);
	free(ct);
	free(tag);
	(*count)++;
}

/* Every line of fixtures/crypto/kat.txt. */
static void test_known_answers(void **state)
{
	FILE *f = fopen(FIXTURES_DIR "/crypto/kat.txt", "r");
	char line[2048];
	unsigned sha = 0, aes = 0, gcm = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "SHA512 ", 7)) {
			kat_sha(line + 6, false, &sha);
		} else if (!strncmp(line, "SHA384 ", 7)) {
			kat_sha(line + 6, true, &sha);
		} else if (!strncmp(line, "AES256 ", 7)) {
			kat_aes(line + 6, &aes);
		} else if (!strncmp(line, "GCM256 ", 7)) {
			kat_gcm(line + 6, &gcm);
		} else {
			assert_true(line[0] == '#' || line[0] == '\n');
		}
	}
	fclose(f);
	assert_int_equal(sha, 8);
	assert_int_equal(aes, 1);
	assert_int_equal(gcm, 4);
}

static void evp_digest(const EVP_MD *md, const u8 *p, size_t n, u8 *out)
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, out, &len, md, NULL), 1);
}

/* Random messages up to 1100 bytes, fed in random pieces, against OpenSSL. */
static void test_sha_differential(void **state)
{
	static u8 msg[1100];

	for (unsigned r = 0; r < DIFF_ROUNDS; r++) {
		size_t n = rng() % sizeof(msg);
		rng_fill(msg, n);
		for (int is384 = 0; is384 < 2; is384++) {
			struct sha512_ctx c;
			u8 ours[SHA512_DIGEST_SIZE], theirs[SHA512_DIGEST_SIZE];
			if (is384) {
				sha384_init(&c);
			} else {
				sha512_init(&c);
			}
			size_t done = 0;
			while (done < n) {
				size_t piece = (size_t)(rng() % 300);
				piece = MIN(piece, n - done);
				sha512_update(&c, msg + done, piece);
				done += piece;
			}
			if (is384) {
				sha384_final(&c, ours);
				evp_digest(EVP_sha384(), msg, n, theirs);
			} else {
				sha512_final(&c, ours);
				evp_digest(EVP_sha512(), msg, n, theirs);
			}
			assert_memory_equal(ours, theirs, is384 ? SHA384_DIGEST_SIZE : SHA512_DIGEST_SIZE);
		}
	}
}

/* Random keys and blocks against OpenSSL's AES-256-ECB. */
static void test_aes_differential(void **state)
{
	for (unsigned r = 0; r < DIFF_ROUNDS; r++) {
		u8 key[32], in[16], ours[16], theirs[32];
		int n = 0;
		struct aes256_key k;
		rng_fill(key, sizeof(key));
		rng_fill(in, sizeof(in));
		aes256_init(&k, key);
		aes256_encrypt_block(&k, in, ours);
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		assert_non_null(c);
		assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, key, NULL), 1);
		EVP_CIPHER_CTX_set_padding(c, 0);
		assert_int_equal(EVP_EncryptUpdate(c, theirs, &n, in, 16), 1);
		EVP_CIPHER_CTX_free(c);
		assert_memory_equal(ours, theirs, 16);
	}
}

/* OpenSSL's AES-256-GCM seal of the same input. */
static void evp_gcm_seal(const u8 *key, const u8 *iv, const u8 *aad, size_t al, const u8 *pt, size_t pl, u8 *ct, u8 *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0;

	assert_non_null(c);
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &n, aad, (int)al), 1);
	if (pl) {
		assert_int_equal(EVP_EncryptUpdate(c, ct, &n, pt, (int)pl), 1);
	}
	assert_int_equal(EVP_EncryptFinal_ex(c, ct + (pl ? n : 0), &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(c);
}

/*
 * Random key, IV, AAD (0-99 bytes) and plaintext (0-599 bytes): the same ciphertext and tag
 * as OpenSSL; open gives the plaintext back; a flipped bit in the tag, ciphertext, AAD or IV
 * is refused and releases only zeros.
 */
static void test_gcm_differential(void **state)
{
	static u8 pt[600], ct[600], ref[600], back[600];

	for (unsigned r = 0; r < DIFF_ROUNDS; r++) {
		u8 key[32], iv[12], aad[100], tag[16], rtag[16];
		size_t al = rng() % sizeof(aad), pl = rng() % sizeof(pt);
		struct aes256_gcm g;
		rng_fill(key, sizeof(key));
		rng_fill(iv, sizeof(iv));
		rng_fill(aad, al);
		rng_fill(pt, pl);
		aes256_gcm_init(&g, key);
		aes256_gcm_seal(&g, iv, aad, al, pt, pl, ct, tag);
		evp_gcm_seal(key, iv, aad, al, pt, pl, ref, rtag);
		assert_memory_equal(ct, ref, pl);
		assert_memory_equal(tag, rtag, 16);
		assert_int_equal(aes256_gcm_open(&g, iv, aad, al, ct, pl, back, tag), 0);
		assert_memory_equal(back, pt, pl);

		unsigned what = (unsigned)(rng() % 4);
		if (what == 1 && pl == 0) {
			what = 0;
		}
		if (what == 2 && al == 0) {
			what = 3;
		}
		u8 bit = (u8)(1u << (rng() % 8));
		switch (what) {
		case 0:
			tag[rng() % 16] ^= bit;
			break;
		case 1:
			ct[rng() % pl] ^= bit;
			break;
		case 2:
			aad[rng() % al] ^= bit;
			break;
		default:
			iv[rng() % 12] ^= bit;
			break;
		}
		memset(back, 0xAA, sizeof(back));
		assert_int_equal(aes256_gcm_open(&g, iv, aad, al, ct, pl, back, tag), -1);
		for (size_t i = 0; i < pl; i++) {
			assert_int_equal(back[i], 0);
		}
	}
}

/* Sealing and opening in place (ct == pt), as the guest-message code does. */
static void test_gcm_in_place(void **state)
{
	u8 key[32], iv[12], buf[333], orig[333], tag[16];
	struct aes256_gcm g;

	rng_fill(key, sizeof(key));
	rng_fill(iv, sizeof(iv));
	rng_fill(orig, sizeof(orig));
	memcpy(buf, orig, sizeof(buf));
	aes256_gcm_init(&g, key);
	aes256_gcm_seal(&g, iv, NULL, 0, buf, sizeof(buf), buf, tag);
	assert_memory_not_equal(buf, orig, sizeof(buf));
	assert_int_equal(aes256_gcm_open(&g, iv, NULL, 0, buf, sizeof(buf), buf, tag), 0);
	assert_memory_equal(buf, orig, sizeof(buf));
}

static void test_crypto_equal_and_wipe(void **state)
{
	u8 a[40], b[40];

	rng_fill(a, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_int_equal(crypto_equal(a, b, sizeof(a)), 1);
	assert_int_equal(crypto_equal(a, b, 0), 1);
	for (unsigned i = 0; i < sizeof(a); i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			b[i] ^= (u8)(1u << bit);
			assert_int_equal(crypto_equal(a, b, sizeof(a)), 0);
			b[i] ^= (u8)(1u << bit);
		}
	}
	crypto_wipe(a, sizeof(a));
	for (unsigned i = 0; i < sizeof(a); i++) {
		assert_int_equal(a[i], 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),   cmocka_unit_test(test_sha_differential),
		cmocka_unit_test(test_aes_differential), cmocka_unit_test(test_gcm_differential),
		cmocka_unit_test(test_gcm_in_place),    cmocka_unit_test(test_crypto_equal_and_wipe),
	};
	return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
