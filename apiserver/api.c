/* api: see api.h.
 *
 * Handlers run on the event loop thread, one at a time; a query blocks the
 * loop while it fans out (bounded by the query timeout). Every handler ends
 * in exactly one reply: api_ok (JSON success body), api_text or api_fail.
 */
#include "apiserver/api.h"

#include <ctype.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/eval.h"
#include "apiserver/targetsapi.h"
#include "apiserver/tsdbapi.h"
#include "apiserver/json.h"
#include "apiserver/sourcesapi.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/promql_parse.h"
#include "common/promql_print.h"
#include "common/selector.h"


void api_init(struct api *a, struct stage *st, struct fanout *fo, struct selfmetrics *sm,
	      struct alertsapi *al)
{
	memset(a, 0, sizeof(*a));
	a->st = st;
	a->fo = fo;
	a->sm = sm;
	a->al = al;
	fanout_result_init(&a->res);
	a->res.max_points = st ? st->cfg.query_max_samples : 0;
}

void api_fini(struct api *a)
{
	fanout_result_free(&a->res);
}

/* ---- parameters ---- */

int api_parse_time(const char *s, int64_t def, int64_t *ms)
{
	if (!s || !*s) {
		*ms = def;
		return 0;
	}
	char *end;
	double v = strtod(s, &end);
	if (end != s && *end == '\0') {
		/* Seconds: keep clear of int64 overflow in later arithmetic. */
		if (!isfinite(v) || fabs(v) > 9.2e15)
			return -EINVAL;
		*ms = (int64_t)llround(v * 1000.0);
		return 0;
	}
	return httpd_parse_time(s, ms);
}

int api_parse_duration(const char *s, int64_t *ms)
{
	char *end;
	if (!s || !*s)
		return -EINVAL;
	double v = strtod(s, &end);
	if (end != s && *end == '\0') {
		double m = v * 1000.0;
		if (!isfinite(m) || m > 9.2e18 || m < -9.2e18)
			return -EINVAL;
		*ms = (int64_t)llround(m);
		return 0;
	}
	int64_t d;
	size_t len = strlen(s);
	int n = selector_parse_duration(s, len, &d);
	if (n <= 0 || (size_t)n != len)
		return -EINVAL;
	*ms = d;
	return 0;
}

int api_parse_number(const char *s, double *v)
{
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return 0;
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	/* strtod also takes "infinity" and "nan(...)"; PromQL only "Inf" and
	 * "NaN" (any case), decimals and hex. */
	if (isalpha((unsigned char)*p) && strncasecmp(p, "inf", 3) != 0 && strncasecmp(p, "nan", 3) != 0)
		return 0;
	if ((strncasecmp(p, "inf", 3) == 0 || strncasecmp(p, "nan", 3) == 0) && isalnum((unsigned char)p[3]))
		return 0;
	char *end;
	double d = strtod(s, &end);
	if (end == s)
		return 0;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return 0;
	*v = d;
	return 1;
}

int api_label_name_ok(const char *s)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

int api_check_range(int64_t start, int64_t end, int64_t step, char *err, size_t errlen)
{
	if (end < start) {
		snprintf(err, errlen, "end timestamp must not be before start time");
		return -EINVAL;
	}
	if (step <= 0) {
		snprintf(err, errlen, "zero or negative query resolution step widths are not accepted. "
				      "Try a positive integer");
		return -EINVAL;
	}
	if ((end - start) / step > API_MAX_POINTS) {
		snprintf(err, errlen, "exceeded maximum resolution of 11,000 points per timeseries. "
				      "Try decreasing the query resolution (?step=XX)");
		return -EINVAL;
	}
	return 0;
}

/* ---- replies ---- */

/* Replies with an error in Prometheus' shape, counting 4xx answers. */
static void api_fail(struct api *a, struct evhttp_request *req, int code, const char *type,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void api_fail(struct api *a, struct evhttp_request *req, int code, const char *type,
		     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code >= 400 && code < 500 && a->st)
		ctl_add(a->st->slot, CTL_C_BAD_REQUESTS, 1);
	httpd_error(req, code, type, "%s", msg);
}

