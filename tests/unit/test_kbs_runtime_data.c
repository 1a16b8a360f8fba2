/*
 * test_kbs_runtime_data.c: the KBS wire formats (init/kbs_wire.c) and the
 * sample evidence, against the vectors of kbs-protocol.md §2.3, plus the
 * reply parsers, the resource URI rules and the error mapping (§1.8).
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
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "attest.h"
#include "b64.h"
#include "json.h"
#include "kbs.h"
#include "kbs_wire.h"
#include "log.h"
#include "util.h"

/* §2.3, synthetic KBS vector. */
#define V_NONCE "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define V_JWK                                                                  \
	"{\"alg\":\"ECDH-ES+A256KW\",\"crv\":\"P-256\",\"kty\":\"EC\","        \
	"\"x\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\","               \
	"\"y\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI\"}"
#define V_CANON                                                                \
	"{\"additional-evidence\":\"\",\"nonce\":\"" V_NONCE                   \
	"\",\"tee-pubkey\":" V_JWK "}"
#define V_SHA384                                                               \
	"d934ba73c76ad6ce42e80746cefb42b74c7e0af0f0d30ace51557c3da2a8fe76"     \
	"08b3c6856f09e1f101fd459a86b1c846"
#define V_REPORT_DATA                                                          \
	"2TS6c8dq1s5C6AdGzvtCt0x+CvDw0wrOUVV8PaKo/nYIs8aFbwnh8QH9RZqGschG"
#define V_SHA512_HEAD "0da473606b0c8619"
#define V_SHA512_TAIL "79a2b1"
/* §2.3, repository vector. */
#define R_CANON "{\"a\":\"test\",\"b\":1,\"c\":{\"d\":\"e\"}}"
#define R_SHA384                                                               \
	"e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c"     \
	"4597480a186427c813ca941da78870c3"

#define KEYGEN_TRIES 20000 /* P(no padded coordinate) ~ e^-150 */

static int
setup_log(void **state)
{
	(void)state;
	log_init("test_kbs_runtime_data", NULL);
	log_set_level(LOG_ERR);
	return 0;
}

static void
vector_jwk(struct strbuf *sb)
{
	unsigned char x[32], y[32];

	memset(x, 0x01, sizeof(x));
	memset(y, 0x02, sizeof(y));
	kbs_wire_jwk_xy(sb, x, y);
}

static void
canonical_bytes(struct strbuf *out)
{
	struct strbuf jwk;

	strbuf_init(&jwk, KBS_JWK_MAX);
	vector_jwk(&jwk);
	assert_true(strbuf_ok(&jwk));
	kbs_wire_runtime_data(out, "", V_NONCE, jwk.buf);
	assert_true(strbuf_ok(out));
	strbuf_free(&jwk);
}

static void
test_jwk_vector(void **state)
{
	struct strbuf jwk;

	(void)state;
	strbuf_init(&jwk, KBS_JWK_MAX);
	vector_jwk(&jwk);
	assert_string_equal(jwk.buf, V_JWK);
	strbuf_free(&jwk);
}

static void
test_canonical_vector(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 4096);
	canonical_bytes(&sb);
	assert_string_equal(sb.buf, V_CANON);
	strbuf_free(&sb);
}

static void
digest_hex(enum kbs_hash h, const char *buf, char *hex)
{
	unsigned char d[KBS_DIGEST_MAX];
	size_t n = 0;

	assert_int_equal(kbs_wire_digest(h, buf, strlen(buf), d, &n), SP_OK);
	hex_encode(d, n, hex);
}

static void
test_digest_sha384(void **state)
{
	char hex[2 * KBS_DIGEST_MAX + 1];
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 4096);
	canonical_bytes(&sb);
	digest_hex(KBS_HASH_SHA384, sb.buf, hex);
	assert_string_equal(hex, V_SHA384);
	digest_hex(KBS_HASH_SHA384, R_CANON, hex);
	assert_string_equal(hex, R_SHA384);
	strbuf_free(&sb);
}

