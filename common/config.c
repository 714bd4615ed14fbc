/* config: see config.h. The default is parsed first, then the user's file
 * over it, key by key, so a file only needs what it changes. */
#include "common/config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char config_default_json[] =
	"{\n"
	"  \"instance\": \"default\",\n"
	"  \"data_dir\": \"./data\",\n"
	"  \"api_listen\": \"127.0.0.1:9470\",\n"
	"  \"push_listen\": \"127.0.0.1:9471\",\n"
	"  \"collectors\": 1,\n"
	"  \"aggregators\": 1,\n"
	"  \"alerters\": 1,\n"
	"  \"apiservers\": 1,\n"
	"  \"log_format\": \"plain\",\n"
	"  \"rings\": {\"sample_bytes\": 16777216, \"alert_bytes\": 4194304, \"query_bytes\": 4194304,\n"
	"            \"push_wait\": \"5s\"},\n"
	"  \"max_body_bytes\": 67108864,\n"
	"  \"wal_sync\": \"interval\",\n"
	"  \"self_scrape\": {\"enabled\": true, \"node\": true, \"interval\": \"15s\"},\n"
	"  \"query\": {\"lookback_delta\": \"5m\", \"timeout\": \"2m\", \"max_samples\": 50000000},\n"
	"  \"launcher\": {\"hang_timeout\": \"15s\"},\n"
	"  \"rule_eval_interval\": \"1s\",\n"
	"  \"ooo_window\": \"1h\",\n"
	"  \"rules\": [\n"
	"    {\"alert\": \"NodeLoadHigh\", \"expr\": \"node_load1 > 64\", \"for\": \"1m\",\n"
	"     \"labels\": {\"severity\": \"warning\"},\n"
	"     \"annotations\": {\"summary\": \"1-minute load average above 64\"}}\n"
	"  ]\n"
	"}\n";

static void config_err(char *err, size_t errlen, const char *origin, const char *fmt, const char *a)
{
	char what[256];
	snprintf(what, sizeof(what), fmt, a);
	snprintf(err, errlen, "%s: %s", origin ? origin : "config", what);
}

int config_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
		     {"d", 86400000}, {"w", 604800000}, {"y", 31536000000LL}};
	int64_t total = 0;
	int parts = 0;
	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		int64_t n = 0;
		while (isdigit((unsigned char)*s)) {
			if (n > INT64_MAX / 10 - 10)
				return -EINVAL;
			n = n * 10 + (*s++ - '0');
		}
		size_t best = 0;
		int64_t mul = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t ul = strlen(units[i].unit);
			if (strncmp(s, units[i].unit, ul) == 0 && ul > best &&
			    !(ul == 1 && s[0] == 'm' && s[1] == 's')) {
				best = ul;
				mul = units[i].ms;
			}
		}
		if (!best)
			return -EINVAL;
		if (n > INT64_MAX / mul || total > INT64_MAX - n * mul)
			return -EINVAL;
		total += n * mul;
		s += best;
		parts++;
	}
	*ms = total;
	return parts ? 0 : -EINVAL;
}

int config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	const char *h = s;
	size_t hl = (size_t)(colon - s);
	int bracketed = h[0] == '[' && hl >= 2 && h[hl - 1] == ']';
	if (bracketed) {
		h++;
		hl -= 2;
		if (hl == 0)
			return -EINVAL;
	}
	/* An IPv6 host needs its brackets ("::1:80" is ambiguous), and a
	 * bracket may only enclose the whole host. */
	if ((!bracketed && memchr(h, ':', hl)) || memchr(h, '[', hl) || memchr(h, ']', hl))
		return -EINVAL;
	if (hl + 1 > hostlen)
		return -EINVAL;
	char *end;
	if (!isdigit((unsigned char)colon[1])) /* strtol would take " 80" and "+80" */
		return -EINVAL;
	long p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 0 || p > 65535)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

static int config_str(cJSON *o, char *dst, size_t cap, const char *key, const char *origin, char *err, size_t errlen)
{
	if (!cJSON_IsString(o) || strlen(o->valuestring) >= cap || !o->valuestring[0]) {
		config_err(err, errlen, origin, "\"%s\" must be a non-empty string", key);
		return -EINVAL;
	}
	snprintf(dst, cap, "%s", o->valuestring);
	return 0;
}

