/*
 * proxy.h: one client connection and the backend connection serving it.
 *
 * A connection is a small state machine stepped by its worker whenever
 * one of its sockets becomes ready. It moves bytes through two fixed
 * buffers (client to backend, backend to client), forwarding each read
 * at once, and stops reading a side while the other side's buffer is
 * full. Request and response heads are parsed (h1.h) and re-written;
 * bodies pass byte for byte once their framing checks out.
 *
 * Backend connections belong to one client connection: they are reused
 * for its next request only after a clean exchange, and closed at once
 * when anything goes wrong or the client leaves.
 */
#ifndef SEALPOD_PROXY_H
#define SEALPOD_PROXY_H

#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "h1.h"
#include "ident.h"
#include "loop.h"
#include "netaddr.h"
#include "tlsctx.h"

/* Each direction's buffer (grown only to hold an oversized head). */
#define PROXY_BUF_SIZE (16 * 1024)
/*
 * The backend-to-client buffer: larger, so that one recv() from the
 * backend feeds several full TLS records (fewer system calls and TCP
 * segments per byte on large bodies); each read is still sent at once.
 */
#define PROXY_DOWN_SIZE (64 * 1024)
/* Payload of one full TLS record (RFC 8446 §5.1): one SSL_write each. */
#define PROXY_RECORD (16 * 1024)
/* After a response that closes: how long and how much we read and drop. */
#define PROXY_LINGER_NS	   (1000ull * 1000 * 1000)
#define PROXY_LINGER_BYTES (256 * 1024)
/* Longest path kept for the access log. */
#define PROXY_PATH_LOG_MAX 512
/* Steps before a busy connection yields to the others on its worker. */
#define PROXY_RUN_ROUNDS 32

enum proxy_phase { PH_HANDSHAKE, PH_ACTIVE, PH_LINGER, PH_CLOSED };
enum proxy_req { RQ_IDLE, RQ_HEAD, RQ_BODY, RQ_DONE };
enum proxy_resp { RS_WAIT, RS_HEAD, RS_BODY, RS_DONE };
enum proxy_timer { TM_HEADER, TM_IDLE, TM_CONNECT, TM_LINGER };

/* Bytes [start, fwd) may be sent on; [fwd, end) are not yet checked. */
struct iobuf {
	char *data;
	size_t cap;
	size_t start;
	size_t fwd;
	size_t end;
};

struct conn {
	struct worker *w;
	struct conn *prev, *next; /* worker's list of connections */
	struct conn *run_next;	  /* worker's run queue */
	int queued;
	struct loop_link park;	 /* in the worker's parked list */
	struct loop_link due;	 /* in the worker's due list */
	unsigned park_over : 1;	 /* the park ended: send what is held */
	unsigned park_ready : 1; /* parked ready, not expecting bytes */
	struct pollsrc cli_src;
	struct pollsrc be_src;

	/* Client side. */
	int fd;
	SSL *ssl;
	struct tlsctx_sock sock; /* what the TLS BIO writes to */
	char client_ip[NETADDR_STR_MAX];
	const char *tls_version;
	unsigned cli_in : 1;	  /* may be readable */
	unsigned cli_out : 1;	  /* may be writable */
	unsigned cli_hup : 1;	  /* peer closed or reset */
	unsigned rd_on_out : 1;	  /* last SSL read/handshake wanted write */
	unsigned wr_on_in : 1;	  /* last SSL_write wanted read */
	unsigned peer_denied : 1; /* verified certificate, not allowed */
	const char *peer_rule;	  /* allow rule that matched, or NULL */
	char peer_id[IDENT_VALUE_MAX + 1]; /* client identity, or "" */

	struct h2_conn *h2; /* h2 (issue 4): set when ALPN chose h2 */

	/* Backend side. */
	int be_fd;
	unsigned be_in : 1;
	unsigned be_out : 1;
	unsigned be_connecting : 1;
	unsigned be_try : 1;   /* connecting: try the first send right away */
	unsigned be_hup : 1;   /* hang-up seen: read on to the EOF */
	unsigned be_short : 1; /* last recv() short, no event since */
	unsigned be_keep : 1;  /* last response allows reuse */

