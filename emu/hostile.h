/*
 * The catalogue of hostile-host misbehaviours: every way the emulated hypervisor can be
 * told to misbehave by name (`svsm-emu run --hostile NAME[,NAME...]`, `--hostile list`),
 * what it does, how the SVSM must fail safe, and the test that shows it
 * (harness/test_hostile.c, one test per entry). docs/hostile.md is generated from the same
 * table (`svsm-emu run --hostile list --markdown`).
 */
#ifndef EMU_HOSTILE_H
#define EMU_HOSTILE_H

#include "machine.h"

/* How the SVSM fails safe. */
enum hostile_outcome {
	HOSTILE_CONTINUES,     /* the calls still work, or fail with an SVSM error; nothing unsafe */
	HOSTILE_REFUSED,       /* the affected call is refused with an SVSM error and changes nothing */
	HOSTILE_TERMINATED,    /* the SVSM stops the machine (it never uses what the host changed) */
	HOSTILE_BOOT_REFUSED,  /* the SVSM does not start on such a host */
};

struct hostile_entry {
	const char *name;
	const char *does;    /* what the host does */
	const char *outcome; /* what the SVSM does about it */
	enum hostile_outcome kind;
	const char *test;    /* the test that shows it (suite:function) */
	bool at_boot;        /* armed before the SVSM boots */
	void (*arm)(struct emu_hostile *h);
};

extern const struct hostile_entry hostile_entries[];
extern const unsigned hostile_entry_count;

const struct hostile_entry *hostile_find(const char *name);
const char *hostile_outcome_name(enum hostile_outcome k);

/*
 * Arm each misbehaviour named in the comma-separated @names on @h: the boot-time ones if
 * @boot, the others if not. Returns 0, or -1 with a message in @err for an unknown name.
 */
int hostile_arm_names(struct emu_hostile *h, const char *names, bool boot, char *err, size_t err_size);

/* True if any name in @names is a boot-time misbehaviour (an unknown name counts as none). */
bool hostile_names_have_boot(const char *names);

#endif
