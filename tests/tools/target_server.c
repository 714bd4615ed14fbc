/* target_server: many scrape targets in one process, for the scrape-load
 * benchmark (scripts/bench_scrape.py).
 *
 *   target_server --ports N [--series S] [--port-file FILE]
 *
 * Listens on N loopback ports (the kernel picks them; the list goes to
 * FILE, one per line, written once every socket listens) and answers any
 * GET with a node_exporter-like page of about S series (default 1000) in
 * the Prometheus text format, keep-alive, Content-Length. Every response
 * carries new values: counters grow with the request count, gauges wander.
 * One thread, epoll, non-blocking sockets; a response that does not fit the
 * socket buffer at once is finished when the socket drains.
 *
 * Values are written with a fixed width (zero-padded integers) so a page is
 * rendered once and only its value fields are patched per request: the
 * server's own CPU stays small next to the scrapers it feeds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TS_VALUE_WIDTH 12
#define TS_MAX_EVENTS  512

struct ts_conn {
	int fd;
	int listener;          /* 1 for a listening socket */
	char in[4096];
	size_t in_len;
	char *out;             /* unsent rest of a response */
	size_t out_len, out_off;
};

static char *ts_page;          /* rendered page, values patched in place */
static size_t ts_page_len;
static size_t *ts_value_off;   /* offsets of the value fields */
static uint32_t *ts_value_kind;/* 0 counter, 1 gauge */
static size_t ts_nvalues;
static uint64_t ts_requests;

