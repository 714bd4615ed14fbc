/* test_scrapeconf: unit tests of common/scrapeconf (loading a realistic
 * prometheus.yml, errors with file:line:col, unsupported sections as
 * warnings, JSON jobs for /metrics/sources, file_sd in JSON and YAML with
 * refresh, target expansion the way Prometheus does it, and the targets
 * relabel_configs drop). Fixtures are
 * in tests/data/scrapeconf; the binary runs from the repository root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/scrapeconf.h"

#define DATA "tests/data/scrapeconf/"

static const char *render(const struct relabel_labels *ls)
{
	static char buf[2048];
	size_t o = 0;
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{");
	for (size_t i = 0; i < ls->n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s=\"%s\"", i ? "," : "", ls->l[i].name,
				      ls->l[i].value);
	snprintf(buf + o, sizeof(buf) - o, "}");
	return buf;
}

static void load_ok(struct scrapeconf *c, const char *path)
{
	char err[512] = "";
	int rc = scrapeconf_load_yaml(c, path, err, sizeof(err));
	if (rc)
		fail_msg("load %s: %d %s", path, rc, err);
}

/* Loads a fixture that must fail and returns the message. */
static const char *load_err(const char *path)
{
	static char err[512];
	struct scrapeconf c;
	err[0] = '\0';
	int rc = scrapeconf_load_yaml(&c, path, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(c.njobs, 0);
	assert_null(c.jobs);
	return err;
}

static const char *json_err(struct scrapeconf *c, const char *json)
{
	static char err[512];
	err[0] = '\0';
	size_t before = c->njobs;
	assert_int_equal(scrapeconf_add_json_job(c, json, err, sizeof(err)), -EINVAL);
	assert_int_equal(c->njobs, before);
	return err;
}

static void json_ok(struct scrapeconf *c, const char *json)
{
	char err[512] = "";
	int rc = scrapeconf_add_json_job(c, json, err, sizeof(err));
	if (rc)
		fail_msg("json job: %d %s", rc, err);
}

#define ASSERT_CONTAINS(hay, needle)                                                     \
	do {                                                                             \
		const char *h_ = (hay);                                                  \
		if (!strstr(h_, (needle)))                                               \
			fail_msg("\"%s\" does not contain \"%s\"", h_, (const char *)(needle)); \
	} while (0)

static void test_realistic_prometheus_yml_loads_every_field(void **state)
{
	(void)state;
	struct scrapeconf c;
	load_ok(&c, DATA "prometheus.yml");
	assert_int_equal(c.interval_ms, 15000);
	assert_int_equal(c.timeout_ms, 10000);
	assert_int_equal(c.nexternal, 2);
	assert_string_equal(c.external_labels[0].name, "cluster");
	assert_string_equal(c.external_labels[0].value, "prod-eu");
	assert_string_equal(c.external_labels[1].value, "1");
	assert_int_equal(c.njobs, 4);

	const struct scrapeconf_job *p = &c.jobs[0];
	assert_string_equal(p->job_name, "prometheus");
	assert_int_equal(p->interval_ms, 15000);
	assert_int_equal(p->timeout_ms, 10000);
	assert_string_equal(p->metrics_path, "/metrics");
	assert_string_equal(p->scheme, "http");
	assert_int_equal(p->honor_timestamps, 1);
	assert_int_equal(p->honor_labels, 0);
	assert_int_equal(p->ngroups, 1);
	assert_null(p->basic_user);
	assert_null(p->auth_type);

	const struct scrapeconf_job *n = &c.jobs[1];
	assert_string_equal(n->job_name, "node");
	assert_int_equal(n->interval_ms, 30000);
	assert_int_equal(n->timeout_ms, 20000);
	assert_int_equal(n->honor_labels, 1);
	assert_int_equal(n->honor_timestamps, 0);
	assert_int_equal(n->ngroups, 2);
	assert_int_equal(n->nstatic, 2);
	assert_int_equal(n->groups[0].ntargets, 2);
	assert_string_equal(n->groups[0].targets[1], "10.0.0.2:9100");
	assert_string_equal(n->groups[1].labels[0].value, "eu2");
	assert_null(n->groups[0].source);
	assert_int_equal(n->relabel.n, 2);
	assert_int_equal(n->relabel.rules[0].action, RELABEL_DROP);
	assert_string_equal(n->relabel.rules[1].replacement, "${1}");
	assert_int_equal(n->metric_relabel.n, 1);
	assert_int_equal(n->sample_limit, 50000);
	assert_int_equal(n->label_limit, 64);
	assert_int_equal(n->label_name_length_limit, 128);
	assert_int_equal(n->label_value_length_limit, 1024);
	assert_int_equal(n->target_limit, 100);

	const struct scrapeconf_job *b = &c.jobs[2];
	assert_string_equal(b->metrics_path, "/probe");
	assert_int_equal(b->nparams, 1);
	assert_string_equal(b->params[0].name, "module");
	assert_string_equal(b->params[0].value, "http_2xx");
	assert_string_equal(b->basic_user, "prom");
	assert_string_equal(b->basic_pass, "hunter2"); /* read from password_file, relative to the config, trimmed */

	const struct scrapeconf_job *a = &c.jobs[3];
	assert_string_equal(a->auth_type, "Bearer");
	assert_string_equal(a->auth_cred, "s3cret");
	assert_int_equal(a->sd_refresh_ms, 60000);
	assert_int_equal(a->nsd_files, 2);
	ASSERT_CONTAINS(a->sd_files[0], "tests/data/scrapeconf/sd/*.json");
	assert_int_equal(a->nstatic, 0);
	assert_int_equal(a->ngroups, 3); /* two groups from api.json, one from web.yml */
	ASSERT_CONTAINS(a->groups[0].source, "sd/api.json");
	ASSERT_CONTAINS(a->groups[2].source, "sd/web.yml");
	scrapeconf_free(&c);
	scrapeconf_free(&c); /* idempotent */
}

static void test_unused_prometheus_sections_are_warnings_with_lines(void **state)
{
	(void)state;
	struct scrapeconf c;
	load_ok(&c, DATA "prometheus.yml");
	assert_int_equal(c.nwarnings, 3);
	ASSERT_CONTAINS(c.warnings[0], "prometheus.yml:5:3: global \"evaluation_interval\"");
	ASSERT_CONTAINS(c.warnings[1], "prometheus.yml:10:1: section \"rule_files\" is not used");
	ASSERT_CONTAINS(c.warnings[2], "prometheus.yml:13:1: section \"alerting\"");
	scrapeconf_free(&c);
}

static void test_errors_name_file_line_and_column(void **state)
{
	(void)state;
	ASSERT_CONTAINS(load_err(DATA "unknown_key.yml"),
			"unknown_key.yml:3:5: unknown key \"scrape_intervall\" in scrape config");
	ASSERT_CONTAINS(load_err(DATA "bad_duration.yml"),
			"bad_duration.yml:2:20: \"scrape_interval\": not a valid duration \"15 seconds\"");
	ASSERT_CONTAINS(load_err(DATA "https.yml"), "https.yml:3:13: https scraping is not supported yet");
	ASSERT_CONTAINS(load_err(DATA "bad_regex.yml"), "bad_regex.yml:4:9: invalid regex \"a(b\"");
	ASSERT_CONTAINS(load_err(DATA "unsupported.yml"),
			"unsupported.yml:3:5: \"kubernetes_sd_configs\" in scrape config is not supported by mcs");
	ASSERT_CONTAINS(load_err(DATA "timeout.yml"),
			"timeout.yml:2:5: scrape timeout greater than scrape interval for scrape config with job name \"a\"");
	ASSERT_CONTAINS(load_err(DATA "dup_job.yml"), "dup_job.yml:3:5: found multiple scrape configs with job name \"a\"");
	ASSERT_CONTAINS(load_err(DATA "syntax.yml"), "syntax.yml:4:1: YAML:");

	struct scrapeconf c;
	char err[256];
	assert_int_equal(scrapeconf_load_yaml(&c, DATA "does-not-exist.yml", err, sizeof(err)), -ENOENT);
	ASSERT_CONTAINS(err, "does-not-exist.yml");
}

static void test_targets_follow_prometheus_expansion(void **state)
{
	(void)state;
	struct scrapeconf c;
	struct scrapeconf_target *t;
	load_ok(&c, DATA "prometheus.yml");
	long n = scrapeconf_targets(&c, &t);
	assert_int_equal(n, 8);

	assert_string_equal(t[0].url, "http://localhost:9090/metrics");
	assert_string_equal(render(&t[0].labels), "{instance=\"localhost:9090\",job=\"prometheus\"}");
	assert_string_equal(t[0].host, "localhost");
	assert_int_equal(t[0].port, 9090);
	assert_string_equal(t[0].path_query, "/metrics");
	assert_int_equal(t[0].interval_ms, 15000);
	assert_int_equal(t[0].timeout_ms, 10000);
	assert_string_equal(render(&t[0].discovered),
			    "{__address__=\"localhost:9090\",__metrics_path__=\"/metrics\",__scheme__=\"http\","
			    "__scrape_interval__=\"15s\",__scrape_timeout__=\"10s\",job=\"prometheus\"}");
	assert_ptr_equal(t[0].job, &c.jobs[0]);

	/* node: the eu2 group is dropped; host comes from a replace rule. */
	assert_string_equal(render(&t[1].labels), "{dc=\"eu1\",host=\"10.0.0.1\",instance=\"10.0.0.1:9100\",job=\"node\"}");
	assert_string_equal(render(&t[2].labels), "{dc=\"eu1\",host=\"10.0.0.2\",instance=\"10.0.0.2:9100\",job=\"node\"}");
	assert_int_equal(t[1].interval_ms, 30000);

	/* blackbox: the URL target becomes a parameter, instance keeps it. */
	assert_string_equal(t[3].url, "http://127.0.0.1:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.com");
	assert_string_equal(render(&t[3].labels), "{instance=\"https://example.com\",job=\"blackbox\"}");
	assert_string_equal(t[3].host, "127.0.0.1");
	assert_int_equal(t[3].port, 9115);
	assert_string_equal(t[4].path_query, "/probe?module=http_2xx&target=http%3A%2F%2Fexample.org%2Fhealth");

	/* api (file_sd): labelmap copies __meta_team; env=dev is dropped;
	 * __meta_ labels and __meta_filepath are gone from the final set. */
	assert_string_equal(render(&t[5].labels), "{env=\"prod\",instance=\"api-1:8080\",job=\"api\",team=\"core\"}");
	assert_string_equal(render(&t[6].labels), "{env=\"prod\",instance=\"api-2:8080\",job=\"api\",team=\"core\"}");
	assert_string_equal(render(&t[7].labels), "{env=\"prod\",instance=\"web-1:80\",job=\"api\"}");
	ASSERT_CONTAINS(relabel_labels_get(&t[7].discovered, "__meta_filepath"), "sd/web.yml");
	for (long i = 0; i < n; i++)
		for (long k = i + 1; k < n; k++)
			assert_true(t[i].hash != t[k].hash);
	scrapeconf_targets_free(t, (size_t)n);
	scrapeconf_free(&c);
}

static void test_json_job_uses_same_keys_and_global_defaults(void **state)
{
	(void)state;
	struct scrapeconf c = {0};
	json_ok(&c, "{\"job_name\":\"j\",\"scrape_interval\":\"5s\",\"params\":{\"a\":[\"1\",\"2\"]},"
		    "\"honor_labels\":true,\"sample_limit\":10,"
		    "\"relabel_configs\":[{\"source_labels\":[\"__address__\"],\"regex\":\"(.*):.*\",\"target_label\":\"h\"}],"
		    "\"static_configs\":[{\"targets\":[\"h1:1\"],\"labels\":{\"x\":\"y\"}}]}");
	assert_int_equal(c.njobs, 1);
	assert_int_equal(c.interval_ms, 60000);
	const struct scrapeconf_job *j = &c.jobs[0];
	assert_int_equal(j->interval_ms, 5000);
	assert_int_equal(j->timeout_ms, 5000); /* 10s default capped at the interval */
	assert_int_equal(j->nparams, 2);
	assert_string_equal(j->params[1].value, "2");
	assert_int_equal(j->honor_labels, 1);
	assert_int_equal(j->sample_limit, 10);
	struct scrapeconf_target *t;
	long n = scrapeconf_targets(&c, &t);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].url, "http://h1:1/metrics?a=1&a=2");
	assert_string_equal(render(&t[0].labels), "{h=\"h1\",instance=\"h1:1\",job=\"j\",x=\"y\"}");
	scrapeconf_targets_free(t, (size_t)n);

	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"foo\":1}"), "unknown key \"foo\" in scrape config");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"scrape_interval\":15}"),
			"\"scrape_interval\": not a valid duration \"15\"");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"scheme\":\"https\"}"), "https scraping is not supported yet");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"j\"}"), "found multiple scrape configs with job name \"j\"");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"relabel_configs\":[{\"action\":\"explode\"}]}"),
			"unknown relabel action \"explode\"");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"relabel_configs\":[{\"action\":\"hashmod\",\"target_label\":\"x\"}]}"),
			"hashmod requires non-zero modulus");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"static_configs\":[{\"targets\":\"a:1\"}]}"),
			"\"targets\" must be a list");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"static_configs\":[{\"labels\":{\"bad-name\":\"v\"}}]}"),
			"\"bad-name\" is not a valid label name");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"basic_auth\":{\"username\":\"u\"},\"authorization\":{\"credentials\":\"c\"}}"),
			"at most one of basic_auth and authorization");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"authorization\":{\"type\":\"Basic\"}}"),
			"use \"basic_auth\" instead");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"k\",\"file_sd_configs\":[{\"files\":[\"x.txt\"]}]}"),
			"path name \"x.txt\" is not valid for file discovery");
	ASSERT_CONTAINS(json_err(&c, "[1]"), "must be a JSON object");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":"), "invalid JSON");
	ASSERT_CONTAINS(json_err(&c, "{\"job_name\":\"\"}"), "job_name is empty");
	assert_int_equal(c.njobs, 1);
	scrapeconf_free(&c);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_file_sd_refresh_detects_changes_and_keeps_old_groups_on_error(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_scrapeconf.XXXXXX", path[128], yml[128], json[512], err[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.json", dir);
	snprintf(yml, sizeof(yml), "%s/b.yaml", dir);
	write_file(path, "[{\"targets\":[\"a:1\"],\"labels\":{\"l\":\"1\"}}]");
	struct scrapeconf c = {0};
	snprintf(json, sizeof(json),
		 "{\"job_name\":\"sd\",\"static_configs\":[{\"targets\":[\"s:1\"]}],"
		 "\"file_sd_configs\":[{\"files\":[\"%s/*.json\",\"%s/*.yaml\"],\"refresh_interval\":\"30s\"}]}",
		 dir, dir);
	json_ok(&c, json);
	const struct scrapeconf_job *j = &c.jobs[0];
	assert_int_equal(j->sd_refresh_ms, 30000);
	assert_int_equal(j->nstatic, 1);
	assert_int_equal(j->ngroups, 2);
	assert_string_equal(j->groups[1].targets[0], "a:1");
	assert_string_equal(j->groups[1].source, path);

	assert_int_equal(scrapeconf_refresh_sd(&c, err, sizeof(err)), 0);
	write_file(yml, "- targets: ['b:2']\n  labels: {l: '2'}\n");
	assert_int_equal(scrapeconf_refresh_sd(&c, err, sizeof(err)), 1);
	assert_int_equal(j->ngroups, 3);
	assert_string_equal(j->groups[2].targets[0], "b:2");
	assert_int_equal(scrapeconf_refresh_sd(&c, err, sizeof(err)), 0);

	/* A broken file: an error naming the file and line; groups unchanged. */
	write_file(yml, "- targets: ['b:2']\n  lables: {l: '2'}\n");
	assert_int_equal(scrapeconf_refresh_sd(&c, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "b.yaml:2:3: unknown key \"lables\" in target group");
	assert_int_equal(j->ngroups, 3);
	write_file(path, "[{\"targets\":[\"a:1\"]");
	assert_int_equal(scrapeconf_refresh_sd(&c, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "a.json: invalid JSON");

	/* Files gone: no file_sd groups, the static one stays. */
	unlink(path);
	unlink(yml);
	assert_int_equal(scrapeconf_refresh_sd(&c, err, sizeof(err)), 1);
	assert_int_equal(j->ngroups, 1);
	assert_string_equal(j->groups[0].targets[0], "s:1");
	rmdir(dir);
	scrapeconf_free(&c);
}

static void test_target_params_relabeling_and_limits(void **state)
{
	(void)state;
	struct scrapeconf c = {0};
	/* __param_ from relabeling replaces the first value of a job param
	 * and adds new ones; names are sorted like url.Values.Encode. */
	json_ok(&c, "{\"job_name\":\"p\",\"metrics_path\":\"/m x\",\"params\":{\"z\":[\"1\",\"2\"],\"b\":[\"q r\"]},"
		    "\"relabel_configs\":[{\"target_label\":\"__param_z\",\"replacement\":\"9\"},"
		    "{\"target_label\":\"__param_a\",\"replacement\":\"&\"}],"
		    "\"static_configs\":[{\"targets\":[\"host\",\"[::1]:9\",\"host\"]}]}");
	/* keep + hashmod sharding: only some targets survive; instance can be set. */
	json_ok(&c, "{\"job_name\":\"k\",\"relabel_configs\":["
		    "{\"source_labels\":[\"__address__\"],\"regex\":\"keep-.*\",\"action\":\"keep\"},"
		    "{\"source_labels\":[\"__address__\"],\"regex\":\"keep-(.*):.*\",\"target_label\":\"instance\"},"
		    "{\"target_label\":\"__scrape_interval__\",\"replacement\":\"2m\"}],"
		    "\"static_configs\":[{\"targets\":[\"keep-a:1\",\"drop-b:1\",\"keep-c:1\"]}]}");
	/* Relabeling can empty __address__ or make the timeout exceed the interval. */
	json_ok(&c, "{\"job_name\":\"e\",\"relabel_configs\":["
		    "{\"source_labels\":[\"__address__\"],\"regex\":\"x:1\",\"target_label\":\"__address__\",\"replacement\":\"\"},"
		    "{\"source_labels\":[\"__address__\"],\"regex\":\"y:1\",\"target_label\":\"__scrape_timeout__\",\"replacement\":\"2h\"}],"
		    "\"static_configs\":[{\"targets\":[\"x:1\",\"y:1\",\"z:1\"]}]}");
	/* target_limit: more targets than allowed fails the whole job. */
	json_ok(&c, "{\"job_name\":\"l\",\"target_limit\":1,\"static_configs\":[{\"targets\":[\"a:1\",\"b:1\"]}]}");
	struct scrapeconf_target *t;
	long n = scrapeconf_targets(&c, &t);
	assert_int_equal(n, 5);
	/* "host" twice is one target (same labels and URL). */
	assert_string_equal(t[0].url, "http://host/m%20x?a=%26&b=q+r&z=9&z=2");
	assert_string_equal(t[0].host, "host");
	assert_int_equal(t[0].port, 80);
	assert_string_equal(render(&t[0].labels), "{instance=\"host\",job=\"p\"}");
	assert_string_equal(relabel_labels_get(&t[0].discovered, "__param_z"), "1");
	assert_string_equal(t[1].url, "http://[::1]:9/m%20x?a=%26&b=q+r&z=9&z=2");
	assert_string_equal(t[1].host, "::1");
	assert_int_equal(t[1].port, 9);

	assert_string_equal(render(&t[2].labels), "{instance=\"a\",job=\"k\"}");
	assert_string_equal(render(&t[3].labels), "{instance=\"c\",job=\"k\"}");
	assert_int_equal(t[2].interval_ms, 120000);
	assert_string_equal(t[2].url, "http://keep-a:1/metrics");

	assert_string_equal(render(&t[4].labels), "{instance=\"z:1\",job=\"e\"}");
	scrapeconf_targets_free(t, (size_t)n);
	scrapeconf_free(&c);
}

static void test_dropped_targets_are_listed_with_discovered_labels_only(void **state)
{
	(void)state;
	struct scrapeconf c = {0};
	struct scrapeconf_target *t, *d;
	/* keep: drop-b fails the keep rule; drop: the dc=eu2 group goes, twice
	 * the same address (listed twice, as Prometheus does); a target without
	 * an address after relabeling is an error, not a dropped target. */
	json_ok(&c, "{\"job_name\":\"k\",\"relabel_configs\":["
		    "{\"source_labels\":[\"__address__\"],\"regex\":\"keep-.*\",\"action\":\"keep\"}],"
		    "\"static_configs\":[{\"targets\":[\"keep-a:1\",\"drop-b:1\"]}]}");
	json_ok(&c, "{\"job_name\":\"n\",\"relabel_configs\":["
		    "{\"source_labels\":[\"dc\"],\"regex\":\"eu2\",\"action\":\"drop\"},"
		    "{\"source_labels\":[\"__address__\"],\"regex\":\"x:1\",\"target_label\":\"__address__\",\"replacement\":\"\"}],"
		    "\"static_configs\":[{\"targets\":[\"a:1\",\"x:1\"],\"labels\":{\"dc\":\"eu1\"}},"
		    "{\"targets\":[\"drop-b:1\",\"drop-b:1\"],\"labels\":{\"dc\":\"eu2\"}}]}");
	long n = scrapeconf_targets(&c, &t);
	assert_int_equal(n, 2); /* keep-a, a */
	long nd = scrapeconf_dropped(&c, &d);
	assert_int_equal(nd, 3);
	assert_ptr_equal(d[0].job, &c.jobs[0]);
	assert_string_equal(render(&d[0].discovered),
			    "{__address__=\"drop-b:1\",__metrics_path__=\"/metrics\",__scheme__=\"http\","
			    "__scrape_interval__=\"1m\",__scrape_timeout__=\"10s\",job=\"k\"}");
	assert_ptr_equal(d[1].job, &c.jobs[1]);
	assert_string_equal(relabel_labels_get(&d[1].discovered, "dc"), "eu2");
	assert_string_equal(relabel_labels_get(&d[1].discovered, "job"), "n");
	for (long i = 0; i < nd; i++) {
		assert_null(d[i].url);
		assert_int_equal(d[i].labels.n, 0);
	}
	/* The hash depends on job and discovered labels only: the same
	 * address in two jobs differs, the same target twice does not. */
	assert_true(d[0].hash != d[1].hash);
	assert_true(d[1].hash == d[2].hash);
	scrapeconf_targets_free(d, (size_t)nd);
	scrapeconf_targets_free(t, (size_t)n);

	/* A configuration without relabel drops lists none. */
	scrapeconf_free(&c);
	json_ok(&c, "{\"job_name\":\"p\",\"static_configs\":[{\"targets\":[\"a:1\"]}]}");
	assert_int_equal(scrapeconf_dropped(&c, &d), 0);
	scrapeconf_targets_free(d, 0);
	scrapeconf_free(&c);
}

static void test_global_limits_and_timeout_defaults_follow_prometheus(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_scrapeconf.XXXXXX", path[128], err[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.yml", dir);
	/* A 5s global interval caps the default 10s timeout; a job's own
	 * interval caps the global timeout again; global limits are defaults. */
	write_file(path, "global:\n  scrape_interval: 5s\n  sample_limit: 7\n"
			 "scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 1m\n    sample_limit: 0\n");
	struct scrapeconf c;
	load_ok(&c, path);
	assert_int_equal(c.timeout_ms, 5000);
	assert_int_equal(c.jobs[0].interval_ms, 5000);
	assert_int_equal(c.jobs[0].timeout_ms, 5000);
	assert_int_equal(c.jobs[0].sample_limit, 7);
	assert_int_equal(c.jobs[1].interval_ms, 60000);
	assert_int_equal(c.jobs[1].timeout_ms, 5000);
	assert_int_equal(c.jobs[1].sample_limit, 0);
	scrapeconf_free(&c);

	write_file(path, "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n");
	assert_int_equal(scrapeconf_load_yaml(&c, path, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "global scrape timeout greater than scrape interval");

	/* An empty file is the default configuration. */
	write_file(path, "");
	load_ok(&c, path);
	assert_int_equal(c.interval_ms, 60000);
	assert_int_equal(c.timeout_ms, 10000);
	assert_int_equal(c.njobs, 0);
	scrapeconf_free(&c);

	write_file(path, "scrape_configs:\n  - job_name: a\n    basic_auth:\n      password: x\n      password_file: /nonexistent\n");
	assert_int_equal(scrapeconf_load_yaml(&c, path, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "cannot read /nonexistent");
	write_file(path, "scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n");
	assert_int_equal(scrapeconf_load_yaml(&c, path, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "p.yml:3:19: \"honor_labels\" must be true or false");
	write_file(path, "scrape_configs:\n  - job_name: a\n    job_name: b\n");
	assert_int_equal(scrapeconf_load_yaml(&c, path, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "p.yml:3:5: key \"job_name\" appears twice");
	write_file(path, "scrape_config_files: [a.yml]\n");
	assert_int_equal(scrapeconf_load_yaml(&c, path, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "p.yml:1:1: \"scrape_config_files\" in the top level is not supported by mcs");
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_realistic_prometheus_yml_loads_every_field),
		cmocka_unit_test(test_unused_prometheus_sections_are_warnings_with_lines),
		cmocka_unit_test(test_errors_name_file_line_and_column),
		cmocka_unit_test(test_targets_follow_prometheus_expansion),
		cmocka_unit_test(test_json_job_uses_same_keys_and_global_defaults),
		cmocka_unit_test(test_file_sd_refresh_detects_changes_and_keeps_old_groups_on_error),
		cmocka_unit_test(test_target_params_relabeling_and_limits),
		cmocka_unit_test(test_dropped_targets_are_listed_with_discovered_labels_only),
		cmocka_unit_test(test_global_limits_and_timeout_defaults_follow_prometheus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
