/* promql_parse: see promql_parse.h. A recursive-descent parser with
 * precedence climbing for the binary operators, one token of lookahead
 * (plus a peek at the token after it), stopping at the first error.
 *
 * Invariants: every parse function returns a complete node it owns or NULL
 * after setting the error (it has freed its partial children); p->cur is
 * the first token not consumed yet.
 */
#include "common/promql_parse.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/promql_lex.h"
#include "common/promql_parse_pvt.h"
#include "common/promql_sel.h"

static struct promql_node *promql_parse_expr(struct promql_parser *p, int minprec);

void promql_parse_errf(struct promql_parser *p, uint32_t pos, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = -EINVAL;
	if (!p->err)
		return;
	uint32_t line = 1, col = 1;
	for (uint32_t i = 0; i < pos && i < p->lx.len; i++) {
		if (p->lx.s[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	p->err->pos = pos;
	p->err->line = line;
	p->err->col = col;
	snprintf(p->err->msg, sizeof(p->err->msg), "%u:%u: parse error: %s", line, col, text);
}

void promql_parse_nomem(struct promql_parser *p)
{
	if (!p->failed && p->err)
		snprintf(p->err->msg, sizeof(p->err->msg), "out of memory");
	if (!p->failed)
		p->failed = -ENOMEM;
}

void promql_parse_advance(struct promql_parser *p)
{
	if (promql_lex_next(&p->lx, &p->cur) == PROMQL_T_ERROR)
		promql_parse_errf(p, p->lx.err_pos, "%s", p->lx.err);
}

/* The token after p->cur, without consuming anything. */
struct promql_token promql_parse_peek(struct promql_parser *p)
{
	struct promql_lex copy = p->lx;
	struct promql_token t;
	promql_lex_next(&copy, &t);
	return t;
}

/* Describes the current token for "unexpected ..." messages. */
void promql_parse_unexpected(struct promql_parser *p, const char *ctx, const char *expected)
{
	const struct promql_token *t = &p->cur;
	char desc[96];
	if (t->type == PROMQL_T_ERROR)
		return; /* the lexer's message is already set */
	static const char *const kws[] = {"by", "without", "on", "ignoring", "group_left",
					   "group_right", "bool", "offset", "start", "end"};
	static const char *const ops[] = {"and", "or", "unless", "atan2"};
	const char *kw = NULL, *op = NULL;
	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]) && !kw; i++)
		if (promql_parse_kw(p, kws[i]))
			kw = kws[i];
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && !op; i++)
		if (promql_parse_kw(p, ops[i]))
			op = ops[i];
	if (t->type >= PROMQL_T_AT && t->type <= PROMQL_T_GTE) {
		/* Operators print as Prometheus does: <op:+>. */
		snprintf(desc, sizeof(desc), "<op:%.*s>", (int)t->len, p->lx.s + t->pos);
	} else if (kw || op) {
		snprintf(desc, sizeof(desc), op ? "<op:%.*s>" : "<%.*s>", (int)t->len, p->lx.s + t->pos);
	} else if (t->type == PROMQL_T_EOF)
		snprintf(desc, sizeof(desc), "end of input");
	else if (t->type >= PROMQL_T_IDENT && t->type <= PROMQL_T_STRING)
		snprintf(desc, sizeof(desc), "%s \"%.*s\"", promql_lex_name(t->type),
			 (int)(t->len > 40 ? 40 : t->len), p->lx.s + t->pos);
	else
		snprintf(desc, sizeof(desc), "%s", promql_lex_name(t->type));
	promql_parse_errf(p, t->pos, "unexpected %s%s%s%s%s", desc, ctx ? " in " : "", ctx ? ctx : "",
			  expected ? ", expected " : "", expected ? expected : "");
}

int promql_parse_expect(struct promql_parser *p, enum promql_tok type, const char *ctx,
			       const char *expected)
{
	if (p->cur.type != type) {
		promql_parse_unexpected(p, ctx, expected);
		return -EINVAL;
	}
	promql_parse_advance(p);
	return p->failed;
}

int promql_parse_kw(struct promql_parser *p, const char *kw)
{
	return promql_lex_is_kw(&p->lx, &p->cur, kw);
}

struct promql_node *promql_parse_new(struct promql_parser *p, int kind, uint32_t pos)
{
	struct promql_node *n = promql_node_new(kind, pos);
	if (!n)
		promql_parse_nomem(p);
	return n;
}

