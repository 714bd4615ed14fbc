/* test_httpd: unit tests of common/httpd.
 *
 * httpd_parse_time is a pure function. The request-level helpers run in a
 * real evhttp on an event_base bound to a free 127.0.0.1 port; a client
 * thread sends raw HTTP/1.1 over a plain socket, reads the whole reply
 * (Connection: close) and wakes the loop through a pipe, so the reply
 * bytes can be checked exactly. Tests that cannot get a loopback socket
 * are skipped (exit 77 when nothing ran).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/httpd.h"

/* ---- httpd_parse_time ---- */

static void test_parse_time_takes_unix_seconds_with_decimals(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {
		{"0", 0},
		{"1700000000", 1700000000000LL},
		{"1700000000.123", 1700000000123LL},
		{"1700000000.1234", 1700000000123LL},
		{"1.5", 1500},
		{"-1.5", -1500},
		{"1e3", 1000000},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t ms = 7;
		if (httpd_parse_time(ok[i].s, &ms) != 0 || ms != ok[i].ms)
			fail_msg("\"%s\": got %lld want %lld", ok[i].s, (long long)ms, (long long)ok[i].ms);
	}
}

static void test_parse_time_takes_rfc3339_with_zones_and_fractions(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {
		{"2015-07-01T20:10:51Z", 1435781451000LL},
		{"2015-07-01T20:10:51.781Z", 1435781451781LL},
		{"2015-07-01T20:10:51.5z", 1435781451500LL},
		{"2015-07-01T22:10:51+02:00", 1435781451000LL},
		{"2015-07-01T18:40:51.781-01:30", 1435781451781LL},
		{"1970-01-01T00:00:00Z", 0},
		{"1969-12-31T23:59:59.5Z", -500},
		{"2000-02-29T00:00:00+00:00", 951782400000LL},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t ms = 7;
		if (httpd_parse_time(ok[i].s, &ms) != 0 || ms != ok[i].ms)
			fail_msg("\"%s\": got %lld want %lld", ok[i].s, (long long)ms, (long long)ok[i].ms);
	}
}

static void test_parse_time_rejects_malformed_times(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "abc", "inf", "nan", "-inf", "1e400", "1e300", "12abc",
		"2015-07-01", "2015-07-01T20:10:51", "2015-07-01 20:10:51Z",
		"2015-07-01T20:10:51Zx", "2015-07-01T20:10:51+0200",
		"2015-07-01T20:10:51+2:00", "2015-07-01T20:10:51+02:0",
		"2015-07-01T20:10:51+02", "2015-07-01T20:10:51+", "2015-07-01T20:10:51+02:00x",
		"2015-07-01T20:10:51.Z", "2015-07-01T20:10:51.5e3Z", "2015-07-01T20:10:51.-5Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 7;
		int rc = httpd_parse_time(bad[i], &ms);
		if (rc != -EINVAL || ms != 7)
			fail_msg("\"%s\": rc %d ms %lld (wanted -EINVAL, untouched)", bad[i], rc, (long long)ms);
	}
	int64_t ms;
	assert_int_equal(httpd_parse_time(NULL, &ms), -EINVAL);
}

static void test_parse_time_never_reads_past_a_short_zone(void **state)
{
	(void)state;
	/* The zone is the last bytes of a heap buffer: ASan sees any overread. */
	static const char *const zones[] = {"+5:30", "+05:3", "-1:1", "+05:30"};
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		char *s;
		assert_true(asprintf(&s, "2015-07-01T20:10:51%s", zones[i]) > 0);
		char *h = malloc(strlen(s) + 1);
		assert_non_null(h);
		memcpy(h, s, strlen(s) + 1);
		int64_t ms = 7;
		int rc = httpd_parse_time(h, &ms);
		if (i < 3)
			assert_int_equal(rc, -EINVAL);
		else
			assert_int_equal(ms, 1435781451000LL - 19800000LL);
		free(h);
		free(s);
	}
}

/* ---- a real server ---- */

struct srv {
	struct event_base *base;
	struct evhttp *http;
	int port;
	int wake[2];              /* client thread -> loop: reply complete */
	struct event *wake_ev;
	char last_err[256];
};

struct client {
	int port;
	const char *request;
	size_t request_len;
	char *reply;              /* malloc'd, NUL-terminated */
	size_t reply_len;
	int wake_fd;
	int rc;
};

