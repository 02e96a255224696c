/*
 * ECDSA P-384 / SHA-384 for the test image's PSP model (see p384.h).
 *
 * Numbers are six 64-bit limbs, least significant first. Arithmetic modulo p (the field)
 * and modulo n (the group order) is Montgomery multiplication (CIOS) with R = 2^384, one
 * routine for both moduli; the constants R mod m, R^2 mod m and -m^-1 mod 2^64 are derived
 * from the modulus at run time rather than written down. Points are homogeneous projective
 * (X:Y:Z) and added with the complete formulas for a = -3 of Renes, Costello and Batina
 * ("Complete addition formulas for prime order elliptic curves", 2016, algorithm 4), which
 * also double and handle the point at infinity (0:1:0), so a scalar multiplication is the
 * same sequence of operations for every scalar: 4-bit windows, a table of 16 multiples
 * read by masked selection. Inversions are Fermat's (a^(m-2)), whose exponent is public.
 * The curve's constants are those of FIPS 186-4 D.1.2.4 (also SEC 2 secp384r1).
 */
#include <svsm/crypto.h>
#include <svsm/string.h>

#include "p384.h"

#define LIMBS 6

typedef unsigned __int128 u128;

struct mod {
	u64 m[LIMBS];
	u64 m0inv;     /* -m^-1 mod 2^64 */
	u64 one[LIMBS]; /* R mod m: 1 in Montgomery form */
	u64 r2[LIMBS];  /* R^2 mod m */
};

/* p = 2^384 - 2^128 - 2^96 + 2^32 - 1, n, b, G: big-endian bytes as the standard gives them. */
static const u8 p384_p_be[P384_BYTES] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
};
static const u8 p384_n_be[P384_BYTES] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
	0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};
static const u8 p384_b_be[P384_BYTES] = {
	0xb3, 0x31, 0x2f, 0xa7, 0xe2, 0x3e, 0xe7, 0xe4, 0x98, 0x8e, 0x05, 0x6b, 0xe3, 0xf8, 0x2d, 0x19,
	0x18, 0x1d, 0x9c, 0x6e, 0xfe, 0x81, 0x41, 0x12, 0x03, 0x14, 0x08, 0x8f, 0x50, 0x13, 0x87, 0x5a,
	0xc6, 0x56, 0x39, 0x8d, 0x8a, 0x2e, 0xd1, 0x9d, 0x2a, 0x85, 0xc8, 0xed, 0xd3, 0xec, 0x2a, 0xef,
};
static const u8 p384_gx_be[P384_BYTES] = {
	0xaa, 0x87, 0xca, 0x22, 0xbe, 0x8b, 0x05, 0x37, 0x8e, 0xb1, 0xc7, 0x1e, 0xf3, 0x20, 0xad, 0x74,
	0x6e, 0x1d, 0x3b, 0x62, 0x8b, 0xa7, 0x9b, 0x98, 0x59, 0xf7, 0x41, 0xe0, 0x82, 0x54, 0x2a, 0x38,
	0x55, 0x02, 0xf2, 0x5d, 0xbf, 0x55, 0x29, 0x6c, 0x3a, 0x54, 0x5e, 0x38, 0x72, 0x76, 0x0a, 0xb7,
};
static const u8 p384_gy_be[P384_BYTES] = {
	0x36, 0x17, 0xde, 0x4a, 0x96, 0x26, 0x2c, 0x6f, 0x5d, 0x9e, 0x98, 0xbf, 0x92, 0x92, 0xdc, 0x29,
	0xf8, 0xf4, 0x1d, 0xbd, 0x28, 0x9a, 0x14, 0x7c, 0xe9, 0xda, 0x31, 0x13, 0xb5, 0xf0, 0xb8, 0xc0,
	0x0a, 0x60, 0xb1, 0xce, 0x1d, 0x7e, 0x81, 0x9d, 0x7a, 0x43, 0x1d, 0x7c, 0x90, 0xea, 0x0e, 0x5f,
};

