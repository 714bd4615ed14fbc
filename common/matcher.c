/* matcher: see matcher.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/matcher.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/series.h"

static char *matcher_dup(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int matcher_init(struct matcher *m, int op, const char *name, size_t name_len,
		 const char *value, size_t value_len, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	if (op < REC_M_EQ || op > REC_M_NRE) {
		snprintf(err, errlen, "unknown matcher operator");
		return -EINVAL;
	}
	m->op = (uint8_t)op;
	m->name = matcher_dup(name, name_len);
	m->value = matcher_dup(value, value_len);
	m->name_len = name_len;
	m->value_len = value_len;
	if (!m->name || !m->value) {
		matcher_free(m);
		return -ENOMEM;
	}
	if (op == REC_M_RE || op == REC_M_NRE) {
		/* Prometheus anchors every regex: ^(?:re)$. The anchors are
		 * compile options, not text around the value: text would let a
		 * value like "a)|(b" close the group and escape the anchoring,
		 * and PCRE2's $ also accepts a trailing newline, which RE2's
		 * does not. PCRE2_DOTALL because Go's RE2 in Prometheus matches
		 * newlines with '.' under (?s) it sets. */
		int ec;
		PCRE2_SIZE eo;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)m->value, value_len,
					       PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL | PCRE2_UTF,
					       &ec, &eo, NULL);
		if (!re) {
			PCRE2_UCHAR msg[160];
			pcre2_get_error_message(ec, msg, sizeof(msg));
			size_t off = eo < value_len ? eo : value_len;
			snprintf(err, errlen, "invalid regular expression \"%s\" at offset %zu: %s", m->value, off,
				 (const char *)msg);
			matcher_free(m);
			return -EINVAL;
		}
		pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort */
		m->re = re;
		m->md = pcre2_match_data_create_from_pattern(re, NULL);
		if (!m->md) {
			matcher_free(m);
			return -ENOMEM;
		}
	}
	return 0;
}

void matcher_free(struct matcher *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->value);
	if (m->md)
		pcre2_match_data_free(m->md);
	if (m->re)
		pcre2_code_free(m->re);
	memset(m, 0, sizeof(*m));
}

int matcher_match_value(const struct matcher *m, const char *value, size_t len)
{
	switch (m->op) {
	case REC_M_EQ: /* len 0 first: value may be NULL for an absent label */
		return len == m->value_len && (len == 0 || memcmp(value, m->value, len) == 0);
	case REC_M_NE:
		return !(len == m->value_len && (len == 0 || memcmp(value, m->value, len) == 0));
	default: {
		int rc = pcre2_match(m->re, (PCRE2_SPTR)(value ? value : ""), len, 0, 0, m->md, NULL);
		int hit = rc >= 0;
		return m->op == REC_M_RE ? hit : !hit;
	}
	}
}

int matcher_match_key(const struct matcher *ms, size_t n, const uint8_t *key, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		size_t vl;
		const char *v = series_key_get(key, len, ms[i].name, &vl);
		if (!matcher_match_value(&ms[i], v ? v : "", v ? vl : 0))
			return 0;
	}
	return 1;
}

int matcher_from_query(struct matcher *out, size_t max, const struct rec_query *q,
		       uint32_t set, char *err, size_t errlen)
{
	size_t n = 0;
	for (uint32_t i = 0; i < q->nmatchers; i++) {
		const struct rec_matcher *qm = &q->m[i];
		if (qm->set != set)
			continue;
		if (n >= max) {
			snprintf(err, errlen, "too many matchers");
			for (size_t j = 0; j < n; j++)
				matcher_free(&out[j]);
			return -EINVAL;
		}
		int rc = matcher_init(&out[n], qm->op, qm->name, qm->name_len, qm->value, qm->value_len, err, errlen);
		if (rc) {
			for (size_t j = 0; j < n; j++)
				matcher_free(&out[j]);
			return rc;
		}
		n++;
	}
	return (int)n;
}
