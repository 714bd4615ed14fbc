/* rollup: downsampled buckets of one series (see rollup.h for the bucket
 * model, the window convention and the invariants).
 *
 * Sections: allocation and bucket helpers; building (raw samples, rollups of
 * finer rollups, slices); the byte encoding; evaluation of range functions;
 * last value at each step.
 *
 * Building is one rule applied twice: rollup_add_raw() folds samples into
 * buckets, rollup_add_rollup() folds whole finer buckets into coarser ones
 * with the same operators (count and sum add, min/max keep the NaN-aware
 * extreme, first comes from the earliest part, last from the latest, a drop
 * between two parts adds the earlier last to the reset correction). So a
 * 5 m -> 1 h rollup equals the 1 h rollup of the raw data: every field bit
 * for bit, except sum and reset_corr, whose additions are grouped
 * differently and may differ in the last bits (never for integer values
 * below 2^53, the usual case of counters).
 */
#include "aggregator/rollup.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* realloc() that frees on size 0, the contract of rollup_alloc_hook. */
static void *rollup_default_alloc(void *p, size_t size)
{
	if (size == 0) {
		free(p);
		return NULL;
	}
	return realloc(p, size);
}

void *(*rollup_alloc_hook)(void *p, size_t size) = rollup_default_alloc;

/* ---- allocation and bucket helpers ---------------------------------- */

/* Fills rs in place as an empty series of buckets width_ms wide. Returns 0,
 * or -EINVAL when width_ms <= 0 or > INT64_MAX / 4. Allocates nothing; the caller later frees
 * with rollup_destroy(). */
int rollup_init(struct rollup_series *rs, int64_t width_ms)
{
	memset(rs, 0, sizeof(*rs));
	if (width_ms <= 0 || width_ms > INT64_MAX / 4)
		return -EINVAL;
	rs->width_ms = width_ms;
	return 0;
}

/* Frees the bucket array and leaves rs empty (width kept). Accepts NULL. */
void rollup_destroy(struct rollup_series *rs)
{
	if (!rs)
		return;
	if (rs->b)
		rollup_alloc_hook(rs->b, 0);
	rs->b = NULL;
	rs->n = 0;
	rs->cap = 0;
}

/* Drops every bucket but keeps the allocation, for reuse across series. */
void rollup_reset(struct rollup_series *rs)
{
	rs->n = 0;
}

/* Returns the end of the bucket holding ts: the smallest multiple of
 * width_ms that is >= ts (buckets are (end - W, end]). The caller keeps ts
 * at most INT64_MAX - width_ms + 1 so that the result fits. */
int64_t rollup_bucket_end(int64_t ts, int64_t width_ms)
{
	int64_t q = ts / width_ms;
	if (ts % width_ms > 0)
		q++;
	return q * width_ms;
}

/* Returns 1 when v is the Prometheus stale marker (compared by bits), else 0. */
int rollup_is_stale(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b == ROLLUP_STALE_NAN_BITS;
}

/* Returns the counter-aware increase inside bucket b (Prometheus' reset
 * rule: a drop means the counter restarted from 0), 0 when b has no value. */
double rollup_bucket_increase(const struct rollup_bucket *b)
{
	if (b->count == 0)
		return 0;
	return b->last - b->first + b->reset_corr;
}

static uint64_t rollup_bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b;
}

static double rollup_dbl(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof(d));
	return d;
}

