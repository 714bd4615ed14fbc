/* httpc: see httpc.h. The io_uring HTTP/1.1 client.
 *
 * Sections: request setup (resolve, head), submission (an operation and its
 * linked timeout), the response parser (status line, headers, chunked
 * decoder), completion handling, and the ring/eventfd plumbing.
 *
 * Invariants:
 *  - Every SQE we submit is counted in r->inflight, and r stays allocated
 *    until that count is back to zero, because the kernel hands r back in
 *    user_data. An orphan (freed by its owner mid-flight) is freed when its
 *    last CQE arrives.
 *  - At most one data operation (connect, send or recv) runs per request at
 *    a time; r->op names it. Its link timeout is submitted in the same
 *    batch, right after it (two free SQ slots are made sure of first).
 *  - The raw buffer holds [0, hdr_len) headers, then the body: for chunked
 *    bodies the decoder compacts decoded bytes in place to [hdr_len,
 *    body_end), so the buffer never holds much more than the body.
 */
#include "collector/httpc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/log.h"

#define HTTPC_TAG_OP      0u
#define HTTPC_TAG_TIMEOUT 1u
#define HTTPC_TAG_CANCEL  2u
#define HTTPC_TAG_MASK    3u
#define HTTPC_BUF_MIN     (16u * 1024u)
#define HTTPC_BUF_KEEP    (4u << 20)     /* larger buffers are freed after a request */
#define HTTPC_CQE_BATCH   256

enum httpc_op { HTTPC_OP_NONE = 0, HTTPC_OP_CONNECT, HTTPC_OP_SEND, HTTPC_OP_RECV };
enum httpc_cstate { HTTPC_C_SIZE = 0, HTTPC_C_DATA, HTTPC_C_CRLF, HTTPC_C_TRAILER, HTTPC_C_DONE };

_Static_assert(_Alignof(struct httpc_req) >= 4, "two tag bits in user_data");

static uint64_t httpc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- request setup ---- */

/* Standard base64 of src[n] into dst (NUL-terminated; dst needs 4n/3+4). */
static void httpc_base64(char *dst, const uint8_t *src, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
		dst[o++] = tab[v >> 18];
		dst[o++] = tab[(v >> 12) & 63];
		dst[o++] = tab[(v >> 6) & 63];
		dst[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < n ? (uint32_t)src[i + 1] << 8 : 0);
		dst[o++] = tab[v >> 18];
		dst[o++] = tab[(v >> 12) & 63];
		dst[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
}

/* Resolves host:port into r->addr: numeric first, then getaddrinfo (which
 * may block on DNS; done once per target). Returns 0 or -EINVAL. */
static int httpc_resolve(struct httpc_req *r, const char *host, int port, char *err, size_t errlen)
{
	char h[256];
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(h) || port <= 0 || port > 65535) {
		snprintf(err, errlen, "invalid address \"%s\":%d", host, port);
		return -EINVAL;
	}
	memcpy(h, host, hl);
	h[hl] = '\0';
	struct sockaddr_in *in4 = (struct sockaddr_in *)&r->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&r->addr;
	memset(&r->addr, 0, sizeof(r->addr));
	if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		r->addrlen = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		r->addrlen = sizeof(*in6);
		return 0;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	int g = getaddrinfo(h, NULL, &hints, &res);
	if (g != 0 || !res) {
		snprintf(err, errlen, "lookup %s: %s", h, gai_strerror(g));
		return -EINVAL;
	}
	memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
	r->addrlen = (socklen_t)res->ai_addrlen;
	if (res->ai_family == AF_INET)
		in4->sin_port = htons((uint16_t)port);
	else
		in6->sin6_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}

