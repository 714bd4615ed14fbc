/* bench_textparse: throughput of textparse_parse on a real exposition body.
 *
 * Usage: bench_textparse <file> [prom|om] [seconds]
 *
 * Reads <file> (e.g. conformance/textparse/alltypes.237mfs.prom.txt),
 * concatenates it with itself up to about 8 MiB so the loop measures the
 * parser rather than per-call overhead (PROM only: an OpenMetrics body ends
 * at # EOF and its families may not repeat, so it is parsed as is), then
 * parses the buffer repeatedly for the given time (default 2 s) with a
 * callback that only sums the values. Prints MB/s and samples/s.
 *
 * Not a correctness test: see conformance_textparse and test_textparse.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/textparse.h"

struct bench_textparse_acc {
	size_t samples;
	double sum;
};

static int bench_textparse_cb(void *ctx, const struct textparse_sample *s)
{
	struct bench_textparse_acc *a = ctx;
	a->samples++;
	a->sum += s->value + (double)s->nlabels;
	return 0;
}

static double bench_textparse_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	enum textparse_format fmt = TEXTPARSE_PROM;
	double secs = 2.0;
	FILE *f;
	char *one = NULL, *buf = NULL;
	long flen;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s <file> [prom|om] [seconds]\n", argv[0]);
		return 2;
	}
	if (argc >= 3 && strcmp(argv[2], "om") == 0)
		fmt = TEXTPARSE_OPENMETRICS;
	if (argc >= 4)
		secs = atof(argv[3]);
	f = fopen(argv[1], "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0 || (flen = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "cannot read %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	one = malloc((size_t)flen);
	if (!one || fread(one, 1, (size_t)flen, f) != (size_t)flen) {
		fprintf(stderr, "fread(%s) failed\n", argv[1]);
		return 2;
	}
	fclose(f);

	size_t reps = fmt == TEXTPARSE_PROM ? (8u << 20) / (size_t)flen + 1 : 1;
	size_t len = reps * (size_t)flen;
	buf = malloc(len);
	if (!buf)
		return 2;
	for (size_t i = 0; i < reps; i++)
		memcpy(buf + i * (size_t)flen, one, (size_t)flen);

	struct bench_textparse_acc acc = {0};
	struct textparse_error err;
	int rc = textparse_parse(buf, len, fmt, bench_textparse_cb, NULL, &acc, &err);
	if (rc != 0) {
		fprintf(stderr, "parse failed: %d at %u:%u: %s\n", rc, err.line, err.column,
			err.msg);
		return 1;
	}
	size_t per_parse = acc.samples;

	size_t iters = 0;
	double t0 = bench_textparse_now(), t;
	do {
		textparse_parse(buf, len, fmt, bench_textparse_cb, NULL, &acc, &err);
		iters++;
		t = bench_textparse_now();
	} while (t - t0 < secs);
	double el = t - t0;
	printf("bench_textparse: %s: %zu bytes x %zu iterations in %.2f s: %.1f MB/s, %.2f M "
	       "samples/s (%zu samples per body, checksum %g)\n",
	       argv[1], len, iters, el, (double)len * (double)iters / el / 1e6,
	       (double)per_parse * (double)iters / el / 1e6, per_parse, acc.sum);
	free(one);
	free(buf);
	return 0;
}
