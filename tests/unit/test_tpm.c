/*
 * test_tpm.c: the TPM structure checks of init/attest/tpm.c that need
 * no TPM: TPMS_ATTEST of a quote, TPMT_SIGNATURE, TPMT_PUBLIC to SPKI,
 * and the configuration parsers, against the real quotes in
 * testdata/tee/tpm (GCE: three banks, nonce 0x9009; Azure: nonce
 * "challenge"; swtpm: a 32-byte nonce). Each signature is verified with
 * OpenSSL over the AK our converter produced.
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
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/tpm.h"
#include "log.h"
#include "util.h"

#define TD	     SEALPOD_TESTDATA "/tee/tpm/"
#define FILE_MAX     (1024 * 1024)
#define LINE_MAX_LEN 256
#define ALG_SHA1     0x0004
#define ALG_SHA256   0x000B
#define ALG_SHA384   0x000C

static unsigned char *
load(const char *path, size_t *len)
{
	char *buf = NULL;

	assert_int_equal(file_read_all(path, FILE_MAX, &buf, len), SP_OK);
	return (unsigned char *)buf;
}

/* PCR 0-23 of a gce/pcrs-*.txt file, concatenated. */
static size_t
load_pcrs(const char *path, size_t dlen, unsigned char *out)
{
	char line[LINE_MAX_LEN], hex[LINE_MAX_LEN];
	FILE *f = fopen(path, "r");
	unsigned idx;
	size_t n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_int_equal(sscanf(line, "%u %255s", &idx, hex), 2);
		assert_int_equal(idx, n);
		assert_int_equal(
		    hex_decode(hex, 2 * dlen, out + n * dlen, dlen), 0);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 24);
	return n * dlen;
}

static EVP_PKEY *
spki_key(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);

	assert_non_null(k);
	assert_ptr_equal(p, der + len);
	return k;
}

static void
verify(EVP_PKEY *k, const unsigned char *sig, size_t slen,
       const unsigned char *msg, size_t mlen, int want)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k),
			 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig, slen, msg, mlen) == 1,
			 want);
	EVP_MD_CTX_free(ctx);
}

