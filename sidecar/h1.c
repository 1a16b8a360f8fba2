/*
 * h1.c: strict HTTP/1.x heads and chunked framing (RFC 9112).
 *
 * Everything here reads only the bytes it is given and writes only the
 * struct or buffer it is given; see h1.h for the decisions it enforces.
 */
#include <string.h>

#include "h1.h"

/* A write cursor over a fixed output buffer; fails instead of growing. */
struct h1_out {
	char *p;
	size_t len;
	size_t cap;
	int failed;
};

/* A head being parsed: the buffer and the next unread byte. */
struct h1_cur {
	const char *buf;
	size_t len;
	size_t pos;
};

/* Parsing state shared by the field handlers of one head. */
struct h1_fields {
	int have_length;
	int have_te;
	int have_host;
	int close;
	size_t ntokens;
	struct h1_span tokens[H1_CONN_TOKENS];
};

static int
is_tchar(unsigned char c)
{
	int yes = 0;

	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9')) {
		yes = 1;
	} else if (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL) {
		yes = 1;
	}
	return yes;
}

static int
is_vchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* A byte allowed inside a field value (RFC 9110 field-content). */
static int
is_field_byte(unsigned char c)
{
	return c == '\t' || c == ' ' || is_vchar(c) || c >= 0x80;
}

static int
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int
hex_value(unsigned char c)
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

static unsigned char
lower(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		c = (unsigned char)(c - 'A' + 'a');
	}
	return c;
}

/* Case-insensitive equality of n bytes. */
static int
ci_eq(const char *a, const char *b, size_t n)
{
	size_t i;
	int eq = 1;

	for (i = 0; i < n && eq; i++) {
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) {
			eq = 0;
		}
	}
	return eq;
}

int
h1_span_eq(const char *buf, struct h1_span sp, const char *s)
{
	size_t n = strlen(s);

	return sp.len == n && ci_eq(buf + sp.off, s, n);
}

static int
span_eq_span(const char *buf, struct h1_span a, struct h1_span b)
{
	return a.len == b.len && ci_eq(buf + a.off, buf + b.off, a.len);
}

static int
span_has_prefix(const char *buf, struct h1_span sp, const char *prefix)
{
	size_t n = strlen(prefix);

	return sp.len >= n && ci_eq(buf + sp.off, prefix, n);
}

static struct h1_span
span(size_t off, size_t len)
{
	struct h1_span sp = {(uint32_t)off, (uint32_t)len};

	return sp;
}

/* Record why a head is refused; returns -1 for the caller's rc. */
static int
fail(struct h1_msg *m, unsigned status, const char *why)
{
	m->error_status = status;
	m->error = why;
	return -1;
}

/* Length of the line ending at s->pos - 1 ('\n'), CR excluded. */
static size_t
scan_line_len(const struct h1_scan *s, const char *buf)
{
	size_t n = s->pos - 1 - s->line_start;

	if (n > 0 && buf[s->pos - 2] == '\r') {
		n--;
	}
	return n;
}

/*
 * Account for the line that just ended. Returns 1 at the end of the head,
 * 0 to go on, -1 with *status and *why set.
 */
static int
scan_one_line(struct h1_scan *s, const char *buf, const struct h1_limits *lim,
	      unsigned *status, const char **why)
{
	size_t n = scan_line_len(s, buf);
	int rc = 0;

	if (n == 0 && s->lines > 0) {
		rc = 1;
	} else if (n == 0) {
		/* RFC 9112 §2.2: empty lines before a head may be ignored. */
		if (s->pos - s->line_start != 2) {
			*status = 400;
			*why = "bare_lf";
			rc = -1;
		} else if (++s->empty > H1_LEADING_CRLF) {
			*status = 400;
			*why = "leading_empty_lines";
			rc = -1;
		}
		s->line_start = s->pos;
		s->start = s->pos;
	} else if (s->lines == 0 && n > lim->line_bytes) {
		*status = 414;
		*why = "request_line_too_long";
		rc = -1;
	} else {
		s->lines++;
		s->line_start = s->pos;
	}
	return rc;
}

