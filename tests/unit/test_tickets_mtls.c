/*
 * test_tickets_mtls.c: TLS sessions of client certificates (review h33,
 * finding 1), with real in-memory TLS 1.3 and 1.2 handshakes against
 * contexts built by tlsctx_new_cfg() with the ticket ring attached, as
 * server.c builds every generation. A session resumes on a new context
 * built from the same client_auth mode and CA bundle bytes (a reload
 * that changed nothing), but not after the bundle or the mode changed
 * (the session-id context digests both), nor once the client
 * certificate in it has expired (tickets.c re-verifies it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sidecar_config.h"
#include "tickets.h"
#include "tls_pair.h"
#include "tlsctx.h"

/* Lifetime of the short-lived client certificate, and the wait past it. */
#define SHORT_LIFE_S 2
#define SHORT_WAIT_S 3

#define PATH_CAP 160

static char tmpdir[64];
static char server_pem[PATH_CAP];
static char server_key[PATH_CAP];
static char bundle_a[PATH_CAP];	 /* CA A */
static char bundle_ab[PATH_CAP]; /* CA A, then CA B */

static EVP_PKEY *ca_a_key;
static X509 *ca_a;
static EVP_PKEY *client_key;
static X509 *client_cert; /* from CA A, valid for an hour */

/* ---- fixtures --------------------------------------------------------- */

/* A P-256 certificate for key, signed by issuer (self-signed if NULL). */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
	  long life_s, int ca)
{
	X509 *x = X509_new();
	X509_EXTENSION *ext;
	X509V3_CTX v3;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0xffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), life_s);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "CA:FALSE");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	if (!ca) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage,
					  "clientAuth");
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static EVP_PKEY *
make_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

static void
write_certs(const char *path, X509 *first, X509 *second)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, first), 1);
	if (second != NULL) {
		assert_int_equal(PEM_write_X509(f, second), 1);
	}
	assert_int_equal(fclose(f), 0);
}

static int
setup_files(void **state)
{
	EVP_PKEY *skey = make_key();
	EVP_PKEY *bkey = make_key();
	X509 *server;
	X509 *ca_b;
	FILE *f;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tickets_mtls.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(server_pem, sizeof(server_pem), "%s/server.pem", tmpdir);
	snprintf(server_key, sizeof(server_key), "%s/server.key", tmpdir);
	snprintf(bundle_a, sizeof(bundle_a), "%s/a.pem", tmpdir);
	snprintf(bundle_ab, sizeof(bundle_ab), "%s/ab.pem", tmpdir);

	server = make_cert(skey, "localhost", NULL, NULL, 3600, 0);
	write_certs(server_pem, server, NULL);
	f = fopen(server_key, "w");
	assert_non_null(f);
	assert_int_equal(chmod(server_key, 0600), 0);
	assert_int_equal(
	    PEM_write_PrivateKey(f, skey, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);

	ca_a_key = make_key();
	ca_a = make_cert(ca_a_key, "CA A", NULL, NULL, 3600, 1);
	ca_b = make_cert(bkey, "CA B", NULL, NULL, 3600, 1);
	write_certs(bundle_a, ca_a, NULL);
	write_certs(bundle_ab, ca_a, ca_b);
	client_key = make_key();
	client_cert = make_cert(client_key, "gw", ca_a, ca_a_key, 3600, 0);

	X509_free(server);
	X509_free(ca_b);
	EVP_PKEY_free(skey);
	EVP_PKEY_free(bkey);
	return 0;
}

static int
teardown_files(void **state)
{
	(void)state;
	unlink(server_pem);
	unlink(server_key);
	unlink(bundle_a);
	unlink(bundle_ab);
	rmdir(tmpdir);
	X509_free(ca_a);
	X509_free(client_cert);
	EVP_PKEY_free(ca_a_key);
	EVP_PKEY_free(client_key);
	return 0;
}

/* A generation as server.c builds it: tlsctx_new_cfg(), then tickets. */
static SSL_CTX *
server_ctx(struct tickets *t, enum sidecar_client_auth auth, const char *bundle)
{
	struct sidecar_config cfg;
	SSL_CTX *ctx = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.tls_cert = server_pem;
	cfg.tls_key = server_key;
	cfg.tls_client_ca = (char *)bundle;
	cfg.client_auth = auth;
	assert_int_equal(tlsctx_new_cfg(&cfg, &ctx), SP_OK);
	assert_int_equal(tickets_attach(t, ctx), SP_OK);
	return ctx;
}

/* A client pinned to one version, with cert (may be NULL) as identity. */
static SSL_CTX *
client_ctx(int version, X509 *cert, EVP_PKEY *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, version), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, version), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (cert != NULL) {
		assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	}
	return ctx;
}

