/*
 * test_jwe.c: jwe_open() against JWEs built here on an independent path:
 * the AES key wrap is written out from RFC 3394 §2.2.1 over raw AES-ECB
 * (and checked against the RFC's §4.6 vector), the Concat KDF input is
 * assembled as one buffer, base64url comes from OpenSSL's encoder. Only
 * ECDH and AES-GCM are shared primitives.
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
#include <openssl/rand.h>

#include "jwe.h"
#include "log.h"
#include "secret.h"

#define T_ALG	   "ECDH-ES+A256KW"
#define T_JSON_MAX (4 * 1024 * 1024)

/* What to build, and which part to get wrong. */
struct spec {
	const char *alg;
	const char *enc;
	const char *crv;
	const char *kty;
	const char *extra_hdr; /* members appended inside the header */
	int reverse_members;   /* header members in another order */
	int off_curve;	       /* epk y + 1 */
	size_t ek_len;	       /* bytes emitted; 0 = 40 */
	size_t iv_len;	       /* 0 = 12 */
	size_t tag_len;	       /* 0 = 16 */
	int flip_tag;
	int flip_ct;
	int resend_header;     /* send a re-encoded header, same meaning */
	int padded_iv;	       /* base64 '=' padding on iv */
	const char *drop;      /* member left out */
	const char *extra_top; /* raw members appended to the object */
};

static EVP_PKEY *recipient;
static EVP_PKEY *stranger;

/* base64url without padding, malloc'd. */
static char *
b64url(const unsigned char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	size_t i, len;

	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	len = strlen(out);
	while (len > 0 && out[len - 1] == '=') {
		out[--len] = '\0';
	}
	for (i = 0; i < len; i++) {
		if (out[i] == '+') {
			out[i] = '-';
		} else if (out[i] == '/') {
			out[i] = '_';
		}
	}
	return out;
}