/* Makes room for one more bucket. Returns 0 or -ENOMEM (rs unchanged). */
static int rollup_grow(struct rollup_series *rs)
{
	if (rs->n < rs->cap)
		return 0;
	size_t cap = rs->cap ? rs->cap * 2 : 16;
	if (cap > SIZE_MAX / sizeof(struct rollup_bucket))
		return -ENOMEM;
	struct rollup_bucket *b = rollup_alloc_hook(rs->b, cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	rs->b = b;
	rs->cap = cap;
	return 0;
}

/* Appends an empty bucket ending at end. Returns it, or NULL on -ENOMEM. */
static struct rollup_bucket *rollup_push(struct rollup_series *rs, int64_t end)
{
	if (rollup_grow(rs) < 0)
		return NULL;
	struct rollup_bucket *b = &rs->b[rs->n++];
	memset(b, 0, sizeof(*b));
	b->end_ts = end;
	b->stale_ts = ROLLUP_NO_STALE;
	b->lead_stale_ts = ROLLUP_NO_STALE;
	return b;
}

/* Prometheus' min_over_time rule: take cur when smaller or when the
 * running minimum is NaN, so the result is NaN only if every value is. */
static double rollup_min2(double acc, double cur)
{
	return (cur < acc || isnan(acc)) ? cur : acc;
}

static double rollup_max2(double acc, double cur)
{
	return (cur > acc || isnan(acc)) ? cur : acc;
}

/* Folds part p (a finer bucket or a one-sample bucket) into accumulator a,
 * p being later in time than everything already in a. */
static void rollup_fold(struct rollup_bucket *a, const struct rollup_bucket *p)
{
	if (p->count == 0) {
		if (a->stale_ts == ROLLUP_NO_STALE)
			a->stale_ts = p->stale_ts;
		return;
	}
	if (a->count == 0) {
		/* Stale markers seen so far all precede the first value. */
		a->lead_stale_ts = a->stale_ts != ROLLUP_NO_STALE ? a->stale_ts : p->lead_stale_ts;
		a->sum = p->sum;
		a->min = p->min;
		a->max = p->max;
		a->first = p->first;
		a->first_ts = p->first_ts;
		a->reset_corr = p->reset_corr;
	} else {
		a->sum += p->sum;
		a->min = rollup_min2(a->min, p->min);
		a->max = rollup_max2(a->max, p->max);
		if (p->first < a->last)
			a->reset_corr += a->last;
		a->reset_corr += p->reset_corr;
	}
	a->count += p->count;
	a->last = p->last;
	a->last_ts = p->last_ts;
	a->stale_ts = p->stale_ts;
}

/* ---- building ------------------------------------------------------- */

/* Folds n raw samples (ts in ms, non-decreasing) into rs, continuing its
 * last bucket when the first samples fall into it. Stale markers are not
 * counted as values; the first one after a bucket's last value is kept as
 * stale_ts. Returns 0; -ERANGE when a timestamp goes back (inside ts[] or
 * before what rs already holds) or is too close to INT64_MAX; -ENOMEM.
 * On error the samples before the bad one stay folded in. rs keeps owning
 * its buckets; ts and v stay the caller's. */
int rollup_add_raw(struct rollup_series *rs, const int64_t *ts, const double *v, size_t n)
{
	int64_t w = rs->width_ms;
	for (size_t i = 0; i < n; i++) {
		if (ts[i] > INT64_MAX - w + 1 || ts[i] < INT64_MIN + 2 * w)
			return -ERANGE;
		int64_t e = rollup_bucket_end(ts[i], w);
		struct rollup_bucket *b = rs->n ? &rs->b[rs->n - 1] : NULL;
		if (b && e < b->end_ts)
			return -ERANGE;
		if (b && e == b->end_ts) {
			if ((b->count && ts[i] < b->last_ts) ||
			    (b->stale_ts != ROLLUP_NO_STALE && ts[i] < b->stale_ts))
				return -ERANGE;
		} else {
			b = rollup_push(rs, e);
			if (!b)
				return -ENOMEM;
		}
		struct rollup_bucket one = {
			.end_ts = e, .count = 1, .sum = v[i], .min = v[i], .max = v[i],
			.first_ts = ts[i], .last_ts = ts[i], .first = v[i], .last = v[i],
			.reset_corr = 0, .stale_ts = ROLLUP_NO_STALE, .lead_stale_ts = ROLLUP_NO_STALE,
		};
		if (rollup_is_stale(v[i])) {
			memset(&one, 0, sizeof(one));
			one.stale_ts = ts[i];
			one.lead_stale_ts = ROLLUP_NO_STALE;
		}
		rollup_fold(b, &one);
	}
	return 0;
}

/* Folds every bucket of the finer series src into rs. src's width must
 * divide rs's width (aligned to the epoch, so each src bucket lies wholly
 * in one rs bucket) and src's samples must come after rs's. Returns 0;
 * -EINVAL when the widths do not fit; -ERANGE when src goes back in time;
 * -ENOMEM (buckets before the failing one stay folded in). src is only
 * read. */
int rollup_add_rollup(struct rollup_series *rs, const struct rollup_series *src)
{
	int64_t w = rs->width_ms;
	if (src->width_ms <= 0 || w % src->width_ms != 0)
		return -EINVAL;
	for (size_t i = 0; i < src->n; i++) {
		const struct rollup_bucket *p = &src->b[i];
		if (p->end_ts > INT64_MAX - w + 1 || p->end_ts < INT64_MIN + 2 * w)
			return -ERANGE;
		int64_t e = rollup_bucket_end(p->end_ts, w);
		struct rollup_bucket *b = rs->n ? &rs->b[rs->n - 1] : NULL;
		if (b && e < b->end_ts)
			return -ERANGE;
		if (b && e == b->end_ts) {
			int64_t pmin = p->count ? p->first_ts : p->stale_ts;
			if ((b->count && pmin < b->last_ts) ||
			    (b->stale_ts != ROLLUP_NO_STALE && pmin < b->stale_ts))
				return -ERANGE;
		} else {
			b = rollup_push(rs, e);
			if (!b)
				return -ENOMEM;
		}
		rollup_fold(b, p);
	}
	return 0;
}

/* Copies into out (filled in place, same width) the buckets of rs whose end
 * lies in (from_excl, to_incl], e.g. the part of a series that goes into one
 * block file. Returns 0 or -ENOMEM (out then empty). The caller owns out
 * and frees it with rollup_destroy(). */
int rollup_slice(const struct rollup_series *rs, int64_t from_excl, int64_t to_incl,
		 struct rollup_series *out)
{
	int rc = rollup_init(out, rs->width_ms);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < rs->n; i++) {
		if (rs->b[i].end_ts <= from_excl || rs->b[i].end_ts > to_incl)
			continue;
		struct rollup_bucket *b = rollup_push(out, rs->b[i].end_ts);
		if (!b) {
			rollup_destroy(out);
			return -ENOMEM;
		}
		*b = rs->b[i];
	}
	return 0;
}

