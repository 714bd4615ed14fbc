/* test_aggregator_tier: unit tests of aggregator/tier (tier configuration,
 * tier choice, rollup readiness, retention), and the retention and
 * downsampling test of issue 4: a miniature storage shard driven by a fake
 * clock over 40 days of generated samples, whose blocks move from raw to
 * 5 m to 1 h rollups and are deleted by retention, queried across tier
 * boundaries against a reference computed from the raw data.
 *
 * The miniature shard is the protocol the aggregator is meant to follow:
 * raw blocks of 2 h once wholly behind the head's out-of-order window;
 * rollup blocks whenever tier_rollup_ready() says buckets are final (5 m
 * from raw, 1 h from 5 m blocks); a block is deleted when tier_may_delete()
 * says so. The reference evaluator is Prometheus 3's range functions on
 * the raw samples (as in test_aggregator_rollup).
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

#include "aggregator/rollup.h"
#include "aggregator/tier.h"

#define MIN_MS TIER_MIN_MS
#define H_MS TIER_HOUR_MS
#define D_MS TIER_DAY_MS
#define T0 (1700000000000LL - 1700000000000LL % D_MS)

static void test_default_tiers_are_raw_7d_5m_30d_1h_1y(void **state)
{
	(void)state;
	struct tier_config c;
	char buf[128];
	tier_config_default(&c);
	assert_int_equal(tier_config_validate(&c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(tier_config_format(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "raw:1w,5m:30d,1h:1y");
	assert_int_equal(tier_name(&c, 1, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "5m");
	assert_int_equal(tier_name(&c, 3, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(tier_name(&c, 0, buf, 3), -ENOSPC);
}

static void test_parse_accepts_a_tier_list_and_round_trips_through_format(void **state)
{
	(void)state;
	struct tier_config c;
	char buf[128];
	assert_int_equal(tier_config_parse("raw:2d,1m:14d,10m:90d,1h:2y", &c), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.level[2].width_ms, 10 * MIN_MS);
	assert_int_equal(c.level[3].retention_ms, 2 * 365 * D_MS);
	assert_int_equal(tier_config_format(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "raw:2d,1m:2w,10m:90d,1h:2y");
	struct tier_config d;
	assert_int_equal(tier_config_parse(buf, &d), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	assert_int_equal(tier_config_parse("raw:7d", &c), 0);
	assert_int_equal(tier_config_format(&c, buf, 5), -ENOSPC);
}

static void test_parse_rejects_invalid_tier_lists(void **state)
{
	(void)state;
	struct tier_config c;
	const char *bad[] = {
		"", "5m:7d", "raw", "raw:7d,", "raw:7d,5m", "raw:7d,5m:30d,7m:1y" /* not a multiple */,
		"raw:7d,1h:30d,5m:1y" /* width decreasing */, "raw:30d,5m:7d" /* retention */,
		"raw:7d,5m:7d" /* retention not increasing */, "raw:0s", "raw:7d,0s:30d",
		"raw:7d,5x:30d", "raw:7d,5m:30d,10m:40d,20m:50d,40m:60d,80m:70d,160m:80d,320m:90d,640m:100d",
		NULL,
	};
	for (int i = 0; bad[i]; i++)
		if (tier_config_parse(bad[i], &c) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(tier_config_parse(NULL, &c), -EINVAL);
}

static struct tier_config cfg;
static struct tier_progress prog;

/* Rollups written up to shortly before now. */
static void current(int64_t now)
{
	tier_config_default(&cfg);
	tier_progress_init(&prog);
	prog.rolled_until[1] = (now - 10 * MIN_MS) / (5 * MIN_MS) * (5 * MIN_MS);
	prog.rolled_until[2] = (now - 10 * MIN_MS) / H_MS * H_MS;
}

