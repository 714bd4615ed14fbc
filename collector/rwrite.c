/* rwrite: see rwrite.h.
 *
 * Sections: UTF-8 and label checks; decoding one TimeSeries; decoding the
 * WriteRequest; the HTTP handler; init/fini.
 *
 * Decoding walks each TimeSeries twice: first its labels (validated, kept as
 * pointers into the body, which outlives the request), then its samples, so
 * field order on the wire does not matter. The first sample of a series
 * builds the canonical key through ingest_add (which adds the extra labels);
 * the later ones copy that key (router_add_key), so a series of 10 samples
 * builds and sorts its key once. Series and label indexes in messages count
 * from 0, in wire order.
 */
#include "collector/rwrite.h"

#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httpd.h"
#include "common/log.h"
#include "common/pb.h"
#include "common/textparse.h"
#include "shm/segment.h"

#define RWRITE_WARN_EVERY_MS 60000

/* ---- UTF-8 and label checks ---- */

/* Returns 1 when s[len] is valid UTF-8 as Go's utf8.Valid defines it (no
 * overlong forms, no surrogates, nothing past U+10FFFF), else 0. */
static int rwrite_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		/* ASCII fast path, 8 bytes at a time. */
		if (len - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (!(w & 0x8080808080808080ull)) {
				i += 8;
				continue;
			}
		}
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* past U+10FFFF */
		} else {
			return 0;
		}
		if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k < n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return 0;
		i += n;
	}
	return 1;
}

/* Writes s[len] into out[cap] as printable ASCII for an error message:
 * quotes, backslashes and bytes outside 0x20..0x7e become \xNN, and a long
 * string is cut with "...". Returns out. */
