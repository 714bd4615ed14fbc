/* query: see query.h. The head is matched series by series; blocks are
 * matched through their postings (tsdb_select). A series' points are the
 * merge of every block's and the head's, equal timestamps dropped with the
 * blocks' value kept (tsdb.h explains why both can hold one sample).
 *
 * Sections: matching; the reply records; SELECT and SERIES (blocks in key
 * order first, then the head's series no block had); label names and
 * values (collected, sorted, unique); STATUS; the dispatcher. */
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
	uint32_t off;             /* into the string arena */
	uint16_t len;
};

/* One SELECT/SERIES answer being streamed. */
struct query_run {
	struct store *s;
	const struct rec_query *q;
	const struct query_sets *qs;
	struct ring *reply;
	int wait_ms;
	char *msg;
	size_t msglen;
	uint32_t count;           /* series answered */
	uint64_t since_publish;   /* bytes committed since the last publish */
	uint8_t *seen;            /* per head series: answered from the blocks */
	int tier;
};

/* Label strings being collected: offsets into one arena. */
struct query_strs {
	struct query_str *v;
	size_t n, cap;
	char *arena;
	size_t alen, acap;
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

/* Writes the final REC_END of query qid (msg may be NULL; at most 1024
 * bytes are sent) and publishes. Returns 0 or -ETIMEDOUT when the ring
 * stayed full for wait_ms. */
int query_reply_end(struct ring *reply, uint64_t qid, int32_t status, const char *msg, int wait_ms)
{
	void *p = ring_reserve(reply, 16 + 1024, wait_ms);
	if (!p)
		return -ETIMEDOUT; /* full (EAGAIN with no wait) is abandoned like a timeout */
	int n = rec_end_encode(p, 16 + 1024, qid, status, msg);
	ring_commit(reply, REC_END, (uint32_t)n);
	ring_publish(reply);
	return 0;
}

/* Streams one series (key and its n points; n == 0 for REC_Q_SERIES) as
 * REC_SERIES pieces. Returns 0, -E2BIG (limit, message set), -ETIMEDOUT. */
static int query_emit(struct query_run *r, const uint8_t *key, uint16_t key_len, const struct rec_point *pts,
		      uint32_t to)
{
	uint32_t from = 0;
	uint32_t room = ring_max_payload(r->reply->capacity); /* 64 KiB rings take 16 KiB records */
	if (r->q->limit && ++r->count > r->q->limit) {
		snprintf(r->msg, r->msglen, "query selects more than %u series", r->q->limit);
		return -E2BIG;
	}
	/* Points per piece: QUERY_PIECE_POINTS, or fewer when the reply ring
	 * is too small for records that large (keys are <= SERIES_KEY_MAX,
	 * so a piece always holds some points). */
	uint32_t piece = (uint32_t)((room - rec_series_size(key_len, 0)) / REC_POINT);
	if (piece > QUERY_PIECE_POINTS)
		piece = QUERY_PIECE_POINTS;
	do {
		uint32_t n = to - from > piece ? piece : to - from;
		size_t sz = rec_series_size(key_len, n);
		void *p = ring_reserve(r->reply, (uint32_t)sz, r->wait_ms);
		if (!p)
			return -ETIMEDOUT;
		rec_series_encode(p, sz, r->q->qid, key, key_len, pts + from, n);
		ring_commit(r->reply, REC_SERIES, (uint32_t)sz);
		r->since_publish += sz;
		from += n;
	} while (from < to);
	if (r->since_publish > 256 * 1024) {
		ring_publish(r->reply);
		r->since_publish = 0;
	}
	return 0;
}

/* Index of the head series (id, key) or -1; never creates one. */
static long query_head_find(const struct store *s, uint64_t id, const uint8_t *key, size_t key_len)
{
	size_t mask = s->table_cap - 1;
	for (size_t h = id & mask; s->table[h].idx1; h = (h + 1) & mask) {
		const struct store_series *se = &s->series[s->table[h].idx1 - 1];
		if (s->table[h].id == id && se->key_len == key_len && memcmp(se->key, key, key_len) == 0)
			return (long)(s->table[h].idx1 - 1);
	}
	return -1;
}

static struct rec_point *query_pts, *query_mix; /* reused across queries */
static size_t query_pts_cap, query_mix_cap;

/* tsdb_select callback: one series of the blocks, merged with the head's
 * points of the same series (blocks win on equal timestamps). */
static int query_block_series(void *arg, const uint8_t *key, size_t key_len, uint64_t id,
			      const struct rec_point *bp, size_t bn)
{
	struct query_run *r = arg;
	long idx = r->tier == 0 ? query_head_find(r->s, id, key, key_len) : -1;
	long hn = 0;
	if (idx >= 0) {
		r->seen[idx] = 1;
		if (r->q->kind == REC_Q_SELECT)
			hn = store_read(&r->s->series[idx], r->q->start_ms, r->q->end_ms, &query_pts, &query_pts_cap);
		if (hn < 0) {
			snprintf(r->msg, r->msglen, "series data could not be decoded: %s", strerror((int)-hn));
			return (int)hn;
		}
	}
	if (hn == 0)
		return query_emit(r, key, (uint16_t)key_len, bp, (uint32_t)bn);
	if (bn + (size_t)hn > query_mix_cap) {
		struct rec_point *m = realloc(query_mix, (bn + (size_t)hn) * sizeof(*m));
		if (!m)
			return -ENOMEM;
		query_mix = m;
		query_mix_cap = bn + (size_t)hn;
	}
	size_t i = 0, j = 0, w = 0;
	while (i < bn || j < (size_t)hn) {
		if (j == (size_t)hn || (i < bn && bp[i].ts_ms <= query_pts[j].ts_ms)) {
			if (j < (size_t)hn && bp[i].ts_ms == query_pts[j].ts_ms)
				j++; /* the same sample in a block and the head */
			query_mix[w++] = bp[i++];
		} else {
			query_mix[w++] = query_pts[j++];
		}
	}
	return query_emit(r, key, (uint16_t)key_len, query_mix, (uint32_t)w);
}

static int query_series(struct store *s, struct tsdb *t, const struct tsdb_sel *sel, const struct rec_query *q,
			const struct query_sets *qs, struct ring *reply, int wait_ms, char *msg, size_t msglen)
{
	struct query_run r = {s, q, qs, reply, wait_ms, msg, msglen, 0, 0, NULL, 0};
	int rc = 0;
	if (t) {
		r.tier = tsdb_query_tier(t, q->step_ms, q->start_ms, q->end_ms);
		r.seen = calloc(s->nseries + 1, 1);
		if (!r.seen)
			return -ENOMEM;
		rc = tsdb_select(t, r.tier, sel, q->start_ms, q->end_ms, q->kind == REC_Q_SERIES ? TSDB_SEL_KEYS : 0,
				 query_block_series, &r);
	}
	for (size_t i = 0; i < s->nseries && rc == 0 && r.tier == 0; i++) {
		const struct store_series *se = &s->series[i];
		if ((r.seen && r.seen[i]) || !query_in_range(se, q->start_ms, q->end_ms) || !query_match(qs, se))
			continue;
		long n = 0; /* REC_Q_SERIES: keys only */
		if (q->kind == REC_Q_SELECT) {
			n = store_read(se, q->start_ms, q->end_ms, &query_pts, &query_pts_cap);
			if (n < 0) {
				snprintf(msg, msglen, "series data could not be decoded: %s", strerror((int)-n));
				rc = (int)n;
				break;
			}
			if (n == 0)
				continue; /* chunk bounds overlapped, no sample inside */
		}
		rc = query_emit(&r, se->key, se->key_len, query_pts, (uint32_t)n);
	}
	if (rc == 0 && t && q->step_ms > 0 && q->kind == REC_Q_SELECT) {
		char name[16];
		if (tier_name(&t->tiers, r.tier, name, sizeof(name)) == 0)
			snprintf(msg, msglen, "tier=%s", name);
	}
	free(r.seen);
	return rc;
}

static struct query_strs *query_cmp_ctx; /* qsort has no context argument */

static int query_str_cmp(const void *a, const void *b)
{
	const struct query_str *x = a, *y = b;
	const char *xs = query_cmp_ctx->arena + x->off, *ys = query_cmp_ctx->arena + y->off;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(xs, ys, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Copies one string into the collection. Returns 0 or -ENOMEM. */
static int query_strs_add(void *arg, const char *str, size_t len)
{
	struct query_strs *v = arg;
	if (len > UINT16_MAX)
		return 0;
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 1024;
		struct query_str *nv = realloc(v->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = nc;
	}
	if (v->alen + len > v->acap) {
		size_t nc = v->acap ? v->acap * 2 : 65536;
		while (nc < v->alen + len)
			nc *= 2;
		char *na = realloc(v->arena, nc);
		if (!na)
			return -ENOMEM;
		v->arena = na;
		v->acap = nc;
	}
	memcpy(v->arena + v->alen, str, len);
	v->v[v->n].off = (uint32_t)v->alen;
	v->v[v->n++].len = (uint16_t)len;
	v->alen += len;
	return 0;
}

static int query_strings(struct store *s, struct tsdb *t, const struct tsdb_sel *sel, const struct rec_query *q,
			 const struct query_sets *qs, struct ring *reply, int wait_ms, char *msg, size_t msglen)
{
	struct query_strs v = {0};
	int rc = 0;
	for (size_t i = 0; i < s->nseries && rc == 0; i++) {
		const struct store_series *se = &s->series[i];
		if (!query_in_range(se, q->start_ms, q->end_ms) || !query_match(qs, se))
			continue;
		struct series_key_iter it;
		struct series_label l;
		series_key_iter_init(&it, se->key, se->key_len);
		while (rc == 0 && series_key_next(&it, &l) == 1) {
			if (q->kind == REC_Q_LABEL_NAMES)
				rc = query_strs_add(&v, l.name, l.name_len);
			else if (l.name_len == q->label_name_len && memcmp(l.name, q->label_name, l.name_len) == 0)
				rc = query_strs_add(&v, l.value, l.value_len);
		}
	}
	if (rc == 0 && t)
		rc = tsdb_label_strings(t, sel, q->kind == REC_Q_LABEL_NAMES ? NULL : q->label_name,
					q->label_name_len, q->start_ms, q->end_ms, query_strs_add, &v);
	query_cmp_ctx = &v;
	if (v.n)
		qsort(v.v, v.n, sizeof(*v.v), query_str_cmp);
	struct rec_strings_writer w;
	int open = 0;
	uint32_t rec_max = ring_max_payload(reply->capacity);
	if (rec_max > QUERY_STRINGS_MAX)
		rec_max = QUERY_STRINGS_MAX;
	uint32_t count = 0;
	for (size_t i = 0; i < v.n && rc == 0; i++) {
		if (i > 0 && query_str_cmp(&v.v[i - 1], &v.v[i]) == 0)
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
			if (rec_strings_add(&w, v.arena + v.v[i].off, v.v[i].len) == 0)
				break;
			ring_commit(reply, REC_STRINGS, (uint32_t)rec_strings_end(&w));
			open = 0;
		}
	}
	if (open)
		ring_commit(reply, REC_STRINGS, (uint32_t)rec_strings_end(&w));
	free(v.v);
	free(v.arena);
	return rc;
}

/* REC_Q_STATUS: one REC_STRINGS record holding the shard's JSON. */
static int query_status(struct store *s, struct tsdb *t, const struct rec_query *q, struct ring *reply,
			int wait_ms, char *msg, size_t msglen)
{
	char *json = NULL;
	struct rec_strings_writer w;
	if (!t) {
		snprintf(msg, msglen, "this shard has no block storage");
		return -ENOTSUP;
	}
	int rc = tsdb_status_json(t, s, &json);
	if (rc)
		return rc;
	size_t len = strlen(json), need = 16 + 2 + len + 8;
	if (len > UINT16_MAX || need > ring_max_payload(reply->capacity)) {
		snprintf(msg, msglen, "status of %zu bytes does not fit the reply ring", len);
		free(json);
		return -E2BIG;
	}
	void *p = ring_reserve(reply, (uint32_t)need, wait_ms);
	if (!p) {
		free(json);
		return -ETIMEDOUT;
	}
	rec_strings_begin(&w, p, need, q->qid);
	rc = rec_strings_add(&w, json, (uint16_t)len);
	ring_commit(reply, REC_STRINGS, (uint32_t)rec_strings_end(&w));
	free(json);
	return rc;
}

/* See query.h. */
int query_serve(struct store *s, struct tsdb *t, const struct rec_query *q, struct ring *reply, int wait_ms)
{
	static struct query_sets qs; /* large: not on the stack; one query at a time */
	struct tsdb_sel sel = {.nsets = 0};
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
		sel.m[set] = qs.m[set];
		sel.n[set] = (size_t)n;
		sel.nsets = set + 1;
	}
	if (rc == 0) {
		if (q->kind == REC_Q_SELECT || q->kind == REC_Q_SERIES)
			rc = query_series(s, t, &sel, q, &qs, reply, wait_ms, msg, sizeof(msg));
		else if (q->kind == REC_Q_LABEL_NAMES || q->kind == REC_Q_LABEL_VALUES)
			rc = query_strings(s, t, &sel, q, &qs, reply, wait_ms, msg, sizeof(msg));
		else if (q->kind == REC_Q_STATUS)
			rc = query_status(s, t, q, reply, wait_ms, msg, sizeof(msg));
		else {
			snprintf(msg, sizeof(msg), "query kind %u is not served here", q->kind);
			rc = -EINVAL;
		}
	}
	query_sets_free(&qs);
	if (rc == -ETIMEDOUT)
		return rc;
	if (rc && !msg[0])
		snprintf(msg, sizeof(msg), "%s", strerror(-rc));
	return query_reply_end(reply, q->qid, rc, msg[0] ? msg : NULL, wait_ms);
}
