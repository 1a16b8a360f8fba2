/*
 * test_h1.c: the strict HTTP/1 parser against valid and hostile input.
 *
 * Tables of raw heads with the verdict each must get: accepted with the
 * given framing, or refused with the given status and reason code. The
 * smuggling corpus (CL+TE, duplicate or signed lengths, TE variants,
 * obs-fold, space before the colon, NUL bytes, bare LF, missing Host)
 * is here, and every head is also scanned one byte at a time to show the
 * incremental scanner agrees with a single pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "h1.h"

static const struct h1_limits lim = {32768, 8192, 100};

/* Scan and parse a request; returns 0 or the refusal status. */
static unsigned
verdict(const char *raw, size_t len, struct h1_msg *m, const char **why)
{
	struct h1_scan s = {0};
	unsigned status = 0;
	long end;

	*why = NULL;
	end = h1_scan_head(&s, raw, len, &lim, &status, why);
	if (end < 0) {
		return status;
	}
	if (end == 0) {
		*why = "incomplete";
		return 1;
	}
	if (h1_parse_request(raw + s.start, (size_t)end - s.start, &lim, m) !=
	    0) {
		*why = m->error;
		return m->error_status;
	}
	return 0;
}

static struct h1_msg *
new_msg(void)
{
	struct h1_msg *m = malloc(sizeof(*m));

	assert_non_null(m);
	return m;
}

struct good_case {
	const char *raw;
	enum h1_framing framing;
	uint64_t length;
	int keep_alive;
	const char *path;
};

static const struct good_case good[] = {
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_BODY_NONE, 0, 1, "/"},
    {"GET /v1/models?x=1&y=2 HTTP/1.1\r\nHost: a:8443\r\n\r\n", H1_BODY_NONE, 0,
     1, "/v1/models"},
    {"POST /v1/chat HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
     H1_BODY_LENGTH, 5, 1, "/v1/chat"},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", H1_BODY_NONE, 0,
     1, "/"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
     H1_BODY_CHUNKED, 0, 1, "/"},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED  \r\n\r\n",
     H1_BODY_CHUNKED, 0, 1, "/"},
    {"GET / HTTP/1.0\r\n\r\n", H1_BODY_NONE, 0, 0, "/"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", H1_BODY_NONE, 0,
     0, "/"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-A\r\n"
     "X-A: 1\r\n\r\n",
     H1_BODY_NONE, 0, 1, "/"},
    {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", H1_BODY_NONE, 0, 1, "*"},
    {"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_BODY_NONE, 0, 1, "/"},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-T:\tv \t\r\n\r\n",
     H1_BODY_NONE, 0, 1, "/"},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-Utf8: caf\xc3\xa9\r\n\r\n", H1_BODY_NONE,
     0, 1, "/"},
    {"GET / HTTP/1.1\r\nHost: [::1]:8443\r\nExpect: 100-continue\r\n\r\n",
     H1_BODY_NONE, 0, 1, "/"},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 000000000000000042\r\n"
     "\r\n",
     H1_BODY_LENGTH, 42, 1, "/"},
};

static void
test_good_requests(void **state)
{
	struct h1_msg *m = new_msg();
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (verdict(good[i].raw, strlen(good[i].raw), m, &why) != 0) {
			fail_msg("case %zu refused: %s", i, why);
		}
		assert_int_equal(m->framing, good[i].framing);
		assert_int_equal(m->content_length, good[i].length);
		assert_int_equal(m->keep_alive, good[i].keep_alive);
	}
	free(m);
}

static void
test_good_paths(void **state)
{
	struct h1_msg *m = new_msg();
	struct h1_scan s;
	unsigned st;
	const char *why;
	const char *raw;
	long end;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		raw = good[i].raw;
		memset(&s, 0, sizeof(s));
		end = h1_scan_head(&s, raw, strlen(raw), &lim, &st, &why);
		assert_true(end > 0);
		assert_int_equal(h1_parse_request(raw + s.start,
						  (size_t)end - s.start, &lim,
						  m),
				 0);
		assert_int_equal(m->path.len, strlen(good[i].path));
		assert_memory_equal(raw + s.start + m->path.off, good[i].path,
				    m->path.len);
	}
	free(m);
}

struct bad_case {
	const char *raw;
	size_t len; /* 0: strlen */
	unsigned status;
	const char *why;
};

#define H "GET / HTTP/1.1\r\nHost: a\r\n"
#define P "POST / HTTP/1.1\r\nHost: a\r\n"