static void
aes_ecb(const unsigned char *key, const unsigned char in[16],
	unsigned char out[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0;

	assert_non_null(c);
	assert_int_equal(
	    EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, key, NULL), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	assert_int_equal(EVP_EncryptUpdate(c, out, &n, in, 16), 1);
	assert_int_equal(n, 16);
	EVP_CIPHER_CTX_free(c);
}

/* RFC 3394 §2.2.1, index-based wrapping, for n 64-bit blocks. */
static void
kw_wrap(const unsigned char *kek, const unsigned char *p, size_t n,
	unsigned char *c)
{
	unsigned char a[8], b[16], r[8 * 8];
	uint64_t t;
	size_t i, j, k;

	assert_true(n <= 8);
	memset(a, 0xa6, 8);
	memcpy(r, p, 8 * n);
	for (j = 0; j <= 5; j++) {
		for (i = 1; i <= n; i++) {
			memcpy(b, a, 8);
			memcpy(b + 8, r + 8 * (i - 1), 8);
			aes_ecb(kek, b, b);
			t = (uint64_t)(n * j + i);
			for (k = 0; k < 8; k++) {
				a[k] =
				    b[k] ^ (unsigned char)(t >> (56 - 8 * k));
			}
			memcpy(r + 8 * (i - 1), b + 8, 8);
		}
	}
	memcpy(c, a, 8);
	memcpy(c + 8, r, 8 * n);
}

static void
test_kw_rfc3394_vector(void **state)
{
	/* RFC 3394 §4.6: 256 bits of key data with a 256-bit KEK. */
	static const unsigned char kek[32] = {
	    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
	static const unsigned char key[32] = {
	    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
	    0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
	    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
	static const unsigned char want[40] = {
	    0x28, 0xc9, 0xf4, 0x04, 0xc4, 0xb8, 0x10, 0xf4, 0xcb, 0xcc,
	    0xb3, 0x5c, 0xfb, 0x87, 0xf8, 0x26, 0x3f, 0x57, 0x86, 0xe2,
	    0xd8, 0x0e, 0xd3, 0x26, 0xcb, 0xc7, 0xf0, 0xe7, 0x1a, 0x99,
	    0xf4, 0x3b, 0xfb, 0x98, 0x8b, 0x9b, 0x7a, 0x02, 0xdd, 0x21};
	unsigned char got[40];

	(void)state;
	kw_wrap(kek, key, 4, got);
	assert_memory_equal(got, want, 40);
}

static void
coords(EVP_PKEY *k, unsigned char x[32], unsigned char y[32])
{
	BIGNUM *bx = NULL, *by = NULL;

	assert_int_equal(
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
	assert_int_equal(
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
	assert_int_equal(BN_bn2binpad(bx, x, 32), 32);
	assert_int_equal(BN_bn2binpad(by, y, 32), 32);
	BN_free(bx);
	BN_free(by);
}

/* KEK = SHA-256(1 || Z || 14 || alg || 0 || 0 || 256), one buffer. */
static void
sender_kek(EVP_PKEY *eph, EVP_PKEY *to, unsigned char kek[32])
{
	unsigned char buf[4 + 32 + 4 + 14 + 4 + 4 + 4];
	unsigned char *p = buf;
	EVP_PKEY_CTX *c;
	size_t zlen = 32;
	unsigned int n = 0;

	memcpy(p, "\0\0\0\1", 4);
	p += 4;
	c = EVP_PKEY_CTX_new(eph, NULL);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_derive_init(c), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(c, to), 1);
	assert_int_equal(EVP_PKEY_derive(c, p, &zlen), 1);
	assert_int_equal(zlen, 32);
	EVP_PKEY_CTX_free(c);
	p += 32;
	memcpy(p, "\0\0\0\x0e" T_ALG "\0\0\0\0\0\0\0\0\0\0\x01\0", 30);
	assert_int_equal(
	    EVP_Digest(buf, sizeof(buf), kek, &n, EVP_sha256(), NULL), 1);
}

/* The header JSON as the spec asks for it. */
static void
header_json(const struct spec *s, EVP_PKEY *eph, char *out, size_t cap)
{
	unsigned char x[32], y[32];
	char *xs, *ys;
	BIGNUM *by;

	coords(eph, x, y);
	if (s->off_curve) {
		by = BN_bin2bn(y, 32, NULL);
		BN_add_word(by, 1);
		BN_bn2binpad(by, y, 32);
		BN_free(by);
	}
	xs = b64url(x, 32);
	ys = b64url(y, 32);
	if (s->reverse_members) {
		snprintf(out, cap,
			 "{\"epk\":{\"y\":\"%s\",\"x\":\"%s\",\"kty\":\"%s\","
			 "\"crv\":\"%s\"}%s,\"enc\":\"%s\",\"alg\":\"%s\"}",
			 ys, xs, s->kty, s->crv, s->extra_hdr, s->enc, s->alg);
	} else {
		snprintf(
		    out, cap,
		    "{\"alg\":\"%s\",\"enc\":\"%s\",\"epk\":{\"crv\":\"%s\","
		    "\"kty\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}%s}",
		    s->alg, s->enc, s->crv, s->kty, xs, ys, s->extra_hdr);
	}
	free(xs);
	free(ys);
}

static void
gcm_seal(const unsigned char *cek, const unsigned char *iv, const char *aad,
	 const unsigned char *pt, size_t n, unsigned char *ct,
	 unsigned char tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0;

	assert_non_null(c);
	assert_int_equal(
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, cek, iv), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &len,
					   (const unsigned char *)aad,
					   (int)strlen(aad)),
			 1);
	if (n > 0) {
		assert_int_equal(EVP_EncryptUpdate(c, ct, &len, pt, (int)n), 1);
	}
	assert_int_equal(EVP_EncryptFinal_ex(c, ct + n, &len), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag),
			 1);
	EVP_CIPHER_CTX_free(c);
}

/* Emit n bytes of buf (zero-extended past have) as base64url. */
static char *
field(const unsigned char *buf, size_t have, size_t n)
{
	unsigned char tmp[64] = {0};
	char *rc;

	memcpy(tmp, buf, have < n ? have : n);
	rc = b64url(tmp, n);
	return rc;
}

static void
append_member(char *out, size_t cap, const struct spec *s, const char *name,
	      const char *value)
{
	size_t len = strlen(out);

	if (s->drop != NULL && strcmp(s->drop, name) == 0) {
		return;
	}
	snprintf(out + len, cap - len, "%s\"%s\":\"%s\"", len > 1 ? "," : "",
		 name, value);
}

/* Build a flattened JWE of pt for `to` following s. malloc'd. */
static char *
build(const struct spec *s, EVP_PKEY *to, const unsigned char *pt, size_t n)
{
	unsigned char kek[32], cek[32], ek[40], iv[12], tag[16];
	char hdr[1024], hdr2[1100];
	char *prot, *sent, *e, *i, *t, *c, *out;
	unsigned char *ct = malloc(n + 16);
	char ipad[64];
	size_t cap, len;
	EVP_PKEY *eph;

	assert_non_null(ct);
	eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(eph);
	sender_kek(eph, to, kek);
	assert_int_equal(RAND_bytes(cek, 32), 1);
	assert_int_equal(RAND_bytes(iv, 12), 1);
	kw_wrap(kek, cek, 4, ek);

	header_json(s, eph, hdr, sizeof(hdr));
	prot = b64url((const unsigned char *)hdr, strlen(hdr));
	gcm_seal(cek, iv, prot, pt, n, ct, tag);
	if (s->flip_tag) {
		tag[3] ^= 0x01;
	}
	if (s->flip_ct && n > 0) {
		ct[n / 2] ^= 0x80;
	}
	/* Same members, other bytes: the AAD no longer matches. */
	snprintf(hdr2, sizeof(hdr2), "%s ", hdr);
	sent = s->resend_header
		   ? b64url((const unsigned char *)hdr2, strlen(hdr2))
		   : strdup(prot);

	e = field(ek, 40, s->ek_len ? s->ek_len : 40);
	i = field(iv, 12, s->iv_len ? s->iv_len : 12);
	t = field(tag, 16, s->tag_len ? s->tag_len : 16);
	c = b64url(ct, n);
	cap = strlen(sent) + strlen(c) + 512;
	out = malloc(cap);
	assert_non_null(out);
	snprintf(out, cap, "{");
	append_member(out, cap, s, "protected", sent);
	append_member(out, cap, s, "encrypted_key", e);
	snprintf(ipad, sizeof(ipad), "%s%s", i, s->padded_iv ? "==" : "");
	append_member(out, cap, s, "iv", ipad);
	append_member(out, cap, s, "ciphertext", c);
	append_member(out, cap, s, "tag", t);
	len = strlen(out);
	snprintf(out + len, cap - len, "%s}",
		 s->extra_top != NULL ? s->extra_top : "");

	free(prot);
	free(sent);
	free(e);
	free(i);
	free(t);
	free(c);
	free(ct);
	EVP_PKEY_free(eph);
	return out;
}

static struct spec
good(void)
{
	struct spec s;

	memset(&s, 0, sizeof(s));
	s.alg = T_ALG;
	s.enc = "A256GCM";
	s.crv = "P-256";
	s.kty = "EC";
	s.extra_hdr = "";
	return s;
}

/* Build with s, open with key, expect rc (and reason when failing). */
static void
expect(const struct spec *s, EVP_PKEY *key, size_t n, size_t max,
       enum sp_err want, const char *want_why)
{
	unsigned char *pt = malloc(n + 1);
	struct secret *out = NULL;
	const char *why = NULL;
	enum sp_err rc;
	char *jwe;

	assert_non_null(pt);
	assert_int_equal(RAND_bytes(pt, (int)n + 1), 1);
	jwe = build(s, recipient, pt, n);
	rc = jwe_open(jwe, strlen(jwe), key, max, &out, &why);
	if (rc != want ||
	    (want_why != NULL && (why == NULL || strcmp(why, want_why) != 0))) {
		fail_msg("got %d (%s), want %d (%s)", rc, why ? why : "-", want,
			 want_why ? want_why : "-");
	}
	if (want == SP_OK) {
		assert_non_null(out);
		assert_int_equal(out->len, n);
		assert_memory_equal(out->data, pt, n);
	} else {
		assert_null(out);
	}
	secret_free(out);
	free(jwe);
	free(pt);
}

static void
test_round_trip(void **state)
{
	struct spec s = good();

	(void)state;
	expect(&s, recipient, 32, 4096, SP_OK, NULL);
	expect(&s, recipient, 0, 4096, SP_OK, NULL);
	expect(&s, recipient, 1, 4096, SP_OK, NULL);
	expect(&s, recipient, 200000, 1024 * 1024, SP_OK, NULL);
	/* The header is authenticated as sent, whatever its member order. */
	s.reverse_members = 1;
	expect(&s, recipient, 32, 4096, SP_OK, NULL);
}

static void
test_tag_failures(void **state)
{
	struct spec s = good();

	(void)state;
	s.flip_tag = 1;
	expect(&s, recipient, 32, 4096, SP_E_INTEGRITY, "jwe_tag_mismatch");
	s = good();
	s.flip_ct = 1;
	expect(&s, recipient, 32, 4096, SP_E_INTEGRITY, "jwe_tag_mismatch");
	s = good();
	s.resend_header = 1;
	expect(&s, recipient, 32, 4096, SP_E_INTEGRITY, "jwe_tag_mismatch");
}

static void
test_wrong_key(void **state)
{
	struct spec s = good();

	(void)state;
	expect(&s, stranger, 32, 4096, SP_E_INTEGRITY, "jwe_unwrap_failed");
}

static void
test_epk(void **state)
{
	struct spec s = good();

	(void)state;
	s.crv = "P-384";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_curve_mismatch");
	s = good();
	s.crv = "P-521";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_curve_mismatch");
	s = good();
	s.kty = "OKP";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_bad_epk");
	s = good();
	s.off_curve = 1;
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_epk_not_on_curve");
}

static void
test_lengths(void **state)
{
	struct spec s = good();

	(void)state;
	s.ek_len = 32;
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_bad_length");
	s = good();
	s.ek_len = 48;
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_bad_length");
	s = good();
	s.iv_len = 16;
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_bad_length");
	s = good();
	s.tag_len = 12;
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_bad_length");
	s = good();
	s.padded_iv = 1;
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, NULL);
	s = good();
	expect(&s, recipient, 33, 32, SP_E_PROTOCOL, "jwe_too_large");
}

