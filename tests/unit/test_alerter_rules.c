/* test_alerter_rules: unit tests of the alerter's rule evaluation
 * (alerter/engine: the alert state machine and its alert table).
 *
 * The clock is the test's: every sample carries its timestamp and every
 * call its now_ms, so pending -> firing after `for`, the lookback and the
 * 15-minute retention of resolved alerts are checked to the millisecond.
 * Rules come from JSON through config_load_string and rules_load, as in
 * the alerter; two alerters (K = 2), the engine is alerter 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerter/engine.h"
#include "common/alerts.h"
#include "common/config.h"
#include "common/rules.h"
#include "common/series.h"

/* Rule positions: 0 HighLoad (alerter 0), 1 NotMine (1), 2 Down (0),
 * 3 invalid (skipped), 4 Override (0). Rule slots in the set: 0, 1, 2, 3. */
static const char fx_json[] =
	"{\"rules\": ["
	"{\"alert\": \"HighLoad\", \"expr\": \"load > 10\", \"for\": \"1m\","
	" \"labels\": {\"severity\": \"warning\"}, \"annotations\": {\"summary\": \"load high\"}},"
	"{\"alert\": \"NotMine\", \"expr\": \"load > 0\"},"
	"{\"alert\": \"Down\", \"expr\": \"up == 0\"},"
	"{\"alert\": \"Broken\", \"expr\": \"load >\"},"
	"{\"alert\": \"Override\", \"expr\": \"load > 100\","
	" \"labels\": {\"instance\": \"override\", \"alertname\": \"ignored\", \"job\": \"\"}}"
	"]}";

enum { R_HIGH = 0, R_NOTMINE = 1, R_DOWN = 2, R_OVERRIDE = 3 };

#define T0 1700000000000LL
#define MIN 60000LL

struct fx {
	struct config cfg;
	struct rules_set rs;
	struct engine e;
	char instance[64];
	char shm[128];
	struct alerts tab;
};

static int fx_counter;

