/* mcs-apiserver: the HTTP API process (one of A, sharing the port with
 * SO_REUSEPORT).
 *
 *   mcs-apiserver [--config FILE] [--index P]
 *
 * Opens its query rings to every aggregator and their reply rings, serves
 * the Prometheus HTTP API and the service's own endpoints with libevent's
 * evhttp, and heartbeats from a 200 ms timer (and from inside long queries,
 * see fanout.c). SIGTERM/SIGINT: stop accepting, finish, exit 0.
 *
 * Not here: the endpoints (api.c) and everything they use.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/alertsapi.h"
#include "apiserver/api.h"
#include "apiserver/fanout.h"
#include "apiserver/selfmetrics.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/stage.h"

#define MAIN_TICK_MS 200

struct main_ctx {
	struct stage *st;
	struct event_base *base;
};

/* Timer: heartbeat, and leave the loop once a stop was asked for. */
static void main_tick(evutil_socket_t fd, short what, void *arg)
{
	struct main_ctx *m = arg;
	(void)fd;
	(void)what;
	stage_beat(m->st);
	if (stage_stop_requested)
		event_base_loopbreak(m->base);
}

int main(int argc, char **argv)
{
	static struct stage st;
	static struct fanout fo;
	static struct selfmetrics sm;
	static struct alertsapi al;
	static struct api api;
	struct event_base *base = NULL;
	struct evhttp *http = NULL;
	struct event *tick = NULL;
	char err[256];
	int rc, code = STAGE_EXIT_FATAL;

	stage_init(&st, CTL_APISERVER, argc, argv);
	rc = fanout_init(&fo, &st);
	if (rc != 0) {
		log_error("fanout_init failed: %s", strerror(-rc));
		code = 1;
		goto out;
	}
	int64_t up_age = st.cfg.hang_timeout_ms > 0 ? st.cfg.hang_timeout_ms : 15000;
	if (selfmetrics_init(&sm, &st.ctl, st.cfg.instance, up_age) != 0 ||
	    alertsapi_init(&al, st.cfg.instance, st.ctl.hdr->n_stage[CTL_ALERTER]) != 0) {
		log_error("out of memory while starting");
		code = 1;
		goto out;
	}
	api_init(&api, &st, &fo, &sm, &al);

	base = event_base_new();
	http = base ? evhttp_new(base) : NULL;
	if (!base || !http) {
		log_error("event_base_new/evhttp_new failed");
		code = 1;
		goto out;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_body_size(http, 16 << 20);
	evhttp_set_timeout(http, 300);
	evhttp_set_gencb(http, api_handle, &api);
	rc = httpd_listen(http, st.cfg.api_listen, err, sizeof(err));
	if (rc != 0) {
		log_error("%s", err);
		code = rc == -EINVAL ? STAGE_EXIT_FATAL : 1;
		goto out;
	}
	struct main_ctx mc = {&st, base};
	tick = event_new(base, -1, EV_PERSIST, main_tick, &mc);
	struct timeval tv = {0, MAIN_TICK_MS * 1000};
	if (!tick || event_add(tick, &tv) != 0) {
		log_error("event_new/event_add for the heartbeat timer failed");
		code = 1;
		goto out;
	}
	stage_set_ready(&st, 1);
	log_info("serving on %s (%u aggregators, %u alerters)", st.cfg.api_listen, fo.m, al.k);
	if (!stage_stop_requested)
		event_base_dispatch(base);
	log_info("stopping");
	stage_set_ready(&st, 0);
	code = 0;
out:
	if (tick)
		event_free(tick);
	if (http)
		evhttp_free(http);
	if (base)
		event_base_free(base);
	api_fini(&api);
	alertsapi_fini(&al);
	selfmetrics_fini(&sm);
	fanout_fini(&fo);
	stage_fini(&st);
	return code;
}
