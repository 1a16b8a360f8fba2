/*
 * fuzz_snp_report.c: the SEV-SNP report parser, JSON encoder/decoder and
 * certificate table on arbitrary bytes (the first 1184 are the report,
 * the rest the host's certificate table). Checks the round trip the
 * verifier depends on: a report that parses and round-trips comes back
 * byte for byte from its own JSON. Seeds: real reports from
 * testdata/tee/snp (Apache-2.0, go-sev-guest and Trustee), one with a
 * certificate table, and a cut one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/snp_report.h"

#define FUZZ_JSON_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* bytes -> JSON -> struct -> bytes must be the identity. */
static void
check_roundtrip(const uint8_t *data, const struct snp_report *r)
{
	unsigned char again[SNP_REPORT_LEN];
	struct snp_report back;
	const char *why = NULL;
	struct strbuf sb;
	char err[64];
	yajl_val v;

	strbuf_init(&sb, FUZZ_JSON_MAX);
	snp_report_json(r, &sb);
	if (!strbuf_ok(&sb)) {
		__builtin_trap();
	}
	v = json_parse(sb.buf, sb.len, FUZZ_JSON_MAX, err, sizeof(err));
	if (v == NULL || snp_report_from_json(v, &back, &why) != SP_OK) {
		__builtin_trap();
	}
	snp_report_encode(&back, again);
	if (memcmp(again, data, SNP_REPORT_LEN) != 0) {
		__builtin_trap();
	}
	yajl_tree_free(v);
	strbuf_free(&sb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snp_cert certs[SNP_CERTS_MAX];
	struct snp_report r;
	const char *why = NULL;
	char *json = NULL;
	size_t n = 0, rest;

	if (snp_report_parse(data, size, &r, &why) != SP_OK) {
		if (why == NULL) {
			__builtin_trap();
		}
		return 0;
	}
	if (snp_report_roundtrips(data, size)) {
		check_roundtrip(data, &r);
	}
	rest = size - SNP_REPORT_LEN;
	why = NULL;
	if (snp_certs_parse(data + SNP_REPORT_LEN, rest, certs, SNP_CERTS_MAX,
			    &n, &why) != SP_OK &&
	    why == NULL) {
		__builtin_trap();
	}
	if (snp_evidence_json(data, SNP_REPORT_LEN, data + SNP_REPORT_LEN, rest,
			      &json, &why) == SP_OK) {
		free(json);
	} else if (why == NULL || json != NULL) {
		__builtin_trap();
	}
	return 0;
}