/* --- plain numbers ------------------------------------------------------------------------- */

static void num_from_be(u64 r[LIMBS], const u8 b[P384_BYTES])
{
	for (unsigned i = 0; i < LIMBS; i++) {
		u64 v = 0;
		for (unsigned j = 0; j < 8; j++) {
			v = v << 8 | b[P384_BYTES - 8 * (i + 1) + j];
		}
		r[i] = v;
	}
}

static void num_to_be(u8 b[P384_BYTES], const u64 a[LIMBS])
{
	for (unsigned i = 0; i < LIMBS; i++) {
		for (unsigned j = 0; j < 8; j++) {
			b[P384_BYTES - 8 * (i + 1) + j] = (u8)(a[i] >> (56 - 8 * j));
		}
	}
}

/* r = a - b; the borrow out (0 or 1). */
static u64 num_sub(u64 r[LIMBS], const u64 a[LIMBS], const u64 b[LIMBS])
{
	u64 borrow = 0;

	for (unsigned i = 0; i < LIMBS; i++) {
		u128 d = (u128)a[i] - b[i] - borrow;
		r[i] = (u64)d;
		borrow = (u64)(d >> 64) & 1;
	}
	return borrow;
}

/* r = a + b; the carry out (0 or 1). */
static u64 num_add(u64 r[LIMBS], const u64 a[LIMBS], const u64 b[LIMBS])
{
	u64 carry = 0;

	for (unsigned i = 0; i < LIMBS; i++) {
		u128 s = (u128)a[i] + b[i] + carry;
		r[i] = (u64)s;
		carry = (u64)(s >> 64);
	}
	return carry;
}

/* r = mask ? a : b, mask all ones or zero. */
static void num_select(u64 r[LIMBS], u64 mask, const u64 a[LIMBS], const u64 b[LIMBS])
{
	for (unsigned i = 0; i < LIMBS; i++) {
		r[i] = (a[i] & mask) | (b[i] & ~mask);
	}
}

/* 1 if a < b (public values only: the result decides a branch). */
static bool num_lt(const u64 a[LIMBS], const u64 b[LIMBS])
{
	u64 t[LIMBS];

	return num_sub(t, a, b) != 0;
}

static bool num_is_zero(const u64 a[LIMBS])
{
	u64 acc = 0;

	for (unsigned i = 0; i < LIMBS; i++) {
		acc |= a[i];
	}
	return acc == 0;
}

/* a mod m for a < 2m: one subtraction, applied by mask. */
static void num_reduce_once(u64 r[LIMBS], const u64 a[LIMBS], const u64 m[LIMBS])
{
	u64 d[LIMBS];
	u64 borrow = num_sub(d, a, m);

	num_select(r, borrow - 1, d, a);
}

/* --- arithmetic modulo m (Montgomery form) --------------------------------------------------- */

static void mod_add(u64 r[LIMBS], const u64 a[LIMBS], const u64 b[LIMBS], const struct mod *md)
{
	u64 s[LIMBS], d[LIMBS];
	u64 carry = num_add(s, a, b);
	u64 borrow = num_sub(d, s, md->m);
	/* Subtract m when the sum overflowed or is not below m. */
	u64 use_d = (carry | (borrow ^ 1)) & 1;

	num_select(r, 0 - use_d, d, s);
}

static void mod_sub(u64 r[LIMBS], const u64 a[LIMBS], const u64 b[LIMBS], const struct mod *md)
{
	u64 d[LIMBS], e[LIMBS];
	u64 borrow = num_sub(d, a, b);

	num_add(e, d, md->m);
	num_select(r, 0 - borrow, e, d);
}

