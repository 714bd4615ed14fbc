/* block: see block.h for the on-disk format, the durability and damage
 * contracts. blockidx.c builds, parses and queries the index.
 *
 * Sections: file helpers (ULIDs, whole-file writes with fsync, reads);
 * meta.json; the writer (spooling, placement into frames, the dictionary
 * trial, the chunks file, the atomic rename); the reader (open, frames,
 * block_read_chunks); quarantine. Compaction is in blockidx.c.
 *
 * Writer invariants: chunk bytes go to a spool file in the block's .tmp
 * directory as they arrive, so memory holds only keys and chunk metadata;
 * finish sorts the series by key and lays the chunk bytes out in that
 * order, whole series per frame. Nothing is visible under the final name
 * until every file of the block is on disk.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>
#include <zdict.h>
#include <zstd.h>

#include "aggregator/block_pvt.h"
#include "common/log.h"

#define BLOCK_META_MAX (1u << 20)
#define BLOCK_DICT_MIN_RAW (64u * 1024u)   /* smaller blocks get no dictionary */
#define BLOCK_DICT_SAMPLE_MAX (8u << 20)   /* training bytes */
#define BLOCK_TRIAL_FRAMES 32u
#define BLOCK_META_TRAILER 28u             /* ,"xxh3":"<16 hex>"}\n */

/* ---- file helpers ------------------------------------------------------ */

/* A 26-character ULID (48-bit ms time, 80 random bits, Crockford base32). */
static void block_ulid(char out[BLOCK_ULID_LEN + 1])
{
	static const char a[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	struct timespec ts;
	uint8_t r[10] = {0};
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t t = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		for (unsigned i = 0; i < sizeof(r); i++)
			r[i] = (uint8_t)(rand() ^ (int)ts.tv_nsec >> i);
	for (int i = 9; i >= 0; i--, t >>= 5)
		out[i] = a[t & 31];
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 5, v = (unsigned)(r[bit / 8] << 8 | (bit / 8 + 1 < 10 ? r[bit / 8 + 1] : 0));
		out[10 + i] = a[(v >> (11 - bit % 8)) & 31];
	}
	out[BLOCK_ULID_LEN] = 0;
}

static int block_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes dir/name with the given bytes and fsyncs it. Returns 0 or -errno. */
static int block_put_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error("block: open(%s) failed: %s", path, strerror(errno));
		return -errno;
	}
	int rc = block_write_all(fd, p, n);
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	if (rc)
		log_error("block: writing %s failed: %s", path, strerror(-rc));
	close(fd);
	return rc;
}

static int block_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

/* mkdir -p. Returns 0 or -errno. */
static int block_mkdirs(const char *dir)
{
	char p[4096];
	size_t n = strlen(dir);
	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != 0)
			continue;
		char c = p[i];
		p[i] = 0;
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -errno;
		p[i] = c;
	}
	return 0;
}

/* Reads dir/name whole (at most max bytes) into a malloc'd *out, NUL
 * appended. Returns 0, -errno, -EFBIG. */
static int block_get_file(const char *dir, const char *name, size_t max, uint8_t **out, size_t *len)
{
	char path[4096];
	struct stat st;
	int rc = 0;
	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	rc = -EFBIG;
	if ((uint64_t)st.st_size > max)
		goto out;
	rc = -ENOMEM;
	uint8_t *p = malloc((size_t)st.st_size + 1);
	if (!p)
		goto out;
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, p + got, (size_t)st.st_size - got, (off_t)got);
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			free(p);
			goto out;
		}
		got += (size_t)r;
	}
	p[got] = 0;
	*out = p;
	*len = got;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* ---- meta.json --------------------------------------------------------- */

