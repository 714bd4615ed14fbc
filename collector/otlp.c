/* otlp: see otlp.h. Sections: request memory; labels; delta totals;
 * translation (resource, metric, point); the request; HTTP.
 *
 * Invariants: outside otlp_ingest every delta entry has pending == total;
 * a data point is stored whole or not at all (a point that fails half-way
 * is rolled back out of the batch and out of the delta journal); the batch
 * is empty between requests.
 */
#include "collector/otlp.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector/otlp_pvt.h"
#include "collector/otlpjson.h"
#include "collector/otlppb.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/pb.h"
#include "common/records.h"
#include "shm/segment.h"

#define OTLP_STALE_NAN_BITS 0x7ff0000000000002ULL
#define OTLP_CHUNK (64u * 1024u)

/* ---- request memory ---- */

struct otlp_chunk {
	struct otlp_chunk *next;
	size_t used, cap;
	_Alignas(8) char data[];
};

void *otlp_alloc(struct otlp_arena *a, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	struct otlp_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > OTLP_CHUNK ? n : OTLP_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

char *otlp_strdup(struct otlp_arena *a, const char *s, size_t n)
{
	char *d = otlp_alloc(a, n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Frees every chunk but the newest, which is emptied for reuse. */
static void otlp_arena_reset(struct otlp_arena *a)
{
	struct otlp_chunk *keep = a->head;
	if (!keep)
		return;
	struct otlp_chunk *c = keep->next;
	while (c) {
		struct otlp_chunk *next = c->next;
		free(c);
		c = next;
	}
	keep->next = NULL;
	keep->used = 0;
}

static void otlp_arena_free(struct otlp_arena *a)
{
	otlp_arena_reset(a);
	free(a->head);
	a->head = NULL;
}

int otlp_vec_push(struct otlp_vec *v, const void *elem, size_t size)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 64;
		void *np = realloc(v->p, nc * size);
		if (!np)
			return -ENOMEM;
		v->p = np;
		v->cap = nc;
	}
	memcpy((char *)v->p + v->n * size, elem, size);
	v->n++;
	return 0;
}

int otlp_fmt_double(char *out, size_t cap, double v)
{
	double a = fabs(v);
	if (isnan(v) || isinf(v) || a == 0 || (a >= 1e-6 && a < 1e21))
		return otlpname_float(out, cap, v);
	/* Exponent form, shortest digits; "e-07" written "e-7" like Go/JS. */
	char e[40];
	for (int p = 0; p <= 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p, v);
		if (strtod(e, NULL) == v)
			break;
	}
	char *x = strchr(e, 'e');
	if (x && x[1] == '-' && x[2] == '0' && x[3] && !x[4])
		memmove(x + 2, x + 3, 2);
	return snprintf(out, cap, "%s", e);
}

char *otlp_base64(struct otlp_arena *a, const uint8_t *data, size_t n, size_t *out_len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = (n + 2) / 3 * 4;
	char *s = otlp_alloc(a, len + 1);
	if (!s)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0) |
			     (i + 2 < n ? data[i + 2] : 0);
		s[o++] = tab[w >> 18 & 63];
		s[o++] = tab[w >> 12 & 63];
		s[o++] = i + 1 < n ? tab[w >> 6 & 63] : '=';
		s[o++] = i + 2 < n ? tab[w & 63] : '=';
	}
	s[o] = '\0';
	*out_len = o;
	return s;
}

