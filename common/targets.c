/* targets: see targets.h. The scrape-target table of one collector in
 * shared memory, with a seqlock per entry.
 *
 * What it is: create/attach/close of "/mcs.<instance>.targets.<i>", slot
 * allocation, and the two halves of the per-entry seqlock. What it is not:
 * scraping (collector/scrape.c) or rendering (apiserver/targetsapi.c).
 *
 * Seqlock per entry, the protocol of common/alerts.c (Boehm, MSPC 2012):
 *
 *   writer                                reader
 *   B1: seq = s + 1            (relaxed)  W1: s1 = seq              (acquire)
 *   B2: fence                  (release)      retry while s1 is odd
 *       update the entry                  W2: copy the entry        (relaxed words)
 *   E1: seq = s + 2            (release)  W3: fence                 (acquire)
 *                                         W4: s2 = seq (relaxed); retry unless s1 == s2
 *
 * E1 pairs with W1 (an even seq read means the update is visible); B2
 * pairs with W3 (a copy that saw any store of a later update sees at W4 at
 * least its odd seq). `count` only grows while the writer runs (release
 * store after the slot is initialised, acquire load by readers).
 *
 * Invariants: one writer process per table; entries are multiples of 8
 * bytes and 8-byte aligned (asserted), so word copies cover them exactly.
 */
#include "common/targets.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#define TARGETS_READ_TRIES 1000

_Static_assert(sizeof(struct targets_entry) % 8 == 0, "entries copy as whole words");
_Static_assert(__builtin_offsetof(struct targets_table, e) % 8 == 0, "entries 8-byte aligned");

static int targets_name(char *buf, size_t len, const char *instance, uint32_t index)
{
	char what[32];
	snprintf(what, sizeof(what), "targets.%u", index);
	return segment_name(buf, len, instance, what);
}

/* One attempt at opening the writer's table. Returns 0, -EEXIST (another
 * size), -EPROTO (foreign) or -errno. */
static int targets_open_once(struct targets *tg, const char *name, uint32_t index)
{
	int rc = segment_open(&tg->seg, name, sizeof(struct targets_table));
	if (rc != 0)
		return rc;
	tg->t = tg->seg.base;
	if (!tg->seg.created) {
		rc = segment_wait_magic(&tg->seg, TARGETS_MAGIC, 200);
		if (rc == 0 && (tg->t->version != TARGETS_VERSION || tg->t->index != index))
			rc = -EPROTO;
		if (rc == -ETIMEDOUT)
			rc = 0; /* a creator died before publishing: we are the only writer */
		if (rc != 0) {
			segment_close(&tg->seg);
			tg->t = NULL;
			return rc;
		}
	}
	return 0;
}

int targets_create(struct targets *tg, const char *instance, uint32_t index)
{
	char name[SEGMENT_NAME_MAX];
	memset(tg, 0, sizeof(*tg));
	int rc = targets_name(name, sizeof(name), instance, index);
	if (rc != 0)
		return rc;
	rc = targets_open_once(tg, name, index);
	if (rc == -EEXIST || rc == -EPROTO) {
		segment_unlink(name);
		rc = targets_open_once(tg, name, index);
	}
	if (rc != 0) {
		memset(tg, 0, sizeof(*tg));
		return rc;
	}
	struct targets_table *t = tg->t;
	uint32_t n = atomic_load_explicit(&t->count, memory_order_relaxed);
	if (n > TARGETS_MAX)
		n = TARGETS_MAX;
	/* Empty every slot through its seqlock so that readers that are
	 * attached already see them go. */
	for (uint32_t i = 0; i < n; i++) {
		struct targets_entry *e = targets_write_begin(tg, i);
		e->used = 0;
		targets_write_end(tg, i);
	}
	t->version = TARGETS_VERSION;
	t->index = index;
	atomic_store_explicit(&t->count, 0, memory_order_release);
	if (tg->seg.created || atomic_load_explicit(&t->magic, memory_order_acquire) != TARGETS_MAGIC)
		segment_publish(&tg->seg, TARGETS_MAGIC);
	return 0;
}

int targets_attach(struct targets *tg, const char *instance, uint32_t index)
{
	char name[SEGMENT_NAME_MAX];
	memset(tg, 0, sizeof(*tg));
	int rc = targets_name(name, sizeof(name), instance, index);
	if (rc != 0)
		return rc;
	rc = segment_map_existing(&tg->seg, name, 0);
	if (rc != 0)
		return rc;
	if (tg->seg.size < sizeof(struct targets_table)) {
		rc = -EPROTO;
		goto fail;
	}
	tg->t = tg->seg.base;
	/* Acquire inside: pairs with segment_publish's release store. */
	rc = segment_wait_magic(&tg->seg, TARGETS_MAGIC, 100);
	if (rc == -ETIMEDOUT)
		rc = -EAGAIN;
	if (rc == 0 && (tg->t->version != TARGETS_VERSION || tg->t->index != index))
		rc = -EPROTO;
	if (rc != 0)
		goto fail;
	return 0;
fail:
	segment_close(&tg->seg);
	memset(tg, 0, sizeof(*tg));
	return rc;
}

void targets_close(struct targets *tg)
{
	if (!tg)
		return;
	segment_close(&tg->seg);
	tg->t = NULL;
}

