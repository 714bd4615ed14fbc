/* scrape: the collector's scraper — the Prometheus scrape configuration
 * (cfg.scrape_config_file) turned into scheduled scrapes of this
 * collector's share of the targets.
 *
 * Collector i of N scrapes the targets whose hash % N == i. Each target is
 * scraped every scrape_interval at a fixed offset (hash % interval) from
 * the interval grid, like Prometheus, and its samples are stamped with the
 * scheduled time, not the completion time. Responses go through
 * scrapecache (Prometheus semantics, staleness, synthetic series) and are
 * committed to the rings with a short bounded wait: when the rings stay
 * full the scrape's samples are dropped and counted, the loop never stalls.
 * The state of every target is published in the shm target table
 * (common/targets.h) for /api/v1/targets.
 *
 * Reload on SIGHUP and when the file changes (its mtime, polled every few
 * seconds): unchanged targets keep their connection, cache and schedule;
 * removed ones get their series marked stale. file_sd files are re-read at
 * their refresh interval.
 *
 * Not here: HTTP (httpc.h), the per-scrape semantics (scrapecache.h), the
 * configuration format (common/scrapeconf.h).
 */
#ifndef MCS_SCRAPE_H
#define MCS_SCRAPE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "collector/httpc.h"
#include "collector/ingest.h"
#include "collector/router.h"
#include "collector/scrapecache.h"
#include "common/scrapeconf.h"
#include "common/stage.h"
#include "common/targets.h"

struct event_base;
struct event;

#define SCRAPE_COMMIT_WAIT_MS 20      /* bounded wait for ring space per scrape */
#define SCRAPE_POLL_MS        3000    /* config file mtime poll */

struct scrape_target {
	struct scrape *s;
	struct scrapeconf_target t;   /* owned (moved out of scrapeconf_targets) */
	struct httpc_req *req;
	struct event *timer;
	int64_t next_ms;              /* CLOCK_REALTIME ms of the next scheduled scrape */
	int64_t cur_ts;               /* timestamp of the scrape in flight */
	uint64_t start_ns;            /* CLOCK_MONOTONIC start of the scrape in flight */
	int slot;                     /* in the target table, -1 when none */
	struct scrapecache cache;
	uint64_t scrapes, failures, skipped;
};

struct scrape {
	struct stage *st;
	struct event_base *base;
	struct httpc http;
	int http_ok;
	struct ingest in;
	struct scrapeconf conf;
	int have_conf;
	struct scrape_target **t;     /* sorted by t.hash */
	size_t n;
	struct targets table;
	int table_ok;
	struct event *hup, *poll;
	struct stat file_st;          /* of the config file at the last load */
	int64_t next_sd_ms;           /* next file_sd refresh, 0 = none */
	uint32_t index, ncollectors;
	char **src_jobs;              /* scrape jobs from /metrics/sources (JSON), owned */
	size_t nsrc_jobs;
	/* counters (this process) */
	uint64_t scrapes, failures, samples, dropped_samples, reloads, reload_errors;
};

/* Starts the scraper: attaches the target table, loads the configuration
 * when cfg.scrape_config_file is set and schedules this collector's
 * targets. A bad configuration is logged and leaves the scraper empty
 * until a reload fixes it. Returns 0, or -errno when the ring or the table
 * could not be set up. The caller owns *s; scrape_fini tears it down. */
int scrape_init(struct scrape *s, struct stage *st, struct router *router, struct event_base *base);

/* Reloads the configuration file, adds the jobs of the sources API, and
 * applies the difference. Returns 0, or -errno when the new file is bad
 * (the old configuration stays). A bad source job is logged and left out;
 * a source job whose job_name a file job already has loses to the file. */
int scrape_reload(struct scrape *s);

/* Replaces the scrape jobs that come from the sources API (JSON objects in
 * the Prometheus scrape-job shape; copied) and reloads. Returns as
 * scrape_reload, or -ENOMEM. */
int scrape_set_sources(struct scrape *s, const char *const *jobs, size_t n);

/* Stops every scrape (marking the targets' series stale) and frees. */
void scrape_fini(struct scrape *s);

#endif
