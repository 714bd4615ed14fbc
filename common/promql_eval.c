/* promql_eval: see promql_eval.h. This file holds the core: the per-query
 * context (errors, annotations, limits), the value containers, selectors
 * (fetch, lookback, staleness, offset/@), range arguments and subqueries,
 * the dispatch over node kinds, and the two public entry points.
 *
 * Invariants: every pe_series of a value has arrays of exactly the
 * evaluation's step count; a series in a finished value has at least one
 * step with a value; range arguments hold no stale markers.
 */
#include "common/promql_eval.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/promql_eval_pvt.h"

int promql_is_stale(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	return bits == PROMQL_STALE_NAN_BITS;
}

int64_t promql_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- errors, annotations, limits ---- */

/* Records the first error (kind, message) and returns rc, so that error
 * paths read `return pe_errf(c, -ERANGE, ...)`. */
int pe_errf(struct pe_ctx *c, int rc, int kind, const char *fmt, ...)
{
	va_list ap;

	if (c->res->err == PROMQL_ERR_NONE) {
		c->res->err = kind;
		va_start(ap, fmt);
		vsnprintf(c->res->msg, sizeof(c->res->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Adds a warning (info = 0) or info annotation, once per distinct text.
 * Returns 0 or -ENOMEM. */
int pe_warnf(struct pe_ctx *c, int info, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	char ***arr = info ? &c->res->infos : &c->res->warnings;
	size_t *n = info ? &c->res->ninfo : &c->res->nwarn;
	char **na;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*arr)[i], buf) == 0)
			return 0;
	na = realloc(*arr, (*n + 1) * sizeof(*na));
	if (!na)
		return -ENOMEM;
	*arr = na;
	na[*n] = strdup(buf);
	if (!na[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* "line:col" of a node, as Prometheus prints positions in annotations. */
size_t pe_pos_fmt(const struct pe_ctx *c, const struct promql_node *n, char *buf, size_t cap)
{
	unsigned line = 1, col = 1;
	if (c->o.query) {
		for (uint32_t i = 0; i < n->pos && c->o.query[i]; i++) {
			if (c->o.query[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
	} else {
		col = n->pos + 1;
	}
	return (size_t)snprintf(buf, cap, "%u:%u", line, col);
}

/* Checks the cancel flag, and every 64th call the deadline and the
 * "client gone" hook. Returns 0, -ETIMEDOUT or -ECANCELED with the error
 * set. */
int pe_check(struct pe_ctx *c)
{
	if (c->o.cancel && *c->o.cancel)
		return pe_errf(c, -ECANCELED, PROMQL_ERR_CANCELED,
			       "query was canceled in expression evaluation");
	if ((c->tick++ & 63) != 0)
		return 0;
	if (c->o.deadline_ms && promql_now_ms() > c->o.deadline_ms)
		return pe_errf(c, -ETIMEDOUT, PROMQL_ERR_TIMEOUT,
			       "query timed out in expression evaluation");
	if (c->o.gone && c->o.gone(c->o.gone_arg))
		return pe_errf(c, -ECANCELED, PROMQL_ERR_CANCELED,
			       "query was canceled: the client went away");
	return 0;
}

/* Counts n more samples in memory. Returns 0 or -E2BIG past the limit. */
int pe_account(struct pe_ctx *c, uint64_t n)
{
	c->samples += n;
	if (c->o.max_samples && c->samples > c->o.max_samples)
		return pe_errf(c, -E2BIG, PROMQL_ERR_EXEC, PROMQL_MSG_TOO_MANY_SAMPLES);
	return 0;
}

/* ---- containers ---- */

void pe_vec_free(struct pe_vec *v)
{
	for (size_t i = 0; i < v->n; i++) {
		promql_lset_free(&v->s[i].ls);
		free(v->s[i].v);
		free(v->s[i].has);
		free(v->s[i].ts);
	}
	free(v->s);
	memset(v, 0, sizeof(*v));
}

void pe_mat_free(struct pe_mat *m)
{
	for (size_t i = 0; i < m->n; i++) {
		promql_lset_free(&m->s[i].ls);
		free(m->s[i].p);
	}
	free(m->s);
	memset(m, 0, sizeof(*m));
}

void pe_val_free(struct pe_val *v)
{
	free(v->sc);
	pe_vec_free(&v->vec);
	pe_mat_free(&v->mat);
	memset(v, 0, sizeof(*v));
}

/* Appends a series with empty arrays of `steps`; takes ownership of *ls
 * (zeroed). *out points at it (valid until the next add). Returns 0 or
 * -ENOMEM (ls freed). */
int pe_vec_add(struct pe_ctx *c, struct pe_vec *v, size_t steps, struct promql_lset *ls,
	       struct pe_series **out)
{
	struct pe_series *s;

	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 8;
		struct pe_series *ns = realloc(v->s, nc * sizeof(*ns));
		if (!ns) {
			promql_lset_free(ls);
			return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		}
		v->s = ns;
		v->cap = nc;
	}
	s = &v->s[v->n];
	memset(s, 0, sizeof(*s));
	s->v = malloc(steps * sizeof(double));
	s->has = calloc(steps, 1);
	if (!s->v || !s->has) {
		free(s->v);
		free(s->has);
		promql_lset_free(ls);
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	}
	s->ls = *ls;
	ls->b = NULL;
	ls->len = 0;
	v->n++;
	*out = s;
	return 0;
}

/* Drops series without any value (keeps order). */
static void pe_vec_compact(struct pe_vec *v, size_t steps)
{
	size_t o = 0;
	for (size_t i = 0; i < v->n; i++) {
		struct pe_series *s = &v->s[i];
		int any = 0;
		for (size_t k = 0; k < steps && !any; k++)
			any = s->has[k];
		if (any) {
			v->s[o++] = *s;
		} else {
			promql_lset_free(&s->ls);
			free(s->v);
			free(s->has);
			free(s->ts);
		}
	}
	v->n = o;
}

void pe_out_init(struct pe_out *o, struct pe_vec *vec, size_t steps, int whole)
{
	o->vec = vec;
	o->steps = steps;
	o->whole = whole;
	promql_itab_init(&o->tab);
}

void pe_out_fini(struct pe_out *o)
{
	promql_itab_free(&o->tab);
}

/* Stores v at step for the output series labelled ls (copied when new),
 * produced by input src. cache (optional) remembers the output index per
 * input: *cache = index + 1. Fails with "vector cannot contain metrics
 * with the same labelset" when two inputs meet at one step (or anywhere
 * with o->whole). Returns 0 or a negative errno with the error set. */
int pe_out_put(struct pe_ctx *c, struct pe_out *o, size_t step, const struct promql_lset *ls,
	       uint32_t src, double v, uint32_t *cache)
{
	struct pe_series *s;
	uint32_t id;
	int rc;

	if (cache && *cache) {
		s = &o->vec->s[*cache - 1];
	} else {
		rc = promql_itab_intern(&o->tab, ls->b, ls->len, &id);
		if (rc < 0)
			return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		if (rc == 1) {
			struct promql_lset cp;
			if (promql_lset_copy(ls, &cp))
				return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			if ((rc = pe_vec_add(c, o->vec, o->steps, &cp, &s)) != 0)
				return rc;
			s->src = src;
		} else {
			s = &o->vec->s[id];
			if (o->whole && s->src != src)
				return pe_errf(c, -ERANGE, PROMQL_ERR_EXEC,
					       "vector cannot contain metrics with the same labelset");
		}
		if (cache)
			*cache = id + 1;
	}
	if (s->has[step])
		return pe_errf(c, -ERANGE, PROMQL_ERR_EXEC,
			       "vector cannot contain metrics with the same labelset");
	s->has[step] = 1;
	s->v[step] = v;
	return pe_account(c, 1);
}

/* v as Go's %g prints it ("NaN", "+Inf", "1e+21", "0.5"). */
const char *pe_gfmt(double v, char buf[40])
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	snprintf(buf, 40, "%g", v);
	return buf;
}

const struct promql_node *pe_unparen(const struct promql_node *n)
{
	while (n && n->kind == PROMQL_PAREN)
		n = n->paren.expr;
	return n;
}

/* ---- selectors ---- */

struct pe_fetch {
	struct pe_ctx *c;
	struct pe_mat *m;
	int drop_stale;
	int rc;
};

/* Storage callback: copies one series. */
static int pe_fetch_cb(void *arg, const uint8_t *key, size_t key_len, const struct promfn_point *pts,
		       size_t n)
{
	struct pe_fetch *f = arg;
	struct pe_mat *m = f->m;
	struct pe_mseries *s;
	size_t k = 0;
	int rc;

	if (f->c->o.max_series && m->n >= f->c->o.max_series)
		return pe_errf(f->c, -E2BIG, PROMQL_ERR_EXEC,
			       "query would select more than %llu series",
			       (unsigned long long)f->c->o.max_series);
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 16;
		struct pe_mseries *ns = realloc(m->s, nc * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		m->s = ns;
		m->cap = nc;
	}
	s = &m->s[m->n];
	memset(s, 0, sizeof(*s));
	if ((rc = promql_lset_from_key(key, key_len, &s->ls)) != 0)
		return rc;
	s->p = malloc((n ? n : 1) * sizeof(*s->p));
	if (!s->p) {
		promql_lset_free(&s->ls);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (f->drop_stale && promql_is_stale(pts[i].v))
			continue;
		s->p[k++] = pts[i];
	}
	s->n = k;
	m->n++;
	f->c->loaded += n;
	return pe_account(f->c, n);
}

static int pe_mseries_cmp(const void *a, const void *b)
{
	return promql_lset_cmp(&((const struct pe_mseries *)a)->ls,
			       &((const struct pe_mseries *)b)->ls);
}

/* Reads the series of selector vs with points in [mint, maxt] into *m,
 * sorted by labels. Returns 0 or a negative errno with the error set. */
static int pe_fetch(struct pe_ctx *c, const struct promql_node *vs, int64_t mint, int64_t maxt,
		    int drop_stale, struct pe_mat *m)
{
	struct pe_fetch f = {c, m, drop_stale, 0};
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = pe_check(c)) != 0)
		return rc;
	rc = c->st->select(c->st->ctx, vs->vs.m, vs->vs.nm, mint, maxt, pe_fetch_cb, &f);
	if (rc == 0) {
		if (m->n > 1)
			qsort(m->s, m->n, sizeof(*m->s), pe_mseries_cmp);
		return 0;
	}
	pe_mat_free(m);
	switch (rc) {
	case -E2BIG:
		return pe_errf(c, rc, PROMQL_ERR_EXEC, PROMQL_MSG_TOO_MANY_SAMPLES);
	case -ETIMEDOUT:
		return pe_errf(c, rc, PROMQL_ERR_TIMEOUT, "query timed out in query execution");
	case -ECANCELED:
		return pe_errf(c, rc, PROMQL_ERR_CANCELED, "query was canceled");
	case -ENOMEM:
		return pe_errf(c, rc, PROMQL_ERR_INTERNAL, "out of memory");
	default:
		return pe_errf(c, -EIO, PROMQL_ERR_INTERNAL, "storage error: %s", strerror(-rc));
	}
}

/* Milliseconds of a modifier's offset (constant or a duration expression). */
static int pe_offset(struct pe_ctx *c, const struct promql_mod *mod, int64_t *ms)
{
	double sec;
	if (!mod->offset_expr || promql_duration_is_const(mod->offset_expr)) {
		*ms = mod->offset_ms;
		return 0;
	}
	if (promql_duration_eval(mod->offset_expr, c->q_step, c->q_end - c->q_start, &sec) != 0)
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "invalid offset duration expression");
	*ms = (int64_t)llround(sec * 1000.0);
	return 0;
}

/* The @ time of a modifier; returns 1 when there is one. */
static int pe_at(const struct pe_ctx *c, const struct promql_mod *mod, int64_t *ms)
{
	switch (mod->at) {
	case PROMQL_AT_TIMESTAMP:
		*ms = mod->at_ms;
		return 1;
	case PROMQL_AT_START:
		*ms = c->q_start;
		return 1;
	case PROMQL_AT_END:
		*ms = c->q_end;
		return 1;
	}
	return 0;
}

/* Range of a matrix selector or subquery in ms. */
static int pe_range(struct pe_ctx *c, int64_t range_ms, const struct promql_node *expr, int64_t *ms)
{
	double sec;
	if (!expr || promql_duration_is_const(expr)) {
		*ms = range_ms;
		return 0;
	}
	if (promql_duration_eval(expr, c->q_step, c->q_end - c->q_start, &sec) != 0 || sec * 1000 < 1)
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "invalid range duration expression");
	*ms = (int64_t)llround(sec * 1000.0);
	return 0;
}

/* Evaluates an instant vector selector over ev: per step the latest point
 * in (ref - lookback, ref], none when it is a stale marker. want_ts keeps
 * the sample times (for timestamp()). */
int pe_eval_vs(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
	       int want_ts, struct pe_val *out)
{
	struct pe_mat raw;
	int64_t off, at = 0, lb = c->o.lookback_ms;
	int has_at, rc;

	memset(out, 0, sizeof(*out));
	out->type = PROMQL_TYPE_VECTOR;
	if ((rc = pe_offset(c, &n->vs.mod, &off)) != 0)
		return rc;
	has_at = pe_at(c, &n->vs.mod, &at);
	int64_t lo = (has_at ? at : ev->start) - off, hi = (has_at ? at : ev->end) - off;
	if ((rc = pe_fetch(c, n, lo - lb + 1, hi, 0, &raw)) != 0)
		return rc;
	for (size_t i = 0; i < raw.n; i++) {
		struct pe_mseries *r = &raw.s[i];
		struct pe_series *s = NULL;
		size_t k = 0, cnt = 0;
		if ((rc = pe_check(c)) != 0)
			goto out;
		for (size_t st = 0; st < ev->n; st++) {
			int64_t ref = (has_at ? at : ev->start + (int64_t)st * ev->step) - off;
			while (k < r->n && r->p[k].ts_ms <= ref)
				k++;
			if (k == 0 || r->p[k - 1].ts_ms <= ref - lb || promql_is_stale(r->p[k - 1].v))
				continue;
			if (!s) {
				struct promql_lset ls = r->ls;
				r->ls.b = NULL;
				r->ls.len = 0;
				if ((rc = pe_vec_add(c, &out->vec, ev->n, &ls, &s)) != 0)
					goto out;
				if (want_ts && !(s->ts = calloc(ev->n, sizeof(int64_t)))) {
					rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
					goto out;
				}
			}
			s->has[st] = 1;
			s->v[st] = r->p[k - 1].v;
			if (s->ts)
				s->ts[st] = r->p[k - 1].ts_ms;
			cnt++;
		}
		if ((rc = pe_account(c, cnt)) != 0)
			goto out;
	}
out:
	pe_mat_free(&raw);
	if (rc)
		pe_val_free(out);
	return rc;
}

/* ---- range arguments ---- */

int64_t pe_window_end(const struct pe_marg *m, int64_t t)
{
	return (m->at ? m->at_ms : t) - m->offset_ms;
}

/* The points of s in the window of step time t: (end - range, end], as
 * indices [*lo, *hi). */
void pe_window(const struct pe_marg *m, const struct pe_mseries *s, int64_t t, size_t *lo,
	       size_t *hi)
{
	int64_t end = pe_window_end(m, t), start = end - m->range_ms;
	size_t a = 0, b = s->n;

	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (s->p[mid].ts_ms <= start)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	b = s->n;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (s->p[mid].ts_ms <= end)
			a = mid + 1;
		else
			b = mid;
	}
	*hi = a;
}

