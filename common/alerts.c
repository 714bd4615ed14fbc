/* alerts: see alerts.h. The alert-state table of one alerter in shared
 * memory, and its seqlock.
 *
 * What it is: create/attach/close of "/mcs.<instance>.alerts.<k>" and the
 * two halves of a seqlock. What it is not: the state machine that decides
 * what goes into the table (alerter/engine.c) or any rendering (apiserver).
 *
 * Seqlock (after Boehm, "Can seqlocks get along with programming language
 * memory models?", MSPC 2012), with the pairings used below:
 *
 *   writer                                reader
 *   s = seq (we are its only writer)      W1: s1 = seq              (acquire)
 *   B1: seq = s + 1            (relaxed)      retry while s1 is odd
 *   B2: fence                  (release)  W2: copy the entries      (relaxed)
 *       update entries                    W3: fence                 (acquire)
 *   E1: seq = s + 2            (release)  W4: s2 = seq              (relaxed)
 *                                             retry unless s1 == s2
 *
 *  - E1 pairs with W1: a reader that reads the even value of E1 sees every
 *    store of that update.
 *  - B2 pairs with W3: a reader that copied any store made after B2 (by a
 *    later update) sees at W4 at least the odd value B1 wrote, so s2 != s1
 *    and the torn copy is discarded.
 * For the fence pairing to be defined behaviour the data accesses must be
 * atomic: the reader copies with relaxed 64-bit atomic loads, and writers
 * should store with alerts_word_store-like relaxed stores (alerter/engine.c
 * does). A plain memcpy by a writer would be a formal data race that the
 * retry makes harmless in practice on every supported target.
 *
 * Invariants: the table is written by exactly one process, alerter k; the
 * entry array starts 8-byte aligned and every entry is a multiple of 8
 * bytes (asserted below), so word copies cover it exactly. Readers never
 * block the writer.
 */
#include "common/alerts.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ALERTS_READ_TRIES 1000

_Static_assert(sizeof(struct alerts_entry) % 8 == 0, "entries copy as whole words");
_Static_assert(__builtin_offsetof(struct alerts_table, e) % 8 == 0, "entries 8-byte aligned");
_Static_assert(__atomic_always_lock_free(4, 0), "32-bit atomics must be lock-free");

/* The segment name of alerter `index`'s table. Returns 0 or -errno. */
static int alerts_name(char *buf, size_t len, const char *instance, uint32_t index)
{
	char what[32];
	snprintf(what, sizeof(what), "alerts.%u", index);
	return segment_name(buf, len, instance, what);
}

/* Initialises a table nobody has published yet (fresh, or left unpublished
 * by a creator that died). No reader looks before the magic, so plain
 * stores are enough; segment_publish's release store orders them. */
static void alerts_init_table(struct alerts *a, uint32_t index)
{
	struct alerts_table *t = a->t;
	t->version = ALERTS_VERSION;
	t->index = index;
	atomic_store_explicit(&t->seq, 0, memory_order_relaxed);
	t->count = 0;
	t->updated_ms = 0;
	segment_publish(&a->seg, ALERTS_MAGIC);
}

/* One attempt at opening the writer's table. Returns 0; -EEXIST (other
 * size), -EPROTO (foreign magic, other version or index) or -errno. */
static int alerts_open_once(struct alerts *a, const char *name, uint32_t index)
{
	int rc = segment_open(&a->seg, name, sizeof(struct alerts_table));
	if (rc != 0)
		return rc;
	a->t = a->seg.base;
	if (a->seg.created) {
		alerts_init_table(a, index);
		return 0;
	}
	rc = segment_wait_magic(&a->seg, ALERTS_MAGIC, 200);
	if (rc == -ETIMEDOUT) {
		/* The creator died before publishing. We are the table's only
		 * writer, so nobody else will: initialise it ourselves. */
		memset(a->t, 0, sizeof(*a->t));
		alerts_init_table(a, index);
		return 0;
	}
	if (rc == 0 && (a->t->version != ALERTS_VERSION || a->t->index != index ||
			a->t->count > ALERTS_MAX))
		rc = -EPROTO;
	if (rc != 0) {
		segment_close(&a->seg);
		a->t = NULL;
	}
	return rc;
}

/* Writer: opens (creating when absent) the table of alerter `index`. An
 * existing table keeps its entries so a restarted alerter can recover its
 * state from them. A table that is damaged, of another layout or another
 * size is unlinked and created afresh (this process is its only writer;
 * readers re-attach). A seq left odd by a writer that died mid-update is
 * made even again (seq + 1): the caller must treat the entries as
 * unverified, which alerter/engine.c does when it recovers.
 * Returns 0 or -errno; *a is closed on failure. */
