/*
 * test_tpm_eventlog.c: the TCG event log parser and PCR replay
 * (init/attest/tpm_eventlog.c) against the real logs in
 * testdata/tee/tpm: the GCE log replays to the quoted PCR 0-9 of its
 * attestation in every bank; the other logs parse; truncated and
 * corrupted logs are refused; StartupLocality and the legacy SHA-1
 * format work on small logs built here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "attest/tpm_eventlog.h"
#include "log.h"
#include "util.h"

#define TD		SEALPOD_TESTDATA "/tee/tpm/"
#define FILE_MAX	(1024 * 1024)
#define LINE_MAX_LEN	256
#define GCE_PCRS_IN_LOG 0x3FFu /* PCR 0-9, as the testdata README says */

static unsigned char *
load(const char *path, size_t *len)
{
	char *buf = NULL;

	assert_int_equal(file_read_all(path, FILE_MAX, &buf, len), SP_OK);
	return (unsigned char *)buf;
}

/* "index hex" lines of testdata/tee/tpm/gce/pcrs-*.txt. */
static void
load_pcr_text(const char *path, size_t dlen,
	      unsigned char pcrs[][TPM_EVENTLOG_DIGEST_MAX])
{
	char line[LINE_MAX_LEN], hex[LINE_MAX_LEN];
	unsigned idx;
	FILE *f = fopen(path, "r");
	size_t n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_int_equal(sscanf(line, "%u %255s", &idx, hex), 2);
		assert_true(idx < TPM_EVENTLOG_PCRS);
		assert_int_equal(strlen(hex), 2 * dlen);
		assert_int_equal(hex_decode(hex, 2 * dlen, pcrs[idx], dlen), 0);
		n++;
	}
	fclose(f);
	assert_int_equal(n, TPM_EVENTLOG_PCRS);
}

static void
check_gce_bank(const struct tpm_eventlog *log, uint16_t alg, const char *txt,
	       size_t want_len)
{
	unsigned char got[TPM_EVENTLOG_PCRS][TPM_EVENTLOG_DIGEST_MAX];
	unsigned char want[TPM_EVENTLOG_PCRS][TPM_EVENTLOG_DIGEST_MAX];
	uint32_t touched = 0;
	size_t dlen = 0, i;

	load_pcr_text(txt, want_len, want);
	assert_int_equal(tpm_eventlog_replay(log, alg, got, &dlen, &touched),
			 SP_OK);
	assert_int_equal(dlen, want_len);
	assert_int_equal(touched, GCE_PCRS_IN_LOG);
	for (i = 0; i < TPM_EVENTLOG_PCRS; i++) {
		if ((touched & (1u << i)) != 0) {
			assert_memory_equal(got[i], want[i], dlen);
		}
	}
	/* Untouched PCRs keep their reset values: 17-22 all-ones. */
	assert_memory_equal(got[17], want[17], dlen);
	assert_memory_equal(got[23], want[23], dlen);
}

static void
test_gce_replay(void **state)
{
	struct tpm_eventlog log;
	unsigned char *buf;
	size_t len = 0;

	(void)state;
	buf = load(TD "gce/event_log.bin", &len);
	assert_int_equal(tpm_eventlog_parse(buf, len, &log), SP_OK);
	assert_true(log.crypto_agile);
	assert_int_equal(log.nalgs, 3);
	assert_int_equal(log.algs[0].id, TPM_EVENTLOG_ALG_SHA1);
	assert_int_equal(log.algs[1].id, TPM_EVENTLOG_ALG_SHA256);
	assert_int_equal(log.algs[2].id, TPM_EVENTLOG_ALG_SHA384);

	check_gce_bank(&log, TPM_EVENTLOG_ALG_SHA256, TD "gce/pcrs-sha256.txt",
		       32);
	check_gce_bank(&log, TPM_EVENTLOG_ALG_SHA1, TD "gce/pcrs-sha1.txt", 20);
	check_gce_bank(&log, TPM_EVENTLOG_ALG_SHA384, TD "gce/pcrs-sha384.txt",
		       48);
	free(buf);
}

/* A bank the log does not carry is SP_E_NOTFOUND. */
static void
test_missing_bank(void **state)
{
	unsigned char pcrs[TPM_EVENTLOG_PCRS][TPM_EVENTLOG_DIGEST_MAX];
	struct tpm_eventlog log;
	unsigned char *buf;
	uint32_t touched;
	size_t len = 0, dlen;

	(void)state;
	buf = load(TD "gce/event_log.bin", &len);
	assert_int_equal(tpm_eventlog_parse(buf, len, &log), SP_OK);
	assert_int_equal(tpm_eventlog_replay(&log, TPM_EVENTLOG_ALG_SHA512,
					     pcrs, &dlen, &touched),
			 SP_E_NOTFOUND);
	free(buf);
}

