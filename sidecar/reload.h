/*
 * reload.h: certificate reload (SIGHUP).
 *
 * The configured chain and key are loaded into a new SSL_CTX; only when
 * that succeeds does it become the generation for new handshakes.
 * Connections already established keep the generation they started with.
 * A bad new certificate or key keeps the old generation and logs
 * "tls.reload.failed".
 */
#ifndef SEALPOD_RELOAD_H
#define SEALPOD_RELOAD_H

#include <openssl/ssl.h>

#include "err.h"

struct server;

/* Reload srv's certificate files. Returns SP_OK or the load's category. */
SP_MUST_CHECK enum sp_err reload_certificates(struct server *srv);

/*
 * SHA-256 of ctx's leaf certificate as 16 hex digits (a public
 * identifier for logs) into out (at least 17 bytes); "-" if none.
 */
void reload_fingerprint(SSL_CTX *ctx, char *out, size_t cap);

#endif
