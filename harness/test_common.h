/* Common includes and assertions of the cmocka suites. */
#ifndef HARNESS_TEST_COMMON_H
#define HARNESS_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/hx.h"

/* Deterministic test data (xorshift64*) from a suite's own state, so a failure reproduces. */
static inline u64 test_rng_next(u64 *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1Dull;
}

static inline void test_rng_fill(u64 *state, u8 *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p[i] = (u8)test_rng_next(state);
	}
}

/* cmocka setup/teardown: a fresh machine per test. */
static inline int hx_setup(void **state)
{
	struct hx *h = hx_boot(NULL);

	*state = h;
	return h ? 0 : -1;
}

static inline int hx_teardown(void **state)
{
	hx_shutdown(*state);
	return 0;
}

/* Fail the test if the oracle has seen a violation. */
#define assert_oracle_clean(h)                                                   \
	do {                                                                     \
		if ((h)->violations) {                                           \
			fail_msg("invariant oracle: %s", (h)->report);          \
		}                                                                \
	} while (0)

/* An SVSM call on the startup vCPU that must complete; returns RAX and checks the oracle. */
#define CALL(h, proto, call, rcx, rdx, r8, out)                                  \
	({                                                                       \
		u64 call_rc_ = hx_call((h), (proto), (call), (rcx), (rdx), (r8), (out)); \
		assert_int_equal((h)->last_status, GUEST_OK);                    \
		assert_oracle_clean(h);                                          \
		call_rc_;                                                        \
	})

#define CORE(h, call, rcx, rdx, r8, out) CALL((h), SVSM_PROTOCOL_CORE, (call), (rcx), (rdx), (r8), (out))

#endif
