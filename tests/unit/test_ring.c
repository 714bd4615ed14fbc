/* test_ring: unit tests of shm/ring (and the segment underneath it).
 *
 * Each test opens its own ring under a unique shm name (pid + counter),
 * usually twice: a producer handle and a consumer handle, two mappings of
 * the same segment, exactly as two processes would see it. Edge states are
 * set directly (produce and consume until the cursor sits where the test
 * wants it), then the bytes in the data area are checked.
 *
 * The fixture's teardown detaches and unlinks whatever the test opened, so
 * a failing assertion leaves no segment behind in /dev/shm.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/ring.h"
#include "shm/segment.h"

struct fx {
	char name[96];
	struct ring p;   /* producer handle */
	struct ring c;   /* consumer handle */
	struct ring o;   /* spare handle (observer, re-attach) */
};

static int fx_counter;

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->name, sizeof(f->name), "/mcs.test.ring.%d.%d", (int)getpid(), fx_counter++);
	segment_unlink(f->name);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	ring_detach(&f->p);
	ring_detach(&f->c);
	ring_detach(&f->o);
	segment_unlink(f->name);
	free(f);
	return 0;
}

/* Creates the ring as producer and attaches a consumer handle. */
static void fx_open(struct fx *f, uint64_t cap, enum ring_full_policy policy)
{
	assert_int_equal(ring_create(&f->p, f->name, "test", cap, policy, RING_ROLE_PRODUCER), 0);
	assert_int_equal(f->p.seg.created, 1);
	assert_int_equal(ring_attach(&f->c, f->name, RING_ROLE_CONSUMER), 0);
}

static uint8_t fx_byte(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed * 131u + i * 7u + (i >> 8) + (i >> 16));
}

static void fx_fill(uint8_t *p, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = fx_byte(seed, i);
}

static void fx_check(const uint8_t *p, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != fx_byte(seed, i))
			fail_msg("byte %u of record seed %u: %02x != %02x", i, seed, p[i], fx_byte(seed, i));
}

/* Writes one record of len bytes (content from seed, type seed|1). */
static void fx_put(struct ring *r, uint32_t len, uint32_t seed)
{
	uint8_t *p = ring_reserve(r, len, 0);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p & 7u, 0);
	fx_fill(p, len, seed);
	ring_commit(r, seed | 1u, len);
}

/* Takes one record and checks it is (len, seed). */
static void fx_get(struct ring *r, uint32_t len, uint32_t seed)
{
	struct ring_rec rec;
	assert_int_equal(ring_next(r, &rec), 1);
	assert_int_equal(rec.len, len);
	assert_int_equal(rec.type, seed | 1u);
	assert_int_equal((uintptr_t)rec.data & 7u, 0);
	fx_check(rec.data, len, seed);
}

/* Moves both cursors to byte `pos` (a multiple of 8 < 2 * capacity) by
 * producing and consuming filler records, leaving the ring empty. */
static void fx_move_to(struct fx *f, uint64_t pos)
{
	uint32_t seed = 1000;
	while (f->p.wpos < pos) {
		uint64_t left = pos - f->p.wpos;
		uint64_t to_end = f->p.capacity - (f->p.wpos & f->p.mask);
		uint64_t step = left < to_end ? left : to_end;
		if (step > 512)
			step = 512;
		fx_put(&f->p, (uint32_t)(step - RING_REC_HDR), seed);
		ring_publish(&f->p);
		fx_get(&f->c, (uint32_t)(step - RING_REC_HDR), seed);
		ring_release(&f->c);
		seed++;
	}
	assert_int_equal(f->p.wpos, pos);
	assert_int_equal(f->c.rpos, pos);
}

static const uint32_t *fx_word(struct ring *r, uint64_t pos)
{
	return (const uint32_t *)(r->data + (pos & r->mask));
}

static uint64_t fx_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- layout and wrap ---- */

static void test_record_that_does_not_fit_before_the_end_follows_a_padding_record(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_move_to(f, 4096 - 16);                 /* 16 bytes left before the end */
	fx_put(&f->p, 24, 7);                    /* needs 32: pads 16, starts at 0 */
	assert_int_equal(f->p.wpos, 4096 + 32);
	ring_publish(&f->p);

	const uint32_t *pad = fx_word(&f->p, 4096 - 16);
	assert_int_equal(pad[0], 8);             /* payload bytes of the pad */
	assert_int_equal(pad[1], RING_TYPE_PAD);
	const uint32_t *rec = fx_word(&f->p, 0);
	assert_int_equal(rec[0], 24);
	assert_int_equal(rec[1], 7u | 1u);
	fx_check((const uint8_t *)(rec + 2), 24, 7);
	assert_int_equal(atomic_load(&f->p.hdr->write_pos), 4096 + 32);
	assert_int_equal(atomic_load(&f->p.hdr->bytes_in) , 4096 - 16 + 16 + 32);

	struct ring_rec r;
	assert_int_equal(ring_next(&f->c, &r), 1);
	assert_int_equal(r.pos, 4096);           /* the pad was skipped */
	assert_int_equal(r.len, 24);
	assert_int_equal(ring_next(&f->c, &r), 0);
	ring_release(&f->c);
	assert_int_equal(atomic_load(&f->c.hdr->read_pos), 4096 + 32);
}

