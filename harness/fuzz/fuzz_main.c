/*
 * The driver every fuzz target links: libFuzzer/AFL++ entry points, and (without
 * FUZZ_ENGINE) a replay main that runs every file of the given files and directories
 * and prints cmocka-style summary lines, so that `make test` replays the corpora.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/*
 * The machine targets reset guest memory through a SIGSEGV handler (emu/snapshot.c):
 * ASan must let the program install it. libFuzzer chains to it by itself.
 */
const char *__asan_default_options(void)
{
	return "allow_user_segv_handler=1:detect_leaks=1";
}

struct fuzz_stats fuzz_counters;

/* Targets without a machine (the allocators) have no snapshot. */
__attribute__((weak)) void fuzz_snapshot_report(FILE *out)
{
}
static int fuzz_init_done;

/* FUZZ_STATS=1 under an engine: the snapshot's per-input averages when the process exits. */
static void fuzz_stats_at_exit(void)
{
	fuzz_snapshot_report(stderr);
}

/* Once per process: the target's own set-up (boot the machine, take the snapshot). */
static void fuzz_main_init(void)
{
	if (fuzz_init_done) {
		return;
	}
	fuzz_init_done = 1;
	if (fuzz_target.init && fuzz_target.init() != 0) {
		fprintf(stderr, "fuzz target %s: initialisation failed\n", fuzz_target.name);
		exit(2);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *stats = getenv("FUZZ_STATS");

	if (stats && stats[0] == '1') {
		atexit(fuzz_stats_at_exit);
	}
	fuzz_main_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_main_init();
	fuzz_target.run(data, size);
	return 0;
}

#ifndef FUZZ_ENGINE
static uint8_t fuzz_replay_buf[1 << 20];

/* Run the input in file @path; 0, or -1 if it cannot be read. */
static int fuzz_replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "%s: cannot open %s\n", fuzz_target.name, path);
		return -1;
	}
	size_t n = fread(fuzz_replay_buf, 1, sizeof(fuzz_replay_buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(fuzz_replay_buf, n);
	return 0;
}

/* Replay @path: a file, or every regular file of a directory (sorted). The count, or -1. */
static int fuzz_replay_path(const char *path)
{
	struct stat st;
	struct dirent **names;
	int count = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "%s: cannot stat %s\n", fuzz_target.name, path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		return fuzz_replay_file(path) == 0 ? 1 : -1;
	}
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char full[4096];
		snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
		if (count >= 0 && names[i]->d_name[0] != '.' && stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			count = fuzz_replay_file(full) == 0 ? count + 1 : -1;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

/*
 * Replay the given files and directories (the target's seed corpus if none), or with
 * --bench SECONDS PATH... replay them in a loop and print executions per second.
 */
int main(int argc, char **argv)
{
#ifdef FUZZ_CORPUS
	const char *fallback[] = {FUZZ_CORPUS};
#else
	const char *fallback[] = {"."};
#endif
	double bench = 0;
	int first = 1;

	if (argc > 2 && strcmp(argv[1], "--bench") == 0) {
		bench = atof(argv[2]);
		first = 3;
	}
	const char *const *paths = argc > first ? (const char *const *)argv + first : fallback;
	int npaths = argc > first ? argc - first : 1;
	int total = 0;

	fuzz_main_init();
	if (bench > 0) {
		struct timespec t0, t1;
		long rounds = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		double elapsed = 0;
		while (elapsed < bench) {
			for (int i = 0; i < npaths; i++) {
				int n = fuzz_replay_path(paths[i]);
				if (n < 0) {
					return 1;
				}
				total += n;
			}
			rounds++;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		}
		printf("%s: %d executions in %.2f s: %.0f exec/s (%ld rounds; file reads included)\n", fuzz_target.name,
		       total, elapsed, total / elapsed, rounds);
		fflush(stdout);
		fuzz_snapshot_report(stdout);
		return 0;
	}
	printf("[==========] Running 1 test(s).\n[ RUN      ] %s_replay\n", fuzz_target.name);
	for (int i = 0; i < npaths; i++) {
		int n = fuzz_replay_path(paths[i]);
		if (n < 0) {
			printf("[  FAILED  ] %s_replay\n[==========] 1 test(s) run.\n[  FAILED  ] 1 test(s).\n",
			       fuzz_target.name);
			return 1;
		}
		total += n;
	}
	if (total == 0) {
		printf("[  FAILED  ] %s_replay (no inputs)\n[==========] 1 test(s) run.\n[  FAILED  ] 1 test(s).\n",
		       fuzz_target.name);
		return 1;
	}
	const struct fuzz_stats *s = &fuzz_counters;
	char extra[200] = "";
	if (s->inputs) {
		/* Machine targets: what the oracles looked at. */
		snprintf(extra, sizeof(extra), ", %llu calls, %llu rejected calls checked unchanged, %llu leak checks",
			 (unsigned long long)s->calls, (unsigned long long)s->rejected_checked,
			 (unsigned long long)s->leak_checked);
	}
	printf("[       OK ] %s_replay (%d inputs%s)\n[==========] 1 test(s) run.\n[  PASSED  ] 1 test(s).\n",
	       fuzz_target.name, total, extra);
	return 0;
}
#endif