/* ---- encoding ------------------------------------------------------- */
/*
 * Layout (all integers LEB128 varints unless said):
 *   'R' 'U' version(1 byte) flags(1 byte, 0) width n
 *   per bucket:
 *     index step: zigzag(end/W) for the first bucket, end/W - prev - 1 after
 *     count
 *     flags (ROLLUP_F_*; one byte unless a rare flag >= 128 is set)
 *     count > 0: end - first_ts (< W), last_ts - first_ts
 *     ROLLUP_F_STALE: end - stale_ts (< W)
 *     ROLLUP_F_LEAD_STALE: first_ts - lead_stale_ts (< W)
 *     count > 0, values as XOR against a predictor, each written as
 *     one byte (trailing zero bytes << 4 | significant bytes) and the
 *     significant bytes, big-endian; a zero XOR is the single byte 0:
 *       first ^ previous bucket's last
 *       last ^ first            unless ROLLUP_F_LAST_FIRST
 *       min ^ previous min      unless ROLLUP_F_MIN_FIRST / _MIN_LAST
 *       max ^ previous max      unless ROLLUP_F_MAX_FIRST / _MAX_LAST
 *       sum ^ previous sum      when count > 1 or ROLLUP_F_SUM
 *                               (otherwise sum = first, as for one value)
 *       reset_corr              when ROLLUP_F_CORR
 * The predictors make counters (first near the previous last) and
 * near-constant gauges (min/max/sum repeat) cost a byte or two per field.
 */
enum {
	ROLLUP_F_STALE = 1,
	ROLLUP_F_CORR = 2,
	ROLLUP_F_MIN_FIRST = 4,
	ROLLUP_F_MIN_LAST = 8,
	ROLLUP_F_MAX_FIRST = 16,
	ROLLUP_F_MAX_LAST = 32,
	ROLLUP_F_LAST_FIRST = 64,
	ROLLUP_F_SUM = 128,        /* count 1 with sum != first: never built here */
	ROLLUP_F_LEAD_STALE = 256,
	ROLLUP_F_ALL = 511,
};

