/* promql_ast: see promql_ast.h. Node allocation and release, the pre-order
 * walk, operator and type names, duration-expression evaluation, and the
 * function table (every function of Prometheus 3, with the argument
 * types and arities of promql/parser/functions.go). */
#include "common/promql_ast.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S PROMQL_TYPE_SCALAR
#define V PROMQL_TYPE_VECTOR
#define M PROMQL_TYPE_MATRIX
#define STR PROMQL_TYPE_STRING
#define EXP PROMQL_FN_EXPERIMENTAL
#define HIST PROMQL_FN_HISTOGRAM

/* Sorted by name (binary search in promql_func_lookup). */
static const struct promql_func promql_ast_funcs[] = {
	{"abs", {V}, 1, 0, V, 0},
	{"absent", {V}, 1, 0, V, 0},
	{"absent_over_time", {M}, 1, 0, V, 0},
	{"acos", {V}, 1, 0, V, 0},
	{"acosh", {V}, 1, 0, V, 0},
	{"asin", {V}, 1, 0, V, 0},
	{"asinh", {V}, 1, 0, V, 0},
	{"atan", {V}, 1, 0, V, 0},
	{"atanh", {V}, 1, 0, V, 0},
	{"avg_over_time", {M}, 1, 0, V, 0},
	{"ceil", {V}, 1, 0, V, 0},
	{"changes", {M}, 1, 0, V, 0},
	{"clamp", {V, S, S}, 3, 0, V, 0},
	{"clamp_max", {V, S}, 2, 0, V, 0},
	{"clamp_min", {V, S}, 2, 0, V, 0},
	{"cos", {V}, 1, 0, V, 0},
	{"cosh", {V}, 1, 0, V, 0},
	{"count_over_time", {M}, 1, 0, V, 0},
	{"day_of_month", {V}, 1, 1, V, 0},
	{"day_of_week", {V}, 1, 1, V, 0},
	{"day_of_year", {V}, 1, 1, V, 0},
	{"days_in_month", {V}, 1, 1, V, 0},
	{"deg", {V}, 1, 0, V, 0},
	{"delta", {M}, 1, 0, V, 0},
	{"deriv", {M}, 1, 0, V, 0},
	{"double_exponential_smoothing", {M, S, S}, 3, 0, V, EXP},
	{"end", {0}, 0, 0, S, EXP},
	{"exp", {V}, 1, 0, V, 0},
	{"first_over_time", {M}, 1, 0, V, EXP},
	{"floor", {V}, 1, 0, V, 0},
	{"histogram_avg", {V}, 1, 0, V, HIST},
	{"histogram_count", {V}, 1, 0, V, HIST},
	{"histogram_fraction", {S, S, V}, 3, 0, V, HIST},
	{"histogram_quantile", {S, V}, 2, 0, V, 0},
	{"histogram_quantiles", {V, STR, S}, 3, -1, V, EXP},
	{"histogram_stddev", {V}, 1, 0, V, HIST},
	{"histogram_stdvar", {V}, 1, 0, V, HIST},
	{"histogram_sum", {V}, 1, 0, V, HIST},
	{"holt_winters", {M, S, S}, 3, 0, V, 0},
	{"hour", {V}, 1, 1, V, 0},
	{"idelta", {M}, 1, 0, V, 0},
	{"increase", {M}, 1, 0, V, 0},
	{"info", {V, V}, 2, 1, V, EXP},
	{"irate", {M}, 1, 0, V, 0},
	{"label_join", {V, STR, STR, STR}, 4, -1, V, 0},
	{"label_replace", {V, STR, STR, STR, STR}, 5, 0, V, 0},
	{"last_over_time", {M}, 1, 0, V, 0},
	{"ln", {V}, 1, 0, V, 0},
	{"log10", {V}, 1, 0, V, 0},
	{"log2", {V}, 1, 0, V, 0},
	{"mad_over_time", {M}, 1, 0, V, EXP},
	{"max_of", {S, S}, 2, 0, S, EXP},
	{"max_over_time", {M}, 1, 0, V, 0},
	{"min_of", {S, S}, 2, 0, S, EXP},
	{"min_over_time", {M}, 1, 0, V, 0},
	{"minute", {V}, 1, 1, V, 0},
	{"month", {V}, 1, 1, V, 0},
	{"pi", {0}, 0, 0, S, 0},
	{"predict_linear", {M, S}, 2, 0, V, 0},
	{"present_over_time", {M}, 1, 0, V, 0},
	{"quantile_over_time", {S, M}, 2, 0, V, 0},
	{"rad", {V}, 1, 0, V, 0},
	{"range", {0}, 0, 0, S, EXP},
	{"rate", {M}, 1, 0, V, 0},
	{"resets", {M}, 1, 0, V, 0},
	{"round", {V, S}, 2, 1, V, 0},
	{"scalar", {V}, 1, 0, S, 0},
	{"sgn", {V}, 1, 0, V, 0},
	{"sin", {V}, 1, 0, V, 0},
	{"sinh", {V}, 1, 0, V, 0},
	{"sort", {V}, 1, 0, V, 0},
	{"sort_by_label", {V, STR}, 2, -1, V, EXP},
	{"sort_by_label_desc", {V, STR}, 2, -1, V, EXP},
	{"sort_desc", {V}, 1, 0, V, 0},
	{"sqrt", {V}, 1, 0, V, 0},
	{"start", {0}, 0, 0, S, EXP},
	{"start_timestamp", {V}, 1, 0, V, EXP},
	{"stddev_over_time", {M}, 1, 0, V, 0},
	{"stdvar_over_time", {M}, 1, 0, V, 0},
	{"step", {0}, 0, 0, S, EXP},
	{"sum_over_time", {M}, 1, 0, V, 0},
	{"tan", {V}, 1, 0, V, 0},
	{"tanh", {V}, 1, 0, V, 0},
	{"time", {0}, 0, 0, S, 0},
	{"timestamp", {V}, 1, 0, V, 0},
	{"ts_of_first_over_time", {M}, 1, 0, V, EXP},
	{"ts_of_last_over_time", {M}, 1, 0, V, EXP},
	{"ts_of_max_over_time", {M}, 1, 0, V, EXP},
	{"ts_of_min_over_time", {M}, 1, 0, V, EXP},
	{"vector", {S}, 1, 0, V, 0},
	{"year", {V}, 1, 1, V, 0},
};

