/* mcs-launch: the foreground supervisor of an mcs instance.
 *
 * It loads the configuration (a file or the embedded default) and applies
 * the command-line overrides, writes the effective configuration to
 * <data_dir>/run/<instance>.json for every stage to read, creates the
 * control block and every ring, starts every stage process and keeps them
 * running: a stage that dies is restarted within a second, with an
 * exponential backoff once it crash-loops; a stage that exits with status 2
 * (fatal configuration error) is not restarted; a stage whose heartbeat
 * stops is killed and restarted. SIGTERM/SIGINT stop the pipeline in data
 * flow order: collectors and apiservers first, then the aggregators (which
 * drain their rings and flush), then the alerters.
 *
 * With --only STAGE --index I it supervises that one process (one container
 * per stage, see deploy/). With --cleanup it unlinks an instance's segments.
 *
 * The master loop follows nginx's ngx_master_process_cycle: every signal it
 * handles stays blocked except inside sigsuspend(); the handlers only set
 * flags; reaping, logging and restarting happen in the loop. A 200 ms
 * interval timer wakes the loop for restarts that are due and for the
 * heartbeat check.
 *
 * Not here: how a stage works (common/stage.h), the ring protocol
 * (shm/ring.h), fork/exec details and ring enumeration (shm/proc.h), the
 * command line, the configuration overrides and the effective
 * configuration file (shm/launchcfg.h).
 *
 * Invariants: children[i].pid != 0 exactly while that process has not been
 * reaped; a slot's pid is cleared, and the ring pid fields it held are
 * released, before its successor is started. Shared memory is left in place
 * on exit: a new launcher resumes from it.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "shm/ctl.h"
#include "shm/launchcfg.h"
#include "shm/proc.h"
#include "shm/ring.h"

#define LAUNCH_EXIT_FATAL       LAUNCHCFG_EXIT_FATAL
#define LAUNCH_TICK_MS          200    /* loop wake-up period */
#define LAUNCH_KILL_GRACE_MS    1000u  /* after SIGKILL, wait this long for the reap */
#define LAUNCH_ONLY_STOP_MS     8000u  /* --only: SIGTERM to SIGKILL */
#define LAUNCH_STALE_WAIT_MS    5000u  /* wait for stages of a dead launcher to go */

/* Stop phases, in data flow order: producers of new data first, so each
 * later phase finds its input rings complete and can drain them. */
enum launch_phase {
	LAUNCH_RUNNING = 0,
	LAUNCH_STOP_FRONT = 1,      /* collectors and apiservers */
	LAUNCH_STOP_AGGREGATORS = 2,
	LAUNCH_STOP_ALERTERS = 3,
	LAUNCH_STOPPED = 4,
};

static const uint32_t launch_phase_stages[LAUNCH_STOPPED] = {
	[LAUNCH_STOP_FRONT] = (1u << CTL_COLLECTOR) | (1u << CTL_APISERVER),
	[LAUNCH_STOP_AGGREGATORS] = 1u << CTL_AGGREGATOR,
	[LAUNCH_STOP_ALERTERS] = 1u << CTL_ALERTER,
};

/* SIGTERM-to-SIGKILL budget per phase, ms. Their sum plus the kill graces
 * stays under the 10 s an orderly stop may take. */
static const uint32_t launch_phase_ms[LAUNCH_STOPPED] = {
	[LAUNCH_STOP_FRONT] = 3000,
	[LAUNCH_STOP_AGGREGATORS] = 3500,
	[LAUNCH_STOP_ALERTERS] = 1500,
};

/* One supervised process: the child table entry. */
struct launch_child {
	enum ctl_stage stage;
	uint32_t index;
	struct ctl_slot *slot;
	char name[40];              /* "collector[1]" for log lines */
	pid_t pid;                  /* 0 when not running (reaped) */
	uint64_t started_mono;      /* CLOCK_MONOTONIC ms of the last spawn */
	int restart_pending;        /* 1: spawn again at restart_at */
	uint64_t restart_at;        /* CLOCK_MONOTONIC ms */
	struct proc_backoff backoff; /* crash history and restart delay */
	int fatal;                  /* exited with status 2 or cannot be executed */
	int missing;                /* its binary does not exist (not built): never started */
	int exiting;                /* SIGTERM sent by the stop sequence */
	int killed;                 /* SIGKILL sent (hung, or stop deadline) */
	int hung;                   /* the SIGKILL was for a stale heartbeat */
};

