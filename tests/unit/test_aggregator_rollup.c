/* test_aggregator_rollup: unit tests of aggregator/rollup, downsampled
 * buckets and the PromQL range functions evaluated on them.
 *
 * The reference is an independent raw evaluator written from Prometheus 3
 * (promql/functions.go): range windows (t - r, t], stale markers dropped
 * from range vectors, Kahan sums, extrapolatedRate() for rate/increase/
 * delta, instant selectors seeing the latest sample in (t - 5m, t] unless
 * it is a stale marker. Random series come from a fixed seed (counters with
 * resets, decimal gauges, NaNs, stale markers, gaps, jittered scrapes).
 * Decoding damaged bytes must give -EPROTO or a valid series, never a read
 * out of bounds: run under ASan (make SAN=1) for the latter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/rollup.h"

#define MAXN 20000
#define MIN_MS 60000LL
#define W5 (5 * MIN_MS)
#define W1H (60 * MIN_MS)

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rndn(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static double dbits(uint64_t b)
{
	double d;
	memcpy(&d, &b, 8);
	return d;
}

static uint64_t bitsd(double d)
{
	uint64_t b;
	memcpy(&b, &d, 8);
	return b;
}

static double stale_nan(void)
{
	return dbits(ROLLUP_STALE_NAN_BITS);
}

/* ---- generated series ------------------------------------------------ */

struct gen {
	int64_t ts[MAXN];
	double v[MAXN];
	size_t n;
};

/* kind 0: integer counter with resets; 1: decimal gauge; 2: float gauge
 * with NaNs. Stale markers follow some gaps, some samples are jittered. */
static void gen_series(struct gen *g, int kind, int64_t start, size_t n, int64_t interval)
{
	int64_t t = start;
	double c = (double)rndn(1000);
	g->n = 0;
	for (size_t i = 0; i < n && g->n < MAXN; i++) {
		if (rndn(200) == 0) {
			/* A gap: the target went away; Prometheus writes a stale marker. */
			g->ts[g->n] = t;
			g->v[g->n++] = stale_nan();
			if (rndn(3) == 0 && g->n < MAXN) {  /* two markers in a row */
				g->ts[g->n] = t + interval / 3;
				g->v[g->n++] = stale_nan();
			}
			t += interval * (int64_t)(1 + rndn(40));
			continue;
		}
		double v;
		if (kind == 0) {
			c += (double)rndn(50);
			if (rndn(300) == 0)
				c = (double)rndn(10);  /* counter reset */
			v = c;
		} else if (kind == 1) {
			v = (double)((int64_t)rndn(100000) - 50000) / 100.0;
		} else {
			v = (double)(int64_t)rnd() / 1e15 * ((rndn(2)) ? 1 : -1);
			if (rndn(100) == 0)
				v = NAN;
		}
		g->ts[g->n] = t;
		g->v[g->n++] = v;
		t += interval + (int64_t)rndn(interval / 10 + 1) - interval / 20;
	}
}

/* ---- reference evaluator on raw samples ------------------------------- */

/* Collects the non-stale samples with keep(ts) into (rt, rv). */
static size_t ref_select(const int64_t *ts, const double *v, size_t n, int64_t l, int64_t t,
			 int64_t *rt, double *rv)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (ts[i] <= l || ts[i] > t || rollup_is_stale(v[i]))
			continue;
		rt[k] = ts[i];
		rv[k++] = v[i];
	}
	return k;
}

/* Prometheus 3's functions on the selected samples, window (l, t]. Returns
 * 0 or -ENODATA. */
