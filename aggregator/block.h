/* block: immutable on-disk blocks of a storage shard (DESIGN.md §4, issue 4
 * item 3): a label index plus the chunk bytes of every series in one time
 * range, the chunk bytes compressed again with zstd.
 *
 * Not here: chunk encoding (chunk.h; a chunk is an opaque byte string with
 * a (min_ts, max_ts, count) here), the head, retention, deduplication of
 * overlapping chunks (compaction keeps both and counts the series in meta).
 *
 * A block is a directory <data>/shard-<j>/blocks/<tier>/<minT>-<maxT>-<ulid>/
 * holding three files. It is written under <parent>/.tmp-<ulid>/, each file
 * fsynced, then renamed into place and the parent fsynced, so a block either
 * exists whole or not at all. Leftover .tmp-* directories are garbage.
 *
 * All integers little-endian; "uv" = LEB128 unsigned varint; "zz" = zigzag.
 *
 * index (read whole into memory by block_open):
 *   0   u64 magic "mcs-blki"      8  u32 version (1)   12 u32 nsect (4)
 *   16  i64 min_t   24 i64 max_t  (ms, inclusive, of the samples)
 *   32  u64 samples 40 u32 series 44 u32 chunks
 *   48  nsect x {u64 offset, u32 stored length, u32 raw length (0: the
 *       section is stored plain; else it is one zstd frame of that many
 *       bytes, used when it saves a tenth), u64 xxh3 of the stored bytes}
 *   144 u64 xxh3 of bytes [0, 144)
 *   sections, in order (contents after decompression):
 *   SYMBOLS   u32 n; n x {uv len, bytes}: every label name and value once,
 *             sorted bytewise (a shorter prefix first). A symbol ref is the
 *             index, so comparing refs compares strings.
 *   SERIES    u32 n; per series, in ascending key-byte order (series.h key;
 *             the position is the series ordinal):
 *             uv nlabels; nlabels x {uv name ref, uv value ref}; u64 id;
 *             uv nchunks; per chunk {uv frame, uv offset in the frame's
 *             raw bytes, uv len, zz (min_ts - previous chunk's max_ts, the
 *             block min_t for the first), uv (max_ts - min_ts), uv count}.
 *   POSTINGS  u32 n; per (name, value) pair, sorted by (name, value) refs:
 *             uv name ref, uv value ref, uv count, count x uv ordinal gaps
 *             (first = ordinal). Grouped by name, this doubles as the
 *             label name -> values table.
 *   FRAMES    u32 nframes, u32 dict len, u64 dict offset, u64 dict xxh3;
 *             nframes x {u64 offset, u32 compressed len, u32 raw len,
 *             u64 xxh3 of the compressed bytes}.
 * chunks:
 *   0 u64 magic "mcs-blkc", 8 u32 version, 12 u32 flags (bit 0: dictionary);
 *   the zstd dictionary (raw ZDICT bytes) if any; then the frames, each
 *   {u32 clen, u32 rawlen, u64 xxh3} then one zstd frame. A frame holds
 *   the concatenated chunk bytes of whole consecutive series (cut once it
 *   reaches frame_bytes), so reading one series decompresses one frame.
 * meta.json (cJSON, one line): {"format":"mcs-block","version":1,"ulid",
 *   "tier","min_time","max_time","series","chunks","samples",
 *   "chunk_bytes","chunks_file_bytes","index_bytes","dict_bytes","frames",
 *   "overlapping_series","compaction":{"level","sources":[ulid...]},
 *   "xxh3":"<16 hex>"}\n, where xxh3 covers every byte before ,"xxh3".
 *
 * Damage: block_open checks magics, versions, every checksum of index and
 * meta.json, the dictionary, the chunks file size and the structure of
 * every section, and says -EPROTO with the reason in err; frame checksums
 * are checked when a frame is read (or at open with BLOCK_OPEN_VERIFY).
 * Nothing read from disk is trusted: no input crashes the reader.
 *
 * Threads: a struct block is used by one thread at a time (it caches the
 * last frame and reuses scratch buffers); open one per thread or lock.
 */
#ifndef MCS_BLOCK_H
#define MCS_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "common/matcher.h"

