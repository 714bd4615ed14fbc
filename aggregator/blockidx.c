/* blockidx: the index file of a block (format in block.h): building it
 * from a writer, checking and parsing it at open, the lookups over it
 * (block_select, block_label_names, block_label_values), and compaction.
 *
 * Sections: building (symbols, series table, postings, section
 * compression); parsing (header, each section, the derived name table);
 * series decoding; matcher resolution through postings; the label
 * queries; compaction, a merge of input indexes in key order.
 *
 * Invariants after block_idx_parse() succeeded: every symbol ref, frame
 * ref, chunk range and ordinal in the index is in bounds, symbols and
 * (name, value) pairs are strictly sorted, postings strictly increasing.
 * The decoders below still check their reads, so a bug elsewhere shows up
 * as -EPROTO, not as a wild read.
 */
#include <stdarg.h>
#include <xxhash.h>
#include <zstd.h>

#include "aggregator/block_pvt.h"
#include "common/log.h"
#include "common/records.h"

/* ---- building ---------------------------------------------------------- */

struct blockidx_str {
	const uint8_t *p;
	uint32_t len;
};

struct blockidx_triple {
	uint32_t name, value, ord;
};

static int blockidx_str_cmp(const void *a, const void *b)
{
	const struct blockidx_str *x = a, *y = b;
	return block_cmp_bytes(x->p, x->len, y->p, y->len);
}

