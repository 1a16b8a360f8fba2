/*
 * az_tdx_vtpm.c: the "az-tdx-vtpm" evidence provider, an Azure
 * confidential VM on Intel TDX behind the paravisor (kbs-protocol.md
 * §4.6; flow in az_vtpm.h).
 *
 * Evidence v2: {"version": 2, "tpm_quote": {...}, "hcl_report":
 * base64url, "td_quote": base64url}. The guest cannot reach the TD
 * quoting enclave itself: IMDS turns the HCL report's TDREPORT into a
 * signed TD quote. We check that the quote IMDS returns speaks for that
 * TDREPORT (same REPORTDATA) before sending it.
 */
#include <stdlib.h>
#include <string.h>

#include "attest.h"
#include "attest_providers.h"
#include "az_vtpm.h"
#include "b64.h"
#include "json.h"
#include "log.h"
#include "secret.h"

#define AZ_TDX_QUOTE_PATH "/acc/tdquote"
#define AZ_TDX_QUOTE_MAX  (32 * 1024) /* quote + PCK chain ~5 KiB */
#define AZ_TDX_ERR_MAX	  128
/* REPORTDATA in a TD quote: header 48, TD body offset 520 (v4); v5 puts
 * a 6-byte body descriptor (type, size) before the body. */
#define AZ_TDX_V4	 4
#define AZ_TDX_V5	 5
#define AZ_TDX_RD_OFF_V4 568
#define AZ_TDX_RD_OFF_V5 574

/* The REPORTDATA of a v4 or v5 TD quote, or NULL. */
static const unsigned char *
quote_report_data(const unsigned char *q, size_t len)
{
	size_t off;

	if (len < 2) {
		return NULL;
	}
	if (q[0] == AZ_TDX_V4 && q[1] == 0) {
		off = AZ_TDX_RD_OFF_V4;
	} else if (q[0] == AZ_TDX_V5 && q[1] == 0) {
		off = AZ_TDX_RD_OFF_V5;
	} else {
		return NULL;
	}
	return len >= off + HCL_REPORTDATA_LEN ? q + off : NULL;
}

/* {"report": base64url(TDREPORT)} for /acc/tdquote. */
static char *
quote_request(const struct hcl_report *rep)
{
	struct strbuf sb;
	char *b64 = b64_encode_alloc(rep->hw_report, rep->hw_len, B64_URL);
	char *out = NULL;

	strbuf_init(&sb, AZ_IMDS_BODY_MAX);
	if (b64 == NULL) {
		goto out;
	}
	strbuf_appends(&sb, "{\"report\":");
	strbuf_append_json_str(&sb, b64);
	strbuf_appends(&sb, "}");
	if (strbuf_ok(&sb)) {
		out = sb.buf;
		sb.buf = NULL;
	}
out:
	free(b64);
	strbuf_free(&sb);
	return out;
}

/* Decode base64url with or without padding into out. */
static long
decode_b64url(const char *s, unsigned char *out, size_t cap)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '=') {
		n--;
	}
	return b64_decode(s, n, B64_URL, out, cap);
}

/* Ask IMDS for the TD quote of the HCL's TDREPORT; check REPORTDATA. */
static long
fetch_td_quote(const struct az_vtpm_evidence *ev, unsigned char *q, size_t cap)
{
	const struct hcl_report *rep = &ev->report;
	char err[AZ_TDX_ERR_MAX];
	const unsigned char *rd;
	const char *b64;
	yajl_val doc = NULL;
	char *req = quote_request(rep), *body = NULL;
	size_t len = 0;
	long n = -1;

	if (req == NULL || az_imds_request("POST", AZ_TDX_QUOTE_PATH, req,
					   &body, &len) != SP_OK) {
		goto out;
	}
	doc = json_parse(body, len, AZ_IMDS_BODY_MAX, err, sizeof(err));
	b64 = json_get_str(doc, "quote");
	n = b64 == NULL ? -1 : decode_b64url(b64, q, cap);
	rd = n < 0 ? NULL : quote_report_data(q, (size_t)n);
	if (rd == NULL || !ct_memeq(rd, rep->report_data, HCL_REPORTDATA_LEN)) {
		log_event(LOG_ERR, "attest.azure.imds.failed",
			  rd == NULL ? "td_quote_malformed"
				     : "td_quote_not_for_tdreport");
		n = -1;
	}
out:
	yajl_tree_free(doc);
	free(body);
	free(req);
	return n;
}

static int
az_tdx_detect(const char *root)
{
	return az_vtpm_detect(root, HCL_TYPE_TDX);
}

static enum sp_err
az_tdx_collect(const char *root, const unsigned char *digest, size_t dlen,
	       char **json)
{
	return az_vtpm_collect(root, HCL_TYPE_TDX, digest, dlen, "td_quote",
			       AZ_TDX_QUOTE_MAX, fetch_td_quote, json);
}

const struct attest_provider attest_az_tdx_vtpm = {
    .tee = "az-tdx-vtpm",
    .detect = az_tdx_detect,
    .collect = az_tdx_collect,
};
