/* test_promql_parse: unit tests of the PromQL parser and printer
 * (common/promql_lex, promql_ast, promql_parse, promql_print): every
 * construct round-trips to Prometheus' canonical text, operator
 * precedence and associativity build the right trees, type checks and
 * syntax errors give Prometheus' messages at the right line:column, and
 * the AST fields the evaluator reads are filled in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/promql_lex.h"
#include "common/promql_parse.h"
#include "common/promql_print.h"
#include "common/records.h"

/* Allocation failure injection: the test replaces malloc and friends
 * (glibc supports this) so that the Nth allocation fails. Not under ASan,
 * which owns the allocator; that build counts the test as skipped. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ALLOC_HOOKS 0
#else
#define TEST_ALLOC_HOOKS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static long test_fail_at = -1; /* 1-based index of the allocation to fail; -1 off */
static long test_allocs;       /* allocations since armed */
static long test_live;         /* allocations minus frees since armed */

static int test_alloc_fails(void)
{
	return test_fail_at >= 0 && ++test_allocs == test_fail_at;
}

void *malloc(size_t n)
{
	if (test_alloc_fails())
		return NULL;
	void *p = __libc_malloc(n);
	if (p && test_fail_at >= 0)
		test_live++;
	return p;
}

void *calloc(size_t a, size_t b)
{
	if (test_alloc_fails())
		return NULL;
	void *p = __libc_calloc(a, b);
	if (p && test_fail_at >= 0)
		test_live++;
	return p;
}

void *realloc(void *old, size_t n)
{
	if (test_alloc_fails())
		return NULL;
	void *p = __libc_realloc(old, n);
	if (p && !old && test_fail_at >= 0)
		test_live++;
	return p;
}

void free(void *p)
{
	if (p && test_fail_at >= 0)
		test_live--;
	__libc_free(p);
}
#endif

static struct promql_node *parse_ok(const char *q)
{
	struct promql_node *n = NULL;
	struct promql_error e;
	int rc = promql_parse(q, strlen(q), &n, &e);
	if (rc != 0)
		fail_msg("promql_parse(%s): %d %s", q, rc, e.msg);
	return n;
}

/* Parses in, prints, compares with want, and checks the printed text is a
 * fixed point of parse+print. */
static void round_trip(const char *in, const char *want)
{
	struct promql_node *n = parse_ok(in), *n2;
	char *s = NULL, *s2 = NULL;
	assert_int_equal(promql_format(n, &s), 0);
	if (strcmp(s, want) != 0)
		fail_msg("print(parse(%s)) = \"%s\", want \"%s\"", in, s, want);
	n2 = parse_ok(s);
	assert_int_equal(promql_format(n2, &s2), 0);
	if (strcmp(s, s2) != 0)
		fail_msg("reprint of \"%s\" = \"%s\"", s, s2);
	free(s);
	free(s2);
	promql_free(n);
	promql_free(n2);
}

