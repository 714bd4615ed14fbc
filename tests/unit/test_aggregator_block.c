/* test_aggregator_block: unit tests of aggregator/block (block files,
 * writer, reader, index lookups, quarantine, compaction).
 *
 * Series come from a seeded generator: a metric name plus a random subset
 * of label names, each with a value from a pool of its own cardinality;
 * keys are built with series_key_build. Chunk bytes are random strings, or,
 * for the size report, real chunks from the chunk codec over node_exporter
 * shaped data. Lookups are checked against a brute-force reference:
 * matcher_match_key over every generated series. Damage is a flipped byte
 * at every offset of every file of a small block.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aggregator/block.h"
#include "aggregator/chunk.h"
#include "common/matcher.h"
#include "common/records.h"
#include "common/series.h"

/* ---- fixtures ---- */

static char tdir[64];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static int setup(void **state)
{
	snprintf(tdir, sizeof(tdir), "/tmp/mcs-block-XXXXXX");
	assert_non_null(mkdtemp(tdir));
	return 0;
}

static int teardown(void **state)
{
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static uint64_t rng_s;

static uint64_t rnd(void)
{
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return rng_s;
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* ---- generated series ---- */

#define TMAXCH 6

struct tser {
	uint8_t key[512];
	size_t key_len;
	size_t nch;
	struct block_chunk ch[TMAXCH];
	uint8_t *bytes;   /* owned: every chunk's data, back to back */
};

struct tlabel {
	const char *name;
	unsigned card;    /* values: <name>-<0..card-1> */
	unsigned pct;     /* percent of series carrying it */
};

static const struct tlabel tlabels[] = {
	{"job", 4, 90}, {"instance", 300, 80}, {"mode", 8, 30}, {"cpu", 16, 25},
	{"device", 5, 20}, {"path", 10, 15}, {"le", 10, 10}, {"env", 3, 50}, {"zone", 2, 3},
};
#define TNLABELS (sizeof(tlabels) / sizeof(tlabels[0]))

static int tser_cmp(const void *a, const void *b)
{
	const struct tser *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
	return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Random label set into s->key. */
static void tser_key(struct tser *s)
{
	char name[32], vals[TNLABELS][32];
	struct series_label l[TNLABELS];
	size_t n = 0;
	snprintf(name, sizeof(name), "metric_%u", rn(12));
	for (unsigned i = 0; i < TNLABELS; i++) {
		if (rn(100) >= tlabels[i].pct)
			continue;
		snprintf(vals[n], sizeof(vals[n]), "%s-%u", tlabels[i].name, rn(tlabels[i].card));
		l[n] = (struct series_label){tlabels[i].name, strlen(tlabels[i].name), vals[n], strlen(vals[n])};
		n++;
	}
	int kl = series_key_build(s->key, sizeof(s->key), name, strlen(name), l, n);
	assert_true(kl > 0);
	s->key_len = (size_t)kl;
}

/* n distinct random series, sorted by key, each with 1..TMAXCH random
 * chunks in [t0, t0 + 7200000). */
static struct tser *tser_gen(size_t n, uint64_t seed, int64_t t0)
{
	struct tser *v = calloc(n * 2 + 16, sizeof(*v));
	size_t k = 0;
	rng_s = seed;
	assert_non_null(v);
	for (size_t i = 0; i < n * 2 + 16; i++)
		tser_key(&v[i]);
	qsort(v, n * 2 + 16, sizeof(*v), tser_cmp);
	for (size_t i = 0; i < n * 2 + 16 && k < n; i++)
		if (k == 0 || tser_cmp(&v[k - 1], &v[i]) != 0)
			v[k++] = v[i];
	assert_int_equal(k, n);
	for (size_t i = 0; i < n; i++) {
		struct tser *s = &v[i];
		s->nch = 1 + rn(TMAXCH);
		uint32_t lens[TMAXCH], tot = 0;
		for (size_t c = 0; c < s->nch; c++)
			tot += lens[c] = 1 + rn(200);
		s->bytes = malloc(tot);
		assert_non_null(s->bytes);
		for (uint32_t b = 0; b < tot; b++)
			s->bytes[b] = (uint8_t)(rn(4) ? rn(16) : rnd());
		int64_t t = t0 + rn(1000);
		for (size_t c = 0, off = 0; c < s->nch; off += lens[c], c++) {
			s->ch[c] = (struct block_chunk){s->bytes + off, lens[c], 1 + rn(240), t, t + rn(1200000)};
			t = s->ch[c].max_ts + 1 + rn(1000);
		}
	}
	return v;
}

static void tser_free(struct tser *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].bytes);
	free(v);
}

/* Writes v[0..n) (added in a shuffled order) as one block; returns its path. */
static void write_block(const struct tser *v, size_t n, const struct block_opts *o, char *path,
			struct block_stats *st)
{
	struct block_writer *w;
	size_t *perm = malloc(n * sizeof(*perm));
	assert_non_null(perm);
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = rn((unsigned)i), t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	char parent[128];
	snprintf(parent, sizeof(parent), "%s/shard-0/blocks/%s", tdir, o && o->tier ? o->tier : "raw");
	assert_int_equal(block_writer_open(parent, o, &w), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(block_writer_add_series(w, v[perm[i]].key, v[perm[i]].key_len, v[perm[i]].ch,
							 v[perm[i]].nch), 0);
	assert_int_equal(block_writer_finish(w, path, 512, st), 0);
	free(perm);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- collected results ---- */

struct got {
	uint32_t ords[20000];
	size_t n;
	const struct tser *ref;   /* when set, series and chunk metadata are checked */
	size_t nref;
};

static int got_series(void *arg, uint32_t ord, const uint8_t *key, size_t key_len, uint64_t id,
		      const struct block_chunk *ch, size_t n)
{
	struct got *g = arg;
	assert_true(g->n < 20000);
	g->ords[g->n++] = ord;
	assert_int_equal(id, series_id(key, key_len));
	if (g->ref) {
		assert_true(ord < g->nref);
		const struct tser *s = &g->ref[ord];
		assert_int_equal(key_len, s->key_len);
		assert_memory_equal(key, s->key, key_len);
		assert_int_equal(n, s->nch);
		for (size_t c = 0; c < n; c++) {
			assert_null(ch[c].data);
			assert_int_equal(ch[c].len, s->ch[c].len);
			assert_int_equal(ch[c].count, s->ch[c].count);
			assert_int_equal(ch[c].min_ts, s->ch[c].min_ts);
			assert_int_equal(ch[c].max_ts, s->ch[c].max_ts);
		}
	}
	return 0;
}

struct gotch {
	const struct tser *s;
	size_t i;
	int64_t mint, maxt;
};

static int got_chunk(void *arg, const struct block_chunk *c)
{
	struct gotch *g = arg;
	while (g->i < g->s->nch && (g->s->ch[g->i].max_ts < g->mint || g->s->ch[g->i].min_ts > g->maxt))
		g->i++;
	assert_true(g->i < g->s->nch);
	const struct block_chunk *w = &g->s->ch[g->i++];
	assert_int_equal(c->len, w->len);
	assert_int_equal(c->min_ts, w->min_ts);
	assert_int_equal(c->max_ts, w->max_ts);
	assert_int_equal(c->count, w->count);
	assert_memory_equal(c->data, w->data, w->len);
	return 0;
}

static int count_chunk(void *arg, const struct block_chunk *c)
{
	(*(size_t *)arg)++;
	return 0;
}

/* Every chunk of every series read back and compared. */
static void check_all_chunks(struct block *b, const struct tser *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct gotch g = {&v[i], 0, INT64_MIN, INT64_MAX};
		assert_int_equal(block_read_chunks(b, (uint32_t)i, INT64_MIN, INT64_MAX, got_chunk, &g), 0);
		assert_int_equal(g.i, v[i].nch);
	}
}

/* ---- round trip ---- */

static void test_round_trip_returns_every_series_and_chunk_byte_for_byte(void **state)
{
	const size_t n = 4000;
	struct tser *v = tser_gen(n, 0x5eed1, 1700000000000);
	char path[512], err[256];
	struct block_stats st;
	struct block *b;
	write_block(v, n, NULL, path, &st);
	double t0 = now_ms();
	assert_int_equal(block_open(path, 0, &b, err, sizeof(err)), 0);
	double t1 = now_ms();
	block_close(b);
	assert_int_equal(block_open(path, BLOCK_OPEN_VERIFY, &b, err, sizeof(err)), 0);
	print_message("open: %.2f ms, with BLOCK_OPEN_VERIFY %.2f ms\n", t1 - t0, now_ms() - t1);
	const struct block_meta *m = block_get_meta(b);
	assert_int_equal(m->series, n);
	assert_string_equal(m->tier, "raw");
	assert_int_equal(m->level, 0);
	uint64_t chunks = 0, samples = 0;
	int64_t mn = INT64_MAX, mx = INT64_MIN;
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < v[i].nch; c++, chunks++) {
			samples += v[i].ch[c].count;
			mn = v[i].ch[c].min_ts < mn ? v[i].ch[c].min_ts : mn;
			mx = v[i].ch[c].max_ts > mx ? v[i].ch[c].max_ts : mx;
		}
	assert_int_equal(m->chunks, chunks);
	assert_int_equal(m->samples, samples);
	assert_int_equal(m->min_t, mn);
	assert_int_equal(m->max_t, mx);
	static struct got g;
	g = (struct got){.ref = v, .nref = n};
	assert_int_equal(block_select(b, NULL, 0, got_series, &g), 0);
	assert_int_equal(g.n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(g.ords[i], i);
	check_all_chunks(b, v, n);
	/* backwards, so the frame cache misses on every series */
	for (size_t i = n; i-- > 0;) {
		struct gotch gc = {&v[i], 0, INT64_MIN, INT64_MAX};
		assert_int_equal(block_read_chunks(b, (uint32_t)i, INT64_MIN, INT64_MAX, got_chunk, &gc), 0);
	}
	size_t cnt = 0;
	assert_int_equal(block_read_chunks(b, (uint32_t)n, INT64_MIN, INT64_MAX, count_chunk, &cnt), -ERANGE);
	print_message("round trip: %zu series, %llu chunks, %llu chunk bytes -> chunks file %llu, index %llu, "
		      "%u frames, dict %llu\n", n, (unsigned long long)chunks, (unsigned long long)st.chunk_bytes,
		      (unsigned long long)st.chunks_file_bytes, (unsigned long long)st.index_bytes, st.frames,
		      (unsigned long long)st.dict_bytes);
	block_close(b);
	tser_free(v, n);
}

static void test_read_chunks_returns_only_chunks_meeting_the_time_range(void **state)
{
	const size_t n = 300;
	struct tser *v = tser_gen(n, 0x7133, 1000000);
	char path[512], err[256];
	struct block *b;
	write_block(v, n, NULL, path, NULL);
	assert_int_equal(block_open(path, 0, &b, err, sizeof(err)), 0);
	rng_s = 99;
	for (int k = 0; k < 2000; k++) {
		size_t i = rn((unsigned)n);
		int64_t a = 1000000 + rn(8000000), z = a + rn(3000000);
		size_t want = 0, cnt = 0;
		for (size_t c = 0; c < v[i].nch; c++)
			want += !(v[i].ch[c].max_ts < a || v[i].ch[c].min_ts > z);
		struct gotch g = {&v[i], 0, a, z};
		assert_int_equal(block_read_chunks(b, (uint32_t)i, a, z, got_chunk, &g), 0);
		assert_int_equal(block_read_chunks(b, (uint32_t)i, a, z, count_chunk, &cnt), 0);
		assert_int_equal(cnt, want);
	}
	block_close(b);
	tser_free(v, n);
}

/* ---- lookups against the brute-force reference ---- */

static const char *const tregex[] = {
	".*", ".+", "", "metric_1.*", "metric_(1|2|3)", "instance-1[0-9]*", "[a-z]+-[0-5]", "nomatch.*",
	"job-0|job-2", "(?i)MODE-.*", "env-.", "mode-[0-3]", ".*-1", "x|", "cpu-1.+",
};

static void rand_matcher(struct matcher *m)
{
	char name[32], val[64];
	unsigned li = rn(TNLABELS + 2);
	if (li == TNLABELS)
		snprintf(name, sizeof(name), "__name__");
	else if (li == TNLABELS + 1)
		snprintf(name, sizeof(name), "absent_label");
	else
		snprintf(name, sizeof(name), "%s", tlabels[li].name);
	int op = (int)rn(4);
	if (op == REC_M_RE || op == REC_M_NRE) {
		snprintf(val, sizeof(val), "%s", tregex[rn(sizeof(tregex) / sizeof(tregex[0]))]);
	} else {
		unsigned k = rn(10);
		if (k == 0)
			val[0] = 0;
		else if (k == 1)
			snprintf(val, sizeof(val), "nope");
		else if (li == TNLABELS || li == TNLABELS + 1)
			snprintf(val, sizeof(val), "metric_%u", rn(13));
		else
			snprintf(val, sizeof(val), "%s-%u", tlabels[li].name, rn(tlabels[li].card + 1));
	}
	char err[128];
	assert_int_equal(matcher_init(m, op, name, strlen(name), val, strlen(val), err, sizeof(err)), 0);
}

static void test_select_agrees_with_brute_force_reference_on_random_selectors(void **state)
{
	const size_t n = 5000;
	struct tser *v = tser_gen(n, 0xabcdef, 0);
	char path[512], err[256];
	struct block *b;
	static struct got g;
	write_block(v, n, NULL, path, NULL);
	assert_int_equal(block_open(path, 0, &b, err, sizeof(err)), 0);
	rng_s = 0x12345;
	size_t nonempty = 0, total = 0;
	double t0 = now_ms();
	for (int q = 0; q < 600; q++) {
		struct matcher m[4];
		size_t nm = 1 + rn(4);
		for (size_t i = 0; i < nm; i++)
			rand_matcher(&m[i]);
		g = (struct got){.ref = v, .nref = n};
		assert_int_equal(block_select(b, m, nm, got_series, &g), 0);
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (!matcher_match_key(m, nm, v[i].key, v[i].key_len))
				continue;
			assert_true(k < g.n);
			assert_int_equal(g.ords[k], i);
			k++;
		}
		assert_int_equal(k, g.n);
		nonempty += g.n > 0;
		total += g.n;
		for (size_t i = 0; i < nm; i++)
			matcher_free(&m[i]);
	}
	print_message("600 selectors: %zu non-empty, %zu series selected in all, %.1f ms with the reference\n",
		      nonempty, total, now_ms() - t0);
	assert_true(nonempty > 150);
	block_close(b);
	tser_free(v, n);
}

struct strs {
	char s[4096][40];
	size_t n;
};

static int got_str(void *arg, const char *s, size_t len)
{
	struct strs *o = arg;
	assert_true(o->n < 4096 && len < 40);
	memset(o->s[o->n], 0, sizeof(o->s[0]));
	memcpy(o->s[o->n], s, len);
	o->s[o->n++][len] = 0;
	return 0;
}

static int strs_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Reference: sorted distinct names (name == NULL) or values of `name`. */
static void ref_strs(const struct tser *v, size_t n, const struct matcher *m, size_t nm, const char *name,
		     struct strs *o)
{
	o->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (!matcher_match_key(m, nm, v[i].key, v[i].key_len))
			continue;
		struct series_key_iter it;
		struct series_label l;
		series_key_iter_init(&it, v[i].key, v[i].key_len);
		while (series_key_next(&it, &l) == 1) {
			if (name && (l.name_len != strlen(name) || memcmp(l.name, name, l.name_len)))
				continue;
			const char *s = name ? l.value : l.name;
			size_t sl = name ? l.value_len : l.name_len;
			size_t k;
			for (k = 0; k < o->n; k++)
				if (strlen(o->s[k]) == sl && memcmp(o->s[k], s, sl) == 0)
					break;
			if (k == o->n)
				got_str(o, s, sl);
		}
	}
	qsort(o->s, o->n, sizeof(o->s[0]), strs_cmp);
}

