/*
 * proxy.c: the per-connection state machine (see proxy.h).
 *
 * proxy_run() calls the step functions below in a fixed order until none
 * makes progress: read the client, frame the request, connect, write the
 * backend, read the backend, frame the response, write the client, finish
 * the exchange. Each step looks only at readiness flags and buffer space,
 * so a step that cannot proceed costs nothing, and order never matters
 * for correctness, only for latency (a byte read is written in the same
 * round).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>

#include "accesslog.h"
#include "h2.h"
#include "ident.h"
#include "log.h"
#include "proxy.h"
#include "route.h"
#include "server.h"
#include "tlsctx.h"

#define SEC_NS 1000000000ull
/* Largest single read while lingering. */
#define PROXY_DRAIN_READ (16 * 1024)

static void conn_close(struct conn *c);

static const struct sidecar_config *
cfg_of(const struct conn *c)
{
	return c->w->srv->cfg;
}

static int
active(const struct conn *c)
{
	return c->phase == PH_ACTIVE;
}

/* Buffer capacity that holds the largest head we accept. */
static size_t
head_cap(const struct conn *c)
{
	size_t cap = cfg_of(c)->header_bytes + 2 * H1_LEADING_CRLF + 2;

	return cap > PROXY_BUF_SIZE ? cap : PROXY_BUF_SIZE;
}

/* The spare class of buffers of cap bytes, or -1 for other sizes. */
static int
spare_class(size_t cap)
{
	int k = -1;

	if (cap == PROXY_BUF_SIZE) {
		k = LOOP_SPARE_SMALL;
	} else if (cap == PROXY_DOWN_SIZE) {
		k = LOOP_SPARE_LARGE;
	}
	return k;
}

static int
iobuf_reserve(struct worker *w, struct iobuf *b, size_t cap)
{
	int k = spare_class(cap);
	char *p;
	int rc = 0;

	if (b->data == NULL && k >= 0) {
		/* A released buffer of this size: no malloc, no heap churn. */
		b->data = loop_spare_take(w, (enum loop_spare_class)k);
		b->cap = b->data != NULL ? cap : 0;
	}
	if (b->data == NULL || b->cap < cap) {
		p = realloc(b->data, cap);
		if (p == NULL) {
			rc = -1;
		} else {
			b->data = p;
			b->cap = cap;
		}
	}
	return rc;
}

/* Move the unsent bytes to the front. */
static void
iobuf_compact(struct iobuf *b)
{
	if (b->start > 0) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->fwd -= b->start;
		b->end -= b->start;
		b->start = 0;
	}
}

/* Once everything is sent, start again at the front. */
static void
iobuf_settle(struct iobuf *b)
{
	if (b->start == b->end) {
		b->start = 0;
		b->fwd = 0;
		b->end = 0;
	}
}

