/* scrapecache: what one scrape of one target turns into — Prometheus'
 * scrape semantics over a response body, with a per-target series cache.
 *
 * For each sample of the body (text 0.0.4 or OpenMetrics, by Content-Type)
 * the target's labels are attached (honor_labels: the scraped value wins;
 * otherwise a conflicting scraped label is renamed exported_<name>),
 * metric_relabel_configs are applied, the label limits checked and the
 * canonical series key built. All of that happens once per series: the
 * cache maps the series as written in the body (name and labels, compared
 * byte for byte) to its final key, or to "dropped". A scrape then costs a
 * parse, a hash and a lookup per sample.
 *
 * The cache also remembers which series the previous scrape produced: a
 * series that is missing now gets the stale marker (Prometheus' stale NaN)
 * at this scrape's timestamp; so does every series when the scrape failed
 * (HTTP error, parse error, a limit exceeded: the whole scrape is discarded,
 * up = 0) or when the target goes away (scrapecache_stale_all). Series
 * with explicit timestamps (honor_timestamps) are not marked, as in
 * Prometheus. Every scrape adds the synthetic series up,
 * scrape_duration_seconds, scrape_samples_scraped,
 * scrape_samples_post_metric_relabeling and scrape_series_added.
 *
 * Samples go into an ingest batch (collector/ingest.h); committing it is the
 * caller's. Not here: HTTP (httpc.h), scheduling (scrape.h).
 */
#ifndef MCS_SCRAPECACHE_H
#define MCS_SCRAPECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "collector/ingest.h"
#include "common/relabel.h"
#include "common/scrapeconf.h"

#define SCRAPECACHE_STALE_NAN_BITS 0x7ff0000000000002ULL
#define SCRAPECACHE_RAW_MAX        8192u  /* bytes of a series as written; longer ones are dropped */

/* One cached series. */
struct scrapecache_entry {
	uint64_t raw_hash;      /* XXH3 of the raw form; 0 = empty slot */
	uint32_t off;           /* raw form at arena[off], then the key */
	uint32_t raw_len;
	uint16_t key_len;       /* 0 for dropped series */
	uint16_t flags;         /* SCRAPECACHE_F_* */
	uint32_t seen;          /* generation of the last scrape that produced it */
	uint32_t prev_seen;     /* its `seen` before the current scrape */
	uint32_t pad;
};

#define SCRAPECACHE_F_DROPPED 1u   /* metric_relabel_configs dropped it */
#define SCRAPECACHE_F_EXPLICIT 2u  /* carried its own timestamp: no staleness */
#define SCRAPECACHE_F_SYNTH 4u     /* up, scrape_* */

struct scrapecache {
	struct scrapecache_entry *tab; /* open addressing, linear probing */
	size_t cap, n;                 /* cap: power of two */
	uint8_t *arena;
	size_t alen, acap;
	uint32_t gen;                  /* generation of the current/last scrape */
};

/* What one scrape produced. */
struct scrapecache_result {
	int up;                     /* 1 when the scrape succeeded */
	uint64_t scraped;           /* samples in the body */
	uint64_t post_relabel;      /* samples kept after metric relabeling */
	uint64_t added;             /* series new to the cache */
	uint64_t stale;             /* stale markers emitted */
	uint64_t duplicates;        /* repeated series in one body, skipped */
	char err[320];              /* why it failed, "" when up */
};

/* One scrape's input. */
struct scrapecache_input {
	const struct scrapeconf_job *job;      /* honor_labels, limits, metric relabeling */
	const struct relabel_labels *tlabels;  /* target labels (job, instance, ...) */
	const char *body;                      /* NULL when the request failed */
	size_t len;
	const char *content_type;              /* response Content-Type, may be NULL */
	const char *error;                     /* the request's failure, NULL when it worked */
	int64_t ts_ms;                         /* scrape timestamp (scheduled start) */
	double duration_s;                     /* for scrape_duration_seconds */
};

void scrapecache_init(struct scrapecache *c);
void scrapecache_free(struct scrapecache *c);

/* Forgets every series (after a change of the job's relabeling or limits;
 * the next scrape counts them as added again). */
void scrapecache_clear(struct scrapecache *c);

/* Runs one scrape's semantics: adds the samples (or, on failure, none),
 * the stale markers and the synthetic series to in's batch (not reset,
 * not committed: the caller does both). Returns 0, or -ENOMEM (the batch
 * is then unusable and should be reset). res says up or down and why. */
int scrapecache_process(struct scrapecache *c, struct ingest *in, const struct scrapecache_input *sin,
			struct scrapecache_result *res);

/* Adds a stale marker at ts_ms for every series the cache holds (synthetic
 * ones included), for a target that goes away, and empties the cache.
 * Returns the number of markers, or -ENOMEM. */
long scrapecache_stale_all(struct scrapecache *c, struct ingest *in, int64_t ts_ms);

/* The stale NaN. */
double scrapecache_stale_nan(void);

#endif
