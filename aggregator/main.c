/* mcs-aggregator j: storage shard j. Consumes the sample rings "c<i>-a<j>"
 * of every collector into its store, answers queries arriving on
 * "p<p>-a<j>-q" on "a<j>-p<p>-r", and forwards the samples that alert
 * rules select to the alerters on "a<j>-r<k>".
 *
 * Durability: every consumed REC_SAMPLES record is appended to the shard's
 * WAL (<data_dir>/shard-<j>/wal) and the batch's ring space is released
 * only after wal_flush said it is written. A crash therefore loses
 * nothing: on start the WAL is replayed into the store, then the ring is
 * consumed from read_pos again, and the store drops the exact duplicates
 * (same series, same timestamp) that the overlap brings. On SIGTERM it
 * drains its sample rings (collectors stop first), then exits.
 *
 * Blocks (tsdb.h, <data_dir>/shard-<j>/blocks): opened before the WAL is
 * replayed; the head is written to a block when REC_Q_FLUSH asks (then
 * everything that can be compacted is) and, checked every
 * TSDB_FLUSH_CHECK_MS from the main loop, when its oldest sample is older
 * than TSDB_BLOCK_RANGE_MS (at most every TSDB_FLUSH_MIN_GAP_MS). Never
 * during replay: the flush deletes WAL segments, and replay reads them.
 * A flush is followed by compaction, downsampling and retention.
 *
 * Out-of-order window (store.h): after replay the store's window is set
 * from the config's ooo_window. Samples it rejects are counted
 * (CTL_C_TOO_OLD) and left out of the WAL: a record holding any is
 * re-encoded without them before it is appended, so that a replay brings
 * back exactly what was accepted. The gauges of bytes on disk per tier
 * are refreshed at start and on every flush check.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/forward.h"
#include "aggregator/query.h"
#include "aggregator/store.h"
#include "aggregator/tsdb.h"
#include "aggregator/wal.h"
#include "common/log.h"
#include "common/stage.h"
#include "shm/proc.h"

#define AGG_MAX_RINGS 64
#define AGG_BATCH_RECORDS 64

struct aggregator {
	struct stage st;
	struct store store;
	struct forward fwd;
	struct wal wal;
	struct tsdb tsdb;
	uint64_t next_check_ms;   /* monotonic: next automatic flush check */
	int64_t last_flush_ms;    /* wall clock of the last automatic flush */
	int64_t last_maint_ms;    /* wall clock of the last maintenance */
	int replaying;            /* 1 while the WAL is replayed: no forwarding */
	struct ring samples[AGG_MAX_RINGS];
	struct ring queries[AGG_MAX_RINGS];
	struct ring replies[AGG_MAX_RINGS];
	uint32_t ncoll, napi;
	struct ring *waitset[AGG_MAX_RINGS];
	int nwait;
};

/* Applies one REC_SAMPLES record. Returns samples applied or -EPROTO;
 * *too_old (may be NULL) is set to 1 when the window rejected a sample. */
static long agg_apply(struct aggregator *a, const struct ring_rec *rec, int *too_old)
{
	struct rec_samples_iter it;
	struct rec_sample s;
	long n = 0;
	int rc;
	if (rec_samples_iter_init(&it, rec->data, rec->len) != 0)
		return -EPROTO;
	while ((rc = rec_samples_next(&it, &s)) == 1) {
		long idx = store_series_get(&a->store, s.id, s.key, s.key_len);
		if (idx == -ENOMEM) {
			log_error("out of memory adding a series");
			abort(); /* releasing would lose the batch; crash and replay */
		}
		if (idx < 0) {
			ctl_add(a->st.slot, CTL_C_RECORDS_CORRUPT, 1);
			continue;
		}
		int r = store_add(&a->store, (size_t)idx, s.ts_ms, s.value);
		if (r == STORE_DUPLICATE) {
			ctl_add(a->st.slot, CTL_C_DUPLICATES, 1);
			continue;
		}
		if (r == STORE_TOO_OLD) {
			ctl_add(a->st.slot, CTL_C_TOO_OLD, 1);
			if (too_old)
				*too_old = 1;
			continue;
		}
		if (r < 0) {
			log_error("out of memory adding a sample");
			abort();
		}
		if (r == STORE_OUT_OF_ORDER)
			ctl_add(a->st.slot, CTL_C_OUT_OF_ORDER, 1);
		if (!a->replaying)
			forward_sample(&a->fwd, &a->store.series[idx], &s);
		n++;
	}
	return rc < 0 ? -EPROTO : n;
}

