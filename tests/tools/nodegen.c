/* nodegen: realistic node_exporter-like data as Prometheus remote write 1.0
 * request files (snappy-compressed prometheus.WriteRequest), for the
 * storage benchmark (scripts/bench_storage.py).
 *
 *   nodegen [-H] [-p] [-o OMDIR] OUTDIR SERIES SAMPLES SERIES_PER_REQ BASE_MS
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
 *
 * Options (without them the output is byte for byte what it always was):
 *   -H        each host also gets a classic histogram,
 *             node_http_request_duration_seconds_bucket{handler="/metrics",
 *             le=...} (11 bounds and +Inf) with _sum and _count, 14 series
 *             per host after the SERIES plain ones, in the same requests.
 *   -p        each host scrapes at its own fixed phase within the 15 s, as
 *             Prometheus spreads its targets: BASE_MS + 0..14 s + 7..989 ms,
 *             never a whole second even with the jitter, so that a query
 *             grid of whole seconds never meets a sample and left-closed
 *             (Prometheus 2) and left-open (Prometheus 3) range windows
 *             select the same samples.
 *   -o OMDIR  the same samples also as OpenMetrics text for
 *             `promtool tsdb create-blocks-from openmetrics`: one file per
 *             aligned 2 h window of sample times (OMDIR/om-<window start s>.txt, each ending
 *             in "# EOF", timestamps in seconds), so that promtool reads
 *             each sample once instead of once per block. A file is
 *             written as .txt.part and renamed once complete, so a reader
 *             can convert each window while later ones are generated. promtool turns a
 *             timestamp into milliseconds as int64(seconds * 1000); a
 *             jittered time whose decimal seconds do not come back exactly
 *             moves 1 ms later, in both outputs, so both hold the same data.
 */
#include <errno.h>
#include <getopt.h>
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