static int ref_fn(enum rollup_fn fn, const int64_t *ts, const double *v, size_t n, int64_t l,
		  int64_t t, int cut_lo, int cut_hi, double *out)
{
	if (n == 0)
		return -ENODATA;
	double sum = 0, c = 0, mn = v[0], mx = v[0];
	for (size_t i = 0; i < n; i++) {
		double s = sum + v[i];
		if (fabs(sum) >= fabs(v[i]))
			c += (sum - s) + v[i];
		else
			c += (v[i] - s) + sum;
		sum = s;
		if (v[i] < mn || isnan(mn))
			mn = v[i];
		if (v[i] > mx || isnan(mx))
			mx = v[i];
	}
	double total = isinf(sum) ? sum : sum + c;
	switch (fn) {
	case ROLLUP_SUM_OVER_TIME: *out = total; return 0;
	case ROLLUP_COUNT_OVER_TIME: *out = (double)n; return 0;
	case ROLLUP_AVG_OVER_TIME: *out = total / (double)n; return 0;
	case ROLLUP_MIN_OVER_TIME: *out = mn; return 0;
	case ROLLUP_MAX_OVER_TIME: *out = mx; return 0;
	case ROLLUP_LAST_OVER_TIME: *out = v[n - 1]; return 0;
	default: break;
	}
	if (n < 2)
		return -ENODATA;
	int counter = fn != ROLLUP_DELTA;
	double res = v[n - 1] - v[0];
	if (counter)
		for (size_t i = 1; i < n; i++)
			if (v[i] < v[i - 1])
				res += v[i - 1];
	double to_start = (double)(ts[0] - l) / 1000, to_end = (double)(t - ts[n - 1]) / 1000;
	double sampled = (double)(ts[n - 1] - ts[0]) / 1000;
	double avg = sampled / (double)(n - 1), thr = avg * 1.1;
	if (to_start >= thr && !cut_lo)
		to_start = avg / 2;
	if (counter) {
		double tz = to_start;
		if (res > 0 && v[0] >= 0)
			tz = sampled * (v[0] / res);
		if (tz < to_start)
			to_start = tz;
	}
	if (to_end >= thr && !cut_hi)
		to_end = avg / 2;
	double f = (sampled + to_start + to_end) / sampled;
	if (fn == ROLLUP_RATE)
		f /= (double)(t - l) / 1000;
	*out = res * f;
	return 0;
}

static int64_t sel_ts[MAXN];
static double sel_v[MAXN];

static int ref_eval(const struct gen *g, enum rollup_fn fn, int64_t t, int64_t range, double *out)
{
	size_t k = ref_select(g->ts, g->v, g->n, t - range, t, sel_ts, sel_v);
	return ref_fn(fn, sel_ts, sel_v, k, t - range, t, 0, 0, out);
}

/* Instant selector: latest sample in (t - lb, t], none if stale. */
static int ref_instant(const struct gen *g, int64_t t, int64_t lb, double *out)
{
	for (size_t i = g->n; i-- > 0;) {
		if (g->ts[i] > t)
			continue;
		if (g->ts[i] <= t - lb || rollup_is_stale(g->v[i]))
			return 0;
		*out = g->v[i];
		return 1;
	}
	return 0;
}

/* Equal as numbers: both NaN, or bit-equal, or within rel. */
static int close_to(double a, double b, double rel)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	if (a == b)
		return 1;
	return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

static void build(struct rollup_series *rs, int64_t w, const struct gen *g)
{
	assert_int_equal(rollup_init(rs, w), 0);
	assert_int_equal(rollup_add_raw(rs, g->ts, g->v, g->n), 0);
}

static struct gen g1, g2;

/* ---- building --------------------------------------------------------- */

static void test_raw_rollup_keeps_count_sum_extremes_edges_and_reset_correction(void **state)
{
	(void)state;
	/* Bucket (0, 300000]: 10 20 5(reset) 8; bucket (300000, 600000]: 3(reset) 7. */
	int64_t ts[] = {1000, 60000, 120000, 300000, 360000, 420000};
	double v[] = {10, 20, 5, 8, 3, 7};
	struct rollup_series rs;
	assert_int_equal(rollup_init(&rs, W5), 0);
	assert_int_equal(rollup_add_raw(&rs, ts, v, 6), 0);
	assert_int_equal(rs.n, 2);
	const struct rollup_bucket *b = &rs.b[0];
	assert_int_equal(b->end_ts, 300000);
	assert_int_equal(b->count, 4);
	assert_true(b->sum == 43 && b->min == 5 && b->max == 20);
	assert_int_equal(b->first_ts, 1000);
	assert_int_equal(b->last_ts, 300000);  /* right-closed: 300000 is in (0, 300000] */
	assert_true(b->first == 10 && b->last == 8 && b->reset_corr == 20);
	assert_true(rollup_bucket_increase(b) == 18);  /* +10, reset to 5 counts 5, +3 */
	assert_int_equal(rs.b[1].end_ts, 600000);
	assert_true(rs.b[1].first == 3 && rs.b[1].reset_corr == 0);
	/* increase over both buckets: 18 + (3 after the reset from 8) + 4 = 25 */
	double out;
	assert_int_equal(rollup_eval(&rs, ROLLUP_INCREASE, 600000, 600000, &out, NULL), 0);
	double ref;
	struct gen *g = &g1;
	memcpy(g->ts, ts, sizeof(ts));
	memcpy(g->v, v, sizeof(v));
	g->n = 6;
	assert_int_equal(ref_eval(g, ROLLUP_INCREASE, 600000, 600000, &ref), 0);
	assert_true(close_to(out, ref, 1e-12));
	rollup_destroy(&rs);
}

