/* promql_eval_agg: PromQL aggregation operators over evaluated vectors.
 *
 * Grouping: by(...) keeps the named labels (__name__ only when named);
 * without(...) drops them and __name__. A group's signature bytes are its
 * output label set, interned once per input series. Groups are numbered
 * in order of first appearance, which is the output order of an instant
 * query (as Prometheus' orderedResult). The numbers come from promfn_agg:
 * streaming accumulators (sum, avg, count, min, max, group, stddev,
 * stdvar), phi-quantile, and the k-selection heap (topk, bottomk, limitk,
 * limit_ratio), whose kept series keep their labels, name included.
 * count_values groups by the series' labels plus the value label.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/promfn_agg.h"
#include "common/promql_eval_pvt.h"
#include "common/series.h"

/* The group signature (= output labels) of ls into buf. */
static int pe_agg_sig(const struct promql_node *n, const struct promql_lset *ls, uint8_t **buf,
		      size_t *cap, size_t *len)
{
	return promql_lset_sig(ls, !n->agg.without, n->agg.grouping.names, n->agg.grouping.n,
			       n->agg.without, buf, cap, len);
}

/* Assigns each series of v a group (gid[i]); *ngroups gets the count and
 * tab keeps the group label sets (keys). */
static int pe_agg_groups(struct pe_ctx *c, const struct promql_node *n, const struct pe_vec *v,
			 struct promql_itab *tab, uint32_t *gid)
{
	uint8_t *buf = NULL;
	size_t cap = 0, len;

	for (size_t i = 0; i < v->n; i++) {
		if (pe_agg_sig(n, &v->s[i].ls, &buf, &cap, &len) ||
		    promql_itab_intern(tab, buf, len, &gid[i]) < 0) {
			free(buf);
			return pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		}
	}
	free(buf);
	return 0;
}

static enum promfn_agg_op pe_agg_stream_op(int op)
{
	switch (op) {
	case PROMQL_AGG_AVG: return PROMFN_AGG_AVG;
	case PROMQL_AGG_COUNT: return PROMFN_AGG_COUNT;
	case PROMQL_AGG_MIN: return PROMFN_AGG_MIN;
	case PROMQL_AGG_MAX: return PROMFN_AGG_MAX;
	case PROMQL_AGG_GROUP: return PROMFN_AGG_GROUP;
	case PROMQL_AGG_STDDEV: return PROMFN_AGG_STDDEV;
	case PROMQL_AGG_STDVAR: return PROMFN_AGG_STDVAR;
	default: return PROMFN_AGG_SUM;
	}
}

/* sum ... stdvar and quantile: one output series per group. */
static int pe_agg_stream(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
			 struct pe_vec *in, const double *param, struct pe_val *out)
{
	struct promql_itab tab;
	uint32_t *gid = malloc((in->n ? in->n : 1) * sizeof(uint32_t));
	struct promfn_agg *acc = NULL;
	double *qv = NULL;
	size_t *qoff = NULL, *qn = NULL;
	int rc, quant = n->agg.op == PROMQL_AGG_QUANTILE;

