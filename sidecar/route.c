/*
 * route.c: path normalisation and the route table (see route.h).
 */
#include <string.h>

#include "route.h"

static const struct {
	const char *name;
	unsigned bit;
} route_methods[] = {
    {"GET", ROUTE_GET},		{"HEAD", ROUTE_HEAD},
    {"POST", ROUTE_POST},	{"PUT", ROUTE_PUT},
    {"PATCH", ROUTE_PATCH},	{"DELETE", ROUTE_DELETE},
    {"OPTIONS", ROUTE_OPTIONS},
};

#define NMETHODS (sizeof(route_methods) / sizeof(route_methods[0]))

static void
add(struct route_table *t, const char *prefix, unsigned methods)
{
	struct route *r = &t->r[t->n++];

	memset(r, 0, sizeof(*r));
	r->prefix_len = strlen(prefix);
	memcpy(r->prefix, prefix, r->prefix_len + 1);
	r->methods = methods;
}

void
route_defaults(struct route_table *t)
{
	memset(t, 0, sizeof(*t));
	add(t, "/v1/chat/completions", ROUTE_POST);
	add(t, "/v1/completions", ROUTE_POST);
	add(t, "/v1/embeddings", ROUTE_POST);
	add(t, "/v1/models", ROUTE_GET | ROUTE_HEAD);
	add(t, "/health", ROUTE_GET | ROUTE_HEAD);
}

unsigned
route_method_bit(const char *m, size_t len)
{
	unsigned bit = 0;
	size_t i;

	for (i = 0; i < NMETHODS; i++) {
		if (strlen(route_methods[i].name) == len &&
		    memcmp(route_methods[i].name, m, len) == 0) {
			bit = route_methods[i].bit;
		}
	}
	return bit;
}

static int
hexval(char c)
{
	int v = -1;

	if (c >= '0' && c <= '9') {
		v = c - '0';
	} else if (c >= 'a' && c <= 'f') {
		v = c - 'a' + 10;
	} else if (c >= 'A' && c <= 'F') {
		v = c - 'A' + 10;
	}
	return v;
}

static int
unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/*
 * Decode escapes of unreserved characters into out and upper-case the
 * rest. Returns the length, or 0 on a bad byte or escape.
 */
static size_t
decode(const char *p, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 0;
	size_t n = 0;
	int hi;
	int lo;
	int v;

	while (i < len) {
		v = (unsigned char)p[i];
		if (v <= 0x20 || v >= 0x7f || v == '\\') {
			n = 0;
			break;
		}
		if (v != '%') {
			out[n++] = (char)v;
			i++;
			continue;
		}
		hi = i + 2 < len ? hexval(p[i + 1]) : -1;
		lo = i + 2 < len ? hexval(p[i + 2]) : -1;
		v = hi * 16 + lo;
		if (hi < 0 || lo < 0 || v < 0x20 || v >= 0x7f) {
			/*
			 * Escaped controls and NUL are refused. XXX: so is
			 * escaped non-ASCII (UTF-8 paths), kept simple
			 * until a model API needs it.
			 */
			n = 0;
			break;
		}
		if (unreserved(v)) {
			out[n++] = (char)v;
		} else {
			out[n++] = '%';
			out[n++] = hex[v >> 4];
			out[n++] = hex[v & 15];
		}
		i += 3;
	}
	return n;
}

/* Resolve dot segments and drop empty ones; in and out may not overlap. */
static size_t
resolve(const char *in, size_t len, char *out)
{
	size_t i = 0;
	size_t n = 0;
	size_t s;
	size_t seg;
	int slash_end = 0;

	while (i < len) {
		while (i < len && in[i] == '/') {
			i++;
		}
		s = i;
		while (i < len && in[i] != '/') {
			i++;
		}
		seg = i - s;
		slash_end = i == len ? seg == 0 : 0;
		if (seg == 0) {
			continue;
		}
		if (seg == 1 && in[s] == '.') {
			slash_end = 1;
		} else if (seg == 2 && in[s] == '.' && in[s + 1] == '.') {
			while (n > 0 && out[n - 1] != '/') {
				n--;
			}
			if (n > 0) {
				n--;
			}
			slash_end = 1;
		} else {
			out[n++] = '/';
			memcpy(out + n, in + s, seg);
			n += seg;
			slash_end = i == len ? 0 : slash_end;
		}
	}
	if (n == 0 || slash_end) {
		out[n++] = '/';
	}
	return n;
}

size_t
route_normalise(const char *p, size_t len, char *out, size_t cap,
		const char **why)
{
	char *dec;
	size_t n = 0;

	*why = "bad_path";
	if (len == 0 || p[0] != '/' || cap < 2 * len + 2) {
		goto out;
	}
	/*
	 * Decode into the upper half: decoding never grows the text and
	 * resolving writes at most one byte more than it reads, plus NUL.
	 */
	dec = out + len + 2;
	n = decode(p, len, dec);
	if (n == 0) {
		goto out;
	}
	n = resolve(dec, n, out);
	out[n] = '\0';
	*why = NULL;
out:
	return n;
}

