/*
 * test_tlsres.c: the checks on the sidecar's TLS resources before
 * sealpod-init writes them (init/tlsres.c): a chain for tls.cert, a
 * private key for tls.key, and the pair matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "secret.h"
#include "tlsres.h"

#define PEM_MAX 8192

/* PEM text of a fresh P-256 key and of a self-signed leaf for it. */
struct pair {
	char key[PEM_MAX];
	char crt[PEM_MAX];
};

static void
bio_text(BIO *b, char *out)
{
	int n = BIO_read(b, out, PEM_MAX - 1);

	assert_true(n > 0);
	out[n] = '\0';
}

static void
pair_make(struct pair *p, const char *cn)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	BIO *b;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)cn,
						    -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);

	b = BIO_new(BIO_s_mem());
	assert_int_equal(
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	bio_text(b, p->key);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	bio_text(b, p->crt);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

static struct pair a;
static struct pair b;

static int
setup(void **state)
{
	(void)state;
	pair_make(&a, "sidecar");
	pair_make(&b, "other");
	return 0;
}

/* A secret holding text; an empty one for "". */
static struct secret *
text_secret(const char *text)
{
	size_t n = strlen(text);

	return n > 0 ? secret_from(text, n) : secret_new(1);
}

/* tlsres_check over two texts. */
static enum sp_err
check(const char *crt, const char *key)
{
	struct secret *c = text_secret(crt);
	struct secret *k = text_secret(key);
	enum sp_err rc;

	assert_non_null(c);
	assert_non_null(k);
	rc = tlsres_check(c, k);
	secret_free(c);
	secret_free(k);
	return rc;
}

static void
test_good_pair(void **state)
{
	char chain[2 * PEM_MAX];

	(void)state;
	assert_int_equal(check(a.crt, a.key), SP_OK);
	/* A chain: the leaf first, then an issuer. */
	snprintf(chain, sizeof(chain), "%s%s", a.crt, b.crt);
	assert_int_equal(check(chain, a.key), SP_OK);
}

static void
test_swapped(void **state)
{
	(void)state;
	/* The h32 case: the key would have gone into the 0644 file. */
	assert_int_equal(check(a.key, a.crt), SP_E_INTEGRITY);
}

static void
test_key_inside_chain(void **state)
{
	char both[2 * PEM_MAX];

	(void)state;
	snprintf(both, sizeof(both), "%s%s", a.crt, a.key);
	assert_int_equal(check(both, a.key), SP_E_INTEGRITY);
	snprintf(both, sizeof(both), "%s%s", a.key, a.crt);
	assert_int_equal(check(both, a.key), SP_E_INTEGRITY);
}

static void
test_garbage(void **state)
{
	char broken[PEM_MAX];
	char *mid;

	(void)state;
	assert_int_equal(check("garbage\n", a.key), SP_E_INTEGRITY);
	assert_int_equal(check(a.crt, "garbage\n"), SP_E_INTEGRITY);
	assert_int_equal(check(a.crt, a.crt), SP_E_INTEGRITY);
	assert_int_equal(check("", a.key), SP_E_INTEGRITY);
	assert_int_equal(check(a.crt, ""), SP_E_INTEGRITY);

	/* A CERTIFICATE block whose body is not a certificate. */
	snprintf(broken, sizeof(broken), "%s", a.crt);
	mid = strchr(broken, '\n');
	assert_non_null(mid);
	mid[5] = mid[5] == 'A' ? 'B' : 'A';
	assert_int_equal(check(broken, a.key), SP_E_INTEGRITY);
}

/*
 * The chain, then key bytes in a block PEM_read_bio cannot finish, or
 * with no block at all (review h37, M1): reading must not stop there as
 * if the chain had ended, or the key would land in the 0644 tls.crt.
 */
static void
test_key_after_chain_unreadable(void **state)
{
	char both[3 * PEM_MAX];
	char key[PEM_MAX];
	char *cut;

	(void)state;
	/* The END line is missing (a truncated upload). */
	snprintf(key, sizeof(key), "%s", a.key);
	cut = strstr(key, "-----END");
	assert_non_null(cut);
	*cut = '\0';
	snprintf(both, sizeof(both), "%s%s", a.crt, key);
	assert_int_equal(check(both, a.key), SP_E_INTEGRITY);

	/* A character that is not base64 inside the block. */
	snprintf(key, sizeof(key), "%s", a.key);
	cut = strchr(key, '\n');
	assert_non_null(cut);
	cut[3] = '*';
	snprintf(both, sizeof(both), "%s%s", a.crt, key);
	assert_int_equal(check(both, a.key), SP_E_INTEGRITY);

	/* An END label other than the BEGIN one. */
	snprintf(key, sizeof(key), "%s", a.key);
	cut = strstr(key, "-----END PRIVATE KEY-----");
	assert_non_null(cut);
	memcpy(cut, "-----END PRIVATE KEX-----", 25);
	snprintf(both, sizeof(both), "%s%s", a.crt, key);
	assert_int_equal(check(both, a.key), SP_E_INTEGRITY);

	/* The key's base64 alone, without BEGIN and END lines. */
	snprintf(key, sizeof(key), "%s", strchr(a.key, '\n') + 1);
	cut = strstr(key, "-----END");
	assert_non_null(cut);
	*cut = '\0';
	snprintf(both, sizeof(both), "%s%s", a.crt, key);
	assert_int_equal(check(both, a.key), SP_E_INTEGRITY);

	/* A chain whose own last block is cut short. */
	snprintf(both, sizeof(both), "%s%s", a.crt, a.crt);
	cut = strstr(both + strlen(a.crt), "-----END");
	assert_non_null(cut);
	*cut = '\0';
	assert_int_equal(check(both, a.key), SP_E_INTEGRITY);

	/* White space around the blocks is fine. */
	snprintf(both, sizeof(both), "\n\n%s\r\n\t\n", a.crt);
	assert_int_equal(check(both, a.key), SP_OK);
}

static void
test_mismatch(void **state)
{
	(void)state;
	assert_int_equal(check(a.crt, b.key), SP_E_INTEGRITY);
	assert_int_equal(check(b.crt, a.key), SP_E_INTEGRITY);
	assert_int_equal(check(b.crt, b.key), SP_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_pair),
	    cmocka_unit_test(test_swapped),
	    cmocka_unit_test(test_key_inside_chain),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_key_after_chain_unreadable),
	    cmocka_unit_test(test_mismatch),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
