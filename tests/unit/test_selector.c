/* test_selector: unit tests of common/selector (metric names, the four
 * operators, string quoting and escapes, ranges, offsets, errors with
 * positions, and the conversion to query matchers). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/selector.h"

static size_t parse_ok(struct selector *sel, const char *s)
{
	char err[256] = "";
	size_t used = 0;
	int rc = selector_parse(sel, s, strlen(s), &used, err, sizeof(err));
	if (rc != 0)
		fail_msg("selector_parse(%s): %d %s", s, rc, err);
	return used;
}

/* Parses s expecting -EINVAL at byte position pos with `what` in the text. */
static void parse_fails_at(const char *s, size_t pos, const char *what)
{
	struct selector sel;
	char err[256] = "", want[32];
	size_t used = 12345;
	int rc = selector_parse(&sel, s, strlen(s), &used, err, sizeof(err));
	snprintf(want, sizeof(want), "position %zu: ", pos);
	if (rc != -EINVAL || strncmp(err, want, strlen(want)) != 0 || !strstr(err, what))
		fail_msg("selector_parse(%s): rc %d err \"%s\" (wanted \"%s...%s\")", s, rc, err, want, what);
	assert_int_equal(sel.n, 0); /* freed on failure */
	assert_int_equal(used, 12345);
}

static void assert_matcher(const struct selector *sel, size_t i, int op, const char *name, const char *value)
{
	assert_true(i < sel->n);
	assert_int_equal(sel->m[i].op, op);
	assert_string_equal(sel->m[i].name, name);
	assert_string_equal(sel->m[i].value, value);
	assert_int_equal(sel->m[i].value_len, strlen(value));
}

static void test_a_bare_name_becomes_a_name_equality_matcher(void **state)
{
	(void)state;
	struct selector sel;
	assert_int_equal(parse_ok(&sel, "  node_load1  "), 14);
	assert_int_equal(sel.n, 1);
	assert_matcher(&sel, 0, REC_M_EQ, "__name__", "node_load1");
	assert_int_equal(sel.range_ms, 0);
	assert_int_equal(sel.offset_ms, 0);
	selector_free(&sel);

	/* Colons are allowed in metric names (recording rules). */
	parse_ok(&sel, "job:rate5m:sum");
	assert_matcher(&sel, 0, REC_M_EQ, "__name__", "job:rate5m:sum");
	selector_free(&sel);

	/* Names that merely start with a keyword are names. */
	parse_ok(&sel, "offset_total");
	assert_matcher(&sel, 0, REC_M_EQ, "__name__", "offset_total");
	selector_free(&sel);
	parse_ok(&sel, "bytes");
	selector_free(&sel);
}

static void test_all_four_operators_parse_in_order(void **state)
{
	(void)state;
	struct selector sel;
	const char *s = "http_requests_total{job=\"api\", code!=\"200\",path=~\"/v1/.*\" , method !~ \"GET|HEAD\",}";
	assert_int_equal(parse_ok(&sel, s), strlen(s));
	assert_int_equal(sel.n, 5);
	assert_matcher(&sel, 0, REC_M_EQ, "__name__", "http_requests_total");
	assert_matcher(&sel, 1, REC_M_EQ, "job", "api");
	assert_matcher(&sel, 2, REC_M_NE, "code", "200");
	assert_matcher(&sel, 3, REC_M_RE, "path", "/v1/.*");
	assert_matcher(&sel, 4, REC_M_NRE, "method", "GET|HEAD");
	assert_non_null(sel.m[3].re);
	assert_true(matcher_match_value(&sel.m[3], "/v1/query", 9));
	assert_false(matcher_match_value(&sel.m[3], "/v2/v1/", 7));
	selector_free(&sel);

	/* Only braces, the name as a matcher. */
	parse_ok(&sel, "{__name__=~\"node_.*\"}");
	assert_int_equal(sel.n, 1);
	assert_matcher(&sel, 0, REC_M_RE, "__name__", "node_.*");
	selector_free(&sel);

	/* Empty braces after a name. */
	parse_ok(&sel, "up{}");
	assert_int_equal(sel.n, 1);
	selector_free(&sel);
}

