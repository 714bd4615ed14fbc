/* test_promfn: unit tests of common/promfn (phi-quantile, classic histogram
 * quantile and fraction with the numbers of Prometheus' histograms.test,
 * per-sample math and date functions with those of functions.test, Go
 * float formatting and parsing, the limit_ratio hash). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "common/promfn.h"

#include <xxhash.h>

static void close_to(double exp, double got)
{
	if ((isnan(exp) && isnan(got)) || exp == got)
		return;
	if (fabs(exp - got) / (fabs(exp) + fabs(got)) < 1e-6)
		return;
	fail_msg("expected %.17g, got %.17g", exp, got);
}

/* testhistogram at 50m: positive le .1/.2/1/+Inf = 50/70/110/120,
 * negative le -.2/-.1/.3/+Inf = 10/20/20/30 (given out of order). */
static double q_pos(double q)
{
	struct promfn_bucket b[] = { { INFINITY, 120 }, { 0.1, 50 }, { 1, 110 }, { 0.2, 70 } };

	return promfn_bucket_quantile(q, b, 4, NULL);
}

static double q_neg(double q)
{
	struct promfn_bucket b[] = { { -0.2, 10 }, { -0.1, 20 }, { 0.3, 20 }, { INFINITY, 30 } };

	return promfn_bucket_quantile(q, b, 4, NULL);
}

static void test_bucket_quantile_matches_histograms_test(void **state)
{
	(void)state;
	close_to(0, q_pos(0));
	close_to(-0.2, q_neg(0));
	close_to(1, q_pos(1));
	close_to(0.3, q_neg(1));
	close_to(0.048, q_pos(0.2));
	close_to(-0.2, q_neg(0.2));
	close_to(0.15, q_pos(0.5));
	close_to(-0.15, q_neg(0.5));
	close_to(0.72, q_pos(0.8));
	close_to(0.3, q_neg(0.8));
	assert_true(isinf(q_pos(-0.1)) && q_pos(-0.1) < 0);
	assert_true(isinf(q_neg(1.01)) && q_neg(1.01) > 0);
	assert_true(isnan(q_pos(NAN)));
}

static void test_bucket_quantile_needs_inf_bucket_and_observations(void **state)
{
	(void)state;
	struct promfn_bucket noinf[] = { { 1, 1 }, { 2, 2 } };
	struct promfn_bucket one[] = { { INFINITY, 5 } };
	struct promfn_bucket empty[] = { { 1, 0 }, { INFINITY, 0 } };
	/* le="1" and le="1.0" coalesce into one bucket. */
	struct promfn_bucket dup[] = { { 1, 1 }, { 1, 1 }, { INFINITY, 4 } };

	assert_true(isnan(promfn_bucket_quantile(0.5, noinf, 2, NULL)));
	assert_true(isnan(promfn_bucket_quantile(0.5, one, 1, NULL)));
	assert_true(isnan(promfn_bucket_quantile(0.5, empty, 2, NULL)));
	assert_true(isnan(promfn_bucket_quantile(0.5, NULL, 0, NULL)));
	close_to(1, promfn_bucket_quantile(0.5, dup, 3, NULL));
}

static void test_bucket_quantile_forces_monotonicity_and_reports_it(void **state)
{
	(void)state;
	const double qs[] = { 0.01, 0.5, 0.99 }, want[] = { 0.0045, 8.5, 979.75 };
	struct promfn_bucket_fix fix;
	size_t i;

	for (i = 0; i < 3; i++) {
		struct promfn_bucket b[] = {
			{ 0.1, 20 }, { 1, 10 }, { 10, 50 }, { 100, 40 }, { 1000, 90 }, { INFINITY, 80 },
		};

		close_to(want[i], promfn_bucket_quantile(qs[i], b, 6, &fix));
		assert_true(fix.forced_monotonic);
		assert_false(fix.fixed_precision);
		close_to(1, fix.min_bucket);
		assert_true(isinf(fix.max_bucket));
		close_to(10, fix.max_diff);
	}
	{
		struct promfn_bucket b[] = { { 1, 10 }, { 2, 10 - 1e-13 }, { INFINITY, 20 } };

		promfn_bucket_quantile(0.5, b, 3, &fix);
		assert_false(fix.forced_monotonic);
		assert_true(fix.fixed_precision);
	}
}