struct launch {
	struct config cfg;
	char config_path[PATH_MAX]; /* effective config passed to stages */
	char bin_dir[PATH_MAX];
	int only;                   /* 1: --only mode, one child */
	struct ctl ctl;
	struct ring *rings;         /* every ring of the instance, mapped writable */
	uint32_t nrings;
	struct launch_child *children;
	uint32_t nchildren;
	enum launch_phase phase;
	uint64_t phase_deadline;    /* CLOCK_MONOTONIC ms: SIGKILL the phase's stragglers */
	uint64_t kill_deadline;     /* CLOCK_MONOTONIC ms: give up waiting for the reap */
	int exit_code;
};

/* Set by the signal handlers; read and cleared by the loop with the signals
 * blocked, so a flag set while the loop runs is seen before sigsuspend. */
static volatile sig_atomic_t launch_sig_child;
static volatile sig_atomic_t launch_sig_stop;
static volatile sig_atomic_t launch_sig_tick;
static volatile sig_atomic_t launch_sig_hup;

static void launch_on_signal(int sig)
{
	switch (sig) {
	case SIGCHLD:
		launch_sig_child = 1;
		break;
	case SIGTERM:
	case SIGINT:
	case SIGQUIT:
		launch_sig_stop++;
		break;
	case SIGALRM:
		launch_sig_tick = 1;
		break;
	case SIGHUP:
		launch_sig_hup = 1;
		break;
	}
}

/* ---- shared memory ---- */

/* Like proc_instance_owner, but gives the stages of a launcher that just died
 * a few seconds to follow it (they get SIGTERM from PR_SET_PDEATHSIG). */
static pid_t launch_wait_owner(struct ctl_header *h, struct ctl_slot *only_slot, char *what, size_t len)
{
	pid_t p = 0;
	for (uint32_t waited = 0; waited <= LAUNCH_STALE_WAIT_MS; waited += 100) {
		p = proc_instance_owner(h, only_slot, what, len);
		if (!p)
			return 0;
		pid_t lp = (pid_t)atomic_load(&h->launcher_pid);
		if (lp && lp != getpid() && proc_is_mcs(lp))
			return lp; /* a live launcher will not go away */
		if (waited == 0)
			log_info("waiting for %s of a previous run to exit", what);
		usleep(100000);
	}
	return p;
}

/* Creates or attaches the control block. When a previous run left one with
 * another shape and nothing of it is alive, its segments are removed and
 * the block created anew. Returns 0, -EBUSY when a live process owns the
 * instance (logged), or -errno (logged). */
