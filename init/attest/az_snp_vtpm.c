/*
 * az_snp_vtpm.c: the "az-snp-vtpm" evidence provider, an Azure
 * confidential VM on AMD SEV-SNP behind the paravisor (kbs-protocol.md
 * §4.5; flow in az_vtpm.h).
 *
 * Evidence v2: {"version": 2, "tpm_quote": {signature, message, pcrs}
 * (hex), "hcl_report": base64url, "vcek": base64url of the VCEK DER}.
 * The VCEK comes from IMDS (THIM), which serves the certificate the
 * host's firmware signs with; the verifier chains it to AMD's roots.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest.h"
#include "attest_providers.h"
#include "az_vtpm.h"
#include "json.h"
#include "log.h"

#define AZ_SNP_THIM_PATH "/metadata/THIM/amd/certification"
#define AZ_SNP_VCEK_MAX	 4096 /* a VCEK is about 1.4 KiB of DER */
#define AZ_SNP_ERR_MAX	 128

/* The DER of the first certificate in a PEM string. */
static long
pem_to_der(const char *pem, unsigned char *out, size_t cap)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert = NULL;
	unsigned char *p = out;
	long rc = -1;
	int len;

	if (bio == NULL) {
		goto out;
	}
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	len = cert == NULL ? -1 : i2d_X509(cert, NULL);
	if (len <= 0 || (size_t)len > cap || i2d_X509(cert, &p) != len) {
		goto out;
	}
	rc = len;
out:
	X509_free(cert);
	BIO_free(bio);
	return rc;
}

/* GET the THIM certification document and take vcekCert as DER. */
static long
fetch_vcek(const struct az_vtpm_evidence *ev, unsigned char *der, size_t cap)
{
	char err[AZ_SNP_ERR_MAX];
	const char *pem;
	yajl_val doc = NULL;
	char *body = NULL;
	size_t len = 0;
	long n = -1;

	(void)ev; /* the VCEK is the host's, not the report's */
	if (az_imds_request("GET", AZ_SNP_THIM_PATH, NULL, &body, &len) !=
	    SP_OK) {
		goto out;
	}
	doc = json_parse(body, len, AZ_IMDS_BODY_MAX, err, sizeof(err));
	pem = json_get_str(doc, "vcekCert");
	if (pem == NULL) {
		log_event(LOG_ERR, "attest.azure.imds.failed", "vcek_missing");
		goto out;
	}
	n = pem_to_der(pem, der, cap);
	if (n < 0) {
		log_event(LOG_ERR, "attest.azure.imds.failed",
			  "vcek_malformed");
	}
out:
	yajl_tree_free(doc);
	free(body);
	return n;
}

static int
az_snp_detect(const char *root)
{
	return az_vtpm_detect(root, HCL_TYPE_SNP);
}

static enum sp_err
az_snp_collect(const char *root, const unsigned char *digest, size_t dlen,
	       char **json)
{
	return az_vtpm_collect(root, HCL_TYPE_SNP, digest, dlen, "vcek",
			       AZ_SNP_VCEK_MAX, fetch_vcek, json);
}

const struct attest_provider attest_az_snp_vtpm = {
    .tee = "az-snp-vtpm",
    .detect = az_snp_detect,
    .collect = az_snp_collect,
};