/* Evaluates a subquery's inner expression on its own grid into m->mat. */
static int pe_subquery(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		       struct pe_marg *m)
{
	struct pe_ev in;
	struct pe_val v;
	int64_t step = n->sq.step_ms, s0;
	int rc;

	if (n->sq.step_expr) {
		double sec;
		if (promql_duration_eval(n->sq.step_expr, c->q_step, c->q_end - c->q_start, &sec) != 0)
			return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "invalid step duration expression");
		step = (int64_t)llround(sec * 1000.0);
	}
	if (step <= 0)
		step = c->o.subquery_step_ms;
	in.step = step;
	in.end = (m->at ? m->at_ms : ev->end) - m->offset_ms;
	s0 = (m->at ? m->at_ms : ev->start) - m->offset_ms - m->range_ms;
	in.start = step * (s0 / step);
	if (in.start <= s0)
		in.start += step;
	if (in.end < in.start)
		return 0;
	in.n = (size_t)((in.end - in.start) / step) + 1;
	if (in.n > 50000000)
		return pe_errf(c, -E2BIG, PROMQL_ERR_EXEC, PROMQL_MSG_TOO_MANY_SAMPLES);
	if ((rc = pe_eval(c, &in, n->sq.expr, &v)) != 0)
		return rc;
	if (v.type != PROMQL_TYPE_VECTOR) {
		pe_val_free(&v);
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "subquery is only allowed on instant vector");
	}
	m->mat.s = calloc(v.vec.n ? v.vec.n : 1, sizeof(*m->mat.s));
	if (!m->mat.s) {
		pe_val_free(&v);
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	}
	m->mat.cap = v.vec.n;
	for (size_t i = 0; i < v.vec.n; i++) {
		struct pe_series *s = &v.vec.s[i];
		struct pe_mseries *d = &m->mat.s[m->mat.n];
		size_t cnt = 0;
		for (size_t k = 0; k < in.n; k++)
			cnt += s->has[k];
		d->p = malloc((cnt ? cnt : 1) * sizeof(*d->p));
		if (!d->p) {
			pe_val_free(&v);
			return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		}
		for (size_t k = 0; k < in.n; k++) {
			if (!s->has[k])
				continue;
			d->p[d->n].ts_ms = in.start + (int64_t)k * step;
			d->p[d->n].v = s->v[k];
			d->n++;
		}
		d->ls = s->ls;
		s->ls.b = NULL;
		s->ls.len = 0;
		m->mat.n++;
	}
	pe_val_free(&v);
	return 0;
}