static const struct { const char *in, *out; } round_trips[] = {
	/* literals */
	{"1", "1"}, {"1.5", "1.5"}, {".5", "0.5"}, {"5.", "5"}, {"1e3", "1000"},
	{"1E-5", "0.00001"}, {"0x10", "16"}, {"0XfF", "255"}, {"010", "8"}, {"0755", "493"},
	{"Inf", "+Inf"}, {"inf", "+Inf"}, {"-Inf", "-Inf"}, {"+InF", "+Inf"}, {"NaN", "NaN"},
	{"nan", "NaN"}, {"-1", "-1"}, {"- 1", "-1"}, {"+1", "1"}, {"1e100", "10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"},
	{"0.1", "0.1"}, {"123456789012", "123456789012"}, {"5m", "5m"}, {"1h30m", "1h30m"},
	{"90m", "1h30m"}, {"1y", "1y"}, {"2w", "2w"}, {"100ms", "100ms"}, {"time() - 1h", "time() - 1h"},
	{"\"a\\nb\"", "\"a\\nb\""}, {"'single'", "\"single\""}, {"`raw\\n`", "\"raw\\\\n\""},
	{"'it\\'s'", "\"it's\""}, {"\"\\x41\\101\\u00e9\"", "\"AAé\""}, {"\"\\u263a\"", "\"☺\""},
	{"\"\\xff\\x80a\"", "\"\\xff\\x80a\""}, {"\"\\u0085\\u00a0\"", "\"\\u0085\\u00a0\""},
	{"\"\\x01\\x7f\"", "\"\\x01\\x7f\""},
	/* selectors */
	{"foo", "foo"}, {"foo{}", "foo"}, {"foo:bar:rate5m", "foo:bar:rate5m"},
	{"foo{a=\"b\", c!=\"d\", e=~\"f\", g!~\"h\"}", "foo{a=\"b\",c!=\"d\",e=~\"f\",g!~\"h\"}"},
	{"foo{z=\"1\",a=\"2\",}", "foo{a=\"2\",z=\"1\"}"},
	{"{__name__=~\"node_.*\"}", "{__name__=~\"node_.*\"}"},
	{"{__name__=\"a\"}", "{__name__=\"a\"}"},
	{"{\"metric.name\"}", "{__name__=\"metric.name\"}"},
	{"{\"metric.name\", job=\"x\"}", "{__name__=\"metric.name\",job=\"x\"}"},
	{"foo{\"label.name\"=\"v\"}", "foo{\"label.name\"=\"v\"}"},
	{"{a=\"b\"}", "{a=\"b\"}"}, {"foo{on=\"x\", by=\"y\"}", "foo{by=\"y\",on=\"x\"}"},
	{"sum", "sum"}, {"by", "by"}, {"offset", "offset"}, {"start", "start"}, {"and", "and"},
	{"foo # comment\n + 1", "foo + 1"},
	/* ranges, offsets, @, subqueries */
	{"foo[5m]", "foo[5m]"}, {"foo[1h30m]", "foo[1h30m]"}, {"foo[300]", "foo[5m]"},
	{"foo[1.5]", "foo[1s500ms]"}, {"foo[5m] offset 1m", "foo[5m] offset 1m"},
	{"foo offset -7m", "foo offset -7m"}, {"foo offset 5", "foo offset 5s"},
	{"a{c=\"d\"}[5m] offset 1m", "a{c=\"d\"}[5m] offset 1m"},
	{"foo @ 10", "foo @ 10.000"}, {"foo @ -10.5", "foo @ -10.500"}, {"foo @ 1e3", "foo @ 1000.000"},
	{"foo @ start()", "foo @ start()"}, {"foo @ end()", "foo @ end()"},
	{"foo[1m] @ start()", "foo[1m] @ start()"},
	{"foo offset 10m @ 1", "foo @ 1.000 offset 10m"},
	{"foo @ 1 offset 10m", "foo @ 1.000 offset 10m"},
	{"foo[5m:1m]", "foo[5m:1m]"}, {"foo[5m:]", "foo[5m:]"},
	{"foo[5m:1m] @ 10 offset 1h", "foo[5m:1m] @ 10.000 offset 1h"},
	{"rate(foo[5m])[30m:1m]", "rate(foo[5m])[30m:1m]"},
	{"(foo + bar)[5m:]", "(foo + bar)[5m:]"},
	{"sum(rate(x[1m]))[10m:30s] offset -5m", "sum(rate(x[1m]))[10m:30s] offset -5m"},
	{"max_over_time(rate(x[1m])[5m:1m])", "max_over_time(rate(x[1m])[5m:1m])"},
	/* experimental syntax */
	{"foo[1h/2]", "foo[1h / 2]"}, {"foo[2m*(10+5)]", "foo[2m * (10 + 5)]"},
	{"foo[step()]", "foo[step()]"}, {"foo[5m:step()*2]", "foo[5m:step() * 2]"},
	{"foo offset (2*2)", "foo offset (2 * 2)"}, {"foo offset -(1m)", "foo offset -(1m)"},
	{"foo[min_of(step()+1,1h)]", "foo[min_of(step() + 1, 1h)]"},
	{"foo offset step() * 0", "foo offset step() * 0"},
	{"foo[1m] anchored", "foo[1m] anchored"}, {"foo smoothed", "foo smoothed"},
	{"foo offset -100 smoothed", "foo smoothed offset -1m40s"},
	{"a + fill(0) b", "a + fill (0) b"},
	{"a + fill_left(5) fill_right(7) b", "a + fill_left (5) fill_right (7) b"},
	/* operators */
	{"1 + 2 * 3", "1 + 2 * 3"}, {"(1 + 2) * 3", "(1 + 2) * 3"}, {"-foo", "-foo"},
	{"+foo", "+foo"}, {"- (1)", "-(1)"}, {"-2^2", "-2 ^ 2"}, {"2^-1", "2 ^ -1"},
	{"a atan2 b", "a atan2 b"}, {"a ATAN2 b", "a atan2 b"},
	{"up > bool 0", "up > bool 0"}, {"1 < bool 2", "1 < bool 2"}, {"a == b", "a == b"},
	{"a and b", "a and b"}, {"a AND b", "a and b"}, {"a or b unless c", "a or b unless c"},
	{"a - on() c", "a - on () c"}, {"a - on(b) c", "a - on (b) c"},
	{"a - on(b) group_left(x) c", "a - on (b) group_left (x) c"},
	{"a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c"},
	{"a - on(b) group_left c", "a - on (b) group_left () c"},
	{"a - on(b) group_left() (c)", "a - on (b) group_left () (c)"},
	{"a - ignoring(b) c", "a - ignoring (b) c"}, {"a - ignoring() c", "a - c"},
	{"a / ignoring(b) group_right(c) d", "a / ignoring (b) group_right (c) d"},
	{"a > bool on(x) b", "a > bool on (x) b"}, {"a and on(x) b", "a and on (x) b"},
	{"a * on(\"x.y\") b", "a * on (\"x.y\") b"}, {"1 + foo", "1 + foo"},
	/* aggregations */
	{"sum(foo)", "sum(foo)"}, {"SUM(foo) BY (job)", "sum by (job) (foo)"},
	{"sum by() (foo)", "sum(foo)"}, {"sum by(code) (foo)", "sum by (code) (foo)"},
	{"sum without() (foo)", "sum without () (foo)"},
	{"sum without(instance) (foo)", "sum without (instance) (foo)"},
	{"sum(foo) without (a, b,)", "sum without (a, b) (foo)"},
	{"sum by (on, by, sum, offset) (foo)", "sum by (on, by, sum, offset) (foo)"},
	{"sum by (\"foo.bar\") (x)", "sum by (\"foo.bar\") (x)"},
	{"topk(5, foo)", "topk(5, foo)"}, {"bottomk by (a) (2, foo)", "bottomk by (a) (2, foo)"},
	{"quantile(0.9, foo)", "quantile(0.9, foo)"},
	{"count_values(\"value\", foo)", "count_values(\"value\", foo)"},
	{"limitk(2, foo)", "limitk(2, foo)"}, {"limit_ratio(0.5, foo)", "limit_ratio(0.5, foo)"},
	{"avg(x) + min(x) - max(x) * group(x) / stddev(x) % stdvar(x) - count(x)",
	 "avg(x) + min(x) - max(x) * group(x) / stddev(x) % stdvar(x) - count(x)"},
	{"sum by (job) (rate(http_requests_total[5m]))", "sum by (job) (rate(http_requests_total[5m]))"},
	/* calls */
	{"time()", "time()"}, {"pi()", "pi()"}, {"rate(foo[5m])", "rate(foo[5m])"},
	{"round(foo)", "round(foo)"}, {"round(foo, 5)", "round(foo, 5)"}, {"hour()", "hour()"},
	{"clamp(foo, 0, 1)", "clamp(foo, 0, 1)"}, {"vector(1)", "vector(1)"}, {"scalar(foo)", "scalar(foo)"},
	{"label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")", "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")"},
	{"label_join(up, \"a\", \",\", \"b\", \"c\", \"d\")", "label_join(up, \"a\", \",\", \"b\", \"c\", \"d\")"},
	{"histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))", "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))"},
	{"quantile_over_time(0.5, x[5m])", "quantile_over_time(0.5, x[5m])"},
	{"holt_winters(x[5m], 0.5, 0.5)", "holt_winters(x[5m], 0.5, 0.5)"},
	{"predict_linear(x[5m], 3600)", "predict_linear(x[5m], 3600)"},
	{"absent_over_time(nonexistent{job=\"a\"}[1h])", "absent_over_time(nonexistent{job=\"a\"}[1h])"},
	{"sort_by_label(x, \"a\", \"b\")", "sort_by_label(x, \"a\", \"b\")"},
	{"rate (foo[5m])", "rate(foo[5m])"},
};

