/* test_sources: unit tests of common/sources (validation of each source
 * type with errors that name the field, normalisation, document
 * invariants, the JSON round trip, atomic persistence, corrupt files, and
 * locked read-modify-write from several processes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sources.h"

/* ---- helpers ---- */

static char test_dir[256];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/test_sources.XXXXXX");
	return mkdtemp(test_dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	(void)state;
	DIR *d = opendir(test_dir);
	if (d) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(p, sizeof(p), "%s/%s", test_dir, e->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(test_dir);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int parse(const char *json, const char *want_id, struct sources_source *out, char *err, size_t errlen)
{
	err[0] = '\0';
	return sources_parse_source(json, strlen(json), want_id, out, err, errlen);
}

/* The body must be refused with -EINVAL and a message containing `what`. */
static void assert_refused(const char *json, const char *what)
{
	struct sources_source src;
	char err[1024];
	int rc = parse(json, NULL, &src, err, sizeof(err));
	if (rc != -EINVAL || !strstr(err, what))
		fail_msg("%s: rc %d, err \"%s\" (wanted -EINVAL naming %s)", json, rc, err, what);
	assert_null(src.name);
	assert_null(src.labels);
}

/* Parses json (must be valid), sets id when given and returns its JSON. */
static char *normalised(const char *json, const char *id)
{
	struct sources_source src;
	char err[1024];
	int rc = parse(json, NULL, &src, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s: rc %d, err %s", json, rc, err);
	if (id)
		assert_int_equal(sources_set_id(&src, id), 0);
	char *out = sources_source_to_json(&src);
	sources_source_free(&src);
	assert_non_null(out);
	return out;
}

/* Adds json (valid) to s with the id in the body. Returns sources_check's rc. */
static int add(struct sources *s, const char *json, char *err, size_t errlen)
{
	struct sources_source src;
	int rc = parse(json, NULL, &src, err, errlen);
	if (rc != 0)
		fail_msg("%s: rc %d, err %s", json, rc, err);
	rc = sources_check(s, &src, SIZE_MAX, err, errlen);
	if (rc == 0)
		assert_int_equal(sources_append(s, &src), 0);
	sources_source_free(&src);
	return rc;
}

/* ---- validation ---- */

static void test_push_source_is_normalised_with_defaults(void **state)
{
	(void)state;
	char *j = normalised("{\"id\":\"p1\",\"type\":\"push\",\"labels\":{\"zone\":\"b\",\"team\":\"a\"}}", NULL);
	assert_string_equal(j, "{\"id\":\"p1\",\"type\":\"push\",\"name\":\"p1\",\"enabled\":true,"
			       "\"labels\":{\"team\":\"a\",\"zone\":\"b\"},"
			       "\"endpoints\":[\"prometheus\",\"remote_write\",\"otlp\",\"influx\"]}");
	free(j);
	j = normalised("{\"type\":\"push\",\"name\":\"x\",\"enabled\":false,\"labels\":{\"t\":\"1\"},"
		       "\"endpoints\":[\"otlp\",\"prometheus\"]}",
		       "push-1");
	assert_string_equal(j, "{\"id\":\"push-1\",\"type\":\"push\",\"name\":\"x\",\"enabled\":false,"
			       "\"labels\":{\"t\":\"1\"},\"endpoints\":[\"prometheus\",\"otlp\"]}");
	free(j);
}

static void test_node_source_lists_every_collector_and_the_interval(void **state)
{
	(void)state;
	char *j = normalised("{\"id\":\"n\",\"type\":\"node\",\"collectors\":{\"cpu\":false,\"netdev\":true},"
			     "\"interval\":\"90s\"}",
			     NULL);
	assert_non_null(strstr(j, "\"cpu\":false,\"meminfo\":true"));
	assert_non_null(strstr(j, "\"netdev\":true"));
	assert_non_null(strstr(j, "\"interval\":\"90s\""));
	free(j);
	j = normalised("{\"id\":\"n\",\"type\":\"node\",\"interval\":1.5}", NULL);
	assert_non_null(strstr(j, "\"interval\":\"1500ms\""));
	free(j);
}

static void test_scrape_job_name_defaults_to_the_id(void **state)
{
	(void)state;
	const char *job = "{\"type\":\"scrape\",\"job\":{\"static_configs\":[{\"targets\":[\"127.0.0.1:9100\"]}]}}";
	struct sources_source src;
	char err[1024];
	assert_int_equal(parse(job, NULL, &src, err, sizeof(err)), 0);
	assert_null(src.job_name);
	assert_int_equal(sources_set_id(&src, "scrape-abc"), 0);
	assert_string_equal(src.job_name, "scrape-abc");
	assert_non_null(strstr(src.job, "\"job_name\":\"scrape-abc\""));
	sources_source_free(&src);

	char *j = normalised("{\"id\":\"s1\",\"type\":\"scrape\",\"job\":{\"static_configs\":[{\"targets\":"
			     "[\"127.0.0.1:9100\"]}],\"scrape_interval\":\"5s\"}}",
			     NULL);
	assert_non_null(strstr(j, "\"job_name\":\"s1\""));
	assert_non_null(strstr(j, "\"scrape_interval\":\"5s\""));
	free(j);
}

static void test_bad_sources_are_refused_naming_the_field(void **state)
{
	(void)state;
	assert_refused("", "not valid JSON");
	assert_refused("{\"type\":\"push\"", "not valid JSON");
	assert_refused("{\"type\":\"push\",\"labels\":{\"a\":\"b\"}} x", "after the JSON");
	assert_refused("[]", "JSON object");
	assert_refused("{\"labels\":{\"a\":\"b\"}}", "\"type\" is required");
	assert_refused("{\"type\":\"pull\"}", "\"type\" must be");
	assert_refused("{\"id\":\"Bad Id\",\"type\":\"push\",\"labels\":{\"a\":\"b\"}}", "\"id\"");
	assert_refused("{\"id\":7,\"type\":\"push\",\"labels\":{\"a\":\"b\"}}", "\"id\"");
	assert_refused("{\"type\":\"push\",\"labels\":{\"a\":\"b\"},\"colour\":1}", "unknown key \"colour\"");
	assert_refused("{\"type\":\"push\",\"labels\":{\"a\":\"b\"},\"job\":{}}", "unknown key \"job\"");
	assert_refused("{\"type\":\"push\",\"type\":\"push\",\"labels\":{\"a\":\"b\"}}", "\"type\" given twice");
	assert_refused("{\"type\":\"push\",\"name\":5,\"labels\":{\"a\":\"b\"}}", "\"name\"");
	assert_refused("{\"type\":\"push\",\"enabled\":\"yes\",\"labels\":{\"a\":\"b\"}}", "\"enabled\"");
	assert_refused("{\"type\":\"push\"}", "\"labels\" is required");
	assert_refused("{\"type\":\"push\",\"labels\":[]}", "\"labels\" must be an object");
	assert_refused("{\"type\":\"push\",\"labels\":{}}", "\"labels\" must not be empty");
	assert_refused("{\"type\":\"push\",\"labels\":{\"1abc\":\"x\"}}", "\"1abc\" is not a valid label name");
	assert_refused("{\"type\":\"push\",\"labels\":{\"a-b\":\"x\"}}", "\"a-b\" is not a valid label name");
	assert_refused("{\"type\":\"push\",\"labels\":{\"__name__\":\"x\"}}", "\"__name__\" is not a valid");
	assert_refused("{\"type\":\"push\",\"labels\":{\"team\":\"\"}}", "\"labels.team\" must be a non-empty");
	assert_refused("{\"type\":\"push\",\"labels\":{\"team\":3}}", "\"labels.team\" must be a non-empty");
	assert_refused("{\"type\":\"push\",\"labels\":{\"a\":\"1\",\"a\":\"2\"}}", "label \"a\" given twice");
	assert_refused("{\"type\":\"push\",\"labels\":{\"a\":\"1\"},\"endpoints\":[]}", "\"endpoints\"");
	assert_refused("{\"type\":\"push\",\"labels\":{\"a\":\"1\"},\"endpoints\":[\"carbon\"]}",
		       "unknown endpoint \"carbon\"");
	assert_refused("{\"type\":\"push\",\"labels\":{\"a\":\"1\"},\"endpoints\":\"otlp\"}", "\"endpoints\"");
	assert_refused("{\"type\":\"node\",\"collectors\":{\"gpu\":true}}", "unknown collector \"gpu\"");
	assert_refused("{\"type\":\"node\",\"collectors\":{\"cpu\":1}}", "\"collectors.cpu\" must be true or false");
	assert_refused("{\"type\":\"node\",\"collectors\":[\"cpu\"]}", "\"collectors\" must be an object");
	assert_refused("{\"type\":\"node\",\"interval\":\"soon\"}", "\"interval\"");
	assert_refused("{\"type\":\"node\",\"interval\":\"10ms\"}", "\"interval\"");
	assert_refused("{\"type\":\"node\",\"labels\":{\"a\":\"b\"}}", "unknown key \"labels\" for a node source");
	assert_refused("{\"type\":\"scrape\"}", "\"job\" is required");
	assert_refused("{\"type\":\"scrape\",\"job\":\"x\"}", "\"job\" must be an object");
	assert_refused("{\"type\":\"scrape\",\"job\":{\"job_name\":\"\"}}", "\"job.job_name\"");
	assert_refused("{\"type\":\"scrape\",\"job\":{\"job_name\":\"j\",\"scrape_intervall\":\"5s\"}}",
		       "scrape_intervall");
}

static void test_put_id_must_match_the_path(void **state)
{
	(void)state;
	struct sources_source src;
	char err[512];
	assert_int_equal(parse("{\"id\":\"a\",\"type\":\"push\",\"labels\":{\"t\":\"1\"}}", "b", &src, err,
			       sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "does not match"));
	assert_int_equal(parse("{\"type\":\"push\",\"labels\":{\"t\":\"1\"}}", "b", &src, err, sizeof(err)), 0);
	assert_string_equal(src.id, "b");
	sources_source_free(&src);
}

static void test_ids_are_checked_and_generated_unique(void **state)
{
	(void)state;
	assert_true(sources_id_ok("a"));
	assert_true(sources_id_ok("push-0_9"));
	assert_false(sources_id_ok(""));
	assert_false(sources_id_ok("A"));
	assert_false(sources_id_ok("a/b"));
	char id65[66];
	memset(id65, 'a', 65);
	id65[65] = '\0';
	assert_false(sources_id_ok(id65));
	id65[64] = '\0';
	assert_true(sources_id_ok(id65));

	struct sources s;
	sources_init(&s);
	char id[SOURCES_ID_MAX + 1], id2[SOURCES_ID_MAX + 1];
	sources_new_id(&s, SOURCES_PUSH, id);
	sources_new_id(&s, SOURCES_PUSH, id2);
	assert_true(sources_id_ok(id));
	assert_int_equal(strncmp(id, "push-", 5), 0);
	assert_string_not_equal(id, id2);
	sources_free(&s);
}

/* ---- document invariants ---- */

static void test_conflicts_are_refused(void **state)
{
	(void)state;
	struct sources s;
	char err[512];
	sources_init(&s);
	assert_int_equal(add(&s, "{\"id\":\"p1\",\"type\":\"push\",\"labels\":{\"team\":\"a\"},"
				 "\"endpoints\":[\"prometheus\"]}",
			     err, sizeof(err)),
			 0);
	/* same id */
	assert_int_equal(add(&s, "{\"id\":\"p1\",\"type\":\"node\"}", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "\"p1\" already exists"));
	/* same label on an overlapping endpoint */
	assert_int_equal(add(&s, "{\"id\":\"p2\",\"type\":\"push\",\"labels\":{\"team\":\"b\"}}", err, sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "labels.team"));
	/* ... fine on another endpoint, or disabled */
	assert_int_equal(add(&s, "{\"id\":\"p2\",\"type\":\"push\",\"labels\":{\"team\":\"b\"},"
				 "\"endpoints\":[\"otlp\"]}",
			     err, sizeof(err)),
			 0);
	assert_int_equal(add(&s, "{\"id\":\"p3\",\"type\":\"push\",\"enabled\":false,\"labels\":{\"team\":\"c\"}}",
			     err, sizeof(err)),
			 0);
	/* one node source */
	assert_int_equal(add(&s, "{\"id\":\"n1\",\"type\":\"node\"}", err, sizeof(err)), 0);
	assert_int_equal(add(&s, "{\"id\":\"n2\",\"type\":\"node\"}", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "only one node source"));
	/* unique job names */
	assert_int_equal(add(&s, "{\"id\":\"s1\",\"type\":\"scrape\",\"job\":{\"job_name\":\"j\"}}", err, sizeof(err)),
			 0);
	assert_int_equal(add(&s, "{\"id\":\"s2\",\"type\":\"scrape\",\"job\":{\"job_name\":\"j\"}}", err, sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "job_name"));
	/* a source may be replaced by itself */
	struct sources_source src;
	assert_int_equal(parse("{\"type\":\"push\",\"labels\":{\"team\":\"z\"}}", "p1", &src, err, sizeof(err)), 0);
	assert_int_equal(sources_check(&s, &src, 0, err, sizeof(err)), -EEXIST); /* p2 has team on otlp */
	sources_source_free(&src);
	assert_int_equal(parse("{\"type\":\"push\",\"labels\":{\"team\":\"z\"},\"endpoints\":[\"influx\"]}", "p1",
			       &src, err, sizeof(err)),
			 0);
	assert_int_equal(sources_check(&s, &src, 0, err, sizeof(err)), 0);
	sources_replace(&s, 0, &src);
	assert_string_equal(s.v[0].labels[0].value, "z");
	assert_int_equal(s.n, 5);
	sources_remove(&s, 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(sources_find(&s, "p1"), -1);
	assert_int_equal(sources_find(&s, "p2"), 0);
	sources_free(&s);
}

static void test_too_many_labels_for_one_endpoint_is_refused(void **state)
{
	(void)state;
	struct sources s;
	char err[512], json[4096];
	sources_init(&s);
	for (int k = 0; k < 2; k++) {
		int n = snprintf(json, sizeof(json), "{\"id\":\"p%d\",\"type\":\"push\",\"labels\":{", k);
		for (int i = 0; i < 20; i++)
			n += snprintf(json + n, sizeof(json) - (size_t)n, "%s\"l%d_%d\":\"v\"", i ? "," : "", k, i);
		snprintf(json + n, sizeof(json) - (size_t)n, "}}");
		assert_int_equal(add(&s, json, err, sizeof(err)), k == 0 ? 0 : -ENOSPC);
	}
	assert_non_null(strstr(err, "at most 32"));
	sources_free(&s);
}

static void test_push_labels_merge_enabled_sources_per_endpoint(void **state)
{
	(void)state;
	struct sources s;
	struct sources_label l[SOURCES_MAX_LABELS];
	char err[512];
	sources_init(&s);
	assert_int_equal(add(&s, "{\"id\":\"a\",\"type\":\"push\",\"labels\":{\"zone\":\"z1\"}}", err, sizeof(err)), 0);
	assert_int_equal(add(&s, "{\"id\":\"b\",\"type\":\"push\",\"labels\":{\"team\":\"t\"},"
				 "\"endpoints\":[\"remote_write\"]}",
			     err, sizeof(err)),
			 0);
	assert_int_equal(add(&s, "{\"id\":\"c\",\"type\":\"push\",\"enabled\":false,\"labels\":{\"off\":\"1\"}}", err,
			     sizeof(err)),
			 0);
	size_t n = sources_push_labels(&s, SOURCES_EP_REMOTE_WRITE, l, SOURCES_MAX_LABELS);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].name, "team");
	assert_string_equal(l[1].name, "zone");
	n = sources_push_labels(&s, SOURCES_EP_PROMETHEUS, l, SOURCES_MAX_LABELS);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].value, "z1");
	sources_free(&s);
	assert_int_equal(sources_push_labels(&s, SOURCES_EP_OTLP, l, SOURCES_MAX_LABELS), 0);
}