static void test_header_only_padding_fills_the_last_eight_bytes(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_move_to(f, 4096 - 8);
	fx_put(&f->p, 0, 3);                     /* an empty record needs 8: fits exactly */
	fx_put(&f->p, 1, 5);                     /* needs 16 at 0: no pad, already wrapped */
	ring_publish(&f->p);
	assert_int_equal(fx_word(&f->p, 4096 - 8)[0], 0);
	assert_int_equal(fx_word(&f->p, 4096 - 8)[1], 3u | 1u);

	fx_get(&f->c, 0, 3);
	fx_get(&f->c, 1, 5);
	ring_release(&f->c);
	/* Now 8 bytes before the end again, with a record that does not fit. */
	fx_move_to(f, 2 * 4096 - 8);
	fx_put(&f->p, 8, 9);
	ring_publish(&f->p);
	assert_int_equal(fx_word(&f->p, 2 * 4096 - 8)[0], 0);
	assert_int_equal(fx_word(&f->p, 2 * 4096 - 8)[1], RING_TYPE_PAD);
	struct ring_rec r;
	assert_int_equal(ring_next(&f->c, &r), 1);
	assert_int_equal(r.pos, 2 * 4096);
	fx_check(r.data, 8, 9);
}

static void test_record_that_ends_exactly_at_the_end_needs_no_padding(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_move_to(f, 4096 - 64);
	fx_put(&f->p, 56, 11);
	assert_int_equal(f->p.wpos, 4096);
	fx_put(&f->p, 56, 12);
	assert_int_equal(f->p.wpos, 4096 + 64);
	ring_publish(&f->p);
	fx_get(&f->c, 56, 11);
	fx_get(&f->c, 56, 12);
}

static void test_wrapping_reservation_needs_room_for_its_padding_too(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_move_to(f, 4096 + 512);               /* empty, index 512 */
	for (uint32_t i = 0; i < 6; i++)
		fx_put(&f->p, 504, i);               /* up to index 3584: 512 before the end */
	ring_publish(&f->p);
	assert_int_equal(ring_free_bytes(&f->p), 1024);
	/* 1024 bytes are free but the record needs 512 of padding plus 1024. */
	errno = 0;
	assert_null(ring_reserve(&f->p, 1016, 0));
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(f->p.wpos, 4096 + 512 + 6 * 512); /* nothing padded yet */
	fx_get(&f->c, 504, 0);
	ring_release(&f->c);
	uint8_t *p = ring_reserve(&f->p, 1016, 0);
	assert_non_null(p);
	assert_ptr_equal(p, f->p.data + RING_REC_HDR);
	assert_int_equal(fx_word(&f->p, 3584)[0], 512 - 8);
	assert_int_equal(fx_word(&f->p, 3584)[1], RING_TYPE_PAD);
	fx_fill(p, 1016, 77);
	ring_commit(&f->p, 77u | 1u, 1016);
	assert_int_equal(ring_free_bytes(&f->p), 0);
	ring_publish(&f->p);
	for (uint32_t i = 1; i < 6; i++)
		fx_get(&f->c, 504, i);
	fx_get(&f->c, 1016, 77);
}

/* ---- empty and full ---- */

static void test_empty_ring_gives_nothing_and_wait_times_out(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	struct ring_rec r;
	assert_int_equal(ring_next(&f->c, &r), 0);
	assert_int_equal(ring_available(&f->c), 0);
	assert_int_equal(ring_wait_data(&f->c, 0), 0);
	uint64_t t0 = fx_now_us();
	assert_int_equal(ring_wait_data(&f->c, 30), 0);
	uint64_t dt = fx_now_us() - t0;
	assert_true(dt >= 25000);
	assert_true(dt < 1000000);
	ring_release(&f->c);                       /* nothing pending: no effect */
	assert_int_equal(atomic_load(&f->c.hdr->read_pos), 0);
	assert_int_equal(atomic_load(&f->c.hdr->records_out), 0);
}

/* Fills the ring with 504-byte payload records (512 bytes each). */
static int fx_fill_up(struct ring *p)
{
	int n = 0;
	uint8_t *d;
	while ((d = ring_reserve(p, 504, 0)) != NULL) {
		fx_fill(d, 504, 0);
		ring_commit(p, 1, 504);
		n++;
	}
	return n;
}

