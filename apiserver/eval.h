/* eval: evaluates vector and range selectors over a merged fan-out answer
 * and writes the Prometheus API JSON of the result.
 *
 * Semantics (Prometheus 3):
 *  - instant vector selector at t: for each series the latest sample with a
 *    timestamp in (t - offset - lookback, t - offset]; no value when that
 *    sample is the stale marker. The output sample carries t.
 *  - range selector [r] at t: every sample in (t - offset - r, t - offset],
 *    stale markers left out, with their own timestamps.
 *  - range query: the instant vector selector at start, start + step, ...,
 *    up to end.
 *  Series without any output sample are left out. Results are sorted by
 *  their label sets (labels compared in name order, as labels.Compare).
 *
 * The PromQL engine itself is common/promql_eval; this module gives it its
 * storage (eval_store: one fan-out per selector, REC_Q_SELECT with one
 * matcher set over the selector's whole time range) and writes its
 * results (eval_write_result) in the Prometheus API shapes.
 */
#ifndef MCS_APISERVER_EVAL_H
#define MCS_APISERVER_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "apiserver/fanout.h"
#include "apiserver/json.h"
#include "common/promql_eval.h"

#define EVAL_STALE_NAN_BITS 0x7ff0000000000002ULL

/* 1 when v is Prometheus' stale marker (that exact NaN bit pattern). */
int eval_is_stale(double v);

/* Compares two series keys as Prometheus compares label sets: label by
 * label in name order (__name__ in its sorted place), name then value,
 * bytewise; a prefix sorts first. Returns <0, 0, >0. */
int eval_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Returns a malloc'd array of res->nseries indices in label order (the
 * caller frees it), or NULL when out of memory (or no series). */
uint32_t *eval_order(const struct fanout_result *res);

/* Writes the labels of a key as a JSON object, in name order; with_name=0
 * leaves __name__ out (alert labels, whose __name__ is "ALERTS"). */
void eval_write_labels(struct json_w *w, const uint8_t *key, size_t len, int with_name);

/* Index of the last point with ts <= hi that is also > lo, or -1. */
long eval_latest(const struct rec_point *pts, uint32_t n, int64_t lo, int64_t hi);

/* Writes the "result" array of an instant vector selector at t. Returns
 * the number of series written. */
size_t eval_write_vector(struct json_w *w, const struct fanout_result *res, const uint32_t *order,
			 int64_t t, int64_t offset, int64_t lookback);

/* Writes the "result" array of a range selector [range] at t. */
size_t eval_write_range(struct json_w *w, const struct fanout_result *res, const uint32_t *order,
			int64_t t, int64_t offset, int64_t range);

/* Writes the "result" array of a range query of an instant vector selector
 * over start..end by step (step > 0, end >= start). */
size_t eval_write_steps(struct json_w *w, const struct fanout_result *res, const uint32_t *order,
			int64_t start, int64_t end, int64_t step, int64_t offset, int64_t lookback);

/* Writes the "result" array of a range query of a number: one series with
 * no labels and the number at every step. */
void eval_write_scalar_steps(struct json_w *w, double v, int64_t start, int64_t end, int64_t step);

/* Writes an array of label-set objects (/api/v1/series). */
void eval_write_series_list(struct json_w *w, const struct fanout_result *res, const uint32_t *order);

/* Writes the strings of res as a JSON array (labels, label values). */
void eval_write_strings(struct json_w *w, const struct fanout_result *res);

/* The evaluator's storage over the fan-out. The caller owns the struct;
 * res is the reusable answer buffer (reset after each selection). */
struct eval_store {
	struct fanout *fo;
	struct fanout_result *res;
	int64_t deadline_ms;   /* promql_now_ms() clock; bounds every fan-out */
	uint64_t selects;      /* fan-outs made (for tests and stats) */
};

/* struct promql_storage.select over the fan-out: ctx is a struct
 * eval_store. Returns 0 or the fanout_query error (-E2BIG past the samples
 * limit, -ETIMEDOUT, -EREMOTEIO, -EINVAL for too many matchers, -ENOMEM). */
int eval_store_select(void *ctx, const struct matcher *m, size_t n, int64_t start_ms,
		      int64_t end_ms, promql_series_cb cb, void *arg);

/* Writes a result's labels as a JSON object (Prometheus order). */
void eval_write_lset(struct json_w *w, const struct promql_lset *ls);

/* Writes {"resultType":...,"result":...} of an evaluation result. */
void eval_write_result(struct json_w *w, const struct promql_result *res);

/* Writes ,"warnings":[...] and ,"infos":[...] when there are any. */
void eval_write_annotations(struct json_w *w, const struct promql_result *res);

#endif
