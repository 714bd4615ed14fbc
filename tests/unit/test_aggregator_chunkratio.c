/* test_aggregator_chunkratio: space and speed of aggregator/chunk on
 * node_exporter-like data. It prints figures and fails only when a round
 * trip is wrong; no size or speed bar is asserted here (make bench owns
 * the comparison with VictoriaMetrics).
 *
 * Data: 10 targets x 1,000 series x 720 samples at 15 s (3 h). Each target
 * has its own scrape times: a 15 s grid with 0-5 ms of jitter on a fifth of
 * the scrapes and a rare missed scrape. Series shapes and shares follow a
 * node_exporter page: constants (sizes, info, boot time, unused CPU modes),
 * rarely moving counters, integer byte/packet counters, CPU seconds with 2
 * decimals, memory gauges in whole KiB, small integer gauges, load with 2
 * decimals, temperatures with 1 decimal, disk seconds with 3 decimals, and
 * full-precision floats (scrape durations, node_time_seconds).
 *
 * Sizes are reported per chunk length (120 samples like Prometheus, 720 =
 * the whole series) for the open form (Gorilla: dod + XOR, what appends
 * write), the packed form (chunk_recode) and packed bytes through zstd -3
 * (what a block adds). Under ASan the series count is cut to a tenth.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "aggregator/chunk.h"

#if defined(__SANITIZE_ADDRESS__)
#define TARGETS 1
#else
#define TARGETS 10
#endif
#define PER_TARGET 1000
#define SAMPLES 720
#define STEP 15000

enum kind { K_CONST, K_RARE, K_BYTES, K_CPU, K_MEM, K_SMALL, K_LOAD, K_TEMP, K_DISK, K_FLOAT, K_N };
static const char *const kind_name[K_N] = {"const", "rare-counter", "int-counter", "cpu-seconds",
					   "mem-bytes", "small-gauge", "load", "temp", "disk-seconds",
					   "float"};
/* Shares per 1,000 series of a target. */
static const unsigned kind_share[K_N] = {350, 100, 150, 100, 100, 50, 50, 30, 40, 30};

static uint64_t rng = 2024;

