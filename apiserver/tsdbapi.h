/* tsdbapi: the storage endpoints of the HTTP API.
 *
 *   POST /api/v1/admin/tsdb/flush   every shard writes its head to blocks and
 *                                   compacts (what VictoriaMetrics'
 *                                   /internal/force_flush does), so operators
 *                                   and benchmarks measure the settled size
 *   GET  /api/v1/status/tsdb        Prometheus' shape (headStats, top
 *                                   cardinalities) plus an "mcs" object with
 *                                   series, samples and bytes per tier
 *
 * Both fan out to every aggregator (REC_Q_FLUSH, REC_Q_STATUS); each
 * aggregator answers with one JSON object, merged here.
 */
#ifndef MCS_TSDBAPI_H
#define MCS_TSDBAPI_H

#include <event2/http.h>

#include "apiserver/fanout.h"

/* Serves the two endpoints; path is the request path. Replies exactly once. */
void tsdbapi_flush(struct evhttp_request *req, struct fanout *fo, struct fanout_result *res);
void tsdbapi_status(struct evhttp_request *req, struct fanout *fo, struct fanout_result *res);

#endif