long
h1_scan_head(struct h1_scan *s, const char *buf, size_t len,
	     const struct h1_limits *lim, unsigned *status, const char **why)
{
	const char *nl;
	long rc = 0;
	int r = 0;

	while (s->pos < len && r == 0) {
		nl = memchr(buf + s->pos, '\n', len - s->pos);
		if (nl == NULL) {
			s->pos = len;
			break;
		}
		s->pos = (size_t)(nl - buf) + 1;
		r = scan_one_line(s, buf, lim, status, why);
	}

	if (r < 0) {
		rc = -1;
	} else if (s->pos - s->start > lim->head_bytes) {
		*status = 431;
		*why = "head_too_large";
		rc = -1;
	} else if (r > 0) {
		rc = (long)s->pos;
	} else if (s->lines == 0 && len - s->line_start > lim->line_bytes) {
		*status = 414;
		*why = "request_line_too_long";
		rc = -1;
	}
	return rc;
}

/*
 * Find the line at c->pos: sets *line and *n (CRLF excluded) and moves
 * past it. Returns 0, or -1 for a line not ending in CRLF or holding a
 * bare CR.
 */
static int
next_line(struct h1_cur *c, size_t *line, size_t *n)
{
	const char *nl;
	size_t end;
	int rc = -1;

	nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
	if (nl == NULL) {
		goto out;
	}
	end = (size_t)(nl - c->buf);
	if (end == c->pos || c->buf[end - 1] != '\r') {
		goto out;
	}
	if (memchr(c->buf + c->pos, '\r', end - 1 - c->pos) != NULL) {
		goto out;
	}

	*line = c->pos;
	*n = end - 1 - c->pos;
	c->pos = end + 1;
	rc = 0;
out:
	return rc;
}

/*
 * "HTTP/1.0" or "HTTP/1.1" in the n bytes at p. Returns 0, -2 for
 * another well-formed version, -1 for anything else.
 */
static int
parse_version(const char *p, size_t n, unsigned *minor)
{
	int rc = -1;

	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' ||
	    p[5] > '9' || p[7] < '0' || p[7] > '9') {
		goto out;
	}
	rc = -2;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) {
		goto out;
	}

	*minor = (unsigned)(p[7] - '0');
	rc = 0;
out:
	return rc;
}

/* End of the run of bytes from i that pass ok(). */
static size_t
run_of(const char *buf, size_t i, size_t end, int (*ok)(unsigned char))
{
	while (i < end && ok((unsigned char)buf[i])) {
		i++;
	}
	return i;
}

/* method SP request-target SP HTTP-version, single spaces only. */
static int
parse_request_line(const char *buf, size_t line, size_t n,
		   const struct h1_limits *lim, struct h1_msg *m)
{
	size_t end = line + n;
	size_t i;
	size_t t;
	int v;
	int rc = -1;

	if (n > lim->line_bytes) {
		rc = fail(m, 414, "request_line_too_long");
		goto out;
	}

	i = run_of(buf, line, end, is_tchar);
	if (i == line || i - line > H1_METHOD_MAX) {
		rc = fail(m, 400, "bad_method");
		goto out;
	}
	m->method = span(line, i - line);
	if (i >= end || buf[i] != ' ') {
		rc = fail(m, 400, "bad_request_line");
		goto out;
	}

	t = i + 1;
	i = run_of(buf, t, end, is_vchar);
	if (i == t || i >= end || buf[i] != ' ') {
		rc = fail(m, 400, "bad_request_line");
		goto out;
	}
	if (memchr(buf + t, '#', i - t) != NULL) {
		/* No request-target form has a fragment (RFC 9112 §3.2). */
		rc = fail(m, 400, "bad_request_line");
		goto out;
	}
	m->target = span(t, i - t);

	v = parse_version(buf + i + 1, end - i - 1, &m->minor);
	if (v == -2) {
		rc = fail(m, 505, "unsupported_version");
	} else if (v != 0) {
		rc = fail(m, 400, "bad_version");
	} else {
		rc = 0;
	}
out:
	return rc;
}

