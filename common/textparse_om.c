/* textparse_om: the OpenMetrics 1.0 half of textparse (textparse.h): the
 * comment lines (# HELP, # TYPE, # UNIT, # EOF), exemplars and the family
 * rules of the spec, as the reference Python parser checks them: sample
 * names must carry their type's suffixes, families are contiguous and do
 * not clash, metadata precedes samples and is not repeated, counter-like
 * values are not negative or NaN, histogram buckets are ordered with an
 * +Inf bucket and matching _count, summary quantiles lie in [0, 1],
 * stateset/info values, metric points of one label set are contiguous with
 * non-decreasing timestamps.
 *
 * Not here: the line loop, sample line syntax, names, numbers and label
 * sets (textparse.c, shared through textparse_pvt.h).
 *
 * Invariants: the checks keep 64-bit hashes of names and label groups: a
 * hash collision (p ~ n^2 / 2^64) could reject a valid body, never accept
 * an invalid one. The hash sets are the only heap memory of this half;
 * textparse_om_free releases them.
 *
 * Sections: hash sets; families; lines.
 */
#include "common/textparse_om.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/textparse_pvt.h"

/* ---- hash sets ---------------------------------------------------------- */

/* Inserts key. Returns 1 when it was new, 0 when already present, -ENOMEM.
 * The set owns its arrays; textparse_om_hset_free releases them. */
static int textparse_om_hset_add(struct textparse_om_hset *h, uint64_t key)
{
	if (h->gen == 0)
		h->gen = 1;
	if ((h->n + 1) * 2 > h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 256;
		uint64_t *nk = malloc(ncap * sizeof(*nk));
		uint32_t *ng = calloc(ncap, sizeof(*ng));
		if (!nk || !ng) {
			free(nk);
			free(ng);
			return -ENOMEM;
		}
		for (size_t i = 0; i < h->cap; i++) {
			if (h->gens[i] != h->gen)
				continue;
			size_t j = (size_t)h->keys[i] & (ncap - 1);
			while (ng[j] == h->gen)
				j = (j + 1) & (ncap - 1);
			nk[j] = h->keys[i];
			ng[j] = h->gen;
		}
		free(h->keys);
		free(h->gens);
		h->keys = nk;
		h->gens = ng;
		h->cap = ncap;
	}
	size_t j = (size_t)key & (h->cap - 1);
	while (h->gens[j] == h->gen) {
		if (h->keys[j] == key)
			return 0;
		j = (j + 1) & (h->cap - 1);
	}
	h->keys[j] = key;
	h->gens[j] = h->gen;
	h->n++;
	return 1;
}

/* Empties the set in O(1), keeping its arrays. Cannot fail. */
static void textparse_om_hset_clear(struct textparse_om_hset *h)
{
	h->n = 0;
	if (++h->gen == 0) { /* wrapped: really clear once every 2^32 resets */
		if (h->gens)
			memset(h->gens, 0, h->cap * sizeof(*h->gens));
		h->gen = 1;
	}
}

/* Frees the arrays and zeroes the set; accepts an unused set. */
static void textparse_om_hset_free(struct textparse_om_hset *h)
{
	free(h->keys);
	free(h->gens);
	memset(h, 0, sizeof(*h));
}

/* ---- families ------------------------------------------------------------ */

/* Returns the 64-bit hash (XXH3) of s[0..len) under seed. */
static uint64_t textparse_om_hash(const char *s, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(s, len, seed);
}

/* Returns the hash of name + suffix, the key of the OpenMetrics name set. */
static uint64_t textparse_om_name_hash(const char *name, size_t len, int sfx)
{
	char tmp[256];
	size_t sl = textparse_sfx_names[sfx].len;
	if (len + sl > sizeof(tmp)) {
		/* Long names: hash the two parts; distinct enough for the set. */
		return textparse_om_hash(name, len, 0) ^
		       textparse_om_hash(textparse_sfx_names[sfx].s, sl, 0x9e3779b97f4a7c15ULL);
	}
	memcpy(tmp, name, len);
	memcpy(tmp + len, textparse_sfx_names[sfx].s, sl);
	return textparse_om_hash(tmp, len + sl, 0);
}

/* Runs the histogram checks of the OpenMetrics reference parser on the
 * metric point in st->om.hist and closes it. Returns 0 or -EINVAL. */
