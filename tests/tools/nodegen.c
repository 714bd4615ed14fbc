/* nodegen: realistic node_exporter-like data as Prometheus remote write 1.0
 * request files (snappy-compressed prometheus.WriteRequest), for the
 * storage benchmark (scripts/bench_storage.py).
 *
 *   nodegen OUTDIR SERIES SAMPLES SERIES_PER_REQ BASE_MS
 *
 * 100 distinct series per host; the family of series s is s % 10: counters with two
 * or three decimals (CPU and disk seconds), integer byte counters, integer
 * byte gauges, constant sizes, load and temperature gauges with one or two
 * decimals, small integer gauges and constant info-like series. Samples
 * are 15 s apart; one scrape in five of a host is 1-5 ms late, and every
 * series of a host shares its scrape times, as a real scrape does. Values
 * come from a fixed-seed generator: the files are the same every run.
 * Requests go time-major: sample i of series [k, k+SERIES_PER_REQ), all k,
 * then sample i+1. Prints "requests samples bytes". Exit 0, or 1 with a
 * message.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pb.h"

struct nodegen_series {
	char name[64];
	char labels[4][2][48];
	int nlabels;
	double v;
	uint64_t rng;
};

static uint64_t nodegen_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void nodegen_init(struct nodegen_series *se, long s)
{
	static const char *const modes[] = {"user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"};
	long host = s / 100, k = s % 100;
	memset(se, 0, sizeof(*se));
	se->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(s + 1) * 0xbf58476d1ce4e5b9ull;
	nodegen_next(&se->rng);
	snprintf(se->labels[0][0], 48, "instance");
	snprintf(se->labels[0][1], 48, "host%04ld:9100", host);
	snprintf(se->labels[1][0], 48, "job");
	snprintf(se->labels[1][1], 48, "node");
	se->nlabels = 2;
	uint64_t r = nodegen_next(&se->rng);
	switch (k % 10) {
	case 0:
		snprintf(se->name, sizeof(se->name), "node_cpu_seconds_total");
		snprintf(se->labels[2][0], 48, "cpu");
		snprintf(se->labels[2][1], 48, "%ld", k / 10);
		snprintf(se->labels[3][0], 48, "mode");
		snprintf(se->labels[3][1], 48, "%s", modes[r % 8]);
		se->nlabels = 4;
		se->v = (double)(r % 10000000) / 100.0;
		break;
	case 1:
		snprintf(se->name, sizeof(se->name), "node_memory_numa_MemFree_bytes");
		snprintf(se->labels[2][0], 48, "node");
		snprintf(se->labels[2][1], 48, "%ld", k / 10);
		se->nlabels = 3;
		se->v = (double)((r % 4000000) * 4096);
		break;
	case 2:
		snprintf(se->name, sizeof(se->name), "node_network_receive_bytes_total");
		snprintf(se->labels[2][0], 48, "device");
		snprintf(se->labels[2][1], 48, "eth%ld", k / 10);
		se->nlabels = 3;
		se->v = (double)(r % 1000000000000ull);
		break;
	case 3:
		snprintf(se->name, sizeof(se->name), "node_filesystem_size_bytes");
		snprintf(se->labels[2][0], 48, "mountpoint");
		snprintf(se->labels[2][1], 48, "/mnt/d%ld", k / 10);
		se->nlabels = 3;
		se->v = (double)((r % 1000000) * 1048576);
		break;
	case 4:
		snprintf(se->name, sizeof(se->name), "node_load%ld", k / 10 % 3 == 0 ? 1L : k / 10 % 3 == 1 ? 5L : 15L);
		snprintf(se->labels[2][0], 48, "slot");
		snprintf(se->labels[2][1], 48, "%ld", k / 10);
		se->nlabels = 3;
		se->v = (double)(r % 400) / 100.0;
		break;
	case 5:
		snprintf(se->name, sizeof(se->name), "node_disk_io_time_seconds_total");
		snprintf(se->labels[2][0], 48, "device");
		snprintf(se->labels[2][1], 48, "sd%c", (char)('a' + k / 10));
		se->nlabels = 3;
		se->v = (double)(r % 100000000) / 1000.0;
		break;
	case 6:
		snprintf(se->name, sizeof(se->name), "node_hwmon_temp_celsius");
		snprintf(se->labels[2][0], 48, "sensor");
		snprintf(se->labels[2][1], 48, "temp%ld", k / 10);
		se->nlabels = 3;
		se->v = 30.0 + (double)(r % 300) / 10.0;
		break;
	case 7:
		snprintf(se->name, sizeof(se->name), "node_filesystem_avail_bytes");
		snprintf(se->labels[2][0], 48, "mountpoint");
		snprintf(se->labels[2][1], 48, "/mnt/d%ld", k / 10);
		se->nlabels = 3;
		se->v = (double)((r % 1000000) * 1048576);
		break;
	case 8:
		snprintf(se->name, sizeof(se->name), "node_procs_running");
		snprintf(se->labels[2][0], 48, "slot");
		snprintf(se->labels[2][1], 48, "%ld", k / 10);
		se->nlabels = 3;
		se->v = (double)(r % 8);
		break;
	default:
		snprintf(se->name, sizeof(se->name), "node_network_up");
		snprintf(se->labels[2][0], 48, "device");
		snprintf(se->labels[2][1], 48, "eth%ld", k / 10);
		se->nlabels = 3;
		se->v = 1;
		break;
	}
}

/* Moves series s to its next sample the way its family changes. */
static void nodegen_step(struct nodegen_series *se, long s)
{
	uint64_t r = nodegen_next(&se->rng);
	switch (s % 100 % 10) {
	case 0: se->v = round((se->v + (double)(r % 1500) / 100.0) * 100) / 100; break;
	case 1: if (r % 3 == 0) se->v += (double)((int64_t)(r >> 8) % 2001 - 1000) * 4096; break;
	case 2: se->v += (double)(r % 200000); break;
	case 4: se->v = fabs(round((se->v + (double)((int64_t)(r % 21) - 10) / 100.0) * 100) / 100); break;
	case 5: se->v = round((se->v + (double)(r % 15000) / 1000.0) * 1000) / 1000; break;
	case 6: if (r % 4 == 0) se->v = round((se->v + (double)((int64_t)(r % 11) - 5) / 10.0) * 10) / 10; break;
	case 7: if (r % 20 == 0) se->v -= (double)(r % 64) * 1048576; break;
	case 8: se->v = (double)(r % 8 < 6 ? 1 + r % 3 : r % 8); break;
	default: break; /* constants */
	}
}

