/* rwrite: the Prometheus remote write 1.0 receiver.
 *
 *   POST /api/v1/write   body: a snappy-compressed (block format)
 *                        prometheus.WriteRequest, as Prometheus and vmagent
 *                        send it (Content-Encoding: snappy, Content-Type:
 *                        application/x-protobuf, X-Prometheus-Remote-Write-
 *                        Version: 0.1.0). A body without Content-Encoding is
 *                        taken as snappy too; gzip and identity are accepted.
 *
 * What is taken from a WriteRequest (field numbers of remote.proto):
 *   1 timeseries  { 1 labels { 1 name, 2 value }, 2 samples { 1 double value,
 *                  2 int64 timestamp ms } }   stored, values bit-exact
 *                                             (stale NaNs included)
 *   timeseries 3 exemplars                    ignored (not stored by mcs)
 *   timeseries 4 native histograms            skipped, counted, warned about;
 *                                             the float samples of the same
 *                                             request are still stored and
 *                                             answered 204 (see below)
 *   3 metadata, unknown fields                ignored, as protobuf requires
 *
 * Validation, per request, all or nothing: every label name must be a valid
 * Prometheus label name, __name__ must be present and a valid metric name,
 * no label name may repeat, every label value must be valid UTF-8 (the text
 * import requires it too, and the query API answers JSON). Any violation
 * answers 400 naming the series and label ("timeseries 12: label 3: invalid
 * label name \"1abc\"") and nothing of the request is stored; so does a
 * malformed protobuf (truncated varint or length, a field with the wrong
 * wire type). Labels with empty values are absent, as in Prometheus.
 *
 * Native histograms: mcs stores floats only. Refusing the request (400)
 * would make the sender drop the float samples that travel with them, and a
 * 5xx would make it retry forever; so they are skipped, counted in
 * rwrite.histograms_skipped and logged (at most once a minute).
 *
 * Replies: 204 only after ingest_commit returned 0; 503 with Retry-After
 * when the rings stayed full (the sender retries); 413 past max_body_bytes
 * (decoded); 400 for bad snappy or protobuf or labels; 415 for remote write
 * 2.0 (Content-Type application/x-protobuf;proto=io.prometheus.write.v2.
 * Request) or a Content-Type that is not protobuf; 405 for other methods.
 *
 * Not here: the protobuf wire reader (common/pb.h), body decoding and
 * committing (ingest.h).
 */
#ifndef MCS_RWRITE_H
#define MCS_RWRITE_H

#include <event2/http.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/ingest.h"
#include "collector/router.h"
#include "common/stage.h"

#define RWRITE_PATH "/api/v1/write"
#define RWRITE_MAX_LABELS SERIES_MAX_LABELS /* labels of one series */

/* What one request held (filled by rwrite_decode). */
struct rwrite_stats {
	uint64_t series;      /* timeseries messages */
	uint64_t samples;     /* float samples added to the batch */
	uint64_t histograms;  /* native histogram samples skipped */
	uint64_t exemplars;   /* exemplars ignored */
};

struct rwrite {
	struct stage *st;
	struct ingest in;                /* batch, body decoding, replies; owned */
	uint64_t histograms_skipped;     /* since start; written by the loop thread */
	uint64_t histograms_logged;      /* histograms_skipped at the last warning */
	uint64_t last_warn_ms;           /* monotonic ms of the last warning */
	uint8_t key[SERIES_KEY_MAX];     /* the current series' key, reused per sample */
};

/* Sets up the handler for RWRITE_PATH on `http` (listening, the body limit
 * and the 404 fallback are push_init's). Returns 0 or -ENOMEM; rwrite_fini
 * is safe either way. */
int rwrite_init(struct rwrite *rw, struct stage *st, struct router *router, struct evhttp *http);

/* Frees the batch and scratch buffers. Accepts a zeroed struct. */
void rwrite_fini(struct rwrite *rw);

/* Decodes a (decompressed) WriteRequest into rw->in's batch, which it resets
 * first. Returns 0 with *stats filled; -EINVAL with why[] naming the fault
 * and the batch empty again; -ENOMEM (batch empty again). */
int rwrite_decode(struct rwrite *rw, const uint8_t *buf, size_t len, struct rwrite_stats *stats,
		  char *why, size_t why_len);

/* rwrite_decode, then ingest_commit with wait_ms. Returns 0 once every
 * sample is committed; -EINVAL (why filled); -ETIMEDOUT when the rings
 * stayed full (nothing written); -ENOMEM. */
int rwrite_ingest(struct rwrite *rw, const uint8_t *buf, size_t len, int wait_ms,
		  struct rwrite_stats *stats, char *why, size_t why_len);

#endif
