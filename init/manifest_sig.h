/*
 * manifest_sig.h: the model owner's optional signature over the sealed
 * manifest (docs/sealed-format.md, "Manifest signature").
 *
 * ECDSA P-256 with SHA-256 over the exact bytes of manifest.sealed,
 * stored beside it as manifest.sig: DER (ECDSA-Sig-Value, what `seal
 * --sign-key` writes) or the raw 64 bytes r || s (big-endian, 32 each),
 * as cloud KMS and HSMs tend to return.
 */
#ifndef SEALPOD_MANIFEST_SIG_H
#define SEALPOD_MANIFEST_SIG_H

#include <stddef.h>

#include "err.h"

/* Ceilings: a signature file, and a PEM key file. */
#define MANIFEST_SIG_MAX     256
#define MANIFEST_SIG_RAW_LEN 64
#define MANIFEST_SIG_PEM_MAX (16 * 1024)

/*
 * Sign len bytes of msg with the PEM private key at key_path, which must
 * be a P-256 key in a file only its owner can read. *sig gets a new DER
 * signature (*sig_len bytes; the caller frees). Returns SP_OK, SP_E_USAGE
 * (missing, not private, not a P-256 private key) or SP_E_INTERNAL, each
 * logged.
 */
SP_MUST_CHECK enum sp_err manifest_sig_sign(const char *key_path,
					    const void *msg, size_t len,
					    unsigned char **sig,
					    size_t *sig_len);

/*
 * Check sig (DER or raw r || s) over len bytes of msg against the PEM
 * public key at pub_path (a P-256 SubjectPublicKeyInfo, or a private key
 * from which the public half is taken). Returns SP_OK; SP_E_INTEGRITY for
 * a malformed or wrong signature; SP_E_USAGE when the key cannot be used.
 * Each failure is logged once.
 */
SP_MUST_CHECK enum sp_err manifest_sig_verify(const char *pub_path,
					      const void *msg, size_t len,
					      const unsigned char *sig,
					      size_t sig_len);

#endif
