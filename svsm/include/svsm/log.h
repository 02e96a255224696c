/*
 * Core log: every message goes into an in-memory ring buffer and, once this vCPU has a
 * GHCB, to the serial console through GHCB IOIO (before that, arch_console_write).
 */
#ifndef SVSM_LOG_H
#define SVSM_LOG_H

#include <svsm/types.h>
#include <stdarg.h>

#define LOG_RING_SIZE 16384

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

void log_msg(enum log_level level, const char *fmt, ...) SVSM_PRINTF(2, 3);
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

/* Messages below this level are dropped (default LOG_INFO). */
void log_set_level(enum log_level level);

/*
 * Copy the ring buffer's contents, oldest first, into @buf (at most @size - 1 bytes,
 * NUL-terminated). Returns the number of bytes copied.
 */
size_t log_ring_read(char *buf, size_t size);
/* Empty the ring buffer. */
void log_ring_clear(void);
/*
 * Print what the ring holds and the console has not had yet, unless another CPU is
 * printing (then that CPU prints it). Every message calls it; see log.c.
 */
void log_drain(void);
/* A fresh boot or a terminated request: the log's lock and drainer flag are free. */
void log_lock_reset(void);

/*
 * Where the console bytes go: the core installs the GHCB IOIO writer once the GHCB is
 * registered. NULL reverts to arch_console_write.
 */
void log_set_console(void (*write)(const char *buf, size_t len));

/* snprintf subset: %s %c %d %i %u %x %X %p %%, with l/ll/z and width/zero-pad. */
int svsm_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int svsm_snprintf(char *buf, size_t size, const char *fmt, ...) SVSM_PRINTF(3, 4);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