struct rollup_wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void rollup_put(struct rollup_wbuf *w, const uint8_t *src, size_t n)
{
	if (w->err)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *p = rollup_alloc_hook(w->p, cap);
		if (!p) {
			w->err = -ENOMEM;
			return;
		}
		w->p = p;
		w->cap = cap;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void rollup_put_varint(struct rollup_wbuf *w, uint64_t x)
{
	uint8_t tmp[10];
	size_t n = 0;
	while (x >= 0x80) {
		tmp[n++] = (uint8_t)(x | 0x80);
		x >>= 7;
	}
	tmp[n++] = (uint8_t)x;
	rollup_put(w, tmp, n);
}

static void rollup_put_xor(struct rollup_wbuf *w, double v, double pred)
{
	uint64_t x = rollup_bits(v) ^ rollup_bits(pred);
	uint8_t tmp[9];
	if (x == 0) {
		tmp[0] = 0;
		rollup_put(w, tmp, 1);
		return;
	}
	unsigned tz = (unsigned)__builtin_ctzll(x) / 8, lz = (unsigned)__builtin_clzll(x) / 8;
	unsigned len = 8 - tz - lz;
	tmp[0] = (uint8_t)(tz << 4 | len);
	x >>= 8 * tz;
	for (unsigned i = 0; i < len; i++)
		tmp[1 + i] = (uint8_t)(x >> (8 * (len - 1 - i)));
	rollup_put(w, tmp, 1 + len);
}

/* Encodes rs into a new buffer. Returns 0 with *out (owned by the caller,
 * free with free() unless rollup_alloc_hook was replaced, in which case
 * with the hook) and *len set; -ENOMEM with *out NULL. */
int rollup_encode(const struct rollup_series *rs, uint8_t **out, size_t *len)
{
	struct rollup_wbuf w = {0};
	const uint8_t head[4] = {ROLLUP_MAGIC0, ROLLUP_MAGIC1, ROLLUP_VERSION, 0};
	*out = NULL;
	*len = 0;
	rollup_put(&w, head, sizeof(head));
	rollup_put_varint(&w, (uint64_t)rs->width_ms);
	rollup_put_varint(&w, rs->n);
	int64_t prev_idx = 0;
	double prev_last = 0, prev_min = 0, prev_max = 0, prev_sum = 0;
	for (size_t i = 0; i < rs->n; i++) {
		const struct rollup_bucket *b = &rs->b[i];
		int64_t idx = b->end_ts / rs->width_ms;
		if (i == 0)
			rollup_put_varint(&w, ((uint64_t)idx << 1) ^ (uint64_t)(idx >> 63));
		else
			rollup_put_varint(&w, (uint64_t)idx - (uint64_t)prev_idx - 1);
		prev_idx = idx;
		rollup_put_varint(&w, b->count);
		unsigned f = 0;
		if (b->stale_ts != ROLLUP_NO_STALE)
			f |= ROLLUP_F_STALE;
		if (b->count) {
			if (b->lead_stale_ts != ROLLUP_NO_STALE)
				f |= ROLLUP_F_LEAD_STALE;
			if (b->count == 1 && rollup_bits(b->sum) != rollup_bits(b->first))
				f |= ROLLUP_F_SUM;
			uint64_t mn = rollup_bits(b->min), mx = rollup_bits(b->max);
			if (rollup_bits(b->reset_corr) != 0)
				f |= ROLLUP_F_CORR;
			if (rollup_bits(b->last) == rollup_bits(b->first))
				f |= ROLLUP_F_LAST_FIRST;
			if (mn == rollup_bits(b->first))
				f |= ROLLUP_F_MIN_FIRST;
			else if (mn == rollup_bits(b->last))
				f |= ROLLUP_F_MIN_LAST;
			if (mx == rollup_bits(b->first))
				f |= ROLLUP_F_MAX_FIRST;
			else if (mx == rollup_bits(b->last))
				f |= ROLLUP_F_MAX_LAST;
		}
		rollup_put_varint(&w, f);
		if (b->count) {
			rollup_put_varint(&w, (uint64_t)(b->end_ts - b->first_ts));
			rollup_put_varint(&w, (uint64_t)(b->last_ts - b->first_ts));
		}
		if (f & ROLLUP_F_STALE)
			rollup_put_varint(&w, (uint64_t)(b->end_ts - b->stale_ts));
		if (f & ROLLUP_F_LEAD_STALE)
			rollup_put_varint(&w, (uint64_t)(b->first_ts - b->lead_stale_ts));
		if (!b->count)
			continue;
		rollup_put_xor(&w, b->first, prev_last);
		if (!(f & ROLLUP_F_LAST_FIRST))
			rollup_put_xor(&w, b->last, b->first);
		if (!(f & (ROLLUP_F_MIN_FIRST | ROLLUP_F_MIN_LAST)))
			rollup_put_xor(&w, b->min, prev_min);
		if (!(f & (ROLLUP_F_MAX_FIRST | ROLLUP_F_MAX_LAST)))
			rollup_put_xor(&w, b->max, prev_max);
		if (b->count > 1 || (f & ROLLUP_F_SUM))
			rollup_put_xor(&w, b->sum, prev_sum);
		if (f & ROLLUP_F_CORR)
			rollup_put_xor(&w, b->reset_corr, 0);
		prev_last = b->last;
		prev_min = b->min;
		prev_max = b->max;
		prev_sum = b->sum;
	}
	if (w.err) {
		if (w.p)
			rollup_alloc_hook(w.p, 0);
		return w.err;
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

struct rollup_rbuf {
	const uint8_t *p;
	size_t len, pos;
};

static int rollup_get_byte(struct rollup_rbuf *r, uint8_t *b)
{
	if (r->pos >= r->len)
		return -EPROTO;
	*b = r->p[r->pos++];
	return 0;
}

static int rollup_get_varint(struct rollup_rbuf *r, uint64_t *x)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b;
		if (rollup_get_byte(r, &b) < 0)
			return -EPROTO;
		if (shift == 63 && b > 1)
			return -EPROTO;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*x = v;
			return 0;
		}
	}
	return -EPROTO;
}