/* ---- documents and files ---- */

static const char doc_text[] =
	"{\"version\":1,\"sources\":["
	"{\"id\":\"p\",\"type\":\"push\",\"labels\":{\"team\":\"a\"}},"
	"{\"id\":\"n\",\"type\":\"node\",\"collectors\":{\"cpu\":false}},"
	"{\"id\":\"s\",\"type\":\"scrape\",\"job\":{\"job_name\":\"j\",\"static_configs\":[{\"targets\":[\"h:1\"]}]}}]}";

static void test_document_round_trips_through_the_file(void **state)
{
	(void)state;
	char path[512], err[512];
	struct sources s, t;
	sources_init(&s);
	sources_init(&t);
	assert_int_equal(sources_from_json(&s, doc_text, strlen(doc_text), "t", err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(sources_path(path, sizeof(path), test_dir, SOURCES_FILE), 0);
	assert_int_equal(sources_save(&s, path, err, sizeof(err)), 0);
	assert_int_equal(sources_load(&t, path, err, sizeof(err)), 0);
	char *a = sources_to_json(&s), *b = sources_to_json(&t);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "\"version\":\t1"));
	free(a);
	free(b);
	char *l = sources_list_json(&t);
	assert_int_equal(strncmp(l, "{\"sources\":[{\"id\":\"p\"", 21), 0);
	free(l);
	assert_false(t.v[1].collectors & 1u);
	assert_string_equal(t.v[2].job_name, "j");
	/* no temporary file is left behind */
	DIR *d = opendir(test_dir);
	struct dirent *e;
	while ((e = readdir(d)))
		assert_null(strstr(e->d_name, ".tmp."));
	closedir(d);
	sources_free(&s);
	sources_free(&t);
}

