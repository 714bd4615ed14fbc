/* sourcesapi: see sourcesapi.h.
 *
 * Each handler ends in exactly one reply. Writes run their change as a
 * sources_modify callback, which sees the document as it is on disk under
 * the lock, so two apiservers cannot lose each other's updates.
 */
#include "apiserver/sourcesapi.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/sources.h"

static const char *sourcesapi_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	default: return "Internal Server Error";
	}
}

/* Sends `code` with a JSON body (may be NULL for 204). */
static void sourcesapi_send(struct evhttp_request *req, int code, const char *json)
{
	struct evbuffer *b = NULL;
	if (code != 204) {
		b = evbuffer_new();
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
		if (b && json)
			evbuffer_add(b, json, strlen(json));
	}
	evhttp_send_reply(req, code, sourcesapi_reason(code), b);
	if (b)
		evbuffer_free(b);
}

/* Replies {"status":"error","errorType":type,"error":msg} with `code`,
 * counting 4xx answers as bad requests. */
static void sourcesapi_fail(struct evhttp_request *req, struct stage *st, int code, const char *type,
			    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void sourcesapi_fail(struct evhttp_request *req, struct stage *st, int code, const char *type,
			    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code >= 400 && code < 500 && st && st->slot)
		ctl_add(st->slot, CTL_C_BAD_REQUESTS, 1);
	if (code >= 500)
		log_error("%s %s: %s", sourcesapi_reason(code), SOURCESAPI_PREFIX, msg);
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "status", "error") && cJSON_AddStringToObject(o, "errorType", type) &&
	    cJSON_AddStringToObject(o, "error", msg))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	sourcesapi_send(req, code, text ? text : "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":\"out of memory\"}");
	free(text);
}

/* Maps a sources error to its reply. */
static void sourcesapi_fail_rc(struct evhttp_request *req, struct stage *st, int rc, const char *err)
{
	switch (rc) {
	case -EINVAL:
		sourcesapi_fail(req, st, 400, "bad_data", "%s", err);
		break;
	case -ENOENT:
		sourcesapi_fail(req, st, 404, "not_found", "%s", err);
		break;
	case -EEXIST:
	case -ENOSPC:
		sourcesapi_fail(req, st, 409, "conflict", "%s", err);
		break;
	case -EBADMSG:
		sourcesapi_fail(req, st, 500, "internal", "%s; fix or remove the file", err);
		break;
	default:
		sourcesapi_fail(req, st, 500, "internal", "%s", err[0] ? err : strerror(-rc));
	}
}

