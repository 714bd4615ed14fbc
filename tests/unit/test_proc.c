/* test_proc: unit tests of shm/proc, the launcher's helpers: ring
 * enumeration for several shapes, restart backoff over set crash times,
 * spawning (exec errors come back, the child has its own group and an
 * empty signal mask), liveness checks over control-block slots, wait
 * status texts, directories, atomic writes, segment removal and releasing
 * a dead pid's ring fields. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/proc.h"

static struct ctl_header *shape(uint32_t c, uint32_t a, uint32_t r, uint32_t p)
{
	struct ctl_header *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->n_stage[CTL_COLLECTOR] = c;
	h->n_stage[CTL_AGGREGATOR] = a;
	h->n_stage[CTL_ALERTER] = r;
	h->n_stage[CTL_APISERVER] = p;
	h->sample_ring_bytes = 1u << 20;
	h->alert_ring_bytes = 1u << 18;
	h->query_ring_bytes = 1u << 16;
	return h;
}

/* ---- ring enumeration ---- */

static void test_rings_are_enumerated_sample_alert_query_reply(void **state)
{
	(void)state;
	struct ctl_header *h = shape(2, 2, 1, 1);
	static const char *const want[] = {
		"c0-a0", "c0-a1", "c1-a0", "c1-a1", /* sample: collector-major */
		"a0-r0", "a1-r0",                   /* alert */
		"p0-a0-q", "p0-a1-q",               /* query */
		"a0-p0-r", "a1-p0-r",               /* reply */
	};
	uint32_t n = proc_ring_count(h);
	assert_int_equal(n, 10);
	for (uint32_t i = 0; i < n; i++) {
		struct proc_ring_spec s;
		assert_int_equal(proc_ring_spec(h, i, &s), 0);
		assert_string_equal(s.name, want[i]);
	}
	struct proc_ring_spec s;
	assert_int_equal(proc_ring_spec(h, 1, &s), 0); /* c0-a1 */
	assert_int_equal(s.capacity, 1u << 20);
	assert_int_equal(s.policy, RING_FULL_BLOCK);
	assert_int_equal(s.producer_stage, CTL_COLLECTOR);
	assert_int_equal(s.producer_index, 0);
	assert_int_equal(s.consumer_stage, CTL_AGGREGATOR);
	assert_int_equal(s.consumer_index, 1);
	assert_int_equal(proc_ring_spec(h, 5, &s), 0); /* a1-r0 */
	assert_int_equal(s.capacity, 1u << 18);
	assert_int_equal(s.policy, RING_FULL_DROP);
	assert_int_equal(s.producer_stage, CTL_AGGREGATOR);
	assert_int_equal(s.producer_index, 1);
	assert_int_equal(s.consumer_stage, CTL_ALERTER);
	assert_int_equal(proc_ring_spec(h, 7, &s), 0); /* p0-a1-q */
	assert_int_equal(s.capacity, 1u << 16);
	assert_int_equal(s.producer_stage, CTL_APISERVER);
	assert_int_equal(s.consumer_stage, CTL_AGGREGATOR);
	assert_int_equal(s.consumer_index, 1);
	assert_int_equal(proc_ring_spec(h, 9, &s), 0); /* a1-p0-r */
	assert_int_equal(s.producer_stage, CTL_AGGREGATOR);
	assert_int_equal(s.producer_index, 1);
	assert_int_equal(s.consumer_stage, CTL_APISERVER);
	assert_int_equal(s.consumer_index, 0);
	assert_int_equal(proc_ring_spec(h, 10, &s), -ERANGE);
	assert_string_equal(s.name, "");
	free(h);
}

