/* test_collector_otlp: unit tests of the OTLP receiver (collector/otlp,
 * otlppb, otlpjson) and of its name translation (common/otlpname).
 *
 * Requests are built here: protobuf with pb_writer (field numbers of
 * opentelemetry-proto v1), JSON as text. The stage is assembled by hand as
 * in test_collector_push: a control block under a unique instance name and
 * two sample rings that the test reads back through consumer handles; the
 * teardown unlinks every segment. Samples are compared by their series key
 * in Prometheus text form.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "collector/otlp.h"
#include "common/otlpname.h"
#include "common/pb.h"
#include "common/records.h"
#include "common/series.h"
#include "common/stage.h"

#include "collector_fixture.h"

#define NRING 2
#define MAXGOT 512
#define T0_NS 1700000000123000000ull  /* a data point time */
#define T0_MS 1700000000123ll

struct fx {
	struct cfx cf;   /* stage, rings, router, event base, evhttp, last answer */
	struct otlp otlp;
	struct cfx_got got[MAXGOT];
	size_t ngot;
};

static int fx_setup(void **state)
{
	static int counter;
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	if (cfx_setup(&f->cf, "utotlp", &counter, NRING,
		      "\"rings\":{\"sample_bytes\":1048576,\"push_wait\":\"50ms\"}") != 0)
		return -1;
	if (otlp_init(&f->otlp, &f->cf.st, &f->cf.router, f->cf.http) != 0)
		return -1;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	otlp_fini(&f->otlp);
	cfx_teardown(&f->cf);
	free(f);
	return 0;
}

/* Reads every published sample of every ring into f->got (emptied first). */
static size_t drain(struct fx *f)
{
	return cfx_drain(&f->cf, f->got, MAXGOT, &f->ngot, NULL, CFX_RESET);
}

/* Consumes every published record without looking at it. */
static void discard(struct fx *f)
{
	cfx_discard(&f->cf);
}

static const struct cfx_got *find(struct fx *f, const char *text)
{
	for (size_t i = 0; i < f->ngot; i++)
		if (strcmp(f->got[i].text, text) == 0)
			return &f->got[i];
	return NULL;
}

/* The value of series `text`; fails the test when it is missing. */
static double val(struct fx *f, const char *text)
{
	const struct cfx_got *g = find(f, text);
	if (!g) {
		fprintf(stderr, "missing series %s; have:\n", text);
		for (size_t i = 0; i < f->ngot; i++)
			fprintf(stderr, "  %s %g\n", f->got[i].text, f->got[i].value);
	}
	assert_non_null(g);
	return g->value;
}