int sourcesapi_match(const char *path)
{
	size_t n = sizeof(SOURCESAPI_PREFIX) - 1;
	return strncmp(path, SOURCESAPI_PREFIX, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Checks the Content-Type and size of a write and parses its body into
 * *src. Returns 0, or -1 after replying. */
static int sourcesapi_body(struct evhttp_request *req, struct stage *st, const char *want_id,
			   struct sources_source *src)
{
	char err[1024];
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
		sourcesapi_fail(req, st, 415, "bad_data", "Content-Type must be application/json (got %s)",
				ct ? ct : "none");
		return -1;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > SOURCESAPI_MAX_BODY) {
		sourcesapi_fail(req, st, 413, "bad_data", "body of %zu bytes is larger than the limit of %d", len,
				SOURCESAPI_MAX_BODY);
		return -1;
	}
	if (len == 0) {
		sourcesapi_fail(req, st, 400, "bad_data", "empty body: expected one source as a JSON object");
		return -1;
	}
	const char *body = (const char *)evbuffer_pullup(in, -1);
	if (!body) {
		sourcesapi_fail(req, st, 500, "internal", "out of memory");
		return -1;
	}
	int rc = sources_parse_source(body, len, want_id, src, err, sizeof(err));
	if (rc != 0) {
		sourcesapi_fail_rc(req, st, rc, err);
		return -1;
	}
	return 0;
}

/* ---- the changes, run under the lock ---- */

struct sourcesapi_op {
	struct sources_source *src; /* create, replace: moved into the document */
	const char *id;             /* replace, delete */
	char *out;                  /* create, replace: the stored source as JSON */
	char new_id[SOURCES_ID_MAX + 1]; /* create: the id it got */
};

static int sourcesapi_do_create(struct sources *s, void *arg, char *err, size_t errlen)
{
	struct sourcesapi_op *op = arg;
	char id[SOURCES_ID_MAX + 1];
	if (!op->src->id[0])
		sources_new_id(s, op->src->type, id);
	else
		snprintf(id, sizeof(id), "%s", op->src->id);
	if (sources_set_id(op->src, id) != 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(op->new_id, id, sizeof(id));
	int rc = sources_check(s, op->src, SIZE_MAX, err, errlen);
	if (rc != 0)
		return rc;
	if (sources_append(s, op->src) != 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	op->out = sources_source_to_json(&s->v[s->n - 1]);
	if (!op->out) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int sourcesapi_do_replace(struct sources *s, void *arg, char *err, size_t errlen)
{
	struct sourcesapi_op *op = arg;
	long i = sources_find(s, op->id);
	if (i < 0) {
		snprintf(err, errlen, "no source with id \"%s\"", op->id);
		return -ENOENT;
	}
	if (sources_set_id(op->src, op->id) != 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = sources_check(s, op->src, (size_t)i, err, errlen);
	if (rc != 0)
		return rc;
	sources_replace(s, (size_t)i, op->src);
	op->out = sources_source_to_json(&s->v[i]);
	if (!op->out) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int sourcesapi_do_delete(struct sources *s, void *arg, char *err, size_t errlen)
{
	struct sourcesapi_op *op = arg;
	long i = sources_find(s, op->id);
	if (i < 0) {
		snprintf(err, errlen, "no source with id \"%s\"", op->id);
		return -ENOENT;
	}
	sources_remove(s, (size_t)i);
	return 0;
}

/* ---- handlers ---- */

/* GET: the list (id NULL) or one source. */
static void sourcesapi_get(struct evhttp_request *req, struct stage *st, const char *data_dir, const char *id)
{
	char path[4096], err[1024];
	struct sources s;
	sources_init(&s);
	if (sources_path(path, sizeof(path), data_dir, SOURCES_FILE) != 0) {
		sourcesapi_fail(req, st, 500, "internal", "data_dir path too long");
		return;
	}
	int rc = sources_load(&s, path, err, sizeof(err));
	if (rc != 0) {
		sourcesapi_fail_rc(req, st, rc == -EINVAL ? -EBADMSG : rc, err);
		return;
	}
	char *text = NULL;
	if (!id) {
		text = sources_list_json(&s);
	} else {
		long i = sources_find(&s, id);
		if (i < 0) {
			sourcesapi_fail(req, st, 404, "not_found", "no source with id \"%s\"", id);
			goto out;
		}
		text = sources_source_to_json(&s.v[i]);
	}
	if (text)
		sourcesapi_send(req, 200, text);
	else
		sourcesapi_fail(req, st, 500, "internal", "out of memory");
out:
	free(text);
	sources_free(&s);
}

/* POST (id NULL) or PUT of one source. */
static void sourcesapi_write(struct evhttp_request *req, struct stage *st, const char *data_dir, const char *id)
{
	char err[1024], loc[sizeof(SOURCESAPI_PREFIX) + SOURCES_ID_MAX + 2];
	struct sources_source src;
	struct sourcesapi_op op = {&src, id, NULL, ""};
	if (sourcesapi_body(req, st, id, &src) != 0)
		return;
	err[0] = '\0';
	int rc = sources_modify(data_dir, id ? sourcesapi_do_replace : sourcesapi_do_create, &op, err, sizeof(err));
	if (rc != 0) {
		sourcesapi_fail_rc(req, st, rc, err);
	} else {
		if (!id) {
			snprintf(loc, sizeof(loc), "%s/%s", SOURCESAPI_PREFIX, op.new_id);
			evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
		}
		sourcesapi_send(req, id ? 200 : 201, op.out);
	}
	free(op.out);
	sources_source_free(&src);
}

static void sourcesapi_delete(struct evhttp_request *req, struct stage *st, const char *data_dir, const char *id)
{
	char err[1024];
	struct sourcesapi_op op = {NULL, id, NULL, ""};
	err[0] = '\0';
	int rc = sources_modify(data_dir, sourcesapi_do_delete, &op, err, sizeof(err));
	if (rc != 0)
		sourcesapi_fail_rc(req, st, rc, err);
	else
		sourcesapi_send(req, 204, NULL);
}

void sourcesapi_handle(struct evhttp_request *req, const char *path, const char *data_dir, struct stage *st)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *rest = path + sizeof(SOURCESAPI_PREFIX) - 1;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	if (*rest == '/')
		rest++;
	if (!*rest) {
		if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) {
			sourcesapi_get(req, st, data_dir, NULL);
		} else if (cmd == EVHTTP_REQ_POST) {
			sourcesapi_write(req, st, data_dir, NULL);
		} else {
			evhttp_add_header(out, "Allow", "GET, POST");
			sourcesapi_fail(req, st, 405, "bad_data", "method not allowed on %s: use GET or POST",
					SOURCESAPI_PREFIX);
		}
		return;
	}
	if (!sources_id_ok(rest)) {
		if (cmd == EVHTTP_REQ_PUT)
			sourcesapi_fail(req, st, 400, "bad_data",
					"invalid source id in the path: must match [a-z0-9_-]{1,64}");
		else
			sourcesapi_fail(req, st, 404, "not_found", "path %s not found", path);
		return;
	}
	switch (cmd) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		sourcesapi_get(req, st, data_dir, rest);
		break;
	case EVHTTP_REQ_PUT:
		sourcesapi_write(req, st, data_dir, rest);
		break;
	case EVHTTP_REQ_DELETE:
		sourcesapi_delete(req, st, data_dir, rest);
		break;
	default:
		evhttp_add_header(out, "Allow", "GET, PUT, DELETE");
		sourcesapi_fail(req, st, 405, "bad_data", "method not allowed on %s/{id}: use GET, PUT or DELETE",
				SOURCESAPI_PREFIX);
	}
}
