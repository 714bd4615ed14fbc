/* promfn: the numeric core of PromQL's functions, with Prometheus 3 semantics.
 *
 * This is a pure library over plain arrays: no AST, no labels model, no
 * storage, no allocation (except where a function says so). The evaluator
 * decides which series and which points reach a kernel; the kernels decide
 * the numbers, reproducing Prometheus' float arithmetic operation by
 * operation (same summation order, same Kahan/Neumaier compensation, same
 * special cases) so that results match bit for bit on amd64.
 *
 * Three modules share the prefix family:
 *   promfn.c        shared helpers (Kahan step, phi-quantile, classic
 *                   histogram quantile/fraction), instant (per-sample)
 *                   math and date functions, Go float formatting and
 *                   parsing, the label hash used by limit_ratio;
 *   promfn_range.c  range-vector functions (rate, *_over_time, deriv, ...);
 *   promfn_agg.c    aggregation operators (sum, avg, stddev, topk, ...).
 *
 * Not here: native histograms (skipped by the conformance runner), label
 * manipulation (label_replace, label_join, sort_by_label), absent() label
 * derivation, and annotation texts other than those documented per call.
 */
#ifndef MCS_PROMFN_H
#define MCS_PROMFN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest buffer promfn_format_float can need (Go 'f' format of 1e308 has
 * 309 digits), plus sign and NUL. */
#define PROMFN_FLOAT_BUF 332

/* Relative tolerance under which two adjacent classic-histogram bucket
 * counts are treated as equal (Prometheus' smallDeltaTolerance). */
#define PROMFN_SMALL_DELTA_TOLERANCE 1e-12

/* One float sample. Writer: the evaluator. */
struct promfn_point {
	int64_t ts_ms; /* milliseconds since the Unix epoch */
	double v;      /* sample value; never a stale marker */
};

/* One classic histogram bucket: the parsed `le` label and the count. */
struct promfn_bucket {
	double upper; /* upper bound, +Inf for the last bucket */
	double count; /* cumulative count */
};

/* What promfn_bucket_quantile had to repair, for the info annotation
 * "input to histogram_quantile needed to be fixed for monotonicity". */
struct promfn_bucket_fix {
	bool forced_monotonic; /* a count decreased and was raised */
	bool fixed_precision;  /* tiny float noise was smoothed silently */
	double min_bucket;     /* lowest upper bound that was raised */
	double max_bucket;     /* highest upper bound that was raised */
	double max_diff;       /* largest decrease that was removed */
};

/* Per-sample functions: promfn_math(op, v). */
enum promfn_math_op {
	PROMFN_ABS, PROMFN_CEIL, PROMFN_FLOOR, PROMFN_EXP, PROMFN_LN,
	PROMFN_LOG2, PROMFN_LOG10, PROMFN_SQRT, PROMFN_SGN,
	PROMFN_SIN, PROMFN_COS, PROMFN_TAN, PROMFN_ASIN, PROMFN_ACOS,
	PROMFN_ATAN, PROMFN_SINH, PROMFN_COSH, PROMFN_TANH, PROMFN_ASINH,
	PROMFN_ACOSH, PROMFN_ATANH, PROMFN_DEG, PROMFN_RAD,
};

/* Date functions: promfn_date(field, seconds). */
enum promfn_date_field {
	PROMFN_DAYS_IN_MONTH, PROMFN_DAY_OF_MONTH, PROMFN_DAY_OF_WEEK,
	PROMFN_DAY_OF_YEAR, PROMFN_HOUR, PROMFN_MINUTE, PROMFN_MONTH,
	PROMFN_YEAR,
};

/* One label for promfn_labels_hash. Strings need not be NUL-terminated. */
struct promfn_label {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* One step of Kahan-Neumaier summation exactly as Prometheus'
 * kahansum.Inc: adds inc to *sum and accumulates the rounding error in *c.
 * An infinite running sum resets *c to 0, so the caller's final
 * `sum + c` stays infinite instead of turning into NaN. Inline: it runs
 * once per sample in sum/avg_over_time and the aggregations. */
static inline void promfn_kahan_inc(double inc, double *sum, double *c)
{
	double s = *sum;
	double t = s + inc;

	if (__builtin_isinf(t))
		*c = 0;
	else if (__builtin_fabs(s) >= __builtin_fabs(inc))
		*c += (s - t) + inc;
	else
		*c += (inc - t) + s;
	*sum = t;
}
double promfn_quantile(double q, double *vals, size_t n);
double promfn_bucket_quantile(double q, struct promfn_bucket *b, size_t n,
			      struct promfn_bucket_fix *fix);
double promfn_bucket_fraction(double lower, double upper, struct promfn_bucket *b,
			      size_t n);
bool promfn_quantile_is_invalid(double q);

double promfn_math(enum promfn_math_op op, double v);
const char *promfn_math_name(enum promfn_math_op op);
int promfn_math_lookup(const char *name, enum promfn_math_op *op);
double promfn_round(double v, double to_nearest);
double promfn_clamp(double v, double min, double max);
double promfn_date(enum promfn_date_field field, double seconds);
int promfn_date_lookup(const char *name, enum promfn_date_field *field);
double promfn_timestamp(int64_t ts_ms);

size_t promfn_format_float(double v, char *buf, size_t len);
int promfn_parse_float(const char *s, size_t len, double *out);
uint64_t promfn_labels_hash(const struct promfn_label *ls, size_t n);
bool promfn_ratio_keep(double ratio, uint64_t hash);

#endif
