/* test_promfn_range: the range-vector kernels of common/promfn_range against
 * the expected values of Prometheus' promqltest files
 * (../shared/conformance/promql/functions.test), rebuilt here as point
 * arrays: a `load <step>` series `a+bxN` becomes N+1 points from t=0, and
 * `eval instant at T f(x[R])` becomes the window (T-R, T]. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "common/promfn_range.h"

#define S 1000LL
#define M (60 * S)
#define MAXP 4096

/* A loaded series: values at t = 0, step, 2*step, ... (NAN_SKIP = "_"). */
struct series {
	struct promfn_point p[MAXP];
	size_t n;
};

#define NAN_SKIP 1e300

static void load(struct series *s, int64_t step, const double *v, size_t n)
{
	size_t i;

	s->n = 0;
	for (i = 0; i < n; i++) {
		if (v[i] == NAN_SKIP)
			continue;
		s->p[s->n].ts_ms = (int64_t)i * step;
		s->p[s->n].v = v[i];
		s->n++;
	}
}

/* Appends `a+bxN` (N+1 values) to the series, continuing the time axis. */
static void load_seq(struct series *s, int64_t step, double a, double b, int times)
{
	int i;
	int64_t t0 = s->n ? s->p[s->n - 1].ts_ms + step : 0;

	for (i = 0; i <= times; i++) {
		s->p[s->n].ts_ms = t0 + (int64_t)i * step;
		s->p[s->n].v = a + b * i;
		s->n++;
	}
}

/* The window (t - range, t]: first index and count. */
static size_t window(const struct series *s, int64_t t, int64_t range, size_t *first)
{
	size_t i, n = 0;

	*first = s->n;
	for (i = 0; i < s->n; i++) {
		if (s->p[i].ts_ms > t - range && s->p[i].ts_ms <= t) {
			if (*first == s->n)
				*first = i;
			n++;
		}
	}
	if (*first == s->n)
		*first = 0;
	return n;
}

typedef bool (*range_fn)(const struct promfn_point *, size_t, int64_t, int64_t, double *);
typedef bool (*plain_fn)(const struct promfn_point *, size_t, double *);

static bool eval_range(const struct series *s, range_fn f, int64_t t, int64_t r, double *out)
{
	size_t first, n = window(s, t, r, &first);

	return f(s->p + first, n, t - r, t, out);
}

static bool eval_plain(const struct series *s, plain_fn f, int64_t t, int64_t r, double *out)
{
	size_t first, n = window(s, t, r, &first);

	return f(s->p + first, n, out);
}

/* promqltest's comparison: relative 1e-6, NaN equals NaN. */
static void close_to(double exp, double got)
{
	if (isnan(exp) && isnan(got))
		return;
	if (exp == got)
		return;
	if (fabs(exp - got) / (fabs(exp) + fabs(got)) < 1e-6)
		return;
	fail_msg("expected %.17g, got %.17g", exp, got);
}

static void exact(double exp, double got)
{
	if (isnan(exp) && isnan(got))
		return;
	if (memcmp(&exp, &got, sizeof(exp)) != 0)
		fail_msg("expected %.17g exactly, got %.17g", exp, got);
}

static struct series s1, s2, s3;

static void test_resets_and_changes_match_functions_test(void **state)
{
	(void)state;
	const double foo[] = { 1, 2, 3, 0, 1, 0, 0, 1, 2, 0 };
	const double bar[] = { 1, 2, 3, 4, 5, 1, 2, 3, 4, 5 };
	const double biz[] = { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1 };
	double v;

	load(&s1, 5 * M, foo, 10);
	load(&s2, 5 * M, bar, 10);
	load(&s3, 5 * M, biz, 10);
	assert_false(eval_plain(&s1, promfn_range_resets, 50 * M, 5 * M, &v));
	assert_true(eval_plain(&s1, promfn_range_resets, 50 * M, 10 * M, &v));
	exact(0, v);
	assert_true(eval_plain(&s1, promfn_range_resets, 50 * M, 20 * M, &v));
	exact(1, v);
	assert_true(eval_plain(&s1, promfn_range_resets, 50 * M, 32 * M, &v));
	exact(2, v);
	assert_true(eval_plain(&s2, promfn_range_resets, 50 * M, 32 * M, &v));
	exact(1, v);
	assert_true(eval_plain(&s1, promfn_range_resets, 50 * M, 50 * M, &v));
	exact(3, v);
	assert_true(eval_plain(&s3, promfn_range_resets, 50 * M, 50 * M, &v));
	exact(0, v);

	assert_false(eval_plain(&s1, promfn_range_changes, 50 * M, 5 * M, &v));
	assert_true(eval_plain(&s1, promfn_range_changes, 50 * M, 6 * M, &v));
	exact(0, v);
	assert_true(eval_plain(&s1, promfn_range_changes, 50 * M, 20 * M, &v));
	exact(2, v);
	assert_true(eval_plain(&s2, promfn_range_changes, 50 * M, 30 * M, &v));
	exact(4, v);
	assert_true(eval_plain(&s1, promfn_range_changes, 50 * M, 50 * M, &v));
	exact(7, v);
	assert_true(eval_plain(&s2, promfn_range_changes, 50 * M, 50 * M, &v));
	exact(8, v);
	assert_true(eval_plain(&s3, promfn_range_changes, 50 * M, 50 * M, &v));
	exact(1, v);
}

