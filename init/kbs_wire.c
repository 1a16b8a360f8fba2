/*
 * kbs_wire.c: RCAR 0.4.0 message encoding and decoding.
 *
 * The runtime-data digest binds the KBS nonce and our key into the
 * evidence, and the KBS recomputes it from what it parsed; one differing
 * byte fails attestation. So the canonical bytes are built here by hand,
 * to the letter of RFC 8785 for the only shapes we need (strings and a
 * fixed set of keys, already in sorted order), rather than by a generic
 * writer with its own escaping habits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "b64.h"
#include "kbs.h"
#include "kbs_wire.h"
#include "utf8.h"

#define KBS_WIRE_COORD_LEN     32 /* P-256 coordinate, padded */
#define KBS_WIRE_GROUP_MAX     64
#define KBS_WIRE_PARSE_ERR_MAX 128
#define KBS_SEG_FIRST                                                          \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
#define KBS_SEG_REST KBS_SEG_FIRST "."

const char *
kbs_wire_hash_name(enum kbs_hash h)
{
	const char *rc = "sha384";

	if (h == KBS_HASH_SHA256) {
		rc = "sha256";
	} else if (h == KBS_HASH_SHA512) {
		rc = "sha512";
	}
	return rc;
}

void
kbs_wire_jwk_xy(struct strbuf *sb, const unsigned char *x,
		const unsigned char *y)
{
	char xs[64];
	char ys[64];

	if (b64_encode(x, KBS_WIRE_COORD_LEN, B64_URL, xs, sizeof(xs)) < 0 ||
	    b64_encode(y, KBS_WIRE_COORD_LEN, B64_URL, ys, sizeof(ys)) < 0) {
		sb->failed = 1;
	} else {
		strbuf_appendf(sb,
			       "{\"alg\":\"ECDH-ES+A256KW\",\"crv\":\"P-256\","
			       "\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
			       xs, ys);
	}
}

/* 1 when key is an EC key on P-256. */
static int
key_is_p256(EVP_PKEY *key)
{
	char group[KBS_WIRE_GROUP_MAX];
	int rc = 0;

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), NULL) == 1) {
		rc = strcmp(group, "prime256v1") == 0;
	}
	return rc;
}

/*
 * BN_bn2binpad, not BN_bn2bin: a coordinate with a leading zero byte
 * (1 key in 128) must still be 32 bytes, or the KBS refuses the JWK.
 */
enum sp_err
kbs_wire_jwk(struct strbuf *sb, EVP_PKEY *key)
{
	enum sp_err rc = SP_E_USAGE;
	unsigned char x[KBS_WIRE_COORD_LEN];
	unsigned char y[KBS_WIRE_COORD_LEN];
	BIGNUM *bx = NULL;
	BIGNUM *by = NULL;

	if (key == NULL || !key_is_p256(key)) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1) {
		goto out;
	}
	if (BN_bn2binpad(bx, x, sizeof(x)) != (int)sizeof(x) ||
	    BN_bn2binpad(by, y, sizeof(y)) != (int)sizeof(y)) {
		goto out;
	}

	kbs_wire_jwk_xy(sb, x, y);
	if (strbuf_ok(sb)) {
		rc = SP_OK;
	}
out:
	BN_free(bx);
	BN_free(by);
	return rc;
}

/* One character of a JCS string (RFC 8785 §3.2.2.2). */
static void
jcs_char(struct strbuf *sb, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = {'\\', 'u', '0', '0', 0, 0};

	if (c == '"' || c == '\\') {
		esc[1] = (char)c;
		strbuf_append(sb, esc, 2);
	} else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' ||
		   c == '\t') {
		esc[1] = c == '\b'   ? 'b'
			 : c == '\f' ? 'f'
			 : c == '\n' ? 'n'
			 : c == '\r' ? 'r'
				     : 't';
		strbuf_append(sb, esc, 2);
	} else if (c < 0x20) {
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 0xf];
		strbuf_append(sb, esc, sizeof(esc));
	} else {
		strbuf_append(sb, &c, 1);
	}
}

int
kbs_wire_jcs_str(struct strbuf *sb, const char *s)
{
	int rc = -1;
	size_t i, n;

	if (s == NULL) {
		sb->failed = 1;
		goto out;
	}
	n = strlen(s);
	if (!utf8_valid((const unsigned char *)s, n)) {
		sb->failed = 1;
		goto out;
	}

	strbuf_append(sb, "\"", 1);
	for (i = 0; i < n; i++) {
		jcs_char(sb, (unsigned char)s[i]);
	}
	strbuf_append(sb, "\"", 1);
	rc = 0;
out:
	return rc;
}

