/* otlpjson: the JSON decoder of the OTLP receiver — reads an
 * ExportMetricsServiceRequest in the OTLP/JSON mapping (protobuf JSON:
 * lowerCamelCase keys, the original snake_case names accepted too; 64-bit
 * integers as strings or numbers; enums as integers or their names; doubles
 * as numbers or "NaN"/"Infinity"/"-Infinity"; bytes in base64 — the hex
 * form of OTLP/JSON is for trace and span ids only, which metrics carry in
 * exemplars, not read here) with cJSON
 * and hands resources, metrics and data points to the translator
 * (collector/otlp_pvt.h). Unknown keys are ignored, as the OTLP
 * specification requires; a known key of the wrong JSON type is malformed.
 *
 * Not here: translation (otlp.c), protobuf (otlppb.h).
 */
#ifndef MCS_OTLPJSON_H
#define MCS_OTLPJSON_H

#include <stddef.h>

struct otlp_req;

/* Decodes body[len] into q. Returns 0; -EINVAL for a malformed body (the
 * message in q->res->error); -ENOMEM. */
int otlpjson_decode(struct otlp_req *q, const char *body, size_t len);

#endif
