/* Hosted malloc on the SVSM allocators (libsvsm-malloc.so): mmap span, growth, threads, fork. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <svsm/mm.h>
#include <svsm/panic.h>
#include <svsm/spinlock.h>

/* The allocator's spinlocks back off through the arch layer: a waiting thread yields. */
void arch_spin_backoff(void)
{
	sched_yield();
}

/*
 * The allocator sources are the SVSM core's, unchanged. This file plays the platform:
 * it reserves one large span of address space (MAP_NORESERVE, so untouched pages cost
 * nothing), hands the core the first 64 MiB of it plus room for the metadata array,
 * and adds further ranges whenever an allocation fails. Each thread gets a cache slot
 * number, as a vCPU would. Only the malloc family is exported; the core's symbols are
 * hidden so they cannot collide with the program's.
 */

#define USERMALLOC_EXPORT __attribute__((visibility("default")))
#define USERMALLOC_CHUNK ((u64)64 << 20)
#define USERMALLOC_SPAN_MAX ((u64)64 << 30)
#define USERMALLOC_SPAN_MIN ((u64)1 << 30)
#define USERMALLOC_SPAN_ENV_MIN ((u64)128 << 20) /* smallest SVSM_MALLOC_SPAN accepted */

enum usermalloc_state {
	USERMALLOC_UNINIT,
	USERMALLOC_READY,
	USERMALLOC_BROKEN,
};

static struct spinlock usermalloc_lock = SPINLOCK_INIT; /* setup and growth */
static int usermalloc_state;
static u8 *usermalloc_span;
static u64 usermalloc_span_size;
static u64 usermalloc_used;       /* bytes of the span handed to the core so far */
static u64 usermalloc_generation; /* bumped by every growth */
static unsigned usermalloc_threads;
static __thread unsigned usermalloc_thread_id;

/*
 * Switches from the environment (libsvsm-malloc(3)), read once when the heap is set up:
 * SVSM_MALLOC_SPAN   the address space reserved (a hard limit on the heap), K/M/G suffixes;
 * SVSM_MALLOC_FAIL_NTH  the n-th allocation call of the process fails with ENOMEM (once);
 * SVSM_MALLOC_STATS  print the allocators' statistics to stderr at exit.
 * A value that cannot be used is reported on stderr and ignored.
 */
static u64 usermalloc_span_env;   /* 0: not set, try 64 GiB down to 1 GiB */
static u64 usermalloc_fail_nth;   /* 0: no injected failure */
static u64 usermalloc_call_count; /* allocation calls so far (only counted with FAIL_NTH) */
static bool usermalloc_stats_at_exit;
static int usermalloc_stats_fd = -1; /* stderr as it was at setup: programs may close fd 2 at exit */

/** Print the reason and abort: a corrupted heap must not keep running. */
void svsm_panic(const char *fmt, ...)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "libsvsm-malloc: ");
	va_list ap;

	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2) {
		n = (int)sizeof(buf) - 2;
	}
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		abort();
	}
	abort();
}

/** Cache slot of the calling thread: threads are numbered in order of first use. */
static unsigned usermalloc_cpu_index(void)
{
	if (usermalloc_thread_id == 0) {
		usermalloc_thread_id = __atomic_add_fetch(&usermalloc_threads, 1, __ATOMIC_RELAXED);
	}
	return usermalloc_thread_id - 1;
}

/** Fork handlers: no allocator lock may be held by a thread that does not exist in the child. */
static void usermalloc_prefork(void)
{
	spin_lock(&usermalloc_lock);
	mm_lock_all();
}

/** Release what usermalloc_prefork() took, in parent and child alike. */
static void usermalloc_postfork(void)
{
	mm_unlock_all();
	spin_unlock(&usermalloc_lock);
}

/** Write @len bytes of @msg to stderr, ignoring errors (there is nobody to tell). */
static void usermalloc_say(const char *msg, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, msg, len);
		if (n <= 0) {
			return;
		}
		msg += n;
		len -= (size_t)n;
	}
}

/** Warn that environment variable @name=@value is ignored, and why. */
static void usermalloc_env_ignored(const char *name, const char *value, const char *why)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "libsvsm-malloc: ignoring %s=%.64s: %s\n", name, value, why);

	if (n > 0) {
		usermalloc_say(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	}
}

