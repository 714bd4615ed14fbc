/* wal: the write-ahead log of one aggregator shard (DESIGN.md §4).
 *
 * What it is: an append-only sequence of checksummed records in numbered
 * segment files (<dir>/00000001.wal, ...), written through io_uring, with a
 * replay that repairs a torn tail, rotation at a size, deletion of segments
 * the caller has persisted elsewhere, and an optional checkpoint file (a
 * snapshot of the head written by the caller) that bounds replay time.
 * What it is not: it does not know what a record means (the aggregator logs
 * raw REC_SAMPLES ring records), it is not thread-safe (one shard thread
 * owns a struct wal), and it never reads while it writes.
 *
 * On-disk format (little-endian, every offset 8-byte aligned):
 *   segment header, 32 bytes: u64 magic "mcs-wal\0", u32 version (1),
 *     u32 kind (1 segment, 2 checkpoint), u64 number, u32 zero,
 *     u32 check = low 32 bits of XXH3-64 of the first 28 bytes.
 *   record: u32 len (payload bytes), u8 type (never 0), u8 zero[3],
 *     u32 seg (low 32 bits of the file's number), u32 check, payload, zero
 *     padding to 8. check = low 32 bits of XXH3-64 of the payload seeded with
 *     len, type and seg, so a torn length, a stale record from another file
 *     or a flipped payload bit all fail it.
 *
 * Durability (enum wal_sync), precisely:
 *   - A process crash loses nothing that wal_flush() reported written: the
 *     data is in the kernel's page cache, which survives the process.
 *     This is what makes "release the ring after wal_flush" safe against
 *     aggregator crashes under every policy.
 *   - Power loss or a kernel crash loses what was not fsynced:
 *     WAL_SYNC_BATCH: nothing; wal_flush returns after fdatasync.
 *     WAL_SYNC_INTERVAL (default): wal_flush and wal_tick start an
 *       fdatasync (asynchronously, without waiting) when the last one was
 *       started interval_ms ago or more. With the caller calling wal_tick at
 *       least every T ms, a write is on disk at most interval_ms + T + the
 *       fsync's own duration after it completed: the default 500 ms plus a
 *       250 ms idle wait keeps that under 1 s on a healthy disk.
 *     WAL_SYNC_NONE: whatever the kernel has written back (~30 s).
 *   Rotation fsyncs the finished segment and the directory (except NONE),
 *   so only the last segment can have a torn tail after power loss.
 *
 * Errors: a failed write makes wal_flush return the error, after cutting
 * the segment back to the end of the last successful flush so the file
 * stays a clean prefix (only records written before a rotation inside the
 * failed batch stay; replaying them twice is harmless, duplicates are
 * dropped); the caller must not release the batch (crash and replay, or
 * append the batch again). A failed fsync or a failed cut is
 * sticky: every later call returns -EIO, because the page cache may have
 * dropped data we can no longer name (the PostgreSQL lesson); the caller
 * should exit and let replay on restart sort it out.
 */
#ifndef MCS_WAL_H
#define MCS_WAL_H

#include <liburing.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WAL_SEG_HDR 32u
#define WAL_REC_HDR 16u
#define WAL_REC_MAX (16u << 20)                 /* largest payload, bytes */
#define WAL_SEG_SIZE_DEFAULT (64ull << 20)      /* rotation size, bytes */
#define WAL_BUF_SIZE_DEFAULT (1u << 20)         /* one staging buffer, bytes */
#define WAL_INTERVAL_MS_DEFAULT 500u
#define WAL_NBUF 4                              /* staging buffers */

enum wal_sync {
	WAL_SYNC_INTERVAL = 0, /* default: fdatasync at most every interval_ms */
	WAL_SYNC_BATCH = 1,    /* fdatasync in every wal_flush */
	WAL_SYNC_NONE = 2,     /* never; the kernel writes back */
};

struct wal_opts {
	uint64_t seg_size;     /* rotate before a segment passes this, bytes; 0 = default */
	uint32_t buf_size;     /* staging buffer size, bytes; 0 = default */
	uint32_t interval_ms;  /* WAL_SYNC_INTERVAL period; 0 = default */
	enum wal_sync sync;
};

