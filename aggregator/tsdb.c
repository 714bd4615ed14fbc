/* tsdb: see tsdb.h for the life of a sample, the duplicate rule and the
 * rollup layout.
 *
 * Sections: helpers (paths, file sizes, removal, the block list); open;
 * the merged reader (per block candidate lists, a k-way merge by key,
 * per series point merge); the maintenance entry points; status. The
 * writers (flush, compaction, downsampling, retention) are tsdbmaint.c,
 * which uses the internals declared in tsdb_pvt.h.
 *
 * Invariants: t->blocks holds exactly the blocks open and served, sorted by
 * (tier, min_t, max_t); a block is deleted from disk only after it left the
 * list, and only when the data it holds is elsewhere (a compacted block
 * that lists it as a source, or a coarser tier per tier_may_delete()).
 */
#include "aggregator/tsdb.h"
#include "aggregator/tsdb_pvt.h"
#include "aggregator/tsdbmaint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "aggregator/chunk.h"
#include "aggregator/rollup.h"
#include "common/log.h"
#include "common/series.h"
#include "shm/proc.h"

/* ---- helpers ------------------------------------------------------------ */

static int64_t tsdb_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int tsdb_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p) == 0 || errno == ENOENT ? 0 : -errno;
}

/* Removes the directory tree at path. Returns 0 or -errno. */
static int tsdb_rmtree(const char *path)
{
	int rc = nftw(path, tsdb_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (rc != 0 && errno != ENOENT)
		return rc < 0 ? rc : -EIO;
	return 0;
}

/* Sum of the sizes of the regular files directly in dir. */
static uint64_t tsdb_dir_bytes(const char *dir)
{
	char p[PATH_MAX + 300];
	uint64_t sum = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat sb;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
			sum += (uint64_t)sb.st_size;
	}
	closedir(d);
	return sum;
}

static int tsdb_blk_cmp(const void *a, const void *b)
{
	const struct tsdb_block *x = a, *y = b;
	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->min_t != y->min_t)
		return x->min_t < y->min_t ? -1 : 1;
	return (x->max_t > y->max_t) - (x->max_t < y->max_t);
}

/* Adds an open block to the list (takes b; path copied). Returns 0 or
 * -ENOMEM (b then closed). */
int tsdb_add_block(struct tsdb *t, struct block *b, const char *path, int tier)
{
	if (t->nblocks == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		struct tsdb_block *n = realloc(t->blocks, nc * sizeof(*n));
		if (!n) {
			block_close(b);
			return -ENOMEM;
		}
		t->blocks = n;
		t->cap = nc;
	}
	const struct block_meta *m = block_get_meta(b);
	struct tsdb_block *e = &t->blocks[t->nblocks];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	if (!e->path) {
		block_close(b);
		return -ENOMEM;
	}
	e->b = b;
	e->tier = tier;
	e->min_t = m->min_t;
	e->max_t = m->max_t;
	e->samples = m->samples;
	e->series = m->series;
	e->bytes = tsdb_dir_bytes(path);
	t->nblocks++;
	qsort(t->blocks, t->nblocks, sizeof(*t->blocks), tsdb_blk_cmp);
	return 0;
}

/* Takes block i out of the list; quarantines it (why != NULL) or deletes
 * its directory. */
void tsdb_drop_block(struct tsdb *t, size_t i, const char *why_in)
{
	struct tsdb_block e = t->blocks[i];
	char why_buf[256], *why = NULL;
	if (why_in) { /* may point into the block: copied before it closes */
		snprintf(why_buf, sizeof(why_buf), "%s", why_in);
		why = why_buf;
	}
	memmove(&t->blocks[i], &t->blocks[i + 1], (t->nblocks - i - 1) * sizeof(e));
	t->nblocks--;
	block_close(e.b);
	if (why) {
		block_quarantine(e.path, why);
		t->st.quarantined++;
	} else {
		int rc = tsdb_rmtree(e.path);
		if (rc)
			log_warn("tsdb: removing block %s failed: %s", e.path, strerror(-rc));
	}
	free(e.path);
}

/* Writes <dir>/blocks/<tier name> into buf. Returns 0, -EINVAL (no such
 * tier) or -ENAMETOOLONG. */
