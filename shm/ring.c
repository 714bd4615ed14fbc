/* ring: see ring.h for the layout and the protocol.
 *
 * Sections: futex helpers, create/attach, producer, consumer, observer.
 *
 * Memory-order pairs (labels used in the comments below):
 *  W1  producer's release store of write_pos  <->  W2 consumer's acquire load
 *  R1  consumer's release store of read_pos   <->  R2 producer's acquire load
 *  F1  publish: store write_pos; fence; load consumer_sleeping
 *  F2  sleep:   store consumer_sleeping; fence; load write_pos
 *      One of the two sides must see the other's store: no lost wake-up.
 *  F3/F4 the same pair for space (read_pos / producer_sleeping).
 */
#include "shm/ring.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RING_SPIN_ROUNDS 256

/* ---- futex helpers ---- */

static void ring_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t ring_coarse_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits while *word == expected, at most timeout_ms (< 0: forever). Shared
 * (not FUTEX_PRIVATE): the word lives in memory mapped by two processes. */
static int ring_futex_wait(_Atomic uint32_t *word, uint32_t expected, int timeout_ms)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tp = &ts;
	}
	long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, tp, NULL, 0);
	return rc == 0 ? 0 : -errno;
}

static void ring_futex_wake(_Atomic uint32_t *word)
{
	atomic_fetch_add_explicit(word, 1, memory_order_release);
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* ---- create / attach ---- */

static int ring_check_header(const struct ring_header *h, size_t map_size)
{
	if (h->version != RING_VERSION || h->hdr_size != RING_HDR_SIZE)
		return -EPROTO;
	if (h->capacity < RING_MIN_CAPACITY || h->capacity > RING_MAX_CAPACITY ||
	    (h->capacity & (h->capacity - 1)) != 0)
		return -EPROTO;
	if (map_size != RING_HDR_SIZE + h->capacity)
		return -EPROTO;
	if (h->policy > RING_FULL_DROP)
		return -EPROTO;
	return 0;
}

static void ring_bind(struct ring *r, enum ring_role role)
{
	struct ring_header *h = r->seg.base;
	r->hdr = h;
	r->data = (uint8_t *)r->seg.base + RING_HDR_SIZE;
	r->capacity = h->capacity;
	r->mask = h->capacity - 1;
	r->role = role;
	r->reserved_len = 0;
	r->pending_records = r->pending_bytes = 0;
	/* Acquire (W2/R2): resume exactly where the published positions say. */
	r->wpos = atomic_load_explicit(&h->write_pos, memory_order_acquire);
	r->rpos = atomic_load_explicit(&h->read_pos, memory_order_acquire);
	r->wpos_seen = r->wpos;
	if (role == RING_ROLE_PRODUCER) {
		atomic_store_explicit(&h->producer_sleeping, 0, memory_order_relaxed);
		atomic_store_explicit(&h->producer_pid, (uint32_t)getpid(), memory_order_relaxed);
		atomic_store_explicit(&h->producer_heartbeat_ms, ring_coarse_ms(), memory_order_relaxed);
	} else if (role == RING_ROLE_CONSUMER) {
		atomic_store_explicit(&h->consumer_sleeping, 0, memory_order_relaxed);
		atomic_store_explicit(&h->consumer_pid, (uint32_t)getpid(), memory_order_relaxed);
		atomic_store_explicit(&h->consumer_heartbeat_ms, ring_coarse_ms(), memory_order_relaxed);
	}
}

int ring_create(struct ring *r, const char *shm_name, const char *short_name,
		uint64_t capacity, enum ring_full_policy policy, enum ring_role role)
{
	memset(r, 0, sizeof(*r));
	if (capacity < RING_MIN_CAPACITY || capacity > RING_MAX_CAPACITY ||
	    (capacity & (capacity - 1)) != 0 || policy > RING_FULL_DROP)
		return -EINVAL;
	int rc = segment_open(&r->seg, shm_name, RING_HDR_SIZE + capacity);
	if (rc != 0)
		return rc;
	struct ring_header *h = r->seg.base;
	if (r->seg.created) {
		/* ftruncate zero-filled the segment; only identity needs writing. */
		h->version = RING_VERSION;
		h->hdr_size = RING_HDR_SIZE;
		h->capacity = capacity;
		h->policy = (uint32_t)policy;
		h->created_ms = segment_now_real_ms();
		snprintf(h->name, sizeof(h->name), "%s", short_name ? short_name : "");
		segment_publish(&r->seg, RING_MAGIC);
	} else {
		rc = segment_wait_magic(&r->seg, RING_MAGIC, 2000);
		if (rc == 0)
			rc = ring_check_header(h, r->seg.size);
		if (rc == 0 && h->capacity != capacity)
			rc = -EEXIST;
		if (rc != 0) {
			segment_close(&r->seg);
			memset(r, 0, sizeof(*r));
			return rc;
		}
	}
	ring_bind(r, role);
	return 0;
}

int ring_attach(struct ring *r, const char *shm_name, enum ring_role role)
{
	memset(r, 0, sizeof(*r));
	int rc = segment_map_existing(&r->seg, shm_name, role != RING_ROLE_OBSERVER);
	if (rc != 0)
		return rc;
	if (r->seg.size < RING_HDR_SIZE)
		rc = -EPROTO;
	if (rc == 0)
		rc = segment_wait_magic(&r->seg, RING_MAGIC, 2000);
	if (rc == 0)
		rc = ring_check_header(r->seg.base, r->seg.size);
	if (rc != 0) {
		segment_close(&r->seg);
		memset(r, 0, sizeof(*r));
		return rc;
	}
	ring_bind(r, role);
	return 0;
}

void ring_detach(struct ring *r)
{
	if (!r || !r->hdr)
		return;
	uint32_t me = (uint32_t)getpid();
	uint32_t expect = me;
	if (r->role == RING_ROLE_PRODUCER)
		atomic_compare_exchange_strong(&r->hdr->producer_pid, &expect, 0);
	else if (r->role == RING_ROLE_CONSUMER)
		atomic_compare_exchange_strong(&r->hdr->consumer_pid, &expect, 0);
	segment_close(&r->seg);
	memset(r, 0, sizeof(*r));
}

/* ---- producer ---- */

/* Free bytes from the producer's cursor, reloading read_pos (R2) only when
 * the cached copy says there is not enough. */
static uint64_t ring_free_for(struct ring *r, uint64_t want)
{
	struct ring_header *h = r->hdr;
	uint64_t free_b = r->capacity - (r->wpos - h->read_pos_cache);
	if (free_b < want) {
		/* R2: acquire pairs with the consumer's release in ring_release (R1),
		 * so the bytes it released are no longer being read. */
		h->read_pos_cache = atomic_load_explicit(&h->read_pos, memory_order_acquire);
		free_b = r->capacity - (r->wpos - h->read_pos_cache);
	}
	return free_b;
}

uint64_t ring_free_bytes(struct ring *r)
{
	return ring_free_for(r, r->capacity);
}

void ring_publish(struct ring *r)
{
	struct ring_header *h = r->hdr;
	if (r->pending_bytes == 0)
		return;
	/* W1: release makes every committed record visible before the position. */
	atomic_store_explicit(&h->write_pos, r->wpos, memory_order_release);
	atomic_fetch_add_explicit(&h->records_in, r->pending_records, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->bytes_in, r->pending_bytes, memory_order_relaxed);
	r->pending_records = r->pending_bytes = 0;
	/* F1: full fence between the store of write_pos and the load of the
	 * consumer's sleeping flag; pairs with F2 in ring_wait_any. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&h->consumer_sleeping, memory_order_relaxed)) {
		ring_futex_wake(&h->data_futex);
		atomic_fetch_add_explicit(&h->wakeups_sent, 1, memory_order_relaxed);
	}
}

int ring_wait_space(struct ring *r, uint64_t bytes, int timeout_ms)
{
	struct ring_header *h = r->hdr;
	if (bytes > r->capacity)
		return -EMSGSIZE;
	if (ring_free_for(r, bytes) >= bytes)
		return 0;
	ring_publish(r);
	for (int i = 0; i < RING_SPIN_ROUNDS; i++) {
		ring_cpu_relax();
		if (ring_free_for(r, bytes) >= bytes)
			return 0;
	}
	atomic_fetch_add_explicit(&h->full_waits, 1, memory_order_relaxed);
	uint64_t start = segment_now_mono_ms();
	for (;;) {
		uint32_t seq = atomic_load_explicit(&h->space_futex, memory_order_acquire);
		atomic_store_explicit(&h->producer_sleeping, 1, memory_order_relaxed);
		/* F3: pairs with F4 in ring_release. */
		atomic_thread_fence(memory_order_seq_cst);
		if (ring_free_for(r, bytes) >= bytes)
			break;
		uint64_t waited = segment_now_mono_ms() - start;
		if (timeout_ms >= 0 && waited >= (uint64_t)timeout_ms) {
			atomic_store_explicit(&h->producer_sleeping, 0, memory_order_relaxed);
			return -ETIMEDOUT;
		}
		int slice = 200;
		if (timeout_ms >= 0 && (uint64_t)timeout_ms - waited < (uint64_t)slice)
			slice = (int)((uint64_t)timeout_ms - waited);
		ring_futex_wait(&h->space_futex, seq, slice);
		atomic_store_explicit(&h->producer_heartbeat_ms, ring_coarse_ms(), memory_order_relaxed);
	}
	atomic_store_explicit(&h->producer_sleeping, 0, memory_order_relaxed);
	return 0;
}

