/* promql_lset: see promql_lset.h.
 *
 * Invariant of every set this module produces: labels sorted by name
 * (bytewise, shorter prefix first, as Go compares strings), unique names,
 * no empty values, each name and value below 64 KiB.
 */
#include "common/promql_lset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/series.h"

/* Go's string comparison. */
static int promql_lset_bcmp(const char *a, size_t al, const char *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

void promql_lset_it_init(struct promql_lset_it *it, const struct promql_lset *ls)
{
	it->p = ls->b;
	it->end = ls->b ? ls->b + ls->len : NULL;
}

/* Next label of the set. Returns 1, or 0 at the end. */
int promql_lset_it_next(struct promql_lset_it *it, struct promql_label *l)
{
	if (!it->p || it->p + 2 > it->end)
		return 0;
	l->nlen = (size_t)it->p[0] | ((size_t)it->p[1] << 8);
	l->name = (const char *)it->p + 2;
	it->p += 2 + l->nlen;
	l->vlen = (size_t)it->p[0] | ((size_t)it->p[1] << 8);
	l->val = (const char *)it->p + 2;
	it->p += 2 + l->vlen;
	return 1;
}

static uint8_t *promql_lset_put(uint8_t *p, const char *s, size_t len)
{
	p[0] = (uint8_t)(len & 0xff);
	p[1] = (uint8_t)(len >> 8);
	if (len)
		memcpy(p + 2, s, len);
	return p + 2 + len;
}

/* Converts a canonical series key into a set (moves __name__ to its sorted
 * place). Returns 0, -EPROTO for a malformed key, -ENOMEM. *out is owned
 * by the caller. */
int promql_lset_from_key(const uint8_t *key, size_t len, struct promql_lset *out)
{
	struct promql_lb b;
	struct series_key_iter it;
	struct series_label l;
	int rc;

	out->b = NULL;
	out->len = 0;
	promql_lb_init(&b);
	series_key_iter_init(&it, key, len);
	while ((rc = series_key_next(&it, &l)) == 1) {
		if (b.n == b.cap) {
			size_t nc = b.cap ? b.cap * 2 : 16;
			struct promql_label *nl = realloc(b.l, nc * sizeof(*nl));
			if (!nl) {
				promql_lb_free(&b);
				return -ENOMEM;
			}
			b.l = nl;
			b.cap = nc;
		}
		b.l[b.n].name = l.name;
		b.l[b.n].nlen = l.name_len;
		b.l[b.n].val = l.value;
		b.l[b.n].vlen = l.value_len;
		b.n++;
	}
	if (rc < 0) {
		promql_lb_free(&b);
		return -EPROTO;
	}
	rc = promql_lb_build(&b, out);
	promql_lb_free(&b);
	return rc;
}

/* Copies src into *out (caller owns). Returns 0 or -ENOMEM. */
int promql_lset_copy(const struct promql_lset *src, struct promql_lset *out)
{
	out->len = src->len;
	out->b = NULL;
	if (!src->len)
		return 0;
	out->b = malloc(src->len);
	if (!out->b)
		return -ENOMEM;
	memcpy(out->b, src->b, src->len);
	return 0;
}

/* Frees the bytes; accepts a zeroed set. */
void promql_lset_free(struct promql_lset *ls)
{
	free(ls->b);
	ls->b = NULL;
	ls->len = 0;
}

/* The value of label `name` (NUL-terminated) or NULL; *vlen gets its length. */
const char *promql_lset_get(const struct promql_lset *ls, const char *name, size_t *vlen)
{
	struct promql_lset_it it;
	struct promql_label l;
	size_t nl = strlen(name);

	promql_lset_it_init(&it, ls);
	while (promql_lset_it_next(&it, &l)) {
		if (l.nlen == nl && memcmp(l.name, name, nl) == 0) {
			*vlen = l.vlen;
			return l.val;
		}
	}
	*vlen = 0;
	return NULL;
}

/* 1 when the set has a __name__ label. */
int promql_lset_has_name(const struct promql_lset *ls)
{
	size_t vl;
	return promql_lset_get(ls, PROMQL_LSET_NAME, &vl) != NULL;
}

/* Number of labels. */
int promql_lset_count(const struct promql_lset *ls)
{
	struct promql_lset_it it;
	struct promql_label l;
	int n = 0;

	promql_lset_it_init(&it, ls);
	while (promql_lset_it_next(&it, &l))
		n++;
	return n;
}

/* labels.Compare: label by label, name then value; a prefix sorts first.
 * Returns <0, 0, >0. */
int promql_lset_cmp(const struct promql_lset *a, const struct promql_lset *b)
{
	struct promql_lset_it x, y;
	struct promql_label lx, ly;

	promql_lset_it_init(&x, a);
	promql_lset_it_init(&y, b);
	for (;;) {
		int hx = promql_lset_it_next(&x, &lx);
		int hy = promql_lset_it_next(&y, &ly);
		int c;
		if (!hx || !hy)
			return hx - hy;
		c = promql_lset_bcmp(lx.name, lx.nlen, ly.name, ly.nlen);
		if (c)
			return c;
		c = promql_lset_bcmp(lx.val, lx.vlen, ly.val, ly.vlen);
		if (c)
			return c;
	}
}

/* 1 when both sets hold the same labels. */
int promql_lset_eq(const struct promql_lset *a, const struct promql_lset *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->b, b->b, a->len) == 0);
}