static void
test_digest_sha512(void **state)
{
	char hex[2 * KBS_DIGEST_MAX + 1];
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 4096);
	canonical_bytes(&sb);
	digest_hex(KBS_HASH_SHA512, sb.buf, hex);
	assert_int_equal(strlen(hex), 128);
	assert_memory_equal(hex, V_SHA512_HEAD, strlen(V_SHA512_HEAD));
	assert_string_equal(hex + 128 - strlen(V_SHA512_TAIL), V_SHA512_TAIL);
	strbuf_free(&sb);
}

static void
test_sample_evidence(void **state)
{
	const struct attest_provider *p;
	unsigned char d[KBS_DIGEST_MAX];
	size_t n = 0;
	char *json = NULL;
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 4096);
	canonical_bytes(&sb);
	assert_int_equal(
	    kbs_wire_digest(KBS_HASH_SHA384, sb.buf, sb.len, d, &n), SP_OK);
	assert_int_equal(n, 48);

	p = attest_find("sample");
	assert_non_null(p);
	assert_string_equal(p->tee, "sample");
	assert_int_equal(p->detect(""), 0);
	assert_int_equal(p->collect("", d, n, &json), SP_OK);
	assert_string_equal(
	    json, "{\"svn\":\"1\",\"report_data\":\"" V_REPORT_DATA "\"}");
	free(json);
	assert_null(attest_find("tdx-but-not-yet"));
	assert_null(attest_find(NULL));
	strbuf_free(&sb);
}

static void
jcs_expect(const char *in, const char *want)
{
	struct strbuf sb;

	strbuf_init(&sb, 4096);
	assert_int_equal(kbs_wire_jcs_str(&sb, in), 0);
	assert_true(strbuf_ok(&sb));
	assert_string_equal(sb.buf, want);
	strbuf_free(&sb);
}

