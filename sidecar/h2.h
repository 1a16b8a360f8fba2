/*
 * h2.h: HTTP/2 from clients (RFC 9113) over the TLS connection.
 *
 * When ALPN picks "h2", proxy.c hands the connection to this module: an
 * nghttp2 server session fed from SSL_read and drained into SSL_write,
 * stepped by the worker like any other connection. Every client stream
 * gets a backend connection of its own while it runs, taken when the
 * request head is complete and closed at once when the stream is reset
 * or fails, so the model server stops working for a client that left.
 * After a clean exchange with an h1 backend the connection is kept in a
 * pool owned by this client connection (at most H2_POOL_MAX) for its
 * next stream, never for another client connection (h2.c).
 *
 * Two backend protocols (sidecar_config.h, backend_protocol):
 *   - h1: the stream becomes an HTTP/1.1 request (re-checked by the same
 *     strict parser as direct HTTP/1 requests); the response head becomes
 *     HEADERS and the body (length, chunked or until close) DATA frames,
 *     forwarded as soon as they arrive.
 *   - h2c: the stream is replayed on a cleartext HTTP/2 connection with
 *     its own nghttp2 client session (gRPC); headers, DATA and trailers
 *     pass through unchanged apart from hop-by-hop fields.
 *
 * Limits: concurrent streams, header list size and count (431), windows
 * that bound what a stream may buffer here, and a cap on RST_STREAM
 * frames per connection per second (rapid reset, CVE-2023-44487) past
 * which the connection gets GOAWAY(ENHANCE_YOUR_CALM).
 */
#ifndef SEALPOD_H2_H
#define SEALPOD_H2_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "err.h"

struct conn;
struct h2_conn;
struct pollsrc;

/* Defaults and ceilings of the http2.* configuration keys. */
#define H2_DEF_MAX_STREAMS  100
#define H2_MAX_STREAMS_MAX  1000
#define H2_DEF_RESETS_PER_S 200
#define H2_RESETS_PER_S_MAX 100000
/* Per-stream receive window: the most request body buffered per stream. */
#define H2_STREAM_WINDOW (256 * 1024)
/* Connection receive window: room for several uploading streams. */
#define H2_CONN_WINDOW (4 * 1024 * 1024)
/* Bytes gathered from nghttp2 before one SSL_write. */
#define H2_OUT_MAX (64 * 1024)
/* Idle backend connections kept per client connection for reuse. */
#define H2_POOL_MAX 32

/* 1 when ALPN on ssl selected "h2". */
int h2_negotiated(SSL *ssl);

/*
 * Turn c (handshake done, ALPN "h2") into an HTTP/2 connection: create
 * the session and queue our SETTINGS. Returns SP_OK or SP_E_INTERNAL
 * (the caller closes c).
 */
SP_MUST_CHECK enum sp_err h2_start(struct conn *c);

/* Results of h2_step(). */
enum h2_result { H2_IDLE, H2_PROGRESS, H2_CLOSE };

/*
 * Make one round of progress on c: read frames, step every stream's
 * backend, write frames. H2_CLOSE: the session is over; the caller
 * frees it with h2_free() and closes c (lingering, so that a final
 * GOAWAY is read before our close can turn into a reset).
 */
enum h2_result h2_step(struct conn *c);

/*
 * Record epoll events for a stream's backend socket. Returns the client
 * connection to queue.
 */
struct conn *h2_event(struct pollsrc *src, uint32_t events);

/* The connection or a stream deadline passed (w->now >= c->deadline). */
void h2_timeout(struct conn *c);

/* Draining: GOAWAY now; the connection closes once its streams end. */
void h2_drain(struct conn *c);

/*
 * Close every stream's backend, log each open stream with reason why,
 * free the session. Safe on a connection that never became HTTP/2.
 */
void h2_free(struct conn *c, const char *why);

/*
 * Test-only (the fuzz target tests/fuzz/fuzz_h2.c): run the server side
 * of c over data as if a client had sent it, preface included, in reads
 * of at most piece bytes, with no sockets. c carries a worker (w: srv
 * with its cfg, limits and ready marker, metrics, msg, scratch, now)
 * and client_ip, and no h2 state. Streams get no backend connection;
 * instead, once a request stream has ended, the bytes an HTTP/1.1
 * backend would get (the head and, for a chunked body, the last chunk
 * with the trailers; DATA payload is dropped) go to wire(arg, p, n,
 * chunked), and an h2c backend's client session is run to its output.
 * Everything is freed before it returns.
 */
typedef void h2_fuzz_wire_fn(void *arg, const char *p, size_t n, int chunked);
void h2_fuzz_feed(struct conn *c, const uint8_t *data, size_t len, size_t piece,
		  h2_fuzz_wire_fn *wire, void *arg);

#endif
