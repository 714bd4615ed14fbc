/* test_aggregator_tsdb: unit tests of aggregator/tsdb (blocks of a shard)
 * and of the head + blocks merge of aggregator/query.
 *
 * Each test gets a fresh shard directory under /tmp, a store, and a reply
 * ring (unique shm name). Answers are read back through query_serve and
 * summarised per query: series, points, a checksum of (key, ts, value) and
 * whether every series' timestamps strictly increase (no duplicates). The
 * clock of struct tsdb is replaced to test retention with old timestamps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aggregator/query.h"
#include "aggregator/store.h"
#include "aggregator/tsdb.h"
#include "common/records.h"
#include "common/series.h"
#include "shm/ring.h"
#include "shm/segment.h"

#define QID 0x7473646200000001ull
#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define T0 1700000000000LL /* an aligned day start is not needed */

struct sum {
	size_t series, points;
	uint64_t hash;
	int strict;               /* timestamps strictly increase per series */
	int32_t status;
	char msg[256];
	int ended;
};

struct fx {
	char dir[128], name[96];
	struct store st;
	struct tsdb t;
	struct ring p, c;
};

static int fx_n;
static int64_t fake_now;

static int64_t fake_clock(void)
{
	return fake_now;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	*state = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/mcs-utsdb-%d-%d", (int)getpid(), fx_n);
	snprintf(f->name, sizeof(f->name), "/mcs.uttsdb%d-%d.ring.a0-p0-r", (int)getpid(), fx_n++);
	segment_unlink(f->name);
	if (store_init(&f->st) || tsdb_open(&f->t, f->dir, NULL))
		return -1;
	if (ring_create(&f->p, f->name, "a0-p0-r", 8u << 20, RING_FULL_BLOCK, RING_ROLE_PRODUCER) != 0)
		return -1;
	return ring_attach(&f->c, f->name, RING_ROLE_CONSUMER) == 0 ? 0 : -1;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];
	ring_detach(&f->p);
	ring_detach(&f->c);
	segment_unlink(f->name);
	tsdb_close(&f->t);
	store_free(&f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Adds to series metric{i=<i>} the points from, from+step, .. < to with a
 * value derived from ts (gauge with 1 decimal). */
static void add(struct fx *f, int i, int64_t from, int64_t to, int64_t step)
{
	char v[16];
	struct series_label l = {"i", 1, v, 0};
	uint8_t key[SERIES_KEY_MAX];
	l.value_len = (size_t)snprintf(v, sizeof(v), "%d", i);
	int kl = series_key_build(key, sizeof(key), "metric", 6, &l, 1);
	assert_true(kl > 0);
	long idx = store_series_get(&f->st, series_id(key, (size_t)kl), key, (uint16_t)kl);
	assert_true(idx >= 0);
	for (int64_t t = from; t < to; t += step)
		assert_true(store_add(&f->st, (size_t)idx, t, (double)((t / step) % 1000) / 10.0 + i) >= 0);
}

/* Serves a query and summarises the answer. */
static struct sum run(struct fx *f, uint32_t kind, int64_t start, int64_t end, int64_t step)
{
	struct rec_query q;
	struct sum s = {.strict = 1};
	struct ring_rec rec;
	char last_key[SERIES_KEY_MAX + 1] = "";
	int64_t last_ts = INT64_MIN;
	memset(&q, 0, sizeof(q));
	q.qid = QID;
	q.kind = kind;
	q.start_ms = start;
	q.end_ms = end;
	q.step_ms = step;
	assert_int_equal(query_serve(&f->st, &f->t, &q, &f->p, 1000), 0);
	while (!s.ended && ring_next(&f->c, &rec) == 1) {
		if (rec.type == REC_SERIES) {
			struct rec_series rs;
			assert_int_equal(rec_series_decode(&rs, rec.data, rec.len), 0);
			if (rs.key_len != strlen(last_key) || memcmp(rs.key, last_key, rs.key_len) != 0) {
				s.series++;
				memcpy(last_key, rs.key, rs.key_len);
				last_key[rs.key_len] = 0;
				last_ts = INT64_MIN;
			}
			for (uint32_t k = 0; k < rs.npoints; k++) {
				struct rec_point p = rec_series_point(&rs, k);
				if (p.ts_ms <= last_ts)
					s.strict = 0;
				last_ts = p.ts_ms;
				uint64_t vb;
				memcpy(&vb, &p.value, 8);
				s.hash += (uint64_t)p.ts_ms * 0x9E3779B97F4A7C15ull ^ vb ^ rs.key_len;
				s.points++;
			}
		} else if (rec.type == REC_STRINGS) {
			struct rec_strings_iter it;
			const char *str;
			uint16_t len;
			assert_int_equal(rec_strings_iter_init(&it, rec.data, rec.len), 0);
			while (rec_strings_next(&it, &str, &len) == 1)
				s.points++;
		} else if (rec.type == REC_END) {
			struct rec_end e;
			assert_int_equal(rec_end_decode(&e, rec.data, rec.len), 0);
			s.status = e.status;
			snprintf(s.msg, sizeof(s.msg), "%.*s", (int)e.msg_len, e.msg);
			s.ended = 1;
		}
	}
	ring_release(&f->c);
	assert_true(s.ended);
	return s;
}

static void same(struct sum a, struct sum b)
{
	assert_int_equal(a.series, b.series);
	assert_int_equal(a.points, b.points);
	assert_true(a.hash == b.hash);
	assert_true(a.strict && b.strict);
}

static void fill(struct fx *f, int64_t from, int64_t to)
{
	for (int i = 0; i < 50; i++)
		add(f, i, from, to, 15000);
}

static size_t count_tier(const struct fx *f, int tier)
{
	size_t n = 0;
	for (size_t i = 0; i < f->t.nblocks; i++)
		n += f->t.blocks[i].tier == tier;
	return n;
}

static void test_flush_answers_exactly_what_the_head_did(void **state)
{
	struct fx *f = *state;
	fill(f, T0, T0 + 3 * HOUR);
	struct sum before = run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0);
	struct sum part = run(f, REC_Q_SELECT, T0 + HOUR, T0 + HOUR + 600000, 0);
	struct sum names = run(f, REC_Q_LABEL_NAMES, INT64_MIN, INT64_MAX, 0);
	assert_int_equal(before.series, 50);
	assert_int_equal(before.points, 50 * 720);
	struct tsdb_flush_result r;
	assert_int_equal(tsdb_flush_head(&f->t, &f->st, NULL, &r), 0);
	assert_int_equal(r.blocks_written, 1);
	assert_int_equal(r.samples, 50 * 720);
	assert_int_equal(f->st.samples, 0);
	assert_int_equal(f->st.nseries, 50); /* entries stay */
	same(run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0), before);
	same(run(f, REC_Q_SELECT, T0 + HOUR, T0 + HOUR + 600000, 0), part);
	assert_int_equal(run(f, REC_Q_LABEL_NAMES, INT64_MIN, INT64_MAX, 0).points, names.points);
	assert_int_equal(run(f, REC_Q_SERIES, INT64_MIN, INT64_MAX, 0).series, 50);
	printf("bytes/sample after flush: %.3f\n", (double)r.bytes / (double)r.samples);
}

