/* test_textparse: unit tests of the text 0.0.4 / OpenMetrics parser.
 *
 * Valid bodies check what the callbacks receive; malformed ones check the
 * reason and the 1-based line and column of the error. The truncation and
 * mutation tests copy every input into an exactly sized heap buffer so that
 * a read past the end shows up under ASan (make SAN=1).
 *
 * Not here: the upstream conformance cases (tests/tools/conformance_textparse).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/textparse.h"

#define TP_MAX 64

/* What the callbacks saw: a copy of the first TP_MAX samples and metas. */
struct tp_got {
	size_t n, nmeta;
	struct {
		char name[128];
		char labels[512]; /* name=value;... with values verbatim */
		size_t nlabels;
		double value;
		int has_ts;
		int64_t ts;
		enum textparse_type type;
		uint32_t line;
	} s[TP_MAX];
	struct {
		char kind;
		char family[128];
		char text[256];
		enum textparse_type type;
	} m[TP_MAX];
	int stop_at; /* return -ECANCELED at this sample (1-based), 0 never */
};

static int tp_sample(void *ctx, const struct textparse_sample *s)
{
	struct tp_got *g = ctx;
	if (g->n < TP_MAX) {
		size_t i = g->n, off = 0;
		snprintf(g->s[i].name, sizeof(g->s[i].name), "%.*s", (int)s->name_len, s->name);
		g->s[i].labels[0] = '\0';
		for (size_t k = 0; k < s->nlabels; k++) {
			int w = snprintf(g->s[i].labels + off, sizeof(g->s[i].labels) - off,
					 "%.*s=%.*s;", (int)s->labels[k].name_len, s->labels[k].name,
					 (int)s->labels[k].value_len, s->labels[k].value);
			if (w > 0 && off + (size_t)w < sizeof(g->s[i].labels))
				off += (size_t)w;
		}
		g->s[i].nlabels = s->nlabels;
		g->s[i].value = s->value;
		g->s[i].has_ts = s->has_timestamp;
		g->s[i].ts = s->timestamp_ms;
		g->s[i].type = s->type;
		g->s[i].line = s->line;
	}
	g->n++;
	if (g->stop_at && g->n == (size_t)g->stop_at)
		return -ECANCELED;
	return 0;
}

static int tp_meta(void *ctx, const struct textparse_meta *m)
{
	struct tp_got *g = ctx;
	if (g->nmeta < TP_MAX) {
		size_t i = g->nmeta;
		g->m[i].kind = m->kind;
		g->m[i].type = m->type;
		snprintf(g->m[i].family, sizeof(g->m[i].family), "%.*s", (int)m->family_len,
			 m->family);
		snprintf(g->m[i].text, sizeof(g->m[i].text), "%.*s", (int)m->text_len, m->text);
	}
	g->nmeta++;
	return 0;
}

static struct tp_got tp_g;
static struct textparse_error tp_err;

/* Parses a NUL-terminated body from an exactly sized heap copy. */
static int tp_parse_len(const char *body, size_t len, enum textparse_format fmt)
{
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, body, len);
	memset(&tp_g, 0, sizeof(tp_g));
	int rc = textparse_parse(copy, len, fmt, tp_sample, tp_meta, &tp_g, &tp_err);
	free(copy);
	return rc;
}

static int tp_parse(const char *body, enum textparse_format fmt)
{
	return tp_parse_len(body, strlen(body), fmt);
}

/* Asserts a parse error at line:col whose message contains `what`. */
static void tp_expect_error(const char *body, enum textparse_format fmt, uint32_t line,
			    uint32_t col, const char *what)
{
	int rc = tp_parse(body, fmt);
	if (rc != -EINVAL || tp_err.line != line || tp_err.column != col ||
	    !strstr(tp_err.msg, what))
		print_error("body %s\n  got rc=%d at %u:%u \"%s\"\n  want -EINVAL at %u:%u \"%s\"\n",
			    body, rc, tp_err.line, tp_err.column, tp_err.msg, line, col, what);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(tp_err.line, line);
	assert_int_equal(tp_err.column, col);
	assert_non_null(strstr(tp_err.msg, what));
}

static uint64_t tp_bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b;
}

/* ---- valid text 0.0.4 ---------------------------------------------------- */

static void test_prom_sample_with_labels_and_ms_timestamp_is_delivered(void **state)
{
	assert_int_equal(tp_parse("metric{a=\"b\"} 1 1700000000000\n", TEXTPARSE_PROM), 0);
	assert_int_equal(tp_g.n, 1);
	assert_string_equal(tp_g.s[0].name, "metric");
	assert_string_equal(tp_g.s[0].labels, "a=b;");
	assert_true(tp_g.s[0].value == 1.0);
	assert_true(tp_g.s[0].has_ts);
	assert_true(tp_g.s[0].ts == 1700000000000LL);
	assert_int_equal(tp_g.s[0].line, 1);
	assert_int_equal(tp_g.s[0].type, TEXTPARSE_UNTYPED);
}

