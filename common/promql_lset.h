/* promql_lset: label sets as the PromQL evaluator handles them.
 *
 * A label set is one owned byte string: for each label, u16le name length,
 * name, u16le value length, value; labels sorted by name bytewise with
 * __name__ in its sorted place (Prometheus' labels.Labels order, which
 * differs from the series key's "__name__ first"), names unique, no empty
 * values. Two sets are equal exactly when their bytes are equal, so the
 * bytes double as a hash key.
 *
 * Also here: a builder (Prometheus' labels.Builder: delete, keep, set,
 * then produce a new set) and an interning table from byte strings to
 * dense ids, which the evaluator uses for match signatures and groups.
 *
 * Not here: label matchers (matcher.h), the series key (series.h).
 */
#ifndef MCS_PROMQL_LSET_H
#define MCS_PROMQL_LSET_H

#include <stddef.h>
#include <stdint.h>

#define PROMQL_LSET_NAME "__name__"

struct promql_lset {
	uint8_t *b;     /* owned, may be NULL when len == 0 */
	uint32_t len;
};

struct promql_label {
	const char *name;
	size_t nlen;
	const char *val;
	size_t vlen;
};

/* Iterator over a set: it.p / it.end. */
struct promql_lset_it {
	const uint8_t *p, *end;
};

/* A label under construction; owned strings live in the builder. */
struct promql_lb {
	struct promql_label *l;
	size_t n, cap;
	char **own;        /* strings the builder copied */
	size_t nown, owncap;
};

/* Interning table: byte strings to ids 0, 1, 2, ... in insertion order. */
struct promql_itab {
	uint32_t *slot;    /* id + 1, 0 = empty; cap is a power of two */
	size_t cap;
	uint8_t **keys;    /* owned copies, [n] */
	uint32_t *klen;
	uint64_t *khash;
	size_t n, kcap;
};

void promql_lset_it_init(struct promql_lset_it *it, const struct promql_lset *ls);
int promql_lset_it_next(struct promql_lset_it *it, struct promql_label *l);

int promql_lset_from_key(const uint8_t *key, size_t len, struct promql_lset *out);
int promql_lset_copy(const struct promql_lset *src, struct promql_lset *out);
void promql_lset_free(struct promql_lset *ls);
const char *promql_lset_get(const struct promql_lset *ls, const char *name, size_t *vlen);
int promql_lset_has_name(const struct promql_lset *ls);
int promql_lset_count(const struct promql_lset *ls);
int promql_lset_cmp(const struct promql_lset *a, const struct promql_lset *b);
int promql_lset_eq(const struct promql_lset *a, const struct promql_lset *b);
uint64_t promql_lset_hash(const struct promql_lset *ls);
int promql_lset_drop_name(const struct promql_lset *src, struct promql_lset *out);
size_t promql_lset_format(const struct promql_lset *ls, char *buf, size_t cap);
int promql_lset_sig(const struct promql_lset *ls, int on, char *const *names, size_t n,
		    int drop_name, uint8_t **buf, size_t *cap, size_t *len);

void promql_lb_init(struct promql_lb *b);
void promql_lb_free(struct promql_lb *b);
int promql_lb_reset(struct promql_lb *b, const struct promql_lset *ls);
void promql_lb_del(struct promql_lb *b, const char *name, size_t nlen);
void promql_lb_keep(struct promql_lb *b, char *const *names, size_t n);
int promql_lb_set(struct promql_lb *b, const char *name, size_t nlen, const char *val,
		  size_t vlen);
const char *promql_lb_get(const struct promql_lb *b, const char *name, size_t *vlen);
int promql_lb_build(struct promql_lb *b, struct promql_lset *out);

void promql_itab_init(struct promql_itab *t);
void promql_itab_free(struct promql_itab *t);
void promql_itab_clear(struct promql_itab *t);
int promql_itab_intern(struct promql_itab *t, const uint8_t *key, size_t len, uint32_t *id);
int promql_itab_find(const struct promql_itab *t, const uint8_t *key, size_t len,
		     uint32_t *id);

#endif
