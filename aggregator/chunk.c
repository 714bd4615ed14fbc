/* chunk: see chunk.h for the formats and invariants.
 *
 * Sections: integer streams (predictors, code tables, the search for the
 * cheapest table); XOR values; decimal detection; the appender; the packed
 * encoder; the decoder. Bit I/O is in chunk_pvt.h.
 *
 * Writers never check capacity (chunk_pvt.h): the encoder reserves the
 * exact size it computed, the appender the worst case of one sample.
 *
 * Packed layout: byte 0 = CHUNK_FMT_PACKED, LEB128 sample count, then bits:
 *   timestamp stream header; value mode (2 bits) and its header;
 *   per sample: timestamp code (none for sample 0), value code;
 *   zero padding to the byte.
 * Integer stream header: pred (2), vint zigzag(x0), vint zigzag(bias),
 *   [grid only: vint zigzag(grid origin - x0), vint re-anchor threshold],
 *   mul flag (1) [vint mul], buckets-1 (2), width (7) per bucket.
 * Residual code: bucket rank r in unary (r ones then a zero; the last rank
 *   drops the zero), then zigzag(residual / mul) in that bucket's width.
 */
#include "aggregator/chunk.h"
#include "aggregator/chunk_pvt.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* realloc() that frees on size 0, the contract of chunk_alloc_hook. */
static void *chunk_default_alloc(void *p, size_t size)
{
	if (size == 0) {
		free(p);
		return NULL;
	}
	return realloc(p, size);
}

void *(*chunk_alloc_hook)(void *p, size_t size) = chunk_default_alloc;

#define CHUNK_OPEN_HDR 5        /* fmt byte + little-endian u32 count */
#define CHUNK_SLACK 8           /* bytes a put may touch past its last bit */
#define CHUNK_CAND_MAX 10       /* widths tried by the table search */

static const double chunk_pow10[7] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
/* Open format timestamp code: dod 0 costs 1 bit, ms jitter 7, a missed
 * scrape at up to 2 min 21 bits, anything else 67. */
static const uint8_t chunk_open_w[4] = {0, 5, 18, 64};

/* ---- integer streams -------------------------------------------------- */

/* A stream's chosen coding, with the cost that chose it. */
struct chunk_plan {
	uint64_t x0, bias, mul;
	uint64_t off;           /* CHUNK_PRED_GRID: grid origin minus x0 */
	uint64_t thr;           /* CHUNK_PRED_GRID: |r| >= thr re-anchors; 0 never */
	uint64_t cost;          /* bits: header plus every residual code */
	uint8_t pred, nw;
	uint8_t w[4];           /* widths by prefix rank */
	uint8_t rank[65];       /* zigzag bit length -> prefix rank */
};

static inline uint64_t chunk_abs(uint64_t r)
{
	return (r >> 63) ? 0 - r : r;
}

/* Residuals r[0..m-2] of x[1..m-1] under p's predictor (modular). On the
 * grid, a residual of at least thr moves the grid to the value: jitter
 * stays local, a missed scrape shifts the grid once. */
static void chunk_resid(const struct chunk_plan *p, const uint64_t *x, uint32_t m, uint64_t *r)
{
	uint64_t g = x[0] + p->off, d = p->bias, bias = p->bias;
	if (p->pred == CHUNK_PRED_GRID) {
		for (uint32_t i = 1; i < m; i++) {
			g += bias;
			r[i - 1] = x[i] - g;
			if (p->thr && chunk_abs(r[i - 1]) >= p->thr)
				g = x[i];
		}
	} else if (p->pred == CHUNK_PRED_DELTA) {
		for (uint32_t i = 1; i < m; i++)
			r[i - 1] = x[i] - x[i - 1] - bias;
	} else {
		for (uint32_t i = 1; i < m; i++) {
			uint64_t dd = x[i] - x[i - 1];
			r[i - 1] = dd - d;
			d = dd;
		}
	}
}

static uint64_t chunk_gcd(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	unsigned s = (unsigned)__builtin_ctzll(a | b);
	a >>= __builtin_ctzll(a);
	do {
		b >>= __builtin_ctzll(b);
		if (a > b) {
			uint64_t t = a;
			a = b;
			b = t;
		}
		b -= a;
	} while (b);
	return a << s;
}

/* Median of a[0..n-1] (n >= 1) by Wirth's selection; reorders a. */
static int64_t chunk_median(int64_t *a, uint32_t n)
{
	int64_t k = n / 2, l = 0, m = (int64_t)n - 1;
	while (l < m) {
		int64_t piv = a[k], i = l, j = m;
		do {
			while (a[i] < piv)
				i++;
			while (piv < a[j])
				j--;
			if (i <= j) {
				int64_t t = a[i];
				a[i] = a[j];
				a[j] = t;
				i++;
				j--;
			}
		} while (i <= j);
		if (j < k)
			l = i;
		if (k < i)
			m = j;
	}
	return a[k];
}