/* Builds the request head (GET, Host, Accept, auth...). Returns 0 or -ENOMEM. */
static int httpc_build_head(struct httpc_req *r, const char *host, int port, const char *path_query,
			    const struct httpc_opts *o)
{
	char auth[1024] = "", tmo[96] = "";
	if (o->authorization) {
		snprintf(auth, sizeof(auth), "Authorization: %s\r\n", o->authorization);
	} else if (o->basic_user) {
		char up[512], b64[700];
		int n = snprintf(up, sizeof(up), "%s:%s", o->basic_user, o->basic_pass ? o->basic_pass : "");
		if (n < 0 || (size_t)n >= sizeof(up))
			return -EINVAL;
		httpc_base64(b64, (const uint8_t *)up, (size_t)n);
		snprintf(auth, sizeof(auth), "Authorization: Basic %s\r\n", b64);
	}
	if (o->timeout_hint_ms > 0)
		snprintf(tmo, sizeof(tmo), "X-Prometheus-Scrape-Timeout-Seconds: %g\r\n", (double)o->timeout_hint_ms / 1000.0);
	const char *colon = strchr(host, ':') && host[0] != '[' ? "]" : "";
	char *head = NULL;
	int n = asprintf(&head,
			 "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nUser-Agent: mcs/0.1\r\nAccept: %s\r\n"
			 "%s%s%s\r\n",
			 path_query && *path_query ? path_query : "/", *colon ? "[" : "", host, colon, port,
			 o->accept ? o->accept : HTTPC_ACCEPT_PROMETHEUS,
			 o->gzip ? "Accept-Encoding: gzip\r\n" : "", auth, tmo);
	if (n < 0)
		return -ENOMEM;
	r->head = head;
	r->head_len = (size_t)n;
	return 0;
}

int httpc_req_new(struct httpc *h, const char *host, int port, const char *path_query,
		  const struct httpc_opts *o, httpc_done_fn done, void *arg,
		  struct httpc_req **out, char *err, size_t errlen)
{
	static const struct httpc_opts def = {.gzip = 1};
	*out = NULL;
	if (!o)
		o = &def;
	struct httpc_req *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->h = h;
	r->fd = -1;
	r->done = done;
	r->arg = arg;
	r->body_limit = o->body_limit ? o->body_limit : (256u << 20);
	int rc = httpc_resolve(r, host, port, err, errlen);
	if (rc == 0) {
		rc = httpc_build_head(r, host, port, path_query, o);
		if (rc != 0)
			snprintf(err, errlen, "cannot build the request: %s", strerror(-rc));
	}
	if (rc != 0) {
		free(r);
		return rc;
	}
	h->live++;
	*out = r;
	return 0;
}

/* ---- submission ---- */

/* Makes sure two SQEs are free (an operation and its link timeout), and
 * returns the first; the caller takes the second with io_uring_get_sqe. */
static struct io_uring_sqe *httpc_sqe_pair(struct httpc *h)
{
	if (io_uring_sq_space_left(&h->ring) < 2)
		io_uring_submit(&h->ring);
	return io_uring_get_sqe(&h->ring);
}

/* Links a timeout for the rest of the deadline (at least 1 us, so a late
 * operation times out at once) to the operation just prepared in `op`, and
 * counts both CQEs. The kernel copies r->ts at submission, so the next
 * operation may reuse it while an earlier timeout's CQE is still due. */
static void httpc_link_timeout(struct httpc_req *r, struct io_uring_sqe *op)
{
	uint64_t now = httpc_now_ns();
	uint64_t left = r->deadline_ns > now ? r->deadline_ns - now : 1000;
	r->ts.tv_sec = (long long)(left / 1000000000ull);
	r->ts.tv_nsec = (long long)(left % 1000000000ull);
	op->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(op, (uint64_t)(uintptr_t)r | HTTPC_TAG_OP);
	struct io_uring_sqe *t = io_uring_get_sqe(&r->h->ring); /* slot reserved by httpc_sqe_pair */
	io_uring_prep_link_timeout(t, &r->ts, 0);
	io_uring_sqe_set_data64(t, (uint64_t)(uintptr_t)r | HTTPC_TAG_TIMEOUT);
	r->inflight += 2;
}

static int httpc_submit_connect(struct httpc_req *r)
{
	int fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(r->err, sizeof(r->err), "socket: %s", strerror(e));
		return -e;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r->fd = fd;
	r->reused = 0;
	r->h->stats.connects++;
	struct io_uring_sqe *s = httpc_sqe_pair(r->h);
	io_uring_prep_connect(s, fd, (struct sockaddr *)&r->addr, r->addrlen);
	r->op = HTTPC_OP_CONNECT;
	httpc_link_timeout(r, s);
	return 0;
}

