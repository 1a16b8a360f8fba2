/*
 * test_hcl.c: the Azure HCL report parser (init/attest/hcl.c) against
 * every HCL report in testdata/tee/azure-hcl, asserting the values
 * testdata/tee/expected.json lists for it; the HCLAkPub of the Trustee
 * samples verifies their vTPM quotes; truncated and tampered reports
 * are refused.
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

#include "attest/hcl.h"
#include "attest/tpm.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define TD	 SEALPOD_TESTDATA "/tee/"
#define FILE_MAX (1024 * 1024)
#define HEX_MAX	 256

static const char *const hcl_files[] = {
    "azure-hcl/hcl-report-snp.bin",
    "azure-hcl/hcl-report-tdx.bin",
    "azure-hcl/trustee-snp/hcl-report.bin",
    "azure-hcl/trustee-tdx/hcl-report.bin",
};

static yajl_val expected;

static unsigned char *
load(const char *rel, size_t *len)
{
	char path[512];
	char *buf = NULL;

	snprintf(path, sizeof(path), "%s%s", TD, rel);
	assert_int_equal(file_read_all(path, FILE_MAX, &buf, len), SP_OK);
	return (unsigned char *)buf;
}

static int
setup(void **state)
{
	char err[128];
	unsigned char *buf;
	size_t len = 0;

	(void)state;
	log_init("test_hcl", NULL);
	log_set_level(LOG_ERR);
	buf = load("expected.json", &len);
	expected = json_parse((char *)buf, len, FILE_MAX, err, sizeof(err));
	free(buf);
	return expected == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	yajl_tree_free(expected);
	return 0;
}

static uint64_t
exp_u64(yajl_val obj, const char *key)
{
	uint64_t v = 0;

	assert_int_equal(json_get_u64(obj, key, &v), 0);
	return v;
}

/* A "0x..." string member as a number. */
static uint64_t
exp_hexnum(yajl_val obj, const char *key)
{
	const char *s = json_get_str(obj, key);

	assert_non_null(s);
	return strtoull(s, NULL, 16);
}

static void
assert_hex(yajl_val obj, const char *key, const unsigned char *got, size_t n)
{
	const char *want = json_get_str(obj, key);
	char hex[HEX_MAX];

	assert_non_null(want);
	assert_true(2 * n < sizeof(hex));
	assert_string_equal(hex_encode(got, n, hex), want);
}

static void
check_snp(yajl_val snp, const struct hcl_report *r)
{
	struct hcl_snp s;

	assert_int_equal(hcl_snp_fields(r, &s), SP_OK);
	assert_int_equal(s.version, exp_u64(snp, "version"));
	assert_int_equal(s.guest_svn, exp_u64(snp, "guest_svn"));
	assert_int_equal(s.vmpl, exp_u64(snp, "vmpl"));
	assert_int_equal(s.signature_algo, exp_u64(snp, "signature_algo"));
	assert_int_equal(s.policy, exp_hexnum(snp, "policy"));
	assert_int_equal(s.signer_info, exp_hexnum(snp, "signer_info"));
	assert_int_equal(s.current_tcb, exp_hexnum(snp, "current_tcb"));
	assert_int_equal(s.reported_tcb, exp_hexnum(snp, "reported_tcb"));
	assert_int_equal(s.committed_tcb, exp_hexnum(snp, "committed_tcb"));
	assert_hex(snp, "report_data", s.report_data, 64);
	assert_hex(snp, "measurement", s.measurement, 48);
	assert_hex(snp, "host_data", s.host_data, 32);
	assert_hex(snp, "chip_id", s.chip_id, 64);
	assert_ptr_equal(s.report_data, r->report_data);
	assert_null(hcl_td_mrtd(r));
}

static void
check_var_data(yajl_val e, const struct hcl_report *r)
{
	yajl_val kids = json_get(e, "var_data_kids");
	yajl_val ud = json_get(e, "user_data");
	struct hcl_var_data v;
	size_t i;

	assert_int_equal(hcl_var_data_parse(r, &v), SP_OK);
	assert_non_null(kids);
	assert_int_equal(v.nkids, kids->u.array.len);
	for (i = 0; i < v.nkids; i++) {
		assert_string_equal(v.kids[i],
				    kids->u.array.values[i]->u.string);
	}
	assert_non_null(v.ak); /* every sample carries HCLAkPub */
	assert_int_equal(EVP_PKEY_get_base_id(v.ak), EVP_PKEY_RSA);
	if (ud == NULL || YAJL_IS_NULL(ud)) {
		assert_false(v.has_user_data);
	} else {
		assert_true(v.has_user_data);
		assert_hex(e, "user_data", v.user_data, v.user_data_len);
	}
	hcl_var_data_free(&v);
}