static void test_query_uses_the_coarsest_tier_the_step_allows(void **state)
{
	(void)state;
	int64_t now = T0 + 100 * D_MS;
	current(now);
	int64_t to = now - 2 * H_MS, from = to - D_MS;
	assert_int_equal(tier_for_query(&cfg, &prog, 0, from, to, now), 0);
	assert_int_equal(tier_for_query(&cfg, &prog, 15000, from, to, now), 0);
	assert_int_equal(tier_for_query(&cfg, &prog, 5 * MIN_MS - 1, from, to, now), 0);
	assert_int_equal(tier_for_query(&cfg, &prog, 5 * MIN_MS, from, to, now), 1);
	assert_int_equal(tier_for_query(&cfg, &prog, 10 * MIN_MS, from, to, now), 1);
	assert_int_equal(tier_for_query(&cfg, &prog, H_MS, from, to, now), 2);
	assert_int_equal(tier_for_query(&cfg, &prog, 7 * D_MS, from, to, now), 2);
	assert_int_equal(tier_for_query(&cfg, &prog, -1, from, to, now), -EINVAL);
	assert_int_equal(tier_for_query(&cfg, &prog, H_MS, to, to, now), -EINVAL);
}

static void test_query_goes_finer_when_the_coarse_tier_is_not_rolled_up_to_the_range_end(void **state)
{
	(void)state;
	int64_t now = T0 + 100 * D_MS;
	current(now);
	/* The last 10 minutes exist only raw; the last hour not yet as 1 h. */
	assert_int_equal(tier_for_query(&cfg, &prog, H_MS, now - D_MS, now, now), 0);
	int64_t to = prog.rolled_until[1];
	assert_true(to > prog.rolled_until[2]);
	assert_int_equal(tier_for_query(&cfg, &prog, H_MS, to - D_MS, to, now), 1);
	assert_int_equal(tier_for_query(&cfg, &prog, H_MS, to - D_MS, prog.rolled_until[2], now), 2);
}

static void test_query_goes_coarser_when_the_range_is_older_than_the_fine_retention(void **state)
{
	(void)state;
	int64_t now = T0 + 100 * D_MS;
	current(now);
	/* 10 days ago: raw is gone, 5 m holds it even for a 15 s step. */
	assert_int_equal(tier_for_query(&cfg, &prog, 15000, now - 10 * D_MS - H_MS, now - 10 * D_MS, now), 1);
	/* 40 days ago: only the 1 h tier. */
	assert_int_equal(tier_for_query(&cfg, &prog, 15000, now - 40 * D_MS - H_MS, now - 40 * D_MS, now), 2);
	/* Older than every tier: nothing holds it; the step's choice stands. */
	assert_int_equal(tier_for_query(&cfg, &prog, 15000, now - 400 * D_MS, now - 399 * D_MS, now), 0);
}

