/* Fixed-width types and small helpers shared by every svsm/ source (no libc). */
#ifndef SVSM_TYPES_H
#define SVSM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

#define PAGE_SHIFT 12
#define PAGE_SIZE ((u64)1 << PAGE_SHIFT)
#define PAGE_MASK (PAGE_SIZE - 1)
#define PAGE_2M_SHIFT 21
#define PAGE_2M_SIZE ((u64)1 << PAGE_2M_SHIFT)
#define PAGES_PER_2M 512

#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define ALIGN_UP(x, a) ALIGN_DOWN((x) + (a) - 1, (a))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define ARRAY_COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n) ((u64)1 << (n))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define SVSM_NORETURN __attribute__((noreturn))
#define SVSM_PACKED __attribute__((packed))
#define SVSM_UNUSED __attribute__((unused))
#define SVSM_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*
 * Every writable global of the core is either state (SVSM_STATE) or per-call scratch
 * (SVSM_SCRATCH). Keeping state in one section lets a fuzzer snapshot and restore the
 * whole core between inputs; ci/check-state.sh fails the build on an unmarked global.
 */
#define SVSM_STATE __attribute__((section("svsm_state")))
#define SVSM_SCRATCH __attribute__((section("svsm_scratch")))

/* Page sizes as PVALIDATE/RMPADJUST encode them (ECX/RCX). */
enum page_size {
	PAGE_SIZE_4K = 0,
	PAGE_SIZE_2M = 1,
};

#endif
