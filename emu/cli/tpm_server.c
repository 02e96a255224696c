/* svsm-emu tpm-server: the TPM simulator (mssim) socket bridge to the SVSM's vTPM (emu/vtpm/mssim.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpm_server.h"
#include "vtpm/mssim.h"

static void tpm_server_usage(FILE *out)
{
	fprintf(out,
		"usage: svsm-emu tpm-server [--port P] [--state DIR] [--console FILE] [--verbose]\n"
		"\n"
		"Boot an emulated machine with the SVSM and serve its vTPM on loopback with the TPM\n"
		"simulator protocol: TPM commands on port P, platform commands on port P+1. Every\n"
		"command is sent by the VMPL1 guest through SVSM_VTPM_CMD and executed by libtpms.\n"
		"  tpm2_getrandom -T mssim:host=127.0.0.1,port=P 8\n"
		"\n"
		"  --port P          command port (default 2321; 0 = pick a free pair and print it)\n"
		"  --state DIR       keep the TPM's state in DIR (created if needed; default: in\n"
		"                    memory, lost at exit)\n"
		"  --console FILE    the SVSM's serial console ('-' = stderr; default: discarded)\n"
		"  --verbose         log clients and failed commands on stderr\n"
		"\n"
		"Stops on SIGINT, SIGTERM or the simulator's STOP command. Exit status: 0 stopped\n"
		"cleanly, 2 bad usage, 3 the machine or the TPM could not start, 4 a port is taken,\n"
		"5 the TPM's state could not be saved when stopping.\n");
}

/* See tpm_server.h. */
int tpm_server_main(int argc, char **argv)
{
	struct mssim_config cfg = {.port = 2321};

	for (int i = 1; i < argc && argv[i]; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			tpm_server_usage(stdout);
			return 0;
		} else if (!strcmp(a, "--port") && val) {
			char *end;
			errno = 0;
			unsigned long p = strtoul(val, &end, 10);
			if (errno || end == val || *end || p > 65534) {
				fprintf(stderr, "svsm-emu tpm-server: --port needs a number from 0 to 65534\n");
				return 2;
			}
			cfg.port = (unsigned)p;
			i++;
		} else if (!strcmp(a, "--state") && val) {
			cfg.state_dir = val;
			i++;
		} else if (!strcmp(a, "--console") && val) {
			cfg.console = val;
			i++;
		} else if (!strcmp(a, "--verbose")) {
			cfg.verbose = true;
		} else {
			fprintf(stderr, "svsm-emu tpm-server: unexpected argument '%s' (try --help)\n", a);
			return 2;
		}
	}
	return mssim_serve(&cfg);
}
