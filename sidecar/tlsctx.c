/*
 * tlsctx.c: building server SSL_CTXs and naming handshake failures.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"
#include "secret.h"
#include "sidecar_config.h"
#include "tlsctx.h"
#include "util.h"

/* ALPN wire form of the only protocol issue-2 speaks. */
static const unsigned char alpn_http11[] = "\x08http/1.1";
/* h2 (issue 4): preferred when enabled (arg of alpn_select non-NULL). */
static const unsigned char alpn_h2[] = "\x02h2";

/* The first OpenSSL error as text for logs (OpenSSL's static strings). */
static const char *
ssl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	return r != NULL ? r : "unknown";
}

/* This thread's last load failure (static strings), for the reload event. */
static _Thread_local const char *failure_reason;
static _Thread_local const char *failure_file;

static void
load_failed(const char *role, const char *reason, const char *detail)
{
	failure_reason = reason;
	failure_file = role;
	log_event(LOG_ERR, "tls.load.failed", reason, LOG_STR("file", role),
		  LOG_STR("detail", detail));
}

/* The offset of proto (wire form) in the client's ALPN list, or -1. */
static long
alpn_find(const unsigned char *in, unsigned int inlen,
	  const unsigned char *proto)
{
	unsigned int i = 0;
	long at = -1;

	while (i < inlen) {
		if (in[i] == 0 || in[i] > inlen - i - 1) {
			break;
		}
		if (in[i] == proto[0] &&
		    memcmp(in + i + 1, proto + 1, in[i]) == 0) {
			at = (long)i;
			break;
		}
		i += 1u + in[i];
	}
	return at;
}

/*
 * Choose h2 (when arg is non-NULL: HTTP/2 enabled), else http/1.1, from
 * the client's ALPN list; refuse a list without either (RFC 7301 §3.2:
 * no_application_protocol).
 */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
	    const unsigned char *in, unsigned int inlen, void *arg)
{
	long at = -1;
	int rc = SSL_TLSEXT_ERR_ALERT_FATAL;

	(void)ssl;
	if (arg != NULL) {
		at = alpn_find(in, inlen, alpn_h2);
	}
	if (at < 0) {
		at = alpn_find(in, inlen, alpn_http11);
	}
	if (at >= 0) {
		*out = in + at + 1;
		*outlen = in[at];
		rc = SSL_TLSEXT_ERR_OK;
	}
	return rc;
}

/* Leaf and intermediates from a PEM file into ctx. */
static enum sp_err
load_chain(SSL_CTX *ctx, const char *path)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *x = NULL;
	enum sp_err rc;

	rc = file_read_all(path, TLSCTX_CHAIN_MAX, &pem, &len);
	if (rc != SP_OK) {
		load_failed("cert", sp_err_name(rc), strerror(errno));
		goto out;
	}

	rc = SP_E_USAGE;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		goto out;
	}
	x = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
	if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1) {
		load_failed("cert", "bad_certificate", ssl_reason());
		goto out;
	}
	X509_free(x);
	for (;;) {
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (x == NULL) {
			break;
		}
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			load_failed("cert", "bad_chain", ssl_reason());
			goto out;
		}
	}
	/* The loop ends on "no start line": the normal end of the file. */
	ERR_clear_error();
	rc = SP_OK;
out:
	X509_free(x);
	BIO_free(bio);
	free(pem);
	return rc;
}

/* Read fd (a private file of st_size bytes) into a new secret. */
static enum sp_err
read_secret(int fd, const struct stat *st, struct secret **out)
{
	struct secret *s = NULL;
	ssize_t n;
	enum sp_err rc = SP_E_USAGE;

	if (st->st_size <= 0 || st->st_size >= SECRET_MAX) {
		goto out;
	}
	rc = SP_E_INTERNAL;
	s = secret_new((size_t)st->st_size + 1);
	if (s == NULL) {
		goto out;
	}
	while (s->len < s->cap) {
		n = read(fd, s->data + s->len, s->cap - s->len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			goto out;
		}
		if (n == 0) {
			break;
		}
		s->len += (size_t)n;
	}
	rc = SP_E_USAGE;
	if (s->len == s->cap) {
		/* The file grew while we read it. */
		goto out;
	}

	*out = s;
	s = NULL;
	rc = SP_OK;
out:
	secret_free(s);
	return rc;
}

