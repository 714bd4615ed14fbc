/* test_collector_router: unit tests of collector/router over real rings.
 *
 * Each test gets three sample rings under unique shm names (pid + counter):
 * a producer handle the router writes through and a consumer handle the
 * test (or a drainer thread) reads with, two mappings of one segment as two
 * processes would have them. Edge states (a ring nearly full, a cursor just
 * before the end of the area) are set directly in the header and handles;
 * the test then checks positions and decodes the records byte by byte.
 * The teardown detaches and unlinks every ring, even after a failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/router.h"
#include "common/records.h"
#include "common/series.h"
#include "shm/ring.h"
#include "shm/segment.h"

#define NRING 3

struct got {
	uint8_t key[256];
	uint16_t key_len;
	uint64_t id;
	int64_t ts;
	double value;
	int ring;
};

struct fx {
	char names[NRING][96];
	struct ring p[NRING];  /* producer handles: the router's */
	struct ring c[NRING];  /* consumer handles: the test's */
	struct router router;
	struct router_batch b;
	struct got *got;       /* decoded samples */
	size_t ngot, capgot;
	int bad;               /* records that failed to decode */
};

static int fx_counter;

static int fx_open(void **state, uint64_t capacity)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	int base = fx_counter++;
	for (int j = 0; j < NRING; j++) {
		snprintf(f->names[j], sizeof(f->names[j]), "/mcs.utrt%d-%d.ring.c0-a%d", (int)getpid(), base, j);
		segment_unlink(f->names[j]);
		if (ring_create(&f->p[j], f->names[j], "c0-a", capacity, RING_FULL_BLOCK, RING_ROLE_PRODUCER) != 0)
			return -1;
		if (ring_attach(&f->c[j], f->names[j], RING_ROLE_CONSUMER) != 0)
			return -1;
	}
	f->router.rings = f->p;
	f->router.naggr = NRING;
	router_batch_init(&f->b, NRING);
	return 0;
}

static int fx_setup(void **state)
{
	return fx_open(state, 2u << 20);
}

/* The smallest sample ring the configuration accepts (rings.sample_bytes). */
static int fx_setup_small(void **state)
{
	return fx_open(state, 65536);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	for (int j = 0; j < NRING; j++) {
		ring_detach(&f->p[j]);
		ring_detach(&f->c[j]);
		segment_unlink(f->names[j]);
	}
	router_batch_free(&f->b);
	free(f->got);
	free(f);
	return 0;
}

/* Decodes every published record of ring j into f->got and releases. */
static size_t drain(struct fx *f, int j)
{
	struct ring_rec rec;
	size_t before = f->ngot;
	int rc;
	while ((rc = ring_next(&f->c[j], &rec)) == 1) {
		struct rec_samples_iter it;
		struct rec_sample s;
		if (rec.type != REC_SAMPLES || rec_samples_iter_init(&it, rec.data, rec.len) != 0) {
			f->bad++;
			continue;
		}
		while ((rc = rec_samples_next(&it, &s)) == 1) {
			if (f->ngot == f->capgot) {
				f->capgot = f->capgot ? f->capgot * 2 : 1024;
				f->got = realloc(f->got, f->capgot * sizeof(*f->got));
				if (!f->got)
					abort();
			}
			struct got *g = &f->got[f->ngot++];
			g->key_len = s.key_len;
			memcpy(g->key, s.key, s.key_len < sizeof(g->key) ? s.key_len : sizeof(g->key));
			g->id = s.id;
			g->ts = s.ts_ms;
			g->value = s.value;
			g->ring = j;
		}
		if (rc < 0)
			f->bad++;
	}
	if (rc < 0)
		f->bad++;
	ring_release(&f->c[j]);
	return f->ngot - before;
}

static uint64_t wpos(struct fx *f, int j)
{
	return atomic_load(&f->p[j].hdr->write_pos);
}

/* Adds series m{i="<i>"} at ts, value v. */
static int add_i(struct fx *f, int i, int64_t ts, double v)
{
	char val[16];
	int n = snprintf(val, sizeof(val), "%d", i);
	struct series_label l = {"i", 1, val, (size_t)n};
	return router_add(&f->b, "m", 1, &l, 1, ts, v);
}

/* The series index i whose id routes to ring `want` (i >= from). */
static int series_for_ring(int want, int from)
{
	for (int i = from;; i++) {
		char val[16];
		uint8_t key[64];
		int n = snprintf(val, sizeof(val), "%d", i);
		struct series_label l = {"i", 1, val, (size_t)n};
		int kl = series_key_build(key, sizeof(key), "m", 1, &l, 1);
		if (series_id(key, (size_t)kl) % NRING == (uint64_t)want)
			return i;
	}
}

