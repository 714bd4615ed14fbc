/* proc: see proc.h. Linux-specific on purpose: /proc/self/exe,
 * /proc/<pid>/comm, /dev/shm and PR_SET_PDEATHSIG. */
#include "shm/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- ring enumeration ---- */

uint32_t proc_ring_count(const struct ctl_header *h)
{
	uint32_t c = h->n_stage[CTL_COLLECTOR], a = h->n_stage[CTL_AGGREGATOR];
	uint32_t r = h->n_stage[CTL_ALERTER], p = h->n_stage[CTL_APISERVER];
	return c * a + a * r + 2 * p * a;
}

int proc_ring_spec(const struct ctl_header *h, uint32_t i, struct proc_ring_spec *out)
{
	uint32_t c = h->n_stage[CTL_COLLECTOR], a = h->n_stage[CTL_AGGREGATOR];
	uint32_t r = h->n_stage[CTL_ALERTER], p = h->n_stage[CTL_APISERVER];
	memset(out, 0, sizeof(*out));
	if (a == 0)
		return -ERANGE;
	if (i < c * a) {
		uint32_t ci = i / a, aj = i % a;
		ctl_ring_sample(out->name, sizeof(out->name), ci, aj);
		out->capacity = h->sample_ring_bytes;
		out->policy = RING_FULL_BLOCK;
		out->producer_stage = CTL_COLLECTOR;
		out->producer_index = ci;
		out->consumer_stage = CTL_AGGREGATOR;
		out->consumer_index = aj;
		return 0;
	}
	i -= c * a;
	if (i < a * r) {
		uint32_t aj = i / r, rk = i % r;
		ctl_ring_alert(out->name, sizeof(out->name), aj, rk);
		out->capacity = h->alert_ring_bytes;
		out->policy = RING_FULL_DROP;
		out->producer_stage = CTL_AGGREGATOR;
		out->producer_index = aj;
		out->consumer_stage = CTL_ALERTER;
		out->consumer_index = rk;
		return 0;
	}
	i -= a * r;
	if (i < p * a) {
		uint32_t pi = i / a, aj = i % a;
		ctl_ring_query(out->name, sizeof(out->name), pi, aj);
		out->capacity = h->query_ring_bytes;
		out->policy = RING_FULL_BLOCK;
		out->producer_stage = CTL_APISERVER;
		out->producer_index = pi;
		out->consumer_stage = CTL_AGGREGATOR;
		out->consumer_index = aj;
		return 0;
	}
	i -= p * a;
	if (i < p * a) {
		uint32_t pi = i / a, aj = i % a;
		ctl_ring_reply(out->name, sizeof(out->name), aj, pi);
		out->capacity = h->query_ring_bytes;
		out->policy = RING_FULL_BLOCK;
		out->producer_stage = CTL_AGGREGATOR;
		out->producer_index = aj;
		out->consumer_stage = CTL_APISERVER;
		out->consumer_index = pi;
		return 0;
	}
	return -ERANGE;
}

int proc_ring_find(const struct ctl_header *h, const char *name, struct proc_ring_spec *out)
{
	uint32_t n = proc_ring_count(h);
	for (uint32_t i = 0; i < n; i++)
		if (proc_ring_spec(h, i, out) == 0 && strcmp(out->name, name) == 0)
			return 0;
	memset(out, 0, sizeof(*out));
	return -ENOENT;
}

/* ---- processes ---- */

uint32_t proc_backoff_crash(struct proc_backoff *b, uint64_t now_ms)
{
	b->crashes[b->ncrashes++ % PROC_CRASH_HISTORY] = now_ms;
	uint32_t have = b->ncrashes < PROC_CRASH_HISTORY ? b->ncrashes : PROC_CRASH_HISTORY;
	b->recent = 0;
	for (uint32_t i = 0; i < have; i++)
		if (now_ms - b->crashes[i] < PROC_CRASH_WINDOW_MS)
			b->recent++;
	if (b->recent <= PROC_CRASH_LIMIT) {
		b->delay_ms = 0;
		return PROC_RESTART_MS;
	}
	b->delay_ms = b->delay_ms ? b->delay_ms * 2 : PROC_BACKOFF_MIN_MS;
	if (b->delay_ms > PROC_BACKOFF_MAX_MS)
		b->delay_ms = PROC_BACKOFF_MAX_MS;
	return b->delay_ms;
}

/* Runs in the child between fork and exec: only async-signal-safe calls.
 * Never returns. */
