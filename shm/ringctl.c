/* mcs-ringctl: looks into the rings and process slots of a running mcs
 * instance, read-only.
 *
 *   mcs-ringctl [--instance NAME] list [--json]
 *   mcs-ringctl [--instance NAME] peek RING [--count N] [--json]
 *
 * list: for every ring of the instance's shape, its fill, positions,
 * throughput (the counters sampled twice, 500 ms apart by default:
 * --interval), producer and
 * consumer pids and whether they are alive, and its drop/full-wait/corrupt
 * counters; then the stage slots (pid, alive, restarts, heartbeat age,
 * ready). peek: decodes the next records after read_pos without consuming
 * them.
 *
 * Everything is mapped read-only (ctl_attach writable=0, RING_ROLE_OBSERVER):
 * this program can never disturb the pipeline. Ring bytes come from other
 * processes and are checked by the decoders before use.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/records.h"
#include "common/series.h"
#include "shm/ctl.h"
#include "shm/proc.h"
#include "shm/ring.h"

#define RINGCTL_SAMPLE_MS   500   /* span between the two counter samples */
#define RINGCTL_PEEK_SHOW   3     /* samples / strings shown per record */
#define RINGCTL_EXIT_USAGE  2

struct ringctl_opts {
	const char *instance;
	const char *command;      /* "list" or "peek" */
	const char *ring;         /* peek: short name */
	long count;               /* peek: records */
	long interval_ms;         /* list: span between the counter samples, 0 = no rates */
	int json;
};

/* A ring's counters at one instant. */
struct ringctl_snap {
	uint64_t write_pos, read_pos, records_in, bytes_in;
	uint64_t full_waits, drops, corrupt;
	uint32_t producer_pid, consumer_pid;
	uint64_t t_ms;
};

static void ringctl_usage(FILE *f)
{
	fprintf(f,
		"usage: mcs-ringctl [--instance NAME] list [--json] [--interval MS]\n"
		"       mcs-ringctl [--instance NAME] peek RING [--count N] [--json]\n"
		"  list   every ring (fill, positions, rates, pids, drops) and every stage slot\n"
		"  peek   decode the next N records (default 10) of RING (e.g. c0-a1) without consuming\n"
		"  --interval MS  list: span between the two counter samples behind the rates\n"
		"                 (default 500; 0 skips the rates)\n"
		"The instance defaults to \"default\".\n");
}

