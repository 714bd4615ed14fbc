/* cfgtree: configuration documents (YAML or JSON) as one small tree, and
 * the typed readers over it; see cfgtree.h.
 *
 * What it is: libyaml's document and cJSON's value are each converted into
 * struct cfgtree_node, so a schema written once against the readers below
 * accepts both inputs and reports errors the same way. What it is not: a
 * schema. No function here knows a key name; callers decide which keys are
 * read, which are errors and what the values mean.
 *
 * Invariants: a node owns its text and children, and cfgtree_node_free
 * releases a tree in any state a failed conversion leaves it in (kids is
 * calloc'd one larger than needed and n counts only the slots written).
 * Every failing reader writes a message to the context's err and returns
 * -EINVAL, or returns -ENOMEM with err untouched.
 *
 * Sections: node tree, readers, files.
 */
#include "common/cfgtree.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/config.h"

/* ---- node tree ---------------------------------------------------------- */

/* Frees everything n owns (text and children, recursively) and zeroes n
 * itself, which stays the caller's. Accepts NULL and a tree left half-built
 * by a failed conversion. */
void cfgtree_node_free(struct cfgtree_node *n)
{
	if (!n)
		return;
	free(n->s);
	size_t k = n->kind == CFGTREE_MAP ? 2 * n->n : n->n;
	for (size_t i = 0; i < k && n->kids; i++)
		cfgtree_node_free(&n->kids[i]);
	free(n->kids);
	memset(n, 0, sizeof(*n));
}

/* Writes "origin:line:col: message" into x->err, or "origin: message" when
 * at is NULL or has no position (JSON). Messages longer than 511 bytes are
 * cut. Returns -EINVAL always, so callers can `return cfgtree_fail(...)`. */
int cfgtree_fail(struct cfgtree_ctx *x, const struct cfgtree_node *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at && at->line)
		snprintf(x->err, x->errlen, "%s:%d:%d: %s", x->origin, at->line, at->col, msg);
	else
		snprintf(x->err, x->errlen, "%s: %s", x->origin, msg);
	return -EINVAL;
}

/* Converts libyaml node y of document d into *out (overwritten), counting
 * nodes in x so aliases cannot multiply a small file into a huge tree.
 * Returns 0, -EINVAL with err (too deep or too many nodes) or -ENOMEM; on
 * failure *out holds what was built and the caller frees it. */
