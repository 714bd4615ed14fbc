/* test_aggregator_query: unit tests of aggregator/query over a real reply
 * ring.
 *
 * Each test fills a store, builds a decoded rec_query by hand and calls
 * query_serve with a producer handle on a fresh ring (unique shm name);
 * the test reads the answer back through a consumer handle and checks every
 * record: REC_SERIES pieces (key, points, at most QUERY_PIECE_POINTS each),
 * REC_STRINGS, and the final REC_END with its status and message, all with
 * the query's id. Edge states (a full reply ring, the smallest reply ring
 * the configuration allows) are set directly. The teardown unlinks the ring.
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

#include "aggregator/query.h"
#include "aggregator/store.h"
#include "common/records.h"
#include "common/series.h"
#include "shm/ring.h"
#include "shm/segment.h"

#define QID 0x5151000000000007ull

struct rseries {
	char text[256];           /* series_key_format */
	uint32_t npoints;         /* summed over its pieces */
	uint32_t pieces;
	int64_t first_ts, last_ts;
	int sorted;               /* points ascending across pieces */
};

struct answer {
	struct rseries s[64];
	size_t ns;
	char strs[64][64];
	size_t nstr;
	int ended;
	int32_t status;
	char msg[256];
	size_t records, bad, max_piece;
};

struct fx {
	char name[96];
	struct store st;
	struct ring p, c;
	struct answer a;
	_Atomic int stop;
};

static int fx_counter;

static int fx_open(void **state, uint64_t cap)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	snprintf(f->name, sizeof(f->name), "/mcs.utq%d-%d.ring.a0-p0-r", (int)getpid(), fx_counter++);
	segment_unlink(f->name);
	if (store_init(&f->st) != 0)
		return -1;
	if (ring_create(&f->p, f->name, "a0-p0-r", cap, RING_FULL_BLOCK, RING_ROLE_PRODUCER) != 0)
		return -1;
	return ring_attach(&f->c, f->name, RING_ROLE_CONSUMER) == 0 ? 0 : -1;
}

static int fx_setup(void **state)
{
	return fx_open(state, 4u << 20);
}

/* The smallest query ring the configuration accepts (rings.query_bytes). */
static int fx_setup_small(void **state)
{
	return fx_open(state, 65536);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	ring_detach(&f->p);
	ring_detach(&f->c);
	segment_unlink(f->name);
	store_free(&f->st);
	free(f);
	return 0;
}

/* Adds points ts = from, from+step, ... < to with value = ts to the series
 * name{labels...} (labels as "n1","v1","n2","v2",...,NULL). */
static long add_series(struct fx *f, int64_t from, int64_t to, int64_t step, const char *name, ...)
{
	struct series_label l[8];
	size_t n = 0;
	va_list ap;
	va_start(ap, name);
	const char *ln;
	while ((ln = va_arg(ap, const char *)) != NULL) {
		const char *lv = va_arg(ap, const char *);
		l[n].name = ln;
		l[n].name_len = strlen(ln);
		l[n].value = lv;
		l[n].value_len = strlen(lv);
		n++;
	}
	va_end(ap);
	static uint8_t key[SERIES_KEY_MAX];
	int kl = series_key_build(key, sizeof(key), name, strlen(name), l, n);
	assert_true(kl > 0);
	long idx = store_series_get(&f->st, series_id(key, (size_t)kl), key, (uint16_t)kl);
	assert_true(idx >= 0);
	for (int64_t t = from; t < to; t += step)
		assert_true(store_add(&f->st, (size_t)idx, t, (double)t) >= 0);
	return idx;
}

static void q_init(struct rec_query *q, uint32_t kind, int64_t start, int64_t end)
{
	memset(q, 0, sizeof(*q));
	q->qid = QID;
	q->kind = kind;
	q->start_ms = start;
	q->end_ms = end;
}

static void q_match(struct rec_query *q, uint8_t set, int op, const char *name, const char *value)
{
	struct rec_matcher *m = &q->m[q->nmatchers++];
	m->op = (uint8_t)op;
	m->set = set;
	m->name = name;
	m->name_len = (uint16_t)strlen(name);
	m->value = value;
	m->value_len = (uint16_t)strlen(value);
	if (q->nsets < (uint32_t)set + 1)
		q->nsets = (uint32_t)set + 1;
}

