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
 *    family rules of the spec. The OpenMetrics comment lines, exemplars and
 *    family checks are in textparse_om.c; this file keeps the line loop,
 *    the sample line, names, numbers and label sets shared by both modes.
 *    Internals shared by the two files are declared in textparse_pvt.h.
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
#include "common/textparse_om.h"
#include "common/textparse_pvt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- character classes -------------------------------------------------- */

const uint8_t textparse_cls[256] = {
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

/* Prometheus' value.NormalNaN: the NaN an exposition's "NaN" becomes. */
#define TEXTPARSE_NORMAL_NAN_BITS 0x7ff8000000000001ULL

/* ---- sample name suffixes ------------------------------------------------ */

const struct textparse_sfx_name textparse_sfx_names[TEXTPARSE_SFX_N] = {
	{"", 0},	   {"_total", 6}, {"_created", 8}, {"_bucket", 7}, {"_count", 6},
	{"_sum", 4},	   {"_gcount", 7}, {"_gsum", 5},	{"_info", 5},
};

/* Suffixes a family's samples may carry, by format and type. */
const unsigned textparse_sfx_allowed[2][8] = {
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

const char *const textparse_type_names[8] = {
	"unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset",
};

/* ---- errors ------------------------------------------------------------ */

/* Records an error at `pos` (a pointer into the current line, or NULL for
 * column 1) on line `line` (0 = the current line). Returns -EINVAL. */
int textparse_fail_at(struct textparse_state *st, uint32_t line, const char *pos, const char *fmt, ...)
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
int textparse_parse_om_ts(const char *s, size_t len, double *sec, int64_t *ms)
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
int textparse_utf8_valid(const unsigned char *s, size_t len)
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
int textparse_scratch_reserve(struct textparse_state *st, size_t need)
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
const char *textparse_unescape(struct textparse_state *st, const char *s, size_t len,
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
int textparse_labels(struct textparse_state *st, const char **pp, const char *eol,
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
int textparse_find_label(const struct textparse_label *l, size_t n, const char *name,
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

/* ---- lines --------------------------------------------------------------- */

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
			rc = textparse_om_exemplar(st, p, eol);
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
int textparse_type_of(const char *s, size_t len, enum textparse_format fmt,
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
	textparse_om_free(st);
	free(st);
	return rc;
}
