/*
 * The vTPM on its real engine (libtpms, emu/vtpm/engine_libtpms.c), driven by the guest's
 * vTPM driver through SVSM_VTPM_CMD: the guest starts the TPM, TPM errors come back
 * inside responses, the buffer size properties, the EK manifest, state across reboots,
 * the manufacture marker, damaged state, failed saves and the debounced writes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <svsm/vtpm.h>

#include "../test_common.h"
#include "tpm_cmd.h"
#include "vtpm/engine.h"
#include "vtpm/tpm_guest.h"

#define NV_A 0x01500010u
#define NV_DA 0x01500011u
#define PERSISTENT_KEY 0x81000010u
#define TPM_PT_MAX_COMMAND_SIZE 0x11Eu
#define TPM_PT_MAX_RESPONSE_SIZE 0x11Fu

struct et {
	struct hx *h;
	struct tpm_guest t;
	struct vtpm_store *store;
	char dir[64]; /* file-store tests: the state directory */
	u8 rsp[VTPM_MAX_RESPONSE];
	u32 rsp_len;
};

/* The debounce clock of the engine, under the tests' control. */
static uint64_t fake_now;
static uint64_t fake_clock(void)
{
	return fake_now;
}

static int et_boot(struct et *e)
{
	e->h = hx_boot(NULL);
	if (!e->h) {
		return -1;
	}
	if (!vtpm_present()) {
		return 1;
	}
	return tpm_guest_init(&e->t, &e->h->g, 0) == TPM_GUEST_OK ? 0 : -1;
}

static int setup_store(void **state, struct vtpm_store *store)
{
	struct et *e = calloc(1, sizeof(*e));

	if (!e || !store) { /* the store is ours from here on: closed on failure */
		free(e);
		if (store) {
			store->ops->close(store);
		}
		return -1;
	}
	e->store = store;
	emu_vtpm_set_store(store);
	fake_now = 1;
	emu_vtpm_set_clock(fake_clock);
	*state = e;
	return et_boot(e) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	return setup_store(state, vtpm_store_mem_new());
}

static int teardown(void **state)
{
	struct et *e = *state;

	vtpm_idle(true);
	hx_shutdown(e->h);
	emu_vtpm_shutdown();
	emu_vtpm_set_store(NULL);
	emu_vtpm_set_clock(NULL);
	e->store->ops->close(e->store);
	if (e->dir[0]) {
		char path[400];
		DIR *d = opendir(e->dir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", e->dir, de->d_name);
				unlink(path);
			}
		}
		if (d) {
			closedir(d);
		}
		rmdir(e->dir);
	}
	free(e);
	return 0;
}

/* Reboot the machine: the SVSM and the TPM start again from the store. */
static int et_reboot(struct et *e)
{
	hx_shutdown(e->h);
	return et_boot(e);
}

/* One TPM command through the guest driver and the SVSM; the TPM's response code. */
static u32 tpm(struct et *e, const u8 *cmd, size_t len)
{
	assert_int_equal(tpm_guest_send(&e->t, 0, cmd, (u32)len, e->rsp, sizeof(e->rsp), &e->rsp_len), TPM_GUEST_OK);
	assert_int_equal(e->t.last_rax, SVSM_SUCCESS);
	assert_oracle_clean(e->h);
	return tc_rc(e->rsp, e->rsp_len);
}