static void test_a_range_no_single_tier_holds_is_split_by_the_plan(void **state)
{
	(void)state;
	int64_t now = T0 + 100 * D_MS;
	current(now);
	struct tier_span sp[TIER_PLAN_MAX];
	size_t n;
	assert_int_equal(tier_for_query(&cfg, &prog, 15000, now - 40 * D_MS, now, now), -ERANGE);
	assert_int_equal(tier_plan(&cfg, &prog, 15000, now - 400 * D_MS, now, now, sp, TIER_PLAN_MAX, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(sp[0].tier, TIER_NONE);
	assert_int_equal(sp[0].from, now - 400 * D_MS);
	assert_int_equal(sp[0].to, tier_oldest(&cfg, 2, now));
	assert_int_equal(sp[1].tier, 2);
	assert_int_equal(sp[1].to, tier_oldest(&cfg, 1, now));
	assert_int_equal(sp[2].tier, 1);
	assert_int_equal(sp[2].to, tier_oldest(&cfg, 0, now));
	assert_int_equal(sp[3].tier, 0);
	assert_int_equal(sp[3].to, now);
	/* Every inner edge is a 5 m bucket end, so aligned windows stay aligned. */
	for (size_t i = 1; i < n; i++)
		assert_int_equal(sp[i].from % (5 * MIN_MS), 0);
	/* A 1 h step: 1 h where written, then 5 m, then raw for the newest part. */
	assert_int_equal(tier_plan(&cfg, &prog, H_MS, now - 40 * D_MS, now, now, sp, TIER_PLAN_MAX, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(sp[0].tier, 2);
	assert_int_equal(sp[0].to, prog.rolled_until[2]);
	assert_int_equal(sp[1].tier, 1);
	assert_int_equal(sp[1].to, prog.rolled_until[1]);
	assert_int_equal(sp[2].tier, 0);
	assert_int_equal(tier_plan(&cfg, &prog, H_MS, now - 40 * D_MS, now, now, sp, 2, &n), -ENOSPC);
}

static void test_blocks_expire_by_tier_and_wait_for_the_next_tier_rollup(void **state)
{
	(void)state;
	int64_t now = T0 + 100 * D_MS;
	tier_config_default(&cfg);
	tier_progress_init(&prog);
	int64_t edge = now - 7 * D_MS;
	assert_false(tier_is_expired(&cfg, 0, edge, now));
	assert_true(tier_is_expired(&cfg, 0, edge - 1, now));
	assert_false(tier_is_expired(&cfg, 1, edge - 1, now));
	assert_true(tier_is_expired(&cfg, 1, now - 30 * D_MS - 1, now));
	assert_true(tier_is_expired(&cfg, 2, now - 365 * D_MS - 1, now));
	assert_false(tier_is_expired(&cfg, 3, 0, now));
	assert_false(tier_is_expired(&cfg, -1, 0, now));
	/* Raw past retention but not yet rolled up to 5 m: kept. */
	assert_false(tier_may_delete(&cfg, &prog, 0, edge - 1, now));
	prog.rolled_until[1] = edge - 5 * MIN_MS;
	assert_false(tier_may_delete(&cfg, &prog, 0, edge - 5 * MIN_MS + 1, now - 1));
	assert_true(tier_may_delete(&cfg, &prog, 0, edge - 5 * MIN_MS, now));
	/* The coarsest tier only needs to be expired. */
	assert_true(tier_may_delete(&cfg, &prog, 2, now - 366 * D_MS, now));
}

static void test_rollups_are_ready_only_for_buckets_behind_the_out_of_order_window(void **state)
{
	(void)state;
	int64_t from, to;
	tier_config_default(&cfg);
	tier_progress_init(&prog);
	int64_t floor = T0 + 3 * H_MS + 7 * MIN_MS;  /* oldest timestamp still accepted */
	assert_int_equal(tier_rollup_ready(&cfg, &prog, 1, floor, &from, &to), 1);
	assert_int_equal(from, TIER_NEVER);
	assert_int_equal(to, T0 + 3 * H_MS + 5 * MIN_MS);
	/* A bucket ending exactly at the floor can still get a sample at the floor. */
	assert_int_equal(tier_rollup_ready(&cfg, &prog, 1, T0 + H_MS, &from, &to), 1);
	assert_int_equal(to, T0 + H_MS - 5 * MIN_MS);
	/* 1 h waits for the 5 m tier. */
	assert_int_equal(tier_rollup_ready(&cfg, &prog, 2, floor, &from, &to), 0);
	prog.rolled_until[1] = T0 + 2 * H_MS + 55 * MIN_MS;
	assert_int_equal(tier_rollup_ready(&cfg, &prog, 2, floor, &from, &to), 1);
	assert_int_equal(to, T0 + 2 * H_MS);
	prog.rolled_until[2] = to;
	assert_int_equal(tier_rollup_ready(&cfg, &prog, 2, floor, &from, &to), 0);
	assert_int_equal(tier_rollup_ready(&cfg, &prog, 0, floor, &from, &to), -EINVAL);
	assert_int_equal(tier_rollup_ready(&cfg, &prog, 3, floor, &from, &to), -EINVAL);
}

/* ---- the miniature shard ------------------------------------------------ */

#define NSER 2
#define SCRAPE_MS 60000LL
#define DAYS 40
#define NSAMP ((size_t)(DAYS * D_MS / SCRAPE_MS))
#define MAXBLK 4096
#define OOO_MS (10 * MIN_MS)
#define RAW_BLOCK_MS (2 * H_MS)

static int64_t raw_ts[NSER][NSAMP];
static double raw_v[NSER][NSAMP];

struct sblock {
	int tier;
	int live;
	int64_t from, to;      /* (from, to] */
	size_t i0, i1;         /* raw: sample indexes, both series share them */
	uint8_t *bytes[NSER];  /* rollup tiers: encoded series */
	size_t len[NSER];
};

static struct sblock blk[MAXBLK];
static size_t nblk;
static size_t raw_blocked;     /* samples [0, raw_blocked) are in raw blocks */
static int64_t raw_block_to;   /* end of the newest raw block */

static uint64_t rng = 99;

static uint64_t rnd(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void gen_raw(void)
{
	double c = 0;
	for (size_t i = 0; i < NSAMP; i++) {
		int64_t t = T0 + (int64_t)i * SCRAPE_MS + (int64_t)(rnd() % 2000);
		c += (double)(rnd() % 100);
		if (rnd() % 5000 == 0)
			c = 0;  /* counter reset */
		raw_ts[0][i] = raw_ts[1][i] = t;
		raw_v[0][i] = c;
		raw_v[1][i] = (double)(int64_t)(rnd() % 100000) / 100.0;
	}
}

/* First sample index with ts > t. */
static size_t raw_after(int64_t t)
{
	size_t lo = 0, hi = NSAMP;
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (raw_ts[0][m] > t)
			hi = m;
		else
			lo = m + 1;
	}
	return lo;
}

/* Oldest raw sample index still held (live raw block or head). */
static size_t raw_oldest_held(void)
{
	for (size_t b = 0; b < nblk; b++)
		if (blk[b].live && blk[b].tier == 0)
			return blk[b].i0;
	return raw_blocked;
}

static struct sblock *new_block(int tier, int64_t from, int64_t to)
{
	assert_true(nblk < MAXBLK);
	struct sblock *b = &blk[nblk++];
	memset(b, 0, sizeof(*b));
	b->tier = tier;
	b->live = 1;
	b->from = from;
	b->to = to;
	return b;
}

/* Concatenates the live blocks of rollup tier `tier` holding (from, to]
 * for series s into out (filled in place). */
static void read_tier(int tier, int s, int64_t from, int64_t to, struct rollup_series *out)
{
	assert_int_equal(rollup_init(out, cfg.level[tier].width_ms), 0);
	for (size_t i = 0; i < nblk; i++) {
		struct sblock *b = &blk[i];
		if (!b->live || b->tier != tier || b->to <= from || b->from >= to)
			continue;
		struct rollup_series part, cut;
		assert_int_equal(rollup_decode(b->bytes[s], b->len[s], &part), 0);
		assert_int_equal(rollup_slice(&part, from, to, &cut), 0);
		assert_int_equal(rollup_add_rollup(out, &cut), 0);
		rollup_destroy(&part);
		rollup_destroy(&cut);
	}
}

/* One hour of the shard's life at fake time now. */
static void shard_tick(int64_t now)
{
	int64_t floor = now - OOO_MS;  /* the head accepts nothing older */
	/* Raw blocks: 2 h ranges wholly older than the floor. */
	while (raw_block_to + RAW_BLOCK_MS < floor) {
		int64_t to = raw_block_to + RAW_BLOCK_MS;
		struct sblock *b = new_block(0, raw_block_to, to);
		b->i0 = raw_blocked;
		b->i1 = raw_after(to);
		raw_blocked = b->i1;
		raw_block_to = to;
	}
	/* Rollups, finest first so that 1 h sees this tick's 5 m buckets. */
	for (int tier = 1; tier < (int)cfg.n; tier++) {
		int64_t from, to;
		int rc = tier_rollup_ready(&cfg, &prog, tier, floor, &from, &to);
		assert_true(rc >= 0);
		if (rc == 0)
			continue;
		if (from == TIER_NEVER)
			from = T0 - D_MS;
		struct sblock *b = new_block(tier, from, to);
		for (int s = 0; s < NSER; s++) {
			struct rollup_series r;
			if (tier == 1) {
				size_t i0 = raw_after(from), i1 = raw_after(to);
				/* Every sample needed is still held raw. */
				assert_true(i0 >= raw_oldest_held() || i0 == i1);
				assert_int_equal(rollup_init(&r, cfg.level[1].width_ms), 0);
				assert_int_equal(rollup_add_raw(&r, raw_ts[s] + i0, raw_v[s] + i0, i1 - i0), 0);
			} else {
				struct rollup_series src;
				read_tier(tier - 1, s, from, to, &src);
				assert_int_equal(rollup_init(&r, cfg.level[tier].width_ms), 0);
				assert_int_equal(rollup_add_rollup(&r, &src), 0);
				rollup_destroy(&src);
			}
			assert_int_equal(rollup_encode(&r, &b->bytes[s], &b->len[s]), 0);
			rollup_destroy(&r);
		}
		prog.rolled_until[tier] = to;
	}
	/* Retention. */
	for (size_t i = 0; i < nblk; i++) {
		struct sblock *b = &blk[i];
		if (!b->live || !tier_may_delete(&cfg, &prog, b->tier, b->to, now))
			continue;
		b->live = 0;
		for (int s = 0; s < NSER; s++) {
			free(b->bytes[s]);
			b->bytes[s] = NULL;
		}
	}
}

/* Prometheus 3 reference on the raw samples of series s in (t - r, t]. */
static int ref_eval(int s, enum rollup_fn fn, int64_t t, int64_t r, double *out)
{
	size_t i0 = raw_after(t - r), i1 = raw_after(t), n = i1 - i0;
	const int64_t *ts = raw_ts[s] + i0;
	const double *v = raw_v[s] + i0;
	if (n == 0)
		return -ENODATA;
	double sum = 0, mn = v[0], mx = v[0];
	for (size_t i = 0; i < n; i++) {
		sum += v[i];
		mn = v[i] < mn ? v[i] : mn;
		mx = v[i] > mx ? v[i] : mx;
	}
	switch (fn) {
	case ROLLUP_SUM_OVER_TIME: *out = sum; return 0;
	case ROLLUP_COUNT_OVER_TIME: *out = (double)n; return 0;
	case ROLLUP_AVG_OVER_TIME: *out = sum / (double)n; return 0;
	case ROLLUP_MIN_OVER_TIME: *out = mn; return 0;
	case ROLLUP_MAX_OVER_TIME: *out = mx; return 0;
	case ROLLUP_LAST_OVER_TIME: *out = v[n - 1]; return 0;
	default: break;
	}
	if (n < 2)
		return -ENODATA;
	double res = v[n - 1] - v[0];
	if (fn != ROLLUP_DELTA)
		for (size_t i = 1; i < n; i++)
			if (v[i] < v[i - 1])
				res += v[i - 1];
	double ds = (double)(ts[0] - (t - r)) / 1000, de = (double)(t - ts[n - 1]) / 1000;
	double smp = (double)(ts[n - 1] - ts[0]) / 1000, avg = smp / (double)(n - 1);
	if (ds >= avg * 1.1)
		ds = avg / 2;
	if (fn != ROLLUP_DELTA && res > 0 && v[0] >= 0 && smp * (v[0] / res) < ds)
		ds = smp * (v[0] / res);
	if (de >= avg * 1.1)
		de = avg / 2;
	double f = (smp + ds + de) / smp;
	if (fn == ROLLUP_RATE)
		f /= (double)r / 1000;
	*out = res * f;
	return 0;
}

static size_t exact_steps, inexact_steps;

/* Range query of fn(x[r]) with the given step over (from, to] at now,
 * each step answered by tier_for_query()'s tier; counts steps per tier. */
static void query_and_compare(int64_t now, int64_t step, int64_t r, int64_t from, int64_t to,
			      size_t used[TIER_MAX])
{
	static const enum rollup_fn fns[] = {ROLLUP_SUM_OVER_TIME, ROLLUP_COUNT_OVER_TIME,
					     ROLLUP_MIN_OVER_TIME, ROLLUP_MAX_OVER_TIME,
					     ROLLUP_LAST_OVER_TIME, ROLLUP_INCREASE, ROLLUP_RATE};
	for (int64_t t = from - from % step + step; t <= to; t += step) {
		int tier = tier_for_query(&cfg, &prog, step, t - r, t, now);
		assert_true(tier >= 0);
		used[tier]++;
		for (int s = 0; s < NSER; s++) {
			struct rollup_series rs;
			if (tier == 0) {
				/* Raw: every sample of the window is still held. */
				assert_true(raw_after(t - r) >= raw_oldest_held());
				continue;
			}
			int64_t w = cfg.level[tier].width_ms;
			read_tier(tier, s, t - r - w, t + w, &rs);
			if (t % w || r % w) {
				/* A step finer than the tier that holds the data: the
				 * window cuts buckets; the count is off by at most the
				 * cut buckets' values (rollup.h). */
				double got = 0, want = 0, cut = 0;
				assert_int_equal(rollup_eval(&rs, ROLLUP_COUNT_OVER_TIME, t, r, &got, NULL), 0);
				assert_int_equal(ref_eval(s, ROLLUP_COUNT_OVER_TIME, t, r, &want), 0);
				for (size_t j = 0; j < rs.n; j++) {
					const struct rollup_bucket *b = &rs.b[j];
					if ((b->first_ts <= t - r && b->last_ts > t - r) ||
					    (b->first_ts <= t && b->last_ts > t))
						cut += (double)b->count;
				}
				assert_true(fabs(got - want) <= cut);
				inexact_steps++;
				rollup_destroy(&rs);
				continue;
			}
			exact_steps++;
			for (size_t k = 0; k < sizeof(fns) / sizeof(fns[0]); k++) {
				double got = 0, want = 0;
				struct rollup_span sp;
				int rc = rollup_eval(&rs, fns[k], t, r, &got, &sp);
				int rr = ref_eval(s, fns[k], t, r, &want);
				if (rc != rr || fabs(got - want) > 1e-9 * fmax(fabs(want), 1))
					fail_msg("tier %d series %d fn %d t=T0+%lldms r=%lld: %d %.17g vs raw %d %.17g",
						 tier, s, (int)fns[k], (long long)(t - T0), (long long)r, rc,
						 got, rr, want);
				assert_true(sp.exact);
			}
			rollup_destroy(&rs);
		}
	}
}

static void test_data_moves_across_tiers_and_queries_across_boundaries_match_raw(void **state)
{
	(void)state;
	tier_config_default(&cfg);
	tier_progress_init(&prog);
	gen_raw();
	nblk = 0;
	raw_blocked = 0;
	raw_block_to = T0;
	int64_t now = T0;
	size_t used[TIER_MAX] = {0};
	for (int h = 1; h <= DAYS * 24; h++) {
		now = T0 + h * H_MS;
		shard_tick(now);
		if (h == 20 * 24) {
			/* Day 20: raw gone before day 13, everything else held. */
			query_and_compare(now, MIN_MS, H_MS, now - 15 * D_MS, now, used);
			query_and_compare(now, H_MS, 6 * H_MS, T0 + 6 * H_MS, now, used);
		}
	}
	/* Day 40: raw only for 7 d, 5 m for 30 d, 1 h for everything. */
	size_t live[TIER_MAX] = {0};
	for (size_t i = 0; i < nblk; i++) {
		if (!blk[i].live)
			continue;
		live[blk[i].tier]++;
		assert_false(tier_is_expired(&cfg, blk[i].tier, blk[i].to, now - 2 * H_MS));
	}
	print_message("day %d: live blocks raw %zu, 5m %zu, 1h %zu of %zu written\n", DAYS, live[0],
		      live[1], live[2], nblk);
	assert_true(live[0] > 0 && live[1] > 0 && live[2] > 0);
	assert_true(raw_ts[0][raw_oldest_held()] > now - 7 * D_MS - RAW_BLOCK_MS);
	/* A 1 m step across the raw/5m boundary; a 5 m step across the 5m/1h
	 * boundary; a 1 h step over everything (1h, then 5m, then raw). */
	query_and_compare(now, MIN_MS, 30 * MIN_MS, now - 8 * D_MS, now - 6 * D_MS, used);
	query_and_compare(now, 5 * MIN_MS, H_MS, now - 32 * D_MS, now - 28 * D_MS, used);
	query_and_compare(now, H_MS, 3 * H_MS, T0 + 3 * H_MS, now, used);
	print_message("steps answered: raw %zu, 5m %zu, 1h %zu; rollup steps equal to raw %zu, "
		      "finer than the tier (within the cut-bucket bound) %zu\n", used[0], used[1], used[2],
		      exact_steps, inexact_steps);
	assert_true(used[0] > 0 && used[1] > 0 && used[2] > 0);
	for (size_t i = 0; i < nblk; i++)
		for (int s = 0; s < NSER; s++)
			free(blk[i].bytes[s]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_tiers_are_raw_7d_5m_30d_1h_1y),
		cmocka_unit_test(test_parse_accepts_a_tier_list_and_round_trips_through_format),
		cmocka_unit_test(test_parse_rejects_invalid_tier_lists),
		cmocka_unit_test(test_query_uses_the_coarsest_tier_the_step_allows),
		cmocka_unit_test(test_query_goes_finer_when_the_coarse_tier_is_not_rolled_up_to_the_range_end),
		cmocka_unit_test(test_query_goes_coarser_when_the_range_is_older_than_the_fine_retention),
		cmocka_unit_test(test_a_range_no_single_tier_holds_is_split_by_the_plan),
		cmocka_unit_test(test_blocks_expire_by_tier_and_wait_for_the_next_tier_rollup),
		cmocka_unit_test(test_rollups_are_ready_only_for_buckets_behind_the_out_of_order_window),
		cmocka_unit_test(test_data_moves_across_tiers_and_queries_across_boundaries_match_raw),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
