/* tier: the downsampling tiers of a storage shard (DESIGN.md §4, issue 4
 * items 5 and 6): their configuration, which tier answers a query, which
 * data is ready to be rolled up, and which blocks retention may delete.
 *
 * Tier 0 is the raw data (scrape resolution); tier i > 0 holds rollups
 * (rollup.h) with buckets width_ms wide, built from tier i - 1: 5 m buckets
 * from raw samples, 1 h buckets from 5 m buckets (which gives the same
 * result as from raw). Defaults: raw 7 d, 5 m for 30 d, 1 h for 1 y.
 *
 * Not here: reading or writing blocks, the clock, the head. Every function
 * takes "now" and the timestamps it decides on as arguments, so that tests
 * run it with a fake clock, and is pure (no state, no allocation).
 *
 * Time sets follow rollup.h: a span (from, to] is left-open, right-closed,
 * like a Prometheus 3 range window and a rollup bucket.
 *
 * Invariants of a valid configuration (tier_config_validate()): 1..TIER_MAX
 * tiers; tier 0 has width 0; widths increase, each a multiple of the one
 * before; retentions are positive and strictly increase.
 */
#ifndef MCS_TIER_H
#define MCS_TIER_H

#include <stddef.h>
#include <stdint.h>

#define TIER_MAX 8
/* Most spans tier_plan() can return for a valid configuration. */
#define TIER_PLAN_MAX (2 * TIER_MAX + 1)
/* tier_span.tier of a part of the range that no tier still holds. */
#define TIER_NONE (-1)
/* tier_progress.rolled_until of a tier that holds no rollup yet. */
#define TIER_NEVER INT64_MIN

#define TIER_MIN_MS 60000LL
#define TIER_HOUR_MS 3600000LL
#define TIER_DAY_MS 86400000LL

struct tier_level {
	int64_t width_ms;      /* bucket width; 0 for tier 0 (raw) only */
	int64_t retention_ms;  /* data older than now - retention_ms is deleted */
};

/* The caller owns it; tier_config_default()/tier_config_parse() fill it. */
struct tier_config {
	uint32_t n;                        /* tiers in use, 1..TIER_MAX */
	struct tier_level level[TIER_MAX]; /* level[0] is raw */
};

/* How far each rollup tier has been written, kept by the aggregator's
 * rollup job (and recovered at start from the newest rollup block of each
 * tier). rolled_until[i]: every bucket of tier i ending at or before it is
 * in a block; TIER_NEVER when none is. Index 0 (raw) is not used. */
struct tier_progress {
	int64_t rolled_until[TIER_MAX];    /* ms, multiple of level[i].width_ms */
};

/* One piece of a query's time range and the tier that answers it. */
struct tier_span {
	int64_t from;          /* ms, exclusive */
	int64_t to;            /* ms, inclusive */
	int tier;              /* tier index, or TIER_NONE */
};

void tier_config_default(struct tier_config *c);
int tier_config_validate(const struct tier_config *c);
int tier_config_parse(const char *spec, struct tier_config *c);
int tier_config_format(const struct tier_config *c, char *buf, size_t len);
int tier_name(const struct tier_config *c, int tier, char *buf, size_t len);
void tier_progress_init(struct tier_progress *p);

int64_t tier_oldest(const struct tier_config *c, int tier, int64_t now);
int tier_is_expired(const struct tier_config *c, int tier, int64_t block_max_ts, int64_t now);
int tier_may_delete(const struct tier_config *c, const struct tier_progress *p, int tier,
		    int64_t block_max_ts, int64_t now);
int tier_rollup_ready(const struct tier_config *c, const struct tier_progress *p, int tier,
		      int64_t accept_floor, int64_t *from, int64_t *to);

int tier_for_query(const struct tier_config *c, const struct tier_progress *p, int64_t step_ms,
		   int64_t from, int64_t to, int64_t now);
int tier_plan(const struct tier_config *c, const struct tier_progress *p, int64_t step_ms,
	      int64_t from, int64_t to, int64_t now, struct tier_span *spans, size_t max,
	      size_t *nspans);

#endif
