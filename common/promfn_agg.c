/* promfn_agg: aggregation operator kernels (sum ... limit_ratio).
 *
 * Sections: streaming accumulators (sum, avg, min, max, count, group,
 * stddev, stdvar); quantile; the k-selection heap (topk, bottomk, limitk,
 * limit_ratio) that mirrors Go's container/heap step by step so the kept
 * series and their output order match Prometheus; count_values labels.
 *
 * Invariants: values arrive in input series order; an accumulator holds
 * no resources; a heap owns only its items array.
 */
#include "common/promfn_agg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/promfn.h"

static const char *const promfn_agg_names[] = {
	[PROMFN_AGG_SUM] = "sum", [PROMFN_AGG_AVG] = "avg", [PROMFN_AGG_MIN] = "min",
	[PROMFN_AGG_MAX] = "max", [PROMFN_AGG_COUNT] = "count", [PROMFN_AGG_GROUP] = "group",
	[PROMFN_AGG_STDDEV] = "stddev", [PROMFN_AGG_STDVAR] = "stdvar",
};

/* Maps "sum", "avg", ... to the streaming op. Returns 0, or -ENOENT
 * (quantile, topk and friends have their own entry points). */
int promfn_agg_lookup(const char *name, enum promfn_agg_op *op)
{
	size_t i;

	for (i = 0; i < sizeof(promfn_agg_names) / sizeof(promfn_agg_names[0]); i++) {
		if (strcmp(name, promfn_agg_names[i]) == 0) {
			*op = (enum promfn_agg_op)i;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- streaming accumulators ---- */

/* Prepares *a (caller-owned) for one group at one step. */
void promfn_agg_init(struct promfn_agg *a, enum promfn_agg_op op)
{
	memset(a, 0, sizeof(*a));
	a->op = op;
}

/* The first value of a group sets every field, as Prometheus' group
 * initialisation does. stddev/stdvar of a group starting with NaN or Inf
 * is NaN whatever follows. */
static void promfn_agg_first(struct promfn_agg *a, double v)
{
	a->seen = true;
	a->value = v;
	a->mean = v;
	a->kahan_c = 0;
	a->count = 1;
	a->incremental_mean = false;
	if (a->op == PROMFN_AGG_STDDEV || a->op == PROMFN_AGG_STDVAR)
		a->value = (isnan(v) || isinf(v)) ? NAN : 0;
	else if (a->op == PROMFN_AGG_GROUP)
		a->value = 1;
}

/* avg: Kahan sum while it stays finite, then an incremental mean that
 * keeps an infinite mean unless a NaN or the opposite infinity arrives. */
static void promfn_agg_add_avg(struct promfn_agg *a, double v)
{
	double ns, nc, cur;

	a->count++;
	if (!a->incremental_mean) {
		ns = a->value;
		nc = a->kahan_c;
		promfn_kahan_inc(v, &ns, &nc);
		if (!isinf(ns)) {
			a->value = ns;
			a->kahan_c = nc;
			return;
		}
		a->incremental_mean = true;
		a->mean = a->value / (a->count - 1);
		a->kahan_c /= a->count - 1;
	}
	if (isinf(a->mean)) {
		if (isinf(v) && (a->mean > 0) == (v > 0))
			return;
		if (!isinf(v) && !isnan(v))
			return;
	}
	cur = a->mean + a->kahan_c;
	/* Both sides divided by count first, so the difference cannot
	 * overflow. */
	promfn_kahan_inc(v / a->count - cur / a->count, &a->mean, &a->kahan_c);
}

/* Adds the next value of the group (in input series order). */
void promfn_agg_add(struct promfn_agg *a, double v)
{
	double delta;

	if (!a->seen) {
		promfn_agg_first(a, v);
		return;
	}
	switch (a->op) {
	case PROMFN_AGG_SUM:
		promfn_kahan_inc(v, &a->value, &a->kahan_c);
		break;
	case PROMFN_AGG_AVG:
		promfn_agg_add_avg(a, v);
		break;
	case PROMFN_AGG_MIN:
		if (a->value > v || isnan(a->value))
			a->value = v;
		break;
	case PROMFN_AGG_MAX:
		if (a->value < v || isnan(a->value))
			a->value = v;
		break;
	case PROMFN_AGG_COUNT:
		a->count++;
		break;
	case PROMFN_AGG_GROUP:
		break;
	case PROMFN_AGG_STDDEV:
	case PROMFN_AGG_STDVAR:
		/* Plain Welford, as upstream's aggregation (no Kahan here,
		 * unlike stdvar_over_time). */
		a->count++;
		delta = v - a->mean;
		a->mean += delta / a->count;
		a->value += delta * (v - a->mean);
		break;
	}
}

/* The group's result. Returns false when no value was added (the group
 * has no output at this step), else true with *out filled: min/max are
 * NaN only if every input was NaN; stddev/stdvar are population
 * statistics. */
bool promfn_agg_result(const struct promfn_agg *a, double *out)
{
	if (!a->seen)
		return false;
	switch (a->op) {
	case PROMFN_AGG_SUM:
		*out = a->value + a->kahan_c;
		break;
	case PROMFN_AGG_AVG:
		*out = a->incremental_mean ? a->mean + a->kahan_c
					   : (a->value + a->kahan_c) / a->count;
		break;
	case PROMFN_AGG_COUNT:
		*out = a->count;
		break;
	case PROMFN_AGG_STDVAR:
		*out = a->value / a->count;
		break;
	case PROMFN_AGG_STDDEV:
		*out = sqrt(a->value / a->count);
		break;
	default:
		*out = a->value;
		break;
	}
	return true;
}

/* quantile(q, v) of a group: promfn_quantile over its values (sorted in
 * place; caller-owned). The caller warns for an invalid q. */
double promfn_agg_quantile(double q, double *vals, size_t n)
{
	return promfn_quantile(q, vals, n);
}

/* ---- k-selection heap ---- */

/* Less of vectorByValueHeap (topk, limitk, limit_ratio) or of
 * vectorByReverseValueHeap (bottomk): a NaN left side is always less. */
static bool promfn_agg_less(const struct promfn_agg_heap *h, size_t i, size_t j)
{
	double vi = h->items[i].v, vj = h->items[j].v;

	if (isnan(vi))
		return true;
	return h->op == PROMFN_AGG_BOTTOMK ? vi > vj : vi < vj;
}

static void promfn_agg_swap(struct promfn_agg_heap *h, size_t i, size_t j)
{
	struct promfn_agg_item t = h->items[i];

	h->items[i] = h->items[j];
	h->items[j] = t;
}

/* container/heap up(). */
static void promfn_agg_up(struct promfn_agg_heap *h, size_t j)
{
	size_t i;

	while (j > 0) {
		i = (j - 1) / 2;
		if (!promfn_agg_less(h, j, i))
			break;
		promfn_agg_swap(h, i, j);
		j = i;
	}
}

/* container/heap down(); returns whether the element moved. */
static bool promfn_agg_down(struct promfn_agg_heap *h, size_t i0, size_t n)
{
	size_t i = i0, j, j1, j2;

	for (;;) {
		j1 = 2 * i + 1;
		if (j1 >= n)
			break;
		j = j1;
		j2 = j1 + 1;
		if (j2 < n && promfn_agg_less(h, j2, j1))
			j = j2;
		if (!promfn_agg_less(h, j, i))
			break;
		promfn_agg_swap(h, i, j);
		i = j;
	}
	return i > i0;
}

/* Fills *h (caller-owned) for one group. k must be >= 1 for topk, bottomk
 * and limitk (Prometheus returns nothing for k < 1 before aggregating);
 * ratio is used by limit_ratio only. n_hint is the number of series that
 * may arrive (the capacity reserved up front). Returns 0, or -ENOMEM with
 * *h left freeable. */
int promfn_agg_heap_init(struct promfn_agg_heap *h, enum promfn_agg_kop op, int64_t k,
			 double ratio, size_t n_hint)
{
	size_t cap = n_hint;

	memset(h, 0, sizeof(*h));
	h->op = op;
	h->k = k;
	h->ratio = ratio;
	if (op != PROMFN_AGG_LIMIT_RATIO && k > 0 && (uint64_t)k < cap)
		cap = (size_t)k;
	if (cap == 0)
		cap = 1;
	h->items = malloc(cap * sizeof(*h->items));
	if (!h->items)
		return -ENOMEM;
	h->cap = cap;
	return 0;
}

/* heap.Push: append, then restore the heap order. */
static int promfn_agg_push(struct promfn_agg_heap *h, double v, size_t idx)
{
	struct promfn_agg_item *n;

	if (h->len == h->cap) {
		n = realloc(h->items, 2 * h->cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		h->items = n;
		h->cap *= 2;
	}
	h->items[h->len].v = v;
	h->items[h->len].idx = idx;
	h->len++;
	promfn_agg_up(h, h->len - 1);
	return 0;
}

/* Offers the next series of the group (value v, caller index idx; hash is
 * promfn_labels_hash of its labels, read by limit_ratio only). topk keeps
 * the k largest (a NaN is replaced by any number), bottomk the k
 * smallest, limitk the first k, limit_ratio those promfn_ratio_keep
 * accepts. Returns 0, or -ENOMEM (the heap stays valid). */
int promfn_agg_heap_add(struct promfn_agg_heap *h, double v, size_t idx, uint64_t hash)
{
	struct promfn_agg_item *top;

	switch (h->op) {
	case PROMFN_AGG_LIMIT_RATIO:
		if (promfn_ratio_keep(h->ratio, hash))
			return promfn_agg_push(h, v, idx);
		return 0;
	case PROMFN_AGG_LIMITK:
		if ((int64_t)h->len < h->k)
			return promfn_agg_push(h, v, idx);
		return 0;
	case PROMFN_AGG_TOPK:
	case PROMFN_AGG_BOTTOMK:
		if ((int64_t)h->len < h->k)
			return promfn_agg_push(h, v, idx);
		top = &h->items[0];
		if ((h->op == PROMFN_AGG_TOPK ? top->v < v : top->v > v) ||
		    (isnan(top->v) && !isnan(v))) {
			top->v = v;
			top->idx = idx;
			if (h->k > 1 && !promfn_agg_down(h, 0, h->len))
				promfn_agg_up(h, 0);
		}
		return 0;
	}
	return 0;
}

/* True once limitk holds k series: the evaluator may stop feeding this
 * group, and stop the whole step when every group is full. */
bool promfn_agg_heap_full(const struct promfn_agg_heap *h)
{
	return h->op == PROMFN_AGG_LIMITK && (int64_t)h->len >= h->k;
}

/* sort.Reverse(heap) comparator: Less(j, i) of the heap's own order. */
static bool promfn_agg_rless(const struct promfn_agg_heap *h, const struct promfn_agg_item *a,
			     const struct promfn_agg_item *b)
{
	double vi = b->v, vj = a->v;

	if (isnan(vi))
		return true;
	return h->op == PROMFN_AGG_BOTTOMK ? vi > vj : vi < vj;
}

/* Stable merge sort of items[lo, hi) by promfn_agg_rless, via tmp. */
static void promfn_agg_msort(struct promfn_agg_heap *h, struct promfn_agg_item *tmp,
			     size_t lo, size_t hi)
{
	size_t mid, i, j, k;

	if (hi - lo < 2)
		return;
	mid = lo + (hi - lo) / 2;
	promfn_agg_msort(h, tmp, lo, mid);
	promfn_agg_msort(h, tmp, mid, hi);
	for (i = lo, j = mid, k = lo; k < hi; k++) {
		if (j < hi && (i >= mid || promfn_agg_rless(h, &h->items[j], &h->items[i])))
			tmp[k] = h->items[j++];
		else
			tmp[k] = h->items[i++];
	}
	memcpy(&h->items[lo], &tmp[lo], (hi - lo) * sizeof(*tmp));
}

/* Puts the kept series in Prometheus' instant-query output order and
 * returns how many there are (items[0 .. return)). topk: descending,
 * bottomk: ascending, with NaN last; limitk and limit_ratio: heap order,
 * unsorted, as upstream. Go's sort.Sort is an insertion sort up to 12
 * elements, reproduced exactly (ties keep heap order); above that Go's
 * pdqsort may order equal values differently from the stable merge sort
 * used here (and falls back to insertion sort if the merge buffer cannot
 * be allocated). */
size_t promfn_agg_heap_finish(struct promfn_agg_heap *h)
{
	struct promfn_agg_item *tmp;
	size_t i, j;

	if (h->op != PROMFN_AGG_TOPK && h->op != PROMFN_AGG_BOTTOMK)
		return h->len;
	if (h->len > 12 && (tmp = malloc(h->len * sizeof(*tmp))) != NULL) {
		promfn_agg_msort(h, tmp, 0, h->len);
		free(tmp);
		return h->len;
	}
	for (i = 1; i < h->len; i++)
		for (j = i; j > 0 && promfn_agg_rless(h, &h->items[j], &h->items[j - 1]); j--)
			promfn_agg_swap(h, j, j - 1);
	return h->len;
}

/* Releases the items array; accepts a zeroed or already freed heap. */
void promfn_agg_heap_free(struct promfn_agg_heap *h)
{
	if (!h)
		return;
	free(h->items);
	h->items = NULL;
	h->len = 0;
	h->cap = 0;
}

/* ---- count_values ---- */

/* The label value count_values gives v: Go's FormatFloat(v, 'f', -1, 64)
 * ("1", "0.5", "1000000", "NaN", "+Inf"). Same contract as
 * promfn_format_float. */
size_t promfn_agg_count_values_label(double v, char *buf, size_t len)
{
	return promfn_format_float(v, buf, len);
}