/* Parses argv. Returns 0, 1 after --help, or -EINVAL (told on stderr). */
static int ringctl_parse_args(struct ringctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{"instance", required_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},
		{"count", required_argument, NULL, 'n'},
		{"interval", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->instance = "default";
	o->count = 10;
	o->interval_ms = RINGCTL_SAMPLE_MS;
	int c;
	while ((c = getopt_long(argc, argv, "i:jn:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->instance = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'n': {
			char *end;
			o->count = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->count < 1 || o->count > 100000) {
				fprintf(stderr, "mcs-ringctl: --count must be an integer in [1, 100000]\n");
				return -EINVAL;
			}
			break;
		}
		case 't': {
			char *end;
			o->interval_ms = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->interval_ms < 0 || o->interval_ms > 60000) {
				fprintf(stderr, "mcs-ringctl: --interval must be milliseconds in [0, 60000]\n");
				return -EINVAL;
			}
			break;
		}
		case 'h':
			ringctl_usage(stdout);
			return 1;
		default:
			ringctl_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		ringctl_usage(stderr);
		return -EINVAL;
	}
	o->command = argv[optind++];
	if (strcmp(o->command, "peek") == 0) {
		if (optind >= argc) {
			fprintf(stderr, "mcs-ringctl: peek needs a ring name, e.g. c0-a0 (see \"list\")\n");
			return -EINVAL;
		}
		o->ring = argv[optind++];
	} else if (strcmp(o->command, "list") != 0) {
		fprintf(stderr, "mcs-ringctl: unknown command \"%s\"\n", o->command);
		ringctl_usage(stderr);
		return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "mcs-ringctl: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Attaches the control block read-only, explaining a failure on stderr.
 * Returns 0 or -errno. */
static int ringctl_attach_ctl(struct ctl *c, const char *instance)
{
	int rc = ctl_attach(c, instance, 0);
	if (rc == -ENOENT)
		fprintf(stderr,
			"mcs-ringctl: instance \"%s\" is not running: no control block /dev/shm/mcs.%s.ctl "
			"(start it with scripts/mcs start or mcs-launch)\n", instance, instance);
	else if (rc == -EINVAL)
		fprintf(stderr, "mcs-ringctl: \"%s\" is not a valid instance name\n", instance);
	else if (rc != 0)
		fprintf(stderr, "mcs-ringctl: cannot attach the control block of \"%s\": %s%s\n", instance,
			strerror(-rc), rc == -EPROTO ? " (damaged or of another version)" : "");
	return rc;
}

static void ringctl_snap(const struct ring *r, struct ringctl_snap *s)
{
	const struct ring_header *h = r->hdr;
	s->write_pos = atomic_load_explicit(&h->write_pos, memory_order_acquire);
	s->read_pos = atomic_load_explicit(&h->read_pos, memory_order_acquire);
	s->records_in = atomic_load_explicit(&h->records_in, memory_order_relaxed);
	s->bytes_in = atomic_load_explicit(&h->bytes_in, memory_order_relaxed);
	s->full_waits = atomic_load_explicit(&h->full_waits, memory_order_relaxed);
	s->drops = atomic_load_explicit(&h->drops, memory_order_relaxed);
	s->corrupt = atomic_load_explicit(&h->corrupt, memory_order_relaxed);
	s->producer_pid = atomic_load_explicit(&h->producer_pid, memory_order_relaxed);
	s->consumer_pid = atomic_load_explicit(&h->consumer_pid, memory_order_relaxed);
	s->t_ms = segment_now_mono_ms();
}

static double ringctl_rate(uint64_t a, uint64_t b, uint64_t dt_ms)
{
	return dt_ms ? (double)(b - a) * 1000.0 / (double)dt_ms : 0.0;
}

/* Human form of a byte count: "16.0M". */
static const char *ringctl_bytes(char *buf, size_t len, double b)
{
	static const char units[] = "BKMGT";
	int u = 0;
	while (b >= 1024.0 && u < 4) {
		b /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f", b);
	else
		snprintf(buf, len, "%.1f%c", b, units[u]);
	return buf;
}

static const char *ringctl_pid_text(char *buf, size_t len, uint32_t pid)
{
	if (!pid)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%u%s", pid, proc_alive((pid_t)pid) ? "" : "(dead)");
	return buf;
}

static const char *ringctl_state_name(uint32_t s)
{
	static const char *const names[] = {"empty", "starting", "running", "stopping", "exited"};
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* list: prints every ring and slot. Returns the exit code. */
static int ringctl_list(const struct ringctl_opts *o)
{
	struct ctl c;
	if (ringctl_attach_ctl(&c, o->instance) != 0)
		return 1;
	struct ctl_header *h = c.hdr;
	uint32_t n = proc_ring_count(h);
	struct ring *rings = calloc(n ? n : 1, sizeof(*rings));
	struct ringctl_snap *s0 = calloc(n ? n : 1, sizeof(*s0));
	struct ringctl_snap *s1 = calloc(n ? n : 1, sizeof(*s1));
	int *present = calloc(n ? n : 1, sizeof(*present));
	int code = 0;
	if (!rings || !s0 || !s1 || !present) {
		fprintf(stderr, "mcs-ringctl: out of memory\n");
		code = 1;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct proc_ring_spec sp;
		char shm[SEGMENT_NAME_MAX];
		proc_ring_spec(h, i, &sp);
		if (ctl_ring_shm_name(shm, sizeof(shm), o->instance, sp.name) == 0 &&
		    ring_attach(&rings[i], shm, RING_ROLE_OBSERVER) == 0) {
			present[i] = 1;
			ringctl_snap(&rings[i], &s0[i]);
		}
	}
	if (o->interval_ms > 0)
		usleep((useconds_t)o->interval_ms * 1000);
	for (uint32_t i = 0; i < n; i++)
		if (present[i])
			ringctl_snap(&rings[i], &s1[i]);

	uint32_t lpid = atomic_load(&h->launcher_pid);
	if (o->json) {
		cJSON *root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "instance", o->instance);
		cJSON_AddNumberToObject(root, "launcher_pid", lpid);
		cJSON_AddBoolToObject(root, "launcher_alive", lpid && proc_alive((pid_t)lpid));
		cJSON_AddNumberToObject(root, "shutdown", atomic_load(&h->shutdown));
		cJSON *shape = cJSON_AddObjectToObject(root, "shape");
		for (int st = 0; st < CTL_STAGES; st++)
			cJSON_AddNumberToObject(shape, ctl_stage_name(st), h->n_stage[st]);
		cJSON *arr = cJSON_AddArrayToObject(root, "rings");
		for (uint32_t i = 0; i < n; i++) {
			struct proc_ring_spec sp;
			proc_ring_spec(h, i, &sp);
			cJSON *r = cJSON_CreateObject();
			cJSON_AddStringToObject(r, "name", sp.name);
			cJSON_AddBoolToObject(r, "present", present[i]);
			cJSON_AddStringToObject(r, "policy", sp.policy == RING_FULL_DROP ? "drop" : "block");
			cJSON_AddItemToArray(arr, r);
			if (!present[i])
				continue;
			const struct ringctl_snap *a = &s0[i], *b = &s1[i];
			uint64_t fill = b->write_pos - b->read_pos, dt = b->t_ms - a->t_ms;
			cJSON_AddNumberToObject(r, "capacity", (double)rings[i].capacity);
			cJSON_AddNumberToObject(r, "fill_bytes", (double)fill);
			cJSON_AddNumberToObject(r, "fill_pct", (double)fill * 100.0 / (double)rings[i].capacity);
			cJSON_AddNumberToObject(r, "write_pos", (double)b->write_pos);
			cJSON_AddNumberToObject(r, "read_pos", (double)b->read_pos);
			if (o->interval_ms > 0) {
				cJSON_AddNumberToObject(r, "records_per_s", ringctl_rate(a->records_in, b->records_in, dt));
				cJSON_AddNumberToObject(r, "bytes_per_s", ringctl_rate(a->bytes_in, b->bytes_in, dt));
			} else {
				cJSON_AddNullToObject(r, "records_per_s");
				cJSON_AddNullToObject(r, "bytes_per_s");
			}
			cJSON_AddNumberToObject(r, "records_in", (double)b->records_in);
			cJSON_AddNumberToObject(r, "producer_pid", b->producer_pid);
			cJSON_AddBoolToObject(r, "producer_alive", proc_alive((pid_t)b->producer_pid));
			cJSON_AddNumberToObject(r, "consumer_pid", b->consumer_pid);
			cJSON_AddBoolToObject(r, "consumer_alive", proc_alive((pid_t)b->consumer_pid));
			cJSON_AddNumberToObject(r, "drops", (double)b->drops);
			cJSON_AddNumberToObject(r, "full_waits", (double)b->full_waits);
			cJSON_AddNumberToObject(r, "corrupt", (double)b->corrupt);
		}
		cJSON *slots = cJSON_AddArrayToObject(root, "slots");
		uint64_t now = segment_now_mono_ms();
		for (uint32_t i = 0; i < h->nslots; i++) {
			struct ctl_slot *s = &h->slots[i];
			uint32_t pid = atomic_load(&s->pid);
			uint64_t beat = atomic_load(&s->heartbeat_ms);
			cJSON *j = cJSON_CreateObject();
			cJSON_AddStringToObject(j, "stage", ctl_stage_name(s->stage));
			cJSON_AddNumberToObject(j, "index", s->index);
			cJSON_AddNumberToObject(j, "pid", pid);
			cJSON_AddBoolToObject(j, "alive", proc_slot_live(s, getpid()) != 0);
			cJSON_AddStringToObject(j, "state", ringctl_state_name(atomic_load(&s->state)));
			cJSON_AddNumberToObject(j, "restarts", (double)atomic_load(&s->restarts));
			if (beat)
				cJSON_AddNumberToObject(j, "heartbeat_age_ms", now >= beat ? (double)(now - beat) : 0.0);
			else
				cJSON_AddNullToObject(j, "heartbeat_age_ms");
			cJSON_AddBoolToObject(j, "ready", atomic_load(&s->ready) != 0);
			cJSON_AddItemToArray(slots, j);
		}
		char *text = cJSON_Print(root);
		if (text)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(root);
		goto out;
	}

	char ltext[48];
	if (lpid)
		snprintf(ltext, sizeof(ltext), "launcher pid %u%s", lpid, proc_alive((pid_t)lpid) ? "" : " (dead)");
	else
		snprintf(ltext, sizeof(ltext), "no instance launcher (--only mode or stopped)");
	printf("instance %s: %s, %u collectors, %u aggregators, %u alerters, %u apiservers%s\n", o->instance, ltext,
	       h->n_stage[0], h->n_stage[1], h->n_stage[2], h->n_stage[3],
	       atomic_load(&h->shutdown) ? ", shutting down" : "");
	printf("%-10s %7s %8s %6s %14s %14s %9s %9s %-12s %-12s %8s %8s %7s\n", "RING", "CAP", "FILL", "FILL%",
	       "WRITE_POS", "READ_POS", "REC/S", "BYTES/S", "PRODUCER", "CONSUMER", "DROPS", "FULLWAIT", "CORRUPT");
	for (uint32_t i = 0; i < n; i++) {
		struct proc_ring_spec sp;
		char cap[16], fillb[16], rps[24], bps[16], pp[24], cp[24];
		proc_ring_spec(h, i, &sp);
		if (!present[i]) {
			printf("%-10s (absent: not created yet)\n", sp.name);
			continue;
		}
		const struct ringctl_snap *a = &s0[i], *b = &s1[i];
		uint64_t fill = b->write_pos - b->read_pos, dt = b->t_ms - a->t_ms;
		snprintf(rps, sizeof(rps), "%.0f", ringctl_rate(a->records_in, b->records_in, dt));
		ringctl_bytes(bps, sizeof(bps), ringctl_rate(a->bytes_in, b->bytes_in, dt));
		if (o->interval_ms == 0) {
			snprintf(rps, sizeof(rps), "-");
			snprintf(bps, sizeof(bps), "-");
		}
		printf("%-10s %7s %8s %5.1f%% %14llu %14llu %9s %9s %-12s %-12s %8llu %8llu %7llu\n", sp.name,
		       ringctl_bytes(cap, sizeof(cap), (double)rings[i].capacity),
		       ringctl_bytes(fillb, sizeof(fillb), (double)fill),
		       (double)fill * 100.0 / (double)rings[i].capacity, (unsigned long long)b->write_pos,
		       (unsigned long long)b->read_pos, rps, bps,
		       ringctl_pid_text(pp, sizeof(pp), b->producer_pid),
		       ringctl_pid_text(cp, sizeof(cp), b->consumer_pid), (unsigned long long)b->drops,
		       (unsigned long long)b->full_waits, (unsigned long long)b->corrupt);
	}
	printf("\n%-14s %-12s %-9s %8s %10s %s\n", "STAGE", "PID", "STATE", "RESTARTS", "HEARTBEAT", "READY");
	uint64_t now = segment_now_mono_ms();
	for (uint32_t i = 0; i < h->nslots; i++) {
		struct ctl_slot *s = &h->slots[i];
		char name[40], pid[24], age[24];
		uint64_t beat = atomic_load(&s->heartbeat_ms);
		snprintf(name, sizeof(name), "%s[%u]", ctl_stage_name(s->stage), s->index);
		if (beat)
			snprintf(age, sizeof(age), "%.1fs ago", now >= beat ? (double)(now - beat) / 1000.0 : 0.0);
		else
			snprintf(age, sizeof(age), "never");
		uint32_t p = atomic_load(&s->pid);
		if (p)
			snprintf(pid, sizeof(pid), "%u%s", p, proc_slot_live(s, getpid()) ? "" : "(dead)");
		else
			snprintf(pid, sizeof(pid), "-");
		printf("%-14s %-12s %-9s %8llu %10s %s\n", name, pid,
		       ringctl_state_name(atomic_load(&s->state)), (unsigned long long)atomic_load(&s->restarts), age,
		       atomic_load(&s->ready) ? "yes" : "no");
	}
out:
	for (uint32_t i = 0; rings && i < n; i++)
		if (present && present[i])
			ring_detach(&rings[i]);
	free(rings);
	free(s0);
	free(s1);
	free(present);
	ctl_detach(&c);
	return code;
}

/* ---- peek ---- */

static const char *ringctl_type_name(uint32_t t)
{
	switch (t) {
	case REC_SAMPLES: return "samples";
	case REC_QUERY: return "query";
	case REC_SERIES: return "series";
	case REC_STRINGS: return "strings";
	case REC_END: return "end";
	default: return "unknown";
	}
}

static const char *ringctl_query_kind(uint32_t k)
{
	switch (k) {
	case REC_Q_SELECT: return "select";
	case REC_Q_SERIES: return "series";
	case REC_Q_LABEL_NAMES: return "label_names";
	case REC_Q_LABEL_VALUES: return "label_values";
	default: return "unknown";
	}
}

/* Formats a series key as text; keys from shm are validated first. */
static const char *ringctl_key_text(char *buf, size_t len, const uint8_t *key, size_t key_len)
{
	if (series_key_validate(key, key_len) != 0) {
		snprintf(buf, len, "<malformed key, %zu bytes>", key_len);
		return buf;
	}
	series_key_format(key, key_len, buf, len);
	return buf;
}

/* Describes one record into the JSON object j and, unless json, prints it.
 * Returns 0, or -EPROTO when its payload does not decode. */
static int ringctl_peek_one(const struct ring_rec *rec, int json, cJSON *j)
{
	char text[1024];
	int rc = 0;
	cJSON_AddNumberToObject(j, "pos", (double)rec->pos);
	cJSON_AddStringToObject(j, "type", ringctl_type_name(rec->type));
	cJSON_AddNumberToObject(j, "type_id", rec->type);
	cJSON_AddNumberToObject(j, "len", rec->len);
	if (!json)
		printf("@%llu %s (%u bytes)", (unsigned long long)rec->pos, ringctl_type_name(rec->type), rec->len);
	switch (rec->type) {
	case REC_SAMPLES: {
		struct rec_samples_iter it;
		struct rec_sample s;
		if ((rc = rec_samples_iter_init(&it, rec->data, rec->len)) != 0)
			break;
		cJSON_AddNumberToObject(j, "count", it.left);
		if (!json)
			printf(": %u samples\n", it.left);
		cJSON *arr = cJSON_AddArrayToObject(j, "samples");
		for (int k = 0; k < RINGCTL_PEEK_SHOW && (rc = rec_samples_next(&it, &s)) == 1; k++) {
			ringctl_key_text(text, sizeof(text), s.key, s.key_len);
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "series", text);
			cJSON_AddNumberToObject(o, "ts_ms", (double)s.ts_ms);
			if (isfinite(s.value))
				cJSON_AddNumberToObject(o, "value", s.value);
			else
				cJSON_AddStringToObject(o, "value", isnan(s.value) ? "NaN" : s.value > 0 ? "+Inf" : "-Inf");
			cJSON_AddItemToArray(arr, o);
			if (!json)
				printf("    %s %lld %.17g\n", text, (long long)s.ts_ms, s.value);
		}
		rc = rc < 0 ? rc : 0;
		break;
	}
	case REC_QUERY: {
		struct rec_query *q = calloc(1, sizeof(*q));
		if (!q)
			return -ENOMEM;
		if ((rc = rec_query_decode(q, rec->data, rec->len)) != 0) {
			free(q);
			break;
		}
		cJSON_AddNumberToObject(j, "qid", (double)q->qid);
		cJSON_AddStringToObject(j, "kind", ringctl_query_kind(q->kind));
		cJSON_AddNumberToObject(j, "start_ms", (double)q->start_ms);
		cJSON_AddNumberToObject(j, "end_ms", (double)q->end_ms);
		cJSON_AddNumberToObject(j, "step_ms", (double)q->step_ms);
		cJSON_AddNumberToObject(j, "limit", q->limit);
		if (!json)
			printf(": qid %llu %s [%lld, %lld] step %lld", (unsigned long long)q->qid,
			       ringctl_query_kind(q->kind), (long long)q->start_ms, (long long)q->end_ms,
			       (long long)q->step_ms);
		if (q->kind == REC_Q_LABEL_VALUES) {
			snprintf(text, sizeof(text), "%.*s", (int)q->label_name_len, q->label_name);
			cJSON_AddStringToObject(j, "label", text);
			if (!json)
				printf(" label %s", text);
		}
		static const char *const ops[] = {"=", "!=", "=~", "!~"};
		cJSON *arr = cJSON_AddArrayToObject(j, "matchers");
		for (uint32_t k = 0; k < q->nmatchers; k++) {
			const struct rec_matcher *m = &q->m[k];
			snprintf(text, sizeof(text), "%.*s%s\"%.*s\"", (int)m->name_len, m->name,
				 m->op < 4 ? ops[m->op] : "?", (int)m->value_len, m->value);
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "set", m->set);
			cJSON_AddStringToObject(o, "matcher", text);
			cJSON_AddItemToArray(arr, o);
			if (!json)
				printf("%s set%u:%s", k ? "," : " {", m->set, text);
		}
		if (!json)
			printf("%s\n", q->nmatchers ? " }" : " (all series)");
		free(q);
		break;
	}
	case REC_SERIES: {
		struct rec_series s;
		if ((rc = rec_series_decode(&s, rec->data, rec->len)) != 0)
			break;
		ringctl_key_text(text, sizeof(text), s.key, s.key_len);
		cJSON_AddNumberToObject(j, "qid", (double)s.qid);
		cJSON_AddStringToObject(j, "series", text);
		cJSON_AddNumberToObject(j, "points", s.npoints);
		if (!json)
			printf(": qid %llu %s, %u points", (unsigned long long)s.qid, text, s.npoints);
		if (s.npoints) {
			struct rec_point a = rec_series_point(&s, 0), b = rec_series_point(&s, s.npoints - 1);
			cJSON_AddNumberToObject(j, "first_ts_ms", (double)a.ts_ms);
			cJSON_AddNumberToObject(j, "last_ts_ms", (double)b.ts_ms);
			if (!json)
				printf(" [%lld %.17g .. %lld %.17g]", (long long)a.ts_ms, a.value, (long long)b.ts_ms,
				       b.value);
		}
		if (!json)
			printf("\n");
		break;
	}
	case REC_STRINGS: {
		struct rec_strings_iter it;
		const char *str;
		uint16_t sl;
		if ((rc = rec_strings_iter_init(&it, rec->data, rec->len)) != 0)
			break;
		cJSON_AddNumberToObject(j, "qid", (double)it.qid);
		cJSON_AddNumberToObject(j, "count", it.left);
		if (!json)
			printf(": qid %llu, %u strings", (unsigned long long)it.qid, it.left);
		cJSON *arr = cJSON_AddArrayToObject(j, "first");
		for (int k = 0; k < RINGCTL_PEEK_SHOW && (rc = rec_strings_next(&it, &str, &sl)) == 1; k++) {
			snprintf(text, sizeof(text), "%.*s", (int)sl, str);
			cJSON_AddItemToArray(arr, cJSON_CreateString(text));
			if (!json)
				printf("%s\"%s\"", k ? ", " : ": ", text);
		}
		rc = rc < 0 ? rc : 0;
		if (!json)
			printf("\n");
		break;
	}
	case REC_END: {
		struct rec_end e;
		if ((rc = rec_end_decode(&e, rec->data, rec->len)) != 0)
			break;
		snprintf(text, sizeof(text), "%.*s", (int)e.msg_len, e.msg ? e.msg : "");
		cJSON_AddNumberToObject(j, "qid", (double)e.qid);
		cJSON_AddNumberToObject(j, "status", e.status);
		cJSON_AddStringToObject(j, "message", text);
		if (!json)
			printf(": qid %llu status %d%s%s\n", (unsigned long long)e.qid, e.status, text[0] ? " " : "",
			       text);
		break;
	}
	default:
		if (!json)
			printf("\n");
		break;
	}
	if (rc != 0) {
		cJSON_AddStringToObject(j, "error", "payload does not decode");
		if (!json)
			printf("  <payload does not decode: %s>\n", strerror(-rc));
	}
	return rc;
}

/* peek: prints the next records after read_pos. Returns the exit code. */
static int ringctl_peek(const struct ringctl_opts *o)
{
	struct ctl c;
	struct proc_ring_spec sp;
	struct ring r;
	char shm[SEGMENT_NAME_MAX];
	if (ringctl_attach_ctl(&c, o->instance) != 0)
		return 1;
	if (proc_ring_find(c.hdr, o->ring, &sp) != 0) {
		fprintf(stderr, "mcs-ringctl: instance \"%s\" has no ring \"%s\" (see mcs-ringctl list)\n", o->instance,
			o->ring);
		ctl_detach(&c);
		return 1;
	}
	int rc = ctl_ring_shm_name(shm, sizeof(shm), o->instance, sp.name);
	if (rc == 0)
		rc = ring_attach(&r, shm, RING_ROLE_OBSERVER);
	if (rc != 0) {
		fprintf(stderr, "mcs-ringctl: cannot attach ring %s: %s\n", shm,
			rc == -ENOENT ? "not created yet" : strerror(-rc));
		ctl_detach(&c);
		return 1;
	}
	uint64_t pos = atomic_load_explicit(&r.hdr->read_pos, memory_order_acquire);
	uint64_t wpos = atomic_load_explicit(&r.hdr->write_pos, memory_order_acquire);
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "ring", sp.name);
	cJSON_AddNumberToObject(root, "read_pos", (double)pos);
	cJSON_AddNumberToObject(root, "write_pos", (double)wpos);
	cJSON *arr = cJSON_AddArrayToObject(root, "records");
	if (!o->json)
		printf("ring %s: read_pos %llu, write_pos %llu, %llu bytes unconsumed\n", sp.name,
		       (unsigned long long)pos, (unsigned long long)wpos, (unsigned long long)(wpos - pos));
	int code = 0;
	long shown = 0;
	for (; shown < o->count; shown++) {
		struct ring_rec rec;
		uint64_t next;
		/* A fast consumer may release (and the producer overwrite) what we
		 * are about to read: stop when our position fell behind read_pos. */
		uint64_t rp = atomic_load_explicit(&r.hdr->read_pos, memory_order_acquire);
		if (pos < rp) {
			if (!o->json)
				printf("(the consumer moved past this point; stopping)\n");
			break;
		}
		rc = ring_peek(&r, pos, &rec, &next);
		if (rc == 0)
			break;
		if (rc < 0) {
			fprintf(stderr, "mcs-ringctl: bytes at position %llu are not a record\n", (unsigned long long)pos);
			code = 1;
			break;
		}
		cJSON *j = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, j);
		ringctl_peek_one(&rec, o->json, j);
		pos = next;
	}
	if (o->json) {
		char *text = cJSON_Print(root);
		if (text)
			printf("%s\n", text);
		free(text);
	} else if (shown == 0) {
		printf("(no unconsumed records)\n");
	}
	cJSON_Delete(root);
	ring_detach(&r);
	ctl_detach(&c);
	return code;
}

int main(int argc, char **argv)
{
	struct ringctl_opts o;
	int rc = ringctl_parse_args(&o, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : RINGCTL_EXIT_USAGE;
	if (strcmp(o.command, "list") == 0)
		return ringctl_list(&o);
	return ringctl_peek(&o);
}