static int is_stale(double v)
{
	uint64_t b;
	memcpy(&b, &v, 8);
	return b == 0x7ff0000000000002ull;
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

/* ---- protobuf request building (opentelemetry-proto field numbers) ---- */

/* Appends message m as field num of w and frees m. */
static void put_msg(struct pb_writer *w, uint32_t num, struct pb_writer *m)
{
	pb_put_bytes_field(w, num, m->buf ? (const void *)m->buf : "", m->len);
	pb_writer_free(m);
}

static void put_str(struct pb_writer *w, uint32_t num, const char *s)
{
	pb_put_bytes_field(w, num, s, strlen(s));
}

/* KeyValue {1 key, 2 AnyValue {1 string_value}} as field num. */
static void put_attr(struct pb_writer *w, uint32_t num, const char *k, const char *v)
{
	struct pb_writer any = {0}, kv = {0};
	put_str(&any, 1, v);
	put_str(&kv, 1, k);
	put_msg(&kv, 2, &any);
	put_msg(w, num, &kv);
}

/* KeyValue with an arbitrary AnyValue (consumed). */
static void put_attr_any(struct pb_writer *w, uint32_t num, const char *k, struct pb_writer *any)
{
	struct pb_writer kv = {0};
	put_str(&kv, 1, k);
	put_msg(&kv, 2, any);
	put_msg(w, num, &kv);
}

/* Metric {1 name, 3 unit, <kind> data} with data consumed. */
static void metric(struct pb_writer *out, const char *name, const char *unit, uint32_t kind_field, struct pb_writer *data)
{
	struct pb_writer m = {0};
	put_str(&m, 1, name);
	put_str(&m, 2, "a description");
	if (unit)
		put_str(&m, 3, unit);
	put_msg(&m, kind_field, data);
	put_msg(out, 2, &m); /* ScopeMetrics.metrics */
}

/* ExportMetricsServiceRequest with one resource (service.name=svc,
 * service.namespace=ns, service.instance.id=i1, host.name=h) and one scope
 * holding the metrics in `scope` (consumed). */
static void request(struct pb_writer *out, struct pb_writer *scope)
{
	struct pb_writer res = {0}, rm = {0}, sc = {0};
	put_attr(&res, 1, "service.name", "svc");
	put_attr(&res, 1, "service.namespace", "ns");
	put_attr(&res, 1, "service.instance.id", "i1");
	put_attr(&res, 1, "host.name", "h");
	put_str(&sc, 1, "my.scope");
	put_msg(scope, 1, &sc); /* InstrumentationScope after the metrics: order is free */
	put_msg(&rm, 2, scope);
	put_msg(&rm, 1, &res);  /* the resource after its scopes, too */
	put_msg(out, 1, &rm);
}

/* NumberDataPoint {7 attrs..., 3 time, 4 as_double | 6 as_int, 8 flags}. */
static void number_point(struct pb_writer *data, const char *ak, const char *av, double v, int as_int, uint32_t flags)
{
	struct pb_writer p = {0};
	if (ak)
		put_attr(&p, 7, ak, av);
	pb_put_fixed64_field(&p, 2, T0_NS - 1000000000ull);
	pb_put_fixed64_field(&p, 3, T0_NS);
	if (as_int)
		pb_put_fixed64_field(&p, 6, (uint64_t)(int64_t)v);
	else if (!flags)
		pb_put_double_field(&p, 4, v);
	if (flags)
		pb_put_varint_field(&p, 8, flags);
	put_msg(data, 1, &p);
}

static int ingest_pb(struct fx *f, struct pb_writer *w, struct otlp_result *res)
{
	int rc = otlp_ingest(&f->otlp, (const char *)w->buf, w->len, OTLP_PROTOBUF, 555000, 50, res);
	pb_writer_free(w);
	return rc;
}

static int ingest_json(struct fx *f, const char *body, struct otlp_result *res)
{
	return otlp_ingest(&f->otlp, body, strlen(body), OTLP_JSON, 555000, 50, res);
}

/* ---- name translation ---- */

static void test_metric_names_follow_prometheus_otlp_translation(void **state)
{
	(void)state;
	static const struct {
		const char *name, *unit;
		enum otlpname_type type;
		const char *want;
	} cases[] = {
		{"http.server.duration", "ms", OTLPNAME_HISTOGRAM, "http_server_duration_milliseconds"},
		{"http.server.request.duration", "s", OTLPNAME_HISTOGRAM, "http_server_request_duration_seconds"},
		{"my.requests", "{requests}", OTLPNAME_COUNTER, "my_requests_total"},
		{"requests.total", "1", OTLPNAME_COUNTER, "requests_total"},
		{"total.requests", "", OTLPNAME_COUNTER, "requests_total"},
		{"cpu.utilization", "1", OTLPNAME_GAUGE, "cpu_utilization_ratio"},
		{"ratio.cpu", "1", OTLPNAME_GAUGE, "cpu_ratio"},
		{"cpu.utilization", "1", OTLPNAME_UPDOWN, "cpu_utilization"},
		{"memory.usage", "By", OTLPNAME_GAUGE, "memory_usage_bytes"},
		{"memory.usage", "By", OTLPNAME_COUNTER, "memory_usage_bytes_total"},
		{"net.io", "By/s", OTLPNAME_UPDOWN, "net_io_bytes_per_second"},
		{"req.rate", "{req}/s", OTLPNAME_GAUGE, "req_rate_per_second"},
		{"dist", "m/{x}", OTLPNAME_GAUGE, "dist_meters"},
		{"foo_seconds", "s", OTLPNAME_GAUGE, "foo_seconds"},
		{"temp", "Cel", OTLPNAME_GAUGE, "temp_celsius"},
		{"load", "%", OTLPNAME_GAUGE, "load_percent"},
		{"x", "km", OTLPNAME_GAUGE, "x_km"},
		{"2xx.count", "", OTLPNAME_COUNTER, "_2xx_count_total"},
		{"a..b__c-d/e", "", OTLPNAME_GAUGE, "a_b_c_d_e"},
		{"_leading.trailing_", "", OTLPNAME_GAUGE, "leading_trailing"},
		{"ns:sub.metric", "", OTLPNAME_GAUGE, "ns:sub_metric"},
		{"caf\xc3\xa9.hits", "", OTLPNAME_COUNTER, "caf_hits_total"},
		{"q", "ms", OTLPNAME_SUMMARY, "q_milliseconds"},
		{"up.time", "d", OTLPNAME_UPDOWN, "up_time_days"},
	};
	char out[OTLPNAME_MAX];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = otlpname_metric(out, sizeof(out), cases[i].name, strlen(cases[i].name), cases[i].unit,
					strlen(cases[i].unit), cases[i].type);
		if (n < 0 || strcmp(out, cases[i].want) != 0)
			fprintf(stderr, "case %zu: %s [%s] -> %s (%d), want %s\n", i, cases[i].name, cases[i].unit,
				n < 0 ? "error" : out, n, cases[i].want);
		assert_true(n > 0);
		assert_string_equal(out, cases[i].want);
		assert_int_equal((size_t)n, strlen(cases[i].want));
	}
	assert_int_equal(otlpname_metric(out, sizeof(out), "...", 3, "", 0, OTLPNAME_GAUGE), -EINVAL);
	assert_int_equal(otlpname_metric(out, sizeof(out), "", 0, "", 0, OTLPNAME_GAUGE), -EINVAL);
	assert_int_equal(otlpname_metric(out, 8, "a.long.name", 11, "", 0, OTLPNAME_GAUGE), -E2BIG);
}

static void test_label_names_and_numbers_are_translated(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} labels[] = {
		{"http.method", "http_method"}, {"123abc", "key_123abc"}, {"_foo", "key_foo"},
		{".foo", "key_foo"}, {"__reserved__", "__reserved__"}, {"a-b/c", "a_b_c"},
		{"a__b", "a__b"}, {"\xc3\xbc", "key_"}, {"x\xc3\xbcy", "x_y"}, {"plain", "plain"},
	};
	char out[256];
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		int n = otlpname_label(out, sizeof(out), labels[i].in, strlen(labels[i].in));
		assert_true(n > 0);
		assert_string_equal(out, labels[i].want);
	}
	assert_int_equal(otlpname_label(out, sizeof(out), "", 0), -EINVAL);
	assert_int_equal(otlpname_label(out, sizeof(out), "__", 2), -EINVAL);

	static const struct {
		double v;
		const char *want;
	} nums[] = {
		{0.005, "0.005"}, {1e6, "1000000"}, {2.5, "2.5"}, {100, "100"}, {-1, "-1"}, {0.1, "0.1"},
		{1e-7, "0.0000001"}, {1.4142135623730951, "1.4142135623730951"}, {0, "0"}, {0.99, "0.99"},
		{INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {123456.789, "123456.789"},
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		assert_true(otlpname_float(out, sizeof(out), nums[i].v) > 0);
		assert_string_equal(out, nums[i].want);
	}
	char wide[400];
	assert_int_equal(otlpname_float(wide, sizeof(wide), 1e300), 301);
	assert_true(strtod(wide, NULL) == 1e300);
	assert_int_equal(otlpname_float(out, sizeof(out), 1e300), -E2BIG);
}

/* ---- protobuf ---- */

