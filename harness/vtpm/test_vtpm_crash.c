/*
 * Crash safety of the vTPM's state: `svsm-emu tpm-server` is killed (SIGKILL) at random
 * points, at least VTPM_CRASH_KILLS times (default 210), during NV-heavy command streams
 * (NV_DefineSpace/NV_Write/NV_Increment/NV_UndefineSpace, CreatePrimary + EvictControl,
 * PCR_Extend). Two kinds of kills: by this process a random time after it sent a
 * command (within about one command's time), and by the server itself at a random crash
 * point inside a state save (SVSM_EMU_VTPM_CRASH_AT,
 * emu/vtpm/store.h), which also reaches the manufacture of a new TPM when the state
 * directory is wiped (every 25th cycle). Some cycles end with SIGTERM instead.
 *
 * After every restart: the TPM must start (TPM2_Startup succeeds) and every NV index,
 * the counter and the persistent key must hold a state they were allowed to hold: what
 * every acknowledged command left (a response means durable), or, for the one command
 * in flight when the server died, its outcome. PCRs start over.
 * VTPM_CRASH_SEED=n replays a run (the seed is printed).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test_common.h"
#include "tpm_client.h"
#include "tpm_cmd.h"
#include "vtpm/store.h"

#define NV_COUNT 3
#define NV_BASE 0x01500100u
#define NV_COUNTER 0x01500200u
#define PERSISTENT 0x81000100u
#define TPM_RC_HANDLE_1 0x18Bu /* TPM_RC_HANDLE for handle 1 */
#define UNWRITTEN (~0ull)
#define VTPM_RSP_MAX 4096

/* What one entity may hold: present or not, and its value (UNWRITTEN = defined, never written). */
struct slot {
	bool exists;
	u64 value;
};

/* The model: the certain state, and the outcome of the command in flight, if any. */
struct model {
	struct slot nv[NV_COUNT];
	struct slot counter;
	bool persistent;
	/* In flight: which entity (-1 none, 0..NV_COUNT-1, NV_COUNT counter, NV_COUNT + 1 key) and its outcome. */
	int pending;
	struct slot pending_slot;
	bool pending_any_value; /* the counter's first increment: its value is the TPM's choice */
};

struct run {
	char dir[64];
	char state[128];
	char log[128];
	u64 rng;
	struct model m;
	struct tpm_server server;
	struct tpm_conn conn;
	unsigned kills, crash_point_kills, timed_kills, idle_kills, terms, cycles, wipes, verified;
	u64 acked_ops;
	double op_seconds; /* average time of a command, for the kill delays */
	bool kill_armed;   /* the next command is sent, then the server killed after a random delay */
	bool kill_fired;
};

static u64 rnd(struct run *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

static unsigned rnd_below(struct run *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noreturn)) static void fail_with_log(struct run *r, const char *what)
{
	char cmd[256];

	fprintf(stderr, "crash test: %s (cycle %u, seed printed above); server log %s:\n", what, r->cycles, r->log);
	snprintf(cmd, sizeof(cmd), "tail -n 20 %s >&2", r->log);
	if (system(cmd) != 0) {
		fprintf(stderr, "(no log)\n");
	}
	fail_msg("%s", what);
	abort(); /* not reached: fail_msg ends the test */
}

static void spin_for(double seconds)
{
	double until = now_s() + seconds;

	while (now_s() < until) {
	}
}

/*
 * One command; 0 with the response code in *rc, or -1 if the server is gone. An armed
 * kill lands after the command is sent, within about one command's time: while the
 * server executes or saves it, or just after.
 */
static int cmd(struct run *r, const u8 *c, size_t n, u8 *rsp, size_t *rsp_len, u32 *rc)
{
	double t0 = now_s();

	if (tpm_transact_send(&r->conn, 0, c, n) != 0) {
		return -1;
	}
	if (r->kill_armed) {
		r->kill_armed = false;
		spin_for((double)rnd_below(r, 1000) / 1000.0 * 1.2 * r->op_seconds);
		kill(r->server.pid, SIGKILL);
		r->kill_fired = true;
	}
	if (tpm_transact_recv(&r->conn, rsp, VTPM_RSP_MAX, rsp_len) != 0) {
		return -1;
	}
	r->op_seconds = 0.95 * r->op_seconds + 0.05 * (now_s() - t0);
	*rc = tc_rc(rsp, *rsp_len);
	return 0;
}

/* --- checking a restarted TPM against the model ------------------------------------------- */

static bool slot_equal(struct slot a, struct slot b)
{
	return a.exists == b.exists && (!a.exists || a.value == b.value);
}

