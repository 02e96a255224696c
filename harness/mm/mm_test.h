/* Shared helpers of the allocator suites: an arena, a panic catcher, fill patterns. */
#ifndef HARNESS_MM_TEST_H
#define HARNESS_MM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <svsm/mm.h>

#define MM_TEST_MIB ((size_t)1 << 20)

/* A 2 MiB-aligned arena of @span_bytes, zero pages beyond what tests add. */
void *mm_test_arena(size_t span_bytes);
/* mm_init() over a fresh arena of @span_bytes; returns the arena. */
void *mm_test_init(size_t span_bytes);
/* mm_test_init() then mm_add_memory() of the whole arena (not withdrawable). */
void *mm_test_init_all(size_t span_bytes);

/*
 * Run @fn(@arg) and require that it ends in svsm_panic() with a message containing
 * @expect. The allocator is left in an undefined state: reinitialise before reuse.
 */
void mm_test_expect_panic(void (*fn)(void *), void *arg, const char *expect);
/* Message of the last panic caught. */
const char *mm_test_panic_message(void);

/* Fill @n bytes at @p with a pattern derived from @seed, and check it. */
void mm_test_fill(void *p, size_t n, unsigned seed);
int mm_test_check(const void *p, size_t n, unsigned seed);

/* Stats helpers. */
struct mm_stats mm_test_stats(void);

#endif