static int launch_ctl_setup(struct launch *l)
{
	struct ctl_shape shape;
	char what[96];
	const char *inst = l->cfg.instance;
	launchcfg_shape(&l->cfg, &shape);
	int rc = ctl_create(&l->ctl, inst, &shape);
	if (rc == -EEXIST || rc == -EPROTO) {
		struct ctl old;
		int arc = ctl_attach(&old, inst, 0);
		if (arc == 0) {
			pid_t p = launch_wait_owner(old.hdr, NULL, what, sizeof(what));
			if (p) {
				log_error("instance \"%s\" is in use by %s with another shape (%u collectors, %u aggregators, "
					  "%u alerters, %u apiservers): stop it first, or pick another --instance",
					  inst, what, old.hdr->n_stage[0], old.hdr->n_stage[1], old.hdr->n_stage[2],
					  old.hdr->n_stage[3]);
				ctl_detach(&old);
				return -EBUSY;
			}
			log_warn("instance \"%s\": a previous run left segments of another shape "
				 "(%u/%u/%u/%u processes); nothing of it is alive, removing them",
				 inst, old.hdr->n_stage[0], old.hdr->n_stage[1], old.hdr->n_stage[2], old.hdr->n_stage[3]);
			ctl_detach(&old);
		} else {
			log_warn("instance \"%s\": the control block left by a previous run is damaged (%s); removing "
				 "the instance's segments", inst, strerror(-arc));
		}
		unsigned n = 0;
		int urc = proc_unlink_instance(inst, &n);
		if (urc != 0)
			log_warn("removing the old segments of \"%s\" failed: %s", inst, strerror(-urc));
		log_info("removed %u old segments of instance \"%s\"", n, inst);
		rc = ctl_create(&l->ctl, inst, &shape);
	}
	if (rc != 0) {
		log_error("ctl_create(instance \"%s\") failed: %s", inst, strerror(-rc));
		return rc;
	}
	struct ctl_slot *only_slot = NULL;
	if (l->only) {
		only_slot = ctl_slot(&l->ctl, l->children[0].stage, l->children[0].index);
		/* Peers in other containers share the block: only our slot matters. */
		pid_t p = proc_instance_owner(l->ctl.hdr, only_slot, what, sizeof(what));
		if (p) {
			log_error("instance \"%s\": %s is already running; not starting a second one", inst, what);
			return -EBUSY;
		}
	} else {
		pid_t p = launch_wait_owner(l->ctl.hdr, NULL, what, sizeof(what));
		if (p) {
			log_error("instance \"%s\" is already running (%s); stop it first, or pick another --instance",
				  inst, what);
			return -EBUSY;
		}
		atomic_store(&l->ctl.hdr->launcher_pid, (uint32_t)getpid());
		for (uint32_t i = 0; i < l->ctl.hdr->nslots; i++) {
			struct ctl_slot *s = &l->ctl.hdr->slots[i];
			atomic_store(&s->pid, 0);
			atomic_store(&s->state, CTL_STATE_EMPTY);
			atomic_store(&s->ready, 0);
			atomic_store(&s->restarts, 0);
		}
	}
	/* The shutdown flag is instance-wide: a --only launcher, one of many,
	 * neither sets nor clears it (stopping one container must not stop
	 * the collectors of the others). */
	if (!l->only)
		atomic_store(&l->ctl.hdr->shutdown, 0);
	return 0;
}

/* Creates (or attaches, idempotently) every ring of the instance and keeps
 * it mapped, then releases the pid fields of processes that are gone.
 * A ring of the wrong size or with a damaged header is removed and created
 * anew, with a warning. Returns 0 or -errno (logged). */
static int launch_rings_setup(struct launch *l)
{
	struct ctl_header *h = l->ctl.hdr;
	uint32_t n = proc_ring_count(h);
	l->rings = calloc(n ? n : 1, sizeof(*l->rings));
	if (!l->rings) {
		log_error("calloc(%u rings) failed", n);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct proc_ring_spec sp;
		char shm[SEGMENT_NAME_MAX];
		proc_ring_spec(h, i, &sp);
		int rc = ctl_ring_shm_name(shm, sizeof(shm), l->cfg.instance, sp.name);
		if (rc == 0)
			rc = ring_create(&l->rings[i], shm, sp.name, sp.capacity, sp.policy, RING_ROLE_OBSERVER);
		if (rc == -EEXIST || rc == -EPROTO) {
			log_warn("ring %s: %s; removing it and creating it anew (its records are lost)", shm,
				 rc == -EEXIST ? "left with another capacity" : "damaged header");
			segment_unlink(shm);
			rc = ring_create(&l->rings[i], shm, sp.name, sp.capacity, sp.policy, RING_ROLE_OBSERVER);
		}
		if (rc != 0) {
			log_error("ring_create(%s, %llu bytes) failed: %s", shm, (unsigned long long)sp.capacity,
				  strerror(-rc));
			return rc;
		}
		l->nrings = i + 1;
		/* Release what processes of a previous run held. With --only,
		 * only our own side: a peer in another container may be alive in
		 * a pid namespace we cannot see. */
		struct ring_header *rh = l->rings[i].hdr;
		const struct launch_child *me = &l->children[0];
		int mine_p = !l->only || (sp.producer_stage == me->stage && sp.producer_index == me->index);
		int mine_c = !l->only || (sp.consumer_stage == me->stage && sp.consumer_index == me->index);
		pid_t pp = (pid_t)atomic_load(&rh->producer_pid), cp = (pid_t)atomic_load(&rh->consumer_pid);
		if (mine_p && pp && !proc_alive(pp))
			proc_release_rings(&l->rings[i], 1, pp);
		if (mine_c && cp && !proc_alive(cp))
			proc_release_rings(&l->rings[i], 1, cp);
	}
	return 0;
}

