/* fanout: see fanout.h.
 *
 * Invariants:
 *  - At most one query of this process is in flight: any reply record whose
 *    qid is not the current one is stale and is released without a look.
 *  - A reply ring is released after each drained batch, so an aggregator is
 *    never blocked by this process for longer than one batch.
 *  - res->index holds slot+1 of every series (by id); ids that collide are
 *    told apart by comparing the key bytes.
 */
#include "apiserver/fanout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/series.h"

/* ---- results ---- */

void fanout_result_init(struct fanout_result *res)
{
	memset(res, 0, sizeof(*res));
}

void fanout_result_reset(struct fanout_result *res)
{
	for (size_t i = 0; i < res->nseries; i++) {
		free(res->series[i].key);
		free(res->series[i].pts);
	}
	res->nseries = 0;
	if (res->index)
		memset(res->index, 0, res->index_cap * sizeof(*res->index));
	res->npoints = 0;
	res->sbuf_len = 0;
	res->nstrs = 0;
	res->status = 0;
	res->msg[0] = '\0';
}

void fanout_result_free(struct fanout_result *res)
{
	if (!res)
		return;
	fanout_result_reset(res);
	free(res->series);
	free(res->index);
	free(res->sbuf);
	free(res->strs);
	fanout_result_init(res);
}

/* Doubles the index and re-inserts every series. Returns 0 or -ENOMEM. */
static int fanout_index_grow(struct fanout_result *res)
{
	size_t cap = res->index_cap ? res->index_cap * 2 : 1024;
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < res->nseries; i++) {
		size_t h = res->series[i].id & (cap - 1);
		while (idx[h])
			h = (h + 1) & (cap - 1);
		idx[h] = (uint32_t)i + 1;
	}
	free(res->index);
	res->index = idx;
	res->index_cap = cap;
	return 0;
}

/* Finds the series with this key, creating it when absent. Returns it, or
 * NULL when out of memory. */
static struct fanout_series *fanout_series_get(struct fanout_result *res, const uint8_t *key,
					       uint16_t key_len)
{
	if ((res->nseries + 1) * 2 > res->index_cap && fanout_index_grow(res) != 0)
		return NULL;
	uint64_t id = series_id(key, key_len);
	size_t h = id & (res->index_cap - 1);
	while (res->index[h]) {
		struct fanout_series *s = &res->series[res->index[h] - 1];
		if (s->id == id && s->key_len == key_len && memcmp(s->key, key, key_len) == 0)
			return s;
		h = (h + 1) & (res->index_cap - 1);
	}
	if (res->nseries == res->series_cap) {
		size_t cap = res->series_cap ? res->series_cap * 2 : 256;
		struct fanout_series *ns = realloc(res->series, cap * sizeof(*ns));
		if (!ns)
			return NULL;
		res->series = ns;
		res->series_cap = cap;
	}
	struct fanout_series *s = &res->series[res->nseries];
	memset(s, 0, sizeof(*s));
	s->key = malloc(key_len);
	if (!s->key)
		return NULL;
	memcpy(s->key, key, key_len);
	s->key_len = key_len;
	s->id = id;
	res->index[h] = (uint32_t)res->nseries + 1;
	res->nseries++;
	return s;
}

