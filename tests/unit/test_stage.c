/* test_stage: unit tests of common/stage. A stage starts from a config
 * file naming a per-test instance (so real /dev/shm segments never clash
 * with a running service), takes its control-block slot, opens rings of
 * each kind with the capacities the block fixes, and marks its state.
 * Fatal starts (bad flags, bad config, out-of-range index) run in a
 * forked child and must exit with STAGE_EXIT_FATAL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/stage.h"
#include "shm/proc.h"

static char inst[64];
static char cfg_path[128];

static void write_config(const char *extra)
{
	char json[512];
	snprintf(json, sizeof(json),
		 "{\"instance\": \"%s\", \"collectors\": 2, \"aggregators\": 2, \"alerters\": 1, \"apiservers\": 1,\n"
		 " \"rings\": {\"sample_bytes\": 131072, \"alert_bytes\": 65536, \"query_bytes\": 65536}%s}",
		 inst, extra);
	FILE *f = fopen(cfg_path, "w");
	assert_non_null(f);
	fputs(json, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(inst, sizeof(inst), "tstage%d", (int)getpid());
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/test_stage_%d.json", (int)getpid());
	write_config("");
	optind = 0; /* getopt_long starts afresh for every stage_init */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	proc_unlink_instance(inst, NULL);
	unlink(cfg_path);
	return 0;
}

/* Runs stage_init in a child and returns its exit status (or -1). */
static int init_in_child(enum ctl_stage kind, int argc, char **argv)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDERR_FILENO);
		struct stage st;
		optind = 0;
		stage_init(&st, kind, argc, argv);
		stage_fini(&st);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_init_takes_the_slot_of_its_kind_and_index(void **state)
{
	(void)state;
	char *argv[] = {"mcs-aggregator", "--config", cfg_path, "--index", "1", NULL};
	struct stage st;
	stage_init(&st, CTL_AGGREGATOR, 5, argv);
	assert_int_equal(st.kind, CTL_AGGREGATOR);
	assert_int_equal(st.index, 1);
	assert_string_equal(st.cfg.instance, inst);
	assert_string_equal(st.config_path, cfg_path);
	/* Slots are stage-major: 2 collectors, then aggregator 0, 1. */
	assert_ptr_equal(st.slot, &st.ctl.hdr->slots[3]);
	assert_int_equal(atomic_load(&st.slot->pid), (uint32_t)getpid());
	assert_int_equal(atomic_load(&st.slot->state), CTL_STATE_STARTING);
	assert_int_equal(atomic_load(&st.slot->ready), 0);
	assert_true(atomic_load(&st.slot->heartbeat_ms) > 0);
	assert_int_equal(st.ctl.hdr->n_stage[CTL_COLLECTOR], 2);
	assert_int_equal(st.ctl.hdr->sample_ring_bytes, 131072);

	stage_set_ready(&st, 1);
	assert_int_equal(atomic_load(&st.slot->ready), 1);
	assert_int_equal(atomic_load(&st.slot->state), CTL_STATE_RUNNING);
	stage_set_ready(&st, 0);
	assert_int_equal(atomic_load(&st.slot->ready), 0);
	assert_int_equal(atomic_load(&st.slot->state), CTL_STATE_STOPPING);

	/* The heartbeat refreshes CPU and RSS counters, at most every 250 ms. */
	stage_beat(&st);
	assert_true(atomic_load(&st.slot->counters[CTL_C_RSS_BYTES]) > 0);
	atomic_store(&st.slot->counters[CTL_C_RSS_BYTES], 0);
	stage_beat(&st);
	assert_int_equal(atomic_load(&st.slot->counters[CTL_C_RSS_BYTES]), 0);

	struct ctl keep;
	assert_int_equal(ctl_attach(&keep, inst, 0), 0);
	stage_fini(&st);
	assert_int_equal(atomic_load(&keep.hdr->slots[3].state), CTL_STATE_EXITED);
	ctl_detach(&keep);
}

