/* otlp_gen: writes OTLP/HTTP protobuf request bodies (uncompressed
 * opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest)
 * holding the same samples as rw_gen, for scripts/bench_push.py and for
 * manual tests with curl (Content-Type: application/x-protobuf).
 *
 *   otlp_gen OUTDIR SERIES SAMPLES SERIES_PER_REQ SAMPLES_PER_REQ BASE_MS STEP_MS
 *
 * Same series, values, timestamps and request split as rw_gen: series s is
 * node_<family>{cpu, instance, job="node", mode}; sample i has timestamp
 * BASE_MS + i*STEP_MS and value ((s*7 + i*13) % 100000) / 10. The labels
 * come out the way an OpenTelemetry SDK would send them and Prometheus'
 * OTLP translation turns back into the same label set:
 *   - one ResourceMetrics per instance, with resource attributes
 *     service.name="node" (-> job) and service.instance.id (-> instance)
 *     and nothing else, so no target_info series is made;
 *   - one ScopeMetrics, one Metric per family holding a Gauge (no unit,
 *     so the name gets no suffix), and one NumberDataPoint (as_double,
 *     attributes cpu and mode) per series and sample.
 * Field numbers are those of opentelemetry-proto's metrics.proto,
 * common.proto, resource.proto and metrics_service.proto.
 * Files are OUTDIR/req-NNNNNN.bin in send order. Prints the number of
 * requests, samples and bytes. Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pb.h"

/* Field numbers (opentelemetry-proto). */
enum {
	OTLP_GEN_REQ_RESOURCE_METRICS = 1, /* ExportMetricsServiceRequest */
	OTLP_GEN_RM_RESOURCE = 1,          /* ResourceMetrics */
	OTLP_GEN_RM_SCOPE_METRICS = 2,
	OTLP_GEN_RES_ATTRIBUTES = 1,       /* Resource */
	OTLP_GEN_SM_METRICS = 2,           /* ScopeMetrics */
	OTLP_GEN_METRIC_NAME = 1,          /* Metric */
	OTLP_GEN_METRIC_GAUGE = 5,
	OTLP_GEN_GAUGE_POINTS = 1,         /* Gauge */
	OTLP_GEN_NDP_TIME = 3,             /* NumberDataPoint: fixed64 time_unix_nano */
	OTLP_GEN_NDP_AS_DOUBLE = 4,
	OTLP_GEN_NDP_ATTRIBUTES = 7,
	OTLP_GEN_KV_KEY = 1,               /* KeyValue */
	OTLP_GEN_KV_VALUE = 2,
	OTLP_GEN_ANY_STRING = 1,           /* AnyValue */
};

#define OTLP_GEN_PER_INSTANCE 200 /* series per instance, as rw_gen */

static const char *otlp_gen_families[] = {"cpu_seconds_total", "memory_bytes", "network_receive_bytes_total",
					  "disk_read_bytes_total"};

/* Appends KeyValue{key, AnyValue{string_value}} as field `num` of w. */
static void otlp_gen_attr(struct pb_writer *w, uint32_t num, const char *key, const char *value)
{
	struct pb_writer any = {0}, kv = {0};
	pb_put_bytes_field(&any, OTLP_GEN_ANY_STRING, value, strlen(value));
	pb_put_bytes_field(&kv, OTLP_GEN_KV_KEY, key, strlen(key));
	pb_put_bytes_field(&kv, OTLP_GEN_KV_VALUE, any.buf, any.len);
	pb_put_bytes_field(w, num, kv.buf, kv.len);
	w->oom |= any.oom | kv.oom;
	pb_writer_free(&any);
	pb_writer_free(&kv);
}

