/* sourcesparse: validation of one source object of sources.json or of the
 * sources API (sources.h) into the typed struct sources_source: the common
 * keys (id, type, name, enabled) and each type's part: the scrape job
 * (checked by scrapeconf), push labels and endpoints, node collectors and
 * interval.
 *
 * What it is not: the JSON text entry point (sources_parse_source), the
 * document-wide invariants (sources_check) or the file (sources.c).
 *
 * Invariants: a source that passes is normalised (labels sorted by name,
 * defaults filled in: enabled, all endpoints, all collectors), so nothing
 * downstream re-checks it. Every message starts with the caller's ctx.
 */
#include "common/sourcesparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/scrapeconf.h"
#include "common/sources_pvt.h"

/* 1 when s is a Prometheus label name that a user may set: [a-zA-Z_]
 * [a-zA-Z0-9_]*, not reserved ("__" prefix). */
static int sourcesparse_label_name_ok(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	if (s[0] == '_' && s[1] == '_')
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/* The scrape part: "job" must be an object; job_name defaults to the id
 * (added to the stored job); the job must pass scrapeconf. */
static int sourcesparse_job(const cJSON *job, struct sources_source *out, const char *ctx, char *err,
			    size_t errlen)
{
	char serr[512];
	if (!cJSON_IsObject(job)) {
		sources_err(err, errlen, ctx, "\"job\" must be an object (a Prometheus scrape job)");
		return -EINVAL;
	}
	cJSON *copy = cJSON_Duplicate(job, 1);
	if (!copy)
		return -ENOMEM;
	cJSON *jn = cJSON_GetObjectItemCaseSensitive(copy, "job_name");
	int rc = -EINVAL, defaulted = 0;
	if (!jn) {
		/* job_name defaults to the id; before the id is assigned,
		 * validate with a stand-in and store the job without one
		 * (sources_set_id fills it in). */
		defaulted = !out->id[0];
		jn = cJSON_AddStringToObject(copy, "job_name", defaulted ? "unnamed" : out->id);
		if (!jn) {
			rc = -ENOMEM;
			goto out;
		}
	} else if (!cJSON_IsString(jn) || !jn->valuestring[0]) {
		sources_err(err, errlen, ctx, "\"job.job_name\" must be a non-empty string");
		goto out;
	}
	char *text = cJSON_PrintUnformatted(copy);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	struct scrapeconf sc;
	memset(&sc, 0, sizeof(sc));

	sc.interval_ms = 60000;
	sc.timeout_ms = 10000;
	serr[0] = '\0';
	rc = scrapeconf_add_json_job(&sc, text, serr, sizeof(serr));
	scrapeconf_free(&sc);
	if (rc != 0) {
		free(text);
		if (rc != -ENOMEM) {
			sources_err(err, errlen, ctx, "\"job\": %s", serr[0] ? serr : "invalid scrape job");
			rc = -EINVAL;
		}
		goto out;
	}
	if (defaulted) {
		free(text);
		out->job = cJSON_PrintUnformatted(job);
		rc = out->job ? 0 : -ENOMEM;
		goto out;
	}
	out->job = text;
	out->job_name = strdup(jn->valuestring);
	rc = out->job_name ? 0 : -ENOMEM;
out:
	cJSON_Delete(copy);
	return rc;
}

/* The push part: labels (object of non-empty strings) and endpoints. */
static int sourcesparse_push(const cJSON *o, struct sources_source *out, const char *ctx, char *err,
			     size_t errlen)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(o, "labels");
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "endpoints");
	const char *dup;
	if (!labels) {
		sources_err(err, errlen, ctx, "\"labels\" is required for a push source");
		return -EINVAL;
	}
	if (!cJSON_IsObject(labels)) {
		sources_err(err, errlen, ctx, "\"labels\" must be an object of label names to values");
		return -EINVAL;
	}
	if (sources_has_dup_key(labels, &dup)) {
		sources_err(err, errlen, ctx, "\"labels\": label \"%s\" given twice", dup);
		return -EINVAL;
	}
	size_t n = (size_t)cJSON_GetArraySize(labels);
	if (n == 0) {
		sources_err(err, errlen, ctx, "\"labels\" must not be empty");
		return -EINVAL;
	}
	if (n > SOURCES_MAX_LABELS) {
		sources_err(err, errlen, ctx, "\"labels\": %zu labels, at most %d", n, SOURCES_MAX_LABELS);
		return -EINVAL;
	}
	out->labels = calloc(n, sizeof(*out->labels));
	if (!out->labels)
		return -ENOMEM;
	for (const cJSON *l = labels->child; l; l = l->next) {
		if (strlen(l->string) > SOURCES_LABEL_MAX || !sourcesparse_label_name_ok(l->string)) {
			sources_err(err, errlen, ctx,
				    "\"labels\": \"%.64s\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, "
				    "not starting with \"__\")",
				    l->string);
			return -EINVAL;
		}
		if (!cJSON_IsString(l) || !l->valuestring[0]) {
			sources_err(err, errlen, ctx, "\"labels.%s\" must be a non-empty string", l->string);
			return -EINVAL;
		}
		if (strlen(l->valuestring) > SOURCES_LABEL_MAX) {
			sources_err(err, errlen, ctx, "\"labels.%s\": value longer than %d bytes", l->string,
				    SOURCES_LABEL_MAX);
			return -EINVAL;
		}
		struct sources_label *d = &out->labels[out->nlabels];
		d->name = strdup(l->string);
		d->value = strdup(l->valuestring);
		out->nlabels++;
		if (!d->name || !d->value)
			return -ENOMEM;
	}
	qsort(out->labels, out->nlabels, sizeof(*out->labels), sources_label_cmp);

	if (!eps) {
		out->endpoints = SOURCES_EP_ALL;
		return 0;
	}
	if (!cJSON_IsArray(eps) || cJSON_GetArraySize(eps) == 0) {
		sources_err(err, errlen, ctx, "\"endpoints\" must be a non-empty array of %s, %s, %s, %s",
			    sources_ep_names[0], sources_ep_names[1], sources_ep_names[2], sources_ep_names[3]);
		return -EINVAL;
	}
	for (const cJSON *e = eps->child; e; e = e->next) {
		unsigned i = SOURCES_NEP;
		if (cJSON_IsString(e))
			for (i = 0; i < SOURCES_NEP; i++)
				if (strcmp(e->valuestring, sources_ep_names[i]) == 0)
					break;
		if (i == SOURCES_NEP) {
			sources_err(err, errlen, ctx,
				    "\"endpoints\": unknown endpoint %s%.64s%s (one of prometheus, remote_write, "
				    "otlp, influx)",
				    cJSON_IsString(e) ? "\"" : "", cJSON_IsString(e) ? e->valuestring : "(not a string)",
				    cJSON_IsString(e) ? "\"" : "");
			return -EINVAL;
		}
		out->endpoints |= 1u << i;
	}
	return 0;
}

