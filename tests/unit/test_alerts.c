/* test_alerts: unit tests of common/alerts (the alert table in shared
 * memory and its seqlock).
 *
 * Each test uses its own instance name (pid + counter) and unlinks its
 * segment in teardown. The concurrency test runs a writer thread and a
 * reader on two mappings of one segment, as two processes would; every
 * entry the writer publishes in one update carries the same generation
 * number, so a torn snapshot shows up as mixed generations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alerts.h"

struct fx {
	char instance[64];
	char shm[128];
	struct alerts w;
	struct alerts r;
};

static int fx_counter;

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->instance, sizeof(f->instance), "talerts%d_%d", (int)getpid(), fx_counter++);
	segment_name(f->shm, sizeof(f->shm), f->instance, "alerts.3");
	segment_unlink(f->shm);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	alerts_close(&f->w);
	alerts_close(&f->r);
	segment_unlink(f->shm);
	free(f);
	return 0;
}

/* Fills entry i of generation g. */
static void fx_entry(struct alerts_entry *e, uint32_t i, uint64_t g)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->rule, sizeof(e->rule), "rule%u", i);
	e->state = ALERTS_FIRING;
	e->active_at_ms = (int64_t)g;
	e->fired_at_ms = (int64_t)g;
	e->last_eval_ms = (int64_t)g;
	memset(e->labels, (int)(g & 0xff), sizeof(e->labels));
	e->labels_len = (uint16_t)(g % 1000);
}

static void create_then_attach_sees_published_entries(void **state)
{
	struct fx *f = *state;
	struct alerts_entry out[4];
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), -ENOENT);
	assert_int_equal(alerts_create(&f->w, f->instance, 3), 0);
	assert_int_equal(f->w.seg.created, 1);
	assert_int_equal(f->w.t->version, ALERTS_VERSION);
	assert_int_equal(f->w.t->index, 3);
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), 0);
	assert_int_equal(alerts_snapshot(&f->r, out, 4), 0);

	alerts_write_begin(&f->w);
	assert_int_equal(atomic_load(&f->w.t->seq) & 1u, 1);
	fx_entry(&f->w.t->e[0], 0, 7);
	fx_entry(&f->w.t->e[1], 1, 7);
	f->w.t->count = 2;
	alerts_write_end(&f->w);
	assert_int_equal(atomic_load(&f->w.t->seq), 2);

	assert_int_equal(alerts_snapshot(&f->r, out, 4), 2);
	assert_string_equal(out[1].rule, "rule1");
	assert_int_equal(out[1].fired_at_ms, 7);
	/* max bounds the copy. */
	assert_int_equal(alerts_snapshot(&f->r, out, 1), 1);
}

static void reader_gives_up_with_eagain_while_an_update_is_open(void **state)
{
	struct fx *f = *state;
	struct alerts_entry out[2];
	assert_int_equal(alerts_create(&f->w, f->instance, 3), 0);
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), 0);
	alerts_write_begin(&f->w);
	assert_int_equal(alerts_snapshot(&f->r, out, 2), -EAGAIN);
	alerts_write_end(&f->w);
	assert_int_equal(alerts_snapshot(&f->r, out, 2), 0);
}

static void recreate_keeps_entries_and_evens_a_dead_writers_seq(void **state)
{
	struct fx *f = *state;
	assert_int_equal(alerts_create(&f->w, f->instance, 3), 0);
	alerts_write_begin(&f->w);
	fx_entry(&f->w.t->e[0], 0, 5);
	f->w.t->count = 1;
	/* The writer "dies" here, seq odd. */
	alerts_close(&f->w);
	assert_int_equal(alerts_create(&f->w, f->instance, 3), 0);
	assert_int_equal(f->w.seg.created, 0);
	assert_int_equal(atomic_load(&f->w.t->seq) & 1u, 0);
	assert_int_equal(f->w.t->count, 1);
	assert_string_equal(f->w.t->e[0].rule, "rule0");
	struct alerts_entry out[1];
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), 0);
	assert_int_equal(alerts_snapshot(&f->r, out, 1), 1);
}

