/* records: the record contracts carried by the rings, with encoders and
 * decoders. Every byte read from a ring is checked here before use: a
 * crashed or buggy producer must not crash a consumer.
 *
 * Record types (the ring header's type field):
 *  REC_SAMPLES  collector -> aggregator, aggregator -> alerter. A batch:
 *               header {u32 count, u32 reserved}, then per sample
 *               {u64 id, i64 ts_ms, f64 value, u32 key_off, u16 key_len,
 *               u16 flags} (32 bytes) and, when the key is new in this
 *               record, the key bytes right after, padded to 8. key_off is
 *               the payload offset of the key bytes: a later sample of the
 *               same series points back to them.
 *  REC_QUERY    apiserver -> aggregator: a query request.
 *  REC_SERIES   aggregator -> apiserver: one series (key) and a piece of its
 *               samples; a long series comes in several pieces.
 *  REC_STRINGS  aggregator -> apiserver: label names or values.
 *  REC_END      aggregator -> apiserver: the end of a query's answer, with
 *               its status and message.
 * All integers little-endian (the host order of every supported target).
 */
#ifndef MCS_RECORDS_H
#define MCS_RECORDS_H

#include <stddef.h>
#include <stdint.h>

enum rec_type {
	REC_SAMPLES = 1,
	REC_QUERY = 2,
	REC_SERIES = 3,
	REC_STRINGS = 4,
	REC_END = 5,
};

/* ---- sample batches ---- */

#define REC_SAMPLE_ENTRY 32u
#define REC_SAMPLES_HDR  8u

struct rec_sample {
	uint64_t id;
	int64_t ts_ms;
	double value;
	const uint8_t *key; /* canonical series key, points into the record */
	uint16_t key_len;
};

struct rec_samples_writer {
	uint8_t *buf;    /* caller's buffer (often a ring reservation) */
	size_t cap;
	size_t len;      /* bytes written */
	uint32_t count;
};

/* Starts a batch in buf[cap] (cap >= 8). */
void rec_samples_begin(struct rec_samples_writer *w, void *buf, size_t cap);

/* Appends a sample. key_ref is 0 to write the key inline, or an offset
 * returned earlier for the same key in the same batch. *key_off_out (may be
 * NULL) receives the offset to reuse. Returns 0, or -ENOSPC when it does not
 * fit (the batch is unchanged). */
int rec_samples_add(struct rec_samples_writer *w, uint64_t id, const uint8_t *key,
		    uint16_t key_len, int64_t ts_ms, double value, uint32_t key_ref,
		    uint32_t *key_off_out);

/* Bytes an inline sample with a key of key_len takes. */
static inline size_t rec_samples_cost(size_t key_len)
{
	return REC_SAMPLE_ENTRY + ((key_len + 7u) & ~(size_t)7u);
}

/* Finishes the batch (writes the count). Returns its length. */
size_t rec_samples_end(struct rec_samples_writer *w);

struct rec_samples_iter {
	const uint8_t *base;
	size_t len;
	size_t off;
	uint32_t left;
};

/* Starts decoding a batch. Returns 0, or -EPROTO when the header is bad. */
int rec_samples_iter_init(struct rec_samples_iter *it, const void *data, size_t len);

/* Next sample. Returns 1, 0 at the end, -EPROTO for a malformed entry (key
 * offset or length out of bounds, truncated entry). The key's own structure
 * is checked by series_key_validate when the receiver first meets it. */
int rec_samples_next(struct rec_samples_iter *it, struct rec_sample *s);

/* ---- query requests ---- */

enum rec_query_kind {
	REC_Q_SELECT = 1,       /* series with samples in [start, end] */
	REC_Q_SERIES = 2,       /* series keys with samples in [start, end] */
	REC_Q_LABEL_NAMES = 3,
	REC_Q_LABEL_VALUES = 4, /* values of label_name */
	REC_Q_FLUSH = 5,        /* admin: write the head to blocks and compact; END carries a summary */
	REC_Q_STATUS = 6,       /* TSDB status: one REC_STRINGS record with a JSON object, then END */
};