static int blockidx_triple_cmp(const void *a, const void *b)
{
	const struct blockidx_triple *x = a, *y = b;
	if (x->name != y->name)
		return x->name < y->name ? -1 : 1;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Ref of string (p, len) among the nsyms sorted symbols; it must be there. */
static uint32_t blockidx_sym_ref(const struct blockidx_str *syms, size_t nsyms, const void *p, size_t len)
{
	size_t lo = 0, hi = nsyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (block_cmp_bytes(syms[mid].p, syms[mid].len, p, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t)lo;
}

/* Replaces the plain index in out (header placeholder, then the sections
 * at soff/slen) by the file: each section zstd-compressed when that saves
 * a tenth, then the header. Returns 0, -ENOMEM, -E2BIG (over 4 GiB). */
static int blockidx_pack(const struct block_writer *w, struct block_buf *out, const uint64_t *soff,
			 const uint64_t *slen)
{
	struct block_buf f = {0};
	uint8_t *z = NULL;
	int rc = -E2BIG;

	if (out->len > UINT32_MAX)
		goto out;
	uint8_t hdr[BLOCK_HDR_LEN] = {0};
	uint64_t magic = BLOCK_IDX_MAGIC, samples = w->samples;
	uint32_t ver = BLOCK_VERSION, nsect = BLOCK_NSECT, ns = (uint32_t)w->nseries, nc = (uint32_t)w->nchunks;
	memcpy(hdr, &magic, 8);
	memcpy(hdr + 8, &ver, 4);
	memcpy(hdr + 12, &nsect, 4);
	memcpy(hdr + 16, &w->min_t, 8);
	memcpy(hdr + 24, &w->max_t, 8);
	memcpy(hdr + 32, &samples, 8);
	memcpy(hdr + 40, &ns, 4);
	memcpy(hdr + 44, &nc, 4);
	block_buf_put(&f, hdr, sizeof(hdr));
	rc = -ENOMEM;
	z = malloc(ZSTD_compressBound(out->len));
	if (!z)
		goto out;
	for (unsigned s = 0; s < BLOCK_NSECT; s++) {
		const uint8_t *src = out->p + soff[s];
		size_t zl = ZSTD_compress(z, ZSTD_compressBound(out->len), src, slen[s], BLOCK_IDX_ZSTD_LEVEL);
		uint32_t raw = 0, stored = (uint32_t)slen[s];
		uint64_t off = f.len;
		if (!ZSTD_isError(zl) && zl < slen[s] - slen[s] / 10) {
			raw = (uint32_t)slen[s];
			stored = (uint32_t)zl;
			src = z;
		}
		block_buf_put(&f, src, stored);
		if (f.err)
			goto out;
		uint64_t hs = XXH3_64bits(f.p + off, stored);
		memcpy(f.p + 48 + 24 * s, &off, 8);
		memcpy(f.p + 56 + 24 * s, &stored, 4);
		memcpy(f.p + 60 + 24 * s, &raw, 4);
		memcpy(f.p + 64 + 24 * s, &hs, 8);
	}
	rc = -E2BIG;
	if (f.len > UINT32_MAX)
		goto out;
	uint64_t hh = XXH3_64bits(f.p, BLOCK_HDR_LEN - 8);
	memcpy(f.p + BLOCK_HDR_LEN - 8, &hh, 8);
	free(out->p);
	*out = f;
	f.p = NULL;
	rc = 0;
out:
	free(f.p);
	free(z);
	return rc;
}

/* Builds the whole index file of writer w (series sorted in w->order,
 * chunks placed, FRAMES section in w->frames) into out. Returns 0,
 * -ENOMEM, or -E2BIG when the index would pass 4 GiB. The caller owns
 * out->p either way. */
int block_idx_build(struct block_writer *w, struct block_buf *out)
{
	struct blockidx_str *strs = NULL;
	struct blockidx_triple *tri = NULL;
	size_t nstr = 0, ntri = 0, nsyms = 0;
	uint64_t soff[BLOCK_NSECT], slen[BLOCK_NSECT];
	int rc = -ENOMEM;

	size_t nlab = 0;
	for (size_t i = 0; i < w->nseries; i++) {
		struct series_key_iter it;
		struct series_label l;
		series_key_iter_init(&it, w->series[i].key, w->series[i].key_len);
		while (series_key_next(&it, &l) == 1)
			nlab++;
	}
	strs = malloc((2 * nlab + 1) * sizeof(*strs));
	tri = malloc((nlab + 1) * sizeof(*tri));
	if (!strs || !tri)
		goto out;
	for (size_t i = 0; i < w->nseries; i++) {
		struct series_key_iter it;
		struct series_label l;
		series_key_iter_init(&it, w->series[i].key, w->series[i].key_len);
		while (series_key_next(&it, &l) == 1) {
			strs[nstr++] = (struct blockidx_str){(const uint8_t *)l.name, (uint32_t)l.name_len};
			strs[nstr++] = (struct blockidx_str){(const uint8_t *)l.value, (uint32_t)l.value_len};
		}
	}
	qsort(strs, nstr, sizeof(*strs), blockidx_str_cmp);
	for (size_t i = 0; i < nstr; i++)
		if (nsyms == 0 || blockidx_str_cmp(&strs[nsyms - 1], &strs[i]) != 0)
			strs[nsyms++] = strs[i];

	uint8_t hdr[BLOCK_HDR_LEN] = {0};
	block_buf_put(out, hdr, sizeof(hdr));

	soff[BLOCK_S_SYMBOLS] = out->len;
	block_buf_u32(out, (uint32_t)nsyms);
	for (size_t i = 0; i < nsyms; i++) {
		block_buf_uv(out, strs[i].len);
		block_buf_put(out, strs[i].p, strs[i].len);
	}

	soff[BLOCK_S_SERIES] = out->len;
	block_buf_u32(out, (uint32_t)w->nseries);
	for (size_t o = 0; o < w->nseries; o++) {
		const struct block_wseries *s = &w->series[w->order[o]];
		struct series_key_iter it;
		struct series_label l;
		size_t nl = 0;
		series_key_iter_init(&it, s->key, s->key_len);
		while (series_key_next(&it, &l) == 1)
			nl++;
		block_buf_uv(out, nl);
		series_key_iter_init(&it, s->key, s->key_len);
		while (series_key_next(&it, &l) == 1) {
			uint32_t nr = blockidx_sym_ref(strs, nsyms, l.name, l.name_len);
			uint32_t vr = blockidx_sym_ref(strs, nsyms, l.value, l.value_len);
			block_buf_uv(out, nr);
			block_buf_uv(out, vr);
			tri[ntri++] = (struct blockidx_triple){nr, vr, (uint32_t)o};
		}
		block_buf_u64(out, s->id);
		block_buf_uv(out, s->nchunks);
		int64_t prev = w->min_t;
		for (size_t c = 0; c < s->nchunks; c++) {
			const struct block_wchunk *ch = &w->chunks[s->first + c];
			block_buf_uv(out, ch->frame);
			block_buf_uv(out, ch->off);
			block_buf_uv(out, ch->len);
			block_buf_uv(out, block_zz((int64_t)((uint64_t)ch->min_ts - (uint64_t)prev)));
			block_buf_uv(out, (uint64_t)ch->max_ts - (uint64_t)ch->min_ts);
			block_buf_uv(out, ch->count);
			prev = ch->max_ts;
		}
	}

	soff[BLOCK_S_POSTINGS] = out->len;
	qsort(tri, ntri, sizeof(*tri), blockidx_triple_cmp);
	size_t npairs = 0;
	for (size_t i = 0; i < ntri; i++)
		npairs += i == 0 || tri[i].name != tri[i - 1].name || tri[i].value != tri[i - 1].value;
	block_buf_u32(out, (uint32_t)npairs);
	for (size_t i = 0; i < ntri;) {
		size_t j = i;
		while (j < ntri && tri[j].name == tri[i].name && tri[j].value == tri[i].value)
			j++;
		block_buf_uv(out, tri[i].name);
		block_buf_uv(out, tri[i].value);
		block_buf_uv(out, j - i);
		for (size_t k = i; k < j; k++)
			block_buf_uv(out, k == i ? tri[k].ord : tri[k].ord - tri[k - 1].ord);
		i = j;
	}

	soff[BLOCK_S_FRAMES] = out->len;
	block_buf_put(out, w->frames.p, w->frames.len);
	if (out->err) {
		rc = out->err;
		goto out;
	}
	for (unsigned s = 0; s < BLOCK_NSECT; s++)
		slen[s] = (s + 1 < BLOCK_NSECT ? soff[s + 1] : out->len) - soff[s];
	rc = blockidx_pack(w, out, soff, slen);
out:
	free(strs);
	free(tri);
	return rc;
}

/* ---- parsing ----------------------------------------------------------- */

/* Records why the block is damaged (first reason wins) and returns rc. */
int block_fail(struct block *b, int rc, const char *fmt, ...)
{
	if (b->err[0])
		return rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
	return rc;
}

static int blockidx_parse_frames(struct block *b, const uint8_t *p, size_t len)
{
	struct block_rd r = {p, p + len, 0};
	b->nframes = block_rd_u32(&r);
	b->dict_len = block_rd_u32(&r);
	b->dict_off = block_rd_u64(&r);
	b->dict_hash = block_rd_u64(&r);
	if (r.err || (size_t)(r.end - r.p) != (size_t)b->nframes * BLOCK_FRAME_ENT_LEN)
		return block_fail(b, -EPROTO, "index: frames table size");
	if (b->dict_len && b->dict_off != BLOCK_CHK_HDR_LEN)
		return block_fail(b, -EPROTO, "index: dictionary offset %llu", (unsigned long long)b->dict_off);
	b->frames = calloc(b->nframes + 1, sizeof(*b->frames));
	if (!b->frames)
		return -ENOMEM;
	uint64_t at = BLOCK_CHK_HDR_LEN + (uint64_t)b->dict_len;
	for (uint32_t i = 0; i < b->nframes; i++) {
		struct block_frame *f = &b->frames[i];
		f->off = block_rd_u64(&r);
		f->clen = block_rd_u32(&r);
		f->rawlen = block_rd_u32(&r);
		f->hash = block_rd_u64(&r);
		if (f->off != at || f->clen == 0 || f->rawlen > (1u << 30))
			return block_fail(b, -EPROTO, "index: frame %u entry", i);
		at += BLOCK_FRAME_HDR_LEN + (uint64_t)f->clen;
	}
	return 0;
}

static int blockidx_parse_symbols(struct block *b, const uint8_t *p, size_t len)
{
	struct block_rd r = {p, p + len, 0};
	b->nsyms = block_rd_u32(&r);
	if (r.err || b->nsyms > len)
		return block_fail(b, -EPROTO, "index: symbol count");
	b->syms = calloc(b->nsyms + 1, sizeof(*b->syms));
	if (!b->syms)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->nsyms; i++) {
		uint64_t l = block_rd_uv(&r);
		if (r.err || l > SERIES_LABEL_MAX || l > (size_t)(r.end - r.p))
			return block_fail(b, -EPROTO, "index: symbol %u length", i);
		b->syms[i].off = (uint32_t)(r.p - b->idx);
		b->syms[i].len = (uint32_t)l;
		r.p += l;
		if (i && block_cmp_bytes(b->idx + b->syms[i - 1].off, b->syms[i - 1].len, b->idx + b->syms[i].off,
					 b->syms[i].len) >= 0)
			return block_fail(b, -EPROTO, "index: symbol %u out of order", i);
	}
	if (r.p != r.end)
		return block_fail(b, -EPROTO, "index: symbols section trailing bytes");
	return 0;
}

static int blockidx_parse_series(struct block *b, const uint8_t *p, size_t len)
{
	struct block_rd r = {p, p + len, 0};
	uint64_t chunks = 0, samples = 0;
	uint32_t n = block_rd_u32(&r);
	if (r.err || n != b->meta.series || n > len)
		return block_fail(b, -EPROTO, "index: series count");
	b->nseries = n;
	b->series_off = calloc(n + 1, sizeof(*b->series_off));
	if (!b->series_off)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		b->series_off[i] = (uint32_t)(r.p - b->idx);
		uint64_t nl = block_rd_uv(&r);
		if (r.err || nl == 0 || nl > SERIES_MAX_LABELS)
			return block_fail(b, -EPROTO, "index: series %u label count", i);
		for (uint64_t k = 0; k < 2 * nl; k++)
			if (block_rd_uv(&r) >= b->nsyms)
				return block_fail(b, -EPROTO, "index: series %u symbol ref", i);
		block_rd_u64(&r);
		uint64_t nc = block_rd_uv(&r);
		if (r.err || nc > len)
			return block_fail(b, -EPROTO, "index: series %u chunk count", i);
		int64_t prev = b->meta.min_t;
		for (uint64_t c = 0; c < nc; c++) {
			uint64_t fr = block_rd_uv(&r), off = block_rd_uv(&r), cl = block_rd_uv(&r);
			int64_t mn = (int64_t)((uint64_t)prev + (uint64_t)block_unzz(block_rd_uv(&r)));
			uint64_t span = block_rd_uv(&r), cnt = block_rd_uv(&r);
			int64_t mx = (int64_t)((uint64_t)mn + span);
			if (r.err || fr >= b->nframes || off > b->frames[fr].rawlen || cl > b->frames[fr].rawlen - off ||
			    cnt == 0 || cnt > UINT32_MAX || mn < b->meta.min_t || mx > b->meta.max_t || mx < mn)
				return block_fail(b, -EPROTO, "index: series %u chunk %llu ref", i,
						  (unsigned long long)c);
			prev = mx;
			samples += cnt;
		}
		chunks += nc;
	}
	if (r.p != r.end || chunks != b->meta.chunks || samples != b->meta.samples)
		return block_fail(b, -EPROTO, "index: series section totals");
	return 0;
}

