/*
 * tlsres.h: the sidecar's TLS material as sealpod-init receives it from
 * the KBS (tls.cert, tls.key), checked before anything is written.
 *
 * Two resources uploaded under each other's path, or a garbage upload,
 * would otherwise put a private key into the world-readable tls.crt or
 * leave the sidecar crash-looping with an error that names neither.
 */
#ifndef SEALPOD_TLSRES_H
#define SEALPOD_TLSRES_H

#include <stddef.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

#include "err.h"
#include "secret.h"

/* PEM blocks in the certificate resource; more is not a chain. */
#define TLSRES_CHAIN_MAX 16

/*
 * Read every PEM block of bio: 1 when there are 1-max blocks and each
 * is a CERTIFICATE that parses whole (or, with trusted set, a TRUSTED
 * CERTIFICATE, as OpenSSL's CA files may hold), else 0. *first, if not
 * NULL, gets the first certificate (the caller frees it, also on 0).
 * Another block (a private key beside a certificate, say) makes it 0;
 * its decoded bytes are wiped as soon as they are seen. Clears the
 * OpenSSL error queue.
 */
int tlsres_pem_certs(BIO *bio, unsigned max, int trusted, X509 **first);

/*
 * Check that cert holds a PEM certificate chain (1-TLSRES_CHAIN_MAX
 * CERTIFICATE blocks that parse, and no other PEM block: above all no
 * private key), that key holds an unencrypted PEM private key, and that
 * the key belongs to the chain's first (leaf) certificate. The key is
 * parsed from its struct secret in place; no copy outlives the call.
 * Returns SP_OK; SP_E_INTEGRITY with one init.tls.invalid event
 * (tls_resource_empty, tls_resource_not_certificate,
 * tls_resource_not_private_key or tls_resource_key_mismatch), which
 * never carries the resources' bytes; SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err tlsres_check(const struct secret *cert,
				       const struct secret *key);

#endif