static void test_prom_label_escapes_are_resolved_and_unknown_ones_kept(void **state)
{
	assert_int_equal(tp_parse("m{a=\"x\\\\y\\\"z\\nw\",b=\"\\q\",c=\"plain\"} 2\n",
				  TEXTPARSE_PROM),
			 0);
	assert_int_equal(tp_g.n, 1);
	assert_string_equal(tp_g.s[0].labels, "a=x\\y\"z\nw;b=\\q;c=plain;");
}

static void test_prom_nan_and_infinities_parse(void **state)
{
	assert_int_equal(tp_parse("a NaN\nb +Inf\nc -Inf\nd Inf\ne -0\n", TEXTPARSE_PROM), 0);
	assert_int_equal(tp_g.n, 5);
	assert_true(isnan(tp_g.s[0].value));
	/* Prometheus' normal NaN, never the stale marker 0x7ff0000000000002. */
	assert_true(tp_bits(tp_g.s[0].value) == 0x7ff8000000000001ULL);
	assert_true(isinf(tp_g.s[1].value) && tp_g.s[1].value > 0);
	assert_true(isinf(tp_g.s[2].value) && tp_g.s[2].value < 0);
	assert_true(isinf(tp_g.s[3].value) && tp_g.s[3].value > 0);
	assert_true(tp_bits(tp_g.s[4].value) == 0x8000000000000000ULL);
}

static void test_prom_help_and_type_reach_meta_callback_and_type_the_family(void **state)
{
	const char *body = "# HELP req_total Requests\\nserved, a \\\\ b.\n"
			   "# TYPE req_total counter\n"
			   "req_total{code=\"200\"} 10\n"
			   "# TYPE lat histogram\n"
			   "lat_bucket{le=\"0.1\"} 1\n"
			   "lat_bucket{le=\"+Inf\"} 2\n"
			   "lat_sum 0.3\n"
			   "lat_count 2\n"
			   "# TYPE rpc summary\n"
			   "rpc{quantile=\"0.5\"} 0.01\n"
			   "rpc_sum 1\n"
			   "rpc_count 3\n"
			   "other 5\n"
			   "# just a comment\n"
			   "#HELP not meta either\n";
	assert_int_equal(tp_parse(body, TEXTPARSE_PROM), 0);
	assert_int_equal(tp_g.nmeta, 4);
	assert_int_equal(tp_g.m[0].kind, 'H');
	assert_string_equal(tp_g.m[0].family, "req_total");
	assert_string_equal(tp_g.m[0].text, "Requests\nserved, a \\ b.");
	assert_int_equal(tp_g.m[1].kind, 'T');
	assert_int_equal(tp_g.m[1].type, TEXTPARSE_COUNTER);
	assert_int_equal(tp_g.n, 9);
	assert_int_equal(tp_g.s[0].type, TEXTPARSE_COUNTER);
	assert_int_equal(tp_g.s[1].type, TEXTPARSE_HISTOGRAM);
	assert_string_equal(tp_g.s[1].labels, "le=0.1;");
	assert_int_equal(tp_g.s[4].type, TEXTPARSE_HISTOGRAM);
	assert_int_equal(tp_g.s[5].type, TEXTPARSE_SUMMARY);
	assert_string_equal(tp_g.s[5].labels, "quantile=0.5;");
	assert_int_equal(tp_g.s[7].type, TEXTPARSE_SUMMARY);
	assert_int_equal(tp_g.s[8].type, TEXTPARSE_UNTYPED);
	assert_int_equal(tp_g.s[8].line, 13);
}

static void test_prom_empty_body_is_valid(void **state)
{
	assert_int_equal(tp_parse("", TEXTPARSE_PROM), 0);
	assert_int_equal(tp_g.n, 0);
	assert_int_equal(textparse_parse(NULL, 0, TEXTPARSE_PROM, tp_sample, NULL, &tp_g, NULL),
			 0);
}

static void test_prom_blanks_blank_lines_and_trailing_comma_are_tolerated(void **state)
{
	assert_int_equal(tp_parse("\n  \n\tm { a = \"1\" , b=\"2\", } \t 3 \t 42 \n\n",
				  TEXTPARSE_PROM),
			 0);
	assert_int_equal(tp_g.n, 1);
	assert_string_equal(tp_g.s[0].labels, "a=1;b=2;");
	assert_true(tp_g.s[0].value == 3.0);
	assert_true(tp_g.s[0].ts == 42);
	/* No blank is needed between '}' and the value (as promlex). */
	assert_int_equal(tp_parse("m{a=\"1\"}3\n", TEXTPARSE_PROM), 0);
	assert_true(tp_g.s[0].value == 3.0);
}

