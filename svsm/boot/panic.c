/* svsm_panic: log the reason, ask the hypervisor to terminate us, never return. */
#include <svsm/arch.h>
#include <svsm/ghcb_client.h>
#include <svsm/log.h>
#include <svsm/panic.h>

/* Report a broken internal invariant and terminate through the GHCB MSR protocol. */
void svsm_panic(const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	svsm_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_set_console(NULL);
	log_msg(LOG_ERROR, "panic: %s", msg);
	ghcb_msr_terminate(TERM_SET_SVSM, TERM_SVSM_PANIC);
}