static int block_meta_write(struct block_writer *w, const struct block_stats *st)
{
	cJSON *o = cJSON_CreateObject(), *c = cJSON_CreateObject();
	cJSON *src = cJSON_Parse(w->srcjson);
	char *txt = NULL;
	int rc = -ENOMEM;
	if (!o || !c || !src)
		goto out;
	cJSON_AddStringToObject(o, "format", "mcs-block");
	cJSON_AddNumberToObject(o, "version", BLOCK_VERSION);
	cJSON_AddStringToObject(o, "ulid", w->ulid);
	cJSON_AddStringToObject(o, "tier", w->tier);
	cJSON_AddNumberToObject(o, "min_time", (double)w->min_t);
	cJSON_AddNumberToObject(o, "max_time", (double)w->max_t);
	cJSON_AddNumberToObject(o, "series", (double)w->nseries);
	cJSON_AddNumberToObject(o, "chunks", (double)w->nchunks);
	cJSON_AddNumberToObject(o, "samples", (double)w->samples);
	cJSON_AddNumberToObject(o, "chunk_bytes", (double)st->chunk_bytes);
	cJSON_AddNumberToObject(o, "chunks_file_bytes", (double)st->chunks_file_bytes);
	cJSON_AddNumberToObject(o, "index_bytes", (double)st->index_bytes);
	cJSON_AddNumberToObject(o, "dict_bytes", (double)st->dict_bytes);
	cJSON_AddNumberToObject(o, "frames", st->frames);
	cJSON_AddNumberToObject(o, "overlapping_series", w->overlapping);
	cJSON_AddNumberToObject(c, "level", w->opts.level);
	cJSON_AddItemToObject(c, "sources", src);
	src = NULL;
	cJSON_AddItemToObject(o, "compaction", c);
	c = NULL;
	txt = cJSON_PrintUnformatted(o);
	if (!txt)
		goto out;
	size_t n = strlen(txt);
	if (n < 2 || txt[n - 1] != '}')
		goto out;
	char *file = malloc(n + BLOCK_META_TRAILER);
	if (!file)
		goto out;
	memcpy(file, txt, n - 1);
	snprintf(file + n - 1, BLOCK_META_TRAILER + 1, ",\"xxh3\":\"%016llx\"}\n",
		 (unsigned long long)XXH3_64bits(txt, n - 1));
	rc = block_put_file(w->tmp, "meta.json", file, n - 1 + BLOCK_META_TRAILER);
	free(file);
out:
	free(txt);
	cJSON_Delete(o);
	cJSON_Delete(c);
	cJSON_Delete(src);
	return rc;
}

static double block_json_num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Checks meta.json (trailer checksum, format, version, agreement with the
 * index) and fills the rest of b->meta. Returns 0, -EPROTO, -ENOMEM. */
static int block_meta_read(struct block *b)
{
	uint8_t *p;
	size_t n;
	cJSON *o = NULL;
	int rc = block_get_file(b->path, "meta.json", BLOCK_META_MAX, &p, &n);
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		return block_fail(b, -EPROTO, "meta.json: %s", strerror(-rc));
	char want[BLOCK_META_TRAILER + 1];
	rc = block_fail(b, -EPROTO, "meta.json: checksum mismatch");
	if (n < BLOCK_META_TRAILER + 2)
		goto out;
	snprintf(want, sizeof(want), ",\"xxh3\":\"%016llx\"}\n",
		 (unsigned long long)XXH3_64bits(p, n - BLOCK_META_TRAILER));
	if (memcmp(want, p + n - BLOCK_META_TRAILER, BLOCK_META_TRAILER) != 0)
		goto out;
	b->err[0] = 0;
	o = cJSON_ParseWithLength((const char *)p, n);
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
	const cJSON *tier = cJSON_GetObjectItemCaseSensitive(o, "tier");
	const cJSON *ulid = cJSON_GetObjectItemCaseSensitive(o, "ulid");
	const cJSON *comp = cJSON_GetObjectItemCaseSensitive(o, "compaction");
	rc = block_fail(b, -EPROTO, "meta.json: not a version %u block description", BLOCK_VERSION);
	if (!o || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "mcs-block") != 0 ||
	    block_json_num(o, "version") != BLOCK_VERSION || !cJSON_IsString(tier) ||
	    strlen(tier->valuestring) >= BLOCK_TIER_MAX || !cJSON_IsString(ulid) ||
	    strlen(ulid->valuestring) != BLOCK_ULID_LEN)
		goto out;
	b->err[0] = 0;
	rc = block_fail(b, -EPROTO, "meta.json: disagrees with the index");
	if (block_json_num(o, "series") != b->meta.series || block_json_num(o, "chunks") != b->meta.chunks ||
	    block_json_num(o, "samples") != (double)b->meta.samples ||
	    block_json_num(o, "min_time") != (double)b->meta.min_t ||
	    block_json_num(o, "max_time") != (double)b->meta.max_t)
		goto out;
	b->err[0] = 0;
	snprintf(b->meta.tier, sizeof(b->meta.tier), "%s", tier->valuestring);
	memcpy(b->meta.ulid, ulid->valuestring, BLOCK_ULID_LEN + 1);
	double lv = block_json_num(comp, "level"), ov = block_json_num(o, "overlapping_series");
	b->meta.level = lv > 0 ? (uint32_t)lv : 0;
	b->meta.overlapping_series = ov > 0 ? (uint32_t)ov : 0;
	rc = 0;
out:
	cJSON_Delete(o);
	free(p);
	return rc;
}

/* ---- writer ------------------------------------------------------------ */