static int rollup_get_xor(struct rollup_rbuf *r, double pred, double *v)
{
	uint8_t h;
	if (rollup_get_byte(r, &h) < 0)
		return -EPROTO;
	unsigned tz = h >> 4, len = h & 15;
	if (len == 0) {
		if (tz)
			return -EPROTO;
		*v = pred;
		return 0;
	}
	if (len > 8 || tz + len > 8 || r->len - r->pos < len)
		return -EPROTO;
	uint64_t x = 0;
	for (unsigned i = 0; i < len; i++)
		x = x << 8 | r->p[r->pos++];
	*v = rollup_dbl((x << (8 * tz)) ^ rollup_bits(pred));
	return 0;
}

/* Decodes one bucket into b given the previous index and value predictors.
 * Returns 0 or -EPROTO when the bytes break a rule of rollup.h. */
static int rollup_decode_bucket(struct rollup_rbuf *r, int64_t w, int first, int64_t *idx,
				struct rollup_bucket *b, const struct rollup_bucket *prev)
{
	uint64_t x, cnt, off, span, f;
	if (rollup_get_varint(r, &x) < 0)
		return -EPROTO;
	if (first) {
		*idx = (int64_t)(x >> 1) ^ -(int64_t)(x & 1);
	} else {
		if (x >= (uint64_t)INT64_MAX || __builtin_add_overflow(*idx, (int64_t)x + 1, idx))
			return -EPROTO;
	}
	if (*idx > INT64_MAX / w || *idx < INT64_MIN / w + 1)
		return -EPROTO;
	b->end_ts = *idx * w;
	if (rollup_get_varint(r, &cnt) < 0 || rollup_get_varint(r, &f) < 0 || f > ROLLUP_F_ALL)
		return -EPROTO;
	b->count = cnt;
	b->stale_ts = ROLLUP_NO_STALE;
	b->lead_stale_ts = ROLLUP_NO_STALE;
	if (cnt) {
		if (rollup_get_varint(r, &off) < 0 || off >= (uint64_t)w ||
		    rollup_get_varint(r, &span) < 0 || span > off)
			return -EPROTO;
		b->first_ts = b->end_ts - (int64_t)off;
		b->last_ts = b->first_ts + (int64_t)span;
	} else if (f != ROLLUP_F_STALE) {
		return -EPROTO;  /* an empty bucket only exists for its stale marker */
	}
	if (f & ROLLUP_F_STALE) {
		if (rollup_get_varint(r, &off) < 0 || off >= (uint64_t)w)
			return -EPROTO;
		b->stale_ts = b->end_ts - (int64_t)off;
		if (cnt && b->stale_ts < b->last_ts)
			return -EPROTO;
	}
	if (f & ROLLUP_F_LEAD_STALE) {
		if (rollup_get_varint(r, &off) < 0 || off > (uint64_t)(b->first_ts - (b->end_ts - w) - 1))
			return -EPROTO;
		b->lead_stale_ts = b->first_ts - (int64_t)off;
	}
	if (!cnt)
		return 0;
	if (((f & ROLLUP_F_MIN_FIRST) && (f & ROLLUP_F_MIN_LAST)) ||
	    ((f & ROLLUP_F_MAX_FIRST) && (f & ROLLUP_F_MAX_LAST)))
		return -EPROTO;
	if (rollup_get_xor(r, prev->last, &b->first) < 0)
		return -EPROTO;
	b->last = b->first;
	if (!(f & ROLLUP_F_LAST_FIRST) && rollup_get_xor(r, b->first, &b->last) < 0)
		return -EPROTO;
	if (f & ROLLUP_F_MIN_FIRST)
		b->min = b->first;
	else if (f & ROLLUP_F_MIN_LAST)
		b->min = b->last;
	else if (rollup_get_xor(r, prev->min, &b->min) < 0)
		return -EPROTO;
	if (f & ROLLUP_F_MAX_FIRST)
		b->max = b->first;
	else if (f & ROLLUP_F_MAX_LAST)
		b->max = b->last;
	else if (rollup_get_xor(r, prev->max, &b->max) < 0)
		return -EPROTO;
	if ((f & ROLLUP_F_SUM) && cnt != 1)
		return -EPROTO;
	b->sum = b->first;
	if ((cnt > 1 || (f & ROLLUP_F_SUM)) && rollup_get_xor(r, prev->sum, &b->sum) < 0)
		return -EPROTO;
	b->reset_corr = 0;
	if ((f & ROLLUP_F_CORR) && rollup_get_xor(r, 0, &b->reset_corr) < 0)
		return -EPROTO;
	return 0;
}