int alerts_create(struct alerts *a, const char *instance, uint32_t index)
{
	char name[SEGMENT_NAME_MAX];
	memset(a, 0, sizeof(*a));
	int rc = alerts_name(name, sizeof(name), instance, index);
	if (rc != 0)
		return rc;
	rc = alerts_open_once(a, name, index);
	if (rc == -EEXIST || rc == -EPROTO) {
		segment_unlink(name);
		rc = alerts_open_once(a, name, index);
	}
	if (rc != 0) {
		memset(a, 0, sizeof(*a));
		return rc;
	}
	uint32_t s = atomic_load_explicit(&a->t->seq, memory_order_relaxed);
	if (s & 1u) {
		/* Release: like E1, publishes whatever the dead writer left; the
		 * entries get validated by the recovering writer anyway. */
		atomic_store_explicit(&a->t->seq, s + 1u, memory_order_release);
	}
	return 0;
}

/* Reader: maps the table of alerter `index` read-only and checks it.
 * Returns 0; -ENOENT when the alerter never created it; -EAGAIN while its
 * creator has not published it yet; -EPROTO for a foreign magic, another
 * version, a size too small for the layout, or a wrong index; or -errno.
 * *a is closed on failure. */
int alerts_attach(struct alerts *a, const char *instance, uint32_t index)
{
	char name[SEGMENT_NAME_MAX];
	memset(a, 0, sizeof(*a));
	int rc = alerts_name(name, sizeof(name), instance, index);
	if (rc != 0)
		return rc;
	rc = segment_map_existing(&a->seg, name, 0);
	if (rc != 0)
		return rc;
	if (a->seg.size < sizeof(struct alerts_table)) {
		rc = -EPROTO;
		goto fail;
	}
	a->t = a->seg.base;
	/* Acquire inside: pairs with segment_publish's release store, so the
	 * version and index read below are the initialised ones. */
	rc = segment_wait_magic(&a->seg, ALERTS_MAGIC, 100);
	if (rc == -ETIMEDOUT)
		rc = -EAGAIN;
	if (rc == 0 && (a->t->version != ALERTS_VERSION || a->t->index != index))
		rc = -EPROTO;
	if (rc != 0)
		goto fail;
	return 0;
fail:
	segment_close(&a->seg);
	memset(a, 0, sizeof(*a));
	return rc;
}

/* Unmaps the table; accepts a closed or zeroed handle. The segment stays:
 * it outlives the alerter on purpose (recovery after a restart). */
void alerts_close(struct alerts *a)
{
	if (!a)
		return;
	segment_close(&a->seg);
	a->t = NULL;
}

/* Writer: makes seq odd (B1) and fences (B2) so that no store of the update
 * can be seen without the odd seq. Only the table's single writer calls it;
 * calls do not nest. */
void alerts_write_begin(struct alerts *a)
{
	uint32_t s = atomic_load_explicit(&a->t->seq, memory_order_relaxed);
	/* B1: relaxed; ordered before the update's stores by B2. */
	atomic_store_explicit(&a->t->seq, s + 1u, memory_order_relaxed);
	/* B2: release fence, pairs with the reader's acquire fence W3. */
	atomic_thread_fence(memory_order_release);
}

/* Writer: ends the update (E1): seq even again, every store of the update
 * published with it. */
void alerts_write_end(struct alerts *a)
{
	uint32_t s = atomic_load_explicit(&a->t->seq, memory_order_relaxed);
	/* E1: release, pairs with the reader's acquire load W1. */
	atomic_store_explicit(&a->t->seq, s + 1u, memory_order_release);
}

/* Copies n bytes (a multiple of 8, both 8-byte aligned) with relaxed
 * atomic 64-bit loads: the W2 step, racing the writer by design. */
static void alerts_copy_words(void *dst, const void *src, size_t n)
{
	uint64_t *d = dst;
	const uint64_t *s = src;
	for (size_t i = 0; i < n / 8; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

/* Reader: copies a consistent snapshot of up to max entries into out.
 * Returns the count copied (<= max), or -EAGAIN when every one of the
 * ALERTS_READ_TRIES attempts overlapped an update. Never blocks the writer;
 * yields the CPU between failed attempts so a writer preempted mid-update
 * on the same core can finish. */
int alerts_snapshot(const struct alerts *a, struct alerts_entry *out, size_t max)
{
	struct alerts_table *t = a->t;
	for (int tries = 0; tries < ALERTS_READ_TRIES; tries++) {
		if (tries > 0 && tries % 16 == 0)
			sched_yield();
		/* W1: acquire, pairs with the writer's E1. */
		uint32_t s1 = atomic_load_explicit(&t->seq, memory_order_acquire);
		if (s1 & 1u)
			continue;
		uint32_t n = __atomic_load_n(&t->count, __ATOMIC_RELAXED);
		if (n > ALERTS_MAX)
			n = ALERTS_MAX; /* torn or damaged: the seq check decides */
		if (n > max)
			n = (uint32_t)max;
		/* W2: relaxed word copies (see the file comment). */
		alerts_copy_words(out, t->e, (size_t)n * sizeof(struct alerts_entry));
		/* W3: acquire fence, pairs with the writer's B2. */
		atomic_thread_fence(memory_order_acquire);
		/* W4: relaxed; ordered after the copy by W3. */
		uint32_t s2 = atomic_load_explicit(&t->seq, memory_order_relaxed);
		if (s1 == s2)
			return (int)n;
	}
	return -EAGAIN;
}
