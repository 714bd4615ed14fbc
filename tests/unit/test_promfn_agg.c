/* test_promfn_agg: unit tests of common/promfn_agg (streaming sum, avg,
 * min, max, count, group, stddev, stdvar with Prometheus' NaN/Inf rules;
 * the topk/bottomk/limitk/limit_ratio heap and its output order;
 * count_values labels). Expected numbers follow Prometheus'
 * aggregators.test and the engine code paths they exercise. */
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
#include "common/promfn_agg.h"

static void close_to(double exp, double got)
{
	if ((isnan(exp) && isnan(got)) || exp == got)
		return;
	if (fabs(exp - got) / (fabs(exp) + fabs(got)) < 1e-6)
		return;
	fail_msg("expected %.17g, got %.17g", exp, got);
}

static double agg(enum promfn_agg_op op, const double *v, size_t n)
{
	struct promfn_agg a;
	double out = -12345;
	size_t i;

	promfn_agg_init(&a, op);
	for (i = 0; i < n; i++)
		promfn_agg_add(&a, v[i]);
	assert_true(promfn_agg_result(&a, &out));
	return out;
}

static void test_sum_avg_count_group_of_http_requests(void **state)
{
	(void)state;
	/* aggregators.test: http_requests at 50m, job api-server: 100 200 300 400. */
	const double api[] = { 100, 200, 300, 400 };
	struct promfn_agg a;
	double out;

	close_to(1000, agg(PROMFN_AGG_SUM, api, 4));
	close_to(250, agg(PROMFN_AGG_AVG, api, 4));
	close_to(4, agg(PROMFN_AGG_COUNT, api, 4));
	close_to(1, agg(PROMFN_AGG_GROUP, api, 4));
	close_to(100, agg(PROMFN_AGG_MIN, api, 4));
	close_to(400, agg(PROMFN_AGG_MAX, api, 4));
	promfn_agg_init(&a, PROMFN_AGG_SUM);
	assert_false(promfn_agg_result(&a, &out));
}

static void test_sum_keeps_small_terms_with_kahan(void **state)
{
	(void)state;
	const double v[] = { 1, 1e100, 1, -1e100 };
	const double inf[] = { 1, INFINITY, 2 };

	assert_true(agg(PROMFN_AGG_SUM, v, 4) == 2);
	assert_true(agg(PROMFN_AGG_AVG, v, 4) == 0.5);
	assert_true(agg(PROMFN_AGG_SUM, inf, 3) == INFINITY);
}

static void test_avg_switches_to_incremental_mean_on_overflow(void **state)
{
	(void)state;
	const double big[] = { 1.7976931348623157e308, 1.7976931348623157e308 };
	const double mixed[] = { 1.7976931348623157e308, 1.7976931348623157e308, INFINITY };
	const double opposite[] = { INFINITY, -INFINITY };
	const double inf_then_num[] = { INFINITY, 1, 2 };
	const double nan[] = { 1, NAN, 2 };

	close_to(1.7976931348623157e308, agg(PROMFN_AGG_AVG, big, 2));
	assert_true(agg(PROMFN_AGG_AVG, mixed, 3) == INFINITY);
	assert_true(isnan(agg(PROMFN_AGG_AVG, opposite, 2)));
	assert_true(agg(PROMFN_AGG_AVG, inf_then_num, 3) == INFINITY);
	assert_true(isnan(agg(PROMFN_AGG_AVG, nan, 3)));
}

static void test_min_max_return_nan_only_if_all_nan(void **state)
{
	(void)state;
	const double v[] = { NAN, 3, NAN, -1 };
	const double all[] = { NAN, NAN };

	assert_true(agg(PROMFN_AGG_MIN, v, 4) == -1);
	assert_true(agg(PROMFN_AGG_MAX, v, 4) == 3);
	assert_true(isnan(agg(PROMFN_AGG_MIN, all, 2)));
	assert_true(isnan(agg(PROMFN_AGG_MAX, all, 2)));
}

