/*
 * test_s3_auth.c: credentials for s3:// (init/source/s3_auth.c): the STS
 * AssumeRoleWithWebIdentity reply in the shape AWS documents, error
 * documents, and where credentials come from in the environment.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "secret.h"
#include "source/s3_auth.h"

static const char sts_ok[] =
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/"
    "doc/2011-06-15/\">\n"
    "  <AssumeRoleWithWebIdentityResult>\n"
    "    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56"
    "KR2A</SubjectFromWebIdentityToken>\n"
    "    <Credentials>\n"
    "      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE"
    "</SessionToken>\n"
    "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
    "</SecretAccessKey>\n"
    "      <Expiration>2014-10-24T23:00:23Z</Expiration>\n"
    "      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "    </Credentials>\n"
    "  </AssumeRoleWithWebIdentityResult>\n"
    "</AssumeRoleWithWebIdentityResponse>\n";

static void
test_sts_ok(void **state)
{
	struct s3_sts_reply r;

	(void)state;
	assert_int_equal(s3_sts_parse(sts_ok, strlen(sts_ok), &r), SP_OK);
	assert_string_equal(r.key_id, "ASgeIAIOSFODNN7EXAMPLE");
	assert_int_equal(r.secret_key->len, 41);
	assert_memory_equal(r.secret_key->data,
			    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", 41);
	assert_memory_equal(r.session_token->data, "AQoDYXdz", 8);
	/* 2014-10-24T23:00:23Z */
	assert_int_equal((long long)r.expires, 1414191623LL);
	assert_string_equal(r.code, "");
	s3_sts_reply_wipe(&r);
	assert_null(r.secret_key);
}

static void
test_sts_error(void **state)
{
	const char *doc =
	    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/"
	    "\"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
	    "<Message>No OpenIDConnect provider found</Message></Error>"
	    "<RequestId>x</RequestId></ErrorResponse>";
	struct s3_sts_reply r;

	(void)state;
	assert_int_equal(s3_sts_parse(doc, strlen(doc), &r), SP_OK);
	assert_string_equal(r.code, "InvalidIdentityToken");
	assert_null(r.secret_key);
	s3_sts_reply_wipe(&r);
}

/* sts_ok with one substitution, parsed. */
static enum sp_err
parse_edit(const char *from, const char *to)
{
	struct s3_sts_reply r;
	char doc[sizeof(sts_ok) + 256];
	const char *at = strstr(sts_ok, from);
	enum sp_err rc;

	assert_non_null(at);
	snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(at - sts_ok), sts_ok, to,
		 at + strlen(from));
	rc = s3_sts_parse(doc, strlen(doc), &r);
	s3_sts_reply_wipe(&r);
	return rc;
}

static void
test_sts_refused(void **state)
{
	(void)state;
	/* Repeated, missing, marked-up or malformed members. */
	assert_int_equal(
	    parse_edit("<AccessKeyId>",
		       "<AccessKeyId>X</AccessKeyId><AccessKeyId>"),
	    SP_E_PROTOCOL);
	assert_int_equal(
	    parse_edit("<Expiration>2014-10-24T23:00:23Z</Expiration>", ""),
	    SP_E_PROTOCOL);
	assert_int_equal(parse_edit("wJalrXUtnFEMI", "&amp;wJalrXUtnFEMI"),
			 SP_E_PROTOCOL);
	assert_int_equal(parse_edit("wJalrXUtnFEMI", "<![CDATA[x]]>"),
			 SP_E_PROTOCOL);
	assert_int_equal(parse_edit("2014-10-24T23:00:23Z", "tomorrow"),
			 SP_E_PROTOCOL);
	assert_int_equal(parse_edit("AQoDYXdz", "AQo DYXdz"), SP_E_PROTOCOL);
	assert_int_equal(parse_edit("<AssumeRoleWithWebIdentityResponse",
				    "<AssumeRoleResponse"),
			 SP_E_PROTOCOL);
	/* Fractional seconds are allowed. */
	assert_int_equal(parse_edit("23:00:23Z", "23:00:23.123Z"), SP_OK);
	assert_int_equal(s3_sts_parse("a\0b", 3, &(struct s3_sts_reply){0}),
			 SP_E_PROTOCOL);
}

static void
test_xml_code(void **state)
{
	char code[S3_STS_CODE_MAX + 1];
	const char *s3 =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"
	    "<Code>SignatureDoesNotMatch</Code><Message>m</Message>"
	    "</Error>";
	const char *bad = "<Error><Code>Bad Code</Code></Error>";

	(void)state;
	assert_int_equal(s3_xml_code(s3, strlen(s3), code, sizeof(code)), 0);
	assert_string_equal(code, "SignatureDoesNotMatch");
	assert_int_equal(s3_xml_code(bad, strlen(bad), code, sizeof(code)), -1);
	assert_int_equal(s3_xml_code(s3, strlen(s3), code, 5), -1);
	assert_int_equal(s3_xml_code("", 0, code, sizeof(code)), -1);
}

static void
clear_env(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_ROLE_ARN");
}

static void
test_env(void **state)
{
	struct s3_creds c;

	(void)state;
	clear_env();
	memset(&c, 0, sizeof(c));
	assert_int_equal(s3_creds_load(&c, NULL, NULL, "us-east-1"), SP_OK);
	assert_true(c.anonymous);
	s3_creds_wipe(&c);

	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	assert_int_equal(s3_creds_load(&c, NULL, NULL, "us-east-1"),
			 SP_E_USAGE);
	s3_creds_wipe(&c);

	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG", 1);
	setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE", 1);
	assert_int_equal(s3_creds_load(&c, NULL, NULL, "us-east-1"), SP_OK);
	assert_false(c.anonymous);
	assert_string_equal(c.key_id, "AKIDEXAMPLE");
	assert_int_equal(c.secret_key->len, 21);
	assert_non_null(c.session_token);
	assert_int_equal(c.expires, 0);
	/* Static keys are never traded. */
	assert_int_equal(s3_creds_refresh(&c, NULL, NULL, "us-east-1",
					  time(NULL) + 86400 * 365),
			 SP_OK);
	s3_creds_wipe(&c);

	setenv("AWS_SECRET_ACCESS_KEY", "with space", 1);
	assert_int_equal(s3_creds_load(&c, NULL, NULL, "us-east-1"),
			 SP_E_USAGE);
	s3_creds_wipe(&c);

	/* Web identity without a role, or with an unreadable token file. */
	clear_env();
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token", 1);
	assert_int_equal(s3_creds_load(&c, NULL, NULL, "us-east-1"),
			 SP_E_USAGE);
	s3_creds_wipe(&c);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/r", 1);
	assert_int_equal(s3_creds_load(&c, NULL, NULL, "us-east-1"),
			 SP_E_USAGE);
	s3_creds_wipe(&c);
	clear_env();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sts_ok),
	    cmocka_unit_test(test_sts_error),
	    cmocka_unit_test(test_sts_refused),
	    cmocka_unit_test(test_xml_code),
	    cmocka_unit_test(test_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
