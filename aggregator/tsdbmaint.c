/* tsdbmaint: everything that changes a shard's block set after tsdb_open
 * (tsdb.h): writing the head as a raw block (flush), compaction of the
 * blocks of one window, downsampling into the rollup tiers and retention.
 *
 * Not here: opening the shard, the block list itself and the merged reader
 * (tsdb.c, whose internals this module uses through tsdb_pvt.h), the
 * status JSON (tsdb.c), the head (store.h), the WAL (wal.h).
 *
 * Invariants: the block list stays sorted and holds exactly the open
 * blocks (tsdb_add_block/tsdb_drop_block keep it so); a block leaves the
 * disk only after it left the list, and only when its data is elsewhere
 * (a compacted block listing it as a source, or a coarser tier per
 * tier_may_delete()). Rollup progress (t->prog) advances only after a
 * tier's block is written and open.
 *
 * Sections: flush; compaction; downsampling; retention.
 */
#include "aggregator/tsdbmaint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/chunk.h"
#include "aggregator/rollup.h"
#include "aggregator/tsdb_pvt.h"
#include "common/log.h"

/* ---- flush -------------------------------------------------------------- */

/* 1 when the head should be flushed: it holds a sample older than
 * TSDB_BLOCK_RANGE_MS at now. */
int tsdbmaint_flush_due(const struct tsdb *t, const struct store *s, int64_t now)
{
	if (!s->samples)
		return 0;
	for (size_t i = 0; i < s->nseries; i++) {
		const struct store_series *se = &s->series[i];
		if (!se->n)
			continue;
		int64_t m = se->nclosed ? se->closed[0].min_ts : se->head.n ? se->head.first_ts : INT64_MAX;
		if (se->nooo && se->ooo[0].ts_ms < m)
			m = se->ooo[0].ts_ms;
		if (m < now - TSDB_BLOCK_RANGE_MS)
			return 1;
	}
	return 0;
}

/* Frees every series' samples, keeping the entries (keys, routing). */
static void tsdbmaint_head_clear(struct store *s)
{
	for (size_t i = 0; i < s->nseries; i++) {
		struct store_series *se = &s->series[i];
		chunk_destroy(&se->head);
		chunk_init(&se->head);
		for (uint32_t c = 0; c < se->nclosed; c++)
			free(se->closed[c].buf);
		free(se->closed);
		free(se->ooo);
		se->closed = NULL;
		se->ooo = NULL;
		se->nclosed = se->closed_cap = se->nooo = se->ooo_cap = 0;
		se->n = 0;
	}
	s->samples = 0;
	s->chunk_bytes = 0;
}

/* Writes one series' points as chunks of up to TSDB_CHUNK_SAMPLES. */
static int tsdbmaint_write_series(struct block_writer *w, const struct store_series *se, const struct rec_point *p,
			     size_t n, int64_t *ts, double *v)
{
	size_t nch = (n + TSDB_CHUNK_SAMPLES - 1) / TSDB_CHUNK_SAMPLES;
	struct chunk *ch = calloc(nch, sizeof(*ch));
	struct block_chunk *bc = calloc(nch, sizeof(*bc));
	int rc = ch && bc ? 0 : -ENOMEM;
	size_t done = 0;
	for (size_t k = 0; k < nch && rc == 0; k++, done++) {
		size_t from = k * TSDB_CHUNK_SAMPLES, m = n - from < TSDB_CHUNK_SAMPLES ? n - from : TSDB_CHUNK_SAMPLES;
		for (size_t i = 0; i < m; i++) {
			ts[i] = p[from + i].ts_ms;
			v[i] = p[from + i].value;
		}
		rc = chunk_encode(&ch[k], ts, v, (uint32_t)m);
		if (rc)
			break;
		size_t len;
		bc[k].data = chunk_bytes(&ch[k], &len);
		bc[k].len = (uint32_t)len;
		bc[k].count = (uint32_t)m;
		bc[k].min_ts = ts[0];
		bc[k].max_ts = ts[m - 1];
	}
	if (rc == 0)
		rc = block_writer_add_series(w, se->key, se->key_len, bc, nch);
	for (size_t k = 0; ch && k < done; k++)
		chunk_destroy(&ch[k]);
	free(ch);
	free(bc);
	return rc;
}

