/*
 * az_vtpm.h: what the "az-snp-vtpm" and "az-tdx-vtpm" providers share:
 * the Azure confidential VM vTPM flow (tee-guest-interfaces.md §4.4) and
 * the instance metadata service (IMDS) they fetch collateral from.
 *
 * Flow: write our user data (the runtime-data digest, zero-padded to 64
 * bytes) to NV 0x01400002; read the HCL report back from NV 0x01400001
 * until it carries that user data; check that its var data is bound to
 * the hardware report and that its HCLAkPub is the key at 0x81000003;
 * quote PCR 0-23 with that key and the digest as qualifying data.
 */
#ifndef SEALPOD_AZ_VTPM_H
#define SEALPOD_AZ_VTPM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "hcl.h"
#include "tpm.h"

#define AZ_IMDS_DEFAULT	    "http://169.254.169.254"
#define AZ_IMDS_URL_MAX	    256
#define AZ_IMDS_BODY_MAX    (64 * 1024) /* VCEK + chain PEM, or a TD quote */
#define AZ_EVIDENCE_VERSION 2		/* user-data checked (kbs §4.5) */
#define AZ_USER_DATA_LEN    64		/* the size of NV 0x01400002 */

/*
 * Point IMDS requests at base (no trailing slash) instead of
 * AZ_IMDS_DEFAULT; NULL restores the default. For tests, which must not
 * reach a metadata address. The string is copied.
 */
void az_vtpm_set_imds(const char *base);

/* Everything the flow gathered; free with az_vtpm_evidence_free(). */
struct az_vtpm_evidence {
	struct tpm_quote quote;
	unsigned char *hcl; /* the NV 0x01400001 content */
	size_t hcl_len;
	struct hcl_report report; /* points into hcl */
};

/*
 * Run the flow for an HCL report of type (HCL_TYPE_SNP or HCL_TYPE_TDX)
 * with the TPM under root. digest is dlen (1..64) bytes. Returns SP_OK,
 * or SP_E_ATTEST with the reason logged.
 */
SP_MUST_CHECK enum sp_err az_vtpm_gather(const char *root, uint32_t type,
					 const unsigned char *digest,
					 size_t dlen,
					 struct az_vtpm_evidence *ev);
void az_vtpm_evidence_free(struct az_vtpm_evidence *ev);

/* 1 when the vTPM under root holds an HCL report of type, else 0. */
int az_vtpm_detect(const char *root, uint32_t type);

struct strbuf;
/*
 * Append the members both providers send, after "{": "version",
 * "tpm_quote" (hex signature, message and PCRs) and "hcl_report".
 */
void az_vtpm_json_common(struct strbuf *sb, const struct az_vtpm_evidence *ev);

/*
 * Append n bytes as a base64url JSON string, with padding: the form the
 * Azure attesters emit and the verifiers' base64url fields accept.
 */
void az_vtpm_append_b64url(struct strbuf *sb, const unsigned char *p, size_t n);

/*
 * A provider's own collateral for the gathered evidence (the VCEK, the
 * TD quote): at most cap bytes into buf. Returns its length, or -1 with
 * the reason logged.
 */
typedef long (*az_vtpm_collateral_fn)(const struct az_vtpm_evidence *ev,
				      unsigned char *buf, size_t cap);

/*
 * The whole collect step of a provider: run the flow (az_vtpm_gather),
 * fetch up to cap bytes of collateral, and set *json to the evidence
 * {common members (az_vtpm_json_common), "<member>": base64url of the
 * collateral}, malloc'd for the caller to free. Returns SP_OK,
 * SP_E_ATTEST (logged) or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err
az_vtpm_collect(const char *root, uint32_t type, const unsigned char *digest,
		size_t dlen, const char *member, size_t cap,
		az_vtpm_collateral_fn collateral, char **json);

/*
 * One IMDS request: method "GET" or "POST" to base + path with the
 * "Metadata: true" header (and a JSON body for POST). On SP_OK *body is
 * the malloc'd reply of a 200 answer (at most AZ_IMDS_BODY_MAX bytes),
 * NUL-terminated; the caller frees it. SP_E_ATTEST otherwise (logged).
 */
SP_MUST_CHECK enum sp_err az_imds_request(const char *method, const char *path,
					  const char *json, char **body,
					  size_t *len);

#endif
