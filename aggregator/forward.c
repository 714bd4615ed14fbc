/* forward: see forward.h. */
#include "aggregator/forward.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"

int forward_init(struct forward *f, struct stage *st)
{
	char name[64];
	memset(f, 0, sizeof(*f));
	f->st = st;
	f->nalerters = st->ctl.hdr->n_stage[CTL_ALERTER];
	if (f->nalerters > RULES_MAX_ALERTERS) {
		log_error("%u alerters: at most %u", f->nalerters, RULES_MAX_ALERTERS);
		return -EINVAL;
	}
	if (f->nalerters == 0)
		return 0;
	int rc = rules_load(&st->cfg, f->nalerters, &f->rules);
	if (rc)
		return rc;
	for (uint32_t k = 0; k < f->nalerters; k++) {
		ctl_ring_alert(name, sizeof(name), st->index, k);
		rc = stage_ring_open(st, &f->rings[k], name, RING_ROLE_PRODUCER);
		if (rc)
			return rc;
	}
	return 0;
}

/* Writes one sample into alerter k's open record, opening one as needed. */
static void forward_one(struct forward *f, uint32_t k, const struct rec_sample *s)
{
	for (int tries = 0; tries < 2; tries++) {
		if (!f->open[k]) {
			/* FORWARD_RECORD_MAX, or less on a ring too small for it (the
			 * configuration allows 64 KiB alert rings). */
			uint32_t max = ring_max_payload(f->rings[k].capacity) & ~7u;
			if (max > FORWARD_RECORD_MAX)
				max = FORWARD_RECORD_MAX;
			void *p = ring_reserve(&f->rings[k], max, 0);
			if (!p) {
				ctl_add(f->st->slot, CTL_C_ALERT_DROPS, 1);
				return;
			}
			rec_samples_begin(&f->w[k], p, max);
			f->open[k] = 1;
		}
		if (rec_samples_add(&f->w[k], s->id, s->key, s->key_len, s->ts_ms, s->value, 0, NULL) == 0)
			return;
		ring_commit(&f->rings[k], REC_SAMPLES, (uint32_t)rec_samples_end(&f->w[k]));
		f->open[k] = 0;
	}
}

void forward_sample(struct forward *f, struct store_series *se, const struct rec_sample *s)
{
	if (f->nalerters == 0 || f->rules.n == 0)
		return;
	if (!se->route_known) {
		rules_route(&f->rules, se->key, se->key_len, &se->alert_mask);
		se->route_known = 1;
	}
	for (uint64_t m = se->alert_mask; m; m &= m - 1)
		forward_one(f, (uint32_t)__builtin_ctzll(m), s);
}

void forward_flush(struct forward *f)
{
	for (uint32_t k = 0; k < f->nalerters; k++) {
		if (f->open[k]) {
			ring_commit(&f->rings[k], REC_SAMPLES, (uint32_t)rec_samples_end(&f->w[k]));
			f->open[k] = 0;
		}
		ring_publish(&f->rings[k]);
	}
}

void forward_fini(struct forward *f)
{
	forward_flush(f);
	for (uint32_t k = 0; k < f->nalerters; k++)
		ring_detach(&f->rings[k]);
	rules_set_free(&f->rules);
}
