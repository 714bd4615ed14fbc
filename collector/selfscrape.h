/* selfscrape: what the collector gathers by itself, with no target
 * configured, so that a fresh `make run` shows real data within seconds:
 *  - node metrics from /proc and /sys, rendered by the node agent
 *    (collector/nodeagent.h) with node_exporter's names and labels, plus
 *    job="node", instance=<hostname>;
 *  - the service's own stage counters from the control block, job="mcs".
 * It renders Prometheus text and feeds it through the same import path as a
 * push (push_ingest_text), so it is parsed, routed and counted identically.
 * Only collector 0 runs it.
 */
#ifndef MCS_SELFSCRAPE_H
#define MCS_SELFSCRAPE_H

#include <stddef.h>

#include "collector/nodeagent.h"
#include "collector/push.h"

/* Renders the counters of every stage in the control block into b. */
void selfscrape_stages(struct nodeagent_buf *b, struct ctl *ctl);

/* One collection round: renders node metrics (when cfg.node_metrics) and
 * stage counters (when cfg.self_scrape) and ingests them with timestamp now.
 * Returns 0 or the ingest error (logged, counted; never fatal). */
int selfscrape_run(struct ingest *in);

#endif
