/* test_collector_rwrite: unit tests of collector/rwrite, the Prometheus
 * remote write 1.0 receiver: rwrite_decode/rwrite_ingest on WriteRequests
 * built here with pb_writer (good bodies, every malformed case, values and
 * timestamps bit-exact) and the HTTP handler over a real loopback
 * connection with snappy bodies (status codes, messages, Retry-After).
 *
 * The stage is assembled by hand (collector_fixture.h): a config from
 * config_load_string, a control block under a unique instance name and two
 * sample rings read back through consumer handles. The teardown unlinks
 * every segment.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/rwrite.h"
#include "common/pb.h"
#include "common/records.h"
#include "common/series.h"
#include "common/stage.h"

#include "collector_fixture.h"

#define NRING 2
#define NGOT 64

struct fx {
	struct cfx cf;    /* stage, rings, router, event base, evhttp, last answer */
	struct rwrite rw;
	struct cfx_got got[NGOT];
	size_t ngot;      /* samples drained so far (only the first NGOT kept) */
	double vsum;      /* sum of every drained value */
	struct rwrite_stats stats;
	char why[256];
};

static int fx_setup(void **state)
{
	static int counter;
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	if (cfx_setup(&f->cf, "utrw", &counter, NRING,
		      "\"max_body_bytes\":1048576,"
		      "\"rings\":{\"sample_bytes\":4194304,\"push_wait\":\"50ms\"}") != 0)
		return -1;
	evhttp_set_allowed_methods(f->cf.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
	if (rwrite_init(&f->rw, &f->cf.st, &f->cf.router, f->cf.http) != 0)
		return -1;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	rwrite_fini(&f->rw);
	cfx_teardown(&f->cf);
	free(f);
	return 0;
}

/* Reads every published sample of every ring; keeps the first NGOT. */
static size_t drain(struct fx *f)
{
	return cfx_drain(&f->cf, f->got, NGOT, &f->ngot, &f->vsum, CFX_ROUTE | CFX_KEEP_FIRST);
}

static const struct cfx_got *find(struct fx *f, const char *text, int64_t ts)
{
	for (size_t i = 0; i < f->ngot && i < NGOT; i++)
		if (strcmp(f->got[i].text, text) == 0 && f->got[i].ts == ts)
			return &f->got[i];
	return NULL;
}

static double value_of(const struct cfx_got *g)
{
	double d;
	memcpy(&d, &g->bits, 8);
	return d;
}

static uint64_t counter(struct fx *f, enum ctl_counter c)
{
	return atomic_load(&f->cf.st.slot->counters[c]);
}

static uint64_t total_wpos(struct fx *f)
{
	uint64_t t = 0;
	for (int j = 0; j < NRING; j++)
		t += atomic_load(&f->cf.p[j].hdr->write_pos) + f->cf.p[j].wpos;
	return t;
}

/* Leaves `free_b` bytes free in ring j (positions set directly). */
static void fill_ring(struct fx *f, int j, uint64_t free_b)
{
	struct ring_header *h = f->cf.p[j].hdr;
	uint64_t pos = 3 * f->cf.p[j].capacity;
	atomic_store(&h->write_pos, pos);
	atomic_store(&h->read_pos, pos - (f->cf.p[j].capacity - free_b));
	h->read_pos_cache = pos - (f->cf.p[j].capacity - free_b);
	f->cf.p[j].wpos = pos;
	f->cf.c[j].rpos = f->cf.c[j].wpos_seen = pos - (f->cf.p[j].capacity - free_b);
}

/* ---- building WriteRequests ---- */

/* A Label message; a NULL name or value leaves the field out. */
static void put_label_n(struct pb_writer *ts, const char *n, size_t nl, const char *v, size_t vl)
{
	struct pb_writer l = {0};
	if (n)
		pb_put_bytes_field(&l, 1, n, nl);
	if (v)
		pb_put_bytes_field(&l, 2, v, vl);
	pb_put_bytes_field(ts, 1, l.buf, l.len);
	pb_writer_free(&l);
}

static void put_label(struct pb_writer *ts, const char *n, const char *v)
{
	put_label_n(ts, n, n ? strlen(n) : 0, v, v ? strlen(v) : 0);
}

static void put_sample_bits(struct pb_writer *ts, uint64_t bits, int64_t t)
{
	struct pb_writer s = {0};
	pb_put_fixed64_field(&s, 1, bits);
	pb_put_varint_field(&s, 2, (uint64_t)t);
	pb_put_bytes_field(ts, 2, s.buf, s.len);
	pb_writer_free(&s);
}

static void put_sample(struct pb_writer *ts, double v, int64_t t)
{
	uint64_t bits;
	memcpy(&bits, &v, 8);
	put_sample_bits(ts, bits, t);
}

/* Moves the TimeSeries in *ts into the request as field 1. */
static void put_series(struct pb_writer *req, struct pb_writer *ts)
{
	assert_false(ts->oom);
	pb_put_bytes_field(req, 1, ts->buf, ts->len);
	pb_writer_free(ts);
}

/* A series m{name...} with one label pair and n samples value i, ts 1000+i. */
static void put_simple(struct pb_writer *req, const char *name, const char *lname, const char *lval, int n)
{
	struct pb_writer ts = {0};
	put_label(&ts, "__name__", name);
	if (lname)
		put_label(&ts, lname, lval);
	for (int i = 0; i < n; i++)
		put_sample(&ts, i, 1000 + i);
	put_series(req, &ts);
}

static int ingest(struct fx *f, const struct pb_writer *req)
{
	assert_false(req->oom);
	return rwrite_ingest(&f->rw, req->buf, req->len, 50, &f->stats, f->why, sizeof(f->why));
}

/* ---- decoding: good requests ---- */

static void test_good_request_lands_in_the_rings_with_canonical_keys(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0}, ts = {0};
	/* Unsorted labels, samples before labels: wire order must not matter. */
	put_sample(&ts, 2.5, 5000);
	put_sample(&ts, -3e3, 6000);
	put_label(&ts, "job", "x");
	put_label(&ts, "__name__", "b");
	put_label(&ts, "instance", "h:1");
	put_series(&req, &ts);
	put_simple(&req, "a", NULL, NULL, 1);
	put_simple(&req, "c_total", "z", "1", 3);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(f->stats.series, 3);
	assert_int_equal(f->stats.samples, 6);
	assert_int_equal(drain(f), 6);
	const struct cfx_got *g = find(f, "b{instance=\"h:1\",job=\"x\"}", 5000);
	assert_non_null(g);
	assert_true(value_of(g) == 2.5);
	g = find(f, "b{instance=\"h:1\",job=\"x\"}", 6000);
	assert_non_null(g);
	assert_true(value_of(g) == -3000);
	g = find(f, "a", 1000);
	assert_non_null(g);
	assert_true(value_of(g) == 0);
	for (int i = 0; i < 3; i++) {
		g = find(f, "c_total{z=\"1\"}", 1000 + i);
		assert_non_null(g);
		assert_true(value_of(g) == i);
	}
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 6);
	assert_int_equal(f->rw.in.batch.n, 0); /* reset for the next request */
	pb_writer_free(&req);
}

