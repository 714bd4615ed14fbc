/* store: see store.h. */
#include "aggregator/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/series.h"

int store_init(struct store *s)
{
	memset(s, 0, sizeof(*s));
	s->ooo_window_ms = -1;
	s->batch_gen = 1; /* new series have window_gen 0: no reference yet */
	s->table_cap = 1u << 14;
	s->table = calloc(s->table_cap, sizeof(*s->table));
	return s->table ? 0 : -ENOMEM;
}

static void store_series_free(struct store_series *se)
{
	free(se->key);
	chunk_destroy(&se->head);
	for (uint32_t i = 0; i < se->nclosed; i++)
		free(se->closed[i].buf);
	free(se->closed);
	free(se->ooo);
}

void store_free(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nseries; i++)
		store_series_free(&s->series[i]);
	free(s->series);
	free(s->table);
	memset(s, 0, sizeof(*s));
}

static int store_rehash(struct store *s)
{
	size_t nc = s->table_cap * 2;
	struct store_slot *nt = calloc(nc, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < s->table_cap; i++) {
		if (!s->table[i].idx1)
			continue;
		size_t h = s->table[i].id & (nc - 1);
		while (nt[h].idx1)
			h = (h + 1) & (nc - 1);
		nt[h] = s->table[i];
	}
	free(s->table);
	s->table = nt;
	s->table_cap = nc;
	return 0;
}

