/*
 * svsm-emu attest | verify | measure: the whole attestation path from the command line.
 *   attest   a guest at VMPL1 asks the SVSM for a report (SVSM -> emulated PSP) and the
 *            evidence is written to a directory;
 *   verify   checks such a directory (or explicit files) like a relying party;
 *   measure  prints the launch measurement of a machine without running it.
 * docs/attestation.md describes the files and shows the same verification with openssl.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <svsm/log.h>
#include <svsm/svsm_abi.h>
#include <svsm/vtpm.h>

#include "attest_cli.h"
#include "paths.h"
#include "attest_test_service.h"
#include "guest.h"
#include "guest_attest.h"
#include "machine.h"
#include "psp/psp.h"
#include "psp/verify.h"
#include "vtpm/engine.h"
#include "vtpm/tpm_guest.h"


#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_MACHINE 3

static const char *const attest_commands[] = {"attest", "verify", "measure"};

bool attest_cli_handles(const char *command)
{
	for (size_t i = 0; i < sizeof(attest_commands) / sizeof(attest_commands[0]); i++) {
		if (!strcmp(command, attest_commands[i])) {
			return true;
		}
	}
	return false;
}

static int cli_error(int status, const char *fmt, ...) SVSM_PRINTF(2, 3);
static int cli_error(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("svsm-emu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* One hex digit's value, or -1. */
static int cli_nibble(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Hex string -> bytes (even length, at most @max bytes). Returns the length or -1. */
static long cli_hex(const char *s, u8 *out, size_t max)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
	}
	if (n == 0 || n % 2 || n / 2 > max) {
		return -1;
	}
	for (size_t i = 0; i < n / 2; i++) {
		int hi = cli_nibble(s[2 * i]), lo = cli_nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			return -1;
		}
		out[i] = (u8)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static int cli_u64(const char *s, u64 *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (!s[0] || errno || *end || s[0] == '-') {
		return -1;
	}
	*out = v;
	return 0;
}

static void cli_print_hex(FILE *f, const u8 *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%02x", p[i]);
	}
}

static int cli_write(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		return -1;
	}
	size_t w = fwrite(data, 1, len, f);
	int rc = fclose(f);
	return w == len && rc == 0 ? 0 : -1;
}

/* A whole file into a malloc'ed buffer (at most 16 MiB). */
static u8 *cli_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		return NULL;
	}
	size_t cap = 4096, n = 0;
	u8 *buf = malloc(cap);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			u8 *nb = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			break;
		}
	}
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* --- options shared by attest and measure: the machine and its launch ---------------------- */

struct cli_machine {
	u64 mem_mib;
	u64 policy;
	const char *launch_log;
};

static int cli_machine_option(struct cli_machine *mo, const char *a, const char *val, int *i)
{
	if (!strcmp(a, "--mem")) {
		if (!val || cli_u64(val, &mo->mem_mib) || mo->mem_mib < 32 || mo->mem_mib > 65536 || mo->mem_mib % 2) {
			return cli_error(EXIT_USAGE, "--mem needs an even number of MiB between 32 and 65536");
		}
	} else if (!strcmp(a, "--policy")) {
		const char *why;
		if (!val || cli_u64(val, &mo->policy)) {
			return cli_error(EXIT_USAGE, "--policy needs a number (e.g. 0x30000)");
		}
		if ((why = psp_policy_check(mo->policy))) {
			return cli_error(EXIT_USAGE, "--policy %#llx is refused by the emulated firmware: %s",
					 (unsigned long long)mo->policy, why);
		}
	} else if (!strcmp(a, "--launch-log")) {
		if (!val) {
			return cli_error(EXIT_USAGE, "--launch-log needs a file name");
		}
		mo->launch_log = val;
	} else {
		return -1;
	}
	(*i)++;
	return 0;
}

static void cli_machine_config(const struct cli_machine *mo, struct emu_config *cfg)
{
	emu_config_default(cfg);
	cfg->mem_size = mo->mem_mib << 20;
	cfg->policy = mo->policy;
	cfg->console = NULL;
}

/* --- measure ------------------------------------------------------------------------------ */

