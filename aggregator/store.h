/* store: the aggregator's in-memory head: series and their samples in
 * compressed chunks (aggregator/chunk.h).
 *
 * An open-addressing table maps the 64-bit series id to a series; the key
 * bytes are compared on every id hit, so two series whose ids collide stay
 * apart. Each series appends to an open chunk (Gorilla-style, written as
 * samples arrive); at STORE_CHUNK_SAMPLES samples the chunk is closed and
 * re-encoded into the smallest closed form. Samples older than the last one
 * (out of order) go to a small sorted side list, merged on read. The same
 * (series, timestamp) twice is a duplicate and is dropped (the first value
 * wins): this is what makes at-least-once ring delivery and WAL replay
 * exact.
 *
 * The out-of-order window (ooo_window_ms, config "ooo_window"): a sample
 * older than its series' newest timestamp minus the window is rejected
 * (STORE_TOO_OLD) unless the store already holds it (then STORE_DUPLICATE).
 * "Newest" is max_ts as of the start of the current batch
 * (store_batch_begin), frozen for the batch, and survives head flushes.
 * The window is off (ooo_window_ms < 0, as store_init leaves it) while the
 * WAL is replayed: everything in the WAL was accepted once, and the newest
 * timestamp may since have moved on, so replay must not judge it again.
 * The aggregator writes only the samples the window let through to the WAL
 * (main.c), so replay reproduces exactly what was accepted. Ring records
 * re-delivered after a crash are judged again: the ones that reached the
 * WAL come back as duplicates, and the newest timestamp only grows, so a
 * sample rejected before is rejected again. A duplicate whose original was
 * already flushed to a block is no longer in the head and counts as too old
 * instead (either way it is dropped).
 *
 * Too-old samples are counted per shard (mcs_samples_too_old_total in
 * /metrics). Known difference from the issue: the push API cannot report
 * them to the pusher as a partial error, because the collector answers
 * once the batch is in a ring, before the aggregator judges it.
 *
 * Not here: persistence (wal.h, block.h), querying (query.h).
 */
#ifndef MCS_STORE_H
#define MCS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "aggregator/chunk.h"
#include "common/records.h"

#define STORE_CHUNK_SAMPLES 120u

/* A closed chunk: immutable bytes plus what queries need to skip it. */
struct store_chunk {
	uint8_t *buf;         /* closed chunk bytes, owned */
	uint32_t len;
	uint32_t n;           /* samples */
	int64_t min_ts, max_ts;
};

struct store_series {
	uint8_t *key;
	uint64_t id;
	struct chunk head;            /* open chunk, appended to */
	struct store_chunk *closed;   /* in time order */
	uint32_t nclosed, closed_cap;
	struct rec_point *ooo;        /* out-of-order samples, sorted, unique */
	uint32_t nooo, ooo_cap;
	uint32_t n;                   /* samples held in all */
	uint16_t key_len;
	uint8_t route_known;          /* alert_mask computed */
	uint64_t alert_mask;          /* alerters that want this series' samples */
	int64_t max_ts;               /* ms: newest timestamp ever stored (kept across
				       * head flushes); INT64_MIN when none */
	int64_t window_ref;           /* ms: max_ts as of the batch window_gen */
	uint64_t window_gen;          /* store.batch_gen when window_ref was taken */
};

struct store_slot {
	uint64_t id;
	uint32_t idx1;        /* series index + 1; 0 = empty */
};

struct store {
	struct store_slot *table;
	size_t table_cap;     /* power of two */
	struct store_series *series;
	size_t nseries, series_cap;
	uint64_t samples;
	uint64_t chunk_bytes; /* bytes of closed chunks */
	int64_t ooo_window_ms; /* ms; < 0: no window (store_init; WAL replay). Owner sets it */
	uint64_t batch_gen;   /* advanced by store_batch_begin */
};

enum store_result {
	STORE_APPENDED = 0,
	STORE_OUT_OF_ORDER = 1,
	STORE_DUPLICATE = 2,
	STORE_TOO_OLD = 3,    /* older than the out-of-order window: not stored */
};

int store_init(struct store *s);
void store_free(struct store *s);

/* Finds or creates the series (key, id). Returns its index (>= 0), -EPROTO
 * when a new key is not a valid series key, -ENOMEM. */
long store_series_get(struct store *s, uint64_t id, const uint8_t *key, uint16_t key_len);

/* Adds a sample to series idx. Returns enum store_result, -ENOMEM, or
 * -EPROTO when the series' own chunk bytes turn out damaged. */
int store_add(struct store *s, size_t idx, int64_t ts_ms, double value);

/* Starts a batch: the window reference of every series is taken afresh
 * (lazily, at its next sample). */
void store_batch_begin(struct store *s);

/* 1 when the window rejects ts for series idx in this batch (whether or
 * not the store holds that sample), else 0. Takes the series' window
 * reference when this batch has not yet. */
int store_too_old(struct store *s, size_t idx, int64_t ts_ms);

/* Decodes the samples of se with start <= ts <= end, in time order, into
 * *buf (grown with realloc as needed; *cap its capacity in points).
 * Returns the count, -ENOMEM, or -EPROTO for damaged chunk bytes. */
long store_read(const struct store_series *se, int64_t start, int64_t end, struct rec_point **buf, size_t *cap);

/* 1 when se may hold a sample in [start, end] (from chunk bounds; exact
 * for the usual case of no out-of-order samples). */
int store_in_range(const struct store_series *se, int64_t start, int64_t end);

/* Bytes the series' samples take in memory (chunks and side list). */
size_t store_series_bytes(const struct store_series *se);

#endif
