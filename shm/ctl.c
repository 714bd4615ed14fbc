/* ctl: see ctl.h. */
#include "shm/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const ctl_stage_names[CTL_STAGES] = {
	"collector", "aggregator", "alerter", "apiserver",
};

static const struct {
	const char *name;
	const char *help;
	int gauge;
} ctl_counters[CTL_C_COUNT] = {
	[CTL_C_SAMPLES_IN] = {"samples_in_total", "Samples taken in by the stage.", 0},
	[CTL_C_SAMPLES_OUT] = {"samples_out_total", "Samples written to the next stage's rings.", 0},
	[CTL_C_REQUESTS] = {"http_requests_total", "HTTP requests served.", 0},
	[CTL_C_BAD_REQUESTS] = {"http_bad_requests_total", "HTTP requests answered with a 4xx status.", 0},
	[CTL_C_REJECTED] = {"push_rejected_total", "Pushes refused with 429/503 because rings stayed full.", 0},
	[CTL_C_DUPLICATES] = {"samples_duplicate_total", "Samples dropped as exact duplicates.", 0},
	[CTL_C_OUT_OF_ORDER] = {"samples_out_of_order_total", "Samples accepted out of time order.", 0},
	[CTL_C_SERIES] = {"series", "Series held in memory.", 1},
	[CTL_C_QUERIES] = {"queries_total", "Queries served.", 0},
	[CTL_C_QUERY_ERRORS] = {"query_errors_total", "Queries that failed.", 0},
	[CTL_C_RECORDS_CORRUPT] = {"records_corrupt_total", "Ring records that failed to decode.", 0},
	[CTL_C_ALERT_DROPS] = {"alert_samples_dropped_total", "Samples not forwarded to alerters because the alert ring was full.", 0},
	[CTL_C_RULE_EVALS] = {"rule_evaluations_total", "Rule evaluations.", 0},
	[CTL_C_ALERTS_FIRING] = {"alerts_firing", "Alerts firing.", 1},
	[CTL_C_ALERTS_PENDING] = {"alerts_pending", "Alerts pending.", 1},
	[CTL_C_SCRAPES] = {"collections_total", "Internal collection rounds (self and node metrics).", 0},
	[CTL_C_RSS_BYTES] = {"resident_memory_bytes", "Resident memory of the process.", 1},
	[CTL_C_CPU_MS] = {"cpu_milliseconds_total", "CPU time used by the process, in milliseconds.", 0},
	[CTL_C_TOO_OLD] = {"samples_too_old_total",
			   "Samples rejected because they were older than the series' newest sample minus ooo_window "
			   "(accepted by the push API, which answers before the aggregator sees them).", 0},
	[CTL_C_DISK_RAW_BYTES] = {"disk_raw_bytes", "Bytes of raw-tier blocks on disk.", 1},
	[CTL_C_DISK_5M_BYTES] = {"disk_5m_bytes", "Bytes of the first downsampling tier's blocks on disk (5m by default).", 1},
	[CTL_C_DISK_1H_BYTES] = {"disk_1h_bytes", "Bytes of the second downsampling tier's blocks on disk (1h by default).", 1},
};

const char *ctl_stage_name(enum ctl_stage stage)
{
	return (unsigned)stage < CTL_STAGES ? ctl_stage_names[stage] : "unknown";
}

int ctl_stage_parse(const char *name)
{
	for (int i = 0; i < CTL_STAGES; i++)
		if (strcmp(name, ctl_stage_names[i]) == 0)
			return i;
	return -1;
}

const char *ctl_counter_name(enum ctl_counter c)
{
	return (unsigned)c < CTL_C_COUNT ? ctl_counters[c].name : NULL;
}

const char *ctl_counter_help(enum ctl_counter c)
{
	return (unsigned)c < CTL_C_COUNT ? ctl_counters[c].help : NULL;
}

int ctl_counter_is_gauge(enum ctl_counter c)
{
	return (unsigned)c < CTL_C_COUNT ? ctl_counters[c].gauge : 0;
}

static int ctl_check(const struct ctl_header *h, size_t size)
{
	if (h->version != CTL_VERSION || size != sizeof(struct ctl_header))
		return -EPROTO;
	uint32_t total = 0;
	for (int i = 0; i < CTL_STAGES; i++) {
		/* Per stage first: a damaged count must not wrap the sum. */
		if (h->n_stage[i] > CTL_MAX_SLOTS)
			return -EPROTO;
		total += h->n_stage[i];
	}
	if (total != h->nslots || total > CTL_MAX_SLOTS)
		return -EPROTO;
	return 0;
}

