/*
 * The TPM bridge (svsm-emu tpm-server): a TPM simulator ("mssim") socket server on
 * loopback whose every TPM command takes the full path of a guest's vTPM command: the
 * guest driver (emu/vtpm/tpm_guest.c) writes SVSM_VTPM_CMD's buffer at VMPL1, the SVSM
 * checks and forwards it, and libtpms executes it. docs/vtpm.md has the protocol subset.
 */
#ifndef EMU_VTPM_MSSIM_H
#define EMU_VTPM_MSSIM_H

#include <stdbool.h>

struct mssim_config {
	const char *state_dir; /* the TPM's state directory; NULL = a volatile TPM */
	unsigned port;         /* command port, platform port + 1; 0 = pick a free pair */
	const char *console;   /* the SVSM console: NULL = discard, "-" = stderr, else a file */
	bool verbose;          /* one line per client and per failed command on stderr */
};

/* Exit statuses of mssim_serve. */
#define MSSIM_EXIT_OK 0
#define MSSIM_EXIT_START 3 /* the machine or the TPM could not start */
#define MSSIM_EXIT_PORT 4  /* a port is taken or no socket could be opened */
#define MSSIM_EXIT_STATE 5 /* the TPM's state could not be saved when stopping */

/*
 * Serve until SIGINT, SIGTERM or a STOP command; prints "tpm-server: listening on
 * 127.0.0.1 port P (platform port P+1)" on stdout once clients can connect.
 */
int mssim_serve(const struct mssim_config *cfg);

#endif
