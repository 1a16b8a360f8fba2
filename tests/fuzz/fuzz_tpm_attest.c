/*
 * fuzz_tpm_attest.c: the TPM structures we unmarshal (TPMS_ATTEST of a
 * quote, TPMT_SIGNATURE, TPMT_PUBLIC to SPKI) on arbitrary bytes, the
 * same input tried as each.
 */
#include <stdint.h>
#include <stdlib.h>

#include "attest/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char spki[TPM_SPKI_MAX];
	struct tpm_attest_info info;
	size_t off, n, len;

	if (tpm_attest_parse(data, size, &info) == SP_OK &&
	    (info.extra_len > TPM_QDATA_MAX ||
	     info.digest_len > sizeof(info.pcr_digest))) {
		abort();
	}
	if (tpm_sig_rsassa(data, size, &off, &n) == SP_OK &&
	    (off + n != size || n == 0)) {
		abort();
	}
	if (tpm_public_spki(data, size, spki, sizeof(spki), &len) == SP_OK &&
	    (len == 0 || len > sizeof(spki))) {
		abort();
	}
	return 0;
}
