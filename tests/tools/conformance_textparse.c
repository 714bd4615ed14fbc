/* conformance_textparse: runs the textparse module against the upstream
 * conformance data.
 *
 * Usage: conformance_textparse [-v] <conformance-dir>
 * (-v also prints why each expected rejection was rejected)
 *
 *  - <dir>/openmetrics/<case>/test.json ({"type":"text","file":...,
 *    "shouldParse":bool}, from prometheus/OpenMetrics): the body is parsed
 *    in OpenMetrics mode and accept/reject must match.
 *  - <dir>/textparse/ bodies named .prom.txt and .om.txt (real bodies from
 *    prometheus/prometheus model/textparse/testdata) must parse in PROM and
 *    OPENMETRICS mode respectively.
 *
 * Cases where mcs knowingly differs are listed below with the reason; they
 * are counted as skipped (and reported if they would now pass). Prints one
 * line per failure and ends with "conformance: N passed, N failed, N
 * skipped"; exits 1 when anything failed, 2 on a usage or I/O error.
 *
 * Not a benchmark (see bench_textparse) and not a unit test.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/textparse.h"

/* Cases we treat differently from upstream, with the reason. */
static const struct {
	const char *name;
	const char *reason;
} conformance_textparse_known[] = {
	/* None at present: every OpenMetrics case in the data set agrees. */
	{NULL, NULL},
};

/* textparse bodies that are expected to fail: the error message must
 * contain `expect`. */
static const struct {
	const char *name;
	const char *expect;
	const char *reason;
} conformance_textparse_bad_bodies[] = {
	{"alltypes.5mfs.om.txt", "counter-like value cannot be negative",
	 "client_golang exposes rpc_durations_histogram_seconds with negative buckets and a "
	 "negative _sum; OpenMetrics 1.0 forbids a _sum on histograms with negative buckets "
	 "(cases bad_counter_values_8/9 require the rejection). Prometheus accepts it because "
	 "its parser makes no semantic checks."},
	{NULL, NULL, NULL},
};

static int conformance_textparse_verbose;
static unsigned conformance_textparse_passed, conformance_textparse_failed,
	conformance_textparse_skipped;

/* Reads a whole file into a malloc'd buffer (*out, *len; the caller frees).
 * Returns 0 or -errno. */
static int conformance_textparse_read(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t cap = 0, n = 0;

	*out = NULL;
	if (!f)
		return -errno;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(b, cap);
			if (!nb) {
				free(b);
				fclose(f);
				return -ENOMEM;
			}
			b = nb;
		}
		size_t r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(b);
		return -EIO;
	}
	*out = b;
	*len = n;
	return 0;
}

static int conformance_textparse_count(void *ctx, const struct textparse_sample *s)
{
	(*(size_t *)ctx)++;
	return 0;
}

static const char *conformance_textparse_known_reason(const char *name)
{
	for (size_t i = 0; conformance_textparse_known[i].name; i++)
		if (strcmp(conformance_textparse_known[i].name, name) == 0)
			return conformance_textparse_known[i].reason;
	return NULL;
}

static int conformance_textparse_bad_index(const char *name)
{
	for (int i = 0; conformance_textparse_bad_bodies[i].name; i++)
		if (strcmp(conformance_textparse_bad_bodies[i].name, name) == 0)
			return i;
	return -1;
}

static int conformance_textparse_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the entries of dir (without . and ..) sorted, into a malloc'd
 * array of malloc'd names. Returns the count or -errno. */
static int conformance_textparse_list(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n] = strdup(e->d_name);
		if (v[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), conformance_textparse_cmp);
	*out = v;
	return (int)n;
}

