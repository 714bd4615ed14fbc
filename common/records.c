/* records: see records.h. Encoders write into caller buffers (often ring
 * reservations); decoders bound-check every offset and length. */
#include "common/records.h"

#include <errno.h>
#include <string.h>

static inline size_t rec_pad8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

static inline void rec_put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline void rec_put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline uint16_t rec_get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t rec_get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t rec_get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* ---- sample batches ---- */

void rec_samples_begin(struct rec_samples_writer *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = REC_SAMPLES_HDR;
	w->count = 0;
	memset(w->buf, 0, REC_SAMPLES_HDR);
}

int rec_samples_add(struct rec_samples_writer *w, uint64_t id, const uint8_t *key,
		    uint16_t key_len, int64_t ts_ms, double value, uint32_t key_ref,
		    uint32_t *key_off_out)
{
	size_t need = REC_SAMPLE_ENTRY + (key_ref ? 0 : rec_pad8(key_len));
	if (w->cap - w->len < need)
		return -ENOSPC;
	uint8_t *e = w->buf + w->len;
	uint32_t key_off = key_ref ? key_ref : (uint32_t)(w->len + REC_SAMPLE_ENTRY);
	rec_put64(e, id);
	rec_put64(e + 8, (uint64_t)ts_ms);
	memcpy(e + 16, &value, 8);
	rec_put32(e + 24, key_off);
	uint16_t flags = 0;
	memcpy(e + 28, &key_len, 2);
	memcpy(e + 30, &flags, 2);
	if (!key_ref) {
		memcpy(e + REC_SAMPLE_ENTRY, key, key_len);
		size_t pad = rec_pad8(key_len) - key_len;
		memset(e + REC_SAMPLE_ENTRY + key_len, 0, pad);
	}
	w->len += need;
	w->count++;
	if (key_off_out)
		*key_off_out = key_off;
	return 0;
}

size_t rec_samples_end(struct rec_samples_writer *w)
{
	rec_put32(w->buf, w->count);
	return w->len;
}

int rec_samples_iter_init(struct rec_samples_iter *it, const void *data, size_t len)
{
	if (len < REC_SAMPLES_HDR)
		return -EPROTO;
	it->base = data;
	it->len = len;
	it->off = REC_SAMPLES_HDR;
	it->left = rec_get32(it->base);
	/* Each sample takes at least one entry: a count beyond that is damage. */
	if (it->left > (len - REC_SAMPLES_HDR) / REC_SAMPLE_ENTRY)
		return -EPROTO;
	return 0;
}

int rec_samples_next(struct rec_samples_iter *it, struct rec_sample *s)
{
	if (it->left == 0)
		return 0;
	if (it->len - it->off < REC_SAMPLE_ENTRY)
		return -EPROTO;
	const uint8_t *e = it->base + it->off;
	s->id = rec_get64(e);
	s->ts_ms = (int64_t)rec_get64(e + 8);
	memcpy(&s->value, e + 16, 8);
	uint32_t key_off = rec_get32(e + 24);
	s->key_len = rec_get16(e + 28);
	size_t entry_end = it->off + REC_SAMPLE_ENTRY;
	if (key_off == entry_end) {
		/* Inline key right after this entry. */
		if (it->len - entry_end < rec_pad8(s->key_len))
			return -EPROTO;
		it->off = entry_end + rec_pad8(s->key_len);
	} else {
		/* Reference to an earlier key: it must lie before this entry. */
		if (key_off < REC_SAMPLES_HDR + REC_SAMPLE_ENTRY || key_off > it->off ||
		    it->off - key_off < s->key_len)
			return -EPROTO;
		it->off = entry_end;
	}
	if (s->key_len == 0)
		return -EPROTO;
	s->key = it->base + key_off;
	it->left--;
	return 1;
}

/* ---- query requests ----
 * {u64 qid, u32 kind, u32 nsets, i64 start, i64 end, i64 step, u32 limit,
 *  u16 label_name_len, u16 nmatchers} = 48 bytes, label name padded to 8,
 * then per matcher {u8 op, u8 set, u16 name_len, u16 value_len, u16 0},
 * name, value, padded to 8. */
