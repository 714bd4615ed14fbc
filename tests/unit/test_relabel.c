/* test_relabel: unit tests of common/relabel (every Prometheus action,
 * defaults, anchoring, Go-style template expansion, hashmod values that
 * Prometheus computes, validation messages, the sorted label set). Cases
 * follow Prometheus' documented semantics; expected hashmod values were
 * derived with Python's hashlib (last 8 digest bytes, big-endian, mod m). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/relabel.h"

/* A rule spec: NULL fields take the default. Sources are comma-separated. */
struct spec {
	const char *action, *sources, *sep, *regex, *target, *repl;
	uint64_t modulus;
};

static int build_rule(struct relabel_rule *r, const struct spec *s, char *err, size_t errlen)
{
	relabel_rule_defaults(r);
	if (s->action) {
		int a = relabel_action_parse(s->action);
		assert_true(a >= 0);
		r->action = (enum relabel_action)a;
	}
	if (s->sources) {
		char *dup = strdup(s->sources), *save = NULL;
		for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
			r->source[r->nsource++] = strdup(t);
		free(dup);
	}
	if (s->sep)
		r->separator = strdup(s->sep);
	if (s->regex)
		r->regex_src = strdup(s->regex);
	if (s->target)
		r->target = strdup(s->target);
	if (s->repl)
		r->replacement = strdup(s->repl);
	r->modulus = s->modulus;
	return relabel_rule_finish(r, err, errlen);
}

static void build(struct relabel_config *c, const struct spec *specs, size_t n)
{
	c->rules = calloc(n, sizeof(*c->rules));
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		char err[256] = "";
		int rc = build_rule(&c->rules[i], &specs[i], err, sizeof(err));
		if (rc)
			fail_msg("rule %zu rejected: %s", i, err);
	}
}

/* Fills ls from "name", "value" pairs ending with NULL. */
static void labels(struct relabel_labels *ls, ...)
{
	va_list ap;
	va_start(ap, ls);
	for (;;) {
		const char *n = va_arg(ap, const char *);
		if (!n)
			break;
		const char *v = va_arg(ap, const char *);
		assert_int_equal(relabel_labels_set(ls, n, strlen(n), v, strlen(v)), 0);
	}
	va_end(ap);
}