/* One host's histogram: cumulative bucket counts, the +Inf bucket last. */
#define NODEGEN_HIST_BUCKETS 12
#define NODEGEN_HIST_SERIES (NODEGEN_HIST_BUCKETS + 2)
static const char *const nodegen_hist_le[NODEGEN_HIST_BUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"};
static const double nodegen_hist_bound[NODEGEN_HIST_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20};

struct nodegen_hist {
	double cum[NODEGEN_HIST_BUCKETS]; /* requests at or below each bound */
	double sum;                       /* seconds, three decimals */
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

/* Advances host h's histogram by one scrape: up to 40 requests, most of
 * them fast, a few in the tail. */
static void nodegen_hist_step(struct nodegen_hist *hi)
{
	uint64_t n = nodegen_next(&hi->rng) % 41;
	for (uint64_t j = 0; j < n; j++) {
		uint64_t r = nodegen_next(&hi->rng);
		int b = (int)(r % 100 < 60 ? r % 4 : r % 100 < 95 ? 4 + r % 4 : 8 + r % 4);
		double lo = b ? nodegen_hist_bound[b - 1] : 0.0;
		double d = lo + (nodegen_hist_bound[b] - lo) * (double)((r >> 20) % 1000) / 1000.0;
		for (int k = b; k < NODEGEN_HIST_BUCKETS; k++)
			hi->cum[k] += 1;
		hi->sum = round((hi->sum + d) * 1000) / 1000;
	}
}

/* Names histogram series j (0..NODEGEN_HIST_SERIES-1) of host h. */
static void nodegen_hist_init(struct nodegen_series *se, long h, int j)
{
	memset(se, 0, sizeof(*se));
	snprintf(se->labels[0][0], 48, "instance");
	snprintf(se->labels[0][1], 48, "host%04ld:9100", h);
	snprintf(se->labels[1][0], 48, "job");
	snprintf(se->labels[1][1], 48, "node");
	snprintf(se->labels[2][0], 48, "handler");
	snprintf(se->labels[2][1], 48, "/metrics");
	se->nlabels = 3;
	if (j < NODEGEN_HIST_BUCKETS) {
		snprintf(se->name, sizeof(se->name), "node_http_request_duration_seconds_bucket");
		snprintf(se->labels[3][0], 48, "le");
		snprintf(se->labels[3][1], 48, "%s", nodegen_hist_le[j]);
		se->nlabels = 4;
	} else {
		snprintf(se->name, sizeof(se->name), "node_http_request_duration_seconds_%s",
			 j == NODEGEN_HIST_BUCKETS ? "sum" : "count");
	}
}

static double nodegen_hist_value(const struct nodegen_hist *hi, int j)
{
	if (j < NODEGEN_HIST_BUCKETS)
		return hi->cum[j];
	return j == NODEGEN_HIST_BUCKETS ? hi->sum : hi->cum[NODEGEN_HIST_BUCKETS - 1];
}

/* Whether promtool reads the decimal seconds of ts_ms back as exactly ts_ms
 * (it computes int64(seconds * 1000) from the parsed double). */
static int nodegen_om_exact(int64_t ts_ms)
{
	char buf[48];
	snprintf(buf, sizeof(buf), "%" PRId64 ".%03" PRId64, ts_ms / 1000, ts_ms % 1000);
	return strtod(buf, NULL) * 1000.0 == (double)ts_ms;
}

/* OpenMetrics output, one file per aligned 2 h window. The samples of one
 * scrape round span less than 16 s, so at most two windows are open: when a
 * third begins, the older one has had its last sample. */
struct nodegen_om {
	const char *dir;
	FILE *f[2];
	int64_t window[2]; /* start of each open file's window, ms */
};

static void nodegen_om_path(const struct nodegen_om *om, int64_t window, int part, char *path, size_t len)
{
	snprintf(path, len, "%s/om-%" PRId64 ".txt%s", om->dir, window / 1000, part ? ".part" : "");
}

/* Ends file k with "# EOF" and gives it its final name. Returns 0 or
 * -EIO (logged). */
static int nodegen_om_close_one(struct nodegen_om *om, int k)
{
	char part[4096], done[4096];
	if (!om->f[k])
		return 0;
	int bad = fputs("# EOF\n", om->f[k]) < 0;
	bad |= fclose(om->f[k]) != 0;
	om->f[k] = NULL;
	nodegen_om_path(om, om->window[k], 1, part, sizeof(part));
	nodegen_om_path(om, om->window[k], 0, done, sizeof(done));
	if (bad || rename(part, done) != 0) {
		fprintf(stderr, "nodegen: writing %s: %s\n", part, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* The file for a sample at ts_ms, opened on first use; NULL after a
 * logged failure. */
static FILE *nodegen_om_file(struct nodegen_om *om, int64_t ts_ms)
{
	int64_t w = ts_ms - ts_ms % 7200000;
	for (int k = 0; k < 2; k++)
		if (om->f[k] && om->window[k] == w)
			return om->f[k];
	int k = !om->f[0] ? 0 : !om->f[1] ? 1 : om->window[0] < om->window[1] ? 0 : 1;
	if (nodegen_om_close_one(om, k) != 0)
		return NULL;
	char path[4096];
	nodegen_om_path(om, w, 1, path, sizeof(path));
	om->f[k] = fopen(path, "w");
	if (!om->f[k]) {
		fprintf(stderr, "nodegen: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	setvbuf(om->f[k], NULL, _IOFBF, 1 << 22);
	om->window[k] = w;
	return om->f[k];
}

static int nodegen_om_close(struct nodegen_om *om)
{
	int a = nodegen_om_close_one(om, 0), b = nodegen_om_close_one(om, 1);
	return a ? a : b;
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
	struct nodegen_om om = {0};
	int hist = 0, phased = 0, opt;
	while ((opt = getopt(argc, argv, "Hpo:")) != -1) {
		if (opt == 'H') {
			hist = 1;
		} else if (opt == 'p') {
			phased = 1;
		} else if (opt == 'o') {
			om.dir = optarg;
		} else {
			fprintf(stderr, "usage: nodegen [-H] [-p] [-o OMDIR] OUTDIR SERIES SAMPLES SERIES_PER_REQ BASE_MS\n");
			return 1;
		}
	}
	if (argc - optind != 5) {
		fprintf(stderr, "usage: nodegen [-H] [-p] [-o OMDIR] OUTDIR SERIES SAMPLES SERIES_PER_REQ BASE_MS\n");
		return 1;
	}
	argv += optind - 1;
	const char *dir = argv[1];
	long nplain = atol(argv[2]), nsamples = atol(argv[3]), per = atol(argv[4]);
	int64_t base = strtoll(argv[5], NULL, 10);
	if (nplain <= 0 || nsamples <= 0 || per <= 0) {
		fprintf(stderr, "nodegen: counts must be positive\n");
		return 1;
	}
	long nhosts = (nplain + 99) / 100;
	long nseries = nplain + (hist ? nhosts * NODEGEN_HIST_SERIES : 0);
	struct nodegen_series *se = calloc((size_t)nseries, sizeof(*se));
	struct nodegen_hist *hi = calloc((size_t)nhosts, sizeof(*hi));
	char (*prefix)[256] = om.dir ? calloc((size_t)nseries, sizeof(*prefix)) : NULL;
	if (!se || !hi || (om.dir && !prefix)) {
		fprintf(stderr, "nodegen: out of memory\n");
		return 1;
	}
	for (long s = 0; s < nplain; s++)
		nodegen_init(&se[s], s);
	for (long h = 0; h < nhosts; h++) {
		hi[h].rng = 0x2545f4914f6cdd1dull ^ (uint64_t)(h + 1) * 0x94d049bb133111ebull;
		for (int j = 0; hist && j < NODEGEN_HIST_SERIES; j++)
			nodegen_hist_init(&se[nplain + h * NODEGEN_HIST_SERIES + j], h, j);
	}
	for (long s = 0; prefix && s < nseries; s++) {
		int n = snprintf(prefix[s], sizeof(prefix[s]), "%s{", se[s].name);
		for (int l = 0; l < se[s].nlabels; l++)
			n += snprintf(prefix[s] + n, sizeof(prefix[s]) - (size_t)n, "%s%s=\"%s\"", l ? "," : "",
				      se[s].labels[l][0], se[s].labels[l][1]);
		snprintf(prefix[s] + n, sizeof(prefix[s]) - (size_t)n, "} ");
	}
	int64_t phase[4096] = {0};
	for (long h = 0; phased && h < nhosts && h < 4096; h++) {
		uint64_t r = 0xd1b54a32d192ed03ull * (uint64_t)(h + 1);
		r ^= r >> 29;
		phase[h] = (int64_t)(r % 15) * 1000 + 7 + (int64_t)(r >> 8) % 983;
	}
	uint64_t host_rng = 12345;
	long nreq = 0;
	uint64_t bytes = 0;
	size_t cap = 0;
	char *out = NULL;
	for (long i = 0; i < nsamples; i++) {
		/* Scrape times repeat every 4096 hosts (the per-round tables). */
		int64_t jitter[4096];
		char tstext[4096][32];
		for (long h = 0; h < nhosts && h < 4096; h++) {
			jitter[h] = nodegen_next(&host_rng) % 5 == 0 ? (int64_t)(1 + nodegen_next(&host_rng) % 5) : 0;
			if (!om.dir)
				continue;
			while (!nodegen_om_exact(base + i * 15000 + phase[h] + jitter[h]))
				jitter[h]++;
			int64_t t = base + i * 15000 + phase[h] + jitter[h];
			snprintf(tstext[h], sizeof(tstext[h]), "%" PRId64 ".%03" PRId64, t / 1000, t % 1000);
		}
		if (hist && i > 0)
			for (long h = 0; h < nhosts; h++)
				nodegen_hist_step(&hi[h]);
		for (long k = 0; k < nseries; k += per) {
			struct pb_writer req = {0};
			for (long s = k; s < k + per && s < nseries; s++) {
				struct pb_writer ts = {0}, smp = {0};
				long h = s < nplain ? s / 100 : (s - nplain) / NODEGEN_HIST_SERIES;
				if (s >= nplain)
					se[s].v = nodegen_hist_value(&hi[h], (int)((s - nplain) % NODEGEN_HIST_SERIES));
				nodegen_label(&ts, "__name__", se[s].name);
				for (int l = 0; l < se[s].nlabels; l++)
					nodegen_label(&ts, se[s].labels[l][0], se[s].labels[l][1]);
				pb_put_double_field(&smp, 1, se[s].v);
				int64_t t = base + i * 15000 + phase[h % 4096] + jitter[h % 4096];
				pb_put_varint_field(&smp, 2, (uint64_t)t);
				pb_put_bytes_field(&ts, 2, smp.buf, smp.len);
				pb_put_bytes_field(&req, 1, ts.buf, ts.len);
				pb_writer_free(&ts);
				pb_writer_free(&smp);
				FILE *omf = om.dir ? nodegen_om_file(&om, t) : NULL;
				if (om.dir && !omf)
					return 1;
				if (omf)
					fprintf(omf, "%s%.17g %s\n", prefix[s], se[s].v, tstext[h % 4096]);
				if (s < nplain)
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
	if (nodegen_om_close(&om) != 0)
		return 1;
	printf("%ld %ld %" PRIu64 "\n", nreq, nseries * nsamples, bytes);
	free(out);
	free(prefix);
	free(hi);
	free(se);
	return 0;
}