static void test_prom_crlf_line_endings_are_accepted(void **state)
{
	assert_int_equal(tp_parse("# TYPE a gauge\r\na{x=\"y\"} 1\r\nb 2 5\r\n", TEXTPARSE_PROM),
			 0);
	assert_int_equal(tp_g.n, 2);
	assert_true(tp_g.s[1].value == 2.0 && tp_g.s[1].ts == 5);
	assert_int_equal(tp_g.s[0].type, TEXTPARSE_GAUGE);
}

static void test_prom_missing_final_newline_is_accepted(void **state)
{
	assert_int_equal(tp_parse("a 1\nb{c=\"d\"} 2.5", TEXTPARSE_PROM), 0);
	assert_int_equal(tp_g.n, 2);
	assert_true(tp_g.s[1].value == 2.5);
}

static void test_prom_nul_byte_inside_label_value_is_kept(void **state)
{
	static const char body[] = "a{b=\"x\0y\"} 1\n";
	assert_int_equal(tp_parse_len(body, sizeof(body) - 1, TEXTPARSE_PROM), 0);
	assert_int_equal(tp_g.n, 1);
}

static void test_prom_label_value_with_utf8_is_accepted(void **state)
{
	assert_int_equal(tp_parse("a{b=\"caf\xc3\xa9 \xe2\x98\x83\"} 1\n", TEXTPARSE_PROM), 0);
	assert_string_equal(tp_g.s[0].labels, "b=caf\xc3\xa9 \xe2\x98\x83;");
}

static void test_prom_negative_and_fractional_values_parse_exactly(void **state)
{
	assert_int_equal(tp_parse("a -12.5\nb 1.7e+09\nc 0.013300656000000001\nd 1e-400\n",
				  TEXTPARSE_PROM),
			 0);
	assert_true(tp_g.s[0].value == -12.5);
	assert_true(tp_g.s[1].value == 1.7e9);
	assert_true(tp_g.s[2].value == strtod("0.013300656000000001", NULL));
	assert_true(tp_g.s[3].value == 0.0); /* underflow rounds to zero, as Go */
}

static void test_prom_callback_error_stops_the_parse(void **state)
{
	memset(&tp_g, 0, sizeof(tp_g));
	tp_g.stop_at = 2;
	const char *b = "a 1\nb 2\nc 3\n";
	assert_int_equal(textparse_parse(b, strlen(b), TEXTPARSE_PROM, tp_sample, NULL, &tp_g,
					 &tp_err),
			 -ECANCELED);
	assert_int_equal(tp_g.n, 2);
}

/* ---- malformed text 0.0.4 ------------------------------------------------ */

static void test_prom_truncated_label_value_reports_unterminated(void **state)
{
	tp_expect_error("a 1\nm{a=\"b", TEXTPARSE_PROM, 2, 5, "unterminated label value");
	tp_expect_error("m{a=\"b\n", TEXTPARSE_PROM, 1, 5, "unterminated label value");
}

static void test_prom_truncated_label_set_reports_position(void **state)
{
	tp_expect_error("m{a=\"b\"", TEXTPARSE_PROM, 1, 8, "expected ',' or '}'");
	tp_expect_error("m{a", TEXTPARSE_PROM, 1, 4, "expected '='");
	tp_expect_error("m{", TEXTPARSE_PROM, 1, 3, "unterminated label set");
	tp_expect_error("m{a=", TEXTPARSE_PROM, 1, 5, "expected label value");
}

static void test_prom_backslash_at_end_of_line_is_invalid_escape(void **state)
{
	tp_expect_error("ok 1\nm{a=\"b\\\n", TEXTPARSE_PROM, 2, 7, "invalid escape");
	tp_expect_error("m{a=\"b\\", TEXTPARSE_PROM, 1, 7, "invalid escape");
}

static void test_prom_invalid_metric_names_are_rejected(void **state)
{
	tp_expect_error("1abc 1\n", TEXTPARSE_PROM, 1, 1, "invalid metric name");
	tp_expect_error("a-b 1\n", TEXTPARSE_PROM, 1, 2, "invalid metric name");
	tp_expect_error("x 1\n\n  a.b 1\n", TEXTPARSE_PROM, 3, 4, "invalid metric name");
	tp_expect_error("# TYPE 1a counter\n", TEXTPARSE_PROM, 1, 8, "invalid metric name");
}

static void test_prom_invalid_label_names_are_rejected(void **state)
{
	tp_expect_error("m{1a=\"x\"} 1\n", TEXTPARSE_PROM, 1, 3, "invalid label name");
	tp_expect_error("m{a-b=\"x\"} 1\n", TEXTPARSE_PROM, 1, 4, "invalid label name");
	tp_expect_error("m{a:b=\"x\"} 1\n", TEXTPARSE_PROM, 1, 4, "invalid label name");
	tp_expect_error("m{a=\"x\",,b=\"y\"} 1\n", TEXTPARSE_PROM, 1, 9, "invalid label name");
}