static inline uint64_t chunk_quot(uint64_t r, uint64_t mul)
{
	return mul > 1 ? (uint64_t)((int64_t)r / (int64_t)mul) : r;
}

/* Chooses the bucket widths (up to 4) and their prefix ranks that code a
 * histogram of zigzag bit lengths in the fewest bits. Fills p->nw, p->w,
 * p->rank; returns the bits of the codes plus the table header. */
static uint64_t chunk_table(const uint32_t *h, struct chunk_plan *p)
{
	uint32_t ch[65], cand[64], ncand = 0;
	unsigned maxw = 0;
	for (unsigned l = 0, sum = 0; l <= 64; l++) {
		sum += h[l];
		ch[l] = sum;
		if (h[l])
			maxw = l;
	}
	for (unsigned l = 0; l < maxw; l++)
		if (h[l])
			cand[ncand++] = l;
	/* Too many lengths: keep the most frequent ones, in length order. */
	while (ncand > CHUNK_CAND_MAX) {
		uint32_t worst = 0;
		for (uint32_t i = 1; i < ncand; i++)
			if (h[cand[i]] < h[cand[worst]])
				worst = i;
		memmove(&cand[worst], &cand[worst + 1], (ncand - worst - 1) * sizeof(cand[0]));
		ncand--;
	}
	uint64_t best = UINT64_MAX;
	for (uint32_t mask = 0; mask < (1u << ncand); mask++) {
		if (__builtin_popcount(mask) > 3)
			continue;
		unsigned wid[4], k = 0;
		uint32_t cnt[4], prev = 0;
		for (uint32_t i = 0; i < ncand; i++)
			if (mask & (1u << i))
				wid[k++] = cand[i];
		wid[k++] = maxw;
		uint64_t bits = 2 + 7 * (uint64_t)k;
		for (unsigned j = 0; j < k; j++) {
			cnt[j] = ch[wid[j]] - prev;
			prev = ch[wid[j]];
			bits += (uint64_t)cnt[j] * wid[j];
		}
		/* Most frequent bucket gets the shortest prefix. */
		unsigned ord[4] = {0, 1, 2, 3};
		for (unsigned a = 1; a < k; a++)
			for (unsigned b = a; b > 0 && cnt[ord[b]] > cnt[ord[b - 1]]; b--) {
				unsigned t = ord[b];
				ord[b] = ord[b - 1];
				ord[b - 1] = t;
			}
		for (unsigned r = 0; r < k; r++)
			bits += (uint64_t)cnt[ord[r]] * (r + 1 < k ? r + 1 : k - 1);
		if (bits >= best)
			continue;
		best = bits;
		p->nw = (uint8_t)k;
		unsigned rank_of[4];
		for (unsigned r = 0; r < k; r++) {
			p->w[r] = (uint8_t)wid[ord[r]];
			rank_of[ord[r]] = r;
		}
		for (unsigned l = 0, j = 0; l <= 64; l++) {
			while (j + 1 < k && wid[j] < l)
				j++;
			p->rank[l] = (uint8_t)rank_of[j];
		}
	}
	return best;
}

/* Picks the cheapest predictor, bias, multiplier and table for x[0..m-1]
 * (m >= 1). r and tmp are scratch of m entries. Fills *best. */
