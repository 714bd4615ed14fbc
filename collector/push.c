/* push: see push.h. */
#include "collector/push.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "common/httpd.h"
#include "common/log.h"
#include "shm/segment.h"

struct push_ctx {
	struct router_batch *batch;
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
	int rc = router_add(c->batch, s->name, s->name_len, labels, s->nlabels,
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

int push_ingest_text(struct push *p, const char *body, size_t len, enum textparse_format fmt,
		     int64_t default_ts_ms, int wait_ms, struct textparse_error *err)
{
	struct push_ctx c = {.batch = &p->batch, .default_ts = default_ts_ms};
	router_batch_reset(&p->batch);
	memset(err, 0, sizeof(*err));
	int rc = textparse_parse(body, len, fmt, push_on_sample, NULL, &c, err);
	if (rc != 0) {
		if (c.rc) {
			err->line = c.line;
			err->column = 1;
			snprintf(err->msg, sizeof(err->msg), "%s", c.why);
			rc = c.rc == -ENOMEM ? -ENOMEM : -EINVAL;
		}
		router_batch_reset(&p->batch);
		return rc;
	}
	size_t n = p->batch.n;
	rc = router_commit(p->router, &p->batch, wait_ms);
	if (rc == 0) {
		ctl_add(p->st->slot, CTL_C_SAMPLES_IN, n);
		ctl_add(p->st->slot, CTL_C_SAMPLES_OUT, n);
	}
	router_batch_reset(&p->batch);
	return rc;
}

/* Inflates a gzip body into p->inflate_buf, at most `limit` bytes. Returns
 * the length, -EFBIG past the limit, -EINVAL for a bad stream. */
static ssize_t push_gunzip(struct push *p, const uint8_t *in, size_t len, size_t limit)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	size_t out = 0;
	int zr;
	do {
		if (p->inflate_cap - out < 65536) {
			size_t nc = p->inflate_cap ? p->inflate_cap * 2 : 1u << 20;
			uint8_t *nb = realloc(p->inflate_buf, nc);
			if (!nb) {
				inflateEnd(&z);
				return -ENOMEM;
			}
			p->inflate_buf = nb;
			p->inflate_cap = nc;
		}
		z.next_out = p->inflate_buf + out;
		z.avail_out = (uInt)(p->inflate_cap - out);
		zr = inflate(&z, Z_NO_FLUSH);
		out = p->inflate_cap - z.avail_out;
		if (out > limit) {
			inflateEnd(&z);
			return -EFBIG;
		}
		if (zr == Z_BUF_ERROR && z.avail_in == 0)
			break;
	} while (zr == Z_OK || (zr == Z_BUF_ERROR && z.avail_out == 0));
	inflateEnd(&z);
	if (zr != Z_STREAM_END)
		return -EINVAL;
	return (ssize_t)out;
}

static void push_on_import(struct evhttp_request *req, void *arg)
{
	struct push *p = arg;
	struct evkeyvalq *hdr = evhttp_request_get_input_headers(req);
	ctl_add(p->st->slot, CTL_C_REQUESTS, 1);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST && evhttp_request_get_command(req) != EVHTTP_REQ_PUT) {
		ctl_add(p->st->slot, CTL_C_BAD_REQUESTS, 1);
		httpd_error(req, 405, "bad_data", "use POST with a Prometheus text body");
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	const char *enc = evhttp_find_header(hdr, "Content-Encoding");
	if (enc && strcasecmp(enc, "gzip") == 0) {
		ssize_t n = push_gunzip(p, (const uint8_t *)body, len, (size_t)p->st->cfg.max_body_bytes);
		if (n < 0) {
			ctl_add(p->st->slot, CTL_C_BAD_REQUESTS, 1);
			if (n == -EFBIG)
				httpd_error(req, 413, "bad_data", "decompressed body larger than %lld bytes",
					    (long long)p->st->cfg.max_body_bytes);
			else
				httpd_error(req, 400, "bad_data", "body is not valid gzip");
			return;
		}
		body = (const char *)p->inflate_buf;
		len = (size_t)n;
	} else if (enc && strcasecmp(enc, "identity") != 0) {
		ctl_add(p->st->slot, CTL_C_BAD_REQUESTS, 1);
		httpd_error(req, 415, "bad_data", "unsupported Content-Encoding \"%s\"", enc);
		return;
	}
	const char *ct = evhttp_find_header(hdr, "Content-Type");
	enum textparse_format fmt = ct && strstr(ct, "openmetrics") ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
	struct textparse_error err;
	int rc = push_ingest_text(p, body, len, fmt, segment_now_real_ms(), p->st->cfg.push_wait_ms, &err);
	if (rc == 0) {
		httpd_reply(req, 204, NULL, NULL, 0);
	} else if (rc == -EINVAL) {
		ctl_add(p->st->slot, CTL_C_BAD_REQUESTS, 1);
		httpd_error(req, 400, "bad_data", "line %u, column %u: %s", err.line, err.column, err.msg);
	} else if (rc == -ETIMEDOUT || rc == -EAGAIN) {
		ctl_add(p->st->slot, CTL_C_REJECTED, 1);
		httpd_error(req, 503, "unavailable", "ingestion rings are full; retry later");
	} else {
		log_error("import failed: %s", strerror(-rc));
		httpd_error(req, 500, "internal", "%s", strerror(-rc));
	}
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
	p->router = router;
	p->http = http;
	router_batch_init(&p->batch, router->naggr);
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
	router_batch_free(&p->batch);
	free(p->inflate_buf);
	p->inflate_buf = NULL;
}