static void test_stddev_stdvar_are_population_statistics(void **state)
{
	(void)state;
	/* aggregators.test: stddev(http_requests) by (instance) etc. */
	const double all[] = { 100, 200, 300, 400, 500, 600, 700, 800 };
	const double two[] = { 100, 200 };
	const double inf_first[] = { INFINITY, 1, 2 };
	const double inf_later[] = { 1, INFINITY, 2 };
	const double one[] = { 5 };

	close_to(229.128784747792, agg(PROMFN_AGG_STDDEV, all, 8));
	close_to(52500, agg(PROMFN_AGG_STDVAR, all, 8));
	close_to(50, agg(PROMFN_AGG_STDDEV, two, 2));
	assert_true(isnan(agg(PROMFN_AGG_STDDEV, inf_first, 3)));
	assert_true(isnan(agg(PROMFN_AGG_STDVAR, inf_later, 3)));
	assert_true(agg(PROMFN_AGG_STDVAR, one, 1) == 0);
}

static void test_quantile_aggregation(void **state)
{
	(void)state;
	/* aggregators.test: quantile(0.3, data) over 1..4 and 1..8 etc. */
	double a[] = { 4, 1, 3, 2 };
	double b[] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	close_to(1.9, promfn_agg_quantile(0.3, a, 4));
	close_to(3.1, promfn_agg_quantile(0.3, b, 8));
	close_to(2.5, promfn_agg_quantile(0.5, a, 4));
	assert_true(isinf(promfn_agg_quantile(2, a, 4)));
	assert_true(isnan(promfn_agg_quantile(NAN, a, 4)));
}

/* Runs one k-selection over vals and returns the output indices. */
static size_t select_k(enum promfn_agg_kop op, int64_t k, double ratio, const double *vals,
		       size_t n, const uint64_t *hashes, size_t *idx)
{
	struct promfn_agg_heap h;
	size_t i, m;

	assert_int_equal(promfn_agg_heap_init(&h, op, k, ratio, n), 0);
	for (i = 0; i < n; i++) {
		if (promfn_agg_heap_full(&h))
			break;
		assert_int_equal(promfn_agg_heap_add(&h, vals[i], i, hashes ? hashes[i] : 0), 0);
	}
	m = promfn_agg_heap_finish(&h);
	for (i = 0; i < m; i++)
		idx[i] = h.items[i].idx;
	promfn_agg_heap_free(&h);
	promfn_agg_heap_free(&h);
	return m;
}

static void test_topk_bottomk_order_and_nan_last(void **state)
{
	(void)state;
	/* aggregators.test: topk(3, http_requests) -> 800 700 600 ordered. */
	const double v[] = { 100, 200, 300, 400, 500, 600, 700, 800 };
	const double withnan[] = { NAN, 2, NAN, 1, 3 };
	size_t idx[16], m;

	m = select_k(PROMFN_AGG_TOPK, 3, 0, v, 8, NULL, idx);
	assert_int_equal(m, 3);
	assert_int_equal(idx[0], 7);
	assert_int_equal(idx[1], 6);
	assert_int_equal(idx[2], 5);
	m = select_k(PROMFN_AGG_BOTTOMK, 3, 0, v, 8, NULL, idx);
	assert_int_equal(m, 3);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 1);
	assert_int_equal(idx[2], 2);
	/* NaN is dropped in favour of numbers, and sorts last when kept. */
	m = select_k(PROMFN_AGG_TOPK, 2, 0, withnan, 5, NULL, idx);
	assert_int_equal(m, 2);
	assert_int_equal(idx[0], 4);
	assert_int_equal(idx[1], 1);
	m = select_k(PROMFN_AGG_BOTTOMK, 4, 0, withnan, 5, NULL, idx);
	assert_int_equal(m, 4);
	assert_int_equal(idx[0], 3);
	assert_int_equal(idx[1], 1);
	assert_int_equal(idx[2], 4);
	assert_true(isnan(withnan[idx[3]]));
	/* k above the series count keeps everything, sorted. */
	m = select_k(PROMFN_AGG_TOPK, 100, 0, v, 8, NULL, idx);
	assert_int_equal(m, 8);
	assert_int_equal(idx[0], 7);
	assert_int_equal(idx[7], 0);
}

