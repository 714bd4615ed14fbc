/* push: the collector's push receivers over HTTP (libevent).
 *
 *   POST /api/v1/import/prometheus   Prometheus text (0.0.4 or OpenMetrics
 *                                    when the Content-Type says so), plain
 *                                    or Content-Encoding: gzip
 *   GET  /-/healthy, /-/ready
 *
 * Replies: 204 once every sample is committed to a ring; 400 with the line,
 * column and reason for a bad body (nothing of it is stored); 413 past the
 * body limit; 503 with Retry-After when the rings stayed full.
 *
 * Not here: routing (router.h), the parser (common/textparse.h).
 */
#ifndef MCS_PUSH_H
#define MCS_PUSH_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdint.h>

#include "collector/ingest.h"
#include "collector/router.h"
#include "common/stage.h"
#include "common/textparse.h"

struct push {
	struct stage *st;
	struct ingest in;         /* batch, body decoding, replies */
	struct evhttp *http;
};

/* Sets up the handlers on `http` (listening is the caller's). Returns 0 or
 * -ENOMEM. */
int push_init(struct push *p, struct stage *st, struct router *router, struct evhttp *http);
void push_fini(struct push *p);

/* Parses a text body into in's batch (reset first) and commits it. Samples
 * without a timestamp get default_ts_ms. Returns 0; -EINVAL with err filled
 * for a bad body; -ETIMEDOUT when the rings stayed full; -ENOMEM. Used by the
 * HTTP handler (with p->in) and by the collector's own collection (with an
 * ingest of its own, so push sources' static labels stay off it). */
int push_ingest_text(struct ingest *in, const char *body, size_t len, enum textparse_format fmt,
		     int64_t default_ts_ms, int wait_ms, struct textparse_error *err);

#endif
