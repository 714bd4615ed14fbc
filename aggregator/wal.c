/* wal: see wal.h for the format and the durability contract.
 *
 * Sections: helpers and the syscall table; the record and header codec;
 * directory listing; the reader (wal_scan, wal_replay); the writer
 * (staging, io_uring submission and completion, flush, rotation, failure
 * recovery); segment deletion and checkpoint files.
 *
 * Writer invariants:
 *   - Bytes [0, good_off) of the current segment were written by a
 *     successful flush (or are its header); bytes [good_off, seg_off) are
 *     staged or in flight and belong to the unacknowledged batch.
 *   - Staging buffers are filled in turn (cur); a buffer is refilled only
 *     after its write completed (busy == 0). Writes carry explicit offsets,
 *     so completions may arrive in any order.
 *   - The segment fd is closed only with nothing in flight.
 */
#include "aggregator/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/log.h"
#include "shm/proc.h"
#include "shm/segment.h"

#define WAL_MAGIC 0x006c61772d73636dull /* "mcs-wal\0" read as a LE u64 */
#define WAL_VERSION 1u
#define WAL_KIND_SEG 1u
#define WAL_KIND_CKPT 2u
#define WAL_SEG_SIZE_MIN 4096u

/* ---- helpers and the syscall table ---- */

static int wal_sys_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

static int wal_sys_complete(enum wal_op op, int res)
{
	return res;
}

struct wal_sys wal_sys = {
	.open = wal_sys_open,
	.pread = pread,
	.pwrite = pwrite,
	.ftruncate = ftruncate,
	.fsync = fsync,
	.fdatasync = fdatasync,
	.unlink = unlink,
	.rename = rename,
	.uring_init = io_uring_queue_init,
	.now_ms = segment_now_mono_ms,
	.complete = wal_sys_complete,
};

static inline size_t wal_pad8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

static inline uint32_t wal_get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Parses "batch", "interval" or "none". Returns 0, or -EINVAL. */
int wal_sync_parse(const char *s, enum wal_sync *out)
{
	static const char *const names[] = {"interval", "batch", "none"};
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i]))
			return *out = (enum wal_sync)i, 0;
	return -EINVAL;
}

/* Grows b to hold at least need bytes. Returns 0 or -ENOMEM (b unchanged). */
static int wal_buf_fit(struct wal_buf *b, size_t need)
{
	uint8_t *nd = need > b->cap ? realloc(b->data, need) : b->data;
	if (!nd)
		return -ENOMEM;
	b->data = nd;
	b->cap = need > b->cap ? need : b->cap;
	return 0;
}

