/*
 * jwe.c: open a flattened JWE, ECDH-ES+A256KW over P-256 with A256GCM.
 *
 * json_parse() refuses duplicate members, so the KBS and we never read
 * two different headers out of one text.
 *
 * The steps follow RFC 7518 §4.6 with empty apu/apv, which is what the
 * Trustee KBS does (kbs-protocol.md §3.4): Z = ECDH(our key, epk),
 * KEK = Concat KDF SHA-256, CEK = AES-256 key unwrap (RFC 3394),
 * plaintext = AES-256-GCM with AAD = the protected string as received.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "b64.h"
#include "json.h"
#include "jwe.h"

#define JWE_ALG	  "ECDH-ES+A256KW"
#define JWE_ENC	  "A256GCM"
#define JWE_CRV	  "P-256"
#define JWE_GROUP "prime256v1"
/* AES-256 KEK and CEK; an uncompressed point is 0x04 || x || y. */
#define JWE_KEY_LEN	  32
#define JWE_POINT_LEN	  (1 + 2 * JWE_P256_COORD_LEN)
#define JWE_PARSE_ERR_MAX 128

/* Key material of one opening; lives inside a scratch struct secret. */
struct jwe_keys {
	unsigned char z[JWE_P256_COORD_LEN];
	unsigned char kek[JWE_KEY_LEN];
	unsigned char cek[JWE_WRAPPED_KEY_LEN]; /* unwrap may use 40 bytes */
};

/* A JWE after parsing and decoding, before any key is touched. */
struct jwe_msg {
	yajl_val root;
	const char *aad; /* the protected member, verbatim */
	unsigned char x[JWE_P256_COORD_LEN];
	unsigned char y[JWE_P256_COORD_LEN];
	unsigned char ek[JWE_WRAPPED_KEY_LEN];
	unsigned char iv[JWE_IV_LEN];
	unsigned char tag[JWE_TAG_LEN];
	unsigned char *ct;
	size_t ctlen;
};

/* Characters of unpadded base64url for n bytes. */
static size_t
b64url_len(size_t n)
{
	return (n * 4 + 2) / 3;
}

