/* chunk: the compressed sample chunk codec of the storage head and blocks
 * (DESIGN.md §4, issue 4 item 1).
 *
 * A chunk holds the (int64 ms timestamp, double value) samples of one series
 * in time order. It is not a series table, not a WAL record and not a block
 * file: it only turns samples into self-describing bytes and back.
 *
 * Two serialized formats, told apart by the first byte:
 *
 *  - CHUNK_FMT_OPEN: the form of the active chunk. chunk_append() writes each
 *    sample at once, Gorilla-style (delta-of-delta timestamps with a fixed
 *    prefix code in which a zero costs 1 bit, XOR-compressed values), so an
 *    open chunk stays compact in memory. The count is a fixed 4-byte field,
 *    rewritten in place on every append.
 *
 *  - CHUNK_FMT_PACKED: the stored form of a closed chunk, made by
 *    chunk_recode()/chunk_encode() once all samples are known. Each stream
 *    (timestamps; values when they are scaled integers) gets its predictor
 *    (grid, delta plus bias, or delta-of-delta), a common multiplier and a
 *    prefix code table chosen for that chunk; values get one of the modes
 *    of enum chunk_vmode, whichever is smallest.
 *
 * Invariants: every double comes back bit for bit (NaN payloads, -0.0, ±Inf,
 * denormals); timestamps never decrease inside a chunk (appenders refuse a
 * step back with -ERANGE, decoders report one as damage); all timestamp
 * arithmetic is modular on uint64, so any int64 may follow any other.
 * Decoders take untrusted bytes: they never read past the given length and
 * report damage as -EPROTO, never crash. There is no checksum here; WAL
 * records and block files carry their own.
 */
#ifndef MCS_CHUNK_H
#define MCS_CHUNK_H

#include <stddef.h>
#include <stdint.h>

/* Largest sample count of one chunk; chunk_append() says -EAGAIN beyond it. */
#define CHUNK_MAX_SAMPLES 65536u
/* Most values a decimal-mode chunk stores raw, as exceptions. */
#define CHUNK_EXC_MAX 16

enum chunk_fmt {
	CHUNK_FMT_OPEN = 1,    /* appendable: dod + XOR, fixed code tables */
	CHUNK_FMT_PACKED = 2,  /* closed: per-chunk modes and code tables */
};

enum chunk_vmode {
	CHUNK_VMODE_XOR = 0,   /* Gorilla XOR against the previous value */
	CHUNK_VMODE_CONST = 1, /* every value has the same 64 bits */
	CHUNK_VMODE_DEC = 2,   /* v = x / 10^scale with integer x (scale 0..6) */
};

enum chunk_pred {
	CHUNK_PRED_GRID = 0,   /* g += bias; x[i] = g + r; |r| >= thr: g = x[i] */
	CHUNK_PRED_DELTA = 1,  /* x[i] = x[i-1] + bias + r */
	CHUNK_PRED_DOD = 2,    /* d = d + r; x[i] = x[i-1] + d; d starts at bias */
};

/* An integer stream's coding parameters and decoder state (internal, public
 * only so that struct chunk_iter can live on the caller's stack). */
struct chunk_istream {
	uint64_t x;            /* last value decoded */
	uint64_t g;            /* grid position (CHUNK_PRED_GRID) */
	uint64_t d;            /* last delta (CHUNK_PRED_DOD) */
	uint64_t bias;         /* predictor constant */
	uint64_t mul;          /* residuals are multiples of mul (>= 1) */
	uint64_t thr;          /* grid: a residual this large moves the grid */
	uint8_t pred;          /* enum chunk_pred */
	uint8_t nw;            /* buckets in the prefix code, 1..4 */
	uint8_t w[4];          /* bucket widths in bits, by prefix rank */
};

/* A chunk being appended to, or the owner of packed bytes. The caller owns
 * the struct; chunk_init()/chunk_encode() fill it, chunk_destroy() frees. */
struct chunk {
	uint8_t *buf;          /* serialized bytes, owned; NULL while empty */
	uint32_t cap;          /* bytes allocated at buf */
	uint32_t n;            /* samples */
	uint64_t bits;         /* bits written at buf, header included */
	int64_t first_ts;      /* ms; valid when n > 0 */
	int64_t last_ts;       /* ms; valid when n > 0 */
	uint64_t last_delta;   /* appender: last timestamp delta (modular) */
	uint64_t last_vbits;   /* appender: last value's bits */
	uint8_t lead;          /* appender: XOR window leading zeros */
	uint8_t sig;           /* appender: XOR window width, 0 = no window */
	uint8_t fmt;           /* enum chunk_fmt */
};

/* Decoder over serialized bytes; fill with chunk_iter_init(). */
struct chunk_iter {
	const uint8_t *buf;    /* borrowed, must outlive the iterator */
	size_t len;            /* bytes at buf */
	uint64_t pos;          /* next bit to read */
	uint32_t n;            /* samples in the chunk */
	uint32_t i;            /* samples returned so far */
	int err;               /* sticky: -EPROTO once damage was seen */
	uint8_t fmt;           /* enum chunk_fmt */
	uint8_t vmode;         /* enum chunk_vmode */
	uint8_t scale;         /* CHUNK_VMODE_DEC: decimal digits */
	uint8_t nexc;          /* CHUNK_VMODE_DEC: raw-stored values */
	uint8_t exc_next;      /* index into exc of the next exception */
	uint8_t val_started;   /* the value stream's first integer is out */
	uint16_t exc[CHUNK_EXC_MAX];  /* sample indexes stored raw, ascending */
	int64_t last_ts;       /* last timestamp returned */
	uint64_t vbits;        /* last value's bits (XOR) or the constant */
	uint8_t lead, sig;     /* XOR window; sig 0 = none yet */
	struct chunk_istream ts, val;
};

/* What a chunk's header says (chunk_info()). */
struct chunk_info {
	uint8_t fmt;           /* enum chunk_fmt */
	uint8_t vmode;         /* enum chunk_vmode */
	uint8_t scale;         /* CHUNK_VMODE_DEC: decimal digits */
	uint8_t nexc;          /* CHUNK_VMODE_DEC: values stored raw */
	uint8_t ts_pred;       /* enum chunk_pred of the timestamps */
	uint8_t val_pred;      /* enum chunk_pred of CHUNK_VMODE_DEC values */
	uint32_t n;            /* samples */
};

/* Allocator behind every buffer of this module, realloc()-like except that
 * size 0 frees p and returns NULL. Tests replace it to make allocations
 * fail; the default wraps realloc()/free(). */
extern void *(*chunk_alloc_hook)(void *p, size_t size);

int chunk_init(struct chunk *c);
void chunk_destroy(struct chunk *c);
int chunk_append(struct chunk *c, int64_t ts, double v);
const uint8_t *chunk_bytes(const struct chunk *c, size_t *len);
int chunk_encode(struct chunk *out, const int64_t *ts, const double *v, uint32_t n);
int chunk_recode(const struct chunk *in, struct chunk *out);

int chunk_iter_init(struct chunk_iter *it, const uint8_t *buf, size_t len);
int chunk_iter_next(struct chunk_iter *it, int64_t *ts, double *v);
int chunk_iter_seek(struct chunk_iter *it, int64_t mint, int64_t *ts, double *v);
int chunk_info(const uint8_t *buf, size_t len, struct chunk_info *info);

#endif
