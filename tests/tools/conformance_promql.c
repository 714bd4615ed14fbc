/* conformance_promql: runs Prometheus' PromQL test files (promqltest
 * language) against common/promql_eval over an in-memory storage.
 *
 * Usage: conformance_promql [-v] FILE.test|DIR...
 * (a DIR with a promql/ subdirectory, like the shared conformance root
 * scripts/run-tests passes, means the .test files in DIR/promql). The same
 * program is linked as bin/mcs-promqltest, run as `mcs-promqltest FILE...`.
 *
 * Language: `load <interval>` (+ `load_with_nhcb`) with series lines in
 * expanding notation (`1+2x10`, `-1-1x5`, `_`, `_x3`, `stale`, `NaNx3`),
 * `clear`, `eval instant at T EXPR`, `eval range from A to B step S EXPR`,
 * the eval_fail/eval_ordered/eval_warn/eval_info forms, and under an eval
 * the lines `expect fail [msg: M | regex: R]`, `expect warn|info [msg:|regex:]`,
 * `expect no_warn|no_info`, `expect ordered`, `expect string "s"`,
 * `expect range vector from A to B step S`, then the expected samples (a
 * bare number for a scalar). Values compare with Prometheus' tolerance
 * (1e-6 relative; NaN equals NaN), label sets exactly, order only when
 * ordered. An instant vector query is also run as a range query over
 * [T - 1m, T] step 1m and its last step must agree (as promqltest does).
 *
 * Skipped and counted by reason: native-histogram data or functions, and
 * syntax mcs does not evaluate (fill modifiers, anchored/smoothed, info(),
 * histogram_quantiles, start_timestamp). Cases we knowingly fail are
 * listed in conf_known (file, line, reason) and counted apart.
 *
 * Prints one line per failure and per file, and ends with the line
 * "N passed, N failed, N skipped" (nothing after it, so scripts can take
 * the last line); exits 1 when anything failed, 2 on a usage or I/O error
 * (an unreadable argument is reported and the others still run).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/promfn.h"
#include "common/promql_eval.h"
#include "common/promql_parse.h"
#include "common/series.h"

/* Cases we know we fail, with why. Keep honest and short. */
static const struct { const char *file; int line; const char *why; } conf_known[] = {
	{NULL, 0, NULL},
};

/* ---- in-memory storage ---- */

struct conf_series {
	uint8_t key[SERIES_KEY_MAX];
	size_t klen;
	struct promfn_point *p;
	size_t n, cap;
	int hist;      /* had native-histogram samples */
};

static struct conf_series *conf_db;
static const char *conf_feature; /* data needing a feature we lack, since the last clear */
static size_t conf_ndb, conf_capdb;

static void conf_clear(void)
{
	conf_feature = NULL;
	for (size_t i = 0; i < conf_ndb; i++)
		free(conf_db[i].p);
	conf_ndb = 0;
}

static struct conf_series *conf_get(const uint8_t *key, size_t klen)
{
	for (size_t i = 0; i < conf_ndb; i++)
		if (conf_db[i].klen == klen && memcmp(conf_db[i].key, key, klen) == 0)
			return &conf_db[i];
	if (conf_ndb == conf_capdb) {
		conf_capdb = conf_capdb ? conf_capdb * 2 : 64;
		conf_db = realloc(conf_db, conf_capdb * sizeof(*conf_db));
		if (!conf_db)
			abort();
	}
	struct conf_series *s = &conf_db[conf_ndb++];
	memset(s, 0, sizeof(*s));
	memcpy(s->key, key, klen);
	s->klen = klen;
	return s;
}

static void conf_put(struct conf_series *s, int64_t ts, double v)
{
	size_t i;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->p = realloc(s->p, s->cap * sizeof(*s->p));
		if (!s->p)
			abort();
	}
	/* Keep time order; a later load may overwrite a timestamp. */
	for (i = s->n; i > 0 && s->p[i - 1].ts_ms > ts; i--)
		;
	if (i > 0 && s->p[i - 1].ts_ms == ts) {
		s->p[i - 1].v = v;
		return;
	}
	memmove(&s->p[i + 1], &s->p[i], (s->n - i) * sizeof(*s->p));
	s->p[i].ts_ms = ts;
	s->p[i].v = v;
	s->n++;
}

