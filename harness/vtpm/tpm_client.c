/* TPM servers as child processes and the TPM clients of the vTPM harness (tpm_client.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tpm_client.h"

#define IO_TIMEOUT_MS 120000

#ifndef VTPM_SVSM_EMU
#define VTPM_SVSM_EMU "build/svsm-emu"
#endif

const char *tpm_svsm_emu(void)
{
	return VTPM_SVSM_EMU;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- server processes ---------------------------------------------------------------- */

/* Fork and exec @argv with stdout to @out_fd (or /dev/null) and stderr appended to s->log. */
static pid_t spawn(struct tpm_server *s, char *const argv[], const char *const *env, int out_fd, int pipe_rd)
{
	int log_fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* The server must not outlive the suite, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(127);
		}
		int null_fd = open("/dev/null", O_RDWR);
		dup2(null_fd, 0);
		dup2(out_fd >= 0 ? out_fd : null_fd, 1);
		dup2(log_fd, 2);
		if (pipe_rd >= 0) {
			close(pipe_rd);
		}
		for (const char *const *e = env; e && *e; e++) {
			putenv((char *)*e);
		}
		execv(argv[0], argv);
		fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(log_fd);
	return pid;
}

static void set_log(struct tpm_server *s, const char *log)
{
	snprintf(s->log, sizeof(s->log), "%s", log);
}

/* See tpm_client.h. */
int tpm_server_start(struct tpm_server *s, const char *state_dir, const char *log, const char *const *env)
{
	int p[2];
	char *argv[8];
	int n = 0;

	memset(s, 0, sizeof(*s));
	s->pid = -1;
	set_log(s, log);
	if (pipe2(p, O_CLOEXEC) != 0) {
		return -1;
	}
	argv[n++] = (char *)VTPM_SVSM_EMU;
	argv[n++] = (char *)"tpm-server";
	argv[n++] = (char *)"--port";
	argv[n++] = (char *)"0";
	if (state_dir) {
		argv[n++] = (char *)"--state";
		argv[n++] = (char *)state_dir;
	}
	argv[n] = NULL;
	/* The child's stdout must survive exec: give it a descriptor without CLOEXEC. */
	int out_fd = dup(p[1]);
	s->pid = spawn(s, argv, env, out_fd, p[0]);
	close(out_fd);
	close(p[1]);
	if (s->pid < 0) {
		close(p[0]);
		return -1;
	}
	char line[512];
	size_t have = 0;
	double deadline = now_s() + 30;
	while (have < sizeof(line) - 1) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		int left = (int)((deadline - now_s()) * 1000);
		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			break;
		}
		ssize_t r = read(p[0], line + have, sizeof(line) - 1 - have);
		if (r <= 0) {
			break;
		}
		have += (size_t)r;
		line[have] = 0;
		const char *at = strstr(line, " port ");
		if (at && strchr(at, '\n')) {
			s->port = (unsigned)strtoul(at + 6, NULL, 10);
			close(p[0]);
			return s->port ? 0 : -1;
		}
	}
	close(p[0]);
	/* It said nothing: either it exited (its status is kept) or it hangs (killed). */
	for (int i = 0; i < 100 && tpm_server_reap(s) < 0; i++) {
		usleep(10000);
	}
	tpm_server_kill(s);
	return -1;
}

/* Two adjacent ports nobody listens on right now (racy by nature; fine for a benchmark). */
static unsigned free_port_pair(void)
{
	for (int attempt = 0; attempt < 200; attempt++) {
		uint16_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			r = (uint16_t)(getpid() + attempt * 7919);
		}
		unsigned port = 20000 + (r % 20000u) * 2;
		int ok = 1;
		for (unsigned i = 0; i < 2 && ok; i++) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(port + i)),
						.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
			if (fd >= 0) {
				close(fd);
			}
		}
		if (ok) {
			return port;
		}
	}
	return 0;
}

