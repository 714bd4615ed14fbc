/* promql_eval_fn: PromQL function calls over evaluated arguments.
 *
 * Three shapes: per-sample functions over an instant vector (math, date,
 * round, clamp*, timestamp: output labels lose __name__), range functions
 * over a matrix selector or subquery (window per step through the
 * promfn_range kernels; output labels lose __name__ except for
 * last_over_time/first_over_time; two inputs landing on one label set
 * anywhere is an error), and the rest one by one (vector, scalar, time,
 * absent*, sort*, label_replace/label_join, histogram_quantile).
 *
 * Native-histogram functions, info() and the anchored/smoothed modifiers
 * are refused with an "unsupported" error.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/promfn_range.h"
#include "common/promql_eval_pvt.h"

enum pe_fn_kind {
	PE_FN_MATH = 1, PE_FN_DATE, PE_FN_ROUND, PE_FN_CLAMP, PE_FN_CLAMP_MIN, PE_FN_CLAMP_MAX,
	PE_FN_TIMESTAMP, PE_FN_VECTOR, PE_FN_SCALAR, PE_FN_TIME, PE_FN_PI, PE_FN_QSTART,
	PE_FN_QEND, PE_FN_QRANGE, PE_FN_QSTEP, PE_FN_MINOF, PE_FN_MAXOF, PE_FN_SORT,
	PE_FN_SORT_DESC, PE_FN_SORT_LABEL, PE_FN_SORT_LABEL_DESC, PE_FN_LABEL_REPLACE,
	PE_FN_LABEL_JOIN, PE_FN_ABSENT, PE_FN_HQUANTILE, PE_FN_RANGE,
};

/* Range kernels by calling convention. */
enum pe_rk {
	PE_RK_RATE = 1, PE_RK_INCREASE, PE_RK_DELTA, PE_RK_IRATE, PE_RK_IDELTA, PE_RK_CHANGES,
	PE_RK_RESETS, PE_RK_DERIV, PE_RK_PREDICT, PE_RK_DES, PE_RK_SUM, PE_RK_AVG, PE_RK_MIN,
	PE_RK_MAX, PE_RK_COUNT, PE_RK_LAST, PE_RK_FIRST, PE_RK_PRESENT, PE_RK_STDVAR,
	PE_RK_STDDEV, PE_RK_QUANTILE, PE_RK_MAD, PE_RK_TS_MIN, PE_RK_TS_MAX, PE_RK_TS_FIRST,
	PE_RK_TS_LAST, PE_RK_ABSENT,
};

static const struct { const char *name; int rk; } pe_fn_ranges[] = {
	{"rate", PE_RK_RATE}, {"increase", PE_RK_INCREASE}, {"delta", PE_RK_DELTA},
	{"irate", PE_RK_IRATE}, {"idelta", PE_RK_IDELTA}, {"changes", PE_RK_CHANGES},
	{"resets", PE_RK_RESETS}, {"deriv", PE_RK_DERIV}, {"predict_linear", PE_RK_PREDICT},
	{"holt_winters", PE_RK_DES}, {"double_exponential_smoothing", PE_RK_DES},
	{"sum_over_time", PE_RK_SUM}, {"avg_over_time", PE_RK_AVG},
	{"min_over_time", PE_RK_MIN}, {"max_over_time", PE_RK_MAX},
	{"count_over_time", PE_RK_COUNT}, {"last_over_time", PE_RK_LAST},
	{"first_over_time", PE_RK_FIRST}, {"present_over_time", PE_RK_PRESENT},
	{"stdvar_over_time", PE_RK_STDVAR}, {"stddev_over_time", PE_RK_STDDEV},
	{"quantile_over_time", PE_RK_QUANTILE}, {"mad_over_time", PE_RK_MAD},
	{"ts_of_min_over_time", PE_RK_TS_MIN}, {"ts_of_max_over_time", PE_RK_TS_MAX},
	{"ts_of_first_over_time", PE_RK_TS_FIRST}, {"ts_of_last_over_time", PE_RK_TS_LAST},
	{"absent_over_time", PE_RK_ABSENT},
};

static const struct { const char *name; int kind; } pe_fn_other[] = {
	{"round", PE_FN_ROUND}, {"clamp", PE_FN_CLAMP}, {"clamp_min", PE_FN_CLAMP_MIN},
	{"clamp_max", PE_FN_CLAMP_MAX}, {"timestamp", PE_FN_TIMESTAMP}, {"vector", PE_FN_VECTOR},
	{"scalar", PE_FN_SCALAR}, {"time", PE_FN_TIME}, {"pi", PE_FN_PI}, {"start", PE_FN_QSTART},
	{"end", PE_FN_QEND}, {"range", PE_FN_QRANGE}, {"step", PE_FN_QSTEP},
	{"min_of", PE_FN_MINOF}, {"max_of", PE_FN_MAXOF}, {"sort", PE_FN_SORT},
	{"sort_desc", PE_FN_SORT_DESC}, {"sort_by_label", PE_FN_SORT_LABEL},
	{"sort_by_label_desc", PE_FN_SORT_LABEL_DESC}, {"label_replace", PE_FN_LABEL_REPLACE},
	{"label_join", PE_FN_LABEL_JOIN}, {"absent", PE_FN_ABSENT},
	{"histogram_quantile", PE_FN_HQUANTILE},
};

static double pe_fn_step_time(const struct pe_ev *ev, size_t st)
{
	return (double)(ev->start + (int64_t)st * ev->step) / 1000.0;
}

