/* relabel: Prometheus relabeling over an owned label set; see relabel.h.
 *
 * What it is: the eleven actions of Prometheus' model/relabel with the same
 * results, rule validation with Prometheus' messages, Go-style template
 * expansion ($1, ${1}, $name, ${name}, $$) and the MD5 that hashmod needs.
 * What it is not: a YAML/JSON reader (scrapeconf.c fills the rules) or a
 * series-key encoder.
 *
 * Invariants: a struct relabel_labels is kept sorted by name with unique
 * names and never holds an empty value (setting "" deletes, as in
 * Prometheus' labels.Builder), so "absent" and "empty" are the same thing
 * everywhere, as they are in Prometheus. Label names are checked with the
 * legacy rule [a-zA-Z_][a-zA-Z0-9_]*; names from templates that fail it are
 * skipped at apply time like Prometheus skips invalid targets.
 *
 * Sections: MD5, label sets, rules, template expansion, apply.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/relabel.h"

#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- MD5 (RFC 1321), only for hashmod ---------------------------------- */

struct relabel_md5 {
	uint32_t h[4];
	uint64_t len;        /* bytes absorbed so far */
	uint8_t buf[64];
	size_t nbuf;
};

static const uint32_t relabel_md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t relabel_md5_r[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static void relabel_md5_block(struct relabel_md5 *m, const uint8_t *p)
{
	uint32_t w[16];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
		       (uint32_t)p[4 * i + 3] << 24;
	uint32_t a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];
	for (int i = 0; i < 64; i++) {
		uint32_t f;
		int g;
		if (i < 16) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (i < 32) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) & 15;
		} else if (i < 48) {
			f = b ^ c ^ d;
			g = (3 * i + 5) & 15;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) & 15;
		}
		uint32_t t = d;
		d = c;
		c = b;
		uint32_t x = a + f + relabel_md5_k[i] + w[g];
		b = b + ((x << relabel_md5_r[i]) | (x >> (32 - relabel_md5_r[i])));
		a = t;
	}
	m->h[0] += a;
	m->h[1] += b;
	m->h[2] += c;
	m->h[3] += d;
}

static void relabel_md5_update(struct relabel_md5 *m, const void *data, size_t n)
{
	const uint8_t *p = data;
	m->len += n;
	while (n > 0) {
		size_t take = 64 - m->nbuf < n ? 64 - m->nbuf : n;
		memcpy(m->buf + m->nbuf, p, take);
		m->nbuf += take;
		p += take;
		n -= take;
		if (m->nbuf == 64) {
			relabel_md5_block(m, m->buf);
			m->nbuf = 0;
		}
	}
}

/* Computes the MD5 digest of data[0..n) into out[16]. */
void relabel_md5(const void *data, size_t n, uint8_t out[16])
{
	struct relabel_md5 m = {.h = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}};
	relabel_md5_update(&m, data, n);
	uint64_t bits = m.len * 8;
	uint8_t pad[72] = {0x80};
	size_t padlen = (m.nbuf < 56 ? 56 : 120) - m.nbuf;
	relabel_md5_update(&m, pad, padlen);
	for (int i = 0; i < 8; i++)
		pad[i] = (uint8_t)(bits >> (8 * i));
	relabel_md5_update(&m, pad, 8);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(m.h[i] >> (8 * j));
}

/* ---- label sets --------------------------------------------------------- */

static char *relabel_strndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Binary search: returns the index of `name` or, with *found = 0, where it
 * would be inserted. */
