/*
 * The emulator's TPM engine (emu/vtpm/engine_libtpms.c): libtpms in TPM 2.0 mode behind
 * the core's engine seam (svsm/include/svsm/vtpm_engine.h). The core starts it at every
 * boot (svsm_boot -> vtpm_init -> vtpm_engine_start); what it starts from is set here
 * beforehand. One engine per process (libtpms is a singleton).
 */
#ifndef EMU_VTPM_ENGINE_H
#define EMU_VTPM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/*
 * TPMLIB_SetBufferSize: TPM_PT_MAX_COMMAND_SIZE and TPM_PT_MAX_RESPONSE_SIZE. 4087 is the
 * largest command the SVSM's buffer carries (4096 - 9), so every command a client may
 * build from these properties fits, and every response (at most 4087 bytes) fits the
 * 4092 bytes of the response. docs/vtpm.md compares it with COCONUT's 3968.
 */
#define EMU_VTPM_BUFFER_SIZE 4087u

/*
 * A deferred state write (docs/vtpm.md, "Durability") waits at most this long, measured
 * at the next command or vtpm_idle(); at most one such write per window.
 */
#define EMU_VTPM_DEBOUNCE_NS (60ull * 1000000000ull)

/*
 * Where the next starts load and save the TPM's state. The engine keeps using @store
 * (it does not take ownership; close it after emu_vtpm_shutdown). NULL: every start
 * makes a fresh TPM in memory, as a VM without persistent vTPM storage would.
 */
void emu_vtpm_set_store(struct vtpm_store *store);

/* Stop the TPM (libtpms TPMLIB_Terminate) after vtpm_idle(true); the next boot starts it again. */
void emu_vtpm_shutdown(void);

/* The clock of the debounce (CLOCK_MONOTONIC unless a test sets its own; NULL restores it). */
void emu_vtpm_set_clock(uint64_t (*now_ns)(void));

/*
 * For the fuzz target: remember the running TPM (its permanent and volatile state, so a
 * started TPM stays started), and later put libtpms back exactly there (a restart from
 * the remembered state; nothing is saved to the store). 0 or -1.
 */
int emu_vtpm_checkpoint(void);
int emu_vtpm_rollback(void);

struct emu_vtpm_stats {
	uint64_t starts;
	uint64_t manufactures;            /* starts that manufactured a new TPM */
	uint64_t manufactures_resumed;    /* of those, after an interrupted manufacture */
	uint64_t commands;
	uint64_t state_changes;           /* commands after which libtpms stored its state */
	uint64_t saves;                   /* store writes (any reason) */
	uint64_t deferred;                /* state changes left to the debounce */
	bool failed;                      /* a save failed: the engine refuses commands */
	char error[512];                  /* why the last start or save failed */
};
void emu_vtpm_get_stats(struct emu_vtpm_stats *out);

#endif
