/* fuzz_textparse: libFuzzer harness for textparse_parse (not built by make).
 *
 * The first input byte picks the format (even: text 0.0.4, odd:
 * OpenMetrics); the rest is the body, copied into an exactly sized heap
 * buffer so that ASan catches any read past its end. The harness also
 * checks the contract: the result is 0 or -EINVAL, and an error names a
 * line and column of at least 1.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *       tests/fuzz/fuzz_textparse.c common/textparse.c -lxxhash -lm \
 *       -o fuzz_textparse
 *   ./fuzz_textparse -max_total_time=60 /work/shared/conformance/textparse
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/textparse.h"

static int fuzz_textparse_sample(void *ctx, const struct textparse_sample *s)
{
	volatile size_t sink = 0;
	/* Touch everything the callback is promised to be valid. */
	for (size_t i = 0; i < s->nlabels; i++)
		sink += (size_t)s->labels[i].name[0] +
			(s->labels[i].value_len ? (size_t)s->labels[i].value[0] : 0);
	sink += s->name_len ? (size_t)s->name[0] : 0;
	(void)ctx;
	return 0;
}

static int fuzz_textparse_meta(void *ctx, const struct textparse_meta *m)
{
	volatile size_t sink = m->family_len + (m->text_len ? (size_t)m->text[m->text_len - 1] : 0);
	(void)sink;
	(void)ctx;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct textparse_error err;
	if (size == 0)
		return 0;
	enum textparse_format fmt = (data[0] & 1) ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
	size_t len = size - 1;
	char *body = malloc(len ? len : 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, len);
	int rc = textparse_parse(body, len, fmt, fuzz_textparse_sample, fuzz_textparse_meta, NULL,
				 &err);
	if (rc != 0 && (rc != -EINVAL || err.line == 0 || err.column == 0))
		abort();
	double d;
	(void)textparse_parse_float(body, len < 64 ? len : 64, &d);
	free(body);
	return 0;
}