static void launch_rings_close(struct launch *l)
{
	for (uint32_t i = 0; i < l->nrings; i++)
		ring_detach(&l->rings[i]);
	free(l->rings);
	l->rings = NULL;
	l->nrings = 0;
}

/* ---- children ---- */

/* SIGHUP: the collectors reload their scrape configuration (the rest of
 * the configuration needs a restart of the instance). */
static void launch_forward_hup(struct launch *l)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < l->nchildren; i++) {
		struct launch_child *ch = &l->children[i];
		if (ch->stage != CTL_COLLECTOR || ch->pid <= 0)
			continue;
		if (kill(ch->pid, SIGHUP) == 0)
			n++;
		else if (errno != ESRCH)
			log_error("kill(%d, SIGHUP) failed: %s", (int)ch->pid, strerror(errno));
	}
	log_info("SIGHUP: %u collector(s) reload the scrape configuration; other settings need a restart", n);
}

static void launch_child_init(struct launch_child *ch, enum ctl_stage stage, uint32_t index)
{
	memset(ch, 0, sizeof(*ch));
	ch->stage = stage;
	ch->index = index;
	snprintf(ch->name, sizeof(ch->name), "%s[%u]", ctl_stage_name(stage), index);
}

/* Builds the child table: every process of the shape, or the one of --only. */
static int launch_children_setup(struct launch *l, const struct launchcfg_opts *o)
{
	uint32_t counts[CTL_STAGES] = {l->cfg.collectors, l->cfg.aggregators, l->cfg.alerters, l->cfg.apiservers};
	uint32_t n = 0;
	if (l->only) {
		n = 1;
	} else {
		for (int s = 0; s < CTL_STAGES; s++)
			n += counts[s];
	}
	l->children = calloc(n, sizeof(*l->children));
	if (!l->children)
		return -ENOMEM;
	l->nchildren = n;
	if (l->only) {
		launch_child_init(&l->children[0], o->only_stage, (uint32_t)o->only_index);
		return 0;
	}
	uint32_t k = 0;
	for (int s = 0; s < CTL_STAGES; s++)
		for (uint32_t i = 0; i < counts[s]; i++)
			launch_child_init(&l->children[k++], s, i);
	return 0;
}

/* Starts the child's process. An executable that cannot be run (not
 * executable, bad format; or missing under --only) is fatal for the child:
 * retrying would not help. A missing binary in a whole-instance launch
 * marks the child missing (a stage not built yet in a development tree;
 * see launch_stage_all_fatal). Other failures (fork: out of memory or
 * processes) schedule a retry. */
static void launch_spawn(struct launch *l, struct launch_child *ch, uint64_t now)
{
	char path[PATH_MAX + 32], index[16];
	snprintf(path, sizeof(path), "%s/mcs-%s", l->bin_dir, ctl_stage_name(ch->stage));
	snprintf(index, sizeof(index), "%u", ch->index);
	char *argv[] = {path, "--config", l->config_path, "--index", index, NULL};
	ch->restart_pending = 0;
	ch->killed = ch->hung = 0;
	atomic_store(&ch->slot->ready, 0);
	atomic_store(&ch->slot->state, CTL_STATE_STARTING);
	pid_t pid;
	int rc = proc_spawn(path, argv, &pid);
	if (rc != 0) {
		atomic_store(&ch->slot->state, CTL_STATE_EXITED);
		if (rc == -ENOENT && !l->only) {
			/* A development tree where a stage is not built yet: run
			 * the rest, loudly, rather than nothing. */
			log_error("%s: %s does not exist (not built?); running without it", ch->name, path);
			ch->missing = 1;
		} else if (rc == -ENOENT || rc == -EACCES || rc == -ENOEXEC || rc == -ENOTDIR || rc == -ELOOP) {
			log_error("%s: cannot execute %s: %s; not restarting", ch->name, path, strerror(-rc));
			ch->fatal = 1;
		} else {
			log_error("%s: spawning %s failed: %s; retrying in %u ms", ch->name, path, strerror(-rc),
				  PROC_BACKOFF_MIN_MS);
			ch->restart_pending = 1;
			ch->restart_at = now + PROC_BACKOFF_MIN_MS;
		}
		return;
	}
	ch->pid = pid;
	ch->started_mono = now;
	atomic_store(&ch->slot->pid, (uint32_t)pid);
	atomic_store(&ch->slot->started_ms, segment_now_real_ms());
	log_info("%s started as pid %d", ch->name, (int)pid);
}