static void
test_header(void **state)
{
	struct spec s = good();

	(void)state;
	s.alg = "RSA-OAEP-256";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_unsupported_alg");
	s = good();
	s.alg = "ECDH-ES";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_unsupported_alg");
	s = good();
	s.enc = "A128GCM";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_unsupported_enc");
	s = good();
	s.extra_hdr = ",\"zip\":\"DEF\"";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL,
	       "jwe_unsupported_header");
	s = good();
	s.extra_hdr = ",\"crit\":[\"exp\"]";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL,
	       "jwe_unsupported_header");
	s = good();
	s.extra_hdr = ",\"alg\":\"dir\"";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_malformed");
}

static void
test_members(void **state)
{
	static const char *const names[] = {"protected", "encrypted_key", "iv",
					    "ciphertext", "tag"};
	struct spec s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		s = good();
		s.drop = names[i];
		expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_malformed");
	}
}

/* RFC 7516 §5.1 AAD is not what the KBS sends: refused, not ignored. */
static void
test_aad_refused(void **state)
{
	struct spec s = good();

	(void)state;
	s.extra_top = ",\"aad\":\"c2VhbHBvZA\"";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_aad_unsupported");
	s.extra_top = ",\"aad\":\"\"";
	expect(&s, recipient, 32, 4096, SP_E_PROTOCOL, "jwe_aad_unsupported");
	s.extra_top = ",\"unused\":1";
	expect(&s, recipient, 32, 4096, SP_OK, NULL);
}