static void
check_one(const char *rel)
{
	yajl_val e = json_get(expected, rel);
	unsigned char digest[HCL_DIGEST_MAX];
	struct hcl_report r;
	unsigned char *buf;
	const char *sig;
	size_t len = 0, dlen = 0;

	assert_non_null(e);
	buf = load(rel, &len);
	assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
	sig = json_get_str(e, "header_signature");
	assert_non_null(sig);
	assert_memory_equal(buf, sig, 4);
	assert_int_equal(r.version, exp_u64(e, "header_version"));
	assert_int_equal(r.hw_report - buf, exp_u64(e, "hw_report_offset"));
	assert_int_equal(HCL_IGVM_OFFSET,
			 exp_u64(e, "igvm_request_data_offset"));
	assert_int_equal(r.report_type, exp_u64(e, "report_type"));
	assert_int_equal(r.hash_type, exp_u64(e, "hash_type"));
	assert_int_equal(r.var_data - buf, exp_u64(e, "var_data_offset"));
	assert_int_equal(r.var_len, exp_u64(e, "var_data_size"));

	assert_int_equal(hcl_var_data_digest(&r, digest, sizeof(digest), &dlen),
			 SP_OK);
	assert_hex(e, "var_data_sha256", digest, dlen);
	assert_int_equal(
	    hcl_binding_ok(&r),
	    YAJL_IS_TRUE(
		json_get(e, "hw_report_data_first32_equals_var_data_sha256")));
	check_var_data(e, &r);

	if (r.report_type == HCL_TYPE_SNP) {
		check_snp(json_get(e, "snp"), &r);
	} else {
		assert_int_equal(r.report_type, HCL_TYPE_TDX);
		assert_non_null(hcl_td_mrtd(&r));
		assert_hex(e, "tdreport_mrtd", hcl_td_mrtd(&r), 48);
		assert_hex(e, "tdreport_report_data", r.report_data, 64);
	}
	free(buf);
}

static void
test_expected(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hcl_files) / sizeof(hcl_files[0]); i++) {
		check_one(hcl_files[i]);
	}
}

/* Every prefix shorter than the report's size is refused. */
static void
test_truncation(void **state)
{
	struct hcl_report r;
	unsigned char *buf, *copy;
	size_t len = 0, cut, size, i;

	(void)state;
	for (i = 0; i < sizeof(hcl_files) / sizeof(hcl_files[0]); i++) {
		buf = load(hcl_files[i], &len);
		assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
		size = r.report_size;
		for (cut = 0; cut <= len; cut++) {
			copy = malloc(cut + 1);
			assert_non_null(copy);
			memcpy(copy, buf, cut);
			assert_int_equal(hcl_parse(copy, cut, &r),
					 cut < size ? SP_E_PROTOCOL : SP_OK);
			free(copy);
		}
		free(buf);
	}
}

/*
 * A report claiming SHA-384 with a matching SHA-384 binding: the
 * verifiers compare SHA-256, so the binding must not hold (h20 F4).
 * buf is restored.
 */
static void
tamper_sha384(unsigned char *buf, size_t len)
{
	unsigned char saved[48];
	unsigned char d[48];
	struct hcl_report r;
	unsigned int n = 0;

	assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
	assert_int_equal(
	    EVP_Digest(r.var_data, r.var_len, d, &n, EVP_sha384(), NULL), 1);
	memcpy(saved, (unsigned char *)r.report_data, sizeof(saved));
	memcpy((unsigned char *)r.report_data, d, sizeof(d));
	buf[HCL_IGVM_OFFSET + 12] = HCL_HASH_SHA384;
	assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
	assert_int_equal(r.hash_type, HCL_HASH_SHA384);
	assert_false(hcl_binding_ok(&r));
	buf[HCL_IGVM_OFFSET + 12] = HCL_HASH_SHA256;
	memcpy((unsigned char *)r.report_data, saved, sizeof(saved));
	assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
	assert_true(hcl_binding_ok(&r));
}

