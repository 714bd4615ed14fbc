/* selfscrape: see selfscrape.h. */
#include "collector/selfscrape.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "shm/segment.h"

static void selfscrape_printf(struct selfscrape_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void selfscrape_printf(struct selfscrape_buf *b, const char *fmt, ...)
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
		if (!np)
			return;
		b->p = np;
		b->cap = nc;
	}
}

void selfscrape_buf_free(struct selfscrape_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static FILE *selfscrape_open(const char *root, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	return fopen(path, "r");
}

/* /proc/stat: per-CPU times (USER_HZ ticks) and system counters. */
static int selfscrape_stat(struct selfscrape_buf *b, const char *root, const char *lbl)
{
	static const char *const modes[] = {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"};
	FILE *f = selfscrape_open(root, "stat");
	if (!f)
		return -errno;
	double hz = (double)sysconf(_SC_CLK_TCK);
	char line[4096];
	int cpu_header = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v[8] = {0};
		int cpu;
		/* Only "cpuN" lines: the first line, "cpu  <totals>", sums every CPU,
		 * and sscanf's %d would skip its blanks and read the user ticks as a
		 * CPU number (node_exporter reports per-CPU times only). */
		if (strncmp(line, "cpu", 3) == 0 && isdigit((unsigned char)line[3]) &&
		    sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6], &v[7]) >= 5) {
			if (!cpu_header) {
				selfscrape_printf(b, "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
						     "# TYPE node_cpu_seconds_total counter\n");
				cpu_header = 1;
			}
			for (int m = 0; m < 8; m++)
				selfscrape_printf(b, "node_cpu_seconds_total{%s,cpu=\"%d\",mode=\"%s\"} %.2f\n", lbl, cpu,
						  modes[m], (double)v[m] / hz);
			continue;
		}
		unsigned long long x;
		if (sscanf(line, "ctxt %llu", &x) == 1)
			selfscrape_printf(b, "# TYPE node_context_switches_total counter\nnode_context_switches_total{%s} %llu\n", lbl, x);
		else if (sscanf(line, "btime %llu", &x) == 1)
			selfscrape_printf(b, "# TYPE node_boot_time_seconds gauge\nnode_boot_time_seconds{%s} %llu\n", lbl, x);
		else if (sscanf(line, "processes %llu", &x) == 1)
			selfscrape_printf(b, "# TYPE node_forks_total counter\nnode_forks_total{%s} %llu\n", lbl, x);
		else if (sscanf(line, "intr %llu", &x) == 1)
			selfscrape_printf(b, "# TYPE node_intr_total counter\nnode_intr_total{%s} %llu\n", lbl, x);
		else if (sscanf(line, "procs_running %llu", &x) == 1)
			selfscrape_printf(b, "# TYPE node_procs_running gauge\nnode_procs_running{%s} %llu\n", lbl, x);
		else if (sscanf(line, "procs_blocked %llu", &x) == 1)
			selfscrape_printf(b, "# TYPE node_procs_blocked gauge\nnode_procs_blocked{%s} %llu\n", lbl, x);
	}
	fclose(f);
	return 0;
}

/* /proc/meminfo: node_memory_<Field>_bytes, as node_exporter names them:
 * "Active(anon)" becomes Active_anon; fields without a unit get no _bytes. */
static int selfscrape_meminfo(struct selfscrape_buf *b, const char *root, const char *lbl)
{
	FILE *f = selfscrape_open(root, "meminfo");
	if (!f)
		return -errno;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		char key[128], unit[16] = "";
		unsigned long long v;
		int n = sscanf(line, "%127[^:]: %llu %15s", key, &v, unit);
		if (n < 2)
			continue;
		char name[160];
		size_t j = 0;
		for (size_t i = 0; key[i] && j < sizeof(name) - 1; i++) {
			char c = key[i];
			if (c == '(')
				name[j++] = '_';
			else if (isalnum((unsigned char)c) || c == '_')
				name[j++] = c;
		}
		name[j] = '\0';
		int kb = strcmp(unit, "kB") == 0;
		selfscrape_printf(b, "# TYPE node_memory_%s%s gauge\nnode_memory_%s%s{%s} %llu\n", name,
				  kb ? "_bytes" : "", name, kb ? "_bytes" : "", lbl, kb ? v * 1024ull : v);
	}
	fclose(f);
	return 0;
}