int tsdb_tier_dir(const struct tsdb *t, int tier, char *buf, size_t len)
{
	char name[BLOCK_TIER_MAX];
	if (tier_name(&t->tiers, tier, name, sizeof(name)) != 0)
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s/blocks/%s", t->dir, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Recomputes the rollup progress from the newest bucket end per tier. */
static void tsdb_progress_scan(struct tsdb *t)
{
	tier_progress_init(&t->prog);
	for (size_t i = 0; i < t->nblocks; i++) {
		int k = t->blocks[i].tier;
		if (k > 0 && (t->prog.rolled_until[k] == TIER_NEVER || t->blocks[i].max_t > t->prog.rolled_until[k]))
			t->prog.rolled_until[k] = t->blocks[i].max_t;
	}
}

/* The shard's clock for retention, rollups and tier choice: the wall
 * clock, but never past the newest sample in a block, so that an import of
 * old data is not deleted or rolled up on arrival; a shard whose data
 * stopped keeps its last window. Without blocks, the wall clock. */
int64_t tsdb_clock(const struct tsdb *t)
{
	int64_t wall = t->now_ms(), newest = INT64_MIN;
	for (size_t i = 0; i < t->nblocks; i++)
		if (t->blocks[i].max_t > newest)
			newest = t->blocks[i].max_t;
	return newest == INT64_MIN || newest > wall ? wall : newest;
}

/* ---- open --------------------------------------------------------------- */

/* Opens every block of one tier directory (see tsdb_open). */
static int tsdb_scan_tier(struct tsdb *t, int tier)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], err[256];
	int rc = tsdb_tier_dir(t, tier, dir, sizeof(dir));
	if (rc == 0)
		rc = proc_mkdirs(dir);
	if (rc != 0) {
		log_error("tsdb: block directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && strncmp(e->d_name, ".tmp-", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (strncmp(e->d_name, ".tmp-", 5) == 0) {
			log_info("tsdb: removing unfinished block %s", path);
			tsdb_rmtree(path);
			continue;
		}
		if (strstr(e->d_name, ".quarantine"))
			continue;
		struct block *b = NULL;
		err[0] = 0;
		int orc = block_open(path, 0, &b, err, sizeof(err));
		if (orc == -ENOMEM) {
			rc = orc;
			break;
		}
		if (orc == 0 && strcmp(block_get_meta(b)->tier, strrchr(dir, '/') + 1) != 0) {
			snprintf(err, sizeof(err), "block of tier %s in the %s directory", block_get_meta(b)->tier,
				 strrchr(dir, '/') + 1);
			block_close(b);
			orc = -EPROTO;
		}
		if (orc != 0) {
			log_warn("tsdb: block %s is damaged (%s): quarantined", path, err[0] ? err : strerror(-orc));
			block_quarantine(path, err[0] ? err : strerror(-orc));
			t->st.quarantined++;
			continue;
		}
		rc = tsdb_add_block(t, b, path, tier);
	}
	closedir(d);
	return rc;
}

/* Deletes the blocks that another block names as its compaction sources:
 * a compaction finished but its inputs were not deleted yet. */
static void tsdb_drop_sources(struct tsdb *t)
{
	char mp[PATH_MAX + 16];
	for (size_t i = 0; i < t->nblocks; i++) {
		snprintf(mp, sizeof(mp), "%s/meta.json", t->blocks[i].path);
		FILE *f = fopen(mp, "r");
		char buf[65536];
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = 0;
		cJSON *o = cJSON_Parse(buf);
		const cJSON *src = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(o, "compaction"), "sources");
		const cJSON *s;
		cJSON_ArrayForEach(s, src) {
			if (!cJSON_IsString(s))
				continue;
			for (size_t j = 0; j < t->nblocks; j++) {
				if (j == i || t->blocks[j].tier != t->blocks[i].tier ||
				    strcmp(block_get_meta(t->blocks[j].b)->ulid, s->valuestring) != 0)
					continue;
				log_info("tsdb: deleting %s, already merged into %s", t->blocks[j].path,
					 t->blocks[i].path);
				tsdb_drop_block(t, j, NULL);
				if (j < i)
					i--;
				break;
			}
		}
		cJSON_Delete(o);
	}
}

/* Opens the shard directory dir (created if missing): scans
 * blocks/<tier>/ of every tier of tc (NULL: tier_config_default()),
 * deleting .tmp-* leftovers, skipping *.quarantine*, quarantining damaged
 * blocks (logged) and deleting blocks already merged into another.
 * Returns 0, -EINVAL (bad config), -ENAMETOOLONG, -ENOMEM or -errno of the
 * directories; t must be passed to tsdb_close either way. */
