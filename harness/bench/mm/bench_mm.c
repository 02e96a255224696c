/* Allocator benchmark: the SVSM heap against glibc, jemalloc and mimalloc, as time and RSS ratios. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <svsm/mm.h>
#include <svsm/panic.h>
#include <svsm/spinlock.h>

/*
 * Every (workload, allocator) pair runs in its own child process (this program
 * re-executed with --child), so that each peak RSS belongs to one allocator only. The
 * child gets the allocator through LD_PRELOAD of its shared library (nothing for
 * glibc; libjemalloc.so.2, libmimalloc.so.2.0, or libsvsm-malloc.so, the very library
 * the LD_PRELOAD test uses), so all four are reached through the same plain
 * malloc/free calls. (dlopen does not work for jemalloc: it needs more static TLS than
 * glibc keeps for dlopen.) Every pair runs three times, the allocators taking turns so
 * that noise from a shared machine spreads over all of them; the fastest run counts.
 *
 * (c) measures the page allocator itself (linked in, not the .so) against
 * malloc(4096)/free of glibc, in this process.
 */

#define JEMALLOC_SO "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
#define MIMALLOC_SO "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2.0"

#define A_SLOTS 20000
#define A_OPS 3000000
#define B_OBJECTS 1000000
#define B_RING 1024
#define C_BATCH 64
#define C_ROUNDS 40000
#define REPEATS 3

/** Allocation failures inside the linked page allocator are bugs here: report and stop. */
void svsm_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/** The allocator's spinlocks back off through the arch layer: a benchmark thread yields. */
void arch_spin_backoff(void)
{
	sched_yield();
}

/** Monotonic time in nanoseconds. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/** xorshift64 step. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/** The library to preload for allocator @name (@so is libsvsm-malloc.so); "" for glibc. */
static const char *allocator_library(const char *name, const char *so)
{
	if (strcmp(name, "jemalloc") == 0) {
		return JEMALLOC_SO;
	}
	if (strcmp(name, "mimalloc") == 0) {
		return MIMALLOC_SO;
	}
	if (strcmp(name, "svsm") == 0) {
		return so;
	}
	return "";
}

/** (a) one thread, sizes 16 B..4 KiB, frees in random order; ns per operation. */
static double workload_a(void)
{
	static void *slot[A_SLOTS];
	uint64_t s = 0x1234567887654321ull;
	double t0 = now_ns(), t;

	for (long i = 0; i < A_OPS; i++) {
		uint64_t r = rnd(&s);
		size_t k = (size_t)(r % A_SLOTS);

		if (slot[k]) {
			free(slot[k]);
			slot[k] = NULL;
		} else {
			size_t n = 16 + (size_t)((r >> 20) % (4096 - 16 + 1));
			char *p = malloc(n);

			if (!p) {
				fprintf(stderr, "bench_mm: out of memory\n");
				exit(1);
			}
			p[0] = (char)i;
			p[n - 1] = (char)i;
			slot[k] = p;
		}
	}
	t = now_ns() - t0;
	for (size_t k = 0; k < A_SLOTS; k++) {
		free(slot[k]);
		slot[k] = NULL;
	}
	return t / A_OPS;
}

struct ring {
	void *slot[B_RING];
	unsigned head __attribute__((aligned(64)));
	unsigned tail __attribute__((aligned(64)));
};

/** Wait politely: spin a little, then give the CPU away (the machine may be shared). */
static void backoff(unsigned *spins)
{
	if (++*spins < 64) {
		__builtin_ia32_pause();
	} else {
		sched_yield();
	}
}

