/* otlppb: see otlppb.h. Field numbers are those of opentelemetry-proto
 * v1 (noted next to each use). Every function returns 0, -EINVAL through
 * otlp_bad (naming the message and field), or -ENOMEM. */
#include "collector/otlppb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/otlp_pvt.h"
#include "common/pb.h"

/* A growable text buffer for JSON renderings of array/kvlist values. */
struct otlppb_buf {
	char *p;
	size_t n, cap;
	int oom;
};

static void otlppb_put(struct otlppb_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->n < n + 1) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		while (nc - b->n < n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void otlppb_put_json_str(struct otlppb_buf *b, const char *s, size_t n)
{
	otlppb_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			otlppb_put(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			otlppb_put(b, esc, 6);
		} else {
			otlppb_put(b, s + i, 1);
		}
	}
	otlppb_put(b, "\"", 1);
}

static int otlppb_json_any(struct otlp_req *q, const uint8_t *d, size_t n, struct otlppb_buf *b, int depth);

/* KeyValue {1 key, 2 value} as "key":value. */
static int otlppb_json_kv(struct otlp_req *q, const uint8_t *d, size_t n, struct otlppb_buf *b, int depth)
{
	struct pb_reader r;
	struct pb_field f;
	const uint8_t *key = NULL, *val = NULL;
	size_t klen = 0, vlen = 0;
	int rc;
	pb_init(&r, d, n);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.wire == PB_LEN) {
			key = f.data;
			klen = f.len;
		} else if (f.num == 2 && f.wire == PB_LEN) {
			val = f.data;
			vlen = f.len;
		}
	}
	if (rc < 0)
		return otlp_bad(q, "KeyValue: malformed protobuf");
	otlppb_put_json_str(b, key ? (const char *)key : "", klen);
	otlppb_put(b, ":", 1);
	return otlppb_json_any(q, val ? val : (const uint8_t *)"", vlen, b, depth + 1);
}

/* AnyValue as JSON (the form Prometheus gives arrays and maps). */
static int otlppb_json_any(struct otlp_req *q, const uint8_t *d, size_t n, struct otlppb_buf *b, int depth)
{
	struct pb_reader r;
	struct pb_field f;
	char num[64];
	int rc, any = 0;
	if (depth > OTLP_MAX_DEPTH)
		return otlp_bad(q, "AnyValue: nested deeper than %d", OTLP_MAX_DEPTH);
	pb_init(&r, d, n);
	while ((rc = pb_next(&r, &f)) == 1) {
		any = 1;
		if (f.num == 1 && f.wire == PB_LEN) {                 /* string_value */
			otlppb_put_json_str(b, (const char *)f.data, f.len);
		} else if (f.num == 2 && f.wire == PB_VARINT) {       /* bool_value */
			otlppb_put(b, f.u ? "true" : "false", f.u ? 4 : 5);
		} else if (f.num == 3 && f.wire == PB_VARINT) {       /* int_value */
			otlppb_put(b, num, (size_t)snprintf(num, sizeof(num), "%" PRId64, (int64_t)f.u));
		} else if (f.num == 4 && f.wire == PB_I64) {          /* double_value */
			double v = pb_double(&f);
			int l = otlp_fmt_double(num, sizeof(num), v);
			if (v != v || v - v != 0)
				otlppb_put_json_str(b, num, (size_t)l);
			else
				otlppb_put(b, num, (size_t)l);
		} else if ((f.num == 5 || f.num == 6) && f.wire == PB_LEN) { /* array_value, kvlist_value */
			struct pb_reader ar;
			struct pb_field af;
			int first = 1;
			otlppb_put(b, f.num == 5 ? "[" : "{", 1);
			pb_init(&ar, f.data, f.len);
			while ((rc = pb_next(&ar, &af)) == 1) {
				if (af.num != 1 || af.wire != PB_LEN)
					continue;
				if (!first)
					otlppb_put(b, ",", 1);
				first = 0;
				rc = f.num == 5 ? otlppb_json_any(q, af.data, af.len, b, depth + 1)
						: otlppb_json_kv(q, af.data, af.len, b, depth + 1);
				if (rc)
					return rc;
			}
			if (rc < 0)
				return otlp_bad(q, "AnyValue: malformed array or kvlist");
			otlppb_put(b, f.num == 5 ? "]" : "}", 1);
		} else if (f.num == 7 && f.wire == PB_LEN) {          /* bytes_value */
			size_t bl;
			char *s = otlp_base64(&q->o->arena, f.data, f.len, &bl);
			if (!s)
				return -ENOMEM;
			otlppb_put_json_str(b, s, bl);
		} else {
			any = 0;
			continue;
		}
		break; /* a oneof: the first set member */
	}
	if (rc < 0)
		return otlp_bad(q, "AnyValue: malformed protobuf");
	if (!any)
		otlppb_put(b, "null", 4);
	return b->oom ? -ENOMEM : 0;
}