/* Puts ring j's producer at `pos` with `fill` bytes unconsumed, as if it
 * had run that long: positions in the header and both handles. */
static void set_ring_state(struct fx *f, int j, uint64_t pos, uint64_t fill)
{
	struct ring_header *h = f->p[j].hdr;
	atomic_store(&h->write_pos, pos);
	atomic_store(&h->read_pos, pos - fill);
	h->read_pos_cache = pos - fill;
	f->p[j].wpos = pos;
	f->c[j].rpos = pos - fill;
	f->c[j].wpos_seen = pos;
}

/* ---- tests ---- */

static void test_each_sample_goes_to_the_ring_of_its_id_mod_3(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 300; i++)
		assert_int_equal(add_i(f, i, 1000 + i, i), 0);
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	size_t per[NRING];
	for (int j = 0; j < NRING; j++) {
		per[j] = drain(f, j);
		assert_true(per[j] > 50); /* 300 hashed series spread over all three */
	}
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->ngot, 300);
	for (size_t k = 0; k < f->ngot; k++) {
		assert_int_equal(f->got[k].id % NRING, (uint64_t)f->got[k].ring);
		assert_true(f->got[k].id == series_id(f->got[k].key, f->got[k].key_len));
	}
}

static void test_records_decode_to_exactly_the_samples_added(void **state)
{
	struct fx *f = *state;
	/* Labels in any order, an empty value (absent), odd values. */
	struct series_label l1[3] = {{"zone", 4, "eu", 2}, {"job", 3, "api", 3}, {"empty", 5, "", 0}};
	assert_int_equal(router_add(&f->b, "http_requests_total", 19, l1, 3, -5, 1.5), 0);
	struct series_label l2[1] = {{"__name__", 8, "up", 2}};
	assert_int_equal(router_add(&f->b, NULL, 0, l2, 1, INT64_MAX, -0.0), 0);
	assert_int_equal(router_add(&f->b, "up", 2, NULL, 0, 0, NAN), 0);
	uint8_t k3[64];
	struct series_label l3 = {"a", 1, "b", 1};
	int k3len = series_key_build(k3, sizeof(k3), "raw", 3, &l3, 1);
	assert_int_equal(router_add_key(&f->b, k3, (size_t)k3len, 77, INFINITY), 0);
	assert_int_equal(f->b.n, 4);
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	for (int j = 0; j < NRING; j++)
		drain(f, j);
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->ngot, 4);

	uint8_t want[4][64];
	int wl[4];
	struct series_label w1[2] = {{"job", 3, "api", 3}, {"zone", 4, "eu", 2}};
	wl[0] = series_key_build(want[0], 64, "http_requests_total", 19, w1, 2);
	wl[1] = series_key_build(want[1], 64, "up", 2, NULL, 0);
	wl[2] = wl[1];
	memcpy(want[2], want[1], (size_t)wl[1]);
	wl[3] = k3len;
	memcpy(want[3], k3, (size_t)k3len);
	const int64_t ts[4] = {-5, INT64_MAX, 0, 77};
	int seen[4] = {0};
	for (size_t k = 0; k < f->ngot; k++) {
		const struct got *g = &f->got[k];
		int m = -1;
		for (int w = 0; w < 4; w++)
			if (!seen[w] && g->ts == ts[w] && g->key_len == wl[w] && memcmp(g->key, want[w], (size_t)wl[w]) == 0)
				m = w;
		assert_true(m >= 0);
		seen[m] = 1;
		assert_true(g->id == series_id(want[m], (size_t)wl[m]));
		assert_int_equal(g->id % NRING, (uint64_t)g->ring);
	}
	/* Values bit for bit. */
	for (size_t k = 0; k < f->ngot; k++) {
		const struct got *g = &f->got[k];
		if (g->ts == -5)
			assert_true(g->value == 1.5);
		else if (g->ts == INT64_MAX)
			assert_true(g->value == 0.0 && signbit(g->value));
		else if (g->ts == 0)
			assert_true(isnan(g->value));
		else
			assert_true(isinf(g->value) && g->value > 0);
	}
}