static void test_topk_sorts_more_than_twelve(void **state)
{
	(void)state;
	double v[40];
	size_t idx[40], m, i;

	for (i = 0; i < 40; i++)
		v[i] = (double)((i * 17) % 40);
	m = select_k(PROMFN_AGG_TOPK, 20, 0, v, 40, NULL, idx);
	assert_int_equal(m, 20);
	for (i = 0; i < 20; i++)
		assert_true(v[idx[i]] == 39 - (double)i);
	m = select_k(PROMFN_AGG_BOTTOMK, 15, 0, v, 40, NULL, idx);
	for (i = 0; i < 15; i++)
		assert_true(v[idx[i]] == (double)i);
}

static void test_limitk_keeps_first_k_and_stops(void **state)
{
	(void)state;
	const double v[] = { 5, 3, 9, 1 };
	size_t idx[8], m;

	m = select_k(PROMFN_AGG_LIMITK, 2, 0, v, 4, NULL, idx);
	assert_int_equal(m, 2);
	/* Heap order (vectorByValueHeap): the smaller value first. */
	assert_int_equal(idx[0], 1);
	assert_int_equal(idx[1], 0);
}

static void test_limit_ratio_partitions_by_hash(void **state)
{
	(void)state;
	const double v[] = { 1, 2, 3, 4, 5, 6 };
	struct promfn_label l[6][2];
	char val[6][2];
	uint64_t h[6];
	size_t a[8], b[8], na, nb, i, j;

	for (i = 0; i < 6; i++) {
		val[i][0] = (char)('a' + i);
		val[i][1] = 0;
		l[i][0] = (struct promfn_label){ "__name__", 8, "m", 1 };
		l[i][1] = (struct promfn_label){ "x", 1, val[i], 1 };
		h[i] = promfn_labels_hash(l[i], 2);
	}
	na = select_k(PROMFN_AGG_LIMIT_RATIO, 0, 0.5, v, 6, h, a);
	nb = select_k(PROMFN_AGG_LIMIT_RATIO, 0, -0.5, v, 6, h, b);
	assert_int_equal(na + nb, 6);
	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++)
			assert_true(a[i] != b[j]);
	assert_int_equal(select_k(PROMFN_AGG_LIMIT_RATIO, 0, 1, v, 6, h, a), 6);
	assert_int_equal(select_k(PROMFN_AGG_LIMIT_RATIO, 0, 0, v, 6, h, a), 0);
}

static void test_count_values_labels_use_go_formatting(void **state)
{
	(void)state;
	char buf[PROMFN_FLOAT_BUF];
	enum promfn_agg_op op;

	promfn_agg_count_values_label(1e6, buf, sizeof(buf));
	assert_string_equal(buf, "1000000");
	promfn_agg_count_values_label(0.1, buf, sizeof(buf));
	assert_string_equal(buf, "0.1");
	promfn_agg_count_values_label(-INFINITY, buf, sizeof(buf));
	assert_string_equal(buf, "-Inf");
	assert_int_equal(promfn_agg_lookup("stdvar", &op), 0);
	assert_int_equal(op, PROMFN_AGG_STDVAR);
	assert_int_equal(promfn_agg_lookup("topk", &op), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum_avg_count_group_of_http_requests),
		cmocka_unit_test(test_sum_keeps_small_terms_with_kahan),
		cmocka_unit_test(test_avg_switches_to_incremental_mean_on_overflow),
		cmocka_unit_test(test_min_max_return_nan_only_if_all_nan),
		cmocka_unit_test(test_stddev_stdvar_are_population_statistics),
		cmocka_unit_test(test_quantile_aggregation),
		cmocka_unit_test(test_topk_bottomk_order_and_nan_last),
		cmocka_unit_test(test_topk_sorts_more_than_twelve),
		cmocka_unit_test(test_limitk_keeps_first_k_and_stops),
		cmocka_unit_test(test_limit_ratio_partitions_by_hash),
		cmocka_unit_test(test_count_values_labels_use_go_formatting),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
