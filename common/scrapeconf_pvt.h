/* scrapeconf_pvt: what scrapeconf.c shares with scrapeconf_dropped.c (the
 * listing of targets that relabel_configs drop). Not for other modules:
 * they use scrapeconf.h.
 */
#ifndef MCS_SCRAPECONF_PVT_H
#define MCS_SCRAPECONF_PVT_H

#include <stdlib.h>
#include <string.h>

#include "common/scrapeconf.h"

/* scrapeconf_target_make's result for a target relabel_configs dropped,
 * when the caller asked to keep those. */
#define SCRAPECONF_DROPPED 2

/* Builds the target for address `addr` of group g of job j into *t (see
 * scrapeconf.c). Returns 1 (made), SCRAPECONF_DROPPED (only when
 * keep_dropped: t->job and t->discovered are set), 0 (left out; *t is
 * empty) or -ENOMEM (*t empty). The caller frees *t with
 * scrapeconf_target_free in the first two cases. */
int scrapeconf_target_make(const struct scrapeconf_job *j, const struct scrapeconf_group *g, const char *addr,
			   struct scrapeconf_target *t, int keep_dropped);

/* Frees what one target owns and zeroes it; a zeroed target is fine. */
static inline void scrapeconf_target_free(struct scrapeconf_target *t)
{
	free(t->url);
	free(t->host);
	free(t->path_query);
	relabel_labels_free(&t->labels);
	relabel_labels_free(&t->discovered);
	memset(t, 0, sizeof(*t));
}

#endif
