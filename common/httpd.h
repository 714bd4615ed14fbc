/* httpd: small helpers around libevent's evhttp shared by the HTTP stages
 * (collector push endpoints, apiserver): listening with SO_REUSEPORT so N
 * processes share a port, Prometheus-shaped JSON replies and errors, and
 * request parameters from the query string and form bodies.
 */
#ifndef MCS_HTTPD_H
#define MCS_HTTPD_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stddef.h>

/* Binds HOST:PORT with SO_REUSEADDR + SO_REUSEPORT and hands the socket to
 * http. Returns 0, or -errno with a message in err. */
int httpd_listen(struct evhttp *http, const char *hostport, char *err, size_t errlen);

/* Replies `code` with a body of `len` bytes and Content-Type `ctype`. */
void httpd_reply(struct evhttp_request *req, int code, const char *ctype, const char *body, size_t len);

/* Replies {"status":"error","errorType":type,"error":msg} with `code`
 * (Prometheus API shape). type: "bad_data", "execution", "timeout",
 * "internal", "unavailable", "not_found", "too_many_requests". */
void httpd_error(struct evhttp_request *req, int code, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Appends s JSON-escaped (quote, backslash, control characters) to
 * out[n..cap), leaving room for a closing "}; stops early when full.
 * Returns the new length. */
size_t httpd_json_escape(char *out, size_t n, size_t cap, const char *s);

/* Parameters of a request: the query string plus, for a POST with
 * Content-Type application/x-www-form-urlencoded, the body. The caller owns
 * *params and clears it with evhttp_clear_headers. Returns 0 or -EINVAL. */
int httpd_params(struct evhttp_request *req, struct evkeyvalq *params);

/* All values of a repeated parameter (e.g. "match[]") in order; returns the
 * count stored in out (at most max). */
size_t httpd_param_all(struct evkeyvalq *params, const char *name, const char **out, size_t max);

/* Parses a Prometheus API time: RFC 3339 or Unix seconds with decimals, into
 * ms. Returns 0 or -EINVAL. */
int httpd_parse_time(const char *s, int64_t *ms);

#endif
