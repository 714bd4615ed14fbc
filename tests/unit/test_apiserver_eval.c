/* test_apiserver_eval: merging of fan-out answers (series pieces, label
 * names and values), selector evaluation over them (lookback, staleness,
 * offset, steps), label-set ordering, and the query parameter checks of
 * api.c. No processes, no rings: results are filled directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api.h"
#include "apiserver/eval.h"
#include "apiserver/fanout.h"
#include "apiserver/json.h"
#include "common/series.h"

/* Builds a key from "name", then label pairs, NULL-terminated. */
static int mkkey(uint8_t *out, size_t cap, const char *name, ...)
{
	struct series_label ls[8];
	size_t n = 0;
	va_list ap;
	va_start(ap, name);
	const char *l;
	while ((l = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		ls[n].name = l;
		ls[n].name_len = strlen(l);
		ls[n].value = v;
		ls[n].value_len = strlen(v);
		n++;
	}
	va_end(ap);
	int k = series_key_build(out, cap, name, strlen(name), ls, n);
	assert_true(k > 0);
	return k;
}

/* Adds npts points (ts, value) pairs to res under key. */
static void add_piece(struct fanout_result *res, const uint8_t *key, int klen, const struct rec_point *pts,
		      uint32_t n, int want)
{
	struct rec_series s = {.qid = 1, .key = key, .key_len = (uint16_t)klen, .npoints = n,
			       .points = (const uint8_t *)pts};
	assert_int_equal(fanout_result_add_series(res, key, (uint16_t)klen, &s), want);
}

static double stale_nan(void)
{
	uint64_t b = EVAL_STALE_NAN_BITS;
	double d;
	memcpy(&d, &b, sizeof(d));
	return d;
}

/* Runs fn's output through a writer and returns the text (malloc'd). */
struct out {
	struct evbuffer *b;
	struct json_w *w;
};

static void out_open(struct out *o)
{
	o->b = evbuffer_new();
	o->w = malloc(sizeof(*o->w));
	json_init(o->w, o->b);
}

static char *out_close(struct out *o)
{
	json_flush(o->w);
	size_t n = evbuffer_get_length(o->b);
	char *s = malloc(n + 1);
	evbuffer_remove(o->b, s, n);
	s[n] = '\0';
	free(o->w);
	evbuffer_free(o->b);
	return s;
}

static void test_pieces_of_one_series_are_concatenated(void **state)
{
	(void)state;
	struct fanout_result res;
	uint8_t k1[256], k2[256];
	int l1 = mkkey(k1, sizeof(k1), "up", "job", "a", NULL);
	int l2 = mkkey(k2, sizeof(k2), "up", "job", "b", NULL);
	struct rec_point p1[] = {{1000, 1}, {2000, 2}}, p2[] = {{3000, 3}}, p3[] = {{1500, 9}};
	fanout_result_init(&res);
	add_piece(&res, k1, l1, p1, 2, 0);
	add_piece(&res, k2, l2, p3, 1, 0);
	add_piece(&res, k1, l1, p2, 1, 0);
	assert_int_equal(res.nseries, 2);
	assert_int_equal(res.npoints, 4);
	assert_int_equal(res.series[0].npts, 3);
	assert_int_equal(res.series[0].pts[2].ts_ms, 3000);
	assert_int_equal(res.series[1].npts, 1);
	fanout_result_free(&res);
}

static void test_many_series_survive_index_growth(void **state)
{
	(void)state;
	struct fanout_result res;
	uint8_t k[256];
	char v[16];
	struct rec_point p = {1, 1};
	fanout_result_init(&res);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 5000; i++) {
			snprintf(v, sizeof(v), "%d", i);
			int l = mkkey(k, sizeof(k), "m", "i", v, NULL);
			p.ts_ms = round;
			add_piece(&res, k, l, &p, 1, 0);
		}
	assert_int_equal(res.nseries, 5000);
	for (size_t i = 0; i < res.nseries; i++)
		assert_int_equal(res.series[i].npts, 2);
	fanout_result_reset(&res);
	assert_int_equal(res.nseries, 0);
	assert_int_equal(res.npoints, 0);
	fanout_result_free(&res);
}

