/*
 * The seam between the vTPM protocol and the TPM 2.0 engine behind it. Like arch.h, the
 * implementation is chosen by what is linked, never at run time: each binary defines
 * every vtpm_engine_* function exactly once.
 *   svsm/vtpm/engine_absent.c  no engine (the SNP images, every suite that does not ask
 *                              for one): protocol 2 is not offered
 *   emu/vtpm/engine_libtpms.c  libtpms in TPM 2.0 mode with crash-safe state (svsm-emu,
 *                              the vTPM suites, fuzz target and benchmark)
 * A binary that links an engine object gets it; otherwise the absent engine comes from
 * libsvsmcore.a.
 *
 * Locking: the engine is shared state of the whole SVSM. Every vtpm_engine_* call is
 * made by svsm/vtpm/vtpm.c with the vTPM lock held and no other lock; an engine
 * never calls back into the core (no log, no guest memory, no VMGEXIT) while it runs.
 */
#ifndef SVSM_VTPM_ENGINE_H
#define SVSM_VTPM_ENGINE_H

#include <svsm/types.h>

enum vtpm_engine_result {
	VTPM_ENGINE_OK = 0,
	VTPM_ENGINE_ABSENT = 1, /* vtpm_engine_start: this build has no TPM engine */
	VTPM_ENGINE_FAILED = 2, /* the engine cannot run commands (start failed, state not stored) */
};

/*
 * Start the engine at boot (after a previous start: stop it first, writing whatever is
 * pending). The TPM is then powered on and waits for TPM2_Startup from the guest.
 */
enum vtpm_engine_result vtpm_engine_start(void);

/*
 * Run one TPM command: @buf holds @cmd_len command bytes and receives the response
 * (*@rsp_len bytes, at most @buf_size). TPM errors are a normal response; a result other
 * than VTPM_ENGINE_OK means there is no response. When it returns VTPM_ENGINE_OK, every
 * state change the command made is stored, except those the engine documents as
 * deferred (docs/vtpm.md, "Durability").
 */
enum vtpm_engine_result vtpm_engine_execute(u8 *buf, u32 cmd_len, u32 buf_size, u32 *rsp_len);

/* Deferred work (see vtpm_idle in vtpm.h); @final writes everything that is pending. */
enum vtpm_engine_result vtpm_engine_idle(bool final);

#endif