char *promql_parse_strdup(struct promql_parser *p, const char *s, size_t len)
{
	char *c = strndup(s, len);
	if (!c)
		promql_parse_nomem(p);
	return c;
}

/* Unquotes the current STRING token into a new buffer (caller owns). */
char *promql_parse_string(struct promql_parser *p, size_t *len)
{
	char *out, e[64];
	size_t bad;
	int rc = promql_lex_unquote(p->lx.s + p->cur.pos, p->cur.len, &out, len, e, sizeof(e), &bad);
	if (rc == -ENOMEM)
		promql_parse_nomem(p);
	else if (rc != 0)
		promql_parse_errf(p, p->cur.pos + (uint32_t)bad, "%s", e);
	return rc == 0 ? out : NULL;
}

/* ---- expressions ----------------------------------------------------- */

/* The binary operator at p->cur: sets *op and returns its precedence
 * (1 or .. 6 ^), or 0 when p->cur is not a binary operator. */
static int promql_parse_binop(struct promql_parser *p, int *op)
{
	switch (p->cur.type) {
	case PROMQL_T_EQLC: *op = PROMQL_OP_EQLC; return 3;
	case PROMQL_T_NEQ: *op = PROMQL_OP_NEQ; return 3;
	case PROMQL_T_LTE: *op = PROMQL_OP_LTE; return 3;
	case PROMQL_T_LSS: *op = PROMQL_OP_LSS; return 3;
	case PROMQL_T_GTE: *op = PROMQL_OP_GTE; return 3;
	case PROMQL_T_GTR: *op = PROMQL_OP_GTR; return 3;
	case PROMQL_T_ADD: *op = PROMQL_OP_ADD; return 4;
	case PROMQL_T_SUB: *op = PROMQL_OP_SUB; return 4;
	case PROMQL_T_MUL: *op = PROMQL_OP_MUL; return 5;
	case PROMQL_T_DIV: *op = PROMQL_OP_DIV; return 5;
	case PROMQL_T_MOD: *op = PROMQL_OP_MOD; return 5;
	case PROMQL_T_POW: *op = PROMQL_OP_POW; return 6;
	default: break;
	}
	if (promql_parse_kw(p, "or")) { *op = PROMQL_OP_OR; return 1; }
	if (promql_parse_kw(p, "and")) { *op = PROMQL_OP_AND; return 2; }
	if (promql_parse_kw(p, "unless")) { *op = PROMQL_OP_UNLESS; return 2; }
	if (promql_parse_kw(p, "atan2")) { *op = PROMQL_OP_ATAN2; return 5; }
	return 0;
}

static int promql_parse_want(struct promql_parser *p, const struct promql_node *n, int want,
			     const char *ctx)
{
	if (n->type == want)
		return 0;
	promql_parse_errf(p, n->pos, "expected type %s in %s, got %s", promql_type_name(want), ctx,
			  promql_type_name(n->type));
	return -EINVAL;
}

/* Reads "fill(v)", "fill_left(v)", "fill_right(v)" after the matching
 * modifiers. Returns 1 when one was read, 0 when none, <0 on error. */
static int promql_parse_fill(struct promql_parser *p, struct promql_vm *vm)
{
	int which;
	if (promql_parse_kw(p, "fill")) which = 3;
	else if (promql_parse_kw(p, "fill_left")) which = 1;
	else if (promql_parse_kw(p, "fill_right")) which = 2;
	else return 0;
	if (promql_parse_peek(p).type != PROMQL_T_LPAREN)
		return 0;
	promql_parse_advance(p);
	promql_parse_advance(p);
	double sign = 1;
	if (p->cur.type == PROMQL_T_SUB || p->cur.type == PROMQL_T_ADD) {
		sign = p->cur.type == PROMQL_T_SUB ? -1 : 1;
		promql_parse_advance(p);
	}
	if (p->cur.type != PROMQL_T_NUMBER) {
		promql_parse_unexpected(p, "fill modifier", "number");
		return -EINVAL;
	}
	double v = sign * p->cur.num;
	promql_parse_advance(p);
	if (promql_parse_expect(p, PROMQL_T_RPAREN, "fill modifier", "\")\"") != 0)
		return -EINVAL;
	if (which & 1) {
		vm->has_fill_lhs = 1;
		vm->fill_lhs = v;
	}
	if (which & 2) {
		vm->has_fill_rhs = 1;
		vm->fill_rhs = v;
	}
	return 1;
}