int ctl_create(struct ctl *c, const char *instance, const struct ctl_shape *shape)
{
	char name[SEGMENT_NAME_MAX];
	memset(c, 0, sizeof(*c));
	int rc = segment_name(name, sizeof(name), instance, "ctl");
	if (rc != 0)
		return rc;
	uint32_t total = 0;
	for (int i = 0; i < CTL_STAGES; i++) {
		if (shape->n_stage[i] > CTL_MAX_SLOTS)
			return -EINVAL; /* and the sum cannot wrap */
		total += shape->n_stage[i];
	}
	if (total > CTL_MAX_SLOTS)
		return -EINVAL;
	rc = segment_open(&c->seg, name, sizeof(struct ctl_header));
	if (rc != 0)
		return rc;
	struct ctl_header *h = c->seg.base;
	if (c->seg.created) {
		h->version = CTL_VERSION;
		memcpy(h->n_stage, shape->n_stage, sizeof(h->n_stage));
		h->nslots = total;
		h->sample_ring_bytes = shape->sample_ring_bytes;
		h->alert_ring_bytes = shape->alert_ring_bytes;
		h->query_ring_bytes = shape->query_ring_bytes;
		snprintf(h->instance, sizeof(h->instance), "%s", instance);
		uint32_t s = 0;
		for (uint32_t st = 0; st < CTL_STAGES; st++)
			for (uint32_t i = 0; i < shape->n_stage[st]; i++, s++) {
				h->slots[s].stage = st;
				h->slots[s].index = i;
			}
		segment_publish(&c->seg, CTL_MAGIC);
	} else {
		rc = segment_wait_magic(&c->seg, CTL_MAGIC, 2000);
		if (rc == 0)
			rc = ctl_check(h, c->seg.size);
		if (rc == 0 && (memcmp(h->n_stage, shape->n_stage, sizeof(h->n_stage)) != 0 ||
				h->sample_ring_bytes != shape->sample_ring_bytes ||
				h->alert_ring_bytes != shape->alert_ring_bytes ||
				h->query_ring_bytes != shape->query_ring_bytes))
			rc = -EEXIST;
		if (rc != 0) {
			segment_close(&c->seg);
			return rc;
		}
	}
	c->hdr = h;
	return 0;
}

int ctl_attach(struct ctl *c, const char *instance, int writable)
{
	char name[SEGMENT_NAME_MAX];
	memset(c, 0, sizeof(*c));
	int rc = segment_name(name, sizeof(name), instance, "ctl");
	if (rc != 0)
		return rc;
	rc = segment_map_existing(&c->seg, name, writable);
	if (rc != 0)
		return rc;
	rc = segment_wait_magic(&c->seg, CTL_MAGIC, 2000);
	if (rc == 0)
		rc = ctl_check(c->seg.base, c->seg.size);
	if (rc != 0) {
		segment_close(&c->seg);
		return rc;
	}
	c->hdr = c->seg.base;
	return 0;
}

void ctl_detach(struct ctl *c)
{
	if (!c)
		return;
	segment_close(&c->seg);
	c->hdr = NULL;
}

int ctl_unlink(const char *instance)
{
	char name[SEGMENT_NAME_MAX];
	int rc = segment_name(name, sizeof(name), instance, "ctl");
	return rc ? rc : segment_unlink(name);
}

struct ctl_slot *ctl_slot(struct ctl *c, enum ctl_stage stage, uint32_t index)
{
	if (!c || !c->hdr || (unsigned)stage >= CTL_STAGES || index >= c->hdr->n_stage[stage])
		return NULL;
	uint32_t s = index;
	for (uint32_t st = 0; st < (uint32_t)stage; st++)
		s += c->hdr->n_stage[st];
	return &c->hdr->slots[s];
}

void ctl_ring_sample(char *buf, size_t len, uint32_t collector, uint32_t aggregator)
{
	snprintf(buf, len, "c%u-a%u", collector, aggregator);
}

void ctl_ring_alert(char *buf, size_t len, uint32_t aggregator, uint32_t alerter)
{
	snprintf(buf, len, "a%u-r%u", aggregator, alerter);
}

void ctl_ring_query(char *buf, size_t len, uint32_t apiserver, uint32_t aggregator)
{
	snprintf(buf, len, "p%u-a%u-q", apiserver, aggregator);
}

void ctl_ring_reply(char *buf, size_t len, uint32_t aggregator, uint32_t apiserver)
{
	snprintf(buf, len, "a%u-p%u-r", aggregator, apiserver);
}

int ctl_ring_shm_name(char *buf, size_t len, const char *instance, const char *short_name)
{
	char what[96];
	snprintf(what, sizeof(what), "ring.%s", short_name);
	return segment_name(buf, len, instance, what);
}

void ctl_beat(struct ctl_slot *s)
{
	if (s)
		atomic_store_explicit(&s->heartbeat_ms, segment_now_mono_ms(), memory_order_relaxed);
}