/* ---- per-sample functions ---- */

/* Applies f to every sample of the first argument, dropping __name__
 * (keep_name: not). kind selects f; sc1/sc2 are scalar arguments. */
static int pe_fn_map(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		     int kind, int mop, struct pe_val *in, const double *sc1, const double *sc2,
		     struct pe_val *out)
{
	struct pe_vec *v = &in->vec;
	struct pe_out o;
	uint32_t *cache = calloc(v->n ? v->n : 1, sizeof(uint32_t));
	int rc = 0;

	out->type = PROMQL_TYPE_VECTOR;
	if (!cache)
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	pe_out_init(&o, &out->vec, ev->n, 0);
	for (size_t i = 0; i < v->n && !rc; i++) {
		struct promql_lset ls;
		if (promql_lset_drop_name(&v->s[i].ls, &ls)) {
			rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			break;
		}
		for (size_t st = 0; st < ev->n && !rc; st++) {
			double x = v->s[i].v[st], y;
			if (!v->s[i].has[st])
				continue;
			switch (kind) {
			case PE_FN_MATH: y = promfn_math((enum promfn_math_op)mop, x); break;
			case PE_FN_DATE: y = promfn_date((enum promfn_date_field)mop, x); break;
			case PE_FN_ROUND: y = promfn_round(x, sc1 ? sc1[st] : 1); break;
			case PE_FN_CLAMP:
				if (sc2[st] < sc1[st])
					continue;
				y = promfn_clamp(x, sc1[st], sc2[st]);
				break;
			case PE_FN_CLAMP_MIN: y = promfn_clamp(x, sc1[st], INFINITY); break;
			case PE_FN_CLAMP_MAX: y = promfn_clamp(x, -INFINITY, sc1[st]); break;
			case PE_FN_TIMESTAMP:
				y = v->s[i].ts ? promfn_timestamp(v->s[i].ts[st]) : pe_fn_step_time(ev, st);
				break;
			default: y = x; break;
			}
			rc = pe_out_put(c, &o, st, &ls, (uint32_t)i, y, &cache[i]);
		}
		promql_lset_free(&ls);
	}
	(void)n;
	free(cache);
	pe_out_fini(&o);
	return rc;
}

/* A vector of one label-less series holding val[st] at every step. */
static int pe_fn_const_vec(struct pe_ctx *c, const struct pe_ev *ev, const double *val,
			   struct pe_val *out)
{
	struct promql_lset ls = {NULL, 0};
	struct pe_series *s;
	int rc;

	out->type = PROMQL_TYPE_VECTOR;
	if ((rc = pe_vec_add(c, &out->vec, ev->n, &ls, &s)) != 0)
		return rc;
	for (size_t st = 0; st < ev->n; st++) {
		s->has[st] = 1;
		s->v[st] = val[st];
	}
	return pe_account(c, ev->n);
}

/* ---- range functions ---- */

/* One kernel call over a window. Returns 1 with *out set, or 0. */
static int pe_fn_kernel(int rk, const struct promfn_point *p, size_t n, int64_t ws, int64_t we,
			int64_t t, double a1, double a2, double *scratch, double *out)
{
	switch (rk) {
	case PE_RK_RATE: return promfn_range_rate(p, n, ws, we, out);
	case PE_RK_INCREASE: return promfn_range_increase(p, n, ws, we, out);
	case PE_RK_DELTA: return promfn_range_delta(p, n, ws, we, out);
	case PE_RK_IRATE: return promfn_range_irate(p, n, out);
	case PE_RK_IDELTA: return promfn_range_idelta(p, n, out);
	case PE_RK_CHANGES: return promfn_range_changes(p, n, out);
	case PE_RK_RESETS: return promfn_range_resets(p, n, out);
	case PE_RK_DERIV: return promfn_range_deriv(p, n, out);
	case PE_RK_PREDICT: return promfn_range_predict_linear(p, n, t, a1, out);
	case PE_RK_DES: return promfn_range_des(p, n, a1, a2, out);
	case PE_RK_SUM: return promfn_range_sum(p, n, out);
	case PE_RK_AVG: return promfn_range_avg(p, n, out);
	case PE_RK_MIN: return promfn_range_min(p, n, out);
	case PE_RK_MAX: return promfn_range_max(p, n, out);
	case PE_RK_COUNT: return promfn_range_count(p, n, out);
	case PE_RK_LAST: return promfn_range_last(p, n, out);
	case PE_RK_FIRST: return promfn_range_first(p, n, out);
	case PE_RK_PRESENT: return promfn_range_present(p, n, out);
	case PE_RK_STDVAR: return promfn_range_stdvar(p, n, out);
	case PE_RK_STDDEV: return promfn_range_stddev(p, n, out);
	case PE_RK_QUANTILE: return promfn_range_quantile(p, n, a1, scratch, out);
	case PE_RK_MAD: return promfn_range_mad(p, n, scratch, out);
	case PE_RK_TS_MIN: return promfn_range_ts_of_min(p, n, out);
	case PE_RK_TS_MAX: return promfn_range_ts_of_max(p, n, out);
	case PE_RK_TS_FIRST: return promfn_range_ts_of_first(p, n, out);
	case PE_RK_TS_LAST: return promfn_range_ts_of_last(p, n, out);
	}
	return 0;
}