/* AnyValue rendered as a label value into *val (pointing into the body
 * for strings, into the arena otherwise). */
static int otlppb_any_str(struct otlp_req *q, const uint8_t *d, size_t n, const char **val, size_t *vlen)
{
	struct pb_reader r;
	struct pb_field f, last = {0};
	char num[64];
	int rc, have = 0;
	*val = "";
	*vlen = 0;
	pb_init(&r, d, n);
	while ((rc = pb_next(&r, &f)) == 1)
		if (f.num >= 1 && f.num <= 7) {
			last = f; /* the last member of the oneof on the wire wins */
			have = 1;
		}
	if (rc < 0)
		return otlp_bad(q, "AnyValue: malformed protobuf");
	if (!have)
		return 0;
	f = last;
	int l = -1;
	switch (f.num) {
	case 1:
		if (f.wire != PB_LEN)
			break;
		*val = (const char *)f.data;
		*vlen = f.len;
		return 0;
	case 2:
		if (f.wire == PB_VARINT)
			l = snprintf(num, sizeof(num), "%s", f.u ? "true" : "false");
		break;
	case 3:
		if (f.wire == PB_VARINT)
			l = snprintf(num, sizeof(num), "%" PRId64, (int64_t)f.u);
		break;
	case 4:
		if (f.wire == PB_I64)
			l = otlp_fmt_double(num, sizeof(num), pb_double(&f));
		break;
	case 7:
		if (f.wire != PB_LEN)
			break;
		*val = otlp_base64(&q->o->arena, f.data, f.len, vlen);
		return *val ? 0 : -ENOMEM;
	default: {
		if (f.wire != PB_LEN)
			break;
		struct otlppb_buf b = {0};
		rc = otlppb_json_any(q, d, n, &b, 0);
		if (rc == 0) {
			*val = otlp_strdup(&q->o->arena, b.p ? b.p : "", b.n);
			*vlen = b.n;
			rc = *val ? 0 : -ENOMEM;
		}
		free(b.p);
		return rc;
	}
	}
	if (l < 0)
		return otlp_bad(q, "AnyValue: field %u has the wrong wire type", f.num);
	*val = otlp_strdup(&q->o->arena, num, (size_t)l);
	*vlen = (size_t)l;
	return *val ? 0 : -ENOMEM;
}

/* KeyValue {1 key, 2 value} appended to q->o->attrs. */
static int otlppb_attr(struct otlp_req *q, const struct pb_field *kvf)
{
	struct pb_reader r;
	struct pb_field f;
	struct otlp_kv kv = {"", 0, "", 0};
	int rc;
	if (kvf->wire != PB_LEN)
		return otlp_bad(q, "attributes: wrong wire type");
	pb_init(&r, kvf->data, kvf->len);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num == 1) {
			if (f.wire != PB_LEN)
				return otlp_bad(q, "KeyValue.key: wrong wire type");
			kv.key = (const char *)f.data;
			kv.key_len = f.len;
		} else if (f.num == 2) {
			if (f.wire != PB_LEN)
				return otlp_bad(q, "KeyValue.value: wrong wire type");
			if ((rc = otlppb_any_str(q, f.data, f.len, &kv.val, &kv.val_len)))
				return rc;
		}
	}
	if (rc < 0)
		return otlp_bad(q, "KeyValue: malformed protobuf");
	return otlp_vec_push(&q->o->attrs, &kv, sizeof(kv));
}

