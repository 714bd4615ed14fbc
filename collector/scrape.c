/* scrape: see scrape.h. Scheduling, per-target lifecycle, reloads.
 *
 * Sections: targets (create, move on reload, destroy), the target table
 * (active targets, then this collector's share of the dropped ones),
 * scheduling (timers), a scrape's completion, configuration (load, apply,
 * reload triggers).
 *
 * Invariants:
 *  - s->t is sorted by target hash, so a reload matches old and new
 *    targets by merge; a target's job pointer always points into s->conf
 *    (updated before the old configuration is freed).
 *  - Everything runs on the collector's event-loop thread.
 *  - A target's request is either idle or in flight; a timer that fires
 *    while it is in flight skips that round (counted).
 */
#include "collector/scrape.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "shm/segment.h"

static uint64_t scrape_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the target table ---- */

/* Writes a target's fixed fields (job, URL, labels, interval). */
static void scrape_table_fixed(struct scrape_target *tg)
{
	struct scrape *s = tg->s;
	if (!s->table_ok || tg->slot < 0)
		return;
	struct targets_entry *e = targets_write_begin(&s->table, (uint32_t)tg->slot);
	targets_put_str(e->pool, sizeof(e->pool), tg->t.job->job_name);
	targets_put_str(e->url, sizeof(e->url), tg->t.url);
	e->labels_len = (uint16_t)targets_put_labels(e->labels, sizeof(e->labels), &tg->t.labels, 0);
	e->discovered_len = (uint16_t)targets_put_labels(e->discovered, sizeof(e->discovered), &tg->t.discovered, 1);
	e->interval_ms = tg->t.job->interval_ms;
	e->timeout_ms = tg->t.job->timeout_ms;
	e->hash = tg->t.hash;
	targets_write_end(&s->table, (uint32_t)tg->slot);
}

/* Writes the outcome of a scrape. */
static void scrape_table_result(struct scrape_target *tg, const struct scrapecache_result *r, double dur)
{
	struct scrape *s = tg->s;
	if (!s->table_ok || tg->slot < 0)
		return;
	struct targets_entry *e = targets_write_begin(&s->table, (uint32_t)tg->slot);
	e->health = r->up ? TARGETS_UP : TARGETS_DOWN;
	e->last_scrape_ms = tg->cur_ts;
	e->last_duration_s = dur;
	e->samples = r->post_relabel;
	targets_put_str(e->last_error, sizeof(e->last_error), r->up ? "" : r->err);
	targets_write_end(&s->table, (uint32_t)tg->slot);
	atomic_store_explicit(&s->table.t->updated_ms, segment_now_real_ms(), memory_order_relaxed);
}

/* The number of dropped targets listed in the table now. */
static size_t scrape_table_ndropped(const struct scrape *s)
{
	size_t n = 0;
	for (int sl = s->table_ok ? targets_next_dropped(&s->table, 0) : -ENOENT; sl >= 0;
	     sl = targets_next_dropped(&s->table, (uint32_t)sl + 1))
		n++;
	return n;
}

/* Lists this collector's share (hash of the discovered labels %
 * collectors) of the targets relabel_configs dropped in c (NULL: none).
 * The previous list's slots are rewritten in place, so a reader never sees
 * the list vanish during a reload; new slots are taken only once those are
 * used up, and the ones left over are released. A full table leaves the
 * rest out (logged); out of memory keeps the previous list (logged). */
static void scrape_table_dropped(struct scrape *s, const struct scrapeconf *c)
{
	struct scrapeconf_target *d = NULL;
	long nd = 0;
	size_t left_out = 0;
	if (!s->table_ok)
		return;
	if (c && (nd = scrapeconf_dropped(c, &d)) < 0) {
		log_error("scrape: listing the dropped targets failed: %s", strerror((int)-nd));
		return;
	}
	int old = targets_next_dropped(&s->table, 0);
	for (long i = 0; i < nd; i++) {
		if (d[i].hash % s->ncollectors != s->index)
			continue;
		int sl = old >= 0 ? old : targets_alloc(&s->table);
		if (sl < 0) {
			left_out++;
			continue;
		}
		if (old >= 0)
			old = targets_next_dropped(&s->table, (uint32_t)old + 1);
		struct targets_entry *e = targets_write_begin(&s->table, (uint32_t)sl);
		memset((char *)e + sizeof(e->seq), 0, sizeof(*e) - sizeof(e->seq));
		e->used = 1;
		e->dropped = 1;
		e->hash = d[i].hash;
		targets_put_str(e->pool, sizeof(e->pool), d[i].job->job_name);
		e->discovered_len = (uint16_t)targets_put_labels(e->discovered, sizeof(e->discovered), &d[i].discovered, 1);
		targets_write_end(&s->table, (uint32_t)sl);
	}
	for (; old >= 0; old = targets_next_dropped(&s->table, (uint32_t)old + 1))
		targets_release(&s->table, (uint32_t)old);
	scrapeconf_targets_free(d, nd > 0 ? (size_t)nd : 0);
	atomic_store_explicit(&s->table.t->updated_ms, segment_now_real_ms(), memory_order_relaxed);
	if (left_out)
		log_warn("scrape: target table full; %zu dropped target(s) not listed", left_out);
}

