/* chunk_pvt: bit I/O internals of aggregator/chunk (not for other modules).
 *
 * Bits are MSB first. A writer ORs 8 bytes at a time into a zeroed buffer
 * that has 8 spare bytes past its last bit, so a put never checks capacity:
 * the caller reserves the exact or worst-case size first. A writer with a
 * NULL buffer only counts bits (cost dry runs). A reader checks every read
 * against the length it was given and fails with -EPROTO past it.
 * A vint is a 7-bit bit length L, then the L-1 bits below the leading 1.
 */
#ifndef MCS_CHUNK_PVT_H
#define MCS_CHUNK_PVT_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "aggregator/chunk.h"

static inline uint64_t chunk_zz(uint64_t u)
{
	return (u << 1) ^ (0 - (u >> 63));
}

static inline uint64_t chunk_unzz(uint64_t z)
{
	return (z >> 1) ^ (0 - (z & 1));
}

static inline unsigned chunk_bitlen(uint64_t u)
{
	return u ? 64 - (unsigned)__builtin_clzll(u) : 0;
}

static inline uint64_t chunk_load_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void chunk_store_be64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, 8);
}

/* Bit writer; buf NULL counts bits only (cost dry runs). */
struct chunk_bw {
	uint8_t *buf;
	uint64_t bits;
};

static inline void chunk_put(struct chunk_bw *w, uint64_t v, unsigned n)
{
	if (n == 0)
		return;
	if (!w->buf) {
		w->bits += n;
		return;
	}
	if (n > 56) {
		chunk_put(w, v >> 32, n - 32);
		v &= 0xffffffffu;
		n = 32;
	}
	v &= (UINT64_C(1) << n) - 1;
	uint8_t *p = w->buf + (w->bits >> 3);
	unsigned off = (unsigned)(w->bits & 7);
	chunk_store_be64(p, chunk_load_be64(p) | (v << (64 - n - off)));
	w->bits += n;
}

static inline unsigned chunk_vint_cost(uint64_t v)
{
	unsigned l = chunk_bitlen(v);
	return 7 + (l > 1 ? l - 1 : 0);
}

static inline void chunk_put_vint(struct chunk_bw *w, uint64_t v)
{
	unsigned l = chunk_bitlen(v);
	chunk_put(w, l, 7);
	if (l > 1)
		chunk_put(w, v, l - 1);
}

/* Reads n (0..64) bits. Returns 0, or -EPROTO when they pass the end. */
static inline int chunk_get(struct chunk_iter *it, unsigned n, uint64_t *out)
{
	if (n > 56) {
		uint64_t hi, lo;
		if (chunk_get(it, n - 32, &hi) || chunk_get(it, 32, &lo))
			return -EPROTO;
		*out = hi << 32 | lo;
		return 0;
	}
	if (n > (uint64_t)it->len * 8 - it->pos)
		return -EPROTO;
	if (n == 0) {
		*out = 0;
		return 0;
	}
	size_t byte = (size_t)(it->pos >> 3);
	unsigned off = (unsigned)(it->pos & 7);
	uint64_t w;
	if (byte + 8 <= it->len) {
		w = chunk_load_be64(it->buf + byte);
	} else {
		w = 0;
		for (size_t i = 0; i < 8; i++)
			w = w << 8 | (byte + i < it->len ? it->buf[byte + i] : 0);
	}
	*out = (w << off) >> (64 - n);
	it->pos += n;
	return 0;
}

static inline int chunk_get_vint(struct chunk_iter *it, uint64_t *out)
{
	uint64_t l, rest;
	if (chunk_get(it, 7, &l) || l > 64)
		return -EPROTO;
	if (l == 0) {
		*out = 0;
		return 0;
	}
	if (chunk_get(it, (unsigned)l - 1, &rest))
		return -EPROTO;
	*out = UINT64_C(1) << (l - 1) | rest;
	return 0;
}

#endif
