/* alertsapi: the active alerts of every alerter, read from their alert
 * tables in shared memory (common/alerts.h), as JSON.
 *
 *   /api/v1/alerts  Prometheus' shape: {"status":"success","data":{"alerts":[
 *                   {"labels":{..},"annotations":{..},"state":"firing",
 *                    "activeAt":"RFC3339","value":"1e+00"}]}}
 *   /alerts/active  mcs' shape: {"alerts":[{"name":..,"labels":{..},
 *                   "annotations":{..},"state":..,"activeAt":..,
 *                   "firedAt":.. or null,"value":..}]} where value is a
 *                   JSON number, or a string for NaN and infinities.
 * Only pending and firing alerts are listed. Tables are attached lazily and
 * re-attached on the next request when that failed (the alerter may not
 * have created its table yet).
 */
#ifndef MCS_APISERVER_ALERTSAPI_H
#define MCS_APISERVER_ALERTSAPI_H

#include <stddef.h>
#include <stdint.h>

#include "common/alerts.h"

struct evbuffer;
struct json_w;

enum alertsapi_shape {
	ALERTSAPI_PROMETHEUS = 0,
	ALERTSAPI_MCS = 1,
};

struct alertsapi {
	char instance[64];
	uint32_t k;                  /* alerters */
	struct alerts *tables;       /* [k] */
	uint8_t *attached;           /* [k] */
	struct alerts_entry *snap;   /* ALERTS_MAX entries of scratch */
};

/* Prepares for k alerters of `instance`; attaches nothing yet. Returns 0 or
 * -ENOMEM. */
int alertsapi_init(struct alertsapi *a, const char *instance, uint32_t k);

/* Closes the tables and frees; accepts a zeroed struct. */
void alertsapi_fini(struct alertsapi *a);

/* Appends the alerts of every reachable table as `shape` to out. Returns
 * the number of alerts written (tables that cannot be read are skipped). */
size_t alertsapi_render(struct alertsapi *a, enum alertsapi_shape shape, struct evbuffer *out);

/* Writes one entry as `shape` (tests and alertsapi_render). first: no
 * leading comma. Returns 1 when written, 0 when not listed (inactive or
 * resolved). */
int alertsapi_write_entry(struct json_w *w, const struct alerts_entry *e,
			  enum alertsapi_shape shape, int first);

#endif
