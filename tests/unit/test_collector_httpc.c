/* Unit tests of collector/httpc.c against a tiny HTTP server on loopback
 * in a thread: Content-Length, chunked and gzip bodies, keep-alive reuse,
 * a stale kept connection, timeout, connection refused, the body limit,
 * and the request headers (Accept, Accept-Encoding, basic auth).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "collector/httpc.h"

/* ---- the test server ---- */

struct srv {
	int lfd;
	int port;
	pthread_t th;
	volatile int stop;
	volatile int accepts;
	char last_head[4096];
	pthread_mutex_t mu;
};

static struct srv g_srv;

static void srv_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static size_t srv_gzip(const char *in, size_t n, unsigned char *out, size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	deflate(&z, Z_FINISH);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	return len;
}

/* Serves requests on one connection until the peer closes. */
static void *srv_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[8192];
	size_t len = 0;
	for (;;) {
		char *end;
		while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
			ssize_t r = read(fd, buf + len, sizeof(buf) - len - 1);
			if (r <= 0)
				goto out;
			len += (size_t)r;
		}
		size_t hl = (size_t)(end - buf) + 4;
		pthread_mutex_lock(&g_srv.mu);
		memcpy(g_srv.last_head, buf, hl);
		g_srv.last_head[hl] = '\0';
		pthread_mutex_unlock(&g_srv.mu);
		char path[256] = "";
		sscanf(buf, "GET %255s", path);
		memmove(buf, buf + hl, len - hl);
		len -= hl;
		char out[65536];
		if (strcmp(path, "/cl") == 0) {
			const char *r = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 12\r\n\r\nmetric_a 1\n\n";
			srv_write_all(fd, r, strlen(r));
		} else if (strcmp(path, "/chunked") == 0) {
			const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/openmetrics-text; version=1.0.0\r\n\r\n";
			srv_write_all(fd, h, strlen(h));
			srv_write_all(fd, "5\r\nhello\r\n", 10);
			usleep(20000);
			srv_write_all(fd, "7;ext=1\r\n", 9);
			usleep(20000);
			srv_write_all(fd, " world!\r\n", 9);
			srv_write_all(fd, "0\r\nX-Trailer: 1\r\n\r\n", 20);
		} else if (strcmp(path, "/gzip") == 0) {
			char body[20000];
			size_t bl = 0;
			for (int i = 0; i < 1000; i++)
				bl += (size_t)sprintf(body + bl, "m{i=\"%d\"} %d\n", i, i);
			unsigned char z[32768];
			size_t zl = srv_gzip(body, bl, z, sizeof(z));
			int n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", zl);
			srv_write_all(fd, out, (size_t)n);
			srv_write_all(fd, z, zl);
		} else if (strcmp(path, "/slow") == 0) {
			usleep(1500000);
			const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
			srv_write_all(fd, r, strlen(r));
		} else if (strcmp(path, "/big") == 0) {
			int n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
			memset(out + n, 'x', 5000);
			srv_write_all(fd, out, (size_t)n + 5000);
		} else if (strcmp(path, "/bigchunked") == 0) {
			const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
			srv_write_all(fd, h, strlen(h));
			memset(out, 'y', 4000);
			for (int i = 0; i < 3; i++) {
				srv_write_all(fd, "fa0\r\n", 5);
				srv_write_all(fd, out, 4000);
				srv_write_all(fd, "\r\n", 2);
			}
			srv_write_all(fd, "0\r\n\r\n", 5);
		} else if (strcmp(path, "/eof") == 0) {
			const char *r = "HTTP/1.0 200 OK\r\n\r\nuntil the end";
			srv_write_all(fd, r, strlen(r));
			goto out;
		} else if (strcmp(path, "/closeafter") == 0) {
			/* Keep-alive response, then the server drops the connection
			 * anyway: the next request on it must be retried. */
			const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
			srv_write_all(fd, r, strlen(r));
			usleep(50000);
			goto out;
		} else {
			const char *r = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
			srv_write_all(fd, r, strlen(r));
		}
	}