/* What @index holds now; -1 if the server went away. */
static int observe_nv(struct run *r, u32 index, bool counter, struct slot *out)
{
	u8 c[TC_MAX], rsp[VTPM_RSP_MAX];
	size_t n;
	u32 rc;

	if (cmd(r, c, tc_get_handles(c, index), rsp, &n, &rc) != 0) {
		return -1;
	}
	int has = tc_handles_contain(rsp, n, index);
	if (rc != 0 || has < 0) {
		fail_with_log(r, "GetCapability(handles) failed");
	}
	out->exists = has == 1;
	out->value = UNWRITTEN;
	if (!out->exists) {
		return 0;
	}
	if (cmd(r, c, tc_nv_read(c, index, 8, 0), rsp, &n, &rc) != 0) {
		return -1;
	}
	if (rc == TPM_RC_NV_UNINITIALIZED) {
		return 0;
	}
	const u8 *data;
	size_t len;
	if (rc != 0 || tc_nv_read_data(rsp, n, &data, &len) != 0 || len != 8) {
		fail_with_log(r, counter ? "the counter cannot be read" : "an NV index cannot be read");
	}
	out->value = 0;
	for (int i = 0; i < 8; i++) {
		out->value = out->value << 8 | data[i];
	}
	return 0;
}

/* Compare with the model; the state found becomes the model's. -1 if the server went away. */
static int verify(struct run *r)
{
	struct model *m = &r->m;
	u8 c[TC_MAX], rsp[VTPM_RSP_MAX];
	size_t n;
	u32 rc;
	char msg[256];

	for (int i = 0; i <= NV_COUNT; i++) {
		struct slot got;
		bool is_counter = i == NV_COUNT;
		if (observe_nv(r, is_counter ? NV_COUNTER : NV_BASE + (u32)i, is_counter, &got) != 0) {
			return -1;
		}
		struct slot *cur = is_counter ? &m->counter : &m->nv[i];
		bool ok = slot_equal(got, *cur);
		if (!ok && m->pending == i) {
			ok = slot_equal(got, m->pending_slot) ||
			     (m->pending_any_value && got.exists && got.value != UNWRITTEN);
		}
		if (!ok) {
			snprintf(msg, sizeof(msg),
				 "index %d holds %s %llx; allowed: %s %llx%s", i, got.exists ? "value" : "nothing",
				 (unsigned long long)got.value, cur->exists ? "value" : "nothing",
				 (unsigned long long)cur->value, m->pending == i ? " or the command in flight" : "");
			fail_with_log(r, msg);
		}
		*cur = got;
	}
	if (cmd(r, c, tc_get_handles(c, 0x81000000u), rsp, &n, &rc) != 0) {
		return -1;
	}
	int has = tc_handles_contain(rsp, n, PERSISTENT);
	if (rc != 0 || has < 0) {
		fail_with_log(r, "GetCapability(persistent) failed");
	}
	if ((has == 1) != m->persistent && m->pending != NV_COUNT + 1) {
		fail_with_log(r, "the persistent key is not as the acknowledged commands left it");
	}
	m->persistent = has == 1;
	/* PCRs are volatile: a restart starts them over. */
	if (cmd(r, c, tc_pcr_read(c, 16), rsp, &n, &rc) != 0) {
		return -1;
	}
	static const u8 zero[32];
	if (rc != 0 || n < 32 || memcmp(rsp + n - 32, zero, 32) != 0) {
		fail_with_log(r, "PCR 16 survived a restart");
	}
	m->pending = -1;
	r->verified++;
	return 0;
}

/* --- the command stream --------------------------------------------------------------------- */

/*
 * Send one command for entity @entity whose success leads to @after. -1: the server is
 * gone (the command stays in flight in the model); 0: acknowledged and applied.
 */
static int op(struct run *r, const u8 *c, size_t len, int entity, struct slot after, bool any_value)
{
	struct model *m = &r->m;
	u8 rsp[VTPM_RSP_MAX];
	size_t n;
	u32 rc;

	m->pending = entity;
	m->pending_slot = after;
	m->pending_any_value = any_value;
	if (cmd(r, c, len, rsp, &n, &rc) != 0) {
		return -1;
	}
	if (rc != 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "command %08x failed with TPM rc %x", tc_be32(c + 6), rc);
		fail_with_log(r, msg);
	}
	if (entity == NV_COUNT && any_value) {
		/* The counter's first value is the TPM's: read it back. */
		struct slot got;
		if (observe_nv(r, NV_COUNTER, true, &got) != 0) {
			return -1;
		}
		after = got;
	}
	if (entity >= 0 && entity < NV_COUNT) {
		m->nv[entity] = after;
	} else if (entity == NV_COUNT) {
		m->counter = after;
	} else if (entity == NV_COUNT + 1) {
		m->persistent = after.exists;
	}
	m->pending = -1;
	r->acked_ops++;
	return 0;
}

