/* block_pvt: internals shared by block.c (files, writer, reader,
 * compaction) and blockidx.c (index build, parse, lookups). Not an API.
 */
#ifndef MCS_BLOCK_PVT_H
#define MCS_BLOCK_PVT_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/block.h"
#include "common/series.h"

#define BLOCK_IDX_MAGIC 0x696b6c622d73636dull /* "mcs-blki" as a LE u64 */
#define BLOCK_CHK_MAGIC 0x636b6c622d73636dull /* "mcs-blkc" */
#define BLOCK_NSECT 4u
#define BLOCK_HDR_LEN 152u                    /* index header, hash included */
#define BLOCK_CHK_HDR_LEN 16u
#define BLOCK_FRAME_HDR_LEN 16u
#define BLOCK_FRAMES_HDR_LEN 24u              /* FRAMES: n, dict len/off/hash */
#define BLOCK_FRAME_ENT_LEN 24u
#define BLOCK_IDX_ZSTD_LEVEL 9                /* index sections: small, read whole */

enum block_sect { BLOCK_S_SYMBOLS = 0, BLOCK_S_SERIES, BLOCK_S_POSTINGS, BLOCK_S_FRAMES };

/* Growable output buffer; a failed growth sticks in err. */
struct block_buf {
	uint8_t *p;
	size_t len, cap;
	int err;                    /* 0 or -ENOMEM */
};

/* Bounded input cursor; a read past end sticks in err. */
struct block_rd {
	const uint8_t *p, *end;
	int err;                    /* 0 or -EPROTO */
};

/* Writer's record of one series and one chunk. */
struct block_wseries {
	uint8_t *key;               /* owned */
	uint32_t key_len;
	uint32_t nchunks;
	size_t first;               /* index of its first chunk in w->chunks */
	uint64_t id;
};

struct block_wchunk {
	uint64_t spool_off;         /* where its bytes are in the spool file */
	uint32_t len, count;
	int64_t min_ts, max_ts;
	uint32_t frame, off;        /* placement, set by finish */
};

struct block_writer {
	char *parent, *tmp;         /* owned paths */
	char ulid[BLOCK_ULID_LEN + 1];
	char tier[BLOCK_TIER_MAX];
	struct block_opts opts;     /* sources not kept: copied to srcjson */
	char *srcjson;              /* owned: sources as a JSON array */
	FILE *spool;                /* raw chunk bytes in arrival order */
	uint64_t spool_len;
	struct block_wseries *series;
	size_t nseries, scap;
	struct block_wchunk *chunks;
	size_t nchunks, ccap;
	uint32_t *order;            /* series indexes in key order (finish) */
	int64_t min_t, max_t;
	uint64_t samples;
	uint32_t overlapping;
	uint32_t nframes;
	struct block_buf frames;    /* the FRAMES section, built by finish */
};

struct block_sym {
	uint32_t off, len;          /* into b->idx */
};

struct block_pair {
	uint32_t name, value, count;
	uint32_t off;               /* first ordinal gap, into b->idx */
};

struct block_name {
	uint32_t sym, first, n;     /* pairs [first, first + n) */
};

struct block_frame {
	uint64_t off, hash;
	uint32_t clen, rawlen;
};

/* A decoded chunk ref. */
struct block_cref {
	struct block_chunk c;
	uint32_t frame, off;
};

struct block {
	char *path;                 /* owned */
	uint8_t *idx;               /* the whole index file, owned */
	size_t idx_len;
	int chunks_fd;
	struct block_meta meta;
	uint32_t nsyms, nseries, npairs, nnames, nframes;
	struct block_sym *syms;
	uint32_t *series_off;       /* into b->idx, per ordinal */
	struct block_pair *pairs;
	struct block_name *names;
	struct block_frame *frames;
	uint64_t dict_off, dict_hash;
	uint32_t dict_len;
	void *ddict;                /* ZSTD_DDict *, owned */
	void *dctx;                 /* ZSTD_DCtx *, owned */
	uint8_t *zbuf, *fbuf;       /* compressed read / cached raw frame */
	size_t zcap, fcap;
	long fcur;                  /* frame held in fbuf, -1 = none */
	struct block_cref *crefs;   /* scratch for one series' chunks */
	struct block_chunk *cchunks;
	size_t ccap;
	uint8_t key[SERIES_KEY_MAX];
	char err[256];
};

static inline void block_buf_reserve(struct block_buf *b, size_t n)
{
	if (b->err || b->len + n <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p) {
		b->err = -ENOMEM;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static inline void block_buf_put(struct block_buf *b, const void *src, size_t n)
{
	block_buf_reserve(b, n);
	if (b->err)
		return;
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static inline void block_buf_u32(struct block_buf *b, uint32_t v)
{
	block_buf_put(b, &v, 4);
}

static inline void block_buf_u64(struct block_buf *b, uint64_t v)
{
	block_buf_put(b, &v, 8);
}

static inline void block_buf_uv(struct block_buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	do {
		t[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			t[n] |= 0x80;
		n++;
	} while (v);
	block_buf_put(b, t, n);
}

static inline uint64_t block_rd_uv(struct block_rd *r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->err = -EPROTO;
			return 0;
		}
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->err = -EPROTO;
	return 0;
}

static inline uint32_t block_rd_uv32(struct block_rd *r)
{
	uint64_t v = block_rd_uv(r);
	if (v > UINT32_MAX)
		r->err = -EPROTO;
	return (uint32_t)v;
}

static inline uint64_t block_rd_u64(struct block_rd *r)
{
	uint64_t v = 0;
	if (r->end - r->p < 8) {
		r->err = -EPROTO;
		return 0;
	}
	memcpy(&v, r->p, 8);
	r->p += 8;
	return v;
}

static inline uint32_t block_rd_u32(struct block_rd *r)
{
	uint32_t v = 0;
	if (r->end - r->p < 4) {
		r->err = -EPROTO;
		return 0;
	}
	memcpy(&v, r->p, 4);
	r->p += 4;
	return v;
}

static inline uint64_t block_zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t block_unzz(uint64_t z)
{
	return (int64_t)((z >> 1) ^ (0 - (z & 1)));
}

/* Bytewise order of two strings, a shorter prefix first. */
static inline int block_cmp_bytes(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* block.c */
int block_frame_load(struct block *b, uint32_t f);

/* blockidx.c */
int block_idx_build(struct block_writer *w, struct block_buf *out);
int block_idx_parse(struct block *b, unsigned flags);
int block_idx_load(struct block *b, uint32_t ord, size_t *key_len, uint64_t *id, size_t *nchunks);
int block_fail(struct block *b, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
