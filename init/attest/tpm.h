/*
 * tpm.h: a TPM 2.0 session through tpm2-tss (ESAPI) for the "tpm" and
 * Azure vTPM evidence providers (tee-guest-interfaces.md §4).
 *
 * The TPM is reached through a TCTI named by the configuration
 * ("device:/dev/tpmrm0" unless tpm.tcti says otherwise); quotes are
 * signed by a restricted RSASSA/SHA-256 attestation key, either a
 * persistent one (tpm.ak_handle, 0x81000003 on Azure) or a primary key
 * derived from the endorsement seed with a fixed template, which comes
 * out the same on every boot and so can be registered with the verifier
 * once (docs/platform-tpm.md shows how to compute it with tpm2-tools).
 */
#ifndef SEALPOD_TPM_H
#define SEALPOD_TPM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TPM_TCTI_DEFAULT "device:/dev/tpmrm0"
#define TPM_TCTI_MAX	 256
#define TPM_PCRS	 24
#define TPM_PCR_LEN	 32   /* the SHA-256 bank */
#define TPM_QDATA_MAX	 64   /* TPM2B_DATA: the largest digest */
#define TPM_ATTEST_MAX	 1024 /* a marshalled quote TPMS_ATTEST */
#define TPM_SIG_MAX	 1024 /* a marshalled RSA-4096 TPMT_SIGNATURE */
#define TPM_SPKI_MAX	 1024 /* DER SubjectPublicKeyInfo of the AK */
#define TPM_NV_MAX	 8192 /* largest NV index we read */

/* Persistent object handles (TPM 2.0 Part 2, 7.5). */
#define TPM_PERSISTENT_FIRST 0x81000000u
#define TPM_PERSISTENT_LAST  0x81FFFFFFu
/* tpm.ak_handle unset: derive the AK from the endorsement seed. */
#define TPM_AK_CREATE 0u

/* Azure vTPM (tee-guest-interfaces.md §4.3). */
#define TPM_AZ_AK_HANDLE    0x81000003u
#define TPM_AZ_NV_REPORT    0x01400001u
#define TPM_AZ_NV_USER_DATA 0x01400002u

/*
 * Set the process-wide TCTI (NULL: TPM_TCTI_DEFAULT under the provider's
 * root) and attestation key handle (TPM_AK_CREATE, or a persistent
 * handle) that the providers use. Call before collecting evidence; the
 * string is copied; one failing tpm_tcti_check() counts as NULL (the
 * configuration has refused it already). Not thread-safe.
 */
void tpm_set_options(const char *tcti, uint32_t ak_handle);

/*
 * How many bytes of qualifying data a "tpm" quote carries: the runtime
 * data digest zero-padded or cut to TPM_QUALIFYING_LONG (64, as current
 * Trustee verifiers compare it; the default) or TPM_QUALIFYING_SHORT
 * (32, as our protocol reference reads older ones). Any other n leaves
 * the setting unchanged. Config `tpm.qualifying_bytes`.
 */
#define TPM_QUALIFYING_SHORT 32
#define TPM_QUALIFYING_LONG  64
void tpm_set_qualifying_len(size_t n);

/* The AK handle set by tpm_set_options (TPM_AK_CREATE by default). */
uint32_t tpm_ak_handle(void);

/*
 * Parse a persistent handle, "0x81000003" or decimal, into *out. Returns
 * 0, or -1 when s is malformed or outside 0x81000000-0x81FFFFFF.
 */
int tpm_parse_handle(const char *s, uint32_t *out);

/*
 * Check a TCTI configuration "module:conf" against the modules sealpod
 * loads (a TCTI is code tpm2-tss loads into this process; some run
 * commands or write files): "device" with conf a plain path under /dev/
 * always; "swtpm" and "mssim" (a TPM simulator over TCP, conf printable
 * without blanks) only when allow_test is non-zero; anything else never.
 * At most TPM_TCTI_MAX - 1 bytes. Returns NULL when s is accepted, else
 * a fixed sentence naming the rule it breaks (for config.invalid).
 */
const char *tpm_tcti_problem(const char *s, int allow_test);

/*
 * tpm_tcti_problem(s, allow_test) with allow_test set as this build
 * accepts test hooks (SEALPOD_TEST_HOOKS). Returns 0 or -1.
 */
int tpm_tcti_check(const char *s);

/* 1 when s names a test-only TCTI module (swtpm, mssim), else 0. */
int tpm_tcti_is_test(const char *s);

struct tpm;

/*
 * Open the configured TCTI and an ESAPI context. With the default TCTI
 * the device is root + "/dev/tpmrm0" ("" for the real root). Returns
 * SP_OK, SP_E_NOTFOUND when no TPM answers there, or SP_E_ATTEST. Close
 * with tpm_close().
 */
