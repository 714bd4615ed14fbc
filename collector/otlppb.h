/* otlppb: the protobuf decoder of the OTLP receiver — walks an
 * ExportMetricsServiceRequest (opentelemetry-proto
 * collector/metrics/v1/metrics_service.proto, metrics/v1/metrics.proto,
 * common/v1/common.proto, resource/v1/resource.proto) with common/pb.h and
 * hands resources, metrics and data points to the translator
 * (collector/otlp_pvt.h).
 *
 * Fields may come in any order (a message is walked twice where a later
 * field decides how earlier ones read: the resource before the metrics, the
 * temporality before the points); unknown fields are skipped; repeated
 * scalars are read packed or unpacked; a known field with the wrong wire
 * type is malformed. Exemplars, scope and metadata are not read.
 *
 * Not here: translation (otlp.c), JSON (otlpjson.h).
 */
#ifndef MCS_OTLPPB_H
#define MCS_OTLPPB_H

#include <stddef.h>
#include <stdint.h>

struct otlp_req;

/* Decodes body[len] into q. Returns 0; -EINVAL for malformed bytes (the
 * message in q->res->error); -ENOMEM. */
int otlppb_decode(struct otlp_req *q, const uint8_t *body, size_t len);

#endif