/* XXH3-64 of the bytes. */
uint64_t promql_lset_hash(const struct promql_lset *ls)
{
	return XXH3_64bits(ls->b ? (const void *)ls->b : (const void *)"", ls->len);
}

/* *out = src without __name__. Returns 0 or -ENOMEM. */
int promql_lset_drop_name(const struct promql_lset *src, struct promql_lset *out)
{
	struct promql_lset_it it;
	struct promql_label l;
	uint8_t *p;

	out->b = NULL;
	out->len = 0;
	if (!src->len)
		return 0;
	out->b = malloc(src->len);
	if (!out->b)
		return -ENOMEM;
	p = out->b;
	promql_lset_it_init(&it, src);
	while (promql_lset_it_next(&it, &l)) {
		if (l.nlen == 8 && memcmp(l.name, PROMQL_LSET_NAME, 8) == 0)
			continue;
		p = promql_lset_put(p, l.name, l.nlen);
		p = promql_lset_put(p, l.val, l.vlen);
	}
	out->len = (uint32_t)(p - out->b);
	if (!out->len) {
		free(out->b);
		out->b = NULL;
	}
	return 0;
}

/* Appends s Go-quoted (strconv.Quote for printable ASCII and UTF-8). */
static size_t promql_lset_quote(char *buf, size_t cap, size_t o, const char *s, size_t n)
{
#define PUT(ch) do { if (o + 1 < cap) buf[o] = (ch); o++; } while (0)
	PUT('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			PUT('\\');
			PUT((char)c);
		} else if (c == '\n') {
			PUT('\\');
			PUT('n');
		} else if (c == '\t') {
			PUT('\\');
			PUT('t');
		} else if (c == '\r') {
			PUT('\\');
			PUT('r');
		} else if (c < 0x20 || c == 0x7f) {
			char t[8];
			snprintf(t, sizeof(t), "\\x%02x", c);
			for (int k = 0; t[k]; k++)
				PUT(t[k]);
		} else {
			PUT((char)c);
		}
	}
	PUT('"');
#undef PUT
	return o;
}