static void test_full_ring_refuses_at_once_with_eagain_and_counts_a_drop(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	assert_int_equal(fx_fill_up(&f->p), 8);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(atomic_load(&f->p.hdr->drops), 1);
	assert_int_equal(ring_free_bytes(&f->p), 0);
	assert_int_equal(ring_write(&f->p, 1, "x", 1, 0), -EAGAIN);
	assert_int_equal(atomic_load(&f->p.hdr->drops), 2);
	ring_publish(&f->p);
	/* One released record frees room for exactly one more. */
	fx_get(&f->c, 504, 0);
	assert_null(ring_reserve(&f->p, 504, 0)); /* consumed is not released */
	ring_release(&f->c);
	assert_non_null(ring_reserve(&f->p, 504, 0));
	ring_commit(&f->p, 1, 504);
	assert_null(ring_reserve(&f->p, 0, 0));
	assert_int_equal(atomic_load(&f->p.hdr->drops), 4);
}

static void test_full_ring_with_block_policy_times_out_with_etimedout(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_fill_up(&f->p);
	uint64_t drops = atomic_load(&f->p.hdr->drops);
	uint64_t t0 = fx_now_us();
	errno = 0;
	assert_null(ring_reserve(&f->p, 8, 50));
	uint64_t dt = fx_now_us() - t0;
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(dt >= 45000);
	assert_true(dt < 2000000);
	assert_int_equal(atomic_load(&f->p.hdr->drops), drops + 1);
	assert_int_equal(atomic_load(&f->p.hdr->full_waits), 1);
	assert_int_equal(atomic_load(&f->p.hdr->producer_sleeping), 0);
	/* Waiting published what was committed, so the consumer could progress. */
	assert_int_equal(atomic_load(&f->p.hdr->write_pos), 4096);
	assert_int_equal(ring_wait_space(&f->p, 4097, 0), -EMSGSIZE);
	assert_int_equal(ring_wait_space(&f->p, 8, 0), -ETIMEDOUT);
}

static void test_full_ring_with_drop_policy_never_waits_and_counts_every_drop(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_DROP);
	fx_fill_up(&f->p);
	ring_publish(&f->p);
	uint64_t t0 = fx_now_us();
	for (int i = 0; i < 10; i++) {
		errno = 0;
		assert_null(ring_reserve(&f->p, 8, 1000));
		assert_int_equal(errno, EAGAIN);
	}
	assert_true(fx_now_us() - t0 < 100000);
	assert_int_equal(atomic_load(&f->p.hdr->drops), 11);
	assert_int_equal(atomic_load(&f->p.hdr->full_waits), 0);
	/* Draining makes room again. */
	struct ring_rec r;
	while (ring_next(&f->c, &r) == 1)
		;
	ring_release(&f->c);
	assert_non_null(ring_reserve(&f->p, 8, 1000));
}

static void test_reservation_beyond_max_payload_is_emsgsize(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	errno = 0;
	assert_null(ring_reserve(&f->p, ring_max_payload(4096) + 1, 0));
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(atomic_load(&f->p.hdr->drops), 0);
	assert_non_null(ring_reserve(&f->p, ring_max_payload(4096), 0));
	ring_commit(&f->p, 1, 3);                /* commit less than reserved */
	assert_int_equal(f->p.wpos, 16);
	fx_put(&f->p, 5, 6);
	assert_int_equal(f->p.wpos, 32);
}

/* ---- batches ---- */

static void test_committed_records_stay_invisible_until_publish(void **state)
{
	struct fx *f = *state;
	fx_open(f, 1 << 16, RING_FULL_BLOCK);
	for (uint32_t i = 0; i < 100; i++)
		fx_put(&f->p, i, i * 2);
	struct ring_rec r;
	assert_int_equal(atomic_load(&f->p.hdr->write_pos), 0);
	assert_int_equal(atomic_load(&f->p.hdr->records_in), 0);
	assert_int_equal(ring_available(&f->c), 0);
	assert_int_equal(ring_next(&f->c, &r), 0);
	assert_int_equal(ring_wait_data(&f->c, 0), 0);

	ring_publish(&f->p);
	assert_int_equal(atomic_load(&f->p.hdr->write_pos), f->p.wpos);
	assert_int_equal(atomic_load(&f->p.hdr->records_in), 100);
	ring_publish(&f->p);                     /* nothing pending: no change */
	assert_int_equal(atomic_load(&f->p.hdr->records_in), 100);
	assert_int_equal(ring_wait_data(&f->c, 0), 1);
	for (uint32_t i = 0; i < 100; i++)
		fx_get(&f->c, i, i * 2);
	assert_int_equal(ring_next(&f->c, &r), 0);
	/* Consumed but not released: the producer still sees it all in use. */
	assert_int_equal(atomic_load(&f->c.hdr->read_pos), 0);
	ring_release(&f->c);
	assert_int_equal(atomic_load(&f->c.hdr->read_pos), f->p.wpos);
	assert_int_equal(atomic_load(&f->c.hdr->records_out), 100);
	assert_int_equal(atomic_load(&f->c.hdr->bytes_out), atomic_load(&f->p.hdr->bytes_in));
}

