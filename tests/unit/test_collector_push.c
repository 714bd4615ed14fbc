/* test_collector_push: unit tests of collector/push: push_ingest_text
 * (parse the whole body, then commit all of it or nothing) and the HTTP
 * handler (status codes over a real loopback connection).
 *
 * The stage is assembled by hand (no argv, no signals): the config from
 * config_load_string, a control block under a unique instance name, and two
 * sample rings the router writes to; the test reads them back through
 * consumer handles. Edge states (rings nearly full) are set directly in the
 * ring headers. The teardown unlinks every segment.
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

#include "collector/push.h"
#include "common/records.h"
#include "common/series.h"
#include "common/stage.h"

#include "collector_fixture.h"

#define NRING 2

struct fx {
	struct cfx cf;   /* stage, rings, router, event base, evhttp, last answer */
	struct push push;
	struct cfx_got got[64];
	size_t ngot;
};

static int fx_setup(void **state)
{
	static int counter;
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	if (cfx_setup(&f->cf, "utpush", &counter, NRING,
		      "\"rings\":{\"sample_bytes\":1048576,\"push_wait\":\"50ms\"}") != 0)
		return -1;
	if (push_init(&f->push, &f->cf.st, &f->cf.router, f->cf.http) != 0)
		return -1;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	push_fini(&f->push);
	cfx_teardown(&f->cf);
	free(f);
	return 0;
}

/* Reads every published sample of every ring into f->got. */
static size_t drain(struct fx *f)
{
	return cfx_drain(&f->cf, f->got, 64, &f->ngot, NULL, CFX_ROUTE);
}

static const struct cfx_got *find(struct fx *f, const char *text)
{
	for (size_t i = 0; i < f->ngot; i++)
		if (strcmp(f->got[i].text, text) == 0)
			return &f->got[i];
	return NULL;
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

static int ingest(struct fx *f, const char *body, struct textparse_error *err)
{
	return push_ingest_text(&f->push.in, body, strlen(body), TEXTPARSE_PROM, 777000, 50, err);
}

/* ---- push_ingest_text ---- */

static void test_valid_body_lands_in_the_rings_with_default_timestamps(void **state)
{
	struct fx *f = *state;
	struct textparse_error err;
	const char *body = "# HELP a A gauge.\n"
			   "# TYPE a gauge\n"
			   "a 1\n"
			   "b{job=\"x\",instance=\"h:1\"} 2.5 1234\n"
			   "c_total{z=\"1\",a=\"2\"} -3e3\n"
			   "d NaN 99\n";
	assert_int_equal(ingest(f, body, &err), 0);
	assert_int_equal(err.line, 0);
	assert_int_equal(drain(f), 4);
	const struct cfx_got *g = find(f, "a");
	assert_non_null(g);
	assert_int_equal(g->ts, 777000);
	assert_true(g->value == 1);
	g = find(f, "b{instance=\"h:1\",job=\"x\"}");
	assert_non_null(g);
	assert_int_equal(g->ts, 1234);
	assert_true(g->value == 2.5);
	g = find(f, "c_total{a=\"2\",z=\"1\"}");
	assert_non_null(g);
	assert_int_equal(g->ts, 777000);
	assert_true(g->value == -3000);
	g = find(f, "d");
	assert_non_null(g);
	assert_int_equal(g->ts, 99);
	assert_true(isnan(g->value));
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 4);
	assert_int_equal(counter(f, CTL_C_SAMPLES_OUT), 4);
	assert_int_equal(f->push.in.batch.n, 0); /* reset for the next push */
}

static void test_bad_line_3_returns_einval_and_nothing_is_written(void **state)
{
	struct fx *f = *state;
	struct textparse_error err;
	uint64_t before = total_wpos(f);
	assert_int_equal(ingest(f, "ok_one 1\nok_two{x=\"y\"} 2\nbroken{x=} 3\nok_three 4\n", &err), -EINVAL);
	assert_int_equal(err.line, 3);
	assert_true(err.column > 0);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(total_wpos(f), before);
	assert_int_equal(drain(f), 0);
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 0);
	assert_int_equal(f->push.in.batch.n, 0);
}

/* Line 3 parses but is not a storable series (a label value over 4 KiB):
 * the router refuses it; lines 1-2 must not be stored either. */