static const char *rwrite_quote(char *out, size_t cap, const char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (o + 8 >= cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
	return out;
}

static int rwrite_is_name_label(const struct series_label *l)
{
	return l->name_len == 8 && memcmp(l->name, "__name__", 8) == 0;
}

static int rwrite_name_cmp(const struct series_label *a, const struct series_label *b)
{
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int c = memcmp(a->name, b->name, n);
	if (c)
		return c;
	return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

/* Index of the second occurrence of a repeated label name, or -1. Senders
 * send labels sorted (the spec says they must), so one pass proves most
 * sets unique; unsorted sets get the quadratic check. */
static long rwrite_find_duplicate(const struct series_label *l, size_t n)
{
	size_t i;
	for (i = 1; i < n; i++)
		if (rwrite_name_cmp(&l[i - 1], &l[i]) >= 0)
			break;
	if (i >= n)
		return -1;
	for (i = 1; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (rwrite_name_cmp(&l[j], &l[i]) == 0)
				return (long)i;
	return -1;
}

/* ---- decoding one TimeSeries ---- */

struct rwrite_ctx {
	struct rwrite *rw;
	const uint8_t *base;     /* the whole request, for byte offsets */
	struct rwrite_stats *stats;
	char *why;
	size_t why_len;
};

static int rwrite_fail(struct rwrite_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes the reason and returns -EINVAL. */
static int rwrite_fail(struct rwrite_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, c->why_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *rwrite_wire_name(enum pb_wire w)
{
	switch (w) {
	case PB_VARINT: return "varint";
	case PB_I64: return "fixed64";
	case PB_LEN: return "length-delimited";
	case PB_I32: return "fixed32";
	}
	return "?";
}

/* Decodes Label message bytes into *l (pointers into the body). Returns 0 or
 * -EINVAL (message in c->why, naming series ts_i and label l_i). */
static int rwrite_label(struct rwrite_ctx *c, size_t ts_i, size_t l_i, const struct pb_field *lf,
			struct series_label *l)
{
	struct pb_reader r;
	struct pb_field f;
	int rc;
	memset(l, 0, sizeof(*l));
	pb_init(&r, lf->data, lf->len);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num != 1 && f.num != 2)
			continue;
		if (f.wire != PB_LEN)
			return rwrite_fail(c, "timeseries %zu: label %zu: field %u has wire type %s, "
					   "want length-delimited", ts_i, l_i, f.num, rwrite_wire_name(f.wire));
		if (f.num == 1) {
			l->name = (const char *)f.data;
			l->name_len = f.len;
		} else {
			l->value = (const char *)f.data;
			l->value_len = f.len;
		}
	}
	if (rc < 0)
		return rwrite_fail(c, "timeseries %zu: label %zu: malformed protobuf in label at byte %zu", ts_i, l_i,
				   (size_t)(r.p - c->base));
	if (!l->value)
		l->value = "";
	char q[80];
	if (l->name_len == 0)
		return rwrite_fail(c, "timeseries %zu: label %zu: label without a name", ts_i, l_i);
	if (!textparse_valid_label_name(l->name, l->name_len))
		return rwrite_fail(c, "timeseries %zu: label %zu: invalid label name \"%s\"", ts_i, l_i,
				   rwrite_quote(q, sizeof(q), l->name, l->name_len));
	if (rwrite_is_name_label(l) && l->value_len && !textparse_valid_metric_name(l->value, l->value_len))
		return rwrite_fail(c, "timeseries %zu: label %zu: invalid metric name \"%s\"", ts_i, l_i,
				   rwrite_quote(q, sizeof(q), l->value, l->value_len));
	if (!rwrite_utf8_valid((const uint8_t *)l->value, l->value_len))
		return rwrite_fail(c, "timeseries %zu: label %zu: value of label \"%s\" is not valid UTF-8", ts_i,
				   l_i, rwrite_quote(q, sizeof(q), l->name, l->name_len));
	return 0;
}

/* Decodes Sample message bytes. Absent fields are 0, as in proto3. */
static int rwrite_sample(struct rwrite_ctx *c, size_t ts_i, size_t s_i, const struct pb_field *sf,
			 double *value, int64_t *ts_ms)
{
	struct pb_reader r;
	struct pb_field f;
	int rc;
	*value = 0;
	*ts_ms = 0;
	pb_init(&r, sf->data, sf->len);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num == 1) {
			if (f.wire != PB_I64)
				return rwrite_fail(c, "timeseries %zu: sample %zu: value has wire type %s, want fixed64",
						   ts_i, s_i, rwrite_wire_name(f.wire));
			*value = pb_double(&f);
		} else if (f.num == 2) {
			if (f.wire != PB_VARINT)
				return rwrite_fail(c, "timeseries %zu: sample %zu: timestamp has wire type %s, want varint",
						   ts_i, s_i, rwrite_wire_name(f.wire));
			*ts_ms = (int64_t)f.u;
		}
	}
	if (rc < 0)
		return rwrite_fail(c, "timeseries %zu: sample %zu: malformed protobuf at byte %zu", ts_i, s_i,
				   (size_t)(r.p - c->base));
	return 0;
}

/* Reason for an ingest_add failure that the checks above did not catch. */
static int rwrite_add_error(struct rwrite_ctx *c, size_t ts_i, int rc)
{
	if (rc == -ENOMEM) {
		snprintf(c->why, c->why_len, "out of memory");
		return -ENOMEM;
	}
	if (rc == -E2BIG)
		return rwrite_fail(c, "timeseries %zu: series too large (a name or value over %u bytes, "
				   "more than %u labels or a key over %u bytes)",
				   ts_i, SERIES_LABEL_MAX, SERIES_MAX_LABELS, SERIES_KEY_MAX);
	return rwrite_fail(c, "timeseries %zu: invalid label set", ts_i);
}

/* Decodes one TimeSeries and adds its samples to the batch. */
static int rwrite_series(struct rwrite_ctx *c, size_t ts_i, const uint8_t *data, size_t len)
{
	struct series_label labels[RWRITE_MAX_LABELS];
	size_t nl = 0, nsamples = 0;
	int has_name = 0;
	struct pb_reader r;
	struct pb_field f;
	int rc;

	/* Pass 1: labels; count the rest. */
	pb_init(&r, data, len);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num < 1 || f.num > 4)
			continue;
		if (f.wire != PB_LEN)
			return rwrite_fail(c, "timeseries %zu: field %u has wire type %s, want length-delimited", ts_i,
					   f.num, rwrite_wire_name(f.wire));
		switch (f.num) {
		case 1:
			if (nl == RWRITE_MAX_LABELS)
				return rwrite_fail(c, "timeseries %zu: more than %u labels", ts_i, RWRITE_MAX_LABELS);
			if ((rc = rwrite_label(c, ts_i, nl, &f, &labels[nl])) != 0)
				return rc;
			if (rwrite_is_name_label(&labels[nl]) && labels[nl].value_len)
				has_name = 1;
			nl++;
			break;
		case 2:
			nsamples++;
			break;
		case 3:
			c->stats->exemplars++;
			break;
		case 4:
			c->stats->histograms++;
			break;
		}
	}
	if (rc < 0)
		return rwrite_fail(c, "timeseries %zu: malformed protobuf at byte %zu", ts_i, (size_t)(r.p - c->base));
	if (!has_name)
		return rwrite_fail(c, "timeseries %zu: no __name__ label", ts_i);
	long dup = rwrite_find_duplicate(labels, nl);
	if (dup >= 0) {
		char q[80];
		return rwrite_fail(c, "timeseries %zu: label %ld: duplicate label name \"%s\"", ts_i, dup,
				   rwrite_quote(q, sizeof(q), labels[dup].name, labels[dup].name_len));
	}
	c->stats->series++;
	if (!nsamples)
		return 0;

	/* Pass 2: samples. */
	struct ingest *in = &c->rw->in;
	size_t key_len = 0, s_i = 0;
	pb_init(&r, data, len);
	while (pb_next(&r, &f) == 1) {
		if (f.num != 2)
			continue;
		double v;
		int64_t ts;
		if ((rc = rwrite_sample(c, ts_i, s_i, &f, &v, &ts)) != 0)
			return rc;
		if (s_i == 0) {
			rc = ingest_add(in, NULL, 0, labels, nl, ts, v);
			if (rc)
				return rwrite_add_error(c, ts_i, rc);
			const struct router_sample *last = &in->batch.s[in->batch.n - 1];
			key_len = last->key_len;
			memcpy(c->rw->key, in->batch.keys + last->key_off, key_len);
		} else {
			rc = router_add_key(&in->batch, c->rw->key, key_len, ts, v);
			if (rc)
				return rwrite_add_error(c, ts_i, rc);
		}
		s_i++;
	}
	c->stats->samples += s_i;
	return 0;
}

