/* test_rules: unit tests of common/rules (expression parsing, comparison,
 * ownership and routing).
 *
 * Configurations come from JSON text through config_load_string, exactly as
 * a stage loads them; series keys are built with series_key_build.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/rules.h"
#include "common/series.h"

static int t_key(uint8_t *out, const char *name, const char *l1, const char *v1)
{
	struct series_label l[1] = {{l1, l1 ? strlen(l1) : 0, v1, v1 ? strlen(v1) : 0}};
	int n = series_key_build(out, SERIES_KEY_MAX, name, strlen(name), l, l1 ? 1 : 0);
	assert_true(n > 0);
	return n;
}

static void parses_every_operator(void **state)
{
	static const struct {
		const char *expr;
		int op;
		double thr;
	} cases[] = {
		{"up > 1", RULES_OP_GT, 1},       {"up<2", RULES_OP_LT, 2},
		{"up >= -3.5", RULES_OP_GE, -3.5}, {"up <= 1e3", RULES_OP_LE, 1000},
		{"up == 0", RULES_OP_EQ, 0},      {"up != 0x10", RULES_OP_NE, 16},
		{"  up{job=\"a\"}  >  +Inf  ", RULES_OP_GT, INFINITY},
	};
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rules_expr e;
		int rc = rules_parse_expr(cases[i].expr, &e, err, sizeof(err));
		if (rc != 0)
			fail_msg("\"%s\": %s", cases[i].expr, err);
		assert_int_equal(e.op, cases[i].op);
		assert_true(e.threshold == cases[i].thr);
		assert_true(e.sel.n >= 1);
		assert_string_equal(e.sel.m[0].name, "__name__");
		assert_string_equal(e.sel.m[0].value, "up");
		rules_expr_free(&e);
	}
}

static void parses_label_matchers_of_the_selector(void **state)
{
	struct rules_expr e;
	char err[256];
	uint8_t k1[256], k2[256];
	(void)state;
	assert_int_equal(rules_parse_expr("node_load1{job=~\"no.*\",instance!=\"x\"} > 64", &e, err,
					  sizeof(err)), 0);
	assert_int_equal(e.sel.n, 3);
	int n1 = t_key(k1, "node_load1", "job", "node");
	int n2 = t_key(k2, "node_load1", "job", "other");
	struct rules_rule r = {.expr = e};
	assert_int_equal(rules_match(&r, k1, (size_t)n1), 1);
	assert_int_equal(rules_match(&r, k2, (size_t)n2), 0);
	rules_expr_free(&e);
}

static void refuses_invalid_expressions_with_a_position(void **state)
{
	static const char *const bad[] = {
		"", "up", "up >", "up > x", "up > 1 2", "> 1", "up[5m] > 1", "up offset 5m > 1",
		"rate(up[5m]) > 1", "up = 1", "up > > 1", "up{job=\"a\" > 1", "up and on() vector(1)",
	};
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rules_expr e;
		err[0] = '\0';
		int rc = rules_parse_expr(bad[i], &e, err, sizeof(err));
		if (rc != -EINVAL)
			fail_msg("\"%s\" gave %d", bad[i], rc);
		assert_non_null(strstr(err, "position"));
		assert_int_equal(e.sel.n, 0); /* zeroed: nothing leaks */
		rules_expr_free(&e);
	}
	struct rules_expr e;
	assert_int_equal(rules_parse_expr(NULL, &e, err, sizeof(err)), -EINVAL);
}

static void compare_never_holds_for_nan(void **state)
{
	double stale;
	uint64_t bits = 0x7ff0000000000002ull;
	(void)state;
	memcpy(&stale, &bits, sizeof(stale));
	assert_true(isnan(stale));
	for (int op = RULES_OP_GT; op <= RULES_OP_NE; op++) {
		assert_int_equal(rules_compare(op, NAN, 1), 0);
		assert_int_equal(rules_compare(op, stale, 1), 0);
	}
	assert_int_equal(rules_compare(RULES_OP_GT, 2, 1), 1);
	assert_int_equal(rules_compare(RULES_OP_GT, 1, 1), 0);
	assert_int_equal(rules_compare(RULES_OP_GE, 1, 1), 1);
	assert_int_equal(rules_compare(RULES_OP_LT, 0, 1), 1);
	assert_int_equal(rules_compare(RULES_OP_LE, 1, 1), 1);
	assert_int_equal(rules_compare(RULES_OP_EQ, 1, 1), 1);
	assert_int_equal(rules_compare(RULES_OP_NE, 1, 1), 0);
	assert_int_equal(rules_compare(RULES_OP_NE, 2, 1), 1);
	assert_int_equal(rules_compare(99, 2, 1), 0);
	assert_string_equal(rules_op_name(RULES_OP_GE), ">=");
	assert_string_equal(rules_op_name(42), "?");
}