static void test_round_trips_match_prometheus_printing(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(round_trips) / sizeof(round_trips[0]); i++)
		round_trip(round_trips[i].in, round_trips[i].out);
}

/* Dumps a tree as an s-expression: (op lhs rhs), (neg x), else the
 * printed leaf. */
static void sexp(const struct promql_node *n, char *out, size_t cap)
{
	size_t l = strlen(out);
	if (n->kind == PROMQL_BINARY) {
		snprintf(out + l, cap - l, "(%s ", promql_op_name(n->bin.op));
		sexp(n->bin.lhs, out, cap);
		l = strlen(out);
		snprintf(out + l, cap - l, " ");
		sexp(n->bin.rhs, out, cap);
		l = strlen(out);
		snprintf(out + l, cap - l, ")");
	} else if (n->kind == PROMQL_UNARY) {
		snprintf(out + l, cap - l, "(%s ", n->un.op == PROMQL_OP_SUB ? "neg" : "pos");
		sexp(n->un.expr, out, cap);
		l = strlen(out);
		snprintf(out + l, cap - l, ")");
	} else if (n->kind == PROMQL_PAREN) {
		sexp(n->paren.expr, out, cap);
	} else {
		char *s = NULL;
		assert_int_equal(promql_format(n, &s), 0);
		snprintf(out + l, cap - l, "%s", s);
		free(s);
	}
}