static void conformance_textparse_free_list(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Runs one OpenMetrics case folder. */
static void conformance_textparse_om_case(const char *dir, const char *name)
{
	char path[4096];
	char *json = NULL, *body = NULL;
	size_t jlen, blen, nsamples = 0;
	cJSON *root = NULL;
	struct textparse_error err;

	snprintf(path, sizeof(path), "%s/openmetrics/%s/test.json", dir, name);
	if (conformance_textparse_read(path, &json, &jlen) < 0)
		return; /* not a case folder (e.g. LICENSE) */
	root = cJSON_ParseWithLength(json, jlen);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(root, "file");
	const cJSON *should = cJSON_GetObjectItemCaseSensitive(root, "shouldParse");
	if (!root || !cJSON_IsString(type) || !cJSON_IsString(file) || !cJSON_IsBool(should)) {
		printf("FAIL openmetrics/%s: unreadable test.json\n", name);
		conformance_textparse_failed++;
		goto out;
	}
	if (strcmp(type->valuestring, "text") != 0) {
		printf("SKIP openmetrics/%s: type %s is not text\n", name, type->valuestring);
		conformance_textparse_skipped++;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/openmetrics/%s/%s", dir, name, file->valuestring);
	if (conformance_textparse_read(path, &body, &blen) < 0) {
		printf("FAIL openmetrics/%s: cannot read %s\n", name, path);
		conformance_textparse_failed++;
		goto out;
	}
	int rc = textparse_parse(body, blen, TEXTPARSE_OPENMETRICS, conformance_textparse_count,
				 NULL, &nsamples, &err);
	int want = cJSON_IsTrue(should);
	int ok = (rc == 0) == want;
	const char *reason = conformance_textparse_known_reason(name);
	if (reason) {
		printf("SKIP openmetrics/%s: %s%s\n", name, reason,
		       ok ? " (now agrees: remove from the table)" : "");
		conformance_textparse_skipped++;
	} else if (ok) {
		if (conformance_textparse_verbose && rc != 0)
			printf("ok   openmetrics/%s: rejected at %u:%u: %s\n", name, err.line,
			       err.column, err.msg);
		conformance_textparse_passed++;
	} else if (want) {
		printf("FAIL openmetrics/%s: rejected a valid body: %u:%u: %s\n", name, err.line,
		       err.column, err.msg);
		conformance_textparse_failed++;
	} else {
		printf("FAIL openmetrics/%s: accepted an invalid body (%zu samples)\n", name,
		       nsamples);
		conformance_textparse_failed++;
	}
out:
	cJSON_Delete(root);
	free(json);
	free(body);
}

/* Parses one real body from textparse/. */
static void conformance_textparse_body(const char *dir, const char *name)
{
	char path[4096];
	char *body = NULL;
	size_t blen, nsamples = 0, nl = strlen(name);
	struct textparse_error err;
	enum textparse_format fmt;

	if (nl > 9 && strcmp(name + nl - 9, ".prom.txt") == 0)
		fmt = TEXTPARSE_PROM;
	else if (nl > 7 && strcmp(name + nl - 7, ".om.txt") == 0)
		fmt = TEXTPARSE_OPENMETRICS;
	else
		return;
	snprintf(path, sizeof(path), "%s/textparse/%s", dir, name);
	if (conformance_textparse_read(path, &body, &blen) < 0) {
		printf("FAIL textparse/%s: cannot read\n", name);
		conformance_textparse_failed++;
		return;
	}
	int rc = textparse_parse(body, blen, fmt, conformance_textparse_count, NULL, &nsamples,
				 &err);
	int bad = conformance_textparse_bad_index(name);
	if (bad >= 0) {
		if (rc == 0) {
			printf("FAIL textparse/%s: expected a rejection (%s)\n", name,
			       conformance_textparse_bad_bodies[bad].reason);
			conformance_textparse_failed++;
		} else if (!strstr(err.msg, conformance_textparse_bad_bodies[bad].expect)) {
			printf("FAIL textparse/%s: rejected for another reason: %u:%u: %s\n", name,
			       err.line, err.column, err.msg);
			conformance_textparse_failed++;
		} else {
			printf("note textparse/%s: rejected as expected at %u:%u (%s): %s\n", name,
			       err.line, err.column, err.msg,
			       conformance_textparse_bad_bodies[bad].reason);
			conformance_textparse_passed++;
		}
	} else if (rc == 0 && nsamples > 0) {
		conformance_textparse_passed++;
	} else if (rc == 0) {
		printf("FAIL textparse/%s: parsed but produced no samples\n", name);
		conformance_textparse_failed++;
	} else {
		printf("FAIL textparse/%s: %u:%u: %s\n", name, err.line, err.column, err.msg);
		conformance_textparse_failed++;
	}
	free(body);
}

int main(int argc, char **argv)
{
	char sub[4096];
	char **names;
	int n;

	if (argc == 3 && strcmp(argv[1], "-v") == 0) {
		conformance_textparse_verbose = 1;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s [-v] <conformance-dir>\n", argv[0]);
		return 2;
	}
	snprintf(sub, sizeof(sub), "%s/openmetrics", argv[1]);
	n = conformance_textparse_list(sub, &names);
	if (n < 0) {
		fprintf(stderr, "opendir(%s) failed: %s\n", sub, strerror(-n));
		return 2;
	}
	for (int i = 0; i < n; i++)
		conformance_textparse_om_case(argv[1], names[i]);
	conformance_textparse_free_list(names, n);

	snprintf(sub, sizeof(sub), "%s/textparse", argv[1]);
	n = conformance_textparse_list(sub, &names);
	if (n < 0) {
		fprintf(stderr, "opendir(%s) failed: %s\n", sub, strerror(-n));
		return 2;
	}
	for (int i = 0; i < n; i++)
		conformance_textparse_body(argv[1], names[i]);
	conformance_textparse_free_list(names, n);

	printf("conformance: %u passed, %u failed, %u skipped\n", conformance_textparse_passed,
	       conformance_textparse_failed, conformance_textparse_skipped);
	return conformance_textparse_failed ? 1 : 0;
}