/* Writes the head as one raw block and empties it (see tsdb.h for the
 * order of steps and what a crash leaves). w may be NULL (no WAL: tests).
 * r (may be NULL) receives what was written. Returns 0 (also with an empty
 * head: nothing written), the WAL's -errno (nothing changed), or a block
 * writer's -errno (the head and the WAL are kept; the caller may retry).
 * The store keeps ownership of its series. */
int tsdbmaint_flush_head(struct tsdb *t, struct store *s, struct wal *w, struct tsdb_flush_result *r)
{
	struct tsdb_flush_result local;
	struct block_writer *bw = NULL;
	struct block_opts o = {.tier = "raw"};
	struct block_stats bst;
	struct rec_point *pts = NULL;
	size_t cap = 0;
	int64_t *ts = malloc(TSDB_CHUNK_SAMPLES * sizeof(*ts));
	double *v = malloc(TSDB_CHUNK_SAMPLES * sizeof(*v));
	char dir[PATH_MAX], path[PATH_MAX + 300], err[256];
	uint64_t seg = 0;
	int rc = ts && v ? 0 : -ENOMEM;
	if (!r)
		r = &local;
	memset(r, 0, sizeof(*r));
	if (rc == 0 && w && ((rc = wal_flush(w)) != 0 || (rc = wal_rotate(w, &seg)) != 0)) {
		log_error("tsdb: WAL flush/rotate before a head flush failed: %s", strerror(-rc));
		goto out;
	}
	if (rc != 0 || s->samples == 0)
		goto out;
	if ((rc = tsdb_tier_dir(t, 0, dir, sizeof(dir))) != 0 || (rc = block_writer_open(dir, &o, &bw)) != 0) {
		log_error("tsdb: block_writer_open(%s) failed: %s", dir, strerror(-rc));
		goto out;
	}
	for (size_t i = 0; i < s->nseries && rc == 0; i++) {
		const struct store_series *se = &s->series[i];
		if (!se->n)
			continue;
		long n = store_read(se, INT64_MIN, INT64_MAX, &pts, &cap);
		if (n < 0) {
			rc = (int)n;
			log_error("tsdb: head series %zu unreadable: %s", i, strerror(-rc));
			break;
		}
		if (n == 0)
			continue;
		rc = tsdbmaint_write_series(bw, se, pts, (size_t)n, ts, v);
		r->series++;
		r->samples += (uint64_t)n;
	}
	if (rc == 0) {
		rc = block_writer_finish(bw, path, sizeof(path), &bst);
		bw = NULL;
	}
	if (rc != 0) {
		log_error("tsdb: writing the head as a block failed: %s", strerror(-rc));
		goto out;
	}
	struct block *b = NULL;
	if ((rc = block_open(path, 0, &b, err, sizeof(err))) != 0 || (rc = tsdb_add_block(t, b, path, 0)) != 0) {
		log_error("tsdb: new block %s cannot be opened: %s", path, rc == -EPROTO ? err : strerror(-rc));
		goto out;
	}
	r->blocks_written = 1;
	r->bytes = bst.chunks_file_bytes + bst.index_bytes;
	t->st.flushes++;
	tsdbmaint_head_clear(s);
	if (w && (rc = wal_checkpoint(w, seg)) != 0)
		log_warn("tsdb: deleting flushed WAL segments failed: %s (replay will re-read them)",
			 strerror(-rc));
	rc = 0;
	log_info("tsdb: head flushed to %s: %llu series, %llu samples, %llu bytes (%.3f bytes/sample)", path,
		 (unsigned long long)r->series, (unsigned long long)r->samples, (unsigned long long)r->bytes,
		 r->samples ? (double)r->bytes / (double)r->samples : 0.0);
out:
	block_writer_abort(bw);
	free(pts);
	free(ts);
	free(v);
	return rc;
}

/* ---- compaction --------------------------------------------------------- */

/* Window a tier's blocks are merged within: raw a day, rollups 30 days. */
static int64_t tsdbmaint_compact_window(int tier)
{
	return tier == 0 ? TIER_DAY_MS : 30 * TIER_DAY_MS;
}

static int64_t tsdbmaint_floor(int64_t x, int64_t w)
{
	int64_t q = x / w;
	if (x % w && x < 0)
		q--;
	return q * w;
}

