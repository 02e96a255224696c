/*
 * ECDSA over NIST P-384 with SHA-384 (FIPS 186-4; the nonce k from RFC 6979, deterministic)
 * for the test image's PSP model (emu/minipsp/): freestanding, general-purpose registers
 * only, no allocation, no table indexed by a secret. A test model, not the product: the
 * production image never links it (ci/image-checks.sh), and docs/attestation.md ("The PSP
 * in the test image") says why it exists and how it is tested.
 *
 * Numbers are big-endian byte strings of P384_BYTES bytes, as in X9.62 and RFC 6979.
 */
#ifndef EMU_MINIPSP_P384_H
#define EMU_MINIPSP_P384_H

#include <svsm/types.h>

#define P384_BYTES 48

/* The public key Q = d·G of the private key @d (1 <= d < n). 0, or -1 if @d is out of range. */
int p384_public_key(const u8 d[P384_BYTES], u8 qx[P384_BYTES], u8 qy[P384_BYTES]);

/*
 * Sign the SHA-384 digest @digest with @d: (r, s), k chosen as RFC 6979 section 3.2 says
 * (HMAC-SHA-384 DRBG over d and the digest). 0, or -1 if @d is out of range.
 */
int p384_sign_digest(const u8 d[P384_BYTES], const u8 digest[P384_BYTES], u8 r[P384_BYTES], u8 s[P384_BYTES]);

/* The first nonce candidate of RFC 6979 for (@d, @digest), for known-answer tests. */
void p384_rfc6979_k(const u8 d[P384_BYTES], const u8 digest[P384_BYTES], u8 k[P384_BYTES]);

/*
 * Check the signature (r, s) of the SHA-384 digest @digest under the public key (qx, qy).
 * 0 if it verifies; -1 if it does not, if r or s is not in [1, n-1] or Q is not a point
 * of the curve.
 */
int p384_verify_digest(const u8 qx[P384_BYTES], const u8 qy[P384_BYTES], const u8 digest[P384_BYTES],
		       const u8 r[P384_BYTES], const u8 s[P384_BYTES]);

#endif