/* Sliding-window max/min of one series across the steps of a range query:
 * a monotonic deque of point indices, so each point is pushed and popped
 * once instead of every window being rescanned. It gives exactly what
 * promfn_range_max/min give: NaN points never enter the deque (a NaN loses
 * to any number), equal values keep the earliest point (the kernel only
 * replaces on strictly greater/less, which matters for -0 and +0), and a
 * window of only NaN gives its last point's value, as the kernel's scan
 * does. Windows that move backwards (never on a forward step grid, but
 * cheap to allow) restart the deque. */
struct pe_fn_mono {
	size_t *q;	/* point indices, values non-increasing (max) or non-decreasing (min); owner: pe_fn_range */
	size_t head;	/* first live entry of q */
	size_t tail;	/* one past the last live entry of q */
	size_t next;	/* first point index not yet offered to q */
	size_t lo;	/* window start index of the previous call */
};

static void pe_fn_mono_reset(struct pe_fn_mono *d)
{
	d->head = d->tail = d->next = d->lo = 0;
}

/* The max (want_max) or min of the points [lo, hi) of p, hi > lo, given
 * that d has seen only earlier windows of this same series. d->q must hold
 * as many entries as the series has points. */
static double pe_fn_mono_step(struct pe_fn_mono *d, const struct promfn_point *p, size_t lo,
			      size_t hi, int want_max)
{
	if (lo < d->lo || hi < d->next) {
		d->head = d->tail = 0;
		d->next = lo;
	}
	d->lo = lo;
	if (d->next < lo)
		d->next = lo;
	for (; d->next < hi; d->next++) {
		double v = p[d->next].v;
		if (isnan(v))
			continue;
		if (want_max)
			while (d->tail > d->head && p[d->q[d->tail - 1]].v < v)
				d->tail--;
		else
			while (d->tail > d->head && p[d->q[d->tail - 1]].v > v)
				d->tail--;
		d->q[d->tail++] = d->next;
	}
	while (d->head < d->tail && d->q[d->head] < lo)
		d->head++;
	return d->head < d->tail ? p[d->q[d->head]].v : p[hi - 1].v;
}

/* Labels of absent()/absent_over_time(): the equality matchers of a
 * selector argument (a label matched twice is left out), without
 * __name__. */
static int pe_fn_absent_labels(struct pe_ctx *c, const struct promql_node *arg,
			       struct promql_lset *out)
{
	struct promql_lb lb;
	int rc = 0;

	out->b = NULL;
	out->len = 0;
	arg = pe_unparen(arg);
	if (arg->kind == PROMQL_MATRIX_SEL)
		arg = arg->ms.vs;
	if (arg->kind != PROMQL_VECTOR_SEL)
		return 0;
	promql_lb_init(&lb);
	/* A label gets its value only from a lone = matcher. */
	for (size_t i = 0; i < arg->vs.nm && !rc; i++) {
		const struct matcher *m = &arg->vs.m[i];
		int cnt = 0;
		if (m->op != REC_M_EQ || strcmp(m->name, PROMQL_LSET_NAME) == 0)
			continue;
		for (size_t j = 0; j < arg->vs.nm; j++)
			if (strcmp(arg->vs.m[j].name, m->name) == 0)
				cnt++;
		if (cnt == 1)
			rc = promql_lb_set(&lb, m->name, m->name_len, m->value, m->value_len);
	}
	if (!rc)
		rc = promql_lb_build(&lb, out);
	promql_lb_free(&lb);
	return rc ? pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory") : 0;
}

