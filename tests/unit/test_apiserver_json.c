/* test_apiserver_json: the apiserver's JSON writer and Prometheus' number
 * and time formats (Go's strconv.FormatFloat 'f'/'e' with precision -1,
 * jsonutil.MarshalFloat and MarshalTimestamp, RFC 3339). Expected strings
 * are what Prometheus (Go) prints for the same values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/json.h"

static void check_value(double v, const char *want)
{
	char buf[JSON_NUM_MAX];
	size_t n = json_fmt_value(buf, sizeof(buf), v);
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static void check_go_e(double v, const char *want)
{
	char buf[JSON_NUM_MAX];
	json_fmt_go(buf, sizeof(buf), v, 'e');
	assert_string_equal(buf, want);
}

static void check_time(int64_t ms, const char *want)
{
	char buf[JSON_NUM_MAX];
	json_fmt_time(buf, sizeof(buf), ms);
	assert_string_equal(buf, want);
}

static void test_values_print_shortest_round_trip_decimal(void **state)
{
	(void)state;
	check_value(1.5, "1.5");
	check_value(0.1, "0.1");
	check_value(0.1 + 0.2, "0.30000000000000004");
	check_value(100, "100");
	check_value(-2.5, "-2.5");
	check_value(123456789.125, "123456789.125");
	check_value(1e20, "100000000000000000000");
	check_value(12345e10, "123450000000000");
	check_value(9007199254740993.0, "9007199254740992");
	check_value(1e-6, "0.000001");
	check_value(0.000123, "0.000123");
	check_value(1.0 / 3.0, "0.3333333333333333");
}

static void test_values_switch_to_exponent_outside_1e_minus6_to_1e21(void **state)
{
	(void)state;
	check_value(1e21, "1e+21");
	check_value(1.5e22, "1.5e+22");
	check_value(1e-7, "1e-07");
	check_value(-2.5e-9, "-2.5e-09");
	check_value(5e-324, "5e-324");
	check_value(1.7976931348623157e308, "1.7976931348623157e+308");
}

static void test_special_values_print_as_prometheus_does(void **state)
{
	(void)state;
	check_value(0.0, "0");
	check_value(-0.0, "-0");
	check_value(NAN, "NaN");
	check_value(INFINITY, "+Inf");
	check_value(-INFINITY, "-Inf");
}

static void test_alert_values_use_go_e_format(void **state)
{
	(void)state;
	check_go_e(1, "1e+00");
	check_go_e(1.5, "1.5e+00");
	check_go_e(100, "1e+02");
	check_go_e(123456, "1.23456e+05");
	check_go_e(0.05, "5e-02");
	check_go_e(0, "0e+00");
	check_go_e(-3e100, "-3e+100");
}

static void test_timestamps_keep_three_decimals_when_fractional(void **state)
{
	(void)state;
	check_time(1700000000123, "1700000000.123");
	check_time(1700000000120, "1700000000.120");
	check_time(1700000000001, "1700000000.001");
	check_time(1700000000000, "1700000000");
	check_time(5, "0.005");
	check_time(0, "0");
	check_time(-1500, "-1.500");
	check_time(INT64_MIN, "-9223372036854775.808");
}

static void test_rfc3339_trims_the_fraction(void **state)
{
	char buf[64];
	(void)state;
	json_fmt_rfc3339(buf, sizeof(buf), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	json_fmt_rfc3339(buf, sizeof(buf), 1700000000120);
	assert_string_equal(buf, "2023-11-14T22:13:20.12Z");
	json_fmt_rfc3339(buf, sizeof(buf), 1700000000001);
	assert_string_equal(buf, "2023-11-14T22:13:20.001Z");
	json_fmt_rfc3339(buf, sizeof(buf), -1);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

/* Flushes w and returns the evbuffer's text (malloc'd). */
static char *drain(struct json_w *w, struct evbuffer *b)
{
	json_flush(w);
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

static void test_strings_are_escaped(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	struct json_w *w = malloc(sizeof(*w));
	json_init(w, b);
	const char s[] = "a\"b\\c\nd\te\x01" "f\xc3\xa9";
	json_str(w, s, sizeof(s) - 1);
	json_raw(w, ",", 1);
	json_value(w, 2.5);
	json_raw(w, ",", 1);
	json_time(w, 1500);
	json_raw(w, ",", 1);
	json_int(w, -42);
	char *out = drain(w, b);
	assert_string_equal(out, "\"a\\\"b\\\\c\\nd\\te\\u0001f\xc3\xa9\",\"2.5\",1.500,-42");
	free(out);
	free(w);
	evbuffer_free(b);
}

static void test_writes_larger_than_the_stage_buffer_arrive_in_order(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	struct json_w *w = malloc(sizeof(*w));
	json_init(w, b);
	size_t big = JSON_STAGE_BYTES * 3 + 7;
	char *x = malloc(big);
	memset(x, 'x', big);
	json_lit(w, "[");
	for (int i = 0; i < 5000; i++)
		json_int(w, i % 10);
	json_raw(w, x, big);
	json_lit(w, "]");
	char *out = drain(w, b);
	assert_int_equal(strlen(out), 2 + 5000 + big);
	assert_int_equal(out[0], '[');
	assert_int_equal(out[1], '0');
	assert_int_equal(out[5000], '9');
	assert_int_equal(out[5001], 'x');
	assert_int_equal(out[5000 + big], 'x');
	assert_int_equal(out[5001 + big], ']');
	free(out);
	free(x);
	free(w);
	evbuffer_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_print_shortest_round_trip_decimal),
		cmocka_unit_test(test_values_switch_to_exponent_outside_1e_minus6_to_1e21),
		cmocka_unit_test(test_special_values_print_as_prometheus_does),
		cmocka_unit_test(test_alert_values_use_go_e_format),
		cmocka_unit_test(test_timestamps_keep_three_decimals_when_fractional),
		cmocka_unit_test(test_rfc3339_trims_the_fraction),
		cmocka_unit_test(test_strings_are_escaped),
		cmocka_unit_test(test_writes_larger_than_the_stage_buffer_arrive_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
