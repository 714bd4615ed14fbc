/* promql_sel: see promql_sel.h. Positions in errors are those of the
 * offending token or of the node the rule is about, as in Prometheus.
 *
 * Invariants: a function that fails has freed whatever it allocated, and
 * what it was given to own; duration values are truncated to whole
 * milliseconds as Prometheus does (time.Duration(v*1000) * ms).
 */
#include "common/promql_sel.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/promql_parse_pvt.h"
#include "common/records.h"

/* ---- grouping label lists ------------------------------------------- */

int promql_sel_labels(struct promql_parser *p, struct promql_labels *out, const char *ctx)
{
	if (p->cur.type != PROMQL_T_LPAREN) {
		promql_parse_unexpected(p, ctx, "\"(\"");
		return -EINVAL;
	}
	promql_parse_advance(p);
	while (!p->failed && p->cur.type != PROMQL_T_RPAREN) {
		char *name = NULL;
		size_t len;
		if (p->cur.type == PROMQL_T_IDENT)
			name = promql_parse_strdup(p, p->lx.s + p->cur.pos, p->cur.len);
		else if (p->cur.type == PROMQL_T_STRING)
			name = promql_parse_string(p, &len);
		else {
			promql_parse_unexpected(p, ctx, "label");
			break;
		}
		if (!name)
			break;
		char **grown = realloc(out->names, (out->n + 1) * sizeof(*grown));
		if (!grown) {
			free(name);
			promql_parse_nomem(p);
			break;
		}
		out->names = grown;
		out->names[out->n++] = name;
		promql_parse_advance(p);
		if (p->cur.type == PROMQL_T_COMMA)
			promql_parse_advance(p);
		else if (p->cur.type != PROMQL_T_RPAREN)
			promql_parse_unexpected(p, ctx, "\",\" or \")\"");
	}
	if (!p->failed)
		promql_parse_advance(p);
	return p->failed;
}

/* ---- vector selectors ------------------------------------------------ */

static int promql_sel_add_matcher(struct promql_parser *p, struct promql_node *vs, int op,
				    const char *name, size_t nl, const char *val, size_t vl,
				    uint32_t pos)
{
	char e[160];
	struct matcher *grown = realloc(vs->vs.m, (vs->vs.nm + 1) * sizeof(*grown));
	if (!grown) {
		promql_parse_nomem(p);
		return p->failed;
	}
	vs->vs.m = grown;
	int rc = matcher_init(&grown[vs->vs.nm], op, name, nl, val, vl, e, sizeof(e));
	if (rc == -ENOMEM)
		promql_parse_nomem(p);
	else if (rc != 0)
		promql_parse_errf(p, pos, "invalid regular expression: %s", e);
	else
		vs->vs.nm++;
	return p->failed;
}

/* Parses "{...}" into vs's matchers. p->cur is the "{". */
static int promql_sel_matchers(struct promql_parser *p, struct promql_node *vs)
{
	promql_parse_advance(p);
	while (!p->failed && p->cur.type != PROMQL_T_RBRACE) {
		char *name = NULL, *val = NULL;
		size_t nl = 0, vl = 0;
		uint32_t mpos = p->cur.pos;
		if (p->cur.type == PROMQL_T_IDENT) {
			name = promql_parse_strdup(p, p->lx.s + p->cur.pos, p->cur.len);
			nl = p->cur.len;
		} else if (p->cur.type == PROMQL_T_STRING) {
			name = promql_parse_string(p, &nl);
		} else {
			promql_parse_unexpected(p, "label matching", "identifier or \"}\"");
			break;
		}
		if (!name)
			break;
		int quoted = p->cur.type == PROMQL_T_STRING;
		promql_parse_advance(p);
		int op = -1;
		switch (p->cur.type) {
		case PROMQL_T_ASSIGN: op = REC_M_EQ; break;
		case PROMQL_T_NEQ: op = REC_M_NE; break;
		case PROMQL_T_EQL_REGEX: op = REC_M_RE; break;
		case PROMQL_T_NEQ_REGEX: op = REC_M_NRE; break;
		default: break;
		}
		if (op < 0 && quoted && (p->cur.type == PROMQL_T_COMMA || p->cur.type == PROMQL_T_RBRACE)) {
			/* {"metric.name"}: a bare quoted string is the metric name. */
			promql_sel_add_matcher(p, vs, REC_M_EQ, "__name__", 8, name, nl, mpos);
		} else if (op < 0) {
			if (!p->failed)
				promql_parse_unexpected(p, "label matching", "label matching operator");
		} else {
			promql_parse_advance(p);
			if (p->cur.type != PROMQL_T_STRING) {
				if (!p->failed)
					promql_parse_unexpected(p, "label matching", "string");
			} else if ((val = promql_parse_string(p, &vl)) != NULL) {
				promql_sel_add_matcher(p, vs, op, name, nl, val, vl, p->cur.pos);
				promql_parse_advance(p);
			}
		}
		free(name);
		free(val);
		if (p->failed)
			break;
		if (p->cur.type == PROMQL_T_COMMA)
			promql_parse_advance(p);
		else if (p->cur.type != PROMQL_T_RBRACE)
			promql_parse_unexpected(p, "label matching", "\",\" or \"}\"");
	}
	if (p->failed)
		return p->failed;
	vs->end = p->cur.pos + 1;
	promql_parse_advance(p);
	return p->failed;
}

