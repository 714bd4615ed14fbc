/* Unit tests of the scrape semantics (collector/scrapecache.c) with fixed
 * inputs: target labels, the synthetic series, staleness on a missing
 * series, a failed scrape and a removed target, honor_labels,
 * honor_timestamps, metric relabeling, the sample and label limits, parse
 * errors and OpenMetrics by Content-Type. Samples are read back from the
 * ingest batch (nothing is committed to a ring here).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/scrapecache.h"
#include "common/series.h"

struct fx {
	struct router router;
	struct ingest in;
	struct scrapecache c;
	struct scrapeconf_job job;
	struct relabel_labels tl;
	struct scrapecache_result res;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->router.naggr = 1;
	ingest_init(&f->in, NULL, &f->router);
	scrapecache_init(&f->c);
	f->job.job_name = "node";
	f->job.honor_timestamps = 1;
	relabel_labels_set(&f->tl, "job", 3, "node", 4);
	relabel_labels_set(&f->tl, "instance", 8, "h:9100", 6);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	scrapecache_free(&f->c);
	ingest_fini(&f->in);
	relabel_labels_free(&f->tl);
	relabel_config_free(&f->job.metric_relabel);
	free(f);
	return 0;
}

/* Runs one scrape of body (NULL + error for a failed request). */
static int scrape(struct fx *f, const char *body, const char *ctype, const char *error, int64_t ts)
{
	struct scrapecache_input in = {
		.job = &f->job, .tlabels = &f->tl, .body = body, .len = body ? strlen(body) : 0,
		.content_type = ctype, .error = error, .ts_ms = ts, .duration_s = 0.25,
	};
	ingest_reset(&f->in);
	return scrapecache_process(&f->c, &f->in, &in, &f->res);
}

/* Finds the sample of series `text` (Prometheus text form) in the batch. */
static int find(struct fx *f, const char *text, double *v, int64_t *ts)
{
	char buf[1024];
	for (size_t i = 0; i < f->in.batch.n; i++) {
		const struct router_sample *s = &f->in.batch.s[i];
		series_key_format(f->in.batch.keys + s->key_off, s->key_len, buf, sizeof(buf));
		if (strcmp(buf, text) == 0) {
			if (v)
				*v = s->value;
			if (ts)
				*ts = s->ts_ms;
			return 1;
		}
	}
	return 0;
}

static int is_stale(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b == SCRAPECACHE_STALE_NAN_BITS;
}

