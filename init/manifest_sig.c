/*
 * manifest_sig.c: ECDSA P-256 over manifest.sealed (manifest_sig.h).
 *
 * The signature covers the sealed bytes, not the JSON: it is checked
 * before the manifest is decrypted, so a store that swaps in another
 * manifest sealed under the same model key (an older release, a build
 * the owner never approved) is refused without touching it further.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "log.h"
#include "manifest_sig.h"
#include "secret.h"
#include "util.h"

#define SIG_CURVE      "prime256v1"
#define SIG_CURVE_MAX  32
#define SIG_SCALAR_LEN 32

/* 1 when pkey is an EC key on P-256. */
static int
is_p256(EVP_PKEY *pkey)
{
	char group[SIG_CURVE_MAX];
	size_t len = 0;

	return EVP_PKEY_is_a(pkey, "EC") &&
	       EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					      group, sizeof(group),
					      &len) == 1 &&
	       strcmp(group, SIG_CURVE) == 0;
}

/*
 * Load a PEM key: private (want_private) from a file only its owner can
 * read, or public (a SubjectPublicKeyInfo, or a private key's public
 * half). The file's bytes are wiped once OpenSSL has parsed them.
 */
static enum sp_err
key_load(const char *path, int want_private, EVP_PKEY **out)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *pem = NULL;
	size_t len = 0;
	const char *why = "key_unreadable";
	enum sp_err rc = SP_E_USAGE;

	if (want_private && file_check_private(path) != SP_OK) {
		why = "key_not_private";
		goto out;
	}
	if (file_read_all(path, MANIFEST_SIG_PEM_MAX, &pem, &len) != SP_OK) {
		goto out;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	if (want_private) {
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	} else {
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		if (pkey == NULL && BIO_reset(bio) == 1) {
			pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		}
	}
	if (pkey == NULL || !is_p256(pkey)) {
		why = "key_not_p256";
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	why = NULL;
	rc = SP_OK;
out:
	if (why != NULL) {
		log_event(LOG_ERR, "manifest.sig.failed", why);
	}
	if (pem != NULL) {
		secret_wipe_mem(pem, len);
	}
	free(pem);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return rc;
}

enum sp_err
manifest_sig_sign(const char *key_path, const void *msg, size_t len,
		  unsigned char **sig, size_t *sig_len)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char *buf = NULL;
	size_t n = 0;
	enum sp_err rc;

	rc = key_load(key_path, 1, &pkey);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &n, msg, len) != 1) {
		goto out;
	}
	buf = malloc(n);
	if (buf == NULL || EVP_DigestSign(md, buf, &n, msg, len) != 1) {
		goto out;
	}
	*sig = buf;
	*sig_len = n;
	buf = NULL;
	rc = SP_OK;
out:
	free(buf);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return rc;
}

/* DER only when it re-encodes to the very same bytes (no BER slack). */
static int
der_strict(const unsigned char *sig, size_t len)
{
	const unsigned char *p = sig;
	unsigned char *again = NULL;
	ECDSA_SIG *s = NULL;
	int n;
	int ok = 0;

	s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (s == NULL || (size_t)(p - sig) != len) {
		goto out;
	}
	n = i2d_ECDSA_SIG(s, &again);
	ok = n > 0 && (size_t)n == len && memcmp(again, sig, len) == 0;
out:
	OPENSSL_free(again);
	ECDSA_SIG_free(s);
	return ok;
}

/* r || s (32 bytes each) as DER. Returns a length, or 0. */
static size_t
raw_to_der(const unsigned char *raw, unsigned char **der)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, SIG_SCALAR_LEN, NULL);
	BIGNUM *t = BN_bin2bn(raw + SIG_SCALAR_LEN, SIG_SCALAR_LEN, NULL);
	int n = 0;

	if (s == NULL || r == NULL || t == NULL ||
	    ECDSA_SIG_set0(s, r, t) != 1) {
		BN_free(r);
		BN_free(t);
		goto out;
	}
	n = i2d_ECDSA_SIG(s, der);
out:
	ECDSA_SIG_free(s);
	return n > 0 ? (size_t)n : 0;
}

enum sp_err
manifest_sig_verify(const char *pub_path, const void *msg, size_t len,
		    const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char *der = NULL;
	const unsigned char *use = sig;
	size_t use_len = sig_len;
	enum sp_err rc;

	rc = key_load(pub_path, 0, &pkey);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_INTEGRITY;
	if (sig_len == 0 || sig_len > MANIFEST_SIG_MAX) {
		log_event(LOG_ERR, "manifest.sig.failed", "sig_malformed");
		goto out;
	}
	if (!der_strict(sig, sig_len)) {
		use_len =
		    sig_len == MANIFEST_SIG_RAW_LEN ? raw_to_der(sig, &der) : 0;
		use = der;
	}
	if (use_len == 0) {
		log_event(LOG_ERR, "manifest.sig.failed", "sig_malformed");
		goto out;
	}

	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) != 1) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	if (EVP_DigestVerify(md, use, use_len, msg, len) != 1) {
		log_event(LOG_ERR, "manifest.sig.failed", "sig_invalid");
		goto out;
	}
	rc = SP_OK;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return rc;
}
