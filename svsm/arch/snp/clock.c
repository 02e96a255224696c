/* Time in the image: the TSC, calibrated once against the PIT (8254) channel 2. */
#include "insn.h"
#include "snp.h"

#define PIT_HZ 1193182ull
#define PIT_CAL_TICKS 11932u /* 10 ms */

static u64 clock_hz;
static u64 clock_tsc0;

/* Gate channel 2 for one-shot counting and time it with the TSC. */
void clock_init(void)
{
	u8 gate = insn_inb(0x61);

	insn_outb(0x61, (u8)((gate & ~0x02) | 0x01));
	insn_outb(0x43, 0xB0); /* channel 2, lobyte/hibyte, mode 0 */
	insn_outb(0x42, PIT_CAL_TICKS & 0xFF);
	insn_outb(0x42, PIT_CAL_TICKS >> 8);
	u64 start = insn_rdtsc();
	u64 spins = 0;
	/* OUT2 goes high when the count reaches zero; bounded in case there is no PIT. */
	while (!(insn_inb(0x61) & 0x20) && spins < 100000000ull) {
		spins++;
	}
	u64 end = insn_rdtsc();
	insn_outb(0x61, gate);
	clock_hz = (end - start) * PIT_HZ / PIT_CAL_TICKS;
	if (clock_hz < 1000000) {
		/* No usable PIT: assume 1 GHz so that time still advances. */
		clock_hz = 1000000000ull;
	}
	clock_tsc0 = insn_rdtsc();
}

u64 clock_tsc_hz(void)
{
	return clock_hz;
}

/* Nanoseconds since clock_init; split so that the multiplication cannot overflow. */
u64 clock_ns(void)
{
	u64 ticks = insn_rdtsc() - clock_tsc0;

	return ticks / clock_hz * 1000000000ull + (ticks % clock_hz) * 1000000000ull / clock_hz;
}