/* Consumes one record into f->a. Returns 1 when it was the END. */
static int take(struct fx *f, const struct ring_rec *rec)
{
	struct answer *a = &f->a;
	a->records++;
	if (rec_response_qid(rec->data, rec->len) != QID) {
		a->bad++;
		return 0;
	}
	if (a->ended) {
		a->bad++; /* nothing may follow the END */
		return 0;
	}
	if (rec->type == REC_SERIES) {
		struct rec_series rs;
		if (rec_series_decode(&rs, rec->data, rec->len) != 0) {
			a->bad++;
			return 0;
		}
		char text[256];
		series_key_format(rs.key, rs.key_len, text, sizeof(text));
		struct rseries *s = NULL;
		for (size_t i = 0; i < a->ns; i++)
			if (strcmp(a->s[i].text, text) == 0)
				s = &a->s[i];
		if (!s) {
			assert_true(a->ns < 64);
			s = &a->s[a->ns++];
			memset(s, 0, sizeof(*s));
			snprintf(s->text, sizeof(s->text), "%s", text);
			s->sorted = 1;
		} else if (s != &a->s[a->ns - 1]) {
			a->bad++; /* the pieces of a series come together */
		}
		s->pieces++;
		if (rs.npoints > a->max_piece)
			a->max_piece = rs.npoints;
		for (uint32_t i = 0; i < rs.npoints; i++) {
			struct rec_point p = rec_series_point(&rs, i);
			if (s->npoints == 0)
				s->first_ts = p.ts_ms;
			else if (p.ts_ms <= s->last_ts)
				s->sorted = 0;
			if (p.value != (double)p.ts_ms)
				a->bad++;
			s->last_ts = p.ts_ms;
			s->npoints++;
		}
	} else if (rec->type == REC_STRINGS) {
		struct rec_strings_iter it;
		const char *str;
		uint16_t len;
		if (rec_strings_iter_init(&it, rec->data, rec->len) != 0) {
			a->bad++;
			return 0;
		}
		while (rec_strings_next(&it, &str, &len) == 1) {
			assert_true(a->nstr < 64);
			snprintf(a->strs[a->nstr++], 64, "%.*s", (int)len, str);
		}
	} else if (rec->type == REC_END) {
		struct rec_end e;
		if (rec_end_decode(&e, rec->data, rec->len) != 0) {
			a->bad++;
			return 0;
		}
		a->ended = 1;
		a->status = e.status;
		snprintf(a->msg, sizeof(a->msg), "%.*s", (int)e.msg_len, e.msg ? e.msg : "");
		return 1;
	} else {
		a->bad++;
	}
	return 0;
}

/* Reads everything published so far. */
static void collect(struct fx *f)
{
	struct ring_rec rec;
	while (ring_next(&f->c, &rec) == 1)
		take(f, &rec);
	ring_release(&f->c);
}

/* Serves q and reads the whole answer. */
static void run(struct fx *f, const struct rec_query *q)
{
	memset(&f->a, 0, sizeof(f->a));
	assert_int_equal(query_serve(&f->st, NULL, q, &f->p, 1000), 0);
	collect(f);
	assert_int_equal(f->a.bad, 0);
	assert_true(f->a.ended);
}

static const struct rseries *find(const struct answer *a, const char *text)
{
	for (size_t i = 0; i < a->ns; i++)
		if (strcmp(a->s[i].text, text) == 0)
			return &a->s[i];
	return NULL;
}

/* up{job="a",zone="x"}, up{job="b",zone="y"}, up{job="c"} (no zone),
 * down{job="a"}, each with points 0..990 every 10 ms. */
static void fill_basic(struct fx *f)
{
	add_series(f, 0, 1000, 10, "up", "job", "a", "zone", "x", NULL);
	add_series(f, 0, 1000, 10, "up", "job", "b", "zone", "y", NULL);
	add_series(f, 0, 1000, 10, "up", "job", "c", NULL);
	add_series(f, 0, 1000, 10, "down", "job", "a", NULL);
}

/* ---- select ---- */

