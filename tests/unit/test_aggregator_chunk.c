/* test_aggregator_chunk: unit tests of aggregator/chunk, the compressed
 * sample chunk codec.
 *
 * Every round trip compares doubles by their 64 bits, so NaN payloads and
 * -0.0 count. Each sequence goes three ways: appended into an open chunk,
 * recoded from it into a packed chunk, and encoded directly from the arrays
 * (which must give the same bytes as the recode). Random inputs come from a
 * fixed seed, so a failure repeats; the failing sequence number is printed.
 * Damaged bytes (every truncation, random flips) must give -EPROTO or
 * well-formed samples, never a read past the buffer: run under ASan
 * (make SAN=1) to check the latter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/chunk.h"

#define MAXN 1200

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rndn(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static double dbits(uint64_t b)
{
	double d;
	memcpy(&d, &b, 8);
	return d;
}

static uint64_t bitsd(double d)
{
	uint64_t b;
	memcpy(&b, &d, 8);
	return b;
}

static const uint64_t specials[] = {
	UINT64_C(0x7ff0000000000002), /* Prometheus stale marker */
	UINT64_C(0x7ff8000000000001), /* Prometheus normal NaN */
	UINT64_C(0x7ff8000000000000), /* default quiet NaN */
	UINT64_C(0xfff8000000000000), /* negative quiet NaN */
	UINT64_C(0x7ff0000000000001), /* signalling NaN */
	UINT64_C(0xffffffffffffffff), /* all-ones NaN */
	UINT64_C(0x7ff0000000000000), /* +Inf */
	UINT64_C(0xfff0000000000000), /* -Inf */
	UINT64_C(0x8000000000000000), /* -0.0 */
	UINT64_C(0x0000000000000000), /* 0.0 */
	UINT64_C(0x0000000000000001), /* smallest denormal */
	UINT64_C(0x800fffffffffffff), /* largest negative denormal */
	UINT64_C(0x0010000000000000), /* DBL_MIN */
	UINT64_C(0x7fefffffffffffff), /* DBL_MAX */
	UINT64_C(0xffefffffffffffff), /* -DBL_MAX */
	UINT64_C(0x43e0000000000000), /* 2^63 */
	UINT64_C(0xc3e0000000000000), /* -2^63 */
};
#define NSPECIAL (sizeof(specials) / sizeof(specials[0]))

/* Decodes buf fully; asserts it equals ts/v bit for bit. */
static void expect_decode(const uint8_t *buf, size_t len, const int64_t *ts, const double *v,
			  uint32_t n)
{
	struct chunk_iter it;
	int64_t t;
	double d;
	assert_int_equal(chunk_iter_init(&it, buf, len), 0);
	assert_int_equal(it.n, n);
	for (uint32_t i = 0; i < n; i++) {
		int rc = chunk_iter_next(&it, &t, &d);
		if (rc != 1 || t != ts[i] || bitsd(d) != bitsd(v[i]))
			print_error("sample %u of %u: rc %d ts %lld/%lld bits %016llx/%016llx\n", i, n,
				    rc, (long long)t, (long long)ts[i], (unsigned long long)bitsd(d),
				    (unsigned long long)bitsd(v[i]));
		assert_int_equal(rc, 1);
		assert_true(t == ts[i]);
		assert_true(bitsd(d) == bitsd(v[i]));
	}
	assert_int_equal(chunk_iter_next(&it, &t, &d), 0);
	assert_int_equal(chunk_iter_next(&it, &t, &d), 0);
}

/* Round trips ts/v through the open and the packed form; returns the
 * packed chunk's info (and its size in *packed_len when not NULL). */