static void test_prom_missing_value_is_rejected(void **state)
{
	tp_expect_error("m{a=\"b\"}\n", TEXTPARSE_PROM, 1, 9, "expected value");
	tp_expect_error("m\n", TEXTPARSE_PROM, 1, 2, "expected value");
	tp_expect_error("m   \n", TEXTPARSE_PROM, 1, 5, "expected value");
}

static void test_prom_garbage_after_value_is_rejected(void **state)
{
	tp_expect_error("m 1x\n", TEXTPARSE_PROM, 1, 3, "invalid value");
	tp_expect_error("m 1 2 3\n", TEXTPARSE_PROM, 1, 7, "unexpected text after timestamp");
	tp_expect_error("m 1 # comment\n", TEXTPARSE_PROM, 1, 5, "invalid timestamp");
	tp_expect_error("m 1 12a\n", TEXTPARSE_PROM, 1, 5, "invalid timestamp");
}

static void test_prom_timestamps_must_be_unsigned_int64_ms(void **state)
{
	tp_expect_error("m 1 -5\n", TEXTPARSE_PROM, 1, 5, "invalid timestamp");
	tp_expect_error("m 1 1.5\n", TEXTPARSE_PROM, 1, 5, "invalid timestamp");
	tp_expect_error("m 1 9223372036854775808\n", TEXTPARSE_PROM, 1, 5, "invalid timestamp");
	assert_int_equal(tp_parse("m 1 9223372036854775807\n", TEXTPARSE_PROM), 0);
	assert_true(tp_g.s[0].ts == INT64_MAX);
}

/* Go's ParseFloat returns +-Inf with ErrRange for these and Prometheus
 * rejects the line; we do the same rather than store a fake infinity. */
static void test_prom_out_of_range_values_are_rejected(void **state)
{
	tp_expect_error("m 1e400\n", TEXTPARSE_PROM, 1, 3, "invalid value");
	tp_expect_error("m{a=\"b\"} -1e400\n", TEXTPARSE_PROM, 1, 10, "invalid value");
	tp_expect_error("m 0x1p3\n", TEXTPARSE_PROM, 1, 3, "invalid value");
	tp_expect_error("m 1_000\n", TEXTPARSE_PROM, 1, 3, "invalid value");
}

static void test_prom_duplicate_label_names_are_rejected(void **state)
{
	tp_expect_error("m{a=\"1\",b=\"2\",a=\"3\"} 1\n", TEXTPARSE_PROM, 1, 15,
			"duplicate label name");
}

static void test_prom_too_many_labels_are_rejected(void **state)
{
	char body[8192];
	size_t off = 0;
	off += (size_t)snprintf(body + off, sizeof(body) - off, "m{");
	for (int i = 0; i <= TEXTPARSE_MAX_LABELS; i++)
		off += (size_t)snprintf(body + off, sizeof(body) - off, "l%d=\"v\",", i);
	snprintf(body + off, sizeof(body) - off, "} 1\n");
	assert_int_equal(tp_parse(body, TEXTPARSE_PROM), -EINVAL);
	assert_non_null(strstr(tp_err.msg, "too many labels"));
}

static void test_prom_invalid_utf8_label_value_is_rejected(void **state)
{
	tp_expect_error("m{a=\"\xff\"} 1\n", TEXTPARSE_PROM, 1, 6, "invalid UTF-8");
	tp_expect_error("m{a=\"\xc0\xaf\"} 1\n", TEXTPARSE_PROM, 1, 6, "invalid UTF-8"); /* overlong */
	tp_expect_error("m{a=\"\xed\xa0\x80\"} 1\n", TEXTPARSE_PROM, 1, 6, "invalid UTF-8"); /* surrogate */
	tp_expect_error("m{a=\"\xe2\x98\"} 1\n", TEXTPARSE_PROM, 1, 6, "invalid UTF-8"); /* truncated */
}

static void test_prom_nul_byte_at_line_start_is_rejected(void **state)
{
	static const char body[] = "a 1\n\0b 2\n";
	assert_int_equal(tp_parse_len(body, sizeof(body) - 1, TEXTPARSE_PROM), -EINVAL);
	assert_int_equal(tp_err.line, 2);
	assert_int_equal(tp_err.column, 1);
	assert_non_null(strstr(tp_err.msg, "NUL"));
}

static void test_prom_invalid_type_is_rejected(void **state)
{
	tp_expect_error("# TYPE a gaugehistogram\n", TEXTPARSE_PROM, 1, 10, "invalid metric type");
	tp_expect_error("# TYPE a counter x\n", TEXTPARSE_PROM, 1, 18, "unexpected text");
	tp_expect_error("# HELP \n", TEXTPARSE_PROM, 1, 8, "expected metric name");
	assert_int_equal(tp_parse("# TYPE a untyped\na 1\n", TEXTPARSE_PROM), 0);
}