static void test_every_sample_of_a_series_carries_the_extra_labels(void **state)
{
	struct fx *f = *state;
	struct series_label extra[] = {{"dc", 2, "eu", 2}, {"job", 3, "default", 7}};
	assert_int_equal(ingest_set_extra(&f->rw.in, extra, 2), 0);
	struct pb_writer req = {0};
	put_simple(&req, "m", "job", "own", 5);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(drain(f), 5);
	for (int i = 0; i < 5; i++)
		assert_non_null(find(f, "m{dc=\"eu\",job=\"own\"}", 1000 + i));
	pb_writer_free(&req);
}

static void test_nan_stale_inf_and_negative_zero_pass_bit_exact(void **state)
{
	struct fx *f = *state;
	const uint64_t bits[] = {
		0x7ff0000000000002ull, /* Prometheus stale marker */
		0x7ff8000000000001ull, /* Prometheus NaN */
		0xfff8000000000000ull, /* negative quiet NaN */
		0x7ff0000000000000ull, /* +Inf */
		0xfff0000000000000ull, /* -Inf */
		0x8000000000000000ull, /* -0 */
		0x0000000000000001ull, /* smallest subnormal */
		0x7fefffffffffffffull, /* largest finite */
	};
	struct pb_writer req = {0}, ts = {0};
	put_label(&ts, "__name__", "v");
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		put_sample_bits(&ts, bits[i], (int64_t)i);
	put_series(&req, &ts);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(drain(f), sizeof(bits) / sizeof(bits[0]));
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		const struct cfx_got *g = find(f, "v", (int64_t)i);
		assert_non_null(g);
		assert_int_equal(g->bits, bits[i]);
	}
	pb_writer_free(&req);
}