int otlp_bad(struct otlp_req *q, const char *fmt, ...)
{
	if (!q->res->error[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(q->res->error, sizeof(q->res->error), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void otlp_reject(struct otlp_req *q, uint64_t n, const char *fmt, ...)
{
	if (!q->res->rejected) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(q->res->error, sizeof(q->res->error), fmt, ap);
		va_end(ap);
	}
	q->res->rejected += n;
}

/* ---- labels ---- */

struct otlp_lab {
	struct series_label l;
	const char *key;     /* the attribute key, for the collision order */
	size_t key_len;
};

static int otlp_lab_cmp(const void *a, const void *b)
{
	const struct otlp_lab *x = a, *y = b;
	size_t n = x->l.name_len < y->l.name_len ? x->l.name_len : y->l.name_len;
	int c = memcmp(x->l.name, y->l.name, n);
	if (c || x->l.name_len != y->l.name_len)
		return c ? c : (x->l.name_len < y->l.name_len ? -1 : 1);
	n = x->key_len < y->key_len ? x->key_len : y->key_len;
	c = memcmp(x->key, y->key, n);
	return c ? c : (x->key_len < y->key_len ? -1 : x->key_len > y->key_len);
}

static int otlp_is(const struct series_label *l, const char *name)
{
	size_t n = strlen(name);
	return l->name_len == n && memcmp(l->name, name, n) == 0;
}

static int otlp_key_is(const struct otlp_kv *kv, const char *name)
{
	size_t n = strlen(name);
	return kv->key_len == n && memcmp(kv->key, name, n) == 0;
}

/* Turns attributes into labels in the arena: names translated (an
 * attribute whose name translates to nothing is left out), empty values
 * left out, sorted by name, attributes that map to one name joined with
 * ";" in key order. `skip_ids` leaves out service.name, service.namespace
 * and service.instance.id (the resource's target_info). Returns 0 with
 * *out and *nout set, or -ENOMEM. */
static int otlp_labels(struct otlp_req *q, const struct otlp_kv *a, size_t n, int skip_ids,
		       struct series_label **out, size_t *nout)
{
	struct otlp_lab *lab = otlp_alloc(&q->o->arena, (n ? n : 1) * sizeof(*lab));
	struct series_label *res = otlp_alloc(&q->o->arena, (n ? n : 1) * sizeof(*res));
	if (!lab || !res)
		return -ENOMEM;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (a[i].val_len == 0)
			continue;
		if (skip_ids && (otlp_key_is(&a[i], "service.name") || otlp_key_is(&a[i], "service.namespace") ||
				 otlp_key_is(&a[i], "service.instance.id")))
			continue;
		size_t cap = a[i].key_len + 8;
		char *name = otlp_alloc(&q->o->arena, cap);
		if (!name)
			return -ENOMEM;
		int len = otlpname_label(name, cap, a[i].key, a[i].key_len);
		if (len <= 0 || (len == 8 && memcmp(name, "__name__", 8) == 0))
			continue;
		lab[m].l = (struct series_label){name, (size_t)len, a[i].val, a[i].val_len};
		lab[m].key = a[i].key;
		lab[m].key_len = a[i].key_len;
		m++;
	}
	qsort(lab, m, sizeof(*lab), otlp_lab_cmp);
	size_t k = 0;
	for (size_t i = 0; i < m; i++) {
		if (k && res[k - 1].name_len == lab[i].l.name_len &&
		    memcmp(res[k - 1].name, lab[i].l.name, lab[i].l.name_len) == 0) {
			size_t vl = res[k - 1].value_len + 1 + lab[i].l.value_len;
			char *v = otlp_alloc(&q->o->arena, vl + 1);
			if (!v)
				return -ENOMEM;
			memcpy(v, res[k - 1].value, res[k - 1].value_len);
			v[res[k - 1].value_len] = ';';
			memcpy(v + res[k - 1].value_len + 1, lab[i].l.value, lab[i].l.value_len);
			res[k - 1].value = v;
			res[k - 1].value_len = vl;
			continue;
		}
		res[k++] = lab[i].l;
	}
	*out = res;
	*nout = k;
	return 0;
}

/* ---- delta totals ---- */

struct otlp_undo {
	uint32_t idx;
	double prev;
};

static int otlp_delta_grow(struct otlp_delta *d)
{
	size_t ns = d->nslots ? d->nslots * 2 : 1024;
	uint32_t *slots = calloc(ns, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		size_t s = d->ents[i].id & (ns - 1);
		while (slots[s])
			s = (s + 1) & (ns - 1);
		slots[s] = (uint32_t)i + 1;
	}
	free(d->slots);
	d->slots = slots;
	d->nslots = ns;
	return 0;
}

/* Adds v to the pending total of the series with canonical key key[len]
 * (created at 0) and journals the previous pending value. Sets *total.
 * Returns 0, -ENOSPC when OTLP_DELTA_MAX series are tracked, -ENOMEM. */
static int otlp_delta_add(struct otlp_delta *d, const uint8_t *key, size_t len, double v, double *total)
{
	if (d->nslots == 0 || (d->n + 1) * 10 > d->nslots * 7) {
		if (otlp_delta_grow(d) != 0)
			return -ENOMEM;
	}
	uint64_t id = series_id(key, len);
	size_t s = id & (d->nslots - 1);
	struct otlp_delta_ent *e = NULL;
	for (; d->slots[s]; s = (s + 1) & (d->nslots - 1)) {
		struct otlp_delta_ent *c = &d->ents[d->slots[s] - 1];
		if (c->id == id && c->key_len == len && memcmp(c->key, key, len) == 0) {
			e = c;
			break;
		}
	}
	if (!e) {
		if (d->n >= OTLP_DELTA_MAX)
			return -ENOSPC;
		if (d->n == d->ents_cap) {
			size_t nc = d->ents_cap ? d->ents_cap * 2 : 256;
			struct otlp_delta_ent *ne = realloc(d->ents, nc * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			d->ents = ne;
			d->ents_cap = nc;
		}
		uint8_t *k = malloc(len);
		if (!k)
			return -ENOMEM;
		memcpy(k, key, len);
		e = &d->ents[d->n];
		*e = (struct otlp_delta_ent){.id = id, .key = k, .key_len = (uint32_t)len};
		d->slots[s] = (uint32_t)++d->n;
	}
	struct otlp_undo u = {(uint32_t)(e - d->ents), e->pending};
	if (otlp_vec_push(&d->undo, &u, sizeof(u)) != 0)
		return -ENOMEM;
	e->pending += v;
	*total = e->pending;
	return 0;
}

/* Rolls the journal back to `mark` entries (newest first). */
static void otlp_delta_undo(struct otlp_delta *d, size_t mark)
{
	struct otlp_undo *u = d->undo.p;
	while (d->undo.n > mark) {
		d->undo.n--;
		d->ents[u[d->undo.n].idx].pending = u[d->undo.n].prev;
	}
}

/* After a commit: pending totals become the totals. */
static void otlp_delta_commit(struct otlp_delta *d)
{
	struct otlp_undo *u = d->undo.p;
	for (size_t i = 0; i < d->undo.n; i++)
		d->ents[u[i].idx].total = d->ents[u[i].idx].pending;
	d->undo.n = 0;
}

static void otlp_delta_free(struct otlp_delta *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->ents[i].key);
	free(d->ents);
	free(d->slots);
	free(d->undo.p);
	memset(d, 0, sizeof(*d));
}

/* ---- translation ---- */

static double otlp_stale_nan(void)
{
	uint64_t b = OTLP_STALE_NAN_BITS;
	double d;
	memcpy(&d, &b, 8);
	return d;
}

static int64_t otlp_ts(const struct otlp_req *q, uint64_t ns)
{
	return ns ? (int64_t)(ns / 1000000u) : q->now_ms;
}

int otlp_resource_begin(struct otlp_req *q, const struct otlp_kv *a, size_t n)
{
	const struct otlp_kv *name = NULL, *ns = NULL, *inst = NULL;
	for (size_t i = 0; i < n; i++) {
		if (otlp_key_is(&a[i], "service.name"))
			name = &a[i];
		else if (otlp_key_is(&a[i], "service.namespace"))
			ns = &a[i];
		else if (otlp_key_is(&a[i], "service.instance.id"))
			inst = &a[i];
	}
	q->job = (struct series_label){"job", 3, "", 0};
	q->instance = (struct series_label){"instance", 8, "", 0};
	q->ninfo = 0;
	q->res_max_ts = 0;
	q->res_points = 0;
	if (name && name->val_len) {
		size_t nl = ns && ns->val_len ? ns->val_len + 1 : 0;
		char *v = otlp_alloc(&q->o->arena, nl + name->val_len + 1);
		if (!v)
			return -ENOMEM;
		if (nl) {
			memcpy(v, ns->val, ns->val_len);
			v[ns->val_len] = '/';
		}
		memcpy(v + nl, name->val, name->val_len);
		q->job.value = v;
		q->job.value_len = nl + name->val_len;
	}
	if (inst && inst->val_len) {
		q->instance.value = otlp_strdup(&q->o->arena, inst->val, inst->val_len);
		if (!q->instance.value)
			return -ENOMEM;
		q->instance.value_len = inst->val_len;
	}
	return otlp_labels(q, a, n, 1, &q->info, &q->ninfo);
}

/* Adds one sample: metric q->name + suffix, labels base[] plus job and
 * instance plus the extra label xname=xval (when xname), value v at ts;
 * through the running total when q->delta (stale markers pass as they
 * are). Returns 0, -EINVAL/-E2BIG (not a storable series), -ENOSPC (delta
 * table full), -ENOMEM. */
static int otlp_emit(struct otlp_req *q, const char *suffix, const struct series_label *base, size_t nbase,
		     const char *xname, const char *xval, int64_t ts, double v)
{
	struct series_label l[INGEST_MAX_LABELS];
	char name[OTLPNAME_MAX + 16];
	size_t sl = strlen(suffix), n = 0;
	if (nbase + 3 > INGEST_MAX_LABELS)
		return -E2BIG;
	memcpy(name, q->name, q->name_len);
	memcpy(name + q->name_len, suffix, sl + 1);
	for (size_t i = 0; i < nbase; i++)
		l[n++] = base[i];
	if (q->job.value_len)
		l[n++] = q->job;
	if (q->instance.value_len)
		l[n++] = q->instance;
	if (xname)
		l[n++] = (struct series_label){xname, strlen(xname), xval, strlen(xval)};
	if (q->delta && !isnan(v)) {
		uint8_t key[SERIES_KEY_MAX];
		struct series_label tmp[INGEST_MAX_LABELS];
		memcpy(tmp, l, n * sizeof(*l));
		int kl = series_key_build(key, sizeof(key), name, q->name_len + sl, tmp, n);
		if (kl < 0)
			return kl;
		int rc = otlp_delta_add(&q->o->delta, key, (size_t)kl, v, &v);
		if (rc)
			return rc;
	}
	return ingest_add(&q->o->in, name, q->name_len + sl, l, n, ts, v);
}

int otlp_metric_begin(struct otlp_req *q, const struct otlp_metric *m)
{
	enum otlpname_type t = OTLPNAME_GAUGE;
	q->kind = m->kind;
	q->delta = 0;
	q->bad = NULL;
	q->name_len = 0;
	switch (m->kind) {
	case OTLP_KIND_NONE:
	case OTLP_KIND_GAUGE:
		break;
	case OTLP_KIND_SUM:
		t = m->monotonic ? OTLPNAME_COUNTER : OTLPNAME_UPDOWN;
		break;
	case OTLP_KIND_HISTOGRAM:
	case OTLP_KIND_EXPHIST:
		t = OTLPNAME_HISTOGRAM;
		break;
	case OTLP_KIND_SUMMARY:
		t = OTLPNAME_SUMMARY;
		break;
	}
	if (m->kind == OTLP_KIND_SUM || m->kind == OTLP_KIND_HISTOGRAM || m->kind == OTLP_KIND_EXPHIST) {
		if (m->temporality == OTLP_TEMPORALITY_DELTA)
			q->delta = 1;
		else if (m->temporality != OTLP_TEMPORALITY_CUMULATIVE)
			q->bad = "unspecified or invalid aggregation temporality";
		if (q->delta && m->kind == OTLP_KIND_EXPHIST)
			q->bad = "delta exponential histograms are not supported (use cumulative temporality)";
	}
	int len = otlpname_metric(q->name, sizeof(q->name), m->name, m->name_len, m->unit, m->unit_len, t);
	if (len < 0) {
		q->bad = len == -E2BIG ? "metric name too long" : "metric name has no usable character";
		return 0;
	}
	q->name_len = (size_t)len;
	return 0;
}

/* base^i of an exponential histogram, base = 2^(2^-scale): exact for
 * scale <= 0, within an ulp of exp2 otherwise. Overflows to inf / 0. */
static double otlp_exp_bound(int32_t scale, int64_t i)
{
	int64_t e;
	double m = 1.0;
	if (scale <= 0) {
		e = i * ((int64_t)1 << -scale);
	} else {
		int64_t div = (int64_t)1 << scale;
		e = i >= 0 ? i / div : -((-i + div - 1) / div); /* floor */
		m = exp2((double)(i - e * div) / (double)div);
	}
	if (e > 4096)
		return INFINITY;
	if (e < -4096)
		return 0;
	return ldexp(m, (int)e);
}

/* Cumulative classic buckets of an exponential histogram point: le values
 * and counts into le[]/cum[] (room for npos + nneg + 1). Returns the count. */
static size_t otlp_exp_buckets(const struct otlp_point *p, double *le, uint64_t *cum)
{
	size_t n = 0;
	uint64_t c = 0;
	for (size_t k = p->nneg; k-- > 0;) {
		c += p->neg[k];
		le[n] = -otlp_exp_bound(p->scale, p->neg_offset + (int64_t)k);
		cum[n++] = c;
	}
	c += p->zero_count;
	le[n] = p->zero_threshold;
	cum[n++] = c;
	for (size_t k = 0; k < p->npos; k++) {
		c += p->pos[k];
		le[n] = otlp_exp_bound(p->scale, p->pos_offset + (int64_t)k + 1);
		cum[n++] = c;
	}
	/* Boundaries that do not grow (a zero threshold wider than the first
	 * buckets, or bounds past the double range) fold into the previous le. */
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (o && !(le[i] > le[o - 1])) {
			cum[o - 1] = cum[i];
			continue;
		}
		le[o] = le[i];
		cum[o++] = cum[i];
	}
	return o;
}

/* Checks a point's shape; returns NULL or why it is refused. */
static const char *otlp_point_check(const struct otlp_req *q, const struct otlp_point *p)
{
	if (p->flags & OTLP_FLAG_NO_RECORDED_VALUE)
		return NULL;
	switch (q->kind) {
	case OTLP_KIND_GAUGE:
	case OTLP_KIND_SUM:
		return p->has_value ? NULL : "number data point without a value";
	case OTLP_KIND_HISTOGRAM:
		if (p->nbuckets && p->nbuckets != p->nbounds + 1)
			return "histogram bucket_counts must have one entry more than explicit_bounds";
		for (size_t i = 0; i < p->nbounds; i++)
			if (isnan(p->bounds[i]) || (i && !(p->bounds[i] > p->bounds[i - 1])))
				return "histogram explicit_bounds must be strictly increasing";
		return NULL;
	case OTLP_KIND_EXPHIST:
		if (p->scale < -10 || p->scale > 20)
			return "exponential histogram scale outside -10..20";
		if (p->npos + p->nneg > OTLP_EXP_MAX_BUCKETS)
			return "exponential histogram with too many buckets";
		if (p->pos_offset < -(1 << 30) || p->pos_offset > (1 << 30) || p->neg_offset < -(1 << 30) ||
		    p->neg_offset > (1 << 30))
			return "exponential histogram bucket offset out of range";
		if (!(p->zero_threshold >= 0) || isinf(p->zero_threshold))
			return "exponential histogram zero_threshold must be finite and >= 0";
		return NULL;
	case OTLP_KIND_SUMMARY:
		for (size_t i = 0; i < p->nquantiles; i++)
			if (!(p->quantiles[2 * i] >= 0 && p->quantiles[2 * i] <= 1))
				return "summary quantile outside [0, 1]";
		return NULL;
	default:
		return "unsupported metric type";
	}
}

/* Writes every sample of one point. Returns 0 or an otlp_emit error. */
static int otlp_point_emit(struct otlp_req *q, const struct otlp_point *p, const struct series_label *base,
			   size_t nbase, int64_t ts)
{
	int stale = (p->flags & OTLP_FLAG_NO_RECORDED_VALUE) != 0;
	double sn = otlp_stale_nan();
	char v[64];
	int rc = 0;
	switch (q->kind) {
	case OTLP_KIND_GAUGE:
	case OTLP_KIND_SUM:
		return otlp_emit(q, "", base, nbase, NULL, NULL, ts, stale ? sn : p->value);
	case OTLP_KIND_SUMMARY:
		if ((rc = otlp_emit(q, "_sum", base, nbase, NULL, NULL, ts, stale ? sn : p->sum)) ||
		    (rc = otlp_emit(q, "_count", base, nbase, NULL, NULL, ts, stale ? sn : (double)p->count)))
			return rc;
		for (size_t i = 0; i < p->nquantiles && !rc; i++) {
			otlpname_float(v, sizeof(v), p->quantiles[2 * i]);
			rc = otlp_emit(q, "", base, nbase, "quantile", v, ts, stale ? sn : p->quantiles[2 * i + 1]);
		}
		return rc;
	case OTLP_KIND_HISTOGRAM:
	case OTLP_KIND_EXPHIST:
		break;
	default:
		return -EINVAL;
	}
	if (p->has_sum && (rc = otlp_emit(q, "_sum", base, nbase, NULL, NULL, ts, stale ? sn : p->sum)))
		return rc;
	if ((rc = otlp_emit(q, "_count", base, nbase, NULL, NULL, ts, stale ? sn : (double)p->count)))
		return rc;
	if (q->kind == OTLP_KIND_HISTOGRAM) {
		uint64_t cum = 0;
		for (size_t i = 0; i < p->nbounds && !rc; i++) {
			cum += p->nbuckets ? p->buckets[i] : 0;
			otlpname_float(v, sizeof(v), p->bounds[i]);
			rc = otlp_emit(q, "_bucket", base, nbase, "le", v, ts, stale ? sn : (double)cum);
		}
	} else if (!stale || p->npos + p->nneg) {
		size_t cap = p->npos + p->nneg + 1;
		double *le = otlp_alloc(&q->o->arena, cap * sizeof(double));
		uint64_t *cum = otlp_alloc(&q->o->arena, cap * sizeof(uint64_t));
		if (!le || !cum)
			return -ENOMEM;
		size_t n = otlp_exp_buckets(p, le, cum);
		for (size_t i = 0; i < n && !rc; i++) {
			if (isinf(le[i]))
				continue; /* +Inf comes last, from count */
			otlpname_float(v, sizeof(v), le[i]);
			rc = otlp_emit(q, "_bucket", base, nbase, "le", v, ts, stale ? sn : (double)cum[i]);
		}
	}
	if (rc)
		return rc;
	return otlp_emit(q, "_bucket", base, nbase, "le", "+Inf", ts, stale ? sn : (double)p->count);
}

int otlp_point_add(struct otlp_req *q, const struct otlp_point *p)
{
	if (q->bad) {
		otlp_reject(q, 1, "metric %.*s: %s", (int)(q->name_len ? q->name_len : 1),
			    q->name_len ? q->name : "?", q->bad);
		return 0;
	}
	const char *why = otlp_point_check(q, p);
	if (why) {
		otlp_reject(q, 1, "metric %.*s: %s", (int)q->name_len, q->name, why);
		return 0;
	}
	struct series_label *lab;
	size_t nlab;
	int rc = otlp_labels(q, p->attrs, p->nattrs, 0, &lab, &nlab);
	if (rc)
		return rc;
	/* Resource identity and the labels of the series' own kind win. */
	size_t k = 0;
	int hist = q->kind == OTLP_KIND_HISTOGRAM || q->kind == OTLP_KIND_EXPHIST;
	for (size_t i = 0; i < nlab; i++) {
		if ((q->job.value_len && otlp_is(&lab[i], "job")) ||
		    (q->instance.value_len && otlp_is(&lab[i], "instance")) ||
		    (hist && otlp_is(&lab[i], "le")) || (q->kind == OTLP_KIND_SUMMARY && otlp_is(&lab[i], "quantile")))
			continue;
		lab[k++] = lab[i];
	}
	int64_t ts = otlp_ts(q, p->time_ns);
	struct router_batch *b = &q->o->in.batch;
	size_t mark_n = b->n, mark_keys = b->keys_len, mark_undo = q->o->delta.undo.n;
	rc = otlp_point_emit(q, p, lab, k, ts);
	if (rc == 0) {
		q->res_points++;
		if (ts > q->res_max_ts)
			q->res_max_ts = ts;
		return 0;
	}
	/* Roll the point back out of the batch and the delta journal. */
	for (size_t i = mark_n; i < b->n; i++)
		b->bytes[b->s[i].dest] -= rec_samples_cost(b->s[i].key_len);
	b->n = mark_n;
	b->keys_len = mark_keys;
	otlp_delta_undo(&q->o->delta, mark_undo);
	if (rc == -ENOMEM)
		return rc;
	q->o->in.rejected++;
	otlp_reject(q, 1, "metric %.*s: %s", (int)q->name_len, q->name,
		    rc == -ENOSPC ? "too many delta series tracked by this collector"
		    : rc == -E2BIG ? "series labels too long or too many"
				   : "invalid label set");
	return 0;
}

int otlp_resource_end(struct otlp_req *q)
{
	if (!q->ninfo || !q->res_points || (!q->job.value_len && !q->instance.value_len))
		return 0;
	char save[OTLPNAME_MAX];
	size_t save_len = q->name_len;
	int save_delta = q->delta;
	memcpy(save, q->name, save_len);
	memcpy(q->name, "target_info", 12);
	q->name_len = 11;
	q->delta = 0;
	int rc = otlp_emit(q, "", q->info, q->ninfo, NULL, NULL, q->res_max_ts, 1);
	memcpy(q->name, save, save_len);
	q->name_len = save_len;
	q->delta = save_delta;
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		log_warn("otlp: target_info not stored: %s", strerror(-rc));
	return 0;
}

/* ---- the request ---- */

int otlp_ingest(struct otlp *o, const char *body, size_t len, enum otlp_format fmt,
		int64_t now_ms, int wait_ms, struct otlp_result *res)
{
	struct otlp_req q = {.o = o, .res = res, .now_ms = now_ms};
	memset(res, 0, sizeof(*res));
	ingest_reset(&o->in);
	otlp_arena_reset(&o->arena);
	int rc = fmt == OTLP_JSON ? otlpjson_decode(&q, body, len) : otlppb_decode(&q, (const uint8_t *)body, len);
	if (rc == 0) {
		size_t n = o->in.batch.n;
		rc = ingest_commit(&o->in, wait_ms);
		if (rc == 0) {
			res->samples = n;
			otlp_delta_commit(&o->delta);
		}
	}
	if (rc) {
		ingest_reset(&o->in);
		otlp_delta_undo(&o->delta, 0);
	}
	otlp_arena_reset(&o->arena);
	return rc;
}

/* ---- HTTP ---- */

/* Replies `code` with a google.rpc.Status {code, message} in the request's
 * format (protobuf or JSON). */
static void otlp_reply_status(struct otlp *o, struct evhttp_request *req, enum otlp_format fmt, int code,
			      int grpc_code, const char *msg)
{
	if (code >= 400 && code < 500)
		ctl_add(o->st->slot, CTL_C_BAD_REQUESTS, 1);
	if (code == 429 || code == 503) {
		ctl_add(o->st->slot, CTL_C_REJECTED, 1);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
	}
	if (fmt == OTLP_PROTOBUF) {
		struct pb_writer w = {0};
		pb_put_varint_field(&w, 1, (uint64_t)grpc_code);
		pb_put_bytes_field(&w, 2, msg, strlen(msg));
		httpd_reply(req, code, "application/x-protobuf", w.oom ? NULL : (const char *)w.buf, w.oom ? 0 : w.len);
		pb_writer_free(&w);
		return;
	}
	char out[2048];
	size_t n = (size_t)snprintf(out, sizeof(out), "{\"code\":%d,\"message\":\"", grpc_code);
	n = httpd_json_escape(out, n, sizeof(out), msg);
	n += (size_t)snprintf(out + n, sizeof(out) - n, "\"}");
	httpd_reply(req, code, "application/json", out, n);
}

/* 200 with an ExportMetricsServiceResponse, partial_success when points
 * were refused. */
static void otlp_reply_ok(struct evhttp_request *req, enum otlp_format fmt, const struct otlp_result *res)
{
	if (fmt == OTLP_PROTOBUF) {
		struct pb_writer ps = {0}, w = {0};
		if (res->rejected) {
			pb_put_varint_field(&ps, 1, res->rejected);
			pb_put_bytes_field(&ps, 2, res->error, strlen(res->error));
			pb_put_bytes_field(&w, 1, ps.buf, ps.len);
		}
		int ok = !ps.oom && !w.oom;
		httpd_reply(req, 200, "application/x-protobuf", ok ? (const char *)w.buf : NULL, ok ? w.len : 0);
		pb_writer_free(&ps);
		pb_writer_free(&w);
		return;
	}
	if (!res->rejected) {
		httpd_reply(req, 200, "application/json", "{}", 2);
		return;
	}
	char out[1400];
	size_t n = (size_t)snprintf(out, sizeof(out), "{\"partialSuccess\":{\"rejectedDataPoints\":\"%llu\",\"errorMessage\":\"",
				    (unsigned long long)res->rejected);
	for (const char *p = res->error; *p && n + 8 < sizeof(out); p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			out[n++] = '\\';
		if (c < 0x20)
			n += (size_t)snprintf(out + n, sizeof(out) - n, "\\u%04x", c);
		else
			out[n++] = (char)c;
	}
	n += (size_t)snprintf(out + n, sizeof(out) - n, "\"}}");
	httpd_reply(req, 200, "application/json", out, n);
}

/* Content-Type without parameters, compared case-insensitively. */
static int otlp_ctype_is(const char *ct, const char *want)
{
	size_t n = strlen(want);
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void otlp_on_metrics(struct evhttp_request *req, void *arg)
{
	struct otlp *o = arg;
	ctl_add(o->st->slot, CTL_C_REQUESTS, 1);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	enum otlp_format fmt = OTLP_JSON;
	int known = 1;
	if (ct && (otlp_ctype_is(ct, "application/x-protobuf") || otlp_ctype_is(ct, "application/protobuf")))
		fmt = OTLP_PROTOBUF;
	else if (!ct || !otlp_ctype_is(ct, "application/json"))
		known = 0;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		otlp_reply_status(o, req, fmt, 405, 3, "use POST with an ExportMetricsServiceRequest body");
		return;
	}
	if (!known) {
		otlp_reply_status(o, req, fmt, 415, 3,
				  "unsupported Content-Type: use application/x-protobuf or application/json");
		return;
	}
	const char *body;
	size_t len;
	if (ingest_read_body(&o->in, req, 0, &body, &len) != 0)
		return;
	struct otlp_result res;
	int rc = otlp_ingest(o, body, len, fmt, segment_now_real_ms(), o->st->cfg.push_wait_ms, &res);
	if (rc == 0) {
		otlp_reply_ok(req, fmt, &res);
	} else if (rc == -EINVAL) {
		otlp_reply_status(o, req, fmt, 400, 3, res.error[0] ? res.error : "malformed request");
	} else if (rc == -ETIMEDOUT || rc == -EAGAIN) {
		otlp_reply_status(o, req, fmt, 503, 14, "ingestion rings are full; retry later");
	} else {
		log_error("otlp: ingest failed: %s", strerror(-rc));
		otlp_reply_status(o, req, fmt, 500, 13, strerror(-rc));
	}
}

int otlp_init(struct otlp *o, struct stage *st, struct router *router, struct evhttp *http)
{
	memset(o, 0, sizeof(*o));
	o->st = st;
	ingest_init(&o->in, st, router);
	if (http && (evhttp_set_cb(http, "/v1/metrics", otlp_on_metrics, o) != 0 ||
		     evhttp_set_cb(http, "/api/v1/otlp/v1/metrics", otlp_on_metrics, o) != 0)) {
		log_error("otlp: evhttp_set_cb failed for /v1/metrics");
		ingest_fini(&o->in);
		return -ENOMEM;
	}
	return 0;
}

void otlp_fini(struct otlp *o)
{
	if (!o || !o->st)
		return;
	ingest_fini(&o->in);
	otlp_delta_free(&o->delta);
	otlp_arena_free(&o->arena);
	free(o->attrs.p);
	free(o->u64a.p);
	free(o->u64b.p);
	free(o->dbl.p);
	memset(o, 0, sizeof(*o));
}