#define BLOCK_VERSION 1u
#define BLOCK_FRAME_BYTES_DEFAULT (32u * 1024u)
#define BLOCK_ZSTD_LEVEL_DEFAULT 3
#define BLOCK_TIER_MAX 16u          /* bytes of a tier name, NUL included */
#define BLOCK_ULID_LEN 26u

/* block_open flags */
#define BLOCK_OPEN_VERIFY 1u        /* also check every frame, key order, ids */

enum block_dict_mode {
	BLOCK_DICT_AUTO = 0,        /* train one, keep it only if smaller */
	BLOCK_DICT_OFF = 1,
	BLOCK_DICT_FORCE = 2,       /* keep it whenever training succeeds */
};

/* One chunk: input of the writer, output of the reader. */
struct block_chunk {
	const uint8_t *data;        /* chunk bytes; NULL in block_select results */
	uint32_t len;               /* bytes at data */
	uint32_t count;             /* samples, >= 1 */
	int64_t min_ts;             /* ms, first sample */
	int64_t max_ts;             /* ms, last sample, >= min_ts */
};

/* Writer options; a zeroed struct means the defaults. */
struct block_opts {
	const char *tier;           /* "raw" when NULL */
	int zstd_level;             /* BLOCK_ZSTD_LEVEL_DEFAULT when 0 */
	uint32_t frame_bytes;       /* BLOCK_FRAME_BYTES_DEFAULT when 0 */
	int dict;                   /* enum block_dict_mode */
	uint32_t level;             /* compaction level: 0 = written from head */
	const char *const *sources; /* ULIDs of the blocks merged, for meta */
	size_t nsources;
};

/* What a finished writer produced, for measurements. */
struct block_stats {
	uint64_t chunk_bytes;       /* raw chunk bytes given */
	uint64_t chunks_file_bytes; /* the chunks file, dictionary included */
	uint64_t index_bytes;
	uint64_t dict_bytes;        /* 0 when no dictionary was kept */
	uint64_t trial_plain;       /* trial frames' bytes without dictionary */
	uint64_t trial_dict;        /* the same frames with it (0 = not tried) */
	uint32_t frames;
	uint32_t overlapping_series;
};

/* A block's header values, filled by block_open. */
struct block_meta {
	int64_t min_t, max_t;       /* ms, inclusive */
	uint64_t samples;
	uint32_t series, chunks, frames;
	uint32_t level;             /* compaction level */
	uint32_t overlapping_series;
	char tier[BLOCK_TIER_MAX];
	char ulid[BLOCK_ULID_LEN + 1];
};

struct block_writer;
struct block;

/* Callbacks return 0 to go on; any other value stops the walk and is
 * returned by the function that called them. */
typedef int (*block_series_cb)(void *arg, uint32_t ord, const uint8_t *key, size_t key_len,
			       uint64_t id, const struct block_chunk *chunks, size_t n);
typedef int (*block_chunk_cb)(void *arg, const struct block_chunk *c);
typedef int (*block_str_cb)(void *arg, const char *s, size_t len);

int block_writer_open(const char *parent, const struct block_opts *opts, struct block_writer **out);
int block_writer_add_series(struct block_writer *w, const uint8_t *key, size_t key_len,
			    const struct block_chunk *chunks, size_t n);
int block_writer_finish(struct block_writer *w, char *path, size_t cap, struct block_stats *st);
void block_writer_abort(struct block_writer *w);

int block_open(const char *path, unsigned flags, struct block **out, char *err, size_t errlen);
void block_close(struct block *b);
const struct block_meta *block_get_meta(const struct block *b);
const char *block_error(const struct block *b);

int block_select(struct block *b, const struct matcher *m, size_t n, block_series_cb cb, void *arg);
int block_label_names(struct block *b, const struct matcher *m, size_t n, block_str_cb cb, void *arg);
int block_label_values(struct block *b, const char *name, size_t name_len, const struct matcher *m,
		       size_t n, block_str_cb cb, void *arg);
int block_read_chunks(struct block *b, uint32_t ord, int64_t mint, int64_t maxt, block_chunk_cb cb,
		      void *arg);

int block_quarantine(const char *path, const char *why);
int block_compact(const char *const *inputs, size_t n, const char *parent,
		  const struct block_opts *opts, char *path, size_t cap, struct block_stats *st);

#endif