/* The node part: collectors switches and interval. */
static int sourcesparse_node(const cJSON *o, struct sources_source *out, const char *ctx, char *err,
			     size_t errlen)
{
	const cJSON *coll = cJSON_GetObjectItemCaseSensitive(o, "collectors");
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(o, "interval");
	const char *dup;
	out->collectors = SOURCES_COLLECTORS_ALL;
	if (coll) {
		if (!cJSON_IsObject(coll)) {
			sources_err(err, errlen, ctx, "\"collectors\" must be an object of collector names to booleans");
			return -EINVAL;
		}
		if (sources_has_dup_key(coll, &dup)) {
			sources_err(err, errlen, ctx, "\"collectors\": \"%s\" given twice", dup);
			return -EINVAL;
		}
		for (const cJSON *c = coll->child; c; c = c->next) {
			unsigned i;
			for (i = 0; i < SOURCES_NCOLLECTORS; i++)
				if (strcmp(c->string, sources_coll_names[i]) == 0)
					break;
			if (i == SOURCES_NCOLLECTORS) {
				sources_err(err, errlen, ctx,
					    "\"collectors\": unknown collector \"%.64s\" (one of cpu, meminfo, loadavg, "
					    "stat, pressure, diskstats, filesystem, netdev, time, uname)",
					    c->string);
				return -EINVAL;
			}
			if (!cJSON_IsBool(c)) {
				sources_err(err, errlen, ctx, "\"collectors.%s\" must be true or false", c->string);
				return -EINVAL;
			}
			if (cJSON_IsTrue(c))
				out->collectors |= 1u << i;
			else
				out->collectors &= ~(1u << i);
		}
	}
	if (iv) {
		int64_t ms = -1;
		if (cJSON_IsString(iv)) {
			if (config_parse_duration(iv->valuestring, &ms) != 0)
				ms = -1;
		} else if (cJSON_IsNumber(iv) && iv->valuedouble > 0 && iv->valuedouble < 1e9) {
			ms = (int64_t)(iv->valuedouble * 1000.0 + 0.5);
		}
		if (ms < 1000 || ms > 86400000) {
			sources_err(err, errlen, ctx,
				    "\"interval\" must be a duration from 1s to 24h (\"15s\", or seconds as a number)");
			return -EINVAL;
		}
		out->interval_ms = ms;
	}
	return 0;
}

