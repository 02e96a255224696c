/*
 * Round trips of TPM2_GetRandom(32) and TPM2_CreatePrimary (ECC P-256 storage key)
 * through `svsm-emu tpm-server` (TCP, mssim framing, the guest's vTPM driver, the SVSM,
 * libtpms) and, in the same run, through `swtpm socket --tpm2` (TCP, raw framing,
 * libtpms), with the same client code (harness/vtpm/tpm_client.c). Batches alternate
 * between the two servers. Each figure is given as the best batch (the cost of the path
 * itself: on a shared machine, a batch that lands on a busy CPU pays a context switch per
 * round trip, whichever server it measures) and as the median batch. The ratios are
 * ours / swtpm: the goal is <= 1.0.
 *   bench-vtpm [--json FILE] [--batches N] [--iterations N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vtpm/tpm_client.h"
#include "vtpm/tpm_cmd.h"

struct target {
	const char *name;
	struct tpm_server server;
	struct tpm_conn conn;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v and returns its median; v[0] is then the minimum. */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int transact_ok(struct target *t, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t *rsp_len)
{
	if (tpm_transact(&t->conn, 0, cmd, len, rsp, 4096, rsp_len) != 0 || tc_rc(rsp, *rsp_len) != 0) {
		fprintf(stderr, "bench-vtpm: %s: command %08x failed (rc %x)\n", t->name, tc_be32(cmd + 6),
			*rsp_len ? tc_rc(rsp, *rsp_len) : ~0u);
		return -1;
	}
	return 0;
}

/* Average ns of one GetRandom(32) round trip over @n. */
static double batch_getrandom(struct target *t, int n)
{
	uint8_t cmd[TC_MAX], rsp[4096];
	size_t len = tc_get_random(cmd, 32), rlen;
	double t0 = now_ns();

	for (int i = 0; i < n; i++) {
		if (transact_ok(t, cmd, len, rsp, &rlen) != 0) {
			exit(1);
		}
	}
	return (now_ns() - t0) / n;
}

/* Average ns of one CreatePrimary round trip over @n (the FlushContext after each is not timed). */
static double batch_createprimary(struct target *t, int n)
{
	uint8_t cmd[TC_MAX], flush[TC_MAX], rsp[4096];
	size_t len = tc_create_primary_ecc(cmd, TPM_RH_OWNER), rlen;
	double total = 0;

	for (int i = 0; i < n; i++) {
		uint32_t handle;
		const uint8_t *pub;
		size_t pub_len;
		double t0 = now_ns();
		if (transact_ok(t, cmd, len, rsp, &rlen) != 0 || tc_created(rsp, rlen, &handle, &pub, &pub_len) != 0) {
			exit(1);
		}
		total += now_ns() - t0;
		if (transact_ok(t, flush, tc_flush_context(flush, handle), rsp, &rlen) != 0) {
			exit(1);
		}
	}
	return total / n;
}