int tsdb_open(struct tsdb *t, const char *dir, const struct tier_config *tc)
{
	int rc = 0;
	memset(t, 0, sizeof(*t));
	t->now_ms = tsdb_wall_ms;
	if (tc)
		t->tiers = *tc;
	else
		tier_config_default(&t->tiers);
	tier_progress_init(&t->prog);
	if (tier_config_validate(&t->tiers) != 0)
		return -EINVAL;
	if ((size_t)snprintf(t->dir, sizeof(t->dir), "%s", dir) >= sizeof(t->dir) - 64)
		return -ENAMETOOLONG;
	for (uint32_t k = 0; k < t->tiers.n && rc == 0; k++)
		rc = tsdb_scan_tier(t, (int)k);
	if (rc != 0)
		return rc;
	tsdb_drop_sources(t);
	tsdb_progress_scan(t);
	log_info("tsdb: %s: %zu block(s) open, %llu quarantined", dir, t->nblocks,
		 (unsigned long long)t->st.quarantined);
	return 0;
}

/* Closes every block and frees the list. Accepts a zeroed t. */
void tsdb_close(struct tsdb *t)
{
	for (size_t i = 0; t && i < t->nblocks; i++) {
		block_close(t->blocks[i].b);
		free(t->blocks[i].path);
	}
	if (t) {
		free(t->blocks);
		t->blocks = NULL;
		t->nblocks = t->cap = 0;
	}
}

/* Quarantines the blocks a read found damaged. */
void tsdb_reap_damaged(struct tsdb *t)
{
	for (size_t i = t->nblocks; i-- > 0;)
		if (t->blocks[i].damaged)
			tsdb_drop_block(t, i, block_error(t->blocks[i].b)[0] ? block_error(t->blocks[i].b)
									    : "damaged frame");
}

/* ---- the merged reader -------------------------------------------------- */

struct tsdb_cand {
	uint32_t ord;
	uint32_t key_off;         /* into the cursor's arena */
	uint16_t key_len;
	uint64_t id;
};

struct tsdb_cursor {
	struct tsdb_block *blk;
	struct tsdb_cand *c;
	size_t n, cap, pos;
	uint8_t *arena;
	size_t alen, acap;
	int64_t mint, maxt;
	int err;
};

struct tsdb_pt {
	int64_t ts;
	double v;
	uint32_t seq;
};

struct tsdb_reader {
	const struct tsdb_sink *sink; /* building a coarser rollup: buckets, not points */
	struct tsdb_pt *p;
	size_t n, cap;
	struct rec_point *out;
	size_t ocap;
	int64_t mint, maxt;
	int rollup;               /* pseudo-chunks hold rollup bytes */
	struct rollup_series rs;  /* scratch for decoding */
};

static int tsdb_cand_add(void *arg, uint32_t ord, const uint8_t *key, size_t key_len, uint64_t id,
			 const struct block_chunk *chunks, size_t n)
{
	struct tsdb_cursor *c = arg;
	size_t i;
	for (i = 0; i < n; i++)
		if (chunks[i].max_ts >= c->mint && chunks[i].min_ts <= c->maxt)
			break;
	if (i == n)
		return 0;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 256;
		struct tsdb_cand *nn = realloc(c->c, nc * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		c->c = nn;
		c->cap = nc;
	}
	if (c->alen + key_len > c->acap) {
		size_t nc = c->acap ? c->acap * 2 : 16384;
		while (nc < c->alen + key_len)
			nc *= 2;
		uint8_t *na = realloc(c->arena, nc);
		if (!na)
			return -ENOMEM;
		c->arena = na;
		c->acap = nc;
	}
	memcpy(c->arena + c->alen, key, key_len);
	c->c[c->n++] = (struct tsdb_cand){ord, (uint32_t)c->alen, (uint16_t)key_len, id};
	c->alen += key_len;
	return 0;
}

static int tsdb_cand_cmp(const void *a, const void *b)
{
	const struct tsdb_cand *x = a, *y = b;
	return (x->ord > y->ord) - (x->ord < y->ord);
}

