/* router: turns parsed samples into series keys and commits them to the
 * aggregators' sample rings, series routed by id mod M.
 *
 * A push is collected whole first (router_add for every sample), then
 * committed with router_commit: it waits (bounded) until every target ring
 * has room for its share, so a body that fits is committed all at once or
 * not at all; only a body larger than a ring can hold goes in pieces. The
 * caller acknowledges the push only after router_commit returned 0.
 *
 * Not here: HTTP, parsing, relabeling.
 */
#ifndef MCS_ROUTER_H
#define MCS_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/series.h"
#include "shm/ring.h"

#define ROUTER_MAX_AGGREGATORS 64
#define ROUTER_RECORD_MAX (256u * 1024u) /* payload bytes of one sample record, at most (less on small rings) */

struct router_sample {
	uint64_t id;
	int64_t ts_ms;
	double value;
	uint32_t key_off; /* into the batch's key arena */
	uint16_t key_len;
	uint16_t dest;    /* aggregator index */
};

/* One push being collected. Reused across pushes (router_batch_reset). */
struct router_batch {
	struct router_sample *s;
	size_t n, cap;
	uint8_t *keys;    /* key arena */
	size_t keys_len, keys_cap;
	uint64_t bytes[ROUTER_MAX_AGGREGATORS]; /* encoded bytes per destination */
	uint32_t naggr;
};

struct router {
	struct ring *rings; /* naggr producer rings, owned by the caller */
	uint32_t naggr;
};

void router_batch_init(struct router_batch *b, uint32_t naggr);
void router_batch_reset(struct router_batch *b);
void router_batch_free(struct router_batch *b);

/* Adds a sample with metric `name` and `labels` (reordered in place).
 * Returns 0; -EINVAL for a label set that is not a valid series (duplicate
 * label, no name); -E2BIG for an oversized key; -ENOMEM. */
int router_add(struct router_batch *b, const char *name, size_t name_len,
	       struct series_label *labels, size_t nlabels, int64_t ts_ms, double value);

/* Adds a sample whose canonical key is already built. */
int router_add_key(struct router_batch *b, const uint8_t *key, size_t key_len, int64_t ts_ms, double value);

/* Commits the batch to the rings and publishes. wait_ms bounds the wait for
 * ring space. Returns 0 when every sample is committed; -ETIMEDOUT when the
 * rings stayed full (nothing of a batch that fits was written); -EMSGSIZE
 * never (oversized batches go in pieces). */
int router_commit(struct router *r, struct router_batch *b, int wait_ms);

#endif
