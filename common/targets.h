/* targets: the scrape-target table a collector publishes in shared memory
 * ("/mcs.<instance>.targets.<i>") for the apiservers' /api/v1/targets.
 *
 * One writer (collector i), any number of readers. Each entry has its own
 * seqlock (same protocol and pairings as common/alerts.c: odd while the
 * writer updates it), so a scrape finishing updates one entry without
 * disturbing readers of the others. Slots are reused: `used` says whether
 * one holds a target; `count` is the high-water mark readers scan up to.
 * Label sets are stored in the series-key encoding (series.h: u16 length,
 * name, u16 length, value), without __name__.
 *
 * An entry is either an active target or, with `dropped` set, a target
 * that relabel_configs dropped (Prometheus' droppedTargets): those carry
 * only pool, hash and discovered; the writer lists its share of them
 * (hash of the discovered labels % collectors) after its active targets.
 * Version 2 added `dropped`.
 */
#ifndef MCS_TARGETS_H
#define MCS_TARGETS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/relabel.h"
#include "shm/segment.h"

#define TARGETS_MAGIC   0x31544752544d43ULL /* "CMTRGT1" */
#define TARGETS_VERSION 2u
#define TARGETS_MAX     16384u

enum targets_health {
	TARGETS_UNKNOWN = 0,
	TARGETS_UP = 1,
	TARGETS_DOWN = 2,
};

struct targets_entry {
	_Atomic uint32_t seq;         /* per-entry seqlock, writer only */
	uint32_t used;                /* 1 when the slot holds a target */
	uint32_t health;              /* enum targets_health */
	uint32_t dropped;             /* 1: dropped by relabel_configs (pool, hash, discovered only) */
	uint16_t labels_len;          /* bytes used in labels */
	uint16_t discovered_len;      /* bytes used in discovered */
	uint32_t pad;
	int64_t last_scrape_ms;       /* CLOCK_REALTIME ms of the last scrape start, 0 = never */
	int64_t interval_ms;
	int64_t timeout_ms;
	double last_duration_s;       /* seconds the last scrape took */
	uint64_t hash;                /* target identity (scrapeconf_target.hash; of job and discovered when dropped) */
	uint64_t samples;             /* samples of the last scrape, after relabeling */
	char pool[128];               /* job name, NUL-terminated */
	char url[512];                /* scrape URL, NUL-terminated */
	char last_error[256];         /* "" after a good scrape */
	uint8_t labels[1536];         /* target labels (series-key encoding) */
	uint8_t discovered[2048];     /* labels before relabeling */
};

struct targets_table {
	_Atomic uint64_t magic;
	uint32_t version;
	uint32_t index;               /* collector index */
	_Atomic uint32_t count;       /* slots [0, count) may be in use; writer only */
	uint32_t pad;
	_Atomic int64_t updated_ms;   /* CLOCK_REALTIME of the last change */
	struct targets_entry e[TARGETS_MAX];
};

struct targets {
	struct segment seg;
	struct targets_table *t;
	uint32_t free_hint;           /* writer: where to look for a free slot */
};

/* Writer: creates or re-attaches the table of collector `index` and
 * empties it (a restarted collector lists its targets again). Returns 0 or
 * -errno; *tg is closed on failure. */
int targets_create(struct targets *tg, const char *instance, uint32_t index);

/* Reader: attaches read-only. 0, -ENOENT (not created yet), -EAGAIN (not
 * published yet), -EPROTO, or -errno. */
int targets_attach(struct targets *tg, const char *instance, uint32_t index);

/* Unmaps; accepts a closed or zeroed handle. */
void targets_close(struct targets *tg);

/* Writer: takes a free slot and marks it used with empty fields. Returns
 * the slot, or -ENOSPC when all TARGETS_MAX are taken. */
int targets_alloc(struct targets *tg);

/* Writer: frees a slot. */
void targets_release(struct targets *tg, uint32_t slot);

/* Writer: the first slot at or after `from` that holds a dropped target,
 * or -ENOENT. Reads the writer's own stores, so no seqlock. */
int targets_next_dropped(const struct targets *tg, uint32_t from);

/* Writer: brackets an update of one entry; begin returns it. Stores in
 * between are plain: a reader copying concurrently retries (see
 * alerts.c on why that is harmless). Calls do not nest. */
struct targets_entry *targets_write_begin(struct targets *tg, uint32_t slot);
void targets_write_end(struct targets *tg, uint32_t slot);

/* Reader: copies entry `slot` consistently into *out. Returns 1 when it
 * holds a target, 0 when the slot is free, -EAGAIN when the writer kept
 * changing it. */
int targets_read(const struct targets *tg, uint32_t slot, struct targets_entry *out);

/* Slots a reader should scan. */
uint32_t targets_count(const struct targets *tg);

/* Encodes a label set (labels beginning with "__" included or not, as
 * `with_reserved` says) into dst[cap] in the series-key encoding, sorted as
 * given. Labels that do not fit are left out. Returns the bytes used. */
size_t targets_put_labels(uint8_t *dst, size_t cap, const struct relabel_labels *ls, int with_reserved);

/* Copies a NUL-terminated string into a fixed field, truncating. */
void targets_put_str(char *dst, size_t cap, const char *src);

#endif
