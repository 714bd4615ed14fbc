/* promfn: shared numeric helpers and per-sample PromQL functions.
 *
 * Sections: Go-compatible float primitives; Kahan step and phi-quantile;
 * classic histogram quantile and fraction; per-sample math; date
 * functions; float formatting and parsing; the limit_ratio label hash.
 *
 * Invariants: nothing here allocates or keeps state; every function is
 * safe to call from any thread. Arithmetic follows the Go source of
 * Prometheus 3 (promql/functions.go, promql/quantile.go) expression by
 * expression, because a reordered sum or a libm call where Go uses its
 * own formula changes the last bits (math.Log10(1000) is
 * 2.9999999999999996 in Go and must stay so here).
 */
#include "common/promfn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* ---- Go-compatible float primitives ---- */

/* Go's math.Max: +Inf wins over NaN, NaN wins over numbers, +0 over -0. */
static double promfn_go_max(double x, double y)
{
	if (isinf(x) && x > 0)
		return x;
	if (isinf(y) && y > 0)
		return y;
	if (isnan(x) || isnan(y))
		return NAN;
	if (x == 0 && x == y)
		return signbit(x) ? y : x;
	return x > y ? x : y;
}

/* Go's math.Min: -Inf wins over NaN, NaN wins over numbers, -0 over +0. */
static double promfn_go_min(double x, double y)
{
	if (isinf(x) && x < 0)
		return x;
	if (isinf(y) && y < 0)
		return y;
	if (isnan(x) || isnan(y))
		return NAN;
	if (x == 0 && x == y)
		return signbit(x) ? x : y;
	return x < y ? x : y;
}

/* Go's int64(f) on amd64: CVTTSD2SQ yields INT64_MIN for NaN and for
 * values outside the int64 range; C leaves that undefined. */