static int blockidx_parse_postings(struct block *b, const uint8_t *p, size_t len)
{
	struct block_rd r = {p, p + len, 0};
	b->npairs = block_rd_u32(&r);
	if (r.err || b->npairs > len)
		return block_fail(b, -EPROTO, "index: postings count");
	b->pairs = calloc(b->npairs + 1, sizeof(*b->pairs));
	b->names = calloc(b->npairs + 1, sizeof(*b->names));
	if (!b->pairs || !b->names)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->npairs; i++) {
		struct block_pair *pr = &b->pairs[i];
		pr->name = block_rd_uv32(&r);
		pr->value = block_rd_uv32(&r);
		pr->count = block_rd_uv32(&r);
		pr->off = (uint32_t)(r.p - b->idx);
		if (r.err || pr->name >= b->nsyms || pr->value >= b->nsyms || pr->count == 0 ||
		    pr->count > b->nseries)
			return block_fail(b, -EPROTO, "index: postings entry %u", i);
		if (i && (pr->name < pr[-1].name || (pr->name == pr[-1].name && pr->value <= pr[-1].value)))
			return block_fail(b, -EPROTO, "index: postings entry %u out of order", i);
		uint64_t ord = 0;
		for (uint32_t k = 0; k < pr->count; k++) {
			uint64_t g = block_rd_uv(&r);
			if (k && g == 0)
				r.err = -EPROTO;
			ord += g;
			if (r.err || ord >= b->nseries)
				return block_fail(b, -EPROTO, "index: postings entry %u ordinal", i);
		}
		if (i == 0 || pr->name != pr[-1].name)
			b->names[b->nnames++] = (struct block_name){pr->name, i, 0};
		b->names[b->nnames - 1].n++;
	}
	if (r.p != r.end)
		return block_fail(b, -EPROTO, "index: postings section trailing bytes");
	return 0;
}

