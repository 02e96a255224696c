/*
 * Constant-time check of the core's crypto (make check-ct, part of make test): under
 * valgrind's memcheck, keys, plaintexts and tags are marked "undefined", so any branch or
 * memory address that depends on them is reported as a use of an uninitialised value
 * (the ctgrind method). The process exits non-zero when valgrind reports any error.
 */
#include <stdio.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include <svsm/crypto.h>

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

int main(void)
{
	u8 key[32], iv[12] = {1, 2, 3}, aad[48], pt[200], ct[200], back[200], tag[16], digest[64];
	struct aes256_gcm g;
	struct sha512_ctx c;

	for (unsigned i = 0; i < sizeof(pt); i++) {
		pt[i] = (u8)(i * 13);
	}
	memset(key, 0x42, sizeof(key));
	memset(aad, 0x17, sizeof(aad));

	/* Hashes of secret data (REPORT_DATA hashes the nonce and manifest). */
	SECRET(pt, sizeof(pt));
	sha512(pt, sizeof(pt), digest);
	sha384_init(&c);
	sha512_update(&c, pt, 77);
	sha512_update(&c, pt + 77, sizeof(pt) - 77);
	sha384_final(&c, digest);

	/* Key expansion, encryption and the tag under a secret key and plaintext. */
	SECRET(key, sizeof(key));
	aes256_gcm_init(&g, key);
	aes256_gcm_seal(&g, iv, aad, sizeof(aad), pt, sizeof(pt), ct, tag);

	/* Opening: the ciphertext and tag are public (they crossed the hypervisor); the key is not. */
	PUBLIC(ct, sizeof(ct));
	PUBLIC(tag, sizeof(tag));
	int ok = aes256_gcm_open(&g, iv, aad, sizeof(aad), ct, sizeof(ct), back, tag);
	tag[3] ^= 1;
	int bad = aes256_gcm_open(&g, iv, aad, sizeof(aad), ct, sizeof(ct), back, tag);
	/* The verdicts are public: declassify them before branching here. */
	PUBLIC(&ok, sizeof(ok));
	PUBLIC(&bad, sizeof(bad));
	u8 eq_a[32], eq_b[32];
	memset(eq_a, 1, sizeof(eq_a));
	memset(eq_b, 1, sizeof(eq_b));
	SECRET(eq_b, sizeof(eq_b));
	int eq = crypto_equal(eq_a, eq_b, sizeof(eq_a));
	PUBLIC(&eq, sizeof(eq));
	crypto_wipe(key, sizeof(key));

	if (ok != 0 || bad != -1 || eq != 1) {
		fprintf(stderr, "ct-check: wrong results (%d %d %d)\n", ok, bad, eq);
		return 1;
	}
	unsigned long errors = VALGRIND_COUNT_ERRORS;
	printf("ct-check: %s (%lu valgrind errors)\n", RUNNING_ON_VALGRIND ? "ran under valgrind" : "NOT under valgrind",
	       errors);
	return RUNNING_ON_VALGRIND && errors == 0 ? 0 : 1;
}