void *ring_reserve(struct ring *r, uint32_t max_len, int timeout_ms)
{
	struct ring_header *h = r->hdr;
	if (max_len > ring_max_payload(r->capacity)) {
		errno = EMSGSIZE;
		return NULL;
	}
	uint64_t need = ring_rec_size(max_len);
	uint64_t to_end = r->capacity - (r->wpos & r->mask);
	uint64_t total = need <= to_end ? need : to_end + need;
	if (ring_free_for(r, total) < total) {
		int rc = -EAGAIN;
		if (timeout_ms != 0 && h->policy == RING_FULL_BLOCK)
			rc = ring_wait_space(r, total, timeout_ms);
		if (rc != 0) {
			atomic_fetch_add_explicit(&h->drops, 1, memory_order_relaxed);
			errno = -rc;
			return NULL;
		}
	}
	if (need > to_end) {
		/* Padding to the end: a record never wraps. to_end >= 8 because
		 * every position is a multiple of 8. */
		uint32_t *pad = (uint32_t *)(r->data + (r->wpos & r->mask));
		pad[0] = (uint32_t)(to_end - RING_REC_HDR);
		pad[1] = RING_TYPE_PAD;
		r->wpos += to_end;
		r->pending_bytes += to_end;
	}
	r->reserved_at = r->wpos;
	r->reserved_len = max_len;
	return r->data + (r->wpos & r->mask) + RING_REC_HDR;
}

