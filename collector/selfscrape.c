/* selfscrape: see selfscrape.h. */
#include "collector/selfscrape.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/nodeagent.h"
#include "common/log.h"
#include "shm/segment.h"


void selfscrape_stages(struct nodeagent_buf *b, struct ctl *ctl)
{
	struct ctl_header *h = ctl->hdr;
	for (int c = 0; c < CTL_C_COUNT; c++) {
		const char *name = ctl_counter_name((enum ctl_counter)c);
		nodeagent_buf_printf(b, "# TYPE mcs_%s %s\n", name, ctl_counter_is_gauge((enum ctl_counter)c) ? "gauge" : "counter");
		for (uint32_t s = 0; s < h->nslots; s++) {
			const struct ctl_slot *sl = &h->slots[s];
			nodeagent_buf_printf(b, "mcs_%s{job=\"mcs\",instance=\"%s\",stage=\"%s\",index=\"%u\"} %llu\n", name,
					  h->instance, ctl_stage_name((enum ctl_stage)sl->stage), sl->index,
					  (unsigned long long)atomic_load_explicit(&sl->counters[c], memory_order_relaxed));
		}
	}
	nodeagent_buf_printf(b, "# TYPE mcs_stage_restarts_total counter\n");
	for (uint32_t s = 0; s < h->nslots; s++) {
		const struct ctl_slot *sl = &h->slots[s];
		nodeagent_buf_printf(b, "mcs_stage_restarts_total{job=\"mcs\",instance=\"%s\",stage=\"%s\",index=\"%u\"} %llu\n",
				  h->instance, ctl_stage_name((enum ctl_stage)sl->stage), sl->index,
				  (unsigned long long)atomic_load(&sl->restarts));
	}
}

/* The node agent of this process: set up on the first round that wants
 * node metrics and kept (its regexes are compiled once). Only collector 0
 * runs rounds, from its one event-loop thread. */
static struct nodeagent selfscrape_agent;
static int selfscrape_agent_ready;

/* Renders node metrics from /proc and /sys into b, labelled job="node",
 * instance=<hostname>. Returns 0, or the node agent's error (what could
 * be read is still in b unless it is -ENOMEM). */
static int selfscrape_node(struct nodeagent_buf *b)
{
	if (!selfscrape_agent_ready) {
		char host[256] = "localhost", labels[320];
		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		for (char *c = host; *c; c++)
			if (*c == '"' || *c == '\\' || *c == '\n')
				*c = '_'; /* labels are passed pre-escaped */
		snprintf(labels, sizeof(labels), "job=\"node\",instance=\"%s\"", host);
		struct nodeagent_config cfg = {.proc_root = "/proc", .sys_root = "/sys", .labels = labels};
		int rc = nodeagent_init(&selfscrape_agent, &cfg);
		if (rc)
			return rc;
		selfscrape_agent_ready = 1;
	}
	return nodeagent_render(&selfscrape_agent, b); /* appends to b */
}

int selfscrape_run(struct ingest *in)
{
	struct nodeagent_buf b = {0};
	if (in->st->cfg.node_metrics) {
		int rc = selfscrape_node(&b);
		if (rc)
			log_warn("node metrics: %s (what could be read is still collected)", strerror(-rc));
	}
	if (in->st->cfg.self_scrape)
		selfscrape_stages(&b, &in->st->ctl);
	if (!b.len) {
		nodeagent_buf_free(&b);
		return 0;
	}
	struct textparse_error err;
	int rc = push_ingest_text(in, b.p, b.len, TEXTPARSE_PROM, segment_now_real_ms(), 200, &err);
	if (rc == -EINVAL)
		log_error("self collection produced a bad body: line %u: %s", err.line, err.msg);
	else if (rc)
		log_warn("self collection dropped: %s", strerror(-rc));
	ctl_add(in->st->slot, CTL_C_SCRAPES, 1);
	nodeagent_buf_free(&b);
	return rc;
}