static void test_one_series_keeps_its_order_within_its_ring(void **state)
{
	struct fx *f = *state;
	for (int t = 0; t < 1000; t++)
		assert_int_equal(add_i(f, 7, t, t * 0.5), 0);
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	size_t total = 0;
	for (int j = 0; j < NRING; j++) {
		size_t n = drain(f, j);
		assert_true(n == 0 || n == 1000);
		total += n;
	}
	assert_int_equal(total, 1000);
	for (int t = 0; t < 1000; t++) {
		assert_int_equal(f->got[t].ts, t);
		assert_true(f->got[t].value == t * 0.5);
	}
}

static void test_empty_batch_commits_nothing(void **state)
{
	struct fx *f = *state;
	assert_int_equal(router_commit(&f->router, &f->b, 0), 0);
	for (int j = 0; j < NRING; j++)
		assert_int_equal(wpos(f, j), 0);
}

static void test_ring_without_samples_is_not_touched(void **state)
{
	struct fx *f = *state;
	int i = series_for_ring(1, 0);
	assert_int_equal(add_i(f, i, 1, 1), 0);
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	assert_int_equal(wpos(f, 0), 0);
	assert_true(wpos(f, 1) > 0);
	assert_int_equal(wpos(f, 2), 0);
	assert_int_equal(atomic_load(&f->p[1].hdr->records_in), 1);
}

/* The last ring the router checks is full: -ETIMEDOUT after the wait, and
 * the first two rings, which had room, got nothing either. */
static void test_full_ring_times_out_and_nothing_is_written_to_any_ring(void **state)
{
	struct fx *f = *state;
	uint64_t cap = f->p[2].capacity;
	set_ring_state(f, 2, 5 * cap + 4096, cap - 4096); /* 4 KiB free */
	for (int i = 0; i < 60; i++)
		assert_int_equal(add_i(f, i, 1, 1), 0);
	for (int j = 0; j < NRING; j++)
		assert_true(f->b.bytes[j] > 0);
	uint64_t before[NRING], t0 = segment_now_mono_ms();
	for (int j = 0; j < NRING; j++)
		before[j] = wpos(f, j);
	assert_int_equal(router_commit(&f->router, &f->b, 50), -ETIMEDOUT);
	uint64_t dt = segment_now_mono_ms() - t0;
	assert_true(dt >= 40 && dt < 2000);
	for (int j = 0; j < NRING; j++) {
		assert_int_equal(wpos(f, j), before[j]);
		assert_int_equal(f->p[j].wpos, before[j]); /* nothing committed unpublished either */
		assert_int_equal(f->p[j].pending_bytes, 0);
	}
	assert_int_equal(atomic_load(&f->p[2].hdr->drops), 1);
	assert_int_equal(atomic_load(&f->p[2].hdr->full_waits), 1);

	/* Once the consumer frees the ring, the same batch goes in whole. */
	set_ring_state(f, 2, 5 * cap + 4096, 0);
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	for (int j = 0; j < NRING; j++)
		drain(f, j);
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->ngot, 60);
}

/* Ring 1's cursor sits 1 KiB before the end of the area, so its record
 * must start after a padding record. The wait for room must count that
 * padding as well as the whole reservation, or ring 0 is written and
 * published while ring 1's reservation then times out: a half-committed
 * push that the client is told to retry. */
static void test_room_at_the_wrap_is_checked_before_anything_is_written(void **state)
{
	struct fx *f = *state;
	uint64_t cap = f->p[1].capacity, q = ring_rec_size(ROUTER_RECORD_MAX);
	int i0 = series_for_ring(0, 0), i1 = series_for_ring(1, 0);
	assert_int_equal(add_i(f, i0, 1, 1), 0);
	assert_int_equal(add_i(f, i1, 1, 1), 0);
	/* Room for the sample and the reservation, not for the padding too. */
	set_ring_state(f, 1, 3 * cap - 1024, cap - (q + 512));
	assert_int_equal(router_commit(&f->router, &f->b, 30), -ETIMEDOUT);
	assert_int_equal(wpos(f, 0), 0);
	assert_int_equal(f->p[0].wpos, 0);
	assert_int_equal(wpos(f, 1), 3 * cap - 1024);
	assert_int_equal(f->p[1].wpos, 3 * cap - 1024);

	/* Room for padding and reservation: both shares go in, ring 1's after
	 * a padding record of 1 KiB. */
	set_ring_state(f, 1, 3 * cap - 1024, cap - (2 * q + 4096));
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	const uint32_t *pad = (const uint32_t *)(f->c[1].data + cap - 1024);
	assert_int_equal(pad[0], 1024 - RING_REC_HDR);
	assert_int_equal(pad[1], RING_TYPE_PAD);
	f->c[1].rpos = 3 * cap - 1024; /* read only what this commit wrote */
	drain(f, 0);
	drain(f, 1);
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->ngot, 2);
}

