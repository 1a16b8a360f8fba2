/*
 * ccel.h: the TDX confidential-computing event log (CCEL): the ACPI
 * table that announces it, and the TCG2 crypto-agile log itself
 * (tee-guest-interfaces.md §1.6, §2.6; TCG PC Client Platform Firmware
 * Profile, "crypto agile" log format).
 *
 * The log comes from firmware we do not trust to be well-formed, so the
 * walker checks every length against the bytes present and stops at
 * named ceilings. Replaying the SHA-384 digests of events on MR index
 * 1..4 reproduces RTMR0..3: new = SHA-384(old || digest).
 */
#ifndef SEALPOD_CCEL_H
#define SEALPOD_CCEL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CCEL_TABLE_LEN	    56 /* ACPI header, CC type, LAML, LASA */
#define CCEL_CC_TYPE_TDX    2
#define CCEL_LOG_MAX	    (2 * 1024 * 1024) /* LAML is 64-256 KiB */
#define CCEL_EVENTS_MAX	    65536
#define CCEL_ALGS_MAX	    8 /* digest algorithms a log may declare */
#define CCEL_RTMR_COUNT	    4
#define CCEL_DIGEST_LEN	    48 /* SHA-384 */
#define CCEL_ALG_SHA384	    0x000C
#define CCEL_EV_NO_ACTION   0x00000003
#define CCEL_TERMINATOR_LEN 8

struct ccel_table {
	char oem_id[7];	      /* NUL-terminated, trailing spaces kept */
	char oem_table_id[9]; /* NUL-terminated */
	uint8_t cc_type;      /* 2: TDX */
	uint8_t cc_subtype;
	uint64_t laml; /* log area minimum length */
	uint64_t lasa; /* log area start address */
};

/*
 * Parse the 56-byte ACPI CCEL table (signature, length, checksum).
 * Returns SP_OK, or SP_E_INTEGRITY with *why set.
 */
SP_MUST_CHECK enum sp_err ccel_table_parse(const unsigned char *buf, size_t len,
					   struct ccel_table *out,
					   const char **why);

struct ccel_replay {
	size_t used;   /* bytes of the log before its terminator or end */
	size_t events; /* records after the Spec ID header */
	unsigned char rtmr[CCEL_RTMR_COUNT][CCEL_DIGEST_LEN];
};

/*
 * Walk a crypto-agile event log of len bytes (at most CCEL_LOG_MAX):
 * the legacy-format Spec ID Event03 header, then TCG_PCR_EVENT2 records
 * until an 8-byte all-0xFF or all-zero word (the unused log area) or the
 * end. Fills *out with the length in use, the event count and the
 * replayed RTMRs. Returns SP_OK, or SP_E_INTEGRITY with *why set.
 */
SP_MUST_CHECK enum sp_err ccel_replay(const unsigned char *log, size_t len,
				      struct ccel_replay *out,
				      const char **why);

#endif