static void test_every_record_size_from_0_to_64k_round_trips_across_wraps(void **state)
{
	struct fx *f = *state;
	fx_open(f, 1 << 19, RING_FULL_BLOCK);
	uint32_t sizes[2048];
	int n = 0;
	for (uint32_t len = 0; len <= 300; len++)
		sizes[n++] = len;
	for (uint32_t len = 301; len < 65536; len = len * 9 / 8 + 3)
		sizes[n++] = len;
	sizes[n++] = 65535;
	sizes[n++] = 65536;
	/* Three passes, in batches of 5, so the area wraps several times with
	 * each size at varying offsets. */
	for (int pass = 0; pass < 3; pass++) {
		for (int i = 0; i < n; i += 5) {
			int m = n - i < 5 ? n - i : 5;
			for (int k = 0; k < m; k++)
				fx_put(&f->p, sizes[i + k], (uint32_t)(i + k + pass * 7));
			ring_publish(&f->p);
			for (int k = 0; k < m; k++)
				fx_get(&f->c, sizes[i + k], (uint32_t)(i + k + pass * 7));
			ring_release(&f->c);
		}
	}
	assert_true(f->p.wpos > 3 * (1u << 19));
	assert_int_equal(atomic_load(&f->c.hdr->read_pos), f->p.wpos);
	assert_int_equal(atomic_load(&f->c.hdr->records_out), 3 * (uint64_t)n);
}

/* ---- attach and resume ---- */

static void test_reattached_consumer_sees_its_unreleased_batch_again(void **state)
{
	struct fx *f = *state;
	fx_open(f, 1 << 16, RING_FULL_BLOCK);
	for (uint32_t i = 0; i < 10; i++)
		fx_put(&f->p, 16 + i, i);
	ring_publish(&f->p);
	for (uint32_t i = 0; i < 4; i++)
		fx_get(&f->c, 16 + i, i);
	ring_release(&f->c);
	for (uint32_t i = 4; i < 7; i++)
		fx_get(&f->c, 16 + i, i);
	/* "Crash": drop the handle without releasing. */
	uint32_t pid = atomic_load(&f->c.hdr->consumer_pid);
	assert_int_equal(pid, (uint32_t)getpid());
	ring_detach(&f->c);
	assert_int_equal(atomic_load(&f->p.hdr->consumer_pid), 0);
	assert_int_equal(ring_attach(&f->c, f->name, RING_ROLE_CONSUMER), 0);
	assert_int_equal(atomic_load(&f->p.hdr->consumer_pid), (uint32_t)getpid());
	for (uint32_t i = 4; i < 10; i++)
		fx_get(&f->c, 16 + i, i);
	struct ring_rec r;
	assert_int_equal(ring_next(&f->c, &r), 0);
}

static void test_reattached_producer_resumes_at_write_pos_and_drops_unpublished(void **state)
{
	struct fx *f = *state;
	fx_open(f, 1 << 16, RING_FULL_BLOCK);
	for (uint32_t i = 0; i < 3; i++)
		fx_put(&f->p, 40, i);
	ring_publish(&f->p);
	uint64_t published = f->p.wpos;
	fx_put(&f->p, 40, 99);                   /* committed, never published */
	ring_detach(&f->p);
	assert_int_equal(ring_attach(&f->p, f->name, RING_ROLE_PRODUCER), 0);
	assert_int_equal(f->p.wpos, published);
	fx_put(&f->p, 8, 3);
	ring_publish(&f->p);
	for (uint32_t i = 0; i < 3; i++)
		fx_get(&f->c, 40, i);
	fx_get(&f->c, 8, 3);
	struct ring_rec r;
	assert_int_equal(ring_next(&f->c, &r), 0);
}

static void test_create_of_an_existing_ring_attaches_to_it(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8192, RING_FULL_BLOCK);
	fx_put(&f->p, 8, 1);
	ring_publish(&f->p);
	assert_int_equal(ring_create(&f->o, f->name, "other", 8192, RING_FULL_DROP, RING_ROLE_OBSERVER), 0);
	assert_int_equal(f->o.seg.created, 0);
	assert_int_equal(f->o.hdr->policy, RING_FULL_BLOCK); /* the creator's, unchanged */
	assert_string_equal(f->o.hdr->name, "test");
	assert_int_equal(f->o.wpos, 16);
}