/* The server's re-check of the session's client certificate passes. */
static int
peer_verified(SSL *srv)
{
	return tlsctx_session_peer_verify(srv, SSL_get_session(srv)) ==
	       X509_V_OK;
}

static struct tickets *
ring(void)
{
	struct tickets *t = NULL;

	assert_int_equal(tickets_new(NULL, &t), SP_OK);
	return t;
}

/* ---- the cases -------------------------------------------------------- */

/*
 * A session made on a generation of (auth, bundle) offered to a new
 * generation of (auth2, bundle2): whether it resumed, and whether the new
 * one's full handshake (if not) succeeded.
 */
static struct tls_pair
across(int version, enum sidecar_client_auth auth, const char *bundle,
       enum sidecar_client_auth auth2, const char *bundle2, int with_cert)
{
	struct tickets *t = ring();
	SSL_CTX *s1 = server_ctx(t, auth, bundle);
	SSL_CTX *s2 = server_ctx(t, auth2, bundle2);
	SSL_CTX *c =
	    client_ctx(version, with_cert ? client_cert : NULL, client_key);
	struct tls_pair first;
	struct tls_pair second;

	first = tls_pair_connect(s1, c, NULL, peer_verified);
	assert_true(first.done);
	assert_false(first.reused);
	assert_non_null(first.session);
	second = tls_pair_connect(s2, c, first.session, peer_verified);
	SSL_SESSION_free(first.session);
	SSL_SESSION_free(second.session);
	second.session = NULL;
	SSL_CTX_free(c);
	SSL_CTX_free(s1);
	SSL_CTX_free(s2);
	tickets_free(t);
	return second;
}

static void
binding(int version)
{
	struct tls_pair r;

	/* A reload that changed nothing: the session still resumes. */
	r = across(version, SIDECAR_AUTH_REQUIRED, bundle_a,
		   SIDECAR_AUTH_REQUIRED, bundle_a, 1);
	assert_true(r.done);
	assert_true(r.reused);
	assert_true(r.server_check);

	/* Another bundle (A still in it): a full handshake, which passes. */
	r = across(version, SIDECAR_AUTH_REQUIRED, bundle_a,
		   SIDECAR_AUTH_REQUIRED, bundle_ab, 1);
	assert_true(r.done);
	assert_false(r.reused);

	/* Another mode, same bundle: not resumed either. */
	r = across(version, SIDECAR_AUTH_REQUIRED, bundle_a,
		   SIDECAR_AUTH_OPTIONAL, bundle_a, 1);
	assert_true(r.done);
	assert_false(r.reused);

	/*
	 * A session without a certificate (client_auth none) must not
	 * resume where one is required: the full handshake then fails.
	 */
	r = across(version, SIDECAR_AUTH_NONE, bundle_a, SIDECAR_AUTH_REQUIRED,
		   bundle_a, 0);
	assert_false(r.reused);
	assert_false(r.done);
}

static void
test_binding_tls13(void **state)
{
	(void)state;
	binding(TLS1_3_VERSION);
}

static void
test_binding_tls12(void **state)
{
	(void)state;
	binding(TLS1_2_VERSION);
}

/* A session of a certificate that expires: fine before, refused after. */
static void
test_expiry(void **state)
{
	static const int versions[] = {TLS1_3_VERSION, TLS1_2_VERSION};
	struct tickets *t = ring();
	SSL_CTX *s = server_ctx(t, SIDECAR_AUTH_REQUIRED, bundle_a);
	X509 *short_cert =
	    make_cert(client_key, "gw", ca_a, ca_a_key, SHORT_LIFE_S, 0);
	SSL_SESSION *held[2];
	SSL_CTX *c[2];
	struct tls_pair r;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		c[i] = client_ctx(versions[i], short_cert, client_key);
		r = tls_pair_connect(s, c[i], NULL, peer_verified);
		assert_true(r.done);
		held[i] = r.session;
		r = tls_pair_connect(s, c[i], held[i], peer_verified);
		assert_true(r.done);
		assert_true(r.reused);
		assert_true(r.server_check);
		SSL_SESSION_free(held[i]);
		/* The renewed session, as a returning client holds it. */
		held[i] = r.session;
	}

	sleep(SHORT_WAIT_S);
	for (i = 0; i < 2; i++) {
		r = tls_pair_connect(s, c[i], held[i], peer_verified);
		assert_false(r.reused);
		/* The full handshake refuses the expired certificate. */
		assert_false(r.done);
		SSL_SESSION_free(r.session);
		SSL_SESSION_free(held[i]);
		SSL_CTX_free(c[i]);
	}
	X509_free(short_cert);
	SSL_CTX_free(s);
	tickets_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_binding_tls13),
	    cmocka_unit_test(test_binding_tls12),
	    cmocka_unit_test(test_expiry),
	};

	return cmocka_run_group_tests(tests, setup_files, teardown_files);
}
