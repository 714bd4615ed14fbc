/* scrapecache: see scrapecache.h. Prometheus scrape semantics for one
 * target, over a series cache.
 *
 * Sections: the cache (open-addressing table over an arena), the slow path
 * that turns a newly seen series into its final key (target labels,
 * metric relabeling, limits), the per-sample fast path, the synthetic
 * series, and the staleness pass.
 *
 * Invariants:
 *  - The raw form of a series is its name, 0xff, then for each label as
 *    written: name, 0xfe, value, 0xff. Bytes 0xfe/0xff never occur in
 *    valid UTF-8, so two different label lists never share a raw form.
 *    Synthetic series use a raw form that starts with 0xfd.
 *  - A lookup compares the raw bytes, not only the hash: a hash collision
 *    never maps two series to one key.
 *  - Outside a scrapecache_process call every entry has seen == gen: the
 *    staleness pass removes the others. So an entry's seen == gen - 1 at
 *    the start of a scrape means "produced by the previous scrape".
 */
#include "collector/scrapecache.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/series.h"
#include "common/textparse.h"

#define SCRAPECACHE_FAIL (-EDOM) /* internal: the scrape failed, message in res->err */

/* ---- the cache ---- */

void scrapecache_init(struct scrapecache *c)
{
	memset(c, 0, sizeof(*c));
	c->gen = 1;
}

void scrapecache_free(struct scrapecache *c)
{
	if (!c)
		return;
	free(c->tab);
	free(c->arena);
	c->tab = NULL;
	c->arena = NULL;
	c->cap = c->n = c->alen = c->acap = 0;
}

void scrapecache_clear(struct scrapecache *c)
{
	uint32_t gen = c->gen;
	scrapecache_free(c);
	c->gen = gen;
}

double scrapecache_stale_nan(void)
{
	uint64_t bits = SCRAPECACHE_STALE_NAN_BITS;
	double d;
	memcpy(&d, &bits, sizeof(d));
	return d;
}

/* The entry holding raw[len] with hash h, or NULL; *slot gets where it is
 * or would go. The table is never full (load <= 1/2). */
static struct scrapecache_entry *scrapecache_find(struct scrapecache *c, uint64_t h, const uint8_t *raw,
						  size_t len, size_t *slot)
{
	if (!c->cap)
		return NULL;
	size_t mask = c->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct scrapecache_entry *e = &c->tab[i];
		if (!e->raw_hash) {
			*slot = i;
			return NULL;
		}
		if (e->raw_hash == h && e->raw_len == len && memcmp(c->arena + e->off, raw, len) == 0) {
			*slot = i;
			return e;
		}
	}
}

/* Resizes the table to ncap slots, keeping entries that `keep` accepts and
 * compacting the arena. Returns 0 or -ENOMEM (the cache is unchanged). */
static int scrapecache_rebuild(struct scrapecache *c, size_t ncap, int drop_unseen)
{
	struct scrapecache_entry *nt = calloc(ncap, sizeof(*nt));
	size_t need = 0;
	for (size_t i = 0; i < c->cap; i++)
		if (c->tab[i].raw_hash && (!drop_unseen || c->tab[i].seen == c->gen))
			need += c->tab[i].raw_len + c->tab[i].key_len;
	uint8_t *na = need ? malloc(need + need / 4 + 1024) : NULL;
	if (!nt || (need && !na)) {
		free(nt);
		free(na);
		return -ENOMEM;
	}
	size_t alen = 0, n = 0;
	for (size_t i = 0; i < c->cap; i++) {
		struct scrapecache_entry e = c->tab[i];
		if (!e.raw_hash || (drop_unseen && e.seen != c->gen))
			continue;
		size_t bytes = e.raw_len + e.key_len;
		memcpy(na + alen, c->arena + e.off, bytes);
		e.off = (uint32_t)alen;
		alen += bytes;
		size_t j = e.raw_hash & (ncap - 1);
		while (nt[j].raw_hash)
			j = (j + 1) & (ncap - 1);
		nt[j] = e;
		n++;
	}
	free(c->tab);
	free(c->arena);
	c->tab = nt;
	c->cap = ncap;
	c->n = n;
	c->arena = na;
	c->alen = alen;
	c->acap = need ? need + need / 4 + 1024 : 0;
	return 0;
}

