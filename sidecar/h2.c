/*
 * h2.c: HTTP/2 client connections and their per-stream backends (h2.h).
 *
 * One struct h2_conn per connection owns the nghttp2 server session, the
 * list of open streams and a small pool of idle backend connections. A
 * stream borrows one backend connection (struct h2_be) for its exchange
 * and has two buffers: "body" holds request DATA not yet passed on
 * (never more than the stream window we grant, since the window only
 * reopens as bytes leave), "down" holds response bytes from the backend
 * not yet framed (never more than PROXY_BUF_SIZE for h1, the backend
 * window for h2c).
 * Nothing else is buffered, so a slow side stops the other through flow
 * control rather than memory.
 *
 * Backend reuse (h1 backends only): when a stream's exchange ended
 * cleanly, its connection goes back to the pool of the same client
 * connection, so it never serves another client identity and the worker
 * stays shared-nothing. "Cleanly" means the whole request was sent, the
 * response was framed to its end by Content-Length or the last chunk
 * with no byte after it, the backend did not ask to close, and nothing
 * failed; anything else closes it. A pooled connection that shows any
 * input (EOF, a reset, stray bytes) or idles H2_POOL_IDLE_NS is closed.
 * If a reused connection turns out closed before any response byte, a
 * GET, HEAD or OPTIONS request without a body is sent once more on a
 * new connection; any other request gets 502, since the backend may
 * have acted on it.
 *
 * nghttp2 callbacks run only inside nghttp2_session_mem_recv() and
 * nghttp2_session_mem_send(); the stream loop in h2_step() never calls
 * either on the client session, so a stream freed by on_stream_close
 * is never in use by the loop.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>

#include "accesslog.h"
#include "h1.h"
#include "h2.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "route.h"
#include "server.h"

#define SEC_NS 1000000000ull
#define MS_NS  1000000ull
/* Largest single read from the client or a backend. */
#define H2_READ_MAX (16 * 1024)
/* Room in "out" beyond H2_OUT_MAX: one frame always fits. */
#define H2_OUT_SLACK (16 * 1024 + 64)
/* How long after its start a stream's response counts as due. */
#define H2_DUE_NS (1000ull * 1000)
/* Ceiling on bytes queued for an h2c backend before its socket. */
#define H2_WIRE_MAX (64 * 1024)
/* Response header block from an h2c backend, as name\0value\0 pairs. */
#define H2_RESP_FIELDS_MAX (64 * 1024)
/* Most fields in a response or trailer block we pass on. */
#define H2_NV_MAX H1_HEADERS_MAX
/* Chunk-size line plus CRLFs written around a request body chunk. */
#define H2_FRAME_LINE 32
/* A pooled backend connection idle this long is closed, not reused. */
#define H2_POOL_IDLE_NS (1000ull * 1000 * 1000)

enum h2_mode { MODE_H1, MODE_H2C };

struct h2_pairs {
	struct strbuf sb; /* name\0value\0 ... */
	size_t n;
};

/* One backend connection: a stream's, or idle in its session's pool. */
struct h2_be {
	struct pollsrc src; /* registered once, for the connection's life */
	struct h2_conn *h;
	struct h2_stream *s; /* the stream it serves; NULL while pooled */
	struct h2_be *next;  /* pool, most recently used first */
	int fd;
	uint64_t idle_since;
	unsigned out : 1;   /* writable as last seen */
	unsigned stale : 1; /* input while pooled: EOF or bytes unasked for */
};

struct h2_stream {
	struct h2_conn *h;
	struct h2_stream *prev, *next;
	struct h2_be *bc; /* backend connection, while it has one */
	int32_t id;
	uint64_t deadline;

	/* Request as received. */
	char method[H1_METHOD_MAX + 1];
	char *path;
	char *authority;
	struct h2_pairs req;
	struct h2_pairs req_trailers; /* trailing HEADERS, checked */
	size_t trl_bytes;
	size_t hdr_bytes;
	unsigned local_status; /* refused while reading headers */
	const char *local_why;

	unsigned head_done : 1;	   /* request HEADERS complete */
	unsigned req_end : 1;	   /* client sent END_STREAM */
	unsigned req_chunked : 1;  /* h1: body sent chunked */
	unsigned req_last : 1;	   /* h1: last-chunk queued */
	unsigned head_request : 1; /* HEAD: no response body */
	unsigned submitted : 1;	   /* response HEADERS queued */
	unsigned deferred : 1;	   /* our data provider waits for bytes */
	unsigned be_deferred : 1;  /* the h2c provider waits for bytes */
	unsigned body_done : 1;	   /* the whole response body is framed */
	unsigned local : 1;	   /* the response is generated here */
	unsigned started : 1;	   /* backend opened (or local reply) */

	/* Backend socket. */
	int be_fd;
	unsigned be_in : 1;
	unsigned be_out : 1;
	unsigned be_connecting : 1;
	unsigned be_eof : 1;
	unsigned be_got : 1;  /* a response byte arrived */
	unsigned be_keep : 1; /* the response allows another request */
	unsigned reused : 1;  /* the connection came from the pool */
	unsigned retried : 1; /* already sent again on a new connection */

	/* Bytes for the backend: head, chunk lines (h1) or frames (h2c). */
	char *wire;
	size_t wire_len, wire_off, wire_cap;
	/* Request DATA payload not yet passed on. */
	char *body;
	size_t body_start, body_end, body_cap;
	uint64_t chunk_left; /* h1: payload bytes left in the open chunk */

	/* Response bytes from the backend. */
	char *down;
	size_t down_start, down_end, down_cap;
	size_t held_end; /* h1: end of a head waiting for its body, or 0 */
	struct h1_scan scan;
	enum h1_framing framing;
	uint64_t left;
	struct h1_chunk ck;
	unsigned in_data : 1; /* chunked: inside a chunk's data */

	/* h2c backend. */
	nghttp2_session *be;
	int32_t be_id;
	struct h2_pairs resp;
	struct h2_pairs trailers;
	unsigned resp_ready : 1;  /* response HEADERS complete */
	unsigned resp_nobody : 1; /* ... and ended the stream */
	unsigned be_done : 1;	  /* backend stream closed */
	unsigned be_failed : 1;	  /* ... with an error */

	/* Access log. */
	char path_log[PROXY_PATH_LOG_MAX + 1];
	unsigned status;
	const char *why;
	long route;	   /* index in the route table, or -1 */
	uint64_t head_in;  /* header fields as HTTP/1.1 text would take */
	uint64_t bytes_in; /* DATA payload from the client */
	uint64_t bytes_out;
	uint64_t t_start;
	uint64_t t_first;
};

struct h2_conn {
	struct conn *c;
	nghttp2_session *ng;
	struct h2_stream *streams;
	size_t nstreams;
	struct h2_be *pool; /* idle backend connections (h1 backends) */
	size_t npool;
	unsigned pool_stale : 1; /* a pooled connection saw input */
	enum h2_mode mode;
	char *out;
	size_t out_len, out_off;
	uint64_t rst_window; /* start of the current one-second window */
	uint64_t rst_count;
	uint64_t idle_deadline;
	const char *close_why;	 /* for streams still open at the end */
	unsigned dying : 1;	 /* GOAWAY queued: close once it is out */
	unsigned out_parked : 1; /* frames wait for a due response */
	unsigned holds;		 /* streams whose head waits for its body */
	unsigned eof : 1;	 /* the client left or the TLS session broke */
	unsigned progress : 1;
	unsigned fuzz : 1; /* h2_fuzz_feed(): streams get no backend */
};

int
h2_negotiated(SSL *ssl)
{
	const unsigned char *p = NULL;
	unsigned len = 0;

	SSL_get0_alpn_selected(ssl, &p, &len);
	return len == 2 && memcmp(p, "h2", 2) == 0;
}

static const struct sidecar_config *
cfg_of(const struct h2_conn *h)
{
	return h->c->w->srv->cfg;
}

static uint64_t
now_of(const struct h2_conn *h)
{
	return h->c->w->now;
}

/* ---- small buffers ---------------------------------------------------- */

/* Make room for n more bytes at the end of [start, end) within max. */
static int
buf_room(char **data, size_t *start, size_t *end, size_t *cap, size_t n,
	 size_t max)
{
	size_t want;
	char *p;
	int rc = -1;

	if (*start > 0 && *end + n > *cap) {
		memmove(*data, *data + *start, *end - *start);
		*end -= *start;
		*start = 0;
	}
	if (*end + n <= *cap) {
		rc = 0;
		goto out;
	}
	if (*end + n > max) {
		goto out;
	}
	want = *cap < 4096 ? 4096 : *cap * 2;
	if (want < *end + n) {
		want = *end + n;
	}
	if (want > max) {
		want = max;
	}
	p = realloc(*data, want);
	if (p == NULL) {
		goto out;
	}
	*data = p;
	*cap = want;
	rc = 0;
out:
	return rc;
}

static int
wire_add(struct h2_stream *s, const void *p, size_t n, size_t max)
{
	int rc;

	rc = buf_room(&s->wire, &s->wire_off, &s->wire_len, &s->wire_cap, n,
		      max);
	if (rc == 0) {
		memcpy(s->wire + s->wire_len, p, n);
		s->wire_len += n;
	}
	return rc;
}

static void
pairs_add(struct h2_pairs *pr, const uint8_t *name, size_t nlen,
	  const uint8_t *value, size_t vlen)
{
	strbuf_append(&pr->sb, name, nlen);
	strbuf_append(&pr->sb, "", 1);
	strbuf_append(&pr->sb, value, vlen);
	strbuf_append(&pr->sb, "", 1);
	pr->n++;
}

