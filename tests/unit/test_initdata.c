/*
 * test_initdata.c: the init-data document and its config register
 * (initdata.c; kbs-protocol.md §2.2): the TOML's algorithm key, the
 * digest, the size ceiling, and the register checks on evidence built
 * from the real vectors: a TDX quote with MRCONFIGID edited in memory
 * (its signature no longer verifies, which this check does not need),
 * an SNP report's HOST_DATA, and PCR8 of a TPM quote.
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

#include "b64.h"
#include "fake_configfs.h"
#include "initdata.h"
#include "json.h"
#include "attest/snp_report.h"
#include "util.h"

#define TEST_TDX_QUOTE	"tdx/quote_v4_spr_e4.dat"
#define TEST_SNP_REPORT "snp/trustee_vlek_report.bin"
#define TEST_TDX_BODY	0x30 /* v4 */
#define TEST_MRCONFIGID (TEST_TDX_BODY + 0xB8)
#define TEST_VECTOR_MAX (64 * 1024)

static const char toml384[] = "version = \"0.1.0\"\n"
			      "algorithm = \"sha384\"\n"
			      "\n"
			      "[data]\n"
			      "\"aa.toml\" = '''\n"
			      "algorithm = \"sha512\"\n"
			      "'''\n";

static unsigned char *
vector(const char *rel, size_t *len)
{
	char path[1024];
	char *buf = NULL;

	snprintf(path, sizeof(path), "%s/tee/%s", SEALPOD_TESTDATA, rel);
	assert_int_equal(file_read_all(path, TEST_VECTOR_MAX, &buf, len),
			 SP_OK);
	return (unsigned char *)buf;
}

static void
parse_ok(const char *body, const char *alg, size_t dlen, struct initdata *d)
{
	unsigned char want[64];
	const char *why = NULL;
	unsigned int n = 0;

	assert_int_equal(initdata_parse(body, strlen(body), d, &why), SP_OK);
	assert_null(why);
	assert_string_equal(d->alg, alg);
	assert_int_equal(d->dlen, dlen);
	EVP_Digest(body, strlen(body), want, &n, EVP_get_digestbyname(alg),
		   NULL);
	assert_int_equal(n, dlen);
	assert_memory_equal(d->digest, want, dlen);
	assert_string_equal(d->body, body);
}

/* The top-level key counts; the same words inside [data] do not. */
static void
test_parse(void **state)
{
	struct initdata d;
	const char *why;

	(void)state;
	parse_ok(toml384, "sha384", 48, &d);
	initdata_free(&d);
	parse_ok("algorithm='sha256'\n", "sha256", 32, &d);
	initdata_free(&d);
	parse_ok("  algorithm = \"sha512\" # comment\n[x]\n", "sha512", 64, &d);
	initdata_free(&d);

	assert_int_equal(
	    initdata_parse("[data]\nalgorithm = \"sha256\"\n", 28, &d, &why),
	    SP_E_USAGE);
	assert_string_equal(why, "init_data_algorithm_missing");
	assert_int_equal(initdata_parse("algorithm = \"md5\"\n", 18, &d, &why),
			 SP_E_USAGE);
	assert_string_equal(why, "init_data_algorithm_unsupported");
	assert_int_equal(initdata_parse("algorithm = sha256\n", 19, &d, &why),
			 SP_E_USAGE);
	assert_string_equal(why, "init_data_algorithm_invalid");
	assert_int_equal(
	    initdata_parse("algorithms = \"sha256\"\n", 22, &d, &why),
	    SP_E_USAGE);
	assert_string_equal(why, "init_data_algorithm_missing");
	assert_int_equal(
	    initdata_parse("algorithm = \"sha256\"\n\xff", 22, &d, &why),
	    SP_E_USAGE);
	assert_string_equal(why, "init_data_not_utf8");
	assert_null(d.body);
}

static void
test_ceiling(void **state)
{
	char *big = malloc(INITDATA_MAX + 2);
	struct initdata d;
	const char *why;
	size_t n = strlen("algorithm = \"sha256\"\n");

	(void)state;
	assert_non_null(big);
	memset(big, '#', INITDATA_MAX + 1);
	memcpy(big, "algorithm = \"sha256\"\n", n);
	assert_int_equal(initdata_parse(big, INITDATA_MAX, &d, &why), SP_OK);
	initdata_free(&d);
	assert_int_equal(initdata_parse(big, INITDATA_MAX + 1, &d, &why),
			 SP_E_USAGE);
	assert_string_equal(why, "init_data_too_large");
	free(big);
}

/* {"quote": base64(quote with MRCONFIGID = reg)} */
static char *
tdx_evidence(const unsigned char *reg)
{
	unsigned char *q;
	size_t len = 0;
	char *b64, *json;
	struct strbuf sb;

	q = vector(TEST_TDX_QUOTE, &len);
	memcpy(q + TEST_MRCONFIGID, reg, 48);
	b64 = b64_encode_alloc(q, len, B64_STD);
	assert_non_null(b64);
	strbuf_init(&sb, 1024 * 1024);
	strbuf_appends(&sb, "{\"quote\":");
	strbuf_append_json_str(&sb, b64);
	strbuf_appends(&sb, ",\"cc_eventlog\":null}");
	assert_true(strbuf_ok(&sb));
	json = sb.buf;
	free(b64);
	free(q);
	return json;
}