static void httpc_submit_send(struct httpc_req *r)
{
	struct io_uring_sqe *s = httpc_sqe_pair(r->h);
	io_uring_prep_send(s, r->fd, r->head + r->sent, r->head_len - r->sent, MSG_NOSIGNAL);
	r->op = HTTPC_OP_SEND;
	httpc_link_timeout(r, s);
}

/* Makes room to receive and submits a RECV. Returns 0 or -EFBIG/-ENOMEM. */
static int httpc_submit_recv(struct httpc_req *r)
{
	size_t max = HTTPC_MAX_HEAD + r->body_limit + 8192;
	if (r->cap - r->len < 4096) {
		size_t nc = r->cap ? r->cap * 2 : HTTPC_BUF_MIN;
		if (r->content_length >= 0 && r->hdr_len && r->hdr_len + (size_t)r->content_length + 1 > nc)
			nc = r->hdr_len + (size_t)r->content_length + 1; /* one read for the rest */
		if (nc > max)
			nc = max;
		if (nc <= r->len + 1) {
			snprintf(r->err, sizeof(r->err), "body size limit exceeded (%zu bytes)", r->body_limit);
			return -EFBIG;
		}
		uint8_t *nb = realloc(r->buf, nc);
		if (!nb) {
			snprintf(r->err, sizeof(r->err), "out of memory");
			return -ENOMEM;
		}
		r->buf = nb;
		r->cap = nc;
	}
	struct io_uring_sqe *s = httpc_sqe_pair(r->h);
	io_uring_prep_recv(s, r->fd, r->buf + r->len, r->cap - r->len, 0);
	r->op = HTTPC_OP_RECV;
	httpc_link_timeout(r, s);
	return 0;
}

/* ---- response parsing ---- */

/* Case-insensitive: does the header value v[n] contain token `t`? */
static int httpc_has_token(const char *v, size_t n, const char *t)
{
	size_t tl = strlen(t);
	for (size_t i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, t, tl) == 0)
			return 1;
	return 0;
}

/* Parses the status line and headers in buf[0, end). Returns 0 or -EPROTO. */
static int httpc_parse_head(struct httpc_req *r, size_t end)
{
	const char *p = (const char *)r->buf, *e = p + end;
	const char *nl = memchr(p, '\n', (size_t)(e - p));
	if (!nl || e - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)p[9]))
		goto bad;
	int http10 = p[7] == '0';
	r->status = atoi(p + 9);
	r->content_length = -1;
	r->chunked = r->gzip = 0;
	r->conn_close = http10;
	r->content_type[0] = '\0';
	for (p = nl + 1; p < e;) {
		nl = memchr(p, '\n', (size_t)(e - p));
		if (!nl)
			break;
		const char *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (colon) {
			size_t nlen = (size_t)(colon - p);
			const char *v = colon + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			size_t vl = (size_t)(le - v);
			if (nlen == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
				char num[32];
				if (vl == 0 || vl >= sizeof(num))
					goto bad;
				memcpy(num, v, vl);
				num[vl] = '\0';
				char *q;
				long long cl = strtoll(num, &q, 10);
				if (cl < 0 || (*q && *q != ' '))
					goto bad;
				r->content_length = cl;
			} else if (nlen == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
				r->chunked = httpc_has_token(v, vl, "chunked");
			} else if (nlen == 16 && strncasecmp(p, "Content-Encoding", 16) == 0) {
				r->gzip = httpc_has_token(v, vl, "gzip");
			} else if (nlen == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
				size_t c = vl < sizeof(r->content_type) - 1 ? vl : sizeof(r->content_type) - 1;
				memcpy(r->content_type, v, c);
				r->content_type[c] = '\0';
			} else if (nlen == 10 && strncasecmp(p, "Connection", 10) == 0) {
				if (httpc_has_token(v, vl, "close"))
					r->conn_close = 1;
				else if (httpc_has_token(v, vl, "keep-alive"))
					r->conn_close = 0;
			}
		}
		p = nl + 1;
	}
	if (r->chunked)
		r->content_length = -1;
	if (r->content_length < 0 && !r->chunked)
		r->conn_close = 1; /* body ends with the connection */
	return 0;
