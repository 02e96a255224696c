/* Real programs (python3, sort) on libsvsm-malloc.so via LD_PRELOAD, and its malloc API. */
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
 * The library is built without sanitizers even in SANITIZE=1 and TSAN=1 builds: it is
 * preloaded into python3 and sort, which are not sanitized either.
 */

/**
 * Run @argv with stdout to @out (and stdin from @in if not NULL), with LD_PRELOAD of the
 * library if @preload. Returns the exit status, or -1.
 */
static int run(char *const argv[], const char *in, const char *out, bool preload)
{
	pid_t pid = fork();
	int status;

	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0) {
			_exit(126);
		}
		if (in) {
			int ifd = open(in, O_RDONLY);

			if (ifd < 0 || dup2(ifd, 0) < 0) {
				_exit(126);
			}
		}
		unsetenv("LD_PRELOAD");
		if (preload) {
			setenv("LD_PRELOAD", MM_PRELOAD_SO, 1);
		}
		setenv("LC_ALL", "C", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid) {
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/** Whether the files at @a and @b have identical bytes. */
static bool same_file(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	bool same = fa && fb;
	int ca, cb;

	while (same) {
		ca = getc(fa);
		cb = getc(fb);
		same = ca == cb;
		if (ca == EOF) {
			break;
		}
	}
	if (fa) {
		fclose(fa);
	}
	if (fb) {
		fclose(fb);
	}
	return same;
}

/** Size of the file at @path, or -1. */
static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void test_python_dicts_and_lists(void **state)
{
	char *argv[] = {"python3", MM_SOURCE_DIR "/harness/mm/preload_workload.py", NULL};
	const char *ref = MM_TMP_DIR "/python-glibc.out", *got = MM_TMP_DIR "/python-svsm.out";

	assert_int_equal(run(argv, NULL, ref, false), 0);
	assert_int_equal(run(argv, NULL, got, true), 0);
	assert_true(file_size(ref) > 100);
	assert_true(same_file(ref, got));
}

/** Write a deterministic ~20 MB text file of short and long lines to @path. */
static void make_sort_input(const char *path)
{
	FILE *f = fopen(path, "w");
	unsigned long long x = 88172645463325252ull;
	long long written = 0;

	assert_non_null(f);
	while (written < 20 * 1000 * 1000) {
		int len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = fprintf(f, "%llx %llu %.*s\n", x % 100000007, x >> 40, (int)(x % 61),
			      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
		assert_true(len > 0);
		written += len;
	}
	assert_int_equal(fclose(f), 0);
}

static void test_sort_large_file(void **state)
{
	const char *in = MM_TMP_DIR "/sort-input.txt";
	const char *ref = MM_TMP_DIR "/sort-glibc.out", *got = MM_TMP_DIR "/sort-svsm.out";
	const char *got2 = MM_TMP_DIR "/sort-svsm-parallel.out";
	char *argv[] = {"sort", (char *)in, NULL};
	char *argv_par[] = {"sort", "--parallel=4", "-S", "50%", (char *)in, NULL};

	make_sort_input(in);
	assert_true(file_size(in) >= 20 * 1000 * 1000);
	assert_int_equal(run(argv, NULL, ref, false), 0);
	assert_int_equal(run(argv, NULL, got, true), 0);
	assert_int_equal(file_size(ref), file_size(in));
	assert_true(same_file(ref, got));
	/* Several sorting threads at once on the same heap. */
	assert_int_equal(run(argv_par, NULL, got2, true), 0);
	assert_true(same_file(ref, got2));
	unlink(in);
	unlink(got);
	unlink(got2);
}

static void test_coreutils_pipeline(void **state)
{
	char *argv[] = {"sh", "-c", "seq 1 300000 | tac | sort -n | uniq -c | sort -k2,2nr | head -c 100000 | wc",
			NULL};
	const char *ref = MM_TMP_DIR "/pipe-glibc.out", *got = MM_TMP_DIR "/pipe-svsm.out";

	assert_int_equal(run(argv, NULL, ref, false), 0);
	assert_int_equal(run(argv, NULL, got, true), 0);
	assert_true(same_file(ref, got));
}

/* The library's entry points, looked up with dlsym so the test's own malloc stays glibc's. */
struct api {
	void *handle;
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*usable)(void *);
};

static struct api api;

/** Load the library once for the API tests. */
static int load_api(void **state)
{
	api.handle = dlopen(MM_PRELOAD_SO, RTLD_NOW | RTLD_LOCAL);
	if (!api.handle) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return -1;
	}
	*(void **)&api.malloc = dlsym(api.handle, "malloc");
	*(void **)&api.free = dlsym(api.handle, "free");
	*(void **)&api.calloc = dlsym(api.handle, "calloc");
	*(void **)&api.realloc = dlsym(api.handle, "realloc");
	*(void **)&api.posix_memalign = dlsym(api.handle, "posix_memalign");
	*(void **)&api.aligned_alloc = dlsym(api.handle, "aligned_alloc");
	*(void **)&api.memalign = dlsym(api.handle, "memalign");
	*(void **)&api.valloc = dlsym(api.handle, "valloc");
	*(void **)&api.pvalloc = dlsym(api.handle, "pvalloc");
	*(void **)&api.usable = dlsym(api.handle, "malloc_usable_size");
	return 0;
}

