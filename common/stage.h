/* stage: what every stage process (collector, aggregator, alerter,
 * apiserver) does the same way: arguments, configuration, logging, the
 * control-block slot, rings, signals and the heartbeat.
 *
 * Command line of every stage binary:
 *   mcs-<stage> [--config FILE] [--index I]
 * (the instance and everything else come from the config). Exit codes:
 * 0 after an orderly stop, 2 for a fatal configuration error (the launcher
 * does not restart it), anything else is a crash.
 */
#ifndef MCS_STAGE_H
#define MCS_STAGE_H

#include <signal.h>
#include <stdint.h>

#include "common/config.h"
#include "shm/ctl.h"
#include "shm/ring.h"

#define STAGE_EXIT_FATAL 2

struct stage {
	enum ctl_stage kind;
	uint32_t index;
	struct config cfg;
	struct ctl ctl;
	struct ctl_slot *slot;   /* this process's slot */
	char config_path[512];
	uint64_t last_beat_ms;
};

/* Set by SIGTERM/SIGINT; stages poll it in their loops. */
extern volatile sig_atomic_t stage_stop_requested;

/* Parses argv, loads the config, starts logging as "<stage>[i]", attaches
 * (creating when needed) the control block and installs signal handlers
 * (TERM/INT: stop; PIPE: ignored). On any failure logs why and exits with
 * STAGE_EXIT_FATAL. The caller owns *st; stage_fini tears it down. */
void stage_init(struct stage *st, enum ctl_stage kind, int argc, char **argv);

/* Opens (creating when absent, with the capacity and full policy that
 * proc_ring_find gives for the instance's shape) the ring `short_name` in
 * `role`. Returns 0 or -errno (logged). */
int stage_ring_open(struct stage *st, struct ring *r, const char *short_name, enum ring_role role);

/* Heartbeat: cheap to call often; at most every 250 ms it stores the
 * heartbeat and refreshes the RSS and CPU counters. */
void stage_beat(struct stage *st);

/* Marks the slot ready (serving) or not. */
void stage_set_ready(struct stage *st, int ready);

/* Detaches from the control block and frees the config. */
void stage_fini(struct stage *st);

#endif
