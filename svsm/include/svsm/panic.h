/*
 * Panic: for broken internal invariants only (allocator corruption, impossible
 * states), never for guest or hypervisor input. Logs the reason and terminates the
 * SVSM through the GHCB MSR protocol, then arch_terminate().
 */
#ifndef SVSM_PANIC_H
#define SVSM_PANIC_H

#include <svsm/types.h>

SVSM_NORETURN void svsm_panic(const char *fmt, ...) SVSM_PRINTF(1, 2);

/* Panic with @reason when @cond is false. Never for checks on outside input. */
#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			svsm_panic("CHECK failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
		}                                                                \
	} while (0)

#endif