static void test_three_quoting_styles_and_escapes(void **state)
{
	(void)state;
	struct selector sel;
	parse_ok(&sel, "m{a=\"x\\\"y\\\\z\\n\", b='it\\'s \"q\"', c=`raw\\n\"'`, d=\"\\t\\r\\a\\b\\f\\v\"}");
	assert_int_equal(sel.n, 5);
	assert_matcher(&sel, 1, REC_M_EQ, "a", "x\"y\\z\n");
	assert_matcher(&sel, 2, REC_M_EQ, "b", "it's \"q\"");
	assert_matcher(&sel, 3, REC_M_EQ, "c", "raw\\n\"'");
	assert_matcher(&sel, 4, REC_M_EQ, "d", "\t\r\a\b\f\v");
	selector_free(&sel);

	/* Raw strings may span lines; quoted label names (UTF-8 names). */
	parse_ok(&sel, "{\"my.label\"=`a\nb`, x=\"1\"}");
	assert_matcher(&sel, 0, REC_M_EQ, "my.label", "a\nb");
	selector_free(&sel);
}

static void test_ranges_and_offsets_follow_the_matchers(void **state)
{
	(void)state;
	struct selector sel;
	const char *s = "rate_me{a=\"b\"}[5m] offset 1h30m";
	assert_int_equal(parse_ok(&sel, s), strlen(s));
	assert_int_equal(sel.range_ms, 300000);
	assert_int_equal(sel.offset_ms, 5400000);
	selector_free(&sel);

	parse_ok(&sel, "x[ 500ms ]");
	assert_int_equal(sel.range_ms, 500);
	selector_free(&sel);

	parse_ok(&sel, "x offset -5m");
	assert_int_equal(sel.range_ms, 0);
	assert_int_equal(sel.offset_ms, -300000);
	selector_free(&sel);

	parse_ok(&sel, "x[1y]offset 1w");
	assert_int_equal(sel.range_ms, 31536000000LL);
	assert_int_equal(sel.offset_ms, 604800000);
	selector_free(&sel);
}

static void test_consumed_stops_where_the_selector_ends(void **state)
{
	(void)state;
	struct selector sel;
	/* The caller parses what follows ("> 64"); trailing spaces are used. */
	assert_int_equal(parse_ok(&sel, "node_load1 > 64"), 11);
	selector_free(&sel);
	assert_int_equal(parse_ok(&sel, "up{a=\"1\"} == 0"), 10);
	selector_free(&sel);
	/* "offsetx" is not the offset keyword. */
	assert_int_equal(parse_ok(&sel, "up offsetx"), 3);
	assert_int_equal(sel.offset_ms, 0);
	selector_free(&sel);
	/* len bounds the input, not the NUL. */
	char err[128];
	size_t used;
	assert_int_equal(selector_parse(&sel, "up{a=\"1\"}", 2, &used, err, sizeof(err)), 0);
	assert_int_equal(used, 2);
	assert_int_equal(sel.n, 1);
	selector_free(&sel);
}

