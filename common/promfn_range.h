/* promfn_range: PromQL range-vector functions over one series' window.
 *
 * Every kernel reads the float points of ONE series that fall inside the
 * window (start_ms, end_ms] (Prometheus 3: left-open, right-closed),
 * sorted by time, with stale markers already removed by the caller, and
 * returns either a value (true, *out filled) or "no value" (false: the
 * series contributes nothing at this step). start_ms/end_ms are the
 * window after offset and @: end = eval - offset, start = end - range.
 * Native histograms are not handled; a series with only histogram points
 * must not be passed (upstream skips it silently), and for a float/histogram
 * mix the caller passes the float points and adds the info annotation
 * "ignoring histograms in a mixed range" itself where upstream does.
 */
#ifndef MCS_PROMFN_RANGE_H
#define MCS_PROMFN_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/promfn.h"

bool promfn_range_extrapolated(const struct promfn_point *p, size_t n, int64_t start_ms,
			       int64_t end_ms, bool is_counter, bool is_rate, double *out);
bool promfn_range_rate(const struct promfn_point *p, size_t n, int64_t start_ms,
		       int64_t end_ms, double *out);
bool promfn_range_increase(const struct promfn_point *p, size_t n, int64_t start_ms,
			   int64_t end_ms, double *out);
bool promfn_range_delta(const struct promfn_point *p, size_t n, int64_t start_ms,
			int64_t end_ms, double *out);
bool promfn_range_extended(const struct promfn_point *p, size_t n, int64_t start_ms,
			   int64_t end_ms, bool smoothed, bool is_counter, bool is_rate,
			   double *out);
bool promfn_range_irate(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_idelta(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_changes(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_resets(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_deriv(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_predict_linear(const struct promfn_point *p, size_t n, int64_t eval_ms,
				 double duration_s, double *out);
int promfn_range_des_check(double sf, double tf, char *err, size_t errlen);
bool promfn_range_des(const struct promfn_point *p, size_t n, double sf, double tf,
		      double *out);

bool promfn_range_sum(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_avg(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_min(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_max(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_count(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_last(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_first(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_present(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_stdvar(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_stddev(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_quantile(const struct promfn_point *p, size_t n, double q,
			   double *scratch, double *out);
bool promfn_range_mad(const struct promfn_point *p, size_t n, double *scratch, double *out);
bool promfn_range_ts_of_min(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_ts_of_max(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_ts_of_first(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_ts_of_last(const struct promfn_point *p, size_t n, double *out);
bool promfn_range_absent(size_t n_series_with_points);

#endif