void ring_commit(struct ring *r, uint32_t type, uint32_t len)
{
	if (len > r->reserved_len)
		len = r->reserved_len; /* caller bug; never write past the reservation */
	uint32_t *rec = (uint32_t *)(r->data + (r->reserved_at & r->mask));
	rec[0] = len;
	rec[1] = type;
	uint64_t size = ring_rec_size(len);
	r->wpos = r->reserved_at + size;
	r->pending_records++;
	r->pending_bytes += size;
	r->reserved_len = 0;
}

int ring_write(struct ring *r, uint32_t type, const void *payload, uint32_t len, int timeout_ms)
{
	void *p = ring_reserve(r, len, timeout_ms);
	if (!p)
		return -errno;
	memcpy(p, payload, len);
	ring_commit(r, type, len);
	return 0;
}

/* ---- consumer ---- */

uint64_t ring_available(struct ring *r)
{
	/* W2: acquire pairs with W1: records below write_pos are complete. */
	r->wpos_seen = atomic_load_explicit(&r->hdr->write_pos, memory_order_acquire);
	return r->wpos_seen - r->rpos;
}

/* Decodes the record at pos given the published end `limit`. Shared by the
 * consumer and the observer. Returns 1/0/-EPROTO like ring_next. */
static int ring_decode_at(const struct ring *r, uint64_t pos, uint64_t limit,
			  struct ring_rec *out, uint64_t *next)
{
	while (pos != limit) {
		if (limit - pos > r->capacity || (pos & 7u) != 0)
			return -EPROTO;
		uint64_t idx = pos & r->mask;
		const uint32_t *rec = (const uint32_t *)(r->data + idx);
		uint32_t len = rec[0], type = rec[1];
		uint64_t to_end = r->capacity - idx;
		if ((uint64_t)len + RING_REC_HDR > to_end)
			return -EPROTO;
		uint64_t size = ring_rec_size(len);
		if (type == RING_TYPE_PAD) {
			if (size != to_end || limit - pos < size)
				return -EPROTO;
			pos += size;
			continue;
		}
		if (limit - pos < size)
			return -EPROTO;
		out->type = type;
		out->len = len;
		out->data = r->data + idx + RING_REC_HDR;
		out->pos = pos;
		*next = pos + size;
		return 1;
	}
	*next = pos;
	return 0;
}

int ring_next(struct ring *r, struct ring_rec *out)
{
	if (r->rpos == r->wpos_seen && ring_available(r) == 0)
		return 0;
	uint64_t next, before = r->rpos;
	int rc = ring_decode_at(r, r->rpos, r->wpos_seen, out, &next);
	if (rc < 0) {
		/* Bytes that are not a record: skip everything published so far,
		 * count it, and let the caller log. Never trust a bad length. */
		atomic_fetch_add_explicit(&r->hdr->corrupt, 1, memory_order_relaxed);
		r->pending_bytes += r->wpos_seen - r->rpos;
		r->rpos = r->wpos_seen;
		return -EPROTO;
	}
	r->rpos = next;
	r->pending_bytes += next - before;
	if (rc == 1)
		r->pending_records++;
	return rc;
}

