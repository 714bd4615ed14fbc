/* promql_sel: the selector half of the PromQL parser: vector selectors
 * ({...} matchers, metric names, quoted names), grouping label lists,
 * duration expressions and the postfix modifiers ([range], [range:step],
 * offset, @, anchored/smoothed) with Prometheus' placement rules.
 *
 * It works on promql_parse's private parser state (promql_parse_pvt.h);
 * promql_parse is the public entry point.
 */
#ifndef MCS_PROMQL_SEL_H
#define MCS_PROMQL_SEL_H

#include "common/promql_ast.h"

struct promql_parser;

/* Parses "(" label {"," label} [","] ")" (identifiers, keywords included,
 * or quoted names) and appends to *out (owned by the node holding it).
 * Returns 0 or the recorded error (-EINVAL/-ENOMEM). */
int promql_sel_labels(struct promql_parser *p, struct promql_labels *out, const char *ctx);

/* Parses a vector selector: when named, p->cur is the metric name; then
 * optional braces. Adds the __name__ matcher, checks that the name is not
 * set twice and that some matcher rejects the empty string. Returns the
 * node (caller owns) or NULL with the error recorded. */
struct promql_node *promql_sel_selector(struct promql_parser *p, int named);

/* Applies the postfix modifiers that follow e: [range] (matrix selector),
 * [range:step] (subquery), offset, @ and anchored/smoothed, in any order
 * and number Prometheus allows. Takes ownership of e; returns the new
 * root (caller owns) or NULL with the error recorded (e freed). */
struct promql_node *promql_sel_postfix(struct promql_parser *p, struct promql_node *e);

#endif