/* ---- scheduling ---- */

/* Arms the timer for tg->next_ms. */
static void scrape_arm(struct scrape_target *tg)
{
	int64_t d = tg->next_ms - segment_now_real_ms();
	if (d < 0)
		d = 0;
	struct timeval tv = {(time_t)(d / 1000), (suseconds_t)((d % 1000) * 1000)};
	event_add(tg->timer, &tv);
}

/* First scheduled time of a target: the next point of the grid
 * k * interval + (hash % interval), as Prometheus' offset. */
static int64_t scrape_first_ms(const struct scrape_target *tg)
{
	int64_t iv = tg->t.job->interval_ms > 0 ? tg->t.job->interval_ms : 60000;
	int64_t now = segment_now_real_ms();
	int64_t base = iv - now % iv;
	int64_t next = base + (int64_t)(tg->t.hash % (uint64_t)iv);
	if (next > iv)
		next -= iv;
	return now + next;
}

static void scrape_done(struct httpc_req *r, int rc, void *arg);

/* Commits what a scrape (or a removal) put in the batch. Samples that find
 * the rings full stay uncommitted, are counted and dropped. */
static void scrape_commit(struct scrape *s)
{
	size_t n = s->in.batch.n;
	if (!n)
		return;
	int rc = ingest_commit(&s->in, SCRAPE_COMMIT_WAIT_MS);
	if (rc == 0) {
		s->samples += n;
		return;
	}
	s->dropped_samples += n;
	ctl_add(s->st->slot, CTL_C_REJECTED, 1);
	if (s->dropped_samples == n || (s->dropped_samples / 100000) != ((s->dropped_samples - n) / 100000))
		log_warn("scrape: %zu samples dropped (%s); %llu in all", n,
			 rc == -ETIMEDOUT ? "rings full" : strerror(-rc), (unsigned long long)s->dropped_samples);
}

/* Turns a finished (or impossible) request into the scrape's samples. */
static void scrape_finish(struct scrape_target *tg, const char *body, size_t len, const char *ctype,
			  const char *error)
{
	struct scrape *s = tg->s;
	double dur = (double)(scrape_now_ns() - tg->start_ns) / 1e9;
	struct scrapecache_input in = {
		.job = tg->t.job, .tlabels = &tg->t.labels, .body = body, .len = len,
		.content_type = ctype, .error = error, .ts_ms = tg->cur_ts, .duration_s = dur,
	};
	struct scrapecache_result res;
	ingest_reset(&s->in);
	int rc = scrapecache_process(&tg->cache, &s->in, &in, &res);
	if (rc != 0) {
		log_error("scrape %s: %s", tg->t.url, strerror(-rc));
		ingest_reset(&s->in);
		snprintf(res.err, sizeof(res.err), "%s", strerror(-rc));
		res.up = 0;
	}
	scrape_commit(s);
	tg->scrapes++;
	s->scrapes++;
	ctl_add(s->st->slot, CTL_C_SCRAPES, 1);
	if (!res.up) {
		tg->failures++;
		s->failures++;
	}
	scrape_table_result(tg, &res, dur);
}

static void scrape_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct scrape_target *tg = arg;
	int64_t iv = tg->t.job->interval_ms > 0 ? tg->t.job->interval_ms : 60000;
	int64_t ts = tg->next_ms, now = segment_now_real_ms();
	(void)fd;
	(void)what;
	tg->next_ms += iv;
	if (tg->next_ms <= now) /* fell behind (a stalled loop): stay on the grid */
		tg->next_ms += ((now - tg->next_ms) / iv + 1) * iv;
	scrape_arm(tg);
	if (tg->req && tg->req->busy) {
		tg->skipped++;
		return;
	}
	tg->cur_ts = ts;
	tg->start_ns = scrape_now_ns();
	if (!tg->req) {
		scrape_finish(tg, NULL, 0, NULL, "target address could not be resolved");
		return;
	}
	int64_t tmo = tg->t.job->timeout_ms > 0 ? tg->t.job->timeout_ms : 10000;
	if (tmo > iv)
		tmo = iv;
	int rc = httpc_req_start(tg->req, tmo);
	if (rc != 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "cannot start the request: %s", strerror(-rc));
		scrape_finish(tg, NULL, 0, NULL, msg);
	}
}