static void test_label_names_and_values_agree_with_reference(void **state)
{
	const size_t n = 2000;
	struct tser *v = tser_gen(n, 0x1abe1, 0);
	char path[512], err[256];
	struct block *b;
	static struct strs got, want;
	write_block(v, n, NULL, path, NULL);
	assert_int_equal(block_open(path, 0, &b, err, sizeof(err)), 0);
	got.n = 0;
	assert_int_equal(block_label_names(b, NULL, 0, got_str, &got), 0);
	ref_strs(v, n, NULL, 0, NULL, &want);
	assert_int_equal(got.n, want.n);
	assert_memory_equal(got.s, want.s, want.n * sizeof(want.s[0]));
	got.n = 0;
	assert_int_equal(block_label_values(b, "instance", 8, NULL, 0, got_str, &got), 0);
	ref_strs(v, n, NULL, 0, "instance", &want);
	assert_int_equal(got.n, want.n);
	assert_memory_equal(got.s, want.s, want.n * sizeof(want.s[0]));
	got.n = 0;
	assert_int_equal(block_label_values(b, "absent_label", 12, NULL, 0, got_str, &got), 0);
	assert_int_equal(got.n, 0);
	rng_s = 777;
	for (int q = 0; q < 200; q++) {
		struct matcher m[2];
		size_t nm = 1 + rn(2);
		for (size_t i = 0; i < nm; i++)
			rand_matcher(&m[i]);
		got.n = 0;
		assert_int_equal(block_label_names(b, m, nm, got_str, &got), 0);
		ref_strs(v, n, m, nm, NULL, &want);
		assert_int_equal(got.n, want.n);
		assert_memory_equal(got.s, want.s, want.n * sizeof(want.s[0]));
		const char *ln = q % 3 ? tlabels[rn(TNLABELS)].name : "__name__";
		got.n = 0;
		assert_int_equal(block_label_values(b, ln, strlen(ln), m, nm, got_str, &got), 0);
		ref_strs(v, n, m, nm, ln, &want);
		assert_int_equal(got.n, want.n);
		assert_memory_equal(got.s, want.s, want.n * sizeof(want.s[0]));
		for (size_t i = 0; i < nm; i++)
			matcher_free(&m[i]);
	}
	block_close(b);
	tser_free(v, n);
}

