/* engine: see engine.h. The alert state machine and its mirror in the
 * shared alert table.
 *
 * Layout: alerts live in a fixed array whose slot i is what table entry i
 * shows; a removal moves the last alert into the hole (both slots become
 * dirty), so the table never has gaps and publishing rewrites only dirty
 * slots. An open-addressing index maps hash(rule, labels) to a slot; it is
 * rebuilt after a removal, which is rare (a resolved alert expires after 15
 * minutes; a pending one drops back to inactive).
 *
 * Invariants: every alert in a[0..n) is PENDING, FIRING or RESOLVED; its
 * rule is owned by this alerter; (rule, labels) pairs are unique; a slot
 * that differs from its table entry has dirty set.
 */
#include "alerter/engine.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/series.h"

#define ENGINE_IDX_CAP       (2u * ENGINE_MAX_ALERTS)
#define ENGINE_LOG_EVERY_MS  60000
#define ENGINE_NAME          "ALERTS"

_Static_assert(ENGINE_LABELS_MAX == sizeof(((struct alerts_entry *)0)->labels), "labels size");
_Static_assert(ENGINE_ANNOT_MAX == sizeof(((struct alerts_entry *)0)->annotations), "annotations size");
_Static_assert((ENGINE_IDX_CAP & (ENGINE_IDX_CAP - 1)) == 0, "index capacity is a power of two");

/* Builds the JSON text of a rule's annotations into out (ENGINE_ANNOT_MAX).
 * Falls back to "{}" (logged) when it does not fit or memory runs out. */
static void engine_annotations(const struct config_rule *cr, char *out)
{
	cJSON *o = cJSON_CreateObject();
	char *txt = NULL;
	strcpy(out, "{}");
	if (!o)
		return;
	for (size_t i = 0; i < cr->nannotations; i++)
		cJSON_AddStringToObject(o, cr->annotations[i].name, cr->annotations[i].value);
	txt = cJSON_PrintUnformatted(o);
	if (txt && strlen(txt) < ENGINE_ANNOT_MAX)
		strcpy(out, txt);
	else
		log_warn("rule \"%s\": annotations dropped: their JSON exceeds %u bytes or memory ran out",
			 cr->alert, ENGINE_ANNOT_MAX - 1);
	cJSON_free(txt);
	cJSON_Delete(o);
}

/* Effect: allocates the alert array, the index and the per-rule
 * annotations. Returns 0 or -ENOMEM (everything freed). */
int engine_init(struct engine *e, const struct rules_set *rs, uint32_t index, int64_t lookback_ms)
{
	memset(e, 0, sizeof(*e));
	e->rs = rs;
	e->index = index;
	e->lookback_ms = lookback_ms > 0 ? lookback_ms : 5 * 60 * 1000;
	e->idx_cap = ENGINE_IDX_CAP;
	e->a = calloc(ENGINE_MAX_ALERTS, sizeof(*e->a));
	e->idx = calloc(e->idx_cap, sizeof(*e->idx));
	e->annot = calloc(rs->n ? rs->n : 1, sizeof(*e->annot));
	if (!e->a || !e->idx || !e->annot) {
		log_error("engine_init: calloc of %zu alert slots failed", (size_t)ENGINE_MAX_ALERTS);
		engine_fini(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].alerter == index)
			engine_annotations(rs->r[i].cfg, e->annot[i]);
	return 0;
}

void engine_fini(struct engine *e)
{
	if (!e)
		return;
	free(e->a);
	free(e->idx);
	free(e->annot);
	memset(e, 0, sizeof(*e));
}

static int engine_is(const struct series_label *l, const char *s)
{
	size_t n = strlen(s);
	return l->name_len == n && memcmp(l->name, s, n) == 0;
}

/* See engine.h. The rule's labels come first in the array so that series
 * labels of the same name can be recognised and left out. */