static void test_gauge_and_sums_get_names_job_instance_and_target_info(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0}, scope = {0}, g = {0}, s = {0}, u = {0};
	struct otlp_result res;
	number_point(&g, "room", "a", 21.5, 0, 0);
	metric(&scope, "temp", "Cel", 5, &g);
	number_point(&s, "http.route", "/a", 5, 1, 0);
	number_point(&s, "http.route", "/b", 7, 1, 0);
	pb_put_varint_field(&s, 2, 2); /* CUMULATIVE */
	pb_put_varint_field(&s, 3, 1); /* monotonic */
	metric(&scope, "my.requests", "{requests}", 7, &s);
	number_point(&u, NULL, NULL, -3, 1, 0);
	pb_put_varint_field(&u, 2, 2);
	metric(&scope, "queue.size", "{items}", 7, &u);
	request(&w, &scope);
	assert_int_equal(ingest_pb(f, &w, &res), 0);
	assert_int_equal(res.rejected, 0);
	assert_int_equal(res.samples, 5);
	assert_int_equal(drain(f), 5);
	const struct cfx_got *gt = find(f, "temp_celsius{instance=\"i1\",job=\"ns/svc\",room=\"a\"}");
	assert_non_null(gt);
	assert_true(gt->value == 21.5);
	assert_int_equal(gt->ts, T0_MS);
	assert_true(val(f, "my_requests_total{http_route=\"/a\",instance=\"i1\",job=\"ns/svc\"}") == 5);
	assert_true(val(f, "my_requests_total{http_route=\"/b\",instance=\"i1\",job=\"ns/svc\"}") == 7);
	assert_true(val(f, "queue_size{instance=\"i1\",job=\"ns/svc\"}") == -3);
	const struct cfx_got *ti = find(f, "target_info{host_name=\"h\",instance=\"i1\",job=\"ns/svc\"}");
	assert_non_null(ti);
	assert_true(ti->value == 1);
	assert_int_equal(ti->ts, T0_MS);
}

static void test_histogram_buckets_are_cumulative_with_inf_sum_and_count(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0}, scope = {0}, h = {0}, p = {0};
	struct otlp_result res;
	put_attr(&p, 9, "method", "GET");
	pb_put_fixed64_field(&p, 3, T0_NS);
	pb_put_fixed64_field(&p, 4, 6);
	pb_put_double_field(&p, 5, 42);
	/* bucket_counts packed, explicit_bounds unpacked: both forms are valid */
	uint64_t c[] = {1, 2, 0, 3};
	pb_put_bytes_field(&p, 6, c, sizeof(c));
	double b[] = {0.5, 5, 10};
	for (int i = 0; i < 3; i++)
		pb_put_double_field(&p, 7, b[i]);
	put_msg(&h, 1, &p);
	pb_put_varint_field(&h, 2, 2);
	metric(&scope, "http.server.duration", "ms", 9, &h);
	request(&w, &scope);
	assert_int_equal(ingest_pb(f, &w, &res), 0);
	assert_int_equal(res.rejected, 0);
	drain(f);
	const char *lbl = "instance=\"i1\",job=\"ns/svc\",method=\"GET\"";
	char k[256];
#define B(le) (snprintf(k, sizeof(k), "http_server_duration_milliseconds_bucket{instance=\"i1\",job=\"ns/svc\"," \
			"le=\"%s\",method=\"GET\"}", le), val(f, k))
	assert_true(B("0.5") == 1);
	assert_true(B("5") == 3);
	assert_true(B("10") == 3);
	assert_true(B("+Inf") == 6);
#undef B
	snprintf(k, sizeof(k), "http_server_duration_milliseconds_sum{%s}", lbl);
	assert_true(val(f, k) == 42);
	snprintf(k, sizeof(k), "http_server_duration_milliseconds_count{%s}", lbl);
	assert_true(val(f, k) == 6);
	assert_int_equal(f->ngot, 4 + 2 + 1); /* buckets, sum, count, target_info */
}

static void test_summary_gives_quantiles_sum_and_count(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0}, scope = {0}, s = {0}, p = {0};
	struct otlp_result res;
	pb_put_fixed64_field(&p, 3, T0_NS);
	pb_put_fixed64_field(&p, 4, 10);
	pb_put_double_field(&p, 5, 12.5);
	double qs[][2] = {{0.5, 1.0}, {0.99, 3.5}};
	for (int i = 0; i < 2; i++) {
		struct pb_writer q = {0};
		pb_put_double_field(&q, 1, qs[i][0]);
		pb_put_double_field(&q, 2, qs[i][1]);
		put_msg(&p, 6, &q);
	}
	put_msg(&s, 1, &p);
	metric(&scope, "rpc.latency", "s", 11, &s);
	request(&w, &scope);
	assert_int_equal(ingest_pb(f, &w, &res), 0);
	drain(f);
	assert_true(val(f, "rpc_latency_seconds{instance=\"i1\",job=\"ns/svc\",quantile=\"0.5\"}") == 1.0);
	assert_true(val(f, "rpc_latency_seconds{instance=\"i1\",job=\"ns/svc\",quantile=\"0.99\"}") == 3.5);
	assert_true(val(f, "rpc_latency_seconds_sum{instance=\"i1\",job=\"ns/svc\"}") == 12.5);
	assert_true(val(f, "rpc_latency_seconds_count{instance=\"i1\",job=\"ns/svc\"}") == 10);
}

/* Exponential buckets at scale 0 (base 2): negative index 1 = [-4, -2),
 * zero bucket, positive indices 0..2 = (1,2], (2,4], (4,8]. */