static void
test_tdx_mrconfigid(void **state)
{
	unsigned char reg[48];
	struct initdata d;
	const char *why;
	char *ev;

	(void)state;
	/* SHA-384: the register is the digest. */
	assert_int_equal(initdata_parse(toml384, strlen(toml384), &d, &why),
			 SP_OK);
	memcpy(reg, d.digest, 48);
	ev = tdx_evidence(reg);
	assert_int_equal(initdata_check(&d, "tdx", ev), SP_OK);
	free(ev);

	fake_log_clear();
	reg[47] ^= 1;
	ev = tdx_evidence(reg);
	assert_int_equal(initdata_check(&d, "tdx", ev), SP_E_ATTEST);
	assert_true(fake_log_has("\"reason\":\"init_data_mismatch\""));
	assert_true(fake_log_has("\"register\":\"mrconfigid\""));
	free(ev);
	initdata_free(&d);

	/* SHA-256: zero-padded to 48; the unmodified vector does not match. */
	assert_int_equal(
	    initdata_parse("algorithm = \"sha256\"\n", 21, &d, &why), SP_OK);
	memset(reg, 0, sizeof(reg));
	memcpy(reg, d.digest, 32);
	ev = tdx_evidence(reg);
	assert_int_equal(initdata_check(&d, "tdx", ev), SP_OK);
	free(ev);
	assert_int_equal(initdata_check(&d, "tdx", "{\"quote\":\"AAAA\"}"),
			 SP_E_ATTEST);
	assert_int_equal(initdata_check(&d, "tdx", "not json"), SP_E_ATTEST);
	initdata_free(&d);
}

/* The real SNP report re-encoded by our own codec, HOST_DATA edited. */
static char *
snp_evidence(const unsigned char *host_data)
{
	unsigned char *r;
	size_t len = 0;
	const char *why = NULL;
	char *json = NULL;

	r = vector(TEST_SNP_REPORT, &len);
	memcpy(r + 0xC0, host_data, 32);
	assert_int_equal(snp_evidence_json(r, len, NULL, 0, &json, &why),
			 SP_OK);
	free(r);
	return json;
}

static void
test_snp_host_data(void **state)
{
	unsigned char hd[32];
	struct initdata d;
	const char *why;
	char *ev;

	(void)state;
	/* SHA-384 cut to 32 bytes. */
	assert_int_equal(initdata_parse(toml384, strlen(toml384), &d, &why),
			 SP_OK);
	memcpy(hd, d.digest, 32);
	ev = snp_evidence(hd);
	assert_int_equal(initdata_check(&d, "snp", ev), SP_OK);
	free(ev);
	hd[0] ^= 0x80;
	ev = snp_evidence(hd);
	assert_int_equal(initdata_check(&d, "snp", ev), SP_E_ATTEST);
	free(ev);
	initdata_free(&d);
}

static char *
tpm_evidence(const unsigned char pcr8[32])
{
	char hex[65];
	struct strbuf sb;
	int i;

	strbuf_init(&sb, 64 * 1024);
	strbuf_appends(&sb, "{\"ak_public\":\"x\",\"tpm_quote\":{"
			    "\"message\":\"\",\"signature\":\"\",\"pcrs\":[");
	for (i = 0; i < 24; i++) {
		strbuf_appendf(&sb, "%s\"%s\"", i > 0 ? "," : "",
			       i == 8 ? hex_encode(pcr8, 32, hex)
				      : "00000000000000000000000000000000"
					"00000000000000000000000000000000");
	}
	strbuf_appends(&sb, "]}}");
	assert_true(strbuf_ok(&sb));
	return sb.buf;
}

static void
test_pcr8(void **state)
{
	unsigned char buf[32 + 48], pcr[32];
	unsigned int n = 0;
	struct initdata d;
	const char *why;
	char *ev;

	(void)state;
	assert_int_equal(initdata_parse(toml384, strlen(toml384), &d, &why),
			 SP_OK);
	memset(buf, 0, 32);
	memcpy(buf + 32, d.digest, 48);
	EVP_Digest(buf, sizeof(buf), pcr, &n, EVP_sha256(), NULL);
	ev = tpm_evidence(pcr);
	assert_int_equal(initdata_check(&d, "tpm", ev), SP_OK);
	assert_int_equal(initdata_check(&d, "az-snp-vtpm", ev), SP_OK);
	assert_int_equal(initdata_check(&d, "az-tdx-vtpm", ev), SP_OK);
	free(ev);
	/* PCR8 holding the bare digest is not the extended value. */
	ev = tpm_evidence(d.digest);
	assert_int_equal(initdata_check(&d, "tpm", ev), SP_E_ATTEST);
	free(ev);
	/* sample has no register: passes with a note. */
	fake_log_clear();
	assert_int_equal(initdata_check(&d, "sample", "{\"svn\":\"1\"}"),
			 SP_OK);
	assert_true(fake_log_has("initdata.check.skipped"));
	initdata_free(&d);
}

static int
setup(void **state)
{
	(void)state;
	fake_log_start();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fake_log_stop();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_ceiling),
	    cmocka_unit_test(test_tdx_mrconfigid),
	    cmocka_unit_test(test_snp_host_data),
	    cmocka_unit_test(test_pcr8),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
