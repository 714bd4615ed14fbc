/* promql_lex: see promql_lex.h. Follows the token rules of Prometheus'
 * promql/parser/lex.go: numbers are scanned greedily (hex after 0x, one
 * fraction, one exponent) and must not run into a letter, otherwise the
 * text is a duration (digits and units); identifiers may contain ':' and
 * then are metric identifiers; strings are checked here (escapes,
 * termination) and unquoted on request by the parser.
 */
#include "common/promql_lex.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void promql_lex_init(struct promql_lex *lx, const char *s, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->s = s;
	lx->len = len;
}

static int promql_lex_alpha(int c)
{
	return isalpha(c) || c == '_';
}

static int promql_lex_alnum(int c)
{
	return isalnum(c) || c == '_';
}

int promql_lex_is_label(const char *s, size_t len)
{
	if (len == 0 || !promql_lex_alpha((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!promql_lex_alnum((unsigned char)s[i]))
			return 0;
	return 1;
}

int promql_lex_is_kw(const struct promql_lex *lx, const struct promql_token *t, const char *kw)
{
	if (t->type != PROMQL_T_IDENT || strlen(kw) != t->len)
		return 0;
	return strncasecmp(lx->s + t->pos, kw, t->len) == 0;
}

const char *promql_lex_name(enum promql_tok type)
{
	static const char *names[] = {
		[PROMQL_T_EOF] = "end of input", [PROMQL_T_ERROR] = "error",
		[PROMQL_T_IDENT] = "identifier", [PROMQL_T_METRIC] = "metric identifier",
		[PROMQL_T_NUMBER] = "number", [PROMQL_T_DURATION] = "duration",
		[PROMQL_T_STRING] = "string", [PROMQL_T_LPAREN] = "\"(\"",
		[PROMQL_T_RPAREN] = "\")\"", [PROMQL_T_LBRACE] = "\"{\"",
		[PROMQL_T_RBRACE] = "\"}\"", [PROMQL_T_LBRACKET] = "\"[\"",
		[PROMQL_T_RBRACKET] = "\"]\"", [PROMQL_T_COMMA] = "\",\"",
		[PROMQL_T_COLON] = "\":\"", [PROMQL_T_AT] = "\"@\"",
		[PROMQL_T_ADD] = "\"+\"", [PROMQL_T_SUB] = "\"-\"", [PROMQL_T_MUL] = "\"*\"",
		[PROMQL_T_DIV] = "\"/\"", [PROMQL_T_MOD] = "\"%\"", [PROMQL_T_POW] = "\"^\"",
		[PROMQL_T_ASSIGN] = "\"=\"", [PROMQL_T_EQLC] = "\"==\"", [PROMQL_T_NEQ] = "\"!=\"",
		[PROMQL_T_EQL_REGEX] = "\"=~\"", [PROMQL_T_NEQ_REGEX] = "\"!~\"",
		[PROMQL_T_LSS] = "\"<\"", [PROMQL_T_LTE] = "\"<=\"", [PROMQL_T_GTR] = "\">\"",
		[PROMQL_T_GTE] = "\">=\"",
	};
	if ((size_t)type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "token";
}

int promql_lex_duration(const char *s, size_t len, int64_t *ms)
{
	static const struct { const char *u; int64_t mult; } units[] = {
		{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
		{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
	};
	size_t i = 0, next_unit = 0;
	int64_t total = 0;
	if (len == 1 && s[0] == '0') {
		*ms = 0;
		return 0;
	}
	if (len == 0)
		return -EINVAL;
	while (i < len) {
		int64_t v = 0;
		size_t start = i;
		while (i < len && isdigit((unsigned char)s[i])) {
			if (v > (INT64_MAX - 9) / 10)
				return -EINVAL;
			v = v * 10 + (s[i++] - '0');
		}
		if (i == start)
			return -EINVAL;
		size_t ul = 0;
		while (i + ul < len && isalpha((unsigned char)s[i + ul]))
			ul++;
		size_t u;
		for (u = next_unit; u < sizeof(units) / sizeof(units[0]); u++)
			if (strlen(units[u].u) == ul && memcmp(units[u].u, s + i, ul) == 0)
				break;
		if (u == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		if (v > (INT64_MAX - total) / units[u].mult)
			return -EINVAL;
		total += v * units[u].mult;
		next_unit = u + 1;
		i += ul;
	}
	*ms = total;
	return 0;
}

/* Scans a number at lx->pos; returns 1 and advances when it is a number
 * not followed by an identifier character, else 0 (pos left after the
 * numeric prefix so a duration can continue). */
static int promql_lex_scan_number(struct promql_lex *lx)
{
	const char *digits = "0123456789";
	const char *s = lx->s;
	size_t p = lx->pos, n = lx->len;
	if (p + 1 < n && s[p] == '0' && (s[p + 1] == 'x' || s[p + 1] == 'X')) {
		digits = "0123456789abcdefABCDEF";
		p += 2;
	}
	while (p < n && s[p] && strchr(digits, s[p]))
		p++;
	if (p < n && s[p] == '.') {
		p++;
		while (p < n && s[p] && strchr(digits, s[p]))
			p++;
	}
	if (p < n && (s[p] == 'e' || s[p] == 'E') && digits[10] == '\0') {
		p++;
		if (p < n && (s[p] == '+' || s[p] == '-'))
			p++;
		while (p < n && isdigit((unsigned char)s[p]))
			p++;
	}
	lx->pos = p;
	return !(p < n && promql_lex_alnum((unsigned char)s[p]));
}

/* Converts number text like Go's strconv.ParseInt(s, 0, 64) then
 * ParseFloat: 0x hex, leading-0 octal, else decimal float. */
static int promql_lex_number_value(const char *s, size_t len, double *out)
{
	char *buf = strndup(s, len);
	int rc = 0;
	if (!buf)
		return -ENOMEM;
	char *end;
	if (len > 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
		errno = 0;
		unsigned long long v = strtoull(buf + 2, &end, 16);
		if (*end != '\0')
			rc = -EINVAL;
		else
			*out = (errno == ERANGE) ? ldexp(1.0, 64) : (double)v;
	} else if (len > 1 && buf[0] == '0' && strspn(buf, "01234567") == len) {
		*out = (double)strtoull(buf, NULL, 8);
	} else {
		errno = 0;
		*out = strtod(buf, &end);
		if (*end != '\0' || end == buf)
			rc = -EINVAL;
		else if (errno == ERANGE && isinf(*out))
			rc = -ERANGE; /* Go's ParseFloat fails on overflow, not underflow */
	}
	free(buf);
	return rc;
}

static enum promql_tok promql_lex_error(struct promql_lex *lx, struct promql_token *t, size_t pos,
					const char *msg)
{
	snprintf(lx->err, sizeof(lx->err), "%s", msg);
	lx->err_pos = (uint32_t)pos;
	t->type = PROMQL_T_ERROR;
	t->pos = (uint32_t)pos;
	t->len = 0;
	return PROMQL_T_ERROR;
}

static enum promql_tok promql_lex_number_or_duration(struct promql_lex *lx, struct promql_token *t)
{
	size_t start = lx->pos;
	if (promql_lex_scan_number(lx)) {
		t->type = PROMQL_T_NUMBER;
		t->len = (uint32_t)(lx->pos - start);
		int rc = promql_lex_number_value(lx->s + start, t->len, &t->num);
		if (rc == -ERANGE)
			return promql_lex_error(lx, t, start, "error parsing number: value out of range");
		if (rc != 0)
			return promql_lex_error(lx, t, start, rc == -ENOMEM ? "out of memory" : "bad number syntax");
		return t->type;
	}
	/* A duration: digits and unit letters, ending on a non-identifier. */
	size_t p = lx->pos;
	while (p < lx->len && promql_lex_alnum((unsigned char)lx->s[p]))
		p++;
	lx->pos = p;
	t->len = (uint32_t)(p - start);
	if (promql_lex_duration(lx->s + start, t->len, &t->ms) != 0) {
		char msg[120];
		snprintf(msg, sizeof(msg), "bad number or duration syntax: \"%.*s\"",
			 (int)(t->len > 60 ? 60 : t->len), lx->s + start);
		return promql_lex_error(lx, t, start, msg);
	}
	t->type = PROMQL_T_DURATION;
	t->num = (double)t->ms / 1000.0;
	return t->type;
}

static enum promql_tok promql_lex_string(struct promql_lex *lx, struct promql_token *t)
{
	size_t start = lx->pos;
	char q = lx->s[lx->pos++];
	while (lx->pos < lx->len && lx->s[lx->pos] != q) {
		char c = lx->s[lx->pos];
		if (q != '`' && c == '\n')
			break;
		if (q != '`' && c == '\\' && lx->pos + 1 < lx->len)
			lx->pos++;
		lx->pos++;
	}
	if (lx->pos >= lx->len || lx->s[lx->pos] != q)
		return promql_lex_error(lx, t, start, "unterminated quoted string");
	lx->pos++;
	t->type = PROMQL_T_STRING;
	t->len = (uint32_t)(lx->pos - start);
	char *tmp = NULL;
	size_t tl, bad = 0;
	int rc = promql_lex_unquote(lx->s + start, t->len, &tmp, &tl, lx->err, sizeof(lx->err), &bad);
	free(tmp);
	if (rc == -EINVAL) {
		char msg[sizeof(lx->err)];
		memcpy(msg, lx->err, sizeof(msg));
		return promql_lex_error(lx, t, start + bad, msg);
	}
	return t->type;
}

enum promql_tok promql_lex_next(struct promql_lex *lx, struct promql_token *t)
{
	const char *s = lx->s;
	memset(t, 0, sizeof(*t));
	for (;;) {
		while (lx->pos < lx->len && isspace((unsigned char)s[lx->pos]))
			lx->pos++;
		if (lx->pos < lx->len && s[lx->pos] == '#') {
			while (lx->pos < lx->len && s[lx->pos] != '\n')
				lx->pos++;
			continue;
		}
		break;
	}
	t->pos = (uint32_t)lx->pos;
	if (lx->pos >= lx->len) {
		if (lx->brace)
			return promql_lex_error(lx, t, lx->pos, "unexpected end of input inside braces");
		if (lx->bracket)
			return promql_lex_error(lx, t, lx->pos, "unclosed left bracket");
		if (lx->parens)
			return promql_lex_error(lx, t, lx->pos, "unclosed left parenthesis");
		t->type = PROMQL_T_EOF;
		return t->type;
	}
	unsigned char c = (unsigned char)s[lx->pos];
	unsigned char c2 = lx->pos + 1 < lx->len ? (unsigned char)s[lx->pos + 1] : 0;
	if (isdigit(c) || (c == '.' && isdigit(c2)))
		return promql_lex_number_or_duration(lx, t);
	if (c == '"' || c == '\'' || c == '`')
		return promql_lex_string(lx, t);
	if (promql_lex_alpha(c)) {
		int metric = 0;
		size_t p = lx->pos;
		while (p < lx->len && (promql_lex_alnum((unsigned char)s[p]) || s[p] == ':')) {
			metric |= s[p] == ':';
			p++;
		}
		t->len = (uint32_t)(p - lx->pos);
		lx->pos = p;
		t->type = metric ? PROMQL_T_METRIC : PROMQL_T_IDENT;
		if (!metric && t->len == 3 && (strncasecmp(s + t->pos, "inf", 3) == 0 ||
						strncasecmp(s + t->pos, "nan", 3) == 0)) {
			t->type = PROMQL_T_NUMBER;
			t->num = (tolower(s[t->pos]) == 'i') ? INFINITY : NAN;
		}
		return t->type;
	}
	enum promql_tok type;
	size_t n = 1;
	switch (c) {
	case '(':
		type = PROMQL_T_LPAREN;
		lx->parens++;
		break;
	case ')':
		if (lx->parens == 0)
			return promql_lex_error(lx, t, lx->pos, "unexpected right parenthesis ')'");
		type = PROMQL_T_RPAREN;
		lx->parens--;
		break;
	case '{':
		if (lx->brace)
			return promql_lex_error(lx, t, lx->pos, "unexpected left brace '{'");
		type = PROMQL_T_LBRACE;
		lx->brace = 1;
		break;
	case '}':
		if (!lx->brace)
			return promql_lex_error(lx, t, lx->pos, "unexpected right brace '}'");
		type = PROMQL_T_RBRACE;
		lx->brace = 0;
		break;
	case '[':
		if (lx->bracket)
			return promql_lex_error(lx, t, lx->pos, "unexpected left bracket '['");
		type = PROMQL_T_LBRACKET;
		lx->bracket = 1;
		break;
	case ']':
		if (!lx->bracket)
			return promql_lex_error(lx, t, lx->pos, "unexpected right bracket ']'");
		type = PROMQL_T_RBRACKET;
		lx->bracket = 0;
		break;
	case ',': type = PROMQL_T_COMMA; break;
	case ':': type = PROMQL_T_COLON; break;
	case '@': type = PROMQL_T_AT; break;
	case '+': type = PROMQL_T_ADD; break;
	case '-': type = PROMQL_T_SUB; break;
	case '*': type = PROMQL_T_MUL; break;
	case '/': type = PROMQL_T_DIV; break;
	case '%': type = PROMQL_T_MOD; break;
	case '^': type = PROMQL_T_POW; break;
	case '=':
		if (c2 == '=') { type = PROMQL_T_EQLC; n = 2; }
		else if (c2 == '~') { type = PROMQL_T_EQL_REGEX; n = 2; }
		else type = PROMQL_T_ASSIGN;
		break;
	case '!':
		if (c2 == '=') { type = PROMQL_T_NEQ; n = 2; }
		else if (c2 == '~') { type = PROMQL_T_NEQ_REGEX; n = 2; }
		else return promql_lex_error(lx, t, lx->pos, "unexpected character after '!'");
		break;
	case '<':
		if (c2 == '=') { type = PROMQL_T_LTE; n = 2; } else type = PROMQL_T_LSS;
		break;
	case '>':
		if (c2 == '=') { type = PROMQL_T_GTE; n = 2; } else type = PROMQL_T_GTR;
		break;
	default: {
		char msg[64];
		if (c >= 0x20 && c < 0x7f)
			snprintf(msg, sizeof(msg), "unexpected character: '%c'", c);
		else
			snprintf(msg, sizeof(msg), "unexpected character: 0x%02x", c);
		return promql_lex_error(lx, t, lx->pos, msg);
	}
	}
	t->type = type;
	t->len = (uint32_t)n;
	lx->pos += n;
	return type;
}

static int promql_lex_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t promql_lex_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

int promql_lex_unquote(const char *s, size_t len, char **out, size_t *outlen,
		       char *err, size_t errlen, size_t *bad)
{
	*out = NULL;
	if (len < 2 || s[0] != s[len - 1] || !strchr("\"'`", s[0])) {
		snprintf(err, errlen, "invalid string literal");
		*bad = 0;
		return -EINVAL;
	}
	char q = s[0];
	char *buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	size_t n = 0, i = 1;
	while (i < len - 1) {
		char c = s[i];
		if (c != '\\' || q == '`') {
			buf[n++] = c;
			i++;
			continue;
		}
		size_t at = i++;
		char e = s[i++];
		uint32_t v = 0;
		int digits = 0, hex = 1;
		switch (e) {
		case 'a': buf[n++] = '\a'; continue;
		case 'b': buf[n++] = '\b'; continue;
		case 'f': buf[n++] = '\f'; continue;
		case 'n': buf[n++] = '\n'; continue;
		case 'r': buf[n++] = '\r'; continue;
		case 't': buf[n++] = '\t'; continue;
		case 'v': buf[n++] = '\v'; continue;
		case '\\': buf[n++] = '\\'; continue;
		case '"': case '\'':
			if (e != q)
				goto bad_escape;
			buf[n++] = e;
			continue;
		case 'x': digits = 2; break;
		case 'u': digits = 4; break;
		case 'U': digits = 8; break;
		default:
			if (e >= '0' && e <= '7') {
				digits = 2;
				hex = 0;
				v = (uint32_t)(e - '0');
				break;
			}
			goto bad_escape;
		}
		for (int d = 0; d < digits; d++, i++) {
			int h = i < len - 1 ? promql_lex_hex((unsigned char)s[i]) : -1;
			if (h < 0 || (!hex && h > 7))
				goto bad_escape;
			v = v * (hex ? 16 : 8) + (uint32_t)h;
		}
		if (e == 'x' || !hex) {
			if (v > 255)
				goto bad_escape;
			buf[n++] = (char)v;
		} else {
			if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
				goto bad_escape;
			n += promql_lex_utf8(buf + n, v);
		}
		continue;
bad_escape:
		snprintf(err, errlen, "unknown escape sequence '%.*s'", (int)(i - at > 10 ? 10 : i - at),
			 s + at);
		*bad = at;
		free(buf);
		return -EINVAL;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}