/* ---- OpenMetrics --------------------------------------------------------- */

static void test_om_timestamps_are_float_seconds_converted_to_ms(void **state)
{
	assert_int_equal(tp_parse("a 1 1.5\nb 1 1234567890\nc 1 -1.5\nd 1 1.5e3\n# EOF\n",
				  TEXTPARSE_OPENMETRICS),
			 0);
	assert_int_equal(tp_g.n, 4);
	assert_true(tp_g.s[0].has_ts && tp_g.s[0].ts == 1500);
	assert_true(tp_g.s[1].ts == 1234567890000LL);
	assert_true(tp_g.s[2].ts == -1500);
	assert_true(tp_g.s[3].ts == 1500000);
}

static void test_om_full_body_with_all_types_is_accepted(void **state)
{
	const char *body = "# TYPE req counter\n"
			   "# HELP req Requests.\n"
			   "req_total{code=\"200\"} 3 # {trace_id=\"abc\"} 1 1.5\n"
			   "req_created{code=\"200\"} 1.7e9\n"
			   "# TYPE lat_seconds histogram\n"
			   "# UNIT lat_seconds seconds\n"
			   "lat_seconds_bucket{le=\"0.1\"} 1 # {} 0.05\n"
			   "lat_seconds_bucket{le=\"+Inf\"} 2\n"
			   "lat_seconds_count 2\n"
			   "lat_seconds_sum 0.3\n"
			   "# TYPE q summary\n"
			   "q{quantile=\"0.5\"} NaN\n"
			   "q_sum 1\n"
			   "q_count 3\n"
			   "# TYPE build info\n"
			   "build_info{version=\"1\"} 1\n"
			   "# TYPE feat stateset\n"
			   "feat{feat=\"a\"} 1\n"
			   "feat{feat=\"b\"} 0\n"
			   "# TYPE g gaugehistogram\n"
			   "g_bucket{le=\"+Inf\"} 2\n"
			   "g_gcount 2\n"
			   "g_gsum 4\n"
			   "# TYPE temp gauge\n"
			   "temp -3.5\n"
			   "untyped_thing 1\n"
			   "# EOF\n";
	assert_int_equal(tp_parse(body, TEXTPARSE_OPENMETRICS), 0);
	assert_int_equal(tp_g.n, 17);
	assert_int_equal(tp_g.s[0].type, TEXTPARSE_COUNTER);
	assert_string_equal(tp_g.s[0].name, "req_total");
	assert_true(tp_g.s[0].value == 3 && !tp_g.s[0].has_ts); /* exemplar skipped */
	assert_int_equal(tp_g.s[1].type, TEXTPARSE_COUNTER);
	assert_string_equal(tp_g.s[1].name, "req_created");
	assert_int_equal(tp_g.s[2].type, TEXTPARSE_HISTOGRAM);
	assert_int_equal(tp_g.s[6].type, TEXTPARSE_SUMMARY);
	assert_int_equal(tp_g.s[9].type, TEXTPARSE_INFO);
	assert_int_equal(tp_g.s[10].type, TEXTPARSE_STATESET);
	assert_int_equal(tp_g.s[12].type, TEXTPARSE_GAUGEHISTOGRAM);
	assert_int_equal(tp_g.s[15].type, TEXTPARSE_GAUGE);
	assert_int_equal(tp_g.s[16].type, TEXTPARSE_UNTYPED);
	assert_string_equal(tp_g.s[16].name, "untyped_thing");
	assert_int_equal(tp_g.nmeta, 9);
	assert_int_equal(tp_g.m[3].kind, 'U');
	assert_string_equal(tp_g.m[3].text, "seconds");
}

static void test_om_eof_is_required_and_nothing_may_follow(void **state)
{
	tp_expect_error("a 1\n", TEXTPARSE_OPENMETRICS, 2, 1, "missing # EOF");
	tp_expect_error("", TEXTPARSE_OPENMETRICS, 1, 1, "missing # EOF");
	tp_expect_error("a 1\n# EOF\nb 2\n", TEXTPARSE_OPENMETRICS, 3, 1, "text after # EOF");
	tp_expect_error("a 1\n# EOF\n\n", TEXTPARSE_OPENMETRICS, 3, 1, "text after # EOF");
	assert_int_equal(tp_parse("a 1\n# EOF", TEXTPARSE_OPENMETRICS), 0);
	assert_int_equal(tp_parse("# EOF\n", TEXTPARSE_OPENMETRICS), 0);
}