static int pe_fn_range(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		       int rk, struct pe_val *out)
{
	const char *name = n->call.fn->name;
	const struct promql_node *marg_node = n->call.args[rk == PE_RK_QUANTILE ? 1 : 0];
	const struct promql_node *mu = pe_unparen(marg_node);
	struct pe_marg m;
	struct pe_out o;
	double *a1 = NULL, *a2 = NULL, *scratch = NULL;
	int keep_name = rk == PE_RK_LAST || rk == PE_RK_FIRST;
	struct pe_fn_mono mono = {0};
	size_t maxn = 0;
	int rc;

	out->type = PROMQL_TYPE_VECTOR;
	if (mu->kind == PROMQL_MATRIX_SEL && (mu->ms.vs->vs.anchored || mu->ms.vs->vs.smoothed))
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA,
			       "unsupported: the anchored and smoothed modifiers");
	if (rk == PE_RK_QUANTILE && (rc = pe_scalar_arg(c, ev, n->call.args[0], &a1)) != 0)
		return rc;
	if ((rk == PE_RK_PREDICT || rk == PE_RK_DES) &&
	    (rc = pe_scalar_arg(c, ev, n->call.args[1], &a1)) != 0)
		return rc;
	if (rk == PE_RK_DES && (rc = pe_scalar_arg(c, ev, n->call.args[2], &a2)) != 0) {
		free(a1);
		return rc;
	}
	if ((rc = pe_eval_marg(c, ev, marg_node, &m)) != 0) {
		free(a1);
		free(a2);
		return rc;
	}
	if (rk == PE_RK_QUANTILE) {
		char pos[32], g[40];
		pe_pos_fmt(c, n->call.args[0], pos, sizeof(pos));
		for (size_t st = 0; st < ev->n; st++)
			if (promfn_quantile_is_invalid(a1[st])) {
				pe_warnf(c, 0, "PromQL warning: quantile value should be between 0 and 1, got %s (%s)",
					 pe_gfmt(a1[st], g), pos);
				break;
			}
	}
	for (size_t i = 0; i < m.mat.n; i++)
		if (m.mat.s[i].n > maxn)
			maxn = m.mat.s[i].n;
	if ((rk == PE_RK_QUANTILE || rk == PE_RK_MAD) && !(scratch = malloc((maxn + 1) * sizeof(double)))) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	/* Over many steps min/max slide one deque per series; one step (an
	 * instant query) is a single scan either way. */
	if ((rk == PE_RK_MAX || rk == PE_RK_MIN) && ev->n > 1 &&
	    !(mono.q = malloc((maxn + 1) * sizeof(*mono.q)))) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (rk == PE_RK_ABSENT) {
		/* 1 at the steps where no series had a point in the window. */
		struct promql_lset ls;
		struct pe_series *s = NULL;
		if ((rc = pe_fn_absent_labels(c, marg_node, &ls)) != 0)
			goto out;
		for (size_t st = 0; st < ev->n && !rc; st++) {
			int64_t t = ev->start + (int64_t)st * ev->step;
			int any = 0;
			for (size_t i = 0; i < m.mat.n && !any; i++) {
				size_t lo, hi;
				pe_window(&m, &m.mat.s[i], t, &lo, &hi);
				any = hi > lo;
			}
			if (any)
				continue;
			if (!s) {
				struct promql_lset cp;
				if (promql_lset_copy(&ls, &cp) ||
				    (rc = pe_vec_add(c, &out->vec, ev->n, &cp, &s)) != 0) {
					rc = rc ? rc : pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
					break;
				}
			}
			s->has[st] = 1;
			s->v[st] = 1;
		}
		promql_lset_free(&ls);
		goto out;
	}
	pe_out_init(&o, &out->vec, ev->n, 1);
	for (size_t i = 0; i < m.mat.n && !rc; i++) {
		struct pe_mseries *s = &m.mat.s[i];
		struct promql_lset ls;
		uint32_t cache = 0;
		int checked = 0;
		if ((rc = pe_check(c)) != 0)
			break;
		if (keep_name)
			rc = promql_lset_copy(&s->ls, &ls);
		else
			rc = promql_lset_drop_name(&s->ls, &ls);
		if (rc) {
			rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			break;
		}
		pe_fn_mono_reset(&mono);
		for (size_t st = 0; st < ev->n && !rc; st++) {
			int64_t t = ev->start + (int64_t)st * ev->step;
			size_t lo, hi;
			double v;
			pe_window(&m, s, t, &lo, &hi);
			if (hi == lo)
				continue;
			if (rk == PE_RK_DES && !checked) {
				char err[160];
				checked = 1;
				if (promfn_range_des_check(a1[st], a2[st], err, sizeof(err)) != 0) {
					rc = pe_errf(c, -ERANGE, PROMQL_ERR_EXEC, "%s", err);
					break;
				}
			}
			if (mono.q) {
				v = pe_fn_mono_step(&mono, s->p, lo, hi, rk == PE_RK_MAX);
				rc = pe_out_put(c, &o, st, &ls, (uint32_t)i, v, &cache);
				continue;
			}
			int64_t we = pe_window_end(&m, t);
			if (!pe_fn_kernel(rk, s->p + lo, hi - lo, we - m.range_ms, we, t, a1 ? a1[st] : 0,
					  a2 ? a2[st] : 0, scratch, &v))
				continue;
			rc = pe_out_put(c, &o, st, &ls, (uint32_t)i, v, &cache);
		}
		promql_lset_free(&ls);
	}
	pe_out_fini(&o);
	(void)name;
out:
	free(a1);
	free(a2);
	free(scratch);
	free(mono.q);
	pe_mat_free(&m.mat);
	return rc;
}

/* ---- sort ---- */

static __thread const struct promql_node *pe_fn_sort_node;
static __thread int pe_fn_sort_desc;

/* Natural order of two label values (digit runs compare as numbers). */
static int pe_fn_natcmp(const char *a, size_t al, const char *b, size_t bl)
{
	size_t i = 0, j = 0;
	while (i < al && j < bl) {
		int da = a[i] >= '0' && a[i] <= '9', db = b[j] >= '0' && b[j] <= '9';
		if (da && db) {
			size_t si = i, sj = j;
			while (si < al && a[si] == '0')
				si++;
			while (sj < bl && b[sj] == '0')
				sj++;
			size_t ei = si, ej = sj;
			while (ei < al && a[ei] >= '0' && a[ei] <= '9')
				ei++;
			while (ej < bl && b[ej] >= '0' && b[ej] <= '9')
				ej++;
			if (ei - si != ej - sj)
				return ei - si < ej - sj ? -1 : 1;
			int c = memcmp(a + si, b + sj, ei - si);
			if (c)
				return c;
			i = ei;
			j = ej;
			continue;
		}
		if (a[i] != b[j])
			return (unsigned char)a[i] < (unsigned char)b[j] ? -1 : 1;
		i++;
		j++;
	}
	return (al - i) < (bl - j) ? -1 : (al - i) > (bl - j);
}

static int pe_fn_label_cmp(const void *x, const void *y)
{
	const struct pe_series *a = x, *b = y;
	const struct promql_node *n = pe_fn_sort_node;
	for (size_t k = 1; k < n->call.nargs; k++) {
		size_t al, bl;
		const char *nm = pe_unparen(n->call.args[k])->str.val;
		const char *av = promql_lset_get(&a->ls, nm, &al), *bv = promql_lset_get(&b->ls, nm, &bl);
		int c = pe_fn_natcmp(av ? av : "", al, bv ? bv : "", bl);
		if (c)
			return pe_fn_sort_desc ? -c : c;
	}
	int c = promql_lset_cmp(&a->ls, &b->ls);
	return pe_fn_sort_desc ? -c : c;
}

