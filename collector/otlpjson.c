/* otlpjson: see otlpjson.h. The cJSON tree lives for the whole request:
 * string attribute values handed to the translator point into it, and the
 * translator copies what outlives a call. */
#include "collector/otlpjson.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/otlp_pvt.h"

/* obj[camel], or obj[snake] (the proto field name) when absent. */
static const cJSON *otlpjson_get(const cJSON *obj, const char *camel, const char *snake)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, camel);
	if (!it && snake)
		it = cJSON_GetObjectItemCaseSensitive(obj, snake);
	return it && !cJSON_IsNull(it) ? it : NULL;
}

/* The array at obj[key] (NULL, count 0, when absent). Returns 0 or -EINVAL. */
static int otlpjson_array(struct otlp_req *q, const cJSON *obj, const char *camel, const char *snake,
			  const cJSON **arr)
{
	*arr = otlpjson_get(obj, camel, snake);
	if (*arr && !cJSON_IsArray(*arr))
		return otlp_bad(q, "%s: not an array", camel);
	return 0;
}

/* An unsigned 64-bit integer: a JSON number or a decimal string. */
static int otlpjson_u64(struct otlp_req *q, const cJSON *it, const char *what, uint64_t *out)
{
	*out = 0;
	if (!it)
		return 0;
	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;
		if (!(d >= 0 && d < 18446744073709551616.0) || d != floor(d))
			return otlp_bad(q, "%s: not an unsigned integer", what);
		*out = (uint64_t)d;
		return 0;
	}
	if (cJSON_IsString(it) && it->valuestring[0] >= '0' && it->valuestring[0] <= '9') {
		char *end;
		errno = 0;
		*out = strtoull(it->valuestring, &end, 10);
		if (*end == '\0' && errno == 0)
			return 0;
	}
	return otlp_bad(q, "%s: not an unsigned integer", what);
}

/* A signed 64-bit integer: a JSON number or a decimal string. */
static int otlpjson_i64(struct otlp_req *q, const cJSON *it, const char *what, int64_t *out)
{
	*out = 0;
	if (!it)
		return 0;
	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;
		if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d))
			return otlp_bad(q, "%s: not an integer", what);
		*out = (int64_t)d;
		return 0;
	}
	if (cJSON_IsString(it) && it->valuestring[0]) {
		char *end;
		errno = 0;
		*out = strtoll(it->valuestring, &end, 10);
		if (*end == '\0' && errno == 0)
			return 0;
	}
	return otlp_bad(q, "%s: not an integer", what);
}

/* A double: a JSON number, or a string ("NaN", "Infinity", "-Infinity" or
 * a number). */
static int otlpjson_double(struct otlp_req *q, const cJSON *it, const char *what, double *out)
{
	*out = 0;
	if (!it)
		return 0;
	if (cJSON_IsNumber(it)) {
		*out = it->valuedouble;
		return 0;
	}
	if (cJSON_IsString(it)) {
		const char *s = it->valuestring;
		if (strcmp(s, "NaN") == 0) {
			*out = NAN;
			return 0;
		}
		if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
			*out = s[0] == '-' ? -INFINITY : INFINITY;
			return 0;
		}
		char *end;
		*out = strtod(s, &end);
		if (s[0] && *end == '\0')
			return 0;
	}
	return otlp_bad(q, "%s: not a number", what);
}

/* An AnyValue object as a plain cJSON value (for arrays and maps rendered
 * as JSON). Returns a new item or NULL (malformed: q->res->error set, or
 * out of memory: *oom set). */
