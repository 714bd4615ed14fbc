/* test_collector_influx: unit tests of collector/influx: the line protocol
 * mapped as VictoriaMetrics maps it, escapes, value kinds, precisions, and
 * whole-body rejection with the line named.
 *
 * The stage is assembled by hand: config from config_load_string, a control
 * block under a unique instance name, one sample ring read back through a
 * consumer handle.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/influx.h"
#include "common/records.h"
#include "common/series.h"

#include "collector_fixture.h"

struct fx {
	struct cfx cf;   /* stage, one ring, router, event base, evhttp */
	struct influx x;
	struct cfx_got got[64];
	size_t ngot;
	char err[256];
};

static int fx_setup(void **state)
{
	static int counter;
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	if (cfx_setup(&f->cf, "utinflux", &counter, 1, "\"rings\":{\"push_wait\":\"50ms\"}") != 0)
		return -1;
	return influx_init(&f->x, &f->cf.st, &f->cf.router, f->cf.http);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	influx_fini(&f->x);
	cfx_teardown(&f->cf);
	free(f);
	return 0;
}

/* Parses and commits body; reads what reached the ring into f->got. */
static int ingest(struct fx *f, const char *body, int64_t prec, const char *db)
{
	int rc = influx_parse(&f->x, body, strlen(body), prec, 42000, db, f->err, sizeof(f->err));
	if (rc == 0)
		rc = ingest_commit(&f->x.in, 50);
	cfx_drain(&f->cf, f->got, 64, &f->ngot, NULL, CFX_RESET);
	return rc;
}

static const struct cfx_got *find(struct fx *f, const char *text)
{
	for (size_t i = 0; i < f->ngot; i++)
		if (strcmp(f->got[i].text, text) == 0)
			return &f->got[i];
	return NULL;
}

static void test_fields_become_measurement_field_series_with_tags(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ingest(f, "weather,city=Paris,zone=eu temp=11.5,humidity=70i 1700000000000000000\n", 1, NULL), 0);
	assert_int_equal(f->ngot, 2);
	const struct cfx_got *g = find(f, "weather_temp{city=\"Paris\",zone=\"eu\"}");
	assert_non_null(g);
	assert_true(g->value == 11.5);
	assert_int_equal(g->ts, 1700000000000);
	g = find(f, "weather_humidity{city=\"Paris\",zone=\"eu\"}");
	assert_non_null(g);
	assert_true(g->value == 70);
}

static void test_booleans_unsigned_and_strings(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ingest(f, "m a=t,b=FALSE,c=12u,d=\"text, with = and \\\" quote\",e=-3i\n", 1, NULL), 0);
	assert_int_equal(f->ngot, 4); /* the string field is skipped */
	assert_true(find(f, "m_a")->value == 1);
	assert_true(find(f, "m_b")->value == 0);
	assert_true(find(f, "m_c")->value == 12);
	assert_true(find(f, "m_e")->value == -3);
	assert_int_equal(find(f, "m_a")->ts, 42000); /* no timestamp: the request time */
}

static void test_escapes_and_invalid_characters(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ingest(f, "cpu\\ load,host\\,name=a\\ b,dc-1=x\\=y usage.idle=5 1\n", 1000000, NULL), 0);
	assert_int_equal(f->ngot, 1);
	assert_string_equal(f->got[0].text, "cpu_load_usage_idle{dc_1=\"x=y\",host_name=\"a b\"}");
	assert_int_equal(f->got[0].ts, 1);
}

static void test_precision_and_db_label(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ingest(f, "m v=1 1700000000\n", influx_precision_ns("s"), "telegraf"), 0);
	assert_int_equal(f->ngot, 1);
	assert_string_equal(f->got[0].text, "m_v{db=\"telegraf\"}");
	assert_int_equal(f->got[0].ts, 1700000000000);
	assert_int_equal(influx_precision_ns("us"), 1000);
	assert_int_equal(influx_precision_ns("h"), 3600000000000LL);
	assert_int_equal(influx_precision_ns("weeks"), -1);
	assert_int_equal(influx_precision_ns(NULL), 1);
}

static void test_comments_blank_lines_and_crlf(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ingest(f, "# comment\n\r\n  \nm v=1 5000000\r\nm w=2\n", 1, NULL), 0);
	assert_int_equal(f->ngot, 2);
	assert_int_equal(find(f, "m_v")->ts, 5);
}

static void test_bad_line_rejects_the_whole_body_naming_it(void **state)
{
	static const char *bad[] = {
		"ok v=1\nbroken\n",          /* no fields */
		"ok v=1\nm v=\n",            /* empty value */
		"ok v=1\nm v=abc\n",         /* not a number */
		"ok v=1\nm,t v=1\n",         /* tag without '=' */
		"ok v=1\nm,t= v=1\n",        /* empty tag value */
		"ok v=1\nm v=\"open\n",      /* unterminated string */
		"ok v=1\nm v=1 12x\n",       /* bad timestamp */
		"ok v=1\nm v=1i2\n",         /* bad integer */
		"ok v=1\nm v=-1u\n",         /* negative unsigned */
		"ok v=1\n,t=1 v=1\n",        /* no measurement */
		"ok v=1\nm,t=1,t=2 v=1\n",   /* duplicate tag */
	};
	struct fx *f = *state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ingest(f, bad[i], 1, NULL), -EINVAL);
		assert_non_null(strstr(f->err, "line 2"));
		assert_int_equal(f->ngot, 0); /* nothing of the body stored */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fields_become_measurement_field_series_with_tags, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_booleans_unsigned_and_strings, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_escapes_and_invalid_characters, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_precision_and_db_label, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_comments_blank_lines_and_crlf, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_line_rejects_the_whole_body_naming_it, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
