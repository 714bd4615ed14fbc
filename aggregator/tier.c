/* tier: downsampling tier configuration and the decisions made on it (see
 * tier.h). Everything here is a pure function of its arguments.
 *
 * Sections: configuration; availability (what each tier still holds);
 * retention and rollup readiness; query planning.
 *
 * Availability: tier i holds every sample in (lo_i, hi_i], where lo_i is
 * now - retention_i rounded up to a multiple of the next width (the raw
 * tier) or of its own width (rollup tiers), and hi_i is +infinity for raw
 * and rolled_until[i] for rollups. Rounding lo up only makes the claim
 * smaller, never false: blocks are deleted whole and only when their last
 * timestamp is past retention. It also puts every tier switch of a plan on
 * a bucket boundary of the coarser tier, so that aligned windows stay
 * aligned.
 */
#include "aggregator/tier.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfgtree.h"
#include "common/config.h"

/* ---- configuration -------------------------------------------------- */

/* Fills c with the defaults of DESIGN.md §4: raw kept 7 d, 5 m buckets
 * kept 30 d, 1 h buckets kept 1 y (365 d). */
void tier_config_default(struct tier_config *c)
{
	memset(c, 0, sizeof(*c));
	c->n = 3;
	c->level[0] = (struct tier_level){0, 7 * TIER_DAY_MS};
	c->level[1] = (struct tier_level){5 * TIER_MIN_MS, 30 * TIER_DAY_MS};
	c->level[2] = (struct tier_level){TIER_HOUR_MS, 365 * TIER_DAY_MS};
}

/* Checks the invariants of tier.h. Returns 0, or -EINVAL naming nothing
 * (the caller logs the spec it parsed). */
int tier_config_validate(const struct tier_config *c)
{
	if (c->n < 1 || c->n > TIER_MAX || c->level[0].width_ms != 0)
		return -EINVAL;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct tier_level *l = &c->level[i];
		if (l->retention_ms <= 0 || l->retention_ms > INT64_MAX / 4)
			return -EINVAL;
		if (i == 0)
			continue;
		const struct tier_level *f = &c->level[i - 1];
		if (l->width_ms <= f->width_ms || l->width_ms > INT64_MAX / 4 ||
		    (f->width_ms && l->width_ms % f->width_ms) || l->retention_ms <= f->retention_ms)
			return -EINVAL;
	}
	return 0;
}

/* Parses a tier list such as "raw:7d,5m:30d,1h:1y" (comma-separated
 * WIDTH:RETENTION, Prometheus durations, the first WIDTH being "raw") into
 * c and validates it. Returns 0; -EINVAL for a malformed or invalid list,
 * c then unspecified. spec stays the caller's. */
int tier_config_parse(const char *spec, struct tier_config *c)
{
	char item[64];
	memset(c, 0, sizeof(*c));
	if (!spec)
		return -EINVAL;
	const char *s = spec;
	for (;;) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		if (len == 0 || len >= sizeof(item) || c->n >= TIER_MAX)
			return -EINVAL;
		memcpy(item, s, len);
		item[len] = '\0';
		char *colon = strchr(item, ':');
		if (!colon)
			return -EINVAL;
		*colon = '\0';
		struct tier_level *l = &c->level[c->n];
		if (c->n == 0) {
			if (strcmp(item, "raw") != 0)
				return -EINVAL;
			l->width_ms = 0;
		} else if (config_parse_duration(item, &l->width_ms) < 0) {
			return -EINVAL;
		}
		if (config_parse_duration(colon + 1, &l->retention_ms) < 0)
			return -EINVAL;
		c->n++;
		if (!end)
			break;
		s = end + 1;
	}
	return tier_config_validate(c);
}

/* Writes the name of a tier ("raw", "5m", "1h") into buf, as the query
 * service reports the tier it answered from. Returns 0; -EINVAL for an
 * unknown tier; -ENOSPC when buf is too small (buf then holds a truncated
 * name). */
int tier_name(const struct tier_config *c, int tier, char *buf, size_t len)
{
	char tmp[48];
	if (tier < 0 || (uint32_t)tier >= c->n || len == 0)
		return -EINVAL;
	if (tier == 0)
		snprintf(tmp, sizeof(tmp), "raw");
	else
		cfgtree_format_duration(c->level[tier].width_ms, tmp, sizeof(tmp));
	return (size_t)snprintf(buf, len, "%s", tmp) >= len ? -ENOSPC : 0;
}

/* Writes c in the syntax tier_config_parse() reads. Returns 0, -ENOSPC when
 * buf is too small (truncated), -EINVAL for an empty config. */
