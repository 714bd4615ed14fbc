/* targetsapi: see targetsapi.h.
 *
 * Everything read from a target table is outside input (a collector may
 * crash mid-write; the per-entry seqlock makes a torn copy unlikely but
 * not impossible to matter): strings are bounded by their arrays and label
 * sets are walked with checks (series_key_next).
 */
#include "apiserver/targetsapi.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apiserver/json.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/series.h"

#define TARGETSAPI_MAX_LABELS 128

int targetsapi_init(struct targetsapi *t, const char *instance, uint32_t n)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->instance, sizeof(t->instance), "%s", instance);
	t->tables = calloc(n ? n : 1, sizeof(*t->tables));
	t->attached = calloc(n ? n : 1, 1);
	t->scratch = malloc(sizeof(*t->scratch));
	if (!t->tables || !t->attached || !t->scratch) {
		targetsapi_fini(t);
		return -ENOMEM;
	}
	t->n = n;
	return 0;
}

void targetsapi_fini(struct targetsapi *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->n; i++)
		if (t->attached && t->attached[i])
			targets_close(&t->tables[i]);
	free(t->tables);
	free(t->attached);
	free(t->scratch);
	memset(t, 0, sizeof(*t));
}

size_t targetsapi_fmt_duration(char *buf, size_t cap, int64_t ms)
{
	size_t n = 0;
	if (ms <= 0)
		return (size_t)snprintf(buf, cap, "0s");
	static const struct {
		int64_t ms;
		const char *u;
	} units[] = {{604800000, "w"}, {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && n < cap; i++) {
		if (ms >= units[i].ms) {
			n += (size_t)snprintf(buf + n, cap - n, "%lld%s", (long long)(ms / units[i].ms), units[i].u);
			ms %= units[i].ms;
		}
	}
	return n < cap ? n : cap - 1;
}

static int targetsapi_cmp_label(const void *a, const void *b)
{
	const struct series_label *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);
	return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Writes an encoded label set as a JSON object, names sorted. */
static void targetsapi_labels(struct json_w *w, const uint8_t *p, size_t len)
{
	struct series_label ls[TARGETSAPI_MAX_LABELS];
	struct series_key_iter it;
	size_t n = 0;
	series_key_iter_init(&it, p, len);
	while (n < TARGETSAPI_MAX_LABELS && series_key_next(&it, &ls[n]) == 1)
		n++;
	qsort(ls, n, sizeof(ls[0]), targetsapi_cmp_label);
	json_raw(w, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			json_raw(w, ",", 1);
		json_str(w, ls[i].name, ls[i].name_len);
		json_raw(w, ":", 1);
		json_str(w, ls[i].value, ls[i].value_len);
	}
	json_raw(w, "}", 1);
}

static void targetsapi_entry(struct json_w *w, const struct targets_entry *e)
{
	char buf[64];
	size_t n;
	json_lit(w, "{\"discoveredLabels\":");
	targetsapi_labels(w, e->discovered, e->discovered_len);
	json_lit(w, ",\"labels\":");
	targetsapi_labels(w, e->labels, e->labels_len);
	json_lit(w, ",\"scrapePool\":");
	json_str(w, e->pool, strlen(e->pool));
	json_lit(w, ",\"scrapeUrl\":");
	json_str(w, e->url, strlen(e->url));
	json_lit(w, ",\"globalUrl\":");
	json_str(w, e->url, strlen(e->url));
	json_lit(w, ",\"lastError\":");
	json_str(w, e->last_error, strlen(e->last_error));
	json_lit(w, ",\"lastScrape\":");
	if (e->last_scrape_ms > 0) {
		n = json_fmt_rfc3339(buf, sizeof(buf), e->last_scrape_ms);
		json_str(w, buf, n);
	} else {
		json_lit(w, "\"0001-01-01T00:00:00Z\"");
	}
	json_lit(w, ",\"lastScrapeDuration\":");
	n = json_fmt_go(buf, sizeof(buf), e->last_duration_s >= 0 ? e->last_duration_s : 0, 'f');
	json_raw(w, buf, n);
	json_lit(w, ",\"health\":");
	json_lit(w, e->health == TARGETS_UP ? "\"up\"" : e->health == TARGETS_DOWN ? "\"down\"" : "\"unknown\"");
	json_lit(w, ",\"scrapeInterval\":");
	n = targetsapi_fmt_duration(buf, sizeof(buf), e->interval_ms);
	json_str(w, buf, n);
	json_lit(w, ",\"scrapeTimeout\":");
	n = targetsapi_fmt_duration(buf, sizeof(buf), e->timeout_ms);
	json_str(w, buf, n);
	json_raw(w, "}", 1);
}

/* Table i, attached on first use; NULL while its collector has not
 * created it (the next request tries again). */
static struct targets *targetsapi_table(struct targetsapi *t, uint32_t i)
{
	if (!t->attached[i]) {
		if (targets_attach(&t->tables[i], t->instance, i) != 0)
			return NULL;
		t->attached[i] = 1;
	}
	return &t->tables[i];
}

/* A scrape pool's number of dropped targets (droppedTargetCounts). */
struct targetsapi_pool {
	char name[sizeof(((struct targets_entry *)0)->pool)];
	size_t n;
};

static int targetsapi_cmp_pool(const void *a, const void *b)
{
	return strcmp(((const struct targetsapi_pool *)a)->name, ((const struct targetsapi_pool *)b)->name);
}

/* Counts one dropped target of `pool` into *ps. Returns 0 or -ENOMEM (the
 * counts so far stay). */
static int targetsapi_count_pool(struct targetsapi_pool **ps, size_t *n, size_t *cap, const char *pool)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*ps)[i].name, pool)) {
			(*ps)[i].n++;
			return 0;
		}
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct targetsapi_pool *a = realloc(*ps, nc * sizeof(*a));
		if (!a)
			return -ENOMEM;
		*ps = a;
		*cap = nc;
	}
	snprintf((*ps)[*n].name, sizeof((*ps)[*n].name), "%s", pool);
	(*ps)[(*n)++].n = 1;
	return 0;
}

