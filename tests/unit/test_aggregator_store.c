/* test_aggregator_store: unit tests of aggregator/store, the in-memory
 * series table.
 *
 * The table is open addressing on the series id with the key bytes compared
 * on every id hit. Real XXH3 collisions cannot be made to order, so the
 * collision rules are checked two ways: a key offered under another series'
 * id is refused (-EPROTO), never merged; and series whose ids collide
 * modulo the table size (found by hashing many keys) share one probe chain,
 * including a chain that wraps from the last slot to slot 0. Sample order,
 * duplicates and growth are checked on the stored arrays directly, and so
 * is the out-of-order window (off by default, batch-frozen reference).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/store.h"
#include "common/series.h"

struct key {
	uint8_t b[64];
	uint16_t len;
	uint64_t id;
};

/* Key of m{i="<i>"}. */
static void mkkey(struct key *k, const char *name, long i)
{
	char val[24];
	int n = snprintf(val, sizeof(val), "%ld", i);
	struct series_label l = {"i", 1, val, (size_t)n};
	int len = series_key_build(k->b, sizeof(k->b), name, strlen(name), &l, 1);
	assert_true(len > 0);
	k->len = (uint16_t)len;
	k->id = series_id(k->b, (size_t)len);
}

static long get(struct store *s, const struct key *k)
{
	return store_series_get(s, k->id, k->b, k->len);
}

/* Finds `want` keys whose id & mask == slot. */
static void keys_in_slot(struct key *out, int want, uint64_t mask, uint64_t slot)
{
	int found = 0;
	for (long i = 0; found < want; i++) {
		assert_true(i < 50000000);
		mkkey(&out[found], "probe", i);
		if ((out[found].id & mask) == slot)
			found++;
	}
}

static int st_setup(void **state)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s || store_init(s) != 0)
		return -1;
	*state = s;
	return 0;
}

static int st_teardown(void **state)
{
	store_free(*state);
	free(*state);
	return 0;
}

/* ---- series table ---- */

/* Every sample of se, decoded (static buffer, valid until the next call). */
static const struct rec_point *all(const struct store_series *se, long *n)
{
	static struct rec_point *buf;
	static size_t cap;
	*n = store_read(se, INT64_MIN, INT64_MAX, &buf, &cap);
	assert_true(*n >= 0);
	return buf;
}

static void test_same_key_finds_the_same_series(void **state)
{
	struct store *s = *state;
	struct key a, b;
	mkkey(&a, "m", 1);
	mkkey(&b, "m", 2);
	long ia = get(s, &a), ib = get(s, &b);
	assert_true(ia >= 0 && ib >= 0 && ia != ib);
	assert_int_equal(get(s, &a), ia);
	assert_int_equal(get(s, &b), ib);
	assert_int_equal(s->nseries, 2);
	assert_memory_equal(s->series[ia].key, a.b, a.len);
	assert_int_equal(s->series[ia].key_len, a.len);
	assert_true(s->series[ia].id == a.id);
	assert_int_equal(s->series[ia].route_known, 0);
}

/* A key that arrives under another series' id (a collision, or damage)
 * must not be merged into that series. */
static void test_other_key_under_an_existing_id_is_refused_not_merged(void **state)
{
	struct store *s = *state;
	struct key a, b;
	mkkey(&a, "m", 1);
	mkkey(&b, "m", 2);
	long ia = get(s, &a);
	assert_true(ia >= 0);
	assert_int_equal(store_series_get(s, a.id, b.b, b.len), -EPROTO);
	assert_int_equal(s->nseries, 1);
	/* b under its own id is a new series. */
	long ib = get(s, &b);
	assert_true(ib >= 0 && ib != ia);
	/* The same key bytes but shorter (a prefix) are not the same series. */
	assert_int_equal(store_series_get(s, a.id, a.b, (uint16_t)(a.len - 1)), -EPROTO);
	assert_int_equal(s->nseries, 2);
}

