/* push: see push.h. */
#include "collector/push.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httpd.h"
#include "common/log.h"
#include "shm/segment.h"

struct push_ctx {
	struct ingest *in;
	int64_t default_ts;
	int rc;
	uint32_t line;
	char why[96];
};

static int push_on_sample(void *ctx, const struct textparse_sample *s)
{
	struct push_ctx *c = ctx;
	struct series_label labels[TEXTPARSE_MAX_LABELS];
	for (size_t i = 0; i < s->nlabels; i++) {
		labels[i].name = s->labels[i].name;
		labels[i].name_len = s->labels[i].name_len;
		labels[i].value = s->labels[i].value;
		labels[i].value_len = s->labels[i].value_len;
	}
	int rc = ingest_add(c->in, s->name, s->name_len, labels, s->nlabels,
			    s->has_timestamp ? s->timestamp_ms : c->default_ts, s->value);
	if (rc) {
		c->rc = rc;
		c->line = s->line;
		snprintf(c->why, sizeof(c->why), "%s",
			 rc == -E2BIG ? "series labels too long" : rc == -ENOMEM ? "out of memory"
										: "invalid label set (duplicate label name?)");
	}
	return rc;
}

int push_ingest_text(struct ingest *in, const char *body, size_t len, enum textparse_format fmt,
		     int64_t default_ts_ms, int wait_ms, struct textparse_error *err)
{
	struct push_ctx c = {.in = in, .default_ts = default_ts_ms};
	ingest_reset(in);
	memset(err, 0, sizeof(*err));
	int rc = textparse_parse(body, len, fmt, push_on_sample, NULL, &c, err);
	if (rc != 0) {
		if (c.rc) {
			err->line = c.line;
			err->column = 1;
			snprintf(err->msg, sizeof(err->msg), "%s", c.why);
			rc = c.rc == -ENOMEM ? -ENOMEM : -EINVAL;
		}
		ingest_reset(in);
		return rc;
	}
	return ingest_commit(in, wait_ms);
}

static void push_on_import(struct evhttp_request *req, void *arg)
{
	struct push *p = arg;
	ctl_add(p->st->slot, CTL_C_REQUESTS, 1);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST && evhttp_request_get_command(req) != EVHTTP_REQ_PUT) {
		ctl_add(p->st->slot, CTL_C_BAD_REQUESTS, 1);
		httpd_error(req, 405, "bad_data", "use POST with a Prometheus text body");
		return;
	}
	const char *body;
	size_t len;
	if (ingest_read_body(&p->in, req, 0, &body, &len) != 0)
		return;
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	enum textparse_format fmt = ct && strstr(ct, "openmetrics") ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
	struct textparse_error err;
	int rc = push_ingest_text(&p->in, body, len, fmt, segment_now_real_ms(), p->st->cfg.push_wait_ms, &err);
	if (rc == -EINVAL)
		ingest_reply_bad(&p->in, req, "line %u, column %u: %s", err.line, err.column, err.msg);
	else
		ingest_reply_commit(&p->in, req, rc, 204);
}

static void push_on_health(struct evhttp_request *req, void *arg)
{
	struct push *p = arg;
	const char *uri = evhttp_request_get_uri(req);
	if (strncmp(uri, "/-/ready", 8) == 0 && !atomic_load(&p->st->slot->ready)) {
		httpd_reply(req, 503, "text/plain", "not ready\n", 10);
		return;
	}
	httpd_reply(req, 200, "text/plain", "OK\n", 3);
}

static void push_on_other(struct evhttp_request *req, void *arg)
{
	struct push *p = arg;
	ctl_add(p->st->slot, CTL_C_BAD_REQUESTS, 1);
	httpd_error(req, 404, "not_found", "no such endpoint: %s", evhttp_request_get_uri(req));
}

int push_init(struct push *p, struct stage *st, struct router *router, struct evhttp *http)
{
	memset(p, 0, sizeof(*p));
	p->st = st;
	p->http = http;
	ingest_init(&p->in, st, router);
	evhttp_set_max_body_size(http, (ev_ssize_t)st->cfg.max_body_bytes);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD);
	if (evhttp_set_cb(http, "/api/v1/import/prometheus", push_on_import, p) != 0 ||
	    evhttp_set_cb(http, "/-/healthy", push_on_health, p) != 0 ||
	    evhttp_set_cb(http, "/-/ready", push_on_health, p) != 0)
		return -ENOMEM;
	evhttp_set_gencb(http, push_on_other, p);
	return 0;
}

void push_fini(struct push *p)
{
	ingest_fini(&p->in);
}