static int pe_fn_value_cmp(const void *x, const void *y)
{
	const struct pe_series *a = x, *b = y;
	double av = a->v[0], bv = b->v[0];
	if (isnan(av) || isnan(bv))
		return isnan(av) - isnan(bv);
	if (av == bv)
		return 0;
	if (pe_fn_sort_desc)
		return av > bv ? -1 : 1;
	return av < bv ? -1 : 1;
}

/* sort*: only an instant query has an order to change. */
static int pe_fn_sort(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		      int kind, struct pe_val *in, struct pe_val *out)
{
	*out = *in;
	memset(in, 0, sizeof(*in));
	if (ev->n != 1)
		return 0;
	pe_fn_sort_node = n;
	pe_fn_sort_desc = kind == PE_FN_SORT_DESC || kind == PE_FN_SORT_LABEL_DESC;
	if (kind == PE_FN_SORT || kind == PE_FN_SORT_DESC) {
		/* Stable insertion via merge: qsort is not stable, ties keep input order. */
		for (size_t i = 1; i < out->vec.n; i++) {
			struct pe_series t = out->vec.s[i];
			size_t j = i;
			while (j > 0 && pe_fn_value_cmp(&out->vec.s[j - 1], &t) > 0) {
				out->vec.s[j] = out->vec.s[j - 1];
				j--;
			}
			out->vec.s[j] = t;
		}
	} else {
		if (out->vec.n > 1) qsort(out->vec.s, out->vec.n, sizeof(*out->vec.s), pe_fn_label_cmp);
	}
	(void)c;
	return 0;
}

/* ---- label_replace, label_join ---- */

static int pe_fn_label_name_ok(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] == 0xff || (unsigned char)s[i] == 0xfe)
			return 0;
	return 1;
}

/* Expands $1, ${1}, $name, ${name} of rep with the match data. */
static int pe_fn_expand(const char *rep, size_t rl, const char *subj, pcre2_code *re,
			pcre2_match_data *md, char **out, size_t *olen)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	uint32_t npairs = pcre2_get_ovector_count(md);
	size_t cap = rl + 64, o = 0;
	char *b = malloc(cap);

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < rl;) {
		const char *name = NULL;
		size_t nl = 0;
		if (rep[i] == '$' && i + 1 < rl && rep[i + 1] == '$') {
			name = NULL;
			i += 2;
			if (o + 1 >= cap && !(b = realloc(b, cap *= 2)))
				return -ENOMEM;
			b[o++] = '$';
			continue;
		}
		if (rep[i] == '$' && i + 1 < rl && rep[i + 1] == '{') {
			size_t e = i + 2;
			while (e < rl && rep[e] != '}')
				e++;
			if (e < rl) {
				name = rep + i + 2;
				nl = e - i - 2;
				i = e + 1;
			}
		} else if (rep[i] == '$' && i + 1 < rl) {
			size_t e = i + 1;
			while (e < rl && ((rep[e] >= 'a' && rep[e] <= 'z') || (rep[e] >= 'A' && rep[e] <= 'Z') ||
					  (rep[e] >= '0' && rep[e] <= '9') || rep[e] == '_'))
				e++;
			if (e > i + 1) {
				name = rep + i + 1;
				nl = e - i - 1;
				i = e;
			}
		}
		if (!name) {
			if (o + 1 >= cap && !(b = realloc(b, cap *= 2)))
				return -ENOMEM;
			b[o++] = rep[i++];
			continue;
		}
		int grp = -1, num = 1;
		for (size_t k = 0; k < nl; k++)
			if (name[k] < '0' || name[k] > '9')
				num = 0;
		if (num && nl) {
			grp = 0;
			for (size_t k = 0; k < nl && grp < 100000; k++)
				grp = grp * 10 + (name[k] - '0');
		} else if (nl) {
			char nm[256];
			if (nl < sizeof(nm)) {
				memcpy(nm, name, nl);
				nm[nl] = '\0';
				grp = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nm);
			}
		}
		if (grp >= 0 && (uint32_t)grp < npairs && ov[2 * grp] != PCRE2_UNSET) {
			size_t gl = ov[2 * grp + 1] - ov[2 * grp];
			while (o + gl + 1 >= cap)
				if (!(b = realloc(b, cap *= 2)))
					return -ENOMEM;
			memcpy(b + o, subj + ov[2 * grp], gl);
			o += gl;
		}
	}
	*out = b;
	*olen = o;
	return 0;
}

