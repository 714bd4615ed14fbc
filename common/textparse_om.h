/* textparse_om: OpenMetrics comment lines, exemplars and family checks of
 * textparse (see textparse_om.c for the rules). Internal to textparse: the
 * functions take the parser state of textparse_pvt.h; other modules use
 * textparse.h.
 *
 * Each returns 0, -EINVAL with the error recorded in the state, -ENOMEM or
 * (comments) the metadata callback's value.
 */
#ifndef MCS_TEXTPARSE_OM_H
#define MCS_TEXTPARSE_OM_H

#include <stddef.h>

#include "common/textparse.h"
#include "common/textparse_pvt.h"

int textparse_om_start_family(struct textparse_state *st, const char *name, size_t len,
			      const char *pos);
int textparse_om_sample(struct textparse_state *st, const char *name, size_t nlen, int sfx,
			const struct textparse_label *l, size_t n, double v, int has_ts, double ts,
			int ex);
int textparse_om_exemplar(struct textparse_state *st, const char *p, const char *eol);
int textparse_om_comment(struct textparse_state *st, const char *p, const char *eol, int *eof);
void textparse_om_free(struct textparse_state *st);

#endif
