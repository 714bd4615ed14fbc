/* launchcfg: command line, configuration overrides and the effective
 * configuration file of mcs-launch (see launchcfg.c).
 *
 * Not here: the supervisor itself (shm/launch.c), the configuration format
 * (common/config.h).
 */
#ifndef MCS_LAUNCHCFG_H
#define MCS_LAUNCHCFG_H

#include <stddef.h>
#include <stdio.h>

#include "common/config.h"
#include "shm/ctl.h"

#define LAUNCHCFG_EXIT_FATAL 2 /* bad options or configuration; a stage's "do not restart me" */

/* The command line of mcs-launch; strings point into argv. */
struct launchcfg_opts {
	const char *config_file;
	long n_stage[CTL_STAGES];    /* -1 when not given */
	const char *api_listen, *push_listen, *data_dir, *instance, *scrape_config;
	int only_stage;              /* -1 when not given */
	long only_index;             /* -1 when not given */
	int cleanup;
};

void launchcfg_usage(FILE *f);
int launchcfg_parse_args(struct launchcfg_opts *o, int argc, char **argv);
int launchcfg_load_config(struct config *cfg, const struct launchcfg_opts *o, char *err, size_t errlen);
int launchcfg_write_config(const struct config *cfg, char *path, size_t cap);
void launchcfg_shape(const struct config *cfg, struct ctl_shape *shape);

#endif