static const struct { const char *in, *tree; } trees[] = {
	{"a + b * c", "(+ a (* b c))"},
	{"a * b + c", "(+ (* a b) c)"},
	{"a - b - c", "(- (- a b) c)"},
	{"a / b * c % d", "(% (* (/ a b) c) d)"},
	{"2 ^ 3 ^ 2", "(^ 2 (^ 3 2))"},
	{"a ^ b * c", "(* (^ a b) c)"},
	{"-a ^ b", "(neg (^ a b))"},
	{"-a * b", "(* (neg a) b)"},
	{"a * -b ^ c", "(* a (neg (^ b c)))"},
	{"-1 ^ 2", "(neg (^ 1 2))"},
	{"a atan2 b * c", "(* (atan2 a b) c)"},
	{"a or b and c", "(or a (and b c))"},
	{"a and b unless c", "(unless (and a b) c)"},
	{"a or b or c", "(or (or a b) c)"},
	{"a == b + c", "(== a (+ b c))"},
	{"a < b or c > d", "(or (< a b) (> c d))"},
	{"a + b == c * d and e", "(and (== (+ a b) (* c d)) e)"},
	{"a + b offset 5m", "(+ a b offset 5m)"},
	{"a + rate(b[5m:])", "(+ a rate(b[5m:]))"},
	{"(a + b) * c", "(* (+ a b) c)"},
	{"-(a + b)", "(neg (+ a b))"},
	{"1 - -1", "(- 1 -1)"},
	{"foo offset 100 + 2", "(+ foo offset 1m40s 2)"},
	{"foo offset 2 ^ 2", "(^ foo offset 2s 2)"},
	{"foo offset -2 ^ 2", "(^ foo offset -2s 2)"},
	{"sum(a) by (x) / on(x) group_left sum(b) by (x)", "(/ sum by (x) (a) sum by (x) (b))"},
};

static void test_precedence_and_associativity(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
		char out[512] = "";
		struct promql_node *n = parse_ok(trees[i].in);
		sexp(n, out, sizeof(out));
		if (strcmp(out, trees[i].tree) != 0)
			fail_msg("tree(%s) = %s, want %s", trees[i].in, out, trees[i].tree);
		promql_free(n);
	}
}

/* Malformed queries: the message must start with "line:col: parse error: "
 * and contain the given text. */
