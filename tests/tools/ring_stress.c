/* ring_stress: a two-process stress test of the shm ring with at-least-once
 * delivery across consumer crashes.
 *
 *   ring_stress produce NAME COUNT [options]
 *   ring_stress consume NAME COUNT STATEFILE [options]
 *   ring_stress state STATEFILE          prints "last taken dups redelivered restarts done"
 *   ring_stress stat NAME                prints the ring's counters and positions
 *   ring_stress kill STATEFILE PID AT [held]
 *                                        SIGKILLs PID once it processed AT records
 *                                        and holds a partly processed batch, or
 *                                        with "held" a processed, unreleased one
 *
 *   options: -c CAPACITY  ring bytes (default 1 MiB; produce creates the ring)
 *            -m MIN -M MAX  payload sizes (default 16..4096; MIN >= 16)
 *            -b BATCH     records per publish / per release (default 256)
 *            -s SEED      size sequence seed (default 1)
 *            -d MS        consumer: every 1024th batch, wait MS ms between
 *                         persisting and releasing (a slow "fsync"), so
 *                         that a kill can land there and replay a batch the
 *                         consumer already processed (duplicates)
 *
 * Record i (seq = i) has a length drawn from seq and SEED, and carries
 * {u64 seq, u64 XXH3(content, seed = seq), content}, where the content is a
 * pure function of seq. The consumer regenerates and compares every byte,
 * so any loss, reorder, corruption or mix-up is caught.
 *
 * At-least-once check: the consumer takes up to BATCH records, "processes"
 * them (verifies them), stores its last processed seq in STATEFILE (a
 * mapped file: it survives SIGKILL), and only then releases the batch. When
 * it is SIGKILLed and restarted, the ring hands it the unreleased batch
 * again; the consumer accepts a seq below the stored one only as a
 * contiguous replay of that one batch (at most BATCH records back from the
 * last record it had taken), and requires that no seq is skipped. Replays
 * are counted in STATEFILE across restarts. Exits 0 when COUNT records were verified, 1 on
 * any violation (with a message naming the seq), 2 on usage or setup errors.
 *
 * Not a unit test: tests/integration/test_ring_stress.sh drives it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "shm/ring.h"

#define STRESS_HDR 16u

struct stress_opts {
	uint64_t capacity;
	uint32_t min_len;
	uint32_t max_len;
	uint32_t batch;
	uint32_t hold_ms;
	uint64_t seed;
};

/* What the consumer keeps across restarts (and nothing else), in a small
 * file mapped MAP_SHARED: its stores land in the page cache at once and
 * survive SIGKILL, without a syscall per batch. */
struct stress_state {
	uint64_t last;        /* processed (persisted) records: seqs below are done */
	uint64_t taken;       /* records handed out by ring_next so far (seq + 1) */
	uint64_t dups;        /* processed records seen again after restarts, in total */
	uint64_t redelivered; /* taken records handed out again after restarts, in total */
	uint64_t restarts;    /* consumer starts after the first */
	uint64_t done;        /* 1 once COUNT records were processed */
	uint64_t holding;     /* 1 between persisting a batch and releasing it (-d) */
};

