/* scrapeconf: the Prometheus scrape configuration (prometheus.yml's
 * `global` and `scrape_configs`), read with libyaml, plus file_sd target
 * files (JSON and YAML), and the expansion into concrete targets.
 *
 * Supported per job: job_name, scrape_interval, scrape_timeout,
 * metrics_path, params, scheme (http only), honor_labels,
 * honor_timestamps, basic_auth (username, password, password_file),
 * authorization (type, credentials, credentials_file), static_configs,
 * file_sd_configs (files with globs, refresh_interval), relabel_configs,
 * metric_relabel_configs, sample_limit, label_limit,
 * label_name_length_limit, label_value_length_limit, target_limit.
 * Any other key is an error naming the file, line and column: nothing is
 * ignored silently. Jobs may also come as JSON objects of the same shape
 * (the /metrics/sources API).
 *
 * Not here: scraping (scrape.h), relabeling itself (common/relabel.h).
 */
#ifndef MCS_SCRAPECONF_H
#define MCS_SCRAPECONF_H

#include <stddef.h>
#include <stdint.h>

#include "common/relabel.h"

struct scrapeconf_kv {
	char *name;
	char *value;
};

/* A group of targets with common labels (static_configs entry or one
 * group of a file_sd file). */
struct scrapeconf_group {
	char **targets;                  /* "host:port" */
	size_t ntargets;
	struct scrapeconf_kv *labels;
	size_t nlabels;
	char *source;                    /* file name for file_sd groups, NULL for static */
};

struct scrapeconf_job {
	char *job_name;
	int64_t interval_ms;
	int64_t timeout_ms;
	char *metrics_path;              /* default "/metrics" */
	char *scheme;                    /* "http" */
	struct scrapeconf_kv *params;    /* URL params (repeated names allowed) */
	size_t nparams;
	int honor_labels;
	int honor_timestamps;            /* default 1 */
	char *basic_user, *basic_pass;   /* NULL when unset; pass read from password_file at load */
	char *auth_type, *auth_cred;     /* authorization: type default "Bearer" */
	struct scrapeconf_group *groups; /* static groups, then file_sd groups (refreshed) */
	size_t ngroups;
	size_t nstatic;                  /* groups[0..nstatic) come from static_configs */
	char **sd_files;                 /* file_sd_configs file patterns */
	size_t nsd_files;
	int64_t sd_refresh_ms;
	struct relabel_config relabel;        /* relabel_configs */
	struct relabel_config metric_relabel; /* metric_relabel_configs */
	uint64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit, target_limit;
};

struct scrapeconf {
	int64_t interval_ms;             /* global scrape_interval, default 60 s (Prometheus) */
	int64_t timeout_ms;              /* global scrape_timeout, default 10 s */
	struct scrapeconf_kv *external_labels;
	size_t nexternal;
	struct scrapeconf_job *jobs;
	size_t njobs;
	/* Global defaults of the per-job limits (0 = none), as Prometheus' global section. */
	uint64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit, target_limit;
	/* Known Prometheus sections mcs does not use (rule_files, alerting,
	 * remote_write, ...) are accepted; each one leaves a message here,
	 * "file:line:col: ...", for the caller to log. */
	char **warnings;
	size_t nwarnings;
	char *dir;                       /* directory of the YAML file: base of relative paths; NULL = cwd */
};

/* A concrete target after relabel_configs (or, from scrapeconf_dropped,
 * one they dropped). */
struct scrapeconf_target {
	const struct scrapeconf_job *job; /* borrowed from the scrapeconf */
	char *url;                        /* full scrape URL */
	char *host;                       /* connect host */
	int port;
	char *path_query;                 /* "/metrics?x=y" */
	struct relabel_labels labels;     /* final target labels (job, instance, ...; no __ labels) */
	struct relabel_labels discovered; /* labels before relabeling (incl. __address__ etc.) */
	uint64_t hash;                    /* of job + url + labels: identity and jitter */
	int64_t interval_ms, timeout_ms;  /* from __scrape_interval__/__scrape_timeout__ after relabeling */
};

/* Loads a Prometheus YAML file. Returns 0 or -EINVAL with "file:line:col:
 * message" in err (-errno when unreadable). *c is empty on failure. */
int scrapeconf_load_yaml(struct scrapeconf *c, const char *path, char *err, size_t errlen);

/* Parses one job given as JSON text (a /metrics/sources scrape source) and
 * appends it to c, with c's globals as defaults. Returns 0 or -EINVAL. */
int scrapeconf_add_json_job(struct scrapeconf *c, const char *json, char *err, size_t errlen);

/* Re-reads the file_sd files of every job (globs expanded). Returns 1 when
 * the groups changed, 0 when not, -EINVAL with err on a bad file (the old
 * groups stay). */
int scrapeconf_refresh_sd(struct scrapeconf *c, char *err, size_t errlen);

/* Expands every job's groups into targets, applying relabel_configs
 * (targets with no __address__ after relabeling or dropped are left out)
 * and target_limit. The caller frees with scrapeconf_targets_free. Returns
 * the count or -ENOMEM. */
long scrapeconf_targets(const struct scrapeconf *c, struct scrapeconf_target **out);
void scrapeconf_targets_free(struct scrapeconf_target *t, size_t n);

/* Lists the targets relabel_configs dropped (Prometheus' droppedTargets),
 * in configuration order and not deduplicated: each with job and
 * discovered set, url/host/labels empty, and hash computed from the job
 * name and the discovered labels only (to share them out among
 * collectors). Targets left out for other reasons (no address after
 * relabeling, bad interval) are not listed. Implemented in
 * scrapeconf_dropped.c. The caller frees with scrapeconf_targets_free.
 * Returns the count or -ENOMEM (*out NULL). */
long scrapeconf_dropped(const struct scrapeconf *c, struct scrapeconf_target **out);

void scrapeconf_free(struct scrapeconf *c);

#endif