/** (b) producer: allocate and hand over B_OBJECTS blocks. */
static void *producer(void *arg)
{
	struct ring *rg = arg;
	uint64_t s = 42;

	for (unsigned i = 0; i < B_OBJECTS; i++) {
		unsigned h = __atomic_load_n(&rg->head, __ATOMIC_RELAXED), spins = 0;
		size_t n = 16 + (size_t)(rnd(&s) % (4096 - 16 + 1));
		char *p = malloc(n);

		if (!p) {
			fprintf(stderr, "bench_mm: out of memory\n");
			exit(1);
		}
		memset(p, (int)i, 16);
		while (h - __atomic_load_n(&rg->tail, __ATOMIC_ACQUIRE) == B_RING) {
			backoff(&spins);
		}
		rg->slot[h % B_RING] = p;
		__atomic_store_n(&rg->head, h + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/** (b) consumer: read and free what arrives. */
static void *consumer(void *arg)
{
	struct ring *rg = arg;
	unsigned long sum = 0;

	for (unsigned i = 0; i < B_OBJECTS; i++) {
		unsigned t = __atomic_load_n(&rg->tail, __ATOMIC_RELAXED), spins = 0;
		char *p;

		while (__atomic_load_n(&rg->head, __ATOMIC_ACQUIRE) == t) {
			backoff(&spins);
		}
		p = rg->slot[t % B_RING];
		sum += (unsigned char)p[3];
		free(p);
		__atomic_store_n(&rg->tail, t + 1, __ATOMIC_RELEASE);
	}
	return (void *)sum;
}

/** (b) two threads, producer/consumer; ns per object. */
static double workload_b(void)
{
	static struct ring rg;
	pthread_t a, b;
	double t0;

	memset(&rg, 0, sizeof(rg));
	t0 = now_ns();
	if (pthread_create(&a, NULL, producer, &rg) != 0 || pthread_create(&b, NULL, consumer, &rg) != 0) {
		exit(1);
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return (now_ns() - t0) / B_OBJECTS;
}

/** Child: run @workload on the preloaded malloc and print "ns_per_op peak_rss_kib". */
static int child(const char *workload)
{
	double t = strcmp(workload, "a") == 0 ? workload_a() : workload_b();
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("%.3f %ld\n", t, ru.ru_maxrss);
	return 0;
}

/** Run a child for (@workload, @alloc); fills @ns and @rss. Returns 0 or -1. */
static int run_child(const char *self, const char *workload, const char *alloc, const char *so, double *ns,
		     long *rss)
{
	char cmd[8192];
	FILE *p;
	int ok;

	if (snprintf(cmd, sizeof(cmd), "LD_PRELOAD='%s' exec '%s' --child %s", allocator_library(alloc, so), self,
		     workload) >= (int)sizeof(cmd)) {
		return -1;
	}
	p = popen(cmd, "r");
	if (!p) {
		return -1;
	}
	ok = fscanf(p, "%lf %ld", ns, rss) == 2;
	return pclose(p) == 0 && ok ? 0 : -1;
}

/** (c) order-0 page_alloc/page_free against malloc(4096)/free; ns per alloc+free pair. */
static void workload_c(double *page_ns, double *malloc_ns)
{
	size_t span = (size_t)256 << 20;
	void *arena = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *v[C_BATCH];
	double best_p = 1e30, best_m = 1e30;

	if (arena == MAP_FAILED || mm_init(arena, span) != 0 || mm_add_memory(arena, span / 4096, false) != 0) {
		fprintf(stderr, "bench_mm: page allocator setup failed\n");
		exit(1);
	}
	for (int r = 0; r < REPEATS; r++) {
		double t0 = now_ns(), t;

		for (int round = 0; round < C_ROUNDS; round++) {
			for (int i = 0; i < C_BATCH; i++) {
				v[i] = page_alloc(0);
				*(volatile char *)v[i] = 1;
			}
			for (int i = 0; i < C_BATCH; i++) {
				page_free(v[i], 0);
			}
		}
		t = (now_ns() - t0) / ((double)C_ROUNDS * C_BATCH);
		best_p = t < best_p ? t : best_p;
		t0 = now_ns();
		for (int round = 0; round < C_ROUNDS; round++) {
			for (int i = 0; i < C_BATCH; i++) {
				v[i] = malloc(4096);
				*(volatile char *)v[i] = 1;
			}
			for (int i = 0; i < C_BATCH; i++) {
				free(v[i]);
			}
		}
		t = (now_ns() - t0) / ((double)C_ROUNDS * C_BATCH);
		best_m = t < best_m ? t : best_m;
	}
	*page_ns = best_p;
	*malloc_ns = best_m;
	munmap(arena, span);
}

/** Append one JSON entry to @f; @ref NULL for an entry without a reference. */
static void entry(FILE *f, bool *first, const char *name, double value, const char *unit, const char *ref,
		  double ref_value)
{
	fprintf(f, "%s  {\"name\": \"%s\", \"value\": %.3f, \"unit\": \"%s\"", *first ? "" : ",\n", name, value,
		unit);
	if (ref) {
		fprintf(f, ", \"ratio_to\": \"%s\", \"ratio\": %.4f", ref, value / ref_value);
	}
	fprintf(f, "}");
	*first = false;
}

int main(int argc, char **argv)
{
	static const char *const allocs[] = {"glibc", "jemalloc", "mimalloc", "svsm"};
	static const char *const workloads[] = {"a", "b"};
	const char *out = NULL, *so = NULL;
	char self[4096];
	bool first = true;
	FILE *f;
	double page_ns, malloc_ns;
	ssize_t n;

	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		return child(argv[2]);
	}
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--json") == 0) {
			out = argv[i + 1];
		} else if (strcmp(argv[i], "--so") == 0) {
			so = argv[i + 1];
		}
	}
	if (!out || !so) {
		fprintf(stderr, "usage: %s --json OUT.json --so libsvsm-malloc.so\n", argv[0]);
		return 2;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		return 1;
	}
	self[n] = '\0';
	f = fopen(out, "w");
	if (!f) {
		perror(out);
		return 1;
	}
	fprintf(f, "[\n");
	for (size_t w = 0; w < 2; w++) {
		double ns[4] = {1e30, 1e30, 1e30, 1e30};
		long rss[4] = {0};

		for (int r = 0; r < REPEATS; r++) {
			for (size_t a = 0; a < 4; a++) {
				double t;
				long kib;

				if (run_child(self, workloads[w], allocs[a], so, &t, &kib) != 0) {
					fprintf(stderr, "bench_mm: workload %s on %s failed\n", workloads[w], allocs[a]);
					return 1;
				}
				ns[a] = t < ns[a] ? t : ns[a];
				rss[a] = kib > rss[a] ? kib : rss[a];
			}
		}
		for (size_t a = 0; a < 4; a++) {
			const char *wname = w == 0 ? "a_mixed_1thread" : "b_producer_consumer";
			char name[128], ref[128];

			snprintf(name, sizeof(name), "mm.%s.%s.time", wname, allocs[a]);
			snprintf(ref, sizeof(ref), "mm.%s.glibc.time", wname);
			entry(f, &first, name, ns[a], "ns/op", a ? ref : NULL, ns[0]);
			if (w == 0) {
				snprintf(name, sizeof(name), "mm.%s.%s.peak_rss", wname, allocs[a]);
				snprintf(ref, sizeof(ref), "mm.%s.glibc.peak_rss", wname);
				entry(f, &first, name, (double)rss[a], "KiB", a ? ref : NULL, (double)rss[0]);
			}
			fprintf(stderr, "bench_mm: %s %-8s %8.1f ns/op  peak RSS %ld KiB\n", workloads[w], allocs[a], ns[a],
				rss[a]);
		}
	}
	workload_c(&page_ns, &malloc_ns);
	entry(f, &first, "mm.c_pages.glibc_malloc4096.time", malloc_ns, "ns/op", NULL, 0);
	entry(f, &first, "mm.c_pages.page_alloc0.time", page_ns, "ns/op", "mm.c_pages.glibc_malloc4096.time",
	      malloc_ns);
	fprintf(stderr, "bench_mm: c page_alloc(0) %.1f ns/op, glibc malloc(4096) %.1f ns/op\n", page_ns, malloc_ns);
	fprintf(f, "\n]\n");
	return fclose(f) == 0 ? 0 : 1;
}