bad:
	snprintf(r->err, sizeof(r->err), "malformed HTTP response");
	return -EPROTO;
}

/* Runs the in-place chunk decoder over the new bytes. Returns 1 when the
 * body is complete, 0 when more is needed, -EINVAL or -EFBIG. */
static int httpc_dechunk(struct httpc_req *r)
{
	uint8_t *b = r->buf;
	while (r->parse_pos < r->len && r->cstate != HTTPC_C_DONE) {
		size_t avail = r->len - r->parse_pos;
		if (r->cstate == HTTPC_C_SIZE || r->cstate == HTTPC_C_TRAILER) {
			uint8_t *nl = memchr(b + r->parse_pos, '\n', avail);
			if (!nl) {
				if (avail > 4096)
					goto bad;
				break;
			}
			size_t ll = (size_t)(nl - (b + r->parse_pos));
			const uint8_t *s = b + r->parse_pos;
			if (r->cstate == HTTPC_C_TRAILER) {
				if (ll == 0 || (ll == 1 && s[0] == '\r'))
					r->cstate = HTTPC_C_DONE;
			} else {
				uint64_t v = 0;
				size_t i = 0;
				for (; i < ll && isxdigit(s[i]); i++) {
					if (v >> 56)
						goto bad;
					v = v * 16 + (uint64_t)(isdigit(s[i]) ? s[i] - '0' : (tolower(s[i]) - 'a' + 10));
				}
				if (i == 0 || (i < ll && s[i] != ';' && s[i] != '\r' && s[i] != ' '))
					goto bad;
				r->chunk_left = v;
				r->cstate = v ? HTTPC_C_DATA : HTTPC_C_TRAILER;
			}
			r->parse_pos += ll + 1;
		} else if (r->cstate == HTTPC_C_DATA) {
			size_t n = avail < r->chunk_left ? avail : (size_t)r->chunk_left;
			if (r->body_end - r->hdr_len + n > r->body_limit) {
				snprintf(r->err, sizeof(r->err), "body size limit exceeded (%zu bytes)", r->body_limit);
				return -EFBIG;
			}
			if (r->body_end != r->parse_pos)
				memmove(b + r->body_end, b + r->parse_pos, n);
			r->body_end += n;
			r->parse_pos += n;
			r->chunk_left -= n;
			if (!r->chunk_left)
				r->cstate = HTTPC_C_CRLF;
		} else { /* HTTPC_C_CRLF */
			if (b[r->parse_pos] == '\r') {
				r->parse_pos++;
				continue;
			}
			if (b[r->parse_pos] != '\n')
				goto bad;
			r->parse_pos++;
			r->cstate = HTTPC_C_SIZE;
		}
	}
	/* Compact: what is not parsed yet moves down behind the decoded body. */
	if (r->parse_pos > r->body_end) {
		size_t rest = r->len - r->parse_pos;
		memmove(b + r->body_end, b + r->parse_pos, rest);
		r->len = r->body_end + rest;
		r->parse_pos = r->body_end;
	}
	return r->cstate == HTTPC_C_DONE;
bad:
	snprintf(r->err, sizeof(r->err), "malformed chunked encoding");
	return -EINVAL;
}

/* Looks at what arrived. Returns 1 when the response is complete, 0 when
 * more is needed, or -errno. eof: the peer closed the connection. */
