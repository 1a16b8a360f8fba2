/*
 * test_tdx_quote.c: the TDX quote and TDREPORT parsers against every
 * real TDX vector in testdata/tee, asserting every value expected.json
 * lists (an unknown key fails the test, so none goes unchecked); the
 * quote signature and QE binding checked with OpenSSL over the parsed
 * pieces; truncation at every length rejected; malformed fields named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "attest/tdx_quote.h"
#include "tee_vectors.h"

#define QE_REPORT_DATA_OFF 0x140

static const char *const quotes[] = {
    "tdx/quote_v4_spr_e4.dat",	      "tdx/quote_v5_sample.dat",
    "tdx/trustee_tdx_quote_4.dat",    "tdx/trustee_tdx_quote_5.dat",
    "tdx/ccel/cos-113-tdx-quote.dat", "azure-hcl/trustee-tdx/td-quote.bin",
};

/* DER SubjectPublicKeyInfo of a P-256 point, up to the point. */
static const unsigned char p256_spki_prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
};

/* ECDSA P-256 over SHA-256(header || body) with the quote's own key. */
static int
quote_signature_ok(const unsigned char *buf, const struct tdx_quote *q)
{
	unsigned char spki[sizeof(p256_spki_prefix) + 64];
	const unsigned char *p = spki;
	unsigned char *der = NULL;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY *key;
	int derlen, ok;

	memcpy(spki, p256_spki_prefix, sizeof(p256_spki_prefix));
	memcpy(spki + sizeof(p256_spki_prefix), q->att_key, 64);
	key = d2i_PUBKEY(NULL, &p, sizeof(spki));
	assert_non_null(key);
	assert_non_null(sig);
	assert_non_null(ctx);
	assert_int_equal(ECDSA_SIG_set0(sig, BN_bin2bn(q->signature, 32, NULL),
					BN_bin2bn(q->signature + 32, 32, NULL)),
			 1);
	derlen = i2d_ECDSA_SIG(sig, &der);
	assert_true(derlen > 0);
	assert_int_equal(
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
	ok = EVP_DigestVerify(ctx, der, (size_t)derlen, buf,
			      q->body_offset + q->body_size) == 1;
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	ECDSA_SIG_free(sig);
	EVP_PKEY_free(key);
	return ok;
}

/* QE report data[0:32] == SHA-256(attestation key || auth data). */
static int
qe_binding_ok(const struct tdx_quote *q)
{
	unsigned char cat[64 + 65536], digest[SHA256_DIGEST_LENGTH];

	memcpy(cat, q->att_key, 64);
	memcpy(cat + 64, q->auth_data, q->auth_data_len);
	SHA256(cat, 64 + (size_t)q->auth_data_len, digest);
	return memcmp(digest, q->qe_report + QE_REPORT_DATA_OFF, 32) == 0;
}

static void
check_rtmrs(yajl_val want, const unsigned char *const rtmr[TDX_RTMR_COUNT])
{
	size_t i;

	assert_true(YAJL_IS_ARRAY(want));
	assert_int_equal(want->u.array.len, TDX_RTMR_COUNT);
	for (i = 0; i < TDX_RTMR_COUNT; i++) {
		tv_assert_hex(rtmr[i], TDX_MR_LEN,
			      YAJL_GET_STRING(want->u.array.values[i]));
	}
}

/* One expected member against the parsed quote; fails on unknown keys. */
static void
check_quote_key(yajl_val exp, const char *key, const unsigned char *buf,
		size_t len, const struct tdx_quote *q)
{
	const struct tdx_td_body *b = &q->body;
	char tee[8];

	if (strcmp(key, "att_key_type") == 0) {
		assert_int_equal(q->att_key_type, tv_u64(exp, key));
	} else if (strcmp(key, "body_offset") == 0) {
		assert_int_equal(q->body_offset, tv_u64(exp, key));
	} else if (strcmp(key, "body_size") == 0) {
		assert_int_equal(q->body_size, tv_u64(exp, key));
	} else if (strcmp(key, "body_type") == 0) {
		assert_int_equal(q->body_type, tv_u64(exp, key));
	} else if (strcmp(key, "file_size") == 0) {
		assert_int_equal(len, tv_u64(exp, key));
	} else if (strcmp(key, "inner_cert_data_type") == 0) {
		assert_int_equal(q->inner_cert_type, tv_u64(exp, key));
	} else if (strcmp(key, "outer_cert_data_type") == 0) {
		assert_int_equal(q->outer_cert_type, tv_u64(exp, key));
	} else if (strcmp(key, "mr_seam") == 0) {
		tv_assert_hex(b->mr_seam, TDX_MR_LEN, tv_str(exp, key));
	} else if (strcmp(key, "mrtd") == 0) {
		tv_assert_hex(b->mrtd, TDX_MR_LEN, tv_str(exp, key));
	} else if (strcmp(key, "pck_chain_certs") == 0) {
		assert_int_equal(q->pck_certs, tv_u64(exp, key));
	} else if (strcmp(key, "quote_len_excl_trailing") == 0) {
		assert_int_equal(q->quote_len, tv_u64(exp, key));
	} else if (strcmp(key, "quote_signature_verifies") == 0) {
		assert_true(YAJL_IS_TRUE(json_get(exp, key)));
		assert_true(quote_signature_ok(buf, q));
		assert_true(qe_binding_ok(q));
	} else if (strcmp(key, "report_data") == 0) {
		tv_assert_hex(b->report_data, TDX_REPORT_DATA_LEN,
			      tv_str(exp, key));
	} else if (strcmp(key, "rtmr") == 0) {
		check_rtmrs(json_get(exp, key), b->rtmr);
	} else if (strcmp(key, "signature_data_len") == 0) {
		assert_int_equal(q->sig_data_len, tv_u64(exp, key));
	} else if (strcmp(key, "td_attributes") == 0) {
		tv_assert_hex(b->td_attributes, 8, tv_str(exp, key));
	} else if (strcmp(key, "tee_tcb_svn") == 0) {
		tv_assert_hex(b->tee_tcb_svn, 16, tv_str(exp, key));
	} else if (strcmp(key, "tee_type") == 0) {
		snprintf(tee, sizeof(tee), "0x%x", (unsigned)q->tee_type);
		assert_string_equal(tee, tv_str(exp, key));
	} else if (strcmp(key, "version") == 0) {
		assert_int_equal(q->version, tv_u64(exp, key));
	} else if (strcmp(key, "xfam") == 0) {
		tv_assert_hex(b->xfam, 8, tv_str(exp, key));
	} else if (strcmp(key, "trailing_bytes_note") == 0) {
		/* Prose; the length checks above cover the tail. */
		assert_true(len > q->quote_len);
	} else {
		fail_msg("expected.json key %s not checked", key);
	}
}

static void
test_vectors(void **state)
{
	const char *why = NULL;
	struct tdx_quote q;
	unsigned char *buf;
	yajl_val exp;
	size_t i, k, len;

	(void)state;
	for (i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
		buf = tv_load(quotes[i], &len);
		exp = tv_vector(quotes[i]);
		assert_int_equal(tdx_quote_parse(buf, len, &q, &why), SP_OK);
		assert_null(why);
		for (k = 0; k < exp->u.object.len; k++) {
			check_quote_key(exp, exp->u.object.keys[k], buf, len,
					&q);
		}
		/* TDX 1.5 fields exist exactly for body type 3. */
		assert_int_equal(q.body.has_v15, q.body_type == 3);
		assert_int_equal(q.body.mr_servicetd != NULL, q.body_type == 3);
		free(buf);
	}
}

/* MRSERVICETD is not zero in this TDX 1.5 quote (README). */
static void
test_v15_fields(void **state)
{
	static const unsigned char zero[TDX_MR_LEN];
	const char *why;
	struct tdx_quote q;
	unsigned char *buf;
	size_t len;

	(void)state;
	buf = tv_load("tdx/trustee_tdx_quote_5.dat", &len);
	assert_int_equal(tdx_quote_parse(buf, len, &q, &why), SP_OK);
	assert_int_equal(q.body_type, TDX_BODY_TYPE_15);
	assert_ptr_equal(q.body.mr_servicetd, buf + 0x36 + 0x258);
	assert_memory_not_equal(q.body.mr_servicetd, zero, TDX_MR_LEN);
	free(buf);
}

/* Every length short of the declared quote is refused; the exact one and
 * longer ones are accepted. */
static void
test_truncation(void **state)
{
	const char *why;
	struct tdx_quote q;
	unsigned char *buf;
	size_t i, n, len, full;

	(void)state;
	for (i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
		buf = tv_load(quotes[i], &len);
		assert_int_equal(tdx_quote_parse(buf, len, &q, &why), SP_OK);
		full = q.quote_len;
		for (n = 0; n < full; n++) {
			why = NULL;
			assert_int_equal(tdx_quote_parse(buf, n, &q, &why),
					 SP_E_INTEGRITY);
			assert_non_null(why);
		}
		assert_int_equal(tdx_quote_parse(buf, full, &q, &why), SP_OK);
		assert_int_equal(q.quote_len, full);
		free(buf);
	}
}

/* Patch a copy of a vector and expect a named refusal. */
static void
expect_refused(const char *rel, size_t off, const unsigned char *bytes,
	       size_t n, const char *reason)
{
	const char *why = NULL;
	struct tdx_quote q;
	unsigned char *buf;
	size_t len;

	buf = tv_load(rel, &len);
	memcpy(buf + off, bytes, n);
	assert_int_equal(tdx_quote_parse(buf, len, &q, &why), SP_E_INTEGRITY);
	assert_non_null(why);
	assert_string_equal(why, reason);
	free(buf);
}

static void
test_malformed(void **state)
{
	static const unsigned char v3[] = {3, 0};
	static const unsigned char sgx[] = {0, 0, 0, 0};
	static const unsigned char key3[] = {3, 0};
	static const unsigned char body1[] = {1, 0};
	static const unsigned char size_bad[] = {0x89, 0x02, 0, 0};
	static const unsigned char huge[] = {0xff, 0xff, 0xff, 0x7f};
	static const unsigned char cert5[] = {5, 0};
	static const unsigned char inner7[] = {7, 0};
	const char *v4 = "tdx/trustee_tdx_quote_4.dat";
	const char *v5 = "tdx/quote_v5_sample.dat";

	(void)state;
	expect_refused(v4, 0, v3, 2, "quote_version_unsupported");
	expect_refused(v4, 4, sgx, 4, "quote_tee_type_not_tdx");
	expect_refused(v4, 2, key3, 2, "quote_att_key_type_unsupported");
	expect_refused(v5, 0x30, body1, 2, "quote_body_type_unsupported");
	expect_refused(v5, 0x32, size_bad, 4, "quote_body_size_mismatch");
	expect_refused(v4, 0x278, huge, 4, "quote_truncated_sig_data");
	/* Outer certification type at sig data + 128 (v4: 0x27C + 128). */
	expect_refused(v4, 0x27C + 128, cert5, 2,
		       "quote_cert_type_unsupported");
	/* Inner type after QE report, its signature and 32 auth bytes. */
	expect_refused(v4, 0x27C + 128 + 6 + 384 + 64 + 2 + 32, inner7, 2,
		       "quote_inner_cert_type_unsupported");
}

static void
check_report_key(yajl_val exp, const char *key, const struct tdx_report *r)
{
	if (strcmp(key, "mrtd") == 0) {
		tv_assert_hex(r->mrtd, TDX_MR_LEN, tv_str(exp, key));
	} else if (strcmp(key, "report_data") == 0) {
		tv_assert_hex(r->report_data, TDX_REPORT_DATA_LEN,
			      tv_str(exp, key));
	} else if (strcmp(key, "report_type") == 0) {
		tv_assert_hex(r->report_type, 4, tv_str(exp, key));
	} else if (strcmp(key, "rtmr") == 0) {
		check_rtmrs(json_get(exp, key), r->rtmr);
	} else if (strcmp(key, "td_attributes") == 0) {
		tv_assert_hex(r->td_attributes, 8, tv_str(exp, key));
	} else if (strcmp(key, "xfam") == 0) {
		tv_assert_hex(r->xfam, 8, tv_str(exp, key));
	} else {
		fail_msg("expected.json key %s not checked", key);
	}
}

static void
test_tdreport(void **state)
{
	const char *rel = "tdx/intel_tdreport_for_test.dat";
	const char *why = NULL;
	struct tdx_report r;
	unsigned char *buf;
	yajl_val exp;
	size_t k, len;

	(void)state;
	buf = tv_load(rel, &len);
	exp = tv_vector(rel);
	assert_int_equal(tdx_report_parse(buf, len, &r, &why), SP_OK);
	for (k = 0; k < exp->u.object.len; k++) {
		check_report_key(exp, exp->u.object.keys[k], &r);
	}
	assert_int_equal(tdx_report_parse(buf, len - 1, &r, &why),
			 SP_E_INTEGRITY);
	assert_string_equal(why, "tdreport_truncated");
	buf[0] = 0;
	assert_int_equal(tdx_report_parse(buf, len, &r, &why), SP_E_INTEGRITY);
	assert_string_equal(why, "tdreport_type_not_tdx");
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_v15_fields),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_tdreport),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