void
kbs_wire_runtime_data(struct strbuf *sb, const char *additional,
		      const char *nonce, const char *jwk)
{
	strbuf_appends(sb, "{\"additional-evidence\":");
	kbs_wire_jcs_str(sb, additional);
	strbuf_appends(sb, ",\"nonce\":");
	kbs_wire_jcs_str(sb, nonce);
	strbuf_appends(sb, ",\"tee-pubkey\":");
	strbuf_appends(sb, jwk);
	strbuf_appends(sb, "}");
}

void
kbs_wire_device_runtime_data(struct strbuf *sb, const char *nonce,
			     const char *jwk)
{
	strbuf_appends(sb, "{\"nonce\":");
	kbs_wire_jcs_str(sb, nonce);
	strbuf_appends(sb, ",\"tee-pubkey\":");
	strbuf_appends(sb, jwk);
	strbuf_appends(sb, "}");
}

enum sp_err
kbs_wire_digest(enum kbs_hash h, const void *buf, size_t len,
		unsigned char *out, size_t *outlen)
{
	enum sp_err rc = SP_E_INTERNAL;
	const EVP_MD *md = EVP_sha384();
	unsigned int n = 0;

	if (h == KBS_HASH_SHA256) {
		md = EVP_sha256();
	} else if (h == KBS_HASH_SHA512) {
		md = EVP_sha512();
	}

	if (EVP_Digest(buf, len, out, &n, md, NULL) != 1 ||
	    n > KBS_DIGEST_MAX) {
		goto out;
	}
	*outlen = n;
	rc = SP_OK;
out:
	return rc;
}

/*
 * We list only SHA-384, the hash every CoCo AS backend uses; a KBS that
 * selects another one anyway is still followed (§1.3).
 */
void
kbs_wire_auth_body(struct strbuf *sb, const char *tee)
{
	strbuf_appends(sb,
		       "{\"version\":\"" KBS_PROTOCOL_VERSION "\",\"tee\":");
	kbs_wire_jcs_str(sb, tee);
	strbuf_appends(sb, ",\"extra-params\":{\"supported-hash-algorithms\":"
			   "[\"sha384\"]}}");
}

void
kbs_wire_attest_body(struct strbuf *sb, const char *nonce, const char *jwk,
		     const char *evidence, const char *additional)
{
	kbs_wire_attest_body_init(sb, nonce, jwk, evidence, additional, NULL);
}

void
kbs_wire_attest_body_init(struct strbuf *sb, const char *nonce, const char *jwk,
			  const char *evidence, const char *additional,
			  const char *init_toml)
{
	if (init_toml == NULL) {
		strbuf_appends(sb, "{\"init-data\":null");
	} else {
		strbuf_appends(sb, "{\"init-data\":{\"body\":");
		kbs_wire_jcs_str(sb, init_toml);
		strbuf_appends(sb, ",\"format\":\"toml\"}");
	}
	strbuf_appends(sb, ",\"runtime-data\":{\"nonce\":");
	kbs_wire_jcs_str(sb, nonce);
	strbuf_appends(sb, ",\"tee-pubkey\":");
	strbuf_appends(sb, jwk);
	strbuf_appends(sb, "},\"tee-evidence\":{\"primary_evidence\":");
	strbuf_appends(sb, evidence);
	strbuf_appends(sb, ",\"additional_evidence\":");
	kbs_wire_jcs_str(sb, additional);
	strbuf_appends(sb, "}}");
}

/*
 * extra-params is usually "", sometimes an object naming the hash; a
 * named hash we do not know is an error, anything else means SHA-384.
 */
static enum sp_err
challenge_hash(yajl_val ep, enum kbs_hash *out, const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	yajl_val sel;
	const char *name;

	*out = KBS_HASH_SHA384;
	sel = json_get(ep, "selected-hash-algorithm");
	if (sel == NULL) {
		rc = SP_OK;
		goto out;
	}
	name = YAJL_GET_STRING(sel);
	if (name == NULL) {
		*why = "kbs_hash_malformed";
		goto out;
	}

	*why = "kbs_hash_unsupported";
	if (strcasecmp(name, "sha384") == 0) {
		rc = SP_OK;
	} else if (strcasecmp(name, "sha256") == 0) {
		*out = KBS_HASH_SHA256;
		rc = SP_OK;
	} else if (strcasecmp(name, "sha512") == 0) {
		*out = KBS_HASH_SHA512;
		rc = SP_OK;
	}
out:
	return rc;
}

