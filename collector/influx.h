/* influx: the InfluxDB line-protocol receiver (what Telegraf and the Influx
 * client libraries send), mapped the way VictoriaMetrics maps it:
 *
 *   weather,city=Paris temp=11.5,humidity=70i 1700000000000000000
 *   -> weather_temp{city="Paris"} 11.5 @1700000000000
 *      weather_humidity{city="Paris"} 70 @1700000000000
 *
 * Endpoints: POST /write (v1; ?db= becomes label db, ?precision=
 * ns|u|us|ms|s|m|h), POST /api/v2/write (v2; ?bucket= becomes label db,
 * ?precision= ns|us|ms|s), GET /ping (204), and /query answering an empty
 * result so clients that create databases on start carry on.
 *
 * Fields: floats, integers (123i), unsigned (123u) and booleans (t/true ->
 * 1, f/false -> 0) become samples; string fields are skipped (counted, as
 * VictoriaMetrics does). Names that are not valid Prometheus names have
 * every invalid character replaced with '_'. A line without a timestamp
 * gets the time of the request. One bad line rejects the whole body (400
 * naming the line), so nothing of it is stored.
 */
#ifndef MCS_INFLUX_H
#define MCS_INFLUX_H

#include <event2/http.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/ingest.h"

struct influx {
	struct stage *st;
	struct ingest in;
	char *scratch;           /* unescaped names and values of one line */
	size_t scratch_cap;
	uint64_t string_fields;  /* skipped string fields, for the log */
};

/* Registers the endpoints on http. Returns 0 or -ENOMEM. */
int influx_init(struct influx *x, struct stage *st, struct router *router, struct evhttp *http);
void influx_fini(struct influx *x);

/* Parses a line-protocol body into x->in's batch (reset first). Timestamps
 * are in units of `precision_ns` nanoseconds; lines without one get
 * default_ts_ms. db (may be NULL) becomes label "db". Returns 0, or -EINVAL
 * with "line N: reason" in err (the batch is then empty), -ENOMEM. */
int influx_parse(struct influx *x, const char *body, size_t len, int64_t precision_ns,
		 int64_t default_ts_ms, const char *db, char *err, size_t errlen);

/* Nanoseconds per unit of an Influx precision name, or -1 when unknown. */
int64_t influx_precision_ns(const char *name);

#endif
