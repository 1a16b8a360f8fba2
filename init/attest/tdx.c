/*
 * tdx.c: the "tdx" evidence provider (kbs-protocol.md §4.3).
 *
 * The 64-byte report data is the runtime-data digest zero-padded at the
 * end; it goes to configfs-tsm's inblob (provider tdx_guest) and the
 * quote comes back from outblob. The event log is the firmware's CCEL,
 * trimmed, which lets the verifier replay RTMR0-2.
 *
 * XXX: no runtime event log of our own yet: nothing extends RTMR3, so
 * cc_eventlog carries only the firmware's events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attest.h"
#include "attest_providers.h"
#include "b64.h"
#include "ccel.h"
#include "json.h"
#include "log.h"
#include "tdx.h"
#include "tdx_quote.h"
#include "tsm.h"
#include "util.h"

#define TDX_PATH_MAX	  4096
#define TDX_EVENTLOG_TAIL 8 /* 0xFF bytes the attester appends */

static int
root_path(char *out, size_t cap, const char *root, const char *path)
{
	int n = snprintf(out, cap, "%s%s", root, path);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* 1 when <root>path exists (any type: tests use plain files). */
static int
root_exists(const char *root, const char *path)
{
	char p[TDX_PATH_MAX];
	struct stat st;

	return root_path(p, sizeof(p), root, path) == 0 && stat(p, &st) == 0;
}

static int
tdx_detect(const char *root)
{
	char provider[TSM_ATTR_MAX];
	int found = 0;

	if (tsm_provider(root, provider, sizeof(provider)) == SP_OK &&
	    strcmp(provider, TDX_TSM_PROVIDER) == 0) {
		log_event(LOG_INFO, "attest.detect.signal", NULL,
			  LOG_STR("tee", "tdx"),
			  LOG_STR("signal", "configfs_tsm_provider"),
			  LOG_STR("provider", provider));
		found = 1;
	} else if (root_exists(root, TDX_DEVICE)) {
		log_event(LOG_INFO, "attest.detect.signal", NULL,
			  LOG_STR("tee", "tdx"),
			  LOG_STR("signal", "device_node"),
			  LOG_STR("path", TDX_DEVICE));
		found = 1;
	}
	return found;
}

/* The ACPI table, checked; its LAML bounds the log we read. */
static enum sp_err
ccel_table_load(const char *root, struct ccel_table *t)
{
	char path[TDX_PATH_MAX];
	enum sp_err rc = SP_E_ATTEST;
	const char *why = NULL;
	char *buf = NULL;
	size_t len = 0;

	if (root_path(path, sizeof(path), root, TDX_CCEL_TABLE) != 0) {
		goto out;
	}
	rc = file_read_all(path, TDX_CCEL_TABLE_MAX, &buf, &len);
	if (rc == SP_E_NOTFOUND) {
		goto out;
	}
	if (rc != SP_OK ||
	    ccel_table_parse((unsigned char *)buf, len, t, &why) != SP_OK) {
		log_event(LOG_ERR, "attest.tdx.ccel_invalid",
			  why != NULL ? why : "ccel_table_unreadable");
		rc = SP_E_ATTEST;
		goto out;
	}
	rc = SP_OK;
out:
	free(buf);
	return rc;
}

/* Trim the log, append the tail, into a new buffer. */
static enum sp_err
ccel_trim(const unsigned char *data, size_t len, unsigned char **log,
	  size_t *loglen)
{
	struct ccel_replay r;
	enum sp_err rc = SP_E_ATTEST;
	const char *why = NULL;
	unsigned char *out;

	if (ccel_replay(data, len, &r, &why) != SP_OK) {
		log_event(LOG_ERR, "attest.tdx.ccel_invalid", why);
		goto out;
	}
	out = malloc(r.used + TDX_EVENTLOG_TAIL);
	if (out == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	memcpy(out, data, r.used);
	memset(out + r.used, 0xFF, TDX_EVENTLOG_TAIL);
	*log = out;
	*loglen = r.used + TDX_EVENTLOG_TAIL;
	log_event(LOG_INFO, "attest.tdx.ccel", NULL, LOG_U64("bytes", r.used),
		  LOG_U64("events", r.events));
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
tdx_ccel_load(const char *root, unsigned char **log, size_t *len)
{
	char path[TDX_PATH_MAX];
	struct ccel_table t;
	enum sp_err rc;
	char *data = NULL;
	size_t dlen = 0;

	rc = ccel_table_load(root, &t);
	if (rc != SP_OK) {
		goto out;
	}
	if (t.cc_type != CCEL_CC_TYPE_TDX || t.laml > CCEL_LOG_MAX) {
		log_event(LOG_ERR, "attest.tdx.ccel_invalid",
			  t.cc_type != CCEL_CC_TYPE_TDX ? "ccel_not_tdx"
							: "ccel_log_too_large",
			  LOG_U64("laml", t.laml));
		rc = SP_E_ATTEST;
		goto out;
	}

	rc = SP_E_ATTEST;
	if (root_path(path, sizeof(path), root, TDX_CCEL_DATA) != 0 ||
	    file_read_all(path, CCEL_LOG_MAX, &data, &dlen) != SP_OK) {
		log_event(LOG_ERR, "attest.tdx.ccel_invalid",
			  "ccel_log_unreadable",
			  LOG_STR("path", TDX_CCEL_DATA));
		goto out;
	}
	rc = ccel_trim((unsigned char *)data, dlen, log, len);
out:
	free(data);
	return rc;
}

enum sp_err
tdx_evidence_json(const unsigned char *quote, size_t qlen,
		  const unsigned char *eventlog, size_t elen, char **json)
{
	enum sp_err rc = SP_E_ATTEST;
	char *q64 = NULL, *e64 = NULL;
	struct strbuf sb;

	strbuf_init(&sb, TDX_EVIDENCE_MAX);
	q64 = b64_encode_alloc(quote, qlen, B64_STD);
	if (q64 == NULL) {
		goto out;
	}
	if (eventlog != NULL) {
		e64 = b64_encode_alloc(eventlog, elen, B64_STD);
		if (e64 == NULL) {
			goto out;
		}
	}

	strbuf_appends(&sb, "{\"quote\":");
	strbuf_append_json_str(&sb, q64);
	strbuf_appends(&sb, ",\"cc_eventlog\":");
	if (e64 != NULL) {
		strbuf_append_json_str(&sb, e64);
	} else {
		strbuf_appends(&sb, "null");
	}
	strbuf_appends(&sb, "}");
	if (!strbuf_ok(&sb)) {
		log_event(LOG_ERR, "attest.tdx.failed", "evidence_too_large");
		goto out;
	}
	*json = sb.buf;
	sb.buf = NULL;
	rc = SP_OK;
out:
	free(q64);
	free(e64);
	strbuf_free(&sb);
	return rc;
}

/*
 * The quote must be one, and carry our report data: anything else is a
 * provider problem better named here than as a verifier refusal.
 */
static enum sp_err
check_quote(const unsigned char *quote, size_t len, const unsigned char *rd,
	    struct tdx_quote *q)
{
	enum sp_err rc = SP_E_ATTEST;
	const char *why = "quote_too_short";

	/* On a parse failure why names the rule broken. */
	if (len >= TDX_QUOTE_MIN &&
	    tdx_quote_parse(quote, len, q, &why) == SP_OK) {
		why = "quote_report_data_mismatch";
		if (memcmp(q->body.report_data, rd, TDX_REPORT_DATA_LEN) == 0) {
			rc = SP_OK;
		}
	}
	if (rc != SP_OK) {
		log_event(LOG_ERR, "attest.tdx.failed", why,
			  LOG_U64("bytes", len));
	}
	return rc;
}

/* The verifier replays the log; a mismatch here predicts its refusal. */
static void
check_replay(const unsigned char *log, size_t len, const struct tdx_quote *q)
{
	struct ccel_replay r;
	const char *why;
	size_t i;

	if (ccel_replay(log, len, &r, &why) != SP_OK) {
		memset(&r, 0, sizeof(r)); /* tdx_ccel_load checked it */
	}
	for (i = 0; i < TDX_RTMR_COUNT; i++) {
		if (memcmp(r.rtmr[i], q->body.rtmr[i], TDX_MR_LEN) != 0) {
			log_event(LOG_WARN, "attest.tdx.eventlog_mismatch",
				  "rtmr_replay_differs", LOG_U64("rtmr", i));
		}
	}
}

static enum sp_err
tdx_collect(const char *root, const unsigned char *digest, size_t dlen,
	    char **json)
{
	unsigned char rd[TSM_INBLOB_LEN];
	struct tsm_report rep;
	unsigned char *log = NULL;
	size_t loglen = 0;
	struct tdx_quote q;
	enum sp_err rc = SP_E_ATTEST;

	memset(&rep, 0, sizeof(rep));
	if (digest == NULL || dlen == 0 || dlen > sizeof(rd)) {
		log_event(LOG_ERR, "attest.tdx.failed", "report_data_too_long",
			  LOG_U64("bytes", dlen));
		goto out;
	}
	memset(rd, 0, sizeof(rd));
	memcpy(rd, digest, dlen);

	rc = tsm_report_get(root, TDX_TSM_PROVIDER, rd, 0, &rep);
	if (rc == SP_OK) {
		rc = check_quote(rep.outblob, rep.outlen, rd, &q);
	}
	if (rc != SP_OK) {
		rc = SP_E_ATTEST;
		goto out;
	}

	rc = tdx_ccel_load(root, &log, &loglen);
	if (rc == SP_E_NOTFOUND) {
		log_event(LOG_WARN, "attest.tdx.no_eventlog", "ccel_missing");
	} else if (rc != SP_OK) {
		goto out;
	} else {
		check_replay(log, loglen, &q);
	}
	rc = tdx_evidence_json(rep.outblob, rep.outlen, log, loglen, json);
out:
	free(log);
	tsm_report_free(&rep);
	return rc;
}

const struct attest_provider attest_tdx = {
    .tee = "tdx",
    .detect = tdx_detect,
    .collect = tdx_collect,
};
