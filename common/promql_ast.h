/* promql_ast: the PromQL syntax tree that promql_parse builds and the
 * evaluator walks, plus the function table (promql_func).
 *
 * What the tree is, node kind by node kind (every node has kind, type =
 * the value type it evaluates to, and pos/end = byte range in the query):
 *
 *   NUMBER      num.val (already negated for "-1"); num.duration when it was
 *               written as a duration (printed back as one; val in seconds).
 *   STRING      str.val (unquoted, NUL-terminated, owned), str.len.
 *   VECTOR_SEL  vs.name (metric name written outside braces, or NULL),
 *               vs.m[0..nm) matchers, compiled (common/matcher.h), the
 *               metric name included as a __name__ = matcher (last);
 *               vs.mod = offset and @ (see struct promql_mod);
 *               vs.anchored / vs.smoothed (experimental modifiers).
 *   MATRIX_SEL  ms.vs (a VECTOR_SEL child that holds the matchers AND the
 *               offset/@ written after the range, as in Prometheus),
 *               ms.range_ms; ms.range_expr is set when the range was
 *               written as a duration expression ("[1h/2]", "[step()]"):
 *               when promql_duration_is_const(range_expr), range_ms already
 *               holds its value, else evaluate it with
 *               promql_duration_eval once step and range are known.
 *   SUBQUERY    sq.expr (instant vector), sq.range_ms, sq.step_ms (0 = the
 *               evaluation's default step), sq.range_expr / sq.step_expr
 *               (same rule as ms.range_expr), sq.mod.
 *   UNARY       un.op (PROMQL_OP_ADD or PROMQL_OP_SUB), un.expr. A unary
 *               minus on a number literal is folded into the number.
 *   BINARY      bin.op, bin.lhs, bin.rhs, bin.return_bool, bin.vm (vector
 *               matching; bin.vm.valid only when both sides are vectors):
 *               card, on, matching labels, include (group_x) labels, fill.
 *   AGGREGATE   agg.op, agg.expr, agg.param (topk/bottomk/quantile/limitk/
 *               limit_ratio: scalar; count_values: string; else NULL),
 *               agg.grouping labels, agg.without.
 *   CALL        call.fn (table entry), call.args[0..nargs).
 *   PAREN       paren.expr.
 *   DURATION    dur.op, dur.lhs, dur.rhs: a duration expression (only under
 *               range/step/offset expressions): literals are NUMBER nodes;
 *               PROMQL_DOP_STEP/RANGE have no children; MIN/MAX have two;
 *               unary minus/plus has lhs NULL; dur.wrapped = written in ().
 *
 * Positions: pos is exact for every node (errors and the evaluator's
 * messages use it); end is best effort.
 *
 * Ownership: a tree is one allocation per node, freed by promql_free.
 * Nodes never share children. A tree is read-only after parsing and may be
 * walked by several threads at once, except that each selector's matchers
 * own PCRE2 match data, so matching is not thread-safe per selector.
 */
#ifndef MCS_PROMQL_AST_H
#define MCS_PROMQL_AST_H

#include <stddef.h>
#include <stdint.h>

#include "common/matcher.h"

enum promql_type {
	PROMQL_TYPE_NONE = 0,
	PROMQL_TYPE_SCALAR,
	PROMQL_TYPE_VECTOR,  /* instant vector */
	PROMQL_TYPE_MATRIX,  /* range vector */
	PROMQL_TYPE_STRING,
};

enum promql_kind {
	PROMQL_NUMBER = 1,
	PROMQL_STRING,
	PROMQL_VECTOR_SEL,
	PROMQL_MATRIX_SEL,
	PROMQL_SUBQUERY,
	PROMQL_UNARY,
	PROMQL_BINARY,
	PROMQL_AGGREGATE,
	PROMQL_CALL,
	PROMQL_PAREN,
	PROMQL_DURATION,
};

/* Binary operators, lowest precedence group first. */
enum promql_op {
	PROMQL_OP_OR = 1,
	PROMQL_OP_AND,
	PROMQL_OP_UNLESS,
	PROMQL_OP_EQLC,   /* == */
	PROMQL_OP_NEQ,    /* != */
	PROMQL_OP_LTE,
	PROMQL_OP_LSS,
	PROMQL_OP_GTE,
	PROMQL_OP_GTR,
	PROMQL_OP_ADD,
	PROMQL_OP_SUB,
	PROMQL_OP_MUL,
	PROMQL_OP_DIV,
	PROMQL_OP_MOD,
	PROMQL_OP_ATAN2,
	PROMQL_OP_POW,
};

enum promql_agg {
	PROMQL_AGG_SUM = 1,
	PROMQL_AGG_AVG,
	PROMQL_AGG_COUNT,
	PROMQL_AGG_MIN,
	PROMQL_AGG_MAX,
	PROMQL_AGG_GROUP,
	PROMQL_AGG_STDDEV,
	PROMQL_AGG_STDVAR,
	PROMQL_AGG_TOPK,
	PROMQL_AGG_BOTTOMK,
	PROMQL_AGG_QUANTILE,
	PROMQL_AGG_COUNT_VALUES,
	PROMQL_AGG_LIMITK,
	PROMQL_AGG_LIMIT_RATIO,
};

enum promql_card {
	PROMQL_CARD_ONE_TO_ONE = 0,
	PROMQL_CARD_MANY_TO_ONE,   /* group_left */
	PROMQL_CARD_ONE_TO_MANY,   /* group_right */
	PROMQL_CARD_MANY_TO_MANY,  /* and, or, unless */
};