static void test_changes_treats_nan_to_nan_as_unchanged(void **state)
{
	(void)state;
	const double b[] = { NAN, NAN, NAN };
	const double c[] = { 0, NAN, 0 };
	double v;

	load(&s1, 5 * M, b, 3);
	load(&s2, 5 * M, c, 3);
	assert_true(eval_plain(&s1, promfn_range_changes, 15 * M, 20 * M, &v));
	exact(0, v);
	assert_true(eval_plain(&s2, promfn_range_changes, 15 * M, 20 * M, &v));
	exact(2, v);
}

static void test_increase_extrapolates_with_zero_cutoff(void **state)
{
	(void)state;
	double v;

	s1.n = 0;
	load_seq(&s1, 5 * M, 0, 10, 10);   /* /foo */
	s2.n = 0;
	load_seq(&s2, 5 * M, 0, 18, 5);    /* /bar */
	load_seq(&s2, 5 * M, 0, 18, 5);
	s3.n = 0;
	load_seq(&s3, 5 * M, 10, 10, 10);  /* /dings */
	assert_true(eval_range(&s1, promfn_range_increase, 50 * M, 50 * M, &v));
	close_to(100, v);
	assert_true(eval_range(&s2, promfn_range_increase, 50 * M, 50 * M, &v));
	close_to(160, v);
	assert_true(eval_range(&s3, promfn_range_increase, 50 * M, 50 * M, &v));
	close_to(100, v);
	assert_true(eval_range(&s1, promfn_range_increase, 50 * M, 100 * M, &v));
	close_to(100, v);
	assert_true(eval_range(&s2, promfn_range_increase, 50 * M, 100 * M, &v));
	close_to(162, v);
	assert_true(eval_range(&s3, promfn_range_increase, 50 * M, 100 * M, &v));
	close_to(105, v);
	s3.n = 0;
	load_seq(&s3, 5 * M, 1, 10, 10);   /* /bumms */
	assert_true(eval_range(&s3, promfn_range_increase, 50 * M, 100 * M, &v));
	close_to(101, v);
}

static void test_increase_counts_a_decrease_as_a_reset(void **state)
{
	(void)state;
	const double x[] = { 0, 1, 2, 3, 2, 3, 4 };
	double v;

	load(&s1, 5 * M, x, 7);
	assert_true(eval_range(&s1, promfn_range_increase, 30 * M, 30 * M, &v));
	close_to(7, v);
}

static void test_rate_matches_functions_test(void **state)
{
	(void)state;
	double v;

	s1.n = 0;
	load_seq(&s1, 5 * M, 0, 27, 4);
	load_seq(&s1, 5 * M, 0, 27, 5);
	assert_true(eval_range(&s1, promfn_range_rate, 50 * M, 50 * M, &v));
	close_to(0.08, v);

	s2.n = 0;
	load_seq(&s2, 5 * M, 0, 10, 9);
	load_seq(&s2, 5 * M, 0, 10, 1);
	assert_false(eval_range(&s2, promfn_range_rate, 50 * M, 5 * M, &v));
	assert_true(eval_range(&s2, promfn_range_rate, 50 * M, 6 * M, &v));
	exact(0, v);

	s3.n = 0;
	load_seq(&s3, 5 * M, 0, 80, 10);
	/* The test file prints 0.26666666666666666; the same IEEE steps as
	 * Go give ...672, inside promqltest's 1e-6 tolerance. */
	assert_true(eval_range(&s3, promfn_range_rate, 50 * M, 50 * M, &v));
	close_to(0.26666666666666666, v);

	/* rate(x[10m] offset 5m) at 50m: the window is (35m, 45m]. */
	s1.n = 0;
	load_seq(&s1, 5 * M, 0, 10, 10);
	assert_true(eval_range(&s1, promfn_range_rate, 45 * M, 10 * M, &v));
	close_to(0.03333333333333333, v);
	s1.n = 0;
	load_seq(&s1, 5 * M, 0, 20, 10);
	assert_true(eval_range(&s1, promfn_range_rate, 45 * M, 10 * M, &v));
	close_to(0.06666666666666667, v);
}

