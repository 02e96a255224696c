/*
 * The TPM bridge (mssim.h). One emulated machine with the SVSM booted and its VMPL1 guest
 * driver; clients speak the TPM simulator protocol (TpmTcpProtocol.h: big-endian u32
 * codes and lengths) on the command port P and the platform port P+1, on loopback only.
 *
 * Command port: SEND_COMMAND (8) goes through the guest's vTPM driver and the SVSM;
 * REMOTE_HANDSHAKE (15); SESSION_END (20) closes the connection; STOP (21) stops the server.
 * Platform port: POWER_ON (1, a reboot of the machine if it was off: the SVSM starts
 * again and the TPM reloads its stored state), POWER_OFF (2), CANCEL_ON/OFF (9/10: commands
 * run to completion before the next message is read, so there is nothing to cancel),
 * NV_ON (11), RESET (17, a reboot), SESSION_END, STOP.
 * Anything else is answered with a non-zero u32 and the connection is closed, as the
 * simulator does. A client that vanishes, or sends garbage, loses its connection only.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <svsm/svsm_abi.h>
#include <svsm/vtpm.h>

#include "engine.h"
#include "guest.h"
#include "machine.h"
#include "mssim.h"
#include "tpm_guest.h"

#define MSSIM_SEND_COMMAND 8u
#define MSSIM_POWER_ON 1u
#define MSSIM_POWER_OFF 2u
#define MSSIM_CANCEL_ON 9u
#define MSSIM_CANCEL_OFF 10u
#define MSSIM_NV_ON 11u
#define MSSIM_HANDSHAKE 15u
#define MSSIM_RESET 17u
#define MSSIM_SESSION_END 20u
#define MSSIM_STOP 21u
/* REMOTE_HANDSHAKE answer: server version 1; TPM platform available, raw mode. */
#define MSSIM_SERVER_VERSION 1u
#define MSSIM_ENDPOINT_FLAGS 0x05u

/* Largest TPM command a client may frame (bigger ones cannot be meant seriously). */
#define MSSIM_MAX_FRAME (64u * 1024u)
#define MSSIM_MAX_CONNS 16
#define MSSIM_WRITE_TIMEOUT_MS 5000
#define MSSIM_TICK_MS 1000

/* TPM response codes the bridge answers with itself. */
#define TPM_RC_FAILURE 0x101u
#define TPM_RC_COMMAND_SIZE 0x142u
#define TPM_RC_LOCALITY 0x907u

struct mssim_conn {
	int fd;
	bool platform;
	size_t have;
	u8 buf[9 + MSSIM_MAX_FRAME];
};

struct mssim_server {
	const struct mssim_config *cfg;
	int listen_fd[4]; /* IPv4 command, IPv4 platform, IPv6 command, IPv6 platform; -1 = none */
	unsigned port;
	struct mssim_conn *conns[MSSIM_MAX_CONNS];
	FILE *console;
	struct vtpm_store *store;
	struct emu_machine *m;
	struct emu_guest g;
	struct tpm_guest tpm;
	bool powered;
	bool stop;
	bool idle_error_reported;
	u64 last_idle_ms;
	u8 rsp[4 + VTPM_MAX_RESPONSE + 4]; /* a framed response */
};

static volatile sig_atomic_t mssim_signalled;

static void mssim_on_signal(int sig)
{
	mssim_signalled = sig;
}

static u64 mssim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000 + (u64)ts.tv_nsec / 1000000;
}

static u32 be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | (u32)p[3];
}

static void put_be32(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 24);
	p[1] = (u8)(v >> 16);
	p[2] = (u8)(v >> 8);
	p[3] = (u8)v;
}

/* --- sockets -------------------------------------------------------------------------- */

/* A listening socket on loopback; the fd, or -1 with errno set. */
static int mssim_listen(bool v6, unsigned port)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd < 0) {
		return -1;
	}
	/* Lets a restarted server take its port while old connections sit in TIME_WAIT; a live listener still conflicts. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	int rc;
	if (v6) {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((u16)port), .sin6_addr = in6addr_loopback};
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
	} else {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((u16)port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
	}
	if (rc != 0 || listen(fd, 8) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void mssim_close_listeners(struct mssim_server *s)
{
	for (int i = 0; i < 4; i++) {
		if (s->listen_fd[i] >= 0) {
			close(s->listen_fd[i]);
			s->listen_fd[i] = -1;
		}
	}
}

/*
 * Listen on @port and @port + 1, on 127.0.0.1 and (when the host has it) ::1, so that
 * "localhost" works whichever address a client resolves first. 0, or -1 with errno.
 */