/* A map from a key's bytes in the source record to its offset in the
 * re-encoded one, so that keys written by reference stay references and
 * the filtered record is never longer than its source. */
struct agg_keymap {
	const uint8_t *key;
	uint32_t off;
};

/* Re-encodes the REC_SAMPLES record rec without the samples the window
 * rejects (store_too_old, whose references are frozen for the batch, so
 * it answers as agg_apply was answered). On success *out is a malloc'd
 * record of *out_len bytes, owned by the caller. Returns 0, -ENOMEM or
 * -EPROTO for a bad record header (then *out is NULL). */
static int agg_filter_record(struct aggregator *a, const struct ring_rec *rec, uint8_t **out, size_t *out_len)
{
	struct rec_samples_iter it;
	struct rec_samples_writer w;
	struct rec_sample s;
	size_t nmap = 16;
	int rc;
	*out = NULL;
	if (rec_samples_iter_init(&it, rec->data, rec->len) != 0)
		return -EPROTO;
	while (nmap < 2 * (rec->len / REC_SAMPLE_ENTRY + 1))
		nmap *= 2;
	struct agg_keymap *map = calloc(nmap, sizeof(*map));
	uint8_t *buf = malloc(rec->len);
	if (!map || !buf) {
		rc = -ENOMEM;
		goto fail;
	}
	rec_samples_begin(&w, buf, rec->len);
	while ((rc = rec_samples_next(&it, &s)) == 1) {
		long idx = store_series_get(&a->store, s.id, s.key, s.key_len);
		if (idx >= 0 && store_too_old(&a->store, (size_t)idx, s.ts_ms))
			continue;
		/* Invalid keys (idx < 0) are kept: replay skips them as now. */
		size_t h = (size_t)(((uintptr_t)s.key * 0x9e3779b97f4a7c15ull) >> 20) & (nmap - 1);
		while (map[h].key && map[h].key != s.key)
			h = (h + 1) & (nmap - 1);
		uint32_t off = 0;
		if (rec_samples_add(&w, s.id, s.key, s.key_len, s.ts_ms, s.value, map[h].key ? map[h].off : 0,
				    &off) != 0) {
			rc = -EPROTO; /* cannot happen: never longer than the source */
			goto fail;
		}
		if (!map[h].key) {
			map[h].key = s.key;
			map[h].off = off;
		}
	}
	/* A malformed entry ends the record here as it ended agg_apply: the
	 * samples before it were applied, so they are what the WAL keeps. */
	*out_len = rec_samples_end(&w);
	*out = buf;
	free(map);
	return 0;
fail:
	free(map);
	free(buf);
	return rc;
}