static void test_om_is_strict_about_spaces_and_blank_lines(void **state)
{
	tp_expect_error("a  1\n# EOF\n", TEXTPARSE_OPENMETRICS, 1, 3, "expected value");
	tp_expect_error("a 1 \n# EOF\n", TEXTPARSE_OPENMETRICS, 1, 5, "trailing space");
	tp_expect_error("a 1\n\n# EOF\n", TEXTPARSE_OPENMETRICS, 2, 1, "blank line");
	tp_expect_error("a{b=\"c\"}1\n# EOF\n", TEXTPARSE_OPENMETRICS, 1, 9, "expected space");
	tp_expect_error("a 1\r\n# EOF\n", TEXTPARSE_OPENMETRICS, 1, 3, "invalid value");
	tp_expect_error("# random comment\n# EOF\n", TEXTPARSE_OPENMETRICS, 1, 3,
			"invalid comment");
}

static void test_om_counter_needs_total_suffix(void **state)
{
	tp_expect_error("# TYPE a counter\na 1\n# EOF\n", TEXTPARSE_OPENMETRICS, 2, 1,
			"lacks a type suffix");
}

static void test_om_families_must_not_interleave_or_repeat(void **state)
{
	tp_expect_error("a 1\nb 1\na 2\n# EOF\n", TEXTPARSE_OPENMETRICS, 3, 1, "clashes");
	tp_expect_error("# TYPE a counter\n# TYPE a counter\n# EOF\n", TEXTPARSE_OPENMETRICS, 2, 3,
			"duplicate # TYPE");
	tp_expect_error("# TYPE a gauge\na 1\n# HELP a late\n# EOF\n", TEXTPARSE_OPENMETRICS, 3,
			3, "after its samples");
}

static void test_om_label_groups_within_a_family_must_be_contiguous(void **state)
{
	/* Each histogram is complete; only the interleaving is wrong. */
	const char *body = "# TYPE h histogram\n"
			   "h_bucket{x=\"1\",le=\"+Inf\"} 1\n"
			   "h_bucket{x=\"2\",le=\"+Inf\"} 1\n"
			   "h_bucket{le=\"+Inf\",x=\"1\"} 1\n"
			   "# EOF\n";
	tp_expect_error(body, TEXTPARSE_OPENMETRICS, 4, 1, "not contiguous");
}

static void test_om_histogram_rules_are_enforced(void **state)
{
	tp_expect_error("# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# EOF\n", TEXTPARSE_OPENMETRICS,
			2, 1, "no +Inf bucket");
	tp_expect_error("# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n# EOF\n",
			TEXTPARSE_OPENMETRICS, 3, 10, "out of order");
	tp_expect_error("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1.5\n# EOF\n",
			TEXTPARSE_OPENMETRICS, 2, 1, "integer");
	tp_expect_error("# TYPE h histogram\nh_bucket{le=\"inf\"} 1\n# EOF\n",
			TEXTPARSE_OPENMETRICS, 2, 10, "invalid le");
}

static void test_om_exemplars_are_validated(void **state)
{
	tp_expect_error("# TYPE a counter\na_total 1 # {x=\"y\"}\n# EOF\n", TEXTPARSE_OPENMETRICS,
			2, 20, "expected space before exemplar value");
	tp_expect_error("# TYPE a counter\na_total 1 # {x=\"y\"} z\n# EOF\n",
			TEXTPARSE_OPENMETRICS, 2, 21, "invalid exemplar value");
	tp_expect_error("# TYPE a gauge\na 1 # {x=\"y\"} 1\n# EOF\n", TEXTPARSE_OPENMETRICS, 2, 1,
			"exemplars are only allowed");
}

static void test_om_unit_must_be_the_name_suffix(void **state)
{
	tp_expect_error("# UNIT a_bytes seconds\n# EOF\n", TEXTPARSE_OPENMETRICS, 1, 16,
			"does not end with _seconds");
}

/* ---- floats and names ---------------------------------------------------- */

static void test_parse_float_accepts_go_syntax(void **state)
{
	static const struct {
		const char *s;
		double want;
	} ok[] = {
		{"1", 1},	  {"-2", -2},	      {"+3", 3},       {"1.5e3", 1500},
		{".5", 0.5},	  {"5.", 5},	      {"1E-2", 0.01},  {"0001", 1},
		{"1e+2", 100},	  {"123456789012345678901234567890", 1.2345678901234568e29},
		{"0.1", 0.1},	  {"9007199254740993", 9007199254740992.0},
	};
	double d;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(textparse_parse_float(ok[i].s, strlen(ok[i].s), &d), 0);
		assert_true(tp_bits(d) == tp_bits(ok[i].want));
	}
	static const char *inf[] = {"Inf", "+Inf", "-Inf", "inf", "INF", "Infinity", "-infinity"};
	for (size_t i = 0; i < sizeof(inf) / sizeof(inf[0]); i++) {
		assert_int_equal(textparse_parse_float(inf[i], strlen(inf[i]), &d), 0);
		assert_true(isinf(d));
		assert_true((d < 0) == (inf[i][0] == '-'));
	}
	assert_int_equal(textparse_parse_float("NaN", 3, &d), 0);
	assert_true(isnan(d));
	assert_int_equal(textparse_parse_float("nan", 3, &d), 0);
	assert_int_equal(textparse_parse_float("1e-400", 6, &d), 0);
	assert_true(d == 0);
}

