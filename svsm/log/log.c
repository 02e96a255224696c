/*
 * The core log: a ring buffer of recent messages plus the serial console.
 *
 * Concurrency: the ring and its cursors belong to log_state.lock (a leaf, held only to
 * copy bytes in or out). Console output is a VMGEXIT per byte on SNP, so no lock is held
 * across it: every CPU appends its whole line to the ring, then tries to become the
 * console's drainer (an atomic flag that nobody waits for). The drainer copies the bytes
 * not yet printed out of the ring, in order, and prints them; a CPU that finds the flag
 * taken leaves its line to the drainer. Lines never interleave on the console, and a
 * slow console (or a host that stalls the drainer's IOIO exits) holds up nobody else.
 */
#include <svsm/arch.h>
#include <svsm/log.h>
#include <svsm/spinlock.h>

static SVSM_STATE struct {
	struct spinlock lock;
	char ring[LOG_RING_SIZE];
	u64 head;    /* total bytes ever written; ring index = head % LOG_RING_SIZE */
	u64 printed; /* bytes the console has been given (<= head) */
	u32 draining; /* a CPU is printing (atomic flag, never waited for) */
	enum log_level level;
	void (*console)(const char *buf, size_t len);
} log_state = {.level = LOG_INFO};

/* See log.h: a terminated machine may have left the lock or the drainer flag set. */
void log_lock_reset(void)
{
	log_state.lock = (struct spinlock)SPINLOCK_INIT;
	__atomic_store_n(&log_state.draining, 0, __ATOMIC_RELEASE);
}

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
	log_drain();
}

/* The next bytes the console has not been given, into @buf; 0 when it is up to date. */
static size_t log_take_unprinted(char *buf, size_t size)
{
	size_t n = 0;

	spin_lock(&log_state.lock);
	if (log_state.head - log_state.printed > LOG_RING_SIZE) {
		/* Overwritten before it was printed: the console skips what the ring lost. */
		log_state.printed = log_state.head - LOG_RING_SIZE;
	}
	while (log_state.printed < log_state.head && n < size) {
		buf[n++] = log_state.ring[log_state.printed % LOG_RING_SIZE];
		log_state.printed++;
	}
	spin_unlock(&log_state.lock);
	return n;
}

/* Print what the ring holds and the console has not had yet, unless another CPU is at it. */
void log_drain(void)
{
	char chunk[128];

	while (!__atomic_exchange_n(&log_state.draining, 1, __ATOMIC_ACQUIRE)) {
		size_t n;
		while ((n = log_take_unprinted(chunk, sizeof(chunk))) > 0) {
			void (*console)(const char *, size_t) = __atomic_load_n(&log_state.console, __ATOMIC_ACQUIRE);
			if (console) {
				console(chunk, n);
			} else {
				arch_console_write(chunk, n);
			}
		}
		__atomic_store_n(&log_state.draining, 0, __ATOMIC_RELEASE);
		/* A line appended after the last take but before the flag was cleared is ours. */
		spin_lock(&log_state.lock);
		bool more = log_state.printed != log_state.head;
		spin_unlock(&log_state.lock);
		if (!more) {
			break;
		}
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
	log_state.printed = 0;
	spin_unlock(&log_state.lock);
}