static double stress_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t stress_mix(uint64_t x)
{
	/* splitmix64 finaliser */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t stress_len(const struct stress_opts *o, uint64_t seq)
{
	uint32_t span = o->max_len - o->min_len + 1;
	return o->min_len + (uint32_t)(stress_mix(seq ^ (o->seed << 40)) % span);
}

/* Content word i of record seq. */
static inline uint64_t stress_word(uint64_t base, uint64_t i)
{
	return base + i * 0x9e3779b97f4a7c15ull;
}

/* Writes the content of record seq into p (len bytes, rounded up to whole
 * words: the ring reservation is padded to 8, so the tail word is ours). */
static void stress_fill(uint8_t *p, uint32_t len, uint64_t seq)
{
	uint64_t base = stress_mix(seq);
	uint32_t words = (len - STRESS_HDR + 7) / 8;
	uint8_t *c = p + STRESS_HDR;
	for (uint32_t i = 0; i < words; i++) {
		uint64_t w = stress_word(base, i);
		memcpy(c + 8 * i, &w, 8);
	}
	uint64_t sum = XXH3_64bits_withSeed(c, len - STRESS_HDR, seq);
	memcpy(p, &seq, 8);
	memcpy(p + 8, &sum, 8);
}

/* Checks a record against what seq must be. Returns NULL or what is wrong. */
static const char *stress_verify(const struct stress_opts *o, const struct ring_rec *r, uint64_t seq)
{
	uint64_t got, sum;
	if (r->len < STRESS_HDR)
		return "record shorter than its header";
	memcpy(&got, r->data, 8);
	if (got != seq)
		return "sequence number out of order";
	if (r->len != stress_len(o, seq) || r->type != 1)
		return "wrong length or type";
	memcpy(&sum, r->data + 8, 8);
	const uint8_t *c = r->data + STRESS_HDR;
	uint32_t n = r->len - STRESS_HDR;
	if (XXH3_64bits_withSeed(c, n, seq) != sum)
		return "checksum mismatch";
	uint64_t base = stress_mix(seq);
	uint32_t i = 0;
	for (; 8 * (i + 1) <= n; i++) {
		uint64_t w;
		memcpy(&w, c + 8 * i, 8);
		if (w != stress_word(base, i))
			return "content mismatch";
	}
	if (8 * i < n) {
		uint64_t w = stress_word(base, i);
		if (memcmp(c + 8 * i, &w, n - 8 * i) != 0)
			return "content mismatch in the tail";
	}
	return NULL;
}

static int stress_produce(const char *name, uint64_t count, const struct stress_opts *o)
{
	struct ring r;
	int rc = ring_create(&r, name, "stress", o->capacity, RING_FULL_BLOCK, RING_ROLE_PRODUCER);
	if (rc != 0) {
		fprintf(stderr, "ring_stress: ring_create(%s) failed: %s\n", name, strerror(-rc));
		return 2;
	}
	if (r.wpos != 0) {
		fprintf(stderr, "ring_stress: ring %s is not fresh (write_pos %" PRIu64 ")\n", name, r.wpos);
		ring_detach(&r);
		return 2;
	}
	double t0 = stress_now();
	uint32_t in_batch = 0;
	for (uint64_t seq = 0; seq < count; seq++) {
		uint32_t len = stress_len(o, seq);
		uint8_t *p = ring_reserve(&r, len, -1);
		if (!p) {
			fprintf(stderr, "ring_stress: ring_reserve(%u) failed at seq %" PRIu64 ": %s\n",
				len, seq, strerror(errno));
			ring_detach(&r);
			return 1;
		}
		stress_fill(p, len, seq);
		ring_commit(&r, 1, len);
		if (++in_batch == o->batch) {
			ring_publish(&r);
			in_batch = 0;
		}
	}
	ring_publish(&r);
	double dt = stress_now() - t0;
	printf("produced %" PRIu64 " records in %.2f s: %.2f M records/s, full waits %" PRIu64 "\n",
	       count, dt, (double)count / dt / 1e6, (uint64_t)atomic_load(&r.hdr->full_waits));
	ring_detach(&r);
	return 0;
}

/* Maps the state file (created zeroed when absent). Returns the mapping or
 * NULL with a message. */
static struct stress_state *stress_state_map(const char *path, int create)
{
	int fd = open(path, create ? O_RDWR | O_CREAT : O_RDONLY, 0644);
	if (fd < 0) {
		fprintf(stderr, "ring_stress: open(%s) failed: %s\n", path, strerror(errno));
		return NULL;
	}
	if (create && ftruncate(fd, sizeof(struct stress_state)) != 0) {
		fprintf(stderr, "ring_stress: ftruncate(%s) failed: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	void *p = mmap(NULL, sizeof(struct stress_state), PROT_READ | (create ? PROT_WRITE : 0),
		       MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "ring_stress: mmap(%s) failed: %s\n", path, strerror(errno));
		return NULL;
	}
	return p;
}

static uint8_t stress_wal[4u << 20] __attribute__((aligned(64)));

static int stress_consume(const char *name, uint64_t count, const char *state_path,
			  const struct stress_opts *o)
{
	struct stress_state *st = stress_state_map(state_path, 1);
	if (!st)
		return 2;
	int restarted = st->taken > 0;
	if (restarted)
		st->restarts++;
	struct ring r;
	int rc;
	for (int i = 0; (rc = ring_attach(&r, name, RING_ROLE_CONSUMER)) == -ENOENT && i < 5000; i++)
		usleep(1000); /* the producer creates the ring */
	if (rc != 0) {
		fprintf(stderr, "ring_stress: ring_attach(%s) failed: %s\n", name, strerror(-rc));
		munmap(st, sizeof(*st));
		return 2;
	}

	/* `next` is the seq the next record must carry. After a restart the
	 * ring replays the unreleased batch: it starts at some s0 <= last (no
	 * loss), and s0 >= taken - BATCH (at most the one batch held at the
	 * kill). Records below `last` were processed before: duplicates the
	 * consumer drops (here: verifies and counts); records in [last, taken)
	 * were handed out but not processed: redelivered, not duplicates. */
	uint64_t next = UINT64_MAX, verified = 0;
	size_t wal_off = 0;
	uint64_t batches = 0;
	double t0 = stress_now();
	int status = 0;
	/* Runs until COUNT records are processed and nothing is left unreleased
	 * (a restart after the last state write replays the last batch). */
	while (st->last < count || ring_available(&r) != 0) {
		if (!ring_wait_data(&r, 1000))
			continue;
		struct ring_rec rec;
		uint32_t taken = 0;
		while (taken < o->batch && (rc = ring_next(&r, &rec)) == 1) {
			if (rec.len < 8) {
				fprintf(stderr, "ring_stress: short record of %u bytes\n", rec.len);
				status = 1;
				goto out;
			}
			if (next == UINT64_MAX) {
				uint64_t seq;
				memcpy(&seq, rec.data, 8);
				if (seq > st->last || seq + o->batch < st->taken) {
					fprintf(stderr, "ring_stress: first seq %" PRIu64 " after restart, "
						"processed %" PRIu64 ", taken %" PRIu64 ": %s\n", seq, st->last,
						st->taken, seq > st->last ? "records lost" :
						"replay longer than one batch");
					status = 1;
					goto out;
				}
				if (restarted) {
					printf("restart %" PRIu64 ": resumed at seq %" PRIu64 ": %" PRIu64
					       " records redelivered, of which %" PRIu64 " already processed "
					       "(duplicates)\n", st->restarts, seq, st->taken - seq,
					       st->last - seq);
					st->redelivered += st->taken - seq;
					st->dups += st->last - seq;
				}
				next = seq;
			}
			if (next >= count) {
				fprintf(stderr, "ring_stress: record beyond COUNT at pos %" PRIu64 "\n", rec.pos);
				status = 1;
				goto out;
			}
			/* "Processing" is what an aggregator does: copy the record
			 * into its log (here a local buffer), then use that copy. */
			if (wal_off + rec.len > sizeof(stress_wal))
				wal_off = 0;
			memcpy(stress_wal + wal_off, rec.data, rec.len);
			struct ring_rec copy = rec;
			copy.data = stress_wal + wal_off;
			wal_off = (wal_off + rec.len + 7) & ~(size_t)7;
			const char *bad = stress_verify(o, &copy, next);
			if (bad) {
				uint64_t got;
				memcpy(&got, rec.data, 8);
				fprintf(stderr, "ring_stress: record at pos %" PRIu64 " (expected seq %" PRIu64
					", got %" PRIu64 ", len %u): %s\n", rec.pos, next, got, rec.len, bad);
				status = 1;
				goto out;
			}
			next++;
			if (next > st->taken)
				st->taken = next;
			if (next > st->last)
				verified++;
			taken++;
		}
		if (rc < 0) {
			fprintf(stderr, "ring_stress: ring_next failed: %s\n", strerror(-rc));
			status = 1;
			goto out;
		}
		if (taken == 0)
			continue;
		/* "Processed": persist the progress, then release the batch. */
		if (next > st->last)
			st->last = next;
		if (st->last >= count)
			st->done = 1;
		atomic_thread_fence(memory_order_release);
		if (o->hold_ms && ++batches % 1024 == 0) {
			st->holding = 1;
			usleep(o->hold_ms * 1000u);
		}
		ring_release(&r);
		st->holding = 0;
	}
	double dt = stress_now() - t0;
	printf("consumed %" PRIu64 " new records in %.2f s: %.2f M records/s; in total %" PRIu64
	       " redelivered, %" PRIu64 " duplicates, %" PRIu64 " restarts, ring corrupt %" PRIu64 "\n",
	       verified, dt, (double)verified / dt / 1e6, st->redelivered, st->dups, st->restarts,
	       (uint64_t)atomic_load(&r.hdr->corrupt));
out:
	ring_detach(&r);
	munmap(st, sizeof(*st));
	return status;
}

static int stress_usage(void)
{
	fprintf(stderr, "usage: ring_stress produce NAME COUNT [-c CAP] [-m MIN] [-M MAX] [-b BATCH] [-s SEED] [-d MS]\n"
			"       ring_stress consume NAME COUNT STATEFILE [same options]\n"
			"       ring_stress state STATEFILE\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "state") == 0) {
		struct stress_state *st = stress_state_map(argv[2], 0);
		if (!st)
			return 2;
		printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
		       st->last, st->taken, st->dups, st->redelivered, st->restarts, st->done);
		munmap(st, sizeof(*st));
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "kill") == 0) {
		/* Watches the consumer's state until it has processed AT records
		 * and is inside a batch (taken > processed), then kills it: the
		 * batch it holds is unreleased, so the ring must hand it out
		 * again. Gives up waiting for the inside-a-batch moment after 5 s
		 * and kills anyway. */
		/* The consumer may not have created and sized its file yet. */
		struct stat sb;
		for (int i = 0; i < 10000; i++) {
			if (stat(argv[2], &sb) == 0 && sb.st_size >= (off_t)sizeof(struct stress_state))
				break;
			usleep(1000);
		}
		struct stress_state *st = stress_state_map(argv[2], 0);
		if (!st)
			return 2;
		pid_t pid = (pid_t)strtol(argv[3], NULL, 0);
		uint64_t at = strtoull(argv[4], NULL, 0);
		int held = argc >= 6 && strcmp(argv[5], "held") == 0;
		double deadline = 0;
		for (uint64_t spins = 0;; spins++) {
			uint64_t last = __atomic_load_n(&st->last, __ATOMIC_RELAXED);
			uint64_t taken = __atomic_load_n(&st->taken, __ATOMIC_RELAXED);
			uint64_t holding = __atomic_load_n(&st->holding, __ATOMIC_RELAXED);
			if (last >= at) {
				if (deadline == 0)
					deadline = stress_now() + 5;
				if ((held ? holding != 0 : taken > last) || stress_now() > deadline)
					break;
			} else if (spins % 1024 == 0) {
				if (kill(pid, 0) != 0)
					return 1;
				usleep(200);
			}
		}
		if (kill(pid, SIGKILL) != 0)
			return 1;
		munmap(st, sizeof(*st));
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "stat") == 0) {
		struct ring r;
		int rc = ring_attach(&r, argv[2], RING_ROLE_OBSERVER);
		if (rc != 0) {
			fprintf(stderr, "ring_stress: ring_attach(%s) failed: %s\n", argv[2], strerror(-rc));
			return 2;
		}
		struct ring_header *h = r.hdr;
		printf("records_in=%" PRIu64 " records_out=%" PRIu64 " write_pos=%" PRIu64
		       " read_pos=%" PRIu64 " corrupt=%" PRIu64 " drops=%" PRIu64 " full_waits=%" PRIu64
		       " wakeups_sent=%" PRIu64 "\n",
		       (uint64_t)atomic_load(&h->records_in), (uint64_t)atomic_load(&h->records_out),
		       (uint64_t)atomic_load(&h->write_pos), (uint64_t)atomic_load(&h->read_pos),
		       (uint64_t)atomic_load(&h->corrupt), (uint64_t)atomic_load(&h->drops),
		       (uint64_t)atomic_load(&h->full_waits), (uint64_t)atomic_load(&h->wakeups_sent));
		ring_detach(&r);
		return 0;
	}
	if (argc < 4)
		return stress_usage();
	const char *mode = argv[1], *name = argv[2];
	uint64_t count = strtoull(argv[3], NULL, 0);
	const char *state_path = NULL;
	int argi = 4;
	if (strcmp(mode, "consume") == 0) {
		if (argc < 5)
			return stress_usage();
		state_path = argv[4];
		argi = 5;
	} else if (strcmp(mode, "produce") != 0) {
		return stress_usage();
	}
	struct stress_opts o = {.capacity = 1u << 20, .min_len = 16, .max_len = 4096, .batch = 256, .seed = 1};
	optind = argi;
	int c;
	while ((c = getopt(argc, argv, "c:m:M:b:s:d:")) != -1) {
		switch (c) {
		case 'c': o.capacity = strtoull(optarg, NULL, 0); break;
		case 'm': o.min_len = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'M': o.max_len = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'b': o.batch = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'd': o.hold_ms = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': o.seed = strtoull(optarg, NULL, 0); break;
		default: return stress_usage();
		}
	}
	if (o.min_len < STRESS_HDR || o.max_len < o.min_len || o.batch == 0 ||
	    o.max_len > ring_max_payload(o.capacity)) {
		fprintf(stderr, "ring_stress: need 16 <= MIN <= MAX <= capacity/4 - 8, BATCH > 0\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (state_path)
		return stress_consume(name, count, state_path, &o);
	return stress_produce(name, count, &o);
}