out:
	close(fd);
	return NULL;
}

static void *srv_main(void *arg)
{
	(void)arg;
	while (!g_srv.stop) {
		struct pollfd p = {g_srv.lfd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(g_srv.lfd, NULL, NULL);
		if (fd < 0)
			continue;
		__atomic_add_fetch(&g_srv.accepts, 1, __ATOMIC_SEQ_CST);
		pthread_t t;
		pthread_create(&t, NULL, srv_conn, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
	return NULL;
}

static int listen_any(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	listen(fd, 64);
	getsockname(fd, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return fd;
}

static int setup(void **state)
{
	(void)state;
	memset(&g_srv, 0, sizeof(g_srv));
	pthread_mutex_init(&g_srv.mu, NULL);
	g_srv.lfd = listen_any(&g_srv.port);
	pthread_create(&g_srv.th, NULL, srv_main, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	g_srv.stop = 1;
	pthread_join(g_srv.th, NULL);
	close(g_srv.lfd);
	return 0;
}

/* ---- the client side ---- */

struct result {
	int done, rc, status;
	char body[70000];
	size_t len;
	char ctype[128];
	char err[HTTPC_ERR_MAX];
};

static void on_done(struct httpc_req *r, int rc, void *arg)
{
	struct result *res = arg;
	res->done = 1;
	res->rc = rc;
	res->status = r->status;
	res->len = r->body_len < sizeof(res->body) ? r->body_len : 0;
	if (res->len)
		memcpy(res->body, r->body, res->len);
	res->body[res->len] = '\0';
	snprintf(res->ctype, sizeof(res->ctype), "%s", r->content_type);
	snprintf(res->err, sizeof(res->err), "%s", r->err);
}

/* Runs one request to completion (bounded). */
static void run(struct httpc *h, struct httpc_req *r, struct result *res, int64_t timeout_ms)
{
	memset(res, 0, sizeof(*res));
	assert_int_equal(httpc_req_start(r, timeout_ms), 0);
	for (int i = 0; i < 500 && !res->done; i++)
		httpc_run(h, 20);
	assert_true(res->done);
}

static struct httpc_req *mkreq(struct httpc *h, const char *path, const struct httpc_opts *o, struct result *res)
{
	struct httpc_req *r = NULL;
	char err[256];
	assert_int_equal(httpc_req_new(h, "127.0.0.1", g_srv.port, path, o, on_done, res, &r, err, sizeof(err)), 0);
	return r;
}

static struct result g_res;

static void content_length_body_and_keepalive_reuse(void **state)
{
	(void)state;
	struct httpc h;
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/cl", NULL, &g_res);
	int before = g_srv.accepts;
	for (int i = 0; i < 3; i++) {
		run(&h, r, &g_res, 2000);
		assert_int_equal(g_res.rc, 0);
		assert_int_equal(g_res.status, 200);
		assert_string_equal(g_res.body, "metric_a 1\n\n");
		assert_string_equal(g_res.ctype, "text/plain; version=0.0.4");
	}
	assert_int_equal(g_srv.accepts - before, 1);
	assert_int_equal(h.stats.connects, 1);
	assert_int_equal(h.stats.reuses, 2);
	httpc_req_free(r);
	httpc_fini(&h);
}

static void chunked_body_is_decoded_across_reads(void **state)
{
	(void)state;
	struct httpc h;
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/chunked", NULL, &g_res);
	for (int i = 0; i < 2; i++) {
		run(&h, r, &g_res, 2000);
		assert_int_equal(g_res.rc, 0);
		assert_string_equal(g_res.body, "hello world!");
		assert_non_null(strstr(g_res.ctype, "openmetrics"));
	}
	assert_int_equal(h.stats.connects, 1);
	httpc_req_free(r);
	httpc_fini(&h);
}

static void gzip_body_is_inflated_and_headers_sent(void **state)
{
	(void)state;
	struct httpc h;
	struct httpc_opts o = {.gzip = 1, .basic_user = "user", .basic_pass = "pass", .timeout_hint_ms = 5000};
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/gzip", &o, &g_res);
	run(&h, r, &g_res, 2000);
	assert_int_equal(g_res.rc, 0);
	assert_true(g_res.len > 10000);
	assert_memory_equal(g_res.body, "m{i=\"0\"} 0\nm{i=\"1\"} 1\n", 22);
	assert_non_null(strstr(g_res.body, "m{i=\"999\"} 999\n"));
	pthread_mutex_lock(&g_srv.mu);
	assert_non_null(strstr(g_srv.last_head, "Accept-Encoding: gzip\r\n"));
	assert_non_null(strstr(g_srv.last_head, "Accept: " HTTPC_ACCEPT_PROMETHEUS "\r\n"));
	assert_non_null(strstr(g_srv.last_head, "Authorization: Basic dXNlcjpwYXNz\r\n"));
	assert_non_null(strstr(g_srv.last_head, "X-Prometheus-Scrape-Timeout-Seconds: 5\r\n"));
	pthread_mutex_unlock(&g_srv.mu);
	httpc_req_free(r);
	httpc_fini(&h);
}

static void bearer_authorization_header(void **state)
{
	(void)state;
	struct httpc h;
	struct httpc_opts o = {.authorization = "Bearer s3cret"};
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/cl", &o, &g_res);
	run(&h, r, &g_res, 2000);
	pthread_mutex_lock(&g_srv.mu);
	assert_non_null(strstr(g_srv.last_head, "Authorization: Bearer s3cret\r\n"));
	assert_null(strstr(g_srv.last_head, "Accept-Encoding"));
	pthread_mutex_unlock(&g_srv.mu);
	httpc_req_free(r);
	httpc_fini(&h);
}

static void timeout_fails_with_etimedout(void **state)
{
	(void)state;
	struct httpc h;
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/slow", NULL, &g_res);
	run(&h, r, &g_res, 200);
	assert_int_equal(g_res.rc, -ETIMEDOUT);
	assert_non_null(strstr(g_res.err, "timed out"));
	assert_int_equal(r->fd, -1); /* a timed-out connection is not reused */
	httpc_req_free(r);
	httpc_fini(&h);
}

static void connection_refused(void **state)
{
	(void)state;
	int port;
	int fd = listen_any(&port);
	close(fd); /* nothing listens there now */
	struct httpc h;
	struct httpc_req *r = NULL;
	char err[256];
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	assert_int_equal(httpc_req_new(&h, "127.0.0.1", port, "/", NULL, on_done, &g_res, &r, err, sizeof(err)), 0);
	run(&h, r, &g_res, 2000);
	assert_int_equal(g_res.rc, -ECONNREFUSED);
	assert_non_null(strstr(g_res.err, "connect"));
	httpc_req_free(r);
	httpc_fini(&h);
}

static void oversized_body_is_refused(void **state)
{
	(void)state;
	struct httpc h;
	struct httpc_opts o = {.body_limit = 1000};
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/big", &o, &g_res);
	run(&h, r, &g_res, 2000);
	assert_int_equal(g_res.rc, -EFBIG);
	assert_non_null(strstr(g_res.err, "limit"));
	httpc_req_free(r);
	r = mkreq(&h, "/bigchunked", &o, &g_res);
	run(&h, r, &g_res, 2000);
	assert_int_equal(g_res.rc, -EFBIG);
	httpc_req_free(r);
	httpc_fini(&h);
}

static void body_until_eof_and_http10(void **state)
{
	(void)state;
	struct httpc h;
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/eof", NULL, &g_res);
	run(&h, r, &g_res, 2000);
	assert_int_equal(g_res.rc, 0);
	assert_string_equal(g_res.body, "until the end");
	assert_int_equal(r->fd, -1);
	httpc_req_free(r);
	httpc_fini(&h);
}

static void stale_kept_connection_is_retried(void **state)
{
	(void)state;
	struct httpc h;
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/closeafter", NULL, &g_res);
	run(&h, r, &g_res, 2000);
	assert_int_equal(g_res.rc, 0);
	usleep(150000); /* the server has closed its end by now */
	run(&h, r, &g_res, 2000);
	assert_int_equal(g_res.rc, 0);
	assert_string_equal(g_res.body, "abc");
	assert_int_equal(h.stats.retries, 1);
	httpc_req_free(r);
	httpc_fini(&h);
}

static void status_404_is_reported(void **state)
{
	(void)state;
	struct httpc h;
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/nope", NULL, &g_res);
	run(&h, r, &g_res, 2000);
	assert_int_equal(g_res.rc, 0);
	assert_int_equal(g_res.status, 404);
	httpc_req_free(r);
	httpc_fini(&h);
}

static void free_while_in_flight_cancels(void **state)
{
	(void)state;
	struct httpc h;
	assert_int_equal(httpc_init(&h, 64, NULL), 0);
	struct httpc_req *r = mkreq(&h, "/slow", NULL, &g_res);
	memset(&g_res, 0, sizeof(g_res));
	assert_int_equal(httpc_req_start(r, 5000), 0);
	httpc_run(&h, 50);
	httpc_req_free(r);
	for (int i = 0; i < 100 && h.live; i++)
		httpc_run(&h, 20);
	assert_int_equal(h.live, 0);
	assert_int_equal(g_res.done, 0);
	httpc_fini(&h);
}

static void many_concurrent_requests(void **state)
{
	(void)state;
	enum { N = 200 };
	static struct result res[N];
	struct httpc_req *r[N];
	struct httpc h;
	assert_int_equal(httpc_init(&h, 256, NULL), 0);
	for (int i = 0; i < N; i++) {
		r[i] = mkreq(&h, i % 2 ? "/cl" : "/chunked", NULL, &res[i]);
		memset(&res[i], 0, sizeof(res[i]));
		assert_int_equal(httpc_req_start(r[i], 5000), 0);
	}
	int done = 0;
	for (int k = 0; k < 500 && done < N; k++) {
		httpc_run(&h, 20);
		done = 0;
		for (int i = 0; i < N; i++)
			done += res[i].done;
	}
	assert_int_equal(done, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(res[i].rc, 0);
		assert_string_equal(res[i].body, i % 2 ? "metric_a 1\n\n" : "hello world!");
		httpc_req_free(r[i]);
	}
	httpc_fini(&h);
}

static void unresolvable_host_is_an_error(void **state)
{
	(void)state;
	struct httpc h;
	struct httpc_req *r = (struct httpc_req *)1;
	char err[256];
	assert_int_equal(httpc_init(&h, 8, NULL), 0);
	assert_int_equal(httpc_req_new(&h, "no-such-host.invalid", 80, "/", NULL, on_done, NULL, &r, err, sizeof(err)),
			 -EINVAL);
	assert_null(r);
	assert_non_null(strstr(err, "lookup"));
	assert_int_equal(httpc_req_new(&h, "[::1]", 9, "/", NULL, on_done, NULL, &r, err, sizeof(err)), 0);
	httpc_req_free(r);
	httpc_fini(&h);
}

int main(void)
{
	alarm(120);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(content_length_body_and_keepalive_reuse),
		cmocka_unit_test(chunked_body_is_decoded_across_reads),
		cmocka_unit_test(gzip_body_is_inflated_and_headers_sent),
		cmocka_unit_test(bearer_authorization_header),
		cmocka_unit_test(timeout_fails_with_etimedout),
		cmocka_unit_test(connection_refused),
		cmocka_unit_test(oversized_body_is_refused),
		cmocka_unit_test(body_until_eof_and_http10),
		cmocka_unit_test(stale_kept_connection_is_retried),
		cmocka_unit_test(status_404_is_reported),
		cmocka_unit_test(free_while_in_flight_cancels),
		cmocka_unit_test(many_concurrent_requests),
		cmocka_unit_test(unresolvable_host_is_an_error),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
