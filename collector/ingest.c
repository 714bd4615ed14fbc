/* ingest: see ingest.h. */
#include "collector/ingest.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "common/httpd.h"
#include "common/log.h"

int ingest_init(struct ingest *in, struct stage *st, struct router *router)
{
	memset(in, 0, sizeof(*in));
	in->st = st;
	in->router = router;
	router_batch_init(&in->batch, router->naggr);
	return 0;
}

static void ingest_extra_free(struct ingest *in)
{
	for (size_t i = 0; i < in->nextra; i++) {
		free((char *)in->extra[i].name);
		free((char *)in->extra[i].value);
	}
	in->nextra = 0;
}

void ingest_fini(struct ingest *in)
{
	ingest_extra_free(in);
	router_batch_free(&in->batch);
	free(in->body);
	in->body = NULL;
}

int ingest_set_extra(struct ingest *in, const struct series_label *l, size_t n)
{
	if (n > INGEST_MAX_EXTRA)
		return -E2BIG;
	ingest_extra_free(in);
	for (size_t i = 0; i < n; i++) {
		char *name = strndup(l[i].name, l[i].name_len);
		char *value = strndup(l[i].value, l[i].value_len);
		if (!name || !value) {
			free(name);
			free(value);
			return -ENOMEM;
		}
		in->extra[i] = (struct series_label){name, l[i].name_len, value, l[i].value_len};
		in->nextra = i + 1;
	}
	return 0;
}

void ingest_reset(struct ingest *in)
{
	router_batch_reset(&in->batch);
	in->rejected = 0;
}

int ingest_add(struct ingest *in, const char *name, size_t name_len,
	       struct series_label *labels, size_t nlabels, int64_t ts_ms, double value)
{
	if (!in->nextra)
		return router_add(&in->batch, name, name_len, labels, nlabels, ts_ms, value);
	struct series_label all[INGEST_MAX_LABELS];
	if (nlabels + in->nextra > INGEST_MAX_LABELS)
		return -E2BIG;
	memcpy(all, labels, nlabels * sizeof(*labels));
	size_t n = nlabels;
	for (size_t e = 0; e < in->nextra; e++) {
		size_t i;
		for (i = 0; i < nlabels; i++)
			if (labels[i].name_len == in->extra[e].name_len &&
			    memcmp(labels[i].name, in->extra[e].name, labels[i].name_len) == 0)
				break;
		if (i == nlabels)
			all[n++] = in->extra[e];
	}
	return router_add(&in->batch, name, name_len, all, n, ts_ms, value);
}

int ingest_commit(struct ingest *in, int wait_ms)
{
	size_t n = in->batch.n;
	int rc = router_commit(in->router, &in->batch, wait_ms);
	if (rc == 0) {
		ctl_add(in->st->slot, CTL_C_SAMPLES_IN, n);
		ctl_add(in->st->slot, CTL_C_SAMPLES_OUT, n);
	}
	router_batch_reset(&in->batch);
	return rc;
}

/* Makes room for `need` bytes of decoded body. */
static int ingest_body_room(struct ingest *in, size_t need)
{
	if (in->body_cap >= need)
		return 0;
	size_t nc = in->body_cap ? in->body_cap : 1u << 20;
	while (nc < need)
		nc *= 2;
	uint8_t *nb = realloc(in->body, nc);
	if (!nb)
		return -ENOMEM;
	in->body = nb;
	in->body_cap = nc;
	return 0;
}

/* Inflates gzip into in->body, at most `limit` bytes. Returns the length,
 * -EFBIG past the limit, -EINVAL for a bad stream, -ENOMEM. */
