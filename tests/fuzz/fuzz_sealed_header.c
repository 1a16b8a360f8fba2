/*
 * fuzz_sealed_header.c: open arbitrary bytes as a sealed file. The first
 * input byte picks the parameters (key size, HKDF hash, segment size); the
 * rest is the ciphertext, header first, under a fixed key and associated
 * data. Whatever the input, the codec must refuse it cleanly or return a
 * plaintext of exactly the length the format implies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealed.h"
#include "secret.h"

#define FUZZ_PLAIN_MAX (1024 * 1024)
#define FUZZ_AAD       "blobs/fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
params_pick(uint8_t sel, struct sealed_params *p)
{
	static const enum sealed_hkdf hashes[] = {
	    SEALED_HKDF_SHA1, SEALED_HKDF_SHA256, SEALED_HKDF_SHA512,
	    SEALED_HKDF_SHA256};
	static const uint32_t segments[] = {64, 100, 4096, 1048576};

	p->key_len = (sel & 1) ? 32 : 16;
	p->hkdf = hashes[(sel >> 1) & 3];
	p->segment_size = segments[(sel >> 3) & 3];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct secret *key;
	static const unsigned char raw[32] = {
	    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};
	struct sealed_params p;
	unsigned char *pt = NULL;
	size_t pt_len = 0;
	uint64_t want = 0;
	enum sp_err rc;

	if (key == NULL) {
		key = secret_from(raw, sizeof(raw));
		if (key == NULL) {
			abort();
		}
	}
	if (size == 0) {
		return 0;
	}
	params_pick(data[0], &p);
	rc = sealed_decrypt_mem(&p, key, FUZZ_AAD, strlen(FUZZ_AAD), data + 1,
				size - 1, FUZZ_PLAIN_MAX, &pt, &pt_len);
	if (rc == SP_OK) {
		if (sealed_plaintext_len(&p, size - 1, &want) != 0 ||
		    want != pt_len) {
			abort();
		}
		free(pt);
	} else if (rc != SP_E_INTEGRITY) {
		abort();
	}
	return 0;
}
