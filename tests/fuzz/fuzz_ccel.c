/*
 * fuzz_ccel.c: the CCEL event-log walker and ACPI table parser on
 * arbitrary bytes: memory safety, a refusal always named, and the length
 * in use never past the input. Seeds: the GCE TDX CCEL log and table
 * from testdata/tee/tdx/ccel (Apache-2.0, go-tdx-guest), whole and cut.
 */
#include <stddef.h>
#include <stdint.h>

#include "attest/ccel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ccel_replay r;
	struct ccel_table t;
	const char *why = NULL;

	if (ccel_replay(data, size, &r, &why) == SP_OK) {
		if (r.used > size || r.events > CCEL_EVENTS_MAX) {
			__builtin_trap();
		}
	} else if (why == NULL) {
		__builtin_trap();
	}
	why = NULL;
	if (ccel_table_parse(data, size, &t, &why) != SP_OK && why == NULL) {
		__builtin_trap();
	}
	return 0;
}