/* Walk name\0value\0 pairs: *pos is advanced; returns 0 at the end. */
static int
pairs_next(const struct h2_pairs *pr, size_t *pos, const char **name,
	   size_t *nlen, const char **value, size_t *vlen)
{
	int more = 0;

	if (pr->sb.buf != NULL && *pos < pr->sb.len) {
		*name = pr->sb.buf + *pos;
		*nlen = strlen(*name);
		*value = *name + *nlen + 1;
		*vlen = strlen(*value);
		*pos += *nlen + *vlen + 2;
		more = 1;
	}
	return more;
}

/* Whether name is one of names (NULL-ended), case-insensitively. */
static int
name_listed(const char *name, const char *const *names)
{
	size_t i;
	int yes = 0;

	for (i = 0; names[i] != NULL && !yes; i++) {
		yes = strcasecmp(name, names[i]) == 0;
	}
	return yes;
}

/* Fields that are per-hop in HTTP/1 and forbidden in HTTP/2. */
static int
conn_specific(const char *name)
{
	static const char *const names[] = {
	    "connection",
	    "keep-alive",
	    "proxy-connection",
	    "transfer-encoding",
	    "upgrade",
	    "http2-settings",
	    NULL,
	};

	return name_listed(name, names);
}

static char
lower_ascii(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static nghttp2_nv
mknv(const char *name, size_t nlen, const char *value, size_t vlen)
{
	nghttp2_nv nv;

	nv.name = (uint8_t *)(uintptr_t)name;
	nv.namelen = nlen;
	nv.value = (uint8_t *)(uintptr_t)value;
	nv.valuelen = vlen;
	nv.flags = NGHTTP2_NV_FLAG_NONE;
	return nv;
}

/* ---- backend connections and their pool ------------------------------ */

static void
be_destroy(struct h2_be *b)
{
	if (b->fd >= 0) {
		close(b->fd);
	}
	free(b);
}

/* Close pooled connections that saw input or idled too long (or all). */
static void
pool_sweep(struct h2_conn *h, int all)
{
	struct h2_be **pp = &h->pool;
	struct h2_be *b;

	while (*pp != NULL) {
		b = *pp;
		if (all || b->stale ||
		    now_of(h) - b->idle_since >= H2_POOL_IDLE_NS) {
			*pp = b->next;
			h->npool--;
			be_destroy(b);
		} else {
			pp = &b->next;
		}
	}
	h->pool_stale = 0;
}

/* The most recently pooled connection still fit for use, or NULL. */
static struct h2_be *
pool_take(struct h2_conn *h)
{
	struct h2_be *b = NULL;

	pool_sweep(h, 0);
	if (h->pool != NULL) {
		b = h->pool;
		h->pool = b->next;
		h->npool--;
		b->next = NULL;
	}
	return b;
}

/* ---- streams ---------------------------------------------------------- */

/* Close the stream's backend connection, if it still has one. */
static void
backend_close(struct h2_stream *s)
{
	if (s->bc != NULL) {
		be_destroy(s->bc);
		s->bc = NULL;
	}
	s->be_fd = -1;
	s->be_in = 0;
	s->be_out = 0;
	s->be_connecting = 0;
}

/* The exchange on s ended cleanly, so its connection may serve again. */
static int
reusable(const struct h2_stream *s)
{
	const struct h2_conn *h = s->h;
	char byte;
	ssize_t n;
	int ok;

	ok = h->mode == MODE_H1 && s->bc != NULL && !s->be_connecting &&
	     !s->be_eof && s->be_keep && s->body_done && !s->local &&
	     s->why == NULL && s->req_end && s->wire_off == s->wire_len &&
	     s->body_start == s->body_end && s->chunk_left == 0 &&
	     (!s->req_chunked || s->req_last) && s->down_start == s->down_end &&
	     h->npool < H2_POOL_MAX && !h->dying && !h->eof;
	if (ok && s->be_in) {
		/* Not read to EAGAIN: a waiting byte or EOF rules it out. */
		n = recv(s->be_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		ok = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
	return ok;
}

/* The stream is done with its backend: pool the connection or close it. */
static void
backend_release(struct h2_stream *s)
{
	struct h2_conn *h = s->h;
	struct h2_be *b = s->bc;

	if (b != NULL && reusable(s)) {
		b->s = NULL;
		b->out = s->be_out;
		b->stale = 0;
		b->idle_since = now_of(h);
		b->next = h->pool;
		h->pool = b;
		h->npool++;
		s->bc = NULL;
	}
	backend_close(s);
}

/* The shared access line and counters (accesslog.c), as for HTTP/1.1. */
static void
stream_log(struct h2_stream *s)
{
	struct h2_conn *h = s->h;
	struct conn *c = h->c;
	struct metrics *m = c->w->m;
	struct accesslog_req r = {
	    .protocol = ACCESSLOG_H2,
	    .stream = s->id,
	    .method = s->method,
	    .path = s->path_log,
	    .why = s->why,
	    .status = s->status,
	    .route = s->route,
	    .bytes_in = s->head_in + s->bytes_in,
	    .bytes_out = s->bytes_out,
	    .t_start = s->t_start,
	    .t_first = s->t_first,
	};

	metrics_add(&m->bytes_in, r.bytes_in);
	metrics_add(&m->bytes_out, s->bytes_out);
	accesslog_request(c, &r, now_of(h));
}

static void
stream_free(struct h2_stream *s)
{
	struct h2_conn *h = s->h;

	stream_log(s);
	backend_close(s);
	h->holds -= s->held_end != 0;
	if (s->prev != NULL) {
		s->prev->next = s->next;
	} else {
		h->streams = s->next;
	}
	if (s->next != NULL) {
		s->next->prev = s->prev;
	}
	h->nstreams--;
	if (h->ng != NULL) {
		nghttp2_session_set_stream_user_data(h->ng, s->id, NULL);
	}
	nghttp2_session_del(s->be);
	strbuf_free(&s->req.sb);
	strbuf_free(&s->req_trailers.sb);
	strbuf_free(&s->resp.sb);
	strbuf_free(&s->trailers.sb);
	free(s->path);
	free(s->authority);
	free(s->wire);
	free(s->body);
	if (s->down_cap == PROXY_BUF_SIZE) {
		loop_spare_give(h->c->w, LOOP_SPARE_SMALL, s->down);
	} else {
		free(s->down);
	}
	free(s);
}

static struct h2_stream *
stream_new(struct h2_conn *h, int32_t id)
{
	struct h2_stream *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		goto out;
	}
	s->h = h;
	s->id = id;
	s->be_fd = -1;
	s->route = -1;
	s->t_start = now_of(h);
	s->deadline = UINT64_MAX;
	strbuf_init(&s->req.sb, cfg_of(h)->header_bytes * 2 + 1024);
	strbuf_init(&s->req_trailers.sb, cfg_of(h)->header_bytes * 2 + 1024);
	strbuf_init(&s->resp.sb, H2_RESP_FIELDS_MAX);
	strbuf_init(&s->trailers.sb, H2_RESP_FIELDS_MAX);
	s->next = h->streams;
	if (h->streams != NULL) {
		h->streams->prev = s;
	}
	h->streams = s;
	h->nstreams++;
out:
	return s;
}

static int
stream_stale(const struct h2_stream *s)
{
	return s->deadline != UINT64_MAX && now_of(s->h) >= s->deadline;
}

static void
stream_touch(struct h2_stream *s)
{
	s->deadline = now_of(s->h) + cfg_of(s->h)->idle_s * SEC_NS;
}

/* Reset the stream (its response cannot be completed). */
static void
stream_reset(struct h2_stream *s, uint32_t code, const char *why)
{
	if (s->why == NULL) {
		s->why = why;
	}
	backend_close(s);
	nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, code);
	s->deadline = UINT64_MAX;
	s->h->progress = 1;
}

static ssize_t read_down(nghttp2_session *ng, int32_t id, uint8_t *buf,
			 size_t len, uint32_t *flags, nghttp2_data_source *src,
			 void *ud);

static int
submit(struct h2_stream *s, const nghttp2_nv *nv, size_t n, int body)
{
	nghttp2_data_provider prd;
	size_t i;
	int r;

	prd.source.ptr = s;
	prd.read_callback = read_down;
	r = nghttp2_submit_response(s->h->ng, s->id, nv, n, body ? &prd : NULL);
	if (r == 0) {
		s->submitted = 1;
		s->h->progress = 1;
		/* The head as HTTP/1.1 text: bytes_out as h1 counts it. */
		for (i = 0; i < n; i++) {
			s->bytes_out += nv[i].namelen + nv[i].valuelen + 4;
		}
	}
	return r;
}

/* Answer here: status with a short text body, then end the stream. */
static void
local_response(struct h2_stream *s, unsigned status, const char *why)
{
	char len[24];
	char st[8];
	char text[64];
	nghttp2_nv nv[4];
	size_t n = 3;
	int tl;

	backend_close(s);
	if (s->submitted) {
		stream_reset(s, NGHTTP2_INTERNAL_ERROR, why);
		goto out;
	}
	s->local = 1;
	s->status = status;
	s->why = why;
	s->deadline = UINT64_MAX;
	tl = snprintf(text, sizeof(text), "%u\n", status);
	if (s->head_request) {
		tl = 0;
	}
	s->down_start = 0;
	s->down_end = 0;
	if (tl > 0 && buf_room(&s->down, &s->down_start, &s->down_end,
			       &s->down_cap, (size_t)tl, PROXY_BUF_SIZE) != 0) {
		stream_reset(s, NGHTTP2_INTERNAL_ERROR, "no_memory");
		goto out;
	}
	memcpy(s->down, text, (size_t)tl);
	s->down_end = (size_t)tl;
	s->framing = H1_BODY_LENGTH;
	s->left = (uint64_t)tl;

	snprintf(st, sizeof(st), "%u", status);
	snprintf(len, sizeof(len), "%d", tl);
	nv[0] = mknv(":status", 7, st, strlen(st));
	nv[1] = mknv("content-type", 12, "text/plain", 10);
	nv[2] = mknv("content-length", 14, len, strlen(len));
	if (status == 503) {
		nv[n++] = mknv("retry-after", 11, "5", 1);
	}
	if (submit(s, nv, n, tl > 0) != 0) {
		stream_reset(s, NGHTTP2_INTERNAL_ERROR, "submit");
	} else {
		/* As h1 counts a local answer's first byte, and h2 others. */
		s->t_first = now_of(s->h);
	}
out:
	return;
}

static void
backend_fail(struct h2_stream *s, unsigned status, const char *why, int err)
{
	metrics_add(&s->h->c->w->m->backend_errors, 1);
	metrics_add(&s->h->c->w->m->backend_kind[metrics_backend_kind(why)], 1);
	log_event(LOG_WARN, "backend.failed", why,
		  LOG_STR("client", s->h->c->client_ip),
		  LOG_STR("protocol", "h2"), LOG_I64("errno", err));
	local_response(s, status, why);
}

/* ---- request: from client HEADERS to a backend request -------------- */

static char *
dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static void
note_path(struct h2_stream *s, const uint8_t *v, size_t n)
{
	const uint8_t *q = memchr(v, '?', n);

	if (q != NULL) {
		n = (size_t)(q - v);
	}
	if (n > PROXY_PATH_LOG_MAX) {
		n = PROXY_PATH_LOG_MAX;
	}
	memcpy(s->path_log, v, n);
	s->path_log[n] = '\0';
}

/* A pseudo-header; nghttp2 has already checked order and syntax. */
static int
pseudo_header(struct h2_stream *s, const uint8_t *name, size_t nlen,
	      const uint8_t *value, size_t vlen)
{
	int rc = 0;

	if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
		if (vlen > H1_METHOD_MAX) {
			s->local_status = 400;
			s->local_why = "bad_method";
		} else {
			memcpy(s->method, value, vlen);
			s->method[vlen] = '\0';
			s->head_request = strcmp(s->method, "HEAD") == 0;
		}
	} else if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
		if (memchr(value, '#', vlen) != NULL) {
			/* No fragment, as on HTTP/1.1 (RFC 9113 §8.3.1). */
			s->local_status = 400;
			s->local_why = "bad_request_line";
		}
		note_path(s, value, vlen);
		free(s->path);
		s->path = dup_n(value, vlen);
		rc = s->path == NULL ? -1 : 0;
	} else if (nlen == 10 && memcmp(name, ":authority", 10) == 0) {
		free(s->authority);
		s->authority = dup_n(value, vlen);
		rc = s->authority == NULL ? -1 : 0;
	}
	return rc;
}

