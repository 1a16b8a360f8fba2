/*
 * err.c: stable names of the error categories.
 */
#include "err.h"

const char *
sp_err_name(enum sp_err e)
{
	static const char *const names[] = {
	    [SP_OK] = "ok",
	    [SP_E_USAGE] = "usage",
	    [SP_E_ATTEST] = "attestation",
	    [SP_E_POLICY] = "policy_denied",
	    [SP_E_NOTFOUND] = "not_found",
	    [SP_E_FETCH] = "fetch",
	    [SP_E_INTEGRITY] = "integrity",
	    [SP_E_TARGET] = "target",
	    [SP_E_PROTOCOL] = "protocol",
	    [SP_E_INTERNAL] = "internal",
	};
	const char *name = "internal";

	/* Out-of-range values come from our own bugs; name them internal. */
	if ((unsigned)e < sizeof(names) / sizeof(names[0])) {
		name = names[e];
	}
	return name;
}