static void scrape_done(struct httpc_req *r, int rc, void *arg)
{
	struct scrape_target *tg = arg;
	char msg[HTTPC_ERR_MAX + 64];
	if (rc != 0) {
		snprintf(msg, sizeof(msg), "Get \"%s\": %s", tg->t.url, r->err);
		scrape_finish(tg, NULL, 0, NULL, msg);
	} else if (r->status != 200) {
		snprintf(msg, sizeof(msg), "server returned HTTP status %d", r->status);
		scrape_finish(tg, NULL, 0, NULL, msg);
	} else {
		scrape_finish(tg, (const char *)r->body, r->body_len, r->content_type, NULL);
	}
}

/* ---- targets ---- */

/* Frees the fields of a target description moved out of a
 * scrapeconf_targets array (scrapeconf_targets_free would also free the
 * array itself, which we do not own here). */
static void scrape_desc_free(struct scrapeconf_target *t)
{
	free(t->url);
	free(t->host);
	free(t->path_query);
	relabel_labels_free(&t->labels);
	relabel_labels_free(&t->discovered);
	memset(t, 0, sizeof(*t));
}

/* The request options of a job. */
static void scrape_opts(const struct scrapeconf_job *job, struct httpc_opts *o, char *auth, size_t authlen)
{
	memset(o, 0, sizeof(*o));
	o->gzip = 1;
	o->body_limit = 0;
	o->timeout_hint_ms = job->timeout_ms;
	if (job->auth_cred) {
		snprintf(auth, authlen, "%s %s", job->auth_type ? job->auth_type : "Bearer", job->auth_cred);
		o->authorization = auth;
	} else if (job->basic_user) {
		o->basic_user = job->basic_user;
		o->basic_pass = job->basic_pass;
	}
}

/* (Re)creates tg's request from its target and job. */
static int scrape_target_req(struct scrape_target *tg)
{
	struct httpc_opts o;
	char auth[1024], err[256];
	scrape_opts(tg->t.job, &o, auth, sizeof(auth));
	httpc_req_free(tg->req);
	tg->req = NULL;
	int rc = httpc_req_new(&tg->s->http, tg->t.host, tg->t.port, tg->t.path_query, &o, scrape_done, tg,
			       &tg->req, err, sizeof(err));
	if (rc != 0)
		log_warn("scrape target %s: %s", tg->t.url, err);
	return rc;
}

/* Takes ownership of *src (zeroed afterwards) and starts scraping it.
 * Returns the target or NULL (-ENOMEM, logged). */
static struct scrape_target *scrape_target_new(struct scrape *s, struct scrapeconf_target *src)
{
	struct scrape_target *tg = calloc(1, sizeof(*tg));
	if (!tg) {
		log_error("scrape: out of memory for target %s", src->url);
		return NULL;
	}
	tg->s = s;
	tg->t = *src;
	memset(src, 0, sizeof(*src));
	tg->slot = -1;
	scrapecache_init(&tg->cache);
	tg->timer = event_new(s->base, -1, 0, scrape_on_timer, tg);
	if (!tg->timer) {
		log_error("scrape: event_new failed for %s", tg->t.url);
		scrape_desc_free(&tg->t);
		free(tg);
		return NULL;
	}
	scrape_target_req(tg); /* a failure shows as up == 0 with the reason */
	if (s->table_ok) {
		tg->slot = targets_alloc(&s->table);
		if (tg->slot < 0)
			log_warn("scrape: target table full; %s not listed", tg->t.url);
		scrape_table_fixed(tg);
	}
	tg->next_ms = scrape_first_ms(tg);
	scrape_arm(tg);
	return tg;
}