static const struct bad_case bad[] = {
    /* Request smuggling corpus. */
    {P "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400,
     "cl_and_te"},
    {P "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 0, 400,
     "cl_and_te"},
    {P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
     400, "duplicate_transfer_encoding"},
    {P "Transfer-Encoding: chunked, chunked\r\n\r\n", 0, 400,
     "bad_transfer_encoding"},
    {P "Transfer-Encoding: gzip, chunked\r\n\r\n", 0, 400,
     "bad_transfer_encoding"},
    {P "Transfer-Encoding: chunked;q=1\r\n\r\n", 0, 400,
     "bad_transfer_encoding"},
    {P "Transfer-Encoding: xchunked\r\n\r\n", 0, 400, "bad_transfer_encoding"},
    {P "Transfer-Encoding: identity\r\n\r\n", 0, 400, "bad_transfer_encoding"},
    {P "Transfer-Encoding:\r\n\r\n", 0, 400, "bad_transfer_encoding"},
    {P "Transfer-Encoding : chunked\r\n\r\n", 0, 400, "space_before_colon"},
    {P "Transfer-Encoding\t: chunked\r\n\r\n", 0, 400, "space_before_colon"},
    {P "Transfer-Encoding: chunked\r\n chunked\r\n\r\n", 0, 400, "obs_fold"},
    {P "X: y\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n", 0, 400,
     "bad_transfer_encoding"},
    {P "Content-Length: 1\r\nContent-Length: 2\r\n\r\n", 0, 400,
     "duplicate_content_length"},
    {P "Content-Length: 1\r\nContent-Length: 1\r\n\r\n", 0, 400,
     "duplicate_content_length"},
    {P "Content-Length: 1, 2\r\n\r\n", 0, 400, "bad_content_length"},
    {P "Content-Length: 1,1\r\n\r\n", 0, 400, "bad_content_length"},
    {P "Content-Length: +5\r\n\r\n", 0, 400, "bad_content_length"},
    {P "Content-Length: -1\r\n\r\n", 0, 400, "bad_content_length"},
    {P "Content-Length: 0x10\r\n\r\n", 0, 400, "bad_content_length"},
    {P "Content-Length: 1 2\r\n\r\n", 0, 400, "bad_content_length"},
    {P "Content-Length:\r\n\r\n", 0, 400, "bad_content_length"},
    {P "Content-Length: 99999999999999999999999\r\n\r\n", 0, 400,
     "bad_content_length"},
    {P "Content-Length: 1234567890123456789\r\n\r\n", 0, 400,
     "bad_content_length"},
    {P "Connection: Content-Length\r\nContent-Length: 5\r\n\r\n", 0, 400,
     "bad_connection"},
    {P "Connection: transfer-encoding\r\n\r\n", 0, 400, "bad_connection"},
    {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400,
     "te_in_http10"},
    /* Field syntax. */
    {H "X-A: 1\r\n folded\r\n\r\n", 0, 400, "obs_fold"},
    {H "Host : b\r\n\r\n", 0, 400, "space_before_colon"},
    {H "X A: 1\r\n\r\n", 0, 400, "space_before_colon"},
    {H ": no-name\r\n\r\n", 0, 400, "bad_header_name"},
    {H "X(A): 1\r\n\r\n", 0, 400, "bad_header_name"},
    {H "X-A 1\r\n\r\n", 0, 400, "space_before_colon"},
    {H "X-A\r\n\r\n", 0, 400, "bad_header_name"},
    {H "X-A: a\0b\r\n\r\n", sizeof(H "X-A: a\0b\r\n\r\n") - 1, 400,
     "bad_header_value"},
    {H "X-\0A: b\r\n\r\n", sizeof(H "X-\0A: b\r\n\r\n") - 1, 400,
     "bad_header_name"},
    {H "X-A: a\x01"
       "b\r\n\r\n",
     0, 400, "bad_header_value"},
    {H "X-A: a\x7f\r\n\r\n", 0, 400, "bad_header_value"},
    {H "X-A: a\rb\r\n\r\n", 0, 400, "bad_line_ending"},
    /* Line endings. */
    {"GET / HTTP/1.1\nHost: a\n\n", 0, 400, "bad_line_ending"},
    {"GET / HTTP/1.1\r\nHost: a\n\r\n", 0, 400, "bad_line_ending"},
    {"GET / HTTP/1.1\r\nHost: a\r\n\n", 0, 400, "bad_line_ending"},
    {"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "bare_lf"},
    {"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400,
     "leading_empty_lines"},
    /* Host. */
    {"GET / HTTP/1.1\r\n\r\n", 0, 400, "missing_host"},
    {H "Host: b\r\n\r\n", 0, 400, "duplicate_host"},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, 400, "bad_host"},
    {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 0, 400, "bad_host"},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 0, 400, "bad_host"},
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 0, 400, "bad_host"},
    /* Request line. */
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "bad_request_line"},
    {"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "bad_version"},
    {"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "bad_request_line"},
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 0, 400, "bad_version"},
    {"GET / http/1.1\r\nHost: a\r\n\r\n", 0, 400, "bad_version"},
    {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 0, 400, "bad_version"},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0, 505, "unsupported_version"},
    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, 505, "unsupported_version"},
    {"GET /\r\n\r\n", 0, 400, "bad_request_line"},
    {"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "bad_request_line"},
    {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "bad_method"},
    {"GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "target_form"},
    {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 0, 400, "target_form"},
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "target_form"},
    {"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "bad_request_line"},
    /* No form of request-target has a fragment (RFC 9112 §3.2). */
    {"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "bad_request_line"},
    {"GET /a?x=1#/../b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400,
     "bad_request_line"},
    {"GET # HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, "bad_request_line"},
    {H "Expect: 100-continue, x\r\n\r\n", 0, 417, "unsupported_expectation"},
};

static void
test_bad_requests(void **state)
{
	struct h1_msg *m = new_msg();
	const char *why;
	unsigned status;
	size_t len;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = bad[i].len != 0 ? bad[i].len : strlen(bad[i].raw);
		status = verdict(bad[i].raw, len, m, &why);
		if (status != bad[i].status || why == NULL ||
		    strcmp(why, bad[i].why) != 0) {
			fail_msg("case %zu: got %u %s, want %u %s", i, status,
				 why != NULL ? why : "(none)", bad[i].status,
				 bad[i].why);
		}
	}
	free(m);
}

static void
test_limits(void **state)
{
	struct h1_limits small = {256, 64, 3};
	struct h1_scan s = {0};
	struct h1_msg *m = new_msg();
	char buf[1024];
	unsigned st = 0;
	const char *why = NULL;
	long end;
	int n;

	(void)state;
	/* Request line over 64 bytes: 414 before the line even ends. */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "GET /", 5);
	end = h1_scan_head(&s, buf, 100, &small, &st, &why);
	assert_int_equal(end, -1);
	assert_int_equal(st, 414);

	/* A head over 256 bytes without its end: 431. */
	memset(&s, 0, sizeof(s));
	n = snprintf(buf, sizeof(buf),
		     "GET / HTTP/1.1\r\nX: %0200d\r\n"
		     "Y: %0100d\r\n",
		     0, 0);
	end = h1_scan_head(&s, buf, (size_t)n, &small, &st, &why);
	assert_int_equal(end, -1);
	assert_int_equal(st, 431);

	/* Four fields against a limit of three: 431. */
	memset(&s, 0, sizeof(s));
	n = snprintf(
	    buf, sizeof(buf),
	    "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	end = h1_scan_head(&s, buf, (size_t)n, &small, &st, &why);
	assert_true(end > 0);
	assert_int_equal(h1_parse_request(buf, (size_t)end, &small, m), -1);
	assert_int_equal(m->error_status, 431);
	assert_string_equal(m->error, "too_many_headers");
	free(m);
}

/* The scanner fed one byte at a time ends where a single pass ends. */
static void
test_scan_incremental(void **state)
{
	const struct good_case *g;
	struct h1_scan whole;
	struct h1_scan step;
	unsigned st;
	const char *why;
	long a;
	long b = 0;
	size_t i;
	size_t len;
	size_t k;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		g = &good[i];
		len = strlen(g->raw);
		memset(&whole, 0, sizeof(whole));
		memset(&step, 0, sizeof(step));
		a = h1_scan_head(&whole, g->raw, len, &lim, &st, &why);
		for (k = 1; k <= len; k++) {
			b = h1_scan_head(&step, g->raw, k, &lim, &st, &why);
			if (b != 0) {
				break;
			}
		}
		assert_int_equal(a, b);
		assert_int_equal(whole.start, step.start);
	}
}

struct chunk_case {
	const char *raw;
	enum h1_chunk_result result;
	size_t used; /* bytes consumed (DONE: up to the end of the body) */
	const char *why;
};

static const struct chunk_case chunks[] = {
    {"5\r\nhello\r\n0\r\n\r\n", H1_CHUNK_DONE, 15, NULL},
    {"5\r\nhello\r\n0\r\n\r\nGET", H1_CHUNK_DONE, 15, NULL},
    {"A\r\n0123456789\r\n0\r\n\r\n", H1_CHUNK_DONE, 20, NULL},
    {"5;name=value;x\r\nhello\r\n0\r\n\r\n", H1_CHUNK_DONE, 28, NULL},
    {"0\r\nX-T: 1\r\nY: 2\r\n\r\n", H1_CHUNK_DONE, 19, NULL},
    {"00000005\r\nhello\r\n0\r\n\r\n", H1_CHUNK_DONE, 22, NULL},
    {"5\r\nhel", H1_CHUNK_MORE, 6, NULL},
    {"fffffffffffffffff\r\n", H1_CHUNK_ERROR, 15, "chunk_size_overflow"},
    {"1000000000000000\r\n", H1_CHUNK_ERROR, 15, "chunk_size_overflow"},
    {"0x5\r\nhello\r\n", H1_CHUNK_ERROR, 1, "bad_chunk_size"},
    {"-1\r\n", H1_CHUNK_ERROR, 0, "bad_chunk_size"},
    {"+5\r\n", H1_CHUNK_ERROR, 0, "bad_chunk_size"},
    {" 5\r\n", H1_CHUNK_ERROR, 0, "bad_chunk_size"},
    {"5 \r\nhello\r\n", H1_CHUNK_ERROR, 1, "bad_chunk_size"},
    {"\r\n", H1_CHUNK_ERROR, 0, "bad_chunk_size"},
    {"g\r\n", H1_CHUNK_ERROR, 0, "bad_chunk_size"},
    {"5\nhello\r\n", H1_CHUNK_ERROR, 1, "bad_chunk_size"},
    {"5\r\rhello\r\n", H1_CHUNK_ERROR, 2, "bare_cr"},
    {"5\r\nhelloXX\r\n", H1_CHUNK_ERROR, 8, "chunk_data_overrun"},
    {"5\r\nhello\n0\r\n\r\n", H1_CHUNK_ERROR, 8, "chunk_data_overrun"},
    {"5\r\nhello\r\r", H1_CHUNK_ERROR, 9, "bare_cr"},
    {"5;a\x01\r\nhello", H1_CHUNK_ERROR, 3, "bad_chunk_size"},
    {"0\r\n folded: x\r\n\r\n", H1_CHUNK_ERROR, 3, "bad_trailer"},
    {"0\r\nX : 1\r\n\r\n", H1_CHUNK_ERROR, 4, "bad_trailer"},
    {"0\r\n\n", H1_CHUNK_ERROR, 3, "bad_trailer"},
    {"0\r\nX: 1\n\r\n", H1_CHUNK_ERROR, 7, "bad_trailer"},
};

static void
test_chunked(void **state)
{
	struct h1_chunk c;
	enum h1_chunk_result r;
	size_t used;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		memset(&c, 0, sizeof(c));
		r = h1_chunk_feed(&c, chunks[i].raw, strlen(chunks[i].raw),
				  &used);
		if (r != chunks[i].result || used != chunks[i].used) {
			fail_msg("case %zu: got %d used %zu (%s)", i, r, used,
				 c.why != NULL ? c.why : "-");
		}
		if (chunks[i].why != NULL) {
			assert_string_equal(c.why, chunks[i].why);
		}
	}
}

