/* nodeagent: see nodeagent.h.
 *
 * Sections: the text buffer and escaping; regexes; one function per
 * node_exporter collector (cpu, stat, meminfo, loadavg, pressure,
 * diskstats, filesystem, netdev, time, uname); the render loop.
 *
 * Each collector reads its files completely before it writes a line, and
 * groups its samples by family (HELP, TYPE, then every sample), as the text
 * format wants. Values that are integers in the kernel's files are printed
 * as integers, so nothing is lost to float formatting; scaled values
 * (ticks, milliseconds, microseconds to seconds) print with 15 significant
 * digits.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "collector/nodeagent.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* ---- buffer, formatting, escaping ---- */

/* Appends a formatted line (or lines) to b, growing it; on allocation
 * failure nothing is appended and b->oom is set. */
void nodeagent_buf_printf(struct nodeagent_buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t nc = b->cap ? b->cap * 2 : 65536;
		while (nc - b->len <= (size_t)n)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = 1;
			if (b->p)
				b->p[b->len] = '\0';
			return;
		}
		b->p = np;
		b->cap = nc;
	}
}

void nodeagent_buf_free(struct nodeagent_buf *b)
{
	if (!b)
		return;
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Escapes a label value for the text format (backslash, quote, newline)
 * into dst, truncating to fit. Returns dst. */
static const char *nodeagent_esc(char *dst, size_t n, const char *src)
{
	size_t j = 0;
	for (const char *s = src; *s && j + 3 < n; s++) {
		if (*s == '\\' || *s == '"') {
			dst[j++] = '\\';
			dst[j++] = *s;
		} else if (*s == '\n') {
			dst[j++] = '\\';
			dst[j++] = 'n';
		} else {
			dst[j++] = *s;
		}
	}
	dst[j] = '\0';
	return dst;
}

/* Formats a float: integral values below 2^53 without exponent or
 * fraction, others with 15 significant digits. Returns out. */
static const char *nodeagent_fmt(char *out, size_t n, double v)
{
	if (v == (double)(int64_t)v && v > -9007199254740992.0 && v < 9007199254740992.0)
		snprintf(out, n, "%" PRId64, (int64_t)v);
	else
		snprintf(out, n, "%.15g", v);
	return out;
}

static void nodeagent_family(struct nodeagent_buf *b, const char *name, const char *help, const char *type)
{
	nodeagent_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: name{<base labels>,<lbl>} val. lbl is already escaped. */
static void nodeagent_sample(struct nodeagent *na, struct nodeagent_buf *b, const char *name, const char *lbl,
			     const char *val)
{
	const char *base = na->labels ? na->labels : "";
	if (!*base && !*lbl)
		nodeagent_buf_printf(b, "%s %s\n", name, val);
	else
		nodeagent_buf_printf(b, "%s{%s%s%s} %s\n", name, base, *base && *lbl ? "," : "", lbl, val);
}

static void nodeagent_sample_u64(struct nodeagent *na, struct nodeagent_buf *b, const char *name, const char *lbl,
				 uint64_t v)
{
	char s[32];
	snprintf(s, sizeof(s), "%" PRIu64, v);
	nodeagent_sample(na, b, name, lbl, s);
}

static void nodeagent_sample_f(struct nodeagent *na, struct nodeagent_buf *b, const char *name, const char *lbl,
			       double v)
{
	char s[40];
	nodeagent_sample(na, b, name, lbl, nodeagent_fmt(s, sizeof(s), v));
}

/* Makes room for one more element in the array at *(void **)arrp, which
 * holds n of *cap. Returns 0 or -ENOMEM (the array then stays as it was). */
static int nodeagent_grow(void *arrp, size_t *cap, size_t n, size_t elem)
{
	void **arr = arrp;
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16;
	void *np = realloc(*arr, nc * elem);
	if (!np)
		return -ENOMEM;
	*arr = np;
	*cap = nc;
	return 0;
}

/* Opens root/rel for reading. Returns the stream or NULL with errno set. */
static FILE *nodeagent_open(const char *root, const char *rel)
{
	char path[1024];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return fopen(path, "re");
}

/* Reads the first line of root/rel into out without its newline. Returns 0
 * or -errno (-ENODATA for an empty file). */
static int nodeagent_read_line(const char *root, const char *rel, char *out, size_t n)
{
	FILE *f = nodeagent_open(root, rel);
	if (!f)
		return -errno;
	int rc = fgets(out, (int)n, f) ? 0 : -ENODATA;
	fclose(f);
	if (rc == 0)
		out[strcspn(out, "\n")] = '\0';
	return rc;
}

char *nodeagent_unescape_mount(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (strncmp(r, "\\040", 4) == 0) {
			*w++ = ' ';
			r += 4;
		} else if (strncmp(r, "\\011", 4) == 0) {
			*w++ = '\t';
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return s;
}

int nodeagent_meminfo_name(const char *key, int has_unit, char *out, size_t outlen)
{
	/* node_exporter: key = regexp `\((.*)\)` replaced by "_$1", then
	 * "_bytes" when a unit follows. Characters a metric name cannot hold
	 * become '_' here (node_exporter would emit an invalid name). */
	size_t j = (size_t)snprintf(out, outlen, "node_memory_");
	const char *open = strchr(key, '('), *close = strrchr(key, ')');
	for (const char *k = key; *k; k++) {
		if (j + 1 >= outlen)
			return 0;
		if (open && close > open && k == open)
			out[j++] = '_';
		else if (open && close > open && k == close)
			continue;
		else
			out[j++] = isalnum((unsigned char)*k) || *k == '_' || *k == ':' ? *k : '_';
	}
	out[j] = '\0';
	if (has_unit && strlen(out) + 7 > outlen)
		return 0;
	if (has_unit)
		strcat(out, "_bytes");
	return 1;
}

/* ---- regexes ---- */

static int nodeagent_re_compile(void **out, const char *pattern, const char *what)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(ec, msg, sizeof(msg));
		log_error("node agent: %s regex \"%s\" does not compile at offset %zu: %s", what, pattern, (size_t)eo,
			  (const char *)msg);
		return ec == PCRE2_ERROR_NOMEMORY ? -ENOMEM : -EINVAL;
	}
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort */
	*out = re;
	return 0;
}

/* Returns 1 when re matches somewhere in s (node_exporter's MatchString:
 * unanchored unless the pattern anchors itself). */
static int nodeagent_re_match(struct nodeagent *na, void *re, const char *s)
{
	return pcre2_match(re, (PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, 0, na->md, NULL) >= 0;
}

int nodeagent_init(struct nodeagent *na, const struct nodeagent_config *cfg)
{
	memset(na, 0, sizeof(*na));
	int rc = -ENOMEM;
	na->proc_root = strdup(cfg->proc_root ? cfg->proc_root : "/proc");
	na->sys_root = strdup(cfg->sys_root ? cfg->sys_root : "/sys");
	na->udev_root = strdup(cfg->udev_root ? cfg->udev_root : "/run/udev/data");
	na->labels = cfg->labels && *cfg->labels ? strdup(cfg->labels) : NULL;
	if (!na->proc_root || !na->sys_root || !na->udev_root || (cfg->labels && *cfg->labels && !na->labels))
		goto fail;
	na->collectors = cfg->collectors ? cfg->collectors : NODEAGENT_ALL;
	na->statfs_fn = cfg->statfs_fn;
	na->statfs_arg = cfg->statfs_arg;
	if ((rc = nodeagent_re_compile(&na->disk_re, cfg->disk_exclude ? cfg->disk_exclude : NODEAGENT_DISK_EXCLUDE,
				       "diskstats device-exclude")) != 0 ||
	    (rc = nodeagent_re_compile(&na->mount_re, cfg->mount_exclude ? cfg->mount_exclude : NODEAGENT_MOUNT_EXCLUDE,
				       "filesystem mount-points-exclude")) != 0 ||
	    (rc = nodeagent_re_compile(&na->fstype_re,
				       cfg->fstype_exclude ? cfg->fstype_exclude : NODEAGENT_FSTYPE_EXCLUDE,
				       "filesystem fs-types-exclude")) != 0 ||
	    (rc = nodeagent_re_compile(&na->netdev_re,
				       cfg->netdev_exclude ? cfg->netdev_exclude : NODEAGENT_NETDEV_EXCLUDE,
				       "netdev device-exclude")) != 0)
		goto fail;
	/* One match-data block serves every regex: ovector size 1 suffices,
	 * as only "matched or not" is asked. */
	na->md = pcre2_match_data_create(1, NULL);
	if (!na->md) {
		rc = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	nodeagent_fini(na);
	return rc;
}

void nodeagent_fini(struct nodeagent *na)
{
	if (!na)
		return;
	free(na->proc_root);
	free(na->sys_root);
	free(na->udev_root);
	free(na->labels);
	pcre2_code_free(na->disk_re);
	pcre2_code_free(na->mount_re);
	pcre2_code_free(na->fstype_re);
	pcre2_code_free(na->netdev_re);
	pcre2_match_data_free(na->md);
	memset(na, 0, sizeof(*na));
}

/* ---- cpu and stat: /proc/stat ---- */

struct nodeagent_cpu {
	unsigned id;
	uint64_t t[10]; /* user nice system idle iowait irq softirq steal guest guest_nice, ticks */
};

static int nodeagent_cpu(struct nodeagent *na, struct nodeagent_buf *b)
{
	static const char *const modes[8] = {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"};
	FILE *f = nodeagent_open(na->proc_root, "stat");
	if (!f)
		return -errno;
	struct nodeagent_cpu *cpus = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		/* "cpuN" lines only: the "cpu " line sums every CPU, and
		 * node_exporter reports per-CPU times only. */
		if (strncmp(line, "cpu", 3) != 0 || !isdigit((unsigned char)line[3]))
			continue;
		struct nodeagent_cpu c = {0};
		char *p = line + 3, *end;
		c.id = (unsigned)strtoul(p, &end, 10);
		p = end;
		for (int i = 0; i < 10; i++) {
			uint64_t v = strtoull(p, &end, 10);
			if (end == p)
				break;
			c.t[i] = v;
			p = end;
		}
		if ((rc = nodeagent_grow(&cpus, &cap, n, sizeof(*cpus))) != 0) {
			goto out;
		}
		cpus[n++] = c;
	}
	double hz = (double)sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		hz = 100.0;
	char lbl[96];
	nodeagent_family(b, "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", "counter");
	for (size_t i = 0; i < n; i++)
		for (int m = 0; m < 8; m++) {
			snprintf(lbl, sizeof(lbl), "cpu=\"%u\",mode=\"%s\"", cpus[i].id, modes[m]);
			nodeagent_sample_f(na, b, "node_cpu_seconds_total", lbl, (double)cpus[i].t[m] / hz);
		}
	nodeagent_family(b, "node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode.",
			 "counter");
	for (size_t i = 0; i < n; i++)
		for (int m = 0; m < 2; m++) {
			snprintf(lbl, sizeof(lbl), "cpu=\"%u\",mode=\"%s\"", cpus[i].id, modes[m]);
			nodeagent_sample_f(na, b, "node_cpu_guest_seconds_total", lbl, (double)cpus[i].t[8 + m] / hz);
		}
out:
	free(cpus);
	fclose(f);
	return rc;
}

static int nodeagent_stat(struct nodeagent *na, struct nodeagent_buf *b)
{
	static const struct {
		const char *key, *name, *help, *type;
	} fields[] = {
		{"intr", "node_intr_total", "Total number of interrupts serviced.", "counter"},
		{"ctxt", "node_context_switches_total", "Total number of context switches.", "counter"},
		{"processes", "node_forks_total", "Total number of forks.", "counter"},
		{"btime", "node_boot_time_seconds", "Node boot time, in unixtime.", "gauge"},
		{"procs_running", "node_procs_running", "Number of processes in runnable state.", "gauge"},
		{"procs_blocked", "node_procs_blocked", "Number of processes blocked waiting for I/O to complete.", "gauge"},
	};
	enum { NF = sizeof(fields) / sizeof(fields[0]) };
	uint64_t v[NF] = {0};
	int seen[NF] = {0};
	FILE *f = nodeagent_open(na->proc_root, "stat");
	if (!f)
		return -errno;
	char line[256];
	int partial = 0;
	while (fgets(line, sizeof(line), f)) {
		/* The intr line runs to kilobytes: read its first number, skip the rest. */
		int whole = strchr(line, '\n') != NULL;
		if (!partial) {
			for (int i = 0; i < NF; i++) {
				size_t kl = strlen(fields[i].key);
				if (strncmp(line, fields[i].key, kl) == 0 && line[kl] == ' ') {
					v[i] = strtoull(line + kl + 1, NULL, 10);
					seen[i] = 1;
				}
			}
		}
		partial = !whole;
	}
	fclose(f);
	for (int i = 0; i < NF; i++) {
		if (!seen[i])
			continue;
		nodeagent_family(b, fields[i].name, fields[i].help, fields[i].type);
		nodeagent_sample_u64(na, b, fields[i].name, "", v[i]);
	}
	return 0;
}

/* ---- meminfo, loadavg, pressure ---- */

static int nodeagent_meminfo(struct nodeagent *na, struct nodeagent_buf *b)
{
	FILE *f = nodeagent_open(na->proc_root, "meminfo");
	if (!f)
		return -errno;
	size_t start = b->len;
	char line[512];
	int rc = 0;
	while (fgets(line, sizeof(line), f)) {
		char *fld[4];
		int nf = 0;
		for (char *save, *t = strtok_r(line, " \t\n", &save); t && nf < 4; t = strtok_r(NULL, " \t\n", &save))
			fld[nf++] = t;
		if (nf == 0)
			continue; /* empty lines occur on some kernels; node_exporter skips them */
		size_t kl = strlen(fld[0]);
		char *end;
		double v = nf >= 2 ? strtod(fld[1], &end) : 0;
		if (nf < 2 || nf > 3 || kl < 2 || fld[0][kl - 1] != ':' || *end) {
			rc = -EINVAL; /* node_exporter fails the collector on such a line */
			break;
		}
		fld[0][kl - 1] = '\0';
		char name[200], help[260];
		if (!nodeagent_meminfo_name(fld[0], nf == 3, name, sizeof(name)))
			continue;
		snprintf(help, sizeof(help), "Memory information field %s.", name + strlen("node_memory_"));
		nodeagent_family(b, name, help, "gauge");
		nodeagent_sample_f(na, b, name, "", nf == 3 ? v * 1024.0 : v);
	}
	fclose(f);
	if (rc)
		b->len = start;
	return rc;
}

static int nodeagent_loadavg(struct nodeagent *na, struct nodeagent_buf *b)
{
	FILE *f = nodeagent_open(na->proc_root, "loadavg");
	if (!f)
		return -errno;
	double l[3];
	int n = fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]);
	fclose(f);
	if (n != 3)
		return -EINVAL;
	static const char *const names[3] = {"node_load1", "node_load5", "node_load15"};
	static const char *const helps[3] = {"1m load average.", "5m load average.", "15m load average."};
	for (int i = 0; i < 3; i++) {
		nodeagent_family(b, names[i], helps[i], "gauge");
		nodeagent_sample_f(na, b, names[i], "", l[i]);
	}
	return 0;
}

/* Reads "some ... total=N" and "full ... total=N" (microseconds). Returns
 * 0 or -errno; absent lines leave their value at -1. */
static int nodeagent_psi_read(struct nodeagent *na, const char *res, double *some, double *full)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "pressure/%s", res);
	FILE *f = nodeagent_open(na->proc_root, rel);
	if (!f)
		return -errno;
	*some = *full = -1;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		char *t = strstr(line, "total=");
		if (!t)
			continue;
		double v = (double)strtoull(t + 6, NULL, 10) / 1e6;
		if (strncmp(line, "some ", 5) == 0)
			*some = v;
		else if (strncmp(line, "full ", 5) == 0)
			*full = v;
	}
	int rc = ferror(f) ? -EIO : 0;
	fclose(f);
	return rc;
}

