/*
 * A scripted TPM engine for the protocol suite: it records what the SVSM forwarded and
 * answers what the test set, so that every size and failure at the seam can be reached
 * (libtpms never answers 4093 bytes). Linked instead of the absent or libtpms engine.
 */
#ifndef HARNESS_VTPM_FAKE_ENGINE_H
#define HARNESS_VTPM_FAKE_ENGINE_H

#include <svsm/vtpm_engine.h>

struct fake_engine {
	enum vtpm_engine_result start_result; /* what vtpm_engine_start answers */
	enum vtpm_engine_result exec_result;  /* what vtpm_engine_execute answers */
	u32 rsp_len;                          /* the response to give (rsp_len bytes of rsp) */
	u8 rsp[8192];
	/* Called inside vtpm_engine_execute (under vtpm_lock only). */
	void (*hook)(void *ctx);
	void *hook_ctx;
	/* What the SVSM forwarded. */
	u32 calls;
	u32 last_len;
	u32 last_buf_size;
	u8 last_cmd[8192];
	u32 idles;
};

extern struct fake_engine fake_engine;

/* Defaults: starts, answers a 10-byte TPM success response to every command. */
void fake_engine_reset(void);

#endif
