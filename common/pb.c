/* pb: see pb.h. The reader trusts nothing: every varint is bounded to 10
 * bytes and every length to the bytes that remain. */
#include "common/pb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pb_varint(const uint8_t *data, size_t len, size_t *off, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = *off;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (i >= len)
			return -EPROTO;
		uint8_t b = data[i++];
		if (shift == 63 && b > 1)
			return -EPROTO; /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*off = i;
			*out = v;
			return 0;
		}
	}
	return -EPROTO;
}

int pb_next(struct pb_reader *r, struct pb_field *f)
{
	if (r->p >= r->end)
		return 0;
	size_t len = (size_t)(r->end - r->p), off = 0;
	uint64_t key;
	if (pb_varint(r->p, len, &off, &key) != 0)
		return -EPROTO;
	f->num = (uint32_t)(key >> 3);
	f->wire = (enum pb_wire)(key & 7);
	if (f->num == 0 || key >> 3 > 0x1fffffff)
		return -EPROTO;
	f->data = NULL;
	f->len = 0;
	switch (f->wire) {
	case PB_VARINT:
		if (pb_varint(r->p, len, &off, &f->u) != 0)
			return -EPROTO;
		break;
	case PB_I64:
		if (len - off < 8)
			return -EPROTO;
		memcpy(&f->u, r->p + off, 8);
		off += 8;
		break;
	case PB_I32: {
		uint32_t v;
		if (len - off < 4)
			return -EPROTO;
		memcpy(&v, r->p + off, 4);
		f->u = v;
		off += 4;
		break;
	}
	case PB_LEN: {
		uint64_t n;
		if (pb_varint(r->p, len, &off, &n) != 0 || n > len - off)
			return -EPROTO;
		f->data = r->p + off;
		f->len = (size_t)n;
		off += (size_t)n;
		break;
	}
	default:
		return -EPROTO; /* groups (3, 4) and reserved types */
	}
	r->p += off;
	return 1;
}

static void pb_put(struct pb_writer *w, const void *data, size_t len)
{
	if (w->oom || len == 0)
		return; /* len 0: data may be NULL, and memcpy(NULL, NULL, 0) is undefined */
	if (w->cap - w->len < len) {
		size_t nc = w->cap ? w->cap * 2 : 256;
		while (nc - w->len < len)
			nc *= 2;
		uint8_t *nb = realloc(w->buf, nc);
		if (!nb) {
			w->oom = 1;
			return;
		}
		w->buf = nb;
		w->cap = nc;
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
}

static void pb_put_varint(struct pb_writer *w, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;
	do {
		b[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	pb_put(w, b, n);
}

void pb_put_varint_field(struct pb_writer *w, uint32_t num, uint64_t v)
{
	pb_put_varint(w, (uint64_t)num << 3 | PB_VARINT);
	pb_put_varint(w, v);
}

void pb_put_fixed64_field(struct pb_writer *w, uint32_t num, uint64_t v)
{
	pb_put_varint(w, (uint64_t)num << 3 | PB_I64);
	pb_put(w, &v, 8);
}

void pb_put_double_field(struct pb_writer *w, uint32_t num, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	pb_put_fixed64_field(w, num, u);
}

void pb_put_bytes_field(struct pb_writer *w, uint32_t num, const void *data, size_t len)
{
	pb_put_varint(w, (uint64_t)num << 3 | PB_LEN);
	pb_put_varint(w, len);
	pb_put(w, data, len);
}

void pb_writer_free(struct pb_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	memset(w, 0, sizeof(*w));
}