/* Merges blocks [lo, hi) of t->blocks (one tier). Returns 0 or -errno. */
static int tsdbmaint_merge(struct tsdb *t, size_t lo, size_t hi, struct tsdb_flush_result *r)
{
	size_t n = hi - lo;
	const char **in = calloc(n, sizeof(*in));
	char **paths = calloc(n, sizeof(*paths));
	char dir[PATH_MAX], path[PATH_MAX + 300], err[256];
	struct block_stats bst;
	int tier = t->blocks[lo].tier, rc = in && paths ? 0 : -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		paths[i] = strdup(t->blocks[lo + i].path);
		in[i] = paths[i];
		rc = paths[i] ? 0 : -ENOMEM;
	}
	if (rc == 0)
		rc = tsdb_tier_dir(t, tier, dir, sizeof(dir));
	if (rc == 0)
		rc = block_compact(in, n, dir, NULL, path, sizeof(path), &bst);
	if (rc == -EPROTO) {
		/* block_compact logged which input; find it and quarantine. */
		for (size_t i = lo; i < hi; i++) {
			struct block *b = NULL;
			if (block_open(t->blocks[i].path, BLOCK_OPEN_VERIFY, &b, err, sizeof(err)) == -EPROTO)
				t->blocks[i].damaged = 1;
			block_close(b);
		}
		tsdb_reap_damaged(t);
	}
	if (rc != 0) {
		log_warn("tsdb: compaction of %zu blocks failed: %s", n, strerror(-rc));
		goto out;
	}
	struct block *b = NULL;
	if ((rc = block_open(path, 0, &b, err, sizeof(err))) != 0) {
		log_error("tsdb: compacted block %s cannot be opened: %s", path, err);
		goto out;
	}
	/* Inputs leave the list before the new block enters (sorting moves). */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < t->nblocks; j++)
			if (strcmp(t->blocks[j].path, paths[i]) == 0) {
				tsdb_drop_block(t, j, NULL);
				break;
			}
	rc = tsdb_add_block(t, b, path, tier);
	t->st.compactions++;
	if (r)
		r->compacted += (uint32_t)n;
	log_info("tsdb: compacted %zu blocks into %s (%llu bytes)", n, path,
		 (unsigned long long)(bst.chunks_file_bytes + bst.index_bytes));
out:
	for (size_t i = 0; paths && i < n; i++)
		free(paths[i]);
	free(paths);
	free(in);
	return rc;
}

/* Merges the blocks of each tier that lie in the same compaction window
 * (a UTC day for raw, 30 days for rollups). all = 0 merges a window only
 * once it is complete (ended a block range ago) or holds 6 blocks or more;
 * all = 1 merges every window with two blocks or more (REC_Q_FLUSH, so
 * that the settled size can be measured). Returns 0 or the first -errno. */
int tsdbmaint_compact(struct tsdb *t, int all, struct tsdb_flush_result *r)
{
	int first = 0;
	int64_t now = tsdb_clock(t);
	for (int again = 1; again;) {
		again = 0;
		for (size_t i = 0; i < t->nblocks && !again;) {
			int tier = t->blocks[i].tier;
			int64_t w = tsdbmaint_compact_window(tier), win = tsdbmaint_floor(t->blocks[i].min_t, w);
			size_t j = i;
			while (j < t->nblocks && t->blocks[j].tier == tier && tsdbmaint_floor(t->blocks[j].min_t, w) == win &&
			       tsdbmaint_floor(t->blocks[j].max_t, w) == win)
				j++;
			size_t n = j - i;
			int complete = win + w <= now - TSDB_BLOCK_RANGE_MS;
			if (n >= 2 && (all || complete || n >= 6)) {
				int rc = tsdbmaint_merge(t, i, j, r);
				if (rc && !first)
					first = rc;
				again = rc == 0; /* the list changed: rescan */
			}
			i = j > i ? j : i + 1;
		}
	}
	return first;
}

/* ---- downsampling -------------------------------------------------------- */

struct tsdbmaint_roll {
	struct tsdb *t;
	struct block_writer *w;
	struct rollup_series acc;    /* the target tier's buckets of one series */
	struct rollup_series piece;  /* a decoded source pseudo-chunk */
	struct rollup_series slice;
	int64_t from, to;
	int src_tier;
	uint32_t written;
	int64_t *ts;
	double *v;
	size_t cap;
};