/**
 * Parse @s as a decimal number of bytes with an optional K, M or G suffix (powers of 1024)
 * into @out; false if it is not one or overflows. No allocation: this runs inside malloc.
 */
static bool usermalloc_parse_size(const char *s, u64 *out)
{
	u64 v = 0, mul = 1;

	if (*s < '0' || *s > '9') {
		return false;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (u64)(*s - '0'), &v)) {
			return false;
		}
	}
	switch (*s) {
	case 'k': case 'K': mul = (u64)1 << 10; s++; break;
	case 'm': case 'M': mul = (u64)1 << 20; s++; break;
	case 'g': case 'G': mul = (u64)1 << 30; s++; break;
	default: break;
	}
	if (*s != '\0' || __builtin_mul_overflow(v, mul, &v)) {
		return false;
	}
	*out = v;
	return true;
}

/** Read the SVSM_MALLOC_* switches (before the heap exists: nothing here may allocate). */
static void usermalloc_read_env(void)
{
	const char *v;
	u64 n;

	v = getenv("SVSM_MALLOC_SPAN");
	if (v && *v) {
		if (!usermalloc_parse_size(v, &n)) {
			usermalloc_env_ignored("SVSM_MALLOC_SPAN", v, "not a size (digits, then K, M or G)");
		} else if (n < USERMALLOC_SPAN_ENV_MIN || n > USERMALLOC_SPAN_MAX) {
			usermalloc_env_ignored("SVSM_MALLOC_SPAN", v, "outside 128M..64G");
		} else {
			usermalloc_span_env = n & ~(PAGE_2M_SIZE - 1);
		}
	}
	v = getenv("SVSM_MALLOC_FAIL_NTH");
	if (v && *v) {
		if (!usermalloc_parse_size(v, &n) || n == 0 || v[strlen(v) - 1] > '9') {
			usermalloc_env_ignored("SVSM_MALLOC_FAIL_NTH", v, "not a positive number");
		} else {
			usermalloc_fail_nth = n;
		}
	}
	v = getenv("SVSM_MALLOC_STATS");
	usermalloc_stats_at_exit = v && *v && strcmp(v, "0") != 0;
	if (usermalloc_stats_at_exit) {
		/* coreutils close stderr in an atexit handler, before library destructors run. */
		usermalloc_stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
	}
}

/** Whether this allocation call is the one SVSM_MALLOC_FAIL_NTH asked to fail. */
static bool usermalloc_injected_failure(void)
{
	if (usermalloc_fail_nth == 0) {
		return false;
	}
	return __atomic_add_fetch(&usermalloc_call_count, 1, __ATOMIC_RELAXED) == usermalloc_fail_nth;
}

/** Append "<name> in use N KiB, peak N KiB, ..." for one allocator to @buf at @n. */
static int usermalloc_stats_line(char *buf, int n, int size, const char *name, const struct mm_allocator_stats *a)
{
	int m = snprintf(buf + n, (size_t)(size - n),
			 "libsvsm-malloc: %-5s in use %llu KiB, free %llu KiB, peak %llu KiB, %llu allocations, "
			 "%llu failed\n",
			 name, (unsigned long long)(a->in_use >> 10), (unsigned long long)(a->free >> 10),
			 (unsigned long long)(a->peak >> 10), (unsigned long long)a->alloc_count,
			 (unsigned long long)a->fail_count);

	return m < 0 || m >= size - n ? size - 1 : n + m;
}

/** SVSM_MALLOC_STATS: the allocators' statistics on stderr when the program ends. */
__attribute__((destructor)) static void usermalloc_print_stats(void)
{
	struct mm_stats st;
	char buf[1024];
	int n;

	if (!usermalloc_stats_at_exit || usermalloc_stats_fd < 0 ||
	    __atomic_load_n(&usermalloc_state, __ATOMIC_ACQUIRE) != USERMALLOC_READY) {
		return;
	}
	mm_get_stats(&st);
	n = snprintf(buf, sizeof(buf), "libsvsm-malloc: span %llu MiB reserved, %llu MiB handed to the allocator\n",
		     (unsigned long long)(usermalloc_span_size >> 20), (unsigned long long)(usermalloc_used >> 20));
	if (n < 0 || n >= (int)sizeof(buf)) {
		return;
	}
	n = usermalloc_stats_line(buf, n, (int)sizeof(buf), "pages", &st.page);
	n = usermalloc_stats_line(buf, n, (int)sizeof(buf), "slab", &st.slab);
	n = usermalloc_stats_line(buf, n, (int)sizeof(buf), "heap", &st.heap);
	for (const char *p = buf; n > 0;) {
		ssize_t w = write(usermalloc_stats_fd, p, (size_t)n);
		if (w <= 0) {
			break;
		}
		p += w;
		n -= (int)w;
	}
}

