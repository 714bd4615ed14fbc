/* router: see router.h. */
#include "collector/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/records.h"

void router_batch_init(struct router_batch *b, uint32_t naggr)
{
	memset(b, 0, sizeof(*b));
	b->naggr = naggr ? naggr : 1;
}

void router_batch_reset(struct router_batch *b)
{
	b->n = 0;
	b->keys_len = 0;
	memset(b->bytes, 0, sizeof(b->bytes));
}

void router_batch_free(struct router_batch *b)
{
	if (!b)
		return;
	free(b->s);
	free(b->keys);
	memset(b, 0, sizeof(*b));
}

static int router_grow(struct router_batch *b, size_t key_room)
{
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 4096;
		struct router_sample *ns = realloc(b->s, nc * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		b->s = ns;
		b->cap = nc;
	}
	if (b->keys_cap - b->keys_len < key_room) {
		size_t nc = b->keys_cap ? b->keys_cap * 2 : 262144;
		while (nc - b->keys_len < key_room)
			nc *= 2;
		uint8_t *nk = realloc(b->keys, nc);
		if (!nk)
			return -ENOMEM;
		b->keys = nk;
		b->keys_cap = nc;
	}
	return 0;
}

/* Records the sample whose key was just written at keys + keys_len. */
static void router_push(struct router_batch *b, size_t key_len, int64_t ts_ms, double value)
{
	struct router_sample *s = &b->s[b->n++];
	s->id = series_id(b->keys + b->keys_len, key_len);
	s->ts_ms = ts_ms;
	s->value = value;
	s->key_off = (uint32_t)b->keys_len;
	s->key_len = (uint16_t)key_len;
	s->dest = (uint16_t)(s->id % b->naggr);
	b->bytes[s->dest] += rec_samples_cost(key_len);
	b->keys_len += key_len;
}

int router_add(struct router_batch *b, const char *name, size_t name_len,
	       struct series_label *labels, size_t nlabels, int64_t ts_ms, double value)
{
	int rc = router_grow(b, SERIES_KEY_MAX);
	if (rc)
		return rc;
	int len = series_key_build(b->keys + b->keys_len, SERIES_KEY_MAX, name, name_len, labels, nlabels);
	if (len < 0)
		return len;
	router_push(b, (size_t)len, ts_ms, value);
	return 0;
}

int router_add_key(struct router_batch *b, const uint8_t *key, size_t key_len, int64_t ts_ms, double value)
{
	if (key_len == 0 || key_len > SERIES_KEY_MAX)
		return -E2BIG;
	int rc = router_grow(b, key_len);
	if (rc)
		return rc;
	memcpy(b->keys + b->keys_len, key, key_len);
	router_push(b, key_len, ts_ms, value);
	return 0;
}

/* Payload bytes of one sample record on `ring`: ROUTER_RECORD_MAX, or less
 * on a ring too small to take records that large (the configuration allows
 * 64 KiB rings; ring_reserve refuses more than a quarter of the area). */
static uint32_t router_record_max(const struct ring *ring)
{
	uint32_t m = ring_max_payload(ring->capacity) & ~7u;
	return m < ROUTER_RECORD_MAX ? m : ROUTER_RECORD_MAX;
}

/* Ring bytes a destination's share takes in the worst case: its samples
 * plus, per record, the batch and ring headers; a padding record at the wrap
 * (shorter than one reservation); and the whole last reservation, which
 * must fit even though only part of it is committed. */
static uint64_t router_ring_need(uint64_t sample_bytes, uint32_t rec_max)
{
	uint64_t per = rec_max - REC_SAMPLES_HDR - REC_SAMPLE_ENTRY - SERIES_KEY_MAX;
	uint64_t records = sample_bytes / per + 1;
	return sample_bytes + records * (REC_SAMPLES_HDR + RING_REC_HDR) + 2 * ring_rec_size(rec_max);
}

/* Writes destination d's samples as records; publishes as it goes. */
static int router_write_dest(struct ring *ring, struct router_batch *b, uint16_t d, int wait_ms)
{
	struct rec_samples_writer w;
	uint32_t rec_max = router_record_max(ring);
	int open = 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct router_sample *s = &b->s[i];
		if (s->dest != d)
			continue;
		for (;;) {
			if (!open) {
				void *p = ring_reserve(ring, rec_max, wait_ms);
				if (!p)
					return -errno;
				rec_samples_begin(&w, p, rec_max);
				open = 1;
			}
			if (rec_samples_add(&w, s->id, b->keys + s->key_off, s->key_len, s->ts_ms,
					    s->value, 0, NULL) == 0)
				break;
			ring_commit(ring, REC_SAMPLES, (uint32_t)rec_samples_end(&w));
			open = 0;
		}
	}
	if (open)
		ring_commit(ring, REC_SAMPLES, (uint32_t)rec_samples_end(&w));
	ring_publish(ring);
	return 0;
}

int router_commit(struct router *r, struct router_batch *b, int wait_ms)
{
	if (b->n == 0)
		return 0;
	/* All or nothing when it fits: wait for every share's room first. We are
	 * the only producer on these rings, so room only grows meanwhile. */
	for (uint32_t d = 0; d < r->naggr; d++) {
		if (!b->bytes[d])
			continue;
		uint64_t need = router_ring_need(b->bytes[d], router_record_max(&r->rings[d]));
		if (need > r->rings[d].capacity)
			continue; /* too big to be atomic: goes in pieces below */
		int rc = ring_wait_space(&r->rings[d], need, wait_ms);
		if (rc == -ETIMEDOUT) {
			atomic_fetch_add_explicit(&r->rings[d].hdr->drops, 1, memory_order_relaxed);
			return rc;
		}
	}
	for (uint32_t d = 0; d < r->naggr; d++) {
		if (!b->bytes[d])
			continue;
		int rc = router_write_dest(&r->rings[d], b, (uint16_t)d, wait_ms);
		if (rc)
			return rc;
	}
	return 0;
}
