/* relabel: Prometheus relabeling (relabel_configs, metric_relabel_configs,
 * write_relabel_configs) over a label set.
 *
 * Every action of Prometheus: replace, keep, drop, keepequal, dropequal,
 * hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase. Regexes are
 * PCRE2 and fully anchored (^(?:re)$) as in Prometheus; defaults follow
 * Prometheus (separator ";", regex "(.*)", replacement "$1", action
 * replace). Replacement templates take $1, ${1}, $name and ${name} like Go's
 * regexp.Expand.
 *
 * A label set here is an array of owned name/value strings (struct
 * relabel_labels); relabel_apply rewrites it in place. Labels with empty
 * values are removed at the end, as in Prometheus.
 */
#ifndef MCS_RELABEL_H
#define MCS_RELABEL_H

#include <stddef.h>
#include <stdint.h>

#define RELABEL_MAX_SOURCE 16

enum relabel_action {
	RELABEL_REPLACE = 0,
	RELABEL_KEEP,
	RELABEL_DROP,
	RELABEL_KEEPEQUAL,
	RELABEL_DROPEQUAL,
	RELABEL_HASHMOD,
	RELABEL_LABELMAP,
	RELABEL_LABELDROP,
	RELABEL_LABELKEEP,
	RELABEL_LOWERCASE,
	RELABEL_UPPERCASE,
};

/* One rule. Strings are owned (malloc'd) by the rule. */
struct relabel_rule {
	enum relabel_action action;
	char *source[RELABEL_MAX_SOURCE];
	size_t nsource;
	char *separator;     /* default ";" */
	char *target;        /* target_label; NULL when not given */
	char *regex_src;     /* as written, default "(.*)" */
	void *re;            /* pcre2_code *, anchored */
	void *md;            /* pcre2_match_data * */
	uint64_t modulus;    /* hashmod */
	char *replacement;   /* default "$1" */
};

/* A sequence of rules, applied in order. */
struct relabel_config {
	struct relabel_rule *rules;
	size_t n;
};

struct relabel_label {
	char *name;          /* owned */
	char *value;         /* owned */
};

/* A mutable label set (owned strings), kept sorted by name; setting an
 * empty value deletes the label (labels.Builder semantics). */
struct relabel_labels {
	struct relabel_label *l;
	size_t n, cap;
};

/* Zeroes *r with action replace. NULL separator/regex_src/replacement mean
 * Prometheus' defaults (";", "(.*)", "$1"); relabel_rule_finish fills them. */
void relabel_rule_defaults(struct relabel_rule *r);

/* Compiles r->regex_src and checks the rule as Prometheus validates it
 * (e.g. replace needs target_label; hashmod needs modulus > 0 and a
 * target; labelmap/labeldrop/labelkeep take no source labels...). Returns 0
 * or -EINVAL with a message in err. */
int relabel_rule_finish(struct relabel_rule *r, char *err, size_t errlen);

void relabel_rule_free(struct relabel_rule *r);
void relabel_config_free(struct relabel_config *c);

/* Parses an action name ("replace", "keep", ...). Returns the enum value
 * or -1. */
int relabel_action_parse(const char *s);

/* The name of an action ("replace", ...). */
const char *relabel_action_name(enum relabel_action a);

/* 1 when s[0..n) is a label name: [a-zA-Z_][a-zA-Z0-9_]*. */
int relabel_name_valid(const char *s, size_t n);

/* MD5 of data[0..n) (hashmod; exposed for tests). */
void relabel_md5(const void *data, size_t n, uint8_t out[16]);

/* Applies every rule of c to ls. Returns 1 to keep the series/target, 0
 * when a keep/drop rule dropped it, -ENOMEM. */
int relabel_apply(const struct relabel_config *c, struct relabel_labels *ls);

/* Label set helpers. */
int relabel_labels_set(struct relabel_labels *ls, const char *name, size_t nl, const char *value, size_t vl);
const char *relabel_labels_get(const struct relabel_labels *ls, const char *name);
void relabel_labels_del(struct relabel_labels *ls, const char *name);
void relabel_labels_clear(struct relabel_labels *ls);
/* Copies every label of src into dst. 0 or -ENOMEM. */
int relabel_labels_copy(struct relabel_labels *dst, const struct relabel_labels *src);
void relabel_labels_free(struct relabel_labels *ls);

#endif