/* Vector selector: an optional metric name (p->cur when name is set)
 * then optional braces. */
struct promql_node *promql_sel_selector(struct promql_parser *p, int named)
{
	struct promql_node *vs = promql_parse_new(p, PROMQL_VECTOR_SEL, p->cur.pos);
	if (!vs)
		return NULL;
	vs->type = PROMQL_TYPE_VECTOR;
	if (named) {
		vs->vs.name = promql_parse_strdup(p, p->lx.s + p->cur.pos, p->cur.len);
		vs->end = p->cur.pos + p->cur.len;
		promql_parse_advance(p);
	}
	if (!p->failed && p->cur.type == PROMQL_T_LBRACE)
		promql_sel_matchers(p, vs);
	if (!p->failed && named) {
		for (size_t i = 0; i < vs->vs.nm; i++)
			if (strcmp(vs->vs.m[i].name, "__name__") == 0) {
				promql_parse_errf(p, vs->pos, "metric name must not be set twice: \"%s\" or \"%s\"",
						  vs->vs.name, vs->vs.m[i].value);
				break;
			}
		if (!p->failed)
			promql_sel_add_matcher(p, vs, REC_M_EQ, "__name__", 8, vs->vs.name,
						 strlen(vs->vs.name), vs->pos);
	} else if (!p->failed) {
		size_t i;
		for (i = 0; i < vs->vs.nm; i++)
			if (!matcher_match_value(&vs->vs.m[i], "", 0))
				break;
		if (i == vs->vs.nm && !p->allow_empty)
			promql_parse_errf(p, vs->pos, "vector selector must contain at least one non-empty matcher");
	}
	if (p->failed) {
		promql_free(vs);
		return NULL;
	}
	return vs;
}

/* ---- duration expressions ------------------------------------------- */

static struct promql_node *promql_sel_dur_expr(struct promql_parser *p, int minprec);

static int promql_sel_dur_prec(enum promql_tok t, int *op)
{
	switch (t) {
	case PROMQL_T_ADD: *op = PROMQL_OP_ADD; return 1;
	case PROMQL_T_SUB: *op = PROMQL_OP_SUB; return 1;
	case PROMQL_T_MUL: *op = PROMQL_OP_MUL; return 2;
	case PROMQL_T_DIV: *op = PROMQL_OP_DIV; return 2;
	case PROMQL_T_MOD: *op = PROMQL_OP_MOD; return 2;
	case PROMQL_T_POW: *op = PROMQL_OP_POW; return 3;
	default: return 0;
	}
}

static struct promql_node *promql_sel_dur_node(struct promql_parser *p, int op, uint32_t pos,
						 struct promql_node *lhs, struct promql_node *rhs)
{
	struct promql_node *n = promql_parse_new(p, PROMQL_DURATION, pos);
	if (!n) {
		promql_free(lhs);
		promql_free(rhs);
		return NULL;
	}
	n->dur.op = op;
	n->dur.lhs = lhs;
	n->dur.rhs = rhs;
	n->type = PROMQL_TYPE_SCALAR;
	return n;
}

/* A duration primary: literal, (expr), step(), range(), min_of(a, b),
 * max_of(a, b), optionally signed. */
