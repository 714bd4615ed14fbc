/* test_records: unit tests of common/records. Every record type is encoded,
 * decoded and compared field by field; then damaged inputs (every
 * truncation, offsets and counts out of bounds, random bytes) must give
 * -EPROTO, never a crash or a read past the buffer (run under ASan: the
 * decoders get exactly-sized heap copies). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/records.h"
#include "common/series.h"

/* An exactly-sized heap copy, so ASan catches any read past len. */
static uint8_t *dup_exact(const void *p, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);
	assert_non_null(d);
	memcpy(d, p, len);
	return d;
}

static int key_of(uint8_t *out, size_t cap, const char *name, const char *job)
{
	struct series_label l[] = {{"job", 3, job, strlen(job)}};
	return series_key_build(out, cap, name, strlen(name), l, 1);
}

/* ---- samples ---- */

static void test_sample_batch_round_trips_with_inline_keys_and_references(void **state)
{
	(void)state;
	uint8_t ka[64], kb[64];
	int na = key_of(ka, sizeof(ka), "up", "api");
	int nb = key_of(kb, sizeof(kb), "http_requests_total", "web-1");
	uint64_t ida = series_id(ka, (size_t)na), idb = series_id(kb, (size_t)nb);
	uint8_t buf[1024];
	struct rec_samples_writer w;
	rec_samples_begin(&w, buf, sizeof(buf));
	uint32_t offa, offb, off2;
	assert_int_equal(rec_samples_add(&w, ida, ka, (uint16_t)na, 1000, 1.0, 0, &offa), 0);
	assert_int_equal(rec_samples_add(&w, idb, kb, (uint16_t)nb, 1000, 2.5, 0, &offb), 0);
	assert_int_equal(rec_samples_add(&w, ida, ka, (uint16_t)na, 2000, -0.0, offa, &off2), 0);
	assert_int_equal(off2, offa);
	double stale;
	uint64_t stale_bits = 0x7ff0000000000002ull; /* Prometheus stale NaN */
	memcpy(&stale, &stale_bits, 8);
	assert_int_equal(rec_samples_add(&w, idb, kb, (uint16_t)nb, INT64_MIN, stale, offb, NULL), 0);
	size_t len = rec_samples_end(&w);
	assert_int_equal(len, 8 + rec_samples_cost((size_t)na) + rec_samples_cost((size_t)nb) + 2 * 32);
	assert_int_equal(len % 8, 0);

	uint8_t *d = dup_exact(buf, len);
	struct rec_samples_iter it;
	struct rec_sample s;
	assert_int_equal(rec_samples_iter_init(&it, d, len), 0);
	const struct {
		uint64_t id;
		int64_t ts;
		const uint8_t *key;
		int klen;
	} want[] = {{ida, 1000, ka, na}, {idb, 1000, kb, nb}, {ida, 2000, ka, na}, {idb, INT64_MIN, kb, nb}};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(rec_samples_next(&it, &s), 1);
		assert_true(s.id == want[i].id);
		assert_true(s.ts_ms == want[i].ts);
		assert_int_equal(s.key_len, want[i].klen);
		assert_memory_equal(s.key, want[i].key, (size_t)want[i].klen);
		assert_int_equal(series_key_validate(s.key, s.key_len), 0);
	}
	assert_int_equal(rec_samples_next(&it, &s), 0);
	/* Values, bit for bit (the stale NaN and -0.0 included). */
	rec_samples_iter_init(&it, d, len);
	double vals[4];
	for (int i = 0; i < 4; i++) {
		rec_samples_next(&it, &s);
		vals[i] = s.value;
	}
	assert_true(vals[0] == 1.0 && vals[1] == 2.5);
	assert_true(signbit(vals[2]) && vals[2] == 0.0);
	uint64_t bits;
	memcpy(&bits, &vals[3], 8);
	assert_true(bits == stale_bits);
	free(d);
}