/* Refuse the request for a bad trailer section (before its end). */
static void
trailer_refuse(struct h2_stream *s, const char *why)
{
	metrics_add(&s->h->c->w->m->bad_requests, 1);
	local_response(s, 400, why);
}

/*
 * A field of the request's trailing HEADERS (nghttp2 has checked name
 * and value syntax and refused pseudo-headers). The head's count and
 * size ceilings apply, and a name that must not follow the body
 * (h1_trailer_forbidden) refuses the request, as on HTTP/1. An h1
 * backend that was sent a Content-Length body cannot get trailers:
 * they are dropped and logged (debug).
 */
static void
on_trailer(struct h2_stream *s, const uint8_t *name, size_t nlen,
	   const uint8_t *value, size_t vlen)
{
	const struct sidecar_config *cfg = cfg_of(s->h);

	if (s->local) {
		goto out;
	}
	s->trl_bytes += nlen + vlen + 32;
	if (s->trl_bytes > cfg->header_bytes) {
		trailer_refuse(s, "trailers_too_large");
		goto out;
	}
	if (s->req_trailers.n >= cfg->headers) {
		trailer_refuse(s, "too_many_trailers");
		goto out;
	}
	if (h1_trailer_forbidden((const char *)name, nlen)) {
		trailer_refuse(s, "forbidden_trailer");
		goto out;
	}
	if (s->h->mode == MODE_H1 && !s->req_chunked) {
		log_event(LOG_WARN, "h2.trailer.dropped", "length_framed",
			  LOG_STR("client", s->h->c->client_ip),
			  LOG_I64("stream", s->id));
		goto out;
	}
	pairs_add(&s->req_trailers, name, nlen, value, vlen);
out:
	return;
}

static int
on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
	  size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags,
	  void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s;
	int rc = 0;

	(void)flags;
	s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
	if (s != NULL && f->hd.type == NGHTTP2_HEADERS) {
		/* "name: value" plus CRLF: bytes_in as HTTP/1.1 counts it. */
		s->head_in += nlen + vlen + 4;
	}
	if (s != NULL && f->hd.type == NGHTTP2_HEADERS && s->head_done) {
		on_trailer(s, name, nlen, value, vlen);
		goto out;
	}
	if (s == NULL || f->hd.type != NGHTTP2_HEADERS || s->head_done ||
	    s->local_status != 0) {
		goto out;
	}
	s->hdr_bytes += nlen + vlen + 32;
	if (s->hdr_bytes > cfg_of(h)->header_bytes ||
	    s->req.n >= cfg_of(h)->headers) {
		s->local_status = 431;
		s->local_why = "header_too_large";
		goto out;
	}
	if (nlen > 0 && name[0] == ':') {
		rc = pseudo_header(s, name, nlen, value, vlen);
	} else {
		pairs_add(&s->req, name, nlen, value, vlen);
	}
out:
	return rc == 0 ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int
on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s;
	int rc = 0;

	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST) {
		goto out;
	}
	s = stream_new(h, f->hd.stream_id);
	if (s == NULL) {
		rc = NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		goto out;
	}
	/* The head must be complete in time, as on HTTP/1 (slowloris). */
	s->deadline = now_of(h) + cfg_of(h)->header_s * SEC_NS;
	nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, s);
out:
	return rc;
}

/* Append "Name: value\r\n" lines for the HTTP/1.1 head. */
static void
h1_fields(struct h2_stream *s, struct strbuf *sb, int *has_cl)
{
	const char *n;
	const char *v;
	size_t nl;
	size_t vl;
	size_t pos = 0;

	while (pairs_next(&s->req, &pos, &n, &nl, &v, &vl)) {
		if (s->authority != NULL && strcasecmp(n, "host") == 0) {
			continue;
		}
		if (s->req_chunked && strcasecmp(n, "content-length") == 0) {
			/* Sent chunked so that trailers can follow. */
			continue;
		}
		if (strcasecmp(n, "content-length") == 0) {
			*has_cl = 1;
		}
		strbuf_append(sb, n, nl);
		strbuf_append(sb, ": ", 2);
		strbuf_append(sb, v, vl);
		strbuf_append(sb, "\r\n", 2);
	}
}

/*
 * Write the stream's request as an HTTP/1.1 head, check it with the
 * same parser as direct HTTP/1 requests, and queue the rewritten head
 * (X-Forwarded-*, hop-by-hop fields dropped) on s->wire.
 */
static int
h1_request(struct h2_stream *s, int keep)
{
	struct h2_conn *h = s->h;
	struct server *srv = h->c->w->srv;
	struct h1_msg *m = h->c->w->msg;
	struct strbuf sb;
	size_t cap;
	size_t n;
	int has_cl = 0;
	int rc = -1;

	strbuf_init(&sb, H1_HEAD_MAX);
	strbuf_appends(&sb, s->method);
	strbuf_append(&sb, " ", 1);
	strbuf_appends(&sb, s->path != NULL ? s->path : "");
	strbuf_appends(&sb, " HTTP/1.1\r\n");
	if (s->authority != NULL) {
		strbuf_appends(&sb, "Host: ");
		strbuf_appends(&sb, s->authority);
		strbuf_append(&sb, "\r\n", 2);
	}
	/*
	 * A body with a length keeps it: "te: trailers" only says the
	 * client takes trailers in the response (RFC 9110 10.1.4), and
	 * gRPC clients send it on every request. Only a body without a
	 * length goes chunked, and only that one can carry trailers on.
	 */
	s->req_chunked = 0;
	h1_fields(s, &sb, &has_cl);
	if (!s->req_end && !has_cl) {
		strbuf_appends(&sb, "Transfer-Encoding: chunked\r\n");
		s->req_chunked = 1;
	}
	strbuf_append(&sb, "\r\n", 2);
	if (!strbuf_ok(&sb)) {
		local_response(s, 431, "header_too_large");
		goto out;
	}
	if (h1_parse_request(sb.buf, sb.len, &srv->limits, m) != 0) {
		metrics_add(&h->c->w->m->bad_requests, 1);
		local_response(s, m->error_status, m->error);
		goto out;
	}
	rc = 0;
	if (!keep) {
		goto out;
	}

	rc = -1;
	cap = sb.len + m->nheaders + H1_REWRITE_SLACK;
	if (buf_room(&s->wire, &s->wire_off, &s->wire_len, &s->wire_cap, cap,
		     cap) != 0) {
		local_response(s, 500, "no_memory");
		goto out;
	}
	n = h1_write_request_head(sb.buf, m, h->c->client_ip,
				  s->wire + s->wire_len, cap);
	if (n == 0) {
		local_response(s, 500, "rewrite");
		goto out;
	}
	s->wire_len += n;
	rc = 0;
out:
	strbuf_free(&sb);
	return rc;
}

static ssize_t read_body_h2c(nghttp2_session *ng, int32_t id, uint8_t *buf,
			     size_t len, uint32_t *flags,
			     nghttp2_data_source *src, void *ud);
static int be_session_new(struct h2_stream *s);

/*
 * Fields an h2c request gets only from us, as h1_write_request_head()
 * does for HTTP/1.1: a client's own would tell the backend a false
 * client address, scheme or host.
 */
static int
h2c_ours_to_set(const char *name)
{
	static const char *const names[] = {
	    "forwarded",
	    "x-forwarded-host",
	    "x-forwarded-port",
	    "x-forwarded-prefix",
	    "x-forwarded-proto",
	    "x-real-ip",
	    NULL,
	};

	return name_listed(name, names);
}