/* Consumes up to a batch from sample ring i. Returns records taken. */
static int agg_consume_samples(struct aggregator *a, struct ring *r)
{
	struct ring_rec rec;
	int taken = 0, rc;
	uint64_t applied = 0;
	store_batch_begin(&a->store);
	while (taken < AGG_BATCH_RECORDS && (rc = ring_next(r, &rec)) != 0) {
		if (rc < 0) {
			log_error("ring %s: damaged record skipped to write position", r->hdr->name);
			ctl_add(a->st.slot, CTL_C_RECORDS_CORRUPT, 1);
			break;
		}
		taken++;
		if (rec.type != REC_SAMPLES) {
			ctl_add(a->st.slot, CTL_C_RECORDS_CORRUPT, 1);
			continue;
		}
		/* Applied first, appended second: the ring space is released
		 * only after wal_flush, so a crash in between loses nothing. */
		int too_old = 0;
		long n = agg_apply(a, &rec, &too_old);
		const void *data = rec.data;
		size_t len = rec.len;
		uint8_t *filtered = NULL;
		if (too_old) {
			int frc = agg_filter_record(a, &rec, &filtered, &len);
			if (frc == -ENOMEM) {
				log_error("out of memory filtering a sample record for the WAL");
				abort(); /* not released: crash and replay */
			}
			if (frc == 0)
				data = filtered;
		}
		int wrc = wal_append(&a->wal, REC_SAMPLES, data, len);
		free(filtered);
		if (wrc != 0) {
			/* Not released: a restart replays the WAL and the ring. */
			log_error("WAL append failed: %s; exiting so the batch is consumed again", strerror(-wrc));
			exit(1);
		}
		if (n < 0) {
			log_warn("ring %s: malformed sample record at %llu skipped", r->hdr->name,
				 (unsigned long long)rec.pos);
			ctl_add(a->st.slot, CTL_C_RECORDS_CORRUPT, 1);
			continue;
		}
		applied += (uint64_t)n;
	}
	if (taken) {
		/* Durable for its purpose (in the WAL and the store), so release. */
		int wrc = wal_flush(&a->wal);
		if (wrc != 0) {
			log_error("WAL write failed: %s; exiting without releasing the batch", strerror(-wrc));
			exit(1);
		}
		forward_flush(&a->fwd);
		ring_release(r);
		ctl_add(a->st.slot, CTL_C_SAMPLES_IN, applied);
		ctl_set(a->st.slot, CTL_C_SERIES, a->store.nseries);
	}
	return taken;
}

/* Publishes the bytes on disk of the first three tiers (raw, 5m and 1h
 * by default) as gauges in the slot. */
static void agg_disk_gauges(struct aggregator *a)
{
	ctl_set(a->st.slot, CTL_C_DISK_RAW_BYTES, tsdb_tier_bytes(&a->tsdb, 0));
	ctl_set(a->st.slot, CTL_C_DISK_5M_BYTES, tsdb_tier_bytes(&a->tsdb, 1));
	ctl_set(a->st.slot, CTL_C_DISK_1H_BYTES, tsdb_tier_bytes(&a->tsdb, 2));
}

/* Writes the head to a block and runs maintenance (all: compact
 * everything). Exits on a WAL failure (as ingestion does: restart and
 * replay); block errors are logged and returned. */
static int agg_flush(struct aggregator *a, int all, struct tsdb_flush_result *r)
{
	int rc = tsdb_flush_head(&a->tsdb, &a->store, &a->wal, r);
	if (rc != 0 && a->wal.broken) {
		log_error("WAL failed during a head flush: %s; exiting", strerror(-rc));
		exit(1);
	}
	int mrc = tsdb_maintain(&a->tsdb, all, r);
	a->last_maint_ms = a->tsdb.now_ms();
	ctl_set(a->st.slot, CTL_C_SERIES, a->store.nseries);
	agg_disk_gauges(a);
	return rc ? rc : mrc;
}

/* Answers REC_Q_FLUSH: a REC_END with a JSON summary. */
static int agg_flush_query(struct aggregator *a, const struct rec_query *q, struct ring *reply)
{
	struct tsdb_flush_result r;
	char msg[512];
	int rc = agg_flush(a, 1, &r);
	if (rc != 0)
		snprintf(msg, sizeof(msg), "flush failed: %s", strerror(-rc));
	else
		snprintf(msg, sizeof(msg),
			 "{\"blocks_written\":%u,\"series\":%llu,\"samples\":%llu,\"bytes\":%llu,"
			 "\"compacted\":%u,\"rollup_blocks\":%u,\"deleted\":%u,\"blocks\":%zu}",
			 r.blocks_written, (unsigned long long)r.series, (unsigned long long)r.samples,
			 (unsigned long long)r.bytes, r.compacted, r.rollup_blocks, r.deleted, a->tsdb.nblocks);
	return query_reply_end(reply, q->qid, rc, msg, 2000);
}

