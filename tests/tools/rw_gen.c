/* rw_gen: writes Prometheus remote write 1.0 request bodies (snappy-
 * compressed prometheus.WriteRequest, exactly what Prometheus sends) to
 * files, for scripts/bench_push.py and for manual tests with curl.
 *
 *   rw_gen OUTDIR SERIES SAMPLES SERIES_PER_REQ SAMPLES_PER_REQ BASE_MS STEP_MS
 *
 * Series s is node_<family>_...{cpu, instance, job="node", mode} (families
 * and label values as in scripts/bench_import.py); sample i of series s has
 * timestamp BASE_MS + i*STEP_MS and value ((s*7 + i*13) % 100000) / 10.
 * Requests go time-block major: all series for samples [0, SAMPLES_PER_REQ),
 * then the next block, each request SERIES_PER_REQ series x SAMPLES_PER_REQ
 * samples, written as OUTDIR/req-NNNNNN.bin in send order. Prints the
 * number of requests, samples and bytes. Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <inttypes.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pb.h"

static const char *rw_gen_families[] = {"cpu_seconds_total", "memory_bytes", "network_receive_bytes_total",
					"disk_read_bytes_total"};

static void rw_gen_label(struct pb_writer *ts, const char *name, const char *value)
{
	struct pb_writer l = {0};
	pb_put_bytes_field(&l, 1, name, strlen(name));
	pb_put_bytes_field(&l, 2, value, strlen(value));
	pb_put_bytes_field(ts, 1, l.buf, l.len);
	pb_writer_free(&l);
}

static void rw_gen_series(struct pb_writer *req, long s, long i0, long n, int64_t base_ms, int64_t step_ms)
{
	struct pb_writer ts = {0};
	char name[96], cpu[16], inst[32], mode[16];
	snprintf(name, sizeof(name), "node_%s", rw_gen_families[s % 4]);
	snprintf(cpu, sizeof(cpu), "%ld", s % 16);
	snprintf(inst, sizeof(inst), "host%03ld:9100", s / 200);
	snprintf(mode, sizeof(mode), "m%ld", s % 200 / 16);
	/* Sorted by name, as the remote write spec asks. */
	rw_gen_label(&ts, "__name__", name);
	rw_gen_label(&ts, "cpu", cpu);
	rw_gen_label(&ts, "instance", inst);
	rw_gen_label(&ts, "job", "node");
	rw_gen_label(&ts, "mode", mode);
	for (long i = i0; i < i0 + n; i++) {
		struct pb_writer sm = {0};
		pb_put_double_field(&sm, 1, (double)((s * 7 + i * 13) % 100000) / 10.0);
		pb_put_varint_field(&sm, 2, (uint64_t)(base_ms + i * step_ms));
		pb_put_bytes_field(&ts, 2, sm.buf, sm.len);
		pb_writer_free(&sm);
	}
	pb_put_bytes_field(req, 1, ts.buf, ts.len);
	pb_writer_free(&ts);
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: %s OUTDIR SERIES SAMPLES SERIES_PER_REQ SAMPLES_PER_REQ BASE_MS STEP_MS\n", argv[0]);
		return 1;
	}
	const char *dir = argv[1];
	long series = atol(argv[2]), samples = atol(argv[3]), spr = atol(argv[4]), per = atol(argv[5]);
	int64_t base_ms = strtoll(argv[6], NULL, 10), step_ms = strtoll(argv[7], NULL, 10);
	if (series <= 0 || samples <= 0 || spr <= 0 || per <= 0) {
		fprintf(stderr, "rw_gen: counts must be positive\n");
		return 1;
	}
	long nreq = 0;
	uint64_t raw_bytes = 0, z_bytes = 0;
	char *z = NULL;
	size_t zcap = 0;
	for (long i0 = 0; i0 < samples; i0 += per) {
		long n = samples - i0 < per ? samples - i0 : per;
		for (long s0 = 0; s0 < series; s0 += spr) {
			struct pb_writer req = {0};
			for (long s = s0; s < s0 + spr && s < series; s++)
				rw_gen_series(&req, s, i0, n, base_ms, step_ms);
			if (req.oom) {
				fprintf(stderr, "rw_gen: out of memory\n");
				return 1;
			}
			size_t need = snappy_max_compressed_length(req.len);
			if (need > zcap) {
				free(z);
				z = malloc(need);
				zcap = need;
				if (!z) {
					fprintf(stderr, "rw_gen: out of memory\n");
					return 1;
				}
			}
			size_t zl = zcap;
			if (snappy_compress((const char *)req.buf, req.len, z, &zl) != SNAPPY_OK) {
				fprintf(stderr, "rw_gen: snappy_compress failed\n");
				return 1;
			}
			char path[4096];
			snprintf(path, sizeof(path), "%s/req-%06ld.bin", dir, nreq);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(z, 1, zl, f) != zl || fclose(f) != 0) {
				fprintf(stderr, "rw_gen: writing %s: %s\n", path, strerror(errno));
				return 1;
			}
			raw_bytes += req.len;
			z_bytes += zl;
			nreq++;
			pb_writer_free(&req);
		}
	}
	free(z);
	printf("%ld requests, %ld samples, %" PRIu64 " bytes protobuf, %" PRIu64 " bytes snappy\n", nreq,
	       series * samples, raw_bytes, z_bytes);
	return 0;
}
