/*
 * make bench (core part): the round trip of SVSM_CORE_QUERY_PROTOCOL through the full
 * emulated path (guest registers, call_pending, GHCB MSR run-VMPL exit, hypervisor,
 * request handler, back), against a getppid() system call measured in the same run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/hx.h"

#define ROUNDS 7

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

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* Median ns per SVSM call over ROUNDS rounds of @iters calls. */
static double bench_query(struct hx *h, unsigned iters)
{
	double per[ROUNDS];

	for (unsigned r = 0; r < ROUNDS; r++) {
		u64 t0 = now_ns();
		for (unsigned i = 0; i < iters; i++) {
			struct guest_regs regs = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};
			if (guest_call(&h->g, 0, &regs) != GUEST_OK || regs.rax != SVSM_SUCCESS) {
				fprintf(stderr, "bench: SVSM call failed\n");
				exit(1);
			}
		}
		per[r] = (double)(now_ns() - t0) / iters;
	}
	return median(per, ROUNDS);
}

static double bench_getppid(unsigned iters)
{
	double per[ROUNDS];
	volatile long sink = 0;

	for (unsigned r = 0; r < ROUNDS; r++) {
		u64 t0 = now_ns();
		for (unsigned i = 0; i < iters; i++) {
			sink += syscall(SYS_getppid);
		}
		per[r] = (double)(now_ns() - t0) / iters;
	}
	(void)sink;
	return median(per, ROUNDS);
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	unsigned iters = 200000;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			iters = (unsigned)strtoul(argv[++i], NULL, 0);
		} else {
			fprintf(stderr, "usage: bench-core [--json FILE] [--iterations N]\n");
			return 2;
		}
	}
	if (iters == 0) {
		fprintf(stderr, "bench-core: --iterations must be positive\n");
		return 2;
	}
	struct hx *h = hx_boot(NULL);
	if (!h) {
		return 1;
	}
	h->oracle_each_call = false;
	bench_query(h, iters / 10); /* warm up */
	double call_ns = bench_query(h, iters);
	double sys_ns = bench_getppid(iters);
	hx_shutdown(h);

	double ratio = call_ns / sys_ns;
	printf("SVSM_CORE_QUERY_PROTOCOL round trip: %.1f ns; getppid(): %.1f ns; ratio %.3f\n", call_ns, sys_ns, ratio);
	if (json) {
		FILE *f = fopen(json, "w");
		if (!f) {
			perror(json);
			return 1;
		}
		fprintf(f,
			"[\n  {\"name\": \"getppid_syscall\", \"value\": %.2f, \"unit\": \"ns\"},\n"
			"  {\"name\": \"svsm_core_query_protocol_round_trip\", \"value\": %.2f, \"unit\": \"ns\", "
			"\"ratio_to\": \"getppid_syscall\", \"ratio\": %.4f}\n]\n",
			sys_ns, call_ns, ratio);
		fclose(f);
	}
	return 0;
}