static int config_uint(cJSON *o, uint64_t *dst, uint64_t lo, uint64_t hi, const char *key,
		       const char *origin, char *err, size_t errlen)
{
	if (!cJSON_IsNumber(o) || o->valuedouble < (double)lo || o->valuedouble > (double)hi ||
	    o->valuedouble != (double)(uint64_t)o->valuedouble) {
		char what[160];
		snprintf(what, sizeof(what), "\"%s\" must be an integer in [%llu, %llu]", key,
			 (unsigned long long)lo, (unsigned long long)hi);
		config_err(err, errlen, origin, "%s", what);
		return -EINVAL;
	}
	*dst = (uint64_t)o->valuedouble;
	return 0;
}

static int config_dur(cJSON *o, int64_t *dst, const char *key, const char *origin, char *err, size_t errlen)
{
	if (!cJSON_IsString(o) || config_parse_duration(o->valuestring, dst) != 0) {
		config_err(err, errlen, origin, "\"%s\" must be a duration string like \"15s\"", key);
		return -EINVAL;
	}
	return 0;
}

static int config_bool(cJSON *o, int *dst, const char *key, const char *origin, char *err, size_t errlen)
{
	if (!cJSON_IsBool(o)) {
		config_err(err, errlen, origin, "\"%s\" must be true or false", key);
		return -EINVAL;
	}
	*dst = cJSON_IsTrue(o);
	return 0;
}

static int config_pow2(uint64_t v)
{
	return v && (v & (v - 1)) == 0;
}

static void config_rule_free(struct config_rule *r)
{
	free(r->alert);
	free(r->expr);
	for (size_t i = 0; i < r->nlabels; i++) {
		free(r->labels[i].name);
		free(r->labels[i].value);
	}
	for (size_t i = 0; i < r->nannotations; i++) {
		free(r->annotations[i].name);
		free(r->annotations[i].value);
	}
	memset(r, 0, sizeof(*r));
}

static int config_kvs(cJSON *o, struct config_kv *kv, size_t *n, const char *key, const char *origin,
		      char *err, size_t errlen)
{
	if (!cJSON_IsObject(o)) {
		config_err(err, errlen, origin, "\"%s\" must be an object of strings", key);
		return -EINVAL;
	}
	cJSON *it;
	cJSON_ArrayForEach(it, o) {
		if (!cJSON_IsString(it) || *n >= CONFIG_MAX_LABELS) {
			config_err(err, errlen, origin, "\"%s\" must hold at most 16 string values", key);
			return -EINVAL;
		}
		kv[*n].name = strdup(it->string);
		kv[*n].value = strdup(it->valuestring);
		(*n)++;
	}
	return 0;
}

static int config_rules(struct config *c, cJSON *arr, const char *origin, char *err, size_t errlen)
{
	if (!cJSON_IsArray(arr)) {
		config_err(err, errlen, origin, "%s must be an array", "\"rules\"");
		return -EINVAL;
	}
	for (size_t i = 0; i < c->nrules; i++)
		config_rule_free(&c->rules[i]);
	c->nrules = 0;
	cJSON *r;
	cJSON_ArrayForEach(r, arr) {
		if (c->nrules >= CONFIG_MAX_RULES) {
			config_err(err, errlen, origin, "%s", "more than 256 rules");
			return -EINVAL;
		}
		struct config_rule *rule = &c->rules[c->nrules++];
		if (!cJSON_IsObject(r)) {
			config_err(err, errlen, origin, "%s", "each rule must be an object");
			return -EINVAL;
		}
		cJSON *f;
		cJSON_ArrayForEach(f, r) {
			const char *k = f->string;
			int rc = 0;
			if (strcmp(k, "alert") == 0 || strcmp(k, "expr") == 0) {
				if (!cJSON_IsString(f) || !f->valuestring[0]) {
					config_err(err, errlen, origin, "rule \"%s\" must be a non-empty string", k);
					return -EINVAL;
				}
				char **dst = k[0] == 'a' ? &rule->alert : &rule->expr;
				free(*dst);
				*dst = strdup(f->valuestring);
			} else if (strcmp(k, "for") == 0) {
				rc = config_dur(f, &rule->for_ms, "for", origin, err, errlen);
			} else if (strcmp(k, "labels") == 0) {
				rc = config_kvs(f, rule->labels, &rule->nlabels, "labels", origin, err, errlen);
			} else if (strcmp(k, "annotations") == 0) {
				rc = config_kvs(f, rule->annotations, &rule->nannotations, "annotations", origin, err, errlen);
			} else {
				config_err(err, errlen, origin, "unknown rule key \"%s\"", k);
				return -EINVAL;
			}
			if (rc)
				return rc;
		}
		if (!rule->alert || !rule->expr) {
			config_err(err, errlen, origin, "%s", "a rule needs \"alert\" and \"expr\"");
			return -EINVAL;
		}
	}
	return 0;
}

