/* tsdbmaint: the writers of a shard's block set (see tsdb.h for the life
 * of a sample, the duplicate rule and the rollup layout): flush of the
 * head into a raw block, compaction, downsampling and retention.
 *
 * Not here: the struct tsdb, opening and reading blocks (tsdb.h). Callers
 * outside the aggregator's tsdb use the tsdb_* entry points of tsdb.h,
 * which forward here.
 *
 * Threads: the shard thread that owns the struct tsdb.
 */
#ifndef MCS_TSDBMAINT_H
#define MCS_TSDBMAINT_H

#include <stdint.h>

#include "aggregator/store.h"
#include "aggregator/tsdb.h"
#include "aggregator/wal.h"

int tsdbmaint_flush_due(const struct tsdb *t, const struct store *s, int64_t now);
int tsdbmaint_flush_head(struct tsdb *t, struct store *s, struct wal *w, struct tsdb_flush_result *r);
int tsdbmaint_compact(struct tsdb *t, int all, struct tsdb_flush_result *r);
int tsdbmaint_downsample(struct tsdb *t, struct tsdb_flush_result *r);
int tsdbmaint_retain(struct tsdb *t, struct tsdb_flush_result *r);
int tsdbmaint_run(struct tsdb *t, int all, struct tsdb_flush_result *r);

#endif