static int nodeagent_pressure(struct nodeagent *na, struct nodeagent_buf *b)
{
	double cs, cf, is, ifl, ms, mf;
	int rc = nodeagent_psi_read(na, "cpu", &cs, &cf);
	if (rc == 0)
		rc = nodeagent_psi_read(na, "io", &is, &ifl);
	if (rc == 0)
		rc = nodeagent_psi_read(na, "memory", &ms, &mf);
	if (rc == -ENOENT || rc == -EOPNOTSUPP)
		return -ENODATA; /* kernel < 4.20 or psi=0: no data, as in node_exporter */
	if (rc)
		return rc;
	static const char *const n[5] = {
		"node_pressure_cpu_waiting_seconds_total", "node_pressure_io_waiting_seconds_total",
		"node_pressure_io_stalled_seconds_total", "node_pressure_memory_waiting_seconds_total",
		"node_pressure_memory_stalled_seconds_total"};
	static const char *const h[5] = {
		"Total time in seconds that processes have waited for CPU time",
		"Total time in seconds that processes have waited due to IO congestion",
		"Total time in seconds no process could make progress due to IO congestion",
		"Total time in seconds that processes have waited for memory",
		"Total time in seconds no process could make progress due to memory congestion"};
	double v[5] = {cs, is, ifl, ms, mf};
	for (int i = 0; i < 5; i++) {
		if (v[i] < 0)
			continue;
		nodeagent_family(b, n[i], h[i], "counter");
		nodeagent_sample_f(na, b, n[i], "", v[i]);
	}
	return 0;
}