/* Starts a block under directory parent (created if missing): a .tmp-<ulid>
 * directory and its spool file. opts may be NULL (defaults). Returns 0 with
 * *out owned by the caller until block_writer_finish/abort, -EINVAL for a
 * bad tier name, -ENOMEM, or -errno from mkdir/open. */
int block_writer_open(const char *parent, const struct block_opts *opts, struct block_writer **out)
{
	static const struct block_opts defaults = {0};
	struct block_writer *w;
	int rc = -ENOMEM;

	*out = NULL;
	opts = opts ? opts : &defaults;
	const char *tier = opts->tier ? opts->tier : "raw";
	if (!*tier || strlen(tier) >= BLOCK_TIER_MAX || strchr(tier, '/') || strchr(tier, '"'))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->opts = *opts;
	w->opts.sources = NULL;
	w->opts.zstd_level = opts->zstd_level ? opts->zstd_level : BLOCK_ZSTD_LEVEL_DEFAULT;
	w->opts.frame_bytes = opts->frame_bytes ? opts->frame_bytes : BLOCK_FRAME_BYTES_DEFAULT;
	snprintf(w->tier, sizeof(w->tier), "%s", tier);
	w->min_t = INT64_MAX;
	w->max_t = INT64_MIN;
	block_ulid(w->ulid);
	cJSON *src = cJSON_CreateArray();
	for (size_t i = 0; src && i < opts->nsources; i++)
		cJSON_AddItemToArray(src, cJSON_CreateString(opts->sources[i]));
	w->srcjson = src ? cJSON_PrintUnformatted(src) : NULL;
	cJSON_Delete(src);
	w->parent = strdup(parent);
	if (!w->srcjson || !w->parent || asprintf(&w->tmp, "%s/.tmp-%s", parent, w->ulid) < 0) {
		w->tmp = NULL;
		goto fail;
	}
	rc = block_mkdirs(w->tmp);
	if (rc) {
		log_error("block: mkdir(%s) failed: %s", w->tmp, strerror(-rc));
		goto fail;
	}
	char sp[4200];
	snprintf(sp, sizeof(sp), "%s/chunks.spool", w->tmp);
	w->spool = fopen(sp, "w+e");
	if (!w->spool) {
		rc = -errno;
		log_error("block: fopen(%s) failed: %s", sp, strerror(errno));
		goto fail;
	}
	*out = w;
	return 0;
fail:
	block_writer_abort(w);
	return rc;
}

/* Adds one series: key (series.h canonical bytes) and its n >= 1 chunks,
 * ordered by min_ts (overlaps allowed and counted). Any series order; a
 * key given twice makes finish fail. The chunk bytes are copied. Returns 0,
 * -EINVAL (bad key, chunk or order), -ENOMEM, -EIO/-errno from the spool. */