static void
raw_expect(const char *json, enum sp_err want)
{
	struct secret *out = NULL;
	const char *why = NULL;

	assert_int_equal(
	    jwe_open(json, strlen(json), recipient, 4096, &out, &why), want);
	assert_null(out);
	assert_non_null(why);
}

static void
test_garbage(void **state)
{
	(void)state;
	raw_expect("", SP_E_PROTOCOL);
	raw_expect("null", SP_E_PROTOCOL);
	raw_expect("[]", SP_E_PROTOCOL);
	raw_expect("{\"protected\":5}", SP_E_PROTOCOL);
	raw_expect("{\"protected\":\"!!!\"}", SP_E_PROTOCOL);
	raw_expect("{\"protected\":\"e30\",\"iv\":\"\"}", SP_E_PROTOCOL);
}

static int
setup(void **state)
{
	(void)state;
	log_init("test_jwe", NULL);
	recipient = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	stranger = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return recipient == NULL || stranger == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(recipient);
	EVP_PKEY_free(stranger);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kw_rfc3394_vector),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_tag_failures),
	    cmocka_unit_test(test_wrong_key),
	    cmocka_unit_test(test_epk),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_header),
	    cmocka_unit_test(test_members),
	    cmocka_unit_test(test_aad_refused),
	    cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