static int tsdbmaint_roll_begin(void *arg)
{
	struct tsdbmaint_roll *ro = arg;
	rollup_reset(&ro->acc);
	return 0;
}

/* Folds the buckets (from, to] of one pseudo-chunk of the finer tier into
 * acc. A damaged or out-of-order piece is -EPROTO (the block is marked). */
static int tsdbmaint_roll_piece(void *arg, const struct block_chunk *c)
{
	struct tsdbmaint_roll *ro = arg;
	rollup_destroy(&ro->piece);
	int rc = rollup_decode(c->data, c->len, &ro->piece);
	if (rc)
		return rc == -ENOMEM ? rc : -EPROTO;
	rollup_destroy(&ro->slice);
	rc = rollup_slice(&ro->piece, ro->from == TIER_NEVER ? INT64_MIN : ro->from, ro->to, &ro->slice);
	if (rc == 0 && ro->slice.n)
		rc = rollup_add_rollup(&ro->acc, &ro->slice);
	if (rc == -ERANGE) {
		log_warn("tsdb: rollup pieces out of order; bucket data skipped");
		rc = 0;
	}
	return rc;
}

/* Adds acc as one series of the rollup block being written. */
static int tsdbmaint_roll_emit(void *arg, const uint8_t *key, size_t key_len)
{
	struct tsdbmaint_roll *ro = arg;
	uint8_t *bytes = NULL;
	size_t len = 0;
	if (ro->acc.n == 0)
		return 0;
	int rc = rollup_encode(&ro->acc, &bytes, &len);
	if (rc == -EINVAL)
		return 0; /* nothing encodable (no bucket): skip the series */
	if (rc == 0) {
		struct block_chunk c = {bytes, (uint32_t)len, (uint32_t)ro->acc.n, ro->acc.b[0].end_ts,
					ro->acc.b[ro->acc.n - 1].end_ts};
		rc = block_writer_add_series(ro->w, key, key_len, &c, 1);
		ro->written++;
	}
	free(bytes);
	return rc;
}

/* tsdb_select callback for the first rollup tier: raw points in (from, to]. */
static int tsdbmaint_roll_raw(void *arg, const uint8_t *key, size_t key_len, uint64_t id, const struct rec_point *p,
			 size_t n)
{
	struct tsdbmaint_roll *ro = arg;
	if (n > ro->cap) {
		int64_t *nt = realloc(ro->ts, n * sizeof(*nt));
		if (nt)
			ro->ts = nt;
		double *nv = nt ? realloc(ro->v, n * sizeof(*nv)) : NULL;
		if (nv)
			ro->v = nv;
		if (!nt || !nv)
			return -ENOMEM;
		ro->cap = n;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i].ts_ms <= ro->from || p[i].ts_ms > ro->to)
			continue;
		ro->ts[m] = p[i].ts_ms;
		ro->v[m++] = p[i].value;
	}
	rollup_reset(&ro->acc);
	int rc = rollup_add_raw(&ro->acc, ro->ts, ro->v, m);
	return rc ? rc : tsdbmaint_roll_emit(ro, key, key_len);
}

/* Builds the buckets (from, to] of rollup tier k from tier k - 1 into one
 * new block of tier k. Returns 0 or -errno. */