/* Appends to gauge the points of series s, samples [i0, i0 + n). */
static void otlp_gen_points(struct pb_writer *gauge, long s, long i0, long n, int64_t base_ms, int64_t step_ms)
{
	char cpu[16], mode[16];
	snprintf(cpu, sizeof(cpu), "%ld", s % 16);
	snprintf(mode, sizeof(mode), "m%ld", s % 200 / 16);
	for (long i = i0; i < i0 + n; i++) {
		struct pb_writer p = {0};
		otlp_gen_attr(&p, OTLP_GEN_NDP_ATTRIBUTES, "cpu", cpu);
		otlp_gen_attr(&p, OTLP_GEN_NDP_ATTRIBUTES, "mode", mode);
		pb_put_fixed64_field(&p, OTLP_GEN_NDP_TIME, (uint64_t)(base_ms + i * step_ms) * 1000000u);
		pb_put_double_field(&p, OTLP_GEN_NDP_AS_DOUBLE, (double)((s * 7 + i * 13) % 100000) / 10.0);
		pb_put_bytes_field(gauge, OTLP_GEN_GAUGE_POINTS, p.buf, p.len);
		gauge->oom |= p.oom;
		pb_writer_free(&p);
	}
}

/* Appends one ResourceMetrics for the series [s0, s1) of one instance. */
static void otlp_gen_resource(struct pb_writer *req, long s0, long s1, long i0, long n, int64_t base_ms,
			      int64_t step_ms)
{
	struct pb_writer res = {0}, sm = {0}, rm = {0};
	char inst[32];
	snprintf(inst, sizeof(inst), "host%03ld:9100", s0 / OTLP_GEN_PER_INSTANCE);
	otlp_gen_attr(&res, OTLP_GEN_RES_ATTRIBUTES, "service.name", "node");
	otlp_gen_attr(&res, OTLP_GEN_RES_ATTRIBUTES, "service.instance.id", inst);
	for (long f = 0; f < 4; f++) {
		struct pb_writer m = {0}, gauge = {0};
		char name[96];
		snprintf(name, sizeof(name), "node_%s", otlp_gen_families[f]);
		for (long s = s0; s < s1; s++)
			if (s % 4 == f)
				otlp_gen_points(&gauge, s, i0, n, base_ms, step_ms);
		if (gauge.len) {
			pb_put_bytes_field(&m, OTLP_GEN_METRIC_NAME, name, strlen(name));
			pb_put_bytes_field(&m, OTLP_GEN_METRIC_GAUGE, gauge.buf, gauge.len);
			pb_put_bytes_field(&sm, OTLP_GEN_SM_METRICS, m.buf, m.len);
		}
		sm.oom |= m.oom | gauge.oom;
		pb_writer_free(&m);
		pb_writer_free(&gauge);
	}
	pb_put_bytes_field(&rm, OTLP_GEN_RM_RESOURCE, res.buf, res.len);
	pb_put_bytes_field(&rm, OTLP_GEN_RM_SCOPE_METRICS, sm.buf, sm.len);
	pb_put_bytes_field(req, OTLP_GEN_REQ_RESOURCE_METRICS, rm.buf, rm.len);
	req->oom |= res.oom | sm.oom | rm.oom;
	pb_writer_free(&res);
	pb_writer_free(&sm);
	pb_writer_free(&rm);
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
		fprintf(stderr, "otlp_gen: counts must be positive\n");
		return 1;
	}
	long nreq = 0;
	uint64_t bytes = 0;
	for (long i0 = 0; i0 < samples; i0 += per) {
		long n = samples - i0 < per ? samples - i0 : per;
		for (long s0 = 0; s0 < series; s0 += spr) {
			long end = s0 + spr < series ? s0 + spr : series;
			struct pb_writer req = {0};
			/* One resource per run of series sharing an instance. */
			for (long a = s0; a < end;) {
				long b = (a / OTLP_GEN_PER_INSTANCE + 1) * OTLP_GEN_PER_INSTANCE;
				b = b < end ? b : end;
				otlp_gen_resource(&req, a, b, i0, n, base_ms, step_ms);
				a = b;
			}
			if (req.oom) {
				fprintf(stderr, "otlp_gen: out of memory\n");
				return 1;
			}
			char path[4096];
			snprintf(path, sizeof(path), "%s/req-%06ld.bin", dir, nreq);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(req.buf, 1, req.len, f) != req.len || fclose(f) != 0) {
				fprintf(stderr, "otlp_gen: writing %s: %s\n", path, strerror(errno));
				return 1;
			}
			bytes += req.len;
			nreq++;
			pb_writer_free(&req);
		}
	}
	printf("%ld requests, %ld samples, %" PRIu64 " bytes protobuf\n", nreq, series * samples, bytes);
	return 0;
}
