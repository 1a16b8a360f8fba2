/*
 * initdata.h: the optional init-data document (kbs-protocol.md §1.4,
 * §2.2): a TOML file sent with /attest as {"format":"toml","body":...},
 * whose digest the platform holds in a config register set at launch
 * (TDX MRCONFIGID, SNP HOST_DATA, TPM/Azure PCR8). We check that
 * register ourselves before the KBS sees the evidence, so a pod started
 * with other init-data fails closed with a reason of its own instead of
 * a bare refusal from the verifier.
 */
#ifndef SEALPOD_INITDATA_H
#define SEALPOD_INITDATA_H

#include <stddef.h>

#include "err.h"

#define INITDATA_MAX	    (64 * 1024) /* body ceiling (config init_data) */
#define INITDATA_DIGEST_MAX 64		/* SHA-512 */

struct initdata {
	char *body; /* the TOML text, NUL-terminated, valid UTF-8 */
	size_t len;
	unsigned char digest[INITDATA_DIGEST_MAX]; /* H_alg(body) */
	size_t dlen;				   /* 32, 48 or 64 */
	const char *alg; /* "sha256", "sha384", "sha512" */
};

/*
 * Take len bytes of TOML (at most INITDATA_MAX, UTF-8, no NUL), read its
 * top-level `algorithm` key and hash the body with it. Only that one key
 * is read; the rest of the document is the verifier's business. Returns
 * SP_OK with *out filled (free with initdata_free), or SP_E_USAGE with
 * *why a reason code (init_data_too_large, init_data_not_utf8,
 * init_data_algorithm_missing, init_data_algorithm_unsupported).
 */
SP_MUST_CHECK enum sp_err initdata_parse(const char *body, size_t len,
					 struct initdata *out,
					 const char **why);

/*
 * initdata_parse() on the file at path. Returns SP_OK, SP_E_USAGE (logged
 * as config.invalid-style event initdata.load.failed) or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err initdata_load(const char *path, struct initdata *out);

/* Free the body and zero *d. NULL is allowed. */
void initdata_free(struct initdata *d);

/*
 * Compare the platform's config register inside evidence (the primary
 * evidence JSON of tee, as a provider produced it) with d's digest:
 * tdx MRCONFIGID (48 bytes, digest zero-padded or cut), snp HOST_DATA
 * (32 bytes, digest cut or padded), tpm / az-snp-vtpm / az-tdx-vtpm
 * PCR8 == SHA-256(32 zero bytes || digest). A tee with no such register
 * (sample) passes with an info event. Returns SP_OK, or SP_E_ATTEST
 * logged with reason init_data_mismatch (or init_data_register_missing
 * when the evidence does not carry the register it should).
 */
SP_MUST_CHECK enum sp_err initdata_check(const struct initdata *d,
					 const char *tee, const char *evidence);

#endif