static void measure_usage(FILE *f)
{
	fprintf(f, "usage: svsm-emu measure [--mem MIB] [--policy POLICY] [--launch-log FILE] [--json]\n"
		   "\n"
		   "Print the MEASUREMENT (launch digest, SHA-384 chain over SNP_LAUNCH_UPDATE's PAGE_INFO)\n"
		   "that `svsm-emu attest` with the same options gets in its report, without running anything.\n"
		   "\n"
		   "  --mem MIB         guest memory (default %d)\n"
		   "  --policy POLICY   guest policy given to SNP_LAUNCH_START (default 0x%llx)\n"
		   "  --launch-log FILE write the launch as JSON: one entry per page with gpa, type, VMPL\n"
		   "                    permissions and contents digest (docs/attestation.md)\n"
		   "  --json            print {\"measurement\": ..., \"policy\": ..., \"pages\": ...}\n",
		EMU_DEFAULT_MEM_MIB, (unsigned long long)EMU_DEFAULT_POLICY);
}

struct measure_ctx {
	struct psp_launch launch;
	u32 error;
};

static void measure_page(void *ctx, const struct emu_launch_page *p)
{
	struct measure_ctx *mc = ctx;

	if (!mc->error) {
		mc->error = psp_launch_measure(&mc->launch, p);
	}
}

static int cmd_measure(int argc, char **argv)
{
	struct cli_machine mo = {.mem_mib = EMU_DEFAULT_MEM_MIB, .policy = EMU_DEFAULT_POLICY};
	bool json = false;
	struct emu_config cfg;
	char err[256];

	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = cli_machine_option(&mo, argv[i], val, &i);
		if (rc > 0) {
			return rc;
		}
		if (rc == 0) {
			continue;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			measure_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else {
			return cli_error(EXIT_USAGE, "measure: unknown option '%s' (try svsm-emu measure --help)", argv[i]);
		}
	}
	cli_machine_config(&mo, &cfg);
	/* The same layout a machine with a PSP gets (psp_attach), without creating one. */
	psp_default_pages(&cfg);
	cfg.psp = &psp_machine_ops;
	if (!emu_config_check(&cfg, err, sizeof(err))) {
		return cli_error(EXIT_USAGE, "measure: %s", err);
	}
	struct measure_ctx mc;
	psp_launch_init(&mc.launch, mo.launch_log != NULL);
	mc.error = psp_launch_start(&mc.launch, mo.policy);
	if (!mc.error) {
		emu_launch_plan(&cfg, measure_page, &mc);
	}
	if (!mc.error) {
		mc.error = psp_launch_finish(&mc.launch);
	}
	if (mc.error) {
		psp_launch_free(&mc.launch);
		return cli_error(EXIT_FAILED, "measure: the launch fails (firmware error %#x)", mc.error);
	}
	int status = 0;
	if (mo.launch_log) {
		FILE *f = fopen(mo.launch_log, "w");
		if (!f || psp_launch_write_log(&mc.launch, f) != 0 || fclose(f) != 0) {
			status = cli_error(EXIT_FAILED, "measure: cannot write '%s'", mo.launch_log);
		}
	}
	if (json) {
		printf("{\"measurement\": \"");
		cli_print_hex(stdout, mc.launch.ld, sizeof(mc.launch.ld));
		printf("\", \"policy\": \"0x%llx\", \"pages\": %llu}\n", (unsigned long long)mo.policy,
		       (unsigned long long)mc.launch.pages);
	} else {
		cli_print_hex(stdout, mc.launch.ld, sizeof(mc.launch.ld));
		putchar('\n');
	}
	psp_launch_free(&mc.launch);
	return status;
}

/* --- attest -------------------------------------------------------------------------------- */