static void test_huge_and_negative_timestamps_pass_unchanged(void **state)
{
	struct fx *f = *state;
	const int64_t t[] = {INT64_MAX, INT64_MIN, -1, 0, 253402300799999LL /* 9999-12-31 */};
	struct pb_writer req = {0}, ts = {0};
	put_label(&ts, "__name__", "t");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		put_sample(&ts, (double)i, t[i]);
	put_series(&req, &ts);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(drain(f), 5);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct cfx_got *g = find(f, "t", t[i]);
		assert_non_null(g);
		assert_true(value_of(g) == (double)i);
	}
	pb_writer_free(&req);
}

static void test_absent_sample_fields_are_zero_as_in_proto3(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0}, ts = {0};
	put_label(&ts, "__name__", "z");
	pb_put_bytes_field(&ts, 2, NULL, 0); /* an empty Sample */
	put_series(&req, &ts);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(drain(f), 1);
	assert_non_null(find(f, "z", 0));
	assert_int_equal(f->got[0].bits, 0);
	pb_writer_free(&req);
}

static void test_exemplars_metadata_and_unknown_fields_are_ignored(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0}, ts = {0}, ex = {0};
	put_label(&ts, "__name__", "e");
	put_label(&ts, "empty", ""); /* empty value: the label is absent */
	put_sample(&ts, 7, 70);
	put_label(&ex, "trace_id", "abc");
	pb_put_bytes_field(&ts, 3, ex.buf, ex.len); /* exemplar */
	pb_writer_free(&ex);
	pb_put_varint_field(&ts, 9, 123);            /* unknown fields */
	pb_put_fixed64_field(&ts, 10, 1);
	put_series(&req, &ts);
	pb_put_bytes_field(&req, 3, "\x08\x01\x12\x01m", 5); /* metadata */
	pb_put_varint_field(&req, 7, 1);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(f->stats.exemplars, 1);
	assert_int_equal(drain(f), 1);
	assert_non_null(find(f, "e", 70));
	pb_writer_free(&req);
}

static void test_native_histograms_are_skipped_and_counted_floats_kept(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0}, ts = {0};
	put_label(&ts, "__name__", "h");
	put_sample(&ts, 1, 10);
	pb_put_bytes_field(&ts, 4, "\x08\x05", 2); /* Histogram{count_int: 5} */
	pb_put_bytes_field(&ts, 4, "\x08\x06", 2);
	put_series(&req, &ts);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(f->stats.histograms, 2);
	assert_int_equal(f->rw.histograms_skipped, 2);
	assert_int_equal(drain(f), 1);
	assert_non_null(find(f, "h", 10));
	pb_writer_free(&req);
}

static void test_valid_multibyte_utf8_values_are_accepted(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0};
	put_simple(&req, "u", "city", "M\xc3\xbcnchen \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", 1);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(drain(f), 1);
	pb_writer_free(&req);
}

static void test_empty_request_is_accepted_and_writes_nothing(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rwrite_ingest(&f->rw, (const uint8_t *)"", 0, 50, &f->stats, f->why, sizeof(f->why)), 0);
	assert_int_equal(total_wpos(f), 0);
	/* A series without samples: nothing either. */
	struct pb_writer req = {0};
	put_simple(&req, "nosamples", "a", "b", 0);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(f->stats.series, 1);
	assert_int_equal(total_wpos(f), 0);
	pb_writer_free(&req);
}

static void test_thousand_series_of_ten_samples_arrive_exactly(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0};
	char name[32];
	double want = 0;
	for (int s = 0; s < 1000; s++) {
		struct pb_writer ts = {0};
		snprintf(name, sizeof(name), "s%04d", s);
		put_label(&ts, "__name__", "bulk");
		put_label(&ts, "job", "unit");
		put_label(&ts, "series", name);
		for (int i = 0; i < 10; i++) {
			put_sample(&ts, s * 10 + i, 1000 * i);
			want += s * 10 + i;
		}
		put_series(&req, &ts);
	}
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(f->stats.samples, 10000);
	assert_int_equal(drain(f), 10000);
	assert_true(f->vsum == want);
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 10000);
	pb_writer_free(&req);
}