static const struct { const char *in; const char *pos; const char *msg; } errors[] = {
	{"", "1:1", "no expression found in input"},
	{"   # only a comment", "1:1", "no expression found in input"},
	{"foo bar", "1:5", "unexpected identifier \"bar\""},
	{"sum(", "1:5", "unclosed left parenthesis"},
	{"sum(foo", "1:8", "unclosed left parenthesis"},
	{"(foo", "1:5", "unclosed left parenthesis"},
	{"foo)", "1:4", "unexpected right parenthesis ')'"},
	{"(1))", "1:4", "unexpected right parenthesis ')'"},
	{"1 +", "1:4", "unexpected end of input"},
	{"* 1", "1:1", "unexpected <op:*>"},
	{"@@", "1:1", "unexpected <op:@>"},
	{"a - on(b) ignoring(c) d", "1:11", "unexpected <ignoring>"},
	{"foo + group_left(baz) bar", "1:7", "unexpected <group_left>"},
	{"foo{", "1:5", "unexpected end of input inside braces"},
	{"foo{a=\"b\"", "1:10", "unexpected end of input inside braces"},
	{"foo{a}", "1:6", "expected label matching operator"},
	{"foo{a=}", "1:7", "expected string"},
	{"foo{a=b}", "1:7", "expected string"},
	{"foo{a=\"b\" c=\"d\"}", "1:11", "expected \",\" or \"}\""},
	{"foo{1=\"b\"}", "1:5", "expected identifier or \"}\""},
	{"{}", "1:1", "vector selector must contain at least one non-empty matcher"},
	{"{a=\"\"}", "1:1", "vector selector must contain at least one non-empty matcher"},
	{"{a=~\".*\"}", "1:1", "vector selector must contain at least one non-empty matcher"},
	{"{a!~\".+\"}", "1:1", "vector selector must contain at least one non-empty matcher"},
	{"foo{__name__=\"bar\"}", "1:1", "metric name must not be set twice: \"foo\" or \"bar\""},
	{"foo{a=~\"(\"}", "1:8", "invalid regular expression"},
	{"\"unterminated", "1:1", "unterminated quoted string"},
	{"\"a\nb\"", "1:1", "unterminated quoted string"},
	{"\"\\q\"", "1:2", "unknown escape sequence"},
	{"'\\\"'", "1:2", "unknown escape sequence"},
	{"1.5h", "1:1", "bad number or duration syntax"},
	{"5mm", "1:1", "bad number or duration syntax"},
	{"1m5h", "1:1", "bad number or duration syntax"},
	{"12abc", "1:1", "bad number or duration syntax"},
	{"foo $ bar", "1:5", "unexpected character: '$'"},
	{"foo ! bar", "1:5", "unexpected character after '!'"},
	{"foo[5m", "1:7", "unclosed left bracket"},
	{"foo[]", "1:5", "unexpected \"]\""},
	{"foo[5m:1m", "1:10", "unclosed left bracket"},
	{"foo]", "1:4", "unexpected right bracket ']'"},
	{"foo[5m] [5m:]", "1:1", "subquery is only allowed on instant vector, got range vector instead"},
	{"foo[5m] [5m]", "1:9", "ranges only allowed for vector selectors"},
	{"(foo)[5m]", "1:6", "ranges only allowed for vector selectors"},
	{"foo offset 5m[1m]", "1:14", "no offset modifiers allowed before range"},
	{"foo @ 10 [1m]", "1:10", "no @ modifiers allowed before range"},
	{"foo offset 5m offset 1m", "1:1", "offset may not be set multiple times"},
	{"foo @ 1 @ 2", "1:1", "@ modifier may not be set multiple times"},
	{"sum(foo) offset 5m", "1:1", "offset modifier must be preceded by an instant vector selector"},
	{"1 @ 5", "1:1", "@ modifier must be preceded by an instant vector selector"},
	{"foo offset", "1:11", "unexpected end of input in offset"},
	{"foo @", "1:6", "unexpected end of input in @, expected timestamp"},
	{"foo @ Inf", "1:7", "timestamp out of bounds for @ modifier"},
	{"foo @ start", "1:12", "expected \"(\""},
	{"1 < 2", "1:3", "comparisons between scalars must use BOOL modifier"},
	{"a + bool b", "1:3", "bool modifier can only be used on comparison operators"},
	{"1 and 2", "1:1", "set operator \"and\" not allowed in binary scalar expression"},
	{"foo and 1", "1:1", "set operator \"and\" not allowed in binary scalar expression"},
	{"a and on(x) group_left b", "1:1", "no grouping allowed for \"and\" operation"},
	{"1 + on(x) 2", "1:1", "vector matching only allowed between instant vectors"},
	{"a + on(x) group_left(x) b", "1:3", "label \"x\" must not occur in ON and GROUP clause at once"},
	{"foo[5m] + 1", "1:1", "binary expression must contain only scalar and instant vector types"},
	{"1 + foo[5m]", "1:5", "binary expression must contain only scalar and instant vector types"},
	{"\"a\" + 1", "1:1", "binary expression must contain only scalar and instant vector types"},
	{"-foo[5m]", "1:1", "unary expression only allowed on expressions of type scalar or instant vector"},
	{"-\"a\"", "1:1", "unary expression only allowed"},
	{"rate(foo)", "1:6", "expected type range vector in call to function \"rate\", got instant vector"},
	{"abs(foo[5m])", "1:5", "expected type instant vector in call to function \"abs\", got range vector"},
	{"clamp(foo, \"a\", 1)", "1:12", "expected type scalar in call to function \"clamp\", got string"},
	{"rate()", "1:1", "expected 1 argument(s) in call to \"rate\", got 0"},
	{"rate(a[1m], b[1m])", "1:1", "expected 1 argument(s) in call to \"rate\", got 2"},
	{"round(a, 1, 2)", "1:1", "expected at most 2 argument(s) in call to \"round\", got 3"},
	{"label_join(a, \"b\")", "1:1", "expected at least 3 argument(s) in call to \"label_join\", got 2"},
	{"rate(foo[5m],)", "1:14", "trailing commas not allowed in function call args"},
	{"nonexistent(foo)", "1:1", "unknown function with name \"nonexistent\""},
	{"sum(foo[5m])", "1:5", "expected type instant vector in aggregation expression, got range vector"},
	{"topk(foo, bar)", "1:6", "expected type scalar in aggregation parameter, got instant vector"},
	{"count_values(5, foo)", "1:14", "expected type string in aggregation parameter, got scalar"},
	{"topk(foo)", "1:1", "wrong number of arguments for aggregate expression provided, expected 2, got 1"},
	{"sum(a, b)", "1:1", "wrong number of arguments for aggregate expression provided, expected 1, got 2"},
	{"sum()", "1:1", "no arguments for aggregate expression provided"},
	{"sum by (a) by (b) (foo)", "1:12", "expected \"(\""},
	{"sum by a (foo)", "1:8", "in grouping opts, expected \"(\""},
	{"sum by (a:b) (foo)", "1:9", "in grouping opts, expected label"},
	{"sum by (a b) (foo)", "1:11", "expected \",\" or \")\""},
	{"sum without (1) (foo)", "1:14", "expected label"},
	{"on", "1:1", "unexpected <on>"},
	{"1e999", "1:1", "error parsing number: value out of range"},
	{"0deadbeef", "1:1", "bad number or duration syntax"},
	{"a + on b", "1:8", "in grouping opts, expected \"(\""},
	{"foo[5m:1m:]", "1:10", "expected \"]\""},
	{"foo[-5m]", "1:5", "range must not be negative"},
	{"foo[1h/0]", "1:5", "range out of range"},
	{"foo[step(]", "1:10", "expected \")\""},
	{"a + fill(x) b", "1:10", "in fill modifier, expected number"},
	{"foo[1m] anchored smoothed", "1:18", "anchored and smoothed modifiers cannot be used together"},
	{"foo\n  + bar baz", "2:9", "unexpected identifier \"baz\""},
};

