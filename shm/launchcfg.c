/* launchcfg: the configuration half of mcs-launch (shm/launch.c): its
 * command line, the overrides it applies to the loaded configuration, the
 * effective configuration file every stage reads
 * (<data_dir>/run/<instance>.json) and the control block shape derived
 * from it.
 *
 * What it is not: the supervisor (children, signals, the ordered stop stay
 * in launch.c) or the configuration format itself (common/config.h).
 *
 * Invariants: nothing here touches shared memory or starts processes; the
 * parsed options point into argv and live as long as it. The effective
 * file is written atomically (proc_write_atomic) and only reported written
 * once it loads back, so a stage never reads a half-written or invalid
 * configuration.
 *
 * Linking: this file is part of libmcsshm.a but calls common/config.c and
 * common/log.c; only mcs-launch uses it, and it links libmcscommon.a too.
 *
 * Sections: the command line; the overrides; the effective file; the shape.
 */
#include "shm/launchcfg.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "shm/proc.h"

/* Prints the command-line help to f (stdout for --help, stderr after a
 * bad option). Cannot fail: a short write is not reported. */
void launchcfg_usage(FILE *f)
{
	fprintf(f,
		"usage: mcs-launch [options]\n"
		"  --config FILE          JSON configuration (default: the embedded one)\n"
		"  --collectors N         number of collector processes (1..64)\n"
		"  --aggregators M        number of aggregator processes (storage shards)\n"
		"  --alerters K           number of alerter processes\n"
		"  --apiservers A         number of apiserver processes\n"
		"  --api-listen HOST:PORT HTTP API address\n"
		"  --push-listen HOST:PORT push receiver address\n"
		"  --data-dir DIR         data directory\n"
		"  --scrape-config FILE   Prometheus scrape configuration (prometheus.yml format)\n"
		"  --instance NAME        instance name (names the shared memory)\n"
		"  --only STAGE --index I supervise only that process (collector, aggregator,\n"
		"                         alerter or apiserver), e.g. one container per stage\n"
		"  --cleanup              unlink every shared-memory segment of the instance and exit\n"
		"  --help                 this text\n"
		"Exit status: 0 after an orderly stop, 1 on a runtime failure (or when every\n"
		"process of a stage failed fatally), 2 for bad options or configuration.\n");
}

/* Parses the decimal integer option s, which must lie in [lo, hi], into
 * *out. Returns 0, or -EINVAL (not a number, trailing text, out of range)
 * with *out untouched. */
static int launchcfg_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parses argv into *o (zeroed first; counts and --only/--index left -1
 * when not given). The strings of *o point into argv. Returns 0, 1 after
 * printing --help, or -EINVAL after writing to stderr what is wrong. */
