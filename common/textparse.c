/* textparse: Prometheus text exposition format 0.0.4 and OpenMetrics 1.0
 * parser (see textparse.h for the API).
 *
 * What it is: one pass over a body held in memory, line by line (memchr
 * finds each line end, so no scan ever reads past the line it is in and
 * nothing reads past buf + len). Names and plain label values are handed to
 * the callback as pointers into the body; label values with escapes are
 * unescaped into one per-parse scratch buffer that is sized to the longest
 * line seen, so there is no allocation per sample.
 *
 * What it is not: a series-key builder, a relabeler or a store. It does not
 * accept Prometheus 3 quoted UTF-8 metric or label names ({"my.metric"}).
 *
 * Modes:
 *  - TEXTPARSE_PROM follows Prometheus' promlex/promparse: blanks (space,
 *    tab) between any tokens, blank lines and free comments allowed, integer
 *    millisecond timestamps, trailing comma in label sets, a CR before the LF
 *    is ignored. Unlike Prometheus a NUL at the start of a line is an error
 *    (Prometheus silently stops parsing there).
 *  - TEXTPARSE_OPENMETRICS is strict: single spaces, only # HELP/TYPE/UNIT/EOF
 *    comments, float second timestamps, exemplars, "# EOF" last, and the
 *    family rules of the spec (as the reference Python parser checks them):
 *    sample names must carry their type's suffixes, families are contiguous
 *    and do not clash, metadata precedes samples and is not repeated,
 *    counter-like values are not negative or NaN, histogram buckets are
 *    ordered with an +Inf bucket and matching _count, summary quantiles lie
 *    in [0, 1], stateset/info values, metric points of one label set are
 *    contiguous with non-decreasing timestamps. Those checks keep 64-bit
 *    hashes of names and label groups: a hash collision (p ~ n^2 / 2^64)
 *    could reject a valid body, never accept an invalid one.
 *
 * Shared rules: label values are valid UTF-8; escapes \\ \" \n are resolved
 * and any other backslash pair is kept as written (as Prometheus does); a
 * backslash at the end of a line is an invalid escape. Float values follow
 * Go's strconv.ParseFloat minus hex and underscores (Prometheus' parseFloat):
 * out-of-range values such as 1e400 are rejected (Go returns ErrRange and
 * Prometheus rejects the line), underflow rounds to 0. NaN is returned as
 * Prometheus' "normal NaN" (0x7ff8000000000001), never the stale marker.
 * The rare values the exact fast path cannot take go to strtod, so the
 * process must keep LC_NUMERIC as "C" (the default without setlocale).
 *
 * Thread safety: no mutable globals; concurrent parses are independent.
 */
#include "common/textparse.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ---- character classes -------------------------------------------------- */

#define TEXTPARSE_C_MSTART 0x01 /* [a-zA-Z_:] metric name start */
#define TEXTPARSE_C_MNAME 0x02  /* [a-zA-Z0-9_:] */
#define TEXTPARSE_C_LSTART 0x04 /* [a-zA-Z_] label name start */
#define TEXTPARSE_C_LNAME 0x08  /* [a-zA-Z0-9_] */
#define TEXTPARSE_C_DIGIT 0x10  /* [0-9] */
#define TEXTPARSE_C_BLANK 0x20  /* space, tab */
#define TEXTPARSE_C_LVSTOP 0x40 /* '"', '\\', >= 0x80: leave the label value fast scan */

#define TEXTPARSE_C_LETTER \
	(TEXTPARSE_C_MSTART | TEXTPARSE_C_MNAME | TEXTPARSE_C_LSTART | TEXTPARSE_C_LNAME)

static const uint8_t textparse_cls[256] = {
	['a' ... 'z'] = TEXTPARSE_C_LETTER,
	['A' ... 'Z'] = TEXTPARSE_C_LETTER,
	['_'] = TEXTPARSE_C_LETTER,
	[':'] = TEXTPARSE_C_MSTART | TEXTPARSE_C_MNAME,
	['0' ... '9'] = TEXTPARSE_C_MNAME | TEXTPARSE_C_LNAME | TEXTPARSE_C_DIGIT,
	[' '] = TEXTPARSE_C_BLANK,
	['\t'] = TEXTPARSE_C_BLANK,
	['"'] = TEXTPARSE_C_LVSTOP,
	['\\'] = TEXTPARSE_C_LVSTOP,
	[0x80 ... 0xff] = TEXTPARSE_C_LVSTOP,
};

#define TEXTPARSE_IS(c, k) (textparse_cls[(unsigned char)(c)] & (k))

/* Prometheus' value.NormalNaN: the NaN an exposition's "NaN" becomes. */
#define TEXTPARSE_NORMAL_NAN_BITS 0x7ff8000000000001ULL

/* ---- sample name suffixes ------------------------------------------------ */

enum textparse_sfx {
	TEXTPARSE_SFX_NONE = 0,
	TEXTPARSE_SFX_TOTAL,
	TEXTPARSE_SFX_CREATED,
	TEXTPARSE_SFX_BUCKET,
	TEXTPARSE_SFX_COUNT,
	TEXTPARSE_SFX_SUM,
	TEXTPARSE_SFX_GCOUNT,
	TEXTPARSE_SFX_GSUM,
	TEXTPARSE_SFX_INFO,
	TEXTPARSE_SFX_N,
};