/* RFC 8785 §3.2.2.2: the escapes JSON.stringify makes, no others. */
static void
test_jcs_escaping(void **state)
{
	struct strbuf sb;

	(void)state;
	jcs_expect("plain", "\"plain\"");
	jcs_expect("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	jcs_expect("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	jcs_expect("\x01\x1f\x0b", "\"\\u0001\\u001f\\u000b\"");
	jcs_expect("\x7f", "\"\x7f\"");
	jcs_expect("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		   "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	jcs_expect("\xe2\x80\xa8", "\"\xe2\x80\xa8\"");
	jcs_expect("", "\"\"");

	strbuf_init(&sb, 4096);
	assert_int_equal(kbs_wire_jcs_str(&sb, "bad\xff"), -1);
	assert_false(strbuf_ok(&sb));
	strbuf_free(&sb);
}

/* A nonce with escapes lands escaped in the canonical bytes. */
static void
test_runtime_data_odd_nonce(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 4096);
	kbs_wire_runtime_data(&sb, "", "n\"\n/", "{}");
	assert_true(strbuf_ok(&sb));
	assert_string_equal(sb.buf, "{\"additional-evidence\":\"\",\"nonce\":"
				    "\"n\\\"\\n/\",\"tee-pubkey\":{}}");
	strbuf_free(&sb);
}

static int
coord_short(EVP_PKEY *k, const char *param)
{
	BIGNUM *bn = NULL;
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	n = BN_num_bytes(bn);
	BN_free(bn);
	return n < 32;
}

static void
check_coord(yajl_val jwk, const char *name, EVP_PKEY *k, const char *param)
{
	unsigned char got[64], want[32];
	const char *s;
	BIGNUM *bn = NULL;

	s = json_get_str(jwk, name);
	assert_non_null(s);
	assert_int_equal(strlen(s), 43);
	assert_int_equal(b64_decode(s, strlen(s), B64_URL, got, sizeof(got)),
			 32);
	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	assert_int_equal(BN_bn2binpad(bn, want, 32), 32);
	assert_memory_equal(got, want, 32);
	BN_free(bn);
}

/* A coordinate below 2^248 must still be 32 bytes (§3.3). */
static void
test_jwk_padding(void **state)
{
	EVP_PKEY *k = NULL;
	struct strbuf sb;
	char err[128];
	yajl_val v;
	int i;

	(void)state;
	for (i = 0; i < KEYGEN_TRIES; i++) {
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		assert_non_null(k);
		if (coord_short(k, OSSL_PKEY_PARAM_EC_PUB_X) ||
		    coord_short(k, OSSL_PKEY_PARAM_EC_PUB_Y)) {
			break;
		}
		EVP_PKEY_free(k);
		k = NULL;
	}
	assert_non_null(k);

	strbuf_init(&sb, KBS_JWK_MAX);
	assert_int_equal(kbs_wire_jwk(&sb, k), SP_OK);
	v = json_parse(sb.buf, sb.len, KBS_JWK_MAX, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(json_get_str(v, "alg"), "ECDH-ES+A256KW");
	assert_string_equal(json_get_str(v, "crv"), "P-256");
	assert_string_equal(json_get_str(v, "kty"), "EC");
	assert_int_equal(v->u.object.len, 5);
	check_coord(v, "x", k, OSSL_PKEY_PARAM_EC_PUB_X);
	check_coord(v, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y);
	yajl_tree_free(v);
	strbuf_free(&sb);
	EVP_PKEY_free(k);
}

static void
test_jwk_wrong_curve(void **state)
{
	EVP_PKEY *k;
	struct strbuf sb;

	(void)state;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(k);
	strbuf_init(&sb, KBS_JWK_MAX);
	assert_int_equal(kbs_wire_jwk(&sb, k), SP_E_USAGE);
	strbuf_free(&sb);
	EVP_PKEY_free(k);
}

static void
test_auth_body(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 4096);
	kbs_wire_auth_body(&sb, "sample");
	assert_true(strbuf_ok(&sb));
	assert_string_equal(
	    sb.buf,
	    "{\"version\":\"0.4.0\",\"tee\":\"sample\",\"extra-params\":"
	    "{\"supported-hash-algorithms\":[\"sha384\"]}}");
	strbuf_free(&sb);
}

static void
test_attest_body(void **state)
{
	struct strbuf sb;
	char err[128];
	yajl_val v, rd, te;

	(void)state;
	strbuf_init(&sb, 8192);
	kbs_wire_attest_body(&sb, V_NONCE, V_JWK,
			     "{\"svn\":\"1\",\"report_data\":\"x\"}", "");
	assert_true(strbuf_ok(&sb));
	v = json_parse(sb.buf, sb.len, 8192, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(v->u.object.len, 3);
	assert_true(YAJL_IS_NULL(json_get(v, "init-data")));
	rd = json_get(v, "runtime-data");
	assert_string_equal(json_get_str(rd, "nonce"), V_NONCE);
	assert_string_equal(json_get_str(json_get(rd, "tee-pubkey"), "x"),
			    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE");
	te = json_get(v, "tee-evidence");
	assert_string_equal(json_get_str(te, "additional_evidence"), "");
	assert_string_equal(
	    json_get_str(json_get(te, "primary_evidence"), "svn"), "1");
	yajl_tree_free(v);
	strbuf_free(&sb);
}

static enum sp_err
challenge(const char *body, enum kbs_hash *h, const char **why)
{
	struct kbs_challenge c;
	enum sp_err rc;

	memset(&c, 0, sizeof(c));
	*why = NULL;
	rc = kbs_wire_parse_challenge(body, strlen(body), &c, why);
	if (rc == SP_OK) {
		assert_non_null(c.nonce);
		*h = c.hash;
	}
	kbs_wire_challenge_free(&c);
	return rc;
}

static void
test_challenge(void **state)
{
	enum kbs_hash h = KBS_HASH_SHA256;
	const char *why;
	char *big;

	(void)state;
	assert_int_equal(
	    challenge("{\"nonce\":\"abc\",\"extra-params\":\"\"}", &h, &why),
	    SP_OK);
	assert_int_equal(h, KBS_HASH_SHA384);
	assert_int_equal(challenge("{\"nonce\":\"abc\"}", &h, &why), SP_OK);
	assert_int_equal(h, KBS_HASH_SHA384);
	assert_int_equal(
	    challenge("{\"nonce\":\"a\",\"extra-params\":{}}", &h, &why),
	    SP_OK);
	assert_int_equal(h, KBS_HASH_SHA384);
	assert_int_equal(challenge("{\"nonce\":\"a\",\"extra-params\":"
				   "{\"selected-hash-algorithm\":\"SHA512\"}}",
				   &h, &why),
			 SP_OK);
	assert_int_equal(h, KBS_HASH_SHA512);
	assert_int_equal(challenge("{\"nonce\":\"a\",\"extra-params\":"
				   "{\"selected-hash-algorithm\":\"sha256\"}}",
				   &h, &why),
			 SP_OK);
	assert_int_equal(h, KBS_HASH_SHA256);

	assert_int_equal(challenge("{\"nonce\":\"a\",\"extra-params\":"
				   "{\"selected-hash-algorithm\":\"sm3\"}}",
				   &h, &why),
			 SP_E_PROTOCOL);
	assert_string_equal(why, "kbs_hash_unsupported");
	assert_int_equal(challenge("{\"nonce\":\"a\",\"extra-params\":"
				   "{\"selected-hash-algorithm\":5}}",
				   &h, &why),
			 SP_E_PROTOCOL);
	assert_int_equal(challenge("{\"nonce\":5}", &h, &why), SP_E_PROTOCOL);
	assert_string_equal(why, "kbs_nonce_missing");
	assert_int_equal(challenge("{\"nonce\":\"\"}", &h, &why),
			 SP_E_PROTOCOL);
	assert_int_equal(challenge("[1]", &h, &why), SP_E_PROTOCOL);
	assert_int_equal(challenge("not json", &h, &why), SP_E_PROTOCOL);
	assert_string_equal(why, "kbs_challenge_malformed");

	big = malloc(KBS_NONCE_MAX + 64);
	assert_non_null(big);
	memset(big, 'A', KBS_NONCE_MAX + 64);
	memcpy(big, "{\"nonce\":\"", 10);
	memcpy(big + KBS_NONCE_MAX + 61, "\"}", 3);
	assert_int_equal(challenge(big, &h, &why), SP_E_PROTOCOL);
	assert_string_equal(why, "kbs_nonce_too_long");
	free(big);
}

static void
test_token(void **state)
{
	struct secret *t = NULL;
	const char *why = NULL;
	const char *ok = "{\"token\":\"eyJhbGciOi.x.y\"}";

	(void)state;
	assert_int_equal(kbs_wire_parse_token(ok, strlen(ok), &t, &why), SP_OK);
	assert_int_equal(t->len, strlen("eyJhbGciOi.x.y"));
	assert_memory_equal(t->data, "eyJhbGciOi.x.y", t->len);
	secret_free(t);
	t = NULL;
	assert_int_equal(kbs_wire_parse_token("{\"token\":\"\"}", 12, &t, &why),
			 SP_E_PROTOCOL);
	assert_int_equal(kbs_wire_parse_token("{\"tok\":\"a\"}", 11, &t, &why),
			 SP_E_PROTOCOL);
	assert_int_equal(kbs_wire_parse_token("{\"token\":1}", 11, &t, &why),
			 SP_E_PROTOCOL);
	assert_null(t);
}

static void
path_ok(const char *uri, const char *want)
{
	char out[KBS_RESOURCE_PATH_MAX];

	assert_int_equal(kbs_wire_resource_path(uri, out, sizeof(out)), SP_OK);
	assert_string_equal(out, want);
}

static void
path_bad(const char *uri)
{
	char out[KBS_RESOURCE_PATH_MAX];

	assert_int_equal(kbs_wire_resource_path(uri, out, sizeof(out)),
			 SP_E_USAGE);
}

static void
test_resource_path(void **state)
{
	char small[8];

	(void)state;
	path_ok("kbs:///default/key/1", "default/key/1");
	path_ok("kbs:///A-z_0/t.y.p.e/-tag.", "A-z_0/t.y.p.e/-tag.");
	path_ok("kbs:///_/_/_", "_/_/_");

	path_bad(NULL);
	path_bad("");
	path_bad("kbs:///a/b");
	path_bad("kbs:///a/b/c/d");
	path_bad("kbs:///a/b/c/");
	path_bad("kbs:///a//c");
	path_bad("kbs:///.a/b/c");
	path_bad("kbs:///a/../c");
	path_bad("kbs:///a/b/c?x=1");
	path_bad("kbs:///a/b/c#f");
	path_bad("kbs:///a/b/c d");
	path_bad("kbs:///a/b/c%2f");
	path_bad("kbs:///a/b/\xc3\xa9");
	path_bad("kbs:a/b/c");
	path_bad("kbs+resource:///a/b/c");
	path_bad("https:///a/b/c");
	path_bad("kbs://host?q/a/b/c");
	/* A host would be ignored, so it is refused (the trial's F10). */
	path_bad("kbs://kbs.example:8080/a/b/c");
	path_bad("kbs://evil.example/models/m/key");
	path_bad("kbs://localhost/a/b/c");
	path_bad("kbs://");
	assert_int_equal(
	    kbs_wire_resource_path("kbs:///abc/def/ghi", small, sizeof(small)),
	    SP_E_USAGE);
}

struct cls {
	enum kbs_step step;
	long status;
	const char *body;
	enum sp_err err;
	const char *reason;
	int rehandshake;
};

#define ERRT "https://github.com/confidential-containers/kbs/errors/"

static const struct cls cls_cases[] = {
    {KBS_STEP_RESOURCE, 401,
     "{\"type\":\"" ERRT "PolicyDeny\",\"detail\":\"Access denied by "
     "policy\"}",
     SP_E_POLICY, "kbs_policy_deny", 0},
    {KBS_STEP_RESOURCE, 401,
     "{\"type\":\"" ERRT "PluginInternalError\",\"detail\":\"Plugin "
     "internal error: resource Not Found\"}",
     SP_E_NOTFOUND, "kbs_resource_not_found", 0},
    {KBS_STEP_RESOURCE, 401,
     "{\"type\":\"" ERRT "PluginInternalError\",\"detail\":\"illegal "
     "ResourceDesc format\"}",
     SP_E_USAGE, "kbs_resource_path_illegal", 0},
    {KBS_STEP_RESOURCE, 401,
     "{\"type\":\"" ERRT "PluginInternalError\",\"detail\":\"disk\"}",
     SP_E_FETCH, "kbs_plugin_error", 0},
    {KBS_STEP_AUTH, 401,
     "{\"type\":\"" ERRT "AttestationError\",\"detail\":\"Attestation "
     "error: RCAR handshake Auth failed: KBS Client Protocol Version "
     "Mismatch: expect =0.4.0 while the request is 0.2.0\"}",
     SP_E_ATTEST, "kbs_version_mismatch", 0},
    {KBS_STEP_ATTEST, 401,
     "{\"type\":\"" ERRT "AttestationError\",\"detail\":\"RCAR "
     "handshake Attest failed\"}",
     SP_E_ATTEST, "kbs_attestation_error", 0},
    {KBS_STEP_RESOURCE, 401,
     "{\"type\":\"" ERRT "TokenNotFound\",\"detail\":\"x\"}", SP_E_ATTEST,
     "kbs_token_not_found", 1},
    {KBS_STEP_ATTEST, 401,
     "{\"type\":\"" ERRT "TokenNotFound\",\"detail\":\"x\"}", SP_E_ATTEST,
     "kbs_token_not_found", 0},
    {KBS_STEP_RESOURCE, 401, "{\"type\":\"" ERRT "TokenVerifierError\"}",
     SP_E_ATTEST, "kbs_token_verifier_error", 1},
    {KBS_STEP_RESOURCE, 401, "{\"type\":\"" ERRT "JweError\"}", SP_E_PROTOCOL,
     "kbs_jwe_error", 0},
    {KBS_STEP_RESOURCE, 401, "{\"type\":\"" ERRT "SomethingNew\"}",
     SP_E_PROTOCOL, "kbs_error_unknown", 0},
    {KBS_STEP_AUTH, 404, "{\"type\":\"" ERRT "PluginNotFound\"}", SP_E_NOTFOUND,
     "kbs_not_found", 0},
    {KBS_STEP_RESOURCE, 404, "", SP_E_NOTFOUND, "kbs_not_found", 0},
    {KBS_STEP_AUTH, 503, "<html>", SP_E_FETCH, "kbs_server_error", 0},
    {KBS_STEP_AUTH, 500, "{\"type\":\"" ERRT "PolicyDeny\"}", SP_E_FETCH,
     "kbs_server_error", 0},
    {KBS_STEP_RESOURCE, 403, "", SP_E_POLICY, "kbs_forbidden", 0},
    {KBS_STEP_AUTH, 401, "not json", SP_E_PROTOCOL, "kbs_reply_unexpected", 0},
    {KBS_STEP_AUTH, 400, "{\"detail\":\"no type\"}", SP_E_PROTOCOL,
     "kbs_reply_unexpected", 0},
    {KBS_STEP_AUTH, 302, "", SP_E_PROTOCOL, "kbs_reply_unexpected", 0},
};

static void
test_classify(void **state)
{
	struct kbs_verdict v;
	struct kbs_error e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cls_cases) / sizeof(cls_cases[0]); i++) {
		const struct cls *c = &cls_cases[i];

		kbs_wire_parse_error(c->body, strlen(c->body), &e);
		kbs_wire_classify(c->step, c->status, &e, &v);
		if (v.err != c->err || strcmp(v.reason, c->reason) != 0 ||
		    v.rehandshake != c->rehandshake) {
			fail_msg("case %zu: got %d %s %d", i, v.err, v.reason,
				 v.rehandshake);
		}
	}
}

static void
test_parse_error_fields(void **state)
{
	struct kbs_error e;
	char body[2048];

	(void)state;
	kbs_wire_parse_error(NULL, 0, &e);
	assert_int_equal(e.parsed, 0);

	snprintf(body, sizeof(body),
		 "{\"type\":\"" ERRT "PolicyDeny\",\"detail\":\"a\\nb\\tc\"}");
	kbs_wire_parse_error(body, strlen(body), &e);
	assert_int_equal(e.parsed, 1);
	assert_string_equal(e.type, "PolicyDeny");
	assert_string_equal(e.detail, "a b c");

	/* An overlong detail is cut, never overflows. */
	memset(body, 0, sizeof(body));
	memcpy(body, "{\"type\":\"X\",\"detail\":\"", 22);
	memset(body + 22, 'd', 1500);
	memcpy(body + 22 + 1500, "\"}", 2);
	kbs_wire_parse_error(body, strlen(body), &e);
	assert_int_equal(e.parsed, 1);
	assert_string_equal(e.type, "X");
	assert_int_equal(strlen(e.detail), KBS_ERROR_DETAIL_MAX - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jwk_vector),
	    cmocka_unit_test(test_canonical_vector),
	    cmocka_unit_test(test_digest_sha384),
	    cmocka_unit_test(test_digest_sha512),
	    cmocka_unit_test(test_sample_evidence),
	    cmocka_unit_test(test_jcs_escaping),
	    cmocka_unit_test(test_runtime_data_odd_nonce),
	    cmocka_unit_test(test_jwk_padding),
	    cmocka_unit_test(test_jwk_wrong_curve),
	    cmocka_unit_test(test_auth_body),
	    cmocka_unit_test(test_attest_body),
	    cmocka_unit_test(test_challenge),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_resource_path),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_parse_error_fields),
	};

	return cmocka_run_group_tests(tests, setup_log, NULL);
}