#define REC_QUERY_HDR 48u

int rec_query_encode(const struct rec_query *q, void *buf, size_t cap)
{
	uint8_t *b = buf;
	if (q->nmatchers > REC_MAX_MATCHERS || q->nsets > REC_MAX_SETS)
		return -EINVAL;
	size_t need = REC_QUERY_HDR + rec_pad8(q->label_name_len);
	for (uint32_t i = 0; i < q->nmatchers; i++)
		need += rec_pad8(8u + q->m[i].name_len + q->m[i].value_len);
	if (need > cap)
		return -ENOSPC;
	memset(b, 0, need);
	rec_put64(b, q->qid);
	rec_put32(b + 8, q->kind);
	rec_put32(b + 12, q->nsets);
	rec_put64(b + 16, (uint64_t)q->start_ms);
	rec_put64(b + 24, (uint64_t)q->end_ms);
	rec_put64(b + 32, (uint64_t)q->step_ms);
	rec_put32(b + 40, q->limit);
	uint16_t nm = (uint16_t)q->nmatchers;
	memcpy(b + 44, &q->label_name_len, 2);
	memcpy(b + 46, &nm, 2);
	size_t off = REC_QUERY_HDR;
	if (q->label_name_len)
		memcpy(b + off, q->label_name, q->label_name_len);
	off += rec_pad8(q->label_name_len);
	for (uint32_t i = 0; i < q->nmatchers; i++) {
		const struct rec_matcher *m = &q->m[i];
		b[off] = m->op;
		b[off + 1] = m->set;
		memcpy(b + off + 2, &m->name_len, 2);
		memcpy(b + off + 4, &m->value_len, 2);
		memcpy(b + off + 8, m->name, m->name_len);
		memcpy(b + off + 8 + m->name_len, m->value, m->value_len);
		off += rec_pad8(8u + m->name_len + m->value_len);
	}
	return (int)off;
}

int rec_query_decode(struct rec_query *q, const void *data, size_t len)
{
	const uint8_t *b = data;
	if (len < REC_QUERY_HDR)
		return -EPROTO;
	q->qid = rec_get64(b);
	q->kind = rec_get32(b + 8);
	q->nsets = rec_get32(b + 12);
	q->start_ms = (int64_t)rec_get64(b + 16);
	q->end_ms = (int64_t)rec_get64(b + 24);
	q->step_ms = (int64_t)rec_get64(b + 32);
	q->limit = rec_get32(b + 40);
	q->label_name_len = rec_get16(b + 44);
	q->nmatchers = rec_get16(b + 46);
	if (q->kind < REC_Q_SELECT || q->kind > REC_Q_STATUS || q->nsets > REC_MAX_SETS ||
	    q->nmatchers > REC_MAX_MATCHERS)
		return -EPROTO;
	size_t off = REC_QUERY_HDR;
	if (len - off < rec_pad8(q->label_name_len))
		return -EPROTO;
	q->label_name = (const char *)b + off;
	off += rec_pad8(q->label_name_len);
	for (uint32_t i = 0; i < q->nmatchers; i++) {
		struct rec_matcher *m = &q->m[i];
		if (len - off < 8)
			return -EPROTO;
		m->op = b[off];
		m->set = b[off + 1];
		m->name_len = rec_get16(b + off + 2);
		m->value_len = rec_get16(b + off + 4);
		size_t sz = rec_pad8(8u + m->name_len + m->value_len);
		if (len - off < sz || m->op > REC_M_NRE || m->set >= (q->nsets ? q->nsets : 1))
			return -EPROTO;
		m->name = (const char *)b + off + 8;
		m->value = m->name + m->name_len;
		off += sz;
	}
	return 0;
}

/* ---- responses ---- */