static size_t relabel_labels_find(const struct relabel_labels *ls, const char *name, size_t nl, int *found)
{
	size_t lo = 0, hi = ls->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = ls->l[mid].name;
		size_t ml = strlen(m);
		int c = memcmp(m, name, ml < nl ? ml : nl);
		if (c == 0)
			c = ml < nl ? -1 : ml > nl ? 1 : 0;
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/* Deletes the label at index i. */
static void relabel_labels_remove_at(struct relabel_labels *ls, size_t i)
{
	free(ls->l[i].name);
	free(ls->l[i].value);
	memmove(&ls->l[i], &ls->l[i + 1], (ls->n - i - 1) * sizeof(ls->l[0]));
	ls->n--;
}

/* Sets name (nl bytes) to value (vl bytes), copying both; an empty value
 * deletes the label, as labels.Builder.Set does. Returns 0 or -ENOMEM (the
 * set is unchanged then). */
int relabel_labels_set(struct relabel_labels *ls, const char *name, size_t nl, const char *value, size_t vl)
{
	int found;
	size_t i = relabel_labels_find(ls, name, nl, &found);
	if (vl == 0) {
		if (found)
			relabel_labels_remove_at(ls, i);
		return 0;
	}
	char *v = relabel_strndup(value, vl);
	if (!v)
		return -ENOMEM;
	if (found) {
		free(ls->l[i].value);
		ls->l[i].value = v;
		return 0;
	}
	char *n = relabel_strndup(name, nl);
	if (!n)
		goto fail;
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 8;
		struct relabel_label *l = realloc(ls->l, cap * sizeof(*l));
		if (!l)
			goto fail;
		ls->l = l;
		ls->cap = cap;
	}
	memmove(&ls->l[i + 1], &ls->l[i], (ls->n - i) * sizeof(ls->l[0]));
	ls->l[i].name = n;
	ls->l[i].value = v;
	ls->n++;
	return 0;
fail:
	free(n);
	free(v);
	return -ENOMEM;
}

/* Returns the value of `name` (borrowed, valid until the set changes) or
 * NULL when absent. */
const char *relabel_labels_get(const struct relabel_labels *ls, const char *name)
{
	int found;
	size_t i = relabel_labels_find(ls, name, strlen(name), &found);
	return found ? ls->l[i].value : NULL;
}

/* Removes `name` if present. */
void relabel_labels_del(struct relabel_labels *ls, const char *name)
{
	int found;
	size_t i = relabel_labels_find(ls, name, strlen(name), &found);
	if (found)
		relabel_labels_remove_at(ls, i);
}

/* Removes every label, keeping the array for reuse. */
void relabel_labels_clear(struct relabel_labels *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		free(ls->l[i].name);
		free(ls->l[i].value);
	}
	ls->n = 0;
}

/* Frees every label and the array; ls is empty and reusable afterwards.
 * Accepts NULL. */
void relabel_labels_free(struct relabel_labels *ls)
{
	if (!ls)
		return;
	relabel_labels_clear(ls);
	free(ls->l);
	ls->l = NULL;
	ls->cap = 0;
}

/* Copies src into dst (which must be empty). Returns 0 or -ENOMEM (dst
 * then holds a prefix of src; the caller frees it either way). */