/* Decode a base64url field that must hold exactly n bytes. */
static enum sp_err
decode_fixed(const char *s, unsigned char *out, size_t n, const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	size_t slen;

	slen = strlen(s);
	if (slen != b64url_len(n)) {
		*why = "jwe_bad_length";
		goto out;
	}
	if (b64_decode(s, slen, B64_URL, out, n) != (long)n) {
		*why = "jwe_malformed";
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* The header's epk: an EC P-256 public key, coordinates decoded. */
static enum sp_err
epk_parse(yajl_val epk, struct jwe_msg *m, const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	const char *kty, *crv, *x, *y;

	*why = "jwe_bad_epk";
	if (!YAJL_IS_OBJECT(epk)) {
		goto out;
	}
	kty = json_get_str(epk, "kty");
	crv = json_get_str(epk, "crv");
	x = json_get_str(epk, "x");
	y = json_get_str(epk, "y");
	if (kty == NULL || crv == NULL || x == NULL || y == NULL ||
	    strcmp(kty, "EC") != 0) {
		goto out;
	}
	if (strcmp(crv, JWE_CRV) != 0) {
		*why = "jwe_curve_mismatch";
		goto out;
	}

	rc = decode_fixed(x, m->x, sizeof(m->x), why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = decode_fixed(y, m->y, sizeof(m->y), why);
out:
	return rc;
}

/*
 * The protected header: alg and enc exactly ours, no zip (we would have to
 * inflate attacker-sized data) and no crit (we understand no extension).
 */
static enum sp_err
header_parse(const char *b64, struct jwe_msg *m, const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	unsigned char raw[JWE_PROTECTED_MAX];
	char err[JWE_PARSE_ERR_MAX];
	yajl_val h = NULL;
	const char *alg, *enc;
	long n;

	*why = "jwe_malformed";
	n = b64_decode(b64, strlen(b64), B64_URL, raw, sizeof(raw));
	if (n <= 0) {
		goto out;
	}
	h = json_parse((const char *)raw, (size_t)n, sizeof(raw), err,
		       sizeof(err));
	if (!YAJL_IS_OBJECT(h)) {
		goto out;
	}

	alg = json_get_str(h, "alg");
	enc = json_get_str(h, "enc");
	if (alg == NULL || strcmp(alg, JWE_ALG) != 0) {
		*why = "jwe_unsupported_alg";
		goto out;
	}
	if (enc == NULL || strcmp(enc, JWE_ENC) != 0) {
		*why = "jwe_unsupported_enc";
		goto out;
	}
	if (json_get(h, "zip") != NULL || json_get(h, "crit") != NULL) {
		*why = "jwe_unsupported_header";
		goto out;
	}

	rc = epk_parse(json_get(h, "epk"), m, why);
out:
	yajl_tree_free(h);
	return rc;
}

/* The ciphertext, refused before allocation when it exceeds max. */
static enum sp_err
ciphertext_decode(const char *s, size_t max, struct jwe_msg *m,
		  const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	size_t slen;
	long n;

	slen = strlen(s);
	if (slen * 3 / 4 > max) {
		*why = "jwe_too_large";
		goto out;
	}
	m->ct = malloc(b64_decoded_max(slen) + 1);
	if (m->ct == NULL) {
		*why = "jwe_internal";
		rc = SP_E_INTERNAL;
		goto out;
	}
	n = b64_decode(s, slen, B64_URL, m->ct, b64_decoded_max(slen) + 1);
	if (n < 0) {
		*why = "jwe_malformed";
		goto out;
	}
	m->ctlen = (size_t)n;
	rc = SP_OK;
out:
	return rc;
}

/* The binary members of the flattened serialization. */
static enum sp_err
members_decode(yajl_val root, size_t max, struct jwe_msg *m, const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	const char *ek, *iv, *ct, *tag;

	ek = json_get_str(root, "encrypted_key");
	iv = json_get_str(root, "iv");
	ct = json_get_str(root, "ciphertext");
	tag = json_get_str(root, "tag");
	if (ek == NULL || iv == NULL || ct == NULL || tag == NULL) {
		*why = "jwe_malformed";
		goto out;
	}

	rc = decode_fixed(ek, m->ek, sizeof(m->ek), why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = decode_fixed(iv, m->iv, sizeof(m->iv), why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = decode_fixed(tag, m->tag, sizeof(m->tag), why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = ciphertext_decode(ct, max, m, why);
out:
	return rc;
}

static void
jwe_msg_free(struct jwe_msg *m)
{
	yajl_tree_free(m->root);
	free(m->ct);
	memset(m, 0, sizeof(*m));
}

/* Parse and decode everything; no key is used yet. */
static enum sp_err
jwe_msg_load(const char *json, size_t len, size_t max, struct jwe_msg *m,
	     const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	char err[JWE_PARSE_ERR_MAX];

	*why = "jwe_malformed";
	m->root = json_parse(json, len, JWE_JSON_MAX, err, sizeof(err));
	if (!YAJL_IS_OBJECT(m->root)) {
		goto out;
	}
	/* RFC 7516 §5.1 would fold it into the GCM AAD; the KBS never
	 * sends one, so a message that has it is not for us. */
	if (json_get(m->root, "aad") != NULL) {
		*why = "jwe_aad_unsupported";
		goto out;
	}
	m->aad = json_get_str(m->root, "protected");
	if (m->aad == NULL || strlen(m->aad) > JWE_PROTECTED_MAX) {
		goto out;
	}

	rc = header_parse(m->aad, m, why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = members_decode(m->root, max, m, why);
out:
	return rc;
}

/*
 * The sender's ephemeral key. Building it from the point rejects
 * coordinates off the curve; the explicit check below is the second line
 * against invalid-curve attacks on our static key.
 */
static EVP_PKEY *
epk_load(const struct jwe_msg *m)
{
	unsigned char point[JWE_POINT_LEN];
	char group[] = JWE_GROUP;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY_CTX *check = NULL;
	EVP_PKEY *pk = NULL;

	point[0] = 0x04;
	memcpy(point + 1, m->x, sizeof(m->x));
	memcpy(point + 1 + sizeof(m->x), m->y, sizeof(m->y));
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      point, sizeof(point));
	params[2] = OSSL_PARAM_construct_end();

	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		goto out;
	}
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (check == NULL || EVP_PKEY_public_check(check) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/*
 * Concat KDF (NIST SP 800-56A, RFC 7518 §4.6.2), one SHA-256 round:
 * KEK = SHA256(1 || Z || len(alg) || alg || 0 || 0 || 256).
 */
static enum sp_err
concat_kdf(struct jwe_keys *k)
{
	enum sp_err rc = SP_E_INTERNAL;
	unsigned char counter[4], alglen[4], empty[4], bits[4];
	EVP_MD_CTX *md = NULL;
	unsigned int n = 0;

	put_be32(counter, 1);
	put_be32(alglen, (uint32_t)strlen(JWE_ALG));
	put_be32(empty, 0);
	put_be32(bits, JWE_KEY_LEN * 8);

	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, counter, 4) != 1 ||
	    EVP_DigestUpdate(md, k->z, sizeof(k->z)) != 1 ||
	    EVP_DigestUpdate(md, alglen, 4) != 1 ||
	    EVP_DigestUpdate(md, JWE_ALG, strlen(JWE_ALG)) != 1 ||
	    EVP_DigestUpdate(md, empty, 4) != 1 ||
	    EVP_DigestUpdate(md, empty, 4) != 1 ||
	    EVP_DigestUpdate(md, bits, 4) != 1 ||
	    EVP_DigestFinal_ex(md, k->kek, &n) != 1 || n != JWE_KEY_LEN) {
		goto out;
	}
	rc = SP_OK;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

/* Z = x-coordinate of ECDH(key, peer), then the KEK from it. */
static enum sp_err
derive_kek(EVP_PKEY *key, EVP_PKEY *peer, struct jwe_keys *k)
{
	enum sp_err rc = SP_E_INTERNAL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t zlen = sizeof(k->z);

	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
	    EVP_PKEY_derive(ctx, k->z, &zlen) != 1 || zlen != sizeof(k->z)) {
		goto out;
	}

	rc = concat_kdf(k);
out:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* RFC 3394 unwrap with the default IV; a wrong KEK fails its check. */
static enum sp_err
unwrap_cek(struct jwe_keys *k, const unsigned char *ek, const char **why)
{
	enum sp_err rc = SP_E_INTERNAL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0;

	*why = "jwe_internal";
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		goto out;
	}
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_wrap(), NULL, k->kek, NULL) !=
	    1) {
		goto out;
	}

	if (EVP_DecryptUpdate(ctx, k->cek, &n, ek, JWE_WRAPPED_KEY_LEN) != 1 ||
	    n != JWE_KEY_LEN) {
		*why = "jwe_unwrap_failed";
		rc = SP_E_INTEGRITY;
		goto out;
	}
	rc = SP_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* AES-256-GCM decrypt into pt; the tag is checked in DecryptFinal. */
static enum sp_err
gcm_open(const struct jwe_keys *k, const struct jwe_msg *m, struct secret *pt,
	 const char **why)
{
	enum sp_err rc = SP_E_INTERNAL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0;
	int fin = 0;

	*why = "jwe_internal";
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, JWE_IV_LEN,
				NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, k->cek, m->iv) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)m->aad,
			      (int)strlen(m->aad)) != 1) {
		goto out;
	}
	if (m->ctlen > 0 &&
	    EVP_DecryptUpdate(ctx, pt->data, &n, m->ct, (int)m->ctlen) != 1) {
		goto out;
	}
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, JWE_TAG_LEN,
				(void *)m->tag) != 1) {
		goto out;
	}

	/* GCM writes nothing at the end; the pointer only has to be valid. */
	if (EVP_DecryptFinal_ex(ctx, pt->data + m->ctlen, &fin) != 1) {
		*why = "jwe_tag_mismatch";
		rc = SP_E_INTEGRITY;
		goto out;
	}
	pt->len = m->ctlen;
	rc = SP_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Every step that touches key material, in a wiped scratch secret. */