/* Writes the entries of every table that are dropped (or not), comma-
 * separated; counts dropped ones per pool into *ps when ps is set. Returns
 * the number written. */
static size_t targetsapi_list(struct targetsapi *t, struct json_w *w, int dropped, struct targetsapi_pool **ps,
			      size_t *nps, size_t *cap)
{
	size_t count = 0;
	for (uint32_t i = 0; i < t->n; i++) {
		struct targets *tb = targetsapi_table(t, i);
		uint32_t n = tb ? targets_count(tb) : 0;
		for (uint32_t s = 0; s < n; s++) {
			int rc = targets_read(tb, s, t->scratch);
			if (rc < 0)
				log_warn("target table %u slot %u: kept changing while read", i, s);
			if (rc != 1 || !t->scratch->dropped != !dropped)
				continue;
			if (count++)
				json_raw(w, ",", 1);
			if (!dropped) {
				targetsapi_entry(w, t->scratch);
				continue;
			}
			/* Prometheus 3's shape; 2.x readers ignore scrapePool. */
			json_lit(w, "{\"discoveredLabels\":");
			targetsapi_labels(w, t->scratch->discovered, t->scratch->discovered_len);
			json_lit(w, ",\"scrapePool\":");
			json_str(w, t->scratch->pool, strlen(t->scratch->pool));
			json_raw(w, "}", 1);
			if (ps && targetsapi_count_pool(ps, nps, cap, t->scratch->pool) != 0) {
				log_warn("targets: out of memory for droppedTargetCounts; left out");
				free(*ps);
				*ps = NULL;
				*nps = 0;
			}
		}
	}
	return count;
}

size_t targetsapi_render(struct targetsapi *t, const char *state, struct evbuffer *out)
{
	int any = !state || !*state || strcasecmp(state, "any") == 0;
	int active = any || strcasecmp(state, "active") == 0;
	int dropped = any || strcasecmp(state, "dropped") == 0;
	struct targetsapi_pool *ps = NULL;
	size_t count = 0, nps = 0, cap = 0;
	struct json_w *w = malloc(sizeof(*w));
	if (!w)
		return 0;
	json_init(w, out);
	json_lit(w, "{\"status\":\"success\",\"data\":{\"activeTargets\":[");
	if (active)
		count += targetsapi_list(t, w, 0, NULL, NULL, NULL);
	json_lit(w, "],\"droppedTargets\":[");
	if (dropped)
		count += targetsapi_list(t, w, 1, &ps, &nps, &cap);
	json_lit(w, "],\"droppedTargetCounts\":{");
	if (nps)
		qsort(ps, nps, sizeof(*ps), targetsapi_cmp_pool);
	for (size_t i = 0; i < nps; i++) {
		char num[32];
		int nl = snprintf(num, sizeof(num), "%zu", ps[i].n);
		if (i)
			json_raw(w, ",", 1);
		json_str(w, ps[i].name, strlen(ps[i].name));
		json_raw(w, ":", 1);
		json_raw(w, num, (size_t)nl);
	}
	json_lit(w, "}}}");
	json_flush(w);
	free(ps);
	free(w);
	return count;
}

void targetsapi_reply(struct evhttp_request *req, struct stage *st, struct evkeyvalq *params)
{
	static struct targetsapi t;
	static int ready;
	if (!ready) {
		uint32_t n = st->ctl.hdr ? st->ctl.hdr->n_stage[CTL_COLLECTOR] : st->cfg.collectors;
		if (targetsapi_init(&t, st->cfg.instance, n) != 0) {
			httpd_error(req, 500, "internal", "out of memory");
			return;
		}
		ready = 1;
	}
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		httpd_error(req, 500, "internal", "out of memory");
		return;
	}
	targetsapi_render(&t, evhttp_find_header(params, "state"), b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}