/* A random NV-heavy step; -1 when the server is gone. */
static int step(struct run *r)
{
	struct model *m = &r->m;
	u8 c[TC_MAX], rsp[VTPM_RSP_MAX];
	unsigned kind = rnd_below(r, 100);
	unsigned i = rnd_below(r, NV_COUNT);
	u32 index = NV_BASE + i;

	if (kind < 40) {
		if (!m->nv[i].exists) {
			return op(r, c, tc_nv_define(c, index, TC_NV_ORDINARY, 8), (int)i, (struct slot){true, UNWRITTEN}, false);
		}
		u64 v = rnd(r) & 0x7FFFFFFFFFFFFFFFull;
		u8 data[8];
		for (int k = 0; k < 8; k++) {
			data[k] = (u8)(v >> (56 - 8 * k));
		}
		return op(r, c, tc_nv_write(c, index, data, 8, 0), (int)i, (struct slot){true, v}, false);
	}
	if (kind < 65) {
		if (!m->counter.exists) {
			return op(r, c, tc_nv_define(c, NV_COUNTER, TC_NV_COUNTER, 8), NV_COUNT, (struct slot){true, UNWRITTEN},
				  false);
		}
		bool first = m->counter.value == UNWRITTEN;
		return op(r, c, tc_nv_increment(c, NV_COUNTER), NV_COUNT, (struct slot){true, m->counter.value + 1}, first);
	}
	if (kind < 72) {
		if (!m->nv[i].exists) {
			return 0;
		}
		return op(r, c, tc_nv_undefine(c, index), (int)i, (struct slot){false, UNWRITTEN}, false);
	}
	if (kind < 85) {
		size_t n;
		u32 rc, handle;
		const u8 *pub;
		size_t pub_len;
		if (m->persistent) {
			return op(r, c, tc_evict_control(c, PERSISTENT, PERSISTENT), NV_COUNT + 1, (struct slot){false, 0}, false);
		}
		if (cmd(r, c, tc_create_primary_ecc(c, TPM_RH_OWNER), rsp, &n, &rc) != 0) {
			return -1;
		}
		if (tc_created(rsp, n, &handle, &pub, &pub_len) != 0) {
			fail_with_log(r, "CreatePrimary failed");
		}
		if (op(r, c, tc_evict_control(c, handle, PERSISTENT), NV_COUNT + 1, (struct slot){true, 0}, false) != 0) {
			return -1;
		}
		return cmd(r, c, tc_flush_context(c, handle), rsp, &n, &rc);
	}
	return op(r, c, tc_pcr_extend(c, 16, (u8)rnd(r)), -1, (struct slot){false, 0}, false);
}

/* --- the cycles ------------------------------------------------------------------------------ */

static void wipe_state(struct run *r)
{
	char cmd_line[256];

	snprintf(cmd_line, sizeof(cmd_line), "rm -rf %s", r->state);
	assert_int_equal(system(cmd_line), 0);
	memset(&r->m, 0, sizeof(r->m));
	r->m.pending = -1;
	for (int i = 0; i < NV_COUNT; i++) {
		r->m.nv[i].value = UNWRITTEN;
	}
	r->m.counter.value = UNWRITTEN;
	r->wipes++;
}

