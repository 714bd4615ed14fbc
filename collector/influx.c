/* influx: see influx.h. One pass per line; names and values are unescaped
 * into a scratch buffer that lives as long as the line. */
#include "collector/influx.h"

#include <ctype.h>
#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/httpd.h"
#include "common/log.h"
#include "common/textparse.h"
#include "shm/segment.h"

#define INFLUX_MAX_TAGS 128

struct influx_str {
	const char *p;
	size_t len;
};

/* One line being parsed: a cursor into it and the scratch output. */
struct influx_line {
	const char *p, *end;
	char *out;          /* next free byte of the scratch buffer */
};

int64_t influx_precision_ns(const char *name)
{
	static const struct {
		const char *name;
		int64_t ns;
	} p[] = {{"ns", 1}, {"n", 1}, {"u", 1000}, {"us", 1000}, {"ms", 1000000},
		 {"s", 1000000000LL}, {"m", 60000000000LL}, {"h", 3600000000000LL}};
	if (!name || !*name)
		return 1;
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (strcmp(name, p[i].name) == 0)
			return p[i].ns;
	return -1;
}

/* Reads a token up to an unescaped stop character (or the end), resolving
 * backslash escapes of the characters in `escapes` and of backslash. */
static struct influx_str influx_token(struct influx_line *l, const char *stops, const char *escapes)
{
	struct influx_str s = {l->out, 0};
	while (l->p < l->end && !strchr(stops, *l->p)) {
		char c = *l->p++;
		if (c == '\\' && l->p < l->end && (strchr(escapes, *l->p) || *l->p == '\\'))
			c = *l->p++;
		*l->out++ = c;
		s.len++;
	}
	return s;
}

/* Rewrites s in place into a valid Prometheus name: every invalid
 * character becomes '_'; a leading digit gets a '_' in front (room for it
 * was left by the caller). */
static void influx_sanitize(struct influx_str *s, int metric)
{
	char *w = (char *)s->p;
	for (size_t i = 0; i < s->len; i++) {
		char c = w[i];
		if (!(isalnum((unsigned char)c) || c == '_' || (metric && c == ':')))
			w[i] = '_';
	}
	if (s->len && isdigit((unsigned char)w[0])) {
		memmove(w + 1, w, s->len);
		w[0] = '_';
		s->len++;
	}
}

/* Parses a field value. Returns 1 with *v set, 0 for a string field
 * (skipped), -1 when malformed. */
static int influx_value(struct influx_line *l, double *v)
{
	if (l->p < l->end && *l->p == '"') {
		l->p++;
		while (l->p < l->end && *l->p != '"') {
			if (*l->p == '\\' && l->p + 1 < l->end)
				l->p++;
			l->p++;
		}
		if (l->p >= l->end)
			return -1;
		l->p++;
		return 0;
	}
	const char *s = l->p;
	while (l->p < l->end && *l->p != ',' && *l->p != ' ')
		l->p++;
	size_t n = (size_t)(l->p - s);
	char buf[64];
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strcmp(buf, "t") || !strcmp(buf, "T") || !strcasecmp(buf, "true")) {
		*v = 1;
		return 1;
	}
	if (!strcmp(buf, "f") || !strcmp(buf, "F") || !strcasecmp(buf, "false")) {
		*v = 0;
		return 1;
	}
	char *end;
	errno = 0;
	if (buf[n - 1] == 'i' || buf[n - 1] == 'u') {
		int is_unsigned = buf[n - 1] == 'u';
		buf[n - 1] = '\0';
		if (n == 1 || (is_unsigned && buf[0] == '-'))
			return -1;
		*v = is_unsigned ? (double)strtoull(buf, &end, 10) : (double)strtoll(buf, &end, 10);
		return (*end || errno) ? -1 : 1;
	}
	*v = strtod(buf, &end);
	if (*end || !isfinite(*v) || isalpha((unsigned char)buf[0]))
		return -1;
	return 1;
}

