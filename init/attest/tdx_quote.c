/*
 * tdx_quote.c: structure of TDX quotes v4/v5 and of TDREPORTs
 * (tee-guest-interfaces.md §2.4, §2.5). Offsets are from Intel's DCAP
 * headers as summarised there; every length is checked against the
 * bytes present before it is used.
 */
#include <string.h>

#include "le.h"
#include "tdx_quote.h"

#define QUOTE_V4	   4
#define QUOTE_V5	   5
#define QUOTE_V4_BODY_OFF  0x30
#define QUOTE_V5_TYPE_OFF  0x30 /* u16 body type, u32 body size */
#define QUOTE_V5_BODY_OFF  0x36
#define QUOTE_SIG_LEN	   64
#define QUOTE_KEY_LEN	   64
#define QUOTE_CERT_HDR_LEN 6 /* u16 type, u32 size */
#define QUOTE_QE_SIG_LEN   64
#define PEM_BEGIN	   "-----BEGIN CERTIFICATE-----"

/* TD body offsets (§2.5 table), relative to the body start. */
#define BODY_TEE_TCB_SVN   0x000
#define BODY_MR_SEAM	   0x010
#define BODY_MR_SIGNER	   0x040
#define BODY_SEAM_ATTR	   0x070
#define BODY_TD_ATTR	   0x078
#define BODY_XFAM	   0x080
#define BODY_MRTD	   0x088
#define BODY_MRCONFIGID	   0x0B8
#define BODY_MROWNER	   0x0E8
#define BODY_MROWNERCONFIG 0x118
#define BODY_RTMR0	   0x148
#define BODY_REPORT_DATA   0x208
#define BODY_TEE_TCB_SVN2  0x248
#define BODY_MR_SERVICETD  0x258

/* TDREPORT offsets (§2.4 table). */
#define REPORT_TYPE	     0x000
#define REPORT_CPUSVN	     0x010
#define REPORT_REPORT_DATA   0x080
#define REPORT_MAC	     0x0E0
#define REPORT_TD_ATTR	     0x200
#define REPORT_XFAM	     0x208
#define REPORT_MRTD	     0x210
#define REPORT_MRCONFIGID    0x240
#define REPORT_MROWNER	     0x270
#define REPORT_MROWNERCONFIG 0x2A0
#define REPORT_RTMR0	     0x2D0
#define REPORT_SERVTD_HASH   0x390

/* 1 when n bytes starting at off lie within len (no overflow). */
static int
fits(size_t len, size_t off, size_t n)
{
	return off <= len && n <= len - off;
}

static void
body_fields(const unsigned char *p, int has_v15, struct tdx_td_body *b)
{
	size_t i;

	b->tee_tcb_svn = p + BODY_TEE_TCB_SVN;
	b->mr_seam = p + BODY_MR_SEAM;
	b->mr_signer_seam = p + BODY_MR_SIGNER;
	b->seam_attributes = p + BODY_SEAM_ATTR;
	b->td_attributes = p + BODY_TD_ATTR;
	b->xfam = p + BODY_XFAM;
	b->mrtd = p + BODY_MRTD;
	b->mrconfigid = p + BODY_MRCONFIGID;
	b->mrowner = p + BODY_MROWNER;
	b->mrownerconfig = p + BODY_MROWNERCONFIG;
	for (i = 0; i < TDX_RTMR_COUNT; i++) {
		b->rtmr[i] = p + BODY_RTMR0 + i * TDX_MR_LEN;
	}
	b->report_data = p + BODY_REPORT_DATA;
	b->has_v15 = has_v15;
	b->tee_tcb_svn2 = has_v15 ? p + BODY_TEE_TCB_SVN2 : NULL;
	b->mr_servicetd = has_v15 ? p + BODY_MR_SERVICETD : NULL;
}