/* ---- the WriteRequest ---- */

int rwrite_decode(struct rwrite *rw, const uint8_t *buf, size_t len, struct rwrite_stats *stats,
		  char *why, size_t why_len)
{
	struct rwrite_ctx c = {.rw = rw, .base = buf, .stats = stats, .why = why, .why_len = why_len};
	struct pb_reader r;
	struct pb_field f;
	size_t ts_i = 0;
	int rc;
	memset(stats, 0, sizeof(*stats));
	if (why_len)
		why[0] = '\0';
	ingest_reset(&rw->in);
	pb_init(&r, buf, len);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num != 1)
			continue; /* 3 metadata; unknown fields */
		if (f.wire != PB_LEN) {
			rc = rwrite_fail(&c, "timeseries %zu: wire type %s, want length-delimited", ts_i,
					 rwrite_wire_name(f.wire));
			goto fail;
		}
		if ((rc = rwrite_series(&c, ts_i, f.data, f.len)) != 0)
			goto fail;
		ts_i++;
	}
	if (rc < 0) {
		rc = rwrite_fail(&c, "malformed protobuf at byte %zu (after %zu timeseries)",
				 (size_t)(r.p - buf), ts_i);
		goto fail;
	}
	return 0;
fail:
	ingest_reset(&rw->in);
	return rc;
}