static int mssim_listen_pair(struct mssim_server *s, unsigned port)
{
	for (int i = 0; i < 2; i++) {
		s->listen_fd[i] = mssim_listen(false, port + (unsigned)i);
		if (s->listen_fd[i] < 0) {
			int e = errno;
			mssim_close_listeners(s);
			errno = e;
			return -1;
		}
	}
	for (int i = 0; i < 2; i++) {
		s->listen_fd[2 + i] = mssim_listen(true, port + (unsigned)i);
		if (s->listen_fd[2 + i] < 0) {
			int e = errno;
			if (e == EAFNOSUPPORT || e == EADDRNOTAVAIL) {
				/* No IPv6 loopback here: IPv4 only. */
				if (s->listen_fd[2] >= 0) {
					close(s->listen_fd[2]);
					s->listen_fd[2] = -1;
				}
				break;
			}
			mssim_close_listeners(s);
			errno = e;
			return -1;
		}
	}
	s->port = port;
	return 0;
}

/* The fixed port, or a free pair picked at random. 0 or -1 (message printed). */
static int mssim_open_ports(struct mssim_server *s, unsigned port)
{
	if (port != 0) {
		if (port > 65534) {
			fprintf(stderr, "tpm-server: port %u: the platform port %u would not exist\n", port, port + 1);
			return -1;
		}
		if (mssim_listen_pair(s, port) != 0) {
			if (errno == EADDRINUSE) {
				fprintf(stderr, "tpm-server: port %u or %u is already in use (pick another with --port)\n",
					port, port + 1);
			} else {
				fprintf(stderr, "tpm-server: cannot listen on port %u/%u: %s\n", port, port + 1,
					strerror(errno));
			}
			return -1;
		}
		return 0;
	}
	for (int attempt = 0; attempt < 200; attempt++) {
		u16 r = 0;
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			r = (u16)(getpid() * 31 + attempt * 7919);
		}
		unsigned p = 20000 + (r % 20000u) * 2;
		if (mssim_listen_pair(s, p) == 0) {
			return 0;
		}
		if (errno != EADDRINUSE) {
			fprintf(stderr, "tpm-server: cannot listen on loopback: %s\n", strerror(errno));
			return -1;
		}
	}
	fprintf(stderr, "tpm-server: found no free pair of ports\n");
	return -1;
}

/* Write all of @len bytes to a non-blocking socket, waiting a bounded time. 0 or -1. */
static int mssim_send(int fd, const u8 *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			if (poll(&pfd, 1, MSSIM_WRITE_TIMEOUT_MS) > 0) {
				continue;
			}
		}
		return -1;
	}
	return 0;
}

static int mssim_send_u32(int fd, u32 v)
{
	u8 b[4];

	put_be32(b, v);
	return mssim_send(fd, b, sizeof(b));
}

static void mssim_drop(struct mssim_server *s, int i)
{
	if (s->cfg->verbose) {
		fprintf(stderr, "tpm-server: %s client disconnected\n", s->conns[i]->platform ? "platform" : "command");
	}
	close(s->conns[i]->fd);
	free(s->conns[i]);
	s->conns[i] = NULL;
}

/* --- the machine -------------------------------------------------------------------- */

