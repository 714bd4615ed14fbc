/* ctl: the instance control block, one shared segment per instance
 * ("/mcs.<instance>.ctl").
 *
 * It holds the shape of the pipeline (how many processes of each stage and
 * the ring capacities, so that any process or mcs-ringctl can name every
 * ring), the shutdown flag, and one slot per stage process with its pid,
 * heartbeat, restart count and counters. Slots are written by their own
 * process (counters, heartbeat) and by mcs-launch (pid, restarts, state).
 *
 * Not here: rings (ring.h), alert tables (common/alerts.h).
 */
#ifndef MCS_CTL_H
#define MCS_CTL_H

#include <stdatomic.h>
#include <stdint.h>

#include "shm/segment.h"

#define CTL_MAGIC     0x314c544353434dULL /* "MCSCTL1" */
#define CTL_VERSION   1u
#define CTL_MAX_SLOTS 256u
#define CTL_COUNTERS  24u

enum ctl_stage {
	CTL_COLLECTOR = 0,
	CTL_AGGREGATOR = 1,
	CTL_ALERTER = 2,
	CTL_APISERVER = 3,
	CTL_STAGES = 4,
};

enum ctl_state {
	CTL_STATE_EMPTY = 0,
	CTL_STATE_STARTING = 1,
	CTL_STATE_RUNNING = 2,
	CTL_STATE_STOPPING = 3,
	CTL_STATE_EXITED = 4,
};

/* Counter slots. A stage uses the ones that apply to it; the names and help
 * texts for /metrics come from ctl_counter_name()/ctl_counter_help(). */
enum ctl_counter {
	CTL_C_SAMPLES_IN = 0,     /* samples accepted (collector: parsed and committed; aggregator: consumed) */
	CTL_C_SAMPLES_OUT,        /* samples written to the next rings */
	CTL_C_REQUESTS,           /* HTTP requests served */
	CTL_C_BAD_REQUESTS,       /* HTTP 4xx answered */
	CTL_C_REJECTED,           /* pushes refused with 429/503 because rings stayed full */
	CTL_C_DUPLICATES,         /* samples dropped as exact duplicates */
	CTL_C_OUT_OF_ORDER,       /* samples accepted out of order */
	CTL_C_SERIES,             /* series held (gauge) */
	CTL_C_QUERIES,            /* queries served */
	CTL_C_QUERY_ERRORS,       /* queries failed */
	CTL_C_RECORDS_CORRUPT,    /* ring records that failed to decode */
	CTL_C_ALERT_DROPS,        /* samples not forwarded to alerters (alert ring full) */
	CTL_C_RULE_EVALS,         /* rule evaluations */
	CTL_C_ALERTS_FIRING,      /* alerts firing (gauge) */
	CTL_C_ALERTS_PENDING,     /* alerts pending (gauge) */
	CTL_C_SCRAPES,            /* internal collection rounds */
	CTL_C_RSS_BYTES,          /* resident memory (gauge) */
	CTL_C_CPU_MS,             /* CPU time used, ms */
	CTL_C_TOO_OLD,            /* aggregator: samples rejected as older than the ooo_window */
	CTL_C_DISK_RAW_BYTES,     /* aggregator: bytes of raw-tier blocks on disk (gauge) */
	CTL_C_DISK_5M_BYTES,      /* aggregator: bytes of the first rollup tier's blocks (gauge) */
	CTL_C_DISK_1H_BYTES,      /* aggregator: bytes of the second rollup tier's blocks (gauge) */
	CTL_C_COUNT
};
_Static_assert(CTL_C_COUNT <= CTL_COUNTERS, "counter slots");