static void test_concurrent_creators_agree_on_one_ring(void **state)
{
	struct fx *f = *state;
	enum { N = 6 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct ring r;
			int rc = ring_create(&r, f->name, "race", 1 << 16, RING_FULL_BLOCK, RING_ROLE_OBSERVER);
			if (rc != 0)
				_exit(100);
			int created = r.seg.created;
			int ok = r.hdr->capacity == (1u << 16) && r.hdr->version == RING_VERSION;
			ring_detach(&r);
			_exit(ok ? created : 101);
		}
	}
	int creators = 0;
	for (int i = 0; i < N; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		assert_true(WEXITSTATUS(st) <= 1);
		creators += WEXITSTATUS(st);
	}
	assert_int_equal(creators, 1);
}

/* ---- refused headers and arguments ---- */

static void test_attach_refuses_bad_magic_version_capacity_and_header_size(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8192, RING_FULL_BLOCK);
	struct ring_header *h = f->p.hdr;

	h->version = RING_VERSION + 1;
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_CONSUMER), -EPROTO);
	assert_null(f->o.hdr);
	h->version = RING_VERSION;

	h->capacity = 4096;                      /* valid power of two, wrong size */
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_CONSUMER), -EPROTO);
	h->capacity = 8192 + 8;                  /* not a power of two */
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_OBSERVER), -EPROTO);
	h->capacity = 8192;

	h->hdr_size = 2048;
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_CONSUMER), -EPROTO);
	h->hdr_size = RING_HDR_SIZE;

	h->policy = 7;
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_CONSUMER), -EPROTO);
	h->policy = RING_FULL_BLOCK;

	atomic_store(&h->magic, RING_MAGIC ^ 1);
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_CONSUMER), -EPROTO);
	assert_int_equal(ring_create(&f->o, f->name, "x", 8192, RING_FULL_BLOCK, RING_ROLE_CONSUMER), -EPROTO);
	atomic_store(&h->magic, RING_MAGIC);

	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_CONSUMER), 0);
}

static void test_attach_waits_for_a_magic_published_late(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	atomic_store(&f->p.hdr->magic, 0);          /* as if the creator was still initialising */
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		usleep(100000);
		atomic_store(&f->p.hdr->magic, RING_MAGIC);
		_exit(0);
	}
	uint64_t t0 = fx_now_us();
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_CONSUMER), 0);
	assert_true(fx_now_us() - t0 >= 50000);
	waitpid(kid, NULL, 0);
}

static void test_attach_waits_for_a_creator_that_has_not_sized_the_segment_yet(void **state)
{
	struct fx *f = *state;
	int fd = shm_open(f->name, O_RDWR | O_CREAT | O_EXCL, 0600); /* size 0, like a creator's first step */
	assert_true(fd >= 0);
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		usleep(50000);
		if (ftruncate(fd, RING_HDR_SIZE + 4096) != 0)
			_exit(1);
		struct segment s;
		if (segment_map_existing(&s, f->name, 1) != 0)
			_exit(2);
		struct ring_header *h = s.base;
		h->version = RING_VERSION;
		h->hdr_size = RING_HDR_SIZE;
		h->capacity = 4096;
		segment_publish(&s, RING_MAGIC);
		_exit(0);
	}
	close(fd);
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_CONSUMER), 0);
	assert_int_equal(f->o.capacity, 4096);
	int st;
	waitpid(kid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_create_with_another_capacity_is_eexist(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8192, RING_FULL_BLOCK);
	assert_int_equal(ring_create(&f->o, f->name, "x", 16384, RING_FULL_BLOCK, RING_ROLE_PRODUCER), -EEXIST);
	assert_null(f->o.hdr);
	assert_int_equal(ring_create(&f->o, f->name, "x", 4096, RING_FULL_BLOCK, RING_ROLE_PRODUCER), -EEXIST);
}

static void test_create_refuses_bad_capacity_and_policy_with_einval(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ring_create(&f->p, f->name, "x", 12288, RING_FULL_BLOCK, RING_ROLE_PRODUCER), -EINVAL);
	assert_int_equal(ring_create(&f->p, f->name, "x", 2048, RING_FULL_BLOCK, RING_ROLE_PRODUCER), -EINVAL);
	assert_int_equal(ring_create(&f->p, f->name, "x", 0, RING_FULL_BLOCK, RING_ROLE_PRODUCER), -EINVAL);
	assert_int_equal(ring_create(&f->p, f->name, "x", RING_MAX_CAPACITY * 2, RING_FULL_BLOCK, RING_ROLE_PRODUCER), -EINVAL);
	assert_int_equal(ring_create(&f->p, f->name, "x", 4096, (enum ring_full_policy)2, RING_ROLE_PRODUCER), -EINVAL);
	assert_int_equal(ring_attach(&f->p, f->name, RING_ROLE_CONSUMER), -ENOENT);
	ring_detach(&f->p);                      /* a zeroed handle is accepted */
	ring_detach(NULL);
}

