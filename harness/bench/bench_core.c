/*
 * make bench (core part): the round trip of SVSM_CORE_QUERY_PROTOCOL through the full
 * emulated path (guest registers, call_pending, GHCB MSR run-VMPL exit, hypervisor,
 * request handler, back), against a getppid() system call measured in the same run; and
 * core-call throughput with 1 and 2 vCPU threads calling at once (a mix of
 * QUERY_PROTOCOL and 4 KiB PVALIDATE, each vCPU on pages of its own), with their ratio:
 * rescinding and validating again, and accepting new pages as a booting guest does.
 */
#include <pthread.h>
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

/* --- throughput with vCPU threads -------------------------------------------------------- */

#define MIX_PAGES 64

struct mix_worker {
	struct hx *h;
	pthread_t thread;
	pthread_barrier_t *start;
	u32 apic;
	u64 pages;        /* MIX_PAGES pages of its own */
	unsigned rounds;
	bool failed;
};

/* One PVALIDATE of one 4 KiB page through the list in vCPU @apic's calling area. */
static bool mix_pvalidate(struct emu_guest *g, u32 apic, u64 gpa, bool validate)
{
	u64 list = guest_vcpu(g, apic)->caa_gpa + offsetof(struct svsm_ca, buffer);
	struct svsm_list_hdr hdr = {.entries = 1, .next = 0};
	u64 e = gpa | (validate ? SVSM_PVAL_VALIDATE : 0);
	struct guest_regs r = {.rax = SVSM_CALL(0, SVSM_CORE_PVALIDATE), .rcx = list};

	return guest_write(g, list, &hdr, sizeof(hdr)) == 0 && guest_write(g, list + sizeof(hdr), &e, 8) == 0 &&
	       guest_call(g, apic, &r) == GUEST_OK && (u32)r.rax == SVSM_SUCCESS;
}

/* One QUERY_PROTOCOL on vCPU @apic. */
static bool mix_query(struct emu_guest *g, u32 apic)
{
	struct guest_regs regs = {.rax = SVSM_CALL(0, SVSM_CORE_QUERY_PROTOCOL), .rcx = 1};

	return guest_call(g, apic, &regs) == GUEST_OK && regs.rax == SVSM_SUCCESS;
}

/* Per round: 3 QUERY_PROTOCOL, then one page rescinded and validated again (5 calls). */
static void *mix_main(void *arg)
{
	struct mix_worker *w = arg;

	guest_bind_thread(&w->h->g, w->apic);
	pthread_barrier_wait(w->start);
	for (unsigned r = 0; r < w->rounds && !w->failed; r++) {
		for (int q = 0; q < 3; q++) {
			if (!mix_query(&w->h->g, w->apic)) {
				w->failed = true;
			}
		}
		u64 page = w->pages + (u64)(r % MIX_PAGES) * PAGE_SIZE;
		if (!mix_pvalidate(&w->h->g, w->apic, page, false) || !mix_pvalidate(&w->h->g, w->apic, page, true)) {
			w->failed = true;
		}
	}
	guest_bind_thread(NULL, 0);
	return NULL;
}

#define MIX_CALLS_PER_ROUND 5

/* Calls per second with @threads vCPU threads, each doing @rounds rounds (median of ROUNDS runs). */
static double bench_mix(struct hx *h, struct mix_worker *w, unsigned threads, unsigned rounds)
{
	double per[ROUNDS];

	for (unsigned run = 0; run < ROUNDS; run++) {
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, threads + 1);
		for (unsigned i = 0; i < threads; i++) {
			w[i].start = &start;
			w[i].rounds = rounds;
			if (pthread_create(&w[i].thread, NULL, mix_main, &w[i]) != 0) {
				fprintf(stderr, "bench: cannot start a vCPU thread\n");
				exit(1);
			}
		}
		pthread_barrier_wait(&start);
		u64 t0 = now_ns();
		for (unsigned i = 0; i < threads; i++) {
			pthread_join(w[i].thread, NULL);
		}
		u64 dt = now_ns() - t0;
		pthread_barrier_destroy(&start);
		for (unsigned i = 0; i < threads; i++) {
			if (w[i].failed) {
				fprintf(stderr, "bench: an SVSM call of vCPU %u failed\n", w[i].apic);
				exit(1);
			}
		}
		per[run] = (double)threads * rounds * MIX_CALLS_PER_ROUND * 1e9 / (double)dt;
	}
	(void)h;
	return median(per, ROUNDS);
}