static void attest_usage(FILE *f)
{
	char fixtures[PATH_MAX];

	fprintf(f,
		"usage: svsm-emu attest --nonce HEX --out DIR [--service GUID] [--manifest-version N] [--certs]\n"
		"                       [--keys DIR | --new-keys] [--tpm-state DIR] [--no-tpm-startup]\n"
		"                       [--mem MIB] [--policy POLICY] [--launch-log FILE]\n"
		"\n"
		"Boot a machine with the emulated AMD Secure Processor, let the guest at VMPL1 ask the SVSM\n"
		"for an attestation (SVSM_ATTEST_SERVICES, or SVSM_ATTEST_SINGLE_SERVICE with --service),\n"
		"the SVSM ask the PSP for a report, and write the evidence to DIR: report.bin (the 0x4A0-byte\n"
		"ATTESTATION_REPORT), manifest.bin, nonce.bin, ark.pem, ask.pem, vcek.pem (and certs.bin,\n"
		"the certificate table, with --certs).\n"
		"\n"
		"  --nonce HEX         the guest's nonce: 64 bytes (128 hex digits); the SVSM refuses others\n"
		"  --out DIR           where to write (created if missing)\n"
		"  --service GUID      attest one service: the vTPM " VTPM_SERVICE_GUID_STR "\n"
		"                      (its manifest is the EK's TPMT_PUBLIC) or the emulator's test service\n"
		"                      " ATTEST_TEST_SERVICE_GUID_STR "\n"
		"  --manifest-version N  the single service's manifest version (default 0)\n"
		"  --certs             ask for certificates: the PEM files then come from the table the\n"
		"                      hypervisor returned through the SVSM (else from the PSP's keys)\n"
		"  --keys DIR          the test key hierarchy (default %s/attestation/keys)\n"
		"  --new-keys          generate a new ARK/ASK (RSA-4096) and VCEK (P-384) for this machine\n"
		"  --tpm-state DIR     the vTPM's state directory (as svsm-emu tpm-server --state DIR, which\n"
		"                      must not be running on it); default: a new TPM in memory\n"
		"  --no-tpm-startup    the guest does not send TPM2_Startup before it asks (it does by\n"
		"                      default, as firmware would): the vTPM cannot make its EK, and\n"
		"                      every attestation that includes the vTPM is refused\n"
		"  --mem, --policy, --launch-log  as for svsm-emu measure\n"
		"\n"
		"Exit status: 0 report written, 1 the SVSM or the PSP refused, 2 bad usage, 3 machine error.\n",
		cli_paths_fixtures(fixtures, sizeof(fixtures)) ? fixtures : "FIXTURES");
}

static const char *cli_svsm_error(u32 rax)
{
	switch (rax) {
	case SVSM_ERR_UNSUPPORTED_PROTOCOL:
		return "UNSUPPORTED_PROTOCOL (unknown service)";
	case SVSM_ERR_UNSUPPORTED_CALL:
		return "UNSUPPORTED_CALL";
	case SVSM_ERR_INVALID_ADDRESS:
		return "INVALID_ADDRESS";
	case SVSM_ERR_INVALID_PARAMETER:
		return "INVALID_PARAMETER";
	case SVSM_ERR_INVALID_REQUEST:
		return "INVALID_REQUEST (a service's manifest is unavailable, e.g. the vTPM before TPM2_Startup, "
		       "or the guest request to the PSP failed)";
	case SVSM_ERR_BUSY:
		return "BUSY";
	default:
		return "an error";
	}
}

static int attest_write_pems(const char *dir, X509 *ark, X509 *ask, X509 *vcek)
{
	X509 *certs[3] = {ark, ask, vcek};
	static const char *const names[3] = {"ark.pem", "ask.pem", "vcek.pem"};

	for (unsigned i = 0; i < 3; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *f = fopen(path, "w");
		if (!f) {
			return -1;
		}
		int ok = PEM_write_X509(f, certs[i]);
		if (fclose(f) != 0 || !ok) {
			return -1;
		}
	}
	return 0;
}

struct attest_opts {
	u8 nonce[4096];
	long nonce_len;
	const char *out;
	bool single;
	u8 guid[16];
	u64 version;
	bool certs;
	const char *keys;
	bool new_keys;
	const char *tpm_state;
	bool no_tpm_startup;
	struct cli_machine mo;
};

