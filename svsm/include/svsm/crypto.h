/*
 * The core's own cryptography: SHA-384/SHA-512 (FIPS 180-4), AES-256 encryption (FIPS 197)
 * and AES-256-GCM with 96-bit IVs (NIST SP 800-38D). Freestanding, general-purpose
 * registers only, no allocation (every state lives in the caller's structure), and no
 * branch or memory index that depends on keys, data or tags (docs/attestation.md, "Crypto
 * in the core", says why the core does not link Debian's BearSSL and how constant time is
 * checked).
 */
#ifndef SVSM_CRYPTO_H
#define SVSM_CRYPTO_H

#include <svsm/types.h>

#define SHA512_DIGEST_SIZE 64
#define SHA384_DIGEST_SIZE 48
#define SHA512_BLOCK_SIZE 128

struct sha512_ctx {
	u64 h[8];
	u64 bytes;                   /* message bytes so far (messages stay below 2^61 bytes) */
	u8 buf[SHA512_BLOCK_SIZE];
	u32 buf_len;
};

void sha512_init(struct sha512_ctx *c);
void sha384_init(struct sha512_ctx *c);
void sha512_update(struct sha512_ctx *c, const void *data, size_t len);
/* Finish and write the digest; the context is wiped. */
void sha512_final(struct sha512_ctx *c, u8 out[SHA512_DIGEST_SIZE]);
void sha384_final(struct sha512_ctx *c, u8 out[SHA384_DIGEST_SIZE]);
/* One-shot forms. */
void sha512(const void *data, size_t len, u8 out[SHA512_DIGEST_SIZE]);
void sha384(const void *data, size_t len, u8 out[SHA384_DIGEST_SIZE]);

#define AES256_KEY_SIZE 32
#define AES_BLOCK_SIZE 16
#define AES256_ROUNDS 14

/* Expanded AES-256 encryption key: 15 round keys, two little-endian words each. */
struct aes256_key {
	u64 rk[AES256_ROUNDS + 1][2];
};

void aes256_init(struct aes256_key *k, const u8 key[AES256_KEY_SIZE]);
void aes256_encrypt_block(const struct aes256_key *k, const u8 in[AES_BLOCK_SIZE], u8 out[AES_BLOCK_SIZE]);

#define GCM_IV_SIZE 12
#define GCM_TAG_SIZE 16

/* An AES-256-GCM key: the expanded AES key and the hash subkey H = E(K, 0^128). */
struct aes256_gcm {
	struct aes256_key aes;
	u64 h_hi, h_lo; /* H as a big-endian 128-bit value */
};

void aes256_gcm_init(struct aes256_gcm *g, const u8 key[AES256_KEY_SIZE]);
/*
 * Encrypt @len bytes of @pt into @ct (which may be @pt) and authenticate them with
 * @aad; the 16-byte tag goes to @tag.
 */
void aes256_gcm_seal(const struct aes256_gcm *g, const u8 iv[GCM_IV_SIZE], const void *aad, size_t aad_len,
		     const void *pt, size_t len, void *ct, u8 tag[GCM_TAG_SIZE]);
/*
 * Check @tag over @aad and @ct and decrypt @len bytes into @pt (which may be @ct).
 * Returns 0, or -1 if the tag does not match: then @pt is zero-filled and nothing of the
 * plaintext is released (the verdict is applied as a mask, without a branch).
 */
int aes256_gcm_open(const struct aes256_gcm *g, const u8 iv[GCM_IV_SIZE], const void *aad, size_t aad_len,
		    const void *ct, size_t len, void *pt, const u8 tag[GCM_TAG_SIZE]);

/* Zero @len bytes in a way the compiler cannot drop (keys, plaintexts). */
void crypto_wipe(void *p, size_t len);
/* 1 if the @len bytes at @a and @b are equal, else 0; the time depends on @len only. */
int crypto_equal(const void *a, const void *b, size_t len);

#endif
