/* test_collector_nodeagent: unit tests of collector/nodeagent.
 *
 * The fixture tree tests/data/node holds a proc root (stat with a
 * kilobyte-long intr line, meminfo, loadavg, pressure/, diskstats with
 * devices node_exporter excludes, mounts with escapes, duplicates, excluded
 * and hostile entries, net/dev), a sys root (rx_nohandler, clock sources)
 * and a udev data folder. statfs is a stand-in, so filesystem numbers are
 * known. Every rendering is also run through textparse: one bad line would
 * make the import refuse the whole body. Without the data folder the binary
 * exits 77 (skipped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/nodeagent.h"
#include "common/textparse.h"

static char data_dir[600], proc_dir[700], sys_dir[700], udev_dir[700];

/* Finds tests/data/node from the top directory (MCS_TOP or the current
 * directory). Returns 0 when found. */
static int find_data_dir(void)
{
	const char *tops[] = {getenv("MCS_TOP"), ".", "../.."};
	for (int i = 0; i < 3; i++) {
		struct stat sb;
		char probe[800];
		if (!tops[i])
			continue;
		snprintf(data_dir, sizeof(data_dir), "%s/tests/data/node", tops[i]);
		snprintf(probe, sizeof(probe), "%s/proc/stat", data_dir);
		if (stat(probe, &sb) == 0) {
			snprintf(proc_dir, sizeof(proc_dir), "%s/proc", data_dir);
			snprintf(sys_dir, sizeof(sys_dir), "%s/sys", data_dir);
			snprintf(udev_dir, sizeof(udev_dir), "%s/udev", data_dir);
			return 0;
		}
	}
	return -1;
}

/* ---- helpers ---- */

struct lines {
	char **l;
	size_t n;
};

static void split(const struct nodeagent_buf *b, struct lines *out)
{
	out->l = NULL;
	out->n = 0;
	size_t start = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (b->p[i] != '\n')
			continue;
		out->l = realloc(out->l, (out->n + 1) * sizeof(*out->l));
		out->l[out->n++] = strndup(b->p + start, i - start);
		start = i + 1;
	}
	assert_int_equal(start, b->len); /* whole lines only */
}

static void lines_free(struct lines *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		free(ls->l[i]);
	free(ls->l);
}

static int has_line(const struct lines *ls, const char *want)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->l[i], want) == 0)
			return 1;
	return 0;
}