int relabel_labels_copy(struct relabel_labels *dst, const struct relabel_labels *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int rc = relabel_labels_set(dst, src->l[i].name, strlen(src->l[i].name), src->l[i].value,
					    strlen(src->l[i].value));
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- rules -------------------------------------------------------------- */

static const char *const relabel_action_names[] = {
	[RELABEL_REPLACE] = "replace",     [RELABEL_KEEP] = "keep",           [RELABEL_DROP] = "drop",
	[RELABEL_KEEPEQUAL] = "keepequal", [RELABEL_DROPEQUAL] = "dropequal", [RELABEL_HASHMOD] = "hashmod",
	[RELABEL_LABELMAP] = "labelmap",   [RELABEL_LABELDROP] = "labeldrop", [RELABEL_LABELKEEP] = "labelkeep",
	[RELABEL_LOWERCASE] = "lowercase", [RELABEL_UPPERCASE] = "uppercase",
};

/* Returns the action's enum value for its name (case-insensitive, as
 * Prometheus lowercases it), or -1. */
int relabel_action_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(relabel_action_names) / sizeof(relabel_action_names[0]); i++)
		if (strcasecmp(s, relabel_action_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Returns the name of an action ("replace", ...), "?" when out of range. */
const char *relabel_action_name(enum relabel_action a)
{
	if ((unsigned)a >= sizeof(relabel_action_names) / sizeof(relabel_action_names[0]))
		return "?";
	return relabel_action_names[a];
}

/* Zeroes *r and sets action replace. The string fields stay NULL, which
 * means "Prometheus' default" (separator ";", regex "(.*)", replacement
 * "$1"); relabel_rule_finish fills them in. */
void relabel_rule_defaults(struct relabel_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->action = RELABEL_REPLACE;
}

/* Returns 1 when s is a legacy label name: [a-zA-Z_][a-zA-Z0-9_]*. */
int relabel_name_valid(const char *s, size_t n)
{
	if (n == 0 || isdigit((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

static int relabel_is_word(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Prometheus' relabelTarget check, by hand: the text
 * ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ accepts names made of word
 * characters and $vars that do not start with a digit. */
static int relabel_template_valid(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return 0;
	while (*s) {
		if (*s == '$') {
			s++;
			if (*s == '{') {
				const char *b = ++s;
				while (relabel_is_word(*s))
					s++;
				if (s == b || *s != '}')
					return 0;
				s++;
			} else {
				const char *b = s;
				while (relabel_is_word(*s))
					s++;
				if (s == b)
					return 0;
			}
		} else if (relabel_is_word(*s)) {
			s++;
		} else {
			return 0;
		}
	}
	return 1;
}

static int relabel_set_default(char **field, const char *def)
{
	if (*field)
		return 0;
	*field = strdup(def);
	return *field ? 0 : -ENOMEM;
}

/* Validates r as Prometheus' Config.Validate does, fills the defaulted
 * string fields and compiles the regex anchored at both ends, with '.'
 * matching newlines (Prometheus 3 wraps it as ^(?s:re)$). Returns 0, -EINVAL
 * with the message in err, or -ENOMEM. The rule keeps ownership of its
 * strings either way; relabel_rule_free releases everything. */
int relabel_rule_finish(struct relabel_rule *r, char *err, size_t errlen)
{
	const char *an = relabel_action_name(r->action);
	int def_regex = r->regex_src == NULL || strcmp(r->regex_src, "(.*)") == 0;
	int def_sep = r->separator == NULL || strcmp(r->separator, ";") == 0;
	int def_repl = r->replacement == NULL || strcmp(r->replacement, "$1") == 0;
	const char *t = r->target ? r->target : "";
	enum relabel_action a = r->action;

	if ((unsigned)a > RELABEL_UPPERCASE) {
		snprintf(err, errlen, "unknown relabel action %d", (int)a);
		return -EINVAL;
	}
	if (a == RELABEL_HASHMOD && r->modulus == 0) {
		snprintf(err, errlen, "relabel configuration for hashmod requires non-zero modulus");
		return -EINVAL;
	}
	int needs_target = a == RELABEL_REPLACE || a == RELABEL_HASHMOD || a == RELABEL_LOWERCASE ||
			   a == RELABEL_UPPERCASE || a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL;
	if (needs_target && !*t) {
		snprintf(err, errlen, "relabel configuration for %s action requires 'target_label' value", an);
		return -EINVAL;
	}
	if (a == RELABEL_REPLACE && (strchr(t, '$') ? !relabel_template_valid(t) : !relabel_name_valid(t, strlen(t)))) {
		snprintf(err, errlen, "\"%s\" is invalid 'target_label' for %s action", t, an);
		return -EINVAL;
	}
	if ((a == RELABEL_LOWERCASE || a == RELABEL_UPPERCASE || a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL ||
	     a == RELABEL_HASHMOD) &&
	    !relabel_name_valid(t, strlen(t))) {
		snprintf(err, errlen, "\"%s\" is invalid 'target_label' for %s action", t, an);
		return -EINVAL;
	}
	if ((a == RELABEL_LOWERCASE || a == RELABEL_UPPERCASE) && !def_repl) {
		snprintf(err, errlen, "'replacement' can not be set for %s action", an);
		return -EINVAL;
	}
	if (a == RELABEL_LABELMAP && !relabel_template_valid(r->replacement ? r->replacement : "$1")) {
		snprintf(err, errlen, "\"%s\" is invalid 'replacement' for %s action", r->replacement, an);
		return -EINVAL;
	}
	if ((a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL) && (!def_regex || r->modulus || !def_sep || !def_repl)) {
		snprintf(err, errlen, "%s action requires only 'source_labels' and `target_label`, and no other fields",
			 an);
		return -EINVAL;
	}
	if ((a == RELABEL_LABELDROP || a == RELABEL_LABELKEEP) &&
	    (r->nsource || *t || r->modulus || !def_sep || !def_repl)) {
		snprintf(err, errlen, "%s action requires only 'regex', and no other fields", an);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->nsource; i++) {
		if (!relabel_name_valid(r->source[i], strlen(r->source[i]))) {
			snprintf(err, errlen, "\"%s\" is not a valid label name in 'source_labels'", r->source[i]);
			return -EINVAL;
		}
	}
	if (relabel_set_default(&r->separator, ";") || relabel_set_default(&r->regex_src, "(.*)") ||
	    relabel_set_default(&r->replacement, "$1"))
		return -ENOMEM;

	if (r->md) {
		pcre2_match_data_free(r->md);
		r->md = NULL;
	}
	if (r->re) {
		pcre2_code_free(r->re);
		r->re = NULL;
	}
	/* Anchors as options, not text: "a)|(b" cannot escape them, and with
	 * DOLLAR_ENDONLY a '$' in the user's regex means end of text as in Go
	 * (PCRE2's default '$' also matches before a final newline).
	 * MATCH_INVALID_UTF because label values are bytes. */
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)r->regex_src, PCRE2_ZERO_TERMINATED,
				       PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL | PCRE2_UTF |
					       PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
				       &ec, &eo, NULL);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(err, errlen, "invalid regex \"%s\" at offset %zu: %s", r->regex_src, (size_t)eo,
			 (const char *)msg);
		return -EINVAL;
	}
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort: the interpreter is the fallback */
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	if (!md) {
		pcre2_code_free(re);
		return -ENOMEM;
	}
	r->re = re;
	r->md = md;
	return 0;
}

/* Frees every string and the compiled regex of r, leaving it zeroed.
 * Accepts NULL. */
void relabel_rule_free(struct relabel_rule *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nsource; i++)
		free(r->source[i]);
	free(r->separator);
	free(r->target);
	free(r->regex_src);
	free(r->replacement);
	if (r->md)
		pcre2_match_data_free(r->md);
	if (r->re)
		pcre2_code_free(r->re);
	memset(r, 0, sizeof(*r));
}

/* Frees every rule and the array. Accepts NULL. */
void relabel_config_free(struct relabel_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		relabel_rule_free(&c->rules[i]);
	free(c->rules);
	c->rules = NULL;
	c->n = 0;
}

/* ---- template expansion (Go's regexp.Expand) ---------------------------- */

struct relabel_buf {
	char *p;
	size_t n, cap;
	int oom;
};

static void relabel_buf_add(struct relabel_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* Appends group `num` of the last match of r over subject (nothing when the
 * group does not exist or did not participate). */
static void relabel_buf_group(struct relabel_buf *b, const struct relabel_rule *r, const char *subject, long num)
{
	pcre2_match_data *md = r->md;
	if (num < 0 || (uint32_t)num >= pcre2_get_ovector_count(md))
		return;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	if (ov[2 * num] == PCRE2_UNSET)
		return;
	relabel_buf_add(b, subject + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
}

/* Expands template tpl against the last match of r over subject, exactly
 * as Go's Regexp.ExpandString: "$$" is "$"; "$name" takes the longest run
 * of word characters as the name ("$1x" is the group named "1x", empty);
 * "${name}" delimits it; a name of digits without a leading zero is a
 * group number; a malformed "$" stays literal. Appends to b. */
static void relabel_expand(struct relabel_buf *b, const struct relabel_rule *r, const char *tpl, const char *subject)
{
	while (*tpl) {
		const char *d = strchr(tpl, '$');
		if (!d) {
			relabel_buf_add(b, tpl, strlen(tpl));
			return;
		}
		relabel_buf_add(b, tpl, (size_t)(d - tpl));
		tpl = d + 1;
		if (*tpl == '$') {
			relabel_buf_add(b, "$", 1);
			tpl++;
			continue;
		}
		const char *s = tpl;
		int brace = *s == '{';
		if (brace)
			s++;
		const char *name = s;
		while (relabel_is_word(*s))
			s++;
		size_t nl = (size_t)(s - name);
		if (nl == 0 || (brace && *s != '}')) {
			relabel_buf_add(b, "$", 1); /* malformed: the '$' is literal text */
			continue;
		}
		if (brace)
			s++;
		tpl = s;
		long num = 0;
		for (size_t i = 0; i < nl; i++) {
			if (!isdigit((unsigned char)name[i]) || num >= 100000000) {
				num = -1;
				break;
			}
			num = num * 10 + (name[i] - '0');
		}
		if (name[0] == '0' && nl > 1)
			num = -1;
		if (num < 0) {
			char nbuf[256];
			if (nl >= sizeof(nbuf))
				continue; /* no group has so long a name */
			memcpy(nbuf, name, nl);
			nbuf[nl] = '\0';
			int gn = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR)nbuf);
			if (gn > 0)
				relabel_buf_group(b, r, subject, gn);
		} else {
			relabel_buf_group(b, r, subject, num);
		}
	}
}

/* ---- apply -------------------------------------------------------------- */

/* Matches the anchored regex of r against s (n bytes). Returns 1 on a
 * match; errors such as the match limit count as no match. */
static int relabel_match(const struct relabel_rule *r, const char *s, size_t n)
{
	return pcre2_match(r->re, (PCRE2_SPTR)s, n, 0, 0, r->md, NULL) > 0;
}

/* Joins the values of r's source labels with its separator into b. */
static void relabel_join(struct relabel_buf *b, const struct relabel_rule *r, const struct relabel_labels *ls)
{
	relabel_buf_add(b, "", 0);
	for (size_t i = 0; i < r->nsource; i++) {
		if (i)
			relabel_buf_add(b, r->separator, strlen(r->separator));
		const char *v = relabel_labels_get(ls, r->source[i]);
		if (v)
			relabel_buf_add(b, v, strlen(v));
	}
}

/* Labelmap: for each label whose name matches, sets the expanded name to
 * its value. Like labels.Builder.Range the loop sees the set as it was
 * before the rule, so the pairs are collected first and set afterwards. */
static int relabel_apply_labelmap(const struct relabel_rule *r, struct relabel_labels *ls)
{
	struct relabel_labels add = {0};
	int rc = 0;
	for (size_t i = 0; i < ls->n; i++) {
		const char *name = ls->l[i].name;
		if (!relabel_match(r, name, strlen(name)))
			continue;
		struct relabel_buf nb = {0};
		relabel_expand(&nb, r, r->replacement, name);
		if (nb.oom) {
			free(nb.p);
			rc = -ENOMEM;
			goto out;
		}
		if (nb.n > 0)
			rc = relabel_labels_set(&add, nb.p, nb.n, ls->l[i].value, strlen(ls->l[i].value));
		free(nb.p);
		if (rc)
			goto out;
	}
	rc = relabel_labels_copy(ls, &add);
out:
	relabel_labels_free(&add);
	return rc;
}

/* Applies one rule. Returns 1 keep, 0 drop, -ENOMEM. */
static int relabel_apply_rule(const struct relabel_rule *r, struct relabel_labels *ls)
{
	struct relabel_buf val = {0}, tb = {0}, rb = {0};
	int rc = 1;
	relabel_join(&val, r, ls);
	if (val.oom) {
		rc = -ENOMEM;
		goto out;
	}
	const char *tv;
	switch (r->action) {
	case RELABEL_DROP:
		rc = relabel_match(r, val.p, val.n) ? 0 : 1;
		break;
	case RELABEL_KEEP:
		rc = relabel_match(r, val.p, val.n) ? 1 : 0;
		break;
	case RELABEL_DROPEQUAL:
		tv = relabel_labels_get(ls, r->target);
		rc = strcmp(tv ? tv : "", val.p) == 0 ? 0 : 1;
		break;
	case RELABEL_KEEPEQUAL:
		tv = relabel_labels_get(ls, r->target);
		rc = strcmp(tv ? tv : "", val.p) == 0 ? 1 : 0;
		break;
	case RELABEL_REPLACE:
		if (!relabel_match(r, val.p, val.n))
			break; /* no match: no replacement */
		relabel_expand(&tb, r, r->target, val.p);
		relabel_expand(&rb, r, r->replacement, val.p);
		relabel_buf_add(&rb, "", 0);
		if (tb.oom || rb.oom) {
			rc = -ENOMEM;
			break;
		}
		if (!relabel_name_valid(tb.p, tb.n))
			break; /* the expanded target is not a label name: skip */
		if (relabel_labels_set(ls, tb.p, tb.n, rb.p, rb.n))
			rc = -ENOMEM; /* an empty result deletes the target */
		break;
	case RELABEL_LOWERCASE:
	case RELABEL_UPPERCASE:
		/* ASCII case mapping; Go's strings.ToLower also maps non-ASCII
		 * letters, which label values rarely hold. */
		for (size_t i = 0; i < val.n; i++)
			val.p[i] = (char)(r->action == RELABEL_LOWERCASE ? tolower((unsigned char)val.p[i])
									  : toupper((unsigned char)val.p[i]));
		if (relabel_labels_set(ls, r->target, strlen(r->target), val.p, val.n))
			rc = -ENOMEM;
		break;
	case RELABEL_HASHMOD: {
		uint8_t h[16];
		relabel_md5(val.p, val.n, h);
		uint64_t x = 0;
		for (int i = 8; i < 16; i++)
			x = x << 8 | h[i];
		char num[24];
		int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)(x % r->modulus));
		if (relabel_labels_set(ls, r->target, strlen(r->target), num, (size_t)n))
			rc = -ENOMEM;
		break;
	}
	case RELABEL_LABELMAP:
		if (relabel_apply_labelmap(r, ls))
			rc = -ENOMEM;
		break;
	case RELABEL_LABELDROP:
	case RELABEL_LABELKEEP:
		for (size_t i = 0; i < ls->n;) {
			int m = relabel_match(r, ls->l[i].name, strlen(ls->l[i].name));
			if (m == (r->action == RELABEL_LABELDROP))
				relabel_labels_remove_at(ls, i);
			else
				i++;
		}
		break;
	}
out:
	free(val.p);
	free(tb.p);
	free(rb.p);
	return rc;
}

/* Applies the rules of c in order to ls, stopping at the first keep/drop
 * that drops. Returns 1 to keep, 0 when dropped (ls is then partly
 * rewritten and should be discarded), -ENOMEM. Every rule must have been
 * through relabel_rule_finish. The rules' match data is scratch space: one
 * config is used by one thread at a time. */
int relabel_apply(const struct relabel_config *c, struct relabel_labels *ls)
{
	for (size_t i = 0; i < c->n; i++) {
		int rc = relabel_apply_rule(&c->rules[i], ls);
		if (rc <= 0)
			return rc;
	}
	return 1;
}