static void foreign_or_other_version_tables_are_refused_then_replaced(void **state)
{
	struct fx *f = *state;
	assert_int_equal(alerts_create(&f->w, f->instance, 3), 0);
	f->w.t->version = ALERTS_VERSION + 1;
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), -EPROTO);
	alerts_close(&f->w);
	/* The writer owns the name: it replaces a table it cannot use. */
	assert_int_equal(alerts_create(&f->w, f->instance, 3), 0);
	assert_int_equal(f->w.t->version, ALERTS_VERSION);
	assert_int_equal(f->w.t->count, 0);
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), 0);
	alerts_close(&f->r);
	/* Wrong index (a table of another alerter under this name). */
	assert_int_equal(alerts_attach(&f->r, f->instance, 4), -ENOENT);
	f->w.t->index = 9;
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), -EPROTO);
	/* A segment too small for the layout. */
	alerts_close(&f->w);
	segment_unlink(f->shm);
	struct segment s;
	assert_int_equal(segment_open(&s, f->shm, 8192), 0);
	segment_publish(&s, ALERTS_MAGIC);
	segment_close(&s);
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), -EPROTO);
	assert_int_equal(alerts_create(&f->w, f->instance, 3), 0); /* replaced */
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), 0);
}

struct fx_writer {
	struct alerts *a;
	atomic_int stop;
	uint64_t updates;
};

static void *fx_writer_main(void *arg)
{
	struct fx_writer *w = arg;
	struct alerts_entry tmp;
	for (uint64_t g = 1; !atomic_load(&w->stop); g++) {
		uint32_t n = (uint32_t)(g % 17) + 1;
		alerts_write_begin(w->a);
		for (uint32_t i = 0; i < n; i++) {
			fx_entry(&tmp, i, g);
			/* Relaxed word stores: the writer's half of the protocol. */
			uint64_t *d = (uint64_t *)&w->a->t->e[i];
			const uint64_t *s = (const uint64_t *)&tmp;
			for (size_t k = 0; k < sizeof(tmp) / 8; k++)
				__atomic_store_n(&d[k], s[k], __ATOMIC_RELAXED);
		}
		__atomic_store_n(&w->a->t->count, n, __ATOMIC_RELAXED);
		alerts_write_end(w->a);
		w->updates++;
		/* Every other thousand updates back to back (worst case), else a
		 * short gap like a real alerter's batches. */
		if ((g / 1000) % 2)
			usleep(20);
	}
	return NULL;
}

static void concurrent_reader_never_sees_a_torn_table(void **state)
{
	struct fx *f = *state;
	static struct alerts_entry out[32];
	assert_int_equal(alerts_create(&f->w, f->instance, 3), 0);
	assert_int_equal(alerts_attach(&f->r, f->instance, 3), 0);
	static struct fx_writer w;
	memset(&w, 0, sizeof(w));
	w.a = &f->w;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, fx_writer_main, &w), 0);
	int good = 0, again = 0;
	uint64_t t0 = segment_now_mono_ms();
	while (segment_now_mono_ms() - t0 < 600) {
		int n = alerts_snapshot(&f->r, out, 32);
		if (n == -EAGAIN) {
			again++;
			continue;
		}
		assert_true(n >= 0);
		if (n == 0)
			continue;
		int64_t g = out[0].active_at_ms;
		assert_int_equal((uint32_t)(g % 17) + 1, (uint32_t)n);
		for (int i = 0; i < n; i++) {
			if (out[i].active_at_ms != g || out[i].last_eval_ms != g ||
			    out[i].labels[1023] != (uint8_t)(g & 0xff))
				fail_msg("torn snapshot: entry %d of generation %lld", i, (long long)g);
		}
		good++;
	}
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	print_message("%d consistent snapshots, %d gave up, %llu updates\n", good, again,
		      (unsigned long long)w.updates);
	assert_true(good > 1000);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(create_then_attach_sees_published_entries),
		T(reader_gives_up_with_eagain_while_an_update_is_open),
		T(recreate_keeps_entries_and_evens_a_dead_writers_seq),
		T(foreign_or_other_version_tables_are_refused_then_replaced),
		T(concurrent_reader_never_sees_a_torn_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
