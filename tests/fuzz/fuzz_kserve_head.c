/*
 * fuzz_kserve_head.c: the JWE compact prefix parser of import-kserve
 * (kserve_jwe_head_parse): protected header, wrapped key, IV.
 */
#include <stddef.h>
#include <stdint.h>

#include "kserve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kserve_jwe_head h;
	const char *why = NULL;

	if (kserve_jwe_head_parse((const char *)data, size, &h, &why) ==
	    SP_OK) {
		if (why != NULL || h.ct_off > size ||
		    h.ct_off <= h.header_len ||
		    h.header_len > KSERVE_HEADER_MAX) {
			__builtin_trap();
		}
	} else if (why == NULL) {
		__builtin_trap();
	}
	return 0;
}