static struct promql_node *promql_sel_dur_primary(struct promql_parser *p, int sign_takes_pow)
{
	uint32_t pos = p->cur.pos;
	if (p->cur.type == PROMQL_T_ADD || p->cur.type == PROMQL_T_SUB) {
		int op = p->cur.type == PROMQL_T_ADD ? PROMQL_OP_ADD : PROMQL_OP_SUB;
		promql_parse_advance(p);
		/* Inside brackets a sign binds like "*" (its operand takes "^");
		 * after offset it takes one primary: "offset -2 ^ 2" is
		 * "(x offset -2s) ^ 2". */
		struct promql_node *e = sign_takes_pow ? promql_sel_dur_expr(p, 3)
						       : promql_sel_dur_primary(p, 0);
		if (!e)
			return NULL;
		if (e->kind == PROMQL_NUMBER) {
			if (op == PROMQL_OP_SUB)
				e->num.val = -e->num.val;
			e->pos = pos;
			return e;
		}
		return promql_sel_dur_node(p, op, pos, NULL, e);
	}
	if (p->cur.type == PROMQL_T_NUMBER || p->cur.type == PROMQL_T_DURATION) {
		struct promql_node *n = promql_parse_new(p, PROMQL_NUMBER, pos);
		if (!n)
			return NULL;
		n->type = PROMQL_TYPE_SCALAR;
		n->num.val = p->cur.num;
		n->num.duration = p->cur.type == PROMQL_T_DURATION;
		n->end = p->cur.pos + p->cur.len;
		promql_parse_advance(p);
		return n;
	}
	if (p->cur.type == PROMQL_T_LPAREN) {
		promql_parse_advance(p);
		struct promql_node *e = promql_sel_dur_expr(p, 1);
		if (!e)
			return NULL;
		if (promql_parse_expect(p, PROMQL_T_RPAREN, "duration expression", "\")\"") != 0) {
			promql_free(e);
			return NULL;
		}
		if (e->kind == PROMQL_NUMBER || e->dur.wrapped) {
			/* Keep the parentheses for printing. */
			e = promql_sel_dur_node(p, PROMQL_OP_ADD, pos, NULL, e);
			if (!e)
				return NULL;
		}
		e->dur.wrapped = 1;
		return e;
	}
	int op = 0, nargs = 0;
	if (promql_parse_kw(p, "step")) op = PROMQL_DOP_STEP;
	else if (promql_parse_kw(p, "range")) op = PROMQL_DOP_RANGE;
	else if (promql_parse_kw(p, "min_of")) { op = PROMQL_DOP_MIN; nargs = 2; }
	else if (promql_parse_kw(p, "max_of")) { op = PROMQL_DOP_MAX; nargs = 2; }
	if (!op) {
		promql_parse_unexpected(p, "duration expression", "number or duration");
		return NULL;
	}
	promql_parse_advance(p);
	if (promql_parse_expect(p, PROMQL_T_LPAREN, "duration expression", "\"(\"") != 0)
		return NULL;
	struct promql_node *a = NULL, *b = NULL;
	if (nargs) {
		a = promql_sel_dur_expr(p, 1);
		if (a && promql_parse_expect(p, PROMQL_T_COMMA, "duration expression", "\",\"") == 0)
			b = promql_sel_dur_expr(p, 1);
		if (!b) {
			promql_free(a);
			return NULL;
		}
	}
	if (promql_parse_expect(p, PROMQL_T_RPAREN, "duration expression", "\")\"") != 0) {
		promql_free(a);
		promql_free(b);
		return NULL;
	}
	return promql_sel_dur_node(p, op, pos, a, b);
}

static struct promql_node *promql_sel_dur_expr(struct promql_parser *p, int minprec)
{
	struct promql_node *lhs = promql_sel_dur_primary(p, 1);
	int op, prec;
	while (lhs && !p->failed && (prec = promql_sel_dur_prec(p->cur.type, &op)) >= minprec &&
	       prec > 0) {
		uint32_t pos = lhs->pos;
		promql_parse_advance(p);
		struct promql_node *rhs = promql_sel_dur_expr(p, op == PROMQL_OP_POW ? prec : prec + 1);
		if (!rhs) {
			promql_free(lhs);
			return NULL;
		}
		lhs = promql_sel_dur_node(p, op, pos, lhs, rhs);
	}
	if (p->failed) {
		promql_free(lhs);
		return NULL;
	}
	return lhs;
}

/* Turns a parsed duration (expression) into *ms and, when it is more than
 * a plain literal, *expr (ownership moves there). Returns 0 or -EINVAL. */
