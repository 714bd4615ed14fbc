/* test_collector_selfscrape: unit tests of collector/selfscrape.
 *
 * Node metrics are rendered from a fake /proc (tests/data/proc: stat,
 * meminfo, loadavg with known numbers) and compared line by line with what
 * node_exporter would name them; every rendering must also parse with
 * textparse. Stage counters come from a control block made under a unique
 * instance name. selfscrape_run is checked end to end over real rings (it
 * reads the machine's real /proc). Without the data folder the binary
 * exits 77 (skipped).
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

static char proc_dir[600];

/* Finds tests/data/proc from the top directory (MCS_TOP, as scripts/
 * run-tests sets it, or the current directory). Returns 0 when found. */
static int find_proc_dir(void)
{
	const char *tops[] = {getenv("MCS_TOP"), ".", "../..", NULL};
	for (int i = 0; i < 3; i++) {
		struct stat sb;
		char probe[700];
		if (!tops[i])
			continue;
		snprintf(proc_dir, sizeof(proc_dir), "%s/tests/data/proc", tops[i]);
		snprintf(probe, sizeof(probe), "%s/stat", proc_dir);
		if (stat(probe, &sb) == 0)
			return 0;
	}
	return -1;
}

struct lines {
	char **l;
	size_t n;
};

/* Splits the rendering into lines (owned copies). */
static void split(const struct selfscrape_buf *b, struct lines *out)
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

static size_t count_prefix(const struct lines *ls, const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < ls->n; i++)
		if (strncmp(ls->l[i], prefix, strlen(prefix)) == 0)
			n++;
	return n;
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
static size_t parse_ok(const struct selfscrape_buf *b, struct parsed *p)
{
	struct textparse_error err;
	memset(p, 0, sizeof(*p));
	int rc = textparse_parse(b->p, b->len, TEXTPARSE_PROM, on_sample, NULL, p, &err);
	if (rc != 0)
		fail_msg("rendering does not parse: line %u col %u: %s", err.line, err.column, err.msg);
	return p->samples;
}

#define L "job=\"node\",instance=\"box\""

static void cpu_line(char *out, size_t len, int cpu, const char *mode, unsigned long long ticks)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	snprintf(out, len, "node_cpu_seconds_total{" L ",cpu=\"%d\",mode=\"%s\"} %.2f", cpu, mode, (double)ticks / hz);
}

