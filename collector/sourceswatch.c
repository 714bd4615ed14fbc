/* sourceswatch: see sourceswatch.h.
 *
 * Change detection is by stat, not inotify: the apiserver replaces the file
 * by rename (new inode), and a hand edit changes mtime/ctime/size, so a
 * once-a-second stat is cheap and sees both, also on filesystems and
 * container mounts where inotify does not work. Each hook keeps a signature
 * (a string form) of what it was last given, so a reload only calls the
 * hooks whose input changed.
 */
#include "collector/sourceswatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"

/* ---- signatures ---- */

/* A growing string; on allocation failure p becomes NULL and stays so. */
struct sourceswatch_str {
	char *p;
	size_t len, cap;
};

static void sourceswatch_str_add(struct sourceswatch_str *s, const char *a, size_t n)
{
	if (!s->p && s->cap) /* failed before */
		return;
	if (s->len + n + 1 > s->cap) {
		size_t nc = s->cap ? s->cap : 64;
		while (nc < s->len + n + 1)
			nc *= 2;
		char *np = realloc(s->p, nc);
		if (!np) {
			free(s->p);
			s->p = NULL;
			s->cap = 1;
			return;
		}
		s->p = np;
		s->cap = nc;
	}
	memcpy(s->p + s->len, a, n);
	s->len += n;
	s->p[s->len] = '\0';
}

/* Adds "<len>:<a>" so that no two different sequences give one string. */
static void sourceswatch_str_field(struct sourceswatch_str *s, const char *a)
{
	char num[24];
	size_t n = strlen(a);
	int k = snprintf(num, sizeof(num), "%zu:", n);
	sourceswatch_str_add(s, num, (size_t)k);
	sourceswatch_str_add(s, a, n);
}

/* Calls a hook when sig differs from what it was last given, then keeps
 * sig (owned by the hook afterwards). A NULL sig (out of memory) always
 * calls. Returns 1 when the hook is to be called. */
static int sourceswatch_changed(char **applied, char *sig)
{
	if (sig && *applied && strcmp(sig, *applied) == 0) {
		free(sig);
		return 0;
	}
	free(*applied);
	*applied = sig;
	return 1;
}

/* ---- applying ---- */

static void sourceswatch_apply_push(struct sourceswatch *w, struct sourceswatch_push_hook *h)
{
	struct sources_label l[SOURCES_MAX_LABELS];
	struct series_label sl[SOURCES_MAX_LABELS];
	struct sourceswatch_str sig = {0};
	size_t n = sources_push_labels(&w->cur, h->ep, l, SOURCES_MAX_LABELS);
	sourceswatch_str_add(&sig, "p", 1);
	for (size_t i = 0; i < n; i++) {
		sourceswatch_str_field(&sig, l[i].name);
		sourceswatch_str_field(&sig, l[i].value);
		sl[i] = (struct series_label){l[i].name, strlen(l[i].name), l[i].value, strlen(l[i].value)};
	}
	if (sourceswatch_changed(&h->applied, sig.p))
		h->fn(h->arg, sl, n);
}

static void sourceswatch_apply_scrape(struct sourceswatch *w, struct sourceswatch_scrape_hook *h)
{
	const char **jobs = NULL;
	size_t n = 0;
	struct sourceswatch_str sig = {0};
	sourceswatch_str_add(&sig, "s", 1);
	for (size_t i = 0; i < w->cur.n; i++)
		n += w->cur.v[i].type == SOURCES_SCRAPE && w->cur.v[i].enabled && w->cur.v[i].job;
	if (n && !(jobs = calloc(n, sizeof(*jobs)))) {
		log_error("sources: out of memory while applying %zu scrape jobs; keeping the previous ones", n);
		free(sig.p);
		return;
	}
	n = 0;
	for (size_t i = 0; i < w->cur.n; i++) {
		const struct sources_source *s = &w->cur.v[i];
		if (s->type != SOURCES_SCRAPE || !s->enabled || !s->job)
			continue;
		jobs[n++] = s->job;
		sourceswatch_str_field(&sig, s->job);
	}
	if (sourceswatch_changed(&h->applied, sig.p))
		h->fn(h->arg, jobs, n);
	free(jobs);
}

