/* alertsapi: see alertsapi.h.
 *
 * Everything read from an alert table is outside input (the alerter may
 * have crashed mid-write, though the seqlock snapshot makes that unlikely):
 * strings are bounded by their arrays, the label key is walked with checks
 * and the annotations text is parsed before it is copied into the answer.
 */
#include "apiserver/alertsapi.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/eval.h"
#include "apiserver/json.h"
#include "common/log.h"
#include "common/series.h"

int alertsapi_init(struct alertsapi *a, const char *instance, uint32_t k)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->instance, sizeof(a->instance), "%s", instance);
	a->tables = calloc(k ? k : 1, sizeof(*a->tables));
	a->attached = calloc(k ? k : 1, 1);
	a->snap = calloc(ALERTS_MAX, sizeof(*a->snap));
	if (!a->tables || !a->attached || !a->snap) {
		alertsapi_fini(a);
		return -ENOMEM;
	}
	a->k = k;
	return 0;
}

void alertsapi_fini(struct alertsapi *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->k; i++)
		if (a->attached[i])
			alerts_close(&a->tables[i]);
	free(a->tables);
	free(a->attached);
	free(a->snap);
	memset(a, 0, sizeof(*a));
}

/* 1 when key[len] walks as a series key to its end. */
static int alertsapi_key_ok(const uint8_t *key, size_t len)
{
	struct series_key_iter it;
	struct series_label l;
	int rc;
	series_key_iter_init(&it, key, len);
	while ((rc = series_key_next(&it, &l)) == 1)
		;
	return rc == 0;
}

/* Copies the annotations object text when it parses as a JSON object. */
static void alertsapi_annotations(struct json_w *w, const char *text, size_t cap)
{
	size_t n = strnlen(text, cap);
	cJSON *j = n ? cJSON_ParseWithLength(text, n) : NULL;
	if (j && cJSON_IsObject(j)) {
		char *out = cJSON_PrintUnformatted(j);
		if (out) {
			json_lit(w, out);
			cJSON_free(out);
			cJSON_Delete(j);
			return;
		}
	}
	cJSON_Delete(j);
	json_lit(w, "{}");
}

/* Writes ms as a quoted RFC 3339 string. */
static void alertsapi_time(struct json_w *w, int64_t ms)
{
	char buf[64];
	size_t n = json_fmt_rfc3339(buf, sizeof(buf), ms);
	json_str(w, buf, n);
}

int alertsapi_write_entry(struct json_w *w, const struct alerts_entry *e,
			  enum alertsapi_shape shape, int first)
{
	const char *state;
	char num[JSON_NUM_MAX];
	if (e->state == ALERTS_PENDING)
		state = "pending";
	else if (e->state == ALERTS_FIRING)
		state = "firing";
	else
		return 0;
	size_t klen = e->labels_len <= sizeof(e->labels) ? e->labels_len : 0;
	if (!first)
		json_raw(w, ",", 1);
	json_raw(w, "{", 1);
	if (shape == ALERTSAPI_MCS) {
		json_lit(w, "\"name\":");
		json_str(w, e->rule, strnlen(e->rule, sizeof(e->rule)));
		json_raw(w, ",", 1);
	}
	json_lit(w, "\"labels\":");
	if (klen && alertsapi_key_ok(e->labels, klen))
		eval_write_labels(w, e->labels, klen, 0); /* __name__ is "ALERTS" */
	else
		json_lit(w, "{}");
	json_lit(w, ",\"annotations\":");
	alertsapi_annotations(w, e->annotations, sizeof(e->annotations));
	json_lit(w, ",\"state\":");
	json_str(w, state, strlen(state));
	json_lit(w, ",\"activeAt\":");
	alertsapi_time(w, e->active_at_ms);
	if (shape == ALERTSAPI_MCS) {
		json_lit(w, ",\"firedAt\":");
		if (e->fired_at_ms)
			alertsapi_time(w, e->fired_at_ms);
		else
			json_lit(w, "null");
		json_lit(w, ",\"value\":");
		size_t n = json_fmt_value(num, sizeof(num), e->value);
		if (isfinite(e->value))
			json_raw(w, num, n);
		else
			json_str(w, num, n);
	} else {
		json_lit(w, ",\"value\":");
		size_t n = json_fmt_go(num, sizeof(num), e->value, 'e');
		json_str(w, num, n);
	}
	json_raw(w, "}", 1);
	return 1;
}

size_t alertsapi_render(struct alertsapi *a, enum alertsapi_shape shape, struct evbuffer *out)
{
	struct json_w *w = malloc(sizeof(*w));
	size_t n = 0;
	if (!w)
		return 0;
	json_init(w, out);
	json_lit(w, shape == ALERTSAPI_MCS ? "{\"alerts\":[" : "{\"status\":\"success\",\"data\":{\"alerts\":[");
	for (uint32_t i = 0; i < a->k; i++) {
		if (!a->attached[i]) {
			if (alerts_attach(&a->tables[i], a->instance, i) != 0)
				continue; /* not created yet: next request tries again */
			a->attached[i] = 1;
		}
		int cnt = alerts_snapshot(&a->tables[i], a->snap, ALERTS_MAX);
		if (cnt < 0) {
			log_warn("alert table %u: snapshot failed: %s", i, strerror(-cnt));
			continue;
		}
		for (int j = 0; j < cnt; j++)
			n += (size_t)alertsapi_write_entry(w, &a->snap[j], shape, n == 0);
	}
	json_lit(w, shape == ALERTSAPI_MCS ? "]}" : "]}}");
	json_flush(w);
	free(w);
	return n;
}