/** Reserve the span and hand the first range to the core; false if that is impossible. */
static bool usermalloc_setup(void)
{
	u64 align = PAGE_2M_SIZE;
	u64 pages, meta_pages, first;
	u64 max = USERMALLOC_SPAN_MAX, min = USERMALLOC_SPAN_MIN;
	void *p = MAP_FAILED;

	usermalloc_read_env();
	if (usermalloc_span_env) {
		max = min = usermalloc_span_env;
	}
	for (u64 size = max; size >= min && p == MAP_FAILED; size /= 2) {
		p = mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
		usermalloc_span_size = size;
	}
	if (p == MAP_FAILED) {
		return false;
	}
	/* 2 MiB alignment lets every 2 MiB of a range be one buddy block. */
	usermalloc_span = (u8 *)ALIGN_UP((uintptr_t)p, align);
	if (mm_init(usermalloc_span, usermalloc_span_size) != 0) {
		return false;
	}
	mm_set_cpu_hook(usermalloc_cpu_index);
	/* Same formula as the core: 16 bytes per page, plus one bit per metadata page. */
	pages = usermalloc_span_size / PAGE_SIZE;
	meta_pages = pages * 16 / PAGE_SIZE;
	meta_pages += (meta_pages / 8 + PAGE_SIZE - 1) / PAGE_SIZE;
	first = ALIGN_UP(meta_pages * PAGE_SIZE + USERMALLOC_CHUNK, align);
	if (mm_add_memory(usermalloc_span, first / PAGE_SIZE, false) != 0) {
		return false;
	}
	usermalloc_used = first;
	return true;
}

/** Make sure the allocator is set up; false if it cannot be. */
static bool usermalloc_ready(void)
{
	bool fork_handlers = false;
	int state = __atomic_load_n(&usermalloc_state, __ATOMIC_ACQUIRE);

	if (state == USERMALLOC_READY) {
		return true;
	}
	if (state == USERMALLOC_BROKEN) {
		return false;
	}
	spin_lock(&usermalloc_lock);
	if (usermalloc_state == USERMALLOC_UNINIT) {
		state = usermalloc_setup() ? USERMALLOC_READY : USERMALLOC_BROKEN;
		__atomic_store_n(&usermalloc_state, state, __ATOMIC_RELEASE);
		fork_handlers = state == USERMALLOC_READY;
	}
	state = usermalloc_state;
	spin_unlock(&usermalloc_lock);
	/* Registered outside the lock: pthread_atfork may itself allocate. */
	if (fork_handlers) {
		pthread_atfork(usermalloc_prefork, usermalloc_postfork, usermalloc_postfork);
	}
	return state == USERMALLOC_READY;
}

/*
 * An allocation of @size aligned to @align failed at generation @gen: add a range big
 * enough for it, unless another thread already grew the heap since. False when the span
 * is used up.
 */
static bool usermalloc_grow(size_t size, size_t align, u64 gen)
{
	u64 need, chunk;
	bool ok = false;

	if (size > usermalloc_span_size || align > usermalloc_span_size / 2) {
		return false;
	}
	need = ALIGN_UP((u64)size + (align > PAGE_SIZE ? align : 0) + PAGE_SIZE, PAGE_2M_SIZE);
	chunk = MAX(need, USERMALLOC_CHUNK);
	spin_lock(&usermalloc_lock);
	if (usermalloc_generation != gen) {
		ok = true;
	} else {
		if (usermalloc_used + chunk > usermalloc_span_size) {
			chunk = usermalloc_span_size - usermalloc_used;
		}
		if (chunk >= need &&
		    mm_add_memory(usermalloc_span + usermalloc_used, chunk / PAGE_SIZE, false) == 0) {
			usermalloc_used += chunk;
			__atomic_add_fetch(&usermalloc_generation, 1, __ATOMIC_RELEASE);
			ok = true;
		}
	}
	spin_unlock(&usermalloc_lock);
	return ok;
}