static void test_point_limit_is_refused_with_e2big(void **state)
{
	(void)state;
	struct fanout_result res;
	uint8_t k[256];
	int l = mkkey(k, sizeof(k), "up", NULL);
	struct rec_point p[3] = {{1, 1}, {2, 2}, {3, 3}};
	fanout_result_init(&res);
	res.max_points = 4;
	add_piece(&res, k, l, p, 3, 0);
	add_piece(&res, k, l, p, 3, -E2BIG);
	assert_int_equal(res.npoints, 3);
	fanout_result_free(&res);
}

static void test_label_values_are_merged_sorted_and_unique(void **state)
{
	(void)state;
	struct fanout_result res;
	const char *in[] = {"job", "zeta", "__name__", "job", "instance", "", "Alpha", "zeta", "jo"};
	fanout_result_init(&res);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_int_equal(fanout_result_add_string(&res, in[i], (uint16_t)strlen(in[i])), 0);
	fanout_result_sort_strings(&res);
	struct out o;
	out_open(&o);
	eval_write_strings(o.w, &res);
	char *s = out_close(&o);
	assert_string_equal(s, "[\"\",\"Alpha\",\"__name__\",\"instance\",\"jo\",\"job\",\"zeta\"]");
	free(s);
	fanout_result_free(&res);
}

static void test_labels_print_in_name_order_with_name_in_place(void **state)
{
	(void)state;
	uint8_t k[256];
	int l = mkkey(k, sizeof(k), "m", "a", "1", "A", "2", "zz", "3", NULL);
	struct out o;
	out_open(&o);
	eval_write_labels(o.w, k, (size_t)l, 1);
	char *s = out_close(&o);
	assert_string_equal(s, "{\"A\":\"2\",\"__name__\":\"m\",\"a\":\"1\",\"zz\":\"3\"}");
	free(s);
}

static void test_series_sort_by_label_sets(void **state)
{
	(void)state;
	struct fanout_result res;
	uint8_t k[4][256];
	int l[4];
	l[0] = mkkey(k[0], 256, "up", "job", "b", NULL);
	l[1] = mkkey(k[1], 256, "up", "job", "a", "x", "1", NULL);
	l[2] = mkkey(k[2], 256, "up", "job", "a", NULL);
	l[3] = mkkey(k[3], 256, "down", "job", "z", NULL);
	struct rec_point p = {1, 1};
	fanout_result_init(&res);
	for (int i = 0; i < 4; i++)
		add_piece(&res, k[i], l[i], &p, 1, 0);
	uint32_t *ord = eval_order(&res);
	assert_non_null(ord);
	assert_int_equal(ord[0], 3); /* down */
	assert_int_equal(ord[1], 2); /* up{job=a} */
	assert_int_equal(ord[2], 1); /* up{job=a,x=1} */
	assert_int_equal(ord[3], 0); /* up{job=b} */
	free(ord);
	fanout_result_free(&res);
}

static void test_instant_vector_takes_latest_in_left_open_lookback(void **state)
{
	(void)state;
	struct fanout_result res;
	uint8_t ka[256], kb[256], kc[256];
	int la = mkkey(ka, 256, "m", "s", "a", NULL);
	int lb = mkkey(kb, 256, "m", "s", "b", NULL);
	int lc = mkkey(kc, 256, "m", "s", "c", NULL);
	struct rec_point pa[] = {{10000, 1}, {20000, 2}, {40000, 4}};
	struct rec_point pb[] = {{10000, 1}, {20000, stale_nan()}};
	struct rec_point pc[] = {{5000, 7}};
	fanout_result_init(&res);
	add_piece(&res, ka, la, pa, 3, 0);
	add_piece(&res, kb, lb, pb, 2, 0);
	add_piece(&res, kc, lc, pc, 1, 0);
	struct out o;
	out_open(&o);
	/* t = 30 s, lookback 25 s: window (5 s, 30 s]. a -> 2, b stale, c
	 * exactly at the open end: out. */
	size_t n = eval_write_vector(o.w, &res, NULL, 30000, 0, 25000);
	char *s = out_close(&o);
	assert_int_equal(n, 1);
	assert_string_equal(s, "[{\"metric\":{\"__name__\":\"m\",\"s\":\"a\"},\"value\":[30,\"2\"]}]");
	free(s);
	/* offset 10 s: window (-5 s, 20 s] -> a 2, b stale, c 7. */
	out_open(&o);
	n = eval_write_vector(o.w, &res, NULL, 30000, 10000, 25000);
	free(out_close(&o));
	assert_int_equal(n, 2);
	fanout_result_free(&res);
}

