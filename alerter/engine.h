/* engine: the alert state machine of one alerter, fed sample by sample and
 * ticked by a timer, publishing into the alert table (common/alerts.h).
 *
 * States per (rule, alert label set): inactive (no entry) -> pending ->
 * firing -> resolved -> removed after ENGINE_RESOLVED_KEEP_MS. As in
 * Prometheus, a pending alert whose condition stops holding goes back to
 * inactive (its entry is dropped), not to resolved: only alerts that fired
 * can resolve. A resolved alert whose condition holds again starts over as
 * pending.
 *
 * The condition holds when the latest sample of the series satisfies the
 * rule's comparison, and that sample is not older than the lookback delta
 * (default 5m) at evaluation time. NaN values, stale markers included,
 * never hold.
 *
 * Alert labels: a canonical series key (series.h) whose __name__ is
 * "ALERTS" (as Prometheus's ALERTS series), holding the series labels
 * without __name__, then the rule's labels (which win over series labels
 * of the same name), then alertname=<rule alert> (which wins over both).
 * Readers skip __name__. Two series of one rule that differ only in
 * __name__ share one alert.
 *
 * Time: every call takes `now_ms` (CLOCK_REALTIME ms) from the caller, so
 * tests drive the clock. Sample-triggered transitions use the sample's
 * timestamp (the alert goes pending/fires at the crossing sample), timer
 * transitions use now_ms.
 *
 * Restart: engine_recover reads the table the previous incarnation
 * published (it lives in shm) and resumes pending/firing/resolved alerts
 * with their original active_at/fired_at. A recovered alert's last sample
 * time is taken as its last evaluation time, so it resolves one lookback
 * after the restart unless fresh samples keep it.
 *
 * Not thread-safe: one engine per alerter thread.
 */
#ifndef MCS_ENGINE_H
#define MCS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/alerts.h"
#include "common/rules.h"

#define ENGINE_MAX_ALERTS       ALERTS_MAX
#define ENGINE_RESOLVED_KEEP_MS (15 * 60 * 1000)
#define ENGINE_LABELS_MAX       1024u  /* = sizeof alerts_entry.labels */
#define ENGINE_ANNOT_MAX        1024u  /* = sizeof alerts_entry.annotations */

struct engine_alert {
	uint32_t rule;          /* index into engine.rs->r */
	uint32_t state;         /* enum alerts_state, never INACTIVE */
	uint64_t hash;          /* of (rule, labels), for the index */
	int64_t active_at_ms;   /* became pending (sample time or now) */
	int64_t fired_at_ms;    /* started firing, 0 if never */
	int64_t resolved_at_ms; /* resolved, 0 if not */
	int64_t last_eval_ms;   /* last evaluation (sample time or now) */
	int64_t last_ts_ms;     /* timestamp of the latest sample */
	double value;           /* latest sample value */
	int dirty;              /* differs from its table slot */
	uint16_t labels_len;
	uint8_t labels[ENGINE_LABELS_MAX];
};

struct engine {
	const struct rules_set *rs; /* borrowed */
	uint32_t index;             /* this alerter, k */
	int64_t lookback_ms;
	char (*annot)[ENGINE_ANNOT_MAX]; /* per rule of rs: annotations as JSON, owned */
	struct engine_alert *a;     /* ENGINE_MAX_ALERTS, slot i mirrors table entry i, owned */
	size_t n;                   /* alerts in use */
	uint32_t *idx;              /* open-addressing index: alert slot + 1, 0 = empty, owned */
	size_t idx_cap;             /* power of two, >= 2 * ENGINE_MAX_ALERTS */
	int changed;                /* a state changed since the last engine_publish */
	int removed;                /* the table count shrank since the last publish */
	uint64_t evals;             /* rule evaluations (counter) */
	uint64_t samples;           /* samples offered (counter) */
	uint64_t overflows;         /* alerts dropped: table full or labels too long (counter) */
	uint64_t bad_keys;          /* sample keys that failed validation (counter) */
	int64_t overflow_logged_ms; /* rate limit of the overflow log line */
};

/* Sets up *e (caller-owned) for alerter `index` over the rules of rs that
 * this alerter owns. rs must outlive e. Returns 0 or -ENOMEM (e is then
 * torn down). */
int engine_init(struct engine *e, const struct rules_set *rs, uint32_t index, int64_t lookback_ms);

/* Frees what engine_init allocated; accepts a zeroed engine. */
void engine_fini(struct engine *e);

/* Rebuilds state from the table a previous incarnation published. Entries
 * that fail validation, or whose rule this alerter no longer owns, are
 * dropped (and the table rewritten without them). Returns the number of
 * alerts recovered (>= 0). */
int engine_recover(struct engine *e, struct alerts *tab);

/* Evaluates one sample of series key[len] (from a ring: validated here)
 * against every owned rule that selects it. Returns the number of rules
 * evaluated, or -EPROTO for a malformed key (counted in bad_keys). */
int engine_sample(struct engine *e, const uint8_t *key, size_t len, int64_t ts_ms, double value,
		  int64_t now_ms);

/* Timer evaluation of every alert at now_ms: pending -> firing after
 * `for`, resolution of alerts whose condition stopped holding or whose
 * series went stale, removal of alerts resolved for
 * ENGINE_RESOLVED_KEEP_MS. */
void engine_tick(struct engine *e, int64_t now_ms);

/* Writes every dirty alert into the table under its seqlock. Returns 1
 * when it wrote, 0 when nothing was dirty. */
int engine_publish(struct engine *e, struct alerts *tab, int64_t now_ms);

/* Alerts in `state` (for the gauges). */
size_t engine_count(const struct engine *e, enum alerts_state state);

/* The alert of rule slot `rule` (index into rs->r) with labels key, or
 * NULL. For tests and diagnostics. */
const struct engine_alert *engine_find(const struct engine *e, uint32_t rule, const uint8_t *labels,
				       size_t len);

/* Builds the alert label key of rule slot `rule` for series key[len] into
 * out[cap]. Returns its length, -E2BIG when it does not fit, -EINVAL. */
int engine_labels(const struct engine *e, uint32_t rule, const uint8_t *key, size_t len,
		  uint8_t *out, size_t cap);

#endif
