/*
 * hcl.h: the Azure confidential VM HCL report, as the paravisor leaves it
 * in vTPM NV index 0x01400001 (tee-guest-interfaces.md §4.4).
 *
 * Layout: a 32-byte header ("HCLA", version, report size, request type,
 * status, 3 reserved), the hardware report at 0x20 in a 1184-byte slot
 * (an SNP report, or a 1024-byte TDREPORT), the IGVM request data at
 * 0x4C0 (data size, version, report type, hash type, var-data size) and
 * the var data, a JSON document, at 0x4D4. The hardware report's report
 * data starts with H(var data): that is what binds the JSON (the AK
 * public key and our user data) to the hardware.
 *
 * All integers are little-endian. Parsed views point into the caller's
 * buffer, which must outlive them.
 */
#ifndef SEALPOD_HCL_H
#define SEALPOD_HCL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

/* Largest HCL report we read (real ones are 2-2.6 KiB). */
#define HCL_REPORT_MAX 8192

#define HCL_HEADER_LEN	   0x20
#define HCL_HW_OFFSET	   0x20
#define HCL_HW_SLOT	   1184
#define HCL_IGVM_OFFSET	   0x4C0
#define HCL_IGVM_LEN	   20
#define HCL_VAR_OFFSET	   0x4D4
#define HCL_SNP_LEN	   1184
#define HCL_TDREPORT_LEN   1024
#define HCL_REPORTDATA_LEN 64

/* IGVM report types and hash types. */
#define HCL_TYPE_SNP	2
#define HCL_TYPE_TDX	4
#define HCL_HASH_SHA256 1
#define HCL_HASH_SHA384 2
#define HCL_HASH_SHA512 3
#define HCL_DIGEST_MAX	64

/* Var-data ceilings. */
#define HCL_KEYS_MAX	  8
#define HCL_KID_MAX	  32
#define HCL_USER_DATA_MAX 64   /* the NV 0x01400002 index */
#define HCL_JWK_N_MAX	  1024 /* RSA-8192, far above any vTPM AK */

struct hcl_report {
	uint32_t version;
	uint32_t report_size;
	uint32_t request_type;
	uint32_t status;
	uint32_t report_type;		/* HCL_TYPE_SNP or HCL_TYPE_TDX */
	uint32_t hash_type;		/* HCL_HASH_* */
	const unsigned char *hw_report; /* HCL_SNP_LEN or HCL_TDREPORT_LEN */
	size_t hw_len;
	const unsigned char *report_data; /* HCL_REPORTDATA_LEN, in hw_report */
	const unsigned char *var_data;
	size_t var_len;
};

/*
 * Parse len bytes of buf. Bytes past the header's report size (the rest
 * of the NV index) are ignored. Returns SP_OK, or SP_E_PROTOCOL naming
 * nothing more: the caller logs that the report is malformed.
 */
SP_MUST_CHECK enum sp_err hcl_parse(const unsigned char *buf, size_t len,
				    struct hcl_report *out);

/*
 * SHA-256(var data) into out (cap >= HCL_DIGEST_MAX), the binding the
 * verifiers check. Returns SP_OK, SP_E_PROTOCOL when the report's hash
 * type is not HCL_HASH_SHA256 (SHA-384/512 are refused too), or
 * SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err hcl_var_data_digest(const struct hcl_report *r,
					      unsigned char *out, size_t cap,
					      size_t *len);

/* 1 when the hardware report data starts with H(var data), else 0. */
int hcl_binding_ok(const struct hcl_report *r);

struct hcl_var_data {
	size_t nkids;
	char kids[HCL_KEYS_MAX][HCL_KID_MAX]; /* "kid" of each key, in order */
	int has_user_data;
	unsigned char user_data[HCL_USER_DATA_MAX];
	size_t user_data_len;
	EVP_PKEY *ak; /* HCLAkPub as an RSA key, or NULL when absent */
};

/*
 * Parse the var-data JSON: the key ids, "user-data" (hex, at most
 * HCL_USER_DATA_MAX bytes) and the HCLAkPub RSA JWK. Returns SP_OK or
 * SP_E_PROTOCOL. Free with hcl_var_data_free() whatever the result.
 */
SP_MUST_CHECK enum sp_err hcl_var_data_parse(const struct hcl_report *r,
					     struct hcl_var_data *out);
void hcl_var_data_free(struct hcl_var_data *v);

/* The SNP report fields the tests and logs look at. */
struct hcl_snp {
	uint32_t version;
	uint32_t guest_svn;
	uint64_t policy;
	uint32_t vmpl;
	uint32_t signature_algo;
	uint64_t current_tcb;
	uint32_t signer_info;
	const unsigned char *report_data; /* 64 */
	const unsigned char *measurement; /* 48 */
	const unsigned char *host_data;	  /* 32 */
	uint64_t reported_tcb;
	const unsigned char *chip_id; /* 64 */
	uint64_t committed_tcb;
};

/* Fields of an SNP report (report_type SNP). SP_OK or SP_E_PROTOCOL. */
SP_MUST_CHECK enum sp_err hcl_snp_fields(const struct hcl_report *r,
					 struct hcl_snp *out);

/* The TDREPORT's MRTD (48 bytes), or NULL when r is not TDX. */
const unsigned char *hcl_td_mrtd(const struct hcl_report *r);

#endif
