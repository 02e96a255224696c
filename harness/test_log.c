/* The core log: formatter, ring buffer, console routing through GHCB IOIO. */
#include <stdio.h>
#include <stdlib.h>

#include <svsm/log.h>

#include "test_common.h"

static void test_format_conversions(void **state)
{
	char b[128];

	(void)state;
	svsm_snprintf(b, sizeof(b), "%d %u %x %X %s %c %%", -42, 42u, 0xbeefu, 0xbeefu, "str", 'c');
	assert_string_equal(b, "-42 42 beef BEEF str c %");
	svsm_snprintf(b, sizeof(b), "%llx %lu %zu %08x %5d|%-s", 0x123456789abcull, 7ul, (size_t)9, 0x2au, 12, "x");
	assert_string_equal(b, "123456789abc 7 9 0000002a    12|%-s");
	const char *volatile none = NULL;
	svsm_snprintf(b, sizeof(b), "%s %p", none, (void *)0x10);
	assert_string_equal(b, "(null) 0x10");
}

static void test_format_truncates_and_reports_length(void **state)
{
	char b[8];

	(void)state;
	int n = svsm_snprintf(b, sizeof(b), "%s", "0123456789");
	assert_int_equal(n, 10);
	assert_string_equal(b, "0123456");
	assert_int_equal(svsm_snprintf(NULL, 0, "%d", 12345), 5);
}

static void test_format_extremes(void **state)
{
	char b[64];

	(void)state;
	svsm_snprintf(b, sizeof(b), "%lld %llu", (long long)INT64_MIN, (unsigned long long)UINT64_MAX);
	assert_string_equal(b, "-9223372036854775808 18446744073709551615");
}

static void test_ring_keeps_messages_and_wraps(void **state)
{
	struct hx *h = *state;
	static char buf[LOG_RING_SIZE + 1];

	(void)h;
	log_ring_clear();
	hx_as_svsm_begin(h);
	log_info("first message");
	hx_as_svsm_end(h);
	log_ring_read(buf, sizeof(buf));
	assert_non_null(strstr(buf, "first message"));
	hx_as_svsm_begin(h);
	for (unsigned i = 0; i < 1000; i++) {
		log_info("filler line %u with some padding to fill the ring", i);
	}
	hx_as_svsm_end(h);
	size_t n = log_ring_read(buf, sizeof(buf));
	assert_int_equal(n, LOG_RING_SIZE);
	assert_null(strstr(buf, "first message"));
	assert_non_null(strstr(buf, "filler line 999"));
}

static void test_level_filter(void **state)
{
	struct hx *h = *state;
	char buf[512];

	log_ring_clear();
	hx_as_svsm_begin(h);
	log_debug("hidden");
	log_set_level(LOG_DEBUG);
	log_debug("shown");
	log_set_level(LOG_INFO);
	hx_as_svsm_end(h);
	log_ring_read(buf, sizeof(buf));
	assert_null(strstr(buf, "hidden"));
	assert_non_null(strstr(buf, "shown"));
}

static void test_console_goes_through_ghcb_ioio(void **state)
{
	struct emu_config c;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	emu_config_default(&c);
	c.console = open_memstream(&text, &len);
	struct hx *h = hx_boot(&c);
	assert_non_null(h);
	u64 ioio = emu_exits(h->m, EXIT_NAE_IOIO);
	hx_as_svsm_begin(h);
	log_info("via the serial port");
	hx_as_svsm_end(h);
	assert_true(emu_exits(h->m, EXIT_NAE_IOIO) > ioio);
	fflush(c.console);
	assert_non_null(strstr(text, "via the serial port"));
	assert_non_null(strstr(text, "SVSM 0.1.0 up"));
	hx_shutdown(h);
	fclose(c.console);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_conversions),
		cmocka_unit_test(test_format_truncates_and_reports_length),
		cmocka_unit_test(test_format_extremes),
		cmocka_unit_test_setup_teardown(test_ring_keeps_messages_and_wraps, hx_setup, hx_teardown),
		cmocka_unit_test_setup_teardown(test_level_filter, hx_setup, hx_teardown),
		cmocka_unit_test(test_console_goes_through_ghcb_ioio),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
