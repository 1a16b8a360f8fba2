/*
 * fuzz_jwe.c: jwe_open() on arbitrary bytes, with a fixed P-256 key so
 * the seed corpus (JWEs encrypted to that key) reaches the decryption.
 * The key is a test fixture, used nowhere else.
 */
#include <stddef.h>
#include <stdint.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "jwe.h"
#include "secret.h"

#define FUZZ_JWE_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRU+HsmSy1BT3fk/V\n"
    "6QeqqIxULnm56uDhIeyZ1gsy+PehRANCAATmdx9uDXMJywrLICAdvQ2dP54ULFa5\n"
    "+EAINAhV3kdjS7K+8StoKeOlJAQe2aqfiuLmzjNNKjkNDkmrHkNYiLce\n"
    "-----END PRIVATE KEY-----\n";

static EVP_PKEY *
fuzz_key(void)
{
	static EVP_PKEY *key;
	BIO *b;

	if (key == NULL) {
		b = BIO_new_mem_buf(fuzz_key_pem, -1);
		if (b != NULL) {
			key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
			BIO_free(b);
		}
	}
	return key;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secret *out = NULL;
	const char *why = NULL;
	EVP_PKEY *key = fuzz_key();

	if (key == NULL) {
		__builtin_trap();
	}
	if (jwe_open((const char *)data, size, key, FUZZ_JWE_MAX, &out, &why) ==
	    SP_OK) {
		secret_free(out);
	} else if (out != NULL || why == NULL) {
		/* A failure must leave no output and always say why. */
		__builtin_trap();
	}
	return 0;
}
