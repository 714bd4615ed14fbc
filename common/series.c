/* series: see series.h. */
#include "common/series.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static int series_label_cmp(const void *a, const void *b)
{
	const struct series_label *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);
	if (c)
		return c;
	return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static uint8_t *series_put(uint8_t *p, const char *s, size_t len)
{
	p[0] = (uint8_t)(len & 0xff);
	p[1] = (uint8_t)(len >> 8);
	memcpy(p + 2, s, len);
	return p + 2 + len;
}

static int series_is_name(const struct series_label *l)
{
	return l->name_len == 8 && memcmp(l->name, "__name__", 8) == 0;
}

/* Insertion sort for the usual handful of labels; qsort beyond. */
static void series_sort(struct series_label *l, size_t n)
{
	if (n > 16) {
		qsort(l, n, sizeof(*l), series_label_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct series_label t = l[i];
		size_t j = i;
		while (j > 0 && series_label_cmp(&l[j - 1], &t) > 0) {
			l[j] = l[j - 1];
			j--;
		}
		l[j] = t;
	}
}

int series_key_build(uint8_t *out, size_t cap, const char *name, size_t name_len,
		     struct series_label *labels, size_t nlabels)
{
	if (nlabels > SERIES_MAX_LABELS)
		return -EINVAL;
	series_sort(labels, nlabels);
	/* Find __name__ among the labels when no name was given. */
	for (size_t i = 0; i < nlabels; i++) {
		if (!series_is_name(&labels[i]))
			continue;
		if (name && name_len)
			return -EINVAL; /* name given twice */
		name = labels[i].value;
		name_len = labels[i].value_len;
	}
	if (!name || name_len == 0)
		return -EINVAL;
	if (name_len > SERIES_LABEL_MAX)
		return -E2BIG;
	size_t need = 2 + 8 + 2 + name_len;
	for (size_t i = 0; i < nlabels; i++) {
		const struct series_label *l = &labels[i];
		if (i > 0 && series_label_cmp(&labels[i - 1], l) == 0)
			return -EINVAL;
		if (l->name_len > SERIES_LABEL_MAX || l->value_len > SERIES_LABEL_MAX)
			return -E2BIG;
		if (l->value_len == 0 || series_is_name(l))
			continue;
		if (l->name_len == 0)
			return -EINVAL;
		need += 4 + l->name_len + l->value_len;
	}
	if (need > cap || need > SERIES_KEY_MAX)
		return -E2BIG;
	uint8_t *p = series_put(out, "__name__", 8);
	p = series_put(p, name, name_len);
	for (size_t i = 0; i < nlabels; i++) {
		const struct series_label *l = &labels[i];
		if (l->value_len == 0 || series_is_name(l))
			continue;
		p = series_put(p, l->name, l->name_len);
		p = series_put(p, l->value, l->value_len);
	}
	return (int)(p - out);
}

uint64_t series_id(const uint8_t *key, size_t len)
{
	return XXH3_64bits(key, len);
}

static int series_take(struct series_key_iter *it, const char **s, size_t *len)
{
	if (it->end - it->p < 2)
		return -EPROTO;
	size_t n = (size_t)it->p[0] | ((size_t)it->p[1] << 8);
	if ((size_t)(it->end - it->p - 2) < n)
		return -EPROTO;
	*s = (const char *)it->p + 2;
	*len = n;
	it->p += 2 + n;
	return 0;
}

int series_key_next(struct series_key_iter *it, struct series_label *l)
{
	if (it->p >= it->end)
		return 0;
	if (series_take(it, &l->name, &l->name_len) || series_take(it, &l->value, &l->value_len))
		return -EPROTO;
	return 1;
}

int series_key_validate(const uint8_t *key, size_t len)
{
	struct series_key_iter it;
	struct series_label prev = {0}, l;
	int n = 0, rc;
	if (len == 0 || len > SERIES_KEY_MAX)
		return -EPROTO;
	series_key_iter_init(&it, key, len);
	while ((rc = series_key_next(&it, &l)) == 1) {
		if (l.value_len == 0 || l.name_len == 0)
			return -EPROTO;
		if (n == 0 && !series_is_name(&l))
			return -EPROTO;
		if (n > 1 && series_label_cmp(&prev, &l) >= 0)
			return -EPROTO;
		if (n > 0 && series_is_name(&l))
			return -EPROTO;
		prev = l;
		n++;
	}
	return rc == 0 && n > 0 ? 0 : -EPROTO;
}

const char *series_key_get(const uint8_t *key, size_t len, const char *name, size_t *vlen)
{
	struct series_key_iter it;
	struct series_label l;
	size_t nl = strlen(name);
	series_key_iter_init(&it, key, len);
	while (series_key_next(&it, &l) == 1) {
		if (l.name_len == nl && memcmp(l.name, name, nl) == 0) {
			*vlen = l.value_len;
			return l.value;
		}
	}
	*vlen = 0;
	return NULL;
}

struct series_out {
	char *buf;
	size_t cap;
	size_t len;
};

static void series_emit(struct series_out *o, const char *s, size_t n)
{
	if (o->len < o->cap) {
		size_t room = o->cap - o->len;
		memcpy(o->buf + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

size_t series_key_format(const uint8_t *key, size_t len, char *buf, size_t cap)
{
	struct series_out o = {buf, cap ? cap - 1 : 0, 0};
	struct series_key_iter it;
	struct series_label l;
	int n = 0, braces = 0;
	series_key_iter_init(&it, key, len);
	while (series_key_next(&it, &l) == 1) {
		if (n == 0 && series_is_name(&l)) {
			series_emit(&o, l.value, l.value_len);
			n++;
			continue;
		}
		series_emit(&o, braces ? "," : "{", 1);
		braces = 1;
		series_emit(&o, l.name, l.name_len);
		series_emit(&o, "=\"", 2);
		for (size_t i = 0; i < l.value_len; i++) {
			char c = l.value[i];
			if (c == '\\' || c == '"')
				series_emit(&o, "\\", 1);
			if (c == '\n')
				series_emit(&o, "\\n", 2);
			else
				series_emit(&o, &c, 1);
		}
		series_emit(&o, "\"", 1);
		n++;
	}
	if (braces)
		series_emit(&o, "}", 1);
	if (cap)
		buf[o.len < cap - 1 ? o.len : cap - 1] = '\0';
	return o.len;
}