/* Replay the request on the stream's own h2c backend session. */
static void
h2c_request(struct h2_stream *s)
{
	nghttp2_nv nv[H2_NV_MAX + 4];
	nghttp2_data_provider prd;
	const char *n;
	const char *v;
	size_t nl;
	size_t vl;
	size_t pos = 0;
	size_t k = 0;

	if (be_session_new(s) != 0) {
		local_response(s, 500, "no_memory");
		goto out;
	}
	nv[k++] = mknv(":method", 7, s->method, strlen(s->method));
	nv[k++] = mknv(":scheme", 7, "http", 4);
	if (s->authority != NULL) {
		nv[k++] =
		    mknv(":authority", 10, s->authority, strlen(s->authority));
	}
	nv[k++] = mknv(":path", 5, s->path != NULL ? s->path : "/",
		       s->path != NULL ? strlen(s->path) : 1);
	while (k < H2_NV_MAX && pairs_next(&s->req, &pos, &n, &nl, &v, &vl)) {
		if (!conn_specific(n) && !h2c_ours_to_set(n)) {
			nv[k++] = mknv(n, nl, v, vl);
		}
	}
	/* After the client's own x-forwarded-for fields: one list. */
	nv[k++] = mknv("x-forwarded-for", 15, s->h->c->client_ip,
		       strlen(s->h->c->client_ip));
	nv[k++] = mknv("x-forwarded-proto", 17, "https", 5);
	prd.source.ptr = s;
	prd.read_callback = read_body_h2c;
	s->be_id = nghttp2_submit_request(s->be, NULL, nv, k,
					  s->req_end ? NULL : &prd, s);
	if (s->be_id < 0) {
		local_response(s, 500, "submit");
	}
out:
	return;
}

/* Open a new non-blocking connection to the backend for s. */
static void
backend_connect(struct h2_stream *s)
{
	struct h2_be *b;
	int done = 0;
	int e = ENOMEM;

	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		goto fail;
	}
	b->src.kind = POLLSRC_H2_BACKEND;
	b->h = s->h;
	b->fd = netaddr_connect(&cfg_of(s->h)->backend_addr, &done);
	if (b->fd < 0 || loop_watch(s->h->c->w, b->fd, &b->src) != 0) {
		e = errno;
		be_destroy(b);
		goto fail;
	}

	b->s = s;
	s->bc = b;
	s->be_fd = b->fd;
	s->be_out = done;
	s->be_connecting = !done;
	s->deadline = now_of(s->h) + cfg_of(s->h)->connect_s * SEC_NS;
	goto out;
fail:
	backend_fail(s, 502, "backend_connect", e);
out:
	return;
}

/*
 * A pooled connection for s if the session has one, else a new one.
 * XXX: the pool belongs to one client connection by design (never
 * across identities), so every new client connection pays a backend
 * connect that HAProxy's shared pool would save (KNOWN_ISSUES.md).
 */
static void
backend_open(struct h2_stream *s)
{
	struct h2_be *b = NULL;

	if (s->h->mode == MODE_H1) {
		b = pool_take(s->h);
	}
	if (b == NULL) {
		backend_connect(s);
		goto out;
	}

	/* Checked empty when pooled, and no input has arrived since. */
	b->s = s;
	s->bc = b;
	s->be_fd = b->fd;
	s->be_out = b->out;
	s->be_in = 0;
	s->reused = 1;
	stream_touch(s);
out:
	return;
}

/* A safe method (RFC 9110 §9.2.1): may be sent again without harm. */
static int
method_safe(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	       strcmp(method, "OPTIONS") == 0;
}

/*
 * The reused connection of s was found closed or reset before any
 * response byte, most likely by the backend's keep-alive timeout racing
 * our request. Send a bodiless GET, HEAD or OPTIONS once more on a new
 * connection; anything else may already have been acted on. Returns 1
 * when s was sent again (or answered here), 0 when the caller fails it.
 * XXX: other requests that meet such a close get 502 (KNOWN_ISSUES.md).
 */
static int
backend_retry(struct h2_stream *s)
{
	int rc = 0;

	if (!s->reused || s->retried || s->be_got || s->submitted || s->local ||
	    !s->req_end || s->req_chunked || s->bytes_in > 0 ||
	    !method_safe(s->method)) {
		goto out;
	}
	log_event(LOG_DEBUG, "backend.retry", "stale_connection",
		  LOG_STR("client", s->h->c->client_ip),
		  LOG_STR("protocol", "h2"));
	backend_close(s);
	s->retried = 1;
	s->reused = 0;
	s->be_eof = 0;
	s->wire_off = 0;
	s->wire_len = 0;
	s->down_start = 0;
	s->down_end = 0;
	memset(&s->scan, 0, sizeof(s->scan));
	rc = 1;
	if (h1_request(s, 1) == 0) {
		backend_connect(s);
	}
out:
	return rc;
}

/* The request's Content-Length field, or 0. */
static uint64_t
content_length(const struct h2_stream *s)
{
	const char *n;
	const char *v;
	size_t nl;
	size_t vl;
	size_t pos = 0;
	uint64_t len = 0;

	while (pairs_next(&s->req, &pos, &n, &nl, &v, &vl)) {
		if (strcasecmp(n, "content-length") == 0) {
			/* nghttp2 has checked it is all digits. */
			len = strtoull(v, NULL, 10);
		}
	}
	return len;
}

/*
 * The routing allowlist and body limit, as for HTTP/1 (proxy.c): the
 * path is normalised, matched, and forwarded in its normalised form.
 * Returns 0, or -1 after answering. Runs inside nghttp2_session_mem_recv
 * whose input is the worker scratch, so it works in its own buffer.
 */
static int
stream_route(struct h2_stream *s)
{
	const struct sidecar_config *cfg = cfg_of(s->h);
	const char *q;
	const char *why = "bad_path";
	char *norm = NULL;
	char *path = NULL;
	unsigned status = 400;
	size_t plen;
	size_t n = 0;
	int rc = -1;

	if (s->path == NULL || s->path[0] != '/') {
		local_response(s, 400, why);
		goto out;
	}
	q = strchr(s->path, '?');
	plen = q != NULL ? (size_t)(q - s->path) : strlen(s->path);
	norm = malloc(2 * plen + 2);
	if (norm == NULL) {
		local_response(s, 500, "no_memory");
		goto out;
	}
	n = route_normalise(s->path, plen, norm, 2 * plen + 2, &why);
	if (n == 0) {
		local_response(s, 400, why);
		goto out;
	}
	s->route = route_match(&cfg->routes, norm, n,
			       route_method_bit(s->method, strlen(s->method)),
			       &status, &why);
	if (s->route < 0) {
		/* Never forwarded: admin and debug paths stay private. */
		local_response(s, status, why);
		goto out;
	}
	if (content_length(s) > cfg->body_bytes) {
		local_response(s, 413, "body_too_large");
		goto out;
	}

	path = malloc(n + strlen(q != NULL ? q : "") + 1);
	if (path == NULL) {
		local_response(s, 500, "no_memory");
		goto out;
	}
	memcpy(path, norm, n);
	memcpy(path + n, q != NULL ? q : "", strlen(q != NULL ? q : "") + 1);
	free(s->path);
	s->path = path;
	rc = 0;
out:
	free(norm);
	return rc;
}

/* The request head is complete: refuse it here or start the backend. */
static void
stream_start(struct h2_stream *s)
{
	struct h2_conn *h = s->h;
	struct server *srv = h->c->w->srv;

	s->started = 1;
	if (s->local_status != 0) {
		metrics_add(&h->c->w->m->bad_requests, 1);
		local_response(s, s->local_status, s->local_why);
	} else if (h->c->peer_denied) {
		/* A verified certificate that no tls.allow rule admits. */
		local_response(s, 403, "identity_denied");
	} else if (!server_marker_ready(srv)) {
		/* Deny until ready: nothing reaches the backend. */
		metrics_add(&h->c->w->m->not_ready, 1);
		local_response(s, 503, "not_ready");
	} else if (stream_route(s) != 0) {
		/* answered */
	} else if (h1_request(s, h->mode == MODE_H1) != 0) {
		/* answered; h2c requests pass the same checks */
	} else if (h->mode == MODE_H2C) {
		h2c_request(s);
	}
	if (!s->local && !h->fuzz) {
		loop_forwarded(h->c->w);
		backend_open(s);
	}
}

static void
stream_req_end(struct h2_stream *s)
{
	s->req_end = 1;
	if (s->be != NULL && s->be_deferred) {
		s->be_deferred = 0;
		nghttp2_session_resume_data(s->be, s->be_id);
	}
}

static int
rapid_reset_check(struct h2_conn *h)
{
	uint64_t now = now_of(h);
	int rc = 0;

	if (now - h->rst_window >= SEC_NS) {
		h->rst_window = now;
		h->rst_count = 0;
	}
	h->rst_count++;
	if (h->rst_count > cfg_of(h)->h2_resets_per_s && !h->dying) {
		log_event(LOG_WARN, "h2.reset_flood", "policy",
			  LOG_STR("client", h->c->client_ip),
			  LOG_U64("resets", h->rst_count));
		nghttp2_session_terminate_session(h->ng,
						  NGHTTP2_ENHANCE_YOUR_CALM);
		h->dying = 1;
		h->close_why = "reset_flood";
		rc = -1;
	}
	return rc;
}

static int
on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s;
	int rc = 0;

	h->progress = 1;
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		/* Past the limit we stop reading; GOAWAY is queued. */
		rapid_reset_check(h);
		goto out;
	}
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) {
		goto out;
	}
	s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
	if (s == NULL) {
		goto out;
	}
	if (f->hd.type == NGHTTP2_HEADERS && !s->head_done) {
		s->head_done = 1;
		s->req_end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
		stream_start(s);
	} else if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
		stream_req_end(s);
	}