/* Origin-form, or "*" for OPTIONS; sets m->path. */
static int
check_target(const char *buf, struct h1_msg *m)
{
	const char *t = buf + m->target.off;
	const char *q;
	int rc = -1;

	if (t[0] == '*' && m->target.len == 1 &&
	    h1_span_eq(buf, m->method, "OPTIONS")) {
		m->path = m->target;
		rc = 0;
	} else if (t[0] != '/') {
		rc = fail(m, 400, "target_form");
	} else {
		m->path = m->target;
		q = memchr(t, '?', m->target.len);
		if (q != NULL) {
			m->path.len = (uint32_t)(q - t);
		}
		rc = 0;
	}
	return rc;
}

/* Split one field line into name and trimmed value. */
static int
parse_field(const char *buf, size_t line, size_t n, struct h1_header *h,
	    struct h1_msg *m)
{
	size_t end = line + n;
	size_t i;
	size_t v;
	int rc = -1;

	if (is_ows((unsigned char)buf[line])) {
		rc = fail(m, 400, "obs_fold");
		goto out;
	}
	i = run_of(buf, line, end, is_tchar);
	if (i < end && is_ows((unsigned char)buf[i])) {
		rc = fail(m, 400, "space_before_colon");
		goto out;
	}
	if (i == line || i >= end || buf[i] != ':') {
		rc = fail(m, 400, "bad_header_name");
		goto out;
	}
	h->name = span(line, i - line);

	v = run_of(buf, i + 1, end, is_ows);
	i = run_of(buf, v, end, is_field_byte);
	if (i != end) {
		rc = fail(m, 400, "bad_header_value");
		goto out;
	}
	while (i > v && is_ows((unsigned char)buf[i - 1])) {
		i--;
	}
	h->value = span(v, i - v);
	h->flags = 0;
	rc = 0;
out:
	return rc;
}

/* 1..H1_LENGTH_DIGITS decimal digits, nothing else (no sign, no list). */
static int
parse_length(const char *buf, struct h1_span sp, uint64_t *out)
{
	uint64_t v = 0;
	uint32_t i;
	int rc = -1;

	if (sp.len == 0 || sp.len > H1_LENGTH_DIGITS) {
		goto out;
	}
	for (i = 0; i < sp.len; i++) {
		if (buf[sp.off + i] < '0' || buf[sp.off + i] > '9') {
			goto out;
		}
		v = v * 10 + (uint64_t)(buf[sp.off + i] - '0');
	}

	*out = v;
	rc = 0;
out:
	return rc;
}

static int
is_host_byte(unsigned char c)
{
	int yes = 0;

	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9')) {
		yes = 1;
	} else if (c != '\0' && strchr("-._~!$&'()*+,;=:[]%", c) != NULL) {
		yes = 1;
	}
	return yes;
}

/* uri-host [":" port]: letters, digits and the RFC 3986 marks only. */
static int
valid_host(const char *buf, struct h1_span sp)
{
	size_t end = (size_t)sp.off + sp.len;

	return sp.len > 0 && run_of(buf, sp.off, end, is_host_byte) == end;
}

/*
 * Request fields that tell the backend who the client is or what it
 * asked for, which only we may say: a client's own would be believed.
 * X-Forwarded-For is kept (its values go in front of ours) and
 * X-Forwarded-Proto is dropped as hop-by-hop, in both directions.
 */
static int
is_ours_to_set(const char *buf, struct h1_span name)
{
	return h1_span_eq(buf, name, "forwarded") ||
	       h1_span_eq(buf, name, "x-forwarded-host") ||
	       h1_span_eq(buf, name, "x-forwarded-port") ||
	       h1_span_eq(buf, name, "x-forwarded-prefix") ||
	       h1_span_eq(buf, name, "x-real-ip");
}

/* Fields that mean "this hop only", or that we set ourselves. */
static int
is_hop_by_hop(const char *buf, struct h1_span name)
{
	static const char *const names[] = {
	    "connection",     "keep-alive",	   "te", "trailer", "upgrade",
	    "http2-settings", "x-forwarded-proto", NULL,
	};
	size_t i;
	int yes = span_has_prefix(buf, name, "proxy-");

	for (i = 0; names[i] != NULL && !yes; i++) {
		yes = h1_span_eq(buf, name, names[i]);
	}
	return yes;
}

/* Note one Connection token: "close", or a field name to drop. */
static int
connection_token(const char *buf, struct h1_span tok, struct h1_fields *f,
		 struct h1_msg *m)
{
	int rc = 0;

