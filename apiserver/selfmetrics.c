/* selfmetrics: see selfmetrics.h.
 *
 * The text is built in one pass per family, so every family's samples are
 * together under its single HELP and TYPE, as `promtool check metrics`
 * requires. Reads of shared counters are relaxed atomic loads: a scrape is
 * a snapshot in time, not a consistent cut across stages.
 */
#include "apiserver/selfmetrics.h"

#include <errno.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/segment.h"

/* Adds a ring name to the list (not attached yet). */
static void selfmetrics_add(struct selfmetrics *s, const char *name)
{
	struct selfmetrics_ring *r = &s->rings[s->nrings++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
}

int selfmetrics_init(struct selfmetrics *s, struct ctl *ctl, const char *instance, int64_t up_age_ms)
{
	memset(s, 0, sizeof(*s));
	s->ctl = ctl;
	s->up_age_ms = up_age_ms;
	snprintf(s->instance, sizeof(s->instance), "%s", instance);
	const uint32_t *n = ctl->hdr->n_stage;
	uint32_t c = n[CTL_COLLECTOR], m = n[CTL_AGGREGATOR], k = n[CTL_ALERTER], p = n[CTL_APISERVER];
	size_t total = (size_t)c * m + (size_t)m * k + 2u * (size_t)p * m;
	s->rings = calloc(total ? total : 1, sizeof(*s->rings));
	if (!s->rings)
		return -ENOMEM;
	char name[SELFMETRICS_RING_NAME];
	for (uint32_t i = 0; i < c; i++)
		for (uint32_t j = 0; j < m; j++) {
			ctl_ring_sample(name, sizeof(name), i, j);
			selfmetrics_add(s, name);
		}
	for (uint32_t j = 0; j < m; j++)
		for (uint32_t r = 0; r < k; r++) {
			ctl_ring_alert(name, sizeof(name), j, r);
			selfmetrics_add(s, name);
		}
	for (uint32_t i = 0; i < p; i++)
		for (uint32_t j = 0; j < m; j++) {
			ctl_ring_query(name, sizeof(name), i, j);
			selfmetrics_add(s, name);
			ctl_ring_reply(name, sizeof(name), j, i);
			selfmetrics_add(s, name);
		}
	return 0;
}

void selfmetrics_fini(struct selfmetrics *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nrings; i++)
		if (s->rings[i].attached)
			ring_detach(&s->rings[i].r);
	free(s->rings);
	s->rings = NULL;
	s->nrings = 0;
}

/* Attaches every ring not attached yet; the ones that do not exist stay
 * out until a later render. */
static void selfmetrics_attach(struct selfmetrics *s)
{
	char shm[SEGMENT_NAME_MAX];
	for (size_t i = 0; i < s->nrings; i++) {
		struct selfmetrics_ring *r = &s->rings[i];
		if (r->attached)
			continue;
		if (ctl_ring_shm_name(shm, sizeof(shm), s->instance, r->name) != 0)
			continue;
		if (ring_attach(&r->r, shm, RING_ROLE_OBSERVER) == 0)
			r->attached = 1;
	}
}