static void test_parse_float_rejects_what_prometheus_rejects(void **state)
{
	static const char *bad[] = {"",	   "+",	    "-",     ".",     "e1",   "1e",   "1e+",
				    "1.2.3", "1_0",  "0x10",  "0x1p3", "0b1",  "+nan", "-NaN",
				    "infin", "1 ",   " 1",    "1e400", "-1e400", "1f",  "--1"};
	double d;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (textparse_parse_float(bad[i], strlen(bad[i]), &d) != -EINVAL)
			print_error("accepted \"%s\"\n", bad[i]);
		assert_int_equal(textparse_parse_float(bad[i], strlen(bad[i]), &d), -EINVAL);
	}
}

/* The fast path must be bit-identical to strtod for every input. */
static void test_parse_float_is_bit_exact_with_strtod(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char s[64];
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int ndig = 1 + (int)(x % 20), dot = (int)((x >> 8) % (unsigned)(ndig + 2)) - 1;
		int e = (int)((x >> 16) % 80) - 40, has_e = (int)((x >> 24) & 1);
		size_t o = 0;
		uint64_t y = x;
		if ((x >> 25) & 1)
			s[o++] = '-';
		for (int k = 0; k < ndig; k++) {
			if (k == dot)
				s[o++] = '.';
			s[o++] = (char)('0' + (y % 10));
			y = y / 10 ? y / 10 : x * 31 + (uint64_t)k;
		}
		if (has_e)
			o += (size_t)snprintf(s + o, sizeof(s) - o, "e%d", e);
		s[o] = '\0';
		double got, want = strtod(s, NULL);
		assert_int_equal(textparse_parse_float(s, o, &got), 0);
		if (tp_bits(got) != tp_bits(want))
			print_error("%s: got %.17g want %.17g\n", s, got, want);
		assert_true(tp_bits(got) == tp_bits(want));
	}
}

static void test_name_validation_follows_prometheus_rules(void **state)
{
	assert_true(textparse_valid_metric_name("a", 1));
	assert_true(textparse_valid_metric_name("job:rate5m", 10));
	assert_true(textparse_valid_metric_name("_x9", 3));
	assert_true(textparse_valid_metric_name(":a", 2));
	assert_false(textparse_valid_metric_name("", 0));
	assert_false(textparse_valid_metric_name("9a", 2));
	assert_false(textparse_valid_metric_name("a-b", 3));
	assert_false(textparse_valid_metric_name("a.b", 3));
	assert_true(textparse_valid_label_name("__name__", 8));
	assert_true(textparse_valid_label_name("le", 2));
	assert_false(textparse_valid_label_name("a:b", 3));
	assert_false(textparse_valid_label_name("1a", 2));
	assert_false(textparse_valid_label_name("", 0));
	assert_false(textparse_valid_label_name("a b", 3));
}

/* ---- robustness ---------------------------------------------------------- */

static const char tp_rich_prom[] =
	"# HELP a_total The a.\\n\n# TYPE a_total counter\n"
	"a_total{x=\"1\\\"\\\\\\n\",y=\"\xe2\x98\x83\"} 1.5e3 1700000000000\r\n"
	"  b{ z = \"q\" , } NaN\n# c\nc -Inf\n";
static const char tp_rich_om[] =
	"# TYPE a counter\n# HELP a x\\ny\n# UNIT a \n"
	"a_total{x=\"1\\\"\"} 1 1.5 # {t=\"\xe2\x98\x83\"} 0.5 2\n"
	"# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n"
	"# EOF\n";

static void test_every_truncation_parses_or_fails_cleanly(void **state)
{
	const char *bodies[] = {tp_rich_prom, tp_rich_om};
	for (int b = 0; b < 2; b++) {
		size_t len = strlen(bodies[b]);
		for (size_t n = 0; n <= len; n++) {
			for (int f = 0; f < 2; f++) {
				int rc = tp_parse_len(bodies[b], n, (enum textparse_format)f);
				assert_true(rc == 0 || rc == -EINVAL);
				if (rc)
					assert_true(tp_err.line >= 1 && tp_err.column >= 1);
			}
		}
	}
	/* The whole bodies are valid in their own format. */
	assert_int_equal(tp_parse(tp_rich_prom, TEXTPARSE_PROM), 0);
	assert_int_equal(tp_parse(tp_rich_om, TEXTPARSE_OPENMETRICS), 0);
}

