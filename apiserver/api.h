/* api: the apiserver's HTTP endpoints: routing, parameter validation and
 * the Prometheus HTTP API handlers.
 *
 *   /api/v1/query, /api/v1/query_range    PromQL (common/promql_eval)
 *   /api/v1/format_query, /api/v1/metadata (always {}: no metadata kept)
 *   /api/v1/series, /api/v1/labels, /api/v1/label/<name>/values
 *   /metrics/query, /metrics/instant (= query), /metrics/range (= query_range,
 *   optional aggregation=sum|avg|min|max|count wraps the expression),
 *   /metrics/labels (= /api/v1/labels)
 *   /api/v1/status/buildinfo, /api/v1/alerts, /alerts/active
 *   /metrics, /-/healthy, /-/ready
 * Every /api/v1 endpoint takes GET, and POST with a form body. Errors use
 * Prometheus' shape {"status":"error","errorType":..,"error":..}: 400
 * bad_data for bad parameters and queries (parse errors carry line:col),
 * 422 execution for runtime PromQL errors and the samples limit or when an
 * aggregator failed,
 * 503 timeout when it did not answer in time, 404 for unknown paths.
 *
 * Not here: the query fan-out (fanout.c), evaluation and JSON (eval.c,
 * json.c), /metrics (selfmetrics.c), alerts (alertsapi.c).
 */
#ifndef MCS_APISERVER_API_H
#define MCS_APISERVER_API_H

#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>

#include "apiserver/alertsapi.h"
#include "apiserver/fanout.h"
#include "apiserver/selfmetrics.h"
#include "common/stage.h"

#define API_VERSION     "0.1.0"
#define API_MAX_POINTS  11000   /* points per series of a range query */
#define API_MIN_TIME_MS (INT64_MIN / 4)
#define API_MAX_TIME_MS (INT64_MAX / 4)

/* Everything a handler needs. The caller owns the struct and the modules
 * it points to. */
struct api {
	struct stage *st;
	struct fanout *fo;
	struct selfmetrics *sm;
	struct alertsapi *al;
	struct fanout_result res;   /* reused by every query */
};

/* Fills *a. Nothing to fail. */
void api_init(struct api *a, struct stage *st, struct fanout *fo, struct selfmetrics *sm,
	      struct alertsapi *al);

/* Frees the reusable result. */
void api_fini(struct api *a);

/* The evhttp generic callback: routes and answers every request. arg is
 * the struct api. */
void api_handle(struct evhttp_request *req, void *arg);

/* ---- parameter parsing, exposed for tests ---- */

/* Parses a time parameter (RFC 3339 or Unix seconds with decimals) into ms;
 * NULL or "" gives def. Returns 0 or -EINVAL (also out of range). */
int api_parse_time(const char *s, int64_t def, int64_t *ms);

/* Parses a duration parameter: float seconds ("15", "0.5") or a Prometheus
 * duration ("15s", "1m30s"). Returns 0 or -EINVAL. */
int api_parse_duration(const char *s, int64_t *ms);

/* 1 when the whole of s is a PromQL number literal (decimal, hex, Inf,
 * NaN, optional sign and surrounding spaces), with the value in *v. */
int api_parse_number(const char *s, double *v);

/* 1 when s is a valid label name ([a-zA-Z_][a-zA-Z0-9_]*). */
int api_label_name_ok(const char *s);

/* Checks the parameters of a range query as Prometheus does. Returns 0, or
 * -EINVAL with Prometheus' message in err. */
int api_check_range(int64_t start, int64_t end, int64_t step, char *err, size_t errlen);

#endif
