/* ingest: what every way into the collector shares — push endpoints
 * (text import, remote write, OTLP, Influx) and the scraper.
 *
 * A request is collected whole into a router batch (ingest_add), then
 * committed (ingest_commit) and only then acknowledged; a body that fails
 * validation is dropped whole. Labels every sample gets (external labels,
 * a source's static labels) are added where the sample lacks them.
 * Request bodies are read here too, with their Content-Encoding (gzip,
 * snappy, identity) and the size limit (413).
 *
 * Not here: the formats themselves (push.c, rwrite.c, otlp.c, influx.c).
 */
#ifndef MCS_INGEST_H
#define MCS_INGEST_H

#include <event2/http.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/router.h"
#include "common/series.h"
#include "common/stage.h"

#define INGEST_MAX_LABELS 160
#define INGEST_MAX_EXTRA 32

struct ingest {
	struct stage *st;
	struct router *router;
	struct router_batch batch;
	struct series_label extra[INGEST_MAX_EXTRA]; /* added when absent; strings owned */
	size_t nextra;
	uint8_t *body;            /* decoded body scratch, reused */
	size_t body_cap;
	uint64_t rejected;        /* samples refused by validation in this request */
};

/* Fills *in. Returns 0. */
int ingest_init(struct ingest *in, struct stage *st, struct router *router);
void ingest_fini(struct ingest *in);

/* Replaces the labels added to every sample (copied). Returns 0, -E2BIG
 * past INGEST_MAX_EXTRA, -ENOMEM. */
int ingest_set_extra(struct ingest *in, const struct series_label *l, size_t n);

/* Starts a request: empties the batch. */
void ingest_reset(struct ingest *in);

/* Adds one sample (name may be NULL when the labels carry __name__;
 * labels may be reordered). Returns 0, -EINVAL (invalid label set),
 * -E2BIG (too many or too long labels), -ENOMEM. */
int ingest_add(struct ingest *in, const char *name, size_t name_len,
	       struct series_label *labels, size_t nlabels, int64_t ts_ms, double value);

/* Commits the batch to the rings (bounded wait) and counts it. Returns 0,
 * -ETIMEDOUT when the rings stayed full, or another -errno. */
int ingest_commit(struct ingest *in, int wait_ms);

/* Reads the request body, decoding Content-Encoding gzip or snappy
 * (`snappy_default` decodes a body without the header as snappy, as
 * remote write sends it). On success sets *body and *len (valid until the next
 * call) and returns 0. On failure it has already replied (400, 413, 415)
 * and returns -1. */
int ingest_read_body(struct ingest *in, struct evhttp_request *req, int snappy_default,
		     const char **body, size_t *len);

/* Replies for a commit result: 0 -> ok_code (204 or 200, empty body),
 * -ETIMEDOUT or -EAGAIN -> 503 with Retry-After, else 500. */
void ingest_reply_commit(struct ingest *in, struct evhttp_request *req, int rc, int ok_code);

/* Replies 400 with a JSON error and counts a bad request. */
void ingest_reply_bad(struct ingest *in, struct evhttp_request *req, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