/* Open the key file and check it is a private regular file. */
static enum sp_err
open_key(const char *path, int *fdp, struct stat *st)
{
	int fd;
	enum sp_err rc = SP_E_INTERNAL;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = errno == ENOENT ? SP_E_NOTFOUND : SP_E_USAGE;
		load_failed("key", sp_err_name(rc), strerror(errno));
		goto out;
	}
	rc = SP_E_USAGE;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		load_failed("key", "not_regular_file", "");
		goto out;
	}
	if ((st->st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		load_failed("key", "unsafe_permissions",
			    "group or others may access the key file");
		goto out;
	}

	*fdp = fd;
	fd = -1;
	rc = SP_OK;
out:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

/* The private key into ctx, through a struct secret wiped right after. */
static enum sp_err
load_key(SSL_CTX *ctx, const char *path)
{
	struct secret *s = NULL;
	struct stat st;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	int fd = -1;
	enum sp_err rc;

	rc = open_key(path, &fd, &st);
	if (rc != SP_OK) {
		goto out;
	}
	rc = read_secret(fd, &st, &s);
	if (rc != SP_OK) {
		load_failed("key", sp_err_name(rc), "cannot read");
		goto out;
	}

	rc = SP_E_USAGE;
	bio = BIO_new_mem_buf(s->data, (int)s->len);
	if (bio == NULL) {
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	if (pkey == NULL) {
		load_failed("key", "bad_key", ssl_reason());
		goto out;
	}
	/* OpenSSL checks the key against the certificate here already. */
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		load_failed("key", "key_mismatch", ssl_reason());
		goto out;
	}
	rc = SP_OK;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	secret_free(s);
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

/* Protocol versions, ciphers, modes and callbacks; no key material. */
static enum sp_err
configure(SSL_CTX *ctx)
{
	static const unsigned char sid_ctx[] = "sealpod-sidecar";
	enum sp_err rc = SP_E_INTERNAL;

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLSCTX_CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLSCTX_SUITES_13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLSCTX_GROUPS) != 1 ||
	    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) !=
		1) {
		load_failed("(settings)", "internal", ssl_reason());
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE |
				     SSL_OP_NO_COMPRESSION);
	/*
	 * NO_AUTO_CHAIN: the chain sent is the one the PEM file holds
	 * (load_chain), not one OpenSSL rebuilds from a store on every full
	 * handshake; the store holds only client CAs anyway.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS |
				  SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_num_tickets(ctx, 1);
	/*
	 * Resumption is by stateless tickets only: no server-side session
	 * cache to fill, lock across workers and sweep (OpenSSL flushes it
	 * every 255 handshakes), nor to hold memory per past client. Their
	 * keys are the process's (tickets.h), attached by server.c to every
	 * generation; a context without them (--check) uses OpenSSL's own.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Whole records (and what follows) per recv(), not header then body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
tlsctx_new(const char *chain_path, const char *key_path, SSL_CTX **out)
{
	SSL_CTX *ctx = NULL;
	enum sp_err rc = SP_E_INTERNAL;

	ERR_clear_error();
	failure_reason = NULL;
	failure_file = NULL;
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		load_failed("(context)", "internal", ssl_reason());
		goto out;
	}
	rc = configure(ctx);
	if (rc != SP_OK) {
		goto out;
	}
	rc = load_chain(ctx, chain_path);
	if (rc != SP_OK) {
		goto out;
	}
	rc = load_key(ctx, key_path);
	if (rc != SP_OK) {
		goto out;
	}

	*out = ctx;
	ctx = NULL;
	rc = SP_OK;
out:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/* Add x's subject to names unless it is there already (file order). */
static int
ca_name_add(STACK_OF(X509_NAME) * names, X509 *x)
{
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME *dup = NULL;
	int i;
	int rc = -1;

	for (i = 0; i < sk_X509_NAME_num(names); i++) {
		if (X509_NAME_cmp(sk_X509_NAME_value(names, i), nm) == 0) {
			rc = 0;
			goto out;
		}
	}
	dup = X509_NAME_dup(nm);
	if (dup == NULL || sk_X509_NAME_push(names, dup) <= 0) {
		goto out;
	}
	dup = NULL;
	rc = 0;
out:
	X509_NAME_free(dup);
	return rc;
}

