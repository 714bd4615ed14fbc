/* promql_eval_binop: PromQL binary operators over evaluated operands.
 *
 * scalar/scalar, vector/scalar (either side) and vector/vector with
 * Prometheus' vector matching: signatures from on(...)/ignoring(...)
 * (ignoring always drops __name__ too), one-to-one, many-to-one
 * (group_left) and one-to-many (group_right, handled by swapping sides),
 * the set operators and/or/unless, bool comparisons, and the result-label
 * rules of resultMetric (arithmetic and bool drop __name__, one-to-one
 * keeps only/drops the matching labels, group_x labels come from the
 * "one" side). Cardinality errors use Prometheus' messages.
 *
 * Signatures are interned once per series (labels do not change across
 * steps), so each step only compares small integers.
 *
 * Not here: the fill()/fill_left()/fill_right() experimental modifiers
 * (refused).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/promql_eval_pvt.h"

/* One element operation. Comparisons return l and set *keep to the
 * outcome; arithmetic sets *keep = 1. */
double pe_binop_scalar(int op, double l, double r, int *keep)
{
	*keep = 1;
	switch (op) {
	case PROMQL_OP_ADD: return l + r;
	case PROMQL_OP_SUB: return l - r;
	case PROMQL_OP_MUL: return l * r;
	case PROMQL_OP_DIV: return l / r;
	case PROMQL_OP_MOD: return fmod(l, r);
	case PROMQL_OP_POW: return pow(l, r);
	case PROMQL_OP_ATAN2: return atan2(l, r);
	case PROMQL_OP_EQLC: *keep = l == r; return l;
	case PROMQL_OP_NEQ: *keep = l != r; return l;
	case PROMQL_OP_GTR: *keep = l > r; return l;
	case PROMQL_OP_LSS: *keep = l < r; return l;
	case PROMQL_OP_GTE: *keep = l >= r; return l;
	case PROMQL_OP_LTE: *keep = l <= r; return l;
	}
	*keep = 0;
	return NAN;
}

static int pe_binop_arith(int op)
{
	return op == PROMQL_OP_ADD || op == PROMQL_OP_SUB || op == PROMQL_OP_MUL ||
	       op == PROMQL_OP_DIV || op == PROMQL_OP_MOD || op == PROMQL_OP_POW ||
	       op == PROMQL_OP_ATAN2;
}

/* scalar op scalar. */
static int pe_binop_ss(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		       struct pe_val *l, struct pe_val *r, struct pe_val *out)
{
	int keep;
	*out = *l;
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < ev->n; i++) {
		double v = pe_binop_scalar(n->bin.op, out->sc[i], r->sc[i], &keep);
		if (promql_op_is_comparison(n->bin.op))
			v = keep ? 1 : 0;
		out->sc[i] = v;
	}
	(void)c;
	return 0;
}

/* vector op scalar (swap: scalar op vector). */
static int pe_binop_vs(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		       struct pe_vec *vec, const double *sc, int swap, struct pe_val *out)
{
	int op = n->bin.op, rb = n->bin.return_bool, cmp = promql_op_is_comparison(op);
	int drop = pe_binop_arith(op) || rb;
	struct pe_out o;
	uint32_t *cache = calloc(vec->n ? vec->n : 1, sizeof(uint32_t));
	struct promql_lset *names = calloc(vec->n ? vec->n : 1, sizeof(*names));
	int rc = 0;

	out->type = PROMQL_TYPE_VECTOR;
	if (!cache || !names) {
		free(cache);
		free(names);
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	}
	pe_out_init(&o, &out->vec, ev->n, 0);
	for (size_t i = 0; i < vec->n && !rc; i++) {
		if (drop)
			rc = promql_lset_drop_name(&vec->s[i].ls, &names[i]) ? -ENOMEM : 0;
		else
			rc = promql_lset_copy(&vec->s[i].ls, &names[i]) ? -ENOMEM : 0;
		if (rc)
			rc = pe_errf(c, rc, PROMQL_ERR_INTERNAL, "out of memory");
	}
	for (size_t st = 0; st < ev->n && !rc; st++) {
		if ((rc = pe_check(c)) != 0)
			break;
		for (size_t i = 0; i < vec->n && !rc; i++) {
			struct pe_series *s = &vec->s[i];
			double lf, rf, v;
			int keep;
			if (!s->has[st])
				continue;
			lf = swap ? sc[st] : s->v[st];
			rf = swap ? s->v[st] : sc[st];
			v = pe_binop_scalar(op, lf, rf, &keep);
			if (cmp && swap)
				v = rf;
			if (rb) {
				v = keep ? 1 : 0;
				keep = 1;
			}
			if (!keep)
				continue;
			rc = pe_out_put(c, &o, st, &names[i], (uint32_t)i, v, &cache[i]);
		}
	}
	for (size_t i = 0; i < vec->n; i++)
		promql_lset_free(&names[i]);
	free(names);
	free(cache);
	pe_out_fini(&o);
	return rc;
}

