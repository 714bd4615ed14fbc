/* promql_eval_pvt: the evaluator's internal types, shared by
 * promql_eval.c (core, selectors, subqueries, results), promql_eval_binop.c,
 * promql_eval_agg.c and promql_eval_fn.c. Not a public interface.
 */
#ifndef MCS_PROMQL_EVAL_PVT_H
#define MCS_PROMQL_EVAL_PVT_H

#include <stddef.h>
#include <stdint.h>

#include "common/promql_eval.h"
#include "common/promql_lset.h"

/* An instant-vector series over the steps of its evaluation. */
struct pe_series {
	struct promql_lset ls;  /* owned */
	double *v;              /* [steps] */
	uint8_t *has;           /* [steps]: 1 where v holds a value */
	int64_t *ts;            /* [steps] sample times (selectors only) or NULL */
	uint32_t src;           /* output collector: which input produced it */
};

struct pe_vec {
	struct pe_series *s;
	size_t n, cap;
};

/* A range-vector series: sparse points, no stale markers. */
struct pe_mseries {
	struct promql_lset ls;
	struct promfn_point *p; /* owned */
	size_t n;
};

struct pe_mat {
	struct pe_mseries *s;
	size_t n, cap;
};

/* A value over the steps. */
struct pe_val {
	int type;             /* enum promql_type */
	double *sc;           /* SCALAR: [steps] */
	struct pe_vec vec;    /* VECTOR */
	struct pe_mat mat;    /* MATRIX (instant top level only) */
	const char *str;      /* STRING, points into the tree */
	size_t slen;
};

/* The grid of one evaluation: t_i = start + i * step, i < n. */
struct pe_ev {
	int64_t start, end, step;
	size_t n;
};

/* Per-query state. */
struct pe_ctx {
	const struct promql_storage *st;
	struct promql_opts o;
	int64_t q_start, q_end, q_step;  /* the query's own grid */
	uint64_t samples;                /* in memory now (approximate peak) */
	uint64_t loaded;                 /* fetched from storage */
	struct promql_result *res;       /* warnings, error */
	uint32_t tick;
};

/* A range-vector argument, ready for windowing. */
struct pe_marg {
	struct pe_mat mat;
	int64_t range_ms, offset_ms;
	int at;          /* use at_ms instead of the step time */
	int64_t at_ms;
};

/* Collects per-step outputs into a vector keyed by label set. */
struct pe_out {
	struct pe_vec *vec;
	struct promql_itab tab;
	size_t steps;
	int whole;       /* duplicates are errors across all steps */
};

/* ---- promql_eval.c ---- */
int pe_eval(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
	    struct pe_val *out);
int pe_eval_vs(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
	       int want_ts, struct pe_val *out);
int pe_eval_marg(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		 struct pe_marg *out);
void pe_window(const struct pe_marg *m, const struct pe_mseries *s, int64_t t, size_t *lo,
	       size_t *hi);
int64_t pe_window_end(const struct pe_marg *m, int64_t t);
void pe_val_free(struct pe_val *v);
void pe_vec_free(struct pe_vec *v);
void pe_mat_free(struct pe_mat *m);
int pe_vec_add(struct pe_ctx *c, struct pe_vec *v, size_t steps, struct promql_lset *ls,
	       struct pe_series **out);
int pe_errf(struct pe_ctx *c, int rc, int kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int pe_warnf(struct pe_ctx *c, int info, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int pe_check(struct pe_ctx *c);
int pe_account(struct pe_ctx *c, uint64_t n);
int pe_scalar_arg(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		  double **out);
void pe_out_init(struct pe_out *o, struct pe_vec *vec, size_t steps, int whole);
void pe_out_fini(struct pe_out *o);
int pe_out_put(struct pe_ctx *c, struct pe_out *o, size_t step, const struct promql_lset *ls,
	       uint32_t src, double v, uint32_t *cache);
const char *pe_gfmt(double v, char buf[40]);
const struct promql_node *pe_unparen(const struct promql_node *n);
size_t pe_pos_fmt(const struct pe_ctx *c, const struct promql_node *n, char *buf, size_t cap);

/* ---- promql_eval_binop.c ---- */
int pe_eval_binary(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		   struct pe_val *out);
double pe_binop_scalar(int op, double l, double r, int *keep);

/* ---- promql_eval_agg.c ---- */
int pe_eval_agg(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		struct pe_val *out);

/* ---- promql_eval_fn.c ---- */
int pe_eval_call(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		 struct pe_val *out);

#endif