static void
check_gce_bank(EVP_PKEY *ak, const char *bank, uint16_t alg, size_t dlen)
{
	unsigned char pcrs[24 * 48], md[32];
	struct tpm_attest_info info;
	unsigned char *msg, *sig;
	unsigned int n = 0;
	size_t mlen = 0, slen = 0, off = 0, rlen = 0, plen;
	char path[256];

	snprintf(path, sizeof(path), TD "gce/quote-%s.tpms_attest", bank);
	msg = load(path, &mlen);
	snprintf(path, sizeof(path), TD "gce/quote-%s.tpmt_signature", bank);
	sig = load(path, &slen);
	snprintf(path, sizeof(path), TD "gce/pcrs-%s.txt", bank);
	plen = load_pcrs(path, dlen, pcrs);

	assert_int_equal(tpm_attest_parse(msg, mlen, &info), SP_OK);
	assert_int_equal(info.extra_len, 2);
	assert_memory_equal(info.extra, "\x90\x09", 2);
	assert_int_equal(info.pcr_bank, alg);
	assert_int_equal(info.pcr_mask, 0xFFFFFF);
	/* The digest uses the AK's hash (SHA-256) whatever the bank. */
	assert_int_equal(EVP_Digest(pcrs, plen, md, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(info.digest_len, 32);
	assert_memory_equal(info.pcr_digest, md, 32);

	assert_int_equal(tpm_sig_rsassa(sig, slen, &off, &rlen), SP_OK);
	assert_int_equal(off, 6);
	assert_int_equal(rlen, 256);
	verify(ak, sig + off, rlen, msg, mlen, 1);
	msg[mlen - 1] ^= 1;
	verify(ak, sig + off, rlen, msg, mlen, 0);
	free(msg);
	free(sig);
}

static void
test_gce(void **state)
{
	unsigned char spki[TPM_SPKI_MAX];
	unsigned char *pub;
	size_t plen = 0, slen = 0;
	EVP_PKEY *ak;

	(void)state;
	pub = load(TD "gce/ak_pub.tpmt_public", &plen);
	assert_int_equal(tpm_public_spki(pub, plen, spki, sizeof(spki), &slen),
			 SP_OK);
	ak = spki_key(spki, slen);
	assert_int_equal(EVP_PKEY_get_bits(ak), 2048);
	check_gce_bank(ak, "sha1", ALG_SHA1, 20);
	check_gce_bank(ak, "sha256", ALG_SHA256, 32);
	check_gce_bank(ak, "sha384", ALG_SHA384, 48);

	/* Trailing bytes and truncation are refused. */
	assert_int_equal(
	    tpm_public_spki(pub, plen - 1, spki, sizeof(spki), &slen),
	    SP_E_PROTOCOL);
	EVP_PKEY_free(ak);
	free(pub);
}

static EVP_PKEY *
pem_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

static void
test_azure(void **state)
{
	unsigned char md[32];
	struct tpm_attest_info info;
	unsigned char *msg, *sig, *pcrs;
	unsigned int n = 0;
	size_t mlen = 0, slen = 0, plen = 0;
	EVP_PKEY *ak;

	(void)state;
	msg = load(TD "azure/quote.msg", &mlen);
	sig = load(TD "azure/quote.sig.rsassa", &slen);
	pcrs = load(TD "azure/pcrs-sha256-0-23.bin", &plen);
	ak = pem_key(TD "azure/akpub.pem");

	assert_int_equal(tpm_attest_parse(msg, mlen, &info), SP_OK);
	assert_int_equal(info.extra_len, 9);
	assert_memory_equal(info.extra, "challenge", 9);
	assert_int_equal(info.pcr_bank, ALG_SHA256);
	assert_int_equal(info.pcr_mask, 0xFFFFFF);
	assert_int_equal(EVP_Digest(pcrs, plen, md, &n, EVP_sha256(), NULL), 1);
	assert_memory_equal(info.pcr_digest, md, 32);
	verify(ak, sig, slen, msg, mlen, 1);

	EVP_PKEY_free(ak);
	free(msg);
	free(sig);
	free(pcrs);
}

static void
test_swtpm_sample(void **state)
{
	struct tpm_attest_info info;
	unsigned char nonce[32];
	unsigned char *msg, *sig, *hex;
	size_t mlen = 0, slen = 0, hlen = 0, off = 0, rlen = 0;
	EVP_PKEY *ak;

	(void)state;
	msg = load(TD "swtpm-generated/quote.tpms_attest", &mlen);
	sig = load(TD "swtpm-generated/quote.tpmt_signature", &slen);
	hex = load(TD "swtpm-generated/nonce.hex", &hlen);
	assert_int_equal(hex_decode((char *)hex, 64, nonce, 32), 0);
	ak = pem_key(TD "swtpm-generated/ak.pub.pem");

	assert_int_equal(tpm_attest_parse(msg, mlen, &info), SP_OK);
	assert_int_equal(info.extra_len, 32);
	assert_memory_equal(info.extra, nonce, 32);
	assert_int_equal(tpm_sig_rsassa(sig, slen, &off, &rlen), SP_OK);
	verify(ak, sig + off, rlen, msg, mlen, 1);

	/* A signature with trailing bytes is refused. */
	assert_int_equal(tpm_sig_rsassa(sig, slen - 1, &off, &rlen),
			 SP_E_PROTOCOL);
	EVP_PKEY_free(ak);
	free(msg);
	free(sig);
	free(hex);
}

/* Every strict prefix of a quote is refused; so is a wrong magic. */
static void
test_attest_truncation(void **state)
{
	struct tpm_attest_info info;
	unsigned char *msg, *copy;
	size_t mlen = 0, cut;

	(void)state;
	msg = load(TD "gce/quote-sha256.tpms_attest", &mlen);
	for (cut = 0; cut < mlen; cut++) {
		copy = malloc(cut + 1);
		assert_non_null(copy);
		memcpy(copy, msg, cut);
		assert_int_equal(tpm_attest_parse(copy, cut, &info),
				 SP_E_PROTOCOL);
		free(copy);
	}
	msg[0] ^= 1;
	assert_int_equal(tpm_attest_parse(msg, mlen, &info), SP_E_PROTOCOL);
	msg[0] ^= 1;
	msg[5] = 0x17; /* TPM_ST_ATTEST_CERTIFY, not a quote */
	assert_int_equal(tpm_attest_parse(msg, mlen, &info), SP_E_PROTOCOL);
	free(msg);
}

static void
test_config_parsers(void **state)
{
	uint32_t h = 0;

	(void)state;
	assert_int_equal(tpm_parse_handle("0x81000003", &h), 0);
	assert_int_equal(h, 0x81000003);
	assert_int_equal(tpm_parse_handle("2164260865", &h), 0);
	assert_int_equal(h, 0x81000001);
	assert_int_equal(tpm_parse_handle("0x81FFFFFF", &h), 0);
	assert_int_equal(tpm_parse_handle("0x82000000", &h), -1);
	assert_int_equal(tpm_parse_handle("0x01400001", &h), -1);
	assert_int_equal(tpm_parse_handle("0x81000003 ", &h), -1);
	assert_int_equal(tpm_parse_handle("-0x81000003", &h), -1);
	assert_int_equal(tpm_parse_handle("", &h), -1);
	assert_int_equal(tpm_parse_handle(NULL, &h), -1);

	assert_int_equal(tpm_tcti_check("device:/dev/tpmrm0"), 0);
	assert_int_equal(tpm_tcti_check("swtpm:host=127.0.0.1,port=2321"), 0);
	assert_int_equal(tpm_tcti_check("tabrmd"), -1);
	assert_int_equal(tpm_tcti_check("cmd:true"), -1);
	assert_int_equal(tpm_tcti_check("pcap:/tmp/x"), -1);
	assert_non_null(tpm_tcti_problem("swtpm:port=2321", 0));
	assert_null(tpm_tcti_problem("swtpm:port=2321", 1));
	assert_null(tpm_tcti_problem("mssim", 1));
	assert_int_equal(tpm_tcti_is_test("mssim:port=1"), 1);
	assert_int_equal(tpm_tcti_is_test("device:/dev/tpm0"), 0);
	assert_non_null(tpm_tcti_problem("device:/dev/./tpm0", 1));
	assert_non_null(tpm_tcti_problem("device:/dev/", 1));
	assert_int_equal(tpm_tcti_check(""), -1);
	assert_int_equal(tpm_tcti_check(":x"), -1);
	assert_int_equal(tpm_tcti_check("Device:/dev/tpm0"), -1);
	assert_int_equal(tpm_tcti_check("device:/dev/tpm rm0"), -1);
	assert_int_equal(tpm_tcti_check("device:/dev/\x01"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gce),
	    cmocka_unit_test(test_azure),
	    cmocka_unit_test(test_swtpm_sample),
	    cmocka_unit_test(test_attest_truncation),
	    cmocka_unit_test(test_config_parsers),
	};

	log_init("test_tpm", NULL);
	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