/* Split feeding gives the same verdict and consumption. */
static void
test_chunked_bytewise(void **state)
{
	struct h1_chunk c;
	enum h1_chunk_result r = H1_CHUNK_MORE;
	size_t used;
	size_t total;
	size_t len;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		memset(&c, 0, sizeof(c));
		len = strlen(chunks[i].raw);
		total = 0;
		r = H1_CHUNK_MORE;
		while (total < len && r == H1_CHUNK_MORE) {
			r = h1_chunk_feed(&c, chunks[i].raw + total, 1, &used);
			total += used;
		}
		assert_int_equal(r, chunks[i].result);
		assert_int_equal(total, chunks[i].used);
	}
}

static void
parse_resp(const char *raw, int head, struct h1_msg *m, int want)
{
	struct h1_scan s = {0};
	unsigned st;
	const char *why;
	long end = h1_scan_head(&s, raw, strlen(raw), &lim, &st, &why);

	assert_true(end > 0);
	assert_int_equal(h1_parse_response(raw, (size_t)end, &lim, head, m),
			 want);
}

static void
test_responses(void **state)
{
	struct h1_msg *m = new_msg();

	(void)state;
	parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 0, m, 0);
	assert_int_equal(m->framing, H1_BODY_LENGTH);
	assert_int_equal(m->keep_alive, 1);
	parse_resp("HTTP/1.1 200 OK\r\n\r\n", 0, m, 0);
	assert_int_equal(m->framing, H1_BODY_CLOSE);
	assert_int_equal(m->keep_alive, 0);
	parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
		   m, 0);
	assert_int_equal(m->framing, H1_BODY_CHUNKED);
	parse_resp("HTTP/1.1 204 No Content\r\n\r\n", 0, m, 0);
	assert_int_equal(m->framing, H1_BODY_NONE);
	assert_int_equal(m->keep_alive, 1);
	parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 1, m, 0);
	assert_int_equal(m->framing, H1_BODY_NONE);
	parse_resp("HTTP/1.1 100 Continue\r\n\r\n", 0, m, 0);
	assert_int_equal(m->status, 100);
	assert_int_equal(m->framing, H1_BODY_NONE);
	parse_resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, m, 0);
	assert_int_equal(m->status, 200);
	parse_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 0, m, 0);
	assert_int_equal(m->keep_alive, 0);
	parse_resp("HTTP/1.1 200 OK\r\nConnection: close\r\n"
		   "Content-Length: 1\r\n\r\n",
		   0, m, 0);
	assert_int_equal(m->keep_alive, 0);
	parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n",
		   0, m, -1);
	assert_string_equal(m->error, "cl_and_te");
	parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
		   "Content-Length: 2\r\n\r\n",
		   0, m, -1);
	parse_resp("HTTP/1.1 99 Odd\r\n\r\n", 0, m, -1);
	parse_resp("HTTP/1.1 200OK\r\n\r\n", 0, m, -1);
	parse_resp("HTTP/2 200 OK\r\n\r\n", 0, m, -1);
	free(m);
}