/* Finds a free loopback port by binding port 0 and closing the socket. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return ntohs(sa.sin_port);
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	c->rc = -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 5};
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    send(fd, c->request, c->request_len, MSG_NOSIGNAL) == (ssize_t)c->request_len) {
			size_t cap = 65536;
			c->reply = malloc(cap + 1);
			c->reply_len = 0;
			ssize_t n;
			while (c->reply && (n = recv(fd, c->reply + c->reply_len, cap - c->reply_len, 0)) > 0) {
				c->reply_len += (size_t)n;
				if (c->reply_len == cap)
					break;
			}
			if (c->reply) {
				c->reply[c->reply_len] = '\0';
				c->rc = 0;
			}
		}
		close(fd);
	}
	char b = 1;
	ssize_t w = write(c->wake_fd, &b, 1);
	(void)w;
	return NULL;
}

static void srv_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	char b;
	ssize_t r = read(fd, &b, 1);
	(void)r;
	(void)what;
	event_base_loopbreak(s->base);
}

/* Appends "key=value\n" for every parameter. */
static void srv_dump(struct evbuffer *out, struct evkeyvalq *params)
{
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, params, next)
		evbuffer_add_printf(out, "%s=%s\n", kv->key, kv->value);
}

static void srv_handle(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (strcmp(path, "/params") == 0) {
		struct evkeyvalq params;
		int rc = httpd_params(req, &params);
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "rc=%d\n", rc);
		srv_dump(b, &params);
		const char *all[4];
		size_t n = httpd_param_all(&params, "match[]", all, 4);
		evbuffer_add_printf(b, "match[] x%zu", n);
		for (size_t i = 0; i < n; i++)
			evbuffer_add_printf(b, " <%s>", all[i]);
		evbuffer_add_printf(b, "\n");
		evhttp_clear_headers(&params);
		size_t len = evbuffer_get_length(b);
		char *body = malloc(len);
		evbuffer_copyout(b, body, len);
		httpd_reply(req, 200, "text/plain", body, len);
		free(body);
		evbuffer_free(b);
	} else if (strcmp(path, "/e503") == 0) {
		httpd_error(req, 503, "unavailable", "ring %s is \"full\"\n\tretry", "c0-a0");
	} else if (strcmp(path, "/e429") == 0) {
		httpd_error(req, 429, "too_many_requests", "slow down");
	} else if (strcmp(path, "/e400") == 0) {
		httpd_error(req, 400, "bad_data", "bad \\ value %d\x01", 7);
	} else if (strcmp(path, "/long") == 0) {
		char big[1500];
		memset(big, '"', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		httpd_error(req, 422, "execution", "%s", big);
	} else if (strcmp(path, "/nocontent") == 0) {
		httpd_reply(req, 204, NULL, "ignored", 7);
	} else {
		httpd_error(req, 404, "not_found", "no such path");
	}
	(void)s;
}

static int srv_setup(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->base = event_base_new();
	s->http = evhttp_new(s->base);
	assert_non_null(s->http);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(s->http, srv_handle, s);
	int rc = -1;
	for (int tries = 0; tries < 5 && rc != 0; tries++) {
		s->port = free_port();
		if (s->port <= 0)
			break;
		char hp[32];
		snprintf(hp, sizeof(hp), "127.0.0.1:%d", s->port);
		rc = httpd_listen(s->http, hp, s->last_err, sizeof(s->last_err));
	}
	if (rc != 0) {
		evhttp_free(s->http);
		event_base_free(s->base);
		free(s);
		*state = NULL;
		return 0; /* the tests skip */
	}
	assert_int_equal(pipe(s->wake), 0);
	s->wake_ev = event_new(s->base, s->wake[0], EV_READ | EV_PERSIST, srv_on_wake, s);
	event_add(s->wake_ev, NULL);
	*state = s;
	return 0;
}

static int srv_teardown(void **state)
{
	struct srv *s = *state;
	if (!s)
		return 0;
	event_free(s->wake_ev);
	close(s->wake[0]);
	close(s->wake[1]);
	evhttp_free(s->http);
	event_base_free(s->base);
	free(s);
	return 0;
}