static void test_stale_markers_are_not_values_and_only_the_first_after_the_last_value_is_kept(void **state)
{
	(void)state;
	double s = stale_nan();
	int64_t ts[] = {10000, 20000, 30000, 40000, 310000, 320000};
	double v[] = {s, 1, s, s, s, s};
	struct rollup_series rs;
	assert_int_equal(rollup_init(&rs, W5), 0);
	assert_int_equal(rollup_add_raw(&rs, ts, v, 6), 0);
	assert_int_equal(rs.n, 2);
	assert_int_equal(rs.b[0].count, 1);
	assert_true(rs.b[0].sum == 1);
	assert_int_equal(rs.b[0].stale_ts, 30000);
	assert_int_equal(rs.b[1].count, 0);      /* a bucket of stale markers only */
	assert_int_equal(rs.b[1].stale_ts, 310000);
	double out;
	assert_int_equal(rollup_eval(&rs, ROLLUP_COUNT_OVER_TIME, 600000, 600000, &out, NULL), 0);
	assert_true(out == 1);
	/* A plain NaN is a value. */
	int64_t ts2[] = {700000};
	double v2[] = {NAN};
	assert_int_equal(rollup_add_raw(&rs, ts2, v2, 1), 0);
	assert_int_equal(rs.b[2].count, 1);
	assert_int_equal(rs.b[2].stale_ts, ROLLUP_NO_STALE);
	rollup_destroy(&rs);
}

static void test_add_raw_rejects_time_going_back_and_continues_the_last_bucket(void **state)
{
	(void)state;
	struct rollup_series rs;
	int64_t ts[] = {100000, 200000};
	double v[] = {1, 2};
	assert_int_equal(rollup_init(&rs, W5), 0);
	assert_int_equal(rollup_add_raw(&rs, ts, v, 2), 0);
	int64_t back[] = {150000};
	assert_int_equal(rollup_add_raw(&rs, back, v, 1), -ERANGE);
	int64_t older[] = {-5};
	assert_int_equal(rollup_add_raw(&rs, older, v, 1), -ERANGE);
	int64_t same[] = {200000, 250000};
	assert_int_equal(rollup_add_raw(&rs, same, v, 2), 0);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.b[0].count, 4);
	int64_t huge[] = {INT64_MAX};
	assert_int_equal(rollup_add_raw(&rs, huge, v, 1), -ERANGE);
	rollup_destroy(&rs);
	struct rollup_series bad;
	assert_int_equal(rollup_init(&bad, 0), -EINVAL);
	assert_int_equal(rollup_init(&bad, INT64_MAX), -EINVAL);
	rollup_destroy(&bad);
	rollup_destroy(NULL);
}

static void assert_buckets_equal(const struct rollup_series *a, const struct rollup_series *b,
				 int exact_sums)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->width_ms, b->width_ms);
	for (size_t i = 0; i < a->n; i++) {
		const struct rollup_bucket *x = &a->b[i], *y = &b->b[i];
		assert_int_equal(x->end_ts, y->end_ts);
		assert_int_equal(x->count, y->count);
		assert_int_equal(x->stale_ts, y->stale_ts);
		if (!x->count)
			continue;
		assert_int_equal(x->first_ts, y->first_ts);
		assert_int_equal(x->last_ts, y->last_ts);
		assert_int_equal(bitsd(x->first), bitsd(y->first));
		assert_int_equal(bitsd(x->last), bitsd(y->last));
		assert_int_equal(bitsd(x->min), bitsd(y->min));
		assert_int_equal(bitsd(x->max), bitsd(y->max));
		if (exact_sums) {
			assert_int_equal(bitsd(x->sum), bitsd(y->sum));
			assert_int_equal(bitsd(x->reset_corr), bitsd(y->reset_corr));
		} else {
			assert_true(close_to(x->sum, y->sum, 1e-9));
			assert_true(close_to(x->reset_corr, y->reset_corr, 1e-9));
		}
	}
}

