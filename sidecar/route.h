/*
 * route.h: which requests may reach the model server.
 *
 * A route is a path prefix and a set of methods (and whether WebSocket
 * upgrades are allowed on it). A request's path is normalised first:
 * percent-encoded unreserved characters decoded, other escapes written
 * in upper case, dot segments resolved and empty segments collapsed, so
 * "/v1/../admin", "/v1/%2e%2e/admin" and "//admin" all become "/admin".
 * The normalised path is both what is matched and what is forwarded.
 * Routes are tried in order; the first whose prefix and method both
 * match wins. Anything else is 404 and never reaches the backend.
 */
#ifndef SEALPOD_ROUTE_H
#define SEALPOD_ROUTE_H

#include <stddef.h>

/* Ceilings on a route table. */
#define ROUTE_MAX	 32
#define ROUTE_PREFIX_MAX 256

/* Methods a route may name; "*" in the configuration means all of them. */
#define ROUTE_GET     0x01u
#define ROUTE_HEAD    0x02u
#define ROUTE_POST    0x04u
#define ROUTE_PUT     0x08u
#define ROUTE_PATCH   0x10u
#define ROUTE_DELETE  0x20u
#define ROUTE_OPTIONS 0x40u
#define ROUTE_ALL     0x7fu

struct route {
	char prefix[ROUTE_PREFIX_MAX + 1];
	size_t prefix_len;
	unsigned methods;
	int websocket; /* upgrades to WebSocket allowed */
};

struct route_table {
	struct route r[ROUTE_MAX];
	size_t n;
};

/*
 * The default table: POST /v1/chat/completions, /v1/completions,
 * /v1/embeddings; GET and HEAD /v1/models and /health.
 */
void route_defaults(struct route_table *t);

/*
 * Parse one configured route (a CONF_RECORDS item: "prefix=...",
 * "methods[]=..." lines, "websocket=true|false") into out. Returns 0, or
 * -1 with *problem set to a static description.
 */
int route_parse(const char *record, struct route *out, const char **problem);

/* The ROUTE_* bit of a request method (len bytes), 0 if none. */
unsigned route_method_bit(const char *m, size_t len);

/*
 * Normalise the origin-form path p[0..len) (no query) into out (cap
 * bytes, at least 2 * len + 2; the upper part is scratch), NUL-terminated.
 * Returns the length, or 0 with *why a reason code ("bad_path": not
 * origin-form, a bad or control escape, a backslash or a byte outside ASCII).
 */
size_t route_normalise(const char *p, size_t len, char *out, size_t cap,
		       const char **why);

/*
 * The route for the normalised path and method bit, or -1 with *status
 * (404 or 400) and *why: "no_route", "method_not_allowed" (both 404) or
 * "dot_segment" (400: after the prefix, a "." or ".." segment delimited
 * by an encoded slash, which a backend that decodes %2F would resolve).
 */
long route_match(const struct route_table *t, const char *path, size_t len,
		 unsigned method, unsigned *status, const char **why);

#endif
