/*
 * attest_providers.h: the provider objects, one per file in attest/.
 * attest.c builds its table from these; config and help list them.
 */
#ifndef SEALPOD_ATTEST_PROVIDERS_H
#define SEALPOD_ATTEST_PROVIDERS_H

#include <stddef.h>

#include "attest.h"

/* Development only: evidence a verifier accepts without hardware. */
extern const struct attest_provider attest_sample;

/* Intel TDX through configfs-tsm (tdx.c). */
extern const struct attest_provider attest_tdx;

/* AMD SEV-SNP through configfs-tsm or /dev/sev-guest (snp.c). */
extern const struct attest_provider attest_snp;

/* Azure confidential VM on SEV-SNP, through the vTPM (az_snp_vtpm.c). */
extern const struct attest_provider attest_az_snp_vtpm;

/* Azure confidential VM on TDX, through the vTPM (az_tdx_vtpm.c). */
extern const struct attest_provider attest_az_tdx_vtpm;

/* A plain TPM 2.0, not bound to a TEE (tpm.c). */
extern const struct attest_provider attest_tpm;

/*
 * Write the names of the providers, ", "-separated, into out (cap bytes,
 * truncated to fit), for help text and configuration errors; with
 * detectable set, only those `auto` looks for (all but "sample").
 */
void attest_list(char *out, size_t cap, int detectable);

/* The configuration value that asks for attest_detect(). */
#define ATTEST_TEE_AUTO "auto"

/*
 * "tee: auto": ask every provider's detect() under root ("" for "/"),
 * in table order (most specific first), log what each found and
 * which one was chosen. Never picks sample. Returns SP_OK with
 * *provider set, or SP_E_ATTEST (logged with reason no_tee_detected).
 */
SP_MUST_CHECK enum sp_err
attest_detect(const char *root, const struct attest_provider **provider);

#endif