static void test_rollup_of_5m_rollups_equals_1h_rollup_of_raw(void **state)
{
	(void)state;
	rng_state = 11;
	for (int round = 0; round < 30; round++) {
		int kind = round % 3;
		gen_series(&g1, kind, (int64_t)rndn(1000000000000) - 300000000000, 2000 + rndn(8000),
			   15000 * (int64_t)(1 + rndn(4)));
		struct rollup_series r5, r1h, direct;
		build(&r5, W5, &g1);
		build(&direct, W1H, &g1);
		assert_int_equal(rollup_init(&r1h, W1H), 0);
		/* In two pieces, to check that a 1 h bucket continues across calls. */
		struct rollup_series a, b;
		int64_t cut = r5.b[r5.n / 2].end_ts;
		assert_int_equal(rollup_slice(&r5, INT64_MIN, cut, &a), 0);
		assert_int_equal(rollup_slice(&r5, cut, INT64_MAX, &b), 0);
		assert_int_equal(a.n + b.n, r5.n);
		assert_int_equal(rollup_add_rollup(&r1h, &a), 0);
		assert_int_equal(rollup_add_rollup(&r1h, &b), 0);
		/* Integer counters and 2-decimal gauges: sums exact only for counters. */
		assert_buckets_equal(&r1h, &direct, kind == 0);
		assert_int_equal(rollup_add_rollup(&r1h, &a), -ERANGE);
		struct rollup_series bad;
		assert_int_equal(rollup_init(&bad, 7 * MIN_MS), 0);
		assert_int_equal(rollup_add_rollup(&bad, &r5), -EINVAL);
		rollup_destroy(&bad);
		rollup_destroy(&a);
		rollup_destroy(&b);
		rollup_destroy(&r5);
		rollup_destroy(&r1h);
		rollup_destroy(&direct);
	}
}

static void test_adding_raw_in_pieces_equals_adding_it_at_once(void **state)
{
	(void)state;
	rng_state = 12;
	gen_series(&g1, 0, 1700000000000, 5000, 15000);
	struct rollup_series once, pieces;
	build(&once, W5, &g1);
	assert_int_equal(rollup_init(&pieces, W5), 0);
	for (size_t i = 0; i < g1.n;) {
		size_t k = 1 + rndn(37);
		if (k > g1.n - i)
			k = g1.n - i;
		assert_int_equal(rollup_add_raw(&pieces, g1.ts + i, g1.v + i, k), 0);
		i += k;
	}
	assert_buckets_equal(&once, &pieces, 1);
	rollup_destroy(&once);
	rollup_destroy(&pieces);
}

/* ---- encoding ---------------------------------------------------------- */

static const uint64_t specials[] = {
	0x7ff8000000000000ULL, 0x7ff0000000000002ULL, 0xfff8000000000001ULL, 0x7ff0000000000000ULL,
	0xfff0000000000000ULL, 0x8000000000000000ULL, 0x0000000000000001ULL, 0x000fffffffffffffULL,
	0x7fefffffffffffffULL, 0,
};

static void round_trip(const struct rollup_series *rs)
{
	uint8_t *buf;
	size_t len;
	struct rollup_series back;
	assert_int_equal(rollup_encode(rs, &buf, &len), 0);
	assert_int_equal(rollup_decode(buf, len, &back), 0);
	assert_buckets_equal(rs, &back, 1);
	rollup_destroy(&back);
	free(buf);
}

static void test_encoding_round_trips_bit_exactly(void **state)
{
	(void)state;
	rng_state = 13;
	for (int round = 0; round < 60; round++) {
		gen_series(&g1, round % 3, (int64_t)rndn(UINT64_C(4000000000000)) - 2000000000000,
			   1 + rndn(3000), 1000 * (int64_t)(1 + rndn(60)));
		struct rollup_series rs;
		build(&rs, round % 2 ? W5 : W1H, &g1);
		round_trip(&rs);
		/* Adversarial fields straight into buckets. */
		for (size_t i = 0; i < rs.n; i++) {
			struct rollup_bucket *b = &rs.b[i];
			if (!b->count || rndn(4))
				continue;
			b->min = dbits(specials[rndn(10)]);
			b->max = dbits(specials[rndn(10)]);
			b->sum = dbits(rnd());
			b->reset_corr = dbits(specials[rndn(10)]);
			b->last = dbits(specials[rndn(10)]);
		}
		round_trip(&rs);
		rollup_destroy(&rs);
	}
	struct rollup_series empty;
	assert_int_equal(rollup_init(&empty, 1), 0);
	round_trip(&empty);
}

