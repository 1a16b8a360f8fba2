/*
 * tdx_quote.h: Intel TDX quotes (v4, v5) and TDREPORTs, parsed from
 * untrusted bytes (tee-guest-interfaces.md §2.4, §2.5).
 *
 * The parser checks structure only: every length field against the
 * bytes present, the versions and types we understand. It verifies no
 * signature; that is the verifier's job (DCAP, with Intel collateral).
 * Parsed byte fields point into the caller's buffer, which must outlive
 * the result. Trailing bytes after the declared quote are tolerated, as
 * real quotes carry padding.
 */
#ifndef SEALPOD_TDX_QUOTE_H
#define SEALPOD_TDX_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TDX_QUOTE_MIN	      1020	  /* DCAP refuses anything not larger */
#define TDX_QUOTE_MAX	      (32 * 1024) /* configfs-tsm outblob ceiling */
#define TDX_QUOTE_HEADER_LEN  48
#define TDX_TEE_TYPE_TDX      0x81
#define TDX_ATT_KEY_ECDSA_256 2
#define TDX_BODY_TYPE_10      2 /* TDX 1.0 TD body, v5 quotes */
#define TDX_BODY_TYPE_15      3 /* TDX 1.5 TD body, v5 quotes */
#define TDX_BODY_10_LEN	      584
#define TDX_BODY_15_LEN	      648
#define TDX_CERT_PCK_CHAIN    5
#define TDX_CERT_QE_REPORT    6
#define TDX_QE_REPORT_LEN     384
#define TDX_MR_LEN	      48 /* SHA-384 measurement registers */
#define TDX_RTMR_COUNT	      4
#define TDX_REPORT_DATA_LEN   64
#define TDX_REPORT_LEN	      1024 /* TDREPORT */

/* The TD quote body (TDX 1.0 fields, plus TDX 1.5 when has_v15). */
struct tdx_td_body {
	const unsigned char *tee_tcb_svn;	   /* 16 */
	const unsigned char *mr_seam;		   /* 48 */
	const unsigned char *mr_signer_seam;	   /* 48 */
	const unsigned char *seam_attributes;	   /* 8 */
	const unsigned char *td_attributes;	   /* 8, bit 0 = DEBUG */
	const unsigned char *xfam;		   /* 8 */
	const unsigned char *mrtd;		   /* 48 */
	const unsigned char *mrconfigid;	   /* 48 */
	const unsigned char *mrowner;		   /* 48 */
	const unsigned char *mrownerconfig;	   /* 48 */
	const unsigned char *rtmr[TDX_RTMR_COUNT]; /* 48 each */
	const unsigned char *report_data;	   /* 64 */
	int has_v15;
	const unsigned char *tee_tcb_svn2; /* 16, TDX 1.5 only */
	const unsigned char *mr_servicetd; /* 48, TDX 1.5 only */
};

struct tdx_quote {
	uint16_t version;		   /* 4 or 5 */
	uint16_t att_key_type;		   /* 2: ECDSA P-256 */
	uint32_t tee_type;		   /* 0x81 */
	const unsigned char *qe_vendor_id; /* 16 */
	const unsigned char *user_data;	   /* 20 */
	uint16_t body_type;		   /* v5 field; 2 for v4 quotes */
	size_t body_offset;
	size_t body_size;
	struct tdx_td_body body;
	uint32_t sig_data_len;
	size_t quote_len; /* header, body, length field, signature data */
	const unsigned char *signature;	    /* 64: r||s over header||body */
	const unsigned char *att_key;	    /* 64: X||Y */
	uint16_t outer_cert_type;	    /* 6: QE report certification */
	const unsigned char *qe_report;	    /* 384, when outer type is 6 */
	const unsigned char *qe_report_sig; /* 64 */
	const unsigned char *auth_data;
	uint16_t auth_data_len;
	uint16_t inner_cert_type; /* 5: PCK chain (PEM) */
	const unsigned char *pck_chain;
	size_t pck_chain_len;
	unsigned pck_certs; /* PEM certificates in the chain */
};

/*
 * Parse a TDX quote of len bytes (at most TDX_QUOTE_MAX are looked at).
 * Returns SP_OK and fills *out, or SP_E_INTEGRITY with *why naming the
 * rule broken (a stable reason code for logs); *out is then unspecified.
 */
SP_MUST_CHECK enum sp_err tdx_quote_parse(const unsigned char *buf, size_t len,
					  struct tdx_quote *out,
					  const char **why);

/* A TDREPORT (TDG.MR.REPORT output, 1024 bytes). */
struct tdx_report {
	const unsigned char *report_type;   /* 4: type 0x81, subtype, version */
	const unsigned char *cpusvn;	    /* 16 */
	const unsigned char *report_data;   /* 64 */
	const unsigned char *mac;	    /* 32 */
	const unsigned char *td_attributes; /* 8 */
	const unsigned char *xfam;	    /* 8 */
	const unsigned char *mrtd;	    /* 48 */
	const unsigned char *mrconfigid;    /* 48 */
	const unsigned char *mrowner;	    /* 48 */
	const unsigned char *mrownerconfig; /* 48 */
	const unsigned char *rtmr[TDX_RTMR_COUNT]; /* 48 each */
	const unsigned char *servtd_hash;	   /* 48 */
};

/*
 * Parse a TDREPORT of at least TDX_REPORT_LEN bytes. Returns SP_OK, or
 * SP_E_INTEGRITY with *why set.
 */
SP_MUST_CHECK enum sp_err tdx_report_parse(const unsigned char *buf, size_t len,
					   struct tdx_report *out,
					   const char **why);

#endif