static void test_exponential_histogram_becomes_classic_buckets(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0}, scope = {0}, e = {0}, p = {0}, pos = {0}, neg = {0};
	struct otlp_result res;
	pb_put_fixed64_field(&p, 3, T0_NS);
	pb_put_fixed64_field(&p, 4, 8);
	pb_put_double_field(&p, 5, 20);
	pb_put_varint_field(&p, 6, 0);       /* scale 0 (zigzag) */
	pb_put_fixed64_field(&p, 7, 1);      /* zero_count */
	pb_put_varint_field(&pos, 1, 0);     /* offset 0 */
	uint8_t packed[] = {1, 2, 3};
	pb_put_bytes_field(&pos, 2, packed, 3);
	put_msg(&p, 8, &pos);
	pb_put_varint_field(&neg, 1, 2);     /* offset 1, zigzag */
	pb_put_varint_field(&neg, 2, 1);     /* unpacked */
	put_msg(&p, 9, &neg);
	put_msg(&e, 1, &p);
	pb_put_varint_field(&e, 2, 2);
	metric(&scope, "payload", "By", 10, &e);
	request(&w, &scope);
	assert_int_equal(ingest_pb(f, &w, &res), 0);
	assert_int_equal(res.rejected, 0);
	drain(f);
	char k[256];
#define B(le) (snprintf(k, sizeof(k), "payload_bytes_bucket{instance=\"i1\",job=\"ns/svc\",le=\"%s\"}", le), val(f, k))
	assert_true(B("-2") == 1);
	assert_true(B("0") == 2);
	assert_true(B("2") == 3);
	assert_true(B("4") == 5);
	assert_true(B("8") == 8);
	assert_true(B("+Inf") == 8);
#undef B
	assert_true(val(f, "payload_bytes_count{instance=\"i1\",job=\"ns/svc\"}") == 8);
	assert_true(val(f, "payload_bytes_sum{instance=\"i1\",job=\"ns/svc\"}") == 20);

	/* Scale 1: base sqrt(2); bucket 1 = (sqrt2, 2]. */
	struct pb_writer w2 = {0}, scope2 = {0}, e2 = {0}, p2 = {0}, pos2 = {0};
	pb_put_fixed64_field(&p2, 3, T0_NS);
	pb_put_fixed64_field(&p2, 4, 2);
	pb_put_varint_field(&p2, 6, 2);      /* scale 1 */
	pb_put_varint_field(&pos2, 1, 2);    /* offset 1 */
	uint8_t packed2[] = {2};
	pb_put_bytes_field(&pos2, 2, packed2, 1);
	put_msg(&p2, 8, &pos2);
	put_msg(&e2, 1, &p2);
	pb_put_varint_field(&e2, 2, 2);
	metric(&scope2, "sq", NULL, 10, &e2);
	request(&w2, &scope2);
	assert_int_equal(ingest_pb(f, &w2, &res), 0);
	drain(f);
	assert_true(val(f, "sq_bucket{instance=\"i1\",job=\"ns/svc\",le=\"2\"}") == 2);
	assert_true(val(f, "sq_bucket{instance=\"i1\",job=\"ns/svc\",le=\"0\"}") == 0);
	assert_null(find(f, "sq_sum{instance=\"i1\",job=\"ns/svc\"}")); /* no sum sent */
}

/* A delta sum of 5, then 3: the stored counter reads 5, then 8. A request
 * refused with full rings does not advance the total; its retry does. */
static void test_delta_sums_accumulate_and_a_retry_is_not_counted_twice(void **state)
{
	struct fx *f = *state;
	double deltas[] = {5, 3, 2};
	struct otlp_result res;
	for (int i = 0; i < 3; i++) {
		struct pb_writer w = {0}, scope = {0}, s = {0};
		number_point(&s, "k", "v", deltas[i], 1, 0);
		pb_put_varint_field(&s, 2, 1); /* DELTA */
		pb_put_varint_field(&s, 3, 1);
		metric(&scope, "jobs.done", NULL, 7, &s);
		request(&w, &scope);
		if (i == 2) {
			/* the same body twice: first into full rings */
			uint8_t *body = malloc(w.len);
			assert_non_null(body);
			memcpy(body, w.buf, w.len);
			size_t len = w.len;
			fill_ring(f, 0, 256);
			fill_ring(f, 1, 256);
			uint64_t before = total_wpos(f);
			assert_int_equal(otlp_ingest(&f->otlp, (const char *)body, len, OTLP_PROTOBUF, 1, 20, &res),
					 -ETIMEDOUT);
			assert_int_equal(total_wpos(f), before);
			fill_ring(f, 0, f->cf.p[0].capacity);
			fill_ring(f, 1, f->cf.p[1].capacity);
			pb_writer_free(&w);
			assert_int_equal(otlp_ingest(&f->otlp, (const char *)body, len, OTLP_PROTOBUF, 1, 20, &res), 0);
			free(body);
		} else {
			assert_int_equal(ingest_pb(f, &w, &res), 0);
		}
		drain(f);
		double want = i == 0 ? 5 : i == 1 ? 8 : 10;
		assert_true(val(f, "jobs_done_total{instance=\"i1\",job=\"ns/svc\",k=\"v\"}") == want);
	}
}

static void test_delta_histograms_accumulate_per_bucket(void **state)
{
	struct fx *f = *state;
	struct otlp_result res;
	for (int i = 0; i < 2; i++) {
		struct pb_writer w = {0}, scope = {0}, h = {0}, p = {0};
		pb_put_fixed64_field(&p, 3, T0_NS + (uint64_t)i * 1000000000ull);
		pb_put_fixed64_field(&p, 4, 3);
		pb_put_double_field(&p, 5, 1.5);
		uint64_t c[] = {1, 2};
		pb_put_bytes_field(&p, 6, c, sizeof(c));
		pb_put_double_field(&p, 7, 1);
		put_msg(&h, 1, &p);
		pb_put_varint_field(&h, 2, 1); /* DELTA */
		metric(&scope, "lat", "s", 9, &h);
		request(&w, &scope);
		assert_int_equal(ingest_pb(f, &w, &res), 0);
	}
	drain(f);
	/* second export's values only (first drained with it: keep the latest) */
	double le1 = 0, inf = 0, sum = 0, cnt = 0;
	for (size_t i = 0; i < f->ngot; i++) {
		const struct cfx_got *g = &f->got[i];
		if (g->ts != T0_MS + 1000)
			continue;
		if (strstr(g->text, "le=\"1\""))
			le1 = g->value;
		else if (strstr(g->text, "le=\"+Inf\""))
			inf = g->value;
		else if (strstr(g->text, "_sum"))
			sum = g->value;
		else if (strstr(g->text, "_count"))
			cnt = g->value;
	}
	assert_true(le1 == 2);
	assert_true(inf == 6);
	assert_true(sum == 3);
	assert_true(cnt == 6);
}