/* Sends `request` and returns the raw reply (malloc'd). */
static char *srv_roundtrip(struct srv *s, const char *request)
{
	struct client c = {.port = s->port, .request = request, .request_len = strlen(request),
			   .wake_fd = s->wake[1]};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, client_main, &c), 0);
	struct timeval limit = {.tv_sec = 8};
	event_base_loopexit(s->base, &limit); /* never hang the test */
	event_base_dispatch(s->base);
	pthread_join(t, NULL);
	if (c.rc != 0) {
		free(c.reply);
		fail_msg("no reply to %s", request);
	}
	return c.reply;
}

static const char *body_of(const char *reply)
{
	const char *b = strstr(reply, "\r\n\r\n");
	assert_non_null(b);
	return b + 4;
}

/* The value of header `name` (case-insensitive) or NULL; static buffer. */
static const char *header_of(const char *reply, const char *name)
{
	static char val[256];
	const char *end = strstr(reply, "\r\n\r\n");
	size_t nl = strlen(name);
	for (const char *p = strstr(reply, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
		const char *h = p + 2;
		if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			const char *v = h + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(strstr(v, "\r\n") - v);
			snprintf(val, sizeof(val), "%.*s", (int)vl, v);
			return val;
		}
	}
	return NULL;
}

#define NEED_SERVER(s)                                                   \
	do {                                                             \
		if (!(s))                                                \
			skip();                                          \
	} while (0)