static const struct {
	const char *s;
	size_t len;
} textparse_sfx_names[TEXTPARSE_SFX_N] = {
	{"", 0},	   {"_total", 6}, {"_created", 8}, {"_bucket", 7}, {"_count", 6},
	{"_sum", 4},	   {"_gcount", 7}, {"_gsum", 5},	{"_info", 5},
};

#define TEXTPARSE_B(x) (1u << TEXTPARSE_SFX_##x)

/* Suffixes a family's samples may carry, by format and type. */
static const unsigned textparse_sfx_allowed[2][8] = {
	[TEXTPARSE_PROM] = {
		[TEXTPARSE_UNTYPED] = TEXTPARSE_B(NONE),
		[TEXTPARSE_COUNTER] = TEXTPARSE_B(NONE) | TEXTPARSE_B(TOTAL),
		[TEXTPARSE_GAUGE] = TEXTPARSE_B(NONE),
		[TEXTPARSE_HISTOGRAM] = TEXTPARSE_B(BUCKET) | TEXTPARSE_B(COUNT) | TEXTPARSE_B(SUM),
		[TEXTPARSE_SUMMARY] = TEXTPARSE_B(NONE) | TEXTPARSE_B(COUNT) | TEXTPARSE_B(SUM),
	},
	[TEXTPARSE_OPENMETRICS] = {
		[TEXTPARSE_UNTYPED] = TEXTPARSE_B(NONE),
		[TEXTPARSE_COUNTER] = TEXTPARSE_B(TOTAL) | TEXTPARSE_B(CREATED),
		[TEXTPARSE_GAUGE] = TEXTPARSE_B(NONE),
		[TEXTPARSE_HISTOGRAM] = TEXTPARSE_B(BUCKET) | TEXTPARSE_B(COUNT) |
					TEXTPARSE_B(SUM) | TEXTPARSE_B(CREATED),
		[TEXTPARSE_GAUGEHISTOGRAM] = TEXTPARSE_B(BUCKET) | TEXTPARSE_B(GCOUNT) |
					     TEXTPARSE_B(GSUM),
		[TEXTPARSE_SUMMARY] = TEXTPARSE_B(NONE) | TEXTPARSE_B(COUNT) | TEXTPARSE_B(SUM) |
				      TEXTPARSE_B(CREATED),
		[TEXTPARSE_INFO] = TEXTPARSE_B(INFO),
		[TEXTPARSE_STATESET] = TEXTPARSE_B(NONE),
	},
};

static const char *const textparse_type_names[8] = {
	"unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset",
};

/* ---- parser state -------------------------------------------------------- */

/* A set of 64-bit hashes, open addressing. An entry is live when its
 * generation equals the set's, so bumping gen empties the set in O(1). */
struct textparse_hset {
	uint64_t *keys;
	uint32_t *gens;
	size_t cap; /* power of two, 0 until the first insert */
	size_t n;   /* live entries */
	uint32_t gen;
};

/* One histogram metric point being checked (OpenMetrics): the samples that
 * share a label group (le removed) and a timestamp. */
struct textparse_hist {
	int active;
	uint64_t group;
	int has_ts;
	double ts;
	uint32_t line;		  /* first line of the point, for errors */
	int has_bucket;
	double last_le;		  /* le of the last bucket */
	double last_bucket_value; /* 0 before the first bucket */
	int has_count;
	double count;
	int neg_buckets, has_sum, has_gsum, neg_gsum;
};

/* OpenMetrics family and grouping state. */
struct textparse_om {
	int in_family;
	int has_help, has_type, has_unit, has_samples;
	const char *unit; /* into the body */
	size_t unit_len;
	struct textparse_hset names;  /* families and the sample names they own */
	struct textparse_hset groups; /* label groups seen in the current family */
	int have_group;
	uint64_t group;
	int group_has_ts;
	double group_ts;
	struct textparse_hist hist;
};

struct textparse_state {
	const char *buf, *end;
	enum textparse_format fmt;
	uint32_t lineno;
	const char *line; /* start of the current line */
	struct textparse_error *err;
	textparse_sample_fn sample_fn;
	textparse_meta_fn meta_fn;
	void *ctx;

	/* Current family: the last # TYPE (PROM) or the OpenMetrics family. */
	const char *fam;
	size_t fam_len;
	enum textparse_type fam_type;

	char *scratch; /* unescaped label values / help of the current line */
	size_t scratch_cap, scratch_len;

	struct textparse_om om;
	struct textparse_label labels[TEXTPARSE_MAX_LABELS];
	struct textparse_label ex_labels[TEXTPARSE_MAX_LABELS];
	char scratch_inline[2048];
};

/* ---- errors ------------------------------------------------------------ */

/* Records an error at `pos` (a pointer into the current line, or NULL for
 * column 1) on line `line` (0 = the current line). Returns -EINVAL. */