out:
	return rc;
}

static int
on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id,
	      const uint8_t *data, size_t len, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);

	(void)flags;
	h->progress = 1;
	if (s == NULL || s->local || s->be_fd < 0) {
		/* Nobody will read it: give the window back now. */
		nghttp2_session_consume(ng, id, len);
		goto out;
	}
	if (buf_room(&s->body, &s->body_start, &s->body_end, &s->body_cap, len,
		     H2_STREAM_WINDOW) != 0) {
		/* More than the window we granted: the client is broken. */
		nghttp2_session_consume(ng, id, len);
		stream_reset(s, NGHTTP2_FLOW_CONTROL_ERROR, "flow_control");
		goto out;
	}
	memcpy(s->body + s->body_end, data, len);
	s->body_end += len;
	s->bytes_in += len;
	if (s->bytes_in > cfg_of(h)->body_bytes) {
		local_response(s, 413, "body_too_large");
	}
	if (s->be != NULL && s->be_deferred) {
		s->be_deferred = 0;
		nghttp2_session_resume_data(s->be, s->be_id);
	}
out:
	return 0;
}

static int
on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);

	h->progress = 1;
	if (s != NULL) {
		if (code != NGHTTP2_NO_ERROR && s->why == NULL) {
			s->why = "client_reset";
			metrics_add(&h->c->w->m->client_aborts, 1);
		} else if (!s->body_done && s->why == NULL) {
			s->why = "incomplete";
		}
		/* The backend goes at once: the model stops generating. */
		stream_free(s);
	}
	return 0;
}

/*
 * Whether a RST_STREAM we send with code answers the client's own frames
 * (a stream error nghttp2 or we raised: malformed request, overflowed
 * window, frame on a closed stream, too many streams), as opposed to our
 * own reasons (idle timeout CANCEL, backend INTERNAL_ERROR, NO_ERROR
 * after an early answer).
 */
static int
reset_provoked(uint32_t code)
{
	return code == NGHTTP2_PROTOCOL_ERROR ||
	       code == NGHTTP2_FLOW_CONTROL_ERROR ||
	       code == NGHTTP2_STREAM_CLOSED ||
	       code == NGHTTP2_FRAME_SIZE_ERROR;
}

static int
on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *s;

	if (f->hd.type == NGHTTP2_RST_STREAM &&
	    reset_provoked(f->rst_stream.error_code)) {
		/*
		 * A reset the client's frames forced on us costs the backend
		 * what a client reset does (its request was already sent):
		 * it counts against the same budget ("MadeYouReset").
		 */
		rapid_reset_check(h);
		s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
		if (s != NULL && s->why == NULL) {
			/*
			 * The client broke the stream's rules: malformed
			 * (RFC 9113 8.1.1) or flow control, frame size, a
			 * closed stream. Not a client reset or abort.
			 */
			s->why = "stream_error";
			if (f->rst_stream.error_code ==
			    NGHTTP2_PROTOCOL_ERROR) {
				s->why = "malformed_request";
			}
			metrics_add(&h->c->w->m->bad_requests, 1);
		}
	}
	if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
		s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
		if (s != NULL && !s->req_end) {
			/* Answered early: stop the rest of the upload. */
			nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE,
						  f->hd.stream_id,
						  NGHTTP2_NO_ERROR);
		}
	}
	return 0;
}

/* ---- response: backend bytes to DATA frames --------------------------- */

/* Copy payload out of s->down into buf, undoing HTTP/1 framing. */
static size_t
take_h1(struct h2_stream *s, uint8_t *buf, size_t len, int *err)
{
	size_t n = 0;
	size_t k;
	size_t used;
	enum h1_chunk_result r;
	const char *p;
	uint64_t before;

	while (n < len && s->down_start < s->down_end && !s->body_done) {
		p = s->down + s->down_start;
		k = s->down_end - s->down_start;
		if (s->framing == H1_BODY_CHUNKED && !s->in_data) {
			/*
			 * Framing bytes go a byte at a time (they are few);
			 * a byte that counts as payload opens a data run.
			 */
			before = s->ck.payload;
			r = h1_chunk_feed(&s->ck, p, 1, &used);
			s->down_start += used;
			if (r == H1_CHUNK_ERROR) {
				*err = 1;
				break;
			}
			s->body_done = r == H1_CHUNK_DONE;
			if (s->ck.payload != before) {
				buf[n++] = (uint8_t)p[0];
				s->in_data = s->ck.left > 0;
			}
			continue;
		}
		if (k > len - n) {
			k = len - n;
		}
		if (s->framing == H1_BODY_CHUNKED && k > s->ck.left) {
			k = (size_t)s->ck.left;
		} else if (s->framing == H1_BODY_LENGTH && k > s->left) {
			k = (size_t)s->left;
		}
		if (s->framing == H1_BODY_CHUNKED) {
			h1_chunk_feed(&s->ck, p, k, &used);
			s->in_data = s->ck.left > 0;
		}
		memcpy(buf + n, p, k);
		n += k;
		s->down_start += k;
		if (s->framing == H1_BODY_LENGTH) {
			s->left -= k;
			s->body_done = s->left == 0;
		}
	}
	if (s->framing == H1_BODY_LENGTH && s->left == 0) {
		s->body_done = 1;
	}
	if (s->framing == H1_BODY_CLOSE && s->be_eof &&
	    s->down_start == s->down_end) {
		s->body_done = 1;
	}
	if (s->down_start == s->down_end) {
		s->down_start = 0;
		s->down_end = 0;
	}
	return n;
}

static size_t
take_h2c(struct h2_stream *s, uint8_t *buf, size_t len)
{
	size_t n = s->down_end - s->down_start;

	if (n > len) {
		n = len;
	}
	if (n > 0) {
		/* s->down is NULL until the first response byte. */
		memcpy(buf, s->down + s->down_start, n);
	}
	s->down_start += n;
	if (s->down_start == s->down_end) {
		s->down_start = 0;
		s->down_end = 0;
	}
	if (n > 0) {
		nghttp2_session_consume(s->be, s->be_id, n);
	}
	s->body_done = s->be_done && !s->be_failed && s->down_end == 0;
	return n;
}

/*
 * Send the pairs as trailing HEADERS on stream id of session ng (to the
 * client, or to an h2c backend); the DATA source then must not end the
 * stream itself.
 */
static void
submit_pairs_trailer(nghttp2_session *ng, int32_t id, const struct h2_pairs *p,
		     uint32_t *flags)
{
	nghttp2_nv nv[H2_NV_MAX];
	const char *n;
	const char *v;
	size_t nl;
	size_t vl;
	size_t pos = 0;
	size_t k = 0;

	while (k < H2_NV_MAX && pairs_next(p, &pos, &n, &nl, &v, &vl)) {
		nv[k++] = mknv(n, nl, v, vl);
	}
	if (k > 0 && nghttp2_submit_trailer(ng, id, nv, k) == 0) {
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	}
}

static ssize_t
read_down(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
	  uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2_stream *s = src->ptr;
	struct h2_conn *h = ud;
	ssize_t rc;
	size_t n;
	int err = 0;

	(void)ng;
	(void)id;
	if (s->be != NULL && !s->local) {
		n = take_h2c(s, buf, len);
		err = s->be_done && s->be_failed && s->down_end == 0;
	} else {
		n = take_h1(s, buf, len, &err);
		err |= n == 0 && !s->body_done && s->be_eof &&
		       s->down_start == s->down_end;
	}
	rc = (ssize_t)n;
	if (n > 0) {
		s->bytes_out += n;
		h->progress = 1;
		stream_touch(s);
	}
	if (err) {
		s->why = s->why != NULL ? s->why : "backend_broken";
		metrics_add(&h->c->w->m->backend_errors, 1);
		metrics_add(
		    &h->c->w->m->backend_kind[metrics_backend_kind(s->why)], 1);
		backend_close(s);
		rc = NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	} else if (s->body_done) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->deadline = UINT64_MAX;
		if (s->be != NULL && !s->local) {
			submit_pairs_trailer(s->h->ng, s->id, &s->trailers,
					     flags);
		}
		backend_release(s);
	} else if (n == 0) {
		s->deferred = 1;
		rc = NGHTTP2_ERR_DEFERRED;
	}
	return rc;
}

/*
 * A final head whose body is announced by its length but not here yet
 * waits for it, parked (loop_park), so that HEADERS and the first DATA
 * leave in one TLS record. Streamed bodies never wait.
 */
static int
body_waits(const struct h2_stream *s, size_t end, const struct h1_msg *m)
{
	return m->status >= 200 && m->framing == H1_BODY_LENGTH &&
	       m->content_length > 0 && s->down_end == end && !s->be_eof &&
	       !s->h->c->park_over;
}