/* Match signatures of both sides, interned into ids. */
struct pe_sigs {
	struct promql_itab tab;
	uint32_t *l, *r;
	uint8_t *buf;
	size_t cap;
};

static int pe_sigs_init(struct pe_ctx *c, struct pe_sigs *s, const struct promql_vm *vm,
			const struct pe_vec *l, const struct pe_vec *r)
{
	size_t len;
	uint32_t id;

	memset(s, 0, sizeof(*s));
	promql_itab_init(&s->tab);
	s->l = malloc((l->n ? l->n : 1) * sizeof(uint32_t));
	s->r = malloc((r->n ? r->n : 1) * sizeof(uint32_t));
	if (!s->l || !s->r)
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	for (int side = 0; side < 2; side++) {
		const struct pe_vec *v = side ? r : l;
		uint32_t *ids = side ? s->r : s->l;
		for (size_t i = 0; i < v->n; i++) {
			if (promql_lset_sig(&v->s[i].ls, vm->on, vm->matching.names, vm->matching.n,
					    !vm->on, &s->buf, &s->cap, &len) ||
			    promql_itab_intern(&s->tab, s->buf, len, &id) < 0)
				return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
			ids[i] = id;
		}
	}
	return 0;
}

static void pe_sigs_fini(struct pe_sigs *s)
{
	promql_itab_free(&s->tab);
	free(s->l);
	free(s->r);
	free(s->buf);
}

/* and / or / unless. */
static int pe_binop_set(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
			struct pe_vec *l, struct pe_vec *r, struct pe_val *out)
{
	struct pe_sigs sg;
	struct pe_out o;
	uint32_t *stamp = NULL, *lc = NULL, *rcache = NULL;
	int rc, op = n->bin.op;

	out->type = PROMQL_TYPE_VECTOR;
	pe_out_init(&o, &out->vec, ev->n, 0);
	if ((rc = pe_sigs_init(c, &sg, &n->bin.vm, l, r)) != 0)
		goto out;
	stamp = calloc(sg.tab.n ? sg.tab.n : 1, sizeof(uint32_t));
	lc = calloc(l->n ? l->n : 1, sizeof(uint32_t));
	rcache = calloc(r->n ? r->n : 1, sizeof(uint32_t));
	if (!stamp || !lc || !rcache) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t st = 0; st < ev->n && !rc; st++) {
		uint32_t mark = (uint32_t)st + 1;
		if ((rc = pe_check(c)) != 0)
			break;
		/* Mark the signatures of the side that filters. */
		const struct pe_vec *fv = op == PROMQL_OP_OR ? l : r;
		const uint32_t *fid = op == PROMQL_OP_OR ? sg.l : sg.r;
		for (size_t i = 0; i < fv->n; i++)
			if (fv->s[i].has[st])
				stamp[fid[i]] = mark;
		for (size_t i = 0; i < l->n && !rc; i++) {
			if (!l->s[i].has[st])
				continue;
			int in = stamp[sg.l[i]] == mark;
			if (op == PROMQL_OP_AND && !in)
				continue;
			if (op == PROMQL_OP_UNLESS && in)
				continue;
			rc = pe_out_put(c, &o, st, &l->s[i].ls, (uint32_t)i, l->s[i].v[st], &lc[i]);
		}
		if (op != PROMQL_OP_OR)
			continue;
		for (size_t i = 0; i < r->n && !rc; i++) {
			if (!r->s[i].has[st] || stamp[sg.r[i]] == mark)
				continue;
			rc = pe_out_put(c, &o, st, &r->s[i].ls, (uint32_t)(l->n + i), r->s[i].v[st],
					&rcache[i]);
		}
	}
out:
	free(stamp);
	free(lc);
	free(rcache);
	pe_sigs_fini(&sg);
	pe_out_fini(&o);
	return rc;
}