static void test_attach_refuses_a_segment_too_small_for_a_header(void **state)
{
	struct fx *f = *state;
	struct segment s;
	assert_int_equal(segment_open(&s, f->name, 100), 0);
	assert_int_equal(s.created, 1);
	segment_close(&s);
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_CONSUMER), -EPROTO);
}

/* ---- damaged records ---- */

static void test_corrupt_record_length_is_eproto_and_skipped(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_put(&f->p, 8, 1);
	uint64_t second = f->p.wpos;
	fx_put(&f->p, 8, 2);
	fx_put(&f->p, 8, 3);
	ring_publish(&f->p);
	((uint32_t *)(f->p.data + second))[0] = 0x7fffffff;

	struct ring_rec r;
	fx_get(&f->c, 8, 1);
	assert_int_equal(ring_next(&f->c, &r), -EPROTO);
	assert_int_equal(f->c.rpos, f->p.wpos);
	assert_int_equal(atomic_load(&f->c.hdr->corrupt), 1);
	assert_int_equal(ring_next(&f->c, &r), 0);
	ring_release(&f->c);
	assert_int_equal(atomic_load(&f->c.hdr->read_pos), f->p.wpos);

	/* The ring goes on working after the skip. */
	fx_put(&f->p, 32, 4);
	ring_publish(&f->p);
	fx_get(&f->c, 32, 4);
}

static void test_record_running_past_write_pos_is_eproto(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_put(&f->p, 8, 1);
	ring_publish(&f->p);
	((uint32_t *)f->p.data)[0] = 64;          /* in range of the area, past write_pos */
	struct ring_rec r;
	assert_int_equal(ring_next(&f->c, &r), -EPROTO);
	assert_int_equal(atomic_load(&f->c.hdr->corrupt), 1);
}

static void test_padding_record_of_the_wrong_size_is_eproto(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_move_to(f, 4096 - 16);
	fx_put(&f->p, 24, 7);
	ring_publish(&f->p);
	((uint32_t *)(f->p.data + 4096 - 16))[0] = 0;  /* pad claims 8, must be 16 */
	struct ring_rec r;
	assert_int_equal(ring_next(&f->c, &r), -EPROTO);
	assert_int_equal(f->c.rpos, 4096 + 32);
}

static void test_misaligned_write_pos_is_eproto_not_a_crash(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_put(&f->p, 8, 1);
	ring_publish(&f->p);
	atomic_store(&f->p.hdr->write_pos, 1u << 20); /* far beyond the capacity */
	struct ring_rec r;
	assert_int_equal(ring_next(&f->c, &r), -EPROTO);
}

/* ---- observer ---- */

static void test_peek_reads_records_without_consuming_and_skips_padding(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_move_to(f, 4096 - 16);
	fx_put(&f->p, 24, 7);                    /* after a pad */
	fx_put(&f->p, 3, 8);
	ring_publish(&f->p);
	assert_int_equal(ring_attach(&f->o, f->name, RING_ROLE_OBSERVER), 0);

	struct ring_rec r;
	uint64_t next;
	uint64_t pos = atomic_load(&f->o.hdr->read_pos);
	assert_int_equal(ring_peek(&f->o, pos, &r, &next), 1);
	assert_int_equal(r.pos, 4096);
	assert_int_equal(r.len, 24);
	fx_check(r.data, 24, 7);
	assert_int_equal(ring_peek(&f->o, next, &r, &next), 1);
	assert_int_equal(r.len, 3);
	assert_int_equal(ring_peek(&f->o, next, &r, &next), 0);
	assert_int_equal(next, 4096 + 32 + 16);
	assert_int_equal(ring_peek(&f->o, 4, &r, &next), -EPROTO);
	assert_int_equal(ring_peek(&f->o, 1u << 30, &r, &next), -EPROTO);

	/* Nothing was consumed: the consumer still gets both. */
	assert_int_equal(atomic_load(&f->o.hdr->read_pos), pos);
	fx_get(&f->c, 24, 7);
	fx_get(&f->c, 3, 8);
	assert_int_equal(atomic_load(&f->o.hdr->consumer_pid), (uint32_t)getpid());
}

/* ---- waiting and waking ---- */

struct fx_waiter {
	struct ring *r;
	volatile int started;
	uint64_t woke_us;
	int result;
	uint64_t cpu_ns;
};

static void *fx_wait_data_thread(void *arg)
{
	struct fx_waiter *w = arg;
	w->started = 1;
	w->result = ring_wait_data(w->r, 5000);
	w->woke_us = fx_now_us();
	return NULL;
}

