/* test_apiserver_selfmetrics: /metrics rendered from a real control block
 * and real rings (created under a unique instance name, removed after),
 * and the alert endpoints rendered from a real alert table. The exposition
 * is also handed to `promtool check metrics` when promtool is installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/alertsapi.h"
#include "apiserver/json.h"
#include "apiserver/selfmetrics.h"
#include "common/alerts.h"
#include "common/series.h"
#include "shm/ctl.h"
#include "shm/ring.h"

struct fx {
	char instance[64];
	struct ctl ctl;
	struct ring ring;
	char ring_shm[SEGMENT_NAME_MAX];
};

static int fx_setup(void **state)
{
	static int counter;
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->instance, sizeof(f->instance), "utapi%d-%d", (int)getpid(), counter++);
	struct ctl_shape shape = {.n_stage = {1, 2, 1, 1}, .sample_ring_bytes = 65536,
				  .alert_ring_bytes = 65536, .query_ring_bytes = 65536};
	if (ctl_create(&f->ctl, f->instance, &shape) != 0)
		return -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	ring_detach(&f->ring);
	if (f->ring_shm[0])
		segment_unlink(f->ring_shm);
	ctl_detach(&f->ctl);
	ctl_unlink(f->instance);
	char name[SEGMENT_NAME_MAX];
	if (segment_name(name, sizeof(name), f->instance, "alerts.0") == 0)
		segment_unlink(name);
	free(f);
	return 0;
}

static char *take(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

/* Counts lines that start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
	int n = 0;
	size_t pl = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, pl) == 0)
			n++;
	return n;
}

static void test_metrics_cover_every_slot_and_existing_ring(void **state)
{
	struct fx *f = *state;
	struct ctl_slot *agg1 = ctl_slot(&f->ctl, CTL_AGGREGATOR, 1);
	ctl_set(agg1, CTL_C_SAMPLES_IN, 12345);
	ctl_set(agg1, CTL_C_CPU_MS, 2500);
	ctl_set(agg1, CTL_C_SERIES, 7);
	atomic_store(&agg1->pid, (uint32_t)getpid());
	atomic_store(&agg1->state, CTL_STATE_RUNNING);
	atomic_store(&agg1->restarts, 3);
	ctl_beat(agg1);

	/* One ring exists (c0-a1), with one record in it. */
	assert_int_equal(ctl_ring_shm_name(f->ring_shm, sizeof(f->ring_shm), f->instance, "c0-a1"), 0);
	segment_unlink(f->ring_shm);
	assert_int_equal(ring_create(&f->ring, f->ring_shm, "c0-a1", 65536, RING_FULL_BLOCK, RING_ROLE_PRODUCER), 0);
	assert_int_equal(ring_write(&f->ring, 1, "abcdefgh", 8, 0), 0);
	ring_publish(&f->ring);

	struct selfmetrics sm;
	assert_int_equal(selfmetrics_init(&sm, &f->ctl, f->instance, 5000), 0);
	assert_int_equal(sm.nrings, 1 * 2 + 2 * 1 + 2 * 1 * 2);
	struct evbuffer *b = evbuffer_new();
	assert_int_equal(selfmetrics_render(&sm, b), 0);
	char *t = take(b);

	assert_non_null(strstr(t, "mcs_samples_in_total{stage=\"aggregator\",index=\"1\"} 12345\n"));
	assert_non_null(strstr(t, "mcs_cpu_seconds_total{stage=\"aggregator\",index=\"1\"} 2.500\n"));
	assert_null(strstr(t, "milliseconds"));
	assert_non_null(strstr(t, "# TYPE mcs_series gauge\n"));
	assert_non_null(strstr(t, "mcs_series{stage=\"aggregator\",index=\"1\"} 7\n"));
	assert_non_null(strstr(t, "mcs_stage_up{stage=\"aggregator\",index=\"1\"} 1\n"));
	assert_non_null(strstr(t, "mcs_stage_up{stage=\"collector\",index=\"0\"} 0\n"));
	assert_non_null(strstr(t, "mcs_stage_restarts_total{stage=\"aggregator\",index=\"1\"} 3\n"));
	assert_non_null(strstr(t, "mcs_ring_records_in_total{ring=\"c0-a1\"} 1\n"));
	assert_non_null(strstr(t, "mcs_ring_fill_bytes{ring=\"c0-a1\"} 16\n"));
	assert_non_null(strstr(t, "mcs_ring_capacity_bytes{ring=\"c0-a1\"} 65536\n"));
	assert_null(strstr(t, "ring=\"c0-a0\""));
	/* One HELP and one TYPE per family; 5 slots per stage family. */
	assert_int_equal(count_lines(t, "# TYPE mcs_stage_up "), 1);
	assert_int_equal(count_lines(t, "mcs_stage_up{"), 5);
	assert_int_equal(count_lines(t, "# HELP "), count_lines(t, "# TYPE "));
	assert_int_equal(count_lines(t, "# TYPE "), 3 + CTL_C_COUNT + 8);

	if (access("/usr/bin/promtool", X_OK) == 0) {
		char path[] = "/tmp/mcs-test-metrics-XXXXXX";
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
		close(fd);
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s", path);
		int rc = system(cmd);
		unlink(path);
		assert_int_equal(rc, 0);
	} else {
		print_message("promtool not installed: exposition lint skipped\n");
	}
	free(t);
	evbuffer_free(b);
	selfmetrics_fini(&sm);
}