static void test_cpu_seconds_per_cpu_and_mode_from_proc_stat(void **state)
{
	(void)state;
	struct selfscrape_buf b = {0};
	assert_int_equal(selfscrape_node(&b, proc_dir, "box"), 0);
	struct lines ls;
	split(&b, &ls);
	static const char *const modes[8] = {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"};
	static const unsigned long long cpu0[8] = {1393280, 32966, 572056, 13343292, 6130, 0, 17875, 0};
	static const unsigned long long cpu1[8] = {1335, 7, 250, 99999, 12, 3, 45, 6};
	char want[256];
	for (int m = 0; m < 8; m++) {
		cpu_line(want, sizeof(want), 0, modes[m], cpu0[m]);
		assert_line(&ls, want);
		cpu_line(want, sizeof(want), 1, modes[m], cpu1[m]);
		assert_line(&ls, want);
	}
	if (sysconf(_SC_CLK_TCK) == 100) { /* USER_HZ on every mainstream Linux */
		assert_line(&ls, "node_cpu_seconds_total{" L ",cpu=\"0\",mode=\"user\"} 13932.80");
		assert_line(&ls, "node_cpu_seconds_total{" L ",cpu=\"1\",mode=\"idle\"} 999.99");
		assert_line(&ls, "node_cpu_seconds_total{" L ",cpu=\"1\",mode=\"steal\"} 0.06");
	}
	/* Two CPUs, eight modes: the "cpu " total line is no CPU of its own. */
	assert_int_equal(count_prefix(&ls, "node_cpu_seconds_total{"), 16);
	assert_int_equal(count_prefix(&ls, "# TYPE node_cpu_seconds_total counter"), 1);
	lines_free(&ls);
	selfscrape_buf_free(&b);
}

static void test_system_counters_from_proc_stat(void **state)
{
	(void)state;
	struct selfscrape_buf b = {0};
	assert_int_equal(selfscrape_node(&b, proc_dir, "box"), 0);
	struct lines ls;
	split(&b, &ls);
	assert_line(&ls, "node_context_switches_total{" L "} 3254101");
	assert_line(&ls, "node_boot_time_seconds{" L "} 1700000000");
	assert_line(&ls, "node_forks_total{" L "} 51122");
	assert_line(&ls, "node_intr_total{" L "} 199292");
	assert_line(&ls, "node_procs_running{" L "} 2");
	assert_line(&ls, "node_procs_blocked{" L "} 1");
	assert_line(&ls, "# TYPE node_context_switches_total counter");
	assert_line(&ls, "# TYPE node_procs_running gauge");
	lines_free(&ls);
	selfscrape_buf_free(&b);
}

static void test_meminfo_fields_become_node_memory_bytes(void **state)
{
	(void)state;
	struct selfscrape_buf b = {0};
	assert_int_equal(selfscrape_node(&b, proc_dir, "box"), 0);
	struct lines ls;
	split(&b, &ls);
	assert_line(&ls, "node_memory_MemTotal_bytes{" L "} 16706560000");
	assert_line(&ls, "node_memory_MemFree_bytes{" L "} 8318418944");
	assert_line(&ls, "node_memory_MemAvailable_bytes{" L "} 12288000000");
	assert_line(&ls, "node_memory_Buffers_bytes{" L "} 209715200");
	assert_line(&ls, "node_memory_Cached_bytes{" L "} 3145728000");
	assert_line(&ls, "node_memory_Active_bytes{" L "} 4194304000");
	assert_line(&ls, "node_memory_Active_anon_bytes{" L "} 1048576000");
	assert_line(&ls, "node_memory_Inactive_file_bytes{" L "} 2097152000");
	assert_line(&ls, "node_memory_Hugepagesize_bytes{" L "} 2097152");
	/* Counts without a unit keep their name, without _bytes. */
	assert_line(&ls, "node_memory_HugePages_Total{" L "} 0");
	assert_line(&ls, "node_memory_HugePages_Free{" L "} 0");
	assert_line(&ls, "# TYPE node_memory_Active_anon_bytes gauge");
	assert_int_equal(count_prefix(&ls, "node_memory_"), 11);
	lines_free(&ls);
	selfscrape_buf_free(&b);
}

static void test_load_averages_from_proc_loadavg(void **state)
{
	(void)state;
	struct selfscrape_buf b = {0};
	assert_int_equal(selfscrape_node(&b, proc_dir, "box"), 0);
	struct lines ls;
	split(&b, &ls);
	assert_line(&ls, "node_load1{" L "} 0.52");
	assert_line(&ls, "node_load5{" L "} 0.58");
	assert_line(&ls, "node_load15{" L "} 0.59");
	assert_line(&ls, "# TYPE node_load1 gauge");
	lines_free(&ls);
	selfscrape_buf_free(&b);
}

static void test_node_rendering_parses_as_prometheus_text(void **state)
{
	(void)state;
	struct selfscrape_buf b = {0};
	assert_int_equal(selfscrape_node(&b, proc_dir, "box"), 0);
	struct parsed *p = calloc(1, sizeof(*p));
	/* 16 cpu + 6 stat + 11 meminfo + 3 load. */
	assert_int_equal(parse_ok(&b, p), 36);
	free(p);
	selfscrape_buf_free(&b);
}

static void test_rendering_appends_to_what_the_buffer_holds(void **state)
{
	(void)state;
	struct selfscrape_buf b = {0};
	assert_int_equal(selfscrape_node(&b, proc_dir, "box"), 0);
	size_t one = b.len;
	assert_int_equal(selfscrape_node(&b, proc_dir, "box"), 0);
	assert_int_equal(b.len, 2 * one);
	assert_memory_equal(b.p, b.p + one, one);
	assert_true(b.cap > b.len);
	selfscrape_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
}

static void test_missing_proc_file_is_reported_as_enoent(void **state)
{
	(void)state;
	struct selfscrape_buf b = {0};
	assert_int_equal(selfscrape_node(&b, "/nonexistent/mcs-proc", "box"), -ENOENT);
	selfscrape_buf_free(&b);
}

static void test_real_proc_renders_and_parses(void **state)
{
	(void)state;
	struct selfscrape_buf b = {0};
	if (access("/proc/stat", R_OK) != 0)
		skip();
	assert_int_equal(selfscrape_node(&b, "/proc", "real"), 0);
	struct parsed *p = calloc(1, sizeof(*p));
	size_t n = parse_ok(&b, p);
	free(p);
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	struct lines ls;
	split(&b, &ls);
	/* No more CPUs than the machine has (the total line is not one). */
	assert_true(count_prefix(&ls, "node_cpu_seconds_total{") <= (size_t)ncpu * 8);
	assert_true(count_prefix(&ls, "node_cpu_seconds_total{") >= 8);
	assert_true(n > 20);
	lines_free(&ls);
	selfscrape_buf_free(&b);
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
	struct selfscrape_buf b = {0};
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
	selfscrape_buf_free(&b);
}

static void test_collection_round_stores_node_and_stage_metrics(void **state)
{
	struct fx *f = *state;
	if (access("/proc/stat", R_OK) != 0)
		skip();
	int64_t t0 = segment_now_real_ms();
	assert_int_equal(selfscrape_run(&f->push), 0);
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
	assert_int_equal(selfscrape_run(&f->push), 0);
	for (int j = 0; j < 2; j++)
		assert_int_equal(atomic_load(&f->p[j].hdr->write_pos), 0);
}

int main(void)
{
	if (find_proc_dir() != 0) {
		fprintf(stderr, "skip: tests/data/proc not found (run from the top directory or set MCS_TOP)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_seconds_per_cpu_and_mode_from_proc_stat),
		cmocka_unit_test(test_system_counters_from_proc_stat),
		cmocka_unit_test(test_meminfo_fields_become_node_memory_bytes),
		cmocka_unit_test(test_load_averages_from_proc_loadavg),
		cmocka_unit_test(test_node_rendering_parses_as_prometheus_text),
		cmocka_unit_test(test_rendering_appends_to_what_the_buffer_holds),
		cmocka_unit_test(test_missing_proc_file_is_reported_as_enoent),
		cmocka_unit_test(test_real_proc_renders_and_parses),
		cmocka_unit_test_setup_teardown(test_stage_counters_render_one_series_per_slot, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_collection_round_stores_node_and_stage_metrics, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_collection_round_with_everything_off_stores_nothing, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
