/* The 16550 serial port COM1: the image's console and the channel its test results go out on. */
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

void serial_write(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		/* Bounded wait: a missing UART must not hang the image. */
		for (unsigned spin = 0; spin < 100000; spin++) {
			if (insn_inb(SERIAL_COM1 + 5) & SERIAL_LSR_THRE) {
				break;
			}
		}
		insn_outb(SERIAL_COM1, (u8)buf[i]);
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
