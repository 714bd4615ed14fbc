/* promql_lex: the PromQL tokenizer, one token at a time, on demand.
 *
 * It is not a parser: keywords (sum, by, offset, bool, ...) come back as
 * PROMQL_T_IDENT and the parser decides by position, because most keywords
 * are also valid metric or label names. Exceptions the lexer does decide:
 * "inf" and "nan" (any case) are numbers, as in Prometheus' lexer.
 *
 * Invariants: token positions are 0-based byte offsets into the input;
 * the input need not be NUL-terminated; nothing is allocated except by
 * promql_lex_unquote.
 */
#ifndef MCS_PROMQL_LEX_H
#define MCS_PROMQL_LEX_H

#include <stddef.h>
#include <stdint.h>

enum promql_tok {
	PROMQL_T_EOF = 0,
	PROMQL_T_ERROR,     /* lexical error; promql_lex.err says what */
	PROMQL_T_IDENT,     /* [a-zA-Z_][a-zA-Z0-9_]*, keywords included */
	PROMQL_T_METRIC,    /* an identifier containing ':' */
	PROMQL_T_NUMBER,    /* decimal, hex, octal, exponent, Inf, NaN */
	PROMQL_T_DURATION,  /* 1h30m, 5m, 100ms ... */
	PROMQL_T_STRING,    /* "...", '...' or `...` (still quoted) */
	PROMQL_T_LPAREN,
	PROMQL_T_RPAREN,
	PROMQL_T_LBRACE,
	PROMQL_T_RBRACE,
	PROMQL_T_LBRACKET,
	PROMQL_T_RBRACKET,
	PROMQL_T_COMMA,
	PROMQL_T_COLON,
	PROMQL_T_AT,
	PROMQL_T_ADD,
	PROMQL_T_SUB,
	PROMQL_T_MUL,
	PROMQL_T_DIV,
	PROMQL_T_MOD,
	PROMQL_T_POW,
	PROMQL_T_ASSIGN,    /* =  (label matcher) */
	PROMQL_T_EQLC,      /* == */
	PROMQL_T_NEQ,       /* != */
	PROMQL_T_EQL_REGEX, /* =~ */
	PROMQL_T_NEQ_REGEX, /* !~ */
	PROMQL_T_LSS,
	PROMQL_T_LTE,
	PROMQL_T_GTR,
	PROMQL_T_GTE,
};

struct promql_token {
	enum promql_tok type;
	uint32_t pos;   /* byte offset of the first byte */
	uint32_t len;   /* bytes in the input */
	double num;     /* PROMQL_T_NUMBER: value; PROMQL_T_DURATION: seconds */
	int64_t ms;     /* PROMQL_T_DURATION: milliseconds */
};

struct promql_lex {
	const char *s;   /* input, borrowed */
	size_t len;
	size_t pos;      /* next byte to read */
	char err[160];   /* message for the last PROMQL_T_ERROR */
	uint32_t err_pos;
	uint32_t parens;   /* open "(" not yet closed */
	uint8_t bracket;   /* inside [...] */
	uint8_t brace;     /* inside {...} */
};

/* Points the lexer at s[0..len) (borrowed; must outlive the lexer). */
void promql_lex_init(struct promql_lex *lx, const char *s, size_t len);

/* Reads the next token into *t, skipping spaces and # comments. Returns
 * t->type; on PROMQL_T_ERROR lx->err and lx->err_pos describe the fault.
 * Like Prometheus' lexer it balances brackets: a ")" or "]" with nothing
 * open, and end of input inside (, [ or {, are lexical errors. */
enum promql_tok promql_lex_next(struct promql_lex *lx, struct promql_token *t);

/* Short human name of a token type ("identifier", "\"(\"", ...). */
const char *promql_lex_name(enum promql_tok type);

/* Unquotes a string token's text s[0..len) (quotes included) with Go's
 * escapes (\a \b \f \n \r \t \v \\ \" \' \xHH \OOO \uHHHH \UHHHHHHHH;
 * none in `raw` strings). On success *out is a malloc'd NUL-terminated
 * copy the caller owns and *outlen its length; returns 0, -EINVAL with a
 * message in err (at byte *bad of s) or -ENOMEM. *out is NULL on failure. */
int promql_lex_unquote(const char *s, size_t len, char **out, size_t *outlen,
		       char *err, size_t errlen, size_t *bad);

/* Parses a Prometheus duration ("1h30m", "5m", "0", "100ms"; units y w d h m
 * s ms, in that order, each once). Returns 0 and *ms, or -EINVAL (also on
 * overflow). */
int promql_lex_duration(const char *s, size_t len, int64_t *ms);

/* 1 when s[0..len) is a legacy label name ([a-zA-Z_][a-zA-Z0-9_]*). */
int promql_lex_is_label(const char *s, size_t len);

/* 1 when the token's text equals the lowercase keyword kw, ignoring case. */
int promql_lex_is_kw(const struct promql_lex *lx, const struct promql_token *t, const char *kw);

#endif