static int textparse_om_hist_close(struct textparse_state *st)
{
	struct textparse_om_hist *h = &st->om.hist;
	const int fl = (int)st->fam_len;
	if (!h->active)
		return 0;
	h->active = 0;
	if (!h->has_bucket || !isinf(h->last_le) || h->last_le < 0)
		return textparse_fail_at(st, h->line, NULL, "histogram %.*s has no +Inf bucket", fl,
					 st->fam);
	if (h->has_count && h->count != h->last_bucket_value)
		return textparse_fail_at(st, h->line, NULL,
					 "histogram %.*s: count does not match the +Inf bucket", fl,
					 st->fam);
	if (h->has_sum && !h->has_count)
		return textparse_fail_at(st, h->line, NULL,
					 "histogram %.*s: _count must be present if _sum is", fl,
					 st->fam);
	if (h->has_gsum && !h->has_count)
		return textparse_fail_at(st, h->line, NULL,
					 "gaugehistogram %.*s: _gcount must be present if _gsum is",
					 fl, st->fam);
	if (!h->has_sum && !h->has_gsum && h->has_count)
		return textparse_fail_at(st, h->line, NULL,
					 "histogram %.*s: _sum must be present if _count is", fl,
					 st->fam);
	if (h->neg_buckets && h->has_sum)
		return textparse_fail_at(st, h->line, NULL,
					 "histogram %.*s has negative buckets and a _sum", fl, st->fam);
	if (!h->neg_buckets && h->neg_gsum)
		return textparse_fail_at(st, h->line, NULL,
					 "gaugehistogram %.*s: negative _gsum without negative buckets",
					 fl, st->fam);
	return 0;
}

/* Ends the current OpenMetrics family, running the pending histogram
 * checks. Returns 0 or -EINVAL. */
static int textparse_om_end_family(struct textparse_state *st)
{
	int rc = textparse_om_hist_close(st);
	st->om.in_family = 0;
	return rc;
}

/* Claims name+suffix in the name set. Returns 0, -EINVAL on a clash,
 * -ENOMEM. */
static int textparse_om_claim(struct textparse_state *st, const char *name, size_t len, int sfx,
			      const char *pos)
{
	int rc = textparse_om_hset_add(&st->om.names, textparse_om_name_hash(name, len, sfx));
	if (rc < 0)
		return rc;
	if (rc == 0)
		return textparse_fail(st, pos,
				      "metric name %.*s%s clashes with an earlier family (families "
				      "must be contiguous and unique)",
				      (int)len, name, textparse_sfx_names[sfx].s);
	return 0;
}

/* Starts OpenMetrics family `name` (untyped until a # TYPE). Returns 0,
 * -EINVAL, -ENOMEM. */
int textparse_om_start_family(struct textparse_state *st, const char *name, size_t len,
				     const char *pos)
{
	int rc = textparse_om_end_family(st);
	if (rc < 0)
		return rc;
	rc = textparse_om_claim(st, name, len, TEXTPARSE_SFX_NONE, pos);
	if (rc < 0)
		return rc;
	st->fam = name;
	st->fam_len = len;
	st->fam_type = TEXTPARSE_UNTYPED;
	st->om.in_family = 1;
	st->om.has_help = st->om.has_type = st->om.has_unit = st->om.has_samples = 0;
	st->om.unit = NULL;
	st->om.unit_len = 0;
	st->om.have_group = 0;
	textparse_om_hset_clear(&st->om.groups);
	return 0;
}

/* Returns an order-independent hash of the label set without label `skip`
 * (-1: none), so that {a,b} and {b,a} are one group. */
static uint64_t textparse_om_group_hash(const struct textparse_label *l, size_t n, int skip)
{
	uint64_t g = 0x243f6a8885a308d3ULL;
	for (size_t i = 0; i < n; i++) {
		if ((int)i == skip)
			continue;
		uint64_t a = textparse_om_hash(l[i].name, l[i].name_len, 1);
		uint64_t b = textparse_om_hash(l[i].value, l[i].value_len, a);
		g += b ^ (b >> 29);
	}
	return g;
}

/* Parses an le or quantile label value into *out. Returns 0 when it is a
 * canonical OpenMetrics float (infinities spelled +Inf / -Inf, not NaN),
 * else -EINVAL. */
static int textparse_om_canonical_float(const char *s, size_t len, double *out)
{
	if (textparse_parse_float(s, len, out) < 0 || isnan(*out))
		return -EINVAL;
	if (isinf(*out) && !((len == 4 && memcmp(s, "+Inf", 4) == 0) ||
			     (len == 4 && memcmp(s, "-Inf", 4) == 0)))
		return -EINVAL;
	return 0;
}