/* Records a crash and returns the restart delay (proc_backoff_crash),
 * saying why when the child crash-loops. */
static uint32_t launch_crash_delay(struct launch_child *ch, uint64_t now)
{
	uint32_t delay = proc_backoff_crash(&ch->backoff, now);
	if (ch->backoff.delay_ms)
		log_warn("%s is crash-looping: %u%s crashes in the last %u s; backing off to %u ms before restarting",
			 ch->name, ch->backoff.recent, ch->backoff.recent >= PROC_CRASH_HISTORY ? " or more" : "",
			 PROC_CRASH_WINDOW_MS / 1000, delay);
	return delay;
}

static struct launch_child *launch_child_by_pid(struct launch *l, pid_t pid)
{
	for (uint32_t i = 0; i < l->nchildren; i++)
		if (l->children[i].pid == pid)
			return &l->children[i];
	return NULL;
}

/* Handles the exit of one child: clears its slot and the ring pid fields it
 * held, logs how it ended, and decides: nothing (stopping), fatal (status
 * 2), or a restart after launch_crash_delay(). */
static void launch_child_exited(struct launch *l, struct launch_child *ch, int status, uint64_t now)
{
	char how[96];
	pid_t pid = ch->pid;
	ch->pid = 0;
	uint32_t expect = (uint32_t)pid;
	atomic_compare_exchange_strong(&ch->slot->pid, &expect, 0);
	atomic_store(&ch->slot->ready, 0);
	atomic_store(&ch->slot->state, CTL_STATE_EXITED);
	unsigned released = proc_release_rings(l->rings, l->nrings, pid);
	proc_status_text(status, how, sizeof(how));
	const char *why = ch->hung ? " (hung)" : "";
	if (l->phase != LAUNCH_RUNNING || ch->exiting) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			log_info("%s pid %d stopped", ch->name, (int)pid);
		else
			log_warn("%s pid %d %s%s while stopping", ch->name, (int)pid, how, why);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == LAUNCH_EXIT_FATAL) {
		ch->fatal = 1;
		log_error("%s pid %d exited with status 2 (fatal error, see its log above); not restarting",
			  ch->name, (int)pid);
		return;
	}
	uint32_t delay = launch_crash_delay(ch, now);
	ch->restart_pending = 1;
	ch->restart_at = now + delay;
	log_warn("%s pid %d %s%s; restarting in %u ms%s", ch->name, (int)pid, how, why, delay,
		 released ? " (its ring ends released)" : "");
}

/* Reaps every exited child (waitpid WNOHANG) and handles each exit. */
static void launch_reap(struct launch *l, uint64_t now)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0)
			return;
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				log_error("waitpid() failed: %s", strerror(errno));
			return;
		}
		struct launch_child *ch = launch_child_by_pid(l, pid);
		if (!ch) {
			log_debug("reaped unknown pid %d", (int)pid);
			continue;
		}
		launch_child_exited(l, ch, status, now);
	}
}

/* Kills (SIGKILL) running children whose heartbeat is older than the hang
 * timeout. A new process has the same span of grace from its start. */