static int attest_parse(int argc, char **argv, struct attest_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = cli_machine_option(&o->mo, a, val, &i);
		if (rc > 0) {
			return rc;
		}
		if (rc == 0) {
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			attest_usage(stdout);
			return -1;
		} else if (!strcmp(a, "--nonce")) {
			if (!val || (o->nonce_len = cli_hex(val, o->nonce, sizeof(o->nonce))) < 0) {
				return cli_error(EXIT_USAGE, "--nonce needs hex bytes (64 bytes = 128 hex digits)");
			}
			i++;
		} else if (!strcmp(a, "--out")) {
			if (!val) {
				return cli_error(EXIT_USAGE, "--out needs a directory");
			}
			o->out = val;
			i++;
		} else if (!strcmp(a, "--service")) {
			if (!val || attest_guid_parse(val, o->guid) != 0) {
				return cli_error(EXIT_USAGE, "--service needs a GUID like %s", ATTEST_TEST_SERVICE_GUID_STR);
			}
			o->single = true;
			i++;
		} else if (!strcmp(a, "--manifest-version")) {
			if (!val || cli_u64(val, &o->version) || o->version > 0xFFFFFFFFull) {
				return cli_error(EXIT_USAGE, "--manifest-version needs a 32-bit number");
			}
			i++;
		} else if (!strcmp(a, "--certs")) {
			o->certs = true;
		} else if (!strcmp(a, "--keys")) {
			if (!val) {
				return cli_error(EXIT_USAGE, "--keys needs a directory");
			}
			o->keys = val;
			i++;
		} else if (!strcmp(a, "--new-keys")) {
			o->new_keys = true;
		} else if (!strcmp(a, "--tpm-state")) {
			if (!val) {
				return cli_error(EXIT_USAGE, "--tpm-state needs a directory");
			}
			o->tpm_state = val;
			i++;
		} else if (!strcmp(a, "--no-tpm-startup")) {
			o->no_tpm_startup = true;
		} else {
			return cli_error(EXIT_USAGE, "attest: unknown option '%s' (try svsm-emu attest --help)", a);
		}
	}
	if (o->nonce_len <= 0 || !o->out) {
		return cli_error(EXIT_USAGE, "attest needs --nonce HEX and --out DIR (try svsm-emu attest --help)");
	}
	if (o->nonce_len > 3000) {
		return cli_error(EXIT_USAGE, "--nonce is longer than the guest's calling area can hold");
	}
	if (o->keys && o->new_keys) {
		return cli_error(EXIT_USAGE, "--keys and --new-keys exclude each other");
	}
	return 0;
}

/*
 * What firmware does before an OS asks for evidence: TPM2_Startup(CLEAR) through the
 * guest's vTPM driver, when the machine has a vTPM. 0, or -1 with a message.
 */
static int attest_tpm_startup(struct emu_guest *g)
{
	static const u8 startup_clear[12] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0};
	struct tpm_guest t;
	u8 rsp[64];
	u32 rsp_len = 0;

	if (!vtpm_present()) {
		return 0;
	}
	if (tpm_guest_init(&t, g, 0) != TPM_GUEST_OK ||
	    tpm_guest_send(&t, 0, startup_clear, sizeof(startup_clear), rsp, sizeof(rsp), &rsp_len) != TPM_GUEST_OK ||
	    rsp_len < 10) {
		return cli_error(EXIT_MACHINE, "the guest could not send TPM2_Startup to the vTPM");
	}
	u32 rc = (u32)rsp[6] << 24 | (u32)rsp[7] << 16 | (u32)rsp[8] << 8 | rsp[9];
	if (rc != 0) {
		return cli_error(EXIT_MACHINE, "the vTPM answered TPM2_Startup with 0x%x", rc);
	}
	return 0;
}