static void chunk_plan_int(const uint64_t *x, uint32_t m, uint64_t *r, uint64_t *tmp,
			   struct chunk_plan *best)
{
	int64_t med = 0;
	if (m >= 2) {
		for (uint32_t i = 1; i < m; i++)
			tmp[i - 1] = x[i] - x[i - 1];
		med = chunk_median((int64_t *)tmp, m - 1);
	}
	best->cost = UINT64_MAX;
	/* Candidates: grid, grid re-anchored at half a step, delta, dod. */
	for (unsigned cand = 0; cand < 4; cand++) {
		struct chunk_plan p;
		uint32_t h[65] = {0};
		p.pred = cand < 2 ? CHUNK_PRED_GRID : cand == 2 ? CHUNK_PRED_DELTA : CHUNK_PRED_DOD;
		p.x0 = x[0];
		p.bias = m < 2 ? 0 : p.pred == CHUNK_PRED_DOD ? x[1] - x[0] : (uint64_t)med;
		p.off = p.thr = 0;
		if (cand == 1 && chunk_abs(p.bias) < 2)
			continue;
		if (p.pred == CHUNK_PRED_GRID && m >= 2) {
			/* The first point may itself be off the grid (jitter). */
			chunk_resid(&p, x, m, r);
			memcpy(tmp, r, (m - 1) * sizeof(*r));
			p.off = (uint64_t)chunk_median((int64_t *)tmp, m - 1);
			p.thr = cand == 1 ? chunk_abs(p.bias) / 2 : 0;
		}
		chunk_resid(&p, x, m, r);
		uint64_t g = 0;
		for (uint32_t i = 0; i + 1 < m && g != 1; i++)
			g = chunk_gcd(g, chunk_abs(r[i]));
		p.mul = g < 2 || g > (UINT64_C(1) << 62) ? 1 : g;
		for (uint32_t i = 0; i + 1 < m; i++)
			h[chunk_bitlen(chunk_zz(chunk_quot(r[i], p.mul)))]++;
		p.cost = 2 + chunk_vint_cost(chunk_zz(p.x0)) + chunk_vint_cost(chunk_zz(p.bias)) + 1 +
			 (p.pred == CHUNK_PRED_GRID ?
				  chunk_vint_cost(chunk_zz(p.off)) + chunk_vint_cost(p.thr) : 0) +
			 (p.mul > 1 ? chunk_vint_cost(p.mul) : 0) + chunk_table(h, &p);
		if (p.cost < best->cost)
			*best = p;
	}
}

static void chunk_put_bucket(struct chunk_bw *w, unsigned nw, const uint8_t *wid, unsigned rank,
			     uint64_t z)
{
	if (rank + 1 < nw)
		chunk_put(w, ((UINT64_C(1) << rank) - 1) << 1, rank + 1);
	else
		chunk_put(w, (UINT64_C(1) << (nw - 1)) - 1, nw - 1);
	chunk_put(w, z, wid[rank]);
}

static void chunk_put_code(struct chunk_bw *w, const struct chunk_plan *p, uint64_t r)
{
	uint64_t z = chunk_zz(chunk_quot(r, p->mul));
	chunk_put_bucket(w, p->nw, p->w, p->rank[chunk_bitlen(z)], z);
}

static void chunk_put_plan(struct chunk_bw *w, const struct chunk_plan *p)
{
	chunk_put(w, p->pred, 2);
	chunk_put_vint(w, chunk_zz(p->x0));
	chunk_put_vint(w, chunk_zz(p->bias));
	if (p->pred == CHUNK_PRED_GRID) {
		chunk_put_vint(w, chunk_zz(p->off));
		chunk_put_vint(w, p->thr);
	}
	chunk_put(w, p->mul > 1, 1);
	if (p->mul > 1)
		chunk_put_vint(w, p->mul);
	chunk_put(w, p->nw - 1u, 2);
	for (unsigned r = 0; r < p->nw; r++)
		chunk_put(w, p->w[r], 7);
}

/* Reads an integer stream header into s. Returns 0 or -EPROTO. */
static int chunk_get_plan(struct chunk_iter *it, struct chunk_istream *s)
{
	uint64_t v;
	if (chunk_get(it, 2, &v) || v > CHUNK_PRED_DOD)
		return -EPROTO;
	s->pred = (uint8_t)v;
	if (chunk_get_vint(it, &v))
		return -EPROTO;
	s->x = s->g = chunk_unzz(v);
	if (chunk_get_vint(it, &v))
		return -EPROTO;
	s->bias = s->d = chunk_unzz(v);
	if (s->pred == CHUNK_PRED_GRID) {
		if (chunk_get_vint(it, &v))
			return -EPROTO;
		s->g += chunk_unzz(v);
		if (chunk_get_vint(it, &s->thr))
			return -EPROTO;
	}
	s->mul = 1;
	if (chunk_get(it, 1, &v))
		return -EPROTO;
	if (v && (chunk_get_vint(it, &s->mul) || s->mul == 0))
		return -EPROTO;
	if (chunk_get(it, 2, &v))
		return -EPROTO;
	s->nw = (uint8_t)(v + 1);
	for (unsigned r = 0; r < s->nw; r++) {
		if (chunk_get(it, 7, &v) || v > 64)
			return -EPROTO;
		s->w[r] = (uint8_t)v;
	}
	return 0;
}

/* Decodes the stream's next value into s->x. Returns 0 or -EPROTO. */
static int chunk_get_int(struct chunk_iter *it, struct chunk_istream *s)
{
	unsigned rank = 0;
	uint64_t b, z;
	while (rank + 1u < s->nw) {
		if (chunk_get(it, 1, &b))
			return -EPROTO;
		if (!b)
			break;
		rank++;
	}
	if (chunk_get(it, s->w[rank], &z))
		return -EPROTO;
	uint64_t r = chunk_unzz(z) * s->mul;
	if (s->pred == CHUNK_PRED_GRID) {
		s->g += s->bias;
		s->x = s->g + r;
		if (s->thr && chunk_abs(r) >= s->thr)
			s->g = s->x;
	} else if (s->pred == CHUNK_PRED_DELTA) {
		s->x += s->bias + r;
	} else {
		s->d += r;
		s->x += s->d;
	}
	return 0;
}

