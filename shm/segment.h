/* segment: named POSIX shared-memory segments with a checked header.
 *
 * A segment is what every shared structure of mcs lives in (rings, the
 * control block, alert tables). This module only creates, maps, checks and
 * unmaps; it knows nothing of what is inside past the first 16 bytes.
 *
 * Invariants:
 *  - The first 8 bytes of every segment are an _Atomic uint64_t magic that
 *    the creator stores last, with release order, after it initialised the
 *    rest. An attacher that sees the magic sees a fully initialised header.
 *  - Creation is idempotent and race-free: O_CREAT|O_EXCL decides who
 *    initialises; everyone else waits (bounded) for the magic.
 */
#ifndef MCS_SEGMENT_H
#define MCS_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#define SEGMENT_NAME_MAX 128

struct segment {
	void *base;          /* mapping, NULL when closed */
	size_t size;         /* mapping length in bytes */
	int created;         /* 1 when this call created and must initialise it */
	char name[SEGMENT_NAME_MAX];
};

/* Name of an instance's segment: "/mcs.<instance>.<what>" into buf. Returns
 * 0, or -ENAMETOOLONG / -EINVAL (instance with '/' or empty). */
int segment_name(char *buf, size_t len, const char *instance, const char *what);

/* Opens the named segment, creating it with `size` bytes when absent.
 * seg->created tells the caller whether it must initialise the contents and
 * then publish the magic with segment_publish(). When the segment exists,
 * its size must be `size` (else -EBADF... see below).
 * Returns 0, -EEXIST when it exists with another size, or -errno. */
int segment_open(struct segment *seg, const char *name, size_t size);

/* Maps an existing segment of any size, for readers that learn the size
 * from the header (ringctl, attach). writable=0 maps read-only.
 * Returns 0, -ENOENT when absent, or -errno. */
int segment_map_existing(struct segment *seg, const char *name, int writable);

/* Publishes the magic with release order: the last store of the creator. */
void segment_publish(struct segment *seg, uint64_t magic);

/* Waits up to timeout_ms for the magic to appear. Returns 0 when it equals
 * `magic`, -ETIMEDOUT when still zero, -EPROTO when it holds another value
 * (a damaged or foreign segment). */
int segment_wait_magic(const struct segment *seg, uint64_t magic, int timeout_ms);

/* Unmaps; accepts a closed segment. */
void segment_close(struct segment *seg);

/* Removes the name; the memory lives on while mapped. Returns 0 or -errno. */
int segment_unlink(const char *name);

/* Milliseconds of CLOCK_MONOTONIC (heartbeats) and CLOCK_REALTIME. */
uint64_t segment_now_mono_ms(void);
int64_t segment_now_real_ms(void);

#endif