static int httpc_parse(struct httpc_req *r, int eof)
{
	if (!r->hdr_len) {
		size_t from = r->parse_pos > 3 ? r->parse_pos - 3 : 0;
		uint8_t *end = memmem(r->buf + from, r->len - from, "\r\n\r\n", 4);
		if (!end) {
			r->parse_pos = r->len;
			if (r->len > HTTPC_MAX_HEAD) {
				snprintf(r->err, sizeof(r->err), "response headers larger than %u bytes", HTTPC_MAX_HEAD);
				return -EPROTO;
			}
			if (eof) {
				snprintf(r->err, sizeof(r->err), "connection closed before the response headers");
				return -ECONNRESET;
			}
			return 0;
		}
		r->hdr_len = (size_t)(end - r->buf) + 4;
		int rc = httpc_parse_head(r, r->hdr_len);
		if (rc != 0)
			return rc;
		if (r->status == 100) { /* drop an interim response */
			memmove(r->buf, r->buf + r->hdr_len, r->len - r->hdr_len);
			r->len -= r->hdr_len;
			r->hdr_len = r->parse_pos = 0;
			return httpc_parse(r, eof);
		}
		if (r->content_length > 0 && (uint64_t)r->content_length > r->body_limit) {
			snprintf(r->err, sizeof(r->err), "body size limit exceeded (%zu bytes)", r->body_limit);
			return -EFBIG;
		}
		if (r->status == 204 || r->status == 304)
			r->content_length = 0;
		r->parse_pos = r->body_end = r->hdr_len;
	}
	if (r->chunked) {
		int rc = httpc_dechunk(r);
		if (rc == 0 && eof) {
			snprintf(r->err, sizeof(r->err), "connection closed inside a chunked body");
			return -ECONNRESET;
		}
		return rc;
	}
	size_t have = r->len - r->hdr_len;
	if (r->content_length >= 0) {
		if (have >= (uint64_t)r->content_length) {
			if (have > (uint64_t)r->content_length)
				r->conn_close = 1; /* unexpected extra bytes: do not reuse */
			r->body_end = r->hdr_len + (size_t)r->content_length;
			return 1;
		}
		if (eof) {
			snprintf(r->err, sizeof(r->err), "connection closed after %zu of %lld body bytes", have,
				 (long long)r->content_length);
			return -ECONNRESET;
		}
		return 0;
	}
	if (have > r->body_limit) {
		snprintf(r->err, sizeof(r->err), "body size limit exceeded (%zu bytes)", r->body_limit);
		return -EFBIG;
	}
	r->body_end = r->len;
	return eof ? 1 : 0;
}

/* Inflates a gzip body into h->scratch. Returns 0 or -EINVAL/-EFBIG/-ENOMEM. */
static int httpc_gunzip(struct httpc_req *r, const uint8_t *src, size_t len)
{
	struct httpc *h = r->h;
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)src;
	z.avail_in = (uInt)len;
	size_t out = 0;
	int zr, rc = 0;
	for (;;) {
		if (h->scratch_cap - out < 16384) {
			size_t nc = h->scratch_cap ? h->scratch_cap * 2 : 1u << 20;
			uint8_t *nb = realloc(h->scratch, nc);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			h->scratch = nb;
			h->scratch_cap = nc;
		}
		z.next_out = h->scratch + out;
		z.avail_out = (uInt)(h->scratch_cap - out);
		zr = inflate(&z, Z_NO_FLUSH);
		out = h->scratch_cap - z.avail_out;
		if (out > r->body_limit) {
			snprintf(r->err, sizeof(r->err), "body size limit exceeded (%zu bytes)", r->body_limit);
			rc = -EFBIG;
			break;
		}
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK && !(zr == Z_BUF_ERROR && z.avail_out == 0)) {
			snprintf(r->err, sizeof(r->err), "invalid gzip body");
			rc = -EINVAL;
			break;
		}
	}
	inflateEnd(&z);
	if (rc == 0) {
		r->body = h->scratch;
		r->body_len = out;
	}
	return rc;
}

/* ---- completion ---- */