/* Writes all n bytes at off with wal_sys.pwrite. Returns 0 or -errno. */
static int wal_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = wal_sys.pwrite(fd, (const uint8_t *)p + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* ---- record and header codec ---- */

static uint32_t wal_rec_check(uint64_t num, uint8_t type, const void *p, size_t len)
{
	uint64_t seed = ((uint64_t)(uint32_t)num << 32 | len) ^ ((uint64_t)type * 0x9E3779B97F4A7C15ull);
	return (uint32_t)XXH3_64bits_withSeed(p, len, seed);
}

/* Frames a record into dst (room for WAL_REC_HDR + pad8(len)). Returns the
 * bytes written. */
static size_t wal_rec_encode(uint8_t *dst, uint64_t num, uint8_t type, const void *p, size_t len)
{
	uint32_t v[4] = {(uint32_t)len, type, (uint32_t)num, wal_rec_check(num, type, p, len)};
	size_t rec = WAL_REC_HDR + wal_pad8(len);
	memcpy(dst, v, sizeof(v));
	memcpy(dst + WAL_REC_HDR, p, len);
	memset(dst + WAL_REC_HDR + len, 0, rec - WAL_REC_HDR - len);
	return rec;
}

static void wal_hdr_encode(uint8_t *h, uint32_t kind, uint64_t num)
{
	uint64_t magic = WAL_MAGIC;
	uint32_t ver = WAL_VERSION, zero = 0, check;
	memcpy(h, &magic, 8);
	memcpy(h + 8, &ver, 4);
	memcpy(h + 12, &kind, 4);
	memcpy(h + 16, &num, 8);
	memcpy(h + 24, &zero, 4);
	check = (uint32_t)XXH3_64bits(h, 28);
	memcpy(h + 28, &check, 4);
}

/* Every header field follows from kind and num, so compare whole bytes. */
static int wal_hdr_ok(const uint8_t *h, uint32_t kind, uint64_t num)
{
	uint8_t ref[WAL_SEG_HDR];
	wal_hdr_encode(ref, kind, num);
	return memcmp(h, ref, sizeof(ref)) == 0;
}

/* ---- directory listing ---- */

#define WAL_LIST_CKPT (1ull << 63) /* marks a checkpoint in wal_list.seg */

struct wal_list {
	uint64_t *seg;     /* segment numbers ascending, then checkpoints | WAL_LIST_CKPT; owned */
	size_t nseg;       /* segments */
	size_t n;          /* segments and checkpoints */
	uint64_t ckpt;     /* largest checkpoint number, 0 = none */
	uint64_t max_seen; /* largest number in any name, quarantined included */
};

/* Parses "<digits><suffix>" exactly. Returns 1 with *num set, or 0. */
static int wal_name_num(const char *name, const char *prefix, const char *suffix, uint64_t *num)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(name);
	if (n <= pl + sl || strncmp(name, prefix, pl) || strcmp(name + n - sl, suffix))
		return 0;
	uint64_t v = 0;
	for (size_t i = pl; i < n - sl; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*num = v;
	return v != 0;
}

static int wal_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists dir into *l (caller frees l->seg). With remove_tmp, deletes
 * checkpoint.*.tmp leftovers of an interrupted checkpoint. Returns 0 or
 * -errno (-ENOMEM). */
static int wal_list_dir(const char *dir, struct wal_list *l, int remove_tmp)
{
	memset(l, 0, sizeof(*l));
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	size_t cap = 0;
	struct dirent *e;
	uint64_t num;
	char path[PATH_MAX + 300];
	while ((e = readdir(d))) {
		int ck = 0;
		if (wal_name_num(e->d_name, "", ".wal", &num) ||
		    (ck = wal_name_num(e->d_name, "checkpoint.", "", &num))) {
			if (l->n == cap) {
				cap = cap ? cap * 2 : 64;
				uint64_t *ns = realloc(l->seg, cap * sizeof(*ns));
				if (!ns)
					break;
				l->seg = ns;
			}
			l->seg[l->n++] = num | (ck ? WAL_LIST_CKPT : 0);
			l->nseg += !ck;
			if (ck && num > l->ckpt)
				l->ckpt = num;
		} else if (wal_name_num(e->d_name, "checkpoint.", ".tmp", &num)) {
			if (remove_tmp) {
				snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
				log_warn("wal: removing %s, left by an interrupted checkpoint", path);
				wal_sys.unlink(path);
			}
			continue;
		} else if (!wal_name_num(e->d_name, "", ".wal.corrupt", &num)) {
			continue;
		}
		if (num > l->max_seen)
			l->max_seen = num;
	}
	closedir(d);
	if (e) { /* stopped early: out of memory */
		free(l->seg);
		l->seg = NULL;
		return -ENOMEM;
	}
	if (l->n)
		qsort(l->seg, l->n, sizeof(*l->seg), wal_cmp_u64);
	return 0;
}

/* ---- reader ---- */

/* Checks the record at h (room bytes left in the file) of file num.
 * Returns NULL with *rec = its framed size, or what is wrong with it. */
static const char *wal_rec_bad(const uint8_t *h, size_t room, uint64_t num, size_t *rec)
{
	if (room < WAL_REC_HDR)
		return "torn record header";
	uint32_t len = wal_get32(h), tz = wal_get32(h + 4);
	if ((uint8_t)tz == 0 || (tz >> 8) != 0 || wal_get32(h + 8) != (uint32_t)num || len > WAL_REC_MAX)
		return "bad record header";
	if ((*rec = WAL_REC_HDR + wal_pad8(len)) > room)
		return "torn record";
	if (wal_get32(h + 12) != wal_rec_check(num, (uint8_t)tz, h + WAL_REC_HDR, len))
		return "checksum mismatch";
	for (size_t i = WAL_REC_HDR + len; i < *rec; i++)
		if (h[i])
			return "nonzero record padding";
	return NULL;
}

/* Reads file path (number num of kind) and calls cb for every good record.
 * Damage is logged with the file and offset and counted in st->lost_bytes.
 * When tail is set (the last segment) and flags lack WAL_REPLAY_READONLY,
 * damage is repaired: a file shorter than a header is removed, a bad
 * header quarantines the file as <name>.corrupt, a bad or torn record is
 * cut off with ftruncate. Elsewhere the rest of the file is skipped.
 * *end receives the offset after the last good record, 0 when the file
 * has no valid header (or was removed). Returns 0, cb's error, or -errno
 * when the file cannot be opened or repaired (-ENOMEM for the buffer). */
static int wal_scan(const char *path, uint64_t num, uint32_t kind, int tail, unsigned flags,
		    wal_record_fn cb, void *ctx, struct wal_replay_stats *st, uint64_t *end)
{
	int repair = tail && !(flags & WAL_REPLAY_READONLY);
	int fd = wal_sys.open(path, (repair ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
	int rc = 0, read_err = 0;
	uint8_t *buf = NULL;
	struct stat sb;
	*end = 0;
	if (fd < 0) {
		rc = -errno;
		log_error("wal: open(%s) failed: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &sb) != 0 || !(buf = malloc(sb.st_size ? (size_t)sb.st_size : 1))) {
		rc = -errno; /* malloc sets ENOMEM */
		goto out;
	}
	size_t size = (size_t)sb.st_size, n = 0;
	while (n < size) {
		ssize_t r = wal_sys.pread(fd, buf + n, size - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* An unreadable sector is damage like any other, but never a
			 * reason to cut or delete what we could not read. */
			log_error("wal: pread(%s) at offset %zu failed: %s", path, n,
				  r < 0 ? strerror(errno) : "unexpected end of file");
			read_err = 1;
			repair = 0;
			break;
		}
		n += (size_t)r;
	}
	st->segments++;
	const char *why = NULL;
	size_t off = 0;
	if (n < WAL_SEG_HDR) {
		why = "torn segment header";
	} else if (!wal_hdr_ok(buf, kind, num)) {
		why = "bad segment header";
	} else {
		size_t rec;
		for (off = WAL_SEG_HDR; off < n && !(why = wal_rec_bad(buf + off, n - off, num, &rec));
		     off += rec) {
			uint32_t len = wal_get32(buf + off);
			if (cb && (rc = cb(ctx, buf[off + 4], buf + off + WAL_REC_HDR, len)) != 0)
				goto out;
			st->records++;
			st->bytes += len;
		}
	}
	if (read_err && !why)
		why = "read error";
	if (!why) {
		*end = off;
		goto out;
	}
	st->lost_bytes += (uint64_t)(size - off);
	if (off == 0 && repair) {
		char q[PATH_MAX + 16];
		if (n < WAL_SEG_HDR) {
			log_warn("wal: %s at offset 0 of %s (%zu bytes): removing the file", why, path, n);
			if (wal_sys.unlink(path) != 0)
				rc = -errno;
		} else {
			snprintf(q, sizeof(q), "%s.corrupt", path);
			log_warn("wal: %s at offset 0 of %s: quarantined as %s (%zu bytes lost)", why,
				 path, q, size);
			if (wal_sys.rename(path, q) != 0)
				rc = -errno;
		}
		st->truncated++;
	} else if (repair) {
		log_warn("wal: %s at offset %zu of %s: truncating the torn tail (%zu bytes dropped)",
			 why, off, path, size - off);
		if (wal_sys.ftruncate(fd, (off_t)off) != 0 || wal_sys.fsync(fd) != 0) {
			rc = -errno;
			log_error("wal: cutting %s at offset %zu failed: %s", path, off, strerror(errno));
		} else {
			*end = off;
		}
		st->truncated++;
	} else {
		log_warn("wal: %s at offset %zu of %s: skipping the rest of the file (%zu bytes lost)",
			 why, off, path, size - off);
		*end = off;
	}
out:
	free(buf);
	close(fd);
	return rc;
}

/* Replays the log in dir: the newest checkpoint file when its number is at
 * least from_seg, then every segment numbered from_seg (and from the
 * checkpoint's number) upwards, in order, calling cb for each good record.
 * Damage in the last segment is repaired as wal_scan says (unless
 * WAL_REPLAY_READONLY); damage elsewhere skips the rest of that file. Every
 * case is logged and counted; damage never fails the replay. *st (may be
 * NULL) receives the counts. Returns 0 (also for a missing or empty dir),
 * cb's error, or -errno when a file cannot be opened, read into memory or
 * repaired. Creates nothing; the caller keeps ownership of ctx. */
int wal_replay(const char *dir, uint64_t from_seg, unsigned flags, wal_record_fn cb, void *ctx,
	       struct wal_replay_stats *st)
{
	struct wal_replay_stats local;
	struct wal_list l;
	char path[PATH_MAX + 32];
	uint64_t end, start = from_seg, prev = 0;
	int rc;
	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	if ((rc = wal_list_dir(dir, &l, !(flags & WAL_REPLAY_READONLY))) != 0)
		return rc;
	if (l.ckpt && l.ckpt >= from_seg) {
		snprintf(path, sizeof(path), "%s/checkpoint.%08llu", dir, (unsigned long long)l.ckpt);
		if ((rc = wal_scan(path, l.ckpt, WAL_KIND_CKPT, 0, flags, cb, ctx, st, &end)) != 0)
			goto out;
		st->checkpoint = l.ckpt;
		start = l.ckpt;
	}
	for (size_t i = 0; i < l.nseg; i++) {
		uint64_t num = l.seg[i];
		if (num < start)
			continue;
		if (prev && num != prev + 1)
			log_warn("wal: segments %llu to %llu of %s are missing", (unsigned long long)prev + 1,
				 (unsigned long long)num - 1, dir);
		snprintf(path, sizeof(path), "%s/%08llu.wal", dir, (unsigned long long)num);
		rc = wal_scan(path, num, WAL_KIND_SEG, i == l.nseg - 1, flags, cb, ctx, st, &end);
		if (rc != 0)
			goto out;
		st->last_seg = prev = num;
	}
out:
	free(l.seg);
	return rc;
}

/* ---- writer: io_uring submission and completion ---- */

static struct io_uring_sqe *wal_sqe(struct wal *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* Submits what is queued; a failure other than a retryable one breaks the
 * writer, because the queued operations' fate is then unknown. */
static void wal_uring_submit(struct wal *w)
{
	int rc;
	while ((rc = io_uring_submit(&w->ring)) < 0) {
		if (rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
			continue;
		log_error("wal: io_uring_submit failed: %s", strerror(-rc));
		w->broken = -EIO;
		return;
	}
}

static void wal_queue_write(struct wal *w, int i)
{
	struct wal_buf *b = &w->buf[i];
	struct io_uring_sqe *sqe = wal_sqe(w);
	io_uring_prep_write(sqe, w->fd, b->data + b->done, (unsigned)(b->len - b->done),
			    b->off + b->done);
	io_uring_sqe_set_data64(sqe, (uint64_t)i << 8 | WAL_OP_WRITE);
	b->busy = 1;
	w->inflight++;
}

/* Acts on the result of one write of buffer i (res: bytes or -errno). */
static void wal_write_done(struct wal *w, int i, int res)
{
	struct wal_buf *b = &w->buf[i];
	res = wal_sys.complete(WAL_OP_WRITE, res);
	if (res == 0)
		res = -EIO; /* no progress: never loop on it */
	if (res < 0) {
		if (!w->err) {
			w->err = res;
			log_error("wal: write to segment %llu at offset %llu failed: %s",
				  (unsigned long long)w->seg, (unsigned long long)(b->off + b->done),
				  strerror(-res));
		}
		b->busy = 0;
		return;
	}
	b->done += (size_t)res;
	if (b->done < b->len) {
		if (w->have_ring) { /* short write: the rest, same buffer */
			wal_queue_write(w, i);
			wal_uring_submit(w);
		}
		return; /* without a ring, wal_buf_submit's loop goes on */
	}
	w->st.writes++;
	w->st.bytes += b->len;
	w->dirty = 1;
	b->busy = 0;
	b->len = b->done = 0;
}

static void wal_fsync_done(struct wal *w, int res)
{
	res = wal_sys.complete(WAL_OP_FSYNC, res);
	w->fsync_inflight = 0;
	if (res >= 0) {
		w->st.fsyncs++;
		return;
	}
	log_error("wal: fdatasync of segment %llu failed: %s; the log is unusable",
		  (unsigned long long)w->seg, strerror(-res));
	w->broken = -EIO;
}

/* Reaps one completion, waiting for it when wait is set. Returns 1 when
 * one was handled, 0 when none (or on a ring failure, which breaks w). */
static int wal_reap_one(struct wal *w, int wait)
{
	struct io_uring_cqe *cqe;
	int rc;
	if (!w->inflight)
		return 0;
	do
		rc = wait ? io_uring_wait_cqe(&w->ring, &cqe) : io_uring_peek_cqe(&w->ring, &cqe);
	while (rc == -EINTR);
	if (rc == -EAGAIN)
		return 0;
	if (rc < 0) {
		log_error("wal: io_uring_wait_cqe failed: %s", strerror(-rc));
		w->broken = -EIO;
		return 0;
	}
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	int res = cqe->res;
	io_uring_cqe_seen(&w->ring, cqe);
	w->inflight--;
	if ((ud & 0xff) == WAL_OP_FSYNC)
		wal_fsync_done(w, res);
	else
		wal_write_done(w, (int)(ud >> 8), res);
	return 1;
}

/* Starts writing buffer i (without waiting), or writes it at once when
 * there is no ring. */
static void wal_buf_submit(struct wal *w, int i)
{
	struct wal_buf *b = &w->buf[i];
	if (!b->len)
		return;
	if (w->have_ring) {
		wal_queue_write(w, i);
		wal_uring_submit(w);
		return;
	}
	while (b->len) {
		ssize_t r = wal_sys.pwrite(w->fd, b->data + b->done, b->len - b->done,
					   (off_t)(b->off + b->done));
		if (r < 0 && errno == EINTR)
			continue;
		wal_write_done(w, i, r < 0 ? -errno : (int)r);
		if (w->err)
			break;
	}
}

/* Starts an fdatasync of the current segment; waits only without a ring. */
static void wal_fsync_start(struct wal *w)
{
	if (w->fsync_inflight)
		return;
	w->dirty = 0;
	w->last_sync_ms = wal_sys.now_ms();
	if (!w->have_ring) {
		wal_fsync_done(w, wal_sys.fdatasync(w->fd) ? -errno : 0);
		return;
	}
	struct io_uring_sqe *sqe = wal_sqe(w);
	io_uring_prep_fsync(sqe, w->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, WAL_OP_FSYNC);
	w->fsync_inflight = 1;
	w->inflight++;
	wal_uring_submit(w);
}

/* Submits the buffer being filled and moves on to the next one. */
static void wal_stage_submit(struct wal *w)
{
	if (w->buf[w->cur].len) {
		wal_buf_submit(w, w->cur);
		w->cur = (w->cur + 1) % WAL_NBUF;
	}
}

/* Waits until no write is in flight, and with all no fsync either. */
static void wal_drain(struct wal *w, int all)
{
	for (int i = 0; i < WAL_NBUF; i++)
		while (w->buf[i].busy && !w->broken)
			wal_reap_one(w, 1);
	while (all && w->inflight && !w->broken)
		wal_reap_one(w, 1);
}

/* Recovers from a failed write: waits for everything in flight, cuts the
 * segment back to good_off and drops every staged record. Returns the
 * write's error (the batch since the last successful flush is gone), or
 * -EIO when the cut failed (then w is broken). */
static int wal_fail(struct wal *w)
{
	int err = w->err;
	wal_drain(w, 1);
	w->err = 0;
	w->st.errors++;
	for (int i = 0; i < WAL_NBUF; i++)
		w->buf[i].len = w->buf[i].done = 0;
	w->seg_off = w->good_off;
	if (!w->broken && wal_sys.ftruncate(w->fd, (off_t)w->good_off) != 0) {
		log_error("wal: ftruncate of segment %llu to %llu after a failed write failed: %s",
			  (unsigned long long)w->seg, (unsigned long long)w->good_off, strerror(errno));
		w->broken = -EIO;
	}
	return w->broken ? w->broken : err;
}

/* ---- writer: segments ---- */

static void wal_seg_path(char *out, size_t cap, const char *dir, uint64_t num)
{
	snprintf(out, cap, "%s/%08llu.wal", dir, (unsigned long long)num);
}

/* Creates segment num with its header (made durable unless the policy is
 * none). Returns the write-only fd, or -errno with nothing left behind. */
static int wal_seg_create(struct wal *w, uint64_t num)
{
	char path[PATH_MAX + 32];
	uint8_t h[WAL_SEG_HDR];
	int rc;
	wal_seg_path(path, sizeof(path), w->dir, num);
	int fd = wal_sys.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		log_error("wal: open(%s) failed: %s", path, strerror(errno));
		return rc;
	}
	wal_hdr_encode(h, WAL_KIND_SEG, num);
	if ((rc = wal_pwrite_all(fd, h, sizeof(h), 0)) != 0)
		goto fail;
	if (w->o.sync != WAL_SYNC_NONE &&
	    (wal_sys.fdatasync(fd) != 0 || wal_sys.fsync(w->dirfd) != 0)) {
		rc = -errno;
		goto fail;
	}
	return fd;
fail:
	log_error("wal: creating %s failed: %s", path, strerror(-rc));
	close(fd);
	wal_sys.unlink(path);
	return rc;
}

/* Finishes the current segment (written, and fsynced unless the policy is
 * none) and starts the next. Returns 0 or -errno; on an error from the new
 * file the writer stays on the old segment. */
static int wal_seg_next(struct wal *w)
{
	wal_stage_submit(w);
	wal_drain(w, 1);
	if (w->err || w->broken)
		return w->err ? wal_fail(w) : w->broken;
	w->good_off = w->seg_off;
	if (w->o.sync != WAL_SYNC_NONE && w->dirty) {
		wal_fsync_start(w);
		wal_drain(w, 1);
		if (w->broken)
			return w->broken;
	}
	int fd = wal_seg_create(w, w->seg + 1);
	if (fd < 0)
		return fd;
	close(w->fd);
	w->fd = fd;
	w->seg++;
	w->seg_off = w->good_off = WAL_SEG_HDR;
	w->dirty = 0;
	w->st.rotations++;
	return 0;
}

/* Opens the log in dir for appending, creating dir as needed. The last
 * segment is checked (and its torn tail cut, as replay does) and appended
 * to when it has room; otherwise a new segment is started. Zero fields of
 * *o (may be NULL) take the defaults. Call wal_replay first: records are
 * read by replay only. Returns 0, -EINVAL for bad options or a too long
 * path, or -errno; w must be passed to wal_close afterwards either way. */
int wal_open(struct wal *w, const char *dir, const struct wal_opts *o)
{
	struct wal_list l = {0};
	struct wal_replay_stats st;
	char path[PATH_MAX + 32];
	int rc;
	memset(w, 0, sizeof(*w));
	w->fd = w->dirfd = -1;
	if (o)
		w->o = *o;
	if (!w->o.seg_size)
		w->o.seg_size = WAL_SEG_SIZE_DEFAULT;
	if (!w->o.buf_size)
		w->o.buf_size = WAL_BUF_SIZE_DEFAULT;
	if (!w->o.interval_ms)
		w->o.interval_ms = WAL_INTERVAL_MS_DEFAULT;
	if (w->o.seg_size < WAL_SEG_SIZE_MIN || w->o.sync > WAL_SYNC_NONE ||
	    strlen(dir) >= sizeof(w->dir) - 32)
		return -EINVAL;
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	if ((rc = proc_mkdirs(dir)) != 0) {
		log_error("wal: mkdir(%s) failed: %s", dir, strerror(-rc));
		return rc;
	}
	if ((w->dirfd = wal_sys.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)) < 0)
		return -errno;
	for (int i = 0; i < WAL_NBUF; i++) {
		if (!(w->buf[i].data = malloc(w->o.buf_size)))
			return -ENOMEM;
		w->buf[i].cap = w->o.buf_size;
	}
	if ((rc = wal_list_dir(dir, &l, 1)) != 0)
		return rc;
	if (l.nseg) {
		uint64_t last = l.seg[l.nseg - 1], end = 0;
		memset(&st, 0, sizeof(st));
		wal_seg_path(path, sizeof(path), dir, last);
		if ((rc = wal_scan(path, last, WAL_KIND_SEG, 1, 0, NULL, NULL, &st, &end)) != 0)
			goto out;
		if (end && end < w->o.seg_size) {
			if ((w->fd = wal_sys.open(path, O_WRONLY | O_CLOEXEC, 0)) < 0) {
				rc = -errno;
				log_error("wal: open(%s) failed: %s", path, strerror(errno));
				goto out;
			}
			w->seg = last;
			w->seg_off = w->good_off = end;
		}
	}
	if (w->fd < 0) {
		uint64_t num = l.max_seen + 1;
		if (num < l.ckpt)
			num = l.ckpt;
		if ((rc = wal_seg_create(w, num)) < 0)
			goto out;
		w->fd = rc;
		w->seg = num;
		w->seg_off = w->good_off = WAL_SEG_HDR;
		rc = 0;
	}
	if ((rc = wal_sys.uring_init(4 * WAL_NBUF, &w->ring, 0)) == 0) {
		w->have_ring = 1;
	} else {
		log_warn("wal: io_uring_queue_init failed (%s): writing with pwrite instead",
			 strerror(-rc));
		rc = 0;
	}
	w->last_sync_ms = wal_sys.now_ms();
out:
	free(l.seg);
	return rc;
}

/* Stages one record (type 1..255, len <= WAL_REC_MAX) in the current batch;
 * full staging buffers are written in the background, and a segment that
 * would pass seg_size is first finished and the next one started (which
 * waits for I/O). The payload is copied: the caller may reuse it at once.
 * Nothing is durable before wal_flush returns 0. Returns 0, -EINVAL,
 * -ENOMEM (nothing staged), or the -errno of a failed write or rotation:
 * then the batch counts as not logged and must not be released; what was
 * staged is dropped (wal_fail), though records written before a rotation
 * stay and may be replayed twice, which duplicate dropping absorbs. */
int wal_append(struct wal *w, uint8_t type, const void *payload, size_t len)
{
	int rc;
	if (w->broken)
		return w->broken;
	if (type == 0 || len > WAL_REC_MAX)
		return -EINVAL;
	if (w->err)
		return wal_fail(w);
	size_t rec = WAL_REC_HDR + wal_pad8(len);
	if (w->seg_off + rec > w->o.seg_size && w->seg_off > WAL_SEG_HDR &&
	    (rc = wal_seg_next(w)) != 0)
		return rc;
	struct wal_buf *b = &w->buf[w->cur];
	if (b->len && b->len + rec > b->cap) {
		wal_stage_submit(w);
		b = &w->buf[w->cur];
		while (b->busy && !w->broken)
			wal_reap_one(w, 1);
		if (w->err || w->broken)
			return w->err ? wal_fail(w) : w->broken;
	}
	if ((rc = wal_buf_fit(b, rec)) != 0)
		return rc;
	if (!b->len)
		b->off = w->seg_off;
	b->len += wal_rec_encode(b->data + b->len, w->seg, type, payload, len);
	w->seg_off += rec;
	w->st.records++;
	return 0;
}

/* Starts writing what is staged without waiting, so that the caller can
 * apply the batch while the write runs. Returns 0, or the sticky error. */
int wal_submit(struct wal *w)
{
	if (!w->broken)
		wal_stage_submit(w);
	return w->broken;
}

/* Writes everything appended and waits for it; under WAL_SYNC_BATCH also
 * fdatasyncs and waits; under WAL_SYNC_INTERVAL starts an fdatasync when
 * one is due. After 0 the batch may be released (see wal.h for what each
 * policy means on power loss). Returns 0, the -errno of a failed write
 * (the batch is dropped, the segment cut back: do not release), or the
 * sticky -EIO. */
int wal_flush(struct wal *w)
{
	if (w->broken)
		return w->broken;
	wal_stage_submit(w);
	wal_drain(w, 0);
	if (w->err || w->broken)
		return w->err ? wal_fail(w) : w->broken;
	w->good_off = w->seg_off;
	if (w->o.sync == WAL_SYNC_BATCH && w->dirty) {
		wal_fsync_start(w);
		while (w->fsync_inflight && !w->broken)
			wal_reap_one(w, 1);
	} else if (w->o.sync == WAL_SYNC_INTERVAL) {
		return wal_tick(w);
	}
	return w->broken;
}

/* Housekeeping for the idle loop: reaps finished operations and, under
 * WAL_SYNC_INTERVAL, starts the fdatasync that is due. Never waits.
 * Returns 0 or the sticky error. */
int wal_tick(struct wal *w)
{
	while (!w->broken && wal_reap_one(w, 0))
		;
	if (!w->broken && w->o.sync == WAL_SYNC_INTERVAL && w->dirty && !w->fsync_inflight &&
	    wal_sys.now_ms() - w->last_sync_ms >= w->o.interval_ms)
		wal_fsync_start(w);
	return w->broken;
}

/* Flushes and starts a new segment, unless the current one holds no
 * record. *seg_out receives the current segment's number afterwards: every
 * record appended before the call is in a lower-numbered segment. Returns
 * 0 or -errno as wal_flush. */
int wal_rotate(struct wal *w, uint64_t *seg_out)
{
	int rc = 0;
	if (w->broken)
		return w->broken;
	if (w->seg_off > WAL_SEG_HDR)
		rc = wal_seg_next(w);
	*seg_out = w->seg;
	return rc;
}

/* Deletes the segments numbered below seg (never the current one) and the
 * checkpoint files numbered below seg: the caller has persisted what they
 * hold elsewhere (blocks, or a checkpoint numbered seg). Returns 0, or the
 * first -errno of a deletion (the others are still tried). */
int wal_checkpoint(struct wal *w, uint64_t seg)
{
	struct wal_list l;
	char path[PATH_MAX + 32];
	int rc = wal_list_dir(w->dir, &l, 0), first = 0;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		uint64_t num = l.seg[i] & ~WAL_LIST_CKPT;
		if (num >= seg || num >= w->seg)
			continue;
		if (l.seg[i] & WAL_LIST_CKPT)
			snprintf(path, sizeof(path), "%s/checkpoint.%08llu", w->dir, (unsigned long long)num);
		else
			wal_seg_path(path, sizeof(path), w->dir, num);
		if (wal_sys.unlink(path) != 0 && errno != ENOENT && !first)
			first = -errno;
	}
	free(l.seg);
	return rc ? rc : first;
}

/* Writes what is staged, fdatasyncs unless the policy is none, and frees
 * everything. Errors are logged (call wal_flush first to see them). w must
 * have been passed to wal_open, successfully or not; closing twice is
 * harmless. */
void wal_close(struct wal *w)
{
	if (w->fd >= 0) {
		wal_flush(w);
		wal_drain(w, 1);
		if (!w->broken && w->o.sync != WAL_SYNC_NONE && w->dirty) {
			wal_fsync_start(w);
			wal_drain(w, 1);
		}
		if (w->broken)
			log_error("wal: closing segment %llu after an error: %s",
				  (unsigned long long)w->seg, strerror(-w->broken));
		close(w->fd);
		w->fd = -1;
	}
	if (w->have_ring)
		io_uring_queue_exit(&w->ring);
	w->have_ring = 0;
	if (w->dirfd >= 0)
		close(w->dirfd);
	w->dirfd = -1;
	for (int i = 0; i < WAL_NBUF; i++) {
		free(w->buf[i].data);
		w->buf[i].data = NULL;
	}
}

/* ---- checkpoint files ---- */

/* Starts a checkpoint: rotates w, so the checkpoint will stand for every
 * segment below the new current one (c->num), and opens
 * <dir>/checkpoint.<num>.tmp. The caller then adds a snapshot of its state
 * as records with wal_ckpt_add, synchronously (before applying anything
 * newer), and ends with wal_ckpt_commit or wal_ckpt_abort. Returns 0 or
 * -errno; on failure c needs no abort. */
int wal_ckpt_begin(struct wal_ckpt *c, struct wal *w)
{
	uint8_t h[WAL_SEG_HDR];
	int rc;
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if ((rc = wal_rotate(w, &c->num)) != 0)
		return rc;
	snprintf(c->path, sizeof(c->path), "%s/checkpoint.%08llu", w->dir, (unsigned long long)c->num);
	snprintf(c->tmp, sizeof(c->tmp), "%s.tmp", c->path);
	if (!(c->b.data = malloc(w->o.buf_size)))
		return -ENOMEM;
	c->b.cap = w->o.buf_size;
	c->fd = wal_sys.open(c->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	wal_hdr_encode(h, WAL_KIND_CKPT, c->num);
	rc = c->fd < 0 ? -errno : wal_pwrite_all(c->fd, h, sizeof(h), 0);
	if (rc != 0) {
		log_error("wal: creating %s failed: %s", c->tmp, strerror(-rc));
		wal_ckpt_abort(c);
		return rc;
	}
	c->off = WAL_SEG_HDR;
	return 0;
}

static int wal_ckpt_write(struct wal_ckpt *c)
{
	int rc = wal_pwrite_all(c->fd, c->b.data, c->b.len, c->off);
	if (rc == 0) {
		c->off += c->b.len;
		c->b.len = 0;
	}
	return rc;
}

/* Adds one record to the checkpoint (written synchronously in buffer-sized
 * pieces). Returns 0, -EINVAL, -ENOMEM or a write's -errno (then abort). */
int wal_ckpt_add(struct wal_ckpt *c, uint8_t type, const void *payload, size_t len)
{
	int rc;
	if (type == 0 || len > WAL_REC_MAX)
		return -EINVAL;
	size_t rec = WAL_REC_HDR + wal_pad8(len);
	if (c->b.len + rec > c->b.cap && c->b.len && (rc = wal_ckpt_write(c)) != 0)
		return rc;
	if ((rc = wal_buf_fit(&c->b, rec)) != 0)
		return rc;
	c->b.len += wal_rec_encode(c->b.data + c->b.len, c->num, type, payload, len);
	return 0;
}

/* Makes the checkpoint durable under its final name, then deletes the
 * segments and older checkpoints it replaces (wal_checkpoint). Returns 0,
 * or -errno with the temporary file removed and the segments kept. */
int wal_ckpt_commit(struct wal_ckpt *c, struct wal *w)
{
	int rc = wal_ckpt_write(c);
	if (rc == 0 && wal_sys.fsync(c->fd) != 0)
		rc = -errno;
	if (rc == 0 && wal_sys.rename(c->tmp, c->path) != 0)
		rc = -errno;
	if (rc != 0) {
		log_error("wal: writing checkpoint %s failed: %s", c->tmp, strerror(-rc));
		wal_ckpt_abort(c);
		return rc;
	}
	close(c->fd);
	c->fd = -1;
	free(c->b.data);
	c->b.data = NULL;
	if (wal_sys.fsync(w->dirfd) != 0)
		return -errno; /* the new name may not survive power loss: keep the segments */
	return wal_checkpoint(w, c->num);
}

/* Abandons a checkpoint: closes and removes the temporary file, frees c's
 * buffer. Safe on a c that wal_ckpt_begin failed on or that is finished. */
void wal_ckpt_abort(struct wal_ckpt *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		wal_sys.unlink(c->tmp);
		c->fd = -1;
	}
	free(c->b.data);
	c->b.data = NULL;
}