/* Prepares a range-vector argument (matrix selector or subquery, under
 * parentheses too) for windowing at the steps of ev. */
int pe_eval_marg(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		 struct pe_marg *m)
{
	int rc;

	memset(m, 0, sizeof(*m));
	n = pe_unparen(n);
	if (n->kind == PROMQL_MATRIX_SEL) {
		const struct promql_node *vs = n->ms.vs;
		if ((rc = pe_range(c, n->ms.range_ms, n->ms.range_expr, &m->range_ms)) != 0 ||
		    (rc = pe_offset(c, &vs->vs.mod, &m->offset_ms)) != 0)
			return rc;
		m->at = pe_at(c, &vs->vs.mod, &m->at_ms);
		int64_t lo = (m->at ? m->at_ms : ev->start) - m->offset_ms - m->range_ms;
		int64_t hi = (m->at ? m->at_ms : ev->end) - m->offset_ms;
		return pe_fetch(c, vs, lo + 1, hi, 1, &m->mat);
	}
	if (n->kind == PROMQL_SUBQUERY) {
		if ((rc = pe_range(c, n->sq.range_ms, n->sq.range_expr, &m->range_ms)) != 0 ||
		    (rc = pe_offset(c, &n->sq.mod, &m->offset_ms)) != 0)
			return rc;
		m->at = pe_at(c, &n->sq.mod, &m->at_ms);
		return pe_subquery(c, ev, n, m);
	}
	return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "expected a range vector");
}