/* A repeated fixed64/double field, packed or not, appended to v. */
static int otlppb_fixed64s(struct otlp_req *q, const struct pb_field *f, struct otlp_vec *v, const char *what)
{
	if (f->wire == PB_I64)
		return otlp_vec_push(v, &f->u, 8);
	if (f->wire != PB_LEN || f->len % 8)
		return otlp_bad(q, "%s: wrong wire type or length", what);
	for (size_t i = 0; i < f->len; i += 8) {
		uint64_t u;
		memcpy(&u, f->data + i, 8);
		if (otlp_vec_push(v, &u, 8) != 0)
			return -ENOMEM;
	}
	return 0;
}

/* A repeated uint64 (varint) field, packed or not, appended to v. */
static int otlppb_varints(struct otlp_req *q, const struct pb_field *f, struct otlp_vec *v, const char *what)
{
	if (f->wire == PB_VARINT)
		return otlp_vec_push(v, &f->u, 8);
	if (f->wire != PB_LEN)
		return otlp_bad(q, "%s: wrong wire type", what);
	for (size_t off = 0; off < f->len;) {
		uint64_t u;
		if (pb_varint(f->data, f->len, &off, &u) != 0)
			return otlp_bad(q, "%s: malformed packed varints", what);
		if (otlp_vec_push(v, &u, 8) != 0)
			return -ENOMEM;
	}
	return 0;
}

/* ExponentialHistogramDataPoint.Buckets {1 offset sint32, 2 bucket_counts}. */
static int otlppb_exp_buckets(struct otlp_req *q, const struct pb_field *bf, int64_t *offset, struct otlp_vec *v)
{
	struct pb_reader r;
	struct pb_field f;
	int rc;
	if (bf->wire != PB_LEN)
		return otlp_bad(q, "ExponentialHistogramDataPoint buckets: wrong wire type");
	pb_init(&r, bf->data, bf->len);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num == 1) {
			if (f.wire != PB_VARINT)
				return otlp_bad(q, "Buckets.offset: wrong wire type");
			*offset = (int32_t)pb_sint64(f.u);
		} else if (f.num == 2 && (rc = otlppb_varints(q, &f, v, "Buckets.bucket_counts"))) {
			return rc;
		}
	}
	return rc < 0 ? otlp_bad(q, "Buckets: malformed protobuf") : 0;
}