/* Sends body (already complete JSON) with `code`. */
static void api_send(struct evhttp_request *req, int code, const char *ctype, struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evhttp_send_reply(req, code, code == 200 ? "OK" : code == 503 ? "Service Unavailable" : "Status", body);
}

/* Replies `code` with a plain-text body. */
static void api_text(struct evhttp_request *req, int code, const char *text)
{
	httpd_reply(req, code, "text/plain; charset=utf-8", text, strlen(text));
}

/* Maps a fanout_query failure to its HTTP reply. */
static void api_query_failed(struct api *a, struct evhttp_request *req, int rc)
{
	if (a->st)
		ctl_add(a->st->slot, CTL_C_QUERY_ERRORS, 1);
	switch (rc) {
	case -ETIMEDOUT:
		api_fail(a, req, 503, "timeout", "query timed out in query execution");
		break;
	case -EREMOTEIO:
		api_fail(a, req, 422, "execution", "%s", a->res.msg);
		break;
	case -E2BIG:
		api_fail(a, req, 422, "execution",
			 "query processing would load too many samples into memory in query execution");
		break;
	case -ECANCELED:
		api_fail(a, req, 503, "unavailable", "the server is shutting down");
		break;
	case -EINVAL:
		api_fail(a, req, 400, "bad_data", "too many matchers or match[] selectors");
		break;
	default:
		api_fail(a, req, 500, "internal", "query failed: %s", strerror(-rc));
	}
}

/* The query timeout: the configured one, shortened by a "timeout"
 * parameter. Returns 0 or -EINVAL (reply sent). */
static int api_timeout(struct api *a, struct evhttp_request *req, struct evkeyvalq *params, int64_t *ms)
{
	*ms = a->st ? a->st->cfg.query_timeout_ms : 120000;
	const char *t = evhttp_find_header(params, "timeout");
	if (t && *t) {
		int64_t v;
		if (api_parse_duration(t, &v) != 0 || v <= 0) {
			api_fail(a, req, 400, "bad_data", "invalid parameter \"timeout\": cannot parse \"%s\" to a valid duration", t);
			return -EINVAL;
		}
		if (v < *ms)
			*ms = v;
	}
	if (*ms > 600000)
		*ms = 600000;
	return 0;
}

/* Reads a time parameter; replies 400 on a bad one. */
static int api_time_param(struct api *a, struct evhttp_request *req, struct evkeyvalq *params,
			  const char *name, int64_t def, int64_t *ms)
{
	const char *s = evhttp_find_header(params, name);
	if (api_parse_time(s, def, ms) != 0) {
		api_fail(a, req, 400, "bad_data", "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp",
			 name, s);
		return -EINVAL;
	}
	return 0;
}

/* Starts {"status":"success","data": and leaves the writer after it. */
static void api_begin(struct json_w *w)
{
	json_lit(w, "{\"status\":\"success\",\"data\":");
}

/* Closes the success object, flushes w into b and sends b with 200. The
 * caller still owns (and frees) b and w. */
static void api_end(struct json_w *w, struct evhttp_request *req, struct evbuffer *b)
{
	json_raw(w, "}", 1);
	json_flush(w);
	api_send(req, 200, "application/json", b);
}

/* ---- /api/v1/query and /api/v1/query_range ---- */

/* Maps an evaluation failure to its HTTP reply (Prometheus' codes). */
static void api_eval_failed(struct api *a, struct evhttp_request *req, const struct promql_result *r)
{
	if (a->st)
		ctl_add(a->st->slot, CTL_C_QUERY_ERRORS, 1);
	switch (r->err) {
	case PROMQL_ERR_BAD_DATA:
		api_fail(a, req, 400, "bad_data", "%s", r->msg);
		break;
	case PROMQL_ERR_EXEC:
		api_fail(a, req, 422, "execution", "%s", r->msg);
		break;
	case PROMQL_ERR_TIMEOUT:
		api_fail(a, req, 503, "timeout", "%s", r->msg);
		break;
	case PROMQL_ERR_CANCELED:
		api_fail(a, req, 503, "canceled", "%s", r->msg);
		break;
	default:
		api_fail(a, req, 500, "internal", "%s", r->msg[0] ? r->msg : "query failed");
	}
}

