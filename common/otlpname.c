/* otlpname: see otlpname.h. The metric-name rules mirror
 * prometheus/otlptranslator normalizeName (tokens, unit words, type
 * suffixes) step by step, including its corner cases (a unit word already
 * present in the name is not repeated; "total" and "ratio" tokens move to
 * the end), so a series gets the name Prometheus would have given it. */
#include "common/otlpname.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTLPNAME_MAX_TOKENS 256

struct otlpname_tok {
	const char *p;
	size_t n;
};

struct otlpname_map {
	const char *otel;
	const char *prom;
};

/* OTLP (UCSUM) units to Prometheus unit words. */
static const struct otlpname_map otlpname_units[] = {
	{"d", "days"}, {"h", "hours"}, {"min", "minutes"}, {"s", "seconds"},
	{"ms", "milliseconds"}, {"us", "microseconds"}, {"ns", "nanoseconds"},
	{"By", "bytes"}, {"KiBy", "kibibytes"}, {"MiBy", "mebibytes"}, {"GiBy", "gibibytes"},
	{"TiBy", "tibibytes"}, {"KBy", "kilobytes"}, {"MBy", "megabytes"}, {"GBy", "gigabytes"},
	{"TBy", "terabytes"}, {"m", "meters"}, {"V", "volts"}, {"A", "amperes"}, {"J", "joules"},
	{"W", "watts"}, {"g", "grams"}, {"Cel", "celsius"}, {"Hz", "hertz"}, {"1", ""},
	{"%", "percent"},
};

/* The unit after "/" ("per" unit), singular. */
static const struct otlpname_map otlpname_per_units[] = {
	{"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
	{"w", "week"}, {"mo", "month"}, {"y", "year"},
};

static int otlpname_metric_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':';
}

static int otlpname_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int otlpname_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims ASCII white space from both ends of p[*n]. */
static const char *otlpname_trim(const char *p, size_t *n)
{
	while (*n && otlpname_is_space((unsigned char)p[0])) {
		p++;
		(*n)--;
	}
	while (*n && otlpname_is_space((unsigned char)p[*n - 1]))
		(*n)--;
	return p;
}

/* The mapped word for unit u[n] (u itself when not in the table), into
 * out[cap] with `prefix` first. Units holding "{" or "}" (annotations like
 * "{requests}") give "". Returns the length, or -E2BIG. */
static int otlpname_unit_word(char *out, size_t cap, const char *u, size_t n, const struct otlpname_map *map,
			      size_t nmap, const char *prefix)
{
	u = otlpname_trim(u, &n);
	out[0] = '\0';
	if (n == 0 || memchr(u, '{', n) || memchr(u, '}', n))
		return 0;
	const char *word = NULL;
	size_t wlen = n;
	for (size_t i = 0; i < nmap; i++)
		if (strlen(map[i].otel) == n && memcmp(map[i].otel, u, n) == 0) {
			word = map[i].prom;
			wlen = strlen(word);
			break;
		}
	if (!word)
		word = u;
	if (wlen == 0)
		return 0;
	size_t plen = strlen(prefix);
	if (plen + wlen + 1 > cap)
		return -E2BIG;
	memcpy(out, prefix, plen);
	memcpy(out + plen, word, wlen);
	out[plen + wlen] = '\0';
	return (int)(plen + wlen);
}

/* Prometheus' cleanUpUnit in place: invalid characters to "_", runs of "_"
 * collapsed, one leading "_" removed. Returns the new length. */
static size_t otlpname_clean_unit(char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = otlpname_metric_char((unsigned char)s[i]) ? s[i] : '_';
		if (c == '_' && o > 0 && s[o - 1] == '_')
			continue;
		s[o++] = c;
	}
	if (o > 0 && s[0] == '_') {
		memmove(s, s + 1, o - 1);
		o--;
	}
	s[o] = '\0';
	return o;
}

static int otlpname_has_tok(const struct otlpname_tok *t, size_t nt, const char *w, size_t wn)
{
	for (size_t i = 0; i < nt; i++)
		if (t[i].n == wn && memcmp(t[i].p, w, wn) == 0)
			return 1;
	return 0;
}

/* Removes every token equal to w, then appends w. Returns the new count. */
static size_t otlpname_move_last(struct otlpname_tok *t, size_t nt, const char *w)
{
	size_t wn = strlen(w), o = 0;
	for (size_t i = 0; i < nt; i++)
		if (!(t[i].n == wn && memcmp(t[i].p, w, wn) == 0))
			t[o++] = t[i];
	t[o++] = (struct otlpname_tok){w, wn};
	return o;
}

