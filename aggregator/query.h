/* query: the aggregator's query service. Answers one REC_QUERY from an
 * apiserver on that apiserver's reply ring: REC_SERIES pieces (at most
 * QUERY_PIECE_POINTS points each), REC_STRINGS for label names and values,
 * and always a final REC_END with the status.
 *
 * Matching: a series matches when every matcher of any one matcher set
 * matches (no set: every series). Only series with a sample in
 * [start_ms, end_ms] are answered.
 */
#ifndef MCS_QUERY_H
#define MCS_QUERY_H

#include "aggregator/store.h"
#include "aggregator/tsdb.h"
#include "common/records.h"
#include "shm/ring.h"

#define QUERY_PIECE_POINTS 4096u

/* Serves q from the head s and the blocks t (NULL: head only) onto
 * `reply`: SELECT/SERIES/LABEL_NAMES/LABEL_VALUES merged over head and
 * blocks; a SELECT with a step hint may be answered from a rollup tier
 * (tsdb_query_tier(); points are the last value of each bucket at its
 * end, and the END message names the tier, "tier=5m"); STATUS with the
 * shard's JSON. REC_Q_FLUSH needs the WAL and is the caller's (it answers
 * with query_reply_end()). wait_ms bounds each wait for reply-ring
 * space (a dead apiserver must not stall ingestion for long). Returns 0
 * when the answer (possibly an error answer) was written; -ETIMEDOUT when
 * the reply ring stayed full (the answer is abandoned; the apiserver times
 * out on its side). */
int query_serve(struct store *s, struct tsdb *t, const struct rec_query *q, struct ring *reply, int wait_ms);
int query_reply_end(struct ring *reply, uint64_t qid, int32_t status, const char *msg, int wait_ms);

#endif