static int __attribute__((format(printf, 4, 5)))
textparse_fail_at(struct textparse_state *st, uint32_t line, const char *pos, const char *fmt, ...)
{
	struct textparse_error *e = st->err;
	va_list ap;

	e->line = line ? line : st->lineno;
	e->column = (line || !pos || !st->line) ? 1 : (uint32_t)(pos - st->line) + 1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

#define textparse_fail(st, pos, ...) textparse_fail_at((st), 0, (pos), __VA_ARGS__)

/* ---- hash sets ----------------------------------------------------------- */

/* Inserts key. Returns 1 when it was new, 0 when already present, -ENOMEM.
 * The set owns its arrays; textparse_hset_free releases them. */
static int textparse_hset_add(struct textparse_hset *h, uint64_t key)
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
static void textparse_hset_clear(struct textparse_hset *h)
{
	h->n = 0;
	if (++h->gen == 0) { /* wrapped: really clear once every 2^32 resets */
		if (h->gens)
			memset(h->gens, 0, h->cap * sizeof(*h->gens));
		h->gen = 1;
	}
}

/* Frees the arrays and zeroes the set; accepts an unused set. */
static void textparse_hset_free(struct textparse_hset *h)
{
	free(h->keys);
	free(h->gens);
	memset(h, 0, sizeof(*h));
}

/* ---- names and numbers --------------------------------------------------- */

/* See textparse.h. Returns 1 when s[0..len) is a valid metric name. */
int textparse_valid_metric_name(const char *s, size_t len)
{
	if (len == 0 || !TEXTPARSE_IS(s[0], TEXTPARSE_C_MSTART))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!TEXTPARSE_IS(s[i], TEXTPARSE_C_MNAME))
			return 0;
	return 1;
}

/* See textparse.h. Returns 1 when s[0..len) is a valid label name. */
int textparse_valid_label_name(const char *s, size_t len)
{
	if (len == 0 || !TEXTPARSE_IS(s[0], TEXTPARSE_C_LSTART))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!TEXTPARSE_IS(s[i], TEXTPARSE_C_LNAME))
			return 0;
	return 1;
}

/* Case-insensitive compare of s[0..len) with the lower-case word w. */
static int textparse_ieq(const char *s, size_t len, const char *w)
{
	size_t wl = strlen(w);
	if (len != wl)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((s[i] | 0x20) != w[i])
			return 0;
	return 1;
}

static const double textparse_pow10[23] = {
	1e0,  1e1,  1e2,  1e3,	1e4,  1e5,  1e6,  1e7,	1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Converts the validated decimal s[0..len) with strtod, which rounds
 * correctly as Go's ParseFloat does. Returns 0, -EINVAL when the magnitude
 * overflows (Go: ErrRange), -ENOMEM. */
static int textparse_float_slow(const char *s, size_t len, double *out)
{
	char small[128];
	char *tmp = small;
	char *endp;
	double d;

	if (len >= sizeof(small)) {
		tmp = malloc(len + 1);
		if (!tmp)
			return -ENOMEM;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	d = strtod(tmp, &endp);
	int bad = (endp != tmp + len) || (errno == ERANGE && isinf(d));
	if (tmp != small)
		free(tmp);
	if (bad)
		return -EINVAL;
	*out = d;
	return 0;
}

/* Parses a float value: [+-] digits [. digits] [(e|E) [+-] digits], or
 * [+-]Inf / [+-]Infinity / NaN in any case. Plain decimals whose digits fit
 * in 2^53 with a power of ten up to 22 are computed exactly with one IEEE
 * operation (Clinger's fast path, bit-identical to strtod); the rest goes to
 * strtod. Returns 0 or -EINVAL (syntax or overflow). */
int textparse_parse_float(const char *s, size_t len, double *out)
{
	const char *p = s, *e = s + len;
	int neg = 0, any = 0, trunc = 0, ndig = 0;
	uint64_t mant = 0;
	int64_t exp10 = 0;

	if (len == 0)
		return -EINVAL;
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
		if (p == e)
			return -EINVAL;
	}
	if (!TEXTPARSE_IS(*p, TEXTPARSE_C_DIGIT) && *p != '.') {
		size_t rest = (size_t)(e - p);
		if (textparse_ieq(p, rest, "inf") || textparse_ieq(p, rest, "infinity")) {
			*out = neg ? -INFINITY : INFINITY;
			return 0;
		}
		if (p == s && textparse_ieq(p, rest, "nan")) {
			uint64_t bits = TEXTPARSE_NORMAL_NAN_BITS;
			memcpy(out, &bits, sizeof(bits));
			return 0;
		}
		return -EINVAL;
	}
	for (; p < e && TEXTPARSE_IS(*p, TEXTPARSE_C_DIGIT); p++) {
		unsigned d = (unsigned)(*p - '0');
		any = 1;
		if (mant == 0 && d == 0)
			continue;
		if (ndig < 19) {
			mant = mant * 10 + d;
			ndig++;
		} else {
			trunc = 1;
			exp10++;
		}
	}
	if (p < e && *p == '.') {
		for (p++; p < e && TEXTPARSE_IS(*p, TEXTPARSE_C_DIGIT); p++) {
			unsigned d = (unsigned)(*p - '0');
			any = 1;
			if (mant == 0 && d == 0) {
				exp10--;
				continue;
			}
			if (ndig < 19) {
				mant = mant * 10 + d;
				ndig++;
				exp10--;
			} else {
				trunc = 1;
			}
		}
	}
	if (!any)
		return -EINVAL;
	if (p < e && (*p == 'e' || *p == 'E')) {
		int eneg = 0;
		int64_t ev = 0;
		p++;
		if (p < e && (*p == '+' || *p == '-')) {
			eneg = *p == '-';
			p++;
		}
		if (p == e || !TEXTPARSE_IS(*p, TEXTPARSE_C_DIGIT))
			return -EINVAL;
		for (; p < e && TEXTPARSE_IS(*p, TEXTPARSE_C_DIGIT); p++)
			if (ev < 100000)
				ev = ev * 10 + (*p - '0');
		exp10 += eneg ? -ev : ev;
	}
	if (p != e)
		return -EINVAL;
	if (mant == 0) {
		*out = neg ? -0.0 : 0.0;
		return 0;
	}
	if (!trunc && mant <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
		double d = (double)mant;
		if (exp10 > 0)
			d *= textparse_pow10[exp10];
		else if (exp10 < 0)
			d /= textparse_pow10[-exp10];
		*out = neg ? -d : d;
		return 0;
	}
	int rc = textparse_float_slow(s, len, out);
	return rc == -ENOMEM ? -EINVAL : rc;
}

/* Parses a text 0.0.4 timestamp: decimal digits only (promlex), no sign,
 * into *out milliseconds. Returns 0 or -EINVAL (syntax, overflow). */
static int textparse_parse_int_ts(const char *s, size_t len, int64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!TEXTPARSE_IS(s[i], TEXTPARSE_C_DIGIT))
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = (int64_t)v;
	return 0;
}