static void test_rate_zero_cutoff_stops_at_half_an_interval(void **state)
{
	(void)state;
	const double exp10m[] = { 0.5, 0.55, 0.6, 0.6, 0.6, 0.6 };
	double v;
	int start;

	for (start = 0; start < 6; start++) {
		s1.n = 0;
		load_seq(&s1, 4 * M, 60.0 * start, 240, 10);
		assert_true(eval_range(&s1, promfn_range_rate, 10 * M, 20 * M, &v));
		close_to(exp10m[start], v);
		assert_true(eval_range(&s1, promfn_range_rate, 50 * M, 20 * M, &v));
		close_to(0.6, v);
	}
}

static void test_irate_and_idelta_use_the_last_two_points(void **state)
{
	(void)state;
	const double nanv[] = { 1, NAN, NAN, 5, 11 };
	const double d1[] = { 0, 50, 100, 150 };
	const double d2[] = { 0, 50, 100, 50 };
	double v;

	s1.n = 0;
	load_seq(&s1, 5 * M, 0, 10, 10);
	assert_true(eval_plain(&s1, promfn_range_irate, 50 * M, 50 * M, &v));
	close_to(.03333333333333333333, v);
	s2.n = 0;
	load_seq(&s2, 5 * M, 0, 10, 5);
	load_seq(&s2, 5 * M, 0, 10, 5);
	assert_true(eval_plain(&s2, promfn_range_irate, 30 * M, 50 * M, &v));
	exact(0, v);

	/* eval range from 0 to 20m step 5m irate(x[15m1s]): _ NaN NaN NaN 0.02 */
	load(&s3, 5 * M, nanv, 5);
	assert_false(eval_plain(&s3, promfn_range_irate, 0, 15 * M + S, &v));
	assert_true(eval_plain(&s3, promfn_range_irate, 5 * M, 15 * M + S, &v));
	assert_true(isnan(v));
	assert_true(eval_plain(&s3, promfn_range_irate, 15 * M, 15 * M + S, &v));
	assert_true(isnan(v));
	assert_true(eval_plain(&s3, promfn_range_irate, 20 * M, 15 * M + S, &v));
	close_to(0.02, v);
	assert_true(eval_plain(&s3, promfn_range_idelta, 20 * M, 15 * M + S, &v));
	exact(6, v);

	load(&s1, 5 * M, d1, 4);
	load(&s2, 5 * M, d2, 4);
	assert_true(eval_plain(&s1, promfn_range_idelta, 20 * M, 20 * M, &v));
	exact(50, v);
	assert_true(eval_plain(&s2, promfn_range_idelta, 20 * M, 20 * M, &v));
	exact(-50, v);
	assert_false(promfn_range_irate(s1.p, 1, &v));
}

static void test_delta_extrapolates_without_reset_handling(void **state)
{
	(void)state;
	const double up[] = { 0, 50, 100, 150, 200 };
	const double down[] = { 200, 150, 100, 50, 0 };
	double v;

	load(&s1, 5 * M, up, 5);
	load(&s2, 5 * M, down, 5);
	assert_true(eval_range(&s1, promfn_range_delta, 20 * M, 20 * M, &v));
	close_to(200, v);
	assert_true(eval_range(&s2, promfn_range_delta, 20 * M, 20 * M, &v));
	close_to(-200, v);
}

