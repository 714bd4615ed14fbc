/* alerts: the alert-state table an alerter publishes in shared memory
 * ("/mcs.<instance>.alerts.<k>") for the apiservers to read.
 *
 * One writer (alerter k), any number of readers. Consistency by a seqlock:
 * the writer makes seq odd, updates, makes it even; a reader copies and
 * retries while seq was odd or changed. Readers never block the writer.
 */
#ifndef MCS_ALERTS_H
#define MCS_ALERTS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

#include "shm/segment.h"

#define ALERTS_MAGIC   0x31544c4153434dULL /* "MCSALT1" */
#define ALERTS_VERSION 1u
#define ALERTS_MAX     1024u

enum alerts_state {
	ALERTS_INACTIVE = 0,
	ALERTS_PENDING = 1,
	ALERTS_FIRING = 2,
	ALERTS_RESOLVED = 3, /* kept for a while after it stops firing */
};

struct alerts_entry {
	char rule[128];           /* alert name (the rule's `alert`) */
	uint8_t labels[1024];     /* series key of the alert's labels (series.h), alertname included */
	uint16_t labels_len;
	uint16_t pad;
	uint32_t state;           /* enum alerts_state */
	int64_t active_at_ms;     /* when it became pending */
	int64_t fired_at_ms;      /* when it started firing, 0 if never */
	int64_t resolved_at_ms;   /* when it resolved, 0 if not */
	int64_t last_eval_ms;
	double value;             /* the sample value that was last evaluated */
	char annotations[1024];   /* JSON object text, e.g. {"summary":"..."} */
};

struct alerts_table {
	_Atomic uint64_t magic;
	uint32_t version;
	uint32_t index;           /* alerter index */
	_Atomic uint32_t seq;     /* seqlock: odd while the writer updates */
	uint32_t count;           /* entries in use */
	int64_t updated_ms;
	struct alerts_entry e[ALERTS_MAX];
};

struct alerts {
	struct segment seg;
	struct alerts_table *t;
};

/* Writer: creates or re-attaches the table of alerter `index`. 0 or -errno. */
int alerts_create(struct alerts *a, const char *instance, uint32_t index);
/* Reader: attaches read-only. 0, -ENOENT, -EPROTO or -errno. */
int alerts_attach(struct alerts *a, const char *instance, uint32_t index);
void alerts_close(struct alerts *a);

/* Writer: bracket every change of the table. */
void alerts_write_begin(struct alerts *a);
void alerts_write_end(struct alerts *a);

/* Reader: copies up to max entries into out. Returns the count, or -EAGAIN
 * when the writer kept changing the table for the whole bounded retry. */
int alerts_snapshot(const struct alerts *a, struct alerts_entry *out, size_t max);

#endif
