/* series: the canonical series key and its 64-bit id.
 *
 * Key bytes: for each label, u16le name length, name, u16le value length,
 * value; "__name__" first, then the other labels sorted by name (bytewise),
 * labels with empty values left out (Prometheus: empty = absent). The id is
 * XXH3-64 of those bytes. Two series are the same only when their key bytes
 * are equal: receivers compare the bytes on an id hit, so a hash collision
 * never merges two series.
 *
 * Not here: label name validation (textparse.h), matching (matcher.h).
 */
#ifndef MCS_SERIES_H
#define MCS_SERIES_H

#include <stddef.h>
#include <stdint.h>

#define SERIES_KEY_MAX   8192u  /* bytes of one key */
#define SERIES_LABEL_MAX 4096u  /* bytes of one name or value */
#define SERIES_MAX_LABELS 128u

struct series_label {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Builds the canonical key of metric `name` (may be NULL when the labels
 * carry __name__) plus `labels` (any order) into out[cap]. Returns the key
 * length (> 0); -EINVAL for a duplicate label name, an empty or missing
 * metric name, or too many labels; -E2BIG when a name or value exceeds
 * SERIES_LABEL_MAX or the key exceeds cap. `labels` is reordered in place. */
int series_key_build(uint8_t *out, size_t cap, const char *name, size_t name_len,
		     struct series_label *labels, size_t nlabels);

/* XXH3-64 of the key bytes. */
uint64_t series_id(const uint8_t *key, size_t len);

/* Iterates the labels of a key. Set it->p/end with series_key_iter_init. */
struct series_key_iter {
	const uint8_t *p;
	const uint8_t *end;
};

static inline void series_key_iter_init(struct series_key_iter *it, const uint8_t *key, size_t len)
{
	it->p = key;
	it->end = key + len;
}

/* Next label into *l. Returns 1, 0 at the end, -EPROTO for bytes that are
 * not a key (truncated length or data). */
int series_key_next(struct series_key_iter *it, struct series_label *l);

/* Checks the whole key: well-formed, __name__ first, names sorted and
 * unique, no empty value. Returns 0 or -EPROTO. For keys from shared memory. */
int series_key_validate(const uint8_t *key, size_t len);

/* Value of label `name` in the key, or NULL (sets *vlen). */
const char *series_key_get(const uint8_t *key, size_t len, const char *name, size_t *vlen);

/* Prometheus text form, e.g. up{job="x",instance="y"}, NUL-terminated, with
 * label values escaped. Returns the length it needs (like snprintf). */
size_t series_key_format(const uint8_t *key, size_t len, char *buf, size_t cap);

#endif