/* ---- decoding: bad requests, nothing stored ---- */

/* Request: one good series, then `bad`, then another good one. Expects
 * -EINVAL, `want` in the message and nothing written. */
static void expect_refused(struct fx *f, struct pb_writer *bad_ts, const char *want)
{
	struct pb_writer req = {0};
	put_simple(&req, "good", "a", "1", 2);
	put_series(&req, bad_ts);
	put_simple(&req, "good2", NULL, NULL, 1);
	uint64_t before = total_wpos(f);
	assert_int_equal(ingest(f, &req), -EINVAL);
	if (!strstr(f->why, want))
		fail_msg("message \"%s\" lacks \"%s\"", f->why, want);
	assert_int_equal(total_wpos(f), before);
	assert_int_equal(drain(f), 0);
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 0);
	assert_int_equal(f->rw.in.batch.n, 0);
	pb_writer_free(&req);
}

static void test_invalid_label_name_names_series_and_label(void **state)
{
	struct fx *f = *state;
	struct pb_writer ts = {0};
	put_label(&ts, "__name__", "m");
	put_label(&ts, "ok", "1");
	put_label(&ts, "1abc", "v");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "timeseries 1: label 2: invalid label name \"1abc\"");
	/* Names with dots or dashes, non-ASCII bytes (shown escaped). */
	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	put_label(&ts, "a-b", "v");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "label 1: invalid label name \"a-b\"");
	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	put_label(&ts, "\xff\"", "v");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "invalid label name \"\\xff\\x22\"");
}

static void test_invalid_or_missing_metric_name_is_refused(void **state)
{
	struct fx *f = *state;
	struct pb_writer ts = {0};
	put_label(&ts, "__name__", "1m");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "timeseries 1: label 0: invalid metric name \"1m\"");
	ts = (struct pb_writer){0};
	put_label(&ts, "job", "x");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "timeseries 1: no __name__ label");
	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "");
	put_label(&ts, "job", "x");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "no __name__ label");
}

static void test_duplicate_label_is_refused_sorted_or_not(void **state)
{
	struct fx *f = *state;
	struct pb_writer ts = {0};
	put_label(&ts, "__name__", "m");
	put_label(&ts, "a", "1");
	put_label(&ts, "a", "2");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "timeseries 1: label 2: duplicate label name \"a\"");
	ts = (struct pb_writer){0};
	put_label(&ts, "z", "1");
	put_label(&ts, "__name__", "m");
	put_label(&ts, "b", "1");
	put_label(&ts, "z", "2");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "label 3: duplicate label name \"z\"");
	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	put_label(&ts, "__name__", "n");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "duplicate label name \"__name__\"");
}

static void test_label_without_name_is_refused(void **state)
{
	struct fx *f = *state;
	struct pb_writer ts = {0};
	put_label(&ts, "__name__", "m");
	put_label(&ts, NULL, "orphan");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "timeseries 1: label 1: label without a name");
	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	put_label(&ts, "", "v");
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "label 1: label without a name");
}

static void test_invalid_utf8_values_are_refused(void **state)
{
	struct fx *f = *state;
	const char *bad[] = {
		"\xff",             /* never valid */
		"\xc0\xaf",         /* overlong '/' */
		"\xe0\x80\xaf",     /* overlong, 3 bytes */
		"\xed\xa0\x80",     /* surrogate U+D800 */
		"\xf4\x90\x80\x80", /* past U+10FFFF */
		"abc\xe2\x82",      /* truncated at the end */
		"12345678\xc3(",    /* bad continuation after the fast path */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pb_writer ts = {0};
		put_label(&ts, "__name__", "m");
		put_label(&ts, "v", bad[i]);
		put_sample(&ts, 1, 1);
		expect_refused(f, &ts, "timeseries 1: label 1: value of label \"v\" is not valid UTF-8");
	}
}

static void test_too_many_or_too_long_labels_are_refused(void **state)
{
	struct fx *f = *state;
	struct pb_writer ts = {0};
	char n[16];
	put_label(&ts, "__name__", "m");
	for (unsigned i = 0; i < RWRITE_MAX_LABELS; i++) {
		snprintf(n, sizeof(n), "l%03u", i);
		put_label(&ts, n, "v");
	}
	put_sample(&ts, 1, 1);
	expect_refused(f, &ts, "more than 128 labels");
	size_t vlen = SERIES_LABEL_MAX + 1;
	char *v = malloc(vlen);
	assert_non_null(v);
	memset(v, 'x', vlen);
	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	put_label_n(&ts, "big", 3, v, vlen);
	put_sample(&ts, 1, 1);
	free(v);
	expect_refused(f, &ts, "timeseries 1: series too large");
}