static void test_every_ring_name_is_unique_and_found_again(void **state)
{
	(void)state;
	struct ctl_header *h = shape(3, 4, 2, 3);
	uint32_t n = proc_ring_count(h);
	assert_int_equal(n, 3 * 4 + 4 * 2 + 2 * 3 * 4);
	char (*names)[PROC_RING_NAME_MAX] = calloc(n, PROC_RING_NAME_MAX);
	assert_non_null(names);
	for (uint32_t i = 0; i < n; i++) {
		struct proc_ring_spec s, f;
		assert_int_equal(proc_ring_spec(h, i, &s), 0);
		for (uint32_t j = 0; j < i; j++)
			assert_string_not_equal(names[j], s.name);
		memcpy(names[i], s.name, PROC_RING_NAME_MAX);
		assert_int_equal(proc_ring_find(h, s.name, &f), 0);
		assert_memory_equal(&s, &f, sizeof(s));
	}
	struct proc_ring_spec f;
	assert_int_equal(proc_ring_find(h, "c3-a0", &f), -ENOENT);
	assert_int_equal(proc_ring_find(h, "a0-r2", &f), -ENOENT);
	assert_int_equal(proc_ring_find(h, "", &f), -ENOENT);
	free(names);
	free(h);
}

static void test_shapes_without_some_stages_enumerate_safely(void **state)
{
	(void)state;
	struct proc_ring_spec s;
	/* No aggregators: no rings at all, and no division by zero. */
	struct ctl_header *h = shape(2, 0, 1, 1);
	assert_int_equal(proc_ring_count(h), 0);
	assert_int_equal(proc_ring_spec(h, 0, &s), -ERANGE);
	free(h);
	/* No alerters: sample then query/reply rings. */
	h = shape(1, 2, 0, 1);
	assert_int_equal(proc_ring_count(h), 2 + 0 + 4);
	assert_int_equal(proc_ring_spec(h, 2, &s), 0);
	assert_string_equal(s.name, "p0-a0-q");
	free(h);
	/* No apiservers. */
	h = shape(1, 1, 1, 0);
	assert_int_equal(proc_ring_count(h), 2);
	assert_int_equal(proc_ring_spec(h, 1, &s), 0);
	assert_string_equal(s.name, "a0-r0");
	assert_int_equal(proc_ring_spec(h, 2, &s), -ERANGE);
	free(h);
}

/* ---- backoff ---- */

static void test_backoff_restarts_fast_until_the_crash_limit(void **state)
{
	(void)state;
	struct proc_backoff b;
	memset(&b, 0, sizeof(b));
	uint64_t t = 1000000;
	for (uint32_t i = 1; i <= PROC_CRASH_LIMIT; i++) {
		assert_int_equal(proc_backoff_crash(&b, t + i * 100), PROC_RESTART_MS);
		assert_int_equal(b.recent, i);
		assert_int_equal(b.delay_ms, 0);
	}
	/* One more within the window: crash-looping, delay doubles to the cap. */
	uint32_t want = PROC_BACKOFF_MIN_MS;
	for (uint32_t i = 0; i < 8; i++) {
		uint32_t d = proc_backoff_crash(&b, t + 1000 + i * 100);
		assert_int_equal(d, want);
		assert_int_equal(b.delay_ms, want);
		assert_true(b.recent > PROC_CRASH_LIMIT);
		assert_true(b.recent <= PROC_CRASH_HISTORY);
		want = want * 2 > PROC_BACKOFF_MAX_MS ? PROC_BACKOFF_MAX_MS : want * 2;
	}
	assert_int_equal(b.delay_ms, PROC_BACKOFF_MAX_MS);
	assert_int_equal(b.recent, PROC_CRASH_HISTORY);
}

