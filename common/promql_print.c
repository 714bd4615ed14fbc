/* promql_print: see promql_print.h. Mirrors promql/parser/printer.go of
 * Prometheus 3 node by node; the tree keeps parentheses (PAREN nodes), so
 * no precedence logic is needed here. */
#include "common/promql_print.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/promql_lex.h"
#include "common/records.h"

static void promql_print_raw(struct promql_buf *b, const char *s, size_t len)
{
	if (b->err)
		return;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->err = -ENOMEM;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void promql_print_str(struct promql_buf *b, const char *s)
{
	promql_print_raw(b, s, strlen(s));
}

void promql_buf_free(struct promql_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void promql_print_duration(struct promql_buf *b, int64_t ms)
{
	static const struct { const char *u; int64_t mult; int exact; } units[] = {
		{"y", 365LL * 86400000, 1}, {"w", 7LL * 86400000, 1}, {"d", 86400000, 0},
		{"h", 3600000, 0}, {"m", 60000, 0}, {"s", 1000, 0}, {"ms", 1, 0},
	};
	char tmp[32];
	if (ms == 0) {
		promql_print_str(b, "0s");
		return;
	}
	if (ms < 0) {
		promql_print_str(b, "-");
		ms = -ms;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (units[i].exact && ms % units[i].mult != 0)
			continue;
		int64_t v = ms / units[i].mult;
		if (v > 0) {
			snprintf(tmp, sizeof(tmp), "%lld%s", (long long)v, units[i].u);
			promql_print_str(b, tmp);
			ms -= v * units[i].mult;
		}
	}
}

void promql_print_float(struct promql_buf *b, double v)
{
	char e[40], out[400];
	if (isnan(v)) {
		promql_print_str(b, "NaN");
		return;
	}
	if (isinf(v)) {
		promql_print_str(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Shortest digits that round-trip, then laid out without exponent. */
	int prec;
	for (prec = 0; prec < 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", prec, v);
	char digits[24];
	size_t nd = 0, o = 0;
	const char *p = e;
	int neg = *p == '-';
	if (neg)
		p++;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	int exp10 = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (neg)
		out[o++] = '-';
	int dp = exp10 + 1; /* digits before the decimal point */
	if (dp <= 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (int i = 0; i < -dp; i++)
			out[o++] = '0';
		for (size_t i = 0; i < nd; i++)
			out[o++] = digits[i];
	} else {
		for (int i = 0; i < dp; i++)
			out[o++] = (size_t)i < nd ? digits[i] : '0';
		if ((size_t)dp < nd) {
			out[o++] = '.';
			for (size_t i = (size_t)dp; i < nd; i++)
				out[o++] = digits[i];
		}
	}
	promql_print_raw(b, out, o);
}

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), or 0. */
static size_t promql_print_utf8_len(const char *s, size_t avail)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n;
	uint32_t cp, min;
	if (u[0] >= 0xc2 && u[0] <= 0xdf) { n = 2; cp = u[0] & 0x1f; min = 0x80; }
	else if (u[0] >= 0xe0 && u[0] <= 0xef) { n = 3; cp = u[0] & 0x0f; min = 0x800; }
	else if (u[0] >= 0xf0 && u[0] <= 0xf4) { n = 4; cp = u[0] & 0x07; min = 0x10000; }
	else return 0;
	if (avail < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((u[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (u[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
		return 0;
	return n;
}

void promql_print_quote(struct promql_buf *b, const char *s, size_t len)
{
	char tmp[8];
	promql_print_raw(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		switch (c) {
		case '\a': esc = "\\a"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\v': esc = "\\v"; break;
		case '\\': esc = "\\\\"; break;
		case '"': esc = "\\\""; break;
		default: break;
		}
		size_t seq = c >= 0x80 ? promql_print_utf8_len(s + i, len - i) : 1;
		if (esc) {
			promql_print_str(b, esc);
		} else if (c < 0x20 || c == 0x7f || seq == 0) {
			/* Controls and bytes that are not valid UTF-8, as Go does. */
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			promql_print_str(b, tmp);
		} else if (seq == 2 && c == 0xc2 &&
			   ((unsigned char)s[i + 1] <= 0xa0 || (unsigned char)s[i + 1] == 0xad)) {
			/* C1 controls, no-break space and soft hyphen are not
			 * printable for Go's strconv.IsPrint (other non-printable
			 * runes outside Latin-1 are copied as they are). */
			snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned char)s[i + 1]);
			promql_print_str(b, tmp);
			i += 1;
		} else {
			promql_print_raw(b, s + i, seq);
			i += seq - 1;
		}
	}
	promql_print_raw(b, "\"", 1);
}

static void promql_print_label(struct promql_buf *b, const char *name)
{
	if (promql_lex_is_label(name, strlen(name)))
		promql_print_str(b, name);
	else
		promql_print_quote(b, name, strlen(name));
}

static void promql_print_labels(struct promql_buf *b, const struct promql_labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			promql_print_str(b, ", ");
		promql_print_label(b, l->names[i]);
	}
}

static void promql_print_dur_or_expr(struct promql_buf *b, int64_t ms, const struct promql_node *e)
{
	if (e)
		promql_print(e, b);
	else
		promql_print_duration(b, ms);
}

static void promql_print_at(struct promql_buf *b, const struct promql_mod *m)
{
	char tmp[48];
	switch (m->at) {
	case PROMQL_AT_TIMESTAMP:
		snprintf(tmp, sizeof(tmp), " @ %.3f", (double)m->at_ms / 1000.0);
		promql_print_str(b, tmp);
		break;
	case PROMQL_AT_START: promql_print_str(b, " @ start()"); break;
	case PROMQL_AT_END: promql_print_str(b, " @ end()"); break;
	default: break;
	}
}

static void promql_print_offset(struct promql_buf *b, const struct promql_mod *m)
{
	if (m->offset_expr) {
		promql_print_str(b, " offset ");
		promql_print(m->offset_expr, b);
	} else if (m->offset_ms != 0) {
		promql_print_str(b, " offset ");
		promql_print_duration(b, m->offset_ms);
	}
}

static int promql_print_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* name{sorted matchers}; the __name__ matcher equal to the name is left out. */
static void promql_print_selector(struct promql_buf *b, const struct promql_node *n)
{
	static const char *ops[] = {[REC_M_EQ] = "=", [REC_M_NE] = "!=", [REC_M_RE] = "=~",
				    [REC_M_NRE] = "!~"};
	char **strs = calloc(n->vs.nm + 1, sizeof(*strs));
	size_t ns = 0;
	if (!strs) {
		b->err = -ENOMEM;
		return;
	}
	if (n->vs.name)
		promql_print_str(b, n->vs.name);
	for (size_t i = 0; i < n->vs.nm; i++) {
		const struct matcher *m = &n->vs.m[i];
		if (n->vs.name && m->op == REC_M_EQ && strcmp(m->name, "__name__") == 0 &&
		    strcmp(m->value, n->vs.name) == 0 && m->value_len > 0)
			continue;
		struct promql_buf one = {0};
		promql_print_label(&one, m->name);
		promql_print_str(&one, ops[m->op & 3]);
		promql_print_quote(&one, m->value, m->value_len);
		if (one.err) {
			b->err = one.err;
			promql_buf_free(&one);
			break;
		}
		strs[ns++] = one.data;
	}
	if (ns > 0) {
		qsort(strs, ns, sizeof(*strs), promql_print_cmp);
		promql_print_str(b, "{");
		for (size_t i = 0; i < ns; i++) {
			if (i)
				promql_print_str(b, ",");
			promql_print_str(b, strs[i]);
		}
		promql_print_str(b, "}");
	}
	for (size_t i = 0; i < ns; i++)
		free(strs[i]);
	free(strs);
}

static void promql_print_vm(struct promql_buf *b, const struct promql_node *n)
{
	const struct promql_vm *vm = &n->bin.vm;
	char tmp[64];
	if (!vm->valid)
		return;
	int grouped = vm->card == PROMQL_CARD_MANY_TO_ONE || vm->card == PROMQL_CARD_ONE_TO_MANY;
	if (vm->matching.n > 0 || vm->on || grouped) {
		promql_print_str(b, vm->on ? " on (" : " ignoring (");
		promql_print_labels(b, &vm->matching);
		promql_print_str(b, ")");
	}
	if (grouped) {
		promql_print_str(b, vm->card == PROMQL_CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
		promql_print_labels(b, &vm->include);
		promql_print_str(b, ")");
	}
	if (vm->has_fill_lhs && vm->has_fill_rhs &&
	    (vm->fill_lhs == vm->fill_rhs || (isnan(vm->fill_lhs) && isnan(vm->fill_rhs)))) {
		promql_print_str(b, " fill (");
		promql_print_float(b, vm->fill_lhs);
		promql_print_str(b, ")");
		return;
	}
	if (vm->has_fill_lhs) {
		snprintf(tmp, sizeof(tmp), " fill_left (");
		promql_print_str(b, tmp);
		promql_print_float(b, vm->fill_lhs);
		promql_print_str(b, ")");
	}
	if (vm->has_fill_rhs) {
		promql_print_str(b, " fill_right (");
		promql_print_float(b, vm->fill_rhs);
		promql_print_str(b, ")");
	}
}

static void promql_print_dur_node(struct promql_buf *b, const struct promql_node *n)
{
	if (n->dur.wrapped)
		promql_print_str(b, "(");
	switch (n->dur.op) {
	case PROMQL_DOP_STEP: promql_print_str(b, "step()"); break;
	case PROMQL_DOP_RANGE: promql_print_str(b, "range()"); break;
	case PROMQL_DOP_MIN:
	case PROMQL_DOP_MAX:
		promql_print_str(b, n->dur.op == PROMQL_DOP_MIN ? "min_of(" : "max_of(");
		promql_print(n->dur.lhs, b);
		promql_print_str(b, ", ");
		promql_print(n->dur.rhs, b);
		promql_print_str(b, ")");
		break;
	default:
		if (!n->dur.lhs) {
			if (n->dur.op == PROMQL_OP_SUB)
				promql_print_str(b, "-");
			promql_print(n->dur.rhs, b);
			break;
		}
		promql_print(n->dur.lhs, b);
		promql_print_str(b, " ");
		promql_print_str(b, promql_op_name(n->dur.op));
		promql_print_str(b, " ");
		promql_print(n->dur.rhs, b);
		break;
	}
	if (n->dur.wrapped)
		promql_print_str(b, ")");
}

int promql_print(const struct promql_node *n, struct promql_buf *b)
{
	switch (n->kind) {
	case PROMQL_NUMBER:
		if (n->num.duration && isfinite(n->num.val))
			promql_print_duration(b, (int64_t)(n->num.val * 1000.0));
		else
			promql_print_float(b, n->num.val);
		break;
	case PROMQL_STRING:
		promql_print_quote(b, n->str.val, n->str.len);
		break;
	case PROMQL_VECTOR_SEL:
		promql_print_selector(b, n);
		promql_print_at(b, &n->vs.mod);
		if (n->vs.anchored)
			promql_print_str(b, " anchored");
		else if (n->vs.smoothed)
			promql_print_str(b, " smoothed");
		promql_print_offset(b, &n->vs.mod);
		break;
	case PROMQL_MATRIX_SEL: {
		const struct promql_node *vs = n->ms.vs;
		promql_print_selector(b, vs);
		promql_print_str(b, "[");
		promql_print_dur_or_expr(b, n->ms.range_ms, n->ms.range_expr);
		promql_print_str(b, "]");
		if (vs->vs.anchored)
			promql_print_str(b, " anchored");
		else if (vs->vs.smoothed)
			promql_print_str(b, " smoothed");
		promql_print_at(b, &vs->vs.mod);
		promql_print_offset(b, &vs->vs.mod);
		break;
	}
	case PROMQL_SUBQUERY:
		promql_print(n->sq.expr, b);
		promql_print_str(b, "[");
		promql_print_dur_or_expr(b, n->sq.range_ms, n->sq.range_expr);
		promql_print_str(b, ":");
		if (n->sq.step_expr)
			promql_print(n->sq.step_expr, b);
		else if (n->sq.step_ms != 0)
			promql_print_duration(b, n->sq.step_ms);
		promql_print_str(b, "]");
		promql_print_at(b, &n->sq.mod);
		promql_print_offset(b, &n->sq.mod);
		break;
	case PROMQL_UNARY:
		promql_print_str(b, n->un.op == PROMQL_OP_SUB ? "-" : "+");
		promql_print(n->un.expr, b);
		break;
	case PROMQL_BINARY:
		promql_print(n->bin.lhs, b);
		promql_print_str(b, " ");
		promql_print_str(b, promql_op_name(n->bin.op));
		if (n->bin.return_bool)
			promql_print_str(b, " bool");
		promql_print_vm(b, n);
		promql_print_str(b, " ");
		promql_print(n->bin.rhs, b);
		break;
	case PROMQL_AGGREGATE:
		promql_print_str(b, promql_agg_name(n->agg.op));
		if (n->agg.without || n->agg.grouping.n > 0) {
			promql_print_str(b, n->agg.without ? " without (" : " by (");
			promql_print_labels(b, &n->agg.grouping);
			promql_print_str(b, ") ");
		}
		promql_print_str(b, "(");
		if (n->agg.param) {
			promql_print(n->agg.param, b);
			promql_print_str(b, ", ");
		}
		promql_print(n->agg.expr, b);
		promql_print_str(b, ")");
		break;
	case PROMQL_CALL:
		promql_print_str(b, n->call.fn->name);
		promql_print_str(b, "(");
		for (size_t i = 0; i < n->call.nargs; i++) {
			if (i)
				promql_print_str(b, ", ");
			promql_print(n->call.args[i], b);
		}
		promql_print_str(b, ")");
		break;
	case PROMQL_PAREN:
		promql_print_str(b, "(");
		promql_print(n->paren.expr, b);
		promql_print_str(b, ")");
		break;
	case PROMQL_DURATION:
		promql_print_dur_node(b, n);
		break;
	default:
		break;
	}
	return b->err;
}

int promql_format(const struct promql_node *n, char **out)
{
	struct promql_buf b = {0};
	*out = NULL;
	promql_print_raw(&b, "", 0);
	if (promql_print(n, &b) != 0) {
		promql_buf_free(&b);
		return -ENOMEM;
	}
	*out = b.data;
	return 0;
}
