/*
 * snp_report.h: AMD SEV-SNP attestation reports (1184 bytes) and the
 * host's certificate table, parsed from untrusted bytes, and the
 * evidence JSON the Trustee SNP verifier expects
 * (tee-guest-interfaces.md §3.2-§3.3, kbs-protocol.md §4.4).
 *
 * The verifier does not receive the report's bytes: it gets the sev
 * crate's struct serialised field by field, re-encodes it and checks
 * AMD's signature over the result. So this module encodes as well as
 * parses, and the provider refuses a report that would not survive
 * that round trip (non-zero reserved bytes).
 */
#ifndef SEALPOD_SNP_REPORT_H
#define SEALPOD_SNP_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "err.h"
#include "json.h"

#define SNP_REPORT_LEN	      1184
#define SNP_REPORT_SIGNED_LEN 0x2A0 /* the signature covers [0, 0x2A0) */
#define SNP_REPORT_DATA_LEN   64
#define SNP_MEASUREMENT_LEN   48
#define SNP_CHIP_ID_LEN	      64
#define SNP_SIG_COMPONENT_LEN 72 /* r and s, little-endian */
#define SNP_CPUID_FAM_TURIN   0x1A
#define SNP_CERTS_MAX	      16 /* certificate table entries we accept */
#define SNP_CERT_TABLE_MAX    (32 * 1024) /* kernel uses at most 16 KiB */
#define SNP_GUID_LEN	      16
#define SNP_EVIDENCE_MAX      (256 * 1024)

/* TCB_VERSION: Milan/Genoa layout, or Turin's (with an FMC SPL). */
struct snp_tcb {
	uint64_t raw;
	int has_fmc; /* Turin layout: fmc is meaningful */
	uint8_t fmc;
	uint8_t bootloader;
	uint8_t tee;
	uint8_t snp;
	uint8_t microcode;
};

/* Firmware version: build, minor, major bytes in the report. */
struct snp_version {
	uint8_t major;
	uint8_t minor;
	uint8_t build;
};

struct snp_report {
	uint32_t version;
	uint32_t guest_svn;
	uint64_t policy;
	uint8_t family_id[16];
	uint8_t image_id[16];
	uint32_t vmpl;
	uint32_t sig_algo; /* 1: ECDSA P-384 with SHA-384 */
	struct snp_tcb current_tcb;
	uint64_t plat_info;
	uint32_t key_info; /* "signer info": bits 2-4 signing key */
	uint8_t report_data[SNP_REPORT_DATA_LEN];
	uint8_t measurement[SNP_MEASUREMENT_LEN];
	uint8_t host_data[32];
	uint8_t id_key_digest[48];
	uint8_t author_key_digest[48];
	uint8_t report_id[32];
	uint8_t report_id_ma[32];
	struct snp_tcb reported_tcb;
	int has_cpuid; /* report version 3 and later */
	uint8_t cpuid_fam_id;
	uint8_t cpuid_mod_id;
	uint8_t cpuid_step;
	uint8_t chip_id[SNP_CHIP_ID_LEN];
	struct snp_tcb committed_tcb;
	struct snp_version current;
	struct snp_version committed;
	struct snp_tcb launch_tcb;
	int has_mit; /* report version 5 and later */
	uint64_t launch_mit_vector;
	uint64_t current_mit_vector;
	uint8_t sig_r[SNP_SIG_COMPONENT_LEN];
	uint8_t sig_s[SNP_SIG_COMPONENT_LEN];
};

/*
 * Parse a report of len bytes (at least SNP_REPORT_LEN; more is
 * tolerated). Returns SP_OK, or SP_E_INTEGRITY with *why set.
 */
SP_MUST_CHECK enum sp_err snp_report_parse(const unsigned char *buf, size_t len,
					   struct snp_report *out,
					   const char **why);

/*
 * Encode r into out as the verifier does: every field at its offset,
 * reserved bytes zero.
 */
void snp_report_encode(const struct snp_report *r,
		       unsigned char out[SNP_REPORT_LEN]);

/*
 * 1 when the first SNP_REPORT_LEN bytes of buf equal the encoding of
 * their own parse, i.e. the verifier's re-encoding is the signed bytes.
 */
int snp_report_roundtrips(const unsigned char *buf, size_t len);

/* Append r as the sev crate's AttestationReport JSON object. */
void snp_report_json(const struct snp_report *r, struct strbuf *sb);

/*
 * The inverse of snp_report_json, for round-trip checks: read the object
 * v into *out. Returns SP_OK, or SP_E_PROTOCOL with *why naming the
 * field that is missing or out of range.
 */
SP_MUST_CHECK enum sp_err
snp_report_from_json(yajl_val v, struct snp_report *out, const char **why);

enum snp_cert_type {
	SNP_CERT_ARK,
	SNP_CERT_ASK, /* also the ASVK of a VLEK chain */
	SNP_CERT_VCEK,
	SNP_CERT_VLEK,
	SNP_CERT_CRL,
	SNP_CERT_OTHER,
};

/* One certificate of the host's table; data points into the table. */
struct snp_cert {
	enum snp_cert_type type;
	unsigned char guid[SNP_GUID_LEN];
	const unsigned char *data;
	size_t len;
};

/*
 * Parse a GHCB certificate table (24-byte entries {guid, u32 offset,
 * u32 length} ended by an all-zero entry; offsets from the table start)
 * of len bytes into at most max entries. GUIDs are matched in both RFC
 * 4122 and mixed-endian byte order, since which one hosts use is not
 * settled. Returns SP_OK with *n entries (0 for an empty table), or
 * SP_E_INTEGRITY with *why set.
 */
SP_MUST_CHECK enum sp_err snp_certs_parse(const unsigned char *table,
					  size_t len, struct snp_cert *out,
					  size_t max, size_t *n,
					  const char **why);

/* Trustee's name of a certificate type: "ARK", "VCEK", ... "OTHER". */
const char *snp_cert_type_name(enum snp_cert_type t);

/*
 * The whole "snp" evidence: {"attestation_report": {...}, "cert_chain":
 * [...] | null}. The chain is sent only when the host's table holds a
 * VCEK or VLEK (the verifier demands one in any chain it gets); otherwise
 * null, and the verifier fetches the VCEK from AMD. report is parsed and
 * must round-trip. On SP_OK *json is malloc'd for the caller to free;
 * otherwise SP_E_ATTEST with *why set.
 */
SP_MUST_CHECK enum sp_err snp_evidence_json(const unsigned char *report,
					    size_t rlen,
					    const unsigned char *certs,
					    size_t clen, char **json,
					    const char **why);

#endif