static uint64_t rnd(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double unif(void)
{
	return (double)(rnd() >> 11) * 0x1p-53;
}

static uint64_t rndn(uint64_t n)
{
	return rnd() % n;
}

static void gen_target_ts(int64_t *ts, int target)
{
	int64_t t = 1700000000000 + target * 1234;
	for (int i = 0; i < SAMPLES; i++) {
		if (i && rndn(500) == 0)
			t += STEP; /* missed scrape */
		int64_t j = rndn(5) == 0 ? (int64_t)rndn(11) - 5 : 0;
		ts[i] = t + (int64_t)i * STEP + j;
	}
}

/* Values of one series of a kind, as a text exposition would give them. */
static void gen_values(double *v, enum kind k)
{
	double c, rate;
	int64_t x;
	switch (k) {
	case K_CONST:
		switch (rndn(4)) {
		case 0: c = (double)(rndn(1u << 26) * 4096); break;   /* fs size */
		case 1: c = 1; break;                                 /* *_info */
		case 2: c = 0; break;                                 /* guest cpu */
		default: c = (double)(1699000000 + rndn(1000000)); break; /* boot time */
		}
		for (int i = 0; i < SAMPLES; i++)
			v[i] = c;
		break;
	case K_RARE:
		x = (int64_t)rndn(1000);
		for (int i = 0; i < SAMPLES; i++) {
			if (rndn(20) == 0)
				x += 1 + (int64_t)rndn(10);
			v[i] = (double)x;
		}
		break;
	case K_BYTES:
		rate = pow(10, 7 * unif());
		x = (int64_t)rndn(UINT64_C(1) << 40);
		for (int i = 0; i < SAMPLES; i++) {
			x += (int64_t)(rate * 15 * (0.5 + unif()));
			if (rndn(20000) == 0)
				x = 0; /* counter reset */
			v[i] = (double)x;
		}
		break;
	case K_CPU: /* USER_HZ ticks shown as seconds with 2 decimals */
		rate = rndn(4) == 0 ? 0.9 + 0.1 * unif() : 0.05 * unif();
		x = (int64_t)rndn(100000000);
		for (int i = 0; i < SAMPLES; i++) {
			x += (int64_t)(rate * 1500 * (0.9 + 0.2 * unif()));
			v[i] = (double)x / 100;
		}
		break;
	case K_MEM:
		x = (int64_t)rndn(16u << 20); /* KiB */
		for (int i = 0; i < SAMPLES; i++) {
			if (rndn(3))
				x += (int64_t)rndn(2001) - 1000;
			if (x < 0)
				x = 0;
			v[i] = (double)(x * 1024);
		}
		break;
	case K_SMALL:
		x = (int64_t)rndn(50);
		for (int i = 0; i < SAMPLES; i++) {
			if (rndn(10) < 3)
				x += rndn(2) ? 1 : -1;
			if (x < 0)
				x = 0;
			v[i] = (double)x;
		}
		break;
	case K_LOAD:
		c = 4 * unif();
		for (int i = 0; i < SAMPLES; i++) {
			c = 0.92 * c + 0.08 * 8 * unif();
			v[i] = (double)llround(c * 100) / 100;
		}
		break;
	case K_TEMP:
		x = 300 + (int64_t)rndn(400);
		for (int i = 0; i < SAMPLES; i++) {
			if (rndn(10) == 0)
				x += (int64_t)rndn(11) - 5;
			v[i] = (double)x / 10;
		}
		break;
	case K_DISK: /* ms resolution seconds counter */
		x = (int64_t)rndn(100000000);
		rate = 500 * unif();
		for (int i = 0; i < SAMPLES; i++) {
			x += (int64_t)(rate * unif());
			v[i] = (double)x / 1000;
		}
		break;
	default: /* scrape durations, node_time_seconds */
		c = 1700000000 + unif();
		for (int i = 0; i < SAMPLES; i++)
			v[i] = rndn(2) ? 0.001 + 0.05 * unif() : c + 15.0 * i + unif() * 1e-3;
		break;
	}
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct sizes {
	uint64_t open, packed;
	uint8_t *zbuf;           /* packed bytes of every chunk, for zstd */
	size_t zlen, zcap;
};

/* Decodes buf and checks it against ts/v; returns samples decoded. */
static uint32_t check(const uint8_t *b, size_t len, const int64_t *ts, const double *v)
{
	struct chunk_iter it;
	int64_t t;
	double d;
	uint32_t n = 0;
	assert_int_equal(chunk_iter_init(&it, b, len), 0);
	while (chunk_iter_next(&it, &t, &d) == 1) {
		assert_true(t == ts[n] && memcmp(&d, &v[n], 8) == 0);
		n++;
	}
	return n;
}

static void test_node_exporter_like_data_bytes_per_sample_and_speed(void **state)
{
	static const uint32_t lens[2] = {120, 720};
	static int64_t ts[SAMPLES];
	static double v[SAMPLES];
	struct sizes sz[2] = {{0}};
	uint64_t kind_packed[K_N] = {0}, kind_open[K_N] = {0}, kind_samples[K_N] = {0};
	uint64_t modes[3] = {0}, samples = 0;
	double t_append = 0, t_recode = 0, t_dec_open = 0, t_dec_packed = 0;
	uint64_t dec_open = 0, dec_packed = 0;

	for (int tg = 0; tg < TARGETS; tg++) {
		gen_target_ts(ts, tg);
		unsigned k = 0, left = kind_share[0];
		for (int s = 0; s < PER_TARGET; s++) {
			while (left == 0)
				left = kind_share[++k];
			left--;
			gen_values(v, (enum kind)k);
			samples += SAMPLES;
			kind_samples[k] += SAMPLES;
			for (int l = 0; l < 2; l++) {
				for (uint32_t at = 0; at < SAMPLES; at += lens[l]) {
					struct chunk c, p;
					size_t olen, plen;
					double t0 = now();
					chunk_init(&c);
					for (uint32_t i = at; i < at + lens[l]; i++)
						assert_int_equal(chunk_append(&c, ts[i], v[i]), 0);
					double t1 = now();
					assert_int_equal(chunk_recode(&c, &p), 0);
					double t2 = now();
					const uint8_t *ob = chunk_bytes(&c, &olen);
					const uint8_t *pb = chunk_bytes(&p, &plen);
					dec_open += check(ob, olen, ts + at, v + at);
					double t3 = now();
					dec_packed += check(pb, plen, ts + at, v + at);
					double t4 = now();
					t_append += t1 - t0;
					t_recode += t2 - t1;
					t_dec_open += t3 - t2;
					t_dec_packed += t4 - t3;
					sz[l].open += olen;
					sz[l].packed += plen;
					if (l == 0) {
						struct chunk_info in;
						assert_int_equal(chunk_info(pb, plen, &in), 0);
						modes[in.vmode]++;
						kind_open[k] += olen;
						kind_packed[k] += plen;
					}
					if (sz[l].zlen + plen > sz[l].zcap) {
						sz[l].zcap = 2 * (sz[l].zlen + plen) + 4096;
						sz[l].zbuf = realloc(sz[l].zbuf, sz[l].zcap);
						assert_non_null(sz[l].zbuf);
					}
					memcpy(sz[l].zbuf + sz[l].zlen, pb, plen);
					sz[l].zlen += plen;
					chunk_destroy(&c);
					chunk_destroy(&p);
				}
			}
		}
	}
	assert_int_equal(dec_open, 2 * samples);
	assert_int_equal(dec_packed, 2 * samples);

	printf("chunkratio: %d series x %d samples = %llu samples at 15 s, jitter 0-5 ms on 1/5\n",
	       TARGETS * PER_TARGET, SAMPLES, (unsigned long long)samples);
	for (int l = 0; l < 2; l++) {
		size_t zc = ZSTD_compressBound(sz[l].zlen);
		void *zb = malloc(zc);
		assert_non_null(zb);
		size_t zl = ZSTD_compress(zb, zc, sz[l].zbuf, sz[l].zlen, 3);
		assert_false(ZSTD_isError(zl));
		printf("  chunks of %3u: open (Gorilla dod+XOR) %.3f B/sample, packed %.3f B/sample "
		       "(%.2fx smaller), packed+zstd-3 %.3f B/sample; raw 16\n",
		       lens[l], (double)sz[l].open / samples, (double)sz[l].packed / samples,
		       (double)sz[l].open / sz[l].packed, (double)zl / samples);
		free(zb);
		free(sz[l].zbuf);
	}
	printf("  by kind (chunks of 120), open -> packed B/sample:\n");
	for (int k = 0; k < K_N; k++)
		printf("    %-13s %4.1f%%  %6.3f -> %6.3f\n", kind_name[k],
		       100.0 * kind_samples[k] / samples, (double)kind_open[k] / kind_samples[k],
		       (double)kind_packed[k] / kind_samples[k]);
	printf("  value modes of packed 120-chunks: xor %llu, const %llu, dec %llu\n",
	       (unsigned long long)modes[0], (unsigned long long)modes[1],
	       (unsigned long long)modes[2]);
	double ms = 2.0 * samples / 1e6;
	printf("  append %.1f M samples/s, recode %.1f M samples/s, decode open %.1f M samples/s "
	       "(%.0f MB/s of 16-byte samples), decode packed %.1f M samples/s (%.0f MB/s)\n",
	       ms / t_append, ms / t_recode, ms / t_dec_open, 16 * ms / t_dec_open,
	       ms / t_dec_packed, 16 * ms / t_dec_packed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_exporter_like_data_bytes_per_sample_and_speed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