/* ---- XOR values ------------------------------------------------------- */

/* Writes cur against prev, updating the window (lead, sig). */
static void chunk_put_xor(struct chunk_bw *w, uint64_t prev, uint64_t cur, uint8_t *lead,
			  uint8_t *sig)
{
	uint64_t x = prev ^ cur;
	if (!x) {
		chunk_put(w, 0, 1);
		return;
	}
	unsigned l = (unsigned)__builtin_clzll(x), t = (unsigned)__builtin_ctzll(x);
	if (l > 31)
		l = 31;
	if (*sig && l >= *lead && t >= 64u - *lead - *sig) {
		chunk_put(w, 2, 2);
		chunk_put(w, x >> (64 - *lead - *sig), *sig);
		return;
	}
	unsigned s = 64 - l - t;
	chunk_put(w, 3, 2);
	chunk_put(w, l, 5);
	chunk_put(w, s & 63, 6);
	chunk_put(w, x >> t, s);
	*lead = (uint8_t)l;
	*sig = (uint8_t)s;
}

static int chunk_get_xor(struct chunk_iter *it)
{
	uint64_t b, l, s, x;
	if (chunk_get(it, 1, &b))
		return -EPROTO;
	if (!b)
		return 0;
	if (chunk_get(it, 1, &b))
		return -EPROTO;
	if (b) {
		if (chunk_get(it, 5, &l) || chunk_get(it, 6, &s))
			return -EPROTO;
		if (s == 0)
			s = 64;
		if (l + s > 64)
			return -EPROTO;
		it->lead = (uint8_t)l;
		it->sig = (uint8_t)s;
	} else if (!it->sig) {
		return -EPROTO;
	}
	if (chunk_get(it, it->sig, &x))
		return -EPROTO;
	it->vbits ^= x << (64 - it->lead - it->sig);
	return 0;
}

/* Bits of the XOR value stream of v[0..n-1] (n >= 1). */
static uint64_t chunk_xor_cost(const double *v, uint32_t n)
{
	struct chunk_bw w = {NULL, 64};
	uint64_t prev, cur;
	uint8_t lead = 0, sig = 0;
	memcpy(&prev, &v[0], 8);
	for (uint32_t i = 1; i < n; i++) {
		memcpy(&cur, &v[i], 8);
		chunk_put_xor(&w, prev, cur, &lead, &sig);
		prev = cur;
	}
	return w.bits;
}

/* ---- decimal detection ------------------------------------------------ */

/* Whether v == x / 10^k exactly, bit for bit, for an int64 x; sets *x. */
static int chunk_dec_try(double v, unsigned k, int64_t *x)
{
	double s = k ? v * chunk_pow10[k] : v;
	if (!(s >= -0x1p63 && s < 0x1p63))
		return 0;
	int64_t i = k ? llrint(s) : (int64_t)s;
	double back = k ? (double)i / chunk_pow10[k] : (double)i;
	uint64_t a, b;
	memcpy(&a, &v, 8);
	memcpy(&b, &back, 8);
	*x = i;
	return a == b;
}

/* Smallest k (0..6) at which v is an exact decimal, 7 when none. */
static uint8_t chunk_dec_scale(double v)
{
	int64_t x;
	for (unsigned k = 0; k <= 6; k++)
		if (chunk_dec_try(v, k, &x))
			return (uint8_t)k;
	return 7;
}

/* Builds the integer list of v at scale k, skipping (and listing in exc)
 * values that are not exact there. Returns the exception count, or
 * CHUNK_EXC_MAX + 1 when there are too many or no integer is left. */
static unsigned chunk_dec_split(const double *v, const uint8_t *ks, uint32_t n, unsigned k,
				uint64_t *xs, uint32_t *m, uint16_t *exc)
{
	unsigned ne = 0;
	*m = 0;
	for (uint32_t i = 0; i < n; i++) {
		int64_t x;
		if (ks[i] <= k && chunk_dec_try(v[i], k, &x)) {
			xs[(*m)++] = (uint64_t)x;
			continue;
		}
		if (ne == CHUNK_EXC_MAX)
			return CHUNK_EXC_MAX + 1;
		exc[ne++] = (uint16_t)i;
	}
	return *m ? ne : CHUNK_EXC_MAX + 1;
}