static int conf_select(void *ctx, const struct matcher *m, size_t n, int64_t start, int64_t end,
		       promql_series_cb cb, void *arg)
{
	(void)ctx;
	for (size_t i = 0; i < conf_ndb; i++) {
		struct conf_series *s = &conf_db[i];
		size_t a = 0, b;
		if (!matcher_match_key(m, n, s->key, s->klen))
			continue;
		while (a < s->n && s->p[a].ts_ms < start)
			a++;
		b = a;
		while (b < s->n && s->p[b].ts_ms <= end)
			b++;
		if (b == a)
			continue;
		int rc = cb(arg, s->key, s->klen, s->p + a, b - a);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- notation ---- */

/* Parses a duration ("5m", "1h30m", "10s53ms") or plain seconds. */
static int conf_duration(const char *s, size_t len, int64_t *ms)
{
	char buf[64];
	char *end;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	double d = strtod(buf, &end);
	if (*end == '\0' && end != buf) {
		*ms = (int64_t)llround(d * 1000);
		return 0;
	}
	int64_t total = 0;
	const char *p = buf;
	int neg = 0;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	while (*p) {
		int64_t v = 0;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			v = v * 10 + (*p++ - '0');
		int64_t unit;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else {
			switch (*p) {
			case 's': unit = 1000; break;
			case 'm': unit = 60000; break;
			case 'h': unit = 3600000; break;
			case 'd': unit = 86400000; break;
			case 'w': unit = 7 * 86400000LL; break;
			case 'y': unit = 365 * 86400000LL; break;
			default: return -1;
			}
			p++;
		}
		total += v * unit;
	}
	*ms = neg ? -total : total;
	return 0;
}

/* Reads a Go-quoted string at *p (", ' or `) into out. Returns 0 or -1. */
static int conf_quoted(const char **pp, char *out, size_t cap)
{
	const char *p = *pp;
	char q = *p++;
	size_t o = 0;
	while (*p && *p != q) {
		char ch = *p++;
		if (ch == '\\' && q != '`') {
			ch = *p++;
			switch (ch) {
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'r': ch = '\r'; break;
			case '\\': case '"': case '\'': break;
			case 'x': {
				unsigned v;
				if (sscanf(p, "%2x", &v) != 1)
					return -1;
				p += 2;
				ch = (char)v;
				break;
			}
			default: break;
			}
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = ch;
	}
	if (*p != q)
		return -1;
	out[o] = '\0';
	*pp = p + 1;
	return 0;
}

struct conf_labels {
	char name[256];
	char names[64][256];
	char vals[64][1024];
	int n;
};

/* Parses `name{a="b", ...}` / `{...}` at *pp. Returns 0 or -1. */
static int conf_desc(const char **pp, struct conf_labels *l)
{
	const char *p = *pp;
	memset(l->name, 0, sizeof(l->name));
	l->n = 0;
	size_t o = 0;
	while (*p && *p != '{' && *p != ' ' && *p != '\t') {
		if (o + 1 < sizeof(l->name))
			l->name[o++] = *p;
		p++;
	}
	if (*p == '{') {
		p++;
		for (;;) {
			p += strspn(p, " \t,");
			if (*p == '}') {
				p++;
				break;
			}
			if (l->n >= 64)
				return -1;
			char *nm = l->names[l->n];
			if (*p == '"' || *p == '\'' || *p == '`') {
				if (conf_quoted(&p, nm, 256))
					return -1;
			} else {
				size_t k = 0;
				while (*p && *p != '=' && *p != ' ' && *p != ',' && *p != '}' && k < 255)
					nm[k++] = *p++;
				nm[k] = '\0';
			}
			p += strspn(p, " \t");
			if (*p != '=') {
				/* A quoted metric name inside the braces. */
				memmove(l->name, nm, strlen(nm) + 1);
				continue;
			}
			p++;
			p += strspn(p, " \t");
			if (conf_quoted(&p, l->vals[l->n], 1024))
				return -1;
			if (strcmp(nm, "__name__") == 0)
				memcpy(l->name, l->vals[l->n], strnlen(l->vals[l->n], 255) + 1);
			else
				l->n++;
		}
	}
	*pp = p;
	return 0;
}

static int conf_labels_key(struct conf_labels *l, uint8_t *key, size_t cap)
{
	struct series_label sl[64];
	for (int i = 0; i < l->n; i++) {
		sl[i].name = l->names[i];
		sl[i].name_len = strlen(l->names[i]);
		sl[i].value = l->vals[i];
		sl[i].value_len = strlen(l->vals[i]);
	}
	return series_key_build(key, cap, l->name, strlen(l->name), sl, (size_t)l->n);
}

static int conf_labels_lset(struct conf_labels *l, struct promql_lset *out)
{
	struct promql_lb b;
	int rc = 0;
	promql_lb_init(&b);
	if (l->name[0])
		rc = promql_lb_set(&b, "__name__", 8, l->name, strlen(l->name));
	for (int i = 0; i < l->n && !rc; i++)
		rc = promql_lb_set(&b, l->names[i], strlen(l->names[i]), l->vals[i], strlen(l->vals[i]));
	if (!rc)
		rc = promql_lb_build(&b, out);
	promql_lb_free(&b);
	return rc;
}

#define CONF_ABSENT 0
#define CONF_VALUE 1
#define CONF_STALE 2
#define CONF_HIST 3

struct conf_vals {
	double *v;
	uint8_t *k;   /* CONF_* */
	size_t n, cap;
};

static void conf_vals_push(struct conf_vals *cv, uint8_t kind, double v)
{
	if (cv->n == cv->cap) {
		cv->cap = cv->cap ? cv->cap * 2 : 64;
		cv->v = realloc(cv->v, cv->cap * sizeof(double));
		cv->k = realloc(cv->k, cv->cap);
		if (!cv->v || !cv->k)
			abort();
	}
	cv->v[cv->n] = v;
	cv->k[cv->n] = kind;
	cv->n++;
}

static int conf_number(const char *s, size_t len, double *v)
{
	char buf[128];
	char *end;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcasecmp(buf, "inf") == 0 || strcasecmp(buf, "+inf") == 0) {
		*v = INFINITY;
		return 0;
	}
	if (strcasecmp(buf, "-inf") == 0) {
		*v = -INFINITY;
		return 0;
	}
	if (strcasecmp(buf, "nan") == 0) {
		*v = NAN;
		return 0;
	}
	*v = strtod(buf, &end);
	return *end == '\0' ? 0 : -1;
}

/* Expands the series notation of p into cv. Returns 0 or -1. */
static int conf_values(const char *p, struct conf_vals *cv)
{
	cv->n = 0;
	for (;;) {
		p += strspn(p, " \t");
		if (!*p || *p == '#')
			return 0;
		if (p[0] == '{' && p[1] == '{') {
			const char *e = strstr(p, "}}");
			if (!e)
				return -1;
			p = e + 2;
			long times = 0;
			if (*p == 'x') {
				times = strtol(p + 1, (char **)&p, 10);
				for (long i = 0; i <= times; i++)
					conf_vals_push(cv, CONF_HIST, 0);
			} else if (*p == '+' || *p == '-') {
				/* {{..}}+{{..}}xN */
				const char *x = strstr(p, "}}x");
				if (!x)
					return -1;
				times = strtol(x + 3, (char **)&p, 10);
				for (long i = 0; i <= times; i++)
					conf_vals_push(cv, CONF_HIST, 0);
			} else {
				conf_vals_push(cv, CONF_HIST, 0);
			}
			continue;
		}
		size_t tl = strcspn(p, " \t");
		const char *t = p;
		p += tl;
		if (tl >= 1 && t[0] == '_') {
			long times = 1;
			if (tl > 1 && t[1] == 'x')
				times = strtol(t + 2, NULL, 10);
			for (long i = 0; i < times; i++)
				conf_vals_push(cv, CONF_ABSENT, 0);
			continue;
		}
		if (tl == 5 && strncmp(t, "stale", 5) == 0) {
			conf_vals_push(cv, CONF_STALE, 0);
			continue;
		}
		/* base[(+|-)inc]xN or base */
		size_t i = (t[0] == '-' || t[0] == '+') ? 1 : 0;
		size_t bend = tl, xpos = tl;
		for (size_t k = i; k < tl; k++) {
			if ((t[k] == '+' || t[k] == '-') && k > i && t[k - 1] != 'e' && t[k - 1] != 'E' &&
			    bend == tl) {
				bend = k;
			}
			if (t[k] == 'x') {
				xpos = k;
				break;
			}
		}
		if (bend > xpos)
			bend = xpos;
		double base, inc = 0;
		if (conf_number(t, bend, &base))
			return -1;
		if (xpos == tl) {
			conf_vals_push(cv, CONF_VALUE, base);
			continue;
		}
		if (bend < xpos && conf_number(t + bend, xpos - bend, &inc))
			return -1;
		long times = strtol(t + xpos + 1, NULL, 10);
		double cur = base;
		for (long k = 0; k <= times; k++) {
			conf_vals_push(cv, CONF_VALUE, cur);
			cur += inc;
		}
		/* Prometheus computes base + k*inc incrementally too. */
	}
}

/* ---- cases ---- */

struct conf_expect {
	struct promql_lset ls;
	int scalar;
	struct conf_vals vals;
};

struct conf_case {
	int line;
	int range;
	int64_t t, start, end, step;
	char expr[8192];
	int fail, ordered, warn, no_warn, info, no_info;
	char fail_msg[1024], fail_re[1024], warn_msg[1024], warn_re[1024], info_msg[1024],
		info_re[1024];
	int is_string;
	char str[1024];
	int is_matrix;
	int64_t m_start, m_end, m_step;
	struct conf_expect *exp;
	size_t nexp, capexp;
	int has_hist_expect;
};

struct conf_stats {
	unsigned passed, failed, known;
	unsigned skip_hist, skip_unsup;
};

static int conf_verbose;

static int conf_re_match(const char *re, const char *s)
{
	int err;
	PCRE2_SIZE off;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
	if (!c)
		return 0;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
	int rc = pcre2_match(c, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL) >= 0;
	pcre2_match_data_free(md);
	pcre2_code_free(c);
	return rc;
}

static int conf_almost(double a, double b)
{
	const double eps = 1e-6, min_normal = 2.2250738585072014e-308;
	if (isnan(a) && isnan(b))
		return 1;
	if (a == b)
		return 1;
	double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
	if (a == 0 || b == 0 || abs_sum < min_normal)
		return diff < eps * min_normal;
	return diff / fmin(abs_sum, 1.7976931348623157e308) < eps;
}

static char *conf_walk_unsup;

static int conf_walk(struct promql_node *n, int depth, void *arg)
{
	(void)depth;
	int *hist = arg;
	if (n->kind == PROMQL_CALL) {
		const char *nm = n->call.fn->name;
		if (n->call.fn->flags & PROMQL_FN_HISTOGRAM)
			*hist = 1;
		if (strcmp(nm, "info") == 0 || strcmp(nm, "histogram_quantiles") == 0 ||
		    strcmp(nm, "start_timestamp") == 0) {
			conf_walk_unsup = "unsupported function";
			return 1;
		}
	}
	if (n->kind == PROMQL_VECTOR_SEL && (n->vs.anchored || n->vs.smoothed)) {
		conf_walk_unsup = "anchored/smoothed";
		return 1;
	}
	if (n->kind == PROMQL_BINARY && (n->bin.vm.has_fill_lhs || n->bin.vm.has_fill_rhs)) {
		conf_walk_unsup = "fill modifiers";
		return 1;
	}
	if (n->kind == PROMQL_VECTOR_SEL) {
		for (size_t i = 0; i < conf_ndb; i++) {
			if (!conf_db[i].hist)
				continue;
			if (matcher_match_key(n->vs.m, n->vs.nm, conf_db[i].key, conf_db[i].klen))
				*hist = 1;
		}
	}
	return 0;
}

static void conf_failf(const char *file, struct conf_case *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static char conf_fail_buf[2048];

static void conf_failf(const char *file, struct conf_case *c, const char *fmt, ...)
{
	va_list ap;
	(void)file;
	(void)c;
	va_start(ap, fmt);
	vsnprintf(conf_fail_buf, sizeof(conf_fail_buf), fmt, ap);
	va_end(ap);
}

static struct promql_storage conf_storage = {conf_select, NULL};

/* Compares a vector/matrix result with the expectation. Returns 0 or -1
 * (message in conf_fail_buf). */
static int conf_compare_series(const char *file, struct conf_case *c, struct promql_result *r,
			       int64_t start, int64_t step, int instant)
{
	char buf[1024];
	size_t nexp = 0;
	for (size_t i = 0; i < c->nexp; i++)
		if (!c->exp[i].scalar)
			nexp++;
	if (nexp != r->n) {
		conf_failf(file, c, "expected %zu series, got %zu", nexp, r->n);
		if (r->n && conf_verbose) {
			promql_lset_format(&r->series[0].ls, buf, sizeof(buf));
			fprintf(stderr, "    first got: %s\n", buf);
		}
		return -1;
	}
	for (size_t i = 0; i < c->nexp; i++) {
		struct conf_expect *e = &c->exp[i];
		size_t j;
		for (j = 0; j < r->n; j++)
			if (promql_lset_eq(&e->ls, &r->series[j].ls))
				break;
		promql_lset_format(&e->ls, buf, sizeof(buf));
		if (j == r->n) {
			conf_failf(file, c, "expected series %s not in result", buf);
			return -1;
		}
		if (c->ordered && j != i) {
			conf_failf(file, c, "series %s at position %zu, expected %zu", buf, j, i);
			return -1;
		}
		struct promql_rseries *s = &r->series[j];
		size_t k = 0;
		if (instant) {
			if (e->vals.n != 1 || s->n != 1) {
				conf_failf(file, c, "%s: expected one value", buf);
				return -1;
			}
			if (!conf_almost(e->vals.v[0], s->pts[0].v)) {
				conf_failf(file, c, "%s: expected %.17g, got %.17g", buf, e->vals.v[0], s->pts[0].v);
				return -1;
			}
			continue;
		}
		for (size_t x = 0; x < e->vals.n; x++) {
			int64_t ts = start + (int64_t)x * step;
			if (e->vals.k[x] != CONF_VALUE)
				continue;
			if (k >= s->n || s->pts[k].ts_ms != ts) {
				conf_failf(file, c, "%s: expected a point at %lld, got %s%lld", buf, (long long)ts,
					   k < s->n ? "" : "none ", k < s->n ? (long long)s->pts[k].ts_ms : 0LL);
				return -1;
			}
			if (!conf_almost(e->vals.v[x], s->pts[k].v)) {
				conf_failf(file, c, "%s at %lld: expected %.17g, got %.17g", buf, (long long)ts,
					   e->vals.v[x], s->pts[k].v);
				return -1;
			}
			k++;
		}
		if (k != s->n) {
			conf_failf(file, c, "%s: %zu extra points (first at %lld)", buf, s->n - k,
				   (long long)s->pts[k].ts_ms);
			return -1;
		}
	}
	return 0;
}

static int conf_annotations(const char *file, struct conf_case *c, struct promql_result *r)
{
	if (c->warn && r->nwarn == 0) {
		conf_failf(file, c, "expected a warning, got none");
		return -1;
	}
	if (c->no_warn && r->nwarn) {
		conf_failf(file, c, "expected no warning, got: %s", r->warnings[0]);
		return -1;
	}
	if (c->info && r->ninfo == 0) {
		conf_failf(file, c, "expected an info annotation, got none");
		return -1;
	}
	if (c->no_info && r->ninfo) {
		conf_failf(file, c, "expected no info, got: %s", r->infos[0]);
		return -1;
	}
	for (int w = 0; w < 2; w++) {
		const char *msg = w ? c->info_msg : c->warn_msg, *re = w ? c->info_re : c->warn_re;
		char **arr = w ? r->infos : r->warnings;
		size_t n = w ? r->ninfo : r->nwarn;
		int found = 0;
		if (!msg[0] && !re[0])
			continue;
		for (size_t i = 0; i < n; i++)
			if ((msg[0] && strcmp(arr[i], msg) == 0) || (re[0] && conf_re_match(re, arr[i])))
				found = 1;
		if (!found) {
			conf_failf(file, c, "expected %s \"%s\", got %s", w ? "info" : "warning", msg[0] ? msg : re,
				   n ? arr[0] : "none");
			return -1;
		}
	}
	return 0;
}

/* Runs one case. Returns 0 pass, -1 fail, 1 skipped histograms, 2 skipped unsupported. */
static int conf_run(const char *file, struct conf_case *c)
{
	struct promql_node *tree = NULL;
	struct promql_error pe;
	struct promql_result r;
	struct promql_opts o;
	int hist = c->has_hist_expect, rc;

	memset(&r, 0, sizeof(r));
	conf_fail_buf[0] = '\0';
	{
		size_t nf;
		const struct promql_func *ft = promql_func_table(&nf);
		for (size_t i = 0; i < nf; i++) {
			char pat[128];
			snprintf(pat, sizeof(pat), "%s(", ft[i].name);
			if ((ft[i].flags & PROMQL_FN_HISTOGRAM) && strstr(c->expr, pat))
				hist = 1;
		}
	}
	if (promql_parse(c->expr, strlen(c->expr), &tree, &pe) != 0) {
		if (c->fail) {
			if (c->fail_msg[0] && strcmp(c->fail_msg, pe.msg) != 0 && !strstr(pe.msg, c->fail_msg)) {
				conf_failf(file, c, "error \"%s\", expected \"%s\"", pe.msg, c->fail_msg);
				return hist ? 1 : -1;
			}
			return 0;
		}
		conf_failf(file, c, "parse error: %s", pe.msg);
		return hist ? 1 : -1;
	}
	conf_walk_unsup = NULL;
	promql_walk(tree, conf_walk, &hist);
	if (hist) {
		promql_free(tree);
		return 1;
	}
	if (!conf_walk_unsup)
		conf_walk_unsup = (char *)conf_feature;
	if (conf_walk_unsup) {
		promql_free(tree);
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.query = c->expr;
	o.deadline_ms = promql_now_ms() + 20000;
	if (c->range)
		rc = promql_eval_range(tree, &conf_storage, &o, c->start, c->end, c->step, &r);
	else
		rc = promql_eval_instant(tree, &conf_storage, &o, c->t, &r);
	if (rc != 0) {
		int ok = c->fail;
		if (ok && c->fail_msg[0] && strcmp(c->fail_msg, r.msg) != 0)
			ok = 0;
		if (ok && c->fail_re[0] && !conf_re_match(c->fail_re, r.msg))
			ok = 0;
		if (!ok)
			conf_failf(file, c, "error: %s%s%s", r.msg, c->fail ? "; expected: " : "",
				   c->fail ? (c->fail_msg[0] ? c->fail_msg : c->fail_re) : "");
		promql_result_free(&r);
		promql_free(tree);
		return ok ? 0 : -1;
	}
	rc = 0;
	if (c->fail) {
		conf_failf(file, c, "expected an error, got success");
		rc = -1;
	} else if (conf_annotations(file, c, &r)) {
		rc = -1;
	} else if (c->is_string) {
		if (r.type != PROMQL_TYPE_STRING || strcmp(r.str, c->str) != 0) {
			conf_failf(file, c, "expected string \"%s\"", c->str);
			rc = -1;
		}
	} else if (r.type == PROMQL_TYPE_SCALAR) {
		if (c->nexp != 1 || !c->exp[0].scalar || !conf_almost(c->exp[0].vals.v[0], r.scalar)) {
			conf_failf(file, c, "scalar %.17g does not match", r.scalar);
			rc = -1;
		}
	} else if (r.type == PROMQL_TYPE_MATRIX && !c->range) {
		rc = conf_compare_series(file, c, &r, c->m_start, c->m_step, 0);
	} else if (c->range) {
		rc = conf_compare_series(file, c, &r, c->start, c->step, 0);
	} else {
		rc = conf_compare_series(file, c, &r, c->t, 0, 1);
	}
	/* promqltest also checks the instant vector in range mode. */
	if (rc == 0 && !c->range && r.type == PROMQL_TYPE_VECTOR && !strstr(c->expr, "range()") &&
	    !strstr(c->expr, "step()")) {
		struct promql_result rr;
		memset(&rr, 0, sizeof(rr));
		if (promql_eval_range(tree, &conf_storage, &o, c->t - 60000, c->t, 60000, &rr) != 0) {
			conf_failf(file, c, "range mode: error %s", rr.msg);
			rc = -1;
		} else {
			size_t cnt = 0;
			for (size_t i = 0; i < rr.n && rc == 0; i++) {
				struct promql_rseries *s = &rr.series[i];
				if (!s->n || s->pts[s->n - 1].ts_ms != c->t)
					continue;
				cnt++;
				size_t j;
				for (j = 0; j < r.n; j++)
					if (promql_lset_eq(&r.series[j].ls, &s->ls))
						break;
				if (j == r.n || !conf_almost(r.series[j].pts[0].v, s->pts[s->n - 1].v)) {
					char b[512];
					promql_lset_format(&s->ls, b, sizeof(b));
					conf_failf(file, c, "range mode differs for %s", b);
					rc = -1;
				}
			}
			if (rc == 0 && cnt != r.n) {
				conf_failf(file, c, "range mode: %zu series at t, instant %zu", cnt, r.n);
				rc = -1;
			}
		}
		promql_result_free(&rr);
	}
	promql_result_free(&r);
	promql_free(tree);
	return rc;
}

static void conf_case_reset(struct conf_case *c)
{
	for (size_t i = 0; i < c->nexp; i++) {
		promql_lset_free(&c->exp[i].ls);
		free(c->exp[i].vals.v);
		free(c->exp[i].vals.k);
	}
	free(c->exp);
	memset(c, 0, sizeof(*c));
}

static const char *conf_known_why(const char *file, int line)
{
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	for (size_t i = 0; conf_known[i].file; i++)
		if (strcmp(conf_known[i].file, base) == 0 && conf_known[i].line == line)
			return conf_known[i].why;
	return NULL;
}

static void conf_finish(const char *file, struct conf_case *c, struct conf_stats *st)
{
	int rc = conf_run(file, c);
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	if (rc == 0) {
		st->passed++;
		if (conf_verbose)
			printf("  ok   %s:%d %s\n", base, c->line, c->expr);
	} else if (rc == 1) {
		st->skip_hist++;
	} else if (rc == 2) {
		st->skip_unsup++;
	} else {
		const char *why = conf_known_why(file, c->line);
		if (why) {
			st->known++;
			if (conf_verbose)
				printf("  KNOWN %s:%d: %s (%s)\n", base, c->line, why, conf_fail_buf);
		} else {
			st->failed++;
			printf("  FAIL %s:%d: %s\n        %s\n", base, c->line, c->expr, conf_fail_buf);
		}
	}
	conf_case_reset(c);
}

/* Parses "msg: X" / "regex: X" after an expect keyword. */
static void conf_msg(const char *p, char *msg, char *re, size_t cap)
{
	p += strspn(p, " \t");
	if (strncmp(p, "msg:", 4) == 0) {
		p += 4;
		p += strspn(p, " \t");
		snprintf(msg, cap, "%s", p);
	} else if (strncmp(p, "regex:", 6) == 0) {
		p += 6;
		p += strspn(p, " \t");
		snprintf(re, cap, "%s", p);
	}
}

static int conf_file(const char *path, struct conf_stats *tot)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, in_load = 0, in_eval = 0, nhcb = 0;
	int64_t load_iv = 0;
	struct conf_case c;
	struct conf_stats st = {0};
	struct conf_vals cv = {0};

	if (!f) {
		fprintf(stderr, "conformance: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	memset(&c, 0, sizeof(c));
	conf_clear();
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		char *p = line + strspn(line, " \t");
		int indented = p != line;
		if (*p == '#')
			continue;
		if (!*p) {
			if (in_eval) {
				conf_finish(path, &c, &st);
				in_eval = 0;
			}
			in_load = 0;
			continue;
		}
		if (!indented && in_eval && strncmp(p, "expect", 6) != 0) {
			conf_finish(path, &c, &st);
			in_eval = 0;
		}
		if (!indented && strncmp(p, "load", 4) == 0) {
			in_load = 1;
			nhcb = strncmp(p, "load_with_nhcb", 14) == 0;
			p += strcspn(p, " \t");
			p += strspn(p, " \t");
			if (conf_duration(p, strcspn(p, " \t"), &load_iv) != 0)
				fprintf(stderr, "%s:%d: bad load interval\n", path, lineno);
			continue;
		}
		if (!indented && strcmp(p, "clear") == 0) {
			conf_clear();
			continue;
		}
		if (in_load && indented && strstr(p, "}@st")) {
			conf_feature = "start timestamps";
			continue;
		}
		if (in_load && indented && (strstr(p, "__type__") || strstr(p, "__unit__")))
			conf_feature = "type-and-unit labels";
		if (in_load && indented) {
			struct conf_labels l;
			uint8_t key[SERIES_KEY_MAX];
			const char *q = p;
			if (conf_desc(&q, &l) != 0 || conf_values(q, &cv) != 0) {
				fprintf(stderr, "%s:%d: bad series line\n", path, lineno);
				continue;
			}
			int kl = conf_labels_key(&l, key, sizeof(key));
			if (kl <= 0) {
				fprintf(stderr, "%s:%d: cannot build series key\n", path, lineno);
				continue;
			}
			struct conf_series *s = conf_get(key, (size_t)kl);
			size_t nl = strlen(l.name);
			if (nhcb && nl > 7 && strcmp(l.name + nl - 7, "_bucket") == 0) {
				/* The NHCB twin named after the base: mark it as histogram. */
				char base[256];
				snprintf(base, sizeof(base), "%.*s", (int)(nl - 7), l.name);
				struct conf_labels b = l;
				snprintf(b.name, sizeof(b.name), "%s", base);
				int bi = 0;
				for (int i = 0; i < b.n; i++)
					if (strcmp(b.names[i], "le") != 0) {
						if (bi != i) {
							memcpy(b.names[bi], b.names[i], 256);
							memcpy(b.vals[bi], b.vals[i], 1024);
						}
						bi++;
					}
				b.n = bi;
				uint8_t bk[SERIES_KEY_MAX];
				int bl = conf_labels_key(&b, bk, sizeof(bk));
				if (bl > 0)
					conf_get(bk, (size_t)bl)->hist = 1;
				s = conf_get(key, (size_t)kl);
			}
			for (size_t i = 0; i < cv.n; i++) {
				int64_t ts = (int64_t)i * load_iv;
				if (cv.k[i] == CONF_VALUE) {
					conf_put(s, ts, cv.v[i]);
				} else if (cv.k[i] == CONF_STALE) {
					uint64_t bits = PROMQL_STALE_NAN_BITS;
					double sv;
					memcpy(&sv, &bits, sizeof(sv));
					conf_put(s, ts, sv);
				} else if (cv.k[i] == CONF_HIST) {
					s->hist = 1;
				}
			}
			continue;
		}
		in_load = 0;
		if (!indented && strncmp(p, "eval", 4) == 0) {
			char *q = p + 4;
			memset(&c, 0, sizeof(c));
			c.line = lineno;
			if (*q == '_') {
				if (strncmp(q, "_fail", 5) == 0)
					c.fail = 1;
				else if (strncmp(q, "_ordered", 8) == 0)
					c.ordered = 1;
				else if (strncmp(q, "_warn", 5) == 0)
					c.warn = 1;
				else if (strncmp(q, "_info", 5) == 0)
					c.info = 1;
				q += strcspn(q, " \t");
			}
			q += strspn(q, " \t");
			char w[7][64];
			int nw = 0;
			int words = strncmp(q, "range", 5) == 0 ? 7 : 3;
			for (; nw < words; nw++) {
				size_t wl = strcspn(q, " \t");
				snprintf(w[nw], sizeof(w[nw]), "%.*s", (int)wl, q);
				q += wl;
				q += strspn(q, " \t");
			}
			snprintf(c.expr, sizeof(c.expr), "%s", q);
			if (words == 7) {
				c.range = 1;
				if (conf_duration(w[2], strlen(w[2]), &c.start) || conf_duration(w[4], strlen(w[4]), &c.end) ||
				    conf_duration(w[6], strlen(w[6]), &c.step))
					fprintf(stderr, "%s:%d: bad range\n", path, lineno);
			} else if (conf_duration(w[2], strlen(w[2]), &c.t)) {
				fprintf(stderr, "%s:%d: bad time\n", path, lineno);
			}
			in_eval = 1;
			continue;
		}
		if (in_eval && strncmp(p, "expect", 6) == 0) {
			char *q = p + 6;
			q += strspn(q, " \t");
			if (strncmp(q, "fail", 4) == 0) {
				c.fail = 1;
				conf_msg(q + 4, c.fail_msg, c.fail_re, sizeof(c.fail_msg));
			} else if (strncmp(q, "no_warn", 7) == 0) {
				c.no_warn = 1;
			} else if (strncmp(q, "no_info", 7) == 0) {
				c.no_info = 1;
			} else if (strncmp(q, "warn", 4) == 0) {
				c.warn = 1;
				conf_msg(q + 4, c.warn_msg, c.warn_re, sizeof(c.warn_msg));
			} else if (strncmp(q, "info", 4) == 0) {
				c.info = 1;
				conf_msg(q + 4, c.info_msg, c.info_re, sizeof(c.info_msg));
			} else if (strncmp(q, "ordered", 7) == 0) {
				c.ordered = 1;
			} else if (strncmp(q, "string", 6) == 0) {
				const char *s = q + 6;
				s += strspn(s, " \t");
				c.is_string = 1;
				if (conf_quoted(&s, c.str, sizeof(c.str)))
					fprintf(stderr, "%s:%d: bad string\n", path, lineno);
			} else if (strncmp(q, "range vector", 12) == 0) {
				char a[64], b[64], s[64];
				c.is_matrix = 1;
				if (sscanf(q + 12, " from %63s to %63s step %63s", a, b, s) != 3 ||
				    conf_duration(a, strlen(a), &c.m_start) || conf_duration(b, strlen(b), &c.m_end) ||
				    conf_duration(s, strlen(s), &c.m_step))
					fprintf(stderr, "%s:%d: bad range vector\n", path, lineno);
			}
			continue;
		}
		if (in_eval) {
			/* An expected sample line, or a scalar. */
			struct conf_expect e;
			double v;
			size_t tl = strcspn(p, " \t");
			memset(&e, 0, sizeof(e));
			if (strstr(p, "{{"))
				c.has_hist_expect = 1;
			if (p[tl] == '\0' && conf_number(p, tl, &v) == 0) {
				e.scalar = 1;
				conf_vals_push(&e.vals, CONF_VALUE, v);
			} else {
				struct conf_labels l;
				const char *q = p;
				struct conf_vals ev = {0};
				if (conf_desc(&q, &l) != 0 || conf_values(q, &ev) != 0) {
					fprintf(stderr, "%s:%d: bad expectation\n", path, lineno);
					continue;
				}
				conf_labels_lset(&l, &e.ls);
				e.vals = ev;
			}
			if (c.nexp == c.capexp) {
				c.capexp = c.capexp ? c.capexp * 2 : 8;
				c.exp = realloc(c.exp, c.capexp * sizeof(*c.exp));
				if (!c.exp)
					abort();
			}
			c.exp[c.nexp++] = e;
			continue;
		}
		fprintf(stderr, "%s:%d: unrecognised line: %s\n", path, lineno, p);
	}
	if (in_eval)
		conf_finish(path, &c, &st);
	free(line);
	free(cv.v);
	free(cv.k);
	fclose(f);
	const char *base = strrchr(path, '/');
	printf("%s: %u passed, %u failed, %u skipped (native histograms %u, unsupported %u)%s",
	       base ? base + 1 : path, st.passed, st.failed, st.skip_hist + st.skip_unsup, st.skip_hist,
	       st.skip_unsup, st.known ? "" : "\n");
	if (st.known)
		printf(", %u known failures listed\n", st.known);
	tot->passed += st.passed;
	tot->failed += st.failed;
	tot->known += st.known;
	tot->skip_hist += st.skip_hist;
	tot->skip_unsup += st.skip_unsup;
	return 0;
}

static int conf_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int conf_dir(const char *dir, struct conf_stats *st)
{
	char sub[4096], *names[256];
	size_t n = 0;
	struct stat sb;
	snprintf(sub, sizeof(sub), "%s/promql", dir);
	if (stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
		dir = sub;
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "conformance: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d)) && n < 256) {
		size_t l = strlen(de->d_name);
		if (l > 5 && strcmp(de->d_name + l - 5, ".test") == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), conf_cmp);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (conf_file(path, st) != 0)
			rc = -1;
		free(names[i]);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct conf_stats st = {0};
	int rc = 0, any = 0;
	for (int i = 1; i < argc; i++) {
		struct stat sb;
		if (strcmp(argv[i], "-v") == 0) {
			conf_verbose = 1;
			continue;
		}
		any = 1;
		if (stat(argv[i], &sb) != 0) {
			fprintf(stderr, "conformance: %s: %s\n", argv[i], strerror(errno));
			rc = 2;
			continue;
		}
		if (S_ISDIR(sb.st_mode) ? conf_dir(argv[i], &st) : conf_file(argv[i], &st))
			rc = 2;
	}
	if (!any) {
		fprintf(stderr, "usage: %s [-v] FILE.test|DIR...\n", argv[0]);
		return 2;
	}
	conf_clear();
	free(conf_db);
	if (st.known)
		printf("known failures (listed in conf_known): %u\n", st.known);
	/* stderr is unbuffered, so every error line is already out; writing
	 * the summary last and flushing keeps it the last line even when
	 * stdout and stderr share one file. */
	printf("%u passed, %u failed, %u skipped\n", st.passed, st.failed,
	       st.skip_hist + st.skip_unsup);
	fflush(stdout);
	if (rc)
		return rc;
	return st.failed ? 1 : 0;
}