static void test_random_mutations_never_crash(void **state)
{
	const char *bodies[] = {tp_rich_prom, tp_rich_om};
	static const char alphabet[] = "{}=\",# \n\r\t\\\0aZ_:9.e+-\xff\xc3";
	uint64_t x = 12345;
	char buf[512];
	for (int i = 0; i < 20000; i++) {
		const char *src = bodies[i & 1];
		size_t len = strlen(src);
		memcpy(buf, src, len);
		for (int m = 0; m < 4; m++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[x % len] = alphabet[(x >> 20) % (sizeof(alphabet) - 1)];
		}
		for (int f = 0; f < 2; f++) {
			int rc = tp_parse_len(buf, len - (x >> 40) % 4, (enum textparse_format)f);
			assert_true(rc == 0 || rc == -EINVAL);
		}
	}
}

static void test_long_lines_with_escapes_grow_the_scratch_buffer(void **state)
{
	size_t vlen = 100000;
	char *body = malloc(vlen * 2 + 64);
	assert_non_null(body);
	size_t o = (size_t)sprintf(body, "m{a=\"");
	for (size_t i = 0; i < vlen; i++) {
		body[o++] = '\\';
		body[o++] = 'n';
	}
	o += (size_t)sprintf(body + o, "\",b=\"\\\\\"} 1\n");
	memset(&tp_g, 0, sizeof(tp_g));
	assert_int_equal(textparse_parse(body, o, TEXTPARSE_PROM, tp_sample, NULL, &tp_g, &tp_err),
			 0);
	assert_int_equal(tp_g.n, 1);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_sample_with_labels_and_ms_timestamp_is_delivered),
		cmocka_unit_test(test_prom_label_escapes_are_resolved_and_unknown_ones_kept),
		cmocka_unit_test(test_prom_nan_and_infinities_parse),
		cmocka_unit_test(test_prom_help_and_type_reach_meta_callback_and_type_the_family),
		cmocka_unit_test(test_prom_empty_body_is_valid),
		cmocka_unit_test(test_prom_blanks_blank_lines_and_trailing_comma_are_tolerated),
		cmocka_unit_test(test_prom_crlf_line_endings_are_accepted),
		cmocka_unit_test(test_prom_missing_final_newline_is_accepted),
		cmocka_unit_test(test_prom_nul_byte_inside_label_value_is_kept),
		cmocka_unit_test(test_prom_label_value_with_utf8_is_accepted),
		cmocka_unit_test(test_prom_negative_and_fractional_values_parse_exactly),
		cmocka_unit_test(test_prom_callback_error_stops_the_parse),
		cmocka_unit_test(test_prom_truncated_label_value_reports_unterminated),
		cmocka_unit_test(test_prom_truncated_label_set_reports_position),
		cmocka_unit_test(test_prom_backslash_at_end_of_line_is_invalid_escape),
		cmocka_unit_test(test_prom_invalid_metric_names_are_rejected),
		cmocka_unit_test(test_prom_invalid_label_names_are_rejected),
		cmocka_unit_test(test_prom_missing_value_is_rejected),
		cmocka_unit_test(test_prom_garbage_after_value_is_rejected),
		cmocka_unit_test(test_prom_timestamps_must_be_unsigned_int64_ms),
		cmocka_unit_test(test_prom_out_of_range_values_are_rejected),
		cmocka_unit_test(test_prom_duplicate_label_names_are_rejected),
		cmocka_unit_test(test_prom_too_many_labels_are_rejected),
		cmocka_unit_test(test_prom_invalid_utf8_label_value_is_rejected),
		cmocka_unit_test(test_prom_nul_byte_at_line_start_is_rejected),
		cmocka_unit_test(test_prom_invalid_type_is_rejected),
		cmocka_unit_test(test_om_timestamps_are_float_seconds_converted_to_ms),
		cmocka_unit_test(test_om_full_body_with_all_types_is_accepted),
		cmocka_unit_test(test_om_eof_is_required_and_nothing_may_follow),
		cmocka_unit_test(test_om_is_strict_about_spaces_and_blank_lines),
		cmocka_unit_test(test_om_counter_needs_total_suffix),
		cmocka_unit_test(test_om_families_must_not_interleave_or_repeat),
		cmocka_unit_test(test_om_label_groups_within_a_family_must_be_contiguous),
		cmocka_unit_test(test_om_histogram_rules_are_enforced),
		cmocka_unit_test(test_om_exemplars_are_validated),
		cmocka_unit_test(test_om_unit_must_be_the_name_suffix),
		cmocka_unit_test(test_parse_float_accepts_go_syntax),
		cmocka_unit_test(test_parse_float_rejects_what_prometheus_rejects),
		cmocka_unit_test(test_parse_float_is_bit_exact_with_strtod),
		cmocka_unit_test(test_name_validation_follows_prometheus_rules),
		cmocka_unit_test(test_every_truncation_parses_or_fails_cleanly),
		cmocka_unit_test(test_random_mutations_never_crash),
		cmocka_unit_test(test_long_lines_with_escapes_grow_the_scratch_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