static void test_decoder_rejects_every_truncation_and_survives_random_damage(void **state)
{
	(void)state;
	rng_state = 14;
	gen_series(&g1, 0, 1700000000000, 800, 15000);
	struct rollup_series rs, back;
	build(&rs, W5, &g1);
	uint8_t *buf;
	size_t len;
	assert_int_equal(rollup_encode(&rs, &buf, &len), 0);
	for (size_t cut = 0; cut < len; cut++) {
		/* An exact-size copy, so that ASan sees any read past the end. */
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, buf, cut);
		assert_int_equal(rollup_decode(p, cut, &back), -EPROTO);
		assert_null(back.b);
		free(p);
	}
	uint8_t *p = malloc(len + 1);
	memcpy(p, buf, len);
	p[len] = 0;
	assert_int_equal(rollup_decode(p, len + 1, &back), -EPROTO);  /* trailing byte */
	memcpy(p, buf, len);
	p[2] = ROLLUP_VERSION + 1;
	assert_int_equal(rollup_decode(p, len, &back), -EPROTO);
	p[2] = ROLLUP_VERSION;
	p[0] = 'X';
	assert_int_equal(rollup_decode(p, len, &back), -EPROTO);
	size_t ok = 0, bad = 0;
	for (int i = 0; i < 20000; i++) {
		memcpy(p, buf, len);
		for (int k = 0; k < 1 + (int)rndn(3); k++)
			p[rndn(len)] ^= (uint8_t)(1u << rndn(8));
		int rc = rollup_decode(p, len, &back);
		assert_true(rc == 0 || rc == -EPROTO);
		if (rc == 0) {
			ok++;
			/* What decodes keeps the invariants the evaluators rely on. */
			for (size_t j = 0; j < back.n; j++) {
				const struct rollup_bucket *b = &back.b[j];
				assert_true(j == 0 || b->end_ts > back.b[j - 1].end_ts);
				assert_true(b->count || b->stale_ts != ROLLUP_NO_STALE);
				if (b->count)
					assert_true(b->first_ts > b->end_ts - back.width_ms &&
						    b->first_ts <= b->last_ts && b->last_ts <= b->end_ts);
			}
			double out;
			rollup_eval(&back, ROLLUP_RATE, back.n ? back.b[back.n - 1].end_ts : 0, W1H, &out, NULL);
			rollup_destroy(&back);
		} else {
			bad++;
		}
	}
	print_message("random damage: %zu decoded as valid, %zu rejected\n", ok, bad);
	free(p);
	free(buf);
	rollup_destroy(&rs);
}

static void test_encoding_costs_a_few_bytes_per_bucket(void **state)
{
	(void)state;
	rng_state = 15;
	const char *names[] = {"counter", "decimal gauge", "float gauge"};
	for (int kind = 0; kind < 3; kind++) {
		gen_series(&g1, kind, 1700000000000, 20000, 15000);
		struct rollup_series rs;
		build(&rs, W5, &g1);
		uint8_t *buf;
		size_t len;
		assert_int_equal(rollup_encode(&rs, &buf, &len), 0);
		print_message("%s: %zu samples -> %zu buckets of 5m, %.1f bytes/bucket\n", names[kind],
			      g1.n, rs.n, (double)len / (double)rs.n);
		assert_true(len < rs.n * 64);
		free(buf);
		rollup_destroy(&rs);
	}
}

/* ---- evaluation -------------------------------------------------------- */

static const char *fn_names[] = {"sum_over_time", "count_over_time", "avg_over_time",
				 "min_over_time", "max_over_time", "last_over_time",
				 "increase", "rate", "delta"};

