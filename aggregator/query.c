/* query: see query.h. Brute force over every series for now; the storage
 * issue brings postings. */
#include "aggregator/query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/matcher.h"
#include "common/series.h"

#define QUERY_STRINGS_MAX (60u * 1024u)

struct query_sets {
	struct matcher m[REC_MAX_SETS][REC_MAX_MATCHERS];
	int n[REC_MAX_SETS];
	uint32_t nsets;
};

struct query_str {
	const char *s;
	uint16_t len;
};

static void query_sets_free(struct query_sets *qs)
{
	for (uint32_t i = 0; i < qs->nsets; i++)
		for (int j = 0; j < qs->n[i]; j++)
			matcher_free(&qs->m[i][j]);
}

static int query_match(const struct query_sets *qs, const struct store_series *se)
{
	if (qs->nsets == 0)
		return 1;
	for (uint32_t i = 0; i < qs->nsets; i++)
		if (matcher_match_key(qs->m[i], (size_t)qs->n[i], se->key, se->key_len))
			return 1;
	return 0;
}

static int query_in_range(const struct store_series *se, int64_t start, int64_t end)
{
	return store_in_range(se, start, end);
}

static int query_end(struct ring *reply, uint64_t qid, int32_t status, const char *msg, int wait_ms)
{
	void *p = ring_reserve(reply, 16 + 1024, wait_ms);
	if (!p)
		return -ETIMEDOUT; /* full (EAGAIN with no wait) is abandoned like a timeout */
	int n = rec_end_encode(p, 16 + 1024, qid, status, msg);
	ring_commit(reply, REC_END, (uint32_t)n);
	ring_publish(reply);
	return 0;
}

static int query_series(struct store *s, const struct rec_query *q, const struct query_sets *qs,
			struct ring *reply, int wait_ms, char *msg, size_t msglen)
{
	static struct rec_point *pts; /* decoded samples, reused across queries */
	static size_t cap;
	uint32_t count = 0;
	uint64_t since_publish = 0;
	uint32_t room = ring_max_payload(reply->capacity); /* 64 KiB rings take 16 KiB records */
	for (size_t i = 0; i < s->nseries; i++) {
		const struct store_series *se = &s->series[i];
		if (!query_in_range(se, q->start_ms, q->end_ms) || !query_match(qs, se))
			continue;
		if (q->limit && ++count > q->limit) {
			snprintf(msg, msglen, "query selects more than %u series", q->limit);
			return -E2BIG;
		}
		uint32_t from = 0, to = 0; /* REC_Q_SERIES: keys only */
		if (q->kind == REC_Q_SELECT) {
			long n = store_read(se, q->start_ms, q->end_ms, &pts, &cap);
			if (n < 0) {
				snprintf(msg, msglen, "series data could not be decoded: %s", strerror((int)-n));
				return (int)n;
			}
			if (n == 0)
				continue; /* chunk bounds overlapped, no sample inside */
			to = (uint32_t)n;
		}
		/* Points per piece: QUERY_PIECE_POINTS, or fewer when the reply ring
		 * is too small for records that large (keys are <= SERIES_KEY_MAX,
		 * so a piece always holds some points). */
		uint32_t piece = (uint32_t)((room - rec_series_size(se->key_len, 0)) / REC_POINT);
		if (piece > QUERY_PIECE_POINTS)
			piece = QUERY_PIECE_POINTS;
		do {
			uint32_t n = to - from > piece ? piece : to - from;
			size_t sz = rec_series_size(se->key_len, n);
			void *p = ring_reserve(reply, (uint32_t)sz, wait_ms);
			if (!p)
				return -ETIMEDOUT;
			rec_series_encode(p, sz, q->qid, se->key, se->key_len, pts + from, n);
			ring_commit(reply, REC_SERIES, (uint32_t)sz);
			since_publish += sz;
			from += n;
		} while (from < to);
		if (since_publish > 256 * 1024) {
			ring_publish(reply);
			since_publish = 0;
		}
	}
	return 0;
}

static int query_str_cmp(const void *a, const void *b)
{
	const struct query_str *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int query_strings(struct store *s, const struct rec_query *q, const struct query_sets *qs,
			 struct ring *reply, int wait_ms, char *msg, size_t msglen)
{
	struct query_str *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (size_t i = 0; i < s->nseries; i++) {
		const struct store_series *se = &s->series[i];
		if (!query_in_range(se, q->start_ms, q->end_ms) || !query_match(qs, se))
			continue;
		struct series_key_iter it;
		struct series_label l;
		series_key_iter_init(&it, se->key, se->key_len);
		while (series_key_next(&it, &l) == 1) {
			const char *str;
			size_t len;
			if (q->kind == REC_Q_LABEL_NAMES) {
				str = l.name;
				len = l.name_len;
			} else if (l.name_len == q->label_name_len && memcmp(l.name, q->label_name, l.name_len) == 0) {
				str = l.value;
				len = l.value_len;
			} else {
				continue;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				struct query_str *nv = realloc(v, nc * sizeof(*nv));
				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
				cap = nc;
			}
			v[n].s = str;
			v[n].len = (uint16_t)len;
			n++;
		}
	}
	if (n)
		qsort(v, n, sizeof(*v), query_str_cmp);
	struct rec_strings_writer w;
	int open = 0;
	uint32_t rec_max = ring_max_payload(reply->capacity);
	if (rec_max > QUERY_STRINGS_MAX)
		rec_max = QUERY_STRINGS_MAX;
	uint32_t count = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (i > 0 && query_str_cmp(&v[i - 1], &v[i]) == 0)
			continue;
		if (q->limit && ++count > q->limit) { /* records.h: limit counts strings too */
			snprintf(msg, msglen, "query selects more than %u strings", q->limit);
			rc = -E2BIG;
			break;
		}
		for (;;) {
			if (!open) {
				void *p = ring_reserve(reply, rec_max, wait_ms);
				if (!p) {
					rc = -ETIMEDOUT;
					break;
				}
				rec_strings_begin(&w, p, rec_max, q->qid);
				open = 1;
			}
			if (rec_strings_add(&w, v[i].s, v[i].len) == 0)
				break;
			ring_commit(reply, REC_STRINGS, (uint32_t)rec_strings_end(&w));
			open = 0;
		}
	}
	if (open)
		ring_commit(reply, REC_STRINGS, (uint32_t)rec_strings_end(&w));
	free(v);
	return rc;
}

int query_serve(struct store *s, const struct rec_query *q, struct ring *reply, int wait_ms)
{
	static struct query_sets qs; /* large: not on the stack; one query at a time */
	char msg[256] = "";
	int rc = 0;
	memset(qs.n, 0, sizeof(qs.n));
	qs.nsets = 0;
	for (uint32_t set = 0; set < q->nsets; set++) {
		int n = matcher_from_query(qs.m[set], REC_MAX_MATCHERS, q, set, msg, sizeof(msg));
		if (n < 0) {
			rc = n;
			break;
		}
		qs.n[set] = n;
		qs.nsets = set + 1;
	}
	if (rc == 0) {
		if (q->kind == REC_Q_SELECT || q->kind == REC_Q_SERIES)
			rc = query_series(s, q, &qs, reply, wait_ms, msg, sizeof(msg));
		else
			rc = query_strings(s, q, &qs, reply, wait_ms, msg, sizeof(msg));
	}
	query_sets_free(&qs);
	if (rc == -ETIMEDOUT)
		return rc;
	if (rc && !msg[0])
		snprintf(msg, sizeof(msg), "%s", strerror(-rc));
	return query_end(reply, q->qid, rc, rc ? msg : NULL, wait_ms);
}