/* OpenMetrics rules for one sample of the current family (see the file
 * comment). `sfx` is its suffix, `ex` whether it had an exemplar. Returns
 * 0, -EINVAL or -ENOMEM. */
int textparse_om_sample(struct textparse_state *st, const char *name, size_t nlen, int sfx,
			const struct textparse_label *l, size_t n, double v, int has_ts,
			double ts, int ex)
{
	const enum textparse_type t = st->fam_type;
	const char *tn = textparse_type_names[t];
	int skip = -1;

	if (ex && !(((t == TEXTPARSE_HISTOGRAM || t == TEXTPARSE_GAUGEHISTOGRAM) &&
		     sfx == TEXTPARSE_SFX_BUCKET) ||
		    (t == TEXTPARSE_COUNTER && sfx == TEXTPARSE_SFX_TOTAL)))
		return textparse_fail(st, name,
				      "exemplars are only allowed on histogram buckets and counter "
				      "_total samples");
	switch (sfx) {
	case TEXTPARSE_SFX_TOTAL: case TEXTPARSE_SFX_SUM: case TEXTPARSE_SFX_COUNT:
	case TEXTPARSE_SFX_BUCKET: case TEXTPARSE_SFX_GCOUNT: case TEXTPARSE_SFX_GSUM:
		if (isnan(v))
			return textparse_fail(st, name, "%s %.*s: counter-like value cannot be NaN",
					      tn, (int)nlen, name);
		if (v < 0 && sfx != TEXTPARSE_SFX_GSUM)
			return textparse_fail(st, name,
					      "%s %.*s: counter-like value cannot be negative", tn,
					      (int)nlen, name);
		if ((sfx == TEXTPARSE_SFX_BUCKET || sfx == TEXTPARSE_SFX_COUNT ||
		     sfx == TEXTPARSE_SFX_GCOUNT) &&
		    (isinf(v) || v != floor(v)))
			return textparse_fail(st, name, "%s %.*s: value must be an integer", tn,
					      (int)nlen, name);
		break;
	default:
		break;
	}
	if (t == TEXTPARSE_STATESET) {
		if (v != 0 && v != 1)
			return textparse_fail(st, name, "stateset values must be 0 or 1");
		skip = textparse_find_label(l, n, st->fam, st->fam_len);
		if (skip < 0)
			return textparse_fail(st, name,
					      "stateset sample needs a label named after the family");
	} else if (t == TEXTPARSE_INFO) {
		if (v != 1)
			return textparse_fail(st, name, "info values must be 1");
	} else if (t == TEXTPARSE_SUMMARY && sfx == TEXTPARSE_SFX_NONE) {
		double q;
		skip = textparse_find_label(l, n, "quantile", 8);
		if (skip < 0)
			return textparse_fail(st, name, "summary sample without quantile label");
		if (textparse_om_canonical_float(l[skip].value, l[skip].value_len, &q) < 0 || q < 0 ||
		    q > 1)
			return textparse_fail(st, l[skip].name, "invalid quantile label value");
		if (v < 0)
			return textparse_fail(st, name, "summary quantile value cannot be negative");
	} else if ((t == TEXTPARSE_HISTOGRAM || t == TEXTPARSE_GAUGEHISTOGRAM) &&
		   sfx == TEXTPARSE_SFX_BUCKET) {
		skip = textparse_find_label(l, n, "le", 2);
		if (skip < 0)
			return textparse_fail(st, name, "histogram bucket without le label");
	}

	/* Metric points of one label group are contiguous and, unless info,
	 * their timestamps do not go backwards. */
	uint64_t g = t == TEXTPARSE_INFO ? 0 : textparse_om_group_hash(l, n, skip);
	if (st->om.have_group && g == st->om.group) {
		if (has_ts != st->om.group_has_ts)
			return textparse_fail(st, name,
					      "mix of samples with and without timestamps in one "
					      "metric");
		if (has_ts && t != TEXTPARSE_INFO && ts < st->om.group_ts)
			return textparse_fail(st, name, "timestamps went backwards in one metric");
	} else {
		int rc = textparse_om_hset_add(&st->om.groups, g);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return textparse_fail(st, name,
					      "samples of one label set are not contiguous in "
					      "family %.*s",
					      (int)st->fam_len, st->fam);
	}
	st->om.have_group = 1;
	st->om.group = g;
	st->om.group_has_ts = has_ts;
	st->om.group_ts = ts;

	if (t != TEXTPARSE_HISTOGRAM && t != TEXTPARSE_GAUGEHISTOGRAM)
		return 0;
	struct textparse_om_hist *h = &st->om.hist;
	if (!h->active || h->group != g || h->has_ts != has_ts || (has_ts && h->ts != ts)) {
		int rc = textparse_om_hist_close(st);
		if (rc < 0)
			return rc;
		memset(h, 0, sizeof(*h));
		h->active = 1;
		h->group = g;
		h->has_ts = has_ts;
		h->ts = ts;
		h->line = st->lineno;
	}
	switch (sfx) {
	case TEXTPARSE_SFX_BUCKET: {
		double le;
		if (textparse_om_canonical_float(l[skip].value, l[skip].value_len, &le) < 0)
			return textparse_fail(st, l[skip].name, "invalid le label value");
		if (le < 0)
			h->neg_buckets = 1;
		if (h->has_bucket && le <= h->last_le)
			return textparse_fail(st, l[skip].name, "histogram buckets out of order");
		if (v < h->last_bucket_value)
			return textparse_fail(st, name, "histogram bucket values decrease");
		h->has_bucket = 1;
		h->last_le = le;
		h->last_bucket_value = v;
		break;
	}
	case TEXTPARSE_SFX_COUNT:
	case TEXTPARSE_SFX_GCOUNT:
		h->has_count = 1;
		h->count = v;
		break;
	case TEXTPARSE_SFX_SUM:
		h->has_sum = 1;
		break;
	case TEXTPARSE_SFX_GSUM:
		h->has_gsum = 1;
		if (v < 0)
			h->neg_gsum = 1;
		break;
	default:
		break;
	}
	return 0;
}