/* ---- the appender ----------------------------------------------------- */

/* Fills c as an empty open chunk; allocates nothing. Returns 0. The caller
 * tears it down with chunk_destroy(). */
int chunk_init(struct chunk *c)
{
	memset(c, 0, sizeof(*c));
	c->fmt = CHUNK_FMT_OPEN;
	return 0;
}

/* Frees the bytes and leaves c empty (still a valid empty open chunk).
 * Accepts NULL. */
void chunk_destroy(struct chunk *c)
{
	if (!c)
		return;
	if (c->buf)
		chunk_alloc_hook(c->buf, 0);
	chunk_init(c);
}

/* Makes room for more_bits after c->bits plus the slack, growing by half.
 * Returns 0 or -ENOMEM (c unchanged). */
static int chunk_reserve(struct chunk *c, uint64_t more_bits)
{
	uint64_t need = ((c->bits + more_bits + 7) >> 3) + CHUNK_SLACK;
	if (need <= c->cap)
		return 0;
	uint64_t nc = c->cap ? (uint64_t)c->cap + c->cap / 2 : 32;
	if (nc < need)
		nc = need;
	if (nc > UINT32_MAX)
		return -ENOMEM;
	uint8_t *p = chunk_alloc_hook(c->buf, (size_t)nc);
	if (!p)
		return -ENOMEM;
	memset(p + c->cap, 0, (size_t)(nc - c->cap));
	c->buf = p;
	c->cap = (uint32_t)nc;
	return 0;
}

/* Appends one sample to an open chunk, encoding it at once.
 * Returns 0; -ERANGE when ts is before the last timestamp (equal is
 * accepted); -EAGAIN when the chunk holds CHUNK_MAX_SAMPLES; -EPERM on a
 * packed chunk; -ENOMEM. On any error the chunk is unchanged. */
int chunk_append(struct chunk *c, int64_t ts, double v)
{
	uint64_t vb;
	memcpy(&vb, &v, 8);
	if (c->fmt != CHUNK_FMT_OPEN)
		return -EPERM;
	if (c->n >= CHUNK_MAX_SAMPLES)
		return -EAGAIN;
	if (c->n && ts < c->last_ts)
		return -ERANGE;
	/* Worst case: header, a 71-bit vint or 67-bit ts code, 77-bit value. */
	int rc = chunk_reserve(c, CHUNK_OPEN_HDR * 8 + 71 + 77);
	if (rc)
		return rc;
	struct chunk_bw w = {c->buf, c->bits};
	if (c->n == 0) {
		c->buf[0] = CHUNK_FMT_OPEN;
		w.bits = CHUNK_OPEN_HDR * 8;
		chunk_put_vint(&w, chunk_zz((uint64_t)ts));
		chunk_put(&w, vb, 64);
		c->first_ts = ts;
		c->last_delta = 0;
		c->lead = c->sig = 0;
	} else {
		uint64_t delta = (uint64_t)ts - (uint64_t)c->last_ts;
		uint64_t z = chunk_zz(delta - c->last_delta);
		unsigned l = chunk_bitlen(z);
		chunk_put_bucket(&w, 4, chunk_open_w, l == 0 ? 0 : l <= 5 ? 1 : l <= 18 ? 2 : 3, z);
		chunk_put_xor(&w, c->last_vbits, vb, &c->lead, &c->sig);
		c->last_delta = delta;
	}
	c->bits = w.bits;
	c->last_vbits = vb;
	c->last_ts = ts;
	c->n++;
	for (unsigned i = 0; i < 4; i++)
		c->buf[1 + i] = (uint8_t)(c->n >> (8 * i));
	return 0;
}

/* The serialized bytes of c (borrowed: valid until the next append or
 * destroy); *len gets their count. An empty chunk gives a valid header. */
const uint8_t *chunk_bytes(const struct chunk *c, size_t *len)
{
	static const uint8_t empty_open[CHUNK_OPEN_HDR] = {CHUNK_FMT_OPEN, 0, 0, 0, 0};
	static const uint8_t empty_packed[2] = {CHUNK_FMT_PACKED, 0};
	if (!c->buf) {
		*len = c->fmt == CHUNK_FMT_PACKED ? sizeof(empty_packed) : sizeof(empty_open);
		return c->fmt == CHUNK_FMT_PACKED ? empty_packed : empty_open;
	}
	*len = (size_t)((c->bits + 7) >> 3);
	return c->buf;
}

/* ---- the packed encoder ----------------------------------------------- */