static void test_no_recorded_value_writes_stale_markers(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0}, scope = {0}, g = {0}, h = {0}, p = {0};
	struct otlp_result res;
	number_point(&g, NULL, NULL, 0, 0, 1);
	metric(&scope, "gone", NULL, 5, &g);
	pb_put_fixed64_field(&p, 3, T0_NS);
	pb_put_double_field(&p, 7, 1);
	pb_put_varint_field(&p, 10, 1); /* flags */
	put_msg(&h, 1, &p);
	pb_put_varint_field(&h, 2, 2);
	metric(&scope, "gone.hist", NULL, 9, &h);
	request(&w, &scope);
	assert_int_equal(ingest_pb(f, &w, &res), 0);
	assert_int_equal(res.rejected, 0);
	drain(f);
	assert_true(is_stale(val(f, "gone{instance=\"i1\",job=\"ns/svc\"}")));
	assert_true(is_stale(val(f, "gone_hist_bucket{instance=\"i1\",job=\"ns/svc\",le=\"1\"}")));
	assert_true(is_stale(val(f, "gone_hist_bucket{instance=\"i1\",job=\"ns/svc\",le=\"+Inf\"}")));
	assert_true(is_stale(val(f, "gone_hist_count{instance=\"i1\",job=\"ns/svc\"}")));
}

static void test_attributes_collide_resource_wins_and_values_render(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0}, scope = {0}, g = {0}, p = {0}, any = {0}, arr = {0}, a1 = {0}, a2 = {0};
	struct otlp_result res;
	put_attr(&p, 7, "a_b", "2");
	put_attr(&p, 7, "a.b", "1");
	put_attr(&p, 7, "job", "mine");
	put_attr(&p, 7, "empty", "");
	pb_put_varint_field(&any, 3, (uint64_t)-42);   /* int_value */
	put_attr_any(&p, 7, "n", &any);
	pb_put_varint_field(&any, 2, 1);               /* bool_value */
	put_attr_any(&p, 7, "flag", &any);
	pb_put_double_field(&any, 4, 0.25);            /* double_value */
	put_attr_any(&p, 7, "d", &any);
	put_str(&a1, 1, "x");
	pb_put_varint_field(&a2, 3, 7);
	put_msg(&arr, 1, &a1);
	put_msg(&arr, 1, &a2);
	put_msg(&any, 5, &arr);                        /* array_value */
	put_attr_any(&p, 7, "list", &any);
	pb_put_bytes_field(&any, 7, "\x01\x02\x03", 3); /* bytes_value */
	put_attr_any(&p, 7, "raw", &any);
	pb_put_fixed64_field(&p, 3, T0_NS);
	pb_put_double_field(&p, 4, 1);
	put_msg(&g, 1, &p);
	metric(&scope, "m", NULL, 5, &g);
	request(&w, &scope);
	assert_int_equal(ingest_pb(f, &w, &res), 0);
	drain(f);
	assert_true(val(f, "m{a_b=\"1;2\",d=\"0.25\",flag=\"true\",instance=\"i1\",job=\"ns/svc\","
			   "list=\"[\\\"x\\\",7]\",n=\"-42\",raw=\"AQID\"}") == 1);
}

static void test_bad_points_are_refused_as_partial_success(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0}, scope = {0}, s = {0}, h = {0}, p = {0}, g = {0}, e = {0}, ep = {0};
	struct otlp_result res;
	number_point(&s, NULL, NULL, 1, 0, 0);
	number_point(&s, NULL, NULL, 2, 0, 0);
	metric(&scope, "no.temporality", NULL, 7, &s);  /* temporality unspecified: 2 refused */
	uint64_t c[] = {1, 2};
	pb_put_bytes_field(&p, 6, c, sizeof(c));
	pb_put_double_field(&p, 7, 1);
	pb_put_double_field(&p, 7, 2);                  /* 2 bounds, 2 counts: refused */
	put_msg(&h, 1, &p);
	pb_put_varint_field(&h, 2, 2);
	metric(&scope, "bad.hist", NULL, 9, &h);
	number_point(&g, NULL, NULL, 9, 0, 0);
	metric(&scope, "...", NULL, 5, &g);             /* no usable name: refused */
	pb_put_varint_field(&ep, 6, 2);
	put_msg(&e, 1, &ep);
	pb_put_varint_field(&e, 2, 1);                  /* delta exponential: refused */
	metric(&scope, "delta.exp", NULL, 10, &e);
	struct pb_writer ok = {0}, big = {0};
	char *huge = malloc(SERIES_LABEL_MAX + 10);
	assert_non_null(huge);
	memset(huge, 'v', SERIES_LABEL_MAX + 9);
	huge[SERIES_LABEL_MAX + 9] = '\0';
	number_point(&big, "k", huge, 1, 0, 0);        /* not a storable series: refused */
	pb_put_varint_field(&big, 2, 1);
	pb_put_varint_field(&big, 3, 1);
	metric(&scope, "big.delta", NULL, 7, &big);
	free(huge);
	number_point(&ok, NULL, NULL, 3, 0, 0);
	metric(&scope, "fine", NULL, 5, &ok);
	request(&w, &scope);
	assert_int_equal(ingest_pb(f, &w, &res), 0);
	assert_int_equal(res.rejected, 6);
	assert_non_null(strstr(res.error, "temporality"));
	drain(f);
	assert_true(val(f, "fine{instance=\"i1\",job=\"ns/svc\"}") == 3);
	assert_int_equal(f->ngot, 2); /* fine + target_info */
}

