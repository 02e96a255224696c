/* The scripted TPM engine of the protocol suite (fake_engine.h). */
#include <string.h>

#include "fake_engine.h"

struct fake_engine fake_engine;

void fake_engine_reset(void)
{
	static const u8 ok[10] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0};

	memset(&fake_engine, 0, sizeof(fake_engine));
	memcpy(fake_engine.rsp, ok, sizeof(ok));
	fake_engine.rsp_len = sizeof(ok);
}

enum vtpm_engine_result vtpm_engine_start(void)
{
	return fake_engine.start_result;
}

enum vtpm_engine_result vtpm_engine_execute(u8 *buf, u32 cmd_len, u32 buf_size, u32 *rsp_len)
{
	fake_engine.calls++;
	fake_engine.last_len = cmd_len;
	fake_engine.last_buf_size = buf_size;
	memcpy(fake_engine.last_cmd, buf, cmd_len < sizeof(fake_engine.last_cmd) ? cmd_len : sizeof(fake_engine.last_cmd));
	if (fake_engine.hook) {
		fake_engine.hook(fake_engine.hook_ctx);
	}
	if (fake_engine.exec_result != VTPM_ENGINE_OK) {
		return fake_engine.exec_result;
	}
	/* An engine may answer at most buf_size bytes; the tests also ask for more than the guest can take. */
	u32 n = fake_engine.rsp_len < buf_size ? fake_engine.rsp_len : buf_size;
	memcpy(buf, fake_engine.rsp, n);
	*rsp_len = fake_engine.rsp_len;
	return VTPM_ENGINE_OK;
}

enum vtpm_engine_result vtpm_engine_idle(bool final)
{
	fake_engine.idles++;
	return VTPM_ENGINE_OK;
}