/* Parses an OpenMetrics timestamp (float seconds, finite) into *sec and
 * *ms = int64(sec * 1000) truncated, as Prometheus does; beyond the int64
 * range it saturates (Go's conversion is undefined there). Returns 0 or
 * -EINVAL. */
static int textparse_parse_om_ts(const char *s, size_t len, double *sec, int64_t *ms)
{
	double t;
	if (textparse_parse_float(s, len, &t) < 0 || !isfinite(t))
		return -EINVAL;
	double m = t * 1000.0;
	if (m >= 9223372036854775807.0)
		*ms = INT64_MAX;
	else if (m <= -9223372036854775808.0)
		*ms = INT64_MIN;
	else
		*ms = (int64_t)m;
	*sec = t;
	return 0;
}

/* Returns 1 when s[0..len) is
 * valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF, as
 * Go's utf8.Valid), else 0. */
static int textparse_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (len - i - 1 < n)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += n + 1;
	}
	return 1;
}

/* ---- scratch ------------------------------------------------------------- */

/* Makes the scratch buffer hold at least `need` bytes. Called only before
 * the first unescape of a line (see textparse_labels), so no pointer into
 * the old buffer is live. Returns 0 or -ENOMEM. */
static int textparse_scratch_reserve(struct textparse_state *st, size_t need)
{
	if (need <= st->scratch_cap)
		return 0;
	size_t ncap = st->scratch_cap * 2;
	if (ncap < need)
		ncap = need;
	char *n = malloc(ncap);
	if (!n)
		return -ENOMEM;
	if (st->scratch != st->scratch_inline)
		free(st->scratch);
	st->scratch = n;
	st->scratch_cap = ncap;
	st->scratch_len = 0;
	return 0;
}

/* Unescapes s[0..len) into the scratch buffer: \\ \" \n are resolved (\"
 * only when `quote`), other pairs kept. The caller has reserved the line
 * length. Returns the copy (valid until the next line). */
static const char *textparse_unescape(struct textparse_state *st, const char *s, size_t len,
				      int quote, size_t *out_len)
{
	char *o = st->scratch + st->scratch_len, *start = o;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len) {
			char n = s[i + 1];
			if (n == '\\' || n == 'n' || (quote && n == '"')) {
				*o++ = n == 'n' ? '\n' : n;
				i++;
				continue;
			}
		}
		*o++ = s[i];
	}
	*out_len = (size_t)(o - start);
	st->scratch_len += *out_len;
	return start;
}

/* ---- label sets ---------------------------------------------------------- */

/* Advances p over spaces and tabs, never past eol. */
#define textparse_skip_blanks(p, eol)                                           \
	do {                                                                    \
		while ((p) < (eol) && TEXTPARSE_IS(*(p), TEXTPARSE_C_BLANK))    \
			(p)++;                                                  \
	} while (0)

/* Parses a label set starting at *pp == '{' into out[], with values
 * unescaped. Leaves *pp after the '}'. Returns 0, -EINVAL (error recorded)
 * or -ENOMEM. */
