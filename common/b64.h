/*
 * b64.h: base64 (RFC 4648 §4, padded) and base64url (§5, unpadded).
 *
 * Decoders are strict: they reject characters outside the alphabet,
 * whitespace, wrong padding and non-zero trailing bits, so one byte string
 * has exactly one accepted encoding.
 */
#ifndef SEALPOD_B64_H
#define SEALPOD_B64_H

#include <stddef.h>

enum b64_variant { B64_STD, B64_URL };

/* Bytes needed to encode n bytes, including the terminating NUL. */
size_t b64_encoded_size(size_t n, enum b64_variant v);

/*
 * Encode n bytes into out (outcap >= b64_encoded_size). Returns the string
 * length, or -1 when out is too small.
 */
long b64_encode(const void *in, size_t n, enum b64_variant v, char *out,
		size_t outcap);

/* Encode into a new malloc'd string. NULL on allocation failure. */
char *b64_encode_alloc(const void *in, size_t n, enum b64_variant v);

/*
 * Decode inlen characters into out (at most outcap bytes). Returns the
 * decoded length, or -1 on malformed input or when out is too small.
 */
long b64_decode(const char *in, size_t inlen, enum b64_variant v,
		unsigned char *out, size_t outcap);

/* Upper bound of the decoded size of inlen characters. */
size_t b64_decoded_max(size_t inlen);

#endif