static void test_aligned_windows_give_the_raw_result_for_every_function(void **state)
{
	(void)state;
	rng_state = 16;
	size_t checked = 0;
	for (int round = 0; round < 24; round++) {
		int kind = round % 3;
		int64_t w = round % 2 ? W5 : W1H;
		gen_series(&g1, kind, 1700000000000 + (int64_t)rndn(3600000), 6000, 15000);
		struct rollup_series rs;
		build(&rs, w, &g1);
		int64_t t0 = rollup_bucket_end(g1.ts[0], w);
		for (int q = 0; q < 300; q++) {
			int64_t t = t0 + w * (int64_t)rndn((uint64_t)((g1.ts[g1.n - 1] - t0) / w + 3));
			int64_t range = w * (int64_t)(1 + rndn(30));
			for (int fn = 0; fn < ROLLUP_FN_COUNT; fn++) {
				double got = 0, want = 0;
				struct rollup_span sp;
				int rc = rollup_eval(&rs, (enum rollup_fn)fn, t, range, &got, &sp);
				int rr = ref_eval(&g1, (enum rollup_fn)fn, t, range, &want);
				if (rc != rr || !close_to(got, want, 1e-9))
					fail_msg("%s t=%lld range=%lld: rollup %d %.17g raw %d %.17g",
						 fn_names[fn], (long long)t, (long long)range, rc, got,
						 rr, want);
				assert_true(sp.exact);
				checked++;
			}
		}
		rollup_destroy(&rs);
	}
	print_message("%zu aligned evaluations equal to raw\n", checked);
}

/* The documented rule for windows that cut a bucket: the result is the raw
 * formula over exactly the samples of the chosen buckets, with the true
 * window edges. Also measures the error against the true raw result. */
static void test_unaligned_windows_use_whole_buckets_as_documented(void **state)
{
	(void)state;
	rng_state = 17;
	double worst[ROLLUP_FN_COUNT] = {0};
	for (int round = 0; round < 12; round++) {
		int kind = round % 3;
		gen_series(&g1, kind, 1700000000000 + (int64_t)rndn(3600000), 6000, 15000);
		struct rollup_series rs;
		build(&rs, W5, &g1);
		for (int q = 0; q < 300; q++) {
			int64_t t = g1.ts[0] + (int64_t)rndn((uint64_t)(g1.ts[g1.n - 1] - g1.ts[0]));
			int64_t range = (int64_t)(5 + rndn(120)) * MIN_MS + (int64_t)rndn(MIN_MS);
			for (int fn = 0; fn < ROLLUP_FN_COUNT; fn++) {
				double got = 0, want = 0, truth = 0;
				struct rollup_span sp;
				int rc = rollup_eval(&rs, (enum rollup_fn)fn, t, range, &got, &sp);
				/* Samples of buckets [lo, hi). */
				int64_t from = sp.lo < sp.hi ? rs.b[sp.lo].end_ts - W5 : 0;
				int64_t to = sp.lo < sp.hi ? rs.b[sp.hi - 1].end_ts : 0;
				size_t k = ref_select(g1.ts, g1.v, g1.n, from, to, sel_ts, sel_v);
				int rr = ref_fn((enum rollup_fn)fn, sel_ts, sel_v, k, t - range, t,
						sp.cut_lo, sp.cut_hi, &want);
				if (rc != rr || !close_to(got, want, 1e-9))
					fail_msg("%s t=%lld range=%lld: rollup %d %.17g rule %d %.17g",
						 fn_names[fn], (long long)t, (long long)range, rc, got,
						 rr, want);
				if (fn == ROLLUP_COUNT_OVER_TIME) {
					/* Off by at most the values of the cut buckets. */
					double cut = 0;
					ref_eval(&g1, ROLLUP_COUNT_OVER_TIME, t, range, &truth);
					for (size_t j = 0; j < rs.n; j++) {
						const struct rollup_bucket *b = &rs.b[j];
						if (b->count && ((b->first_ts <= t - range && b->last_ts > t - range) ||
								 (b->first_ts <= t && b->last_ts > t)))
							cut += (double)b->count;
					}
					assert_true(fabs((rc ? 0 : got) - truth) <= cut);
					truth = 0;
				}
				if (rc == 0 && ref_eval(&g1, (enum rollup_fn)fn, t, range, &truth) == 0 &&
				    kind == 0 && range >= W1H && !isnan(truth) && truth != 0) {
					double e = fabs(got - truth) / fabs(truth);
					if (e > worst[fn])
						worst[fn] = e;
				}
			}
		}
		rollup_destroy(&rs);
	}
	for (int fn = 0; fn < ROLLUP_FN_COUNT; fn++)
		print_message("unaligned 5m buckets, counters with resets, ranges 1h..2h: %s worst relative error %.3f\n",
			      fn_names[fn], worst[fn]);
}

/* Steady counter scraped every 15 s, unaligned windows of 1 h over 5 m
 * buckets: rate() stays close to the raw rate. */