int block_writer_add_series(struct block_writer *w, const uint8_t *key, size_t key_len,
			    const struct block_chunk *chunks, size_t n)
{
	if (n == 0 || key_len > SERIES_KEY_MAX || series_key_validate(key, key_len) != 0)
		return -EINVAL;
	int overlap = 0;
	for (size_t i = 0; i < n; i++) {
		const struct block_chunk *c = &chunks[i];
		if (c->count == 0 || c->max_ts < c->min_ts || c->len == 0 || !c->data ||
		    (i && c->min_ts < chunks[i - 1].min_ts))
			return -EINVAL;
		overlap |= i && c->min_ts <= chunks[i - 1].max_ts;
	}
	if (w->nseries == w->scap) {
		size_t cap = w->scap ? 2 * w->scap : 1024;
		struct block_wseries *s = realloc(w->series, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		w->series = s;
		w->scap = cap;
	}
	if (w->nchunks + n > w->ccap) {
		size_t cap = w->ccap ? 2 * w->ccap : 1024;
		while (cap < w->nchunks + n)
			cap *= 2;
		struct block_wchunk *c = realloc(w->chunks, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		w->chunks = c;
		w->ccap = cap;
	}
	struct block_wseries *s = &w->series[w->nseries];
	s->key = malloc(key_len);
	if (!s->key)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (fwrite(chunks[i].data, 1, chunks[i].len, w->spool) != chunks[i].len) {
			free(s->key);
			return errno ? -errno : -EIO;
		}
	}
	memcpy(s->key, key, key_len);
	s->key_len = (uint32_t)key_len;
	s->nchunks = (uint32_t)n;
	s->first = w->nchunks;
	s->id = series_id(key, key_len);
	for (size_t i = 0; i < n; i++) {
		const struct block_chunk *c = &chunks[i];
		w->chunks[w->nchunks++] = (struct block_wchunk){
			.spool_off = w->spool_len, .len = c->len, .count = c->count,
			.min_ts = c->min_ts, .max_ts = c->max_ts};
		w->spool_len += c->len;
		w->samples += c->count;
		if (c->min_ts < w->min_t)
			w->min_t = c->min_ts;
		if (c->max_ts > w->max_t)
			w->max_t = c->max_ts;
	}
	w->overlapping += overlap;
	w->nseries++;
	return 0;
}

/* Drops an unfinished writer and its .tmp directory. Accepts NULL. */
void block_writer_abort(struct block_writer *w)
{
	if (!w)
		return;
	if (w->spool)
		fclose(w->spool);
	if (w->tmp) {
		static const char *const files[] = {"chunks.spool", "chunks", "index", "meta.json"};
		char p[4200];
		for (unsigned i = 0; i < 4; i++) {
			snprintf(p, sizeof(p), "%s/%s", w->tmp, files[i]);
			unlink(p);
		}
		rmdir(w->tmp);
	}
	for (size_t i = 0; i < w->nseries; i++)
		free(w->series[i].key);
	free(w->series);
	free(w->chunks);
	free(w->order);
	free(w->frames.p);
	free(w->srcjson);
	free(w->parent);
	free(w->tmp);
	free(w);
}

static int block_order_cmp(const void *a, const void *b, void *arg)
{
	const struct block_writer *w = arg;
	const struct block_wseries *x = &w->series[*(const uint32_t *)a];
	const struct block_wseries *y = &w->series[*(const uint32_t *)b];
	return block_cmp_bytes(x->key, x->key_len, y->key, y->key_len);
}

/* Copies the raw bytes of frame f (series order[first[f]..first[f+1])) from
 * the spool map into dst. Returns the length. */
static size_t block_frame_raw(const struct block_writer *w, const uint8_t *spool, const uint32_t *first,
			      uint32_t f, uint8_t *dst)
{
	size_t n = 0;
	for (uint32_t o = first[f]; o < first[f + 1]; o++) {
		const struct block_wseries *s = &w->series[w->order[o]];
		for (uint32_t c = 0; c < s->nchunks; c++) {
			const struct block_wchunk *ch = &w->chunks[s->first + c];
			memcpy(dst + n, spool + ch->spool_off, ch->len);
			n += ch->len;
		}
	}
	return n;
}

/* Trains a dictionary on the chunks and measures it on up to
 * BLOCK_TRIAL_FRAMES frames; leaves it in *dict (malloc'd) when the mode
 * says so or (auto) when it saves over 1% with its own size counted, as
 * extrapolated from the trial. Failure to train just means no dictionary. */
static int block_dict_pick(struct block_writer *w, const uint8_t *spool, const uint32_t *first,
			   uint32_t maxraw, ZSTD_CCtx *cctx, uint8_t **dict, size_t *dict_len,
			   struct block_stats *st)
{
	uint8_t *samp = NULL, *raw = NULL, *dst = NULL;
	size_t *sizes = NULL, nsamp = 0, sbytes = 0;
	ZSTD_CDict *cd = NULL;
	int rc = 0;

	*dict = NULL;
	*dict_len = 0;
	if (w->opts.dict == BLOCK_DICT_OFF ||
	    (w->opts.dict == BLOCK_DICT_AUTO && (w->spool_len < BLOCK_DICT_MIN_RAW || w->nchunks < 64)))
		return 0;
	uint64_t stride = w->spool_len / BLOCK_DICT_SAMPLE_MAX + 1;
	samp = malloc(w->spool_len < BLOCK_DICT_SAMPLE_MAX ? w->spool_len : BLOCK_DICT_SAMPLE_MAX);
	sizes = malloc((w->nchunks / stride + 1) * sizeof(*sizes));
	size_t cap = w->spool_len / 50;
	cap = cap < 4096 ? 4096 : cap > 65536 ? 65536 : cap;
	*dict = malloc(cap);
	raw = malloc(maxraw + 1);
	dst = malloc(ZSTD_compressBound(maxraw));
	rc = -ENOMEM;
	if (!samp || !sizes || !*dict || !raw || !dst)
		goto out;
	rc = 0;
	for (size_t i = 0; i < w->nchunks; i += stride) {
		const struct block_wchunk *c = &w->chunks[i];
		if (sbytes + c->len > BLOCK_DICT_SAMPLE_MAX)
			break;
		memcpy(samp + sbytes, spool + c->spool_off, c->len);
		sbytes += c->len;
		sizes[nsamp++] = c->len;
	}
	size_t dl = ZDICT_trainFromBuffer(*dict, cap, samp, sizes, (unsigned)nsamp);
	if (ZDICT_isError(dl))
		goto out;
	cd = ZSTD_createCDict(*dict, dl, w->opts.zstd_level);
	if (!cd)
		goto out;
	uint64_t trial_raw = 0, fstep = w->nframes / BLOCK_TRIAL_FRAMES + 1;
	for (uint32_t f = 0; f < w->nframes; f += (uint32_t)fstep) {
		size_t n = block_frame_raw(w, spool, first, f, raw);
		size_t a = ZSTD_compressCCtx(cctx, dst, ZSTD_compressBound(maxraw), raw, n, w->opts.zstd_level);
		size_t b = ZSTD_compress_usingCDict(cctx, dst, ZSTD_compressBound(maxraw), raw, n, cd);
		if (ZSTD_isError(a) || ZSTD_isError(b))
			goto out;
		trial_raw += n;
		st->trial_plain += a;
		st->trial_dict += b;
	}
	double scale = trial_raw ? (double)w->spool_len / (double)trial_raw : 1;
	if (w->opts.dict == BLOCK_DICT_FORCE ||
	    (double)st->trial_dict * scale + (double)dl < (double)st->trial_plain * scale * 0.99)
		*dict_len = dl;
out:
	if (!*dict_len) {
		free(*dict);
		*dict = NULL;
	}
	ZSTD_freeCDict(cd);
	free(samp);
	free(sizes);
	free(raw);
	free(dst);
	return rc;
}

/* Writes the chunks file: header, dictionary, frames; fills w->frames
 * (the FRAMES section) and st. Returns 0, -ENOMEM, -errno. */
static int block_write_chunks(struct block_writer *w, const uint8_t *spool, const uint32_t *first,
			      uint32_t maxraw, struct block_stats *st)
{
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	ZSTD_CDict *cd = NULL;
	uint8_t *dict = NULL, *raw = malloc(maxraw + 1), *dst = malloc(ZSTD_compressBound(maxraw) + 16);
	size_t dl = 0;
	char path[4200];
	int fd = -1, rc = -ENOMEM;

	if (!cctx || !raw || !dst)
		goto out;
	rc = block_dict_pick(w, spool, first, maxraw, cctx, &dict, &dl, st);
	if (rc)
		goto out;
	rc = -ENOMEM;
	if (dl && !(cd = ZSTD_createCDict(dict, dl, w->opts.zstd_level)))
		goto out;
	snprintf(path, sizeof(path), "%s/chunks", w->tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		log_error("block: open(%s) failed: %s", path, strerror(errno));
		goto out;
	}
	uint8_t hdr[BLOCK_CHK_HDR_LEN];
	uint64_t magic = BLOCK_CHK_MAGIC, off = BLOCK_CHK_HDR_LEN + dl, dh = dl ? XXH3_64bits(dict, dl) : 0;
	uint32_t ver = BLOCK_VERSION, flags = dl ? 1u : 0u;
	memcpy(hdr, &magic, 8);
	memcpy(hdr + 8, &ver, 4);
	memcpy(hdr + 12, &flags, 4);
	rc = block_write_all(fd, hdr, sizeof(hdr));
	if (!rc && dl)
		rc = block_write_all(fd, dict, dl);
	block_buf_u32(&w->frames, w->nframes);
	block_buf_u32(&w->frames, (uint32_t)dl);
	block_buf_u64(&w->frames, dl ? BLOCK_CHK_HDR_LEN : 0);
	block_buf_u64(&w->frames, dh);
	for (uint32_t f = 0; f < w->nframes && !rc; f++) {
		size_t n = block_frame_raw(w, spool, first, f, raw);
		size_t z = cd ? ZSTD_compress_usingCDict(cctx, dst + 16, ZSTD_compressBound(maxraw), raw, n, cd)
			      : ZSTD_compressCCtx(cctx, dst + 16, ZSTD_compressBound(maxraw), raw, n,
						  w->opts.zstd_level);
		if (ZSTD_isError(z)) {
			log_error("block: zstd compression failed: %s", ZSTD_getErrorName(z));
			rc = -EIO;
			break;
		}
		uint32_t cl = (uint32_t)z, rl = (uint32_t)n;
		uint64_t h = XXH3_64bits(dst + 16, z);
		memcpy(dst, &cl, 4);
		memcpy(dst + 4, &rl, 4);
		memcpy(dst + 8, &h, 8);
		rc = block_write_all(fd, dst, z + 16);
		block_buf_u64(&w->frames, off);
		block_buf_u32(&w->frames, cl);
		block_buf_u32(&w->frames, rl);
		block_buf_u64(&w->frames, h);
		off += 16 + z;
	}
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	if (!rc && w->frames.err)
		rc = w->frames.err;
	if (rc && rc != -ENOMEM)
		log_error("block: writing %s failed: %s", path, strerror(-rc));
	st->chunks_file_bytes = off;
	st->dict_bytes = dl;
out:
	if (fd >= 0)
		close(fd);
	ZSTD_freeCDict(cd);
	ZSTD_freeCCtx(cctx);
	free(dict);
	free(raw);
	free(dst);
	return rc;
}

/* Sorts and lays out the series, writes chunks, index and meta.json,
 * fsyncs them and renames the block into place as
 * <parent>/<min_t>-<max_t>-<ulid>, its path copied to path[cap] (may be
 * NULL) and figures to st (may be NULL). Always consumes w. Returns 0,
 * -ENODATA (no series), -EINVAL (a key given twice), -E2BIG, -ENOMEM,
 * -errno from the file system (the .tmp directory is removed). */
int block_writer_finish(struct block_writer *w, char *path, size_t cap, struct block_stats *st)
{
	struct block_stats stl = {0};
	struct block_buf idx = {0};
	uint8_t *spool = MAP_FAILED;
	uint32_t *first = NULL, maxraw = 0;
	char *final = NULL;
	int rc = -ENODATA;

	if (w->nseries == 0)
		goto out;
	rc = -E2BIG;
	if (w->nseries > UINT32_MAX / 2 || w->nchunks > UINT32_MAX / 2)
		goto out;
	rc = -ENOMEM;
	w->order = malloc(w->nseries * sizeof(*w->order));
	first = malloc((w->nseries + 1) * sizeof(*first));
	if (!w->order || !first)
		goto out;
	for (size_t i = 0; i < w->nseries; i++)
		w->order[i] = (uint32_t)i;
	qsort_r(w->order, w->nseries, sizeof(*w->order), block_order_cmp, w);
	rc = -EINVAL;
	for (size_t i = 1; i < w->nseries; i++)
		if (block_order_cmp(&w->order[i - 1], &w->order[i], w) == 0)
			goto out;
	/* Placement: whole series per frame, a frame closed at frame_bytes. */
	uint64_t fill = 0;
	rc = -E2BIG;
	for (size_t o = 0; o < w->nseries; o++) {
		if (o == 0 || fill >= w->opts.frame_bytes) {
			first[w->nframes++] = (uint32_t)o;
			fill = 0;
		}
		const struct block_wseries *s = &w->series[w->order[o]];
		for (uint32_t c = 0; c < s->nchunks; c++) {
			struct block_wchunk *ch = &w->chunks[s->first + c];
			ch->frame = w->nframes - 1;
			ch->off = (uint32_t)fill;
			fill += ch->len;
		}
		if (fill > (1u << 30))
			goto out;
		maxraw = fill > maxraw ? (uint32_t)fill : maxraw;
	}
	first[w->nframes] = (uint32_t)w->nseries;
	rc = fflush(w->spool) ? -errno : 0;
	if (rc)
		goto out;
	spool = mmap(NULL, w->spool_len, PROT_READ, MAP_PRIVATE, fileno(w->spool), 0);
	if (spool == MAP_FAILED) {
		rc = -errno;
		log_error("block: mmap of the spool in %s failed: %s", w->tmp, strerror(errno));
		goto out;
	}
	stl.chunk_bytes = w->spool_len;
	stl.frames = w->nframes;
	stl.overlapping_series = w->overlapping;
	rc = block_write_chunks(w, spool, first, maxraw, &stl);
	if (!rc)
		rc = block_idx_build(w, &idx);
	if (!rc)
		rc = block_put_file(w->tmp, "index", idx.p, idx.len);
	stl.index_bytes = idx.len;
	if (!rc)
		rc = block_meta_write(w, &stl);
	if (rc)
		goto out;
	munmap(spool, w->spool_len);
	spool = MAP_FAILED;
	fclose(w->spool);
	w->spool = NULL;
	char sp[4200];
	snprintf(sp, sizeof(sp), "%s/chunks.spool", w->tmp);
	unlink(sp);
	rc = -ENOMEM;
	if (asprintf(&final, "%s/%lld-%lld-%s", w->parent, (long long)w->min_t, (long long)w->max_t, w->ulid) < 0) {
		final = NULL;
		goto out;
	}
	if (block_fsync_dir(w->tmp) != 0 || rename(w->tmp, final) != 0) {
		rc = -errno;
		log_error("block: rename(%s, %s) failed: %s", w->tmp, final, strerror(errno));
		goto out;
	}
	free(w->tmp);
	w->tmp = NULL;
	block_fsync_dir(w->parent);
	if (path && cap)
		snprintf(path, cap, "%s", final);
	if (st)
		*st = stl;
	rc = 0;
out:
	if (spool != MAP_FAILED)
		munmap(spool, w->spool_len);
	free(idx.p);
	free(first);
	free(final);
	block_writer_abort(w);
	return rc;
}

/* ---- reader ------------------------------------------------------------ */

/* Frees b and everything it owns. Accepts NULL. */
void block_close(struct block *b)
{
	if (!b)
		return;
	if (b->chunks_fd >= 0)
		close(b->chunks_fd);
	ZSTD_freeDDict(b->ddict);
	ZSTD_freeDCtx(b->dctx);
	free(b->path);
	free(b->idx);
	free(b->syms);
	free(b->series_off);
	free(b->pairs);
	free(b->names);
	free(b->frames);
	free(b->zbuf);
	free(b->fbuf);
	free(b->crefs);
	free(b->cchunks);
	free(b);
}

static int block_pread(struct block *b, void *p, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(b->chunks_fd, (uint8_t *)p + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return block_fail(b, -errno, "chunks: pread failed: %s", strerror(errno));
		if (r == 0)
			return block_fail(b, -EPROTO, "chunks: truncated at %llu", (unsigned long long)(off + got));
		got += (size_t)r;
	}
	return 0;
}

/* Checks the chunks file header and size, loads the dictionary. */
static int block_chunks_open(struct block *b)
{
	char path[4200];
	struct stat st;
	uint8_t h[BLOCK_CHK_HDR_LEN];
	uint64_t magic;
	uint32_t ver, flags;
	int rc;

	snprintf(path, sizeof(path), "%s/chunks", b->path);
	b->chunks_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b->chunks_fd < 0 || fstat(b->chunks_fd, &st) != 0)
		return block_fail(b, -EPROTO, "chunks: %s", strerror(errno));
	uint64_t want = BLOCK_CHK_HDR_LEN + (uint64_t)b->dict_len;
	if (b->nframes)
		want = b->frames[b->nframes - 1].off + BLOCK_FRAME_HDR_LEN + b->frames[b->nframes - 1].clen;
	if ((uint64_t)st.st_size != want)
		return block_fail(b, -EPROTO, "chunks: %lld bytes, the index says %llu", (long long)st.st_size,
				  (unsigned long long)want);
	rc = block_pread(b, h, sizeof(h), 0);
	if (rc)
		return rc;
	memcpy(&magic, h, 8);
	memcpy(&ver, h + 8, 4);
	memcpy(&flags, h + 12, 4);
	if (magic != BLOCK_CHK_MAGIC || ver != BLOCK_VERSION || flags != (b->dict_len ? 1u : 0u))
		return block_fail(b, -EPROTO, "chunks: bad magic, version or flags");
	b->dctx = ZSTD_createDCtx();
	if (!b->dctx)
		return -ENOMEM;
	if (!b->dict_len)
		return 0;
	uint8_t *d = malloc(b->dict_len);
	if (!d)
		return -ENOMEM;
	rc = block_pread(b, d, b->dict_len, b->dict_off);
	if (!rc && XXH3_64bits(d, b->dict_len) != b->dict_hash)
		rc = block_fail(b, -EPROTO, "chunks: dictionary checksum mismatch");
	if (!rc && !(b->ddict = ZSTD_createDDict(d, b->dict_len)))
		rc = block_fail(b, -EPROTO, "chunks: dictionary rejected by zstd");
	free(d);
	return rc;
}