SP_MUST_CHECK enum sp_err tpm_open(const char *root, struct tpm **out);
/* tpm_open without logging a failure: for platform detection. */
SP_MUST_CHECK enum sp_err tpm_probe(const char *root, struct tpm **out);
void tpm_close(struct tpm *t);

/* A quote over SHA-256 PCR 0-23 and what a verifier needs beside it. */
struct tpm_quote {
	unsigned char attest[TPM_ATTEST_MAX]; /* marshalled TPMS_ATTEST */
	size_t attest_len;
	unsigned char sig[TPM_SIG_MAX]; /* marshalled TPMT_SIGNATURE */
	size_t sig_len;
	size_t rsa_sig_off; /* the raw RSASSA signature inside sig */
	size_t rsa_sig_len;
	unsigned char pcrs[TPM_PCRS][TPM_PCR_LEN]; /* PCR0 first */
	unsigned char spki[TPM_SPKI_MAX];	   /* the AK, DER SPKI */
	size_t spki_len;
};

/*
 * Quote SHA-256 PCR 0-23 with qualifying data qdata (1..TPM_QDATA_MAX
 * bytes) using the AK at ak_handle (or TPM_AK_CREATE), read the PCRs in
 * batches and check that they hash to the quoted digest (the quote is
 * retried a few times when a PCR moves in between). The quote is also
 * checked to carry qdata and the selection we asked for. Returns SP_OK
 * or SP_E_ATTEST (logged).
 */
SP_MUST_CHECK enum sp_err tpm_quote(struct tpm *t, uint32_t ak_handle,
				    const unsigned char *qdata, size_t qlen,
				    struct tpm_quote *out);

/* NV indexes (tpm_nv.c). */

/*
 * Read the whole NV index (at most max bytes, max <= TPM_NV_MAX) into a
 * new buffer. Returns SP_OK, SP_E_NOTFOUND when the index does not exist
 * or was never written, or SP_E_ATTEST. *out is the caller's to free().
 */
SP_MUST_CHECK enum sp_err tpm_nv_read(struct tpm *t, uint32_t index, size_t max,
				      unsigned char **out, size_t *len);

/*
 * Write len bytes (1..1024) at offset 0 of an owner-authorised NV index,
 * defining it with that size first when it is missing and redefining it
 * when its size differs. Returns SP_OK or SP_E_ATTEST.
 */
SP_MUST_CHECK enum sp_err tpm_nv_write(struct tpm *t, uint32_t index,
				       const unsigned char *buf, size_t len);

/* 1 when the NV index exists, else 0. */
int tpm_nv_exists(struct tpm *t, uint32_t index);

/* A quote's TPMS_ATTEST, as far as we check it. */
struct tpm_attest_info {
	unsigned char extra[TPM_QDATA_MAX]; /* extraData (our nonce) */
	size_t extra_len;
	uint16_t pcr_bank; /* TPM_ALG_ID of the one selection */
	uint32_t pcr_mask; /* bit i: PCR i selected */
	unsigned char pcr_digest[64];
	size_t digest_len;
};

/*
 * Unmarshal len bytes of a TPMS_ATTEST and check it is a quote: magic
 * TPM_GENERATED_VALUE, type ATTEST_QUOTE, exactly one PCR selection, no
 * trailing bytes. Returns SP_OK or SP_E_PROTOCOL.
 */
SP_MUST_CHECK enum sp_err tpm_attest_parse(const unsigned char *buf, size_t len,
					   struct tpm_attest_info *out);

/*
 * Find the raw RSASSA signature inside a marshalled TPMT_SIGNATURE: its
 * offset and length. Returns SP_OK, or SP_E_PROTOCOL for anything but
 * RSASSA with SHA-256 or trailing bytes.
 */
SP_MUST_CHECK enum sp_err tpm_sig_rsassa(const unsigned char *sig, size_t len,
					 size_t *off, size_t *n);

/*
 * DER SubjectPublicKeyInfo of an RSA key given as a marshalled
 * TPMT_PUBLIC (the form tpm2-tools and go-tpm-tools store). Returns
 * SP_OK, SP_E_PROTOCOL for a malformed or non-RSA key, or
 * SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err tpm_public_spki(const unsigned char *pub, size_t len,
					  unsigned char *out, size_t cap,
					  size_t *outlen);

/*
 * Diagnostics only: replay the SHA-256 bank of the firmware event log
 * under root and log which quoted PCRs it reproduces. The Trustee
 * verifiers take no event log from a TPM, so nothing is sent and nothing
 * fails here.
 */
void tpm_check_eventlog(const char *root,
			const unsigned char pcrs[TPM_PCRS][TPM_PCR_LEN]);

/* Hex of the 24 PCRs as a JSON array, appended to sb (json.h). */
struct strbuf;
void tpm_append_pcrs_json(struct strbuf *sb, const struct tpm_quote *q);

#endif