/* Parses bool/on/ignoring/group_x/fill after a binary operator into n. */
static int promql_parse_bin_modifiers(struct promql_parser *p, struct promql_node *n)
{
	struct promql_vm *vm = &n->bin.vm;
	if (promql_parse_kw(p, "bool")) {
		n->bin.return_bool = 1;
		promql_parse_advance(p);
	}
	int on = promql_parse_kw(p, "on");
	if (on || promql_parse_kw(p, "ignoring")) {
		vm->on = (uint8_t)on;
		vm->valid = 2; /* "written"; settled by the type check */
		promql_parse_advance(p);
		if (p->failed || promql_sel_labels(p, &vm->matching, "grouping opts") != 0)
			return -EINVAL;
		int left = promql_parse_kw(p, "group_left");
		if (left || promql_parse_kw(p, "group_right")) {
			vm->card = left ? PROMQL_CARD_MANY_TO_ONE : PROMQL_CARD_ONE_TO_MANY;
			promql_parse_advance(p);
			if (!p->failed && p->cur.type == PROMQL_T_LPAREN &&
			    promql_sel_labels(p, &vm->include, "grouping opts") != 0)
				return -EINVAL;
		}
	}
	for (int i = 0; i < 2 && !p->failed; i++)
		if (promql_parse_fill(p, vm) <= 0)
			break;
	return p->failed;
}

/* Applies Prometheus' parse-time checks to a complete binary node. */
static int promql_parse_check_binary(struct promql_parser *p, struct promql_node *n, uint32_t opos)
{
	struct promql_vm *vm = &n->bin.vm;
	int op = n->bin.op, lt = n->bin.lhs->type, rt = n->bin.rhs->type;
	if (n->bin.return_bool && !promql_op_is_comparison(op)) {
		promql_parse_errf(p, opos, "bool modifier can only be used on comparison operators");
		return -EINVAL;
	}
	if (promql_op_is_comparison(op) && !n->bin.return_bool && lt == PROMQL_TYPE_SCALAR &&
	    rt == PROMQL_TYPE_SCALAR) {
		promql_parse_errf(p, opos, "comparisons between scalars must use BOOL modifier");
		return -EINVAL;
	}
	if (promql_op_is_set(op) && vm->card == PROMQL_CARD_ONE_TO_ONE)
		vm->card = PROMQL_CARD_MANY_TO_MANY;
	if (vm->on)
		for (size_t i = 0; i < vm->matching.n; i++)
			for (size_t j = 0; j < vm->include.n; j++)
				if (strcmp(vm->matching.names[i], vm->include.names[j]) == 0) {
					promql_parse_errf(p, opos, "label \"%s\" must not occur in ON and GROUP clause at once",
							  vm->include.names[j]);
					return -EINVAL;
				}
	if (lt != PROMQL_TYPE_SCALAR && lt != PROMQL_TYPE_VECTOR) {
		promql_parse_errf(p, n->bin.lhs->pos, "binary expression must contain only scalar and instant vector types");
		return -EINVAL;
	}
	if (rt != PROMQL_TYPE_SCALAR && rt != PROMQL_TYPE_VECTOR) {
		promql_parse_errf(p, n->bin.rhs->pos, "binary expression must contain only scalar and instant vector types");
		return -EINVAL;
	}
	if (lt != PROMQL_TYPE_VECTOR || rt != PROMQL_TYPE_VECTOR) {
		if (vm->matching.n > 0) {
			promql_parse_errf(p, n->pos, "vector matching only allowed between instant vectors");
			return -EINVAL;
		}
		vm->valid = 0;
	} else {
		vm->valid = 1;
		if (promql_op_is_set(op) && vm->card != PROMQL_CARD_MANY_TO_MANY) {
			promql_parse_errf(p, n->pos, "no grouping allowed for \"%s\" operation", promql_op_name(op));
			return -EINVAL;
		}
	}
	if ((lt == PROMQL_TYPE_SCALAR || rt == PROMQL_TYPE_SCALAR) && promql_op_is_set(op)) {
		promql_parse_errf(p, n->pos, "set operator \"%s\" not allowed in binary scalar expression",
				  promql_op_name(op));
		return -EINVAL;
	}
	n->type = (lt == PROMQL_TYPE_SCALAR && rt == PROMQL_TYPE_SCALAR) ? PROMQL_TYPE_SCALAR
									   : PROMQL_TYPE_VECTOR;
	return 0;
}