int engine_labels(const struct engine *e, uint32_t rule, const uint8_t *key, size_t len,
		  uint8_t *out, size_t cap)
{
	struct series_label l[SERIES_MAX_LABELS + CONFIG_MAX_LABELS + 1];
	const size_t lmax = sizeof(l) / sizeof(l[0]);
	const struct config_rule *cr = e->rs->r[rule].cfg;
	size_t n = 0, nrule;
	l[n++] = (struct series_label){"alertname", 9, cr->alert, strlen(cr->alert)};
	for (size_t i = 0; i < cr->nlabels; i++) {
		struct series_label x = {cr->labels[i].name, strlen(cr->labels[i].name),
					 cr->labels[i].value, strlen(cr->labels[i].value)};
		int dup = engine_is(&x, "__name__");
		for (size_t j = 0; j < n && !dup; j++)
			dup = x.name_len == l[j].name_len && memcmp(x.name, l[j].name, x.name_len) == 0;
		if (!dup)
			l[n++] = x;
	}
	nrule = n;
	struct series_key_iter it;
	struct series_label x;
	int rc;
	series_key_iter_init(&it, key, len);
	while ((rc = series_key_next(&it, &x)) == 1) {
		int skip = engine_is(&x, "__name__");
		for (size_t j = 0; j < nrule && !skip; j++)
			skip = x.name_len == l[j].name_len && memcmp(x.name, l[j].name, x.name_len) == 0;
		if (skip)
			continue;
		if (n >= lmax)
			return -E2BIG;
		l[n++] = x;
	}
	if (rc < 0)
		return -EINVAL;
	rc = series_key_build(out, cap, ENGINE_NAME, sizeof(ENGINE_NAME) - 1, l, n);
	return rc == -EINVAL && n > SERIES_MAX_LABELS ? -E2BIG : rc;
}

static uint64_t engine_hash(uint32_t rule, const uint8_t *labels, size_t len)
{
	return series_id(labels, len) ^ ((uint64_t)(rule + 1) * 0x9e3779b97f4a7c15ull);
}

/* Index slot of (rule, labels): the slot holding it, or the empty slot
 * where it would go. The index is never full (cap = 2 * max alerts). */
static size_t engine_probe(const struct engine *e, uint64_t h, uint32_t rule, const uint8_t *labels,
			   size_t len)
{
	size_t mask = e->idx_cap - 1;
	for (size_t p = (size_t)h & mask;; p = (p + 1) & mask) {
		uint32_t v = e->idx[p];
		if (v == 0)
			return p;
		const struct engine_alert *a = &e->a[v - 1];
		if (a->hash == h && a->rule == rule && a->labels_len == len &&
		    memcmp(a->labels, labels, len) == 0)
			return p;
	}
}

static void engine_reindex(struct engine *e)
{
	memset(e->idx, 0, e->idx_cap * sizeof(*e->idx));
	for (size_t i = 0; i < e->n; i++) {
		struct engine_alert *a = &e->a[i];
		e->idx[engine_probe(e, a->hash, a->rule, a->labels, a->labels_len)] = (uint32_t)i + 1;
	}
}

const struct engine_alert *engine_find(const struct engine *e, uint32_t rule, const uint8_t *labels,
				       size_t len)
{
	uint64_t h = engine_hash(rule, labels, len);
	uint32_t v = e->idx[engine_probe(e, h, rule, labels, len)];
	return v ? &e->a[v - 1] : NULL;
}

/* Removes slot i: the last alert moves into it. The caller must not use
 * pointers into a[] across this call. */
static void engine_remove(struct engine *e, size_t i)
{
	e->n--;
	if (i != e->n) {
		e->a[i] = e->a[e->n];
		e->a[i].dirty = 1;
	}
	e->changed = 1;
	e->removed = 1;
	engine_reindex(e);
}

/* Frees a slot for a new alert when the table is full by evicting the
 * resolved alert that resolved first. Returns 0, or -ENOSPC when every
 * alert is pending or firing. */
static int engine_make_room(struct engine *e)
{
	size_t victim = e->n;
	for (size_t i = 0; i < e->n; i++)
		if (e->a[i].state == ALERTS_RESOLVED &&
		    (victim == e->n || e->a[i].resolved_at_ms < e->a[victim].resolved_at_ms))
			victim = i;
	if (victim == e->n)
		return -ENOSPC;
	engine_remove(e, victim);
	return 0;
}