static void test_malformed_protobuf_is_refused_whole(void **state)
{
	struct fx *f = *state;
	struct otlp_result res;
	struct pb_writer w = {0}, scope = {0}, g = {0};
	number_point(&g, NULL, NULL, 1, 0, 0);
	metric(&scope, "m", NULL, 5, &g);
	request(&w, &scope);
	uint64_t before = total_wpos(f);
	/* truncated */
	assert_int_equal(otlp_ingest(&f->otlp, (const char *)w.buf, w.len - 3, OTLP_PROTOBUF, 1, 20, &res), -EINVAL);
	assert_true(res.error[0] != '\0');
	/* garbage */
	assert_int_equal(otlp_ingest(&f->otlp, "\xff\xff\xff\xff", 4, OTLP_PROTOBUF, 1, 20, &res), -EINVAL);
	/* resource_metrics with a varint wire type */
	assert_int_equal(otlp_ingest(&f->otlp, "\x08\x01", 2, OTLP_PROTOBUF, 1, 20, &res), -EINVAL);
	assert_non_null(strstr(res.error, "wire type"));
	pb_writer_free(&w);
	assert_int_equal(total_wpos(f), before);
	assert_int_equal(drain(f), 0);
	/* An empty request is valid and stores nothing. */
	assert_int_equal(otlp_ingest(&f->otlp, "", 0, OTLP_PROTOBUF, 1, 20, &res), 0);
	assert_int_equal(res.samples, 0);
}

static const char *json_all_for_fuzz;

/* Every single-byte corruption and every truncation of a request that
 * holds every metric kind ends in 0 or -EINVAL, never a crash (ASan runs
 * this too). */
static void test_corrupted_and_truncated_protobuf_never_crash(void **state)
{
	struct fx *f = *state;
	struct otlp_result res;
	struct pb_writer w = {0}, scope = {0}, g = {0}, s = {0}, h = {0}, hp = {0}, e = {0}, ep = {0}, pos = {0};
	number_point(&g, "a", "b", 1, 0, 0);
	metric(&scope, "g", "1", 5, &g);
	number_point(&s, NULL, NULL, 2, 1, 0);
	pb_put_varint_field(&s, 2, 1);
	pb_put_varint_field(&s, 3, 1);
	metric(&scope, "s", "By", 7, &s);
	uint64_t c[] = {1, 2};
	pb_put_bytes_field(&hp, 6, c, sizeof(c));
	pb_put_double_field(&hp, 7, 1);
	pb_put_fixed64_field(&hp, 4, 3);
	put_msg(&h, 1, &hp);
	pb_put_varint_field(&h, 2, 2);
	metric(&scope, "h", "ms", 9, &h);
	pb_put_varint_field(&ep, 6, 6);
	pb_put_varint_field(&pos, 1, 3);
	pb_put_bytes_field(&pos, 2, "\x01\x02", 2);
	put_msg(&ep, 8, &pos);
	put_msg(&e, 1, &ep);
	pb_put_varint_field(&e, 2, 2);
	metric(&scope, "e", NULL, 10, &e);
	request(&w, &scope);
	uint8_t *buf = malloc(w.len);
	assert_non_null(buf);
	for (size_t i = 0; i < w.len; i++) {
		static const uint8_t flips[] = {0xff, 0x80, 0x01, 0x7f};
		for (size_t k = 0; k < sizeof(flips); k++) {
			memcpy(buf, w.buf, w.len);
			buf[i] ^= flips[k];
			int rc = otlp_ingest(&f->otlp, (const char *)buf, w.len, OTLP_PROTOBUF, 1, 20, &res);
			assert_true(rc == 0 || rc == -EINVAL);
			discard(f);
		}
		int rc = otlp_ingest(&f->otlp, (const char *)w.buf, i, OTLP_PROTOBUF, 1, 20, &res);
		assert_true(rc == 0 || rc == -EINVAL);
		discard(f);
	}
	free(buf);
	for (size_t i = 0; i < strlen(json_all_for_fuzz); i += 7) {
		int rc = otlp_ingest(&f->otlp, json_all_for_fuzz, i, OTLP_JSON, 1, 20, &res);
		assert_true(rc == 0 || rc == -EINVAL);
	}
	pb_writer_free(&w);
}

/* ---- JSON ---- */

static const char *json_all =
	"{\"resourceMetrics\":[{\"resource\":{\"attributes\":["
	"{\"key\":\"service.name\",\"value\":{\"stringValue\":\"jsvc\"}},"
	"{\"key\":\"service.instance.id\",\"value\":{\"stringValue\":\"j1\"}},"
	"{\"key\":\"telemetry.sdk.language\",\"value\":{\"stringValue\":\"c\"}}]},"
	"\"scopeMetrics\":[{\"scope\":{\"name\":\"s\"},\"metrics\":["
	"{\"name\":\"g\",\"unit\":\"1\",\"gauge\":{\"dataPoints\":[{\"attributes\":["
	"{\"key\":\"i\",\"value\":{\"intValue\":\"12\"}},{\"key\":\"b\",\"value\":{\"boolValue\":false}},"
	"{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"a\",\"value\":{\"doubleValue\":1.5}}]}}}],"
	"\"timeUnixNano\":\"1700000000123000000\",\"asDouble\":0.75}]}},"
	"{\"name\":\"c\",\"unit\":\"By\",\"sum\":{\"aggregationTemporality\":2,\"isMonotonic\":true,"
	"\"dataPoints\":[{\"timeUnixNano\":1700000000123000000,\"asInt\":\"9007199254740993\"}]}},"
	"{\"name\":\"h\",\"unit\":\"ms\",\"histogram\":{\"aggregationTemporality\":\"AGGREGATION_TEMPORALITY_CUMULATIVE\","
	"\"dataPoints\":[{\"timeUnixNano\":\"1700000000123000000\",\"count\":\"4\",\"sum\":10.5,"
	"\"bucketCounts\":[\"1\",2,\"1\"],\"explicitBounds\":[5,10]}]}},"
	"{\"name\":\"q\",\"summary\":{\"dataPoints\":[{\"timeUnixNano\":\"1700000000123000000\",\"count\":3,\"sum\":\"NaN\","
	"\"quantileValues\":[{\"quantile\":0.5,\"value\":2},{\"quantile\":1,\"value\":\"Infinity\"}]}]}},"
	"{\"name\":\"e\",\"exponentialHistogram\":{\"aggregationTemporality\":2,\"dataPoints\":["
	"{\"timeUnixNano\":\"1700000000123000000\",\"count\":\"3\",\"scale\":0,\"zeroCount\":\"1\","
	"\"positive\":{\"offset\":1,\"bucketCounts\":[\"2\"]}}]}},"
	"{\"name\":\"unknown.kind\",\"futureType\":{}}"
	"]}]}]}";

