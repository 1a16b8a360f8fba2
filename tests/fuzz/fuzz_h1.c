/*
 * fuzz_h1.c: the HTTP/1 parser over arbitrary bytes.
 *
 * Besides "no crash, no sanitizer report", it checks properties:
 *   - an accepted request re-written for the backend parses again to the
 *     same method, target, framing and length, with no hop-by-hop field
 *     left (what we send is never more ambiguous than what we got);
 *   - the scanner finds the same end one byte at a time as in one pass;
 *   - the chunk validator gives the same verdict fed whole or split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"

#define FUZZ_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct h1_limits lim = {16384, 4096, 100};
static const struct h1_limits wide = {H1_HEAD_MAX, H1_HEAD_MAX, H1_HEADERS_MAX};

static void
check(int ok)
{
	if (!ok) {
		abort();
	}
}

static int
no_hop_by_hop(const char *buf, const struct h1_msg *m)
{
	static const char *const hop[] = {
	    "connection", "keep-alive",	      "te", "trailer",
	    "upgrade",	  "proxy-connection", NULL};
	size_t i;
	size_t k;
	int ok = 1;

	for (i = 0; i < m->nheaders; i++) {
		for (k = 0; hop[k] != NULL; k++) {
			if (h1_span_eq(buf, m->headers[i].name, hop[k])) {
				ok = 0;
			}
		}
	}
	return ok;
}

static void
request_round_trip(const char *head, size_t len, struct h1_msg *a,
		   struct h1_msg *b)
{
	size_t cap = len + a->nheaders + H1_REWRITE_SLACK;
	char *out = malloc(cap);
	size_t n;

	check(out != NULL);
	n = h1_write_request_head(head, a, "192.0.2.1", out, cap);
	check(n > 0);
	check(h1_parse_request(out, n, &wide, b) == 0);
	check(a->method.len == b->method.len &&
	      memcmp(head + a->method.off, out + b->method.off,
		     a->method.len) == 0);
	check(a->target.len == b->target.len &&
	      memcmp(head + a->target.off, out + b->target.off,
		     a->target.len) == 0);
	check(a->framing == b->framing);
	check(a->content_length == b->content_length);
	check(no_hop_by_hop(out, b));
	free(out);
}

static void
fuzz_request(const char *buf, size_t size, struct h1_msg *a, struct h1_msg *b)
{
	struct h1_scan s = {0};
	struct h1_scan t = {0};
	unsigned st = 0;
	const char *why = NULL;
	long end;
	long step = 0;
	size_t k;

	end = h1_scan_head(&s, buf, size, &lim, &st, &why);
	for (k = 1; k <= size && step == 0; k++) {
		step = h1_scan_head(&t, buf, k, &lim, &st, &why);
	}
	check(end == step || (end < 0 && step < 0));
	if (end > 0 && h1_parse_request(buf + s.start, (size_t)end - s.start,
					&lim, a) == 0) {
		request_round_trip(buf + s.start, (size_t)end - s.start, a, b);
	}
}

static void
fuzz_response(const char *buf, size_t size, struct h1_msg *a)
{
	struct h1_scan s = {0};
	unsigned st = 0;
	const char *why = NULL;
	char out[FUZZ_MAX + H1_HEADERS_MAX + 64];
	long end;

	end = h1_scan_head(&s, buf, size, &wide, &st, &why);
	if (end > 0 && s.start == 0 &&
	    h1_parse_response(buf, (size_t)end, &wide, size & 1, a) == 0) {
		check(h1_write_response_head(buf, a, 1, out, sizeof(out)) > 0);
	}
}

static void
fuzz_chunked(const char *buf, size_t size)
{
	struct h1_chunk whole = {0};
	struct h1_chunk split = {0};
	enum h1_chunk_result r1;
	enum h1_chunk_result r2;
	size_t u1 = 0;
	size_t u2 = 0;
	size_t cut = size / 2;
	size_t used = 0;

	r1 = h1_chunk_feed(&whole, buf, size, &u1);
	r2 = h1_chunk_feed(&split, buf, cut, &used);
	u2 = used;
	if (r2 == H1_CHUNK_MORE) {
		r2 = h1_chunk_feed(&split, buf + cut, size - cut, &used);
		u2 += used;
	}
	check(r1 == r2 && u1 == u2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h1_msg *a;
	struct h1_msg *b;
	const char *buf = (const char *)data;

	if (size > FUZZ_MAX) {
		return 0;
	}
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	check(a != NULL && b != NULL);
	fuzz_request(buf, size, a, b);
	fuzz_response(buf, size, a);
	fuzz_chunked(buf, size);
	free(a);
	free(b);
	return 0;
}