/* 1 when the client closed its connection: a peek at its socket reads
 * end-of-file (the evaluation then stops; nobody waits for the answer). */
static int api_client_gone(void *arg)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(arg);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	char c;
	return fd >= 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* /api/v1/query (range = 0) and /api/v1/query_range (range = 1), also
 * /metrics/query, /metrics/instant and /metrics/range (wrap: an optional
 * `aggregation` parameter wraps the expression, e.g. sum(expr)): validates
 * the parameters, parses the PromQL, evaluates it over the fan-out and
 * writes the result. Always replies exactly once. */
static void api_query(struct api *a, struct evhttp_request *req, struct evkeyvalq *params, int range,
		      int wrap)
{
	const char *query = evhttp_find_header(params, "query");
	int64_t t = 0, start = 0, end = 0, step = 0, timeout, now = segment_now_real_ms();
	char err[256], *wrapped = NULL;
	struct promql_node *tree = NULL;
	struct promql_error perr;
	struct promql_result res;
	struct evbuffer *b = NULL;
	struct json_w *w = NULL;

	memset(&res, 0, sizeof(res));
	if (!query || !*query) {
		api_fail(a, req, 400, "bad_data", "invalid parameter \"query\": query must not be empty");
		return;
	}
	if (wrap) {
		const char *agg = evhttp_find_header(params, "aggregation");
		if (agg && *agg) {
			static const char *const ok[] = {"sum", "avg", "min", "max", "count"};
			int found = 0;
			for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
				found |= strcmp(agg, ok[i]) == 0;
			if (!found) {
				api_fail(a, req, 400, "bad_data",
					 "invalid parameter \"aggregation\": must be one of sum, avg, min, max, count");
				return;
			}
			if (asprintf(&wrapped, "%s(%s)", agg, query) < 0) {
				api_fail(a, req, 500, "internal", "out of memory");
				return;
			}
			query = wrapped;
		}
	}
	if (!range) {
		if (api_time_param(a, req, params, "time", now, &t) != 0)
			goto out;
	} else {
		if (api_time_param(a, req, params, "start", API_MIN_TIME_MS, &start) != 0 ||
		    api_time_param(a, req, params, "end", API_MIN_TIME_MS, &end) != 0)
			goto out;
		const char *ss = evhttp_find_header(params, "start");
		const char *es = evhttp_find_header(params, "end");
		const char *st = evhttp_find_header(params, "step");
		if (!ss || !*ss || !es || !*es) {
			api_fail(a, req, 400, "bad_data", "invalid parameter \"%s\": missing", (!ss || !*ss) ? "start" : "end");
			goto out;
		}
		if (end < start) {
			api_fail(a, req, 400, "bad_data", "end timestamp must not be before start time");
			goto out;
		}
		if (!st || api_parse_duration(st, &step) != 0) {
			api_fail(a, req, 400, "bad_data", "invalid parameter \"step\": cannot parse \"%s\" to a valid duration",
				 st ? st : "");
			goto out;
		}
		if (api_check_range(start, end, step, err, sizeof(err)) != 0) {
			api_fail(a, req, 400, "bad_data", "%s", err);
			goto out;
		}
	}
	if (api_timeout(a, req, params, &timeout) != 0)
		goto out;
	if (promql_parse(query, strlen(query), &tree, &perr) != 0) {
		api_fail(a, req, 400, "bad_data", "invalid parameter \"query\": %s", perr.msg);
		goto out;
	}
	if (range && tree->type != PROMQL_TYPE_SCALAR && tree->type != PROMQL_TYPE_VECTOR) {
		api_fail(a, req, 400, "bad_data",
			 "invalid parameter \"query\": invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
			 promql_type_name(tree->type));
		goto out;
	}
	if (a->st)
		ctl_add(a->st->slot, CTL_C_QUERIES, 1);

	struct eval_store es = {a->fo, &a->res, promql_now_ms() + timeout, 0};
	struct promql_storage sto = {eval_store_select, &es};
	struct promql_opts o;
	memset(&o, 0, sizeof(o));
	o.lookback_ms = a->st ? a->st->cfg.lookback_ms : PROMQL_DEFAULT_LOOKBACK_MS;
	o.max_samples = a->st ? a->st->cfg.query_max_samples : 0;
	o.deadline_ms = es.deadline_ms;
	o.query = query;
	o.gone = api_client_gone;
	o.gone_arg = req;
	int rc = range ? promql_eval_range(tree, &sto, &o, start, end, step, &res)
		       : promql_eval_instant(tree, &sto, &o, t, &res);
	if (rc != 0) {
		api_eval_failed(a, req, &res);
		goto out;
	}
	b = evbuffer_new();
	w = malloc(sizeof(*w));
	if (!b || !w) {
		api_fail(a, req, 500, "internal", "out of memory");
		goto out;
	}
	json_init(w, b);
	api_begin(w);
	eval_write_result(w, &res);
	eval_write_annotations(w, &res);
	api_end(w, req, b);
out:
	promql_result_free(&res);
	promql_free(tree);
	fanout_result_reset(&a->res);
	free(wrapped);
	free(w);
	if (b)
		evbuffer_free(b);
}

