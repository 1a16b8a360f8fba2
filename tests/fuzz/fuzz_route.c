/*
 * fuzz_route.c: path normalisation and route matching over arbitrary
 * bytes, with properties checked on every input (abort() on violation):
 *
 *   - a normalised path starts with "/", holds no NUL, no "//", no "/./"
 *     or "/../" and does not end in "/." or "/..";
 *   - it holds only printable ASCII without a backslash, and every '%'
 *     starts an upper-case escape of a byte that is neither a control
 *     nor unreserved (those are always decoded);
 *   - normalising it again gives the same path (idempotent);
 *   - a path a route accepts stays under that route's prefix even for a
 *     backend that decodes %2F and %5C into separators and resolves dot
 *     segments after us. Encoded slashes are kept on purpose
 *     (docs/sidecar.md, Routing: "/v1/models/org%2Fmodel"), so the
 *     oracle checks what they could be used for, not their absence.
 *
 * Input: byte 0 picks the method, the rest is the path (no query).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

/* Longest path tried; normalising needs 2 * len + 2 bytes. */
#define FUZZ_PATH_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok) {
		abort();
	}
}

static void
table_init(struct route_table *t)
{
	static const char *const prefixes[] = {
	    "/v1/models", "/v1/chat/completions", "/v1/", "/a/b/", "/",
	};
	static const unsigned methods[] = {
	    ROUTE_GET | ROUTE_HEAD, ROUTE_POST,
	    ROUTE_POST | ROUTE_PUT, ROUTE_ALL,
	    ROUTE_OPTIONS,
	};
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		t->r[i].prefix_len = strlen(prefixes[i]);
		memcpy(t->r[i].prefix, prefixes[i], t->r[i].prefix_len + 1);
		t->r[i].methods = methods[i];
	}
	t->n = i;
}

static int
is_hex_upper(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static int
hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'A' + 10;
}

static int
unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* The shape every normalised path must have. */
static void
check_shape(const char *p, size_t n)
{
	size_t i;
	int v;

	check(n > 0 && p[0] == '/' && p[n] == '\0' && strlen(p) == n);
	check(strstr(p, "//") == NULL);
	check(strstr(p, "/./") == NULL && strstr(p, "/../") == NULL);
	check(!(n >= 2 && strcmp(p + n - 2, "/.") == 0));
	check(!(n >= 3 && strcmp(p + n - 3, "/..") == 0));
	for (i = 0; i < n; i++) {
		check(p[i] > 0x20 && p[i] < 0x7f && p[i] != '\\');
		if (p[i] != '%') {
			continue;
		}
		check(i + 2 < n);
		check(is_hex_upper(p[i + 1]) && is_hex_upper(p[i + 2]));
		v = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
		check(v >= 0x20 && v < 0x7f && !unreserved(v));
	}
}

/* What a backend that decodes %2F and %5C to "/" would make of p. */
static size_t
slash_decoded(const char *p, size_t n, char *out)
{
	size_t i = 0;
	size_t k = 0;

	while (i < n) {
		if (p[i] == '%' && p[i + 1] == '2' && p[i + 2] == 'F') {
			out[k++] = '/';
			i += 3;
		} else if (p[i] == '%' && p[i + 1] == '5' && p[i + 2] == 'C') {
			out[k++] = '/';
			i += 3;
		} else {
			out[k++] = p[i++];
		}
	}
	out[k] = '\0';
	return k;
}

static int
under_prefix(const struct route *r, const char *p, size_t n)
{
	int yes = 0;

	if (n >= r->prefix_len && memcmp(p, r->prefix, r->prefix_len) == 0) {
		yes = r->prefix[r->prefix_len - 1] == '/' ||
		      n == r->prefix_len || p[r->prefix_len] == '/';
	}
	return yes;
}

/* An accepted path cannot climb out of its route behind our back. */
static void
check_accepted(const struct route *r, const char *p, size_t n)
{
	char *dec = malloc(n + 1);
	char *again = malloc(2 * n + 2);
	const char *why = NULL;
	size_t k;
	size_t m;

	check(dec != NULL && again != NULL);
	check(under_prefix(r, p, n));
	k = slash_decoded(p, n, dec);
	m = route_normalise(dec, k, again, 2 * k + 2, &why);
	/* A refusal after decoding is fine: nothing then differs. */
	if (m > 0) {
		check(under_prefix(r, again, m));
	}
	free(dec);
	free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned bits[] = {
	    ROUTE_GET,	 ROUTE_HEAD,   ROUTE_POST,    ROUTE_PUT,
	    ROUTE_PATCH, ROUTE_DELETE, ROUTE_OPTIONS, 0,
	};
	struct route_table t;
	const char *path = (const char *)data + 1;
	const char *why = NULL;
	char *out = NULL;
	char *out2 = NULL;
	unsigned status = 0;
	size_t len;
	size_t n;
	size_t n2;
	long idx;

	if (size < 1 || size - 1 > FUZZ_PATH_MAX) {
		goto out;
	}
	len = size - 1;
	out = malloc(2 * len + 2);
	out2 = malloc(2 * len + 2);
	check(out != NULL && out2 != NULL);
	n = route_normalise(path, len, out, 2 * len + 2, &why);
	if (n == 0) {
		check(why != NULL);
		goto out;
	}
	check(why == NULL && n <= len + 1);
	check_shape(out, n);

	n2 = route_normalise(out, n, out2, 2 * len + 2, &why);
	check(n2 == n && memcmp(out, out2, n) == 0);

	table_init(&t);
	idx = route_match(&t, out, n, bits[data[0] & 7], &status, &why);
	if (idx >= 0) {
		check((size_t)idx < t.n);
		check((t.r[idx].methods & bits[data[0] & 7]) != 0);
		check_accepted(&t.r[idx], out, n);
	} else {
		check(status == 404 || status == 400);
		check(why != NULL);
	}
out:
	free(out);
	free(out2);
	return 0;
}
