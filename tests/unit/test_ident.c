/*
 * test_ident.c: client certificate identities against allow rules.
 *
 * Certificates are built in memory with OpenSSL (subject CN, DNS and URI
 * SANs); rules are parsed from the same record text the config uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/x509v3.h>

#include "ident.h"

/* A self-signed-shaped certificate with CN cn and SAN text san (or NULL). */
static X509 *
make_cert(const char *cn, const char *san)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509_EXTENSION *ext;
	X509V3_CTX ctx;

	if (cn != NULL) {
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					   (const unsigned char *)cn, -1, -1,
					   0);
	}
	if (san != NULL) {
		X509V3_set_ctx_nodb(&ctx);
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext =
		    X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	return x;
}

static void
rule(const char *rec, struct ident_rule *r)
{
	const char *problem = NULL;

	assert_int_equal(ident_parse(rec, r, &problem), 0);
}

static void
test_match(void **state)
{
	struct ident_rule r;

	(void)state;
	rule("uri=spiffe://gw.example/ns/*/sa/gateway\n", &r);
	assert_true(
	    ident_match(&r, "spiffe://gw.example/ns/prod/sa/gateway", 38));
	assert_false(ident_match(&r, "spiffe://gw.example/ns//sa/gateway", 34));
	assert_false(
	    ident_match(&r, "spiffe://gw.example/ns/a/b/sa/gateway", 37));
	assert_false(
	    ident_match(&r, "SPIFFE://gw.example/ns/a/sa/gateway", 35));

	rule("dns=*.gw.example\n", &r);
	assert_true(ident_match(&r, "api.gw.example", 14));
	assert_true(ident_match(&r, "API.GW.Example", 14));
	assert_false(ident_match(&r, "a.api.gw.example", 16));
	assert_false(ident_match(&r, "gw.example", 10));
	assert_false(ident_match(&r, "api.gw.example\0.evil", 20));

	rule("cn=batch-*\n", &r);
	assert_true(ident_match(&r, "batch-1/x", 9));
	assert_false(ident_match(&r, "Batch-1", 7));
	assert_string_equal(r.text, "cn:batch-*");
}

static void
test_parse_refused(void **state)
{
	struct ident_rule r;
	const char *problem = NULL;

	(void)state;
	assert_int_equal(ident_parse("dns=a\ncn=b\n", &r, &problem), -1);
	assert_int_equal(ident_parse("email=a@b\n", &r, &problem), -1);
	assert_int_equal(ident_parse("uri=\n", &r, &problem), -1);
	assert_int_equal(ident_parse("dns=**.a\n", &r, &problem), -1);
	assert_int_equal(ident_parse("cn=*a*b*c*d*e*f*g*h*i\n", &r, &problem),
			 -1);
	assert_non_null(problem);
}

static void
test_check(void **state)
{
	struct ident_rule rules[3];
	struct ident_result res;
	X509 *x;

	(void)state;
	rule("uri=spiffe://gw.example/ns/*/sa/gateway\n", &rules[0]);
	rule("dns=*.gw.example\n", &rules[1]);
	rule("cn=batch-*\n", &rules[2]);

	x = make_cert("gateway", "URI:spiffe://gw.example/ns/p/sa/gateway");
	ident_check(x, rules, 3, &res);
	assert_true(res.allowed);
	assert_string_equal(res.value, "spiffe://gw.example/ns/p/sa/gateway");
	assert_string_equal(res.rule,
			    "uri:spiffe://gw.example/ns/*/sa/gateway");
	X509_free(x);

	x = make_cert("x", "DNS:evil.example,DNS:api.gw.example");
	ident_check(x, rules, 3, &res);
	assert_true(res.allowed);
	assert_string_equal(res.value, "api.gw.example");
	X509_free(x);

	x = make_cert("batch-7", NULL);
	ident_check(x, rules, 3, &res);
	assert_true(res.allowed);
	assert_string_equal(res.rule, "cn:batch-*");
	X509_free(x);

	/* A CN never satisfies a dns rule, nor a DNS SAN a cn rule. */
	x = make_cert("api.gw.example", "DNS:batch-1");
	ident_check(x, rules, 3, &res);
	assert_false(res.allowed);
	X509_free(x);

	/* Without rules any verified certificate is allowed, URI first. */
	x = make_cert("c", "DNS:d.example,URI:spiffe://t/u");
	ident_check(x, NULL, 0, &res);
	assert_true(res.allowed);
	assert_string_equal(res.rule, "any");
	assert_string_equal(res.value, "spiffe://t/u");
	X509_free(x);

	ident_check(NULL, rules, 3, &res);
	assert_false(res.allowed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_parse_refused),
	    cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
