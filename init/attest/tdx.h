/*
 * tdx.h: the "tdx" evidence provider's parts that tests reach directly
 * (kbs-protocol.md §4.3; tee-guest-interfaces.md §2).
 */
#ifndef SEALPOD_TDX_H
#define SEALPOD_TDX_H

#include <stddef.h>

#include "err.h"

#define TDX_TSM_PROVIDER   "tdx_guest"
#define TDX_DEVICE	   "/dev/tdx_guest"
#define TDX_CCEL_TABLE	   "/sys/firmware/acpi/tables/CCEL"
#define TDX_CCEL_DATA	   "/sys/firmware/acpi/tables/data/CCEL"
#define TDX_CCEL_TABLE_MAX 4096
#define TDX_EVIDENCE_MAX   (1024 * 1024)

/*
 * The CCEL event log under root as cc_eventlog carries it: the log
 * trimmed at its terminator, then eight 0xFF bytes (what the Trustee
 * attester sends; kbs-protocol.md §4.3). *log is malloc'd for the caller.
 * Returns SP_OK, SP_E_NOTFOUND when the platform has no CCEL table, or
 * SP_E_ATTEST when the table or log is malformed (logged).
 */
SP_MUST_CHECK enum sp_err tdx_ccel_load(const char *root, unsigned char **log,
					size_t *len);

/*
 * The "tdx" evidence {"quote": b64, "cc_eventlog": b64 | null} for a
 * quote and an optional event log (NULL for null). *json is malloc'd for
 * the caller. Returns SP_OK or SP_E_ATTEST.
 */
SP_MUST_CHECK enum sp_err tdx_evidence_json(const unsigned char *quote,
					    size_t qlen,
					    const unsigned char *eventlog,
					    size_t elen, char **json);

#endif
