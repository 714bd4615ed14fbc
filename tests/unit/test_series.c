/* test_series: unit tests of common/series (canonical key, id, validation,
 * text form). Keys are built from label sets in scrambled orders and the
 * bytes are compared with hand-written canonical encodings. */
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

#include "common/series.h"

#define L(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

/* Appends one length-prefixed string to a hand-built key. */
static size_t put(uint8_t *k, size_t off, const char *s)
{
	size_t n = strlen(s);
	k[off] = (uint8_t)n;
	k[off + 1] = (uint8_t)(n >> 8);
	memcpy(k + off + 2, s, n);
	return off + 2 + n;
}

static size_t expect_key(uint8_t *k, const char *const *pairs, int n)
{
	size_t off = 0;
	for (int i = 0; i < 2 * n; i++)
		off = put(k, off, pairs[i]);
	return off;
}

static void test_key_puts_name_first_then_labels_sorted_by_name(void **state)
{
	(void)state;
	struct series_label l[] = {L("zone", "eu"), L("job", "api"), L("Instance", "h:1"), L("a", "1")};
	uint8_t key[256], want[256];
	int n = series_key_build(key, sizeof(key), "http_requests_total", 19, l, 4);
	static const char *const pairs[] = {"__name__", "http_requests_total", "Instance", "h:1",
					    "a", "1", "job", "api", "zone", "eu"};
	size_t wn = expect_key(want, pairs, 5);
	assert_int_equal(n, (int)wn);
	assert_memory_equal(key, want, wn);
	assert_int_equal(series_key_validate(key, (size_t)n), 0);
}

static void test_key_is_the_same_for_any_label_order(void **state)
{
	(void)state;
	struct series_label a[] = {L("b", "2"), L("a", "1"), L("c", "3"), L("ab", "x")};
	struct series_label b[] = {L("ab", "x"), L("c", "3"), L("a", "1"), L("b", "2")};
	uint8_t ka[128], kb[128];
	int na = series_key_build(ka, sizeof(ka), "m", 1, a, 4);
	int nb = series_key_build(kb, sizeof(kb), "m", 1, b, 4);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(ka, kb, (size_t)na);
	assert_true(series_id(ka, (size_t)na) == series_id(kb, (size_t)nb));
}

static void test_name_may_come_as_a_name_label(void **state)
{
	(void)state;
	struct series_label a[] = {L("job", "x"), L("__name__", "up")};
	struct series_label b[] = {L("job", "x")};
	uint8_t ka[128], kb[128];
	int na = series_key_build(ka, sizeof(ka), NULL, 0, a, 2);
	int nb = series_key_build(kb, sizeof(kb), "up", 2, b, 1);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(ka, kb, (size_t)na);
}

static void test_many_labels_sort_like_few_labels(void **state)
{
	(void)state;
	/* More than 16 labels take the qsort path. */
	char names[40][16];
	struct series_label l[40];
	for (int i = 0; i < 40; i++) {
		int j = (i * 17) % 40; /* scrambled */
		snprintf(names[i], sizeof(names[i]), "l%02d", j);
		l[i] = (struct series_label){names[i], 3, "v", 1};
	}
	uint8_t key[1024];
	int n = series_key_build(key, sizeof(key), "m", 1, l, 40);
	assert_true(n > 0);
	assert_int_equal(series_key_validate(key, (size_t)n), 0);
	struct series_key_iter it;
	struct series_label x;
	series_key_iter_init(&it, key, (size_t)n);
	assert_int_equal(series_key_next(&it, &x), 1); /* __name__ */
	for (int i = 0; i < 40; i++) {
		char want[16];
		snprintf(want, sizeof(want), "l%02d", i);
		assert_int_equal(series_key_next(&it, &x), 1);
		assert_int_equal(x.name_len, 3);
		assert_memory_equal(x.name, want, 3);
	}
	assert_int_equal(series_key_next(&it, &x), 0);
}

static void test_labels_with_empty_values_are_left_out(void **state)
{
	(void)state;
	struct series_label a[] = {L("job", "x"), L("empty", ""), L("z", "")};
	struct series_label b[] = {L("job", "x")};
	uint8_t ka[128], kb[128];
	int na = series_key_build(ka, sizeof(ka), "m", 1, a, 3);
	int nb = series_key_build(kb, sizeof(kb), "m", 1, b, 1);
	assert_int_equal(na, nb);
	assert_memory_equal(ka, kb, (size_t)na);
	size_t vl;
	assert_null(series_key_get(ka, (size_t)na, "empty", &vl));
	assert_int_equal(vl, 0);
}