/* Fills cursor c with the selected series of its block, in key order. */
static int tsdb_cursor_fill(struct tsdb_cursor *c, const struct tsdb_sel *sel)
{
	int rc = 0;
	if (!sel || sel->nsets == 0)
		return block_select(c->blk->b, NULL, 0, tsdb_cand_add, c);
	for (uint32_t s = 0; s < sel->nsets && rc == 0; s++)
		rc = block_select(c->blk->b, sel->m[s], sel->n[s], tsdb_cand_add, c);
	if (rc == 0 && sel->nsets > 1 && c->n) {
		qsort(c->c, c->n, sizeof(*c->c), tsdb_cand_cmp);
		size_t w = 1;
		for (size_t i = 1; i < c->n; i++)
			if (c->c[i].ord != c->c[w - 1].ord)
				c->c[w++] = c->c[i];
		c->n = w;
	}
	return rc;
}

static int tsdb_pt_push(struct tsdb_reader *r, int64_t ts, double v)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 1024;
		struct tsdb_pt *np = realloc(r->p, nc * sizeof(*np));
		if (!np)
			return -ENOMEM;
		r->p = np;
		r->cap = nc;
	}
	r->p[r->n] = (struct tsdb_pt){ts, v, (uint32_t)r->n};
	r->n++;
	return 0;
}

/* block_read_chunks callback: decodes one chunk into the reader. */
static int tsdb_read_chunk(void *arg, const struct block_chunk *c)
{
	struct tsdb_reader *r = arg;
	int rc;
	if (r->sink)
		return r->sink->chunk(r->sink->arg, c);
	if (r->rollup) {
		rollup_destroy(&r->rs);
		rc = rollup_decode(c->data, c->len, &r->rs);
		if (rc)
			return rc == -ENOMEM ? rc : -EPROTO;
		for (size_t i = 0; i < r->rs.n; i++) {
			const struct rollup_bucket *b = &r->rs.b[i];
			if (b->count && b->end_ts >= r->mint && b->end_ts <= r->maxt &&
			    (rc = tsdb_pt_push(r, b->end_ts, b->last)) != 0)
				return rc;
		}
		return 0;
	}
	struct chunk_iter it;
	int64_t ts;
	double v;
	if (chunk_iter_init(&it, c->data, c->len) != 0)
		return -EPROTO;
	rc = chunk_iter_seek(&it, r->mint, &ts, &v);
	while (rc == 1 && ts <= r->maxt) {
		if (tsdb_pt_push(r, ts, v) != 0)
			return -ENOMEM;
		rc = chunk_iter_next(&it, &ts, &v);
	}
	return rc < 0 ? -EPROTO : 0;
}

static int tsdb_pt_cmp(const void *a, const void *b)
{
	const struct tsdb_pt *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts the reader's points by time, the first pushed first on equal
 * timestamps, and keeps one per timestamp in r->out. Returns the count or
 * -ENOMEM. */
static long tsdb_pts_finish(struct tsdb_reader *r)
{
	if (r->n > r->ocap) {
		struct rec_point *no = realloc(r->out, r->n * sizeof(*no));
		if (!no)
			return -ENOMEM;
		r->out = no;
		r->ocap = r->n;
	}
	int sorted = 1;
	for (size_t i = 1; i < r->n && sorted; i++)
		sorted = r->p[i].ts > r->p[i - 1].ts;
	if (!sorted)
		qsort(r->p, r->n, sizeof(*r->p), tsdb_pt_cmp);
	size_t w = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (w && r->out[w - 1].ts_ms == r->p[i].ts)
			continue;
		r->out[w].ts_ms = r->p[i].ts;
		r->out[w++].value = r->p[i].v;
	}
	return (long)w;
}

/* Marks cursor c's block damaged after rc from one of its reads. */
static void tsdb_cursor_damage(struct tsdb_cursor *c, int rc)
{
	if (!c->blk->damaged)
		log_warn("tsdb: block %s: read failed (%s): %s; quarantining it, serving the rest",
			 c->blk->path, strerror(-rc), block_error(c->blk->b));
	c->blk->damaged = 1;
}

/* Calls cb for every series selected by sel in the blocks of tier with
 * data in [mint, maxt], in key order, points merged across blocks (see
 * tsdb.h for the duplicate rule; rollup tiers give the last value of each
 * bucket at its end). Blocks found damaged are skipped and marked, then
 * quarantined before returning. With sink (tsdb_pvt.h), each series'
 * chunks go to the sink instead and cb is not called. Returns 0, cb's or
 * the sink's non-zero value, -ENOMEM. */