/* The 48-byte header: version, key type, TEE type, vendor, user data. */
static enum sp_err
parse_header(const unsigned char *buf, size_t len, struct tdx_quote *q,
	     const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;

	if (len < TDX_QUOTE_HEADER_LEN) {
		*why = "quote_truncated_header";
		goto out;
	}
	q->version = le_get16(buf);
	q->att_key_type = le_get16(buf + 2);
	q->tee_type = le_get32(buf + 4);
	q->qe_vendor_id = buf + 0x0C;
	q->user_data = buf + 0x1C;
	if (q->version != QUOTE_V4 && q->version != QUOTE_V5) {
		*why = "quote_version_unsupported";
	} else if (q->tee_type != TDX_TEE_TYPE_TDX) {
		*why = "quote_tee_type_not_tdx";
	} else if (q->att_key_type != TDX_ATT_KEY_ECDSA_256) {
		*why = "quote_att_key_type_unsupported";
	} else {
		rc = SP_OK;
	}
out:
	return rc;
}

/* Where the TD body sits: fixed for v4, typed and sized for v5. */
static enum sp_err
locate_body(const unsigned char *buf, size_t len, struct tdx_quote *q,
	    const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	uint32_t size;

	q->body_type = TDX_BODY_TYPE_10;
	q->body_offset = QUOTE_V4_BODY_OFF;
	q->body_size = TDX_BODY_10_LEN;
	if (q->version == QUOTE_V5) {
		if (!fits(len, QUOTE_V5_TYPE_OFF, QUOTE_CERT_HDR_LEN)) {
			*why = "quote_truncated_body_header";
			goto out;
		}
		q->body_type = le_get16(buf + QUOTE_V5_TYPE_OFF);
		size = le_get32(buf + QUOTE_V5_TYPE_OFF + 2);
		q->body_offset = QUOTE_V5_BODY_OFF;
		q->body_size = size;
		if (q->body_type == TDX_BODY_TYPE_10) {
			rc = size == TDX_BODY_10_LEN ? SP_OK : SP_E_INTEGRITY;
		} else if (q->body_type == TDX_BODY_TYPE_15) {
			rc = size == TDX_BODY_15_LEN ? SP_OK : SP_E_INTEGRITY;
		} else {
			*why = "quote_body_type_unsupported";
			goto out;
		}
		if (rc != SP_OK) {
			*why = "quote_body_size_mismatch";
			goto out;
		}
	}

	rc = SP_E_INTEGRITY;
	if (!fits(len, q->body_offset, q->body_size)) {
		*why = "quote_truncated_body";
		goto out;
	}
	body_fields(buf + q->body_offset, q->body_type == TDX_BODY_TYPE_15,
		    &q->body);
	rc = SP_OK;
out:
	return rc;
}

/* PEM certificates in the chain, counted by their BEGIN lines. */
static unsigned
count_pem(const unsigned char *p, size_t n)
{
	const size_t tag = sizeof(PEM_BEGIN) - 1;
	const unsigned char *hit;
	unsigned count = 0;

	while (n >= tag) {
		hit = memmem(p, n, PEM_BEGIN, tag);
		if (hit == NULL) {
			break;
		}
		count++;
		n -= (size_t)(hit - p) + tag;
		p = hit + tag;
	}
	return count;
}

/*
 * Certification data of type 6: the QE report, its signature, the auth
 * data, then the nested certification data (type 5: the PCK chain).
 */
static enum sp_err
parse_qe_cert(const unsigned char *p, size_t n, struct tdx_quote *q,
	      const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	size_t off = TDX_QE_REPORT_LEN + QUOTE_QE_SIG_LEN;
	uint32_t inner;

	if (!fits(n, 0, off + 2)) {
		*why = "quote_truncated_qe_report";
		goto out;
	}
	q->qe_report = p;
	q->qe_report_sig = p + TDX_QE_REPORT_LEN;
	q->auth_data_len = le_get16(p + off);
	off += 2;
	q->auth_data = p + off;
	if (!fits(n, off, (size_t)q->auth_data_len + QUOTE_CERT_HDR_LEN)) {
		*why = "quote_truncated_auth_data";
		goto out;
	}
	off += q->auth_data_len;

	q->inner_cert_type = le_get16(p + off);
	inner = le_get32(p + off + 2);
	off += QUOTE_CERT_HDR_LEN;
	if (!fits(n, off, inner)) {
		*why = "quote_truncated_pck_chain";
		goto out;
	}
	if (q->inner_cert_type != TDX_CERT_PCK_CHAIN) {
		*why = "quote_inner_cert_type_unsupported";
		goto out;
	}
	q->pck_chain = p + off;
	q->pck_chain_len = inner;
	q->pck_certs = count_pem(q->pck_chain, q->pck_chain_len);
	rc = SP_OK;
out:
	return rc;
}