/* Stops a target: marks its series stale (now) and frees it. */
static void scrape_target_free(struct scrape *s, struct scrape_target *tg, int stale)
{
	if (!tg)
		return;
	if (stale) {
		ingest_reset(&s->in);
		if (scrapecache_stale_all(&tg->cache, &s->in, segment_now_real_ms()) < 0)
			ingest_reset(&s->in);
		scrape_commit(s);
	}
	if (tg->timer)
		event_free(tg->timer);
	httpc_req_free(tg->req); /* an in-flight scrape is cancelled; its callback will not come */
	if (s->table_ok && tg->slot >= 0)
		targets_release(&s->table, (uint32_t)tg->slot);
	scrapecache_free(&tg->cache);
	scrape_desc_free(&tg->t);
	free(tg);
}

/* 1 when two jobs scrape and process samples the same way. */
static int scrape_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int scrape_job_same(const struct scrapeconf_job *a, const struct scrapeconf_job *b)
{
	if (a->honor_labels != b->honor_labels || a->honor_timestamps != b->honor_timestamps ||
	    a->sample_limit != b->sample_limit || a->label_limit != b->label_limit ||
	    a->label_name_length_limit != b->label_name_length_limit ||
	    a->label_value_length_limit != b->label_value_length_limit ||
	    a->metric_relabel.n != b->metric_relabel.n)
		return 0;
	for (size_t i = 0; i < a->metric_relabel.n; i++) {
		const struct relabel_rule *x = &a->metric_relabel.rules[i], *y = &b->metric_relabel.rules[i];
		if (x->action != y->action || x->nsource != y->nsource || x->modulus != y->modulus ||
		    !scrape_str_eq(x->separator, y->separator) || !scrape_str_eq(x->target, y->target) ||
		    !scrape_str_eq(x->regex_src, y->regex_src) || !scrape_str_eq(x->replacement, y->replacement))
			return 0;
		for (size_t k = 0; k < x->nsource; k++)
			if (!scrape_str_eq(x->source[k], y->source[k]))
				return 0;
	}
	return 1;
}

static int scrape_auth_same(const struct scrapeconf_job *a, const struct scrapeconf_job *b)
{
	return scrape_str_eq(a->basic_user, b->basic_user) && scrape_str_eq(a->basic_pass, b->basic_pass) &&
	       scrape_str_eq(a->auth_type, b->auth_type) && scrape_str_eq(a->auth_cred, b->auth_cred) &&
	       a->timeout_ms == b->timeout_ms;
}

/* Keeps tg running with the new description *src (same hash): cache,
 * connection and schedule stay unless what they depend on changed. */
static void scrape_target_update(struct scrape_target *tg, struct scrapeconf_target *src)
{
	const struct scrapeconf_job *oj = tg->t.job, *nj = src->job;
	int same_job = scrape_job_same(oj, nj), same_auth = scrape_auth_same(oj, nj);
	int same_iv = oj->interval_ms == nj->interval_ms;
	if (!same_job)
		scrapecache_clear(&tg->cache);
	scrape_desc_free(&tg->t);
	tg->t = *src;
	memset(src, 0, sizeof(*src));
	if (!same_auth)
		scrape_target_req(tg);
	if (!same_iv) {
		event_del(tg->timer);
		tg->next_ms = scrape_first_ms(tg);
		scrape_arm(tg);
	}
	scrape_table_fixed(tg);
}

static int scrape_cmp_hash(const void *a, const void *b)
{
	uint64_t x = ((const struct scrapeconf_target *)a)->hash, y = ((const struct scrapeconf_target *)b)->hash;
	return x < y ? -1 : x > y;
}

/* ---- configuration ---- */

/* The shortest file_sd refresh interval of any job, 0 when none uses
 * file_sd (Prometheus' default refresh is 5 minutes). */
static int64_t scrape_sd_interval(const struct scrapeconf *c)
{
	int64_t sd = 0;
	for (size_t q = 0; q < c->njobs; q++)
		if (c->jobs[q].nsd_files) {
			int64_t r = c->jobs[q].sd_refresh_ms > 0 ? c->jobs[q].sd_refresh_ms : 300000;
			if (!sd || r < sd)
				sd = r;
		}
	return sd;
}

/* Brings the running targets in line with configuration c (which becomes
 * s->conf, or is s->conf already when same == 1). Returns 0 or -ENOMEM
 * (the old set stays and c is freed unless same). */