static void test_publish_wakes_a_consumer_sleeping_in_wait_data(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	struct fx_waiter w = {.r = &f->c};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fx_wait_data_thread, &w), 0);
	while (!w.started)
		usleep(1000);
	/* Wait until it really sleeps (flag set) and then some. */
	for (int i = 0; i < 2000 && !atomic_load(&f->p.hdr->consumer_sleeping); i++)
		usleep(1000);
	assert_int_equal(atomic_load(&f->p.hdr->consumer_sleeping), 1);
	usleep(50000);
	fx_put(&f->p, 8, 1);
	uint64_t t0 = fx_now_us();
	ring_publish(&f->p);
	pthread_join(t, NULL);
	assert_int_equal(w.result, 1);
	uint64_t lat = w.woke_us - t0;
	print_message("wake latency %llu us\n", (unsigned long long)lat);
	assert_true(lat < 50000);
	assert_int_equal(atomic_load(&f->p.hdr->wakeups_sent), 1);
	assert_int_equal(atomic_load(&f->c.hdr->wakeups_recv), 1);
	assert_int_equal(atomic_load(&f->c.hdr->consumer_sleeping), 0);
	fx_get(&f->c, 8, 1);
}

static void *fx_reserve_thread(void *arg)
{
	struct fx_waiter *w = arg;
	w->started = 1;
	void *p = ring_reserve(w->r, 504, 5000);
	w->woke_us = fx_now_us();
	w->result = p != NULL;
	if (p)
		ring_commit(w->r, 1, 504);
	return NULL;
}

static void test_release_wakes_a_producer_waiting_for_space(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	fx_fill_up(&f->p);
	atomic_store(&f->p.hdr->drops, 0);
	struct fx_waiter w = {.r = &f->p};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fx_reserve_thread, &w), 0);
	for (int i = 0; i < 2000 && !atomic_load(&f->p.hdr->producer_sleeping); i++)
		usleep(1000);
	assert_int_equal(atomic_load(&f->p.hdr->producer_sleeping), 1);
	usleep(50000);
	assert_int_equal(w.result, 0);
	/* The waiting producer published its batch first: consume one record. */
	struct ring_rec r;
	assert_int_equal(ring_next(&f->c, &r), 1);
	uint64_t t0 = fx_now_us();
	ring_release(&f->c);
	pthread_join(t, NULL);
	assert_int_equal(w.result, 1);
	uint64_t lat = w.woke_us - t0;
	print_message("space wake latency %llu us\n", (unsigned long long)lat);
	assert_true(lat < 50000);
	assert_int_equal(atomic_load(&f->p.hdr->full_waits), 1);
	assert_int_equal(atomic_load(&f->p.hdr->drops), 0);
	assert_int_equal(atomic_load(&f->p.hdr->producer_sleeping), 0);
}

static void *fx_idle_thread(void *arg)
{
	struct fx_waiter *w = arg;
	struct timespec a, b;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	w->result = ring_wait_data(w->r, 300);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	w->cpu_ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)(b.tv_nsec - a.tv_nsec);
	return NULL;
}

static void test_idle_consumer_sleeps_without_burning_cpu(void **state)
{
	struct fx *f = *state;
	fx_open(f, 4096, RING_FULL_BLOCK);
	struct fx_waiter w = {.r = &f->c};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fx_idle_thread, &w), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.result, 0);
	print_message("cpu while idle 300 ms: %llu us\n", (unsigned long long)(w.cpu_ns / 1000));
	assert_true(w.cpu_ns < 30000000u);
}

static void *fx_publish_later_thread(void *arg)
{
	struct ring *p = arg;
	usleep(50000);
	fx_put(p, 8, 1);
	ring_publish(p);
	return NULL;
}

static void test_wait_any_wakes_on_whichever_ring_gets_data(void **state)
{
	struct fx *f = *state;
	struct ring prod[3], cons[3];
	char names[3][128];
	for (int i = 0; i < 3; i++) {
		snprintf(names[i], sizeof(names[i]), "%s.%d", f->name, i);
		segment_unlink(names[i]);
		assert_int_equal(ring_create(&prod[i], names[i], "m", 4096, RING_FULL_BLOCK, RING_ROLE_PRODUCER), 0);
		assert_int_equal(ring_attach(&cons[i], names[i], RING_ROLE_CONSUMER), 0);
	}
	struct ring *rs[3] = {&cons[0], &cons[1], &cons[2]};
	assert_int_equal(ring_wait_any(rs, 3, 0), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fx_publish_later_thread, &prod[2]), 0);
	uint64_t t0 = fx_now_us();
	int ready = ring_wait_any(rs, 3, 5000);
	uint64_t dt = fx_now_us() - t0;
	pthread_join(t, NULL);
	/* Without futex_waitv the fallback wakes every 10 ms: still well under 1 s. */
	int ok = ready == 1 && dt < 1000000;
	struct ring_rec r;
	int got = ring_next(&cons[2], &r);
	for (int i = 0; i < 3; i++) {
		ring_detach(&prod[i]);
		ring_detach(&cons[i]);
		segment_unlink(names[i]);
	}
	assert_true(ok);
	assert_int_equal(got, 1);
}