/* r = a * b * R^-1 mod m (CIOS); a, b < m. r may alias a or b. */
static void mod_mul(u64 r[LIMBS], const u64 a[LIMBS], const u64 b[LIMBS], const struct mod *md)
{
	u64 t[LIMBS + 2] = {0};

	for (unsigned i = 0; i < LIMBS; i++) {
		u64 c = 0;
		for (unsigned j = 0; j < LIMBS; j++) {
			u128 x = (u128)a[j] * b[i] + t[j] + c;
			t[j] = (u64)x;
			c = (u64)(x >> 64);
		}
		u128 x = (u128)t[LIMBS] + c;
		t[LIMBS] = (u64)x;
		t[LIMBS + 1] = (u64)(x >> 64);

		u64 q = t[0] * md->m0inv;
		x = (u128)q * md->m[0] + t[0];
		c = (u64)(x >> 64);
		for (unsigned j = 1; j < LIMBS; j++) {
			x = (u128)q * md->m[j] + t[j] + c;
			t[j - 1] = (u64)x;
			c = (u64)(x >> 64);
		}
		x = (u128)t[LIMBS] + c;
		t[LIMBS - 1] = (u64)x;
		t[LIMBS] = t[LIMBS + 1] + (u64)(x >> 64);
	}
	/* t < 2m: subtract m once if t[LIMBS] is set or t >= m. */
	u64 d[LIMBS];
	u64 borrow = num_sub(d, t, md->m);
	u64 use_d = (t[LIMBS] | (borrow ^ 1)) & 1;
	num_select(r, 0 - use_d, d, t);
}

static void mod_to(u64 r[LIMBS], const u64 a[LIMBS], const struct mod *md)
{
	mod_mul(r, a, md->r2, md);
}

static void mod_from(u64 r[LIMBS], const u64 a[LIMBS], const struct mod *md)
{
	static const u64 one[LIMBS] = {1};

	mod_mul(r, a, one, md);
}

/* r = a^(m-2) = a^-1 (0 for a = 0). The exponent is public: its bits may steer the loop. */
static void mod_inv(u64 r[LIMBS], const u64 a[LIMBS], const struct mod *md)
{
	static const u64 two[LIMBS] = {2};
	u64 e[LIMBS], acc[LIMBS];

	num_sub(e, md->m, two);
	memcpy(acc, md->one, sizeof(acc));
	for (int bit = 64 * LIMBS - 1; bit >= 0; bit--) {
		mod_mul(acc, acc, acc, md);
		if ((e[bit / 64] >> (bit % 64)) & 1) {
			mod_mul(acc, acc, a, md);
		}
	}
	memcpy(r, acc, sizeof(acc));
}

/* The Montgomery constants of a modulus m with its top bit set (both p and n). */
static void mod_init(struct mod *md, const u8 m_be[P384_BYTES])
{
	static const u64 zero[LIMBS];

	num_from_be(md->m, m_be);
	/* m0^-1 mod 2^64 by Newton's iteration: each step doubles the correct low bits. */
	u64 inv = md->m[0];
	for (unsigned i = 0; i < 5; i++) {
		inv *= 2 - md->m[0] * inv;
	}
	md->m0inv = 0 - inv;
	/* R mod m = 2^384 - m, since 2^383 <= m < 2^384. */
	num_sub(md->one, zero, md->m);
	/* R^2 mod m: R doubled 384 times modulo m. */
	memcpy(md->r2, md->one, sizeof(md->r2));
	for (unsigned i = 0; i < 64 * LIMBS; i++) {
		mod_add(md->r2, md->r2, md->r2, md);
	}
}

/* --- the curve ------------------------------------------------------------------------------- */

struct point {
	u64 x[LIMBS], y[LIMBS], z[LIMBS]; /* projective, coordinates in Montgomery form mod p */
};

struct curve {
	struct mod p, n;
	u64 b[LIMBS]; /* Montgomery form */
	struct point g;
};

static void curve_init(struct curve *c)
{
	u64 t[LIMBS];

	mod_init(&c->p, p384_p_be);
	mod_init(&c->n, p384_n_be);
	num_from_be(t, p384_b_be);
	mod_to(c->b, t, &c->p);
	num_from_be(t, p384_gx_be);
	mod_to(c->g.x, t, &c->p);
	num_from_be(t, p384_gy_be);
	mod_to(c->g.y, t, &c->p);
	memcpy(c->g.z, c->p.one, sizeof(c->g.z));
}