static void test_reopen_gives_the_same_answers(void **state)
{
	struct fx *f = *state;
	fill(f, T0, T0 + 2 * HOUR);
	assert_int_equal(tsdb_flush_head(&f->t, &f->st, NULL, NULL), 0);
	struct sum a = run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0);
	tsdb_close(&f->t);
	/* leftovers a crash leaves: an unfinished block */
	char p[256];
	snprintf(p, sizeof(p), "%s/blocks/raw/.tmp-XYZ", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(tsdb_open(&f->t, f->dir, NULL), 0);
	assert_int_equal(access(p, F_OK), -1);
	same(run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0), a);
}

static void flip_byte(const char *path, long off)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct stat sb;
	fstat(fd, &sb);
	if (off < 0)
		off += sb.st_size;
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void test_damaged_block_is_quarantined_and_the_rest_served(void **state)
{
	struct fx *f = *state;
	fill(f, T0, T0 + HOUR);
	assert_int_equal(tsdb_flush_head(&f->t, &f->st, NULL, NULL), 0);
	fill(f, T0 + DAY, T0 + DAY + HOUR);
	assert_int_equal(tsdb_flush_head(&f->t, &f->st, NULL, NULL), 0);
	assert_int_equal(f->t.nblocks, 2);
	struct sum second = run(f, REC_Q_SELECT, T0 + DAY, INT64_MAX, 0);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/index", f->t.blocks[0].path);
	tsdb_close(&f->t);
	flip_byte(path, 200);
	assert_int_equal(tsdb_open(&f->t, f->dir, NULL), 0);
	assert_int_equal(f->t.nblocks, 1);
	assert_int_equal(f->t.st.quarantined, 1);
	same(run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0), second);
	/* damage in a frame is found while reading: quarantined, rest served */
	snprintf(path, sizeof(path), "%s/chunks", f->t.blocks[0].path);
	flip_byte(path, -10);
	tsdb_close(&f->t); /* the open block caches its last frame */
	assert_int_equal(tsdb_open(&f->t, f->dir, NULL), 0);
	assert_int_equal(f->t.nblocks, 1);
	struct sum s = run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0);
	assert_int_equal(s.status, 0);
	assert_int_equal(f->t.nblocks, 0);
}

