/* The tpm-server command of svsm-emu. */
#ifndef EMU_CLI_TPM_SERVER_H
#define EMU_CLI_TPM_SERVER_H

/* argv[0] is "tpm-server"; returns the exit status. */
int tpm_server_main(int argc, char **argv);

#endif
