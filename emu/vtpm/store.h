/*
 * Where the vTPM keeps its state: one blob (the TPM's permanent state as libtpms
 * marshals it) and the manufacture marker, replaced as a whole. Every implementation
 * makes a save atomic: after a crash at any point, load() returns the previous state or
 * the new one, never a mix, and a damaged state is reported as such, never taken for an
 * empty one (that would re-manufacture the TPM and lose its seeds).
 *   vtpm_store_file_open  a directory in the host file system (svsm-emu tpm-server --state)
 *   vtpm_store_mem_new    memory of this process (tests; state lives as long as the store)
 * A later block-device store (storage issue) implements the same operations.
 */
#ifndef EMU_VTPM_STORE_H
#define EMU_VTPM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vtpm_store_result {
	VTPM_STORE_OK = 0,
	VTPM_STORE_EMPTY = 1,   /* load: no state was ever saved */
	VTPM_STORE_CORRUPT = 2, /* load: the stored state fails its checks */
	VTPM_STORE_IO = 3,      /* the medium failed (message in the store's error) */
};

struct vtpm_store;

struct vtpm_store_ops {
	/*
	 * The last state saved: *@blob (malloc'ed, the caller frees it; NULL when *@len is
	 * 0) and whether it was saved with the manufacture marker.
	 */
	enum vtpm_store_result (*load)(struct vtpm_store *s, uint8_t **blob, uint32_t *len, bool *manufactured);
	/* Replace the state atomically (and durably, for stores that outlive the process). */
	enum vtpm_store_result (*save)(struct vtpm_store *s, const uint8_t *blob, uint32_t len, bool manufactured);
	void (*close)(struct vtpm_store *s);
};

struct vtpm_store {
	const struct vtpm_store_ops *ops;
	uint64_t saves;   /* completed saves, for statistics and tests */
	char error[256];  /* the last failure, for messages */
};

/*
 * Open (creating it if needed, mode 0700) the state directory @dir and lock it against a
 * second user; NULL with a message in @err on failure (e.g. the directory is in use).
 * The state is the file vtpm-state in it.
 */
struct vtpm_store *vtpm_store_file_open(const char *dir, char *err, size_t err_size);

/* An empty store in memory. */
struct vtpm_store *vtpm_store_mem_new(void);

/*
 * Crash points of a file save, for the crash test: with SVSM_EMU_VTPM_CRASH_AT=N in the
 * environment, the process kills itself (SIGKILL) at the N-th crash point it reaches,
 * counting from 1 across saves. A save passes, in order: temporary file created, half
 * of it written, all of it written, temporary file synced, renamed over the state,
 * directory synced.
 */
#define VTPM_STORE_CRASH_POINTS_PER_SAVE 6

/* The file's layout (little-endian), for tests that damage it on purpose. */
#define VTPM_STORE_FILE "vtpm-state"
#define VTPM_STORE_TMP_FILE "vtpm-state.tmp"
#define VTPM_STORE_HEADER_SIZE 64u
#define VTPM_STORE_MAX_BLOB (1u << 20)

#endif
