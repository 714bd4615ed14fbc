/* sourceswatch: the collector's side of /metrics/sources. It polls
 * <data_dir>/sources.json (device, inode, size, mtime, ctime) once a
 * second from a libevent timer and, when the file changed, reloads it and
 * hands what changed to the hooks main.c registered, without a restart:
 *
 *   push    the static labels for one push endpoint (SOURCES_EP_*): the
 *           labels of every enabled push source applying to it, sorted by
 *           name. sourceswatch_add_ingest registers the usual hook, which
 *           calls ingest_set_extra on a receiver's struct ingest.
 *   scrape  the jobs of every enabled scrape source, each a Prometheus
 *           scrape job as compact JSON text with job_name set, in document
 *           order, for scrapeconf_add_json_job.
 *   node    the node source's switches (or that there is none).
 * A hook is called at registration when the watch has started, and
 * afterwards only when its own input changed (a push hook is not called
 * because a scrape job changed).
 *
 * A file that cannot be read or parsed is logged once per version of the
 * file, naming the file and the error, and the last good state stays in
 * force. A missing file is an empty document.
 *
 * Not here: the document model (common/sources.h), the API
 * (apiserver/sourcesapi.c), scraping and the node agent themselves.
 */
#ifndef MCS_SOURCESWATCH_H
#define MCS_SOURCESWATCH_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "collector/ingest.h"
#include "common/series.h"
#include "common/sources.h"

#define SOURCESWATCH_POLL_MS   1000
#define SOURCESWATCH_MAX_HOOKS 16   /* per kind */

/* Push hook: the static labels for the endpoint it was registered for
 * (n == 0: none). The labels are valid during the call only. */
typedef void (*sourceswatch_push_fn)(void *arg, const struct series_label *labels, size_t n);

/* Scrape hook: the scrape jobs (JSON text, valid during the call only). n
 * == 0: no scrape source (left). The callee copies what it keeps. */
typedef void (*sourceswatch_scrape_fn)(void *arg, const char *const *jobs, size_t n);

/* What the node agent is told. */
struct sourceswatch_node {
	int present;               /* 0: no node source; use the configuration */
	int enabled;               /* the source's "enabled" */
	uint32_t collectors;       /* bits of enabled collectors (= NODEAGENT_*) */
	int64_t interval_ms;       /* 0: the configured interval */
};

/* Node hook: the node source (valid during the call only). */
typedef void (*sourceswatch_node_fn)(void *arg, const struct sourceswatch_node *node);

struct sourceswatch_push_hook {
	uint32_t ep;               /* SOURCES_EP_* bit */
	sourceswatch_push_fn fn;
	void *arg;
	char *applied;             /* signature of the labels last handed over, NULL: none yet */
};

struct sourceswatch_scrape_hook {
	sourceswatch_scrape_fn fn;
	void *arg;
	char *applied;
};

struct sourceswatch_node_hook {
	sourceswatch_node_fn fn;
	void *arg;
	char *applied;
};

struct sourceswatch {
	char path[4096];           /* <data_dir>/sources.json */
	struct event *timer;       /* NULL until started */
	struct sources cur;        /* the last good document */
	int started;
	int have_stat;             /* the file existed at the last poll */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	int failed;                /* the file as last seen failed to load (logged) */
	struct sourceswatch_push_hook push[SOURCESWATCH_MAX_HOOKS];
	size_t npush;
	struct sourceswatch_scrape_hook scrape[SOURCESWATCH_MAX_HOOKS];
	size_t nscrape;
	struct sourceswatch_node_hook node[SOURCESWATCH_MAX_HOOKS];
	size_t nnode;
	uint64_t reloads;          /* documents loaded and applied */
	uint64_t errors;           /* versions of the file that failed to load */
};

/* Fills *w for <data_dir>/sources.json; nothing is read yet. Returns 0 or
 * -ENAMETOOLONG. The caller owns *w; sourceswatch_fini tears it down. */
int sourceswatch_init(struct sourceswatch *w, const char *data_dir);

/* Registers hooks (at most SOURCESWATCH_MAX_HOOKS of each kind). When the
 * watch has started, the hook is called at once with the current state.
 * Returns 0 or -ENOSPC. */
int sourceswatch_on_push(struct sourceswatch *w, uint32_t ep, sourceswatch_push_fn fn, void *arg);
int sourceswatch_on_scrape(struct sourceswatch *w, sourceswatch_scrape_fn fn, void *arg);
int sourceswatch_on_node(struct sourceswatch *w, sourceswatch_node_fn fn, void *arg);

/* The usual push hook: ingest_set_extra on the struct ingest `in` (logged
 * when it fails). */
int sourceswatch_add_ingest(struct sourceswatch *w, uint32_t ep, struct ingest *in);

/* Loads the file once (synchronously, so the first pushes already get the
 * labels), applies it, and polls every SOURCESWATCH_POLL_MS on base when
 * base is not NULL (tests call sourceswatch_poll themselves). Returns 0 or
 * -ENOMEM; a bad file is logged, not an error. */
int sourceswatch_start(struct sourceswatch *w, struct event_base *base);

/* Checks the file once: returns 1 when a new document was loaded and
 * applied, 0 when nothing changed, or the -errno of a failed load (logged
 * once per file version; the last good state stays). */
int sourceswatch_poll(struct sourceswatch *w);

/* Stops the timer and frees; accepts a zeroed struct. */
void sourceswatch_fini(struct sourceswatch *w);

#endif