int rec_series_encode(void *buf, size_t cap, uint64_t qid, const uint8_t *key, uint16_t key_len,
		      const struct rec_point *pts, uint32_t npoints)
{
	size_t need = rec_series_size(key_len, npoints);
	uint8_t *b = buf;
	if (need > cap)
		return -ENOSPC;
	rec_put64(b, qid);
	uint16_t flags = 0;
	memcpy(b + 8, &key_len, 2);
	memcpy(b + 10, &flags, 2);
	rec_put32(b + 12, npoints);
	memcpy(b + REC_SERIES_HDR, key, key_len);
	memset(b + REC_SERIES_HDR + key_len, 0, rec_pad8(key_len) - key_len);
	if (npoints)
		memcpy(b + REC_SERIES_HDR + rec_pad8(key_len), pts, (size_t)npoints * REC_POINT);
	return (int)need;
}

int rec_series_decode(struct rec_series *s, const void *data, size_t len)
{
	const uint8_t *b = data;
	if (len < REC_SERIES_HDR)
		return -EPROTO;
	s->qid = rec_get64(b);
	s->key_len = rec_get16(b + 8);
	s->npoints = rec_get32(b + 12);
	if (s->key_len == 0 || (len - REC_SERIES_HDR) < rec_pad8(s->key_len))
		return -EPROTO;
	size_t rest = len - REC_SERIES_HDR - rec_pad8(s->key_len);
	if (rest / REC_POINT < s->npoints)
		return -EPROTO;
	s->key = b + REC_SERIES_HDR;
	s->points = b + REC_SERIES_HDR + rec_pad8(s->key_len);
	return 0;
}

void rec_strings_begin(struct rec_strings_writer *w, void *buf, size_t cap, uint64_t qid)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 16;
	w->count = 0;
	memset(w->buf, 0, 16);
	rec_put64(w->buf, qid);
}

int rec_strings_add(struct rec_strings_writer *w, const char *s, uint16_t len)
{
	if (w->cap - w->len < 2u + len)
		return -ENOSPC;
	memcpy(w->buf + w->len, &len, 2);
	memcpy(w->buf + w->len + 2, s, len);
	w->len += 2u + len;
	w->count++;
	return 0;
}

size_t rec_strings_end(struct rec_strings_writer *w)
{
	rec_put32(w->buf + 8, w->count);
	return w->len;
}

int rec_strings_iter_init(struct rec_strings_iter *it, const void *data, size_t len)
{
	const uint8_t *b = data;
	if (len < 16)
		return -EPROTO;
	it->qid = rec_get64(b);
	it->left = rec_get32(b + 8);
	it->p = b + 16;
	it->end = b + len;
	return 0;
}

int rec_strings_next(struct rec_strings_iter *it, const char **s, uint16_t *len)
{
	if (it->left == 0)
		return 0;
	if (it->end - it->p < 2)
		return -EPROTO;
	*len = rec_get16(it->p);
	if ((size_t)(it->end - it->p - 2) < *len)
		return -EPROTO;
	*s = (const char *)it->p + 2;
	it->p += 2u + *len;
	it->left--;
	return 1;
}

int rec_end_encode(void *buf, size_t cap, uint64_t qid, int32_t status, const char *msg)
{
	size_t ml = msg ? strlen(msg) : 0;
	if (ml > 1024)
		ml = 1024;
	if (cap < 16 + ml)
		return -ENOSPC;
	uint8_t *b = buf;
	rec_put64(b, qid);
	rec_put32(b + 8, (uint32_t)status);
	rec_put32(b + 12, (uint32_t)ml);
	if (ml)
		memcpy(b + 16, msg, ml);
	return (int)(16 + ml);
}

int rec_end_decode(struct rec_end *e, const void *data, size_t len)
{
	const uint8_t *b = data;
	if (len < 16)
		return -EPROTO;
	e->qid = rec_get64(b);
	e->status = (int32_t)rec_get32(b + 8);
	e->msg_len = rec_get32(b + 12);
	if (len - 16 < e->msg_len)
		return -EPROTO;
	e->msg = (const char *)b + 16;
	return 0;
}

uint64_t rec_response_qid(const void *data, size_t len)
{
	return len >= 8 ? rec_get64(data) : 0;
}