static int connect_port(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	if (fd < 0) {
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* See tpm_client.h. */
int tpm_swtpm_start(struct tpm_server *s, const char *state_dir, const char *log)
{
	char server[64], ctrl[64], state[600];

	memset(s, 0, sizeof(*s));
	s->pid = -1;
	set_log(s, log);
	s->port = free_port_pair();
	if (!s->port) {
		return -1;
	}
	snprintf(server, sizeof(server), "type=tcp,port=%u,bindaddr=127.0.0.1", s->port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%u,bindaddr=127.0.0.1", s->port + 1);
	snprintf(state, sizeof(state), "dir=%s", state_dir);
	char *argv[] = {(char *)"/usr/bin/swtpm", (char *)"socket", (char *)"--tpm2", (char *)"--server", server,
			(char *)"--ctrl", ctrl, (char *)"--tpmstate", state, (char *)"--flags",
			(char *)"not-need-init,startup-clear", NULL};
	s->pid = spawn(s, argv, NULL, -1, -1);
	if (s->pid < 0) {
		return -1;
	}
	double deadline = now_s() + 30;
	while (now_s() < deadline) {
		int fd = connect_port(s->port);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (tpm_server_reap(s) >= 0) {
			return -1;
		}
		usleep(10000);
	}
	tpm_server_kill(s);
	return -1;
}

/* See tpm_client.h. */
int tpm_server_reap(struct tpm_server *s)
{
	int status;

	if (s->pid <= 0) {
		return 0;
	}
	pid_t r = waitpid(s->pid, &status, WNOHANG);
	if (r == s->pid) {
		s->pid = -1;
		s->wait_status = status;
		return status;
	}
	return -1;
}

/* See tpm_client.h. */
int tpm_server_stop(struct tpm_server *s)
{
	int status = 0;

	if (s->pid <= 0) {
		return -1;
	}
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(s->pid, &status, WNOHANG);
		if (r == s->pid) {
			s->pid = -1;
			s->wait_status = status;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		usleep(10000);
	}
	tpm_server_kill(s);
	return -1;
}

/* See tpm_client.h. */
void tpm_server_kill(struct tpm_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &s->wait_status, 0);
		s->pid = -1;
	}
}

/* --- connections ---------------------------------------------------------------------- */

static int send_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, uint8_t *p, size_t len)
{
	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = poll(&pfd, 1, IO_TIMEOUT_MS);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			return -1;
		}
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* @len bytes of the command connection's stream, through its receive buffer. 0 or -1. */
static int conn_recv(struct tpm_conn *c, uint8_t *p, size_t len)
{
	while (len > 0) {
		if (c->rbuf_off == c->rbuf_len) {
			c->rbuf_off = c->rbuf_len = 0;
			struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
			int r = poll(&pfd, 1, IO_TIMEOUT_MS);
			if (r < 0 && errno == EINTR) {
				continue;
			}
			if (r <= 0) {
				return -1;
			}
			ssize_t n = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
			if (n < 0 && errno == EINTR) {
				continue;
			}
			if (n <= 0) {
				return -1;
			}
			c->rbuf_len = (size_t)n;
		}
		size_t take = c->rbuf_len - c->rbuf_off;
		if (take > len) {
			take = len;
		}
		memcpy(p, c->rbuf + c->rbuf_off, take);
		c->rbuf_off += take;
		p += take;
		len -= take;
	}
	return 0;
}

/* See tpm_client.h. */
long tpm_platform(struct tpm_conn *c, uint32_t code)
{
	uint8_t b[4];

	if (c->platform_fd < 0) {
		return -1;
	}
	put_be32(b, code);
	if (send_all(c->platform_fd, b, 4) != 0 || recv_all(c->platform_fd, b, 4) != 0) {
		return -1;
	}
	return (long)get_be32(b);
}

/* See tpm_client.h. */
int tpm_connect(struct tpm_conn *c, unsigned port, enum tpm_framing framing)
{
	c->framing = framing;
	c->platform_fd = -1;
	c->rbuf_off = c->rbuf_len = 0;
	c->fd = connect_port(port);
	if (c->fd < 0) {
		return -1;
	}
	if (framing == TPM_FRAMING_MSSIM) {
		c->platform_fd = connect_port(port + 1);
		if (c->platform_fd < 0 || tpm_platform(c, 1) != 0 || tpm_platform(c, 11) != 0) {
			tpm_disconnect(c);
			return -1;
		}
	}
	return 0;
}

/* See tpm_client.h. */
void tpm_disconnect(struct tpm_conn *c)
{
	uint8_t end[4];

	put_be32(end, 20);
	if (c->fd >= 0) {
		if (c->framing == TPM_FRAMING_MSSIM) {
			send_all(c->fd, end, 4);
		}
		close(c->fd);
		c->fd = -1;
	}
	if (c->platform_fd >= 0) {
		send_all(c->platform_fd, end, 4);
		close(c->platform_fd);
		c->platform_fd = -1;
	}
}

/* See tpm_client.h. */
int tpm_send_raw(struct tpm_conn *c, const void *buf, size_t len)
{
	return send_all(c->fd, buf, len);
}

/* See tpm_client.h. */
int tpm_transact_send(struct tpm_conn *c, uint8_t locality, const uint8_t *cmd, size_t len)
{
	if (c->framing == TPM_FRAMING_MSSIM) {
		/* One write per command, as with the raw framing. */
		static uint8_t frame[9 + 65536];
		if (len > sizeof(frame) - 9) {
			return -1;
		}
		put_be32(frame, 8);
		frame[4] = locality;
		put_be32(frame + 5, (uint32_t)len);
		memcpy(frame + 9, cmd, len);
		return send_all(c->fd, frame, 9 + len);
	}
	return send_all(c->fd, cmd, len);
}

/* See tpm_client.h. */
int tpm_transact_recv(struct tpm_conn *c, uint8_t *rsp, size_t rsp_size, size_t *rsp_len)
{
	uint8_t hdr[4];

	*rsp_len = 0;
	if (c->framing == TPM_FRAMING_MSSIM) {
		if (conn_recv(c, hdr, 4) != 0) {
			return -1;
		}
		uint32_t n = get_be32(hdr);
		if (n > rsp_size || conn_recv(c, rsp, n) != 0 || conn_recv(c, hdr, 4) != 0 || get_be32(hdr) != 0) {
			return -1;
		}
		*rsp_len = n;
		return 0;
	}
	if (rsp_size < 10 || conn_recv(c, rsp, 10) != 0) {
		return -1;
	}
	uint32_t n = get_be32(rsp + 2);
	if (n < 10 || n > rsp_size || conn_recv(c, rsp + 10, n - 10) != 0) {
		return -1;
	}
	*rsp_len = n;
	return 0;
}

/* See tpm_client.h. */
int tpm_transact(struct tpm_conn *c, uint8_t locality, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t rsp_size,
		 size_t *rsp_len)
{
	*rsp_len = 0;
	if (tpm_transact_send(c, locality, cmd, len) != 0) {
		return -1;
	}
	return tpm_transact_recv(c, rsp, rsp_size, rsp_len);
}