static void test_compaction_keeps_answers_identical(void **state)
{
	struct fx *f = *state;
	int64_t day = (T0 / DAY) * DAY;
	for (int k = 0; k < 4; k++) {
		fill(f, day + k * 2 * HOUR, day + (k + 1) * 2 * HOUR);
		add(f, 0, day + (k + 1) * 2 * HOUR - 15000, day + (k + 1) * 2 * HOUR + 1, 15000); /* overlap */
		assert_int_equal(tsdb_flush_head(&f->t, &f->st, NULL, NULL), 0);
	}
	assert_int_equal(f->t.nblocks, 4);
	struct sum a = run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0);
	struct tsdb_flush_result r = {0};
	assert_int_equal(tsdb_compact(&f->t, 1, &r), 0);
	assert_int_equal(r.compacted, 4);
	assert_int_equal(f->t.nblocks, 1);
	same(run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0), a);
	tsdb_close(&f->t);
	assert_int_equal(tsdb_open(&f->t, f->dir, NULL), 0);
	same(run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0), a);
}

static void test_retention_deletes_old_raw_blocks_once_rollups_exist(void **state)
{
	struct fx *f = *state;
	int64_t day = (T0 / DAY) * DAY;
	fill(f, day, day + 6 * HOUR);
	assert_int_equal(tsdb_flush_head(&f->t, &f->st, NULL, NULL), 0);
	struct sum raw = run(f, REC_Q_SELECT, day, day + 6 * HOUR, 0);
	f->t.now_ms = fake_clock;
	fake_now = day + 6 * HOUR + 10 * 60000; /* recent: raw kept */
	struct tsdb_flush_result r = {0};
	assert_int_equal(tsdb_maintain(&f->t, 0, &r), 0);
	assert_int_equal(count_tier(f, 0), 1);
	assert_true(count_tier(f, 1) >= 1); /* 5m buckets up to an hour behind */
	assert_int_equal(r.deleted, 0);
	fake_now = day + 10 * DAY; /* raw (7 d) expired; 5m (30 d) not */
	memset(&r, 0, sizeof(r));
	assert_int_equal(tsdb_maintain(&f->t, 0, &r), 0);
	assert_int_equal(r.deleted, 0); /* the shard's clock is its newest sample */
	fill(f, day + 10 * DAY - HOUR, day + 10 * DAY);
	assert_int_equal(tsdb_flush_head(&f->t, &f->st, NULL, NULL), 0);
	assert_int_equal(tsdb_maintain(&f->t, 0, &r), 0);
	assert_int_equal(count_tier(f, 0), 1); /* only the new raw block is left */
	assert_true(count_tier(f, 1) >= 1);
	assert_true(count_tier(f, 2) >= 1);
	assert_true(r.deleted >= 1);
	/* a 5m-step query is answered from the 5m tier, one point per bucket */
	struct sum s = run(f, REC_Q_SELECT, day, day + 6 * HOUR, 300000);
	assert_int_equal(s.series, 50);
	assert_int_equal(s.points, 50 * 73); /* bucket ends day .. day + 6 h */
	assert_string_equal(s.msg, "tier=5m");
	(void)raw;
	/* progress survives a restart: nothing is rolled twice */
	tsdb_close(&f->t);
	assert_int_equal(tsdb_open(&f->t, f->dir, NULL), 0);
	f->t.now_ms = fake_clock;
	size_t nb = f->t.nblocks;
	assert_int_equal(tsdb_maintain(&f->t, 1, NULL), 0);
	assert_true(f->t.nblocks <= nb);
	s = run(f, REC_Q_SELECT, day, day + 6 * HOUR, 300000);
	assert_int_equal(s.points, 50 * 73); /* bucket ends day .. day + 6 h */
}

static void test_query_across_block_and_head_is_a_union_without_duplicates(void **state)
{
	struct fx *f = *state;
	fill(f, T0, T0 + 2 * HOUR);
	assert_int_equal(tsdb_flush_head(&f->t, &f->st, NULL, NULL), 0);
	/* re-delivery after the flush: the last 10 minutes again, then new data */
	fill(f, T0 + 2 * HOUR - 600000, T0 + 3 * HOUR);
	add(f, 99, T0, T0 + 60000, 15000); /* a series only in the head */
	struct sum s = run(f, REC_Q_SELECT, INT64_MIN, INT64_MAX, 0);
	assert_int_equal(s.series, 51);
	assert_int_equal(s.points, 50 * 720 + 4);
	assert_true(s.strict);
	assert_int_equal(run(f, REC_Q_SERIES, INT64_MIN, INT64_MAX, 0).series, 51);
	struct sum st = run(f, REC_Q_STATUS, INT64_MIN, INT64_MAX, 0);
	assert_int_equal(st.points, 1);
	char *json = NULL;
	assert_int_equal(tsdb_status_json(&f->t, &f->st, &json), 0);
	assert_non_null(strstr(json, "\"series\":51,"));
	assert_non_null(strstr(json, "\"top_metrics\":[[\"metric\",51]]"));
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flush_answers_exactly_what_the_head_did, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_gives_the_same_answers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_block_is_quarantined_and_the_rest_served, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_compaction_keeps_answers_identical, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_retention_deletes_old_raw_blocks_once_rollups_exist, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_query_across_block_and_head_is_a_union_without_duplicates, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