/* One cycle: start, verify, stream, end by a kill (or a clean stop). */
static void cycle(struct run *r)
{
	char env_buf[64];
	const char *env[2] = {NULL, NULL};
	unsigned mode = rnd_below(r, 100); /* < 50 timed kill, < 90 crash point, else clean stop */
	unsigned budget = 4 + rnd_below(r, 24);

	if (r->cycles % 25 == 0) {
		wipe_state(r);
	}
	r->cycles++;
	if (mode >= 50 && mode < 90) {
		/* A crash point among the saves of this run (several per NV command, a few at boot). */
		snprintf(env_buf, sizeof(env_buf), "SVSM_EMU_VTPM_CRASH_AT=%u",
			 1 + rnd_below(r, VTPM_STORE_CRASH_POINTS_PER_SAVE * (budget + 3)));
		env[0] = env_buf;
	}
	if (tpm_server_start(&r->server, r->state, r->log, env) != 0) {
		int st = r->server.wait_status;
		if (env[0] && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
			/* Killed itself while starting (a manufacture or its first save). */
			r->kills++;
			r->crash_point_kills++;
			return;
		}
		fail_with_log(r, "the TPM server did not start");
	}
	bool timed = mode < 50;

	bool gone = tpm_connect(&r->conn, r->server.port, TPM_FRAMING_MSSIM) != 0;
	u8 c[TC_MAX], rsp[VTPM_RSP_MAX];
	size_t n;
	u32 rc;
	if (!gone) {
		gone = cmd(r, c, tc_startup(c, TPM_SU_CLEAR), rsp, &n, &rc) != 0;
		if (!gone && rc != 0) {
			fail_with_log(r, "TPM2_Startup failed after a restart");
		}
	}
	if (!gone) {
		gone = verify(r) != 0;
	}
	/* A timed kill: with a random step of the stream, after its command is sent. */
	unsigned kill_step = rnd_below(r, budget);
	r->kill_fired = false;
	for (unsigned s = 0; s < budget && !gone; s++) {
		r->kill_armed = timed && s == kill_step;
		gone = step(r) != 0;
	}
	r->kill_armed = false;
	if (r->conn.fd >= 0) {
		close(r->conn.fd);
		r->conn.fd = -1;
	}
	if (r->conn.platform_fd >= 0) {
		close(r->conn.platform_fd);
		r->conn.platform_fd = -1;
	}
	if (gone) {
		/* It died: by our SIGKILL or its own crash point; anything else is a failure. */
		for (int i = 0; i < 10000 && tpm_server_reap(&r->server) < 0; i++) {
			usleep(1000);
		}
		if (r->server.pid > 0) {
			fail_with_log(r, "the connection broke but the server lives");
		}
		int st = r->server.wait_status;
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
			fail_with_log(r, "the server ended without being killed");
		}
		r->kills++;
		if (r->kill_fired) {
			r->timed_kills++;
		} else {
			r->crash_point_kills++;
		}
		return;
	}
	if (mode < 90) {
		/* The stream ended first (no crash point reached, or the kill missed): kill it now, idle. */
		tpm_server_kill(&r->server);
		r->kills++;
		r->idle_kills++;
		return;
	}
	if (tpm_server_stop(&r->server) != 0) {
		fail_with_log(r, "SIGTERM did not stop the server cleanly");
	}
	r->terms++;
}

static void test_kills_keep_state_consistent(void **state)
{
	static struct run r;
	const char *s = getenv("VTPM_CRASH_SEED");
	const char *k = getenv("VTPM_CRASH_KILLS");
	unsigned want = k ? (unsigned)strtoul(k, NULL, 10) : 210;

	memset(&r, 0, sizeof(r));
	r.rng = s ? strtoull(s, NULL, 0) : ((u64)time(NULL) << 20 ^ (u64)getpid());
	if (!r.rng) {
		r.rng = 1;
	}
	printf("crash test: seed %llu (VTPM_CRASH_SEED to replay), %u kills\n", (unsigned long long)r.rng, want);
	/*
	 * In memory when the host has /dev/shm: a kill loses nothing the kernel has (only a
	 * power loss would), so the test is the same, without waiting for the disk's fsyncs.
	 */
	snprintf(r.dir, sizeof(r.dir), "%s/svsm-vtpm-crash-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	assert_non_null(mkdtemp(r.dir));
	snprintf(r.state, sizeof(r.state), "%s/state", r.dir);
	snprintf(r.log, sizeof(r.log), "%s/server.log", r.dir);
	r.conn.fd = r.conn.platform_fd = -1;
	r.op_seconds = 0.002;
	while (r.kills < want) {
		cycle(&r);
		if (r.cycles > 4 * want + 100) {
			fail_msg("only %u kills in %u cycles", r.kills, r.cycles);
		}
	}
	/* A last restart must find everything in order too. */
	assert_int_equal(tpm_server_start(&r.server, r.state, r.log, NULL), 0);
	assert_int_equal(tpm_connect(&r.conn, r.server.port, TPM_FRAMING_MSSIM), 0);
	u8 c[TC_MAX], rsp[VTPM_RSP_MAX];
	size_t n = 0;
	u32 rc = ~0u;
	assert_int_equal(cmd(&r, c, tc_startup(c, TPM_SU_CLEAR), rsp, &n, &rc), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(verify(&r), 0);
	tpm_disconnect(&r.conn);
	assert_int_equal(tpm_server_stop(&r.server), 0);
	printf("crash test: %u cycles, %u kills (%u while a command ran, %u at crash points in saves, %u idle), "
	       "%u clean stops, %u wipes (manufactures), %u restarts verified, %llu acknowledged NV-heavy commands\n",
	       r.cycles, r.kills, r.timed_kills, r.crash_point_kills, r.idle_kills, r.terms, r.wipes, r.verified,
	       (unsigned long long)r.acked_ops);
	char cmd_line[128];
	snprintf(cmd_line, sizeof(cmd_line), "rm -rf %s", r.dir);
	assert_int_equal(system(cmd_line), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kills_keep_state_consistent),
	};

	return cmocka_run_group_tests_name("vtpm_crash", tests, NULL, NULL);
}