static int pe_fn_label_replace(struct pe_ctx *c, const struct pe_ev *ev,
			       const struct promql_node *n, struct pe_val *in, struct pe_val *out)
{
	const char *dst = pe_unparen(n->call.args[1])->str.val, *rep = pe_unparen(n->call.args[2])->str.val;
	const char *src = pe_unparen(n->call.args[3])->str.val, *rx = pe_unparen(n->call.args[4])->str.val;
	size_t dl = pe_unparen(n->call.args[1])->str.len, rl = pe_unparen(n->call.args[2])->str.len;
	pcre2_code *re = NULL;
	pcre2_match_data *md = NULL;
	struct promql_lb lb;
	struct pe_out o;
	char *pat;
	int err, rc = 0;
	PCRE2_SIZE eoff;

	out->type = PROMQL_TYPE_VECTOR;
	pat = malloc(pe_unparen(n->call.args[4])->str.len + 16);
	if (!pat)
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	sprintf(pat, "^(?:%s)$", rx);
	re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_DOTALL | PCRE2_UTF, &err,
			   &eoff, NULL);
	free(pat);
	if (!re)
		return pe_errf(c, -ERANGE, PROMQL_ERR_EXEC,
			       "invalid regular expression in label_replace(): %s", rx);
	if (!pe_fn_label_name_ok(dst, dl)) {
		pcre2_code_free(re);
		return pe_errf(c, -ERANGE, PROMQL_ERR_EXEC,
			       "invalid destination label name in label_replace(): %s", dst);
	}
	md = pcre2_match_data_create_from_pattern(re, NULL);
	promql_lb_init(&lb);
	pe_out_init(&o, &out->vec, ev->n, 0);
	for (size_t i = 0; i < in->vec.n && !rc; i++) {
		struct pe_series *s = &in->vec.s[i];
		struct promql_lset ls;
		size_t sl;
		const char *sv = promql_lset_get(&s->ls, src, &sl);
		uint32_t cache = 0;
		if (!sv)
			sv = "";
		if (promql_lb_reset(&lb, &s->ls)) {
			rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			break;
		}
		if (md && pcre2_match(re, (PCRE2_SPTR)sv, sl, 0, 0, md, NULL) >= 0) {
			char *val;
			size_t vl;
			if (pe_fn_expand(rep, rl, sv, re, md, &val, &vl) ||
			    promql_lb_set(&lb, dst, dl, val, vl)) {
				rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
				break;
			}
			free(val);
		}
		if (promql_lb_build(&lb, &ls)) {
			rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			break;
		}
		for (size_t st = 0; st < ev->n && !rc; st++)
			if (s->has[st])
				rc = pe_out_put(c, &o, st, &ls, (uint32_t)i, s->v[st], &cache);
		promql_lset_free(&ls);
	}
	pe_out_fini(&o);
	promql_lb_free(&lb);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return rc;
}

static int pe_fn_label_join(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
			    struct pe_val *in, struct pe_val *out)
{
	const char *dst = pe_unparen(n->call.args[1])->str.val, *sep = pe_unparen(n->call.args[2])->str.val;
	size_t dl = pe_unparen(n->call.args[1])->str.len, sepl = pe_unparen(n->call.args[2])->str.len;
	struct promql_lb lb;
	struct pe_out o;
	int rc = 0;

	out->type = PROMQL_TYPE_VECTOR;
	if (!pe_fn_label_name_ok(dst, dl))
		return pe_errf(c, -ERANGE, PROMQL_ERR_EXEC, "invalid destination label name in label_join(): %s", dst);
	for (size_t k = 3; k < n->call.nargs; k++)
		if (!pe_fn_label_name_ok(pe_unparen(n->call.args[k])->str.val, pe_unparen(n->call.args[k])->str.len) &&
		    pe_unparen(n->call.args[k])->str.len)
			return pe_errf(c, -ERANGE, PROMQL_ERR_EXEC, "invalid source label name in label_join(): %s",
				       pe_unparen(n->call.args[k])->str.val);
	promql_lb_init(&lb);
	pe_out_init(&o, &out->vec, ev->n, 0);
	for (size_t i = 0; i < in->vec.n && !rc; i++) {
		struct pe_series *s = &in->vec.s[i];
		struct promql_lset ls;
		size_t cap = 64, len = 0;
		char *val = malloc(cap);
		uint32_t cache = 0;
		if (!val || promql_lb_reset(&lb, &s->ls)) {
			free(val);
			rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			break;
		}
		for (size_t k = 3; k < n->call.nargs; k++) {
			size_t vl;
			const char *v = promql_lset_get(&s->ls, pe_unparen(n->call.args[k])->str.val, &vl);
			size_t need = len + (k > 3 ? sepl : 0) + vl + 1;
			if (need > cap) {
				while (cap < need)
					cap *= 2;
				char *nv = realloc(val, cap);
				if (!nv) {
					free(val);
					val = NULL;
					break;
				}
				val = nv;
			}
			if (k > 3) {
				memcpy(val + len, sep, sepl);
				len += sepl;
			}
			if (v && vl) {
				memcpy(val + len, v, vl);
				len += vl;
			}
		}
		if (!val || promql_lb_set(&lb, dst, dl, val, len) || promql_lb_build(&lb, &ls)) {
			free(val);
			rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			break;
		}
		free(val);
		for (size_t st = 0; st < ev->n && !rc; st++)
			if (s->has[st])
				rc = pe_out_put(c, &o, st, &ls, (uint32_t)i, s->v[st], &cache);
		promql_lset_free(&ls);
	}
	pe_out_fini(&o);
	promql_lb_free(&lb);
	return rc;
}

/* ---- histogram_quantile (classic buckets) ---- */