static int write_json(const char *path, double *best[2], double *med[2])
{
	static const char *const what[2] = {"getrandom32", "createprimary_ecc"};
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		return -1;
	}
	fprintf(f, "[\n");
	for (int o = 0; o < 2; o++) {
		for (int m = 0; m < 2; m++) {
			const char *kind = m == 0 ? "best" : "median";
			double *v = m == 0 ? best[o] : med[o];
			fprintf(f,
				"  {\"name\": \"vtpm_%s_swtpm_%s\", \"value\": %.2f, \"unit\": \"us\"},\n"
				"  {\"name\": \"vtpm_%s_tpm_server_%s\", \"value\": %.2f, \"unit\": \"us\", "
				"\"ratio_to\": \"vtpm_%s_swtpm_%s\", \"ratio\": %.4f}%s\n",
				what[o], kind, v[1] / 1e3, what[o], kind, v[0] / 1e3, what[o], kind, v[0] / v[1],
				o == 1 && m == 1 ? "" : ",");
		}
	}
	fprintf(f, "]\n");
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	int batches = 31, iters = 400;
	char dir[64] = "/tmp/svsm-vtpm-bench-XXXXXX", ours_state[128], sw_state[128], log[128];
	struct target t[2] = {{.name = "tpm-server"}, {.name = "swtpm"}};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else if (!strcmp(argv[i], "--batches") && i + 1 < argc) {
			batches = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			iters = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: bench-vtpm [--json FILE] [--batches N] [--iterations N]\n");
			return 2;
		}
	}
	if (batches < 1 || batches > 1000 || iters < 1) {
		fprintf(stderr, "bench-vtpm: batches 1..1000, iterations >= 1\n");
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(ours_state, sizeof(ours_state), "%s/ours", dir);
	snprintf(sw_state, sizeof(sw_state), "%s/swtpm", dir);
	snprintf(log, sizeof(log), "%s/servers.log", dir);
	if (mkdir(sw_state, 0700) != 0) {
		perror(sw_state);
		return 1;
	}
	if (tpm_server_start(&t[0].server, ours_state, log, NULL) != 0 || tpm_swtpm_start(&t[1].server, sw_state, log) != 0 ||
	    tpm_connect(&t[0].conn, t[0].server.port, TPM_FRAMING_MSSIM) != 0 ||
	    tpm_connect(&t[1].conn, t[1].server.port, TPM_FRAMING_RAW) != 0) {
		fprintf(stderr, "bench-vtpm: cannot start or reach the servers (log: %s)\n", log);
		tpm_server_kill(&t[0].server);
		tpm_server_kill(&t[1].server);
		return 1;
	}
	uint8_t cmd[TC_MAX], rsp[4096];
	size_t rlen;
	if (transact_ok(&t[0], cmd, tc_startup(cmd, TPM_SU_CLEAR), rsp, &rlen) != 0) {
		return 1;
	}
	/* Warm up both (page faults, caches, the first key derivations). */
	for (int k = 0; k < 2; k++) {
		batch_getrandom(&t[k], iters / 4 + 1);
		batch_createprimary(&t[k], 5);
	}
	double *gr[2], *cp[2];
	for (int k = 0; k < 2; k++) {
		gr[k] = calloc((size_t)batches, sizeof(double));
		cp[k] = calloc((size_t)batches, sizeof(double));
		if (!gr[k] || !cp[k]) {
			return 1;
		}
	}
	int cp_iters = iters / 40 + 1;
	for (int b = 0; b < batches; b++) {
		/* Alternate which server goes first, so that drifts hit both alike. */
		for (int j = 0; j < 2; j++) {
			int k = (b + j) % 2;
			gr[k][b] = batch_getrandom(&t[k], iters);
			cp[k][b] = batch_createprimary(&t[k], cp_iters);
		}
	}
	double gr_med[2], cp_med[2], gr_min[2], cp_min[2];
	for (int k = 0; k < 2; k++) {
		gr_med[k] = median(gr[k], batches);
		cp_med[k] = median(cp[k], batches);
		gr_min[k] = gr[k][0];
		cp_min[k] = cp[k][0];
		tpm_disconnect(&t[k].conn);
	}
	int st0 = tpm_server_stop(&t[0].server);
	tpm_server_stop(&t[1].server);
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf %s", dir);
	if (system(rm) != 0) {
		fprintf(stderr, "bench-vtpm: cannot remove %s\n", dir);
	}
	if (st0 != 0) {
		fprintf(stderr, "bench-vtpm: tpm-server did not stop cleanly\n");
		return 1;
	}
	static const char *const label[2] = {"TPM2_GetRandom(32)", "TPM2_CreatePrimary(ECC P-256)"};
	double *best[2] = {gr_min, cp_min}, *med[2] = {gr_med, cp_med};
	for (int o = 0; o < 2; o++) {
		printf("%s round trip: tpm-server %.1f us, swtpm %.1f us, ratio %.3f (best batch); "
		       "median batch %.1f / %.1f us, ratio %.3f\n",
		       label[o], best[o][0] / 1e3, best[o][1] / 1e3, best[o][0] / best[o][1], med[o][0] / 1e3,
		       med[o][1] / 1e3, med[o][0] / med[o][1]);
	}
	printf("(%d alternating batches of %d and %d round trips)\n", batches, iters, cp_iters);
	return json && write_json(json, best, med) != 0 ? 1 : 0;
}