static void launch_check_hung(struct launch *l, uint64_t now)
{
	uint64_t limit = (uint64_t)l->cfg.hang_timeout_ms;
	if (limit == 0)
		return;
	for (uint32_t i = 0; i < l->nchildren; i++) {
		struct launch_child *ch = &l->children[i];
		if (!ch->pid || ch->killed || ch->exiting)
			continue;
		uint64_t beat = atomic_load_explicit(&ch->slot->heartbeat_ms, memory_order_relaxed);
		uint64_t ref = beat > ch->started_mono ? beat : ch->started_mono;
		if (now <= ref || now - ref <= limit)
			continue;
		log_error("%s pid %d is hung: no heartbeat for %llu ms (limit %llu ms); killing it", ch->name,
			  (int)ch->pid, (unsigned long long)(now - ref), (unsigned long long)limit);
		ch->hung = ch->killed = 1;
		if (kill(ch->pid, SIGKILL) != 0 && errno != ESRCH)
			log_error("kill(%d, SIGKILL) failed: %s", (int)ch->pid, strerror(errno));
	}
}

/* Starts the children whose restart is due. */
static void launch_respawn_due(struct launch *l, uint64_t now)
{
	for (uint32_t i = 0; i < l->nchildren; i++) {
		struct launch_child *ch = &l->children[i];
		if (!ch->restart_pending || ch->pid || now < ch->restart_at)
			continue;
		atomic_fetch_add(&ch->slot->restarts, 1);
		launch_spawn(l, ch, now);
	}
}

/* 1 when every process of some stage has failed fatally: the pipeline
 * cannot work, so the launcher stops and exits non-zero. Stages whose
 * binary is missing do not count, unless no binary exists at all. */
static int launch_stage_all_fatal(struct launch *l)
{
	uint32_t missing = 0;
	for (uint32_t i = 0; i < l->nchildren; i++)
		missing += l->children[i].missing != 0;
	if (missing == l->nchildren) {
		log_error("no stage binary exists in %s; nothing to supervise", l->bin_dir);
		return 1;
	}
	for (int s = 0; s < CTL_STAGES; s++) {
		uint32_t n = 0, fatal = 0;
		for (uint32_t i = 0; i < l->nchildren; i++) {
			if (l->children[i].stage != (enum ctl_stage)s)
				continue;
			n++;
			fatal += l->children[i].fatal != 0;
		}
		if (n && fatal == n) {
			log_error("every %s process failed fatally; stopping the instance", ctl_stage_name(s));
			return 1;
		}
	}
	return 0;
}

/* ---- ordered stop ---- */

static int launch_in_phase(const struct launch *l, const struct launch_child *ch, enum launch_phase p)
{
	if (l->only)
		return p == LAUNCH_STOP_FRONT; /* one process: one phase */
	return (launch_phase_stages[p] >> ch->stage) & 1u;
}

/* Enters phase p: SIGTERM to its live children, deadline for SIGKILL. */
static void launch_enter_phase(struct launch *l, enum launch_phase p, uint64_t now)
{
	l->phase = p;
	if (p == LAUNCH_STOPPED)
		return;
	if (p == LAUNCH_STOP_AGGREGATORS && !l->only)
		atomic_store(&l->ctl.hdr->shutdown, 2); /* drain and exit */
	uint32_t budget = l->only ? LAUNCH_ONLY_STOP_MS : launch_phase_ms[p];
	l->phase_deadline = now + budget;
	l->kill_deadline = 0;
	for (uint32_t i = 0; i < l->nchildren; i++) {
		struct launch_child *ch = &l->children[i];
		if (!launch_in_phase(l, ch, p) || !ch->pid)
			continue;
		ch->exiting = 1;
		atomic_store(&ch->slot->state, CTL_STATE_STOPPING);
		if (kill(ch->pid, SIGTERM) != 0 && errno != ESRCH)
			log_error("kill(%d, SIGTERM) failed: %s", (int)ch->pid, strerror(errno));
		else
			log_info("stopping %s pid %d (SIGTERM)", ch->name, (int)ch->pid);
	}
}

/* Starts the orderly stop: no more restarts, shutdown flag for the stages. */
static void launch_begin_stop(struct launch *l, uint64_t now, const char *why)
{
	if (l->only)
		log_info("%s: stopping %s", why, l->children[0].name);
	else
		log_info("%s: stopping the instance in order (collectors and apiservers, then aggregators, "
			 "then alerters)", why);
	if (!l->only)
		atomic_store(&l->ctl.hdr->shutdown, 1);
	for (uint32_t i = 0; i < l->nchildren; i++)
		l->children[i].restart_pending = 0;
	launch_enter_phase(l, LAUNCH_STOP_FRONT, now);
}