/* ---- writer contract ---- */

static void test_writer_rejects_bad_input_and_leaves_no_block(void **state)
{
	struct tser *v = tser_gen(3, 0xbad, 0);
	struct block_writer *w;
	char parent[128];
	snprintf(parent, sizeof(parent), "%s/p", tdir);
	assert_int_equal(block_writer_open(parent, NULL, &w), 0);
	uint8_t junk[4] = {9, 9, 9, 9};
	assert_int_equal(block_writer_add_series(w, junk, 4, v[0].ch, v[0].nch), -EINVAL);
	assert_int_equal(block_writer_add_series(w, v[0].key, v[0].key_len, v[0].ch, 0), -EINVAL);
	struct block_chunk bad[2] = {v[0].ch[0], v[0].ch[0]};
	bad[1].min_ts = bad[0].min_ts - 1;
	bad[1].max_ts = bad[0].max_ts;
	assert_int_equal(block_writer_add_series(w, v[0].key, v[0].key_len, bad, 2), -EINVAL);
	bad[0].count = 0;
	assert_int_equal(block_writer_add_series(w, v[0].key, v[0].key_len, bad, 1), -EINVAL);
	assert_int_equal(block_writer_add_series(w, v[0].key, v[0].key_len, v[0].ch, v[0].nch), 0);
	assert_int_equal(block_writer_add_series(w, v[0].key, v[0].key_len, v[0].ch, v[0].nch), 0);
	char path[512];
	assert_int_equal(block_writer_finish(w, path, sizeof(path), NULL), -EINVAL);
	assert_int_equal(block_writer_open(parent, NULL, &w), 0);
	assert_int_equal(block_writer_finish(w, path, sizeof(path), NULL), -ENODATA);
	assert_int_equal(block_writer_open(parent, NULL, &w), 0);
	block_writer_abort(w);
	struct block_opts o = {.tier = "a/b"};
	assert_int_equal(block_writer_open(parent, &o, &w), -EINVAL);
	assert_null(w);
	assert_int_equal(rmdir(parent), 0); /* empty: no .tmp left behind */
	tser_free(v, 3);
}

