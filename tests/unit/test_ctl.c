/* test_ctl: unit tests of shm/ctl (the instance control block): create,
 * attach, shape checks, slot lookup, names. Each test uses its own instance
 * name (pid + counter) and unlinks it in teardown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/ctl.h"

static int ctl_fx_counter;

static int fx_setup(void **state)
{
	char *inst = malloc(64);
	if (!inst)
		return -1;
	snprintf(inst, 64, "test-ctl-%d-%d", (int)getpid(), ctl_fx_counter++);
	ctl_unlink(inst);
	*state = inst;
	return 0;
}

static int fx_teardown(void **state)
{
	ctl_unlink(*state);
	free(*state);
	return 0;
}

static const struct ctl_shape fx_shape = {
	.n_stage = {2, 3, 1, 2},
	.sample_ring_bytes = 1 << 20,
	.alert_ring_bytes = 1 << 16,
	.query_ring_bytes = 1 << 18,
};

static void test_create_initialises_the_shape_and_every_slot(void **state)
{
	const char *inst = *state;
	struct ctl c;
	assert_int_equal(ctl_create(&c, inst, &fx_shape), 0);
	assert_int_equal(c.seg.created, 1);
	struct ctl_header *h = c.hdr;
	assert_true(atomic_load(&h->magic) == CTL_MAGIC);
	assert_int_equal(h->version, CTL_VERSION);
	assert_int_equal(h->nslots, 8);
	assert_string_equal(h->instance, inst);
	assert_true(h->sample_ring_bytes == (1 << 20));
	uint32_t want_stage[8] = {0, 0, 1, 1, 1, 2, 3, 3};
	uint32_t want_index[8] = {0, 1, 0, 1, 2, 0, 0, 1};
	for (int i = 0; i < 8; i++) {
		assert_int_equal(h->slots[i].stage, want_stage[i]);
		assert_int_equal(h->slots[i].index, want_index[i]);
		assert_int_equal(atomic_load(&h->slots[i].pid), 0);
	}
	ctl_detach(&c);
	assert_null(c.hdr);
	ctl_detach(&c);   /* twice is fine */
	ctl_detach(NULL);
}

static void test_slot_lookup_maps_stage_and_index_to_its_slot(void **state)
{
	const char *inst = *state;
	struct ctl c;
	assert_int_equal(ctl_create(&c, inst, &fx_shape), 0);
	assert_ptr_equal(ctl_slot(&c, CTL_COLLECTOR, 0), &c.hdr->slots[0]);
	assert_ptr_equal(ctl_slot(&c, CTL_COLLECTOR, 1), &c.hdr->slots[1]);
	assert_ptr_equal(ctl_slot(&c, CTL_AGGREGATOR, 2), &c.hdr->slots[4]);
	assert_ptr_equal(ctl_slot(&c, CTL_ALERTER, 0), &c.hdr->slots[5]);
	assert_ptr_equal(ctl_slot(&c, CTL_APISERVER, 1), &c.hdr->slots[7]);
	assert_null(ctl_slot(&c, CTL_COLLECTOR, 2));
	assert_null(ctl_slot(&c, CTL_ALERTER, 1));
	assert_null(ctl_slot(&c, CTL_STAGES, 0));
	assert_null(ctl_slot(&c, (enum ctl_stage)-1, 0));
	assert_null(ctl_slot(NULL, CTL_COLLECTOR, 0));
	for (int st = 0; st < CTL_STAGES; st++)
		for (uint32_t i = 0; i < fx_shape.n_stage[st]; i++) {
			struct ctl_slot *s = ctl_slot(&c, (enum ctl_stage)st, i);
			assert_int_equal(s->stage, (uint32_t)st);
			assert_int_equal(s->index, i);
		}
	/* Counters and heartbeat through one mapping are seen through another. */
	struct ctl r;
	assert_int_equal(ctl_attach(&r, inst, 0), 0);
	struct ctl_slot *s = ctl_slot(&c, CTL_AGGREGATOR, 1);
	ctl_add(s, CTL_C_SAMPLES_IN, 5);
	ctl_add(s, CTL_C_SAMPLES_IN, 7);
	ctl_set(s, CTL_C_SERIES, 99);
	ctl_beat(s);
	ctl_add(NULL, CTL_C_SAMPLES_IN, 1);   /* NULL slots are ignored */
	ctl_beat(NULL);
	struct ctl_slot *rs = ctl_slot(&r, CTL_AGGREGATOR, 1);
	assert_int_equal(atomic_load(&rs->counters[CTL_C_SAMPLES_IN]), 12);
	assert_int_equal(atomic_load(&rs->counters[CTL_C_SERIES]), 99);
	assert_true(atomic_load(&rs->heartbeat_ms) > 0);
	ctl_detach(&r);
	ctl_detach(&c);
}

static void test_create_of_an_existing_block_with_the_same_shape_attaches(void **state)
{
	const char *inst = *state;
	struct ctl a, b;
	assert_int_equal(ctl_create(&a, inst, &fx_shape), 0);
	ctl_slot(&a, CTL_ALERTER, 0)->restarts = 3;
	assert_int_equal(ctl_create(&b, inst, &fx_shape), 0);
	assert_int_equal(b.seg.created, 0);
	assert_int_equal(atomic_load(&ctl_slot(&b, CTL_ALERTER, 0)->restarts), 3);
	ctl_detach(&b);
	ctl_detach(&a);
}

