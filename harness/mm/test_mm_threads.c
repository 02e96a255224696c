/* Tests of the allocators under several threads (run under ThreadSanitizer with TSAN=1). */
#include "mm/mm_test.h"

#include <pthread.h>
#include <string.h>

#define PG 4096u
#define THREADS 4

static __thread unsigned thread_cpu;

/** CPU hook: the thread's number, as a vCPU index would be. */
static unsigned thread_cpu_index(void)
{
	return thread_cpu;
}

/** Fresh allocator over 32 MiB, all of it added, one cache slot per thread. */
static int setup(void **state)
{
	mm_test_init_all(32 * MM_TEST_MIB);
	mm_set_cpu_hook(thread_cpu_index);
	return 0;
}

/** Restore the single shared slot for the other suites' sake. */
static int teardown(void **state)
{
	mm_set_cpu_hook(NULL);
	return 0;
}

/** A small xorshift generator per thread. */
static unsigned next_rand(unsigned *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

struct worker {
	unsigned id;
	int errors;
};

/** Random alloc/realloc/free/page traffic, checking every byte it wrote. */
static void *mixed_worker(void *arg)
{
	enum { SLOTS = 64, ROUNDS = 20000 };
	struct worker *w = arg;
	u8 *p[SLOTS] = {NULL};
	size_t n[SLOTS] = {0};
	unsigned seed[SLOTS] = {0};
	unsigned r = 0x9e3779b9u * (w->id + 1);

	thread_cpu = w->id;
	for (int round = 0; round < ROUNDS; round++) {
		unsigned i = next_rand(&r) % SLOTS;
		unsigned op = next_rand(&r) % 8;

		if (p[i] && !mm_test_check(p[i], n[i], seed[i])) {
			w->errors++;
		}
		if (p[i] && op < 3) {
			if (n[i] == PG * 2 && ((uintptr_t)p[i] & (PG - 1)) == 0 && seed[i] & 1) {
				page_free(p[i], 1);
			} else {
				mem_free(p[i]);
			}
			p[i] = NULL;
		} else if (p[i] && op < 5) {
			size_t m = next_rand(&r) % 9000 + 1;
			u8 *q;

			if (seed[i] & 1 && n[i] == PG * 2) {
				continue;
			}
			q = mem_realloc(p[i], m);
			if (q) {
				if (!mm_test_check(q, MIN(m, n[i]), seed[i])) {
					w->errors++;
				}
				p[i] = q;
				n[i] = m;
				mm_test_fill(q, m, seed[i]);
			}
		} else if (!p[i]) {
			seed[i] = next_rand(&r);
			if (op == 7 && seed[i] & 1) {
				n[i] = 2 * PG;
				p[i] = page_alloc(1);
			} else {
				seed[i] &= ~1u;
				n[i] = next_rand(&r) % (op == 6 ? 20000 : 600);
				p[i] = mem_alloc(n[i]);
			}
			if (p[i]) {
				mm_test_fill(p[i], n[i], seed[i]);
			}
		}
	}
	for (int i = 0; i < SLOTS; i++) {
		if (!p[i]) {
			continue;
		}
		if (!mm_test_check(p[i], n[i], seed[i])) {
			w->errors++;
		}
		if (seed[i] & 1) {
			page_free(p[i], 1);
		} else {
			mem_free(p[i]);
		}
	}
	return NULL;
}

static void test_threads_mixed_traffic(void **state)
{
	pthread_t t[THREADS];
	struct worker w[THREADS];
	struct mm_stats s0, s1;

	mm_drain();
	s0 = mm_test_stats();
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.id = i + 1};
		assert_int_equal(pthread_create(&t[i], NULL, mixed_worker, &w[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].errors, 0);
	}
	mm_drain();
	s1 = mm_test_stats();
	assert_int_equal(s1.page.in_use, s0.page.in_use);
	assert_int_equal(s1.heap.in_use, s0.heap.in_use);
	assert_int_equal(s1.slab.in_use, 0);
}

/* A single-producer single-consumer ring of pointers. */
#define RING 256
struct ring {
	void *slot[RING];
	size_t len[RING];
	unsigned head; /* written by the producer */
	unsigned tail; /* written by the consumer */
	unsigned total;
	int errors;
};