/* Evaluates a scalar argument to one value per step (*out owned). */
int pe_scalar_arg(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		  double **out)
{
	struct pe_val v;
	int rc;

	*out = NULL;
	if ((rc = pe_eval(c, ev, n, &v)) != 0)
		return rc;
	if (v.type != PROMQL_TYPE_SCALAR) {
		pe_val_free(&v);
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "expected a scalar");
	}
	*out = v.sc;
	v.sc = NULL;
	pe_val_free(&v);
	return 0;
}

/* ---- dispatch ---- */

static int pe_alloc_scalar(struct pe_ctx *c, const struct pe_ev *ev, struct pe_val *out)
{
	memset(out, 0, sizeof(*out));
	out->type = PROMQL_TYPE_SCALAR;
	out->sc = malloc(ev->n * sizeof(double));
	if (!out->sc)
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	return 0;
}

/* Unary minus: negates scalars, or vector values dropping __name__. */
static int pe_eval_unary(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
			 struct pe_val *out)
{
	int rc = pe_eval(c, ev, n->un.expr, out);
	if (rc || n->un.op != PROMQL_OP_SUB)
		return rc;
	if (out->type == PROMQL_TYPE_SCALAR) {
		for (size_t i = 0; i < ev->n; i++)
			out->sc[i] = -out->sc[i];
		return 0;
	}
	struct pe_vec in = out->vec;
	struct pe_out o;
	memset(&out->vec, 0, sizeof(out->vec));
	pe_out_init(&o, &out->vec, ev->n, 0);
	for (size_t st = 0; st < ev->n && !rc; st++) {
		for (size_t i = 0; i < in.n && !rc; i++) {
			struct promql_lset ls;
			if (!in.s[i].has[st])
				continue;
			if (promql_lset_drop_name(&in.s[i].ls, &ls)) {
				rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
				break;
			}
			rc = pe_out_put(c, &o, st, &ls, (uint32_t)i, -in.s[i].v[st], NULL);
			promql_lset_free(&ls);
		}
	}
	pe_out_fini(&o);
	pe_vec_free(&in);
	if (rc)
		pe_val_free(out);
	return rc;
}

