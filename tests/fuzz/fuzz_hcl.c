/*
 * fuzz_hcl.c: the Azure HCL report parser, the var-data JSON parser and
 * the field readers on arbitrary bytes. Every view the parser returns
 * must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "attest/hcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const uint8_t *data, size_t size, const unsigned char *p, size_t n)
{
	if (p < data || n > size || p + n > data + size) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char digest[HCL_DIGEST_MAX];
	struct hcl_var_data var;
	struct hcl_report r;
	struct hcl_snp snp;
	size_t dlen;

	if (hcl_parse(data, size, &r) != SP_OK) {
		return 0;
	}
	inside(data, size, r.hw_report, r.hw_len);
	inside(data, size, r.report_data, HCL_REPORTDATA_LEN);
	inside(data, size, r.var_data, r.var_len);
	if (hcl_var_data_digest(&r, digest, sizeof(digest), &dlen) == SP_OK &&
	    dlen > sizeof(digest)) {
		abort();
	}
	(void)hcl_binding_ok(&r);
	if (hcl_var_data_parse(&r, &var) == SP_OK &&
	    (var.nkids > HCL_KEYS_MAX ||
	     var.user_data_len > HCL_USER_DATA_MAX)) {
		abort();
	}
	hcl_var_data_free(&var);
	if (hcl_snp_fields(&r, &snp) == SP_OK) {
		inside(data, size, snp.chip_id, 64);
	}
	(void)hcl_td_mrtd(&r);
	return 0;
}