/** Allocate, fill and hand over ring->total objects. */
static void *producer(void *arg)
{
	struct ring *rg = arg;
	unsigned r = 12345;

	thread_cpu = 1;
	for (unsigned i = 0; i < rg->total; i++) {
		unsigned h = __atomic_load_n(&rg->head, __ATOMIC_RELAXED);
		size_t n = next_rand(&r) % 4096 + 16;
		void *p;

		while (h - __atomic_load_n(&rg->tail, __ATOMIC_ACQUIRE) == RING) {
			sched_yield();
		}
		p = mem_alloc(n);
		if (!p) {
			rg->errors++;
			n = 0;
		} else {
			mm_test_fill(p, n, i);
		}
		rg->slot[h % RING] = p;
		rg->len[h % RING] = n;
		__atomic_store_n(&rg->head, h + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/** Check and free what the producer hands over. */
static void *consumer(void *arg)
{
	struct ring *rg = arg;

	thread_cpu = 2;
	for (unsigned i = 0; i < rg->total; i++) {
		unsigned t = __atomic_load_n(&rg->tail, __ATOMIC_RELAXED);
		void *p;

		while (__atomic_load_n(&rg->head, __ATOMIC_ACQUIRE) == t) {
			sched_yield();
		}
		p = rg->slot[t % RING];
		if (p && !mm_test_check(p, rg->len[t % RING], i)) {
			rg->errors++;
		}
		mem_free(p);
		__atomic_store_n(&rg->tail, t + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void test_threads_producer_consumer(void **state)
{
	static struct ring rg;
	pthread_t a, b;
	struct mm_stats s0, s1;

	mm_drain();
	s0 = mm_test_stats();
	memset(&rg, 0, sizeof(rg));
	rg.total = 30000;
	assert_int_equal(pthread_create(&a, NULL, producer, &rg), 0);
	assert_int_equal(pthread_create(&b, NULL, consumer, &rg), 0);
	assert_int_equal(pthread_join(a, NULL), 0);
	assert_int_equal(pthread_join(b, NULL), 0);
	assert_int_equal(rg.errors, 0);
	mm_drain();
	s1 = mm_test_stats();
	assert_int_equal(s1.page.in_use, s0.page.in_use);
	assert_int_equal(s1.slab.in_use, 0);
	assert_true(s1.heap.peak > 0);
}

struct depositor {
	u8 *base;
	unsigned chunks;
	int added;
};

/** Hand in 64 KiB ranges one by one while others allocate. */
static void *deposit_worker(void *arg)
{
	struct depositor *d = arg;

	thread_cpu = 3;
	for (unsigned i = 0; i < d->chunks; i++) {
		d->added += mm_add_memory(d->base + (size_t)i * 16 * PG, 16, true) == 0;
		/* A second hand-in of the same range must be refused. */
		d->added -= mm_add_memory(d->base + (size_t)i * 16 * PG, 16, true) == 0;
	}
	return NULL;
}

/** Allocate and free pages until told to stop; counts successes. */
static void *page_worker(void *arg)
{
	unsigned *got = arg;

	thread_cpu = 4;
	for (int i = 0; i < 20000; i++) {
		void *p = page_alloc(0);

		if (p) {
			memset(p, 0x11, 64);
			(*got)++;
			page_free(p, 0);
		}
	}
	return NULL;
}

static void test_threads_deposit_while_allocating(void **state)
{
	u8 *arena = mm_test_init(32 * MM_TEST_MIB);
	struct depositor d = {.base = arena + 8 * MM_TEST_MIB, .chunks = 256};
	unsigned got = 0;
	pthread_t a, b;
	void *out[4096];

	assert_int_equal(mm_add_memory(arena, 64, false), 0);
	assert_int_equal(pthread_create(&a, NULL, deposit_worker, &d), 0);
	assert_int_equal(pthread_create(&b, NULL, page_worker, &got), 0);
	assert_int_equal(pthread_join(a, NULL), 0);
	assert_int_equal(pthread_join(b, NULL), 0);
	assert_int_equal(d.added, 256);
	assert_int_equal(got, 20000);
	assert_int_equal(mm_withdraw(out, 4096), 256 * 16);
}

struct injector {
	unsigned id;
	unsigned failures;
};

/** Allocate 2000 objects and count the failures. */
static void *inject_worker(void *arg)
{
	struct injector *in = arg;

	thread_cpu = in->id;
	for (int i = 0; i < 2000; i++) {
		void *p = mem_alloc(64);

		if (!p) {
			in->failures++;
		}
		mem_free(p);
	}
	return NULL;
}

static void test_threads_fail_nth_fires_once(void **state)
{
	pthread_t t[THREADS];
	struct injector in[THREADS];
	unsigned total = 0;
	u64 c0 = mm_alloc_count();

	mm_fail_nth(3000);
	for (unsigned i = 0; i < THREADS; i++) {
		in[i] = (struct injector){.id = i + 1};
		assert_int_equal(pthread_create(&t[i], NULL, inject_worker, &in[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		total += in[i].failures;
	}
	assert_int_equal(total, 1);
	assert_int_equal(mm_alloc_count() - c0, THREADS * 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_threads_mixed_traffic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_producer_consumer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_deposit_while_allocating, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_fail_nth_fires_once, setup, teardown),
	};

	return cmocka_run_group_tests_name("mm_threads", tests, NULL, NULL);
}
