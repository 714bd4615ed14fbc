/* promfn_agg: PromQL aggregation operators over one group at one step.
 *
 * The evaluator groups series (by/without) and feeds each group's float
 * values, in input series order, to an accumulator; order matters for the
 * floating-point result and, for topk/bottomk/limitk/limit_ratio, for the
 * order of the output, which this module reproduces as Prometheus does
 * for instant queries. Native histograms are not handled: upstream skips
 * them for min/max/stddev/stdvar/quantile/topk/bottomk with an info
 * annotation, which stays the caller's job.
 */
#ifndef MCS_PROMFN_AGG_H
#define MCS_PROMFN_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum promfn_agg_op {
	PROMFN_AGG_SUM, PROMFN_AGG_AVG, PROMFN_AGG_MIN, PROMFN_AGG_MAX,
	PROMFN_AGG_COUNT, PROMFN_AGG_GROUP, PROMFN_AGG_STDDEV, PROMFN_AGG_STDVAR,
};

/* Streaming accumulator for sum, avg, min, max, count, group, stddev,
 * stdvar. Caller-owned; no resources, no teardown. */
struct promfn_agg {
	enum promfn_agg_op op;
	bool seen;             /* at least one value was added */
	bool incremental_mean; /* avg: switched after the sum overflowed */
	double value;          /* running sum / extreme / sum of squares */
	double mean;           /* avg, stddev, stdvar: running mean */
	double kahan_c;        /* Kahan compensation of value or mean */
	double count;          /* values added */
};

/* The k-selection operators and how their heap orders. */
enum promfn_agg_kop {
	PROMFN_AGG_TOPK, PROMFN_AGG_BOTTOMK, PROMFN_AGG_LIMITK, PROMFN_AGG_LIMIT_RATIO,
};

/* One kept series: its value and the caller's index for it. */
struct promfn_agg_item {
	double v;
	size_t idx;
};

/* Selection state for one group of topk/bottomk/limitk/limit_ratio. */
struct promfn_agg_heap {
	enum promfn_agg_kop op;
	int64_t k;                    /* topk/bottomk/limitk: k >= 1 */
	double ratio;                 /* limit_ratio: in [-1, 1] */
	struct promfn_agg_item *items; /* owned; heap order until finish */
	size_t len;
	size_t cap;
};

int promfn_agg_lookup(const char *name, enum promfn_agg_op *op);
void promfn_agg_init(struct promfn_agg *a, enum promfn_agg_op op);
void promfn_agg_add(struct promfn_agg *a, double v);
bool promfn_agg_result(const struct promfn_agg *a, double *out);
double promfn_agg_quantile(double q, double *vals, size_t n);

int promfn_agg_heap_init(struct promfn_agg_heap *h, enum promfn_agg_kop op, int64_t k,
			 double ratio, size_t n_hint);
int promfn_agg_heap_add(struct promfn_agg_heap *h, double v, size_t idx, uint64_t hash);
bool promfn_agg_heap_full(const struct promfn_agg_heap *h);
size_t promfn_agg_heap_finish(struct promfn_agg_heap *h);
void promfn_agg_heap_free(struct promfn_agg_heap *h);

size_t promfn_agg_count_values_label(double v, char *buf, size_t len);

#endif