int tier_config_format(const struct tier_config *c, char *buf, size_t len)
{
	size_t o = 0;
	if (c->n == 0 || len == 0)
		return -EINVAL;
	buf[0] = '\0';
	for (uint32_t i = 0; i < c->n; i++) {
		char w[48], r[48];
		if (tier_name(c, (int)i, w, sizeof(w)) < 0)
			return -EINVAL;
		cfgtree_format_duration(c->level[i].retention_ms, r, sizeof(r));
		int k = snprintf(buf + o, len - o, "%s%s:%s", i ? "," : "", w, r);
		if (k < 0 || (size_t)k >= len - o)
			return -ENOSPC;
		o += (size_t)k;
	}
	return 0;
}

/* Sets every tier of p to "no rollup written yet". */
void tier_progress_init(struct tier_progress *p)
{
	for (int i = 0; i < TIER_MAX; i++)
		p->rolled_until[i] = TIER_NEVER;
}

/* ---- availability --------------------------------------------------- */

/* Largest multiple of w <= x (floor), for any x > INT64_MIN + w. */
static int64_t tier_floor(int64_t x, int64_t w)
{
	int64_t q = x / w;
	if (x % w < 0)
		q--;
	return q * w;
}

/* Smallest multiple of w >= x (ceil), for any x <= INT64_MAX - w. */
static int64_t tier_ceil(int64_t x, int64_t w)
{
	int64_t q = x / w;
	if (x % w > 0)
		q++;
	return q * w;
}

/* The width lo of tier i is rounded to: its own, or the next one's for raw
 * (1 when raw is the only tier). */
static int64_t tier_align(const struct tier_config *c, int i)
{
	if (i > 0)
		return c->level[i].width_ms;
	return c->n > 1 ? c->level[1].width_ms : 1;
}

/* Returns the exclusive lower edge of what tier i still holds at now:
 * every sample after it is kept (tier.c's opening comment). The caller
 * passes a valid tier of a valid c. */
int64_t tier_oldest(const struct tier_config *c, int tier, int64_t now)
{
	int64_t w = tier_align(c, tier);
	int64_t x = now - c->level[tier].retention_ms;
	if (now < INT64_MIN / 2 + c->level[tier].retention_ms || x > INT64_MAX - w)
		return INT64_MIN / 2;
	return tier_ceil(x, w);
}

/* Inclusive upper edge of what tier i holds: +inf for raw, else the end of
 * its last written bucket (INT64_MIN when none). */
static int64_t tier_newest(const struct tier_progress *p, int i)
{
	return i == 0 ? INT64_MAX : p->rolled_until[i];
}

static int tier_has(const struct tier_config *c, const struct tier_progress *p, int i, int64_t now,
		    int64_t ts)
{
	return ts > tier_oldest(c, i, now) && ts <= tier_newest(p, i);
}

/* ---- retention and rollup readiness --------------------------------- */

/* Returns 1 when a block of tier `tier` whose newest timestamp (or newest
 * bucket end) is block_max_ts lies wholly past that tier's retention at
 * now, else 0; also 0 for an unknown tier (when in doubt, keep). */
int tier_is_expired(const struct tier_config *c, int tier, int64_t block_max_ts, int64_t now)
{
	if (tier < 0 || (uint32_t)tier >= c->n || now < INT64_MIN / 2)
		return 0;
	return block_max_ts < now - c->level[tier].retention_ms;
}

/* Returns 1 when the block may be deleted: it is expired
 * (tier_is_expired()) and the next coarser tier, which is built from it,
 * has already been written past it (its rolled_until reaches the end of
 * the coarser bucket holding block_max_ts), so that a rollup job that fell
 * behind never loses data. The coarsest tier only needs to be expired.
 * Returns 0 otherwise, and for an unknown tier. */
int tier_may_delete(const struct tier_config *c, const struct tier_progress *p, int tier,
		    int64_t block_max_ts, int64_t now)
{
	if (!tier_is_expired(c, tier, block_max_ts, now))
		return 0;
	if ((uint32_t)tier + 1 == c->n)
		return 1;
	int64_t w = c->level[tier + 1].width_ms;
	int64_t done = p->rolled_until[tier + 1];
	if (done == TIER_NEVER || block_max_ts > INT64_MAX - w)
		return 0;
	return done >= tier_ceil(block_max_ts, w);
}

/* Says which buckets of rollup tier `tier` can be built now: those ending
 * in (*from, *to]. A bucket is final when no sample can still arrive for
 * it: it ends before accept_floor, the oldest timestamp the head still
 * accepts (the head's newest timestamp minus its out-of-order window), and,
 * for a tier built from another rollup tier, that tier has been written up
 * to its end. *from is rolled_until[tier] (TIER_NEVER: from the oldest
 * source data). Returns 1 with (*from, *to] non-empty; 0 when nothing is
 * ready; -EINVAL for tier 0 or an unknown tier. After writing the buckets,
 * the caller sets rolled_until[tier] = *to. */
