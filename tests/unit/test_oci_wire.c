/*
 * test_oci_wire.c: OCI references, WWW-Authenticate challenges, image
 * manifests, token replies and Docker config.json lookups
 * (init/source/oci_wire.c), with the shapes the OCI Distribution and
 * Image specifications and Docker's token documentation give.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "secret.h"
#include "source/oci_wire.h"

#define HALF_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_A	HALF_A HALF_A
#define HALF_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_B	HALF_B HALF_B
#define HALF_C	"cccccccccccccccccccccccccccccccc"
#define HEX_C	HALF_C HALF_C
#define DOC_MAX 4096

static enum sp_err
ref(const char *url, struct oci_ref *r)
{
	const char *why = NULL;
	enum sp_err rc = oci_ref_parse(url, r, &why);

	assert_true(rc == SP_OK ? why == NULL : why != NULL);
	return rc;
}

static void
test_ref(void **state)
{
	char url[16 + OCI_TAG_MAX];
	struct oci_ref r;

	(void)state;
	assert_int_equal(ref("oci://reg.example:5000/models/tiny-v2:v3", &r),
			 SP_OK);
	assert_string_equal(r.host, "reg.example:5000");
	assert_string_equal(r.repo, "models/tiny-v2");
	assert_string_equal(r.ref, "v3");
	assert_false(r.by_digest);

	assert_int_equal(ref("oci://[::1]:5000/a__b/c.d@sha256:" HEX_A, &r),
			 SP_OK);
	assert_string_equal(r.host, "[::1]:5000");
	assert_string_equal(r.repo, "a__b/c.d");
	assert_string_equal(r.ref, "sha256:" HEX_A);
	assert_true(r.by_digest);

	/* The longest tag fits (a buffer once held only a digest). */
	memset(url, 'T', sizeof(url));
	memcpy(url, "oci://r/m:", 10);
	url[10 + OCI_TAG_MAX] = '\0';
	assert_int_equal(ref(url, &r), SP_OK);
	assert_int_equal(strlen(r.ref), OCI_TAG_MAX);
	url[10 + OCI_TAG_MAX] = 'T';
	url[11 + OCI_TAG_MAX] = '\0';
	assert_int_equal(ref(url, &r), SP_E_USAGE);

	/* Refusals: the grammar of the distribution spec. */
	assert_int_equal(ref("oci://reg/Models:v1", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg/a..b:v1", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg/a___b:v1", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg/-a:v1", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg/a//b:v1", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg/a/b", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg:5000/a", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg/a:.v1", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg/a:v1/x", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg/a@sha256:" HEX_A "0", &r), SP_E_USAGE);
	assert_int_equal(ref("oci://reg/a@sha512:" HEX_A, &r), SP_E_USAGE);
	assert_int_equal(ref("oci://u:p@reg/a:v1", &r), SP_E_USAGE);
	assert_int_equal(ref("oci:///a:v1", &r), SP_E_USAGE);
}

static void
test_challenge(void **state)
{
	struct oci_challenge c;
	char big[OCI_PARAM_MAX + 64];

	(void)state;
	assert_int_equal(
	    oci_challenge_parse(
		"Bearer realm=\"https://auth.example/token\",service=\"reg."
		"example\",scope=\"repository:a/b:pull\",error=\"x\"",
		&c),
	    SP_OK);
	assert_int_equal(c.scheme, OCI_AUTH_BEARER);
	assert_string_equal(c.realm, "https://auth.example/token");
	assert_string_equal(c.service, "reg.example");
	assert_string_equal(c.scope, "repository:a/b:pull");

	assert_int_equal(
	    oci_challenge_parse("bearer realm=\"https://a/t\\\"q\", service=s",
				&c),
	    SP_OK);
	assert_string_equal(c.realm, "https://a/t\"q");
	assert_string_equal(c.service, "s");

	assert_int_equal(oci_challenge_parse("Basic realm=\"r\"", &c), SP_OK);
	assert_int_equal(c.scheme, OCI_AUTH_BASIC);

	assert_int_equal(oci_challenge_parse("Digest realm=\"r\"", &c),
			 SP_E_PROTOCOL);
	assert_int_equal(oci_challenge_parse("Bearer service=\"s\"", &c),
			 SP_E_PROTOCOL);
	assert_int_equal(
	    oci_challenge_parse(
		"Bearer realm=\"https://a\",realm=\"https://b\"", &c),
	    SP_E_PROTOCOL);
	assert_int_equal(oci_challenge_parse("Bearer realm=\"https://a", &c),
			 SP_E_PROTOCOL);
	memset(big, 'a', sizeof(big));
	memcpy(big, "Bearer realm=", 13);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(oci_challenge_parse(big, &c), SP_E_PROTOCOL);
}

/* A manifest with the given layer descriptors (a JSON array body). */
static char *
manifest(const char *top, const char *layers)
{
	char *doc = malloc(DOC_MAX);

	assert_non_null(doc);
	snprintf(doc, DOC_MAX,
		 "{\"schemaVersion\":2,%s\"config\":{\"mediaType\":"
		 "\"application/vnd.oci.empty.v1+json\",\"digest\":\"sha256:"
		 "%s\",\"size\":2},\"layers\":[%s]}",
		 top, HEX_C, layers);
	return doc;
}

#define LAYER(mt, hex, title)                                                  \
	"{\"mediaType\":\"" mt "\",\"digest\":\"sha256:" hex "\","             \
	"\"size\":12,\"annotations\":{\"org.opencontainers.image.title\":"     \
	"\"" title "\"}}"
#define ORAS "application/vnd.oci.image.layer.v1.tar"

static enum sp_err
parse(const char *top, const char *layers, const char *want_why)
{
	struct oci_layer *l = NULL;
	const char *why = NULL;
	size_t n = 0;
	char *doc = manifest(top, layers);
	enum sp_err rc;

	rc = oci_manifest_parse(doc, strlen(doc), &l, &n, &why);
	if (want_why != NULL) {
		assert_non_null(why);
		assert_string_equal(why, want_why);
	}
	free(l);
	free(doc);
	return rc;
}

static void
test_manifest_ok(void **state)
{
	struct oci_layer *l = NULL;
	const struct oci_layer *f;
	const char *why = NULL;
	size_t n = 0;
	char *doc = manifest("\"mediaType\":\"" OCI_MEDIA_MANIFEST "\",",
			     LAYER(ORAS, HEX_B, "blobs/" HEX_B) "," LAYER(
				 "application/vnd.sealpod.manifest.v1", HEX_A,
				 "manifest.sealed"));

	(void)state;
	assert_int_equal(oci_manifest_parse(doc, strlen(doc), &l, &n, &why),
			 SP_OK);
	assert_int_equal(n, 2);
	/* Sorted by name. */
	assert_string_equal(l[0].name, "blobs/" HEX_B);
	assert_string_equal(l[1].name, "manifest.sealed");
	f = oci_layer_find(l, n, "manifest.sealed");
	assert_non_null(f);
	assert_string_equal(f->digest, "sha256:" HEX_A);
	assert_int_equal(f->size, 12);
	assert_null(oci_layer_find(l, n, "blobs/" HEX_A));
	free(l);
	free(doc);
}

static void
test_manifest_refused(void **state)
{
	(void)state;
	assert_int_equal(parse("\"mediaType\":\"application/vnd.oci.image."
			       "index.v1+json\",",
			       LAYER(ORAS, HEX_A, "manifest.sealed"),
			       "oci_manifest_media_type"),
			 SP_E_PROTOCOL);
	assert_int_equal(parse("\"manifests\":[],",
			       LAYER(ORAS, HEX_A, "manifest.sealed"),
			       "oci_manifest_media_type"),
			 SP_E_PROTOCOL);
	assert_int_equal(parse("", "", "oci_manifest_layers_invalid"),
			 SP_E_PROTOCOL);
	assert_int_equal(parse("",
			       LAYER(ORAS "+gzip", HEX_A, "manifest.sealed"),
			       "oci_layer_media_type"),
			 SP_E_PROTOCOL);
	assert_int_equal(
	    parse("", LAYER(ORAS "+encrypted", HEX_A, "manifest.sealed"),
		  "oci_layer_media_type"),
	    SP_E_PROTOCOL);
	assert_int_equal(
	    parse("", LAYER(ORAS, HEX_A, "../x"), "oci_layer_title_invalid"),
	    SP_E_PROTOCOL);
	assert_int_equal(
	    parse("", LAYER(ORAS, HEX_A, "a") "," LAYER(ORAS, HEX_B, "a"),
		  "oci_layer_title_repeated"),
	    SP_E_PROTOCOL);
	/* A blob layer must be named by its own digest. */
	assert_int_equal(parse("", LAYER(ORAS, HEX_A, "blobs/" HEX_B),
			       "oci_layer_digest_mismatch"),
			 SP_E_INTEGRITY);
	assert_int_equal(
	    parse("",
		  "{\"mediaType\":\"" ORAS "\",\"digest\":\"sha256:" HEX_A
		  "\",\"size\":1,\"urls\":[\"https://x\"],\"annotations\":{"
		  "\"org.opencontainers.image.title\":\"a\"}}",
		  "oci_layer_foreign_urls"),
	    SP_E_PROTOCOL);
	assert_int_equal(parse("",
			       "{\"mediaType\":\"" ORAS
			       "\",\"digest\":\"sha256:" HEX_A
			       "\",\"size\":1,\"annotations\":{"
			       "\"org.opencontainers.image.title\":\"a\","
			       "\"io.deis.oras.content.unpack\":\"true\"}}",
			       "oci_layer_media_type"),
			 SP_E_PROTOCOL);
	assert_int_equal(parse("",
			       "{\"mediaType\":\"" ORAS
			       "\",\"digest\":\"sha256:" HEX_A
			       "\",\"size\":-1,\"annotations\":{"
			       "\"org.opencontainers.image.title\":\"a\"}}",
			       "oci_layer_descriptor_invalid"),
			 SP_E_PROTOCOL);
}

static void
test_manifest_schema(void **state)
{
	struct oci_layer *l = NULL;
	const char *why = NULL;
	size_t n = 0;
	const char *v1 = "{\"schemaVersion\":1,\"layers\":[]}";
	const char *dup = "{\"schemaVersion\":2,\"schemaVersion\":2}";

	(void)state;
	assert_int_equal(oci_manifest_parse(v1, strlen(v1), &l, &n, &why),
			 SP_E_PROTOCOL);
	assert_string_equal(why, "oci_manifest_schema");
	assert_int_equal(oci_manifest_parse(dup, strlen(dup), &l, &n, &why),
			 SP_E_PROTOCOL);
	assert_int_equal(oci_manifest_parse("{", 1, &l, &n, &why),
			 SP_E_PROTOCOL);
	assert_null(l);
}

static void
test_token(void **state)
{
	struct secret *t = NULL;
	const char *a = "{\"token\":\"abc.def\",\"expires_in\":60}";
	const char *b = "{\"access_token\":\"xyz\"}";
	const char *c = "{\"token\":\"has space\"}";
	const char *d = "{\"token\":7}";

	(void)state;
	assert_int_equal(oci_token_parse(a, strlen(a), &t), SP_OK);
	assert_int_equal(t->len, 7);
	assert_memory_equal(t->data, "abc.def", 7);
	secret_free(t);
	assert_int_equal(oci_token_parse(b, strlen(b), &t), SP_OK);
	assert_memory_equal(t->data, "xyz", 3);
	secret_free(t);
	assert_int_equal(oci_token_parse(c, strlen(c), &t), SP_E_PROTOCOL);
	assert_int_equal(oci_token_parse(d, strlen(d), &t), SP_E_PROTOCOL);
}

static void
test_auth_lookup(void **state)
{
	struct secret *s = NULL;
	const char *doc =
	    "{\"auths\":{\"https://reg.example:5000/v1/\":{\"auth\":"
	    "\"dXNlcjpwYXNz\"},\"plain.example\":{\"username\":\"u\","
	    "\"password\":\"p:w\"},\"https://index.docker.io/v1/\":{\"auth\":"
	    "\"aHViOmh1Yg==\"},\"bad.example\":{\"auth\":\"bm9jb2xvbg==\"}},"
	    "\"credsStore\":\"desktop\"}";

	(void)state;
	assert_int_equal(
	    oci_auth_lookup(doc, strlen(doc), "reg.example:5000", &s), SP_OK);
	assert_non_null(s);
	assert_memory_equal(s->data, "dXNlcjpwYXNz", 12);
	secret_free(s);

	/* username and password become base64 of "u:p:w". */
	assert_int_equal(oci_auth_lookup(doc, strlen(doc), "plain.example", &s),
			 SP_OK);
	assert_non_null(s);
	assert_int_equal(s->len, 8);
	assert_memory_equal(s->data, "dTpwOnc=", 8);
	secret_free(s);

	assert_int_equal(oci_auth_lookup(doc, strlen(doc), "docker.io", &s),
			 SP_OK);
	assert_non_null(s);
	secret_free(s);

	assert_int_equal(oci_auth_lookup(doc, strlen(doc), "other.example", &s),
			 SP_OK);
	assert_null(s);

	/* "auth" that is not user:password. */
	assert_int_equal(oci_auth_lookup(doc, strlen(doc), "bad.example", &s),
			 SP_E_USAGE);
	assert_null(s);
	assert_int_equal(oci_auth_lookup("[]", 2, "reg", &s), SP_E_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ref),
	    cmocka_unit_test(test_challenge),
	    cmocka_unit_test(test_manifest_ok),
	    cmocka_unit_test(test_manifest_refused),
	    cmocka_unit_test(test_manifest_schema),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_auth_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
