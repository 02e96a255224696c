/*
 * TPM clients of the vTPM harness: start and stop `svsm-emu tpm-server` (or any mssim or
 * swtpm server) as a child process, and talk to it over TCP with the TPM simulator
 * framing or the raw framing of swtpm's data channel. One client code for every server,
 * so that the benchmark compares like with like.
 */
#ifndef HARNESS_VTPM_TPM_CLIENT_H
#define HARNESS_VTPM_TPM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The svsm-emu binary of this build (mk/vtpm.mk passes its path). */
const char *tpm_svsm_emu(void);

struct tpm_server {
	pid_t pid;
	unsigned port;   /* command port; platform (mssim) or control (swtpm) port is port + 1 */
	char log[512];   /* the server's stderr goes here */
	int wait_status; /* once reaped (pid -1): its wait status */
};

/*
 * Start `svsm-emu tpm-server --port 0 --state @state_dir` (NULL: no --state) with @env
 * (NULL-terminated "NAME=value" strings added to the environment, or NULL) and wait
 * until it listens; its stderr is appended to @log. The child dies with the calling
 * process (PR_SET_PDEATHSIG). 0, or -1 (the server exited or said nothing within 30 s).
 */
int tpm_server_start(struct tpm_server *s, const char *state_dir, const char *log, const char *const *env);

/*
 * Start `swtpm socket --tpm2` on a free pair of ports (command, control) with its state
 * in @state_dir and its stderr appended to @log, TPM2_Startup(CLEAR) sent by swtpm
 * itself. 0 or -1.
 */
int tpm_swtpm_start(struct tpm_server *s, const char *state_dir, const char *log);

/* SIGTERM, wait up to 10 s, then SIGKILL. The exit status (0-255), or -1 if it was killed. */
int tpm_server_stop(struct tpm_server *s);
/* SIGKILL and reap. */
void tpm_server_kill(struct tpm_server *s);
/* Reap the server if it has exited: its wait status, or -1 if it is still running. */
int tpm_server_reap(struct tpm_server *s);

enum tpm_framing {
	TPM_FRAMING_MSSIM, /* the TPM simulator protocol: {8, locality, size, cmd} -> {size, rsp, 0} */
	TPM_FRAMING_RAW,   /* swtpm's data channel: the command and response bytes alone */
};

struct tpm_conn {
	int fd;
	int platform_fd; /* mssim: the platform connection (POWER_ON, NV_ON); -1 otherwise */
	enum tpm_framing framing;
	/* Bytes received and not consumed yet: a response is read with as few calls as possible. */
	size_t rbuf_off, rbuf_len;
	uint8_t rbuf[8192];
};

/*
 * Connect to 127.0.0.1:@port; with the mssim framing also to @port + 1, sending
 * POWER_ON and NV_ON as tpm2-tss does. 0 or -1.
 */
int tpm_connect(struct tpm_conn *c, unsigned port, enum tpm_framing framing);
/* SESSION_END (mssim) and close. */
void tpm_disconnect(struct tpm_conn *c);

/*
 * One TPM command: 0 with the response in @rsp (*@rsp_len bytes), or -1 if the
 * connection failed (the server is gone, or broke the framing).
 */
int tpm_transact(struct tpm_conn *c, uint8_t locality, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t rsp_size,
		 size_t *rsp_len);

/* tpm_transact in two halves (the crash test acts between them). 0 or -1. */
int tpm_transact_send(struct tpm_conn *c, uint8_t locality, const uint8_t *cmd, size_t len);
int tpm_transact_recv(struct tpm_conn *c, uint8_t *rsp, size_t rsp_size, size_t *rsp_len);

/* mssim only: one platform-port command (no payload); its u32 answer, or -1. */
long tpm_platform(struct tpm_conn *c, uint32_t code);

/* Send raw bytes on the command connection (protocol tests). 0 or -1. */
int tpm_send_raw(struct tpm_conn *c, const void *buf, size_t len);

#endif