/* Moves the stop sequence on: next phase once this one's children are all
 * reaped; SIGKILL to stragglers at the deadline; and past the kill grace,
 * on regardless (a process stuck in the kernel cannot be waited for). */
static void launch_advance_stop(struct launch *l, uint64_t now)
{
	while (l->phase != LAUNCH_RUNNING && l->phase != LAUNCH_STOPPED) {
		uint32_t live = 0;
		for (uint32_t i = 0; i < l->nchildren; i++)
			live += launch_in_phase(l, &l->children[i], l->phase) && l->children[i].pid;
		if (live == 0 || (l->kill_deadline && now >= l->kill_deadline)) {
			if (live)
				log_error("%u processes did not go away after SIGKILL; moving on", live);
			launch_enter_phase(l, l->phase + 1, now);
			continue;
		}
		if (!l->kill_deadline && now >= l->phase_deadline) {
			for (uint32_t i = 0; i < l->nchildren; i++) {
				struct launch_child *ch = &l->children[i];
				if (!launch_in_phase(l, ch, l->phase) || !ch->pid)
					continue;
				log_warn("%s pid %d did not stop in time; sending SIGKILL", ch->name, (int)ch->pid);
				ch->killed = 1;
				kill(ch->pid, SIGKILL);
			}
			l->kill_deadline = now + LAUNCH_KILL_GRACE_MS;
		}
		return;
	}
}

/* ---- the master loop ---- */

/* Blocks the signals the loop handles, installs their flag-setting
 * handlers and the tick timer. *wait_mask receives the mask to use in
 * sigsuspend (the old mask without them). Returns 0 or -errno. */
static int launch_signals_setup(sigset_t *wait_mask)
{
	static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGALRM, SIGHUP};
	sigset_t set, old;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, &old) != 0)
		return -errno;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = launch_on_signal;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) != 0)
			return -errno;
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	*wait_mask = old;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigdelset(wait_mask, sigs[i]);
	struct itimerval it = {
		.it_interval = {0, LAUNCH_TICK_MS * 1000},
		.it_value = {0, LAUNCH_TICK_MS * 1000},
	};
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		return -errno;
	return 0;
}

/* Runs until the instance has stopped. Returns the exit code. */
static int launch_loop(struct launch *l, const sigset_t *wait_mask)
{
	uint64_t now = segment_now_mono_ms();
	for (uint32_t i = 0; i < l->nchildren; i++)
		launch_spawn(l, &l->children[i], now);
	if (launch_stage_all_fatal(l)) {
		l->exit_code = 1;
		launch_begin_stop(l, now, "startup failed");
	}
	while (l->phase != LAUNCH_STOPPED) {
		/* Signals are blocked here: a flag set by a handler that ran
		 * after the previous sigsuspend is seen now, not lost. */
		if (!launch_sig_child && !launch_sig_stop && !launch_sig_tick && !launch_sig_hup)
			sigsuspend(wait_mask);
		now = segment_now_mono_ms();
		if (launch_sig_child) {
			launch_sig_child = 0;
			launch_reap(l, now);
		}
		launch_sig_tick = 0;
		if (launch_sig_hup) {
			launch_sig_hup = 0;
			launch_forward_hup(l);
		}
		if (launch_sig_stop) {
			int n = launch_sig_stop;
			launch_sig_stop = 0;
			if (l->phase == LAUNCH_RUNNING) {
				launch_begin_stop(l, now, "signal received");
			} else if (n > 0 && !l->kill_deadline) {
				log_warn("second stop signal: killing the processes of the current phase now");
				l->phase_deadline = now;
			}
		}
		if (l->phase == LAUNCH_RUNNING) {
			launch_check_hung(l, now);
			launch_respawn_due(l, now);
			if (launch_stage_all_fatal(l)) {
				l->exit_code = 1;
				launch_begin_stop(l, now, "fatal failure");
			}
		}
		if (l->phase != LAUNCH_RUNNING)
			launch_advance_stop(l, now);
	}
	log_info("instance \"%s\" stopped; shared memory left in place (mcs-launch --instance %s --cleanup removes it)",
		 l->cfg.instance, l->cfg.instance);
	return l->exit_code;
}