/* Validates object o into *out (which must be zeroed). ctx prefixes every
 * message. require_id: the id must be present (documents); want_id (may
 * be NULL): the id the object must have, or takes when it has none.
 * Returns 0, -EINVAL with err filled, or -ENOMEM. On failure *out may hold
 * partial allocations: the caller frees it with sources_source_free. */
int sourcesparse_obj(const cJSON *o, const char *want_id, int require_id, struct sources_source *out,
		     const char *ctx, char *err, size_t errlen)
{
	static const char *const sourcesparse_common_keys[] = {"id", "type", "name", "enabled"};
	static const char *const sourcesparse_type_keys[3][2] = {
		{"job", NULL}, {"labels", "endpoints"}, {"collectors", "interval"}};
	const char *dup;
	if (!cJSON_IsObject(o)) {
		sources_err(err, errlen, ctx, "a source must be a JSON object");
		return -EINVAL;
	}
	if (sources_has_dup_key(o, &dup)) {
		sources_err(err, errlen, ctx, "key \"%s\" given twice", dup);
		return -EINVAL;
	}
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(o, "enabled");
	if (id && !cJSON_IsNull(id)) {
		if (!cJSON_IsString(id) || !sources_id_ok(id->valuestring)) {
			sources_err(err, errlen, ctx, "\"id\" must be a string matching [a-z0-9_-]{1,64}");
			return -EINVAL;
		}
		if (want_id && strcmp(id->valuestring, want_id) != 0) {
			sources_err(err, errlen, ctx, "\"id\" \"%s\" does not match the id in the path \"%s\"",
				    id->valuestring, want_id);
			return -EINVAL;
		}
		memcpy(out->id, id->valuestring, strlen(id->valuestring) + 1);
	} else if (want_id) {
		snprintf(out->id, sizeof(out->id), "%s", want_id);
	} else if (require_id) {
		sources_err(err, errlen, ctx, "\"id\" is required");
		return -EINVAL;
	}
	if (!type) {
		sources_err(err, errlen, ctx, "\"type\" is required (scrape, push or node)");
		return -EINVAL;
	}
	unsigned t;
	for (t = 0; t < 3; t++)
		if (cJSON_IsString(type) && strcmp(type->valuestring, sources_type_names[t]) == 0)
			break;
	if (t == 3) {
		sources_err(err, errlen, ctx, "\"type\" must be \"scrape\", \"push\" or \"node\"");
		return -EINVAL;
	}
	out->type = (enum sources_type)t;
	for (const cJSON *k = o->child; k; k = k->next) {
		int known = 0;
		for (size_t i = 0; i < 4; i++)
			known |= strcmp(k->string, sourcesparse_common_keys[i]) == 0;
		for (size_t i = 0; i < 2; i++)
			known |= sourcesparse_type_keys[t][i] && strcmp(k->string, sourcesparse_type_keys[t][i]) == 0;
		if (!known) {
			sources_err(err, errlen, ctx, "unknown key \"%.64s\" for a %s source", k->string,
				    sources_type_names[t]);
			return -EINVAL;
		}
	}
	if (name && !cJSON_IsNull(name)) {
		if (!cJSON_IsString(name) || strlen(name->valuestring) > SOURCES_NAME_MAX) {
			sources_err(err, errlen, ctx, "\"name\" must be a string of at most %d bytes", SOURCES_NAME_MAX);
			return -EINVAL;
		}
		if (name->valuestring[0] && !(out->name = strdup(name->valuestring)))
			return -ENOMEM;
	}
	out->enabled = 1;
	if (en && !cJSON_IsNull(en)) {
		if (!cJSON_IsBool(en)) {
			sources_err(err, errlen, ctx, "\"enabled\" must be true or false");
			return -EINVAL;
		}
		out->enabled = cJSON_IsTrue(en);
	}
	switch (out->type) {
	case SOURCES_SCRAPE: {
		const cJSON *job = cJSON_GetObjectItemCaseSensitive(o, "job");
		if (!job) {
			sources_err(err, errlen, ctx, "\"job\" is required for a scrape source");
			return -EINVAL;
		}
		return sourcesparse_job(job, out, ctx, err, errlen);
	}
	case SOURCES_PUSH:
		return sourcesparse_push(o, out, ctx, err, errlen);
	case SOURCES_NODE:
		return sourcesparse_node(o, out, ctx, err, errlen);
	}
	return -EINVAL;
}