/*
 * XXX: a nonce holding an escaped NUL ("\u0000") is cut at the NUL by
 * yajl; the KBS then sees a different nonce and refuses us, which fails
 * closed but with an attestation reason rather than a protocol one.
 */
enum sp_err
kbs_wire_parse_challenge(const char *body, size_t len,
			 struct kbs_challenge *out, const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	char err[KBS_WIRE_PARSE_ERR_MAX];
	yajl_val root = NULL;
	const char *nonce;
	enum kbs_hash hash;

	*why = "kbs_challenge_malformed";
	root = json_parse(body, len, KBS_REPLY_MAX, err, sizeof(err));
	if (!YAJL_IS_OBJECT(root)) {
		goto out;
	}
	nonce = json_get_str(root, "nonce");
	if (nonce == NULL || nonce[0] == '\0') {
		*why = "kbs_nonce_missing";
		goto out;
	}
	if (strlen(nonce) > KBS_NONCE_MAX) {
		*why = "kbs_nonce_too_long";
		goto out;
	}

	rc = challenge_hash(json_get(root, "extra-params"), &hash, why);
	if (rc != SP_OK) {
		goto out;
	}

	out->nonce = strdup(nonce);
	if (out->nonce == NULL) {
		*why = "out_of_memory";
		rc = SP_E_INTERNAL;
		goto out;
	}
	out->hash = hash;
out:
	yajl_tree_free(root);
	return rc;
}

void
kbs_wire_challenge_free(struct kbs_challenge *c)
{
	if (c != NULL) {
		free(c->nonce);
		c->nonce = NULL;
	}
}

enum sp_err
kbs_wire_parse_token(const char *body, size_t len, struct secret **out,
		     const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	char err[KBS_WIRE_PARSE_ERR_MAX];
	yajl_val root = NULL;
	yajl_val tok;
	size_t n = 0;

	*why = "kbs_token_malformed";
	root = json_parse(body, len, KBS_REPLY_MAX, err, sizeof(err));
	tok = json_get(root, "token");
	if (!YAJL_IS_STRING(tok)) {
		goto out;
	}
	n = strlen(tok->u.string);
	if (n == 0 || n > SECRET_MAX) {
		goto out;
	}

	*out = secret_from(tok->u.string, n);
	if (*out == NULL) {
		*why = "out_of_memory";
		rc = SP_E_INTERNAL;
		goto out;
	}
	rc = SP_OK;
out:
	if (YAJL_IS_STRING(tok)) {
		secret_wipe_mem(tok->u.string, strlen(tok->u.string));
	}
	yajl_tree_free(root);
	return rc;
}

/* Copy at most cap-1 bytes of s, control characters made spaces. */
static void
copy_printable(char *dst, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < cap && s[i] != '\0'; i++) {
		dst[i] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
	}
	dst[i] = '\0';
}

void
kbs_wire_parse_error(const char *body, size_t len, struct kbs_error *out)
{
	char err[KBS_WIRE_PARSE_ERR_MAX];
	yajl_val root = NULL;
	const char *type, *detail, *slash;

	memset(out, 0, sizeof(*out));
	if (body == NULL) {
		goto out;
	}
	root = json_parse(body, len, KBS_REPLY_MAX, err, sizeof(err));
	type = json_get_str(root, "type");
	if (type == NULL || type[0] == '\0') {
		goto out;
	}
	slash = strrchr(type, '/');
	copy_printable(out->type, sizeof(out->type),
		       slash != NULL ? slash + 1 : type);
	detail = json_get_str(root, "detail");
	if (detail != NULL) {
		copy_printable(out->detail, sizeof(out->detail), detail);
	}
	out->parsed = 1;
out:
	yajl_tree_free(root);
}

static void
verdict(struct kbs_verdict *v, enum sp_err err, const char *reason)
{
	v->err = err;
	v->reason = reason;
}

/* PluginInternalError covers a missing resource and backend failures. */
static void
classify_plugin(const struct kbs_error *e, struct kbs_verdict *v)
{
	if (strcasestr(e->detail, "not found") != NULL) {
		verdict(v, SP_E_NOTFOUND, "kbs_resource_not_found");
	} else if (strcasestr(e->detail, "illegal") != NULL) {
		verdict(v, SP_E_USAGE, "kbs_resource_path_illegal");
	} else {
		verdict(v, SP_E_FETCH, "kbs_plugin_error");
	}
}