/* (Re)boot the machine: the SVSM starts, and with it the TPM from its stored state. 0 or -1. */
static int mssim_boot(struct mssim_server *s)
{
	struct emu_config cfg;
	char err[256];

	if (s->m) {
		if (vtpm_idle(true) != 0) {
			struct emu_vtpm_stats st;
			emu_vtpm_get_stats(&st);
			fprintf(stderr, "tpm-server: %s\n", st.error);
			return -1;
		}
		emu_machine_destroy(s->m);
		s->m = NULL;
	}
	s->powered = false;
	emu_config_default(&cfg);
	cfg.console = s->console;
	s->m = emu_machine_create(&cfg, err, sizeof(err));
	if (!s->m) {
		fprintf(stderr, "tpm-server: cannot start the machine: %s\n", err);
		return -1;
	}
	if (!vtpm_present()) {
		struct emu_vtpm_stats st;
		emu_vtpm_get_stats(&st);
		fprintf(stderr, "tpm-server: the vTPM did not start: %s\n", st.error[0] ? st.error : "unknown reason");
		return -1;
	}
	if (guest_init(&s->g, s->m) != 0 || tpm_guest_init(&s->tpm, &s->g, 0) != TPM_GUEST_OK) {
		fprintf(stderr, "tpm-server: the guest found no vTPM\n");
		return -1;
	}
	s->powered = true;
	return 0;
}

/* --- messages ------------------------------------------------------------------------- */

/* Bytes the message at the start of @c->buf needs; 0 = not known yet, -1 = unacceptable. */
static long mssim_frame_size(const struct mssim_conn *c)
{
	if (c->have < 4) {
		return 0;
	}
	u32 code = be32(c->buf);
	if (!c->platform && code == MSSIM_SEND_COMMAND) {
		if (c->have < 9) {
			return 0;
		}
		u32 len = be32(c->buf + 5);
		return len > MSSIM_MAX_FRAME ? -1 : (long)(9 + len);
	}
	if (!c->platform && code == MSSIM_HANDSHAKE) {
		return 8;
	}
	return 4;
}

/* Answer a TPM command with a TPM error of the bridge's own. */
static int mssim_tpm_error(int fd, u32 rc)
{
	u8 out[4 + VTPM_TPM_HEADER_SIZE + 4];

	put_be32(out, VTPM_TPM_HEADER_SIZE);
	out[4] = 0x80;
	out[5] = 0x01;
	put_be32(out + 6, VTPM_TPM_HEADER_SIZE);
	put_be32(out + 10, rc);
	put_be32(out + 14, 0);
	return mssim_send(fd, out, sizeof(out));
}

/* SEND_COMMAND: through the guest driver and the SVSM. 0, or -1 to drop the client. */
static int mssim_send_command(struct mssim_server *s, struct mssim_conn *c)
{
	u8 locality = c->buf[4];
	u32 len = be32(c->buf + 5);
	u8 *out = s->rsp;
	u32 rsp_len = 0;

	if (!s->powered) {
		return mssim_tpm_error(c->fd, TPM_RC_FAILURE);
	}
	if (len > VTPM_MAX_COMMAND) {
		/* The guest's driver refuses it before any call (Linux: -EINVAL). */
		return mssim_tpm_error(c->fd, TPM_RC_COMMAND_SIZE);
	}
	int rc = tpm_guest_send(&s->tpm, locality, c->buf + 9, len, out + 4, VTPM_MAX_RESPONSE, &rsp_len);
	if (rc != TPM_GUEST_OK) {
		if (s->cfg->verbose || rc != TPM_GUEST_SVSM_ERROR) {
			fprintf(stderr, "tpm-server: vTPM command failed (driver status %d, SVSM rax 0x%llx)\n", rc,
				(unsigned long long)s->tpm.last_rax);
		}
		bool locality_refused = rc == TPM_GUEST_SVSM_ERROR && locality != 0 &&
					(u32)s->tpm.last_rax == SVSM_ERR_INVALID_PARAMETER;
		return mssim_tpm_error(c->fd, locality_refused ? TPM_RC_LOCALITY : TPM_RC_FAILURE);
	}
	put_be32(out, rsp_len);
	put_be32(out + 4 + rsp_len, 0);
	return mssim_send(c->fd, out, 4 + rsp_len + 4);
}

