/*
 * test_h1_trailers.c: the request trailer rules of h1_chunk_feed()
 * (h1_chunk_init_request, h1_trailer_forbidden).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "h1.h"

static const struct h1_limits lim = {1024, 512, 4};

/* Feed body whole, then byte by byte; both must agree. */
static enum h1_chunk_result
feed(const char *body, int request, const char **why)
{
	struct h1_chunk a;
	struct h1_chunk b;
	enum h1_chunk_result ra;
	enum h1_chunk_result rb = H1_CHUNK_MORE;
	size_t n = strlen(body);
	size_t used = 0;
	size_t total = 0;
	size_t i;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (request) {
		h1_chunk_init_request(&a, &lim);
		h1_chunk_init_request(&b, &lim);
	}
	ra = h1_chunk_feed(&a, body, n, &used);
	for (i = 0; i < n && rb == H1_CHUNK_MORE; i++) {
		rb = h1_chunk_feed(&b, body + i, 1, &total);
	}
	assert_int_equal(ra, rb);
	*why = a.why;
	return ra;
}

static void
test_allowed(void **state)
{
	static const char *const ok[] = {
	    "0\r\n\r\n",
	    "5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n",
	    "0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n",
	    "0\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\nX-D: 4\r\n\r\n",
	    "0\r\nproxy: not-a-prefix-match\r\n\r\n",
	    "0\r\ncontent-lengthx: 1\r\n\r\n",
	};
	const char *why = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(feed(ok[i], 1, &why), H1_CHUNK_DONE);
	}
}

static void
test_forbidden(void **state)
{
	static const char *const bad[] = {
	    "Content-Length: 5",
	    "transfer-encoding: chunked",
	    "HOST: evil",
	    "Connection: close",
	    "TE: trailers",
	    "Trailer: X",
	    "Proxy-Authorization: x",
	    "proxy-anything-at-all-longer-than-32-b: 1",
	    "X-Forwarded-For: 1.2.3.4",
	    "Authorization: Bearer x",
	    "Cookie: a=1",
	    "Content-Type: text/x",
	    "Expect: 100-continue",
	    "Range: bytes=0-1",
	};
	char body[256];
	const char *why = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body),
			 "1\r\na\r\n0\r\nX-Ok: 1\r\n%s\r\n\r\n", bad[i]);
		assert_int_equal(feed(body, 1, &why), H1_CHUNK_ERROR);
		assert_string_equal(why, "forbidden_trailer");
		/* Responses (zeroed state) are checked for syntax only. */
		assert_int_equal(feed(body, 0, &why), H1_CHUNK_DONE);
	}
}

static void
test_limits(void **state)
{
	char body[2048];
	const char *why = NULL;
	size_t n;

	(void)state;
	assert_int_equal(
	    feed("0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", 1, &why),
	    H1_CHUNK_ERROR);
	assert_string_equal(why, "too_many_trailers");

	memcpy(body, "0\r\nX-Big: ", 10);
	n = 10;
	memset(body + n, 'a', 1100);
	n += 1100;
	memcpy(body + n, "\r\n\r\n", 5);
	assert_int_equal(feed(body, 1, &why), H1_CHUNK_ERROR);
	assert_string_equal(why, "trailers_too_large");
	/* The response default ceiling is H1_TRAILERS_MAX. */
	assert_int_equal(feed(body, 0, &why), H1_CHUNK_DONE);
}

static void
test_forbidden_names(void **state)
{
	(void)state;
	assert_true(h1_trailer_forbidden("content-length", 14));
	assert_true(h1_trailer_forbidden("Proxy-X", 7));
	assert_true(h1_trailer_forbidden("x-forwarded-proto", 17));
	assert_false(h1_trailer_forbidden("x-checksum", 10));
	assert_false(h1_trailer_forbidden("grpc-status", 11));
	assert_false(h1_trailer_forbidden("host", 3));
	assert_false(h1_trailer_forbidden("proxy", 5));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allowed),
	    cmocka_unit_test(test_forbidden),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_forbidden_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