	enum proxy_phase phase;
	enum proxy_req req;
	enum proxy_resp resp;
	enum proxy_timer timer;
	uint64_t deadline;
	uint64_t linger_bytes;

	struct iobuf c2b;
	struct iobuf b2c;
	struct h1_scan req_scan;
	struct h1_scan resp_scan;
	char *req_head; /* re-written request head for the backend */
	size_t req_head_len;
	size_t req_head_sent;
	char *resp_head; /* response head too large to re-write in place */
	size_t resp_head_len;
	size_t resp_head_sent;

	enum h1_framing req_framing;
	enum h1_framing resp_framing;
	uint64_t req_left;
	uint64_t resp_left;
	uint64_t resp_length; /* Content-Length of the response */
	struct h1_chunk req_chunk;
	struct h1_chunk resp_chunk;

	unsigned keep_alive : 1;   /* client allows another request */
	unsigned close_after : 1;  /* close once this response is out */
	unsigned head_request : 1; /* HEAD: the response has no body */
	unsigned local : 1;	   /* the response is generated here */
	unsigned resp_started : 1; /* response bytes reached the client */
	unsigned ws_request : 1;   /* a WebSocket upgrade is forwarded */
	unsigned tunnel : 1;	   /* after 101: bytes pass both ways as is */
	int route;		   /* index in the route table, or -1 */

	/* Access log of the current request. */
	char method[H1_METHOD_MAX + 1];
	char path[PROXY_PATH_LOG_MAX + 1];
	unsigned status;
	const char *why;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t t_start;
	uint64_t t_first;
};

/* Results of proxy_run(). */
enum proxy_result { PROXY_IDLE, PROXY_AGAIN, PROXY_CLOSED };

/*
 * Take over an accepted client socket fd: allocate the connection, start
 * the TLS handshake and register it with w. Returns the connection or
 * NULL (fd is then closed).
 */
struct conn *proxy_new(struct worker *w, int fd,
		       const struct sockaddr_storage *peer);

/* Record epoll events for the client (backend = 0) or backend socket. */
void proxy_event(struct conn *c, int backend, uint32_t events);

/*
 * Make all progress possible now. PROXY_AGAIN: more is possible, queue
 * again; PROXY_CLOSED: c is closed and must be freed after the batch.
 */
enum proxy_result proxy_run(struct conn *c);

/* Act on an expired deadline (w->now >= c->deadline). */
void proxy_timeout(struct conn *c);

/* Draining: finish the current exchange, then close; idle ones now. */
void proxy_drain(struct conn *c);

/* Close at once (drain deadline or worker exit); logs the request. */
void proxy_abort(struct conn *c, const char *why);

/* Free a closed connection. */
void proxy_free(struct conn *c);

/* The connection an epoll source belongs to, and which side it is. */
struct conn *proxy_from_src(struct pollsrc *src, int *backend);

/*
 * Non-blocking TLS bookkeeping shared by the HTTP/1 and HTTP/2 paths. A
 * TLS read may need the socket writable (renegotiation-free TLS 1.3 key
 * updates, say) and a write readable; these track which.
 *
 * proxy_tls_can_read/proxy_tls_can_write: 1 when SSL_read (or the
 * handshake) / SSL_write on c may make progress now.
 * proxy_tls_read_done/proxy_tls_wrote: record that a call moved bytes.
 * proxy_tls_blocked: after SSL_read or SSL_do_handshake (writing 0) or
 * SSL_write (writing 1) returned n <= 0, note which readiness the retry
 * waits for and return 1; or return 0 when the session is over, with
 * the SSL error code in *err.
 */
int proxy_tls_can_read(const struct conn *c);
int proxy_tls_can_write(const struct conn *c);
void proxy_tls_read_done(struct conn *c);
void proxy_tls_wrote(struct conn *c);
int proxy_tls_blocked(struct conn *c, int n, int writing, int *err);

#endif
