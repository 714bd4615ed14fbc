/* collector_fixture.h: the collector stage fixture shared by the collector
 * unit tests (test_collector_push, _rwrite, _otlp, _influx). Header only,
 * every function static inline (unused ones draw no warning); not a test binary itself.
 *
 * The stage is assembled by hand (no argv, no signals): the config from
 * config_load_string under a unique instance name, a control block via
 * ctl_create, `nring` sample rings opened with stage_ring_open as producers
 * (the router writes to them) and attached again as consumers (the test
 * reads them back), an event_base and an evhttp. cfx_teardown unlinks every
 * segment. The receiver under test is set up on top (x->st, x->router,
 * x->http) and finished by the test before cfx_teardown.
 */
#ifndef MCS_TESTS_COLLECTOR_FIXTURE_H
#define MCS_TESTS_COLLECTOR_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/router.h"
#include "common/records.h"
#include "common/series.h"
#include "common/stage.h"

#define CFX_MAXRING 4

/* One decoded sample. */
struct cfx_got {
	char text[512];   /* series_key_format of the key */
	int64_t ts;
	double value;
	uint64_t bits;    /* the value's bits, copied from the record */
};

struct cfx {
	struct stage st;
	int nring;
	char names[CFX_MAXRING][SEGMENT_NAME_MAX];
	struct ring p[CFX_MAXRING], c[CFX_MAXRING];
	struct router router;
	struct event_base *base;
	struct evhttp *http;
	int port;          /* 0 until cfx_http first binds */
	/* last HTTP answer */
	int code;
	char body[2048];
	size_t body_len;
	char ctype[128];
	char retry_after[32];
};

/* Builds the stage. The config is
 *   {"instance":"<prefix><pid>-<n>","aggregators":<nring>,<extra_json>}
 * where extra_json (NULL for none) holds more members, e.g.
 *   "rings":{"sample_bytes":1048576,"push_wait":"50ms"}
 * `counter` is the caller's per-process counter that makes the name unique.
 * Returns 0, or -1 (what was built stays for cfx_teardown). */
