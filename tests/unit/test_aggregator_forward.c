/* test_aggregator_forward: unit tests of aggregator/forward, the path from
 * an aggregator's store to the alerters' rings.
 *
 * The stage is assembled by hand under a unique instance name: a config
 * with two alerters and rules (rule i belongs to alerter i % 2), the control
 * block, and forward_init opening the real alert rings "a0-r0" and "a0-r1";
 * the test attaches a consumer to each and decodes what arrived. Edge
 * states (an alert ring full, the smallest alert ring the configuration
 * allows) are set directly. The teardown unlinks every segment.
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
#include <unistd.h>

#include "aggregator/forward.h"
#include "aggregator/store.h"
#include "common/records.h"
#include "common/series.h"
#include "common/stage.h"

#define NALERT 2

struct got {
	char text[128];
	int64_t ts;
	double value;
	int ring;
};

struct fx {
	struct stage st;
	struct forward fw;
	struct store store;
	char names[NALERT][SEGMENT_NAME_MAX];
	struct ring c[NALERT];
	struct got got[4096];
	size_t ngot;
	int inited;
};

static const char *rules_json =
	"\"rules\":["
	"{\"alert\":\"LoadHigh\",\"expr\":\"node_load1 > 1\"},"            /* alerter 0 */
	"{\"alert\":\"JobDown\",\"expr\":\"up{job=\\\"x\\\"} == 0\"},"     /* alerter 1 */
	"{\"alert\":\"AnyUp\",\"expr\":\"up{job=~\\\"x|z\\\"} < 1\"}"      /* alerter 0 */
	"]";

