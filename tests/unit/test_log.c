/*
 * test_log.c: the JSON-lines writer produces one valid, escaped, capped
 * JSON object per call.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "json.h"
#include "log.h"

#define CAPTURE_MAX (64 * 1024)

static FILE *cap_file;

static int
setup(void **state)
{
	(void)state;
	cap_file = tmpfile();
	assert_non_null(cap_file);
	log_init("test", cap_file);
	log_set_level(LOG_DEBUG);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_init("test", stderr);
	fclose(cap_file);
	return 0;
}

/* Everything written so far; the file is emptied for the next test. */
static char *
capture(size_t *len)
{
	char *buf = calloc(1, CAPTURE_MAX + 1);
	ssize_t n;

	assert_non_null(buf);
	n = pread(fileno(cap_file), buf, CAPTURE_MAX, 0);
	assert_true(n >= 0);
	*len = (size_t)n;
	assert_int_equal(ftruncate(fileno(cap_file), 0), 0);
	assert_int_equal(lseek(fileno(cap_file), 0, SEEK_SET), 0);
	return buf;
}

static size_t
count_char(const char *s, size_t n, char c)
{
	size_t k = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		k += s[i] == c;
	}
	return k;
}

/* Capture exactly one line and parse it. */
static yajl_val
one_line(char **raw, size_t *rawlen)
{
	char err[128];
	yajl_val v;

	*raw = capture(rawlen);
	assert_true(*rawlen > 0);
	assert_int_equal(count_char(*raw, *rawlen, '\n'), 1);
	assert_int_equal((*raw)[*rawlen - 1], '\n');
	v = json_parse(*raw, *rawlen, CAPTURE_MAX, err, sizeof(err));
	if (v == NULL) {
		fail_msg("not JSON (%s): %s", err, *raw);
	}
	return v;
}

static void
test_fields_in_order(void **state)
{
	yajl_val v;
	char *raw;
	size_t len;
	const char *ts;
	uint64_t u;

	(void)state;
	log_event(LOG_ERR, "kbs.attest.failed", "policy_denied",
		  LOG_STR("kbs", "https://kbs.example"), LOG_U64("status", 401),
		  LOG_I64("delta", -5), LOG_BOOL("retry", 0));
	v = one_line(&raw, &len);

	assert_string_equal(json_get_str(v, "level"), "error");
	assert_string_equal(json_get_str(v, "component"), "test");
	assert_string_equal(json_get_str(v, "event"), "kbs.attest.failed");
	assert_string_equal(json_get_str(v, "reason"), "policy_denied");
	assert_string_equal(json_get_str(v, "kbs"), "https://kbs.example");
	assert_int_equal(json_get_u64(v, "status", &u), 0);
	assert_int_equal(u, 401);
	assert_int_equal(json_get(v, "delta")->u.number.i, -5);
	assert_true(YAJL_IS_FALSE(json_get(v, "retry")));

	/* RFC 3339 UTC with milliseconds: 2024-01-02T03:04:05.678Z */
	ts = json_get_str(v, "ts");
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');

	/* Order: ts, level, component, event, reason, then the fields. */
	assert_true(strstr(raw, "\"ts\"") < strstr(raw, "\"level\""));
	assert_true(strstr(raw, "\"event\"") < strstr(raw, "\"reason\""));
	assert_true(strstr(raw, "\"reason\"") < strstr(raw, "\"kbs\""));
	assert_true(strstr(raw, "\"status\"") < strstr(raw, "\"delta\""));
	yajl_tree_free(v);
	free(raw);
}

static void
test_no_reason_no_fields(void **state)
{
	yajl_val v;
	char *raw;
	size_t len;

	(void)state;
	log_event(LOG_INFO, "init.start", NULL);
	v = one_line(&raw, &len);
	assert_null(json_get(v, "reason"));
	assert_string_equal(json_get_str(v, "level"), "info");
	yajl_tree_free(v);
	free(raw);
}