static void httpc_close_conn(struct httpc_req *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/* Ends the running request with rc and calls done. r may be freed or
 * restarted by the callback: nothing touches it afterwards. */
static void httpc_finish(struct httpc_req *r, int rc)
{
	r->busy = 0;
	r->op = HTTPC_OP_NONE;
	if (rc == 0) {
		r->body = r->buf + r->hdr_len;
		r->body_len = r->body_end - r->hdr_len;
		if (r->gzip && r->body_len)
			rc = httpc_gunzip(r, r->body, r->body_len);
	}
	if (rc != 0 || r->conn_close)
		httpc_close_conn(r);
	if (rc != 0) {
		r->h->stats.failures++;
		if (!r->err[0])
			snprintf(r->err, sizeof(r->err), "%s", strerror(-rc));
		r->body = NULL;
		r->body_len = 0;
	}
	if (r->done)
		r->done(r, rc, r->arg);
}

/* Starts the attempt: connect, or send on the kept connection. */
static int httpc_attempt(struct httpc_req *r)
{
	r->sent = 0;
	r->len = r->hdr_len = r->parse_pos = r->body_end = 0;
	r->cstate = HTTPC_C_SIZE;
	r->chunk_left = 0;
	r->status = 0;
	if (r->fd >= 0) {
		r->reused = 1;
		r->h->stats.reuses++;
		httpc_submit_send(r);
		return 0;
	}
	return httpc_submit_connect(r);
}

/* A kept connection failed before any response byte: the server closed it
 * while idle. Try once more on a new one. Returns 1 when retried. */
static int httpc_retry_stale(struct httpc_req *r, int res)
{
	if (!r->reused || r->retried || r->len > 0)
		return 0;
	if (res != 0 && res != -ECONNRESET && res != -EPIPE && res != -ECONNABORTED)
		return 0;
	httpc_close_conn(r);
	r->retried = 1;
	r->h->stats.retries++;
	int rc = httpc_attempt(r);
	if (rc != 0) {
		httpc_finish(r, rc);
		return 1;
	}
	return 1;
}

/* The data operation of r completed with res. */
static void httpc_on_op(struct httpc_req *r, int res)
{
	int rc;
	if (res == -ECANCELED) {
		snprintf(r->err, sizeof(r->err), "scrape timed out (%s)",
			 r->op == HTTPC_OP_CONNECT ? "connect" : r->op == HTTPC_OP_SEND ? "send" : "receive");
		httpc_finish(r, -ETIMEDOUT);
		return;
	}
	switch (r->op) {
	case HTTPC_OP_CONNECT:
		if (res < 0) {
			snprintf(r->err, sizeof(r->err), "connect: %s", strerror(-res));
			httpc_finish(r, res);
			return;
		}
		httpc_submit_send(r);
		return;
	case HTTPC_OP_SEND:
		if (res < 0) {
			if (httpc_retry_stale(r, res))
				return;
			snprintf(r->err, sizeof(r->err), "send: %s", strerror(-res));
			httpc_finish(r, res);
			return;
		}
		r->sent += (size_t)res;
		if (r->sent < r->head_len)
			httpc_submit_send(r);
		else if ((rc = httpc_submit_recv(r)) != 0)
			httpc_finish(r, rc);
		return;
	case HTTPC_OP_RECV:
		if (res < 0) {
			if (httpc_retry_stale(r, res))
				return;
			snprintf(r->err, sizeof(r->err), "read: %s", strerror(-res));
			httpc_finish(r, res);
			return;
		}
		if (res == 0 && httpc_retry_stale(r, 0))
			return;
		r->len += (size_t)res;
		r->h->stats.bytes_in += (uint64_t)res;
		rc = httpc_parse(r, res == 0);
		if (rc == 0)
			rc = httpc_submit_recv(r);
		else if (rc == 1)
			rc = 0, httpc_finish(r, 0);
		if (rc < 0)
			httpc_finish(r, rc);
		return;
	default:
		return;
	}
}

/* Releases r for good. */
static void httpc_destroy(struct httpc_req *r)
{
	httpc_close_conn(r);
	r->h->live--;
	free(r->buf);
	free(r->head);
	free(r);
}

/* One CQE. */
static void httpc_on_cqe(struct httpc *h, uint64_t ud, int res)
{
	struct httpc_req *r = (struct httpc_req *)(uintptr_t)(ud & ~(uint64_t)HTTPC_TAG_MASK);
	unsigned tag = (unsigned)(ud & HTTPC_TAG_MASK);
	(void)h;
	if (!r)
		return;
	r->inflight--;
	if (tag == HTTPC_TAG_OP && !r->orphan && r->busy) {
		httpc_on_op(r, res);
		return; /* r may be gone */
	}
	if (r->orphan && r->inflight == 0)
		httpc_destroy(r);
}

unsigned httpc_poll(struct httpc *h)
{
	struct io_uring_cqe *cqes[HTTPC_CQE_BATCH];
	uint64_t ud[HTTPC_CQE_BATCH];
	int res[HTTPC_CQE_BATCH];
	unsigned total = 0;
	for (;;) {
		unsigned n = io_uring_peek_batch_cqe(&h->ring, cqes, HTTPC_CQE_BATCH);
		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			ud[i] = io_uring_cqe_get_data64(cqes[i]);
			res[i] = cqes[i]->res;
		}
		io_uring_cq_advance(&h->ring, n);
		for (unsigned i = 0; i < n; i++)
			httpc_on_cqe(h, ud[i], res[i]);
		total += n;
	}
	if (io_uring_sq_ready(&h->ring))
		io_uring_submit(&h->ring);
	return total;
}