static void test_new_series_with_a_wrong_id_or_bad_key_is_refused(void **state)
{
	struct store *s = *state;
	struct key a;
	mkkey(&a, "m", 1);
	assert_int_equal(store_series_get(s, a.id ^ 1, a.b, a.len), -EPROTO);
	/* Not a key: truncated length field. */
	uint8_t junk[5] = {8, 0, '_', '_', 'n'};
	assert_int_equal(store_series_get(s, series_id(junk, 5), junk, 5), -EPROTO);
	/* Labels out of order. */
	uint8_t unsorted[64];
	uint8_t *p = unsorted;
	const char *parts[] = {"__name__", "m", "b", "1", "a", "1"};
	for (int i = 0; i < 6; i++) {
		uint16_t l = (uint16_t)strlen(parts[i]);
		memcpy(p, &l, 2);
		memcpy(p + 2, parts[i], l);
		p += 2 + l;
	}
	size_t ul = (size_t)(p - unsorted);
	assert_int_equal(store_series_get(s, series_id(unsorted, ul), unsorted, (uint16_t)ul), -EPROTO);
	assert_int_equal(s->nseries, 0);
}

/* Five series in one slot: each is found through the probe chain, and a
 * key offered under one of their ids is still refused. */
static void test_ids_colliding_in_the_table_share_a_probe_chain(void **state)
{
	struct store *s = *state;
	uint64_t mask = s->table_cap - 1;
	struct key k[5];
	keys_in_slot(k, 5, mask, 77);
	long idx[5];
	for (int i = 0; i < 5; i++) {
		idx[i] = get(s, &k[i]);
		assert_int_equal(idx[i], i);
	}
	for (int i = 0; i < 5; i++) {
		assert_int_equal(s->table[77 + i].idx1, (uint32_t)i + 1);
		assert_true(s->table[77 + i].id == k[i].id);
	}
	for (int i = 4; i >= 0; i--)
		assert_int_equal(get(s, &k[i]), idx[i]);
	assert_int_equal(store_series_get(s, k[3].id, k[1].b, k[1].len), -EPROTO);
	assert_int_equal(s->nseries, 5);
}

static void test_probe_chain_wraps_from_the_last_slot_to_the_first(void **state)
{
	struct store *s = *state;
	uint64_t mask = s->table_cap - 1;
	struct key k[3];
	keys_in_slot(k, 3, mask, mask);
	for (int i = 0; i < 3; i++)
		assert_int_equal(get(s, &k[i]), i);
	assert_int_equal(s->table[mask].idx1, 1);
	assert_int_equal(s->table[0].idx1, 2);
	assert_int_equal(s->table[1].idx1, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(get(s, &k[i]), i);
	assert_int_equal(s->nseries, 3);
}

static void test_growth_rehashes_and_keeps_every_series_findable(void **state)
{
	struct store *s = *state;
	size_t cap0 = s->table_cap;
	const long n = (long)cap0 * 2 + 123; /* two doublings */
	for (long i = 0; i < n; i++) {
		struct key k;
		mkkey(&k, "grow", i);
		long idx = get(s, &k);
		assert_int_equal(idx, i);
		assert_int_equal(store_add(s, (size_t)idx, i, (double)i), STORE_APPENDED);
	}
	assert_true(s->table_cap >= cap0 * 4);
	assert_true(s->nseries * 2 <= s->table_cap);
	for (long i = 0; i < n; i++) {
		struct key k;
		mkkey(&k, "grow", i);
		long idx = get(s, &k);
		assert_int_equal(idx, i);
		long got;
		assert_int_equal(s->series[idx].n, 1);
		assert_int_equal(all(&s->series[idx], &got)[0].ts_ms, i);
		assert_memory_equal(s->series[idx].key, k.b, k.len);
	}
	assert_int_equal(s->nseries, (size_t)n);
	/* Every occupied slot points at a distinct series with that id. */
	size_t used = 0;
	for (size_t h = 0; h < s->table_cap; h++) {
		if (!s->table[h].idx1)
			continue;
		used++;
		assert_true(s->series[s->table[h].idx1 - 1].id == s->table[h].id);
	}
	assert_int_equal(used, (size_t)n);
}

/* ---- samples ---- */

static void expect_ts(const struct store_series *se, const int64_t *ts, uint32_t n)
{
	long got;
	const struct rec_point *p = all(se, &got);
	assert_int_equal(se->n, n);
	assert_int_equal(got, n);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(p[i].ts_ms, ts[i]);
}

static void test_samples_in_order_are_appended(void **state)
{
	struct store *s = *state;
	struct key k;
	mkkey(&k, "m", 1);
	long idx = get(s, &k);
	for (int i = 0; i < 100; i++)
		assert_int_equal(store_add(s, (size_t)idx, 1000 + i, i * 0.5), STORE_APPENDED);
	long got;
	const struct rec_point *p = all(&s->series[idx], &got);
	assert_int_equal(s->series[idx].n, 100);
	assert_int_equal(got, 100);
	assert_int_equal(s->samples, 100);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(p[i].ts_ms, 1000 + i);
		assert_true(p[i].value == i * 0.5);
	}
}