static void test_unstorable_series_on_line_3_is_reported_and_nothing_is_written(void **state)
{
	struct fx *f = *state;
	struct textparse_error err;
	size_t vlen = SERIES_LABEL_MAX + 10;
	char *body = malloc(vlen + 128);
	assert_non_null(body);
	int n = sprintf(body, "one 1\ntwo 2\nthree{v=\"");
	memset(body + n, 'x', vlen);
	strcpy(body + n + vlen, "\"} 3\n");
	uint64_t before = total_wpos(f);
	assert_int_equal(ingest(f, body, &err), -EINVAL);
	free(body);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.msg, "too long"));
	assert_int_equal(total_wpos(f), before);
	assert_int_equal(drain(f), 0);
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 0);
}

static void test_good_body_after_a_bad_one_carries_only_its_own_samples(void **state)
{
	struct fx *f = *state;
	struct textparse_error err;
	assert_int_equal(ingest(f, "x 1\ny 2\nz{ 3\n", &err), -EINVAL);
	assert_int_equal(ingest(f, "w 4\n", &err), 0);
	assert_int_equal(drain(f), 1);
	assert_non_null(find(f, "w"));
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 1);
}

static void test_full_rings_time_out_and_nothing_is_written_or_counted(void **state)
{
	struct fx *f = *state;
	struct textparse_error err;
	char body[4096];
	size_t len = 0;
	for (int i = 0; i < 40; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len, "m{i=\"%d\"} %d\n", i, i);
	fill_ring(f, 1, 1024);
	uint64_t before = total_wpos(f);
	assert_int_equal(push_ingest_text(&f->push.in, body, len, TEXTPARSE_PROM, 1, 20, &err), -ETIMEDOUT);
	assert_int_equal(total_wpos(f), before);
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 0);
	assert_int_equal(counter(f, CTL_C_SAMPLES_OUT), 0);
	assert_int_equal(f->push.in.batch.n, 0);
	/* Room again: the same body goes in whole. */
	fill_ring(f, 1, f->cf.p[1].capacity);
	assert_int_equal(push_ingest_text(&f->push.in, body, len, TEXTPARSE_PROM, 1, 20, &err), 0);
	assert_int_equal(drain(f), 40);
	assert_int_equal(counter(f, CTL_C_SAMPLES_IN), 40);
}

static void test_openmetrics_timestamps_are_seconds(void **state)
{
	struct fx *f = *state;
	struct textparse_error err;
	const char *body = "# TYPE a gauge\na 1 12.5\n# EOF\n";
	assert_int_equal(push_ingest_text(&f->push.in, body, strlen(body), TEXTPARSE_OPENMETRICS, 5, 50, &err), 0);
	assert_int_equal(drain(f), 1);
	assert_int_equal(f->got[0].ts, 12500);
	/* Without # EOF an OpenMetrics body is incomplete: refused whole. */
	const char *cut = "# TYPE a gauge\na 1 13\n";
	assert_int_equal(push_ingest_text(&f->push.in, cut, strlen(cut), TEXTPARSE_OPENMETRICS, 5, 50, &err), -EINVAL);
	assert_int_equal(drain(f), 0);
}

static void test_empty_body_is_accepted_and_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct textparse_error err;
	assert_int_equal(push_ingest_text(&f->push.in, "", 0, TEXTPARSE_PROM, 5, 50, &err), 0);
	assert_int_equal(total_wpos(f), 0);
}

/* ---- the HTTP handler ---- */



/* Sends one request over loopback and runs the loop until the answer. */
static int http_do(struct fx *f, enum evhttp_cmd_type cmd, const char *uri, const char *enc,
		   const void *body, size_t len)
{
	const char *const hdrs[] = {"Content-Type", "text/plain; version=0.0.4", "Content-Encoding", enc, NULL};
	return cfx_http(&f->cf, cmd, uri, hdrs, body, len);
}

static int http_post(struct fx *f, const char *body)
{
	return http_do(f, EVHTTP_REQ_POST, "/api/v1/import/prometheus", NULL, body, strlen(body));
}

static size_t gzip(const char *in, size_t len, uint8_t *out, size_t cap)
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

static void test_http_import_answers_204_once_stored(void **state)
{
	struct fx *f = *state;
	assert_int_equal(http_post(f, "h1 1\nh2{a=\"b\"} 2 5000\n"), 204);
	assert_int_equal(drain(f), 2);
	assert_int_equal(find(f, "h2{a=\"b\"}")->ts, 5000);
	assert_true(find(f, "h1")->ts > 1600000000000LL); /* now, by default */
	assert_int_equal(counter(f, CTL_C_REQUESTS), 1);
}