/* Applies one parsed JSON document over *c. */
static int config_apply(struct config *c, cJSON *root, const char *origin, char *err, size_t errlen)
{
	if (!cJSON_IsObject(root)) {
		config_err(err, errlen, origin, "%s", "the configuration must be a JSON object");
		return -EINVAL;
	}
	cJSON *o;
	cJSON_ArrayForEach(o, root) {
		const char *k = o->string;
		uint64_t u;
		int rc = 0;
		if (strcmp(k, "instance") == 0) {
			rc = config_str(o, c->instance, sizeof(c->instance), k, origin, err, errlen);
			if (!rc && strpbrk(c->instance, "/. ")) {
				config_err(err, errlen, origin, "%s", "\"instance\" must not contain '/', '.' or spaces");
				rc = -EINVAL;
			}
		} else if (strcmp(k, "data_dir") == 0) {
			rc = config_str(o, c->data_dir, sizeof(c->data_dir), k, origin, err, errlen);
		} else if (strcmp(k, "wal_sync") == 0) {
			rc = config_str(o, c->wal_sync, sizeof(c->wal_sync), k, origin, err, errlen);
			if (!rc && strcmp(c->wal_sync, "batch") && strcmp(c->wal_sync, "interval") &&
			    strcmp(c->wal_sync, "none")) {
				config_err(err, errlen, origin, "%s", "\"wal_sync\" must be \"batch\", \"interval\" or \"none\"");
				rc = -EINVAL;
			}
		} else if (strcmp(k, "scrape_config_file") == 0) {
			if (cJSON_IsString(o) && !o->valuestring[0])
				c->scrape_config_file[0] = '\0';
			else
				rc = config_str(o, c->scrape_config_file, sizeof(c->scrape_config_file), k, origin, err, errlen);
		} else if (strcmp(k, "api_listen") == 0 || strcmp(k, "push_listen") == 0) {
			char *dst = k[0] == 'a' ? c->api_listen : c->push_listen;
			char host[128];
			int port;
			rc = config_str(o, dst, sizeof(c->api_listen), k, origin, err, errlen);
			if (!rc && config_split_hostport(dst, host, sizeof(host), &port) != 0) {
				config_err(err, errlen, origin, "\"%s\" must be HOST:PORT", k);
				rc = -EINVAL;
			}
		} else if (strcmp(k, "collectors") == 0 || strcmp(k, "aggregators") == 0 ||
			   strcmp(k, "alerters") == 0 || strcmp(k, "apiservers") == 0) {
			rc = config_uint(o, &u, 1, 64, k, origin, err, errlen);
			uint32_t *dst = k[0] == 'c' ? &c->collectors : k[1] == 'g' ? &c->aggregators
				      : k[1] == 'l' ? &c->alerters : &c->apiservers;
			if (!rc)
				*dst = (uint32_t)u;
		} else if (strcmp(k, "log_format") == 0) {
			if (!cJSON_IsString(o) || (strcmp(o->valuestring, "plain") && strcmp(o->valuestring, "json"))) {
				config_err(err, errlen, origin, "%s", "\"log_format\" must be \"plain\" or \"json\"");
				rc = -EINVAL;
			} else {
				c->log_json = strcmp(o->valuestring, "json") == 0;
			}
		} else if (strcmp(k, "rings") == 0 && cJSON_IsObject(o)) {
			cJSON *f;
			cJSON_ArrayForEach(f, o) {
				uint64_t *dst = strcmp(f->string, "sample_bytes") == 0 ? &c->sample_ring_bytes
					      : strcmp(f->string, "alert_bytes") == 0 ? &c->alert_ring_bytes
					      : strcmp(f->string, "query_bytes") == 0 ? &c->query_ring_bytes : NULL;
				if (dst) {
					char full[64];
					snprintf(full, sizeof(full), "rings.%s", f->string);
					rc = config_uint(f, dst, 65536, 1ull << 32, full, origin, err, errlen);
					if (!rc && !config_pow2(*dst)) {
						config_err(err, errlen, origin, "\"rings.%s\" must be a power of two", f->string);
						rc = -EINVAL;
					}
				} else if (strcmp(f->string, "push_wait") == 0) {
					int64_t ms = 0;
					rc = config_dur(f, &ms, "rings.push_wait", origin, err, errlen);
					if (!rc) /* ms is unset on failure */
						c->push_wait_ms = (int)(ms > 600000 ? 600000 : ms);
				} else {
					config_err(err, errlen, origin, "unknown key \"rings.%s\"", f->string);
					rc = -EINVAL;
				}
				if (rc)
					break;
			}
		} else if (strcmp(k, "max_body_bytes") == 0) {
			rc = config_uint(o, &u, 1024, 1ull << 32, k, origin, err, errlen);
			if (!rc)
				c->max_body_bytes = (int64_t)u;
		} else if (strcmp(k, "self_scrape") == 0 && cJSON_IsObject(o)) {
			cJSON *f;
			cJSON_ArrayForEach(f, o) {
				if (strcmp(f->string, "enabled") == 0)
					rc = config_bool(f, &c->self_scrape, "self_scrape.enabled", origin, err, errlen);
				else if (strcmp(f->string, "node") == 0)
					rc = config_bool(f, &c->node_metrics, "self_scrape.node", origin, err, errlen);
				else if (strcmp(f->string, "interval") == 0)
					rc = config_dur(f, &c->scrape_interval_ms, "self_scrape.interval", origin, err, errlen);
				else {
					config_err(err, errlen, origin, "unknown key \"self_scrape.%s\"", f->string);
					rc = -EINVAL;
				}
				if (rc)
					break;
			}
		} else if (strcmp(k, "query") == 0 && cJSON_IsObject(o)) {
			cJSON *f;
			cJSON_ArrayForEach(f, o) {
				if (strcmp(f->string, "lookback_delta") == 0)
					rc = config_dur(f, &c->lookback_ms, "query.lookback_delta", origin, err, errlen);
				else if (strcmp(f->string, "timeout") == 0)
					rc = config_dur(f, &c->query_timeout_ms, "query.timeout", origin, err, errlen);
				else if (strcmp(f->string, "max_samples") == 0)
					rc = config_uint(f, &c->query_max_samples, 1, 1ull << 40, "query.max_samples", origin, err, errlen);
				else {
					config_err(err, errlen, origin, "unknown key \"query.%s\"", f->string);
					rc = -EINVAL;
				}
				if (rc)
					break;
			}
		} else if (strcmp(k, "launcher") == 0 && cJSON_IsObject(o)) {
			cJSON *f;
			cJSON_ArrayForEach(f, o) {
				if (strcmp(f->string, "hang_timeout") == 0)
					rc = config_dur(f, &c->hang_timeout_ms, "launcher.hang_timeout", origin, err, errlen);
				else {
					config_err(err, errlen, origin, "unknown key \"launcher.%s\"", f->string);
					rc = -EINVAL;
				}
				if (rc)
					break;
			}
		} else if (strcmp(k, "rule_eval_interval") == 0) {
			rc = config_dur(o, &c->rule_eval_interval_ms, k, origin, err, errlen);
		} else if (strcmp(k, "ooo_window") == 0) {
			rc = config_dur(o, &c->ooo_window_ms, k, origin, err, errlen);
		} else if (strcmp(k, "rules") == 0) {
			rc = config_rules(c, o, origin, err, errlen);
		} else {
			config_err(err, errlen, origin, "unknown or mistyped key \"%s\"", k);
			rc = -EINVAL;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int config_apply_text(struct config *c, const char *json, const char *origin, char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
	if (!root) {
		size_t line = 1, col = 1;
		for (const char *p = json; end && p < end; p++) {
			if (*p == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		snprintf(err, errlen, "%s:%zu:%zu: JSON syntax error", origin ? origin : "config", line, col);
		return -EINVAL;
	}
	int rc = config_apply(c, root, origin, err, errlen);
	cJSON_Delete(root);
	return rc;
}

int config_load_string(struct config *c, const char *json, const char *origin, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	int rc = config_apply_text(c, config_default_json, "embedded default", err, errlen);
	if (rc == 0 && json)
		rc = config_apply_text(c, json, origin, err, errlen);
	return rc;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 65536) {
			if (cap > (64u << 20)) {
				free(buf);
				fclose(f);
				snprintf(err, errlen, "%s: larger than 64 MiB", path);
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	int rc = config_load_string(c, buf, path, err, errlen);
	free(buf);
	return rc;
}

static cJSON *config_kv_object(const struct config_kv *kv, size_t n)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < n; i++)
		cJSON_AddStringToObject(o, kv[i].name, kv[i].value);
	return o;
}

/* Formats ms as a duration string the parser reads back. */
static void config_fmt_dur(char *buf, size_t len, int64_t ms)
{
	if (ms % 1000)
		snprintf(buf, len, "%lldms", (long long)ms);
	else
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
}

char *config_to_json(const struct config *c)
{
	char d[32];
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "instance", c->instance);
	cJSON_AddStringToObject(r, "data_dir", c->data_dir);
	cJSON_AddStringToObject(r, "api_listen", c->api_listen);
	cJSON_AddStringToObject(r, "push_listen", c->push_listen);
	cJSON_AddStringToObject(r, "scrape_config_file", c->scrape_config_file);
	cJSON_AddStringToObject(r, "wal_sync", c->wal_sync);
	cJSON_AddNumberToObject(r, "collectors", c->collectors);
	cJSON_AddNumberToObject(r, "aggregators", c->aggregators);
	cJSON_AddNumberToObject(r, "alerters", c->alerters);
	cJSON_AddNumberToObject(r, "apiservers", c->apiservers);
	cJSON_AddStringToObject(r, "log_format", c->log_json ? "json" : "plain");
	cJSON *rings = cJSON_AddObjectToObject(r, "rings");
	cJSON_AddNumberToObject(rings, "sample_bytes", (double)c->sample_ring_bytes);
	cJSON_AddNumberToObject(rings, "alert_bytes", (double)c->alert_ring_bytes);
	cJSON_AddNumberToObject(rings, "query_bytes", (double)c->query_ring_bytes);
	config_fmt_dur(d, sizeof(d), c->push_wait_ms);
	cJSON_AddStringToObject(rings, "push_wait", d);
	cJSON_AddNumberToObject(r, "max_body_bytes", (double)c->max_body_bytes);
	cJSON *ss = cJSON_AddObjectToObject(r, "self_scrape");
	cJSON_AddBoolToObject(ss, "enabled", c->self_scrape);
	cJSON_AddBoolToObject(ss, "node", c->node_metrics);
	config_fmt_dur(d, sizeof(d), c->scrape_interval_ms);
	cJSON_AddStringToObject(ss, "interval", d);
	cJSON *q = cJSON_AddObjectToObject(r, "query");
	config_fmt_dur(d, sizeof(d), c->lookback_ms);
	cJSON_AddStringToObject(q, "lookback_delta", d);
	config_fmt_dur(d, sizeof(d), c->query_timeout_ms);
	cJSON_AddStringToObject(q, "timeout", d);
	cJSON_AddNumberToObject(q, "max_samples", (double)c->query_max_samples);
	cJSON *l = cJSON_AddObjectToObject(r, "launcher");
	config_fmt_dur(d, sizeof(d), c->hang_timeout_ms);
	cJSON_AddStringToObject(l, "hang_timeout", d);
	config_fmt_dur(d, sizeof(d), c->rule_eval_interval_ms);
	cJSON_AddStringToObject(r, "rule_eval_interval", d);
	config_fmt_dur(d, sizeof(d), c->ooo_window_ms);
	cJSON_AddStringToObject(r, "ooo_window", d);
	cJSON *rules = cJSON_AddArrayToObject(r, "rules");
	for (size_t i = 0; i < c->nrules; i++) {
		const struct config_rule *ru = &c->rules[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "alert", ru->alert);
		cJSON_AddStringToObject(o, "expr", ru->expr);
		config_fmt_dur(d, sizeof(d), ru->for_ms);
		cJSON_AddStringToObject(o, "for", d);
		cJSON_AddItemToObject(o, "labels", config_kv_object(ru->labels, ru->nlabels));
		cJSON_AddItemToObject(o, "annotations", config_kv_object(ru->annotations, ru->nannotations));
		cJSON_AddItemToArray(rules, o);
	}
	char *s = cJSON_Print(r);
	cJSON_Delete(r);
	return s;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nrules; i++)
		config_rule_free(&c->rules[i]);
	c->nrules = 0;
}