/* Parses one non-empty, non-comment line and adds its samples. */
static int influx_line(struct influx *x, const char *p, const char *end, int64_t precision_ns,
		       int64_t default_ts_ms, const char *db, const char **why)
{
	struct influx_line l = {p, end, x->scratch};
	struct series_label tags[INFLUX_MAX_TAGS + 1];
	size_t ntags = 0;

	struct influx_str meas = influx_token(&l, ", ", ", ");
	l.out++; /* room for a leading '_' added by influx_sanitize */
	if (meas.len == 0) {
		*why = "missing measurement";
		return -EINVAL;
	}
	while (l.p < l.end && *l.p == ',') {
		l.p++;
		if (ntags == INFLUX_MAX_TAGS) {
			*why = "too many tags";
			return -EINVAL;
		}
		struct influx_str k = influx_token(&l, ",= ", ",= ");
		l.out++; /* room for a leading '_' added by influx_sanitize */
		if (l.p >= l.end || *l.p != '=' || k.len == 0) {
			*why = "tag without '=' or with an empty key";
			return -EINVAL;
		}
		l.p++;
		struct influx_str v = influx_token(&l, ", ", ",= ");
		influx_sanitize(&k, 0);
		if (v.len == 0) {
			*why = "tag with an empty value";
			return -EINVAL;
		}
		tags[ntags++] = (struct series_label){k.p, k.len, v.p, v.len};
	}
	if (db && *db)
		tags[ntags++] = (struct series_label){"db", 2, db, strlen(db)};
	if (l.p >= l.end || *l.p != ' ') {
		*why = "expected a space before the fields";
		return -EINVAL;
	}
	while (l.p < l.end && *l.p == ' ')
		l.p++;

	/* The timestamp is the last space-separated token when it is all
	 * digits: a space inside a quoted string field would leave a '"' in the
	 * token. Knowing it first lets each field go in as it is read. */
	int64_t ts_ms = default_ts_ms;
	const char *te = l.end;
	while (te > l.p && te[-1] == ' ')
		te--;
	const char *ts = te;
	while (ts > l.p && (isdigit((unsigned char)ts[-1]) || ts[-1] == '-'))
		ts--;
	if (ts < te && ts > l.p && ts[-1] == ' ') {
		char buf[32], *tend;
		size_t n = (size_t)(te - ts);
		if (n >= sizeof(buf)) {
			*why = "invalid timestamp";
			return -EINVAL;
		}
		memcpy(buf, ts, n);
		buf[n] = '\0';
		errno = 0;
		long long t = strtoll(buf, &tend, 10);
		if (*tend || errno) {
			*why = "invalid timestamp";
			return -EINVAL;
		}
		/* To ms without overflow: divide first when the unit is finer. */
		if (precision_ns <= 1000000)
			ts_ms = (int64_t)(t / (1000000 / precision_ns));
		else
			ts_ms = (int64_t)t * (precision_ns / 1000000);
		l.end = ts - 1;
		while (l.end > l.p && l.end[-1] == ' ')
			l.end--;
	}

	for (;;) {
		char *mark = l.out;
		struct influx_str k = influx_token(&l, ",= ", ",= ");
		if (l.p >= l.end || *l.p != '=' || k.len == 0) {
			*why = "field without '=' or with an empty key";
			return -EINVAL;
		}
		l.p++;
		double v;
		int kind = influx_value(&l, &v);
		if (kind < 0) {
			*why = "invalid field value";
			return -EINVAL;
		}
		if (kind == 0) {
			x->string_fields++;
		} else {
			/* measurement_field after the key, with one byte of room
			 * after it for influx_sanitize. */
			char *name = l.out;
			memcpy(name, meas.p, meas.len);
			name[meas.len] = '_';
			memcpy(name + meas.len + 1, k.p, k.len);
			struct influx_str n = {name, meas.len + 1 + k.len};
			influx_sanitize(&n, 1);
			int rc = ingest_add(&x->in, n.p, n.len, tags, ntags, ts_ms, v);
			if (rc) {
				*why = rc == -E2BIG ? "series too long" : rc == -ENOMEM ? "out of memory"
											 : "duplicate tag";
				return rc == -ENOMEM ? rc : -EINVAL;
			}
		}
		l.out = mark; /* the next field reuses the room */
		if (l.p < l.end && *l.p == ',') {
			l.p++;
			continue;
		}
		if (l.p != l.end) {
			*why = "unexpected text after the fields";
			return -EINVAL;
		}
		return 0;
	}
}