/* ---- diskstats ---- */

struct nodeagent_disk {
	char name[64];
	unsigned major, minor;
	int nfields;      /* numbers after the name: 11, 15 or 17 */
	uint64_t f[17];   /* /proc/diskstats fields 1..17 */
};

/* Looks up KEY in a udev data file's "E:KEY=VALUE" lines, writing the
 * escaped value into out ("" when absent). */
static void nodeagent_udev_get(char *props, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);
	out[0] = '\0';
	for (char *l = props; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, "E:", 2) == 0 && strncmp(l + 2, key, kl) == 0 && l[2 + kl] == '=') {
			char v[256];
			size_t len = strcspn(l + 3 + kl, "\n");
			snprintf(v, sizeof(v), "%.*s", (int)len, l + 3 + kl);
			nodeagent_esc(out, n, v);
			return;
		}
	}
}

static void nodeagent_disk_info(struct nodeagent *na, struct nodeagent_buf *b, const struct nodeagent_disk *d,
				int dm_pass)
{
	char rel[64], props[8192] = "";
	snprintf(rel, sizeof(rel), "b%u:%u", d->major, d->minor);
	FILE *f = nodeagent_open(na->udev_root, rel);
	if (f) {
		size_t len = fread(props, 1, sizeof(props) - 1, f);
		props[len] = '\0';
		fclose(f);
	}
	char dev[140], lbl[2048];
	nodeagent_esc(dev, sizeof(dev), d->name);
	if (!dm_pass) {
		char path[300], wwn[300], model[300], serial[300], rev[300];
		nodeagent_udev_get(props, "ID_PATH", path, sizeof(path));
		nodeagent_udev_get(props, "ID_WWN", wwn, sizeof(wwn));
		nodeagent_udev_get(props, "ID_MODEL", model, sizeof(model));
		nodeagent_udev_get(props, "SCSI_IDENT_SERIAL", serial, sizeof(serial));
		if (!serial[0])
			nodeagent_udev_get(props, "ID_SERIAL_SHORT", serial, sizeof(serial));
		nodeagent_udev_get(props, "ID_REVISION", rev, sizeof(rev));
		snprintf(lbl, sizeof(lbl),
			 "device=\"%s\",major=\"%u\",minor=\"%u\",path=\"%s\",wwn=\"%s\",model=\"%s\",serial=\"%s\",revision=\"%s\"",
			 dev, d->major, d->minor, path, wwn, model, serial, rev);
		nodeagent_sample(na, b, "node_disk_info", lbl, "1");
		return;
	}
	char name[300], uuid[300], vg[300], lv[300], layer[300];
	nodeagent_udev_get(props, "DM_NAME", name, sizeof(name));
	if (!name[0])
		return;
	nodeagent_udev_get(props, "DM_UUID", uuid, sizeof(uuid));
	nodeagent_udev_get(props, "DM_VG_NAME", vg, sizeof(vg));
	nodeagent_udev_get(props, "DM_LV_NAME", lv, sizeof(lv));
	nodeagent_udev_get(props, "DM_LV_LAYER", layer, sizeof(layer));
	snprintf(lbl, sizeof(lbl), "device=\"%s\",name=\"%s\",uuid=\"%s\",vg_name=\"%s\",lv_name=\"%s\",lv_layer=\"%s\"",
		 dev, name, uuid, vg, lv, layer);
	nodeagent_sample(na, b, "node_disk_device_mapper_info", lbl, "1");
}

