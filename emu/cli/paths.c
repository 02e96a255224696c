/* svsm-emu's data directories: images and fixtures, found without the source tree when installed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

/* What `make install` puts in the data directory, and what `svsm-emu paths` reports. */
static const char *const cli_paths_images[] = {"svsm.elf", "svsm.bin", "svsm-test.elf"};
#define CLI_PATHS_FIXTURES_DIR "fixtures"

static const char *const cli_paths_origin_names[] = {
	[CLI_PATHS_ENV] = "SVSM_EMU_DATADIR",
	[CLI_PATHS_INSTALLED] = "installed",
	[CLI_PATHS_BUILD] = "build tree",
	[CLI_PATHS_NONE] = "not found",
};

static bool cli_paths_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* @out = @a "/" @b; false if it does not fit. */
static bool cli_paths_join(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s/%s", a, b);

	return n >= 0 && (size_t)n < size;
}

bool cli_paths_lookup(const char *dir, const char *name, char *out, unsigned long size)
{
	if (!dir[0] || !cli_paths_join(out, size, dir, name)) {
		return false;
	}
	return access(out, R_OK) == 0;
}

/* A build tree: images beside the executable (build/) or one level up (build/san/). */
static bool cli_paths_build(struct cli_paths *p, const char *bindir)
{
	char dir[PATH_MAX], probe[PATH_MAX], src[PATH_MAX];

	for (int up = 0; up < 2; up++) {
		int n = snprintf(dir, sizeof(dir), "%s%s", bindir, up ? "/.." : "");
		if (n < 0 || (size_t)n >= sizeof(dir)) {
			return false;
		}
		/* The source tree is the build directory's parent: it has the Makefile and fixtures. */
		if (!cli_paths_join(src, sizeof(src), dir, "..") ||
		    !cli_paths_join(probe, sizeof(probe), src, "svsm/include/svsm/core.h") || access(probe, R_OK) != 0 ||
		    !cli_paths_join(probe, sizeof(probe), src, CLI_PATHS_FIXTURES_DIR) || !cli_paths_is_dir(probe)) {
			continue;
		}
		if (!realpath(dir, p->images) || !realpath(probe, p->fixtures)) {
			return false;
		}
		p->origin = CLI_PATHS_BUILD;
		return true;
	}
	return false;
}

int cli_paths_resolve(struct cli_paths *p, const char *exe, const char *env)
{
	char bindir[PATH_MAX], data[PATH_MAX];
	const char *slash;

	*p = (struct cli_paths){.origin = CLI_PATHS_NONE};
	if (env && env[0]) {
		if (strlen(env) >= sizeof(p->images) ||
		    !cli_paths_join(p->fixtures, sizeof(p->fixtures), env, CLI_PATHS_FIXTURES_DIR)) {
			*p = (struct cli_paths){.origin = CLI_PATHS_NONE};
			return -1;
		}
		strcpy(p->images, env);
		p->origin = CLI_PATHS_ENV;
		return 0;
	}
	slash = exe ? strrchr(exe, '/') : NULL;
	if (!slash || exe[0] != '/' || (size_t)(slash - exe) >= sizeof(bindir)) {
		return exe ? -1 : 0;
	}
	memcpy(bindir, exe, (size_t)(slash - exe));
	bindir[slash - exe] = '\0';

	/* Installed: <prefix>/bin/svsm-emu and <prefix>/share/svsm, wherever <prefix> is now. */
	if (!cli_paths_join(data, sizeof(data), bindir, "../share/svsm")) {
		return -1;
	}
	if (cli_paths_is_dir(data)) {
		char fixtures[PATH_MAX];

		if (!realpath(data, p->images)) {
			*p = (struct cli_paths){.origin = CLI_PATHS_NONE};
			return -1;
		}
		if (cli_paths_join(fixtures, sizeof(fixtures), p->images, CLI_PATHS_FIXTURES_DIR)) {
			strcpy(p->fixtures, fixtures);
		}
		p->origin = CLI_PATHS_INSTALLED;
		return 0;
	}
	if (!cli_paths_build(p, bindir)) {
		*p = (struct cli_paths){.origin = CLI_PATHS_NONE};
	}
	return 0;
}

static void cli_paths_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			printf("\\%c", c);
		} else if (c < 0x20) {
			printf("\\u%04x", c);
		} else {
			putchar(c);
		}
	}
	putchar('"');
}

/* See paths.h. */
bool cli_paths_fixtures(char *out, unsigned long size)
{
	struct cli_paths p;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		return false;
	}
	exe[n] = '\0';
	if (cli_paths_resolve(&p, exe, getenv("SVSM_EMU_DATADIR")) != 0 || !p.fixtures[0] ||
	    !cli_paths_is_dir(p.fixtures) || strlen(p.fixtures) >= size) {
		return false;
	}
	memcpy(out, p.fixtures, strlen(p.fixtures) + 1);
	return true;
}

int cli_paths_command(bool json)
{
	struct cli_paths p;
	char exe[PATH_MAX], path[PATH_MAX];
	char *found[3];
	const char *fixtures;
	bool all = true;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		fprintf(stderr, "svsm-emu: cannot tell where the executable is: %s\n", strerror(errno));
		return 1;
	}
	exe[n] = '\0';
	if (cli_paths_resolve(&p, exe, getenv("SVSM_EMU_DATADIR")) != 0) {
		fprintf(stderr, "svsm-emu: a data directory path is too long\n");
		return 1;
	}
	for (unsigned i = 0; i < 3; i++) {
		found[i] = cli_paths_lookup(p.images, cli_paths_images[i], path, sizeof(path)) ? strdup(path) : NULL;
		all = all && found[i];
	}
	fixtures = p.fixtures[0] && cli_paths_is_dir(p.fixtures) ? p.fixtures : NULL;
	all = all && fixtures;

	if (json) {
		printf("{\"origin\": ");
		cli_paths_json_str(cli_paths_origin_names[p.origin]);
		printf(", \"images\": ");
		cli_paths_json_str(p.images);
		for (unsigned i = 0; i < 3; i++) {
			printf(", ");
			cli_paths_json_str(cli_paths_images[i]);
			printf(": ");
			if (found[i]) {
				cli_paths_json_str(found[i]);
			} else {
				printf("null");
			}
		}
		printf(", \"fixtures\": ");
		if (fixtures) {
			cli_paths_json_str(fixtures);
		} else {
			printf("null");
		}
		printf(", \"complete\": %s}\n", all ? "true" : "false");
	} else {
		printf("data from     %s\n", cli_paths_origin_names[p.origin]);
		for (unsigned i = 0; i < 3; i++) {
			printf("%-13s %s\n", cli_paths_images[i], found[i] ? found[i] : "(missing)");
		}
		printf("%-13s %s\n", "fixtures", fixtures ? fixtures : "(missing)");
	}
	for (unsigned i = 0; i < 3; i++) {
		free(found[i]);
	}
	return all ? 0 : 1;
}