static void engine_overflow(struct engine *e, uint32_t rule, const char *why, int64_t now_ms)
{
	e->overflows++;
	if (now_ms - e->overflow_logged_ms < ENGINE_LOG_EVERY_MS && e->overflow_logged_ms != 0)
		return;
	e->overflow_logged_ms = now_ms;
	log_warn("rule \"%s\": alert dropped: %s (%llu dropped so far)", e->rs->r[rule].cfg->alert, why,
		 (unsigned long long)e->overflows);
}

/* One step of the state machine for slot i at time t with the condition
 * `holds`. Returns 1 when the alert was removed (slot i now holds another
 * alert, or is past the end), 0 otherwise. */
static int engine_step(struct engine *e, size_t i, int holds, int64_t t)
{
	struct engine_alert *a = &e->a[i];
	int64_t for_ms = e->rs->r[a->rule].cfg->for_ms;
	uint32_t before = a->state;
	int removed = 0;
	if (a->state == ALERTS_RESOLVED) {
		if (!holds) {
			if (t - a->resolved_at_ms >= ENGINE_RESOLVED_KEEP_MS)
				removed = 1;
			goto out;
		}
		/* Active again: a new alert instance in the same slot. */
		a->state = ALERTS_PENDING;
		a->active_at_ms = t;
		a->fired_at_ms = 0;
		a->resolved_at_ms = 0;
	}
	if (a->state == ALERTS_PENDING) {
		if (!holds)
			removed = 1; /* back to inactive: pending alerts never resolve */
		else if (t - a->active_at_ms >= for_ms) {
			a->state = ALERTS_FIRING;
			a->fired_at_ms = t;
		}
	} else if (a->state == ALERTS_FIRING && !holds) {
		a->state = ALERTS_RESOLVED;
		a->resolved_at_ms = t;
	}
out:
	if (removed) {
		engine_remove(e, i);
		return 1;
	}
	if (a->state != before) {
		/* The table's last_eval_ms is the time of the last sample or
		 * transition: recovery relies on it (see engine.h). */
		e->changed = 1;
		a->dirty = 1;
		if (a->last_eval_ms < t)
			a->last_eval_ms = t;
	}
	return 0;
}

/* Evaluates rule slot `rule` for one sample of the (selected) series. */
static void engine_eval_sample(struct engine *e, uint32_t rule, const uint8_t *key, size_t len,
			       int64_t ts_ms, double value, int64_t now_ms)
{
	uint8_t labels[ENGINE_LABELS_MAX];
	const struct rules_rule *r = &e->rs->r[rule];
	if (now_ms - ts_ms > e->lookback_ms)
		return; /* older than the lookback: it cannot make anything hold */
	int ll = engine_labels(e, rule, key, len, labels, sizeof(labels));
	if (ll < 0) {
		engine_overflow(e, rule, "its label set does not fit 1024 bytes / 128 labels", now_ms);
		return;
	}
	int holds = rules_compare(r->expr.op, value, r->expr.threshold);
	uint64_t h = engine_hash(rule, labels, (size_t)ll);
	size_t p = engine_probe(e, h, rule, labels, (size_t)ll);
	if (e->idx[p] != 0) {
		size_t i = e->idx[p] - 1;
		struct engine_alert *a = &e->a[i];
		if (ts_ms <= a->last_ts_ms)
			return; /* a replayed duplicate or out of order: already seen newer */
		a->last_ts_ms = ts_ms;
		a->last_eval_ms = ts_ms;
		a->value = value;
		a->dirty = 1;
		engine_step(e, i, holds, ts_ms);
		return;
	}
	if (!holds)
		return;
	if (e->n >= ENGINE_MAX_ALERTS) {
		if (engine_make_room(e) != 0) {
			engine_overflow(e, rule, "the alert table is full", now_ms);
			return;
		}
		p = engine_probe(e, h, rule, labels, (size_t)ll); /* the index was rebuilt */
	}
	size_t i = e->n++;
	struct engine_alert *a = &e->a[i];
	memset(a, 0, offsetof(struct engine_alert, labels));
	a->rule = rule;
	a->state = ALERTS_PENDING;
	a->hash = h;
	a->active_at_ms = ts_ms;
	a->last_ts_ms = ts_ms;
	a->last_eval_ms = ts_ms;
	a->value = value;
	a->dirty = 1;
	a->labels_len = (uint16_t)ll;
	memcpy(a->labels, labels, (size_t)ll);
	e->idx[p] = (uint32_t)i + 1;
	e->changed = 1;
	engine_step(e, i, 1, ts_ms);
}