/* Signature data after the body: signature, key, certification data. */
static enum sp_err
parse_sig_data(const unsigned char *buf, size_t len, struct tdx_quote *q,
	       const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	size_t off = q->body_offset + q->body_size;
	const unsigned char *sig;
	uint32_t cert_size;

	if (!fits(len, off, 4)) {
		*why = "quote_truncated_sig_len";
		goto out;
	}
	q->sig_data_len = le_get32(buf + off);
	off += 4;
	if (!fits(len, off, q->sig_data_len)) {
		*why = "quote_truncated_sig_data";
		goto out;
	}
	q->quote_len = off + q->sig_data_len;
	sig = buf + off;
	if (q->sig_data_len <
	    QUOTE_SIG_LEN + QUOTE_KEY_LEN + QUOTE_CERT_HDR_LEN) {
		*why = "quote_sig_data_too_short";
		goto out;
	}

	q->signature = sig;
	q->att_key = sig + QUOTE_SIG_LEN;
	off = QUOTE_SIG_LEN + QUOTE_KEY_LEN;
	q->outer_cert_type = le_get16(sig + off);
	cert_size = le_get32(sig + off + 2);
	off += QUOTE_CERT_HDR_LEN;
	if (!fits(q->sig_data_len, off, cert_size)) {
		*why = "quote_truncated_cert_data";
		goto out;
	}
	if (q->outer_cert_type != TDX_CERT_QE_REPORT) {
		*why = "quote_cert_type_unsupported";
		goto out;
	}
	rc = parse_qe_cert(sig + off, cert_size, q, why);
out:
	return rc;
}

enum sp_err
tdx_quote_parse(const unsigned char *buf, size_t len, struct tdx_quote *out,
		const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	struct tdx_quote q;

	memset(&q, 0, sizeof(q));
	*why = NULL;
	if (buf == NULL) {
		*why = "quote_missing";
		goto out;
	}
	if (len > TDX_QUOTE_MAX) {
		len = TDX_QUOTE_MAX;
	}
	rc = parse_header(buf, len, &q, why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = locate_body(buf, len, &q, why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = parse_sig_data(buf, len, &q, why);
	if (rc != SP_OK) {
		goto out;
	}
	*out = q;
out:
	return rc;
}

enum sp_err
tdx_report_parse(const unsigned char *buf, size_t len, struct tdx_report *out,
		 const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	size_t i;

	*why = NULL;
	if (buf == NULL || len < TDX_REPORT_LEN) {
		*why = "tdreport_truncated";
		goto out;
	}
	if (buf[REPORT_TYPE] != TDX_TEE_TYPE_TDX) {
		*why = "tdreport_type_not_tdx";
		goto out;
	}

	memset(out, 0, sizeof(*out));
	out->report_type = buf + REPORT_TYPE;
	out->cpusvn = buf + REPORT_CPUSVN;
	out->report_data = buf + REPORT_REPORT_DATA;
	out->mac = buf + REPORT_MAC;
	out->td_attributes = buf + REPORT_TD_ATTR;
	out->xfam = buf + REPORT_XFAM;
	out->mrtd = buf + REPORT_MRTD;
	out->mrconfigid = buf + REPORT_MRCONFIGID;
	out->mrowner = buf + REPORT_MROWNER;
	out->mrownerconfig = buf + REPORT_MROWNERCONFIG;
	for (i = 0; i < TDX_RTMR_COUNT; i++) {
		out->rtmr[i] = buf + REPORT_RTMR0 + i * TDX_MR_LEN;
	}
	out->servtd_hash = buf + REPORT_SERVTD_HASH;
	rc = SP_OK;
out:
	return rc;
}