static int cmd_attest(int argc, char **argv)
{
	static struct attest_opts o;
	struct emu_config cfg;
	char err[256];
	jmp_buf jb;

	memset(&o, 0, sizeof(o));
	o.mo = (struct cli_machine){.mem_mib = EMU_DEFAULT_MEM_MIB, .policy = EMU_DEFAULT_POLICY};
	int rc = attest_parse(argc, argv, &o);
	if (rc || !o.out) { /* attest_parse refuses a missing --out */
		return rc < 0 ? 0 : rc;
	}
	if (mkdir(o.out, 0755) != 0 && errno != EEXIST) {
		return cli_error(EXIT_USAGE, "cannot create '%s': %s", o.out, strerror(errno));
	}
	int status = 0;
	char keys_dir[PATH_MAX + 32], fixtures[PATH_MAX];
	if (o.keys) {
		snprintf(keys_dir, sizeof(keys_dir), "%s", o.keys);
	} else if (!o.new_keys) {
		if (!cli_paths_fixtures(fixtures, sizeof(fixtures))) {
			return cli_error(EXIT_USAGE, "no fixtures directory found for the test keys (svsm-emu paths): "
						     "give --keys DIR or --new-keys");
		}
		snprintf(keys_dir, sizeof(keys_dir), "%s/attestation/keys", fixtures);
	}
	struct psp_config pc = {.keys_dir = o.new_keys ? NULL : keys_dir, .keep_launch_log = o.mo.launch_log != NULL};
	if (o.new_keys) {
		/* A chip of its own: random CHIP_ID, the emulator's test TCB. */
		FILE *ur = fopen("/dev/urandom", "rb");
		if (!ur || fread(pc.chip.chip_id, 1, sizeof(pc.chip.chip_id), ur) != sizeof(pc.chip.chip_id)) {
			if (ur) {
				fclose(ur);
			}
			return cli_error(EXIT_MACHINE, "no random source for a new CHIP_ID");
		}
		fclose(ur);
		pc.chip.bl_spl = 3;
		pc.chip.snp_spl = 22;
		pc.chip.ucode_spl = 213;
	}
	struct vtpm_store *store = NULL;
	if (o.tpm_state) {
		store = vtpm_store_file_open(o.tpm_state, err, sizeof(err));
		if (!store) {
			return cli_error(EXIT_MACHINE, "--tpm-state: %s", err);
		}
	}
	struct psp *p = psp_create(&pc, err, sizeof(err));
	if (!p) {
		if (store) {
			store->ops->close(store);
		}
		return cli_error(EXIT_MACHINE, "cannot create the PSP: %s", err);
	}
	cli_machine_config(&o.mo, &cfg);
	psp_attach(p, &cfg);
	emu_vtpm_set_store(store);
	struct emu_machine *m = emu_machine_create(&cfg, err, sizeof(err));
	if (!m) {
		psp_destroy(p);
		emu_vtpm_shutdown();
		emu_vtpm_set_store(NULL);
		if (store) {
			store->ops->close(store);
		}
		return cli_error(EXIT_MACHINE, "cannot start the machine: %s", err);
	}
	if (o.tpm_state && !vtpm_present()) {
		struct emu_vtpm_stats st;
		emu_vtpm_get_stats(&st);
		status = cli_error(EXIT_MACHINE, "--tpm-state: the vTPM did not start: %s", st.error);
	}
	struct guest_attest_result res;
	memset(&res, 0, sizeof(res));
	if (status) {
		goto out;
	}
	m->term_jmp = &jb;
	if (setjmp(jb) != 0) {
		status = cli_error(EXIT_MACHINE, "the machine was terminated (reason set %u, code %u)", m->term_set,
				   m->term_code);
		goto out;
	}
	static struct emu_guest g;
	if (guest_init(&g, m) != 0 || attest_test_service_register(m, NULL, 0) != 0) {
		status = cli_error(EXIT_MACHINE, "cannot set up the guest");
		goto out;
	}
	if (!o.no_tpm_startup && (status = attest_tpm_startup(&g)) != 0) {
		goto out;
	}
	struct guest_attest_req req = {
		.nonce = o.nonce,
		.nonce_len = (u16)o.nonce_len,
		.service = o.single ? o.guid : NULL,
		.manifest_version = (u32)o.version,
		.certs = o.certs,
	};
	if (guest_attest(&g, &req, &res) != 0) {
		if (res.status != GUEST_OK) {
			status = cli_error(EXIT_MACHINE, "the call did not complete (guest status %d)", res.status);
		} else {
			status = cli_error(EXIT_FAILED, "the SVSM answered %s (RAX %#llx)", cli_svsm_error((u32)res.rax),
					   (unsigned long long)(u32)res.rax);
		}
		goto out;
	}
	X509 *ark = NULL, *ask = NULL, *vcek = NULL;
	if (o.certs) {
		if (verify_certs_from_table(res.certs, res.certs_len, &ark, &ask, &vcek) != 0) {
			status = cli_error(EXIT_FAILED, "the certificate table has no ARK, ASK and VCEK");
			goto out;
		}
	} else {
		ark = p->keys.ark_cert;
		ask = p->keys.ask_cert;
		vcek = p->keys.vcek_cert;
	}
	if (cli_write(o.out, "report.bin", res.report, res.report_len) || cli_write(o.out, "manifest.bin", res.manifest, res.manifest_len) ||
	    cli_write(o.out, "nonce.bin", o.nonce, (size_t)o.nonce_len) || attest_write_pems(o.out, ark, ask, vcek) ||
	    (o.certs && cli_write(o.out, "certs.bin", res.certs, res.certs_len))) {
		status = cli_error(EXIT_FAILED, "cannot write the evidence to '%s'", o.out);
	}
	if (o.certs) {
		X509_free(ark);
		X509_free(ask);
		X509_free(vcek);
	}
	if (!status && o.mo.launch_log) {
		FILE *f = fopen(o.mo.launch_log, "w");
		if (!f || psp_launch_write_log(&p->launch, f) != 0 || fclose(f) != 0) {
			status = cli_error(EXIT_FAILED, "cannot write '%s'", o.mo.launch_log);
		}
	}
	if (!status) {
		const struct snp_attestation_report *r = (const void *)res.report;
		printf("report: %s/report.bin (%u bytes), manifest %u bytes, certificates %u bytes\n", o.out, res.report_len,
		       res.manifest_len, res.certs_len);
		printf("measurement: ");
		cli_print_hex(stdout, r->measurement, sizeof(r->measurement));
		printf("\nreport_data: ");
		cli_print_hex(stdout, r->report_data, sizeof(r->report_data));
		printf("\n");
	}
out:
	m->term_jmp = NULL;
	guest_attest_result_free(&res);
	/* What the TPM deferred is written before the machine goes (as tpm-server does). */
	if (vtpm_idle(true) != 0 && !status) {
		struct emu_vtpm_stats st;
		emu_vtpm_get_stats(&st);
		status = cli_error(EXIT_MACHINE, "the vTPM's state could not be saved: %s", st.error);
	}
	emu_machine_destroy(m);
	emu_vtpm_shutdown();
	emu_vtpm_set_store(NULL);
	if (store) {
		store->ops->close(store);
	}
	psp_destroy(p);
	return status;
}

