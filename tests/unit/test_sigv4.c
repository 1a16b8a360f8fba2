/*
 * test_sigv4.c: AWS Signature Version 4 against AWS's published examples.
 *
 * 1. "get-vanilla" from the AWS SigV4 test suite (service "service",
 *    key AKIDEXAMPLE, 2015-08-30).
 * 2. The S3 "GET Object" example of the S3 API reference, "Signature
 *    Calculations for the Authorization Header" (examplebucket, range
 *    bytes=0-9, 2013-05-24).
 * Then the encoding helper and the refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "secret.h"
#include "sigv4.h"

static const char vanilla_secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
static const char s3_secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

static enum sp_err
sign(const struct sigv4_request *r, const char *id, const char *secret_str,
     char *out, size_t cap)
{
	struct secret *k = secret_from(secret_str, strlen(secret_str));
	enum sp_err rc;

	assert_non_null(k);
	rc = sigv4_authorization(r, id, k, out, cap);
	secret_free(k);
	return rc;
}

static void
test_get_vanilla(void **state)
{
	const struct sigv4_header h[] = {
	    {"host", "example.amazonaws.com"},
	    {"x-amz-date", "20150830T123600Z"},
	};
	const struct sigv4_request r = {
	    .method = "GET",
	    .path = "/",
	    .query = "",
	    .headers = h,
	    .nheaders = 2,
	    .payload_hash = SIGV4_EMPTY_SHA256,
	    .amz_date = "20150830T123600Z",
	    .region = "us-east-1",
	    .service = "service",
	};
	char out[SIGV4_AUTH_MAX];

	(void)state;
	assert_int_equal(
	    sign(&r, "AKIDEXAMPLE", vanilla_secret, out, sizeof(out)), SP_OK);
	assert_string_equal(
	    out, "AWS4-HMAC-SHA256 "
		 "Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
		 "aws4_request, SignedHeaders=host;x-amz-date, "
		 "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9"
		 "b8aae1d763fbf31");
}

static const struct sigv4_header s3_headers[] = {
    {"host", "examplebucket.s3.amazonaws.com"},
    {"range", "bytes=0-9"},
    {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
    {"x-amz-date", "20130524T000000Z"},
};

static const struct sigv4_request s3_get = {
    .method = "GET",
    .path = "/test.txt",
    .query = "",
    .headers = s3_headers,
    .nheaders = 4,
    .payload_hash = SIGV4_EMPTY_SHA256,
    .amz_date = "20130524T000000Z",
    .region = "us-east-1",
    .service = "s3",
};

static void
test_s3_get_object(void **state)
{
	char out[SIGV4_AUTH_MAX];

	(void)state;
	assert_int_equal(
	    sign(&s3_get, "AKIAIOSFODNN7EXAMPLE", s3_secret, out, sizeof(out)),
	    SP_OK);
	assert_string_equal(
	    out, "AWS4-HMAC-SHA256 "
		 "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		 "aws4_request, "
		 "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
		 "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd9"
		 "1039c6036bdb41");
}

/* Blank runs inside a value and around it do not change the signature. */
static void
test_values_trimmed(void **state)
{
	const struct sigv4_header h[] = {
	    {"host", "  examplebucket.s3.amazonaws.com "},
	    {"range", "bytes=0-9"},
	    {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
	    {"x-amz-date", "20130524T000000Z"},
	};
	struct sigv4_request r = s3_get;
	char a[SIGV4_AUTH_MAX];
	char b[SIGV4_AUTH_MAX];

	(void)state;
	r.headers = h;
	assert_int_equal(
	    sign(&s3_get, "AKIAIOSFODNN7EXAMPLE", s3_secret, a, sizeof(a)),
	    SP_OK);
	assert_int_equal(
	    sign(&r, "AKIAIOSFODNN7EXAMPLE", s3_secret, b, sizeof(b)), SP_OK);
	assert_string_equal(a, b);
}

/* Any change to what is signed changes the signature. */
static void
test_sensitive(void **state)
{
	struct sigv4_request r = s3_get;
	char a[SIGV4_AUTH_MAX];
	char b[SIGV4_AUTH_MAX];

	(void)state;
	assert_int_equal(
	    sign(&s3_get, "AKIAIOSFODNN7EXAMPLE", s3_secret, a, sizeof(a)),
	    SP_OK);
	r.path = "/test.txy";
	assert_int_equal(
	    sign(&r, "AKIAIOSFODNN7EXAMPLE", s3_secret, b, sizeof(b)), SP_OK);
	assert_string_not_equal(a, b);
	r = s3_get;
	r.region = "us-east-2";
	assert_int_equal(
	    sign(&r, "AKIAIOSFODNN7EXAMPLE", s3_secret, b, sizeof(b)), SP_OK);
	assert_string_not_equal(a, b);
	assert_int_equal(
	    sign(&s3_get, "AKIAIOSFODNN7EXAMPLE", vanilla_secret, b, sizeof(b)),
	    SP_OK);
	assert_string_not_equal(a, b);
}

static void
test_refusals(void **state)
{
	const struct sigv4_header unsorted[] = {
	    {"x-amz-date", "20130524T000000Z"},
	    {"host", "examplebucket.s3.amazonaws.com"},
	};
	const struct sigv4_header upper[] = {
	    {"Host", "examplebucket.s3.amazonaws.com"},
	};
	const struct sigv4_header twice[] = {
	    {"host", "a"},
	    {"host", "b"},
	};
	struct sigv4_request r = s3_get;
	char out[SIGV4_AUTH_MAX];
	char *big;

	(void)state;
	r.headers = unsorted;
	r.nheaders = 2;
	assert_int_equal(sign(&r, "AKID", s3_secret, out, sizeof(out)),
			 SP_E_USAGE);
	r.headers = upper;
	r.nheaders = 1;
	assert_int_equal(sign(&r, "AKID", s3_secret, out, sizeof(out)),
			 SP_E_USAGE);
	r.headers = twice;
	r.nheaders = 2;
	assert_int_equal(sign(&r, "AKID", s3_secret, out, sizeof(out)),
			 SP_E_USAGE);
	r = s3_get;
	r.amz_date = "2013-05-24T00:00";
	assert_int_equal(sign(&r, "AKID", s3_secret, out, sizeof(out)),
			 SP_E_USAGE);
	r = s3_get;
	r.region = "US East";
	assert_int_equal(sign(&r, "AKID", s3_secret, out, sizeof(out)),
			 SP_E_USAGE);
	r = s3_get;
	assert_int_equal(sign(&r, "AK/ID", s3_secret, out, sizeof(out)),
			 SP_E_USAGE);
	assert_int_equal(sign(&r, "AKID", s3_secret, out, 40), SP_E_USAGE);

	big = malloc(SIGV4_FIELD_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', SIGV4_FIELD_MAX + 1);
	big[SIGV4_FIELD_MAX + 1] = '\0';
	r.path = big;
	assert_int_equal(sign(&r, "AKID", s3_secret, out, sizeof(out)),
			 SP_E_USAGE);
	free(big);
}

static void
test_uri_encode(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 1024);
	sigv4_uri_encode(&sb, "models/llama 3+x/a~b_c.d-e", 1);
	strbuf_append(&sb, "|", 1);
	sigv4_uri_encode(&sb, "a/b=c&\xc3\xa9", 0);
	strbuf_append(&sb, "", 1);
	assert_true(strbuf_ok(&sb));
	assert_string_equal(
	    sb.buf, "models/llama%203%2Bx/a~b_c.d-e|a%2Fb%3Dc%26%C3%A9");
	strbuf_free(&sb);
}

static void
test_amz_date(void **state)
{
	char d[SIGV4_DATE_LEN + 1];

	(void)state;
	sigv4_amz_date((time_t)1440938160, d);
	assert_string_equal(d, "20150830T123600Z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_vanilla),
	    cmocka_unit_test(test_s3_get_object),
	    cmocka_unit_test(test_values_trimmed),
	    cmocka_unit_test(test_sensitive),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_uri_encode),
	    cmocka_unit_test(test_amz_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