static int nodeagent_diskstats(struct nodeagent *na, struct nodeagent_buf *b)
{
	/* Field (1-based) → metric; scale 0 = as is, 512 = sectors to bytes,
	 * 1000 = milliseconds to seconds. */
	static const struct {
		int field;
		unsigned scale;
		const char *name, *help, *type;
	} m[] = {
		{1, 0, "node_disk_reads_completed_total", "The total number of reads completed successfully.", "counter"},
		{2, 0, "node_disk_reads_merged_total", "The total number of reads merged.", "counter"},
		{3, 512, "node_disk_read_bytes_total", "The total number of bytes read successfully.", "counter"},
		{4, 1000, "node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.", "counter"},
		{5, 0, "node_disk_writes_completed_total", "The total number of writes completed successfully.", "counter"},
		{6, 0, "node_disk_writes_merged_total", "The number of writes merged.", "counter"},
		{7, 512, "node_disk_written_bytes_total", "The total number of bytes written successfully.", "counter"},
		{8, 1000, "node_disk_write_time_seconds_total", "This is the total number of seconds spent by all writes.", "counter"},
		{9, 0, "node_disk_io_now", "The number of I/Os currently in progress.", "gauge"},
		{10, 1000, "node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", "counter"},
		{11, 1000, "node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.", "counter"},
		{12, 0, "node_disk_discards_completed_total", "The total number of discards completed successfully.", "counter"},
		{13, 0, "node_disk_discards_merged_total", "The total number of discards merged.", "counter"},
		{14, 0, "node_disk_discarded_sectors_total", "The total number of sectors discarded successfully.", "counter"},
		{15, 1000, "node_disk_discard_time_seconds_total", "This is the total number of seconds spent by all discards.", "counter"},
		{16, 0, "node_disk_flush_requests_total", "The total number of flush requests completed successfully", "counter"},
		{17, 1000, "node_disk_flush_requests_time_seconds_total", "This is the total number of seconds spent by all flush requests.", "counter"},
	};
	FILE *f = nodeagent_open(na->proc_root, "diskstats");
	if (!f)
		return errno == ENOENT ? -ENODATA : -errno;
	struct nodeagent_disk *d = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		struct nodeagent_disk x = {0};
		int off = 0;
		if (sscanf(line, "%u %u %63s%n", &x.major, &x.minor, x.name, &off) != 3)
			continue;
		char *p = line + off, *end;
		while (x.nfields < 17) {
			uint64_t v = strtoull(p, &end, 10);
			if (end == p)
				break;
			x.f[x.nfields++] = v;
			p = end;
		}
		if (x.nfields < 11) {
			rc = -EINVAL; /* procfs refuses lines it does not know */
			goto out;
		}
		if (nodeagent_re_match(na, na->disk_re, x.name))
			continue;
		if ((rc = nodeagent_grow(&d, &cap, n, sizeof(*d))) != 0) {
			goto out;
		}
		d[n++] = x;
	}
	char lbl[160], dev[140];
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		int any = 0;
		for (size_t k = 0; k < n; k++) {
			if (d[k].nfields < m[i].field)
				continue; /* discards need kernel 4.18, flushes 5.5 */
			if (!any) {
				nodeagent_family(b, m[i].name, m[i].help, m[i].type);
				any = 1;
			}
			snprintf(lbl, sizeof(lbl), "device=\"%s\"", nodeagent_esc(dev, sizeof(dev), d[k].name));
			uint64_t v = d[k].f[m[i].field - 1];
			if (m[i].scale == 512)
				nodeagent_sample_u64(na, b, m[i].name, lbl, v * 512u);
			else if (m[i].scale == 1000)
				nodeagent_sample_f(na, b, m[i].name, lbl, (double)v / 1000.0);
			else
				nodeagent_sample_u64(na, b, m[i].name, lbl, v);
		}
	}
	if (n) {
		nodeagent_family(b, "node_disk_info", "Info of /sys/block/<block_device>.", "gauge");
		for (size_t k = 0; k < n; k++)
			nodeagent_disk_info(na, b, &d[k], 0);
		size_t before = b->len;
		nodeagent_family(b, "node_disk_device_mapper_info", "Info about disk device mapper.", "gauge");
		size_t head = b->len;
		for (size_t k = 0; k < n; k++)
			nodeagent_disk_info(na, b, &d[k], 1);
		if (b->len == head)
			b->len = before; /* no device-mapper devices: no family */
	}
