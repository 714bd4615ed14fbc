/* tsdbapi: see tsdbapi.h. The shards' JSON objects are parsed with cJSON
 * and merged: counters summed, top lists summed by name and cut to ten. */
#include "apiserver/tsdbapi.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpd.h"
#include "common/records.h"

#define TSDBAPI_TOP 10
#define TSDBAPI_FLUSH_TIMEOUT_MS 300000

/* Fans kind out; on failure replies and returns the error. */
static int tsdbapi_fanout(struct evhttp_request *req, struct fanout *fo, struct fanout_result *res,
			  uint32_t kind, int64_t timeout_ms)
{
	struct rec_query q;
	memset(&q, 0, sizeof(q));
	q.kind = kind;
	q.start_ms = INT64_MIN;
	q.end_ms = INT64_MAX;
	int rc = fanout_query(fo, &q, timeout_ms, res);
	if (rc == -ETIMEDOUT)
		httpd_error(req, 503, "timeout", "the shards did not answer in time");
	else if (rc == -EREMOTEIO)
		httpd_error(req, 422, "execution", "%s", res->msg);
	else if (rc)
		httpd_error(req, 500, "internal", "%s", strerror(-rc));
	return rc;
}

/* The shards' answers as parsed JSON objects (unparseable ones skipped),
 * in an array the caller deletes. */
static cJSON *tsdbapi_shards(const struct fanout_result *res)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < res->nstrs; i++) {
		cJSON *o = cJSON_ParseWithLength(res->sbuf + res->strs[i].off, res->strs[i].len);
		if (cJSON_IsObject(o))
			cJSON_AddItemToArray(arr, o);
		else
			cJSON_Delete(o);
	}
	return arr;
}

static void tsdbapi_reply_json(struct evhttp_request *req, cJSON *data)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "status", "success");
	cJSON_AddItemToObject(root, "data", data);
	char *s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!s) {
		httpd_error(req, 500, "internal", "out of memory");
		return;
	}
	httpd_reply(req, 200, "application/json", s, strlen(s));
	free(s);
}

void tsdbapi_flush(struct evhttp_request *req, struct fanout *fo, struct fanout_result *res)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST && evhttp_request_get_command(req) != EVHTTP_REQ_PUT) {
		httpd_error(req, 405, "bad_data", "use POST to flush");
		return;
	}
	if (tsdbapi_fanout(req, fo, res, REC_Q_FLUSH, TSDBAPI_FLUSH_TIMEOUT_MS) == 0) {
		cJSON *data = cJSON_CreateObject();
		cJSON_AddItemToObject(data, "shards", tsdbapi_shards(res));
		tsdbapi_reply_json(req, data);
	}
	fanout_result_reset(res);
}

/* Adds every numeric member of src into dst (recursively for objects). */
static void tsdbapi_sum(cJSON *dst, const cJSON *src)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, src) {
		cJSON *d = cJSON_GetObjectItemCaseSensitive(dst, it->string);
		if (cJSON_IsNumber(it)) {
			int is_min = strcmp(it->string, "min_time") == 0, is_max = strcmp(it->string, "max_time") == 0;
			if (!d) {
				cJSON_AddNumberToObject(dst, it->string, it->valuedouble);
			} else if (is_min || is_max) {
				if ((is_min && it->valuedouble < d->valuedouble) || (is_max && it->valuedouble > d->valuedouble))
					cJSON_SetNumberValue(d, it->valuedouble);
			} else {
				cJSON_SetNumberValue(d, d->valuedouble + it->valuedouble);
			}
		} else if (cJSON_IsObject(it)) {
			if (!d)
				d = cJSON_AddObjectToObject(dst, it->string);
			tsdbapi_sum(d, it);
		}
	}
}

struct tsdbapi_kv {
	const char *name;
	double value;
};