/* Evaluates n over ev into *out (caller frees with pe_val_free). Returns 0
 * or a negative errno with the error recorded in c. */
int pe_eval(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
	    struct pe_val *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = pe_check(c)) != 0)
		return rc;
	switch (n->kind) {
	case PROMQL_NUMBER:
		if ((rc = pe_alloc_scalar(c, ev, out)) != 0)
			return rc;
		for (size_t i = 0; i < ev->n; i++)
			out->sc[i] = n->num.val;
		return 0;
	case PROMQL_STRING:
		out->type = PROMQL_TYPE_STRING;
		out->str = n->str.val;
		out->slen = n->str.len;
		return 0;
	case PROMQL_PAREN:
		return pe_eval(c, ev, n->paren.expr, out);
	case PROMQL_VECTOR_SEL:
		return pe_eval_vs(c, ev, n, 0, out);
	case PROMQL_UNARY:
		return pe_eval_unary(c, ev, n, out);
	case PROMQL_BINARY:
		return pe_eval_binary(c, ev, n, out);
	case PROMQL_AGGREGATE:
		rc = pe_eval_agg(c, ev, n, out);
		break;
	case PROMQL_CALL:
		rc = pe_eval_call(c, ev, n, out);
		break;
	case PROMQL_MATRIX_SEL:
	case PROMQL_SUBQUERY:
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA,
			       "range vector cannot be used here, must be an instant vector");
	default:
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "unexpected expression");
	}
	if (rc == 0 && out->type == PROMQL_TYPE_VECTOR)
		pe_vec_compact(&out->vec, ev->n);
	return rc;
}

