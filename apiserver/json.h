/* json: the apiserver's streaming JSON writer, with Prometheus' number and
 * time formats.
 *
 * Responses can hold 10^5 series and 10^6 points, so nothing here builds a
 * tree: a writer appends text to a small staging buffer and hands it to an
 * evbuffer in large pieces. Strings are escaped as JSON requires (quote,
 * backslash, control characters); bytes >= 0x80 pass through unchanged.
 *
 * Formats, exactly as the Prometheus HTTP API writes them:
 *  - sample values: strings of Go's strconv.FormatFloat(v, 'f', -1, 64),
 *    switching to 'e' when 0 < |v| < 1e-6 or |v| >= 1e21; "NaN", "+Inf",
 *    "-Inf" (json_fmt_value);
 *  - timestamps: seconds with up to three decimals, trailing zeros of the
 *    millisecond part kept ("1700000000.120"), as jsonutil.MarshalTimestamp;
 *  - alert values: Go's 'e' -1 format ("1e+00");
 *  - wall-clock times: RFC 3339 in UTC with trimmed milliseconds.
 *
 * Not here: what is written (eval.c, api.c, alertsapi.c).
 */
#ifndef MCS_APISERVER_JSON_H
#define MCS_APISERVER_JSON_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define JSON_STAGE_BYTES 16384u
#define JSON_NUM_MAX     48u   /* longest number any json_fmt_* writes, NUL included */

/* A writer over an evbuffer the caller owns. */
struct json_w {
	struct evbuffer *out;
	size_t len;                 /* staged bytes not yet in out */
	char buf[JSON_STAGE_BYTES];
};

/* Starts a writer on `out` (not owned). */
void json_init(struct json_w *w, struct evbuffer *out);

/* Moves staged bytes into the evbuffer. Must be called before the evbuffer
 * is used by anyone else. */
void json_flush(struct json_w *w);

/* Appends raw bytes (already valid JSON text). */
void json_raw(struct json_w *w, const char *s, size_t len);

/* Appends a NUL-terminated literal. */
void json_lit(struct json_w *w, const char *s);

/* Appends s[len] as a quoted, escaped JSON string. */
void json_str(struct json_w *w, const char *s, size_t len);

/* Appends a sample value as Prometheus does: a quoted json_fmt_value. */
void json_value(struct json_w *w, double v);

/* Appends a timestamp in ms as Prometheus' seconds number. */
void json_time(struct json_w *w, int64_t ms);

/* Appends a signed integer. */
void json_int(struct json_w *w, int64_t v);

/* Formats v as Go's strconv.FormatFloat(v, fmt, -1, 64) for fmt 'f' or 'e':
 * the shortest decimal that reads back as v. Writes a NUL-terminated string
 * into buf[cap] (cap >= JSON_NUM_MAX) and returns its length. */
size_t json_fmt_go(char *buf, size_t cap, double v, char fmt);

/* Formats a sample value as Prometheus' jsonutil.MarshalFloat (no quotes). */
size_t json_fmt_value(char *buf, size_t cap, double v);

/* Formats ms as Prometheus' jsonutil.MarshalTimestamp. */
size_t json_fmt_time(char *buf, size_t cap, int64_t ms);

/* Formats a CLOCK_REALTIME ms as RFC 3339 UTC, e.g.
 * "2023-11-14T22:13:20.12Z" (fraction trimmed, absent when zero). */
size_t json_fmt_rfc3339(char *buf, size_t cap, int64_t ms);

#endif