	promql_itab_init(&tab);
	out->type = PROMQL_TYPE_VECTOR;
	if (!gid) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = pe_agg_groups(c, n, in, &tab, gid)) != 0)
		goto out;
	for (size_t g = 0; g < tab.n; g++) {
		struct promql_lset ls = {NULL, 0};
		struct pe_series *s;
		if (tab.klen[g]) {
			ls.b = malloc(tab.klen[g]);
			if (!ls.b) {
				rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
				goto out;
			}
			memcpy(ls.b, tab.keys[g], tab.klen[g]);
			ls.len = tab.klen[g];
		}
		if ((rc = pe_vec_add(c, &out->vec, ev->n, &ls, &s)) != 0)
			goto out;
	}
	acc = calloc(tab.n ? tab.n : 1, sizeof(*acc));
	if (quant) {
		qv = malloc((in->n ? in->n : 1) * sizeof(double));
		qoff = calloc(tab.n + 1, sizeof(size_t));
		qn = calloc(tab.n + 1, sizeof(size_t));
	}
	if (!acc || (quant && (!qv || !qoff || !qn))) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (quant) {
		/* Group slices of qv: offsets by group size. */
		for (size_t i = 0; i < in->n; i++)
			qoff[gid[i] + 1]++;
		for (size_t g = 0; g < tab.n; g++)
			qoff[g + 1] += qoff[g];
	}
	for (size_t st = 0; st < ev->n; st++) {
		if ((rc = pe_check(c)) != 0)
			goto out;
		for (size_t g = 0; g < tab.n; g++) {
			promfn_agg_init(&acc[g], pe_agg_stream_op(n->agg.op));
			if (quant)
				qn[g] = 0;
		}
		for (size_t i = 0; i < in->n; i++) {
			if (!in->s[i].has[st])
				continue;
			if (quant) {
				uint32_t g = gid[i];
				qv[qoff[g] + qn[g]++] = in->s[i].v[st];
				acc[g].seen = true;
			} else {
				promfn_agg_add(&acc[gid[i]], in->s[i].v[st]);
			}
		}
		for (size_t g = 0; g < tab.n; g++) {
			double v;
			if (quant) {
				if (!acc[g].seen)
					continue;
				v = promfn_agg_quantile(param[st], qv + qoff[g], qn[g]);
			} else if (!promfn_agg_result(&acc[g], &v)) {
				continue;
			}
			out->vec.s[g].has[st] = 1;
			out->vec.s[g].v[st] = v;
		}
		if ((rc = pe_account(c, tab.n)) != 0)
			goto out;
	}
out:
	free(gid);
	free(acc);
	free(qv);
	free(qoff);
	free(qn);
	promql_itab_free(&tab);
	return rc;
}

