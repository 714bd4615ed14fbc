/* rules: see rules.h. A parser for "SELECTOR OP NUMBER" on top of
 * selector_parse, the rule loader that assigns owners, and the router.
 *
 * Invariants: a rules_set holds only rules whose expression parsed; every
 * rule's alerter is < nalerters <= RULES_MAX_ALERTERS, so 1 << alerter fits
 * a routing mask.
 */
#include "common/rules.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static const char *const rules_op_text[] = {
	[RULES_OP_GT] = ">", [RULES_OP_LT] = "<", [RULES_OP_GE] = ">=",
	[RULES_OP_LE] = "<=", [RULES_OP_EQ] = "==", [RULES_OP_NE] = "!=",
};

const char *rules_op_name(int op)
{
	if (op < RULES_OP_GT || op > RULES_OP_NE)
		return "?";
	return rules_op_text[op];
}

/* Reads a comparison operator at s[*pos]. Returns the enum rules_op value
 * and advances *pos, or -1 when there is none. Two-character operators are
 * tried first so ">=" is not read as ">" followed by "=". */
static int rules_read_op(const char *s, size_t *pos)
{
	const char *p = s + *pos;
	static const struct {
		const char *text;
		int op;
	} ops[] = {
		{">=", RULES_OP_GE}, {"<=", RULES_OP_LE}, {"==", RULES_OP_EQ},
		{"!=", RULES_OP_NE}, {">", RULES_OP_GT},  {"<", RULES_OP_LT},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].text);
		if (strncmp(p, ops[i].text, n) == 0) {
			*pos += n;
			return ops[i].op;
		}
	}
	return -1;
}

/* Parses "SELECTOR OP NUMBER". Effect: fills *out on success; on failure
 * frees what it built and leaves *out zeroed. Returns 0, -EINVAL with
 * "position N: ..." in err, or -ENOMEM. The selector's matchers are owned by
 * *out afterwards. */