int otlpname_metric(char *out, size_t cap, const char *name, size_t len,
		    const char *unit, size_t unit_len, enum otlpname_type type)
{
	struct otlpname_tok tok[OTLPNAME_MAX_TOKENS + 4];
	size_t nt = 0;
	char main_u[256], per_u[256];
	int rc;

	/* Tokens of the name: runs of valid characters. */
	for (size_t i = 0; i < len;) {
		while (i < len && !otlpname_metric_char((unsigned char)name[i]))
			i++;
		size_t s = i;
		while (i < len && otlpname_metric_char((unsigned char)name[i]))
			i++;
		if (i > s) {
			if (nt == OTLPNAME_MAX_TOKENS)
				return -E2BIG;
			tok[nt++] = (struct otlpname_tok){name + s, i - s};
		}
	}

	/* Unit words: main unit, and "per_<unit>" after a "/". */
	const char *slash = unit_len ? memchr(unit, '/', unit_len) : NULL;
	size_t main_n = slash ? (size_t)(slash - unit) : unit_len;
	rc = otlpname_unit_word(main_u, sizeof(main_u), unit, main_n, otlpname_units,
				sizeof(otlpname_units) / sizeof(otlpname_units[0]), "");
	if (rc < 0)
		return rc;
	size_t ml = otlpname_clean_unit(main_u, (size_t)rc);
	size_t pl = 0;
	per_u[0] = '\0';
	if (slash && unit_len - main_n > 1) {
		rc = otlpname_unit_word(per_u, sizeof(per_u), slash + 1, unit_len - main_n - 1, otlpname_per_units,
					sizeof(otlpname_per_units) / sizeof(otlpname_per_units[0]), "per_");
		if (rc < 0)
			return rc;
		pl = otlpname_clean_unit(per_u, (size_t)rc);
	}
	if (ml && otlpname_has_tok(tok, nt, main_u, ml))
		ml = 0;
	if (pl == 4 && memcmp(per_u, "per_", 4) == 0) {
		pl = 0;
	} else {
		while (pl && per_u[pl - 1] == '_')
			pl--;
		if (pl && otlpname_has_tok(tok, nt, per_u, pl))
			pl = 0;
	}
	if (pl)
		while (ml && main_u[ml - 1] == '_')
			ml--;
	if (ml)
		tok[nt++] = (struct otlpname_tok){main_u, ml};
	if (pl)
		tok[nt++] = (struct otlpname_tok){per_u, pl};

	if (type == OTLPNAME_COUNTER)
		nt = otlpname_move_last(tok, nt, "total");
	if (type == OTLPNAME_GAUGE && unit_len == 1 && unit[0] == '1')
		nt = otlpname_move_last(tok, nt, "ratio");

	size_t o = 0;
	if (nt && tok[0].p[0] >= '0' && tok[0].p[0] <= '9') {
		if (cap < 2)
			return -E2BIG;
		out[o++] = '_';
	}
	for (size_t i = 0; i < nt; i++) {
		if (o + tok[i].n + 2 > cap || o + tok[i].n + 1 > OTLPNAME_MAX)
			return -E2BIG;
		if (i)
			out[o++] = '_';
		memcpy(out + o, tok[i].p, tok[i].n);
		o += tok[i].n;
	}
	if (o == 0)
		return -EINVAL;
	out[o] = '\0';
	return (int)o;
}

int otlpname_label(char *out, size_t cap, const char *name, size_t len)
{
	if (len == 0)
		return -EINVAL;
	/* Sanitise first, after room for a "key_" prefix; then decide the
	 * prefix on the sanitised name, as Prometheus does. */
	const size_t room = 4;
	size_t o = room;
	int all_us = 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		char w = otlpname_label_char(c) ? (char)c : '_';
		if (c >= 0xc0) /* one "_" per UTF-8 character, as the Go regexp does */
			while (i + 1 < len && ((unsigned char)name[i + 1] & 0xc0) == 0x80)
				i++;
		if (o + 2 > cap)
			return -E2BIG;
		out[o++] = w;
		if (w != '_')
			all_us = 0;
	}
	const char *prefix = "";
	if (out[room] >= '0' && out[room] <= '9')
		prefix = "key_";
	else if (out[room] == '_' && !(o > room + 1 && out[room + 1] == '_'))
		prefix = "key";
	else if (all_us)
		return -EINVAL;
	size_t plen = strlen(prefix);
	memcpy(out + room - plen, prefix, plen);
	memmove(out, out + room - plen, o - (room - plen));
	o -= room - plen;
	out[o] = '\0';
	return (int)o;
}

int otlpname_float(char *out, size_t cap, double v)
{
	const char *special = isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : v == 0 ? (signbit(v) ? "-0" : "0") : NULL;
	if (special) {
		size_t n = strlen(special);
		if (n + 1 > cap)
			return -E2BIG;
		memcpy(out, special, n + 1);
		return (int)n;
	}
	/* Shortest %e form that reads back as v. */
	char e[40];
	for (int p = 0; p <= 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p, v);
		if (strtod(e, NULL) == v)
			break;
	}
	char digits[24];
	size_t nd = 0;
	const char *s = e;
	int neg = 0;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	for (; *s && *s != 'e'; s++)
		if (*s >= '0' && *s <= '9' && nd < sizeof(digits))
			digits[nd++] = *s;
	int x = *s == 'e' ? atoi(s + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	/* The value is d1.d2d3... x 10^x; write it positionally. */
	size_t need = (size_t)neg + nd + (size_t)(x < 0 ? -x + 2 : x + 2) + 1;
	if (need > cap)
		return -E2BIG;
	size_t o = 0;
	if (neg)
		out[o++] = '-';
	if (x < 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (int i = 0; i < -x - 1; i++)
			out[o++] = '0';
		memcpy(out + o, digits, nd);
		o += nd;
	} else {
		for (int i = 0; i <= x; i++)
			out[o++] = (size_t)i < nd ? digits[i] : '0';
		if (nd > (size_t)x + 1) {
			out[o++] = '.';
			memcpy(out + o, digits + x + 1, nd - (size_t)x - 1);
			o += nd - (size_t)x - 1;
		}
	}
	out[o] = '\0';
	return (int)o;
}
