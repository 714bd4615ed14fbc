/* tsdb: the on-disk part of one aggregator shard (DESIGN.md §4, issue 4):
 * the set of immutable blocks under <data_dir>/shard-<j>/blocks/<tier>/,
 * writing the head (store.h) into a block, compaction, downsampling into
 * rollup tiers (rollup.h, tier.h), retention, and reading series back
 * merged across blocks.
 *
 * Not here: the head itself (store.h), the WAL (wal.h), the reply records
 * and the merge of head and blocks (query.h), the block file format
 * (block.h). The writers behind tsdb_flush_head, tsdb_compact and
 * tsdb_maintain live in tsdbmaint.h (downsampling and retention alone:
 * tsdbmaint_downsample, tsdbmaint_retain).
 *
 * Life of a sample: ring -> WAL + head -> (flush) raw block -> (compaction)
 * larger raw block -> (rollup) 5m and 1h blocks -> (retention) deleted.
 *
 * Flush (tsdb_flush_head): flushes and rotates the WAL, writes every series
 * with samples as one raw block (closed chunks of up to TSDB_CHUNK_SAMPLES
 * samples), opens it, clears the head's samples (series entries and their
 * routing cache stay) and only then deletes the WAL segments below the
 * rotation point. A crash anywhere in between leaves the samples in the WAL
 * and maybe also in the new block: replay puts them in the head again.
 *
 * Duplicates across block and head: a sample re-delivered after a flush
 * (ring replay of an unreleased batch, WAL segments not yet deleted when
 * the process died) is not known to the emptied head, so it can exist both
 * in a block and in the head, or in two blocks. Readers therefore merge
 * per series and drop equal timestamps, keeping the first: blocks in order
 * of their min time, then the head, so the older block's value wins.
 * Compaction keeps overlapping chunks (block.h) and leaves this to readers.
 *
 * Rollup blocks (tiers "5m", "1h") hold per series one pseudo-chunk per
 * rollup run: the rollup_encode() bytes, min/max = first/last bucket end,
 * count = buckets. A run covers buckets (from, to] of tier_rollup_ready();
 * the buckets of a tier are final once they end before the accept floor:
 * the newest raw timestamp minus TSDB_OOO_GRACE_MS, or earlier data past the
 * raw retention. Samples arriving later for an already rolled bucket are
 * kept in raw but not in the rollup. Progress (tier_progress) is recovered
 * at open from the newest bucket end of each tier's blocks.
 *
 * Clock: retention, rollup readiness and tier choice run on the wall
 * clock capped at the newest sample in a block, so imported old data is
 * not deleted on arrival (it ages as newer data comes in).
 *
 * Damage: a block that fails block_open at start, or a frame check while
 * read, is quarantined (renamed *.quarantine, logged) and the rest served.
 *
 * Threads: one shard thread owns a struct tsdb.
 */
#ifndef MCS_TSDB_H
#define MCS_TSDB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregator/block.h"
#include "aggregator/store.h"
#include "aggregator/tier.h"
#include "aggregator/wal.h"
#include "common/matcher.h"
#include "common/records.h"

#define TSDB_CHUNK_SAMPLES 720u                 /* samples per closed chunk in blocks */
#define TSDB_BLOCK_RANGE_MS (2 * 3600 * 1000LL) /* head older than this is flushed */
#define TSDB_FLUSH_CHECK_MS 5000u               /* main loop checks this often */
#define TSDB_FLUSH_MIN_GAP_MS 60000u            /* automatic flushes at most this often */
#define TSDB_OOO_GRACE_MS (3600 * 1000LL)       /* rollups stay this far behind raw */
#define TSDB_STATUS_MAX (60u * 1024u)           /* bytes of tsdb_status_json output */

/* tsdb_select flags */
#define TSDB_SEL_KEYS 1u          /* keys only: pts NULL, n 0 */

struct tsdb_block {
	struct block *b;          /* open handle, owned */
	char *path;               /* block directory, owned */
	int tier;                 /* index into tsdb.tiers */
	int64_t min_t, max_t;     /* ms, inclusive (rollups: bucket ends) */
	uint64_t bytes;           /* size of its files */
	uint64_t samples;         /* samples (rollups: buckets) */
	uint32_t series;
	uint8_t damaged;          /* a read failed its checks: quarantine */
};

/* Counters since tsdb_open; written by the owner. */
struct tsdb_stats {
	uint64_t flushes, compactions, rollups, deleted, quarantined;
};

struct tsdb {
	char dir[PATH_MAX];       /* shard directory */
	struct tier_config tiers;
	struct tier_progress prog;
	struct tsdb_block *blocks;  /* sorted by (tier, min_t, max_t) */
	size_t nblocks, cap;
	int64_t (*now_ms)(void);  /* wall clock in ms; tests replace it */
	struct tsdb_stats st;
};

/* What a flush and the maintenance after it did (the REC_Q_FLUSH summary). */
struct tsdb_flush_result {
	uint32_t blocks_written;  /* raw blocks from the head (0 or 1) */
	uint64_t series, samples, bytes;  /* of that block */
	uint32_t compacted;       /* blocks merged away */
	uint32_t rollup_blocks;   /* rollup blocks written */
	uint32_t deleted;         /* blocks removed by retention */
};

/* Matcher sets of a query: a series is selected when every matcher of any
 * one set matches; nsets 0 selects every series. */
struct tsdb_sel {
	const struct matcher *m[REC_MAX_SETS];
	size_t n[REC_MAX_SETS];
	uint32_t nsets;
};

/* Called per series in key order with its merged points (sorted, unique
 * timestamps) in the asked range; return 0 to go on. */
typedef int (*tsdb_series_fn)(void *arg, const uint8_t *key, size_t key_len, uint64_t id,
			      const struct rec_point *pts, size_t n);
typedef int (*tsdb_str_fn)(void *arg, const char *s, size_t len);

int tsdb_open(struct tsdb *t, const char *dir, const struct tier_config *tc);
void tsdb_close(struct tsdb *t);

int tsdb_flush_due(const struct tsdb *t, const struct store *s, int64_t now);
int tsdb_flush_head(struct tsdb *t, struct store *s, struct wal *w, struct tsdb_flush_result *r);
int tsdb_compact(struct tsdb *t, int all, struct tsdb_flush_result *r);
int tsdb_maintain(struct tsdb *t, int all, struct tsdb_flush_result *r);

int tsdb_query_tier(const struct tsdb *t, int64_t step_ms, int64_t start, int64_t end);
int tsdb_select(struct tsdb *t, int tier, const struct tsdb_sel *sel, int64_t mint, int64_t maxt,
		unsigned flags, tsdb_series_fn cb, void *arg);
int tsdb_label_strings(struct tsdb *t, const struct tsdb_sel *sel, const char *name, size_t name_len,
		       int64_t mint, int64_t maxt, tsdb_str_fn cb, void *arg);
void tsdb_reap_damaged(struct tsdb *t);

int tsdb_status_json(struct tsdb *t, const struct store *s, char **out);
uint64_t tsdb_tier_bytes(const struct tsdb *t, int tier);

#endif