/* Makes frame f the cached one (b->fbuf), checking both its headers, its
 * checksum and its size. Returns 0, -EPROTO, -ENOMEM, -errno. */
int block_frame_load(struct block *b, uint32_t f)
{
	const struct block_frame *fr = &b->frames[f];
	if ((long)f == b->fcur)
		return 0;
	b->fcur = -1;
	if (fr->clen + BLOCK_FRAME_HDR_LEN > b->zcap) {
		uint8_t *p = realloc(b->zbuf, fr->clen + BLOCK_FRAME_HDR_LEN);
		if (!p)
			return -ENOMEM;
		b->zbuf = p;
		b->zcap = fr->clen + BLOCK_FRAME_HDR_LEN;
	}
	if (fr->rawlen + 1u > b->fcap) {
		uint8_t *p = realloc(b->fbuf, fr->rawlen + 1u);
		if (!p)
			return -ENOMEM;
		b->fbuf = p;
		b->fcap = fr->rawlen + 1u;
	}
	int rc = block_pread(b, b->zbuf, fr->clen + BLOCK_FRAME_HDR_LEN, fr->off);
	if (rc)
		return rc;
	uint32_t cl, rl;
	uint64_t h;
	memcpy(&cl, b->zbuf, 4);
	memcpy(&rl, b->zbuf + 4, 4);
	memcpy(&h, b->zbuf + 8, 8);
	const uint8_t *z = b->zbuf + BLOCK_FRAME_HDR_LEN;
	if (cl != fr->clen || rl != fr->rawlen || h != fr->hash || XXH3_64bits(z, cl) != h)
		return block_fail(b, -EPROTO, "chunks: frame %u at offset %llu checksum mismatch", f,
				  (unsigned long long)fr->off);
	size_t n = b->ddict ? ZSTD_decompress_usingDDict(b->dctx, b->fbuf, b->fcap, z, cl, b->ddict)
			    : ZSTD_decompressDCtx(b->dctx, b->fbuf, b->fcap, z, cl);
	if (ZSTD_isError(n) || n != rl)
		return block_fail(b, -EPROTO, "chunks: frame %u does not decompress to %u bytes", f, rl);
	b->fcur = (long)f;
	return 0;
}