/* One data point of q->kind (field numbers per message type). */
static int otlppb_point(struct otlp_req *q, const uint8_t *d, size_t n)
{
	struct otlp *o = q->o;
	struct otlp_point p;
	struct pb_reader r;
	struct pb_field f;
	int rc = 0;
	memset(&p, 0, sizeof(p));
	o->attrs.n = o->u64a.n = o->u64b.n = o->dbl.n = 0;
	int kind = q->kind;
	/* attributes: 7 (number, summary), 9 (histogram), 1 (exponential) */
	uint32_t attr_num = kind == OTLP_KIND_HISTOGRAM ? 9 : kind == OTLP_KIND_EXPHIST ? 1 : 7;
	uint32_t flags_num = kind == OTLP_KIND_GAUGE || kind == OTLP_KIND_SUM || kind == OTLP_KIND_SUMMARY ? 8 : 10;
	pb_init(&r, d, n);
	while ((rc = pb_next(&r, &f)) == 1) {
		int bad_wire = 0;
		if (f.num == attr_num) {
			if ((rc = otlppb_attr(q, &f)))
				return rc;
		} else if (f.num == 3) {                          /* time_unix_nano */
			bad_wire = f.wire != PB_I64;
			p.time_ns = f.u;
		} else if (f.num == flags_num) {
			bad_wire = f.wire != PB_VARINT;
			p.flags = (uint32_t)f.u;
		} else if (f.num == 2) {                          /* start_time_unix_nano */
			bad_wire = f.wire != PB_I64;
		} else if (kind == OTLP_KIND_GAUGE || kind == OTLP_KIND_SUM) {
			if (f.num == 4 || f.num == 6) {           /* as_double, as_int (sfixed64) */
				bad_wire = f.wire != PB_I64;
				p.value = f.num == 4 ? pb_double(&f) : (double)(int64_t)f.u;
				p.has_value = 1;
			}
		} else if (f.num == 4) {                          /* count (fixed64) */
			bad_wire = f.wire != PB_I64;
			p.count = f.u;
		} else if (f.num == 5) {                          /* sum */
			bad_wire = f.wire != PB_I64;
			p.sum = pb_double(&f);
			p.has_sum = 1;
		} else if (kind == OTLP_KIND_HISTOGRAM && f.num == 6) {
			if ((rc = otlppb_fixed64s(q, &f, &o->u64a, "HistogramDataPoint.bucket_counts")))
				return rc;
		} else if (kind == OTLP_KIND_HISTOGRAM && f.num == 7) {
			if ((rc = otlppb_fixed64s(q, &f, &o->dbl, "HistogramDataPoint.explicit_bounds")))
				return rc;
		} else if (kind == OTLP_KIND_SUMMARY && f.num == 6) { /* quantile_values */
			struct pb_reader qr;
			struct pb_field qf;
			double qv[2] = {0, 0};
			if (f.wire != PB_LEN)
				return otlp_bad(q, "SummaryDataPoint.quantile_values: wrong wire type");
			pb_init(&qr, f.data, f.len);
			while ((rc = pb_next(&qr, &qf)) == 1) {
				if (qf.num != 1 && qf.num != 2)
					continue;
				if (qf.wire != PB_I64)
					return otlp_bad(q, "ValueAtQuantile: wrong wire type");
				qv[qf.num - 1] = pb_double(&qf);
			}
			if (rc < 0)
				return otlp_bad(q, "ValueAtQuantile: malformed protobuf");
			if (otlp_vec_push(&o->dbl, &qv[0], 8) || otlp_vec_push(&o->dbl, &qv[1], 8))
				return -ENOMEM;
		} else if (kind == OTLP_KIND_EXPHIST) {
			if (f.num == 6) {                         /* scale, sint32 */
				bad_wire = f.wire != PB_VARINT;
				int64_t s = pb_sint64(f.u);
				p.scale = s < -1000 ? -1000 : s > 1000 ? 1000 : (int32_t)s;
			} else if (f.num == 7) {                  /* zero_count, fixed64 */
				bad_wire = f.wire != PB_I64;
				p.zero_count = f.u;
			} else if (f.num == 14) {                 /* zero_threshold */
				bad_wire = f.wire != PB_I64;
				p.zero_threshold = pb_double(&f);
			} else if (f.num == 8 || f.num == 9) {    /* positive, negative */
				if ((rc = otlppb_exp_buckets(q, &f, f.num == 8 ? &p.pos_offset : &p.neg_offset,
							     f.num == 8 ? &o->u64a : &o->u64b)))
					return rc;
			}
		}
		if (bad_wire)
			return otlp_bad(q, "data point field %u: wrong wire type", f.num);
	}
	if (rc < 0)
		return otlp_bad(q, "data point: malformed protobuf");
	p.attrs = o->attrs.p;
	p.nattrs = o->attrs.n;
	if (kind == OTLP_KIND_HISTOGRAM) {
		p.buckets = o->u64a.p;
		p.nbuckets = o->u64a.n;
		p.bounds = o->dbl.p;
		p.nbounds = o->dbl.n;
	} else if (kind == OTLP_KIND_SUMMARY) {
		p.quantiles = o->dbl.p;
		p.nquantiles = o->dbl.n / 2;
	} else if (kind == OTLP_KIND_EXPHIST) {
		p.pos = o->u64a.p;
		p.npos = o->u64a.n;
		p.neg = o->u64b.p;
		p.nneg = o->u64b.n;
	}
	return otlp_point_add(q, &p);
}

/* Gauge/Sum/Histogram/ExponentialHistogram/Summary: 1 data_points,
 * 2 aggregation_temporality, 3 is_monotonic (Sum). */
