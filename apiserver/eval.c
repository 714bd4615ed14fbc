/* eval: see eval.h.
 *
 * Series keys hold __name__ first and the other labels sorted by name; the
 * Prometheus order puts __name__ wherever it sorts ("A" < "__name__" <
 * "a"). eval_labels_next walks a key in that order without allocating: it
 * holds __name__ back until the first label that sorts after it.
 *
 * Points of a series are in time order (fanout sorts them when an
 * aggregator did not), so lookups are binary searches.
 */
#include "apiserver/eval.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/series.h"

int eval_is_stale(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	return bits == EVAL_STALE_NAN_BITS;
}

/* ---- labels in Prometheus order ---- */

struct eval_labels {
	struct series_key_iter it;
	struct series_label held;   /* __name__, until its turn */
	int holding;
	struct series_label ahead;  /* a label read but not yet returned */
	int has_ahead;
};

/* Bytewise comparison with the shorter prefix first, as Go compares strings. */
static int eval_bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Starts a walk over key[len] in name order. */
static void eval_labels_init(struct eval_labels *e, const uint8_t *key, size_t len)
{
	memset(e, 0, sizeof(*e));
	series_key_iter_init(&e->it, key, len);
	struct series_label l;
	if (series_key_next(&e->it, &l) != 1)
		return;
	if (l.name_len == 8 && memcmp(l.name, "__name__", 8) == 0) {
		e->held = l;
		e->holding = 1;
	} else {
		e->ahead = l;
		e->has_ahead = 1;
	}
}

/* Next label in name order. Returns 1, or 0 at the end (or at bytes that
 * are not a key: keys were validated when they arrived). */
static int eval_labels_next(struct eval_labels *e, struct series_label *out)
{
	struct series_label l;
	if (e->has_ahead) {
		l = e->ahead;
		e->has_ahead = 0;
	} else if (series_key_next(&e->it, &l) != 1) {
		if (e->holding) {
			e->holding = 0;
			*out = e->held;
			return 1;
		}
		return 0;
	}
	if (e->holding && eval_bytes_cmp(e->held.name, e->held.name_len, l.name, l.name_len) < 0) {
		e->holding = 0;
		e->ahead = l;
		e->has_ahead = 1;
		*out = e->held;
		return 1;
	}
	*out = l;
	return 1;
}

int eval_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct eval_labels x, y;
	struct series_label lx, ly;
	eval_labels_init(&x, a, alen);
	eval_labels_init(&y, b, blen);
	for (;;) {
		int hx = eval_labels_next(&x, &lx);
		int hy = eval_labels_next(&y, &ly);
		if (!hx || !hy)
			return hx - hy;
		int c = eval_bytes_cmp(lx.name, lx.name_len, ly.name, ly.name_len);
		if (c)
			return c;
		c = eval_bytes_cmp(lx.value, lx.value_len, ly.value, ly.value_len);
		if (c)
			return c;
	}
}

/* qsort has no context argument: the result being sorted is set here. */
static __thread const struct fanout_result *eval_sort_res;