/* ---- lines ------------------------------------------------------------- */

/* Parses an OpenMetrics exemplar " # {labels} value [timestamp]" that
 * starts at p (the '#'). Returns 0 or -EINVAL. */
int textparse_om_exemplar(struct textparse_state *st, const char *p, const char *eol)
{
	size_t n = 0, runes = 0;
	const char *tok;
	double v, sec;
	int64_t ms;

	p++;
	if (p >= eol || *p != ' ')
		return textparse_fail(st, p, "expected ' {' after '#' of exemplar");
	p++;
	if (p >= eol || *p != '{')
		return textparse_fail(st, p, "expected '{' to start exemplar labels");
	int rc = textparse_labels(st, &p, eol, st->ex_labels, &n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const struct textparse_label *l = &st->ex_labels[i];
		runes += l->name_len;
		for (size_t k = 0; k < l->value_len; k++)
			runes += ((unsigned char)l->value[k] & 0xc0) != 0x80;
	}
	if (runes > 128)
		return textparse_fail(st, p, "exemplar labels longer than 128 characters");
	if (p >= eol || *p != ' ')
		return textparse_fail(st, p, "expected space before exemplar value");
	tok = ++p;
	while (p < eol && *p != ' ')
		p++;
	if (p == tok)
		return textparse_fail(st, tok, "expected exemplar value");
	if (textparse_parse_float(tok, (size_t)(p - tok), &v) < 0)
		return textparse_fail(st, tok, "invalid exemplar value");
	if (p == eol)
		return 0;
	tok = ++p;
	while (p < eol && *p != ' ')
		p++;
	if (p == tok)
		return textparse_fail(st, tok, "expected exemplar timestamp");
	if (textparse_parse_om_ts(tok, (size_t)(p - tok), &sec, &ms) < 0)
		return textparse_fail(st, tok, "invalid exemplar timestamp");
	if (p != eol)
		return textparse_fail(st, p, "unexpected text after exemplar");
	return 0;
}

/* Parses an OpenMetrics comment line: # HELP / # TYPE / # UNIT / # EOF.
 * Sets *eof on "# EOF". Returns 0, -EINVAL, -ENOMEM or the callback's
 * value. */