/* Appends e to a growing argument array. */
static int promql_parse_push(struct promql_parser *p, struct promql_node ***arr, size_t *n,
			     struct promql_node *e)
{
	struct promql_node **grown = realloc(*arr, (*n + 1) * sizeof(*grown));
	if (!grown) {
		promql_free(e);
		promql_parse_nomem(p);
		return -ENOMEM;
	}
	*arr = grown;
	(*arr)[(*n)++] = e;
	return 0;
}

/* "(" expr {"," expr} ")" into *args; p->cur is the "(". */
static int promql_parse_args(struct promql_parser *p, struct promql_node ***args, size_t *n,
			     uint32_t *end, int info)
{
	promql_parse_advance(p);
	while (!p->failed && p->cur.type != PROMQL_T_RPAREN) {
		p->allow_empty = info && *n == 1 && p->cur.type == PROMQL_T_LBRACE;
		struct promql_node *e = promql_parse_expr(p, 0);
		p->allow_empty = 0;
		if (!e || promql_parse_push(p, args, n, e) != 0)
			break;
		if (p->cur.type == PROMQL_T_COMMA) {
			promql_parse_advance(p);
			if (p->cur.type == PROMQL_T_RPAREN)
				promql_parse_errf(p, p->cur.pos, "trailing commas not allowed in function call args");
		} else if (p->cur.type != PROMQL_T_RPAREN) {
			promql_parse_unexpected(p, "function call", "\",\" or \")\"");
		}
	}
	if (!p->failed) {
		*end = p->cur.pos + 1;
		promql_parse_advance(p);
	}
	return p->failed;
}

static struct promql_node *promql_parse_call(struct promql_parser *p, const struct promql_func *fn)
{
	struct promql_node *n = promql_parse_new(p, PROMQL_CALL, p->cur.pos);
	if (!n)
		return NULL;
	n->call.fn = fn;
	n->type = fn->ret;
	promql_parse_advance(p);
	if (promql_parse_args(p, &n->call.args, &n->call.nargs, &n->end,
			      strcmp(fn->name, "info") == 0) != 0)
		goto fail;
	size_t na = n->call.nargs, want = fn->nargs;
	if (fn->variadic == 0 && na != want) {
		promql_parse_errf(p, n->pos, "expected %zu argument(s) in call to \"%s\", got %zu", want,
				  fn->name, na);
		goto fail;
	}
	if (fn->variadic != 0 && na < want - 1) {
		promql_parse_errf(p, n->pos, "expected at least %zu argument(s) in call to \"%s\", got %zu",
				  want - 1, fn->name, na);
		goto fail;
	}
	if (fn->variadic > 0 && na > want - 1 + (size_t)fn->variadic) {
		promql_parse_errf(p, n->pos, "expected at most %zu argument(s) in call to \"%s\", got %zu",
				  want - 1 + (size_t)fn->variadic, fn->name, na);
		goto fail;
	}
	char ctx[80];
	snprintf(ctx, sizeof(ctx), "call to function \"%s\"", fn->name);
	for (size_t i = 0; i < na; i++) {
		size_t t = i < want ? i : want - 1;
		if (promql_parse_want(p, n->call.args[i], fn->arg_types[t], ctx) != 0)
			goto fail;
	}
	return n;
fail:
	promql_free(n);
	return NULL;
}

static const char *const promql_parse_aggs[] = {
	[PROMQL_AGG_SUM] = "sum", [PROMQL_AGG_AVG] = "avg", [PROMQL_AGG_COUNT] = "count",
	[PROMQL_AGG_MIN] = "min", [PROMQL_AGG_MAX] = "max", [PROMQL_AGG_GROUP] = "group",
	[PROMQL_AGG_STDDEV] = "stddev", [PROMQL_AGG_STDVAR] = "stdvar",
	[PROMQL_AGG_TOPK] = "topk", [PROMQL_AGG_BOTTOMK] = "bottomk",
	[PROMQL_AGG_QUANTILE] = "quantile", [PROMQL_AGG_COUNT_VALUES] = "count_values",
	[PROMQL_AGG_LIMITK] = "limitk", [PROMQL_AGG_LIMIT_RATIO] = "limit_ratio",
};

static int promql_parse_agg_op(struct promql_parser *p)
{
	for (int i = PROMQL_AGG_SUM; i <= PROMQL_AGG_LIMIT_RATIO; i++)
		if (promql_parse_kw(p, promql_parse_aggs[i]))
			return i;
	return 0;
}

static int promql_parse_agg_modifier(struct promql_parser *p, struct promql_node *n)
{
	n->agg.without = promql_parse_kw(p, "without");
	promql_parse_advance(p);
	if (p->failed)
		return p->failed;
	return promql_sel_labels(p, &n->agg.grouping, "grouping opts");
}

