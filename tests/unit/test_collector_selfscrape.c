/* test_collector_selfscrape: unit tests of collector/selfscrape.
 *
 * Stage counters come from a control block made under a unique instance
 * name, and every rendering must parse with textparse. selfscrape_run is
 * checked end to end over real rings (it reads the machine's real /proc and
 * /sys through the node agent). The node metrics themselves, rendered from
 * fixture trees, are tested in test_collector_nodeagent.c.
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
#include <sys/stat.h>
#include <unistd.h>

#include "collector/selfscrape.h"
#include "common/records.h"
#include "common/series.h"
#include "common/stage.h"
#include "common/textparse.h"

struct lines {
	char **l;
	size_t n;
};

/* Splits the rendering into lines (owned copies). */
static void split(const struct nodeagent_buf *b, struct lines *out)
{
	out->l = NULL;
	out->n = 0;
	size_t start = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (b->p[i] != '\n')
			continue;
		out->l = realloc(out->l, (out->n + 1) * sizeof(*out->l));
		out->l[out->n++] = strndup(b->p + start, i - start);
		start = i + 1;
	}
	assert_int_equal(start, b->len); /* ends with a newline */
}

static void lines_free(struct lines *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		free(ls->l[i]);
	free(ls->l);
}

static int has_line(const struct lines *ls, const char *want)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->l[i], want) == 0)
			return 1;
	return 0;
}

#define assert_line(ls, s)                                                      \
	do {                                                                    \
		if (!has_line((ls), (s)))                                       \
			fail_msg("missing line: %s", (s));                      \
	} while (0)

struct parsed {
	size_t samples;
	char names[256][64];
};

static int on_sample(void *ctx, const struct textparse_sample *s)
{
	struct parsed *p = ctx;
	if (p->samples < 256)
		snprintf(p->names[p->samples], sizeof(p->names[0]), "%.*s", (int)s->name_len, s->name);
	p->samples++;
	return 0;
}

/* Parses b as Prometheus text; returns the sample count. */
static size_t parse_ok(const struct nodeagent_buf *b, struct parsed *p)
{
	struct textparse_error err;
	memset(p, 0, sizeof(*p));
	int rc = textparse_parse(b->p, b->len, TEXTPARSE_PROM, on_sample, NULL, p, &err);
	if (rc != 0)
		fail_msg("rendering does not parse: line %u col %u: %s", err.line, err.column, err.msg);
	return p->samples;
}

/* ---- stage counters and the whole round ---- */

struct fx {
	struct stage st;
	char names[2][SEGMENT_NAME_MAX];
	struct ring p[2], c[2];
	struct router router;
	struct push push;
	struct event_base *base;
	struct evhttp *http;
};

