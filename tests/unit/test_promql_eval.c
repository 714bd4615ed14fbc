/* Unit tests of common/promql_eval over a small in-memory storage:
 * selectors with lookback and staleness, rate, aggregation, matching
 * errors, subqueries, range grids, limits and label sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/promql_eval.h"
#include "common/promql_parse.h"
#include "common/series.h"

struct tser {
	uint8_t key[256];
	int klen;
	struct promfn_point p[64];
	size_t n;
};

static struct tser tdb[8];
static size_t tn;
static int tselects;

static void t_add(const char *name, const char *ln, const char *lv, double v0, double inc, size_t n,
		  int64_t step)
{
	struct series_label l = {ln, strlen(ln), lv, strlen(lv)};
	struct tser *s = &tdb[tn++];
	s->klen = series_key_build(s->key, sizeof(s->key), name, strlen(name), &l, 1);
	assert_true(s->klen > 0);
	for (size_t i = 0; i < n; i++) {
		s->p[i].ts_ms = (int64_t)i * step;
		s->p[i].v = v0 + inc * (double)i;
	}
	s->n = n;
}

static int t_select(void *ctx, const struct matcher *m, size_t n, int64_t start, int64_t end,
		    promql_series_cb cb, void *arg)
{
	(void)ctx;
	tselects++;
	for (size_t i = 0; i < tn; i++) {
		if (!matcher_match_key(m, n, tdb[i].key, (size_t)tdb[i].klen))
			continue;
		size_t a = 0, b;
		while (a < tdb[i].n && tdb[i].p[a].ts_ms < start)
			a++;
		for (b = a; b < tdb[i].n && tdb[i].p[b].ts_ms <= end; b++)
			;
		int rc = cb(arg, tdb[i].key, (size_t)tdb[i].klen, tdb[i].p + a, b - a);
		if (rc)
			return rc;
	}
	return 0;
}

static struct promql_storage tsto = {t_select, NULL};

static int setup(void **st)
{
	(void)st;
	tn = 0;
	t_add("req_total", "inst", "a", 0, 10, 21, 15000);   /* 10 per 15 s */
	t_add("req_total", "inst", "b", 0, 20, 21, 15000);
	t_add("up", "inst", "a", 1, 0, 21, 15000);
	return 0;
}

static int t_eval(const char *q, int64_t t, struct promql_result *r, const struct promql_opts *o)
{
	struct promql_node *n = NULL;
	struct promql_error e;
	memset(r, 0, sizeof(*r));
	if (promql_parse(q, strlen(q), &n, &e) != 0)
		return -1000;
	int rc = promql_eval_instant(n, &tsto, o, t, r);
	promql_free(n);
	return rc;
}

static void test_selector_lookback(void **st)
{
	struct promql_result r;
	(void)st;
	assert_int_equal(t_eval("req_total", 300000, &r, NULL), 0);
	assert_int_equal(r.type, PROMQL_TYPE_VECTOR);
	assert_int_equal(r.n, 2);
	assert_true(r.series[0].pts[0].v == 200);
	promql_result_free(&r);
	/* 5 m after the last sample (300 s) nothing is left. */
	assert_int_equal(t_eval("req_total", 600000, &r, NULL), 0);
	assert_int_equal(r.n, 0);
	promql_result_free(&r);
}

static void test_rate_and_sum(void **st)
{
	struct promql_result r;
	char buf[128];
	(void)st;
	assert_int_equal(t_eval("sum by (inst) (rate(req_total[1m]))", 300000, &r, NULL), 0);
	assert_int_equal(r.n, 2);
	promql_lset_format(&r.series[0].ls, buf, sizeof(buf));
	assert_string_equal(buf, "{inst=\"a\"}");
	assert_true(fabs(r.series[0].pts[0].v - 10.0 / 15) < 1e-12);
	promql_result_free(&r);
}

static void test_matching(void **st)
{
	struct promql_result r;
	(void)st;
	assert_int_equal(t_eval("req_total * on(inst) group_left up", 300000, &r, NULL), 0);
	assert_int_equal(r.n, 1);
	promql_result_free(&r);
	assert_int_equal(t_eval("up + on() req_total", 300000, &r, NULL), -ERANGE);
	assert_non_null(strstr(r.msg, "many-to-many matching not allowed"));
	promql_result_free(&r);
}

static void test_scalar_and_subquery(void **st)
{
	struct promql_result r;
	(void)st;
	assert_int_equal(t_eval("scalar(sum(up)) * 2", 300000, &r, NULL), 0);
	assert_int_equal(r.type, PROMQL_TYPE_SCALAR);
	assert_true(r.scalar == 2);
	promql_result_free(&r);
	assert_int_equal(t_eval("count_over_time(up[1m:15s])", 300000, &r, NULL), 0);
	assert_int_equal(r.n, 1);
	assert_true(r.series[0].pts[0].v == 4);
	promql_result_free(&r);
}

static void test_range_grid(void **st)
{
	struct promql_node *n = NULL;
	struct promql_error e;
	struct promql_result r;
	(void)st;
	memset(&r, 0, sizeof(r));
	assert_int_equal(promql_parse("up", 2, &n, &e), 0);
	assert_int_equal(promql_eval_range(n, &tsto, NULL, 0, 600000, 60000, &r), 0);
	assert_int_equal(r.type, PROMQL_TYPE_MATRIX);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.series[0].n, 10); /* 0..540 s: the last sample ages out at 600 s */
	promql_result_free(&r);
	promql_free(n);
}

static void test_limits(void **st)
{
	struct promql_result r;
	struct promql_opts o;
	(void)st;
	memset(&o, 0, sizeof(o));
	o.max_samples = 10;
	assert_int_equal(t_eval("req_total[5m]", 300000, &r, &o), -E2BIG);
	assert_string_equal(r.msg, PROMQL_MSG_TOO_MANY_SAMPLES);
	assert_int_equal(r.err, PROMQL_ERR_EXEC);
	promql_result_free(&r);
	tselects = 0;
	assert_int_equal(t_eval("req_total / req_total", 300000, &r, NULL), 0);
	assert_int_equal(tselects, 2);
	promql_result_free(&r);
}

static void test_lset(void **st)
{
	uint8_t key[128];
	struct series_label l[2] = {{"b", 1, "2", 1}, {"A", 1, "1", 1}};
	struct promql_lset ls;
	char buf[128];
	(void)st;
	int kl = series_key_build(key, sizeof(key), "m", 1, l, 2);
	assert_true(kl > 0);
	assert_int_equal(promql_lset_from_key(key, (size_t)kl, &ls), 0);
	promql_lset_format(&ls, buf, sizeof(buf));
	/* Prometheus order: "A" < "__name__" < "b". */
	assert_string_equal(buf, "{A=\"1\", __name__=\"m\", b=\"2\"}");
	promql_lset_free(&ls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_selector_lookback, setup),
		cmocka_unit_test_setup(test_rate_and_sum, setup),
		cmocka_unit_test_setup(test_matching, setup),
		cmocka_unit_test_setup(test_scalar_and_subquery, setup),
		cmocka_unit_test_setup(test_range_grid, setup),
		cmocka_unit_test_setup(test_limits, setup),
		cmocka_unit_test(test_lset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