/* /api/v1/format_query: the query as Prometheus prints it. */
static void api_format_query(struct api *a, struct evhttp_request *req, struct evkeyvalq *params)
{
	const char *query = evhttp_find_header(params, "query");
	struct promql_node *tree = NULL;
	struct promql_error perr;
	char *text = NULL;
	struct evbuffer *b;
	struct json_w *w;

	if (!query || !*query) {
		api_fail(a, req, 400, "bad_data", "invalid parameter \"query\": query must not be empty");
		return;
	}
	if (promql_parse(query, strlen(query), &tree, &perr) != 0) {
		api_fail(a, req, 400, "bad_data", "invalid parameter \"query\": %s", perr.msg);
		return;
	}
	b = evbuffer_new();
	w = malloc(sizeof(*w));
	if (!b || !w || promql_format(tree, &text) != 0) {
		api_fail(a, req, 500, "internal", "out of memory");
	} else {
		json_init(w, b);
		api_begin(w);
		json_str(w, text, strlen(text));
		api_end(w, req, b);
	}
	free(text);
	free(w);
	if (b)
		evbuffer_free(b);
	promql_free(tree);
}

/* /api/v1/metadata: mcs keeps no metric metadata (TYPE/HELP) yet, so the
 * answer is the empty object Prometheus gives for unknown metrics. */
static void api_metadata(struct evhttp_request *req)
{
	static const char body[] = "{\"status\":\"success\",\"data\":{}}";
	httpd_reply(req, 200, "application/json", body, sizeof(body) - 1);
}

/* ---- /api/v1/series, /api/v1/labels, /api/v1/label/<name>/values ---- */

/* /api/v1/series (REC_Q_SERIES), /api/v1/labels (REC_Q_LABEL_NAMES) and
 * label values (REC_Q_LABEL_VALUES of `label`): optional match[] sets,
 * start and end (everything by default). Always replies exactly once. */