/* Producer and consumer threads on one mapping each: a short SPSC run with
 * random sizes and batches, checking order and content. */
struct fx_spsc {
	struct ring *r;
	uint64_t n;
	int bad;
};

static void *fx_spsc_producer(void *arg)
{
	struct fx_spsc *s = arg;
	uint32_t x = 12345;
	for (uint64_t i = 0; i < s->n; i++) {
		x = x * 1103515245u + 12345u;
		uint32_t len = 8 + (x >> 16) % 700;
		uint8_t *p = ring_reserve(s->r, len, -1);
		if (!p) {
			s->bad++;
			return NULL;
		}
		memcpy(p, &i, 8);
		fx_fill(p + 8, len - 8, (uint32_t)i);
		ring_commit(s->r, 1, len);
		if ((x >> 8) % 16 == 0)
			ring_publish(s->r);
	}
	ring_publish(s->r);
	return NULL;
}

static void test_threads_stream_records_in_order_through_a_small_ring(void **state)
{
	struct fx *f = *state;
	fx_open(f, 8192, RING_FULL_BLOCK);
	struct fx_spsc s = {.r = &f->p, .n = 200000};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fx_spsc_producer, &s), 0);
	uint32_t x = 12345;
	uint64_t i = 0;
	int bad = 0;
	while (i < s.n && !bad) {
		if (!ring_wait_data(&f->c, 5000)) {
			bad = 1;
			break;
		}
		struct ring_rec r;
		int rc, k = 0;
		while (k < 32 && (rc = ring_next(&f->c, &r)) == 1) {
			x = x * 1103515245u + 12345u;
			uint32_t len = 8 + (x >> 16) % 700;
			uint64_t seq;
			memcpy(&seq, r.data, 8);
			if (r.len != len || seq != i)
				bad = 2;
			for (uint32_t b = 8; b < len && !bad; b++)
				if (r.data[b] != fx_byte((uint32_t)i, b - 8))
					bad = 3;
			i++;
			k++;
		}
		ring_release(&f->c);
	}
	pthread_join(t, NULL);
	assert_int_equal(bad, 0);
	assert_int_equal(s.bad, 0);
	assert_int_equal(i, s.n);
}

int main(void)
{
	alarm(120); /* every test binary has a timeout */
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_record_that_does_not_fit_before_the_end_follows_a_padding_record),
		T(test_header_only_padding_fills_the_last_eight_bytes),
		T(test_record_that_ends_exactly_at_the_end_needs_no_padding),
		T(test_wrapping_reservation_needs_room_for_its_padding_too),
		T(test_empty_ring_gives_nothing_and_wait_times_out),
		T(test_full_ring_refuses_at_once_with_eagain_and_counts_a_drop),
		T(test_full_ring_with_block_policy_times_out_with_etimedout),
		T(test_full_ring_with_drop_policy_never_waits_and_counts_every_drop),
		T(test_reservation_beyond_max_payload_is_emsgsize),
		T(test_committed_records_stay_invisible_until_publish),
		T(test_every_record_size_from_0_to_64k_round_trips_across_wraps),
		T(test_reattached_consumer_sees_its_unreleased_batch_again),
		T(test_reattached_producer_resumes_at_write_pos_and_drops_unpublished),
		T(test_create_of_an_existing_ring_attaches_to_it),
		T(test_concurrent_creators_agree_on_one_ring),
		T(test_attach_refuses_bad_magic_version_capacity_and_header_size),
		T(test_attach_waits_for_a_magic_published_late),
		T(test_attach_waits_for_a_creator_that_has_not_sized_the_segment_yet),
		T(test_create_with_another_capacity_is_eexist),
		T(test_create_refuses_bad_capacity_and_policy_with_einval),
		T(test_attach_refuses_a_segment_too_small_for_a_header),
		T(test_corrupt_record_length_is_eproto_and_skipped),
		T(test_record_running_past_write_pos_is_eproto),
		T(test_padding_record_of_the_wrong_size_is_eproto),
		T(test_misaligned_write_pos_is_eproto_not_a_crash),
		T(test_peek_reads_records_without_consuming_and_skips_padding),
		T(test_publish_wakes_a_consumer_sleeping_in_wait_data),
		T(test_release_wakes_a_producer_waiting_for_space),
		T(test_idle_consumer_sleeps_without_burning_cpu),
		T(test_wait_any_wakes_on_whichever_ring_gets_data),
		T(test_threads_stream_records_in_order_through_a_small_ring),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