static void point_infinity(struct point *r, const struct curve *c)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->y, c->p.one, sizeof(r->y));
}

/* r = a + b, complete for a = -3 (any inputs, equal ones and infinity included). r may alias a or b. */
static void point_add(struct point *r, const struct point *a, const struct point *b, const struct curve *c)
{
	const struct mod *p = &c->p;
	u64 t0[LIMBS], t1[LIMBS], t2[LIMBS], t3[LIMBS], t4[LIMBS];
	u64 x3[LIMBS], y3[LIMBS], z3[LIMBS];

	mod_mul(t0, a->x, b->x, p);
	mod_mul(t1, a->y, b->y, p);
	mod_mul(t2, a->z, b->z, p);
	mod_add(t3, a->x, a->y, p);
	mod_add(t4, b->x, b->y, p);
	mod_mul(t3, t3, t4, p);
	mod_add(t4, t0, t1, p);
	mod_sub(t3, t3, t4, p);
	mod_add(t4, a->y, a->z, p);
	mod_add(x3, b->y, b->z, p);
	mod_mul(t4, t4, x3, p);
	mod_add(x3, t1, t2, p);
	mod_sub(t4, t4, x3, p);
	mod_add(x3, a->x, a->z, p);
	mod_add(y3, b->x, b->z, p);
	mod_mul(x3, x3, y3, p);
	mod_add(y3, t0, t2, p);
	mod_sub(y3, x3, y3, p);
	mod_mul(z3, c->b, t2, p);
	mod_sub(x3, y3, z3, p);
	mod_add(z3, x3, x3, p);
	mod_add(x3, x3, z3, p);
	mod_sub(z3, t1, x3, p);
	mod_add(x3, t1, x3, p);
	mod_mul(y3, c->b, y3, p);
	mod_add(t1, t2, t2, p);
	mod_add(t2, t1, t2, p);
	mod_sub(y3, y3, t2, p);
	mod_sub(y3, y3, t0, p);
	mod_add(t1, y3, y3, p);
	mod_add(y3, t1, y3, p);
	mod_add(t1, t0, t0, p);
	mod_add(t0, t1, t0, p);
	mod_sub(t0, t0, t2, p);
	mod_mul(t1, t4, y3, p);
	mod_mul(t2, t0, y3, p);
	mod_mul(y3, x3, z3, p);
	mod_add(y3, y3, t2, p);
	mod_mul(x3, t3, x3, p);
	mod_sub(x3, x3, t1, p);
	mod_mul(z3, t4, z3, p);
	mod_mul(t1, t3, t0, p);
	mod_add(z3, z3, t1, p);
	memcpy(r->x, x3, sizeof(x3));
	memcpy(r->y, y3, sizeof(y3));
	memcpy(r->z, z3, sizeof(z3));
}

/*
 * r = k·P for a scalar k < 2^384: 96 windows of 4 bits, most significant first; each adds
 * the table entry picked by masked selection, so neither the sequence of operations nor
 * the addresses touched depend on k.
 */
static void point_mul(struct point *r, const struct point *pt, const u64 k[LIMBS], const struct curve *c)
{
	struct point table[16], acc, pick;

	point_infinity(&table[0], c);
	table[1] = *pt;
	for (unsigned i = 2; i < 16; i++) {
		point_add(&table[i], &table[i - 1], pt, c);
	}
	point_infinity(&acc, c);
	for (int w = 95; w >= 0; w--) {
		for (unsigned d = 0; d < 4; d++) {
			point_add(&acc, &acc, &acc, c);
		}
		u64 digit = (k[w / 16] >> (4 * (w % 16))) & 0xF;
		memset(&pick, 0, sizeof(pick));
		for (u64 i = 0; i < 16; i++) {
			/* all ones when i == digit: (i ^ digit) - 1 borrows only for 0 */
			u64 mask = 0 - (((i ^ digit) - 1) >> 63);
			for (unsigned l = 0; l < LIMBS; l++) {
				pick.x[l] |= table[i].x[l] & mask;
				pick.y[l] |= table[i].y[l] & mask;
				pick.z[l] |= table[i].z[l] & mask;
			}
		}
		point_add(&acc, &acc, &pick, c);
	}
	*r = acc;
	crypto_wipe(table, sizeof(table));
	crypto_wipe(&pick, sizeof(pick));
	crypto_wipe(&acc, sizeof(acc));
}