static void test_same_timestamp_twice_is_a_dropped_duplicate(void **state)
{
	struct store *s = *state;
	struct key k;
	mkkey(&k, "m", 1);
	long idx = get(s, &k);
	assert_int_equal(store_add(s, (size_t)idx, 10, 1), STORE_APPENDED);
	assert_int_equal(store_add(s, (size_t)idx, 20, 2), STORE_APPENDED);
	assert_int_equal(store_add(s, (size_t)idx, 30, 3), STORE_APPENDED);
	/* The last one again (a replayed batch), then an earlier one. */
	assert_int_equal(store_add(s, (size_t)idx, 30, 99), STORE_DUPLICATE);
	assert_int_equal(store_add(s, (size_t)idx, 10, 99), STORE_DUPLICATE);
	assert_int_equal(store_add(s, (size_t)idx, 20, 99), STORE_DUPLICATE);
	const int64_t ts[3] = {10, 20, 30};
	expect_ts(&s->series[idx], ts, 3);
	long got;
	assert_true(all(&s->series[idx], &got)[2].value == 3); /* the first value wins */
	assert_int_equal(s->samples, 3);
}

static void test_out_of_order_samples_are_inserted_in_place(void **state)
{
	struct store *s = *state;
	struct key k;
	mkkey(&k, "m", 1);
	long idx = get(s, &k);
	assert_int_equal(store_add(s, (size_t)idx, 50, 5), STORE_APPENDED);
	assert_int_equal(store_add(s, (size_t)idx, 30, 3), STORE_OUT_OF_ORDER); /* before all */
	assert_int_equal(store_add(s, (size_t)idx, 40, 4), STORE_OUT_OF_ORDER); /* between */
	assert_int_equal(store_add(s, (size_t)idx, 60, 6), STORE_APPENDED);
	assert_int_equal(store_add(s, (size_t)idx, 10, 1), STORE_OUT_OF_ORDER);
	assert_int_equal(store_add(s, (size_t)idx, 55, 5.5), STORE_OUT_OF_ORDER);
	assert_int_equal(store_add(s, (size_t)idx, -5, -0.5), STORE_OUT_OF_ORDER);
	const int64_t ts[7] = {-5, 10, 30, 40, 50, 55, 60};
	expect_ts(&s->series[idx], ts, 7);
	long got;
	const struct rec_point *p = all(&s->series[idx], &got);
	for (int i = 0; i < 7; i++)
		assert_true(p[i].value == (double)ts[i] / 10);
	assert_int_equal(s->samples, 7);
}

/* Out-of-order inserts across the growth of the point array stay sorted:
 * every even timestamp first, then every odd one, backwards (the first
 * of them, 1999, still comes after 1998). */
static void test_many_out_of_order_samples_stay_sorted_across_growth(void **state)
{
	struct store *s = *state;
	struct key k;
	mkkey(&k, "m", 1);
	long idx = get(s, &k);
	for (int t = 0; t < 2000; t += 2)
		assert_int_equal(store_add(s, (size_t)idx, t, t), STORE_APPENDED);
	assert_int_equal(store_add(s, (size_t)idx, 1999, 1999), STORE_APPENDED); /* after 1998 */
	for (int t = 1997; t > 0; t -= 2)
		assert_int_equal(store_add(s, (size_t)idx, t, t), STORE_OUT_OF_ORDER);
	const struct store_series *se = &s->series[idx];
	long got;
	const struct rec_point *p = all(se, &got);
	assert_int_equal(se->n, 2000);
	assert_int_equal(got, 2000);
	assert_true(se->nclosed >= 8); /* the in-order half went into closed chunks */
	for (int t = 0; t < 2000; t++) {
		assert_int_equal(p[t].ts_ms, t);
		assert_true(p[t].value == t);
	}
}