/* ---- public entry points ---- */

void promql_result_free(struct promql_result *res)
{
	for (size_t i = 0; i < res->n; i++) {
		promql_lset_free(&res->series[i].ls);
		free(res->series[i].pts);
	}
	free(res->series);
	free(res->str);
	for (size_t i = 0; i < res->nwarn; i++)
		free(res->warnings[i]);
	free(res->warnings);
	for (size_t i = 0; i < res->ninfo; i++)
		free(res->infos[i]);
	free(res->infos);
	memset(res, 0, sizeof(*res));
}

static void pe_ctx_init(struct pe_ctx *c, const struct promql_storage *st,
			const struct promql_opts *o, struct promql_result *res)
{
	memset(c, 0, sizeof(*c));
	c->st = st;
	if (o)
		c->o = *o;
	if (c->o.lookback_ms <= 0)
		c->o.lookback_ms = PROMQL_DEFAULT_LOOKBACK_MS;
	if (c->o.subquery_step_ms <= 0)
		c->o.subquery_step_ms = PROMQL_DEFAULT_SUBQUERY_STEP_MS;
	promql_result_free(res);
	c->res = res;
}

/* Moves a value's series into the result: one point per present step. */
static int pe_result_vec(struct pe_ctx *c, const struct pe_ev *ev, struct pe_vec *v,
			 struct promql_result *res)
{
	res->series = calloc(v->n ? v->n : 1, sizeof(*res->series));
	if (!res->series)
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < v->n; i++) {
		struct pe_series *s = &v->s[i];
		struct promql_rseries *r = &res->series[res->n];
		size_t cnt = 0;
		for (size_t k = 0; k < ev->n; k++)
			cnt += s->has[k];
		if (!cnt)
			continue;
		r->pts = malloc(cnt * sizeof(*r->pts));
		if (!r->pts)
			return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		for (size_t k = 0; k < ev->n; k++) {
			if (!s->has[k])
				continue;
			r->pts[r->n].ts_ms = ev->start + (int64_t)k * ev->step;
			r->pts[r->n].v = s->v[k];
			r->n++;
		}
		r->ls = s->ls;
		s->ls.b = NULL;
		s->ls.len = 0;
		res->n++;
	}
	return 0;
}