/* Counts skipped histograms and warns at most once a minute. */
static void rwrite_note_histograms(struct rwrite *rw, uint64_t n)
{
	if (!n)
		return;
	rw->histograms_skipped += n;
	uint64_t now = segment_now_mono_ms();
	if (rw->last_warn_ms && now - rw->last_warn_ms < RWRITE_WARN_EVERY_MS)
		return;
	log_warn("remote write: skipped %llu native histogram sample(s) (%llu since start): "
		 "mcs stores float samples only; send classic histograms",
		 (unsigned long long)(rw->histograms_skipped - rw->histograms_logged),
		 (unsigned long long)rw->histograms_skipped);
	rw->histograms_logged = rw->histograms_skipped;
	rw->last_warn_ms = now;
}

int rwrite_ingest(struct rwrite *rw, const uint8_t *buf, size_t len, int wait_ms,
		  struct rwrite_stats *stats, char *why, size_t why_len)
{
	int rc = rwrite_decode(rw, buf, len, stats, why, why_len);
	if (rc)
		return rc;
	rc = ingest_commit(&rw->in, wait_ms);
	if (rc == 0)
		rwrite_note_histograms(rw, stats->histograms);
	return rc;
}

/* ---- HTTP ---- */

/* 0 when the Content-Type is remote write 1.0 (or absent), else replied 415
 * and returns -1. */
static int rwrite_check_type(struct rwrite *rw, struct evhttp_request *req)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (!ct)
		return 0;
	const char *proto = strcasestr(ct, "proto=");
	if (proto) {
		proto += 6;
		if (strncmp(proto, "prometheus.WriteRequest", 23) == 0)
			return 0;
		ctl_add(rw->st->slot, CTL_C_BAD_REQUESTS, 1);
		if (strncmp(proto, "io.prometheus.write.v2.Request", 30) == 0)
			httpd_error(req, 415, "bad_data",
				    "remote write 2.0 (io.prometheus.write.v2.Request) is not supported; "
				    "configure the sender for remote write 1.0 (prometheus.WriteRequest)");
		else
			httpd_error(req, 415, "bad_data", "unsupported protobuf message in Content-Type \"%s\"", ct);
		return -1;
	}
	if (strncasecmp(ct, "application/x-protobuf", 22) == 0 || strncasecmp(ct, "application/octet-stream", 24) == 0)
		return 0;
	ctl_add(rw->st->slot, CTL_C_BAD_REQUESTS, 1);
	httpd_error(req, 415, "bad_data",
		    "unsupported Content-Type \"%s\": remote write takes application/x-protobuf", ct);
	return -1;
}

static void rwrite_on_write(struct evhttp_request *req, void *arg)
{
	struct rwrite *rw = arg;
	ctl_add(rw->st->slot, CTL_C_REQUESTS, 1);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST && evhttp_request_get_command(req) != EVHTTP_REQ_PUT) {
		ctl_add(rw->st->slot, CTL_C_BAD_REQUESTS, 1);
		httpd_error(req, 405, "bad_data", "use POST with a snappy-compressed prometheus.WriteRequest");
		return;
	}
	if (rwrite_check_type(rw, req) != 0)
		return;
	const char *body;
	size_t len;
	if (ingest_read_body(&rw->in, req, 1, &body, &len) != 0)
		return;
	struct rwrite_stats stats;
	char why[256];
	int rc = rwrite_ingest(rw, (const uint8_t *)body, len, rw->st->cfg.push_wait_ms, &stats, why, sizeof(why));
	if (rc == -EINVAL)
		ingest_reply_bad(&rw->in, req, "%s", why);
	else
		ingest_reply_commit(&rw->in, req, rc, 204);
}

/* ---- init/fini ---- */

int rwrite_init(struct rwrite *rw, struct stage *st, struct router *router, struct evhttp *http)
{
	memset(rw, 0, sizeof(*rw));
	rw->st = st;
	ingest_init(&rw->in, st, router);
	if (evhttp_set_cb(http, RWRITE_PATH, rwrite_on_write, rw) != 0)
		return -ENOMEM;
	return 0;
}

void rwrite_fini(struct rwrite *rw)
{
	ingest_fini(&rw->in);
}