static void
test_escaping(void **state)
{
	/* quote, backslash, newline, ESC, DEL, e-acute, U+1F600, bad bytes */
	static const char hostile[] = "a\"b\\c\nd\x1b[31m\x7f"
				      "\xc3\xa9"
				      "\xf0\x9f\x98\x80"
				      "\xff\xc3(\xed\xa0\x80"
				      "\xc0\xaf";
	static const char want[] = "a\"b\\c\nd\x1b[31m\x7f"
				   "\xc3\xa9"
				   "\xf0\x9f\x98\x80"
				   "\xef\xbf\xbd\xef\xbf\xbd("
				   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				   "\xef\xbf\xbd\xef\xbf\xbd";
	yajl_val v;
	char *raw;
	size_t len;
	size_t i;

	(void)state;
	log_event(LOG_WARN, "test.escape", NULL, LOG_STR("s", hostile),
		  LOG_STR("k\"ey\n", "x"));
	v = one_line(&raw, &len);

	/* The line itself is plain printable ASCII. */
	for (i = 0; i + 1 < len; i++) {
		assert_true(raw[i] >= 0x20 && raw[i] < 0x7f);
	}
	assert_non_null(strstr(raw, "\\u00e9"));
	assert_non_null(strstr(raw, "\\ud83d\\ude00"));
	assert_non_null(strstr(raw, "\\u001b"));
	assert_string_equal(json_get_str(v, "s"), want);
	assert_string_equal(json_get_str(v, "k\"ey\n"), "x");
	yajl_tree_free(v);
	free(raw);
}

static void
test_level_filter(void **state)
{
	char *raw;
	size_t len;

	(void)state;
	log_set_level(LOG_WARN);
	log_event(LOG_INFO, "dropped", NULL);
	log_event(LOG_DEBUG, "dropped", NULL);
	raw = capture(&len);
	assert_int_equal(len, 0);
	free(raw);

	log_event(LOG_WARN, "kept", NULL);
	log_event(LOG_ERR, "kept", NULL);
	raw = capture(&len);
	assert_int_equal(count_char(raw, len, '\n'), 2);
	free(raw);
	log_set_level(LOG_DEBUG);
}

static void
test_level_parse(void **state)
{
	enum log_level l = LOG_INFO;

	(void)state;
	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_equal(log_level_parse("error", &l), 0);
	assert_int_equal(l, LOG_ERR);
	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_WARN);
	assert_int_equal(log_level_parse("info", &l), 0);
	assert_int_equal(l, LOG_INFO);
	assert_int_equal(log_level_parse("ERROR", &l), -1);
	assert_int_equal(log_level_parse("", &l), -1);
	assert_int_equal(log_level_parse(NULL, &l), -1);
	assert_int_equal(l, LOG_INFO);
}

static void
test_long_value_truncated(void **state)
{
	char *big;
	yajl_val v;
	char *raw;
	size_t len;
	const char *s;

	(void)state;
	big = malloc(3 * LOG_LINE_MAX);
	assert_non_null(big);
	memset(big, 'x', 3 * LOG_LINE_MAX - 1);
	big[3 * LOG_LINE_MAX - 1] = '\0';
	log_event(LOG_INFO, "test.big", NULL, LOG_STR("a", "first"),
		  LOG_STR("big", big), LOG_STR("after", "dropped"));
	v = one_line(&raw, &len);

	assert_true(len <= LOG_LINE_MAX);
	assert_true(len > LOG_LINE_MAX - 16);
	s = json_get_str(v, "big");
	assert_non_null(s);
	assert_string_equal(s + strlen(s) - 3, "...");
	assert_string_equal(json_get_str(v, "a"), "first");
	assert_null(json_get(v, "after"));
	yajl_tree_free(v);
	free(raw);
	free(big);
}

/* Escapes expand six-fold; the cap must still hold with no split escape. */
static void
test_long_escaped_value(void **state)
{
	char *big;
	yajl_val v;
	char *raw;
	size_t len;
	size_t n;

	(void)state;
	for (n = LOG_LINE_MAX / 6 - 40; n < LOG_LINE_MAX / 6 + 40; n += 7) {
		big = malloc(n + 1);
		assert_non_null(big);
		memset(big, 0x01, n);
		big[n] = '\0';
		log_event(LOG_INFO, "test.esc", NULL, LOG_STR("big", big));
		v = one_line(&raw, &len);
		assert_true(len <= LOG_LINE_MAX);
		assert_non_null(json_get_str(v, "big"));
		yajl_tree_free(v);
		free(raw);
		free(big);
	}
}

static void
test_many_fields_capped(void **state)
{
	struct log_field fields[600];
	char key[600][12];
	yajl_val v;
	char *raw;
	size_t len;
	size_t i;

	(void)state;
	for (i = 0; i < 599; i++) {
		snprintf(key[i], sizeof(key[i]), "key%zu", i);
		fields[i] = (i % 2) ? LOG_U64(key[i], UINT64_MAX)
				    : LOG_STR(key[i], "some value");
	}
	fields[599] = (struct log_field){.type = LOG_F_END};
	log_emit(LOG_INFO, "test.many", NULL, fields);
	v = one_line(&raw, &len);
	assert_true(len <= LOG_LINE_MAX);
	assert_non_null(json_get(v, "key0"));
	assert_null(json_get(v, "key598"));
	yajl_tree_free(v);
	free(raw);
}

