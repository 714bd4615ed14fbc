/* test_matcher: unit tests of common/matcher (the four operators, regex
 * anchoring, absent labels as empty, invalid regexes, matching over series
 * keys and building matchers from a decoded query). */
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

#include "common/matcher.h"
#include "common/series.h"

#define L(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static void mk(struct matcher *m, int op, const char *name, const char *value)
{
	char err[256] = "";
	int rc = matcher_init(m, op, name, strlen(name), value, strlen(value), err, sizeof(err));
	if (rc != 0)
		fail_msg("matcher_init(%s, %d, %s): %d %s", name, op, value, rc, err);
}

static int match(const struct matcher *m, const char *v)
{
	return matcher_match_value(m, v, v ? strlen(v) : 0);
}

static void test_equal_and_not_equal_compare_whole_values(void **state)
{
	(void)state;
	struct matcher eq, ne;
	mk(&eq, REC_M_EQ, "job", "api");
	mk(&ne, REC_M_NE, "job", "api");
	assert_true(match(&eq, "api"));
	assert_false(match(&eq, "api2"));
	assert_false(match(&eq, "ap"));
	assert_false(match(&eq, "API"));
	assert_false(match(&eq, ""));
	assert_false(match(&ne, "api"));
	assert_true(match(&ne, "api2"));
	assert_true(match(&ne, ""));
	/* Lengths count, not NUL terminators. */
	assert_false(matcher_match_value(&eq, "api\0x", 5));
	assert_true(matcher_match_value(&eq, "apixx", 3));
	assert_string_equal(eq.name, "job");
	assert_int_equal(eq.name_len, 3);
	assert_int_equal(eq.value_len, 3);
	assert_null(eq.re);
	matcher_free(&eq);
	matcher_free(&ne);
}

static void test_regexes_are_anchored_at_both_ends(void **state)
{
	(void)state;
	struct matcher re, nre;
	mk(&re, REC_M_RE, "x", "foo");
	mk(&nre, REC_M_NRE, "x", "foo");
	assert_true(match(&re, "foo"));
	assert_false(match(&re, "foobar"));
	assert_false(match(&re, "barfoo"));
	assert_false(match(&re, "xfoox"));
	assert_false(match(&nre, "foo"));
	assert_true(match(&nre, "foobar"));
	/* $ must not accept a trailing newline (Go's RE2 does not). */
	assert_false(match(&re, "foo\n"));
	assert_true(match(&nre, "foo\n"));
	matcher_free(&re);
	matcher_free(&nre);

	/* Alternation stays inside the anchors: ^(?:a|b)$. */
	mk(&re, REC_M_RE, "x", "a|b");
	assert_true(match(&re, "a"));
	assert_true(match(&re, "b"));
	assert_false(match(&re, "ab"));
	assert_false(match(&re, "ax"));
	matcher_free(&re);

	/* Backtracking finds the alternative that reaches the end. */
	mk(&re, REC_M_RE, "x", "a|ab");
	assert_true(match(&re, "ab"));
	matcher_free(&re);

	mk(&re, REC_M_RE, "x", "fo+.*");
	assert_true(match(&re, "fooooz"));
	assert_false(match(&re, "f"));
	matcher_free(&re);
}

static void test_dot_matches_newlines_like_prometheus(void **state)
{
	(void)state;
	struct matcher re;
	mk(&re, REC_M_RE, "x", "a.*b");
	assert_true(match(&re, "a\nb"));
	matcher_free(&re);
}