int launchcfg_parse_args(struct launchcfg_opts *o, int argc, char **argv)
{
	enum { O_COLL = 256, O_AGG, O_ALERT, O_API, O_APIL, O_PUSHL, O_DATA, O_INST, O_ONLY, O_INDEX, O_CLEAN, O_SCRAPE };
	static const struct option launchcfg_long_opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"collectors", required_argument, NULL, O_COLL},
		{"aggregators", required_argument, NULL, O_AGG},
		{"alerters", required_argument, NULL, O_ALERT},
		{"apiservers", required_argument, NULL, O_API},
		{"api-listen", required_argument, NULL, O_APIL},
		{"push-listen", required_argument, NULL, O_PUSHL},
		{"data-dir", required_argument, NULL, O_DATA},
		{"scrape-config", required_argument, NULL, O_SCRAPE},
		{"instance", required_argument, NULL, O_INST},
		{"only", required_argument, NULL, O_ONLY},
		{"index", required_argument, NULL, O_INDEX},
		{"cleanup", no_argument, NULL, O_CLEAN},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < CTL_STAGES; i++)
		o->n_stage[i] = -1;
	o->only_stage = -1;
	o->only_index = -1;
	int c;
	while ((c = getopt_long(argc, argv, "c:h", launchcfg_long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config_file = optarg;
			break;
		case O_COLL:
		case O_AGG:
		case O_ALERT:
		case O_API: {
			int st = c - O_COLL; /* same order as enum ctl_stage */
			if (launchcfg_parse_long(optarg, 1, 64, &o->n_stage[st]) != 0) {
				fprintf(stderr, "mcs-launch: --%ss must be an integer in [1, 64], not \"%s\"\n",
					ctl_stage_name(st), optarg);
				return -EINVAL;
			}
			break;
		}
		case O_APIL:
			o->api_listen = optarg;
			break;
		case O_PUSHL:
			o->push_listen = optarg;
			break;
		case O_DATA:
			o->data_dir = optarg;
			break;
		case O_SCRAPE:
			o->scrape_config = optarg;
			break;
		case O_INST:
			o->instance = optarg;
			break;
		case O_ONLY:
			o->only_stage = ctl_stage_parse(optarg);
			if (o->only_stage < 0) {
				fprintf(stderr, "mcs-launch: --only takes collector, aggregator, alerter or apiserver, not \"%s\"\n",
					optarg);
				return -EINVAL;
			}
			break;
		case O_INDEX:
			if (launchcfg_parse_long(optarg, 0, 63, &o->only_index) != 0) {
				fprintf(stderr, "mcs-launch: --index must be an integer in [0, 63], not \"%s\"\n", optarg);
				return -EINVAL;
			}
			break;
		case O_CLEAN:
			o->cleanup = 1;
			break;
		case 'h':
			launchcfg_usage(stdout);
			return 1;
		default:
			launchcfg_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mcs-launch: unexpected argument \"%s\"\n", argv[optind]);
		launchcfg_usage(stderr);
		return -EINVAL;
	}
	if ((o->only_stage >= 0) != (o->only_index >= 0)) {
		fprintf(stderr, "mcs-launch: --only and --index go together\n");
		return -EINVAL;
	}
	return 0;
}

/* Copies the override v of option flag into the config field dst (cap
 * bytes). Returns 0, or -EINVAL with err filled when v is empty or does
 * not fit; dst is then untouched. */
static int launchcfg_set_str(char *dst, size_t cap, const char *v, const char *flag, char *err, size_t errlen)
{
	if (!*v || strlen(v) >= cap) {
		snprintf(err, errlen, "%s must be a non-empty string shorter than %zu bytes", flag, cap);
		return -EINVAL;
	}
	snprintf(dst, cap, "%s", v);
	return 0;
}

/* Loads the configuration and applies the overrides. On failure writes why
 * into err and returns -EINVAL (or the file's -errno). cfg is owned by the
 * caller and freed with config_free either way. */
int launchcfg_load_config(struct config *cfg, const struct launchcfg_opts *o, char *err, size_t errlen)
{
	int rc = o->config_file ? config_load_file(cfg, o->config_file, err, errlen)
				: config_load_string(cfg, NULL, NULL, err, errlen);
	if (rc != 0)
		return rc;
	uint32_t *counts[CTL_STAGES] = {&cfg->collectors, &cfg->aggregators, &cfg->alerters, &cfg->apiservers};
	for (int i = 0; i < CTL_STAGES; i++)
		if (o->n_stage[i] > 0)
			*counts[i] = (uint32_t)o->n_stage[i];
	const struct {
		const char *v, *flag;
		char *dst;
	} listen[] = {{o->api_listen, "--api-listen", cfg->api_listen}, {o->push_listen, "--push-listen", cfg->push_listen}};
	for (int i = 0; i < 2; i++) {
		char host[128];
		int port;
		if (!listen[i].v)
			continue;
		if (config_split_hostport(listen[i].v, host, sizeof(host), &port) != 0) {
			snprintf(err, errlen, "%s must be HOST:PORT, not \"%s\"", listen[i].flag, listen[i].v);
			return -EINVAL;
		}
		if ((rc = launchcfg_set_str(listen[i].dst, sizeof(cfg->api_listen), listen[i].v, listen[i].flag, err, errlen)))
			return rc;
	}
	if (o->data_dir && (rc = launchcfg_set_str(cfg->data_dir, sizeof(cfg->data_dir), o->data_dir, "--data-dir", err, errlen)))
		return rc;
	if (o->scrape_config) {
		/* Absolute, so every stage finds it whatever its directory. */
		char abs[PATH_MAX];
		if (!realpath(o->scrape_config, abs)) {
			snprintf(err, errlen, "--scrape-config %s: %s", o->scrape_config, strerror(errno));
			return -EINVAL;
		}
		if ((rc = launchcfg_set_str(cfg->scrape_config_file, sizeof(cfg->scrape_config_file), abs,
					 "--scrape-config", err, errlen)))
			return rc;
	}
	if (o->instance) {
		if (strpbrk(o->instance, "/. ")) {
			snprintf(err, errlen, "--instance must not contain '/', '.' or spaces: \"%s\"", o->instance);
			return -EINVAL;
		}
		if ((rc = launchcfg_set_str(cfg->instance, sizeof(cfg->instance), o->instance, "--instance", err, errlen)))
			return rc;
	}
	if (o->only_stage >= 0 && (uint32_t)o->only_index >= *counts[o->only_stage]) {
		snprintf(err, errlen, "--index %ld is out of range: the configuration has %u %s processes",
			 o->only_index, *counts[o->only_stage], ctl_stage_name(o->only_stage));
		return -EINVAL;
	}
	return 0;
}

