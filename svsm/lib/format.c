/* A small vsnprintf for the core log (no libc): %s %c %d %i %u %x %X %p %% with l/ll/z. */
#include <svsm/log.h>

struct fmt_out {
	char *buf;
	size_t size;
	size_t len;
};

static void fmt_putc(struct fmt_out *o, char c)
{
	if (o->len + 1 < o->size) {
		o->buf[o->len] = c;
	}
	o->len++;
}

static void fmt_number(struct fmt_out *o, u64 v, unsigned base, bool upper, bool negative, unsigned width,
		       char pad)
{
	char tmp[24];
	unsigned n = 0;
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v != 0);
	if (negative) {
		if (pad == '0') {
			fmt_putc(o, '-');
		} else {
			tmp[n++] = '-';
		}
	}
	for (unsigned i = n + (negative && pad == '0'); i < width; i++) {
		fmt_putc(o, pad);
	}
	while (n > 0) {
		fmt_putc(o, tmp[--n]);
	}
}

/* Format into @buf like vsnprintf; returns the length the full output would have. */
int svsm_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmt_out o = {buf, size, 0};

	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			fmt_putc(&o, *p);
			continue;
		}
		p++;
		char pad = ' ';
		unsigned width = 0;
		unsigned lng = 0;
		if (*p == '0') {
			pad = '0';
			p++;
		}
		while (*p >= '0' && *p <= '9') {
			width = width * 10 + (unsigned)(*p - '0');
			p++;
		}
		while (*p == 'l' || *p == 'z') {
			lng++;
			p++;
		}
		switch (*p) {
		case 'd':
		case 'i': {
			s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);
			fmt_number(&o, v < 0 ? (u64)0 - (u64)v : (u64)v, 10, false, v < 0, width, pad);
			break;
		}
		case 'u':
			fmt_number(&o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 10, false, false, width, pad);
			break;
		case 'x':
		case 'X':
			fmt_number(&o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 16, *p == 'X', false, width,
				   pad);
			break;
		case 'p':
			fmt_putc(&o, '0');
			fmt_putc(&o, 'x');
			fmt_number(&o, (u64)(uintptr_t)va_arg(ap, void *), 16, false, false, width, pad);
			break;
		case 'c':
			fmt_putc(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s) {
				s = "(null)";
			}
			size_t n = 0;
			while (s[n]) {
				n++;
			}
			for (size_t i = n; i < width; i++) {
				fmt_putc(&o, ' ');
			}
			for (size_t i = 0; i < n; i++) {
				fmt_putc(&o, s[i]);
			}
			break;
		}
		case '%':
			fmt_putc(&o, '%');
			break;
		case '\0':
			p--;
			break;
		default:
			fmt_putc(&o, '%');
			fmt_putc(&o, *p);
			break;
		}
	}
	if (size > 0) {
		o.buf[o.len < size ? o.len : size - 1] = '\0';
	}
	return (int)o.len;
}

/* snprintf on top of svsm_vsnprintf. */
int svsm_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = svsm_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