void ring_release(struct ring *r)
{
	struct ring_header *h = r->hdr;
	if (r->pending_bytes == 0)
		return;
	/* R1: release; the producer may overwrite these bytes after R2. */
	atomic_store_explicit(&h->read_pos, r->rpos, memory_order_release);
	atomic_fetch_add_explicit(&h->records_out, r->pending_records, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->bytes_out, r->pending_bytes, memory_order_relaxed);
	atomic_store_explicit(&h->consumer_heartbeat_ms, ring_coarse_ms(), memory_order_relaxed);
	h->write_pos_cache = r->wpos_seen;
	r->pending_records = r->pending_bytes = 0;
	/* F4: pairs with F3 in ring_wait_space. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&h->producer_sleeping, memory_order_relaxed))
		ring_futex_wake(&h->space_futex);
}

static int ring_count_ready(struct ring *const *rs, int n)
{
	int ready = 0;
	for (int i = 0; i < n; i++)
		if (rs[i]->rpos != rs[i]->wpos_seen || ring_available(rs[i]) != 0)
			ready++;
	return ready;
}

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif

struct ring_waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

/* Sleeps on all data futexes at once (futex_waitv, Linux 5.16+); falls back
 * to a short wait on the first when the call is missing. */
static void ring_sleep_many(struct ring *const *rs, const uint32_t *seq, int n, int timeout_ms)
{
#ifdef SYS_futex_waitv
	struct ring_waitv w[64];
	for (int i = 0; i < n; i++) {
		w[i].val = seq[i];
		w[i].uaddr = (uint64_t)(uintptr_t)&rs[i]->hdr->data_futex;
		w[i].flags = FUTEX2_SIZE_U32; /* shared: no FUTEX2_PRIVATE */
		w[i].reserved = 0;
	}
	struct timespec abs, *tp = NULL;
	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &abs);
		abs.tv_sec += timeout_ms / 1000;
		abs.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (abs.tv_nsec >= 1000000000L) {
			abs.tv_sec++;
			abs.tv_nsec -= 1000000000L;
		}
		tp = &abs;
	}
	long rc = syscall(SYS_futex_waitv, w, (unsigned)n, 0u, tp, CLOCK_MONOTONIC);
	if (rc >= 0 && rc < n) {
		atomic_fetch_add_explicit(&rs[rc]->hdr->wakeups_recv, 1, memory_order_relaxed);
		return;
	}
	if (rc < 0 && errno != ENOSYS)
		return;
#endif
	int slice = (n == 1 || (timeout_ms >= 0 && timeout_ms < 10)) ? timeout_ms : 10;
	if (ring_futex_wait(&rs[0]->hdr->data_futex, seq[0], slice) == 0)
		atomic_fetch_add_explicit(&rs[0]->hdr->wakeups_recv, 1, memory_order_relaxed);
}

int ring_wait_any(struct ring *const *rs, int n, int timeout_ms)
{
	uint32_t seq[64];
	if (n <= 0 || n > 64)
		return 0;
	int ready = ring_count_ready(rs, n);
	for (int i = 0; !ready && i < RING_SPIN_ROUNDS; i++) {
		ring_cpu_relax();
		ready = ring_count_ready(rs, n);
	}
	if (ready)
		return ready;
	for (int i = 0; i < n; i++) {
		seq[i] = atomic_load_explicit(&rs[i]->hdr->data_futex, memory_order_acquire);
		atomic_store_explicit(&rs[i]->hdr->consumer_sleeping, 1, memory_order_relaxed);
		atomic_store_explicit(&rs[i]->hdr->consumer_heartbeat_ms, ring_coarse_ms(),
				      memory_order_relaxed);
	}
	/* F2: pairs with F1 in ring_publish. */
	atomic_thread_fence(memory_order_seq_cst);
	ready = ring_count_ready(rs, n);
	if (!ready && timeout_ms != 0) {
		ring_sleep_many(rs, seq, n, timeout_ms);
		ready = ring_count_ready(rs, n);
	}
	for (int i = 0; i < n; i++)
		atomic_store_explicit(&rs[i]->hdr->consumer_sleeping, 0, memory_order_relaxed);
	return ready;
}

int ring_wait_data(struct ring *r, int timeout_ms)
{
	struct ring *one[1] = {r};
	return ring_wait_any(one, 1, timeout_ms) > 0;
}

void ring_heartbeat(struct ring *r)
{
	if (r->role == RING_ROLE_PRODUCER)
		atomic_store_explicit(&r->hdr->producer_heartbeat_ms, ring_coarse_ms(), memory_order_relaxed);
	else if (r->role == RING_ROLE_CONSUMER)
		atomic_store_explicit(&r->hdr->consumer_heartbeat_ms, ring_coarse_ms(), memory_order_relaxed);
}

/* ---- observer ---- */

int ring_peek(const struct ring *r, uint64_t pos, struct ring_rec *out, uint64_t *next)
{
	uint64_t limit = atomic_load_explicit(&r->hdr->write_pos, memory_order_acquire);
	return ring_decode_at(r, pos, limit, out, next);
}