static struct promql_node *promql_parse_aggregate(struct promql_parser *p, int op)
{
	struct promql_node *n = promql_parse_new(p, PROMQL_AGGREGATE, p->cur.pos);
	struct promql_node **args = NULL;
	size_t nargs = 0, i;
	int modified = 0;
	if (!n)
		return NULL;
	n->agg.op = op;
	n->type = PROMQL_TYPE_VECTOR;
	promql_parse_advance(p);
	if (promql_parse_kw(p, "by") || promql_parse_kw(p, "without")) {
		modified = 1;
		if (promql_parse_agg_modifier(p, n) != 0)
			goto fail;
	}
	if (p->cur.type != PROMQL_T_LPAREN) {
		promql_parse_unexpected(p, "aggregation", "\"(\"");
		goto fail;
	}
	if (promql_parse_args(p, &args, &nargs, &n->end, 0) != 0)
		goto fail;
	if (!modified && (promql_parse_kw(p, "by") || promql_parse_kw(p, "without"))) {
		if (promql_parse_agg_modifier(p, n) != 0)
			goto fail;
		n->end = p->cur.pos;
	}
	size_t want = promql_agg_has_param(op) ? 2 : 1;
	if (nargs == 0) {
		promql_parse_errf(p, n->pos, "no arguments for aggregate expression provided");
		goto fail;
	}
	if (nargs != want) {
		promql_parse_errf(p, n->pos, "wrong number of arguments for aggregate expression provided, expected %zu, got %zu",
				  want, nargs);
		goto fail;
	}
	n->agg.expr = args[want - 1];
	n->agg.param = want == 2 ? args[0] : NULL;
	free(args);
	args = NULL;
	nargs = 0;
	if (promql_parse_want(p, n->agg.expr, PROMQL_TYPE_VECTOR, "aggregation expression") != 0)
		goto fail;
	if (n->agg.param &&
	    promql_parse_want(p, n->agg.param,
			      op == PROMQL_AGG_COUNT_VALUES ? PROMQL_TYPE_STRING : PROMQL_TYPE_SCALAR,
			      "aggregation parameter") != 0)
		goto fail;
	return n;
fail:
	for (i = 0; i < nargs; i++)
		promql_free(args[i]);
	free(args);
	promql_free(n);
	return NULL;
}

/* Identifiers that are keywords and never metric names. */
static int promql_parse_reserved(struct promql_parser *p)
{
	static const char *const kws[] = {"bool", "on", "ignoring", "group_left", "group_right", "atan2"};
	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
		if (promql_parse_kw(p, kws[i]))
			return 1;
	return 0;
}

static struct promql_node *promql_parse_primary(struct promql_parser *p)
{
	struct promql_node *n;
	uint32_t pos = p->cur.pos;
	switch (p->cur.type) {
	case PROMQL_T_NUMBER:
	case PROMQL_T_DURATION:
		if (!(n = promql_parse_new(p, PROMQL_NUMBER, pos)))
			return NULL;
		n->type = PROMQL_TYPE_SCALAR;
		n->num.val = p->cur.num;
		n->num.duration = p->cur.type == PROMQL_T_DURATION;
		n->end = pos + p->cur.len;
		promql_parse_advance(p);
		return n;
	case PROMQL_T_STRING:
		if (!(n = promql_parse_new(p, PROMQL_STRING, pos)))
			return NULL;
		n->type = PROMQL_TYPE_STRING;
		n->end = pos + p->cur.len;
		if (!(n->str.val = promql_parse_string(p, &n->str.len))) {
			promql_free(n);
			return NULL;
		}
		promql_parse_advance(p);
		return n;
	case PROMQL_T_LPAREN:
		promql_parse_advance(p);
		if (!(n = promql_parse_new(p, PROMQL_PAREN, pos)))
			return NULL;
		if (!(n->paren.expr = promql_parse_expr(p, 0)) ||
		    promql_parse_expect(p, PROMQL_T_RPAREN, "paren expression", "\")\"") != 0) {
			promql_free(n);
			return NULL;
		}
		n->type = n->paren.expr->type;
		n->end = p->cur.pos;
		return n;
	case PROMQL_T_LBRACE:
		return promql_sel_selector(p, 0);
	case PROMQL_T_METRIC:
		return promql_sel_selector(p, 1);
	case PROMQL_T_IDENT: {
		struct promql_token next = promql_parse_peek(p);
		int agg = promql_parse_agg_op(p);
		if (agg && (next.type == PROMQL_T_LPAREN ||
			    (next.type == PROMQL_T_IDENT &&
			     (promql_lex_is_kw(&p->lx, &next, "by") || promql_lex_is_kw(&p->lx, &next, "without")))))
			return promql_parse_aggregate(p, agg);
		if (promql_parse_reserved(p))
			break;
		if (next.type == PROMQL_T_LPAREN && !agg) {
			const struct promql_func *fn = promql_func_lookup(p->lx.s + pos, p->cur.len);
			if (!fn) {
				promql_parse_errf(p, pos, "unknown function with name \"%.*s\"", (int)p->cur.len,
						  p->lx.s + pos);
				return NULL;
			}
			return promql_parse_call(p, fn);
		}
		return promql_sel_selector(p, 1);
	}
	default:
		break;
	}
	promql_parse_unexpected(p, NULL, NULL);
	return NULL;
}