static void test_bucket_fraction_matches_histograms_test(void **state)
{
	(void)state;
	struct promfn_bucket h2[5];
	const struct promfn_bucket h2init[] = { { 0, 0 }, { 2, 10 }, { 4, 20 }, { 6, 30 }, { INFINITY, 30 } };
#define H2(lo, hi) (memcpy(h2, h2init, sizeof(h2)), promfn_bucket_fraction(lo, hi, h2, 5))
	close_to(0.6666666666666666, H2(0, 4));
	close_to(1, H2(0, 6));
	close_to(0.5833333333333334, H2(0, 3.5));
	close_to(0, H2(2, 2));
	close_to(0, H2(3, 2));
	assert_true(isnan(H2(NAN, 1)));
	assert_true(isnan(H2(0, NAN)));
#undef H2
	{
		struct promfn_bucket p[] = { { 1, 1 }, { 2, 3 }, { 3, 6 }, { INFINITY, 100 } };

		close_to(0.02, promfn_bucket_fraction(0, 1.5, p, 4));
	}
	{
		struct promfn_bucket p[] = { { 1, 1 }, { 2, 3 }, { 3, 6 }, { INFINITY, 100 } };

		close_to(0.03, promfn_bucket_fraction(2, 5, p, 4));
	}
	{
		struct promfn_bucket p[] = { { 1, 1 }, { 2, 3 }, { 3, 6 }, { INFINITY, 100 } };

		close_to(0.94, promfn_bucket_fraction(400, INFINITY, p, 4));
	}
	{
		struct promfn_bucket n[] = { { -3, 10 }, { -2, 12 }, { -1, 15 }, { INFINITY, 100 } };

		close_to(0.02, promfn_bucket_fraction(-4, -2, n, 4));
	}
	{
		struct promfn_bucket n[] = { { -3, 10 }, { -2, 12 }, { -1, 15 }, { INFINITY, 100 } };

		close_to(0.135, promfn_bucket_fraction(-INFINITY, -1.5, n, 4));
	}
	{
		struct promfn_bucket n[] = { { -3, 10 }, { -2, 12 }, { -1, 15 }, { INFINITY, 100 } };

		close_to(1, promfn_bucket_fraction(-INFINITY, INFINITY, n, 4));
	}
	assert_true(isnan(promfn_bucket_fraction(0, 1, NULL, 0)));
}

static void test_quantile_sorts_and_interpolates(void **state)
{
	(void)state;
	double v[] = { 4, 1, 2 };
	double w[] = { 3, NAN, 1 };

	close_to(2, promfn_quantile(0.5, v, 3));
	close_to(1.5, promfn_quantile(0.25, v, 3));
	assert_true(isnan(promfn_quantile(0.5, v, 0)));
	assert_true(isinf(promfn_quantile(-1, v, 3)));
	/* NaN sorts first, as Prometheus' heap order. */
	assert_true(isnan(promfn_quantile(0, w, 3)));
	close_to(3, promfn_quantile(1, w, 3));
	assert_true(promfn_quantile_is_invalid(NAN));
	assert_true(promfn_quantile_is_invalid(1.5));
	assert_false(promfn_quantile_is_invalid(1));
}

static void test_math_functions_follow_go(void **state)
{
	(void)state;
	enum promfn_math_op op;

	assert_int_equal(promfn_math(PROMFN_SGN, -INFINITY), -1);
	assert_int_equal(promfn_math(PROMFN_SGN, 100), 1);
	assert_true(isnan(promfn_math(PROMFN_SGN, NAN)));
	assert_true(promfn_math(PROMFN_SGN, 0) == 0);
	/* Go's Log10 is Log(x) * (1/Ln10). */
	assert_true(promfn_math(PROMFN_LOG10, 1000) == 2.9999999999999996);
	assert_true(promfn_math(PROMFN_LOG2, 8) == 3);
	assert_true(promfn_math(PROMFN_LOG2, 0.5) == -1);
	assert_true(isinf(promfn_math(PROMFN_LN, 0)));
	assert_true(isnan(promfn_math(PROMFN_SQRT, -1)));
	close_to(180, promfn_math(PROMFN_DEG, M_PI));
	close_to(M_PI, promfn_math(PROMFN_RAD, 180));
	assert_true(promfn_math(PROMFN_ABS, -0.0) == 0 && !signbit(promfn_math(PROMFN_ABS, -0.0)));
	assert_int_equal(promfn_math_lookup("atanh", &op), 0);
	assert_int_equal(op, PROMFN_ATANH);
	assert_string_equal(promfn_math_name(PROMFN_CEIL), "ceil");
	assert_int_equal(promfn_math_lookup("rate", &op), -ENOENT);
}