/* Decodes len bytes at buf (untrusted) into out, which it fills in place.
 * Never reads outside [buf, buf + len). Returns 0; -EPROTO when the bytes
 * are not a well-formed series of this version (bad magic, unknown version,
 * truncation, trailing bytes, out-of-order or out-of-bucket timestamps);
 * -ENOMEM. On error out is empty and owns nothing. On success the caller
 * owns out and frees it with rollup_destroy(). */
int rollup_decode(const uint8_t *buf, size_t len, struct rollup_series *out)
{
	struct rollup_rbuf r = {.p = buf, .len = len};
	uint64_t width, n;
	int rc = -EPROTO;
	memset(out, 0, sizeof(*out));
	if (len < 4 || buf[0] != ROLLUP_MAGIC0 || buf[1] != ROLLUP_MAGIC1 ||
	    buf[2] != ROLLUP_VERSION || buf[3] != 0)
		return -EPROTO;
	r.pos = 4;
	if (rollup_get_varint(&r, &width) < 0 || width == 0 || width > INT64_MAX / 4 ||
	    rollup_get_varint(&r, &n) < 0 || n > ROLLUP_MAX_BUCKETS ||
	    n > (len - r.pos) / 3)  /* a bucket takes at least 3 bytes */
		return -EPROTO;
	rollup_init(out, (int64_t)width);
	if (n) {
		out->b = rollup_alloc_hook(NULL, (size_t)n * sizeof(struct rollup_bucket));
		if (!out->b)
			return -ENOMEM;
		out->cap = (size_t)n;
	}
	struct rollup_bucket zero = {0};
	const struct rollup_bucket *prev = &zero;
	int64_t idx = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct rollup_bucket *b = &out->b[i];
		if (rollup_decode_bucket(&r, (int64_t)width, i == 0, &idx, b, prev) < 0)
			goto fail;
		if (b->count)
			prev = b;
		out->n = (size_t)i + 1;
	}
	if (r.pos != len)
		goto fail;
	return 0;
fail:
	rollup_destroy(out);
	memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- evaluation ----------------------------------------------------- */

/* Index of the first bucket with end_ts > t (binary search). */
static size_t rollup_after(const struct rollup_series *rs, int64_t t)
{
	size_t lo = 0, hi = rs->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rs->b[mid].end_ts > t)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Chooses the buckets standing for the samples in (l, t]. A bucket wholly
 * inside counts wholly, one wholly outside not at all; one cut by an edge
 * (its first value on one side, its last on the other) counts wholly when
 * the middle of its [first_ts, last_ts] lies inside, else not at all, and
 * clears sp->exact. The chosen buckets are contiguous: [sp->lo, sp->hi). */