/* Inserts a series (key NULL for a dropped one). Returns the entry (valid
 * until the next insert) or NULL for -ENOMEM. */
static struct scrapecache_entry *scrapecache_insert(struct scrapecache *c, uint64_t h, const uint8_t *raw,
						    size_t raw_len, const uint8_t *key, size_t key_len,
						    uint16_t flags)
{
	size_t slot;
	if ((c->n + 1) * 2 > c->cap) {
		if (scrapecache_rebuild(c, c->cap ? c->cap * 2 : 64, 0) != 0)
			return NULL;
	}
	if (c->alen + raw_len + key_len > c->acap) {
		size_t nc = c->acap ? c->acap * 2 : 16384;
		while (nc < c->alen + raw_len + key_len)
			nc *= 2;
		if (nc > UINT32_MAX)
			return NULL;
		uint8_t *na = realloc(c->arena, nc);
		if (!na)
			return NULL;
		c->arena = na;
		c->acap = nc;
	}
	(void)scrapecache_find(c, h, raw, raw_len, &slot);
	struct scrapecache_entry *e = &c->tab[slot];
	memset(e, 0, sizeof(*e));
	e->raw_hash = h;
	e->off = (uint32_t)c->alen;
	e->raw_len = (uint32_t)raw_len;
	e->key_len = (uint16_t)key_len;
	e->flags = flags;
	memcpy(c->arena + c->alen, raw, raw_len);
	if (key_len)
		memcpy(c->arena + c->alen + raw_len, key, key_len);
	c->alen += raw_len + key_len;
	c->n++;
	return e;
}

static uint64_t scrapecache_hash(const uint8_t *raw, size_t len)
{
	uint64_t h = XXH3_64bits(raw, len);
	return h ? h : 1;
}

/* ---- the slow path: a series seen for the first time ---- */

struct scrapecache_ctx {
	struct scrapecache *c;
	struct ingest *in;
	const struct scrapecache_input *sin;
	struct scrapecache_result *res;
	struct relabel_labels ls;          /* scratch label set */
	uint8_t raw[SCRAPECACHE_RAW_MAX];
	uint8_t key[SERIES_KEY_MAX];
};

/* Sets a label from a NUL-terminated name and value. */
static int scrapecache_set(struct relabel_labels *ls, const char *n, const char *v)
{
	return relabel_labels_set(ls, n, strlen(n), v, strlen(v));
}

/* Attaches the target labels to ctx->ls as Prometheus' mutateSampleLabels
 * does. Returns 0 or -ENOMEM. */
static int scrapecache_target_labels(struct scrapecache_ctx *x)
{
	const struct relabel_labels *tl = x->sin->tlabels;
	struct relabel_labels conflicts = {0};
	int rc = 0;
	for (size_t i = 0; tl && i < tl->n && rc == 0; i++) {
		const char *n = tl->l[i].name, *v = tl->l[i].value;
		const char *have = relabel_labels_get(&x->ls, n);
		if (x->sin->job->honor_labels) {
			if (!have || !*have)
				rc = scrapecache_set(&x->ls, n, v);
			continue;
		}
		if (have && *have)
			rc = scrapecache_set(&conflicts, n, have);
		if (rc == 0)
			rc = scrapecache_set(&x->ls, n, v);
	}
	for (size_t i = 0; i < conflicts.n && rc == 0; i++) {
		char name[SERIES_LABEL_MAX + 64];
		snprintf(name, sizeof(name), "exported_%s", conflicts.l[i].name);
		for (;;) {
			const char *g = relabel_labels_get(&x->ls, name);
			if (!g || !*g || strlen(name) + 9 >= sizeof(name))
				break;
			memmove(name + 9, name, strlen(name) + 1);
			memcpy(name, "exported_", 9);
		}
		rc = scrapecache_set(&x->ls, name, conflicts.l[i].value);
	}
	relabel_labels_free(&conflicts);
	return rc;
}