/* The affine x and y (plain numbers < p) of @pt; false for the point at infinity. */
static bool point_affine(const struct point *pt, u64 x[LIMBS], u64 y[LIMBS], const struct curve *c)
{
	u64 zinv[LIMBS], t[LIMBS];

	if (num_is_zero(pt->z)) {
		return false;
	}
	mod_inv(zinv, pt->z, &c->p);
	mod_mul(t, pt->x, zinv, &c->p);
	mod_from(x, t, &c->p);
	mod_mul(t, pt->y, zinv, &c->p);
	mod_from(y, t, &c->p);
	return true;
}

/* (x, y), plain numbers, is a point of the curve: x, y < p and y^2 = x^3 - 3x + b. */
static bool point_on_curve(const u64 x[LIMBS], const u64 y[LIMBS], const struct curve *c)
{
	const struct mod *p = &c->p;
	u64 xm[LIMBS], ym[LIMBS], lhs[LIMBS], rhs[LIMBS], t[LIMBS];

	if (!num_lt(x, p->m) || !num_lt(y, p->m)) {
		return false;
	}
	mod_to(xm, x, p);
	mod_to(ym, y, p);
	mod_mul(lhs, ym, ym, p);
	mod_mul(rhs, xm, xm, p);
	mod_mul(rhs, rhs, xm, p);
	mod_add(t, xm, xm, p);
	mod_add(t, t, xm, p);
	mod_sub(rhs, rhs, t, p);
	mod_add(rhs, rhs, c->b, p);
	return crypto_equal(lhs, rhs, sizeof(lhs));
}

/* --- HMAC-SHA-384 (RFC 2104) and the RFC 6979 nonce -------------------------------------------- */

struct hmac384 {
	struct sha512_ctx inner, outer;
};

static void hmac384_init(struct hmac384 *h, const u8 *key, size_t len)
{
	u8 pad[SHA512_BLOCK_SIZE];

	/* Keys here are 48 bytes, never longer than a block. */
	memset(pad, 0, sizeof(pad));
	memcpy(pad, key, len);
	for (unsigned i = 0; i < sizeof(pad); i++) {
		pad[i] ^= 0x36;
	}
	sha384_init(&h->inner);
	sha512_update(&h->inner, pad, sizeof(pad));
	for (unsigned i = 0; i < sizeof(pad); i++) {
		pad[i] ^= 0x36 ^ 0x5c;
	}
	sha384_init(&h->outer);
	sha512_update(&h->outer, pad, sizeof(pad));
	crypto_wipe(pad, sizeof(pad));
}

static void hmac384_final(struct hmac384 *h, u8 out[SHA384_DIGEST_SIZE])
{
	u8 inner[SHA384_DIGEST_SIZE];

	sha384_final(&h->inner, inner);
	sha512_update(&h->outer, inner, sizeof(inner));
	sha384_final(&h->outer, out);
	crypto_wipe(inner, sizeof(inner));
}

/* The HMAC-DRBG of RFC 6979 section 3.2 (qlen = hlen = 384 bits). */
struct rfc6979 {
	u8 k[SHA384_DIGEST_SIZE];
	u8 v[SHA384_DIGEST_SIZE];
};