enum promql_at {
	PROMQL_AT_NONE = 0,
	PROMQL_AT_TIMESTAMP,  /* mod.at_ms */
	PROMQL_AT_START,
	PROMQL_AT_END,
};

/* Duration-expression operators (dur.op). Arithmetic reuses enum promql_op
 * values (ADD SUB MUL DIV MOD POW); these are the others. */
enum promql_dop {
	PROMQL_DOP_STEP = 100,
	PROMQL_DOP_RANGE,
	PROMQL_DOP_MIN,
	PROMQL_DOP_MAX,
};

/* Function flags (promql_func.flags). */
#define PROMQL_FN_EXPERIMENTAL 0x1  /* behind a feature flag in Prometheus */
#define PROMQL_FN_HISTOGRAM    0x2  /* native-histogram only */

#define PROMQL_FN_MAX_ARGS 5

struct promql_func {
	const char *name;
	uint8_t arg_types[PROMQL_FN_MAX_ARGS]; /* enum promql_type */
	uint8_t nargs;        /* entries in arg_types */
	int8_t variadic;      /* 0 fixed; n > 0: last arg optional/up to n more;
			       * -1: last arg repeats without limit */
	uint8_t ret;          /* enum promql_type */
	uint8_t flags;        /* PROMQL_FN_* */
};

struct promql_labels {
	char **names;   /* owned strings */
	size_t n;
};

/* Offset and @ of a selector or subquery. */
struct promql_mod {
	int64_t offset_ms;               /* positive looks back; 0 with no offset */
	struct promql_node *offset_expr; /* written as a duration expression, or NULL
					  * (offset_ms holds it when constant) */
	uint8_t has_offset;
	uint8_t at;                      /* enum promql_at */
	int64_t at_ms;                   /* PROMQL_AT_TIMESTAMP: Unix ms */
};

struct promql_vm {
	uint8_t valid;   /* 1 when both operands are instant vectors */
	uint8_t card;    /* enum promql_card */
	uint8_t on;      /* on(...) rather than ignoring(...) */
	uint8_t has_fill_lhs, has_fill_rhs;
	struct promql_labels matching;
	struct promql_labels include;
	double fill_lhs, fill_rhs;   /* fill(), fill_left(), fill_right() values */
};

struct promql_node {
	uint8_t kind;   /* enum promql_kind */
	uint8_t type;   /* enum promql_type */
	uint32_t pos;   /* first byte in the query */
	uint32_t end;   /* one past the last byte */
	union {
		struct { double val; int duration; } num;
		struct { char *val; size_t len; } str;
		struct {
			char *name;
			struct matcher *m;
			size_t nm;
			struct promql_mod mod;
			uint8_t anchored, smoothed;
		} vs;
		struct {
			struct promql_node *vs;
			int64_t range_ms;
			struct promql_node *range_expr;
		} ms;
		struct {
			struct promql_node *expr;
			int64_t range_ms, step_ms;
			struct promql_node *range_expr, *step_expr;
			struct promql_mod mod;
		} sq;
		struct { int op; struct promql_node *expr; } un;
		struct {
			int op;
			struct promql_node *lhs, *rhs;
			int return_bool;
			struct promql_vm vm;
		} bin;
		struct {
			int op;
			struct promql_node *expr, *param;
			struct promql_labels grouping;
			int without;
		} agg;
		struct {
			const struct promql_func *fn;
			struct promql_node **args;
			size_t nargs;
		} call;
		struct { struct promql_node *expr; } paren;
		struct {
			int op;
			struct promql_node *lhs, *rhs;
			int wrapped;
		} dur;
	};
};

/* Allocates a zeroed node of the given kind. Returns it (caller owns) or
 * NULL when out of memory. */
struct promql_node *promql_node_new(int kind, uint32_t pos);

/* Frees a tree and everything it owns; accepts NULL. */
void promql_free(struct promql_node *n);

/* Calls fn(node, depth, arg) for n and then, in source order, for each child
 * (pre-order). A non-zero return stops the walk and is returned. */
int promql_walk(struct promql_node *n, int (*fn)(struct promql_node *, int, void *), void *arg);

/* The function named name[0..len), or NULL. Case-sensitive. */
const struct promql_func *promql_func_lookup(const char *name, size_t len);

/* The whole function table; *n gets its length. */
const struct promql_func *promql_func_table(size_t *n);

/* Lowercase spellings of operators and aggregations, and value types as
 * Prometheus documents them ("instant vector", "range vector", ...). */
const char *promql_op_name(int op);
const char *promql_agg_name(int op);
const char *promql_type_name(int type);

/* 1 for == != <= < >= >, 1 for and/or/unless (set), 1 for topk ... with a
 * parameter. */
int promql_op_is_comparison(int op);
int promql_op_is_set(int op);
int promql_agg_has_param(int op);

/* Evaluates a duration expression (or NUMBER) to seconds, with step() and
 * range() given in ms. Returns 0, or -EDOM when it divides by zero or the
 * result is not finite. */
int promql_duration_eval(const struct promql_node *n, int64_t step_ms, int64_t range_ms,
			 double *seconds);

/* 1 when a duration expression has no step()/range() (constant). */
int promql_duration_is_const(const struct promql_node *n);

#endif
