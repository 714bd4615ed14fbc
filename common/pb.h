/* pb: a small protocol-buffers wire-format reader (no code generation, no
 * allocation), enough for Prometheus remote write and OTLP.
 *
 * Reading is a loop over fields: pb_next gives the field number, wire type
 * and either the varint/fixed value or the bytes of a length-delimited
 * field, which a nested reader can walk again. Every length is checked
 * against the buffer; malformed input gives -EPROTO, never a crash.
 */
#ifndef MCS_PB_H
#define MCS_PB_H

#include <stddef.h>
#include <stdint.h>

enum pb_wire {
	PB_VARINT = 0,
	PB_I64 = 1,
	PB_LEN = 2,
	PB_I32 = 5,
};

struct pb_reader {
	const uint8_t *p;
	const uint8_t *end;
};

struct pb_field {
	uint32_t num;         /* field number */
	enum pb_wire wire;
	uint64_t u;           /* PB_VARINT value, PB_I64/PB_I32 raw bits */
	const uint8_t *data;  /* PB_LEN bytes */
	size_t len;
};

static inline void pb_init(struct pb_reader *r, const void *buf, size_t len)
{
	r->p = buf;
	r->end = (const uint8_t *)buf + len;
}

/* Next field. Returns 1, 0 at the end, -EPROTO for malformed bytes
 * (truncated varint or length, groups, unknown wire types). */
int pb_next(struct pb_reader *r, struct pb_field *f);

/* Reads a varint from data[len] at *off (advanced). Returns 0 or -EPROTO.
 * For packed repeated fields. */
int pb_varint(const uint8_t *data, size_t len, size_t *off, uint64_t *out);

static inline double pb_double(const struct pb_field *f)
{
	double d;
	__builtin_memcpy(&d, &f->u, 8);
	return d;
}

static inline int64_t pb_sint64(uint64_t u)
{
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* Wire-format writer into a growable buffer (tests, remote-write
 * forwarding later). */
struct pb_writer {
	uint8_t *buf;
	size_t len, cap;
	int oom;
};

void pb_put_varint_field(struct pb_writer *w, uint32_t num, uint64_t v);
void pb_put_double_field(struct pb_writer *w, uint32_t num, double v);
void pb_put_fixed64_field(struct pb_writer *w, uint32_t num, uint64_t v);
void pb_put_bytes_field(struct pb_writer *w, uint32_t num, const void *data, size_t len);
void pb_writer_free(struct pb_writer *w);

#endif