/* K = HMAC_K(V || @sep [|| x || h1]); V = HMAC_K(V). */
static void rfc6979_update(struct rfc6979 *g, u8 sep, const u8 *x, const u8 *h1)
{
	struct hmac384 h;

	hmac384_init(&h, g->k, sizeof(g->k));
	sha512_update(&h.inner, g->v, sizeof(g->v));
	sha512_update(&h.inner, &sep, 1);
	if (x) {
		sha512_update(&h.inner, x, P384_BYTES);
		sha512_update(&h.inner, h1, P384_BYTES);
	}
	hmac384_final(&h, g->k);
	hmac384_init(&h, g->k, sizeof(g->k));
	sha512_update(&h.inner, g->v, sizeof(g->v));
	hmac384_final(&h, g->v);
}

/* Steps b-f: @x = int2octets(d), @h1 = bits2octets(digest) = (digest mod n) in 48 bytes. */
static void rfc6979_init(struct rfc6979 *g, const u8 x[P384_BYTES], const u8 h1[P384_BYTES])
{
	memset(g->v, 0x01, sizeof(g->v));
	memset(g->k, 0x00, sizeof(g->k));
	rfc6979_update(g, 0x00, x, h1);
	rfc6979_update(g, 0x01, x, h1);
}

/* Step h: the next candidate (one HMAC block is qlen bits), as a number. */
static void rfc6979_next(struct rfc6979 *g, u64 k[LIMBS])
{
	struct hmac384 h;

	hmac384_init(&h, g->k, sizeof(g->k));
	sha512_update(&h.inner, g->v, sizeof(g->v));
	hmac384_final(&h, g->v);
	num_from_be(k, g->v);
}

/* After a rejected candidate (k out of range, r = 0 or s = 0). */
static void rfc6979_reject(struct rfc6979 *g)
{
	rfc6979_update(g, 0x00, NULL, NULL);
}

/* The digest as a number reduced mod n, and as bits2octets of it. */
static void digest_mod_n(u64 z[LIMBS], u8 h1[P384_BYTES], const u8 digest[P384_BYTES], const struct curve *c)
{
	u64 e[LIMBS];

	num_from_be(e, digest);
	num_reduce_once(z, e, c->n.m);
	num_to_be(h1, z);
}

/* --- ECDSA ------------------------------------------------------------------------------------ */

/* 1 <= a < n */
static bool scalar_valid(const u64 a[LIMBS], const struct curve *c)
{
	return !num_is_zero(a) && num_lt(a, c->n.m);
}

int p384_public_key(const u8 d[P384_BYTES], u8 qx[P384_BYTES], u8 qy[P384_BYTES])
{
	struct curve c;
	struct point q;
	u64 dn[LIMBS], x[LIMBS], y[LIMBS];
	int rc = -1;

	curve_init(&c);
	num_from_be(dn, d);
	if (scalar_valid(dn, &c)) {
		point_mul(&q, &c.g, dn, &c);
		if (point_affine(&q, x, y, &c)) {
			num_to_be(qx, x);
			num_to_be(qy, y);
			rc = 0;
		}
	}
	crypto_wipe(dn, sizeof(dn));
	return rc;
}

void p384_rfc6979_k(const u8 d[P384_BYTES], const u8 digest[P384_BYTES], u8 k[P384_BYTES])
{
	struct curve c;
	struct rfc6979 g;
	u64 z[LIMBS], kn[LIMBS];
	u8 h1[P384_BYTES];

	curve_init(&c);
	digest_mod_n(z, h1, digest, &c);
	rfc6979_init(&g, d, h1);
	rfc6979_next(&g, kn);
	num_to_be(k, kn);
	crypto_wipe(&g, sizeof(g));
	crypto_wipe(kn, sizeof(kn));
}