int fanout_result_add_series(struct fanout_result *res, const uint8_t *key, uint16_t key_len,
			     const struct rec_series *piece)
{
	if (res->max_points && res->npoints + piece->npoints > res->max_points)
		return -E2BIG;
	struct fanout_series *s = fanout_series_get(res, key, key_len);
	if (!s)
		return -ENOMEM;
	if (piece->npoints == 0)
		return 0;
	if (s->npts + piece->npoints > s->cap) {
		uint64_t cap = s->cap ? s->cap : 16;
		while (cap < (uint64_t)s->npts + piece->npoints)
			cap *= 2;
		if (cap > UINT32_MAX)
			return -E2BIG;
		struct rec_point *np = realloc(s->pts, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		s->pts = np;
		s->cap = (uint32_t)cap;
	}
	/* Ring bytes are only 8-byte aligned; copy, never cast. */
	memcpy(s->pts + s->npts, piece->points, (size_t)piece->npoints * REC_POINT);
	s->npts += piece->npoints;
	res->npoints += piece->npoints;
	return 0;
}

int fanout_result_add_string(struct fanout_result *res, const char *s, uint16_t len)
{
	if (res->sbuf_len + len > res->sbuf_cap) {
		size_t cap = res->sbuf_cap ? res->sbuf_cap : 4096;
		while (cap < res->sbuf_len + len)
			cap *= 2;
		if (cap > UINT32_MAX)
			return -ENOMEM;
		char *nb = realloc(res->sbuf, cap);
		if (!nb)
			return -ENOMEM;
		res->sbuf = nb;
		res->sbuf_cap = cap;
	}
	if (res->nstrs == res->strs_cap) {
		size_t cap = res->strs_cap ? res->strs_cap * 2 : 256;
		struct fanout_str *ns = realloc(res->strs, cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		res->strs = ns;
		res->strs_cap = cap;
	}
	memcpy(res->sbuf + res->sbuf_len, s, len);
	res->strs[res->nstrs].off = (uint32_t)res->sbuf_len;
	res->strs[res->nstrs].len = len;
	res->nstrs++;
	res->sbuf_len += len;
	return 0;
}

/* qsort has no context argument: the buffer being sorted is set here. */
static __thread const char *fanout_sort_sbuf;

/* qsort comparator of strings in fanout_sort_sbuf: bytewise, prefix first. */
static int fanout_str_cmp(const void *a, const void *b)
{
	const struct fanout_str *x = a, *y = b;
	uint32_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(fanout_sort_sbuf + x->off, fanout_sort_sbuf + y->off, n);
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

void fanout_result_sort_strings(struct fanout_result *res)
{
	if (res->nstrs < 2)
		return;
	fanout_sort_sbuf = res->sbuf;
	qsort(res->strs, res->nstrs, sizeof(*res->strs), fanout_str_cmp);
	size_t o = 1;
	for (size_t i = 1; i < res->nstrs; i++)
		if (fanout_str_cmp(&res->strs[o - 1], &res->strs[i]) != 0)
			res->strs[o++] = res->strs[i];
	res->nstrs = o;
}

/* qsort comparator of points by time. */
static int fanout_point_cmp(const void *a, const void *b)
{
	const struct rec_point *x = a, *y = b;
	return x->ts_ms < y->ts_ms ? -1 : x->ts_ms > y->ts_ms;
}

void fanout_result_sort_points(struct fanout_result *res)
{
	for (size_t i = 0; i < res->nseries; i++) {
		struct fanout_series *s = &res->series[i];
		for (uint32_t k = 1; k < s->npts; k++)
			if (s->pts[k].ts_ms < s->pts[k - 1].ts_ms) {
				/* Out of order: sort. Equal times keep no particular
				 * order, which only matters for duplicates. */
				qsort(s->pts, s->npts, sizeof(*s->pts), fanout_point_cmp);
				break;
			}
	}
}

/* ---- rings ---- */

/* Releases everything a reply ring holds; returns the records skipped. */
static uint64_t fanout_drain(struct ring *r)
{
	struct ring_rec rec;
	uint64_t n = 0;
	int rc;
	while ((rc = ring_next(r, &rec)) != 0) {
		if (rc == 1)
			n++;
		if (n % 4096 == 0)
			ring_release(r);
	}
	ring_release(r);
	return n;
}

int fanout_init(struct fanout *f, struct stage *st)
{
	char name[64];
	int rc = 0;
	memset(f, 0, sizeof(*f));
	f->st = st;
	uint32_t m = st->ctl.hdr->n_stage[CTL_AGGREGATOR];
	if (m > FANOUT_MAX_AGGREGATORS) {
		log_error("the instance has %u aggregators; the apiserver handles at most %u", m,
			  FANOUT_MAX_AGGREGATORS);
		return -E2BIG;
	}
	f->q = calloc(m ? m : 1, sizeof(*f->q));
	f->r = calloc(m ? m : 1, sizeof(*f->r));
	if (!f->q || !f->r) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t j = 0; j < m; j++) {
		ctl_ring_query(name, sizeof(name), st->index, j);
		rc = stage_ring_open(st, &f->q[j], name, RING_ROLE_PRODUCER);
		if (rc != 0)
			goto fail;
		f->m = j + 1; /* from here on fanout_fini detaches ring j */
		ctl_ring_reply(name, sizeof(name), j, st->index);
		rc = stage_ring_open(st, &f->r[j], name, RING_ROLE_CONSUMER);
		if (rc != 0)
			goto fail;
		uint64_t n = fanout_drain(&f->r[j]);
		if (n)
			log_info("released %llu stale reply records from %s", (unsigned long long)n, name);
	}
	f->m = m;
	return 0;
fail:
	fanout_fini(f);
	return rc;
}

void fanout_fini(struct fanout *f)
{
	if (!f)
		return;
	for (uint32_t j = 0; j < f->m && f->q && f->r; j++) {
		ring_detach(&f->q[j]);
		ring_detach(&f->r[j]);
	}
	free(f->q);
	free(f->r);
	f->q = f->r = NULL;
	f->m = 0;
}

/* Bytes rec_query_encode writes for q. */
static size_t fanout_query_size(const struct rec_query *q)
{
	size_t n = 48 + (((size_t)q->label_name_len + 7u) & ~(size_t)7u);
	for (uint32_t i = 0; i < q->nmatchers; i++)
		n += (8u + (size_t)q->m[i].name_len + q->m[i].value_len + 7u) & ~(size_t)7u;
	return n;
}

/* Writes the encoded query buf[len] into ring r, waiting in heartbeat
 * slices until deadline. Returns 0, -ETIMEDOUT, or -EMSGSIZE when the ring
 * can never hold it. */
static int fanout_send(struct fanout *f, struct ring *r, const void *buf, size_t len,
		       uint64_t deadline)
{
	if (len > ring_max_payload(r->capacity))
		return -EMSGSIZE;
	/* Room the reservation takes, padding to the end of the area included
	 * (the same arithmetic as ring_reserve), so that waiting for it with
	 * ring_wait_space does not count a drop on every slice. */
	uint64_t rec = ring_rec_size(len);
	uint64_t to_end = r->capacity - (r->wpos & r->mask);
	uint64_t total = rec <= to_end ? rec : to_end + rec;
	for (;;) {
		uint64_t now = segment_now_mono_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t left = deadline - now;
		int slice = left < FANOUT_SLICE_MS ? (int)left : FANOUT_SLICE_MS;
		if (ring_wait_space(r, total, slice) == 0)
			break;
		stage_beat(f->st);
	}
	int rc = ring_write(r, REC_QUERY, buf, (uint32_t)len, 0);
	if (rc == 0)
		ring_publish(r);
	return rc;
}

/* Handles one reply record of aggregator j. Returns 1 when it was that
 * aggregator's REC_END for qid, 0 to go on, or a negative errno that ends
 * the query. */
static int fanout_take(struct fanout *f, uint64_t qid, const struct ring_rec *rec,
		       struct fanout_result *res)
{
	if (rec_response_qid(rec->data, rec->len) != qid) {
		f->stale++;
		return 0;
	}
	switch (rec->type) {
	case REC_SERIES: {
		struct rec_series s;
		if (rec_series_decode(&s, rec->data, rec->len) != 0 ||
		    series_key_validate(s.key, s.key_len) != 0) {
			ctl_add(f->st->slot, CTL_C_RECORDS_CORRUPT, 1);
			return 0;
		}
		return fanout_result_add_series(res, s.key, s.key_len, &s);
	}
	case REC_STRINGS: {
		struct rec_strings_iter it;
		const char *s;
		uint16_t len;
		int rc;
		if (rec_strings_iter_init(&it, rec->data, rec->len) != 0) {
			ctl_add(f->st->slot, CTL_C_RECORDS_CORRUPT, 1);
			return 0;
		}
		while ((rc = rec_strings_next(&it, &s, &len)) == 1)
			if (fanout_result_add_string(res, s, len) != 0)
				return -ENOMEM;
		if (rc < 0)
			ctl_add(f->st->slot, CTL_C_RECORDS_CORRUPT, 1);
		return 0;
	}
	case REC_END: {
		struct rec_end e;
		if (rec_end_decode(&e, rec->data, rec->len) != 0) {
			ctl_add(f->st->slot, CTL_C_RECORDS_CORRUPT, 1);
			return 0;
		}
		if (e.status != 0 && res->status == 0) {
			res->status = e.status;
			size_t n = e.msg_len < sizeof(res->msg) - 1 ? e.msg_len : sizeof(res->msg) - 1;
			memcpy(res->msg, e.msg, n);
			res->msg[n] = '\0';
			if (n == 0)
				snprintf(res->msg, sizeof(res->msg), "%s", strerror(-e.status));
		} else if (e.status == 0 && e.msg_len && e.msg_len <= UINT16_MAX) {
			/* A successful end may carry a summary (REC_Q_FLUSH): kept
			 * as one more string of the answer. */
			int rc = fanout_result_add_string(res, e.msg, (uint16_t)e.msg_len);
			if (rc)
				return rc;
		}
		return 1;
	}
	default:
		ctl_add(f->st->slot, CTL_C_RECORDS_CORRUPT, 1);
		return 0;
	}
}

int fanout_query(struct fanout *f, struct rec_query *q, int64_t timeout_ms, struct fanout_result *res)
{
	struct ring *rs[FANOUT_MAX_AGGREGATORS];
	uint8_t done[FANOUT_MAX_AGGREGATORS];
	uint32_t ndone = 0;
	int rc = 0;
	fanout_result_reset(res);
	if (timeout_ms < 1)
		timeout_ms = 1;
	uint64_t deadline = segment_now_mono_ms() + (uint64_t)timeout_ms;
	q->qid = ((uint64_t)(uint32_t)getpid() << 32) | ++f->counter;
	size_t need = fanout_query_size(q);
	uint8_t *enc = malloc(need);
	if (!enc)
		return -ENOMEM;
	int len = rec_query_encode(q, enc, need);
	if (len < 0) {
		free(enc);
		return len;
	}
	for (uint32_t j = 0; j < f->m; j++) {
		rc = fanout_send(f, &f->q[j], enc, (size_t)len, deadline);
		if (rc != 0) {
			log_warn("query %llx: sending to aggregator %u failed: %s",
				 (unsigned long long)q->qid, j, strerror(-rc));
			free(enc);
			return rc == -EMSGSIZE ? -E2BIG : -ETIMEDOUT;
		}
		rs[j] = &f->r[j];
		done[j] = 0;
	}
	free(enc);
	while (ndone < f->m) {
		stage_beat(f->st);
		if (stage_stop_requested) {
			rc = -ECANCELED;
			break;
		}
		uint64_t now = segment_now_mono_ms();
		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		uint64_t left = deadline - now;
		int slice = left < FANOUT_SLICE_MS ? (int)left : FANOUT_SLICE_MS;
		if (ring_wait_any(rs, (int)f->m, slice) == 0)
			continue;
		for (uint32_t j = 0; j < f->m && rc == 0; j++) {
			struct ring_rec rec;
			int n, taken = 0;
			while ((n = ring_next(&f->r[j], &rec)) != 0) {
				if (n < 0) {
					ctl_add(f->st->slot, CTL_C_RECORDS_CORRUPT, 1);
					continue;
				}
				int t = fanout_take(f, q->qid, &rec, res);
				if (t < 0) {
					rc = t;
					break;
				}
				if (t == 1 && !done[j]) {
					done[j] = 1;
					ndone++;
				}
				/* Release in batches so a long answer frees room
				 * for the aggregator while it is still writing. */
				if (++taken % 1024 == 0)
					ring_release(&f->r[j]);
			}
			ring_release(&f->r[j]);
		}
		if (rc != 0)
			break;
	}
	if (rc == 0 && res->status != 0)
		rc = -EREMOTEIO;
	if (rc == 0)
		fanout_result_sort_points(res);
	return rc;
}