static void test_select_answers_matching_series_with_points_in_range(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	struct rec_query q;
	q_init(&q, REC_Q_SELECT, 100, 200);
	q_match(&q, 0, REC_M_EQ, "__name__", "up");
	q_match(&q, 0, REC_M_EQ, "job", "a");
	run(f, &q);
	assert_int_equal(f->a.status, 0);
	assert_int_equal(f->a.ns, 1);
	const struct rseries *s = find(&f->a, "up{job=\"a\",zone=\"x\"}");
	assert_non_null(s);
	/* [100, 200] inclusive at both ends. */
	assert_int_equal(s->npoints, 11);
	assert_int_equal(s->first_ts, 100);
	assert_int_equal(s->last_ts, 200);
	assert_true(s->sorted);
	assert_int_equal(f->a.msg[0], '\0');
}

static void test_matcher_sets_are_ored_without_duplicates(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	struct rec_query q;
	q_init(&q, REC_Q_SELECT, 0, 10000);
	q_match(&q, 0, REC_M_EQ, "job", "a");                /* up{a}, down{a} */
	q_match(&q, 1, REC_M_EQ, "__name__", "up");
	q_match(&q, 1, REC_M_RE, "job", "a|b");              /* up{a} again, up{b} */
	run(f, &q);
	assert_int_equal(f->a.status, 0);
	assert_int_equal(f->a.ns, 3);
	assert_non_null(find(&f->a, "up{job=\"a\",zone=\"x\"}"));
	assert_non_null(find(&f->a, "up{job=\"b\",zone=\"y\"}"));
	assert_non_null(find(&f->a, "down{job=\"a\"}"));
	for (size_t i = 0; i < f->a.ns; i++) {
		assert_int_equal(f->a.s[i].npoints, 100);
		assert_int_equal(f->a.s[i].pieces, 1);
	}
}

static void test_negative_and_regex_matchers_treat_absent_labels_as_empty(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	struct rec_query q;
	/* zone!="x": up{b} and up{c} (absent zone), down{a}. */
	q_init(&q, REC_Q_SELECT, 0, 10000);
	q_match(&q, 0, REC_M_NE, "zone", "x");
	run(f, &q);
	assert_int_equal(f->a.ns, 3);
	assert_null(find(&f->a, "up{job=\"a\",zone=\"x\"}"));
	/* zone="" selects the series without a zone. */
	q_init(&q, REC_Q_SELECT, 0, 10000);
	q_match(&q, 0, REC_M_EQ, "__name__", "up");
	q_match(&q, 0, REC_M_EQ, "zone", "");
	run(f, &q);
	assert_int_equal(f->a.ns, 1);
	assert_non_null(find(&f->a, "up{job=\"c\"}"));
	/* zone!~".+" the same; regexes are anchored: job=~"b" is not job=~".*b.*". */
	q_init(&q, REC_Q_SELECT, 0, 10000);
	q_match(&q, 0, REC_M_NRE, "zone", ".+");
	q_match(&q, 0, REC_M_RE, "__name__", "u");
	run(f, &q);
	assert_int_equal(f->a.ns, 0);
	assert_int_equal(f->a.status, 0);
}

static void test_no_matcher_set_selects_every_series(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	struct rec_query q;
	q_init(&q, REC_Q_SELECT, 990, 990);
	run(f, &q);
	assert_int_equal(f->a.ns, 4);
	for (size_t i = 0; i < f->a.ns; i++) {
		assert_int_equal(f->a.s[i].npoints, 1);
		assert_int_equal(f->a.s[i].first_ts, 990);
	}
}

static void test_series_without_points_in_range_are_left_out(void **state)
{
	struct fx *f = *state;
	add_series(f, 0, 100, 10, "early", NULL);     /* 0..90 */
	add_series(f, 500, 600, 10, "late", NULL);    /* 500..590 */
	add_series(f, 0, 1000, 500, "sparse", NULL);  /* 0, 500: nothing in (0, 500) */
	struct rec_query q;
	q_init(&q, REC_Q_SELECT, 95, 495);
	run(f, &q);
	assert_int_equal(f->a.ns, 0);
	assert_int_equal(f->a.status, 0);
	q_init(&q, REC_Q_SELECT, 90, 500);
	run(f, &q);
	assert_int_equal(f->a.ns, 3);
	assert_int_equal(find(&f->a, "early")->npoints, 1);
	assert_int_equal(find(&f->a, "late")->npoints, 1);
	assert_int_equal(find(&f->a, "sparse")->npoints, 1);
	/* The widest range, up to INT64_MAX, takes everything. */
	q_init(&q, REC_Q_SELECT, INT64_MIN, INT64_MAX);
	run(f, &q);
	assert_int_equal(find(&f->a, "sparse")->npoints, 2);
	assert_int_equal(find(&f->a, "late")->npoints, 10);
}

