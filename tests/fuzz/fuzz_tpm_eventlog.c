/*
 * fuzz_tpm_eventlog.c: the TCG event log parser and the replay of every
 * bank it announces, on arbitrary bytes. A log the parser accepts must
 * walk to its end without an error and replay without touching a PCR
 * outside 0-23.
 */
#include <stdint.h>
#include <stdlib.h>

#include "attest/tpm_eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char pcrs[TPM_EVENTLOG_PCRS][TPM_EVENTLOG_DIGEST_MAX];
	struct tpm_eventlog log;
	struct tpm_event ev;
	uint32_t touched;
	size_t off = 0, n = 0, dlen, i;
	int step;

	if (tpm_eventlog_parse(data, size, &log) != SP_OK) {
		return 0;
	}
	step = tpm_eventlog_next(&log, &off, &ev);
	for (; step == 1; step = tpm_eventlog_next(&log, &off, &ev)) {
		if (ev.pcr >= TPM_EVENTLOG_PCRS || ev.ndigests > log.nalgs) {
			abort();
		}
		n++;
	}
	if (step != 0 || n != log.nevents || off != size) {
		abort();
	}
	for (i = 0; i < log.nalgs; i++) {
		if (tpm_eventlog_replay(&log, log.algs[i].id, pcrs, &dlen,
					&touched) == SP_OK &&
		    (dlen != log.algs[i].size ||
		     (touched >> TPM_EVENTLOG_PCRS) != 0)) {
			abort();
		}
	}
	return 0;
}