int tsdb_select_x(struct tsdb *t, int tier, const struct tsdb_sel *sel, int64_t mint, int64_t maxt,
		  unsigned flags, tsdb_series_fn cb, void *arg, const struct tsdb_sink *sink)
{
	struct tsdb_cursor *cur = calloc(t->nblocks + 1, sizeof(*cur));
	struct tsdb_reader r = {.mint = mint, .maxt = maxt, .rollup = tier > 0, .sink = sink};
	size_t nc = 0;
	int rc = cur ? 0 : -ENOMEM;
	for (size_t i = 0; i < t->nblocks && rc == 0; i++) {
		struct tsdb_block *b = &t->blocks[i];
		if (b->tier != tier || b->damaged || b->max_t < mint || b->min_t > maxt)
			continue;
		cur[nc] = (struct tsdb_cursor){.blk = b, .mint = mint, .maxt = maxt};
		int frc = tsdb_cursor_fill(&cur[nc], sel);
		if (frc == -ENOMEM)
			rc = frc;
		else if (frc)
			tsdb_cursor_damage(&cur[nc], frc);
		nc++;
	}
	while (rc == 0) {
		struct tsdb_cursor *best = NULL;
		for (size_t i = 0; i < nc; i++) {
			struct tsdb_cursor *c = &cur[i];
			if (c->blk->damaged || c->pos >= c->n)
				continue;
			if (!best)
				best = c;
			else {
				const struct tsdb_cand *x = &c->c[c->pos], *y = &best->c[best->pos];
				size_t l = x->key_len < y->key_len ? x->key_len : y->key_len;
				int d = memcmp(c->arena + x->key_off, best->arena + y->key_off, l);
				if (d < 0 || (d == 0 && x->key_len < y->key_len))
					best = c;
			}
		}
		if (!best)
			break;
		const struct tsdb_cand bk = best->c[best->pos];
		const uint8_t *key = best->arena + bk.key_off;
		uint8_t keybuf[SERIES_KEY_MAX];
		memcpy(keybuf, key, bk.key_len);
		r.n = 0;
		if (sink)
			rc = sink->begin(sink->arg);
		for (size_t i = 0; i < nc && rc == 0; i++) {
			struct tsdb_cursor *c = &cur[i];
			if (c->blk->damaged || c->pos >= c->n || c->c[c->pos].key_len != bk.key_len ||
			    memcmp(c->arena + c->c[c->pos].key_off, keybuf, bk.key_len) != 0)
				continue;
			uint32_t ord = c->c[c->pos++].ord;
			if (flags & TSDB_SEL_KEYS)
				continue;
			int rrc = block_read_chunks(c->blk->b, ord, mint, maxt, tsdb_read_chunk, &r);
			if (rrc == -ENOMEM)
				rc = rrc;
			else if (rrc)
				tsdb_cursor_damage(c, rrc);
		}
		if (rc)
			break;
		if (flags & TSDB_SEL_KEYS) {
			rc = cb(arg, keybuf, bk.key_len, bk.id, NULL, 0);
			continue;
		}
		if (sink) {
			rc = sink->end(sink->arg, keybuf, bk.key_len);
			continue;
		}
		long n = tsdb_pts_finish(&r);
		if (n < 0)
			rc = (int)n;
		else if (n > 0)
			rc = cb(arg, keybuf, bk.key_len, bk.id, r.out, (size_t)n);
	}
	for (size_t i = 0; i < nc; i++) {
		free(cur[i].c);
		free(cur[i].arena);
	}
	free(cur);
	free(r.p);
	free(r.out);
	rollup_destroy(&r.rs);
	tsdb_reap_damaged(t);
	return rc;
}

int tsdb_select(struct tsdb *t, int tier, const struct tsdb_sel *sel, int64_t mint, int64_t maxt,
		unsigned flags, tsdb_series_fn cb, void *arg)
{
	return tsdb_select_x(t, tier, sel, mint, maxt, flags, cb, arg, NULL);
}

/* Calls cb with the label names (name == NULL) or the values of label
 * name of the series sel selects, from every block (any tier) overlapping
 * [mint, maxt]; per block sorted, across blocks not merged (the caller
 * sorts and makes them unique). Returns 0, cb's value, -ENOMEM. */
