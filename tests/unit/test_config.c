/* test_config: unit tests of common/config (embedded default, overrides,
 * errors that name the key, JSON syntax positions, the to_json round trip,
 * durations and HOST:PORT splitting). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

/* Loads json over the default; returns rc and frees the config. */
static int load_err(const char *json, char *err, size_t errlen)
{
	struct config c;
	err[0] = '\0';
	int rc = config_load_string(&c, json, "t.json", err, errlen);
	config_free(&c);
	return rc;
}

static void assert_rejected_naming(const char *json, const char *key)
{
	char err[512];
	int rc = load_err(json, err, sizeof(err));
	if (rc != -EINVAL || !strstr(err, key) || strncmp(err, "t.json: ", 8) != 0)
		fail_msg("config %s: rc %d, err \"%s\" (wanted -EINVAL naming %s)", json, rc, err, key);
}

static void test_embedded_default_loads_with_documented_values(void **state)
{
	(void)state;
	struct config c;
	char err[256] = "";
	assert_int_equal(config_load_string(&c, NULL, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.instance, "default");
	assert_string_equal(c.data_dir, "./data");
	assert_string_equal(c.api_listen, "127.0.0.1:9470");
	assert_string_equal(c.push_listen, "127.0.0.1:9471");
	assert_int_equal(c.collectors, 1);
	assert_int_equal(c.aggregators, 1);
	assert_int_equal(c.alerters, 1);
	assert_int_equal(c.apiservers, 1);
	assert_int_equal(c.log_json, 0);
	assert_int_equal(c.sample_ring_bytes, 16777216);
	assert_int_equal(c.alert_ring_bytes, 4194304);
	assert_int_equal(c.query_ring_bytes, 4194304);
	assert_int_equal(c.push_wait_ms, 5000);
	assert_int_equal(c.max_body_bytes, 67108864);
	assert_true(c.self_scrape);
	assert_true(c.node_metrics);
	assert_int_equal(c.scrape_interval_ms, 15000);
	assert_int_equal(c.lookback_ms, 300000);
	assert_int_equal(c.query_timeout_ms, 120000);
	assert_int_equal(c.query_max_samples, 50000000);
	assert_int_equal(c.hang_timeout_ms, 15000);
	assert_int_equal(c.rule_eval_interval_ms, 1000);
	assert_int_equal(c.ooo_window_ms, 3600000);
	assert_int_equal(c.nrules, 1);
	assert_string_equal(c.rules[0].alert, "NodeLoadHigh");
	assert_string_equal(c.rules[0].expr, "node_load1 > 64");
	assert_int_equal(c.rules[0].for_ms, 60000);
	assert_int_equal(c.rules[0].nlabels, 1);
	assert_string_equal(c.rules[0].labels[0].name, "severity");
	assert_string_equal(c.rules[0].labels[0].value, "warning");
	assert_int_equal(c.rules[0].nannotations, 1);
	assert_string_equal(c.rules[0].annotations[0].name, "summary");
	config_free(&c);
}

static void test_a_file_overrides_only_the_keys_it_names(void **state)
{
	(void)state;
	struct config c;
	char err[256] = "";
	const char *json = "{\"instance\": \"prod\", \"collectors\": 4, \"log_format\": \"json\",\n"
			   " \"rings\": {\"alert_bytes\": 65536},\n"
			   " \"self_scrape\": {\"node\": false},\n"
			   " \"query\": {\"timeout\": \"30s\"},\n"
			   " \"api_listen\": \"[::1]:9090\",\n"
			   " \"rules\": [{\"alert\": \"A\", \"expr\": \"up == 0\"},\n"
			   "           {\"alert\": \"B\", \"expr\": \"x > 1\", \"for\": \"1h30m\",\n"
			   "            \"labels\": {\"team\": \"db\", \"sev\": \"page\"}}]}";
	assert_int_equal(config_load_string(&c, json, "t.json", err, sizeof(err)), 0);
	assert_string_equal(c.instance, "prod");
	assert_int_equal(c.collectors, 4);
	assert_int_equal(c.aggregators, 1);
	assert_int_equal(c.log_json, 1);
	assert_int_equal(c.alert_ring_bytes, 65536);
	assert_int_equal(c.sample_ring_bytes, 16777216);
	assert_int_equal(c.push_wait_ms, 5000);
	assert_true(c.self_scrape);
	assert_false(c.node_metrics);
	assert_int_equal(c.scrape_interval_ms, 15000);
	assert_int_equal(c.query_timeout_ms, 30000);
	assert_int_equal(c.lookback_ms, 300000);
	assert_string_equal(c.api_listen, "[::1]:9090");
	/* The rules array replaces the default rules entirely. */
	assert_int_equal(c.nrules, 2);
	assert_string_equal(c.rules[0].alert, "A");
	assert_int_equal(c.rules[0].for_ms, 0);
	assert_int_equal(c.rules[0].nlabels, 0);
	assert_string_equal(c.rules[1].alert, "B");
	assert_int_equal(c.rules[1].for_ms, 5400000);
	assert_int_equal(c.rules[1].nlabels, 2);
	assert_string_equal(c.rules[1].labels[1].name, "sev");
	assert_string_equal(c.rules[1].labels[1].value, "page");
	config_free(&c);

	/* An empty rules array leaves no rules. */
	assert_int_equal(config_load_string(&c, "{\"rules\": []}", "t.json", err, sizeof(err)), 0);
	assert_int_equal(c.nrules, 0);
	config_free(&c);

	/* push_wait is capped at ten minutes. */
	assert_int_equal(config_load_string(&c, "{\"rings\": {\"push_wait\": \"1h\"}}", "t.json", err, sizeof(err)), 0);
	assert_int_equal(c.push_wait_ms, 600000);
	config_free(&c);
}

static void test_unknown_keys_are_errors_naming_the_key(void **state)
{
	(void)state;
	assert_rejected_naming("{\"colectors\": 2}", "\"colectors\"");
	assert_rejected_naming("{\"rings\": {\"sample\": 65536}}", "rings.sample");
	assert_rejected_naming("{\"self_scrape\": {\"enable\": true}}", "self_scrape.enable");
	assert_rejected_naming("{\"query\": {\"lookback\": \"5m\"}}", "query.lookback");
	assert_rejected_naming("{\"launcher\": {\"hang\": \"5s\"}}", "launcher.hang");
	assert_rejected_naming("{\"rules\": [{\"alert\": \"a\", \"expr\": \"b\", \"fro\": \"1m\"}]}", "\"fro\"");
	/* A section of the wrong type is reported as that key. */
	assert_rejected_naming("{\"rings\": 5}", "\"rings\"");
	assert_rejected_naming("{\"query\": []}", "\"query\"");
}

static void test_each_kind_of_bad_value_is_einval_naming_the_key(void **state)
{
	(void)state;
	/* Strings. */
	assert_rejected_naming("{\"instance\": 5}", "instance");
	assert_rejected_naming("{\"instance\": \"\"}", "instance");
	assert_rejected_naming("{\"instance\": \"a/b\"}", "instance");
	assert_rejected_naming("{\"instance\": \"a.b\"}", "instance");
	assert_rejected_naming("{\"instance\": \"a b\"}", "instance");
	char big[200];
	snprintf(big, sizeof(big), "{\"instance\": \"%070d\"}", 0); /* 70 chars > 63 */
	assert_rejected_naming(big, "instance");
	assert_rejected_naming("{\"data_dir\": null}", "data_dir");
	/* HOST:PORT. */
	assert_rejected_naming("{\"api_listen\": \"localhost\"}", "api_listen");
	assert_rejected_naming("{\"push_listen\": \"h:70000\"}", "push_listen");
	assert_rejected_naming("{\"push_listen\": 9471}", "push_listen");
	/* Counts are integers in [1, 64]. */
	assert_rejected_naming("{\"collectors\": 0}", "collectors");
	assert_rejected_naming("{\"aggregators\": 65}", "aggregators");
	assert_rejected_naming("{\"alerters\": 1.5}", "alerters");
	assert_rejected_naming("{\"apiservers\": \"2\"}", "apiservers");
	assert_rejected_naming("{\"apiservers\": -1}", "apiservers");
	/* Enumerations and booleans. */
	assert_rejected_naming("{\"log_format\": \"xml\"}", "log_format");
	assert_rejected_naming("{\"self_scrape\": {\"enabled\": 1}}", "self_scrape.enabled");
	assert_rejected_naming("{\"self_scrape\": {\"node\": \"yes\"}}", "self_scrape.node");
	/* Ring sizes: in range and powers of two. */
	assert_rejected_naming("{\"rings\": {\"sample_bytes\": 65535}}", "rings.sample_bytes");
	assert_rejected_naming("{\"rings\": {\"sample_bytes\": 100000}}", "rings.sample_bytes");
	assert_rejected_naming("{\"rings\": {\"query_bytes\": 8589934592}}", "rings.query_bytes");
	assert_rejected_naming("{\"max_body_bytes\": 1023}", "max_body_bytes");
	assert_rejected_naming("{\"query\": {\"max_samples\": 0}}", "query.max_samples");
	/* Durations. */
	assert_rejected_naming("{\"rings\": {\"push_wait\": \"5\"}}", "rings.push_wait");
	assert_rejected_naming("{\"rings\": {\"push_wait\": 5}}", "rings.push_wait");
	assert_rejected_naming("{\"self_scrape\": {\"interval\": \"\"}}", "self_scrape.interval");
	assert_rejected_naming("{\"query\": {\"lookback_delta\": \"5x\"}}", "query.lookback_delta");
	assert_rejected_naming("{\"query\": {\"timeout\": \"m\"}}", "query.timeout");
	assert_rejected_naming("{\"launcher\": {\"hang_timeout\": true}}", "launcher.hang_timeout");
	assert_rejected_naming("{\"rule_eval_interval\": \"1 s\"}", "rule_eval_interval");
	assert_rejected_naming("{\"ooo_window\": 3600}", "ooo_window");
	/* Rules. */
	assert_rejected_naming("{\"rules\": {}}", "rules");
	assert_rejected_naming("{\"rules\": [5]}", "rule");
	assert_rejected_naming("{\"rules\": [{\"alert\": \"a\"}]}", "expr");
	assert_rejected_naming("{\"rules\": [{\"expr\": \"a\"}]}", "alert");
	assert_rejected_naming("{\"rules\": [{\"alert\": \"\", \"expr\": \"a\"}]}", "alert");
	assert_rejected_naming("{\"rules\": [{\"alert\": \"a\", \"expr\": \"b\", \"for\": \"x\"}]}", "for");
	assert_rejected_naming("{\"rules\": [{\"alert\": \"a\", \"expr\": \"b\", \"labels\": []}]}", "labels");
	assert_rejected_naming("{\"rules\": [{\"alert\": \"a\", \"expr\": \"b\", \"labels\": {\"x\": 1}}]}", "labels");
	assert_rejected_naming("{\"rules\": [{\"alert\": \"a\", \"expr\": \"b\", \"annotations\": {\"x\": null}}]}",
			       "annotations");
	/* The document itself must be an object. */
	char err[256];
	assert_int_equal(load_err("[1, 2]", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "JSON object"));
}

static void test_seventeen_labels_are_too_many(void **state)
{
	(void)state;
	char json[2048];
	size_t n = (size_t)snprintf(json, sizeof(json), "{\"rules\": [{\"alert\": \"a\", \"expr\": \"b\", \"labels\": {");
	for (int i = 0; i < CONFIG_MAX_LABELS + 1; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"l%d\": \"v\"", i ? ", " : "", i);
	snprintf(json + n, sizeof(json) - n, "}}]}");
	assert_rejected_naming(json, "labels");

	/* Exactly sixteen are fine. */
	n = (size_t)snprintf(json, sizeof(json), "{\"rules\": [{\"alert\": \"a\", \"expr\": \"b\", \"labels\": {");
	for (int i = 0; i < CONFIG_MAX_LABELS; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"l%d\": \"v\"", i ? ", " : "", i);
	snprintf(json + n, sizeof(json) - n, "}}]}");
	struct config c;
	char err[256];
	assert_int_equal(config_load_string(&c, json, "t.json", err, sizeof(err)), 0);
	assert_int_equal(c.rules[0].nlabels, CONFIG_MAX_LABELS);
	config_free(&c);
}

static void test_more_than_256_rules_are_rejected(void **state)
{
	(void)state;
	size_t cap = 64 * 1024, n = 0;
	char *json = malloc(cap);
	assert_non_null(json);
	n += (size_t)snprintf(json + n, cap - n, "{\"rules\": [");
	for (int i = 0; i < CONFIG_MAX_RULES + 1; i++)
		n += (size_t)snprintf(json + n, cap - n, "%s{\"alert\": \"r%d\", \"expr\": \"x > 1\"}", i ? "," : "", i);
	snprintf(json + n, cap - n, "]}");
	char err[256];
	assert_int_equal(load_err(json, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "256 rules"));
	free(json);
}

static void test_json_syntax_errors_give_line_and_column(void **state)
{
	(void)state;
	char err[256];
	/* The missing ':' on line 3: cJSON stops at the '5' (column 7), the
	 * first byte it cannot take. */
	assert_int_equal(load_err("{\n  \"collectors\": 2,\n  \"x\" 5\n}", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.json:3:7: JSON syntax error");
	assert_int_equal(load_err("{\"a\": tru}", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.json:1:"));
	/* Trailing bytes after the object are a syntax error too. */
	assert_int_equal(load_err("{} x", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.json:1:4: JSON syntax error");
	/* No origin: "config". */
	struct config c;
	assert_int_equal(config_load_string(&c, "{", NULL, err, sizeof(err)), -EINVAL);
	config_free(&c);
	assert_int_equal(strncmp(err, "config:1:", 9), 0);
}

static void test_to_json_round_trips_through_load_string(void **state)
{
	(void)state;
	struct config a, b;
	char err[256] = "";
	const char *json = "{\"instance\": \"rt\", \"collectors\": 3, \"apiservers\": 2, \"log_format\": \"json\",\n"
			   " \"rings\": {\"sample_bytes\": 4294967296, \"push_wait\": \"250ms\"},\n"
			   " \"max_body_bytes\": 1024, \"self_scrape\": {\"enabled\": false, \"interval\": \"1m30s\"},\n"
			   " \"query\": {\"lookback_delta\": \"1500ms\", \"max_samples\": 1099511627776},\n"
			   " \"launcher\": {\"hang_timeout\": \"1y\"}, \"rule_eval_interval\": \"0s\",\n"
			   " \"ooo_window\": \"10m\",\n"
			   " \"rules\": [{\"alert\": \"Q\\\"uote\", \"expr\": \"a{b=\\\"c\\\"} > 1\", \"for\": \"2w\",\n"
			   "   \"labels\": {\"k\": \"v\\n2\"}, \"annotations\": {\"summary\": \"s\"}}, {\"alert\": \"E\", \"expr\": \"e\"}]}";
	assert_int_equal(config_load_string(&a, json, "t.json", err, sizeof(err)), 0);
	char *out = config_to_json(&a);
	assert_non_null(out);
	assert_int_equal(config_load_string(&b, out, "out.json", err, sizeof(err)), 0);
	assert_string_equal(a.instance, b.instance);
	assert_string_equal(a.data_dir, b.data_dir);
	assert_string_equal(a.api_listen, b.api_listen);
	assert_string_equal(a.push_listen, b.push_listen);
	assert_int_equal(b.collectors, 3);
	assert_int_equal(b.apiservers, 2);
	assert_int_equal(b.log_json, 1);
	assert_int_equal(b.sample_ring_bytes, 4294967296ull);
	assert_int_equal(b.push_wait_ms, 250);
	assert_int_equal(b.max_body_bytes, 1024);
	assert_false(b.self_scrape);
	assert_int_equal(b.scrape_interval_ms, 90000);
	assert_int_equal(b.lookback_ms, 1500);
	assert_int_equal(b.query_max_samples, 1099511627776ull);
	assert_int_equal(b.hang_timeout_ms, 31536000000LL);
	assert_int_equal(b.rule_eval_interval_ms, 0);
	assert_int_equal(b.ooo_window_ms, 600000);
	assert_int_equal(b.nrules, 2);
	assert_string_equal(b.rules[0].alert, "Q\"uote");
	assert_string_equal(b.rules[0].expr, "a{b=\"c\"} > 1");
	assert_int_equal(b.rules[0].for_ms, 14LL * 86400000);
	assert_string_equal(b.rules[0].labels[0].value, "v\n2");
	assert_string_equal(b.rules[0].annotations[0].name, "summary");
	assert_int_equal(b.rules[1].nlabels, 0);
	/* And the second rendering is byte-identical to the first. */
	char *out2 = config_to_json(&b);
	assert_string_equal(out, out2);
	free(out);
	free(out2);
	config_free(&a);
	config_free(&b);
}

static void test_load_file_reads_a_file_and_reports_missing_ones(void **state)
{
	(void)state;
	char path[] = "/tmp/test_config_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *json = "{\"instance\": \"fromfile\"}";
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	struct config c;
	char err[512] = "";
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.instance, "fromfile");
	config_free(&c);

	/* A bad value names the file. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	json = "{\"collectors\": 0}";
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -EINVAL);
	config_free(&c);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_non_null(strstr(err, "collectors"));
	unlink(path);

	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -ENOENT);
	config_free(&c);
	assert_non_null(strstr(err, "cannot open"));
}

static void test_durations_parse_every_unit_and_compounds(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {
		{"0s", 0},           {"500ms", 500},        {"15s", 15000},
		{"5m", 300000},      {"1h30m", 5400000},    {"2d", 172800000},
		{"1w", 604800000},   {"1y", 31536000000LL}, {"1m30s500ms", 90500},
		{"1h1m1s1ms", 3661001}, {"90m", 5400000},   {"106751991167d", 106751991167LL * 86400000},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t ms = -1;
		if (config_parse_duration(ok[i].s, &ms) != 0 || ms != ok[i].ms)
			fail_msg("duration \"%s\": got %lld, wanted %lld", ok[i].s, (long long)ms, (long long)ok[i].ms);
	}
}

static void test_bad_durations_are_einval_and_leave_the_output(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "5", "m", "1x", "-5s", " 5s", "5s ", "5 s", "1.5h", "5S", "1hm", "ms",
		"9223372036854775807ms",     /* overflows the digit guard */
		"106751991167d1d",           /* sums past INT64_MAX */
		"300000000y",                /* n * mul overflows */
		"99999999999999999999s",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 42;
		int rc = config_parse_duration(bad[i], &ms);
		if (rc != -EINVAL || ms != 42)
			fail_msg("duration \"%s\": rc %d, ms %lld (wanted -EINVAL, untouched)", bad[i], rc, (long long)ms);
	}
	int64_t ms = 42;
	assert_int_equal(config_parse_duration(NULL, &ms), -EINVAL);
}

static void test_hostport_splits_names_ipv4_and_bracketed_ipv6(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		const char *host;
		int port;
	} ok[] = {
		{"127.0.0.1:9470", "127.0.0.1", 9470},
		{"localhost:80", "localhost", 80},
		{"[::1]:80", "::1", 80},
		{"[fe80::1%eth0]:65535", "fe80::1%eth0", 65535},
		{"0.0.0.0:0", "0.0.0.0", 0},
		{"h:09", "h", 9},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char host[64] = "";
		int port = -1;
		if (config_split_hostport(ok[i].s, host, sizeof(host), &port) != 0 ||
		    strcmp(host, ok[i].host) != 0 || port != ok[i].port)
			fail_msg("\"%s\": host \"%s\" port %d", ok[i].s, host, port);
	}
}

static void test_bad_hostports_are_einval(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "localhost", ":80", "h:", "h:x", "h:80x", "h:-1", "h:65536", "h:99999999999999999999", "h:+80", "h: 80",
		"::1:80",      /* IPv6 without brackets is ambiguous */
		"[::1:80",     /* unbalanced bracket */
		"::1]:80",
		"[]:80",       /* empty bracketed host */
		"[::1]x:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[64] = "untouched";
		int port = -1;
		int rc = config_split_hostport(bad[i], host, sizeof(host), &port);
		if (rc != -EINVAL)
			fail_msg("\"%s\": rc %d host \"%s\" port %d (wanted -EINVAL)", bad[i], rc, host, port);
	}
	/* A host longer than the buffer is refused, not truncated. */
	char small[4];
	int port;
	assert_int_equal(config_split_hostport("abcd:1", small, sizeof(small), &port), -EINVAL);
	assert_int_equal(config_split_hostport("abc:1", small, sizeof(small), &port), 0);
	assert_string_equal(small, "abc");
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_default_loads_with_documented_values),
		cmocka_unit_test(test_a_file_overrides_only_the_keys_it_names),
		cmocka_unit_test(test_unknown_keys_are_errors_naming_the_key),
		cmocka_unit_test(test_each_kind_of_bad_value_is_einval_naming_the_key),
		cmocka_unit_test(test_seventeen_labels_are_too_many),
		cmocka_unit_test(test_more_than_256_rules_are_rejected),
		cmocka_unit_test(test_json_syntax_errors_give_line_and_column),
		cmocka_unit_test(test_to_json_round_trips_through_load_string),
		cmocka_unit_test(test_load_file_reads_a_file_and_reports_missing_ones),
		cmocka_unit_test(test_durations_parse_every_unit_and_compounds),
		cmocka_unit_test(test_bad_durations_are_einval_and_leave_the_output),
		cmocka_unit_test(test_hostport_splits_names_ipv4_and_bracketed_ipv6),
		cmocka_unit_test(test_bad_hostports_are_einval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
