/*
 * The TPM engine of the emulator: libtpms (Debian libtpms-dev) in TPM 2.0 mode behind
 * the core's engine seam, with its permanent state in a vtpm_store.
 *
 * Start: ChooseTPMVersion(2), the callbacks, SetBufferSize(EMU_VTPM_BUFFER_SIZE), MainInit.
 * A store without a manufactured state (empty, or holding only the marker of a manufacture
 * that was interrupted) makes libtpms manufacture a new TPM: the marker is saved first,
 * the manufactured state with the marker's "done" flag after MainInit returns. A store
 * that fails its checks stops the start: re-manufacturing would destroy the seeds.
 * The guest, not the SVSM, sends TPM2_Startup.
 *
 * State writes: libtpms hands over its whole permanent state ("permall") whenever it
 * commits NV. The callback only keeps it; after the command, the state is saved before
 * the response goes back, unless the command is one whose only possible NV effect is
 * the TPM's own bookkeeping (clock, orderly data) and it succeeded: then the save is
 * deferred by up to EMU_VTPM_DEBOUNCE_NS (docs/vtpm.md, "Durability"). A save that fails
 * stops the engine (fail-stop): no response may claim a change that is not stored.
 *
 * Locking: only the core calls the vtpm_engine_* functions, under its vTPM lock
 * (svsm/vtpm/vtpm.c); emu_vtpm_* configuration runs before boot or after vtpm_idle(true).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_nvfilename.h>

#include <svsm/vtpm_engine.h>

#include "engine.h"

static struct {
	struct vtpm_store *store;      /* configured one, or NULL */
	struct vtpm_store *own_store;  /* the volatile store we made for this start */
	bool running;
	bool failed;
	uint8_t *state;                /* the permanent state as libtpms last gave it */
	uint32_t state_len;
	bool stored_this_command;      /* storedata was called during the current command */
	bool dirty;                    /* state not saved yet (deferred) */
	uint64_t dirty_since;
	unsigned char *rsp;
	uint32_t rsp_size;
	uint64_t (*now_ns)(void);
	struct emu_vtpm_stats stats;
	unsigned char *cp_perm, *cp_vol; /* emu_vtpm_checkpoint */
	uint32_t cp_perm_len, cp_vol_len;
} eng;

static uint64_t engine_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t engine_now(void)
{
	return eng.now_ns ? eng.now_ns() : engine_monotonic_ns();
}

static struct vtpm_store *engine_store(void)
{
	return eng.store ? eng.store : eng.own_store;
}

static uint32_t engine_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* --- libtpms callbacks --------------------------------------------------------------- */

static TPM_RESULT cb_nvram_init(void)
{
	return TPM_SUCCESS;
}

