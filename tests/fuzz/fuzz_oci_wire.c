/*
 * fuzz_oci_wire.c: every parser of registry bytes in oci_wire.c. The
 * first input byte picks the parser ('m' an image manifest, 'c' a
 * WWW-Authenticate value, 't' a token service reply, 'a' a Docker
 * config.json looked up for "registry.example:5000", 'r' an oci://
 * reference); the rest is the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "source.h"
#include "source/oci_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_manifest(const char *p, size_t n)
{
	struct oci_layer *layers = NULL;
	const char *why = NULL;
	size_t count = 0;
	size_t i;

	if (oci_manifest_parse(p, n, &layers, &count, &why) != SP_OK) {
		if (why == NULL && layers != NULL) {
			__builtin_trap();
		}
		return;
	}
	for (i = 0; i < count; i++) {
		if (!source_name_valid(layers[i].name) ||
		    strlen(layers[i].digest) != OCI_DIGEST_LEN ||
		    oci_layer_find(layers, count, layers[i].name) == NULL) {
			__builtin_trap();
		}
	}
	free(layers);
}

static void
fuzz_challenge(const char *s)
{
	struct oci_challenge c;

	if (oci_challenge_parse(s, &c) == SP_OK &&
	    c.scheme == OCI_AUTH_BEARER &&
	    (c.realm[0] == '\0' || strlen(c.realm) > OCI_PARAM_MAX)) {
		__builtin_trap();
	}
}

static void
fuzz_token(const char *p, size_t n)
{
	struct secret *t = NULL;

	if (oci_token_parse(p, n, &t) == SP_OK) {
		if (t == NULL || t->len == 0 || t->len > OCI_TOKEN_MAX) {
			__builtin_trap();
		}
		secret_free(t);
	}
}

static void
fuzz_auth(const char *p, size_t n)
{
	struct secret *b = NULL;

	if (oci_auth_lookup(p, n, "registry.example:5000", &b) == SP_OK) {
		secret_free(b);
	}
}

static void
fuzz_ref(const char *s)
{
	struct oci_ref r;
	const char *why = NULL;

	if (oci_ref_parse(s, &r, &why) == SP_OK &&
	    (r.host[0] == '\0' || r.repo[0] == '\0' || r.ref[0] == '\0')) {
		__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1) {
		return 0;
	}
	s = malloc(size);
	if (s == NULL) {
		return 0;
	}
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0]) {
	case 'm':
		fuzz_manifest(s, size - 1);
		break;
	case 'c':
		fuzz_challenge(s);
		break;
	case 't':
		fuzz_token(s, size - 1);
		break;
	case 'a':
		fuzz_auth(s, size - 1);
		break;
	default:
		fuzz_ref(s);
		break;
	}
	free(s);
	return 0;
}
