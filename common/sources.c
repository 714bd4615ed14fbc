/* sources: see sources.h.
 *
 * Sections: names and small checks; one source (free, id, the JSON text
 * entry point); document invariants (sources_check); the document and its
 * JSON; the file (load, atomic save, locked read-modify-write); what the
 * collector needs. The validation of one source object (scrape job, push
 * labels and endpoints, node collectors) is sourcesparse.c; the helpers
 * the two files share are declared in sources_pvt.h.
 *
 * Parsing goes through cJSON and then into the typed struct, so everything
 * downstream (the file writer, the API, the collector) sees only validated,
 * normalised sources. The scrape job is the one part kept as JSON text: its
 * schema belongs to scrapeconf, which checks it.
 */
#include "common/sources.h"
#include "common/sources_pvt.h"
#include "common/sourcesparse.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* ---- names and small checks ---- */

const char *const sources_ep_names[SOURCES_NEP] = {"prometheus", "remote_write", "otlp", "influx"};
const char *const sources_coll_names[SOURCES_NCOLLECTORS] = {
	"cpu", "meminfo", "loadavg", "stat", "pressure", "diskstats", "filesystem", "netdev", "time", "uname"};
const char *const sources_type_names[3] = {"scrape", "push", "node"};

const char *sources_endpoint_name(unsigned i)
{
	return i < SOURCES_NEP ? sources_ep_names[i] : NULL;
}

const char *sources_collector_name(unsigned i)
{
	return i < SOURCES_NCOLLECTORS ? sources_coll_names[i] : NULL;
}

const char *sources_type_name(enum sources_type t)
{
	return (unsigned)t < 3 ? sources_type_names[t] : "?";
}

int sources_id_ok(const char *id)
{
	size_t n = 0;
	if (!id)
		return 0;
	for (; id[n]; n++) {
		char c = id[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= SOURCES_ID_MAX;
}

/* Writes "ctx" + message into err (nothing when err is NULL or errlen 0;
 * cut to errlen). Cannot fail. */
void sources_err(char *err, size_t errlen, const char *ctx, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	int n = snprintf(err, errlen, "%s", ctx ? ctx : "");
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* 1 when object o has two members with the same key; *dup names it. */
int sources_has_dup_key(const cJSON *o, const char **dup)
{
	for (const cJSON *a = o->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (strcmp(a->string, b->string) == 0) {
				*dup = a->string;
				return 1;
			}
	return 0;
}

/* Formats ms as the shortest exact Prometheus duration ("15s", "1500ms"). */
static void sources_fmt_duration(int64_t ms, char *buf, size_t len)
{
	if (ms % 3600000 == 0)
		snprintf(buf, len, "%" PRId64 "h", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%" PRId64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRId64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRId64 "ms", ms);
}

/* ---- one source ---- */

void sources_source_free(struct sources_source *src)
{
	if (!src)
		return;
	free(src->name);
	free(src->job);
	free(src->job_name);
	for (size_t i = 0; i < src->nlabels; i++) {
		free(src->labels[i].name);
		free(src->labels[i].value);
	}
	free(src->labels);
	memset(src, 0, sizeof(*src));
}

/* qsort comparator of struct sources_label by name. */
int sources_label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sources_label *)a)->name, ((const struct sources_label *)b)->name);
}

int sources_set_id(struct sources_source *src, const char *id)
{
	snprintf(src->id, sizeof(src->id), "%s", id);
	if (src->type != SOURCES_SCRAPE || src->job_name || !src->job)
		return 0;
	cJSON *job = cJSON_Parse(src->job);
	if (!job)
		return -ENOMEM;
	char *text = NULL, *name = strdup(id);
	if (name && cJSON_AddStringToObject(job, "job_name", id))
		text = cJSON_PrintUnformatted(job);
	cJSON_Delete(job);
	if (!text) {
		free(name);
		return -ENOMEM;
	}
	free(src->job);
	src->job = text;
	src->job_name = name;
	return 0;
}

int sources_parse_source(const char *json, size_t len, const char *want_id, struct sources_source *out,
			 char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!o) {
		size_t off = end && end >= json ? (size_t)(end - json) : 0;
		sources_err(err, errlen, NULL, "body is not valid JSON (error near byte %zu)", off);
		return -EINVAL;
	}
	for (; end && (size_t)(end - json) < len; end++)
		if (!isspace((unsigned char)*end)) {
			cJSON_Delete(o);
			sources_err(err, errlen, NULL, "body has data after the JSON value (byte %zu)",
				    (size_t)(end - json));
			return -EINVAL;
		}
	int rc = sourcesparse_obj(o, want_id, 0, out, NULL, err, errlen);
	cJSON_Delete(o);
	if (rc != 0) {
		if (rc == -ENOMEM)
			sources_err(err, errlen, NULL, "out of memory");
		sources_source_free(out);
	}
	return rc;
}