/* Counters of a writer since wal_open; written by the owner thread only. */
struct wal_stats {
	uint64_t records;      /* records appended */
	uint64_t bytes;        /* bytes written, framing included */
	uint64_t writes;       /* write operations completed */
	uint64_t fsyncs;       /* fdatasync operations completed */
	uint64_t rotations;    /* segments started */
	uint64_t errors;       /* failed flushes */
};

struct wal_buf {
	uint8_t *data;         /* staged records, owned */
	size_t len;            /* bytes staged */
	size_t cap;            /* bytes allocated */
	size_t done;           /* bytes written so far while in flight */
	uint64_t off;          /* file offset of data[0] */
	int busy;              /* a write of it is in flight */
};

struct wal {
	char dir[PATH_MAX];
	int dirfd;
	int fd;                /* current segment, write-only */
	uint64_t seg;          /* current segment number */
	uint64_t seg_off;      /* end of what is staged or written in it, bytes */
	uint64_t good_off;     /* end of what the last successful flush wrote */
	struct wal_opts o;
	struct io_uring ring;
	int have_ring;         /* 0: io_uring unavailable, plain pwrite/fdatasync */
	struct wal_buf buf[WAL_NBUF];
	int cur;               /* buffer being filled */
	unsigned inflight;     /* io_uring operations submitted, not reaped */
	int fsync_inflight;
	int dirty;             /* writes completed since the last fsync started */
	int err;               /* first write error of the current batch */
	int broken;            /* sticky error, 0 when healthy */
	uint64_t last_sync_ms; /* when the last fsync started (wal_sys.now_ms) */
	struct wal_stats st;
};

/* Outcome of a replay; see wal_replay. */
struct wal_replay_stats {
	uint64_t segments;     /* files read, checkpoint included */
	uint64_t records;      /* records delivered */
	uint64_t bytes;        /* payload bytes delivered */
	uint64_t lost_bytes;   /* bytes skipped as corrupt or cut as torn */
	uint64_t truncated;    /* torn tails cut off the last segment */
	uint64_t checkpoint;   /* number of the checkpoint read first, 0 = none */
	uint64_t last_seg;     /* number of the last segment read, 0 = none */
};

/* Called for every good record in order; payload is valid during the call
 * only. Return 0 to go on, or a negative errno to stop the replay. */
typedef int (*wal_record_fn)(void *ctx, uint8_t type, const void *payload, size_t len);

#define WAL_REPLAY_READONLY 1u  /* report damage, change no file */

/* Operations the module performs, replaceable by tests (the sqlite aSyscall
 * pattern). complete() sees the result of every write and fsync, io_uring
 * or not, and returns the result to act on (default: unchanged). */
enum wal_op { WAL_OP_WRITE = 1, WAL_OP_FSYNC = 2 };

struct wal_sys {
	int (*open)(const char *path, int flags, mode_t mode);
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	int (*ftruncate)(int fd, off_t len);
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
	int (*unlink)(const char *path);
	int (*rename)(const char *from, const char *to);
	int (*uring_init)(unsigned entries, struct io_uring *ring, unsigned flags);
	uint64_t (*now_ms)(void);
	int (*complete)(enum wal_op op, int res);
};
extern struct wal_sys wal_sys;

/* Checkpoint being written; see wal_ckpt_begin. */
struct wal_ckpt {
	int fd;
	uint64_t num;          /* covers every segment below num */
	uint64_t off;          /* bytes written to the file */
	struct wal_buf b;
	char tmp[PATH_MAX + 64];
	char path[PATH_MAX + 32];
};

int wal_sync_parse(const char *s, enum wal_sync *out);

int wal_replay(const char *dir, uint64_t from_seg, unsigned flags, wal_record_fn cb, void *ctx,
	       struct wal_replay_stats *st);

int wal_open(struct wal *w, const char *dir, const struct wal_opts *o);
int wal_append(struct wal *w, uint8_t type, const void *payload, size_t len);
int wal_submit(struct wal *w);
int wal_flush(struct wal *w);
int wal_tick(struct wal *w);
int wal_rotate(struct wal *w, uint64_t *seg_out);
int wal_checkpoint(struct wal *w, uint64_t seg);
void wal_close(struct wal *w);

int wal_ckpt_begin(struct wal_ckpt *c, struct wal *w);
int wal_ckpt_add(struct wal_ckpt *c, uint8_t type, const void *payload, size_t len);
int wal_ckpt_commit(struct wal_ckpt *c, struct wal *w);
void wal_ckpt_abort(struct wal_ckpt *c);

#endif