int tier_rollup_ready(const struct tier_config *c, const struct tier_progress *p, int tier,
		      int64_t accept_floor, int64_t *from, int64_t *to)
{
	if (tier <= 0 || (uint32_t)tier >= c->n)
		return -EINVAL;
	int64_t w = c->level[tier].width_ms;
	*from = p->rolled_until[tier];
	*to = *from;
	if (accept_floor < INT64_MIN / 2)
		return 0;
	int64_t end = tier_floor(accept_floor - 1, w);
	if (tier >= 2) {
		int64_t src = p->rolled_until[tier - 1];
		if (src == TIER_NEVER)
			return 0;
		int64_t s = tier_floor(src, w);
		if (s < end)
			end = s;
	}
	if (end <= *from)
		return 0;
	*to = end;
	return 1;
}

/* ---- query planning ------------------------------------------------- */

/* Tier answering data at ts for a query of resolution step: the coarsest
 * tier no coarser than step that holds ts; else the finest coarser one that
 * does; else TIER_NONE. cand is the coarsest tier with width <= step. */
static int tier_pick_at(const struct tier_config *c, const struct tier_progress *p, int cand,
			int64_t now, int64_t ts)
{
	for (int i = cand; i >= 0; i--)
		if (tier_has(c, p, i, now, ts))
			return i;
	for (int i = cand + 1; i < (int)c->n; i++)
		if (tier_has(c, p, i, now, ts))
			return i;
	return TIER_NONE;
}

static int tier_candidate(const struct tier_config *c, int64_t step_ms)
{
	int cand = 0;
	for (int i = 1; i < (int)c->n; i++)
		if (c->level[i].width_ms <= step_ms)
			cand = i;
	return cand;
}

/* Chooses one tier for the samples in (from, to] of a query of resolution
 * step_ms (the range query's step; 0 for an instant query): the coarsest
 * tier whose width is at most step_ms and that holds the whole range; if
 * none does, the finest coarser tier that does (a lower resolution than
 * asked, rather than missing data). Data older than every tier's retention
 * is ignored (nothing holds it). Returns the tier index; -ERANGE when no
 * single tier holds the range (rollups not yet written for its recent end
 * while raw data has expired at its old end): use tier_plan(); -EINVAL for
 * an invalid c, step_ms < 0 or from >= to. */
int tier_for_query(const struct tier_config *c, const struct tier_progress *p, int64_t step_ms,
		   int64_t from, int64_t to, int64_t now)
{
	if (tier_config_validate(c) < 0 || step_ms < 0 || from >= to)
		return -EINVAL;
	int cand = tier_candidate(c, step_ms);
	int64_t floor_all = tier_oldest(c, (int)c->n - 1, now);
	if (from < floor_all)
		from = floor_all;
	if (from >= to)
		return cand;
	for (int i = cand; i >= 0; i--)
		if (from >= tier_oldest(c, i, now) && to <= tier_newest(p, i))
			return i;
	for (int i = cand + 1; i < (int)c->n; i++)
		if (from >= tier_oldest(c, i, now) && to <= tier_newest(p, i))
			return i;
	return -ERANGE;
}

/* Splits (from, to] into spans in time order, each answered by one tier as
 * tier_pick_at() chooses, TIER_NONE where no tier holds the data; adjacent
 * spans have different tiers. Span edges other than from and to are bucket
 * ends of the coarser of the two tiers they separate. Returns 0 with
 * *nspans set; -ENOSPC when max is too small (TIER_PLAN_MAX always
 * suffices); -EINVAL as tier_for_query(). spans are the caller's. */
int tier_plan(const struct tier_config *c, const struct tier_progress *p, int64_t step_ms,
	      int64_t from, int64_t to, int64_t now, struct tier_span *spans, size_t max,
	      size_t *nspans)
{
	int64_t cut[2 * TIER_MAX + 2];
	size_t ncut = 0, n = 0;
	*nspans = 0;
	if (tier_config_validate(c) < 0 || step_ms < 0 || from >= to)
		return -EINVAL;
	int cand = tier_candidate(c, step_ms);
	cut[ncut++] = from;
	cut[ncut++] = to;
	for (int i = 0; i < (int)c->n; i++) {
		int64_t e[2] = {tier_oldest(c, i, now), tier_newest(p, i)};
		for (int k = 0; k < 2; k++)
			if (e[k] > from && e[k] < to)
				cut[ncut++] = e[k];
	}
	/* Insertion sort: at most 2 * TIER_MAX + 2 edges. */
	for (size_t i = 1; i < ncut; i++)
		for (size_t j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
			int64_t t = cut[j];
			cut[j] = cut[j - 1];
			cut[j - 1] = t;
		}
	for (size_t i = 0; i + 1 < ncut; i++) {
		if (cut[i] == cut[i + 1])
			continue;
		int tier = tier_pick_at(c, p, cand, now, cut[i + 1]);
		if (n && spans[n - 1].tier == tier) {
			spans[n - 1].to = cut[i + 1];
			continue;
		}
		if (n == max)
			return -ENOSPC;
		spans[n++] = (struct tier_span){cut[i], cut[i + 1], tier};
	}
	*nspans = n;
	return 0;
}
