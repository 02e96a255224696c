/*
 * make bench-attest (part of make bench): the core's crypto against OpenSSL's in the same
 * run (SHA-512 and AES-256-GCM throughput), the launch measurement of a default machine,
 * and one attestation through the whole path (guest at VMPL1 -> SVSM -> emulated PSP ->
 * signed report), written as a JSON list for ci/bench-merge.py.
 *   attest-bench --json FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include <svsm/crypto.h>

#include "lib/hxa.h"

#define ROUNDS 5

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, ROUNDS, sizeof(*v), cmp_double);
	return v[ROUNDS / 2];
}

static u8 buf[64 * 1024], out[64 * 1024];

/* MB/s of @fn over @bytes, median of ROUNDS. */
static double throughput(void (*fn)(void), size_t bytes)
{
	double mbs[ROUNDS];

	for (unsigned r = 0; r < ROUNDS; r++) {
		u64 t0 = now_ns();
		fn();
		mbs[r] = (double)bytes / ((double)(now_ns() - t0) / 1e9) / 1e6;
	}
	return median(mbs);
}

static void ours_sha512(void)
{
	u8 d[64];
	for (unsigned i = 0; i < 16; i++) {
		sha512(buf, sizeof(buf), d);
	}
}

static void ossl_sha512(void)
{
	u8 d[64];
	unsigned int n;
	for (unsigned i = 0; i < 16; i++) {
		EVP_Digest(buf, sizeof(buf), d, &n, EVP_sha512(), NULL);
	}
}

static const u8 key[32] = {1}, iv[12] = {2};

static void ours_gcm(void)
{
	struct aes256_gcm g;
	u8 tag[16];
	aes256_gcm_init(&g, key);
	aes256_gcm_seal(&g, iv, NULL, 0, buf, sizeof(buf), out, tag);
}

static void ossl_gcm(void)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n;
	u8 tag[16];
	EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv);
	EVP_EncryptUpdate(c, out, &n, buf, sizeof(buf));
	EVP_EncryptFinal_ex(c, out + n, &n);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
	EVP_CIPHER_CTX_free(c);
}

int main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "--json")) {
		fprintf(stderr, "usage: attest-bench --json FILE\n");
		return 2;
	}
	double sha_ours = throughput(ours_sha512, 16 * sizeof(buf));
	double sha_ossl = throughput(ossl_sha512, 16 * sizeof(buf));
	double gcm_ours = throughput(ours_gcm, sizeof(buf));
	double gcm_ossl = throughput(ossl_gcm, sizeof(buf));

	/* Boot (launch measured through the PSP) and attestations, median of ROUNDS each. */
	double boot_ms[ROUNDS], attest_ms[ROUNDS];
	for (unsigned r = 0; r < ROUNDS; r++) {
		struct hxa_opts o = {.fixtures = FIXTURES_DIR};
		u64 t0 = now_ns();
		struct hxa *a = hxa_boot(&o);
		boot_ms[r] = (double)(now_ns() - t0) / 1e6;
		if (!a) {
			return 1;
		}
		u8 nonce[64] = {3};
		struct guest_attest_req req = {.nonce = nonce, .certs = true};
		struct guest_attest_result res;
		t0 = now_ns();
		for (unsigned i = 0; i < 20; i++) {
			if (guest_attest(&a->h->g, &req, &res) != 0) {
				fprintf(stderr, "attest-bench: the attestation failed\n");
				return 1;
			}
			guest_attest_result_free(&res);
		}
		attest_ms[r] = (double)(now_ns() - t0) / 1e6 / 20;
		hxa_shutdown(a);
	}
	FILE *f = fopen(argv[2], "w");
	if (!f) {
		return 1;
	}
	fprintf(f, "[\n");
	fprintf(f, "  {\"name\": \"attest: core SHA-512\", \"value\": %.1f, \"unit\": \"MB/s\", \"ratio_to\": \"OpenSSL SHA-512\", \"ratio\": %.3f},\n",
		sha_ours, sha_ours / sha_ossl);
	fprintf(f, "  {\"name\": \"attest: OpenSSL SHA-512\", \"value\": %.1f, \"unit\": \"MB/s\"},\n", sha_ossl);
	fprintf(f, "  {\"name\": \"attest: core AES-256-GCM\", \"value\": %.1f, \"unit\": \"MB/s\", \"ratio_to\": \"OpenSSL AES-256-GCM\", \"ratio\": %.4f},\n",
		gcm_ours, gcm_ours / gcm_ossl);
	fprintf(f, "  {\"name\": \"attest: OpenSSL AES-256-GCM\", \"value\": %.1f, \"unit\": \"MB/s\"},\n", gcm_ossl);
	fprintf(f, "  {\"name\": \"attest: boot with measured launch (256 MiB)\", \"value\": %.2f, \"unit\": \"ms\"},\n",
		median(boot_ms));
	fprintf(f, "  {\"name\": \"attest: one attestation with certificates\", \"value\": %.3f, \"unit\": \"ms\"}\n",
		median(attest_ms));
	fprintf(f, "]\n");
	return fclose(f) == 0 ? 0 : 1;
}
