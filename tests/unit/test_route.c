/*
 * test_route.c: path normalisation and the route table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

#define NORM_CAP 1024

/* Normalise p; returns the static result or NULL with *why. */
static const char *
norm(const char *p, const char **why)
{
	static char out[NORM_CAP];
	size_t n;

	n = route_normalise(p, strlen(p), out, sizeof(out), why);
	return n == 0 ? NULL : out;
}

static void
test_normalise(void **state)
{
	static const char *const cases[][2] = {
	    {"/", "/"},
	    {"/v1/models", "/v1/models"},
	    {"/v1/models/", "/v1/models/"},
	    {"//v1///models", "/v1/models"},
	    {"/v1/./models", "/v1/models"},
	    {"/v1/../admin", "/admin"},
	    {"/v1/%2e%2e/admin", "/admin"},
	    {"/v1/%2E%2e/%2e/admin", "/admin"},
	    {"/../../x", "/x"},
	    {"/a/b/..", "/a/"},
	    {"/a/.", "/a/"},
	    {"/%41%62c", "/Abc"},
	    {"/a%2fb", "/a%2Fb"},
	    {"/a%3Fb", "/a%3Fb"},
	    {"/a/..%2f..%2fb", "/a/..%2F..%2Fb"},
	};
	const char *why = NULL;
	const char *got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = norm(cases[i][0], &why);
		assert_non_null(got);
		assert_string_equal(got, cases[i][1]);
	}
}

static void
test_normalise_refused(void **state)
{
	static const char *const bad[] = {
	    "v1",    "",      "/a%",	  "/a%2",  "/a%zz", "/a%00",
	    "/a%0a", "/a%7f", "/a%c3%a9", "/a\\b", "/a b",  "/\x80",
	};
	const char *why = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(norm(bad[i], &why));
		assert_string_equal(why, "bad_path");
	}
}

static long
match(const struct route_table *t, const char *path, const char *method,
      unsigned *status, const char **why)
{
	return route_match(t, path, strlen(path),
			   route_method_bit(method, strlen(method)), status,
			   why);
}

static void
test_defaults(void **state)
{
	struct route_table t;
	unsigned status = 0;
	const char *why = NULL;

	(void)state;
	route_defaults(&t);
	assert_int_equal(
	    match(&t, "/v1/chat/completions", "POST", &status, &why), 0);
	assert_int_equal(match(&t, "/v1/models", "GET", &status, &why), 3);
	assert_int_equal(match(&t, "/v1/models/x", "HEAD", &status, &why), 3);
	assert_int_equal(match(&t, "/health", "GET", &status, &why), 4);

	assert_int_equal(match(&t, "/v1/modelsx", "GET", &status, &why), -1);
	assert_int_equal(status, 404);
	assert_string_equal(why, "no_route");
	assert_int_equal(match(&t, "/admin", "GET", &status, &why), -1);
	assert_int_equal(
	    match(&t, "/v1/chat/completions", "GET", &status, &why), -1);
	assert_string_equal(why, "method_not_allowed");
	assert_int_equal(match(&t, "/v1/models", "TRACE", &status, &why), -1);
	assert_int_equal(match(&t, "/v1%2Fmodels", "GET", &status, &why), -1);
	assert_int_equal(status, 404);
	assert_int_equal(
	    match(&t, "/v1/models/..%2Fadmin", "GET", &status, &why), -1);
	assert_int_equal(status, 400);
	assert_string_equal(why, "dot_segment");
	assert_int_equal(match(&t, "/v1/models/a%2Fb", "GET", &status, &why),
			 3);
}

static void
test_parse(void **state)
{
	struct route r;
	const char *problem = NULL;

	(void)state;
	assert_int_equal(route_parse("prefix=/v1/\nmethods[]=GET\n"
				     "methods[]=POST\nwebsocket=true\n",
				     &r, &problem),
			 0);
	assert_string_equal(r.prefix, "/v1/");
	assert_int_equal(r.methods, ROUTE_GET | ROUTE_POST);
	assert_int_equal(r.websocket, 1);

	assert_int_equal(route_parse("prefix=/x\n", &r, &problem), 0);
	assert_int_equal(r.methods, ROUTE_ALL);
	assert_int_equal(route_parse("prefix=/x\nmethods[]=*\n", &r, &problem),
			 0);
	assert_int_equal(r.methods, ROUTE_ALL);

	assert_int_equal(route_parse("methods[]=GET\n", &r, &problem), -1);
	assert_int_equal(route_parse("prefix=x\n", &r, &problem), -1);
	assert_int_equal(route_parse("prefix=/a/../b\n", &r, &problem), -1);
	assert_int_equal(route_parse("prefix=/a//b\n", &r, &problem), -1);
	assert_int_equal(route_parse("prefix=/a%2Fb\n", &r, &problem), -1);
	assert_int_equal(route_parse("prefix=/a?b\n", &r, &problem), -1);
	assert_int_equal(
	    route_parse("prefix=/a\nmethods[]=BREW\n", &r, &problem), -1);
	assert_int_equal(
	    route_parse("prefix=/a\nwebsocket=yes\n", &r, &problem), -1);
	assert_int_equal(route_parse("prefix=/a\ncolour=red\n", &r, &problem),
			 -1);
	assert_non_null(problem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalise),
	    cmocka_unit_test(test_normalise_refused),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