static struct chunk_info round_trip(const int64_t *ts, const double *v, uint32_t n,
				    size_t *packed_len)
{
	struct chunk open, packed, direct;
	struct chunk_info info;
	size_t len, len2;
	const uint8_t *b, *b2;
	chunk_init(&open);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(chunk_append(&open, ts[i], v[i]), 0);
	assert_int_equal(open.n, n);
	b = chunk_bytes(&open, &len);
	expect_decode(b, len, ts, v, n);
	size_t open_len = len;
	assert_int_equal(chunk_recode(&open, &packed), 0);
	b = chunk_bytes(&packed, &len);
	expect_decode(b, len, ts, v, n);
	/* Recoding may only add header bytes, never per-sample bits. */
	assert_true(len <= open_len + 12);
	assert_int_equal(chunk_encode(&direct, ts, v, n), 0);
	b2 = chunk_bytes(&direct, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(b, b2, len);
	assert_int_equal(chunk_info(b, len, &info), 0);
	assert_int_equal(info.fmt, CHUNK_FMT_PACKED);
	assert_int_equal(info.n, n);
	if (packed_len)
		*packed_len = len;
	chunk_destroy(&open);
	chunk_destroy(&packed);
	chunk_destroy(&direct);
	return info;
}

static void regular_ts(int64_t *ts, uint32_t n, int64_t base, int64_t step)
{
	for (uint32_t i = 0; i < n; i++)
		ts[i] = base + (int64_t)i * step;
}

static void test_empty_chunk_decodes_to_no_samples(void **state)
{
	struct chunk c, p;
	struct chunk_iter it;
	int64_t t;
	double d;
	size_t len;
	chunk_init(&c);
	const uint8_t *b = chunk_bytes(&c, &len);
	assert_int_equal(chunk_iter_init(&it, b, len), 0);
	assert_int_equal(chunk_iter_next(&it, &t, &d), 0);
	assert_int_equal(chunk_recode(&c, &p), 0);
	b = chunk_bytes(&p, &len);
	assert_int_equal(len, 2);
	assert_int_equal(chunk_iter_init(&it, b, len), 0);
	assert_int_equal(chunk_iter_next(&it, &t, &d), 0);
	chunk_destroy(&c);
	chunk_destroy(&p);
	chunk_destroy(NULL);
}

static void test_special_doubles_round_trip_bit_exactly_in_every_order(void **state)
{
	int64_t ts[2 * NSPECIAL * NSPECIAL];
	double v[2 * NSPECIAL * NSPECIAL];
	uint32_t n = 0;
	/* Every ordered pair, so each value follows each other one. */
	for (size_t a = 0; a < NSPECIAL; a++)
		for (size_t b = 0; b < NSPECIAL; b++) {
			v[n++] = dbits(specials[a]);
			v[n++] = dbits(specials[b]);
		}
	regular_ts(ts, n, 1700000000000, 15000);
	round_trip(ts, v, n, NULL);
	for (size_t a = 0; a < NSPECIAL; a++) {
		v[0] = dbits(specials[a]);
		round_trip(ts, v, 1, NULL);
	}
}

static void test_step_back_in_time_is_refused_and_leaves_the_chunk_unchanged(void **state)
{
	struct chunk c, p;
	uint8_t before[64];
	size_t len, len2;
	chunk_init(&c);
	assert_int_equal(chunk_append(&c, 1000, 1.5), 0);
	assert_int_equal(chunk_append(&c, 2000, 2.5), 0);
	const uint8_t *b = chunk_bytes(&c, &len);
	memcpy(before, b, len);
	assert_int_equal(chunk_append(&c, 1999, 3.5), -ERANGE);
	assert_int_equal(chunk_append(&c, INT64_MIN, 3.5), -ERANGE);
	b = chunk_bytes(&c, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(before, b, len);
	assert_int_equal(c.n, 2);
	assert_int_equal(chunk_append(&c, 2000, 4.5), 0);
	int64_t ts[3] = {5, 4, 6};
	double v[3] = {1, 2, 3};
	assert_int_equal(chunk_encode(&p, ts, v, 3), -ERANGE);
	chunk_destroy(&p);
	chunk_destroy(&c);
}

static void test_equal_timestamps_round_trip(void **state)
{
	int64_t ts[300];
	double v[300];
	for (uint32_t i = 0; i < 300; i++) {
		ts[i] = 1700000000000 + (int64_t)(i / 7) * 15000;
		v[i] = (double)i;
	}
	round_trip(ts, v, 300, NULL);
	for (uint32_t i = 0; i < 300; i++)
		ts[i] = -5;
	round_trip(ts, v, 300, NULL);
}

static void test_int64_extreme_timestamps_and_full_range_jumps_round_trip(void **state)
{
	static const int64_t seqs[][6] = {
		{INT64_MIN, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX},
		{INT64_MIN, INT64_MIN, INT64_MIN + 1, 0, INT64_MAX - 1, INT64_MAX},
		{INT64_MIN, -1, 0, 1, INT64_MAX, INT64_MAX},
		{-1, 0, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX},
		{INT64_MIN, INT64_MIN + 1, INT64_MAX - 1, INT64_MAX, INT64_MAX, INT64_MAX},
		{0, 1, 2, INT64_MAX / 2, INT64_MAX - 3, INT64_MAX},
	};
	double v[6] = {1, 2, 3, 4, 5, 6};
	for (size_t s = 0; s < sizeof(seqs) / sizeof(seqs[0]); s++)
		for (uint32_t n = 1; n <= 6; n++)
			round_trip(seqs[s], v, n, NULL);
}

static void test_constant_non_integer_values_choose_const_mode(void **state)
{
	int64_t ts[120];
	double v[120];
	regular_ts(ts, 120, 1700000000000, 15000);
	for (uint32_t i = 0; i < 120; i++)
		v[i] = 1.0 / 3.0;
	assert_int_equal(round_trip(ts, v, 120, NULL).vmode, CHUNK_VMODE_CONST);
	for (uint32_t i = 0; i < 120; i++)
		v[i] = dbits(UINT64_C(0x7ff0000000000002));
	assert_int_equal(round_trip(ts, v, 120, NULL).vmode, CHUNK_VMODE_CONST);
}

static void test_integer_counters_choose_decimal_scale_0(void **state)
{
	int64_t ts[120];
	double v[120];
	double c = 123456789;
	regular_ts(ts, 120, 1700000000000, 15000);
	for (uint32_t i = 0; i < 120; i++) {
		c += (double)rndn(100000);
		v[i] = c;
	}
	struct chunk_info in = round_trip(ts, v, 120, NULL);
	assert_int_equal(in.vmode, CHUNK_VMODE_DEC);
	assert_int_equal(in.scale, 0);
	assert_int_equal(in.nexc, 0);
	/* Constant integers cost nothing per sample. */
	for (uint32_t i = 0; i < 120; i++)
		v[i] = 64424509440.0;
	size_t l120, l1000;
	/* A big constant is cheaper as 64 raw bits than as a scaled integer. */
	assert_int_equal(round_trip(ts, v, 120, &l120).vmode, CHUNK_VMODE_CONST);
	int64_t ts2[1000];
	double v2[1000];
	regular_ts(ts2, 1000, 1700000000000, 15000);
	for (uint32_t i = 0; i < 1000; i++)
		v2[i] = 64424509440.0;
	round_trip(ts2, v2, 1000, &l1000);
	assert_int_equal(l120 + 1, l1000); /* only the count varint grows */
}

static void test_limited_decimals_choose_their_scale(void **state)
{
	int64_t ts[120];
	double v[120];
	regular_ts(ts, 120, 1700000000000, 15000);
	for (unsigned k = 1; k <= 6; k++) {
		double p = pow(10, k);
		for (uint32_t i = 0; i < 120; i++) {
			int64_t x = (int64_t)rndn(100000) * 10 + 1 + (int64_t)rndn(9);
			v[i] = (double)x / p;
		}
		struct chunk_info in = round_trip(ts, v, 120, NULL);
		assert_int_equal(in.vmode, CHUNK_VMODE_DEC);
		assert_int_equal(in.scale, k);
	}
	/* Load-like gauge: 0.43 parsed from text is 43/100. */
	for (uint32_t i = 0; i < 120; i++)
		v[i] = strtod(i % 2 ? "0.43" : "12.5", NULL);
	struct chunk_info in = round_trip(ts, v, 120, NULL);
	assert_int_equal(in.vmode, CHUNK_VMODE_DEC);
	assert_int_equal(in.scale, 2);
}

static void test_random_bit_patterns_choose_xor_mode(void **state)
{
	int64_t ts[120];
	double v[120];
	regular_ts(ts, 120, 1700000000000, 15000);
	for (uint32_t i = 0; i < 120; i++)
		v[i] = dbits(rnd());
	assert_int_equal(round_trip(ts, v, 120, NULL).vmode, CHUNK_VMODE_XOR);
	/* Computed floats, like scrape durations. */
	for (uint32_t i = 0; i < 120; i++)
		v[i] = 0.001 + (double)rndn(1000000) / 7e9;
	assert_int_equal(round_trip(ts, v, 120, NULL).vmode, CHUNK_VMODE_XOR);
}

static void test_stale_nan_and_negative_zero_among_decimals_are_exceptions(void **state)
{
	int64_t ts[120];
	double v[120];
	regular_ts(ts, 120, 1700000000000, 15000);
	for (uint32_t i = 0; i < 120; i++)
		v[i] = (double)(1000 + i * 3) / 100;
	v[119] = dbits(UINT64_C(0x7ff0000000000002));
	struct chunk_info in = round_trip(ts, v, 120, NULL);
	assert_int_equal(in.vmode, CHUNK_VMODE_DEC);
	assert_int_equal(in.scale, 2);
	assert_int_equal(in.nexc, 1);
	v[0] = -0.0;
	v[50] = dbits(UINT64_C(0x7ff8000000000001));
	in = round_trip(ts, v, 120, NULL);
	assert_int_equal(in.vmode, CHUNK_VMODE_DEC);
	assert_int_equal(in.nexc, 3);
	/* Exceptions only: first and last samples, and every one but one. */
	for (uint32_t i = 0; i < 120; i++)
		v[i] = i == 7 ? 5.0 : dbits(specials[i % NSPECIAL]);
	round_trip(ts, v, 120, NULL);
}

static void test_more_exceptions_than_the_limit_fall_back_to_xor(void **state)
{
	int64_t ts[120];
	double v[120];
	regular_ts(ts, 120, 1700000000000, 15000);
	for (uint32_t i = 0; i < 120; i++)
		v[i] = (double)(i * 1000);
	for (uint32_t i = 0; i <= CHUNK_EXC_MAX; i++)
		v[i * 7] = dbits(rnd() | UINT64_C(0x7ff0000000000001));
	assert_int_equal(round_trip(ts, v, 120, NULL).vmode, CHUNK_VMODE_XOR);
}

static void test_timestamp_predictor_fits_the_shape(void **state)
{
	int64_t ts[120];
	double v[120] = {0};
	struct chunk_info in;
	/* Jitter around a grid: one residual per jittered point. */
	for (uint32_t i = 0; i < 120; i++)
		ts[i] = 1700000000000 + (int64_t)i * 15000 + (i % 5 == 0 ? (int64_t)rndn(11) - 5 : 0);
	in = round_trip(ts, v, 120, NULL);
	assert_int_equal(in.ts_pred, CHUNK_PRED_GRID);
	/* Regular with missed scrapes: the grid shifts, deltas do not. */
	regular_ts(ts, 120, 1700000000000, 15000);
	for (uint32_t i = 40; i < 120; i++)
		ts[i] += 15000;
	for (uint32_t i = 90; i < 120; i++)
		ts[i] += 30000;
	in = round_trip(ts, v, 120, NULL);
	assert_int_equal(in.ts_pred, CHUNK_PRED_DELTA);
	/* Growing steps: delta-of-delta is constant. */
	for (uint32_t i = 0; i < 120; i++)
		ts[i] = (int64_t)i * i * 37;
	in = round_trip(ts, v, 120, NULL);
	assert_int_equal(in.ts_pred, CHUNK_PRED_DOD);
}

static void test_regular_timestamps_and_constant_values_cost_no_bits_per_sample(void **state)
{
	int64_t ts[MAXN];
	double v[MAXN];
	size_t a, b;
	regular_ts(ts, MAXN, 1700000000123, 15000);
	for (uint32_t i = 0; i < MAXN; i++)
		v[i] = 0.0;
	round_trip(ts, v, 200, &a);
	round_trip(ts, v, MAXN, &b);
	assert_int_equal(a, b);
	assert_true(a < 24);
}

/* Fills v[0..n-1] with one of several value shapes. */
static void gen_values(double *v, uint32_t n, unsigned kind)
{
	double c = 0;
	unsigned k = 1 + (unsigned)rndn(3);
	double p = pow(10, k);
	int shift = (int)rndn(64);
	switch (kind) {
	case 0: /* random bit patterns */
		for (uint32_t i = 0; i < n; i++)
			v[i] = dbits(rnd());
		break;
	case 1: /* random integers of a random magnitude, any sign */
		for (uint32_t i = 0; i < n; i++)
			v[i] = (double)((int64_t)rnd() >> shift);
		break;
	case 2: /* decimals with 1 to 3 digits */
		for (uint32_t i = 0; i < n; i++)
			v[i] = (double)((int64_t)rndn(2000000) - 1000000) / p;
		break;
	case 3: /* a constant */
		c = rndn(2) ? dbits(rnd()) : (double)rndn(1000);
		for (uint32_t i = 0; i < n; i++)
			v[i] = c;
		break;
	case 4: /* counters with resets, integer or cents */
		for (uint32_t i = 0; i < n; i++) {
			c = rndn(100) == 0 ? 0 : c + (double)rndn(5000);
			v[i] = k == 1 ? c : floor(c) / 100;
		}
		break;
	case 5: /* special values interleaved with others */
		for (uint32_t i = 0; i < n; i++)
			v[i] = rndn(2) ? dbits(specials[rndn(NSPECIAL)]) : (double)rndn(100) / 10;
		break;
	case 6: /* integers with a few specials (exception path) */
		for (uint32_t i = 0; i < n; i++)
			v[i] = (double)(int64_t)rndn(1000);
		for (uint64_t e = rndn(CHUNK_EXC_MAX + 3); e > 0; e--)
			if (n)
				v[rndn(n)] = dbits(specials[rndn(NSPECIAL)]);
		break;
	case 7: /* near-constant with rare steps */
		c = (double)rndn(100000) / 10;
		for (uint32_t i = 0; i < n; i++) {
			if (rndn(30) == 0)
				c += 0.1;
			v[i] = c;
		}
		break;
	default: /* big magnitudes and up to 6 digits */
		for (uint32_t i = 0; i < n; i++)
			v[i] = (double)(int64_t)(rnd() >> (1 + rndn(12))) / pow(10, (double)rndn(7));
		break;
	}
}

/* Fills ts[0..n-1] (non-decreasing) with one of several timestamp shapes. */
static void gen_ts(int64_t *ts, uint32_t n, unsigned kind)
{
	int64_t base = 1700000000000 + (int64_t)rndn(1000000000);
	int64_t step = rndn(2) ? 15000 : rndn(2) ? 30000 : 60000;
	uint64_t room;
	switch (kind) {
	case 0: /* regular */
		regular_ts(ts, n, base, step);
		break;
	case 1: /* jittered by up to 5 ms on a fraction of points */
		for (uint32_t i = 0; i < n; i++)
			ts[i] = base + (int64_t)i * step + (rndn(5) == 0 ? (int64_t)rndn(11) - 5 : 0);
		break;
	case 2: /* huge jumps from near INT64_MIN, full range */
		ts[0] = INT64_MIN + (int64_t)rndn(1000);
		for (uint32_t i = 1; i < n; i++) {
			room = (uint64_t)INT64_MAX - (uint64_t)ts[i - 1];
			uint64_t jump = rnd() >> rndn(64);
			ts[i] = (int64_t)((uint64_t)ts[i - 1] + (jump > room ? room : jump));
		}
		break;
	case 3: /* runs of equal timestamps */
		for (uint32_t i = 0; i < n; i++)
			ts[i] = i && rndn(3) ? ts[i - 1] : base + (int64_t)i * step;
		break;
	case 4: /* ends at INT64_MAX */
		for (uint32_t i = 0; i < n; i++)
			ts[i] = INT64_MAX - (int64_t)(n - 1 - i) * step;
		break;
	default: /* missed scrapes and random small gaps */
		for (uint32_t i = 0; i < n; i++)
			ts[i] = i ? ts[i - 1] + step * (rndn(10) ? 1 : 1 + (int64_t)rndn(4)) +
					    (int64_t)rndn(3)
				  : base;
		break;
	}
}

static void test_random_sequences_round_trip_bit_exactly(void **state)
{
	static int64_t ts[MAXN];
	static double v[MAXN];
	unsigned modes[3] = {0};
	rng_state = 42;
	for (unsigned s = 0; s < 4000; s++) {
		uint32_t n = (uint32_t)(s % 10 == 0 ? rndn(4) : rndn(s % 7 == 0 ? MAXN : 200));
		gen_values(v, n, s % 9);
		gen_ts(ts, n, (s / 9) % 6);
		struct chunk_info in = round_trip(ts, v, n, NULL);
		if (n)
			modes[in.vmode]++;
	}
	/* Each mode was exercised. */
	assert_true(modes[CHUNK_VMODE_XOR] > 100);
	assert_true(modes[CHUNK_VMODE_CONST] > 10);
	assert_true(modes[CHUNK_VMODE_DEC] > 100);
}

/* A set of chunks (open and packed bytes) of varied shapes for damage tests. */
struct sample_chunk {
	uint8_t *b;
	size_t len;
	uint32_t n;
	int64_t ts[300];
	double v[300];
};

static void make_sample_chunk(struct sample_chunk *sc, unsigned s)
{
	struct chunk c, p;
	size_t len;
	sc->n = (uint32_t)rndn(300);
	gen_values(sc->v, sc->n, s % 9);
	gen_ts(sc->ts, sc->n, (s / 2) % 6);
	chunk_init(&c);
	for (uint32_t i = 0; i < sc->n; i++)
		assert_int_equal(chunk_append(&c, sc->ts[i], sc->v[i]), 0);
	const uint8_t *b = chunk_bytes(&c, &len);
	if (s % 2) {
		assert_int_equal(chunk_recode(&c, &p), 0);
		b = chunk_bytes(&p, &len);
	} else {
		chunk_init(&p);
	}
	sc->b = malloc(len ? len : 1);
	assert_non_null(sc->b);
	memcpy(sc->b, b, len);
	sc->len = len;
	chunk_destroy(&c);
	chunk_destroy(&p);
}

/* Decodes damaged bytes to the end or the first error. Returns the rc
 * that ended it and asserts well-formed output: never more samples than
 * the limit, timestamps never decreasing. */
static int decode_damaged(const uint8_t *b, size_t len, const struct sample_chunk *ref,
			  uint32_t *count)
{
	struct chunk_iter it;
	int64_t t, prev = INT64_MIN;
	double d;
	int rc = chunk_iter_init(&it, b, len);
	*count = 0;
	if (rc)
		return rc;
	while ((rc = chunk_iter_next(&it, &t, &d)) == 1) {
		assert_true(t >= prev);
		prev = t;
		if (ref) {
			assert_true(*count < ref->n);
			assert_true(t == ref->ts[*count]);
			assert_true(bitsd(d) == bitsd(ref->v[*count]));
		}
		(*count)++;
		assert_true(*count <= CHUNK_MAX_SAMPLES);
	}
	assert_int_equal(chunk_iter_next(&it, &t, &d), rc); /* sticky */
	return rc;
}

static void test_every_truncation_is_refused_after_a_correct_prefix(void **state)
{
	rng_state = 7;
	for (unsigned s = 0; s < 200; s++) {
		struct sample_chunk sc;
		uint32_t cnt;
		make_sample_chunk(&sc, s);
		assert_int_equal(decode_damaged(sc.b, sc.len, &sc, &cnt), 0);
		assert_int_equal(cnt, sc.n);
		for (size_t l = 0; l < sc.len; l++) {
			uint8_t *t = malloc(l ? l : 1); /* exact size: ASan sees overreads */
			assert_non_null(t);
			memcpy(t, sc.b, l);
			assert_int_equal(decode_damaged(t, l, &sc, &cnt), -EPROTO);
			free(t);
		}
		free(sc.b);
	}
}

static void test_random_byte_flips_give_eproto_or_well_formed_samples(void **state)
{
	unsigned eproto = 0, clean = 0;
	rng_state = 99;
	for (unsigned s = 0; s < 10000; s++) {
		struct sample_chunk sc;
		uint32_t cnt;
		make_sample_chunk(&sc, s);
		for (uint64_t f = 1 + rndn(3); f > 0; f--)
			sc.b[rndn(sc.len)] ^= (uint8_t)(1 + rndn(255));
		if (decode_damaged(sc.b, sc.len, NULL, &cnt) == 0)
			clean++;
		else
			eproto++;
		free(sc.b);
	}
	print_message("flips: %u -EPROTO, %u decoded to the end\n", eproto, clean);
	assert_true(eproto > 0);
}

static void test_damaged_headers_are_refused(void **state)
{
	struct chunk_iter it;
	static const uint8_t unknown[] = {9, 0};
	static const uint8_t too_many[] = {CHUNK_FMT_OPEN, 0x01, 0x00, 0x01, 0x00};
	static const uint8_t short_open[] = {CHUNK_FMT_OPEN, 0, 0};
	static const uint8_t packed_trailing[] = {CHUNK_FMT_PACKED, 0, 0};
	static const uint8_t packed_endless_count[] = {CHUNK_FMT_PACKED, 0x80, 0x80, 0x80, 0x01};
	int64_t t;
	double d;
	assert_int_equal(chunk_iter_init(&it, NULL, 0), -EPROTO);
	assert_int_equal(chunk_iter_next(&it, &t, &d), -EPROTO);
	assert_int_equal(chunk_iter_init(&it, unknown, sizeof(unknown)), -EPROTO);
	assert_int_equal(chunk_iter_init(&it, too_many, sizeof(too_many)), -EPROTO);
	assert_int_equal(chunk_iter_init(&it, short_open, sizeof(short_open)), -EPROTO);
	assert_int_equal(chunk_iter_init(&it, packed_endless_count, sizeof(packed_endless_count)),
			 -EPROTO);
	assert_int_equal(chunk_iter_init(&it, packed_trailing, sizeof(packed_trailing)), 0);
	assert_int_equal(chunk_iter_next(&it, &t, &d), -EPROTO);
}

static void test_full_chunk_says_eagain_and_keeps_its_samples(void **state)
{
	struct chunk c, p;
	struct chunk_iter it;
	size_t len;
	int64_t t;
	double d;
	chunk_init(&c);
	for (uint32_t i = 0; i < CHUNK_MAX_SAMPLES; i++)
		assert_int_equal(chunk_append(&c, (int64_t)i * 10, (double)(i % 97)), 0);
	assert_int_equal(chunk_append(&c, INT64_MAX, 1.0), -EAGAIN);
	assert_int_equal(chunk_recode(&c, &p), 0);
	const uint8_t *b = chunk_bytes(&p, &len);
	assert_int_equal(chunk_iter_init(&it, b, len), 0);
	assert_int_equal(it.n, CHUNK_MAX_SAMPLES);
	assert_int_equal(chunk_iter_seek(&it, 655350, &t, &d), 1);
	assert_true(t == 655350 && d == 65535 % 97);
	assert_int_equal(chunk_iter_next(&it, &t, &d), 0);
	assert_int_equal(chunk_append(&p, INT64_MAX, 1.0), -EPERM);
	chunk_destroy(&c);
	chunk_destroy(&p);
}

static void test_seek_returns_the_first_sample_at_or_after_the_time(void **state)
{
	int64_t ts[10] = {10, 20, 20, 30, 40, 50, 60, 70, 80, 90};
	double v[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	struct chunk p;
	struct chunk_iter it;
	size_t len;
	int64_t t;
	double d;
	assert_int_equal(chunk_encode(&p, ts, v, 10), 0);
	const uint8_t *b = chunk_bytes(&p, &len);
	assert_int_equal(chunk_iter_init(&it, b, len), 0);
	assert_int_equal(chunk_iter_seek(&it, 15, &t, &d), 1);
	assert_true(t == 20 && d == 1);
	assert_int_equal(chunk_iter_seek(&it, 20, &t, &d), 1);
	assert_true(t == 20 && d == 2);
	assert_int_equal(chunk_iter_seek(&it, 85, &t, &d), 1);
	assert_true(t == 90 && d == 9);
	assert_int_equal(chunk_iter_seek(&it, 0, &t, &d), 0);
	chunk_destroy(&p);
}

static void test_recoding_a_packed_chunk_gives_the_same_bytes(void **state)
{
	int64_t ts[200];
	double v[200];
	rng_state = 5;
	for (unsigned s = 0; s < 50; s++) {
		struct chunk a, b;
		size_t la, lb;
		gen_values(v, 200, s % 9);
		gen_ts(ts, 200, s % 6);
		assert_int_equal(chunk_encode(&a, ts, v, 200), 0);
		assert_int_equal(chunk_recode(&a, &b), 0);
		const uint8_t *pa = chunk_bytes(&a, &la), *pb = chunk_bytes(&b, &lb);
		assert_int_equal(la, lb);
		assert_memory_equal(pa, pb, la);
		chunk_destroy(&a);
		chunk_destroy(&b);
	}
}

/* Allocation failure injection: fail once the budget is spent. */
static long alloc_budget;
static void *(*real_alloc)(void *, size_t);

static void *failing_alloc(void *p, size_t size)
{
	if (size && alloc_budget-- <= 0)
		return NULL;
	return real_alloc(p, size);
}

static void test_failed_allocations_are_clean_errors_at_every_step(void **state)
{
	int64_t ts[300];
	double v[300];
	rng_state = 11;
	gen_values(v, 300, 4);
	gen_ts(ts, 300, 1);
	real_alloc = chunk_alloc_hook;
	chunk_alloc_hook = failing_alloc;
	for (long budget = 0;; budget++) {
		struct chunk c, p;
		size_t len;
		int rc = 0;
		uint32_t i;
		alloc_budget = budget;
		chunk_init(&c);
		chunk_init(&p);
		for (i = 0; i < 300 && rc == 0; i++) {
			uint8_t before[8192];
			size_t l0;
			const uint8_t *b0 = chunk_bytes(&c, &l0);
			assert_true(l0 <= sizeof(before));
			memcpy(before, b0, l0);
			rc = chunk_append(&c, ts[i], v[i]);
			if (rc) {
				size_t l1;
				const uint8_t *b = chunk_bytes(&c, &l1);
				assert_int_equal(rc, -ENOMEM);
				assert_int_equal(l0, l1);
				assert_memory_equal(before, b, l0);
			}
		}
		if (rc == 0)
			rc = chunk_recode(&c, &p);
		if (rc == 0) {
			const uint8_t *b = chunk_bytes(&p, &len);
			chunk_alloc_hook = real_alloc;
			expect_decode(b, len, ts, v, 300);
			chunk_destroy(&c);
			chunk_destroy(&p);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
		chunk_destroy(&c);
		chunk_destroy(&p);
		assert_true(budget < 1000);
	}
	chunk_alloc_hook = real_alloc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_chunk_decodes_to_no_samples),
		cmocka_unit_test(test_special_doubles_round_trip_bit_exactly_in_every_order),
		cmocka_unit_test(test_step_back_in_time_is_refused_and_leaves_the_chunk_unchanged),
		cmocka_unit_test(test_equal_timestamps_round_trip),
		cmocka_unit_test(test_int64_extreme_timestamps_and_full_range_jumps_round_trip),
		cmocka_unit_test(test_constant_non_integer_values_choose_const_mode),
		cmocka_unit_test(test_integer_counters_choose_decimal_scale_0),
		cmocka_unit_test(test_limited_decimals_choose_their_scale),
		cmocka_unit_test(test_random_bit_patterns_choose_xor_mode),
		cmocka_unit_test(test_stale_nan_and_negative_zero_among_decimals_are_exceptions),
		cmocka_unit_test(test_more_exceptions_than_the_limit_fall_back_to_xor),
		cmocka_unit_test(test_timestamp_predictor_fits_the_shape),
		cmocka_unit_test(test_regular_timestamps_and_constant_values_cost_no_bits_per_sample),
		cmocka_unit_test(test_random_sequences_round_trip_bit_exactly),
		cmocka_unit_test(test_every_truncation_is_refused_after_a_correct_prefix),
		cmocka_unit_test(test_random_byte_flips_give_eproto_or_well_formed_samples),
		cmocka_unit_test(test_damaged_headers_are_refused),
		cmocka_unit_test(test_full_chunk_says_eagain_and_keeps_its_samples),
		cmocka_unit_test(test_seek_returns_the_first_sample_at_or_after_the_time),
		cmocka_unit_test(test_recoding_a_packed_chunk_gives_the_same_bytes),
		cmocka_unit_test(test_failed_allocations_are_clean_errors_at_every_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