int rules_parse_expr(const char *expr, struct rules_expr *out, char *err, size_t errlen)
{
	size_t len, pos = 0;
	int rc;
	memset(out, 0, sizeof(*out));
	if (!expr) {
		snprintf(err, errlen, "empty expression");
		return -EINVAL;
	}
	len = strlen(expr);
	rc = selector_parse(&out->sel, expr, len, &pos, err, errlen);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	if (out->sel.range_ms != 0) {
		snprintf(err, errlen, "position %zu: a range selector cannot be compared; "
			 "expected SELECTOR OP NUMBER", pos);
		rc = -EINVAL;
		goto fail;
	}
	if (out->sel.offset_ms != 0) {
		snprintf(err, errlen, "position %zu: offset is not supported in streaming alert "
			 "expressions", pos);
		rc = -EINVAL;
		goto fail;
	}
	while (pos < len && isspace((unsigned char)expr[pos]))
		pos++;
	out->op = rules_read_op(expr, &pos);
	if (out->op < 0) {
		snprintf(err, errlen, "position %zu: expected one of > < >= <= == != after the selector "
			 "(only SELECTOR OP NUMBER is supported)", pos);
		rc = -EINVAL;
		goto fail;
	}
	while (pos < len && isspace((unsigned char)expr[pos]))
		pos++;
	if (pos >= len) {
		snprintf(err, errlen, "position %zu: expected a number after %s", pos,
			 rules_op_name(out->op));
		rc = -EINVAL;
		goto fail;
	}
	char *end;
	/* strtod reads Inf, NaN and hex too; an overflow reads as +-Inf, which is
	 * what the comparison would mean anyway. */
	out->threshold = strtod(expr + pos, &end);
	if (end == expr + pos) {
		snprintf(err, errlen, "position %zu: expected a number after %s", pos,
			 rules_op_name(out->op));
		rc = -EINVAL;
		goto fail;
	}
	pos = (size_t)(end - expr);
	while (pos < len && isspace((unsigned char)expr[pos]))
		pos++;
	if (pos < len) {
		snprintf(err, errlen, "position %zu: unexpected text after the number", pos);
		rc = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	selector_free(&out->sel);
	memset(out, 0, sizeof(*out));
	return rc;
}

/* Frees the selector's matchers and zeroes *e. Cannot fail. */
void rules_expr_free(struct rules_expr *e)
{
	if (!e)
		return;
	selector_free(&e->sel);
	memset(e, 0, sizeof(*e));
}

/* Returns 1 when the comparison holds. NaN values never hold: Prometheus
 * comparisons filter NaN out for every operator but != (where NaN != x is
 * true in IEEE arithmetic); an alert on "x != 0" firing for a stale marker
 * would be wrong, so NaN is "no data" here for every operator. */
int rules_compare(int op, double value, double threshold)
{
	if (isnan(value))
		return 0;
	switch (op) {
	case RULES_OP_GT: return value > threshold;
	case RULES_OP_LT: return value < threshold;
	case RULES_OP_GE: return value >= threshold;
	case RULES_OP_LE: return value <= threshold;
	case RULES_OP_EQ: return value == threshold;
	case RULES_OP_NE: return value != threshold;
	default: return 0;
	}
}

/* Effect: parses every rule of cfg, logging and skipping invalid ones, and
 * records each valid rule's owner (position % nalerters). Returns 0,
 * -EINVAL for a bad nalerters, -ENOMEM. *out owns its rules afterwards and
 * borrows cfg's rule structs. On failure *out is empty. */
int rules_load(const struct config *cfg, uint32_t nalerters, struct rules_set *out)
{
	char err[256];
	memset(out, 0, sizeof(*out));
	if (nalerters == 0 || nalerters > RULES_MAX_ALERTERS) {
		log_error("rules_load: %u alerters is outside [1, %u]", nalerters, RULES_MAX_ALERTERS);
		return -EINVAL;
	}
	out->nalerters = nalerters;
	if (cfg->nrules == 0)
		return 0;
	out->r = calloc(cfg->nrules, sizeof(*out->r));
	if (!out->r) {
		log_error("rules_load: calloc(%zu rules) failed", cfg->nrules);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct config_rule *cr = &cfg->rules[i];
		struct rules_rule *r = &out->r[out->n];
		int rc = rules_parse_expr(cr->expr, &r->expr, err, sizeof(err));
		if (rc == -ENOMEM) {
			log_error("rules_load: out of memory parsing rule %zu (\"%s\")", i,
				  cr->alert ? cr->alert : "");
			rules_set_free(out);
			return -ENOMEM;
		}
		if (rc != 0) {
			log_error("rule %zu \"%s\" skipped: invalid expr \"%s\": %s", i,
				  cr->alert ? cr->alert : "", cr->expr ? cr->expr : "", err);
			out->skipped++;
			continue;
		}
		r->cfg = cr;
		r->index = (uint32_t)i;
		r->alerter = (uint32_t)(i % nalerters);
		out->n++;
	}
	return 0;
}

/* Frees every rule's expression and the array; leaves *rs zeroed. */
void rules_set_free(struct rules_set *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rules_expr_free(&rs->r[i].expr);
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

int rules_match(const struct rules_rule *r, const uint8_t *key, size_t len)
{
	return matcher_match_key(r->expr.sel.m, r->expr.sel.n, key, len);
}

/* Effect: runs every rule whose owner is not yet in the mask (a mask that
 * already names an alerter needs none of its other rules). Returns 0 and
 * sets *alerter_mask; -EINVAL for NULL arguments. */
int rules_route(const struct rules_set *rs, const uint8_t *key, size_t len, uint64_t *alerter_mask)
{
	if (!rs || !key || !alerter_mask)
		return -EINVAL;
	uint64_t mask = 0;
	for (size_t i = 0; i < rs->n; i++) {
		const struct rules_rule *r = &rs->r[i];
		uint64_t bit = 1ull << r->alerter;
		if ((mask & bit) == 0 && rules_match(r, key, len))
			mask |= bit;
	}
	*alerter_mask = mask;
	return 0;
}
