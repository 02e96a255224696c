/* The core log: a ring buffer of recent messages plus the serial console. */
#include <svsm/arch.h>
#include <svsm/log.h>
#include <svsm/spinlock.h>

static SVSM_STATE struct {
	struct spinlock lock;
	char ring[LOG_RING_SIZE];
	u64 head; /* total bytes ever written; ring index = head % LOG_RING_SIZE */
	enum log_level level;
	void (*console)(const char *buf, size_t len);
} log_state = {.level = LOG_INFO};

static const char *const log_prefix[] = {
	[LOG_ERROR] = "[svsm] ERROR: ",
	[LOG_WARN] = "[svsm] WARN: ",
	[LOG_INFO] = "[svsm] ",
	[LOG_DEBUG] = "[svsm] debug: ",
};

/* Set the lowest-priority level that is still recorded. */
void log_set_level(enum log_level level)
{
	log_state.level = level;
}

/* Route console output (NULL: the arch early console). */
void log_set_console(void (*write)(const char *buf, size_t len))
{
	__atomic_store_n(&log_state.console, write, __ATOMIC_RELEASE);
}

static void log_ring_append(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		log_state.ring[log_state.head % LOG_RING_SIZE] = s[i];
		log_state.head++;
	}
}

/* Format one message into the ring and the console. */
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	if (level > log_state.level) {
		return;
	}
	n = (size_t)svsm_snprintf(line, sizeof(line), "%s", log_prefix[level]);
	int m = svsm_vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	n += (size_t)m;
	if (n > sizeof(line) - 2) {
		n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	line[n] = '\0';

	spin_lock(&log_state.lock);
	log_ring_append(line, n);
	spin_unlock(&log_state.lock);

	void (*console)(const char *, size_t) = __atomic_load_n(&log_state.console, __ATOMIC_ACQUIRE);
	if (console) {
		console(line, n);
	} else {
		arch_console_write(line, n);
	}
}

/* printf-style log message at @level. */
void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* Copy the ring's contents, oldest first, NUL-terminated; returns bytes copied. */
size_t log_ring_read(char *buf, size_t size)
{
	size_t n = 0;

	if (size == 0) {
		return 0;
	}
	spin_lock(&log_state.lock);
	u64 avail = log_state.head < LOG_RING_SIZE ? log_state.head : LOG_RING_SIZE;
	u64 start = log_state.head - avail;
	for (u64 i = 0; i < avail && n + 1 < size; i++) {
		buf[n++] = log_state.ring[(start + i) % LOG_RING_SIZE];
	}
	spin_unlock(&log_state.lock);
	buf[n] = '\0';
	return n;
}

/* Forget everything in the ring (a fresh machine starts with an empty log). */
void log_ring_clear(void)
{
	spin_lock(&log_state.lock);
	log_state.head = 0;
	spin_unlock(&log_state.lock);
}