static void test_backoff_falls_back_once_the_window_empties(void **state)
{
	(void)state;
	struct proc_backoff b;
	memset(&b, 0, sizeof(b));
	uint64_t t = 5000;
	for (uint32_t i = 0; i <= PROC_CRASH_LIMIT; i++)
		proc_backoff_crash(&b, t + i);
	assert_int_equal(b.delay_ms, PROC_BACKOFF_MIN_MS);
	/* A crash a full window after the burst sees only itself. */
	uint64_t later = t + PROC_CRASH_LIMIT + PROC_CRASH_WINDOW_MS;
	assert_int_equal(proc_backoff_crash(&b, later), PROC_RESTART_MS);
	assert_int_equal(b.recent, 1);
	assert_int_equal(b.delay_ms, 0);
	/* A new burst starts again from the minimum. */
	for (uint32_t i = 1; i < PROC_CRASH_LIMIT; i++)
		assert_int_equal(proc_backoff_crash(&b, later + i), PROC_RESTART_MS);
	assert_int_equal(proc_backoff_crash(&b, later + 10), PROC_BACKOFF_MIN_MS);
}

static void test_backoff_window_edge_is_exclusive(void **state)
{
	(void)state;
	struct proc_backoff b;
	memset(&b, 0, sizeof(b));
	/* Crashes exactly PROC_CRASH_WINDOW_MS old no longer count. */
	for (uint32_t i = 0; i < PROC_CRASH_LIMIT; i++)
		proc_backoff_crash(&b, 100);
	assert_int_equal(proc_backoff_crash(&b, 100 + PROC_CRASH_WINDOW_MS), PROC_RESTART_MS);
	assert_int_equal(b.recent, 1);
	memset(&b, 0, sizeof(b));
	for (uint32_t i = 0; i < PROC_CRASH_LIMIT; i++)
		proc_backoff_crash(&b, 100);
	assert_int_equal(proc_backoff_crash(&b, 100 + PROC_CRASH_WINDOW_MS - 1), PROC_BACKOFF_MIN_MS);
	assert_int_equal(b.recent, PROC_CRASH_LIMIT + 1);
	assert_int_equal(b.ncrashes, PROC_CRASH_LIMIT + 1);
}

/* ---- processes ---- */