/* Writes "# HELP name help\n# TYPE name type\n", escaping the help text. */
static void selfmetrics_family(struct evbuffer *b, const char *name, const char *help, const char *type)
{
	evbuffer_add_printf(b, "# HELP %s ", name);
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*p == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* The counter's family name and scale: a counter kept in milliseconds is
 * exported in seconds (promtool wants base units). Fills name and help;
 * returns the divisor (1 or 1000). */
static unsigned selfmetrics_counter_name(enum ctl_counter c, char *name, size_t nlen, char *help,
					 size_t hlen)
{
	const char *n = ctl_counter_name(c), *h = ctl_counter_help(c);
	const char *ms = strstr(n, "milliseconds");
	if (!ms) {
		snprintf(name, nlen, "mcs_%s", n);
		snprintf(help, hlen, "%s", h);
		return 1;
	}
	snprintf(name, nlen, "mcs_%.*sseconds%s", (int)(ms - n), n, ms + 12);
	const char *hm = strstr(h, "milliseconds");
	if (hm)
		snprintf(help, hlen, "%.*sseconds%s", (int)(hm - h), h, hm + 12);
	else
		snprintf(help, hlen, "%s", h);
	return 1000;
}

/* Writes `name{stage="..",index=".."} ` for a slot, before its value. */
static void selfmetrics_stage_label(struct evbuffer *b, const char *name, const struct ctl_slot *sl)
{
	evbuffer_add_printf(b, "%s{stage=\"%s\",index=\"%u\"} ", name,
			    ctl_stage_name((enum ctl_stage)sl->stage), sl->index);
}

/* The stage families: up, restarts, heartbeat age, then every counter. */
static void selfmetrics_stages(struct selfmetrics *s, struct evbuffer *b)
{
	struct ctl_header *h = s->ctl->hdr;
	uint32_t nslots = h->nslots < CTL_MAX_SLOTS ? h->nslots : CTL_MAX_SLOTS;
	uint64_t now = segment_now_mono_ms();

	selfmetrics_family(b, "mcs_stage_up",
			   "Whether the stage process runs and heartbeats (1) or not (0).", "gauge");
	for (uint32_t i = 0; i < nslots; i++) {
		const struct ctl_slot *sl = &h->slots[i];
		uint32_t pid = atomic_load_explicit(&sl->pid, memory_order_relaxed);
		uint32_t st = atomic_load_explicit(&sl->state, memory_order_relaxed);
		uint64_t hb = atomic_load_explicit(&sl->heartbeat_ms, memory_order_relaxed);
		int up = pid != 0 && (st == CTL_STATE_STARTING || st == CTL_STATE_RUNNING) && hb != 0 &&
			 (now < hb || now - hb <= (uint64_t)s->up_age_ms);
		selfmetrics_stage_label(b, "mcs_stage_up", sl);
		evbuffer_add_printf(b, "%d\n", up);
	}
	selfmetrics_family(b, "mcs_stage_restarts_total",
			   "Restarts of the stage process after a crash or hang.", "counter");
	for (uint32_t i = 0; i < nslots; i++) {
		const struct ctl_slot *sl = &h->slots[i];
		selfmetrics_stage_label(b, "mcs_stage_restarts_total", sl);
		evbuffer_add_printf(b, "%" PRIu64 "\n", atomic_load_explicit(&sl->restarts, memory_order_relaxed));
	}
	selfmetrics_family(b, "mcs_stage_heartbeat_age_seconds",
			   "Seconds since the stage process last marked itself alive.", "gauge");
	for (uint32_t i = 0; i < nslots; i++) {
		const struct ctl_slot *sl = &h->slots[i];
		uint64_t hb = atomic_load_explicit(&sl->heartbeat_ms, memory_order_relaxed);
		if (!hb)
			continue;
		selfmetrics_stage_label(b, "mcs_stage_heartbeat_age_seconds", sl);
		uint64_t age = now > hb ? now - hb : 0;
		evbuffer_add_printf(b, "%" PRIu64 ".%03u\n", age / 1000, (unsigned)(age % 1000));
	}
	for (int c = 0; c < CTL_C_COUNT; c++) {
		char name[96], help[256];
		unsigned div = selfmetrics_counter_name((enum ctl_counter)c, name, sizeof(name), help, sizeof(help));
		selfmetrics_family(b, name, help, ctl_counter_is_gauge((enum ctl_counter)c) ? "gauge" : "counter");
		for (uint32_t i = 0; i < nslots; i++) {
			const struct ctl_slot *sl = &h->slots[i];
			uint64_t v = atomic_load_explicit(&sl->counters[c], memory_order_relaxed);
			selfmetrics_stage_label(b, name, sl);
			if (div == 1)
				evbuffer_add_printf(b, "%" PRIu64 "\n", v);
			else
				evbuffer_add_printf(b, "%" PRIu64 ".%03u\n", v / div, (unsigned)(v % div));
		}
	}
}

enum selfmetrics_ring_field {
	SELFMETRICS_CAPACITY,
	SELFMETRICS_FILL,
	SELFMETRICS_RECORDS_IN,
	SELFMETRICS_RECORDS_OUT,
	SELFMETRICS_BYTES_IN,
	SELFMETRICS_DROPS,
	SELFMETRICS_FULL_WAITS,
	SELFMETRICS_CORRUPT,
	SELFMETRICS_RING_FIELDS
};

static const struct {
	const char *name, *help, *type;
} selfmetrics_ring_families[SELFMETRICS_RING_FIELDS] = {
	{"mcs_ring_capacity_bytes", "Size of the ring's data area.", "gauge"},
	{"mcs_ring_fill_bytes", "Bytes published and not yet released by the consumer.", "gauge"},
	{"mcs_ring_records_in_total", "Records published by the producer.", "counter"},
	{"mcs_ring_records_out_total", "Records released by the consumer.", "counter"},
	{"mcs_ring_bytes_in_total", "Bytes published by the producer, headers and padding included.", "counter"},
	{"mcs_ring_drops_total", "Records refused because the ring stayed full.", "counter"},
	{"mcs_ring_full_waits_total", "Reservations that had to wait for space.", "counter"},
	{"mcs_ring_corrupt_total", "Damaged records the consumer skipped.", "counter"},
};

static uint64_t selfmetrics_ring_value(const struct ring_header *h, int f)
{
	switch (f) {
	case SELFMETRICS_CAPACITY: return h->capacity;
	case SELFMETRICS_FILL: {
		uint64_t rp = atomic_load_explicit(&h->read_pos, memory_order_acquire);
		uint64_t wp = atomic_load_explicit(&h->write_pos, memory_order_acquire);
		return wp >= rp ? wp - rp : 0;
	}
	case SELFMETRICS_RECORDS_IN: return atomic_load_explicit(&h->records_in, memory_order_relaxed);
	case SELFMETRICS_RECORDS_OUT: return atomic_load_explicit(&h->records_out, memory_order_relaxed);
	case SELFMETRICS_BYTES_IN: return atomic_load_explicit(&h->bytes_in, memory_order_relaxed);
	case SELFMETRICS_DROPS: return atomic_load_explicit(&h->drops, memory_order_relaxed);
	case SELFMETRICS_FULL_WAITS: return atomic_load_explicit(&h->full_waits, memory_order_relaxed);
	default: return atomic_load_explicit(&h->corrupt, memory_order_relaxed);
	}
}

/* The ring families, one sample per attached ring each. */
static void selfmetrics_rings(struct selfmetrics *s, struct evbuffer *b)
{
	for (int f = 0; f < SELFMETRICS_RING_FIELDS; f++) {
		selfmetrics_family(b, selfmetrics_ring_families[f].name, selfmetrics_ring_families[f].help,
				   selfmetrics_ring_families[f].type);
		for (size_t i = 0; i < s->nrings; i++) {
			const struct selfmetrics_ring *r = &s->rings[i];
			if (!r->attached)
				continue;
			evbuffer_add_printf(b, "%s{ring=\"%s\"} %" PRIu64 "\n", selfmetrics_ring_families[f].name,
					    r->name, selfmetrics_ring_value(r->r.hdr, f));
		}
	}
}

int selfmetrics_render(struct selfmetrics *s, struct evbuffer *out)
{
	struct evbuffer *b = evbuffer_new();
	if (!b)
		return -ENOMEM;
	selfmetrics_attach(s);
	selfmetrics_stages(s, b);
	selfmetrics_rings(s, b);
	int rc = evbuffer_add_buffer(out, b) == 0 ? 0 : -ENOMEM;
	evbuffer_free(b);
	return rc;
}
