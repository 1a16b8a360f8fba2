/*
 * test_manifest_sig.c: the owner's ECDSA P-256 signature over
 * manifest.sealed (init/manifest_sig.c): DER and raw r || s, wrong keys,
 * wrong curves, damaged and non-canonical signatures, key file rules.
 * Keys are made here with OpenSSL and written as PEM files.
 */
#include <fcntl.h>
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

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "err.h"
#include "log.h"
#include "manifest_sig.h"

#define PATH_CAP 256

static char dir[] = "/tmp/test_manifest_sig.XXXXXX";
static const char msg[] = "pretend these are the bytes of manifest.sealed";

static void
path_in(char *out, const char *name)
{
	int n = snprintf(out, PATH_CAP, "%s/%s", dir, name);

	assert_true(n > 0 && n < PATH_CAP);
}

/* A new key on curve, written as priv (0600) and pub (SPKI) PEM. */
static void
make_key(const char *curve, const char *priv, const char *pub)
{
	EVP_PKEY *k = EVP_EC_gen(curve);
	char path[PATH_CAP];
	FILE *f;

	assert_non_null(k);
	path_in(path, priv);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL),
			 1);
	fclose(f);
	path_in(path, pub);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PUBKEY(f, k), 1);
	fclose(f);
	EVP_PKEY_free(k);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL) {
		return -1;
	}
	make_key("P-256", "owner.key", "owner.pub");
	make_key("P-256", "other.key", "other.pub");
	make_key("P-384", "p384.key", "p384.pub");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_CAP + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
sign(const char *key, unsigned char **sig, size_t *len)
{
	char path[PATH_CAP];

	path_in(path, key);
	assert_int_equal(manifest_sig_sign(path, msg, sizeof(msg), sig, len),
			 SP_OK);
}

static enum sp_err
verify(const char *pub, const unsigned char *sig, size_t len)
{
	char path[PATH_CAP];

	path_in(path, pub);
	return manifest_sig_verify(path, msg, sizeof(msg), sig, len);
}

/* The DER signature as raw r || s, 32 bytes each. */
static void
to_raw(const unsigned char *der, size_t len, unsigned char *raw)
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r = NULL;
	const BIGNUM *t = NULL;

	assert_non_null(s);
	ECDSA_SIG_get0(s, &r, &t);
	assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
	assert_int_equal(BN_bn2binpad(t, raw + 32, 32), 32);
	ECDSA_SIG_free(s);
}

static void
test_good(void **state)
{
	unsigned char *sig = NULL;
	unsigned char raw[64];
	size_t len = 0;

	(void)state;
	sign("owner.key", &sig, &len);
	assert_true(len > 8 && len <= 72);
	assert_int_equal(sig[0], 0x30);
	assert_int_equal(verify("owner.pub", sig, len), SP_OK);
	/* A private key file also serves as the pinned key. */
	assert_int_equal(verify("owner.key", sig, len), SP_OK);

	to_raw(sig, len, raw);
	assert_int_equal(verify("owner.pub", raw, sizeof(raw)), SP_OK);
	free(sig);
}

static void
test_bad(void **state)
{
	unsigned char *sig = NULL;
	unsigned char raw[64];
	unsigned char longer[80];
	size_t len = 0;
	size_t i;

	(void)state;
	sign("owner.key", &sig, &len);

	/* Another owner's key, and another curve's. */
	assert_int_equal(verify("other.pub", sig, len), SP_E_INTEGRITY);
	assert_int_equal(verify("p384.pub", sig, len), SP_E_USAGE);

	/* Every byte flipped in turn. */
	for (i = 0; i < len; i++) {
		sig[i] ^= 0x01;
		assert_int_equal(verify("owner.pub", sig, len), SP_E_INTEGRITY);
		sig[i] ^= 0x01;
	}

	/* Trailing garbage, a cut, nothing at all, far too much. */
	memcpy(longer, sig, len);
	longer[len] = 0;
	assert_int_equal(verify("owner.pub", longer, len + 1), SP_E_INTEGRITY);
	assert_int_equal(verify("owner.pub", sig, len - 1), SP_E_INTEGRITY);
	assert_int_equal(verify("owner.pub", sig, 0), SP_E_INTEGRITY);
	assert_int_equal(verify("owner.pub", sig, MANIFEST_SIG_MAX + 1),
			 SP_E_INTEGRITY);

	/* Raw form with s flipped; raw of the wrong length. */
	to_raw(sig, len, raw);
	raw[63] ^= 0x80;
	assert_int_equal(verify("owner.pub", raw, sizeof(raw)), SP_E_INTEGRITY);
	assert_int_equal(verify("owner.pub", raw, 63), SP_E_INTEGRITY);
	free(sig);
}

/* A BER long-form length for the same signature is not DER: refused. */
static void
test_not_canonical(void **state)
{
	unsigned char *sig = NULL;
	unsigned char ber[80];
	size_t len = 0;

	(void)state;
	sign("owner.key", &sig, &len);
	assert_true(sig[1] < 0x80);
	ber[0] = 0x30;
	ber[1] = 0x81;
	ber[2] = sig[1];
	memcpy(ber + 3, sig + 2, len - 2);
	assert_int_equal(verify("owner.pub", ber, len + 1), SP_E_INTEGRITY);
	free(sig);
}

static void
test_key_files(void **state)
{
	char path[PATH_CAP];
	unsigned char *sig = NULL;
	size_t len = 0;

	(void)state;
	/* A private key others can read does not sign. */
	path_in(path, "owner.key");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(manifest_sig_sign(path, msg, sizeof(msg), &sig, &len),
			 SP_E_USAGE);
	assert_int_equal(chmod(path, 0600), 0);

	/* Only P-256 signs; a public key does not sign. */
	path_in(path, "p384.key");
	assert_int_equal(manifest_sig_sign(path, msg, sizeof(msg), &sig, &len),
			 SP_E_USAGE);
	path_in(path, "owner.pub");
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(manifest_sig_sign(path, msg, sizeof(msg), &sig, &len),
			 SP_E_USAGE);

	/* Missing files. */
	path_in(path, "nope.key");
	assert_int_equal(manifest_sig_sign(path, msg, sizeof(msg), &sig, &len),
			 SP_E_USAGE);
	assert_int_equal(verify("nope.pub", (const unsigned char *)"x", 1),
			 SP_E_USAGE);
	assert_null(sig);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_not_canonical),
	    cmocka_unit_test(test_key_files),
	};

	log_init("test_manifest_sig", stderr);
	return cmocka_run_group_tests(tests, setup, teardown);
}