	if (h1_span_eq(buf, tok, "close")) {
		f->close = 1;
	} else if (h1_span_eq(buf, tok, "content-length") ||
		   h1_span_eq(buf, tok, "transfer-encoding") ||
		   h1_span_eq(buf, tok, "host")) {
		/* Dropping these would change framing or routing. */
		rc = fail(m, 400, "bad_connection");
	} else if (f->ntokens == H1_CONN_TOKENS) {
		rc = fail(m, 400, "bad_connection");
	} else {
		f->tokens[f->ntokens++] = tok;
	}
	return rc;
}

/* 1#token with optional whitespace and empty list elements. */
static int
parse_connection(const char *buf, struct h1_span v, struct h1_fields *f,
		 struct h1_msg *m)
{
	size_t i = v.off;
	size_t end = (size_t)v.off + v.len;
	size_t t;
	int rc = 0;

	while (i < end && rc == 0) {
		while (i < end &&
		       (is_ows((unsigned char)buf[i]) || buf[i] == ',')) {
			i++;
		}
		if (i == end) {
			break;
		}
		t = i;
		i = run_of(buf, t, end, is_tchar);
		if (i == t) {
			rc = fail(m, 400, "bad_connection");
			break;
		}
		rc = connection_token(buf, span(t, i - t), f, m);
		i = run_of(buf, i, end, is_ows);
		if (rc == 0 && i < end && buf[i] != ',') {
			rc = fail(m, 400, "bad_connection");
		}
	}
	return rc;
}

/* Fields that decide framing; the same rules for both directions. */
static int
classify_framing(const char *buf, struct h1_header *h, struct h1_fields *f,
		 struct h1_msg *m)
{
	int rc = 0;

	if (h1_span_eq(buf, h->name, "content-length")) {
		if (f->have_length) {
			rc = fail(m, 400, "duplicate_content_length");
		} else if (parse_length(buf, h->value, &m->content_length) !=
			   0) {
			rc = fail(m, 400, "bad_content_length");
		}
		f->have_length = 1;
	} else if (h1_span_eq(buf, h->name, "transfer-encoding")) {
		if (f->have_te) {
			rc = fail(m, 400, "duplicate_transfer_encoding");
		} else if (!h1_span_eq(buf, h->value, "chunked")) {
			rc = fail(m, 400, "bad_transfer_encoding");
		}
		f->have_te = 1;
		h->flags |= H1_HDR_TE;
	} else if (h1_span_eq(buf, h->name, "connection")) {
		rc = parse_connection(buf, h->value, f, m);
	}
	if (h1_span_eq(buf, h->name, "upgrade")) {
		m->upgrade = 1;
	}
	if (is_hop_by_hop(buf, h->name)) {
		h->flags |= H1_HDR_DROP;
	}
	return rc;
}

static int
classify_request_field(const char *buf, struct h1_header *h,
		       struct h1_fields *f, struct h1_msg *m)
{
	int rc = classify_framing(buf, h, f, m);

	if (rc != 0) {
		goto out;
	}
	if (h1_span_eq(buf, h->name, "host")) {
		if (f->have_host) {
			rc = fail(m, 400, "duplicate_host");
		} else if (!valid_host(buf, h->value)) {
			rc = fail(m, 400, "bad_host");
		}
		f->have_host = 1;
	} else if (h1_span_eq(buf, h->name, "x-forwarded-for")) {
		h->flags |= H1_HDR_XFF;
	} else if (is_ours_to_set(buf, h->name)) {
		h->flags |= H1_HDR_DROP;
	} else if (h1_span_eq(buf, h->name, "expect")) {
		if (!h1_span_eq(buf, h->value, "100-continue")) {
			rc = fail(m, 417, "unsupported_expectation");
		}
		m->expect_continue = 1;
	}
out:
	return rc;
}

static int
classify_response_field(const char *buf, struct h1_header *h,
			struct h1_fields *f, struct h1_msg *m)
{
	return classify_framing(buf, h, f, m);
}

/* Drop every field that a Connection field named (RFC 9110 §7.6.1). */
static void
drop_connection_tokens(const char *buf, const struct h1_fields *f,
		       struct h1_msg *m)
{
	size_t i;
	size_t t;