/* Automatic flush and periodic maintenance, from the main loop. */
static void agg_tsdb_tick(struct aggregator *a)
{
	uint64_t mono = segment_now_mono_ms();
	if (mono < a->next_check_ms)
		return;
	a->next_check_ms = mono + TSDB_FLUSH_CHECK_MS;
	int64_t now = a->tsdb.now_ms();
	if (now - a->last_flush_ms >= (int64_t)TSDB_FLUSH_MIN_GAP_MS && tsdb_flush_due(&a->tsdb, &a->store, now)) {
		a->last_flush_ms = now;
		log_info("head holds samples older than %lld ms: flushing it to a block",
			 (long long)TSDB_BLOCK_RANGE_MS);
		agg_flush(a, 0, NULL);
	} else if (now - a->last_maint_ms >= 3600 * 1000LL) {
		tsdb_maintain(&a->tsdb, 0, NULL); /* retention moves with the clock */
		a->last_maint_ms = now;
	}
	agg_disk_gauges(a); /* also catches blocks quarantined by queries */
}

static int agg_consume_queries(struct aggregator *a, uint32_t p)
{
	struct ring_rec rec;
	struct rec_query q;
	int taken = 0, rc;
	while (taken < 8 && (rc = ring_next(&a->queries[p], &rec)) != 0) {
		if (rc < 0) {
			ctl_add(a->st.slot, CTL_C_RECORDS_CORRUPT, 1);
			break;
		}
		taken++;
		if (rec.type != REC_QUERY || rec_query_decode(&q, rec.data, rec.len) != 0) {
			ctl_add(a->st.slot, CTL_C_RECORDS_CORRUPT, 1);
			continue;
		}
		ctl_add(a->st.slot, CTL_C_QUERIES, 1);
		int qrc = q.kind == REC_Q_FLUSH ? agg_flush_query(a, &q, &a->replies[p])
						: query_serve(&a->store, &a->tsdb, &q, &a->replies[p], 2000);
		if (qrc != 0) {
			ctl_add(a->st.slot, CTL_C_QUERY_ERRORS, 1);
			log_warn("reply ring %s stayed full: answer to query %llx abandoned",
				 a->replies[p].hdr->name, (unsigned long long)q.qid);
		}
		stage_beat(&a->st);
	}
	if (taken)
		ring_release(&a->queries[p]);
	return taken;
}

static int agg_open(struct aggregator *a)
{
	char name[64];
	struct ctl_header *h = a->st.ctl.hdr;
	uint32_t j = a->st.index;
	a->ncoll = h->n_stage[CTL_COLLECTOR];
	a->napi = h->n_stage[CTL_APISERVER];
	if (a->ncoll + a->napi > AGG_MAX_RINGS) {
		log_error("%u collectors + %u apiservers: at most %d rings per aggregator", a->ncoll, a->napi, AGG_MAX_RINGS);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < a->ncoll; i++) {
		ctl_ring_sample(name, sizeof(name), i, j);
		if (stage_ring_open(&a->st, &a->samples[i], name, RING_ROLE_CONSUMER))
			return -EIO;
		a->waitset[a->nwait++] = &a->samples[i];
	}
	for (uint32_t p = 0; p < a->napi; p++) {
		ctl_ring_query(name, sizeof(name), p, j);
		if (stage_ring_open(&a->st, &a->queries[p], name, RING_ROLE_CONSUMER))
			return -EIO;
		ctl_ring_reply(name, sizeof(name), j, p);
		if (stage_ring_open(&a->st, &a->replies[p], name, RING_ROLE_PRODUCER))
			return -EIO;
		a->waitset[a->nwait++] = &a->queries[p];
	}
	return forward_init(&a->fwd, &a->st);
}

/* Replays one WAL record into the store (no forwarding: the alerters have
 * seen these samples, or they are too old to matter). */
static int agg_wal_apply(void *ctx, uint8_t type, const void *payload, size_t len)
{
	struct aggregator *a = ctx;
	struct ring_rec rec = {.type = type, .len = (uint32_t)len, .data = payload};
	if (type != REC_SAMPLES || agg_apply(a, &rec, NULL) < 0)
		ctl_add(a->st.slot, CTL_C_RECORDS_CORRUPT, 1);
	return 0;
}

/* Replays the shard's WAL into the store, then opens it for appending.
 * Returns 0 or -errno (logged). */