/*
 * The certificates (and CRLs) of a PEM bundle held in memory into store,
 * their subjects into names: what X509_STORE_load_file() and
 * SSL_load_client_CA_file() would make of the same bytes, read once so
 * that what is trusted and what the sessions are bound to (bind_sessions)
 * are the same file. Returns 0, or -1 (bad PEM, no certificate).
 */
static int
ca_bundle_parse(const char *pem, size_t len, X509_STORE *store,
		STACK_OF(X509_NAME) * names)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *info;
	BIO *bio = NULL;
	int ncerts = 0;
	int i;
	int rc = -1;

	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		goto out;
	}
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	if (infos == NULL) {
		goto out;
	}

	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		info = sk_X509_INFO_value(infos, i);
		if (info->x509 != NULL &&
		    (X509_STORE_add_cert(store, info->x509) != 1 ||
		     ca_name_add(names, info->x509) != 0)) {
			goto out;
		}
		if (info->crl != NULL &&
		    X509_STORE_add_crl(store, info->crl) != 1) {
			goto out;
		}
		ncerts += info->x509 != NULL;
	}
	if (ncerts > 0) {
		rc = 0;
	}
out:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	return rc;
}

/*
 * Bind the sessions (tickets) this context issues to its client-trust
 * settings: the session-id context becomes SHA-256 over a label, the
 * client_auth mode and the client CA bundle's bytes. OpenSSL resumes a
 * session only under the context it was made in, so a ticket from before
 * a change of tls.client_ca or tls.client_auth is a cache miss (a full
 * handshake, checked against the new settings) instead of carrying a
 * client identity the new settings would refuse. Certificate and key
 * reloads leave it unchanged, so tickets still survive those.
 */
static int
bind_sessions(SSL_CTX *ctx, enum sidecar_client_auth auth, const char *ca,
	      size_t calen)
{
	static const char label[] = "sealpod-sidecar client trust";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned char mode = (unsigned char)auth;
	unsigned int mdlen = 0;
	EVP_MD_CTX *h = NULL;
	int rc = -1;

	h = EVP_MD_CTX_new();
	if (h == NULL || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(h, label, sizeof(label)) != 1 ||
	    EVP_DigestUpdate(h, &mode, 1) != 1 ||
	    EVP_DigestUpdate(h, ca, calen) != 1 ||
	    EVP_DigestFinal_ex(h, md, &mdlen) != 1) {
		goto out;
	}
	_Static_assert(SSL_MAX_SID_CTX_LENGTH >= 32, "SHA-256 fits");
	if (SSL_CTX_set_session_id_context(ctx, md, mdlen) != 1) {
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(h);
	return rc;
}

/* Trust anchors for client certificates, and the names we advertise. */
static enum sp_err
load_client_ca(SSL_CTX *ctx, const char *path, enum sidecar_client_auth auth)
{
	STACK_OF(X509_NAME) *names = NULL;
	X509_STORE *store = NULL;
	char *pem = NULL;
	size_t len = 0;
	enum sp_err rc;
	int mode = SSL_VERIFY_PEER;

	rc = file_read_all(path, TLSCTX_CHAIN_MAX, &pem, &len);
	if (rc != SP_OK) {
		load_failed("client_ca",
			    rc == SP_E_NOTFOUND ? "not_found" : "bad_file",
			    rc == SP_E_USAGE ? "not a small regular file"
					     : strerror(errno));
		goto out;
	}

	rc = SP_E_USAGE;
	store = X509_STORE_new();
	names = sk_X509_NAME_new_null();
	if (store == NULL || names == NULL ||
	    ca_bundle_parse(pem, len, store, names) != 0) {
		load_failed("client_ca", "bad_certificate", ssl_reason());
		goto out;
	}
	rc = SP_E_INTERNAL;
	if (bind_sessions(ctx, auth, pem, len) != 0) {
		load_failed("client_ca", "internal", ssl_reason());
		goto out;
	}
	/* Only this bundle is trusted: the system store is never loaded. */
	SSL_CTX_set_cert_store(ctx, store);
	store = NULL;
	SSL_CTX_set_client_CA_list(ctx, names);
	names = NULL;
	if (auth == SIDECAR_AUTH_REQUIRED) {
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	}
	SSL_CTX_set_verify(ctx, mode, NULL);
	SSL_CTX_set_verify_depth(ctx, 8);
	rc = SP_OK;
out:
	X509_STORE_free(store);
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	free(pem);
	return rc;
}

enum sp_err
tlsctx_new_cfg(const struct sidecar_config *cfg, SSL_CTX **out)
{
	SSL_CTX *ctx = NULL;
	enum sp_err rc;

	rc = tlsctx_new(cfg->tls_cert, cfg->tls_key, &ctx);
	if (rc == SP_OK && cfg->http2) {
		/* h2 (issue 4): offer HTTP/2 first. */
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)alpn_h2);
	}
	if (rc != SP_OK) {
		goto done;
	}
	if (cfg->client_auth != SIDECAR_AUTH_NONE) {
		rc = load_client_ca(ctx, cfg->tls_client_ca, cfg->client_auth);
	} else if (bind_sessions(ctx, cfg->client_auth, "", 0) != 0) {
		/* No client trust, but a session made with some is not ours. */
		load_failed("(settings)", "internal", ssl_reason());
		rc = SP_E_INTERNAL;
	}
	ERR_clear_error();