unsigned httpc_run(struct httpc *h, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000};
	if (io_uring_sq_ready(&h->ring))
		io_uring_submit(&h->ring);
	if (io_uring_wait_cqe_timeout(&h->ring, &cqe, &ts) != 0)
		return 0;
	return httpc_poll(h);
}

int httpc_req_start(struct httpc_req *r, int64_t timeout_ms)
{
	if (r->busy || r->orphan)
		return -EBUSY;
	r->err[0] = '\0';
	r->body = NULL;
	r->body_len = 0;
	r->retried = 0;
	r->content_type[0] = '\0';
	if (r->cap > HTTPC_BUF_KEEP) {
		free(r->buf);
		r->buf = NULL;
		r->cap = 0;
	}
	r->deadline_ns = httpc_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000ull;
	int rc = httpc_attempt(r);
	if (rc != 0)
		return rc;
	r->busy = 1;
	r->h->stats.requests++;
	io_uring_submit(&r->h->ring);
	return 0;
}

void httpc_req_free(struct httpc_req *r)
{
	if (!r)
		return;
	if (r->inflight == 0) {
		httpc_destroy(r);
		return;
	}
	r->orphan = 1;
	r->busy = 0;
	if (r->op != HTTPC_OP_NONE) {
		/* Cancel the data operation so the kernel lets go of r soon. */
		struct io_uring_sqe *s = httpc_sqe_pair(r->h);
		io_uring_prep_cancel64(s, (uint64_t)(uintptr_t)r | HTTPC_TAG_OP, 0);
		io_uring_sqe_set_data64(s, (uint64_t)(uintptr_t)r | HTTPC_TAG_CANCEL);
		r->inflight++;
		r->op = HTTPC_OP_NONE;
		io_uring_submit(&r->h->ring);
	}
}

/* ---- ring and eventfd ---- */

static void httpc_on_eventfd(evutil_socket_t fd, short what, void *arg)
{
	struct httpc *h = arg;
	uint64_t v;
	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("httpc: read(eventfd) failed: %s", strerror(errno));
	httpc_poll(h);
}

int httpc_init(struct httpc *h, unsigned entries, struct event_base *base)
{
	struct io_uring_params p;
	memset(h, 0, sizeof(*h));
	h->efd = -1;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 4;
	int rc = io_uring_queue_init_params(entries, &h->ring, &p);
	if (rc < 0) {
		log_error("io_uring_queue_init_params(%u) failed: %s", entries, strerror(-rc));
		return rc;
	}
	h->ring_ok = 1;
	if (!base)
		return 0;
	h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->efd < 0) {
		rc = -errno;
		log_error("eventfd() failed: %s", strerror(-rc));
		goto fail;
	}
	rc = io_uring_register_eventfd(&h->ring, h->efd);
	if (rc < 0) {
		log_error("io_uring_register_eventfd() failed: %s", strerror(-rc));
		goto fail;
	}
	h->ev = event_new(base, h->efd, EV_READ | EV_PERSIST, httpc_on_eventfd, h);
	if (!h->ev || event_add(h->ev, NULL) != 0) {
		log_error("event_new/event_add for the io_uring eventfd failed");
		rc = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	httpc_fini(h);
	return rc;
}

void httpc_fini(struct httpc *h)
{
	if (h->ev)
		event_free(h->ev);
	h->ev = NULL;
	if (h->ring_ok)
		io_uring_queue_exit(&h->ring);
	h->ring_ok = 0;
	if (h->efd >= 0)
		close(h->efd);
	h->efd = -1;
	free(h->scratch);
	h->scratch = NULL;
	h->scratch_cap = 0;
}