/* Raw request bytes that must be refused with `want` in the message. */
static void expect_raw_refused(struct fx *f, const void *raw, size_t len, const char *want)
{
	uint64_t before = total_wpos(f);
	assert_int_equal(rwrite_ingest(&f->rw, raw, len, 50, &f->stats, f->why, sizeof(f->why)), -EINVAL);
	if (!strstr(f->why, want))
		fail_msg("message \"%s\" lacks \"%s\"", f->why, want);
	assert_int_equal(total_wpos(f), before);
	assert_int_equal(f->rw.in.batch.n, 0);
}

static void test_malformed_protobuf_is_refused_with_a_reason(void **state)
{
	struct fx *f = *state;
	/* Top level. */
	expect_raw_refused(f, "\x0a", 1, "malformed protobuf at byte 0");          /* key, no length */
	expect_raw_refused(f, "\x0a\x80", 2, "malformed protobuf");                 /* truncated length varint */
	expect_raw_refused(f, "\x0a\x05\x0a\x00", 4, "malformed protobuf");         /* length past the end */
	expect_raw_refused(f, "\x80", 1, "malformed protobuf");                     /* truncated key varint */
	expect_raw_refused(f, "\x0b\x0c", 2, "malformed protobuf");                 /* group wire type */
	expect_raw_refused(f, "\x08\x01", 2, "timeseries 0: wire type varint, want length-delimited");
	expect_raw_refused(f, "\x09" "12345678", 9, "timeseries 0: wire type fixed64");
	expect_raw_refused(f, "\x00\x01", 2, "malformed protobuf");                 /* field number 0 */
	expect_raw_refused(f, "\x0a\x01\x80", 3, "timeseries 0: malformed protobuf"); /* bad inside a series */
	/* An 11-byte varint. */
	expect_raw_refused(f, "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, "malformed protobuf");

	/* Inside a series, label and sample: good series first, as in a real
	 * request, so the refusal must also drop what was collected. */
	struct pb_writer ts = {0};
	put_label(&ts, "__name__", "m");
	pb_put_varint_field(&ts, 1, 5); /* label as a varint */
	expect_refused(f, &ts, "timeseries 1: field 1 has wire type varint, want length-delimited");

	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	pb_put_fixed64_field(&ts, 2, 5); /* sample as fixed64 */
	expect_refused(f, &ts, "timeseries 1: field 2 has wire type fixed64");

	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	pb_put_bytes_field(&ts, 1, "\x08\x01", 2); /* Label{name: varint} */
	expect_refused(f, &ts, "timeseries 1: label 1: field 1 has wire type varint");

	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	pb_put_bytes_field(&ts, 1, "\x0a\x05" "ab", 4); /* Label name truncated */
	expect_refused(f, &ts, "timeseries 1: label 1: malformed protobuf in label");

	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	pb_put_bytes_field(&ts, 2, "\x08\x01", 2); /* Sample{value: varint} */
	expect_refused(f, &ts, "timeseries 1: sample 0: value has wire type varint, want fixed64");

	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	put_sample(&ts, 1, 1);
	pb_put_bytes_field(&ts, 2, "\x11" "12345678", 9); /* Sample{timestamp: fixed64} */
	expect_refused(f, &ts, "timeseries 1: sample 1: timestamp has wire type fixed64, want varint");

	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	pb_put_bytes_field(&ts, 2, "\x09\x00\x00", 3); /* Sample value truncated */
	expect_refused(f, &ts, "timeseries 1: sample 0: malformed protobuf");

	ts = (struct pb_writer){0};
	put_label(&ts, "__name__", "m");
	pb_put_bytes_field(&ts, 2, "\x10\xff\xff", 3); /* Sample timestamp varint truncated */
	expect_refused(f, &ts, "timeseries 1: sample 0: malformed protobuf");
}

static void test_every_truncation_of_a_good_request_fails_cleanly(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0};
	put_simple(&req, "trunc", "job", "x", 3);
	put_simple(&req, "trunc2", NULL, NULL, 1);
	/* Every prefix is either a valid request (cut at a series boundary) or
	 * refused; never a crash, never a partial commit. */
	size_t ok = 0;
	for (size_t n = 0; n < req.len; n++) {
		int rc = rwrite_decode(&f->rw, req.buf, n, &f->stats, f->why, sizeof(f->why));
		assert_true(rc == 0 || rc == -EINVAL);
		if (rc == 0)
			ok++;
		else
			assert_int_equal(f->rw.in.batch.n, 0);
	}
	assert_true(ok >= 2); /* the empty prefix and the first series alone */
	ingest_reset(&f->rw.in);
	pb_writer_free(&req);
}

