/*
 * tpm_eventlog.h: the TCG PC Client firmware event log
 * (binary_bios_measurements) and PCR replay.
 *
 * Two formats are read: the crypto-agile log (first record a SHA-1
 * shaped TCG_PCClientPCREvent carrying "Spec ID Event03" and the list of
 * digest algorithms, then TCG_PCR_EVENT2 records with one digest per
 * algorithm) and the legacy SHA-1 log (every record SHA-1 shaped). The
 * parser only points into the caller's buffer: nothing is allocated, so
 * the only ceiling is the size of the buffer itself.
 */
#ifndef SEALPOD_TPM_EVENTLOG_H
#define SEALPOD_TPM_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Largest log we read from securityfs (real ones are 20-60 KiB). */
#define TPM_EVENTLOG_MAX (4 * 1024 * 1024)
/* Digest algorithms one Spec ID event may list. */
#define TPM_EVENTLOG_ALGS_MAX 8
/* Largest digest we hold (SHA-512). */
#define TPM_EVENTLOG_DIGEST_MAX 64
/* PCRs a PC Client TPM has. */
#define TPM_EVENTLOG_PCRS 24

/* TCG algorithm identifiers (TPM 2.0 Part 2, TPM_ALG_ID). */
#define TPM_EVENTLOG_ALG_SHA1	0x0004
#define TPM_EVENTLOG_ALG_SHA256 0x000B
#define TPM_EVENTLOG_ALG_SHA384 0x000C
#define TPM_EVENTLOG_ALG_SHA512 0x000D

/* Event types the replay treats specially. */
#define TPM_EVENTLOG_EV_NO_ACTION 0x00000003

struct tpm_eventlog_alg {
	uint16_t id;
	uint16_t size;
};

struct tpm_eventlog_digest {
	uint16_t alg;
	const unsigned char *digest; /* points into the log */
	size_t len;
};

struct tpm_event {
	uint32_t pcr;
	uint32_t type;
	size_t ndigests;
	struct tpm_eventlog_digest digests[TPM_EVENTLOG_ALGS_MAX];
	const unsigned char *data; /* points into the log */
	size_t data_len;
};

struct tpm_eventlog {
	const unsigned char *buf; /* borrowed from the caller */
	size_t len;
	int crypto_agile; /* 0: legacy SHA-1 log */
	size_t nalgs;
	struct tpm_eventlog_alg algs[TPM_EVENTLOG_ALGS_MAX];
	size_t nevents; /* records, the Spec ID header included */
};

/*
 * Check the whole log in buf (len bytes, borrowed; it must outlive log):
 * the header, and every record fully inside len with a PCR index below
 * 24 and one digest of the announced size per algorithm. Returns SP_OK,
 * or SP_E_PROTOCOL when any record breaks the format.
 */
SP_MUST_CHECK enum sp_err tpm_eventlog_parse(const unsigned char *buf,
					     size_t len,
					     struct tpm_eventlog *log);

/*
 * Walk a parsed log. *off starts at 0. Returns 1 with ev filled and *off
 * advanced, 0 after the last record, -1 on a malformed record (never for
 * a log tpm_eventlog_parse accepted).
 */
int tpm_eventlog_next(const struct tpm_eventlog *log, size_t *off,
		      struct tpm_event *ev);

/*
 * Replay the bank alg (TPM_EVENTLOG_ALG_*) into pcrs: PCR 0-16 and 23
 * start at zero, 17-22 at all-ones, PCR0 at the StartupLocality value
 * when the log carries one; EV_NO_ACTION records extend nothing. *dlen
 * receives the digest size and *touched a bit per PCR some record
 * extended. Returns SP_OK, SP_E_NOTFOUND when the log has no such bank,
 * SP_E_PROTOCOL when a record lacks it, SP_E_INTERNAL on a hash failure.
 */
SP_MUST_CHECK enum sp_err
tpm_eventlog_replay(const struct tpm_eventlog *log, uint16_t alg,
		    unsigned char pcrs[][TPM_EVENTLOG_DIGEST_MAX], size_t *dlen,
		    uint32_t *touched);

#endif
