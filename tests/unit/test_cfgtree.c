/* test_cfgtree: unit tests of common/cfgtree (YAML and JSON into one tree,
 * line and column in messages, duplicate keys, the typed readers, files
 * and limits). Files are written to a fresh directory under /tmp. */
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

#include "common/cfgtree.h"

static char err[512];

static struct cfgtree_ctx ctx(const char *origin)
{
	err[0] = '\0';
	return (struct cfgtree_ctx){.origin = origin, .err = err, .errlen = sizeof(err)};
}

static void parse_ok(struct cfgtree_ctx *x, const char *text, int json, struct cfgtree_node *root)
{
	int rc = cfgtree_parse_text(x, text, strlen(text), json, root);
	if (rc)
		fail_msg("parse: %d %s", rc, err);
}

/* The value of key in mapping n, or NULL. */
static const struct cfgtree_node *get(const struct cfgtree_node *n, const char *key)
{
	for (size_t i = 0; n->kind == CFGTREE_MAP && i < n->n; i++)
		if (!strcmp(n->kids[2 * i].s, key))
			return &n->kids[2 * i + 1];
	return NULL;
}

/* Same kinds, texts and shapes; positions are not compared. */
static int same_tree(const struct cfgtree_node *a, const struct cfgtree_node *b)
{
	if (a->kind != b->kind || a->n != b->n || !a->s != !b->s || (a->s && strcmp(a->s, b->s)))
		return 0;
	size_t k = a->kind == CFGTREE_MAP ? 2 * a->n : a->kind == CFGTREE_SEQ ? a->n : 0;
	for (size_t i = 0; i < k; i++)
		if (!same_tree(&a->kids[i], &b->kids[i]))
			return 0;
	return 1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_yaml_and_json_become_the_same_tree(void **state)
{
	static const char yaml[] = "name: web\n"
				   "port: 8080\n"
				   "ratio: 2.5\n"
				   "on: true\n"
				   "none: ~\n"
				   "tags: [a, \"b c\"]\n"
				   "nested:\n"
				   "  - {k: v}\n"
				   "  - []\n";
	static const char json[] = "{\"name\": \"web\", \"port\": 8080, \"ratio\": 2.5, \"on\": true, \"none\": null,"
				   " \"tags\": [\"a\", \"b c\"], \"nested\": [{\"k\": \"v\"}, []]}";
	struct cfgtree_ctx x = ctx("t");
	struct cfgtree_node y, j;
	parse_ok(&x, yaml, 0, &y);
	parse_ok(&x, json, 1, &j);
	assert_int_equal(y.kind, CFGTREE_MAP);
	assert_int_equal(y.n, 7);
	assert_true(same_tree(&y, &j));
	assert_string_equal(get(&j, "port")->s, "8080");
	assert_string_equal(get(&j, "ratio")->s, "2.5");
	assert_string_equal(get(&j, "on")->s, "true");
	assert_int_equal(get(&j, "none")->kind, CFGTREE_NULL);
	/* YAML knows where each node is, JSON does not. */
	assert_int_equal(get(&y, "tags")->line, 6);
	assert_int_equal(get(&y, "tags")->col, 7);
	assert_int_equal(get(&y, "nested")->kids[0].line, 8);
	assert_int_equal(get(&y, "nested")->kids[0].col, 5);
	assert_int_equal(get(&j, "tags")->line, 0);
	cfgtree_node_free(&y);
	cfgtree_node_free(&j);
	cfgtree_node_free(NULL);
}

static void test_yaml_nulls_are_plain_only_and_empty_document_is_null(void **state)
{
	struct cfgtree_ctx x = ctx("t");
	struct cfgtree_node r;
	parse_ok(&x, "a:\nb: null\nc: NULL\nd: \"null\"\ne: ''\nf: '~'\n", 0, &r);
	assert_int_equal(get(&r, "a")->kind, CFGTREE_NULL);
	assert_int_equal(get(&r, "b")->kind, CFGTREE_NULL);
	assert_int_equal(get(&r, "c")->kind, CFGTREE_NULL);
	assert_int_equal(get(&r, "d")->kind, CFGTREE_SCALAR);
	assert_string_equal(get(&r, "d")->s, "null");
	assert_int_equal(get(&r, "e")->kind, CFGTREE_SCALAR);
	assert_string_equal(get(&r, "e")->s, "");
	assert_string_equal(get(&r, "f")->s, "~");
	cfgtree_node_free(&r);
	parse_ok(&x, "", 0, &r);
	assert_int_equal(r.kind, CFGTREE_NULL);
	assert_int_equal(cfgtree_want_map(&x, &r, "top"), 0); /* null is an empty mapping */
	assert_int_equal(cfgtree_want_seq(&x, &r, "top"), 0);
	cfgtree_node_free(&r);
}

static void test_errors_name_origin_line_and_column(void **state)
{
	struct cfgtree_ctx x = ctx("conf.yml");
	struct cfgtree_node r;
	uint64_t u = 7;
	parse_ok(&x, "a: 1\nlimits:\n  max: lots\n", 0, &r);
	assert_int_equal(cfgtree_get_uint(&x, get(get(&r, "limits"), "max"), "max", &u), -EINVAL);
	assert_string_equal(err, "conf.yml:3:8: \"max\" must be a non-negative integer");
	assert_int_equal(u, 7);
	assert_int_equal(cfgtree_want_seq(&x, get(&r, "limits"), "limits"), -EINVAL);
	assert_string_equal(err, "conf.yml:3:3: \"limits\" must be a list, not a mapping");
	cfgtree_node_free(&r);

	/* Syntax errors carry libyaml's position. */
	assert_int_equal(cfgtree_parse_text(&x, "a: [1, 2\nb: 3\n", 14, 0, &r), -EINVAL);
	assert_non_null(strstr(err, "conf.yml:"));
	assert_non_null(strstr(err, ": YAML: "));
	int line = 0, col = 0;
	assert_int_equal(sscanf(err, "conf.yml:%d:%d:", &line, &col), 2);
	assert_true(line >= 1 && col >= 1);
	cfgtree_node_free(&r);

	/* JSON has no positions: "origin: message". */
	x = ctx("scrape job");
	assert_int_equal(cfgtree_parse_text(&x, "{\"a\": }", 7, 1, &r), -EINVAL);
	assert_string_equal(err, "scrape job: invalid JSON near offset 6");
	cfgtree_node_free(&r);
	parse_ok(&x, "{\"a\": [1]}", 1, &r);
	assert_int_equal(cfgtree_get_bool(&x, get(&r, "a"), "a", &(int){0}), -EINVAL);
	assert_string_equal(err, "scrape job: \"a\" must be true or false");
	cfgtree_node_free(&r);
}

static void test_duplicate_keys_are_rejected_at_the_second(void **state)
{
	struct cfgtree_ctx x = ctx("d.yml");
	struct cfgtree_node r;
	parse_ok(&x, "a: 1\nb: 2\na: 3\n", 0, &r);
	assert_int_equal(r.n, 3); /* the tree keeps both; the reader refuses */
	assert_int_equal(cfgtree_want_map(&x, &r, "top level"), -EINVAL);
	assert_string_equal(err, "d.yml:3:1: key \"a\" appears twice in \"top level\"");
	cfgtree_node_free(&r);

	x = ctx("job");
	parse_ok(&x, "{\"a\": 1, \"a\": 2}", 1, &r);
	assert_int_equal(cfgtree_want_map(&x, &r, "job"), -EINVAL);
	assert_string_equal(err, "job: key \"a\" appears twice in \"job\"");
	cfgtree_node_free(&r);

	x = ctx("k.yml");
	parse_ok(&x, "[1]: x\n", 0, &r);
	assert_int_equal(cfgtree_want_map(&x, &r, "top"), -EINVAL);
	assert_string_equal(err, "k.yml:1:1: keys of \"top\" must be strings");
	cfgtree_node_free(&r);
}

static void test_typed_readers_accept_their_type_only(void **state)
{
	struct cfgtree_ctx x = ctx("t");
	struct cfgtree_node r;
	parse_ok(&x,
		 "yes1: yes\nno1: OFF\nnum: 18446744073709551615\nbig: 18446744073709551616\nneg: -1\nfrac: 1.5\n"
		 "dur: 1m30s\nbaddur: 90\nlist: [a, b]\nmixed: [a, [b]]\nmap: {k: v}\n",
		 0, &r);
	int b = -1;
	assert_int_equal(cfgtree_get_bool(&x, get(&r, "yes1"), "yes1", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(cfgtree_get_bool(&x, get(&r, "no1"), "no1", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(cfgtree_get_bool(&x, get(&r, "num"), "num", &b), -EINVAL);

	uint64_t u = 0;
	assert_int_equal(cfgtree_get_uint(&x, get(&r, "num"), "num", &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(cfgtree_get_uint(&x, get(&r, "big"), "big", &u), -EINVAL);
	assert_string_equal(err, "t:4:6: \"big\" must be a non-negative integer, not \"18446744073709551616\"");
	assert_int_equal(cfgtree_get_uint(&x, get(&r, "neg"), "neg", &u), -EINVAL);
	assert_int_equal(cfgtree_get_uint(&x, get(&r, "frac"), "frac", &u), -EINVAL);

	int64_t ms = 0;
	assert_int_equal(cfgtree_get_duration(&x, get(&r, "dur"), "dur", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(cfgtree_get_duration(&x, get(&r, "baddur"), "baddur", &ms), -EINVAL);
	assert_string_equal(err, "t:8:9: \"baddur\": not a valid duration \"90\" (want e.g. 15s, 1m30s, 500ms)");
	assert_int_equal(cfgtree_get_duration(&x, get(&r, "map"), "map", &ms), -EINVAL);
	assert_non_null(strstr(err, "not a valid duration \"a mapping\""));

	char *s = strdup("old");
	assert_int_equal(cfgtree_get_str(&x, get(&r, "map"), "map", &s), -EINVAL);
	assert_string_equal(s, "old");
	assert_int_equal(cfgtree_get_str(&x, get(&r, "yes1"), "yes1", &s), 0);
	assert_string_equal(s, "yes"); /* a string reader sees the text */
	free(s);

	char **list = NULL;
	size_t n = 0;
	assert_int_equal(cfgtree_get_strlist(&x, get(&r, "list"), "list", &list, &n), 0);
	assert_int_equal(cfgtree_get_strlist(&x, get(&r, "list"), "list", &list, &n), 0); /* appends */
	assert_int_equal(n, 4);
	assert_string_equal(list[3], "b");
	assert_int_equal(cfgtree_get_strlist(&x, get(&r, "mixed"), "mixed", &list, &n), -EINVAL);
	assert_string_equal(err, "t:10:12: items of \"mixed\" must be strings");
	assert_int_equal(cfgtree_get_strlist(&x, get(&r, "map"), "map", &list, &n), -EINVAL);
	assert_string_equal(err, "t:11:6: \"map\" must be a list, not a mapping");
	cfgtree_strs_free(list, n); /* the caller owns what was read, also after a failure */
	cfgtree_strs_free(NULL, 0);
	cfgtree_node_free(&r);

	assert_string_equal(cfgtree_kind_name(CFGTREE_SCALAR), "a scalar");
	assert_string_equal(cfgtree_kind_name(CFGTREE_SEQ), "a list");
	assert_string_equal(cfgtree_kind_name(CFGTREE_NULL), "null");
	static const char *const keys[] = {"a", "b", NULL};
	assert_true(cfgtree_in("b", keys));
	assert_false(cfgtree_in("c", keys));
}

static void test_durations_format_as_prometheus_and_read_back(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {{0, "0s"}, {500, "500ms"}, {90000, "1m30s"}, {86400000, "1d"}, {604800000, "1w"},
		     {691200000, "8d"}, {31536000000LL, "1y"}, {3723004, "1h2m3s4ms"}};
	struct cfgtree_ctx x = ctx("t");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		int64_t back = -1;
		cfgtree_format_duration(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
		struct cfgtree_node n = {.kind = CFGTREE_SCALAR, .s = buf};
		assert_int_equal(cfgtree_get_duration(&x, &n, "d", &back), 0);
		assert_int_equal(back, cases[i].ms);
	}
}

static void test_files_load_by_format_and_resolve_against_dir(void **state)
{
	char dir[] = "/tmp/test_cfgtree.XXXXXX", path[256];
	assert_non_null(mkdtemp(dir));
	struct cfgtree_ctx x = ctx("unused");
	struct cfgtree_node y, j;
	snprintf(path, sizeof(path), "%s/a.yml", dir);
	write_file(path, "k: [1, 2]\n");
	assert_int_equal(cfgtree_load_file(&x, path, 0, &y), 0);
	snprintf(path, sizeof(path), "%s/a.json", dir);
	write_file(path, "{\"k\": [1, 2]}");
	assert_int_equal(cfgtree_load_file(&x, path, 1, &j), 0);
	assert_true(same_tree(&y, &j));
	cfgtree_node_free(&y);
	cfgtree_node_free(&j);

	/* A missing file is -ENOENT and leaves err alone for callers that
	 * tolerate it; other failures say why. */
	snprintf(path, sizeof(path), "%s/missing.yml", dir);
	strcpy(err, "untouched");
	assert_int_equal(cfgtree_load_file(&x, path, 0, &y), -ENOENT);
	assert_string_equal(err, "untouched");
	cfgtree_node_free(&y);
	assert_true(cfgtree_load_file(&x, dir, 0, &y) < 0); /* a directory */
	assert_non_null(strstr(err, ": cannot read: "));
	cfgtree_node_free(&y);

	/* File text: relative to the context's dir, trimmed. */
	snprintf(path, sizeof(path), "%s/secret", dir);
	write_file(path, "  s3cret \n\n");
	x = ctx("conf.yml");
	x.dir = dir;
	char *p = cfgtree_path(&x, "secret"), *text = NULL;
	assert_string_equal(p, path);
	free(p);
	p = cfgtree_path(&x, "/abs");
	assert_string_equal(p, "/abs");
	free(p);
	struct cfgtree_node n = {.kind = CFGTREE_SCALAR, .s = "secret", .line = 4, .col = 20};
	assert_int_equal(cfgtree_get_file_text(&x, &n, "password_file", &text), 0);
	assert_string_equal(text, "s3cret");
	n.s = "nope";
	assert_int_equal(cfgtree_get_file_text(&x, &n, "password_file", &text), -EINVAL);
	assert_non_null(strstr(err, "conf.yml:4:20: \"password_file\": cannot read "));
	assert_string_equal(text, "s3cret");
	free(text);

	unlink(path);
	snprintf(path, sizeof(path), "%s/a.yml", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/a.json", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static void test_deep_nesting_and_alias_bombs_are_refused(void **state)
{
	char deep[512] = "";
	for (int i = 0; i < CFGTREE_MAX_DEPTH + 2; i++)
		strcat(deep, "[");
	for (int i = 0; i < CFGTREE_MAX_DEPTH + 2; i++)
		strcat(deep, "]");
	struct cfgtree_ctx x = ctx("deep");
	struct cfgtree_node r;
	assert_int_equal(cfgtree_parse_text(&x, deep, strlen(deep), 0, &r), -EINVAL);
	assert_non_null(strstr(err, "nested or aliased too deeply"));
	cfgtree_node_free(&r);
	x = ctx("deep");
	assert_int_equal(cfgtree_parse_text(&x, deep, strlen(deep), 1, &r), -EINVAL);
	assert_string_equal(err, "deep: document nested too deeply");
	cfgtree_node_free(&r);

	/* Ten levels of ten aliases each expand to 10^10 nodes. */
	char bomb[2048];
	size_t o = (size_t)snprintf(bomb, sizeof(bomb), "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i <= 10; i++)
		o += (size_t)snprintf(bomb + o, sizeof(bomb) - o, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
				      i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	x = ctx("bomb");
	assert_int_equal(cfgtree_parse_text(&x, bomb, o, 0, &r), -EINVAL);
	assert_non_null(strstr(err, "nested or aliased too deeply"));
	assert_true(x.nodes > CFGTREE_MAX_NODES);
	cfgtree_node_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml_and_json_become_the_same_tree),
		cmocka_unit_test(test_yaml_nulls_are_plain_only_and_empty_document_is_null),
		cmocka_unit_test(test_errors_name_origin_line_and_column),
		cmocka_unit_test(test_duplicate_keys_are_rejected_at_the_second),
		cmocka_unit_test(test_typed_readers_accept_their_type_only),
		cmocka_unit_test(test_durations_format_as_prometheus_and_read_back),
		cmocka_unit_test(test_files_load_by_format_and_resolve_against_dir),
		cmocka_unit_test(test_deep_nesting_and_alias_bombs_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
