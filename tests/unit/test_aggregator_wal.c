/* test_aggregator_wal: unit tests of aggregator/wal, the shard's
 * write-ahead log.
 *
 * Every payload is generated from its index (first 8 bytes = the index,
 * then a pattern of it), so a replay can check each record's bytes and the
 * order without keeping copies. Damage is made by editing the files the
 * way a crash or a bad disk would: cutting the last segment at every byte
 * offset of its last record and of its header, flipping bytes in a middle
 * segment. I/O failures come through the wal_sys table: writes and fsyncs
 * completing with -EIO, ftruncate failing, io_uring unavailable; fsyncs
 * are counted there too, against a fake clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>
#include <sys/wait.h>

#include "aggregator/store.h"
#include "aggregator/wal.h"
#include "common/records.h"
#include "common/series.h"

/* ---- fixtures ---- */

static char tdir[64];
static struct wal_sys real_sys;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static int setup(void **state)
{
	real_sys = wal_sys;
	snprintf(tdir, sizeof(tdir), "/tmp/mcs-wal-XXXXXX");
	assert_non_null(mkdtemp(tdir));
	return 0;
}

static int teardown(void **state)
{
	wal_sys = real_sys;
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* Payload of record i: its length varies with i, min 8. */
static size_t gen_len(uint64_t i, size_t max)
{
	return 8 + (i * 2654435761u) % (max - 7);
}

static void gen(uint8_t *p, uint64_t i, size_t len)
{
	memcpy(p, &i, 8);
	for (size_t j = 8; j < len; j++)
		p[j] = (uint8_t)(i * 31 + j);
}

struct got {
	uint64_t idx[20000];
	uint8_t type[20000];
	size_t n;
	int bad; /* a payload did not match its index */
};

static int collect(void *ctx, uint8_t type, const void *payload, size_t len)
{
	struct got *g = ctx;
	uint8_t ref[70000];
	uint64_t i;
	if (len < 8 || len > sizeof(ref) || g->n == 20000) {
		g->bad = 1;
		return 0;
	}
	memcpy(&i, payload, 8);
	gen(ref, i, len);
	if (memcmp(ref, payload, len))
		g->bad = 1;
	g->idx[g->n] = i;
	g->type[g->n++] = type;
	return 0;
}

static struct got *replay(uint64_t from, struct wal_replay_stats *st)
{
	static struct got g;
	memset(&g, 0, sizeof(g));
	assert_int_equal(wal_replay(tdir, from, 0, collect, &g, st), 0);
	assert_int_equal(g.bad, 0);
	return &g;
}

static void append_range(struct wal *w, uint64_t from, uint64_t to, size_t max, int per_flush)
{
	uint8_t p[70000];
	for (uint64_t i = from; i < to; i++) {
		size_t len = gen_len(i, max);
		gen(p, i, len);
		assert_int_equal(wal_append(w, 1, p, len), 0);
		if (per_flush && (i + 1) % (uint64_t)per_flush == 0)
			assert_int_equal(wal_flush(w), 0);
	}
	assert_int_equal(wal_flush(w), 0);
}

static void assert_seq(const struct got *g, uint64_t from, uint64_t to)
{
	assert_int_equal(g->n, to - from);
	for (size_t k = 0; k < g->n; k++)
		assert_int_equal(g->idx[k], from + k);
}

/* Segment numbers present in tdir, ascending. */
static size_t list_segs(uint64_t *out, size_t cap)
{
	DIR *d = opendir(tdir);
	struct dirent *e;
	size_t n = 0;
	assert_non_null(d);
	while ((e = readdir(d))) {
		unsigned long long v;
		char tail[16];
		if (sscanf(e->d_name, "%llu.%15s", &v, tail) == 2 && !strcmp(tail, "wal") && n < cap)
			out[n++] = v;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
			uint64_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static void seg_path(char *out, size_t cap, uint64_t num)
{
	snprintf(out, cap, "%s/%08llu.wal", tdir, (unsigned long long)num);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat sb;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	uint8_t *b = malloc((size_t)sb.st_size + 1);
	assert_int_equal(pread(fd, b, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return b;
}

static void write_file(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

/* Offsets of the records of a segment image (walks the documented format). */
static size_t rec_offsets(const uint8_t *b, size_t len, size_t *off, size_t cap)
{
	size_t n = 0, o = WAL_SEG_HDR;
	while (o + WAL_REC_HDR <= len && n < cap) {
		uint32_t l;
		memcpy(&l, b + o, 4);
		off[n++] = o;
		o += WAL_REC_HDR + ((l + 7u) & ~7u);
	}
	return n;
}

static const struct wal_opts small = {.seg_size = 16384, .buf_size = 4096, .sync = WAL_SYNC_NONE};

/* ---- round trip ---- */

static void test_wal_replays_every_record_in_order_across_rotations(void **state)
{
	struct wal w;
	struct wal_replay_stats st;
	uint64_t segs[512];
	assert_int_equal(wal_open(&w, tdir, &small), 0);
	append_range(&w, 0, 3000, 1500, 7);
	assert_int_equal(w.st.records, 3000);
	assert_true(w.st.rotations > 50);
	wal_close(&w);
	struct got *g = replay(0, &st);
	assert_seq(g, 0, 3000);
	assert_int_equal(st.lost_bytes, 0);
	assert_int_equal(st.truncated, 0);
	size_t n = list_segs(segs, 512);
	assert_int_equal(st.segments, n);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		char p[128];
		seg_path(p, sizeof(p), segs[i]);
		assert_int_equal(stat(p, &sb), 0);
		assert_true((uint64_t)sb.st_size <= small.seg_size);
		assert_int_equal(segs[i], i + 1);
	}
}

static void test_wal_reopen_appends_after_the_last_record_of_the_last_segment(void **state)
{
	struct wal w;
	assert_int_equal(wal_open(&w, tdir, NULL), 0);
	append_range(&w, 0, 10, 200, 0);
	wal_close(&w);
	assert_int_equal(wal_open(&w, tdir, NULL), 0);
	assert_int_equal(w.seg, 1);
	append_range(&w, 10, 20, 200, 0);
	wal_close(&w);
	assert_seq(replay(0, NULL), 0, 20);
}

static void test_wal_rejects_type_zero_and_oversized_records_without_staging(void **state)
{
	struct wal w;
	static uint8_t big[WAL_REC_MAX + 1];
	assert_int_equal(wal_open(&w, tdir, NULL), 0);
	assert_int_equal(wal_append(&w, 0, big, 8), -EINVAL);
	assert_int_equal(wal_append(&w, 1, big, sizeof(big)), -EINVAL);
	assert_int_equal(w.st.records, 0);
	append_range(&w, 0, 3, 100, 0);
	wal_close(&w);
	assert_seq(replay(0, NULL), 0, 3);
}

static void test_wal_record_larger_than_the_staging_buffer_round_trips(void **state)
{
	struct wal w;
	struct wal_opts o = {.buf_size = 4096, .sync = WAL_SYNC_NONE};
	uint8_t p[65536];
	assert_int_equal(wal_open(&w, tdir, &o), 0);
	for (uint64_t i = 0; i < 20; i++) {
		size_t len = i % 2 ? 65536 : 100;
		gen(p, i, len);
		assert_int_equal(wal_append(&w, 2, p, len), 0);
	}
	assert_int_equal(wal_flush(&w), 0);
	wal_close(&w);
	struct got *g = replay(0, NULL);
	assert_seq(g, 0, 20);
	assert_int_equal(g->type[5], 2);
}

static void test_wal_replay_from_a_segment_skips_the_older_ones(void **state)
{
	struct wal w;
	uint64_t segs[64];
	size_t off[64], blen;
	char p[128];
	assert_int_equal(wal_open(&w, tdir, &small), 0);
	append_range(&w, 0, 100, 1000, 5);
	wal_close(&w);
	assert_true(list_segs(segs, 64) >= 3);
	/* Records before segment 3 = records in segments 1 and 2. */
	size_t before = 0;
	for (uint64_t s = 1; s <= 2; s++) {
		seg_path(p, sizeof(p), s);
		uint8_t *b = read_file(p, &blen);
		before += rec_offsets(b, blen, off, 64);
		free(b);
	}
	assert_seq(replay(3, NULL), before, 100);
}

/* ---- torn tails ---- */

/* Cuts the last segment at every byte offset of its last record: replay
 * gives exactly the records before it, cuts the file back to the record's
 * start, and the writer appends after it. */
static void test_wal_replay_after_cut_at_every_byte_of_last_record_keeps_the_rest(void **state)
{
	struct wal w;
	struct wal_replay_stats st;
	uint64_t segs[64];
	size_t off[256], len;
	char p[128];
	assert_int_equal(wal_open(&w, tdir, &small), 0);
	append_range(&w, 0, 40, 1000, 3);
	wal_close(&w);
	size_t ns = list_segs(segs, 64);
	assert_true(ns >= 2);
	seg_path(p, sizeof(p), segs[ns - 1]);
	uint8_t *orig = read_file(p, &len);
	size_t nrec = rec_offsets(orig, len, off, 256);
	size_t last = off[nrec - 1];
	assert_true(len - last > WAL_REC_HDR + 8);
	for (size_t cut = last; cut < len; cut++) {
		write_file(p, orig, cut);
		struct got *g = replay(0, &st);
		assert_seq(g, 0, 39);
		assert_int_equal(st.truncated, cut > last);
		assert_int_equal(st.lost_bytes, cut - last);
		struct stat sb;
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal((size_t)sb.st_size, last);
		/* The writer resumes at the cut; the record can be written again. */
		assert_int_equal(wal_open(&w, tdir, &small), 0);
		assert_int_equal(w.seg, segs[ns - 1]);
		append_range(&w, 39, 40, 1000, 0);
		wal_close(&w);
		g = replay(0, &st);
		assert_seq(g, 0, 40);
		assert_int_equal(st.truncated, 0);
	}
	free(orig);
}

/* A segment cut inside its header (a crash while creating it) is removed;
 * one with a full but damaged header is quarantined; the writer then starts
 * a fresh segment and nothing before it is lost. */
static void test_wal_replay_after_cut_at_every_byte_of_last_segment_header(void **state)
{
	struct wal w;
	struct wal_replay_stats st;
	size_t len;
	char p[128], q[160];
	uint64_t first_new;
	for (size_t cut = 0; cut <= WAL_SEG_HDR; cut++) {
		nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		assert_int_equal(wal_open(&w, tdir, &small), 0);
		append_range(&w, 0, 30, 1000, 3);
		assert_int_equal(wal_rotate(&w, &first_new), 0);
		wal_close(&w);
		seg_path(p, sizeof(p), first_new);
		uint8_t *orig = read_file(p, &len);
		assert_int_equal(len, WAL_SEG_HDR);
		if (cut == WAL_SEG_HDR) /* full length, a flipped byte in the number */
			orig[20] ^= 0x40;
		write_file(p, orig, cut);
		free(orig);
		struct got *g = replay(0, &st);
		assert_seq(g, 0, 30);
		assert_int_equal(st.truncated, 1);
		assert_int_equal(st.lost_bytes, cut);
		assert_int_equal(access(p, F_OK), -1);
		snprintf(q, sizeof(q), "%s.corrupt", p);
		assert_int_equal(access(q, F_OK), cut == WAL_SEG_HDR ? 0 : -1);
		assert_int_equal(wal_open(&w, tdir, &small), 0);
		append_range(&w, 30, 31, 1000, 0);
		wal_close(&w);
		assert_seq(replay(0, &st), 0, 31);
		assert_int_equal(st.truncated, 0);
	}
}

/* ---- corruption ---- */

static void test_wal_flipped_byte_in_middle_segment_skips_only_the_rest_of_it(void **state)
{
	struct wal w;
	struct wal_replay_stats st;
	uint64_t segs[64];
	size_t off[256], len;
	char p[128];
	assert_int_equal(wal_open(&w, tdir, &small), 0);
	append_range(&w, 0, 120, 1000, 4);
	wal_close(&w);
	size_t ns = list_segs(segs, 64);
	assert_true(ns >= 4);
	/* Records before segment 2 and in it. */
	size_t before = 0, in2 = 0;
	seg_path(p, sizeof(p), 1);
	uint8_t *b = read_file(p, &len);
	before = rec_offsets(b, len, off, 256);
	free(b);
	seg_path(p, sizeof(p), 2);
	b = read_file(p, &len);
	in2 = rec_offsets(b, len, off, 256);
	assert_true(in2 >= 3);
	/* Flip one bit in record 2's payload, then in record 1's length. */
	size_t k = 2;
	b[off[k] + WAL_REC_HDR + 3] ^= 0x10;
	write_file(p, b, len);
	struct got *g = replay(0, &st);
	assert_int_equal(st.lost_bytes, len - off[k]);
	assert_int_equal(st.truncated, 0);
	assert_int_equal(g->n, 120 - (in2 - k));
	for (size_t i = 0; i < g->n; i++)
		assert_int_equal(g->idx[i], i < before + k ? i : i + (in2 - k));
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal((size_t)sb.st_size, len); /* a middle segment is never cut */
	b[off[1] + 1] ^= 0x01;
	write_file(p, b, len);
	g = replay(0, &st);
	assert_int_equal(g->n, 120 - (in2 - 1));
	/* A damaged header loses the whole segment and nothing else. */
	b[20] ^= 0xff;
	write_file(p, b, len);
	g = replay(0, &st);
	assert_int_equal(g->n, 120 - in2);
	assert_int_equal(st.lost_bytes, len);
	free(b);
	/* The writer is unaffected: it appends to the last segment. */
	assert_int_equal(wal_open(&w, tdir, &small), 0);
	append_range(&w, 120, 121, 1000, 0);
	wal_close(&w);
	g = replay(0, &st);
	assert_int_equal(g->idx[g->n - 1], 120);
}

static void test_wal_flipped_byte_in_last_segment_cuts_it_there(void **state)
{
	struct wal w;
	struct wal_replay_stats st;
	uint64_t segs[64];
	size_t off[256], len;
	char p[128];
	assert_int_equal(wal_open(&w, tdir, &small), 0);
	append_range(&w, 0, 50, 1000, 4);
	wal_close(&w);
	size_t ns = list_segs(segs, 64);
	seg_path(p, sizeof(p), segs[ns - 1]);
	uint8_t *b = read_file(p, &len);
	size_t nrec = rec_offsets(b, len, off, 256);
	assert_true(nrec >= 2);
	b[off[1] + WAL_REC_HDR] ^= 0x80;
	write_file(p, b, len);
	struct got *g = replay(0, &st);
	assert_seq(g, 0, 50 - (nrec - 1));
	assert_int_equal(st.truncated, 1);
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal((size_t)sb.st_size, off[1]);
	free(b);
}

static void test_wal_readonly_replay_reports_damage_and_changes_nothing(void **state)
{
	struct wal w;
	struct wal_replay_stats st;
	struct got g = {0};
	uint64_t segs[8];
	size_t len;
	char p[128];
	assert_int_equal(wal_open(&w, tdir, NULL), 0);
	append_range(&w, 0, 10, 100, 0);
	wal_close(&w);
	list_segs(segs, 8);
	seg_path(p, sizeof(p), segs[0]);
	uint8_t *b = read_file(p, &len);
	write_file(p, b, len - 3);
	assert_int_equal(wal_replay(tdir, 0, WAL_REPLAY_READONLY, collect, &g, &st), 0);
	assert_int_equal(g.n, 9);
	assert_int_equal(st.lost_bytes, len - 3 - (len - (WAL_REC_HDR + ((gen_len(9, 100) + 7) & ~7u))));
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal((size_t)sb.st_size, len - 3);
	free(b);
}

/* ---- fsync policies (fake clock, counted through wal_sys.complete) ---- */

static uint64_t fake_now;
static int n_fsync, n_write, fail_writes, fail_fsyncs;

static uint64_t fake_now_ms(void)
{
	return fake_now;
}

static int hook_complete(enum wal_op op, int res)
{
	if (op == WAL_OP_FSYNC) {
		n_fsync++;
		return fail_fsyncs ? -EIO : res;
	}
	n_write++;
	return fail_writes ? -EIO : res;
}

static void hooks_on(void)
{
	fake_now = 1000000;
	n_fsync = n_write = fail_writes = fail_fsyncs = 0;
	wal_sys.now_ms = fake_now_ms;
	wal_sys.complete = hook_complete;
}

static void wait_fsync(struct wal *w)
{
	while (w->fsync_inflight)
		assert_int_equal(wal_tick(w), 0);
}

static void test_wal_batch_policy_fsyncs_in_every_flush_that_wrote(void **state)
{
	struct wal w;
	struct wal_opts o = {.sync = WAL_SYNC_BATCH};
	hooks_on();
	assert_int_equal(wal_open(&w, tdir, &o), 0);
	for (int i = 0; i < 10; i++) {
		append_range(&w, (uint64_t)i * 3, (uint64_t)i * 3 + 3, 300, 0);
		assert_int_equal(w.fsync_inflight, 0);
		assert_int_equal(n_fsync, i + 1);
	}
	assert_int_equal(wal_flush(&w), 0); /* nothing new: no fsync */
	assert_int_equal(n_fsync, 10);
	wal_close(&w);
	assert_int_equal(n_fsync, 10);
	assert_seq(replay(0, NULL), 0, 30);
}

static void test_wal_interval_policy_fsyncs_at_most_once_per_interval(void **state)
{
	struct wal w;
	struct wal_opts o = {.sync = WAL_SYNC_INTERVAL, .interval_ms = 1000};
	hooks_on();
	assert_int_equal(wal_open(&w, tdir, &o), 0);
	for (int i = 0; i < 20; i++) {
		append_range(&w, (uint64_t)i, (uint64_t)i + 1, 300, 0);
		fake_now += 40; /* 20 flushes within 800 ms */
	}
	wait_fsync(&w);
	assert_int_equal(n_fsync, 0);
	fake_now += 200; /* the interval has passed: the idle tick syncs */
	assert_int_equal(wal_tick(&w), 0);
	wait_fsync(&w);
	assert_int_equal(n_fsync, 1);
	fake_now += 5000; /* nothing written since: no fsync */
	assert_int_equal(wal_tick(&w), 0);
	wait_fsync(&w);
	assert_int_equal(n_fsync, 1);
	append_range(&w, 20, 21, 300, 0); /* due at once: the flush starts it */
	wait_fsync(&w);
	assert_int_equal(n_fsync, 2);
	append_range(&w, 21, 22, 300, 0);
	wal_close(&w); /* close syncs what is left */
	assert_int_equal(n_fsync, 3);
	assert_int_equal(w.st.fsyncs, 3);
}

static void test_wal_none_policy_never_fsyncs(void **state)
{
	struct wal w;
	struct wal_opts o = {.sync = WAL_SYNC_NONE, .seg_size = 8192};
	hooks_on();
	assert_int_equal(wal_open(&w, tdir, &o), 0);
	for (int i = 0; i < 50; i++) {
		append_range(&w, (uint64_t)i * 4, (uint64_t)i * 4 + 4, 500, 0);
		fake_now += 10000;
		wal_tick(&w);
	}
	assert_true(w.st.rotations > 3);
	wal_close(&w);
	assert_int_equal(n_fsync, 0);
	assert_true(n_write > 0);
}

static void test_wal_sync_policy_names_parse(void **state)
{
	enum wal_sync s;
	assert_int_equal(wal_sync_parse("batch", &s), 0);
	assert_int_equal(s, WAL_SYNC_BATCH);
	assert_int_equal(wal_sync_parse("interval", &s), 0);
	assert_int_equal(s, WAL_SYNC_INTERVAL);
	assert_int_equal(wal_sync_parse("none", &s), 0);
	assert_int_equal(s, WAL_SYNC_NONE);
	assert_int_equal(wal_sync_parse("sometimes", &s), -EINVAL);
}

/* ---- failures ---- */

/* A write completing with -EIO fails the flush, the failed batch never
 * reaches the log, and the next batch is written after the last good one. */
static void test_wal_failed_write_fails_the_flush_and_drops_only_that_batch(void **state)
{
	struct wal w;
	uint8_t p[512];
	hooks_on();
	assert_int_equal(wal_open(&w, tdir, NULL), 0);
	append_range(&w, 0, 10, 300, 0);
	fail_writes = 1;
	for (uint64_t i = 1000; i < 1005; i++) {
		gen(p, i, 100);
		assert_int_equal(wal_append(&w, 1, p, 100), 0);
	}
	assert_int_equal(wal_flush(&w), -EIO);
	assert_int_equal(w.st.errors, 1);
	fail_writes = 0;
	append_range(&w, 10, 20, 300, 0);
	wal_close(&w);
	struct wal_replay_stats st;
	assert_seq(replay(0, &st), 0, 20);
	assert_int_equal(st.lost_bytes, 0);
}

/* With a small staging buffer the failure surfaces in wal_append itself. */
static void test_wal_failed_background_write_fails_the_append(void **state)
{
	struct wal w;
	struct wal_opts o = {.buf_size = 1024};
	uint8_t p[512];
	int rc = 0;
	hooks_on();
	assert_int_equal(wal_open(&w, tdir, &o), 0);
	append_range(&w, 0, 5, 300, 0);
	fail_writes = 1;
	for (uint64_t i = 1000; i < 1100 && rc == 0; i++) {
		gen(p, i, 400);
		rc = wal_append(&w, 1, p, 400);
	}
	assert_int_equal(rc, -EIO);
	fail_writes = 0;
	append_range(&w, 5, 10, 300, 0);
	wal_close(&w);
	assert_seq(replay(0, NULL), 0, 10);
}

static int fail_ftruncate(int fd, off_t len)
{
	errno = EIO;
	return -1;
}

static void test_wal_failed_cut_after_failed_write_breaks_the_log_for_good(void **state)
{
	struct wal w;
	uint8_t p[64];
	hooks_on();
	assert_int_equal(wal_open(&w, tdir, NULL), 0);
	append_range(&w, 0, 3, 300, 0);
	fail_writes = 1;
	wal_sys.ftruncate = fail_ftruncate;
	gen(p, 99, 64);
	assert_int_equal(wal_append(&w, 1, p, 64), 0);
	assert_int_equal(wal_flush(&w), -EIO);
	fail_writes = 0;
	wal_sys.ftruncate = real_sys.ftruncate;
	assert_int_equal(wal_append(&w, 1, p, 64), -EIO);
	assert_int_equal(wal_flush(&w), -EIO);
	wal_close(&w);
}

static void test_wal_failed_fsync_breaks_the_log_for_good(void **state)
{
	struct wal w;
	struct wal_opts o = {.sync = WAL_SYNC_BATCH};
	uint8_t p[64];
	hooks_on();
	assert_int_equal(wal_open(&w, tdir, &o), 0);
	gen(p, 0, 64);
	assert_int_equal(wal_append(&w, 1, p, 64), 0);
	fail_fsyncs = 1;
	assert_int_equal(wal_flush(&w), -EIO);
	fail_fsyncs = 0;
	assert_int_equal(wal_append(&w, 1, p, 64), -EIO);
	wal_close(&w);
}

static int no_uring(unsigned entries, struct io_uring *ring, unsigned flags)
{
	return -ENOSYS;
}

static void test_wal_without_io_uring_falls_back_to_pwrite(void **state)
{
	struct wal w;
	struct wal_opts o = {.seg_size = 16384, .buf_size = 2048, .sync = WAL_SYNC_BATCH};
	hooks_on();
	wal_sys.uring_init = no_uring;
	assert_int_equal(wal_open(&w, tdir, &o), 0);
	assert_int_equal(w.have_ring, 0);
	append_range(&w, 0, 200, 1000, 10);
	assert_true(n_fsync >= 20 && n_fsync <= 20 + (int)w.st.rotations);
	fail_writes = 1;
	uint8_t p[64];
	gen(p, 999, 64);
	assert_int_equal(wal_append(&w, 1, p, 64), 0);
	assert_int_equal(wal_flush(&w), -EIO);
	fail_writes = 0;
	append_range(&w, 200, 210, 1000, 0);
	wal_close(&w);
	assert_seq(replay(0, NULL), 0, 210);
}

/* ---- checkpoints ---- */

static void test_wal_checkpoint_replaces_older_segments_and_replays_first(void **state)
{
	struct wal w;
	struct wal_ckpt c;
	struct wal_replay_stats st;
	uint64_t segs[64];
	uint8_t p[64];
	char tmp[128];
	assert_int_equal(wal_open(&w, tdir, &small), 0);
	append_range(&w, 0, 100, 1000, 5);
	assert_true(w.seg >= 3);
	/* A leftover of a crashed checkpoint is ignored and removed. */
	snprintf(tmp, sizeof(tmp), "%s/checkpoint.00000001.tmp", tdir);
	write_file(tmp, (const uint8_t *)"junk", 4);
	assert_int_equal(wal_ckpt_begin(&c, &w), 0);
	for (uint64_t i = 5000; i < 5010; i++) { /* the "head snapshot" */
		gen(p, i, 64);
		assert_int_equal(wal_ckpt_add(&c, 7, p, 64), 0);
	}
	assert_int_equal(wal_ckpt_commit(&c, &w), 0);
	assert_int_equal(list_segs(segs, 64), 1);
	assert_int_equal(segs[0], c.num);
	append_range(&w, 100, 110, 1000, 0);
	wal_close(&w);
	struct got *g = replay(0, &st);
	assert_int_equal(st.checkpoint, c.num);
	assert_int_equal(g->n, 20);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(g->idx[i], 5000 + i);
		assert_int_equal(g->type[i], 7);
		assert_int_equal(g->idx[10 + i], 100 + i);
	}
	assert_int_equal(access(tmp, F_OK), -1);
	/* A plain wal_checkpoint deletes the checkpoint once it is below. */
	assert_int_equal(wal_open(&w, tdir, &small), 0);
	uint64_t cut;
	assert_int_equal(wal_rotate(&w, &cut), 0);
	assert_int_equal(wal_checkpoint(&w, cut), 0);
	wal_close(&w);
	g = replay(0, &st);
	assert_int_equal(g->n, 0);
	assert_int_equal(st.checkpoint, 0);
}

static void test_wal_aborted_checkpoint_leaves_the_segments(void **state)
{
	struct wal w;
	struct wal_ckpt c;
	uint8_t p[64];
	assert_int_equal(wal_open(&w, tdir, &small), 0);
	append_range(&w, 0, 40, 1000, 5);
	assert_int_equal(wal_ckpt_begin(&c, &w), 0);
	gen(p, 1, 64);
	assert_int_equal(wal_ckpt_add(&c, 7, p, 64), 0);
	wal_ckpt_abort(&c);
	wal_ckpt_abort(&c);
	wal_close(&w);
	assert_seq(replay(0, NULL), 0, 40);
}

/* ---- crashes and the aggregator's use ---- */

/* A child appends batches and reports each acknowledged (flushed) index on
 * a pipe; it is killed with SIGKILL at a random moment, five times. After
 * each kill, replay gives a gap-free prefix holding every acknowledged
 * record, and the next child continues after it. */
static void test_wal_sigkill_mid_batch_loses_no_acknowledged_record(void **state)
{
	uint64_t n = 0;
	srand(42);
	for (int round = 0; round < 5; round++) {
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct wal w;
			uint8_t p[2048];
			close(fds[0]);
			if (wal_open(&w, tdir, &small) != 0)
				_exit(2);
			for (uint64_t i = n;; i++) {
				size_t len = gen_len(i, 2000);
				gen(p, i, len);
				if (wal_append(&w, 1, p, len) != 0)
					_exit(3);
				if (i % 16 == 15) {
					if (wal_flush(&w) != 0)
						_exit(4);
					if (write(fds[1], &i, 8) != 8)
						_exit(5);
				}
			}
		}
		close(fds[1]);
		usleep(2000 + (useconds_t)(rand() % 20000));
		kill(pid, SIGKILL);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		uint64_t acked = 0, v;
		int any = 0;
		while (read(fds[0], &v, 8) == 8)
			acked = v, any = 1;
		close(fds[0]);
		struct got *g = replay(0, NULL);
		assert_true(g->n >= n);
		assert_seq(g, 0, g->n);
		if (any)
			assert_true(g->n >= acked + 1);
		n = g->n;
	}
	assert_true(n > 0);
}

/* The aggregator's use: raw REC_SAMPLES records go to the log; replay
 * rebuilds the store, and consuming the unreleased tail of the ring again
 * afterwards adds nothing (exact duplicates are dropped). */
struct store_ctx {
	struct store st;
	long added, dups;
};

static int apply_samples(void *ctx, uint8_t type, const void *payload, size_t len)
{
	struct store_ctx *c = ctx;
	struct rec_samples_iter it;
	struct rec_sample smp;
	assert_int_equal(type, REC_SAMPLES);
	assert_int_equal(rec_samples_iter_init(&it, payload, len), 0);
	while (rec_samples_next(&it, &smp) == 1) {
		long idx = store_series_get(&c->st, smp.id, smp.key, smp.key_len);
		assert_true(idx >= 0);
		int r = store_add(&c->st, (size_t)idx, smp.ts_ms, smp.value);
		assert_true(r >= 0);
		if (r == STORE_DUPLICATE)
			c->dups++;
		else
			c->added++;
	}
	return 0;
}

static size_t make_batch(uint8_t *buf, size_t cap, int b)
{
	struct rec_samples_writer wr;
	rec_samples_begin(&wr, buf, cap);
	for (int k = 0; k < 20; k++) {
		uint8_t key[64];
		char val[16];
		int vl = snprintf(val, sizeof(val), "%d", k);
		struct series_label l = {"k", 1, val, (size_t)vl};
		int kl = series_key_build(key, sizeof(key), "m", 1, &l, 1);
		assert_true(kl > 0);
		assert_int_equal(rec_samples_add(&wr, series_id(key, (size_t)kl), key, (uint16_t)kl,
						 (int64_t)b * 15000, b + k * 0.5, 0, NULL),
				 0);
	}
	return rec_samples_end(&wr);
}

static void test_wal_replayed_sample_batches_rebuild_the_store_and_reconsumption_adds_nothing(void **state)
{
	struct wal w;
	struct store_ctx c = {0};
	uint8_t buf[8192];
	assert_int_equal(wal_open(&w, tdir, NULL), 0);
	for (int b = 0; b < 50; b++) {
		size_t len = make_batch(buf, sizeof(buf), b);
		assert_int_equal(wal_append(&w, REC_SAMPLES, buf, len), 0);
		if (b % 5 == 4)
			assert_int_equal(wal_flush(&w), 0); /* then the ring would be released */
	}
	wal_close(&w);
	assert_int_equal(store_init(&c.st), 0);
	assert_int_equal(wal_replay(tdir, 0, 0, apply_samples, &c, NULL), 0);
	assert_int_equal(c.added, 50 * 20);
	assert_int_equal(c.st.nseries, 20);
	for (int b = 45; b < 50; b++) { /* the last batch, seen again in the ring */
		size_t len = make_batch(buf, sizeof(buf), b);
		apply_samples(&c, REC_SAMPLES, buf, len);
	}
	assert_int_equal(c.added, 50 * 20);
	assert_int_equal(c.dups, 5 * 20);
	store_free(&c.st);
}

/* ---- throughput (printed, not asserted) ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_wal_append_throughput_with_interval_policy(void **state)
{
	static uint8_t p[256 << 10];
	const size_t sizes[] = {64 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10};
	const size_t total = 128u << 20, batch = 1u << 20;
	memset(p, 0x5a, sizeof(p));
	for (size_t k = 0; k < 5; k++) { /* the first round warms up */
		struct wal w;
		char d[128];
		snprintf(d, sizeof(d), "%s/perf%zu", tdir, k);
		assert_int_equal(wal_open(&w, d, NULL), 0);
		double t0 = now_s();
		for (size_t done = 0, inb = 0; done < total; done += sizes[k]) {
			assert_int_equal(wal_append(&w, 1, p, sizes[k]), 0);
			if ((inb += sizes[k]) >= batch) {
				assert_int_equal(wal_flush(&w), 0);
				inb = 0;
			}
		}
		assert_int_equal(wal_flush(&w), 0);
		double t1 = now_s();
		wal_close(&w);
		double t2 = now_s();
		nftw(d, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		if (k == 0)
			continue;
		printf("wal throughput: %3zu KiB records: %7.0f MB/s appended+flushed (%llu fsyncs), "
		       "%.0f MB/s including the final fsync\n",
		       sizes[k] >> 10, (double)total / 1e6 / (t1 - t0), (unsigned long long)w.st.fsyncs,
		       (double)total / 1e6 / (t2 - t0));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_wal_replays_every_record_in_order_across_rotations),
		T(test_wal_reopen_appends_after_the_last_record_of_the_last_segment),
		T(test_wal_rejects_type_zero_and_oversized_records_without_staging),
		T(test_wal_record_larger_than_the_staging_buffer_round_trips),
		T(test_wal_replay_from_a_segment_skips_the_older_ones),
		T(test_wal_replay_after_cut_at_every_byte_of_last_record_keeps_the_rest),
		T(test_wal_replay_after_cut_at_every_byte_of_last_segment_header),
		T(test_wal_flipped_byte_in_middle_segment_skips_only_the_rest_of_it),
		T(test_wal_flipped_byte_in_last_segment_cuts_it_there),
		T(test_wal_readonly_replay_reports_damage_and_changes_nothing),
		T(test_wal_batch_policy_fsyncs_in_every_flush_that_wrote),
		T(test_wal_interval_policy_fsyncs_at_most_once_per_interval),
		T(test_wal_none_policy_never_fsyncs),
		T(test_wal_sync_policy_names_parse),
		T(test_wal_failed_write_fails_the_flush_and_drops_only_that_batch),
		T(test_wal_failed_background_write_fails_the_append),
		T(test_wal_failed_cut_after_failed_write_breaks_the_log_for_good),
		T(test_wal_failed_fsync_breaks_the_log_for_good),
		T(test_wal_without_io_uring_falls_back_to_pwrite),
		T(test_wal_checkpoint_replaces_older_segments_and_replays_first),
		T(test_wal_aborted_checkpoint_leaves_the_segments),
		T(test_wal_sigkill_mid_batch_loses_no_acknowledged_record),
		T(test_wal_replayed_sample_batches_rebuild_the_store_and_reconsumption_adds_nothing),
		T(test_wal_append_throughput_with_interval_policy),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