static int agg_wal_start(struct aggregator *a)
{
	char dir[PATH_MAX];
	struct wal_opts opts = {0};
	struct wal_replay_stats rs;
	snprintf(dir, sizeof(dir), "%s/shard-%u/wal", a->st.cfg.data_dir, a->st.index);
	int rc = proc_mkdirs(dir);
	if (rc == 0)
		rc = wal_sync_parse(a->st.cfg.wal_sync, &opts.sync);
	if (rc != 0) {
		log_error("WAL directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	uint64_t t0 = segment_now_mono_ms();
	a->replaying = 1;
	rc = wal_replay(dir, 0, 0, agg_wal_apply, a, &rs);
	a->replaying = 0;
	if (rc != 0) {
		log_error("WAL replay of %s failed: %s", dir, strerror(-rc));
		return rc;
	}
	log_info("WAL replayed in %llu ms: %llu records, %zu series, %llu samples, %llu bytes lost, %llu torn tails cut",
		 (unsigned long long)(segment_now_mono_ms() - t0), (unsigned long long)rs.records,
		 a->store.nseries, (unsigned long long)a->store.samples, (unsigned long long)rs.lost_bytes,
		 (unsigned long long)rs.truncated);
	rc = wal_open(&a->wal, dir, &opts);
	if (rc != 0)
		log_error("wal_open(%s) failed: %s", dir, strerror(-rc));
	return rc;
}

/* True when every collector has stopped (shutdown drains after them). */
static int agg_collectors_gone(struct aggregator *a)
{
	for (uint32_t i = 0; i < a->ncoll; i++) {
		struct ctl_slot *s = ctl_slot(&a->st.ctl, CTL_COLLECTOR, i);
		if (s && atomic_load(&s->state) != CTL_STATE_EXITED && atomic_load(&s->pid) != 0)
			return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	static struct aggregator a;
	stage_init(&a.st, CTL_AGGREGATOR, argc, argv);
	char tdir[PATH_MAX];
	snprintf(tdir, sizeof(tdir), "%s/shard-%u", a.st.cfg.data_dir, a.st.index);
	int trc = tsdb_open(&a.tsdb, tdir, NULL);
	if (trc != 0) {
		log_error("tsdb_open(%s) failed: %s", tdir, strerror(-trc));
		return 1;
	}
	a.last_maint_ms = a.tsdb.now_ms();
	if (store_init(&a.store) != 0 || agg_wal_start(&a) != 0 || agg_open(&a) != 0)
		return 1;
	a.store.ooo_window_ms = a.st.cfg.ooo_window_ms; /* after replay: see store.h */
	agg_disk_gauges(&a);
	stage_set_ready(&a.st, 1);
	log_info("serving shard %u: %u sample ring(s), %u query ring(s)", a.st.index, a.ncoll, a.napi);
	uint64_t stop_at = 0;
	for (;;) {
		int work = 0;
		for (uint32_t i = 0; i < a.ncoll; i++)
			work += agg_consume_samples(&a, &a.samples[i]);
		for (uint32_t p = 0; p < a.napi; p++)
			work += agg_consume_queries(&a, p);
		stage_beat(&a.st);
		if (!stage_stop_requested)
			agg_tsdb_tick(&a);
		int wrc = wal_tick(&a.wal);
		if (wrc != 0) {
			log_error("WAL background write or fsync failed: %s", strerror(-wrc));
			exit(1);
		}
		if (stage_stop_requested) {
			uint64_t now = segment_now_mono_ms();
			if (!stop_at) {
				stop_at = now;
				log_info("stopping: draining sample rings");
			}
			/* Drain until the collectors are gone and the rings are empty,
			 * at most 5 s (the launcher's budget is 10 s in all). */
			if ((!work && agg_collectors_gone(&a)) || now - stop_at > 5000)
				break;
		}
		if (!work)
			ring_wait_any(a.waitset, a.nwait, stage_stop_requested ? 20 : 250);
	}
	stage_set_ready(&a.st, 0);
	log_info("stopped: %zu series, %llu samples", a.store.nseries, (unsigned long long)a.store.samples);
	for (uint32_t i = 0; i < a.ncoll; i++)
		ring_detach(&a.samples[i]);
	for (uint32_t p = 0; p < a.napi; p++) {
		ring_detach(&a.queries[p]);
		ring_detach(&a.replies[p]);
	}
	forward_fini(&a.fwd);
	wal_close(&a.wal);
	tsdb_close(&a.tsdb);
	store_free(&a.store);
	stage_fini(&a.st);
	return 0;
}