static size_t count_prefix(const struct lines *ls, const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < ls->n; i++)
		if (strncmp(ls->l[i], prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

#define assert_line(ls, s)                                         \
	do {                                                       \
		if (!has_line((ls), (s)))                          \
			fail_msg("missing line: %s", (s));         \
	} while (0)
#define assert_no_prefix(ls, s)                                    \
	do {                                                       \
		if (count_prefix((ls), (s)))                       \
			fail_msg("unexpected line starting %s", (s)); \
	} while (0)

static int on_sample(void *ctx, const struct textparse_sample *s)
{
	(void)s;
	(*(size_t *)ctx)++;
	return 0;
}

/* Parses b as Prometheus text; returns the sample count. */
static size_t parse_ok(const struct nodeagent_buf *b)
{
	struct textparse_error err;
	size_t n = 0;
	int rc = textparse_parse(b->p, b->len, TEXTPARSE_PROM, on_sample, NULL, &n, &err);
	if (rc != 0)
		fail_msg("rendering does not parse: line %u col %u: %s", err.line, err.column, err.msg);
	return n;
}

/* statfs stand-in: "/stuck" fails with EIO, every other path gets the
 * same numbers, block size 4096. */
static int fake_statfs(const char *path, struct statfs *out, void *arg)
{
	(*(int *)arg)++;
	if (strcmp(path, "/stuck") == 0)
		return -EIO;
	memset(out, 0, sizeof(*out));
	out->f_bsize = 4096;
	out->f_blocks = 1000;
	out->f_bfree = 400;
	out->f_bavail = 300;
	out->f_files = 5000;
	out->f_ffree = 4000;
	return 0;
}

static int statfs_calls;

/* Renders the collectors in `mask` from the fixture tree into ls. */
static int render(unsigned mask, const char *labels, struct lines *ls, struct nodeagent_buf *keep)
{
	struct nodeagent na;
	struct nodeagent_config cfg = {.proc_root = proc_dir, .sys_root = sys_dir, .udev_root = udev_dir,
				       .labels = labels, .collectors = mask, .statfs_fn = fake_statfs,
				       .statfs_arg = &statfs_calls};
	assert_int_equal(nodeagent_init(&na, &cfg), 0);
	struct nodeagent_buf b = {0};
	int rc = nodeagent_render(&na, &b);
	nodeagent_fini(&na);
	parse_ok(&b);
	split(&b, ls);
	if (keep)
		*keep = b;
	else
		nodeagent_buf_free(&b);
	return rc;
}

/* A scratch proc root under /tmp with the given files. */
static void scratch_write(const char *root, const char *rel, const char *text)
{
	char path[1024], dir[1024];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *s = dir + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		mkdir(dir, 0755);
		*s = '/';
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void scratch_remove(const char *root)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

/* ---- cpu, stat, meminfo, loadavg, pressure ---- */

static void test_cpu_seconds_per_cpu_and_mode_and_guest(void **state)
{
	(void)state;
	struct lines ls;
	assert_int_equal(render(NODEAGENT_CPU, NULL, &ls, NULL), 0);
	if (sysconf(_SC_CLK_TCK) == 100) { /* USER_HZ on every mainstream Linux */
		assert_line(&ls, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 13932.8");
		assert_line(&ls, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 133432.92");
		assert_line(&ls, "node_cpu_seconds_total{cpu=\"1\",mode=\"irq\"} 0.03");
		assert_line(&ls, "node_cpu_seconds_total{cpu=\"1\",mode=\"steal\"} 0.06");
		assert_line(&ls, "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"user\"} 239.33");
		assert_line(&ls, "node_cpu_guest_seconds_total{cpu=\"1\",mode=\"nice\"} 0");
	}
	/* Two CPUs, eight modes; the "cpu " total line is no CPU of its own. */
	assert_int_equal(count_prefix(&ls, "node_cpu_seconds_total{"), 16);
	assert_int_equal(count_prefix(&ls, "node_cpu_guest_seconds_total{"), 4);
	assert_line(&ls, "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.");
	assert_line(&ls, "# TYPE node_cpu_seconds_total counter");
	assert_line(&ls, "# HELP node_cpu_guest_seconds_total Seconds the CPUs spent in guests (VMs) for each mode.");
	assert_line(&ls, "node_scrape_collector_success{collector=\"cpu\"} 1");
	lines_free(&ls);
}

static void test_stat_counters_survive_a_long_intr_line(void **state)
{
	(void)state;
	struct lines ls;
	assert_int_equal(render(NODEAGENT_STAT, NULL, &ls, NULL), 0);
	assert_line(&ls, "node_intr_total 199292");
	assert_line(&ls, "node_context_switches_total 3254101");
	assert_line(&ls, "node_boot_time_seconds 1700000000");
	assert_line(&ls, "node_forks_total 51122");
	assert_line(&ls, "node_procs_running 2");
	assert_line(&ls, "node_procs_blocked 1");
	assert_line(&ls, "# TYPE node_context_switches_total counter");
	assert_line(&ls, "# TYPE node_procs_running gauge");
	assert_line(&ls, "# HELP node_boot_time_seconds Node boot time, in unixtime.");
	lines_free(&ls);
}

static void test_meminfo_names_follow_node_exporter(void **state)
{
	(void)state;
	struct lines ls;
	assert_int_equal(render(NODEAGENT_MEMINFO, NULL, &ls, NULL), 0);
	assert_line(&ls, "node_memory_MemTotal_bytes 16706560000");
	assert_line(&ls, "node_memory_Active_anon_bytes 1048576000");
	assert_line(&ls, "node_memory_Inactive_file_bytes 2097152000");
	assert_line(&ls, "node_memory_Hugepagesize_bytes 2097152");
	assert_line(&ls, "node_memory_HugePages_Total 0"); /* no unit, no _bytes */
	assert_line(&ls, "# HELP node_memory_Active_anon_bytes Memory information field Active_anon_bytes.");
	assert_line(&ls, "# TYPE node_memory_Active_anon_bytes gauge");
	assert_int_equal(count_prefix(&ls, "node_memory_"), 11);
	lines_free(&ls);
}

static void test_meminfo_name_helper(void **state)
{
	(void)state;
	char out[64];
	assert_true(nodeagent_meminfo_name("Active(anon)", 1, out, sizeof(out)));
	assert_string_equal(out, "node_memory_Active_anon_bytes");
	assert_true(nodeagent_meminfo_name("HugePages_Rsvd", 0, out, sizeof(out)));
	assert_string_equal(out, "node_memory_HugePages_Rsvd");
	assert_true(nodeagent_meminfo_name("Odd-Key.x", 1, out, sizeof(out)));
	assert_string_equal(out, "node_memory_Odd_Key_x_bytes");
	assert_false(nodeagent_meminfo_name("AVeryLongFieldNameThatDoesNotFitAnywhere", 1, out, 40));
}

static void test_malformed_meminfo_fails_only_its_collector(void **state)
{
	(void)state;
	char root[] = "/tmp/mcs-na-XXXXXX";
	assert_non_null(mkdtemp(root));
	scratch_write(root, "meminfo", "MemTotal: 100 kB\nBroken line with words\n");
	scratch_write(root, "loadavg", "1.00 2.00 3.00 1/1 1\n");
	struct nodeagent na;
	struct nodeagent_config cfg = {.proc_root = root, .sys_root = root,
				       .collectors = NODEAGENT_MEMINFO | NODEAGENT_LOADAVG};
	assert_int_equal(nodeagent_init(&na, &cfg), 0);
	struct nodeagent_buf b = {0};
	assert_int_equal(nodeagent_render(&na, &b), -EINVAL);
	parse_ok(&b);
	struct lines ls;
	split(&b, &ls);
	assert_no_prefix(&ls, "node_memory_"); /* nothing half-rendered */
	assert_line(&ls, "node_load5 2");
	assert_line(&ls, "node_scrape_collector_success{collector=\"meminfo\"} 0");
	assert_line(&ls, "node_scrape_collector_success{collector=\"loadavg\"} 1");
	lines_free(&ls);
	nodeagent_buf_free(&b);
	nodeagent_fini(&na);
	scratch_remove(root);
}

static void test_load_averages(void **state)
{
	(void)state;
	struct lines ls;
	assert_int_equal(render(NODEAGENT_LOADAVG, NULL, &ls, NULL), 0);
	assert_line(&ls, "node_load1 0.52");
	assert_line(&ls, "node_load5 0.58");
	assert_line(&ls, "node_load15 0.59");
	assert_line(&ls, "# HELP node_load1 1m load average.");
	assert_line(&ls, "# TYPE node_load15 gauge");
	lines_free(&ls);
}

static void test_pressure_totals_in_seconds(void **state)
{
	(void)state;
	struct lines ls;
	assert_int_equal(render(NODEAGENT_PRESSURE, NULL, &ls, NULL), 0);
	assert_line(&ls, "node_pressure_cpu_waiting_seconds_total 69.331968");
	assert_line(&ls, "node_pressure_io_waiting_seconds_total 3.879747");
	assert_line(&ls, "node_pressure_io_stalled_seconds_total 3.580577");
	assert_line(&ls, "node_pressure_memory_waiting_seconds_total 1.5");
	assert_line(&ls, "node_pressure_memory_stalled_seconds_total 0.00025");
	/* node_exporter 1.5 has no cpu "full" metric. */
	assert_no_prefix(&ls, "node_pressure_cpu_stalled");
	assert_line(&ls, "# TYPE node_pressure_io_stalled_seconds_total counter");
	lines_free(&ls);
}

static void test_missing_pressure_is_no_data_not_an_error(void **state)
{
	(void)state;
	char root[] = "/tmp/mcs-na-XXXXXX";
	assert_non_null(mkdtemp(root));
	struct nodeagent na;
	struct nodeagent_config cfg = {.proc_root = root, .sys_root = root, .collectors = NODEAGENT_PRESSURE};
	assert_int_equal(nodeagent_init(&na, &cfg), 0);
	struct nodeagent_buf b = {0};
	assert_int_equal(nodeagent_render(&na, &b), 0);
	struct lines ls;
	split(&b, &ls);
	assert_no_prefix(&ls, "node_pressure_");
	assert_line(&ls, "node_scrape_collector_success{collector=\"pressure\"} 0");
	lines_free(&ls);
	nodeagent_buf_free(&b);
	nodeagent_fini(&na);
	scratch_remove(root);
}

/* ---- diskstats ---- */

static void test_diskstats_default_exclusions_and_units(void **state)
{
	(void)state;
	struct lines ls;
	assert_int_equal(render(NODEAGENT_DISKSTATS, NULL, &ls, NULL), 0);
	/* Excluded by node_exporter 1.5's default: loop0, ram0, sda1, nvme0n1p1. */
	for (const char *const *d = (const char *const[]){"loop0", "ram0", "sda1", "nvme0n1p1", NULL}; *d; d++) {
		char want[64];
		snprintf(want, sizeof(want), "device=\"%s\"", *d);
		for (size_t i = 0; i < ls.n; i++)
			if (strstr(ls.l[i], want))
				fail_msg("excluded device rendered: %s", ls.l[i]);
	}
	assert_line(&ls, "node_disk_reads_completed_total{device=\"sda\"} 53468");
	assert_line(&ls, "node_disk_read_bytes_total{device=\"sda\"} 2149037056"); /* sectors x 512 */
	assert_line(&ls, "node_disk_read_time_seconds_total{device=\"sda\"} 34.462");
	assert_line(&ls, "node_disk_written_bytes_total{device=\"sda\"} 1035776000");
	assert_line(&ls, "node_disk_io_now{device=\"sda\"} 2");
	assert_line(&ls, "node_disk_io_time_weighted_seconds_total{device=\"sda\"} 42.221");
	assert_line(&ls, "node_disk_discarded_sectors_total{device=\"sda\"} 428424");
	assert_line(&ls, "node_disk_flush_requests_total{device=\"sda\"} 1796");
	assert_line(&ls, "node_disk_flush_requests_time_seconds_total{device=\"sda\"} 0.106");
	assert_line(&ls, "node_disk_reads_completed_total{device=\"zram0\"} 5"); /* 1.5 keeps zram */
	assert_line(&ls, "node_disk_reads_completed_total{device=\"nvme0n1\"} 1000");
	/* An old-kernel line (11 fields) has no discard or flush metrics;
	 * one with 15 fields has discards but no flushes. */
	assert_no_prefix(&ls, "node_disk_discards_completed_total{device=\"nvme0n1\"}");
	assert_line(&ls, "node_disk_discards_completed_total{device=\"dm-0\"} 0");
	assert_no_prefix(&ls, "node_disk_flush_requests_total{device=\"dm-0\"}");
	assert_line(&ls, "# TYPE node_disk_io_now gauge");
	assert_line(&ls, "# HELP node_disk_flush_requests_total The total number of flush requests completed successfully");
	assert_int_equal(count_prefix(&ls, "# TYPE node_disk_reads_completed_total"), 1);
	lines_free(&ls);
}

static void test_disk_info_from_udev_data(void **state)
{
	(void)state;
	struct lines ls;
	assert_int_equal(render(NODEAGENT_DISKSTATS, NULL, &ls, NULL), 0);
	assert_line(&ls, "node_disk_info{device=\"sda\",major=\"8\",minor=\"0\",path=\"pci-0000:00:1f.2-ata-1\","
			 "wwn=\"0x5000c500a1b2c3d4\",model=\"Samsung_SSD_860\",serial=\"S3Z9NB0K\",revision=\"RVT04B6Q\"} 1");
	assert_line(&ls, "node_disk_info{device=\"zram0\",major=\"253\",minor=\"0\",path=\"\",wwn=\"\",model=\"\","
			 "serial=\"\",revision=\"\"} 1");
	assert_line(&ls, "node_disk_device_mapper_info{device=\"dm-0\",name=\"vg-data\",uuid=\"LVM-abc\",vg_name=\"vg\","
			 "lv_name=\"data\",lv_layer=\"\"} 1");
	assert_int_equal(count_prefix(&ls, "node_disk_device_mapper_info{"), 1);
	lines_free(&ls);
}

/* ---- filesystem ---- */

#define FS(dev, type, mnt) "{device=\"" dev "\",fstype=\"" type "\",mountpoint=\"" mnt "\"}"

static void test_filesystem_exclusions_escapes_and_errors(void **state)
{
	(void)state;
	struct lines ls;
	statfs_calls = 0;
	assert_int_equal(render(NODEAGENT_FILESYSTEM, NULL, &ls, NULL), 0);
	assert_line(&ls, "node_filesystem_size_bytes" FS("/dev/sda1", "ext4", "/") " 4096000");
	assert_line(&ls, "node_filesystem_free_bytes" FS("/dev/sda1", "ext4", "/") " 1638400");
	assert_line(&ls, "node_filesystem_avail_bytes" FS("/dev/sda1", "ext4", "/") " 1228800");
	assert_line(&ls, "node_filesystem_files" FS("/dev/sda1", "ext4", "/") " 5000");
	assert_line(&ls, "node_filesystem_files_free" FS("/dev/sda1", "ext4", "/") " 4000");
	assert_line(&ls, "node_filesystem_readonly" FS("/dev/sda1", "ext4", "/") " 0");
	assert_line(&ls, "node_filesystem_device_error" FS("/dev/sda1", "ext4", "/") " 0");
	/* \040 is a blank; "ro" among the options. */
	assert_line(&ls, "node_filesystem_readonly" FS("/dev/mapper/vg-data", "xfs", "/srv/my data") " 1");
	/* A failing statfs: device_error 1, readonly 0, no sizes. */
	assert_line(&ls, "node_filesystem_device_error" FS("server:/stuck", "nfs4", "/stuck") " 1");
	assert_line(&ls, "node_filesystem_readonly" FS("server:/stuck", "nfs4", "/stuck") " 0");
	assert_no_prefix(&ls, "node_filesystem_size_bytes" FS("server:/stuck", "nfs4", "/stuck"));
	/* tmpfs on /tmp is kept (only /dev, /run, ... are excluded). */
	assert_line(&ls, "node_filesystem_size_bytes" FS("tmpfs", "tmpfs", "/tmp") " 4096000");
	/* Quotes and backslashes are escaped; \134 is not decoded (as node_exporter). */
	assert_line(&ls, "node_filesystem_size_bytes" FS("weird\\\"dev", "ext4", "/odd\\\\134path") " 4096000");
	/* Excluded mount points and types, and the duplicate "/" line. */
	assert_int_equal(count_prefix(&ls, "node_filesystem_size_bytes{"), 4);
	assert_int_equal(count_prefix(&ls, "node_filesystem_device_error{"), 5);
	assert_int_equal(statfs_calls, 5);
	assert_line(&ls, "# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.");
	assert_line(&ls, "# TYPE node_filesystem_size_bytes gauge");
	lines_free(&ls);
}

static void test_filesystem_prefers_the_mounts_of_pid_1(void **state)
{
	(void)state;
	char root[] = "/tmp/mcs-na-XXXXXX";
	assert_non_null(mkdtemp(root));
	scratch_write(root, "mounts", "/dev/own / ext4 rw 0 0\n");
	scratch_write(root, "1/mounts", "/dev/host / ext4 rw 0 0\n\n");
	struct nodeagent na;
	struct nodeagent_config cfg = {.proc_root = root, .collectors = NODEAGENT_FILESYSTEM,
				       .statfs_fn = fake_statfs, .statfs_arg = &statfs_calls};
	assert_int_equal(nodeagent_init(&na, &cfg), 0);
	struct nodeagent_buf b = {0};
	assert_int_equal(nodeagent_render(&na, &b), 0);
	struct lines ls;
	split(&b, &ls);
	assert_line(&ls, "node_filesystem_files" FS("/dev/host", "ext4", "/") " 5000");
	assert_no_prefix(&ls, "node_filesystem_files" FS("/dev/own", "ext4", "/"));
	lines_free(&ls);
	nodeagent_buf_free(&b);
	/* A malformed line fails the collector (nothing of it rendered). */
	scratch_write(root, "1/mounts", "/dev/host / ext4\n");
	assert_int_equal(nodeagent_render(&na, &b), -EINVAL);
	split(&b, &ls);
	assert_no_prefix(&ls, "node_filesystem_");
	assert_line(&ls, "node_scrape_collector_success{collector=\"filesystem\"} 0");
	lines_free(&ls);
	nodeagent_buf_free(&b);
	nodeagent_fini(&na);
	scratch_remove(root);
}

static void test_unescape_mount_decodes_only_blank_and_tab(void **state)
{
	(void)state;
	char s[] = "/a\\040b\\011c\\134d\\012";
	assert_string_equal(nodeagent_unescape_mount(s), "/a b\tc\\134d\\012");
}

/* ---- netdev, time, uname ---- */

static void test_netdev_counters_exclude_lo(void **state)
{
	(void)state;
	struct lines ls;
	assert_int_equal(render(NODEAGENT_NETDEV, NULL, &ls, NULL), 0);
	assert_line(&ls, "node_network_receive_bytes_total{device=\"eth0\"} 89450659");
	assert_line(&ls, "node_network_receive_packets_total{device=\"eth0\"} 1781");
	assert_line(&ls, "node_network_receive_errs_total{device=\"eth0\"} 1");
	assert_line(&ls, "node_network_receive_drop_total{device=\"eth0\"} 2");
	assert_line(&ls, "node_network_receive_fifo_total{device=\"eth0\"} 3");
	assert_line(&ls, "node_network_receive_frame_total{device=\"eth0\"} 4");
	assert_line(&ls, "node_network_receive_compressed_total{device=\"eth0\"} 5");
	assert_line(&ls, "node_network_receive_multicast_total{device=\"eth0\"} 6");
	assert_line(&ls, "node_network_transmit_bytes_total{device=\"eth0\"} 74315");
	assert_line(&ls, "node_network_transmit_packets_total{device=\"eth0\"} 960");
	assert_line(&ls, "node_network_transmit_errs_total{device=\"eth0\"} 7");
	assert_line(&ls, "node_network_transmit_drop_total{device=\"eth0\"} 8");
	assert_line(&ls, "node_network_transmit_fifo_total{device=\"eth0\"} 9");
	assert_line(&ls, "node_network_transmit_colls_total{device=\"eth0\"} 10");
	assert_line(&ls, "node_network_transmit_carrier_total{device=\"eth0\"} 11");
	assert_line(&ls, "node_network_transmit_compressed_total{device=\"eth0\"} 12");
	assert_line(&ls, "node_network_receive_nohandler_total{device=\"eth0\"} 42");
	/* 64-bit counters print exactly; no sysfs file, no nohandler. */
	assert_line(&ls, "node_network_receive_bytes_total{device=\"wlan0\"} 18446744073709551615");
	assert_no_prefix(&ls, "node_network_receive_nohandler_total{device=\"wlan0\"}");
	for (size_t i = 0; i < ls.n; i++)
		if (strstr(ls.l[i], "device=\"lo\""))
			fail_msg("lo rendered: %s", ls.l[i]);
	assert_line(&ls, "# HELP node_network_receive_bytes_total Network device statistic receive_bytes.");
	assert_line(&ls, "# TYPE node_network_transmit_colls_total counter");
	lines_free(&ls);
}

static void test_time_zone_and_clock_sources(void **state)
{
	(void)state;
	struct lines ls;
	assert_int_equal(render(NODEAGENT_TIME | NODEAGENT_UNAME, NULL, &ls, NULL), 0);
	assert_int_equal(count_prefix(&ls, "node_time_seconds "), 1);
	assert_int_equal(count_prefix(&ls, "node_time_zone_offset_seconds{time_zone=\""), 1);
	assert_line(&ls, "node_time_clocksource_available_info{clocksource=\"tsc\",device=\"0\"} 1");
	assert_line(&ls, "node_time_clocksource_available_info{clocksource=\"kvm-clock\",device=\"0\"} 1");
	assert_line(&ls, "node_time_clocksource_available_info{clocksource=\"acpi_pm\",device=\"0\"} 1");
	assert_line(&ls, "node_time_clocksource_current_info{clocksource=\"tsc\",device=\"0\"} 1");
	assert_int_equal(count_prefix(&ls, "node_time_clocksource_current_info{"), 1);
	assert_int_equal(count_prefix(&ls, "node_uname_info{domainname=\""), 1);
	assert_line(&ls, "# TYPE node_time_seconds gauge");
	lines_free(&ls);
}

/* ---- the whole round ---- */

static void test_every_sample_carries_the_configured_labels(void **state)
{
	(void)state;
	struct lines ls;
	struct nodeagent_buf b;
	assert_int_equal(render(0, "job=\"node\",instance=\"box\"", &ls, &b), 0);
	size_t samples = parse_ok(&b);
	size_t labelled = 0;
	for (size_t i = 0; i < ls.n; i++)
		if (ls.l[i][0] != '#')
			labelled += strstr(ls.l[i], "{job=\"node\",instance=\"box\"") != NULL;
	assert_int_equal(labelled, samples);
	assert_line(&ls, "node_load1{job=\"node\",instance=\"box\"} 0.52");
	assert_line(&ls, "node_disk_io_now{job=\"node\",instance=\"box\",device=\"sda\"} 2");
	/* Ten collectors, each with a success line. */
	assert_int_equal(count_prefix(&ls, "node_scrape_collector_success{"), 10);
	assert_int_equal(count_prefix(&ls, "node_scrape_collector_duration_seconds{"), 10);
	/* One HELP and one TYPE per family. */
	size_t help = count_prefix(&ls, "# HELP "), type = count_prefix(&ls, "# TYPE ");
	assert_int_equal(help, type);
	for (size_t i = 0; i < ls.n; i++)
		if (strncmp(ls.l[i], "# TYPE ", 7) == 0) {
			size_t same = 0;
			for (size_t j = 0; j < ls.n; j++)
				same += strcmp(ls.l[i], ls.l[j]) == 0;
			if (same != 1)
				fail_msg("family declared %zu times: %s", same, ls.l[i]);
		}
	lines_free(&ls);
	nodeagent_buf_free(&b);
}

static void test_rendering_appends_to_what_the_buffer_holds(void **state)
{
	(void)state;
	struct nodeagent na;
	struct nodeagent_config cfg = {.proc_root = proc_dir, .sys_root = sys_dir,
				       .collectors = NODEAGENT_MEMINFO | NODEAGENT_LOADAVG | NODEAGENT_STAT};
	assert_int_equal(nodeagent_init(&na, &cfg), 0);
	struct nodeagent_buf b = {0};
	assert_int_equal(nodeagent_render(&na, &b), 0);
	size_t one = b.len;
	char *copy = strndup(b.p, one);
	assert_int_equal(nodeagent_render(&na, &b), 0);
	assert_true(b.len > one);
	assert_memory_equal(b.p, copy, one);
	free(copy);
	nodeagent_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	nodeagent_buf_free(NULL);
	nodeagent_fini(&na);
	nodeagent_fini(&na); /* twice is harmless */
}

static void test_missing_proc_root_reports_enoent_and_still_parses(void **state)
{
	(void)state;
	struct nodeagent na;
	struct nodeagent_config cfg = {.proc_root = "/nonexistent/mcs-proc", .sys_root = "/nonexistent/mcs-sys",
				       .collectors = NODEAGENT_CPU | NODEAGENT_MEMINFO | NODEAGENT_DISKSTATS};
	assert_int_equal(nodeagent_init(&na, &cfg), 0);
	struct nodeagent_buf b = {0};
	assert_int_equal(nodeagent_render(&na, &b), -ENOENT);
	parse_ok(&b);
	struct lines ls;
	split(&b, &ls);
	assert_line(&ls, "node_scrape_collector_success{collector=\"cpu\"} 0");
	assert_line(&ls, "node_scrape_collector_success{collector=\"meminfo\"} 0");
	assert_line(&ls, "node_scrape_collector_success{collector=\"diskstats\"} 0");
	assert_no_prefix(&ls, "node_cpu_");
	lines_free(&ls);
	nodeagent_buf_free(&b);
	nodeagent_fini(&na);
}

static void test_bad_exclusion_regex_is_refused(void **state)
{
	(void)state;
	struct nodeagent na;
	struct nodeagent_config cfg = {.disk_exclude = "^(unclosed"};
	assert_int_equal(nodeagent_init(&na, &cfg), -EINVAL);
	assert_null(na.proc_root);
	nodeagent_fini(&na);
	/* A custom one applies: exclude sda, keep loop devices. */
	cfg = (struct nodeagent_config){.proc_root = proc_dir, .collectors = NODEAGENT_DISKSTATS, .disk_exclude = "^sd"};
	assert_int_equal(nodeagent_init(&na, &cfg), 0);
	struct nodeagent_buf b = {0};
	assert_int_equal(nodeagent_render(&na, &b), 0);
	struct lines ls;
	split(&b, &ls);
	assert_line(&ls, "node_disk_reads_completed_total{device=\"loop0\"} 11");
	assert_no_prefix(&ls, "node_disk_reads_completed_total{device=\"sda\"}");
	assert_no_prefix(&ls, "node_disk_reads_completed_total{device=\"sda1\"}");
	lines_free(&ls);
	nodeagent_buf_free(&b);
	nodeagent_fini(&na);
}

static void test_real_proc_and_sys_render_and_parse(void **state)
{
	(void)state;
	if (access("/proc/stat", R_OK) != 0)
		skip();
	struct nodeagent na;
	struct nodeagent_config cfg = {0};
	assert_int_equal(nodeagent_init(&na, &cfg), 0);
	struct nodeagent_buf b = {0};
	assert_int_equal(nodeagent_render(&na, &b), 0);
	size_t n = parse_ok(&b);
	struct lines ls;
	split(&b, &ls);
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	assert_true(count_prefix(&ls, "node_cpu_seconds_total{") <= (size_t)ncpu * 8);
	assert_true(count_prefix(&ls, "node_cpu_seconds_total{") >= 8);
	assert_int_equal(count_prefix(&ls, "node_memory_MemTotal_bytes "), 1);
	assert_int_equal(count_prefix(&ls, "node_load1 "), 1);
	assert_true(n > 50);
	lines_free(&ls);
	nodeagent_buf_free(&b);
	nodeagent_fini(&na);
}

int main(void)
{
	if (find_data_dir() != 0) {
		fprintf(stderr, "skip: tests/data/node not found (run from the top directory or set MCS_TOP)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_seconds_per_cpu_and_mode_and_guest),
		cmocka_unit_test(test_stat_counters_survive_a_long_intr_line),
		cmocka_unit_test(test_meminfo_names_follow_node_exporter),
		cmocka_unit_test(test_meminfo_name_helper),
		cmocka_unit_test(test_malformed_meminfo_fails_only_its_collector),
		cmocka_unit_test(test_load_averages),
		cmocka_unit_test(test_pressure_totals_in_seconds),
		cmocka_unit_test(test_missing_pressure_is_no_data_not_an_error),
		cmocka_unit_test(test_diskstats_default_exclusions_and_units),
		cmocka_unit_test(test_disk_info_from_udev_data),
		cmocka_unit_test(test_filesystem_exclusions_escapes_and_errors),
		cmocka_unit_test(test_filesystem_prefers_the_mounts_of_pid_1),
		cmocka_unit_test(test_unescape_mount_decodes_only_blank_and_tab),
		cmocka_unit_test(test_netdev_counters_exclude_lo),
		cmocka_unit_test(test_time_zone_and_clock_sources),
		cmocka_unit_test(test_every_sample_carries_the_configured_labels),
		cmocka_unit_test(test_rendering_appends_to_what_the_buffer_holds),
		cmocka_unit_test(test_missing_proc_root_reports_enoent_and_still_parses),
		cmocka_unit_test(test_bad_exclusion_regex_is_refused),
		cmocka_unit_test(test_real_proc_and_sys_render_and_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