static int tsdbapi_kv_cmp(const void *a, const void *b)
{
	const struct tsdbapi_kv *x = a, *y = b;
	if (x->value != y->value)
		return x->value < y->value ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Sums the [["name", n], ...] lists called `key` over the shards into a
 * Prometheus [{"name":..,"value":..}] list of the ten largest. */
static cJSON *tsdbapi_top(const cJSON *shards, const char *key)
{
	struct tsdbapi_kv kv[TSDBAPI_TOP * 64];
	size_t n = 0;
	const cJSON *sh;
	cJSON_ArrayForEach(sh, shards) {
		const cJSON *pair;
		cJSON_ArrayForEach(pair, cJSON_GetObjectItemCaseSensitive(sh, key)) {
			const cJSON *nm = cJSON_GetArrayItem(pair, 0), *v = cJSON_GetArrayItem(pair, 1);
			if (!cJSON_IsString(nm) || !cJSON_IsNumber(v))
				continue;
			size_t i;
			for (i = 0; i < n && strcmp(kv[i].name, nm->valuestring) != 0; i++)
				;
			if (i < n)
				kv[i].value += v->valuedouble;
			else if (n < sizeof(kv) / sizeof(kv[0]))
				kv[n++] = (struct tsdbapi_kv){nm->valuestring, v->valuedouble};
		}
	}
	qsort(kv, n, sizeof(kv[0]), tsdbapi_kv_cmp);
	cJSON *out = cJSON_CreateArray();
	for (size_t i = 0; i < n && i < TSDBAPI_TOP; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", kv[i].name);
		cJSON_AddNumberToObject(o, "value", kv[i].value);
		cJSON_AddItemToArray(out, o);
	}
	return out;
}

static double tsdbapi_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

void tsdbapi_status(struct evhttp_request *req, struct fanout *fo, struct fanout_result *res)
{
	if (tsdbapi_fanout(req, fo, res, REC_Q_STATUS, 30000) != 0) {
		fanout_result_reset(res);
		return;
	}
	cJSON *shards = tsdbapi_shards(res);
	cJSON *total = cJSON_CreateObject();
	const cJSON *sh;
	cJSON_ArrayForEach(sh, shards) {
		cJSON *copy = cJSON_Duplicate(sh, 1);
		/* Lists are merged separately; numbers and tier objects sum here. */
		cJSON_DeleteItemFromObjectCaseSensitive(copy, "top_metrics");
		cJSON_DeleteItemFromObjectCaseSensitive(copy, "top_label_names");
		cJSON_DeleteItemFromObjectCaseSensitive(copy, "top_label_pairs");
		tsdbapi_sum(total, copy);
		cJSON_Delete(copy);
	}
	cJSON *data = cJSON_CreateObject();
	cJSON *head = cJSON_AddObjectToObject(data, "headStats");
	cJSON_AddNumberToObject(head, "numSeries", tsdbapi_num(total, "head_series"));
	cJSON_AddNumberToObject(head, "numLabelPairs", 0);
	cJSON_AddNumberToObject(head, "chunkCount", tsdbapi_num(total, "head_chunks"));
	cJSON_AddNumberToObject(head, "minTime", tsdbapi_num(total, "min_time"));
	cJSON_AddNumberToObject(head, "maxTime", tsdbapi_num(total, "max_time"));
	cJSON_AddItemToObject(data, "seriesCountByMetricName", tsdbapi_top(shards, "top_metrics"));
	cJSON_AddItemToObject(data, "labelValueCountByLabelName", tsdbapi_top(shards, "top_label_names"));
	cJSON_AddItemToObject(data, "memoryInBytesByLabelName", cJSON_CreateArray());
	cJSON_AddItemToObject(data, "seriesCountByLabelValuePair", tsdbapi_top(shards, "top_label_pairs"));
	cJSON_AddNumberToObject(total, "shards", cJSON_GetArraySize(shards));
	cJSON_AddItemToObject(data, "mcs", total);
	cJSON_Delete(shards);
	tsdbapi_reply_json(req, data);
	fanout_result_reset(res);
}
