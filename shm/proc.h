/* proc: process and instance helpers shared by the two programs that own
 * the shared memory, mcs-launch and mcs-ringctl.
 *
 * It knows how to start a stage process safely (signals blocked across
 * fork, the child's mask and dispositions reset before exec, exec errors
 * sent back through a close-on-exec pipe), how to tell whether a pid is
 * alive, which rings an instance of a given shape has and who writes and
 * reads each, and how to remove every segment of an instance.
 *
 * Not here: the supervision policy (restart, backoff, ordered stop: that is
 * shm/launch.c), the ring protocol (ring.h) and the control block (ctl.h).
 *
 * Invariants: ring enumeration is a pure function of the control block's
 * shape, so every process that sees the same shape names the same rings,
 * in the same order: sample rings cI-aJ, then alert rings aJ-rK, then query
 * rings pI-aJ-q, then reply rings aJ-pI-r.
 */
#ifndef MCS_PROC_H
#define MCS_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shm/ctl.h"
#include "shm/ring.h"

#define PROC_RING_NAME_MAX 32

/* One ring of an instance: its short name, capacity and policy as the
 * control block fixes them, and which stage process produces into it and
 * which consumes from it. */
struct proc_ring_spec {
	char name[PROC_RING_NAME_MAX];  /* short name, e.g. "c0-a1" */
	uint64_t capacity;              /* data area bytes */
	enum ring_full_policy policy;
	enum ctl_stage producer_stage;
	uint32_t producer_index;
	enum ctl_stage consumer_stage;
	uint32_t consumer_index;
};

/* Number of rings an instance of this shape has. */
uint32_t proc_ring_count(const struct ctl_header *h);

/* Fills *out with ring number i (0 <= i < proc_ring_count). Returns 0, or
 * -ERANGE when i is out of range. */
int proc_ring_spec(const struct ctl_header *h, uint32_t i, struct proc_ring_spec *out);

/* Finds the ring whose short name is `name`. Returns 0 and fills *out, or
 * -ENOENT when the shape has no such ring. */
int proc_ring_find(const struct ctl_header *h, const char *name, struct proc_ring_spec *out);

/* Restart backoff with a crash-loop limit. A process that crashes is
 * restarted after PROC_RESTART_MS; once more than PROC_CRASH_LIMIT crashes
 * fall within PROC_CRASH_WINDOW_MS, the delay starts at PROC_BACKOFF_MIN_MS
 * and doubles per crash up to PROC_BACKOFF_MAX_MS. It falls back to
 * PROC_RESTART_MS once the window holds few enough crashes again. */
#define PROC_RESTART_MS       100u
#define PROC_CRASH_WINDOW_MS  30000u
#define PROC_CRASH_LIMIT      5u
#define PROC_BACKOFF_MIN_MS   1000u
#define PROC_BACKOFF_MAX_MS   30000u
#define PROC_CRASH_HISTORY    8u     /* > PROC_CRASH_LIMIT */

struct proc_backoff {
	uint64_t crashes[PROC_CRASH_HISTORY]; /* CLOCK_MONOTONIC ms, ring buffer */
	uint32_t ncrashes;    /* crashes ever, indexes the ring buffer */
	uint32_t recent;      /* crashes within the window at the last crash */
	uint32_t delay_ms;    /* crash-loop delay in force, 0 when not looping */
};

/* Records a crash at `now_ms` (CLOCK_MONOTONIC) and returns the delay
 * before the restart, in ms. b->delay_ms != 0 afterwards means the process
 * is crash-looping (b->recent says how many crashes the window holds, at
 * least PROC_CRASH_HISTORY meaning "that many or more"). The caller owns
 * *b, zero-initialised. */
uint32_t proc_backoff_crash(struct proc_backoff *b, uint64_t now_ms);

/* Starts `path` with `argv` (NULL-terminated, argv[0] included) as a child
 * in its own process group, so that a terminal's ^C reaches only the
 * supervisor, which then stops the pipeline in order. The child gets
 * SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), an empty signal mask
 * and default dispositions. Every signal is blocked in the parent across
 * fork, so no handler of the parent runs in the child.
 * Returns 0 and sets *pid_out; -errno of fork or pipe2; or the -errno with
 * which execv failed in the child (the child is then already reaped). */
int proc_spawn(const char *path, char *const argv[], pid_t *pid_out);

/* 1 when a process with that pid exists (EPERM counts as existing), else 0.
 * pid 0 is never alive. */
int proc_alive(pid_t pid);

/* 1 when pid is alive and its command name starts with "mcs-", which
 * guards against a reused pid belonging to an unrelated process. */
int proc_is_mcs(pid_t pid);

/* 1 when the process of a control-block slot looks alive: its pid exists
 * and is an mcs program, or, for a pid this process cannot see (another
 * container without a shared pid namespace), its heartbeat is younger than
 * PROC_FRESH_BEAT_MS and it has not exited. CLOCK_MONOTONIC is one clock
 * for the whole machine, so heartbeats compare across containers. A slot
 * holding `self` counts as not alive. */
#define PROC_FRESH_BEAT_MS 3000u
int proc_slot_live(struct ctl_slot *s, pid_t self);

/* Finds a live process that owns the instance, other than the caller: the
 * launcher (launcher_pid) first, then any stage slot, or only `only` when
 * not NULL. Returns its pid and describes it in what[len] ("mcs-launch pid
 * 12", "collector[0] pid 34"), or 0 when nothing of the instance lives. */
pid_t proc_instance_owner(struct ctl_header *h, struct ctl_slot *only, char *what, size_t len);

/* Writes the directory holding the running executable (dirname of
 * /proc/self/exe) into buf. Returns 0, -ENAMETOOLONG or -errno. */
int proc_exe_dir(char *buf, size_t len);

/* Describes a wait status in words: "exited with status 3", "killed by
 * signal 9 (SIGKILL)", "killed by signal 11 (SIGSEGV, core dumped)".
 * Returns buf. */
const char *proc_status_text(int status, char *buf, size_t len);

/* Creates `path` and its missing parents with mode 0755. Returns 0 or
 * -errno (-ENOTDIR when a component is not a directory). */
int proc_mkdirs(const char *path);

/* Writes len bytes of data to path atomically: to "<path>.tmp.<pid>",
 * fsync, then rename over path. Readers see the old or the new file, never
 * a part. Returns 0 or -errno (the temporary file is removed on failure). */
int proc_write_atomic(const char *path, const void *data, size_t len);

/* Unlinks every shared-memory segment of `instance` ("/mcs.<instance>.*":
 * control block, rings, alert tables), found by listing /dev/shm. Sets
 * *count (may be NULL) to the number removed. Returns 0, or the -errno of
 * the first failure (the others are still attempted). */
int proc_unlink_instance(const char *instance, unsigned *count);

/* Clears, in every ring of rs[0..n), the producer and consumer pid fields
 * that hold `pid`, and that side's sleeping flag, as nginx's
 * ngx_unlock_mutexes() releases what a dead worker held. Call it only for
 * a pid known dead. Returns the number of fields cleared. */
unsigned proc_release_rings(struct ring *rs, uint32_t n, pid_t pid);

#endif