/* ---- damage ---- */

static void flip(const char *dir, const char *name, long off, uint8_t mask)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	int c = fgetc(f);
	assert_true(c != EOF);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	fputc(c ^ mask, f);
	fclose(f);
}

static long fsize(const char *dir, const char *name)
{
	char p[600];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(stat(p, &st), 0);
	return (long)st.st_size;
}

/* Opens and reads everything; returns 0 or the first error. */
static int open_and_read_all(const char *path, const struct tser *v, size_t n, char *err, size_t errlen)
{
	struct block *b;
	int rc = block_open(path, 0, &b, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		size_t cnt = 0;
		rc = block_read_chunks(b, (uint32_t)i, INT64_MIN, INT64_MAX, count_chunk, &cnt);
		if (rc)
			snprintf(err, errlen, "%s", block_error(b));
	}
	block_close(b);
	return rc;
}

static void test_flipped_byte_anywhere_in_any_file_is_reported_as_damage(void **state)
{
	const size_t n = 60;
	struct tser *v = tser_gen(n, 0xf11b, 5000);
	char path[512], err[256];
	struct block_opts o = {.frame_bytes = 2048, .dict = BLOCK_DICT_FORCE};
	struct block_stats st;
	write_block(v, n, &o, path, &st);
	assert_int_equal(open_and_read_all(path, v, n, err, sizeof(err)), 0);
	static const char *const files[] = {"index", "chunks", "meta.json"};
	size_t checked = 0;
	for (unsigned f = 0; f < 3; f++) {
		long size = fsize(path, files[f]);
		for (long off = 0; off < size; off++) {
			uint8_t mask = (uint8_t)(1u << (off % 8));
			flip(path, files[f], off, mask);
			int rc = open_and_read_all(path, v, n, err, sizeof(err));
			if (rc != -EPROTO)
				fail_msg("%s byte %ld flipped: rc %d, expected -EPROTO", files[f], off, rc);
			assert_true(err[0] != 0);
			flip(path, files[f], off, mask);
			checked++;
		}
	}
	assert_int_equal(open_and_read_all(path, v, n, err, sizeof(err)), 0);
	print_message("%zu single-byte flips, all -EPROTO (dict %llu bytes, %u frames)\n", checked,
		      (unsigned long long)st.dict_bytes, st.frames);
	/* truncation and a missing file */
	char p2[600];
	snprintf(p2, sizeof(p2), "%s/chunks", path);
	assert_int_equal(truncate(p2, fsize(path, "chunks") - 1), 0);
	assert_int_equal(open_and_read_all(path, v, n, err, sizeof(err)), -EPROTO);
	snprintf(p2, sizeof(p2), "%s/meta.json", path);
	assert_int_equal(unlink(p2), 0);
	assert_int_equal(open_and_read_all(path, v, n, err, sizeof(err)), -EPROTO);
	tser_free(v, n);
}