/* The error for two series of the "one" side with one signature. */
static int pe_binop_dup(struct pe_ctx *c, const struct promql_vm *vm, const struct pe_series *a,
			const struct pe_series *b, const char *side)
{
	struct promql_lb lb;
	struct promql_lset m = {0};
	char ms[512], as[512], bs[512];

	if (promql_lset_cmp(&a->ls, &b->ls) > 0) {
		const struct pe_series *t = a;
		a = b;
		b = t;
	}
	promql_lb_init(&lb);
	if (promql_lb_reset(&lb, &a->ls) == 0) {
		if (vm->on) {
			promql_lb_keep(&lb, vm->matching.names, vm->matching.n);
		} else {
			for (size_t i = 0; i < vm->matching.n; i++)
				promql_lb_del(&lb, vm->matching.names[i], strlen(vm->matching.names[i]));
			promql_lb_del(&lb, PROMQL_LSET_NAME, 8);
		}
		promql_lb_build(&lb, &m);
	}
	promql_lb_free(&lb);
	promql_lset_format(&m, ms, sizeof(ms));
	promql_lset_format(&a->ls, as, sizeof(as));
	promql_lset_format(&b->ls, bs, sizeof(bs));
	promql_lset_free(&m);
	return pe_errf(c, -ERANGE, PROMQL_ERR_EXEC,
		       "found duplicate series for the match group %s on the %s hand-side of the operation: [%s, %s];many-to-many matching not allowed: matching labels must be unique on one side",
		       ms, side, as, bs);
}

/* Result labels of a matched pair (resultMetric). */
static int pe_binop_metric(struct pe_ctx *c, struct promql_lb *lb, const struct promql_node *n,
			   const struct pe_series *ls, const struct pe_series *rs,
			   struct promql_lset *out)
{
	const struct promql_vm *vm = &n->bin.vm;
	size_t vl;

	if (promql_lb_reset(lb, &ls->ls))
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	if (pe_binop_arith(n->bin.op) || n->bin.return_bool)
		promql_lb_del(lb, PROMQL_LSET_NAME, 8);
	if (vm->card == PROMQL_CARD_ONE_TO_ONE) {
		if (vm->on) {
			promql_lb_keep(lb, vm->matching.names, vm->matching.n);
		} else {
			for (size_t i = 0; i < vm->matching.n; i++)
				promql_lb_del(lb, vm->matching.names[i], strlen(vm->matching.names[i]));
		}
	}
	for (size_t i = 0; i < vm->include.n; i++) {
		const char *nm = vm->include.names[i];
		const char *v = promql_lset_get(&rs->ls, nm, &vl);
		if (promql_lb_set(lb, nm, strlen(nm), v ? v : "", v ? vl : 0))
			return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	}
	if (promql_lb_build(lb, out))
		return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
	return 0;
}