/* See engine.h. Effect: validates the key, then runs every owned rule that
 * selects the series. Returns the rules evaluated or -EPROTO. */
int engine_sample(struct engine *e, const uint8_t *key, size_t len, int64_t ts_ms, double value,
		  int64_t now_ms)
{
	int n = 0;
	e->samples++;
	if (series_key_validate(key, len) != 0) {
		e->bad_keys++;
		return -EPROTO;
	}
	for (size_t r = 0; r < e->rs->n; r++) {
		if (e->rs->r[r].alerter != e->index || !rules_match(&e->rs->r[r], key, len))
			continue;
		e->evals++;
		n++;
		engine_eval_sample(e, (uint32_t)r, key, len, ts_ms, value, now_ms);
	}
	return n;
}

/* See engine.h. Walks the slots; a removal moves the last alert into the
 * current slot, which is then visited again. */
void engine_tick(struct engine *e, int64_t now_ms)
{
	for (size_t r = 0; r < e->rs->n; r++)
		if (e->rs->r[r].alerter == e->index)
			e->evals++;
	size_t i = 0;
	while (i < e->n) {
		struct engine_alert *a = &e->a[i];
		const struct rules_rule *r = &e->rs->r[a->rule];
		int fresh = now_ms - a->last_ts_ms <= e->lookback_ms;
		int holds = fresh && rules_compare(r->expr.op, a->value, r->expr.threshold);
		int64_t t = now_ms > a->last_eval_ms ? now_ms : a->last_eval_ms;
		if (!engine_step(e, i, holds, t))
			i++;
	}
}

/* Stores an entry into the shared table with relaxed 64-bit atomic stores,
 * the writer's half of the seqlock's data accesses (common/alerts.c). */
