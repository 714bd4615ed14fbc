/* scrapeconf_dropped: the targets relabel_configs drop, for the
 * droppedTargets of /api/v1/targets; part of the scrapeconf module (see
 * scrapeconf.h), kept apart so that scrapeconf.c stays one readable file.
 *
 * What it is: the same expansion as scrapeconf_targets (the same
 * discovered labels, through scrapeconf_target_make), keeping the other
 * half. What it is not: a second relabeler, or a list of targets left out
 * for other reasons (no address after relabeling, bad interval, https),
 * which Prometheus reports as errors, not as dropped targets.
 *
 * Invariant: a dropped target's hash depends only on its job name and
 * discovered labels, so every collector computes the same one and exactly
 * one collector (hash % collectors) lists it.
 */
#include <errno.h>
#include <xxhash.h>

#include "common/scrapeconf_pvt.h"

/* The identity of a dropped target: job name, then each discovered label's
 * name and value, each with its NUL so that boundaries count. */
static uint64_t scrapeconf_dropped_hash(const struct scrapeconf_target *t)
{
	uint64_t h = XXH3_64bits(t->job->job_name, strlen(t->job->job_name) + 1);
	for (size_t i = 0; i < t->discovered.n; i++) {
		const char *v = t->discovered.l[i].value ? t->discovered.l[i].value : "";
		h = XXH3_64bits_withSeed(t->discovered.l[i].name, strlen(t->discovered.l[i].name) + 1, h);
		h = XXH3_64bits_withSeed(v, strlen(v) + 1, h);
	}
	return h;
}

/* Lists every job's dropped targets in configuration order (see
 * scrapeconf.h). Returns the count with *out owned by the caller (free
 * with scrapeconf_targets_free), or -ENOMEM with *out NULL. */
long scrapeconf_dropped(const struct scrapeconf *c, struct scrapeconf_target **out)
{
	struct scrapeconf_target *ts = NULL;
	size_t n = 0, cap = 0;
	*out = NULL;
	for (size_t ji = 0; ji < c->njobs; ji++) {
		const struct scrapeconf_job *j = &c->jobs[ji];
		for (size_t gi = 0; gi < j->ngroups; gi++) {
			const struct scrapeconf_group *g = &j->groups[gi];
			for (size_t ti = 0; ti < g->ntargets; ti++) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 16;
					struct scrapeconf_target *a = realloc(ts, nc * sizeof(*a));
					if (!a)
						goto oom;
					ts = a;
					cap = nc;
				}
				int rc = scrapeconf_target_make(j, g, g->targets[ti], &ts[n], 1);
				if (rc < 0)
					goto oom;
				if (rc != SCRAPECONF_DROPPED) {
					scrapeconf_target_free(&ts[n]); /* an active target, or one left out */
					continue;
				}
				ts[n].hash = scrapeconf_dropped_hash(&ts[n]);
				n++;
			}
		}
	}
	*out = ts;
	return (long)n;
oom:
	scrapeconf_targets_free(ts, n);
	return -ENOMEM;
}