static int fx_setup(void **state)
{
	static int counter;
	char json[256], err[256], shortn[32];
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	snprintf(json, sizeof(json),
		 "{\"instance\":\"utself%d-%d\",\"aggregators\":2,\"rings\":{\"sample_bytes\":1048576}}",
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
	ctl_unlink(f->st.cfg.instance);
	if (ctl_create(&f->st.ctl, f->st.cfg.instance, &shape) != 0)
		return -1;
	f->st.kind = CTL_COLLECTOR;
	f->st.slot = ctl_slot(&f->st.ctl, CTL_COLLECTOR, 0);
	for (int j = 0; j < 2; j++) {
		ctl_ring_sample(shortn, sizeof(shortn), 0, (uint32_t)j);
		ctl_ring_shm_name(f->names[j], SEGMENT_NAME_MAX, f->st.cfg.instance, shortn);
		segment_unlink(f->names[j]);
		if (stage_ring_open(&f->st, &f->p[j], shortn, RING_ROLE_PRODUCER) != 0 ||
		    ring_attach(&f->c[j], f->names[j], RING_ROLE_CONSUMER) != 0)
			return -1;
	}
	f->router.rings = f->p;
	f->router.naggr = 2;
	f->base = event_base_new();
	f->http = f->base ? evhttp_new(f->base) : NULL;
	if (!f->http || push_init(&f->push, &f->st, &f->router, f->http) != 0)
		return -1;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	push_fini(&f->push);
	if (f->http)
		evhttp_free(f->http);
	if (f->base)
		event_base_free(f->base);
	for (int j = 0; j < 2; j++) {
		ring_detach(&f->p[j]);
		ring_detach(&f->c[j]);
		segment_unlink(f->names[j]);
	}
	ctl_detach(&f->st.ctl);
	ctl_unlink(f->st.cfg.instance);
	config_free(&f->st.cfg);
	free(f);
	return 0;
}

static void test_stage_counters_render_one_series_per_slot(void **state)
{
	struct fx *f = *state;
	ctl_add(f->st.slot, CTL_C_SAMPLES_IN, 42);
	struct ctl_slot *agg = ctl_slot(&f->st.ctl, CTL_AGGREGATOR, 1);
	ctl_set(agg, CTL_C_SERIES, 7);
	atomic_store(&agg->restarts, 3);
	struct nodeagent_buf b = {0};
	selfscrape_stages(&b, &f->st.ctl);
	struct lines ls;
	split(&b, &ls);
	char want[512];
	const char *inst = f->st.cfg.instance;
	snprintf(want, sizeof(want), "mcs_%s{job=\"mcs\",instance=\"%s\",stage=\"collector\",index=\"0\"} 42",
		 ctl_counter_name(CTL_C_SAMPLES_IN), inst);
	assert_line(&ls, want);
	snprintf(want, sizeof(want), "mcs_%s{job=\"mcs\",instance=\"%s\",stage=\"aggregator\",index=\"1\"} 7",
		 ctl_counter_name(CTL_C_SERIES), inst);
	assert_line(&ls, want);
	snprintf(want, sizeof(want), "mcs_stage_restarts_total{job=\"mcs\",instance=\"%s\",stage=\"aggregator\",index=\"1\"} 3",
		 inst);
	assert_line(&ls, want);
	snprintf(want, sizeof(want), "# TYPE mcs_%s gauge", ctl_counter_name(CTL_C_SERIES));
	assert_line(&ls, want);
	snprintf(want, sizeof(want), "# TYPE mcs_%s counter", ctl_counter_name(CTL_C_SAMPLES_IN));
	assert_line(&ls, want);
	struct parsed *p = calloc(1, sizeof(*p));
	size_t nslots = f->st.ctl.hdr->nslots;
	assert_int_equal(parse_ok(&b, p), (CTL_C_COUNT + 1) * nslots);
	free(p);
	lines_free(&ls);
	nodeagent_buf_free(&b);
}

static void test_collection_round_stores_node_and_stage_metrics(void **state)
{
	struct fx *f = *state;
	if (access("/proc/stat", R_OK) != 0)
		skip();
	int64_t t0 = segment_now_real_ms();
	assert_int_equal(selfscrape_run(&f->push.in), 0);
	assert_int_equal(atomic_load(&f->st.slot->counters[CTL_C_SCRAPES]), 1);
	size_t n = 0, load1 = 0, mcs = 0;
	for (int j = 0; j < 2; j++) {
		struct ring_rec rec;
		while (ring_next(&f->c[j], &rec) == 1) {
			struct rec_samples_iter it;
			struct rec_sample s;
			assert_int_equal(rec_samples_iter_init(&it, rec.data, rec.len), 0);
			while (rec_samples_next(&it, &s) == 1) {
				size_t vl;
				const char *name = series_key_get(s.key, s.key_len, "__name__", &vl);
				assert_non_null(name);
				if (vl == 10 && memcmp(name, "node_load1", 10) == 0)
					load1++;
				if (vl > 4 && memcmp(name, "mcs_", 4) == 0)
					mcs++;
				assert_true(s.ts_ms >= t0 && s.ts_ms < t0 + 60000);
				n++;
			}
		}
		ring_release(&f->c[j]);
	}
	assert_int_equal(load1, 1);
	assert_int_equal(mcs, (CTL_C_COUNT + 1) * f->st.ctl.hdr->nslots);
	assert_int_equal(atomic_load(&f->st.slot->counters[CTL_C_SAMPLES_IN]), n);
}

static void test_collection_round_with_everything_off_stores_nothing(void **state)
{
	struct fx *f = *state;
	f->st.cfg.node_metrics = 0;
	f->st.cfg.self_scrape = 0;
	assert_int_equal(selfscrape_run(&f->push.in), 0);
	for (int j = 0; j < 2; j++)
		assert_int_equal(atomic_load(&f->p[j].hdr->write_pos), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stage_counters_render_one_series_per_slot, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_collection_round_stores_node_and_stage_metrics, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_collection_round_with_everything_off_stores_nothing, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
