/* scrapeconf: Prometheus scrape configuration, file_sd and target
 * expansion; see scrapeconf.h.
 *
 * What it is: the Prometheus meaning of a configuration tree (cfgtree.h),
 * which YAML and JSON input both become, so a job means the same thing in
 * prometheus.yml, in a file_sd file and in a /metrics/sources JSON body.
 * What it is not: a YAML or JSON reader (cfgtree.c), a scraper or a
 * relabeler.
 *
 * Invariants: every key is either read, or reported (an error for keys that
 * would change what is scraped, a warning for whole Prometheus sections
 * that do not concern scraping); nothing is skipped silently. A struct
 * scrapeconf is either fully loaded or empty.
 *
 * Sections: readers, relabel rules, jobs, file_sd, loading, targets (the
 * targets relabel_configs drop are listed by scrapeconf_dropped.c).
 */
#include "common/scrapeconf.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/cfgtree.h"
#include "common/config.h"
#include "common/scrapeconf_pvt.h"

/* ---- readers ------------------------------------------------------------ */

/* The reading context: the tree's (origin, directory, err) and c. */
struct scrapeconf_ctx {
	struct cfgtree_ctx t;
	struct scrapeconf *c;         /* receives warnings and jobs; NULL while reading file_sd files */
};

/* Reads a mapping of label names to values into kv (appending). */
static int scrapeconf_get_labels(struct scrapeconf_ctx *x, const struct cfgtree_node *n, const char *key,
				 struct scrapeconf_kv **kv, size_t *nkv)
{
	int rc = cfgtree_want_map(&x->t, n, key);
	if (rc || n->kind == CFGTREE_NULL)
		return rc;
	struct scrapeconf_kv *a = realloc(*kv, (*nkv + n->n + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	*kv = a;
	for (size_t i = 0; i < n->n; i++) {
		const struct cfgtree_node *k = &n->kids[2 * i], *v = &n->kids[2 * i + 1];
		if (!relabel_name_valid(k->s, strlen(k->s)))
			return cfgtree_fail(&x->t, k, "\"%s\" is not a valid label name in \"%s\"", k->s, key);
		if (v->kind != CFGTREE_SCALAR && v->kind != CFGTREE_NULL)
			return cfgtree_fail(&x->t, v, "value of label \"%s\" must be a string", k->s);
		a[*nkv].name = strdup(k->s);
		a[*nkv].value = strdup(v->kind == CFGTREE_SCALAR ? v->s : "");
		(*nkv)++;
		if (!a[*nkv - 1].name || !a[*nkv - 1].value)
			return -ENOMEM;
	}
	return 0;
}

/* Error for a key we do not read: "not supported" when Prometheus has it,
 * "unknown" otherwise. */
static int scrapeconf_bad_key(struct scrapeconf_ctx *x, const struct cfgtree_node *k, const char *where,
			      const char *const *known_unsupported)
{
	size_t l = strlen(k->s);
	if ((known_unsupported && cfgtree_in(k->s, known_unsupported)) ||
	    (l > 11 && !strcmp(k->s + l - 11, "_sd_configs")))
		return cfgtree_fail(&x->t, k, "\"%s\" in %s is not supported by mcs", k->s, where);
	return cfgtree_fail(&x->t, k, "unknown key \"%s\" in %s", k->s, where);
}

/* Appends a warning to x->c: "origin:line:col: msg", or msg alone when at
 * is NULL. Returns 0 or -ENOMEM (the warnings so far stay c's). */
static int scrapeconf_warn(struct scrapeconf_ctx *x, const struct cfgtree_node *at, const char *msg)
{
	struct scrapeconf *c = x->c;
	char **w = realloc(c->warnings, (c->nwarnings + 1) * sizeof(*w));
	if (!w)
		return -ENOMEM;
	c->warnings = w;
	if ((at ? asprintf(&w[c->nwarnings], "%s:%d:%d: %s", x->t.origin, at->line, at->col, msg)
		: asprintf(&w[c->nwarnings], "%s", msg)) < 0)
		return -ENOMEM;
	c->nwarnings++;
	return 0;
}

/* ---- relabel rules ------------------------------------------------------ */

static int scrapeconf_get_rule(struct scrapeconf_ctx *x, const struct cfgtree_node *n, struct relabel_rule *r)
{
	int rc = cfgtree_want_map(&x->t, n, "relabel config");
	for (size_t i = 0; !rc && i < n->n; i++) {
		const struct cfgtree_node *k = &n->kids[2 * i], *v = &n->kids[2 * i + 1];
		const char *key = k->s;
		if (!strcmp(key, "source_labels")) {
			rc = cfgtree_want_seq(&x->t, v, key);
			if (!rc && v->n > RELABEL_MAX_SOURCE)
				rc = cfgtree_fail(&x->t, v, "at most %d source_labels", RELABEL_MAX_SOURCE);
			for (size_t j = 0; !rc && j < v->n; j++) {
				rc = cfgtree_get_str(&x->t, &v->kids[j], key, &r->source[j]);
				r->nsource = j + 1;
			}
		} else if (!strcmp(key, "separator")) {
			rc = v->kind == CFGTREE_NULL ? 0 : cfgtree_get_str(&x->t, v, key, &r->separator);
		} else if (!strcmp(key, "regex")) {
			rc = v->kind == CFGTREE_NULL ? 0 : cfgtree_get_str(&x->t, v, key, &r->regex_src);
		} else if (!strcmp(key, "modulus")) {
			rc = cfgtree_get_uint(&x->t, v, key, &r->modulus);
		} else if (!strcmp(key, "target_label")) {
			rc = v->kind == CFGTREE_NULL ? 0 : cfgtree_get_str(&x->t, v, key, &r->target);
		} else if (!strcmp(key, "replacement")) {
			rc = v->kind == CFGTREE_NULL ? 0 : cfgtree_get_str(&x->t, v, key, &r->replacement);
		} else if (!strcmp(key, "action")) {
			int a = v->kind == CFGTREE_SCALAR ? relabel_action_parse(v->s) : -1;
			if (a < 0)
				rc = cfgtree_fail(&x->t, v, "unknown relabel action \"%s\"",
						     v->kind == CFGTREE_SCALAR ? v->s : "");
			else
				r->action = (enum relabel_action)a;
		} else {
			rc = scrapeconf_bad_key(x, k, "relabel config", NULL);
		}
	}
	if (rc)
		return rc;
	char msg[256];
	rc = relabel_rule_finish(r, msg, sizeof(msg));
	if (rc == -EINVAL)
		return cfgtree_fail(&x->t, n, "%s", msg);
	return rc;
}

static int scrapeconf_get_rules(struct scrapeconf_ctx *x, const struct cfgtree_node *n, const char *key,
				struct relabel_config *rc_out)
{
	int rc = cfgtree_want_seq(&x->t, n, key);
	if (rc || n->kind == CFGTREE_NULL)
		return rc;
	relabel_config_free(rc_out);
	rc_out->rules = calloc(n->n + 1, sizeof(*rc_out->rules));
	if (!rc_out->rules)
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		relabel_rule_defaults(&rc_out->rules[i]);
		rc_out->n = i + 1;
		if ((rc = scrapeconf_get_rule(x, &n->kids[i], &rc_out->rules[i])))
			return rc;
	}
	return 0;
}

/* ---- jobs --------------------------------------------------------------- */

static void scrapeconf_kv_free(struct scrapeconf_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

static void scrapeconf_group_clear(struct scrapeconf_group *g)
{
	cfgtree_strs_free(g->targets, g->ntargets);
	scrapeconf_kv_free(g->labels, g->nlabels);
	free(g->source);
	memset(g, 0, sizeof(*g));
}

static void scrapeconf_groups_free(struct scrapeconf_group *g, size_t n)
{
	for (size_t i = 0; g && i < n; i++)
		scrapeconf_group_clear(&g[i]);
	free(g);
}

static void scrapeconf_job_free(struct scrapeconf_job *j)
{
	free(j->job_name);
	free(j->metrics_path);
	free(j->scheme);
	scrapeconf_kv_free(j->params, j->nparams);
	free(j->basic_user);
	free(j->basic_pass);
	free(j->auth_type);
	free(j->auth_cred);
	scrapeconf_groups_free(j->groups, j->ngroups);
	cfgtree_strs_free(j->sd_files, j->nsd_files);
	relabel_config_free(&j->relabel);
	relabel_config_free(&j->metric_relabel);
	memset(j, 0, sizeof(*j));
}

/* Reads one target group ({targets: [...], labels: {...}}) into g. */
static int scrapeconf_get_group(struct scrapeconf_ctx *x, const struct cfgtree_node *n, struct scrapeconf_group *g)
{
	int rc = cfgtree_want_map(&x->t, n, "target group");
	for (size_t i = 0; !rc && i < n->n; i++) {
		const struct cfgtree_node *k = &n->kids[2 * i], *v = &n->kids[2 * i + 1];
		if (!strcmp(k->s, "targets")) {
			/* Addresses are checked after relabeling: blackbox-style
			 * targets are URLs that relabeling moves to a parameter. */
			rc = cfgtree_get_strlist(&x->t, v, k->s, &g->targets, &g->ntargets);
		} else if (!strcmp(k->s, "labels")) {
			rc = scrapeconf_get_labels(x, v, k->s, &g->labels, &g->nlabels);
		} else {
			rc = scrapeconf_bad_key(x, k, "target group", NULL);
		}
	}
	return rc;
}

/* Appends the groups of list node n (static_configs or a file_sd file) to
 * *gs. `source` (may be NULL) becomes each group's source and, for file_sd,
 * its __meta_filepath label. */
static int scrapeconf_get_groups(struct scrapeconf_ctx *x, const struct cfgtree_node *n, const char *key,
				 const char *source, struct scrapeconf_group **gs, size_t *ngs)
{
	int rc = cfgtree_want_seq(&x->t, n, key);
	if (rc || n->kind == CFGTREE_NULL)
		return rc;
	struct scrapeconf_group *a = realloc(*gs, (*ngs + n->n + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	*gs = a;
	for (size_t i = 0; i < n->n; i++) {
		struct scrapeconf_group *g = &a[(*ngs)++];
		memset(g, 0, sizeof(*g));
		if ((rc = scrapeconf_get_group(x, &n->kids[i], g)))
			return rc;
		if (source) {
			struct scrapeconf_kv *l = realloc(g->labels, (g->nlabels + 1) * sizeof(*l));
			if (!l)
				return -ENOMEM;
			g->labels = l;
			l[g->nlabels].name = strdup("__meta_filepath");
			l[g->nlabels].value = strdup(source);
			g->nlabels++;
			if (!(g->source = strdup(source)) || !l[g->nlabels - 1].name || !l[g->nlabels - 1].value)
				return -ENOMEM;
		}
	}
	return 0;
}

/* file_sd file names: only the last path element may hold a '*', and the
 * extension says the format (Prometheus' patFileSDName). */
static int scrapeconf_sd_pattern_ok(const char *p)
{
	const char *star = strchr(p, '*');
	if (star && (strchr(star + 1, '*') || strchr(star, '/')))
		return 0;
	const char *dot = strrchr(p, '.');
	return dot && (!strcasecmp(dot, ".json") || !strcasecmp(dot, ".yml") || !strcasecmp(dot, ".yaml"));
}

static int scrapeconf_get_file_sd(struct scrapeconf_ctx *x, const struct cfgtree_node *n, struct scrapeconf_job *j)
{
	int rc = cfgtree_want_seq(&x->t, n, "file_sd_configs");
	for (size_t i = 0; !rc && i < n->n; i++) {
		const struct cfgtree_node *e = &n->kids[i];
		int64_t refresh = 300000; /* Prometheus' default: 5m */
		if ((rc = cfgtree_want_map(&x->t, e, "file_sd_configs")))
			break;
		for (size_t m = 0; !rc && m < e->n; m++) {
			const struct cfgtree_node *k = &e->kids[2 * m], *v = &e->kids[2 * m + 1];
			if (!strcmp(k->s, "files")) {
				size_t first = j->nsd_files;
				rc = cfgtree_get_strlist(&x->t, v, k->s, &j->sd_files, &j->nsd_files);
				for (size_t f = first; !rc && f < j->nsd_files; f++) {
					if (!scrapeconf_sd_pattern_ok(j->sd_files[f]))
						rc = cfgtree_fail(&x->t, v, "path name \"%s\" is not valid for file discovery",
								     j->sd_files[f]);
					char *abs = rc ? NULL : cfgtree_path(&x->t, j->sd_files[f]);
					if (!rc && !abs)
						rc = -ENOMEM;
					if (abs) {
						free(j->sd_files[f]);
						j->sd_files[f] = abs;
					}
				}
			} else if (!strcmp(k->s, "refresh_interval")) {
				rc = cfgtree_get_duration(&x->t, v, k->s, &refresh);
			} else {
				rc = scrapeconf_bad_key(x, k, "file_sd_configs", NULL);
			}
		}
		if (!j->sd_refresh_ms || refresh < j->sd_refresh_ms)
			j->sd_refresh_ms = refresh;
	}
	return rc;
}

static int scrapeconf_get_auth(struct scrapeconf_ctx *x, const struct cfgtree_node *n, const char *key,
			       struct scrapeconf_job *j)
{
	int basic = !strcmp(key, "basic_auth"), pass = 0, file = 0;
	int rc = cfgtree_want_map(&x->t, n, key);
	for (size_t i = 0; !rc && i < n->n; i++) {
		const struct cfgtree_node *k = &n->kids[2 * i], *v = &n->kids[2 * i + 1];
		if (basic && !strcmp(k->s, "username")) {
			rc = cfgtree_get_str(&x->t, v, k->s, &j->basic_user);
		} else if (basic && !strcmp(k->s, "password")) {
			rc = cfgtree_get_str(&x->t, v, k->s, &j->basic_pass);
			pass = 1;
		} else if (basic && !strcmp(k->s, "password_file")) {
			rc = cfgtree_get_file_text(&x->t, v, k->s, &j->basic_pass);
			file = 1;
		} else if (!basic && !strcmp(k->s, "type")) {
			rc = cfgtree_get_str(&x->t, v, k->s, &j->auth_type);
			if (!rc && !strcasecmp(j->auth_type, "basic"))
				rc = cfgtree_fail(&x->t, v, "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
		} else if (!basic && !strcmp(k->s, "credentials")) {
			rc = cfgtree_get_str(&x->t, v, k->s, &j->auth_cred);
			pass = 1;
		} else if (!basic && !strcmp(k->s, "credentials_file")) {
			rc = cfgtree_get_file_text(&x->t, v, k->s, &j->auth_cred);
			file = 1;
		} else {
			static const char *const unsup[] = {"username_file", "username_ref", "password_ref", "credentials_ref", NULL};
			rc = scrapeconf_bad_key(x, k, key, unsup);
		}
	}
	if (!rc && pass && file)
		rc = cfgtree_fail(&x->t, n, "at most one of %s must be configured",
				     basic ? "basic_auth password & password_file" : "credentials & credentials_file");
	if (!rc && !basic && !j->auth_type && !(j->auth_type = strdup("Bearer")))
		rc = -ENOMEM;
	return rc;
}

static const char *const scrapeconf_job_unsupported[] = {
	"tls_config", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header", "oauth2",
	"follow_redirects", "enable_http2", "http_headers", "scrape_protocols", "fallback_scrape_protocol",
	"body_size_limit", "keep_dropped_targets", "scrape_classic_histograms", "always_scrape_classic_histograms",
	"convert_classic_histograms_to_nhcb", "native_histogram_bucket_limit", "native_histogram_min_bucket_factor",
	"scrape_native_histograms", "enable_compression", "track_timestamps_staleness", "metric_name_validation_scheme",
	"metric_name_escaping_scheme", "scrape_failure_log_file", "bearer_token", "bearer_token_file", NULL,
};

/* Reads one scrape job. Defaults come from x->c's globals. On error the
 * job holds what was read so far; the caller frees it. */
static int scrapeconf_get_job(struct scrapeconf_ctx *x, const struct cfgtree_node *n, struct scrapeconf_job *j)
{
	struct scrapeconf *c = x->c;
	int64_t interval = 0, timeout = 0;
	const struct cfgtree_node *basic = NULL, *authz = NULL;
	memset(j, 0, sizeof(*j));
	j->honor_timestamps = 1;
	j->sample_limit = c->sample_limit;
	j->label_limit = c->label_limit;
	j->label_name_length_limit = c->label_name_length_limit;
	j->label_value_length_limit = c->label_value_length_limit;
	j->target_limit = c->target_limit;
	int rc = cfgtree_want_map(&x->t, n, "scrape_configs");
	for (size_t i = 0; !rc && i < n->n; i++) {
		const struct cfgtree_node *k = &n->kids[2 * i], *v = &n->kids[2 * i + 1];
		const char *key = k->s;
		if (!strcmp(key, "job_name"))
			rc = cfgtree_get_str(&x->t, v, key, &j->job_name);
		else if (!strcmp(key, "scrape_interval"))
			rc = cfgtree_get_duration(&x->t, v, key, &interval);
		else if (!strcmp(key, "scrape_timeout"))
			rc = cfgtree_get_duration(&x->t, v, key, &timeout);
		else if (!strcmp(key, "metrics_path"))
			rc = cfgtree_get_str(&x->t, v, key, &j->metrics_path);
		else if (!strcmp(key, "scheme")) {
			rc = cfgtree_get_str(&x->t, v, key, &j->scheme);
			if (!rc && !strcmp(j->scheme, "https"))
				rc = cfgtree_fail(&x->t, v, "https scraping is not supported yet (job \"%s\")",
						     j->job_name ? j->job_name : "?");
			else if (!rc && strcmp(j->scheme, "http"))
				rc = cfgtree_fail(&x->t, v, "unknown scheme \"%s\", want http", j->scheme);
		} else if (!strcmp(key, "params")) {
			rc = cfgtree_want_map(&x->t, v, key);
			for (size_t p = 0; !rc && p < v->n; p++) {
				char **vals = NULL;
				size_t nv = 0;
				rc = cfgtree_get_strlist(&x->t, &v->kids[2 * p + 1], v->kids[2 * p].s, &vals, &nv);
				struct scrapeconf_kv *a = rc ? NULL : realloc(j->params, (j->nparams + nv + 1) * sizeof(*a));
				if (!rc && !a)
					rc = -ENOMEM;
				for (size_t q = 0; !rc && q < nv; q++) {
					j->params = a;
					a[j->nparams].name = strdup(v->kids[2 * p].s);
					a[j->nparams].value = vals[q];
					vals[q] = NULL;
					if (!a[j->nparams++].name)
						rc = -ENOMEM;
				}
				if (a)
					j->params = a;
				cfgtree_strs_free(vals, nv);
			}
		} else if (!strcmp(key, "honor_labels"))
			rc = cfgtree_get_bool(&x->t, v, key, &j->honor_labels);
		else if (!strcmp(key, "honor_timestamps"))
			rc = cfgtree_get_bool(&x->t, v, key, &j->honor_timestamps);
		else if (!strcmp(key, "basic_auth"))
			rc = scrapeconf_get_auth(x, v, key, j), basic = v;
		else if (!strcmp(key, "authorization"))
			rc = scrapeconf_get_auth(x, v, key, j), authz = v;
		else if (!strcmp(key, "static_configs")) {
			if (j->ngroups)
				rc = cfgtree_fail(&x->t, k, "static_configs given twice");
			else
				rc = scrapeconf_get_groups(x, v, key, NULL, &j->groups, &j->ngroups);
			j->nstatic = j->ngroups;
		} else if (!strcmp(key, "file_sd_configs"))
			rc = scrapeconf_get_file_sd(x, v, j);
		else if (!strcmp(key, "relabel_configs"))
			rc = scrapeconf_get_rules(x, v, key, &j->relabel);
		else if (!strcmp(key, "metric_relabel_configs"))
			rc = scrapeconf_get_rules(x, v, key, &j->metric_relabel);
		else if (!strcmp(key, "sample_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &j->sample_limit);
		else if (!strcmp(key, "label_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &j->label_limit);
		else if (!strcmp(key, "label_name_length_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &j->label_name_length_limit);
		else if (!strcmp(key, "label_value_length_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &j->label_value_length_limit);
		else if (!strcmp(key, "target_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &j->target_limit);
		else
			rc = scrapeconf_bad_key(x, k, "scrape config", scrapeconf_job_unsupported);
	}
	if (rc)
		return rc;
	if (!j->job_name || !j->job_name[0])
		return cfgtree_fail(&x->t, n, "job_name is empty");
	if (basic && authz)
		return cfgtree_fail(&x->t, authz, "at most one of basic_auth and authorization must be configured (job \"%s\")",
				       j->job_name);
	/* Prometheus: an unset interval takes the global one; an unset
	 * timeout takes the global one, capped at the job's interval. */
	j->interval_ms = interval ? interval : c->interval_ms;
	if (timeout)
		j->timeout_ms = timeout;
	else
		j->timeout_ms = c->timeout_ms > j->interval_ms ? j->interval_ms : c->timeout_ms;
	if (j->timeout_ms > j->interval_ms)
		return cfgtree_fail(&x->t, n, "scrape timeout greater than scrape interval for scrape config with job name \"%s\"",
				       j->job_name);
	if ((!j->metrics_path && !(j->metrics_path = strdup("/metrics"))) || (!j->scheme && !(j->scheme = strdup("http"))))
		return -ENOMEM;
	for (size_t i = 0; i < c->njobs; i++)
		if (!strcmp(c->jobs[i].job_name, j->job_name))
			return cfgtree_fail(&x->t, n, "found multiple scrape configs with job name \"%s\"", j->job_name);
	return 0;
}

/* ---- file_sd ------------------------------------------------------------ */

/* Reads every file of j's patterns into a new group list (static groups
 * not included). Returns 0 or -EINVAL with err naming the file. */
static int scrapeconf_sd_read(const struct scrapeconf_job *j, struct scrapeconf_group **out, size_t *nout, char *err,
			      size_t errlen)
{
	struct scrapeconf_group *gs = NULL;
	size_t ng = 0;
	int rc = 0;
	*out = NULL;
	*nout = 0;
	for (size_t p = 0; !rc && p < j->nsd_files; p++) {
		glob_t g;
		int gr = glob(j->sd_files[p], 0, NULL, &g);
		if (gr == GLOB_NOMATCH)
			continue;
		if (gr) {
			snprintf(err, errlen, "%s: glob() failed", j->sd_files[p]);
			rc = gr == GLOB_NOSPACE ? -ENOMEM : -EINVAL;
			break;
		}
		for (size_t f = 0; !rc && f < g.gl_pathc; f++) {
			const char *path = g.gl_pathv[f];
			struct scrapeconf_ctx x = {.t = {.origin = path, .err = err, .errlen = errlen}};
			struct cfgtree_node root;
			const char *dot = strrchr(path, '.');
			rc = cfgtree_load_file(&x.t, path, dot && !strcasecmp(dot, ".json"), &root);
			if (!rc)
				rc = scrapeconf_get_groups(&x, &root, "file_sd file", path, &gs, &ng);
			else if (rc == -ENOENT) /* a file that vanished since glob() has no targets */
				rc = 0;
			else if (rc != -ENOMEM)
				rc = -EINVAL;
			cfgtree_node_free(&root);
		}
		globfree(&g);
	}
	if (rc) {
		scrapeconf_groups_free(gs, ng);
		return rc;
	}
	*out = gs;
	*nout = ng;
	return 0;
}

static int scrapeconf_group_equal(const struct scrapeconf_group *a, const struct scrapeconf_group *b)
{
	if (a->ntargets != b->ntargets || a->nlabels != b->nlabels || !a->source != !b->source ||
	    (a->source && strcmp(a->source, b->source)))
		return 0;
	for (size_t i = 0; i < a->ntargets; i++)
		if (strcmp(a->targets[i], b->targets[i]))
			return 0;
	for (size_t i = 0; i < a->nlabels; i++)
		if (strcmp(a->labels[i].name, b->labels[i].name) || strcmp(a->labels[i].value, b->labels[i].value))
			return 0;
	return 1;
}

/* Re-reads every job's file_sd files; all or nothing. Returns 1 when some
 * job's groups changed, 0 when none did, -EINVAL with err on a bad file or
 * -ENOMEM (the old groups stay in both cases). */
int scrapeconf_refresh_sd(struct scrapeconf *c, char *err, size_t errlen)
{
	struct scrapeconf_group **fresh = calloc(c->njobs + 1, sizeof(*fresh));
	size_t *nfresh = calloc(c->njobs + 1, sizeof(*nfresh));
	int rc = 0, changed = 0;
	if (!fresh || !nfresh) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < c->njobs && !rc; i++)
		rc = scrapeconf_sd_read(&c->jobs[i], &fresh[i], &nfresh[i], err, errlen);
	if (rc)
		goto out;
	for (size_t i = 0; i < c->njobs; i++) {
		struct scrapeconf_job *j = &c->jobs[i];
		size_t nold = j->ngroups - j->nstatic;
		int same = nold == nfresh[i];
		for (size_t g = 0; same && g < nold; g++)
			same = scrapeconf_group_equal(&j->groups[j->nstatic + g], &fresh[i][g]);
		if (same)
			continue;
		for (size_t g = 0; g < nold; g++) /* the old sd groups' contents; the array is reused */
			scrapeconf_group_clear(&j->groups[j->nstatic + g]);
		j->ngroups = j->nstatic;
		struct scrapeconf_group *a = realloc(j->groups, (j->nstatic + nfresh[i] + 1) * sizeof(*a));
		if (!a) {
			rc = -ENOMEM;
			goto out;
		}
		j->groups = a;
		if (nfresh[i])
			memcpy(&a[j->nstatic], fresh[i], nfresh[i] * sizeof(*a));
		j->ngroups = j->nstatic + nfresh[i];
		free(fresh[i]);
		fresh[i] = NULL;
		nfresh[i] = 0;
		changed = 1;
	}
out:
	for (size_t i = 0; fresh && i < c->njobs; i++)
		scrapeconf_groups_free(fresh[i], nfresh ? nfresh[i] : 0);
	free(fresh);
	free(nfresh);
	return rc ? rc : changed;
}

/* ---- loading ------------------------------------------------------------ */

static const char *const scrapeconf_ignored_sections[] = {
	"rule_files", "alerting", "remote_write", "remote_read", "storage", "tracing", "otlp", "runtime", NULL,
};

static int scrapeconf_get_global(struct scrapeconf_ctx *x, const struct cfgtree_node *n)
{
	struct scrapeconf *c = x->c;
	int64_t interval = 0, timeout = 0;
	int rc = cfgtree_want_map(&x->t, n, "global");
	for (size_t i = 0; !rc && i < n->n; i++) {
		const struct cfgtree_node *k = &n->kids[2 * i], *v = &n->kids[2 * i + 1];
		const char *key = k->s;
		static const char *const unused[] = {"evaluation_interval", "rule_query_offset", "query_log_file", NULL};
		static const char *const unsup[] = {"scrape_protocols", "body_size_limit", "keep_dropped_targets",
						    "metric_name_validation_scheme", "metric_name_escaping_scheme",
						    "scrape_failure_log_file", "scrape_native_histograms",
						    "always_scrape_classic_histograms", "convert_classic_histograms_to_nhcb",
						    NULL};
		char msg[160];
		if (!strcmp(key, "scrape_interval"))
			rc = cfgtree_get_duration(&x->t, v, key, &interval);
		else if (!strcmp(key, "scrape_timeout"))
			rc = cfgtree_get_duration(&x->t, v, key, &timeout);
		else if (!strcmp(key, "external_labels"))
			rc = scrapeconf_get_labels(x, v, key, &c->external_labels, &c->nexternal);
		else if (!strcmp(key, "sample_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &c->sample_limit);
		else if (!strcmp(key, "label_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &c->label_limit);
		else if (!strcmp(key, "label_name_length_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &c->label_name_length_limit);
		else if (!strcmp(key, "label_value_length_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &c->label_value_length_limit);
		else if (!strcmp(key, "target_limit"))
			rc = cfgtree_get_uint(&x->t, v, key, &c->target_limit);
		else if (cfgtree_in(key, unused)) {
			snprintf(msg, sizeof(msg), "global \"%s\" is not used by mcs scraping; ignored", key);
			rc = scrapeconf_warn(x, k, msg);
		} else
			rc = scrapeconf_bad_key(x, k, "global", unsup);
	}
	if (rc)
		return rc;
	/* Prometheus: an unset global timeout is 10s capped at the interval;
	 * a set one may not exceed the interval. */
	if (interval)
		c->interval_ms = interval;
	if (timeout)
		c->timeout_ms = timeout;
	else if (c->timeout_ms > c->interval_ms)
		c->timeout_ms = c->interval_ms;
	if (c->timeout_ms > c->interval_ms)
		return cfgtree_fail(&x->t, n, "global scrape timeout greater than scrape interval");
	return 0;
}

static int scrapeconf_append_job(struct scrapeconf_ctx *x, const struct cfgtree_node *n)
{
	struct scrapeconf *c = x->c;
	struct scrapeconf_job j;
	int rc = scrapeconf_get_job(x, n, &j);
	struct scrapeconf_job *a = rc ? NULL : realloc(c->jobs, (c->njobs + 1) * sizeof(*a));
	if (!rc && !a)
		rc = -ENOMEM;
	if (rc) {
		scrapeconf_job_free(&j);
		return rc;
	}
	c->jobs = a;
	a[c->njobs++] = j;
	return 0;
}

static void scrapeconf_defaults(struct scrapeconf *c)
{
	if (!c->interval_ms)
		c->interval_ms = 60000;
	if (!c->timeout_ms)
		c->timeout_ms = 10000;
}

/* Loads a Prometheus YAML file into *c (overwritten). Reads file_sd files
 * once; a bad one leaves a warning, not an error, as Prometheus keeps
 * running with the file's targets missing. Returns 0; -EINVAL with
 * "file:line:col: message" in err; -errno when the file is unreadable;
 * -ENOMEM. On failure *c is empty (and needs no free); on success the
 * caller frees it with scrapeconf_free. */
int scrapeconf_load_yaml(struct scrapeconf *c, const char *path, char *err, size_t errlen)
{
	struct scrapeconf_ctx x = {.t = {.origin = path, .err = err, .errlen = errlen}, .c = c};
	struct cfgtree_node root = {0};
	memset(c, 0, sizeof(*c));
	scrapeconf_defaults(c);
	const char *slash = strrchr(path, '/');
	if (slash && !(c->dir = strndup(path, slash == path ? 1 : (size_t)(slash - path))))
		return -ENOMEM;
	x.t.dir = c->dir;
	int rc = cfgtree_load_file(&x.t, path, 0, &root);
	if (rc == -ENOENT) /* cfgtree leaves the message to callers, here it is an error */
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(ENOENT));
	if (rc || (rc = cfgtree_want_map(&x.t, &root, "top level")))
		goto fail;
	for (size_t i = 0; i < root.n; i++) /* global first: jobs take their defaults from it */
		if (!strcmp(root.kids[2 * i].s, "global") && (rc = scrapeconf_get_global(&x, &root.kids[2 * i + 1])))
			goto fail;
	for (size_t i = 0; i < root.n; i++) {
		const struct cfgtree_node *k = &root.kids[2 * i], *v = &root.kids[2 * i + 1];
		if (!strcmp(k->s, "global"))
			continue;
		if (!strcmp(k->s, "scrape_configs")) {
			if ((rc = cfgtree_want_seq(&x.t, v, k->s)))
				goto fail;
			for (size_t m = 0; m < v->n; m++)
				if ((rc = scrapeconf_append_job(&x, &v->kids[m])))
					goto fail;
		} else if (cfgtree_in(k->s, scrapeconf_ignored_sections)) {
			char msg[160];
			snprintf(msg, sizeof(msg), "section \"%s\" is not used by mcs scraping; ignored", k->s);
			if ((rc = scrapeconf_warn(&x, k, msg)))
				goto fail;
		} else {
			static const char *const unsup[] = {"scrape_config_files", NULL};
			rc = scrapeconf_bad_key(&x, k, "the top level", unsup);
			goto fail;
		}
	}
	char sderr[512];
	rc = scrapeconf_refresh_sd(c, sderr, sizeof(sderr));
	if (rc == -EINVAL)
		rc = scrapeconf_warn(&x, NULL, sderr);
	if (rc < 0)
		goto fail;
	cfgtree_node_free(&root);
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
	cfgtree_node_free(&root);
	scrapeconf_free(c);
	return rc;
}

/* Parses one job from JSON text (the YAML job's keys; durations as
 * strings, lists as arrays) and appends it to c, with c's globals as
 * defaults, then reads its file_sd files. Relative file names are taken
 * from the current directory. Returns 0, -EINVAL with a message naming the
 * key in err (c unchanged), or -ENOMEM. */
int scrapeconf_add_json_job(struct scrapeconf *c, const char *json, char *err, size_t errlen)
{
	struct scrapeconf_ctx x = {.t = {.origin = "scrape job", .err = err, .errlen = errlen}, .c = c};
	struct cfgtree_node root = {0};
	scrapeconf_defaults(c);
	int rc = cfgtree_parse_text(&x.t, json, strlen(json), 1, &root);
	if (!rc && root.kind != CFGTREE_MAP)
		rc = cfgtree_fail(&x.t, NULL, "a scrape job must be a JSON object");
	if (!rc)
		rc = scrapeconf_append_job(&x, &root);
	cfgtree_node_free(&root);
	if (rc)
		return rc;
	/* Its file_sd groups (none yet): refresh a view holding only this job. */
	struct scrapeconf one = {.jobs = &c->jobs[c->njobs - 1], .njobs = 1};
	rc = scrapeconf_refresh_sd(&one, err, errlen);
	if (rc < 0) {
		scrapeconf_job_free(one.jobs);
		c->njobs--;
		return rc;
	}
	return 0;
}

/* Frees everything c owns and zeroes it. Accepts NULL. */
void scrapeconf_free(struct scrapeconf *c)
{
	if (!c)
		return;
	scrapeconf_kv_free(c->external_labels, c->nexternal);
	for (size_t i = 0; i < c->njobs; i++)
		scrapeconf_job_free(&c->jobs[i]);
	free(c->jobs);
	cfgtree_strs_free(c->warnings, c->nwarnings);
	free(c->dir);
	memset(c, 0, sizeof(*c));
}

/* ---- targets ------------------------------------------------------------ */

/* Appends s to b percent-encoded; `query` = Go's QueryEscape (space is
 * '+'), otherwise the path escaping of url.URL.EscapedPath. */
static void scrapeconf_escape(FILE *b, const char *s, int query)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
		    (!query && strchr("$&+,/:;=@", ch)))
			fputc(ch, b);
		else if (query && ch == ' ')
			fputc('+', b);
		else
			fprintf(b, "%%%02X", ch);
	}
}

/* Builds t->url, host, port and path_query from the relabeled set lb
 * (which still holds the __ labels). Query parameters: the job's params,
 * each __param_<name> replacing the first value of <name> or adding it,
 * sorted by name like url.Values.Encode. Returns 0, -EINVAL, -ENOMEM. */
static int scrapeconf_target_url(const struct scrapeconf_job *j, const struct relabel_labels *lb,
				 struct scrapeconf_target *t)
{
	const char *addr = relabel_labels_get(lb, "__address__");
	const char *path = relabel_labels_get(lb, "__metrics_path__");
	struct scrapeconf_kv *q = calloc(j->nparams + lb->n + 1, sizeof(*q));
	size_t nq = 0;
	char *pq = NULL, host[256];
	size_t pql = 0;
	int rc = -ENOMEM;
	if (!q)
		return -ENOMEM;
	for (size_t i = 0; i < j->nparams; i++)
		q[nq++] = j->params[i];
	for (size_t i = 0; i < lb->n; i++) {
		if (strncmp(lb->l[i].name, "__param_", 8))
			continue;
		const char *name = lb->l[i].name + 8;
		size_t k = 0;
		while (k < nq && strcmp(q[k].name, name))
			k++;
		q[k].name = (char *)name;
		q[k].value = lb->l[i].value;
		nq += k == nq;
	}
	for (size_t i = 1; i < nq; i++) { /* stable insertion sort: a name's values keep their order */
		struct scrapeconf_kv e = q[i];
		size_t k = i;
		for (; k > 0 && strcmp(q[k - 1].name, e.name) > 0; k--)
			q[k] = q[k - 1];
		q[k] = e;
	}
	FILE *b = open_memstream(&pq, &pql);
	if (!b)
		goto out;
	if (!path || path[0] != '/')
		fputc('/', b);
	scrapeconf_escape(b, path ? path : "", 0);
	for (size_t i = 0; i < nq; i++) {
		fputc(i ? '&' : '?', b);
		scrapeconf_escape(b, q[i].name, 1);
		fputc('=', b);
		scrapeconf_escape(b, q[i].value, 1);
	}
	if (fclose(b) != 0)
		goto out;
	/* host[:port]; no port means the scheme's (Prometheus 3 keeps the
	 * address as written). */
	if (config_split_hostport(addr, host, sizeof(host), &t->port) != 0) {
		size_t al = strlen(addr);
		int v6 = addr[0] == '[' && al > 2 && addr[al - 1] == ']';
		if (al >= sizeof(host) || (!v6 && strchr(addr, ':'))) {
			rc = -EINVAL; /* a bad port, or an IPv6 address without brackets */
			goto out;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(v6 ? al - 2 : al), addr + v6);
		t->port = 80;
	}
	if (!(t->host = strdup(host)) || asprintf(&t->url, "http://%s%s", addr, pq) < 0) {
		t->url = NULL;
		goto out;
	}
	t->path_query = pq;
	pq = NULL;
	rc = 0;
out:
	free(pq);
	free(q);
	return rc;
}

static int scrapeconf_setl(struct relabel_labels *ls, const char *n, const char *v)
{
	return relabel_labels_set(ls, n, strlen(n), v, strlen(v));
}

/* Builds one target from address `addr` of group g like Prometheus'
 * PopulateLabels. Returns 1 when made; SCRAPECONF_DROPPED when
 * relabel_configs dropped it and keep_dropped is set (t holds job and
 * discovered only; the caller frees it); 0 when dropped otherwise or its
 * labels are unusable (no address, bad interval, not http); -ENOMEM. */
int scrapeconf_target_make(const struct scrapeconf_job *j, const struct scrapeconf_group *g, const char *addr,
			   struct scrapeconf_target *t, int keep_dropped)
{
	struct relabel_labels lb = {0};
	char iv[32], to[32];
	int rc;
	memset(t, 0, sizeof(*t));
	t->job = j;
	cfgtree_format_duration(j->interval_ms, iv, sizeof(iv));
	cfgtree_format_duration(j->timeout_ms, to, sizeof(to));
	if ((rc = scrapeconf_setl(&t->discovered, "__address__", addr)))
		goto out;
	for (size_t i = 0; i < g->nlabels; i++)
		if (strcmp(g->labels[i].name, "__address__") && (rc = scrapeconf_setl(&t->discovered, g->labels[i].name, g->labels[i].value)))
			goto out;
	const char *defs[][2] = {{"job", j->job_name},           {"__scrape_interval__", iv}, {"__scrape_timeout__", to},
				 {"__metrics_path__", j->metrics_path}, {"__scheme__", j->scheme}};
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (!relabel_labels_get(&t->discovered, defs[i][0]) && (rc = scrapeconf_setl(&t->discovered, defs[i][0], defs[i][1])))
			goto out;
	for (size_t i = 0; i < j->nparams; i++) {
		char name[256];
		snprintf(name, sizeof(name), "__param_%s", j->params[i].name);
		if (!relabel_labels_get(&t->discovered, name) && (rc = scrapeconf_setl(&t->discovered, name, j->params[i].value)))
			goto out;
	}
	if ((rc = relabel_labels_copy(&lb, &t->discovered)))
		goto out;
	if ((rc = relabel_apply(&j->relabel, &lb)) <= 0) {
		rc = rc || !keep_dropped ? rc : SCRAPECONF_DROPPED;
		goto out;
	}
	rc = 0;
	const char *a = relabel_labels_get(&lb, "__address__");
	const char *sch = relabel_labels_get(&lb, "__scheme__");
	const char *siv = relabel_labels_get(&lb, "__scrape_interval__");
	const char *sto = relabel_labels_get(&lb, "__scrape_timeout__");
	if (!a || strchr(a, '/') || !sch || strcmp(sch, "http") || !siv || !sto ||
	    config_parse_duration(siv, &t->interval_ms) || config_parse_duration(sto, &t->timeout_ms) ||
	    t->interval_ms == 0 || t->timeout_ms == 0 || t->timeout_ms > t->interval_ms)
		goto out;
	for (size_t i = 0; i < lb.n;) /* __meta_* go after relabeling */
		if (!strncmp(lb.l[i].name, "__meta_", 7))
			relabel_labels_del(&lb, lb.l[i].name);
		else
			i++;
	if (!relabel_labels_get(&lb, "instance") && (rc = scrapeconf_setl(&lb, "instance", a)))
		goto out;
	if ((rc = scrapeconf_target_url(j, &lb, t))) {
		rc = rc == -EINVAL ? 0 : rc;
		goto out;
	}
	for (size_t i = 0; i < lb.n; i++)
		if (strncmp(lb.l[i].name, "__", 2) && (rc = scrapeconf_setl(&t->labels, lb.l[i].name, lb.l[i].value)))
			goto out;
	XXH3_state_t *h = XXH3_createState();
	if (!h) {
		rc = -ENOMEM;
		goto out;
	}
	XXH3_64bits_reset(h);
	XXH3_64bits_update(h, j->job_name, strlen(j->job_name) + 1);
	XXH3_64bits_update(h, t->url, strlen(t->url) + 1);
	for (size_t i = 0; i < t->labels.n; i++) {
		XXH3_64bits_update(h, t->labels.l[i].name, strlen(t->labels.l[i].name) + 1);
		XXH3_64bits_update(h, t->labels.l[i].value, strlen(t->labels.l[i].value) + 1);
	}
	t->hash = XXH3_64bits_digest(h);
	XXH3_freeState(h);
	rc = 1;
out:
	relabel_labels_free(&lb);
	if (rc < 1)
		scrapeconf_target_free(t);
	return rc;
}

/* Expands every job's groups into targets (see scrapeconf.h). Within a
 * job, targets with the same hash are one target, as in Prometheus' scrape
 * pool; a job with more targets than its target_limit gets none (Prometheus
 * fails them all). Returns the count with *out owned by the caller, or
 * -ENOMEM (*out NULL). */
long scrapeconf_targets(const struct scrapeconf *c, struct scrapeconf_target **out)
{
	struct scrapeconf_target *ts = NULL;
	size_t n = 0, cap = 0;
	*out = NULL;
	for (size_t ji = 0; ji < c->njobs; ji++) {
		const struct scrapeconf_job *j = &c->jobs[ji];
		size_t first = n;
		for (size_t gi = 0; gi < j->ngroups; gi++) {
			const struct scrapeconf_group *g = &j->groups[gi];
			for (size_t ti = 0; ti < g->ntargets; ti++) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 16;
					struct scrapeconf_target *a = realloc(ts, nc * sizeof(*a));
					if (!a)
						goto oom;
					ts = a;
					cap = nc;
				}
				int rc = scrapeconf_target_make(j, g, g->targets[ti], &ts[n], 0);
				if (rc < 0)
					goto oom;
				if (rc == 0)
					continue;
				size_t k = first;
				while (k < n && ts[k].hash != ts[n].hash)
					k++;
				if (k < n)
					scrapeconf_target_free(&ts[n]);
				else
					n++;
			}
		}
		if (j->target_limit && n - first > j->target_limit) {
			for (size_t k = first; k < n; k++)
				scrapeconf_target_free(&ts[k]);
			n = first;
		}
	}
	*out = ts;
	return (long)n;
oom:
	scrapeconf_targets_free(ts, n);
	return -ENOMEM;
}

/* Frees n targets and the array. Accepts NULL. */
void scrapeconf_targets_free(struct scrapeconf_target *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		scrapeconf_target_free(&t[i]);
	free(t);
}