static void test_errors_give_the_byte_position(void **state)
{
	(void)state;
	parse_fails_at("", 0, "expected a metric name or '{'");
	parse_fails_at("   ", 3, "expected a metric name or '{'");
	parse_fails_at("5xx", 0, "expected a metric name or '{'");
	parse_fails_at("m{a=\"abc", 4, "unterminated string");
	parse_fails_at("m{a='x\ny'}", 6, "unterminated string (newline)");
	parse_fails_at("m{a=\"x\"", 7, "expected ',' or '}'");
	parse_fails_at("m{a=\"x\" b=\"y\"}", 8, "expected ',' or '}'");
	parse_fails_at("m{a==\"x\"}", 4, "expected a string literal");
	parse_fails_at("m{a~\"x\"}", 3, "expected one of '=', '!=', '=~', '!~'");
	parse_fails_at("m{a!\"x\"}", 3, "expected one of");
	parse_fails_at("m{a}", 3, "expected one of");
	parse_fails_at("m{a=x}", 4, "expected a string literal");
	parse_fails_at("m{1a=\"x\"}", 2, "expected a label name");
	parse_fails_at("m{", 2, "expected a label name");
	parse_fails_at("m{a=\"\\q\"}", 6, "unknown escape sequence");
	parse_fails_at("offset", 0, "found a keyword");
	parse_fails_at("  by{a=\"b\"}", 2, "found a keyword");
	parse_fails_at("without", 0, "keyword");
	parse_fails_at("m[5m", 4, "expected ']'");
	parse_fails_at("m[5]", 2, "positive duration");
	parse_fails_at("m[0s]", 2, "positive duration");
	parse_fails_at("m[]", 2, "positive duration");
	parse_fails_at("m offset", 8, "expected a duration after offset");
	parse_fails_at("m offset -x", 10, "expected a duration after offset");
	/* The regex error from the matcher comes through unchanged. */
	struct selector sel;
	char err[256];
	size_t used;
	assert_int_equal(selector_parse(&sel, "m{a=~\"(\"}", 9, &used, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid regular expression"));
}

static void test_selectors_that_match_the_empty_string_are_rejected(void **state)
{
	(void)state;
	parse_fails_at("{a=\"\"}", 6, "at least one non-empty matcher");
	parse_fails_at("{a=~\".*\", b!=\"x\"}", 17, "non-empty matcher");
	parse_fails_at("{}", 2, "non-empty matcher");
	/* One non-empty matcher is enough. */
	struct selector sel;
	parse_ok(&sel, "{a=\"\", b=~\".+\"}");
	assert_int_equal(sel.n, 2);
	selector_free(&sel);
}

static void test_the_metric_name_may_not_be_given_twice(void **state)
{
	(void)state;
	parse_fails_at("up{__name__=\"up\"}", 17, "metric name must not be set twice");
	parse_fails_at("up{a=\"b\",__name__=~\"x\"}", 23, "twice");
}

static void test_too_many_matchers_and_bad_regexes_fail_without_leaks(void **state)
{
	(void)state;
	char s[1024];
	size_t n = (size_t)snprintf(s, sizeof(s), "m{");
	for (int i = 0; i < SELECTOR_MAX_MATCHERS; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "l%d=\"v\",", i);
	snprintf(s + n, sizeof(s) - n, "}");
	/* The name plus 32 label matchers: one too many. ASan checks the
	 * value strings are freed on this path. */
	struct selector sel;
	char err[256] = "";
	size_t used;
	assert_int_equal(selector_parse(&sel, s, strlen(s), &used, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too many label matchers"));
	assert_int_equal(sel.n, 0);
	assert_int_equal(selector_parse(&sel, "{\"q\"=~\"[\"}", 10, &used, err, sizeof(err)), -EINVAL);
	selector_free(&sel);
	selector_free(NULL);
}

static void test_parse_duration_returns_the_bytes_used(void **state)
{
	(void)state;
	int64_t ms = 0;
	assert_int_equal(selector_parse_duration("5m]", 3, &ms), 2);
	assert_int_equal(ms, 300000);
	assert_int_equal(selector_parse_duration("1h30m5s ", 8, &ms), 7);
	assert_int_equal(ms, 5405000);
	assert_int_equal(selector_parse_duration("250ms", 5, &ms), 5);
	assert_int_equal(ms, 250);
	assert_int_equal(selector_parse_duration("5m", 1, &ms), -EINVAL); /* "5" */
	assert_int_equal(selector_parse_duration("]", 1, &ms), -EINVAL);
	assert_int_equal(selector_parse_duration("5x", 2, &ms), -EINVAL);
	assert_int_equal(selector_parse_duration("", 0, &ms), -EINVAL);
	/* A NUL inside the range is not a unit. */
	assert_int_equal(selector_parse_duration("5m\0s", 4, &ms), 2);
}

static void test_to_query_appends_a_matcher_set(void **state)
{
	(void)state;
	struct selector a, b;
	parse_ok(&a, "up{job=\"api\"}");
	parse_ok(&b, "{__name__=~\"node_.*\", i!~\"x\"}");
	struct rec_query q;
	memset(&q, 0, sizeof(q));
	assert_int_equal(selector_to_query(&a, &q, 0), 0);
	assert_int_equal(selector_to_query(&b, &q, 3), 0);
	assert_int_equal(q.nmatchers, 4);
	assert_int_equal(q.nsets, 4);
	assert_int_equal(q.m[0].set, 0);
	assert_int_equal(q.m[1].op, REC_M_EQ);
	assert_int_equal(q.m[1].name_len, 3);
	assert_memory_equal(q.m[1].name, "job", 3);
	assert_memory_equal(q.m[1].value, "api", 3);
	assert_int_equal(q.m[2].set, 3);
	assert_int_equal(q.m[2].op, REC_M_RE);
	assert_int_equal(q.m[3].op, REC_M_NRE);
	assert_ptr_equal(q.m[3].value, b.m[1].value); /* borrowed, not copied */
	/* A lower set does not shrink nsets. */
	assert_int_equal(selector_to_query(&a, &q, 1), 0);
	assert_int_equal(q.nsets, 4);
	/* No room: -ENOSPC, nothing appended. */
	q.nmatchers = REC_MAX_MATCHERS - 1;
	assert_int_equal(selector_to_query(&b, &q, 0), -ENOSPC);
	assert_int_equal(q.nmatchers, REC_MAX_MATCHERS - 1);
	q.nmatchers = 0;
	assert_int_equal(selector_to_query(&a, &q, REC_MAX_SETS), -ENOSPC);
	selector_free(&a);
	selector_free(&b);
}

static void test_to_query_refuses_values_longer_than_16_bits(void **state)
{
	(void)state;
	size_t vl = 70000;
	char *s = malloc(vl + 16);
	assert_non_null(s);
	memcpy(s, "m{a=\"", 5);
	memset(s + 5, 'x', vl);
	memcpy(s + 5 + vl, "\"}", 3);
	struct selector sel;
	parse_ok(&sel, s);
	assert_int_equal(sel.m[1].value_len, vl);
	struct rec_query q;
	memset(&q, 0, sizeof(q));
	assert_int_equal(selector_to_query(&sel, &q, 0), -E2BIG);
	assert_int_equal(q.nmatchers, 0);
	selector_free(&sel);
	free(s);
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_bare_name_becomes_a_name_equality_matcher),
		cmocka_unit_test(test_all_four_operators_parse_in_order),
		cmocka_unit_test(test_three_quoting_styles_and_escapes),
		cmocka_unit_test(test_ranges_and_offsets_follow_the_matchers),
		cmocka_unit_test(test_consumed_stops_where_the_selector_ends),
		cmocka_unit_test(test_errors_give_the_byte_position),
		cmocka_unit_test(test_selectors_that_match_the_empty_string_are_rejected),
		cmocka_unit_test(test_the_metric_name_may_not_be_given_twice),
		cmocka_unit_test(test_too_many_matchers_and_bad_regexes_fail_without_leaks),
		cmocka_unit_test(test_parse_duration_returns_the_bytes_used),
		cmocka_unit_test(test_to_query_appends_a_matcher_set),
		cmocka_unit_test(test_to_query_refuses_values_longer_than_16_bits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
