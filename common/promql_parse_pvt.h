/* promql_parse_pvt: parser state and token helpers shared by the two
 * halves of the parser, promql_parse.c (expressions, operators, calls,
 * aggregations) and promql_sel.c (selectors, label lists, duration
 * expressions, postfix modifiers). Not a public interface.
 *
 * Error discipline: the first error wins. Every helper that fails records
 * it in the parser (p->failed = -EINVAL or -ENOMEM, p->err filled) and
 * later errors are ignored, so callers can bail out without re-checking
 * which call failed.
 */
#ifndef MCS_PROMQL_PARSE_PVT_H
#define MCS_PROMQL_PARSE_PVT_H

#include <stddef.h>
#include <stdint.h>

#include "common/promql_ast.h"
#include "common/promql_lex.h"
#include "common/promql_parse.h"

#define PROMQL_PARSE_MAX_DEPTH 500

struct promql_parser {
	struct promql_lex lx;
	struct promql_token cur;   /* the first token not consumed yet */
	struct promql_error *err;  /* caller's, may be NULL */
	int failed;       /* -EINVAL or -ENOMEM once an error is set */
	int depth;        /* expression nesting, bounded by PROMQL_PARSE_MAX_DEPTH */
	int allow_empty;  /* info()'s second argument may match everything */
};

/* Records the first error at byte pos as "line:col: parse error: ...". */
void promql_parse_errf(struct promql_parser *p, uint32_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records an out-of-memory failure (-ENOMEM). */
void promql_parse_nomem(struct promql_parser *p);

/* Consumes p->cur and reads the next token (a lexical error is recorded). */
void promql_parse_advance(struct promql_parser *p);

/* The token after p->cur, without consuming anything. */
struct promql_token promql_parse_peek(struct promql_parser *p);

/* Records "unexpected <p->cur> [in ctx][, expected x]". */
void promql_parse_unexpected(struct promql_parser *p, const char *ctx, const char *expected);

/* Consumes a token of the given type. Returns 0, or -EINVAL after
 * recording "unexpected ..." (or the earlier error). */
int promql_parse_expect(struct promql_parser *p, enum promql_tok type, const char *ctx,
			const char *expected);

/* 1 when p->cur is the identifier kw (any case). */
int promql_parse_kw(struct promql_parser *p, const char *kw);

/* A new node (caller owns) or NULL with -ENOMEM recorded. */
struct promql_node *promql_parse_new(struct promql_parser *p, int kind, uint32_t pos);

/* A malloc'd copy of s[0..len) (caller owns) or NULL with -ENOMEM recorded. */
char *promql_parse_strdup(struct promql_parser *p, const char *s, size_t len);

/* The unquoted value of the STRING token p->cur in a malloc'd buffer the
 * caller owns (*len its length), or NULL with the error recorded. */
char *promql_parse_string(struct promql_parser *p, size_t *len);

#endif
