/* promql_parse: PromQL text to a checked syntax tree (common/promql_ast.h).
 *
 * The whole Prometheus 3 grammar: number literals (decimal, 0x hex, leading-0
 * octal, exponents, Inf/NaN in any case, durations as numbers), strings
 * with Go escapes, vector selectors (quoted metric and label names too),
 * range selectors, offset (negative too), @ <time>/start()/end(),
 * subqueries, unary and binary operators with Prometheus precedence (^
 * right-associative; unary +/- binds like * but weaker than ^), bool,
 * on/ignoring, group_left/group_right, aggregations with by/without before
 * or after the arguments, function calls against the function table, and
 * comments. Also the experimental syntax the upstream test files use:
 * duration expressions in ranges/steps/offsets (step(), range(), min_of,
 * max_of, + - * / % ^), the anchored/smoothed selector modifiers and the
 * fill/fill_left/fill_right binary modifiers. Experimental functions are
 * accepted (the table flags them).
 *
 * Type checks done here are the ones Prometheus does at parse time (binary
 * operand types, range vector where an instant one is expected, argument
 * and aggregation parameter types and counts, empty selectors, offset/@
 * placement and repetition, bool/set-operator rules).
 *
 * Not here: evaluation, and the runtime checks (label_replace regexes,
 * vector matching cardinality).
 */
#ifndef MCS_PROMQL_PARSE_H
#define MCS_PROMQL_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "common/promql_ast.h"

struct promql_error {
	uint32_t pos;    /* 0-based byte offset of the fault */
	uint32_t line;   /* 1-based */
	uint32_t col;    /* 1-based, in bytes */
	char msg[320];   /* "1:5: parse error: unexpected ..." as Prometheus writes it */
};

/* Parses s[0..len) into *out (set to NULL first). Returns 0 and a tree the
 * caller frees with promql_free; -EINVAL with err filled (err may be NULL);
 * -ENOMEM. Nothing is allocated on failure. */
int promql_parse(const char *s, size_t len, struct promql_node **out, struct promql_error *err);

#endif