/* One complete message of @c. 0 = go on, 1 = close the connection, -1 = drop it. */
static int mssim_message(struct mssim_server *s, struct mssim_conn *c)
{
	u32 code = be32(c->buf);

	if (code == MSSIM_SESSION_END) {
		return 1;
	}
	if (code == MSSIM_STOP) {
		s->stop = true;
		mssim_send_u32(c->fd, 0);
		return 1;
	}
	if (!c->platform) {
		if (code == MSSIM_SEND_COMMAND) {
			return mssim_send_command(s, c);
		}
		if (code == MSSIM_HANDSHAKE) {
			u8 out[12];
			if (be32(c->buf + 4) == 0) {
				return -1;
			}
			put_be32(out, MSSIM_SERVER_VERSION);
			put_be32(out + 4, MSSIM_ENDPOINT_FLAGS);
			put_be32(out + 8, 0);
			return mssim_send(c->fd, out, sizeof(out));
		}
	} else {
		switch (code) {
		case MSSIM_POWER_ON:
			if (!s->powered && mssim_boot(s) != 0) {
				mssim_send_u32(c->fd, 1);
				s->stop = true;
				return 1;
			}
			return mssim_send_u32(c->fd, 0);
		case MSSIM_POWER_OFF:
			s->powered = false;
			return mssim_send_u32(c->fd, 0);
		case MSSIM_RESET:
			if (mssim_boot(s) != 0) {
				mssim_send_u32(c->fd, 1);
				s->stop = true;
				return 1;
			}
			return mssim_send_u32(c->fd, 0);
		case MSSIM_CANCEL_ON:
		case MSSIM_CANCEL_OFF:
		case MSSIM_NV_ON:
			return mssim_send_u32(c->fd, 0);
		default:
			break;
		}
	}
	if (s->cfg->verbose) {
		fprintf(stderr, "tpm-server: unsupported %s command %u\n", c->platform ? "platform" : "TPM-port", code);
	}
	mssim_send_u32(c->fd, 1);
	return 1;
}

/* Read what the client sent and handle every complete message. */
static void mssim_readable(struct mssim_server *s, int i)
{
	struct mssim_conn *c = s->conns[i];
	ssize_t n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);

	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
		/* Gone, possibly in the middle of a message: its partial command is dropped. */
		mssim_drop(s, i);
		return;
	}
	if (n < 0) {
		return;
	}
	c->have += (size_t)n;
	for (;;) {
		long need = mssim_frame_size(c);
		if (need < 0) {
			mssim_drop(s, i);
			return;
		}
		if (need == 0 || c->have < (size_t)need) {
			/*
			 * Part of a message: the client writes the rest separately (tpm2-tss sends a
			 * command's header and body in two writes). Acknowledge now, or its Nagle
			 * algorithm holds the rest back for our delayed-ACK period (tens of ms).
			 */
			if (c->have > 0) {
				int one = 1;
				setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
			}
			return;
		}
		int r = mssim_message(s, c);
		if (r != 0) {
			mssim_drop(s, i);
			return;
		}
		memmove(c->buf, c->buf + need, c->have - (size_t)need);
		c->have -= (size_t)need;
	}
}

static void mssim_accept(struct mssim_server *s, int lfd, bool platform)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int one = 1;

	if (fd < 0) {
		return;
	}
	for (int i = 0; i < MSSIM_MAX_CONNS; i++) {
		if (!s->conns[i]) {
			s->conns[i] = calloc(1, sizeof(struct mssim_conn));
			if (!s->conns[i]) {
				break;
			}
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			s->conns[i]->fd = fd;
			s->conns[i]->platform = platform;
			if (s->cfg->verbose) {
				fprintf(stderr, "tpm-server: %s client connected\n", platform ? "platform" : "command");
			}
			return;
		}
	}
	close(fd);
}

/* --- the server ------------------------------------------------------------------------ */

