/* test_apiserver_fanout: the query fan-out over real rings. A responder
 * thread plays two aggregators on the other ends of the rings (query ring
 * consumer, reply ring producer) and answers the way a test asks: series
 * in pieces, strings, foreign-qid records in between, an error status, or
 * silence. The stage is assembled by hand (no argv, no signals) under a
 * unique instance name that the teardown removes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/fanout.h"
#include "common/records.h"
#include "common/series.h"
#include "common/stage.h"

enum mode { MODE_ANSWER, MODE_ERROR, MODE_SILENT };

struct fx {
	struct stage st;
	struct fanout fo;
	struct ring q[2], r[2];   /* the aggregators' ends */
	pthread_t th;
	_Atomic int stop;
	_Atomic int mode;
	_Atomic int queries;      /* REC_QUERY records seen */
	char names[4][SEGMENT_NAME_MAX];
};

static int mkkey(uint8_t *out, const char *name, const char *job)
{
	struct series_label l = {"job", 3, job, strlen(job)};
	return series_key_build(out, 256, name, strlen(name), &l, 1);
}

static void put(struct ring *r, uint32_t type, const void *buf, int len)
{
	assert_true(len > 0);
	assert_int_equal(ring_write(r, type, buf, (uint32_t)len, 1000), 0);
}

/* Answers one query as aggregator j. */
static void answer(struct fx *f, int j, const struct rec_query *q)
{
	static uint8_t buf[8192];
	uint8_t key[256];
	struct ring *r = &f->r[j];
	int mode = f->mode;
	if (mode == MODE_SILENT && j == 1)
		return;
	/* A leftover answer to some other query first: must be skipped. */
	int kl = mkkey(key, "leftover", "x");
	struct rec_point junk = {1, 1};
	put(r, REC_SERIES, buf, rec_series_encode(buf, sizeof(buf), q->qid + 1000, key, (uint16_t)kl, &junk, 1));
	if (mode == MODE_ERROR && j == 1) {
		put(r, REC_END, buf, rec_end_encode(buf, sizeof(buf), q->qid, -E2BIG, "series limit 10 exceeded"));
		ring_publish(r);
		return;
	}
	if (q->kind == REC_Q_SELECT) {
		kl = mkkey(key, "up", j ? "b" : "a");
		struct rec_point p1[2] = {{1000, 1}, {2000, 2}}, p2[1] = {{3000, 3}};
		put(r, REC_SERIES, buf, rec_series_encode(buf, sizeof(buf), q->qid, key, (uint16_t)kl, p1, 2));
		ring_publish(r); /* the second piece comes in a later batch */
		put(r, REC_SERIES, buf, rec_series_encode(buf, sizeof(buf), q->qid, key, (uint16_t)kl, p2, 1));
	} else {
		struct rec_strings_writer w;
		rec_strings_begin(&w, buf, sizeof(buf), q->qid);
		rec_strings_add(&w, "job", 3);
		rec_strings_add(&w, j ? "zone" : "instance", j ? 4 : 8);
		rec_strings_add(&w, "__name__", 8);
		put(r, REC_STRINGS, buf, (int)rec_strings_end(&w));
	}
	put(r, REC_END, buf, rec_end_encode(buf, sizeof(buf), q->qid, 0, ""));
	ring_publish(r);
}

static void *responder(void *arg)
{
	struct fx *f = arg;
	while (!f->stop) {
		for (int j = 0; j < 2; j++) {
			struct ring_rec rec;
			if (!ring_wait_data(&f->q[j], 10))
				continue;
			while (ring_next(&f->q[j], &rec) == 1) {
				struct rec_query q;
				if (rec.type != REC_QUERY || rec_query_decode(&q, rec.data, rec.len) != 0)
					continue;
				f->queries++;
				answer(f, j, &q);
			}
			ring_release(&f->q[j]);
		}
	}
	return NULL;
}

