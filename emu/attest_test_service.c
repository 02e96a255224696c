/* The emulator's attestable test service (see attest_test_service.h). */
#include <ctype.h>
#include <string.h>

#include "attest_test_service.h"

static struct {
	struct attest_service svc;
	u8 data[ATTEST_TEST_SERVICE_MAX];
	u32 len;
} test_service;

static u32 test_service_manifest(const struct attest_service *s, u32 version, u8 *buf, u32 size)
{
	(void)s;
	(void)version;
	if (test_service.len <= size) {
		memcpy(buf, test_service.data, test_service.len);
	}
	return test_service.len;
}

int attest_test_service_register(struct emu_machine *m, const void *data, u32 len)
{
	static const u8 guid[16] = ATTEST_TEST_SERVICE_GUID;

	if (!data) {
		data = ATTEST_TEST_SERVICE_DEFAULT;
		len = sizeof(ATTEST_TEST_SERVICE_DEFAULT) - 1;
	}
	if (len > sizeof(test_service.data)) {
		return -1;
	}
	memcpy(test_service.data, data, len);
	test_service.len = len;
	test_service.svc = (struct attest_service){
		.name = "svsm-emu test service",
		.max_manifest_version = 0,
		.manifest = test_service_manifest,
	};
	memcpy(test_service.svc.guid, guid, sizeof(guid));
	emu_startup_vcpu_enter_svsm(m);
	attest_service_unregister(guid);
	int rc = attest_service_register(&test_service.svc);
	emu_startup_vcpu_leave_svsm(m);
	return rc;
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : (isxdigit(c) ? tolower(c) - 'a' + 10 : -1);
}

int attest_guid_parse(const char *s, u8 out[16])
{
	/* Text order of the 16 bytes, then the first three groups byte-swapped (UEFI order). */
	static const u8 uefi[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
	u8 text[16];
	unsigned n = 0;

	if (strlen(s) != 36) {
		return -1;
	}
	for (unsigned i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-') {
				return -1;
			}
			i++;
			continue;
		}
		int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0) {
			return -1;
		}
		text[n++] = (u8)(hi << 4 | lo);
		i += 2;
	}
	for (unsigned i = 0; i < 16; i++) {
		out[i] = text[uefi[i]];
	}
	return 0;
}