/* Builds the final key of sample s into x->key. Returns the key length,
 * 0 when the series is dropped (relabeling, no name, too long a key),
 * SCRAPECACHE_FAIL when a label limit is exceeded, -ENOMEM. */
static int scrapecache_slow(struct scrapecache_ctx *x, const struct textparse_sample *s)
{
	const struct scrapeconf_job *job = x->sin->job;
	struct series_label sl[SERIES_MAX_LABELS];
	relabel_labels_clear(&x->ls);
	int rc = relabel_labels_set(&x->ls, "__name__", 8, s->name, s->name_len);
	for (size_t i = 0; i < s->nlabels && rc == 0; i++)
		rc = relabel_labels_set(&x->ls, s->labels[i].name, s->labels[i].name_len, s->labels[i].value,
					s->labels[i].value_len);
	if (rc == 0)
		rc = scrapecache_target_labels(x);
	if (rc != 0)
		return -ENOMEM;
	if (job->metric_relabel.n) {
		rc = relabel_apply(&job->metric_relabel, &x->ls);
		if (rc < 0)
			return -ENOMEM;
		if (rc == 0)
			return 0;
	}
	const char *name = relabel_labels_get(&x->ls, "__name__");
	if (!name || !*name)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < x->ls.n; i++) {
		const char *ln = x->ls.l[i].name, *lv = x->ls.l[i].value;
		if (!lv || !*lv)
			continue;
		size_t nl = strlen(ln), vl = strlen(lv);
		if (job->label_name_length_limit && nl > job->label_name_length_limit) {
			snprintf(x->res->err, sizeof(x->res->err),
				 "label_name_length_limit exceeded (metric: %.50s, label name: %.50s, length: %zu, limit: %llu)",
				 name, ln, nl, (unsigned long long)job->label_name_length_limit);
			return SCRAPECACHE_FAIL;
		}
		if (job->label_value_length_limit && vl > job->label_value_length_limit) {
			snprintf(x->res->err, sizeof(x->res->err),
				 "label_value_length_limit exceeded (metric: %.50s, label name: %.50s, value: %.50s, length: %zu, limit: %llu)",
				 name, ln, lv, vl, (unsigned long long)job->label_value_length_limit);
			return SCRAPECACHE_FAIL;
		}
		if (n == SERIES_MAX_LABELS)
			return 0;
		sl[n++] = (struct series_label){ln, nl, lv, vl};
	}
	if (job->label_limit && n > job->label_limit) {
		snprintf(x->res->err, sizeof(x->res->err),
			 "label_limit exceeded (metric: %.50s, number of labels: %zu, limit: %llu)", name, n,
			 (unsigned long long)job->label_limit);
		return SCRAPECACHE_FAIL;
	}
	int len = series_key_build(x->key, sizeof(x->key), NULL, 0, sl, n);
	return len > 0 ? len : 0;
}

/* ---- the fast path ---- */

/* The raw form of s into x->raw. Returns its length, 0 when too long. */
static size_t scrapecache_raw(struct scrapecache_ctx *x, const struct textparse_sample *s)
{
	uint8_t *p = x->raw, *end = x->raw + sizeof(x->raw);
	if (s->name_len + 1 > sizeof(x->raw))
		return 0;
	memcpy(p, s->name, s->name_len);
	p += s->name_len;
	*p++ = 0xff;
	for (size_t i = 0; i < s->nlabels; i++) {
		const struct textparse_label *l = &s->labels[i];
		if ((size_t)(end - p) < l->name_len + l->value_len + 2)
			return 0;
		memcpy(p, l->name, l->name_len);
		p += l->name_len;
		*p++ = 0xfe;
		memcpy(p, l->value, l->value_len);
		p += l->value_len;
		*p++ = 0xff;
	}
	return (size_t)(p - x->raw);
}

