'use strict';
// Test client for mcs' OTLP/HTTP receiver (tests/integration/test_otlp.py).
//
//   node export.js URL json|proto INSTANCE [delta]
//
// Records known values with the real OpenTelemetry JS SDK and exports them
// with the real OTLP/HTTP exporter (http/json, or http/protobuf gzipped),
// then exits: 0 when every export succeeded, 1 otherwise (the reason on
// stderr). Cumulative mode exports once; delta mode exports twice (counter
// +5 then +3, histogram [5, 20] then [30]) so the receiver's running totals
// can be checked.

const { MeterProvider, PeriodicExportingMetricReader, AggregationType } = require('@opentelemetry/sdk-metrics');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { diag, DiagConsoleLogger, DiagLogLevel } = require('@opentelemetry/api');
const httpExporter = require('@opentelemetry/exporter-metrics-otlp-http');
const protoExporter = require('@opentelemetry/exporter-metrics-otlp-proto');

const [url, kind, instance, mode] = process.argv.slice(2);
if (!url || !['json', 'proto'].includes(kind) || !instance) {
  console.error('usage: node export.js URL json|proto INSTANCE [delta]');
  process.exit(2);
}
diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

const delta = mode === 'delta';
const options = {
  url,
  timeoutMillis: 10000,
  temporalityPreference: delta
    ? httpExporter.AggregationTemporalityPreference.DELTA
    : httpExporter.AggregationTemporalityPreference.CUMULATIVE,
};
if (kind === 'proto') options.compression = 'gzip';
const inner = kind === 'json'
  ? new httpExporter.OTLPMetricExporter(options)
  : new protoExporter.OTLPMetricExporter(options);

// Records what every export returned.
const results = [];
const exporter = {
  export(data, done) {
    inner.export(data, (r) => {
      results.push(r);
      done(r);
    });
  },
  forceFlush: () => inner.forceFlush(),
  shutdown: () => inner.shutdown(),
  selectAggregationTemporality: (k) => inner.selectAggregationTemporality(k),
};
if (inner.selectAggregation) exporter.selectAggregation = (k) => inner.selectAggregation(k);

const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3600000 });
const provider = new MeterProvider({
  // telemetry.sdk.* from the SDK's default resource, plus ours
  resource: defaultResource().merge(resourceFromAttributes({
    'service.name': 'otlp-it',
    'service.namespace': 'mcs',
    'service.instance.id': instance,
    'deployment.environment': 'test',
  })),
  readers: [reader],
  views: [{ instrumentName: 'my.size', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
});
const meter = provider.getMeter('mcs-otlp-it', '1.0.0');

async function main() {
  if (delta) {
    const c = meter.createCounter('my.delta.requests', { unit: '{requests}' });
    const h = meter.createHistogram('my.delta.latency', {
      unit: 'ms',
      advice: { explicitBucketBoundaries: [10, 50] },
    });
    c.add(5);
    h.record(5);
    h.record(20);
    await reader.forceFlush();
    c.add(3);
    h.record(30);
    await reader.forceFlush();
  } else {
    const requests = meter.createCounter('my.requests', { unit: '{requests}' });
    requests.add(5, { route: '/a' });
    requests.add(7, { route: '/b' });
    meter.createCounter('my.sent', { unit: 'By' }).add(1024);
    const queue = meter.createUpDownCounter('my.queue.size', { unit: '{items}' });
    queue.add(10);
    queue.add(-3);
    meter.createObservableGauge('my.temperature', { unit: 'Cel' })
      .addCallback((r) => r.observe(21.5, { room: 'lab' }));
    meter.createObservableGauge('my.cpu.utilization', { unit: '1' })
      .addCallback((r) => r.observe(0.25));
    const latency = meter.createHistogram('my.latency', {
      unit: 'ms',
      advice: { explicitBucketBoundaries: [10, 50, 100, 500] },
    });
    for (const v of [5, 20, 30, 70, 700]) latency.record(v);
    const size = meter.createHistogram('my.size', { unit: 'By' });
    for (const v of [1, 2, 4, 1000]) size.record(v);
    await reader.forceFlush();
  }
  await provider.shutdown();
  const failed = results.filter((r) => r.code !== 0);
  if (results.length === 0 || failed.length) {
    console.error('export failed:', results.length ? String(failed[0].error) : 'nothing exported');
    process.exit(1);
  }
  console.log(`exported ${results.length} time(s) with ${kind}${delta ? ' (delta)' : ''}`);
}

main().catch((e) => {
  console.error('error:', e);
  process.exit(1);
});