static int tsdbmaint_roll_tier(struct tsdb *t, int k, int64_t from, int64_t to, struct tsdb_flush_result *r)
{
	struct tsdbmaint_roll ro = {.t = t, .from = from, .to = to, .src_tier = k - 1};
	char dir[PATH_MAX], path[PATH_MAX + 300], name[BLOCK_TIER_MAX], err[256];
	struct block_opts o = {.tier = name};
	int rc = tier_name(&t->tiers, k, name, sizeof(name));
	if (rc == 0)
		rc = tsdb_tier_dir(t, k, dir, sizeof(dir));
	if (rc == 0)
		rc = rollup_init(&ro.acc, t->tiers.level[k].width_ms);
	if (rc == 0 && k > 1)
		rc = rollup_init(&ro.slice, t->tiers.level[k - 1].width_ms);
	if (rc == 0)
		rc = block_writer_open(dir, &o, &ro.w);
	if (rc != 0)
		goto out;
	int64_t lo = from == TIER_NEVER ? INT64_MIN : from + 1;
	if (k == 1) {
		rc = tsdb_select(t, 0, NULL, lo, to, 0, tsdbmaint_roll_raw, &ro);
	} else {
		/* From the finer rollup tier: its points are bucket ends; re-read
		 * the buckets themselves series by series. */
		const struct tsdb_sink sink = {&ro, tsdbmaint_roll_begin, tsdbmaint_roll_piece, tsdbmaint_roll_emit};
		rc = tsdb_select_x(t, k - 1, NULL, lo, to, 0, NULL, NULL, &sink);
	}
	if (rc == 0 && ro.written == 0) {
		block_writer_abort(ro.w);
		ro.w = NULL;
		goto out;
	}
	if (rc == 0) {
		rc = block_writer_finish(ro.w, path, sizeof(path), NULL);
		ro.w = NULL;
	}
	struct block *b = NULL;
	if (rc == 0 && (rc = block_open(path, 0, &b, err, sizeof(err))) == 0)
		rc = tsdb_add_block(t, b, path, k);
	if (rc == 0) {
		t->st.rollups++;
		if (r)
			r->rollup_blocks++;
		log_info("tsdb: rollup block %s: %u series, buckets (%lld, %lld]", path, ro.written, (long long)from,
			 (long long)to);
	}
out:
	block_writer_abort(ro.w);
	rollup_destroy(&ro.acc);
	rollup_destroy(&ro.piece);
	rollup_destroy(&ro.slice);
	free(ro.ts);
	free(ro.v);
	return rc;
}

/* Writes the rollup buckets that are final (tsdb.h) for every rollup tier,
 * finer tiers first, and advances t->prog. Returns 0 or the first -errno
 * (that tier stays where it was; the next call tries again). */
int tsdbmaint_downsample(struct tsdb *t, struct tsdb_flush_result *r)
{
	int64_t now = tsdb_clock(t), newest = INT64_MIN;
	for (size_t i = 0; i < t->nblocks; i++)
		if (t->blocks[i].tier == 0 && t->blocks[i].max_t > newest)
			newest = t->blocks[i].max_t;
	int64_t floor = tier_oldest(&t->tiers, 0, now);
	floor = floor < INT64_MAX - 1 ? floor + 1 : floor;
	if (newest != INT64_MIN && newest + 1 - TSDB_OOO_GRACE_MS > floor)
		floor = newest + 1 - TSDB_OOO_GRACE_MS;
	for (uint32_t k = 1; k < t->tiers.n; k++) {
		int64_t from, to;
		if (tier_rollup_ready(&t->tiers, &t->prog, (int)k, floor, &from, &to) != 1)
			continue;
		if (k == 1 && newest == INT64_MIN)
			continue; /* no raw data at all: nothing to roll, keep waiting */
		int rc = tsdbmaint_roll_tier(t, (int)k, from, to, r);
		if (rc) {
			log_warn("tsdb: rollup of tier %u failed: %s", k, strerror(-rc));
			return rc;
		}
		t->prog.rolled_until[k] = to;
	}
	return 0;
}

/* Deletes every block tier_may_delete() allows at now. Returns 0. */
int tsdbmaint_retain(struct tsdb *t, struct tsdb_flush_result *r)
{
	int64_t now = tsdb_clock(t);
	for (size_t i = t->nblocks; i-- > 0;) {
		struct tsdb_block *b = &t->blocks[i];
		if (!tier_may_delete(&t->tiers, &t->prog, b->tier, b->max_t, now))
			continue;
		log_info("tsdb: retention deletes %s (newest %lld)", b->path, (long long)b->max_t);
		tsdb_drop_block(t, i, NULL);
		t->st.deleted++;
		if (r)
			r->deleted++;
	}
	return 0;
}

/* Compaction, downsampling, retention, and compaction again for the
 * rollup blocks just written (all: see tsdbmaint_compact). Returns 0 or the
 * first -errno; every step runs regardless. */
int tsdbmaint_run(struct tsdb *t, int all, struct tsdb_flush_result *r)
{
	int rc = tsdbmaint_compact(t, all, r);
	int r2 = tsdbmaint_downsample(t, r);
	int r3 = tsdbmaint_retain(t, r);
	int r4 = tsdbmaint_compact(t, all, r);
	return rc ? rc : r2 ? r2 : r3 ? r3 : r4;
}