static void nodegen_label(struct pb_writer *ts, const char *name, const char *value)
{
	struct pb_writer l = {0};
	pb_put_bytes_field(&l, 1, name, strlen(name));
	pb_put_bytes_field(&l, 2, value, strlen(value));
	pb_put_bytes_field(ts, 1, l.buf, l.len);
	pb_writer_free(&l);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: nodegen OUTDIR SERIES SAMPLES SERIES_PER_REQ BASE_MS\n");
		return 1;
	}
	const char *dir = argv[1];
	long nseries = atol(argv[2]), nsamples = atol(argv[3]), per = atol(argv[4]);
	int64_t base = strtoll(argv[5], NULL, 10);
	if (nseries <= 0 || nsamples <= 0 || per <= 0) {
		fprintf(stderr, "nodegen: counts must be positive\n");
		return 1;
	}
	struct nodegen_series *se = calloc((size_t)nseries, sizeof(*se));
	if (!se) {
		fprintf(stderr, "nodegen: out of memory\n");
		return 1;
	}
	for (long s = 0; s < nseries; s++)
		nodegen_init(&se[s], s);
	uint64_t host_rng = 12345;
	long nreq = 0;
	uint64_t bytes = 0;
	size_t cap = 0;
	char *out = NULL;
	for (long i = 0; i < nsamples; i++) {
		long nhosts = (nseries + 99) / 100;
		int64_t jitter[4096];
		for (long h = 0; h < nhosts && h < 4096; h++)
			jitter[h] = nodegen_next(&host_rng) % 5 == 0 ? (int64_t)(1 + nodegen_next(&host_rng) % 5) : 0;
		for (long k = 0; k < nseries; k += per) {
			struct pb_writer req = {0};
			for (long s = k; s < k + per && s < nseries; s++) {
				struct pb_writer ts = {0}, smp = {0};
				nodegen_label(&ts, "__name__", se[s].name);
				for (int l = 0; l < se[s].nlabels; l++)
					nodegen_label(&ts, se[s].labels[l][0], se[s].labels[l][1]);
				pb_put_double_field(&smp, 1, se[s].v);
				pb_put_varint_field(&smp, 2, (uint64_t)(base + i * 15000 + jitter[(s / 100) % 4096]));
				pb_put_bytes_field(&ts, 2, smp.buf, smp.len);
				pb_put_bytes_field(&req, 1, ts.buf, ts.len);
				pb_writer_free(&ts);
				pb_writer_free(&smp);
				nodegen_step(&se[s], s);
			}
			size_t need = snappy_max_compressed_length(req.len);
			if (need > cap) {
				free(out);
				cap = need;
				out = malloc(cap);
			}
			size_t olen = cap;
			if (!out || req.oom || snappy_compress((const char *)req.buf, req.len, out, &olen) != SNAPPY_OK) {
				fprintf(stderr, "nodegen: encoding failed\n");
				return 1;
			}
			char path[4096];
			snprintf(path, sizeof(path), "%s/req-%07ld.bin", dir, nreq++);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(out, 1, olen, f) != olen || fclose(f) != 0) {
				fprintf(stderr, "nodegen: %s: %s\n", path, strerror(errno));
				return 1;
			}
			bytes += olen;
			pb_writer_free(&req);
		}
	}
	printf("%ld %ld %" PRIu64 "\n", nreq, nseries * nsamples, bytes);
	free(out);
	free(se);
	return 0;
}
