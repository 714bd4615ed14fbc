/* tsdb_pvt: internals of tsdb.c shared with tsdbmaint.c, the writers of
 * the block set. Not for other modules: they use tsdb.h.
 *
 * Invariants the callers keep: t->blocks stays sorted by (tier, min_t,
 * max_t) because only tsdb_add_block and tsdb_drop_block change it.
 */
#ifndef MCS_TSDB_PVT_H
#define MCS_TSDB_PVT_H

#include <stddef.h>
#include <stdint.h>

#include "aggregator/block.h"
#include "aggregator/tsdb.h"

/* Receives, instead of merged points, each selected series' raw chunks
 * (tsdb_select_x): begin before a series' first chunk, chunk per chunk in
 * block order, end with its key after the last. Each returns 0 or -errno. */
struct tsdb_sink {
	void *arg;
	int (*begin)(void *arg);
	int (*chunk)(void *arg, const struct block_chunk *c);
	int (*end)(void *arg, const uint8_t *key, size_t key_len);
};

int tsdb_add_block(struct tsdb *t, struct block *b, const char *path, int tier);
void tsdb_drop_block(struct tsdb *t, size_t i, const char *why_in);
int tsdb_tier_dir(const struct tsdb *t, int tier, char *buf, size_t len);
int64_t tsdb_clock(const struct tsdb *t);
int tsdb_select_x(struct tsdb *t, int tier, const struct tsdb_sel *sel, int64_t mint, int64_t maxt,
		  unsigned flags, tsdb_series_fn cb, void *arg, const struct tsdb_sink *sink);

#endif
