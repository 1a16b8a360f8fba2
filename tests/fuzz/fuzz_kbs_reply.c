/*
 * fuzz_kbs_reply.c: every parser of KBS reply bytes in kbs_wire.c. The
 * first input byte picks the parser (the /auth challenge, the /attest
 * token, an error body with its classification, a resource URI); the
 * rest is the reply.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbs.h"
#include "kbs_wire.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_challenge(const char *p, size_t n)
{
	struct kbs_challenge c;
	const char *why = NULL;

	memset(&c, 0, sizeof(c));
	if (kbs_wire_parse_challenge(p, n, &c, &why) == SP_OK) {
		if (c.nonce == NULL || strlen(c.nonce) > KBS_NONCE_MAX) {
			__builtin_trap();
		}
	}
	kbs_wire_challenge_free(&c);
}

static void
fuzz_token(const char *p, size_t n)
{
	struct secret *t = NULL;
	const char *why = NULL;

	if (kbs_wire_parse_token(p, n, &t, &why) == SP_OK) {
		secret_free(t);
	}
}

static void
fuzz_error(const char *p, size_t n)
{
	struct kbs_verdict v;
	struct kbs_error e;
	enum kbs_step step;

	kbs_wire_parse_error(p, n, &e);
	if (strlen(e.type) >= sizeof(e.type) ||
	    strlen(e.detail) >= sizeof(e.detail)) {
		__builtin_trap();
	}
	for (step = KBS_STEP_AUTH; step <= KBS_STEP_RESOURCE; step++) {
		kbs_wire_classify(step, 401, &e, &v);
		if (v.reason == NULL || v.err == SP_OK) {
			__builtin_trap();
		}
	}
}

static void
fuzz_uri(const char *p, size_t n)
{
	char out[KBS_RESOURCE_PATH_MAX];
	char *s = malloc(n + 1);

	if (s == NULL) {
		return;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	if (kbs_wire_resource_path(s, out, sizeof(out)) == SP_OK &&
	    strlen(out) >= sizeof(out)) {
		__builtin_trap();
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;

	if (size == 0) {
		return 0;
	}
	switch (data[0] % 4) {
	case 0:
		fuzz_challenge(p, size - 1);
		break;
	case 1:
		fuzz_token(p, size - 1);
		break;
	case 2:
		fuzz_error(p, size - 1);
		break;
	default:
		fuzz_uri(p, size - 1);
		break;
	}
	return 0;
}
