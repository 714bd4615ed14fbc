/* promql_print: a syntax tree back to PromQL text, the way Prometheus'
 * String() methods print it (the output of /api/v1/format_query):
 * single spaces around binary operators, "sum by (job) (x)", matchers
 * sorted with the metric name in front, numbers in shortest round-trip
 * fixed notation, durations in canonical units ("1h30m"), strings and
 * non-legacy label names quoted Go-style.
 *
 * Not a pretty-printer: no line breaks or indentation.
 */
#ifndef MCS_PROMQL_PRINT_H
#define MCS_PROMQL_PRINT_H

#include <stddef.h>
#include <stdint.h>

#include "common/promql_ast.h"

/* A growable output buffer. Zero-initialise it; data is NUL-terminated
 * whenever len > 0 and err == 0. */
struct promql_buf {
	char *data;   /* owned */
	size_t len;
	size_t cap;
	int err;      /* -ENOMEM once an append failed; later appends are no-ops */
};

/* Appends the expression's text to b. Returns 0 or -ENOMEM (b->err). */
int promql_print(const struct promql_node *n, struct promql_buf *b);

/* Prints into a new malloc'd string *out (caller frees). Returns 0 or
 * -ENOMEM (*out NULL). */
int promql_format(const struct promql_node *n, char **out);

/* Frees the buffer's memory and zeroes it; accepts a zeroed buffer. */
void promql_buf_free(struct promql_buf *b);

/* Appends a duration in ms as Prometheus prints it ("1h30m", "0s", "-5m"). */
void promql_print_duration(struct promql_buf *b, int64_t ms);

/* Appends a float as Go's strconv.FormatFloat(v, 'f', -1, 64) ("+Inf",
 * "NaN", "0.1", "100000000000000000000"). */
void promql_print_float(struct promql_buf *b, double v);

/* Appends s[0..len) quoted as Go's strconv.Quote does. */
void promql_print_quote(struct promql_buf *b, const char *s, size_t len);

#endif
