/* Shared helpers of the allocator suites: arenas, svsm_panic caught with longjmp, patterns. */
#include "mm/mm_test.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <svsm/panic.h>
#include <svsm/spinlock.h>

static jmp_buf *mm_test_jmp;
static char mm_test_msg[512];
static void *mm_test_map;
static size_t mm_test_map_size;

/** The core's panic, for tests: record the reason and jump back into the test, or abort. */
void svsm_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mm_test_msg, sizeof(mm_test_msg), fmt, ap);
	va_end(ap);
	if (mm_test_jmp) {
		jmp_buf *j = mm_test_jmp;

		mm_test_jmp = NULL;
		longjmp(*j, 1);
	}
	fprintf(stderr, "svsm_panic outside mm_test_expect_panic: %s\n", mm_test_msg);
	abort();
}

/** See mm_test.h. The previous arena is unmapped: only one allocator instance exists. */
/* The allocator's spinlocks back off through the arch layer: a test thread yields. */
void arch_spin_backoff(void)
{
	sched_yield();
}

void *mm_test_arena(size_t span_bytes)
{
	size_t align = 2 * MM_TEST_MIB;
	uintptr_t a;
	void *p;

	if (mm_test_map) {
		munmap(mm_test_map, mm_test_map_size);
		mm_test_map = NULL;
	}
	p = mmap(NULL, span_bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	assert_true(p != MAP_FAILED);
	mm_test_map = p;
	mm_test_map_size = span_bytes + align;
	a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
	return (void *)a;
}

/** See mm_test.h. */
void *mm_test_init(size_t span_bytes)
{
	void *a = mm_test_arena(span_bytes);

	assert_int_equal(mm_init(a, span_bytes), 0);
	return a;
}

/** See mm_test.h. */
void *mm_test_init_all(size_t span_bytes)
{
	void *a = mm_test_init(span_bytes);

	assert_int_equal(mm_add_memory(a, span_bytes / 4096, false), 0);
	return a;
}

/** See mm_test.h. */
void mm_test_expect_panic(void (*fn)(void *), void *arg, const char *expect)
{
	jmp_buf j;

	mm_test_msg[0] = '\0';
	if (setjmp(j) == 0) {
		mm_test_jmp = &j;
		fn(arg);
		mm_test_jmp = NULL;
		fail_msg("expected a panic containing \"%s\", got none", expect);
	}
	if (!strstr(mm_test_msg, expect)) {
		fail_msg("panic \"%s\" does not contain \"%s\"", mm_test_msg, expect);
	}
}

/** See mm_test.h. */
const char *mm_test_panic_message(void)
{
	return mm_test_msg;
}

/** Byte @i of the pattern for @seed. */
static unsigned char mm_test_byte(size_t i, unsigned seed)
{
	return (unsigned char)((i * 131u + seed * 7u + (i >> 8)) ^ seed);
}

/** See mm_test.h. */
void mm_test_fill(void *p, size_t n, unsigned seed)
{
	unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		b[i] = mm_test_byte(i, seed);
	}
}

/** See mm_test.h. Returns 1 when the pattern is intact. */
int mm_test_check(const void *p, size_t n, unsigned seed)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != mm_test_byte(i, seed)) {
			return 0;
		}
	}
	return 1;
}

/** See mm_test.h. */
struct mm_stats mm_test_stats(void)
{
	struct mm_stats s;

	mm_get_stats(&s);
	return s;
}