struct ctl_slot {
	_Atomic uint32_t pid;          /* launcher: child pid; 0 when not running */
	_Atomic uint32_t state;        /* enum ctl_state; launcher and the process */
	uint32_t stage;                /* enum ctl_stage, fixed at init */
	uint32_t index;                /* index within the stage, fixed at init */
	_Atomic uint64_t heartbeat_ms; /* the process: CLOCK_MONOTONIC ms, at least every second */
	_Atomic uint64_t restarts;     /* launcher: restarts after a crash or hang */
	_Atomic int64_t started_ms;    /* launcher: CLOCK_REALTIME ms of the last start */
	_Atomic uint64_t ready;        /* the process: 1 once it serves */
	_Atomic uint64_t counters[CTL_COUNTERS]; /* the process */
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct ctl_slot) % 64 == 0, "slot on its own cache lines");

struct ctl_header {
	_Atomic uint64_t magic;        /* creator, last */
	uint32_t version;
	uint32_t n_stage[CTL_STAGES];  /* process counts, fixed at creation */
	uint32_t nslots;
	uint64_t sample_ring_bytes;    /* capacities, fixed at creation */
	uint64_t alert_ring_bytes;
	uint64_t query_ring_bytes;
	char instance[64];
	_Atomic uint32_t shutdown;     /* launcher: 1 = stop accepting; 2 = drain and exit */
	_Atomic uint32_t launcher_pid;
	uint8_t pad[64];
	struct ctl_slot slots[CTL_MAX_SLOTS];
};

struct ctl {
	struct segment seg;
	struct ctl_header *hdr;
};

struct ctl_shape {
	uint32_t n_stage[CTL_STAGES];
	uint64_t sample_ring_bytes;
	uint64_t alert_ring_bytes;
	uint64_t query_ring_bytes;
};

/* Creates or attaches the control block of `instance`. When it exists, its
 * shape must equal `shape`, else -EEXIST (another configuration runs under
 * that name). Returns 0 or -errno; -EPROTO for a damaged block. */
int ctl_create(struct ctl *c, const char *instance, const struct ctl_shape *shape);

/* Attaches an existing block (writable=0: read-only). Returns 0, -ENOENT,
 * -EPROTO (bad magic/version/size), or -errno. */
int ctl_attach(struct ctl *c, const char *instance, int writable);

void ctl_detach(struct ctl *c);

/* Removes the block's name. */
int ctl_unlink(const char *instance);

/* The slot of (stage, index), or NULL when out of range. */
struct ctl_slot *ctl_slot(struct ctl *c, enum ctl_stage stage, uint32_t index);

const char *ctl_stage_name(enum ctl_stage stage);
int ctl_stage_parse(const char *name); /* enum value or -1 */
const char *ctl_counter_name(enum ctl_counter c);  /* metric name suffix, e.g. "samples_in_total" */
const char *ctl_counter_help(enum ctl_counter c);
int ctl_counter_is_gauge(enum ctl_counter c);

/* Ring short names, e.g. "c0-a1" (sample), "a1-r0" (alert), "p0-a1-q"
 * (query request), "a1-p0-r" (query response). */
void ctl_ring_sample(char *buf, size_t len, uint32_t collector, uint32_t aggregator);
void ctl_ring_alert(char *buf, size_t len, uint32_t aggregator, uint32_t alerter);
void ctl_ring_query(char *buf, size_t len, uint32_t apiserver, uint32_t aggregator);
void ctl_ring_reply(char *buf, size_t len, uint32_t aggregator, uint32_t apiserver);

/* Full shm name of a ring of `instance`: "/mcs.<instance>.ring.<short>". */
int ctl_ring_shm_name(char *buf, size_t len, const char *instance, const char *short_name);

static inline void ctl_add(struct ctl_slot *s, enum ctl_counter c, uint64_t n)
{
	if (s)
		atomic_fetch_add_explicit(&s->counters[c], n, memory_order_relaxed);
}

static inline void ctl_set(struct ctl_slot *s, enum ctl_counter c, uint64_t v)
{
	if (s)
		atomic_store_explicit(&s->counters[c], v, memory_order_relaxed);
}

/* Stores now (CLOCK_MONOTONIC ms) as the slot's heartbeat. */
void ctl_beat(struct ctl_slot *s);

#endif