done:
	if (rc == SP_OK) {
		*out = ctx;
		ctx = NULL;
	}
	SSL_CTX_free(ctx);
	return rc;
}

int
tlsctx_session_peer_verify(SSL *ssl, const SSL_SESSION *sess)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	X509_STORE_CTX *vctx = NULL;
	X509 *leaf = SSL_SESSION_get0_peer((SSL_SESSION *)sess);
	int rc = X509_V_ERR_OUT_OF_MEM;

	if (leaf == NULL || (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) == 0) {
		/* Nothing to re-check, or client certificates unused here. */
		rc = X509_V_OK;
		goto out;
	}
	/*
	 * XXX: a session keeps only the leaf, so a chain through an
	 * intermediate the client sent (not in tls.client_ca) fails here
	 * and such clients always make full handshakes (KNOWN_ISSUES.md).
	 */
	vctx = X509_STORE_CTX_new();
	if (vctx == NULL ||
	    X509_STORE_CTX_init(vctx, SSL_CTX_get_cert_store(ctx), leaf,
				NULL) != 1) {
		goto out;
	}
	/*
	 * As a full handshake verifies a client: purpose, depth, flags,
	 * and the security level (key sizes, signature digests).
	 */
	if (X509_STORE_CTX_set_default(vctx, "ssl_client") != 1 ||
	    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(vctx),
				   SSL_get0_param(ssl)) != 1) {
		goto out;
	}
	X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(vctx),
					 SSL_get_security_level(ssl));

	rc = X509_V_OK;
	if (X509_verify_cert(vctx) != 1) {
		rc = X509_STORE_CTX_get_error(vctx);
		/* A failure that names no reason is still a failure. */
		rc = rc == X509_V_OK ? X509_V_ERR_UNSPECIFIED : rc;
	}
out:
	X509_STORE_CTX_free(vctx);
	ERR_clear_error();
	return rc;
}

int
tlsctx_x509_current(const X509 *x)
{
	int ok = 0;

	if (x != NULL && X509_cmp_current_time(X509_get0_notBefore(x)) < 0 &&
	    X509_cmp_current_time(X509_get0_notAfter(x)) > 0) {
		ok = 1;
	}
	return ok;
}

int
tlsctx_cert_current(SSL_CTX *ctx)
{
	return tlsctx_x509_current(SSL_CTX_get0_certificate(ctx));
}

/* ---- the socket BIO --------------------------------------------------- */

static BIO_METHOD *sock_method;
static pthread_once_t sock_method_once = PTHREAD_ONCE_INIT;

static int
sock_write(BIO *b, const char *p, int n)
{
	struct tlsctx_sock *sk = BIO_get_data(b);
	int flags = MSG_NOSIGNAL | (sk->more ? MSG_MORE : 0);
	ssize_t r;

	BIO_clear_retry_flags(b);
	r = send(sk->fd, p, (size_t)n, flags);
	sk->held = sk->more;
	if (r < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		BIO_set_retry_write(b);
	}
	return (int)r;
}

static int
sock_read(BIO *b, char *p, int n)
{
	struct tlsctx_sock *sk = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	if (sk->drained) {
		/* Empty since the last read and no event since: no syscall. */
		BIO_set_retry_read(b);
		r = -1;
		goto out;
	}
	r = recv(sk->fd, p, (size_t)n, 0);
	sk->drained = r > 0 && r < n;
	if (r == 0) {
		sk->eof = 1;
	} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			     errno == EINTR)) {
		BIO_set_retry_read(b);
	}