static void test_missing_file_is_an_empty_document(void **state)
{
	(void)state;
	char path[512], err[512];
	struct sources s;
	sources_init(&s);
	snprintf(path, sizeof(path), "%s/none.json", test_dir);
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), 0);
	assert_int_equal(s.n, 0);
}

static void test_corrupt_file_is_reported_and_the_old_state_kept(void **state)
{
	(void)state;
	char path[512], err[512];
	struct sources s;
	sources_init(&s);
	sources_path(path, sizeof(path), test_dir, SOURCES_FILE);
	write_file(path, doc_text);
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);

	write_file(path, "{\"version\":1,\n \"sources\":[{\"id\":\"p\",]}");
	err[0] = '\0';
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":2:"));
	assert_non_null(strstr(err, "JSON syntax error"));
	assert_int_equal(s.n, 3);

	/* valid JSON, invalid source: named by index */
	write_file(path, "{\"version\":1,\"sources\":[{\"id\":\"p\",\"type\":\"push\",\"labels\":{\"__x\":\"1\"}}]}");
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sources[0]"));
	assert_int_equal(s.n, 3);

	/* invariants hold on load too */
	write_file(path, "{\"sources\":[{\"id\":\"p\",\"type\":\"node\"},{\"id\":\"p\",\"type\":\"node\"}]}");
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sources[1]"));
	write_file(path, "{\"version\":2,\"sources\":[]}");
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version"));
	write_file(path, "{\"sources\":[],\"extra\":1}");
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown key \"extra\""));
	assert_int_equal(s.n, 3);
	sources_free(&s);
	unlink(path);
}