static long ingest_gunzip(struct ingest *in, const uint8_t *src, size_t len, size_t limit)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)src;
	z.avail_in = (uInt)len;
	size_t out = 0;
	int zr;
	do {
		if (in->body_cap - out < 65536 && ingest_body_room(in, in->body_cap + 65536) != 0) {
			inflateEnd(&z);
			return -ENOMEM;
		}
		z.next_out = in->body + out;
		z.avail_out = (uInt)(in->body_cap - out);
		zr = inflate(&z, Z_NO_FLUSH);
		out = in->body_cap - z.avail_out;
		if (out > limit) {
			inflateEnd(&z);
			return -EFBIG;
		}
		if (zr == Z_BUF_ERROR && z.avail_in == 0)
			break;
	} while (zr == Z_OK || (zr == Z_BUF_ERROR && z.avail_out == 0));
	inflateEnd(&z);
	return zr == Z_STREAM_END ? (long)out : -EINVAL;
}

/* Uncompresses a snappy block into in->body. */
static long ingest_unsnappy(struct ingest *in, const uint8_t *src, size_t len, size_t limit)
{
	size_t out;
	if (snappy_uncompressed_length((const char *)src, len, &out) != SNAPPY_OK)
		return -EINVAL;
	if (out > limit)
		return -EFBIG;
	if (ingest_body_room(in, out + 1) != 0)
		return -ENOMEM;
	if (snappy_uncompress((const char *)src, len, (char *)in->body, &out) != SNAPPY_OK)
		return -EINVAL;
	return (long)out;
}

int ingest_read_body(struct ingest *in, struct evhttp_request *req, int snappy_default,
		     const char **body, size_t *len)
{
	struct evkeyvalq *hdr = evhttp_request_get_input_headers(req);
	struct evbuffer *buf = evhttp_request_get_input_buffer(req);
	size_t raw_len = evbuffer_get_length(buf);
	const uint8_t *raw = raw_len ? evbuffer_pullup(buf, -1) : (const uint8_t *)"";
	size_t limit = (size_t)in->st->cfg.max_body_bytes;
	const char *enc = evhttp_find_header(hdr, "Content-Encoding");
	long n;
	if (!enc && snappy_default)
		enc = "snappy";
	if (!enc || strcasecmp(enc, "identity") == 0) {
		*body = (const char *)raw;
		*len = raw_len;
		return 0;
	}
	if (strcasecmp(enc, "gzip") == 0) {
		n = ingest_gunzip(in, raw, raw_len, limit);
	} else if (strcasecmp(enc, "snappy") == 0) {
		n = ingest_unsnappy(in, raw, raw_len, limit);
	} else {
		ctl_add(in->st->slot, CTL_C_BAD_REQUESTS, 1);
		httpd_error(req, 415, "bad_data", "unsupported Content-Encoding \"%s\"", enc);
		return -1;
	}
	if (n == -EFBIG) {
		ctl_add(in->st->slot, CTL_C_BAD_REQUESTS, 1);
		httpd_error(req, 413, "bad_data", "decompressed body larger than %zu bytes", limit);
		return -1;
	}
	if (n < 0) {
		ctl_add(in->st->slot, CTL_C_BAD_REQUESTS, 1);
		httpd_error(req, 400, "bad_data", "body is not valid %s", enc);
		return -1;
	}
	*body = (const char *)in->body;
	*len = (size_t)n;
	return 0;
}

void ingest_reply_commit(struct ingest *in, struct evhttp_request *req, int rc, int ok_code)
{
	if (rc == 0) {
		httpd_reply(req, ok_code, NULL, NULL, 0);
	} else if (rc == -ETIMEDOUT || rc == -EAGAIN) {
		ctl_add(in->st->slot, CTL_C_REJECTED, 1);
		httpd_error(req, 503, "unavailable", "ingestion rings are full; retry later");
	} else {
		log_error("commit failed: %s", strerror(-rc));
		httpd_error(req, 500, "internal", "%s", strerror(-rc));
	}
}

void ingest_reply_bad(struct ingest *in, struct evhttp_request *req, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_add(in->st->slot, CTL_C_BAD_REQUESTS, 1);
	httpd_error(req, 400, "bad_data", "%s", msg);
}