/* 1 when name is a legacy label name ([a-zA-Z_][a-zA-Z0-9_]*). */
static int promql_lset_legacy(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (i > 0 && c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

/* labels.String(): {a="1", b="2"}. Returns the length needed (excluding
 * the NUL), like snprintf; buf is NUL-terminated when cap > 0. */
size_t promql_lset_format(const struct promql_lset *ls, char *buf, size_t cap)
{
	struct promql_lset_it it;
	struct promql_label l;
	size_t o = 0;
	int first = 1;

#define PUT(ch) do { if (o + 1 < cap) buf[o] = (ch); o++; } while (0)
	PUT('{');
	promql_lset_it_init(&it, ls);
	while (promql_lset_it_next(&it, &l)) {
		if (!first) {
			PUT(',');
			PUT(' ');
		}
		first = 0;
		if (promql_lset_legacy(l.name, l.nlen)) {
			for (size_t i = 0; i < l.nlen; i++)
				PUT(l.name[i]);
		} else {
			o = promql_lset_quote(buf, cap, o, l.name, l.nlen);
		}
		PUT('=');
		o = promql_lset_quote(buf, cap, o, l.val, l.vlen);
	}
	PUT('}');
#undef PUT
	if (cap)
		buf[o < cap ? o : cap - 1] = '\0';
	return o;
}

/* 1 when name[0..nl) is among names[0..n). */
static int promql_lset_in(const char *name, size_t nl, char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == nl && memcmp(names[i], name, nl) == 0)
			return 1;
	return 0;
}

/* The match signature of ls: with on, the labels named in names; else
 * every label except those (and __name__ when drop_name). Written into the
 * growable *buf (caller-owned, realloc'd here); *len gets its length.
 * Returns 0 or -ENOMEM. */
int promql_lset_sig(const struct promql_lset *ls, int on, char *const *names, size_t n,
		    int drop_name, uint8_t **buf, size_t *cap, size_t *len)
{
	struct promql_lset_it it;
	struct promql_label l;
	size_t o = 0;

	if (*cap < ls->len + 1) {
		uint8_t *nb = realloc(*buf, ls->len + 64);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = ls->len + 64;
	}
	promql_lset_it_init(&it, ls);
	while (promql_lset_it_next(&it, &l)) {
		int in = promql_lset_in(l.name, l.nlen, names, n);
		int isname = l.nlen == 8 && memcmp(l.name, PROMQL_LSET_NAME, 8) == 0;
		if (on ? !in : (in || (isname && drop_name)))
			continue;
		o = (size_t)(promql_lset_put(promql_lset_put(*buf + o, l.name, l.nlen), l.val, l.vlen) -
			     *buf);
	}
	*len = o;
	return 0;
}

/* ---- builder ---- */

void promql_lb_init(struct promql_lb *b)
{
	memset(b, 0, sizeof(*b));
}

static void promql_lb_drop_owned(struct promql_lb *b)
{
	for (size_t i = 0; i < b->nown; i++)
		free(b->own[i]);
	b->nown = 0;
}

/* Frees the builder; accepts a zeroed one. */
void promql_lb_free(struct promql_lb *b)
{
	promql_lb_drop_owned(b);
	free(b->own);
	free(b->l);
	memset(b, 0, sizeof(*b));
}

static int promql_lb_grow(struct promql_lb *b, size_t need)
{
	if (need <= b->cap)
		return 0;
	size_t nc = b->cap ? b->cap : 16;
	while (nc < need)
		nc *= 2;
	struct promql_label *nl = realloc(b->l, nc * sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	b->l = nl;
	b->cap = nc;
	return 0;
}

/* Starts over from ls (which must outlive the builder's use: labels point
 * into it). Returns 0 or -ENOMEM. */
int promql_lb_reset(struct promql_lb *b, const struct promql_lset *ls)
{
	struct promql_lset_it it;
	struct promql_label l;

	promql_lb_drop_owned(b);
	b->n = 0;
	promql_lset_it_init(&it, ls);
	while (promql_lset_it_next(&it, &l)) {
		if (promql_lb_grow(b, b->n + 1))
			return -ENOMEM;
		b->l[b->n++] = l;
	}
	return 0;
}

/* Removes label name (if present). */
void promql_lb_del(struct promql_lb *b, const char *name, size_t nlen)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->l[i].nlen == nlen && memcmp(b->l[i].name, name, nlen) == 0) {
			memmove(&b->l[i], &b->l[i + 1], (b->n - i - 1) * sizeof(b->l[0]));
			b->n--;
			return;
		}
	}
}

/* Keeps only the labels named in names. */
void promql_lb_keep(struct promql_lb *b, char *const *names, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < b->n; i++)
		if (promql_lset_in(b->l[i].name, b->l[i].nlen, names, n))
			b->l[o++] = b->l[i];
	b->n = o;
}

/* The current value of a label, or NULL. */
const char *promql_lb_get(const struct promql_lb *b, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < b->n; i++) {
		if (b->l[i].nlen == nl && memcmp(b->l[i].name, name, nl) == 0) {
			*vlen = b->l[i].vlen;
			return b->l[i].val;
		}
	}
	*vlen = 0;
	return NULL;
}

/* Sets name to val (both copied); an empty val deletes the label.
 * Returns 0 or -ENOMEM. */
int promql_lb_set(struct promql_lb *b, const char *name, size_t nlen, const char *val,
		  size_t vlen)
{
	char *s;

	promql_lb_del(b, name, nlen);
	if (!vlen)
		return 0;
	if (b->nown + 1 > b->owncap) {
		size_t nc = b->owncap ? b->owncap * 2 : 8;
		char **no = realloc(b->own, nc * sizeof(*no));
		if (!no)
			return -ENOMEM;
		b->own = no;
		b->owncap = nc;
	}
	s = malloc(nlen + vlen + 2);
	if (!s || promql_lb_grow(b, b->n + 1)) {
		free(s);
		return -ENOMEM;
	}
	memcpy(s, name, nlen);
	s[nlen] = '\0';
	memcpy(s + nlen + 1, val, vlen);
	s[nlen + 1 + vlen] = '\0';
	b->own[b->nown++] = s;
	b->l[b->n].name = s;
	b->l[b->n].nlen = nlen;
	b->l[b->n].val = s + nlen + 1;
	b->l[b->n].vlen = vlen;
	b->n++;
	return 0;
}