/*
 * The acceptance mix: what a booting guest does, every vCPU validating pages of its own
 * that nobody validated before, 3 QUERY_PROTOCOL per page. No page is rescinded while the
 * clock runs (the rescinds that make the pages acceptable again are done between runs), so
 * no translation flush is asked for. Each thread times itself from the start barrier to
 * its last call; a run lasts from the first start to the last end.
 */
#define ACCEPT_PAGES 8192 /* 32 MiB per vCPU */
#define ACCEPT_CALLS_PER_PAGE 4

struct accept_worker {
	struct hx *h;
	pthread_t thread;
	pthread_barrier_t *start;
	u32 apic;
	u64 first;
	u64 t0, t1;
	bool failed;
};

static void *accept_main(void *arg)
{
	struct accept_worker *w = arg;

	guest_bind_thread(&w->h->g, w->apic);
	pthread_barrier_wait(w->start);
	w->t0 = now_ns();
	for (u64 p = 0; p < ACCEPT_PAGES && !w->failed; p++) {
		for (int q = 0; q < 3; q++) {
			w->failed |= !mix_query(&w->h->g, w->apic);
		}
		w->failed |= !mix_pvalidate(&w->h->g, w->apic, w->first + p * PAGE_SIZE, true);
	}
	w->t1 = now_ns();
	guest_bind_thread(NULL, 0);
	return NULL;
}

/* Calls per second of the acceptance mix on @threads vCPU threads (median of ROUNDS runs). */
static double bench_accept(struct hx *h, struct accept_worker *w, unsigned threads)
{
	double per[ROUNDS];

	for (unsigned run = 0; run < ROUNDS; run++) {
		for (unsigned i = 0; i < threads; i++) {
			for (u64 p = 0; p < ACCEPT_PAGES; p++) {
				if (!mix_pvalidate(&h->g, w[i].apic, w[i].first + p * PAGE_SIZE, false)) {
					fprintf(stderr, "bench: cannot rescind an accepted page\n");
					exit(1);
				}
			}
		}
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, threads);
		for (unsigned i = 0; i < threads; i++) {
			w[i].start = &start;
			w[i].failed = false;
			if (pthread_create(&w[i].thread, NULL, accept_main, &w[i]) != 0) {
				fprintf(stderr, "bench: cannot start a vCPU thread\n");
				exit(1);
			}
		}
		u64 t0 = ~0ull, t1 = 0;
		for (unsigned i = 0; i < threads; i++) {
			pthread_join(w[i].thread, NULL);
			if (w[i].failed) {
				fprintf(stderr, "bench: an SVSM call of vCPU %u failed\n", w[i].apic);
				exit(1);
			}
			t0 = w[i].t0 < t0 ? w[i].t0 : t0;
			t1 = w[i].t1 > t1 ? w[i].t1 : t1;
		}
		pthread_barrier_destroy(&start);
		per[run] = (double)threads * ACCEPT_PAGES * ACCEPT_CALLS_PER_PAGE * 1e9 / (double)(t1 - t0);
	}
	return median(per, ROUNDS);
}

/* The reference for the ratio: the same threads computing without sharing anything. */
struct ref_worker {
	pthread_t thread;
	pthread_barrier_t *start;
	u64 iters;
	u64 result;
};