static void
test_numbers_and_null(void **state)
{
	yajl_val v;
	char *raw;
	size_t len;

	(void)state;
	log_event(LOG_INFO, "test.num", NULL, LOG_F64("nan", NAN),
		  LOG_F64("inf", INFINITY), LOG_F64("half", 0.5),
		  LOG_STR("none", NULL), LOG_U64("max", UINT64_MAX),
		  LOG_I64("min", INT64_MIN), LOG_BOOL("yes", 7));
	v = one_line(&raw, &len);
	assert_true(YAJL_IS_NULL(json_get(v, "nan")));
	assert_true(YAJL_IS_NULL(json_get(v, "inf")));
	assert_true(YAJL_IS_NULL(json_get(v, "none")));
	assert_true(YAJL_IS_DOUBLE(json_get(v, "half")));
	assert_true(YAJL_IS_TRUE(json_get(v, "yes")));
	assert_non_null(strstr(raw, "\"max\":18446744073709551615"));
	assert_non_null(strstr(raw, "\"min\":-9223372036854775808"));
	yajl_tree_free(v);
	free(raw);
}

/* Durations print short (the trial saw 0.070127849000000006). */
static void
test_f64_precision(void **state)
{
	yajl_val v;
	char *raw;
	size_t len;

	(void)state;
	log_event(LOG_INFO, "test.f64", NULL,
		  LOG_F64("secs", 0.070127849000000006), LOG_F64("whole", 3.0),
		  LOG_F64("neg", -1.25), LOG_F64("tiny", 0.0000001),
		  LOG_F64("big", 1e20), LOG_F64("rate", 123456.7654321));
	v = one_line(&raw, &len);
	assert_non_null(strstr(raw, "\"secs\":0.070128,"));
	assert_non_null(strstr(raw, "\"whole\":3.0,"));
	assert_non_null(strstr(raw, "\"neg\":-1.25,"));
	assert_non_null(strstr(raw, "\"tiny\":0.0,"));
	assert_non_null(strstr(raw, "\"rate\":123456.765432"));
	assert_true(YAJL_IS_DOUBLE(json_get(v, "whole")));
	assert_true(YAJL_IS_NUMBER(json_get(v, "big")));
	assert_true(YAJL_GET_DOUBLE(json_get(v, "big")) > 9e19);
	yajl_tree_free(v);
	free(raw);
}

static void
test_errno_preserved(void **state)
{
	char *raw;
	size_t len;

	(void)state;
	errno = EACCES;
	log_event(LOG_ERR, "test.errno", "internal", LOG_ERRNO(errno));
	assert_int_equal(errno, EACCES);
	raw = capture(&len);
	assert_non_null(strstr(raw, "\"errno\":13"));
	free(raw);
}

#define FIRST_THREADS 4

static void *
first_racer(void *arg)
{
	log_event(LOG_ERR, "test.race", (const char *)arg);
	return NULL;
}

/*
 * log_first_error() keeps the first error-level reason of the process
 * (h20 F5: init.failed names it as its cause); warnings, reason-less
 * errors and every later error leave it alone. Runs first.
 */
static void
test_first_error(void **state)
{
	static const char *names[FIRST_THREADS] = {"r0", "r1", "r2", "r3"};
	pthread_t tid[FIRST_THREADS];
	char *raw;
	size_t len;
	size_t i;

	(void)state;
	assert_null(log_first_error());
	log_event(LOG_WARN, "test.warn", "only_a_warning");
	log_event(LOG_ERR, "test.noreason", NULL);
	log_event(LOG_ERR, "test.empty", "");
	assert_null(log_first_error());

	log_event(LOG_ERR, "test.first", "the_first_cause");
	for (i = 0; i < FIRST_THREADS; i++) {
		assert_int_equal(pthread_create(&tid[i], NULL, first_racer,
						(void *)names[i]),
				 0);
	}
	for (i = 0; i < FIRST_THREADS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	}
	log_event(LOG_ERR, "test.later", "a_later_cause");
	assert_string_equal(log_first_error(), "the_first_cause");
	raw = capture(&len);
	free(raw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_error),
	    cmocka_unit_test(test_fields_in_order),
	    cmocka_unit_test(test_no_reason_no_fields),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_level_filter),
	    cmocka_unit_test(test_level_parse),
	    cmocka_unit_test(test_long_value_truncated),
	    cmocka_unit_test(test_long_escaped_value),
	    cmocka_unit_test(test_many_fields_capped),
	    cmocka_unit_test(test_numbers_and_null),
	    cmocka_unit_test(test_f64_precision),
	    cmocka_unit_test(test_errno_preserved),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