	for (i = 0; i < m->nheaders; i++) {
		for (t = 0; t < f->ntokens; t++) {
			if (span_eq_span(buf, m->headers[i].name,
					 f->tokens[t])) {
				m->headers[i].flags |= H1_HDR_DROP;
			}
		}
	}
}

/* Parse field lines from c->pos through the blank line ending the head. */
static int
parse_fields(struct h1_cur *c, const struct h1_limits *lim, int request,
	     struct h1_fields *f, struct h1_msg *m)
{
	struct h1_header *h;
	size_t line;
	size_t n;
	int rc = -1;

	for (;;) {
		if (next_line(c, &line, &n) != 0) {
			rc = fail(m, 400, "bad_line_ending");
			goto out;
		}
		if (n == 0) {
			break;
		}
		if (m->nheaders >= lim->headers ||
		    m->nheaders >= H1_HEADERS_MAX) {
			rc = fail(m, 431, "too_many_headers");
			goto out;
		}
		h = &m->headers[m->nheaders];
		if (parse_field(c->buf, line, n, h, m) != 0) {
			rc = -1;
			goto out;
		}
		if (request) {
			rc = classify_request_field(c->buf, h, f, m);
		} else {
			rc = classify_response_field(c->buf, h, f, m);
		}
		if (rc != 0) {
			goto out;
		}
		m->nheaders++;
	}

	if (c->pos != c->len) {
		rc = fail(m, 400, "trailing_bytes");
		goto out;
	}
	drop_connection_tokens(c->buf, f, m);
	rc = 0;
out:
	return rc;
}

static void
msg_reset(struct h1_msg *m)
{
	memset(m, 0, offsetof(struct h1_msg, headers));
}

/* Framing and persistence of a request, once every field is known. */
static int
request_framing(const struct h1_fields *f, struct h1_msg *m)
{
	int rc = -1;

	if (f->have_length && f->have_te) {
		rc = fail(m, 400, "cl_and_te");
	} else if (f->have_te && m->minor == 0) {
		rc = fail(m, 400, "te_in_http10");
	} else if (!f->have_host && m->minor == 1) {
		rc = fail(m, 400, "missing_host");
	} else {
		if (f->have_te) {
			m->framing = H1_BODY_CHUNKED;
		} else if (f->have_length && m->content_length > 0) {
			m->framing = H1_BODY_LENGTH;
		}
		/* HTTP/1.0 keep-alive is not offered. */
		m->keep_alive = m->minor == 1 && !f->close;
		rc = 0;
	}
	return rc;
}

int
h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim,
		 struct h1_msg *m)
{
	struct h1_cur c = {buf, len, 0};
	struct h1_fields f = {0};
	size_t line;
	size_t n;
	int rc = -1;

	msg_reset(m);
	if (len > lim->head_bytes || len > H1_HEAD_MAX) {
		rc = fail(m, 431, "head_too_large");
		goto out;
	}
	if (next_line(&c, &line, &n) != 0 || n == 0) {
		rc = fail(m, 400, "bad_line_ending");
		goto out;
	}
	if (parse_request_line(buf, line, n, lim, m) != 0 ||
	    check_target(buf, m) != 0 || parse_fields(&c, lim, 1, &f, m) != 0) {
		goto out;
	}

	rc = request_framing(&f, m);
out:
	return rc;
}

static int
parse_status_line(const char *buf, size_t line, size_t n, struct h1_msg *m)
{
	const char *p = buf + line;
	int rc = -1;

	if (n < 12 || parse_version(p, 8, &m->minor) != 0 || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' ||
	    p[11] < '0' || p[11] > '9') {
		rc = fail(m, 400, "bad_status_line");
		goto out;
	}
	m->status =
	    (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));

	if (n == 12) {
		m->reason = span(line + 12, 0);
		rc = 0;
	} else if (p[12] != ' ' || run_of(buf, line + 13, line + n,
					  is_field_byte) != line + n) {
		rc = fail(m, 400, "bad_status_line");
	} else {
		m->reason = span(line + 13, n - 13);
		rc = 0;
	}
out:
	return rc;
}