static void rollup_pick(const struct rollup_series *rs, int64_t l, int64_t t, struct rollup_span *sp)
{
	size_t i = rollup_after(rs, l);
	sp->lo = sp->hi = i;
	sp->exact = 1;
	sp->cut_lo = sp->cut_hi = 0;
	int started = 0;
	for (; i < rs->n && rs->b[i].end_ts - rs->width_ms < t; i++) {
		const struct rollup_bucket *b = &rs->b[i];
		if (!b->count)
			continue;
		int64_t mid = b->first_ts + (b->last_ts - b->first_ts) / 2;
		int in = 1;
		if (b->first_ts <= l && b->last_ts > l) {
			sp->exact = 0;
			sp->cut_lo = 1;
			in = mid > l;
		} else if (b->last_ts <= l) {
			in = 0;
		}
		if (b->first_ts <= t && b->last_ts > t) {
			sp->exact = 0;
			sp->cut_hi = 1;
			in = in && mid <= t;
		} else if (b->first_ts > t) {
			in = 0;
		}
		if (in) {
			if (!started)
				sp->lo = i;
			started = 1;
			sp->hi = i + 1;
		} else if (started) {
			break;
		}
	}
}

/* Prometheus' extrapolatedRate() (promql/functions.go, v3) on the summary
 * of the chosen samples: n values, first (ft, fv), last (lt, lv), raw
 * result res (last - first, plus the reset correction for counters), the
 * window (l, t]. One change: at an edge that cuts a bucket (cut_lo,
 * cut_hi) the series is known to go on past the edge, so the result is
 * extrapolated (or, when the chosen bucket reaches past the edge, the
 * distance is negative and it is interpolated) exactly to the edge, where
 * Prometheus would not stop short either, the raw samples being there. */
static double rollup_extrapolate(double res, uint64_t n, int64_t ft, double fv, int64_t lt,
				 int64_t l, int64_t t, int counter, int rate, int cut_lo,
				 int cut_hi)
{
	double to_start = (double)(ft - l) / 1000, to_end = (double)(t - lt) / 1000;
	double sampled = (double)(lt - ft) / 1000;
	double avg = sampled / (double)(n - 1);
	double threshold = avg * 1.1;
	if (to_start >= threshold && !cut_lo)
		to_start = avg / 2;
	if (counter) {
		double to_zero = to_start;
		if (res > 0 && fv >= 0)
			to_zero = sampled * (fv / res);
		if (to_zero < to_start)
			to_start = to_zero;
	}
	if (to_end >= threshold && !cut_hi)
		to_end = avg / 2;
	double factor = (sampled + to_start + to_end) / sampled;
	if (rate)
		factor /= (double)(t - l) / 1000;
	return res * factor;
}

/* Evaluates fn over the window (t - range_ms, t] from the buckets of rs
 * (rollup.h, "Accuracy", says where and by how much this differs from the
 * raw data). Returns 0 with *out set; -ENODATA when the window holds
 * no value (fewer than two for increase/rate/delta), like Prometheus
 * returning no sample; -EINVAL for range_ms <= 0 or an unknown fn. span,
 * when not NULL, receives the buckets used and whether the result is exact. */
int rollup_eval(const struct rollup_series *rs, enum rollup_fn fn, int64_t t, int64_t range_ms,
		double *out, struct rollup_span *span)
{
	struct rollup_span sp;
	if (range_ms <= 0 || (unsigned)fn >= ROLLUP_FN_COUNT || t < INT64_MIN + range_ms)
		return -EINVAL;
	int64_t l = t - range_ms;
	rollup_pick(rs, l, t, &sp);
	if (span)
		*span = sp;
	const struct rollup_bucket *first = NULL, *last = NULL;
	uint64_t n = 0;
	double sum = 0, c = 0, mn = 0, mx = 0, corr = 0;
	for (size_t i = sp.lo; i < sp.hi; i++) {
		const struct rollup_bucket *b = &rs->b[i];
		if (!b->count)
			continue;
		if (!first) {
			first = b;
			mn = b->min;
			mx = b->max;
		} else {
			mn = rollup_min2(mn, b->min);
			mx = rollup_max2(mx, b->max);
			if (b->first < last->last)
				corr += last->last;
		}
		corr += b->reset_corr;
		/* Kahan-Babuska summation, as Prometheus' kahanSumInc(). */
		double s = sum + b->sum;
		if (fabs(sum) >= fabs(b->sum))
			c += (sum - s) + b->sum;
		else
			c += (b->sum - s) + sum;
		sum = s;
		n += b->count;
		last = b;
	}
	if (n == 0)
		return -ENODATA;
	double total = isinf(sum) ? sum : sum + c;
	switch (fn) {
	case ROLLUP_SUM_OVER_TIME:
		*out = total;
		return 0;
	case ROLLUP_COUNT_OVER_TIME:
		*out = (double)n;
		return 0;
	case ROLLUP_AVG_OVER_TIME:
		*out = total / (double)n;
		return 0;
	case ROLLUP_MIN_OVER_TIME:
		*out = mn;
		return 0;
	case ROLLUP_MAX_OVER_TIME:
		*out = mx;
		return 0;
	case ROLLUP_LAST_OVER_TIME:
		*out = last->last;
		return 0;
	default:
		break;
	}
	if (n < 2)
		return -ENODATA;
	int counter = fn != ROLLUP_DELTA;
	double res = last->last - first->first;
	if (counter)
		res += corr;
	*out = rollup_extrapolate(res, n, first->first_ts, first->first, last->last_ts, l, t,
				  counter, fn == ROLLUP_RATE, sp.cut_lo, sp.cut_hi);
	return 0;
}