static void test_create_with_another_shape_is_eexist(void **state)
{
	const char *inst = *state;
	struct ctl a, b;
	assert_int_equal(ctl_create(&a, inst, &fx_shape), 0);
	struct ctl_shape other = fx_shape;
	other.n_stage[CTL_AGGREGATOR] = 4;
	assert_int_equal(ctl_create(&b, inst, &other), -EEXIST);
	assert_null(b.hdr);
	other = fx_shape;
	other.sample_ring_bytes *= 2;
	assert_int_equal(ctl_create(&b, inst, &other), -EEXIST);
	other = fx_shape;
	other.alert_ring_bytes = 0;
	assert_int_equal(ctl_create(&b, inst, &other), -EEXIST);
	other = fx_shape;
	other.query_ring_bytes += 4096;
	assert_int_equal(ctl_create(&b, inst, &other), -EEXIST);
	ctl_detach(&a);
}

static void test_create_refuses_too_many_processes(void **state)
{
	const char *inst = *state;
	struct ctl c;
	struct ctl_shape big = fx_shape;
	big.n_stage[CTL_COLLECTOR] = CTL_MAX_SLOTS;
	assert_int_equal(ctl_create(&c, inst, &big), -EINVAL);
	/* Counts whose 32-bit sum wraps to a small number. */
	big.n_stage[CTL_COLLECTOR] = 0xffffffffu;
	big.n_stage[CTL_AGGREGATOR] = 2;
	assert_int_equal(ctl_create(&c, inst, &big), -EINVAL);
	assert_int_equal(ctl_create(&c, "", &fx_shape), -EINVAL);
	assert_int_equal(ctl_create(&c, "a/b", &fx_shape), -EINVAL);
}

static void test_attach_refuses_missing_and_damaged_blocks(void **state)
{
	const char *inst = *state;
	struct ctl a, b;
	assert_int_equal(ctl_attach(&b, inst, 1), -ENOENT);
	assert_int_equal(ctl_create(&a, inst, &fx_shape), 0);
	assert_int_equal(ctl_attach(&b, inst, 1), 0);
	ctl_detach(&b);

	a.hdr->version = CTL_VERSION + 1;
	assert_int_equal(ctl_attach(&b, inst, 0), -EPROTO);
	assert_int_equal(ctl_create(&b, inst, &fx_shape), -EPROTO);
	a.hdr->version = CTL_VERSION;

	a.hdr->nslots = 9;
	assert_int_equal(ctl_attach(&b, inst, 0), -EPROTO);
	a.hdr->nslots = 8;

	/* Stage counts that wrap the sum to nslots must not pass: ctl_slot
	 * would then index far past the slot table. */
	uint32_t saved[CTL_STAGES];
	memcpy(saved, a.hdr->n_stage, sizeof(saved));
	a.hdr->n_stage[0] = 0xffffffffu;
	a.hdr->n_stage[1] = 9;
	a.hdr->n_stage[2] = 0;
	a.hdr->n_stage[3] = 0;   /* 0xffffffff + 9 = 8 (mod 2^32) */
	assert_int_equal(ctl_attach(&b, inst, 0), -EPROTO);
	memcpy(a.hdr->n_stage, saved, sizeof(saved));

	atomic_store(&a.hdr->magic, CTL_MAGIC + 1);
	assert_int_equal(ctl_attach(&b, inst, 0), -EPROTO);
	atomic_store(&a.hdr->magic, CTL_MAGIC);
	assert_int_equal(ctl_attach(&b, inst, 0), 0);
	ctl_detach(&b);
	ctl_detach(&a);
}

static void test_names_and_counter_metadata(void **state)
{
	(void)state;
	char buf[64];
	ctl_ring_sample(buf, sizeof(buf), 0, 1);
	assert_string_equal(buf, "c0-a1");
	ctl_ring_alert(buf, sizeof(buf), 2, 0);
	assert_string_equal(buf, "a2-r0");
	ctl_ring_query(buf, sizeof(buf), 0, 1);
	assert_string_equal(buf, "p0-a1-q");
	ctl_ring_reply(buf, sizeof(buf), 1, 0);
	assert_string_equal(buf, "a1-p0-r");
	char name[128];
	assert_int_equal(ctl_ring_shm_name(name, sizeof(name), "prod", "c0-a1"), 0);
	assert_string_equal(name, "/mcs.prod.ring.c0-a1");
	assert_int_equal(ctl_ring_shm_name(name, 10, "prod", "c0-a1"), -ENAMETOOLONG);
	assert_int_equal(ctl_ring_shm_name(name, sizeof(name), "p/x", "c0-a1"), -EINVAL);

	for (int i = 0; i < CTL_STAGES; i++)
		assert_int_equal(ctl_stage_parse(ctl_stage_name((enum ctl_stage)i)), i);
	assert_int_equal(ctl_stage_parse("nope"), -1);
	assert_string_equal(ctl_stage_name((enum ctl_stage)9), "unknown");
	for (int i = 0; i < CTL_C_COUNT; i++) {
		assert_non_null(ctl_counter_name((enum ctl_counter)i));
		assert_non_null(ctl_counter_help((enum ctl_counter)i));
		const char *n = ctl_counter_name((enum ctl_counter)i);
		size_t l = strlen(n);
		int total = l > 6 && strcmp(n + l - 6, "_total") == 0;
		assert_int_equal(ctl_counter_is_gauge((enum ctl_counter)i), !total);
	}
	assert_null(ctl_counter_name(CTL_C_COUNT));
	assert_int_equal(ctl_counter_is_gauge(CTL_C_COUNT), 0);
}

int main(void)
{
	alarm(60);
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_create_initialises_the_shape_and_every_slot),
		T(test_slot_lookup_maps_stage_and_index_to_its_slot),
		T(test_create_of_an_existing_block_with_the_same_shape_attaches),
		T(test_create_with_another_shape_is_eexist),
		T(test_create_refuses_too_many_processes),
		T(test_attach_refuses_missing_and_damaged_blocks),
		T(test_names_and_counter_metadata),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