out:
	return (int)r;
}

static long
sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tlsctx_sock *sk = BIO_get_data(b);
	long rc = 0;

	(void)num;
	if (cmd == BIO_CTRL_FLUSH) {
		/* The end of a handshake flight: let it go now. */
		tlsctx_sock_push(sk);
		rc = 1;
	} else if (cmd == BIO_CTRL_EOF) {
		rc = sk != NULL && sk->eof;
	} else if (cmd == BIO_C_GET_FD) {
		/* SSL_get_fd(): the socket, never a 0 read as stdin. */
		rc = sk != NULL ? sk->fd : -1;
		if (ptr != NULL) {
			*(int *)ptr = (int)rc;
		}
	}
	return rc;
}

static int
sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void
sock_method_init(void)
{
	BIO_METHOD *m;

	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
			 "sealpod socket");
	if (m != NULL && (BIO_meth_set_write(m, sock_write) != 1 ||
			  BIO_meth_set_read(m, sock_read) != 1 ||
			  BIO_meth_set_ctrl(m, sock_ctrl) != 1 ||
			  BIO_meth_set_create(m, sock_create) != 1)) {
		BIO_meth_free(m);
		m = NULL;
	}
	sock_method = m;
}

BIO *
tlsctx_sock_bio(struct tlsctx_sock *sock)
{
	BIO *b = NULL;

	pthread_once(&sock_method_once, sock_method_init);
	if (sock_method != NULL) {
		b = BIO_new(sock_method);
	}
	if (b != NULL) {
		BIO_set_data(b, sock);
	}
	return b;
}

void
tlsctx_sock_push(struct tlsctx_sock *sock)
{
	int one = 1;

	if (sock != NULL && sock->held) {
		/* Setting TCP_NODELAY (again) pushes pending partial frames. */
		setsockopt(sock->fd, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
		sock->held = 0;
	}
}

enum tlsctx_fail
tlsctx_classify(int ssl_error)
{
	unsigned long e = ERR_peek_last_error();
	int reason = ERR_GET_REASON(e);
	enum tlsctx_fail f = TLSCTX_FAIL_OTHER;

	if (e == 0 && (ssl_error == SSL_ERROR_SYSCALL ||
		       ssl_error == SSL_ERROR_ZERO_RETURN)) {
		f = TLSCTX_FAIL_EOF;
	} else if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		f = TLSCTX_FAIL_EOF;
	} else if (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
		   reason == SSL_R_VERSION_TOO_LOW ||
		   reason == SSL_R_WRONG_VERSION_NUMBER) {
		f = TLSCTX_FAIL_VERSION;
	} else if (reason == SSL_R_NO_SHARED_CIPHER ||
		   reason == SSL_R_NO_SHARED_GROUPS ||
		   reason == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM) {
		f = TLSCTX_FAIL_CIPHER;
	} else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
		   reason == SSL_R_CERTIFICATE_VERIFY_FAILED ||
		   reason == SSL_R_NO_CERTIFICATES_RETURNED) {
		f = TLSCTX_FAIL_CLIENT_CERT;
	} else if (reason == SSL_R_NO_APPLICATION_PROTOCOL) {
		f = TLSCTX_FAIL_ALPN;
	} else if (reason == SSL_R_HTTP_REQUEST ||
		   reason == SSL_R_HTTPS_PROXY_REQUEST ||
		   reason == SSL_R_PACKET_LENGTH_TOO_LONG) {
		f = TLSCTX_FAIL_NOT_TLS;
	}
	return f;
}

const char *
tlsctx_fail_name(enum tlsctx_fail f)
{
	static const char *const names[TLSCTX_FAIL_COUNT] = {
	    "version", "cipher",  "alpn",	 "not_tls",
	    "eof",     "timeout", "client_cert", "other",
	};
	const char *name = "other";

	if ((unsigned)f < TLSCTX_FAIL_COUNT) {
		name = names[f];
	}
	return name;
}

const char *
tlsctx_last_failure(const char **file)
{
	*file = failure_file != NULL ? failure_file : "-";
	return failure_reason;
}