static void test_quarantine_renames_the_damaged_block_out_of_the_way(void **state)
{
	struct tser *v = tser_gen(20, 0x9a, 0);
	char path[512], path2[512], err[256], q[600];
	struct block *b;
	struct stat st;
	write_block(v, 20, NULL, path, NULL);
	flip(path, "index", 200, 0x10);
	assert_int_equal(block_open(path, 0, &b, err, sizeof(err)), -EPROTO);
	assert_null(b);
	assert_non_null(strstr(err, "index"));
	assert_int_equal(block_quarantine(path, err), 0);
	assert_int_not_equal(stat(path, &st), 0);
	snprintf(q, sizeof(q), "%s.quarantine", path);
	assert_int_equal(stat(q, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* a second damaged block of the same name does not overwrite the first */
	write_block(v, 20, NULL, path2, NULL);
	assert_int_equal(rename(path2, path), 0);
	assert_int_equal(block_quarantine(path, "test"), 0);
	snprintf(q, sizeof(q), "%s.quarantine.1", path);
	assert_int_equal(stat(q, &st), 0);
	tser_free(v, 20);
}

/* ---- compaction ---- */

struct dump {
	uint8_t *p;
	size_t len, cap;
	struct block *b;
};

static void dump_put(struct dump *d, const void *p, size_t n)
{
	if (d->len + n > d->cap) {
		d->cap = (d->len + n) * 2;
		d->p = realloc(d->p, d->cap);
		assert_non_null(d->p);
	}
	memcpy(d->p + d->len, p, n);
	d->len += n;
}

static int dump_chunk(void *arg, const struct block_chunk *c)
{
	struct dump *d = arg;
	dump_put(d, &c->min_ts, 8);
	dump_put(d, &c->max_ts, 8);
	dump_put(d, &c->count, 4);
	dump_put(d, c->data, c->len);
	return 0;
}

static int dump_series(void *arg, uint32_t ord, const uint8_t *key, size_t kl, uint64_t id,
		       const struct block_chunk *ch, size_t n)
{
	struct dump *d = arg;
	dump_put(d, key, kl);
	return block_read_chunks(d->b, ord, INT64_MIN, INT64_MAX, dump_chunk, d);
}

/* Everything a block answers, as one byte string. */
static void dump_block(const char *path, struct dump *d)
{
	char err[256];
	assert_int_equal(block_open(path, BLOCK_OPEN_VERIFY, &d->b, err, sizeof(err)), 0);
	assert_int_equal(block_select(d->b, NULL, 0, dump_series, d), 0);
	block_close(d->b);
}

static void test_compaction_of_three_blocks_equals_one_block_written_from_their_union(void **state)
{
	const size_t n = 1500;
	struct tser *part[3], *uni = calloc(n, sizeof(*uni));
	char paths[3][512], upath[512], cpath[512];
	const char *in[3] = {paths[0], paths[1], paths[2]};
	size_t np[3] = {0, 0, 0};
	assert_non_null(uni);
	for (int k = 0; k < 3; k++) {
		part[k] = tser_gen(n, 0xc0ffee, 10000000LL * k);  /* same keys, later times */
		/* each block keeps a random ~2/3 of the series */
		rng_s = 0x77 + (uint64_t)k;
		size_t j = 0;
		for (size_t i = 0; i < n; i++) {
			if (rn(3) == 0) {
				free(part[k][i].bytes);
				continue;
			}
			part[k][j++] = part[k][i];
		}
		np[k] = j;
		write_block(part[k], np[k], NULL, paths[k], NULL);
	}
	/* the union: per key, the chunks of blocks 0, 1, 2 in that order */
	static struct block_chunk uch[2000][3 * TMAXCH];
	static size_t unch[2000];
	size_t nu = 0, at[3] = {0, 0, 0};
	for (;;) {
		int best = -1;
		for (int k = 0; k < 3; k++)
			if (at[k] < np[k] && (best < 0 || tser_cmp(&part[k][at[k]], &part[best][at[best]]) < 0))
				best = k;
		if (best < 0)
			break;
		assert_true(nu < 2000);
		uni[nu] = part[best][at[best]];
		unch[nu] = 0;
		for (int k = 0; k < 3; k++)
			if (at[k] < np[k] && tser_cmp(&part[k][at[k]], &uni[nu]) == 0) {
				memcpy(uch[nu] + unch[nu], part[k][at[k]].ch, part[k][at[k]].nch * sizeof(uch[0][0]));
				unch[nu] += part[k][at[k]++].nch;
			}
		nu++;
	}
	char parent[128];
	struct block_writer *w;
	snprintf(parent, sizeof(parent), "%s/shard-0/blocks/raw", tdir);
	assert_int_equal(block_writer_open(parent, NULL, &w), 0);
	for (size_t i = 0; i < nu; i++)
		assert_int_equal(block_writer_add_series(w, uni[i].key, uni[i].key_len, uch[i], unch[i]), 0);
	assert_int_equal(block_writer_finish(w, upath, sizeof(upath), NULL), 0);

	struct block_stats st;
	assert_int_equal(block_compact(in, 3, parent, NULL, cpath, sizeof(cpath), &st), 0);
	struct dump du = {0}, dc = {0};
	dump_block(upath, &du);
	dump_block(cpath, &dc);
	assert_int_equal(du.len, dc.len);
	assert_memory_equal(du.p, dc.p, du.len);
	/* same layout too: the index files are identical */
	uint8_t *ia, *ib;
	char pa[600], pb[600];
	snprintf(pa, sizeof(pa), "%s/index", upath);
	snprintf(pb, sizeof(pb), "%s/index", cpath);
	FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
	long la = fsize(upath, "index"), lb = fsize(cpath, "index");
	assert_int_equal(la, lb);
	ia = malloc((size_t)la);
	ib = malloc((size_t)lb);
	assert_int_equal(fread(ia, 1, (size_t)la, fa), (size_t)la);
	assert_int_equal(fread(ib, 1, (size_t)lb, fb), (size_t)lb);
	assert_memory_equal(ia, ib, (size_t)la);
	fclose(fa);
	fclose(fb);
	free(ia);
	free(ib);
	struct block *b;
	char err[256];
	assert_int_equal(block_open(cpath, 0, &b, err, sizeof(err)), 0);
	assert_int_equal(block_get_meta(b)->level, 1);
	assert_int_equal(block_get_meta(b)->series, nu);
	assert_int_equal(block_get_meta(b)->overlapping_series, 0);
	block_close(b);
	/* compacting a compacted block with an input again: overlap is counted */
	const char *in2[2] = {cpath, paths[1]};
	char c2[512];
	assert_int_equal(block_compact(in2, 2, parent, NULL, c2, sizeof(c2), &st), 0);
	assert_int_equal(block_open(c2, BLOCK_OPEN_VERIFY, &b, err, sizeof(err)), 0);
	assert_int_equal(block_get_meta(b)->level, 2);
	assert_int_equal(block_get_meta(b)->overlapping_series, np[1]);
	block_close(b);
	/* a damaged input fails the compaction and is named */
	flip(paths[2], "index", 300, 1);
	assert_int_equal(block_compact(in, 3, parent, NULL, c2, sizeof(c2), &st), -EPROTO);
	free(du.p);
	free(dc.p);
	for (int k = 0; k < 3; k++)
		tser_free(part[k], np[k]);
	free(uni);
}

/* ---- sizes on realistic chunks ---- */

/* One node_exporter-like series of nsamp samples at 15 s, kind by index. */
static void gen_values(unsigned kind, size_t nsamp, int64_t *ts, double *val)
{
	double x = (double)rn(100000), g = 100 + rn(1000);
	int64_t t = 1700000000000 + rn(15000);
	for (size_t i = 0; i < nsamp; i++, t += 15000) {
		ts[i] = t + (rn(10) == 0 ? (int64_t)rn(5) : 0);
		switch (kind % 6) {
		case 0: /* cpu seconds counter, 2 decimals */
			x += (double)rn(1500) / 100.0;
			val[i] = round(x * 100) / 100;
			break;
		case 1: /* memory gauge, pages */
			if (rn(4) == 0)
				g += (double)((int)rn(200) - 100);
			val[i] = g * 4096;
			break;
		case 2: /* network bytes counter */
			x += rn(50000);
			val[i] = x;
			break;
		case 3: /* near-constant */
			val[i] = kind % 12 == 3 ? 1 : 1.0e11;
			break;
		case 4: /* load average */
			val[i] = (double)rn(400) / 100.0;
			break;
		default: /* filesystem avail, slow */
			if (rn(20) == 0)
				x -= rn(1 << 20);
			val[i] = 5.0e10 + x;
			break;
		}
	}
}

static void test_zstd_over_chunk_bytes_size_report(void **state)
{
	const size_t n = getenv("BLOCK_REPORT_SERIES") ? (size_t)atoi(getenv("BLOCK_REPORT_SERIES")) : 2000;
	const size_t nsamp = 720, per = 120;
	struct tser *v = tser_gen(n, 0xda7a, 0);
	int64_t ts[720];
	double val[720];
	uint64_t samples = 0;
	rng_s = 4242;
	for (size_t i = 0; i < n; i++) {
		free(v[i].bytes);
		gen_values(rn(1000), nsamp, ts, val);
		struct chunk c[TMAXCH];
		size_t tot = 0;
		for (size_t k = 0; k < nsamp / per; k++) {
			assert_int_equal(chunk_encode(&c[k], ts + k * per, val + k * per, per), 0);
			tot += c[k].bits / 8 + 8;
		}
		v[i].bytes = malloc(tot);
		v[i].nch = nsamp / per;
		size_t off = 0;
		for (size_t k = 0; k < v[i].nch; k++) {
			size_t len;
			const uint8_t *p = chunk_bytes(&c[k], &len);
			memcpy(v[i].bytes + off, p, len);
			v[i].ch[k] = (struct block_chunk){v[i].bytes + off, (uint32_t)len, (uint32_t)per,
							  ts[k * per], ts[k * per + per - 1]};
			off += len;
			chunk_destroy(&c[k]);
		}
		samples += nsamp;
	}
	static const uint32_t fb[] = {4096, 16384, 32768, 65536};
	static const char *const dn[] = {"auto", "off", "force"};
	for (unsigned f = 0; f < 4; f++)
		for (unsigned d = 0; d < 3; d++) {
			struct block_opts o = {.frame_bytes = fb[f], .dict = (int)d};
			struct block_stats st;
			char path[512];
			write_block(v, n, &o, path, &st);
			print_message("frames %5u B dict %-5s: chunk bytes %8llu (%.3f B/sample) -> chunks file %8llu "
				      "(%.3f of chunk bytes, dict %5llu, trial %llu vs %llu) + index %llu = %.3f "
				      "B/sample\n",
				      fb[f], dn[d], (unsigned long long)st.chunk_bytes,
				      (double)st.chunk_bytes / (double)samples,
				      (unsigned long long)st.chunks_file_bytes,
				      (double)st.chunks_file_bytes / (double)st.chunk_bytes,
				      (unsigned long long)st.dict_bytes, (unsigned long long)st.trial_dict,
				      (unsigned long long)st.trial_plain, (unsigned long long)st.index_bytes,
				      (double)(st.chunks_file_bytes + st.index_bytes) / (double)samples);
			assert_true(st.chunks_file_bytes < st.chunk_bytes + 64 + st.frames * 32u);
			if (d == BLOCK_DICT_OFF)
				assert_int_equal(st.dict_bytes, 0);
		}
	tser_free(v, n);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_round_trip_returns_every_series_and_chunk_byte_for_byte),
		T(test_read_chunks_returns_only_chunks_meeting_the_time_range),
		T(test_select_agrees_with_brute_force_reference_on_random_selectors),
		T(test_label_names_and_values_agree_with_reference),
		T(test_writer_rejects_bad_input_and_leaves_no_block),
		T(test_flipped_byte_anywhere_in_any_file_is_reported_as_damage),
		T(test_quarantine_renames_the_damaged_block_out_of_the_way),
		T(test_compaction_of_three_blocks_equals_one_block_written_from_their_union),
		T(test_zstd_over_chunk_bytes_size_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