static void test_unaligned_rate_of_a_steady_counter_stays_within_a_bucket_of_error(void **state)
{
	(void)state;
	rng_state = 18;
	g1.n = 0;
	double c = 0;
	for (int64_t t = 1700000000000; g1.n < 5000; t += 15000) {
		c += 10 + (double)rndn(5);
		g1.ts[g1.n] = t + (int64_t)rndn(500);
		g1.v[g1.n++] = c;
	}
	struct rollup_series rs;
	build(&rs, W5, &g1);
	double worst = 0;
	for (int q = 0; q < 2000; q++) {
		int64_t t = g1.ts[300] + (int64_t)rndn((uint64_t)(g1.ts[g1.n - 1] - g1.ts[300]));
		double got, want;
		assert_int_equal(rollup_eval(&rs, ROLLUP_RATE, t, W1H, &got, NULL), 0);
		assert_int_equal(ref_eval(&g1, ROLLUP_RATE, t, W1H, &want), 0);
		double e = fabs(got - want) / want;
		if (e > worst)
			worst = e;
	}
	print_message("steady counter, rate()[1h] on 5m buckets: worst relative error %.4f\n", worst);
	/* The slope varies by about 20% between buckets; a half bucket at each
	 * edge is at most 1/24 of the window, and only the slope's change
	 * inside it counts. */
	assert_true(worst < 0.02);
	rollup_destroy(&rs);
}

static void test_empty_windows_and_single_samples_give_no_data(void **state)
{
	(void)state;
	struct rollup_series rs;
	int64_t ts[] = {100000};
	double v[] = {5};
	double out;
	assert_int_equal(rollup_init(&rs, W5), 0);
	assert_int_equal(rollup_eval(&rs, ROLLUP_SUM_OVER_TIME, 300000, W5, &out, NULL), -ENODATA);
	assert_int_equal(rollup_add_raw(&rs, ts, v, 1), 0);
	assert_int_equal(rollup_eval(&rs, ROLLUP_LAST_OVER_TIME, 300000, W5, &out, NULL), 0);
	assert_true(out == 5);
	assert_int_equal(rollup_eval(&rs, ROLLUP_RATE, 300000, W5, &out, NULL), -ENODATA);
	assert_int_equal(rollup_eval(&rs, ROLLUP_SUM_OVER_TIME, 600000, W5, &out, NULL), -ENODATA);
	assert_int_equal(rollup_eval(&rs, ROLLUP_SUM_OVER_TIME, 600000, 0, &out, NULL), -EINVAL);
	assert_int_equal(rollup_eval(&rs, ROLLUP_FN_COUNT, 600000, W5, &out, NULL), -EINVAL);
	rollup_destroy(&rs);
}

static void test_last_value_at_bucket_ends_equals_the_instant_selector(void **state)
{
	(void)state;
	rng_state = 19;
	enum { STEPS = 3000 };
	static double vals[STEPS];
	static uint8_t present[STEPS];
	for (int round = 0; round < 12; round++) {
		gen_series(&g1, 1 + round % 2, 1700000000000 + (int64_t)rndn(3600000), 8000,
			   15000 * (int64_t)(1 + rndn(20)));
		int64_t w = round % 2 ? W5 : W1H;
		struct rollup_series rs;
		build(&rs, w, &g1);
		int64_t start = rollup_bucket_end(g1.ts[0], w) - 3 * w;
		size_t inexact = 9;
		int64_t lb = (round % 3 + 1) * W5;
		assert_int_equal(rollup_last_at_steps(&rs, start, w, STEPS, lb, vals, present, &inexact), 0);
		assert_int_equal(inexact, 0);
		size_t seen = 0;
		for (size_t k = 0; k < STEPS; k++) {
			double want = 0;
			int has = ref_instant(&g1, start + (int64_t)k * w, lb, &want);
			assert_int_equal(present[k], has);
			if (has) {
				assert_int_equal(bitsd(vals[k]), bitsd(want));
				seen++;
			}
		}
		assert_true(seen > 0);
		rollup_destroy(&rs);
	}
}

