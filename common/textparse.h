/* textparse: Prometheus text exposition format (0.0.4) and OpenMetrics 1.0
 * parser.
 *
 * One pass over a body held in memory; no allocation per sample. For every
 * sample line the parser calls the sample callback with the metric name, the
 * labels (escapes already resolved), the value and the optional timestamp;
 * for every # HELP / # TYPE / # UNIT line the optional metadata callback.
 * Errors stop the parse and name the 1-based line and column with a reason.
 *
 * Not here: series keys (series.h), relabeling, storage.
 */
#ifndef MCS_TEXTPARSE_H
#define MCS_TEXTPARSE_H

#include <stddef.h>
#include <stdint.h>

#define TEXTPARSE_MAX_LABELS 128

enum textparse_format {
	TEXTPARSE_PROM = 0,        /* text/plain; version=0.0.4 */
	TEXTPARSE_OPENMETRICS = 1, /* application/openmetrics-text; strict: # EOF required */
};

enum textparse_type {
	TEXTPARSE_UNTYPED = 0,
	TEXTPARSE_COUNTER,
	TEXTPARSE_GAUGE,
	TEXTPARSE_HISTOGRAM,
	TEXTPARSE_GAUGEHISTOGRAM,
	TEXTPARSE_SUMMARY,
	TEXTPARSE_INFO,
	TEXTPARSE_STATESET,
};

struct textparse_label {
	const char *name;
	size_t name_len;
	const char *value;  /* unescaped; valid only during the callback */
	size_t value_len;
};

struct textparse_sample {
	const char *name;   /* metric name as written (with _total, _bucket, ...) */
	size_t name_len;
	const struct textparse_label *labels; /* in the order written */
	size_t nlabels;
	double value;
	int has_timestamp;
	int64_t timestamp_ms; /* OpenMetrics seconds converted to ms */
	enum textparse_type type; /* of the family the sample belongs to */
	uint32_t line;
};

struct textparse_meta {
	const char *family;
	size_t family_len;
	enum textparse_type type; /* for # TYPE */
	const char *text;         /* help (unescaped) or unit, valid during the callback */
	size_t text_len;
	char kind;                /* 'H' help, 'T' type, 'U' unit */
};

/* Callbacks return 0 to go on, or a negative errno to stop the parse (that
 * value is then returned by textparse_parse). */
typedef int (*textparse_sample_fn)(void *ctx, const struct textparse_sample *s);
typedef int (*textparse_meta_fn)(void *ctx, const struct textparse_meta *m);

struct textparse_error {
	uint32_t line;   /* 1-based; 0 when not set */
	uint32_t column; /* 1-based byte column */
	char msg[192];   /* what was wrong, e.g. "invalid label name", "expected value" */
};

/* Parses `len` bytes of `buf` in `format`. Returns 0 when the whole body is
 * valid, -EINVAL with *err filled when it is not (the callbacks may already
 * have seen earlier samples: callers that must store nothing from a bad body
 * collect first and commit after success), or a callback's negative return.
 * meta_fn may be NULL. */
int textparse_parse(const char *buf, size_t len, enum textparse_format format,
		    textparse_sample_fn sample_fn, textparse_meta_fn meta_fn, void *ctx,
		    struct textparse_error *err);

/* Prometheus name rules: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* (names starting with "__" are reserved but valid).
 * Return 1 when valid. */
int textparse_valid_metric_name(const char *s, size_t len);
int textparse_valid_label_name(const char *s, size_t len);

/* Parses a Go-style float as Prometheus does: decimal with optional
 * exponent, "NaN", "[+-]Inf", "[+-]Infinity" (case-insensitive). Hex floats
 * and underscores are rejected, as Prometheus' parseFloat rejects them, and
 * so are out-of-range values like 1e400 (Go: ErrRange); underflow gives 0.
 * NaN comes back as Prometheus' normal NaN (0x7ff8000000000001). Results
 * are bit-identical to strtod. Returns 0 or -EINVAL. */
int textparse_parse_float(const char *s, size_t len, double *out);

#endif