long store_series_get(struct store *s, uint64_t id, const uint8_t *key, uint16_t key_len)
{
	size_t mask = s->table_cap - 1, h = id & mask;
	for (; s->table[h].idx1; h = (h + 1) & mask) {
		if (s->table[h].id != id)
			continue;
		struct store_series *se = &s->series[s->table[h].idx1 - 1];
		/* An id hit is not enough: compare the key bytes (collisions). */
		if (se->key_len == key_len && memcmp(se->key, key, key_len) == 0)
			return (long)(s->table[h].idx1 - 1);
	}
	if (series_key_validate(key, key_len) != 0 || series_id(key, key_len) != id)
		return -EPROTO;
	if (s->nseries == s->series_cap) {
		size_t nc = s->series_cap ? s->series_cap * 2 : 4096;
		struct store_series *ns = realloc(s->series, nc * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		s->series = ns;
		s->series_cap = nc;
	}
	struct store_series *se = &s->series[s->nseries];
	memset(se, 0, sizeof(*se));
	se->key = malloc(key_len);
	if (!se->key)
		return -ENOMEM;
	memcpy(se->key, key, key_len);
	se->key_len = key_len;
	se->id = id;
	se->max_ts = INT64_MIN;
	chunk_init(&se->head);
	s->table[h].id = id;
	s->table[h].idx1 = (uint32_t)(s->nseries + 1);
	long idx = (long)s->nseries++;
	if (s->nseries * 2 > s->table_cap && store_rehash(s) != 0)
		return -ENOMEM;
	return idx;
}

/* Closes the head chunk: re-encodes it into the smallest closed form. */
static int store_close_head(struct store *s, struct store_series *se)
{
	struct chunk out;
	size_t len;
	if (se->nclosed == se->closed_cap) {
		uint32_t nc = se->closed_cap ? se->closed_cap * 2 : 4;
		struct store_chunk *n = realloc(se->closed, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		se->closed = n;
		se->closed_cap = nc;
	}
	int rc = chunk_recode(&se->head, &out);
	if (rc)
		return rc;
	const uint8_t *b = chunk_bytes(&out, &len);
	struct store_chunk *c = &se->closed[se->nclosed];
	c->buf = malloc(len);
	if (!c->buf) {
		chunk_destroy(&out);
		return -ENOMEM;
	}
	memcpy(c->buf, b, len);
	c->len = (uint32_t)len;
	c->n = se->head.n;
	c->min_ts = se->head.first_ts;
	c->max_ts = se->head.last_ts;
	se->nclosed++;
	s->chunk_bytes += len;
	chunk_destroy(&out);
	chunk_destroy(&se->head);
	chunk_init(&se->head);
	return 0;
}

/* 1 when the chunk bytes hold a sample at exactly ts, 0 when not. */
static int store_chunk_has(const uint8_t *buf, size_t len, int64_t ts)
{
	struct chunk_iter it;
	int64_t t;
	double v;
	if (chunk_iter_init(&it, buf, len) != 0)
		return -EPROTO;
	int rc = chunk_iter_seek(&it, ts, &t, &v);
	if (rc < 0)
		return rc;
	return rc == 1 && t == ts;
}

/* 1 when the series already holds a sample at ts (ts below its last). */
static int store_has(const struct store_series *se, int64_t ts)
{
	size_t len;
	if (se->head.n && ts >= se->head.first_ts) {
		const uint8_t *b = chunk_bytes(&se->head, &len);
		return store_chunk_has(b, len, ts);
	}
	for (uint32_t i = se->nclosed; i-- > 0;) {
		const struct store_chunk *c = &se->closed[i];
		if (ts > c->max_ts)
			break;
		if (ts >= c->min_ts)
			return store_chunk_has(c->buf, c->len, ts);
	}
	return 0;
}

/* Index of the first out-of-order sample at or after ts. */
static uint32_t store_ooo_find(const struct store_series *se, int64_t ts)
{
	uint32_t lo = 0, hi = se->nooo;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (se->ooo[mid].ts_ms < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Inserts into the sorted out-of-order list; 1 when ts was already there. */
static int store_ooo_insert(struct store_series *se, int64_t ts, double v)
{
	uint32_t lo = store_ooo_find(se, ts);
	if (lo < se->nooo && se->ooo[lo].ts_ms == ts)
		return 1;
	if (se->nooo == se->ooo_cap) {
		uint32_t nc = se->ooo_cap ? se->ooo_cap * 2 : 8;
		struct rec_point *n = realloc(se->ooo, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		se->ooo = n;
		se->ooo_cap = nc;
	}
	memmove(&se->ooo[lo + 1], &se->ooo[lo], (size_t)(se->nooo - lo) * sizeof(*se->ooo));
	se->ooo[lo].ts_ms = ts;
	se->ooo[lo].value = v;
	se->nooo++;
	return 0;
}

static int64_t store_last_ts(const struct store_series *se)
{
	if (se->head.n)
		return se->head.last_ts;
	return se->nclosed ? se->closed[se->nclosed - 1].max_ts : INT64_MIN;
}

void store_batch_begin(struct store *s)
{
	s->batch_gen++;
}

/* Takes the series' window reference once per batch, then compares ts with
 * it (saturating, so a huge window or an early reference cannot wrap). */
int store_too_old(struct store *s, size_t idx, int64_t ts_ms)
{
	struct store_series *se = &s->series[idx];
	if (s->ooo_window_ms < 0)
		return 0;
	if (se->window_gen != s->batch_gen) {
		se->window_gen = s->batch_gen;
		se->window_ref = se->max_ts;
	}
	if (se->window_ref == INT64_MIN)
		return 0;
	int64_t limit = se->window_ref < INT64_MIN + s->ooo_window_ms ? INT64_MIN
								     : se->window_ref - s->ooo_window_ms;
	return ts_ms < limit;
}

/* Adds a sample; with a window set, a sample it rejects is looked up
 * first so that a re-delivered one still counts as a duplicate. Returns
 * enum store_result, -ENOMEM, or -EPROTO for damaged chunk bytes. */
int store_add(struct store *s, size_t idx, int64_t ts_ms, double value)
{
	struct store_series *se = &s->series[idx];
	int rc;
	if (store_too_old(s, idx, ts_ms)) {
		uint32_t i = store_ooo_find(se, ts_ms);
		if (i < se->nooo && se->ooo[i].ts_ms == ts_ms)
			return STORE_DUPLICATE;
		rc = se->n ? store_has(se, ts_ms) : 0;
		if (rc < 0)
			return rc;
		return rc == 1 ? STORE_DUPLICATE : STORE_TOO_OLD;
	}
	if (se->n == 0 || ts_ms > store_last_ts(se)) {
		if (se->head.n >= STORE_CHUNK_SAMPLES && (rc = store_close_head(s, se)) != 0)
			return rc;
		rc = chunk_append(&se->head, ts_ms, value);
		if (rc)
			return rc == -ENOMEM ? rc : -EPROTO;
		se->n++;
		s->samples++;
		if (ts_ms > se->max_ts)
			se->max_ts = ts_ms;
		return STORE_APPENDED;
	}
	rc = store_has(se, ts_ms);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return STORE_DUPLICATE;
	rc = store_ooo_insert(se, ts_ms, value);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return STORE_DUPLICATE;
	se->n++;
	s->samples++;
	return STORE_OUT_OF_ORDER;
}

static int store_push(struct rec_point **buf, size_t *cap, size_t n, int64_t ts, double v)
{
	if (n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct rec_point *nb = realloc(*buf, nc * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = nc;
	}
	(*buf)[n].ts_ms = ts;
	(*buf)[n].value = v;
	return 0;
}

/* Appends the samples of one chunk's bytes in [start, end]. */
static long store_read_chunk(const uint8_t *b, size_t len, int64_t start, int64_t end,
			     struct rec_point **buf, size_t *cap, size_t n)
{
	struct chunk_iter it;
	int64_t ts;
	double v;
	if (chunk_iter_init(&it, b, len) != 0)
		return -EPROTO;
	int rc = chunk_iter_seek(&it, start, &ts, &v);
	while (rc == 1 && ts <= end) {
		if (store_push(buf, cap, n++, ts, v) != 0)
			return -ENOMEM;
		rc = chunk_iter_next(&it, &ts, &v);
	}
	return rc < 0 ? rc : (long)n;
}

/* Merges the out-of-order samples in [start, end] into buf[0, n). */
static long store_merge_ooo(const struct store_series *se, int64_t start, int64_t end,
			    struct rec_point **buf, size_t *cap, size_t n)
{
	size_t first = n;
	for (uint32_t i = 0; i < se->nooo; i++) {
		if (se->ooo[i].ts_ms < start || se->ooo[i].ts_ms > end)
			continue;
		if (store_push(buf, cap, n++, se->ooo[i].ts_ms, se->ooo[i].value) != 0)
			return -ENOMEM;
	}
	if (n == first || first == 0)
		return (long)n;
	/* In-place merge of two sorted runs, from the back, via a copy of the
	 * side run (usually a handful of points). */
	size_t m = n - first;
	struct rec_point *side = malloc(m * sizeof(*side));
	if (!side)
		return -ENOMEM;
	memcpy(side, *buf + first, m * sizeof(*side));
	size_t a = first, bi = m, w = n;
	struct rec_point *p = *buf;
	while (bi > 0) {
		if (a > 0 && p[a - 1].ts_ms > side[bi - 1].ts_ms)
			p[--w] = p[--a];
		else
			p[--w] = side[--bi];
	}
	free(side);
	return (long)n;
}

long store_read(const struct store_series *se, int64_t start, int64_t end, struct rec_point **buf, size_t *cap)
{
	long n = 0;
	size_t len;
	for (uint32_t i = 0; i < se->nclosed && n >= 0; i++) {
		const struct store_chunk *c = &se->closed[i];
		if (c->max_ts < start || c->min_ts > end)
			continue;
		n = store_read_chunk(c->buf, c->len, start, end, buf, cap, (size_t)n);
	}
	if (n >= 0 && se->head.n && se->head.last_ts >= start && se->head.first_ts <= end) {
		const uint8_t *b = chunk_bytes(&se->head, &len);
		n = store_read_chunk(b, len, start, end, buf, cap, (size_t)n);
	}
	if (n >= 0 && se->nooo)
		n = store_merge_ooo(se, start, end, buf, cap, (size_t)n);
	return n;
}

int store_in_range(const struct store_series *se, int64_t start, int64_t end)
{
	for (uint32_t i = 0; i < se->nooo; i++)
		if (se->ooo[i].ts_ms >= start && se->ooo[i].ts_ms <= end)
			return 1;
	if (se->head.n && se->head.last_ts >= start && se->head.first_ts <= end)
		return 1;
	for (uint32_t i = se->nclosed; i-- > 0;) {
		const struct store_chunk *c = &se->closed[i];
		if (c->max_ts < start)
			break;
		if (c->min_ts <= end)
			return 1;
	}
	return 0;
}

size_t store_series_bytes(const struct store_series *se)
{
	size_t b = se->head.cap + (size_t)se->closed_cap * sizeof(*se->closed) +
		   (size_t)se->ooo_cap * sizeof(*se->ooo);
	for (uint32_t i = 0; i < se->nclosed; i++)
		b += se->closed[i].len;
	return b;
}