/* ---- the document ---- */

void sources_init(struct sources *s)
{
	memset(s, 0, sizeof(*s));
}

void sources_free(struct sources *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		sources_source_free(&s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

long sources_find(const struct sources *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].id, id) == 0)
			return (long)i;
	return -1;
}

/* The job_name a scrape source ends up with. */
static const char *sources_job_name(const struct sources_source *src)
{
	return src->job_name ? src->job_name : src->id;
}

int sources_check(const struct sources *s, const struct sources_source *src, size_t replace, char *err,
		  size_t errlen)
{
	if (replace == SIZE_MAX && s->n >= SOURCES_MAX) {
		sources_err(err, errlen, NULL, "too many sources (at most %d)", SOURCES_MAX);
		return -ENOSPC;
	}
	size_t nlab[SOURCES_NEP] = {0};
	for (size_t i = 0; i < s->n; i++) {
		const struct sources_source *o = &s->v[i];
		if (i == replace)
			continue;
		if (strcmp(o->id, src->id) == 0) {
			sources_err(err, errlen, NULL, "a source with id \"%s\" already exists", src->id);
			return -EEXIST;
		}
		if (o->type != src->type)
			continue;
		if (o->type == SOURCES_NODE) {
			sources_err(err, errlen, NULL,
				    "there can be only one node source and \"%s\" is it; change it with PUT", o->id);
			return -EEXIST;
		}
		if (o->type == SOURCES_SCRAPE && strcmp(sources_job_name(o), sources_job_name(src)) == 0) {
			sources_err(err, errlen, NULL, "\"job.job_name\" \"%s\" is already used by source \"%s\"",
				    sources_job_name(src), o->id);
			return -EEXIST;
		}
		if (o->type != SOURCES_PUSH || !o->enabled || !src->enabled)
			continue;
		for (unsigned e = 0; e < SOURCES_NEP; e++) {
			if (!(o->endpoints & src->endpoints & (1u << e)))
				continue;
			nlab[e] += o->nlabels;
			for (size_t a = 0; a < o->nlabels; a++)
				for (size_t b = 0; b < src->nlabels; b++)
					if (strcmp(o->labels[a].name, src->labels[b].name) == 0) {
						sources_err(err, errlen, NULL,
							    "\"labels.%s\": push source \"%s\" already sets this label "
							    "for endpoint %s",
							    src->labels[b].name, o->id, sources_ep_names[e]);
						return -EEXIST;
					}
		}
	}
	if (src->type == SOURCES_PUSH && src->enabled)
		for (unsigned e = 0; e < SOURCES_NEP; e++)
			if ((src->endpoints & (1u << e)) && nlab[e] + src->nlabels > SOURCES_MAX_LABELS) {
				sources_err(err, errlen, NULL,
					    "\"labels\": endpoint %s would get %zu static labels, at most %d",
					    sources_ep_names[e], nlab[e] + src->nlabels, SOURCES_MAX_LABELS);
				return -ENOSPC;
			}
	return 0;
}