/* Opens the block directory at path and checks it (see block.h; flags:
 * BLOCK_OPEN_VERIFY). Returns 0 with *out owned by the caller (free with
 * block_close), -EPROTO for a damaged block with the reason in err[errlen]
 * (the caller quarantines it), -ENOMEM. */
int block_open(const char *path, unsigned flags, struct block **out, char *err, size_t errlen)
{
	struct block *b = calloc(1, sizeof(*b));
	int rc = -ENOMEM;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (!b)
		return -ENOMEM;
	b->chunks_fd = -1;
	b->fcur = -1;
	b->path = strdup(path);
	if (!b->path)
		goto fail;
	rc = block_get_file(path, "index", UINT32_MAX, &b->idx, &b->idx_len);
	if (rc && rc != -ENOMEM)
		rc = block_fail(b, -EPROTO, "index: %s", strerror(-rc));
	if (!rc)
		rc = block_idx_parse(b, flags);
	if (!rc)
		rc = block_meta_read(b);
	if (!rc)
		rc = block_chunks_open(b);
	b->meta.frames = b->nframes;
	for (uint32_t f = 0; !rc && (flags & BLOCK_OPEN_VERIFY) && f < b->nframes; f++)
		rc = block_frame_load(b, f);
	if (rc)
		goto fail;
	*out = b;
	return 0;
fail:
	if (rc == -ENOMEM)
		block_fail(b, rc, "out of memory");
	if (err && errlen)
		snprintf(err, errlen, "%s", b->err);
	block_close(b);
	return rc;
}