const struct promql_func *promql_func_table(size_t *n)
{
	*n = sizeof(promql_ast_funcs) / sizeof(promql_ast_funcs[0]);
	return promql_ast_funcs;
}

const struct promql_func *promql_func_lookup(const char *name, size_t len)
{
	size_t lo = 0, hi = sizeof(promql_ast_funcs) / sizeof(promql_ast_funcs[0]);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *fn = promql_ast_funcs[mid].name;
		int c = strncmp(fn, name, len);
		if (c == 0 && fn[len] != '\0')
			c = 1;
		if (c == 0)
			return &promql_ast_funcs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *promql_op_name(int op)
{
	static const char *names[] = {
		[PROMQL_OP_OR] = "or", [PROMQL_OP_AND] = "and", [PROMQL_OP_UNLESS] = "unless",
		[PROMQL_OP_EQLC] = "==", [PROMQL_OP_NEQ] = "!=", [PROMQL_OP_LTE] = "<=",
		[PROMQL_OP_LSS] = "<", [PROMQL_OP_GTE] = ">=", [PROMQL_OP_GTR] = ">",
		[PROMQL_OP_ADD] = "+", [PROMQL_OP_SUB] = "-", [PROMQL_OP_MUL] = "*",
		[PROMQL_OP_DIV] = "/", [PROMQL_OP_MOD] = "%", [PROMQL_OP_ATAN2] = "atan2",
		[PROMQL_OP_POW] = "^",
	};
	if (op > 0 && (size_t)op < sizeof(names) / sizeof(names[0]))
		return names[op];
	return "?";
}

const char *promql_agg_name(int op)
{
	static const char *names[] = {
		[PROMQL_AGG_SUM] = "sum", [PROMQL_AGG_AVG] = "avg", [PROMQL_AGG_COUNT] = "count",
		[PROMQL_AGG_MIN] = "min", [PROMQL_AGG_MAX] = "max", [PROMQL_AGG_GROUP] = "group",
		[PROMQL_AGG_STDDEV] = "stddev", [PROMQL_AGG_STDVAR] = "stdvar",
		[PROMQL_AGG_TOPK] = "topk", [PROMQL_AGG_BOTTOMK] = "bottomk",
		[PROMQL_AGG_QUANTILE] = "quantile", [PROMQL_AGG_COUNT_VALUES] = "count_values",
		[PROMQL_AGG_LIMITK] = "limitk", [PROMQL_AGG_LIMIT_RATIO] = "limit_ratio",
	};
	if (op > 0 && (size_t)op < sizeof(names) / sizeof(names[0]))
		return names[op];
	return "?";
}

const char *promql_type_name(int type)
{
	switch (type) {
	case PROMQL_TYPE_SCALAR: return "scalar";
	case PROMQL_TYPE_VECTOR: return "instant vector";
	case PROMQL_TYPE_MATRIX: return "range vector";
	case PROMQL_TYPE_STRING: return "string";
	default: return "none";
	}
}

int promql_op_is_comparison(int op)
{
	return op >= PROMQL_OP_EQLC && op <= PROMQL_OP_GTR;
}

int promql_op_is_set(int op)
{
	return op >= PROMQL_OP_OR && op <= PROMQL_OP_UNLESS;
}

int promql_agg_has_param(int op)
{
	return op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK || op == PROMQL_AGG_QUANTILE ||
	       op == PROMQL_AGG_COUNT_VALUES || op == PROMQL_AGG_LIMITK ||
	       op == PROMQL_AGG_LIMIT_RATIO;
}

struct promql_node *promql_node_new(int kind, uint32_t pos)
{
	struct promql_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = (uint8_t)kind;
	n->pos = pos;
	n->end = pos;
	return n;
}

static void promql_ast_labels_free(struct promql_labels *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	l->n = 0;
}

void promql_free(struct promql_node *n)
{
	if (!n)
		return;
	switch (n->kind) {
	case PROMQL_STRING:
		free(n->str.val);
		break;
	case PROMQL_VECTOR_SEL:
		free(n->vs.name);
		for (size_t i = 0; i < n->vs.nm; i++)
			matcher_free(&n->vs.m[i]);
		free(n->vs.m);
		promql_free(n->vs.mod.offset_expr);
		break;
	case PROMQL_MATRIX_SEL:
		promql_free(n->ms.vs);
		promql_free(n->ms.range_expr);
		break;
	case PROMQL_SUBQUERY:
		promql_free(n->sq.expr);
		promql_free(n->sq.range_expr);
		promql_free(n->sq.step_expr);
		promql_free(n->sq.mod.offset_expr);
		break;
	case PROMQL_UNARY:
		promql_free(n->un.expr);
		break;
	case PROMQL_BINARY:
		promql_free(n->bin.lhs);
		promql_free(n->bin.rhs);
		promql_ast_labels_free(&n->bin.vm.matching);
		promql_ast_labels_free(&n->bin.vm.include);
		break;
	case PROMQL_AGGREGATE:
		promql_free(n->agg.expr);
		promql_free(n->agg.param);
		promql_ast_labels_free(&n->agg.grouping);
		break;
	case PROMQL_CALL:
		for (size_t i = 0; i < n->call.nargs; i++)
			promql_free(n->call.args[i]);
		free(n->call.args);
		break;
	case PROMQL_PAREN:
		promql_free(n->paren.expr);
		break;
	case PROMQL_DURATION:
		promql_free(n->dur.lhs);
		promql_free(n->dur.rhs);
		break;
	default:
		break;
	}
	free(n);
}

static int promql_ast_walk(struct promql_node *n, int depth,
			   int (*fn)(struct promql_node *, int, void *), void *arg)
{
	int rc;
	if (!n)
		return 0;
	if ((rc = fn(n, depth, arg)) != 0)
		return rc;
	struct promql_node *kids[4] = {0};
	switch (n->kind) {
	case PROMQL_MATRIX_SEL: kids[0] = n->ms.vs; break;
	case PROMQL_SUBQUERY: kids[0] = n->sq.expr; break;
	case PROMQL_UNARY: kids[0] = n->un.expr; break;
	case PROMQL_BINARY: kids[0] = n->bin.lhs; kids[1] = n->bin.rhs; break;
	case PROMQL_AGGREGATE: kids[0] = n->agg.param; kids[1] = n->agg.expr; break;
	case PROMQL_PAREN: kids[0] = n->paren.expr; break;
	case PROMQL_DURATION: kids[0] = n->dur.lhs; kids[1] = n->dur.rhs; break;
	case PROMQL_CALL:
		for (size_t i = 0; i < n->call.nargs; i++)
			if ((rc = promql_ast_walk(n->call.args[i], depth + 1, fn, arg)) != 0)
				return rc;
		return 0;
	default:
		return 0;
	}
	for (int i = 0; i < 4; i++)
		if ((rc = promql_ast_walk(kids[i], depth + 1, fn, arg)) != 0)
			return rc;
	return 0;
}

int promql_walk(struct promql_node *n, int (*fn)(struct promql_node *, int, void *), void *arg)
{
	return promql_ast_walk(n, 0, fn, arg);
}

int promql_duration_is_const(const struct promql_node *n)
{
	if (!n)
		return 1;
	if (n->kind == PROMQL_DURATION &&
	    (n->dur.op == PROMQL_DOP_STEP || n->dur.op == PROMQL_DOP_RANGE))
		return 0;
	if (n->kind != PROMQL_DURATION)
		return 1;
	return promql_duration_is_const(n->dur.lhs) && promql_duration_is_const(n->dur.rhs);
}

int promql_duration_eval(const struct promql_node *n, int64_t step_ms, int64_t range_ms,
			 double *seconds)
{
	double a = 0, b = 0, r;
	int rc;
	if (n->kind == PROMQL_NUMBER) {
		*seconds = n->num.val;
		return isfinite(n->num.val) ? 0 : -EDOM;
	}
	if (n->kind != PROMQL_DURATION)
		return -EINVAL;
	switch (n->dur.op) {
	case PROMQL_DOP_STEP:
		*seconds = (double)step_ms / 1000.0;
		return 0;
	case PROMQL_DOP_RANGE:
		*seconds = (double)range_ms / 1000.0;
		return 0;
	default:
		break;
	}
	if (n->dur.lhs && (rc = promql_duration_eval(n->dur.lhs, step_ms, range_ms, &a)) != 0)
		return rc;
	if (n->dur.rhs && (rc = promql_duration_eval(n->dur.rhs, step_ms, range_ms, &b)) != 0)
		return rc;
	switch (n->dur.op) {
	case PROMQL_OP_ADD: r = n->dur.lhs ? a + b : b; break;
	case PROMQL_OP_SUB: r = n->dur.lhs ? a - b : -b; break;
	case PROMQL_OP_MUL: r = a * b; break;
	case PROMQL_OP_DIV:
		if (b == 0)
			return -EDOM;
		r = a / b;
		break;
	case PROMQL_OP_MOD:
		if (b == 0)
			return -EDOM;
		r = fmod(a, b);
		break;
	case PROMQL_OP_POW: r = pow(a, b); break;
	case PROMQL_DOP_MIN: r = a < b ? a : b; break;
	case PROMQL_DOP_MAX: r = a > b ? a : b; break;
	default: return -EINVAL;
	}
	if (!isfinite(r))
		return -EDOM;
	*seconds = r;
	return 0;
}