static void test_full_rings_time_out_and_nothing_is_written(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0};
	char v[16];
	for (int i = 0; i < 40; i++) {
		snprintf(v, sizeof(v), "%d", i);
		put_simple(&req, "full", "i", v, 1);
	}
	fill_ring(f, 1, 1024);
	uint64_t before = total_wpos(f);
	assert_int_equal(ingest(f, &req), -ETIMEDOUT);
	assert_int_equal(total_wpos(f), before);
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 0);
	assert_int_equal(f->rw.in.batch.n, 0);
	fill_ring(f, 1, f->cf.p[1].capacity);
	assert_int_equal(ingest(f, &req), 0);
	assert_int_equal(drain(f), 40);
	pb_writer_free(&req);
}

/* ---- HTTP ---- */



/* Sends one request (headers as remote write 1.0 sends them unless ctype or
 * enc say otherwise; NULL leaves a header out) and runs the loop until the
 * answer. Returns the status. */
static int http_do(struct fx *f, enum evhttp_cmd_type cmd, const char *ctype, const char *enc,
		   const void *body, size_t len)
{
	const char *const hdrs[] = {"X-Prometheus-Remote-Write-Version", "0.1.0", "Content-Type", ctype,
				    "Content-Encoding", enc, NULL};
	return cfx_http(&f->cf, cmd, RWRITE_PATH, hdrs, body, len);
}

/* Snappy-compresses req and POSTs it as remote write 1.0. */
static int http_write(struct fx *f, const struct pb_writer *req, const char *ctype)
{
	size_t cap = snappy_max_compressed_length(req->len);
	char *z = malloc(cap + 1);
	assert_non_null(z);
	assert_int_equal(snappy_compress((const char *)req->buf, req->len, z, &cap), SNAPPY_OK);
	int code = http_do(f, EVHTTP_REQ_POST, ctype, "snappy", z, cap);
	free(z);
	return code;
}

#define RW_CTYPE "application/x-protobuf"

static void test_http_write_answers_204_once_stored(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0};
	put_simple(&req, "hw", "job", "x", 3);
	assert_int_equal(http_write(f, &req, RW_CTYPE), 204);
	assert_int_equal(drain(f), 3);
	assert_non_null(find(f, "hw{job=\"x\"}", 1002));
	assert_int_equal(counter(f, CTL_C_REQUESTS), 1);
	/* Without a Content-Encoding the body is taken as snappy, as Prometheus
	 * 1.x-era senders did; the proto parameter naming 1.0 is accepted. */
	size_t cap = snappy_max_compressed_length(req.len);
	char *z = malloc(cap);
	assert_non_null(z);
	assert_int_equal(snappy_compress((const char *)req.buf, req.len, z, &cap), SNAPPY_OK);
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/x-protobuf;proto=prometheus.WriteRequest", NULL, z, cap),
			 204);
	free(z);
	assert_int_equal(drain(f), 3);
	pb_writer_free(&req);
}

static void test_http_bad_labels_answer_400_with_the_reason(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0}, ts = {0};
	put_simple(&req, "fine", NULL, NULL, 1);
	put_label(&ts, "__name__", "m");
	put_label(&ts, "1abc", "v");
	put_sample(&ts, 1, 1);
	put_series(&req, &ts);
	assert_int_equal(http_write(f, &req, RW_CTYPE), 400);
	assert_non_null(strstr(f->cf.body, "bad_data"));
	assert_non_null(strstr(f->cf.body, "timeseries 1: label 1: invalid label name"));
	assert_non_null(strstr(f->cf.body, "1abc"));
	assert_int_equal(drain(f), 0);
	assert_int_equal(counter(f, CTL_C_BAD_REQUESTS), 1);
	pb_writer_free(&req);
}