/* The other logs parse, and every bank replays to the same PCR set. */
static void
check_other_log(const char *path, size_t want_events)
{
	unsigned char pcrs[TPM_EVENTLOG_PCRS][TPM_EVENTLOG_DIGEST_MAX];
	uint32_t touched, first = 0;
	struct tpm_eventlog log;
	unsigned char *buf;
	size_t len = 0, dlen, i;

	buf = load(path, &len);
	assert_int_equal(tpm_eventlog_parse(buf, len, &log), SP_OK);
	assert_true(log.crypto_agile);
	if (want_events > 0) {
		/* nevents counts the Spec ID header record too. */
		assert_int_equal(log.nevents - 1, want_events);
	}
	for (i = 0; i < log.nalgs; i++) {
		assert_int_equal(tpm_eventlog_replay(&log, log.algs[i].id, pcrs,
						     &dlen, &touched),
				 SP_OK);
		assert_int_equal(dlen, log.algs[i].size);
		assert_true(touched != 0);
		if (i == 0) {
			first = touched;
		}
		assert_int_equal(touched, first);
	}
	free(buf);
}

static void
test_other_logs(void **state)
{
	(void)state;
	/* 116 events: testdata/tee/README.md. */
	check_other_log(TD "eventlogs/ubuntu-2404-amd-sevsnp.bin", 116);
	check_other_log(TD "eventlogs/cos-101-amd-sev.bin", 0);
	check_other_log(TD "eventlogs/rhel8-uefi.bin", 0);
}

/*
 * Every prefix either fails or ends exactly on a record boundary (a
 * shorter log is still a log); never does a record reach past the end.
 */
static void
test_truncation(void **state)
{
	struct tpm_eventlog log, full;
	struct tpm_event ev;
	unsigned char *buf, *copy;
	size_t len = 0, cut, off = 0, bounds = 0;
	int step;

	(void)state;
	buf = load(TD "gce/event_log.bin", &len);
	assert_int_equal(tpm_eventlog_parse(buf, len, &full), SP_OK);
	for (cut = 0; cut < len; cut++) {
		/* A fresh heap copy of exactly cut bytes: ASan sees over-reads.
		 */
		copy = malloc(cut + 1);
		assert_non_null(copy);
		memcpy(copy, buf, cut);
		if (tpm_eventlog_parse(copy, cut, &log) == SP_OK) {
			bounds++;
			assert_true(log.nevents < full.nevents);
		}
		free(copy);
	}
	/* One accepted prefix per record after the header. */
	step = tpm_eventlog_next(&full, &off, &ev);
	while (step == 1) {
		step = tpm_eventlog_next(&full, &off, &ev);
	}
	assert_int_equal(step, 0);
	assert_int_equal(bounds, full.nevents - 1);
	free(buf);
}

/* Corrupting a record's digest count or size is refused. */
static void
test_corrupt(void **state)
{
	struct tpm_eventlog log;
	unsigned char *buf;
	size_t len = 0, header;
	uint32_t size;

	(void)state;
	buf = load(TD "gce/event_log.bin", &len);
	memcpy(&size, buf + 28, 4); /* the header's event size (LE host) */
	header = 32 + size;

	buf[header + 8] = 2; /* digest count 3 -> 2 */
	assert_int_equal(tpm_eventlog_parse(buf, len, &log), SP_E_PROTOCOL);
	buf[header + 8] = 3;
	buf[header + 4 + 4 + 4] = 0x0d; /* SHA-1 -> SHA-512, not announced */
	assert_int_equal(tpm_eventlog_parse(buf, len, &log), SP_E_PROTOCOL);
	buf[header + 4 + 4 + 4] = 0x04;
	buf[header] = 24; /* PCR 24 does not exist */
	assert_int_equal(tpm_eventlog_parse(buf, len, &log), SP_E_PROTOCOL);
	buf[header] = 0;
	assert_int_equal(tpm_eventlog_parse(buf, len, &log), SP_OK);
	assert_int_equal(tpm_eventlog_parse(NULL, 0, &log), SP_E_PROTOCOL);
	free(buf);
}

/* A little-endian writer for the synthetic logs. */
struct w {
	unsigned char b[1024];
	size_t n;
};

