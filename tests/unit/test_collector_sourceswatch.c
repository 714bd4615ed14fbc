/* test_collector_sourceswatch: unit tests of collector/sourceswatch (the
 * first load at start, hooks called only when their own input changed, a
 * corrupt file keeping the last good state and logged once, a removed file
 * meaning no sources, and the ingest hook setting a receiver's labels). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/sourceswatch.h"

static char test_dir[256], test_path[512];

struct seen {
	int push_calls, scrape_calls, node_calls;
	char labels[512];         /* "a=b,c=d" */
	size_t njobs;
	char job0[512];
	struct sourceswatch_node node;
};

static void on_push(void *arg, const struct series_label *l, size_t n)
{
	struct seen *s = arg;
	size_t off = 0;
	s->push_calls++;
	s->labels[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(s->labels + off, sizeof(s->labels) - off, "%s%.*s=%.*s", i ? "," : "",
					(int)l[i].name_len, l[i].name, (int)l[i].value_len, l[i].value);
}

static void on_scrape(void *arg, const char *const *jobs, size_t n)
{
	struct seen *s = arg;
	s->scrape_calls++;
	s->njobs = n;
	snprintf(s->job0, sizeof(s->job0), "%s", n ? jobs[0] : "");
}

static void on_node(void *arg, const struct sourceswatch_node *node)
{
	struct seen *s = arg;
	s->node_calls++;
	s->node = *node;
}

/* Writes text as sources.json by rename (as the apiserver does), so the
 * inode changes even within one clock tick. */
static void put(const char *text)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", test_path);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, test_path), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/test_sourceswatch.XXXXXX");
	if (!mkdtemp(test_dir))
		return -1;
	snprintf(test_path, sizeof(test_path), "%s/%s", test_dir, SOURCES_FILE);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(test_path);
	rmdir(test_dir);
	return 0;
}

static const char doc1[] =
	"{\"sources\":[{\"id\":\"p\",\"type\":\"push\",\"labels\":{\"team\":\"a\"},\"endpoints\":[\"prometheus\"]},"
	"{\"id\":\"s\",\"type\":\"scrape\",\"job\":{\"job_name\":\"j\",\"static_configs\":[{\"targets\":[\"h:1\"]}]}}]}";
/* doc1 with another scrape target: the push hook must not be called. */
static const char doc2[] =
	"{\"sources\":[{\"id\":\"p\",\"type\":\"push\",\"labels\":{\"team\":\"a\"},\"endpoints\":[\"prometheus\"]},"
	"{\"id\":\"s\",\"type\":\"scrape\",\"job\":{\"job_name\":\"j\",\"static_configs\":[{\"targets\":[\"h:2\"]}]}},"
	"{\"id\":\"n\",\"type\":\"node\",\"collectors\":{\"cpu\":false},\"interval\":\"30s\"}]}";

static void test_hooks_get_the_state_at_start_and_only_their_changes(void **state)
{
	(void)state;
	struct sourceswatch w;
	struct seen s;
	memset(&s, 0, sizeof(s));
	unlink(test_path);
	assert_int_equal(sourceswatch_init(&w, test_dir), 0);
	assert_int_equal(sourceswatch_on_push(&w, SOURCES_EP_PROMETHEUS, on_push, &s), 0);
	assert_int_equal(sourceswatch_on_scrape(&w, on_scrape, &s), 0);
	assert_int_equal(sourceswatch_start(&w, NULL), 0);
	/* no file: every hook hears "none" once */
	assert_int_equal(s.push_calls, 1);
	assert_string_equal(s.labels, "");
	assert_int_equal(s.scrape_calls, 1);
	assert_int_equal(s.njobs, 0);
	assert_int_equal(sourceswatch_poll(&w), 0);
	assert_int_equal(s.push_calls, 1);

	put(doc1);
	assert_int_equal(sourceswatch_poll(&w), 1);
	assert_int_equal(s.push_calls, 2);
	assert_string_equal(s.labels, "team=a");
	assert_int_equal(s.scrape_calls, 2);
	assert_int_equal(s.njobs, 1);
	assert_non_null(strstr(s.job0, "\"h:1\""));
	assert_int_equal(sourceswatch_poll(&w), 0);

	/* a hook registered late hears the current state at once */
	assert_int_equal(sourceswatch_on_node(&w, on_node, &s), 0);
	assert_int_equal(s.node_calls, 1);
	assert_int_equal(s.node.present, 0);

	put(doc2);
	assert_int_equal(sourceswatch_poll(&w), 1);
	assert_int_equal(s.push_calls, 2); /* unchanged labels: not called */
	assert_int_equal(s.scrape_calls, 3);
	assert_non_null(strstr(s.job0, "\"h:2\""));
	assert_int_equal(s.node_calls, 2);
	assert_true(s.node.present && s.node.enabled);
	assert_int_equal(s.node.collectors, SOURCES_COLLECTORS_ALL & ~1u);
	assert_int_equal(s.node.interval_ms, 30000);

	/* removed: no sources */
	unlink(test_path);
	assert_int_equal(sourceswatch_poll(&w), 1);
	assert_int_equal(s.push_calls, 3);
	assert_string_equal(s.labels, "");
	assert_int_equal(s.njobs, 0);
	assert_int_equal(s.node.present, 0);
	assert_int_equal(sourceswatch_poll(&w), 0);
	sourceswatch_fini(&w);
}