int textparse_om_comment(struct textparse_state *st, const char *p, const char *eol,
				int *eof)
{
	struct textparse_meta m;
	int rc;

	p++;
	if (p >= eol || *p != ' ')
		return textparse_fail(st, p, "invalid comment: only # HELP, # TYPE, # UNIT and "
					     "# EOF are allowed");
	p++;
	if (eol - p == 3 && memcmp(p, "EOF", 3) == 0) {
		*eof = 1;
		return textparse_om_end_family(st);
	}
	if (eol - p < 5 || p[4] != ' ' ||
	    (memcmp(p, "HELP", 4) != 0 && memcmp(p, "TYPE", 4) != 0 && memcmp(p, "UNIT", 4) != 0))
		return textparse_fail(st, p, "invalid comment: only # HELP, # TYPE, # UNIT and "
					     "# EOF are allowed");
	m.kind = p[0];
	const char *kw = p;
	p += 5;
	m.family = p;
	if (p >= eol || !TEXTPARSE_IS(*p, TEXTPARSE_C_MSTART))
		return textparse_fail(st, p, p >= eol || *p == ' ' ? "expected metric name"
								  : "invalid metric name");
	for (p++; p < eol && TEXTPARSE_IS(*p, TEXTPARSE_C_MNAME); p++)
		;
	m.family_len = (size_t)(p - m.family);
	if (p >= eol)
		return textparse_fail(st, p, "expected space after metric name");
	if (*p != ' ')
		return textparse_fail(st, p, "invalid metric name");
	p++;
	m.text = p;
	m.text_len = (size_t)(eol - p);
	m.type = TEXTPARSE_UNTYPED;

	if (!st->om.in_family || m.family_len != st->fam_len ||
	    memcmp(m.family, st->fam, st->fam_len) != 0) {
		rc = textparse_om_start_family(st, m.family, m.family_len, m.family);
		if (rc < 0)
			return rc;
	} else if (st->om.has_samples) {
		return textparse_fail(st, kw, "metadata for %.*s after its samples",
				      (int)m.family_len, m.family);
	}
	int *seen = m.kind == 'H' ? &st->om.has_help
				  : m.kind == 'T' ? &st->om.has_type : &st->om.has_unit;
	if (*seen)
		return textparse_fail(st, kw, "duplicate # %.4s for %.*s", kw, (int)m.family_len,
				      m.family);
	*seen = 1;

	if (m.kind == 'H') {
		if (memchr(m.text, '\\', m.text_len)) {
			rc = textparse_scratch_reserve(st, m.text_len);
			if (rc < 0)
				return rc;
			st->scratch_len = 0;
			m.text = textparse_unescape(st, m.text, m.text_len, 1, &m.text_len);
		}
		if (!textparse_utf8_valid((const unsigned char *)m.text, m.text_len))
			return textparse_fail(st, p, "help text is not valid UTF-8");
	} else if (m.kind == 'T') {
		if (textparse_type_of(m.text, m.text_len, st->fmt, &m.type) < 0)
			return textparse_fail(st, p, "invalid metric type \"%.*s\"",
					      (int)(m.text_len > 32 ? 32 : m.text_len), m.text);
		if (st->om.unit_len &&
		    (m.type == TEXTPARSE_INFO || m.type == TEXTPARSE_STATESET))
			return textparse_fail(st, p, "%s families cannot have a unit",
					      textparse_type_names[m.type]);
		st->fam_type = m.type;
		for (int i = 1; i < TEXTPARSE_SFX_N; i++) {
			if (!(textparse_sfx_allowed[TEXTPARSE_OPENMETRICS][m.type] & (1u << i)))
				continue;
			rc = textparse_om_claim(st, m.family, m.family_len, i, m.family);
			if (rc < 0)
				return rc;
		}
	} else {
		if (st->fam_type == TEXTPARSE_INFO || st->fam_type == TEXTPARSE_STATESET)
			return textparse_fail(st, kw, "%s families cannot have a unit",
					      textparse_type_names[st->fam_type]);
		if (m.text_len &&
		    (m.family_len < m.text_len + 1 ||
		     memcmp(m.family + m.family_len - m.text_len, m.text, m.text_len) != 0 ||
		     m.family[m.family_len - m.text_len - 1] != '_'))
			return textparse_fail(st, p, "metric name %.*s does not end with _%.*s",
					      (int)m.family_len, m.family,
					      (int)(m.text_len > 32 ? 32 : m.text_len), m.text);
		st->om.unit = m.text;
		st->om.unit_len = m.text_len;
	}
	return st->meta_fn ? st->meta_fn(st->ctx, &m) : 0;
}

/* Frees the OpenMetrics name and group sets of st; accepts unused sets.
 * Cannot fail. */
void textparse_om_free(struct textparse_state *st)
{
	textparse_om_hset_free(&st->om.names);
	textparse_om_hset_free(&st->om.groups);
}