static int promql_sel_dur_value(struct promql_parser *p, struct promql_node *d, int64_t *ms,
				  struct promql_node **expr, int allow_negative, const char *what)
{
	double sec = 0;
	*ms = 0;
	if (promql_duration_is_const(d)) {
		if (promql_duration_eval(d, 0, 0, &sec) != 0 || fabs(sec) > 9.2e15) {
			promql_parse_errf(p, d->pos, "%s out of range", what);
			promql_free(d);
			return -EINVAL;
		}
		*ms = (int64_t)llround(sec * 1000.0); /* 1.001 s is 1001 ms, not 1000 */
		if (*ms < 0 && !allow_negative) {
			promql_parse_errf(p, d->pos, "%s must not be negative", what);
			promql_free(d);
			return -EINVAL;
		}
	}
	if (d->kind == PROMQL_NUMBER) {
		promql_free(d);
		return 0;
	}
	*expr = d;
	return 0;
}

/* ---- postfix modifiers: [range], [range:step], offset, @ ------------ */

static struct promql_mod *promql_sel_mod_of(struct promql_node *n)
{
	if (n->kind == PROMQL_VECTOR_SEL)
		return &n->vs.mod;
	if (n->kind == PROMQL_MATRIX_SEL)
		return &n->ms.vs->vs.mod;
	if (n->kind == PROMQL_SUBQUERY)
		return &n->sq.mod;
	return NULL;
}

static struct promql_node *promql_sel_bracket(struct promql_parser *p, struct promql_node *e)
{
	uint32_t lpos = p->cur.pos;
	struct promql_node *rexpr = NULL, *sexpr = NULL, *n = NULL;
	int64_t range = 0, step = 0;
	promql_parse_advance(p);
	struct promql_node *d = promql_sel_dur_expr(p, 1);
	if (!d || promql_sel_dur_value(p, d, &range, &rexpr, 0, "range") != 0)
		goto fail;
	if (p->cur.type == PROMQL_T_RBRACKET) {
		const char *msg = NULL;
		if (e->kind != PROMQL_VECTOR_SEL)
			msg = "ranges only allowed for vector selectors";
		else if (e->vs.mod.has_offset)
			msg = "no offset modifiers allowed before range";
		else if (e->vs.mod.at)
			msg = "no @ modifiers allowed before range";
		if (msg) {
			promql_parse_errf(p, lpos, "%s", msg);
			goto fail;
		}
		if (!(n = promql_parse_new(p, PROMQL_MATRIX_SEL, e->pos)))
			goto fail;
		n->type = PROMQL_TYPE_MATRIX;
		n->ms.vs = e;
		n->ms.range_ms = range;
		n->ms.range_expr = rexpr;
	} else if (p->cur.type == PROMQL_T_COLON) {
		promql_parse_advance(p);
		if (!p->failed && p->cur.type != PROMQL_T_RBRACKET) {
			d = promql_sel_dur_expr(p, 1);
			if (!d || promql_sel_dur_value(p, d, &step, &sexpr, 0, "step") != 0)
				goto fail;
		}
		if (p->cur.type != PROMQL_T_RBRACKET) {
			promql_parse_unexpected(p, "subquery selector", "\"]\"");
			goto fail;
		}
		if (e->type != PROMQL_TYPE_VECTOR) {
			promql_parse_errf(p, e->pos, "subquery is only allowed on instant vector, got %s instead",
					  promql_type_name(e->type));
			goto fail;
		}
		if (!(n = promql_parse_new(p, PROMQL_SUBQUERY, e->pos)))
			goto fail;
		n->type = PROMQL_TYPE_MATRIX;
		n->sq.expr = e;
		n->sq.range_ms = range;
		n->sq.range_expr = rexpr;
		n->sq.step_ms = step;
		n->sq.step_expr = sexpr;
	} else {
		promql_parse_unexpected(p, "subquery or range", "\":\" or \"]\"");
		goto fail;
	}
	n->end = p->cur.pos + 1;
	promql_parse_advance(p);
	return n;
fail:
	promql_parse_unexpected(p, "subquery selector", "number or duration");
	promql_free(rexpr);
	promql_free(sexpr);
	promql_free(e);
	return NULL;
}