static int cfgtree_from_yaml(struct cfgtree_ctx *x, yaml_document_t *d, yaml_node_t *y,
			     struct cfgtree_node *out, int depth)
{
	memset(out, 0, sizeof(*out));
	out->line = (int)y->start_mark.line + 1;
	out->col = (int)y->start_mark.column + 1;
	if (depth > CFGTREE_MAX_DEPTH || ++x->nodes > CFGTREE_MAX_NODES)
		return cfgtree_fail(x, out, "document nested or aliased too deeply");
	if (y->type == YAML_SCALAR_NODE) {
		const char *v = (const char *)y->data.scalar.value;
		if (y->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL")))
			return 0;
		out->kind = CFGTREE_SCALAR;
		out->s = strndup(v, y->data.scalar.length);
		return out->s ? 0 : -ENOMEM;
	}
	int map = y->type == YAML_MAPPING_NODE;
	size_t n = map ? (size_t)(y->data.mapping.pairs.top - y->data.mapping.pairs.start)
		       : (size_t)(y->data.sequence.items.top - y->data.sequence.items.start);
	out->kind = map ? CFGTREE_MAP : CFGTREE_SEQ;
	out->kids = calloc(map ? 2 * n + 1 : n + 1, sizeof(*out->kids));
	if (!out->kids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rc;
		if (map) {
			yaml_node_pair_t *p = &y->data.mapping.pairs.start[i];
			rc = cfgtree_from_yaml(x, d, yaml_document_get_node(d, p->key), &out->kids[2 * i], depth + 1);
			out->n = i + 1;
			if (!rc)
				rc = cfgtree_from_yaml(x, d, yaml_document_get_node(d, p->value), &out->kids[2 * i + 1],
							  depth + 1);
		} else {
			rc = cfgtree_from_yaml(x, d, yaml_document_get_node(d, y->data.sequence.items.start[i]),
						  &out->kids[i], depth + 1);
			out->n = i + 1;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Converts cJSON value j into *out (overwritten): objects become mappings
 * with scalar keys, numbers and booleans scalars holding their text, JSON
 * null a null node. Returns 0, -EINVAL with err (too deep) or -ENOMEM; on
 * failure *out holds what was built and the caller frees it. */
static int cfgtree_from_json(struct cfgtree_ctx *x, const cJSON *j, struct cfgtree_node *out, int depth)
{
	memset(out, 0, sizeof(*out));
	if (depth > CFGTREE_MAX_DEPTH)
		return cfgtree_fail(x, NULL, "document nested too deeply");
	if (cJSON_IsNull(j))
		return 0;
	if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
		int map = cJSON_IsObject(j);
		size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
		out->kind = map ? CFGTREE_MAP : CFGTREE_SEQ;
		out->kids = calloc(map ? 2 * n + 1 : n + 1, sizeof(*out->kids));
		if (!out->kids)
			return -ENOMEM;
		for (const cJSON *e = j->child; e; e = e->next, i++) {
			struct cfgtree_node *v = &out->kids[map ? 2 * i + 1 : i];
			out->n = i + 1;
			if (map) {
				out->kids[2 * i].kind = CFGTREE_SCALAR;
				if (!(out->kids[2 * i].s = strdup(e->string)))
					return -ENOMEM;
			}
			int rc = cfgtree_from_json(x, e, v, depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	}
	char num[64];
	const char *s = num;
	if (cJSON_IsString(j))
		s = j->valuestring;
	else if (cJSON_IsBool(j))
		s = cJSON_IsTrue(j) ? "true" : "false";
	else if (j->valuedouble == (double)(int64_t)j->valuedouble)
		snprintf(num, sizeof(num), "%lld", (long long)j->valuedouble);
	else
		snprintf(num, sizeof(num), "%.17g", j->valuedouble);
	out->kind = CFGTREE_SCALAR;
	out->s = strdup(s);
	return out->s ? 0 : -ENOMEM;
}

/* Reads a whole file into a NUL-terminated malloc'd buffer that the caller
 * frees; *len (when not NULL) gets its length without the NUL. Returns 0;
 * -errno when fopen() fails; -EFBIG past CFGTREE_MAX_FILE; -EIO on a read
 * error; -ENOMEM. *out is NULL on every failure. */
int cfgtree_read_file(const char *path, char **out, size_t *len)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	int rc = 0;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	while (b) {
		if (n + 1 >= cap) {
			if (cap >= CFGTREE_MAX_FILE) {
				rc = -EFBIG;
				break;
			}
			char *nb = realloc(b, cap * 2);
			if (!nb)
				break;
			b = nb;
			cap *= 2;
		}
		size_t r = fread(b + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				rc = -EIO;
			break;
		}
	}
	fclose(f);
	if (!b)
		return -ENOMEM;
	if (rc) {
		free(b);
		return rc;
	}
	b[n] = '\0';
	*out = b;
	if (len)
		*len = n;
	return 0;
}

/* Parses len bytes of text as YAML (json = 0; the first document only) or
 * JSON into *root, overwritten. An empty YAML document is a null node.
 * Returns 0; -EINVAL with "origin:line:col: YAML: ..." or "origin: invalid
 * JSON near offset N" in err; -ENOMEM. The caller frees *root with
 * cfgtree_node_free on success and on failure alike. */
int cfgtree_parse_text(struct cfgtree_ctx *x, const char *text, size_t len, int json, struct cfgtree_node *root)
{
	memset(root, 0, sizeof(*root));
	if (json) {
		cJSON *j = cJSON_ParseWithLength(text, len);
		if (!j) {
			const char *e = cJSON_GetErrorPtr();
			return cfgtree_fail(x, NULL, "invalid JSON near offset %zu",
					    e && e >= text && e <= text + len ? (size_t)(e - text) : (size_t)0);
		}
		int rc = cfgtree_from_json(x, j, root, 0);
		cJSON_Delete(j);
		return rc;
	}
	yaml_parser_t p;
	yaml_document_t d;
	int rc = 0;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &d)) {
		struct cfgtree_node at = {.line = (int)p.problem_mark.line + 1, .col = (int)p.problem_mark.column + 1};
		rc = cfgtree_fail(x, &at, "YAML: %s%s%s", p.problem ? p.problem : "syntax error",
				  p.context ? " " : "", p.context ? p.context : "");
		yaml_parser_delete(&p);
		return rc;
	}
	yaml_node_t *top = yaml_document_get_root_node(&d);
	if (top)
		rc = cfgtree_from_yaml(x, &d, top, root, 0);
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
	return rc;
}

/* Reads file path (resolved by the caller) and parses it as YAML, or JSON
 * when json, into *root, which is zeroed first. Returns 0; -ENOENT without
 * a message when the file does not exist, so callers that tolerate missing
 * files keep err as it was; another -errno (-EFBIG, -EIO, ...) with
 * "path: cannot read: <reason>" in err; or cfgtree_parse_text's failure.
 * The caller frees *root with cfgtree_node_free in every case. */
int cfgtree_load_file(struct cfgtree_ctx *x, const char *path, int json, struct cfgtree_node *root)
{
	char *text = NULL;
	size_t len = 0;
	memset(root, 0, sizeof(*root));
	int rc = cfgtree_read_file(path, &text, &len);
	if (rc) {
		if (rc != -ENOENT)
			snprintf(x->err, x->errlen, "%s: cannot read: %s", path, strerror(-rc));
		return rc;
	}
	rc = cfgtree_parse_text(x, text, len, json, root);
	free(text);
	return rc;
}

/* ---- readers ------------------------------------------------------------ */

/* Returns the kind as messages name it ("a mapping", "a list", "null",
 * "a scalar"); a static string. */
const char *cfgtree_kind_name(int k)
{
	return k == CFGTREE_MAP ? "a mapping" : k == CFGTREE_SEQ ? "a list" : k == CFGTREE_NULL ? "null" : "a scalar";
}

/* Checks that n is a mapping (null counts as an empty one) whose keys are
 * all scalars, none twice; `what` names n in messages. Returns 0 or -EINVAL
 * with err at the offending node. */
int cfgtree_want_map(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *what)
{
	if (n->kind == CFGTREE_NULL)
		return 0;
	if (n->kind != CFGTREE_MAP)
		return cfgtree_fail(x, n, "\"%s\" must be a mapping, not %s", what, cfgtree_kind_name(n->kind));
	for (size_t i = 0; i < n->n; i++) {
		const struct cfgtree_node *k = &n->kids[2 * i];
		if (k->kind != CFGTREE_SCALAR)
			return cfgtree_fail(x, k, "keys of \"%s\" must be strings", what);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(n->kids[2 * j].s, k->s))
				return cfgtree_fail(x, k, "key \"%s\" appears twice in \"%s\"", k->s, what);
	}
	return 0;
}

/* Checks that n is a list (null counts as an empty one). Returns 0 or
 * -EINVAL with err. */
int cfgtree_want_seq(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *what)
{
	if (n->kind == CFGTREE_NULL || n->kind == CFGTREE_SEQ)
		return 0;
	return cfgtree_fail(x, n, "\"%s\" must be a list, not %s", what, cfgtree_kind_name(n->kind));
}

/* Replaces *dst (freed) with a malloc'd copy of scalar n; `key` names n
 * in messages. Returns 0, -EINVAL with err when n is not a scalar (*dst
 * untouched), or -ENOMEM. */
int cfgtree_get_str(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, char **dst)
{
	if (n->kind != CFGTREE_SCALAR)
		return cfgtree_fail(x, n, "\"%s\" must be a string", key);
	char *s = strdup(n->s);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* Reads true/yes/on or false/no/off, any case, into *dst as 1 or 0.
 * Returns 0 or -EINVAL with err (*dst untouched). */
int cfgtree_get_bool(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, int *dst)
{
	if (n->kind == CFGTREE_SCALAR && (!strcasecmp(n->s, "true") || !strcasecmp(n->s, "yes") || !strcasecmp(n->s, "on")))
		*dst = 1;
	else if (n->kind == CFGTREE_SCALAR &&
		 (!strcasecmp(n->s, "false") || !strcasecmp(n->s, "no") || !strcasecmp(n->s, "off")))
		*dst = 0;
	else
		return cfgtree_fail(x, n, "\"%s\" must be true or false", key);
	return 0;
}

/* Reads a decimal integer from 0 to UINT64_MAX (no sign, no space) into
 * *dst. Returns 0 or -EINVAL with err (*dst untouched). */
int cfgtree_get_uint(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, uint64_t *dst)
{
	char *end;
	if (n->kind != CFGTREE_SCALAR || !isdigit((unsigned char)n->s[0]))
		return cfgtree_fail(x, n, "\"%s\" must be a non-negative integer", key);
	errno = 0;
	unsigned long long v = strtoull(n->s, &end, 10);
	if (*end || errno)
		return cfgtree_fail(x, n, "\"%s\" must be a non-negative integer, not \"%s\"", key, n->s);
	*dst = v;
	return 0;
}

/* Reads a Prometheus duration ("15s", "1m30s", "500ms"; config.h's
 * config_parse_duration) into *dst in milliseconds. Returns 0 or -EINVAL
 * with err. */
int cfgtree_get_duration(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, int64_t *dst)
{
	if (n->kind != CFGTREE_SCALAR || config_parse_duration(n->s, dst) != 0)
		return cfgtree_fail(x, n, "\"%s\": not a valid duration \"%s\" (want e.g. 15s, 1m30s, 500ms)", key,
				    n->kind == CFGTREE_SCALAR ? n->s : cfgtree_kind_name(n->kind));
	return 0;
}

/* Appends the strings of list n (null: none) to *list, *count of them,
 * each malloc'd; the array is grown to hold one spare slot. The caller owns
 * the array and the strings, also after a failure, when *count covers those
 * copied so far. Returns 0, -EINVAL with err, or -ENOMEM. */
int cfgtree_get_strlist(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, char ***list,
			size_t *count)
{
	int rc = cfgtree_want_seq(x, n, key);
	if (rc || n->kind == CFGTREE_NULL)
		return rc;
	char **a = realloc(*list, (*count + n->n + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	*list = a;
	for (size_t i = 0; i < n->n; i++) {
		if (n->kids[i].kind != CFGTREE_SCALAR)
			return cfgtree_fail(x, &n->kids[i], "items of \"%s\" must be strings", key);
		if (!(a[(*count)++] = strdup(n->kids[i].s)))
			return -ENOMEM;
	}
	return 0;
}

/* Frees n strings and the array, as cfgtree_get_strlist fills them.
 * Accepts NULL. */
void cfgtree_strs_free(char **s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i]);
	free(s);
}

/* Writes duration ms (>= 0) into buf as Prometheus' model.Duration.String()
 * does ("1m30s", "1d", "0s"): the form cfgtree_get_duration reads back.
 * Years and weeks are used only when exact. Cut to fit len (> 0). */
void cfgtree_format_duration(int64_t ms, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		int64_t mult;
		int exact;
	} u[] = {{"y", 31536000000LL, 1}, {"w", 604800000LL, 1}, {"d", 86400000LL, 0}, {"h", 3600000LL, 0},
		 {"m", 60000LL, 0},        {"s", 1000LL, 0},        {"ms", 1LL, 0}};
	size_t o = 0;
	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (u[i].exact && ms % u[i].mult)
			continue;
		int64_t v = ms / u[i].mult;
		if (v > 0 && o < len) {
			o += (size_t)snprintf(buf + o, len - o, "%lld%s", (long long)v, u[i].unit);
			ms -= v * u[i].mult;
		}
	}
}

