/* otlp_pvt: the data model shared by the OTLP wire decoders (otlppb.c,
 * otlpjson.c) and the translator (otlp.c).
 *
 * A decoder walks one request and calls, in order:
 *   otlp_resource_begin  once per ResourceMetrics, with its attributes
 *     otlp_metric_begin  once per Metric, with name, unit, kind, temporality
 *       otlp_point_add   once per data point
 *   otlp_resource_end
 * Strings and arrays handed over stay valid only for the call (the
 * translator copies what it keeps into the request arena). A decoder stops
 * at the first malformed byte with -EINVAL and a message (otlp_bad); the
 * translator refuses single points itself (otlp_reject), which is not an
 * error of the body.
 */
#ifndef MCS_OTLP_PVT_H
#define MCS_OTLP_PVT_H

#include <stddef.h>
#include <stdint.h>

#include "collector/otlp.h"
#include "common/otlpname.h"
#include "common/series.h"

#define OTLP_FLAG_NO_RECORDED_VALUE 1u
#define OTLP_TEMPORALITY_UNSPECIFIED 0
#define OTLP_TEMPORALITY_DELTA 1
#define OTLP_TEMPORALITY_CUMULATIVE 2
#define OTLP_EXP_MAX_BUCKETS 4096   /* positive + negative buckets of one point */
#define OTLP_MAX_DEPTH 16           /* nesting of array/kvlist attribute values */

/* An attribute with its value already rendered as a string (AnyValue as
 * Prometheus renders it: strings as they are, numbers and bools in text,
 * bytes in base64, arrays and maps as JSON). */
struct otlp_kv {
	const char *key;
	size_t key_len;
	const char *val;
	size_t val_len;
};

enum otlp_kind {
	OTLP_KIND_NONE,
	OTLP_KIND_GAUGE,
	OTLP_KIND_SUM,
	OTLP_KIND_HISTOGRAM,
	OTLP_KIND_EXPHIST,
	OTLP_KIND_SUMMARY,
};

struct otlp_metric {
	const char *name;
	size_t name_len;
	const char *unit;
	size_t unit_len;
	enum otlp_kind kind;
	int temporality;     /* OTLP_TEMPORALITY_* (sums, histograms) */
	int monotonic;       /* sums */
};

/* One data point of any kind; the fields of other kinds stay zero. */
struct otlp_point {
	const struct otlp_kv *attrs;
	size_t nattrs;
	uint64_t time_ns;
	uint32_t flags;
	/* gauge, sum */
	int has_value;
	double value;
	/* histogram, exponential histogram, summary */
	uint64_t count;
	int has_sum;
	double sum;
	const uint64_t *buckets;     /* explicit: bucket_counts */
	size_t nbuckets;
	const double *bounds;        /* explicit_bounds */
	size_t nbounds;
	const double *quantiles;     /* summary: (quantile, value) pairs */
	size_t nquantiles;
	int32_t scale;               /* exponential */
	uint64_t zero_count;
	double zero_threshold;
	int64_t pos_offset, neg_offset;
	const uint64_t *pos, *neg;
	size_t npos, nneg;
};

/* The translation state of one request. */
struct otlp_req {
	struct otlp *o;
	struct otlp_result *res;
	int64_t now_ms;
	/* resource */
	struct series_label job, instance;  /* value_len 0 when absent */
	struct series_label *info;          /* target_info labels, in the arena */
	size_t ninfo;
	int64_t res_max_ts;
	uint64_t res_points;
	/* metric */
	char name[OTLPNAME_MAX];
	size_t name_len;
	enum otlp_kind kind;
	int delta;                          /* running totals apply */
	const char *bad;                    /* refuse every point of the metric, why */
};

/* Request-lifetime memory: n bytes, 8-aligned, or NULL. */
void *otlp_alloc(struct otlp_arena *a, size_t n);

/* Copies s[n] into the arena, NUL-terminated. Returns NULL when out of
 * memory. */
char *otlp_strdup(struct otlp_arena *a, const char *s, size_t n);

/* Appends one element of `size` bytes to v. Returns 0 or -ENOMEM. */
int otlp_vec_push(struct otlp_vec *v, const void *elem, size_t size);

/* Renders a double attribute value as Prometheus does (JavaScript number
 * formatting). Returns the length written into out[cap]. */
int otlp_fmt_double(char *out, size_t cap, double v);

/* Base64 (standard alphabet, padded) of data[n] into the arena. Returns the
 * string (NUL-terminated) or NULL when out of memory; *out_len its length. */
char *otlp_base64(struct otlp_arena *a, const uint8_t *data, size_t n, size_t *out_len);

/* Records a malformed body: fills res->error (first message wins) and
 * returns -EINVAL for the decoder to pass up. */
int otlp_bad(struct otlp_req *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts n refused data points; the first reason is kept. */
void otlp_reject(struct otlp_req *q, uint64_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* See the top of this file. Each returns 0 or -ENOMEM (refused points are
 * counted, not returned). */
int otlp_resource_begin(struct otlp_req *q, const struct otlp_kv *attrs, size_t n);
int otlp_resource_end(struct otlp_req *q);
int otlp_metric_begin(struct otlp_req *q, const struct otlp_metric *m);
int otlp_point_add(struct otlp_req *q, const struct otlp_point *p);

#endif