enum rec_match_op {
	REC_M_EQ = 0,
	REC_M_NE = 1,
	REC_M_RE = 2,
	REC_M_NRE = 3,
};

#define REC_MAX_MATCHERS 64u
#define REC_MAX_SETS     16u

struct rec_matcher {
	uint8_t op;      /* enum rec_match_op */
	uint8_t set;     /* which selector (match[]) it belongs to */
	const char *name;
	uint16_t name_len;
	const char *value;
	uint16_t value_len;
};

struct rec_query {
	uint64_t qid;
	uint32_t kind;         /* enum rec_query_kind */
	uint32_t nsets;        /* selectors; a series matches when any set matches; 0 = all series */
	int64_t start_ms;
	int64_t end_ms;
	int64_t step_ms;       /* resolution hint, 0 = raw */
	uint32_t limit;        /* max series/strings, 0 = none */
	const char *label_name; /* REC_Q_LABEL_VALUES */
	uint16_t label_name_len;
	uint32_t nmatchers;
	struct rec_matcher m[REC_MAX_MATCHERS];
};

/* Encodes q into buf[cap]. Returns the length, or -ENOSPC / -EINVAL. */
int rec_query_encode(const struct rec_query *q, void *buf, size_t cap);

/* Decodes; pointers in *q point into data. Returns 0 or -EPROTO. */
int rec_query_decode(struct rec_query *q, const void *data, size_t len);

/* ---- responses ---- */

#define REC_SERIES_HDR 16u
#define REC_POINT 16u

struct rec_point {
	int64_t ts_ms;
	double value;
};

/* A REC_SERIES record: {u64 qid, u16 key_len, u16 flags, u32 npoints},
 * key padded to 8, then npoints {i64 ts, f64 v}. */
static inline size_t rec_series_size(size_t key_len, size_t npoints)
{
	return REC_SERIES_HDR + ((key_len + 7u) & ~(size_t)7u) + npoints * REC_POINT;
}

int rec_series_encode(void *buf, size_t cap, uint64_t qid, const uint8_t *key, uint16_t key_len,
		      const struct rec_point *pts, uint32_t npoints);

struct rec_series {
	uint64_t qid;
	const uint8_t *key;
	uint16_t key_len;
	uint32_t npoints;
	const uint8_t *points; /* npoints x 16 bytes; read with rec_series_point */
};

int rec_series_decode(struct rec_series *s, const void *data, size_t len);

static inline struct rec_point rec_series_point(const struct rec_series *s, uint32_t i)
{
	struct rec_point p;
	__builtin_memcpy(&p, s->points + (size_t)i * REC_POINT, sizeof(p));
	return p;
}

/* A REC_STRINGS record: {u64 qid, u32 count, u32 reserved} then count
 * {u16 len, bytes}. */
struct rec_strings_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	uint32_t count;
};

void rec_strings_begin(struct rec_strings_writer *w, void *buf, size_t cap, uint64_t qid);
int rec_strings_add(struct rec_strings_writer *w, const char *s, uint16_t len); /* 0 / -ENOSPC */
size_t rec_strings_end(struct rec_strings_writer *w);

struct rec_strings_iter {
	uint64_t qid;
	const uint8_t *p;
	const uint8_t *end;
	uint32_t left;
};

int rec_strings_iter_init(struct rec_strings_iter *it, const void *data, size_t len);
int rec_strings_next(struct rec_strings_iter *it, const char **s, uint16_t *len); /* 1/0/-EPROTO */

/* A REC_END record: {u64 qid, i32 status, u32 msg_len} then msg.
 * status 0 = ok, else a negative errno (e.g. -E2BIG: limit exceeded). */
int rec_end_encode(void *buf, size_t cap, uint64_t qid, int32_t status, const char *msg);

struct rec_end {
	uint64_t qid;
	int32_t status;
	const char *msg;
	uint32_t msg_len;
};

int rec_end_decode(struct rec_end *e, const void *data, size_t len);

/* The qid of any response record (first 8 bytes), or 0 when too short. */
uint64_t rec_response_qid(const void *data, size_t len);

#endif
