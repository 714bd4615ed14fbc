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
};

enum store_result {
	STORE_APPENDED = 0,
	STORE_OUT_OF_ORDER = 1,
	STORE_DUPLICATE = 2,
};

int store_init(struct store *s);
void store_free(struct store *s);

/* Finds or creates the series (key, id). Returns its index (>= 0), -EPROTO
 * when a new key is not a valid series key, -ENOMEM. */
long store_series_get(struct store *s, uint64_t id, const uint8_t *key, uint16_t key_len);

/* Adds a sample to series idx. Returns enum store_result, -ENOMEM, or
 * -EPROTO when the series' own chunk bytes turn out damaged. */
int store_add(struct store *s, size_t idx, int64_t ts_ms, double value);

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