/* Response HEADERS from an HTTP/1 head: lower-case names, no hop-by-hop. */
static void
h1_response(struct h2_stream *s, size_t end)
{
	struct conn *c = s->h->c;
	struct h1_msg *m = c->w->msg;
	struct h1_limits lim = c->w->srv->limits;
	nghttp2_nv nv[H2_NV_MAX + 1];
	char *head = s->down + s->scan.start;
	char st[8];
	size_t i;
	size_t k = 0;
	size_t j;

	lim.headers = H1_HEADERS_MAX;
	if (h1_parse_response(head, end - s->scan.start, &lim, s->head_request,
			      m) != 0) {
		backend_fail(s, 502, m->error, 0);
		goto out;
	}
	if (body_waits(s, end, m) && loop_park(c->w, c, 1)) {
		s->h->holds += s->held_end == 0;
		s->held_end = end;
		goto out;
	}
	s->h->holds -= s->held_end != 0;
	s->held_end = 0;
	memset(&s->scan, 0, sizeof(s->scan));
	if (m->status < 200) {
		/* Interim: dropped; the final head follows from offset 0. */
		memmove(s->down, s->down + end, s->down_end - end);
		s->down_end -= end;
		s->down_start = 0;
		goto out;
	}
	s->down_start = end;
	snprintf(st, sizeof(st), "%u", m->status);
	nv[k++] = mknv(":status", 7, st, strlen(st));
	for (i = 0; i < m->nheaders && k < H2_NV_MAX + 1; i++) {
		struct h1_header *hd = &m->headers[i];

		if ((hd->flags & (H1_HDR_DROP | H1_HDR_TE)) != 0) {
			continue;
		}
		for (j = 0; j < hd->name.len; j++) {
			head[hd->name.off + j] =
			    lower_ascii(head[hd->name.off + j]);
		}
		nv[k++] = mknv(head + hd->name.off, hd->name.len,
			       head + hd->value.off, hd->value.len);
	}
	s->status = m->status;
	s->be_keep = m->keep_alive;
	s->framing = m->framing;
	s->left = m->content_length;
	memset(&s->ck, 0, sizeof(s->ck));
	s->t_first = now_of(s->h);
	if (submit(s, nv, k, m->framing != H1_BODY_NONE) != 0) {
		stream_reset(s, NGHTTP2_INTERNAL_ERROR, "submit");
		goto out;
	}
	if (m->framing == H1_BODY_NONE) {
		s->body_done = 1;
		backend_release(s);
	}
out:
	return;
}

/* Scan s->down for the response head; act on it once complete. */
static int
h1_response_head(struct h2_stream *s)
{
	struct h1_limits lim = s->h->c->w->srv->limits;
	size_t capmax = lim.head_bytes + 2 * H1_LEADING_CRLF + 2;
	unsigned status = 502;
	const char *why = "bad_response";
	long end;
	int progress = 0;

	if (s->down_end == s->down_start) {
		goto out;
	}
	if (s->held_end != 0) {
		/* Parked: go on when the body came or the park ended. */
		if (s->down_end > s->held_end || s->be_eof ||
		    s->h->c->park_over) {
			h1_response(s, s->held_end);
			progress = 1;
		}
		goto out;
	}
	if (capmax < PROXY_BUF_SIZE) {
		capmax = PROXY_BUF_SIZE;
	}
	lim.line_bytes = lim.head_bytes;
	end = h1_scan_head(&s->scan, s->down, s->down_end, &lim, &status, &why);
	if (end < 0) {
		backend_fail(s, 502, "bad_response_head", 0);
		progress = 1;
	} else if (end > 0) {
		h1_response(s, (size_t)end);
		progress = 1;
	} else if (s->down_end == s->down_cap && s->down_cap < capmax) {
		if (buf_room(&s->down, &s->down_start, &s->down_end,
			     &s->down_cap, PROXY_BUF_SIZE, capmax) != 0) {
			backend_fail(s, 502, "no_memory", 0);
		}
		progress = 1;
	}
out:
	return progress;
}

/* Response HEADERS from an h2c backend, or the trailers-only reply. */
static void
h2c_response(struct h2_stream *s)
{
	nghttp2_nv nv[H2_NV_MAX];
	const char *n;
	const char *v;
	size_t nl;
	size_t vl;
	size_t pos = 0;
	size_t k = 0;
	unsigned long st;

	while (k < H2_NV_MAX && pairs_next(&s->resp, &pos, &n, &nl, &v, &vl)) {
		if (conn_specific(n)) {
			continue;
		}
		if (strcmp(n, ":status") == 0) {
			st = strtoul(v, NULL, 10);
			s->status = st < 1000 ? (unsigned)st : 0;
		}
		nv[k++] = mknv(n, nl, v, vl);
	}
	s->t_first = now_of(s->h);
	if (submit(s, nv, k, !s->resp_nobody) != 0) {
		stream_reset(s, NGHTTP2_INTERNAL_ERROR, "submit");
	} else if (s->resp_nobody) {
		s->body_done = 1;
		backend_close(s);
	}
}

/* ---- h2c backend session ----------------------------------------------- */

static ssize_t
read_body_h2c(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
	      uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2_stream *s = src->ptr;
	size_t n = s->body_end - s->body_start;
	ssize_t rc;

	(void)ng;
	(void)id;
	(void)ud;
	if (n > len) {
		n = len;
	}
	if (n > 0) {
		/* s->body is NULL until the first DATA frame. */
		memcpy(buf, s->body + s->body_start, n);
	}
	s->body_start += n;
	if (s->body_start == s->body_end) {
		s->body_start = 0;
		s->body_end = 0;
	}
	if (n > 0) {
		nghttp2_session_consume(s->h->ng, s->id, n);
		s->h->progress = 1;
	}
	rc = (ssize_t)n;
	if (s->req_end && s->body_end == 0) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		/* The client's trailers end the request stream. */
		submit_pairs_trailer(s->be, s->be_id, &s->req_trailers, flags);
	} else if (n == 0) {
		s->be_deferred = 1;
		rc = NGHTTP2_ERR_DEFERRED;
	}
	return rc;
}

static int
be_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
	     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags,
	     void *ud)
{
	struct h2_stream *s = ud;

	(void)ng;
	(void)flags;
	if (f->hd.type == NGHTTP2_HEADERS && f->hd.stream_id == s->be_id) {
		if (f->headers.cat == NGHTTP2_HCAT_HEADERS && s->resp_ready) {
			pairs_add(&s->trailers, name, nlen, value, vlen);
		} else if (f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
			pairs_add(&s->resp, name, nlen, value, vlen);
		}
	}
	return 0;
}

static int
be_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
	struct h2_stream *s = ud;

	(void)ng;
	if (f->hd.type == NGHTTP2_HEADERS && f->hd.stream_id == s->be_id &&
	    f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
		s->resp_ready = 1;
		s->resp_nobody = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	}
	return 0;
}

static int
be_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
	   size_t len, void *ud)
{
	struct h2_stream *s = ud;
	int rc = 0;

	(void)ng;
	(void)flags;
	if (id != s->be_id) {
		goto out;
	}
	if (buf_room(&s->down, &s->down_start, &s->down_end, &s->down_cap, len,
		     H2_STREAM_WINDOW) != 0) {
		s->be_failed = 1;
		rc = NGHTTP2_ERR_CALLBACK_FAILURE;
		goto out;
	}
	memcpy(s->down + s->down_end, data, len);
	s->down_end += len;
out:
	return rc;
}

static int
be_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct h2_stream *s = ud;

	(void)ng;
	if (id == s->be_id) {
		s->be_done = 1;
		s->be_failed = code != NGHTTP2_NO_ERROR;
	}
	return 0;
}

static int
be_session_new(struct h2_stream *s)
{
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[2] = {
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
	};
	int rc = -1;

	if (nghttp2_session_callbacks_new(&cb) != 0 ||
	    nghttp2_option_new(&opt) != 0) {
		goto out;
	}
	nghttp2_session_callbacks_set_on_header_callback(cb, be_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
							     be_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
								  be_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, be_on_close);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	if (nghttp2_session_client_new2(&s->be, cb, s, opt) != 0) {
		s->be = NULL;
		goto out;
	}
	if (nghttp2_submit_settings(s->be, NGHTTP2_FLAG_NONE, iv, 2) != 0) {
		goto out;
	}
	rc = 0;
out:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return rc;
}

/* ---- backend I/O -------------------------------------------------------- */

static int
be_connected(struct h2_stream *s)
{
	int err;
	int progress = 0;

	if (s->be_fd < 0 || !s->be_connecting || !s->be_out) {
		goto out;
	}
	progress = 1;
	err = netaddr_connect_result(s->be_fd);
	if (err != 0) {
		backend_fail(s, 502, "backend_connect", err);
		goto out;
	}
	s->be_connecting = 0;
	stream_touch(s);
out:
	return progress;
}

/* Send bytes; returns bytes sent, 0 when blocked, -1 on failure. */
static ssize_t
be_send(struct h2_stream *s, const char *p, size_t n)
{
	ssize_t r;

	r = send(s->be_fd, p, n, MSG_NOSIGNAL);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		s->be_out = 0;
		r = 0;
	} else if (r < 0 && errno == EINTR) {
		r = 0;
	} else if (r < 0 && !backend_retry(s)) {
		backend_fail(s, 502, "backend_write", errno);
	}
	return r;
}

static int
wire_flush(struct h2_stream *s)
{
	ssize_t r;
	int progress = 0;

	while (s->be_fd >= 0 && s->be_out && s->wire_off < s->wire_len) {
		r = be_send(s, s->wire + s->wire_off,
			    s->wire_len - s->wire_off);
		if (r <= 0) {
			break;
		}
		s->wire_off += (size_t)r;
		progress = 1;
		stream_touch(s);
	}
	if (s->wire_off == s->wire_len) {
		s->wire_off = 0;
		s->wire_len = 0;
	}
	return progress;
}

/*
 * Queue the last chunk and the client's trailers as an HTTP/1.1 trailer
 * section, checked by the validator of direct HTTP/1 request bodies, so
 * the backend gets only what that path would pass. Returns 1 (queued,
 * or the stream answered 400).
 */
static int
h1_last_chunk(struct h2_stream *s)
{
	struct h1_chunk ck;
	struct strbuf sb;
	const char *n;
	const char *v;
	size_t nl;
	size_t vl;
	size_t pos = 0;
	size_t used = 0;
	enum h1_chunk_result r = H1_CHUNK_ERROR;

	strbuf_init(&sb, H1_HEAD_MAX);
	strbuf_append(&sb, "0\r\n", 3);
	while (pairs_next(&s->req_trailers, &pos, &n, &nl, &v, &vl)) {
		strbuf_append(&sb, n, nl);
		strbuf_append(&sb, ": ", 2);
		strbuf_append(&sb, v, vl);
		strbuf_append(&sb, "\r\n", 2);
	}
	strbuf_append(&sb, "\r\n", 2);
	h1_chunk_init_request(&ck, &s->h->c->w->srv->limits);
	ck.why = "trailers_too_large";
	if (strbuf_ok(&sb)) {
		r = h1_chunk_feed(&ck, sb.buf, sb.len, &used);
	}
	if (r != H1_CHUNK_DONE || used != sb.len) {
		trailer_refuse(s, ck.why != NULL ? ck.why : "bad_trailer");
	} else if (wire_add(s, sb.buf, sb.len, sb.len + H2_WIRE_MAX) != 0) {
		local_response(s, 500, "no_memory");
	}
	strbuf_free(&sb);
	return 1;
}

