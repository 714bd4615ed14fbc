/* cfgtree: the small configuration tree that YAML (libyaml) and JSON
 * (cJSON) documents are both turned into, and the typed readers that walk
 * it, reporting "origin:line:col: message" on a mismatch.
 *
 * A node is null, a scalar (its text, unconverted), a mapping (key, value,
 * key, value ... in document order) or a sequence. YAML nodes carry their
 * 1-based line and column; JSON nodes carry 0 (cJSON does not track them),
 * and their messages then read "origin: message". A plain YAML scalar that
 * is empty, "~" or null/Null/NULL is a null node; quoted, it is a string.
 * JSON numbers and booleans become scalars with their text ("15", "2.5",
 * "true"), so the same readers accept both inputs.
 *
 * What it is not: it knows no configuration schema. Which keys exist, which
 * are mandatory and what they mean is the caller's business (scrapeconf.h
 * for Prometheus' scrape configuration).
 */
#ifndef MCS_CFGTREE_H
#define MCS_CFGTREE_H

#include <stddef.h>
#include <stdint.h>

/* Limits on outside input: nesting depth, nodes per document (aliases can
 * make a small YAML file expand into a huge tree) and file size. */
#define CFGTREE_MAX_DEPTH 64
#define CFGTREE_MAX_NODES 1000000
#define CFGTREE_MAX_FILE  (64u << 20)

enum cfgtree_kind { CFGTREE_NULL, CFGTREE_SCALAR, CFGTREE_MAP, CFGTREE_SEQ };

/* One node; owns its text and children. */
struct cfgtree_node {
	int kind;                   /* enum cfgtree_kind */
	char *s;                    /* scalar text; NULL for other kinds */
	int line, col;              /* 1-based; 0 when unknown (JSON) */
	size_t n;                   /* map: pairs; seq: items */
	struct cfgtree_node *kids;  /* map: key, value, key, value...; seq: items */
};

/* The reading context: where errors go and how they are prefixed. The
 * caller owns it and fills origin, dir, err and errlen. */
struct cfgtree_ctx {
	const char *origin;         /* file name, or e.g. "scrape job" for JSON; prefixes messages */
	const char *dir;            /* base of relative file names, NULL = cwd */
	char *err;                  /* message buffer, written by every failing call */
	size_t errlen;
	size_t nodes;               /* nodes converted so far (all parses with this context); start at 0 */
};

/* Reading text and files. */
int cfgtree_read_file(const char *path, char **out, size_t *len);
int cfgtree_parse_text(struct cfgtree_ctx *x, const char *text, size_t len, int json, struct cfgtree_node *root);
int cfgtree_load_file(struct cfgtree_ctx *x, const char *path, int json, struct cfgtree_node *root);
void cfgtree_node_free(struct cfgtree_node *n);

/* Errors. */
__attribute__((format(printf, 3, 4))) int cfgtree_fail(struct cfgtree_ctx *x, const struct cfgtree_node *at,
							const char *fmt, ...);
const char *cfgtree_kind_name(int kind);

/* Shape checks and typed readers. */
int cfgtree_want_map(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *what);
int cfgtree_want_seq(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *what);
int cfgtree_get_str(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, char **dst);
int cfgtree_get_bool(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, int *dst);
int cfgtree_get_uint(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, uint64_t *dst);
int cfgtree_get_duration(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, int64_t *dst);
int cfgtree_get_strlist(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, char ***list,
			size_t *count);
int cfgtree_get_file_text(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, char **dst);
void cfgtree_strs_free(char **s, size_t n);
void cfgtree_format_duration(int64_t ms, char *buf, size_t len);

/* Helpers for callers dispatching on keys and file names. */
int cfgtree_in(const char *key, const char *const *list);
char *cfgtree_path(const struct cfgtree_ctx *x, const char *p);

#endif