/* Arithmetic and comparisons between two vectors. */
static int pe_binop_vv(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		       struct pe_vec *lv, struct pe_vec *rv, struct pe_val *out)
{
	const struct promql_vm *vm = &n->bin.vm;
	int swap = vm->card == PROMQL_CARD_ONE_TO_MANY, rb = n->bin.return_bool;
	struct pe_vec *l = swap ? rv : lv, *r = swap ? lv : rv;
	struct pe_sigs sg;
	struct pe_out o;
	struct promql_lb lb;
	struct promql_itab ins;
	uint32_t *rstamp = NULL, *ridx = NULL, *mstamp = NULL, *lcache = NULL;
	uint8_t *sigbuf = NULL;
	int rc;

	out->type = PROMQL_TYPE_VECTOR;
	pe_out_init(&o, &out->vec, ev->n, 0);
	promql_lb_init(&lb);
	promql_itab_init(&ins);
	if ((rc = pe_sigs_init(c, &sg, vm, l, r)) != 0)
		goto out;
	rstamp = calloc(sg.tab.n ? sg.tab.n : 1, sizeof(uint32_t));
	ridx = calloc(sg.tab.n ? sg.tab.n : 1, sizeof(uint32_t));
	mstamp = calloc(sg.tab.n ? sg.tab.n : 1, sizeof(uint32_t));
	lcache = calloc(l->n ? l->n : 1, sizeof(uint32_t));
	if (!rstamp || !ridx || !mstamp || !lcache) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t st = 0; st < ev->n && !rc; st++) {
		uint32_t mark = (uint32_t)st + 1;
		if ((rc = pe_check(c)) != 0)
			break;
		int lany = 0, rany = 0;
		for (size_t i = 0; i < l->n && !lany; i++)
			lany = l->s[i].has[st];
		for (size_t i = 0; i < r->n && !rany; i++)
			rany = r->s[i].has[st];
		if (!lany || !rany)
			continue;
		for (size_t i = 0; i < r->n; i++) {
			if (!r->s[i].has[st])
				continue;
			uint32_t sid = sg.r[i];
			if (rstamp[sid] == mark) {
				rc = pe_binop_dup(c, vm, &r->s[i], &r->s[ridx[sid]], swap ? "left" : "right");
				break;
			}
			rstamp[sid] = mark;
			ridx[sid] = (uint32_t)i;
		}
		if (vm->card != PROMQL_CARD_ONE_TO_ONE)
			promql_itab_clear(&ins);
		for (size_t i = 0; i < l->n && !rc; i++) {
			struct pe_series *ls = &l->s[i], *rs;
			uint32_t sid = sg.l[i];
			double fl, fr, v;
			int keep;
			if (!ls->has[st] || rstamp[sid] != mark)
				continue;
			rs = &r->s[ridx[sid]];
			fl = ls->v[st];
			fr = rs->v[st];
			if (swap) {
				double t = fl;
				fl = fr;
				fr = t;
			}
			if (vm->card == PROMQL_CARD_ONE_TO_ONE) {
				if (mstamp[sid] == mark) {
					rc = pe_errf(c, -ERANGE, PROMQL_ERR_EXEC,
						     "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
					break;
				}
				mstamp[sid] = mark;
			}
			v = pe_binop_scalar(n->bin.op, fl, fr, &keep);
			if (rb) {
				v = keep ? 1 : 0;
			} else if (!keep) {
				continue;
			}
			struct promql_lset m;
			if (vm->include.n == 0 && lcache[i]) {
				rc = pe_out_put(c, &o, st, NULL, (uint32_t)i, v, &lcache[i]);
				continue;
			}
			if ((rc = pe_binop_metric(c, &lb, n, ls, rs, &m)) != 0)
				break;
			if (vm->card != PROMQL_CARD_ONE_TO_ONE) {
				/* key: signature id + result labels */
				size_t kl = 4 + m.len;
				uint8_t *nb = realloc(sigbuf, kl);
				uint32_t id;
				if (!nb) {
					promql_lset_free(&m);
					rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
					break;
				}
				sigbuf = nb;
				memcpy(sigbuf, &sid, 4);
				if (m.len)
					memcpy(sigbuf + 4, m.b, m.len);
				int added = promql_itab_intern(&ins, sigbuf, kl, &id);
				if (added == 0) {
					promql_lset_free(&m);
					rc = pe_errf(c, -ERANGE, PROMQL_ERR_EXEC,
						     "multiple matches for labels: grouping labels must ensure unique matches");
					break;
				}
			}
			rc = pe_out_put(c, &o, st, &m, (uint32_t)i, v,
					vm->include.n == 0 ? &lcache[i] : NULL);
			promql_lset_free(&m);
		}
	}
out:
	free(rstamp);
	free(ridx);
	free(mstamp);
	free(lcache);
	free(sigbuf);
	promql_itab_free(&ins);
	promql_lb_free(&lb);
	pe_sigs_fini(&sg);
	pe_out_fini(&o);
	return rc;
}

/* Evaluates a BINARY node. */
int pe_eval_binary(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		   struct pe_val *out)
{
	struct pe_val l, r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n->bin.vm.has_fill_lhs || n->bin.vm.has_fill_rhs)
		return pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA,
			       "fill modifiers are not supported");
	if ((rc = pe_eval(c, ev, n->bin.lhs, &l)) != 0)
		return rc;
	if ((rc = pe_eval(c, ev, n->bin.rhs, &r)) != 0) {
		pe_val_free(&l);
		return rc;
	}
	if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_SCALAR)
		rc = pe_binop_ss(c, ev, n, &l, &r, out);
	else if (l.type == PROMQL_TYPE_VECTOR && r.type == PROMQL_TYPE_SCALAR)
		rc = pe_binop_vs(c, ev, n, &l.vec, r.sc, 0, out);
	else if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_VECTOR)
		rc = pe_binop_vs(c, ev, n, &r.vec, l.sc, 1, out);
	else if (l.type == PROMQL_TYPE_VECTOR && r.type == PROMQL_TYPE_VECTOR) {
		if (promql_op_is_set(n->bin.op))
			rc = pe_binop_set(c, ev, n, &l.vec, &r.vec, out);
		else
			rc = pe_binop_vv(c, ev, n, &l.vec, &r.vec, out);
	} else {
		rc = pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "invalid operand types for binary operator");
	}
	pe_val_free(&l);
	pe_val_free(&r);
	if (rc)
		pe_val_free(out);
	return rc;
}
