/* mcs-alerter: evaluates the alerting rules this alerter owns over the
 * samples the aggregators forward, and publishes alert state in shared
 * memory for the apiservers.
 *
 *   mcs-alerter [--config FILE] [--index K]
 *
 * Alerter k of K owns rule i when i % K == k (common/rules.h). It consumes
 * the alert ring "aJ-rK" of every aggregator j, feeds every sample to the
 * state machine (alerter/engine.h) the moment it arrives, and ticks the
 * state machine every rule_eval_interval. State changes are published into
 * "/mcs.<instance>.alerts.<k>" after each batch of records; on a restart the
 * table the previous run published is read back, so pending timers and
 * firing alerts survive a crash.
 *
 * Not here: notifications (Alertmanager, webhooks), templates, anomaly
 * detectors; any routing (the aggregators decide what reaches us).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerter/engine.h"
#include "common/alerts.h"
#include "common/log.h"
#include "common/records.h"
#include "common/rules.h"
#include "common/stage.h"

#define MAIN_WAIT_MS      250   /* longest sleep: heartbeats need <= 1 s */
#define MAIN_BATCH        256   /* records per ring before releasing */
#define MAIN_MAX_RINGS    CTL_MAX_SLOTS

struct main_ctx {
	struct stage st;
	struct rules_set rs;
	struct engine eng;
	struct alerts tab;
	struct ring *rings;        /* one per aggregator, consumer side */
	uint32_t nrings;
	uint64_t corrupt;          /* records that failed to decode */
	uint64_t evals_reported;   /* counters already added to the slot, which */
	uint64_t samples_reported; /* outlives this process: only deltas are added */
	uint64_t corrupt_reported;
	uint64_t overflows_reported;
};

/* Decodes one REC_SAMPLES record and feeds its samples to the engine.
 * Damaged records and keys are counted, never trusted. */
static void main_record(struct main_ctx *m, const struct ring_rec *rec, int64_t now_ms)
{
	struct rec_samples_iter it;
	struct rec_sample s;
	int rc;
	if (rec->type != REC_SAMPLES || rec_samples_iter_init(&it, rec->data, rec->len) != 0) {
		m->corrupt++;
		return;
	}
	while ((rc = rec_samples_next(&it, &s)) == 1)
		engine_sample(&m->eng, s.key, s.key_len, s.ts_ms, s.value, now_ms); /* bad keys: eng.bad_keys */
	if (rc < 0)
		m->corrupt++;
}

/* Consumes up to `max` records of ring r (0: all that are published), then
 * releases them once. Returns the records consumed. */
static uint64_t main_drain_ring(struct main_ctx *m, struct ring *r, uint64_t max, int64_t now_ms)
{
	struct ring_rec rec;
	uint64_t n = 0;
	int rc;
	while ((max == 0 || n < max) && (rc = ring_next(r, &rec)) != 0) {
		if (rc < 0) {
			m->corrupt++; /* the ring skipped the damage to write_pos */
			continue;
		}
		main_record(m, &rec, now_ms);
		n++;
	}
	ring_release(r);
	return n;
}

/* Copies the engine's counters and gauges into the control-block slot. */
static void main_counters(struct main_ctx *m)
{
	struct ctl_slot *s = m->st.slot;
	ctl_add(s, CTL_C_RULE_EVALS, m->eng.evals - m->evals_reported);
	m->evals_reported = m->eng.evals;
	ctl_add(s, CTL_C_SAMPLES_IN, m->eng.samples - m->samples_reported);
	m->samples_reported = m->eng.samples;
	uint64_t corrupt = m->corrupt + m->eng.bad_keys;
	ctl_add(s, CTL_C_RECORDS_CORRUPT, corrupt - m->corrupt_reported);
	m->corrupt_reported = corrupt;
	/* In an alerter's slot, alert_drops counts alerts the table could not
	 * hold (the aggregators count ring drops in theirs). */
	ctl_add(s, CTL_C_ALERT_DROPS, m->eng.overflows - m->overflows_reported);
	m->overflows_reported = m->eng.overflows;
	ctl_set(s, CTL_C_ALERTS_FIRING, engine_count(&m->eng, ALERTS_FIRING));
	ctl_set(s, CTL_C_ALERTS_PENDING, engine_count(&m->eng, ALERTS_PENDING));
}

/* Opens rules, engine, table and rings. Exits with STAGE_EXIT_FATAL when a
 * fault would recur on every restart; returns -errno for faults a restart
 * may cure (the caller exits non-zero, the launcher restarts us). */
