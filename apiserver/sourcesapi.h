/* sourcesapi: the REST API over the sources document (common/sources.h).
 *
 *   GET    /metrics/sources          {"sources":[...]}
 *   POST   /metrics/sources          one source; the id is assigned when
 *                                    absent; 201 with the stored source and
 *                                    a Location header; 409 when the id (or
 *                                    a job_name, a push label, the node
 *                                    source) is taken
 *   GET    /metrics/sources/{id}     the source, 404 when absent
 *   PUT    /metrics/sources/{id}     replaces it (404 when absent; an id in
 *                                    the body must match); 200 with it
 *   DELETE /metrics/sources/{id}     204, 404 when absent
 * Bodies must be Content-Type application/json and at most
 * SOURCESAPI_MAX_BODY bytes (413). Bad input: 400 {"status":"error",
 * "errorType":"bad_data","error":"<field and why>"}; other methods 405.
 *
 * Every write is a locked read-modify-write of <data_dir>/sources.json
 * (sources_modify), so several apiserver processes can serve it at once.
 * Reads take no lock: the file is replaced by rename. A corrupt file
 * answers 500 naming the file and the error and is never overwritten.
 *
 * Not here: the model and persistence (common/sources.c), applying
 * sources (collector/sourceswatch.c).
 */
#ifndef MCS_APISERVER_SOURCESAPI_H
#define MCS_APISERVER_SOURCESAPI_H

#include <event2/http.h>

#include "common/stage.h"

#define SOURCESAPI_PREFIX   "/metrics/sources"
#define SOURCESAPI_MAX_BODY (1 << 20)

/* 1 when path is /metrics/sources, /metrics/sources/ or
 * /metrics/sources/<anything>. */
int sourcesapi_match(const char *path);

/* Answers one request to a path sourcesapi_match accepted. data_dir holds
 * sources.json; st (may be NULL) counts 4xx answers. Always replies once. */
void sourcesapi_handle(struct evhttp_request *req, const char *path, const char *data_dir, struct stage *st);

#endif