static void *ref_main(void *arg)
{
	struct ref_worker *w = arg;
	u64 x = 88172645463325252ull;

	pthread_barrier_wait(w->start);
	for (u64 i = 0; i < w->iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	w->result = x;
	return NULL;
}

/* Work items per second with @threads threads (median of ROUNDS runs). */
static double bench_reference(unsigned threads, u64 iters)
{
	double per[ROUNDS];
	struct ref_worker w[2];

	for (unsigned run = 0; run < ROUNDS; run++) {
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, threads + 1);
		for (unsigned i = 0; i < threads; i++) {
			w[i] = (struct ref_worker){.start = &start, .iters = iters};
			if (pthread_create(&w[i].thread, NULL, ref_main, &w[i]) != 0) {
				fprintf(stderr, "bench: cannot start a thread\n");
				exit(1);
			}
		}
		pthread_barrier_wait(&start);
		u64 t0 = now_ns();
		for (unsigned i = 0; i < threads; i++) {
			pthread_join(w[i].thread, NULL);
		}
		per[run] = (double)threads * (double)iters * 1e9 / (double)(now_ns() - t0);
		pthread_barrier_destroy(&start);
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
	unsigned mix_only = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			iters = (unsigned)strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--mix-only") && i + 1 < argc) {
			mix_only = (unsigned)strtoul(argv[++i], NULL, 0);
			if (mix_only < 1 || mix_only > 2) {
				fprintf(stderr, "bench-core: --mix-only takes 1 or 2 (vCPU threads)\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: bench-core [--json FILE] [--iterations N] [--mix-only 1|2]\n"
					"  --mix-only T  run only the call mix on T vCPU threads (for a profiler)\n");
			return 2;
		}
	}
	if (iters == 0) {
		fprintf(stderr, "bench-core: --iterations must be positive\n");
		return 2;
	}
	double call_ns = 0, sys_ns = 0;
	if (!mix_only) {
		struct hx *h = hx_boot(NULL);
		if (!h) {
			return 1;
		}
		h->oracle_each_call = false;
		bench_query(h, iters / 10); /* warm up */
		call_ns = bench_query(h, iters);
		sys_ns = bench_getppid(iters);
		hx_shutdown(h);
	}

	/*
	 * Two vCPUs with pages of their own; the mix runs on vCPU 0 alone, then on both. The
	 * machine's direct map is unchecked here: the checked one changes page protections
	 * with mprotect at every PVALIDATE, which the kernel serialises (docs/architecture.md).
	 */
	struct emu_config cfg;
	emu_config_default(&cfg);
	cfg.console = NULL;
	cfg.unchecked_direct_map = true;
	struct hx *h = hx_boot(&cfg);
	if (!h) {
		return 1;
	}
	h->oracle_each_call = false;
	struct mix_worker w[2] = {{.h = h, .apic = 0}, {.h = h, .apic = 1}};
	/* Each vCPU's pages in a 2 MiB region of their own, as two CPUs of a booting guest accept theirs. */
	u64 pool = 0;
	if (guest_create_vcpu(&h->g, 1, NULL) != SVSM_SUCCESS || !(pool = hx_pages(h, 3 * PAGES_PER_2M))) {
		fprintf(stderr, "bench: cannot set up the second vCPU\n");
		return 1;
	}
	w[0].pages = ALIGN_UP(pool, PAGE_2M_SIZE);
	w[1].pages = w[0].pages + PAGE_2M_SIZE;
	unsigned mix_rounds = iters / 2 ? iters / 2 : 1; /* about 0.1 s per run: thread start-up is noise */
	/* Warm up both: every page touched and each thread's caches filled before measuring. */
	bench_mix(h, w, 2, mix_rounds / 10 + 1);
	bench_mix(h, w, 1, mix_rounds / 10 + 1);
	if (mix_only) {
		double only = bench_mix(h, w, mix_only, mix_rounds);
		hx_shutdown(h);
		printf("core calls (3 QUERY_PROTOCOL : 2 PVALIDATE 4K): %u vCPU thread(s) %.0f/s\n", mix_only, only);
		return 0;
	}
	double one = bench_mix(h, w, 1, mix_rounds);
	double two = bench_mix(h, w, 2, mix_rounds);
	struct accept_worker aw[2] = {{.h = h, .apic = 0}, {.h = h, .apic = 1}};
	u64 region = 0;
	if (!(region = hx_pages(h, 2 * ACCEPT_PAGES + PAGES_PER_2M))) {
		fprintf(stderr, "bench: no room for the acceptance mix\n");
		return 1;
	}
	aw[0].first = ALIGN_UP(region, PAGE_2M_SIZE);
	aw[1].first = aw[0].first + ACCEPT_PAGES * PAGE_SIZE;
	double acc_one = bench_accept(h, aw, 1);
	double acc_two = bench_accept(h, aw, 2);
	hx_shutdown(h);
	/* About as long as the calls' runs took, so that both see the same machine. */
	u64 ref_iters = (u64)mix_rounds * 400;
	double ref_one = bench_reference(1, ref_iters);
	double ref_two = bench_reference(2, ref_iters);
	double ref_scaling = ref_two / ref_one;

	double ratio = call_ns / sys_ns;
	double scaling = two / one;
	printf("SVSM_CORE_QUERY_PROTOCOL round trip: %.1f ns; getppid(): %.1f ns; ratio %.3f\n", call_ns, sys_ns, ratio);
	printf("core calls (3 QUERY_PROTOCOL : 2 PVALIDATE 4K): 1 vCPU thread %.0f/s, 2 vCPU threads %.0f/s; ratio %.2f\n",
	       one, two, scaling);
	printf("acceptance (3 QUERY_PROTOCOL : 1 PVALIDATE 4K of a new page): 1 vCPU thread %.0f/s, 2 vCPU threads "
	       "%.0f/s; ratio %.2f\n",
	       acc_one, acc_two, acc_two / acc_one);
	printf("reference (2 threads sharing nothing, same run): ratio %.2f\n", ref_scaling);
	if (json) {
		FILE *f = fopen(json, "w");
		if (!f) {
			perror(json);
			return 1;
		}
		fprintf(f,
			"[\n  {\"name\": \"getppid_syscall\", \"value\": %.2f, \"unit\": \"ns\"},\n"
			"  {\"name\": \"svsm_core_query_protocol_round_trip\", \"value\": %.2f, \"unit\": \"ns\", "
			"\"ratio_to\": \"getppid_syscall\", \"ratio\": %.4f},\n"
			"  {\"name\": \"core_calls_1_vcpu_thread\", \"value\": %.0f, \"unit\": \"calls/s\"},\n"
			"  {\"name\": \"core_calls_2_vcpu_threads\", \"value\": %.0f, \"unit\": \"calls/s\", "
			"\"ratio_to\": \"core_calls_1_vcpu_thread\", \"ratio\": %.4f},\n"
			"  {\"name\": \"accept_calls_1_vcpu_thread\", \"value\": %.0f, \"unit\": \"calls/s\"},\n"
			"  {\"name\": \"accept_calls_2_vcpu_threads\", \"value\": %.0f, \"unit\": \"calls/s\", "
			"\"ratio_to\": \"accept_calls_1_vcpu_thread\", \"ratio\": %.4f},\n"
			"  {\"name\": \"reference_1_thread\", \"value\": %.0f, \"unit\": \"items/s\"},\n"
			"  {\"name\": \"reference_2_threads\", \"value\": %.0f, \"unit\": \"items/s\", "
			"\"ratio_to\": \"reference_1_thread\", \"ratio\": %.4f}\n]\n",
			sys_ns, call_ns, ratio, one, two, scaling, acc_one, acc_two, acc_two / acc_one, ref_one, ref_two,
			ref_scaling);
		fclose(f);
	}
	return 0;
}
