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

/* One PEM block of the chain: a CERTIFICATE that parses. Returns the
 * certificate, or NULL. */
static X509 *
tlsres_cert_block(const char *name, const unsigned char *data, long len)
{
	const unsigned char *p = data;
	X509 *x = NULL;

	if (strcmp(name, PEM_STRING_X509) == 0) {
		x = d2i_X509(NULL, &p, len);
		if (x != NULL && p != data + len) {
			X509_free(x);
			x = NULL;
		}
	}
	return x;
}

/*
 * Read the chain's PEM blocks; *leaf gets the first certificate.
 * Another block type (a private key, say) refuses the whole resource:
 * its decoded bytes are wiped as soon as they are seen. XXX: OpenSSL's
 * own line buffers for such a block are on the ordinary heap; the
 * secure heap (32 KiB) is too small for a chain of up to SECRET_MAX.
 */
static enum sp_err
tlsres_chain(const struct secret *cert, X509 **leaf)
{
	BIO *bio = NULL;
	char *name = NULL;
	char *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	unsigned blocks = 0;
	X509 *x;
	enum sp_err rc = SP_E_INTERNAL;

	bio = BIO_new_mem_buf(cert->data, (int)cert->len);
	if (bio == NULL) {
		goto out;
	}
	rc = SP_OK;
	while (rc == SP_OK &&
	       PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
		blocks++;
		x = tlsres_cert_block(name, data, len);
		if (x == NULL || blocks > TLSRES_CHAIN_MAX) {
			rc = SP_E_INTEGRITY;
		}
		if (x != NULL && *leaf == NULL) {
			*leaf = x;
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
	if (rc == SP_OK && *leaf == NULL) {
		rc = SP_E_INTEGRITY;
	}
out:
	/* The end of the blocks is "no start line" on the error queue. */
	ERR_clear_error();
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
