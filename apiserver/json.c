/* json: see json.h.
 *
 * The shortest round-trip decimal of a double is found by trying precisions
 * 1..17 of "%.*e" and keeping the first that strtod reads back exactly;
 * most sample values (integers, short decimals) end at the first try or
 * take the integer fast path. The digits and exponent are then laid out in
 * Go's 'f' or 'e' form.
 */
#include "apiserver/json.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void json_init(struct json_w *w, struct evbuffer *out)
{
	w->out = out;
	w->len = 0;
}

void json_flush(struct json_w *w)
{
	if (w->len) {
		evbuffer_add(w->out, w->buf, w->len);
		w->len = 0;
	}
}

void json_raw(struct json_w *w, const char *s, size_t len)
{
	if (len > sizeof(w->buf) - w->len) {
		json_flush(w);
		if (len > sizeof(w->buf)) {
			evbuffer_add(w->out, s, len);
			return;
		}
	}
	memcpy(w->buf + w->len, s, len);
	w->len += len;
}

void json_lit(struct json_w *w, const char *s)
{
	json_raw(w, s, strlen(s));
}

void json_str(struct json_w *w, const char *s, size_t len)
{
	static const char json_hex[] = "0123456789abcdef";
	size_t run = 0; /* start of the pending run of plain bytes */
	json_raw(w, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		json_raw(w, s + run, i - run);
		run = i + 1;
		char esc[6] = {'\\', 0, 0, 0, 0, 0};
		size_t n = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = json_hex[c >> 4];
			esc[5] = json_hex[c & 15];
			n = 6;
		}
		json_raw(w, esc, n);
	}
	json_raw(w, s + run, len - run);
	json_raw(w, "\"", 1);
}

void json_value(struct json_w *w, double v)
{
	char num[JSON_NUM_MAX + 2];
	num[0] = '"';
	size_t n = json_fmt_value(num + 1, JSON_NUM_MAX, v);
	num[n + 1] = '"';
	json_raw(w, num, n + 2);
}

void json_time(struct json_w *w, int64_t ms)
{
	char num[JSON_NUM_MAX];
	json_raw(w, num, json_fmt_time(num, sizeof(num), ms));
}

void json_int(struct json_w *w, int64_t v)
{
	char num[JSON_NUM_MAX];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);
	json_raw(w, num, (size_t)n);
}

/* Shortest digits of finite, non-zero |v|: fills digits (no dot, no trailing
 * zeros, NUL-terminated) and *exp10 so that |v| = 0.d1d2... x 10^(exp10+1),
 * i.e. d1 is the digit of 10^exp10. Returns the digit count. */
static size_t json_shortest(double v, char *digits, int *exp10)
{
	char tmp[40];
	double a = fabs(v);
	/* Every decimal of at most 15 significant digits maps to a distinct
	 * double, and a double's exact value is nearer to its shortest decimal
	 * than half a unit in the 15th digit. So when a decimal of <= 15 digits
	 * round-trips, the correctly rounded 15-digit form is that decimal
	 * padded with zeros (stripped below); otherwise 16, then 17 digits.
	 * At most three snprintf/strtod pairs instead of up to seventeen.
	 * Subnormals have fewer significant bits: they search from one digit. */
	int p;
	for (p = a < DBL_MIN ? 1 : 15; p <= 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, a);
		if (p == 17 || strtod(tmp, NULL) == a)
			break;
	}
	/* tmp is "d.ddde[+-]XX" or "de[+-]XX". */
	size_t n = 0;
	const char *q = tmp;
	for (; *q && *q != 'e'; q++)
		if (*q != '.')
			digits[n++] = *q;
	*exp10 = *q == 'e' ? atoi(q + 1) : 0;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = '\0';
	return n;
}

size_t json_fmt_go(char *buf, size_t cap, double v, char fmt)
{
	char digits[24];
	int e;
	size_t o = 0;
	if (isnan(v))
		return (size_t)snprintf(buf, cap, "NaN");
	if (isinf(v))
		return (size_t)snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
	if (signbit(v))
		buf[o++] = '-';
	if (v == 0) {
		o += (size_t)snprintf(buf + o, cap - o, fmt == 'e' ? "0e+00" : "0");
		return o;
	}
	/* Integers below 2^53 print exactly as themselves in 'f' form. */
	if (fmt == 'f' && fabs(v) < 9007199254740992.0 && v == trunc(v)) {
		o += (size_t)snprintf(buf + o, cap - o, "%" PRId64, (int64_t)fabs(v));
		return o;
	}
	size_t nd = json_shortest(v, digits, &e);
	if (fmt == 'e') {
		buf[o++] = digits[0];
		if (nd > 1) {
			buf[o++] = '.';
			memcpy(buf + o, digits + 1, nd - 1);
			o += nd - 1;
		}
		o += (size_t)snprintf(buf + o, cap - o, "e%c%02d", e < 0 ? '-' : '+', abs(e));
		return o;
	}
	if (e < 0) {
		buf[o++] = '0';
		buf[o++] = '.';
		for (int i = 0; i < -e - 1 && o < cap - 1; i++)
			buf[o++] = '0';
		for (size_t i = 0; i < nd && o < cap - 1; i++)
			buf[o++] = digits[i];
	} else {
		for (int i = 0; i <= e && o < cap - 1; i++)
			buf[o++] = (size_t)i < nd ? digits[i] : '0';
		if (nd > (size_t)e + 1) {
			buf[o++] = '.';
			for (size_t i = (size_t)e + 1; i < nd && o < cap - 1; i++)
				buf[o++] = digits[i];
		}
	}
	buf[o] = '\0';
	return o;
}

size_t json_fmt_value(char *buf, size_t cap, double v)
{
	double a = fabs(v);
	char fmt = 'f';
	if (a != 0 && (a < 1e-6 || a >= 1e21) && !isnan(v) && !isinf(v))
		fmt = 'e';
	return json_fmt_go(buf, cap, v, fmt);
}

size_t json_fmt_time(char *buf, size_t cap, int64_t ms)
{
	/* Magnitude as unsigned so that INT64_MIN does not overflow. */
	uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	uint64_t frac = u % 1000;
	int n;
	if (frac)
		n = snprintf(buf, cap, "%s%" PRIu64 ".%03" PRIu64, ms < 0 ? "-" : "", u / 1000, frac);
	else
		n = snprintf(buf, cap, "%s%" PRIu64, ms < 0 ? "-" : "", u / 1000);
	return (size_t)n;
}

size_t json_fmt_rfc3339(char *buf, size_t cap, int64_t ms)
{
	int64_t sec = ms / 1000, frac = ms % 1000;
	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	time_t t = (time_t)sec;
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return (size_t)snprintf(buf, cap, "1970-01-01T00:00:00Z");
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac) {
		char f[8];
		snprintf(f, sizeof(f), ".%03d", (int)frac);
		size_t fl = 4;
		while (f[fl - 1] == '0')
			fl--;
		f[fl] = '\0';
		n += (size_t)snprintf(buf + n, cap - n, "%s", f);
	}
	n += (size_t)snprintf(buf + n, cap - n, "Z");
	return n;
}
