/*
 * tlsres.c: check the sidecar's TLS resources before they are written
 * (tlsres.h).
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"
#include "tlsres.h"

/* Refuse once and log why; the bytes themselves are never logged. */
static enum sp_err
tlsres_refuse(const char *reason)
{
	log_event(LOG_ERR, "init.tls.invalid", reason);
	return SP_E_INTEGRITY;
}

/* One PEM block: a certificate that parses whole, or NULL. */
static X509 *
tlsres_cert_block(const char *name, const unsigned char *data, long len,
		  int trusted)
{
	const unsigned char *p = data;
	X509 *x = NULL;

	if (strcmp(name, PEM_STRING_X509) == 0) {
		x = d2i_X509(NULL, &p, len);
	} else if (trusted && strcmp(name, PEM_STRING_X509_TRUSTED) == 0) {
		x = d2i_X509_AUX(NULL, &p, len);
	}
	if (x != NULL && p != data + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

int
tlsres_pem_certs(BIO *bio, unsigned max, int trusted, X509 **first)
{
	char *name = NULL;
	char *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	unsigned blocks = 0;
	unsigned long err;
	int ok = 1;
	X509 *x;

	while (ok && PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
		blocks++;
		x = tlsres_cert_block(name, data, len, trusted);
		ok = x != NULL && blocks <= max;
		if (x != NULL && first != NULL && *first == NULL) {
			*first = x;
		} else {
			X509_free(x);
		}
		OPENSSL_clear_free(data, (size_t)len);
		OPENSSL_free(name);
		OPENSSL_free(header);
		data = NULL;
		name = NULL;
		header = NULL;
	}
	/*
	 * Only a clean end (no further BEGIN line) ends the blocks: a block
	 * cut short or with bad base64 would otherwise end them too, and
	 * whatever it held would pass unread.
	 */
	err = ERR_peek_last_error();
	if (ok && (ERR_GET_LIB(err) != ERR_LIB_PEM ||
		   ERR_GET_REASON(err) != PEM_R_NO_START_LINE)) {
		ok = 0;
	}
	ERR_clear_error();
	return ok && blocks > 0;
}

/*
 * 1 when the n bytes at p are PEM blocks and white space only. The
 * chain is written to a world-readable file: text that PEM_read_bio
 * would skip (bare base64 of a key, say) must not ride along unread.
 */
static int
tlsres_pem_only(const char *p, size_t n)
{
	static const char begin[] = "-----BEGIN ";
	static const char end[] = "-----END ";
	const char *stop = p + n;
	const char *e;
	int ok = 1;

	while (ok && p < stop) {
		if (strchr(" \t\r\n", *p) != NULL && *p != '\0') {
			p++;
			continue;
		}
		ok = (size_t)(stop - p) > sizeof(begin) - 1 &&
		     memcmp(p, begin, sizeof(begin) - 1) == 0;
		e = ok ? memmem(p, (size_t)(stop - p), end, sizeof(end) - 1)
		       : NULL;
		/* The END line's closing dashes, after its label. */
		e = e != NULL ? memmem(e + sizeof(end) - 1,
				       (size_t)(stop - e) - (sizeof(end) - 1),
				       "-----", 5)
			      : NULL;
		ok = e != NULL;
		p = ok ? e + 5 : stop;
	}
	return ok;
}

/*
 * Read the chain's PEM blocks; *leaf gets the first certificate.
 * XXX: OpenSSL's own line buffers for a block that is not a certificate
 * (a private key) are on the ordinary heap; the secure heap (32 KiB) is
 * too small for a chain of up to SECRET_MAX. Its decoded bytes are
 * wiped (tlsres_pem_certs).
 */
static enum sp_err
tlsres_chain(const struct secret *cert, X509 **leaf)
{
	BIO *bio = NULL;
	enum sp_err rc = SP_E_INTEGRITY;

	if (!tlsres_pem_only((const char *)cert->data, cert->len)) {
		goto out;
	}
	bio = BIO_new_mem_buf(cert->data, (int)cert->len);
	if (bio == NULL) {
		rc = SP_E_INTERNAL;
	} else if (tlsres_pem_certs(bio, TLSRES_CHAIN_MAX, 0, leaf)) {
		rc = SP_OK;
	}
out:
	BIO_free(bio);
	return rc;
}

/* No passphrase: an encrypted key could not be used by the sidecar. */
static int
tlsres_no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The private key, parsed in place from its struct secret. */
static EVP_PKEY *
tlsres_key(const struct secret *key)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;

	bio = BIO_new_mem_buf(key->data, (int)key->len);
	if (bio != NULL) {
		pkey = PEM_read_bio_PrivateKey(bio, NULL, tlsres_no_pass, NULL);
	}
	ERR_clear_error();
	BIO_free(bio);
	return pkey;
}

enum sp_err
tlsres_check(const struct secret *cert, const struct secret *key)
{
	X509 *leaf = NULL;
	EVP_PKEY *pkey = NULL;
	enum sp_err rc;

	if (cert->len == 0 || key->len == 0) {
		rc = tlsres_refuse("tls_resource_empty");
		goto out;
	}

	rc = tlsres_chain(cert, &leaf);
	if (rc == SP_E_INTEGRITY) {
		rc = tlsres_refuse("tls_resource_not_certificate");
	}
	if (rc != SP_OK) {
		goto out;
	}

	pkey = tlsres_key(key);
	if (pkey == NULL) {
		rc = tlsres_refuse("tls_resource_not_private_key");
		goto out;
	}

	if (X509_check_private_key(leaf, pkey) != 1) {
		rc = tlsres_refuse("tls_resource_key_mismatch");
	}
	ERR_clear_error();
out:
	EVP_PKEY_free(pkey);
	X509_free(leaf);
	return rc;
}