static void test_deriv_and_predict_linear_match_functions_test(void **state)
{
	(void)state;
	double v;
	size_t first, n;

	s1.n = 0;
	load_seq(&s1, 5 * M, 0, 80, 10);
	assert_true(eval_plain(&s1, promfn_range_deriv, 50 * M, 50 * M, &v));
	exact(0.26666666666666666, v);

	s2.n = 0;
	load_seq(&s2, 5 * M, 0, 10, 4);
	load_seq(&s2, 5 * M, 0, 10, 5);
	assert_true(eval_plain(&s2, promfn_range_deriv, 50 * M, 100 * M, &v));
	exact(0.010606060606060607, v);

	n = window(&s2, 50 * M, 50 * M, &first);
	assert_true(promfn_range_predict_linear(s2.p + first, n, 50 * M, 3600, &v));
	close_to(70, v);

	/* -Inf 0+80x10 Inf: the Inf makes the regression NaN. */
	s3.n = 0;
	load_seq(&s3, 5 * M, -INFINITY, 0, 0);
	load_seq(&s3, 5 * M, 0, 80, 10);
	load_seq(&s3, 5 * M, INFINITY, 0, 0);
	assert_true(eval_plain(&s3, promfn_range_deriv, 100 * M, 100 * M, &v));
	assert_true(isnan(v));
	assert_false(promfn_range_deriv(s3.p, 1, &v));
}

static void test_deriv_of_constant_series_is_zero(void **state)
{
	(void)state;
	struct promfn_point c[] = { { 0, 5 }, { 1000, 5 }, { 2000, 5 } };
	struct promfn_point i[] = { { 0, INFINITY }, { 1000, INFINITY } };
	double v;

	assert_true(promfn_range_deriv(c, 3, &v));
	exact(0, v);
	assert_true(promfn_range_predict_linear(c, 3, 5000, 100, &v));
	exact(5, v);
	assert_true(promfn_range_deriv(i, 2, &v));
	assert_true(isnan(v));
}

static bool des_001_01(const struct promfn_point *p, size_t n, double *out)
{
	return promfn_range_des(p, n, 0.01, 0.1, out);
}

static void test_double_exponential_smoothing_matches_functions_test(void **state)
{
	(void)state;
	const double exp_pos[] = { 8000, 16000, 24000, 32000 };
	const double a_pos[][4] = {
		{ 0, 10, 1000, 100 }, { 0, 20, 1000, 200 }, { 0, 30, 1000, 300 }, { 0, 40, 2000, 0 },
	};
	double v;
	int i;

	for (i = 0; i < 4; i++) {
		s1.n = 0;
		load_seq(&s1, 10 * S, a_pos[i][0], a_pos[i][1], (int)a_pos[i][2]);
		assert_true(eval_plain(&s1, des_001_01, 8000 * S, M, &v));
		close_to(exp_pos[i], v);
	}
	s1.n = 0;
	load_seq(&s1, 10 * S, 8000, -10, 1000);
	assert_true(eval_plain(&s1, des_001_01, 8000 * S, M, &v));
	close_to(0, v);
	s1.n = 0;
	load_seq(&s1, 10 * S, 0, -40, 1000);
	load_seq(&s1, 10 * S, 0, 40, 1000);
	assert_true(eval_plain(&s1, des_001_01, 8000 * S, M, &v));
	close_to(-32000, v);
	assert_false(promfn_range_des(s1.p, 1, 0.5, 0.5, &v));
}

