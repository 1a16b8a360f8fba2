/*
 * kbs.h: a Trustee KBS client speaking the RCAR protocol 0.4.0.
 *
 * kbs_attest() runs /auth then /attest with fresh evidence bound to the
 * KBS nonce and an ephemeral EC P-256 key; kbs_get_resource() then fetches
 * resources over the session cookie and opens their JWE
 * (ECDH-ES+A256KW, A256GCM) with that key. The ephemeral key never leaves
 * the process and is freed with the session.
 */
#ifndef SEALPOD_KBS_H
#define SEALPOD_KBS_H

#include "attest.h"
#include "err.h"
#include "gpu.h"
#include "initdata.h"
#include "secret.h"

#define KBS_PROTOCOL_VERSION "0.4.0"
/* Body ceiling of any KBS reply, and of the challenge nonce. */
#define KBS_REPLY_MAX (2 * 1024 * 1024)
#define KBS_NONCE_MAX 4096

struct kbs_session;

struct kbs_opts {
	const char *url;     /* base URL, no trailing slash */
	const char *ca_file; /* may be NULL */
	long timeout_s;	     /* per request */
	const struct attest_provider *provider;
	int allow_http;	  /* 1: accept http:// (kbs.insecure_http) */
	const char *root; /* platform root for evidence; NULL: "" */
	/* Optional init-data: sent, and its register checked first. */
	const struct initdata *init_data;
	enum gpu_mode gpu; /* additional device evidence */
	/* When *cancel turns non-zero (another thread, atomically), the
	 * request in flight aborts within about a second and no retry
	 * follows; NULL: never. */
	const int *cancel;
};

/*
 * Attest: /auth, evidence over the runtime-data digest, /attest. Returns
 * SP_OK and a session; SP_E_FETCH (KBS unreachable), SP_E_ATTEST (evidence
 * refused, version mismatch), SP_E_PROTOCOL (malformed reply). Every
 * failure is logged with the KBS error type when there is one.
 */
SP_MUST_CHECK enum sp_err kbs_attest(const struct kbs_opts *opts,
				     struct kbs_session **out);

/*
 * GET the resource named by uri ("kbs:///repo/type/tag") and decrypt it.
 * At most max bytes of plaintext are accepted. Returns SP_OK with a new
 * secret in *out; SP_E_POLICY, SP_E_NOTFOUND, SP_E_INTEGRITY (JWE failed
 * to authenticate), SP_E_FETCH, SP_E_PROTOCOL or SP_E_USAGE (bad URI).
 */
SP_MUST_CHECK enum sp_err kbs_get_resource(struct kbs_session *s,
					   const char *uri, size_t max,
					   struct secret **out);

/* Wipe the ephemeral key and end the session. NULL is allowed. */
void kbs_session_free(struct kbs_session *s);

#endif