static int scrapecache_on_sample(void *arg, const struct textparse_sample *s)
{
	struct scrapecache_ctx *x = arg;
	struct scrapecache *c = x->c;
	const struct scrapeconf_job *job = x->sin->job;
	size_t slot;
	x->res->scraped++;
	size_t rl = scrapecache_raw(x, s);
	if (!rl)
		return 0; /* longer than any key can be: dropped */
	uint64_t h = scrapecache_hash(x->raw, rl);
	struct scrapecache_entry *e = scrapecache_find(c, h, x->raw, rl, &slot);
	if (!e) {
		int kl = scrapecache_slow(x, s);
		if (kl < 0)
			return kl;
		e = scrapecache_insert(c, h, x->raw, rl, x->key, (size_t)kl, kl ? 0 : SCRAPECACHE_F_DROPPED);
		if (!e)
			return -ENOMEM;
		if (kl)
			x->res->added++;
	}
	if (e->seen == c->gen) {
		x->res->duplicates++;
		return 0;
	}
	e->prev_seen = e->seen;
	e->seen = c->gen;
	if (e->flags & SCRAPECACHE_F_DROPPED)
		return 0;
	x->res->post_relabel++;
	if (job->sample_limit && x->res->post_relabel > job->sample_limit) {
		snprintf(x->res->err, sizeof(x->res->err), "sample limit exceeded (limit: %llu)",
			 (unsigned long long)job->sample_limit);
		return SCRAPECACHE_FAIL;
	}
	int64_t ts = x->sin->ts_ms;
	if (s->has_timestamp && job->honor_timestamps) {
		ts = s->timestamp_ms;
		e->flags |= SCRAPECACHE_F_EXPLICIT;
	} else {
		e->flags &= (uint16_t)~SCRAPECACHE_F_EXPLICIT;
	}
	return router_add_key(&x->in->batch, c->arena + e->off + e->raw_len, e->key_len, ts, s->value);
}

/* ---- synthetic series ---- */

/* Adds one synthetic series with the target labels. Returns 0 or -errno. */
static int scrapecache_synth(struct scrapecache_ctx *x, const char *name, double v)
{
	struct scrapecache *c = x->c;
	size_t nl = strlen(name), slot;
	x->raw[0] = 0xfd;
	memcpy(x->raw + 1, name, nl);
	size_t rl = nl + 1;
	uint64_t h = scrapecache_hash(x->raw, rl);
	struct scrapecache_entry *e = scrapecache_find(c, h, x->raw, rl, &slot);
	if (!e) {
		struct series_label sl[SERIES_MAX_LABELS];
		const struct relabel_labels *tl = x->sin->tlabels;
		size_t n = 0;
		for (size_t i = 0; tl && i < tl->n && n < SERIES_MAX_LABELS; i++) {
			if (!tl->l[i].value || !*tl->l[i].value)
				continue;
			sl[n++] = (struct series_label){tl->l[i].name, strlen(tl->l[i].name), tl->l[i].value,
							strlen(tl->l[i].value)};
		}
		int kl = series_key_build(x->key, sizeof(x->key), name, nl, sl, n);
		if (kl <= 0)
			return kl < 0 ? kl : -EINVAL;
		e = scrapecache_insert(c, h, x->raw, rl, x->key, (size_t)kl, SCRAPECACHE_F_SYNTH);
		if (!e)
			return -ENOMEM;
	}
	e->prev_seen = e->seen;
	e->seen = c->gen;
	return router_add_key(&x->in->batch, c->arena + e->off + e->raw_len, e->key_len, x->sin->ts_ms, v);
}

/* ---- one scrape ---- */

