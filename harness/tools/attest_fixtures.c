/*
 * Generator of fixtures/attestation (make attest-fixtures):
 *   attest-fixtures keys DIR          a new TEST key hierarchy (ARK, ASK, VCEK with keys)
 *   attest-fixtures golden KEYS DIR   golden vectors: one attestation the verifier accepts
 *                                     and tampered copies, each rejected for its own reason
 *   attest-fixtures image-keys KEYS OUT.c   the keys of KEYS as C for the test image's PSP
 *                                     model (emu/minipsp/; make image runs this)
 * Each golden case is a directory with report.bin, nonce.bin, manifest.bin, ark.pem,
 * ask.pem, vcek.pem, "expect" (the check that must fail, or "ok") and "args" (extra options
 * for svsm-emu verify). The outputs are committed; this only runs when they change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest_test_service.h"
#include "guest.h"
#include "guest_attest.h"
#include "machine.h"
#include "minipsp/minipsp.h"
#include "psp/psp.h"
#include "psp/verify.h"

/* The committed test chip: CHIP_ID = SHA-512("svsm-emu test chip"), TCB 3/0/22/213. */
static void fixtures_chip(struct psp_chip *c)
{
	static const char name[] = "svsm-emu test chip";
	unsigned int n = 0;

	memset(c, 0, sizeof(*c));
	EVP_Digest(name, sizeof(name) - 1, c->chip_id, &n, EVP_sha512(), NULL);
	c->bl_spl = 3;
	c->tee_spl = 0;
	c->snp_spl = 22;
	c->ucode_spl = 213;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "attest-fixtures: cannot write %s\n", path);
		exit(1);
	}
	return 0;
}

static void write_pem(const char *dir, const char *name, X509 *x)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f || !PEM_write_X509(f, x) || fclose(f) != 0) {
		fprintf(stderr, "attest-fixtures: cannot write %s\n", path);
		exit(1);
	}
}

static void make_dir(const char *dir)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "attest-fixtures: cannot create %s\n", dir);
		exit(1);
	}
}

struct evidence {
	u8 report[SNP_REPORT_SIZE];
	size_t report_len;
	u8 nonce[64];
	u8 *manifest;
	size_t manifest_len;
	X509 *ark, *ask, *vcek;
};

/* One case directory: the evidence, what must fail, extra verify options. */
static void write_case(const char *root, const char *name, const struct evidence *e, const char *expect,
		       const char *args)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	make_dir(dir);
	write_file(dir, "report.bin", e->report, e->report_len);
	write_file(dir, "nonce.bin", e->nonce, sizeof(e->nonce));
	write_file(dir, "manifest.bin", e->manifest, e->manifest_len);
	write_pem(dir, "ark.pem", e->ark);
	write_pem(dir, "ask.pem", e->ask);
	write_pem(dir, "vcek.pem", e->vcek);
	write_file(dir, "expect", expect, strlen(expect));
	write_file(dir, "args", args, strlen(args));
}

static int cmd_keys(const char *dir)
{
	struct psp_keys k;
	struct psp_chip chip;
	char err[256];

	fixtures_chip(&chip);
	make_dir(dir);
	if (psp_keys_generate(&k, NULL, &chip, err, sizeof(err)) != 0 || psp_keys_write(&k, dir, true, err, sizeof(err)) != 0) {
		fprintf(stderr, "attest-fixtures: %s\n", err);
		return 1;
	}
	psp_keys_free(&k);
	return 0;
}

static void hex(char *out, const u8 *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sprintf(out + 2 * i, "%02x", p[i]);
	}
}

