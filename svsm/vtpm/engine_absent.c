/*
 * The "absent" TPM engine: this build has no TPM, so the vTPM protocol is not offered.
 * The SNP images link it (there is no libtpms in the SVSM), as does every hosted binary
 * that does not link an engine of its own (svsm/include/svsm/vtpm_engine.h).
 */
#include <svsm/vtpm_engine.h>

enum vtpm_engine_result vtpm_engine_start(void)
{
	return VTPM_ENGINE_ABSENT;
}

enum vtpm_engine_result vtpm_engine_execute(u8 *buf, u32 cmd_len, u32 buf_size, u32 *rsp_len)
{
	return VTPM_ENGINE_FAILED;
}

enum vtpm_engine_result vtpm_engine_idle(bool final)
{
	return VTPM_ENGINE_OK;
}