static void test_duplicate_label_names_are_einval(void **state)
{
	(void)state;
	uint8_t key[128];
	struct series_label a[] = {L("job", "x"), L("a", "1"), L("job", "y")};
	assert_int_equal(series_key_build(key, sizeof(key), "m", 1, a, 3), -EINVAL);
	struct series_label b[] = {L("job", "x"), L("job", "")}; /* even when one is empty */
	assert_int_equal(series_key_build(key, sizeof(key), "m", 1, b, 2), -EINVAL);
	struct series_label c[] = {L("__name__", "up")};          /* name given twice */
	assert_int_equal(series_key_build(key, sizeof(key), "m", 1, c, 1), -EINVAL);
	struct series_label d[] = {L("__name__", "up"), L("__name__", "up")};
	assert_int_equal(series_key_build(key, sizeof(key), NULL, 0, d, 2), -EINVAL);
}

static void test_missing_name_empty_label_name_and_too_many_labels_are_einval(void **state)
{
	(void)state;
	uint8_t key[128];
	struct series_label a[] = {L("job", "x")};
	assert_int_equal(series_key_build(key, sizeof(key), NULL, 0, a, 1), -EINVAL);
	assert_int_equal(series_key_build(key, sizeof(key), "", 0, a, 1), -EINVAL);
	struct series_label b[] = {{"", 0, "v", 1}};
	assert_int_equal(series_key_build(key, sizeof(key), "m", 1, b, 1), -EINVAL);
	static struct series_label many[SERIES_MAX_LABELS + 1];
	assert_int_equal(series_key_build(key, sizeof(key), "m", 1, many, SERIES_MAX_LABELS + 1), -EINVAL);
}

static void test_oversized_values_and_small_buffers_are_e2big(void **state)
{
	(void)state;
	static char big[SERIES_LABEL_MAX + 2];
	memset(big, 'x', sizeof(big));
	static uint8_t key[SERIES_KEY_MAX + 64];
	struct series_label a[] = {{"v", 1, big, SERIES_LABEL_MAX + 1}};
	assert_int_equal(series_key_build(key, sizeof(key), "m", 1, a, 1), -E2BIG);
	assert_int_equal(series_key_build(key, sizeof(key), big, SERIES_LABEL_MAX + 1, NULL, 0), -E2BIG);
	struct series_label b[] = {L("job", "x")};
	/* __name__ m job x = 2+8 + 2+1 + 2+3 + 2+1 = 21 bytes */
	assert_int_equal(series_key_build(key, 20, "m", 1, b, 1), -E2BIG);
	assert_int_equal(series_key_build(key, 21, "m", 1, b, 1), 21);
	/* Two values at the label limit exceed the key limit. */
	struct series_label c[] = {{"a", 1, big, SERIES_LABEL_MAX}, {"b", 1, big, SERIES_LABEL_MAX}};
	assert_int_equal(series_key_build(key, sizeof(key), "m", 1, c, 2), -E2BIG);
}

static void test_ids_are_equal_for_equal_keys_and_differ_otherwise(void **state)
{
	(void)state;
	struct series_label a[] = {L("job", "x")};
	struct series_label b[] = {L("job", "y")};
	struct series_label c[] = {L("job", "x")};
	uint8_t ka[64], kb[64], kc[64];
	int na = series_key_build(ka, sizeof(ka), "m", 1, a, 1);
	int nb = series_key_build(kb, sizeof(kb), "m", 1, b, 1);
	int nc = series_key_build(kc, sizeof(kc), "m", 1, c, 1);
	assert_true(series_id(ka, (size_t)na) == series_id(kc, (size_t)nc));
	assert_true(series_id(ka, (size_t)na) != series_id(kb, (size_t)nb));
	/* Length prefixes keep "a"+"bc" and "ab"+"c" apart. */
	struct series_label d[] = {L("a", "bc")};
	struct series_label e[] = {L("ab", "c")};
	uint8_t kd[64], ke[64];
	int nd = series_key_build(kd, sizeof(kd), "m", 1, d, 1);
	int ne = series_key_build(ke, sizeof(ke), "m", 1, e, 1);
	assert_int_equal(nd, ne);
	assert_memory_not_equal(kd, ke, (size_t)nd);
	assert_true(series_id(kd, (size_t)nd) != series_id(ke, (size_t)ne));
}

