/* The attestation commands of svsm-emu (emu/cli/attest.c): attest, verify, measure. */
#ifndef EMU_CLI_ATTEST_CLI_H
#define EMU_CLI_ATTEST_CLI_H

#include <stdbool.h>

/* True if @command is one of them. */
bool attest_cli_handles(const char *command);
/* Run @argv[0] (the command) with its options; returns the exit status. */
int attest_cli_main(int argc, char **argv);

#endif