static void test_a_value_cannot_escape_the_anchoring_group(void **state)
{
	(void)state;
	/* "a)|(b" would make ^(?:a)|(b)$, which matches any value starting
	 * with a. Prometheus rejects it as an unbalanced parenthesis. */
	struct matcher m;
	char err[256] = "";
	int rc = matcher_init(&m, REC_M_RE, "x", 1, "a)|(b", 5, err, sizeof(err));
	if (rc == 0) {
		int leaks = match(&m, "abc");
		matcher_free(&m);
		fail_msg("\"a)|(b\" compiled; matches \"abc\": %d", leaks);
	}
	assert_int_equal(rc, -EINVAL);
	matcher_free(&m);
	rc = matcher_init(&m, REC_M_RE, "x", 1, "a)|.*(", 6, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	matcher_free(&m);
}

static void test_absent_labels_match_as_the_empty_string(void **state)
{
	(void)state;
	struct matcher m;
	mk(&m, REC_M_EQ, "foo", "");
	assert_true(matcher_match_value(&m, NULL, 0));
	matcher_free(&m);
	mk(&m, REC_M_NE, "foo", "");
	assert_false(matcher_match_value(&m, NULL, 0));
	assert_true(match(&m, "x"));
	matcher_free(&m);
	mk(&m, REC_M_RE, "foo", ".*");
	assert_true(matcher_match_value(&m, NULL, 0));
	matcher_free(&m);
	mk(&m, REC_M_RE, "foo", ".+");
	assert_false(matcher_match_value(&m, NULL, 0));
	matcher_free(&m);
	mk(&m, REC_M_NRE, "foo", "x|");
	assert_false(matcher_match_value(&m, NULL, 0));
	assert_true(match(&m, "y"));
	matcher_free(&m);
}

static void test_invalid_regexes_are_einval_with_value_and_offset(void **state)
{
	(void)state;
	struct matcher m;
	char err[256] = "";
	assert_int_equal(matcher_init(&m, REC_M_RE, "x", 1, "a(b", 3, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid regular expression \"a(b\""));
	assert_non_null(strstr(err, "offset"));
	assert_null(m.name);
	assert_null(m.re);
	matcher_free(&m); /* zeroed: harmless */

	assert_int_equal(matcher_init(&m, REC_M_NRE, "x", 1, "ab[", 3, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"ab[\""));

	/* "*a": the offending byte is at offset 0 of the value. */
	assert_int_equal(matcher_init(&m, REC_M_RE, "x", 1, "*a", 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at offset 0:"));

	/* The offset never points past the value. */
	assert_int_equal(matcher_init(&m, REC_M_RE, "x", 1, "(ab", 3, err, sizeof(err)), -EINVAL);
	unsigned long off = 99;
	const char *p = strstr(err, "at offset ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "at offset %lu", &off), 1);
	assert_true(off <= 3);
}

static void test_unknown_operators_are_einval(void **state)
{
	(void)state;
	struct matcher m;
	char err[64] = "";
	assert_int_equal(matcher_init(&m, 4, "x", 1, "y", 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(matcher_init(&m, -1, "x", 1, "y", 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "operator"));
	matcher_free(&m);
	matcher_free(NULL);
}

static void test_invalid_utf8_values_never_match_a_regex(void **state)
{
	(void)state;
	/* Ingestion rejects label values that are not UTF-8; should one reach
	 * a matcher anyway, =~ says no and !~ says yes, never an error. */
	struct matcher re, nre;
	mk(&re, REC_M_RE, "x", "a.*");
	mk(&nre, REC_M_NRE, "x", "a.*");
	assert_false(matcher_match_value(&re, "a\xff\xfe", 3));
	assert_true(matcher_match_value(&nre, "a\xff\xfe", 3));
	matcher_free(&re);
	matcher_free(&nre);
	/* UTF-8 in values is characters, not bytes: '.' takes all of "\xc3\xa9". */
	mk(&re, REC_M_RE, "x", "caf.");
	assert_true(match(&re, "caf\xc3\xa9"));
	matcher_free(&re);
	mk(&re, REC_M_RE, "x", "caf\xc3\xa9|x");
	assert_true(match(&re, "caf\xc3\xa9"));
	assert_false(match(&re, "cafe"));
	matcher_free(&re);
}

static void test_match_key_requires_every_matcher_over_a_built_key(void **state)
{
	(void)state;
	struct series_label l[] = {L("job", "api"), L("instance", "h:9100"), L("zone", "")};
	uint8_t key[256];
	int n = series_key_build(key, sizeof(key), "http_requests_total", 19, l, 3);
	assert_true(n > 0);
	struct matcher ms[4];
	mk(&ms[0], REC_M_EQ, "__name__", "http_requests_total");
	mk(&ms[1], REC_M_RE, "instance", "h:.*");
	mk(&ms[2], REC_M_EQ, "zone", "");   /* empty value left out of the key: absent */
	mk(&ms[3], REC_M_NE, "missing", "x");
	assert_true(matcher_match_key(ms, 4, key, (size_t)n));
	assert_true(matcher_match_key(ms, 0, key, (size_t)n)); /* no matchers: everything */
	matcher_free(&ms[3]);
	mk(&ms[3], REC_M_RE, "job", "ap");   /* anchored: "api" is not "ap" */
	assert_false(matcher_match_key(ms, 4, key, (size_t)n));
	matcher_free(&ms[3]);
	mk(&ms[3], REC_M_NE, "zone", "");    /* absent label is not != "" */
	assert_false(matcher_match_key(ms, 4, key, (size_t)n));
	matcher_free(&ms[3]);
	mk(&ms[3], REC_M_NRE, "job", "a.i"); /* the first failing matcher decides */
	assert_false(matcher_match_key(ms, 4, key, (size_t)n));
	assert_true(matcher_match_key(ms, 3, key, (size_t)n));
	for (int i = 0; i < 4; i++)
		matcher_free(&ms[i]);

	/* A label name that is a prefix of a present one is still absent. */
	struct matcher p;
	mk(&p, REC_M_EQ, "inst", "");
	assert_true(matcher_match_key(&p, 1, key, (size_t)n));
	matcher_free(&p);
}

static void test_from_query_builds_only_the_requested_set(void **state)
{
	(void)state;
	struct rec_query q;
	memset(&q, 0, sizeof(q));
	const struct {
		uint8_t op, set;
		const char *n, *v;
	} in[] = {
		{REC_M_EQ, 0, "__name__", "up"},
		{REC_M_RE, 1, "job", "a.*"},
		{REC_M_NE, 0, "job", "x"},
		{REC_M_NRE, 1, "zone", "eu"},
		{REC_M_EQ, 1, "__name__", "down"},
	};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		q.m[i].op = in[i].op;
		q.m[i].set = in[i].set;
		q.m[i].name = in[i].n;
		q.m[i].name_len = (uint16_t)strlen(in[i].n);
		q.m[i].value = in[i].v;
		q.m[i].value_len = (uint16_t)strlen(in[i].v);
	}
	q.nmatchers = 5;
	q.nsets = 2;
	struct matcher out[8];
	char err[128] = "";
	assert_int_equal(matcher_from_query(out, 8, &q, 1, err, sizeof(err)), 3);
	assert_string_equal(out[0].name, "job");
	assert_int_equal(out[0].op, REC_M_RE);
	assert_non_null(out[0].re);
	assert_string_equal(out[1].name, "zone");
	assert_string_equal(out[2].value, "down");
	for (int i = 0; i < 3; i++)
		matcher_free(&out[i]);
	assert_int_equal(matcher_from_query(out, 8, &q, 0, err, sizeof(err)), 2);
	assert_string_equal(out[1].value, "x");
	for (int i = 0; i < 2; i++)
		matcher_free(&out[i]);
	assert_int_equal(matcher_from_query(out, 8, &q, 5, err, sizeof(err)), 0);

	/* More than max: -EINVAL, and what was built is freed (ASan checks). */
	assert_int_equal(matcher_from_query(out, 2, &q, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too many"));

	/* A bad regex after a good one: the error, and no leak. */
	q.m[4].op = REC_M_RE;
	q.m[4].value = "(";
	q.m[4].value_len = 1;
	assert_int_equal(matcher_from_query(out, 8, &q, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid regular expression"));
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_and_not_equal_compare_whole_values),
		cmocka_unit_test(test_regexes_are_anchored_at_both_ends),
		cmocka_unit_test(test_dot_matches_newlines_like_prometheus),
		cmocka_unit_test(test_a_value_cannot_escape_the_anchoring_group),
		cmocka_unit_test(test_absent_labels_match_as_the_empty_string),
		cmocka_unit_test(test_invalid_regexes_are_einval_with_value_and_offset),
		cmocka_unit_test(test_unknown_operators_are_einval),
		cmocka_unit_test(test_invalid_utf8_values_never_match_a_regex),
		cmocka_unit_test(test_match_key_requires_every_matcher_over_a_built_key),
		cmocka_unit_test(test_from_query_builds_only_the_requested_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
