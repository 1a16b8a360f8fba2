/*
 * sample.c: the "sample" evidence provider (kbs-protocol.md §4.1).
 *
 * Evidence a Trustee verifier accepts on any machine: the report data is
 * the runtime-data digest itself, standard base64, unpadded to 64 bytes
 * (the sample verifier compares it byte for byte). It proves nothing
 * about the platform, so the default KBS policy denies it; it exists for
 * development and is used only when the configuration names it.
 */
#include <stdlib.h>

#include "attest.h"
#include "attest_providers.h"
#include "b64.h"
#include "json.h"

#define SAMPLE_SVN	  "1"
#define SAMPLE_DIGEST_MAX 64 /* SHA-512, the largest a KBS selects */

/* Never detected: "tee: auto" must not fall back to evidence of nothing. */
static int
sample_detect(const char *root)
{
	(void)root;
	return 0;
}

static enum sp_err
sample_collect(const char *root, const unsigned char *digest, size_t dlen,
	       char **json)
{
	enum sp_err rc = SP_E_ATTEST;
	char rd[128];
	struct strbuf sb;

	(void)root;
	strbuf_init(&sb, EVIDENCE_MAX);
	if (digest == NULL || dlen == 0 || dlen > SAMPLE_DIGEST_MAX ||
	    b64_encode(digest, dlen, B64_STD, rd, sizeof(rd)) < 0) {
		goto out;
	}

	strbuf_appends(&sb, "{\"svn\":\"" SAMPLE_SVN "\",\"report_data\":");
	strbuf_append_json_str(&sb, rd);
	strbuf_appends(&sb, "}");
	if (!strbuf_ok(&sb)) {
		goto out;
	}
	*json = sb.buf;
	sb.buf = NULL;
	rc = SP_OK;
out:
	strbuf_free(&sb);
	return rc;
}

const struct attest_provider attest_sample = {
    .tee = "sample",
    .detect = sample_detect,
    .collect = sample_collect,
};
