/* nodeagent: the built-in node agent. It reads a proc root and a sys root
 * (normally "/proc" and "/sys"; tests point them at fixture trees) and
 * renders Prometheus text with the metric names, label names, units, HELP
 * and TYPE lines that prometheus-node-exporter 1.5 (Debian's package)
 * produces with its default flags, so that dashboards built for
 * node_exporter work unchanged.
 *
 * Covered node_exporter collectors and what each renders:
 *   cpu         node_cpu_seconds_total{cpu,mode}, node_cpu_guest_seconds_total{cpu,mode}
 *   meminfo     node_memory_<Field>[_bytes] for every /proc/meminfo line
 *   loadavg     node_load1, node_load5, node_load15
 *   stat        node_boot_time_seconds, node_context_switches_total,
 *               node_forks_total, node_intr_total, node_procs_running,
 *               node_procs_blocked
 *   pressure    node_pressure_{cpu,io,memory}_waiting_seconds_total,
 *               node_pressure_{io,memory}_stalled_seconds_total
 *   diskstats   node_disk_*{device} and node_disk_info, devices filtered by
 *               node_exporter's default exclusion regex
 *   filesystem  node_filesystem_*{device,fstype,mountpoint} from
 *               <proc>/1/mounts (else <proc>/mounts) and statfs(2)
 *   netdev      node_network_{receive,transmit}_*_total{device} from
 *               <proc>/net/dev (+ rx_nohandler from <sys>/class/net)
 *   time        node_time_seconds, node_time_zone_offset_seconds,
 *               node_time_clocksource_{available,current}_info
 *   uname       node_uname_info
 * plus node_scrape_collector_success and _duration_seconds{collector}.
 *
 * What it is not: a scraper (nothing here speaks HTTP), a general /proc
 * library, or stateful (every render reads the files afresh; counters are
 * the kernel's own, so a restart loses nothing).
 *
 * Invariants: every render appends whole lines only, and what it appends is
 * valid Prometheus text 0.0.4 even for hostile input (metric names are
 * sanitised, label values escaped), because one bad line makes the import
 * refuse the whole body.
 */
#ifndef MCS_NODEAGENT_H
#define MCS_NODEAGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/vfs.h>

/* Collector switches for nodeagent_config.collectors (0 means all). */
#define NODEAGENT_CPU        (1u << 0)
#define NODEAGENT_MEMINFO    (1u << 1)
#define NODEAGENT_LOADAVG    (1u << 2)
#define NODEAGENT_STAT       (1u << 3)
#define NODEAGENT_PRESSURE   (1u << 4)
#define NODEAGENT_DISKSTATS  (1u << 5)
#define NODEAGENT_FILESYSTEM (1u << 6)
#define NODEAGENT_NETDEV     (1u << 7)
#define NODEAGENT_TIME       (1u << 8)
#define NODEAGENT_UNAME      (1u << 9)
#define NODEAGENT_ALL        0x3ffu

/* node_exporter 1.5.0's defaults (`prometheus-node-exporter --help`). */
#define NODEAGENT_DISK_EXCLUDE "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$"
#define NODEAGENT_MOUNT_EXCLUDE "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
#define NODEAGENT_FSTYPE_EXCLUDE                                                                          \
	"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|" \
	"nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
#define NODEAGENT_NETDEV_EXCLUDE "^lo$"

/* A growing text buffer. Zero-initialise it; nodeagent_buf_free releases
 * it. `oom` is set once an append could not grow it (the text then lacks
 * the lines that did not fit, but never holds half a line). */
struct nodeagent_buf {
	char *p;
	size_t len, cap; /* bytes used / allocated */
	int oom;
};

/* statfs(2) or a stand-in (tests). Returns 0 or -errno. */
typedef int (*nodeagent_statfs_fn)(const char *path, struct statfs *out, void *arg);

struct nodeagent_config {
	const char *proc_root;   /* "/proc" when NULL */
	const char *sys_root;    /* "/sys" when NULL */
	const char *udev_root;   /* "/run/udev/data" when NULL (node_disk_info) */
	const char *labels;      /* label pairs added to every sample, already
				  * escaped, e.g. job="node",instance="h"; NULL: none */
	unsigned collectors;     /* NODEAGENT_* bits; 0: all */
	const char *disk_exclude, *mount_exclude, *fstype_exclude, *netdev_exclude;
				 /* regexes (PCRE2, node_exporter syntax); NULL: the defaults above */
	nodeagent_statfs_fn statfs_fn; /* NULL: statfs(2) */
	void *statfs_arg;
};

struct nodeagent {
	char *proc_root, *sys_root, *udev_root, *labels; /* owned copies */
	unsigned collectors;
	nodeagent_statfs_fn statfs_fn;
	void *statfs_arg;
	void *disk_re, *mount_re, *fstype_re, *netdev_re; /* pcre2_code *, owned */
	void *md;                                          /* pcre2_match_data *, owned */
};

/* Fills na from cfg (strings are copied; cfg may go away). Returns 0,
 * -EINVAL for a regex that does not compile (logged with its offset) or
 * -ENOMEM; on failure na holds nothing that needs nodeagent_fini, though
 * calling it is harmless. */
int nodeagent_init(struct nodeagent *na, const struct nodeagent_config *cfg);

/* Releases what nodeagent_init allocated. Accepts a zeroed or finished na. */
void nodeagent_fini(struct nodeagent *na);

/* Appends one round of every enabled collector to b. A collector that
 * fails renders nothing of its own (node_scrape_collector_success says 0)
 * and the others still render, as in node_exporter; a missing optional
 * source (no /proc/pressure, no /proc/diskstats) is no failure. Returns 0,
 * -ENOMEM when b could not grow (b->oom set; do not ingest it), or the
 * -errno of the first collector that failed. b stays the caller's. */
int nodeagent_render(struct nodeagent *na, struct nodeagent_buf *b);

/* Frees b's memory and zeroes it. Accepts NULL. */
void nodeagent_buf_free(struct nodeagent_buf *b);

/* Appends formatted text to b, growing it; on allocation failure nothing is
 * appended and b->oom is set. Shared with selfscrape's own series. */
void nodeagent_buf_printf(struct nodeagent_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Decodes a mount-table path field as node_exporter does: "\040" becomes a
 * blank and "\011" a tab, nothing else (other octal escapes stay). In
 * place; returns s. */
char *nodeagent_unescape_mount(char *s);

/* Returns 1 when name is a /proc/meminfo key node_exporter keeps, writing
 * node_exporter's metric name for it ("Active(anon)" with a kB unit gives
 * "node_memory_Active_anon_bytes") into out. Returns 0 when it does not
 * fit in outlen. */
int nodeagent_meminfo_name(const char *key, int has_unit, char *out, size_t outlen);

#endif
