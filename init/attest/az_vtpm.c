/*
 * az_vtpm.c: the Azure confidential VM vTPM flow shared by the
 * "az-snp-vtpm" and "az-tdx-vtpm" providers (see az_vtpm.h), and IMDS.
 *
 * The paravisor regenerates the HCL report after a user-data write; the
 * reference attester sleeps a fixed 3 s before reading it. We read
 * until the report carries our user data instead, a bounded number of
 * times, so a fast paravisor costs nothing and a stale report is never
 * sent (the verifier would refuse it for the user-data check anyway).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "attest.h"
#include "az_vtpm.h"
#include "b64.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "secret.h"

#define AZ_POLL_TRIES	   15
#define AZ_POLL_NS	   (200 * 1000 * 1000L) /* 3 s in all, as AZCV */
#define AZ_POLL_REWRITE	   5
#define AZ_IMDS_CONNECT_MS 5000
#define AZ_IMDS_TOTAL_S	   30

static char az_imds_base[AZ_IMDS_URL_MAX] = AZ_IMDS_DEFAULT;

void
az_vtpm_set_imds(const char *base)
{
	const char *b = base != NULL ? base : AZ_IMDS_DEFAULT;
	size_t n = strlen(b);

	if (n < sizeof(az_imds_base)) {
		memcpy(az_imds_base, b, n + 1);
	}
}

static void
poll_sleep(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = AZ_POLL_NS};

	(void)nanosleep(&ts, NULL);
}

/* What one read of NV 0x01400001 showed. */
enum az_report_state {
	AZ_REPORT_OURS,	     /* our user data: done */
	AZ_REPORT_STALE,     /* no or other user data: read again */
	AZ_REPORT_MALFORMED, /* maybe caught mid-rewrite: read again */
	AZ_REPORT_WRONG,     /* the other platform: never ours */
};

static enum az_report_state
report_state(const unsigned char *hcl, size_t len, uint32_t type,
	     const unsigned char *digest, size_t dlen, struct hcl_report *rep)
{
	enum az_report_state st = AZ_REPORT_MALFORMED;
	struct hcl_var_data var;

	memset(&var, 0, sizeof(var));
	if (hcl_parse(hcl, len, rep) != SP_OK ||
	    hcl_var_data_parse(rep, &var) != SP_OK) {
		goto out;
	}
	st = AZ_REPORT_WRONG;
	if (rep->report_type != type) {
		log_event(LOG_ERR, "attest.azure.failed",
			  "hcl_report_type_mismatch",
			  LOG_U64("report_type", rep->report_type),
			  LOG_U64("expected", type));
		goto out;
	}
	st = AZ_REPORT_STALE;
	if (var.has_user_data && var.user_data_len >= dlen &&
	    ct_memeq(var.user_data, digest, dlen)) {
		st = AZ_REPORT_OURS;
	}
out:
	hcl_var_data_free(&var);
	return st;
}

/* NV 0x01400002: the digest, zero-padded to the index's 64 bytes. */
static enum sp_err
write_user_data(struct tpm *t, const unsigned char *digest, size_t dlen)
{
	unsigned char ud[AZ_USER_DATA_LEN];

	memset(ud, 0, sizeof(ud));
	memcpy(ud, digest, dlen);
	return tpm_nv_write(t, TPM_AZ_NV_USER_DATA, ud, sizeof(ud));
}

/* 1 when NV 0x01400002 still holds our (padded) user data. */
static int
user_data_ours(struct tpm *t, const unsigned char *digest, size_t dlen)
{
	unsigned char ud[AZ_USER_DATA_LEN];
	unsigned char *now = NULL;
	size_t len = 0;
	int ours = 0;

	memset(ud, 0, sizeof(ud));
	memcpy(ud, digest, dlen);
	if (tpm_nv_read(t, TPM_AZ_NV_USER_DATA, AZ_USER_DATA_LEN, &now, &len) ==
	    SP_OK) {
		ours = len == sizeof(ud) && ct_memeq(now, ud, sizeof(ud));
	}
	free(now);
	return ours;
}