/* --cleanup: unlinks every segment of the instance unless a live process
 * owns it. Returns the exit code. */
static int launch_cleanup(const char *instance)
{
	struct ctl c;
	char what[96];
	int rc = ctl_attach(&c, instance, 0);
	if (rc == 0) {
		pid_t p = proc_instance_owner(c.hdr, NULL, what, sizeof(what));
		ctl_detach(&c);
		if (p) {
			log_error("instance \"%s\" is running (%s): stop it before --cleanup", instance, what);
			return 1;
		}
	}
	unsigned n = 0;
	rc = proc_unlink_instance(instance, &n);
	if (rc != 0) {
		log_error("removing the segments of instance \"%s\" failed: %s", instance, strerror(-rc));
		return 1;
	}
	log_info("instance \"%s\": removed %u shared-memory segments", instance, n);
	return 0;
}

int main(int argc, char **argv)
{
	struct launchcfg_opts o;
	struct launch l;
	char err[512];
	sigset_t wait_mask;
	int code = 1;

	memset(&l, 0, sizeof(l));
	log_init("launch", 0);
	int rc = launchcfg_parse_args(&o, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : LAUNCH_EXIT_FATAL;
	rc = launchcfg_load_config(&l.cfg, &o, err, sizeof(err));
	if (rc != 0) {
		log_error("configuration: %s", err);
		config_free(&l.cfg);
		return LAUNCH_EXIT_FATAL;
	}
	if (o.cleanup) {
		code = launch_cleanup(l.cfg.instance);
		config_free(&l.cfg);
		return code;
	}
	l.only = o.only_stage >= 0;
	if (l.only) {
		char proc[64];
		snprintf(proc, sizeof(proc), "launch:%s[%ld]", ctl_stage_name(o.only_stage), o.only_index);
		log_init(proc, l.cfg.log_json);
	} else {
		log_init("launch", l.cfg.log_json);
	}
	/* Signals first: a SIGTERM during setup is then kept pending and
	 * handled by the loop instead of killing us half-way. */
	rc = launch_signals_setup(&wait_mask);
	if (rc != 0) {
		log_error("signal setup failed: %s", strerror(-rc));
		goto out;
	}
	rc = proc_exe_dir(l.bin_dir, sizeof(l.bin_dir));
	if (rc != 0) {
		log_error("cannot find the directory of this executable (/proc/self/exe): %s", strerror(-rc));
		goto out;
	}
	if (launch_children_setup(&l, &o) != 0) {
		log_error("calloc() of the child table failed");
		goto out;
	}
	/* Own the instance before touching its files: a refused second
	 * launcher must not rewrite the running instance's configuration. */
	if (launch_ctl_setup(&l) != 0)
		goto out;
	if (launchcfg_write_config(&l.cfg, l.config_path, sizeof(l.config_path)) != 0)
		goto out;
	if (launch_rings_setup(&l) != 0)
		goto out;
	for (uint32_t i = 0; i < l.nchildren; i++)
		l.children[i].slot = ctl_slot(&l.ctl, l.children[i].stage, l.children[i].index);
	log_info("instance \"%s\": %u collectors, %u aggregators, %u alerters, %u apiservers, %u rings; "
		 "API on %s, push on %s; config %s",
		 l.cfg.instance, l.cfg.collectors, l.cfg.aggregators, l.cfg.alerters, l.cfg.apiservers, l.nrings,
		 l.cfg.api_listen, l.cfg.push_listen, l.config_path);
	code = launch_loop(&l, &wait_mask);
out:
	if (l.ctl.hdr && !l.only) {
		uint32_t me = (uint32_t)getpid();
		atomic_compare_exchange_strong(&l.ctl.hdr->launcher_pid, &me, 0);
	}
	launch_rings_close(&l);
	ctl_detach(&l.ctl);
	free(l.children);
	config_free(&l.cfg);
	return code;
}