/* Decide on the error type the KBS named (§1.8 table). */
static void
classify_type(enum kbs_step step, const struct kbs_error *e,
	      struct kbs_verdict *v)
{
	const char *t = e->type;

	if (strcmp(t, "PolicyDeny") == 0) {
		verdict(v, SP_E_POLICY, "kbs_policy_deny");
	} else if (strcmp(t, "PluginInternalError") == 0) {
		classify_plugin(e, v);
	} else if (strcmp(t, "PluginNotFound") == 0 ||
		   strcmp(t, "InvalidRequestPath") == 0) {
		verdict(v, SP_E_NOTFOUND, "kbs_plugin_not_found");
	} else if (strcmp(t, "AttestationError") == 0) {
		verdict(v, SP_E_ATTEST,
			strcasestr(e->detail, "version mismatch") != NULL
			    ? "kbs_version_mismatch"
			    : "kbs_attestation_error");
	} else if (strcmp(t, "TokenNotFound") == 0) {
		/* The session expired or landed on another replica (§1.6). */
		verdict(v, SP_E_ATTEST, "kbs_token_not_found");
		v->rehandshake = step == KBS_STEP_RESOURCE;
	} else if (strcmp(t, "TokenVerifierError") == 0) {
		verdict(v, SP_E_ATTEST, "kbs_token_verifier_error");
		v->rehandshake = step == KBS_STEP_RESOURCE;
	} else if (strcmp(t, "JweError") == 0) {
		verdict(v, SP_E_PROTOCOL, "kbs_jwe_error");
	} else {
		verdict(v, SP_E_PROTOCOL, "kbs_error_unknown");
	}
}

/*
 * The KBS answers nearly every failure with 401 and says what it was in
 * the body's type; status alone decides only 5xx and 404.
 */
void
kbs_wire_classify(enum kbs_step step, long status, const struct kbs_error *e,
		  struct kbs_verdict *out)
{
	out->rehandshake = 0;
	if (status >= 500 && status <= 599) {
		verdict(out, SP_E_FETCH, "kbs_server_error");
	} else if (status == 404) {
		verdict(out, SP_E_NOTFOUND, "kbs_not_found");
	} else if (e != NULL && e->parsed) {
		classify_type(step, e, out);
	} else if (status == 403) {
		/* The protocol document's code for a denial (§1.8). */
		verdict(out, SP_E_POLICY, "kbs_forbidden");
	} else {
		verdict(out, SP_E_PROTOCOL, "kbs_reply_unexpected");
	}
}

/* One segment: [A-Za-z0-9_-][A-Za-z0-9_.-]*, n > 0 characters. */
static int
segment_ok(const char *s, size_t n)
{
	/* strchr() finds the NUL of the set too, so NULs are refused first. */
	int ok = n > 0 && s[0] != '\0' && strchr(KBS_SEG_FIRST, s[0]) != NULL;
	size_t i;

	for (i = 1; ok && i < n; i++) {
		ok = s[i] != '\0' && strchr(KBS_SEG_REST, s[i]) != NULL;
	}
	return ok;
}

/* "repo/type/tag": exactly three valid segments. */
static int
path_ok(const char *p)
{
	const char *seg = p;
	const char *slash = p;
	int count = 0;
	int ok = 1;

	while (ok && slash != NULL && count <= 3) {
		slash = strchr(seg, '/');
		ok = segment_ok(seg, slash != NULL ? (size_t)(slash - seg)
						   : strlen(seg));
		count++;
		if (slash != NULL) {
			seg = slash + 1;
		}
	}
	return ok && count == 3 && slash == NULL;
}

enum sp_err
kbs_wire_resource_path(const char *uri, char *out, size_t cap)
{
	enum sp_err rc = SP_E_USAGE;
	const char *host, *path;
	size_t n;

	if (uri == NULL || strnlen(uri, KBS_URI_MAX + 1) > KBS_URI_MAX ||
	    strncmp(uri, "kbs://", 6) != 0) {
		goto out;
	}
	/* No host: a name there would look like a second KBS but be
	 * ignored; the configured kbs.url is the only KBS we talk to. */
	host = uri + 6;
	if (host[0] != '/') {
		goto out;
	}
	path = host + 1;
	if (!path_ok(path)) {
		goto out;
	}

	n = strlen(path);
	if (n >= cap) {
		goto out;
	}
	memcpy(out, path, n + 1);
	rc = SP_OK;
out:
	return rc;
}