static const char t_cfg[] =
	"{\"rules\": ["
	"{\"alert\": \"A0\", \"expr\": \"m0 > 1\"},"
	"{\"alert\": \"A1\", \"expr\": \"m1 > 1\"},"
	"{\"alert\": \"Bad\", \"expr\": \"rate(m2[5m]) > 1\"},"
	"{\"alert\": \"A3\", \"expr\": \"{__name__=~\\\"m.*\\\", job=\\\"x\\\"} > 1\"},"
	"{\"alert\": \"A4\", \"expr\": \"m0 < 0\"}"
	"]}";

static void load_skips_invalid_rules_but_keeps_positions(void **state)
{
	struct config cfg;
	struct rules_set rs;
	char err[256];
	(void)state;
	assert_int_equal(config_load_string(&cfg, t_cfg, "test", err, sizeof(err)), 0);
	assert_int_equal(rules_load(&cfg, 3, &rs), 0);
	assert_int_equal(rs.n, 4);
	assert_int_equal(rs.skipped, 1);
	assert_int_equal(rs.nalerters, 3);
	static const uint32_t idx[] = {0, 1, 3, 4}, owner[] = {0, 1, 0, 1};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(rs.r[i].index, idx[i]);
		assert_int_equal(rs.r[i].alerter, owner[i]);
		assert_ptr_equal(rs.r[i].cfg, &cfg.rules[idx[i]]);
	}
	rules_set_free(&rs);
	rules_set_free(&rs); /* idempotent */
	assert_int_equal(rules_load(&cfg, 0, &rs), -EINVAL);
	assert_int_equal(rules_load(&cfg, RULES_MAX_ALERTERS + 1, &rs), -EINVAL);
	assert_int_equal(rs.n, 0);
	config_free(&cfg);
}

static void route_sets_a_bit_per_owning_alerter(void **state)
{
	struct config cfg;
	struct rules_set rs;
	char err[256];
	uint8_t k[256];
	uint64_t mask = 99;
	(void)state;
	assert_int_equal(config_load_string(&cfg, t_cfg, "test", err, sizeof(err)), 0);
	assert_int_equal(rules_load(&cfg, 3, &rs), 0);
	int n = t_key(k, "m0", "job", "y"); /* A0 (alerter 0), A4 (alerter 1) */
	assert_int_equal(rules_route(&rs, k, (size_t)n, &mask), 0);
	assert_int_equal(mask, 0x3);
	n = t_key(k, "m1", "job", "y"); /* A1 only */
	assert_int_equal(rules_route(&rs, k, (size_t)n, &mask), 0);
	assert_int_equal(mask, 0x2);
	n = t_key(k, "m9", "job", "x"); /* A3 (alerter 0) */
	assert_int_equal(rules_route(&rs, k, (size_t)n, &mask), 0);
	assert_int_equal(mask, 0x1);
	n = t_key(k, "other", NULL, NULL);
	assert_int_equal(rules_route(&rs, k, (size_t)n, &mask), 0);
	assert_int_equal(mask, 0);
	assert_int_equal(rules_route(NULL, k, (size_t)n, &mask), -EINVAL);
	rules_set_free(&rs);

	/* 64 alerters: the top bit is reachable. */
	assert_int_equal(rules_load(&cfg, 64, &rs), 0);
	n = t_key(k, "m0", NULL, NULL);
	assert_int_equal(rules_route(&rs, k, (size_t)n, &mask), 0);
	assert_int_equal(mask, (1ull << 0) | (1ull << 4));
	rules_set_free(&rs);
	config_free(&cfg);
}

static void load_with_no_rules_is_empty(void **state)
{
	struct config cfg;
	struct rules_set rs;
	char err[256];
	uint8_t k[64];
	uint64_t mask = 1;
	(void)state;
	assert_int_equal(config_load_string(&cfg, "{\"rules\": []}", "test", err, sizeof(err)), 0);
	assert_int_equal(rules_load(&cfg, 2, &rs), 0);
	assert_int_equal(rs.n, 0);
	int n = t_key(k, "m0", NULL, NULL);
	assert_int_equal(rules_route(&rs, k, (size_t)n, &mask), 0);
	assert_int_equal(mask, 0);
	rules_set_free(&rs);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_every_operator),
		cmocka_unit_test(parses_label_matchers_of_the_selector),
		cmocka_unit_test(refuses_invalid_expressions_with_a_position),
		cmocka_unit_test(compare_never_holds_for_nan),
		cmocka_unit_test(load_skips_invalid_rules_but_keeps_positions),
		cmocka_unit_test(route_sets_a_bit_per_owning_alerter),
		cmocka_unit_test(load_with_no_rules_is_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