/* Appends one sample line with a placeholder value. */
static void ts_line(char **p, size_t *len, size_t *cap, int kind, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void ts_line(char **p, size_t *len, size_t *cap, int kind, const char *fmt, ...)
{
	va_list ap;
	if (*cap - *len < 1024) {
		*cap *= 2;
		*p = realloc(*p, *cap);
	}
	va_start(ap, fmt);
	*len += (size_t)vsnprintf(*p + *len, *cap - *len, fmt, ap);
	va_end(ap);
	if (kind >= 0) {
		(*p)[(*len)++] = ' ';
		ts_value_off = realloc(ts_value_off, (ts_nvalues + 1) * sizeof(*ts_value_off));
		ts_value_kind = realloc(ts_value_kind, (ts_nvalues + 1) * sizeof(*ts_value_kind));
		ts_value_off[ts_nvalues] = *len;
		ts_value_kind[ts_nvalues++] = (uint32_t)kind;
		memset(*p + *len, '0', TS_VALUE_WIDTH);
		*len += TS_VALUE_WIDTH;
	}
	(*p)[(*len)++] = '\n';
}

/* Renders a page of about `series` samples shaped like node_exporter's. */
static void ts_render(int series)
{
	size_t cap = 1 << 16, len = 0;
	char *p = malloc(cap);
	static const char *modes[] = {"idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"};
	static const char *netm[] = {"receive_bytes_total", "receive_packets_total", "receive_errs_total",
				     "receive_drop_total", "transmit_bytes_total", "transmit_packets_total",
				     "transmit_errs_total", "transmit_drop_total"};
	static const char *diskm[] = {"reads_completed_total", "writes_completed_total", "read_bytes_total",
				      "written_bytes_total", "io_time_seconds_total", "read_time_seconds_total",
				      "write_time_seconds_total", "io_now"};
	int n = 0;
	ts_line(&p, &len, &cap, -1, "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.");
	ts_line(&p, &len, &cap, -1, "# TYPE node_cpu_seconds_total counter");
	for (int c = 0; c < 16 && n < series; c++)
		for (int m = 0; m < 8 && n < series; m++, n++)
			ts_line(&p, &len, &cap, 0, "node_cpu_seconds_total{cpu=\"%d\",mode=\"%s\"}", c, modes[m]);
	for (int k = 0; k < 8 && n < series; k++) {
		ts_line(&p, &len, &cap, -1, "# HELP node_network_%s Network device statistic %s.", netm[k], netm[k]);
		ts_line(&p, &len, &cap, -1, "# TYPE node_network_%s counter", netm[k]);
		for (int d = 0; d < 12 && n < series; d++, n++)
			ts_line(&p, &len, &cap, 0, "node_network_%s{device=\"eth%d\"}", netm[k], d);
	}
	for (int k = 0; k < 8 && n < series; k++) {
		ts_line(&p, &len, &cap, -1, "# HELP node_disk_%s Disk statistic %s.", diskm[k], diskm[k]);
		ts_line(&p, &len, &cap, -1, "# TYPE node_disk_%s %s", diskm[k], k == 7 ? "gauge" : "counter");
		for (int d = 0; d < 12 && n < series; d++, n++)
			ts_line(&p, &len, &cap, k == 7, "node_disk_%s{device=\"sd%c\"}", diskm[k], 'a' + d);
	}
	static const char *fsm[] = {"avail_bytes", "files", "files_free", "free_bytes", "readonly", "size_bytes"};
	for (int k = 0; k < 6 && n < series; k++) {
		ts_line(&p, &len, &cap, -1, "# HELP node_filesystem_%s Filesystem %s.", fsm[k], fsm[k]);
		ts_line(&p, &len, &cap, -1, "# TYPE node_filesystem_%s gauge", fsm[k]);
		for (int d = 0; d < 10 && n < series; d++, n++)
			ts_line(&p, &len, &cap, 1, "node_filesystem_%s{device=\"/dev/sd%c1\",fstype=\"ext4\",mountpoint=\"/mnt/data%d\"}",
				fsm[k], 'a' + d, d);
	}
	ts_line(&p, &len, &cap, -1, "# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.");
	ts_line(&p, &len, &cap, -1, "# TYPE go_gc_duration_seconds summary");
	static const char *q[] = {"0", "0.25", "0.5", "0.75", "1"};
	for (int k = 0; k < 5 && n < series; k++, n++)
		ts_line(&p, &len, &cap, 1, "go_gc_duration_seconds{quantile=\"%s\"}", q[k]);
	/* The rest: an interrupts-like family with many label values. */
	ts_line(&p, &len, &cap, -1, "# HELP node_interrupts_total Interrupt details.");
	ts_line(&p, &len, &cap, -1, "# TYPE node_interrupts_total counter");
	for (int i = 0; n < series; i++, n++)
		ts_line(&p, &len, &cap, 0, "node_interrupts_total{cpu=\"%d\",devices=\"dev%d\",type=\"%d\"}", i % 16, i / 16, i);
	ts_page = p;
	ts_page_len = len;
}

/* Patches new values into the page: counters grow, gauges wander. */
static void ts_patch(uint64_t req)
{
	for (size_t i = 0; i < ts_nvalues; i++) {
		uint64_t v = ts_value_kind[i] == 0 ? req * (i % 7 + 1) + i * 1000 : (req * 7919 + i * 104729) % 1000000;
		char *d = ts_page + ts_value_off[i] + TS_VALUE_WIDTH;
		for (int k = 0; k < TS_VALUE_WIDTH; k++) {
			*--d = (char)('0' + v % 10);
			v /= 10;
		}
	}
}

static int ts_epfd;

static void ts_close(struct ts_conn *c)
{
	close(c->fd);
	free(c->out);
	free(c);
}

/* Sends the page as a response; keeps what did not go out. Returns 0, -1
 * when the connection must close. */
static int ts_respond(struct ts_conn *c)
{
	char head[256];
	ts_patch(++ts_requests);
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			  "Content-Length: %zu\r\n\r\n", ts_page_len);
	struct iovec iov[2] = {{head, (size_t)hl}, {ts_page, ts_page_len}};
	ssize_t w = writev(c->fd, iov, 2);
	size_t total = (size_t)hl + ts_page_len;
	if (w < 0 && errno != EAGAIN)
		return -1;
	if (w < 0)
		w = 0;
	if ((size_t)w == total)
		return 0;
	c->out_len = total - (size_t)w;
	c->out = malloc(c->out_len);
	c->out_off = 0;
	size_t skip = (size_t)w;
	if (skip < (size_t)hl) {
		memcpy(c->out, head + skip, (size_t)hl - skip);
		memcpy(c->out + (size_t)hl - skip, ts_page, ts_page_len);
	} else {
		memcpy(c->out, ts_page + (skip - (size_t)hl), total - skip);
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	epoll_ctl(ts_epfd, EPOLL_CTL_MOD, c->fd, &ev);
	return 0;
}

static int ts_on_readable(struct ts_conn *c)
{
	for (;;) {
		ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (r == 0)
			return -1;
		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		c->in_len += (size_t)r;
		char *end;
		while ((end = memmem(c->in, c->in_len, "\r\n\r\n", 4))) {
			size_t used = (size_t)(end - c->in) + 4;
			memmove(c->in, c->in + used, c->in_len - used);
			c->in_len -= used;
			if (c->out)
				return -1; /* pipelining is not served */
			if (ts_respond(c) != 0)
				return -1;
		}
		if (c->in_len == sizeof(c->in))
			return -1;
	}
}

static int ts_on_writable(struct ts_conn *c)
{
	while (c->out && c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		c->out_off += (size_t)w;
	}
	free(c->out);
	c->out = NULL;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	epoll_ctl(ts_epfd, EPOLL_CTL_MOD, c->fd, &ev);
	return 0;
}

int main(int argc, char **argv)
{
	int nports = 100, series = 1000;
	const char *port_file = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ports") == 0 && i + 1 < argc)
			nports = atoi(argv[++i]);
		else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc)
			series = atoi(argv[++i]);
		else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
			port_file = argv[++i];
		else {
			fprintf(stderr, "usage: target_server --ports N [--series S] [--port-file FILE]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ts_render(series);
	ts_epfd = epoll_create1(EPOLL_CLOEXEC);
	FILE *pf = NULL;
	char tmp[1024];
	if (port_file) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		pf = fopen(tmp, "w");
		if (!pf) {
			perror("fopen(port file)");
			return 1;
		}
	}
	for (int i = 0; i < nports; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof(a);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128) != 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
			perror("socket/bind/listen");
			return 1;
		}
		struct ts_conn *c = calloc(1, sizeof(*c));
		c->fd = fd;
		c->listener = 1;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(ts_epfd, EPOLL_CTL_ADD, fd, &ev);
		if (pf)
			fprintf(pf, "%d\n", ntohs(a.sin_port));
	}
	if (pf) {
		fclose(pf);
		rename(tmp, port_file);
	}
	fprintf(stderr, "target_server: %d ports, %zu series, page %zu bytes\n", nports, ts_nvalues, ts_page_len);
	struct epoll_event evs[TS_MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(ts_epfd, evs, TS_MAX_EVENTS, -1);
		for (int i = 0; i < n; i++) {
			struct ts_conn *c = evs[i].data.ptr;
			if (c->listener) {
				for (;;) {
					int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0)
						break;
					int one = 1;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					struct ts_conn *k = calloc(1, sizeof(*k));
					k->fd = fd;
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = k};
					epoll_ctl(ts_epfd, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			int rc = 0;
			if (evs[i].events & EPOLLOUT)
				rc = ts_on_writable(c);
			if (rc == 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				rc = ts_on_readable(c);
			if (rc != 0)
				ts_close(c);
		}
	}
}