static void test_long_series_comes_in_pieces_of_at_most_4096_points(void **state)
{
	struct fx *f = *state;
	add_series(f, 0, 10000, 1, "long", NULL);
	struct rec_query q;
	q_init(&q, REC_Q_SELECT, 0, 9999);
	run(f, &q);
	assert_int_equal(f->a.ns, 1);
	const struct rseries *s = find(&f->a, "long");
	assert_int_equal(s->npoints, 10000);
	assert_int_equal(s->pieces, 3); /* 4096 + 4096 + 1808 */
	assert_int_equal(f->a.max_piece, QUERY_PIECE_POINTS);
	assert_true(s->sorted);
	assert_int_equal(s->first_ts, 0);
	assert_int_equal(s->last_ts, 9999);
	/* Exactly one piece's worth is one piece. */
	q_init(&q, REC_Q_SELECT, 0, QUERY_PIECE_POINTS - 1);
	run(f, &q);
	assert_int_equal(find(&f->a, "long")->pieces, 1);
	assert_int_equal(find(&f->a, "long")->npoints, QUERY_PIECE_POINTS);
}

static void test_series_query_answers_keys_only(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	add_series(f, 0, 10000, 1, "long", NULL);
	struct rec_query q;
	q_init(&q, REC_Q_SERIES, 0, 10000);
	q_match(&q, 0, REC_M_RE, "__name__", "up|long");
	run(f, &q);
	assert_int_equal(f->a.ns, 4);
	assert_int_equal(f->a.records, 5); /* one per series, then the END */
	for (size_t i = 0; i < f->a.ns; i++) {
		assert_int_equal(f->a.s[i].npoints, 0);
		assert_int_equal(f->a.s[i].pieces, 1);
	}
	assert_int_equal(f->a.status, 0);
}

/* ---- strings ---- */

static void test_label_names_are_unique_and_sorted(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	add_series(f, 0, 1000, 10, "other", "b_label", "1", "a_label", "2", "Z", "3", NULL);
	struct rec_query q;
	q_init(&q, REC_Q_LABEL_NAMES, 0, 10000);
	run(f, &q);
	assert_int_equal(f->a.status, 0);
	const char *want[] = {"Z", "__name__", "a_label", "b_label", "job", "zone"};
	assert_int_equal(f->a.nstr, 6);
	for (int i = 0; i < 6; i++)
		assert_string_equal(f->a.strs[i], want[i]);
	/* Restricted by matchers. */
	q_init(&q, REC_Q_LABEL_NAMES, 0, 10000);
	q_match(&q, 0, REC_M_EQ, "__name__", "down");
	run(f, &q);
	assert_int_equal(f->a.nstr, 2);
	assert_string_equal(f->a.strs[0], "__name__");
	assert_string_equal(f->a.strs[1], "job");
}