static struct promql_node *promql_parse_unary(struct promql_parser *p)
{
	if (p->cur.type != PROMQL_T_ADD && p->cur.type != PROMQL_T_SUB)
		return promql_sel_postfix(p, promql_parse_primary(p));
	uint32_t pos = p->cur.pos;
	int op = p->cur.type == PROMQL_T_ADD ? PROMQL_OP_ADD : PROMQL_OP_SUB;
	promql_parse_advance(p);
	if (p->failed)
		return NULL;
	/* Unary binds like "*": its operand takes "^" chains only. */
	struct promql_node *e = promql_parse_expr(p, 6);
	if (!e)
		return NULL;
	if (e->kind == PROMQL_NUMBER) {
		if (op == PROMQL_OP_SUB)
			e->num.val = -e->num.val;
		e->pos = pos;
		return e;
	}
	if (e->type != PROMQL_TYPE_SCALAR && e->type != PROMQL_TYPE_VECTOR) {
		promql_parse_errf(p, pos, "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
				  promql_type_name(e->type));
		promql_free(e);
		return NULL;
	}
	struct promql_node *n = promql_parse_new(p, PROMQL_UNARY, pos);
	if (!n) {
		promql_free(e);
		return NULL;
	}
	n->un.op = op;
	n->un.expr = e;
	n->type = e->type;
	n->end = e->end;
	return n;
}

static struct promql_node *promql_parse_expr(struct promql_parser *p, int minprec)
{
	if (++p->depth > PROMQL_PARSE_MAX_DEPTH) {
		promql_parse_errf(p, p->cur.pos, "expression nested too deeply");
		p->depth--;
		return NULL;
	}
	struct promql_node *lhs = promql_parse_unary(p);
	int op, prec;
	while (lhs && !p->failed && (prec = promql_parse_binop(p, &op)) >= minprec && prec > 0) {
		uint32_t opos = p->cur.pos;
		struct promql_node *n = promql_parse_new(p, PROMQL_BINARY, lhs->pos);
		if (!n)
			break;
		n->bin.op = op;
		n->bin.lhs = lhs;
		lhs = n;
		promql_parse_advance(p);
		if (p->failed || promql_parse_bin_modifiers(p, n) != 0)
			break;
		n->bin.rhs = promql_parse_expr(p, op == PROMQL_OP_POW ? prec : prec + 1);
		if (!n->bin.rhs || promql_parse_check_binary(p, n, opos) != 0)
			break;
		n->end = n->bin.rhs->end;
	}
	p->depth--;
	if (p->failed) {
		promql_free(lhs);
		return NULL;
	}
	return lhs;
}

int promql_parse(const char *s, size_t len, struct promql_node **out, struct promql_error *err)
{
	struct promql_parser p = {.err = err};
	*out = NULL;
	if (err)
		memset(err, 0, sizeof(*err));
	if (len > UINT32_MAX - 1) {
		if (err)
			snprintf(err->msg, sizeof(err->msg), "query too long");
		return -EINVAL;
	}
	promql_lex_init(&p.lx, s, len);
	promql_parse_advance(&p);
	if (!p.failed && p.cur.type == PROMQL_T_EOF) {
		promql_parse_errf(&p, 0, "no expression found in input");
		return -EINVAL;
	}
	struct promql_node *n = p.failed ? NULL : promql_parse_expr(&p, 0);
	if (n && !p.failed && p.cur.type != PROMQL_T_EOF)
		promql_parse_unexpected(&p, NULL, NULL);
	if (p.failed) {
		promql_free(n);
		return p.failed;
	}
	*out = n;
	return 0;
}