/* Checks the header and every section of b->idx and fills the tables of b.
 * With BLOCK_OPEN_VERIFY it also rebuilds every key and checks the order
 * and ids. Returns 0, -EPROTO with b->err set, or -ENOMEM. */
int block_idx_parse(struct block *b, unsigned flags)
{
	const uint8_t *h = b->idx;
	uint64_t magic, hh, off[BLOCK_NSECT], len[BLOCK_NSECT], hs[BLOCK_NSECT];
	uint32_t ver, nsect, rawl[BLOCK_NSECT];
	uint8_t *prev = NULL;
	int rc = 0;

	if (b->idx_len < BLOCK_HDR_LEN)
		return block_fail(b, -EPROTO, "index: %zu bytes, shorter than its header", b->idx_len);
	memcpy(&magic, h, 8);
	memcpy(&ver, h + 8, 4);
	memcpy(&nsect, h + 12, 4);
	memcpy(&hh, h + BLOCK_HDR_LEN - 8, 8);
	if (magic != BLOCK_IDX_MAGIC)
		return block_fail(b, -EPROTO, "index: bad magic");
	if (ver != BLOCK_VERSION)
		return block_fail(b, -EPROTO, "index: version %u, expected %u", ver, BLOCK_VERSION);
	if (nsect != BLOCK_NSECT || XXH3_64bits(h, BLOCK_HDR_LEN - 8) != hh)
		return block_fail(b, -EPROTO, "index: header checksum mismatch");
	memcpy(&b->meta.min_t, h + 16, 8);
	memcpy(&b->meta.max_t, h + 24, 8);
	memcpy(&b->meta.samples, h + 32, 8);
	memcpy(&b->meta.series, h + 40, 4);
	memcpy(&b->meta.chunks, h + 44, 4);
	static const char *const names[BLOCK_NSECT] = {"symbols", "series", "postings", "frames"};
	uint64_t total = BLOCK_HDR_LEN;
	for (unsigned s = 0; s < BLOCK_NSECT; s++) {
		uint32_t stored, raw;
		memcpy(&off[s], h + 48 + 24 * s, 8);
		memcpy(&stored, h + 56 + 24 * s, 4);
		memcpy(&raw, h + 60 + 24 * s, 4);
		memcpy(&hs[s], h + 64 + 24 * s, 8);
		len[s] = stored;
		if (off[s] < BLOCK_HDR_LEN || off[s] > b->idx_len || len[s] > b->idx_len - off[s])
			return block_fail(b, -EPROTO, "index: section %s out of bounds", names[s]);
		if (XXH3_64bits(b->idx + off[s], len[s]) != hs[s])
			return block_fail(b, -EPROTO, "index: section %s checksum mismatch", names[s]);
		rawl[s] = raw;
		total += raw ? raw : stored;
	}
	/* The sections, decompressed, back to back after the header: every
	 * offset kept from here on is into this buffer. */
	if (total > UINT32_MAX)
		return block_fail(b, -EPROTO, "index: sections too large");
	uint8_t *lg = malloc(total + 1);
	if (!lg)
		return -ENOMEM;
	memcpy(lg, h, BLOCK_HDR_LEN);
	uint64_t at = BLOCK_HDR_LEN;
	for (unsigned s = 0; s < BLOCK_NSECT && !rc; s++) {
		if (!rawl[s]) {
			memcpy(lg + at, b->idx + off[s], len[s]);
		} else {
			size_t n = ZSTD_decompress(lg + at, rawl[s], b->idx + off[s], len[s]);
			if (ZSTD_isError(n) || n != rawl[s])
				rc = block_fail(b, -EPROTO, "index: section %s does not decompress", names[s]);
			len[s] = rawl[s];
		}
		off[s] = at;
		at += len[s];
	}
	free(b->idx);
	b->idx = lg;
	b->idx_len = total;
	if (rc)
		return rc;
	rc = blockidx_parse_frames(b, b->idx + off[BLOCK_S_FRAMES], len[BLOCK_S_FRAMES]);
	if (!rc)
		rc = blockidx_parse_symbols(b, b->idx + off[BLOCK_S_SYMBOLS], len[BLOCK_S_SYMBOLS]);
	if (!rc)
		rc = blockidx_parse_series(b, b->idx + off[BLOCK_S_SERIES], len[BLOCK_S_SERIES]);
	if (!rc)
		rc = blockidx_parse_postings(b, b->idx + off[BLOCK_S_POSTINGS], len[BLOCK_S_POSTINGS]);
	if (rc || !(flags & BLOCK_OPEN_VERIFY))
		return rc;
	prev = malloc(SERIES_KEY_MAX);
	if (!prev)
		return -ENOMEM;
	size_t plen = 0;
	for (uint32_t i = 0; i < b->nseries && !rc; i++) {
		size_t kl, nc;
		uint64_t id;
		rc = block_idx_load(b, i, &kl, &id, &nc);
		if (rc)
			break;
		if (series_key_validate(b->key, kl) != 0 || series_id(b->key, kl) != id ||
		    (i && block_cmp_bytes(prev, plen, b->key, kl) >= 0))
			rc = block_fail(b, -EPROTO, "index: series %u key or id", i);
		memcpy(prev, b->key, kl);
		plen = kl;
	}
	free(prev);
	return rc;
}

