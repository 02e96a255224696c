/* Hosted malloc on the SVSM allocators (libsvsm-malloc.so): mmap span, growth, threads, fork. */
#include <errno.h>
#include <pthread.h>
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

/** Reserve the span and hand the first range to the core; false if that is impossible. */
static bool usermalloc_setup(void)
{
	u64 align = PAGE_2M_SIZE;
	u64 pages, meta_pages, first;
	void *p = MAP_FAILED;

	for (u64 size = USERMALLOC_SPAN_MAX; size >= USERMALLOC_SPAN_MIN && p == MAP_FAILED; size /= 2) {
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

		if (!usermalloc_ready()) {
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
