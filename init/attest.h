/*
 * attest.h: evidence providers, one file each under attest/.
 *
 * A provider answers three questions: is this platform here (detect), and
 * what is the evidence for these report-data bytes (collect, returning the
 * JSON value the Trustee verifier expects as "primary_evidence").
 */
#ifndef SEALPOD_ATTEST_H
#define SEALPOD_ATTEST_H

#include <stddef.h>

#include "err.h"

/* Largest evidence document we produce or accept. */
#define EVIDENCE_MAX (1024 * 1024)

struct attest_provider {
	const char *tee; /* KBS "tee" name, e.g. "sample", "tdx" */
	/* 1 when the platform is present under root ("" for "/"). */
	int (*detect)(const char *root);
	/*
	 * Produce evidence bound to the digest (the hash of the runtime
	 * data, dlen bytes: 48 for SHA-384). *json is a malloc'd JSON value
	 * the caller frees. Returns SP_OK or SP_E_ATTEST.
	 */
	enum sp_err (*collect)(const char *root, const unsigned char *digest,
			       size_t dlen, char **json);
};

/* The provider named tee, or NULL. */
const struct attest_provider *attest_find(const char *tee);

#endif