static int pe_rseries_cmp(const void *a, const void *b)
{
	return promql_lset_cmp(&((const struct promql_rseries *)a)->ls,
			       &((const struct promql_rseries *)b)->ls);
}

/* Sets the errno-class return for a recorded error. */
static int pe_finish(struct promql_result *res, int rc)
{
	if (rc && res->err == PROMQL_ERR_NONE) {
		res->err = PROMQL_ERR_INTERNAL;
		snprintf(res->msg, sizeof(res->msg), "%s", strerror(-rc));
	}
	return rc;
}

int promql_eval_instant(const struct promql_node *e, const struct promql_storage *st,
			const struct promql_opts *o, int64_t t, struct promql_result *res)
{
	struct pe_ctx c;
	struct pe_ev ev = {t, t, 1, 1};
	struct pe_val v;
	int rc;

	pe_ctx_init(&c, st, o, res);
	c.q_start = c.q_end = t;
	c.q_step = 0;
	res->ts = t;
	const struct promql_node *u = pe_unparen(e);
	if (u->kind == PROMQL_MATRIX_SEL || u->kind == PROMQL_SUBQUERY) {
		struct pe_marg m;
		if ((rc = pe_eval_marg(&c, &ev, u, &m)) != 0)
			return pe_finish(res, rc);
		res->type = PROMQL_TYPE_MATRIX;
		res->series = calloc(m.mat.n ? m.mat.n : 1, sizeof(*res->series));
		if (!res->series) {
			pe_mat_free(&m.mat);
			return pe_finish(res, -ENOMEM);
		}
		for (size_t i = 0; i < m.mat.n; i++) {
			size_t lo, hi;
			struct promql_rseries *r = &res->series[res->n];
			pe_window(&m, &m.mat.s[i], t, &lo, &hi);
			if (lo == hi)
				continue;
			r->pts = malloc((hi - lo) * sizeof(*r->pts));
			if (!r->pts) {
				pe_mat_free(&m.mat);
				return pe_finish(res, -ENOMEM);
			}
			memcpy(r->pts, m.mat.s[i].p + lo, (hi - lo) * sizeof(*r->pts));
			r->n = hi - lo;
			r->ls = m.mat.s[i].ls;
			m.mat.s[i].ls.b = NULL;
			m.mat.s[i].ls.len = 0;
			res->n++;
		}
		pe_mat_free(&m.mat);
		res->samples = c.loaded;
		return 0;
	}
	if ((rc = pe_eval(&c, &ev, e, &v)) != 0)
		return pe_finish(res, rc);
	res->type = v.type;
	res->samples = c.loaded;
	switch (v.type) {
	case PROMQL_TYPE_SCALAR:
		res->scalar = v.sc[0];
		break;
	case PROMQL_TYPE_STRING:
		res->str = strndup(v.str, v.slen);
		if (!res->str)
			rc = -ENOMEM;
		break;
	default:
		rc = pe_result_vec(&c, &ev, &v.vec, res);
		break;
	}
	pe_val_free(&v);
	return pe_finish(res, rc);
}

