/* targetsapi: GET /api/v1/targets — the scrape targets of every collector,
 * read from their target tables in shared memory (common/targets.h), in
 * Prometheus' JSON shape:
 *
 *   {"status":"success","data":{"activeTargets":[{"discoveredLabels":{..},
 *    "labels":{..},"scrapePool":"job","scrapeUrl":"http://..",
 *    "globalUrl":"http://..","lastError":"","lastScrape":"RFC3339",
 *    "lastScrapeDuration":0.012,"health":"up","scrapeInterval":"15s",
 *    "scrapeTimeout":"10s"}],"droppedTargets":[{"discoveredLabels":{..},
 *    "scrapePool":"job"}],"droppedTargetCounts":{"job":1}}}
 *
 * ?state=active|dropped|any (default any) picks the lists as Prometheus
 * does. Dropped targets are those relabel_configs removed, each listed by
 * one collector (hash of job and discovered labels). Tables are attached
 * lazily and retried on the next request when a collector has not created
 * its table yet.
 */
#ifndef MCS_APISERVER_TARGETSAPI_H
#define MCS_APISERVER_TARGETSAPI_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stddef.h>
#include <stdint.h>

#include "common/stage.h"
#include "common/targets.h"

struct evbuffer;

struct targetsapi {
	char instance[64];
	uint32_t n;                 /* collectors */
	struct targets *tables;     /* [n] */
	uint8_t *attached;          /* [n] */
	struct targets_entry *scratch;
};

/* Prepares for n collectors of `instance`. Returns 0 or -ENOMEM. */
int targetsapi_init(struct targetsapi *t, const char *instance, uint32_t n);
void targetsapi_fini(struct targetsapi *t);

/* Appends the JSON answer for `state` ("active", "dropped", "any" or NULL)
 * to out. Returns the number of targets written. */
size_t targetsapi_render(struct targetsapi *t, const char *state, struct evbuffer *out);

/* Formats ms as a Prometheus duration ("15s", "1m30s", "500ms") into buf. */
size_t targetsapi_fmt_duration(char *buf, size_t cap, int64_t ms);

/* The request handler: answers GET /api/v1/targets for the instance of st,
 * with one lazily made struct targetsapi per process. */
void targetsapi_reply(struct evhttp_request *req, struct stage *st, struct evkeyvalq *params);

#endif
