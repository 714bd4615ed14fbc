/* conformance_promql_parse: parses every query of Prometheus' PromQL test
 * files with common/promql_parse.
 *
 * Usage: conformance_promql_parse [-v] FILE.test|DIR...
 * (a DIR with a promql/ subdirectory, like the shared conformance root
 * scripts/run-tests passes, means the .test files in DIR/promql; -v prints each case
 * and why skipped ones that do not parse fail)
 *
 * Each `eval instant at T EXPR`, `eval range from A to B step S EXPR` line
 * and their eval_fail / eval_ordered / eval_warn / eval_info forms is one
 * case. A case passes when the expression parses, its printed form parses
 * again and prints identically (the printer is a fixed point). A case that
 * must fail (eval_fail, or an `expect fail` line under it) passes whether
 * the parser rejects it or accepts it (then it is a runtime failure for the
 * evaluator), and never counts as failed.
 *
 * Skipped and counted, with the reason: cases on native-histogram data
 * (a `{{...}}` series loaded since the last `clear`, or a native-histogram
 * function) and cases calling experimental functions (the evaluator leaves
 * them out). Prints one line per file and per failure, and ends with
 * "conformance: N passed, N failed, N skipped"; exits 1 when anything
 * failed, 2 on a usage or I/O error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/promql_lex.h"
#include "common/promql_parse.h"
#include "common/promql_print.h"

struct conf_stats {
	unsigned passed, failed, skip_hist, skip_exp;
	unsigned fail_rejected, fail_runtime; /* expected failures */
	unsigned skip_parsed;                 /* skipped cases that parse anyway */
};

static int conf_verbose;

/* Metric names loaded with native-histogram samples since the last
 * clear, as " name1 name2 " (space-separated, with leading space). */
static char conf_hist_names[16384] = " ";

static void conf_hist_add(const char *line)
{
	const char *p = line + strspn(line, " \t");
	size_t n = strcspn(p, "{ \t");
	size_t have = strlen(conf_hist_names);
	if (n == 0 || have + n + 2 >= sizeof(conf_hist_names))
		return;
	memcpy(conf_hist_names + have, p, n);
	memcpy(conf_hist_names + have + n, " ", 2);
}

static int conf_hist_has(const char *name, size_t len)
{
	char key[256];
	if (len + 3 > sizeof(key))
		return 0;
	key[0] = ' ';
	memcpy(key + 1, name, len);
	memcpy(key + 1 + len, " ", 2);
	return strstr(conf_hist_names, key) != NULL;
}

static int conf_walk_exp(struct promql_node *n, int depth, void *arg)
{
	(void)depth;
	(void)arg;
	if (n->kind == PROMQL_CALL && (n->call.fn->flags & PROMQL_FN_HISTOGRAM))
		return 1;
	if (n->kind == PROMQL_CALL && (n->call.fn->flags & PROMQL_FN_EXPERIMENTAL))
		return 2;
	if (n->kind == PROMQL_AGGREGATE &&
	    (n->agg.op == PROMQL_AGG_LIMITK || n->agg.op == PROMQL_AGG_LIMIT_RATIO))
		return 2;
	return 0;
}

