/*
 * jwe.h: open the flattened JWE a Trustee KBS wraps every resource in
 * (kbs-protocol.md §3): ECDH-ES+A256KW over P-256 for the content key,
 * A256GCM for the content, AAD = the "protected" member as received.
 *
 * Nothing else is accepted: no other alg or enc, no compression, no
 * critical extensions. The plaintext goes straight into a struct secret;
 * the ECDH secret, the key-encryption key and the content key live in a
 * scratch secret that is wiped before return.
 */
#ifndef SEALPOD_JWE_H
#define SEALPOD_JWE_H

#include <stddef.h>

#include <openssl/evp.h>

#include "err.h"
#include "secret.h"

/* Ceilings on what a KBS may send us (the KBS caps replies at 2 MiB). */
#define JWE_JSON_MAX	  (2 * 1024 * 1024)
#define JWE_PROTECTED_MAX 2048 /* base64url characters of the header */

/* Fixed sizes of ECDH-ES+A256KW with A256GCM (RFC 7518 §4.6, §5.3). */
#define JWE_P256_COORD_LEN  32
#define JWE_WRAPPED_KEY_LEN 40
#define JWE_IV_LEN	    12
#define JWE_TAG_LEN	    16

/*
 * Open the JWE in json (len bytes, need not be NUL-terminated) with the
 * EC P-256 private key, accepting at most max bytes of plaintext
 * (max <= SECRET_MAX).
 *
 * Returns SP_OK with *out a new secret holding the plaintext (the caller
 * frees it with secret_free). On failure *out is untouched and *why is a
 * stable reason code for the log:
 *   SP_E_PROTOCOL  malformed JSON or base64, an alg, enc or curve we do
 *                  not speak, a wrong field length, an epk that is not
 *                  a point on P-256, or a plaintext over max;
 *   SP_E_INTEGRITY the key unwrap or the GCM tag failed to verify (wrong
 *                  recipient key, or the JWE was altered);
 *   SP_E_INTERNAL  allocation or OpenSSL failure.
 */
SP_MUST_CHECK enum sp_err jwe_open(const char *json, size_t len, EVP_PKEY *key,
				   size_t max, struct secret **out,
				   const char **why);

#endif