static void proc_child_exec(const char *path, char *const argv[], int errfd, pid_t parent)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	/* Dispositions first, mask last: a signal pending now must find the
	 * default action, not a handler of the parent. */
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sigaction(sig, &sa, NULL); /* fails harmlessly for reserved RT signals */
	}
	setpgid(0, 0);
	/* The stage must not outlive its supervisor: SIGTERM lets it stop
	 * cleanly. Checking getppid() closes the race with a parent that died
	 * before the prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) {
		int err = getppid() != parent ? ESRCH : errno;
		ssize_t w = write(errfd, &err, sizeof(err));
		(void)w;
		_exit(127);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(path, argv);
	int err = errno;
	ssize_t w = write(errfd, &err, sizeof(err));
	(void)w;
	_exit(127);
}

int proc_spawn(const char *path, char *const argv[], pid_t *pid_out)
{
	int fds[2];
	sigset_t all, old;
	*pid_out = 0;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		proc_child_exec(path, argv, fds[1], parent);
	}
	int err = pid < 0 ? errno : 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -err;
	}
	/* The write end closes on exec (success: read returns 0) or on _exit
	 * after the child wrote its errno. */
	int child_err = 0;
	ssize_t n;
	do {
		n = read(fds[0], &child_err, sizeof(child_err));
	} while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n == (ssize_t)sizeof(child_err)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return child_err > 0 ? -child_err : -ECHILD;
	}
	*pid_out = pid;
	return 0;
}

int proc_alive(pid_t pid)
{
	if (pid <= 0)
		return 0;
	return kill(pid, 0) == 0 || errno == EPERM;
}

int proc_is_mcs(pid_t pid)
{
	char path[64], comm[64] = "";
	if (!proc_alive(pid))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1; /* no /proc view of it (another pid namespace): trust kill() */
	ssize_t n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	comm[n] = '\0';
	return strncmp(comm, "mcs-", 4) == 0;
}

int proc_slot_live(struct ctl_slot *s, pid_t self)
{
	pid_t p = (pid_t)atomic_load(&s->pid);
	if (!p || p == self)
		return 0;
	if (proc_is_mcs(p))
		return 1;
	uint64_t beat = atomic_load(&s->heartbeat_ms), now = segment_now_mono_ms();
	return atomic_load(&s->state) != CTL_STATE_EXITED && beat && now >= beat &&
	       now - beat < PROC_FRESH_BEAT_MS;
}

pid_t proc_instance_owner(struct ctl_header *h, struct ctl_slot *only, char *what, size_t len)
{
	pid_t me = getpid();
	pid_t lp = (pid_t)atomic_load(&h->launcher_pid);
	if (lp && lp != me && proc_is_mcs(lp)) {
		snprintf(what, len, "mcs-launch pid %d", (int)lp);
		return lp;
	}
	for (uint32_t i = 0; i < h->nslots && i < CTL_MAX_SLOTS; i++) {
		struct ctl_slot *s = &h->slots[i];
		if (only && s != only)
			continue;
		if (proc_slot_live(s, me)) {
			pid_t p = (pid_t)atomic_load(&s->pid);
			snprintf(what, len, "%s[%u] pid %d", ctl_stage_name(s->stage), s->index, (int)p);
			return p;
		}
	}
	return 0;
}

int proc_exe_dir(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -EINVAL;
	if (slash == exe)
		slash++; /* executable in "/" */
	*slash = '\0';
	if (strlen(exe) + 1 > len)
		return -ENAMETOOLONG;
	memcpy(buf, exe, strlen(exe) + 1);
	return 0;
}

const char *proc_status_text(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		const char *abbrev = sigabbrev_np(sig);
		snprintf(buf, len, "killed by signal %d (SIG%s%s)", sig, abbrev ? abbrev : "?",
			 WCOREDUMP(status) ? ", core dumped" : "");
	} else {
		snprintf(buf, len, "changed state (wait status 0x%x)", (unsigned)status);
	}
	return buf;
}

/* ---- files ---- */

int proc_mkdirs(const char *path)
{
	char p[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -errno;
		struct stat st;
		if (stat(p, &st) != 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		*s = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

int proc_write_atomic(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = 0;
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = -errno;
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = -errno;
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

/* ---- segments ---- */

int proc_unlink_instance(const char *instance, unsigned *count)
{
	char prefix[96], name[300];
	unsigned removed = 0;
	int first_err = 0;
	if (count)
		*count = 0;
	if (!instance || !*instance || strpbrk(instance, "/."))
		return -EINVAL;
	snprintf(prefix, sizeof(prefix), "mcs.%s.", instance);
	size_t pl = strlen(prefix);
	DIR *d = opendir("/dev/shm");
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, pl) != 0)
			continue;
		snprintf(name, sizeof(name), "/%s", e->d_name);
		if (shm_unlink(name) == 0)
			removed++;
		else if (errno != ENOENT && !first_err)
			first_err = -errno;
	}
	closedir(d);
	if (count)
		*count = removed;
	return first_err;
}

unsigned proc_release_rings(struct ring *rs, uint32_t n, pid_t pid)
{
	unsigned cleared = 0;
	if (pid <= 0)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		struct ring_header *h = rs[i].hdr;
		if (!h)
			continue;
		uint32_t expect = (uint32_t)pid;
		/* The dead process was the only writer of its side's fields; the
		 * CAS only guards against a successor that already attached. */
		if (atomic_compare_exchange_strong(&h->producer_pid, &expect, 0)) {
			atomic_store_explicit(&h->producer_sleeping, 0, memory_order_relaxed);
			cleared++;
		}
		expect = (uint32_t)pid;
		if (atomic_compare_exchange_strong(&h->consumer_pid, &expect, 0)) {
			atomic_store_explicit(&h->consumer_sleeping, 0, memory_order_relaxed);
			cleared++;
		}
	}
	return cleared;
}