/* Encodes ts[0..n-1], v[0..n-1] into out as a packed chunk, choosing for
 * the timestamps and for the values the coding with the fewest bits.
 * out is (re)initialized first; the caller owns it afterwards and frees it
 * with chunk_destroy(), also after an error (it is then empty).
 * Returns 0; -EINVAL when n > CHUNK_MAX_SAMPLES; -ERANGE when a timestamp
 * decreases; -ENOMEM. */
int chunk_encode(struct chunk *out, const int64_t *ts, const double *v, uint32_t n)
{
	chunk_init(out);
	out->fmt = CHUNK_FMT_PACKED;
	if (n > CHUNK_MAX_SAMPLES)
		return -EINVAL;
	for (uint32_t i = 1; i < n; i++)
		if (ts[i] < ts[i - 1])
			return -ERANGE;
	size_t m = n ? n : 1;
	uint64_t *scr = chunk_alloc_hook(NULL, m * (5 * sizeof(uint64_t) + 1));
	if (!scr)
		return -ENOMEM;
	uint64_t *xt = scr, *rt = xt + m, *tmp = rt + m, *xv = tmp + m, *rv = xv + m;
	uint8_t *ks = (uint8_t *)(rv + m);
	struct chunk_plan tp = {0}, vp = {0}, p;
	uint8_t vmode = CHUNK_VMODE_XOR, scale = 0;
	unsigned nexc = 0;
	uint16_t exc[CHUNK_EXC_MAX + 1];
	uint64_t vcost = 0;

	if (n) {
		for (uint32_t i = 0; i < n; i++)
			xt[i] = (uint64_t)ts[i];
		chunk_plan_int(xt, n, rt, tmp, &tp);
		chunk_resid(&tp, xt, n, rt);

		uint64_t first, cur;
		int same = 1;
		memcpy(&first, &v[0], 8);
		for (uint32_t i = 1; i < n && same; i++) {
			memcpy(&cur, &v[i], 8);
			same = cur == first;
		}
		vcost = 2 + chunk_xor_cost(v, n);
		if (same && 2 + 64 < vcost) {
			vmode = CHUNK_VMODE_CONST;
			vcost = 2 + 64;
		}
		/* Decimal: try each scale some value needs, exceptions allowed. */
		unsigned have = 0;
		for (uint32_t i = 0; i < n; i++) {
			ks[i] = chunk_dec_scale(v[i]);
			have |= 1u << ks[i];
		}
		for (unsigned k = 0; k <= 6; k++) {
			uint32_t cnt;
			if (!(have & (1u << k)))
				continue;
			unsigned ne = chunk_dec_split(v, ks, n, k, xv, &cnt, exc);
			if (ne > CHUNK_EXC_MAX)
				continue;
			chunk_plan_int(xv, cnt, rv, tmp, &p);
			uint64_t c = 2 + 3 + 1 + (ne ? 4 + 80 * (uint64_t)ne : 0) + p.cost;
			if (c < vcost) {
				vcost = c;
				vmode = CHUNK_VMODE_DEC;
				scale = (uint8_t)k;
				vp = p;
			}
		}
		if (vmode == CHUNK_VMODE_DEC) {
			uint32_t cnt;
			nexc = chunk_dec_split(v, ks, n, scale, xv, &cnt, exc);
			chunk_resid(&vp, xv, cnt, rv);
		}
	}

	uint8_t hdr[4];
	unsigned hlen = 0;
	hdr[hlen++] = CHUNK_FMT_PACKED;
	for (uint32_t c = n;; c >>= 7) {
		hdr[hlen++] = (uint8_t)((c & 0x7f) | (c > 0x7f ? 0x80 : 0));
		if (c <= 0x7f)
			break;
	}
	uint64_t bits = 8 * (uint64_t)hlen + (n ? tp.cost + vcost : 0);
	struct chunk tmpc;
	chunk_init(&tmpc);
	int rc = chunk_reserve(&tmpc, bits);
	if (rc) {
		chunk_alloc_hook(scr, 0);
		return rc;
	}
	memcpy(tmpc.buf, hdr, hlen);
	struct chunk_bw w = {tmpc.buf, 8 * (uint64_t)hlen};
	if (n) {
		chunk_put_plan(&w, &tp);
		chunk_put(&w, vmode, 2);
		if (vmode == CHUNK_VMODE_CONST) {
			uint64_t cb;
			memcpy(&cb, &v[0], 8);
			chunk_put(&w, cb, 64);
		} else if (vmode == CHUNK_VMODE_DEC) {
			chunk_put(&w, scale, 3);
			chunk_put(&w, nexc > 0, 1);
			if (nexc) {
				chunk_put(&w, nexc - 1, 4);
				for (unsigned e = 0; e < nexc; e++)
					chunk_put(&w, exc[e], 16);
			}
			chunk_put_plan(&w, &vp);
		}
		uint64_t prev = 0, cur;
		uint8_t lead = 0, sig = 0;
		uint32_t j = 0;
		unsigned e = 0;
		for (uint32_t i = 0; i < n; i++) {
			if (i)
				chunk_put_code(&w, &tp, rt[i - 1]);
			memcpy(&cur, &v[i], 8);
			if (vmode == CHUNK_VMODE_XOR) {
				if (i)
					chunk_put_xor(&w, prev, cur, &lead, &sig);
				else
					chunk_put(&w, cur, 64);
				prev = cur;
			} else if (vmode == CHUNK_VMODE_DEC) {
				if (e < nexc && exc[e] == i) {
					chunk_put(&w, cur, 64);
					e++;
				} else if (j++) {
					chunk_put_code(&w, &vp, rv[j - 2]);
				}
			}
		}
	}
	assert(w.bits == bits);
	chunk_alloc_hook(scr, 0);
	out->buf = tmpc.buf;
	out->bits = bits;
	out->n = n;
	out->cap = (uint32_t)((bits + 7) >> 3);
	uint8_t *shrunk = chunk_alloc_hook(out->buf, out->cap);
	if (shrunk)
		out->buf = shrunk;
	else
		out->cap = tmpc.cap;
	if (n) {
		out->first_ts = ts[0];
		out->last_ts = ts[n - 1];
	}
	return 0;
}