static void test_round_and_clamp(void **state)
{
	(void)state;
	assert_true(promfn_round(2.5, 1) == 3);
	assert_true(promfn_round(-2.5, 1) == -2);
	close_to(1.2, promfn_round(1.234, 0.1));
	assert_true(promfn_round(123, 10) == 120);
	assert_true(promfn_clamp(-50, -25, 75) == -25);
	assert_true(promfn_clamp(100, -25, 75) == 75);
	assert_true(promfn_clamp(0, -INFINITY, 75) == 0);
	assert_true(isnan(promfn_clamp(0, 0, NAN)));
	assert_true(isnan(promfn_clamp(0, NAN, 0)));
	assert_true(isnan(promfn_clamp(NAN, 0, 1)));
	assert_true(promfn_timestamp(1500) == 1.5);
}

static void test_date_functions_match_functions_test(void **state)
{
	(void)state;
	enum promfn_date_field f;

	assert_true(promfn_date(PROMFN_YEAR, 0) == 1970);
	assert_true(promfn_date(PROMFN_DAY_OF_WEEK, 0) == 4);
	assert_true(promfn_date(PROMFN_YEAR, 1136239445) == 2006);
	assert_true(promfn_date(PROMFN_MONTH, 1136239445) == 1);
	assert_true(promfn_date(PROMFN_DAY_OF_MONTH, 1136239445) == 2);
	assert_true(promfn_date(PROMFN_DAY_OF_YEAR, 1136239445) == 2);
	assert_true(promfn_date(PROMFN_DAY_OF_WEEK, 1136239445) == 1);
	assert_true(promfn_date(PROMFN_HOUR, 1136239445) == 22);
	assert_true(promfn_date(PROMFN_MINUTE, 1136239445) == 4);
	assert_true(promfn_date(PROMFN_YEAR, 1230767999) == 2008);
	assert_true(promfn_date(PROMFN_YEAR, 1230768000) == 2009);
	close_to(2.29, promfn_date(PROMFN_MONTH, 1456790399) +
		 promfn_date(PROMFN_DAY_OF_MONTH, 1456790399) / 100);
	close_to(3.01, promfn_date(PROMFN_MONTH, 1456790400) +
		 promfn_date(PROMFN_DAY_OF_MONTH, 1456790400) / 100);
	assert_true(promfn_date(PROMFN_DAY_OF_YEAR, 1483191420) == 366);
	assert_true(promfn_date(PROMFN_DAY_OF_YEAR, 1672493820) == 365);
	assert_true(promfn_date(PROMFN_DAYS_IN_MONTH, 1454284800) == 29);
	assert_true(promfn_date(PROMFN_DAYS_IN_MONTH, 1485907200) == 28);
	/* Truncation toward zero, then negative times before the epoch. */
	assert_true(promfn_date(PROMFN_HOUR, 3599.9) == 0);
	assert_true(promfn_date(PROMFN_YEAR, -1) == 1969);
	assert_true(promfn_date(PROMFN_DAY_OF_WEEK, -86400) == 3);
	assert_true(promfn_date(PROMFN_HOUR, -1) == 23);
	assert_int_equal(promfn_date_lookup("days_in_month", &f), 0);
	assert_int_equal(f, PROMFN_DAYS_IN_MONTH);
	assert_int_equal(promfn_date_lookup("week", &f), -ENOENT);
}