int scrapecache_process(struct scrapecache *c, struct ingest *in, const struct scrapecache_input *sin,
			struct scrapecache_result *res)
{
	struct scrapecache_ctx *x = malloc(sizeof(*x));
	struct textparse_error perr;
	int rc = 0;
	memset(res, 0, sizeof(*res));
	if (!x)
		return -ENOMEM;
	x->c = c;
	x->in = in;
	x->sin = sin;
	x->res = res;
	memset(&x->ls, 0, sizeof(x->ls));
	c->gen++;
	int failed = 0;
	if (sin->error || !sin->body) {
		snprintf(res->err, sizeof(res->err), "%s", sin->error ? sin->error : "no response");
		failed = 1;
	} else {
		enum textparse_format fmt = sin->content_type && strstr(sin->content_type, "application/openmetrics-text")
						    ? TEXTPARSE_OPENMETRICS
						    : TEXTPARSE_PROM;
		memset(&perr, 0, sizeof(perr));
		rc = textparse_parse(sin->body, sin->len, fmt, scrapecache_on_sample, NULL, x, &perr);
		if (rc == -EINVAL) {
			snprintf(res->err, sizeof(res->err), "parse error at line %u, column %u: %s", perr.line,
				 perr.column, perr.msg);
			failed = 1;
		} else if (rc == SCRAPECACHE_FAIL) {
			failed = 1;
		} else if (rc == -E2BIG) {
			snprintf(res->err, sizeof(res->err), "series key too long");
			failed = 1;
		} else if (rc != 0) {
			goto out; /* -ENOMEM */
		}
		rc = 0;
	}
	if (failed) {
		router_batch_reset(&in->batch); /* a failed scrape stores none of its samples */
		res->post_relabel = 0;
		res->added = 0;
	}
	res->up = !failed;

	/* Staleness: anything the previous scrape produced that this one did
	 * not (or, failed, anything at all) gets the stale NaN. */
	double stale = scrapecache_stale_nan();
	size_t gone = 0;
	for (size_t i = 0; i < c->cap; i++) {
		struct scrapecache_entry *e = &c->tab[i];
		if (!e->raw_hash || (e->flags & SCRAPECACHE_F_SYNTH))
			continue;
		uint32_t before = e->seen == c->gen ? e->prev_seen : e->seen;
		int now = e->seen == c->gen && !failed;
		if (now)
			continue;
		if (before == c->gen - 1 && !(e->flags & (SCRAPECACHE_F_DROPPED | SCRAPECACHE_F_EXPLICIT))) {
			rc = router_add_key(&in->batch, c->arena + e->off + e->raw_len, e->key_len, sin->ts_ms, stale);
			if (rc != 0)
				goto out;
			res->stale++;
		}
		e->seen = 0; /* not produced by this scrape: removed below */
		gone++;
	}

	if ((rc = scrapecache_synth(x, "up", res->up ? 1.0 : 0.0)) != 0 ||
	    (rc = scrapecache_synth(x, "scrape_duration_seconds", sin->duration_s)) != 0 ||
	    (rc = scrapecache_synth(x, "scrape_samples_scraped", (double)res->scraped)) != 0 ||
	    (rc = scrapecache_synth(x, "scrape_samples_post_metric_relabeling", (double)res->post_relabel)) != 0 ||
	    (rc = scrapecache_synth(x, "scrape_series_added", (double)res->added)) != 0)
		goto out;
	if (gone) {
		size_t live = c->n - gone, cap = 64;
		while (cap < live * 2 + 2)
			cap *= 2;
		rc = scrapecache_rebuild(c, cap, 1);
	}
out:
	relabel_labels_free(&x->ls);
	free(x);
	return rc;
}

long scrapecache_stale_all(struct scrapecache *c, struct ingest *in, int64_t ts_ms)
{
	double stale = scrapecache_stale_nan();
	long n = 0;
	for (size_t i = 0; i < c->cap; i++) {
		struct scrapecache_entry *e = &c->tab[i];
		if (!e->raw_hash || e->seen != c->gen || (e->flags & (SCRAPECACHE_F_DROPPED | SCRAPECACHE_F_EXPLICIT)))
			continue;
		int rc = router_add_key(&in->batch, c->arena + e->off + e->raw_len, e->key_len, ts_ms, stale);
		if (rc != 0)
			return rc;
		n++;
	}
	scrapecache_clear(c);
	return n;
}
