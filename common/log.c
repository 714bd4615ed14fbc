/* log: see log.h. A line is formatted into one buffer and written with one
 * write(2), so lines from several processes sharing stderr do not mix. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_proc[64] = "mcs";
static int log_json;
static enum log_level log_min = LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *proc, int json)
{
	snprintf(log_proc, sizeof(log_proc), "%s", proc);
	log_json = json;
}

void log_set_level(enum log_level level)
{
	log_min = level;
}

/* Appends s JSON-escaped to buf at *n (bounded by cap). It stops while
 * 4 bytes are left after the longest escape (6), so the closing "}\n and
 * its NUL always fit and a truncated line is still one JSON object. */
static void log_json_escape(char *buf, size_t cap, size_t *n, const char *s)
{
	for (; *s && *n + 6 + 4 <= cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[(*n)++] = '\\';
			buf[(*n)++] = (char)c;
		} else if (c < 0x20) {
			*n += (size_t)snprintf(buf + *n, cap - *n, "\\u%04x", c);
		} else {
			buf[(*n)++] = (char)c;
		}
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < log_min)
		return;
	char msg[2048], line[4608], ts[40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", now.tv_nsec / 1000000L);

	size_t n;
	if (log_json) {
		n = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"proc\":\"%s\",\"pid\":%d,\"msg\":\"",
				     ts, log_names[level], log_proc, (int)getpid());
		log_json_escape(line, sizeof(line), &n, msg);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\"}\n");
	} else {
		n = (size_t)snprintf(line, sizeof(line), "%s %s %s pid=%d: %s\n", ts, log_names[level],
				     log_proc, (int)getpid(), msg);
	}
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