/* Returns 1 when key is one of the NULL-terminated list, else 0. */
int cfgtree_in(const char *key, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(key, *list))
			return 1;
	return 0;
}

/* ---- files -------------------------------------------------------------- */

/* Resolves file name p against x->dir (the directory of the document being
 * read) unless p is absolute or there is no dir. Returns a malloc'd string
 * the caller frees, or NULL when out of memory. */
char *cfgtree_path(const struct cfgtree_ctx *x, const char *p)
{
	char *r;
	if (p[0] == '/' || !x->dir)
		return strdup(p);
	return asprintf(&r, "%s/%s", x->dir, p) < 0 ? NULL : r;
}

/* Reads the file that scalar n names (relative to x->dir) and replaces
 * *dst (freed) with its contents trimmed of surrounding white space, as
 * Prometheus does for password_file and credentials_file. Returns 0;
 * -EINVAL with err when n is not a scalar or the file cannot be read (*dst
 * untouched); -ENOMEM. */
int cfgtree_get_file_text(struct cfgtree_ctx *x, const struct cfgtree_node *n, const char *key, char **dst)
{
	if (n->kind != CFGTREE_SCALAR)
		return cfgtree_fail(x, n, "\"%s\" must be a file name", key);
	char *path = cfgtree_path(x, n->s), *text = NULL;
	if (!path)
		return -ENOMEM;
	int rc = cfgtree_read_file(path, &text, NULL);
	if (rc) {
		rc = rc == -ENOMEM ? rc : cfgtree_fail(x, n, "\"%s\": cannot read %s: %s", key, path, strerror(-rc));
		free(path);
		return rc;
	}
	free(path);
	char *b = text, *e = text + strlen(text);
	while (*b && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	*e = '\0';
	memmove(text, b, (size_t)(e - b) + 1);
	free(*dst);
	*dst = text;
	return 0;
}
