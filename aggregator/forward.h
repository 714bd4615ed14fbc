/* forward: sends the samples that alert rules select to the alerters, on
 * the alert rings "a<j>-r<k>" (drop-and-count when full: alerting must
 * never stall ingestion). Which alerters want a series is computed once per
 * series (rules_route) and cached in the store's series.
 */
#ifndef MCS_FORWARD_H
#define MCS_FORWARD_H

#include "aggregator/store.h"
#include "common/records.h"
#include "common/rules.h"
#include "common/stage.h"

#define FORWARD_RECORD_MAX (64u * 1024u)

struct forward {
	struct stage *st;
	struct rules_set rules;
	struct ring rings[RULES_MAX_ALERTERS];
	struct rec_samples_writer w[RULES_MAX_ALERTERS];
	uint8_t open[RULES_MAX_ALERTERS]; /* 1 while w[k] writes into a reservation */
	uint32_t nalerters;
};

/* Loads the rules and opens the alert rings. Returns 0 or -errno (logged). */
int forward_init(struct forward *f, struct stage *st);

/* Forwards s (a sample of series se) to every alerter that wants it. */
void forward_sample(struct forward *f, struct store_series *se, const struct rec_sample *s);

/* Commits the open records and publishes. */
void forward_flush(struct forward *f);

void forward_fini(struct forward *f);

#endif