static void test_label_values_are_unique_sorted_and_in_range(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	add_series(f, 5000, 6000, 10, "up", "job", "aa", NULL);  /* only later */
	add_series(f, 0, 1000, 10, "up", "job", "B", NULL);
	struct rec_query q;
	q_init(&q, REC_Q_LABEL_VALUES, 0, 1000);
	q.label_name = "job";
	q.label_name_len = 3;
	run(f, &q);
	assert_int_equal(f->a.status, 0);
	const char *want[] = {"B", "a", "b", "c"}; /* bytewise; "a" once; "aa" out of range */
	assert_int_equal(f->a.nstr, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(f->a.strs[i], want[i]);
	/* A label no series has: no strings, still an END. */
	q_init(&q, REC_Q_LABEL_VALUES, 0, 1000);
	q.label_name = "nope";
	q.label_name_len = 4;
	run(f, &q);
	assert_int_equal(f->a.nstr, 0);
	assert_int_equal(f->a.records, 1);
	assert_int_equal(f->a.status, 0);
}

static void test_many_strings_are_split_over_records(void **state)
{
	struct fx *f = *state;
	/* 40 values of 3000 bytes: 120 KB, more than one strings record. */
	static char v[40][3001];
	for (int i = 0; i < 40; i++) {
		memset(v[i], 'a' + (i % 26), 3000);
		v[i][0] = (char)('A' + i / 26);
		v[i][3000] = '\0';
		add_series(f, 0, 10, 10, "big", "v", v[i], NULL);
	}
	struct rec_query q;
	q_init(&q, REC_Q_LABEL_VALUES, 0, 10);
	q.label_name = "v";
	q.label_name_len = 1;
	memset(&f->a, 0, sizeof(f->a));
	assert_int_equal(query_serve(&f->st, NULL, &q, &f->p, 1000), 0);
	struct ring_rec rec;
	size_t nstr = 0, nrec = 0, last_len = 0;
	char prev[3001] = "";
	int32_t status = 1;
	while (ring_next(&f->c, &rec) == 1) {
		nrec++;
		if (rec.type == REC_END) {
			struct rec_end e;
			assert_int_equal(rec_end_decode(&e, rec.data, rec.len), 0);
			status = e.status;
			continue;
		}
		assert_int_equal(rec.type, REC_STRINGS);
		struct rec_strings_iter it;
		const char *s;
		uint16_t len;
		assert_int_equal(rec_strings_iter_init(&it, rec.data, rec.len), 0);
		assert_true(it.qid == QID);
		while (rec_strings_next(&it, &s, &len) == 1) {
			assert_int_equal(len, 3000);
			assert_true(memcmp(prev, s, len) < 0);
			memcpy(prev, s, len);
			last_len = len;
			nstr++;
		}
	}
	ring_release(&f->c);
	assert_int_equal(status, 0);
	assert_int_equal(nstr, 40);
	assert_int_equal(last_len, 3000);
	assert_true(nrec >= 3); /* two strings records at least, then the END */
}

/* ---- errors ---- */

static void test_limit_ends_the_answer_with_e2big_and_a_message(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	struct rec_query q;
	q_init(&q, REC_Q_SELECT, 0, 10000);
	q_match(&q, 0, REC_M_EQ, "__name__", "up");
	q.limit = 2;
	run(f, &q);
	assert_int_equal(f->a.status, -E2BIG);
	assert_non_null(strstr(f->a.msg, "more than 2 series"));
	assert_true(f->a.ns <= 2);
	/* Exactly at the limit is fine. */
	q.limit = 3;
	run(f, &q);
	assert_int_equal(f->a.status, 0);
	assert_int_equal(f->a.ns, 3);
	/* The limit counts distinct strings for label queries. */
	q_init(&q, REC_Q_LABEL_VALUES, 0, 10000);
	q.label_name = "job";
	q.label_name_len = 3;
	q.limit = 2; /* a, b, c */
	run(f, &q);
	assert_int_equal(f->a.status, -E2BIG);
	assert_non_null(strstr(f->a.msg, "more than 2"));
	q.limit = 3;
	run(f, &q);
	assert_int_equal(f->a.status, 0);
	assert_int_equal(f->a.nstr, 3);
}

static void test_invalid_regex_ends_the_answer_with_einval_and_a_message(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	struct rec_query q;
	q_init(&q, REC_Q_SELECT, 0, 10000);
	q_match(&q, 0, REC_M_EQ, "__name__", "up");
	q_match(&q, 1, REC_M_RE, "job", "a(b");
	run(f, &q);
	assert_int_equal(f->a.status, -EINVAL);
	assert_non_null(strstr(f->a.msg, "regular expression"));
	assert_int_equal(f->a.records, 1); /* the END alone */
	/* The next query (matchers of the failed one freed) works. */
	q_init(&q, REC_Q_LABEL_NAMES, 0, 10000);
	q_match(&q, 0, REC_M_RE, "job", "[ab]");
	run(f, &q);
	assert_int_equal(f->a.status, 0);
	assert_int_equal(f->a.nstr, 3);
}

/* Leaves `free_b` bytes free in the reply ring (positions set directly),
 * as if the apiserver had stopped reading. */
static void fill_ring(struct fx *f, uint64_t free_b)
{
	struct ring_header *h = f->p.hdr;
	uint64_t pos = 2 * f->p.capacity;
	atomic_store(&h->write_pos, pos);
	atomic_store(&h->read_pos, pos - (f->p.capacity - free_b));
	h->read_pos_cache = pos - (f->p.capacity - free_b);
	f->p.wpos = pos;
	f->c.rpos = f->c.wpos_seen = pos - (f->p.capacity - free_b);
}

static void test_full_reply_ring_gives_up_with_etimedout_within_the_wait(void **state)
{
	struct fx *f = *state;
	fill_basic(f);
	fill_ring(f, 512);
	struct rec_query q;
	q_init(&q, REC_Q_SELECT, 0, 10000);
	uint64_t t0 = segment_now_mono_ms();
	assert_int_equal(query_serve(&f->st, NULL, &q, &f->p, 50), -ETIMEDOUT);
	uint64_t dt = segment_now_mono_ms() - t0;
	assert_true(dt >= 40 && dt < 1000);
	/* Strings and an empty answer (the END alone) the same. */
	q_init(&q, REC_Q_LABEL_NAMES, 0, 10000);
	assert_int_equal(query_serve(&f->st, NULL, &q, &f->p, 20), -ETIMEDOUT);
	q_init(&q, REC_Q_SELECT, 50000, 60000);
	assert_int_equal(query_serve(&f->st, NULL, &q, &f->p, 20), -ETIMEDOUT);
	/* Without waiting at all, too. */
	q_init(&q, REC_Q_SELECT, 50000, 60000);
	assert_int_equal(query_serve(&f->st, NULL, &q, &f->p, 0), -ETIMEDOUT);
}

struct reader {
	struct fx *f;
	_Atomic int stop;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct ring_rec rec;
	int ended = 0;
	while (!r->stop && !ended) {
		if (!ring_wait_data(&r->f->c, 20))
			continue;
		while (ring_next(&r->f->c, &rec) == 1)
			ended |= take(r->f, &rec);
		ring_release(&r->f->c);
	}
	return NULL;
}

/* The configuration accepts 64 KiB query rings: a long series and many
 * strings must still come through (in smaller records) while the apiserver
 * reads. */
static void test_smallest_configurable_reply_ring_carries_large_answers(void **state)
{
	struct fx *f = *state;
	add_series(f, 0, 10000, 1, "long", "job", "a", NULL);
	static char v[30][3001];
	for (int i = 0; i < 30; i++) {
		memset(v[i], 'a' + i, 3000);
		v[i][3000] = '\0';
		add_series(f, 0, 10, 10, "big", "v", v[i], NULL);
	}
	struct rec_query q;
	q_init(&q, REC_Q_SELECT, 0, 10000);
	q_match(&q, 0, REC_M_EQ, "__name__", "long");
	memset(&f->a, 0, sizeof(f->a));
	struct reader r = {.f = f};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	int rc = query_serve(&f->st, NULL, &q, &f->p, 2000);
	for (int k = 0; k < 300 && !f->a.ended; k++)
		usleep(10000);
	r.stop = 1;
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	assert_true(f->a.ended);
	assert_int_equal(f->a.status, 0);
	assert_int_equal(f->a.bad, 0);
	assert_int_equal(find(&f->a, "long{job=\"a\"}")->npoints, 10000);
	assert_true(find(&f->a, "long{job=\"a\"}")->sorted);

	q_init(&q, REC_Q_LABEL_VALUES, 0, 10000);
	q.label_name = "v";
	q.label_name_len = 1;
	memset(&f->a, 0, sizeof(f->a));
	r.stop = 0;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	rc = query_serve(&f->st, NULL, &q, &f->p, 2000);
	for (int k = 0; k < 300 && !f->a.ended; k++)
		usleep(10000);
	r.stop = 1;
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(f->a.status, 0);
	assert_int_equal(f->a.nstr, 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_select_answers_matching_series_with_points_in_range, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_matcher_sets_are_ored_without_duplicates, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_negative_and_regex_matchers_treat_absent_labels_as_empty, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_no_matcher_set_selects_every_series, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_series_without_points_in_range_are_left_out, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_long_series_comes_in_pieces_of_at_most_4096_points, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_series_query_answers_keys_only, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_label_names_are_unique_and_sorted, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_label_values_are_unique_sorted_and_in_range, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_many_strings_are_split_over_records, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_limit_ends_the_answer_with_e2big_and_a_message, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_regex_ends_the_answer_with_einval_and_a_message, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_full_reply_ring_gives_up_with_etimedout_within_the_wait, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_smallest_configurable_reply_ring_carries_large_answers, fx_setup_small, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