void sources_new_id(const struct sources *s, enum sources_type t, char *id)
{
	for (;;) {
		uint64_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			r ^= ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
		}
		snprintf(id, SOURCES_ID_MAX + 1, "%s-%012" PRIx64, sources_type_name(t), (uint64_t)(r & 0xffffffffffffull));
		if (sources_find(s, id) < 0)
			return;
	}
}

int sources_append(struct sources *s, struct sources_source *src)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 8;
		struct sources_source *nv = realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = *src;
	memset(src, 0, sizeof(*src));
	return 0;
}

void sources_replace(struct sources *s, size_t i, struct sources_source *src)
{
	sources_source_free(&s->v[i]);
	s->v[i] = *src;
	memset(src, 0, sizeof(*src));
}

void sources_remove(struct sources *s, size_t i)
{
	sources_source_free(&s->v[i]);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

/* ---- JSON out ---- */

/* The cJSON object of one source, or NULL on -ENOMEM. The job_name of a
 * scrape source whose job had none is set to the id here. */
static cJSON *sources_source_obj(const struct sources_source *src)
{
	char dur[32];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	int ok = cJSON_AddStringToObject(o, "id", src->id) &&
		 cJSON_AddStringToObject(o, "type", sources_type_name(src->type)) &&
		 cJSON_AddStringToObject(o, "name", src->name ? src->name : src->id) &&
		 cJSON_AddBoolToObject(o, "enabled", src->enabled);
	if (!ok)
		goto fail;
	if (src->type == SOURCES_SCRAPE) {
		cJSON *job = cJSON_Parse(src->job ? src->job : "{}");
		if (!job || !cJSON_AddItemToObject(o, "job", job)) {
			cJSON_Delete(job);
			goto fail;
		}
		if (!src->job_name) {
			cJSON_DeleteItemFromObjectCaseSensitive(job, "job_name");
			if (!cJSON_AddStringToObject(job, "job_name", src->id))
				goto fail;
		}
	} else if (src->type == SOURCES_PUSH) {
		cJSON *l = cJSON_AddObjectToObject(o, "labels");
		cJSON *e = cJSON_AddArrayToObject(o, "endpoints");
		if (!l || !e)
			goto fail;
		for (size_t i = 0; i < src->nlabels; i++)
			if (!cJSON_AddStringToObject(l, src->labels[i].name, src->labels[i].value))
				goto fail;
		for (unsigned i = 0; i < SOURCES_NEP; i++) {
			cJSON *n;
			if ((src->endpoints & (1u << i)) &&
			    (!(n = cJSON_CreateString(sources_ep_names[i])) || !cJSON_AddItemToArray(e, n)))
				goto fail;
		}
	} else {
		cJSON *c = cJSON_AddObjectToObject(o, "collectors");
		if (!c)
			goto fail;
		for (unsigned i = 0; i < SOURCES_NCOLLECTORS; i++)
			if (!cJSON_AddBoolToObject(c, sources_coll_names[i], (src->collectors >> i) & 1))
				goto fail;
		if (src->interval_ms) {
			sources_fmt_duration(src->interval_ms, dur, sizeof(dur));
			if (!cJSON_AddStringToObject(o, "interval", dur))
				goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

char *sources_source_to_json(const struct sources_source *src)
{
	cJSON *o = sources_source_obj(src);
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return text;
}

/* {"version":1 (file only), "sources":[...]} as text. */
static char *sources_doc_text(const struct sources *s, int file)
{
	char *text = NULL;
	cJSON *root = cJSON_CreateObject();
	if (!root || (file && !cJSON_AddNumberToObject(root, "version", SOURCES_VERSION)))
		goto out;
	cJSON *arr = cJSON_AddArrayToObject(root, "sources");
	if (!arr)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		cJSON *o = sources_source_obj(&s->v[i]);
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			goto out;
		}
	}
	text = file ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return text;
}

char *sources_list_json(const struct sources *s)
{
	return sources_doc_text(s, 0);
}

char *sources_to_json(const struct sources *s)
{
	return sources_doc_text(s, 1);
}

/* ---- JSON in: the document ---- */

int sources_from_json(struct sources *s, const char *text, size_t len, const char *origin, char *err,
		      size_t errlen)
{
	char ctx[160];
	const char *end = NULL;
	struct sources doc;
	sources_init(&doc);
	if (!origin)
		origin = SOURCES_FILE;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root) {
		size_t line = 1, col = 1;
		for (const char *p = text; end && p < end && p < text + len; p++) {
			if (*p == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		sources_err(err, errlen, NULL, "%s:%zu:%zu: JSON syntax error", origin, line, col);
		return -EINVAL;
	}
	int rc = -EINVAL;
	const char *dup;
	if (!cJSON_IsObject(root)) {
		sources_err(err, errlen, NULL, "%s: the document must be an object {\"version\":1,\"sources\":[...]}",
			    origin);
		goto out;
	}
	if (sources_has_dup_key(root, &dup)) {
		sources_err(err, errlen, NULL, "%s: key \"%s\" given twice", origin, dup);
		goto out;
	}
	for (const cJSON *k = root->child; k; k = k->next)
		if (strcmp(k->string, "version") != 0 && strcmp(k->string, "sources") != 0) {
			sources_err(err, errlen, NULL, "%s: unknown key \"%.64s\"", origin, k->string);
			goto out;
		}
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (ver && !(cJSON_IsNumber(ver) && ver->valuedouble == SOURCES_VERSION)) {
		sources_err(err, errlen, NULL, "%s: unsupported \"version\" (this build reads %d)", origin,
			    SOURCES_VERSION);
		goto out;
	}
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "sources");
	if (!cJSON_IsArray(arr)) {
		sources_err(err, errlen, NULL, "%s: \"sources\" must be an array", origin);
		goto out;
	}
	size_t i = 0;
	for (const cJSON *o = arr->child; o; o = o->next, i++) {
		struct sources_source src;
		memset(&src, 0, sizeof(src));
		snprintf(ctx, sizeof(ctx), "%s: sources[%zu]: ", origin, i);
		rc = sourcesparse_obj(o, NULL, 1, &src, ctx, err, errlen);
		if (rc == 0) {
			char cerr[384];
			rc = sources_check(&doc, &src, SIZE_MAX, cerr, sizeof(cerr));
			if (rc != 0) {
				sources_err(err, errlen, ctx, "%s", cerr);
				rc = -EINVAL;
			}
		}
		if (rc == 0)
			rc = sources_append(&doc, &src);
		if (rc != 0) {
			if (rc == -ENOMEM)
				sources_err(err, errlen, NULL, "%s: out of memory", origin);
			sources_source_free(&src);
			goto out;
		}
	}
	sources_free(s);
	*s = doc;
	sources_init(&doc);
	rc = 0;
out:
	sources_free(&doc);
	cJSON_Delete(root);
	return rc;
}

/* ---- the file ---- */

int sources_path(char *buf, size_t len, const char *data_dir, const char *file)
{
	int n = snprintf(buf, len, "%s/%s", data_dir && *data_dir ? data_dir : ".", file);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int sources_load(struct sources *s, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			sources_free(s);
			return 0;
		}
		int e = errno;
		sources_err(err, errlen, NULL, "%s: open: %s", path, strerror(e));
		return -e;
	}
	struct stat sb;
	char *buf = NULL;
	int rc;
	if (fstat(fd, &sb) != 0) {
		rc = -errno;
		sources_err(err, errlen, NULL, "%s: fstat: %s", path, strerror(-rc));
		goto out;
	}
	if (sb.st_size > SOURCES_FILE_MAX) {
		rc = -EFBIG;
		sources_err(err, errlen, NULL, "%s: %lld bytes, larger than the limit of %d", path,
			    (long long)sb.st_size, SOURCES_FILE_MAX);
		goto out;
	}
	size_t cap = (size_t)sb.st_size + 1, len = 0;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		sources_err(err, errlen, NULL, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			sources_err(err, errlen, NULL, "%s: read: %s", path, strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == cap) { /* the file grew since fstat: it was not written atomically */
			rc = -EINVAL;
			sources_err(err, errlen, NULL, "%s: changed size while being read", path);
			goto out;
		}
	}
	rc = sources_from_json(s, buf, len, path, err, errlen);
out:
	free(buf);
	close(fd);
	return rc;
}

/* Writes all of buf to fd. Returns 0 or -errno. */
static int sources_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int sources_save(const struct sources *s, const char *path, char *err, size_t errlen)
{
	char tmp[4096], dir[4096];
	int rc, fd = -1;
	char *text = sources_to_json(s);
	if (!text) {
		sources_err(err, errlen, NULL, "%s: out of memory", path);
		return -ENOMEM;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		free(text);
		sources_err(err, errlen, NULL, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		sources_err(err, errlen, NULL, "open(%s) failed: %s", tmp, strerror(-rc));
		goto out;
	}
	size_t len = strlen(text);
	if ((rc = sources_write_all(fd, text, len)) != 0 || (rc = sources_write_all(fd, "\n", 1)) != 0) {
		sources_err(err, errlen, NULL, "write(%s) failed: %s", tmp, strerror(-rc));
		goto out_unlink;
	}
	if (fsync(fd) != 0) {
		rc = -errno;
		sources_err(err, errlen, NULL, "fsync(%s) failed: %s", tmp, strerror(-rc));
		goto out_unlink;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		sources_err(err, errlen, NULL, "close(%s) failed: %s", tmp, strerror(-rc));
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = -errno;
		sources_err(err, errlen, NULL, "rename(%s, %s) failed: %s", tmp, path, strerror(-rc));
		goto out_unlink;
	}
	/* The rename is durable only once the directory is. */
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		rc = -errno;
		sources_err(err, errlen, NULL, "fsync of directory %s failed: %s", dir, strerror(-rc));
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	close(dfd);
	rc = 0;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}

int sources_modify(const char *data_dir, sources_modify_fn fn, void *arg, char *err, size_t errlen)
{
	char lock[4096], path[4096];
	if (sources_path(lock, sizeof(lock), data_dir, SOURCES_LOCK_FILE) != 0 ||
	    sources_path(path, sizeof(path), data_dir, SOURCES_FILE) != 0) {
		sources_err(err, errlen, NULL, "data_dir path too long");
		return -ENAMETOOLONG;
	}
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT && data_dir && *data_dir && mkdir(data_dir, 0755) == 0)
		fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		sources_err(err, errlen, NULL, "open(%s) failed: %s", lock, strerror(e));
		return -e;
	}
	int rc;
	while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
		;
	if (rc != 0) {
		rc = -errno;
		sources_err(err, errlen, NULL, "flock(%s) failed: %s", lock, strerror(-rc));
		close(fd);
		return rc;
	}
	struct sources s;
	sources_init(&s);
	rc = sources_load(&s, path, err, errlen);
	if (rc == -EINVAL)
		rc = -EBADMSG;
	if (rc == 0)
		rc = fn(&s, arg, err, errlen);
	if (rc == 0)
		rc = sources_save(&s, path, err, errlen);
	sources_free(&s);
	close(fd); /* releases the flock */
	return rc;
}

/* ---- for the collector ---- */

size_t sources_push_labels(const struct sources *s, uint32_t ep, struct sources_label *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct sources_source *src = &s->v[i];
		if (src->type != SOURCES_PUSH || !src->enabled || !(src->endpoints & ep))
			continue;
		for (size_t l = 0; l < src->nlabels && n < max; l++) {
			size_t k;
			for (k = 0; k < n; k++)
				if (strcmp(out[k].name, src->labels[l].name) == 0)
					break;
			if (k == n)
				out[n++] = src->labels[l];
		}
	}
	qsort(out, n, sizeof(*out), sources_label_cmp);
	return n;
}