/* qsort comparator of series indices by label set. */
static int eval_order_cmp(const void *a, const void *b)
{
	const struct fanout_series *x = &eval_sort_res->series[*(const uint32_t *)a];
	const struct fanout_series *y = &eval_sort_res->series[*(const uint32_t *)b];
	return eval_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

uint32_t *eval_order(const struct fanout_result *res)
{
	if (res->nseries == 0)
		return NULL;
	uint32_t *o = malloc(res->nseries * sizeof(*o));
	if (!o)
		return NULL;
	for (size_t i = 0; i < res->nseries; i++)
		o[i] = (uint32_t)i;
	eval_sort_res = res;
	qsort(o, res->nseries, sizeof(*o), eval_order_cmp);
	eval_sort_res = NULL;
	return o;
}

void eval_write_labels(struct json_w *w, const uint8_t *key, size_t len, int with_name)
{
	struct eval_labels e;
	struct series_label l;
	int first = 1;
	eval_labels_init(&e, key, len);
	json_raw(w, "{", 1);
	while (eval_labels_next(&e, &l)) {
		if (!with_name && l.name_len == 8 && memcmp(l.name, "__name__", 8) == 0)
			continue;
		if (!first)
			json_raw(w, ",", 1);
		first = 0;
		json_str(w, l.name, l.name_len);
		json_raw(w, ":", 1);
		json_str(w, l.value, l.value_len);
	}
	json_raw(w, "}", 1);
}

/* ---- samples ---- */

long eval_latest(const struct rec_point *pts, uint32_t n, int64_t lo, int64_t hi)
{
	/* First index with ts > hi. */
	uint32_t a = 0, b = n;
	while (a < b) {
		uint32_t mid = a + (b - a) / 2;
		if (pts[mid].ts_ms <= hi)
			a = mid + 1;
		else
			b = mid;
	}
	if (a == 0 || pts[a - 1].ts_ms <= lo)
		return -1;
	return (long)a - 1;
}

/* Index of the series at position i of the order (identity without one). */
static const struct fanout_series *eval_at(const struct fanout_result *res, const uint32_t *order, size_t i)
{
	return &res->series[order ? order[i] : i];
}

/* Writes one [time, "value"] pair. */
static void eval_point(struct json_w *w, int64_t t, double v)
{
	json_raw(w, "[", 1);
	json_time(w, t);
	json_raw(w, ",", 1);
	json_value(w, v);
	json_raw(w, "]", 1);
}

size_t eval_write_vector(struct json_w *w, const struct fanout_result *res, const uint32_t *order,
			 int64_t t, int64_t offset, int64_t lookback)
{
	size_t n = 0;
	json_raw(w, "[", 1);
	for (size_t i = 0; i < res->nseries; i++) {
		const struct fanout_series *s = eval_at(res, order, i);
		long k = eval_latest(s->pts, s->npts, t - offset - lookback, t - offset);
		if (k < 0 || eval_is_stale(s->pts[k].value))
			continue;
		json_lit(w, n ? ",{\"metric\":" : "{\"metric\":");
		eval_write_labels(w, s->key, s->key_len, 1);
		json_lit(w, ",\"value\":");
		eval_point(w, t, s->pts[k].value);
		json_raw(w, "}", 1);
		n++;
	}
	json_raw(w, "]", 1);
	return n;
}

size_t eval_write_range(struct json_w *w, const struct fanout_result *res, const uint32_t *order,
			int64_t t, int64_t offset, int64_t range)
{
	size_t n = 0;
	int64_t lo = t - offset - range, hi = t - offset;
	json_raw(w, "[", 1);
	for (size_t i = 0; i < res->nseries; i++) {
		const struct fanout_series *s = eval_at(res, order, i);
		long last = eval_latest(s->pts, s->npts, lo, hi);
		if (last < 0)
			continue;
		long first = last;
		while (first > 0 && s->pts[first - 1].ts_ms > lo)
			first--;
		int any = 0;
		for (long k = first; k <= last; k++) {
			if (eval_is_stale(s->pts[k].value))
				continue;
			if (!any) {
				json_lit(w, n ? ",{\"metric\":" : "{\"metric\":");
				eval_write_labels(w, s->key, s->key_len, 1);
				json_lit(w, ",\"values\":[");
			} else {
				json_raw(w, ",", 1);
			}
			eval_point(w, s->pts[k].ts_ms, s->pts[k].value);
			any = 1;
		}
		if (any) {
			json_lit(w, "]}");
			n++;
		}
	}
	json_raw(w, "]", 1);
	return n;
}

size_t eval_write_steps(struct json_w *w, const struct fanout_result *res, const uint32_t *order,
			int64_t start, int64_t end, int64_t step, int64_t offset, int64_t lookback)
{
	size_t n = 0;
	json_raw(w, "[", 1);
	for (size_t i = 0; i < res->nseries; i++) {
		const struct fanout_series *s = eval_at(res, order, i);
		int any = 0;
		/* Walk the steps and the points together: k only moves forward. */
		uint32_t k = 0;
		for (int64_t t = start; t <= end; t += step) {
			int64_t hi = t - offset, lo = hi - lookback;
			while (k < s->npts && s->pts[k].ts_ms <= hi)
				k++;
			if (k == 0)
				continue;
			const struct rec_point *p = &s->pts[k - 1];
			if (p->ts_ms <= lo || eval_is_stale(p->value))
				continue;
			if (!any) {
				json_lit(w, n ? ",{\"metric\":" : "{\"metric\":");
				eval_write_labels(w, s->key, s->key_len, 1);
				json_lit(w, ",\"values\":[");
			} else {
				json_raw(w, ",", 1);
			}
			eval_point(w, t, p->value);
			any = 1;
		}
		if (any) {
			json_lit(w, "]}");
			n++;
		}
	}
	json_raw(w, "]", 1);
	return n;
}

void eval_write_scalar_steps(struct json_w *w, double v, int64_t start, int64_t end, int64_t step)
{
	json_lit(w, "[{\"metric\":{},\"values\":[");
	for (int64_t t = start; t <= end; t += step) {
		if (t != start)
			json_raw(w, ",", 1);
		eval_point(w, t, v);
	}
	json_lit(w, "]}]");
}

void eval_write_series_list(struct json_w *w, const struct fanout_result *res, const uint32_t *order)
{
	json_raw(w, "[", 1);
	for (size_t i = 0; i < res->nseries; i++) {
		const struct fanout_series *s = eval_at(res, order, i);
		if (i)
			json_raw(w, ",", 1);
		eval_write_labels(w, s->key, s->key_len, 1);
	}
	json_raw(w, "]", 1);
}

void eval_write_strings(struct json_w *w, const struct fanout_result *res)
{
	json_raw(w, "[", 1);
	for (size_t i = 0; i < res->nstrs; i++) {
		if (i)
			json_raw(w, ",", 1);
		json_str(w, res->sbuf + res->strs[i].off, res->strs[i].len);
	}
	json_raw(w, "]", 1);
}

/* ---- the evaluator's storage ---- */

int eval_store_select(void *ctx, const struct matcher *m, size_t n, int64_t start_ms,
		      int64_t end_ms, promql_series_cb cb, void *arg)
{
	struct eval_store *es = ctx;
	struct rec_query q;
	struct promfn_point *buf = NULL;
	size_t cap = 0;
	int64_t left = es->deadline_ms - promql_now_ms();
	int rc = 0;

	if (left <= 0)
		return -ETIMEDOUT;
	if (n > REC_MAX_MATCHERS)
		return -EINVAL;
	memset(&q, 0, sizeof(q));
	q.kind = REC_Q_SELECT;
	q.start_ms = start_ms;
	q.end_ms = end_ms;
	q.nsets = 1;
	for (size_t i = 0; i < n; i++) {
		if (m[i].name_len > UINT16_MAX || m[i].value_len > UINT16_MAX)
			return -EINVAL;
		q.m[i].op = m[i].op;
		q.m[i].set = 0;
		q.m[i].name = m[i].name;
		q.m[i].name_len = (uint16_t)m[i].name_len;
		q.m[i].value = m[i].value;
		q.m[i].value_len = (uint16_t)m[i].value_len;
	}
	q.nmatchers = (uint32_t)n;
	es->selects++;
	rc = fanout_query(es->fo, &q, left, es->res);
	if (rc == 0)
		fanout_result_sort_points(es->res);
	for (size_t i = 0; rc == 0 && i < es->res->nseries; i++) {
		const struct fanout_series *s = &es->res->series[i];
		if (s->npts > cap) {
			struct promfn_point *nb = realloc(buf, s->npts * sizeof(*nb));
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = s->npts;
		}
		for (uint32_t k = 0; k < s->npts; k++) {
			buf[k].ts_ms = s->pts[k].ts_ms;
			buf[k].v = s->pts[k].value;
		}
		rc = cb(arg, s->key, s->key_len, buf, s->npts);
	}
	free(buf);
	fanout_result_reset(es->res);
	return rc;
}

/* ---- results ---- */

void eval_write_lset(struct json_w *w, const struct promql_lset *ls)
{
	struct promql_lset_it it;
	struct promql_label l;
	int first = 1;

	json_raw(w, "{", 1);
	promql_lset_it_init(&it, ls);
	while (promql_lset_it_next(&it, &l)) {
		if (!first)
			json_raw(w, ",", 1);
		first = 0;
		json_str(w, l.name, l.nlen);
		json_raw(w, ":", 1);
		json_str(w, l.val, l.vlen);
	}
	json_raw(w, "}", 1);
}

void eval_write_result(struct json_w *w, const struct promql_result *res)
{
	switch (res->type) {
	case PROMQL_TYPE_SCALAR:
		json_lit(w, "{\"resultType\":\"scalar\",\"result\":");
		eval_point(w, res->ts, res->scalar);
		json_raw(w, "}", 1);
		return;
	case PROMQL_TYPE_STRING:
		json_lit(w, "{\"resultType\":\"string\",\"result\":[");
		json_time(w, res->ts);
		json_raw(w, ",", 1);
		json_str(w, res->str, strlen(res->str));
		json_lit(w, "]}");
		return;
	case PROMQL_TYPE_VECTOR:
		json_lit(w, "{\"resultType\":\"vector\",\"result\":[");
		for (size_t i = 0; i < res->n; i++) {
			json_lit(w, i ? ",{\"metric\":" : "{\"metric\":");
			eval_write_lset(w, &res->series[i].ls);
			json_lit(w, ",\"value\":");
			eval_point(w, res->series[i].pts[0].ts_ms, res->series[i].pts[0].v);
			json_raw(w, "}", 1);
		}
		json_lit(w, "]}");
		return;
	default:
		json_lit(w, "{\"resultType\":\"matrix\",\"result\":[");
		for (size_t i = 0; i < res->n; i++) {
			json_lit(w, i ? ",{\"metric\":" : "{\"metric\":");
			eval_write_lset(w, &res->series[i].ls);
			json_lit(w, ",\"values\":[");
			for (size_t k = 0; k < res->series[i].n; k++) {
				if (k)
					json_raw(w, ",", 1);
				eval_point(w, res->series[i].pts[k].ts_ms, res->series[i].pts[k].v);
			}
			json_lit(w, "]}");
		}
		json_lit(w, "]}");
		return;
	}
}

void eval_write_annotations(struct json_w *w, const struct promql_result *res)
{
	for (int k = 0; k < 2; k++) {
		char *const *a = k ? res->infos : res->warnings;
		size_t n = k ? res->ninfo : res->nwarn;
		if (!n)
			continue;
		json_lit(w, k ? ",\"infos\":[" : ",\"warnings\":[");
		for (size_t i = 0; i < n; i++) {
			if (i)
				json_raw(w, ",", 1);
			json_str(w, a[i], strlen(a[i]));
		}
		json_raw(w, "]", 1);
	}
}