static int fx_setup(void **state)
{
	char err[256];
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (config_load_string(&f->cfg, fx_json, "test", err, sizeof(err)) != 0 ||
	    rules_load(&f->cfg, 2, &f->rs) != 0 || engine_init(&f->e, &f->rs, 0, 5 * MIN) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	snprintf(f->instance, sizeof(f->instance), "tengine%d_%d", (int)getpid(), fx_counter++);
	segment_name(f->shm, sizeof(f->shm), f->instance, "alerts.0");
	segment_unlink(f->shm);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	engine_fini(&f->e);
	rules_set_free(&f->rs);
	config_free(&f->cfg);
	alerts_close(&f->tab);
	segment_unlink(f->shm);
	free(f);
	return 0;
}

/* Key of metric{instance=inst, job="n"}. */
static size_t fx_key(uint8_t *out, const char *metric, const char *inst)
{
	struct series_label l[2] = {{"instance", 8, inst, strlen(inst)}, {"job", 3, "n", 1}};
	int n = series_key_build(out, SERIES_KEY_MAX, metric, strlen(metric), l, 2);
	assert_true(n > 0);
	return (size_t)n;
}

/* Feeds metric{instance=inst} = v at ts (now = ts). Returns rules evaluated. */
static int fx_feed(struct fx *f, const char *metric, const char *inst, int64_t ts, double v)
{
	uint8_t k[256];
	size_t n = fx_key(k, metric, inst);
	return engine_sample(&f->e, k, n, ts, v, ts);
}

/* The alert of rule slot `rule` for metric{instance=inst}, or NULL. */
static const struct engine_alert *fx_alert(struct fx *f, uint32_t rule, const char *metric,
					   const char *inst)
{
	uint8_t k[256], l[ENGINE_LABELS_MAX];
	size_t n = fx_key(k, metric, inst);
	int ll = engine_labels(&f->e, rule, k, n, l, sizeof(l));
	assert_true(ll > 0);
	return engine_find(&f->e, rule, l, (size_t)ll);
}

static double fx_stale(void)
{
	uint64_t bits = 0x7ff0000000000002ull;
	double d;
	memcpy(&d, &bits, sizeof(d));
	return d;
}

static void goes_pending_then_fires_after_for(void **state)
{
	struct fx *f = *state;
	/* HighLoad and Override (not holding) are evaluated; NotMine is alerter 1's. */
	assert_int_equal(fx_feed(f, "load", "a", T0, 20), 2);
	const struct engine_alert *a = fx_alert(f, R_HIGH, "load", "a");
	assert_non_null(a);
	assert_int_equal(a->state, ALERTS_PENDING);
	assert_int_equal(a->active_at_ms, T0);
	assert_null(fx_alert(f, R_NOTMINE, "load", "a"));
	fx_feed(f, "load", "a", T0 + 30000, 15);
	engine_tick(&f->e, T0 + MIN - 1);
	assert_int_equal(a->state, ALERTS_PENDING);
	engine_tick(&f->e, T0 + MIN);
	assert_int_equal(a->state, ALERTS_FIRING);
	assert_int_equal(a->fired_at_ms, T0 + MIN);
	assert_int_equal(a->active_at_ms, T0);
	assert_true(a->value == 15);
	assert_int_equal(engine_count(&f->e, ALERTS_FIRING), 1);
	assert_int_equal(engine_count(&f->e, ALERTS_PENDING), 0);
}

static void a_sample_past_for_fires_without_waiting_for_the_timer(void **state)
{
	struct fx *f = *state;
	fx_feed(f, "load", "a", T0, 20);
	fx_feed(f, "load", "a", T0 + MIN, 20);
	const struct engine_alert *a = fx_alert(f, R_HIGH, "load", "a");
	assert_int_equal(a->state, ALERTS_FIRING);
	assert_int_equal(a->fired_at_ms, T0 + MIN);
}

static void for_zero_fires_on_the_crossing_sample(void **state)
{
	struct fx *f = *state;
	fx_feed(f, "up", "a", T0, 1);
	assert_int_equal(f->e.n, 0); /* not holding: no state kept */
	fx_feed(f, "up", "a", T0 + 1000, 0);
	const struct engine_alert *a = fx_alert(f, R_DOWN, "up", "a");
	assert_non_null(a);
	assert_int_equal(a->state, ALERTS_FIRING);
	assert_int_equal(a->active_at_ms, T0 + 1000);
	assert_int_equal(a->fired_at_ms, T0 + 1000);
	assert_int_equal(f->e.changed, 1);
}

static void firing_resolves_and_is_removed_after_15_minutes(void **state)
{
	struct fx *f = *state;
	fx_feed(f, "up", "a", T0, 0);
	fx_feed(f, "up", "a", T0 + 1000, 1);
	const struct engine_alert *a = fx_alert(f, R_DOWN, "up", "a");
	assert_int_equal(a->state, ALERTS_RESOLVED);
	assert_int_equal(a->resolved_at_ms, T0 + 1000);
	engine_tick(&f->e, T0 + 1000 + 15 * MIN - 1);
	assert_int_equal(f->e.n, 1);
	assert_int_equal(a->state, ALERTS_RESOLVED);
	engine_tick(&f->e, T0 + 1000 + 15 * MIN);
	assert_int_equal(f->e.n, 0);
	assert_null(fx_alert(f, R_DOWN, "up", "a"));
}

static void resolved_alert_that_holds_again_starts_over_pending(void **state)
{
	struct fx *f = *state;
	fx_feed(f, "load", "a", T0, 20);
	fx_feed(f, "load", "a", T0 + MIN, 20);
	fx_feed(f, "load", "a", T0 + 2 * MIN, 1);
	const struct engine_alert *a = fx_alert(f, R_HIGH, "load", "a");
	assert_int_equal(a->state, ALERTS_RESOLVED);
	fx_feed(f, "load", "a", T0 + 3 * MIN, 30);
	assert_int_equal(a->state, ALERTS_PENDING);
	assert_int_equal(a->active_at_ms, T0 + 3 * MIN);
	assert_int_equal(a->fired_at_ms, 0);
	assert_int_equal(a->resolved_at_ms, 0);
}

static void pending_that_stops_holding_goes_back_to_inactive(void **state)
{
	struct fx *f = *state;
	fx_feed(f, "load", "a", T0, 20);
	fx_feed(f, "load", "b", T0, 20);
	assert_int_equal(f->e.n, 2);
	fx_feed(f, "load", "a", T0 + 1000, 5);
	assert_null(fx_alert(f, R_HIGH, "load", "a"));
	/* b moved into a's slot and is still found through the index. */
	const struct engine_alert *b = fx_alert(f, R_HIGH, "load", "b");
	assert_non_null(b);
	assert_int_equal(b->state, ALERTS_PENDING);
	assert_int_equal(f->e.n, 1);
}

static void nan_and_stale_markers_never_hold(void **state)
{
	struct fx *f = *state;
	fx_feed(f, "up", "a", T0, fx_stale());
	fx_feed(f, "up", "b", T0, NAN);
	assert_int_equal(f->e.n, 0);
	fx_feed(f, "up", "a", T0 + 1000, 0);
	assert_int_equal(fx_alert(f, R_DOWN, "up", "a")->state, ALERTS_FIRING);
	fx_feed(f, "up", "a", T0 + 2000, fx_stale());
	const struct engine_alert *a = fx_alert(f, R_DOWN, "up", "a");
	assert_int_equal(a->state, ALERTS_RESOLVED);
	assert_int_equal(a->resolved_at_ms, T0 + 2000);
	/* A pending alert hit by a stale marker simply ends. */
	fx_feed(f, "load", "a", T0, 20);
	fx_feed(f, "load", "a", T0 + 1000, fx_stale());
	assert_null(fx_alert(f, R_HIGH, "load", "a"));
}

static void series_unseen_for_the_lookback_resolves(void **state)
{
	struct fx *f = *state;
	fx_feed(f, "up", "a", T0, 0);
	fx_feed(f, "load", "a", T0, 20);
	engine_tick(&f->e, T0 + 5 * MIN);
	assert_int_equal(fx_alert(f, R_DOWN, "up", "a")->state, ALERTS_FIRING);
	assert_int_equal(fx_alert(f, R_HIGH, "load", "a")->state, ALERTS_FIRING);
	engine_tick(&f->e, T0 + 5 * MIN + 1);
	const struct engine_alert *a = fx_alert(f, R_DOWN, "up", "a");
	assert_int_equal(a->state, ALERTS_RESOLVED);
	assert_int_equal(a->resolved_at_ms, T0 + 5 * MIN + 1);
	assert_int_equal(fx_alert(f, R_HIGH, "load", "a")->state, ALERTS_RESOLVED);
}

static void samples_older_than_the_lookback_or_replayed_are_ignored(void **state)
{
	struct fx *f = *state;
	uint8_t k[256];
	size_t n = fx_key(k, "up", "a");
	/* Ten minutes old when it arrives: cannot start an alert. */
	engine_sample(&f->e, k, n, T0, 0, T0 + 10 * MIN);
	assert_int_equal(f->e.n, 0);
	fx_feed(f, "up", "a", T0 + 1000, 0);
	fx_feed(f, "up", "a", T0 + 2000, 0);
	/* A replay of an older sample (at-least-once ring) changes nothing. */
	engine_sample(&f->e, k, n, T0 + 1500, 1, T0 + 2000);
	engine_sample(&f->e, k, n, T0 + 2000, 1, T0 + 2000);
	const struct engine_alert *a = fx_alert(f, R_DOWN, "up", "a");
	assert_int_equal(a->state, ALERTS_FIRING);
	assert_int_equal(a->last_ts_ms, T0 + 2000);
	assert_true(a->value == 0);
}

static void alert_labels_are_series_labels_plus_rule_labels_and_alertname(void **state)
{
	struct fx *f = *state;
	uint8_t k[256], l[ENGINE_LABELS_MAX];
	char text[512];
	size_t n = fx_key(k, "load", "a");
	int ll = engine_labels(&f->e, R_HIGH, k, n, l, sizeof(l));
	assert_true(ll > 0);
	assert_int_equal(series_key_validate(l, (size_t)ll), 0);
	series_key_format(l, (size_t)ll, text, sizeof(text));
	assert_string_equal(text, "ALERTS{alertname=\"HighLoad\",instance=\"a\",job=\"n\",severity=\"warning\"}");
	/* Rule labels win over series labels, alertname over both; an empty
	 * rule label removes the series label. */
	ll = engine_labels(&f->e, R_OVERRIDE, k, n, l, sizeof(l));
	series_key_format(l, (size_t)ll, text, sizeof(text));
	assert_string_equal(text, "ALERTS{alertname=\"Override\",instance=\"override\"}");
	/* Too small a buffer. */
	assert_int_equal(engine_labels(&f->e, R_HIGH, k, n, l, 16), -E2BIG);
}

static void malformed_keys_are_refused_and_counted(void **state)
{
	struct fx *f = *state;
	uint8_t junk[16] = {200, 0, 'x'};
	assert_int_equal(engine_sample(&f->e, junk, sizeof(junk), T0, 0, T0), -EPROTO);
	assert_int_equal(f->e.bad_keys, 1);
	assert_int_equal(f->e.n, 0);
}

static void publishes_to_the_table_and_recovers_after_a_restart(void **state)
{
	struct fx *f = *state;
	struct alerts rd;
	static struct alerts_entry out[8];
	assert_int_equal(alerts_create(&f->tab, f->instance, 0), 0);
	assert_int_equal(engine_recover(&f->e, &f->tab), 0);
	fx_feed(f, "load", "a", T0, 20);           /* pending */
	fx_feed(f, "up", "b", T0, 0);              /* firing */
	fx_feed(f, "up", "c", T0, 0);
	fx_feed(f, "up", "c", T0 + 1000, 1);       /* resolved */
	assert_int_equal(engine_publish(&f->e, &f->tab, T0 + 1000), 1);
	assert_int_equal(engine_publish(&f->e, &f->tab, T0 + 1000), 0); /* nothing dirty */

	assert_int_equal(alerts_attach(&rd, f->instance, 0), 0);
	assert_int_equal(alerts_snapshot(&rd, out, 8), 3);
	int seen = 0;
	for (int i = 0; i < 3; i++) {
		if (strcmp(out[i].rule, "HighLoad") == 0) {
			assert_int_equal(out[i].state, ALERTS_PENDING);
			assert_int_equal(out[i].active_at_ms, T0);
			assert_string_equal(out[i].annotations, "{\"summary\":\"load high\"}");
			seen |= 1;
		} else if (out[i].state == ALERTS_FIRING) {
			assert_string_equal(out[i].rule, "Down");
			seen |= 2;
		} else {
			assert_int_equal(out[i].state, ALERTS_RESOLVED);
			assert_int_equal(out[i].resolved_at_ms, T0 + 1000);
			seen |= 4;
		}
	}
	assert_int_equal(seen, 7);

	/* "Crash": the engine goes, the table stays. A new engine resumes. */
	engine_fini(&f->e);
	alerts_close(&f->tab);
	assert_int_equal(engine_init(&f->e, &f->rs, 0, 5 * MIN), 0);
	assert_int_equal(alerts_create(&f->tab, f->instance, 0), 0);
	assert_int_equal(engine_recover(&f->e, &f->tab), 3);
	const struct engine_alert *p = fx_alert(f, R_HIGH, "load", "a");
	assert_non_null(p);
	assert_int_equal(p->state, ALERTS_PENDING);
	assert_int_equal(p->active_at_ms, T0);   /* the `for` timer did not restart */
	assert_int_equal(fx_alert(f, R_DOWN, "up", "b")->state, ALERTS_FIRING);
	assert_int_equal(fx_alert(f, R_DOWN, "up", "b")->fired_at_ms, T0);
	assert_int_equal(fx_alert(f, R_DOWN, "up", "c")->state, ALERTS_RESOLVED);
	/* A replayed sample is recognised as old; a fresh one keeps it firing. */
	fx_feed(f, "up", "b", T0, 1);
	assert_int_equal(fx_alert(f, R_DOWN, "up", "b")->state, ALERTS_FIRING);
	fx_feed(f, "load", "a", T0 + 30000, 20);
	engine_tick(&f->e, T0 + MIN);
	assert_int_equal(p->state, ALERTS_FIRING);
	assert_int_equal(p->fired_at_ms, T0 + MIN);
	assert_int_equal(engine_publish(&f->e, &f->tab, T0 + MIN), 1);
	assert_int_equal(alerts_snapshot(&rd, out, 8), 3);
	alerts_close(&rd);
}

static void recovery_drops_entries_of_rules_gone_or_damaged(void **state)
{
	struct fx *f = *state;
	assert_int_equal(alerts_create(&f->tab, f->instance, 0), 0);
	fx_feed(f, "up", "a", T0, 0);
	fx_feed(f, "up", "b", T0, 0);
	fx_feed(f, "load", "z", T0, 200); /* HighLoad and Override */
	assert_int_equal(f->e.n, 4);
	engine_publish(&f->e, &f->tab, T0);
	f->tab.t->e[1].labels[0] = 0xff;   /* damage one entry */
	engine_fini(&f->e);
	alerts_close(&f->tab);

	/* The new configuration lacks "Down": its alerts are dropped. */
	struct config cfg2;
	struct rules_set rs2;
	struct engine e2;
	char err[256];
	assert_int_equal(config_load_string(&cfg2,
		"{\"rules\": [{\"alert\": \"HighLoad\", \"expr\": \"load > 10\", \"for\": \"1m\","
		" \"labels\": {\"severity\": \"warning\"}}, {\"alert\": \"X\", \"expr\": \"x > 1\"},"
		"{\"alert\": \"Override\", \"expr\": \"load > 100\", \"labels\": {\"instance\": \"other\"}}]}",
		"test", err, sizeof(err)), 0);
	assert_int_equal(rules_load(&cfg2, 2, &rs2), 0);
	assert_int_equal(engine_init(&e2, &rs2, 0, 5 * MIN), 0);
	assert_int_equal(alerts_create(&f->tab, f->instance, 0), 0);
	/* Override's labels changed (instance), so only HighLoad survives. */
	assert_int_equal(engine_recover(&e2, &f->tab), 1);
	assert_string_equal(rs2.r[e2.a[0].rule].cfg->alert, "HighLoad");
	assert_int_equal(engine_publish(&e2, &f->tab, T0), 1);
	assert_int_equal(f->tab.t->count, 1);
	engine_fini(&e2);
	rules_set_free(&rs2);
	config_free(&cfg2);
	assert_int_equal(engine_init(&f->e, &f->rs, 0, 5 * MIN), 0); /* for teardown */
}

static void a_full_table_evicts_resolved_alerts_then_counts_overflows(void **state)
{
	struct fx *f = *state;
	char inst[32];
	for (int i = 0; i < (int)ENGINE_MAX_ALERTS; i++) {
		snprintf(inst, sizeof(inst), "i%d", i);
		fx_feed(f, "up", inst, T0, 0);
	}
	assert_int_equal(f->e.n, ENGINE_MAX_ALERTS);
	fx_feed(f, "up", "extra", T0, 0);
	assert_int_equal(f->e.overflows, 1);
	assert_null(fx_alert(f, R_DOWN, "up", "extra"));
	fx_feed(f, "up", "i7", T0 + 1000, 1); /* resolves */
	fx_feed(f, "up", "extra", T0 + 2000, 0);
	assert_int_equal(f->e.overflows, 1);
	assert_non_null(fx_alert(f, R_DOWN, "up", "extra"));
	assert_null(fx_alert(f, R_DOWN, "up", "i7"));
	assert_int_equal(f->e.n, ENGINE_MAX_ALERTS);
	/* Every alert is still reachable through the index. */
	for (int i = 0; i < (int)ENGINE_MAX_ALERTS; i++) {
		snprintf(inst, sizeof(inst), "i%d", i);
		if (i != 7)
			assert_non_null(fx_alert(f, R_DOWN, "up", inst));
	}
	assert_int_equal(alerts_create(&f->tab, f->instance, 0), 0);
	assert_int_equal(engine_publish(&f->e, &f->tab, T0), 1);
	assert_int_equal(f->tab.t->count, ENGINE_MAX_ALERTS);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(goes_pending_then_fires_after_for),
		T(a_sample_past_for_fires_without_waiting_for_the_timer),
		T(for_zero_fires_on_the_crossing_sample),
		T(firing_resolves_and_is_removed_after_15_minutes),
		T(resolved_alert_that_holds_again_starts_over_pending),
		T(pending_that_stops_holding_goes_back_to_inactive),
		T(nan_and_stale_markers_never_hold),
		T(series_unseen_for_the_lookback_resolves),
		T(samples_older_than_the_lookback_or_replayed_are_ignored),
		T(alert_labels_are_series_labels_plus_rule_labels_and_alertname),
		T(malformed_keys_are_refused_and_counted),
		T(publishes_to_the_table_and_recovers_after_a_restart),
		T(recovery_drops_entries_of_rules_gone_or_damaged),
		T(a_full_table_evicts_resolved_alerts_then_counts_overflows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