/* The header values of an open block (owned by b). */
const struct block_meta *block_get_meta(const struct block *b)
{
	return &b->meta;
}

/* The reason of the last -EPROTO from this block, "" if none. */
const char *block_error(const struct block *b)
{
	return b->err;
}

/* Calls cb with every chunk of series ord whose [min_ts, max_ts] meets
 * [mint, maxt], in stored order, data pointing into the cached frame
 * (valid during the call). Returns 0, cb's non-zero value, -ERANGE (bad
 * ordinal), -EPROTO (damage: quarantine the block), -ENOMEM, -errno. */
int block_read_chunks(struct block *b, uint32_t ord, int64_t mint, int64_t maxt, block_chunk_cb cb, void *arg)
{
	size_t kl, nc;
	uint64_t id;
	int rc = block_idx_load(b, ord, &kl, &id, &nc);
	for (size_t i = 0; i < nc && !rc; i++) {
		struct block_cref *cr = &b->crefs[i];
		if (cr->c.max_ts < mint || cr->c.min_ts > maxt)
			continue;
		rc = block_frame_load(b, cr->frame);
		if (rc)
			break;
		if (cr->off > b->frames[cr->frame].rawlen || cr->c.len > b->frames[cr->frame].rawlen - cr->off)
			return block_fail(b, -EPROTO, "index: series %u chunk out of its frame", ord);
		struct block_chunk c = cr->c;
		c.data = b->fbuf + cr->off;
		rc = cb(arg, &c);
	}
	return rc;
}

/* ---- quarantine -------------------------------------------------------- */

/* Renames the damaged block at path to path.quarantine (or .quarantine.N
 * if taken) so nothing opens it again, logging the file and why. Returns 0
 * or -errno from rename. */
int block_quarantine(const char *path, const char *why)
{
	char to[4200];
	for (int i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(to, sizeof(to), "%s.quarantine", path);
		else
			snprintf(to, sizeof(to), "%s.quarantine.%d", path, i);
		if (access(to, F_OK) == 0)
			continue;
		if (rename(path, to) != 0) {
			int e = errno;
			log_error("block: quarantining %s (%s) failed: rename: %s", path, why ? why : "damaged",
				  strerror(e));
			return -e;
		}
		log_warn("block: %s is damaged (%s); quarantined as %s", path, why ? why : "unknown", to);
		return 0;
	}
	return -EEXIST;
}