static int64_t promfn_go_int64(double f)
{
	if (isnan(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0)
		return INT64_MIN;
	return (int64_t)f;
}

/* ---- Kahan step and phi-quantile ---- */

/* Total order with NaN below everything: what Prometheus'
 * vectorByValueHeap.Less intends (Go's comparator is not a strict weak
 * order with two NaNs; this agrees wherever Go's result is defined). */
static int promfn_cmp_nan_first(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	if (isnan(x))
		return isnan(y) ? 0 : -1;
	if (isnan(y))
		return 1;
	return (x > y) - (x < y);
}

/* The phi-quantile of vals as the quantile aggregator, quantile_over_time
 * and mad_over_time compute it: sorts vals in place (NaN first), then
 * interpolates between the two nearest ranks. Returns NaN for n == 0 or a
 * NaN q, -Inf for q < 0, +Inf for q > 1 (the caller adds the "quantile
 * value should be between 0 and 1" warning; see promfn_quantile_is_invalid).
 * vals stays owned by the caller. */
double promfn_quantile(double q, double *vals, size_t n)
{
	double rank, lower, upper, weight, nn;

	if (n == 0 || isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(vals, n, sizeof(*vals), promfn_cmp_nan_first);
	nn = (double)n;
	rank = q * (nn - 1);
	lower = promfn_go_max(0, floor(rank));
	upper = promfn_go_min(nn - 1, lower + 1);
	weight = rank - floor(rank);
	return vals[(size_t)lower] * (1 - weight) + vals[(size_t)upper] * weight;
}

/* True when q earns Prometheus' invalid-quantile warning (NaN, < 0, > 1). */
bool promfn_quantile_is_invalid(double q)
{
	return isnan(q) || q < 0 || q > 1;
}

/* ---- classic histogram quantile and fraction ---- */

static int promfn_cmp_bucket(const void *a, const void *b)
{
	double x = ((const struct promfn_bucket *)a)->upper;
	double y = ((const struct promfn_bucket *)b)->upper;

	return (x > y) - (x < y);
}

/* Sorts by upper bound and merges buckets with equal bounds (e.g. le="1"
 * and le="1.0" after rate()). Returns the new count. */
static size_t promfn_buckets_coalesce(struct promfn_bucket *b, size_t n)
{
	size_t i = 0, j;
	struct promfn_bucket last;

	qsort(b, n, sizeof(*b), promfn_cmp_bucket);
	last = b[0];
	for (j = 1; j < n; j++) {
		if (b[j].upper == last.upper) {
			last.count += b[j].count;
		} else {
			b[i++] = last;
			last = b[j];
		}
	}
	b[i] = last;
	return i + 1;
}

/* Prometheus' almost.Equal for finite, non-stale inputs. */
static bool promfn_almost_equal(double a, double b, double eps)
{
	const double min_normal = 2.2250738585072014e-308;
	double abs_sum, diff;

	if (isnan(a) && isnan(b))
		return true;
	if (a == b)
		return true;
	abs_sum = fabs(a) + fabs(b);
	diff = fabs(a - b);
	if (a == 0 || b == 0 || abs_sum < min_normal)
		return diff < eps * min_normal;
	return diff / promfn_go_min(abs_sum, 1.7976931348623157e308) < eps;
}

/* ensureMonotonicAndIgnoreSmallDeltas: first absorbs differences below
 * the tolerance in either direction, then raises any decrease to the last
 * accepted count. prev is not updated on a correction, on purpose. */
static void promfn_buckets_monotonic(struct promfn_bucket *b, size_t n,
				     struct promfn_bucket_fix *fix)
{
	double prev = b[0].count, curr;
	size_t i;

	fix->min_bucket = INFINITY;
	fix->max_bucket = -INFINITY;
	for (i = 1; i < n; i++) {
		curr = b[i].count;
		if (curr == prev)
			continue;
		if (promfn_almost_equal(prev, curr, PROMFN_SMALL_DELTA_TOLERANCE)) {
			b[i].count = prev;
			fix->fixed_precision = true;
			continue;
		}
		if (curr < prev) {
			b[i].count = prev;
			fix->forced_monotonic = true;
			if (b[i].upper < fix->min_bucket)
				fix->min_bucket = b[i].upper;
			if (b[i].upper > fix->max_bucket)
				fix->max_bucket = b[i].upper;
			if (prev - curr > fix->max_diff)
				fix->max_diff = prev - curr;
			continue;
		}
		prev = curr;
	}
}

/* histogram_quantile over one classic histogram (Prometheus'
 * BucketQuantile). b (n buckets, any order) is sorted, coalesced and
 * repaired in place; it stays owned by the caller. Returns the quantile:
 * NaN for a NaN q, -Inf for q < 0, +Inf for q > 1, NaN when n == 0, when
 * the highest bound is not +Inf, when fewer than 2 buckets remain or when
 * there are no observations. Inside, linear interpolation within the
 * bucket, a lower bound of 0 for the first bucket when its bound is > 0,
 * and the second-highest bound when the rank falls in the +Inf bucket.
 * When fix is not NULL it receives what was repaired: forced_monotonic
 * calls for the info annotation "input to histogram_quantile needed to be
 * fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/
 * querying/functions/#histogram_quantile) for metric name ..." . */
double promfn_bucket_quantile(double q, struct promfn_bucket *b, size_t n,
			      struct promfn_bucket_fix *fix)
{
	struct promfn_bucket_fix local;
	double observations, rank, start = 0, end, count;
	size_t lo, hi, mid;

	if (!fix)
		fix = &local;
	memset(fix, 0, sizeof(*fix));
	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	if (n == 0)
		return NAN;
	n = promfn_buckets_coalesce(b, n);
	if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
		return NAN;
	promfn_buckets_monotonic(b, n, fix);
	if (!fix->forced_monotonic) {
		fix->min_bucket = 0;
		fix->max_bucket = 0;
	}
	if (n < 2)
		return NAN;
	observations = b[n - 1].count;
	if (observations == 0)
		return NAN;
	rank = q * observations;
	/* sort.Search over the first n-1 buckets for count >= rank. */
	lo = 0;
	hi = n - 1;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (!(b[mid].count >= rank))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n - 1)
		return b[n - 2].upper;
	if (lo == 0 && b[0].upper <= 0)
		return b[0].upper;
	end = b[lo].upper;
	count = b[lo].count;
	if (lo > 0) {
		start = b[lo - 1].upper;
		count -= b[lo - 1].count;
		rank -= b[lo - 1].count;
	}
	return start + (end - start) * (rank / count);
}

/* histogram_fraction over one classic histogram (Prometheus'
 * BucketFraction): the share of observations in (lower, upper], linearly
 * interpolated inside buckets, with 0 as the lower edge of a first bucket
 * whose bound is > 0. b is sorted and coalesced in place (no monotonicity
 * repair, as upstream). Returns NaN for n == 0, a highest bound other than
 * +Inf, zero observations or a NaN bound; 0 when lower >= upper. */
double promfn_bucket_fraction(double lower, double upper, struct promfn_bucket *b,
			      size_t n)
{
	double count, rank = 0, lower_rank = 0, upper_rank = 0, lb, ub;
	bool lower_set = false, upper_set = false;
	size_t i;

	if (n == 0)
		return NAN;
	n = promfn_buckets_coalesce(b, n);
	if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
		return NAN;
	count = b[n - 1].count;
	if (count == 0 || isnan(lower) || isnan(upper))
		return NAN;
	if (lower >= upper)
		return 0;
	lb = b[0].upper <= 0 ? -INFINITY : 0;
	for (i = 0; i < n; i++) {
		if (i > 0)
			lb = b[i - 1].upper;
		ub = b[i].upper;
		if (!lower_set && lb >= lower) {
			lower_rank = rank;
			lower_set = true;
		}
		if (!upper_set && lb >= upper) {
			upper_rank = rank;
			upper_set = true;
		}
		if (lower_set && upper_set)
			break;
		if (!lower_set && lb < lower && ub > lower) {
			lower_rank = isinf(lb) ? b[i].count
				: rank + (b[i].count - rank) * (lower - lb) / (ub - lb);
			lower_set = true;
		}
		if (!upper_set && lb < upper && ub > upper) {
			upper_rank = isinf(lb) ? b[i].count
				: rank + (b[i].count - rank) * (upper - lb) / (ub - lb);
			upper_set = true;
		}
		if (lower_set && upper_set)
			break;
		rank = b[i].count;
	}
	if (!lower_set || lower_rank > count)
		lower_rank = count;
	if (!upper_set || upper_rank > count)
		upper_rank = count;
	return (upper_rank - lower_rank) / count;
}

/* ---- per-sample math ---- */

static const char *const promfn_math_names[] = {
	[PROMFN_ABS] = "abs", [PROMFN_CEIL] = "ceil", [PROMFN_FLOOR] = "floor",
	[PROMFN_EXP] = "exp", [PROMFN_LN] = "ln", [PROMFN_LOG2] = "log2",
	[PROMFN_LOG10] = "log10", [PROMFN_SQRT] = "sqrt", [PROMFN_SGN] = "sgn",
	[PROMFN_SIN] = "sin", [PROMFN_COS] = "cos", [PROMFN_TAN] = "tan",
	[PROMFN_ASIN] = "asin", [PROMFN_ACOS] = "acos", [PROMFN_ATAN] = "atan",
	[PROMFN_SINH] = "sinh", [PROMFN_COSH] = "cosh", [PROMFN_TANH] = "tanh",
	[PROMFN_ASINH] = "asinh", [PROMFN_ACOSH] = "acosh",
	[PROMFN_ATANH] = "atanh", [PROMFN_DEG] = "deg", [PROMFN_RAD] = "rad",
};

/* Go's math.Log2: exact for powers of two, Log(frac)/Ln2 + exp otherwise. */
static double promfn_go_log2(double x)
{
	int e;
	double frac = frexp(x, &e);

	if (isnan(x) || isinf(x) || x <= 0)
		return log2(x);
	if (frac == 0.5)
		return (double)(e - 1);
	return log(frac) * (1 / M_LN2) + (double)e;
}

/* Applies one per-sample function to v and returns the result (NaN in,
 * NaN out; domain errors give NaN or +-Inf as Go's math package does).
 * log10 and log2 use Go's formulas, so log10(1000) is
 * 2.9999999999999996 as in Prometheus. The trigonometric and hyperbolic
 * functions come from libm and may differ from Go's in the last bit. */
double promfn_math(enum promfn_math_op op, double v)
{
	switch (op) {
	case PROMFN_ABS: return fabs(v);
	case PROMFN_CEIL: return ceil(v);
	case PROMFN_FLOOR: return floor(v);
	case PROMFN_EXP: return exp(v);
	case PROMFN_LN: return log(v);
	case PROMFN_LOG2: return promfn_go_log2(v);
	case PROMFN_LOG10: return log(v) * (1 / M_LN10);
	case PROMFN_SQRT: return sqrt(v);
	case PROMFN_SGN: return v < 0 ? -1 : v > 0 ? 1 : v;
	case PROMFN_SIN: return sin(v);
	case PROMFN_COS: return cos(v);
	case PROMFN_TAN: return tan(v);
	case PROMFN_ASIN: return asin(v);
	case PROMFN_ACOS: return acos(v);
	case PROMFN_ATAN: return atan(v);
	case PROMFN_SINH: return sinh(v);
	case PROMFN_COSH: return cosh(v);
	case PROMFN_TANH: return tanh(v);
	case PROMFN_ASINH: return asinh(v);
	case PROMFN_ACOSH: return acosh(v);
	case PROMFN_ATANH: return atanh(v);
	case PROMFN_DEG: return v * 180 / M_PI;
	case PROMFN_RAD: return v * M_PI / 180;
	}
	return NAN;
}

/* The PromQL name of op ("abs", ...), or NULL for an unknown op. */
const char *promfn_math_name(enum promfn_math_op op)
{
	if ((size_t)op >= sizeof(promfn_math_names) / sizeof(promfn_math_names[0]))
		return NULL;
	return promfn_math_names[op];
}

/* Maps a PromQL function name to its op. Returns 0 and fills *op, or
 * -ENOENT when name is not a per-sample math function. */
int promfn_math_lookup(const char *name, enum promfn_math_op *op)
{
	size_t i;

	for (i = 0; i < sizeof(promfn_math_names) / sizeof(promfn_math_names[0]); i++) {
		if (strcmp(name, promfn_math_names[i]) == 0) {
			*op = (enum promfn_math_op)i;
			return 0;
		}
	}
	return -ENOENT;
}

/* round(v, to_nearest): ties go up, computed through the inverse of
 * to_nearest as Prometheus does (fewer float surprises for 0.1 etc.). */
double promfn_round(double v, double to_nearest)
{
	double inv = 1.0 / to_nearest;

	return floor(v * inv + 0.5) / inv;
}

/* clamp(v, min, max) with Go's Max(min, Min(max, v)) semantics (a NaN v
 * stays NaN). The caller must drop the whole vector when max < min, as
 * Prometheus returns no samples then; clamp_min passes max = +Inf and
 * clamp_max passes min = -Inf. */
double promfn_clamp(double v, double min, double max)
{
	return promfn_go_max(min, promfn_go_min(max, v));
}

/* timestamp(): the sample time in seconds, float64(ts)/1000. */
double promfn_timestamp(int64_t ts_ms)
{
	return (double)ts_ms / 1000;
}

/* ---- date functions ---- */

static const char *const promfn_date_names[] = {
	[PROMFN_DAYS_IN_MONTH] = "days_in_month", [PROMFN_DAY_OF_MONTH] = "day_of_month",
	[PROMFN_DAY_OF_WEEK] = "day_of_week", [PROMFN_DAY_OF_YEAR] = "day_of_year",
	[PROMFN_HOUR] = "hour", [PROMFN_MINUTE] = "minute", [PROMFN_MONTH] = "month",
	[PROMFN_YEAR] = "year",
};

static bool promfn_is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The UTC calendar field of the instant `seconds` after the epoch. The
 * float is truncated toward zero first, as Go's time.Unix(int64(f), 0);
 * NaN, +-Inf and values beyond int64 become INT64_MIN as on amd64, but
 * the calendar of that instant is computed proleptically here and may
 * differ from Go's wrapped arithmetic (no test relies on it). For the
 * argument-less form (year() etc.) pass (double)(eval_ms / 1000) with
 * integer division, as Prometheus does. day_of_week counts from Sunday = 0;
 * day_of_year from 1. */
double promfn_date(enum promfn_date_field field, double seconds)
{
	int64_t s = promfn_go_int64(seconds);
	int64_t days = s / 86400, rem = s % 86400;
	int64_t z, era, doe, yoe, y, doy, mp, d, m;
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	static const int cum[] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	/* Civil-from-days (Howard Hinnant), eras of 400 years from 0000-03-01. */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	switch (field) {
	case PROMFN_DAYS_IN_MONTH:
		return m == 2 && promfn_is_leap(y) ? 29 : mdays[m - 1];
	case PROMFN_DAY_OF_MONTH:
		return (double)d;
	case PROMFN_DAY_OF_WEEK: {
		int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */

		return (double)(w < 0 ? w + 7 : w);
	}
	case PROMFN_DAY_OF_YEAR:
		return (double)(cum[m - 1] + d + (m > 2 && promfn_is_leap(y) ? 1 : 0));
	case PROMFN_HOUR:
		return (double)(rem / 3600);
	case PROMFN_MINUTE:
		return (double)(rem % 3600 / 60);
	case PROMFN_MONTH:
		return (double)m;
	case PROMFN_YEAR:
		return (double)y;
	}
	return NAN;
}

/* Maps "year", "hour", ... to the field. Returns 0, or -ENOENT. */
int promfn_date_lookup(const char *name, enum promfn_date_field *field)
{
	size_t i;

	for (i = 0; i < sizeof(promfn_date_names) / sizeof(promfn_date_names[0]); i++) {
		if (strcmp(name, promfn_date_names[i]) == 0) {
			*field = (enum promfn_date_field)i;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- float formatting and parsing ---- */

/* Writes v as Go's strconv.FormatFloat(v, 'f', -1, 64) does (the
 * count_values label, the histogram_quantiles label): the shortest
 * decimal that reads back as v, never in exponent form ("1e+06" is
 * "1000000", 1e-7 is "0.0000001"); "NaN", "+Inf", "-Inf"; "-0" for
 * negative zero. Returns the length the full text needs (excluding the
 * NUL); writes at most len bytes including the NUL, so a return >= len
 * means truncation. PROMFN_FLOAT_BUF always suffices. */
size_t promfn_format_float(double v, char *buf, size_t len)
{
	char sci[40], digits[24], out[PROMFN_FLOAT_BUF];
	int prec, nd = 0, exp10, dp, i, o = 0;
	char *p, *e;

	if (isnan(v)) {
		snprintf(out, sizeof(out), "NaN");
	} else if (isinf(v)) {
		snprintf(out, sizeof(out), v > 0 ? "+Inf" : "-Inf");
	} else if (v == 0) {
		snprintf(out, sizeof(out), signbit(v) ? "-0" : "0");
	} else {
		/* Shortest round-trip digits: glibc rounds %.*e correctly, so the
		 * first precision that reads back is Go's shortest output. */
		for (prec = 0; prec < 17; prec++) {
			snprintf(sci, sizeof(sci), "%.*e", prec, v);
			if (strtod(sci, NULL) == v)
				break;
		}
		p = sci;
		if (*p == '-') {
			out[o++] = '-';
			p++;
		}
		e = strchr(p, 'e');
		for (; p < e; p++)
			if (*p != '.')
				digits[nd++] = *p;
		exp10 = atoi(e + 1);
		while (nd > 1 && digits[nd - 1] == '0')
			nd--;
		dp = exp10 + 1; /* digits before the decimal point */
		if (dp > 0) {
			for (i = 0; i < dp; i++)
				out[o++] = i < nd ? digits[i] : '0';
		} else {
			out[o++] = '0';
		}
		if (nd > dp) {
			out[o++] = '.';
			for (i = dp; i < nd; i++)
				out[o++] = i < 0 ? '0' : digits[i];
		}
		out[o] = '\0';
	}
	o = (int)strlen(out);
	if (len > 0) {
		size_t n = (size_t)o < len ? (size_t)o : len - 1;

		memcpy(buf, out, n);
		buf[n] = '\0';
	}
	return (size_t)o;
}

/* Parses s[0..len) as Go's strconv.ParseFloat(s, 64) accepts it (how
 * Prometheus reads `le` labels): decimal or hexadecimal with a p exponent,
 * "Inf"/"Infinity" with an optional sign and "NaN" in any case. Returns 0
 * and fills *out; -EINVAL for anything else, including surrounding space,
 * a value that overflows to infinity, and digit underscores (which Go
 * accepts in a few forms; no exporter writes them). */
int promfn_parse_float(const char *s, size_t len, double *out)
{
	char buf[128];
	const char *body;
	size_t blen;
	char *end;
	double v;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	body = buf;
	if (*body == '+' || *body == '-')
		body++;
	blen = strlen(body);
	if (strcasecmp(body, "inf") == 0 || strcasecmp(body, "infinity") == 0) {
		*out = buf[0] == '-' ? -INFINITY : INFINITY;
		return 0;
	}
	if (strcasecmp(buf, "nan") == 0) {
		*out = NAN;
		return 0;
	}
	if (blen == 0 || !(body[0] == '.' || (body[0] >= '0' && body[0] <= '9')))
		return -EINVAL;
	if (blen > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') &&
	    !strpbrk(body, "pP"))
		return -EINVAL;
	errno = 0;
	v = strtod(buf, &end);
	if (end != buf + len)
		return -EINVAL;
	if (errno == ERANGE && isinf(v))
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- limit_ratio ---- */

/* The series hash limit_ratio samples by: XXH64 (seed 0, as
 * cespare/xxhash) of name 0xff value 0xff for every label in order. The
 * caller passes the labels sorted by name and including __name__ when the
 * series still has it. This is Prometheus' labels.StableHash and equals
 * labels.Hash() in builds with the classic slice labels; Prometheus
 * binaries built with the stringlabels tag hash their varint-prefixed
 * encoding instead, so which series such a binary keeps can differ (the
 * ratio kept, and the complement property of r and r-1, are the same). */
uint64_t promfn_labels_hash(const struct promfn_label *ls, size_t n)
{
	static const unsigned char sep = 0xff;
	XXH64_state_t st;
	size_t i;

	XXH64_reset(&st, 0);
	for (i = 0; i < n; i++) {
		XXH64_update(&st, ls[i].name, ls[i].name_len);
		XXH64_update(&st, &sep, 1);
		XXH64_update(&st, ls[i].value, ls[i].value_len);
		XXH64_update(&st, &sep, 1);
	}
	return XXH64_digest(&st);
}

/* Whether limit_ratio(ratio, ...) keeps the series with this hash: its
 * offset hash / 2^64 lies below ratio for ratio >= 0, or at or above
 * 1 + ratio for a negative ratio (so ratio r and r - 1 split the series
 * into complementary sets). The caller clamps ratio to [-1, 1] and warns
 * as Prometheus does. */
bool promfn_ratio_keep(double ratio, uint64_t hash)
{
	double offset = (double)hash / (double)UINT64_MAX;

	return (ratio >= 0 && offset < ratio) || (ratio < 0 && offset >= 1.0 + ratio);
}