out:
	free(d);
	fclose(f);
	return rc;
}

/* ---- filesystem ---- */

struct nodeagent_fs {
	char *device, *mountpoint, *fstype; /* point into the owned line */
	char *line;
	int ro, err;
	struct statfs st;
};

static int nodeagent_statfs_default(const char *path, struct statfs *out, void *arg)
{
	(void)arg;
	return statfs(path, out) == 0 ? 0 : -errno;
}

static void nodeagent_fs_free(struct nodeagent_fs *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].line);
	free(v);
}

static int nodeagent_filesystem(struct nodeagent *na, struct nodeagent_buf *b)
{
	/* node_exporter reads the mounts of pid 1 (the host's, when run in a
	 * container with the host's /proc) and falls back to its own. */
	FILE *f = nodeagent_open(na->proc_root, "1/mounts");
	if (!f)
		f = nodeagent_open(na->proc_root, "mounts");
	if (!f)
		return -errno;
	nodeagent_statfs_fn fn = na->statfs_fn ? na->statfs_fn : nodeagent_statfs_default;
	struct nodeagent_fs *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	char *line = NULL;
	size_t lcap = 0;
	while (getline(&line, &lcap, f) > 0) {
		struct nodeagent_fs x = {.line = strdup(line)};
		if (!x.line || (rc = nodeagent_grow(&v, &cap, n, sizeof(*v))) != 0) {
			free(x.line);
			rc = -ENOMEM;
			goto out;
		}
		char *save, *opts;
		x.device = strtok_r(x.line, " \t\n", &save);
		x.mountpoint = strtok_r(NULL, " \t\n", &save);
		x.fstype = strtok_r(NULL, " \t\n", &save);
		opts = strtok_r(NULL, " \t\n", &save);
		int keep = opts != NULL;
		if (!opts && x.device)
			rc = -EINVAL; /* "malformed mount point information" */
		if (keep) {
			nodeagent_unescape_mount(x.mountpoint);
			keep = !nodeagent_re_match(na, na->mount_re, x.mountpoint) &&
			       !nodeagent_re_match(na, na->fstype_re, x.fstype);
		}
		for (size_t i = 0; i < n && keep; i++)
			keep = strcmp(v[i].device, x.device) != 0 || strcmp(v[i].mountpoint, x.mountpoint) != 0 ||
			       strcmp(v[i].fstype, x.fstype) != 0;
		if (!keep) {
			free(x.line);
			if (rc)
				goto out;
			continue;
		}
		for (char *s2, *o = strtok_r(opts, ",", &s2); o; o = strtok_r(NULL, ",", &s2))
			x.ro |= strcmp(o, "ro") == 0;
		x.err = fn(x.mountpoint, &x.st, na->statfs_arg) != 0;
		if (x.err)
			x.ro = 0; /* node_exporter reports 0 for a device it could not stat */
		v[n++] = x;
	}
	static const struct {
		const char *name, *help;
	} fam[7] = {
		{"node_filesystem_device_error", "Whether an error occurred while getting statistics for the given device."},
		{"node_filesystem_readonly", "Filesystem read-only status."},
		{"node_filesystem_size_bytes", "Filesystem size in bytes."},
		{"node_filesystem_free_bytes", "Filesystem free space in bytes."},
		{"node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes."},
		{"node_filesystem_files", "Filesystem total file nodes."},
		{"node_filesystem_files_free", "Filesystem total free file nodes."},
	};
	char lbl[1400], e1[400], e2[600], e3[100];
	for (int k = 0; k < 7 && n; k++) {
		int any = 0;
		for (size_t i = 0; i < n; i++) {
			if (k >= 2 && v[i].err)
				continue;
			if (!any) {
				nodeagent_family(b, fam[k].name, fam[k].help, "gauge");
				any = 1;
			}
			snprintf(lbl, sizeof(lbl), "device=\"%s\",fstype=\"%s\",mountpoint=\"%s\"",
				 nodeagent_esc(e1, sizeof(e1), v[i].device), nodeagent_esc(e3, sizeof(e3), v[i].fstype),
				 nodeagent_esc(e2, sizeof(e2), v[i].mountpoint));
			const struct statfs *s = &v[i].st;
			uint64_t bs = (uint64_t)s->f_bsize, val = 0;
			switch (k) {
			case 0: val = (uint64_t)v[i].err; break;
			case 1: val = (uint64_t)v[i].ro; break;
			case 2: val = (uint64_t)s->f_blocks * bs; break;
			case 3: val = (uint64_t)s->f_bfree * bs; break;
			case 4: val = (uint64_t)s->f_bavail * bs; break;
			case 5: val = (uint64_t)s->f_files; break;
			default: val = (uint64_t)s->f_ffree; break;
			}
			nodeagent_sample_u64(na, b, fam[k].name, lbl, val);
		}
	}
out:
	free(line);
	nodeagent_fs_free(v, n);
	fclose(f);
	return rc;
}