static int pe_fn_hquantile(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
			   const double *q, struct pe_val *in, struct pe_val *out)
{
	struct promql_itab tab;
	struct pe_vec *v = &in->vec;
	uint32_t *gid = malloc((v->n ? v->n : 1) * sizeof(uint32_t));
	double *le = malloc((v->n ? v->n : 1) * sizeof(double));
	uint8_t *ok = calloc(v->n ? v->n : 1, 1);
	struct promfn_bucket *bk = malloc((v->n ? v->n : 1) * sizeof(*bk));
	uint32_t *first = NULL, *gcache = NULL;
	struct promql_lset *glabels = NULL;
	struct pe_out o;
	int oinit = 0;
	char *le_name[1] = {"le"};
	uint8_t *buf = NULL;
	size_t cap = 0, len;
	char vpos[32], qpos[32];
	int rc = 0;

	out->type = PROMQL_TYPE_VECTOR;
	promql_itab_init(&tab);
	pe_pos_fmt(c, n->call.args[1], vpos, sizeof(vpos));
	pe_pos_fmt(c, n->call.args[0], qpos, sizeof(qpos));
	if (!gid || !le || !ok || !bk) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < v->n; i++) {
		size_t vl;
		const char *s = promql_lset_get(&v->s[i].ls, "le", &vl);
		if (!s || promfn_parse_float(s, vl, &le[i]) != 0) {
			size_t nl;
			const char *nm = promql_lset_get(&v->s[i].ls, PROMQL_LSET_NAME, &nl);
			pe_warnf(c, 0, "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"%.*s\" for metric name \"%.*s\" (%s)",
				 (int)(s ? vl : 0), s ? s : "", (int)(nm ? nl : 0), nm ? nm : "", vpos);
			continue;
		}
		ok[i] = 1;
		if (promql_lset_sig(&v->s[i].ls, 0, le_name, 1, 0, &buf, &cap, &len) ||
		    promql_itab_intern(&tab, buf, len, &gid[i]) < 0) {
			rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			goto out;
		}
	}
	first = calloc(tab.n ? tab.n : 1, sizeof(uint32_t));
	gcache = calloc(tab.n ? tab.n : 1, sizeof(uint32_t));
	glabels = calloc(tab.n ? tab.n : 1, sizeof(*glabels));
	if (!first || !gcache || !glabels) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t g = 0; g < tab.n; g++) {
		struct promql_lset k = {tab.keys[g], tab.klen[g]};
		if (promql_lset_drop_name(&k, &glabels[g])) {
			rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			goto out;
		}
	}
	pe_out_init(&o, &out->vec, ev->n, 0);
	oinit = 1;
	for (size_t i = v->n; i-- > 0;)
		if (ok[i])
			first[gid[i]] = (uint32_t)i;
	for (size_t st = 0; st < ev->n && !rc; st++) {
		if (promfn_quantile_is_invalid(q[st])) {
			char g[40];
			pe_warnf(c, 0, "PromQL warning: quantile value should be between 0 and 1, got %s (%s)",
				 pe_gfmt(q[st], g), qpos);
		}
		for (size_t g = 0; g < tab.n; g++) {
			size_t nb = 0;
			struct promfn_bucket_fix fix;
			for (size_t i = 0; i < v->n; i++) {
				if (!ok[i] || gid[i] != g || !v->s[i].has[st])
					continue;
				bk[nb].upper = le[i];
				bk[nb].count = v->s[i].v[st];
				nb++;
			}
			if (!nb)
				continue;
			memset(&fix, 0, sizeof(fix));
			double r = promfn_bucket_quantile(q[st], bk, nb, &fix);
			if (fix.forced_monotonic) {
				size_t nl;
				const char *nm = promql_lset_get(&v->s[first[g]].ls, PROMQL_LSET_NAME, &nl);
				pe_warnf(c, 1, "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"%.*s\" (%s)",
					 (int)(nm ? nl : 0), nm ? nm : "", vpos);
			}
			if ((rc = pe_out_put(c, &o, st, &glabels[g], (uint32_t)g, r, &gcache[g])) != 0)
				break;
		}
	}
out:
	if (oinit)
		pe_out_fini(&o);
	if (glabels)
		for (size_t g = 0; g < tab.n; g++)
			promql_lset_free(&glabels[g]);
	free(glabels);
	free(gcache);
	free(gid);
	free(le);
	free(ok);
	free(bk);
	free(first);
	free(buf);
	promql_itab_free(&tab);
	return rc;
}

/* ---- dispatch ---- */