/* sources_modify callbacks */
static int append_fn(struct sources *s, void *arg, char *err, size_t errlen)
{
	struct sources_source src;
	const char *json = arg;
	int rc = sources_parse_source(json, strlen(json), NULL, &src, err, errlen);
	if (rc)
		return rc;
	char id[SOURCES_ID_MAX + 1];
	sources_new_id(s, src.type, id);
	if ((rc = sources_set_id(&src, id)) == 0 && (rc = sources_check(s, &src, SIZE_MAX, err, errlen)) == 0)
		rc = sources_append(s, &src);
	sources_source_free(&src);
	return rc;
}

static int fail_fn(struct sources *s, void *arg, char *err, size_t errlen)
{
	(void)s;
	(void)arg;
	snprintf(err, errlen, "refused");
	return -ENOENT;
}

static void test_modify_saves_only_on_success_and_never_over_a_corrupt_file(void **state)
{
	(void)state;
	char path[512], err[512];
	struct sources s;
	sources_init(&s);
	sources_path(path, sizeof(path), test_dir, SOURCES_FILE);
	unlink(path);
	char push[] = "{\"type\":\"push\",\"labels\":{\"team\":\"a\"}}";
	assert_int_equal(sources_modify(test_dir, append_fn, push, err, sizeof(err)), 0);
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(strncmp(s.v[0].id, "push-", 5), 0);
	/* a second identical label set conflicts: nothing written */
	assert_int_equal(sources_modify(test_dir, append_fn, push, err, sizeof(err)), -EEXIST);
	assert_int_equal(sources_modify(test_dir, fail_fn, NULL, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "refused");
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), 0);
	assert_int_equal(s.n, 1);

	write_file(path, "{ not json");
	assert_int_equal(sources_modify(test_dir, append_fn, push, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, path));
	assert_string_equal(read_file(path), "{ not json");
	sources_free(&s);
	unlink(path);
}

