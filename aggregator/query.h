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
#include "common/records.h"
#include "shm/ring.h"

#define QUERY_PIECE_POINTS 4096u

/* Serves q from s onto `reply`. wait_ms bounds each wait for reply-ring
 * space (a dead apiserver must not stall ingestion for long). Returns 0
 * when the answer (possibly an error answer) was written; -ETIMEDOUT when
 * the reply ring stayed full (the answer is abandoned; the apiserver times
 * out on its side). */
int query_serve(struct store *s, const struct rec_query *q, struct ring *reply, int wait_ms);

#endif