/* Creates data_dir and data_dir/run, writes the effective configuration
 * cfg there atomically as run/<instance>.json, and checks that it loads
 * back (the stages will read exactly this file). Writes its absolute path
 * into path (cap bytes). Returns 0 or -errno, logged; cfg stays the
 * caller's. */
int launchcfg_write_config(const struct config *cfg, char *path, size_t cap)
{
	char run[PATH_MAX], real[PATH_MAX], err[512];
	int rc = proc_mkdirs(cfg->data_dir);
	if (rc != 0) {
		log_error("cannot create data_dir \"%s\": %s", cfg->data_dir, strerror(-rc));
		return rc;
	}
	if (snprintf(run, sizeof(run), "%s/run", cfg->data_dir) >= (int)sizeof(run))
		return -ENAMETOOLONG;
	rc = proc_mkdirs(run);
	if (rc != 0) {
		log_error("cannot create \"%s\": %s", run, strerror(-rc));
		return rc;
	}
	if (!realpath(run, real)) {
		rc = -errno;
		log_error("realpath(\"%s\") failed: %s", run, strerror(errno));
		return rc;
	}
	if (snprintf(path, cap, "%s/%s.json", real, cfg->instance) >=
	    (int)cap)
		return -ENAMETOOLONG;
	char *json = config_to_json(cfg);
	if (!json) {
		log_error("config_to_json() failed: out of memory");
		return -ENOMEM;
	}
	rc = proc_write_atomic(path, json, strlen(json));
	free(json);
	if (rc != 0) {
		log_error("cannot write the effective configuration to \"%s\": %s", path, strerror(-rc));
		return rc;
	}
	struct config check;
	rc = config_load_file(&check, path, err, sizeof(err));
	config_free(&check);
	if (rc != 0) {
		log_error("the effective configuration does not load back: %s", err);
		return -EINVAL;
	}
	return 0;
}

/* Fills shape (zeroed first) with the process counts and ring sizes of
 * cfg: the shape ctl_create() lays the control block out for. Cannot fail. */
void launchcfg_shape(const struct config *cfg, struct ctl_shape *shape)
{
	memset(shape, 0, sizeof(*shape));
	shape->n_stage[CTL_COLLECTOR] = cfg->collectors;
	shape->n_stage[CTL_AGGREGATOR] = cfg->aggregators;
	shape->n_stage[CTL_ALERTER] = cfg->alerters;
	shape->n_stage[CTL_APISERVER] = cfg->apiservers;
	shape->sample_ring_bytes = cfg->sample_ring_bytes;
	shape->alert_ring_bytes = cfg->alert_ring_bytes;
	shape->query_ring_bytes = cfg->query_ring_bytes;
}
