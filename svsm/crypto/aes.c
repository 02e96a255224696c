/*
 * AES-256 encryption (FIPS 197) in constant time, with general-purpose registers only.
 *
 * No lookup table: the S-box is computed. Eight bytes sit in the byte lanes of one u64;
 * the multiplicative inverse in GF(2^8) is x^254 (0 maps to 0), from four lane-wise
 * multiplications and three linear power maps whose loop counts and masks do not depend
 * on the data, followed by the affine map. The state is two u64 words holding bytes 0-7 and 8-15 of the block (column
 * major, as FIPS 197 numbers them), so each word carries two whole columns.
 */
#include <svsm/crypto.h>
#include <svsm/string.h>

#define LANES_01 0x0101010101010101ull
#define LANES_7F 0x7F7F7F7F7F7F7F7Full

/* Multiply every byte lane by x (modulo x^8 + x^4 + x^3 + x + 1). */
static inline u64 aes_xtime(u64 a)
{
	return ((a & LANES_7F) << 1) ^ (((a >> 7) & LANES_01) * 0x1B);
}

/* Lane-wise product in GF(2^8): eight shift-and-add steps, each under a lane mask. */
static u64 aes_gf_mul(u64 a, u64 b)
{
	u64 r = 0;

	for (unsigned i = 0; i < 8; i++) {
		u64 mask = ((b >> i) & LANES_01) * 0xFF;
		r ^= a & mask;
		a = aes_xtime(a);
	}
	return r;
}

/*
 * The same product on two independent pairs at once (the two halves of the state): two
 * dependency chains interleaved keep more of the CPU's execution units busy.
 */
static inline void aes_gf_mul2(const u64 a[2], const u64 b[2], u64 r[2])
{
	u64 a0 = a[0], a1 = a[1], r0 = 0, r1 = 0;

	for (unsigned i = 0; i < 8; i++) {
		r0 ^= a0 & (((b[0] >> i) & LANES_01) * 0xFF);
		r1 ^= a1 & (((b[1] >> i) & LANES_01) * 0xFF);
		a0 = aes_xtime(a0);
		a1 = aes_xtime(a1);
	}
	r[0] = r0;
	r[1] = r1;
}

/* Rotate every byte lane left by @n (1-7). */
static inline u64 aes_rotl_lanes(u64 x, unsigned n)
{
	u64 hi = LANES_01 * ((0xFFu << n) & 0xFF);
	u64 lo = LANES_01 * (0xFFu >> (8 - n));

	return ((x << n) & hi) | ((x >> (8 - n)) & lo);
}

/*
 * Raising to the power 2^k is linear over GF(2) (the Frobenius map): a^(2^k) is the XOR
 * of x^(i * 2^k) over the set bits i of a. @c holds those eight constants; each bit of
 * every lane selects its constant by a multiplication of a 0/1 lane, no data-dependent
 * branch or index. One map costs what two steps of aes_gf_mul cost.
 */
static u64 aes_pow2k(u64 a, const u8 c[8])
{
	u64 r = 0;

	for (unsigned i = 0; i < 8; i++) {
		r ^= ((a >> i) & LANES_01) * c[i];
	}
	return r;
}

/* x^(i * 2^k) mod x^8 + x^4 + x^3 + x + 1 for i = 0..7: squaring, 4th and 16th powers. */
static const u8 aes_pow2[8] = {0x01, 0x04, 0x10, 0x40, 0x1B, 0x6C, 0xAB, 0x9A};
static const u8 aes_pow4[8] = {0x01, 0x10, 0x1B, 0xAB, 0x5E, 0x97, 0xB3, 0xC5};
static const u8 aes_pow16[8] = {0x01, 0x5E, 0xE4, 0xE8, 0x4D, 0x91, 0x1D, 0x6C};

/* The S-box's affine map (with constant 0x63) on eight lanes. */
static inline u64 aes_affine(u64 inv)
{
	return inv ^ aes_rotl_lanes(inv, 1) ^ aes_rotl_lanes(inv, 2) ^ aes_rotl_lanes(inv, 3) ^ aes_rotl_lanes(inv, 4) ^
	       (LANES_01 * 0x63);
}

/*
 * SubBytes on eight lanes: inverse (x^254), then the affine map with constant 0x63.
 * x^254 = x^252 * x^2 with x^2, x^3 = x^2 * x, x^12 = (x^3)^4, x^15 = x^12 * x^3,
 * x^240 = (x^15)^16, x^252 = x^240 * x^12: three linear maps and four products.
 */
static u64 aes_sub_lanes(u64 x)
{
	u64 x2 = aes_pow2k(x, aes_pow2);
	u64 x3 = aes_gf_mul(x2, x);
	u64 x12 = aes_pow2k(x3, aes_pow4);
	u64 x15 = aes_gf_mul(x12, x3);
	u64 x240 = aes_pow2k(x15, aes_pow16);
	u64 x252 = aes_gf_mul(x240, x12);
	u64 inv = aes_gf_mul(x252, x2);

	return aes_affine(inv);
}

