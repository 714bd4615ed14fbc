/* rules: alerting rule expressions, which alerter owns which rule, and which
 * alerters need a given series. Shared by the aggregators (routing: which
 * samples go to which alert ring) and the alerters (evaluation).
 *
 * The expression language is, for now, one comparison of an instant vector
 * selector with a number:
 *
 *   SELECTOR OP NUMBER        e.g.  node_load1{job="node"} > 64
 *
 * with OP one of > < >= <= == != and NUMBER anything strtod reads (1e3,
 * 0x10, Inf, NaN, with a sign). Range selectors, offsets and functions are
 * refused with a message, never half-parsed.
 *
 * Ownership: alerter k of K owns the rules whose position i in cfg->rules
 * satisfies i % K == k. The position counts invalid rules too, so one bad
 * rule does not move every later rule to another alerter.
 *
 * Not here: the alert state machine (alerter/engine.h), the alert table
 * (common/alerts.h). Matchers keep per-matcher PCRE2 scratch data, so one
 * rules_set is for one thread.
 */
#ifndef MCS_RULES_H
#define MCS_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/selector.h"

#define RULES_MAX_ALERTERS 64u /* the width of a routing mask */

enum rules_op {
	RULES_OP_GT = 0, /* >  */
	RULES_OP_LT = 1, /* <  */
	RULES_OP_GE = 2, /* >= */
	RULES_OP_LE = 3, /* <= */
	RULES_OP_EQ = 4, /* == */
	RULES_OP_NE = 5, /* != */
};

/* A parsed expression. The caller owns it; rules_expr_free releases it. */
struct rules_expr {
	struct selector sel; /* instant vector selector, no range, no offset */
	int op;              /* enum rules_op */
	double threshold;
};

/* One valid rule of a configuration. */
struct rules_rule {
	const struct config_rule *cfg; /* borrowed: the config outlives the set */
	uint32_t index;                /* position in cfg->rules */
	uint32_t alerter;              /* owning alerter: index % nalerters */
	struct rules_expr expr;
};

/* The valid rules of a configuration, in configuration order. */
struct rules_set {
	struct rules_rule *r;          /* n entries, owned */
	size_t n;
	size_t skipped;                /* invalid rules left out (each was logged) */
	uint32_t nalerters;            /* K */
};

/* Parses `expr` (NUL-terminated) into *out. Returns 0; -EINVAL with a
 * message in err that names the byte position and what was expected;
 * -ENOMEM. *out is left zeroed on failure (rules_expr_free is harmless). */
int rules_parse_expr(const char *expr, struct rules_expr *out, char *err, size_t errlen);

/* Frees what rules_parse_expr allocated; accepts a zeroed expression. */
void rules_expr_free(struct rules_expr *e);

/* 1 when `value OP threshold` holds, 0 otherwise. A NaN value (stale
 * markers included) never holds, whatever the operator. */
int rules_compare(int op, double value, double threshold);

/* The operator's text (">=") or "?". */
const char *rules_op_name(int op);

/* Loads every rule of cfg for nalerters alerters into *out (caller-owned,
 * filled in place). Invalid expressions are logged naming the rule and
 * skipped. Returns 0; -EINVAL when nalerters is 0 or above
 * RULES_MAX_ALERTERS; -ENOMEM. On failure *out is empty. Free with
 * rules_set_free. */
int rules_load(const struct config *cfg, uint32_t nalerters, struct rules_set *out);

/* Frees the set; accepts an empty or zeroed one. */
void rules_set_free(struct rules_set *rs);

/* 1 when rule r selects the series key[len]. */
int rules_match(const struct rules_rule *r, const uint8_t *key, size_t len);

/* Sets *alerter_mask to the alerters that need samples of the series
 * key[len]: bit k is set when a rule owned by alerter k selects it. Call it
 * once per new series and cache the mask: it runs every rule's matchers.
 * Returns 0, or -EINVAL for a NULL argument. */
int rules_route(const struct rules_set *rs, const uint8_t *key, size_t len, uint64_t *alerter_mask);

#endif
