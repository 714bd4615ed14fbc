/* stage: see stage.h. */
#include "common/stage.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"
#include "shm/proc.h"

volatile sig_atomic_t stage_stop_requested;

static void stage_on_signal(int sig)
{
	(void)sig;
	stage_stop_requested = 1;
}

void stage_init(struct stage *st, enum ctl_stage kind, int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"index", required_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	char err[512], proc[64];
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	int o;
	while ((o = getopt_long(argc, argv, "c:i:", opts, NULL)) != -1) {
		if (o == 'c') {
			snprintf(st->config_path, sizeof(st->config_path), "%s", optarg);
		} else if (o == 'i') {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v >= (long)CTL_MAX_SLOTS) {
				fprintf(stderr, "%s: --index must be an integer in [0, %u)\n", argv[0], CTL_MAX_SLOTS);
				exit(STAGE_EXIT_FATAL);
			}
			st->index = (uint32_t)v;
		} else {
			fprintf(stderr, "usage: %s [--config FILE] [--index I]\n", argv[0]);
			exit(STAGE_EXIT_FATAL);
		}
	}
	snprintf(proc, sizeof(proc), "%s[%u]", ctl_stage_name(kind), st->index);
	log_init(proc, 0);
	int rc = st->config_path[0] ? config_load_file(&st->cfg, st->config_path, err, sizeof(err))
				    : config_load_string(&st->cfg, NULL, NULL, err, sizeof(err));
	if (rc != 0) {
		log_error("configuration: %s", err);
		exit(STAGE_EXIT_FATAL);
	}
	log_init(proc, st->cfg.log_json);
	struct ctl_shape shape = {
		.n_stage = {st->cfg.collectors, st->cfg.aggregators, st->cfg.alerters, st->cfg.apiservers},
		.sample_ring_bytes = st->cfg.sample_ring_bytes,
		.alert_ring_bytes = st->cfg.alert_ring_bytes,
		.query_ring_bytes = st->cfg.query_ring_bytes,
	};
	rc = ctl_create(&st->ctl, st->cfg.instance, &shape);
	if (rc != 0) {
		log_error("ctl_create(instance \"%s\") failed: %s%s", st->cfg.instance, strerror(-rc),
			  rc == -EEXIST ? " (an instance of that name runs with another shape)" : "");
		exit(STAGE_EXIT_FATAL);
	}
	st->slot = ctl_slot(&st->ctl, kind, st->index);
	if (!st->slot) {
		log_error("index %u is out of range: the instance has %u %s processes", st->index,
			  st->ctl.hdr->n_stage[kind], ctl_stage_name(kind));
		exit(STAGE_EXIT_FATAL);
	}
	atomic_store(&st->slot->ready, 0);
	atomic_store(&st->slot->state, CTL_STATE_STARTING);
	/* Under mcs-launch the launcher sets pid; alone, we do. */
	atomic_store(&st->slot->pid, (uint32_t)getpid());
	ctl_beat(st->slot);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stage_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int stage_ring_open(struct stage *st, struct ring *r, const char *short_name, enum ring_role role)
{
	char shm[SEGMENT_NAME_MAX];
	struct proc_ring_spec spec;
	/* The shape in the control block says which rings exist, with which
	 * capacity and full policy: one table for launcher, stages and ringctl. */
	int rc = proc_ring_find(st->ctl.hdr, short_name, &spec);
	if (rc != 0) {
		log_error("ring %s is not part of instance \"%s\"", short_name, st->cfg.instance);
		return rc;
	}
	rc = ctl_ring_shm_name(shm, sizeof(shm), st->cfg.instance, short_name);
	if (rc == 0)
		rc = ring_create(r, shm, short_name, spec.capacity, spec.policy, role);
	if (rc != 0)
		log_error("ring_create(%s, %llu bytes) failed: %s%s", shm, (unsigned long long)spec.capacity,
			  strerror(-rc), rc == -EPROTO ? " (damaged header: refused)" : "");
	return rc;
}

/* Reads VmRSS from /proc/self/statm (pages). */
static uint64_t stage_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, rss = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

void stage_beat(struct stage *st)
{
	uint64_t now = segment_now_mono_ms();
	if (now - st->last_beat_ms < 250)
		return;
	st->last_beat_ms = now;
	ctl_beat(st->slot);
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		uint64_t ms = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000u +
			      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000u;
		ctl_set(st->slot, CTL_C_CPU_MS, ms);
	}
	ctl_set(st->slot, CTL_C_RSS_BYTES, stage_rss_bytes());
}

void stage_set_ready(struct stage *st, int ready)
{
	atomic_store(&st->slot->ready, (uint64_t)(ready != 0));
	atomic_store(&st->slot->state, ready ? CTL_STATE_RUNNING : CTL_STATE_STOPPING);
}

void stage_fini(struct stage *st)
{
	if (st->slot)
		atomic_store(&st->slot->state, CTL_STATE_EXITED);
	ctl_detach(&st->ctl);
	config_free(&st->cfg);
}