/* A record right before the end of the area is preceded by padding and
 * decodes at position 0. */
static void test_records_after_the_wrap_decode(void **state)
{
	struct fx *f = *state;
	uint64_t cap = f->p[0].capacity;
	for (int j = 0; j < NRING; j++)
		set_ring_state(f, j, cap - 64, 0);
	for (int i = 0; i < 30; i++)
		assert_int_equal(add_i(f, i, i, i), 0);
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	for (int j = 0; j < NRING; j++) {
		/* Padding of 64 bytes at cap - 64: {len 56, type 0}. */
		const uint32_t *pad = (const uint32_t *)(f->c[j].data + cap - 64);
		assert_int_equal(pad[0], 56);
		assert_int_equal(pad[1], RING_TYPE_PAD);
		drain(f, j);
	}
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->ngot, 30);
}

struct drainer {
	struct fx *f;
	_Atomic int stop;
	_Atomic size_t seen;   /* f->ngot as of the drainer's last pass */
	size_t want;
};

static void *drainer_main(void *arg)
{
	struct drainer *d = arg;
	struct fx *f = d->f;
	struct ring *rs[NRING] = {&f->c[0], &f->c[1], &f->c[2]};
	while (!d->stop && f->ngot < d->want) {
		if (ring_wait_any(rs, NRING, 20) == 0)
			continue;
		for (int j = 0; j < NRING; j++)
			drain(f, j);
		d->seen = f->ngot;
	}
	return NULL;
}

/* Waits (at most 5 s) until the drainer has seen everything, then stops it. */
static void drainer_finish(struct drainer *d, pthread_t th)
{
	for (int k = 0; k < 500 && d->seen < d->want; k++)
		usleep(10000);
	d->stop = 1;
	pthread_join(th, NULL);
}

/* A batch three times larger than a ring goes in pieces, as the consumer
 * makes room; every sample arrives once, in order per series. */
static void test_batch_larger_than_ring_goes_in_pieces_while_consumer_drains(void **state)
{
	struct fx *f = *state;
	const int nseries = 30, per = 6000; /* 180000 samples, ~10 MB of records */
	for (int t = 0; t < per; t++)
		for (int i = 0; i < nseries; i++)
			assert_int_equal(add_i(f, i, t, i * 10000.0 + t), 0);
	uint64_t total = 0;
	for (int j = 0; j < NRING; j++)
		total += f->b.bytes[j];
	assert_true(total > 3 * f->p[0].capacity);
	struct drainer d = {.f = f, .want = (size_t)nseries * per};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, drainer_main, &d), 0);
	int rc = router_commit(&f->router, &f->b, 5000);
	drainer_finish(&d, th);
	assert_int_equal(rc, 0);
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->ngot, d.want);
	int64_t next[30] = {0};
	for (size_t k = 0; k < f->ngot; k++) {
		const struct got *g = &f->got[k];
		int i = (int)(g->value / 10000.0);
		assert_true(i >= 0 && i < nseries);
		assert_int_equal(g->ts, next[i]);
		next[i]++;
	}
	for (int i = 0; i < nseries; i++)
		assert_int_equal(next[i], per);
	uint64_t waits = 0;
	for (int j = 0; j < NRING; j++)
		waits += atomic_load(&f->p[j].hdr->full_waits);
	assert_true(waits > 0);
}

/* The configuration accepts 64 KiB sample rings: a record must then be
 * smaller than ROUTER_RECORD_MAX, and pushes must still go through. */
static void test_smallest_configurable_ring_accepts_pushes(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 100; i++)
		assert_int_equal(add_i(f, i, i, i), 0);
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	for (int j = 0; j < NRING; j++)
		drain(f, j);
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->ngot, 100);

	/* And a batch larger than the ring goes in pieces. */
	router_batch_reset(&f->b);
	f->ngot = 0;
	for (int t = 0; t < 1000; t++)
		for (int i = 0; i < 9; i++)
			assert_int_equal(add_i(f, i, t, t), 0);
	struct drainer d = {.f = f, .want = 9000};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, drainer_main, &d), 0);
	int rc = router_commit(&f->router, &f->b, 5000);
	drainer_finish(&d, th);
	assert_int_equal(rc, 0);
	assert_int_equal(f->ngot, 9000);
}