/* topk, bottomk, limitk, limit_ratio. */
static int pe_agg_k(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		    struct pe_vec *in, const double *param, struct pe_val *out)
{
	struct promql_itab tab;
	uint32_t *gid = malloc((in->n ? in->n : 1) * sizeof(uint32_t));
	uint32_t *cache = calloc(in->n ? in->n : 1, sizeof(uint32_t));
	uint64_t *hash = calloc(in->n ? in->n : 1, sizeof(uint64_t));
	struct promfn_agg_heap *heaps = NULL;
	struct pe_out o;
	enum promfn_agg_kop kop;
	int rc, op = n->agg.op;
	double pmax = -INFINITY;

	promql_itab_init(&tab);
	out->type = PROMQL_TYPE_VECTOR;
	pe_out_init(&o, &out->vec, ev->n, 0);
	if (!gid || !cache || !hash) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = pe_agg_groups(c, n, in, &tab, gid)) != 0)
		goto out;
	kop = op == PROMQL_AGG_TOPK ? PROMFN_AGG_TOPK :
	      op == PROMQL_AGG_BOTTOMK ? PROMFN_AGG_BOTTOMK :
	      op == PROMQL_AGG_LIMITK ? PROMFN_AGG_LIMITK : PROMFN_AGG_LIMIT_RATIO;
	for (size_t st = 0; st < ev->n; st++)
		if (param[st] > pmax || isnan(param[st]))
			pmax = isnan(param[st]) ? NAN : (param[st] > pmax ? param[st] : pmax);
	if (kop == PROMFN_AGG_LIMIT_RATIO) {
		char pos[32];
		pe_pos_fmt(c, n->agg.param, pos, sizeof(pos));
		for (size_t st = 0; st < ev->n; st++) {
			if (isnan(param[st])) {
				rc = pe_errf(c, -ERANGE, PROMQL_ERR_EXEC, "Ratio value is NaN");
				goto out;
			}
			if (param[st] > 1 || param[st] < -1)
			{
				char g1[40];
				pe_warnf(c, 0, "PromQL warning: ratio value should be between -1 and 1, got %s, capping to %g (%s)",
					 pe_gfmt(param[st], g1), param[st] > 1 ? 1.0 : -1.0, pos);
			}
		}
		for (size_t i = 0; i < in->n; i++) {
			struct promfn_label ls[SERIES_MAX_LABELS];
			struct promql_lset_it it;
			struct promql_label l;
			size_t k = 0;
			promql_lset_it_init(&it, &in->s[i].ls);
			while (promql_lset_it_next(&it, &l) && k < SERIES_MAX_LABELS) {
				ls[k].name = l.name;
				ls[k].name_len = l.nlen;
				ls[k].value = l.val;
				ls[k].value_len = l.vlen;
				k++;
			}
			hash[i] = promfn_labels_hash(ls, k);
		}
	} else if (!(pmax >= 1)) {
		goto out;
	}
	heaps = calloc(tab.n ? tab.n : 1, sizeof(*heaps));
	if (!heaps) {
		rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t st = 0; st < ev->n && !rc; st++) {
		int64_t k = 0;
		double ratio = 0;
		if ((rc = pe_check(c)) != 0)
			break;
		if (kop == PROMFN_AGG_LIMIT_RATIO) {
			ratio = param[st] > 1 ? 1 : param[st] < -1 ? -1 : param[st];
			if (ratio == 0)
				continue;
		} else {
			if (!(param[st] > -9.2e18 && param[st] < 9.2e18)) {
				rc = pe_errf(c, -ERANGE, PROMQL_ERR_EXEC, "Scalar value %g overflows int64", param[st]);
				break;
			}
			k = (int64_t)param[st];
			if (k < 1)
				continue;
		}
		for (size_t g = 0; g < tab.n; g++) {
			promfn_agg_heap_free(&heaps[g]);
			if (promfn_agg_heap_init(&heaps[g], kop, k, ratio, in->n)) {
				rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
				break;
			}
		}
		for (size_t i = 0; i < in->n && !rc; i++) {
			if (!in->s[i].has[st])
				continue;
			if (promfn_agg_heap_full(&heaps[gid[i]]))
				continue;
			if (promfn_agg_heap_add(&heaps[gid[i]], in->s[i].v[st], i, hash[i]))
				rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
		}
		for (size_t g = 0; g < tab.n && !rc; g++) {
			size_t m = promfn_agg_heap_finish(&heaps[g]);
			for (size_t j = 0; j < m && !rc; j++) {
				size_t i = heaps[g].items[j].idx;
				rc = pe_out_put(c, &o, st, &in->s[i].ls, (uint32_t)i, heaps[g].items[j].v,
						&cache[i]);
			}
		}
	}
out:
	if (heaps)
		for (size_t g = 0; g < tab.n; g++)
			promfn_agg_heap_free(&heaps[g]);
	free(heaps);
	free(gid);
	free(cache);
	free(hash);
	promql_itab_free(&tab);
	pe_out_fini(&o);
	return rc;
}