/* Write the user data on the first try, and again only when it is gone. */
static enum sp_err
ensure_user_data(struct tpm *t, size_t tries, const unsigned char *digest,
		 size_t dlen)
{
	enum sp_err rc = SP_OK;

	if (tries == 0 || (tries % AZ_POLL_REWRITE == 0 &&
			   !user_data_ours(t, digest, dlen))) {
		rc = write_user_data(t, digest, dlen);
	}
	return rc;
}

/*
 * Write the user data, then read the report until it is ours, at most
 * AZ_POLL_TRIES reads AZ_POLL_NS apart. Another pod on the same VM
 * shares the vTPM and may overwrite the user data between our write
 * and the paravisor's refresh, so every AZ_POLL_REWRITE reads it is read
 * back and written again only when it is no longer ours: a rewrite
 * restarts the paravisor's refresh, so rewriting regardless would never
 * let a slow paravisor finish (h20 F3).
 */
static enum sp_err
fresh_report(struct tpm *t, uint32_t type, const unsigned char *digest,
	     size_t dlen, struct az_vtpm_evidence *ev)
{
	enum az_report_state st = AZ_REPORT_STALE;
	enum sp_err rc = SP_E_ATTEST;
	size_t tries;

	for (tries = 0; tries < AZ_POLL_TRIES; tries++) {
		if (tries > 0) {
			poll_sleep();
		}
		if (ensure_user_data(t, tries, digest, dlen) != SP_OK) {
			goto out;
		}
		free(ev->hcl);
		ev->hcl = NULL;
		if (tpm_nv_read(t, TPM_AZ_NV_REPORT, HCL_REPORT_MAX, &ev->hcl,
				&ev->hcl_len) != SP_OK) {
			log_event(LOG_ERR, "attest.azure.failed",
				  "hcl_report_unreadable");
			goto out;
		}
		st = report_state(ev->hcl, ev->hcl_len, type, digest, dlen,
				  &ev->report);
		if (st == AZ_REPORT_OURS || st == AZ_REPORT_WRONG) {
			break;
		}
	}
	if (st == AZ_REPORT_STALE || st == AZ_REPORT_MALFORMED) {
		log_event(LOG_ERR, "attest.azure.failed",
			  st == AZ_REPORT_STALE ? "hcl_user_data_stale"
						: "hcl_report_malformed",
			  LOG_U64("tries", tries));
	}
	rc = st == AZ_REPORT_OURS ? SP_OK : SP_E_ATTEST;
out:
	return rc;
}

/* The HCL's HCLAkPub must be the key that signs our quote. */
static enum sp_err
check_ak(const struct az_vtpm_evidence *ev)
{
	enum sp_err rc = SP_E_ATTEST;
	struct hcl_var_data var;
	unsigned char *der = NULL;
	int len = 0;

	if (hcl_var_data_parse(&ev->report, &var) != SP_OK || var.ak == NULL) {
		log_event(LOG_ERR, "attest.azure.failed", "hcl_akpub_missing");
		goto out;
	}
	len = i2d_PUBKEY(var.ak, &der);
	if (len <= 0 || (size_t)len != ev->quote.spki_len ||
	    memcmp(der, ev->quote.spki, (size_t)len) != 0) {
		log_event(LOG_ERR, "attest.azure.failed", "ak_not_hcl_akpub");
		goto out;
	}
	rc = SP_OK;
out:
	OPENSSL_free(der);
	hcl_var_data_free(&var);
	return rc;
}