static void test_reads_and_range_checks_see_closed_head_and_side_samples(void **state)
{
	struct store *s = *state;
	struct key k;
	mkkey(&k, "m", 1);
	long idx = get(s, &k);
	const struct store_series *se = &s->series[idx];
	assert_false(store_in_range(se, INT64_MIN, INT64_MAX)); /* empty */
	for (int t = 1000; t < 1000 + 300 * 15; t += 15) /* 300 samples: 2 closed chunks + head */
		assert_int_equal(store_add(s, (size_t)idx, t, t / 15.0), STORE_APPENDED);
	assert_int_equal(store_add(s, (size_t)idx, 1001, -1), STORE_OUT_OF_ORDER);
	assert_int_equal(store_add(s, (size_t)idx, 1001, -2), STORE_DUPLICATE);
	assert_int_equal(store_add(s, (size_t)idx, 1015, 9), STORE_DUPLICATE); /* in a closed chunk */
	assert_int_equal(se->nclosed, 2);
	static struct rec_point *buf;
	static size_t cap;
	long n = store_read(se, 1000, 1030, &buf, &cap);
	assert_int_equal(n, 4);
	assert_int_equal(buf[0].ts_ms, 1000);
	assert_int_equal(buf[1].ts_ms, 1001);
	assert_true(buf[1].value == -1);
	assert_int_equal(buf[3].ts_ms, 1030);
	n = store_read(se, 1000 + 119 * 15, 1000 + 121 * 15, &buf, &cap); /* across a chunk edge */
	assert_int_equal(n, 3);
	assert_true(store_in_range(se, 0, 1000));
	assert_false(store_in_range(se, 0, 999));
	assert_false(store_in_range(se, 1000 + 300 * 15, INT64_MAX));
	assert_true(s->chunk_bytes > 0 && store_series_bytes(se) < 300 * 16 / 2);
}

/* ---- out-of-order window ---- */

#define H (3600 * 1000LL)

static void test_without_a_window_any_old_sample_is_accepted(void **state)
{
	struct store *s = *state;
	struct key k;
	mkkey(&k, "w", 0);
	long idx = get(s, &k);
	/* store_init leaves the window off, as WAL replay needs it. */
	assert_true(s->ooo_window_ms < 0);
	store_batch_begin(s);
	assert_int_equal(store_add(s, (size_t)idx, 100 * H, 1), STORE_APPENDED);
	store_batch_begin(s);
	assert_int_equal(store_too_old(s, (size_t)idx, 1), 0);
	assert_int_equal(store_add(s, (size_t)idx, 1, 2), STORE_OUT_OF_ORDER);
	assert_int_equal(s->samples, 2);
}

static void test_older_than_the_window_is_rejected_inside_is_accepted(void **state)
{
	struct store *s = *state;
	struct key k;
	mkkey(&k, "w", 1);
	long idx = get(s, &k);
	s->ooo_window_ms = H;
	store_batch_begin(s);
	assert_int_equal(store_add(s, (size_t)idx, 5 * H, 1), STORE_APPENDED);
	assert_int_equal(store_add(s, (size_t)idx, 10 * H, 2), STORE_APPENDED);
	store_batch_begin(s);
	/* Newest 10h, window 1h: 9h30 and exactly 9h are in, below 9h is out. */
	assert_int_equal(store_add(s, (size_t)idx, 9 * H + H / 2, 3), STORE_OUT_OF_ORDER);
	assert_int_equal(store_add(s, (size_t)idx, 9 * H, 4), STORE_OUT_OF_ORDER);
	assert_int_equal(store_too_old(s, (size_t)idx, 9 * H - 1), 1);
	assert_int_equal(store_add(s, (size_t)idx, 9 * H - 1, 5), STORE_TOO_OLD);
	assert_int_equal(store_add(s, (size_t)idx, 5 * H + 1, 6), STORE_TOO_OLD);
	/* An old sample the store holds is still a duplicate (re-delivery). */
	assert_int_equal(store_add(s, (size_t)idx, 5 * H, 7), STORE_DUPLICATE);
	assert_int_equal(store_add(s, (size_t)idx, 9 * H, 8), STORE_DUPLICATE);
	assert_int_equal(s->samples, 4);
	const int64_t ts[4] = {5 * H, 9 * H, 9 * H + H / 2, 10 * H};
	expect_ts(&s->series[idx], ts, 4);
	assert_int_equal(s->series[idx].max_ts, 10 * H);
}

