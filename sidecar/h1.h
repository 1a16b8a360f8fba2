/*
 * h1.h: strict HTTP/1.x message heads and chunked framing (RFC 9112).
 *
 * Pure functions over bytes: no I/O, no allocation, no global state, so
 * the fuzzer and the unit tests drive exactly the code the proxy runs.
 *
 * The proxy uses three steps per head:
 *   1. h1_scan_head() finds the end of a head incrementally, so bytes that
 *      trickle in are looked at once, and enforces the size ceilings early.
 *   2. h1_parse_request() / h1_parse_response() validate the complete head
 *      and fill a struct h1_msg with offsets into the caller's buffer.
 *   3. h1_write_request_head() / h1_write_response_head() re-serialise the
 *      head for the other side: hop-by-hop fields removed, CRLF only.
 * Bodies are forwarded byte for byte; h1_chunk_feed() validates chunked
 * framing on the way so that only a well-formed prefix is ever forwarded.
 *
 * Decisions (see docs/sidecar.md, "HTTP/1 parsing"):
 *   - Lines end in CRLF. A bare LF or a bare CR anywhere in a head or a
 *     chunk line is rejected (400), never repaired.
 *   - Content-Length with Transfer-Encoding, a repeated Content-Length or
 *     Transfer-Encoding field, a length that is not 1..18 digits, a
 *     transfer coding other than exactly "chunked", obs-fold, whitespace
 *     before a colon, control bytes in values: 400.
 *   - Only origin-form targets ("/...") and "*" for OPTIONS are accepted.
 *   - HTTP/1.1 requests need exactly one Host field.
 */
#ifndef SEALPOD_H1_H
#define SEALPOD_H1_H

#include <stddef.h>
#include <stdint.h>

/* Hard ceilings; configured limits must lie within them. */
#define H1_HEADERS_MAX	  256	       /* header fields in one head */
#define H1_HEAD_MAX	  (256 * 1024) /* bytes in one head */
#define H1_METHOD_MAX	  32	       /* bytes in a method token */
#define H1_CONN_TOKENS	  16	       /* tokens in Connection fields */
#define H1_LEADING_CRLF	  4	       /* empty lines tolerated before a head */
#define H1_CHUNK_LINE_MAX 4096	       /* chunk-size line with extensions */
#define H1_TRAILERS_MAX	  (16 * 1024)  /* bytes in a trailer section */
#define H1_CHUNK_DIGITS	  15	       /* hex digits in a chunk size */
#define H1_LENGTH_DIGITS  18	       /* decimal digits in Content-Length */
/* Extra room the rewriters may need beyond the raw head. */
#define H1_REWRITE_SLACK 256

struct h1_limits {
	size_t head_bytes; /* whole head: request line, fields, blank line */
	size_t line_bytes; /* request line; longer is 414 */
	size_t headers;	   /* field lines; more is 431 */
};

/* A byte range inside the caller's buffer. */
struct h1_span {
	uint32_t off;
	uint32_t len;
};

enum h1_framing {
	H1_BODY_NONE,	 /* no body */
	H1_BODY_LENGTH,	 /* content_length bytes */
	H1_BODY_CHUNKED, /* chunked coding, validated by h1_chunk_feed() */
	H1_BODY_CLOSE,	 /* response body runs until the server closes */
};

#define H1_HDR_DROP 0x1 /* hop-by-hop or ours to set: not forwarded */
#define H1_HDR_XFF  0x2 /* X-Forwarded-For: merged by the rewriter */
#define H1_HDR_TE   0x4 /* Transfer-Encoding: written as "chunked" */

struct h1_header {
	struct h1_span name;
	struct h1_span value; /* surrounding whitespace trimmed */
	uint32_t flags;
};

struct h1_msg {
	struct h1_span method; /* requests */
	struct h1_span target; /* requests: as received */
	struct h1_span path;   /* requests: target up to '?'; set (len > 0)
				  once the target is known valid, even if a
				  later field is refused */
	struct h1_span reason; /* responses */
	unsigned minor;	       /* HTTP/1.<minor>, 0 or 1 */
	unsigned status;       /* responses: 100..599 */
	enum h1_framing framing;
	uint64_t content_length;
	int keep_alive;	       /* the sender allows another message after */
	int expect_continue;   /* requests: Expect: 100-continue */
	int upgrade;	       /* an Upgrade field was present (dropped) */
	unsigned error_status; /* on failure: 400, 414, 417, 431, 505 */
	const char *error;     /* on failure: stable reason code */
	size_t nheaders;
	struct h1_header headers[H1_HEADERS_MAX];
};

