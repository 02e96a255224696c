/*
 * AES-256-GCM (NIST SP 800-38D) with 96-bit IVs, as the SNP guest-message layer uses it,
 * and the constant-time helpers of the core's crypto. GHASH multiplies bit by bit under
 * masks (no table indexed by secret data); the tag is compared in constant time before
 * any plaintext is released.
 */
#include <svsm/crypto.h>
#include <svsm/string.h>

void crypto_wipe(void *p, size_t len)
{
	volatile u8 *b = p;

	for (size_t i = 0; i < len; i++) {
		b[i] = 0;
	}
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

int crypto_equal(const void *a, const void *b, size_t len)
{
	const u8 *x = a;
	const u8 *y = b;
	u32 diff = 0;

	for (size_t i = 0; i < len; i++) {
		diff |= (u32)(x[i] ^ y[i]);
	}
	/* 1 when diff == 0, without a branch: (diff - 1) has bit 31 set only for 0. */
	return (int)(((diff - 1) >> 31) & 1);
}

static inline u64 gcm_load_be64(const u8 *p)
{
	u64 v = 0;

	for (unsigned i = 0; i < 8; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

static inline void gcm_store_be64(u8 *p, u64 v)
{
	for (unsigned i = 0; i < 8; i++) {
		p[i] = (u8)(v >> (56 - 8 * i));
	}
}

/* GHASH state: Y as a big-endian 128-bit value. */
struct gcm_hash {
	u64 hi, lo;
};

/*
 * Y = (Y ^ X) * H in GF(2^128) with GCM's bit order (the first bit of the block is the
 * coefficient of x^0): for each bit of X, add V under a mask, then V *= x, i.e. shift
 * right and reduce with R = 0xE1 || 0^120 under a mask.
 */
static void gcm_mult(struct gcm_hash *y, const struct aes256_gcm *g, const u8 block[16])
{
	u64 x_hi = y->hi ^ gcm_load_be64(block);
	u64 x_lo = y->lo ^ gcm_load_be64(block + 8);
	u64 v_hi = g->h_hi, v_lo = g->h_lo;
	u64 z_hi = 0, z_lo = 0;

	for (unsigned i = 0; i < 128; i++) {
		u64 bit = i < 64 ? (x_hi >> (63 - i)) & 1 : (x_lo >> (127 - i)) & 1;
		u64 mask = 0 - bit;
		z_hi ^= v_hi & mask;
		z_lo ^= v_lo & mask;
		u64 carry = 0 - (v_lo & 1);
		v_lo = (v_lo >> 1) | (v_hi << 63);
		v_hi = (v_hi >> 1) ^ (0xE100000000000000ull & carry);
	}
	y->hi = z_hi;
	y->lo = z_lo;
}

/* GHASH over @len bytes, the last block zero-padded. */
static void gcm_hash_data(struct gcm_hash *y, const struct aes256_gcm *g, const u8 *p, size_t len)
{
	while (len >= 16) {
		gcm_mult(y, g, p);
		p += 16;
		len -= 16;
	}
	if (len) {
		u8 block[16] = {0};
		memcpy(block, p, len);
		gcm_mult(y, g, block);
		crypto_wipe(block, sizeof(block));
	}
}

void aes256_gcm_init(struct aes256_gcm *g, const u8 key[AES256_KEY_SIZE])
{
	u8 zero[16] = {0};
	u8 h[16];

	aes256_init(&g->aes, key);
	aes256_encrypt_block(&g->aes, zero, h);
	g->h_hi = gcm_load_be64(h);
	g->h_lo = gcm_load_be64(h + 8);
	crypto_wipe(h, sizeof(h));
}

/* Counter block J0 + @n: the IV, then a 32-bit big-endian counter starting at 1. */
static void gcm_counter(u8 block[16], const u8 iv[GCM_IV_SIZE], u32 n)
{
	memcpy(block, iv, GCM_IV_SIZE);
	block[12] = (u8)(n >> 24);
	block[13] = (u8)(n >> 16);
	block[14] = (u8)(n >> 8);
	block[15] = (u8)n;
}

/* CTR-mode keystream from counter 2 (J0 + 1) over @len bytes: out = in ^ E(K, counter). */
static void gcm_ctr(const struct aes256_gcm *g, const u8 iv[GCM_IV_SIZE], const u8 *in, u8 *out, size_t len)
{
	u8 ctr[16], ks[16];
	u32 n = 2;

	while (len) {
		size_t take = MIN(len, (size_t)16);
		gcm_counter(ctr, iv, n++);
		aes256_encrypt_block(&g->aes, ctr, ks);
		for (size_t i = 0; i < take; i++) {
			out[i] = in[i] ^ ks[i];
		}
		in += take;
		out += take;
		len -= take;
	}
	crypto_wipe(ks, sizeof(ks));
}

/* The tag: GHASH(A, C, lengths) ^ E(K, J0). */
static void gcm_tag(const struct aes256_gcm *g, const u8 iv[GCM_IV_SIZE], const u8 *aad, size_t aad_len, const u8 *ct,
		    size_t len, u8 tag[GCM_TAG_SIZE])
{
	struct gcm_hash y = {0, 0};
	u8 lens[16], j0[16], ek[16];

	gcm_hash_data(&y, g, aad, aad_len);
	gcm_hash_data(&y, g, ct, len);
	gcm_store_be64(lens, (u64)aad_len << 3);
	gcm_store_be64(lens + 8, (u64)len << 3);
	gcm_mult(&y, g, lens);
	gcm_counter(j0, iv, 1);
	aes256_encrypt_block(&g->aes, j0, ek);
	gcm_store_be64(tag, y.hi);
	gcm_store_be64(tag + 8, y.lo);
	for (unsigned i = 0; i < GCM_TAG_SIZE; i++) {
		tag[i] ^= ek[i];
	}
	crypto_wipe(ek, sizeof(ek));
	crypto_wipe(&y, sizeof(y));
}

void aes256_gcm_seal(const struct aes256_gcm *g, const u8 iv[GCM_IV_SIZE], const void *aad, size_t aad_len,
		     const void *pt, size_t len, void *ct, u8 tag[GCM_TAG_SIZE])
{
	gcm_ctr(g, iv, pt, ct, len);
	gcm_tag(g, iv, aad, aad_len, ct, len, tag);
}

int aes256_gcm_open(const struct aes256_gcm *g, const u8 iv[GCM_IV_SIZE], const void *aad, size_t aad_len,
		    const void *ct, size_t len, void *pt, const u8 tag[GCM_TAG_SIZE])
{
	u8 want[GCM_TAG_SIZE];

	gcm_tag(g, iv, aad, aad_len, ct, len, want);
	int ok = crypto_equal(want, tag, GCM_TAG_SIZE);
	crypto_wipe(want, sizeof(want));
	/*
	 * Decrypt, then keep the bytes only under the tag's verdict, without a branch on it
	 * (it derives from the key): a wrong tag leaves zeros.
	 */
	gcm_ctr(g, iv, ct, pt, len);
	u8 keep = (u8)(0u - (unsigned)ok);
	u8 *out = pt;
	for (size_t i = 0; i < len; i++) {
		out[i] &= keep;
	}
	return ok - 1;
}
