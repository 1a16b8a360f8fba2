/*
 * fuzz_tdx_quote.c: the TDX quote and TDREPORT parsers on arbitrary
 * bytes. Besides memory safety it checks what callers rely on: a parsed
 * quote lies wholly inside the input, and its body inside the quote.
 * Seeds: real quotes from testdata/tee/tdx (Apache-2.0, go-tdx-guest and
 * Trustee), some cut short.
 */
#include <stddef.h>
#include <stdint.h>

#include "attest/tdx_quote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when [p, p + n) lies within [base, base + size). */
static int
inside(const uint8_t *base, size_t size, const unsigned char *p, size_t n)
{
	return p >= base && n <= size && (size_t)(p - base) <= size - n;
}

static void
check_quote(const uint8_t *data, size_t size, const struct tdx_quote *q)
{
	size_t i;

	if (q->quote_len > size ||
	    q->body_offset + q->body_size > q->quote_len ||
	    !inside(data, size, q->body.report_data, TDX_REPORT_DATA_LEN) ||
	    !inside(data, size, q->pck_chain, q->pck_chain_len) ||
	    !inside(data, size, q->auth_data, q->auth_data_len) ||
	    !inside(data, size, q->qe_report, TDX_QE_REPORT_LEN)) {
		__builtin_trap();
	}
	for (i = 0; i < TDX_RTMR_COUNT; i++) {
		if (!inside(data, size, q->body.rtmr[i], TDX_MR_LEN)) {
			__builtin_trap();
		}
	}
	if (q->body.has_v15 &&
	    !inside(data, size, q->body.mr_servicetd, TDX_MR_LEN)) {
		__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdx_quote q;
	struct tdx_report r;
	const char *why = NULL;

	if (tdx_quote_parse(data, size, &q, &why) == SP_OK) {
		check_quote(data, size, &q);
	} else if (why == NULL) {
		__builtin_trap(); /* a refusal always names its rule */
	}
	why = NULL;
	if (tdx_report_parse(data, size, &r, &why) != SP_OK && why == NULL) {
		__builtin_trap();
	}
	return 0;
}
