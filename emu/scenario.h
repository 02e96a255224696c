/* The default scenario of `svsm-emu run`: each step, what the spec says it must return, and what it did. */
#ifndef EMU_CLI_SCENARIO_H
#define EMU_CLI_SCENARIO_H

#include "guest.h"
#include "oracle.h"

#define SCENARIO_MAX_STEPS 64

struct scenario_step {
	const char *name;
	const char *expect;  /* what the spec says, in words */
	bool passed;
	char detail[160];    /* what happened */
	u64 calls;           /* SVSM calls the step issued (with retries) */
	u64 ns;              /* wall time of the step */
};

struct scenario {
	struct emu_machine *m;
	struct emu_guest g;
	struct oracle_state oracle;
	bool check_oracle;
	unsigned oracle_violations;
	char oracle_report[1024];
	struct scenario_step steps[SCENARIO_MAX_STEPS];
	unsigned step_count;
	u64 query_loop_calls;
	u64 query_loop_ns;
};

/* Run every step on a booted machine; returns the number of failed steps. */
unsigned scenario_run(struct scenario *s, struct emu_machine *m);

#endif