static void test_malformed_queries_give_position_and_expectation(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		struct promql_node *n = (struct promql_node *)1;
		struct promql_error e;
		char want[64];
		int rc = promql_parse(errors[i].in, strlen(errors[i].in), &n, &e);
		snprintf(want, sizeof(want), "%s: parse error: ", errors[i].pos);
		if (rc != -EINVAL || n != NULL || strncmp(e.msg, want, strlen(want)) != 0 ||
		    !strstr(e.msg, errors[i].msg))
			fail_msg("parse(%s): rc %d \"%s\", want \"%s...%s\"", errors[i].in, rc, e.msg, want,
				 errors[i].msg);
	}
	assert_true(sizeof(errors) / sizeof(errors[0]) >= 50);
}

static void test_ast_fields_for_the_evaluator(void **state)
{
	(void)state;
	struct promql_node *n = parse_ok("sum by (job) (rate(http{code=~\"5..\"}[5m] offset -1m @ end())) "
					 "/ ignoring(code) group_left(team) count(x) > bool 0.5");
	assert_int_equal(n->kind, PROMQL_BINARY);
	assert_int_equal(n->bin.op, PROMQL_OP_GTR);
	assert_true(n->bin.return_bool);
	assert_int_equal(n->type, PROMQL_TYPE_VECTOR);
	assert_false(n->bin.vm.valid); /* vector > scalar: no matching */
	struct promql_node *div = n->bin.lhs;
	assert_int_equal(div->bin.op, PROMQL_OP_DIV);
	assert_true(div->bin.vm.valid);
	assert_int_equal(div->bin.vm.card, PROMQL_CARD_MANY_TO_ONE);
	assert_false(div->bin.vm.on);
	assert_int_equal(div->bin.vm.matching.n, 1);
	assert_string_equal(div->bin.vm.matching.names[0], "code");
	assert_string_equal(div->bin.vm.include.names[0], "team");
	struct promql_node *agg = div->bin.lhs;
	assert_int_equal(agg->kind, PROMQL_AGGREGATE);
	assert_int_equal(agg->agg.op, PROMQL_AGG_SUM);
	assert_false(agg->agg.without);
	assert_string_equal(agg->agg.grouping.names[0], "job");
	struct promql_node *call = agg->agg.expr;
	assert_int_equal(call->kind, PROMQL_CALL);
	assert_string_equal(call->call.fn->name, "rate");
	assert_int_equal(call->call.nargs, 1);
	struct promql_node *ms = call->call.args[0];
	assert_int_equal(ms->kind, PROMQL_MATRIX_SEL);
	assert_int_equal(ms->type, PROMQL_TYPE_MATRIX);
	assert_int_equal(ms->ms.range_ms, 300000);
	struct promql_node *vs = ms->ms.vs;
	assert_int_equal(vs->vs.mod.offset_ms, -60000);
	assert_int_equal(vs->vs.mod.at, PROMQL_AT_END);
	assert_string_equal(vs->vs.name, "http");
	assert_int_equal(vs->vs.nm, 2);
	assert_int_equal(vs->vs.m[0].op, REC_M_RE);
	assert_true(matcher_match_value(&vs->vs.m[0], "503", 3));
	assert_false(matcher_match_value(&vs->vs.m[0], "1503", 4)); /* anchored */
	assert_string_equal(vs->vs.m[1].name, "__name__");
	assert_int_equal(div->bin.rhs->agg.op, PROMQL_AGG_COUNT);
	promql_free(n);

	n = parse_ok("foo[5m:30s] @ 1700000000.123 offset 1h");
	assert_int_equal(n->kind, PROMQL_SUBQUERY);
	assert_int_equal(n->sq.range_ms, 300000);
	assert_int_equal(n->sq.step_ms, 30000);
	assert_int_equal(n->sq.mod.at, PROMQL_AT_TIMESTAMP);
	assert_int_equal(n->sq.mod.at_ms, 1700000000123LL);
	assert_int_equal(n->sq.mod.offset_ms, 3600000);
	promql_free(n);

	n = parse_ok("topk(3, foo)");
	assert_int_equal(n->agg.param->kind, PROMQL_NUMBER);
	assert_true(n->agg.param->num.val == 3);
	promql_free(n);

	n = parse_ok("foo[step() * 2]");
	assert_non_null(n->ms.range_expr);
	assert_false(promql_duration_is_const(n->ms.range_expr));
	double sec;
	assert_int_equal(promql_duration_eval(n->ms.range_expr, 15000, 0, &sec), 0);
	assert_true(sec == 30);
	promql_free(n);

	n = parse_ok("foo[1h / 2]");
	assert_int_equal(n->ms.range_ms, 1800000);
	promql_free(n);

	n = parse_ok("a + fill_right(-1) b");
	assert_true(n->bin.vm.has_fill_rhs && !n->bin.vm.has_fill_lhs);
	assert_true(n->bin.vm.fill_rhs == -1);
	promql_free(n);

	n = parse_ok("time() + 1");
	assert_int_equal(n->type, PROMQL_TYPE_SCALAR);
	promql_free(n);
	n = parse_ok("\"s\"");
	assert_int_equal(n->type, PROMQL_TYPE_STRING);
	assert_string_equal(n->str.val, "s");
	promql_free(n);
}