static void api_meta(struct api *a, struct evhttp_request *req, struct evkeyvalq *params, int kind,
		     const char *label)
{
	const char *match[REC_MAX_SETS + 1];
	struct selector sels[REC_MAX_SETS];
	size_t nsel = 0, nm = httpd_param_all(params, "match[]", match, REC_MAX_SETS + 1);
	int64_t start, end, timeout;
	struct evbuffer *b = NULL;
	struct json_w *w = NULL;
	struct rec_query q;
	char err[256];

	if (kind == REC_Q_SERIES && nm == 0) {
		api_fail(a, req, 400, "bad_data", "no match[] parameter provided");
		return;
	}
	if (nm > REC_MAX_SETS) {
		api_fail(a, req, 400, "bad_data", "too many match[] parameters (at most %u)", REC_MAX_SETS);
		return;
	}
	if (api_time_param(a, req, params, "start", API_MIN_TIME_MS, &start) != 0 ||
	    api_time_param(a, req, params, "end", API_MAX_TIME_MS, &end) != 0)
		return;
	if (end < start) {
		api_fail(a, req, 400, "bad_data", "end timestamp must not be before start time");
		return;
	}
	if (api_timeout(a, req, params, &timeout) != 0)
		return;
	memset(&q, 0, sizeof(q));
	q.kind = (uint32_t)kind;
	q.start_ms = start;
	q.end_ms = end;
	if (label) {
		q.label_name = label;
		q.label_name_len = (uint16_t)strlen(label);
	}
	for (nsel = 0; nsel < nm; nsel++) {
		size_t used = 0, len = strlen(match[nsel]);
		int rc = selector_parse(&sels[nsel], match[nsel], len, &used, err, sizeof(err));
		if (rc == 0 && (used != len || sels[nsel].range_ms || sels[nsel].offset_ms)) {
			selector_free(&sels[nsel]);
			snprintf(err, sizeof(err), "position %zu: expected a vector selector only", used);
			rc = -EINVAL;
		}
		if (rc != 0) {
			api_fail(a, req, 400, "bad_data", "invalid parameter \"match[]\": %s", err);
			goto out;
		}
		if (selector_to_query(&sels[nsel], &q, (uint8_t)nsel) != 0) {
			nsel++;
			api_fail(a, req, 400, "bad_data", "too many label matchers (at most %u in all)", REC_MAX_MATCHERS);
			goto out;
		}
	}
	if (a->st)
		ctl_add(a->st->slot, CTL_C_QUERIES, 1);
	int rc = fanout_query(a->fo, &q, timeout, &a->res);
	if (rc != 0) {
		api_query_failed(a, req, rc);
		goto out;
	}
	b = evbuffer_new();
	w = malloc(sizeof(*w));
	if (!b || !w) {
		api_fail(a, req, 500, "internal", "out of memory");
		goto out;
	}
	json_init(w, b);
	api_begin(w);
	if (kind == REC_Q_SERIES) {
		uint32_t *order = eval_order(&a->res);
		if (!order && a->res.nseries) {
			api_fail(a, req, 500, "internal", "out of memory");
			goto out;
		}
		eval_write_series_list(w, &a->res, order);
		free(order);
	} else {
		fanout_result_sort_strings(&a->res);
		eval_write_strings(w, &a->res);
	}
	api_end(w, req, b);
out:
	for (size_t i = 0; i < nsel; i++)
		selector_free(&sels[i]);
	fanout_result_reset(&a->res);
	free(w);
	if (b)
		evbuffer_free(b);
}

/* /api/v1/label/<name>/values: name is the URL-encoded path part. */
static void api_label_values(struct api *a, struct evhttp_request *req, struct evkeyvalq *params,
			     const char *part, size_t len)
{
	char enc[512];
	if (len >= sizeof(enc)) {
		api_fail(a, req, 400, "bad_data", "invalid label name: too long");
		return;
	}
	memcpy(enc, part, len);
	enc[len] = '\0';
	char *name = evhttp_uridecode(enc, 0, NULL);
	if (!name) {
		api_fail(a, req, 500, "internal", "out of memory");
		return;
	}
	if (!api_label_name_ok(name))
		api_fail(a, req, 400, "bad_data", "invalid label name: \"%s\"", name);
	else
		api_meta(a, req, params, REC_Q_LABEL_VALUES, name);
	free(name);
}

/* ---- everything else ---- */

/* /api/v1/status/buildinfo, in Prometheus' shape. */
static void api_buildinfo(struct evhttp_request *req)
{
	static const char body[] =
		"{\"status\":\"success\",\"data\":{\"version\":\"" API_VERSION "\",\"revision\":\"\","
		"\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\"}}";
	httpd_reply(req, 200, "application/json", body, sizeof(body) - 1);
}

/* 1 when every aggregator's slot says it serves. */
static int api_ready(struct api *a)
{
	if (!a->st || !a->st->ctl.hdr)
		return 0;
	uint32_t m = a->st->ctl.hdr->n_stage[CTL_AGGREGATOR];
	for (uint32_t j = 0; j < m; j++) {
		struct ctl_slot *s = ctl_slot(&a->st->ctl, CTL_AGGREGATOR, j);
		if (!s || !atomic_load_explicit(&s->ready, memory_order_acquire))
			return 0;
	}
	return 1;
}

/* /api/v1/alerts and /alerts/active. */
static void api_alerts(struct api *a, struct evhttp_request *req, enum alertsapi_shape shape)
{
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		api_fail(a, req, 500, "internal", "out of memory");
		return;
	}
	alertsapi_render(a->al, shape, b);
	api_send(req, 200, "application/json", b);
	evbuffer_free(b);
}

