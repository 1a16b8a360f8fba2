/*
 * test_json.c: bounded parsing (size, depth, NUL, comments, duplicates),
 * accessors, and the string builder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static yajl_val
parse(const char *s, char *err, size_t errlen)
{
	return json_parse(s, strlen(s), 65536, err, errlen);
}

static void
test_accessors(void **state)
{
	char err[128];
	yajl_val v;
	uint64_t u = 7;

	(void)state;
	v = parse("{\"s\":\"x\",\"n\":42,\"neg\":-1,\"d\":1.5,\"big\":"
		  "99999999999999999999,\"o\":{\"t\":true},\"ns\":\"1\"}",
		  err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(json_get_str(v, "s"), "x");
	assert_null(json_get_str(v, "n"));
	assert_null(json_get_str(v, "missing"));
	assert_int_equal(json_get_u64(v, "n", &u), 0);
	assert_int_equal(u, 42);
	u = 7;
	assert_int_equal(json_get_u64(v, "neg", &u), -1);
	assert_int_equal(json_get_u64(v, "d", &u), -1);
	assert_int_equal(json_get_u64(v, "big", &u), -1);
	assert_int_equal(json_get_u64(v, "ns", &u), -1);
	assert_int_equal(json_get_u64(v, "missing", &u), -1);
	assert_int_equal(u, 7);
	assert_true(YAJL_IS_TRUE(json_get(json_get(v, "o"), "t")));
	assert_null(json_get(json_get(v, "s"), "t"));
	assert_null(json_get(NULL, "t"));
	yajl_tree_free(v);
}

static void
test_not_nul_terminated(void **state)
{
	static const char buf[] = "{\"a\":1}GARBAGE";
	char err[128];
	yajl_val v;

	(void)state;
	v = json_parse(buf, 7, 7, err, sizeof(err));
	assert_non_null(v);
	yajl_tree_free(v);
	assert_null(json_parse(buf, 7, 6, err, sizeof(err)));
	assert_string_equal(err, "input over size ceiling");
	assert_null(json_parse(buf, sizeof(buf) - 1, 100, err, sizeof(err)));
}

static char *
nested(size_t depth, char open, char close)
{
	char *s = malloc(2 * depth + 1);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < depth; i++) {
		s[i] = open;
		s[2 * depth - 1 - i] = close;
	}
	s[2 * depth] = '\0';
	return s;
}

static void
test_depth(void **state)
{
	char err[128];
	yajl_val v;
	char *s;

	(void)state;
	s = nested(JSON_DEPTH_MAX, '[', ']');
	v = parse(s, err, sizeof(err));
	assert_non_null(v);
	yajl_tree_free(v);
	free(s);

	s = nested(JSON_DEPTH_MAX + 1, '[', ']');
	assert_null(parse(s, err, sizeof(err)));
	assert_string_equal(err, "nesting too deep");
	free(s);

	/* Brackets inside strings do not count. */
	v = parse("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", err,
		  sizeof(err));
	assert_non_null(v);
	yajl_tree_free(v);

	/* Deep input far past the ceiling is refused quickly. */
	s = nested(100000, '[', ']');
	assert_null(json_parse(s, strlen(s), 1 << 20, err, sizeof(err)));
	free(s);
}

static void
test_refusals(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "{\"a\":1}{\"b\":2}",
	    "{\"a\":1} x",
	    "{\"a\":1,}",
	    "{'a':1}",
	    "{\"a\":1 /* c */}",
	    "// c\n{\"a\":1}",
	    "{\"a\":\"\xff\"}",
	    "{\"a\":\"\xc0\xaf\"}",
	    "{\"a\":1,\"a\":2}",
	    "{\"o\":{\"x\":1,\"y\":2,\"x\":3}}",
	    "[{\"k\":1},{\"k\":1,\"k\":1}]",
	    "{\"a\":NaN}",
	    "{\"a\":01}",
	    "{\"a\":\"x\\u0000y\"}",
	    "{\"a\\u0000b\":1}",
	};
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse(bad[i], err, sizeof(err)) != NULL) {
			fail_msg("accepted: %s", bad[i]);
		}
		assert_true(err[0] != '\0');
		assert_null(strchr(err, '\n'));
	}
}

static void
test_nul_refused(void **state)
{
	static const char buf[] = "{\"a\":\"x\0y\"}";
	char err[128];

	(void)state;
	assert_null(json_parse(buf, sizeof(buf) - 1, 100, err, sizeof(err)));
	assert_string_equal(err, "NUL byte in input");
}