static int promql_lb_cmp(const void *a, const void *b)
{
	const struct promql_label *x = a, *y = b;
	return promql_lset_bcmp(x->name, x->nlen, y->name, y->nlen);
}

/* Produces the set (sorted, empty values dropped) into *out (caller owns).
 * The builder stays usable. Returns 0, -E2BIG for a label over 64 KiB,
 * -ENOMEM. */
int promql_lb_build(struct promql_lb *b, struct promql_lset *out)
{
	size_t need = 0;
	uint8_t *p;

	out->b = NULL;
	out->len = 0;
	if (b->n > 1)
		qsort(b->l, b->n, sizeof(b->l[0]), promql_lb_cmp);
	for (size_t i = 0; i < b->n; i++) {
		if (b->l[i].nlen > 0xffff || b->l[i].vlen > 0xffff)
			return -E2BIG;
		if (b->l[i].vlen)
			need += 4 + b->l[i].nlen + b->l[i].vlen;
	}
	if (!need)
		return 0;
	out->b = malloc(need);
	if (!out->b)
		return -ENOMEM;
	p = out->b;
	for (size_t i = 0; i < b->n; i++) {
		if (!b->l[i].vlen)
			continue;
		p = promql_lset_put(p, b->l[i].name, b->l[i].nlen);
		p = promql_lset_put(p, b->l[i].val, b->l[i].vlen);
	}
	out->len = (uint32_t)need;
	return 0;
}

/* ---- interning table ---- */

void promql_itab_init(struct promql_itab *t)
{
	memset(t, 0, sizeof(*t));
}

/* Forgets every key, keeping the allocations of the slot array. */
void promql_itab_clear(struct promql_itab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->keys[i]);
	t->n = 0;
	if (t->slot)
		memset(t->slot, 0, t->cap * sizeof(*t->slot));
}

/* Frees the table; accepts a zeroed one. */
void promql_itab_free(struct promql_itab *t)
{
	promql_itab_clear(t);
	free(t->slot);
	free(t->keys);
	free(t->klen);
	free(t->khash);
	memset(t, 0, sizeof(*t));
}

/* Looks key up. Returns 1 with *id set, or 0. */
int promql_itab_find(const struct promql_itab *t, const uint8_t *key, size_t len, uint32_t *id)
{
	uint64_t h;
	size_t i;

	if (!t->cap)
		return 0;
	h = XXH3_64bits(len ? (const void *)key : (const void *)"", len);
	for (i = h & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1)) {
		uint32_t k = t->slot[i] - 1;
		if (t->khash[k] == h && t->klen[k] == len && (!len || memcmp(t->keys[k], key, len) == 0)) {
			*id = k;
			return 1;
		}
	}
	return 0;
}

static int promql_itab_rehash(struct promql_itab *t, size_t ncap)
{
	uint32_t *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t k = 0; k < t->n; k++) {
		size_t i = t->khash[k] & (ncap - 1);
		while (ns[i])
			i = (i + 1) & (ncap - 1);
		ns[i] = (uint32_t)k + 1;
	}
	free(t->slot);
	t->slot = ns;
	t->cap = ncap;
	return 0;
}

/* Returns the id of key, adding it (copied) when new. Returns 1 when it
 * was added, 0 when it existed, -ENOMEM. */
int promql_itab_intern(struct promql_itab *t, const uint8_t *key, size_t len, uint32_t *id)
{
	uint64_t h;
	size_t i;

	if (promql_itab_find(t, key, len, id))
		return 0;
	if ((t->n + 1) * 2 > t->cap && promql_itab_rehash(t, t->cap ? t->cap * 2 : 64))
		return -ENOMEM;
	if (t->n == t->kcap) {
		size_t nc = t->kcap ? t->kcap * 2 : 32;
		uint8_t **nk = realloc(t->keys, nc * sizeof(*nk));
		if (!nk)
			return -ENOMEM;
		t->keys = nk;
		uint32_t *nl = realloc(t->klen, nc * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		t->klen = nl;
		uint64_t *nh = realloc(t->khash, nc * sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		t->khash = nh;
		t->kcap = nc;
	}
	t->keys[t->n] = malloc(len ? len : 1);
	if (!t->keys[t->n])
		return -ENOMEM;
	if (len)
		memcpy(t->keys[t->n], key, len);
	h = XXH3_64bits(len ? (const void *)key : (const void *)"", len);
	t->klen[t->n] = (uint32_t)len;
	t->khash[t->n] = h;
	for (i = h & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
		;
	t->slot[i] = (uint32_t)t->n + 1;
	*id = (uint32_t)t->n;
	t->n++;
	return 1;
}