/* ---- netdev ---- */

struct nodeagent_net {
	char name[64];
	uint64_t c[16];  /* /proc/net/dev columns */
	uint64_t nohandler;
	int has_nohandler;
};

static int nodeagent_netdev(struct nodeagent *na, struct nodeagent_buf *b)
{
	/* /proc/net/dev's columns are what node_exporter's netlink path
	 * computes in its "legacy" naming (drop = dropped + missed, frame =
	 * frame + length + over + crc, carrier = aborted + carrier + heartbeat
	 * + window); rx_nohandler only netlink gives, so it comes from sysfs. */
	static const char *const col[16] = {
		"receive_bytes", "receive_packets", "receive_errs", "receive_drop", "receive_fifo", "receive_frame",
		"receive_compressed", "receive_multicast", "transmit_bytes", "transmit_packets", "transmit_errs",
		"transmit_drop", "transmit_fifo", "transmit_colls", "transmit_carrier", "transmit_compressed"};
	FILE *f = nodeagent_open(na->proc_root, "net/dev");
	if (!f)
		return -errno;
	struct nodeagent_net *d = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue; /* the two header lines */
		*colon = '\0';
		char *name = line;
		while (*name == ' ')
			name++;
		struct nodeagent_net x = {0};
		snprintf(x.name, sizeof(x.name), "%.63s", name);
		char *p = colon + 1, *end;
		int k = 0;
		for (; k < 16; k++) {
			x.c[k] = strtoull(p, &end, 10);
			if (end == p)
				break;
			p = end;
		}
		if (k < 16 || nodeagent_re_match(na, na->netdev_re, x.name))
			continue;
		char rel[128], s[32];
		snprintf(rel, sizeof(rel), "class/net/%s/statistics/rx_nohandler", x.name);
		if (nodeagent_read_line(na->sys_root, rel, s, sizeof(s)) == 0) {
			x.nohandler = strtoull(s, NULL, 10);
			x.has_nohandler = 1;
		}
		if ((rc = nodeagent_grow(&d, &cap, n, sizeof(*d))) != 0) {
			goto out;
		}
		d[n++] = x;
	}
	char name[96], help[96], lbl[160], dev[140];
	for (int k = 0; k <= 16 && n; k++) {
		const char *c = k < 16 ? col[k] : "receive_nohandler";
		snprintf(name, sizeof(name), "node_network_%s_total", c);
		snprintf(help, sizeof(help), "Network device statistic %s.", c);
		int any = 0;
		for (size_t i = 0; i < n; i++) {
			if (k == 16 && !d[i].has_nohandler)
				continue;
			if (!any) {
				nodeagent_family(b, name, help, "counter");
				any = 1;
			}
			snprintf(lbl, sizeof(lbl), "device=\"%s\"", nodeagent_esc(dev, sizeof(dev), d[i].name));
			nodeagent_sample_u64(na, b, name, lbl, k < 16 ? d[i].c[k] : d[i].nohandler);
		}
	}