static int scrape_apply(struct scrape *s, struct scrapeconf *c, int same)
{
	struct scrapeconf_target *nt = NULL;
	long cnt = scrapeconf_targets(c, &nt);
	if (cnt < 0) {
		log_error("scrape: expanding the targets failed: %s", strerror((int)-cnt));
		if (!same)
			scrapeconf_free(c);
		return (int)cnt;
	}
	/* global.external_labels go on every scraped series that lacks them,
	 * as vmagent does: this store is where they would be sent. */
	for (long i = 0; i < cnt; i++)
		for (size_t e = 0; e < c->nexternal; e++)
			if (!relabel_labels_get(&nt[i].labels, c->external_labels[e].name))
				relabel_labels_set(&nt[i].labels, c->external_labels[e].name,
						   strlen(c->external_labels[e].name), c->external_labels[e].value,
						   strlen(c->external_labels[e].value));
	/* This collector's share, sorted by hash. */
	size_t mine = 0;
	for (long i = 0; i < cnt; i++) {
		if (nt[i].hash % s->ncollectors == s->index) {
			if ((size_t)i != mine) {
				struct scrapeconf_target tmp = nt[mine];
				nt[mine] = nt[i];
				nt[i] = tmp;
			}
			mine++;
		}
	}
	qsort(nt, mine, sizeof(*nt), scrape_cmp_hash);
	/* Active targets have the table first: when they might not fit beside
	 * the listed dropped ones, those go now and get what is left after. */
	if (s->n + mine + scrape_table_ndropped(s) > TARGETS_MAX)
		scrape_table_dropped(s, NULL);
	struct scrape_target **out = calloc(mine ? mine : 1, sizeof(*out));
	if (!out) {
		scrapeconf_targets_free(nt, (size_t)cnt);
		if (!same)
			scrapeconf_free(c);
		return -ENOMEM;
	}
	size_t i = 0, j = 0, k = 0, added = 0, removed = 0;
	while (i < s->n || j < mine) {
		if (j < mine && j + 1 < mine && nt[j].hash == nt[j + 1].hash) {
			j++; /* identical target listed twice: scrape it once */
			continue;
		}
		if (j == mine || (i < s->n && s->t[i]->t.hash < nt[j].hash)) {
			scrape_target_free(s, s->t[i++], 1);
			removed++;
		} else if (i == s->n || nt[j].hash < s->t[i]->t.hash) {
			struct scrape_target *tg = scrape_target_new(s, &nt[j++]);
			if (tg) {
				out[k++] = tg;
				added++;
			}
		} else {
			scrape_target_update(s->t[i], &nt[j++]);
			out[k++] = s->t[i++];
		}
	}
	scrapeconf_targets_free(nt, (size_t)cnt);
	free(s->t);
	s->t = out;
	s->n = k;
	if (!same) {
		if (s->have_conf)
			scrapeconf_free(&s->conf);
		s->conf = *c;
		s->have_conf = 1;
	}
	scrape_table_dropped(s, &s->conf);
	int64_t sd = scrape_sd_interval(&s->conf);
	s->next_sd_ms = sd ? segment_now_real_ms() + sd : 0;
	log_info("scrape: %zu target(s) on this collector (%zu added, %zu removed, %ld in all)", s->n, added,
		 removed, cnt);
	return 0;
}

int scrape_reload(struct scrape *s)
{
	const char *path = s->st->cfg.scrape_config_file;
	struct scrapeconf c;
	char err[512];
	if (!path[0] && !s->nsrc_jobs && !s->n)
		return 0;
	s->reloads++;
	memset(&c, 0, sizeof(c));
	if (path[0]) {
		struct stat st;
		if (stat(path, &st) == 0)
			s->file_st = st;
		int rc = scrapeconf_load_yaml(&c, path, err, sizeof(err));
		if (rc != 0) {
			s->reload_errors++;
			log_error("scrape config %s: %s (keeping the previous configuration)", path, err);
			scrapeconf_free(&c);
			return rc;
		}
	}
	/* Jobs of the sources API, with the file's globals as defaults. */
	for (size_t i = 0; i < s->nsrc_jobs; i++) {
		int rc = scrapeconf_add_json_job(&c, s->src_jobs[i], err, sizeof(err));
		if (rc == -ENOMEM) {
			scrapeconf_free(&c);
			return rc;
		}
		if (rc != 0)
			log_warn("scrape source job left out: %s", err);
	}
	/* The job pointers of running targets move to c's jobs inside
	 * scrape_apply before the old configuration is freed. */
	return scrape_apply(s, &c, 0);
}