static void test_save_into_a_missing_directory_fails_cleanly(void **state)
{
	(void)state;
	char path[512], err[512];
	struct sources s;
	sources_init(&s);
	snprintf(path, sizeof(path), "%s/no/such/dir/sources.json", test_dir);
	assert_int_equal(sources_save(&s, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "open("));
}

static void test_concurrent_writers_lose_no_update(void **state)
{
	(void)state;
	enum { PROCS = 4, EACH = 10 };
	char path[512], err[512];
	sources_path(path, sizeof(path), test_dir, SOURCES_FILE);
	unlink(path);
	pid_t pids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			for (int i = 0; i < EACH; i++) {
				char json[128], e[512];
				snprintf(json, sizeof(json), "{\"type\":\"push\",\"labels\":{\"w%d_%d\":\"v\"},"
							     "\"endpoints\":[\"influx\"],\"enabled\":false}",
					 p, i);
				if (sources_modify(test_dir, append_fn, json, e, sizeof(e)) != 0)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int st;
		assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	struct sources s;
	sources_init(&s);
	assert_int_equal(sources_load(&s, path, err, sizeof(err)), 0);
	assert_int_equal(s.n, PROCS * EACH);
	sources_free(&s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_source_is_normalised_with_defaults),
		cmocka_unit_test(test_node_source_lists_every_collector_and_the_interval),
		cmocka_unit_test(test_scrape_job_name_defaults_to_the_id),
		cmocka_unit_test(test_bad_sources_are_refused_naming_the_field),
		cmocka_unit_test(test_put_id_must_match_the_path),
		cmocka_unit_test(test_ids_are_checked_and_generated_unique),
		cmocka_unit_test(test_conflicts_are_refused),
		cmocka_unit_test(test_too_many_labels_for_one_endpoint_is_refused),
		cmocka_unit_test(test_push_labels_merge_enabled_sources_per_endpoint),
		cmocka_unit_test(test_document_round_trips_through_the_file),
		cmocka_unit_test(test_missing_file_is_an_empty_document),
		cmocka_unit_test(test_corrupt_file_is_reported_and_the_old_state_kept),
		cmocka_unit_test(test_modify_saves_only_on_success_and_never_over_a_corrupt_file),
		cmocka_unit_test(test_save_into_a_missing_directory_fails_cleanly),
		cmocka_unit_test(test_concurrent_writers_lose_no_update),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