int pe_eval_call(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		 struct pe_val *out)
{
	const struct promql_func *fn = n->call.fn;
	struct pe_val in;
	double *s1 = NULL, *s2 = NULL;
	int kind = 0, mop = 0, rc = 0;
	enum promfn_math_op mo;
	enum promfn_date_field df;

	memset(out, 0, sizeof(*out));
	memset(&in, 0, sizeof(in));
	if ((fn->flags & PROMQL_FN_HISTOGRAM) || strcmp(fn->name, "info") == 0 ||
	    strcmp(fn->name, "histogram_quantiles") == 0 || strcmp(fn->name, "start_timestamp") == 0)
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "unsupported function %s()", fn->name);
	for (size_t i = 0; i < sizeof(pe_fn_ranges) / sizeof(pe_fn_ranges[0]); i++)
		if (strcmp(fn->name, pe_fn_ranges[i].name) == 0) {
			rc = pe_fn_range(c, ev, n, pe_fn_ranges[i].rk, out);
			if (rc)
				pe_val_free(out);
			return rc;
		}
	if (promfn_math_lookup(fn->name, &mo) == 0) {
		kind = PE_FN_MATH;
		mop = (int)mo;
	} else if (promfn_date_lookup(fn->name, &df) == 0) {
		kind = PE_FN_DATE;
		mop = (int)df;
	} else {
		for (size_t i = 0; i < sizeof(pe_fn_other) / sizeof(pe_fn_other[0]); i++)
			if (strcmp(fn->name, pe_fn_other[i].name) == 0)
				kind = pe_fn_other[i].kind;
	}
	if (!kind)
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "unsupported function %s()", fn->name);

	/* Scalar-valued functions and constants. */
	switch (kind) {
	case PE_FN_TIME: case PE_FN_PI: case PE_FN_QSTART: case PE_FN_QEND: case PE_FN_QRANGE:
	case PE_FN_QSTEP:
		out->type = PROMQL_TYPE_SCALAR;
		if (!(out->sc = malloc(ev->n * sizeof(double))))
			return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		for (size_t st = 0; st < ev->n; st++)
			out->sc[st] = kind == PE_FN_TIME ? pe_fn_step_time(ev, st) :
				      kind == PE_FN_PI ? M_PI :
				      kind == PE_FN_QSTART ? c->q_start / 1000.0 :
				      kind == PE_FN_QEND ? c->q_end / 1000.0 :
				      kind == PE_FN_QRANGE ? (c->q_end - c->q_start) / 1000.0 : c->q_step / 1000.0;
		return 0;
	case PE_FN_MINOF: case PE_FN_MAXOF:
		if ((rc = pe_scalar_arg(c, ev, n->call.args[0], &s1)) != 0 ||
		    (rc = pe_scalar_arg(c, ev, n->call.args[1], &s2)) != 0)
			goto out;
		out->type = PROMQL_TYPE_SCALAR;
		for (size_t st = 0; st < ev->n; st++)
			s1[st] = (isnan(s1[st]) || isnan(s2[st])) ? NAN :
				 kind == PE_FN_MINOF ? fmin(s1[st], s2[st]) : fmax(s1[st], s2[st]);
		out->sc = s1;
		s1 = NULL;
		goto out;
	case PE_FN_VECTOR:
		if ((rc = pe_scalar_arg(c, ev, n->call.args[0], &s1)) == 0)
			rc = pe_fn_const_vec(c, ev, s1, out);
		goto out;
	case PE_FN_HQUANTILE:
		if ((rc = pe_scalar_arg(c, ev, n->call.args[0], &s1)) != 0 ||
		    (rc = pe_eval(c, ev, n->call.args[1], &in)) != 0)
			goto out;
		rc = pe_fn_hquantile(c, ev, n, s1, &in, out);
		goto out;
	case PE_FN_DATE:
		if (n->call.nargs == 0) {
			if (!(s1 = malloc(ev->n * sizeof(double))))
				return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			for (size_t st = 0; st < ev->n; st++)
				s1[st] = promfn_date((enum promfn_date_field)mop,
						     (double)((ev->start + (int64_t)st * ev->step) / 1000));
			rc = pe_fn_const_vec(c, ev, s1, out);
			goto out;
		}
		break;
	}

	/* The instant-vector argument. */
	if (kind == PE_FN_TIMESTAMP && pe_unparen(n->call.args[0])->kind == PROMQL_VECTOR_SEL)
		rc = pe_eval_vs(c, ev, pe_unparen(n->call.args[0]), 1, &in);
	else
		rc = pe_eval(c, ev, n->call.args[0], &in);
	if (rc)
		goto out;
	switch (kind) {
	case PE_FN_SCALAR:
		out->type = PROMQL_TYPE_SCALAR;
		if (!(out->sc = malloc(ev->n * sizeof(double)))) {
			rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			break;
		}
		for (size_t st = 0; st < ev->n; st++) {
			size_t cnt = 0;
			double v = NAN;
			for (size_t i = 0; i < in.vec.n; i++)
				if (in.vec.s[i].has[st]) {
					cnt++;
					v = in.vec.s[i].v[st];
				}
			out->sc[st] = cnt == 1 ? v : NAN;
		}
		break;
	case PE_FN_ABSENT: {
		struct promql_lset ls;
		struct pe_series *s = NULL;
		out->type = PROMQL_TYPE_VECTOR;
		if ((rc = pe_fn_absent_labels(c, n->call.args[0], &ls)) != 0)
			break;
		for (size_t st = 0; st < ev->n && !rc; st++) {
			int any = 0;
			for (size_t i = 0; i < in.vec.n && !any; i++)
				any = in.vec.s[i].has[st];
			if (any)
				continue;
			if (!s) {
				struct promql_lset cp;
				if (promql_lset_copy(&ls, &cp)) {
					rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
					break;
				}
				if ((rc = pe_vec_add(c, &out->vec, ev->n, &cp, &s)) != 0)
					break;
			}
			s->has[st] = 1;
			s->v[st] = 1;
		}
		promql_lset_free(&ls);
		break;
	}
	case PE_FN_SORT: case PE_FN_SORT_DESC: case PE_FN_SORT_LABEL: case PE_FN_SORT_LABEL_DESC:
		rc = pe_fn_sort(c, ev, n, kind, &in, out);
		break;
	case PE_FN_LABEL_REPLACE:
		rc = pe_fn_label_replace(c, ev, n, &in, out);
		break;
	case PE_FN_LABEL_JOIN:
		rc = pe_fn_label_join(c, ev, n, &in, out);
		break;
	default:
		if (n->call.nargs > 1 && (rc = pe_scalar_arg(c, ev, n->call.args[1], &s1)) != 0)
			break;
		if (n->call.nargs > 2 && (rc = pe_scalar_arg(c, ev, n->call.args[2], &s2)) != 0)
			break;
		rc = pe_fn_map(c, ev, n, kind, mop, &in, s1, s2, out);
		break;
	}
out:
	free(s1);
	free(s2);
	pe_val_free(&in);
	if (rc)
		pe_val_free(out);
	return rc;
}
