/*
 * fuzz_b64.c: strict base64 on arbitrary bytes. Besides memory safety it
 * checks the two properties callers rely on: what decodes re-encodes to
 * the very same text (one accepted spelling), and encode-decode is the
 * identity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_decode(const uint8_t *data, size_t size, enum b64_variant v)
{
	unsigned char *out = NULL;
	char *again = NULL;
	size_t cap = b64_decoded_max(size);
	long n;

	out = malloc(cap + 1);
	if (out == NULL) {
		goto out;
	}
	n = b64_decode((const char *)data, size, v, out, cap);
	if (n < 0) {
		goto out;
	}
	if ((size_t)n > cap) {
		abort();
	}
	again = b64_encode_alloc(out, (size_t)n, v);
	if (again == NULL || strlen(again) != size ||
	    memcmp(again, data, size) != 0) {
		abort();
	}
out:
	free(again);
	free(out);
}

static void
fuzz_encode(const uint8_t *data, size_t size, enum b64_variant v)
{
	unsigned char *back = NULL;
	char *enc;
	long n;

	enc = b64_encode_alloc(data, size, v);
	if (enc == NULL) {
		abort();
	}
	if (strlen(enc) + 1 != b64_encoded_size(size, v)) {
		abort();
	}
	back = malloc(size + 1);
	if (back == NULL) {
		goto out;
	}
	n = b64_decode(enc, strlen(enc), v, back, size);
	if (n != (long)size || memcmp(back, data, size) != 0) {
		abort();
	}
out:
	free(back);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(data, size, B64_STD);
	fuzz_decode(data, size, B64_URL);
	fuzz_encode(data, size, B64_STD);
	fuzz_encode(data, size, B64_URL);
	return 0;
}
