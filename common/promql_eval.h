/* promql_eval: the PromQL evaluator (float samples, Prometheus 3 semantics).
 *
 * Storage-agnostic: selectors read through struct promql_storage, which the
 * apiserver implements over the fan-out and the conformance runner over an
 * in-memory table. Each selector node of the tree is fetched once, with
 * the whole time range its evaluation needs.
 *
 * Evaluation model (as Prometheus' engine): every expression is evaluated
 * over a grid of steps start, start + step, ..., end (an instant query is
 * one step). Instant vectors are series with one optional value per step;
 * range vectors exist only as function arguments and as the result of an
 * instant query (a matrix); subqueries evaluate their inner expression on
 * their own grid aligned to multiples of their step since the epoch.
 *
 * Semantics followed: lookback delta (left-open window), stale markers end
 * a series, offset (negative too) and @ (start()/end()), left-open range
 * windows, vector matching with Prometheus' cardinality errors, bool
 * comparisons, set operators, __name__ dropping (arithmetic, most
 * functions, bool comparisons), every aggregation, every float function of
 * the function table (native-histogram functions and info() are refused
 * as unsupported), classic histogram_quantile with its annotations.
 *
 * Result order: a range query's matrix is sorted by labels; an instant
 * query's vector is in evaluation order (Prometheus leaves it unsorted:
 * selectors come sorted by labels, aggregations in order of first group,
 * topk/bottomk and sort* in their own order).
 *
 * Limits: samples in memory (fetched points plus intermediate results),
 * series per selector, a deadline and a cancel flag, each checked while
 * evaluating. Errors carry Prometheus' messages.
 *
 * Not thread-safe per tree (matchers own PCRE2 match data).
 */
#ifndef MCS_PROMQL_EVAL_H
#define MCS_PROMQL_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/matcher.h"
#include "common/promfn.h"
#include "common/promql_ast.h"
#include "common/promql_lset.h"

#define PROMQL_STALE_NAN_BITS 0x7ff0000000000002ULL
#define PROMQL_DEFAULT_LOOKBACK_MS 300000
#define PROMQL_DEFAULT_SUBQUERY_STEP_MS 60000

#define PROMQL_MSG_TOO_MANY_SAMPLES \
	"query processing would load too many samples into memory in query execution"

/* Receives one series of a selection: its canonical series key
 * (common/series.h) and its points sorted by time, stale markers included.
 * The arrays are only valid during the call. Returns 0 to go on, or a
 * negative errno that aborts the selection and is returned by select. */
typedef int (*promql_series_cb)(void *arg, const uint8_t *key, size_t key_len,
				const struct promfn_point *pts, size_t n);

/* What the evaluator reads. select calls cb once per series matching all n
 * matchers with the points in [start_ms, end_ms] (a superset is fine).
 * Returns 0 or a negative errno: -E2BIG (too many samples), -ETIMEDOUT,
 * others are reported as storage errors. */
struct promql_storage {
	int (*select)(void *ctx, const struct matcher *m, size_t n, int64_t start_ms,
		      int64_t end_ms, promql_series_cb cb, void *arg);
	void *ctx;
};

/* Evaluation options. Zero means the default (or unlimited). */
struct promql_opts {
	int64_t lookback_ms;        /* default PROMQL_DEFAULT_LOOKBACK_MS */
	int64_t subquery_step_ms;   /* default step of [r:]; 60 s */
	uint64_t max_samples;       /* 0: unlimited */
	uint64_t max_series;        /* per selector; 0: unlimited */
	int64_t deadline_ms;        /* CLOCK_MONOTONIC ms; 0: none */
	const volatile int *cancel; /* evaluation stops when *cancel != 0 */
	int (*gone)(void *arg);     /* polled with the deadline: nonzero stops the
				     * evaluation (e.g. the HTTP client went away) */
	void *gone_arg;
	const char *query;          /* the query text, for "(line:col)" in
				     * annotations; NULL counts from 1:1 */
};

/* Error classes, mapped to Prometheus' errorType by the API. */
enum promql_err {
	PROMQL_ERR_NONE = 0,
	PROMQL_ERR_BAD_DATA,   /* 400: the query cannot be evaluated as written */
	PROMQL_ERR_EXEC,       /* 422: runtime error (matching, limits, ...) */
	PROMQL_ERR_TIMEOUT,    /* 503 */
	PROMQL_ERR_CANCELED,   /* 503/499 */
	PROMQL_ERR_INTERNAL,   /* 500: out of memory, storage failure */
};

/* One series of a result: labels and its points (time order). */
struct promql_rseries {
	struct promql_lset ls;
	struct promfn_point *pts;  /* owned */
	size_t n;
};

/* A query's result. Zero it before the first use; promql_result_free
 * releases it. type is PROMQL_TYPE_SCALAR (scalar, ts), STRING (str, ts),
 * VECTOR (series with one point each, ts = evaluation time) or MATRIX. */
struct promql_result {
	int type;
	double scalar;
	int64_t ts;
	char *str;                    /* owned */
	struct promql_rseries *series; /* owned */
	size_t n;
	char **warnings;              /* owned strings, "PromQL warning: ..." */
	size_t nwarn;
	char **infos;                 /* "PromQL info: ..." */
	size_t ninfo;
	int err;                      /* enum promql_err */
	char msg[512];                /* error message when err != NONE */
	uint64_t samples;             /* samples loaded from storage */
};

/* Evaluates e at time t. Returns 0 with res filled; on failure a negative
 * errno (-EINVAL: bad query, -ERANGE: a runtime PromQL error, -E2BIG: the
 * samples limit, -ETIMEDOUT, -ECANCELED, -ENOMEM, -EIO: storage) with
 * res->err and res->msg set. res is reset first; the caller frees it. */
int promql_eval_instant(const struct promql_node *e, const struct promql_storage *st,
			const struct promql_opts *o, int64_t t, struct promql_result *res);

/* Evaluates e at start, start + step, ... end (step > 0, end >= start) to a
 * matrix sorted by labels. Same returns as promql_eval_instant; e must be
 * a scalar or instant vector expression (-EINVAL otherwise). */
int promql_eval_range(const struct promql_node *e, const struct promql_storage *st,
		      const struct promql_opts *o, int64_t start, int64_t end, int64_t step,
		      struct promql_result *res);

/* Frees everything res holds and zeroes it; accepts a zeroed result. */
void promql_result_free(struct promql_result *res);

/* 1 when v is the stale marker (that exact NaN). */
int promql_is_stale(double v);

/* Monotonic clock in ms, for deadline_ms. */
int64_t promql_now_ms(void);

#endif