/* ---- last value at each step ---------------------------------------- */

/* The latest sample at or before t as the buckets tell it: sets *ts, *v and
 * *stale (the latest sample is a stale marker). Returns 1 found exactly,
 * 2 found approximately (t cuts the bucket between its first and last
 * value: the bucket's first value is returned, a real sample less than W
 * older than the true latest one), 0 when no sample is at or before t. */
static int rollup_latest(const struct rollup_series *rs, int64_t t, int64_t *ts, double *v,
			 int *stale)
{
	size_t i = rollup_after(rs, t - 1);  /* first bucket with end >= t */
	*stale = 0;
	if (i < rs->n && rs->b[i].end_ts - rs->width_ms < t) {
		const struct rollup_bucket *b = &rs->b[i];
		if (b->count && b->first_ts <= t) {
			if (b->last_ts > t) {
				*ts = b->first_ts;
				*v = b->first;
				return 2;
			}
			*ts = b->last_ts;
			*v = b->last;
			if (b->stale_ts != ROLLUP_NO_STALE && b->stale_ts <= t) {
				*ts = b->stale_ts;
				*stale = 1;
			}
			return 1;
		}
		/* No value of b is at or before t, but a stale marker may be. */
		int64_t s = b->count ? b->lead_stale_ts : b->stale_ts;
		if (s != ROLLUP_NO_STALE && s <= t) {
			*ts = s;
			*stale = 1;
			return 1;
		}
	}
	if (i == 0)
		return 0;
	const struct rollup_bucket *b = &rs->b[i - 1];
	*ts = b->count ? b->last_ts : b->stale_ts;
	*v = b->last;
	if (b->stale_ts != ROLLUP_NO_STALE) {
		*ts = b->stale_ts;
		*stale = 1;
	}
	return 1;
}

/* Fills vals[k]/present[k] for the nsteps instants start + k*step with the
 * value an instant selector would see (Prometheus 3: the latest sample in
 * (t - lookback_ms, t], none when that sample is a stale marker), read from
 * the buckets: the downsampled series of a gauge in a range query. Exact
 * when each instant is a bucket end, or falls where the bucket holding it
 * has no value at or before it, or all its values are at or before it;
 * otherwise the bucket's first value stands in (a real sample less than W
 * older than the true one; a stale marker between the bucket's first and
 * last value is not kept, so such a step may show a value where Prometheus
 * shows none) and *inexact, when not NULL, counts the step.
 * Returns 0, or -EINVAL for step <= 0, lookback_ms <= 0, or instants that
 * would overflow. vals and present are the caller's, nsteps long. */
int rollup_last_at_steps(const struct rollup_series *rs, int64_t start, int64_t step, size_t nsteps,
			 int64_t lookback_ms, double *vals, uint8_t *present, size_t *inexact)
{
	if (step <= 0 || lookback_ms <= 0 ||
	    (nsteps > 1 && (int64_t)(nsteps - 1) > (INT64_MAX - (start > 0 ? start : 0)) / step))
		return -EINVAL;
	if (inexact)
		*inexact = 0;
	for (size_t k = 0; k < nsteps; k++) {
		int64_t t = start + (int64_t)k * step, ts = 0;
		double v = 0;
		int stale = 0;
		int rc = rollup_latest(rs, t, &ts, &v, &stale);
		vals[k] = 0;
		present[k] = rc && !stale && ts > t - lookback_ms;
		if (present[k])
			vals[k] = v;
		if (rc == 2 && inexact)
			(*inexact)++;
	}
	return 0;
}
