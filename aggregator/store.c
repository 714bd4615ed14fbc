/* store: see store.h. */
#include "aggregator/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/series.h"

int store_init(struct store *s)
{
	memset(s, 0, sizeof(*s));
	s->table_cap = 1u << 14;
	s->table = calloc(s->table_cap, sizeof(*s->table));
	return s->table ? 0 : -ENOMEM;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nseries; i++) {
		free(s->series[i].key);
		free(s->series[i].pts);
	}
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
	s->table[h].id = id;
	s->table[h].idx1 = (uint32_t)(s->nseries + 1);
	long idx = (long)s->nseries++;
	if (s->nseries * 2 > s->table_cap && store_rehash(s) != 0)
		return -ENOMEM;
	return idx;
}

uint32_t store_lower_bound(const struct store_series *se, int64_t t)
{
	uint32_t lo = 0, hi = se->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (se->pts[mid].ts_ms < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int store_add(struct store *s, size_t idx, int64_t ts_ms, double value)
{
	struct store_series *se = &s->series[idx];
	uint32_t pos = se->n;
	int result = STORE_APPENDED;
	if (se->n && se->pts[se->n - 1].ts_ms >= ts_ms) {
		pos = store_lower_bound(se, ts_ms);
		if (pos < se->n && se->pts[pos].ts_ms == ts_ms)
			return STORE_DUPLICATE;
		result = STORE_OUT_OF_ORDER;
	}
	if (se->n == se->cap) {
		uint32_t nc = se->cap ? se->cap * 2 : 16;
		struct rec_point *np = realloc(se->pts, (size_t)nc * sizeof(*np));
		if (!np)
			return -ENOMEM;
		se->pts = np;
		se->cap = nc;
	}
	if (pos < se->n)
		memmove(&se->pts[pos + 1], &se->pts[pos], (size_t)(se->n - pos) * sizeof(*se->pts));
	se->pts[pos].ts_ms = ts_ms;
	se->pts[pos].value = value;
	se->n++;
	s->samples++;
	return result;
}