static int otlppb_metric(struct otlp_req *q, const uint8_t *d, size_t n)
{
	struct otlp_metric m = {.name = "", .unit = ""};
	const uint8_t *data = NULL;
	size_t data_len = 0;
	struct pb_reader r;
	struct pb_field f;
	int rc;
	pb_init(&r, d, n);
	while ((rc = pb_next(&r, &f)) == 1) {
		enum otlp_kind k = f.num == 5 ? OTLP_KIND_GAUGE : f.num == 7 ? OTLP_KIND_SUM : f.num == 9 ? OTLP_KIND_HISTOGRAM
				 : f.num == 10 ? OTLP_KIND_EXPHIST : f.num == 11 ? OTLP_KIND_SUMMARY : OTLP_KIND_NONE;
		if (f.num == 1 || f.num == 3 || k != OTLP_KIND_NONE) {
			if (f.wire != PB_LEN)
				return otlp_bad(q, "Metric field %u: wrong wire type", f.num);
		}
		if (f.num == 1) {
			m.name = (const char *)f.data;
			m.name_len = f.len;
		} else if (f.num == 3) {
			m.unit = (const char *)f.data;
			m.unit_len = f.len;
		} else if (k != OTLP_KIND_NONE) {
			m.kind = k;
			data = f.data;
			data_len = f.len;
		}
	}
	if (rc < 0)
		return otlp_bad(q, "Metric: malformed protobuf");
	if (m.kind == OTLP_KIND_NONE)
		return 0;
	pb_init(&r, data, data_len);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num == 2 || (f.num == 3 && m.kind == OTLP_KIND_SUM)) {
			if (f.wire != PB_VARINT)
				return otlp_bad(q, "Metric data field %u: wrong wire type", f.num);
			if (f.num == 2)
				m.temporality = (int)(f.u > 100 ? 100 : f.u);
			else
				m.monotonic = f.u != 0;
		}
	}
	if (rc < 0)
		return otlp_bad(q, "Metric data: malformed protobuf");
	if ((rc = otlp_metric_begin(q, &m)))
		return rc;
	pb_init(&r, data, data_len);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num != 1)
			continue;
		if (f.wire != PB_LEN)
			return otlp_bad(q, "data_points: wrong wire type");
		if ((rc = otlppb_point(q, f.data, f.len)))
			return rc;
	}
	return rc < 0 ? otlp_bad(q, "Metric data: malformed protobuf") : 0;
}

/* ResourceMetrics {1 resource, 2 scope_metrics}; Resource {1 attributes};
 * ScopeMetrics {2 metrics}. */
static int otlppb_resource_metrics(struct otlp_req *q, const uint8_t *d, size_t n)
{
	struct pb_reader r, rr;
	struct pb_field f, rf;
	int rc;
	q->o->attrs.n = 0;
	pb_init(&r, d, n);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num != 1)
			continue;
		if (f.wire != PB_LEN)
			return otlp_bad(q, "ResourceMetrics.resource: wrong wire type");
		q->o->attrs.n = 0; /* the last resource field wins */
		pb_init(&rr, f.data, f.len);
		while ((rc = pb_next(&rr, &rf)) == 1)
			if (rf.num == 1 && (rc = otlppb_attr(q, &rf)))
				return rc;
		if (rc < 0)
			return otlp_bad(q, "Resource: malformed protobuf");
	}
	if (rc < 0)
		return otlp_bad(q, "ResourceMetrics: malformed protobuf");
	if ((rc = otlp_resource_begin(q, q->o->attrs.p, q->o->attrs.n)))
		return rc;
	pb_init(&r, d, n);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num != 2)
			continue;
		if (f.wire != PB_LEN)
			return otlp_bad(q, "ResourceMetrics.scope_metrics: wrong wire type");
		pb_init(&rr, f.data, f.len);
		while ((rc = pb_next(&rr, &rf)) == 1) {
			if (rf.num != 2)
				continue;
			if (rf.wire != PB_LEN)
				return otlp_bad(q, "ScopeMetrics.metrics: wrong wire type");
			if ((rc = otlppb_metric(q, rf.data, rf.len)))
				return rc;
		}
		if (rc < 0)
			return otlp_bad(q, "ScopeMetrics: malformed protobuf");
	}
	if (rc < 0)
		return otlp_bad(q, "ResourceMetrics: malformed protobuf");
	return otlp_resource_end(q);
}

int otlppb_decode(struct otlp_req *q, const uint8_t *body, size_t len)
{
	struct pb_reader r;
	struct pb_field f;
	int rc;
	pb_init(&r, body, len);
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num != 1)
			continue;
		if (f.wire != PB_LEN)
			return otlp_bad(q, "ExportMetricsServiceRequest.resource_metrics: wrong wire type");
		if ((rc = otlppb_resource_metrics(q, f.data, f.len)))
			return rc;
	}
	return rc < 0 ? otlp_bad(q, "ExportMetricsServiceRequest: malformed protobuf") : 0;
}