int tsdb_label_strings(struct tsdb *t, const struct tsdb_sel *sel, const char *name, size_t name_len,
		       int64_t mint, int64_t maxt, tsdb_str_fn cb, void *arg)
{
	int rc = 0;
	for (size_t i = 0; i < t->nblocks && rc == 0; i++) {
		struct tsdb_block *b = &t->blocks[i];
		if (b->damaged || b->max_t < mint || b->min_t > maxt)
			continue;
		uint32_t nsets = sel && sel->nsets ? sel->nsets : 1;
		for (uint32_t s = 0; s < nsets && rc == 0; s++) {
			const struct matcher *m = sel && sel->nsets ? sel->m[s] : NULL;
			size_t n = sel && sel->nsets ? sel->n[s] : 0;
			rc = name ? block_label_values(b->b, name, name_len, m, n, cb, arg)
				  : block_label_names(b->b, m, n, cb, arg);
			if (rc == -EPROTO) {
				log_warn("tsdb: block %s: label index damaged: %s", b->path, block_error(b->b));
				b->damaged = 1;
				rc = 0;
				break;
			}
		}
	}
	tsdb_reap_damaged(t);
	return rc;
}

/* Tier that answers a query of resolution step_ms over [start, end]:
 * tier_for_query(), raw when no single tier holds the range. */
int tsdb_query_tier(const struct tsdb *t, int64_t step_ms, int64_t start, int64_t end)
{
	if (start == INT64_MIN || start >= end)
		return 0;
	int k = tier_for_query(&t->tiers, &t->prog, step_ms < 0 ? 0 : step_ms, start - 1, end, tsdb_clock(t));
	return k > 0 ? k : 0;
}

/* ---- maintenance entry points --------------------------------------------
 * The public names of tsdb.h; tsdbmaint.c does the work. */

/* 1 when the head should be flushed (tsdbmaint_flush_due). */
int tsdb_flush_due(const struct tsdb *t, const struct store *s, int64_t now)
{
	return tsdbmaint_flush_due(t, s, now);
}

/* Writes the head as one raw block and empties it; see
 * tsdbmaint_flush_head for the returns and ownership. */
int tsdb_flush_head(struct tsdb *t, struct store *s, struct wal *w, struct tsdb_flush_result *r)
{
	return tsdbmaint_flush_head(t, s, w, r);
}

/* Merges the blocks of each compaction window (tsdbmaint_compact).
 * Returns 0 or the first -errno. */
int tsdb_compact(struct tsdb *t, int all, struct tsdb_flush_result *r)
{
	return tsdbmaint_compact(t, all, r);
}

/* Compaction, downsampling, retention, compaction again (tsdbmaint_run).
 * Returns 0 or the first -errno; every step runs regardless. */
int tsdb_maintain(struct tsdb *t, int all, struct tsdb_flush_result *r)
{
	return tsdbmaint_run(t, all, r);
}

/* ---- status -------------------------------------------------------------- */

/* Bytes on disk of the blocks of tier (0 = raw), as measured when each was
 * added; 0 for a tier that is not configured. */
uint64_t tsdb_tier_bytes(const struct tsdb *t, int tier)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < t->nblocks; i++)
		if (t->blocks[i].tier == tier)
			sum += t->blocks[i].bytes;
	return sum;
}

struct tsdb_cent {
	char *s;                  /* owned, NUL-terminated */
	uint64_t n;
};

/* A string -> count map (open addressing on XXH3). */
struct tsdb_cmap {
	struct tsdb_cent *e;
	size_t cap, n;
	int err;
};

static void tsdb_cmap_add(struct tsdb_cmap *m, const char *a, size_t al, const char *b, size_t bl)
{
	char buf[600];
	size_t len = 0;
	if (m->err)
		return;
	al = al > 250 ? 250 : al;
	memcpy(buf, a, al);
	len = al;
	if (b) {
		bl = bl > 250 ? 250 : bl;
		buf[len++] = '=';
		memcpy(buf + len, b, bl);
		len += bl;
	}
	buf[len] = 0;
	if ((m->n + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 1024;
		struct tsdb_cent *ne = calloc(nc, sizeof(*ne));
		if (!ne) {
			m->err = -ENOMEM;
			return;
		}
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->e[i].s)
				continue;
			size_t h = XXH3_64bits(m->e[i].s, strlen(m->e[i].s)) & (nc - 1);
			while (ne[h].s)
				h = (h + 1) & (nc - 1);
			ne[h] = m->e[i];
		}
		free(m->e);
		m->e = ne;
		m->cap = nc;
	}
	size_t h = XXH3_64bits(buf, len) & (m->cap - 1);
	for (; m->e[h].s; h = (h + 1) & (m->cap - 1))
		if (strcmp(m->e[h].s, buf) == 0) {
			m->e[h].n++;
			return;
		}
	if (!(m->e[h].s = strdup(buf))) {
		m->err = -ENOMEM;
		return;
	}
	m->e[h].n = 1;
	m->n++;
}