struct targets_entry *targets_write_begin(struct targets *tg, uint32_t slot)
{
	struct targets_entry *e = &tg->t->e[slot];
	uint32_t s = atomic_load_explicit(&e->seq, memory_order_relaxed);
	if (s & 1u)
		s++; /* left odd by a writer that died mid-update */
	/* B1: relaxed; ordered before the update's stores by B2. */
	atomic_store_explicit(&e->seq, s + 1u, memory_order_relaxed);
	/* B2: release fence, pairs with the reader's acquire fence W3. */
	atomic_thread_fence(memory_order_release);
	return e;
}

void targets_write_end(struct targets *tg, uint32_t slot)
{
	struct targets_entry *e = &tg->t->e[slot];
	uint32_t s = atomic_load_explicit(&e->seq, memory_order_relaxed);
	/* E1: release, pairs with the reader's acquire load W1. */
	atomic_store_explicit(&e->seq, s + 1u, memory_order_release);
}

int targets_alloc(struct targets *tg)
{
	struct targets_table *t = tg->t;
	uint32_t n = atomic_load_explicit(&t->count, memory_order_relaxed);
	uint32_t slot = UINT32_MAX;
	for (uint32_t i = tg->free_hint; i < n; i++)
		if (!t->e[i].used) {
			slot = i;
			break;
		}
	if (slot == UINT32_MAX) {
		if (n >= TARGETS_MAX)
			return -ENOSPC;
		slot = n;
	}
	struct targets_entry *e = targets_write_begin(tg, slot);
	/* Clear everything but the seqlock word. */
	memset((char *)e + sizeof(e->seq), 0, sizeof(*e) - sizeof(e->seq));
	e->used = 1;
	targets_write_end(tg, slot);
	if (slot == n)
		/* Release: the initialised slot is visible before the new count. */
		atomic_store_explicit(&t->count, n + 1, memory_order_release);
	tg->free_hint = slot + 1;
	return (int)slot;
}

void targets_release(struct targets *tg, uint32_t slot)
{
	struct targets_entry *e = targets_write_begin(tg, slot);
	e->used = 0;
	targets_write_end(tg, slot);
	if (slot < tg->free_hint)
		tg->free_hint = slot;
}

int targets_next_dropped(const struct targets *tg, uint32_t from)
{
	uint32_t n = atomic_load_explicit(&tg->t->count, memory_order_relaxed);
	for (uint32_t i = from; i < n && i < TARGETS_MAX; i++)
		if (tg->t->e[i].used && tg->t->e[i].dropped)
			return (int)i;
	return -ENOENT;
}

uint32_t targets_count(const struct targets *tg)
{
	/* Acquire: pairs with targets_alloc's release store. */
	uint32_t n = atomic_load_explicit(&tg->t->count, memory_order_acquire);
	return n > TARGETS_MAX ? TARGETS_MAX : n;
}

/* Word copy with relaxed atomic loads: the W2 step, racing the writer. */
static void targets_copy_words(void *dst, const void *src, size_t n)
{
	uint64_t *d = dst;
	const uint64_t *s = src;
	for (size_t i = 0; i < n / 8; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

int targets_read(const struct targets *tg, uint32_t slot, struct targets_entry *out)
{
	const struct targets_entry *e = &tg->t->e[slot];
	for (int tries = 0; tries < TARGETS_READ_TRIES; tries++) {
		if (tries > 0 && tries % 16 == 0)
			sched_yield();
		/* W1: acquire, pairs with the writer's E1. */
		uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1u)
			continue;
		targets_copy_words(out, e, sizeof(*e));
		/* W3: acquire fence, pairs with the writer's B2. */
		atomic_thread_fence(memory_order_acquire);
		/* W4 */
		uint32_t s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s1 != s2)
			continue;
		if (!out->used)
			return 0;
		/* Outside input: bound what the renderer will walk. */
		if (out->labels_len > sizeof(out->labels))
			out->labels_len = 0;
		if (out->discovered_len > sizeof(out->discovered))
			out->discovered_len = 0;
		out->pool[sizeof(out->pool) - 1] = '\0';
		out->url[sizeof(out->url) - 1] = '\0';
		out->last_error[sizeof(out->last_error) - 1] = '\0';
		return 1;
	}
	return -EAGAIN;
}

size_t targets_put_labels(uint8_t *dst, size_t cap, const struct relabel_labels *ls, int with_reserved)
{
	size_t off = 0;
	for (size_t i = 0; i < ls->n; i++) {
		const char *n = ls->l[i].name, *v = ls->l[i].value ? ls->l[i].value : "";
		if (!with_reserved && n[0] == '_' && n[1] == '_')
			continue;
		size_t nl = strlen(n), vl = strlen(v);
		if (nl > 0xffff || vl > 0xffff || off + 4 + nl + vl > cap)
			continue;
		dst[off] = (uint8_t)nl;
		dst[off + 1] = (uint8_t)(nl >> 8);
		memcpy(dst + off + 2, n, nl);
		off += 2 + nl;
		dst[off] = (uint8_t)vl;
		dst[off + 1] = (uint8_t)(vl >> 8);
		memcpy(dst + off + 2, v, vl);
		off += 2 + vl;
	}
	return off;
}

void targets_put_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}