static void samples_get_target_labels_and_synthetic_series(void **state)
{
	struct fx *f = *state;
	double v;
	int64_t ts;
	assert_int_equal(scrape(f, "# TYPE a gauge\na 1\nb{x=\"1\"} 2\n", "text/plain; version=0.0.4", NULL, 1000), 0);
	assert_true(f->res.up);
	assert_true(find(f, "a{instance=\"h:9100\",job=\"node\"}", &v, &ts));
	assert_true(v == 1.0 && ts == 1000);
	assert_true(find(f, "b{instance=\"h:9100\",job=\"node\",x=\"1\"}", &v, NULL) && v == 2.0);
	assert_true(find(f, "up{instance=\"h:9100\",job=\"node\"}", &v, &ts) && v == 1.0 && ts == 1000);
	assert_true(find(f, "scrape_duration_seconds{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 0.25);
	assert_true(find(f, "scrape_samples_scraped{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 2.0);
	assert_true(find(f, "scrape_samples_post_metric_relabeling{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 2.0);
	assert_true(find(f, "scrape_series_added{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 2.0);
	assert_int_equal(f->in.batch.n, 7);
	/* The same page again: nothing new. */
	assert_int_equal(scrape(f, "a 3\nb{x=\"1\"} 4\n", NULL, NULL, 2000), 0);
	assert_true(find(f, "scrape_series_added{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 0.0);
	assert_true(find(f, "a{instance=\"h:9100\",job=\"node\"}", &v, &ts) && v == 3.0 && ts == 2000);
}

static void missing_series_gets_a_stale_marker_once(void **state)
{
	struct fx *f = *state;
	double v;
	int64_t ts;
	assert_int_equal(scrape(f, "a 1\nb 2\n", NULL, NULL, 1000), 0);
	assert_int_equal(scrape(f, "a 1\n", NULL, NULL, 2000), 0);
	assert_true(find(f, "b{instance=\"h:9100\",job=\"node\"}", &v, &ts));
	assert_true(is_stale(v));
	assert_int_equal(ts, 2000);
	assert_int_equal(f->res.stale, 1);
	assert_int_equal(scrape(f, "a 1\n", NULL, NULL, 3000), 0);
	assert_false(find(f, "b{instance=\"h:9100\",job=\"node\"}", NULL, NULL));
	/* b comes back: counted as added again. */
	assert_int_equal(scrape(f, "a 1\nb 5\n", NULL, NULL, 4000), 0);
	assert_true(find(f, "scrape_series_added{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 1.0);
}

static void failed_scrape_marks_everything_stale_and_up_zero(void **state)
{
	struct fx *f = *state;
	double v;
	assert_int_equal(scrape(f, "a 1\nb 2\n", NULL, NULL, 1000), 0);
	assert_int_equal(scrape(f, NULL, NULL, "connection refused", 2000), 0);
	assert_false(f->res.up);
	assert_string_equal(f->res.err, "connection refused");
	assert_true(find(f, "a{instance=\"h:9100\",job=\"node\"}", &v, NULL) && is_stale(v));
	assert_true(find(f, "b{instance=\"h:9100\",job=\"node\"}", &v, NULL) && is_stale(v));
	assert_true(find(f, "up{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 0.0);
	assert_true(find(f, "scrape_samples_scraped{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 0.0);
	assert_int_equal(f->in.batch.n, 7);
	/* Still down: no second marker. */
	assert_int_equal(scrape(f, NULL, NULL, "connection refused", 3000), 0);
	assert_int_equal(f->in.batch.n, 5);
}

static void parse_error_fails_the_whole_scrape(void **state)
{
	struct fx *f = *state;
	double v;
	assert_int_equal(scrape(f, "a 1\nb{ 2\n", NULL, NULL, 1000), 0);
	assert_false(f->res.up);
	assert_non_null(strstr(f->res.err, "line 2"));
	assert_false(find(f, "a{instance=\"h:9100\",job=\"node\"}", NULL, NULL));
	assert_true(find(f, "up{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 0.0);
}

static void removed_target_marks_all_series_stale(void **state)
{
	struct fx *f = *state;
	double v;
	assert_int_equal(scrape(f, "a 1\n", NULL, NULL, 1000), 0);
	ingest_reset(&f->in);
	assert_int_equal(scrapecache_stale_all(&f->c, &f->in, 1500), 6);
	assert_true(find(f, "a{instance=\"h:9100\",job=\"node\"}", &v, NULL) && is_stale(v));
	assert_true(find(f, "up{instance=\"h:9100\",job=\"node\"}", &v, NULL) && is_stale(v));
	assert_int_equal(f->c.n, 0);
}

static void conflicting_labels_are_exported_unless_honored(void **state)
{
	struct fx *f = *state;
	double v;
	assert_int_equal(scrape(f, "a{job=\"other\",instance=\"x\",exported_job=\"y\"} 1\n", NULL, NULL, 1000), 0);
	assert_true(find(f, "a{exported_exported_job=\"other\",exported_instance=\"x\",exported_job=\"y\",instance=\"h:9100\",job=\"node\"}", &v, NULL));
	scrapecache_clear(&f->c);
	f->job.honor_labels = 1;
	assert_int_equal(scrape(f, "a{job=\"other\"} 1\n", NULL, NULL, 2000), 0);
	assert_true(find(f, "a{instance=\"h:9100\",job=\"other\"}", &v, NULL) && v == 1.0);
}

static void explicit_timestamps_honored_and_never_stale(void **state)
{
	struct fx *f = *state;
	int64_t ts;
	double v;
	assert_int_equal(scrape(f, "a 1 500\nb 2\n", NULL, NULL, 1000), 0);
	assert_true(find(f, "a{instance=\"h:9100\",job=\"node\"}", NULL, &ts) && ts == 500);
	assert_int_equal(scrape(f, "b 2\n", NULL, NULL, 2000), 0);
	assert_false(find(f, "a{instance=\"h:9100\",job=\"node\"}", &v, NULL));
	scrapecache_clear(&f->c);
	f->job.honor_timestamps = 0;
	assert_int_equal(scrape(f, "a 1 500\n", NULL, NULL, 3000), 0);
	assert_true(find(f, "a{instance=\"h:9100\",job=\"node\"}", NULL, &ts) && ts == 3000);
}

static void metric_relabel_drops_and_rewrites(void **state)
{
	struct fx *f = *state;
	char err[256];
	double v;
	f->job.metric_relabel.rules = calloc(2, sizeof(struct relabel_rule));
	f->job.metric_relabel.n = 2;
	struct relabel_rule *r = &f->job.metric_relabel.rules[0];
	relabel_rule_defaults(r);
	r->action = RELABEL_DROP;
	r->source[0] = strdup("__name__");
	r->nsource = 1;
	free(r->regex_src);
	r->regex_src = strdup("go_.*");
	assert_int_equal(relabel_rule_finish(r, err, sizeof(err)), 0);
	r = &f->job.metric_relabel.rules[1];
	relabel_rule_defaults(r);
	r->action = RELABEL_REPLACE;
	r->source[0] = strdup("x");
	r->nsource = 1;
	free(r->target);
	r->target = strdup("y");
	assert_int_equal(relabel_rule_finish(r, err, sizeof(err)), 0);
	assert_int_equal(scrape(f, "go_gc 1\ngo_mem 2\nkeep{x=\"v\"} 3\n", NULL, NULL, 1000), 0);
	assert_true(f->res.up);
	assert_false(find(f, "go_gc{instance=\"h:9100\",job=\"node\"}", NULL, NULL));
	assert_true(find(f, "keep{instance=\"h:9100\",job=\"node\",x=\"v\",y=\"v\"}", &v, NULL) && v == 3.0);
	assert_true(find(f, "scrape_samples_scraped{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 3.0);
	assert_true(find(f, "scrape_samples_post_metric_relabeling{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 1.0);
	/* Cached: the same result without relabeling again. */
	assert_int_equal(scrape(f, "go_gc 1\ngo_mem 2\nkeep{x=\"v\"} 4\n", NULL, NULL, 2000), 0);
	assert_true(find(f, "keep{instance=\"h:9100\",job=\"node\",x=\"v\",y=\"v\"}", &v, NULL) && v == 4.0);
	assert_int_equal(f->in.batch.n, 6);
}

static void sample_limit_fails_the_scrape(void **state)
{
	struct fx *f = *state;
	double v;
	f->job.sample_limit = 2;
	assert_int_equal(scrape(f, "a 1\nb 2\n", NULL, NULL, 1000), 0);
	assert_true(f->res.up);
	assert_int_equal(scrape(f, "a 1\nb 2\nc 3\n", NULL, NULL, 2000), 0);
	assert_false(f->res.up);
	assert_non_null(strstr(f->res.err, "sample limit exceeded"));
	assert_true(find(f, "a{instance=\"h:9100\",job=\"node\"}", &v, NULL) && is_stale(v));
	assert_false(find(f, "c{instance=\"h:9100\",job=\"node\"}", NULL, NULL));
	assert_true(find(f, "up{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 0.0);
}

static void label_limits_fail_the_scrape(void **state)
{
	struct fx *f = *state;
	f->job.label_limit = 3; /* __name__, job, instance */
	assert_int_equal(scrape(f, "a 1\n", NULL, NULL, 1000), 0);
	assert_true(f->res.up);
	assert_int_equal(scrape(f, "a 1\nb{x=\"1\"} 1\n", NULL, NULL, 2000), 0);
	assert_false(f->res.up);
	assert_non_null(strstr(f->res.err, "label_limit exceeded"));
	f->job.label_limit = 0;
	f->job.label_name_length_limit = 5;
	scrapecache_clear(&f->c);
	assert_int_equal(scrape(f, "a{toolongname=\"1\"} 1\n", NULL, NULL, 3000), 0);
	assert_false(f->res.up);
	assert_non_null(strstr(f->res.err, "label_name_length_limit"));
	f->job.label_name_length_limit = 0;
	f->job.label_value_length_limit = 3;
	assert_int_equal(scrape(f, "a{x=\"long value\"} 1\n", NULL, NULL, 4000), 0);
	assert_false(f->res.up);
	assert_non_null(strstr(f->res.err, "label_value_length_limit"));
}

static void openmetrics_chosen_by_content_type(void **state)
{
	struct fx *f = *state;
	double v;
	int64_t ts;
	const char *om = "# TYPE c counter\nc_total 5 1.5\n# EOF\n";
	assert_int_equal(scrape(f, om, "application/openmetrics-text; version=1.0.0; charset=utf-8", NULL, 1000), 0);
	assert_true(f->res.up);
	assert_true(find(f, "c_total{instance=\"h:9100\",job=\"node\"}", &v, &ts) && v == 5.0 && ts == 1500);
	/* Without "# EOF" the OpenMetrics parser refuses it. */
	assert_int_equal(scrape(f, "c_total 5\n", "application/openmetrics-text; version=1.0.0", NULL, 2000), 0);
	assert_false(f->res.up);
}

static void duplicate_series_in_one_body_counted_once(void **state)
{
	struct fx *f = *state;
	double v;
	assert_int_equal(scrape(f, "a 1\na 2\n", NULL, NULL, 1000), 0);
	assert_true(f->res.up);
	assert_int_equal(f->res.duplicates, 1);
	assert_true(find(f, "a{instance=\"h:9100\",job=\"node\"}", &v, NULL) && v == 1.0);
}

static void many_series_survive_table_growth_and_churn(void **state)
{
	struct fx *f = *state;
	size_t cap = 1 << 20;
	char *body = malloc(cap);
	for (int round = 0; round < 4; round++) {
		size_t n = 0;
		for (int i = 0; i < 3000; i++)
			if ((i + round) % 10) /* a tenth changes each round */
				n += (size_t)snprintf(body + n, cap - n, "m{i=\"%d\"} %d\n", i, round);
		assert_int_equal(scrape(f, body, NULL, NULL, 1000 * (round + 1)), 0);
		assert_true(f->res.up);
		assert_int_equal(f->res.post_relabel, 2700);
		if (round) {
			assert_int_equal(f->res.stale, 300);
			assert_int_equal(f->res.added, 300);
		}
	}
	free(body);
}

int main(void)
{
	alarm(60);
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(samples_get_target_labels_and_synthetic_series),
		T(missing_series_gets_a_stale_marker_once),
		T(failed_scrape_marks_everything_stale_and_up_zero),
		T(parse_error_fails_the_whole_scrape),
		T(removed_target_marks_all_series_stale),
		T(conflicting_labels_are_exported_unless_honored),
		T(explicit_timestamps_honored_and_never_stale),
		T(metric_relabel_drops_and_rewrites),
		T(sample_limit_fails_the_scrape),
		T(label_limits_fail_the_scrape),
		T(openmetrics_chosen_by_content_type),
		T(duplicate_series_in_one_body_counted_once),
		T(many_series_survive_table_growth_and_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