static int fx_open(void **state, uint64_t alert_bytes, int alerters)
{
	static int counter;
	char json[1024], err[256], shortn[32];
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	snprintf(json, sizeof(json),
		 "{\"instance\":\"utfwd%d-%d\",\"alerters\":%d,\"rings\":{\"alert_bytes\":%llu},%s}",
		 (int)getpid(), counter++, alerters ? alerters : 1, (unsigned long long)alert_bytes, rules_json);
	if (config_load_string(&f->st.cfg, json, "test", err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	struct ctl_shape shape = {
		.n_stage = {f->st.cfg.collectors, f->st.cfg.aggregators, f->st.cfg.alerters, f->st.cfg.apiservers},
		.sample_ring_bytes = f->st.cfg.sample_ring_bytes,
		.alert_ring_bytes = f->st.cfg.alert_ring_bytes,
		.query_ring_bytes = f->st.cfg.query_ring_bytes,
	};
	shape.n_stage[CTL_ALERTER] = (uint32_t)alerters; /* 0: a shape the config cannot say */
	ctl_unlink(f->st.cfg.instance);
	if (ctl_create(&f->st.ctl, f->st.cfg.instance, &shape) != 0)
		return -1;
	f->st.kind = CTL_AGGREGATOR;
	f->st.index = 0;
	f->st.slot = ctl_slot(&f->st.ctl, CTL_AGGREGATOR, 0);
	for (int k = 0; k < alerters; k++) {
		ctl_ring_alert(shortn, sizeof(shortn), 0, (uint32_t)k);
		ctl_ring_shm_name(f->names[k], SEGMENT_NAME_MAX, f->st.cfg.instance, shortn);
		segment_unlink(f->names[k]);
	}
	if (store_init(&f->store) != 0)
		return -1;
	if (forward_init(&f->fw, &f->st) != 0)
		return -1;
	f->inited = 1;
	for (int k = 0; k < alerters; k++)
		if (ring_attach(&f->c[k], f->names[k], RING_ROLE_CONSUMER) != 0)
			return -1;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_open(state, 4u << 20, NALERT);
}

/* The smallest alert ring the configuration accepts (rings.alert_bytes). */
static int fx_setup_small(void **state)
{
	return fx_open(state, 65536, NALERT);
}

static int fx_setup_no_alerters(void **state)
{
	return fx_open(state, 4u << 20, 0);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	if (f->inited)
		forward_fini(&f->fw);
	for (int k = 0; k < NALERT; k++) {
		ring_detach(&f->c[k]);
		if (f->names[k][0])
			segment_unlink(f->names[k]);
	}
	store_free(&f->store);
	ctl_detach(&f->st.ctl);
	ctl_unlink(f->st.cfg.instance);
	config_free(&f->st.cfg);
	free(f);
	return 0;
}

/* Stores a sample of name{job=...} and forwards it, as the aggregator's
 * ingest loop does. Returns the series index. */
static long feed(struct fx *f, const char *name, const char *job, int64_t ts, double v)
{
	uint8_t key[256];
	struct series_label l = {"job", 3, job, strlen(job)};
	int kl = series_key_build(key, sizeof(key), name, strlen(name), &l, job[0] ? 1 : 0);
	assert_true(kl > 0);
	struct rec_sample s = {
		.id = series_id(key, (size_t)kl), .ts_ms = ts, .value = v, .key = key, .key_len = (uint16_t)kl,
	};
	long idx = store_series_get(&f->store, s.id, key, s.key_len);
	assert_true(idx >= 0);
	assert_true(store_add(&f->store, (size_t)idx, ts, v) >= 0);
	forward_sample(&f->fw, &f->store.series[idx], &s);
	return idx;
}

static size_t drain(struct fx *f)
{
	size_t before = f->ngot;
	for (int k = 0; k < NALERT; k++) {
		if (!f->c[k].hdr)
			continue;
		struct ring_rec rec;
		while (ring_next(&f->c[k], &rec) == 1) {
			struct rec_samples_iter it;
			struct rec_sample s;
			assert_int_equal(rec.type, REC_SAMPLES);
			assert_int_equal(rec_samples_iter_init(&it, rec.data, rec.len), 0);
			while (rec_samples_next(&it, &s) == 1) {
				assert_true(f->ngot < 4096);
				struct got *g = &f->got[f->ngot++];
				series_key_format(s.key, s.key_len, g->text, sizeof(g->text));
				assert_true(s.id == series_id(s.key, s.key_len));
				g->ts = s.ts_ms;
				g->value = s.value;
				g->ring = k;
			}
		}
		ring_release(&f->c[k]);
	}
	return f->ngot - before;
}

static size_t count(struct fx *f, const char *text, int ring)
{
	size_t n = 0;
	for (size_t i = 0; i < f->ngot; i++)
		if (strcmp(f->got[i].text, text) == 0 && f->got[i].ring == ring)
			n++;
	return n;
}

static uint64_t drops(struct fx *f)
{
	return atomic_load(&f->st.slot->counters[CTL_C_ALERT_DROPS]);
}

/* ---- tests ---- */

static void test_samples_of_selected_series_land_on_their_alerters_ring(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->fw.nalerters, NALERT);
	assert_int_equal(f->fw.rules.n, 3);
	feed(f, "node_load1", "node", 1000, 2.5); /* LoadHigh: alerter 0 */
	feed(f, "up", "x", 1000, 0);              /* JobDown (1) and AnyUp (0) */
	feed(f, "up", "z", 1000, 1);              /* AnyUp: alerter 0 */
	feed(f, "up", "y", 1000, 1);              /* no rule */
	feed(f, "node_load5", "node", 1000, 9);   /* no rule */
	assert_int_equal(drain(f), 0);            /* nothing visible before the flush */
	forward_flush(&f->fw);
	assert_int_equal(drain(f), 4);
	assert_int_equal(count(f, "node_load1{job=\"node\"}", 0), 1);
	assert_int_equal(count(f, "up{job=\"x\"}", 0), 1);
	assert_int_equal(count(f, "up{job=\"x\"}", 1), 1);
	assert_int_equal(count(f, "up{job=\"z\"}", 0), 1);
	for (size_t i = 0; i < f->ngot; i++) {
		assert_int_equal(f->got[i].ts, 1000);
		if (strcmp(f->got[i].text, "node_load1{job=\"node\"}") == 0)
			assert_true(f->got[i].value == 2.5);
	}
	assert_int_equal(drops(f), 0);
}

static void test_route_is_computed_once_and_cached_in_the_series(void **state)
{
	struct fx *f = *state;
	long a = feed(f, "up", "x", 1, 0);
	long b = feed(f, "up", "y", 1, 0);
	long c = feed(f, "node_load1", "n", 1, 0);
	assert_int_equal(f->store.series[a].route_known, 1);
	assert_int_equal(f->store.series[a].alert_mask, 3);
	assert_int_equal(f->store.series[b].route_known, 1);
	assert_int_equal(f->store.series[b].alert_mask, 0);
	assert_int_equal(f->store.series[c].alert_mask, 1);
	/* The cached mask is what later samples follow. */
	f->store.series[b].alert_mask = 2;
	feed(f, "up", "y", 2, 7);
	forward_flush(&f->fw);
	drain(f);
	assert_int_equal(count(f, "up{job=\"y\"}", 1), 1);
	assert_int_equal(count(f, "up{job=\"y\"}", 0), 0);
}

static void test_many_samples_fill_several_records_and_all_arrive(void **state)
{
	struct fx *f = *state;
	/* 3000 samples x 64 bytes: more than one 64 KiB record. */
	for (int t = 0; t < 3000; t++)
		feed(f, "node_load1", "n", t, t);
	forward_flush(&f->fw);
	size_t n = 0, recs = 0;
	int64_t next = 0;
	struct ring_rec rec;
	while (ring_next(&f->c[0], &rec) == 1) {
		struct rec_samples_iter it;
		struct rec_sample s;
		recs++;
		assert_true(rec.len <= FORWARD_RECORD_MAX);
		assert_int_equal(rec_samples_iter_init(&it, rec.data, rec.len), 0);
		while (rec_samples_next(&it, &s) == 1) {
			assert_int_equal(s.ts_ms, next);
			next++;
			n++;
		}
	}
	ring_release(&f->c[0]);
	assert_int_equal(n, 3000);
	assert_true(recs >= 3);
	assert_int_equal(atomic_load(&f->c[1].hdr->write_pos), 0);
	assert_int_equal(drops(f), 0);
}

/* Leaves `free_b` bytes free in alert ring k (positions set directly), as
 * if the alerter had stopped reading. */
static void fill_ring(struct fx *f, int k, uint64_t free_b)
{
	struct ring *p = &f->fw.rings[k];
	struct ring_header *h = p->hdr;
	uint64_t pos = 2 * p->capacity;
	atomic_store(&h->write_pos, pos);
	atomic_store(&h->read_pos, pos - (p->capacity - free_b));
	h->read_pos_cache = pos - (p->capacity - free_b);
	p->wpos = pos;
	f->c[k].rpos = f->c[k].wpos_seen = pos - (p->capacity - free_b);
}

/* A full alert ring never stalls ingestion: the samples for it are dropped
 * at once and counted; the other alerter still gets its share. */
static void test_full_alert_ring_drops_and_counts_without_waiting(void **state)
{
	struct fx *f = *state;
	fill_ring(f, 1, 1024);
	uint64_t t0 = segment_now_mono_ms();
	for (int t = 0; t < 100; t++)
		feed(f, "up", "x", t, 0); /* alerters 0 and 1 */
	forward_flush(&f->fw);
	assert_true(segment_now_mono_ms() - t0 < 500);
	assert_int_equal(drops(f), 100);
	assert_int_equal(atomic_load(&f->fw.rings[1].hdr->drops), 100);
	drain(f);
	assert_int_equal(count(f, "up{job=\"x\"}", 0), 100);
	assert_int_equal(count(f, "up{job=\"x\"}", 1), 0);
	/* Room again: forwarding resumes. */
	fill_ring(f, 1, f->fw.rings[1].capacity);
	feed(f, "up", "x", 1000, 0);
	forward_flush(&f->fw);
	drain(f);
	assert_int_equal(count(f, "up{job=\"x\"}", 1), 1);
	assert_int_equal(drops(f), 100);
}

/* The configuration accepts 64 KiB alert rings: forwarding must work on
 * them (with smaller records), not drop everything. */
static void test_smallest_configurable_alert_ring_carries_samples(void **state)
{
	struct fx *f = *state;
	for (int t = 0; t < 50; t++)
		feed(f, "up", "x", t, 0);
	forward_flush(&f->fw);
	assert_int_equal(drops(f), 0);
	assert_int_equal(drain(f), 100);
	/* More than the ring holds at once: the rest is dropped and counted,
	 * and what went in is whole. */
	f->ngot = 0;
	for (int t = 0; t < 2000; t++)
		feed(f, "node_load1", "n", t, t);
	forward_flush(&f->fw);
	size_t got = drain(f);
	assert_true(got > 0);
	assert_int_equal(got + drops(f), 2000);
}

static void test_without_alerters_nothing_is_forwarded(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->fw.nalerters, 0);
	long a = feed(f, "up", "x", 1, 0);
	forward_flush(&f->fw);
	assert_int_equal(f->store.series[a].route_known, 0);
	assert_int_equal(drops(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_samples_of_selected_series_land_on_their_alerters_ring, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_route_is_computed_once_and_cached_in_the_series, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_many_samples_fill_several_records_and_all_arrive, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_full_alert_ring_drops_and_counts_without_waiting, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_smallest_configurable_alert_ring_carries_samples, fx_setup_small, fx_teardown),
		cmocka_unit_test_setup_teardown(test_without_alerters_nothing_is_forwarded, fx_setup_no_alerters, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