/* Only the permanent state exists: a restart is a power cycle, nothing volatile is kept. */
static TPM_RESULT cb_nvram_loaddata(unsigned char **data, uint32_t *length, uint32_t tpm_number, const char *name)
{
	*data = NULL;
	*length = 0;
	if (strcmp(name, TPM_PERMANENT_ALL_NAME) != 0 || !eng.state) {
		return TPM_RETRY;
	}
	*data = malloc(eng.state_len);
	if (!*data) {
		return TPM_FAIL;
	}
	memcpy(*data, eng.state, eng.state_len);
	*length = eng.state_len;
	return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_storedata(const unsigned char *data, uint32_t length, uint32_t tpm_number,
				     const char *name)
{
	if (strcmp(name, TPM_PERMANENT_ALL_NAME) != 0 || length == 0 || length > VTPM_STORE_MAX_BLOB) {
		return TPM_FAIL;
	}
	uint8_t *copy = malloc(length);
	if (!copy) {
		return TPM_FAIL;
	}
	memcpy(copy, data, length);
	free(eng.state);
	eng.state = copy;
	eng.state_len = length;
	eng.stored_this_command = true;
	return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_deletename(uint32_t tpm_number, const char *name, TPM_BOOL must_exist)
{
	/* The permanent state is only ever replaced; no other blob exists to delete. */
	if (strcmp(name, TPM_PERMANENT_ALL_NAME) == 0 || must_exist) {
		return TPM_FAIL;
	}
	return TPM_SUCCESS;
}

static TPM_RESULT cb_io_init(void)
{
	return TPM_SUCCESS;
}

/* The SVSM accepts locality 0 only. */
static TPM_RESULT cb_io_getlocality(TPM_MODIFIER_INDICATOR *locality, uint32_t tpm_number)
{
	*locality = 0;
	return TPM_SUCCESS;
}

/* There is no physical presence in a VM. */
static TPM_RESULT cb_io_getphysicalpresence(TPM_BOOL *pp, uint32_t tpm_number)
{
	*pp = FALSE;
	return TPM_SUCCESS;
}

static struct libtpms_callbacks engine_callbacks = {
	.sizeOfStruct = sizeof(struct libtpms_callbacks),
	.tpm_nvram_init = cb_nvram_init,
	.tpm_nvram_loaddata = cb_nvram_loaddata,
	.tpm_nvram_storedata = cb_nvram_storedata,
	.tpm_nvram_deletename = cb_nvram_deletename,
	.tpm_io_init = cb_io_init,
	.tpm_io_getlocality = cb_io_getlocality,
	.tpm_io_getphysicalpresence = cb_io_getphysicalpresence,
};

/* --- saving ----------------------------------------------------------------------------- */

static void engine_error(const char *what)
{
	struct vtpm_store *s = engine_store();

	snprintf(eng.stats.error, sizeof(eng.stats.error), "%s%s%s", what, s && s->error[0] ? ": " : "",
		 s ? s->error : "");
}

/* Save the current state now; a failure stops the engine. */
static enum vtpm_engine_result engine_save(void)
{
	struct vtpm_store *s = engine_store();

	if (s->ops->save(s, eng.state, eng.state_len, true) != VTPM_STORE_OK) {
		engine_error("cannot save the TPM state");
		eng.failed = true;
		eng.stats.failed = true;
		return VTPM_ENGINE_FAILED;
	}
	eng.stats.saves++;
	eng.dirty = false;
	return VTPM_ENGINE_OK;
}

/*
 * Commands whose only possible NV effect, when they succeed, is the TPM's bookkeeping
 * (Clock, orderly data): their state writes may be deferred. Everything else, and any
 * command that fails (a failed authorization counts against dictionary-attack lockout),
 * is saved before its response returns.
 */
static bool engine_deferrable(uint32_t cc)
{
	switch (cc) {
	case 0x142: /* IncrementalSelfTest */
	case 0x143: /* SelfTest */
	case 0x169: /* NV_ReadPublic */
	case 0x173: /* ReadPublic */
	case 0x17A: /* GetCapability */
	case 0x17B: /* GetRandom */
	case 0x17C: /* GetTestResult */
	case 0x17D: /* Hash */
	case 0x17E: /* PCR_Read */
	case 0x181: /* ReadClock */
	case 0x18A: /* TestParms */
		return true;
	default:
		return false;
	}
}

/* A deferred save whose time has come (or any, if @final). */
static enum vtpm_engine_result engine_flush(bool final)
{
	if (!eng.running || eng.failed || !eng.dirty) {
		return eng.failed ? VTPM_ENGINE_FAILED : VTPM_ENGINE_OK;
	}
	if (!final && engine_now() - eng.dirty_since < EMU_VTPM_DEBOUNCE_NS) {
		return VTPM_ENGINE_OK;
	}
	return engine_save();
}

/* libtpms in TPM 2.0 mode with our callbacks and buffer size (before MainInit). */
static int engine_configure(void)
{
	uint32_t min = 0, max = 0;

	if (TPMLIB_ChooseTPMVersion(TPMLIB_TPM_VERSION_2) != TPM_SUCCESS ||
	    TPMLIB_RegisterCallbacks(&engine_callbacks) != TPM_SUCCESS ||
	    TPMLIB_SetBufferSize(EMU_VTPM_BUFFER_SIZE, &min, &max) != EMU_VTPM_BUFFER_SIZE) {
		snprintf(eng.stats.error, sizeof(eng.stats.error), "libtpms refused TPM 2.0 or buffer size %u (%u..%u)",
			 EMU_VTPM_BUFFER_SIZE, min, max);
		return -1;
	}
	return 0;
}

/* --- the seam ------------------------------------------------------------------------------ */

/* Stop libtpms, writing what is pending first; VTPM_ENGINE_FAILED if that write failed. */
static enum vtpm_engine_result engine_stop(void)
{
	enum vtpm_engine_result r = VTPM_ENGINE_OK;

	if (eng.running) {
		r = engine_flush(true);
		TPMLIB_Terminate();
		eng.running = false;
	}
	free(eng.state);
	eng.state = NULL;
	eng.state_len = 0;
	eng.dirty = false;
	if (eng.own_store) {
		eng.own_store->ops->close(eng.own_store);
		eng.own_store = NULL;
	}
	return r;
}

/* See svsm/include/svsm/vtpm_engine.h. */
enum vtpm_engine_result vtpm_engine_start(void)
{
	/*
	 * If the previous run's last write fails here, what it could not store is deferred
	 * bookkeeping or belongs to a command that was answered with a failure: starting from
	 * the stored state is what a crash would do. vtpm_idle(true) before a reboot reports it.
	 */
	(void)engine_stop();
	eng.failed = false;
	eng.stats.failed = false;
	eng.stats.error[0] = 0;
	eng.stats.starts++;
	if (!eng.store) {
		eng.own_store = vtpm_store_mem_new();
		if (!eng.own_store) {
			snprintf(eng.stats.error, sizeof(eng.stats.error), "out of memory");
			return VTPM_ENGINE_FAILED;
		}
	}
	struct vtpm_store *s = engine_store();

	bool manufactured = false;
	enum vtpm_store_result lr = s->ops->load(s, &eng.state, &eng.state_len, &manufactured);
	if (lr != VTPM_STORE_OK && lr != VTPM_STORE_EMPTY) {
		engine_error("the stored TPM state cannot be used");
		return VTPM_ENGINE_FAILED;
	}
	bool manufacture = lr == VTPM_STORE_EMPTY || !manufactured;
	if (manufacture) {
		if (lr == VTPM_STORE_OK) {
			eng.stats.manufactures_resumed++;
		}
		free(eng.state);
		eng.state = NULL;
		eng.state_len = 0;
		/* The marker: a crash from here to the save below leaves "manufacture interrupted". */
		if (s->ops->save(s, NULL, 0, false) != VTPM_STORE_OK) {
			engine_error("cannot save the manufacture marker");
			return VTPM_ENGINE_FAILED;
		}
		eng.stats.saves++;
	}

	if (engine_configure() != 0) {
		return VTPM_ENGINE_FAILED;
	}
	eng.stored_this_command = false;
	if (TPMLIB_MainInit() != TPM_SUCCESS) {
		TPMLIB_Terminate();
		snprintf(eng.stats.error, sizeof(eng.stats.error), "libtpms could not start the TPM");
		return VTPM_ENGINE_FAILED;
	}
	eng.running = true;
	if (manufacture) {
		if (!eng.state) {
			(void)engine_stop();
			snprintf(eng.stats.error, sizeof(eng.stats.error), "libtpms manufactured no state");
			return VTPM_ENGINE_FAILED;
		}
		eng.stats.manufactures++;
	}
	if (manufacture || eng.stored_this_command) {
		if (engine_save() != VTPM_ENGINE_OK) {
			return VTPM_ENGINE_FAILED;
		}
	}
	return VTPM_ENGINE_OK;
}

/* See svsm/include/svsm/vtpm_engine.h. */
enum vtpm_engine_result vtpm_engine_execute(u8 *buf, u32 cmd_len, u32 buf_size, u32 *rsp_len)
{
	if (!eng.running || eng.failed || engine_flush(false) != VTPM_ENGINE_OK) {
		return VTPM_ENGINE_FAILED;
	}
	uint32_t cc = cmd_len >= 10 ? engine_be32(buf + 6) : 0;
	uint32_t len = 0;

	eng.stored_this_command = false;
	eng.stats.commands++;
	if (TPMLIB_Process(&eng.rsp, &len, &eng.rsp_size, buf, cmd_len) != TPM_SUCCESS) {
		/* Only an allocation failure gets here: the TPM did not run the command. */
		return VTPM_ENGINE_FAILED;
	}
	if (eng.stored_this_command) {
		eng.stats.state_changes++;
		uint32_t rc = len >= 10 ? engine_be32(eng.rsp + 6) : ~0u;
		if (rc == 0 && engine_deferrable(cc)) {
			if (!eng.dirty) {
				eng.dirty = true;
				eng.dirty_since = engine_now();
			}
			eng.stats.deferred++;
		} else if (engine_save() != VTPM_ENGINE_OK) {
			return VTPM_ENGINE_FAILED;
		}
	}
	if (len > buf_size) {
		return VTPM_ENGINE_FAILED;
	}
	memcpy(buf, eng.rsp, len);
	*rsp_len = len;
	return VTPM_ENGINE_OK;
}

/* See svsm/include/svsm/vtpm_engine.h. */
enum vtpm_engine_result vtpm_engine_idle(bool final)
{
	return engine_flush(final);
}

/* --- configuration (emu/vtpm/engine.h) ----------------------------------------------- */

int emu_vtpm_checkpoint(void)
{
	if (!eng.running || eng.failed) {
		return -1;
	}
	free(eng.cp_perm);
	free(eng.cp_vol);
	eng.cp_perm = eng.cp_vol = NULL;
	if (TPMLIB_GetState(TPMLIB_STATE_PERMANENT, &eng.cp_perm, &eng.cp_perm_len) != TPM_SUCCESS ||
	    TPMLIB_GetState(TPMLIB_STATE_VOLATILE, &eng.cp_vol, &eng.cp_vol_len) != TPM_SUCCESS) {
		return -1;
	}
	return 0;
}

int emu_vtpm_rollback(void)
{
	if (!eng.cp_perm || !eng.cp_vol) {
		return -1;
	}
	if (eng.running) {
		TPMLIB_Terminate();
		eng.running = false;
	}
	if (engine_configure() != 0 ||
	    TPMLIB_SetState(TPMLIB_STATE_PERMANENT, eng.cp_perm, eng.cp_perm_len) != TPM_SUCCESS ||
	    TPMLIB_SetState(TPMLIB_STATE_VOLATILE, eng.cp_vol, eng.cp_vol_len) != TPM_SUCCESS ||
	    TPMLIB_MainInit() != TPM_SUCCESS) {
		return -1;
	}
	/* What MainInit stored is the checkpoint itself: nothing to save. */
	eng.running = true;
	eng.failed = false;
	eng.dirty = false;
	eng.stored_this_command = false;
	return 0;
}


void emu_vtpm_set_store(struct vtpm_store *store)
{
	eng.store = store;
}

void emu_vtpm_shutdown(void)
{
	(void)engine_stop();
	free(eng.rsp);
	eng.rsp = NULL;
	eng.rsp_size = 0;
	free(eng.cp_perm);
	free(eng.cp_vol);
	eng.cp_perm = eng.cp_vol = NULL;
}

void emu_vtpm_set_clock(uint64_t (*now_ns)(void))
{
	eng.now_ns = now_ns;
}

void emu_vtpm_get_stats(struct emu_vtpm_stats *out)
{
	*out = eng.stats;
}
