/*
 * tls_pair.h: one TLS connection between two SSL_CTXs in memory (a BIO
 * pair), for the unit tests of session resumption. Header-only, for
 * the test executables that need it; cmocka must be included first.
 */
#ifndef SEALPOD_TLS_PAIR_H
#define SEALPOD_TLS_PAIR_H

#include <openssl/err.h>
#include <openssl/ssl.h>

/* Handshake steps per side before a connection is given up. */
#define TLS_PAIR_STEPS 64

/* What one connection showed. */
struct tls_pair {
	int done;	      /* handshake done, a byte went server->client */
	int reused;	      /* the server resumed the offered session */
	int server_check;     /* what the caller's check said (0 if none) */
	SSL_SESSION *session; /* the client's session after it (owned) */
};

/* Step both sides until neither makes progress. Returns 1 when done. */
static int
tls_pair_pump(SSL *srv, SSL *cli)
{
	int s = 0;
	int c = 0;
	int i;

	for (i = 0; i < TLS_PAIR_STEPS && (s != 1 || c != 1); i++) {
		if (c != 1) {
			c = SSL_do_handshake(cli);
		}
		if (s != 1) {
			s = SSL_do_handshake(srv);
		}
		if ((s <= 0 && SSL_get_error(srv, s) == SSL_ERROR_SSL) ||
		    (c <= 0 && SSL_get_error(cli, c) == SSL_ERROR_SSL)) {
			break;
		}
	}
	return s == 1 && c == 1;
}

/*
 * One connection offering session (may be NULL). Afterwards the server
 * sends a byte, so the client has read any TLS 1.3 ticket, and the
 * server has seen the client's Finished (a certificate refused after
 * the handshake shows here: done is then 0). check, if not NULL, runs
 * on the server's SSL of a done connection; its result is server_check.
 */
static struct tls_pair
tls_pair_connect(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *session,
		 int (*check)(SSL *srv))
{
	struct tls_pair r = {0};
	SSL *srv = SSL_new(sctx);
	SSL *cli = SSL_new(cctx);
	BIO *bs = NULL;
	BIO *bc = NULL;
	char byte = 0;

	assert_non_null(srv);
	assert_non_null(cli);
	assert_int_equal(BIO_new_bio_pair(&bs, 0, &bc, 0), 1);
	SSL_set_bio(srv, bs, bs);
	SSL_set_bio(cli, bc, bc);
	SSL_set_accept_state(srv);
	SSL_set_connect_state(cli);
	if (session != NULL) {
		assert_int_equal(SSL_set_session(cli, session), 1);
	}
	r.done = tls_pair_pump(srv, cli) && SSL_write(srv, "x", 1) == 1 &&
		 SSL_read(cli, &byte, 1) == 1;
	if (r.done) {
		r.reused = SSL_session_reused(srv);
		assert_int_equal(SSL_session_reused(cli), r.reused);
		r.server_check = check != NULL ? check(srv) : 0;
		r.session = SSL_get1_session(cli);
		/* A close without close_notify makes the session unusable. */
		(void)SSL_shutdown(cli);
	}
	SSL_free(srv);
	SSL_free(cli);
	ERR_clear_error();
	return r;
}

#endif
