/* sources: the /metrics/sources document — what the service collects
 * beyond its configuration file — as a validated in-memory model, its JSON
 * form, and its persistence in <data_dir>/sources.json.
 *
 * A source is one JSON object:
 *   {"id": "[a-z0-9_-]{1,64}", "type": "scrape"|"push"|"node",
 *    "name": "...", "enabled": true, ...per type}
 *   scrape  "job": a Prometheus scrape job as JSON (job_name,
 *           static_configs, scrape_interval, ...), checked with
 *           scrapeconf_add_json_job; job_name defaults to the id.
 *   push    "labels": {"team": "a"} static labels added to every pushed
 *           sample that lacks them (Prometheus label names, not "__*",
 *           non-empty values); "endpoints": ["prometheus", "remote_write",
 *           "otlp", "influx"], default all.
 *   node    "collectors": {"cpu": true, ...} switches of the node agent
 *           (absent ones stay on); "interval": "15s" (absent: the
 *           instance's scrape interval).
 * Unknown keys, duplicate keys and wrong types are errors naming the field.
 * The stored form is normalised: name defaults to the id, enabled is
 * explicit, endpoints and collectors are listed in full.
 *
 * The file is {"version": 1, "sources": [...]}, written whole to a
 * temporary file, fsynced, renamed over sources.json, and the directory
 * fsynced: readers see the old or the new document, never a mix. Writers
 * (several apiserver processes) serialise read-modify-write with an flock
 * on <data_dir>/sources.lock; readers need no lock.
 *
 * Not here: HTTP (apiserver/sourcesapi.c), applying sources in the
 * collector (collector/sourceswatch.c), scrape job semantics
 * (common/scrapeconf.c).
 *
 * Invariants of a struct sources: ids are unique; at most one node source;
 * every scrape source's job_name is unique; for every push endpoint, the
 * enabled push sources applying to it never set one label name twice and
 * set at most SOURCES_MAX_LABELS names in all. sources_check enforces this
 * for writes, and loading a file enforces it too: a hand-edited file that
 * breaks it is refused like a corrupt one.
 */
#ifndef MCS_SOURCES_H
#define MCS_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#define SOURCES_FILE          "sources.json"
#define SOURCES_LOCK_FILE     "sources.lock"
#define SOURCES_VERSION       1
#define SOURCES_ID_MAX        64          /* bytes of an id */
#define SOURCES_NAME_MAX      256         /* bytes of a name */
#define SOURCES_MAX           1024        /* sources in a document */
#define SOURCES_MAX_LABELS    32          /* static labels per endpoint (= INGEST_MAX_EXTRA) */
#define SOURCES_LABEL_MAX     1024        /* bytes of a label name or value */
#define SOURCES_FILE_MAX      (64 << 20)  /* bytes of sources.json */

enum sources_type {
	SOURCES_SCRAPE = 0,
	SOURCES_PUSH = 1,
	SOURCES_NODE = 2,
};

/* Push endpoints a push source applies to (bit i = sources_endpoint_name(i)). */
#define SOURCES_EP_PROMETHEUS   (1u << 0)   /* /api/v1/import/prometheus */
#define SOURCES_EP_REMOTE_WRITE (1u << 1)   /* /api/v1/write */
#define SOURCES_EP_OTLP         (1u << 2)   /* /v1/metrics */
#define SOURCES_EP_INFLUX       (1u << 3)   /* /write, /api/v2/write */
#define SOURCES_NEP             4
#define SOURCES_EP_ALL          0xfu

/* Node agent collectors (bit i = sources_collector_name(i)); the same bits
 * as NODEAGENT_* in collector/nodeagent.h. */
#define SOURCES_NCOLLECTORS     10
#define SOURCES_COLLECTORS_ALL  0x3ffu

struct sources_label {
	char *name;                /* owned */
	char *value;               /* owned */
};

struct sources_source {
	char id[SOURCES_ID_MAX + 1];
	enum sources_type type;
	char *name;                /* owned; the id when not given */
	int enabled;
	/* scrape */
	char *job;                 /* owned: the job as compact JSON, job_name filled in */
	char *job_name;            /* owned: copy of the job's job_name */
	/* push */
	struct sources_label *labels; /* owned, sorted by name */
	size_t nlabels;
	uint32_t endpoints;        /* SOURCES_EP_* */
	/* node */
	uint32_t collectors;       /* bits of enabled collectors */
	int64_t interval_ms;       /* 0: the instance default */
};

/* A document: sources in insertion order. The caller owns the struct;
 * sources_init fills it, sources_free empties it. */
struct sources {
	struct sources_source *v;
	size_t n, cap;
};