/* State of h1_scan_head(); zero it before the first call for a head. */
struct h1_scan {
	size_t pos;	   /* next byte to look at */
	size_t line_start; /* first byte of the current line */
	size_t start;	   /* first byte after leading empty lines */
	unsigned lines;	   /* complete non-empty lines so far */
	unsigned empty;	   /* leading empty lines skipped */
};

/*
 * Look at buf[0..len) (the same buffer, growing, on every call) for the
 * end of a head. Returns the offset just past the blank line that ends
 * it (the head is buf[s->start .. return)), 0 when more bytes are needed,
 * or -1 when the bytes can no longer become an acceptable head; then
 * *status is 400, 414 or 431 and *why a reason code.
 */
long h1_scan_head(struct h1_scan *s, const char *buf, size_t len,
		  const struct h1_limits *lim, unsigned *status,
		  const char **why);

/*
 * Validate the request head buf[0..len) (as delimited by h1_scan_head,
 * blank line included) and fill m. Returns 0, or -1 with m->error_status
 * and m->error set. Spans in m are offsets into buf.
 */
int h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim,
		     struct h1_msg *m);

/*
 * Validate a response head from the backend. head_request is 1 when the
 * request was HEAD (the response then has no body whatever it says).
 * Returns 0, or -1 with m->error set (the proxy answers 502).
 */
int h1_parse_response(const char *buf, size_t len, const struct h1_limits *lim,
		      int head_request, struct h1_msg *m);

/*
 * Write the request head for the backend into out (cap bytes; len of the
 * raw head plus H1_REWRITE_SLACK always suffices): request line, every
 * field not marked H1_HDR_DROP, one merged X-Forwarded-For ending in
 * client_ip, X-Forwarded-Proto: https, blank line. Returns the length,
 * or 0 when cap is too small.
 */
size_t h1_write_request_head(const char *buf, const struct h1_msg *m,
			     const char *client_ip, char *out, size_t cap);

/*
 * Write the response head for the client into out: status line, fields
 * not marked H1_HDR_DROP, "Connection: close" when add_close. Needs at
 * most the raw length plus nheaders plus 32 bytes. Returns the length,
 * or 0 when cap is too small.
 */
size_t h1_write_response_head(const char *buf, const struct h1_msg *m,
			      int add_close, char *out, size_t cap);

/* Bytes of a trailer field name kept to compare with the refused ones. */
#define H1_TRAILER_NAME_KEEP 32

/*
 * Chunked-body validator state; zero it before a body (responses), or
 * set it up with h1_chunk_init_request() (requests).
 */
struct h1_chunk {
	unsigned state;
	unsigned digits;
	uint64_t left;	  /* data bytes left in the current chunk */
	size_t line;	  /* bytes in the current size or trailer line */
	size_t trailers;  /* bytes in the trailer section */
	const char *why;  /* reason code after H1_CHUNK_ERROR */
	uint64_t payload; /* data bytes seen, for accounting */
	/* Trailer checks (request trailers; zero: only the ceilings). */
	size_t max_fields; /* trailer fields; 0: H1_HEADERS_MAX */
	size_t max_bytes;  /* trailer section; 0: H1_TRAILERS_MAX */
	int check_names;   /* refuse h1_trailer_forbidden() names */
	size_t fields;	   /* trailer fields so far */
	size_t name_len;   /* bytes of the current trailer field name */
	char name[H1_TRAILER_NAME_KEEP]; /* its first bytes, lower case */
};

enum h1_chunk_result { H1_CHUNK_MORE, H1_CHUNK_DONE, H1_CHUNK_ERROR };

/*
 * Consume up to n bytes of a chunked body. *used is set to the bytes
 * consumed: all n for H1_CHUNK_MORE, up to and including the final CRLF
 * for H1_CHUNK_DONE (later bytes belong to the next message), the valid
 * prefix for H1_CHUNK_ERROR (c->why says what was wrong).
 */
enum h1_chunk_result h1_chunk_feed(struct h1_chunk *c, const char *p, size_t n,
				   size_t *used);

/*
 * Zero c for a request body and apply the head limits to its trailer
 * section: at most lim->headers fields and lim->head_bytes bytes, and
 * no field that h1_trailer_forbidden() names ("forbidden_trailer").
 */
void h1_chunk_init_request(struct h1_chunk *c, const struct h1_limits *lim);

/*
 * 1 when a request trailer field named name[0..len) (any case) must be
 * refused: it would change framing, routing, authentication, request
 * controls or content format if a recipient merged it into the head, or
 * it is hop-by-hop or set by us (RFC 9110 §6.5.1, §7.6.1). 0 otherwise.
 */
int h1_trailer_forbidden(const char *name, size_t len);

/* Case-insensitive match of a span of buf against a NUL-terminated s. */
int h1_span_eq(const char *buf, struct h1_span sp, const char *s);

#endif