static int fx_setup(void **state)
{
	static int counter;
	char json[256], err[256];
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(json, sizeof(json),
		 "{\"instance\":\"utfo%d-%d\",\"aggregators\":2,\"rings\":{\"query_bytes\":65536}}",
		 (int)getpid(), counter++);
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
	if (ctl_create(&f->st.ctl, f->st.cfg.instance, &shape) != 0)
		return -1;
	f->st.kind = CTL_APISERVER;
	f->st.slot = ctl_slot(&f->st.ctl, CTL_APISERVER, 0);
	/* Leftovers of an earlier incarnation in reply ring 0. */
	char shortn[32];
	for (int j = 0; j < 2; j++) {
		ctl_ring_query(shortn, sizeof(shortn), 0, (uint32_t)j);
		ctl_ring_shm_name(f->names[2 * j], SEGMENT_NAME_MAX, f->st.cfg.instance, shortn);
		ctl_ring_reply(shortn, sizeof(shortn), (uint32_t)j, 0);
		ctl_ring_shm_name(f->names[2 * j + 1], SEGMENT_NAME_MAX, f->st.cfg.instance, shortn);
		segment_unlink(f->names[2 * j]);
		segment_unlink(f->names[2 * j + 1]);
		if (ring_create(&f->r[j], f->names[2 * j + 1], shortn, 65536, RING_FULL_BLOCK, RING_ROLE_PRODUCER) != 0)
			return -1;
	}
	uint8_t buf[64];
	int n = rec_end_encode(buf, sizeof(buf), 42, 0, "");
	ring_write(&f->r[0], REC_END, buf, (uint32_t)n, 0);
	ring_write(&f->r[0], REC_END, buf, (uint32_t)n, 0);
	ring_publish(&f->r[0]);
	if (fanout_init(&f->fo, &f->st) != 0)
		return -1;
	for (int j = 0; j < 2; j++)
		if (ring_attach(&f->q[j], f->names[2 * j], RING_ROLE_CONSUMER) != 0)
			return -1;
	if (pthread_create(&f->th, NULL, responder, f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	f->stop = 1;
	pthread_join(f->th, NULL);
	fanout_fini(&f->fo);
	for (int j = 0; j < 2; j++) {
		ring_detach(&f->q[j]);
		ring_detach(&f->r[j]);
	}
	for (int i = 0; i < 4; i++)
		segment_unlink(f->names[i]);
	ctl_detach(&f->st.ctl);
	ctl_unlink(f->st.cfg.instance);
	config_free(&f->st.cfg);
	free(f);
	return 0;
}

static void test_init_releases_stale_replies(void **state)
{
	struct fx *f = *state;
	assert_int_equal(atomic_load(&f->fo.r[0].hdr->read_pos), atomic_load(&f->fo.r[0].hdr->write_pos));
	assert_int_equal(atomic_load(&f->fo.r[0].hdr->records_out), 2);
}

static void test_select_merges_pieces_from_every_aggregator(void **state)
{
	struct fx *f = *state;
	struct fanout_result res;
	struct rec_query q;
	fanout_result_init(&res);
	memset(&q, 0, sizeof(q));
	q.kind = REC_Q_SELECT;
	q.start_ms = 0;
	q.end_ms = 10000;
	for (int round = 0; round < 3; round++) {
		assert_int_equal(fanout_query(&f->fo, &q, 2000, &res), 0);
		assert_int_equal(res.nseries, 2);
		assert_int_equal(res.npoints, 6);
		for (size_t i = 0; i < 2; i++) {
			assert_int_equal(res.series[i].npts, 3);
			assert_int_equal(res.series[i].pts[2].ts_ms, 3000);
			size_t vl;
			const char *job = series_key_get(res.series[i].key, res.series[i].key_len, "job", &vl);
			assert_non_null(job);
			assert_true(vl == 1 && (job[0] == 'a' || job[0] == 'b'));
		}
		assert_true(f->fo.stale >= 2);
	}
	assert_int_equal(f->queries, 6);
	fanout_result_free(&res);
}

static void test_label_names_are_united(void **state)
{
	struct fx *f = *state;
	struct fanout_result res;
	struct rec_query q;
	fanout_result_init(&res);
	memset(&q, 0, sizeof(q));
	q.kind = REC_Q_LABEL_NAMES;
	assert_int_equal(fanout_query(&f->fo, &q, 2000, &res), 0);
	fanout_result_sort_strings(&res);
	assert_int_equal(res.nstrs, 4);
	const char *want[] = {"__name__", "instance", "job", "zone"};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(res.strs[i].len, strlen(want[i]));
		assert_memory_equal(res.sbuf + res.strs[i].off, want[i], strlen(want[i]));
	}
	fanout_result_free(&res);
}

static void test_aggregator_error_is_reported_with_its_message(void **state)
{
	struct fx *f = *state;
	struct fanout_result res;
	struct rec_query q;
	fanout_result_init(&res);
	memset(&q, 0, sizeof(q));
	q.kind = REC_Q_SELECT;
	f->mode = MODE_ERROR;
	assert_int_equal(fanout_query(&f->fo, &q, 2000, &res), -EREMOTEIO);
	assert_int_equal(res.status, -E2BIG);
	assert_string_equal(res.msg, "series limit 10 exceeded");
	/* The next query is not confused by anything left behind. */
	f->mode = MODE_ANSWER;
	assert_int_equal(fanout_query(&f->fo, &q, 2000, &res), 0);
	assert_int_equal(res.nseries, 2);
	fanout_result_free(&res);
}

static void test_silent_aggregator_times_out_and_later_queries_work(void **state)
{
	struct fx *f = *state;
	struct fanout_result res;
	struct rec_query q;
	fanout_result_init(&res);
	memset(&q, 0, sizeof(q));
	q.kind = REC_Q_SELECT;
	f->mode = MODE_SILENT;
	uint64_t t0 = segment_now_mono_ms();
	assert_int_equal(fanout_query(&f->fo, &q, 300, &res), -ETIMEDOUT);
	uint64_t dt = segment_now_mono_ms() - t0;
	assert_true(dt >= 300 && dt < 1500);
	f->mode = MODE_ANSWER;
	assert_int_equal(fanout_query(&f->fo, &q, 2000, &res), 0);
	assert_int_equal(res.nseries, 2);
	fanout_result_free(&res);
}

static void test_point_limit_ends_the_query(void **state)
{
	struct fx *f = *state;
	struct fanout_result res;
	struct rec_query q;
	fanout_result_init(&res);
	res.max_points = 4;
	memset(&q, 0, sizeof(q));
	q.kind = REC_Q_SELECT;
	assert_int_equal(fanout_query(&f->fo, &q, 2000, &res), -E2BIG);
	res.max_points = 0;
	assert_int_equal(fanout_query(&f->fo, &q, 2000, &res), 0);
	assert_int_equal(res.npoints, 6);
	fanout_result_free(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_releases_stale_replies, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_select_merges_pieces_from_every_aggregator, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_label_names_are_united, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_aggregator_error_is_reported_with_its_message, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_silent_aggregator_times_out_and_later_queries_work, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_point_limit_ends_the_query, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