static int count_nodes(struct promql_node *n, int depth, void *arg)
{
	(void)n;
	(void)depth;
	(*(int *)arg)++;
	return 0;
}

static void test_walk_visits_every_node_in_source_order(void **state)
{
	(void)state;
	int count = 0;
	struct promql_node *n = parse_ok("topk(2, rate(a[1m]) + -b) or label_join(c, \"d\", \",\", \"e\")");
	assert_int_equal(promql_walk(n, count_nodes, &count), 0);
	/* or, topk, 2, +, rate, matrix, vs, unary, b, label_join, c, "d", ",", "e" */
	assert_int_equal(count, 14);
	promql_free(n);
}

static void test_function_table_is_sorted_and_complete(void **state)
{
	(void)state;
	size_t n;
	const struct promql_func *t = promql_func_table(&n);
	for (size_t i = 1; i < n; i++)
		if (strcmp(t[i - 1].name, t[i].name) >= 0)
			fail_msg("table not sorted at %s", t[i].name);
	static const char *needed[] = {
		"abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
		"avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
		"count_over_time", "days_in_month", "day_of_month", "day_of_week", "day_of_year", "deg",
		"delta", "deriv", "exp", "floor", "histogram_quantile", "holt_winters",
		"double_exponential_smoothing", "hour", "idelta", "increase", "irate", "label_join",
		"label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
		"max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
		"present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar",
		"sgn", "sin", "sinh", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt",
		"stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
		"timestamp", "vector", "year",
	};
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		if (!promql_func_lookup(needed[i], strlen(needed[i])))
			fail_msg("missing function %s", needed[i]);
	assert_null(promql_func_lookup("rat", 3));
	assert_null(promql_func_lookup("Rate", 4));
}

static void test_printer_number_and_duration_formats(void **state)
{
	(void)state;
	static const struct { double v; const char *s; } nums[] = {
		{0, "0"}, {-0.0, "-0"}, {1, "1"}, {-2.5, "-2.5"}, {1e21, "1000000000000000000000"},
		{1e-7, "0.0000001"}, {0.1 + 0.2, "0.30000000000000004"}, {123456789.125, "123456789.125"},
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		struct promql_buf b = {0};
		promql_print_float(&b, nums[i].v);
		assert_string_equal(b.data, nums[i].s);
		promql_buf_free(&b);
	}
	static const struct { int64_t ms; const char *s; } durs[] = {
		{0, "0s"}, {1, "1ms"}, {1500, "1s500ms"}, {5400000, "1h30m"}, {86400000, "1d"},
		{8 * 86400000LL, "8d"}, {14 * 86400000LL, "2w"}, {365 * 86400000LL, "1y"},
		{366 * 86400000LL, "366d"}, {-300000, "-5m"},
	};
	for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		struct promql_buf b = {0};
		promql_print_duration(&b, durs[i].ms);
		assert_string_equal(b.data, durs[i].s);
		promql_buf_free(&b);
	}
	int64_t ms;
	assert_int_equal(promql_lex_duration("1y2w3d4h5m6s7ms", 15, &ms), 0);
	assert_int_equal(ms, 365 * 86400000LL + 14 * 86400000LL + 3 * 86400000LL + 4 * 3600000 + 5 * 60000 + 6007);
	assert_int_equal(promql_lex_duration("5m1h", 4, &ms), -EINVAL);
	assert_int_equal(promql_lex_duration("99999999999999999999y", 21, &ms), -EINVAL);
}