static cJSON *otlpjson_plain(struct otlp_req *q, const cJSON *v, int depth, int *oom)
{
	const cJSON *it;
	cJSON *out = NULL;
	if (depth > OTLP_MAX_DEPTH) {
		otlp_bad(q, "AnyValue: nested deeper than %d", OTLP_MAX_DEPTH);
		return NULL;
	}
	if (!v || !cJSON_IsObject(v))
		return (out = cJSON_CreateNull()) ? out : (*oom = 1, NULL);
	if ((it = otlpjson_get(v, "stringValue", "string_value")) && cJSON_IsString(it)) {
		out = cJSON_CreateString(it->valuestring);
	} else if ((it = otlpjson_get(v, "boolValue", "bool_value")) && cJSON_IsBool(it)) {
		out = cJSON_CreateBool(cJSON_IsTrue(it));
	} else if ((it = otlpjson_get(v, "intValue", "int_value"))) {
		int64_t i;
		if (otlpjson_i64(q, it, "AnyValue.intValue", &i))
			return NULL;
		out = cJSON_CreateNumber((double)i);
	} else if ((it = otlpjson_get(v, "doubleValue", "double_value"))) {
		double d;
		if (otlpjson_double(q, it, "AnyValue.doubleValue", &d))
			return NULL;
		out = isfinite(d) ? cJSON_CreateNumber(d) : cJSON_CreateString(isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
	} else if ((it = otlpjson_get(v, "bytesValue", "bytes_value")) && cJSON_IsString(it)) {
		out = cJSON_CreateString(it->valuestring);
	} else if ((it = otlpjson_get(v, "arrayValue", "array_value")) ||
		   (it = otlpjson_get(v, "kvlistValue", "kvlist_value"))) {
		int is_arr = cJSON_GetObjectItemCaseSensitive(v, "arrayValue") || cJSON_GetObjectItemCaseSensitive(v, "array_value");
		const cJSON *vals = cJSON_IsObject(it) ? otlpjson_get(it, "values", NULL) : NULL;
		out = is_arr ? cJSON_CreateArray() : cJSON_CreateObject();
		if (!out) {
			*oom = 1;
			return NULL;
		}
		const cJSON *e, *list = cJSON_IsArray(vals) ? vals : (const cJSON *)NULL;
		cJSON_ArrayForEach(e, list) {
			const cJSON *ev = is_arr ? e : otlpjson_get(e, "value", NULL);
			cJSON *c = otlpjson_plain(q, ev, depth + 1, oom);
			if (!c) {
				cJSON_Delete(out);
				return NULL;
			}
			const cJSON *k = is_arr ? NULL : otlpjson_get(e, "key", NULL);
			if (is_arr)
				cJSON_AddItemToArray(out, c);
			else
				cJSON_AddItemToObject(out, cJSON_IsString(k) ? k->valuestring : "", c);
		}
		return out;
	} else {
		out = cJSON_CreateNull();
	}
	if (!out)
		*oom = 1;
	return out;
}

/* A KeyValue object appended to q->o->attrs, its value rendered as a
 * label value. */
static int otlpjson_attr(struct otlp_req *q, const cJSON *kvj)
{
	struct otlp_kv kv = {"", 0, "", 0};
	char num[64];
	int l = -1;
	if (!cJSON_IsObject(kvj))
		return otlp_bad(q, "attributes: entry is not an object");
	const cJSON *k = otlpjson_get(kvj, "key", NULL), *v = otlpjson_get(kvj, "value", NULL), *it;
	if (k && !cJSON_IsString(k))
		return otlp_bad(q, "KeyValue.key: not a string");
	if (k) {
		kv.key = k->valuestring;
		kv.key_len = strlen(k->valuestring);
	}
	if (v && !cJSON_IsObject(v))
		return otlp_bad(q, "KeyValue.value: not an object");
	if (!v) {
		/* no value: empty, left out */
	} else if ((it = otlpjson_get(v, "stringValue", "string_value"))) {
		if (!cJSON_IsString(it))
			return otlp_bad(q, "AnyValue.stringValue: not a string");
		kv.val = it->valuestring;
		kv.val_len = strlen(it->valuestring);
	} else if ((it = otlpjson_get(v, "boolValue", "bool_value"))) {
		if (!cJSON_IsBool(it))
			return otlp_bad(q, "AnyValue.boolValue: not a bool");
		l = snprintf(num, sizeof(num), "%s", cJSON_IsTrue(it) ? "true" : "false");
	} else if ((it = otlpjson_get(v, "intValue", "int_value"))) {
		int64_t i;
		if (otlpjson_i64(q, it, "AnyValue.intValue", &i))
			return -EINVAL;
		l = snprintf(num, sizeof(num), "%" PRId64, i);
	} else if ((it = otlpjson_get(v, "doubleValue", "double_value"))) {
		double d;
		if (otlpjson_double(q, it, "AnyValue.doubleValue", &d))
			return -EINVAL;
		l = otlp_fmt_double(num, sizeof(num), d);
	} else if ((it = otlpjson_get(v, "bytesValue", "bytes_value"))) {
		if (!cJSON_IsString(it))
			return otlp_bad(q, "AnyValue.bytesValue: not a string");
		kv.val = it->valuestring; /* already base64, as Prometheus renders bytes */
		kv.val_len = strlen(it->valuestring);
	} else if (otlpjson_get(v, "arrayValue", "array_value") || otlpjson_get(v, "kvlistValue", "kvlist_value")) {
		int oom = 0;
		cJSON *plain = otlpjson_plain(q, v, 0, &oom);
		if (!plain)
			return oom ? -ENOMEM : -EINVAL;
		char *s = cJSON_PrintUnformatted(plain);
		cJSON_Delete(plain);
		if (!s)
			return -ENOMEM;
		kv.val_len = strlen(s);
		kv.val = otlp_strdup(&q->o->arena, s, kv.val_len);
		cJSON_free(s);
		if (!kv.val)
			return -ENOMEM;
	}
	if (l >= 0) {
		kv.val = otlp_strdup(&q->o->arena, num, (size_t)l);
		kv.val_len = (size_t)l;
		if (!kv.val)
			return -ENOMEM;
	}
	return otlp_vec_push(&q->o->attrs, &kv, sizeof(kv));
}

static int otlpjson_attrs(struct otlp_req *q, const cJSON *obj)
{
	const cJSON *arr, *e;
	int rc = otlpjson_array(q, obj, "attributes", NULL, &arr);
	if (rc)
		return rc;
	cJSON_ArrayForEach(e, arr) {
		if ((rc = otlpjson_attr(q, e)))
			return rc;
	}
	return 0;
}

/* An array of unsigned integers appended to v. */
static int otlpjson_u64s(struct otlp_req *q, const cJSON *obj, const char *camel, const char *snake,
			 struct otlp_vec *v)
{
	const cJSON *arr, *e;
	int rc = otlpjson_array(q, obj, camel, snake, &arr);
	if (rc)
		return rc;
	cJSON_ArrayForEach(e, arr) {
		uint64_t u;
		if ((rc = otlpjson_u64(q, e, camel, &u)) || (rc = otlp_vec_push(v, &u, 8)))
			return rc;
	}
	return rc;
}

/* An array of doubles appended to v. */
static int otlpjson_doubles(struct otlp_req *q, const cJSON *obj, const char *camel, const char *snake,
			    struct otlp_vec *v)
{
	const cJSON *arr, *e;
	int rc = otlpjson_array(q, obj, camel, snake, &arr);
	if (rc)
		return rc;
	cJSON_ArrayForEach(e, arr) {
		double d;
		if ((rc = otlpjson_double(q, e, camel, &d)) || (rc = otlp_vec_push(v, &d, 8)))
			return rc;
	}
	return rc;
}

/* ExponentialHistogramDataPoint.Buckets {offset, bucketCounts}. */
static int otlpjson_exp_buckets(struct otlp_req *q, const cJSON *b, int64_t *offset, struct otlp_vec *v)
{
	if (!b)
		return 0;
	if (!cJSON_IsObject(b))
		return otlp_bad(q, "exponential histogram buckets: not an object");
	int rc = otlpjson_i64(q, otlpjson_get(b, "offset", NULL), "Buckets.offset", offset);
	if (rc == 0 && (*offset < INT32_MIN || *offset > INT32_MAX))
		rc = otlp_bad(q, "Buckets.offset: out of range");
	return rc ? rc : otlpjson_u64s(q, b, "bucketCounts", "bucket_counts", v);
}

static int otlpjson_point(struct otlp_req *q, const cJSON *pj)
{
	struct otlp *o = q->o;
	struct otlp_point p;
	const cJSON *it;
	int64_t i64;
	uint64_t u64;
	int rc;
	memset(&p, 0, sizeof(p));
	o->attrs.n = o->u64a.n = o->u64b.n = o->dbl.n = 0;
	if (!cJSON_IsObject(pj))
		return otlp_bad(q, "dataPoints: entry is not an object");
	if ((rc = otlpjson_attrs(q, pj)) ||
	    (rc = otlpjson_u64(q, otlpjson_get(pj, "timeUnixNano", "time_unix_nano"), "timeUnixNano", &p.time_ns)) ||
	    (rc = otlpjson_u64(q, otlpjson_get(pj, "flags", NULL), "flags", &u64)))
		return rc;
	p.flags = (uint32_t)u64;
	switch (q->kind) {
	case OTLP_KIND_GAUGE:
	case OTLP_KIND_SUM:
		if ((it = otlpjson_get(pj, "asDouble", "as_double"))) {
			rc = otlpjson_double(q, it, "asDouble", &p.value);
			p.has_value = 1;
		} else if ((it = otlpjson_get(pj, "asInt", "as_int"))) {
			rc = otlpjson_i64(q, it, "asInt", &i64);
			p.value = (double)i64;
			p.has_value = 1;
		}
		break;
	case OTLP_KIND_HISTOGRAM:
	case OTLP_KIND_EXPHIST:
	case OTLP_KIND_SUMMARY:
		rc = otlpjson_u64(q, otlpjson_get(pj, "count", NULL), "count", &p.count);
		if (rc == 0 && (it = otlpjson_get(pj, "sum", NULL))) {
			rc = otlpjson_double(q, it, "sum", &p.sum);
			p.has_sum = 1;
		}
		break;
	default:
		break;
	}
	if (rc)
		return rc;
	if (q->kind == OTLP_KIND_HISTOGRAM) {
		if ((rc = otlpjson_u64s(q, pj, "bucketCounts", "bucket_counts", &o->u64a)) ||
		    (rc = otlpjson_doubles(q, pj, "explicitBounds", "explicit_bounds", &o->dbl)))
			return rc;
		p.buckets = o->u64a.p;
		p.nbuckets = o->u64a.n;
		p.bounds = o->dbl.p;
		p.nbounds = o->dbl.n;
	} else if (q->kind == OTLP_KIND_SUMMARY) {
		const cJSON *arr, *e;
		if ((rc = otlpjson_array(q, pj, "quantileValues", "quantile_values", &arr)))
			return rc;
		cJSON_ArrayForEach(e, arr) {
			double qv[2];
			if (!cJSON_IsObject(e))
				return otlp_bad(q, "quantileValues: entry is not an object");
			if ((rc = otlpjson_double(q, otlpjson_get(e, "quantile", NULL), "quantile", &qv[0])) ||
			    (rc = otlpjson_double(q, otlpjson_get(e, "value", NULL), "value", &qv[1])) ||
			    (rc = otlp_vec_push(&o->dbl, &qv[0], 8)) || (rc = otlp_vec_push(&o->dbl, &qv[1], 8)))
				return rc;
		}
		p.quantiles = o->dbl.p;
		p.nquantiles = o->dbl.n / 2;
	} else if (q->kind == OTLP_KIND_EXPHIST) {
		if ((rc = otlpjson_i64(q, otlpjson_get(pj, "scale", NULL), "scale", &i64)))
			return rc;
		p.scale = i64 < -1000 ? -1000 : i64 > 1000 ? 1000 : (int32_t)i64;
		if ((rc = otlpjson_u64(q, otlpjson_get(pj, "zeroCount", "zero_count"), "zeroCount", &p.zero_count)) ||
		    (rc = otlpjson_double(q, otlpjson_get(pj, "zeroThreshold", "zero_threshold"), "zeroThreshold",
					  &p.zero_threshold)) ||
		    (rc = otlpjson_exp_buckets(q, otlpjson_get(pj, "positive", NULL), &p.pos_offset, &o->u64a)) ||
		    (rc = otlpjson_exp_buckets(q, otlpjson_get(pj, "negative", NULL), &p.neg_offset, &o->u64b)))
			return rc;
		p.pos = o->u64a.p;
		p.npos = o->u64a.n;
		p.neg = o->u64b.p;
		p.nneg = o->u64b.n;
	}
	p.attrs = o->attrs.p;
	p.nattrs = o->attrs.n;
	return otlp_point_add(q, &p);
}

/* aggregationTemporality: an integer or the enum value's name. */
static int otlpjson_temporality(struct otlp_req *q, const cJSON *it, int *out)
{
	*out = OTLP_TEMPORALITY_UNSPECIFIED;
	if (!it)
		return 0;
	if (cJSON_IsNumber(it)) {
		*out = it->valuedouble >= 0 && it->valuedouble <= 100 ? (int)it->valuedouble : 100;
		return 0;
	}
	if (cJSON_IsString(it)) {
		if (strcmp(it->valuestring, "AGGREGATION_TEMPORALITY_DELTA") == 0)
			*out = OTLP_TEMPORALITY_DELTA;
		else if (strcmp(it->valuestring, "AGGREGATION_TEMPORALITY_CUMULATIVE") == 0)
			*out = OTLP_TEMPORALITY_CUMULATIVE;
		else if (strcmp(it->valuestring, "AGGREGATION_TEMPORALITY_UNSPECIFIED") != 0)
			*out = 100;
		return 0;
	}
	return otlp_bad(q, "aggregationTemporality: not an enum value");
}

static int otlpjson_metric(struct otlp_req *q, const cJSON *mj)
{
	static const struct {
		const char *camel, *snake;
		enum otlp_kind kind;
	} kinds[] = {
		{"gauge", NULL, OTLP_KIND_GAUGE},
		{"sum", NULL, OTLP_KIND_SUM},
		{"histogram", NULL, OTLP_KIND_HISTOGRAM},
		{"exponentialHistogram", "exponential_histogram", OTLP_KIND_EXPHIST},
		{"summary", NULL, OTLP_KIND_SUMMARY},
	};
	struct otlp_metric m = {.name = "", .unit = ""};
	const cJSON *data = NULL, *it;
	int rc;
	if (!cJSON_IsObject(mj))
		return otlp_bad(q, "metrics: entry is not an object");
	if ((it = otlpjson_get(mj, "name", NULL))) {
		if (!cJSON_IsString(it))
			return otlp_bad(q, "Metric.name: not a string");
		m.name = it->valuestring;
		m.name_len = strlen(it->valuestring);
	}
	if ((it = otlpjson_get(mj, "unit", NULL))) {
		if (!cJSON_IsString(it))
			return otlp_bad(q, "Metric.unit: not a string");
		m.unit = it->valuestring;
		m.unit_len = strlen(it->valuestring);
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((it = otlpjson_get(mj, kinds[i].camel, kinds[i].snake))) {
			if (!cJSON_IsObject(it))
				return otlp_bad(q, "Metric.%s: not an object", kinds[i].camel);
			data = it;
			m.kind = kinds[i].kind;
		}
	if (!data)
		return 0;
	if ((rc = otlpjson_temporality(q, otlpjson_get(data, "aggregationTemporality", "aggregation_temporality"),
				       &m.temporality)))
		return rc;
	if ((it = otlpjson_get(data, "isMonotonic", "is_monotonic"))) {
		if (!cJSON_IsBool(it))
			return otlp_bad(q, "Sum.isMonotonic: not a bool");
		m.monotonic = cJSON_IsTrue(it);
	}
	if ((rc = otlp_metric_begin(q, &m)))
		return rc;
	const cJSON *pts, *e;
	if ((rc = otlpjson_array(q, data, "dataPoints", "data_points", &pts)))
		return rc;
	cJSON_ArrayForEach(e, pts) {
		if ((rc = otlpjson_point(q, e)))
			return rc;
	}
	return 0;
}

static int otlpjson_resource_metrics(struct otlp_req *q, const cJSON *rm)
{
	const cJSON *res, *sms, *sm, *ms, *m;
	int rc;
	if (!cJSON_IsObject(rm))
		return otlp_bad(q, "resourceMetrics: entry is not an object");
	q->o->attrs.n = 0;
	if ((res = otlpjson_get(rm, "resource", NULL))) {
		if (!cJSON_IsObject(res))
			return otlp_bad(q, "ResourceMetrics.resource: not an object");
		if ((rc = otlpjson_attrs(q, res)))
			return rc;
	}
	if ((rc = otlp_resource_begin(q, q->o->attrs.p, q->o->attrs.n)))
		return rc;
	if ((rc = otlpjson_array(q, rm, "scopeMetrics", "scope_metrics", &sms)))
		return rc;
	cJSON_ArrayForEach(sm, sms) {
		if (!cJSON_IsObject(sm))
			return otlp_bad(q, "scopeMetrics: entry is not an object");
		if ((rc = otlpjson_array(q, sm, "metrics", NULL, &ms)))
			return rc;
		cJSON_ArrayForEach(m, ms) {
			if ((rc = otlpjson_metric(q, m)))
				return rc;
		}
	}
	return otlp_resource_end(q);
}

int otlpjson_decode(struct otlp_req *q, const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!root) {
		size_t at = end && end >= body ? (size_t)(end - body) : 0;
		return otlp_bad(q, "body is not valid JSON (near byte %zu)", at);
	}
	int rc = 0;
	const cJSON *rms, *rm;
	if (!cJSON_IsObject(root))
		rc = otlp_bad(q, "body is not a JSON object");
	else
		rc = otlpjson_array(q, root, "resourceMetrics", "resource_metrics", &rms);
	if (rc == 0) {
		cJSON_ArrayForEach(rm, rms) {
			if ((rc = otlpjson_resource_metrics(q, rm)))
				break;
		}
	}
	/* Attribute strings point into the tree; the batch holds its own
	 * copies (keys) by now, so the tree can go. */
	cJSON_Delete(root);
	return rc;
}