static void
test_slash_in_string_ok(void **state)
{
	char err[128];
	yajl_val v;

	(void)state;
	v = parse("{\"u\":\"https://x/y\",\"e\":\"a\\\"//b\"}", err,
		  sizeof(err));
	assert_non_null(v);
	assert_string_equal(json_get_str(v, "u"), "https://x/y");
	assert_string_equal(json_get_str(v, "e"), "a\"//b");
	yajl_tree_free(v);
}

static void
test_duplicates_in_large_object(void **state)
{
	struct strbuf sb;
	char err[128];
	yajl_val v;
	int i;

	(void)state;
	strbuf_init(&sb, 65536);
	strbuf_appends(&sb, "{");
	for (i = 0; i < 200; i++) {
		strbuf_appendf(&sb, "%s\"k%d\":%d", i ? "," : "", i, i);
	}
	strbuf_appends(&sb, "}");
	assert_true(strbuf_ok(&sb));
	v = json_parse(sb.buf, sb.len, 65536, err, sizeof(err));
	assert_non_null(v);
	yajl_tree_free(v);

	sb.len--;
	strbuf_appends(&sb, ",\"k137\":0}");
	assert_null(json_parse(sb.buf, sb.len, 65536, err, sizeof(err)));
	assert_string_equal(err, "duplicate object member");
	strbuf_free(&sb);
}

/* yajl's verbose errors quote the input; ours must not. */
static void
test_error_does_not_echo_input(void **state)
{
	char err[256];

	(void)state;
	assert_null(parse("{\"key\": hunter2secret}", err, sizeof(err)));
	assert_null(strstr(err, "hunter2"));
	assert_null(parse("{\"key\": \"hunter2secret", err, sizeof(err)));
	assert_null(strstr(err, "hunter2"));
}

static void
test_strbuf_basic(void **state)
{
	struct strbuf sb;
	int i;

	(void)state;
	strbuf_init(&sb, 4096);
	strbuf_append(&sb, "", 0);
	assert_non_null(sb.buf);
	assert_string_equal(sb.buf, "");
	strbuf_appends(&sb, "ab");
	strbuf_appendf(&sb, "-%d-%s", 42, "x");
	assert_string_equal(sb.buf, "ab-42-x");
	assert_int_equal(sb.len, 7);
	for (i = 0; i < 500; i++) {
		strbuf_append(&sb, "0123456", 7);
	}
	assert_true(strbuf_ok(&sb));
	assert_int_equal(sb.len, 3507);
	assert_int_equal(strlen(sb.buf), 3507);
	strbuf_free(&sb);
	assert_null(sb.buf);
}

static void
test_strbuf_ceiling(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 10);
	strbuf_appends(&sb, "0123456789");
	assert_true(strbuf_ok(&sb));
	assert_int_equal(sb.len, 10);
	strbuf_appends(&sb, "x");
	assert_false(strbuf_ok(&sb));
	assert_string_equal(sb.buf, "0123456789");
	/* Once failed, later appends that would fit are dropped too. */
	strbuf_free(&sb);

	strbuf_init(&sb, 10);
	strbuf_appendf(&sb, "%s", "01234567890");
	assert_false(strbuf_ok(&sb));
	strbuf_free(&sb);

	strbuf_init(&sb, 100);
	strbuf_appends(&sb, NULL);
	assert_false(strbuf_ok(&sb));
	strbuf_free(&sb);
}

static void
test_strbuf_json_str(void **state)
{
	static const char *const inputs[] = {
	    "plain",
	    "q\"b\\s/",
	    "ctl\x01\x1f\x7f\n\r\t",
	    "utf8 \xc3\xa9 \xf0\x9f\x98\x80",
	    "",
	};
	struct strbuf sb;
	char err[128];
	yajl_val v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		strbuf_init(&sb, 1024);
		strbuf_appends(&sb, "{\"v\":");
		strbuf_append_json_str(&sb, inputs[i]);
		strbuf_appends(&sb, "}");
		assert_true(strbuf_ok(&sb));
		v = json_parse(sb.buf, sb.len, 1024, err, sizeof(err));
		assert_non_null(v);
		assert_string_equal(json_get_str(v, "v"), inputs[i]);
		yajl_tree_free(v);
		strbuf_free(&sb);
	}

	strbuf_init(&sb, 1024);
	strbuf_append_json_str(&sb, "a\xff"
				    "b");
	assert_string_equal(sb.buf, "\"a\\ufffdb\"");
	strbuf_free(&sb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accessors),
	    cmocka_unit_test(test_not_nul_terminated),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_nul_refused),
	    cmocka_unit_test(test_slash_in_string_ok),
	    cmocka_unit_test(test_duplicates_in_large_object),
	    cmocka_unit_test(test_error_does_not_echo_input),
	    cmocka_unit_test(test_strbuf_basic),
	    cmocka_unit_test(test_strbuf_ceiling),
	    cmocka_unit_test(test_strbuf_json_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