static void engine_store_words(void *dst, const void *src, size_t n)
{
	uint64_t *d = dst;
	const uint64_t *s = src;
	for (size_t i = 0; i < n / 8; i++)
		__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

static void engine_fill_entry(const struct engine *e, const struct engine_alert *a,
			      struct alerts_entry *out)
{
	const struct config_rule *cr = e->rs->r[a->rule].cfg;
	memset(out, 0, sizeof(*out));
	strncpy(out->rule, cr->alert, sizeof(out->rule) - 1);
	memcpy(out->labels, a->labels, a->labels_len);
	out->labels_len = a->labels_len;
	out->state = a->state;
	out->active_at_ms = a->active_at_ms;
	out->fired_at_ms = a->fired_at_ms;
	out->resolved_at_ms = a->resolved_at_ms;
	out->last_eval_ms = a->last_eval_ms;
	out->value = a->value;
	memcpy(out->annotations, e->annot[a->rule], sizeof(out->annotations));
}

/* See engine.h. One seqlock bracket for the whole batch of dirty slots. */
int engine_publish(struct engine *e, struct alerts *tab, int64_t now_ms)
{
	struct alerts_entry ent;
	int any = e->changed || e->removed;
	for (size_t i = 0; i < e->n && !any; i++)
		any = e->a[i].dirty;
	if (!any)
		return 0;
	struct alerts_table *t = tab->t;
	alerts_write_begin(tab);
	for (size_t i = 0; i < e->n; i++) {
		if (!e->a[i].dirty)
			continue;
		engine_fill_entry(e, &e->a[i], &ent);
		engine_store_words(&t->e[i], &ent, sizeof(ent));
		e->a[i].dirty = 0;
	}
	__atomic_store_n(&t->count, (uint32_t)e->n, __ATOMIC_RELAXED);
	__atomic_store_n(&t->updated_ms, now_ms, __ATOMIC_RELAXED);
	alerts_write_end(tab);
	e->changed = 0;
	e->removed = 0;
	return 1;
}

size_t engine_count(const struct engine *e, enum alerts_state state)
{
	size_t c = 0;
	for (size_t i = 0; i < e->n; i++)
		c += e->a[i].state == (uint32_t)state;
	return c;
}

/* The owned rule a recovered entry belongs to: same alert name, and every
 * one of the rule's own labels present in the entry with its value. Returns
 * the rule slot or -1. */
static int engine_rule_of(const struct engine *e, const struct alerts_entry *ent)
{
	for (size_t r = 0; r < e->rs->n; r++) {
		const struct rules_rule *rr = &e->rs->r[r];
		if (rr->alerter != e->index || strcmp(rr->cfg->alert, ent->rule) != 0)
			continue;
		int ok = 1;
		for (size_t j = 0; j < rr->cfg->nlabels && ok; j++) {
			const struct config_kv *kv = &rr->cfg->labels[j];
			size_t vl;
			const char *v = series_key_get(ent->labels, ent->labels_len, kv->name, &vl);
			if (!kv->value[0] || strcmp(kv->name, "alertname") == 0 ||
			    strcmp(kv->name, "__name__") == 0)
				continue;
			ok = v && vl == strlen(kv->value) && memcmp(v, kv->value, vl) == 0;
		}
		if (ok)
			return (int)r;
	}
	return -1;
}

/* See engine.h. The table is ours (single writer, nobody writes while we
 * read), but its bytes may come from a process that died mid-update, so
 * every field is checked before use. */
int engine_recover(struct engine *e, struct alerts *tab)
{
	struct alerts_entry ent;
	const struct alerts_table *t = tab->t;
	uint32_t count = t->count > ALERTS_MAX ? ALERTS_MAX : t->count;
	size_t dropped = 0;
	for (uint32_t k = 0; k < count; k++) {
		memcpy(&ent, &t->e[k], sizeof(ent));
		size_t vl;
		const char *nm;
		int r = -1;
		if (memchr(ent.rule, '\0', sizeof(ent.rule)) && ent.labels_len <= sizeof(ent.labels) &&
		    series_key_validate(ent.labels, ent.labels_len) == 0 &&
		    (ent.state == ALERTS_PENDING || ent.state == ALERTS_FIRING ||
		     ent.state == ALERTS_RESOLVED) &&
		    (nm = series_key_get(ent.labels, ent.labels_len, "__name__", &vl)) != NULL &&
		    vl == sizeof(ENGINE_NAME) - 1 && memcmp(nm, ENGINE_NAME, vl) == 0)
			r = engine_rule_of(e, &ent);
		if (r < 0 || e->n >= ENGINE_MAX_ALERTS) {
			dropped++;
			continue;
		}
		uint64_t h = engine_hash((uint32_t)r, ent.labels, ent.labels_len);
		size_t p = engine_probe(e, h, (uint32_t)r, ent.labels, ent.labels_len);
		if (e->idx[p] != 0) {
			dropped++;
			continue;
		}
		size_t i = e->n++;
		struct engine_alert *a = &e->a[i];
		memset(a, 0, sizeof(*a));
		a->rule = (uint32_t)r;
		a->state = ent.state;
		a->hash = h;
		a->active_at_ms = ent.active_at_ms;
		a->fired_at_ms = ent.fired_at_ms;
		a->resolved_at_ms = ent.resolved_at_ms;
		a->last_eval_ms = ent.last_eval_ms;
		a->last_ts_ms = ent.last_eval_ms; /* see engine.h: resolves a lookback after the restart */
		a->value = ent.value;
		a->labels_len = ent.labels_len;
		memcpy(a->labels, ent.labels, ent.labels_len);
		a->dirty = 1;
		e->idx[p] = (uint32_t)i + 1;
	}
	if (dropped)
		log_info("recovery: dropped %zu of %u alerts of the previous run (damaged, or their rule is "
			 "gone or owned by another alerter)", dropped, count);
	/* Rewrite the table: slots may have moved, and count must shrink. */
	e->removed = 1;
	return (int)e->n;
}