static void test_sample_batch_full_is_enospc_and_unchanged(void **state)
{
	(void)state;
	uint8_t k[64];
	int n = key_of(k, sizeof(k), "up", "x");
	uint8_t buf[8 + 32 + 24 + 32];
	struct rec_samples_writer w;
	rec_samples_begin(&w, buf, sizeof(buf));
	uint32_t off;
	assert_int_equal((int)rec_samples_cost((size_t)n), 32 + 24);
	assert_int_equal(rec_samples_add(&w, 1, k, (uint16_t)n, 1, 1, 0, &off), 0);
	size_t before = w.len;
	assert_int_equal(rec_samples_add(&w, 1, k, (uint16_t)n, 2, 2, 0, NULL), -ENOSPC);
	assert_int_equal(w.len, before);
	assert_int_equal(rec_samples_add(&w, 1, k, (uint16_t)n, 2, 2, off, NULL), 0); /* a ref fits */
	assert_int_equal(rec_samples_add(&w, 1, k, (uint16_t)n, 3, 3, off, NULL), -ENOSPC);
	assert_int_equal(w.count, 2);
	assert_int_equal(rec_samples_end(&w), sizeof(buf));
}

static void test_empty_sample_batch_decodes_to_nothing(void **state)
{
	(void)state;
	uint8_t buf[8];
	struct rec_samples_writer w;
	rec_samples_begin(&w, buf, sizeof(buf));
	assert_int_equal(rec_samples_end(&w), 8);
	struct rec_samples_iter it;
	struct rec_sample s;
	assert_int_equal(rec_samples_iter_init(&it, buf, 8), 0);
	assert_int_equal(rec_samples_next(&it, &s), 0);
	assert_int_equal(rec_samples_iter_init(&it, buf, 7), -EPROTO);
	assert_int_equal(rec_samples_iter_init(&it, buf, 0), -EPROTO);
}

/* Decodes a whole batch; returns the last rc (0 = clean end). */
static int decode_all(const uint8_t *p, size_t len)
{
	uint8_t *d = dup_exact(p, len);
	struct rec_samples_iter it;
	struct rec_sample s;
	int rc = rec_samples_iter_init(&it, d, len);
	if (rc == 0) {
		while ((rc = rec_samples_next(&it, &s)) == 1)
			if (s.key + s.key_len > d + len || s.key < d)
				fail_msg("key outside the record");
	}
	free(d);
	return rc;
}

static size_t build_batch(uint8_t *buf, size_t cap)
{
	uint8_t k[64];
	int n = key_of(k, sizeof(k), "m", "abc");
	struct rec_samples_writer w;
	uint32_t off;
	rec_samples_begin(&w, buf, cap);
	rec_samples_add(&w, 7, k, (uint16_t)n, 1, 1, 0, &off);
	rec_samples_add(&w, 7, k, (uint16_t)n, 2, 2, off, NULL);
	rec_samples_add(&w, 7, k, (uint16_t)n, 3, 3, 0, NULL);
	return rec_samples_end(&w);
}

static void test_truncated_sample_batch_is_eproto_at_every_length(void **state)
{
	(void)state;
	uint8_t buf[512];
	size_t len = build_batch(buf, sizeof(buf));
	assert_int_equal(decode_all(buf, len), 0);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(decode_all(buf, cut), -EPROTO);
}

static void test_sample_count_beyond_the_record_is_eproto(void **state)
{
	(void)state;
	uint8_t buf[512];
	size_t len = build_batch(buf, sizeof(buf));
	uint32_t huge = 0xffffffffu, four = 4;
	memcpy(buf, &huge, 4);
	assert_int_equal(decode_all(buf, len), -EPROTO);
	memcpy(buf, &four, 4); /* one more than there is, still "possible" by size */
	assert_int_equal(decode_all(buf, len), -EPROTO);
}

static void test_sample_key_offsets_out_of_bounds_are_eproto(void **state)
{
	(void)state;
	uint8_t buf[512];
	size_t len = build_batch(buf, sizeof(buf));
	size_t e0 = 8, e0_key_len = 28;
	uint32_t off;
	uint16_t kl;
	/* The first sample's key length running past the record. */
	uint8_t b[512];
	memcpy(b, buf, len);
	kl = 0xffff;
	memcpy(b + e0 + e0_key_len, &kl, 2);
	assert_int_equal(decode_all(b, len), -EPROTO);
	/* A zero-length key. */
	memcpy(b, buf, len);
	kl = 0;
	memcpy(b + e0 + e0_key_len, &kl, 2);
	assert_int_equal(decode_all(b, len), -EPROTO);
	/* The second sample (a reference): offsets forward, into the header,
	 * far away, or with a key running into its own entry. */
	size_t ks = 2 + 8 + 2 + 1 + 2 + 3 + 2 + 3;  /* key bytes of (m, job=abc) = 23 */
	size_t e1 = 8 + 32 + ((ks + 7) & ~(size_t)7);
	uint32_t bad_offs[] = {(uint32_t)(e1 + 32), 0, 4, 8, 39, 0x7fffffff, (uint32_t)e1};
	for (size_t i = 0; i < sizeof(bad_offs) / sizeof(bad_offs[0]); i++) {
		memcpy(b, buf, len);
		off = bad_offs[i];
		memcpy(b + e1 + 24, &off, 4);
		assert_int_equal(decode_all(b, len), -EPROTO);
	}
	/* A reference whose key would run into the referencing entry. */
	memcpy(b, buf, len);
	kl = (uint16_t)(ks + 8);
	memcpy(b + e1 + 28, &kl, 2);
	assert_int_equal(decode_all(b, len), -EPROTO);
}

