/*
 * The emulator's attestable test service: one registered service with a GUID and manifest
 * data of the caller's choosing, standing in for the vTPM (which will register itself
 * later) in tests, fuzzing and `svsm-emu attest`. Hosted; it registers with the SVSM by
 * running as SVSM code on the startup vCPU.
 */
#ifndef EMU_ATTEST_TEST_SERVICE_H
#define EMU_ATTEST_TEST_SERVICE_H

#include <svsm/attest.h>

#include "machine.h"

/* 3f1e9c5a-7b2d-4c8e-9a61-0d5b2e7f4c13, in UEFI byte order. */
#define ATTEST_TEST_SERVICE_GUID {0x5a, 0x9c, 0x1e, 0x3f, 0x2d, 0x7b, 0x8e, 0x4c, 0x9a, 0x61, 0x0d, 0x5b, 0x2e, 0x7f, 0x4c, 0x13}
#define ATTEST_TEST_SERVICE_GUID_STR "3f1e9c5a-7b2d-4c8e-9a61-0d5b2e7f4c13"
#define ATTEST_TEST_SERVICE_DEFAULT "svsm-emu test service: manifest version 0"
#define ATTEST_TEST_SERVICE_MAX 8192

/*
 * Register the test service in @m's SVSM with @len bytes of manifest data (copied; NULL =
 * the default text) for version 0. 0, or -1 if the SVSM refused it.
 */
int attest_test_service_register(struct emu_machine *m, const void *data, u32 len);

/* Parse "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into UEFI byte order. 0 or -1. */
int attest_guid_parse(const char *s, u8 out[16]);

#endif