static void test_double_exponential_smoothing_rejects_bad_factors(void **state)
{
	(void)state;
	char err[128];

	assert_int_equal(promfn_range_des_check(0.5, 0.5, err, sizeof(err)), 0);
	assert_int_equal(promfn_range_des_check(1, 0.5, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000");
	assert_int_equal(promfn_range_des_check(0.5, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000");
	assert_int_equal(promfn_range_des_check(INFINITY, 0.5, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid smoothing factor. Expected: 0 < sf < 1, got: +Inf");
	assert_int_equal(promfn_range_des_check(NAN, 0.5, err, sizeof(err)), 0);
}

struct avg_case {
	double v[12];
	size_t n;
	double want;
};

static void test_avg_over_time_handles_inf_nan_and_overflow(void **state)
{
	(void)state;
	const double big = 9.988465674311579e+307;
	const struct avg_case cases[] = {
		{ { 1, 2, 3, 4, 5 }, 5, 3 },
		{ { 1, 2, 3, 4, INFINITY }, 5, INFINITY },
		{ { 1, 2, 3, 4, -INFINITY }, 5, -INFINITY },
		{ { 1, 2, 3, INFINITY, -INFINITY }, 5, NAN },
		{ { INFINITY, 0, INFINITY }, 3, INFINITY },
		{ { INFINITY, INFINITY, INFINITY, -INFINITY }, 4, NAN },
		{ { 1, 2, 3, -INFINITY, -INFINITY }, 5, -INFINITY },
		{ { -INFINITY, 0, -INFINITY }, 3, -INFINITY },
		{ { -INFINITY, -INFINITY, -INFINITY, INFINITY }, 4, NAN },
		{ { 1, 2, -INFINITY, -INFINITY, INFINITY }, 5, NAN },
		{ { big, big }, 2, big },
		{ { -big, -big, -big }, 3, -big },
		{ { -big, big }, 2, 0 },
		{ { 1, 2, 3, NAN, NAN }, 5, NAN },
		{ { 1, 1e100, 1, -1e100 }, 4, 0.5 },
		{ { 1e10, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6 }, 6, 1.6666666666666675e+09 },
		{ { 5.30921651659898, 0.961118537914768, 1.62091361305318, 0.865089463758091,
		    0.323055185914577, 0.951811357687154 }, 6, 1.67186744582113 },
		{ { 1.78264e50, 0.76342771, 1.9592258, 7.69805412, 458.90154 }, 5, 3.56528E+49 },
		{ { 1.78264E+50, 0.76342771, 1.9592258, 2.258E+220, 7.69805412, 458.90154 }, 6,
		  3.76333333333333E+219 },
		{ { -1.78264E+50, 0.76342771, 1.9592258, -2.258E+220, 7.69805412, -458.90154 }, 6,
		  -3.76333333333333E+219 },
		{ { -1.78264E+215, 0.76342771, 1.9592258, 2.258E+220, 7.69805412, 1.78264E+215,
		    -458.90154 }, 7, 3.225714285714286e+219 },
		{ { -1.78264E+219, 0.76342771, 1.9592258, 2.3757689E+217, -2.3757689E+217, 2.258E+220,
		    7.69805412, 1.78264E+219, -458.90154 }, 9, 2.5088888888888888e+219 },
		{ { -2.258E+220, -1.78264E+219, 0.76342771, 1.9592258, 2.3757689E+217,
		    -2.3757689E+217, 2.258E+220, 7.69805412, 1.78264E+219, -458.90154 }, 10, 0 },
	};
	struct promfn_point p[12];
	double v;
	size_t c, i;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (i = 0; i < cases[c].n; i++) {
			p[i].ts_ms = (int64_t)i * 10 * S;
			p[i].v = cases[c].v[i];
		}
		assert_true(promfn_range_avg(p, cases[c].n, &v));
		close_to(cases[c].want, v);
	}
	assert_false(promfn_range_avg(p, 0, &v));
}

static void test_avg_over_time_of_a_constant_is_exact(void **state)
{
	(void)state;
	double v;
	int64_t r;

	s1.n = 0;
	load_seq(&s1, 10 * S, 52, 0, 100);
	for (r = 100; r <= 130; r += 10) {
		assert_true(eval_plain(&s1, promfn_range_avg, 10 * M, r * S, &v));
		exact(52, v);
	}
}

static void test_sum_over_time_keeps_small_terms_and_infinities(void **state)
{
	(void)state;
	struct promfn_point p[] = { { 0, 1 }, { 1, 1e100 }, { 2, 1 }, { 3, -1e100 } };
	struct promfn_point q[] = { { 0, 1 }, { 1, INFINITY }, { 2, 1 } };
	double v;

	assert_true(promfn_range_sum(p, 4, &v));
	exact(2, v);
	assert_true(promfn_range_sum(q, 3, &v));
	exact(INFINITY, v);
	assert_false(promfn_range_sum(p, 0, &v));
}

static void test_stddev_and_stdvar_over_time(void **state)
{
	(void)state;
	const double m[] = { 0, 8, 8, 2, 3 };
	const double c[] = { 1.5990505637277868, 1.5990505637277868, 1.5990505637277868 };
	double v;

	load(&s1, 10 * S, m, 5);
	assert_true(eval_plain(&s1, promfn_range_stdvar, M, 2 * M, &v));
	close_to(10.56, v);
	assert_true(eval_plain(&s1, promfn_range_stddev, M, 2 * M, &v));
	close_to(3.249615, v);
	load(&s2, 10 * S, c, 3);
	assert_true(eval_plain(&s2, promfn_range_stdvar, 55 * S, M, &v));
	exact(0, v);
	assert_true(eval_plain(&s2, promfn_range_stddev, 55 * S, M, &v));
	exact(0, v);
}

static void test_mad_over_time_matches_functions_test(void **state)
{
	(void)state;
	const double m[] = { 4, 6, 2, 1, 999, 1, 2 };
	const double odd[] = { 1, 2, 3, 4, 5 };
	const double eq[] = { 7, 7, 7, 7, 7 };
	const double nanv[] = { 1, 2, NAN, 4 };
	double scratch[16], v;
	size_t first, n;

	load(&s1, 10 * S, m, 7);
	n = window(&s1, 70 * S, 70 * S, &first);
	assert_true(promfn_range_mad(s1.p + first, n, scratch, &v));
	exact(1, v);
	load(&s1, 10 * S, odd, 5);
	n = window(&s1, 40 * S, 50 * S, &first);
	assert_true(promfn_range_mad(s1.p + first, n, scratch, &v));
	exact(1, v);
	load(&s1, 10 * S, eq, 5);
	n = window(&s1, 40 * S, 50 * S, &first);
	assert_true(promfn_range_mad(s1.p + first, n, scratch, &v));
	exact(0, v);
	load(&s1, 10 * S, eq, 1);
	n = window(&s1, 0, 10 * S, &first);
	assert_true(promfn_range_mad(s1.p + first, n, scratch, &v));
	exact(0, v);
	load(&s1, 10 * S, nanv, 4);
	n = window(&s1, 30 * S, 40 * S, &first);
	assert_true(promfn_range_mad(s1.p + first, n, scratch, &v));
	assert_true(isnan(v));
}

static void test_quantile_over_time_interpolates_between_ranks(void **state)
{
	(void)state;
	const double two[] = { 0, 1 }, three[] = { 0, 1, 2 }, uneven[] = { 0, 1, 4 };
	const double qs[] = { 0, 0.5, 0.75, 0.8, 1, -1, 2 };
	const double want[3][7] = {
		{ 0, 0.5, 0.75, 0.8, 1, -INFINITY, INFINITY },
		{ 0, 1, 1.5, 1.6, 2, -INFINITY, INFINITY },
		{ 0, 1, 2.5, 2.8, 4, -INFINITY, INFINITY },
	};
	const double *data[] = { two, three, uneven };
	const size_t len[] = { 2, 3, 3 };
	double scratch[8], v;
	size_t d, q, first, n;

	for (d = 0; d < 3; d++) {
		load(&s1, 10 * S, data[d], len[d]);
		n = window(&s1, M, 2 * M, &first);
		for (q = 0; q < 7; q++) {
			assert_true(promfn_range_quantile(s1.p + first, n, qs[q], scratch, &v));
			close_to(want[d][q], v);
		}
	}
	assert_true(promfn_range_quantile(s1.p, 3, NAN, scratch, &v));
	assert_true(isnan(v));
	assert_false(promfn_range_quantile(s1.p, 0, 0.5, scratch, &v));
}

static void test_ts_of_functions_use_odd_intervals_exactly(void **state)
{
	(void)state;
	const double m[] = { 1, 2, 3, 0, 5, 6, 2, 1, 4 };
	const double l[] = { 1, 2, 3, NAN_SKIP, NAN_SKIP };
	const double f[] = { NAN_SKIP, NAN_SKIP, 1, 2, 3, NAN_SKIP, NAN_SKIP };
	double v;

	load(&s1, 10053, m, 9);
	assert_true(eval_plain(&s1, promfn_range_ts_of_min, 90 * S, 90 * S, &v));
	exact(30.159, v);
	assert_true(eval_plain(&s1, promfn_range_ts_of_max, 90 * S, 90 * S, &v));
	exact(50.265, v);
	load(&s2, 10053, l, 5);
	assert_true(eval_plain(&s2, promfn_range_ts_of_last, 95 * S, 90 * S, &v));
	exact(20.106, v);
	load(&s3, 10053, f, 7);
	assert_true(eval_plain(&s3, promfn_range_ts_of_first, 90 * S, 90 * S, &v));
	exact(20.106, v);
	assert_false(eval_plain(&s3, promfn_range_ts_of_first, 15 * S, 90 * S, &v));
}

static void test_min_max_last_count_present(void **state)
{
	(void)state;
	struct promfn_point p[] = { { 0, NAN }, { 1, 3 }, { 2, NAN }, { 3, -1 }, { 4, 2 } };
	struct promfn_point allnan[] = { { 0, NAN }, { 1, NAN } };
	double v;

	assert_true(promfn_range_min(p, 5, &v));
	exact(-1, v);
	assert_true(promfn_range_max(p, 5, &v));
	exact(3, v);
	assert_true(promfn_range_max(allnan, 2, &v));
	assert_true(isnan(v));
	assert_true(promfn_range_last(p, 5, &v));
	exact(2, v);
	assert_true(promfn_range_first(p, 5, &v));
	assert_true(isnan(v));
	assert_true(promfn_range_count(p, 5, &v));
	exact(5, v);
	assert_true(promfn_range_present(p, 5, &v));
	exact(1, v);
	assert_false(promfn_range_present(p, 0, &v));
	assert_true(promfn_range_absent(0));
	assert_false(promfn_range_absent(2));
}

static void test_window_of_milliseconds_is_left_open(void **state)
{
	(void)state;
	double v;

	/* One point per millisecond, value 1: (4s - 3003ms, 4s] holds 3003. */
	s1.n = 0;
	load_seq(&s1, 1, 1, 0, 4000);
	assert_true(eval_plain(&s1, promfn_range_sum, 4 * S, 3003, &v));
	exact(3003, v);
	assert_true(eval_plain(&s1, promfn_range_count, 4 * S, 1000, &v));
	exact(1000, v);
}

static void test_extended_rate_anchored_and_smoothed(void **state)
{
	(void)state;
	/* Points at 0, 10, 20, 30 s with values 0, 10, 20, 30; window (5s, 25s]. */
	struct promfn_point p[] = { { 0, 0 }, { 10000, 10 }, { 20000, 20 }, { 30000, 30 } };
	struct promfn_point r[] = { { 0, 10 }, { 10000, 2 }, { 20000, 4 } };
	double v;

	/* Anchored: last point at/before start (0) to last inside (20). */
	assert_true(promfn_range_extended(p, 3, 5000, 25000, false, true, false, &v));
	exact(20, v);
	/* Smoothed: interpolated 5 at the start and 25 at the end. */
	assert_true(promfn_range_extended(p, 4, 5000, 25000, true, true, false, &v));
	exact(20, v);
	assert_true(promfn_range_extended(p, 4, 5000, 25000, true, true, true, &v));
	exact(1, v);
	/* A reset inside the window adds the value before it. */
	assert_true(promfn_range_extended(r, 3, 0, 20000, false, true, false, &v));
	exact(4, v);
	assert_false(promfn_range_extended(p, 1, 5000, 25000, false, true, false, &v));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resets_and_changes_match_functions_test),
		cmocka_unit_test(test_changes_treats_nan_to_nan_as_unchanged),
		cmocka_unit_test(test_increase_extrapolates_with_zero_cutoff),
		cmocka_unit_test(test_increase_counts_a_decrease_as_a_reset),
		cmocka_unit_test(test_rate_matches_functions_test),
		cmocka_unit_test(test_rate_zero_cutoff_stops_at_half_an_interval),
		cmocka_unit_test(test_irate_and_idelta_use_the_last_two_points),
		cmocka_unit_test(test_delta_extrapolates_without_reset_handling),
		cmocka_unit_test(test_deriv_and_predict_linear_match_functions_test),
		cmocka_unit_test(test_deriv_of_constant_series_is_zero),
		cmocka_unit_test(test_double_exponential_smoothing_matches_functions_test),
		cmocka_unit_test(test_double_exponential_smoothing_rejects_bad_factors),
		cmocka_unit_test(test_avg_over_time_handles_inf_nan_and_overflow),
		cmocka_unit_test(test_avg_over_time_of_a_constant_is_exact),
		cmocka_unit_test(test_sum_over_time_keeps_small_terms_and_infinities),
		cmocka_unit_test(test_stddev_and_stdvar_over_time),
		cmocka_unit_test(test_mad_over_time_matches_functions_test),
		cmocka_unit_test(test_quantile_over_time_interpolates_between_ranks),
		cmocka_unit_test(test_ts_of_functions_use_odd_intervals_exactly),
		cmocka_unit_test(test_min_max_last_count_present),
		cmocka_unit_test(test_window_of_milliseconds_is_left_open),
		cmocka_unit_test(test_extended_rate_anchored_and_smoothed),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
