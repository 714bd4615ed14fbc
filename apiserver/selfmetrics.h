/* selfmetrics: the service's own metrics, in Prometheus text format 0.0.4,
 * read from shared memory: every stage slot of the control block (its
 * counters, up, restarts, heartbeat age) and every ring of the instance
 * (capacity, fill and the header counters).
 *
 * Families, each with one HELP and one TYPE line and its samples grouped:
 *   mcs_stage_up, mcs_stage_restarts_total, mcs_stage_heartbeat_age_seconds,
 *   mcs_<counter> for every ctl counter (ctl_counter_name; a counter kept
 *   in milliseconds is exported in seconds, as "_seconds"),
 *     labels {stage="collector",index="0"};
 *   mcs_ring_capacity_bytes, mcs_ring_fill_bytes, mcs_ring_records_in_total,
 *   mcs_ring_records_out_total, mcs_ring_bytes_in_total,
 *   mcs_ring_drops_total, mcs_ring_full_waits_total, mcs_ring_corrupt_total,
 *     label {ring="c0-a1"}.
 * Rings are attached read-only (RING_ROLE_OBSERVER) the first time they
 * are seen and kept; a ring that does not exist yet is retried on the next
 * render and left out until then.
 *
 * Not here: HTTP (api.c). Nothing here writes to shared memory.
 */
#ifndef MCS_APISERVER_SELFMETRICS_H
#define MCS_APISERVER_SELFMETRICS_H

#include <stddef.h>
#include <stdint.h>

#include "shm/ctl.h"
#include "shm/ring.h"

struct evbuffer;

#define SELFMETRICS_RING_NAME 24

struct selfmetrics_ring {
	char name[SELFMETRICS_RING_NAME]; /* short name, e.g. "c0-a1" */
	struct ring r;
	int attached;
};

struct selfmetrics {
	struct ctl *ctl;             /* not owned */
	char instance[64];
	int64_t up_age_ms;           /* heartbeat age past which a stage counts as down */
	struct selfmetrics_ring *rings;
	size_t nrings;
};

/* Lists every ring of the instance the control block describes. ctl stays
 * owned by the caller and must outlive s. Returns 0 or -ENOMEM. */
int selfmetrics_init(struct selfmetrics *s, struct ctl *ctl, const char *instance, int64_t up_age_ms);

/* Detaches the rings; accepts a zeroed struct. */
void selfmetrics_fini(struct selfmetrics *s);

/* Appends the whole exposition to out. Returns 0 or -ENOMEM. */
int selfmetrics_render(struct selfmetrics *s, struct evbuffer *out);

#endif