static int textparse_labels(struct textparse_state *st, const char **pp, const char *eol,
			    struct textparse_label *out, size_t *nout)
{
	const int prom = st->fmt == TEXTPARSE_PROM;
	const char *p = *pp + 1;
	size_t n = 0;

	for (;;) {
		if (prom)
			textparse_skip_blanks(p, eol);
		if (p >= eol)
			return textparse_fail(st, p, "unterminated label set: expected '}'");
		if (*p == '}') {
			p++;
			break;
		}
		const char *ln = p;
		if (!TEXTPARSE_IS(*p, TEXTPARSE_C_LSTART))
			return textparse_fail(st, p, "invalid label name");
		for (p++; p < eol && TEXTPARSE_IS(*p, TEXTPARSE_C_LNAME); p++)
			;
		size_t ln_len = (size_t)(p - ln);
		if (prom)
			textparse_skip_blanks(p, eol);
		if (p >= eol || *p != '=') {
			if (p < eol && *p != '"' && *p != '}' && *p != ',' &&
			    !TEXTPARSE_IS(*p, TEXTPARSE_C_BLANK))
				return textparse_fail(st, p, "invalid label name");
			return textparse_fail(st, p, "expected '=' after label name");
		}
		p++;
		if (prom)
			textparse_skip_blanks(p, eol);
		if (p >= eol || *p != '"')
			return textparse_fail(st, p, "expected label value (a quoted string)");
		const char *q = p++;
		const char *v = p;
		int esc = 0, high = 0;
		for (;;) {
			while (p < eol && !TEXTPARSE_IS(*p, TEXTPARSE_C_LVSTOP))
				p++;
			if (p >= eol)
				return textparse_fail(st, q, "unterminated label value");
			if (*p == '"')
				break;
			if (*p == '\\') {
				if (p + 1 >= eol)
					return textparse_fail(st, p, "invalid escape at end of line");
				esc = 1;
				p += 2;
				continue;
			}
			high = 1;
			p++;
		}
		size_t v_len = (size_t)(p - v);
		p++; /* closing quote */
		if (high && !textparse_utf8_valid((const unsigned char *)v, v_len))
			return textparse_fail(st, v, "invalid UTF-8 in label value");
		if (esc) {
			int rc = textparse_scratch_reserve(st, (size_t)(eol - st->line));
			if (rc < 0)
				return rc;
			v = textparse_unescape(st, v, v_len, 1, &v_len);
		}
		for (size_t i = 0; i < n; i++)
			if (out[i].name_len == ln_len && memcmp(out[i].name, ln, ln_len) == 0)
				return textparse_fail(st, ln, "duplicate label name \"%.*s\"",
						      (int)ln_len, ln);
		if (n == TEXTPARSE_MAX_LABELS)
			return textparse_fail(st, ln, "too many labels (more than %d)",
					      TEXTPARSE_MAX_LABELS);
		out[n].name = ln;
		out[n].name_len = ln_len;
		out[n].value = v;
		out[n].value_len = v_len;
		n++;
		if (prom)
			textparse_skip_blanks(p, eol);
		if (p < eol && *p == ',') {
			p++;
			continue;
		}
		if (p < eol && *p == '}') {
			p++;
			break;
		}
		return textparse_fail(st, p, "expected ',' or '}' after label value");
	}
	*pp = p;
	*nout = n;
	return 0;
}