void sources_init(struct sources *s);
void sources_free(struct sources *s);
void sources_source_free(struct sources_source *src);

/* Names of endpoint bit i / collector bit i, NULL out of range. */
const char *sources_endpoint_name(unsigned i);
const char *sources_collector_name(unsigned i);
const char *sources_type_name(enum sources_type t);

/* 1 when id matches [a-z0-9_-]{1,64}. */
int sources_id_ok(const char *id);

/* Parses and validates one source from JSON text (a request body). The id
 * may be absent (then out->id is ""); when want_id is not NULL, an id in
 * the body must equal it and out->id is set to it. Fills *out (free with
 * sources_source_free) and returns 0, or returns -EINVAL with a message
 * naming the field in err and *out left empty. */
int sources_parse_source(const char *json, size_t len, const char *want_id, struct sources_source *out,
			 char *err, size_t errlen);

/* Sets src's id (an assigned one) and, for a scrape source whose job had
 * no job_name, fills job_name in with it. Returns 0 or -ENOMEM. */
int sources_set_id(struct sources_source *src, const char *id);

/* Checks src against the document as it would be with src at index
 * `replace` (SIZE_MAX: src added). Returns 0, -EEXIST when src conflicts
 * (same id, a second node source, a duplicate job_name, a push label set
 * twice for one endpoint) or -ENOSPC (document full, too many labels for an
 * endpoint), each with a message in err. */
int sources_check(const struct sources *s, const struct sources_source *src, size_t replace,
		  char *err, size_t errlen);

/* Index of the source with this id, or -1. */
long sources_find(const struct sources *s, const char *id);

/* Writes a fresh id for a source of type t ("<type>-<12 hex>") not used in
 * s into id[SOURCES_ID_MAX + 1]. */
void sources_new_id(const struct sources *s, enum sources_type t, char *id);

/* Appends src (moved: *src is left empty). Returns 0 or -ENOMEM (src kept). */
int sources_append(struct sources *s, struct sources_source *src);

/* Replaces source i by src (moved); the old one is freed. */
void sources_replace(struct sources *s, size_t i, struct sources_source *src);

/* Removes source i. */
void sources_remove(struct sources *s, size_t i);

/* The JSON of one source (compact, malloc'd) or NULL on -ENOMEM. */
char *sources_source_to_json(const struct sources_source *src);

/* {"sources":[...]} (compact, malloc'd: the API's list) or NULL. */
char *sources_list_json(const struct sources *s);

/* Replaces *s with the document in text. Returns 0, or -EINVAL with
 * "origin: what and where" in err and *s unchanged, or -ENOMEM. */
int sources_from_json(struct sources *s, const char *text, size_t len, const char *origin,
		      char *err, size_t errlen);

/* The file form ({"version":1,"sources":[...]}, formatted) or NULL. */
char *sources_to_json(const struct sources *s);

/* "<data_dir>/<file>" into buf. Returns 0 or -ENAMETOOLONG. */
int sources_path(char *buf, size_t len, const char *data_dir, const char *file);

/* Loads the file at path into *s (replacing it). A missing file is an
 * empty document. Returns 0; -EINVAL (bad content), -EFBIG (larger than
 * SOURCES_FILE_MAX) or -errno (unreadable), with "path: error" in err and
 * *s unchanged. */
int sources_load(struct sources *s, const char *path, char *err, size_t errlen);

/* Writes *s to path atomically: "<path>.tmp.<pid>", write, fsync, rename,
 * fsync of the directory. Returns 0 or -errno with the failing call named
 * in err; the temporary file is removed on failure and path is untouched. */
int sources_save(const struct sources *s, const char *path, char *err, size_t errlen);

/* A read-modify-write of <data_dir>/sources.json under the exclusive flock
 * of <data_dir>/sources.lock: loads, calls fn(s, arg, err, errlen), and
 * saves when fn returns 0. Returns what fn returned (its err message kept),
 * or the -errno of locking, loading or saving with err filled. A corrupt
 * file is never overwritten: it gives -EBADMSG (err says what is wrong). */
typedef int (*sources_modify_fn)(struct sources *s, void *arg, char *err, size_t errlen);
int sources_modify(const char *data_dir, sources_modify_fn fn, void *arg, char *err, size_t errlen);

/* The static labels for push endpoint bit `ep` (SOURCES_EP_*): the labels
 * of every enabled push source that applies to it, in document order, the
 * first source winning a name set twice. Fills out[0..max) with borrowed
 * pointers, sorted by name; returns the count (at most max). */
size_t sources_push_labels(const struct sources *s, uint32_t ep, struct sources_label *out, size_t max);

#endif
