/*
 * b64.c: strict base64 and base64url (RFC 4648 §4 and §5).
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "b64.h"

/* Largest input whose encoding size still fits in size_t and long. */
#define B64_IN_MAX ((size_t)(LONG_MAX / 4) * 3 - 3)

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
b64_encoded_size(size_t n, enum b64_variant v)
{
	size_t size = 0;

	if (n > B64_IN_MAX) {
		goto out;
	}
	if (v == B64_STD) {
		size = (n + 2) / 3 * 4 + 1;
	} else {
		size = n / 3 * 4 + (n % 3 != 0 ? n % 3 + 1 : 0) + 1;
	}
out:
	return size;
}

long
b64_encode(const void *in, size_t n, enum b64_variant v, char *out,
	   size_t outcap)
{
	const unsigned char *p = in;
	const char *abc = v == B64_STD ? b64_std : b64_url;
	size_t need = b64_encoded_size(n, v);
	size_t i;
	size_t o = 0;
	uint32_t w;
	long rc = -1;

	if (need == 0 || outcap < need) {
		goto out;
	}
	for (i = 0; i + 3 <= n; i += 3) {
		w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = abc[w >> 18 & 63];
		out[o++] = abc[w >> 12 & 63];
		out[o++] = abc[w >> 6 & 63];
		out[o++] = abc[w & 63];
	}

	if (n - i == 1) {
		w = (uint32_t)p[i] << 16;
		out[o++] = abc[w >> 18 & 63];
		out[o++] = abc[w >> 12 & 63];
		if (v == B64_STD) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = abc[w >> 18 & 63];
		out[o++] = abc[w >> 12 & 63];
		out[o++] = abc[w >> 6 & 63];
		if (v == B64_STD) {
			out[o++] = '=';
		}
	}
	out[o] = '\0';
	rc = (long)o;
out:
	return rc;
}

char *
b64_encode_alloc(const void *in, size_t n, enum b64_variant v)
{
	size_t need = b64_encoded_size(n, v);
	char *out = NULL;

	if (need == 0) {
		goto out;
	}
	out = malloc(need);
	if (out != NULL && b64_encode(in, n, v, out, need) < 0) {
		free(out);
		out = NULL;
	}
out:
	return out;
}

size_t
b64_decoded_max(size_t inlen)
{
	return inlen / 4 * 3 + 3;
}

/* Value of one alphabet character, or -1. */
static int
b64_value(unsigned char c, enum b64_variant v)
{
	int r = -1;

	if (c >= 'A' && c <= 'Z') {
		r = c - 'A';
	} else if (c >= 'a' && c <= 'z') {
		r = c - 'a' + 26;
	} else if (c >= '0' && c <= '9') {
		r = c - '0' + 52;
	} else if (c == (v == B64_STD ? '+' : '-')) {
		r = 62;
	} else if (c == (v == B64_STD ? '/' : '_')) {
		r = 63;
	}
	return r;
}

/*
 * Number of significant characters once padding is checked: for B64_STD
 * the length must be a multiple of 4 with at most two '=' at the end; for
 * B64_URL there is no padding at all. Returns -1 when malformed.
 */
static long
b64_data_len(const char *in, size_t inlen, enum b64_variant v)
{
	size_t n = inlen;
	long rc = -1;

	if (inlen > (size_t)LONG_MAX) {
		goto out;
	}
	if (v == B64_STD) {
		if (inlen % 4 != 0) {
			goto out;
		}
		if (n > 0 && in[n - 1] == '=') {
			n--;
		}
		if (n > 0 && in[n - 1] == '=') {
			n--;
		}
	}
	/* One leftover character cannot carry a whole byte. */
	if (n % 4 == 1) {
		goto out;
	}
	rc = (long)n;
out:
	return rc;
}

long
b64_decode(const char *in, size_t inlen, enum b64_variant v, unsigned char *out,
	   size_t outcap)
{
	long data;
	size_t n;
	size_t need;
	size_t i;
	size_t o = 0;
	uint32_t w = 0;
	int bits = 0;
	int c;
	long rc = -1;

	data = b64_data_len(in, inlen, v);
	if (data < 0) {
		goto out;
	}
	n = (size_t)data;
	need = n / 4 * 3 + (n % 4 != 0 ? n % 4 - 1 : 0);
	if (need > outcap) {
		goto out;
	}

	for (i = 0; i < n; i++) {
		c = b64_value((unsigned char)in[i], v);
		if (c < 0) {
			goto out;
		}
		w = w << 6 | (uint32_t)c;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(w >> bits);
		}
	}

	/* Leftover bits must be zero: one encoding per byte string. */
	if ((w & ((1u << bits) - 1)) != 0) {
		goto out;
	}
	rc = (long)o;
out:
	return rc;
}
