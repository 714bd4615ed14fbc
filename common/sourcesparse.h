/* sourcesparse: validation of one source object into struct
 * sources_source (see sourcesparse.c). Used by sources.c for documents and
 * API bodies; other modules use sources_parse_source (sources.h).
 */
#ifndef MCS_SOURCESPARSE_H
#define MCS_SOURCESPARSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/sources.h"

int sourcesparse_obj(const cJSON *o, const char *want_id, int require_id, struct sources_source *out,
		     const char *ctx, char *err, size_t errlen);

#endif