/** Generation of the heap's size, read before an attempt. */
static u64 usermalloc_gen(void)
{
	return __atomic_load_n(&usermalloc_generation, __ATOMIC_ACQUIRE);
}

/** mem_alloc_aligned(@align, @size), growing the heap as needed; sets errno on failure. */
static void *usermalloc_alloc(size_t align, size_t size, bool zero)
{
	for (;;) {
		u64 gen;
		void *p;

		if (!usermalloc_ready() || usermalloc_injected_failure()) {
			break;
		}
		gen = usermalloc_gen();
		if (align <= 16) {
			p = zero ? mem_zalloc(size) : mem_alloc(size);
		} else {
			p = mem_alloc_aligned(align, size);
			if (p && zero) {
				memset(p, 0, size);
			}
		}
		if (p) {
			return p;
		}
		if (!usermalloc_grow(size, align, gen)) {
			break;
		}
	}
	errno = ENOMEM;
	return NULL;
}

/** malloc(3). */
USERMALLOC_EXPORT void *malloc(size_t size)
{
	return usermalloc_alloc(16, size, false);
}

/** free(3). */
USERMALLOC_EXPORT void free(void *ptr)
{
	if (ptr) {
		mem_free(ptr);
	}
}

/** calloc(3), with the multiplication checked. */
USERMALLOC_EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return usermalloc_alloc(16, total, true);
}

/** realloc(3) without going through the exported (interposable) symbols. */
static void *usermalloc_realloc(void *ptr, size_t size)
{
	if (!ptr) {
		return usermalloc_alloc(16, size, false);
	}
	if (size == 0) {
		mem_free(ptr);
		return NULL;
	}
	if (usermalloc_injected_failure()) {
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		u64 gen = usermalloc_gen();
		void *p = mem_realloc(ptr, size);

		if (p) {
			return p;
		}
		if (!usermalloc_grow(size, 16, gen)) {
			errno = ENOMEM;
			return NULL;
		}
	}
}

/** realloc(3): realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL. */
USERMALLOC_EXPORT void *realloc(void *ptr, size_t size)
{
	return usermalloc_realloc(ptr, size);
}

/** reallocarray(3). */
USERMALLOC_EXPORT void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return usermalloc_realloc(ptr, total);
}

/** posix_memalign(3): EINVAL unless @align is a power of two multiple of sizeof(void *). */
USERMALLOC_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)) != 0) {
		return EINVAL;
	}
	p = usermalloc_alloc(align, size, false);
	if (!p) {
		return ENOMEM;
	}
	*out = p;
	return 0;
}

/** aligned_alloc(3): NULL and EINVAL unless @align is a power of two. */
USERMALLOC_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (align == 0 || (align & (align - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	return usermalloc_alloc(align, size, false);
}

/** memalign(3): like glibc, an alignment that is not a power of two is rounded up to one. */
USERMALLOC_EXPORT void *memalign(size_t align, size_t size)
{
	size_t a = 16;

	while (a < align && a != 0) {
		a <<= 1;
	}
	if (a == 0) {
		errno = EINVAL;
		return NULL;
	}
	return usermalloc_alloc(a, size, false);
}

/** valloc(3): page aligned. */
USERMALLOC_EXPORT void *valloc(size_t size)
{
	return usermalloc_alloc(PAGE_SIZE, size, false);
}

/** pvalloc(3): page aligned, size rounded up to whole pages (at least one). */
USERMALLOC_EXPORT void *pvalloc(size_t size)
{
	size_t rounded = ALIGN_UP(size ? size : 1, (size_t)PAGE_SIZE);

	if (rounded < size) {
		errno = ENOMEM;
		return NULL;
	}
	return usermalloc_alloc(PAGE_SIZE, rounded, false);
}

/** malloc_usable_size(3): the size requested for @ptr (0 for NULL). */
USERMALLOC_EXPORT size_t malloc_usable_size(void *ptr)
{
	return mem_usable_size(ptr);
}