static int promql_sel_offset(struct promql_parser *p, struct promql_node *e)
{
	struct promql_mod *mod = promql_sel_mod_of(e);
	promql_parse_advance(p);
	if (!mod) {
		promql_parse_errf(p, e->pos, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
		return -EINVAL;
	}
	if (mod->has_offset) {
		promql_parse_errf(p, e->pos, "offset may not be set multiple times");
		return -EINVAL;
	}
	struct promql_node *d = NULL;
	enum promql_tok t = p->cur.type;
	if (t != PROMQL_T_NUMBER && t != PROMQL_T_DURATION && t != PROMQL_T_ADD &&
	    t != PROMQL_T_SUB && t != PROMQL_T_LPAREN && t != PROMQL_T_IDENT) {
		promql_parse_unexpected(p, "offset", "number or duration");
		return -EINVAL;
	}
	if (!p->failed)
		d = promql_sel_dur_primary(p, 0);
	if (!d) {
		promql_parse_unexpected(p, "offset", "number or duration");
		return -EINVAL;
	}
	if (promql_sel_dur_value(p, d, &mod->offset_ms, &mod->offset_expr, 1, "offset") != 0)
		return -EINVAL;
	mod->has_offset = 1;
	return 0;
}

static int promql_sel_at(struct promql_parser *p, struct promql_node *e)
{
	struct promql_mod *mod = promql_sel_mod_of(e);
	promql_parse_advance(p);
	if (!mod) {
		promql_parse_errf(p, e->pos, "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
		return -EINVAL;
	}
	if (mod->at) {
		promql_parse_errf(p, e->pos, "@ modifier may not be set multiple times");
		return -EINVAL;
	}
	if (promql_parse_kw(p, "start") || promql_parse_kw(p, "end")) {
		mod->at = promql_parse_kw(p, "start") ? PROMQL_AT_START : PROMQL_AT_END;
		promql_parse_advance(p);
		if (promql_parse_expect(p, PROMQL_T_LPAREN, "@", "\"(\"") == 0)
			promql_parse_expect(p, PROMQL_T_RPAREN, "@", "\")\"");
		return p->failed;
	}
	double sign = 1;
	if (p->cur.type == PROMQL_T_ADD || p->cur.type == PROMQL_T_SUB) {
		sign = p->cur.type == PROMQL_T_SUB ? -1 : 1;
		promql_parse_advance(p);
	}
	if (p->cur.type != PROMQL_T_NUMBER && p->cur.type != PROMQL_T_DURATION) {
		promql_parse_unexpected(p, "@", "timestamp");
		return -EINVAL;
	}
	double v = sign * p->cur.num * 1000.0;
	if (!isfinite(v) || v > 9.2e18 || v < -9.2e18) {
		promql_parse_errf(p, p->cur.pos, "timestamp out of bounds for @ modifier: %f", sign * p->cur.num);
		return -EINVAL;
	}
	mod->at = PROMQL_AT_TIMESTAMP;
	mod->at_ms = (int64_t)llround(v);
	promql_parse_advance(p);
	return p->failed;
}

struct promql_node *promql_sel_postfix(struct promql_parser *p, struct promql_node *e)
{
	while (e && !p->failed) {
		if (p->cur.type == PROMQL_T_LBRACKET) {
			e = promql_sel_bracket(p, e);
			continue;
		}
		int rc;
		if (promql_parse_kw(p, "offset"))
			rc = promql_sel_offset(p, e);
		else if (p->cur.type == PROMQL_T_AT)
			rc = promql_sel_at(p, e);
		else if ((promql_parse_kw(p, "anchored") || promql_parse_kw(p, "smoothed")) &&
			 (e->kind == PROMQL_VECTOR_SEL || e->kind == PROMQL_MATRIX_SEL)) {
			struct promql_node *vs = e->kind == PROMQL_VECTOR_SEL ? e : e->ms.vs;
			if (promql_parse_kw(p, "anchored"))
				vs->vs.anchored = 1;
			else
				vs->vs.smoothed = 1;
			if (vs->vs.anchored && vs->vs.smoothed) {
				promql_parse_errf(p, p->cur.pos, "anchored and smoothed modifiers cannot be used together");
				rc = -EINVAL;
			} else {
				promql_parse_advance(p);
				rc = p->failed;
			}
		} else
			break;
		if (rc != 0)
			break;
		e->end = p->cur.pos;
	}
	if (p->failed) {
		promql_free(e);
		return NULL;
	}
	return e;
}