static void put_alert(struct alerts_entry *e, const char *rule, uint32_t st, double v, const char *ann)
{
	struct series_label ls[2] = {{"alertname", 9, rule, strlen(rule)}, {"severity", 8, "page", 4}};
	memset(e, 0, sizeof(*e));
	snprintf(e->rule, sizeof(e->rule), "%s", rule);
	int n = series_key_build(e->labels, sizeof(e->labels), "ALERTS", 6, ls, 2);
	assert_true(n > 0);
	e->labels_len = (uint16_t)n;
	e->state = st;
	e->active_at_ms = 1700000000120;
	e->fired_at_ms = st == ALERTS_FIRING ? 1700000060000 : 0;
	e->value = v;
	snprintf(e->annotations, sizeof(e->annotations), "%s", ann);
}

static void test_alerts_render_pending_and_firing_in_both_shapes(void **state)
{
	struct fx *f = *state;
	struct alerts w;
	assert_int_equal(alerts_create(&w, f->instance, 0), 0);
	alerts_write_begin(&w);
	put_alert(&w.t->e[0], "High", ALERTS_FIRING, 1, "{\"summary\":\"too \\\"high\\\"\"}");
	put_alert(&w.t->e[1], "Gone", ALERTS_RESOLVED, 2, "{}");
	put_alert(&w.t->e[2], "Soon", ALERTS_PENDING, 0.5, "not json");
	w.t->count = 3;
	alerts_write_end(&w);

	struct alertsapi a;
	assert_int_equal(alertsapi_init(&a, f->instance, 1), 0);
	struct evbuffer *b = evbuffer_new();
	assert_int_equal(alertsapi_render(&a, ALERTSAPI_PROMETHEUS, b), 2);
	char *t = take(b);
	assert_string_equal(t,
		"{\"status\":\"success\",\"data\":{\"alerts\":["
		"{\"labels\":{\"alertname\":\"High\",\"severity\":\"page\"},"
		"\"annotations\":{\"summary\":\"too \\\"high\\\"\"},\"state\":\"firing\","
		"\"activeAt\":\"2023-11-14T22:13:20.12Z\",\"value\":\"1e+00\"},"
		"{\"labels\":{\"alertname\":\"Soon\",\"severity\":\"page\"},"
		"\"annotations\":{},\"state\":\"pending\","
		"\"activeAt\":\"2023-11-14T22:13:20.12Z\",\"value\":\"5e-01\"}]}}");
	free(t);
	assert_int_equal(alertsapi_render(&a, ALERTSAPI_MCS, b), 2);
	t = take(b);
	assert_non_null(strstr(t, "{\"alerts\":[{\"name\":\"High\",\"labels\":"));
	assert_non_null(strstr(t, "\"firedAt\":\"2023-11-14T22:14:20Z\",\"value\":1}"));
	assert_non_null(strstr(t, "\"firedAt\":null,\"value\":0.5}"));
	free(t);
	evbuffer_free(b);
	alertsapi_fini(&a);
	alerts_close(&w);
}

static void test_alerts_without_tables_render_empty_lists(void **state)
{
	struct fx *f = *state;
	struct alertsapi a;
	assert_int_equal(alertsapi_init(&a, f->instance, 1), 0);
	struct evbuffer *b = evbuffer_new();
	assert_int_equal(alertsapi_render(&a, ALERTSAPI_MCS, b), 0);
	char *t = take(b);
	assert_string_equal(t, "{\"alerts\":[]}");
	free(t);
	evbuffer_free(b);
	alertsapi_fini(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_cover_every_slot_and_existing_ring, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_alerts_render_pending_and_firing_in_both_shapes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_alerts_without_tables_render_empty_lists, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