static void sourceswatch_apply_node(struct sourceswatch *w, struct sourceswatch_node_hook *h)
{
	struct sourceswatch_node node = {0};
	char buf[96];
	for (size_t i = 0; i < w->cur.n; i++) {
		const struct sources_source *s = &w->cur.v[i];
		if (s->type != SOURCES_NODE)
			continue;
		node.present = 1;
		node.enabled = s->enabled;
		node.collectors = s->collectors;
		node.interval_ms = s->interval_ms;
		break;
	}
	snprintf(buf, sizeof(buf), "n%d,%d,%" PRIu32 ",%" PRId64, node.present, node.enabled, node.collectors,
		 node.interval_ms);
	if (sourceswatch_changed(&h->applied, strdup(buf)))
		h->fn(h->arg, &node);
}

/* Hands the current document to every hook whose input changed. */
static void sourceswatch_apply(struct sourceswatch *w)
{
	for (size_t i = 0; i < w->npush; i++)
		sourceswatch_apply_push(w, &w->push[i]);
	for (size_t i = 0; i < w->nscrape; i++)
		sourceswatch_apply_scrape(w, &w->scrape[i]);
	for (size_t i = 0; i < w->nnode; i++)
		sourceswatch_apply_node(w, &w->node[i]);
}

/* ---- hooks ---- */

int sourceswatch_on_push(struct sourceswatch *w, uint32_t ep, sourceswatch_push_fn fn, void *arg)
{
	if (w->npush == SOURCESWATCH_MAX_HOOKS)
		return -ENOSPC;
	w->push[w->npush] = (struct sourceswatch_push_hook){ep, fn, arg, NULL};
	if (w->started)
		sourceswatch_apply_push(w, &w->push[w->npush]);
	w->npush++;
	return 0;
}

int sourceswatch_on_scrape(struct sourceswatch *w, sourceswatch_scrape_fn fn, void *arg)
{
	if (w->nscrape == SOURCESWATCH_MAX_HOOKS)
		return -ENOSPC;
	w->scrape[w->nscrape] = (struct sourceswatch_scrape_hook){fn, arg, NULL};
	if (w->started)
		sourceswatch_apply_scrape(w, &w->scrape[w->nscrape]);
	w->nscrape++;
	return 0;
}

int sourceswatch_on_node(struct sourceswatch *w, sourceswatch_node_fn fn, void *arg)
{
	if (w->nnode == SOURCESWATCH_MAX_HOOKS)
		return -ENOSPC;
	w->node[w->nnode] = (struct sourceswatch_node_hook){fn, arg, NULL};
	if (w->started)
		sourceswatch_apply_node(w, &w->node[w->nnode]);
	w->nnode++;
	return 0;
}

/* The push hook of sourceswatch_add_ingest. */
static void sourceswatch_ingest_hook(void *arg, const struct series_label *labels, size_t n)
{
	int rc = ingest_set_extra(arg, labels, n);
	if (rc != 0)
		log_error("sources: ingest_set_extra with %zu static labels failed: %s", n, strerror(-rc));
}

int sourceswatch_add_ingest(struct sourceswatch *w, uint32_t ep, struct ingest *in)
{
	return sourceswatch_on_push(w, ep, sourceswatch_ingest_hook, in);
}

/* ---- polling ---- */

int sourceswatch_init(struct sourceswatch *w, const char *data_dir)
{
	memset(w, 0, sizeof(*w));
	sources_init(&w->cur);
	return sources_path(w->path, sizeof(w->path), data_dir, SOURCES_FILE);
}

