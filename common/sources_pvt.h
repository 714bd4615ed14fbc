/* sources_pvt: helpers of sources.c shared with sourcesparse.c. Not for
 * other modules: they use sources.h.
 */
#ifndef MCS_SOURCES_PVT_H
#define MCS_SOURCES_PVT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/sources.h"

/* Names by index: endpoints (SOURCES_EP_* bit), collectors, types. */
extern const char *const sources_ep_names[SOURCES_NEP];
extern const char *const sources_coll_names[SOURCES_NCOLLECTORS];
extern const char *const sources_type_names[3];

void sources_err(char *err, size_t errlen, const char *ctx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int sources_has_dup_key(const cJSON *o, const char **dup);
int sources_label_cmp(const void *a, const void *b);

#endif
