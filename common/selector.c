/* selector: see selector.h. A small recursive-descent reader over a byte
 * range; positions in errors are 0-based byte offsets into the input. */
#include "common/selector.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/textparse.h"

struct selector_rd {
	const char *s;
	size_t len;
	size_t pos;
	char *err;
	size_t errlen;
};

static void selector_skip(struct selector_rd *r)
{
	while (r->pos < r->len && isspace((unsigned char)r->s[r->pos]))
		r->pos++;
}

static int selector_fail(struct selector_rd *r, const char *what)
{
	snprintf(r->err, r->errlen, "position %zu: %s", r->pos, what);
	return -EINVAL;
}

static int selector_is_name_char(char c, int first, int metric)
{
	if (isalpha((unsigned char)c) || c == '_' || (metric && c == ':'))
		return 1;
	return !first && isdigit((unsigned char)c);
}

int selector_parse_duration(const char *s, size_t len, int64_t *ms)
{
	size_t i = 0;
	char buf[64];
	while (i < len && i < sizeof(buf) - 1 && (isdigit((unsigned char)s[i]) || (s[i] && strchr("smhdwy", s[i]))))
		i++;
	if (i == 0)
		return -EINVAL;
	memcpy(buf, s, i);
	buf[i] = '\0';
	if (config_parse_duration(buf, ms) != 0)
		return -EINVAL;
	return (int)i;
}

/* Reads a PromQL string literal into a malloc'd buffer. */
static int selector_string(struct selector_rd *r, char **out, size_t *outlen)
{
	char q = r->s[r->pos];
	if (q != '"' && q != '\'' && q != '`')
		return selector_fail(r, "expected a string literal");
	size_t start = r->pos++;
	char *buf = malloc(r->len - start + 1);
	size_t n = 0;
	if (!buf)
		return -ENOMEM;
	while (r->pos < r->len && r->s[r->pos] != q) {
		char c = r->s[r->pos++];
		if (c == '\\' && q != '`') {
			if (r->pos >= r->len)
				break;
			char e = r->s[r->pos++];
			switch (e) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case '\\': case '"': case '\'': c = e; break;
			case 'a': c = '\a'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'v': c = '\v'; break;
			default:
				free(buf);
				r->pos--;
				return selector_fail(r, "unknown escape sequence in string");
			}
		} else if (c == '\n' && q != '`') {
			free(buf);
			r->pos--; /* at the newline */
			return selector_fail(r, "unterminated string (newline)");
		}
		buf[n++] = c;
	}
	if (r->pos >= r->len) {
		free(buf);
		r->pos = start;
		return selector_fail(r, "unterminated string");
	}
	r->pos++;
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static int selector_add(struct selector *sel, struct selector_rd *r, int op, const char *name,
			size_t nl, const char *value, size_t vl)
{
	if (sel->n >= SELECTOR_MAX_MATCHERS)
		return selector_fail(r, "too many label matchers");
	int rc = matcher_init(&sel->m[sel->n], op, name, nl, value, vl, r->err, r->errlen);
	if (rc == 0)
		sel->n++;
	return rc;
}

static int selector_matchers(struct selector *sel, struct selector_rd *r)
{
	r->pos++; /* '{' */
	for (;;) {
		selector_skip(r);
		if (r->pos < r->len && r->s[r->pos] == '}') {
			r->pos++;
			return 0;
		}
		size_t ns = r->pos;
		char *qname = NULL;
		size_t nl;
		const char *name;
		if (r->pos < r->len && r->s[r->pos] == '"') {
			/* Quoted label name (Prometheus 3 UTF-8 names). */
			int rc = selector_string(r, &qname, &nl);
			if (rc)
				return rc;
			name = qname;
		} else {
			while (r->pos < r->len && selector_is_name_char(r->s[r->pos], r->pos == ns, 0))
				r->pos++;
			if (r->pos == ns)
				return selector_fail(r, "expected a label name");
			name = r->s + ns;
			nl = r->pos - ns;
		}
		selector_skip(r);
		int op;
		if (r->pos + 1 < r->len && r->s[r->pos] == '=' && r->s[r->pos + 1] == '~') {
			op = REC_M_RE;
			r->pos += 2;
		} else if (r->pos + 1 < r->len && r->s[r->pos] == '!' && r->s[r->pos + 1] == '=') {
			op = REC_M_NE;
			r->pos += 2;
		} else if (r->pos + 1 < r->len && r->s[r->pos] == '!' && r->s[r->pos + 1] == '~') {
			op = REC_M_NRE;
			r->pos += 2;
		} else if (r->pos < r->len && r->s[r->pos] == '=') {
			op = REC_M_EQ;
			r->pos++;
		} else {
			free(qname);
			return selector_fail(r, "expected one of '=', '!=', '=~', '!~'");
		}
		selector_skip(r);
		char *val;
		size_t vl;
		int rc = selector_string(r, &val, &vl);
		if (rc == 0) {
			rc = selector_add(sel, r, op, name, nl, val, vl); /* copies val */
			free(val);
		}
		free(qname);
		if (rc)
			return rc;
		selector_skip(r);
		if (r->pos < r->len && r->s[r->pos] == ',') {
			r->pos++;
			continue;
		}
		if (r->pos < r->len && r->s[r->pos] == '}') {
			r->pos++;
			return 0;
		}
		return selector_fail(r, "expected ',' or '}' in label matchers");
	}
}