/* /metrics: the exposition of every stage and ring. */
static void api_metrics(struct api *a, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	if (!b || selfmetrics_render(a->sm, b) != 0) {
		api_fail(a, req, 500, "internal", "out of memory");
	} else {
		api_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", b);
	}
	if (b)
		evbuffer_free(b);
}

void api_handle(struct evhttp_request *req, void *arg)
{
	struct api *a = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq params;
	if (a->st)
		ctl_add(a->st->slot, CTL_C_REQUESTS, 1);
	if (!path || !*path)
		path = "/";
	if (strncmp(path, "/api/v1/", 8) == 0 && cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST) {
		api_fail(a, req, 405, "bad_data", "method not allowed: use GET or POST");
		return;
	}
	if (httpd_params(req, &params) != 0) {
		evhttp_clear_headers(&params);
		api_fail(a, req, 400, "bad_data", "malformed query string or form body");
		return;
	}
	static const char lv[] = "/api/v1/label/";
	size_t plen = strlen(path);
	if (strcmp(path, "/api/v1/query") == 0) {
		api_query(a, req, &params, 0, 0);
	} else if (strcmp(path, "/api/v1/query_range") == 0) {
		api_query(a, req, &params, 1, 0);
	} else if (strcmp(path, "/api/v1/format_query") == 0) {
		api_format_query(a, req, &params);
	} else if (strcmp(path, "/api/v1/metadata") == 0) {
		api_metadata(req);
	} else if (strcmp(path, "/metrics/query") == 0 || strcmp(path, "/metrics/instant") == 0) {
		api_query(a, req, &params, 0, 0);
	} else if (strcmp(path, "/metrics/range") == 0) {
		api_query(a, req, &params, 1, 1);
	} else if (strcmp(path, "/metrics/labels") == 0) {
		api_meta(a, req, &params, REC_Q_LABEL_NAMES, NULL);
	} else if (strcmp(path, "/api/v1/series") == 0) {
		api_meta(a, req, &params, REC_Q_SERIES, NULL);
	} else if (strcmp(path, "/api/v1/labels") == 0) {
		api_meta(a, req, &params, REC_Q_LABEL_NAMES, NULL);
	} else if (strncmp(path, lv, sizeof(lv) - 1) == 0 && plen > sizeof(lv) - 1 + 7 &&
		   strcmp(path + plen - 7, "/values") == 0) {
		api_label_values(a, req, &params, path + sizeof(lv) - 1, plen - (sizeof(lv) - 1) - 7);
	} else if (strcmp(path, "/api/v1/admin/tsdb/flush") == 0) {
		tsdbapi_flush(req, a->fo, &a->res);
	} else if (strcmp(path, "/api/v1/status/tsdb") == 0) {
		tsdbapi_status(req, a->fo, &a->res);
	} else if (strcmp(path, "/api/v1/status/buildinfo") == 0) {
		api_buildinfo(req);
	} else if (strcmp(path, "/api/v1/targets") == 0) {
		targetsapi_reply(req, a->st, &params);
	} else if (strcmp(path, "/api/v1/alerts") == 0) {
		api_alerts(a, req, ALERTSAPI_PROMETHEUS);
	} else if (strcmp(path, "/alerts/active") == 0) {
		api_alerts(a, req, ALERTSAPI_MCS);
	} else if (sourcesapi_match(path)) {
		sourcesapi_handle(req, path, a->st ? a->st->cfg.data_dir : ".", a->st);
	} else if (strcmp(path, "/metrics") == 0) {
		api_metrics(a, req);
	} else if (strcmp(path, "/-/healthy") == 0) {
		api_text(req, 200, "mcs is Healthy.\n");
	} else if (strcmp(path, "/-/ready") == 0) {
		if (api_ready(a))
			api_text(req, 200, "mcs is Ready.\n");
		else
			api_text(req, 503, "Service Unavailable\n");
	} else {
		api_fail(a, req, 404, "not_found", "path %s not found", path);
	}
	evhttp_clear_headers(&params);
}