static void tsdb_cmap_free(struct tsdb_cmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->e[i].s);
	free(m->e);
}

static int tsdb_cent_cmp(const void *a, const void *b)
{
	const struct tsdb_cent *x = a, *y = b;
	if (!x->s || !y->s)
		return !x->s - !y->s;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->s, y->s);
}

/* Adds the top 10 of m as [["name", n], ...] to o under key (sorts m). */
static void tsdb_cmap_top(struct tsdb_cmap *m, cJSON *o, const char *key)
{
	cJSON *arr = cJSON_AddArrayToObject(o, key);
	if (m->cap)
		qsort(m->e, m->cap, sizeof(*m->e), tsdb_cent_cmp);
	for (size_t i = 0; i < m->cap && i < 10 && m->e[i].s; i++) {
		cJSON *p = cJSON_CreateArray();
		cJSON_AddItemToArray(p, cJSON_CreateString(m->e[i].s));
		cJSON_AddItemToArray(p, cJSON_CreateNumber((double)m->e[i].n));
		cJSON_AddItemToArray(arr, p);
	}
}

struct tsdb_status {
	struct tsdb_cmap keys;    /* distinct series, by two hashes of the key */
	struct tsdb_cmap metrics, pairs, names;
};

/* Counts one distinct series' labels. */
static void tsdb_status_series(struct tsdb_status *st, const uint8_t *key, size_t key_len)
{
	struct series_key_iter it;
	struct series_label l;
	series_key_iter_init(&it, key, key_len);
	while (series_key_next(&it, &l) == 1) {
		if (l.name_len == 8 && memcmp(l.name, "__name__", 8) == 0)
			tsdb_cmap_add(&st->metrics, l.value, l.value_len, NULL, 0);
		size_t before = st->pairs.n;
		tsdb_cmap_add(&st->pairs, l.name, l.name_len, l.value, l.value_len);
		if (st->pairs.n != before) /* a new name=value: one more value of name */
			tsdb_cmap_add(&st->names, l.name, l.name_len, NULL, 0);
	}
}

/* tsdb_select callback: counts a block series not seen in the head. */
static int tsdb_status_block_series(void *arg, const uint8_t *key, size_t key_len, uint64_t id,
				    const struct rec_point *pts, size_t n)
{
	struct tsdb_status *st = arg;
	char hex[48];
	/* Two independent 64-bit hashes stand for the key: a status count,
	 * not an identity. */
	int hl = snprintf(hex, sizeof(hex), "%016llx%016llx", (unsigned long long)id,
			  (unsigned long long)XXH3_64bits_withSeed(key, key_len, 0x6d6373));
	size_t before = st->keys.n;
	tsdb_cmap_add(&st->keys, hex, (size_t)hl, NULL, 0);
	if (st->keys.n != before)
		tsdb_status_series(st, key, key_len);
	return st->keys.err;
}

/* Builds the REC_Q_STATUS JSON object of this shard (records.h) into *out
 * (malloc'd, the caller frees; at most TSDB_STATUS_MAX bytes). Distinct
 * series are counted over the head and every block. Returns 0 or -ENOMEM. */