static void test_spawn_runs_the_program_in_its_own_group_with_an_empty_mask(void **state)
{
	(void)state;
	/* Block a signal here: the child must not inherit the block. */
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	char *const argv[] = {"sh", "-c",
			      "grep -Eq '^SigBlk:[[:space:]]*0+$' /proc/self/status && "
			      "[ \"$(cut -d' ' -f5 /proc/$$/stat)\" = \"$$\" ]",
			      NULL};
	pid_t pid = -1;
	int rc = proc_spawn("/bin/sh", argv, &pid);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc == -ENOENT)
		skip();
	assert_int_equal(rc, 0);
	assert_true(pid > 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_spawn_returns_the_exec_errno_and_reaps_the_child(void **state)
{
	(void)state;
	char *const argv[] = {"nope", NULL};
	pid_t pid = 123;
	assert_int_equal(proc_spawn("/nonexistent/mcs-nope", argv, &pid), -ENOENT);
	assert_int_equal(pid, 0);
	/* Not executable: EACCES. */
	char dir[] = "/tmp/test_proc_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(proc_spawn(path, argv, &pid), -EACCES);
	unlink(path);
	rmdir(dir);
	/* No child is left behind. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_alive_and_is_mcs_tell_processes_apart(void **state)
{
	(void)state;
	assert_false(proc_alive(0));
	assert_false(proc_alive(-1));
	assert_true(proc_alive(getpid()));
	assert_false(proc_is_mcs(getpid())); /* comm is "test_proc" */

	/* A child named "mcs-fake" counts as mcs; once reaped it is gone. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, "mcs-fake");
		char c = 1;
		ssize_t w = write(p[1], &c, 1);
		(void)w;
		pause();
		_exit(0);
	}
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
	assert_true(proc_alive(pid));
	assert_true(proc_is_mcs(pid));

	/* Its control-block slot: live while it runs. */
	struct ctl_header *h = shape(1, 1, 1, 1);
	h->nslots = 2;
	h->slots[1].stage = CTL_AGGREGATOR;
	h->slots[1].index = 0;
	atomic_store(&h->slots[1].pid, (uint32_t)pid);
	assert_true(proc_slot_live(&h->slots[1], getpid()));
	assert_false(proc_slot_live(&h->slots[1], pid)); /* "self" is never live */
	char what[64] = "";
	assert_int_equal(proc_instance_owner(h, NULL, what, sizeof(what)), pid);
	char want[64];
	snprintf(want, sizeof(want), "aggregator[0] pid %d", (int)pid);
	assert_string_equal(what, want);
	/* Restricted to another slot: nobody. */
	assert_int_equal(proc_instance_owner(h, &h->slots[0], what, sizeof(what)), 0);
	/* The launcher comes first. */
	atomic_store(&h->launcher_pid, (uint32_t)pid);
	assert_int_equal(proc_instance_owner(h, NULL, what, sizeof(what)), pid);
	snprintf(want, sizeof(want), "mcs-launch pid %d", (int)pid);
	assert_string_equal(what, want);

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_false(proc_alive(pid));
	assert_false(proc_is_mcs(pid));
	free(h);
}

static void test_slots_of_unseen_pids_live_by_fresh_heartbeat(void **state)
{
	(void)state;
	struct ctl_slot s;
	memset(&s, 0, sizeof(s));
	assert_false(proc_slot_live(&s, getpid())); /* pid 0 */

	/* A pid that does not exist here (another pid namespace). */
	pid_t ghost = (pid_t)0x3ffffff0;
	if (proc_alive(ghost))
		skip();
	atomic_store(&s.pid, (uint32_t)ghost);
	uint64_t now = segment_now_mono_ms();
	atomic_store(&s.heartbeat_ms, now);
	atomic_store(&s.state, CTL_STATE_RUNNING);
	assert_true(proc_slot_live(&s, getpid()));
	/* Exited: not live however fresh. */
	atomic_store(&s.state, CTL_STATE_EXITED);
	assert_false(proc_slot_live(&s, getpid()));
	atomic_store(&s.state, CTL_STATE_RUNNING);
	/* Stale heartbeat, no heartbeat, a heartbeat from the future. */
	atomic_store(&s.heartbeat_ms, now - PROC_FRESH_BEAT_MS - 1);
	assert_false(proc_slot_live(&s, getpid()));
	atomic_store(&s.heartbeat_ms, 0);
	assert_false(proc_slot_live(&s, getpid()));
	atomic_store(&s.heartbeat_ms, now + 60000);
	assert_false(proc_slot_live(&s, getpid()));
}

static void test_status_text_describes_exits_and_signals(void **state)
{
	(void)state;
	char buf[96];
	assert_string_equal(proc_status_text(3 << 8, buf, sizeof(buf)), "exited with status 3");
	assert_string_equal(proc_status_text(0, buf, sizeof(buf)), "exited with status 0");
	assert_string_equal(proc_status_text(SIGKILL, buf, sizeof(buf)), "killed by signal 9 (SIGKILL)");
	assert_string_equal(proc_status_text(SIGSEGV | 0x80, buf, sizeof(buf)),
			    "killed by signal 11 (SIGSEGV, core dumped)");
	assert_string_equal(proc_status_text(0x137f, buf, sizeof(buf)), "changed state (wait status 0x137f)");
	/* A real child killed by SIGTERM. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		raise(SIGTERM);
		_exit(1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_string_equal(proc_status_text(st, buf, sizeof(buf)), "killed by signal 15 (SIGTERM)");
	/* A small buffer is cut, terminated. */
	char small[8];
	assert_string_equal(proc_status_text(3 << 8, small, sizeof(small)), "exited ");
}

static void test_exe_dir_is_the_directory_of_this_binary(void **state)
{
	(void)state;
	char exe[PATH_MAX], dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		skip();
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	assert_int_equal(proc_exe_dir(dir, sizeof(dir)), 0);
	assert_string_equal(dir, exe);
	char tiny[4];
	assert_int_equal(proc_exe_dir(tiny, sizeof(tiny)), -ENAMETOOLONG);
}

/* ---- files ---- */

static void test_mkdirs_creates_parents_and_refuses_files_in_the_way(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_proc_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char p[PATH_MAX], f[PATH_MAX];
	snprintf(p, sizeof(p), "%s/a/b//c/", dir);
	assert_int_equal(proc_mkdirs(p), 0);
	struct stat st;
	snprintf(p, sizeof(p), "%s/a/b/c", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(proc_mkdirs(p), 0); /* exists: fine */
	snprintf(f, sizeof(f), "%s/a/file", dir);
	assert_int_equal(proc_write_atomic(f, "x", 1), 0);
	snprintf(p, sizeof(p), "%s/a/file/sub", dir);
	assert_int_equal(proc_mkdirs(p), -ENOTDIR);
	assert_int_equal(proc_mkdirs(f), -ENOTDIR);
	assert_int_equal(proc_mkdirs(""), -EINVAL);
	char *longp = malloc(PATH_MAX + 10);
	memset(longp, 'a', PATH_MAX + 9);
	longp[PATH_MAX + 9] = '\0';
	assert_int_equal(proc_mkdirs(longp), -ENAMETOOLONG);
	free(longp);
	unlink(f);
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	assert_int_equal(system(p), 0);
}

static void test_write_atomic_replaces_the_file_and_leaves_no_temporary(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_proc_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char f[128], tmp[256];
	snprintf(f, sizeof(f), "%s/run.json", dir);
	assert_int_equal(proc_write_atomic(f, "first version", 13), 0);
	assert_int_equal(proc_write_atomic(f, "{}", 2), 0);
	char buf[64];
	int fd = open(f, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "{}", 2);
	close(fd);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", f, (int)getpid());
	assert_int_equal(access(tmp, F_OK), -1);
	/* Empty data is an empty file. */
	assert_int_equal(proc_write_atomic(f, "", 0), 0);
	struct stat st;
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* Missing directory: the errno. Renaming over a directory fails and
	 * removes the temporary. */
	snprintf(tmp, sizeof(tmp), "%s/none/x", dir);
	assert_int_equal(proc_write_atomic(tmp, "x", 1), -ENOENT);
	snprintf(tmp, sizeof(tmp), "%s/d", dir);
	assert_int_equal(mkdir(tmp, 0755), 0);
	assert_int_equal(proc_write_atomic(tmp, "x", 1), -EISDIR);
	char t2[300];
	snprintf(t2, sizeof(t2), "%s.tmp.%d", tmp, (int)getpid());
	assert_int_equal(access(t2, F_OK), -1);
	rmdir(tmp);
	unlink(f);
	rmdir(dir);
}

/* ---- segments and rings ---- */

static void test_unlink_instance_removes_only_that_instances_segments(void **state)
{
	(void)state;
	char inst[64], name[128], other[128];
	snprintf(inst, sizeof(inst), "tproc%d", (int)getpid());
	static const char *const mine[] = {"ctl", "ring.c0-a0", "alerts.0"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "/mcs.%s.%s", inst, mine[i]);
		int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
		if (fd < 0)
			skip(); /* no /dev/shm here */
		close(fd);
	}
	/* Same prefix without the dot: another instance, left alone. */
	snprintf(other, sizeof(other), "/mcs.%sx.ctl", inst);
	int fd = shm_open(other, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	close(fd);
	unsigned count = 99;
	assert_int_equal(proc_unlink_instance(inst, &count), 0);
	assert_int_equal(count, 3);
	snprintf(name, sizeof(name), "/mcs.%s.ctl", inst);
	assert_int_equal(shm_open(name, O_RDWR, 0), -1);
	fd = shm_open(other, O_RDWR, 0);
	assert_true(fd >= 0);
	close(fd);
	shm_unlink(other);
	assert_int_equal(proc_unlink_instance(inst, NULL), 0);
	assert_int_equal(proc_unlink_instance(inst, &count), 0);
	assert_int_equal(count, 0);
	/* Names that could reach other files are refused. */
	assert_int_equal(proc_unlink_instance("a/b", &count), -EINVAL);
	assert_int_equal(proc_unlink_instance("..", &count), -EINVAL);
	assert_int_equal(proc_unlink_instance("", &count), -EINVAL);
	assert_int_equal(proc_unlink_instance(NULL, &count), -EINVAL);
}

static void test_release_rings_clears_only_the_dead_pids_fields(void **state)
{
	(void)state;
	struct ring_header *h = calloc(3, sizeof(*h));
	assert_non_null(h);
	struct ring rs[4];
	memset(rs, 0, sizeof(rs));
	for (int i = 0; i < 3; i++)
		rs[i].hdr = &h[i];
	/* rs[3].hdr stays NULL: a ring not attached is skipped. */
	atomic_store(&h[0].producer_pid, 100);
	atomic_store(&h[0].producer_sleeping, 1);
	atomic_store(&h[0].consumer_pid, 200);
	atomic_store(&h[0].consumer_sleeping, 1);
	atomic_store(&h[1].producer_pid, 300);
	atomic_store(&h[1].consumer_pid, 100);
	atomic_store(&h[1].consumer_sleeping, 1);
	atomic_store(&h[2].producer_pid, 100);
	atomic_store(&h[2].consumer_pid, 100);
	assert_int_equal(proc_release_rings(rs, 4, 100), 4);
	assert_int_equal(atomic_load(&h[0].producer_pid), 0);
	assert_int_equal(atomic_load(&h[0].producer_sleeping), 0);
	assert_int_equal(atomic_load(&h[0].consumer_pid), 200);
	assert_int_equal(atomic_load(&h[0].consumer_sleeping), 1);
	assert_int_equal(atomic_load(&h[1].producer_pid), 300);
	assert_int_equal(atomic_load(&h[1].consumer_pid), 0);
	assert_int_equal(atomic_load(&h[1].consumer_sleeping), 0);
	assert_int_equal(atomic_load(&h[2].producer_pid), 0);
	assert_int_equal(atomic_load(&h[2].consumer_pid), 0);
	/* Again: nothing left; pid 0 and negative pids never match. */
	assert_int_equal(proc_release_rings(rs, 4, 100), 0);
	assert_int_equal(proc_release_rings(rs, 4, 0), 0);
	assert_int_equal(proc_release_rings(rs, 4, -1), 0);
	assert_int_equal(proc_release_rings(rs, 0, 200), 0);
	assert_int_equal(atomic_load(&h[0].consumer_pid), 200);
	free(h);
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rings_are_enumerated_sample_alert_query_reply),
		cmocka_unit_test(test_every_ring_name_is_unique_and_found_again),
		cmocka_unit_test(test_shapes_without_some_stages_enumerate_safely),
		cmocka_unit_test(test_backoff_restarts_fast_until_the_crash_limit),
		cmocka_unit_test(test_backoff_falls_back_once_the_window_empties),
		cmocka_unit_test(test_backoff_window_edge_is_exclusive),
		cmocka_unit_test(test_spawn_runs_the_program_in_its_own_group_with_an_empty_mask),
		cmocka_unit_test(test_spawn_returns_the_exec_errno_and_reaps_the_child),
		cmocka_unit_test(test_alive_and_is_mcs_tell_processes_apart),
		cmocka_unit_test(test_slots_of_unseen_pids_live_by_fresh_heartbeat),
		cmocka_unit_test(test_status_text_describes_exits_and_signals),
		cmocka_unit_test(test_exe_dir_is_the_directory_of_this_binary),
		cmocka_unit_test(test_mkdirs_creates_parents_and_refuses_files_in_the_way),
		cmocka_unit_test(test_write_atomic_replaces_the_file_and_leaves_no_temporary),
		cmocka_unit_test(test_unlink_instance_removes_only_that_instances_segments),
		cmocka_unit_test(test_release_rings_clears_only_the_dead_pids_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