static void test_invalid_label_sets_are_refused_and_leave_the_batch_unchanged(void **state)
{
	struct fx *f = *state;
	assert_int_equal(add_i(f, 1, 1, 1), 0);
	size_t n = f->b.n, kl = f->b.keys_len;
	uint64_t bytes[NRING];
	memcpy(bytes, f->b.bytes, sizeof(bytes));

	struct series_label dup[2] = {{"a", 1, "x", 1}, {"a", 1, "y", 1}};
	assert_int_equal(router_add(&f->b, "m", 1, dup, 2, 1, 1), -EINVAL);
	struct series_label one = {"a", 1, "x", 1};
	assert_int_equal(router_add(&f->b, NULL, 0, &one, 1, 1, 1), -EINVAL);   /* no name */
	assert_int_equal(router_add(&f->b, "", 0, &one, 1, 1, 1), -EINVAL);     /* empty name */
	struct series_label name2 = {"__name__", 8, "n", 1};
	assert_int_equal(router_add(&f->b, "m", 1, &name2, 1, 1, 1), -EINVAL);  /* name twice */

	assert_int_equal(f->b.n, n);
	assert_int_equal(f->b.keys_len, kl);
	assert_memory_equal(f->b.bytes, bytes, sizeof(bytes));
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	for (int j = 0; j < NRING; j++)
		drain(f, j);
	assert_int_equal(f->ngot, 1);
}

static void test_oversized_keys_are_refused_with_e2big(void **state)
{
	struct fx *f = *state;
	static char big[SERIES_KEY_MAX + 16];
	memset(big, 'v', sizeof(big));
	/* One value over the label limit. */
	struct series_label l1 = {"a", 1, big, SERIES_LABEL_MAX + 1};
	assert_int_equal(router_add(&f->b, "m", 1, &l1, 1, 1, 1), -E2BIG);
	/* Values within the label limit whose key exceeds SERIES_KEY_MAX. */
	struct series_label l2[3] = {{"a", 1, big, 4000}, {"b", 1, big, 4000}, {"c", 1, big, 4000}};
	assert_int_equal(router_add(&f->b, "m", 1, l2, 3, 1, 1), -E2BIG);
	/* A ready-made key over the limit. */
	assert_int_equal(router_add_key(&f->b, (const uint8_t *)big, SERIES_KEY_MAX + 1, 1, 1), -E2BIG);
	assert_int_equal(f->b.n, 0);
	/* The largest key that fits goes through the rings and back. */
	/* 13 bytes of name, 4005 per 4000-byte label, 5 + 164 for the last. */
	struct series_label l3[3] = {{"a", 1, big, 4000}, {"b", 1, big, 4000}, {"c", 1, big, 164}};
	assert_int_equal(router_add(&f->b, "m", 1, l3, 3, 1, 1), 0);
	assert_int_equal(f->b.keys_len, SERIES_KEY_MAX);
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	size_t n = 0;
	for (int j = 0; j < NRING; j++)
		n += drain(f, j);
	assert_int_equal(n, 1);
	assert_int_equal(f->bad, 0);
	assert_int_equal(f->got[0].key_len, SERIES_KEY_MAX);
}

static void test_reset_batch_is_reused_without_leftovers(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 5000; i++) /* grows past the initial capacity */
		assert_int_equal(add_i(f, i, 1, 1), 0);
	router_batch_reset(&f->b);
	assert_int_equal(f->b.n, 0);
	for (int j = 0; j < NRING; j++)
		assert_int_equal(f->b.bytes[j], 0);
	assert_int_equal(add_i(f, 3, 9, 9), 0);
	assert_int_equal(router_commit(&f->router, &f->b, 1000), 0);
	for (int j = 0; j < NRING; j++)
		drain(f, j);
	assert_int_equal(f->ngot, 1);
	assert_int_equal(f->got[0].ts, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_each_sample_goes_to_the_ring_of_its_id_mod_3, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_records_decode_to_exactly_the_samples_added, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_one_series_keeps_its_order_within_its_ring, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_empty_batch_commits_nothing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ring_without_samples_is_not_touched, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_full_ring_times_out_and_nothing_is_written_to_any_ring, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_room_at_the_wrap_is_checked_before_anything_is_written, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_records_after_the_wrap_decode, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_larger_than_ring_goes_in_pieces_while_consumer_drains, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_smallest_configurable_ring_accepts_pushes, fx_setup_small, fx_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_label_sets_are_refused_and_leave_the_batch_unchanged, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_oversized_keys_are_refused_with_e2big, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reset_batch_is_reused_without_leftovers, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