int p384_sign_digest(const u8 d[P384_BYTES], const u8 digest[P384_BYTES], u8 r_out[P384_BYTES], u8 s_out[P384_BYTES])
{
	struct curve c;
	struct rfc6979 g;
	struct point kg;
	u64 dn[LIMBS], z[LIMBS], k[LIMBS], x[LIMBS], y[LIMBS], r[LIMBS], s[LIMBS];
	u64 km[LIMBS], kinv[LIMBS], rm[LIMBS], dm[LIMBS], zm[LIMBS], t[LIMBS];
	u8 h1[P384_BYTES];
	int rc = -1;

	curve_init(&c);
	num_from_be(dn, d);
	if (!scalar_valid(dn, &c)) {
		goto out;
	}
	digest_mod_n(z, h1, digest, &c);
	rfc6979_init(&g, d, h1);
	for (;;) {
		rfc6979_next(&g, k);
		if (!scalar_valid(k, &c)) {
			rfc6979_reject(&g);
			continue;
		}
		point_mul(&kg, &c.g, k, &c);
		if (!point_affine(&kg, x, y, &c)) {
			rfc6979_reject(&g);
			continue;
		}
		/* r = x mod n: x < p < 2n. */
		num_reduce_once(r, x, c.n.m);
		if (num_is_zero(r)) {
			rfc6979_reject(&g);
			continue;
		}
		/* s = k^-1 (z + r d) mod n, in Montgomery form mod n. */
		mod_to(km, k, &c.n);
		mod_inv(kinv, km, &c.n);
		mod_to(rm, r, &c.n);
		mod_to(dm, dn, &c.n);
		mod_to(zm, z, &c.n);
		mod_mul(t, rm, dm, &c.n);
		mod_add(t, t, zm, &c.n);
		mod_mul(t, kinv, t, &c.n);
		mod_from(s, t, &c.n);
		if (num_is_zero(s)) {
			rfc6979_reject(&g);
			continue;
		}
		break;
	}
	num_to_be(r_out, r);
	num_to_be(s_out, s);
	rc = 0;
out:
	crypto_wipe(dn, sizeof(dn));
	crypto_wipe(dm, sizeof(dm));
	crypto_wipe(k, sizeof(k));
	crypto_wipe(km, sizeof(km));
	crypto_wipe(kinv, sizeof(kinv));
	crypto_wipe(&g, sizeof(g));
	crypto_wipe(&kg, sizeof(kg));
	return rc;
}

int p384_verify_digest(const u8 qx[P384_BYTES], const u8 qy[P384_BYTES], const u8 digest[P384_BYTES],
		       const u8 r_be[P384_BYTES], const u8 s_be[P384_BYTES])
{
	struct curve c;
	struct point q = {0}, a, b; /* q: filled below (zeroed for the analysers) */
	u64 x[LIMBS], y[LIMBS], r[LIMBS], s[LIMBS], z[LIMBS], w[LIMBS], t[LIMBS], u1[LIMBS], u2[LIMBS], v[LIMBS];
	u8 h1[P384_BYTES];

	curve_init(&c);
	num_from_be(x, qx);
	num_from_be(y, qy);
	num_from_be(r, r_be);
	num_from_be(s, s_be);
	if (!scalar_valid(r, &c) || !scalar_valid(s, &c) || !point_on_curve(x, y, &c)) {
		return -1;
	}
	mod_to(q.x, x, &c.p);
	mod_to(q.y, y, &c.p);
	memcpy(q.z, c.p.one, sizeof(q.z));
	digest_mod_n(z, h1, digest, &c);
	/* w = s^-1; u1 = z w; u2 = r w (mod n). */
	mod_to(t, s, &c.n);
	mod_inv(w, t, &c.n);
	mod_to(t, z, &c.n);
	mod_mul(t, t, w, &c.n);
	mod_from(u1, t, &c.n);
	mod_to(t, r, &c.n);
	mod_mul(t, t, w, &c.n);
	mod_from(u2, t, &c.n);
	point_mul(&a, &c.g, u1, &c);
	point_mul(&b, &q, u2, &c);
	point_add(&a, &a, &b, &c);
	if (!point_affine(&a, x, y, &c)) {
		return -1;
	}
	num_reduce_once(v, x, c.n.m);
	return crypto_equal(v, r, sizeof(v)) ? 0 : -1;
}
