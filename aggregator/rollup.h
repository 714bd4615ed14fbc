/* rollup: downsampled buckets of one series, their byte encoding, and
 * PromQL range functions evaluated on them (DESIGN.md §4, issue 4 item 5).
 *
 * A rollup series is a run of buckets of one width W (ms). Bucket "end e"
 * holds the samples with e - W < ts <= e, with e a multiple of W since the
 * epoch. The buckets are left-open and right-closed because Prometheus 3
 * range selectors are: the window of `f(x[r])` at time t is (t - r, t], so
 * when t and r are multiples of W the window is exactly a union of buckets
 * and every function below equals its raw evaluation.
 *
 * What a bucket keeps is what the PromQL functions need: count, sum, min,
 * max, the first and the last value with their timestamps, and the counter
 * reset correction (the sum of the previous values at each drop, which is
 * how Prometheus' extrapolatedRate() handles resets). The counter-aware
 * increase inside a bucket is last - first + reset_corr
 * (rollup_bucket_increase()); keeping first and last apart lets increases
 * chain across bucket edges and lets rate() extrapolate exactly as on raw
 * data.
 *
 * Stale markers (the NaN with bits 0x7ff0000000000002) are not values:
 * range selectors drop them, so do rollups. A bucket only remembers the
 * first stale marker after its last value (stale_ts) and the first before
 * its first value (lead_stale_ts), which is what the "last value at each
 * step" reading needs to end a series where an instant selector would.
 *
 * Accuracy of rollup_eval() against the same function on the raw samples:
 *  - Window (t - r, t] with t and r multiples of W: equal (the chosen
 *    samples are exactly the window's; rate/increase/delta get the same
 *    count, first and last sample and reset correction, so Prometheus'
 *    extrapolation runs on the same numbers). Only float rounding differs:
 *    sums and reset corrections are added per bucket and then across
 *    buckets (Kahan-compensated across buckets, like Prometheus 3); for
 *    integer-valued counters below 2^53 the results are bit-identical.
 *  - Any other window is answered from whole buckets. A bucket cut by an
 *    edge (values on both sides) counts wholly when the midpoint of its
 *    [first_ts, last_ts] is inside the window, else not at all; buckets
 *    merely overlapping the window but with all values on one side are
 *    still exact. So the result is the raw function over a sample set that
 *    differs from the window's only inside the (at most two) cut buckets:
 *    count_over_time is off by at most their counts, sum_over_time by at
 *    most the sum of |values| in them, min/max/last return a value that
 *    lies between the raw results of the window shrunk and grown by those
 *    buckets, last_over_time a real value at most W older or newer.
 *    rate/increase/delta: at a cut edge the series is known to continue,
 *    so the result is extrapolated (or interpolated, for a bucket reaching
 *    past the edge) linearly exactly to the edge, where Prometheus would
 *    extrapolate the raw samples to it too; the error is the change of
 *    slope inside the cut buckets: measured < 1% for a 1 h rate over 5 m
 *    buckets of a steady counter, at most the cut buckets' own increase
 *    (plus its share of extrapolation) in general.
 * Query paths that align steps and ranges to the tier width get exact
 * answers; rollup_span says whether an answer was exact.
 *
 * Not here: choosing a tier, retention (tier.h), block files, the head.
 * Invariants: buckets of a series have strictly increasing ends; a bucket
 * has count > 0 or stale_ts set; for count > 0,
 * end - W < first_ts <= last_ts <= end. Decoded bytes are checked against
 * all of these, so evaluators may trust any series this module produced.
 */
#ifndef MCS_ROLLUP_H
#define MCS_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

/* Bits of the Prometheus stale marker. */
#define ROLLUP_STALE_NAN_BITS 0x7ff0000000000002ULL
/* stale_ts value of a bucket whose last sample is a real value. */
#define ROLLUP_NO_STALE INT64_MIN
/* Encoding: first bytes of every encoded series, and the format version. */
#define ROLLUP_MAGIC0 'R'
#define ROLLUP_MAGIC1 'U'
#define ROLLUP_VERSION 1
/* Most buckets one encoded series may hold (the decoder's allocation cap). */
#define ROLLUP_MAX_BUCKETS (1u << 24)

