/* ring_bench: throughput of one shm ring between two processes.
 *
 *   ring_bench [-n RECORDS] [-b BATCH] [-c CAPACITY] [-s SIZE]... [-P]
 *
 * For each payload size (default 64 and 1024 bytes) the parent creates a
 * ring and forks a consumer; the parent produces RECORDS records (each:
 * an 8-byte sequence number, then a payload copied from a template),
 * publishing once per BATCH records; the consumer takes up to BATCH
 * records, reads every payload byte (a word sum) and releases once per
 * batch. The two processes are pinned to different CPUs unless -P.
 * Prints records/s and payload GB/s per size; the time is from the first
 * reservation to the consumer's last release. Exits 1 when the consumer's
 * sum or count is wrong (the bench checks what it measures).
 *
 * Not a test of correctness under faults: see ring_stress.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/ring.h"

struct bench_result {
	uint64_t records;
	uint64_t sum;
	double t_end;
};

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench_pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* best effort */
}

static uint64_t bench_sum(const uint8_t *p, uint32_t len)
{
	uint64_t s = 0, w;
	uint32_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		s += w;
	}
	for (; i < len; i++)
		s += p[i];
	return s;
}

static void bench_consumer(const char *name, uint64_t n, uint32_t batch, int wfd, int pin)
{
	struct ring r;
	struct bench_result res = {0};
	if (pin)
		bench_pin(1);
	if (ring_attach(&r, name, RING_ROLE_CONSUMER) != 0)
		_exit(2);
	while (res.records < n) {
		if (!ring_wait_data(&r, 1000))
			continue;
		struct ring_rec rec;
		uint32_t k = 0;
		while (k < batch && ring_next(&r, &rec) == 1) {
			res.sum += bench_sum(rec.data, rec.len);
			k++;
		}
		res.records += k;
		ring_release(&r);
	}
	res.t_end = bench_now();
	if (write(wfd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(3);
	ring_detach(&r);
	_exit(0);
}

static int bench_one(uint32_t size, uint64_t n, uint32_t batch, uint64_t cap, int pin)
{
	char name[64];
	snprintf(name, sizeof(name), "/mcs.bench.%d.%u", (int)getpid(), size);
	segment_unlink(name);
	struct ring r;
	int rc = ring_create(&r, name, "bench", cap, RING_FULL_BLOCK, RING_ROLE_PRODUCER);
	if (rc != 0) {
		fprintf(stderr, "ring_bench: ring_create(%s) failed: %s\n", name, strerror(-rc));
		return 1;
	}
	int pfd[2];
	if (pipe(pfd) != 0) {
		perror("ring_bench: pipe");
		ring_detach(&r);
		segment_unlink(name);
		return 1;
	}
	pid_t kid = fork();
	if (kid < 0) {
		perror("ring_bench: fork");
		ring_detach(&r);
		segment_unlink(name);
		return 1;
	}
	if (kid == 0) {
		close(pfd[0]);
		bench_consumer(name, n, batch, pfd[1], pin);
	}
	close(pfd[1]);
	if (pin)
		bench_pin(0);

	uint8_t tmpl[1 << 16];
	for (uint32_t i = 0; i < sizeof(tmpl); i++)
		tmpl[i] = (uint8_t)(i * 13 + 1);
	uint64_t expect = 0, tsum = size > 8 ? bench_sum(tmpl + 8, size - 8) : 0;
	usleep(20000); /* let the consumer attach and park */
	double t0 = bench_now();
	uint32_t k = 0;
	for (uint64_t seq = 0; seq < n; seq++) {
		uint8_t *p = ring_reserve(&r, size, -1);
		if (!p) {
			fprintf(stderr, "ring_bench: ring_reserve failed: %s\n", strerror(errno));
			kill(kid, SIGKILL);
			break;
		}
		memcpy(p, &seq, 8);
		memcpy(p + 8, tmpl + 8, size - 8);
		ring_commit(&r, 1, size);
		if (++k == batch) {
			ring_publish(&r);
			k = 0;
		}
	}
	ring_publish(&r);
	double t_prod = bench_now();
	/* The consumer's sum: each record adds seq (first word) + the template. */
	expect = n * tsum + (n * (n - 1)) / 2;

	struct bench_result res = {0};
	ssize_t got = read(pfd[0], &res, sizeof(res));
	int st = 0;
	waitpid(kid, &st, 0);
	close(pfd[0]);
	uint64_t full_waits = atomic_load(&r.hdr->full_waits);
	uint64_t wakes = atomic_load(&r.hdr->wakeups_sent);
	ring_detach(&r);
	segment_unlink(name);
	if (got != (ssize_t)sizeof(res) || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "ring_bench: consumer failed\n");
		return 1;
	}
	if (res.records != n || res.sum != expect) {
		fprintf(stderr, "ring_bench: consumer saw %" PRIu64 " records, sum %" PRIx64 " != %" PRIx64 "\n",
			res.records, res.sum, expect);
		return 1;
	}
	double dt = res.t_end - t0;
	printf("size %5u B  batch %4u  %10" PRIu64 " records  %6.3f s  %7.2f M records/s  %6.2f GB/s"
	       "  (producer done at %.3f s; full waits %" PRIu64 ", wakeups %" PRIu64 ")\n",
	       size, batch, n, dt, (double)n / dt / 1e6, (double)n * size / dt / 1e9,
	       t_prod - t0, full_waits, wakes);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = 0, cap = 1u << 20;
	uint32_t batch = 256, sizes[16];
	int nsizes = 0, pin = 1, c;
	while ((c = getopt(argc, argv, "n:b:c:s:P")) != -1) {
		switch (c) {
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 'b': batch = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'c': cap = strtoull(optarg, NULL, 0); break;
		case 's':
			if (nsizes < 16)
				sizes[nsizes++] = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'P': pin = 0; break;
		default:
			fprintf(stderr, "usage: ring_bench [-n RECORDS] [-b BATCH] [-c CAPACITY] [-s SIZE]... [-P]\n");
			return 2;
		}
	}
	if (nsizes == 0) {
		sizes[nsizes++] = 64;
		sizes[nsizes++] = 1024;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		pin = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rc = 0;
	for (int i = 0; i < nsizes; i++) {
		uint32_t s = sizes[i];
		if (s < 8 || s > 65536 || s > ring_max_payload(cap) || batch == 0) {
			fprintf(stderr, "ring_bench: size %u: need 8 <= size <= min(64 KiB, capacity/4 - 8)\n", s);
			return 2;
		}
		uint64_t cnt = n ? n : (s <= 128 ? 100000000u : 10000000u);
		rc |= bench_one(s, cnt, batch, cap, pin);
	}
	return rc;
}