/* Queue the next chunk line, payload or last-chunk for an h1 backend. */
static int
h1_body_next(struct h2_stream *s)
{
	char line[H2_FRAME_LINE];
	size_t avail = s->body_end - s->body_start;
	int n;
	int progress = 1;

	if (avail > 0 && s->chunk_left == 0) {
		s->chunk_left = avail;
		if (s->req_chunked) {
			n = snprintf(line, sizeof(line), "%zx\r\n", avail);
			progress =
			    wire_add(s, line, (size_t)n, H2_WIRE_MAX) == 0;
		}
	} else if (avail == 0 && s->req_end && s->req_chunked && !s->req_last &&
		   s->chunk_left == 0) {
		s->req_last = 1;
		progress = h1_last_chunk(s);
	} else {
		progress = 0;
	}
	return progress;
}

static int
h1_backend_write(struct h2_stream *s)
{
	size_t k;
	ssize_t r;
	int progress = 0;

	for (;;) {
		progress |= wire_flush(s);
		if (s->be_fd < 0 || !s->be_out || s->wire_len > 0) {
			break;
		}
		k = s->body_end - s->body_start;
		if (k > s->chunk_left) {
			k = (size_t)s->chunk_left;
		}
		if (k == 0) {
			if (!h1_body_next(s)) {
				break;
			}
			continue;
		}
		r = be_send(s, s->body + s->body_start, k);
		if (r <= 0) {
			break;
		}
		progress = 1;
		s->body_start += (size_t)r;
		s->chunk_left -= (uint64_t)r;
		nghttp2_session_consume(s->h->ng, s->id, (size_t)r);
		s->h->progress = 1;
		if (s->chunk_left == 0 && s->req_chunked) {
			wire_add(s, "\r\n", 2, H2_WIRE_MAX);
		}
		if (s->body_start == s->body_end) {
			s->body_start = 0;
			s->body_end = 0;
		}
	}
	return progress;
}

static int
h2c_backend_write(struct h2_stream *s)
{
	const uint8_t *p;
	ssize_t n = 0;
	int progress = 0;

	for (;;) {
		progress |= wire_flush(s);
		if (s->be_fd < 0 || !s->be_out || s->wire_len > 0) {
			break;
		}
		while (s->wire_len < H2_WIRE_MAX / 2) {
			n = nghttp2_session_mem_send(s->be, &p);
			if (n <= 0) {
				break;
			}
			if (wire_add(s, p, (size_t)n, H2_WIRE_MAX) != 0) {
				n = -1;
				break;
			}
		}
		if (n < 0) {
			backend_fail(s, 502, "backend_h2", 0);
			break;
		}
		if (s->wire_len == 0) {
			break;
		}
	}
	return progress;
}

/* Read what the backend sent; room is left only as the client takes it. */
static int
backend_read(struct h2_stream *s)
{
	struct conn *c = s->h->c;
	char *dst;
	size_t room;
	ssize_t n;
	int progress = 0;

	if (s->be_fd < 0 || s->be_connecting || !s->be_in) {
		goto out;
	}
	if (s->be != NULL) {
		dst = c->w->scratch;
		room = H2_READ_MAX;
	} else {
		if (s->down == NULL) {
			s->down = loop_spare_take(c->w, LOOP_SPARE_SMALL);
			s->down_cap = s->down != NULL ? PROXY_BUF_SIZE : 0;
		}
		if (s->down == NULL &&
		    buf_room(&s->down, &s->down_start, &s->down_end,
			     &s->down_cap, PROXY_BUF_SIZE,
			     PROXY_BUF_SIZE) != 0) {
			goto out;
		}
		if (s->down_end == s->down_cap && s->down_start > 0 &&
		    s->submitted) {
			memmove(s->down, s->down + s->down_start,
				s->down_end - s->down_start);
			s->down_end -= s->down_start;
			s->down_start = 0;
		}
		if (s->down_end == s->down_cap) {
			goto out;
		}
		dst = s->down + s->down_end;
		room = s->down_cap - s->down_end;
	}
	n = recv(s->be_fd, dst, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		s->be_in = 0;
		goto out;
	}
	progress = 1;
	if (n < 0 && errno == EINTR) {
		goto out;
	}
	stream_touch(s);
	s->be_got |= n > 0;
	if (n <= 0) {
		s->be_eof = 1;
		s->be_in = 0;
	} else if (s->be != NULL) {
		if (nghttp2_session_mem_recv(s->be, (uint8_t *)dst, (size_t)n) <
		    0) {
			s->be_failed = 1;
			s->be_done = 1;
		}
	} else {
		s->down_end += (size_t)n;
	}
out:
	return progress;
}

/* After backend progress: the head, waking our data provider, EOF. */
static int
response_advance(struct h2_stream *s)
{
	int progress = 0;

	if (s->local) {
		goto out;
	}
	if (s->be == NULL && !s->submitted) {
		progress = h1_response_head(s);
		if (!s->submitted && !s->local && s->be_eof) {
			if (!backend_retry(s)) {
				backend_fail(s, 502, "backend_closed", 0);
			}
			progress = 1;
		}
	} else if (s->be != NULL && !s->submitted) {
		if (s->resp_ready) {
			h2c_response(s);
			progress = 1;
		} else if (s->be_eof || s->be_done) {
			backend_fail(s, 502, "backend_closed", 0);
			progress = 1;
		}
	}
	if (s->be != NULL && s->be_eof && !s->be_done) {
		s->be_done = 1;
		s->be_failed = 1;
	}
	if (s->submitted && s->deferred &&
	    (s->down_end > s->down_start || s->be_eof || s->be_done)) {
		s->deferred = 0;
		nghttp2_session_resume_data(s->h->ng, s->id);
		progress = 1;
	}
out:
	return progress;
}

static int
stream_step(struct h2_stream *s)
{
	int progress = 0;

	if (!s->started) {
		goto out;
	}
	progress |= be_connected(s);
	if (s->be_fd >= 0 && !s->be_connecting) {
		if (s->be != NULL) {
			progress |= h2c_backend_write(s);
		} else {
			progress |= h1_backend_write(s);
		}
	}
	progress |= backend_read(s);
	progress |= response_advance(s);
out:
	return progress;
}

/* ---- client side ----------------------------------------------------------
 */

static int
client_read(struct h2_conn *h)
{
	struct conn *c = h->c;
	ssize_t r;
	int n;
	int err;
	int progress = 0;

	if (!proxy_tls_can_read(c) || h->dying ||
	    !nghttp2_session_want_read(h->ng)) {
		goto out;
	}
	ERR_clear_error();
	n = SSL_read(c->ssl, c->w->scratch, H2_READ_MAX);
	if (n > 0) {
		proxy_tls_read_done(c);
		progress = 1;
		h->idle_deadline = now_of(h) + cfg_of(h)->idle_s * SEC_NS;
		r = nghttp2_session_mem_recv(h->ng, (uint8_t *)c->w->scratch,
					     (size_t)n);
		if (r < 0 && !h->dying) {
			log_event(LOG_INFO, "h2.session.failed", "protocol",
				  LOG_STR("client", c->client_ip),
				  LOG_STR("error", nghttp2_strerror((int)r)));
			nghttp2_session_terminate_session(
			    h->ng, NGHTTP2_PROTOCOL_ERROR);
			h->dying = 1;
			h->close_why = "protocol_error";
		}
		goto out;
	}
	if (!proxy_tls_blocked(c, n, 0, &err)) {
		/* EOF or a broken session: every stream ends now. */
		h->eof = 1;
		h->close_why = "client_abort";
		progress = 1;
	}
out:
	return progress;
}

/* Gather frames from nghttp2 into h->out. Returns -1 on failure. */
static int
out_fill(struct h2_conn *h)
{
	const uint8_t *p;
	ssize_t n;
	int rc = 0;

	if (h->out == NULL) {
		h->out = malloc(H2_OUT_MAX + H2_OUT_SLACK);
		if (h->out == NULL) {
			rc = -1;
			goto out;
		}
	}
	while (h->out_len < H2_OUT_MAX) {
		n = nghttp2_session_mem_send(h->ng, &p);
		if (n < 0) {
			rc = -1;
			break;
		}
		if (n == 0) {
			break;
		}
		if ((size_t)n > H2_OUT_MAX + H2_OUT_SLACK - h->out_len) {
			rc = -1;
			break;
		}
		memcpy(h->out + h->out_len, p, (size_t)n);
		h->out_len += (size_t)n;
	}
out:
	return rc;
}

/*
 * Whether another stream's response is due any moment: its request was
 * complete and its stream began less than H2_DUE_NS ago. Frames ready
 * now then wait for it (parked, see loop_park), so that both leave in
 * one TLS record; a slow answer (a long generation) stops counting as
 * due after H2_DUE_NS, and the park never lasts past coalesce_us.
 */
static int
response_due(const struct h2_conn *h)
{
	const struct h2_stream *s;
	uint64_t now = now_of(h);
	int due = 0;

	for (s = h->streams; s != NULL && !h->c->park_over; s = s->next) {
		if (s->started && s->req_end && !s->submitted && !s->local &&
		    s->be_fd >= 0 && now - s->t_start < H2_DUE_NS) {
			due = 1;
			break;
		}
	}
	return due;
}