static enum sp_err
jwe_decrypt(const struct jwe_msg *m, EVP_PKEY *key, struct secret **out,
	    const char **why)
{
	enum sp_err rc = SP_E_INTERNAL;
	struct secret *scratch = NULL;
	struct secret *pt = NULL;
	struct jwe_keys *k;
	EVP_PKEY *peer = NULL;

	*why = "jwe_internal";
	scratch = secret_new(sizeof(*k));
	pt = secret_new(m->ctlen > 0 ? m->ctlen : 1);
	if (scratch == NULL || pt == NULL) {
		goto out;
	}
	k = (struct jwe_keys *)scratch->data;

	peer = epk_load(m);
	if (peer == NULL) {
		*why = "jwe_epk_not_on_curve";
		rc = SP_E_PROTOCOL;
		goto out;
	}
	rc = derive_kek(key, peer, k);
	if (rc != SP_OK) {
		goto out;
	}
	rc = unwrap_cek(k, m->ek, why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = gcm_open(k, m, pt, why);
	if (rc != SP_OK) {
		goto out;
	}

	*out = pt;
	pt = NULL;
out:
	EVP_PKEY_free(peer);
	secret_free(pt);
	secret_free(scratch);
	return rc;
}

enum sp_err
jwe_open(const char *json, size_t len, EVP_PKEY *key, size_t max,
	 struct secret **out, const char **why)
{
	enum sp_err rc = SP_E_INTERNAL;
	struct jwe_msg m;
	const char *reason = "jwe_internal";

	memset(&m, 0, sizeof(m));
	if (json == NULL || key == NULL || max > SECRET_MAX) {
		goto out;
	}
	if (len > JWE_JSON_MAX) {
		reason = "jwe_too_large";
		rc = SP_E_PROTOCOL;
		goto out;
	}

	rc = jwe_msg_load(json, len, max, &m, &reason);
	if (rc != SP_OK) {
		goto out;
	}
	rc = jwe_decrypt(&m, key, out, &reason);
out:
	jwe_msg_free(&m);
	if (rc != SP_OK && why != NULL) {
		*why = reason;
	}
	return rc;
}