/* Re-encodes the samples of in (open or packed) as a packed chunk in out,
 * the smallest coding this module has. in is not changed. The caller owns
 * out afterwards and frees it with chunk_destroy(), also after an error.
 * Returns 0; -EPROTO when in's bytes are damaged; -ENOMEM. */
int chunk_recode(const struct chunk *in, struct chunk *out)
{
	size_t len;
	const uint8_t *b = chunk_bytes(in, &len);
	struct chunk_iter it;
	chunk_init(out);
	int rc = chunk_iter_init(&it, b, len);
	if (rc)
		return rc;
	size_t m = it.n ? it.n : 1;
	int64_t *ts = chunk_alloc_hook(NULL, m * (sizeof(int64_t) + sizeof(double)));
	if (!ts)
		return -ENOMEM;
	double *v = (double *)(ts + m);
	for (uint32_t i = 0; i < it.n; i++) {
		rc = chunk_iter_next(&it, &ts[i], &v[i]);
		if (rc != 1) {
			chunk_alloc_hook(ts, 0);
			return rc < 0 ? rc : -EPROTO;
		}
	}
	rc = chunk_iter_next(&it, &ts[0], &v[0]) == 0 ? chunk_encode(out, ts, v, it.n) : -EPROTO;
	chunk_alloc_hook(ts, 0);
	return rc;
}

/* ---- the decoder ------------------------------------------------------ */

/* Validates the header of the chunk at buf[0..len) and positions it at the
 * first sample. buf is borrowed for the iterator's life.
 * Returns 0, or -EPROTO for an unknown format, a bad header or a count
 * above CHUNK_MAX_SAMPLES (the iterator then returns -EPROTO too). */
int chunk_iter_init(struct chunk_iter *it, const uint8_t *buf, size_t len)
{
	uint64_t v;
	memset(it, 0, sizeof(*it));
	it->buf = buf;
	it->len = len;
	it->err = -EPROTO;
	if (len < 1)
		return -EPROTO;
	it->fmt = buf[0];
	if (it->fmt == CHUNK_FMT_OPEN) {
		if (len < CHUNK_OPEN_HDR)
			return -EPROTO;
		it->n = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 |
			(uint32_t)buf[4] << 24;
		it->pos = CHUNK_OPEN_HDR * 8;
		it->ts.pred = CHUNK_PRED_DOD;
		it->ts.mul = 1;
		it->ts.nw = 4;
		memcpy(it->ts.w, chunk_open_w, 4);
		it->vmode = CHUNK_VMODE_XOR;
	} else if (it->fmt == CHUNK_FMT_PACKED) {
		size_t p = 1;
		it->n = 0;
		for (unsigned sh = 0;; sh += 7) {
			if (p >= len || sh > 14)
				return -EPROTO;
			it->n |= (uint32_t)(buf[p] & 0x7f) << sh;
			if (!(buf[p++] & 0x80))
				break;
		}
		it->pos = 8 * (uint64_t)p;
		if (it->n && chunk_get_plan(it, &it->ts))
			return -EPROTO;
		if (it->n) {
			if (chunk_get(it, 2, &v))
				return -EPROTO;
			it->vmode = (uint8_t)v;
		}
		if (it->n && it->vmode == CHUNK_VMODE_CONST) {
			if (chunk_get(it, 64, &it->vbits))
				return -EPROTO;
		} else if (it->n && it->vmode == CHUNK_VMODE_DEC) {
			if (chunk_get(it, 3, &v) || v > 6)
				return -EPROTO;
			it->scale = (uint8_t)v;
			if (chunk_get(it, 1, &v))
				return -EPROTO;
			if (v) {
				if (chunk_get(it, 4, &v))
					return -EPROTO;
				it->nexc = (uint8_t)(v + 1);
				for (unsigned e = 0; e < it->nexc; e++) {
					if (chunk_get(it, 16, &v) || v >= it->n ||
					    (e && v <= it->exc[e - 1]))
						return -EPROTO;
					it->exc[e] = (uint16_t)v;
				}
				if (it->nexc >= it->n)
					return -EPROTO;
			}
			if (chunk_get_plan(it, &it->val))
				return -EPROTO;
		} else if (it->n && it->vmode != CHUNK_VMODE_XOR) {
			return -EPROTO;
		}
	} else {
		return -EPROTO;
	}
	if (it->n > CHUNK_MAX_SAMPLES)
		return -EPROTO;
	it->err = 0;
	return 0;
}