static inline int cfx_setup(struct cfx *x, const char *prefix, int *counter, int nring, const char *extra_json)
{
	char json[512], err[256], shortn[32];
	if (nring < 1 || nring > CFX_MAXRING)
		return -1;
	x->nring = nring;
	snprintf(json, sizeof(json), "{\"instance\":\"%s%d-%d\",\"aggregators\":%d%s%s}",
		 prefix, (int)getpid(), (*counter)++, nring, extra_json ? "," : "", extra_json ? extra_json : "");
	if (config_load_string(&x->st.cfg, json, "test", err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	struct ctl_shape shape = {
		.n_stage = {x->st.cfg.collectors, x->st.cfg.aggregators, x->st.cfg.alerters, x->st.cfg.apiservers},
		.sample_ring_bytes = x->st.cfg.sample_ring_bytes,
		.alert_ring_bytes = x->st.cfg.alert_ring_bytes,
		.query_ring_bytes = x->st.cfg.query_ring_bytes,
	};
	ctl_unlink(x->st.cfg.instance);
	if (ctl_create(&x->st.ctl, x->st.cfg.instance, &shape) != 0)
		return -1;
	x->st.kind = CTL_COLLECTOR;
	x->st.slot = ctl_slot(&x->st.ctl, CTL_COLLECTOR, 0);
	for (int j = 0; j < nring; j++) {
		ctl_ring_sample(shortn, sizeof(shortn), 0, (uint32_t)j);
		ctl_ring_shm_name(x->names[j], SEGMENT_NAME_MAX, x->st.cfg.instance, shortn);
		segment_unlink(x->names[j]);
		if (stage_ring_open(&x->st, &x->p[j], shortn, RING_ROLE_PRODUCER) != 0)
			return -1;
		if (ring_attach(&x->c[j], x->names[j], RING_ROLE_CONSUMER) != 0)
			return -1;
	}
	x->router.rings = x->p;
	x->router.naggr = (uint32_t)nring;
	x->base = event_base_new();
	x->http = x->base ? evhttp_new(x->base) : NULL;
	if (!x->http)
		return -1;
	return 0;
}

/* Frees what cfx_setup built and unlinks every segment. */
static inline void cfx_teardown(struct cfx *x)
{
	if (x->http)
		evhttp_free(x->http);
	if (x->base)
		event_base_free(x->base);
	for (int j = 0; j < x->nring; j++) {
		ring_detach(&x->p[j]);
		ring_detach(&x->c[j]);
		segment_unlink(x->names[j]);
	}
	ctl_detach(&x->st.ctl);
	ctl_unlink(x->st.cfg.instance);
	config_free(&x->st.cfg);
}

enum {
	CFX_RESET = 1,      /* empty the list first (else append) */
	CFX_ROUTE = 2,      /* assert each sample sits in ring id % nring */
	CFX_KEEP_FIRST = 4, /* keep the first `cap`, count the rest (else assert it fits) */
};

/* Reads every published sample of every consumer ring into got[] (capacity
 * cap; *n is the count so far). vsum, when not NULL, gets every value added.
 * Returns how many samples this call read. */
static inline size_t cfx_drain(struct cfx *x, struct cfx_got *got, size_t cap, size_t *n, double *vsum, unsigned flags)
{
	if (flags & CFX_RESET)
		*n = 0;
	size_t before = *n;
	for (int j = 0; j < x->nring; j++) {
		struct ring_rec rec;
		while (ring_next(&x->c[j], &rec) == 1) {
			struct rec_samples_iter it;
			struct rec_sample s;
			assert_int_equal(rec.type, REC_SAMPLES);
			assert_int_equal(rec_samples_iter_init(&it, rec.data, rec.len), 0);
			while (rec_samples_next(&it, &s) == 1) {
				if (flags & CFX_ROUTE)
					assert_true(s.id % (uint64_t)x->nring == (uint64_t)j);
				if (vsum)
					*vsum += s.value;
				if (!(flags & CFX_KEEP_FIRST))
					assert_true(*n < cap);
				if (*n < cap) {
					struct cfx_got *g = &got[*n];
					series_key_format(s.key, s.key_len, g->text, sizeof(g->text));
					g->ts = s.ts_ms;
					g->value = s.value;
					memcpy(&g->bits, &s.value, 8);
				}
				(*n)++;
			}
		}
		ring_release(&x->c[j]);
	}
	return *n - before;
}

/* Consumes every published record without looking at it. */
static inline void cfx_discard(struct cfx *x)
{
	for (int j = 0; j < x->nring; j++) {
		struct ring_rec rec;
		while (ring_next(&x->c[j], &rec) == 1)
			;
		ring_release(&x->c[j]);
	}
}

/* ---- HTTP over loopback ---- */

static inline void cfx_on_reply(struct evhttp_request *req, void *arg)
{
	struct cfx *x = arg;
	x->code = req ? evhttp_request_get_response_code(req) : -1;
	x->body_len = 0;
	x->ctype[0] = x->retry_after[0] = '\0';
	if (req) {
		struct evbuffer *b = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(b);
		if (n >= sizeof(x->body))
			n = sizeof(x->body) - 1;
		evbuffer_remove(b, x->body, n);
		x->body_len = n;
		const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
		snprintf(x->ctype, sizeof(x->ctype), "%s", h ? h : "");
		h = evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After");
		snprintf(x->retry_after, sizeof(x->retry_after), "%s", h ? h : "");
	}
	x->body[x->body_len] = '\0';
	event_base_loopbreak(x->base);
}

static inline int cfx_http_listen(struct cfx *x)
{
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(x->http, "127.0.0.1", 0);
	if (!bs)
		return -1;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	x->port = ntohs(sa.sin_port);
	return 0;
}

/* Sends one request to uri over loopback (binding x->http on first use) and
 * runs the loop until the answer, kept in x->code, body, ctype and
 * retry_after. hdrs: name, value pairs after Host, ended by a NULL name; a
 * NULL value leaves its header out. Returns the status. */
static inline int cfx_http(struct cfx *x, enum evhttp_cmd_type cmd, const char *uri, const char *const *hdrs,
		    const void *body, size_t len)
{
	if (!x->port)
		assert_int_equal(cfx_http_listen(x), 0);
	struct evhttp_connection *conn = evhttp_connection_base_new(x->base, NULL, "127.0.0.1", (unsigned short)x->port);
	assert_non_null(conn);
	evhttp_connection_set_timeout(conn, 5);
	struct evhttp_request *req = evhttp_request_new(cfx_on_reply, x);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", "127.0.0.1");
	for (size_t i = 0; hdrs && hdrs[i]; i += 2)
		if (hdrs[i + 1])
			evhttp_add_header(h, hdrs[i], hdrs[i + 1]);
	if (len)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	x->code = 0;
	assert_int_equal(evhttp_make_request(conn, req, cmd, uri), 0);
	event_base_dispatch(x->base);
	evhttp_connection_free(conn);
	return x->code;
}

#endif