out:
	free(d);
	fclose(f);
	return rc;
}

/* ---- time, uname ---- */

static int nodeagent_time(struct nodeagent *na, struct nodeagent_buf *b)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	nodeagent_family(b, "node_time_seconds", "System time in seconds since epoch (1970).", "gauge");
	char v[48], lbl[200], e[100];
	snprintf(v, sizeof(v), "%.9f", (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
	nodeagent_sample(na, b, "node_time_seconds", "", v);
	struct tm tm;
	time_t now = ts.tv_sec;
	if (localtime_r(&now, &tm)) {
		nodeagent_family(b, "node_time_zone_offset_seconds", "System time zone offset in seconds.", "gauge");
		snprintf(lbl, sizeof(lbl), "time_zone=\"%s\"", nodeagent_esc(e, sizeof(e), tm.tm_zone ? tm.tm_zone : ""));
		nodeagent_sample_f(na, b, "node_time_zone_offset_seconds", lbl, (double)tm.tm_gmtoff);
	}
	/* Clock sources: <sys>/devices/system/clocksource/clocksourceN, N
	 * from 0 up to the first one missing (the kernel numbers them densely;
	 * nearly every machine has only clocksource0). Pass 0 renders the
	 * available ones, pass 1 the current one. */
	static const char *const fam[2][3] = {
		{"node_time_clocksource_available_info", "available_clocksource",
		 "Available clocksources read from '/sys/devices/system/clocksource'."},
		{"node_time_clocksource_current_info", "current_clocksource",
		 "Current clocksource read from '/sys/devices/system/clocksource'."}};
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned dev = 0; dev < 64; dev++) {
			char rel[128], line[1024], *save;
			snprintf(rel, sizeof(rel), "devices/system/clocksource/clocksource%u/%s", dev, fam[pass][1]);
			if (nodeagent_read_line(na->sys_root, rel, line, sizeof(line)) != 0)
				break; /* node_exporter logs and carries on without them */
			if (dev == 0)
				nodeagent_family(b, fam[pass][0], fam[pass][2], "gauge");
			for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
				snprintf(lbl, sizeof(lbl), "clocksource=\"%s\",device=\"%u\"", nodeagent_esc(e, sizeof(e), t), dev);
				nodeagent_sample(na, b, fam[pass][0], lbl, "1");
				if (pass)
					break; /* one current source */
			}
		}
	}
	return 0;
}