static void test_http_bad_body_answers_400_naming_the_line(void **state)
{
	struct fx *f = *state;
	assert_int_equal(http_post(f, "h1 1\nh2 2\nh3{ 3\n"), 400);
	assert_non_null(strstr(f->cf.body, "line 3"));
	assert_non_null(strstr(f->cf.body, "bad_data"));
	assert_int_equal(drain(f), 0);
	assert_int_equal(counter(f, CTL_C_BAD_REQUESTS), 1);
}

static void test_http_gzip_body_is_inflated(void **state)
{
	struct fx *f = *state;
	char text[8192];
	size_t len = 0;
	for (int i = 0; i < 30; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "gz{i=\"%d\"} %d\n", i, i);
	uint8_t z[8192];
	size_t zl = gzip(text, len, z, sizeof(z));
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "/api/v1/import/prometheus", "gzip", z, zl), 204);
	assert_int_equal(drain(f), 30);
	/* A damaged stream is a 400, and nothing is stored. */
	z[zl / 2] ^= 0xff;
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "/api/v1/import/prometheus", "gzip", z, zl), 400);
	/* A truncated one too. */
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "/api/v1/import/prometheus", "gzip", z, zl / 3), 400);
	assert_int_equal(drain(f), 0);
	/* An unknown encoding is a 415. */
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "/api/v1/import/prometheus", "br", "a 1\n", 4), 415);
}

static void test_http_gzip_bomb_past_the_body_limit_answers_413(void **state)
{
	struct fx *f = *state;
	f->cf.st.cfg.max_body_bytes = 4096;
	size_t len = 1u << 20;
	char *text = malloc(len);
	assert_non_null(text);
	for (size_t i = 0; i < len; i += 8)
		memcpy(text + i, "zz 1\n#  ", 8);
	uint8_t *z = malloc(len);
	assert_non_null(z);
	size_t zl = gzip(text, len, z, len);
	assert_true(zl < 4096);
	assert_int_equal(http_do(f, EVHTTP_REQ_POST, "/api/v1/import/prometheus", "gzip", z, zl), 413);
	free(z);
	free(text);
	assert_int_equal(drain(f), 0);
}

static void test_http_full_rings_answer_503(void **state)
{
	struct fx *f = *state;
	char body[4096];
	size_t len = 0;
	for (int i = 0; i < 40; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len, "m{i=\"%d\"} %d\n", i, i);
	fill_ring(f, 0, 1024);
	uint64_t before = total_wpos(f);
	assert_int_equal(http_post(f, body), 503);
	assert_non_null(strstr(f->cf.body, "unavailable"));
	assert_int_equal(total_wpos(f), before);
	assert_int_equal(counter(f, CTL_C_REJECTED), 1);
}

static void test_http_other_methods_paths_and_health(void **state)
{
	struct fx *f = *state;
	assert_int_equal(http_do(f, EVHTTP_REQ_GET, "/api/v1/import/prometheus", NULL, NULL, 0), 405);
	assert_int_equal(http_do(f, EVHTTP_REQ_GET, "/nope", NULL, NULL, 0), 404);
	assert_int_equal(http_do(f, EVHTTP_REQ_GET, "/-/healthy", NULL, NULL, 0), 200);
	assert_int_equal(http_do(f, EVHTTP_REQ_GET, "/-/ready", NULL, NULL, 0), 503);
	stage_set_ready(&f->cf.st, 1);
	assert_int_equal(http_do(f, EVHTTP_REQ_GET, "/-/ready", NULL, NULL, 0), 200);
	assert_int_equal(counter(f, CTL_C_BAD_REQUESTS), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_body_lands_in_the_rings_with_default_timestamps, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_line_3_returns_einval_and_nothing_is_written, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unstorable_series_on_line_3_is_reported_and_nothing_is_written, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_good_body_after_a_bad_one_carries_only_its_own_samples, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_full_rings_time_out_and_nothing_is_written_or_counted, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_openmetrics_timestamps_are_seconds, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_empty_body_is_accepted_and_writes_nothing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_import_answers_204_once_stored, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_bad_body_answers_400_naming_the_line, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_gzip_body_is_inflated, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_gzip_bomb_past_the_body_limit_answers_413, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_full_rings_answer_503, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_http_other_methods_paths_and_health, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