static int selfscrape_loadavg(struct selfscrape_buf *b, const char *root, const char *lbl)
{
	FILE *f = selfscrape_open(root, "loadavg");
	if (!f)
		return -errno;
	double l1, l5, l15;
	int n = fscanf(f, "%lf %lf %lf", &l1, &l5, &l15);
	fclose(f);
	if (n != 3)
		return -EINVAL;
	selfscrape_printf(b, "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1{%s} %g\n", lbl, l1);
	selfscrape_printf(b, "# HELP node_load5 5m load average.\n# TYPE node_load5 gauge\nnode_load5{%s} %g\n", lbl, l5);
	selfscrape_printf(b, "# HELP node_load15 15m load average.\n# TYPE node_load15 gauge\nnode_load15{%s} %g\n", lbl, l15);
	return 0;
}

int selfscrape_node(struct selfscrape_buf *b, const char *proc_root, const char *instance)
{
	char lbl[300];
	snprintf(lbl, sizeof(lbl), "job=\"node\",instance=\"%s\"", instance);
	int rc = selfscrape_stat(b, proc_root, lbl);
	if (rc == 0)
		rc = selfscrape_meminfo(b, proc_root, lbl);
	if (rc == 0)
		rc = selfscrape_loadavg(b, proc_root, lbl);
	return rc;
}

void selfscrape_stages(struct selfscrape_buf *b, struct ctl *ctl)
{
	struct ctl_header *h = ctl->hdr;
	for (int c = 0; c < CTL_C_COUNT; c++) {
		const char *name = ctl_counter_name((enum ctl_counter)c);
		selfscrape_printf(b, "# TYPE mcs_%s %s\n", name, ctl_counter_is_gauge((enum ctl_counter)c) ? "gauge" : "counter");
		for (uint32_t s = 0; s < h->nslots; s++) {
			const struct ctl_slot *sl = &h->slots[s];
			selfscrape_printf(b, "mcs_%s{job=\"mcs\",instance=\"%s\",stage=\"%s\",index=\"%u\"} %llu\n", name,
					  h->instance, ctl_stage_name((enum ctl_stage)sl->stage), sl->index,
					  (unsigned long long)atomic_load_explicit(&sl->counters[c], memory_order_relaxed));
		}
	}
	selfscrape_printf(b, "# TYPE mcs_stage_restarts_total counter\n");
	for (uint32_t s = 0; s < h->nslots; s++) {
		const struct ctl_slot *sl = &h->slots[s];
		selfscrape_printf(b, "mcs_stage_restarts_total{job=\"mcs\",instance=\"%s\",stage=\"%s\",index=\"%u\"} %llu\n",
				  h->instance, ctl_stage_name((enum ctl_stage)sl->stage), sl->index,
				  (unsigned long long)atomic_load(&sl->restarts));
	}
}

int selfscrape_run(struct push *p)
{
	struct selfscrape_buf b = {0};
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	if (p->st->cfg.node_metrics) {
		int rc = selfscrape_node(&b, "/proc", host);
		if (rc)
			log_warn("node metrics: reading /proc failed: %s", strerror(-rc));
	}
	if (p->st->cfg.self_scrape)
		selfscrape_stages(&b, &p->st->ctl);
	if (!b.len) {
		selfscrape_buf_free(&b);
		return 0;
	}
	struct textparse_error err;
	int rc = push_ingest_text(p, b.p, b.len, TEXTPARSE_PROM, segment_now_real_ms(), 200, &err);
	if (rc == -EINVAL)
		log_error("self collection produced a bad body: line %u: %s", err.line, err.msg);
	else if (rc)
		log_warn("self collection dropped: %s", strerror(-rc));
	ctl_add(p->st->slot, CTL_C_SCRAPES, 1);
	selfscrape_buf_free(&b);
	return rc;
}