static void
put(struct w *w, const void *p, size_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
put32(struct w *w, uint32_t v)
{
	unsigned char b[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff,
			      v >> 24};

	put(w, b, 4);
}

static void
put16(struct w *w, uint16_t v)
{
	unsigned char b[2] = {v & 0xff, v >> 8};

	put(w, b, 2);
}

/* Agile log, SHA-256 only: header, StartupLocality 3, one PCR0 event. */
static void
test_startup_locality(void **state)
{
	static const unsigned char zero20[20];
	unsigned char pcrs[TPM_EVENTLOG_PCRS][TPM_EVENTLOG_DIGEST_MAX];
	unsigned char digest[32], in[64], want[32];
	struct tpm_eventlog log;
	unsigned int n = 0;
	uint32_t touched = 0;
	size_t dlen = 0;
	struct w w = {.n = 0};

	(void)state;
	put32(&w, 0);
	put32(&w, TPM_EVENTLOG_EV_NO_ACTION);
	put(&w, zero20, 20);
	put32(&w, 16 + 4 + 4 + 4 + 4 + 1);
	put(&w, "Spec ID Event03", 16);
	put32(&w, 0);			/* platform class */
	put(&w, "\x00\x02\x00\x02", 4); /* minor, major, errata, uintn */
	put32(&w, 1);
	put16(&w, TPM_EVENTLOG_ALG_SHA256);
	put16(&w, 32);
	put(&w, "", 1); /* no vendor info */

	put32(&w, 0);
	put32(&w, TPM_EVENTLOG_EV_NO_ACTION);
	put32(&w, 1);
	put16(&w, TPM_EVENTLOG_ALG_SHA256);
	memset(digest, 0, sizeof(digest));
	put(&w, digest, 32);
	put32(&w, 17);
	put(&w, "StartupLocality\0\x03", 17);

	put32(&w, 0);
	put32(&w, 0x80000008); /* EV_S_CRTM_VERSION */
	put32(&w, 1);
	put16(&w, TPM_EVENTLOG_ALG_SHA256);
	memset(digest, 0xab, sizeof(digest));
	put(&w, digest, 32);
	put32(&w, 0);

	assert_int_equal(tpm_eventlog_parse(w.b, w.n, &log), SP_OK);
	assert_int_equal(log.nevents, 3);
	assert_int_equal(tpm_eventlog_replay(&log, TPM_EVENTLOG_ALG_SHA256,
					     pcrs, &dlen, &touched),
			 SP_OK);
	assert_int_equal(touched, 1);
	memset(in, 0, sizeof(in));
	in[31] = 3;
	memcpy(in + 32, digest, 32);
	assert_int_equal(EVP_Digest(in, 64, want, &n, EVP_sha256(), NULL), 1);
	assert_memory_equal(pcrs[0], want, 32);
}

/* A legacy log: SHA-1 records only, no Spec ID header. */
static void
test_legacy(void **state)
{
	unsigned char pcrs[TPM_EVENTLOG_PCRS][TPM_EVENTLOG_DIGEST_MAX];
	unsigned char digest[20], in[40], want[20];
	struct tpm_eventlog log;
	unsigned int n = 0;
	uint32_t touched = 0;
	size_t dlen = 0;
	struct w w = {.n = 0};

	(void)state;
	memset(digest, 0x11, sizeof(digest));
	put32(&w, 4);
	put32(&w, 0x0000000d); /* EV_IPL */
	put(&w, digest, 20);
	put32(&w, 3);
	put(&w, "abc", 3);

	assert_int_equal(tpm_eventlog_parse(w.b, w.n, &log), SP_OK);
	assert_false(log.crypto_agile);
	assert_int_equal(tpm_eventlog_replay(&log, TPM_EVENTLOG_ALG_SHA1, pcrs,
					     &dlen, &touched),
			 SP_OK);
	assert_int_equal(touched, 1u << 4);
	memset(in, 0, 20);
	memcpy(in + 20, digest, 20);
	assert_int_equal(EVP_Digest(in, 40, want, &n, EVP_sha1(), NULL), 1);
	assert_memory_equal(pcrs[4], want, 20);
	assert_int_equal(tpm_eventlog_replay(&log, TPM_EVENTLOG_ALG_SHA256,
					     pcrs, &dlen, &touched),
			 SP_E_NOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gce_replay),
	    cmocka_unit_test(test_missing_bank),
	    cmocka_unit_test(test_other_logs),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_corrupt),
	    cmocka_unit_test(test_startup_locality),
	    cmocka_unit_test(test_legacy),
	};

	log_init("test_tpm_eventlog", NULL);
	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