/* 0 runnable, 1 native histograms, 2 experimental function. */
static int conf_skip_reason(const char *expr, int hist_data)
{
	struct promql_lex lx;
	struct promql_token t, prev = {0};
	int reason = 0, parsed = 0;
	struct promql_node *tree = NULL;
	struct promql_error e;
	if (promql_parse(expr, strlen(expr), &tree, &e) == 0) {
		/* Only real calls count (step() inside a range is syntax). */
		reason = promql_walk(tree, conf_walk_exp, NULL);
		parsed = 1;
		promql_free(tree);
	}
	promql_lex_init(&lx, expr, strlen(expr));
	while (promql_lex_next(&lx, &t) != PROMQL_T_EOF && t.type != PROMQL_T_ERROR) {
		if (hist_data && (t.type == PROMQL_T_IDENT || t.type == PROMQL_T_METRIC ||
				  t.type == PROMQL_T_STRING)) {
			size_t off = t.type == PROMQL_T_STRING, l = t.len - 2 * off;
			if (t.len >= 2 * off && conf_hist_has(expr + t.pos + off, l))
				reason = 1;
		}
		if (!parsed && t.type == PROMQL_T_LPAREN && prev.type == PROMQL_T_IDENT) {
			const struct promql_func *fn = promql_func_lookup(expr + prev.pos, prev.len);
			if (fn && (fn->flags & PROMQL_FN_HISTOGRAM))
				reason = 1;
			else if (!reason && fn && (fn->flags & PROMQL_FN_EXPERIMENTAL))
				reason = 2;
			else if (!reason && (promql_lex_is_kw(&lx, &prev, "limitk") ||
					     promql_lex_is_kw(&lx, &prev, "limit_ratio")))
				reason = 2;
		}
		prev = t;
	}
	return reason;
}

/* Parses, prints, re-parses, re-prints. Returns 0 when all agree, -1 on a
 * parse error (msg in err), 1 when the printed form is not a fixed point. */
static int conf_check(const char *expr, char *err, size_t errlen)
{
	struct promql_node *n = NULL, *n2 = NULL;
	struct promql_error e;
	char *s1 = NULL, *s2 = NULL;
	int rc = -1;
	if (promql_parse(expr, strlen(expr), &n, &e) != 0) {
		snprintf(err, errlen, "%s", e.msg);
		return -1;
	}
	if (promql_format(n, &s1) != 0)
		goto out;
	if (promql_parse(s1, strlen(s1), &n2, &e) != 0) {
		snprintf(err, errlen, "printed form \"%s\" does not parse: %s", s1, e.msg);
		rc = 1;
		goto out;
	}
	if (promql_format(n2, &s2) != 0)
		goto out;
	rc = strcmp(s1, s2) != 0;
	if (rc)
		snprintf(err, errlen, "printed \"%s\", reprinted \"%s\"", s1, s2);
	else if (conf_verbose)
		printf("  ok: %s  =>  %s\n", expr, s1);
out:
	free(s1);
	free(s2);
	promql_free(n);
	promql_free(n2);
	return rc;
}

/* The expression of an eval line, or NULL when the line is not one. */
static const char *conf_eval_expr(char *line, int *must_fail)
{
	char *p = line;
	*must_fail = 0;
	if (strncmp(p, "eval", 4) != 0)
		return NULL;
	p += 4;
	if (*p == '_') {
		*must_fail = strncmp(p, "_fail", 5) == 0;
		p += strcspn(p, " \t");
	}
	p += strspn(p, " \t");
	int words;
	if (strncmp(p, "instant", 7) == 0)
		words = 3; /* instant at T */
	else if (strncmp(p, "range", 5) == 0)
		words = 7; /* range from A to B step S */
	else
		return NULL;
	for (int i = 0; i < words; i++) {
		p += strcspn(p, " \t");
		p += strspn(p, " \t");
	}
	return *p ? p : NULL;
}