static int main_setup(struct main_ctx *m)
{
	struct stage *st = &m->st;
	uint32_t k = st->index;
	uint32_t nalerters = st->ctl.hdr->n_stage[CTL_ALERTER];
	uint32_t naggs = st->ctl.hdr->n_stage[CTL_AGGREGATOR];
	int rc = rules_load(&st->cfg, nalerters, &m->rs);
	if (rc == -EINVAL)
		exit(STAGE_EXIT_FATAL);
	if (rc != 0)
		return rc;
	size_t owned = 0;
	for (size_t i = 0; i < m->rs.n; i++)
		owned += m->rs.r[i].alerter == k;
	log_info("%zu rules loaded (%zu invalid, skipped); alerter %u of %u owns %zu", m->rs.n,
		 m->rs.skipped, k, nalerters, owned);
	rc = engine_init(&m->eng, &m->rs, k, st->cfg.lookback_ms);
	if (rc != 0)
		return rc;
	rc = alerts_create(&m->tab, st->cfg.instance, k);
	if (rc != 0) {
		log_error("alerts_create(instance \"%s\", alerter %u) failed: %s", st->cfg.instance, k,
			  strerror(-rc));
		return rc;
	}
	int recovered = engine_recover(&m->eng, &m->tab);
	if (recovered > 0)
		log_info("recovered %d alerts (%zu firing, %zu pending) from the previous run", recovered,
			 engine_count(&m->eng, ALERTS_FIRING), engine_count(&m->eng, ALERTS_PENDING));
	engine_publish(&m->eng, &m->tab, segment_now_real_ms());

	if (naggs > MAIN_MAX_RINGS)
		naggs = MAIN_MAX_RINGS;
	m->rings = calloc(naggs ? naggs : 1, sizeof(*m->rings));
	if (!m->rings) {
		log_error("calloc(%u rings) failed", naggs);
		return -ENOMEM;
	}
	for (uint32_t j = 0; j < naggs; j++) {
		char name[32];
		ctl_ring_alert(name, sizeof(name), j, k);
		rc = stage_ring_open(st, &m->rings[j], name, RING_ROLE_CONSUMER);
		if (rc != 0)
			return rc; /* logged by stage_ring_open */
		m->nrings = j + 1;
	}
	return 0;
}

static void main_teardown(struct main_ctx *m)
{
	for (uint32_t j = 0; j < m->nrings; j++)
		ring_detach(&m->rings[j]);
	free(m->rings);
	alerts_close(&m->tab);
	engine_fini(&m->eng);
	rules_set_free(&m->rs);
}

/* The main loop: wait (<= 250 ms) for data on any ring, drain, publish,
 * tick on schedule, beat. Returns when a stop was requested. */
static void main_loop(struct main_ctx *m)
{
	struct ring *ptrs[64];
	int nwait = m->nrings < 64 ? (int)m->nrings : 64;
	int64_t interval = m->st.cfg.rule_eval_interval_ms > 0 ? m->st.cfg.rule_eval_interval_ms : 1000;
	int64_t next_tick = segment_now_real_ms() + interval;
	for (int j = 0; j < nwait; j++)
		ptrs[j] = &m->rings[j];
	while (!stage_stop_requested) {
		stage_beat(&m->st);
		int64_t now = segment_now_real_ms();
		int64_t wait = next_tick - now;
		if (wait > MAIN_WAIT_MS)
			wait = MAIN_WAIT_MS;
		if (wait < 0)
			wait = 0;
		if (nwait > 0)
			ring_wait_any(ptrs, nwait, (int)wait);
		else if (wait > 0)
			usleep((useconds_t)wait * 1000u); /* no aggregators: only the timer */
		now = segment_now_real_ms();
		for (uint32_t j = 0; j < m->nrings; j++) {
			ring_heartbeat(&m->rings[j]);
			if (ring_available(&m->rings[j]) != 0)
				main_drain_ring(m, &m->rings[j], MAIN_BATCH, now);
		}
		if (now >= next_tick) {
			engine_tick(&m->eng, now);
			next_tick += interval;
			if (next_tick <= now)
				next_tick = now + interval; /* we fell behind: do not burst */
		}
		engine_publish(&m->eng, &m->tab, now);
		main_counters(m);
	}
}

int main(int argc, char **argv)
{
	static struct main_ctx m; /* large: the engine's buffers are on the heap, this is not */
	stage_init(&m.st, CTL_ALERTER, argc, argv);
	int rc = main_setup(&m);
	if (rc != 0) {
		log_error("alerter setup failed: %s", strerror(-rc));
		main_teardown(&m);
		stage_fini(&m.st);
		return 1;
	}
	stage_set_ready(&m.st, 1);
	log_info("alerter %u ready: %u alert rings, eval interval %lld ms", m.st.index, m.nrings,
		 (long long)m.st.cfg.rule_eval_interval_ms);
	main_loop(&m);

	/* Orderly stop: take what the aggregators already published, so no
	 * forwarded sample is lost, publish the final state, release. */
	stage_set_ready(&m.st, 0);
	int64_t now = segment_now_real_ms();
	for (uint32_t j = 0; j < m.nrings; j++)
		main_drain_ring(&m, &m.rings[j], 0, now);
	engine_publish(&m.eng, &m.tab, now);
	main_counters(&m);
	log_info("alerter %u stopped", m.st.index);
	main_teardown(&m);
	stage_fini(&m.st);
	return 0;
}