int tsdb_status_json(struct tsdb *t, const struct store *s, char **out)
{
	struct tsdb_status st = {0};
	cJSON *o = cJSON_CreateObject(), *tiers = NULL;
	uint64_t head_chunks = 0, head_bytes = 0, samples = s->samples;
	int64_t mint = INT64_MAX, maxt = INT64_MIN;
	char wal[PATH_MAX + 8];
	int rc = o ? 0 : -ENOMEM;
	*out = NULL;
	for (size_t i = 0; i < s->nseries && rc == 0; i++) {
		const struct store_series *se = &s->series[i];
		head_chunks += se->nclosed + (se->head.n ? 1 : 0);
		head_bytes += store_series_bytes(se) + se->key_len + sizeof(*se);
		if (se->n) {
			int64_t a = se->nclosed ? se->closed[0].min_ts : se->head.first_ts;
			int64_t b = se->head.n ? se->head.last_ts : se->closed[se->nclosed - 1].max_ts;
			if (se->nooo && se->ooo[0].ts_ms < a)
				a = se->ooo[0].ts_ms;
			if (se->nooo && se->ooo[se->nooo - 1].ts_ms > b)
				b = se->ooo[se->nooo - 1].ts_ms;
			mint = a < mint ? a : mint;
			maxt = b > maxt ? b : maxt;
		}
		rc = tsdb_status_block_series(&st, se->key, se->key_len, se->id, NULL, 0);
	}
	if (rc == 0)
		rc = tsdb_select(t, 0, NULL, INT64_MIN, INT64_MAX, TSDB_SEL_KEYS, tsdb_status_block_series, &st);
	for (uint32_t k = 1; k < t->tiers.n && rc == 0; k++)
		rc = tsdb_select(t, (int)k, NULL, INT64_MIN, INT64_MAX, TSDB_SEL_KEYS, tsdb_status_block_series,
				 &st);
	if (rc == 0)
		tiers = cJSON_CreateObject();
	for (uint32_t k = 0; k < t->tiers.n && tiers; k++) {
		char name[BLOCK_TIER_MAX];
		uint64_t nb = 0, bytes = 0, ns = 0;
		tier_name(&t->tiers, (int)k, name, sizeof(name));
		for (size_t i = 0; i < t->nblocks; i++) {
			const struct tsdb_block *b = &t->blocks[i];
			if (b->tier != (int)k)
				continue;
			nb++;
			bytes += b->bytes;
			ns += b->samples;
			if (k == 0) {
				samples += b->samples;
				mint = b->min_t < mint ? b->min_t : mint;
				maxt = b->max_t > maxt ? b->max_t : maxt;
			}
		}
		cJSON *to = cJSON_AddObjectToObject(tiers, name);
		cJSON_AddNumberToObject(to, "blocks", (double)nb);
		cJSON_AddNumberToObject(to, "bytes", (double)bytes);
		cJSON_AddNumberToObject(to, "samples", (double)ns);
	}
	if (rc == 0 && tiers) {
		snprintf(wal, sizeof(wal), "%s/wal", t->dir);
		cJSON_AddNumberToObject(o, "series", (double)st.keys.n);
		cJSON_AddNumberToObject(o, "samples", (double)samples);
		cJSON_AddNumberToObject(o, "head_series", (double)s->nseries);
		cJSON_AddNumberToObject(o, "head_samples", (double)s->samples);
		cJSON_AddNumberToObject(o, "head_chunks", (double)head_chunks);
		cJSON_AddNumberToObject(o, "head_bytes", (double)head_bytes);
		cJSON_AddNumberToObject(o, "min_time", mint == INT64_MAX ? 0 : (double)mint);
		cJSON_AddNumberToObject(o, "max_time", maxt == INT64_MIN ? 0 : (double)maxt);
		cJSON_AddNumberToObject(o, "wal_bytes", (double)tsdb_dir_bytes(wal));
		cJSON_AddItemToObject(o, "tiers", tiers);
		tiers = NULL;
		tsdb_cmap_top(&st.metrics, o, "top_metrics");
		tsdb_cmap_top(&st.names, o, "top_label_names");
		tsdb_cmap_top(&st.pairs, o, "top_label_pairs");
		*out = cJSON_PrintUnformatted(o);
		rc = *out ? 0 : -ENOMEM;
		if (*out && strlen(*out) > TSDB_STATUS_MAX) {
			free(*out);
			*out = NULL;
			rc = -E2BIG; /* cannot happen: names are cut to 250 bytes */
		}
	}
	if (rc == 0 && (st.keys.err || st.metrics.err || st.pairs.err || st.names.err))
		rc = -ENOMEM;
	cJSON_Delete(tiers);
	cJSON_Delete(o);
	tsdb_cmap_free(&st.keys);
	tsdb_cmap_free(&st.metrics);
	tsdb_cmap_free(&st.pairs);
	tsdb_cmap_free(&st.names);
	return rc;
}
