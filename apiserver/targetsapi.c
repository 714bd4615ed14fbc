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

size_t targetsapi_render(struct targetsapi *t, const char *state, struct evbuffer *out)
{
	int active = !state || !*state || strcasecmp(state, "any") == 0 || strcasecmp(state, "active") == 0;
	size_t count = 0;
	struct json_w *w = malloc(sizeof(*w));
	if (!w)
		return 0;
	json_init(w, out);
	json_lit(w, "{\"status\":\"success\",\"data\":{\"activeTargets\":[");
	for (uint32_t i = 0; active && i < t->n; i++) {
		if (!t->attached[i]) {
			if (targets_attach(&t->tables[i], t->instance, i) != 0)
				continue; /* not created yet: the next request tries again */
			t->attached[i] = 1;
		}
		uint32_t n = targets_count(&t->tables[i]);
		for (uint32_t s = 0; s < n; s++) {
			int rc = targets_read(&t->tables[i], s, t->scratch);
			if (rc < 0)
				log_warn("target table %u slot %u: kept changing while read", i, s);
			if (rc != 1)
				continue;
			if (count++)
				json_raw(w, ",", 1);
			targetsapi_entry(w, t->scratch);
		}
	}
	/* Dropped targets are not recorded by the collectors (yet). */
	json_lit(w, "],\"droppedTargets\":[],\"droppedTargetCounts\":{}}}");
	json_flush(w);
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
