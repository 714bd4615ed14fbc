/* textparse_pvt: internals shared by textparse.c (the line loop, sample
 * lines, names, numbers, label sets) and textparse_om.c (the OpenMetrics
 * comment lines, exemplars and family checks). Not for other modules: they
 * use textparse.h.
 *
 * Invariants: struct textparse_state lives for one textparse_parse call;
 * pointers into the body or the scratch buffer are valid only during the
 * line being parsed.
 */
#ifndef MCS_TEXTPARSE_PVT_H
#define MCS_TEXTPARSE_PVT_H

#include <stddef.h>
#include <stdint.h>

#include "common/textparse.h"

/* ---- character classes (textparse_cls, defined in textparse.c) ---------- */

#define TEXTPARSE_C_MSTART 0x01 /* [a-zA-Z_:] metric name start */
#define TEXTPARSE_C_MNAME 0x02  /* [a-zA-Z0-9_:] */
#define TEXTPARSE_C_LSTART 0x04 /* [a-zA-Z_] label name start */
#define TEXTPARSE_C_LNAME 0x08  /* [a-zA-Z0-9_] */
#define TEXTPARSE_C_DIGIT 0x10  /* [0-9] */
#define TEXTPARSE_C_BLANK 0x20  /* space, tab */
#define TEXTPARSE_C_LVSTOP 0x40 /* '"', '\\', >= 0x80: leave the label value fast scan */

#define TEXTPARSE_C_LETTER \
	(TEXTPARSE_C_MSTART | TEXTPARSE_C_MNAME | TEXTPARSE_C_LSTART | TEXTPARSE_C_LNAME)

#define TEXTPARSE_IS(c, k) (textparse_cls[(unsigned char)(c)] & (k))

/* ---- sample name suffixes ------------------------------------------------ */

enum textparse_sfx {
	TEXTPARSE_SFX_NONE = 0,
	TEXTPARSE_SFX_TOTAL,
	TEXTPARSE_SFX_CREATED,
	TEXTPARSE_SFX_BUCKET,
	TEXTPARSE_SFX_COUNT,
	TEXTPARSE_SFX_SUM,
	TEXTPARSE_SFX_GCOUNT,
	TEXTPARSE_SFX_GSUM,
	TEXTPARSE_SFX_INFO,
	TEXTPARSE_SFX_N,
};

struct textparse_sfx_name {
	const char *s;
	size_t len;
};

#define TEXTPARSE_B(x) (1u << TEXTPARSE_SFX_##x)

/* ---- parser state -------------------------------------------------------- */

/* A set of 64-bit hashes, open addressing. An entry is live when its
 * generation equals the set's, so bumping gen empties the set in O(1). */
struct textparse_om_hset {
	uint64_t *keys;
	uint32_t *gens;
	size_t cap; /* power of two, 0 until the first insert */
	size_t n;   /* live entries */
	uint32_t gen;
};

/* One histogram metric point being checked (OpenMetrics): the samples that
 * share a label group (le removed) and a timestamp. */
struct textparse_om_hist {
	int active;
	uint64_t group;
	int has_ts;
	double ts;
	uint32_t line;		  /* first line of the point, for errors */
	int has_bucket;
	double last_le;		  /* le of the last bucket */
	double last_bucket_value; /* 0 before the first bucket */
	int has_count;
	double count;
	int neg_buckets, has_sum, has_gsum, neg_gsum;
};

/* OpenMetrics family and grouping state. */
struct textparse_om {
	int in_family;
	int has_help, has_type, has_unit, has_samples;
	const char *unit; /* into the body */
	size_t unit_len;
	struct textparse_om_hset names;  /* families and the sample names they own */
	struct textparse_om_hset groups; /* label groups seen in the current family */
	int have_group;
	uint64_t group;
	int group_has_ts;
	double group_ts;
	struct textparse_om_hist hist;
};

struct textparse_state {
	const char *buf, *end;
	enum textparse_format fmt;
	uint32_t lineno;
	const char *line; /* start of the current line */
	struct textparse_error *err;
	textparse_sample_fn sample_fn;
	textparse_meta_fn meta_fn;
	void *ctx;

	/* Current family: the last # TYPE (PROM) or the OpenMetrics family. */
	const char *fam;
	size_t fam_len;
	enum textparse_type fam_type;

	char *scratch; /* unescaped label values / help of the current line */
	size_t scratch_cap, scratch_len;

	struct textparse_om om;
	struct textparse_label labels[TEXTPARSE_MAX_LABELS];
	struct textparse_label ex_labels[TEXTPARSE_MAX_LABELS];
	char scratch_inline[2048];
};

/* ---- tables (textparse.c) ----------------------------------------------- */

extern const uint8_t textparse_cls[256];
extern const struct textparse_sfx_name textparse_sfx_names[TEXTPARSE_SFX_N];
/* Suffixes a family's samples may carry, by format and type. */
extern const unsigned textparse_sfx_allowed[2][8];
extern const char *const textparse_type_names[8];

/* ---- shared functions (textparse.c) -------------------------------------- */

int __attribute__((format(printf, 4, 5)))
textparse_fail_at(struct textparse_state *st, uint32_t line, const char *pos, const char *fmt, ...);
#define textparse_fail(st, pos, ...) textparse_fail_at((st), 0, (pos), __VA_ARGS__)

int textparse_parse_om_ts(const char *s, size_t len, double *sec, int64_t *ms);
int textparse_utf8_valid(const unsigned char *s, size_t len);
int textparse_scratch_reserve(struct textparse_state *st, size_t need);
const char *textparse_unescape(struct textparse_state *st, const char *s, size_t len, int quote,
			       size_t *out_len);
int textparse_labels(struct textparse_state *st, const char **pp, const char *eol,
		     struct textparse_label *out, size_t *nout);
int textparse_find_label(const struct textparse_label *l, size_t n, const char *name, size_t len);
int textparse_type_of(const char *s, size_t len, enum textparse_format fmt, enum textparse_type *out);

#endif