static void
test_rewrite_request(void **state)
{
	static const char raw[] = "POST /v1/chat?k=v HTTP/1.1\r\n"
				  "Host: model\r\n"
				  "Connection: keep-alive, X-Hop\r\n"
				  "X-Hop: drop me\r\n"
				  "Keep-Alive: timeout=5\r\n"
				  "Proxy-Authorization: Basic eA==\r\n"
				  "TE: trailers\r\n"
				  "Upgrade: websocket\r\n"
				  "X-Forwarded-Proto: http\r\n"
				  "X-Forwarded-For: 10.0.0.1\r\n"
				  "transfer-encoding: Chunked\r\n"
				  "Authorization:Bearer t\r\n"
				  "X-Forwarded-For: 10.0.0.2\r\n"
				  "Forwarded: for=6.6.6.6;host=evil\r\n"
				  "X-Forwarded-Host: evil\r\n"
				  "X-Real-IP: 6.6.6.6\r\n"
				  "\r\n";
	static const char want[] =
	    "POST /v1/chat?k=v HTTP/1.1\r\n"
	    "Host: model\r\n"
	    "transfer-encoding: chunked\r\n"
	    "Authorization: Bearer t\r\n"
	    "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 192.0.2.7\r\n"
	    "X-Forwarded-Proto: https\r\n"
	    "\r\n";
	struct h1_msg *m = new_msg();
	char out[1024];
	size_t n;

	(void)state;
	assert_int_equal(h1_parse_request(raw, sizeof(raw) - 1, &lim, m), 0);
	assert_int_equal(m->upgrade, 1);
	n = h1_write_request_head(raw, m, "192.0.2.7", out, sizeof(out));
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, n);
	/* Too small a buffer is refused, not overrun. */
	assert_int_equal(h1_write_request_head(raw, m, "192.0.2.7", out, 40),
			 0);
	free(m);
}

static void
test_rewrite_response(void **state)
{
	static const char raw[] = "HTTP/1.1 200 OK\r\n"
				  "Connection: X-Private\r\n"
				  "X-Private: s\r\n"
				  "Keep-Alive: timeout=5\r\n"
				  "Content-Length: 2\r\n"
				  "X-Kept: yes\r\n"
				  "\r\n";
	static const char want[] = "HTTP/1.1 200 OK\r\n"
				   "Content-Length: 2\r\n"
				   "X-Kept: yes\r\n"
				   "Connection: close\r\n"
				   "\r\n";
	struct h1_msg *m = new_msg();
	char out[512];
	size_t n;

	(void)state;
	assert_int_equal(h1_parse_response(raw, sizeof(raw) - 1, &lim, 0, m),
			 0);
	n = h1_write_response_head(raw, m, 1, out, sizeof(out));
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, n);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_requests),
	    cmocka_unit_test(test_good_paths),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_scan_incremental),
	    cmocka_unit_test(test_chunked),
	    cmocka_unit_test(test_chunked_bytewise),
	    cmocka_unit_test(test_responses),
	    cmocka_unit_test(test_rewrite_request),
	    cmocka_unit_test(test_rewrite_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