/* --- verify -------------------------------------------------------------------------------- */

static void verify_usage(FILE *f)
{
	fprintf(f, "usage: svsm-emu verify --dir DIR [--measurement HEX] [--vmpl N] [--json]\n"
		   "       svsm-emu verify --report F --nonce F --manifest F --ark F --ask F --vcek F [...]\n"
		   "\n"
		   "Check an attestation the way a relying party does, in this order, and stop at the first\n"
		   "failure, which is named (exit status 1):\n"
		   "  format        report size 0x4A0, VERSION 2-5, SIGNATURE_ALGO 1, signed with a VCEK\n"
		   "  chain         ARK self-signed, ASK signed by the ARK, VCEK by the ASK, VCEK is P-384\n"
		   "  signature     ECDSA P-384/SHA-384 over bytes 0x000-0x29F (r, s little-endian)\n"
		   "  vcek_binding  CHIP_ID = the VCEK's hwID, REPORTED_TCB = its SPL extensions\n"
		   "  report_data   REPORT_DATA = SHA-512(nonce || manifest)\n"
		   "  vmpl          the report's VMPL (default 0: the SVSM's)\n"
		   "  measurement   MEASUREMENT = HEX (only with --measurement)\n"
		   "\n"
		   "  --dir DIR       report.bin, nonce.bin, manifest.bin, ark.pem, ask.pem, vcek.pem in DIR\n"
		   "  --report F, --nonce F, --manifest F, --ark F, --ask F, --vcek F   files one by one\n"
		   "  --certs F       take ARK, ASK and VCEK from a certificate table (certs.bin) instead\n"
		   "  --measurement HEX   the expected launch measurement (svsm-emu measure prints it)\n"
		   "  --vmpl N        the expected VMPL\n"
		   "  --json          print the result and the report's fields as JSON\n"
		   "\n"
		   "The ARK given is trusted as the root: pin AMD's ARK when verifying real reports.\n");
}

