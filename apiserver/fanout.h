/* fanout: sends one query to every aggregator and merges their answers.
 *
 * The apiserver p owns, per aggregator j, the producer side of the query
 * ring "pP-aJ-q" and the consumer side of the reply ring "aJ-pP-r". A query
 * gets a qid unique to this process ((pid << 32) | counter); it is written
 * to every query ring, then the reply rings are read until every aggregator
 * has sent REC_END for that qid, or the deadline passes. Records of any
 * other qid are answers to queries this process (or a previous incarnation)
 * gave up on: they are released unread.
 *
 * Merging: a series lives in exactly one aggregator, but may arrive in
 * several REC_SERIES pieces; pieces with the same key are concatenated
 * (points stay in time order). Strings (label names or values) are
 * collected from all aggregators and then sorted and deduplicated.
 *
 * One query at a time: fanout_query blocks the caller (the event loop) for
 * at most the timeout, calling stage_beat as it waits.
 *
 * Not here: what a query means (eval.c), HTTP (api.c).
 */
#ifndef MCS_APISERVER_FANOUT_H
#define MCS_APISERVER_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "common/records.h"
#include "common/stage.h"
#include "shm/ring.h"

#define FANOUT_MAX_AGGREGATORS 64u   /* ring_wait_any's limit */
#define FANOUT_SLICE_MS        200   /* longest wait between heartbeats */

/* One merged series. Owned by its fanout_result. */
struct fanout_series {
	uint8_t *key;          /* canonical series key, owned copy */
	uint16_t key_len;
	uint64_t id;           /* series_id(key) */
	struct rec_point *pts; /* owned, npts used of cap */
	uint32_t npts;
	uint32_t cap;
};

/* One string of a REC_STRINGS answer: bytes in fanout_result.sbuf. */
struct fanout_str {
	uint32_t off;
	uint32_t len;
};

/* A merged answer. Zero it before first use (or fanout_result_init);
 * fanout_result_free releases everything. */
struct fanout_result {
	struct fanout_series *series;
	size_t nseries, series_cap;
	uint32_t *index;       /* open addressing on id: series slot + 1, 0 = empty */
	size_t index_cap;      /* power of two */
	uint64_t npoints;      /* total points held */
	uint64_t max_points;   /* 0 = unlimited; past it: -E2BIG */
	char *sbuf;            /* string bytes */
	size_t sbuf_len, sbuf_cap;
	struct fanout_str *strs;
	size_t nstrs, strs_cap;
	int32_t status;        /* an aggregator's failing REC_END status, 0 if none */
	char msg[256];         /* its message */
};

struct fanout {
	struct stage *st;      /* not owned */
	uint32_t m;            /* aggregators */
	uint32_t counter;      /* low half of the next qid */
	struct ring *q;        /* [m] query rings, producer */
	struct ring *r;        /* [m] reply rings, consumer */
	uint64_t stale;        /* reply records skipped for foreign qids */
};

/* Opens the 2*M rings of this apiserver and releases whatever the reply
 * rings still hold from an earlier incarnation. Returns 0; -E2BIG when the
 * instance has more than FANOUT_MAX_AGGREGATORS aggregators; -ENOMEM; or the
 * ring error (logged). On failure nothing stays open. */
int fanout_init(struct fanout *f, struct stage *st);

/* Detaches every ring and frees the arrays; accepts a zeroed fanout. */
void fanout_fini(struct fanout *f);

/* Sends q (its qid is assigned here) to every aggregator and merges the
 * answers into res (which must be initialised; it is reset first).
 * timeout_ms bounds the whole exchange. Returns 0; -ETIMEDOUT when a query
 * ring stayed full or some aggregator did not finish in time; -EREMOTEIO
 * when an aggregator answered with an error (res->status and res->msg say
 * which); -E2BIG when the answer exceeds res->max_points or the query does
 * not fit a query ring; -EINVAL for too many matchers or sets; -ECANCELED
 * when the process was asked to stop while waiting; -ENOMEM. */
int fanout_query(struct fanout *f, struct rec_query *q, int64_t timeout_ms, struct fanout_result *res);

/* Resets res to empty, keeping max_points and its allocations. */
void fanout_result_reset(struct fanout_result *res);

/* Zeroes res. */
void fanout_result_init(struct fanout_result *res);

/* Frees everything res holds; accepts a zeroed result. */
void fanout_result_free(struct fanout_result *res);

/* Adds a piece of a series: appends the points to the series with this key
 * (created when new). Returns 0, -E2BIG past max_points, -ENOMEM. */
int fanout_result_add_series(struct fanout_result *res, const uint8_t *key, uint16_t key_len,
			     const struct rec_series *piece);

/* Adds one string. Returns 0 or -ENOMEM. */
int fanout_result_add_string(struct fanout_result *res, const char *s, uint16_t len);

/* Sorts the strings bytewise and removes duplicates. */
void fanout_result_sort_strings(struct fanout_result *res);

/* Sorts every series' points by time (stable for equal times) when they are
 * not in order already; pieces from one aggregator normally are. */
void fanout_result_sort_points(struct fanout_result *res);

#endif
