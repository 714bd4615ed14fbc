/* otlp: the collector's OTLP/HTTP metrics receiver.
 *
 *   POST /v1/metrics                 ExportMetricsServiceRequest as
 *   POST /api/v1/otlp/v1/metrics     Content-Type application/x-protobuf or
 *                                    application/json (the OTLP JSON
 *                                    mapping), plain or Content-Encoding: gzip
 *
 * Translation follows Prometheus' OTLP receiver with its default settings
 * (names: common/otlpname.h):
 *
 *   gauge                  -> gauge <name>[_<unit>][_ratio]
 *   sum, monotonic         -> counter <name>[_<unit>]_total
 *   sum, not monotonic     -> gauge <name>[_<unit>]
 *   histogram              -> <name>[_<unit>]_bucket{le=...} (cumulative
 *                             counts, le="+Inf" = count), _sum (when set),
 *                             _count
 *   exponential histogram  -> converted to the same classic series: one
 *                             le per bucket boundary (base^(i+1) for the
 *                             positive buckets, -base^i for the negative
 *                             ones, zero_threshold for the zero bucket)
 *   summary                -> <name>[_<unit>]{quantile=...}, _sum, _count
 *   flag no_recorded_value -> the Prometheus stale NaN for every series of
 *                             the point
 *   timestamps             -> time_unix_nano in ms (receive time when 0)
 *
 * Resource attributes: service.name -> job ("<service.namespace>/<name>"
 * when a namespace is set), service.instance.id -> instance, both on every
 * series of the resource (they replace data-point attributes of the same
 * name). The other resource attributes are not copied onto the series; as
 * in Prometheus they go to one `target_info` series per resource
 * (job, instance and those attributes, value 1, at the newest data-point
 * time of the resource), written only when the resource has a job or an
 * instance and at least one other attribute. Attribute names become label
 * names (invalid characters -> "_"); two attributes that map to the same
 * label name are joined with ";" in key order. Scope name/version are not
 * added (Prometheus' default).
 *
 * DELTA temporality (sums and explicit histograms) is converted to
 * cumulative: this collector process keeps a running total per output
 * series and writes the total. Limitations: the totals live in this
 * process' memory only, so they restart from zero when the collector
 * restarts (a counter reset, which rate() handles), each series must always
 * reach the same collector process (one sender connection, or one
 * collector), and at most OTLP_DELTA_MAX series are tracked (further new
 * delta series are refused as partial success). Totals are only advanced
 * when the request is committed, so a retried request (after 503) is not
 * counted twice. Delta exponential histograms are refused (their bucket
 * layout changes between exports).
 *
 * Replies (OTLP/HTTP): 200 with an ExportMetricsServiceResponse in the
 * request's content type once every accepted sample is committed, its
 * partial_success {rejected_data_points, error_message} set when data
 * points were refused (invalid metric name, unspecified temporality,
 * inconsistent buckets, unstorable label set); 400 with a google.rpc.Status
 * {code 3, message} for a malformed body (nothing of it is stored); 415 for
 * other content types; 413 past the body limit; 503 with Retry-After when
 * the rings stayed full.
 *
 * Not here: the wire decoders (collector/otlppb.h, collector/otlpjson.h);
 * their shared data model is collector/otlp_pvt.h.
 */
#ifndef MCS_OTLP_H
#define MCS_OTLP_H

#include <event2/http.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/ingest.h"
#include "collector/router.h"
#include "common/stage.h"

#define OTLP_DELTA_MAX (1u << 20)  /* delta series tracked per collector */

enum otlp_format {
	OTLP_PROTOBUF,
	OTLP_JSON,
};

/* The outcome of one request. */
struct otlp_result {
	uint64_t samples;   /* samples committed */
	uint64_t rejected;  /* data points refused (partial success) */
	char error[512];    /* why the body (400) or the first refused point was refused */
};

/* A growable array of fixed-size elements, reused across requests. */
struct otlp_vec {
	void *p;
	size_t n, cap;
};

/* Request-lifetime strings: chunks freed (all but one) at each reset. */
struct otlp_chunk;
struct otlp_arena {
	struct otlp_chunk *head;
};

/* One running total of a delta series. key is malloc'd, owned here. */
struct otlp_delta_ent {
	uint64_t id;       /* series_id of key */
	uint8_t *key;
	uint32_t key_len;
	double total;      /* committed running total */
	double pending;    /* total including the request being collected */
};

struct otlp_delta {
	struct otlp_delta_ent *ents;  /* dense, indices stable */
	size_t n, ents_cap;
	uint32_t *slots;              /* open addressing: index + 1, 0 = empty */
	size_t nslots;                /* power of two */
	struct otlp_vec undo;         /* {index, previous pending} of this request */
};

struct otlp {
	struct stage *st;
	struct ingest in;           /* batch, body decoding */
	struct otlp_delta delta;    /* running totals of delta series */
	struct otlp_arena arena;    /* strings of the current request */
	struct otlp_vec attrs;      /* struct otlp_kv of the current data point */
	struct otlp_vec u64a, u64b; /* bucket counts (explicit / positive, negative) */
	struct otlp_vec dbl;        /* explicit bounds, quantile pairs */
};

/* Fills *o and, when http is not NULL, registers the handlers on it
 * (listening is the caller's). Returns 0 or -ENOMEM. */
int otlp_init(struct otlp *o, struct stage *st, struct router *router, struct evhttp *http);

/* Frees what *o holds (the delta totals included). Accepts a zeroed *o. */
void otlp_fini(struct otlp *o);

/* Decodes and translates one ExportMetricsServiceRequest body and commits
 * its samples (bounded wait wait_ms). now_ms stamps points without a time.
 * *res is filled in every case. Returns 0 when every accepted sample is
 * committed (res->rejected counts refused points, res->error says why);
 * -EINVAL for a malformed body (res->error; nothing stored); -ETIMEDOUT when
 * the rings stayed full (nothing committed, delta totals unchanged);
 * -ENOMEM. */
int otlp_ingest(struct otlp *o, const char *body, size_t len, enum otlp_format fmt,
		int64_t now_ms, int wait_ms, struct otlp_result *res);

#endif
