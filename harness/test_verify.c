/*
 * The verifier (emu/psp/verify.c) on the golden vectors of fixtures/attestation/golden:
 * the good attestation passes every check, each tampered copy fails at the check its
 * "expect" file names; plus the certificate table as the source of the chain.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/x509.h>

#include "psp/verify.h"
#include "test_common.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

#define GOLDEN FIXTURES_DIR "/attestation/golden"

static u8 *slurp(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static u8 buf[1 << 16];
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	u8 *out = malloc(*len + 1);
	assert_non_null(out);
	memcpy(out, buf, *len);
	out[*len] = 0;
	return out;
}

static X509 *cert(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	X509 *x = verify_load_cert(path);
	assert_non_null(x);
	return x;
}

/* Run one case directory; returns the check that failed (VERIFY_OK if none). */
static enum verify_check run_case(const char *dir, char *expect, size_t expect_size)
{
	struct verify_input in;
	struct verify_result vr;
	size_t n;

	memset(&in, 0, sizeof(in));
	in.report = slurp(dir, "report.bin", &in.report_len);
	in.nonce = slurp(dir, "nonce.bin", &in.nonce_len);
	in.manifest = slurp(dir, "manifest.bin", &in.manifest_len);
	in.ark = cert(dir, "ark.pem");
	in.ask = cert(dir, "ask.pem");
	in.vcek = cert(dir, "vcek.pem");
	u8 *e = slurp(dir, "expect", &n);
	snprintf(expect, expect_size, "%s", (char *)e);
	u8 *args = slurp(dir, "args", &n);
	const char *m = strstr((char *)args, "--measurement ");
	if (m) {
		m += strlen("--measurement ");
		for (unsigned i = 0; i < SNP_MEASUREMENT_SIZE; i++) {
			unsigned v;
			assert_int_equal(sscanf(m + 2 * i, "%2x", &v), 1);
			in.measurement[i] = (u8)v;
		}
		in.check_measurement = true;
	}
	int rc = verify_report(&in, &vr);
	assert_int_equal(rc == 0, vr.failed == VERIFY_OK);
	free((void *)in.report);
	free((void *)in.nonce);
	free((void *)in.manifest);
	free(e);
	free(args);
	X509_free(in.ark);
	X509_free(in.ask);
	X509_free(in.vcek);
	return vr.failed;
}

/* Every golden case: "ok" passes, the others fail for the reason they name. */
static void test_golden_vectors(void **state)
{
	DIR *d = opendir(GOLDEN);
	struct dirent *de;
	unsigned cases = 0, ok = 0;
	bool seen[VERIFY_CHECK_COUNT] = {false};

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.') {
			continue;
		}
		char dir[4096], expect[64];
		snprintf(dir, sizeof(dir), "%s/%s", GOLDEN, de->d_name);
		enum verify_check got = run_case(dir, expect, sizeof(expect));
		if (strcmp(verify_check_name(got), expect)) {
			fail_msg("%s: failed at '%s', expected '%s'", de->d_name, verify_check_name(got), expect);
		}
		seen[got] = true;
		cases++;
		ok += got == VERIFY_OK;
	}
	closedir(d);
	assert_int_equal(ok, 1);
	assert_true(cases >= 12);
	/* Every check is exercised by at least one vector. */
	for (unsigned c = 0; c < VERIFY_CHECK_COUNT; c++) {
		if (!seen[c]) {
			fail_msg("no golden vector fails at '%s'", verify_check_name(c));
		}
	}
}

/* The good case's certificate table holds the same chain, and it verifies from there. */
static void test_certs_from_table(void **state)
{
	size_t len;
	u8 *table = slurp(GOLDEN "/ok", "certs.bin", &len);
	X509 *ark, *ask, *vcek;

	assert_int_equal(verify_certs_from_table(table, len, &ark, &ask, &vcek), 0);
	X509 *pem_vcek = cert(GOLDEN "/ok", "vcek.pem");
	assert_int_equal(X509_cmp(vcek, pem_vcek), 0);
	X509_free(pem_vcek);
	/* A table cut short or without the VCEK entry is refused. */
	X509 *a2, *b2, *c2;
	assert_int_equal(verify_certs_from_table(table, 47, &a2, &b2, &c2), -1);
	table[2 * 24] ^= 0xFF; /* the third entry's GUID (VCEK) */
	assert_int_equal(verify_certs_from_table(table, len, &a2, &b2, &c2), -1);
	X509_free(ark);
	X509_free(ask);
	X509_free(vcek);
	free(table);
}

/* The JSON form is one valid-looking object with the fields. */
static void test_print_json(void **state)
{
	size_t len;
	u8 *report = slurp(GOLDEN "/ok", "report.bin", &len);
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	assert_non_null(f);
	verify_print_report(f, (const struct snp_attestation_report *)report, true);
	fclose(f);
	assert_true(buf[0] == '{' && buf[size - 1] == '}');
	assert_non_null(strstr(buf, "\"measurement\": \""));
	assert_non_null(strstr(buf, "\"reported_tcb\": {"));
	free(buf);
	free(report);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_vectors),
		cmocka_unit_test(test_certs_from_table),
		cmocka_unit_test(test_print_json),
	};
	return cmocka_run_group_tests_name("verify", tests, NULL, NULL);
}