/* Whether the bits after the last sample are under a byte of zeros. */
static int chunk_iter_tail_ok(const struct chunk_iter *it)
{
	uint64_t end = (uint64_t)it->len * 8;
	if (end - it->pos >= 8)
		return 0;
	if (end == it->pos)
		return 1;
	return (it->buf[it->len - 1] & (0xffu >> (it->pos & 7))) == 0;
}

static int chunk_iter_fail(struct chunk_iter *it)
{
	it->err = -EPROTO;
	return -EPROTO;
}

/* Decodes the next sample into *ts, *v.
 * Returns 1 with a sample; 0 at the end; -EPROTO when the bytes are
 * damaged (the error sticks; samples returned before it were decoded from
 * bytes that looked well-formed, not verified by a checksum). */
int chunk_iter_next(struct chunk_iter *it, int64_t *ts, double *v)
{
	uint64_t x;
	if (it->err)
		return it->err;
	if (it->i == it->n)
		return chunk_iter_tail_ok(it) ? 0 : chunk_iter_fail(it);
	if (it->i == 0) {
		if (it->fmt == CHUNK_FMT_OPEN) {
			if (chunk_get_vint(it, &x))
				return chunk_iter_fail(it);
			it->ts.x = chunk_unzz(x);
		}
	} else if (chunk_get_int(it, &it->ts) || (int64_t)it->ts.x < it->last_ts) {
		return chunk_iter_fail(it);
	}
	it->last_ts = (int64_t)it->ts.x;

	if (it->vmode == CHUNK_VMODE_XOR) {
		if (it->i == 0 ? chunk_get(it, 64, &it->vbits) : chunk_get_xor(it))
			return chunk_iter_fail(it);
	} else if (it->vmode == CHUNK_VMODE_DEC) {
		if (it->exc_next < it->nexc && it->exc[it->exc_next] == it->i) {
			if (chunk_get(it, 64, &it->vbits))
				return chunk_iter_fail(it);
			it->exc_next++;
		} else {
			if (it->val_started && chunk_get_int(it, &it->val))
				return chunk_iter_fail(it);
			it->val_started = 1;
			double d = (double)(int64_t)it->val.x;
			if (it->scale)
				d /= chunk_pow10[it->scale];
			memcpy(&it->vbits, &d, 8);
		}
	}
	*ts = it->last_ts;
	memcpy(v, &it->vbits, 8);
	it->i++;
	return 1;
}

/* Skips to the first sample at or after mint and returns it like
 * chunk_iter_next(): 1 with it in *ts, *v; 0 when none is left; -EPROTO. */
int chunk_iter_seek(struct chunk_iter *it, int64_t mint, int64_t *ts, double *v)
{
	int rc;
	while ((rc = chunk_iter_next(it, ts, v)) == 1)
		if (*ts >= mint)
			return 1;
	return rc;
}

/* Reads the header of the chunk at buf[0..len) into *info.
 * Returns 0 or -EPROTO (header damaged; *info then zeroed). */
int chunk_info(const uint8_t *buf, size_t len, struct chunk_info *info)
{
	struct chunk_iter it;
	memset(info, 0, sizeof(*info));
	int rc = chunk_iter_init(&it, buf, len);
	if (rc)
		return rc;
	info->fmt = it.fmt;
	info->vmode = it.vmode;
	info->scale = it.scale;
	info->nexc = it.nexc;
	info->ts_pred = it.ts.pred;
	info->val_pred = it.val.pred;
	info->n = it.n;
	return 0;
}
