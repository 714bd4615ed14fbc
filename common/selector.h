/* selector: PromQL vector and range selectors, the subset of PromQL that
 * the pipeline needs before the full engine lands:
 *
 *   metric_name{label="v", other=~"re.*", x!="y", y!~"z"}[5m] offset 1m
 *   {__name__=~"node_.*"}
 *
 * Strings take PromQL escapes ("...", '...', `raw`). Errors give the
 * 0-based byte position and what was expected.
 */
#ifndef MCS_SELECTOR_H
#define MCS_SELECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/matcher.h"
#include "common/records.h"

#define SELECTOR_MAX_MATCHERS 32

struct selector {
	struct matcher m[SELECTOR_MAX_MATCHERS]; /* the metric name is an __name__ = matcher */
	size_t n;
	int64_t range_ms;   /* 0: instant vector selector */
	int64_t offset_ms;  /* may be negative */
};

/* Parses a selector at the start of s (leading spaces skipped). *consumed
 * gets the bytes used (trailing spaces included), so callers can parse what
 * follows. Returns 0, or -EINVAL with "position N: ..." in err. A selector
 * must have at least one matcher that does not match the empty string. */
int selector_parse(struct selector *sel, const char *s, size_t len, size_t *consumed,
		   char *err, size_t errlen);

/* Frees the matchers; accepts a zeroed selector. */
void selector_free(struct selector *sel);

/* Appends the selector's matchers to q as matcher set `set` (q->nsets is
 * raised to cover it). Returns 0, -ENOSPC (too many matchers or set out of
 * range) or -E2BIG (a name or value longer than 65535 bytes, which the
 * query record cannot hold). The strings stay owned by sel. */
int selector_to_query(const struct selector *sel, struct rec_query *q, uint8_t set);

/* Parses a PromQL/Prometheus duration ("5m", "1h30m", "500ms") at the start
 * of s. Returns the bytes used (> 0) and sets *ms, or -EINVAL. */
int selector_parse_duration(const char *s, size_t len, int64_t *ms);

#endif