enum sp_err
az_vtpm_gather(const char *root, uint32_t type, const unsigned char *digest,
	       size_t dlen, struct az_vtpm_evidence *ev)
{
	enum sp_err rc = SP_E_ATTEST;
	struct tpm *t = NULL;

	memset(ev, 0, sizeof(*ev));
	if (digest == NULL || dlen == 0 || dlen > AZ_USER_DATA_LEN) {
		goto out;
	}
	if (tpm_open(root, &t) != SP_OK ||
	    fresh_report(t, type, digest, dlen, ev) != SP_OK) {
		goto out;
	}
	if (ev->report.hash_type != HCL_HASH_SHA256) {
		log_event(LOG_ERR, "attest.azure.failed",
			  "hcl_hash_unsupported",
			  LOG_U64("hash_type", ev->report.hash_type));
		goto out;
	}
	if (!hcl_binding_ok(&ev->report)) {
		log_event(LOG_ERR, "attest.azure.failed",
			  "hcl_var_data_unbound");
		goto out;
	}

	/* The quote's extraData is the digest itself, unpadded (§2.2). */
	if (tpm_quote(t, TPM_AZ_AK_HANDLE, digest, dlen, &ev->quote) != SP_OK ||
	    check_ak(ev) != SP_OK) {
		goto out;
	}
	tpm_check_eventlog(root, ev->quote.pcrs);
	rc = SP_OK;
out:
	tpm_close(t);
	if (rc != SP_OK) {
		az_vtpm_evidence_free(ev);
	}
	return rc;
}

void
az_vtpm_evidence_free(struct az_vtpm_evidence *ev)
{
	if (ev == NULL) {
		return;
	}
	free(ev->hcl);
	memset(ev, 0, sizeof(*ev));
}

int
az_vtpm_detect(const char *root, uint32_t type)
{
	struct hcl_report rep;
	unsigned char *hcl = NULL;
	struct tpm *t = NULL;
	size_t len = 0;
	int found = 0;

	if (tpm_probe(root, &t) != SP_OK ||
	    !tpm_nv_exists(t, TPM_AZ_NV_REPORT)) {
		goto out;
	}
	if (tpm_nv_read(t, TPM_AZ_NV_REPORT, HCL_REPORT_MAX, &hcl, &len) ==
		SP_OK &&
	    hcl_parse(hcl, len, &rep) == SP_OK) {
		found = rep.report_type == type;
	}
out:
	free(hcl);
	tpm_close(t);
	return found;
}

static void
append_hex(struct strbuf *sb, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char pair[2];
	size_t i;

	strbuf_appends(sb, "\"");
	for (i = 0; i < n; i++) {
		pair[0] = digits[p[i] >> 4];
		pair[1] = digits[p[i] & 0xf];
		strbuf_append(sb, pair, sizeof(pair));
	}
	strbuf_appends(sb, "\"");
}

void
az_vtpm_append_b64url(struct strbuf *sb, const unsigned char *p, size_t n)
{
	char *s = b64_encode_alloc(p, n, B64_URL);
	size_t len;

	if (s == NULL) {
		sb->failed = 1;
		return;
	}
	strbuf_appends(sb, "\"");
	strbuf_appends(sb, s);
	for (len = strlen(s); len % 4 != 0; len++) {
		strbuf_appends(sb, "=");
	}
	strbuf_appends(sb, "\"");
	free(s);
}

void
az_vtpm_json_common(struct strbuf *sb, const struct az_vtpm_evidence *ev)
{
	const struct tpm_quote *q = &ev->quote;

	strbuf_appendf(sb, "\"version\":%d,\"tpm_quote\":{\"signature\":",
		       AZ_EVIDENCE_VERSION);
	append_hex(sb, q->sig + q->rsa_sig_off, q->rsa_sig_len);
	strbuf_appends(sb, ",\"message\":");
	append_hex(sb, q->attest, q->attest_len);
	strbuf_appends(sb, ",\"pcrs\":");
	tpm_append_pcrs_json(sb, q);
	strbuf_appends(sb, "},\"hcl_report\":");
	az_vtpm_append_b64url(sb, ev->hcl, ev->hcl_len);
}

