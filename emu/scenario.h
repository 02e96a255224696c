/* The default scenario of `svsm-emu run`: each step, what the spec says it must return, and what it did. */
#ifndef EMU_CLI_SCENARIO_H
#define EMU_CLI_SCENARIO_H

#include "guest.h"
#include "oracle.h"

#define SCENARIO_MAX_STEPS 64

/* What became of a step; the last three only happen with a hostile host. */
enum step_verdict {
	STEP_PASS,       /* it did what the spec says */
	STEP_FAIL,       /* it did not, on an honest host (or something unsafe happened) */
	STEP_SAFE,       /* the host misbehaved: the SVSM refused or could not finish, safely */
	STEP_TERMINATED, /* the SVSM stopped the machine rather than use what the host changed */
	STEP_SKIPPED,    /* the machine was terminated earlier */
};

struct scenario_step {
	const char *name;
	const char *expect;  /* what the spec says, in words */
	bool passed;         /* PASS, SAFE, TERMINATED or SKIPPED in a hostile run */
	enum step_verdict verdict;
	bool unsafe;         /* an oracle violation or a finding of the machine during the step */
	char detail[320];    /* what happened */
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
	bool hostile;        /* the host misbehaves on purpose: failures may be safe */
	bool terminated;     /* the machine was terminated during a step */
	u64 findings_seen;
};

/*
 * Run every step on a booted machine; returns the number of failed steps (in a hostile
 * run: the number of unsafe ones). A termination of the machine ends the run (the
 * remaining steps are skipped); it is caught here.
 */
unsigned scenario_run(struct scenario *s, struct emu_machine *m);

const char *scenario_verdict_name(enum step_verdict v);

#endif
