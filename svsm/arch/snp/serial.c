/*
 * The 16550 serial port COM1: the image's console and the channel its test results go
 * out on. One writer at a time (a lock, so that lines of several CPUs do not mix); a CPU
 * that already holds it (a fault while printing) writes without waiting for itself.
 */
#include <stdarg.h>

#include <svsm/log.h>

#include "insn.h"
#include "snp.h"

#define SERIAL_LSR_THRE 0x20

/* 115200 8N1, FIFOs on, no interrupts. */
void serial_init(void)
{
	insn_outb(SERIAL_COM1 + 1, 0x00);
	insn_outb(SERIAL_COM1 + 3, 0x80);
	insn_outb(SERIAL_COM1 + 0, 0x01);
	insn_outb(SERIAL_COM1 + 1, 0x00);
	insn_outb(SERIAL_COM1 + 3, 0x03);
	insn_outb(SERIAL_COM1 + 2, 0xC7);
	insn_outb(SERIAL_COM1 + 4, 0x03);
}

/* 0 = free, else the holder's cpu index + 1. */
static u32 serial_owner;

void serial_write(const char *buf, size_t len)
{
	u32 me = percpu_cpu_index() + 1;
	u32 free = 0;
	bool nested = __atomic_load_n(&serial_owner, __ATOMIC_RELAXED) == me;

	while (!nested && !__atomic_compare_exchange_n(&serial_owner, &free, me, false, __ATOMIC_ACQUIRE,
						       __ATOMIC_RELAXED)) {
		free = 0;
		__builtin_ia32_pause();
	}
	for (size_t i = 0; i < len; i++) {
		/* Bounded wait: a missing UART must not hang the image. */
		for (unsigned spin = 0; spin < 100000; spin++) {
			if (insn_inb(SERIAL_COM1 + 5) & SERIAL_LSR_THRE) {
				break;
			}
		}
		insn_outb(SERIAL_COM1, (u8)buf[i]);
	}
	if (!nested) {
		__atomic_store_n(&serial_owner, 0, __ATOMIC_RELEASE);
	}
}

void serial_printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	int n = svsm_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1) {
		n = (int)sizeof(buf) - 1;
	}
	if (n > 0) {
		serial_write(buf, (size_t)n);
	}
}