static void test_validate_rejects_malformed_keys(void **state)
{
	(void)state;
	uint8_t k[128];
	size_t n;
	static const char *const ok[] = {"__name__", "m", "a", "1", "b", "2"};
	n = expect_key(k, ok, 3);
	assert_int_equal(series_key_validate(k, n), 0);
	/* Every truncation is refused. */
	/* Every truncation is refused, except at a label boundary (13: the
	 * name alone, 19: name and a="1"), which is a shorter valid key. */
	for (size_t cut = 1; cut < n; cut++)
		assert_int_equal(series_key_validate(k, cut), cut == 13 || cut == 19 ? 0 : -EPROTO);
	assert_int_equal(series_key_validate(k, 0), -EPROTO);
	/* A length prefix that runs past the end. */
	uint8_t bad[128];
	memcpy(bad, k, n);
	bad[0] = 200;
	assert_int_equal(series_key_validate(bad, n), -EPROTO);

	static const char *const no_name[] = {"a", "1", "b", "2"};
	n = expect_key(k, no_name, 2);
	assert_int_equal(series_key_validate(k, n), -EPROTO);
	static const char *const unsorted[] = {"__name__", "m", "b", "2", "a", "1"};
	n = expect_key(k, unsorted, 3);
	assert_int_equal(series_key_validate(k, n), -EPROTO);
	static const char *const dup[] = {"__name__", "m", "a", "1", "a", "2"};
	n = expect_key(k, dup, 3);
	assert_int_equal(series_key_validate(k, n), -EPROTO);
	static const char *const empty_value[] = {"__name__", "m", "a", ""};
	n = expect_key(k, empty_value, 2);
	assert_int_equal(series_key_validate(k, n), -EPROTO);
	static const char *const empty_name[] = {"__name__", "m", "", "1"};
	n = expect_key(k, empty_name, 2);
	assert_int_equal(series_key_validate(k, n), -EPROTO);
	static const char *const two_names[] = {"__name__", "m", "__name__", "n"};
	n = expect_key(k, two_names, 2);
	assert_int_equal(series_key_validate(k, n), -EPROTO);
	static const char *const empty_metric[] = {"__name__", ""};
	n = expect_key(k, empty_metric, 1);
	assert_int_equal(series_key_validate(k, n), -EPROTO);
	static uint8_t huge[SERIES_KEY_MAX + 1];
	assert_int_equal(series_key_validate(huge, sizeof(huge)), -EPROTO);
}

static void test_validate_never_reads_past_the_key(void **state)
{
	(void)state;
	/* Random bytes of every length: must return, never crash (ASan). */
	uint32_t x = 1;
	for (size_t len = 1; len < 64; len++) {
		for (int t = 0; t < 200; t++) {
			uint8_t *k = malloc(len);
			for (size_t i = 0; i < len; i++) {
				x = x * 1103515245u + 12345u;
				k[i] = (uint8_t)(x >> 16) % 12;
			}
			int rc = series_key_validate(k, len);
			assert_true(rc == 0 || rc == -EPROTO);
			char buf[256];
			series_key_format(k, len, buf, sizeof(buf));
			size_t vl;
			series_key_get(k, len, "a", &vl);
			free(k);
		}
	}
}

static void test_get_finds_a_label_value(void **state)
{
	(void)state;
	struct series_label l[] = {L("job", "api"), L("instance", "h:9")};
	uint8_t key[128];
	int n = series_key_build(key, sizeof(key), "up", 2, l, 2);
	size_t vl;
	const char *v = series_key_get(key, (size_t)n, "instance", &vl);
	assert_non_null(v);
	assert_int_equal(vl, 3);
	assert_memory_equal(v, "h:9", 3);
	v = series_key_get(key, (size_t)n, "__name__", &vl);
	assert_memory_equal(v, "up", 2);
	assert_null(series_key_get(key, (size_t)n, "inst", &vl));
}

static void test_format_writes_prometheus_text_with_escapes(void **state)
{
	(void)state;
	struct series_label l[] = {L("path", "C:\\dir"), L("msg", "say \"hi\"\nbye")};
	uint8_t key[128];
	int n = series_key_build(key, sizeof(key), "events", 6, l, 2);
	char buf[128];
	const char *want = "events{msg=\"say \\\"hi\\\"\\nbye\",path=\"C:\\\\dir\"}";
	size_t len = series_key_format(key, (size_t)n, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(len, strlen(want));

	/* Too small a buffer: truncated, terminated, and the needed length. */
	char small[10];
	assert_int_equal(series_key_format(key, (size_t)n, small, sizeof(small)), strlen(want));
	assert_string_equal(small, "events{ms");
	assert_int_equal(series_key_format(key, (size_t)n, NULL, 0), strlen(want));

	uint8_t k2[64];
	int n2 = series_key_build(k2, sizeof(k2), "up", 2, NULL, 0);
	assert_int_equal(series_key_format(k2, (size_t)n2, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "up");
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_puts_name_first_then_labels_sorted_by_name),
		cmocka_unit_test(test_key_is_the_same_for_any_label_order),
		cmocka_unit_test(test_name_may_come_as_a_name_label),
		cmocka_unit_test(test_many_labels_sort_like_few_labels),
		cmocka_unit_test(test_labels_with_empty_values_are_left_out),
		cmocka_unit_test(test_duplicate_label_names_are_einval),
		cmocka_unit_test(test_missing_name_empty_label_name_and_too_many_labels_are_einval),
		cmocka_unit_test(test_oversized_values_and_small_buffers_are_e2big),
		cmocka_unit_test(test_ids_are_equal_for_equal_keys_and_differ_otherwise),
		cmocka_unit_test(test_validate_rejects_malformed_keys),
		cmocka_unit_test(test_validate_never_reads_past_the_key),
		cmocka_unit_test(test_get_finds_a_label_value),
		cmocka_unit_test(test_format_writes_prometheus_text_with_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