static void test_deep_nesting_fails_cleanly(void **state)
{
	(void)state;
	size_t depth = 5000;
	char *q = malloc(depth * 2 + 2);
	assert_non_null(q);
	memset(q, '(', depth);
	q[depth] = '1';
	memset(q + depth + 1, ')', depth);
	q[2 * depth + 1] = '\0';
	struct promql_node *n;
	struct promql_error e;
	assert_int_equal(promql_parse(q, strlen(q), &n, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "nested too deeply"));
	free(q);
}

static void test_input_need_not_be_nul_terminated(void **state)
{
	(void)state;
	const char q[] = "rate(foo[5m])XXXX";
	struct promql_node *n;
	struct promql_error e;
	assert_int_equal(promql_parse(q, 13, &n, &e), 0);
	char *s;
	assert_int_equal(promql_format(n, &s), 0);
	assert_string_equal(s, "rate(foo[5m])");
	free(s);
	promql_free(n);
	promql_free(NULL);
}

/* Fails allocation 1, 2, 3 ... of a parse + print of a query that uses
 * every kind of node, until one run succeeds: each earlier run must end in
 * -ENOMEM (or -EINVAL when PCRE2 reports its own allocation failure as a
 * regex error) with nothing left allocated. */
static void test_allocation_failures_end_cleanly_without_leaks(void **state)
{
	(void)state;
#if TEST_ALLOC_HOOKS
	const char *q = "sum by (job) (rate(http{code=~\"5..\", a!=\"b\"}[5m] offset 1m)) "
			"/ on(job) group_left(team) topk(3, max_over_time(x[5m:1m] @ start())) "
			"or label_join(-y, \"a\", \",\", \"b\") > bool 2 "
			"or rate(z[step() * 2]) + fill(0) count_values(\"v\", w)";
	long n;
	char *want = NULL;
	struct promql_node *ref = parse_ok(q);
	assert_int_equal(promql_format(ref, &want), 0);
	promql_free(ref);
	for (n = 1; n < 100000; n++) {
		struct promql_node *tree = NULL;
		struct promql_error e;
		char *out = NULL;
		test_allocs = 0;
		test_live = 0;
		test_fail_at = n;
		int rc = promql_parse(q, strlen(q), &tree, &e);
		int prc = rc == 0 ? promql_format(tree, &out) : 0;
		long fired = test_allocs >= n;
		/* An optional allocation (PCRE2's JIT) may fail without harm. */
		int same = out && strcmp(out, want) == 0;
		free(out);
		promql_free(tree);
		long live = test_live;
		test_fail_at = -1;
		if (live != 0)
			fail_msg("allocation %ld failed: %ld allocations leaked (rc %d)", n, live, rc);
		if (!fired) {
			assert_int_equal(rc, 0);
			assert_int_equal(prc, 0);
			break;
		}
		if (rc == 0 && prc == 0)
			assert_true(same);
		else if (rc == 0)
			assert_int_equal(prc, -ENOMEM);
		else if (rc != -ENOMEM && rc != -EINVAL)
			fail_msg("allocation %ld failed: rc %d", n, rc);
		else
			assert_null(tree);
	}
	free(want);
	assert_true(n > 20);
	print_message("allocation failure injected at each of %ld allocations\n", n - 1);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips_match_prometheus_printing),
		cmocka_unit_test(test_precedence_and_associativity),
		cmocka_unit_test(test_malformed_queries_give_position_and_expectation),
		cmocka_unit_test(test_ast_fields_for_the_evaluator),
		cmocka_unit_test(test_walk_visits_every_node_in_source_order),
		cmocka_unit_test(test_function_table_is_sorted_and_complete),
		cmocka_unit_test(test_printer_number_and_duration_formats),
		cmocka_unit_test(test_deep_nesting_fails_cleanly),
		cmocka_unit_test(test_input_need_not_be_nul_terminated),
		cmocka_unit_test(test_allocation_failures_end_cleanly_without_leaks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
