/* config: the JSON configuration of an mcs instance, with an embedded
 * default, loaded with cJSON and checked field by field.
 *
 * Every stage reads the same file (mcs-launch writes the effective config,
 * flags applied, to <data_dir>/run/<instance>.json and passes it with
 * --config). Unknown keys are errors that name the key, so a typo never
 * goes unnoticed.
 */
#ifndef MCS_CONFIG_H
#define MCS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_RULES  256
#define CONFIG_MAX_LABELS 16

struct config_kv {
	char *name;
	char *value;
};

struct config_rule {
	char *alert;               /* rule name */
	char *expr;                /* "selector op value" for now */
	int64_t for_ms;            /* time the condition must hold before firing */
	struct config_kv labels[CONFIG_MAX_LABELS];
	size_t nlabels;
	struct config_kv annotations[CONFIG_MAX_LABELS];
	size_t nannotations;
};

struct config {
	char instance[64];
	char data_dir[512];
	char api_listen[128];      /* HOST:PORT */
	char push_listen[128];     /* HOST:PORT */
	char scrape_config_file[512]; /* Prometheus scrape config (YAML), "" = none */
	char wal_sync[16];         /* aggregator WAL fsync policy: "batch", "interval", "none" */
	uint32_t collectors, aggregators, alerters, apiservers;
	int log_json;
	uint64_t sample_ring_bytes;
	uint64_t alert_ring_bytes;
	uint64_t query_ring_bytes;
	int push_wait_ms;          /* how long a push waits for ring space before 503 */
	int64_t max_body_bytes;    /* push body limit, decoded (413 past it) */
	int self_scrape;           /* collect the service's own counters */
	int node_metrics;          /* collect node metrics from /proc */
	int64_t scrape_interval_ms;
	int64_t lookback_ms;       /* PromQL lookback delta */
	int64_t query_timeout_ms;
	uint64_t query_max_samples;
	int64_t rule_eval_interval_ms;
	int64_t hang_timeout_ms;   /* launcher: heartbeat age that counts as hung */
	int64_t ooo_window_ms;     /* aggregator: how far behind a series' newest sample a
				    * new one may be and still be stored (store.h) */
	struct config_rule rules[CONFIG_MAX_RULES];
	size_t nrules;
};

/* The embedded default configuration (JSON text). */
extern const char config_default_json[];

/* Fills *c from the default, then from the JSON text `json` (may be NULL).
 * On error returns -EINVAL and writes a message naming the key (and the
 * file `origin`, and the position for JSON syntax errors) into err.
 * Free with config_free even on failure. */
int config_load_string(struct config *c, const char *json, const char *origin, char *err, size_t errlen);

/* Reads `path` and calls config_load_string. -ENOENT etc. when unreadable. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* Writes the effective configuration as JSON into a malloc'd string. */
char *config_to_json(const struct config *c);

void config_free(struct config *c);

/* Parses a Prometheus duration ("1h30m", "15s", "500ms", "2d", "1w", "1y")
 * into ms. Returns 0 or -EINVAL. */
int config_parse_duration(const char *s, int64_t *ms);

/* Splits "HOST:PORT" (HOST may be [v6]) into host and port. Returns 0 or -EINVAL. */
int config_split_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
