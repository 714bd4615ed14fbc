/* ring: lock-free single-producer/single-consumer ring of variable-length
 * records in POSIX shared memory. The only channel between mcs stages.
 *
 * Layout: one 4096-byte header page, then a power-of-two data area.
 * Positions (write_pos, read_pos) are free-running uint64_t byte counters;
 * the index is pos & (capacity - 1); fill = write_pos - read_pos (unsigned).
 *
 * Records: an 8-byte header {uint32 len, uint32 type} then len payload
 * bytes, padded to 8. A record never wraps: when it does not fit before the
 * end of the area, the producer writes a padding record (type RING_TYPE_PAD)
 * up to the end and starts again at index 0.
 *
 * Protocol:
 *  - The producer reserves, writes and commits records into its private
 *    cursor, then publishes them all with one release store of write_pos.
 *    Nothing unpublished is ever visible: a producer that crashes mid-batch
 *    leaves no half record behind.
 *  - The consumer reads records up to write_pos (acquire), processes them,
 *    and releases them with one release store of read_pos. A consumer that
 *    crashes sees its unreleased batch again after it re-attaches:
 *    delivery is at-least-once; consumers drop exact duplicates.
 *  - Sleeping: each side spins briefly, then sets its sleeping flag, issues
 *    a full fence, re-checks, and waits on a futex word in the header. The
 *    other side stores its position, issues a full fence, and wakes the
 *    futex only if the flag is set. Acquire/release alone would lose wakes.
 *
 * Not here: what the records mean (common/records.h), who creates which ring
 * (mcs-launch), and any locking: exactly one producer and one consumer.
 */
#ifndef MCS_RING_H
#define MCS_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/segment.h"

#define RING_MAGIC        0x31474e4952534d43ULL /* "CMSRING1" little-endian */
#define RING_VERSION      1u                     /* layout major version */
#define RING_HDR_SIZE     4096u
#define RING_REC_HDR      8u
#define RING_TYPE_PAD     0u
#define RING_MIN_CAPACITY 4096u
#define RING_MAX_CAPACITY (1ull << 34)

/* What the producer does when the ring stays full. */
enum ring_full_policy {
	RING_FULL_BLOCK = 0, /* wait up to the caller's bound, then -ETIMEDOUT */
	RING_FULL_DROP = 1,  /* fail at once and count a drop */
};

enum ring_role {
	RING_ROLE_OBSERVER = 0, /* read-only view (mcs-ringctl) */
	RING_ROLE_PRODUCER = 1,
	RING_ROLE_CONSUMER = 2,
};

struct ring_header {
	/* Identity: written once by the creator, magic last (release). */
	_Atomic uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;          /* RING_HDR_SIZE */
	uint64_t capacity;          /* data area bytes, power of two */
	uint32_t policy;            /* enum ring_full_policy */
	uint32_t pad0;
	int64_t created_ms;         /* CLOCK_REALTIME ms */
	char name[64];              /* the ring's short name, e.g. "c0-a1" */
	uint8_t pad_identity[256 - 104];

	/* Producer line(s): written only by the producer. */
	_Atomic uint64_t write_pos;      /* published bytes; pairs with consumer's acquire load */
	uint64_t read_pos_cache;         /* producer's last seen read_pos (informational) */
	_Atomic uint32_t producer_pid;   /* 0 when none attached */
	_Atomic uint32_t producer_sleeping; /* 1 while the producer waits for space */
	_Atomic uint32_t data_futex;     /* bumped by the producer to wake the consumer */
	uint32_t pad1;
	_Atomic uint64_t producer_heartbeat_ms; /* CLOCK_MONOTONIC ms */
	_Atomic uint64_t records_in;     /* records published */
	_Atomic uint64_t bytes_in;       /* record bytes published, headers and padding included */
	_Atomic uint64_t full_waits;     /* reservations that had to wait for space */
	_Atomic uint64_t drops;          /* records refused under RING_FULL_DROP or timeout */
	_Atomic uint64_t wakeups_sent;   /* futex wakes of a sleeping consumer */
	uint8_t pad_producer[256 - 80];

	/* Consumer line(s): written only by the consumer. */
	_Atomic uint64_t read_pos;       /* released bytes; pairs with producer's acquire load */
	uint64_t write_pos_cache;        /* consumer's last seen write_pos */
	_Atomic uint32_t consumer_pid;
	_Atomic uint32_t consumer_sleeping; /* 1 while the consumer waits for data */
	_Atomic uint32_t space_futex;    /* bumped by the consumer to wake the producer */
	uint32_t pad2;
	_Atomic uint64_t consumer_heartbeat_ms;
	_Atomic uint64_t records_out;    /* records released */
	_Atomic uint64_t bytes_out;      /* bytes released */
	_Atomic uint64_t wakeups_recv;   /* futex waits that ended by a wake */
	_Atomic uint64_t corrupt;        /* damaged records skipped */
	uint8_t pad_consumer[256 - 80];
};

_Static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomics");
_Static_assert(__atomic_always_lock_free(8, 0), "64-bit atomics must be lock-free");
_Static_assert(__builtin_offsetof(struct ring_header, write_pos) == 256, "producer line");
_Static_assert(__builtin_offsetof(struct ring_header, read_pos) == 512, "consumer line");
_Static_assert(sizeof(struct ring_header) <= RING_HDR_SIZE, "header fits its page");

/* A process's handle. The caller owns it; ring_attach fills it in place and
 * ring_detach tears it down. Unpublished cursors live here, not in shm. */
