/* libsvsm-malloc's environment switches and its debug variant, each in a child process. */
#include "mm/mm_test.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The library reads SVSM_MALLOC_* once, when its heap is set up, so every configuration
 * runs in a fresh child: set the environment, dlopen the library, call its malloc through
 * dlsym, and report through the exit status; stderr goes to a file the test reads.
 */

struct env_api {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
};

#define CHILD_OK 0
#define CHILD_FAILED 1
#define CHILD_SETUP 2

static char err_path[512];

/** Run @fn in a child with @env ("NAME=VALUE", NULL-terminated) set and @so loaded; exit status or 128+signal. */
static int run_child(const char *so, const char *const *env, int (*fn)(const struct env_api *))
{
	pid_t pid;
	int status;

	snprintf(err_path, sizeof(err_path), "%s/mm_env.%d.err", MM_TMP_DIR, (int)getpid());
	mkdir(MM_TMP_DIR, 0755);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		struct env_api api;
		void *h;
		int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || dup2(fd, 2) < 0) {
			_exit(CHILD_SETUP);
		}
		unsetenv("SVSM_MALLOC_SPAN");
		unsetenv("SVSM_MALLOC_FAIL_NTH");
		unsetenv("SVSM_MALLOC_STATS");
		for (; env && *env; env++) {
			if (putenv((char *)*env) != 0) {
				_exit(CHILD_SETUP);
			}
		}
		h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			_exit(CHILD_SETUP);
		}
		*(void **)&api.malloc = dlsym(h, "malloc");
		*(void **)&api.free = dlsym(h, "free");
		*(void **)&api.calloc = dlsym(h, "calloc");
		*(void **)&api.realloc = dlsym(h, "realloc");
		if (!api.malloc || !api.free || !api.calloc || !api.realloc) {
			_exit(CHILD_SETUP);
		}
		/* exit(), not _exit(): the library's destructor prints the statistics. */
		exit(fn(&api));
	}
	if (waitpid(pid, &status, 0) != pid) {
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/** What the last child wrote to stderr (static buffer). */
static const char *child_stderr(void)
{
	static char buf[4096];
	FILE *f = fopen(err_path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* Some traffic, so that the heap exists and has statistics. */
static int child_small_traffic(const struct env_api *api)
{
	void *p[100];

	for (int i = 0; i < 100; i++) {
		p[i] = api->malloc((size_t)(i + 1) * 40);
		if (!p[i]) {
			return CHILD_FAILED;
		}
	}
	for (int i = 0; i < 100; i++) {
		api->free(p[i]);
	}
	return CHILD_OK;
}

/* Like coreutils: close stderr at exit, before the library's destructor runs. */
static void close_stderr(void)
{
	close(2);
}

static int child_traffic_then_close_stderr(const struct env_api *api)
{
	atexit(close_stderr);
	return child_small_traffic(api);
}

static void test_stats_only_when_asked(void **state)
{
	static const char *const on[] = {"SVSM_MALLOC_STATS=1", NULL};

	assert_int_equal(run_child(MM_PRELOAD_SO, NULL, child_small_traffic), CHILD_OK);
	assert_null(strstr(child_stderr(), "libsvsm-malloc:"));
	assert_int_equal(run_child(MM_PRELOAD_SO, on, child_small_traffic), CHILD_OK);
	const char *err = child_stderr();
	assert_non_null(strstr(err, "libsvsm-malloc: span "));
	assert_non_null(strstr(err, "libsvsm-malloc: pages in use"));
	assert_non_null(strstr(err, "libsvsm-malloc: heap  in use 0 KiB"));
	assert_non_null(strstr(err, ", 100 allocations, 0 failed"));
	/* Still printed when the program closed fd 2 on its way out. */
	assert_int_equal(run_child(MM_PRELOAD_SO, on, child_traffic_then_close_stderr), CHILD_OK);
	assert_non_null(strstr(child_stderr(), "libsvsm-malloc: heap  in use 0 KiB"));
}

/* Calls 1..6: malloc, calloc, realloc(NULL), malloc, realloc(p, bigger), malloc; the 3rd must fail. */
static int child_fail_third(const struct env_api *api)
{
	void *a, *b, *c, *d, *e, *f;

	a = api->malloc(10);
	b = api->calloc(2, 10);
	errno = 0;
	c = api->realloc(NULL, 30);
	if (!a || !b || c || errno != ENOMEM) {
		return CHILD_FAILED;
	}
	d = api->malloc(40);
	e = api->realloc(d, 5000);
	f = api->malloc(50);
	if (!d || !e || !f) {
		return CHILD_FAILED;
	}
	api->free(a);
	api->free(b);
	api->free(e);
	api->free(f);
	return CHILD_OK;
}

/* Without the switch, six calls all succeed. */
static int child_six_succeed(const struct env_api *api)
{
	void *p[6];

	for (int i = 0; i < 6; i++) {
		p[i] = i % 2 ? api->calloc(1, 64) : api->malloc(64);
		if (!p[i]) {
			return CHILD_FAILED;
		}
	}
	for (int i = 0; i < 6; i++) {
		api->free(p[i]);
	}
	return CHILD_OK;
}

/* With FAIL_NTH=4: call 4 (realloc of a live block) fails and leaves the block intact. */
static int child_realloc_fails_keeps_block(const struct env_api *api)
{
	unsigned char *a, *b, *c, *d;

	/* Calls 1..3 succeed (each checked on its own: cppcheck takes three calls of one
	 * function pointer for one value). */
	if (!(a = api->malloc(16)) || !(b = api->malloc(16)) || !(c = api->malloc(16))) {
		return CHILD_FAILED;
	}
	memset(a, 0x5a, 16);
	errno = 0;
	d = api->realloc(a, 100000);
	if (d || errno != ENOMEM || a[0] != 0x5a || a[15] != 0x5a) {
		return CHILD_FAILED;
	}
	d = api->realloc(a, 100000);
	if (!d || d[0] != 0x5a) {
		return CHILD_FAILED;
	}
	api->free(d);
	api->free(b);
	api->free(c);
	return CHILD_OK;
}

static void test_fail_nth(void **state)
{
	static const char *const third[] = {"SVSM_MALLOC_FAIL_NTH=3", NULL};
	static const char *const fourth[] = {"SVSM_MALLOC_FAIL_NTH=4", NULL};
	static const char *const bad[] = {"SVSM_MALLOC_FAIL_NTH=0", NULL};

	assert_int_equal(run_child(MM_PRELOAD_SO, third, child_fail_third), CHILD_OK);
	assert_int_equal(run_child(MM_PRELOAD_SO, NULL, child_six_succeed), CHILD_OK);
	assert_int_equal(run_child(MM_PRELOAD_SO, fourth, child_realloc_fails_keeps_block), CHILD_OK);
	/* The failure happens once: FAIL_NTH=3 then many more calls that succeed. */
	assert_int_equal(run_child(MM_PRELOAD_SO, third, child_fail_third), CHILD_OK);
	assert_int_equal(run_child(MM_PRELOAD_SO, bad, child_six_succeed), CHILD_OK);
	assert_non_null(strstr(child_stderr(), "ignoring SVSM_MALLOC_FAIL_NTH=0"));
}

/* 300 MiB must fail in a 256 MiB span, 100 MiB must not. */
static int child_span_256m(const struct env_api *api)
{
	void *p;

	errno = 0;
	p = api->malloc((size_t)300 << 20);
	if (p || errno != ENOMEM) {
		return CHILD_FAILED;
	}
	p = api->malloc((size_t)100 << 20);
	if (!p) {
		return CHILD_FAILED;
	}
	api->free(p);
	return CHILD_OK;
}

/* The default span takes 300 MiB. */
static int child_300m(const struct env_api *api)
{
	void *p = api->malloc((size_t)300 << 20);

	if (!p) {
		return CHILD_FAILED;
	}
	api->free(p);
	return CHILD_OK;
}

static void test_span_limits_the_heap(void **state)
{
	static const char *const span[] = {"SVSM_MALLOC_SPAN=256M", "SVSM_MALLOC_STATS=1", NULL};
	static const char *const garbage[] = {"SVSM_MALLOC_SPAN=12x", NULL};
	static const char *const tiny[] = {"SVSM_MALLOC_SPAN=64M", NULL};

	assert_int_equal(run_child(MM_PRELOAD_SO, span, child_span_256m), CHILD_OK);
	assert_non_null(strstr(child_stderr(), "libsvsm-malloc: span 256 MiB reserved"));
	assert_int_equal(run_child(MM_PRELOAD_SO, NULL, child_300m), CHILD_OK);
	/* Unusable values are reported and ignored: the default span is used. */
	assert_int_equal(run_child(MM_PRELOAD_SO, garbage, child_300m), CHILD_OK);
	assert_non_null(strstr(child_stderr(), "ignoring SVSM_MALLOC_SPAN=12x"));
	assert_int_equal(run_child(MM_PRELOAD_SO, tiny, child_300m), CHILD_OK);
	assert_non_null(strstr(child_stderr(), "ignoring SVSM_MALLOC_SPAN=64M: outside 128M..64G"));
}

/* Write into a freed small object, then allocate the same size again. */
static int child_write_after_free(const struct env_api *api)
{
	unsigned char *p = api->malloc(64), *q;

	if (!p) {
		return CHILD_FAILED;
	}
	api->free(p);
	p[20] = 0x11; /* deliberately after free: the debug library must notice */
	for (int i = 0; i < 64; i++) {
		q = api->malloc(64);
		if (!q) {
			return CHILD_FAILED;
		}
	}
	return CHILD_OK;
}

static void test_debug_library_catches_write_after_free(void **state)
{
	int rc = run_child(MM_PRELOAD_DEBUG_SO, NULL, child_write_after_free);

	assert_int_equal(rc, 128 + 6); /* SIGABRT */
	assert_non_null(strstr(child_stderr(), "libsvsm-malloc: "));
	assert_non_null(strstr(child_stderr(), "write after free"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_only_when_asked),
		cmocka_unit_test(test_fail_nth),
		cmocka_unit_test(test_span_limits_the_heap),
		cmocka_unit_test(test_debug_library_catches_write_after_free),
	};

	return cmocka_run_group_tests_name("mm_env", tests, NULL, NULL);
}
