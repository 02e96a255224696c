/*
 * The few memory/string routines the core uses. Declared here so core code never
 * includes libc headers; defined by svsm/lib/string.c in freestanding builds and by
 * the C library in the hosted (emulator) build.
 */
#ifndef SVSM_STRING_H
#define SVSM_STRING_H

#include <svsm/types.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