/* Give the buffer back: to the worker's spares, or to the heap. */
static void
iobuf_release(struct worker *w, struct iobuf *b)
{
	int k = spare_class(b->cap);

	if (k >= 0) {
		loop_spare_give(w, (enum loop_spare_class)k, b->data);
	} else {
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

static void
set_timer(struct conn *c, enum proxy_timer t, uint64_t ns)
{
	c->timer = t;
	c->deadline = c->w->now + ns;
}

/* Progress on an exchange postpones its idle deadline. */
static void
touch(struct conn *c)
{
	if (c->timer == TM_IDLE) {
		c->deadline = c->w->now + cfg_of(c)->idle_s * SEC_NS;
	}
}

static void
set_idle_timer(struct conn *c)
{
	set_timer(c, TM_IDLE, cfg_of(c)->idle_s * SEC_NS);
}

static void
backend_close(struct conn *c)
{
	if (c->be_fd >= 0) {
		close(c->be_fd);
		c->be_fd = -1;
	}
	c->be_in = 0;
	c->be_out = 0;
	c->be_connecting = 0;
	c->be_try = 0;
	c->be_hup = 0;
	c->be_short = 0;
	c->be_keep = 0;
	free(c->req_head);
	c->req_head = NULL;
	c->req_head_len = 0;
	c->req_head_sent = 0;
	loop_due(c->w, c, 0);
}

/* One access-log line and the request counters, once per request. */
static void
request_log(struct conn *c)
{
	struct accesslog_req r = {
	    .protocol = ACCESSLOG_H1,
	    .stream = -1,
	    .method = c->method,
	    .path = c->path,
	    .why = c->why,
	    .status = c->status,
	    .route = c->route,
	    .bytes_in = c->bytes_in,
	    .bytes_out = c->bytes_out,
	    .t_start = c->t_start,
	    .t_first = c->t_first,
	};

	accesslog_request(c, &r, c->w->now);
}

/* Close both sides now, logging the request in flight if any. */
static void
conn_close(struct conn *c)
{
	if (c->phase != PH_CLOSED) {
		if (c->req != RQ_IDLE) {
			request_log(c);
			c->req = RQ_IDLE;
		}
		backend_close(c);
		h2_free(c, NULL); /* h2 (issue 4) */
		SSL_free(c->ssl);
		c->ssl = NULL;
		close(c->fd);
		c->fd = -1;
		c->phase = PH_CLOSED;
	}
}

/*
 * Close gracefully after a response that ends the connection: our
 * close_notify, no more writes, then read and drop what the client still
 * sends for a short while, so that unread bytes do not turn our close
 * into a reset that could destroy the response in flight.
 */
static void
begin_close(struct conn *c)
{
	backend_close(c);
	ERR_clear_error();
	SSL_shutdown(c->ssl);
	ERR_clear_error();
	shutdown(c->fd, SHUT_WR);
	iobuf_release(c->w, &c->c2b);
	iobuf_release(c->w, &c->b2c);
	c->phase = PH_LINGER;
	c->linger_bytes = 0;
	set_timer(c, TM_LINGER, PROXY_LINGER_NS);
}

/* The client left or failed; the backend goes with it at once. */
static void
client_gone(struct conn *c, const char *why)
{
	if (c->tunnel && strcmp(why, "client_abort") == 0) {
		/* Closing a WebSocket is how it ends, not an abort. */
		why = "tunnel_client_closed";
	}
	if (c->req != RQ_IDLE && c->why == NULL) {
		c->why = why;
	}
	if (c->be_fd >= 0 && c->req != RQ_IDLE && !c->tunnel) {
		metrics_add(&c->w->m->client_aborts, 1);
	}
	conn_close(c);
}

static const char *
status_text(unsigned status)
{
	static const struct {
		unsigned code;
		const char *text;
	} texts[] = {
	    {400, "Bad Request"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {408, "Request Timeout"},
	    {413, "Content Too Large"},
	    {414, "URI Too Long"},
	    {417, "Expectation Failed"},
	    {431, "Request Header Fields Too Large"},
	    {500, "Internal Server Error"},
	    {502, "Bad Gateway"},
	    {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	    {505, "HTTP Version Not Supported"},
	};
	const char *text = "Error";
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (texts[i].code == status) {
			text = texts[i].text;
		}
	}
	return text;
}

/*
 * Answer the current request here and close afterwards. The body says
 * only the status; the reason code goes to the access log, not to the
 * client.
 */
static void
local_response(struct conn *c, unsigned status, const char *why)
{
	struct iobuf *b = &c->b2c;
	const char *text = status_text(status);
	char body[64];
	int blen;
	int n;

	backend_close(c);
	free(c->resp_head);
	c->resp_head = NULL;
	c->local = 1;
	c->close_after = 1;
	c->status = status;
	c->why = why;
	c->resp = RS_DONE;
	if (c->req != RQ_IDLE) {
		c->req = RQ_DONE;
	}
	set_idle_timer(c);
	if (iobuf_reserve(c->w, b, PROXY_BUF_SIZE) != 0) {
		conn_close(c);
		goto out;
	}

	blen = snprintf(body, sizeof(body), "%u %s\n", status, text);
	n = snprintf(b->data, b->cap,
		     "HTTP/1.1 %u %s\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %d\r\n"
		     "%s"
		     "Connection: close\r\n"
		     "\r\n"
		     "%s",
		     status, text, blen,
		     status == 503 ? "Retry-After: 5\r\n" : "",
		     c->head_request ? "" : body);
	b->start = 0;
	b->fwd = (size_t)n;
	b->end = (size_t)n;
out:
	return;
}

/* A request-side problem: 4xx if nothing was sent yet, else close. */
static void
exchange_fail(struct conn *c, unsigned status, const char *why)
{
	if (c->resp_started) {
		c->why = why;
		conn_close(c);
	} else {
		local_response(c, status, why);
	}
}

static void
reject(struct conn *c, unsigned status, const char *why)
{
	metrics_add(&c->w->m->bad_requests, 1);
	exchange_fail(c, status, why);
}

static void
backend_fail(struct conn *c, unsigned status, const char *why, int err)
{
	metrics_add(&c->w->m->backend_errors, 1);
	metrics_add(&c->w->m->backend_kind[metrics_backend_kind(why)], 1);
	log_event(LOG_WARN, "backend.failed", why,
		  LOG_STR("client", c->client_ip), LOG_I64("errno", err));
	backend_close(c);
	exchange_fail(c, status, why);
}

static void
handshake_failed(struct conn *c, enum tlsctx_fail f)
{
	metrics_add(&c->w->m->handshake_failures[f], 1);
	log_event(LOG_INFO, "tls.handshake.failed", tlsctx_fail_name(f),
		  LOG_STR("client", c->client_ip));
	/* After a failed handshake OpenSSL forbids SSL_shutdown. */
	conn_close(c);
}

/*
 * With mutual TLS: who the verified client is, and whether an allow rule
 * admits it. Decided once per connection, so every request on it, and
 * the backend connection serving them, belong to one identity.
 */
static void
peer_identify(struct conn *c)
{
	const struct sidecar_config *cfg = cfg_of(c);
	struct ident_result res;
	X509 *x;

	if (cfg->client_auth == SIDECAR_AUTH_NONE) {
		goto out;
	}
	x = SSL_get0_peer_certificate(c->ssl);
	if (x == NULL) {
		/* tls.client_auth optional, and none was sent. */
		goto out;
	}
	if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
		c->peer_denied = 1;
		goto out;
	}
	/*
	 * A resumed session's verify result is the one of its first
	 * handshake. tickets.c verified the certificate again before
	 * resuming; its validity period is checked here too (cheap),
	 * so no way of resuming can carry an expired identity.
	 */
	if (SSL_session_reused(c->ssl) && !tlsctx_x509_current(x)) {
		c->peer_denied = 1;
		goto out;
	}
	ident_check(x, cfg->allow, cfg->nallow, &res);
	if (!res.allowed) {
		/* Name the refused client in the log by its first identity. */
		c->peer_denied = 1;
		ident_check(x, NULL, 0, &res);
	}
	c->peer_rule = c->peer_denied ? NULL : res.rule;
	snprintf(c->peer_id, sizeof(c->peer_id), "%s", res.value);
out:
	return;
}

int
proxy_tls_can_read(const struct conn *c)
{
	return c->rd_on_out ? c->cli_out : c->cli_in || SSL_has_pending(c->ssl);
}

int
proxy_tls_can_write(const struct conn *c)
{
	return c->wr_on_in ? c->cli_in : c->cli_out;
}

void
proxy_tls_read_done(struct conn *c)
{
	c->rd_on_out = 0;
}

void
proxy_tls_wrote(struct conn *c)
{
	c->wr_on_in = 0;
}

int
proxy_tls_blocked(struct conn *c, int n, int writing, int *err)
{
	int blocked = 1;

	/* A read's flag and a write's flag are tracked apart. */
	*err = SSL_get_error(c->ssl, n);
	if (*err == SSL_ERROR_WANT_READ) {
		c->cli_in = 0;
	} else if (*err == SSL_ERROR_WANT_WRITE) {
		c->cli_out = 0;
	} else {
		blocked = 0;
	}
	if (blocked && writing) {
		c->wr_on_in = *err == SSL_ERROR_WANT_READ;
	} else if (blocked) {
		c->rd_on_out = *err == SSL_ERROR_WANT_WRITE;
	}
	return blocked;
}

static int
do_handshake(struct conn *c)
{
	int progress = 0;
	int r;
	int err;

	if (!proxy_tls_can_read(c)) {
		goto out;
	}
	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->phase = PH_ACTIVE;
		c->rd_on_out = 0;
		c->tls_version = SSL_get_version(c->ssl);
		peer_identify(c);
		progress = 1;
		if (h2_negotiated(c->ssl) && h2_start(c) != SP_OK) {
			/* h2 (issue 4) */
			conn_close(c);
		}
		goto out;
	}

	if (!proxy_tls_blocked(c, r, 0, &err)) {
		handshake_failed(c, tlsctx_classify(err));
		progress = 1;
	}
out:
	return progress;
}

static int
want_client_read(const struct conn *c)
{
	const struct iobuf *b = &c->c2b;
	int want = 0;

	if (!active(c) || c->local) {
		want = 0;
	} else if (c->req == RQ_IDLE || c->req == RQ_HEAD) {
		want =
		    b->data == NULL || b->end < b->cap || b->cap < head_cap(c);
	} else if (c->req == RQ_BODY) {
		want = b->end < b->cap;
	}
	return want;
}

/* The client sent EOF or broke the TLS session. */
static void
client_eof(struct conn *c)
{
	if (c->req == RQ_IDLE || c->req == RQ_HEAD) {
		/* Between requests, or a head never finished: just close. */
		if (c->req == RQ_HEAD) {
			c->why = "client_closed";
		}
		conn_close(c);
	} else {
		client_gone(c, "client_abort");
	}
}

/*
 * A recv() came back short and no input event came since, so the socket
 * is empty: wait for the next edge instead of calling SSL_read() again.
 * Not after a hang-up, whose EOF must still be read, nor while OpenSSL
 * holds bytes it already read. Data arriving later raises a new event,
 * and events are only taken after the run queue, so none is lost.
 */
static void
client_drained(struct conn *c)
{
	if (c->sock.drained && !c->cli_hup && !SSL_has_pending(c->ssl)) {
		c->cli_in = 0;
	}
}

/*
 * Read from the client. Without a buffer (an idle keep-alive connection)
 * the bytes land in the worker's scratch and a buffer is taken only once
 * some arrived, so a connection waiting for its next request holds none.
 */
static int
client_read(struct conn *c)
{
	struct iobuf *b = &c->c2b;
	char *dst = c->w->scratch;
	size_t room = PROXY_BUF_SIZE;
	int progress = 0;
	int n;
	int err;

	if (!want_client_read(c) || !proxy_tls_can_read(c)) {
		goto out;
	}
	if (b->data != NULL && b->end == b->cap) {
		/* A head that needs a larger buffer; request_head grows it. */
		goto out;
	}
	if (b->data != NULL) {
		dst = b->data + b->end;
		room = b->cap - b->end;
	}

	ERR_clear_error();
	n = SSL_read(c->ssl, dst, (int)room);
	if (n > 0 && b->data == NULL) {
		if (iobuf_reserve(c->w, b, PROXY_BUF_SIZE) != 0) {
			client_gone(c, "no_memory");
			progress = 1;
			goto out;
		}
		memcpy(b->data, dst, (size_t)n);
	}
	if (n > 0) {
		b->end += (size_t)n;
		proxy_tls_read_done(c);
		client_drained(c);
		touch(c);
		progress = 1;
		goto out;
	}
	if (!proxy_tls_blocked(c, n, 0, &err)) {
		client_eof(c);
		progress = 1;
	}
out:
	return progress;
}

static void
request_begin(struct conn *c)
{
	iobuf_compact(&c->c2b);
	memset(&c->req_scan, 0, sizeof(c->req_scan));
	c->req = RQ_HEAD;
	c->resp = RS_WAIT;
	c->t_start = c->w->now;
	c->t_first = 0;
	c->status = 0;
	c->why = NULL;
	c->bytes_in = 0;
	c->bytes_out = 0;
	c->local = 0;
	c->resp_started = 0;
	c->head_request = 0;
	c->ws_request = 0;
	c->route = -1;
	snprintf(c->method, sizeof(c->method), "-");
	c->path[0] = '\0';
	if (c->timer != TM_HEADER) {
		/* Fixed from the first byte: slow heads are not extended. */
		set_timer(c, TM_HEADER, cfg_of(c)->header_s * SEC_NS);
	}
}

static void
note_request(struct conn *c, const char *head, const struct h1_msg *m)
{
	size_t n = m->path.len;

	snprintf(c->method, sizeof(c->method), "%.*s", (int)m->method.len,
		 head + m->method.off);
	if (n > PROXY_PATH_LOG_MAX) {
		n = PROXY_PATH_LOG_MAX;
	}
	memcpy(c->path, head + m->path.off, n);
	c->path[n] = '\0';
	c->head_request = h1_span_eq(head, m->method, "HEAD");
}

/* Open a non-blocking connection to the backend. */
static void
backend_open(struct conn *c)
{
	int done = 0;
	int fd;
	int e;

	fd = netaddr_connect(&cfg_of(c)->backend_addr, &done);
	if (fd < 0 || loop_watch(c->w, fd, &c->be_src) != 0) {
		e = errno;
		if (fd >= 0) {
			close(fd);
		}
		backend_fail(c, 502, "backend_connect", e);
		goto out;
	}

	c->be_fd = fd;
	c->be_in = 0;
	c->be_hup = 0;
	c->be_short = 0;
	c->be_out = done;
	c->be_connecting = !done;
	/*
	 * On loopback the handshake is usually over when connect() returns
	 * EINPROGRESS: send at once rather than wait a round for EPOLLOUT.
	 */
	c->be_try = !done;
	if (c->be_connecting) {
		set_timer(c, TM_CONNECT, cfg_of(c)->connect_s * SEC_NS);
	}
out:
	return;
}

/* The fields a forwarded WebSocket upgrade needs (h1 drops them). */
#define WS_UPGRADE_FIELDS "Connection: Upgrade\r\nUpgrade: websocket\r\n"

/*
 * Replace the target of the written request line with the normalised
 * path (plus the query as received) and, for a WebSocket upgrade, add
 * the upgrade fields before the blank line. out[0..n) is the head from
 * h1_write_request_head(). Returns a new malloc'd head or NULL.
 */
static char *
splice_head(const char *head, const struct h1_msg *m, const char *out, size_t n,
	    const char *norm, int ws, size_t *len)
{
	size_t line_rest = m->method.len + 1 + m->target.len;
	size_t query = m->target.len - m->path.len;
	size_t extra = ws ? sizeof(WS_UPGRADE_FIELDS) - 1 : 0;
	size_t nlen = strlen(norm);
	size_t cap = n + nlen + extra + 1;
	char *p;
	size_t k = 0;

	p = malloc(cap);
	if (p == NULL || n < line_rest + 2) {
		free(p);
		p = NULL;
		goto out;
	}
	memcpy(p, out, m->method.len + 1);
	k = m->method.len + 1;
	memcpy(p + k, norm, nlen);
	k += nlen;
	memcpy(p + k, head + m->path.off + m->path.len, query);
	k += query;
	/* The rest without its final CRLF, the extra fields, the CRLF. */
	memcpy(p + k, out + line_rest, n - line_rest - 2);
	k += n - line_rest - 2;
	memcpy(p + k, WS_UPGRADE_FIELDS, extra);
	k += extra;
	memcpy(p + k, "\r\n", 2);
	k += 2;
	*len = k;
out:
	return p;
}

/* Prepare body framing and the re-written head for the backend. */
static int
request_forward(struct conn *c, const char *head, size_t len,
		const struct h1_msg *m, const char *norm)
{
	size_t cap = len + m->nheaders + H1_REWRITE_SLACK;
	char *spliced;
	int rc = -1;

	free(c->req_head);
	c->req_head = malloc(cap);
	if (c->req_head == NULL) {
		goto out;
	}
	c->req_head_len =
	    h1_write_request_head(head, m, c->client_ip, c->req_head, cap);
	c->req_head_sent = 0;
	if (c->req_head_len == 0) {
		goto out;
	}
	spliced = splice_head(head, m, c->req_head, c->req_head_len, norm,
			      c->ws_request, &c->req_head_len);
	free(c->req_head);
	c->req_head = spliced;
	if (spliced == NULL) {
		c->req_head_len = 0;
		goto out;
	}

	c->req_framing = m->framing;
	c->req_left = m->content_length;
	h1_chunk_init_request(&c->req_chunk, &c->w->srv->limits);
	c->req = m->framing == H1_BODY_NONE ? RQ_DONE : RQ_BODY;
	c->resp = RS_HEAD;
	memset(&c->resp_scan, 0, sizeof(c->resp_scan));
	loop_due(c->w, c, 1);
	rc = 0;
out:
	return rc;
}

/* A WebSocket upgrade (RFC 6455 §4.1): GET, HTTP/1.1, no body. */
static int
is_websocket(const char *head, const struct h1_msg *m)
{
	size_t i;
	int yes = 0;

	if (!m->upgrade || m->minor != 1 || m->framing != H1_BODY_NONE ||
	    !h1_span_eq(head, m->method, "GET")) {
		goto out;
	}
	for (i = 0; i < m->nheaders; i++) {
		if (h1_span_eq(head, m->headers[i].name, "upgrade") &&
		    h1_span_eq(head, m->headers[i].value, "websocket")) {
			yes = 1;
		}
	}
out:
	return yes;
}

/*
 * Normalise the path, pick the route, apply the body limit. Returns the
 * normalised path (in the worker's scratch) or NULL after answering.
 */
static const char *
request_route(struct conn *c, const char *head, const struct h1_msg *m)
{
	const struct sidecar_config *cfg = cfg_of(c);
	char *norm = c->w->scratch;
	const char *why = NULL;
	unsigned status = 404;
	size_t n = 0;
	long idx = -1;

	if (m->path.len > 0 && head[m->path.off] == '/' &&
	    2 * (size_t)m->path.len + 2 <= LOOP_SCRATCH) {
		n = route_normalise(head + m->path.off, m->path.len, norm,
				    LOOP_SCRATCH, &why);
		status = 400;
	}
	if (n == 0) {
		if (status == 404) {
			why = "no_route";
		}
		norm = NULL;
		exchange_fail(c, status, why);
		goto out;
	}
	idx = route_match(&cfg->routes, norm, n,
			  route_method_bit(head + m->method.off, m->method.len),
			  &status, &why);
	if (idx < 0) {
		/* Never forwarded: admin and debug paths stay private. */
		norm = NULL;
		exchange_fail(c, status, why);
		goto out;
	}
	c->route = (int)idx;
	if (m->framing == H1_BODY_LENGTH &&
	    m->content_length > cfg->body_bytes) {
		norm = NULL;
		exchange_fail(c, 413, "body_too_large");
		goto out;
	}
	c->ws_request = cfg->routes.r[idx].websocket && is_websocket(head, m);
out:
	return norm;
}

/* A complete head is in c2b[scan.start, end): parse and act on it. */
static void
request_start(struct conn *c, size_t end)
{
	struct server *srv = c->w->srv;
	struct h1_msg *m = c->w->msg;
	struct iobuf *b = &c->c2b;
	const char *head = b->data + c->req_scan.start;
	size_t len = end - c->req_scan.start;
	const char *norm;

	c->bytes_in = end;
	b->start = end;
	b->fwd = end;
	if (h1_parse_request(head, len, &srv->limits, m) != 0) {
		if (m->path.len > 0) {
			note_request(c, head, m);
		}
		reject(c, m->error_status, m->error);
		goto out;
	}
	note_request(c, head, m);
	if (c->peer_denied) {
		/* A verified certificate that no tls.allow rule admits. */
		local_response(c, 403, "identity_denied");
		goto out;
	}
	if (!server_marker_ready(srv)) {
		/* Deny until ready: nothing reaches the backend. */
		metrics_add(&c->w->m->not_ready, 1);
		local_response(c, 503, "not_ready");
		goto out;
	}
	norm = request_route(c, head, m);
	if (norm == NULL) {
		goto out;
	}

	c->keep_alive = m->keep_alive;
	c->close_after = !m->keep_alive || atomic_load(&srv->closing);
	if (request_forward(c, head, len, m, norm) != 0) {
		local_response(c, 500, "no_memory");
		goto out;
	}
	set_idle_timer(c);
	/*
	 * XXX: a kept backend connection that the backend closes just as we
	 * send gives this request a 502; we do not retry, because we cannot
	 * tell whether a non-idempotent request was already acted on.
	 */
	if (c->be_fd < 0) {
		backend_open(c);
	}
out:
	return;
}

static int
request_head(struct conn *c)
{
	struct iobuf *b = &c->c2b;
	unsigned status = 400;
	const char *why = "bad_request";
	long end;
	int progress = 0;

	end = h1_scan_head(&c->req_scan, b->data, b->end, &c->w->srv->limits,
			   &status, &why);
	if (end < 0) {
		reject(c, status, why);
		progress = 1;
	} else if (end > 0) {
		request_start(c, (size_t)end);
		progress = 1;
	} else if (b->end == b->cap && b->cap < head_cap(c)) {
		if (iobuf_reserve(c->w, b, head_cap(c)) != 0) {
			client_gone(c, "no_memory");
		}
		progress = 1;
	}
	return progress;
}

/*
 * Advance a body's framing over the n bytes at p: a length-delimited body
 * takes at most *left of them, a chunked one what the chunk parser
 * accepts. *used gets the bytes taken; returns whether the body ended.
 */
static enum h1_chunk_result
body_advance(enum h1_framing framing, uint64_t *left, struct h1_chunk *chunk,
	     const char *p, size_t n, size_t *used)
{
	enum h1_chunk_result r = H1_CHUNK_MORE;

	*used = n;
	if (framing == H1_BODY_LENGTH) {
		if (*used > *left) {
			*used = (size_t)*left;
		}
		*left -= *used;
		r = *left == 0 ? H1_CHUNK_DONE : H1_CHUNK_MORE;
	} else if (framing == H1_BODY_CHUNKED) {
		r = h1_chunk_feed(chunk, p, n, used);
	}
	return r;
}

/* Clear request body bytes for forwarding as their framing checks out. */
static int
request_body(struct conn *c)
{
	struct iobuf *b = &c->c2b;
	size_t avail = b->end - b->fwd;
	size_t used = avail;
	enum h1_chunk_result r = H1_CHUNK_MORE;
	int progress = 0;

	if (avail == 0) {
		goto out;
	}
	r = body_advance(c->req_framing, &c->req_left, &c->req_chunk,
			 b->data + b->fwd, avail, &used);
	b->fwd += used;
	c->bytes_in += used;
	progress = 1;

	if (c->req_framing == H1_BODY_CHUNKED &&
	    c->req_chunk.payload > cfg_of(c)->body_bytes) {
		backend_close(c);
		exchange_fail(c, 413, "body_too_large");
	} else if (r == H1_CHUNK_ERROR) {
		metrics_add(&c->w->m->bad_requests, 1);
		backend_close(c);
		exchange_fail(c, 400, c->req_chunk.why);
	} else if (r == H1_CHUNK_DONE) {
		c->req = RQ_DONE;
	}
out:
	return progress;
}

static int
request_advance(struct conn *c)
{
	int progress = 0;

	if (!active(c) || c->local) {
		goto out;
	}
	if (c->req == RQ_IDLE && c->c2b.end > c->c2b.start) {
		request_begin(c);
		progress = 1;
	}
	if (c->req == RQ_HEAD) {
		progress |= request_head(c);
	} else if (c->req == RQ_BODY) {
		progress |= request_body(c);
	}
out:
	return progress;
}

static void
backend_connected(struct conn *c)
{
	c->be_connecting = 0;
	c->be_try = 0;
	c->be_out = 1;
	set_idle_timer(c);
}

static int
backend_check_connect(struct conn *c)
{
	int err;
	int progress = 0;

	if (!active(c) || c->be_fd < 0 || !c->be_connecting || !c->be_out) {
		goto out;
	}
	progress = 1;
	err = netaddr_connect_result(c->be_fd);
	if (err != 0) {
		backend_fail(c, 502, "backend_connect", err);
		goto out;
	}
	backend_connected(c);
out:
	return progress;
}

/* A first send may be tried while connecting; otherwise wait for out. */
static int
backend_writable(const struct conn *c)
{
	return c->be_connecting ? c->be_try : c->be_out;
}

static int
backend_write(struct conn *c)
{
	struct iobuf *b = &c->c2b;
	struct iovec iov[2];
	struct msghdr msg = {0};
	size_t head_left = c->req_head_len - c->req_head_sent;
	size_t k;
	ssize_t n;
	int progress = 0;

	if (!active(c) || c->be_fd < 0 || !backend_writable(c) ||
	    c->req == RQ_IDLE || c->req == RQ_HEAD) {
		goto out;
	}
	iov[0].iov_base = c->req_head + c->req_head_sent;
	iov[0].iov_len = head_left;
	iov[1].iov_base = b->data + b->start;
	iov[1].iov_len = b->fwd - b->start;
	if (head_left + iov[1].iov_len == 0) {
		goto out;
	}
	msg.msg_iov = head_left > 0 ? iov : iov + 1;
	msg.msg_iovlen = head_left > 0 ? 2 : 1;

	n = sendmsg(c->be_fd, &msg, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		/* Not connected yet: EPOLLOUT, then the connect check. */
		c->be_try = 0;
		c->be_out = 0;
		goto out;
	}
	progress = 1;
	if (n < 0 && errno != EINTR) {
		backend_fail(c, 502,
			     c->be_connecting ? "backend_connect"
					      : "backend_write",
			     errno);
		goto out;
	}
	if (n < 0) {
		goto out;
	}
	if (c->be_connecting) {
		/* Bytes were taken, so the connection is up. */
		backend_connected(c);
	}

	k = (size_t)n < head_left ? (size_t)n : head_left;
	c->req_head_sent += k;
	b->start += (size_t)n - k;
	iobuf_settle(b);
	touch(c);
out:
	return progress;
}

/* Bytes or EOF from a backend with no response pending. */
static int
backend_idle_read(struct conn *c)
{
	ssize_t n;
	int progress = 0;

	n = recv(c->be_fd, c->w->scratch, PROXY_DRAIN_READ, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->be_in = 0;
	} else if (n < 0 && errno == EINTR) {
		progress = 1;
	} else {
		/* EOF, error, or bytes nobody asked for: never reuse it. */
		backend_close(c);
		progress = 1;
	}
	return progress;
}

/* The backend closed its side while a response was wanted. */
static void
backend_eof(struct conn *c)
{
	if (c->resp == RS_BODY && c->resp_framing == H1_BODY_CLOSE) {
		if (c->tunnel) {
			c->why = "tunnel_backend_closed";
		}
		c->resp = RS_DONE;
		backend_close(c);
	} else {
		backend_fail(c, 502, "backend_closed", 0);
	}
}

static int
backend_read(struct conn *c)
{
	struct iobuf *b = &c->b2c;
	size_t room;
	ssize_t n;
	int progress = 0;

	if (!active(c) || c->be_fd < 0 || c->be_connecting || !c->be_in) {
		goto out;
	}
	if (c->resp != RS_HEAD && c->resp != RS_BODY && c->be_short &&
	    !c->be_hup) {
		/* The last read emptied the socket and no event came since. */
		c->be_in = 0;
		goto out;
	}
	if (c->resp != RS_HEAD && c->resp != RS_BODY) {
		progress = backend_idle_read(c);
		goto out;
	}
	if (c->resp == RS_BODY && b->fwd < b->end) {
		/*
		 * Frame what is here first: the backend's EOF, read now,
		 * would fail a response these bytes may already complete.
		 */
		goto out;
	}
	if (iobuf_reserve(c->w, b, PROXY_DOWN_SIZE) != 0) {
		client_gone(c, "no_memory");
		progress = 1;
		goto out;
	}
	if (b->end == b->cap) {
		goto out;
	}

	room = b->cap - b->end;
	n = recv(c->be_fd, b->data + b->end, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->be_in = 0;
		goto out;
	}
	progress = 1;
	c->be_short = n > 0 && (size_t)n < room;
	if (n > 0) {
		b->end += (size_t)n;
		loop_due(c->w, c, 0);
		/*
		 * Once the response flows, a short read means the socket is
		 * empty: wait for the next edge, not for EAGAIN (a hang-up's
		 * EOF is still read). Before that, backend_unread() keeps
		 * reading so that a head and its body leave together.
		 */
		if ((size_t)n < room && !c->be_hup && c->resp_started) {
			c->be_in = 0;
		}
		touch(c);
	} else if (n == 0) {
		backend_eof(c);
	} else if (errno != EINTR) {
		backend_fail(c, 502, "backend_read", errno);
	}
out:
	return progress;
}

/* Put the re-written head just before the body, or aside if larger. */
static int
place_response_head(struct conn *c, const char *out, size_t n, size_t end)
{
	struct iobuf *b = &c->b2c;
	int rc = 0;

	if (n <= end) {
		memcpy(b->data + end - n, out, n);
		b->start = end - n;
	} else {
		c->resp_head = malloc(n);
		if (c->resp_head == NULL) {
			rc = -1;
		} else {
			memcpy(c->resp_head, out, n);
			c->resp_head_len = n;
			c->resp_head_sent = 0;
			b->start = end;
		}
	}
	b->fwd = end;
	return rc;
}

/*
 * The backend accepted a WebSocket upgrade: pass its 101 on with the
 * upgrade fields, then move bytes both ways unexamined until either side
 * closes or the idle timeout; the connection closes afterwards.
 */
static void
tunnel_start(struct conn *c, const char *head, size_t end,
	     const struct h1_msg *m)
{
	char *out = c->w->scratch;
	size_t extra = sizeof(WS_UPGRADE_FIELDS) - 1;
	size_t n;

	n = h1_write_response_head(head, m, 0, out, LOOP_SCRATCH - extra);
	if (n < 2 || c->req != RQ_DONE) {
		backend_fail(c, 502, "bad_upgrade", 0);
		goto out;
	}
	memcpy(out + n - 2, WS_UPGRADE_FIELDS "\r\n", extra + 2);
	n += extra;
	if (place_response_head(c, out, n, end) != 0) {
		backend_fail(c, 502, "no_memory", 0);
		goto out;
	}
	memset(&c->resp_scan, 0, sizeof(c->resp_scan));
	metrics_add(&c->w->m->tunnels, 1);
	c->tunnel = 1;
	c->status = 101;
	c->be_keep = 0;
	c->close_after = 1;
	c->req = RQ_BODY;
	c->req_framing = H1_BODY_CLOSE;
	c->resp = RS_BODY;
	c->resp_framing = H1_BODY_CLOSE;
out:
	return;
}

/* A complete response head is in b2c[scan.start, end). */
static void
response_start(struct conn *c, size_t end)
{
	struct h1_msg *m = c->w->msg;
	struct iobuf *b = &c->b2c;
	struct h1_limits lim = c->w->srv->limits;
	const char *head = b->data + c->resp_scan.start;
	int final;
	size_t n;

	lim.headers = H1_HEADERS_MAX;
	if (h1_parse_response(head, end - c->resp_scan.start, &lim,
			      c->head_request, m) != 0) {
		backend_fail(c, 502, m->error, 0);
		goto out;
	}
	if (m->status == 101 && !c->ws_request) {
		/* We forwarded no Upgrade, so this is a broken backend. */
		backend_fail(c, 502, "unexpected_upgrade", 0);
		goto out;
	}
	if (m->status == 101) {
		tunnel_start(c, head, end, m);
		goto out;
	}
	final = m->status >= 200;
	if (final && m->framing == H1_BODY_CLOSE) {
		c->close_after = 1;
	}
	n = h1_write_response_head(head, m, final && c->close_after,
				   c->w->scratch, LOOP_SCRATCH);
	if (n == 0 || place_response_head(c, c->w->scratch, n, end) != 0) {
		backend_fail(c, 502, "no_memory", 0);
		goto out;
	}

	memset(&c->resp_scan, 0, sizeof(c->resp_scan));
	if (!final) {
		/* 1xx: forwarded; the final head follows. */
		goto out;
	}
	c->status = m->status;
	c->be_keep = m->keep_alive;
	c->resp_framing = m->framing;
	c->resp_left = m->content_length;
	c->resp_length = m->content_length;
	memset(&c->resp_chunk, 0, sizeof(c->resp_chunk));
	c->resp = m->framing == H1_BODY_NONE ? RS_DONE : RS_BODY;
	if (c->resp == RS_DONE && b->end > end) {
		/* Bytes after a bodiless response: never reuse this one. */
		c->be_keep = 0;
		b->end = end;
	}
out:
	return;
}

static int
response_head(struct conn *c)
{
	struct iobuf *b = &c->b2c;
	struct h1_limits lim = c->w->srv->limits;
	unsigned status = 502;
	const char *why = "bad_response";
	long end;
	int progress = 0;

	/* An interim (1xx) head still going out comes first. */
	if (b->end == b->start || b->fwd != b->start || c->resp_head != NULL) {
		goto out;
	}
	if (c->resp_scan.pos == 0 && b->start > 0) {
		iobuf_compact(b);
	}
	lim.line_bytes = lim.head_bytes;
	end = h1_scan_head(&c->resp_scan, b->data, b->end, &lim, &status, &why);
	if (end < 0) {
		backend_fail(c, 502, "bad_response_head", 0);
		progress = 1;
	} else if (end > 0) {
		response_start(c, (size_t)end);
		progress = 1;
	} else if (b->end == b->cap && b->cap < head_cap(c)) {
		if (iobuf_reserve(c->w, b, head_cap(c)) != 0) {
			backend_fail(c, 502, "no_memory", 0);
		}
		progress = 1;
	}
out:
	return progress;
}

/* Clear response body bytes for the client as their framing checks out. */
static int
response_body(struct conn *c)
{
	struct iobuf *b = &c->b2c;
	size_t avail = b->end - b->fwd;
	size_t used = avail;
	enum h1_chunk_result r = H1_CHUNK_MORE;
	int progress = 0;

	if (avail == 0) {
		goto out;
	}
	r = body_advance(c->resp_framing, &c->resp_left, &c->resp_chunk,
			 b->data + b->fwd, avail, &used);
	b->fwd += used;
	progress = 1;

	if (r == H1_CHUNK_ERROR) {
		backend_fail(c, 502, c->resp_chunk.why, 0);
	} else if (r == H1_CHUNK_DONE) {
		c->resp = RS_DONE;
		if (b->fwd < b->end) {
			c->be_keep = 0;
			b->end = b->fwd;
		}
	}
out:
	return progress;
}

static int
response_advance(struct conn *c)
{
	int progress = 0;

	if (!active(c) || c->local) {
		progress = 0;
	} else if (c->resp == RS_HEAD) {
		progress = response_head(c);
	} else if (c->resp == RS_BODY) {
		progress = response_body(c);
	}
	return progress;
}

/* Bytes cleared for the client: the set-aside head first, then b2c. */
static const char *
client_pending(struct conn *c, size_t *len)
{
	const char *p = c->b2c.data + c->b2c.start;

	*len = c->b2c.fwd - c->b2c.start;
	if (c->resp_head != NULL) {
		p = c->resp_head + c->resp_head_sent;
		*len = c->resp_head_len - c->resp_head_sent;
	}
	return p;
}

static void
client_wrote(struct conn *c, size_t n)
{
	struct metrics *m = c->w->m;

	if (c->resp_head != NULL) {
		c->resp_head_sent += n;
		if (c->resp_head_sent == c->resp_head_len) {
			free(c->resp_head);
			c->resp_head = NULL;
		}
	} else {
		c->b2c.start += n;
		iobuf_settle(&c->b2c);
	}
	c->bytes_out += n;
	metrics_add(&m->bytes_out, n);
	if (!c->resp_started) {
		c->resp_started = 1;
		c->t_first = c->w->now;
		loop_unpark(c->w, c);
	}
	touch(c);
}

/*
 * Nothing of the response went out yet, the backend may have more of it
 * right now (no EAGAIN since the last read) and there is room: read that
 * first, so that a head and the body that follows it at once leave in
 * one TLS record. Reads never wait, so nothing is held back.
 */
static int
backend_unread(const struct conn *c)
{
	return !c->resp_started && c->be_fd >= 0 && !c->be_connecting &&
	       c->be_in && !c->local &&
	       (c->resp == RS_HEAD || c->resp == RS_BODY) &&
	       c->b2c.data != NULL && c->b2c.end < c->b2c.cap;
}

/* A head whose announced body has not begun: it should follow at once. */
static int
body_expected(const struct conn *c)
{
	return c->resp == RS_BODY && c->resp_framing == H1_BODY_LENGTH &&
	       c->resp_left > 0 && c->resp_left == c->resp_length;
}

/*
 * Whether a response's first bytes wait, parked (loop_park). A head that
 * came without its announced body waits for the body (through the
 * worker's busy poll, at most coalesce_us), and both leave in one TLS
 * record; a complete response waits for the work the worker has in hand
 * and, while another connection's response is due (loop_due), briefly
 * through the busy poll, so that responses leave together and a client
 * with many connections (the gateway) wakes once for them. With nothing
 * due it goes out as soon as the worker's hands are empty. Streamed
 * responses (chunked, to close), upgrades and local replies never wait.
 */
static int
response_waits(const struct conn *c)
{
	return !c->resp_started && !c->park_over && !c->local && !c->tunnel &&
	       (c->resp == RS_BODY || c->resp == RS_DONE) &&
	       (c->resp_framing == H1_BODY_LENGTH ||
		c->resp_framing == H1_BODY_NONE);
}

static int
client_write(struct conn *c)
{
	const char *p;
	size_t len;
	int progress = 0;
	int n;
	int err;

	if (!active(c) || !proxy_tls_can_write(c) || backend_unread(c)) {
		goto out;
	}
	if (response_waits(c) && loop_park(c->w, c, body_expected(c))) {
		goto out;
	}
	p = client_pending(c, &len);
	if (len == 0) {
		goto out;
	}
	/* One record per call; all but the burst's last go with MSG_MORE. */
	c->sock.more = len > PROXY_RECORD;
	if (len > PROXY_RECORD) {
		len = PROXY_RECORD;
	}

	ERR_clear_error();
	n = SSL_write(c->ssl, p, (int)len);
	if (n > 0) {
		proxy_tls_wrote(c);
		client_wrote(c, (size_t)n);
		progress = 1;
		goto out;
	}
	if (!proxy_tls_blocked(c, n, 1, &err)) {
		client_gone(c, "client_write");
		progress = 1;
	}
out:
	return progress;
}

/* The response is out: log, then keep the connection or close it. */
static void
finish_request(struct conn *c)
{
	struct server *srv = c->w->srv;
	int sent_all = c->req == RQ_DONE &&
		       c->req_head_sent == c->req_head_len &&
		       c->c2b.start == c->c2b.fwd;

	if (!c->local && c->req != RQ_DONE) {
		/* Answered before the body ended: the rest is not read. */
		c->close_after = 1;
	}
	metrics_add(&c->w->m->bytes_in, c->bytes_in);
	request_log(c);
	if (!c->be_keep || c->close_after || c->local || !sent_all) {
		backend_close(c);
	}
	free(c->req_head);
	c->req_head = NULL;
	c->c2b.start = c->c2b.fwd;
	iobuf_settle(&c->c2b);
	c->req = RQ_IDLE;
	c->resp = RS_WAIT;

	if (c->close_after || atomic_load(&srv->closing)) {
		begin_close(c);
	} else {
		set_idle_timer(c);
		if (c->c2b.end == 0) {
			/* Idle keep-alive connections hold no buffers. */
			iobuf_release(c->w, &c->c2b);
			iobuf_release(c->w, &c->b2c);
		}
	}
}

static int
maybe_finish(struct conn *c)
{
	int progress = 0;

	if (active(c) && c->resp == RS_DONE && c->resp_head == NULL &&
	    c->b2c.start == c->b2c.fwd) {
		finish_request(c);
		progress = 1;
	}
	return progress;
}

/* Read and drop what the client still sends after our close. */
static int
do_linger(struct conn *c)
{
	ssize_t n;
	int progress = 0;

	if (!c->cli_in) {
		goto out;
	}
	n = recv(c->fd, c->w->scratch, PROXY_DRAIN_READ, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->cli_in = 0;
		goto out;
	}
	progress = 1;
	if (n > 0) {
		c->linger_bytes += (uint64_t)n;
	}
	if (n == 0 || (n < 0 && errno != EINTR) ||
	    c->linger_bytes > PROXY_LINGER_BYTES) {
		conn_close(c);
	}
out:
	return progress;
}

/* A backend exchange is under way for this client. */
static int
exchange_busy(const struct conn *c)
{
	return c->be_fd >= 0 && c->req != RQ_IDLE && !c->local;
}

static int
do_active(struct conn *c)
{
	int progress = 0;

	if (c->cli_hup && exchange_busy(c)) {
		/*
		 * The client left: stop the model working for nobody. A
		 * client that only half-closes counts as gone too; HTTP/1.1
		 * clients do not half-close while awaiting a response.
		 */
		client_gone(c, "client_abort");
		progress = 1;
		goto out;
	}
	progress |= client_read(c);
	progress |= request_advance(c);
	progress |= backend_check_connect(c);
	progress |= backend_write(c);
	progress |= backend_read(c);
	progress |= response_advance(c);
	progress |= client_write(c);
	progress |= maybe_finish(c);
out:
	return progress;
}

static int
step(struct conn *c)
{
	enum h2_result r;
	int progress = 0;

	if (c->phase == PH_HANDSHAKE) {
		progress = do_handshake(c);
	} else if (c->phase == PH_ACTIVE && c->h2 != NULL) {
		/* h2 (issue 4) */
		r = h2_step(c);
		progress = r != H2_IDLE;
		if (r == H2_CLOSE) {
			/* Linger so a final GOAWAY is not lost to a reset. */
			h2_free(c, NULL);
			begin_close(c);
		}
	} else if (c->phase == PH_ACTIVE) {
		progress = do_active(c);
	} else if (c->phase == PH_LINGER) {
		progress = do_linger(c);
	}
	return progress;
}

enum proxy_result
proxy_run(struct conn *c)
{
	enum proxy_result r = PROXY_AGAIN;
	int round;

	for (round = 0; round < PROXY_RUN_ROUNDS; round++) {
		if (!step(c)) {
			r = PROXY_IDLE;
			break;
		}
		if (loop_park_overdue(c->w)) {
			/* Another connection's held response is due out. */
			break;
		}
	}
	/* Released from a park: whatever was held went out in this run. */
	c->park_over = 0;
	if (c->phase == PH_CLOSED) {
		r = PROXY_CLOSED;
	} else {
		/* A burst cut short (backend empty, socket full) must not
		 * leave its MSG_MORE tail corked for the kernel's 200 ms. */
		tlsctx_sock_push(&c->sock);
	}
	return r;
}

void
proxy_timeout(struct conn *c)
{
	if (c->phase == PH_HANDSHAKE) {
		handshake_failed(c, TLSCTX_FAIL_TIMEOUT);
	} else if (c->phase == PH_LINGER) {
		conn_close(c);
	} else if (c->phase == PH_ACTIVE && c->h2 != NULL) {
		h2_timeout(c); /* h2 (issue 4) */
	} else if (c->phase != PH_ACTIVE) {
		/* closed already */
	} else if (c->timer == TM_CONNECT) {
		backend_fail(c, 504, "connect_timeout", ETIMEDOUT);
	} else if (c->req == RQ_HEAD) {
		reject(c, 408, "header_timeout");
	} else if (c->req == RQ_IDLE) {
		/* Idle keep-alive, or no request since the handshake. */
		begin_close(c);
	} else if (!c->resp_started && !c->local) {
		backend_fail(c, 504, "idle_timeout", ETIMEDOUT);
	} else {
		c->why = "idle_timeout";
		conn_close(c);
	}
}

void
proxy_drain(struct conn *c)
{
	if (c->h2 != NULL) {
		h2_drain(c); /* h2 (issue 4) */
	} else if (c->phase == PH_ACTIVE && c->req == RQ_IDLE &&
		   c->c2b.end == c->c2b.start) {
		begin_close(c);
	} else {
		c->close_after = 1;
	}
}

void
proxy_abort(struct conn *c, const char *why)
{
	if (c->req != RQ_IDLE && c->why == NULL) {
		c->why = why;
	}
	conn_close(c);
}

struct conn *
proxy_new(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
	struct conn *c;
	BIO *bio;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		goto out;
	}
	c->w = w;
	c->fd = fd;
	c->be_fd = -1;
	c->cli_src.kind = POLLSRC_CLIENT;
	c->be_src.kind = POLLSRC_BACKEND;
	netaddr_ip((const struct sockaddr *)peer, c->client_ip,
		   sizeof(c->client_ip));
	/* TCP_NODELAY comes from the listener (Linux copies it on accept). */

	c->sock.fd = fd;
	c->ssl = SSL_new(w->ctx);
	bio = c->ssl != NULL ? tlsctx_sock_bio(&c->sock) : NULL;
	if (bio == NULL || loop_watch(w, fd, &c->cli_src) != 0) {
		BIO_free(bio);
		SSL_free(c->ssl);
		free(c);
		c = NULL;
		goto out;
	}
	SSL_set_bio(c->ssl, bio, bio);
	SSL_set_accept_state(c->ssl);
	c->phase = PH_HANDSHAKE;
	c->req = RQ_IDLE;
	c->resp = RS_WAIT;
	c->cli_in = 1;
	c->route = -1;
	set_timer(c, TM_HEADER, cfg_of(c)->header_s * SEC_NS);
out:
	if (c == NULL) {
		ERR_clear_error();
		close(fd);
	}
	return c;
}

