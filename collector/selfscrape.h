/* selfscrape: what the collector gathers by itself, with no target
 * configured, so that a fresh `make run` shows real data within seconds:
 *  - node metrics from /proc (CPU, memory, load, context switches, ...),
 *    named and labelled as prometheus-node-exporter names them, with
 *    job="node", instance=<hostname>;
 *  - the service's own stage counters from the control block, job="mcs".
 * It renders Prometheus text and feeds it through the same import path as a
 * push (push_ingest_text), so it is parsed, routed and counted identically.
 * Only collector 0 runs it. The collection issue grows this into the agent.
 */
#ifndef MCS_SELFSCRAPE_H
#define MCS_SELFSCRAPE_H

#include <stddef.h>

#include "collector/push.h"

struct selfscrape_buf {
	char *p;
	size_t len, cap;
};

/* Renders node metrics from the files under `proc_root` (normally "/proc")
 * into b. Returns 0 or -errno of the first file that could not be read. */
int selfscrape_node(struct selfscrape_buf *b, const char *proc_root, const char *instance);

/* Renders the counters of every stage in the control block into b. */
void selfscrape_stages(struct selfscrape_buf *b, struct ctl *ctl);

/* One collection round: renders both and ingests them with timestamp now.
 * Returns 0 or the ingest error (logged, counted; never fatal). */
int selfscrape_run(struct push *p);

void selfscrape_buf_free(struct selfscrape_buf *b);

#endif