/* Tampering breaks the parse or the binding, never silently passes. */
static void
test_tamper(void **state)
{
	struct hcl_var_data v;
	struct hcl_report r;
	unsigned char *buf;
	size_t len = 0;

	(void)state;
	buf = load("azure-hcl/trustee-snp/hcl-report.bin", &len);
	assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
	assert_true(hcl_binding_ok(&r));

	r.var_data = buf + HCL_VAR_OFFSET;
	buf[HCL_VAR_OFFSET + 100] ^= 0x01; /* var data */
	assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
	assert_false(hcl_binding_ok(&r));
	buf[HCL_VAR_OFFSET + 100] ^= 0x01;
	buf[HCL_HW_OFFSET + 0x50] ^= 0x80; /* report data */
	assert_false(hcl_binding_ok(&r));
	buf[HCL_HW_OFFSET + 0x50] ^= 0x80;
	assert_true(hcl_binding_ok(&r));

	buf[0] = 'X'; /* magic */
	assert_int_equal(hcl_parse(buf, len, &r), SP_E_PROTOCOL);
	buf[0] = 'H';
	buf[HCL_IGVM_OFFSET + 8] = 3; /* report type */
	assert_int_equal(hcl_parse(buf, len, &r), SP_E_PROTOCOL);
	buf[HCL_IGVM_OFFSET + 8] = HCL_TYPE_SNP;
	buf[HCL_IGVM_OFFSET] ^= 0x01; /* data size != var size + 20 */
	assert_int_equal(hcl_parse(buf, len, &r), SP_E_PROTOCOL);
	buf[HCL_IGVM_OFFSET] ^= 0x01;
	buf[HCL_IGVM_OFFSET + 12] = 9; /* unknown hash type */
	assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
	assert_false(hcl_binding_ok(&r));
	buf[HCL_IGVM_OFFSET + 12] = HCL_HASH_SHA256;
	tamper_sha384(buf, len);

	buf[HCL_VAR_OFFSET] = '['; /* var data not an object */
	assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
	assert_int_equal(hcl_var_data_parse(&r, &v), SP_E_PROTOCOL);
	hcl_var_data_free(&v);
	free(buf);
}

/* Hex string to bytes, allocated. */
static unsigned char *
unhex(const char *s, size_t *n)
{
	unsigned char *out;

	assert_non_null(s);
	*n = strlen(s) / 2;
	out = malloc(*n + 1);
	assert_non_null(out);
	assert_int_equal(hex_decode(s, 2 * *n, out, *n), 0);
	return out;
}

/* The Trustee vTPM quote verifies with the HCLAkPub of its report. */
static void
check_quote(const char *hcl_rel, const char *quote_rel)
{
	unsigned char pcrs[24 * 32], md[32];
	struct tpm_attest_info info;
	struct hcl_var_data v;
	struct hcl_report r;
	unsigned char *buf, *qbuf, *sig, *msg, *pcr;
	EVP_MD_CTX *ctx;
	yajl_val q, list;
	unsigned int mdlen = 0;
	size_t len = 0, qlen = 0, slen, mlen, plen, i;
	char err[128];

	buf = load(hcl_rel, &len);
	assert_int_equal(hcl_parse(buf, len, &r), SP_OK);
	assert_int_equal(hcl_var_data_parse(&r, &v), SP_OK);
	qbuf = load(quote_rel, &qlen);
	q = json_parse((char *)qbuf, qlen, FILE_MAX, err, sizeof(err));
	assert_non_null(q);
	sig = unhex(json_get_str(q, "signature"), &slen);
	msg = unhex(json_get_str(q, "message"), &mlen);

	ctx = EVP_MD_CTX_new();
	assert_int_equal(
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, v.ak), 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig, slen, msg, mlen), 1);
	EVP_MD_CTX_free(ctx);

	assert_int_equal(tpm_attest_parse(msg, mlen, &info), SP_OK);
	assert_int_equal(info.extra_len, 9);
	assert_memory_equal(info.extra, "challenge", 9);
	assert_int_equal(info.pcr_mask, 0xFFFFFF);
	list = json_get(q, "pcrs");
	assert_int_equal(list->u.array.len, 24);
	for (i = 0; i < 24; i++) {
		pcr = unhex(list->u.array.values[i]->u.string, &plen);
		assert_int_equal(plen, 32);
		memcpy(pcrs + 32 * i, pcr, 32);
		free(pcr);
	}
	assert_int_equal(
	    EVP_Digest(pcrs, sizeof(pcrs), md, &mdlen, EVP_sha256(), NULL), 1);
	assert_memory_equal(md, info.pcr_digest, 32);

	free(sig);
	free(msg);
	yajl_tree_free(q);
	free(qbuf);
	hcl_var_data_free(&v);
	free(buf);
}

static void
test_akpub_quote(void **state)
{
	(void)state;
	check_quote("azure-hcl/trustee-snp/hcl-report.bin",
		    "azure-hcl/trustee-snp/tpm-quote-v1.json");
	check_quote("azure-hcl/trustee-tdx/hcl-report.bin",
		    "azure-hcl/trustee-tdx/tpm-quote-v1.json");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expected),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_tamper),
	    cmocka_unit_test(test_akpub_quote),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