/* Framing and persistence of a response, once every field is known. */
static int
response_framing(const struct h1_fields *f, int head_request, struct h1_msg *m)
{
	int rc = -1;

	if (f->have_length && f->have_te) {
		rc = fail(m, 400, "cl_and_te");
		goto out;
	}
	if (head_request || m->status < 200 || m->status == 204 ||
	    m->status == 304) {
		m->framing = H1_BODY_NONE;
	} else if (f->have_te) {
		m->framing = H1_BODY_CHUNKED;
	} else if (f->have_length) {
		m->framing =
		    m->content_length > 0 ? H1_BODY_LENGTH : H1_BODY_NONE;
	} else {
		m->framing = H1_BODY_CLOSE;
	}
	m->keep_alive =
	    m->minor == 1 && !f->close && m->framing != H1_BODY_CLOSE;
	rc = 0;
out:
	return rc;
}

int
h1_parse_response(const char *buf, size_t len, const struct h1_limits *lim,
		  int head_request, struct h1_msg *m)
{
	struct h1_cur c = {buf, len, 0};
	struct h1_fields f = {0};
	size_t line;
	size_t n;
	int rc = -1;

	msg_reset(m);
	if (len > lim->head_bytes || len > H1_HEAD_MAX) {
		rc = fail(m, 431, "head_too_large");
		goto out;
	}
	if (next_line(&c, &line, &n) != 0) {
		rc = fail(m, 400, "bad_line_ending");
		goto out;
	}
	if (parse_status_line(buf, line, n, m) != 0 ||
	    parse_fields(&c, lim, 0, &f, m) != 0) {
		goto out;
	}

	rc = response_framing(&f, head_request, m);
out:
	return rc;
}

static void
out_put(struct h1_out *o, const void *p, size_t n)
{
	if (o->failed || n > o->cap - o->len) {
		o->failed = 1;
	} else {
		memcpy(o->p + o->len, p, n);
		o->len += n;
	}
}