static void test_the_window_reference_is_frozen_for_the_batch(void **state)
{
	struct store *s = *state;
	struct key k, k2;
	mkkey(&k, "w", 2);
	mkkey(&k2, "w", 3);
	long idx = get(s, &k);
	s->ooo_window_ms = H;
	store_batch_begin(s);
	assert_int_equal(store_add(s, (size_t)idx, 10 * H, 1), STORE_APPENDED);
	store_batch_begin(s);
	/* Newer data in the batch does not tighten the window of the batch:
	 * a re-delivered batch is judged as it was the first time. */
	assert_int_equal(store_add(s, (size_t)idx, 20 * H, 2), STORE_APPENDED);
	assert_int_equal(store_add(s, (size_t)idx, 9 * H + 1, 3), STORE_OUT_OF_ORDER);
	store_batch_begin(s);
	assert_int_equal(store_add(s, (size_t)idx, 19 * H - 1, 4), STORE_TOO_OLD);
	assert_int_equal(store_add(s, (size_t)idx, 19 * H, 5), STORE_OUT_OF_ORDER);
	/* A series new in this batch has no reference: nothing is too old. */
	long idx2 = get(s, &k2);
	assert_int_equal(store_add(s, (size_t)idx2, 50 * H, 1), STORE_APPENDED);
	assert_int_equal(store_add(s, (size_t)idx2, 1, 2), STORE_OUT_OF_ORDER);
	store_batch_begin(s);
	assert_int_equal(store_add(s, (size_t)idx2, 2, 3), STORE_TOO_OLD);
}

static void test_the_window_survives_an_emptied_head_and_extreme_values(void **state)
{
	struct store *s = *state;
	struct key k;
	mkkey(&k, "w", 4);
	long idx = get(s, &k);
	s->ooo_window_ms = 0;
	store_batch_begin(s);
	assert_int_equal(store_add(s, (size_t)idx, 1000, 1), STORE_APPENDED);
	store_batch_begin(s);
	/* Window 0: in order only; the newest again is a duplicate. */
	assert_int_equal(store_add(s, (size_t)idx, 999, 2), STORE_TOO_OLD);
	assert_int_equal(store_add(s, (size_t)idx, 1000, 3), STORE_DUPLICATE);
	/* A head flush frees the samples but keeps max_ts (tsdbmaint). */
	struct store_series *se = &s->series[idx];
	chunk_destroy(&se->head);
	chunk_init(&se->head);
	se->n = 0;
	s->samples = 0;
	store_batch_begin(s);
	assert_int_equal(store_add(s, (size_t)idx, 999, 4), STORE_TOO_OLD);
	assert_int_equal(store_add(s, (size_t)idx, 1001, 5), STORE_APPENDED);
	/* A huge window cannot wrap below INT64_MIN. */
	s->ooo_window_ms = INT64_MAX;
	store_batch_begin(s);
	assert_int_equal(store_too_old(s, (size_t)idx, INT64_MIN + 1002), 0);
	assert_int_equal(store_too_old(s, (size_t)idx, INT64_MIN + 1001), 1);
	assert_int_equal(store_add(s, (size_t)idx, -5 * H, 6), STORE_OUT_OF_ORDER);
}

static void test_free_accepts_null_and_an_emptied_store(void **state)
{
	(void)state;
	store_free(NULL);
	struct store s;
	assert_int_equal(store_init(&s), 0);
	store_free(&s);
	store_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_key_finds_the_same_series, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_other_key_under_an_existing_id_is_refused_not_merged, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_new_series_with_a_wrong_id_or_bad_key_is_refused, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_ids_colliding_in_the_table_share_a_probe_chain, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_probe_chain_wraps_from_the_last_slot_to_the_first, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_growth_rehashes_and_keeps_every_series_findable, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_samples_in_order_are_appended, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_same_timestamp_twice_is_a_dropped_duplicate, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_samples_are_inserted_in_place, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_many_out_of_order_samples_stay_sorted_across_growth, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_reads_and_range_checks_see_closed_head_and_side_samples, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_without_a_window_any_old_sample_is_accepted, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_older_than_the_window_is_rejected_inside_is_accepted, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_the_window_reference_is_frozen_for_the_batch, st_setup, st_teardown),
		cmocka_unit_test_setup_teardown(test_the_window_survives_an_emptied_head_and_extreme_values, st_setup, st_teardown),
		cmocka_unit_test(test_free_accepts_null_and_an_emptied_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