static int conf_file(const char *path, struct conf_stats *st)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "conformance: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	char *line = NULL, *pending = NULL;
	size_t cap = 0;
	ssize_t n;
	int hist = 0, in_load = 0, pending_fail = 0, lineno = 0, pending_line = 0;
	struct conf_stats before = *st;
	for (;;) {
		n = getline(&line, &cap, f);
		if (n >= 0) {
			lineno++;
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				line[--n] = '\0';
		}
		int indented = n > 0 && (line[0] == ' ' || line[0] == '\t');
		const char *body = n >= 0 ? line + strspn(line, " \t") : "";
		if (n >= 0 && indented && pending && strncmp(body, "expect fail", 11) == 0)
			pending_fail = 1;
		if (pending && (n < 0 || !indented)) {
			/* The case is complete: run it. */
			char err[512];
			int reason = conf_skip_reason(pending, hist);
			int rc = conf_check(pending, err, sizeof(err));
			if (reason && rc == 0)
				st->skip_parsed++;
			else if (reason && conf_verbose)
				printf("  skipped, does not parse: %s:%d: %s\n    %s\n", path, pending_line,
				       pending, err);
			if (pending_fail) {
				if (rc < 0)
					st->fail_rejected++;
				else
					st->fail_runtime++;
				if (reason == 1)
					st->skip_hist++;
				else if (reason == 2)
					st->skip_exp++;
				else
					st->passed++;
			} else if (reason == 1) {
				st->skip_hist++;
			} else if (reason == 2) {
				st->skip_exp++;
			} else if (rc == 0) {
				st->passed++;
			} else {
				st->failed++;
				printf("FAIL %s:%d: %s\n    %s\n", path, pending_line, pending, err);
			}
			free(pending);
			pending = NULL;
		}
		if (n < 0)
			break;
		if (!indented) {
			in_load = strncmp(line, "load", 4) == 0;
			if (strncmp(line, "clear", 5) == 0) {
				hist = 0;
				conf_hist_names[1] = '\0';
			}
			int must_fail;
			const char *expr = conf_eval_expr(line, &must_fail);
			if (expr) {
				pending = strdup(expr);
				pending_fail = must_fail;
				pending_line = lineno;
				if (!pending) {
					fclose(f);
					free(line);
					return -1;
				}
			}
		} else if (in_load && strstr(line, "{{")) {
			hist = 1;
			conf_hist_add(line);
		}
	}
	free(line);
	fclose(f);
	printf("%s: %u passed, %u failed, %u skipped\n", path, st->passed - before.passed,
	       st->failed - before.failed,
	       (st->skip_hist + st->skip_exp) - (before.skip_hist + before.skip_exp));
	return 0;
}

static int conf_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int conf_dir(const char *dir, struct conf_stats *st)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *names[256];
	size_t nn = 0;
	int rc = 0;
	if (!d) {
		fprintf(stderr, "conformance: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL && nn < 256) {
		size_t l = strlen(de->d_name);
		if (l > 5 && strcmp(de->d_name + l - 5, ".test") == 0 &&
		    asprintf(&names[nn], "%s/%s", dir, de->d_name) > 0)
			nn++;
	}
	closedir(d);
	qsort(names, nn, sizeof(names[0]), conf_cmp);
	for (size_t i = 0; i < nn; i++) {
		if (conf_file(names[i], st) != 0)
			rc = -1;
		free(names[i]);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct conf_stats st = {0};
	int i = 1, io = 0;
	if (i < argc && strcmp(argv[i], "-v") == 0) {
		conf_verbose = 1;
		i++;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: %s [-v] FILE.test|DIR...\n", argv[0]);
		return 2;
	}
	for (; i < argc; i++) {
		struct stat sb;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/promql", argv[i]);
		if (stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			io |= conf_dir(sub, &st) != 0; /* the shared conformance root */
		else if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode))
			io |= conf_dir(argv[i], &st) != 0;
		else
			io |= conf_file(argv[i], &st) != 0;
	}
	printf("expected failures: %u rejected by the parser, %u left to the evaluator\n",
	       st.fail_rejected, st.fail_runtime);
	printf("skipped: %u native histograms, %u experimental functions (%u of them parse)\n",
	       st.skip_hist, st.skip_exp, st.skip_parsed);
	printf("conformance: %u passed, %u failed, %u skipped\n", st.passed, st.failed,
	       st.skip_hist + st.skip_exp);
	if (io)
		return 2;
	if (st.passed + st.failed + st.skip_hist + st.skip_exp == 0) {
		fprintf(stderr, "conformance: no cases found\n");
		return 2;
	}
	return st.failed ? 1 : 0;
}