static void test_last_value_between_bucket_ends_is_a_real_sample_less_than_a_bucket_old(void **state)
{
	(void)state;
	rng_state = 20;
	enum { STEPS = 5000 };
	static double vals[STEPS];
	static uint8_t present[STEPS];
	gen_series(&g1, 1, 1700000000000, 8000, 15000);
	struct rollup_series rs;
	build(&rs, W5, &g1);
	int64_t step = 37000;
	size_t inexact = 0, exact = 0, presence = 0;
	/* Lookback longer than a bucket, so that the stand-in stays inside it. */
	assert_int_equal(rollup_last_at_steps(&rs, g1.ts[0], step, STEPS, 2 * W5, vals, present,
					      &inexact), 0);
	for (size_t k = 0; k < STEPS; k++) {
		int64_t t = g1.ts[0] + (int64_t)k * step;
		double want = 0;
		int has = ref_instant(&g1, t, 2 * W5, &want);
		if (present[k] != has) {
			/* A stale marker between a bucket's first and last value is
			 * not kept: only an inexact step may see through it. */
			presence++;
			continue;
		}
		if (!has)
			continue;
		if (bitsd(vals[k]) == bitsd(want)) {
			exact++;
			continue;
		}
		/* Some sample in (t - W, t] carries this value. */
		int found = 0;
		for (size_t i = 0; i < g1.n && !found; i++)
			found = g1.ts[i] <= t && g1.ts[i] > t - W5 && bitsd(g1.v[i]) == bitsd(vals[k]);
		assert_true(found);
	}
	print_message("unaligned steps: %zu inexact of %d, %zu equal to the instant selector, "
		      "%zu disagree on presence\n", inexact, STEPS, exact, presence);
	assert_true(presence <= inexact);
	assert_int_equal(rollup_last_at_steps(&rs, 0, 0, 1, W5, vals, present, NULL), -EINVAL);
	rollup_destroy(&rs);
}

/* ---- allocation failure ------------------------------------------------ */

static int alloc_budget;

static void *failing_alloc(void *p, size_t size)
{
	if (size == 0) {
		free(p);
		return NULL;
	}
	if (alloc_budget-- <= 0)
		return NULL;
	return realloc(p, size);
}

static void test_allocation_failure_at_every_step_ends_cleanly(void **state)
{
	(void)state;
	rng_state = 21;
	gen_series(&g1, 0, 1700000000000, 6000, 15000);
	void *(*saved)(void *, size_t) = rollup_alloc_hook;
	rollup_alloc_hook = failing_alloc;
	for (int n = 0;; n++) {
		alloc_budget = n;
		struct rollup_series rs, back;
		uint8_t *buf = NULL;
		size_t len;
		int rc = rollup_init(&rs, W5);
		if (rc == 0)
			rc = rollup_add_raw(&rs, g1.ts, g1.v, g1.n);
		if (rc == 0)
			rc = rollup_encode(&rs, &buf, &len);
		if (rc == 0) {
			rc = rollup_decode(buf, len, &back);
			rollup_destroy(&back);
		}
		rollup_alloc_hook(buf, 0);
		rollup_destroy(&rs);
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_true(n < 100);
	}
	rollup_alloc_hook = saved;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_rollup_keeps_count_sum_extremes_edges_and_reset_correction),
		cmocka_unit_test(test_stale_markers_are_not_values_and_only_the_first_after_the_last_value_is_kept),
		cmocka_unit_test(test_add_raw_rejects_time_going_back_and_continues_the_last_bucket),
		cmocka_unit_test(test_rollup_of_5m_rollups_equals_1h_rollup_of_raw),
		cmocka_unit_test(test_adding_raw_in_pieces_equals_adding_it_at_once),
		cmocka_unit_test(test_encoding_round_trips_bit_exactly),
		cmocka_unit_test(test_decoder_rejects_every_truncation_and_survives_random_damage),
		cmocka_unit_test(test_encoding_costs_a_few_bytes_per_bucket),
		cmocka_unit_test(test_aligned_windows_give_the_raw_result_for_every_function),
		cmocka_unit_test(test_unaligned_windows_use_whole_buckets_as_documented),
		cmocka_unit_test(test_unaligned_rate_of_a_steady_counter_stays_within_a_bucket_of_error),
		cmocka_unit_test(test_empty_windows_and_single_samples_give_no_data),
		cmocka_unit_test(test_last_value_at_bucket_ends_equals_the_instant_selector),
		cmocka_unit_test(test_last_value_between_bucket_ends_is_a_real_sample_less_than_a_bucket_old),
		cmocka_unit_test(test_allocation_failure_at_every_step_ends_cleanly),
	};
	(void)g2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
