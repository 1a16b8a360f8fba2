/*
 * tlsctx.h: the server's TLS configuration (OpenSSL 3).
 *
 * One SSL_CTX per certificate generation, built here and shared read-only
 * by every worker: TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers for 1.2,
 * ALPN "http/1.1", the chain and key from files. The key file must not be
 * readable or writable by group or others; its bytes live in a struct
 * secret only until OpenSSL has parsed them.
 */
#ifndef SEALPOD_TLSCTX_H
#define SEALPOD_TLSCTX_H

#include <openssl/ssl.h>

#include "err.h"

/* Ceiling on the certificate chain file. */
#define TLSCTX_CHAIN_MAX (1024 * 1024)

/* TLS 1.2 suites: forward secrecy and AEAD only. */
#define TLSCTX_CIPHERS_12                                                      \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLSCTX_SUITES_13                                                       \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                       \
	"TLS_CHACHA20_POLY1305_SHA256"
#define TLSCTX_GROUPS "X25519:P-256:P-384"

/*
 * Build a server context from the PEM chain (leaf first) and PEM key.
 * Returns SP_OK with *out set (caller frees with SSL_CTX_free),
 * SP_E_NOTFOUND (a file is missing), SP_E_USAGE (unsafe key permissions,
 * unreadable or mismatched material) or SP_E_INTERNAL. Logs the reason
 * as "tls.load.failed" with the file role, never the file contents.
 */
SP_MUST_CHECK enum sp_err tlsctx_new(const char *chain_path,
				     const char *key_path, SSL_CTX **out);

struct sidecar_config;

/*
 * Build the context cfg describes: tlsctx_new() on tls.cert and tls.key,
 * then, unless tls.client_auth is none, the tls.client_ca bundle as the
 * only trust anchors for client certificates (no system store), which
 * are requested (optional) or required. Same results as tlsctx_new();
 * a CA file that is missing or holds no certificate logs
 * "tls.load.failed" with file "client_ca".
 */
SP_MUST_CHECK enum sp_err tlsctx_new_cfg(const struct sidecar_config *cfg,
					 SSL_CTX **out);

/*
 * The reason code of the last "tls.load.failed" that tlsctx_new() or
 * tlsctx_new_cfg() logged in this thread since it was last called (e.g.
 * "key_mismatch", "unsafe_permissions"), or NULL; *file gets the file
 * role ("cert", "key", "client_ca") or "-". Static strings.
 */
const char *tlsctx_last_failure(const char **file);

/*
 * Check the client certificate a session carries (sess: one being
 * resumed on ssl) as a full handshake on ssl's context would check it
 * now: against the context's current client CAs, with the same purpose,
 * depth and flags, at the current time (so an expired certificate
 * fails). Intermediates the client sent are not kept in a session: a
 * chain through one that is not in tls.client_ca fails here. Returns
 * X509_V_OK when sess holds no certificate, when ssl does not ask for
 * one, or when it verifies; else the X509_V_ERR_* reason.
 */
int tlsctx_session_peer_verify(SSL *ssl, const SSL_SESSION *sess);

/* 1 when x (may be NULL) is within its validity period now, else 0. */
int tlsctx_x509_current(const X509 *x);

/*
 * 1 when the leaf certificate of ctx is within its validity period now,
 * else 0.
 */
int tlsctx_cert_current(SSL_CTX *ctx);

/* Coarse reasons a handshake fails, for metrics and logs. */
enum tlsctx_fail {
	TLSCTX_FAIL_VERSION,	 /* no common protocol version */
	TLSCTX_FAIL_CIPHER,	 /* no common cipher or group */
	TLSCTX_FAIL_ALPN,	 /* client offered no protocol we speak */
	TLSCTX_FAIL_NOT_TLS,	 /* plain HTTP or garbage on the TLS port */
	TLSCTX_FAIL_EOF,	 /* the client went away mid-handshake */
	TLSCTX_FAIL_TIMEOUT,	 /* header timeout during the handshake */
	TLSCTX_FAIL_CLIENT_CERT, /* client certificate missing or unverified */
	TLSCTX_FAIL_OTHER,
	TLSCTX_FAIL_COUNT,
};

/*
 * The socket under one TLS connection, as our BIO sees it. While more is
 * non-zero, records are sent with MSG_MORE, so the records of one burst
 * (a handshake flight, a large body) leave in as few TCP segments as
 * possible; the caller clears it before the last record of a burst, whose
 * send pushes them all out, or calls tlsctx_sock_push(). held says a send
 * with MSG_MORE may still wait; eof is set once the peer closed (for
 * OpenSSL's unexpected-EOF check). drained is set when a recv() returns
 * fewer bytes than asked, so the socket was empty then: until the owner
 * clears it on its next edge-triggered input event, reads return "retry"
 * without a recv() that could only say EAGAIN (more data raises an event).
 */
struct tlsctx_sock {
	int fd;
	int more;
	int held;
	int eof;
	int drained;
};

/*
 * A BIO over sock (which must outlive it) for SSL_set_bio(): plain
 * send/recv on sock->fd, non-blocking retries, MSG_MORE while
 * sock->more. Returns the BIO (one reference) or NULL.
 */
BIO *tlsctx_sock_bio(struct tlsctx_sock *sock);

/* Send at once whatever MSG_MORE still holds back (TCP_NODELAY push). */
void tlsctx_sock_push(struct tlsctx_sock *sock);

/* Classify the error queue after a failed SSL_do_handshake(). */
enum tlsctx_fail tlsctx_classify(int ssl_error);

/* Stable lower-case name of a reason ("version", "cipher", ...). */
const char *tlsctx_fail_name(enum tlsctx_fail f);

#endif