void
proxy_event(struct conn *c, int backend, uint32_t ev)
{
	if (backend) {
		if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
			c->be_in = 1;
			c->be_short = 0;
		}
		if ((ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
			c->be_hup = 1;
		}
		if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
			c->be_out = 1;
		}
	} else {
		if ((ev & EPOLLIN) != 0) {
			c->cli_in = 1;
			c->sock.drained = 0;
		}
		if ((ev & EPOLLOUT) != 0) {
			c->cli_out = 1;
		}
		if ((ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
			c->sock.drained = 0;
			c->cli_hup = 1;
			c->cli_in = 1;
			c->cli_out = 1;
		}
	}
}

struct conn *
proxy_from_src(struct pollsrc *src, int *backend)
{
	struct conn *c;

	*backend = src->kind == POLLSRC_BACKEND;
	if (*backend) {
		c = (struct conn *)((char *)src -
				    offsetof(struct conn, be_src));
	} else {
		c = (struct conn *)((char *)src -
				    offsetof(struct conn, cli_src));
	}
	return c;
}

void
proxy_free(struct conn *c)
{
	if (c->phase != PH_CLOSED) {
		conn_close(c);
	}
	iobuf_release(c->w, &c->c2b);
	iobuf_release(c->w, &c->b2c);
	free(c->req_head);
	free(c->resp_head);
	free(c);
}