static int
client_write(struct h2_conn *h)
{
	struct conn *c = h->c;
	size_t len;
	int n;
	int err;
	int progress = 0;

	h->out_parked = h->out_off == h->out_len && !h->eof &&
			nghttp2_session_want_write(h->ng) && response_due(h) &&
			loop_park(c->w, c, 1);
	if (h->out_parked) {
		goto out;
	}
	for (;;) {
		if (h->out_off == h->out_len) {
			h->out_off = 0;
			h->out_len = 0;
			if (h->eof || out_fill(h) != 0 || h->out_len == 0) {
				break;
			}
		}
		if (!proxy_tls_can_write(c)) {
			break;
		}
		/* One record per call; all but the last go with MSG_MORE. */
		len = h->out_len - h->out_off;
		c->sock.more = len > PROXY_RECORD;
		if (len > PROXY_RECORD) {
			len = PROXY_RECORD;
		}
		ERR_clear_error();
		n = SSL_write(c->ssl, h->out + h->out_off, (int)len);
		if (n > 0) {
			proxy_tls_wrote(c);
			h->out_off += (size_t)n;
			progress = 1;
			continue;
		}
		if (!proxy_tls_blocked(c, n, 1, &err)) {
			h->eof = 1;
			h->close_why = "client_write";
			progress = 1;
		}
		break;
	}
	if (h->out_off == h->out_len && h->streams == NULL) {
		/* An idle session holds no output buffer. */
		free(h->out);
		h->out = NULL;
		h->out_off = 0;
		h->out_len = 0;
	}
out:
	return progress;
}

/* Earliest deadline of the connection and its streams. */
static void
set_deadline(struct h2_conn *h)
{
	struct h2_stream *s;
	struct h2_be *b;
	uint64_t d = h->idle_deadline;

	for (s = h->streams; s != NULL; s = s->next) {
		if (s->deadline < d) {
			d = s->deadline;
		}
	}
	for (b = h->pool; b != NULL; b = b->next) {
		if (b->idle_since + H2_POOL_IDLE_NS < d) {
			d = b->idle_since + H2_POOL_IDLE_NS;
		}
	}
	h->c->deadline = d;
}

static int
streams_step(struct h2_conn *h)
{
	struct h2_stream *s;
	int progress = 0;

	for (s = h->streams; s != NULL; s = s->next) {
		progress |= stream_step(s);
	}
	return progress;
}

enum h2_result
h2_step(struct conn *c)
{
	struct h2_conn *h = c->h2;
	enum h2_result r = H2_IDLE;
	int progress = 0;

	h->progress = 0;
	if (h->pool_stale) {
		pool_sweep(h, 0);
	}
	progress |= client_read(h);
	progress |= streams_step(h);
	progress |= client_write(h);
	if (h->holds == 0 && !h->out_parked) {
		/* Nothing waits any more: no release run needed. */
		loop_unpark(c->w, c);
	}
	if (h->streams != NULL) {
		h->idle_deadline = now_of(h) + cfg_of(h)->idle_s * SEC_NS;
	}
	set_deadline(h);
	if (h->eof ||
	    (h->out_off == h->out_len && !nghttp2_session_want_read(h->ng) &&
	     !nghttp2_session_want_write(h->ng))) {
		r = H2_CLOSE;
	} else if (h->dying && h->out_off == h->out_len &&
		   !nghttp2_session_want_write(h->ng)) {
		r = H2_CLOSE;
	} else if (progress || h->progress) {
		r = H2_PROGRESS;
	}
	return r;
}

struct conn *
h2_event(struct pollsrc *src, uint32_t ev)
{
	struct h2_be *b =
	    (struct h2_be *)((char *)src - offsetof(struct h2_be, src));
	struct h2_stream *s = b->s;
	int in = (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
	int out = (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;

	if (s != NULL) {
		s->be_in |= in;
		s->be_out |= out;
	} else {
		/* Pooled: any input is EOF or bytes nobody asked for. */
		b->stale |= in;
		b->out |= out;
		b->h->pool_stale |= in;
	}
	return b->h->c;
}

/*
 * A request head still incomplete timeouts.header_s after its first
 * HEADERS frame: the client may be stuck in a header block, which
 * blocks the whole connection, so the connection ends (GOAWAY).
 */
static void
header_timeout(struct h2_stream *s)
{
	struct h2_conn *h = s->h;

	s->why = "header_timeout";
	s->deadline = UINT64_MAX;
	if (!h->dying) {
		log_event(LOG_INFO, "h2.header.timeout", "header_timeout",
			  LOG_STR("client", h->c->client_ip),
			  LOG_I64("stream", s->id));
		nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
		h->dying = 1;
		h->close_why = "header_timeout";
	}
	h->progress = 1;
}

void
h2_timeout(struct conn *c)
{
	struct h2_conn *h = c->h2;
	struct h2_stream *s;

	pool_sweep(h, 0);
	for (s = h->streams; s != NULL; s = s->next) {
		if (!stream_stale(s)) {
			continue;
		}
		if (!s->head_done) {
			header_timeout(s);
		} else if (s->be_connecting) {
			backend_fail(s, 504, "connect_timeout", ETIMEDOUT);
		} else if (!s->submitted) {
			backend_fail(s, 504, "idle_timeout", ETIMEDOUT);
		} else {
			stream_reset(s, NGHTTP2_CANCEL, "idle_timeout");
		}
	}
	if (h->streams == NULL && now_of(h) >= h->idle_deadline && !h->dying) {
		nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
		h->dying = 1;
	}
	set_deadline(h);
}

void
h2_drain(struct conn *c)
{
	struct h2_conn *h = c->h2;

	if (h != NULL && !h->dying) {
		/* No new streams; the open ones run to their end. */
		nghttp2_submit_goaway(
		    h->ng, NGHTTP2_FLAG_NONE,
		    nghttp2_session_get_last_proc_stream_id(h->ng),
		    NGHTTP2_NO_ERROR, NULL, 0);
		h->close_why = "drain";
	}
}

void
h2_free(struct conn *c, const char *why)
{
	struct h2_conn *h = c->h2;

	if (h == NULL) {
		goto out;
	}
	if (why == NULL) {
		why = h->close_why != NULL ? h->close_why : "conn_closed";
	}
	while (h->streams != NULL) {
		if (h->streams->why == NULL && !h->streams->body_done) {
			h->streams->why = why;
			if (strcmp(why, "client_abort") == 0 &&
			    !h->streams->local) {
				/* TCP closed mid-exchange (as h1) */
				metrics_add(&c->w->m->client_aborts, 1);
			}
		}
		stream_free(h->streams);
	}
	pool_sweep(h, 1);
	nghttp2_session_del(h->ng);
	free(h->out);
	free(h);
	c->h2 = NULL;
out:
	return;
}

static int
session_new(struct h2_conn *h)
{
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	const struct sidecar_config *cfg = cfg_of(h);
	nghttp2_settings_entry iv[3];
	int rc = -1;

	iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	iv[0].value = (uint32_t)cfg->h2_max_streams;
	iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
	iv[1].value = H2_STREAM_WINDOW;
	iv[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
	iv[2].value = (uint32_t)cfg->header_bytes;
	if (nghttp2_session_callbacks_new(&cb) != 0 ||
	    nghttp2_option_new(&opt) != 0) {
		goto out;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(
	    cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
	    cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
							       on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	/* Windows reopen only as request bytes reach the backend. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	if (nghttp2_session_server_new2(&h->ng, cb, h, opt) != 0) {
		h->ng = NULL;
		goto out;
	}
	if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
	    nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
						  H2_CONN_WINDOW) != 0) {
		goto out;
	}
	rc = 0;
out:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return rc;
}

enum sp_err
h2_start(struct conn *c)
{
	struct h2_conn *h;
	enum sp_err rc = SP_E_INTERNAL;

	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		goto out;
	}
	h->c = c;
	c->h2 = h;
	h->mode = c->w->srv->cfg->backend_h2c ? MODE_H2C : MODE_H1;
	h->rst_window = c->w->now;
	h->idle_deadline = c->w->now + cfg_of(h)->idle_s * SEC_NS;
	if (session_new(h) != 0) {
		goto out;
	}
	set_deadline(h);
	rc = SP_OK;
out:
	return rc;
}

/* h2_fuzz_feed(): what ended request streams would send their backend. */
static void
fuzz_streams(struct h2_conn *h, h2_fuzz_wire_fn *wire, void *arg)
{
	struct h2_stream *s;
	const uint8_t *p;

	for (s = h->streams; s != NULL; s = s->next) {
		if (!s->started || s->local || !s->req_end) {
			continue;
		}
		if (s->be != NULL) {
			while (nghttp2_session_mem_send(s->be, &p) > 0) {
				/* frames for the h2c backend: dropped */
			}
			continue;
		}
		if (s->req_chunked && !s->req_last) {
			s->req_last = 1;
			h1_last_chunk(s);
		}
		if (!s->local && s->wire_len > s->wire_off) {
			wire(arg, s->wire + s->wire_off,
			     s->wire_len - s->wire_off, s->req_chunked);
			s->wire_off = s->wire_len;
		}
	}
}

void
h2_fuzz_feed(struct conn *c, const uint8_t *data, size_t len, size_t piece,
	     h2_fuzz_wire_fn *wire, void *arg)
{
	struct h2_conn *h;
	const uint8_t *p;
	size_t off = 0;
	size_t n;
	ssize_t r = 0;

	if (h2_start(c) != SP_OK || piece == 0) {
		goto out;
	}
	h = c->h2;
	h->fuzz = 1;
	while (off < len && r >= 0 && !h->dying) {
		n = len - off < piece ? len - off : piece;
		r = nghttp2_session_mem_recv(h->ng, data + off, n);
		off += n;
		fuzz_streams(h, wire, arg);
		while (nghttp2_session_mem_send(h->ng, &p) > 0) {
			/* frames for the client: dropped */
		}
	}
out:
	h2_free(c, "fuzz");
}