static void test_params_decode_keys_and_values_of_the_query_string(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	char *r = srv_roundtrip(s, "GET /params?match%5B%5D=up&match[]=%7Bjob%3D%22a+b%22%7D&q=x%2By+z&empty= HTTP/1.1\r\n"
				   "Host: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(strncmp(r, "HTTP/1.1 200 OK\r\n", 17), 0);
	assert_string_equal(header_of(r, "Content-Type"), "text/plain");
	assert_string_equal(body_of(r), "rc=0\n"
					"match[]=up\n"
					"match[]={job=\"a b\"}\n"
					"q=x+y z\n"
					"empty=\n"
					"match[] x2 <up> <{job=\"a b\"}>\n");
	free(r);
}

static void test_params_keep_values_with_newlines(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	/* Multi-line PromQL (as Grafana sends it) must not vanish. */
	char *r = srv_roundtrip(s, "GET /params?query=sum(%0A++up%0D%0A)&x=1 HTTP/1.1\r\n"
				   "Host: t\r\nConnection: close\r\n\r\n");
	assert_string_equal(body_of(r), "rc=0\nquery=sum(\n  up\r\n)\nx=1\nmatch[] x0\n");
	free(r);
}

static void test_params_read_form_bodies_of_posts_after_the_query(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	const char *body = "match%5B%5D=a&match%5B%5D=b%7Bc%3D%22d%22%7D&start=1.5&m%61tch%5B%5D=c";
	char req[1024];
	snprintf(req, sizeof(req),
		 "POST /params?limit=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
		 "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n"
		 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	char *r = srv_roundtrip(s, req);
	assert_string_equal(body_of(r), "rc=0\nlimit=3\nmatch[]=a\nmatch[]=b{c=\"d\"}\nstart=1.5\nmatch[]=c\n"
					"match[] x3 <a> <b{c=\"d\"}> <c>\n");
	free(r);

	/* Another content type: the body is not parameters. */
	snprintf(req, sizeof(req),
		 "POST /params?limit=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
		 "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
	r = srv_roundtrip(s, req);
	assert_string_equal(body_of(r), "rc=0\nlimit=3\nmatch[] x0\n");
	free(r);
}

static void test_params_of_a_malformed_query_are_einval(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	char *r = srv_roundtrip(s, "GET /params?a=1&=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	char want[32];
	snprintf(want, sizeof(want), "rc=%d\n", -EINVAL);
	assert_int_equal(strncmp(body_of(r), want, strlen(want)), 0);
	free(r);
}

static void test_errors_have_the_prometheus_json_shape(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	char *r = srv_roundtrip(s, "GET /e400 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26), 0);
	assert_string_equal(header_of(r, "Content-Type"), "application/json");
	assert_null(header_of(r, "Retry-After"));
	assert_string_equal(body_of(r), "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"bad \\\\ value 7\\u0001\"}");
	free(r);

	r = srv_roundtrip(s, "GET /nowhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(strncmp(r, "HTTP/1.1 404 Not Found\r\n", 24), 0);
	assert_string_equal(body_of(r), "{\"status\":\"error\",\"errorType\":\"not_found\",\"error\":\"no such path\"}");
	free(r);
}

static void test_503_and_429_errors_carry_retry_after(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	char *r = srv_roundtrip(s, "GET /e503 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(strncmp(r, "HTTP/1.1 503 Service Unavailable\r\n", 34), 0);
	assert_string_equal(header_of(r, "Retry-After"), "1");
	assert_string_equal(body_of(r),
			    "{\"status\":\"error\",\"errorType\":\"unavailable\",\"error\":\"ring c0-a0 is \\\"full\\\"\\u000a\\u0009retry\"}");
	free(r);
	r = srv_roundtrip(s, "GET /e429 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(strncmp(r, "HTTP/1.1 429 Too Many Requests\r\n", 32), 0);
	assert_string_equal(header_of(r, "Retry-After"), "1");
	free(r);
}

static void test_long_error_messages_stay_valid_json(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	char *r = srv_roundtrip(s, "GET /long HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(strncmp(r, "HTTP/1.1 422 Unprocessable Entity\r\n", 35), 0);
	const char *b = body_of(r);
	size_t bl = strlen(b);
	assert_true(bl > 1000);
	assert_string_equal(b + bl - 2, "\"}");
	/* Every quote in the message is escaped: pairs of \" then the end. */
	const char *m = strstr(b, "\"error\":\"") + 9;
	for (const char *p = m; p < b + bl - 2; p += 2)
		assert_int_equal(strncmp(p, "\\\"", 2), 0);
	free(r);
}

static void test_204_replies_have_no_body(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	char *r = srv_roundtrip(s, "GET /nocontent HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(strncmp(r, "HTTP/1.1 204 No Content\r\n", 25), 0);
	assert_string_equal(body_of(r), "");
	free(r);
}

static void test_two_listeners_share_a_port_with_reuseport(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	/* A second evhttp (another process in production) binds the same port. */
	struct evhttp *h2 = evhttp_new(s->base);
	assert_non_null(h2);
	char hp[32], err[256] = "";
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", s->port);
	int rc = httpd_listen(h2, hp, err, sizeof(err));
	if (rc != 0)
		fail_msg("second httpd_listen(%s): %d %s", hp, rc, err);
	evhttp_set_gencb(h2, srv_handle, s);
	/* Both accept: the server still answers with two listeners. */
	char *r = srv_roundtrip(s, "GET /e429 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(strncmp(r, "HTTP/1.1 429", 12), 0);
	free(r);
	evhttp_free(h2);
}

static void test_listen_reports_bad_addresses_and_busy_ports(void **state)
{
	struct srv *s = *state;
	NEED_SERVER(s);
	struct evhttp *h = evhttp_new(s->base);
	char err[256] = "";
	assert_int_equal(httpd_listen(h, "nonsense", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"nonsense\" is not HOST:PORT"));
	assert_int_equal(httpd_listen(h, "no.such.host.invalid:80", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "getaddrinfo"));

	/* A port held by a socket without SO_REUSEPORT: the errno comes back. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	char hp[32];
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", ntohs(sa.sin_port));
	assert_int_equal(httpd_listen(h, hp, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "bind/listen"));
	close(fd);
	evhttp_free(h);
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time_takes_unix_seconds_with_decimals),
		cmocka_unit_test(test_parse_time_takes_rfc3339_with_zones_and_fractions),
		cmocka_unit_test(test_parse_time_rejects_malformed_times),
		cmocka_unit_test(test_parse_time_never_reads_past_a_short_zone),
		cmocka_unit_test_setup_teardown(test_params_decode_keys_and_values_of_the_query_string, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_params_keep_values_with_newlines, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_params_read_form_bodies_of_posts_after_the_query, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_params_of_a_malformed_query_are_einval, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_errors_have_the_prometheus_json_shape, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_503_and_429_errors_carry_retry_after, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_long_error_messages_stay_valid_json, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_204_replies_have_no_body, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_two_listeners_share_a_port_with_reuseport, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_listen_reports_bad_addresses_and_busy_ports, srv_setup, srv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
