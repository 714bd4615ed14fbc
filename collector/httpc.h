/* httpc: an HTTP/1.1 GET client on io_uring for scraping thousands of
 * targets from one thread.
 *
 * One struct httpc owns one io_uring. Every request (struct httpc_req, one
 * per scrape target, reused scrape after scrape) runs a small state
 * machine: CONNECT (only when it has no open connection), SEND, RECV...,
 * each submitted with a linked IORING_OP_LINK_TIMEOUT that expires at the
 * request's overall deadline. Connections are kept alive between requests;
 * a kept connection the server closed meanwhile is detected on reuse and
 * the request retried once on a fresh one. Bodies come with Content-Length,
 * chunked, or delimited by the end of the connection, and may be gzip
 * (inflated with zlib). The body limit applies to the raw and the inflated
 * body.
 *
 * The ring's completions are signalled on an eventfd registered in a
 * libevent event_base, so the collector's single thread serves pushes and
 * scrapes alike; tests without libevent drive it with httpc_run.
 *
 * Not here: what the body means (scrape.c), scheduling, TLS (http only).
 */
#ifndef MCS_HTTPC_H
#define MCS_HTTPC_H

#include <liburing.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct event;

/* The Accept header Prometheus sends: OpenMetrics preferred over text 0.0.4. */
#define HTTPC_ACCEPT_PROMETHEUS \
	"application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
#define HTTPC_MAX_HEAD   (64u * 1024u)  /* response status line + headers, bytes */
#define HTTPC_ERR_MAX    192u

struct httpc_req;

/* Called once per httpc_req_start, when the request ended. rc is 0 (a
 * response arrived: see r->status, r->body) or -errno: -ETIMEDOUT (the
 * deadline passed), -ECONNREFUSED and other socket errors, -EFBIG (body over
 * the limit), -EPROTO (not HTTP), -EINVAL (bad chunking or gzip). r->err
 * then says what failed in words. The callback may start the request again
 * or free it. */
typedef void (*httpc_done_fn)(struct httpc_req *r, int rc, void *arg);

/* Counters: written by the owning thread only. */
struct httpc_stats {
	uint64_t requests;       /* requests started */
	uint64_t failures;       /* requests that ended with rc != 0 */
	uint64_t connects;       /* connections opened */
	uint64_t reuses;         /* requests sent on a kept-alive connection */
	uint64_t retries;        /* requests retried after a stale kept connection */
	uint64_t bytes_in;       /* raw bytes received */
};

struct httpc {
	struct io_uring ring;
	int ring_ok;             /* ring initialised */
	int efd;                 /* completion eventfd, -1 when none */
	struct event *ev;        /* efd's read event in the caller's base */
	uint8_t *scratch;        /* inflated bodies; valid during a done callback */
	size_t scratch_cap;
	uint32_t live;           /* requests allocated (orphans included) */
	struct httpc_stats stats;
};

/* Options of a request, copied by httpc_req_new. */
struct httpc_opts {
	const char *accept;        /* Accept header; NULL: HTTPC_ACCEPT_PROMETHEUS */
	const char *authorization; /* full Authorization value ("Bearer x"), NULL for none */
	const char *basic_user;    /* basic auth, used when authorization is NULL */
	const char *basic_pass;
	int gzip;                  /* send Accept-Encoding: gzip */
	size_t body_limit;         /* bytes of body (raw and inflated); 0: 256 MiB */
	int64_t timeout_hint_ms;   /* X-Prometheus-Scrape-Timeout-Seconds; 0: omit */
};

/* One request: owned by httpc (allocated by httpc_req_new, released by
 * httpc_req_free); the caller reads the result fields in its callback. */
struct httpc_req {
	struct httpc *h;
	struct sockaddr_storage addr;   /* resolved once, at httpc_req_new */
	socklen_t addrlen;
	char *head;                     /* the request bytes (owned) */
	size_t head_len;
	size_t body_limit;
	httpc_done_fn done;
	void *arg;

	/* connection and operation state (owner thread) */
	int fd;                         /* connection, -1 when none */
	int busy;                       /* a request is running */
	int orphan;                     /* freed by the owner while ops were in flight */
	int reused;                     /* this attempt runs on a kept connection */
	int retried;
	uint32_t inflight;              /* CQEs still to come (ops, timeouts, cancels) */
	uint8_t op;                     /* current operation (httpc.c) */
	uint64_t deadline_ns;           /* CLOCK_MONOTONIC */
	size_t sent;
	struct __kernel_timespec ts;    /* the current link timeout */

	/* response buffer and parse state */
	uint8_t *buf;
	size_t len, cap;
	size_t hdr_len;                 /* bytes of status line + headers, 0 until complete */
	int64_t content_length;         /* -1 when absent */
	int chunked, gzip, conn_close;
	int cstate;                     /* chunk decoder state */
	uint64_t chunk_left;
	size_t parse_pos, body_end;     /* chunk decoder: next raw byte, end of decoded body */

	/* result, valid in the done callback */
	int status;                     /* HTTP status code */
	char content_type[128];
	const uint8_t *body;
	size_t body_len;
	char err[HTTPC_ERR_MAX];
};

/* Sets up a ring of `entries` submission slots and, when base is not NULL,
 * registers its completion eventfd there. Returns 0 or -errno (logged). The
 * caller owns *h; httpc_fini tears it down. */
int httpc_init(struct httpc *h, unsigned entries, struct event_base *base);

/* Closes the ring, the eventfd and every connection. Requests still
 * allocated are leaked to the kernel's teardown: free them first. */
void httpc_fini(struct httpc *h);

/* Allocates a request to http://host:port<path_query>, resolving host once
 * (numeric addresses without a lookup; "[v6]" accepted). Returns 0 with *out
 * set, -EINVAL (bad host, lookup failed: message in err), -ENOMEM. */
int httpc_req_new(struct httpc *h, const char *host, int port, const char *path_query,
		  const struct httpc_opts *o, httpc_done_fn done, void *arg,
		  struct httpc_req **out, char *err, size_t errlen);

/* Starts the request with an overall timeout. Returns 0 (done will be
 * called), -EBUSY when it is still running, or -errno when nothing could
 * be submitted (done is not called). */
int httpc_req_start(struct httpc_req *r, int64_t timeout_ms);

/* Releases a request: closes its connection and frees it, at once when no
 * operation is in flight, else after the kernel has answered the cancel
 * (done is not called any more). Accepts NULL. */
void httpc_req_free(struct httpc_req *r);

/* Handles every completion waiting and submits what that queued. Returns
 * the number of completions handled. */
unsigned httpc_poll(struct httpc *h);

/* For tests and tools without an event loop: waits up to timeout_ms for a
 * completion, then polls. Returns completions handled, 0 on timeout. */
unsigned httpc_run(struct httpc *h, int timeout_ms);

#endif