static void test_http_bad_snappy_or_protobuf_answers_400(void **state)
{
	struct fx *f = *state;
	const char junk[] = "this is not snappy at all \xff\xff\xff\xff\xff";
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, RW_CTYPE, "snappy", junk, sizeof(junk)), 400);
	assert_non_null(strstr(f->cf.body, "snappy"));
	/* Valid snappy, invalid protobuf. */
	char z[64];
	size_t zl = sizeof(z);
	assert_int_equal(snappy_compress("\x0a\x80", 2, z, &zl), SNAPPY_OK);
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, RW_CTYPE, "snappy", z, zl), 400);
	assert_non_null(strstr(f->cf.body, "malformed protobuf"));
	assert_int_equal(drain(f), 0);
}

static void test_http_remote_write_2_and_other_types_answer_415(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0};
	put_simple(&req, "v2", NULL, NULL, 1);
	assert_int_equal(http_write(f, &req, "application/x-protobuf;proto=io.prometheus.write.v2.Request"), 415);
	assert_non_null(strstr(f->cf.body, "remote write 2.0"));
	assert_int_equal(http_write(f, &req, "application/json"), 415);
	assert_non_null(strstr(f->cf.body, "Content-Type"));
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, RW_CTYPE, "zstd", "x", 1), 415);
	assert_int_equal(drain(f), 0);
	assert_int_equal(counter(f, CTL_C_BAD_REQUESTS), 3);
	pb_writer_free(&req);
}

static void test_http_get_answers_405(void **state)
{
	struct fx *f = *state;
	assert_int_equal(http_do(f, EVHTTP_REQ_GET, NULL, NULL, NULL, 0), 405);
}

static void test_http_body_past_the_limit_answers_413(void **state)
{
	struct fx *f = *state;
	size_t n = (size_t)f->cf.st.cfg.max_body_bytes + 1;
	char *zeros = calloc(1, n);
	assert_non_null(zeros);
	size_t cap = snappy_max_compressed_length(n);
	char *z = malloc(cap);
	assert_non_null(z);
	assert_int_equal(snappy_compress(zeros, n, z, &cap), SNAPPY_OK);
	assert_true(cap < (size_t)f->cf.st.cfg.max_body_bytes); /* small on the wire */
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, RW_CTYPE, "snappy", z, cap), 413);
	free(z);
	free(zeros);
	assert_int_equal(drain(f), 0);
}

static void test_http_full_rings_answer_503_with_retry_after(void **state)
{
	struct fx *f = *state;
	struct pb_writer req = {0};
	char v[16];
	for (int i = 0; i < 40; i++) {
		snprintf(v, sizeof(v), "%d", i);
		put_simple(&req, "full", "i", v, 1);
	}
	fill_ring(f, 0, 512);
	fill_ring(f, 1, 512);
	assert_int_equal(http_write(f, &req, RW_CTYPE), 503);
	assert_true(f->cf.retry_after[0] != '\0');
	assert_int_equal(counter(f, CTL_C_REJECTED), 1);
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 0);
	pb_writer_free(&req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_request_lands_in_the_rings_with_canonical_keys, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_every_sample_of_a_series_carries_the_extra_labels, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nan_stale_inf_and_negative_zero_pass_bit_exact, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_huge_and_negative_timestamps_pass_unchanged, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_absent_sample_fields_are_zero_as_in_proto3, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_exemplars_metadata_and_unknown_fields_are_ignored, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_native_histograms_are_skipped_and_counted_floats_kept, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_valid_multibyte_utf8_values_are_accepted, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_empty_request_is_accepted_and_writes_nothing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_thousand_series_of_ten_samples_arrive_exactly, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_label_name_names_series_and_label, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_or_missing_metric_name_is_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_label_is_refused_sorted_or_not, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_label_without_name_is_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_utf8_values_are_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_too_many_or_too_long_labels_are_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_protobuf_is_refused_with_a_reason, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation_of_a_good_request_fails_cleanly, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_full_rings_time_out_and_nothing_is_written, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_write_answers_204_once_stored, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_bad_labels_answer_400_with_the_reason, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_bad_snappy_or_protobuf_answers_400, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_remote_write_2_and_other_types_answer_415, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_get_answers_405, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_body_past_the_limit_answers_413, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_full_rings_answer_503_with_retry_after, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