static void test_ring_open_picks_capacity_and_policy_by_name(void **state)
{
	(void)state;
	char *argv[] = {"mcs-aggregator", "--config", cfg_path, NULL};
	struct stage st;
	stage_init(&st, CTL_AGGREGATOR, 3, argv);
	static const struct {
		const char *name;
		uint64_t cap;
		enum ring_full_policy policy;
		enum ring_role role;
	} rings[] = {
		{"c1-a0", 131072, RING_FULL_BLOCK, RING_ROLE_CONSUMER},
		{"a0-r0", 65536, RING_FULL_DROP, RING_ROLE_PRODUCER},
		{"p0-a0-q", 65536, RING_FULL_BLOCK, RING_ROLE_CONSUMER},
		{"a0-p0-r", 65536, RING_FULL_BLOCK, RING_ROLE_PRODUCER},
	};
	for (size_t i = 0; i < sizeof(rings) / sizeof(rings[0]); i++) {
		struct ring r;
		memset(&r, 0, sizeof(r));
		int rc = stage_ring_open(&st, &r, rings[i].name, rings[i].role);
		if (rc != 0)
			fail_msg("stage_ring_open(%s): %d", rings[i].name, rc);
		assert_int_equal(r.capacity, rings[i].cap);
		assert_int_equal(r.hdr->policy, rings[i].policy);
		assert_string_equal(r.hdr->name, rings[i].name);
		/* The launcher's enumeration agrees on capacity and policy. */
		struct proc_ring_spec spec;
		assert_int_equal(proc_ring_find(st.ctl.hdr, rings[i].name, &spec), 0);
		assert_int_equal(spec.capacity, rings[i].cap);
		assert_int_equal(spec.policy, rings[i].policy);
		ring_detach(&r);
	}
	stage_fini(&st);
}

static void test_fatal_starts_exit_with_status_2(void **state)
{
	(void)state;
	char *bad_index[] = {"mcs-collector", "--config", cfg_path, "--index", "x", NULL};
	assert_int_equal(init_in_child(CTL_COLLECTOR, 5, bad_index), STAGE_EXIT_FATAL);
	char *neg_index[] = {"mcs-collector", "--config", cfg_path, "--index", "-1", NULL};
	assert_int_equal(init_in_child(CTL_COLLECTOR, 5, neg_index), STAGE_EXIT_FATAL);
	/* Index 2 of 2 collectors: out of the shape. */
	char *out_of_shape[] = {"mcs-collector", "--config", cfg_path, "--index", "2", NULL};
	assert_int_equal(init_in_child(CTL_COLLECTOR, 5, out_of_shape), STAGE_EXIT_FATAL);
	char *unknown_flag[] = {"mcs-collector", "--bogus", NULL};
	assert_int_equal(init_in_child(CTL_COLLECTOR, 2, unknown_flag), STAGE_EXIT_FATAL);
	char *missing[] = {"mcs-collector", "--config", "/nonexistent/mcs.json", NULL};
	assert_int_equal(init_in_child(CTL_COLLECTOR, 3, missing), STAGE_EXIT_FATAL);
	write_config(", \"colectors\": 3");
	char *typo[] = {"mcs-collector", "--config", cfg_path, NULL};
	assert_int_equal(init_in_child(CTL_COLLECTOR, 3, typo), STAGE_EXIT_FATAL);
	/* A good start in a child exits 0 (stage_fini ran). */
	write_config("");
	char *good[] = {"mcs-collector", "--config", cfg_path, "--index", "1", NULL};
	assert_int_equal(init_in_child(CTL_COLLECTOR, 5, good), 0);
}

static void test_another_shape_under_the_same_instance_is_fatal(void **state)
{
	(void)state;
	char *argv[] = {"mcs-alerter", "--config", cfg_path, NULL};
	assert_int_equal(init_in_child(CTL_ALERTER, 3, argv), 0); /* creates the block */
	write_config(", \"apiservers\": 2");
	assert_int_equal(init_in_child(CTL_ALERTER, 3, argv), STAGE_EXIT_FATAL);
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_takes_the_slot_of_its_kind_and_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_open_picks_capacity_and_policy_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_starts_exit_with_status_2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_another_shape_under_the_same_instance_is_fatal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