/* SubBytes on both halves of the state (sixteen lanes), as aes_sub_lanes. */
static void aes_sub_state(u64 *lo, u64 *hi)
{
	u64 x[2] = {*lo, *hi}, x2[2], x3[2], x12[2], x15[2], x240[2], x252[2], inv[2];

	for (unsigned k = 0; k < 2; k++) {
		x2[k] = aes_pow2k(x[k], aes_pow2);
	}
	aes_gf_mul2(x2, x, x3);
	for (unsigned k = 0; k < 2; k++) {
		x12[k] = aes_pow2k(x3[k], aes_pow4);
	}
	aes_gf_mul2(x12, x3, x15);
	for (unsigned k = 0; k < 2; k++) {
		x240[k] = aes_pow2k(x15[k], aes_pow16);
	}
	aes_gf_mul2(x240, x12, x252);
	aes_gf_mul2(x252, x2, inv);
	*lo = aes_affine(inv[0]);
	*hi = aes_affine(inv[1]);
}

static inline u64 aes_load_le64(const u8 *p)
{
	u64 v = 0;

	for (unsigned i = 0; i < 8; i++) {
		v |= (u64)p[i] << (8 * i);
	}
	return v;
}

static inline void aes_store_le64(u8 *p, u64 v)
{
	for (unsigned i = 0; i < 8; i++) {
		p[i] = (u8)(v >> (8 * i));
	}
}

/*
 * ShiftRows: row r of column c takes the byte of column (c + r) mod 4. Byte i of the
 * block is row i % 4 of column i / 4. The permutation is fixed, so no index is secret.
 */
static void aes_shift_rows(u64 *lo, u64 *hi)
{
	static const u8 from[16] = {0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11};
	u8 in[16], out[16];

	aes_store_le64(in, *lo);
	aes_store_le64(in + 8, *hi);
	for (unsigned i = 0; i < 16; i++) {
		out[i] = in[from[i]];
	}
	*lo = aes_load_le64(out);
	*hi = aes_load_le64(out + 8);
}

/* Rotate each 32-bit column of @w by one byte: lane i takes lane i + 1 of its column. */
static inline u64 aes_col_rot1(u64 w)
{
	return ((w >> 8) & 0x00FFFFFF00FFFFFFull) | ((w << 24) & 0xFF000000FF000000ull);
}

/* MixColumns on the two columns of @w: b = 2(a ^ rot1 a) ^ rot1 a ^ rot2 a ^ rot3 a. */
static inline u64 aes_mix_columns(u64 w)
{
	u64 r1 = aes_col_rot1(w);
	u64 r2 = aes_col_rot1(r1);
	u64 r3 = aes_col_rot1(r2);

	return aes_xtime(w ^ r1) ^ r1 ^ r2 ^ r3;
}

/* SubWord on a 32-bit word held in the low lanes (the other lanes are discarded). */
static u32 aes_sub_word(u32 w)
{
	return (u32)aes_sub_lanes(w);
}

void aes256_init(struct aes256_key *k, const u8 key[AES256_KEY_SIZE])
{
	u32 w[4 * (AES256_ROUNDS + 1)];
	u32 rcon = 1;

	/* Words hold their four bytes in memory order (byte 0 in the low lane). */
	for (size_t i = 0; i < 8; i++) {
		w[i] = (u32)key[4 * i] | (u32)key[4 * i + 1] << 8 | (u32)key[4 * i + 2] << 16 | (u32)key[4 * i + 3] << 24;
	}
	for (unsigned i = 8; i < 4 * (AES256_ROUNDS + 1); i++) {
		u32 t = w[i - 1];
		if (i % 8 == 0) {
			/* RotWord moves byte 1 to byte 0: with byte 0 in the low lane, a right rotation. */
			t = aes_sub_word((t >> 8) | (t << 24)) ^ rcon;
			rcon = (u32)aes_xtime(rcon) & 0xFF;
		} else if (i % 8 == 4) {
			t = aes_sub_word(t);
		}
		w[i] = w[i - 8] ^ t;
	}
	for (size_t r = 0; r <= AES256_ROUNDS; r++) {
		k->rk[r][0] = (u64)w[4 * r] | (u64)w[4 * r + 1] << 32;
		k->rk[r][1] = (u64)w[4 * r + 2] | (u64)w[4 * r + 3] << 32;
	}
	crypto_wipe(w, sizeof(w));
}

void aes256_encrypt_block(const struct aes256_key *k, const u8 in[AES_BLOCK_SIZE], u8 out[AES_BLOCK_SIZE])
{
	u64 lo = aes_load_le64(in) ^ k->rk[0][0];
	u64 hi = aes_load_le64(in + 8) ^ k->rk[0][1];

	for (unsigned r = 1; r <= AES256_ROUNDS; r++) {
		aes_sub_state(&lo, &hi);
		aes_shift_rows(&lo, &hi);
		if (r != AES256_ROUNDS) {
			lo = aes_mix_columns(lo);
			hi = aes_mix_columns(hi);
		}
		lo ^= k->rk[r][0];
		hi ^= k->rk[r][1];
	}
	aes_store_le64(out, lo);
	aes_store_le64(out + 8, hi);
}