int influx_parse(struct influx *x, const char *body, size_t len, int64_t precision_ns,
		 int64_t default_ts_ms, const char *db, char *err, size_t errlen)
{
	ingest_reset(&x->in);
	const char *p = body, *end = body + len;
	uint32_t line = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		line++;
		const char *s = p;
		p = nl ? nl + 1 : end;
		if (le > s && le[-1] == '\r')
			le--;
		while (s < le && (*s == ' ' || *s == '\t'))
			s++;
		if (s == le || *s == '#')
			continue;
		/* Scratch: the unescaped tokens (at most the line), plus one
		 * name measurement_field with its room (at most twice the line). */
		size_t need = (size_t)(le - s) * 4 + 1024;
		if (x->scratch_cap < need) {
			char *ns = realloc(x->scratch, need);
			if (!ns)
				return -ENOMEM;
			x->scratch = ns;
			x->scratch_cap = need;
		}
		const char *why = NULL;
		int rc = influx_line(x, s, le, precision_ns, default_ts_ms, db, &why);
		if (rc) {
			snprintf(err, errlen, "line %u: %s", line, why ? why : strerror(-rc));
			ingest_reset(&x->in);
			return rc;
		}
	}
	return 0;
}

static void influx_on_write(struct evhttp_request *req, void *arg)
{
	struct influx *x = arg;
	struct evkeyvalq params;
	char err[256];
	ctl_add(x->st->slot, CTL_C_REQUESTS, 1);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		ingest_reply_bad(&x->in, req, "use POST with a line-protocol body");
		return;
	}
	if (httpd_params(req, &params) != 0) {
		ingest_reply_bad(&x->in, req, "malformed query string");
		return;
	}
	int v2 = strncmp(evhttp_request_get_uri(req), "/api/v2/", 8) == 0;
	const char *db = evhttp_find_header(&params, v2 ? "bucket" : "db");
	int64_t prec = influx_precision_ns(evhttp_find_header(&params, "precision"));
	if (prec < 0) {
		ingest_reply_bad(&x->in, req, "unknown precision \"%s\"", evhttp_find_header(&params, "precision"));
		evhttp_clear_headers(&params);
		return;
	}
	const char *body;
	size_t len;
	if (ingest_read_body(&x->in, req, 0, &body, &len) != 0) {
		evhttp_clear_headers(&params);
		return;
	}
	int rc = influx_parse(x, body, len, prec, segment_now_real_ms(), db, err, sizeof(err));
	evhttp_clear_headers(&params);
	if (rc == -EINVAL) {
		ingest_reply_bad(&x->in, req, "%s", err);
		return;
	}
	if (rc == 0)
		rc = ingest_commit(&x->in, x->st->cfg.push_wait_ms);
	ingest_reply_commit(&x->in, req, rc, 204);
}

static void influx_on_ping(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req), "X-Influxdb-Version", "1.8.10");
	httpd_reply(req, 204, NULL, NULL, 0);
}

static void influx_on_query(struct evhttp_request *req, void *arg)
{
	(void)arg;
	static const char empty[] = "{\"results\":[{\"statement_id\":0}]}";
	httpd_reply(req, 200, "application/json", empty, sizeof(empty) - 1);
}

int influx_init(struct influx *x, struct stage *st, struct router *router, struct evhttp *http)
{
	memset(x, 0, sizeof(*x));
	x->st = st;
	ingest_init(&x->in, st, router);
	if (evhttp_set_cb(http, "/write", influx_on_write, x) != 0 ||
	    evhttp_set_cb(http, "/api/v2/write", influx_on_write, x) != 0 ||
	    evhttp_set_cb(http, "/ping", influx_on_ping, x) != 0 ||
	    evhttp_set_cb(http, "/query", influx_on_query, x) != 0)
		return -ENOMEM;
	return 0;
}

void influx_fini(struct influx *x)
{
	if (x->string_fields)
		log_info("influx: %llu string fields skipped", (unsigned long long)x->string_fields);
	ingest_fini(&x->in);
	free(x->scratch);
	x->scratch = NULL;
}