static void test_json_body_every_metric_type(void **state)
{
	struct fx *f = *state;
	struct otlp_result res;
	assert_int_equal(ingest_json(f, json_all, &res), 0);
	if (res.rejected)
		fprintf(stderr, "rejected: %s\n", res.error);
	assert_int_equal(res.rejected, 0);
	drain(f);
	const char *id = "instance=\"j1\",job=\"jsvc\"";
	char k[512];
	snprintf(k, sizeof(k), "g_ratio{b=\"false\",i=\"12\",%s,kv=\"{\\\"a\\\":1.5}\"}", id);
	assert_true(val(f, k) == 0.75);
	assert_int_equal(find(f, k)->ts, T0_MS);
	snprintf(k, sizeof(k), "c_bytes_total{%s}", id);
	assert_true(val(f, k) == 9007199254740992.0);
	snprintf(k, sizeof(k), "h_milliseconds_bucket{%s,le=\"5\"}", id);
	assert_true(val(f, k) == 1);
	snprintf(k, sizeof(k), "h_milliseconds_bucket{%s,le=\"10\"}", id);
	assert_true(val(f, k) == 3);
	snprintf(k, sizeof(k), "h_milliseconds_bucket{%s,le=\"+Inf\"}", id);
	assert_true(val(f, k) == 4);
	snprintf(k, sizeof(k), "h_milliseconds_sum{%s}", id);
	assert_true(val(f, k) == 10.5);
	snprintf(k, sizeof(k), "q{%s,quantile=\"1\"}", id);
	assert_true(isinf(val(f, k)));
	snprintf(k, sizeof(k), "q_sum{%s}", id);
	assert_true(isnan(val(f, k)) && !is_stale(val(f, k)));
	snprintf(k, sizeof(k), "e_bucket{%s,le=\"0\"}", id);
	assert_true(val(f, k) == 1);
	snprintf(k, sizeof(k), "e_bucket{%s,le=\"4\"}", id);
	assert_true(val(f, k) == 3);
	snprintf(k, sizeof(k), "target_info{%s,telemetry_sdk_language=\"c\"}", id);
	assert_true(val(f, k) == 1);
}

static void test_json_snake_case_and_delta(void **state)
{
	struct fx *f = *state;
	struct otlp_result res;
	const char *body =
		"{\"resource_metrics\":[{\"scope_metrics\":[{\"metrics\":[{\"name\":\"d\",\"sum\":{"
		"\"aggregation_temporality\":\"AGGREGATION_TEMPORALITY_DELTA\",\"is_monotonic\":true,"
		"\"data_points\":[{\"as_double\":1.5}]}}]}]}]}";
	assert_int_equal(ingest_json(f, body, &res), 0);
	assert_int_equal(ingest_json(f, body, &res), 0);
	drain(f);
	assert_int_equal(f->ngot, 2); /* no job, no instance: no target_info */
	assert_true(f->got[1].value == 3 || f->got[0].value == 3);
	assert_int_equal(f->got[0].ts, 555000); /* no time: receive time */
}

static void test_malformed_json_is_refused_whole(void **state)
{
	struct fx *f = *state;
	struct otlp_result res;
	static const char *bad[] = {
		"",
		"{\"resourceMetrics\":[",
		"[1,2]",
		"{\"resourceMetrics\":5}",
		"{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\",\"gauge\":{\"dataPoints\":3}}]}]}]}",
		"{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":7,\"gauge\":{}}]}]}]}",
		"{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\",\"gauge\":{\"dataPoints\":"
		"[{\"asInt\":\"12x\"}]}}]}]}]}",
		"{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"h\",\"histogram\":{"
		"\"aggregationTemporality\":2,\"dataPoints\":[{\"count\":-1}]}}]}]}]}",
		"{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":1}]}}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ingest_json(f, bad[i], &res);
		if (rc != -EINVAL)
			fprintf(stderr, "case %zu: rc %d\n", i, rc);
		assert_int_equal(rc, -EINVAL);
		assert_true(res.error[0] != '\0');
	}
	assert_int_equal(drain(f), 0);
	assert_int_equal(ingest_json(f, "{}", &res), 0);
}

/* ---- HTTP ---- */



static int http_do(struct fx *f, enum evhttp_cmd_type cmd, const char *ctype, const char *enc,
		   const void *body, size_t len)
{
	const char *const hdrs[] = {"Content-Type", ctype, "Content-Encoding", enc, NULL};
	return cfx_http(&f->cf, cmd, "/v1/metrics", hdrs, body, len);
}

static void simple_request(struct pb_writer *w)
{
	struct pb_writer scope = {0}, g = {0};
	number_point(&g, "x", "y", 4, 0, 0);
	metric(&scope, "web.gauge", NULL, 5, &g);
	request(w, &scope);
}