static void test_corrupt_file_keeps_the_last_good_state(void **state)
{
	(void)state;
	struct sourceswatch w;
	struct seen s;
	memset(&s, 0, sizeof(s));
	put(doc1);
	assert_int_equal(sourceswatch_init(&w, test_dir), 0);
	assert_int_equal(sourceswatch_on_push(&w, SOURCES_EP_PROMETHEUS, on_push, &s), 0);
	assert_int_equal(sourceswatch_start(&w, NULL), 0);
	assert_string_equal(s.labels, "team=a");
	assert_int_equal(w.reloads, 1);

	put("{\"sources\":[{\"id\":\"p\",\"type\":\"push\",\"labels\":{\"team\":\"\"}}]}");
	assert_int_equal(sourceswatch_poll(&w), -EINVAL);
	assert_int_equal(w.errors, 1);
	assert_int_equal(sourceswatch_poll(&w), -EINVAL);
	assert_int_equal(w.errors, 1); /* logged once per version of the file */
	assert_int_equal(s.push_calls, 1);
	assert_int_equal(w.cur.n, 2);

	put("not json at all");
	assert_int_equal(sourceswatch_poll(&w), -EINVAL);
	assert_int_equal(w.errors, 2);

	put("{\"sources\":[{\"id\":\"p\",\"type\":\"push\",\"labels\":{\"team\":\"b\"}}]}");
	assert_int_equal(sourceswatch_poll(&w), 1);
	assert_int_equal(s.push_calls, 2);
	assert_string_equal(s.labels, "team=b");
	sourceswatch_fini(&w);
}

static void test_ingest_hook_sets_the_receivers_labels(void **state)
{
	(void)state;
	struct sourceswatch w;
	struct router r;
	struct ingest in;
	memset(&r, 0, sizeof(r));
	r.naggr = 1;
	assert_int_equal(ingest_init(&in, NULL, &r), 0);
	put("{\"sources\":[{\"id\":\"p\",\"type\":\"push\",\"labels\":{\"team\":\"a\",\"env\":\"x\"},"
	    "\"endpoints\":[\"remote_write\"]}]}");
	assert_int_equal(sourceswatch_init(&w, test_dir), 0);
	assert_int_equal(sourceswatch_add_ingest(&w, SOURCES_EP_REMOTE_WRITE, &in), 0);
	assert_int_equal(sourceswatch_start(&w, NULL), 0);
	assert_int_equal(in.nextra, 2);
	assert_string_equal(in.extra[0].name, "env");
	assert_string_equal(in.extra[1].value, "a");
	put("{\"sources\":[]}");
	assert_int_equal(sourceswatch_poll(&w), 1);
	assert_int_equal(in.nextra, 0);
	sourceswatch_fini(&w);
	ingest_fini(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hooks_get_the_state_at_start_and_only_their_changes),
		cmocka_unit_test(test_corrupt_file_keeps_the_last_good_state),
		cmocka_unit_test(test_ingest_hook_sets_the_receivers_labels),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