/* Renders a label set as {a="x",b="y"} for comparisons. */
static const char *render(const struct relabel_labels *ls)
{
	static char buf[1024];
	size_t o = 0;
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{");
	for (size_t i = 0; i < ls->n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s=\"%s\"", i ? "," : "", ls->l[i].name,
				      ls->l[i].value);
	snprintf(buf + o, sizeof(buf) - o, "}");
	return buf;
}

/* Runs specs over the input and checks the kept flag and output. */
#define RUN(expect_keep, expect_out, specs, ...)                                   \
	do {                                                                        \
		struct relabel_config c_ = {0};                                     \
		struct relabel_labels ls_ = {0};                                    \
		build(&c_, specs, sizeof(specs) / sizeof(specs[0]));                \
		labels(&ls_, __VA_ARGS__, NULL);                                    \
		int rc_ = relabel_apply(&c_, &ls_);                                 \
		assert_int_equal(rc_, expect_keep);                                 \
		if (expect_out)                                                     \
			assert_string_equal(render(&ls_), (const char *)expect_out); \
		relabel_labels_free(&ls_);                                          \
		relabel_config_free(&c_);                                           \
	} while (0)

static const char *reject(const struct spec *s)
{
	static char err[256];
	struct relabel_rule r;
	err[0] = '\0';
	int rc = build_rule(&r, s, err, sizeof(err));
	relabel_rule_free(&r);
	assert_int_equal(rc, -EINVAL);
	return err;
}

static void test_md5_matches_rfc1321_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		{"", "d41d8cd98f00b204e9800998ecf8427e"},
		{"abc", "900150983cd24fb0d6963f7d28e17f72"},
		{"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
		{"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		 "57edf4a22be3c955ac49da2e2107b67a"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t d[16];
		char hex[33];
		relabel_md5(v[i].in, strlen(v[i].in), d);
		for (int j = 0; j < 16; j++)
			sprintf(hex + 2 * j, "%02x", d[j]);
		assert_string_equal(hex, v[i].hex);
	}
	/* Lengths around the 56-byte padding boundary and many blocks. */
	char a[1000];
	memset(a, 'a', sizeof(a));
	uint8_t d[16];
	relabel_md5(a, sizeof(a), d);
	assert_int_equal(d[0], 0xca);
	assert_int_equal(d[15], 0xa8);
}

static void test_replace_defaults_copy_source_to_target(void **state)
{
	(void)state;
	static const struct spec s[] = {{.sources = "a", .target = "b"}};
	RUN(1, "{a=\"foo\",b=\"foo\"}", s, "a", "foo");
}

static void test_replace_expands_groups_into_replacement(void **state)
{
	(void)state;
	static const struct spec s1[] = {{.sources = "a", .regex = "f(.*)", .target = "d", .repl = "ch${1}-ch${1}"}};
	RUN(1, "{a=\"foo\",b=\"bar\",c=\"baz\",d=\"choo-choo\"}", s1, "a", "foo", "b", "bar", "c", "baz");
	/* Two sources joined with ";", and a chain of two rules. */
	static const struct spec s2[] = {
		{.sources = "a,b", .regex = "f(.*);(.*)r", .target = "a", .repl = "b${1}${2}m"},
		{.sources = "c,a", .regex = "(b).*b(.*)ba(.*)", .target = "d", .repl = "$1$2$2$3"},
	};
	RUN(1, "{a=\"boobam\",b=\"bar\",c=\"baz\",d=\"boooom\"}", s2, "a", "foo", "b", "bar", "c", "baz");
}

static void test_replace_does_nothing_when_regex_does_not_match(void **state)
{
	(void)state;
	static const struct spec s[] = {{.sources = "a", .regex = "f", .target = "b", .repl = "bar"}};
	RUN(1, "{a=\"boo\"}", s, "a", "boo");
}

static void test_replace_with_empty_result_deletes_target(void **state)
{
	(void)state;
	static const struct spec s1[] = {{.sources = "missing", .target = "a"}};
	RUN(1, "{b=\"x\"}", s1, "a", "foo", "b", "x");
	static const struct spec s2[] = {{.sources = "a", .regex = "some-([^-]+)-([^,]+)", .target = "${1}", .repl = "${3}"}};
	RUN(1, "{a=\"some-name-value\"}", s2, "a", "some-name-value", "name", "old");
	/* A constant replacement of an absent source sets the target. */
	static const struct spec s3[] = {{.target = "env", .repl = "prod"}};
	RUN(1, "{a=\"1\",env=\"prod\"}", s3, "a", "1");
}

static void test_replace_target_from_template_and_invalid_targets_skipped(void **state)
{
	(void)state;
	static const struct spec s1[] = {{.sources = "a", .regex = "some-([^-]+)-([^,]+)", .target = "${1}", .repl = "${2}"}};
	RUN(1, "{a=\"some-name-value\",name=\"value\"}", s1, "a", "some-name-value");
	/* "${3}" expands to "" and "0..." is no label name: nothing is set. */
	static const struct spec s2[] = {
		{.sources = "a", .regex = "some-([^-]+)-([^,]+)", .target = "${3}", .repl = "${1}"},
		{.sources = "a", .regex = "some-([^-]+)-([^,]+)", .target = "x${2}", .repl = "${1}"},
		{.sources = "a", .regex = "some-([^-]+)-([^,]+)", .target = "${2}x", .repl = "${1}"},
	};
	RUN(1, "{a=\"some-name-0\",x0=\"name\"}", s2, "a", "some-name-0");
}

static void test_regex_is_anchored_at_both_ends(void **state)
{
	(void)state;
	static const struct spec keep_foo[] = {{.action = "keep", .sources = "a", .regex = "foo"}};
	RUN(0, NULL, keep_foo, "a", "foobar");
	RUN(0, NULL, keep_foo, "a", "xfoo");
	RUN(1, "{a=\"foo\"}", keep_foo, "a", "foo");
	/* An alternation is anchored as a whole: "f|o" does not match "foo". */
	static const struct spec drop_alt[] = {{.action = "drop", .sources = "a", .regex = "f|o"}};
	RUN(1, "{a=\"foo\"}", drop_alt, "a", "foo");
	/* A ")|(" in the regex cannot escape the anchoring: it is rejected
	 * (Go would compile "^(?s:x)|(foo)$" and match unanchored). */
	assert_non_null(strstr(reject(&(struct spec){.action = "keep", .sources = "a", .regex = "x)|(foo"}),
			       "unmatched closing parenthesis"));
	/* '$' does not match before a trailing newline, as in Go. */
	static const struct spec keep_dollar[] = {{.action = "keep", .sources = "a", .regex = "foo$"}};
	RUN(0, NULL, keep_dollar, "a", "foo\n");
}

static void test_dot_matches_newline_like_prometheus_3(void **state)
{
	(void)state;
	static const struct spec s[] = {{.action = "keep", .sources = "a", .regex = "foo.bar"}};
	RUN(1, "{a=\"foo\nbar\"}", s, "a", "foo\nbar");
}

static void test_keep_and_drop_filter_on_joined_sources(void **state)
{
	(void)state;
	static const struct spec drop[] = {
		{.action = "drop", .sources = "a", .regex = ".*o.*"},
		{.sources = "a", .regex = "f(.*)", .target = "d", .repl = "ch$1-ch$1"},
	};
	RUN(0, NULL, drop, "a", "foo");
	static const struct spec drop_nomatch[] = {{.action = "drop", .sources = "a", .regex = "no-match"}};
	RUN(1, "{a=\"foo\"}", drop_nomatch, "a", "foo");
	static const struct spec keep_nomatch[] = {{.action = "keep", .sources = "a", .regex = "no-match"}};
	RUN(0, NULL, keep_nomatch, "a", "foo");
	static const struct spec keep_sep[] = {{.action = "keep", .sources = "a,b", .sep = "/", .regex = "x/"}};
	RUN(1, "{a=\"x\"}", keep_sep, "a", "x");
	/* Absent sources are empty strings: keep with "" keeps label-less sets. */
	static const struct spec keep_empty[] = {{.action = "keep", .sources = "a", .regex = ""}};
	RUN(1, "{b=\"1\"}", keep_empty, "b", "1");
}

static void test_keepequal_and_dropequal_compare_with_target_value(void **state)
{
	(void)state;
	static const struct spec ke1[] = {{.action = "keepequal", .sources = "__tmp_port", .target = "__port1"}};
	RUN(1, "{__port1=\"1234\",__port2=\"5678\",__tmp_port=\"1234\"}", ke1, "__tmp_port", "1234", "__port1", "1234",
	    "__port2", "5678");
	static const struct spec ke2[] = {{.action = "keepequal", .sources = "__tmp_port", .target = "__port2"}};
	RUN(0, NULL, ke2, "__tmp_port", "1234", "__port1", "1234", "__port2", "5678");
	static const struct spec de1[] = {{.action = "dropequal", .sources = "__tmp_port", .target = "__port1"}};
	RUN(0, NULL, de1, "__tmp_port", "1234", "__port1", "1234", "__port2", "5678");
	static const struct spec de2[] = {{.action = "dropequal", .sources = "__tmp_port", .target = "__port2"}};
	RUN(1, NULL, de2, "__tmp_port", "1234", "__port1", "1234", "__port2", "5678");
	/* Absent target and absent source are equal (both empty). */
	static const struct spec de3[] = {{.action = "dropequal", .sources = "nope", .target = "none"}};
	RUN(0, NULL, de3, "a", "1");
}

static void test_hashmod_matches_prometheus_values(void **state)
{
	(void)state;
	static const struct spec s1[] = {{.action = "hashmod", .sources = "c", .target = "d", .modulus = 1000}};
	RUN(1, "{a=\"foo\",b=\"bar\",c=\"baz\",d=\"976\"}", s1, "a", "foo", "b", "bar", "c", "baz");
	static const struct spec s2[] = {{.action = "hashmod", .sources = "a", .target = "b", .modulus = 1000}};
	RUN(1, "{a=\"foo\nbar\",b=\"734\"}", s2, "a", "foo\nbar");
	static const struct spec s3[] = {{.action = "hashmod", .sources = "__address__", .target = "__tmp_hash", .modulus = 4}};
	RUN(1, "{__address__=\"10.0.0.1:9100\",__tmp_hash=\"1\"}", s3, "__address__", "10.0.0.1:9100");
	static const struct spec s4[] = {{.action = "hashmod", .sources = "a,b", .target = "h", .modulus = 7}};
	RUN(1, "{a=\"a\",b=\"b\",h=\"2\"}", s4, "a", "a", "b", "b");
	/* The empty string hashes too (md5("") mod 10 = 8). */
	static const struct spec s5[] = {{.action = "hashmod", .sources = "x", .target = "h", .modulus = 10}};
	RUN(1, "{h=\"8\"}", s5, "h", "old");
	/* Hashmod then keep: the usual sharding recipe. */
	static const struct spec shard[] = {
		{.action = "hashmod", .sources = "__address__", .target = "__tmp_hash", .modulus = 4},
		{.action = "keep", .sources = "__tmp_hash", .regex = "2"},
	};
	RUN(0, NULL, shard, "__address__", "10.0.0.1:9100");
}

static void test_labelmap_copies_matching_names_with_expansion(void **state)
{
	(void)state;
	static const struct spec s1[] = {{.action = "labelmap", .regex = "(b.*)", .repl = "bar_${1}"}};
	RUN(1, "{a=\"foo\",b1=\"bar\",b2=\"baz\",bar_b1=\"bar\",bar_b2=\"baz\"}", s1, "a", "foo", "b1", "bar", "b2",
	    "baz");
	static const struct spec s2[] = {{.action = "labelmap", .regex = "__meta_(my.*)", .repl = "${1}"}};
	RUN(1, "{__meta_my_bar=\"aaa\",__meta_my_baz=\"bbb\",__meta_other=\"ccc\",a=\"foo\",my_bar=\"aaa\",my_baz=\"bbb\"}",
	    s2, "a", "foo", "__meta_my_bar", "aaa", "__meta_my_baz", "bbb", "__meta_other", "ccc");
	/* The default replacement $1 with the default regex copies to itself. */
	static const struct spec s3[] = {{.action = "labelmap", .regex = "__meta_kubernetes_pod_label_(.+)"}};
	RUN(1, "{__meta_kubernetes_pod_label_app=\"web\",app=\"web\"}", s3, "__meta_kubernetes_pod_label_app", "web");
	static const struct spec s4[] = {{.action = "labelmap", .regex = "(x|y)_(.*)", .repl = "${2}_${1}"}};
	RUN(1, "{a_x=\"1\",a_y=\"2\",x_a=\"1\",y_a=\"2\"}", s4, "x_a", "1", "y_a", "2");
	/* The rule sees the set as it was before it ran (labels.Builder.Range
	 * iterates a snapshot): a->b writes b=1, then the original b=2 is
	 * copied onto b again. */
	static const struct spec s5[] = {{.action = "labelmap", .regex = "a|b", .repl = "b"}};
	RUN(1, "{a=\"1\",b=\"2\"}", s5, "a", "1", "b", "2");
}

static void test_labeldrop_and_labelkeep_match_names(void **state)
{
	(void)state;
	static const struct spec keep[] = {{.action = "labelkeep", .regex = "(b.*)"}};
	RUN(1, "{b1=\"bar\",b2=\"baz\"}", keep, "a", "foo", "b1", "bar", "b2", "baz");
	static const struct spec drop[] = {{.action = "labeldrop", .regex = "(b.*)"}};
	RUN(1, "{a=\"foo\"}", drop, "a", "foo", "b1", "bar", "b2", "baz");
	/* Anchored on names too: "b" drops only the label named "b". */
	static const struct spec drop_b[] = {{.action = "labeldrop", .regex = "b"}};
	RUN(1, "{a=\"1\",bb=\"3\"}", drop_b, "a", "1", "b", "2", "bb", "3");
	/* Prometheus issue 12283: labeldrop, then recreate, then keep. */
	static const struct spec k8s[] = {
		{.action = "labeldrop", .regex = "^__meta_kubernetes_pod_container_port_name$"},
		{.sources = "__meta_kubernetes_pod_annotation_XXX_metrics_port", .regex = "(.+)", .target = "__meta_kubernetes_pod_container_port_name", .repl = "metrics"},
		{.action = "keep", .sources = "__meta_kubernetes_pod_container_port_name", .regex = "^metrics$"},
	};
	RUN(1, "{__meta_kubernetes_pod_annotation_XXX_metrics_port=\"9091\",__meta_kubernetes_pod_container_port_name=\"metrics\"}",
	    k8s, "__meta_kubernetes_pod_container_port_name", "foo", "__meta_kubernetes_pod_annotation_XXX_metrics_port",
	    "9091");
}

static void test_lowercase_and_uppercase_set_target(void **state)
{
	(void)state;
	static const struct spec s[] = {
		{.action = "uppercase", .sources = "foo", .target = "foo_uppercase"},
		{.action = "lowercase", .sources = "foo", .target = "foo_lowercase"},
	};
	RUN(1, "{foo=\"bAr123Foo\",foo_lowercase=\"bar123foo\",foo_uppercase=\"BAR123FOO\"}", s, "foo", "bAr123Foo");
	/* An empty joined value deletes the target. */
	static const struct spec s2[] = {{.action = "lowercase", .sources = "none", .target = "t"}};
	RUN(1, "{a=\"1\"}", s2, "a", "1", "t", "X");
	/* Two sources joined with the separator before case mapping. */
	static const struct spec s3[] = {{.action = "lowercase", .sources = "a,b", .sep = "-", .target = "t"}};
	RUN(1, "{a=\"X\",b=\"Y\",t=\"x-y\"}", s3, "a", "X", "b", "Y");
}

static void test_expansion_follows_go_regexp_expand(void **state)
{
	(void)state;
	/* "$1x" names group "1x", which does not exist: empty. */
	static const struct spec s1[] = {{.sources = "a", .regex = "(.)(.*)", .target = "t", .repl = "[$1x]"}};
	RUN(1, "{a=\"ab\",t=\"[]\"}", s1, "a", "ab");
	/* "${1}x" delimits the name. */
	static const struct spec s2[] = {{.sources = "a", .regex = "(.)(.*)", .target = "t", .repl = "${1}x"}};
	RUN(1, "{a=\"ab\",t=\"ax\"}", s2, "a", "ab");
	/* "$$" is a literal "$"; a "$" not followed by a name stays literal. */
	static const struct spec s3[] = {{.sources = "a", .regex = "(.*)", .target = "t", .repl = "$$1 $ ${ ${}-$1"}};
	RUN(1, "{a=\"v\",t=\"$1 $ ${ ${}-v\"}", s3, "a", "v");
	/* Named groups by $name and ${name}; unknown names are empty. */
	static const struct spec s4[] = {{.sources = "a", .regex = "(?P<host>[^:]+):(?<port>\\d+)", .target = "t",
					  .repl = "${port}/$host/$nope."}};
	RUN(1, "{a=\"h:80\",t=\"80/h/.\"}", s4, "a", "h:80");
	/* "$01" has a leading zero: it is a name, not group 1. Group 0 is the
	 * whole match; groups past the last one are empty. */
	static const struct spec s5[] = {{.sources = "a", .regex = "(x)(y)?", .target = "t", .repl = "<$01|$0|$2|$9>"}};
	RUN(1, "{a=\"x\",t=\"<|x||>\"}", s5, "a", "x");
}

static void test_rules_apply_in_order_and_stop_at_drop(void **state)
{
	(void)state;
	static const struct spec s[] = {
		{.sources = "__meta_sd_tags", .regex = "(?:.+,|^)path:(/[^,]+).*", .target = "__metrics_path__", .repl = "${1}"},
		{.sources = "__meta_sd_tags", .regex = "(?:.+,|^)job:([^,]+).*", .target = "job", .repl = "${1}"},
		{.sources = "__meta_sd_tags", .regex = "(?:.+,|^)label:([^=]+)=([^,]+).*", .target = "${1}", .repl = "${2}"},
	};
	RUN(1, "{__meta_sd_tags=\"path:/secret,job:some-job,label:foo=bar\",__metrics_path__=\"/secret\",foo=\"bar\",job=\"some-job\"}",
	    s, "__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar");
}

static void test_invalid_rules_are_rejected_with_prometheus_messages(void **state)
{
	(void)state;
	assert_non_null(strstr(reject(&(struct spec){.sources = "a"}), "requires 'target_label' value"));
	assert_non_null(strstr(reject(&(struct spec){.action = "lowercase"}), "requires 'target_label' value"));
	assert_non_null(strstr(reject(&(struct spec){.action = "lowercase", .target = "${3}"}),
			       "\"${3}\" is invalid 'target_label'"));
	assert_non_null(strstr(reject(&(struct spec){.target = "0${3}"}), "\"0${3}\" is invalid 'target_label'"));
	assert_non_null(strstr(reject(&(struct spec){.target = "-${3}"}),
			       "\"-${3}\" is invalid 'target_label' for replace action"));
	assert_non_null(strstr(reject(&(struct spec){.target = "a-b"}), "is invalid 'target_label'"));
	assert_non_null(strstr(reject(&(struct spec){.target = "foo${"}), "is invalid 'target_label'"));
	assert_non_null(strstr(reject(&(struct spec){.action = "hashmod", .target = "h"}), "non-zero modulus"));
	assert_non_null(strstr(reject(&(struct spec){.action = "uppercase", .target = "t", .repl = "x"}),
			       "'replacement' can not be set for uppercase action"));
	assert_non_null(strstr(reject(&(struct spec){.action = "keepequal", .target = "t", .regex = "x"}),
			       "requires only 'source_labels' and `target_label`"));
	assert_non_null(strstr(reject(&(struct spec){.action = "labeldrop", .sources = "a"}),
			       "labeldrop action requires only 'regex'"));
	assert_non_null(strstr(reject(&(struct spec){.action = "labelkeep", .target = "a"}),
			       "labelkeep action requires only 'regex'"));
	assert_non_null(strstr(reject(&(struct spec){.action = "labelmap", .repl = "-x"}),
			       "\"-x\" is invalid 'replacement' for labelmap action"));
	assert_non_null(strstr(reject(&(struct spec){.target = "t", .regex = "a(b"}), "invalid regex \"a(b\""));
	assert_non_null(strstr(reject(&(struct spec){.sources = "bad-name", .target = "t"}), "bad-name"));
	assert_int_equal(relabel_action_parse("nope"), -1);
	assert_int_equal(relabel_action_parse("HashMod"), RELABEL_HASHMOD);
	assert_string_equal(relabel_action_name(RELABEL_KEEPEQUAL), "keepequal");
}

static void test_valid_targets_with_templates_are_accepted(void **state)
{
	(void)state;
	static const char *ok[] = {"label", "label${1}", "${1}label", "${1}", "$1", "asd$2asd", "_${1}_", "foo${bar}foo"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct relabel_rule r;
		char err[256] = "";
		int rc = build_rule(&r, &(struct spec){.target = ok[i]}, err, sizeof(err));
		relabel_rule_free(&r);
		if (rc)
			fail_msg("%s rejected: %s", ok[i], err);
	}
	static const char *bad[] = {"-label", "${", "$", "${}", "foo${", "-foo${1}bar-"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		reject(&(struct spec){.target = bad[i]});
}

static void test_label_set_stays_sorted_and_empty_value_deletes(void **state)
{
	(void)state;
	struct relabel_labels ls = {0};
	labels(&ls, "c", "3", "a", "1", "b", "2", "aa", "x", NULL);
	assert_string_equal(render(&ls), "{a=\"1\",aa=\"x\",b=\"2\",c=\"3\"}");
	assert_string_equal(relabel_labels_get(&ls, "b"), "2");
	assert_null(relabel_labels_get(&ls, "zz"));
	assert_int_equal(relabel_labels_set(&ls, "b", 1, "22", 2), 0);
	assert_int_equal(relabel_labels_set(&ls, "aa", 2, "", 0), 0);
	relabel_labels_del(&ls, "c");
	relabel_labels_del(&ls, "missing");
	assert_string_equal(render(&ls), "{a=\"1\",b=\"22\"}");
	struct relabel_labels cp = {0};
	assert_int_equal(relabel_labels_copy(&cp, &ls), 0);
	relabel_labels_clear(&ls);
	assert_int_equal(ls.n, 0);
	assert_string_equal(render(&cp), "{a=\"1\",b=\"22\"}");
	relabel_labels_free(&ls);
	relabel_labels_free(&cp);
	relabel_labels_free(NULL);
	relabel_config_free(NULL);
	relabel_rule_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md5_matches_rfc1321_vectors),
		cmocka_unit_test(test_replace_defaults_copy_source_to_target),
		cmocka_unit_test(test_replace_expands_groups_into_replacement),
		cmocka_unit_test(test_replace_does_nothing_when_regex_does_not_match),
		cmocka_unit_test(test_replace_with_empty_result_deletes_target),
		cmocka_unit_test(test_replace_target_from_template_and_invalid_targets_skipped),
		cmocka_unit_test(test_regex_is_anchored_at_both_ends),
		cmocka_unit_test(test_dot_matches_newline_like_prometheus_3),
		cmocka_unit_test(test_keep_and_drop_filter_on_joined_sources),
		cmocka_unit_test(test_keepequal_and_dropequal_compare_with_target_value),
		cmocka_unit_test(test_hashmod_matches_prometheus_values),
		cmocka_unit_test(test_labelmap_copies_matching_names_with_expansion),
		cmocka_unit_test(test_labeldrop_and_labelkeep_match_names),
		cmocka_unit_test(test_lowercase_and_uppercase_set_target),
		cmocka_unit_test(test_expansion_follows_go_regexp_expand),
		cmocka_unit_test(test_rules_apply_in_order_and_stop_at_drop),
		cmocka_unit_test(test_invalid_rules_are_rejected_with_prometheus_messages),
		cmocka_unit_test(test_valid_targets_with_templates_are_accepted),
		cmocka_unit_test(test_label_set_stays_sorted_and_empty_value_deletes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