static void test_range_selector_lists_samples_without_stale_markers(void **state)
{
	(void)state;
	struct fanout_result res;
	uint8_t k[256];
	int l = mkkey(k, 256, "m", NULL);
	struct rec_point p[] = {{1000, 1}, {2000, 2}, {3000, stale_nan()}, {4000, 4}, {5000, 5}};
	fanout_result_init(&res);
	add_piece(&res, k, l, p, 5, 0);
	struct out o;
	out_open(&o);
	/* (1 s, 4 s]: 2, stale, 4. */
	eval_write_range(o.w, &res, NULL, 4000, 0, 3000);
	char *s = out_close(&o);
	assert_string_equal(s, "[{\"metric\":{\"__name__\":\"m\"},\"values\":[[2,\"2\"],[4,\"4\"]]}]");
	free(s);
	out_open(&o);
	assert_int_equal(eval_write_range(o.w, &res, NULL, 100000, 0, 3000), 0);
	s = out_close(&o);
	assert_string_equal(s, "[]");
	free(s);
	fanout_result_free(&res);
}

static void test_range_query_steps_respect_lookback_and_staleness(void **state)
{
	(void)state;
	struct fanout_result res;
	uint8_t k[256];
	int l = mkkey(k, 256, "m", NULL);
	struct rec_point p[] = {{1000, 1}, {3500, 3}, {6000, stale_nan()}, {9000, 9}};
	fanout_result_init(&res);
	add_piece(&res, k, l, p, 4, 0);
	struct out o;
	out_open(&o);
	/* steps 0..10 s by 2 s, lookback 3 s: t=0 none; 2 -> 1; 4 -> 3; 6 stale;
	 * 8 stale (latest in (5,8] is the marker); 10 -> 9. */
	eval_write_steps(o.w, &res, NULL, 0, 10000, 2000, 0, 3000);
	char *s = out_close(&o);
	assert_string_equal(s, "[{\"metric\":{\"__name__\":\"m\"},\"values\":[[2,\"1\"],[4,\"3\"],[10,\"9\"]]}]");
	free(s);
	fanout_result_free(&res);
}

static void test_unordered_points_are_sorted_before_evaluation(void **state)
{
	(void)state;
	struct fanout_result res;
	uint8_t k[256];
	int l = mkkey(k, 256, "m", NULL);
	struct rec_point p1[] = {{3000, 3}, {4000, 4}}, p2[] = {{1000, 1}, {2000, 2}};
	fanout_result_init(&res);
	add_piece(&res, k, l, p1, 2, 0);
	add_piece(&res, k, l, p2, 2, 0);
	fanout_result_sort_points(&res);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(res.series[0].pts[i].ts_ms, (int64_t)(i + 1) * 1000);
	assert_int_equal(eval_latest(res.series[0].pts, 4, 1500, 3500), 2);
	assert_int_equal(eval_latest(res.series[0].pts, 4, 3000, 3500), -1);
	fanout_result_free(&res);
}