#define TPM(e, builder, ...)                                                   \
	({                                                                     \
		u8 cmd_[TC_MAX];                                               \
		size_t n_ = builder(cmd_, ##__VA_ARGS__);                      \
		tpm((e), cmd_, n_);                                            \
	})

static void startup(struct et *e)
{
	assert_int_equal(TPM(e, tc_startup, TPM_SU_CLEAR), TPM_RC_SUCCESS);
}

static struct emu_vtpm_stats stats(void)
{
	struct emu_vtpm_stats s;

	emu_vtpm_get_stats(&s);
	return s;
}

/* The guest, not the SVSM, starts the TPM; errors travel inside responses. */
static void test_guest_starts_tpm(void **state)
{
	struct et *e = *state;

	assert_int_equal(TPM(e, tc_get_random, 16), TPM_RC_INITIALIZE);
	assert_int_equal(e->rsp_len, 10);
	startup(e);
	assert_int_equal(TPM(e, tc_startup, TPM_SU_CLEAR), TPM_RC_INITIALIZE);
	assert_int_equal(TPM(e, tc_selftest), TPM_RC_SUCCESS);
	assert_int_equal(TPM(e, tc_get_random, 32), TPM_RC_SUCCESS);
	assert_int_equal(e->rsp_len, 10 + 2 + 32);
	assert_int_equal(tc_be16(e->rsp + 10), 32);
}

/* TPM_PT_MAX_COMMAND_SIZE and TPM_PT_MAX_RESPONSE_SIZE: the buffer size libtpms was given. */
static void test_buffer_size_properties(void **state)
{
	struct et *e = *state;
	u32 v = 0;

	startup(e);
	assert_int_equal(TPM(e, tc_get_property, TPM_PT_MAX_COMMAND_SIZE), TPM_RC_SUCCESS);
	assert_int_equal(tc_property_value(e->rsp, e->rsp_len, TPM_PT_MAX_COMMAND_SIZE, &v), 0);
	assert_int_equal(v, EMU_VTPM_BUFFER_SIZE);
	assert_int_equal(TPM(e, tc_get_property, TPM_PT_MAX_RESPONSE_SIZE), TPM_RC_SUCCESS);
	assert_int_equal(tc_property_value(e->rsp, e->rsp_len, TPM_PT_MAX_RESPONSE_SIZE, &v), 0);
	assert_int_equal(v, EMU_VTPM_BUFFER_SIZE);
}

/* Malformed and oversized TPM commands: the SVSM succeeds, the TPM answers with an error. */
static void test_tpm_errors_in_response(void **state)
{
	struct et *e = *state;
	static u8 cmd[VTPM_MAX_COMMAND];

	startup(e);
	assert_int_not_equal(tpm(e, cmd, 0), TPM_RC_SUCCESS);
	assert_int_equal(e->rsp_len, 10);
	assert_int_not_equal(tpm(e, (const u8 *)"\x80\x01\x00", 3), TPM_RC_SUCCESS);
	/* The header claims more than was sent. */
	size_t n = tc_get_random(cmd, 8);
	cmd[5] = 0x40;
	assert_int_equal(tpm(e, cmd, n), 0x142u); /* TPM_RC_COMMAND_SIZE */
	/* An unknown command code. */
	assert_int_equal(tpm(e, cmd, tc_raw(cmd, 0x8001, 0x20000001u, 10)), 0x143u); /* TPM_RC_COMMAND_CODE */
	/* The largest command the buffer carries: the TPM sees it whole and judges it. */
	assert_int_not_equal(tpm(e, cmd, tc_raw(cmd, 0x8001, 0x17Bu, VTPM_MAX_COMMAND)), TPM_RC_SUCCESS);
	assert_int_equal(e->rsp_len, 10);
	/* The TPM is still fine. */
	assert_int_equal(TPM(e, tc_get_random, 8), TPM_RC_SUCCESS);
	/* Locality 1 never reaches it. */
	n = tc_get_random(cmd, 8);
	assert_int_equal(tpm_guest_send(&e->t, 1, cmd, (u32)n, e->rsp, sizeof(e->rsp), &e->rsp_len), TPM_GUEST_SVSM_ERROR);
	assert_int_equal((u32)e->t.last_rax, SVSM_ERR_INVALID_PARAMETER);
}

static u32 no_transient_objects(struct et *e)
{
	assert_int_equal(TPM(e, tc_get_handles, 0x80000000u), TPM_RC_SUCCESS);
	return tc_be32(e->rsp + 15); /* the handle count */
}

/* The guest creates the EK from the default template; its public area. */
static size_t guest_ek(struct et *e, u8 *out)
{
	u32 handle;
	const u8 *pub;
	size_t len;

	assert_int_equal(TPM(e, tc_create_ek_rsa), TPM_RC_SUCCESS);
	assert_int_equal(tc_created(e->rsp, e->rsp_len, &handle, &pub, &len), 0);
	memcpy(out, pub, len);
	assert_int_equal(TPM(e, tc_flush_context, handle), TPM_RC_SUCCESS);
	return len;
}

/* The manifest is the EK's TPMT_PUBLIC; created on first request, flushed, given again. */
static void test_manifest_is_ek(void **state)
{
	struct et *e = *state;
	u8 m1[1024], m2[1024], ek[1024];
	u32 len = 0, len2 = 0;

	assert_int_equal(vtpm_manifest(m1, sizeof(m1), &len), VTPM_MANIFEST_TPM_ERROR); /* no TPM2_Startup yet */
	startup(e);
	u64 before = stats().commands;
	assert_int_equal(vtpm_manifest(m1, sizeof(m1), &len), VTPM_MANIFEST_OK);
	assert_int_equal(stats().commands, before + 2); /* CreatePrimary, FlushContext */
	assert_int_equal(len, 314);
	assert_int_equal(tc_be16(m1), 0x0001);          /* RSA */
	assert_int_equal(tc_be16(m1 + 56), 256);        /* a 2048-bit modulus */
	assert_int_equal(no_transient_objects(e), 0);   /* flushed after use */
	size_t ek_len = guest_ek(e, ek);
	assert_int_equal(ek_len, len);
	assert_memory_equal(ek, m1, len);

	before = stats().commands;
	assert_int_equal(vtpm_manifest(m2, sizeof(m2), &len2), VTPM_MANIFEST_OK);
	assert_int_equal(stats().commands, before);
	assert_int_equal(len2, len);
	assert_memory_equal(m2, m1, len);
	len2 = 0;
	assert_int_equal(vtpm_manifest(m2, 313, &len2), VTPM_MANIFEST_TOO_SMALL);
	assert_int_equal(len2, 314);
	assert_int_equal(vtpm_manifest(NULL, 0, &len2), VTPM_MANIFEST_TOO_SMALL);
}

/* A new endorsement seed (TPM2_ChangeEPS from the guest) gives a new EK and manifest. */
static void test_manifest_follows_eps(void **state)
{
	struct et *e = *state;
	u8 m1[1024], m2[1024], ek[1024];
	u32 len1 = 0, len2 = 0;

	startup(e);
	assert_int_equal(vtpm_manifest(m1, sizeof(m1), &len1), VTPM_MANIFEST_OK);
	assert_int_equal(TPM(e, tc_change_eps), TPM_RC_SUCCESS);
	assert_int_equal(vtpm_manifest(m2, sizeof(m2), &len2), VTPM_MANIFEST_OK);
	assert_int_equal(len2, len1);
	assert_memory_not_equal(m2, m1, len1);
	assert_int_equal(guest_ek(e, ek), len2);
	assert_memory_equal(ek, m2, len2);
}

/* NV indices, persistent keys and the seeds survive a reboot; PCRs do not. */
static void test_state_survives_reboot(void **state)
{
	struct et *e = *state;
	u8 m1[1024], m2[1024];
	u32 len1 = 0, len2 = 0, handle;
	const u8 *data, *pub;
	size_t n;

	startup(e);
	assert_int_equal(TPM(e, tc_nv_define, NV_A, TC_NV_ORDINARY, 8), TPM_RC_SUCCESS);
	assert_int_equal(TPM(e, tc_nv_write, NV_A, (const u8 *)"persists", 8, 0), TPM_RC_SUCCESS);
	assert_int_equal(TPM(e, tc_create_primary_ecc, TPM_RH_OWNER), TPM_RC_SUCCESS);
	assert_int_equal(tc_created(e->rsp, e->rsp_len, &handle, &pub, &n), 0);
	assert_int_equal(TPM(e, tc_evict_control, handle, PERSISTENT_KEY), TPM_RC_SUCCESS);
	assert_int_equal(TPM(e, tc_flush_context, handle), TPM_RC_SUCCESS);
	assert_int_equal(TPM(e, tc_pcr_extend, 16, 0x77), TPM_RC_SUCCESS);
	assert_int_equal(vtpm_manifest(m1, sizeof(m1), &len1), VTPM_MANIFEST_OK);
	u64 manufactures = stats().manufactures;

	assert_int_equal(et_reboot(e), 0);
	assert_int_equal(stats().manufactures, manufactures);
	startup(e);
	assert_int_equal(TPM(e, tc_nv_read, NV_A, 8, 0), TPM_RC_SUCCESS);
	assert_int_equal(tc_nv_read_data(e->rsp, e->rsp_len, &data, &n), 0);
	assert_int_equal(n, 8);
	assert_memory_equal(data, "persists", 8);
	assert_int_equal(TPM(e, tc_get_handles, 0x81000000u), TPM_RC_SUCCESS);
	assert_int_equal(tc_handles_contain(e->rsp, e->rsp_len, PERSISTENT_KEY), 1);
	assert_int_equal(TPM(e, tc_pcr_read, 16), TPM_RC_SUCCESS);
	u8 zero[32] = {0};
	assert_memory_equal(e->rsp + e->rsp_len - 32, zero, 32);
	assert_int_equal(vtpm_manifest(m2, sizeof(m2), &len2), VTPM_MANIFEST_OK);
	assert_int_equal(len2, len1);
	assert_memory_equal(m2, m1, len1);
}

/* First start manufactures; a store holding only the marker means an interrupted manufacture. */
static void test_manufacture_marker(void **state)
{
	struct et *e = *state;
	u8 *blob = NULL;
	u32 len = 0;
	bool manufactured = false;
	struct emu_vtpm_stats s0 = stats();

	/* The setup's boot manufactured (a fresh store). */
	assert_int_equal(e->store->ops->load(e->store, &blob, &len, &manufactured), VTPM_STORE_OK);
	assert_true(manufactured);
	assert_true(len > 1000);
	free(blob);

	/* A manufactured state is reused. */
	assert_int_equal(et_reboot(e), 0);
	assert_int_equal(stats().starts, s0.starts + 1);
	assert_int_equal(stats().manufactures, s0.manufactures);

	/* A manufacture that stopped after its marker: the next start manufactures again. */
	assert_int_equal(e->store->ops->save(e->store, NULL, 0, false), VTPM_STORE_OK);
	assert_int_equal(et_reboot(e), 0);
	assert_int_equal(stats().manufactures, s0.manufactures + 1);
	assert_int_equal(stats().manufactures_resumed, s0.manufactures_resumed + 1);
	assert_int_equal(e->store->ops->load(e->store, &blob, &len, &manufactured), VTPM_STORE_OK);
	assert_true(manufactured);
	assert_true(len > 1000);
	free(blob);
	startup(e);
	assert_int_equal(TPM(e, tc_get_random, 8), TPM_RC_SUCCESS);
}

/* --- the file store ---------------------------------------------------------------------- */

static int setup_file(void **state)
{
	char dir[64] = "/tmp/svsm-vtpm-engine-XXXXXX";
	char err[256];

	if (!mkdtemp(dir)) {
		return -1;
	}
	struct vtpm_store *s = vtpm_store_file_open(dir, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	int rc = setup_store(state, s);
	if (*state) {
		snprintf(((struct et *)*state)->dir, sizeof(((struct et *)*state)->dir), "%s", dir);
	}
	return rc;
}

static size_t read_file(const char *path, u8 *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, size, f);
		fclose(f);
	}
	return n;
}