struct rollup_bucket {
	int64_t end_ts;        /* ms, multiple of the width; covers (end-W, end] */
	uint64_t count;        /* values in the bucket, stale markers excluded */
	double sum;            /* plain sum of the values */
	double min;            /* smallest value; NaN only if every value is NaN */
	double max;            /* largest value; NaN only if every value is NaN */
	int64_t first_ts;      /* ms of the first value (count > 0) */
	int64_t last_ts;       /* ms of the last value (count > 0) */
	double first;          /* first value */
	double last;           /* last value */
	double reset_corr;     /* sum of prev over drops cur < prev (counter resets) */
	int64_t stale_ts;      /* ms of the first stale marker after the last
	                          value (count 0: the first stale marker), or
	                          ROLLUP_NO_STALE */
	int64_t lead_stale_ts; /* ms of the first stale marker before the first
	                          value, or ROLLUP_NO_STALE (count > 0 only) */
};

/* A series' buckets. The caller owns the struct; rollup_init() or
 * rollup_decode() fill it, rollup_destroy() frees the bucket array. */
struct rollup_series {
	int64_t width_ms;      /* bucket width W, > 0 */
	struct rollup_bucket *b;  /* n buckets, ends strictly increasing; owned */
	size_t n;
	size_t cap;            /* buckets allocated at b */
};

/* Range functions (rollup_eval()). */
enum rollup_fn {
	ROLLUP_SUM_OVER_TIME = 0,
	ROLLUP_COUNT_OVER_TIME,
	ROLLUP_AVG_OVER_TIME,
	ROLLUP_MIN_OVER_TIME,
	ROLLUP_MAX_OVER_TIME,
	ROLLUP_LAST_OVER_TIME,
	ROLLUP_INCREASE,
	ROLLUP_RATE,
	ROLLUP_DELTA,           /* gauge delta(): first/last, no reset handling */
	ROLLUP_FN_COUNT
};

/* Which samples rollup_eval() used: the buckets [lo, hi) of the series and
 * whether the window edges cut through a bucket (inexact). */
struct rollup_span {
	size_t lo, hi;         /* bucket indexes, half-open */
	uint8_t exact;         /* 1 when no bucket straddles an edge of the window */
	uint8_t cut_lo;        /* a bucket has values on both sides of t - range */
	uint8_t cut_hi;        /* a bucket has values on both sides of t */
};

/* Allocator behind every buffer of this module, realloc()-like except that
 * size 0 frees p and returns NULL. Tests replace it to make allocations
 * fail; the default wraps realloc()/free(). */
extern void *(*rollup_alloc_hook)(void *p, size_t size);

int rollup_init(struct rollup_series *rs, int64_t width_ms);
void rollup_destroy(struct rollup_series *rs);
void rollup_reset(struct rollup_series *rs);
int64_t rollup_bucket_end(int64_t ts, int64_t width_ms);
int rollup_is_stale(double v);
double rollup_bucket_increase(const struct rollup_bucket *b);

int rollup_add_raw(struct rollup_series *rs, const int64_t *ts, const double *v, size_t n);
int rollup_add_rollup(struct rollup_series *rs, const struct rollup_series *src);
int rollup_slice(const struct rollup_series *rs, int64_t from_excl, int64_t to_incl,
		 struct rollup_series *out);

int rollup_encode(const struct rollup_series *rs, uint8_t **out, size_t *len);
int rollup_decode(const uint8_t *buf, size_t len, struct rollup_series *out);

int rollup_eval(const struct rollup_series *rs, enum rollup_fn fn, int64_t t, int64_t range_ms,
		double *out, struct rollup_span *span);
int rollup_last_at_steps(const struct rollup_series *rs, int64_t start, int64_t step, size_t nsteps,
			 int64_t lookback_ms, double *vals, uint8_t *present, size_t *inexact);

#endif
