/* otlpname: OpenTelemetry -> Prometheus name translation, as Prometheus'
 * OTLP receiver does it with its default translation strategy
 * (UnderscoreEscapingWithSuffixes; prometheus/otlptranslator):
 *
 *   metric names  split into tokens at every character outside
 *                 [a-zA-Z0-9:] (so "." "-" "/" and runs of "_" become one
 *                 "_"); the unit appended as a word ("ms" -> milliseconds,
 *                 "By" -> bytes, "By/s" -> bytes_per_second, "1" -> nothing,
 *                 "{requests}" -> nothing) unless the name already holds it;
 *                 "_total" for monotonic counters, "_ratio" for gauges with
 *                 unit "1" (each moved to the end when already present); a
 *                 leading digit gets a "_" prefix.
 *   label names   every character outside [a-zA-Z0-9_] becomes "_"; a
 *                 leading digit gets "key_", a single leading "_" gets
 *                 "key" ("_x" -> "key_x"); "__x__" names stay reserved.
 *   numbers       le and quantile values as Go's strconv.FormatFloat(v,
 *                 'f', -1, 64): shortest round-trip digits, no exponent
 *                 (0.005, 1000000, +Inf).
 *
 * Pure functions over caller buffers: no allocation, no state.
 * Not here: the OTLP data model and resource handling (collector/otlp.h).
 */
#ifndef MCS_OTLPNAME_H
#define MCS_OTLPNAME_H

#include <stddef.h>

#define OTLPNAME_MAX 1024 /* bytes of a translated metric name, at most */

/* The Prometheus view of an OTLP metric, which decides the suffixes. */
enum otlpname_type {
	OTLPNAME_GAUGE,          /* gauge: "_ratio" when the unit is "1" */
	OTLPNAME_COUNTER,        /* monotonic sum: "_total" */
	OTLPNAME_UPDOWN,         /* non-monotonic sum: no type suffix */
	OTLPNAME_HISTOGRAM,      /* explicit or exponential histogram */
	OTLPNAME_SUMMARY,
};

/* Translates metric `name` (len bytes) with `unit` (unit_len bytes, may be
 * empty) into out[cap], NUL-terminated. Returns the length (> 0); -EINVAL
 * when the result would be empty or only underscores (no usable
 * character); -E2BIG when it does not fit in cap. */
int otlpname_metric(char *out, size_t cap, const char *name, size_t len,
		    const char *unit, size_t unit_len, enum otlpname_type type);

/* Translates attribute key `name` into a label name in out[cap],
 * NUL-terminated. Returns the length (> 0); -EINVAL for an empty name or
 * one that is only underscores after translation; -E2BIG when it does not
 * fit. */
int otlpname_label(char *out, size_t cap, const char *name, size_t len);

/* Formats v as Go's strconv.FormatFloat(v, 'f', -1, 64) ("+Inf", "-Inf",
 * "NaN" for the special values) into out[cap]. Returns the length, or
 * -E2BIG when it does not fit (up to ~330 bytes for extreme exponents). */
int otlpname_float(char *out, size_t cap, double v);

#endif