static void write_file(const char *path, const u8 *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* A damaged state file stops the start and is left as it is: never re-manufactured over. */
static void test_damaged_state_refused(void **state)
{
	struct et *e = *state;
	static u8 good[1 << 20], bad[1 << 20], after[1 << 20];
	char path[128], tmp[128];
	struct guest_regs r;

	startup(e);
	assert_int_equal(TPM(e, tc_nv_define, NV_A, TC_NV_ORDINARY, 8), TPM_RC_SUCCESS);
	snprintf(path, sizeof(path), "%s/%s", e->dir, VTPM_STORE_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s", e->dir, VTPM_STORE_TMP_FILE);
	size_t n = read_file(path, good, sizeof(good));
	assert_true(n > VTPM_STORE_HEADER_SIZE + 1000);

	/* A flipped byte in the middle, a truncation, a bad header: each is refused. */
	const size_t cuts[] = {n / 2, n - 1, VTPM_STORE_HEADER_SIZE - 1, 0};
	for (unsigned k = 0; k < ARRAY_COUNT(cuts) + 1; k++) {
		memcpy(bad, good, n);
		size_t len = n;
		if (k == 0) {
			bad[n / 2] ^= 0x01;
		} else if (k < ARRAY_COUNT(cuts)) {
			len = cuts[k];
		} else {
			bad[8] = 2; /* format version */
		}
		write_file(path, bad, len);
		hx_shutdown(e->h);
		e->h = hx_boot(NULL);
		assert_non_null(e->h);
		assert_false(vtpm_present());
		assert_int_equal(CORE(e->h, SVSM_CORE_QUERY_PROTOCOL, (2ull << 32) | 1, 0, 0, &r), SVSM_SUCCESS);
		assert_int_equal(r.rcx, 0);
		assert_non_null(strstr(stats().error, "cannot be used"));
		assert_int_equal(read_file(path, after, sizeof(after)), len);
		assert_memory_equal(after, bad, len);
	}

	/* The good file back, and a leftover temporary file of an unfinished save: it is ignored. */
	write_file(path, good, n);
	write_file(tmp, bad, n / 3);
	e->store->ops->close(e->store);
	char err[256];
	e->store = vtpm_store_file_open(e->dir, err, sizeof(err));
	assert_non_null(e->store);
	emu_vtpm_set_store(e->store);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(et_reboot(e), 0);
	startup(e);
	assert_int_equal(TPM(e, tc_nv_write, NV_A, (const u8 *)"still ok", 8, 0), TPM_RC_SUCCESS);
}

/* The directory is locked: a second store cannot open it. */
static void test_state_dir_locked(void **state)
{
	struct et *e = *state;
	char err[256] = "";

	assert_null(vtpm_store_file_open(e->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));
}

/* --- saving ---------------------------------------------------------------------------------- */

/* A store that fails every save from a given one on. */
struct failing_store {
	struct vtpm_store base;
	struct vtpm_store *inner;
	u64 saves_left;
};

static enum vtpm_store_result failing_load(struct vtpm_store *s, uint8_t **blob, uint32_t *len, bool *m)
{
	struct failing_store *f = (struct failing_store *)s;

	return f->inner->ops->load(f->inner, blob, len, m);
}

static enum vtpm_store_result failing_save(struct vtpm_store *s, const uint8_t *blob, uint32_t len, bool m)
{
	struct failing_store *f = (struct failing_store *)s;

	if (f->saves_left == 0) {
		snprintf(s->error, sizeof(s->error), "medium failed");
		return VTPM_STORE_IO;
	}
	f->saves_left--;
	return f->inner->ops->save(f->inner, blob, len, m);
}

static void failing_close(struct vtpm_store *s)
{
	struct failing_store *f = (struct failing_store *)s;

	f->inner->ops->close(f->inner);
	free(f);
}

static const struct vtpm_store_ops failing_ops = {failing_load, failing_save, failing_close};

static int setup_failing(void **state)
{
	struct failing_store *f = calloc(1, sizeof(*f));

	if (!f) {
		return -1;
	}
	f->base.ops = &failing_ops;
	f->inner = vtpm_store_mem_new();
	if (!f->inner) {
		free(f);
		return -1;
	}
	f->saves_left = ~0ull;
	return setup_store(state, &f->base);
}

/* A save that fails: the command gets no response (INVALID_REQUEST), and neither does any later one. */
static void test_failed_save_stops_engine(void **state)
{
	struct et *e = *state;
	struct failing_store *f = (struct failing_store *)e->store;
	u8 cmd[TC_MAX];

	startup(e);
	assert_int_equal(TPM(e, tc_nv_define, NV_A, TC_NV_ORDINARY, 8), TPM_RC_SUCCESS);
	f->saves_left = 0;
	size_t n = tc_nv_write(cmd, NV_A, (const u8 *)"unstored", 8, 0);
	assert_int_equal(tpm_guest_send(&e->t, 0, cmd, (u32)n, e->rsp, sizeof(e->rsp), &e->rsp_len), TPM_GUEST_SVSM_ERROR);
	assert_int_equal((u32)e->t.last_rax, SVSM_ERR_INVALID_REQUEST);
	assert_true(stats().failed);
	assert_non_null(strstr(stats().error, "medium failed"));
	n = tc_get_random(cmd, 8);
	assert_int_equal(tpm_guest_send(&e->t, 0, cmd, (u32)n, e->rsp, sizeof(e->rsp), &e->rsp_len), TPM_GUEST_SVSM_ERROR);
	assert_int_equal((u32)e->t.last_rax, SVSM_ERR_INVALID_REQUEST);
	assert_int_equal(vtpm_idle(true), -1);
	u8 m[1024];
	u32 len;
	assert_int_equal(vtpm_manifest(m, sizeof(m), &len), VTPM_MANIFEST_TPM_ERROR);

	/* After a reboot the TPM is back at its stored state: the index exists, unwritten. */
	f->saves_left = ~0ull;
	assert_int_equal(et_reboot(e), 0);
	startup(e);
	assert_int_equal(TPM(e, tc_nv_read, NV_A, 8, 0), TPM_RC_NV_UNINITIALIZED);
}

/*
 * A wrong password for the DA-protected index: TPM_RC_AUTH_FAIL. (The first DA-protected
 * use after a start that followed no orderly shutdown answers TPM_RC_RETRY: retried, as
 * a client does.)
 */
static u32 wrong_password(struct et *e)
{
	u32 rc = TPM(e, tc_nv_read_pw, NV_DA, 8, (const u8 *)"wrong", 5);

	return rc == 0x922u ? TPM(e, tc_nv_read_pw, NV_DA, 8, (const u8 *)"wrong", 5) : rc;
}

/* Make the next command's dictionary-attack self-healing change the TPM's state. */
static void arm_self_heal(struct et *e)
{
	assert_int_equal(TPM(e, tc_da_parameters, 3, 1000, 0), TPM_RC_SUCCESS);
	assert_int_equal(wrong_password(e), 0x98Eu); /* AUTH_FAIL */
	assert_int_equal(TPM(e, tc_da_parameters, 3, 0, 0), TPM_RC_SUCCESS);
}

/*
 * Durable versus deferred saves. Every state change of a command is saved before its
 * response, except those of the read-only commands (engine_deferrable), which wait for
 * the debounce. libtpms 0.9.2 changes state during such a command when dictionary-attack
 * self-healing lowers failedTries: made to happen here with a recovery time of 0.
 */
static void test_debounced_saves(void **state)
{
	struct et *e = *state;

	startup(e);
	u64 saves = stats().saves;
	assert_int_equal(TPM(e, tc_nv_define_auth, NV_DA, 0x00040004u, 8, (const u8 *)"right", 5), TPM_RC_SUCCESS);
	assert_int_equal(stats().saves, saves + 1);
	/* A wrong password: failedTries goes up, saved before the (error) response returns. */
	assert_int_equal(TPM(e, tc_da_parameters, 3, 1000, 0), TPM_RC_SUCCESS);
	assert_int_equal(wrong_password(e), 0x98Eu); /* AUTH_FAIL */
	saves = stats().saves;
	assert_int_equal(TPM(e, tc_nv_read_pw, NV_DA, 8, (const u8 *)"wrong", 5), 0x98Eu);
	assert_int_equal(stats().saves, saves + 1);
	assert_int_equal(TPM(e, tc_da_parameters, 3, 0, 0), TPM_RC_SUCCESS);

	/* Self-healing at the next command, a GetRandom: deferred. */
	saves = stats().saves;
	u64 deferred = stats().deferred;
	assert_int_equal(TPM(e, tc_get_random, 8), TPM_RC_SUCCESS);
	assert_int_equal(stats().deferred, deferred + 1);
	assert_int_equal(stats().saves, saves);
	assert_int_equal(vtpm_idle(false), 0);
	assert_int_equal(stats().saves, saves);
	assert_int_equal(TPM(e, tc_get_random, 8), TPM_RC_SUCCESS);
	assert_int_equal(stats().saves, saves);
	/* The debounce window passes: the next idle call writes, once. */
	fake_now += EMU_VTPM_DEBOUNCE_NS - 1;
	assert_int_equal(vtpm_idle(false), 0);
	assert_int_equal(stats().saves, saves);
	fake_now += 1;
	assert_int_equal(vtpm_idle(false), 0);
	assert_int_equal(stats().saves, saves + 1);
	assert_int_equal(vtpm_idle(false), 0);
	assert_int_equal(vtpm_idle(true), 0);
	assert_int_equal(stats().saves, saves + 1);
}

/* A deferred save goes out with the next durable one, or at vtpm_idle(true). */
static void test_deferred_save_joins_durable(void **state)
{
	struct et *e = *state;

	startup(e);
	assert_int_equal(TPM(e, tc_nv_define_auth, NV_DA, 0x00040004u, 8, (const u8 *)"right", 5), TPM_RC_SUCCESS);
	arm_self_heal(e);
	u64 saves = stats().saves;
	assert_int_equal(TPM(e, tc_get_random, 8), TPM_RC_SUCCESS);
	assert_int_equal(stats().saves, saves);
	assert_int_equal(TPM(e, tc_nv_define, NV_A, TC_NV_ORDINARY, 8), TPM_RC_SUCCESS);
	assert_int_equal(stats().saves, saves + 1);
	assert_int_equal(vtpm_idle(true), 0);
	assert_int_equal(stats().saves, saves + 1);

	arm_self_heal(e);
	saves = stats().saves;
	u64 deferred = stats().deferred;
	assert_int_equal(TPM(e, tc_pcr_read, 0), TPM_RC_SUCCESS);
	assert_int_equal(stats().deferred, deferred + 1);
	assert_int_equal(stats().saves, saves);
	assert_int_equal(vtpm_idle(true), 0);
	assert_int_equal(stats().saves, saves + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guest_starts_tpm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_size_properties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tpm_errors_in_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_is_ek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_follows_eps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_survives_reboot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manufacture_marker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_state_refused, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_state_dir_locked, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_failed_save_stops_engine, setup_failing, teardown),
		cmocka_unit_test_setup_teardown(test_debounced_saves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_save_joins_durable, setup, teardown),
	};

	return cmocka_run_group_tests_name("vtpm_engine", tests, NULL, NULL);
}