enum sp_err
az_vtpm_collect(const char *root, uint32_t type, const unsigned char *digest,
		size_t dlen, const char *member, size_t cap,
		az_vtpm_collateral_fn collateral, char **json)
{
	enum sp_err rc = SP_E_ATTEST;
	struct az_vtpm_evidence *ev = NULL;
	unsigned char *buf = NULL;
	struct strbuf sb;
	long n;

	strbuf_init(&sb, EVIDENCE_MAX);
	ev = calloc(1, sizeof(*ev));
	buf = malloc(cap);
	if (ev == NULL || buf == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	if (az_vtpm_gather(root, type, digest, dlen, ev) != SP_OK) {
		goto out;
	}
	n = collateral(ev, buf, cap);
	if (n < 0) {
		goto out;
	}

	strbuf_appends(&sb, "{");
	az_vtpm_json_common(&sb, ev);
	strbuf_appendf(&sb, ",\"%s\":", member);
	az_vtpm_append_b64url(&sb, buf, (size_t)n);
	strbuf_appends(&sb, "}");
	if (!strbuf_ok(&sb)) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	*json = sb.buf;
	sb.buf = NULL;
	rc = SP_OK;
out:
	strbuf_free(&sb);
	az_vtpm_evidence_free(ev);
	free(ev);
	free(buf);
	return rc;
}

/* Send one request; SP_OK only for a 200 answer. */
static enum sp_err
imds_send(struct http_client *c, const char *method, const char *url,
	  const char *json, struct http_response *resp)
{
	static const char *const get_hdrs[] = {"Metadata: true", NULL};
	static const char *const post_hdrs[] = {
	    "Metadata: true", "Content-Type: application/json", NULL};
	int post = json != NULL;

	if (http_request(c, method, url, post ? post_hdrs : get_hdrs, json,
			 post ? strlen(json) : 0, AZ_IMDS_BODY_MAX,
			 resp) != SP_OK ||
	    resp->status != 200) {
		return SP_E_ATTEST;
	}
	return SP_OK;
}

enum sp_err
az_imds_request(const char *method, const char *path, const char *json,
		char **body, size_t *len)
{
	enum sp_err rc = SP_E_ATTEST;
	struct http_opts opts;
	struct http_response resp;
	struct http_client *c = NULL;
	char url[AZ_IMDS_URL_MAX + 64];
	long status;
	int n;

	memset(&opts, 0, sizeof(opts));
	memset(&resp, 0, sizeof(resp));
	opts.connect_timeout_ms = AZ_IMDS_CONNECT_MS;
	opts.total_timeout_s = AZ_IMDS_TOTAL_S;
	/*
	 * IMDS is plain HTTP on a link-local address.
	 * XXX: libcurl honours http_proxy from the environment and
	 * common/http.h has no switch to bypass it; IMDS answers only
	 * direct requests, so a pod with a proxy variable fails here.
	 */
	opts.allow_http = 1;
	n = snprintf(url, sizeof(url), "%s%s", az_imds_base, path);
	c = http_client_new(&opts);
	if (n < 0 || (size_t)n >= sizeof(url) || c == NULL) {
		goto out;
	}
	if (imds_send(c, method, url, json, &resp) != SP_OK) {
		/* A reply refused for its size still had a status (h20 F8). */
		status = resp.status != 0 ? resp.status : http_last_status(c);
		log_event(
		    LOG_ERR, "attest.azure.imds.failed", "imds_request",
		    LOG_STR("path", path),
		    LOG_U64("status", (uint64_t)(status > 0 ? status : 0)),
		    LOG_BOOL("oversize", resp.oversize),
		    LOG_STR("error", resp.errbuf));
		goto out;
	}
	*body = resp.body;
	*len = resp.len;
	resp.body = NULL;
	rc = SP_OK;
out:
	free(resp.body);
	http_client_free(c);
	return rc;
}