struct ring {
	struct segment seg;
	struct ring_header *hdr;
	uint8_t *data;
	uint64_t capacity;
	uint64_t mask;
	enum ring_role role;
	uint64_t wpos;          /* producer: end of committed, maybe unpublished records */
	uint64_t reserved_at;   /* producer: position of the open reservation's header */
	uint32_t reserved_len;  /* producer: payload bytes of the open reservation, 0 if none */
	uint64_t rpos;          /* consumer: end of consumed, unreleased records */
	uint64_t wpos_seen;     /* consumer: write_pos from the last acquire load */
	uint64_t pending_records; /* committed/consumed since the last publish/release */
	uint64_t pending_bytes;
};

/* A record as the consumer sees it: a view into shared memory, valid until
 * ring_release(). */
struct ring_rec {
	uint32_t type;
	uint32_t len;
	const uint8_t *data;
	uint64_t pos;           /* position of the record header */
};

/* Bytes a record of `len` payload bytes takes in the ring. */
static inline uint64_t ring_rec_size(uint64_t len)
{
	return RING_REC_HDR + ((len + 7u) & ~(uint64_t)7u);
}

/* Largest payload a ring of this capacity accepts (a quarter of the area,
 * so a padding record never starves a maximal record). */
static inline uint32_t ring_max_payload(uint64_t capacity)
{
	uint64_t m = capacity / 4 - RING_REC_HDR;
	return m > 0x7ffffff0u ? 0x7ffffff0u : (uint32_t)m;
}

/* Creates the segment `shm_name` holding a ring of `capacity` bytes, or
 * attaches when it already exists with that capacity. Idempotent and
 * race-free. Returns 0; -EINVAL for a capacity that is not a power of two
 * in range; -EEXIST when it exists with another size; -EPROTO for a damaged
 * header; or -errno. The handle is left detached on failure. */
int ring_create(struct ring *r, const char *shm_name, const char *short_name,
		uint64_t capacity, enum ring_full_policy policy, enum ring_role role);

/* Attaches to an existing ring in `role`. Producer: resumes at the published
 * write_pos and records its pid. Consumer: resumes at read_pos (replaying
 * anything unreleased). Observer: maps read-only.
 * Returns 0; -ENOENT when absent; -EPROTO with a bad magic, version,
 * header size or capacity (the header is damaged: refused); or -errno. */
int ring_attach(struct ring *r, const char *shm_name, enum ring_role role);

/* Detaches: clears this side's pid (producer/consumer). Accepts a detached
 * or zeroed handle. Unpublished records are discarded. */
void ring_detach(struct ring *r);

/* ---- producer ---- */

/* Reserves room for a record of up to `max_len` payload bytes and returns a
 * pointer to its payload (8-byte aligned), or NULL with errno set:
 * EMSGSIZE when max_len exceeds ring_max_payload(); EAGAIN when full and
 * timeout_ms is 0 or the policy is RING_FULL_DROP (a drop is counted);
 * ETIMEDOUT when the ring stayed full for timeout_ms (counted as a drop).
 * Waiting publishes what is committed first, so the consumer can progress.
 * At most one reservation is open; ring_commit closes it. */
void *ring_reserve(struct ring *r, uint32_t max_len, int timeout_ms);

/* Commits the open reservation as a record of `type` with `len` payload
 * bytes (len <= the reserved max_len). Not yet visible: see ring_publish. */
void ring_commit(struct ring *r, uint32_t type, uint32_t len);

/* Copies one record in: reserve + memcpy + commit. Returns 0, or the
 * negative errno of ring_reserve. */
int ring_write(struct ring *r, uint32_t type, const void *payload, uint32_t len, int timeout_ms);

/* Publishes every committed record with one release store of write_pos and
 * wakes the consumer if it sleeps. Cheap when nothing is pending. */
void ring_publish(struct ring *r);

/* Bytes the producer could still commit now (from its cached read_pos). */
uint64_t ring_free_bytes(struct ring *r);

/* Waits until `bytes` of ring space are free (counted from the producer's
 * cursor), publishing first. Returns 0, -ETIMEDOUT, or -EMSGSIZE when the
 * ring could never hold that many. */
int ring_wait_space(struct ring *r, uint64_t bytes, int timeout_ms);

/* ---- consumer ---- */

/* Takes the next record into *out. Returns 1 with a record, 0 when nothing
 * more is published, -EPROTO when the bytes at the cursor are not a valid
 * record (the ring is then skipped to write_pos and the loss counted). */
int ring_next(struct ring *r, struct ring_rec *out);

/* Releases everything taken by ring_next since the last release, with one
 * release store of read_pos, and wakes the producer if it waits for space. */
void ring_release(struct ring *r);

/* Waits until the ring has unconsumed records. Returns 1 when data is
 * there, 0 on timeout (timeout_ms < 0 waits forever). */
int ring_wait_data(struct ring *r, int timeout_ms);

/* Waits until any of n rings (n <= 64) has unconsumed records. Returns the
 * number of rings with data (0 on timeout). */
int ring_wait_any(struct ring *const *rs, int n, int timeout_ms);

/* Unconsumed bytes published (from the consumer's cursor). */
uint64_t ring_available(struct ring *r);

/* Marks this side alive (heartbeat), without any other effect. */
void ring_heartbeat(struct ring *r);

/* ---- observer ---- */

/* Decodes the record at `pos` without consuming anything, skipping padding.
 * Returns 1 and sets *out and *next; 0 when pos reached write_pos; -EPROTO
 * for bytes that are not a record. Races with a live producer are harmless:
 * only published bytes below write_pos are read. */
int ring_peek(const struct ring *r, uint64_t pos, struct ring_rec *out, uint64_t *next);

#endif