static int
prefix_match(const struct route *r, const char *path, size_t len)
{
	int yes = 0;

	if (len >= r->prefix_len &&
	    memcmp(path, r->prefix, r->prefix_len) == 0) {
		/* "/v1/models" covers "/v1/models/x" but not "/v1/modelsx". */
		yes = r->prefix[r->prefix_len - 1] == '/' ||
		      len == r->prefix_len || path[r->prefix_len] == '/';
	}
	return yes;
}

static int
is_sep(const char *p, size_t i, size_t len)
{
	return p[i] == '/' || (i + 2 < len && p[i] == '%' &&
			       ((p[i + 1] == '2' && p[i + 2] == 'F') ||
				(p[i + 1] == '5' && p[i + 2] == 'C')));
}

/* A "." or ".." segment when %2F and %5C count as separators too. */
static int
hidden_dot_segment(const char *p, size_t len)
{
	size_t i = 0;
	size_t s;
	int found = 0;

	while (i < len && !found) {
		s = i;
		while (i < len && !is_sep(p, i, len)) {
			i++;
		}
		found = (i - s == 1 && p[s] == '.') ||
			(i - s == 2 && p[s] == '.' && p[s + 1] == '.');
		if (i < len) {
			i += p[i] == '/' ? 1 : 3;
		}
	}
	return found;
}

long
route_match(const struct route_table *t, const char *path, size_t len,
	    unsigned method, unsigned *status, const char **why)
{
	long idx = -1;
	size_t i;

	*status = 404;
	*why = "no_route";
	for (i = 0; i < t->n && idx < 0; i++) {
		if (!prefix_match(&t->r[i], path, len)) {
			continue;
		}
		*why = "method_not_allowed";
		if ((t->r[i].methods & method) != 0) {
			idx = (long)i;
		}
	}
	if (idx >= 0 && hidden_dot_segment(path, len)) {
		*status = 400;
		*why = "dot_segment";
		idx = -1;
	}
	return idx;
}

/* The value of a "key=" line, or NULL; *next is set past the line. */
static const char *
line_value(const char *line, const char *key, const char **next, size_t *vlen)
{
	const char *nl = strchr(line, '\n');
	size_t klen = strlen(key);
	const char *v = NULL;

	*next = nl != NULL ? nl + 1 : line + strlen(line);
	if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
		v = line + klen + 1;
		*vlen = (size_t)(*next - v) - (nl != NULL);
	}
	return v;
}

/* A configured prefix must already be in normal form. */
static const char *
check_prefix(const char *p, size_t len)
{
	char norm[2 * ROUTE_PREFIX_MAX + 2];
	const char *why = NULL;
	size_t n;

	if (len == 0 || len > ROUTE_PREFIX_MAX) {
		why = "prefix must be 1 to 256 bytes";
	} else if (p[0] != '/' || memchr(p, '%', len) != NULL ||
		   memchr(p, '?', len) != NULL || memchr(p, '#', len) != NULL) {
		why = "prefix must start with / and hold no %, ? or #";
	} else {
		n = route_normalise(p, len, norm, sizeof(norm), &why);
		if (n != len || memcmp(norm, p, len) != 0) {
			why = "prefix is not a normalised path";
		}
	}
	return why;
}

static const char *
parse_line(const char *line, struct route *out, int *have_prefix)
{
	const char *next;
	size_t vlen = 0;
	size_t mlen = 0;
	size_t wlen = 0;
	const char *v = line_value(line, "prefix", &next, &vlen);
	const char *m = line_value(line, "methods[]", &next, &mlen);
	const char *ws = line_value(line, "websocket", &next, &wlen);
	unsigned bit;
	const char *problem = NULL;

	if (v != NULL) {
		problem = check_prefix(v, vlen);
		if (problem == NULL) {
			memcpy(out->prefix, v, vlen);
			out->prefix[vlen] = '\0';
			out->prefix_len = vlen;
			*have_prefix = 1;
		}
	} else if (m != NULL) {
		bit = mlen == 1 && m[0] == '*' ? ROUTE_ALL
					       : route_method_bit(m, mlen);
		if (bit == 0) {
			problem = "methods: not one of GET HEAD POST PUT PATCH "
				  "DELETE OPTIONS *";
		}
		out->methods |= bit;
	} else if (ws != NULL) {
		if (wlen == 4 && memcmp(ws, "true", 4) == 0) {
			out->websocket = 1;
		} else if (!(wlen == 5 && memcmp(ws, "false", 5) == 0)) {
			problem = "websocket: expected true or false";
		}
	} else {
		problem = "unknown key (prefix, methods, websocket)";
	}
	return problem;
}

int
route_parse(const char *record, struct route *out, const char **problem)
{
	const char *line = record;
	const char *next;
	size_t dummy;
	int have_prefix = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	*problem = NULL;
	while (*line != '\0' && *problem == NULL) {
		*problem = parse_line(line, out, &have_prefix);
		(void)line_value(line, "", &next, &dummy);
		line = next;
	}
	if (*problem == NULL && !have_prefix) {
		*problem = "missing prefix";
	}
	if (*problem == NULL) {
		if (out->methods == 0) {
			out->methods = ROUTE_ALL;
		}
		rc = 0;
	}
	return rc;
}