static void test_api_edge_cases(void **state)
{
	void *a, *b, *p;
	unsigned char *z;

	a = api.malloc(0);
	b = api.malloc(0);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	api.free(a);
	api.free(b);
	api.free(NULL);
	p = api.realloc(NULL, 100);
	assert_non_null(p);
	assert_int_equal(api.usable(p), 100);
	assert_null(api.realloc(p, 0));
	assert_int_equal(api.usable(NULL), 0);
	errno = 0;
	assert_null(api.calloc(SIZE_MAX / 2, 3));
	assert_int_equal(errno, ENOMEM);
	z = api.calloc(1000, 1000);
	assert_non_null(z);
	for (int i = 0; i < 1000 * 1000; i += 997) {
		assert_int_equal(z[i], 0);
	}
	api.free(z);
	errno = 0;
	assert_null(api.malloc((size_t)1 << 50));
	assert_int_equal(errno, ENOMEM);
}

static void test_api_alignment(void **state)
{
	void *p = NULL;

	assert_int_equal(api.posix_memalign(&p, 3, 10), EINVAL);
	assert_int_equal(api.posix_memalign(&p, 4, 10), EINVAL);
	assert_int_equal(api.posix_memalign(&p, 4096, 10), 0);
	assert_int_equal((uintptr_t)p % 4096, 0);
	api.free(p);
	p = api.aligned_alloc(64, 100);
	assert_int_equal((uintptr_t)p % 64, 0);
	api.free(p);
	errno = 0;
	assert_null(api.aligned_alloc(24, 100));
	assert_int_equal(errno, EINVAL);
	p = api.memalign(48, 10);
	assert_int_equal((uintptr_t)p % 64, 0);
	api.free(p);
	p = api.valloc(10);
	assert_int_equal((uintptr_t)p % 4096, 0);
	api.free(p);
	p = api.pvalloc(10);
	assert_int_equal((uintptr_t)p % 4096, 0);
	assert_int_equal(api.usable(p), 4096);
	api.free(p);
	p = api.memalign(1 << 22, 5000);
	assert_int_equal((uintptr_t)p % (1 << 22), 0);
	api.free(p);
}

static void test_api_large_and_growth(void **state)
{
	/* Far beyond the first 64 MiB range: the library must add ranges. */
	size_t n = (size_t)300 << 20;
	unsigned char *p = api.malloc(n), *q;

	assert_non_null(p);
	p[0] = 1;
	p[n - 1] = 2;
	q = api.realloc(p, n + (100 << 20));
	assert_non_null(q);
	assert_int_equal(q[0], 1);
	assert_int_equal(q[n - 1], 2);
	api.free(q);
	for (int i = 0; i < 100; i++) {
		void *r = api.malloc((size_t)(i + 1) << 20);

		assert_non_null(r);
		api.free(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_dicts_and_lists),
		cmocka_unit_test(test_sort_large_file),
		cmocka_unit_test(test_coreutils_pipeline),
		cmocka_unit_test(test_api_edge_cases),
		cmocka_unit_test(test_api_alignment),
		cmocka_unit_test(test_api_large_and_growth),
	};

	mkdir(MM_TMP_DIR, 0755);
	return cmocka_run_group_tests_name("mm_preload", tests, load_api, NULL);
}