/* count_values("label", v). */
static int pe_agg_count_values(struct pe_ctx *c, const struct pe_ev *ev,
			       const struct promql_node *n, struct pe_vec *in, struct pe_val *out)
{
	const char *lbl = n->agg.param->str.val;
	size_t lbl_len = n->agg.param->str.len;
	struct promql_itab tab;
	struct promql_lb lb;
	struct pe_out o;
	uint8_t *buf = NULL;
	size_t cap = 0, len;
	uint32_t *cnt = NULL;
	size_t cntcap = 0;
	int rc = 0;
	char *by[65];
	size_t nby = 0;
	struct promql_node tmp = *n;

	out->type = PROMQL_TYPE_VECTOR;
	if (lbl_len == 0 || memchr(lbl, 0xff, lbl_len))
		return pe_errf(c, -ERANGE, PROMQL_ERR_EXEC, "invalid label name \"%s\"", lbl);
	/* by(...) also keeps the value label. */
	if (!n->agg.without) {
		for (size_t i = 0; i < n->agg.grouping.n && nby < 64; i++)
			by[nby++] = n->agg.grouping.names[i];
		by[nby++] = (char *)lbl;
		tmp.agg.grouping.names = by;
		tmp.agg.grouping.n = nby;
	}
	promql_itab_init(&tab);
	promql_lb_init(&lb);
	pe_out_init(&o, &out->vec, ev->n, 0);
	for (size_t st = 0; st < ev->n && !rc; st++) {
		promql_itab_clear(&tab);
		for (size_t i = 0; i < in->n && !rc; i++) {
			char num[PROMFN_FLOAT_BUF];
			struct promql_lset m;
			uint32_t id;
			if (!in->s[i].has[st])
				continue;
			promfn_agg_count_values_label(in->s[i].v[st], num, sizeof(num));
			if (promql_lb_reset(&lb, &in->s[i].ls) ||
			    promql_lb_set(&lb, lbl, lbl_len, num, strlen(num)) ||
			    promql_lb_build(&lb, &m)) {
				rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
				break;
			}
			rc = pe_agg_sig(&tmp, &m, &buf, &cap, &len);
			promql_lset_free(&m);
			if (rc || (rc = promql_itab_intern(&tab, buf, len, &id)) < 0) {
				rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
				break;
			}
			if (id >= cntcap) {
				size_t nc = cntcap ? cntcap * 2 : 64;
				while (nc <= id)
					nc *= 2;
				uint32_t *nn = realloc(cnt, nc * sizeof(*nn));
				if (!nn) {
					rc = pe_errf(c, -ENOMEM, PROMQL_ERR_INTERNAL, "out of memory");
					break;
				}
				cnt = nn;
				cntcap = nc;
			}
			cnt[id] = rc == 1 ? 1 : cnt[id] + 1;
			rc = 0;
		}
		for (size_t g = 0; g < tab.n && !rc; g++) {
			struct promql_lset ls = {tab.keys[g], tab.klen[g]};
			rc = pe_out_put(c, &o, st, &ls, (uint32_t)g, cnt[g], NULL);
		}
	}
	free(buf);
	free(cnt);
	promql_lb_free(&lb);
	promql_itab_free(&tab);
	pe_out_fini(&o);
	return rc;
}

/* Evaluates an AGGREGATE node. */
int pe_eval_agg(struct pe_ctx *c, const struct pe_ev *ev, const struct promql_node *n,
		struct pe_val *out)
{
	struct pe_val in;
	double *param = NULL;
	int rc, op = n->agg.op;

	memset(out, 0, sizeof(*out));
	if (n->agg.param && op != PROMQL_AGG_COUNT_VALUES &&
	    (rc = pe_scalar_arg(c, ev, n->agg.param, &param)) != 0)
		return rc;
	if ((rc = pe_eval(c, ev, n->agg.expr, &in)) != 0) {
		free(param);
		return rc;
	}
	if (in.type != PROMQL_TYPE_VECTOR) {
		rc = pe_errf(c, -EINVAL, PROMQL_ERR_BAD_DATA, "expected an instant vector in aggregation");
	} else if (op == PROMQL_AGG_COUNT_VALUES) {
		rc = pe_agg_count_values(c, ev, n, &in.vec, out);
	} else if (op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK || op == PROMQL_AGG_LIMITK ||
		   op == PROMQL_AGG_LIMIT_RATIO) {
		rc = pe_agg_k(c, ev, n, &in.vec, param, out);
	} else {
		if (op == PROMQL_AGG_QUANTILE) {
			char pos[32];
			pe_pos_fmt(c, n->agg.param, pos, sizeof(pos));
			for (size_t st = 0; st < ev->n; st++) {
				if (promfn_quantile_is_invalid(param[st])) {
					char g1[40];
					pe_warnf(c, 0, "PromQL warning: quantile value should be between 0 and 1, got %s (%s)",
						 pe_gfmt(param[st], g1), pos);
					break;
				}
			}
		}
		rc = pe_agg_stream(c, ev, n, &in.vec, param, out);
	}
	free(param);
	pe_val_free(&in);
	if (rc)
		pe_val_free(out);
	return rc;
}
