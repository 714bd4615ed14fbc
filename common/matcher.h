/* matcher: Prometheus label matchers (=, !=, =~, !~) over series keys.
 *
 * Regexes are PCRE2, fully anchored as Prometheus does (^(?:re)$), compiled
 * once and JIT-compiled when the platform allows. An absent label matches as
 * the empty string, so {foo=""} selects series without foo and {foo!=""}
 * series that have it.
 */
#ifndef MCS_MATCHER_H
#define MCS_MATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "common/records.h"

struct matcher {
	uint8_t op;       /* enum rec_match_op */
	char *name;       /* owned, NUL-terminated */
	char *value;      /* owned, NUL-terminated */
	size_t name_len;
	size_t value_len;
	void *re;         /* pcre2_code * for =~ and !~, owned */
	void *md;         /* pcre2_match_data *, owned */
};

/* Fills *m (caller-owned). Returns 0; -EINVAL with a message in err for a
 * regex that does not compile (the message names the offset); -ENOMEM. */
int matcher_init(struct matcher *m, int op, const char *name, size_t name_len,
		 const char *value, size_t value_len, char *err, size_t errlen);

/* Frees what matcher_init allocated; accepts a zeroed matcher. */
void matcher_free(struct matcher *m);

/* 1 when value (absent label: len 0) satisfies the matcher. */
int matcher_match_value(const struct matcher *m, const char *value, size_t len);

/* 1 when every one of the n matchers matches the series key. */
int matcher_match_key(const struct matcher *ms, size_t n, const uint8_t *key, size_t len);

/* Builds matchers from the decoded query's matcher set `set`.
 * Returns the count (>= 0) or -EINVAL / -ENOMEM with err filled. */
int matcher_from_query(struct matcher *out, size_t max, const struct rec_query *q,
		       uint32_t set, char *err, size_t errlen);

#endif