static void mssim_loop(struct mssim_server *s)
{
	struct pollfd pfd[4 + MSSIM_MAX_CONNS];
	int owner[4 + MSSIM_MAX_CONNS];

	while (!s->stop && !mssim_signalled) {
		int n = 0;
		for (int i = 0; i < 4; i++) {
			if (s->listen_fd[i] >= 0) {
				pfd[n] = (struct pollfd){.fd = s->listen_fd[i], .events = POLLIN};
				owner[n++] = -1 - i;
			}
		}
		for (int i = 0; i < MSSIM_MAX_CONNS; i++) {
			if (s->conns[i]) {
				pfd[n] = (struct pollfd){.fd = s->conns[i]->fd, .events = POLLIN};
				owner[n++] = i;
			}
		}
		int ready = poll(pfd, (nfds_t)n, MSSIM_TICK_MS);
		if (ready < 0 && errno != EINTR) {
			fprintf(stderr, "tpm-server: poll: %s\n", strerror(errno));
			return;
		}
		/* Deferred state writes whose time has come (looked at when idle, at most every tick). */
		if (ready > 0 && mssim_now_ms() - s->last_idle_ms < MSSIM_TICK_MS) {
			goto events;
		}
		s->last_idle_ms = mssim_now_ms();
		if (vtpm_idle(false) != 0 && !s->idle_error_reported) {
			struct emu_vtpm_stats st;
			emu_vtpm_get_stats(&st);
			fprintf(stderr, "tpm-server: %s; the TPM refuses every command from now on\n", st.error);
			s->idle_error_reported = true;
		}
events:
		for (int k = 0; ready > 0 && k < n && !s->stop; k++) {
			if (!pfd[k].revents) {
				continue;
			}
			if (owner[k] < 0) {
				int li = -1 - owner[k];
				mssim_accept(s, pfd[k].fd, (li & 1) != 0);
			} else if (s->conns[owner[k]] && s->conns[owner[k]]->fd == pfd[k].fd) {
				mssim_readable(s, owner[k]);
			}
		}
	}
}

/* See mssim.h. */
int mssim_serve(const struct mssim_config *cfg)
{
	/* Cache-line aligned: its per-vCPU parts are laid out a line each (calloc gives 16 bytes). */
	struct mssim_server *s = aligned_alloc(64, ALIGN_UP(sizeof(*s), 64));
	if (s) {
		memset(s, 0, sizeof(*s));
	}
	int status = MSSIM_EXIT_OK;
	char err[256];

	if (!s) {
		fprintf(stderr, "tpm-server: out of memory\n");
		return MSSIM_EXIT_START;
	}
	s->cfg = cfg;
	for (int i = 0; i < 4; i++) {
		s->listen_fd[i] = -1;
	}
	if (cfg->console && strcmp(cfg->console, "-") == 0) {
		s->console = stderr;
	} else if (cfg->console) {
		s->console = fopen(cfg->console, "w");
		if (!s->console) {
			fprintf(stderr, "tpm-server: cannot open console file %s: %s\n", cfg->console, strerror(errno));
			free(s);
			return MSSIM_EXIT_START;
		}
	}
	if (cfg->state_dir) {
		s->store = vtpm_store_file_open(cfg->state_dir, err, sizeof(err));
		if (!s->store) {
			fprintf(stderr, "tpm-server: %s\n", err);
			status = MSSIM_EXIT_START;
			goto out;
		}
	}
	if (mssim_open_ports(s, cfg->port) != 0) {
		status = MSSIM_EXIT_PORT;
		goto out;
	}
	emu_vtpm_set_store(s->store);
	if (mssim_boot(s) != 0) {
		status = MSSIM_EXIT_START;
		goto out;
	}

	struct sigaction sa = {.sa_handler = mssim_on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("tpm-server: listening on 127.0.0.1%s port %u (platform port %u), state %s\n",
	       s->listen_fd[2] >= 0 ? " and ::1" : "", s->port, s->port + 1,
	       cfg->state_dir ? cfg->state_dir : "in memory (lost at exit)");
	fflush(stdout);
	mssim_loop(s);
	if (cfg->verbose) {
		fprintf(stderr, "tpm-server: stopping (%s)\n", mssim_signalled ? "signal" : "STOP command");
	}
out:
	for (int i = 0; i < MSSIM_MAX_CONNS; i++) {
		if (s->conns[i]) {
			close(s->conns[i]->fd);
			free(s->conns[i]);
		}
	}
	mssim_close_listeners(s);
	if (s->m) {
		if (vtpm_idle(true) != 0) {
			struct emu_vtpm_stats st;
			emu_vtpm_get_stats(&st);
			fprintf(stderr, "tpm-server: %s\n", st.error);
			status = MSSIM_EXIT_STATE;
		}
		emu_machine_destroy(s->m);
	}
	emu_vtpm_shutdown();
	emu_vtpm_set_store(NULL);
	if (s->store) {
		s->store->ops->close(s->store);
	}
	if (s->console && s->console != stderr) {
		fclose(s->console);
	}
	free(s);
	return status;
}