/* 1 when the file's identity or times differ from the last poll. */
static int sourceswatch_stat_changed(const struct sourceswatch *w, const struct stat *sb)
{
	return !w->have_stat || sb->st_dev != w->dev || sb->st_ino != w->ino || sb->st_size != w->size ||
	       sb->st_mtim.tv_sec != w->mtime.tv_sec || sb->st_mtim.tv_nsec != w->mtime.tv_nsec ||
	       sb->st_ctim.tv_sec != w->ctime.tv_sec || sb->st_ctim.tv_nsec != w->ctime.tv_nsec;
}

int sourceswatch_poll(struct sourceswatch *w)
{
	struct stat sb;
	char err[1024];
	if (stat(w->path, &sb) != 0) {
		int e = errno;
		if (e != ENOENT) {
			if (!w->failed) {
				log_error("sources: stat(%s) failed: %s; keeping the last good state (%zu sources)",
					  w->path, strerror(e), w->cur.n);
				w->errors++;
			}
			w->failed = 1;
			return -e;
		}
		if (!w->have_stat && !w->failed && w->started)
			return 0; /* still absent */
		/* Removed: an empty document. */
		w->have_stat = 0;
		w->failed = 0;
		if (w->cur.n)
			log_info("sources: %s is gone: no sources", w->path);
		sources_free(&w->cur);
		sourceswatch_apply(w);
		w->reloads++;
		return 1;
	}
	if (!sourceswatch_stat_changed(w, &sb))
		return w->failed ? -EINVAL : 0;
	w->have_stat = 1;
	w->dev = sb.st_dev;
	w->ino = sb.st_ino;
	w->size = sb.st_size;
	w->mtime = sb.st_mtim;
	w->ctime = sb.st_ctim;
	struct sources next;
	sources_init(&next);
	err[0] = '\0';
	int rc = sources_load(&next, w->path, err, sizeof(err));
	if (rc != 0) {
		/* err names the file and the error. */
		log_error("sources: %s; keeping the last good state (%zu sources)", err, w->cur.n);
		w->errors++;
		w->failed = 1;
		sources_free(&next);
		return rc;
	}
	if (w->failed)
		log_info("sources: %s loads again", w->path);
	w->failed = 0;
	sources_free(&w->cur);
	w->cur = next;
	size_t on = 0;
	for (size_t i = 0; i < w->cur.n; i++)
		on += w->cur.v[i].enabled != 0;
	log_info("sources: loaded %s: %zu sources, %zu enabled", w->path, w->cur.n, on);
	sourceswatch_apply(w);
	w->reloads++;
	return 1;
}

static void sourceswatch_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sourceswatch_poll(arg);
}

int sourceswatch_start(struct sourceswatch *w, struct event_base *base)
{
	int rc = sourceswatch_poll(w);
	w->started = 1;
	if (rc == 0 || rc < 0) /* nothing loaded: the hooks still get "none" */
		sourceswatch_apply(w);
	if (!base)
		return 0;
	w->timer = event_new(base, -1, EV_PERSIST, sourceswatch_on_timer, w);
	struct timeval tv = {SOURCESWATCH_POLL_MS / 1000, (SOURCESWATCH_POLL_MS % 1000) * 1000};
	if (!w->timer || event_add(w->timer, &tv) != 0) {
		log_error("sources: event_new/event_add for the poll timer failed");
		return -ENOMEM;
	}
	return 0;
}

void sourceswatch_fini(struct sourceswatch *w)
{
	if (!w)
		return;
	if (w->timer)
		event_free(w->timer);
	w->timer = NULL;
	for (size_t i = 0; i < w->npush; i++)
		free(w->push[i].applied);
	for (size_t i = 0; i < w->nscrape; i++)
		free(w->scrape[i].applied);
	for (size_t i = 0; i < w->nnode; i++)
		free(w->node[i].applied);
	w->npush = w->nscrape = w->nnode = 0;
	sources_free(&w->cur);
}