int scrape_set_sources(struct scrape *s, const char *const *jobs, size_t n)
{
	char **copy = calloc(n ? n : 1, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		copy[i] = strdup(jobs[i]);
		if (!copy[i]) {
			while (i--)
				free(copy[i]);
			free(copy);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < s->nsrc_jobs; i++)
		free(s->src_jobs[i]);
	free(s->src_jobs);
	s->src_jobs = copy;
	s->nsrc_jobs = n;
	log_info("scrape: %zu job(s) from the sources API", n);
	return scrape_reload(s);
}

static void scrape_on_hup(evutil_socket_t fd, short what, void *arg)
{
	struct scrape *s = arg;
	(void)fd;
	(void)what;
	log_info("SIGHUP: reloading the scrape configuration");
	scrape_reload(s);
}

/* Every few seconds: a changed file is reloaded; file_sd files are re-read
 * when their refresh interval passed. */
static void scrape_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct scrape *s = arg;
	struct stat st;
	char err[512];
	(void)fd;
	(void)what;
	const char *path = s->st->cfg.scrape_config_file;
	if (path[0] && stat(path, &st) == 0 &&
	    (st.st_mtim.tv_sec != s->file_st.st_mtim.tv_sec || st.st_mtim.tv_nsec != s->file_st.st_mtim.tv_nsec ||
	     st.st_size != s->file_st.st_size || st.st_ino != s->file_st.st_ino)) {
		log_info("scrape config %s changed: reloading", path);
		scrape_reload(s);
		return;
	}
	if (s->have_conf && s->next_sd_ms && segment_now_real_ms() >= s->next_sd_ms) {
		int rc = scrapeconf_refresh_sd(&s->conf, err, sizeof(err));
		if (rc < 0)
			log_warn("file_sd: %s (keeping the previous targets)", err);
		if (rc == 1)
			scrape_apply(s, &s->conf, 1); /* sets the next refresh */
		else
			s->next_sd_ms = segment_now_real_ms() + scrape_sd_interval(&s->conf);
	}
}

int scrape_init(struct scrape *s, struct stage *st, struct router *router, struct event_base *base)
{
	int rc;
	memset(s, 0, sizeof(*s));
	s->st = st;
	s->base = base;
	s->index = st->index;
	s->ncollectors = st->cfg.collectors ? st->cfg.collectors : 1;
	ingest_init(&s->in, st, router);
	rc = targets_create(&s->table, st->cfg.instance, st->index);
	if (rc != 0) {
		log_error("targets_create(%s, %u) failed: %s", st->cfg.instance, st->index, strerror(-rc));
		goto fail;
	}
	s->table_ok = 1;
	/* Set up even without a file: the sources API may add jobs later. */
	rc = httpc_init(&s->http, 4096, base);
	if (rc != 0)
		goto fail;
	s->http_ok = 1;
	s->hup = evsignal_new(base, SIGHUP, scrape_on_hup, s);
	s->poll = event_new(base, -1, EV_PERSIST, scrape_on_poll, s);
	struct timeval pv = {SCRAPE_POLL_MS / 1000, (SCRAPE_POLL_MS % 1000) * 1000};
	if (!s->hup || !s->poll || event_add(s->hup, NULL) != 0 || event_add(s->poll, &pv) != 0) {
		log_error("scrape: event_new/event_add for SIGHUP or the poll timer failed");
		rc = -ENOMEM;
		goto fail;
	}
	scrape_reload(s); /* a bad file is logged; a later reload may fix it */
	return 0;
fail:
	scrape_fini(s);
	return rc;
}

void scrape_fini(struct scrape *s)
{
	if (!s || !s->st)
		return;
	/* No stale markers here: a stopping collector is restarted and goes
	 * on scraping the same targets, and the rings may be gone already. */
	for (size_t i = 0; i < s->n; i++)
		scrape_target_free(s, s->t[i], 0);
	free(s->t);
	s->t = NULL;
	s->n = 0;
	if (s->hup)
		event_free(s->hup);
	if (s->poll)
		event_free(s->poll);
	s->hup = s->poll = NULL;
	if (s->http_ok) {
		/* Let the kernel answer the cancels so orphaned requests are freed. */
		for (int i = 0; i < 50 && s->http.live > 0; i++)
			httpc_run(&s->http, 20);
		httpc_fini(&s->http);
	}
	s->http_ok = 0;
	if (s->have_conf)
		scrapeconf_free(&s->conf);
	s->have_conf = 0;
	for (size_t i = 0; i < s->nsrc_jobs; i++)
		free(s->src_jobs[i]);
	free(s->src_jobs);
	s->src_jobs = NULL;
	s->nsrc_jobs = 0;
	if (s->table_ok)
		targets_close(&s->table);
	s->table_ok = 0;
	ingest_fini(&s->in);
	s->st = NULL;
}