static int cmd_verify(int argc, char **argv)
{
	const char *dir = NULL, *files[7] = {NULL};
	static const char *const opts[7] = {"--report", "--nonce", "--manifest", "--ark", "--ask", "--vcek", "--certs"};
	static const char *const names[6] = {"report.bin", "nonce.bin", "manifest.bin", "ark.pem", "ask.pem", "vcek.pem"};
	struct verify_input in;
	bool json = false;
	u64 vmpl = 0;

	memset(&in, 0, sizeof(in));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool matched = false;
		for (unsigned k = 0; k < 7; k++) {
			if (!strcmp(a, opts[k])) {
				if (!val) {
					return cli_error(EXIT_USAGE, "verify: %s needs a file", a);
				}
				files[k] = val;
				matched = true;
				i++;
			}
		}
		if (matched) {
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			verify_usage(stdout);
			return 0;
		} else if (!strcmp(a, "--dir")) {
			if (!val) {
				return cli_error(EXIT_USAGE, "verify: --dir needs a directory");
			}
			dir = val;
			i++;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--vmpl")) {
			if (!val || cli_u64(val, &vmpl) || vmpl > 3) {
				return cli_error(EXIT_USAGE, "verify: --vmpl needs 0-3");
			}
			i++;
		} else if (!strcmp(a, "--measurement")) {
			if (!val || cli_hex(val, in.measurement, sizeof(in.measurement)) != (long)sizeof(in.measurement)) {
				return cli_error(EXIT_USAGE, "verify: --measurement needs 48 bytes (96 hex digits)");
			}
			in.check_measurement = true;
			i++;
		} else {
			return cli_error(EXIT_USAGE, "verify: unknown option '%s' (try svsm-emu verify --help)", a);
		}
	}
	char paths[6][4096];
	for (unsigned k = 0; k < 6; k++) {
		if (files[k]) {
			snprintf(paths[k], sizeof(paths[k]), "%s", files[k]);
		} else if (dir) {
			snprintf(paths[k], sizeof(paths[k]), "%s/%s", dir, names[k]);
		} else if (k < 3 || !files[6]) {
			return cli_error(EXIT_USAGE, "verify: give --dir DIR or every file (try svsm-emu verify --help)");
		} else {
			paths[k][0] = 0;
		}
	}
	in.vmpl = (u32)vmpl;
	u8 *report = cli_read(paths[0], &in.report_len);
	u8 *nonce = cli_read(paths[1], &in.nonce_len);
	u8 *manifest = cli_read(paths[2], &in.manifest_len);
	int status = 0;
	if (!report || !nonce || !manifest) {
		status = cli_error(EXIT_USAGE, "verify: cannot read %s", !report ? paths[0] : !nonce ? paths[1] : paths[2]);
		goto out;
	}
	in.report = report;
	in.nonce = nonce;
	in.manifest = manifest;
	if (files[6]) {
		size_t tlen = 0;
		u8 *table = cli_read(files[6], &tlen);
		if (!table || verify_certs_from_table(table, tlen, &in.ark, &in.ask, &in.vcek) != 0) {
			free(table);
			status = cli_error(EXIT_USAGE, "verify: %s is not a certificate table with ARK, ASK and VCEK", files[6]);
			goto out;
		}
		free(table);
	} else {
		in.ark = verify_load_cert(paths[3]);
		in.ask = verify_load_cert(paths[4]);
		in.vcek = verify_load_cert(paths[5]);
		if (!in.ark || !in.ask || !in.vcek) {
			status = cli_error(EXIT_USAGE, "verify: cannot read a PEM certificate (%s)",
					   !in.ark ? paths[3] : !in.ask ? paths[4] : paths[5]);
			goto out;
		}
	}
	struct verify_result vr;
	int rc = verify_report(&in, &vr);
	if (json) {
		printf("{\"verified\": %s, \"failed_check\": %s%s%s, \"detail\": \"", rc ? "false" : "true", rc ? "\"" : "",
		       rc ? verify_check_name(vr.failed) : "null", rc ? "\"" : "");
		for (const char *c = rc ? vr.detail : ""; *c; c++) {
			if (*c == '"' || *c == '\\') {
				putchar('\\');
			}
			putchar((unsigned char)*c >= 0x20 ? *c : ' ');
		}
		printf("\", \"report\": ");
		if (in.report_len == SNP_REPORT_SIZE) {
			verify_print_report(stdout, (const struct snp_attestation_report *)report, true);
		} else {
			printf("null");
		}
		printf("}\n");
	} else {
		if (in.report_len == SNP_REPORT_SIZE) {
			printf("ATTESTATION_REPORT\n");
			verify_print_report(stdout, (const struct snp_attestation_report *)report, false);
		}
		if (rc == 0) {
			printf("verified: chain, signature, vcek_binding, report_data, vmpl %u%s\n", in.vmpl,
			       in.check_measurement ? ", measurement" : "");
		}
	}
	if (rc != 0) {
		fprintf(stderr, "svsm-emu: verify: FAILED %s: %s\n", verify_check_name(vr.failed), vr.detail);
		status = EXIT_FAILED;
	}
out:
	X509_free(in.ark);
	X509_free(in.ask);
	X509_free(in.vcek);
	free(report);
	free(nonce);
	free(manifest);
	return status;
}

int attest_cli_main(int argc, char **argv)
{
	log_set_level(LOG_WARN);
	if (!strcmp(argv[0], "measure")) {
		return cmd_measure(argc, argv);
	}
	if (!strcmp(argv[0], "verify")) {
		return cmd_verify(argc, argv);
	}
	return cmd_attest(argc, argv);
}