static void test_random_bytes_never_crash_the_sample_decoder(void **state)
{
	(void)state;
	uint8_t good[512];
	size_t len = build_batch(good, sizeof(good));
	uint32_t x = 99;
	for (int t = 0; t < 20000; t++) {
		uint8_t b[512];
		memcpy(b, good, len);
		int flips = 1 + t % 4;
		for (int f = 0; f < flips; f++) {
			x = x * 1103515245u + 12345u;
			b[(x >> 8) % len] = (uint8_t)(x >> 20);
		}
		int rc = decode_all(b, len);
		assert_true(rc == 0 || rc == -EPROTO);
	}
}

/* ---- queries ---- */

static void test_query_round_trips_every_field(void **state)
{
	(void)state;
	struct rec_query q = {0}, d;
	q.qid = 0x1122334455667788ull;
	q.kind = REC_Q_LABEL_VALUES;
	q.nsets = 2;
	q.start_ms = -5;
	q.end_ms = INT64_MAX;
	q.step_ms = 15000;
	q.limit = 1000;
	q.label_name = "instance";
	q.label_name_len = 8;
	q.nmatchers = 3;
	q.m[0] = (struct rec_matcher){REC_M_EQ, 0, "__name__", 8, "up", 2};
	q.m[1] = (struct rec_matcher){REC_M_RE, 0, "job", 3, "api|web", 7};
	q.m[2] = (struct rec_matcher){REC_M_NRE, 1, "env", 3, "", 0};
	uint8_t buf[512];
	int n = rec_query_encode(&q, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(n % 8, 0);
	uint8_t *b = dup_exact(buf, (size_t)n);
	assert_int_equal(rec_query_decode(&d, b, (size_t)n), 0);
	assert_true(d.qid == q.qid);
	assert_int_equal(d.kind, q.kind);
	assert_int_equal(d.nsets, 2);
	assert_true(d.start_ms == -5 && d.end_ms == INT64_MAX && d.step_ms == 15000);
	assert_int_equal(d.limit, 1000);
	assert_int_equal(d.label_name_len, 8);
	assert_memory_equal(d.label_name, "instance", 8);
	assert_int_equal(d.nmatchers, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(d.m[i].op, q.m[i].op);
		assert_int_equal(d.m[i].set, q.m[i].set);
		assert_int_equal(d.m[i].name_len, q.m[i].name_len);
		assert_int_equal(d.m[i].value_len, q.m[i].value_len);
		assert_memory_equal(d.m[i].name, q.m[i].name, q.m[i].name_len);
		if (q.m[i].value_len)
			assert_memory_equal(d.m[i].value, q.m[i].value, q.m[i].value_len);
	}
	/* Too small a buffer, too many matchers or sets. */
	assert_int_equal(rec_query_encode(&q, buf, (size_t)n - 1), -ENOSPC);
	q.nmatchers = REC_MAX_MATCHERS + 1;
	assert_int_equal(rec_query_encode(&q, buf, sizeof(buf)), -EINVAL);
	q.nmatchers = 3;
	q.nsets = REC_MAX_SETS + 1;
	assert_int_equal(rec_query_encode(&q, buf, sizeof(buf)), -EINVAL);
	/* Every truncation is refused. */
	for (int cut = 0; cut < n; cut++) {
		uint8_t *c = dup_exact(buf, (size_t)cut);
		assert_int_equal(rec_query_decode(&d, c, (size_t)cut), -EPROTO);
		free(c);
	}
	free(b);
}

static void test_query_with_bad_kind_op_set_or_counts_is_eproto(void **state)
{
	(void)state;
	struct rec_query q = {0}, d;
	q.qid = 1;
	q.kind = REC_Q_SELECT;
	q.nsets = 1;
	q.nmatchers = 1;
	q.m[0] = (struct rec_matcher){REC_M_EQ, 0, "a", 1, "b", 1};
	uint8_t buf[256], b[256];
	int n = rec_query_encode(&q, buf, sizeof(buf));
	assert_int_equal(rec_query_decode(&d, buf, (size_t)n), 0);
	struct {
		size_t off;
		uint32_t val;
		int width;
	} bad[] = {
		{8, 0, 4}, {8, REC_Q_STATUS + 1, 4}, /* kind */
		{12, REC_MAX_SETS + 1, 4},     /* nsets */
		{46, REC_MAX_MATCHERS + 1, 2}, /* nmatchers over the limit */
		{46, 2, 2},                    /* more matchers than bytes */
		{44, 200, 2},                  /* label name past the end */
		{48, 4, 1},                    /* matcher op */
		{49, 1, 1},                    /* matcher set >= nsets */
		{50, 0xffff, 2},               /* matcher name past the end */
		{52, 300, 2},                  /* matcher value past the end */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(b, buf, (size_t)n);
		memcpy(b + bad[i].off, &bad[i].val, (size_t)bad[i].width);
		uint8_t *c = dup_exact(b, (size_t)n);
		assert_int_equal(rec_query_decode(&d, c, (size_t)n), -EPROTO);
		free(c);
	}
}

/* ---- responses ---- */

static void test_series_response_round_trips_key_and_points(void **state)
{
	(void)state;
	uint8_t k[64];
	int kl = key_of(k, sizeof(k), "up", "a");
	struct rec_point pts[5];
	for (int i = 0; i < 5; i++)
		pts[i] = (struct rec_point){1000 * i, i * 0.5};
	uint8_t buf[512];
	int n = rec_series_encode(buf, sizeof(buf), 42, k, (uint16_t)kl, pts, 5);
	assert_int_equal(n, (int)rec_series_size((size_t)kl, 5));
	uint8_t *b = dup_exact(buf, (size_t)n);
	struct rec_series s;
	assert_int_equal(rec_series_decode(&s, b, (size_t)n), 0);
	assert_true(s.qid == 42);
	assert_int_equal(s.key_len, kl);
	assert_memory_equal(s.key, k, (size_t)kl);
	assert_int_equal(s.npoints, 5);
	for (uint32_t i = 0; i < 5; i++) {
		struct rec_point p = rec_series_point(&s, i);
		assert_true(p.ts_ms == pts[i].ts_ms && p.value == pts[i].value);
	}
	assert_true(rec_response_qid(b, (size_t)n) == 42);
	assert_int_equal(rec_series_encode(buf, (size_t)n - 1, 42, k, (uint16_t)kl, pts, 5), -ENOSPC);
	for (int cut = 0; cut < n; cut++) {
		uint8_t *c = dup_exact(buf, (size_t)cut);
		assert_int_equal(rec_series_decode(&s, c, (size_t)cut), -EPROTO);
		free(c);
	}
	/* A point count too large for the bytes, a zero or oversized key. */
	uint32_t np = 0x10000000;
	memcpy(b + 12, &np, 4);
	assert_int_equal(rec_series_decode(&s, b, (size_t)n), -EPROTO);
	memcpy(b, buf, (size_t)n);
	uint16_t z = 0;
	memcpy(b + 8, &z, 2);
	assert_int_equal(rec_series_decode(&s, b, (size_t)n), -EPROTO);
	z = 0xffff;
	memcpy(b + 8, &z, 2);
	assert_int_equal(rec_series_decode(&s, b, (size_t)n), -EPROTO);
	free(b);
	/* Zero points is valid. */
	n = rec_series_encode(buf, sizeof(buf), 1, k, (uint16_t)kl, pts, 0);
	assert_int_equal(rec_series_decode(&s, buf, (size_t)n), 0);
	assert_int_equal(s.npoints, 0);
}

static void test_strings_response_round_trips_and_checks_bounds(void **state)
{
	(void)state;
	uint8_t buf[128];
	struct rec_strings_writer w;
	rec_strings_begin(&w, buf, 16 + 2 + 3 + 2 + 0 + 2 + 5, 9);
	assert_int_equal(rec_strings_add(&w, "job", 3), 0);
	assert_int_equal(rec_strings_add(&w, "", 0), 0);
	assert_int_equal(rec_strings_add(&w, "zone!", 5), 0);
	assert_int_equal(rec_strings_add(&w, "x", 1), -ENOSPC);
	size_t n = rec_strings_end(&w);
	assert_int_equal(n, 30);
	uint8_t *b = dup_exact(buf, n);
	struct rec_strings_iter it;
	const char *s;
	uint16_t len;
	assert_int_equal(rec_strings_iter_init(&it, b, n), 0);
	assert_true(it.qid == 9);
	assert_int_equal(rec_strings_next(&it, &s, &len), 1);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "job", 3);
	assert_int_equal(rec_strings_next(&it, &s, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(rec_strings_next(&it, &s, &len), 1);
	assert_memory_equal(s, "zone!", 5);
	assert_int_equal(rec_strings_next(&it, &s, &len), 0);
	/* Count larger than the strings there, and truncations. */
	uint32_t many = 1000;
	memcpy(b + 8, &many, 4);
	assert_int_equal(rec_strings_iter_init(&it, b, n), 0);
	int rc;
	while ((rc = rec_strings_next(&it, &s, &len)) == 1)
		;
	assert_int_equal(rc, -EPROTO);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *c = dup_exact(buf, cut);
		rc = rec_strings_iter_init(&it, c, cut);
		if (rc == 0)
			while ((rc = rec_strings_next(&it, &s, &len)) == 1)
				;
		assert_int_equal(rc, -EPROTO);
		free(c);
	}
	free(b);
}

static void test_end_response_round_trips_status_and_message(void **state)
{
	(void)state;
	uint8_t buf[2048];
	int n = rec_end_encode(buf, sizeof(buf), 77, -E2BIG, "limit exceeded");
	assert_int_equal(n, 16 + 14);
	uint8_t *b = dup_exact(buf, (size_t)n);
	struct rec_end e;
	assert_int_equal(rec_end_decode(&e, b, (size_t)n), 0);
	assert_true(e.qid == 77);
	assert_int_equal(e.status, -E2BIG);
	assert_int_equal(e.msg_len, 14);
	assert_memory_equal(e.msg, "limit exceeded", 14);
	for (int cut = 0; cut < n; cut++) {
		uint8_t *c = dup_exact(buf, (size_t)cut);
		assert_int_equal(rec_end_decode(&e, c, (size_t)cut), -EPROTO);
		free(c);
	}
	uint32_t huge = 0xfffffff0u;
	memcpy(b + 12, &huge, 4);
	assert_int_equal(rec_end_decode(&e, b, (size_t)n), -EPROTO);
	free(b);
	/* No message; an overlong message is cut to 1024 bytes. */
	n = rec_end_encode(buf, sizeof(buf), 1, 0, NULL);
	assert_int_equal(n, 16);
	assert_int_equal(rec_end_decode(&e, buf, 16), 0);
	assert_int_equal(e.msg_len, 0);
	char big[1500];
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	n = rec_end_encode(buf, sizeof(buf), 1, 0, big);
	assert_int_equal(n, 16 + 1024);
	assert_int_equal(rec_end_encode(buf, 20, 1, 0, "hello"), -ENOSPC);
	assert_true(rec_response_qid(buf, 7) == 0);
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_batch_round_trips_with_inline_keys_and_references),
		cmocka_unit_test(test_sample_batch_full_is_enospc_and_unchanged),
		cmocka_unit_test(test_empty_sample_batch_decodes_to_nothing),
		cmocka_unit_test(test_truncated_sample_batch_is_eproto_at_every_length),
		cmocka_unit_test(test_sample_count_beyond_the_record_is_eproto),
		cmocka_unit_test(test_sample_key_offsets_out_of_bounds_are_eproto),
		cmocka_unit_test(test_random_bytes_never_crash_the_sample_decoder),
		cmocka_unit_test(test_query_round_trips_every_field),
		cmocka_unit_test(test_query_with_bad_kind_op_set_or_counts_is_eproto),
		cmocka_unit_test(test_series_response_round_trips_key_and_points),
		cmocka_unit_test(test_strings_response_round_trips_and_checks_bounds),
		cmocka_unit_test(test_end_response_round_trips_status_and_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