static void fmt_is(double v, const char *want)
{
	char buf[PROMFN_FLOAT_BUF];
	size_t n = promfn_format_float(v, buf, sizeof(buf));

	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static void test_format_float_is_go_shortest_fixed(void **state)
{
	(void)state;
	char small[4], big[PROMFN_FLOAT_BUF];

	fmt_is(1, "1");
	fmt_is(100, "100");
	fmt_is(0.5, "0.5");
	fmt_is(-2.25, "-2.25");
	fmt_is(1e6, "1000000");
	fmt_is(1e21, "1000000000000000000000");
	fmt_is(1e-7, "0.0000001");
	fmt_is(0.1 + 0.2, "0.30000000000000004");
	fmt_is(123.456, "123.456");
	fmt_is(1.0 / 3, "0.3333333333333333");
	fmt_is(NAN, "NaN");
	fmt_is(INFINITY, "+Inf");
	fmt_is(-INFINITY, "-Inf");
	fmt_is(0.0, "0");
	fmt_is(-0.0, "-0");
	fmt_is(9007199254740993.0, "9007199254740992");
	assert_int_equal(promfn_format_float(12345, small, sizeof(small)), 5);
	assert_string_equal(small, "123");
	assert_int_equal(promfn_format_float(1.7976931348623157e308, big, sizeof(big)), 309);
	assert_int_equal(promfn_format_float(-5e-324, big, sizeof(big)), 327);
	assert_memory_equal(big, "-0.000", 6);
	assert_int_equal(big[326], '5');
}

static void test_parse_float_accepts_what_go_accepts(void **state)
{
	(void)state;
	double v;

#define P(s) promfn_parse_float(s, strlen(s), &v)
	assert_int_equal(P("+Inf"), 0);
	assert_true(isinf(v) && v > 0);
	assert_int_equal(P("-inf"), 0);
	assert_true(isinf(v) && v < 0);
	assert_int_equal(P("Infinity"), 0);
	assert_int_equal(P("NaN"), 0);
	assert_true(isnan(v));
	assert_int_equal(P(".2"), 0);
	assert_true(v == 0.2);
	assert_int_equal(P("1e0"), 0);
	assert_true(v == 1);
	assert_int_equal(P("-0.1"), 0);
	assert_true(v == -0.1);
	assert_int_equal(P("0x1p-2"), 0);
	assert_true(v == 0.25);
	assert_int_equal(P("1e-400"), 0);
	assert_int_equal(P("Hello World"), -EINVAL);
	assert_int_equal(P(""), -EINVAL);
	assert_int_equal(P(" 1"), -EINVAL);
	assert_int_equal(P("1 "), -EINVAL);
	assert_int_equal(P("1e400"), -EINVAL);
	assert_int_equal(P("-nan"), -EINVAL);
	assert_int_equal(P("nan(1)"), -EINVAL);
	assert_int_equal(P("0x1"), -EINVAL);
	assert_int_equal(P("inf1"), -EINVAL);
#undef P
}

static void test_labels_hash_is_xxh64_of_separated_pairs(void **state)
{
	(void)state;
	struct promfn_label l[] = {
		{ "__name__", 8, "up", 2 }, { "job", 3, "node", 4 },
	};
	struct promfn_label m[] = {
		{ "__name__", 8, "up", 2 }, { "job", 3, "nodf", 4 },
	};
	/* The same bytes hashed in one piece. */
	const char flat[] = "__name__\xffup\xffjob\xffnode\xff";
	uint64_t h = promfn_labels_hash(l, 2);

	assert_true(h == XXH64(flat, sizeof(flat) - 1, 0));
	assert_true(h != promfn_labels_hash(m, 2));
	assert_true(promfn_labels_hash(NULL, 0) == 0xef46db3751d8e999ULL);
}

static void test_ratio_keep_splits_into_complements(void **state)
{
	(void)state;
	uint64_t hs[] = { 0, 1ULL << 62, 1ULL << 63, UINT64_MAX - 1, 0x123456789abcdefULL };
	size_t i;

	for (i = 0; i < 5; i++) {
		assert_true(promfn_ratio_keep(0.3, hs[i]) != promfn_ratio_keep(-0.7, hs[i]));
		assert_true(promfn_ratio_keep(1, hs[i]) || hs[i] > UINT64_MAX - 2048);
		assert_false(promfn_ratio_keep(0, hs[i]));
	}
	assert_true(promfn_ratio_keep(0.3, 0));
	assert_false(promfn_ratio_keep(0.3, 1ULL << 63));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_quantile_matches_histograms_test),
		cmocka_unit_test(test_bucket_quantile_needs_inf_bucket_and_observations),
		cmocka_unit_test(test_bucket_quantile_forces_monotonicity_and_reports_it),
		cmocka_unit_test(test_bucket_fraction_matches_histograms_test),
		cmocka_unit_test(test_quantile_sorts_and_interpolates),
		cmocka_unit_test(test_math_functions_follow_go),
		cmocka_unit_test(test_round_and_clamp),
		cmocka_unit_test(test_date_functions_match_functions_test),
		cmocka_unit_test(test_format_float_is_go_shortest_fixed),
		cmocka_unit_test(test_parse_float_accepts_what_go_accepts),
		cmocka_unit_test(test_labels_hash_is_xxh64_of_separated_pairs),
		cmocka_unit_test(test_ratio_keep_splits_into_complements),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
