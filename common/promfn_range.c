/* promfn_range: range-vector function kernels (rate ... mad_over_time).
 *
 * Sections: rate family (extrapolated, anchored/smoothed, irate/idelta);
 * counting (changes, resets); linear regression (deriv, predict_linear);
 * double exponential smoothing; *_over_time aggregations.
 *
 * Invariants: inputs are one series' float points, sorted by time,
 * distinct timestamps, no stale markers; nothing is allocated or kept.
 * Each kernel mirrors the Go expression order of Prometheus 3's
 * promql/functions.go so results match bit for bit.
 */
#include "common/promfn_range.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Go's time.Duration.Seconds() for a duration given in milliseconds:
 * whole seconds plus the nanosecond remainder / 1e9, summed as floats. */
static double promfn_range_seconds(int64_t ms)
{
	int64_t sec = ms / 1000, rem_ns = (ms % 1000) * 1000000;

	return (double)sec + (double)rem_ns / 1e9;
}

/* ---- rate family ---- */

/* rate/increase/delta as Prometheus' extrapolatedRate: the difference
 * between the last and first point (plus, for counters, every value
 * before a decrease), extrapolated toward each window edge when the gap
 * to it is below 1.1 times the average sample interval, else by half an
 * interval; for counters the start is never extrapolated below the zero
 * point. Divided by the range in seconds when is_rate. Returns false (no
 * value) for fewer than 2 points. Start timestamps (created timestamps)
 * are not taken into account. */
bool promfn_range_extrapolated(const struct promfn_point *p, size_t n, int64_t start_ms,
			       int64_t end_ms, bool is_counter, bool is_rate, double *out)
{
	double result, to_start, to_end, sampled, avg, threshold, to_zero, factor;
	size_t i;

	if (n < 2)
		return false;
	result = p[n - 1].v - p[0].v;
	if (is_counter) {
		for (i = 1; i < n; i++)
			if (p[i].v < p[i - 1].v)
				result += p[i - 1].v;
	}
	to_start = (double)(p[0].ts_ms - start_ms) / 1000;
	to_end = (double)(end_ms - p[n - 1].ts_ms) / 1000;
	sampled = (double)(p[n - 1].ts_ms - p[0].ts_ms) / 1000;
	avg = sampled / (double)(n - 1);
	threshold = avg * 1.1;
	if (to_start >= threshold)
		to_start = avg / 2;
	if (is_counter) {
		to_zero = to_start;
		if (result > 0 && p[0].v >= 0)
			to_zero = sampled * (p[0].v / result);
		if (to_zero < to_start)
			to_start = to_zero;
	}
	if (to_end >= threshold)
		to_end = avg / 2;
	factor = (sampled + to_start + to_end) / sampled;
	if (is_rate)
		factor /= promfn_range_seconds(end_ms - start_ms);
	*out = result * factor;
	return true;
}

/* rate(): per-second counter increase. See promfn_range_extrapolated. */
bool promfn_range_rate(const struct promfn_point *p, size_t n, int64_t start_ms,
		       int64_t end_ms, double *out)
{
	return promfn_range_extrapolated(p, n, start_ms, end_ms, true, true, out);
}

/* increase(): counter increase over the range. */
bool promfn_range_increase(const struct promfn_point *p, size_t n, int64_t start_ms,
			   int64_t end_ms, double *out)
{
	return promfn_range_extrapolated(p, n, start_ms, end_ms, true, false, out);
}

/* delta(): gauge difference over the range, no reset handling. */
bool promfn_range_delta(const struct promfn_point *p, size_t n, int64_t start_ms,
			int64_t end_ms, double *out)
{
	return promfn_range_extrapolated(p, n, start_ms, end_ms, false, false, out);
}

/* Linear interpolation at t between a and b; for a counter that
 * decreased, the segment is taken to start from 0. */
static double promfn_range_interpolate(struct promfn_point a, struct promfn_point b,
				       int64_t t, bool is_counter)
{
	double y1 = a.v, y2 = b.v;

	if (is_counter && y2 < y1)
		y1 = 0;
	return y1 + (y2 - y1) * (double)(t - a.ts_ms) / (double)(b.ts_ms - a.ts_ms);
}