/* ---- series decoding --------------------------------------------------- */

static const uint8_t *blockidx_sym(const struct block *b, uint32_t ref, uint32_t *len)
{
	*len = b->syms[ref].len;
	return b->idx + b->syms[ref].off;
}

/* Decodes series ord: its key into b->key, its chunk refs into b->crefs and
 * b->cchunks (data NULL). Returns 0, -ENOMEM, -EPROTO (-ERANGE for a bad
 * ordinal). Valid until the next call on b. */
int block_idx_load(struct block *b, uint32_t ord, size_t *key_len, uint64_t *id, size_t *nchunks)
{
	if (ord >= b->nseries)
		return -ERANGE;
	struct block_rd r = {b->idx + b->series_off[ord], b->idx + b->idx_len, 0};
	uint64_t nl = block_rd_uv(&r);
	size_t kl = 0;
	for (uint64_t k = 0; k < nl && !r.err; k++) {
		for (int j = 0; j < 2; j++) {
			uint64_t ref = block_rd_uv(&r);
			uint32_t sl;
			if (r.err || ref >= b->nsyms)
				return block_fail(b, -EPROTO, "index: series %u symbol ref", ord);
			const uint8_t *s = blockidx_sym(b, (uint32_t)ref, &sl);
			if (kl + 2 + sl > sizeof(b->key))
				return block_fail(b, -EPROTO, "index: series %u key too long", ord);
			uint16_t l16 = (uint16_t)sl;
			memcpy(b->key + kl, &l16, 2);
			memcpy(b->key + kl + 2, s, sl);
			kl += 2 + sl;
		}
	}
	*id = block_rd_u64(&r);
	uint64_t nc = block_rd_uv(&r);
	if (r.err || nc > b->meta.chunks)
		return block_fail(b, -EPROTO, "index: series %u header", ord);
	if (nc > b->ccap) {
		size_t cap = nc < 16 ? 16 : nc;
		struct block_cref *cr = realloc(b->crefs, cap * sizeof(*cr));
		if (cr)
			b->crefs = cr;
		struct block_chunk *cc = realloc(b->cchunks, cap * sizeof(*cc));
		if (cc)
			b->cchunks = cc;
		if (!cr || !cc)
			return -ENOMEM;
		b->ccap = cap;
	}
	int64_t prev = b->meta.min_t;
	for (uint64_t c = 0; c < nc; c++) {
		struct block_cref *cr = &b->crefs[c];
		cr->frame = block_rd_uv32(&r);
		cr->off = block_rd_uv32(&r);
		cr->c.len = block_rd_uv32(&r);
		cr->c.min_ts = (int64_t)((uint64_t)prev + (uint64_t)block_unzz(block_rd_uv(&r)));
		cr->c.max_ts = (int64_t)((uint64_t)cr->c.min_ts + block_rd_uv(&r));
		cr->c.count = block_rd_uv32(&r);
		cr->c.data = NULL;
		if (r.err || cr->frame >= b->nframes)
			return block_fail(b, -EPROTO, "index: series %u chunk ref", ord);
		prev = cr->c.max_ts;
		b->cchunks[c] = cr->c;
	}
	*key_len = kl;
	*nchunks = nc;
	return 0;
}