/* Returns the index of the label called name, or -1. */
static int textparse_find_label(const struct textparse_label *l, size_t n, const char *name,
				size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].name_len == len && memcmp(l[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* ---- families ------------------------------------------------------------ */

/* Returns the suffix with which `name` belongs to the current family, or -1
 * when it does not belong to it. */
static int textparse_family_suffix(const struct textparse_state *st, const char *name, size_t len)
{
	if (!st->fam || len < st->fam_len || memcmp(name, st->fam, st->fam_len) != 0)
		return -1;
	unsigned allowed = textparse_sfx_allowed[st->fmt][st->fam_type];
	size_t rest = len - st->fam_len;
	const char *r = name + st->fam_len;
	if (rest == 0)
		return (allowed & TEXTPARSE_B(NONE)) ? TEXTPARSE_SFX_NONE : -1;
	if (r[0] != '_')
		return -1;
	for (int i = 1; i < TEXTPARSE_SFX_N; i++)
		if ((allowed & (1u << i)) && textparse_sfx_names[i].len == rest &&
		    memcmp(r, textparse_sfx_names[i].s, rest) == 0)
			return i;
	return -1;
}

/* Returns the 64-bit hash (XXH3) of s[0..len) under seed. */
static uint64_t textparse_hash(const char *s, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(s, len, seed);
}

/* Returns the hash of name + suffix, the key of the OpenMetrics name set. */
static uint64_t textparse_name_hash(const char *name, size_t len, int sfx)
{
	char tmp[256];
	size_t sl = textparse_sfx_names[sfx].len;
	if (len + sl > sizeof(tmp)) {
		/* Long names: hash the two parts; distinct enough for the set. */
		return textparse_hash(name, len, 0) ^
		       textparse_hash(textparse_sfx_names[sfx].s, sl, 0x9e3779b97f4a7c15ULL);
	}
	memcpy(tmp, name, len);
	memcpy(tmp + len, textparse_sfx_names[sfx].s, sl);
	return textparse_hash(tmp, len + sl, 0);
}

/* Runs the histogram checks of the OpenMetrics reference parser on the
 * metric point in st->om.hist and closes it. Returns 0 or -EINVAL. */
static int textparse_hist_close(struct textparse_state *st)
{
	struct textparse_hist *h = &st->om.hist;
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
	int rc = textparse_hist_close(st);
	st->om.in_family = 0;
	return rc;
}

/* Claims name+suffix in the name set. Returns 0, -EINVAL on a clash,
 * -ENOMEM. */
static int textparse_om_claim(struct textparse_state *st, const char *name, size_t len, int sfx,
			      const char *pos)
{
	int rc = textparse_hset_add(&st->om.names, textparse_name_hash(name, len, sfx));
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
static int textparse_om_start_family(struct textparse_state *st, const char *name, size_t len,
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
	textparse_hset_clear(&st->om.groups);
	return 0;
}

/* Returns an order-independent hash of the label set without label `skip`
 * (-1: none), so that {a,b} and {b,a} are one group. */
static uint64_t textparse_group_hash(const struct textparse_label *l, size_t n, int skip)
{
	uint64_t g = 0x243f6a8885a308d3ULL;
	for (size_t i = 0; i < n; i++) {
		if ((int)i == skip)
			continue;
		uint64_t a = textparse_hash(l[i].name, l[i].name_len, 1);
		uint64_t b = textparse_hash(l[i].value, l[i].value_len, a);
		g += b ^ (b >> 29);
	}
	return g;
}

/* Parses an le or quantile label value into *out. Returns 0 when it is a
 * canonical OpenMetrics float (infinities spelled +Inf / -Inf, not NaN),
 * else -EINVAL. */
static int textparse_canonical_float(const char *s, size_t len, double *out)
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
static int textparse_om_sample(struct textparse_state *st, const char *name, size_t nlen, int sfx,
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
		if (textparse_canonical_float(l[skip].value, l[skip].value_len, &q) < 0 || q < 0 ||
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
	uint64_t g = t == TEXTPARSE_INFO ? 0 : textparse_group_hash(l, n, skip);
	if (st->om.have_group && g == st->om.group) {
		if (has_ts != st->om.group_has_ts)
			return textparse_fail(st, name,
					      "mix of samples with and without timestamps in one "
					      "metric");
		if (has_ts && t != TEXTPARSE_INFO && ts < st->om.group_ts)
			return textparse_fail(st, name, "timestamps went backwards in one metric");
	} else {
		int rc = textparse_hset_add(&st->om.groups, g);
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
	struct textparse_hist *h = &st->om.hist;
	if (!h->active || h->group != g || h->has_ts != has_ts || (has_ts && h->ts != ts)) {
		int rc = textparse_hist_close(st);
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
		if (textparse_canonical_float(l[skip].value, l[skip].value_len, &le) < 0)
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

/* ---- lines --------------------------------------------------------------- */

/* Parses an OpenMetrics exemplar " # {labels} value [timestamp]" that
 * starts at p (the '#'). Returns 0 or -EINVAL. */
static int textparse_exemplar(struct textparse_state *st, const char *p, const char *eol)
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

/* Parses one sample line [p, eol) and calls the sample callback. Returns 0,
 * -EINVAL, -ENOMEM or the callback's value. */
static int textparse_sample_line(struct textparse_state *st, const char *p, const char *eol)
{
	const int prom = st->fmt == TEXTPARSE_PROM;
	struct textparse_sample s;
	const char *name = p, *tok;
	double ts_sec = 0;
	int ex = 0, rc;

	if (!TEXTPARSE_IS(*p, TEXTPARSE_C_MSTART))
		return textparse_fail(st, p, *p == '\0' ? "unexpected NUL byte"
				      : TEXTPARSE_IS(*p, TEXTPARSE_C_BLANK)
					      ? "invalid metric name: line starts with a blank"
					      : "invalid metric name");
	for (p++; p < eol && TEXTPARSE_IS(*p, TEXTPARSE_C_MNAME); p++)
		;
	s.name = name;
	s.name_len = (size_t)(p - name);
	s.labels = st->labels;
	s.nlabels = 0;
	s.has_timestamp = 0;
	s.timestamp_ms = 0;
	s.line = st->lineno;
	st->scratch_len = 0;

	if (prom && p < eol && TEXTPARSE_IS(*p, TEXTPARSE_C_BLANK)) {
		/* promlex allows blanks between the name and the '{'. */
		const char *q = p;
		textparse_skip_blanks(q, eol);
		if (q < eol && *q == '{')
			p = q;
	}
	if (p < eol && *p == '{') {
		rc = textparse_labels(st, &p, eol, st->labels, &s.nlabels);
		if (rc < 0)
			return rc;
		if (prom)
			textparse_skip_blanks(p, eol);
		else if (p < eol && *p != ' ')
			return textparse_fail(st, p, "expected space before value");
		else if (p < eol)
			p++;
	} else if (p < eol) {
		if (prom ? !TEXTPARSE_IS(*p, TEXTPARSE_C_BLANK) : *p != ' ')
			return textparse_fail(st, p, "invalid metric name");
		p++;
		if (prom)
			textparse_skip_blanks(p, eol);
	}

	/* Value. */
	tok = p;
	if (prom)
		while (p < eol && !TEXTPARSE_IS(*p, TEXTPARSE_C_BLANK))
			p++;
	else
		while (p < eol && *p != ' ')
			p++;
	if (p == tok)
		return textparse_fail(st, tok, "expected value");
	if (textparse_parse_float(tok, (size_t)(p - tok), &s.value) < 0)
		return textparse_fail(st, tok, "invalid value \"%.*s\"",
				      (int)(p - tok > 64 ? 64 : p - tok), tok);

	/* Timestamp and, in OpenMetrics, exemplar. */
	if (prom) {
		textparse_skip_blanks(p, eol);
		if (p < eol) {
			tok = p;
			while (p < eol && !TEXTPARSE_IS(*p, TEXTPARSE_C_BLANK))
				p++;
			if (textparse_parse_int_ts(tok, (size_t)(p - tok), &s.timestamp_ms) < 0)
				return textparse_fail(st, tok, "invalid timestamp (integer ms)");
			s.has_timestamp = 1;
			textparse_skip_blanks(p, eol);
			if (p < eol)
				return textparse_fail(st, p, "unexpected text after timestamp");
		}
	} else if (p < eol) {
		tok = ++p;
		if (p == eol)
			return textparse_fail(st, p, "trailing space after value");
		if (*p != '#') {
			while (p < eol && *p != ' ')
				p++;
			if (p == tok)
				return textparse_fail(st, tok, "expected timestamp");
			if (textparse_parse_om_ts(tok, (size_t)(p - tok), &ts_sec,
						  &s.timestamp_ms) < 0)
				return textparse_fail(st, tok, "invalid timestamp");
			s.has_timestamp = 1;
			if (p < eol) {
				p++;
				if (p == eol || *p != '#')
					return textparse_fail(st, p,
							      "unexpected text after timestamp");
			}
		}
		if (p < eol) {
			rc = textparse_exemplar(st, p, eol);
			if (rc < 0)
				return rc;
			ex = 1;
		}
	}

	/* Family. */
	int sfx = textparse_family_suffix(st, s.name, s.name_len);
	if (!prom) {
		if (sfx < 0) {
			if (st->om.in_family && s.name_len == st->fam_len &&
			    memcmp(s.name, st->fam, st->fam_len) == 0)
				return textparse_fail(st, name, "%s sample %.*s lacks a type suffix",
						      textparse_type_names[st->fam_type],
						      (int)s.name_len, s.name);
			rc = textparse_om_start_family(st, s.name, s.name_len, name);
			if (rc < 0)
				return rc;
			sfx = TEXTPARSE_SFX_NONE;
		}
		st->om.has_samples = 1;
		rc = textparse_om_sample(st, s.name, s.name_len, sfx, s.labels, s.nlabels, s.value,
					 s.has_timestamp, ts_sec, ex);
		if (rc < 0)
			return rc;
	}
	s.type = sfx < 0 ? TEXTPARSE_UNTYPED : st->fam_type;
	return st->sample_fn ? st->sample_fn(st->ctx, &s) : 0;
}

/* Maps a type word to the enum. Returns 0 or -EINVAL. */
static int textparse_type_of(const char *s, size_t len, enum textparse_format fmt,
			     enum textparse_type *out)
{
	for (int i = 0; i < 8; i++) {
		const char *w = textparse_type_names[i];
		if (strlen(w) == len && memcmp(w, s, len) == 0) {
			if (fmt == TEXTPARSE_PROM && i != TEXTPARSE_COUNTER &&
			    i != TEXTPARSE_GAUGE && i != TEXTPARSE_HISTOGRAM &&
			    i != TEXTPARSE_SUMMARY)
				return -EINVAL;
			*out = (enum textparse_type)i;
			return 0;
		}
	}
	if (fmt == TEXTPARSE_PROM && len == 7 && memcmp(s, "untyped", 7) == 0) {
		*out = TEXTPARSE_UNTYPED;
		return 0;
	}
	return -EINVAL;
}

/* Parses a text 0.0.4 comment line. # HELP and # TYPE go to the meta
 * callback, other comments are ignored. Returns 0, -EINVAL, or the
 * callback's value. */
static int textparse_prom_comment(struct textparse_state *st, const char *p, const char *eol)
{
	struct textparse_meta m;

	p++;
	if (p >= eol || !TEXTPARSE_IS(*p, TEXTPARSE_C_BLANK))
		return 0;
	textparse_skip_blanks(p, eol);
	if (eol - p < 5 || (memcmp(p, "HELP", 4) != 0 && memcmp(p, "TYPE", 4) != 0) ||
	    !TEXTPARSE_IS(p[4], TEXTPARSE_C_BLANK))
		return 0;
	m.kind = p[0] == 'H' ? 'H' : 'T';
	p += 4;
	textparse_skip_blanks(p, eol);
	m.family = p;
	if (p >= eol)
		return textparse_fail(st, p, "expected metric name after # %s",
				      m.kind == 'H' ? "HELP" : "TYPE");
	if (!TEXTPARSE_IS(*p, TEXTPARSE_C_MSTART))
		return textparse_fail(st, p, "invalid metric name");
	for (p++; p < eol && TEXTPARSE_IS(*p, TEXTPARSE_C_MNAME); p++)
		;
	m.family_len = (size_t)(p - m.family);
	if (p < eol && !TEXTPARSE_IS(*p, TEXTPARSE_C_BLANK))
		return textparse_fail(st, p, "invalid metric name");
	m.type = TEXTPARSE_UNTYPED;
	if (m.kind == 'H') {
		if (p < eol)
			p++; /* one separator; the rest is help text */
		size_t tl = (size_t)(eol - p);
		if (memchr(p, '\\', tl)) {
			int rc = textparse_scratch_reserve(st, tl);
			if (rc < 0)
				return rc;
			st->scratch_len = 0;
			m.text = textparse_unescape(st, p, tl, 0, &m.text_len);
		} else {
			m.text = p;
			m.text_len = tl;
		}
		if (!textparse_utf8_valid((const unsigned char *)m.text, m.text_len))
			return textparse_fail(st, p, "help text is not valid UTF-8");
	} else {
		textparse_skip_blanks(p, eol);
		const char *w = p;
		while (p < eol && !TEXTPARSE_IS(*p, TEXTPARSE_C_BLANK))
			p++;
		m.text = w;
		m.text_len = (size_t)(p - w);
		if (textparse_type_of(w, m.text_len, st->fmt, &m.type) < 0)
			return textparse_fail(st, w, "invalid metric type \"%.*s\"",
					      (int)(m.text_len > 32 ? 32 : m.text_len), w);
		textparse_skip_blanks(p, eol);
		if (p < eol)
			return textparse_fail(st, p, "unexpected text after metric type");
		st->fam = m.family;
		st->fam_len = m.family_len;
		st->fam_type = m.type;
	}
	return st->meta_fn ? st->meta_fn(st->ctx, &m) : 0;
}

/* Parses an OpenMetrics comment line: # HELP / # TYPE / # UNIT / # EOF.
 * Sets *eof on "# EOF". Returns 0, -EINVAL, -ENOMEM or the callback's
 * value. */
static int textparse_om_comment(struct textparse_state *st, const char *p, const char *eol,
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

/* ---- entry point --------------------------------------------------------- */

/* See textparse.h. The state lives on the stack; the scratch buffer and the
 * OpenMetrics sets are the only heap memory and are freed before return. */
int textparse_parse(const char *buf, size_t len, enum textparse_format format,
		    textparse_sample_fn sample_fn, textparse_meta_fn meta_fn, void *ctx,
		    struct textparse_error *err)
{
	struct textparse_error dummy;
	struct textparse_state *st;
	const char *p = buf, *end = buf + len;
	int rc = 0, eof = 0;

	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	if (format != TEXTPARSE_PROM && format != TEXTPARSE_OPENMETRICS)
		return -EINVAL;
	if (!buf && len)
		return -EINVAL;
	/* Too big for comfort on small thread stacks: one allocation per parse. */
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	memset(st, 0, offsetof(struct textparse_state, labels));
	st->buf = buf;
	st->end = end;
	st->fmt = format;
	st->err = err;
	st->sample_fn = sample_fn;
	st->meta_fn = meta_fn;
	st->ctx = ctx;
	st->scratch = st->scratch_inline;
	st->scratch_cap = sizeof(st->scratch_inline);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *next = nl ? nl + 1 : end;

		st->lineno++;
		st->line = p;
		if (eof) {
			rc = textparse_fail(st, p, "text after # EOF");
			break;
		}
		if (format == TEXTPARSE_PROM) {
			if (eol > p && eol[-1] == '\r')
				eol--;
			const char *q = p;
			textparse_skip_blanks(q, eol);
			if (q == eol) {
				p = next;
				continue;
			}
			rc = *q == '#' ? textparse_prom_comment(st, q, eol)
				       : textparse_sample_line(st, q, eol);
		} else {
			if (p == eol) {
				rc = textparse_fail(st, p, "blank line (not allowed in OpenMetrics)");
				break;
			}
			rc = *p == '#' ? textparse_om_comment(st, p, eol, &eof)
				       : textparse_sample_line(st, p, eol);
		}
		if (rc != 0)
			break;
		p = next;
	}
	if (rc == 0 && format == TEXTPARSE_OPENMETRICS && !eof) {
		st->lineno++;
		st->line = NULL;
		rc = textparse_fail(st, NULL, "missing # EOF at the end of an OpenMetrics body");
	}
	if (st->scratch != st->scratch_inline)
		free(st->scratch);
	textparse_hset_free(&st->om.names);
	textparse_hset_free(&st->om.groups);
	free(st);
	return rc;
}