static void test_http_protobuf_and_json_answer_200_with_a_response(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0};
	simple_request(&w);
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/x-protobuf", NULL, w.buf, w.len), 200);
	assert_string_equal(f->cf.ctype, "application/x-protobuf");
	assert_int_equal(f->cf.body_len, 0); /* an empty ExportMetricsServiceResponse */
	assert_true(val(f, (drain(f), "web_gauge{instance=\"i1\",job=\"ns/svc\",x=\"y\"}")) == 4);
	pb_writer_free(&w);

	const char *js = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"jg\",\"gauge\":"
			 "{\"dataPoints\":[{\"asDouble\":2}]}}]}]}]}";
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/json; charset=utf-8", NULL, js, strlen(js)), 200);
	assert_string_equal(f->cf.ctype, "application/json");
	assert_string_equal(f->cf.body, "{}");
	assert_int_equal(drain(f), 1);
	assert_int_equal(atomic_load(&f->cf.st.slot->counters[CTL_C_REQUESTS]), 2);
}

static void test_http_partial_success_is_reported_in_both_formats(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0}, scope = {0}, s = {0};
	number_point(&s, NULL, NULL, 1, 0, 0);
	metric(&scope, "no.temporality", NULL, 7, &s);
	request(&w, &scope);
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/x-protobuf", NULL, w.buf, w.len), 200);
	pb_writer_free(&w);
	/* ExportMetricsServiceResponse {1 partial_success {1 rejected, 2 message}} */
	struct pb_reader r, pr;
	struct pb_field fl;
	pb_init(&r, f->cf.body, f->cf.body_len);
	assert_int_equal(pb_next(&r, &fl), 1);
	assert_int_equal(fl.num, 1);
	pb_init(&pr, fl.data, fl.len);
	assert_int_equal(pb_next(&pr, &fl), 1);
	assert_int_equal(fl.num, 1);
	assert_int_equal(fl.u, 1);
	assert_int_equal(pb_next(&pr, &fl), 1);
	assert_int_equal(fl.num, 2);
	assert_true(fl.len > 10);

	const char *js = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"s\",\"sum\":"
			 "{\"dataPoints\":[{\"asDouble\":2}]}}]}]}]}";
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/json", NULL, js, strlen(js)), 200);
	assert_non_null(strstr(f->cf.body, "\"partialSuccess\":{\"rejectedDataPoints\":\"1\",\"errorMessage\":\""));
}

static size_t gzip(const void *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

static void test_http_errors_are_status_messages(void **state)
{
	struct fx *f = *state;
	/* malformed protobuf: 400 with google.rpc.Status {1 code 3, 2 message} */
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/x-protobuf", NULL, "\x0a\x05\x01", 3), 400);
	assert_string_equal(f->cf.ctype, "application/x-protobuf");
	struct pb_reader r;
	struct pb_field fl;
	pb_init(&r, f->cf.body, f->cf.body_len);
	assert_int_equal(pb_next(&r, &fl), 1);
	assert_int_equal(fl.num, 1);
	assert_int_equal(fl.u, 3);
	assert_int_equal(pb_next(&r, &fl), 1);
	assert_int_equal(fl.num, 2);
	/* malformed JSON: the same Status as JSON */
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/json", NULL, "{oops", 5), 400);
	assert_non_null(strstr(f->cf.body, "{\"code\":3,\"message\":\""));
	/* other content types */
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "text/plain", NULL, "a 1\n", 4), 415);
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, NULL, NULL, "a 1\n", 4), 415);
	assert_int_equal(http_do(f, EVHTTP_REQ_GET, "application/json", NULL, NULL, 0), 405);
	assert_int_equal(atomic_load(&f->cf.st.slot->counters[CTL_C_BAD_REQUESTS]), 5);
	/* gzip bodies are inflated */
	struct pb_writer w = {0};
	simple_request(&w);
	uint8_t z[4096];
	size_t zl = gzip(w.buf, w.len, z, sizeof(z));
	pb_writer_free(&w);
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/x-protobuf", "gzip", z, zl), 200);
	assert_int_equal(drain(f), 2);
	/* past the body limit: 413 */
	f->cf.st.cfg.max_body_bytes = 64;
	char big[4096];
	memset(big, ' ', sizeof(big));
	memcpy(big, "{}", 2);
	zl = gzip(big, sizeof(big), z, sizeof(z));
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/json", "gzip", z, zl), 413);
}

static void test_http_full_rings_answer_503_with_retry_after(void **state)
{
	struct fx *f = *state;
	struct pb_writer w = {0};
	simple_request(&w);
	fill_ring(f, 0, 128);
	fill_ring(f, 1, 128);
	uint64_t before = total_wpos(f);
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "application/x-protobuf", NULL, w.buf, w.len), 503);
	pb_writer_free(&w);
	assert_string_equal(f->cf.retry_after, "1");
	assert_int_equal(total_wpos(f), before);
	assert_int_equal(atomic_load(&f->cf.st.slot->counters[CTL_C_REJECTED]), 1);
}

int main(void)
{
	json_all_for_fuzz = json_all;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metric_names_follow_prometheus_otlp_translation),
		cmocka_unit_test(test_label_names_and_numbers_are_translated),
		cmocka_unit_test_setup_teardown(test_gauge_and_sums_get_names_job_instance_and_target_info, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_histogram_buckets_are_cumulative_with_inf_sum_and_count, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_summary_gives_quantiles_sum_and_count, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_exponential_histogram_becomes_classic_buckets, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_delta_sums_accumulate_and_a_retry_is_not_counted_twice, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_delta_histograms_accumulate_per_bucket, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_no_recorded_value_writes_stale_markers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_attributes_collide_resource_wins_and_values_render, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_points_are_refused_as_partial_success, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_protobuf_is_refused_whole, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_corrupted_and_truncated_protobuf_never_crash, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_json_body_every_metric_type, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_json_snake_case_and_delta, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_json_is_refused_whole, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_protobuf_and_json_answer_200_with_a_response, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_partial_success_is_reported_in_both_formats, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_errors_are_status_messages, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_full_rings_answer_503_with_retry_after, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