/* ---- matcher resolution ------------------------------------------------ */

struct blockidx_set {
	uint32_t *v;
	size_t n, cap;
};

static int blockidx_set_grow(struct blockidx_set *s, size_t more)
{
	if (s->n + more <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap : 64;
	while (cap < s->n + more)
		cap *= 2;
	uint32_t *v = realloc(s->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->cap = cap;
	return 0;
}

/* Appends the ordinals of pair i to s. */
static int blockidx_set_add_pair(struct block *b, struct blockidx_set *s, uint32_t i)
{
	const struct block_pair *pr = &b->pairs[i];
	if (blockidx_set_grow(s, pr->count))
		return -ENOMEM;
	struct block_rd r = {b->idx + pr->off, b->idx + b->idx_len, 0};
	uint64_t ord = 0;
	for (uint32_t k = 0; k < pr->count; k++) {
		ord += block_rd_uv(&r);
		if (r.err || ord >= b->nseries)
			return block_fail(b, -EPROTO, "index: postings entry %u", i);
		s->v[s->n++] = (uint32_t)ord;
	}
	return 0;
}

static int blockidx_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Index of symbol (p, len) or -1. */
static long blockidx_sym_find(const struct block *b, const void *p, size_t len)
{
	size_t lo = 0, hi = b->nsyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = block_cmp_bytes(b->idx + b->syms[mid].off, b->syms[mid].len, p, len);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Entry of label name (p, len) in b->names, or NULL. */
static const struct block_name *blockidx_name_find(const struct block *b, const void *p, size_t len)
{
	long sym = blockidx_sym_find(b, p, len);
	size_t lo = 0, hi = b->nnames;
	while (sym >= 0 && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->names[mid].sym == (uint32_t)sym)
			return &b->names[mid];
		if (b->names[mid].sym < (uint32_t)sym)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The series matcher m selects: *neg = 0 and s = those ordinals, or
 * *neg = 1 and s = the ordinals it excludes (everything else matches).
 * Equality goes straight to the posting; other matchers test every value
 * of the name and take the union of the postings on the smaller side. */
static int blockidx_matcher(struct block *b, const struct matcher *m, struct blockidx_set *s, int *neg)
{
	const struct block_name *nm = blockidx_name_find(b, m->name, m->name_len);
	int empty_ok = matcher_match_value(m, "", 0);
	int rc = 0;

	s->n = 0;
	*neg = empty_ok;
	if (!nm)
		return 0;
	if ((m->op == REC_M_EQ || m->op == REC_M_NE) && m->value_len > 0) {
		long vs = blockidx_sym_find(b, m->value, m->value_len);
		for (uint32_t lo = nm->first, hi = nm->first + nm->n; vs >= 0 && lo < hi;) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (b->pairs[mid].value == (uint32_t)vs)
				return blockidx_set_add_pair(b, s, mid);
			if (b->pairs[mid].value < (uint32_t)vs)
				lo = mid + 1;
			else
				hi = mid;
		}
		return 0;
	}
	for (uint32_t i = nm->first; i < nm->first + nm->n && !rc; i++) {
		uint32_t vl;
		const uint8_t *v = blockidx_sym(b, b->pairs[i].value, &vl);
		if (matcher_match_value(m, (const char *)v, vl) != empty_ok)
			rc = blockidx_set_add_pair(b, s, i);
	}
	if (!rc && s->n)
		qsort(s->v, s->n, sizeof(*s->v), blockidx_u32_cmp);
	return rc;
}

/* Ordinals of the series all n matchers select, ascending, into *out (the
 * caller frees out->v). Returns 0, -ENOMEM, -EPROTO. */
static int blockidx_resolve(struct block *b, const struct matcher *m, size_t n, struct blockidx_set *out)
{
	struct blockidx_set cur = {0}, excl = {0};
	int have_pos = 0, neg, rc = 0;

	out->n = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = blockidx_matcher(b, &m[i], &cur, &neg);
		if (rc)
			break;
		if (neg) {
			rc = blockidx_set_grow(&excl, cur.n);
			if (!rc && cur.n)
				memcpy(excl.v + excl.n, cur.v, cur.n * sizeof(*cur.v));
			excl.n += rc ? 0 : cur.n;
		} else if (!have_pos) {
			struct blockidx_set t = *out;
			*out = cur;
			cur = t;
			have_pos = 1;
		} else {
			size_t a = 0, c = 0, k = 0;
			while (a < out->n && c < cur.n) {
				if (out->v[a] < cur.v[c])
					a++;
				else if (out->v[a] > cur.v[c])
					c++;
				else
					out->v[k++] = out->v[a++], c++;
			}
			out->n = k;
		}
		if (have_pos && out->n == 0)
			goto done;
	}
	if (rc)
		goto done;
	if (excl.n)
		qsort(excl.v, excl.n, sizeof(*excl.v), blockidx_u32_cmp);
	if (!have_pos) {
		rc = blockidx_set_grow(out, b->nseries);
		if (rc)
			goto done;
		size_t e = 0;
		for (uint32_t o = 0; o < b->nseries; o++) {
			while (e < excl.n && excl.v[e] < o)
				e++;
			if (e >= excl.n || excl.v[e] != o)
				out->v[out->n++] = o;
		}
	} else {
		size_t e = 0, k = 0;
		for (size_t a = 0; a < out->n; a++) {
			while (e < excl.n && excl.v[e] < out->v[a])
				e++;
			if (e >= excl.n || excl.v[e] != out->v[a])
				out->v[k++] = out->v[a];
		}
		out->n = k;
	}
done:
	free(cur.v);
	free(excl.v);
	return rc;
}

/* ---- queries ----------------------------------------------------------- */

/* Calls cb for every series that all n matchers select (no matcher: every
 * series), in key order, with its key, id and chunk metadata (data NULL;
 * block_read_chunks gets the bytes). The pointers are valid during the
 * call only. Returns 0, cb's non-zero value, -ENOMEM, or -EPROTO. */
int block_select(struct block *b, const struct matcher *m, size_t n, block_series_cb cb, void *arg)
{
	struct blockidx_set s = {0};
	int rc = blockidx_resolve(b, m, n, &s);
	for (size_t i = 0; i < s.n && !rc; i++) {
		size_t kl, nc;
		uint64_t id;
		rc = block_idx_load(b, s.v[i], &kl, &id, &nc);
		if (!rc)
			rc = cb(arg, s.v[i], b->key, kl, id, b->cchunks, nc);
	}
	free(s.v);
	return rc;
}

/* Marks in mark[] (one byte per symbol) the label names (want == NULL) or
 * the values of label name sym *want of every series in s. */
static int blockidx_mark(struct block *b, const struct blockidx_set *s, const long *want, uint8_t *mark)
{
	for (size_t i = 0; i < s->n; i++) {
		struct block_rd r = {b->idx + b->series_off[s->v[i]], b->idx + b->idx_len, 0};
		uint64_t nl = block_rd_uv(&r);
		for (uint64_t k = 0; k < nl; k++) {
			uint64_t nr = block_rd_uv(&r), vr = block_rd_uv(&r);
			if (r.err || nr >= b->nsyms || vr >= b->nsyms)
				return block_fail(b, -EPROTO, "index: series %u symbol ref", s->v[i]);
			if (!want)
				mark[nr] = 1;
			else if ((long)nr == *want)
				mark[vr] = 1;
		}
	}
	return 0;
}

/* Calls cb with the symbols marked for the series the n matchers select:
 * label names (nm == NULL) or the values of nm. */
static int blockidx_label_strs(struct block *b, const struct block_name *nm, const struct matcher *m,
			       size_t n, block_str_cb cb, void *arg)
{
	struct blockidx_set s = {0};
	long want = nm ? (long)nm->sym : -1;
	uint8_t *mark = calloc(b->nsyms + 1, 1);
	int rc = mark ? blockidx_resolve(b, m, n, &s) : -ENOMEM;
	uint32_t len;

	if (!rc)
		rc = blockidx_mark(b, &s, nm ? &want : NULL, mark);
	for (uint32_t i = 0; i < b->nsyms && !rc; i++) {
		if (mark[i]) {
			const uint8_t *p = blockidx_sym(b, i, &len);
			rc = cb(arg, (const char *)p, len);
		}
	}
	free(mark);
	free(s.v);
	return rc;
}

/* Calls cb with every label name (sorted) of the series the n matchers
 * select; with n == 0, of every series. Returns 0, cb's non-zero value,
 * -ENOMEM, -EPROTO. */
int block_label_names(struct block *b, const struct matcher *m, size_t n, block_str_cb cb, void *arg)
{
	int rc = 0;
	uint32_t len;

	if (n)
		return blockidx_label_strs(b, NULL, m, n, cb, arg);
	for (uint32_t i = 0; i < b->nnames && !rc; i++) {
		const uint8_t *p = blockidx_sym(b, b->names[i].sym, &len);
		rc = cb(arg, (const char *)p, len);
	}
	return rc;
}

/* Calls cb with every value (sorted) label `name` takes in the series the
 * n matchers select (n == 0: in every series). Returns 0, cb's non-zero
 * value, -ENOMEM, -EPROTO. */
int block_label_values(struct block *b, const char *name, size_t name_len, const struct matcher *m,
		       size_t n, block_str_cb cb, void *arg)
{
	const struct block_name *nm = blockidx_name_find(b, name, name_len);
	int rc = 0;
	uint32_t len;

	if (!nm || n)
		return nm ? blockidx_label_strs(b, nm, m, n, cb, arg) : 0;
	for (uint32_t i = nm->first; i < nm->first + nm->n && !rc; i++) {
		const uint8_t *p = blockidx_sym(b, b->pairs[i].value, &len);
		rc = cb(arg, (const char *)p, len);
	}
	return rc;
}

/* ---- compaction -------------------------------------------------------- */

struct block_mchunk {
	struct block_chunk c;
	size_t off;                 /* into the merge buffer */
};

static int block_mchunk_cmp(const void *a, const void *b)
{
	const struct block_mchunk *x = a, *y = b;
	if (x->c.min_ts != y->c.min_ts)
		return x->c.min_ts < y->c.min_ts ? -1 : 1;
	if (x->c.max_ts != y->c.max_ts)
		return x->c.max_ts < y->c.max_ts ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Merges the n blocks at inputs (one tier) into one new block under parent:
 * series with the same key get the chunk lists of all inputs, sorted by
 * time (overlaps kept and counted in meta); the compaction level is one
 * above the inputs' highest unless opts->level says otherwise. The path of
 * the new block goes to path[cap], its figures to st. The caller deletes the
 * inputs afterwards. Returns 0, -EPROTO (an input is damaged: logged with
 * its path; quarantine it), -EINVAL (no input, mixed tiers), -ENOMEM,
 * writer errors. */
int block_compact(const char *const *inputs, size_t n, const char *parent, const struct block_opts *opts,
		  char *path, size_t cap, struct block_stats *st)
{
	struct block **in = calloc(n + 1, sizeof(*in));
	uint32_t *pos = calloc(n + 1, sizeof(*pos));
	uint8_t **keys = calloc(n + 1, sizeof(*keys));
	size_t *klen = calloc(n + 1, sizeof(*klen));
	const char **srcs = calloc(n + 1, sizeof(*srcs));
	struct block_buf mb = {0};
	struct block_mchunk *mc = NULL;
	struct block_chunk *cc = NULL;
	size_t mccap = 0;
	struct block_writer *w = NULL;
	struct block_opts o = opts ? *opts : (struct block_opts){0};
	char err[256];
	int rc = -ENOMEM;

	if (!in || !pos || !keys || !klen || !srcs)
		goto out;
	rc = -EINVAL;
	if (n == 0)
		goto out;
	uint32_t level = 0;
	for (size_t j = 0; j < n; j++) {
		rc = block_open(inputs[j], 0, &in[j], err, sizeof(err));
		if (rc) {
			log_warn("block: compaction input %s unusable: %s", inputs[j], err);
			goto out;
		}
		rc = -EINVAL;
		if (strcmp(in[j]->meta.tier, in[0]->meta.tier) != 0)
			goto out;
		level = in[j]->meta.level > level ? in[j]->meta.level : level;
		srcs[j] = in[j]->meta.ulid;
		rc = -ENOMEM;
		if (!(keys[j] = malloc(SERIES_KEY_MAX)))
			goto out;
	}
	o.tier = o.tier ? o.tier : in[0]->meta.tier;
	o.level = o.level ? o.level : level + 1;
	o.sources = srcs;
	o.nsources = n;
	rc = block_writer_open(parent, &o, &w);
	if (rc)
		goto out;
	for (;;) {
		size_t best = n, nmc = 0;
		uint64_t id;
		size_t nc;
		for (size_t j = 0; j < n; j++) {
			if (pos[j] >= in[j]->nseries)
				continue;
			rc = block_idx_load(in[j], pos[j], &klen[j], &id, &nc);
			if (rc)
				goto out;
			memcpy(keys[j], in[j]->key, klen[j]);
			if (best == n || block_cmp_bytes(keys[j], klen[j], keys[best], klen[best]) < 0)
				best = j;
		}
		if (best == n)
			break;
		mb.len = 0;
		for (size_t j = 0; j < n; j++) {
			if (pos[j] >= in[j]->nseries ||
			    block_cmp_bytes(keys[j], klen[j], keys[best], klen[best]) != 0)
				continue;
			rc = block_idx_load(in[j], pos[j]++, &klen[j], &id, &nc);
			for (size_t i = 0; i < nc && !rc; i++) {
				struct block_cref *cr = &in[j]->crefs[i];
				rc = block_frame_load(in[j], cr->frame);
				if (rc)
					break;
				if (nmc == mccap) {
					mccap = mccap ? 2 * mccap : 64;
					struct block_mchunk *m2 = realloc(mc, mccap * sizeof(*mc));
					struct block_chunk *c2 = m2 ? realloc(cc, mccap * sizeof(*cc)) : NULL;
					mc = m2 ? m2 : mc;
					cc = c2 ? c2 : cc;
					if (!m2 || !c2) {
						rc = -ENOMEM;
						break;
					}
				}
				mc[nmc++] = (struct block_mchunk){cr->c, mb.len};
				block_buf_put(&mb, in[j]->fbuf + cr->off, cr->c.len);
				rc = mb.err;
			}
			if (rc) {
				if (rc == -EPROTO)
					log_warn("block: compaction input %s damaged: %s", inputs[j], in[j]->err);
				goto out;
			}
		}
		qsort(mc, nmc, sizeof(*mc), block_mchunk_cmp);
		for (size_t i = 0; i < nmc; i++) {
			cc[i] = mc[i].c;
			cc[i].data = mb.p + mc[i].off;
		}
		rc = block_writer_add_series(w, keys[best], klen[best], cc, nmc);
		if (rc)
			goto out;
	}
	rc = block_writer_finish(w, path, cap, st);
	w = NULL;
out:
	block_writer_abort(w);
	for (size_t j = 0; in && j < n; j++)
		block_close(in[j]);
	for (size_t j = 0; keys && j < n; j++)
		free(keys[j]);
	free(in);
	free(pos);
	free(keys);
	free(klen);
	free(srcs);
	free(mb.p);
	free(mc);
	free(cc);
	return rc;
}