/* sort.Search(k, pred) over p: the first index in [0, k) where pred holds,
 * or k. pred: ts > bound (strict) or ts >= bound. */
static size_t promfn_range_search(const struct promfn_point *p, size_t k, int64_t bound,
				  bool strict)
{
	size_t lo = 0, hi = k, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (!(strict ? p[mid].ts_ms > bound : p[mid].ts_ms >= bound))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* rate/increase/delta for the experimental `anchored` and `smoothed`
 * selector modifiers (Prometheus' extendedRate). Unlike the other
 * kernels, p also holds the points the modifier adds outside the window:
 * the last one at or before start (both modifiers) and, for smoothed, the
 * first one after end. Anchored takes the values at the edges as they
 * are; smoothed interpolates them to the edges. Counter resets are
 * corrected inside the window. Returns false when n == 0 or no point lies
 * after start. */
bool promfn_range_extended(const struct promfn_point *p, size_t n, int64_t start_ms,
			   int64_t end_ms, bool smoothed, bool is_counter, bool is_rate,
			   double *out)
{
	size_t first, last = n - 1, i;
	double left, right, result, corr = 0, prev;

	if (n == 0)
		return false;
	first = promfn_range_search(p, last, start_ms, true);
	first = first > 0 ? first - 1 : 0;
	if (smoothed)
		last = promfn_range_search(p, last, end_ms, false);
	if (p[last].ts_ms <= start_ms)
		return false;
	left = p[first].v;
	if (smoothed && p[first].ts_ms < start_ms)
		left = promfn_range_interpolate(p[first], p[first + 1], start_ms, is_counter);
	right = p[last].v;
	if (smoothed && last > 0 && p[last].ts_ms > end_ms)
		right = promfn_range_interpolate(p[last - 1], p[last], end_ms, is_counter);
	result = right - left;
	if (is_counter) {
		/* Only points strictly inside the window; the edges are
		 * already handled by the interpolation above. */
		size_t lo = first, hi = last + 1; /* half-open [lo, hi) */

		if (p[first].ts_ms <= start_ms)
			lo++;
		if (p[last].ts_ms >= end_ms)
			hi--;
		prev = left;
		for (i = lo; i < hi; i++) {
			if (p[i].v < prev)
				corr += prev;
			prev = p[i].v;
		}
		if (right < prev)
			corr += prev;
		result += corr;
	}
	if (is_rate)
		result /= promfn_range_seconds(end_ms - start_ms);
	*out = result;
	return true;
}

/* irate()/idelta() over the last two points. For irate a decrease counts
 * as a reset: the rate is the last value over the interval. */
static bool promfn_range_instant(const struct promfn_point *p, size_t n, bool is_rate,
				 double *out)
{
	struct promfn_point a, b;
	int64_t interval;
	double result;

	if (n < 2)
		return false;
	a = p[n - 2];
	b = p[n - 1];
	interval = b.ts_ms - a.ts_ms;
	if (interval == 0)
		return false;
	result = b.v;
	if (!is_rate || !(b.v < a.v))
		result = b.v - a.v;
	if (is_rate)
		result /= (double)interval / 1000;
	*out = result;
	return true;
}

/* irate(): per-second rate between the last two points; false for n < 2. */
bool promfn_range_irate(const struct promfn_point *p, size_t n, double *out)
{
	return promfn_range_instant(p, n, true, out);
}

/* idelta(): difference of the last two points; false for n < 2. */
bool promfn_range_idelta(const struct promfn_point *p, size_t n, double *out)
{
	return promfn_range_instant(p, n, false, out);
}

/* ---- changes, resets ---- */

/* changes(): how often the value changed (NaN to NaN is no change).
 * False for an empty window, 0 for one point. With the anchored modifier
 * the caller passes p starting at the last point at or before start. */
bool promfn_range_changes(const struct promfn_point *p, size_t n, double *out)
{
	size_t i, c = 0;

	if (n == 0)
		return false;
	for (i = 1; i < n; i++)
		if (p[i].v != p[i - 1].v && !(isnan(p[i].v) && isnan(p[i - 1].v)))
			c++;
	*out = (double)c;
	return true;
}

/* resets(): how often the value decreased. False for an empty window. */
bool promfn_range_resets(const struct promfn_point *p, size_t n, double *out)
{
	size_t i, c = 0;

	if (n == 0)
		return false;
	for (i = 1; i < n; i++)
		if (p[i].v < p[i - 1].v)
			c++;
	*out = (double)c;
	return true;
}

/* ---- linear regression ---- */

/* Least squares over p with x in seconds relative to intercept_ms (small
 * x keeps the float error down), Kahan-summed. A constant series gives
 * slope 0 and its value, or NaN/NaN when that value is infinite. */
static void promfn_range_regression(const struct promfn_point *p, size_t n,
				    int64_t intercept_ms, double *slope, double *intercept)
{
	double nn = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
	double init_y = p[0].v, x, cov, var;
	bool const_y = true;
	size_t i;

	for (i = 0; i < n; i++) {
		if (const_y && i > 0 && p[i].v != init_y)
			const_y = false;
		nn += 1.0;
		x = (double)(p[i].ts_ms - intercept_ms) / 1e3;
		promfn_kahan_inc(x, &sx, &cx);
		promfn_kahan_inc(p[i].v, &sy, &cy);
		promfn_kahan_inc(x * p[i].v, &sxy, &cxy);
		promfn_kahan_inc(x * x, &sx2, &cx2);
	}
	if (const_y) {
		if (isinf(init_y)) {
			*slope = NAN;
			*intercept = NAN;
		} else {
			*slope = 0;
			*intercept = init_y;
		}
		return;
	}
	sx += cx;
	sy += cy;
	sxy += cxy;
	sx2 += cx2;
	cov = sxy - sx * sy / nn;
	var = sx2 - sx * sx / nn;
	*slope = cov / var;
	*intercept = sy / nn - *slope * sx / nn;
}

/* deriv(): per-second slope of the least-squares line; false for n < 2. */
bool promfn_range_deriv(const struct promfn_point *p, size_t n, double *out)
{
	double slope, intercept;

	if (n < 2)
		return false;
	promfn_range_regression(p, n, p[0].ts_ms, &slope, &intercept);
	*out = slope;
	return true;
}

/* predict_linear(v, duration_s): the least-squares line evaluated
 * duration_s after eval_ms, the evaluation timestamp (not the window end:
 * with offset the two differ, and Prometheus anchors at the former).
 * False for n < 2. */
bool promfn_range_predict_linear(const struct promfn_point *p, size_t n, int64_t eval_ms,
				 double duration_s, double *out)
{
	double slope, intercept;

	if (n < 2)
		return false;
	promfn_range_regression(p, n, eval_ms, &slope, &intercept);
	*out = slope * duration_s + intercept;
	return true;
}

/* ---- double exponential smoothing ---- */

/* Writes f as Go's %f does: six decimals, "NaN", "+Inf", "-Inf". */
static void promfn_range_go_f(char *buf, size_t len, double f)
{
	if (isnan(f))
		snprintf(buf, len, "NaN");
	else if (isinf(f))
		snprintf(buf, len, f > 0 ? "+Inf" : "-Inf");
	else
		snprintf(buf, len, "%f", f);
}

/* Validates the factors of double_exponential_smoothing (and its old
 * name holt_winters). Returns 0, or -EINVAL with Prometheus' message in
 * err ("invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000",
 * then the same for the trend factor); the query fails with it. Like
 * upstream, a NaN factor passes. Upstream checks only when it evaluates a
 * series, so the caller checks once it has a series with points. */
int promfn_range_des_check(double sf, double tf, char *err, size_t errlen)
{
	char num[64];

	if (sf <= 0 || sf >= 1) {
		promfn_range_go_f(num, sizeof(num), sf);
		snprintf(err, errlen, "invalid smoothing factor. Expected: 0 < sf < 1, got: %s", num);
		return -EINVAL;
	}
	if (tf <= 0 || tf >= 1) {
		promfn_range_go_f(num, sizeof(num), tf);
		snprintf(err, errlen, "invalid trend factor. Expected: 0 < tf < 1, got: %s", num);
		return -EINVAL;
	}
	return 0;
}

/* double_exponential_smoothing(v, sf, tf): Holt's linear smoothing, the
 * smoothed value at the last point. False for n < 2. The factors must
 * have passed promfn_range_des_check. */
bool promfn_range_des(const struct promfn_point *p, size_t n, double sf, double tf,
		      double *out)
{
	double s0 = 0, s1, b, x, y;
	size_t i;

	if (n < 2)
		return false;
	s1 = p[0].v;
	b = p[1].v - p[0].v;
	for (i = 1; i < n; i++) {
		x = sf * p[i].v;
		if (i - 1 != 0)
			b = tf * (s1 - s0) + (1 - tf) * b;
		y = (1 - sf) * (s1 + b);
		s0 = s1;
		s1 = x + y;
	}
	*out = s1;
	return true;
}

/* ---- *_over_time ---- */

/* sum_over_time(): Kahan sum; an infinite sum is returned as is. */
bool promfn_range_sum(const struct promfn_point *p, size_t n, double *out)
{
	double sum = 0, c = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		promfn_kahan_inc(p[i].v, &sum, &c);
	*out = isinf(sum) ? sum : sum + c;
	return true;
}

/* avg_over_time(): Kahan sum divided by the count, switching to an
 * incremental mean once the running sum would overflow (Prometheus 3). */
bool promfn_range_avg(const struct promfn_point *p, size_t n, double *out)
{
	double sum, count = 1, mean = 0, c = 0, q, ns, nc;
	bool incremental = false;
	size_t i;

	if (n == 0)
		return false;
	sum = p[0].v;
	for (i = 1; i < n; i++) {
		count = (double)(i + 1);
		if (!incremental) {
			ns = sum;
			nc = c;
			promfn_kahan_inc(p[i].v, &ns, &nc);
			if (!isinf(ns)) {
				sum = ns;
				c = nc;
				continue;
			}
			incremental = true;
			mean = sum / (count - 1);
			c /= count - 1;
		}
		q = (count - 1) / count;
		mean *= q;
		c *= q;
		promfn_kahan_inc(p[i].v / count, &mean, &c);
	}
	*out = incremental ? mean + c : sum / count + c / count;
	return true;
}

/* Index of the min (want_max false) or max point; NaN loses to any number
 * and, with or_equal, ties go to the later point (ts_of_*_over_time). */
static size_t promfn_range_extreme(const struct promfn_point *p, size_t n, bool want_max,
				   bool or_equal)
{
	size_t i, best = 0;
	double cur, bv = p[0].v;

	for (i = 0; i < n; i++) {
		cur = p[i].v;
		if ((want_max ? (cur > bv || (or_equal && cur >= bv))
			      : (cur < bv || (or_equal && cur <= bv))) || isnan(bv)) {
			bv = cur;
			best = i;
		}
	}
	return best;
}

/* min_over_time(): smallest value; NaN only when every value is NaN. */
bool promfn_range_min(const struct promfn_point *p, size_t n, double *out)
{
	if (n == 0)
		return false;
	*out = p[promfn_range_extreme(p, n, false, false)].v;
	return true;
}

/* max_over_time(): largest value; NaN only when every value is NaN. */
bool promfn_range_max(const struct promfn_point *p, size_t n, double *out)
{
	if (n == 0)
		return false;
	*out = p[promfn_range_extreme(p, n, true, false)].v;
	return true;
}

/* ts_of_min_over_time(): time in seconds of the last minimum. */
bool promfn_range_ts_of_min(const struct promfn_point *p, size_t n, double *out)
{
	if (n == 0)
		return false;
	*out = (double)p[promfn_range_extreme(p, n, false, true)].ts_ms / 1000;
	return true;
}

/* ts_of_max_over_time(): time in seconds of the last maximum. */
bool promfn_range_ts_of_max(const struct promfn_point *p, size_t n, double *out)
{
	if (n == 0)
		return false;
	*out = (double)p[promfn_range_extreme(p, n, true, true)].ts_ms / 1000;
	return true;
}

/* ts_of_first_over_time(): time in seconds of the first point. */
bool promfn_range_ts_of_first(const struct promfn_point *p, size_t n, double *out)
{
	if (n == 0)
		return false;
	*out = (double)p[0].ts_ms / 1000;
	return true;
}

/* ts_of_last_over_time(): time in seconds of the last point. */
bool promfn_range_ts_of_last(const struct promfn_point *p, size_t n, double *out)
{
	if (n == 0)
		return false;
	*out = (double)p[n - 1].ts_ms / 1000;
	return true;
}

/* count_over_time(): number of points. */
bool promfn_range_count(const struct promfn_point *p, size_t n, double *out)
{
	(void)p;
	if (n == 0)
		return false;
	*out = (double)n;
	return true;
}

/* last_over_time(): value of the last point. */
bool promfn_range_last(const struct promfn_point *p, size_t n, double *out)
{
	if (n == 0)
		return false;
	*out = p[n - 1].v;
	return true;
}

/* first_over_time(): value of the first point. */
bool promfn_range_first(const struct promfn_point *p, size_t n, double *out)
{
	if (n == 0)
		return false;
	*out = p[0].v;
	return true;
}

/* present_over_time(): 1 for any point. */
bool promfn_range_present(const struct promfn_point *p, size_t n, double *out)
{
	(void)p;
	if (n == 0)
		return false;
	*out = 1;
	return true;
}

/* absent_over_time() helper: true (the result is 1, labels from the
 * selector's equality matchers, which the evaluator derives) when no
 * series had a point in the window. */
bool promfn_range_absent(size_t n_series_with_points)
{
	return n_series_with_points == 0;
}

/* stdvar_over_time(): population variance, Welford's update against the
 * Kahan-compensated mean, with a compensated sum of squares. */
bool promfn_range_stdvar(const struct promfn_point *p, size_t n, double *out)
{
	double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0, delta;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		count++;
		delta = p[i].v - (mean + cmean);
		promfn_kahan_inc(delta / count, &mean, &cmean);
		promfn_kahan_inc(delta * (p[i].v - (mean + cmean)), &aux, &caux);
	}
	*out = (aux + caux) / count;
	return true;
}

/* stddev_over_time(): square root of promfn_range_stdvar. */
bool promfn_range_stddev(const struct promfn_point *p, size_t n, double *out)
{
	if (!promfn_range_stdvar(p, n, out))
		return false;
	*out = sqrt(*out);
	return true;
}

/* quantile_over_time(q, v): promfn_quantile over the values. scratch
 * (caller-owned, room for n doubles) receives them sorted. The caller adds
 * the invalid-quantile warning (promfn_quantile_is_invalid). */
bool promfn_range_quantile(const struct promfn_point *p, size_t n, double q,
			   double *scratch, double *out)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		scratch[i] = p[i].v;
	*out = promfn_quantile(q, scratch, n);
	return true;
}

/* mad_over_time(): median of the absolute deviations from the median;
 * NaN when any point is NaN (Prometheus >= 3.x, PR 19040: before, the
 * NaN-first sort usually hid it). scratch as for promfn_range_quantile. */
bool promfn_range_mad(const struct promfn_point *p, size_t n, double *scratch, double *out)
{
	double median;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (isnan(p[i].v)) {
			*out = NAN;
			return true;
		}
		scratch[i] = p[i].v;
	}
	median = promfn_quantile(0.5, scratch, n);
	for (i = 0; i < n; i++)
		scratch[i] = fabs(p[i].v - median);
	*out = promfn_quantile(0.5, scratch, n);
	return true;
}
