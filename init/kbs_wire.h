/*
 * kbs_wire.h: the messages of the KBS RCAR protocol 0.4.0 without the
 * transport (kbs-protocol.md §1-§2): request bodies, the canonical
 * runtime data and its digest, reply parsers, the resource URI and the
 * mapping of KBS error replies to our error categories.
 *
 * Pure functions over bytes, so unit tests and fuzz targets reach every
 * parser of KBS input without a network.
 */
#ifndef SEALPOD_KBS_WIRE_H
#define SEALPOD_KBS_WIRE_H

#include <stddef.h>

#include <openssl/evp.h>

#include "err.h"
#include "json.h"
#include "secret.h"

#define KBS_DIGEST_MAX	      64   /* SHA-512 */
#define KBS_JWK_MAX	      512  /* our P-256 JWK is about 160 bytes */
#define KBS_URI_MAX	      1024 /* kbs:///repo/type/tag */
#define KBS_RESOURCE_PATH_MAX KBS_URI_MAX
#define KBS_ERROR_TYPE_MAX    64  /* suffix of the error "type" URL */
#define KBS_ERROR_DETAIL_MAX  256 /* detail kept for the log, truncated */

/* Runtime-data hash algorithms a KBS may select (§1.3, §2.1 step 1). */
enum kbs_hash {
	KBS_HASH_SHA384 = 0, /* the default */
	KBS_HASH_SHA256,
	KBS_HASH_SHA512,
};

/* Lower-case name ("sha384"), for logs. */
const char *kbs_wire_hash_name(enum kbs_hash h);

/*
 * Append the JWK of an EC P-256 public key given as two 32-byte
 * big-endian coordinates, in canonical member order:
 * {"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":..,"y":..}.
 */
void kbs_wire_jwk_xy(struct strbuf *sb, const unsigned char *x,
		     const unsigned char *y);

/*
 * Append the JWK of key (EC P-256), coordinates left-padded to 32 bytes.
 * Returns SP_OK, SP_E_USAGE when key is not P-256, or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err kbs_wire_jwk(struct strbuf *sb, EVP_PKEY *key);

/*
 * Append s as an RFC 8785 (JCS) string literal: only '"', '\' and the
 * control characters are escaped, with the short forms where they exist
 * and lower-case \u00xx otherwise; '/', DEL and non-ASCII pass as they
 * are. Returns 0, or -1 (and marks sb failed) when s is not UTF-8.
 */
int kbs_wire_jcs_str(struct strbuf *sb, const char *s);

/*
 * Append the canonical bytes of the primary runtime data (§2.1 step 2-3):
 * {"additional-evidence":A,"nonce":N,"tee-pubkey":JWK}. jwk must already
 * be canonical (kbs_wire_jwk output). Check strbuf_ok() afterwards.
 */
void kbs_wire_runtime_data(struct strbuf *sb, const char *additional,
			   const char *nonce, const char *jwk);

/*
 * Hash len bytes with h into out (KBS_DIGEST_MAX bytes). Returns SP_OK
 * with *outlen set, or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err kbs_wire_digest(enum kbs_hash h, const void *buf,
					  size_t len, unsigned char *out,
					  size_t *outlen);

/* Append the /auth request body for tee (§1.2). */
void kbs_wire_auth_body(struct strbuf *sb, const char *tee);

/*
 * Append the /attest request body (§1.4): no init-data, runtime data of
 * nonce and jwk, evidence as the primary evidence (a JSON value we
 * produced) and additional as the additional evidence string.
 */
void kbs_wire_attest_body(struct strbuf *sb, const char *nonce, const char *jwk,
			  const char *evidence, const char *additional);

/*
 * kbs_wire_attest_body() with init-data: init_toml NULL sends
 * "init-data":null, otherwise {"format":"toml","body":init_toml}.
 */
void kbs_wire_attest_body_init(struct strbuf *sb, const char *nonce,
			       const char *jwk, const char *evidence,
			       const char *additional, const char *init_toml);

/*
 * Append the canonical device runtime data (§2.1 step 5), the one
 * additional devices bind: {"nonce":N,"tee-pubkey":JWK}, without the
 * additional-evidence key.
 */
void kbs_wire_device_runtime_data(struct strbuf *sb, const char *nonce,
				  const char *jwk);

struct kbs_challenge {
	char *nonce;	    /* malloc'd, opaque, at most KBS_NONCE_MAX */
	enum kbs_hash hash; /* selected-hash-algorithm, else SHA-384 */
};

/*
 * Parse a /auth 200 body. Returns SP_OK and fills out (free with
 * kbs_wire_challenge_free); or SP_E_PROTOCOL with *why a reason code.
 */
SP_MUST_CHECK enum sp_err kbs_wire_parse_challenge(const char *body, size_t len,
						   struct kbs_challenge *out,
						   const char **why);
void kbs_wire_challenge_free(struct kbs_challenge *c);

/*
 * Parse a /attest 200 body {"token": "..."}. Returns SP_OK with the token
 * in a new secret (it is a bearer credential), or SP_E_PROTOCOL with *why
 * set, or SP_E_INTERNAL. The parser's copies of the token are wiped.
 */
SP_MUST_CHECK enum sp_err kbs_wire_parse_token(const char *body, size_t len,
					       struct secret **out,
					       const char **why);

/* An error reply body (§1.8), fields truncated for the log. */
struct kbs_error {
	int parsed;			   /* 1 when the body had a type */
	char type[KBS_ERROR_TYPE_MAX];	   /* "PolicyDeny", ... */
	char detail[KBS_ERROR_DETAIL_MAX]; /* "" when absent */
};

/*
 * Parse {"type": ".../<Variant>", "detail": "..."}. Always fills out;
 * out->parsed says whether a type was found. Control characters in the
 * detail are replaced; it comes from the server and is not a secret.
 */
void kbs_wire_parse_error(const char *body, size_t len, struct kbs_error *out);

/* Which request a reply answers; the mapping differs slightly. */
enum kbs_step { KBS_STEP_AUTH, KBS_STEP_ATTEST, KBS_STEP_RESOURCE };

/* What to do about a non-200 reply. */
struct kbs_verdict {
	enum sp_err err;    /* category to fail with */
	const char *reason; /* stable reason code, e.g. "kbs_policy_deny" */
	int rehandshake;    /* 1: attest again, then retry (tokens only) */
};

/*
 * Map a non-200 reply (status plus parsed error body) to a category
 * (§1.8, §1.9): PolicyDeny is SP_E_POLICY and never retried; a missing
 * resource or 404 is SP_E_NOTFOUND; AttestationError is SP_E_ATTEST (a
 * version mismatch has its own reason); TokenNotFound and
 * TokenVerifierError on a resource ask for one re-handshake; 5xx is
 * SP_E_FETCH; anything unrecognised is SP_E_PROTOCOL.
 */
void kbs_wire_classify(enum kbs_step step, long status,
		       const struct kbs_error *e, struct kbs_verdict *out);

/*
 * Check uri ("kbs:///repo/type/tag": exactly three segments, each
 * [A-Za-z0-9_-][A-Za-z0-9_.-]*, no query) and write "repo/type/tag" into
 * out (cap bytes). A host ("kbs://host/...") is refused: the configured
 * KBS URL is the only KBS we talk to. Returns SP_OK or SP_E_USAGE.
 */
SP_MUST_CHECK enum sp_err kbs_wire_resource_path(const char *uri, char *out,
						 size_t cap);

#endif
