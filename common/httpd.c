/* httpd: see httpd.h. */
#include "common/httpd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"

int httpd_listen(struct evhttp *http, const char *hostport, char *err, size_t errlen)
{
	char host[128], portstr[16];
	int port, one = 1, rc;
	if (config_split_hostport(hostport, host, sizeof(host), &port) != 0) {
		snprintf(err, errlen, "listen address \"%s\" is not HOST:PORT", hostport);
		return -EINVAL;
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "getaddrinfo(%s) failed: %s", hostport, gai_strerror(rc));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket() failed for %s: %s", hostport, strerror(errno));
		freeaddrinfo(ai);
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		rc = -errno;
		snprintf(err, errlen, "bind/listen on %s failed: %s", hostport, strerror(errno));
		close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	if (!evhttp_accept_socket_with_handle(http, fd)) {
		snprintf(err, errlen, "evhttp_accept_socket_with_handle failed for %s", hostport);
		close(fd);
		return -EIO;
	}
	return 0;
}

static const char *httpd_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

void httpd_reply(struct evhttp_request *req, int code, const char *ctype, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	if (ctype)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	if (b && body && len)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, httpd_reason(code), code == 204 ? NULL : b);
	if (b)
		evbuffer_free(b);
}

size_t httpd_json_escape(char *out, size_t n, size_t cap, const char *s)
{
	for (; *s && n + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	return n;
}

void httpd_error(struct evhttp_request *req, int code, const char *type, const char *fmt, ...)
{
	char msg[1024], out[2400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t n = (size_t)snprintf(out, sizeof(out), "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":\"", type);
	n = httpd_json_escape(out, n, sizeof(out), msg);
	n += (size_t)snprintf(out + n, sizeof(out) - n, "\"}");
	if (code == 429 || code == 503)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
	httpd_reply(req, code, "application/json", out, n);
}

/* Parses a query string into params. libevent decodes the values but not
 * the keys, and clients send "match%5B%5D": decode the keys too. The
 * entries move from the parsed list as they are, not through
 * evhttp_add_header, which drops values holding CR or LF (multi-line
 * PromQL) as invalid header values. */
static int httpd_parse_into(const char *q, struct evkeyvalq *params)
{
	struct evkeyvalq raw;
	TAILQ_INIT(&raw);
	if (evhttp_parse_query_str(q, &raw) != 0)
		return -EINVAL;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, &raw, next) {
		size_t n;
		char *key = evhttp_uridecode(kv->key, 1, &n);
		if (!key) {
			evhttp_clear_headers(&raw);
			return -ENOMEM;
		}
		/* Decoding never lengthens: overwrite in place. */
		memcpy(kv->key, key, n + 1);
		free(key);
	}
	while ((kv = TAILQ_FIRST(&raw)) != NULL) {
		TAILQ_REMOVE(&raw, kv, next);
		TAILQ_INSERT_TAIL(params, kv, next);
	}
	return 0;
}

int httpd_params(struct evhttp_request *req, struct evkeyvalq *params)
{
	TAILQ_INIT(params);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	if (q && *q && httpd_parse_into(q, params) != 0)
		return -EINVAL;
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
		if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
			struct evbuffer *in = evhttp_request_get_input_buffer(req);
			size_t len = evbuffer_get_length(in);
			char *body = malloc(len + 1);
			if (!body)
				return -ENOMEM;
			evbuffer_copyout(in, body, len);
			body[len] = '\0';
			int rc = httpd_parse_into(body, params);
			free(body);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

size_t httpd_param_all(struct evkeyvalq *params, const char *name, const char **out, size_t max)
{
	size_t n = 0;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, params, next)
		if (n < max && strcmp(kv->key, name) == 0)
			out[n++] = kv->value;
	return n;
}

/* Reads exactly two digits at p into *v. */
static int httpd_two_digits(const char *p, int *v)
{
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
		return -EINVAL;
	*v = (p[0] - '0') * 10 + (p[1] - '0');
	return 0;
}

int httpd_parse_time(const char *s, int64_t *ms)
{
	char *end;
	if (!s || !*s)
		return -EINVAL;
	double v = strtod(s, &end);
	if (*end == '\0' && end != s && isfinite(v)) {
		/* Past about 292 million years the ms do not fit in int64_t. */
		if (fabs(v) > 9.2e15)
			return -EINVAL;
		*ms = (int64_t)llround(v * 1000.0);
		return 0;
	}
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	/* Fraction: '.' and one or more digits, nothing strtod would add
	 * (exponents, signs). */
	double frac = 0, scale = 0.1;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return -EINVAL;
		for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		/* Exactly "+hh:mm": the checks stop at the NUL, never past it. */
		int hh, mm;
		if (httpd_two_digits(p + 1, &hh) != 0 || p[3] != ':' || httpd_two_digits(p + 4, &mm) != 0)
			return -EINVAL;
		off = (int64_t)(hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	*ms = ((int64_t)timegm(&tm) - off) * 1000 + (int64_t)llround(frac * 1000.0);
	return 0;
}