int selector_parse(struct selector *sel, const char *s, size_t len, size_t *consumed,
		   char *err, size_t errlen)
{
	struct selector_rd r = {s, len, 0, err, errlen};
	int rc;
	memset(sel, 0, sizeof(*sel));
	selector_skip(&r);
	size_t ns = r.pos;
	while (r.pos < len && selector_is_name_char(s[r.pos], r.pos == ns, 1))
		r.pos++;
	int has_bare = r.pos > ns;
	if (has_bare) {
		static const char *const keywords[] = {"offset", "by", "without", "bool", "on", "ignoring"};
		for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
			if (strlen(keywords[k]) == r.pos - ns && memcmp(keywords[k], s + ns, r.pos - ns) == 0) {
				r.pos = ns;
				return selector_fail(&r, "expected a metric name or '{', found a keyword");
			}
		rc = selector_add(sel, &r, REC_M_EQ, "__name__", 8, s + ns, r.pos - ns);
		if (rc)
			goto fail;
	}
	selector_skip(&r);
	if (r.pos < len && s[r.pos] == '{') {
		rc = selector_matchers(sel, &r);
		if (rc)
			goto fail;
	} else if (sel->n == 0) {
		rc = selector_fail(&r, "expected a metric name or '{'");
		goto fail;
	}
	/* A metric name given twice (a bare name and an __name__ matcher). */
	int nonempty = 0;
	for (size_t i = 0; i < sel->n; i++) {
		if (has_bare && i > 0 && strcmp(sel->m[i].name, "__name__") == 0) {
			rc = selector_fail(&r, "metric name must not be set twice");
			goto fail;
		}
		if (!matcher_match_value(&sel->m[i], "", 0))
			nonempty = 1;
	}
	if (!nonempty) {
		rc = selector_fail(&r, "vector selector must contain at least one non-empty matcher");
		goto fail;
	}
	selector_skip(&r);
	if (r.pos < len && s[r.pos] == '[') {
		r.pos++;
		selector_skip(&r);
		int n = selector_parse_duration(s + r.pos, len - r.pos, &sel->range_ms);
		if (n <= 0 || sel->range_ms <= 0) {
			rc = selector_fail(&r, "expected a positive duration in range selector");
			goto fail;
		}
		r.pos += (size_t)n;
		selector_skip(&r);
		if (r.pos >= len || s[r.pos] != ']') {
			rc = selector_fail(&r, "expected ']' after range");
			goto fail;
		}
		r.pos++;
		selector_skip(&r);
	}
	if (len - r.pos >= 6 && memcmp(s + r.pos, "offset", 6) == 0 &&
	    (len - r.pos == 6 || !selector_is_name_char(s[r.pos + 6], 0, 1))) {
		r.pos += 6;
		selector_skip(&r);
		int neg = 0;
		if (r.pos < len && s[r.pos] == '-') {
			neg = 1;
			r.pos++;
		}
		int n = selector_parse_duration(s + r.pos, len - r.pos, &sel->offset_ms);
		if (n <= 0) {
			rc = selector_fail(&r, "expected a duration after offset");
			goto fail;
		}
		if (neg)
			sel->offset_ms = -sel->offset_ms;
		r.pos += (size_t)n;
		selector_skip(&r);
	}
	*consumed = r.pos;
	return 0;
fail:
	selector_free(sel);
	return rc;
}

void selector_free(struct selector *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->n; i++)
		matcher_free(&sel->m[i]);
	sel->n = 0;
}

int selector_to_query(const struct selector *sel, struct rec_query *q, uint8_t set)
{
	if (q->nmatchers + sel->n > REC_MAX_MATCHERS || set >= REC_MAX_SETS)
		return -ENOSPC;
	/* The query record holds 16-bit lengths: refuse rather than truncate. */
	for (size_t i = 0; i < sel->n; i++)
		if (sel->m[i].name_len > UINT16_MAX || sel->m[i].value_len > UINT16_MAX)
			return -E2BIG;
	for (size_t i = 0; i < sel->n; i++) {
		struct rec_matcher *m = &q->m[q->nmatchers++];
		m->op = sel->m[i].op;
		m->set = set;
		m->name = sel->m[i].name;
		m->name_len = (uint16_t)sel->m[i].name_len;
		m->value = sel->m[i].value;
		m->value_len = (uint16_t)sel->m[i].value_len;
	}
	if (q->nsets < (uint32_t)set + 1)
		q->nsets = (uint32_t)set + 1;
	return 0;
}
