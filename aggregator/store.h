/* store: the aggregator's in-memory series store (simple; the storage
 * engine issue replaces it with head chunks, WAL and blocks).
 *
 * An open-addressing table maps the 64-bit series id to a series; the key
 * bytes are compared on every id hit, so two series whose ids collide stay
 * apart. Each series keeps its samples sorted by time in a growable array.
 * The same (series, timestamp) twice is a duplicate and is dropped; this is
 * what makes at-least-once ring delivery exact.
 */
#ifndef MCS_STORE_H
#define MCS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/records.h"

struct store_series {
	uint8_t *key;
	uint64_t id;
	struct rec_point *pts;
	uint32_t n, cap;
	uint16_t key_len;
	uint8_t route_known;  /* alert_mask computed */
	uint64_t alert_mask;  /* alerters that want this series' samples */
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

/* Adds a sample to series idx. Returns enum store_result, or -ENOMEM. */
int store_add(struct store *s, size_t idx, int64_t ts_ms, double value);

/* Index of the first point with ts >= t. */
uint32_t store_lower_bound(const struct store_series *se, int64_t t);

#endif
