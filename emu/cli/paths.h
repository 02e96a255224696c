/* Where svsm-emu finds its images and fixtures: installed, in a build tree, or where told. */
#ifndef EMU_CLI_PATHS_H
#define EMU_CLI_PATHS_H

#include <limits.h>
#include <stdbool.h>

/* Where the directories were found. */
enum cli_paths_origin {
	CLI_PATHS_ENV,       /* $SVSM_EMU_DATADIR */
	CLI_PATHS_INSTALLED, /* <bindir>/../share/svsm next to the executable */
	CLI_PATHS_BUILD,     /* the build directory and the source tree around the executable */
	CLI_PATHS_NONE,      /* nothing found */
};

struct cli_paths {
	enum cli_paths_origin origin;
	char images[PATH_MAX];   /* directory of svsm.elf, svsm.bin, svsm-test.elf ("" if none) */
	char fixtures[PATH_MAX]; /* directory of the fixtures (fuzz corpora...) ("" if none) */
};

/*
 * Resolve the data directories for the executable at @exe (an absolute path, normally
 * /proc/self/exe resolved) and the value of $SVSM_EMU_DATADIR @env (NULL if unset): @env
 * wins; then an installed layout <exe dir>/../share/svsm; then a build tree (images in the
 * executable's directory or its parent, fixtures in the source tree above it). Never the
 * current directory. Returns 0, or -1 if a path does not fit (then @p says CLI_PATHS_NONE).
 */
int cli_paths_resolve(struct cli_paths *p, const char *exe, const char *env);

/* Full path of image or fixture @name under @dir in @out; false if it is not a readable file or directory. */
bool cli_paths_lookup(const char *dir, const char *name, char *out, unsigned long size);

/*
 * The fixtures directory of this executable (resolved as cli_paths_resolve does, from
 * /proc/self/exe and $SVSM_EMU_DATADIR) in @out; false if there is none.
 */
bool cli_paths_fixtures(char *out, unsigned long size);

/* `svsm-emu paths`: print where everything is; 0 if all was found, 1 if not. */
int cli_paths_command(bool json);

#endif
