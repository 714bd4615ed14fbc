/* mcs-collector: push receivers and self collection; writes samples to the
 * sample rings "c<i>-a<j>", one per aggregator j, routed by series id mod M.
 *
 * One thread, one libevent loop. A push is parsed whole, then committed to
 * the rings (bounded wait), then acknowledged. On SIGTERM it stops
 * accepting, publishes what it committed and exits 0.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

/* Receivers and sources: one include, one field, one init and one fini
 * each (keep the four lists in the same order). */
#include "collector/push.h"
#include "collector/influx.h"
#include "collector/otlp.h"
#include "collector/router.h"
#include "collector/rwrite.h"
#include "collector/scrape.h"
#include "collector/selfscrape.h"
#include "collector/sourceswatch.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/stage.h"

struct collector {
	struct stage st;
	struct ring rings[ROUTER_MAX_AGGREGATORS];
	struct router router;
	struct push push;         /* /api/v1/import/prometheus */
	struct ingest selfin;     /* own counters and node metrics: no source labels */
	struct influx influx;     /* /write, /api/v2/write (Influx line protocol) */
	struct rwrite rwrite;     /* /api/v1/write (Prometheus remote write 1.0) */
	struct otlp otlp;         /* /v1/metrics (OTLP/HTTP, protobuf and JSON) */
	struct scrape scrape;     /* scrape targets of cfg.scrape_config_file (this collector's share) */
	struct sourceswatch sources; /* <data_dir>/sources.json: push static labels, scrape jobs */
	struct event_base *base;
	struct evhttp *http;
	struct event *tick;
	struct event *selfscrape;   /* own counters and node metrics timer */
};

static void collector_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	(void)fd;
	(void)what;
	stage_beat(&c->st);
	for (uint32_t j = 0; j < c->router.naggr; j++)
		ring_heartbeat(&c->rings[j]);
	if (stage_stop_requested || atomic_load(&c->st.ctl.hdr->shutdown))
		event_base_loopbreak(c->base);
}

/* The sources API's scrape jobs, handed to the scraper. */
static void collector_on_scrape_sources(void *arg, const char *const *jobs, size_t n)
{
	scrape_set_sources(arg, jobs, n);
}

static void collector_on_scrape(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	(void)fd;
	(void)what;
	selfscrape_run(&c->selfin);
}

int main(int argc, char **argv)
{
	static struct collector c;
	char err[512], name[64];
	stage_init(&c.st, CTL_COLLECTOR, argc, argv);
	uint32_t m = c.st.ctl.hdr->n_stage[CTL_AGGREGATOR];
	if (m == 0 || m > ROUTER_MAX_AGGREGATORS) {
		log_error("%u aggregators: must be 1..%d", m, ROUTER_MAX_AGGREGATORS);
		return STAGE_EXIT_FATAL;
	}
	for (uint32_t j = 0; j < m; j++) {
		ctl_ring_sample(name, sizeof(name), c.st.index, j);
		if (stage_ring_open(&c.st, &c.rings[j], name, RING_ROLE_PRODUCER) != 0)
			return 1;
	}
	c.router.rings = c.rings;
	c.router.naggr = m;

	c.base = event_base_new();
	c.http = c.base ? evhttp_new(c.base) : NULL;
	if (!c.http) {
		log_error("event_base_new/evhttp_new failed");
		return 1;
	}
	ingest_init(&c.selfin, &c.st, &c.router);
	if (push_init(&c.push, &c.st, &c.router, c.http) != 0) {
		log_error("push_init failed");
		return 1;
	}
	if (influx_init(&c.influx, &c.st, &c.router, c.http) != 0) {
		log_error("influx_init failed");
		return 1;
	}
	if (rwrite_init(&c.rwrite, &c.st, &c.router, c.http) != 0) {
		log_error("rwrite_init failed");
		return 1;
	}
	if (scrape_init(&c.scrape, &c.st, &c.router, c.base) != 0) {
		log_error("scrape_init failed");
		return 1;
	}
	if (otlp_init(&c.otlp, &c.st, &c.router, c.http) != 0) {
		log_error("otlp_init failed");
		return 1;
	}
	/* more receivers: init here */
	/* Sources last: every receiver's static-label hook is registered
	 * before the first load, so the first pushes already get the labels. */
	if (sourceswatch_init(&c.sources, c.st.cfg.data_dir) != 0 ||
	    sourceswatch_add_ingest(&c.sources, SOURCES_EP_PROMETHEUS, &c.push.in) != 0 ||
	    sourceswatch_add_ingest(&c.sources, SOURCES_EP_INFLUX, &c.influx.in) != 0 ||
	    sourceswatch_add_ingest(&c.sources, SOURCES_EP_REMOTE_WRITE, &c.rwrite.in) != 0 ||
	    sourceswatch_add_ingest(&c.sources, SOURCES_EP_OTLP, &c.otlp.in) != 0 ||
	    sourceswatch_on_scrape(&c.sources, collector_on_scrape_sources, &c.scrape) != 0 ||
	    sourceswatch_start(&c.sources, c.base) != 0) {
		log_error("sourceswatch_init/start failed (data_dir %s)", c.st.cfg.data_dir);
		return 1;
	}
	if (httpd_listen(c.http, c.st.cfg.push_listen, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1; /* the port may be in TIME_WAIT or taken: retry via the launcher */
	}
	struct timeval tv = {0, 200000};
	c.tick = event_new(c.base, -1, EV_PERSIST, collector_on_tick, &c);
	event_add(c.tick, &tv);
	if (c.st.index == 0 && (c.st.cfg.self_scrape || c.st.cfg.node_metrics)) {
		struct timeval iv = {c.st.cfg.scrape_interval_ms / 1000, (c.st.cfg.scrape_interval_ms % 1000) * 1000};
		struct timeval first = {1, 0};
		c.selfscrape = event_new(c.base, -1, EV_PERSIST, collector_on_scrape, &c);
		event_add(c.selfscrape, &iv);
		event_base_once(c.base, -1, EV_TIMEOUT, collector_on_scrape, &c, &first);
	}
	stage_set_ready(&c.st, 1);
	log_info("accepting pushes on %s, %u aggregator ring(s)", c.st.cfg.push_listen, m);
	event_base_dispatch(c.base);

	log_info("stopping: no longer accepting pushes");
	stage_set_ready(&c.st, 0);
	evhttp_free(c.http);
	for (uint32_t j = 0; j < m; j++) {
		ring_publish(&c.rings[j]);
		ring_detach(&c.rings[j]);
	}
	if (c.selfscrape)
		event_free(c.selfscrape);
	event_free(c.tick);
	/* more receivers: fini here */
	otlp_fini(&c.otlp);
	scrape_fini(&c.scrape);
	sourceswatch_fini(&c.sources);
	rwrite_fini(&c.rwrite);
	influx_fini(&c.influx);
	push_fini(&c.push);
	ingest_fini(&c.selfin);
	event_base_free(c.base);
	stage_fini(&c.st);
	return 0;
}