static void
out_puts(struct h1_out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void
out_span(struct h1_out *o, const char *buf, struct h1_span sp)
{
	out_put(o, buf + sp.off, sp.len);
}

/* Every field not dropped or skipped, as "Name: value" CRLF. */
static void
out_fields(struct h1_out *o, const char *buf, const struct h1_msg *m,
	   uint32_t skip)
{
	const struct h1_header *h;
	size_t i;

	for (i = 0; i < m->nheaders; i++) {
		h = &m->headers[i];
		if ((h->flags & (H1_HDR_DROP | skip)) != 0) {
			continue;
		}
		out_span(o, buf, h->name);
		out_puts(o, ": ");
		if ((h->flags & H1_HDR_TE) != 0) {
			out_puts(o, "chunked");
		} else {
			out_span(o, buf, h->value);
		}
		out_puts(o, "\r\n");
	}
}

size_t
h1_write_request_head(const char *buf, const struct h1_msg *m,
		      const char *client_ip, char *out, size_t cap)
{
	struct h1_out o = {out, 0, cap, 0};
	const struct h1_header *h;
	size_t i;

	out_span(&o, buf, m->method);
	out_puts(&o, " ");
	out_span(&o, buf, m->target);
	out_puts(&o, m->minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	out_fields(&o, buf, m, H1_HDR_XFF);

	out_puts(&o, "X-Forwarded-For: ");
	for (i = 0; i < m->nheaders; i++) {
		h = &m->headers[i];
		if ((h->flags & H1_HDR_XFF) != 0 && h->value.len > 0) {
			out_span(&o, buf, h->value);
			out_puts(&o, ", ");
		}
	}
	out_puts(&o, client_ip);
	out_puts(&o, "\r\nX-Forwarded-Proto: https\r\n\r\n");
	return o.failed ? 0 : o.len;
}

size_t
h1_write_response_head(const char *buf, const struct h1_msg *m, int add_close,
		       char *out, size_t cap)
{
	struct h1_out o = {out, 0, cap, 0};
	size_t line = (size_t)m->reason.off + m->reason.len + 2;

	/* The status line is kept as received; it ends in CRLF. */
	out_put(&o, buf, line);
	out_fields(&o, buf, m, 0);
	if (add_close) {
		out_puts(&o, "Connection: close\r\n");
	}
	out_puts(&o, "\r\n");
	return o.failed ? 0 : o.len;
}

enum chunk_state {
	CH_SIZE0,	  /* first hex digit of a chunk size */
	CH_SIZE,	  /* more hex digits, ';' or CR */
	CH_EXT,		  /* chunk extensions up to CR */
	CH_SIZE_LF,	  /* LF ending the size line */
	CH_DATA,	  /* chunk data */
	CH_DATA_CR,	  /* CR after chunk data */
	CH_DATA_LF,	  /* LF after chunk data */
	CH_TRAILER,	  /* start of a trailer line, or CR of the end */
	CH_TRAILER_NAME,  /* trailer field name */
	CH_TRAILER_VALUE, /* trailer field value up to CR */
	CH_TRAILER_LF,	  /* LF ending a trailer line */
	CH_END_LF,	  /* LF ending the body */
	CH_DONE,
};

static enum h1_chunk_result
chunk_error(struct h1_chunk *c, const char *why)
{
	c->why = why;
	return H1_CHUNK_ERROR;
}

/* One byte of a chunk-size line (with extensions). */
static enum h1_chunk_result
chunk_size_byte(struct h1_chunk *c, unsigned char b)
{
	enum h1_chunk_result r = H1_CHUNK_MORE;
	int v = hex_value(b);

	if (++c->line > H1_CHUNK_LINE_MAX) {
		r = chunk_error(c, "chunk_line_too_long");
	} else if (c->state == CH_SIZE0 && v >= 0) {
		c->left = (uint64_t)v;
		c->digits = 1;
		c->state = CH_SIZE;
	} else if (c->state == CH_SIZE0) {
		r = chunk_error(c, "bad_chunk_size");
	} else if (c->state == CH_SIZE && v >= 0) {
		if (++c->digits > H1_CHUNK_DIGITS) {
			r = chunk_error(c, "chunk_size_overflow");
		}
		c->left = (c->left << 4) | (uint64_t)v;
	} else if (c->state == CH_SIZE && b == ';') {
		c->state = CH_EXT;
	} else if (b == '\r') {
		c->state = CH_SIZE_LF;
	} else if (c->state != CH_EXT || !(is_vchar(b) || is_ows(b))) {
		r = chunk_error(c, "bad_chunk_size");
	}
	/* Extensions are forwarded as received; none has a meaning here. */
	return r;
}

int
h1_trailer_forbidden(const char *name, size_t len)
{
	static const char *const names[] = {
	    /* framing and routing */
	    "content-length",
	    "transfer-encoding",
	    "host",
	    /* hop-by-hop */
	    "connection",
	    "keep-alive",
	    "te",
	    "trailer",
	    "upgrade",
	    "http2-settings",
	    /* request controls */
	    "expect",
	    "max-forwards",
	    "range",
	    "cache-control",
	    "pragma",
	    /* authentication */
	    "authorization",
	    "cookie",
	    /* content format */
	    "content-type",
	    "content-encoding",
	    "content-range",
	    /* ours to set */
	    "forwarded",
	    "x-forwarded-for",
	    "x-forwarded-proto",
	    "x-forwarded-host",
	    "x-forwarded-port",
	    "x-forwarded-prefix",
	    "x-real-ip",
	    NULL,
	};
	size_t i;
	int yes = len >= 6 && ci_eq(name, "proxy-", 6);

	for (i = 0; names[i] != NULL && !yes; i++) {
		yes = strlen(names[i]) == len && ci_eq(name, names[i], len);
	}
	return yes;
}

void
h1_chunk_init_request(struct h1_chunk *c, const struct h1_limits *lim)
{
	memset(c, 0, sizeof(*c));
	c->max_fields = lim->headers;
	c->max_bytes = lim->head_bytes;
	c->check_names = 1;
}

/* A trailer field starts: count it against the ceiling. */
static enum h1_chunk_result
trailer_name_start(struct h1_chunk *c)
{
	size_t max = c->max_fields != 0 ? c->max_fields : H1_HEADERS_MAX;
	enum h1_chunk_result r = H1_CHUNK_MORE;

	if (++c->fields > max) {
		r = chunk_error(c, "too_many_trailers");
	}
	c->name_len = 0;
	c->state = CH_TRAILER_NAME;
	return r;
}

/* Keep the first bytes of the name; only they can match a refused one. */
static void
trailer_name_byte(struct h1_chunk *c, unsigned char b)
{
	if (c->name_len < H1_TRAILER_NAME_KEEP) {
		c->name[c->name_len] = (char)lower(b);
	}
	c->name_len++;
}

/* The name ended at its colon. */
static enum h1_chunk_result
trailer_name_end(struct h1_chunk *c)
{
	enum h1_chunk_result r = H1_CHUNK_MORE;
	int refused = 0;

	if (c->check_names && c->name_len <= H1_TRAILER_NAME_KEEP) {
		refused = h1_trailer_forbidden(c->name, c->name_len);
	} else if (c->check_names) {
		/* Longer than any refused name; "proxy-*" still shows. */
		refused = ci_eq(c->name, "proxy-", 6);
	}
	if (refused) {
		r = chunk_error(c, "forbidden_trailer");
	}
	c->state = CH_TRAILER_VALUE;
	return r;
}

/* One byte of the trailer section or of the final CRLF. */
static enum h1_chunk_result
chunk_trailer_byte(struct h1_chunk *c, unsigned char b)
{
	size_t max = c->max_bytes != 0 ? c->max_bytes : H1_TRAILERS_MAX;
	enum h1_chunk_result r = H1_CHUNK_MORE;

	if (++c->trailers > max) {
		r = chunk_error(c, "trailers_too_large");
	} else if (c->state == CH_TRAILER && b == '\r') {
		c->state = CH_END_LF;
	} else if (c->state == CH_TRAILER && is_tchar(b)) {
		r = trailer_name_start(c);
		trailer_name_byte(c, b);
	} else if (c->state == CH_TRAILER_NAME && b == ':') {
		r = trailer_name_end(c);
	} else if (c->state == CH_TRAILER_NAME && is_tchar(b)) {
		trailer_name_byte(c, b);
	} else if (c->state == CH_TRAILER_VALUE && b == '\r') {
		c->state = CH_TRAILER_LF;
	} else if (c->state == CH_TRAILER_VALUE && is_field_byte(b)) {
		/* more of the value */
	} else if (c->state == CH_TRAILER_LF && b == '\n') {
		c->state = CH_TRAILER;
	} else if (c->state == CH_END_LF && b == '\n') {
		c->state = CH_DONE;
	} else {
		r = chunk_error(c, "bad_trailer");
	}
	return r;
}

/* One byte of anything but chunk data. */
static enum h1_chunk_result
chunk_byte(struct h1_chunk *c, unsigned char b)
{
	enum h1_chunk_result r = H1_CHUNK_MORE;

	switch (c->state) {
	case CH_SIZE0:
	case CH_SIZE:
	case CH_EXT:
		r = chunk_size_byte(c, b);
		break;
	case CH_SIZE_LF:
		if (b != '\n') {
			r = chunk_error(c, "bare_cr");
		}
		c->line = 0;
		c->state = c->left == 0 ? CH_TRAILER : CH_DATA;
		break;
	case CH_DATA_CR:
		if (b != '\r') {
			r = chunk_error(c, "chunk_data_overrun");
		}
		c->state = CH_DATA_LF;
		break;
	case CH_DATA_LF:
		if (b != '\n') {
			r = chunk_error(c, "bare_cr");
		}
		c->state = CH_SIZE0;
		break;
	default:
		r = chunk_trailer_byte(c, b);
		break;
	}
	return r;
}

enum h1_chunk_result
h1_chunk_feed(struct h1_chunk *c, const char *p, size_t n, size_t *used)
{
	enum h1_chunk_result r = H1_CHUNK_MORE;
	size_t i = 0;
	size_t k;

	if (c->state == CH_DONE) {
		r = H1_CHUNK_DONE;
	}
	while (i < n && r == H1_CHUNK_MORE) {
		if (c->state == CH_DATA) {
			k = n - i;
			if (k > c->left) {
				k = (size_t)c->left;
			}
			c->left -= k;
			c->payload += k;
			i += k;
			if (c->left == 0) {
				c->state = CH_DATA_CR;
			}
			continue;
		}
		r = chunk_byte(c, (unsigned char)p[i]);
		if (r == H1_CHUNK_ERROR) {
			break;
		}
		i++;
		if (c->state == CH_DONE) {
			r = H1_CHUNK_DONE;
		}
	}
	*used = i;
	return r;
}