static void test_time_and_duration_parameters(void **state)
{
	(void)state;
	int64_t ms;
	assert_int_equal(api_parse_time("1700000000.123", 0, &ms), 0);
	assert_int_equal(ms, 1700000000123);
	assert_int_equal(api_parse_time("2023-11-14T22:13:20.5Z", 0, &ms), 0);
	assert_int_equal(ms, 1700000000500);
	assert_int_equal(api_parse_time(NULL, 77, &ms), 0);
	assert_int_equal(ms, 77);
	assert_int_equal(api_parse_time("", 78, &ms), 0);
	assert_int_equal(ms, 78);
	assert_int_equal(api_parse_time("abc", 0, &ms), -EINVAL);
	assert_int_equal(api_parse_time("1e300", 0, &ms), -EINVAL);
	assert_int_equal(api_parse_time("nan", 0, &ms), -EINVAL);
	assert_int_equal(api_parse_duration("15s", &ms), 0);
	assert_int_equal(ms, 15000);
	assert_int_equal(api_parse_duration("1m30s", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(api_parse_duration("0.5", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(api_parse_duration("60", &ms), 0);
	assert_int_equal(ms, 60000);
	assert_int_equal(api_parse_duration("15x", &ms), -EINVAL);
	assert_int_equal(api_parse_duration("", &ms), -EINVAL);
	assert_int_equal(api_parse_duration("1e300", &ms), -EINVAL);
}

static void test_number_literals_and_label_names(void **state)
{
	(void)state;
	double v;
	assert_int_equal(api_parse_number("42", &v), 1);
	assert_true(v == 42);
	assert_int_equal(api_parse_number(" -1.5e3 ", &v), 1);
	assert_true(v == -1500);
	assert_int_equal(api_parse_number("0x1f", &v), 1);
	assert_true(v == 31);
	assert_int_equal(api_parse_number("Inf", &v), 1);
	assert_true(isinf(v) && v > 0);
	assert_int_equal(api_parse_number("-inf", &v), 1);
	assert_true(isinf(v) && v < 0);
	assert_int_equal(api_parse_number("NaN", &v), 1);
	assert_true(isnan(v));
	assert_int_equal(api_parse_number("up", &v), 0);
	assert_int_equal(api_parse_number("infinity", &v), 0);
	assert_int_equal(api_parse_number("Info", &v), 0);
	assert_int_equal(api_parse_number("1 + 1", &v), 0);
	assert_int_equal(api_parse_number("", &v), 0);
	assert_int_equal(api_label_name_ok("job"), 1);
	assert_int_equal(api_label_name_ok("__name__"), 1);
	assert_int_equal(api_label_name_ok("_a9"), 1);
	assert_int_equal(api_label_name_ok("9a"), 0);
	assert_int_equal(api_label_name_ok("a-b"), 0);
	assert_int_equal(api_label_name_ok(""), 0);
}

static void test_range_query_limits_match_prometheus(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(api_check_range(0, 1000, 1, err, sizeof(err)), 0);
	assert_int_equal(api_check_range(0, 11000, 1, err, sizeof(err)), 0);
	assert_int_equal(api_check_range(0, 11001, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "exceeded maximum resolution of 11,000 points per timeseries"));
	assert_int_equal(api_check_range(10, 5, 1, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "end timestamp must not be before start time");
	assert_int_equal(api_check_range(0, 5, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "zero or negative query resolution step"));
	assert_int_equal(api_check_range(0, 5, -1, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces_of_one_series_are_concatenated),
		cmocka_unit_test(test_many_series_survive_index_growth),
		cmocka_unit_test(test_point_limit_is_refused_with_e2big),
		cmocka_unit_test(test_label_values_are_merged_sorted_and_unique),
		cmocka_unit_test(test_labels_print_in_name_order_with_name_in_place),
		cmocka_unit_test(test_series_sort_by_label_sets),
		cmocka_unit_test(test_instant_vector_takes_latest_in_left_open_lookback),
		cmocka_unit_test(test_range_selector_lists_samples_without_stale_markers),
		cmocka_unit_test(test_range_query_steps_respect_lookback_and_staleness),
		cmocka_unit_test(test_unordered_points_are_sorted_before_evaluation),
		cmocka_unit_test(test_time_and_duration_parameters),
		cmocka_unit_test(test_number_literals_and_label_names),
		cmocka_unit_test(test_range_query_limits_match_prometheus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