static int nodeagent_uname(struct nodeagent *na, struct nodeagent_buf *b)
{
	struct utsname u;
	if (uname(&u) != 0)
		return -errno;
	char e[6][200], lbl[1400];
	snprintf(lbl, sizeof(lbl),
		 "domainname=\"%s\",machine=\"%s\",nodename=\"%s\",release=\"%s\",sysname=\"%s\",version=\"%s\"",
		 nodeagent_esc(e[0], sizeof(e[0]), u.domainname), nodeagent_esc(e[1], sizeof(e[1]), u.machine),
		 nodeagent_esc(e[2], sizeof(e[2]), u.nodename), nodeagent_esc(e[3], sizeof(e[3]), u.release),
		 nodeagent_esc(e[4], sizeof(e[4]), u.sysname), nodeagent_esc(e[5], sizeof(e[5]), u.version));
	nodeagent_family(b, "node_uname_info", "Labeled system information as provided by the uname system call.",
			 "gauge");
	nodeagent_sample(na, b, "node_uname_info", lbl, "1");
	return 0;
}

/* ---- the round ---- */

static const struct {
	const char *name;
	unsigned bit;
	int (*fn)(struct nodeagent *, struct nodeagent_buf *);
} nodeagent_collectors[] = {
	{"cpu", NODEAGENT_CPU, nodeagent_cpu},
	{"diskstats", NODEAGENT_DISKSTATS, nodeagent_diskstats},
	{"filesystem", NODEAGENT_FILESYSTEM, nodeagent_filesystem},
	{"loadavg", NODEAGENT_LOADAVG, nodeagent_loadavg},
	{"meminfo", NODEAGENT_MEMINFO, nodeagent_meminfo},
	{"netdev", NODEAGENT_NETDEV, nodeagent_netdev},
	{"pressure", NODEAGENT_PRESSURE, nodeagent_pressure},
	{"stat", NODEAGENT_STAT, nodeagent_stat},
	{"time", NODEAGENT_TIME, nodeagent_time},
	{"uname", NODEAGENT_UNAME, nodeagent_uname},
};

#define NODEAGENT_NCOLL (sizeof(nodeagent_collectors) / sizeof(nodeagent_collectors[0]))

int nodeagent_render(struct nodeagent *na, struct nodeagent_buf *b)
{
	int first = 0, ok[NODEAGENT_NCOLL];
	double took[NODEAGENT_NCOLL];
	for (size_t i = 0; i < NODEAGENT_NCOLL; i++) {
		ok[i] = -1;
		if (!(na->collectors & nodeagent_collectors[i].bit))
			continue;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		size_t start = b->len;
		int rc = nodeagent_collectors[i].fn(na, b);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		took[i] = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		ok[i] = rc == 0;
		if (rc) {
			b->len = start; /* nothing of a failed collector */
			if (b->p)
				b->p[b->len] = '\0';
		}
		if (rc && rc != -ENODATA && !first) {
			log_warn("node agent: collector %s failed: %s", nodeagent_collectors[i].name, strerror(-rc));
			first = rc;
		}
	}
	static const char *const fam[2][2] = {
		{"node_scrape_collector_duration_seconds", "node_exporter: Duration of a collector scrape."},
		{"node_scrape_collector_success", "node_exporter: Whether a collector succeeded."}};
	char lbl[64];
	for (int k = 0; k < 2; k++) {
		nodeagent_family(b, fam[k][0], fam[k][1], "gauge");
		for (size_t i = 0; i < NODEAGENT_NCOLL; i++) {
			if (ok[i] < 0)
				continue;
			snprintf(lbl, sizeof(lbl), "collector=\"%s\"", nodeagent_collectors[i].name);
			nodeagent_sample_f(na, b, fam[k][0], lbl, k ? (double)ok[i] : took[i]);
		}
	}
	return b->oom ? -ENOMEM : first;
}
