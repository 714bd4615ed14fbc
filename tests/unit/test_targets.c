/* Unit tests of common/targets.c: the writer creates and fills the target
 * table, a reader attaches and copies entries; slots are reused; a
 * restarted writer empties the table; a reader thread never sees a torn
 * entry while the writer rewrites it; dropped-target entries.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/series.h"
#include "common/targets.h"

static char g_inst[64];

static int setup(void **state)
{
	(void)state;
	snprintf(g_inst, sizeof(g_inst), "tt%d", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	char name[SEGMENT_NAME_MAX];
	(void)state;
	segment_name(name, sizeof(name), g_inst, "targets.0");
	segment_unlink(name);
	return 0;
}

static void writer_fills_and_reader_copies(void **state)
{
	(void)state;
	struct targets w, r;
	struct relabel_labels ls = {0};
	struct targets_entry e;
	assert_int_equal(targets_attach(&r, g_inst, 0), -ENOENT);
	assert_int_equal(targets_create(&w, g_inst, 0), 0);
	int slot = targets_alloc(&w);
	assert_int_equal(slot, 0);
	relabel_labels_set(&ls, "job", 3, "node", 4);
	relabel_labels_set(&ls, "__address__", 11, "h:1", 3);
	struct targets_entry *p = targets_write_begin(&w, (uint32_t)slot);
	targets_put_str(p->pool, sizeof(p->pool), "node");
	targets_put_str(p->url, sizeof(p->url), "http://h:1/metrics");
	p->labels_len = (uint16_t)targets_put_labels(p->labels, sizeof(p->labels), &ls, 0);
	p->discovered_len = (uint16_t)targets_put_labels(p->discovered, sizeof(p->discovered), &ls, 1);
	p->health = TARGETS_UP;
	p->interval_ms = 15000;
	targets_write_end(&w, (uint32_t)slot);

	assert_int_equal(targets_attach(&r, g_inst, 0), 0);
	assert_int_equal(targets_count(&r), 1);
	assert_int_equal(targets_read(&r, 0, &e), 1);
	assert_string_equal(e.pool, "node");
	assert_string_equal(e.url, "http://h:1/metrics");
	assert_int_equal(e.health, TARGETS_UP);
	size_t vl;
	const char *v = series_key_get(e.labels, e.labels_len, "job", &vl);
	assert_non_null(v);
	assert_memory_equal(v, "node", 4);
	assert_null(series_key_get(e.labels, e.labels_len, "__address__", &vl));
	assert_non_null(series_key_get(e.discovered, e.discovered_len, "__address__", &vl));

	/* Release and reuse the slot. */
	targets_release(&w, 0);
	assert_int_equal(targets_read(&r, 0, &e), 0);
	assert_int_equal(targets_alloc(&w), 0);
	assert_int_equal(targets_alloc(&w), 1);
	assert_int_equal(targets_count(&r), 2);
	assert_int_equal(targets_read(&r, 0, &e), 1);
	assert_string_equal(e.pool, ""); /* fresh slot: cleared */

	/* A restarted writer starts from an empty table. */
	targets_close(&w);
	assert_int_equal(targets_create(&w, g_inst, 0), 0);
	assert_int_equal(targets_count(&r), 0);
	assert_int_equal(targets_read(&r, 1, &e), 0);
	targets_close(&w);
	targets_close(&r);
	relabel_labels_free(&ls);
}

static void dropped_entries_are_found_by_the_writer_and_copied(void **state)
{
	(void)state;
	struct targets w, r;
	struct targets_entry e;
	struct relabel_labels ls = {0};
	relabel_labels_set(&ls, "__address__", 11, "h:1", 3);
	assert_int_equal(targets_create(&w, g_inst, 0), 0);
	assert_int_equal(w.t->version, TARGETS_VERSION);
	assert_int_equal(targets_next_dropped(&w, 0), -ENOENT);
	assert_int_equal(targets_alloc(&w), 0); /* active */
	assert_int_equal(targets_alloc(&w), 1); /* dropped */
	assert_int_equal(targets_alloc(&w), 2); /* dropped */
	for (uint32_t sl = 1; sl <= 2; sl++) {
		struct targets_entry *p = targets_write_begin(&w, sl);
		p->dropped = 1;
		targets_put_str(p->pool, sizeof(p->pool), "node");
		p->discovered_len = (uint16_t)targets_put_labels(p->discovered, sizeof(p->discovered), &ls, 1);
		targets_write_end(&w, sl);
	}
	assert_int_equal(targets_next_dropped(&w, 0), 1);
	assert_int_equal(targets_next_dropped(&w, 2), 2);
	assert_int_equal(targets_next_dropped(&w, 3), -ENOENT);
	targets_release(&w, 1);
	assert_int_equal(targets_next_dropped(&w, 0), 2);

	assert_int_equal(targets_attach(&r, g_inst, 0), 0);
	assert_int_equal(targets_read(&r, 0, &e), 1);
	assert_int_equal(e.dropped, 0);
	assert_int_equal(targets_read(&r, 2, &e), 1);
	assert_int_equal(e.dropped, 1);
	assert_string_equal(e.pool, "node");
	size_t vl;
	assert_non_null(series_key_get(e.discovered, e.discovered_len, "__address__", &vl));
	/* A reused slot starts as an active target again. */
	assert_int_equal(targets_alloc(&w), 1);
	assert_int_equal(targets_read(&r, 1, &e), 1);
	assert_int_equal(e.dropped, 0);
	targets_close(&w);
	targets_close(&r);
	relabel_labels_free(&ls);
}

static volatile int g_stop;

static void *reader_thread(void *arg)
{
	struct targets *r = arg;
	struct targets_entry *e = malloc(sizeof(*e));
	long bad = 0, reads = 0;
	while (!g_stop) {
		if (targets_read(r, 0, e) == 1) {
			reads++;
			/* The writer always stores the same digit everywhere. */
			char c = e->url[0];
			if (c == '\0')
				continue; /* allocated, not written yet */
			for (size_t i = 0; i < 100; i++)
				if (e->url[i] != c || e->last_error[i] != c)
					bad++;
			if ((uint64_t)e->last_scrape_ms != (uint64_t)(c - '0'))
				bad++;
		}
	}
	free(e);
	return (void *)(intptr_t)(bad ? -1 : reads);
}

static void reader_never_sees_a_torn_entry(void **state)
{
	(void)state;
	struct targets w, r;
	pthread_t th;
	assert_int_equal(targets_create(&w, g_inst, 0), 0);
	assert_int_equal(targets_alloc(&w), 0);
	assert_int_equal(targets_attach(&r, g_inst, 0), 0);
	g_stop = 0;
	pthread_create(&th, NULL, reader_thread, &r);
	for (int i = 0; i < 200000; i++) {
		char c = (char)('0' + i % 10);
		struct targets_entry *e = targets_write_begin(&w, 0);
		memset(e->url, c, 100);
		e->url[100] = '\0';
		memset(e->last_error, c, 100);
		e->last_error[100] = '\0';
		e->last_scrape_ms = i % 10;
		targets_write_end(&w, 0);
	}
	g_stop = 1;
	void *res;
	pthread_join(th, &res);
	assert_true((intptr_t)res >= 0);
	targets_close(&w);
	targets_close(&r);
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(writer_fills_and_reader_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(reader_never_sees_a_torn_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(dropped_entries_are_found_by_the_writer_and_copied, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