/* promql_walk callback: the "sort is ineffective" warning of range queries. */
static int pe_sort_warn(struct promql_node *n, int depth, void *arg)
{
	struct pe_ctx *c = arg;
	char pos[32];

	(void)depth;
	if (n->kind == PROMQL_CALL && strncmp(n->call.fn->name, "sort", 4) == 0) {
		pe_pos_fmt(c, n, pos, sizeof(pos));
		pe_warnf(c, 0, "PromQL warning: sort is ineffective for range queries since results are always ordered by labels (%s)", pos);
	}
	return 0;
}

int promql_eval_range(const struct promql_node *e, const struct promql_storage *st,
		      const struct promql_opts *o, int64_t start, int64_t end, int64_t step,
		      struct promql_result *res)
{
	struct pe_ctx c;
	struct pe_ev ev;
	struct pe_val v;
	int rc;

	pe_ctx_init(&c, st, o, res);
	if (step <= 0 || end < start)
		return pe_errf(&c, -EINVAL, PROMQL_ERR_BAD_DATA, "invalid range query grid");
	if (e->type != PROMQL_TYPE_SCALAR && e->type != PROMQL_TYPE_VECTOR)
		return pe_errf(&c, -EINVAL, PROMQL_ERR_BAD_DATA,
			       "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
			       promql_type_name(e->type));
	c.q_start = start;
	c.q_end = end;
	c.q_step = step;
	ev.start = start;
	ev.end = end;
	ev.step = step;
	ev.n = (size_t)((end - start) / step) + 1;
	ev.end = start + (int64_t)(ev.n - 1) * step;
	promql_walk((struct promql_node *)e, pe_sort_warn, &c);
	if ((rc = pe_eval(&c, &ev, e, &v)) != 0)
		return pe_finish(res, rc);
	res->type = PROMQL_TYPE_MATRIX;
	res->samples = c.loaded;
	if (v.type == PROMQL_TYPE_SCALAR) {
		res->series = calloc(1, sizeof(*res->series));
		if (!res->series || !(res->series[0].pts = malloc(ev.n * sizeof(struct promfn_point)))) {
			pe_val_free(&v);
			return pe_finish(res, -ENOMEM);
		}
		res->n = 1;
		for (size_t k = 0; k < ev.n; k++) {
			res->series[0].pts[k].ts_ms = start + (int64_t)k * step;
			res->series[0].pts[k].v = v.sc[k];
		}
		res->series[0].n = ev.n;
	} else {
		rc = pe_result_vec(&c, &ev, &v.vec, res);
		if (rc == 0)
			if (res->n > 1) qsort(res->series, res->n, sizeof(*res->series), pe_rseries_cmp);
	}
	pe_val_free(&v);
	return pe_finish(res, rc);
}
