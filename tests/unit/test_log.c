/* test_log: unit tests of common/log. stderr is pointed at a temporary
 * file with dup2 around each call, and the bytes written are checked: the
 * plain layout, the JSON layout and its escapes, level filtering, and
 * truncation of long messages that still leaves one valid JSON line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static int saved_stderr = -1;
static FILE *capture;

/* Starts capturing fd 2 into a fresh temporary file. */
static void cap_start(void)
{
	capture = tmpfile();
	assert_non_null(capture);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fileno(capture), STDERR_FILENO), STDERR_FILENO);
}

/* Restores fd 2 and returns what was written (malloc'd, NUL-terminated). */
static char *cap_end(size_t *len)
{
	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	off_t end = lseek(fileno(capture), 0, SEEK_END);
	assert_true(end >= 0);
	char *buf = malloc((size_t)end + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fileno(capture), buf, (size_t)end, 0), (ssize_t)end);
	buf[end] = '\0';
	fclose(capture);
	if (len)
		*len = (size_t)end;
	return buf;
}

static void assert_matches(const char *s, const char *pattern)
{
	regex_t re;
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	int rc = regexec(&re, s, 0, NULL, 0);
	regfree(&re);
	if (rc != 0)
		fail_msg("\"%s\" does not match /%s/", s, pattern);
}

static int reset(void **state)
{
	(void)state;
	log_init("mcs", 0);
	log_set_level(LOG_INFO);
	return 0;
}

static void test_plain_lines_carry_time_level_proc_pid_and_message(void **state)
{
	(void)state;
	log_init("collector[2]", 0);
	cap_start();
	log_info("hello %s %d", "world", 42);
	log_error("second");
	char *out = cap_end(NULL);
	char want[512];
	snprintf(want, sizeof(want),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z info collector\\[2\\] pid=%d: hello world 42\n"
		 "[0-9T:.Z-]+ error collector\\[2\\] pid=%d: second\n$",
		 (int)getpid(), (int)getpid());
	assert_matches(out, want);
	free(out);
}

static void test_messages_below_the_level_are_dropped(void **state)
{
	(void)state;
	cap_start();
	log_debug("not shown");
	log_set_level(LOG_WARN);
	log_info("not shown either");
	log_warn("shown");
	log_set_level(LOG_DEBUG);
	log_debug("debug shown");
	size_t len;
	char *out = cap_end(&len);
	assert_null(strstr(out, "not shown"));
	assert_non_null(strstr(out, " warn mcs pid="));
	assert_non_null(strstr(out, ": shown\n"));
	assert_non_null(strstr(out, " debug mcs pid="));
	assert_int_equal(len > 0 && out[len - 1] == '\n', 1);
	free(out);
}

static void test_json_lines_are_one_object_with_every_field(void **state)
{
	(void)state;
	log_init("apiserver[0]", 1);
	cap_start();
	log_warn("disk at %d%%", 93);
	char *out = cap_end(NULL);
	char want[512];
	snprintf(want, sizeof(want),
		 "^\\{\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\","
		 "\"level\":\"warn\",\"proc\":\"apiserver\\[0\\]\",\"pid\":%d,\"msg\":\"disk at 93%%\"\\}\n$",
		 (int)getpid());
	assert_matches(out, want);
	cJSON *j = cJSON_Parse(out);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring, "disk at 93%");
	assert_int_equal(cJSON_GetObjectItem(j, "pid")->valueint, (int)getpid());
	cJSON_Delete(j);
	free(out);
}

static void test_json_escapes_quotes_backslashes_and_control_bytes(void **state)
{
	(void)state;
	log_init("t", 1);
	cap_start();
	log_info("q\"b\\n\nt\tc\x01 e\x1f u\xc3\xa9");
	char *out = cap_end(NULL);
	const char *msg = strstr(out, "\"msg\":\"");
	assert_non_null(msg);
	assert_string_equal(msg, "\"msg\":\"q\\\"b\\\\n\\u000at\\u0009c\\u0001 e\\u001f u\xc3\xa9\"}\n");
	/* Exactly one line: the newline in the message is escaped. */
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	cJSON *j = cJSON_Parse(out);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring, "q\"b\\n\nt\tc\x01 e\x1f u\xc3\xa9");
	cJSON_Delete(j);
	free(out);
}

static void test_long_json_messages_truncate_to_one_valid_line(void **state)
{
	(void)state;
	/* 3000 control bytes expand sixfold: far past the line buffer. */
	char *big = malloc(3001);
	assert_non_null(big);
	memset(big, '\x02', 3000);
	big[3000] = '\0';
	log_init("t", 1);
	cap_start();
	log_info("%s", big);
	size_t len;
	char *out = cap_end(&len);
	assert_true(len < 4608);
	assert_int_equal(out[len - 1], '\n');
	assert_ptr_equal(strchr(out, '\n'), out + len - 1);
	cJSON *j = cJSON_Parse(out);
	assert_non_null(j);
	const char *m = cJSON_GetObjectItem(j, "msg")->valuestring;
	assert_true(strlen(m) > 500);
	for (const char *p = m; *p; p++)
		assert_int_equal(*p, '\x02');
	cJSON_Delete(j);
	free(out);

	/* Plain text: the message is cut at 2047 bytes, the line still ends. */
	memset(big, 'x', 3000);
	log_init("t", 0);
	cap_start();
	log_info("%s", big);
	out = cap_end(&len);
	assert_int_equal(out[len - 1], '\n');
	const char *colon = strstr(out, ": ");
	assert_non_null(colon);
	assert_int_equal(strlen(colon + 2), 2047 + 1);
	free(out);
	free(big);
}

static void test_long_process_names_are_cut(void **state)
{
	(void)state;
	char name[200];
	memset(name, 'p', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	log_init(name, 0);
	cap_start();
	log_info("m");
	char *out = cap_end(NULL);
	char want[80];
	memset(want, 'p', 63);
	want[63] = '\0';
	const char *p = strstr(out, want);
	assert_non_null(p);
	assert_int_equal(p[63], ' ');
	free(out);
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_plain_lines_carry_time_level_proc_pid_and_message, reset),
		cmocka_unit_test_setup(test_messages_below_the_level_are_dropped, reset),
		cmocka_unit_test_setup(test_json_lines_are_one_object_with_every_field, reset),
		cmocka_unit_test_setup(test_json_escapes_quotes_backslashes_and_control_bytes, reset),
		cmocka_unit_test_setup(test_long_json_messages_truncate_to_one_valid_line, reset),
		cmocka_unit_test_setup(test_long_process_names_are_cut, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