static int cmd_golden(const char *keys, const char *out)
{
	struct psp_config pc = {.keys_dir = keys, .deterministic = true, .seed = 11};
	struct emu_config cfg;
	char err[256];

	struct psp *p = psp_create(&pc, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "attest-fixtures: %s\n", err);
		return 1;
	}
	emu_config_default(&cfg);
	cfg.console = NULL;
	psp_attach(p, &cfg);
	struct emu_machine *m = emu_machine_create(&cfg, err, sizeof(err));
	static struct emu_guest g;
	if (!m || guest_init(&g, m) != 0 || attest_test_service_register(m, NULL, 0) != 0) {
		fprintf(stderr, "attest-fixtures: cannot start the machine: %s\n", err);
		return 1;
	}
	struct evidence e;
	memset(&e, 0, sizeof(e));
	for (unsigned i = 0; i < sizeof(e.nonce); i++) {
		e.nonce[i] = (u8)i;
	}
	struct guest_attest_req req = {.nonce = e.nonce, .certs = true};
	struct guest_attest_result res;
	if (guest_attest(&g, &req, &res) != 0 ||
	    verify_certs_from_table(res.certs, res.certs_len, &e.ark, &e.ask, &e.vcek) != 0) {
		fprintf(stderr, "attest-fixtures: the attestation failed (rax %#llx)\n", (unsigned long long)res.rax);
		return 1;
	}
	memcpy(e.report, res.report, sizeof(e.report));
	e.report_len = res.report_len;
	e.manifest = res.manifest;
	e.manifest_len = res.manifest_len;
	const struct snp_attestation_report *good = (const void *)res.report;
	char args[256] = "--measurement ";
	hex(args + strlen(args), good->measurement, sizeof(good->measurement));

	make_dir(out);
	write_case(out, "ok", &e, "ok", args);
	write_file(out, "ok/certs.bin", res.certs, res.certs_len);

	struct evidence t = e;
	t.report[offsetof(struct snp_attestation_report, sig_r)] ^= 1;
	write_case(out, "bad-signature", &t, "signature", "");

	t = e;
	t.report[offsetof(struct snp_attestation_report, measurement)] ^= 1;
	write_case(out, "bad-report-body", &t, "signature", "");

	t = e;
	u8 manifest[4096];
	memcpy(manifest, e.manifest, e.manifest_len);
	manifest[e.manifest_len - 1] ^= 1;
	t.manifest = manifest;
	write_case(out, "bad-manifest", &t, "report_data", "");

	t = e;
	t.nonce[0] ^= 1;
	write_case(out, "bad-nonce", &t, "report_data", "");

	t = e;
	write_case(out, "bad-measurement", &t, "measurement",
		   "--measurement 000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000");

	/* Another AMD hierarchy: its VCEK under our ARK, or its ASK with our VCEK. */
	struct psp_keys other;
	if (psp_keys_generate(&other, NULL, &p->keys.chip, err, sizeof(err)) != 0) {
		fprintf(stderr, "attest-fixtures: %s\n", err);
		return 1;
	}
	t = e;
	t.vcek = other.vcek_cert;
	write_case(out, "bad-chain-vcek", &t, "chain", "");
	t = e;
	t.ask = other.ask_cert;
	write_case(out, "bad-chain-ask", &t, "chain", "");

	/* Reports the PSP signs properly but that say the wrong thing. */
	struct snp_attestation_report r;
	if (psp_make_report(p, good->report_data, 1, &r) != 0) {
		return 1;
	}
	t = e;
	memcpy(t.report, &r, sizeof(r));
	write_case(out, "bad-vmpl", &t, "vmpl", "");

	memcpy(&r, good, sizeof(r));
	r.chip_id[0] ^= 0xFF;
	psp_sign_report(p, &r);
	memcpy(t.report, &r, sizeof(r));
	write_case(out, "bad-chip-id", &t, "vcek_binding", "");

	memcpy(&r, good, sizeof(r));
	r.reported_tcb -= 1ull << 56; /* one microcode SVN less than the VCEK's */
	psp_sign_report(p, &r);
	memcpy(t.report, &r, sizeof(r));
	write_case(out, "bad-tcb", &t, "vcek_binding", "");

	memcpy(&r, good, sizeof(r));
	r.signature_algo = 2;
	psp_sign_report(p, &r);
	memcpy(t.report, &r, sizeof(r));
	write_case(out, "bad-signature-algo", &t, "format", "");

	t = e;
	t.report_len = SNP_REPORT_SIZE - 1;
	write_case(out, "bad-size", &t, "format", "");

	psp_keys_free(&other);
	X509_free(e.ark);
	X509_free(e.ask);
	X509_free(e.vcek);
	guest_attest_result_free(&res);
	emu_machine_destroy(m);
	psp_destroy(p);
	return 0;
}

/* The test image's PSP keys: the VCEK's scalar, the chip and the certificate table of KEYS. */
static int cmd_image_keys(const char *keys, const char *out)
{
	struct psp_config pc = {.keys_dir = keys};
	struct minipsp_keys k;
	char err[256], tmp[4096];

	struct psp *p = psp_create(&pc, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "attest-fixtures: %s\n", err);
		return 1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	FILE *f = fopen(tmp, "w");
	int rc = f && psp_minipsp_keys(p, &k) == 0 && psp_minipsp_keys_write_c(&k, "nosnp_psp_keys", f) == 0 ? 0 : 1;
	if (f && fclose(f) != 0) {
		rc = 1;
	}
	if (rc == 0 && rename(tmp, out) != 0) {
		rc = 1;
	}
	if (rc) {
		fprintf(stderr, "attest-fixtures: cannot write %s\n", out);
		remove(tmp);
	}
	psp_destroy(p);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "keys")) {
		return cmd_keys(argv[2]);
	}
	if (argc == 4 && !strcmp(argv[1], "golden")) {
		return cmd_golden(argv[2], argv[3]);
	}
	if (argc == 4 && !strcmp(argv[1], "image-keys")) {
		return cmd_image_keys(argv[2], argv[3]);
	}
	fprintf(stderr, "usage: attest-fixtures keys DIR | golden KEYS DIR | image-keys KEYS OUT.c\n");
	return 2;
}
