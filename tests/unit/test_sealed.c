/*
 * test_sealed.c: the Tink AES-GCM-HKDF streaming codec (common/sealed.c)
 * against Tink's own known-answer vector, round trips over every
 * parameter set, and tampering of every kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "sealed.h"
#include "secret.h"
#include "util.h"

#define KAT_DIR	     SEALPOD_TESTDATA "/tink"
#define KAT_PATH     KAT_DIR "/aes-gcm-hkdf-streaming-vector0.json"
#define KAT_FILE_MAX 65536
#define KAT_BUF_MAX  4096

struct kat {
	struct sealed_params p;
	unsigned char key[64];
	size_t key_len;
	char aad[64];
	char pt[KAT_BUF_MAX];
	size_t pt_len;
	unsigned char ct[KAT_BUF_MAX];
	size_t ct_len;
};

static size_t
hex_field(yajl_val top, const char *name, unsigned char *out, size_t cap)
{
	const char *hex = json_get_str(top, name);
	size_t n;

	assert_non_null(hex);
	n = strlen(hex) / 2;
	assert_true(n <= cap);
	assert_int_equal(hex_decode(hex, strlen(hex), out, n), 0);
	return n;
}

static void
kat_load(struct kat *k)
{
	char err[128];
	char *buf = NULL;
	size_t len = 0;
	yajl_val top;
	uint64_t v = 0;
	const char *s;

	memset(k, 0, sizeof(*k));
	assert_int_equal(file_read_all(KAT_PATH, KAT_FILE_MAX, &buf, &len),
			 SP_OK);
	top = json_parse(buf, len, KAT_FILE_MAX, err, sizeof(err));
	assert_non_null(top);

	assert_int_equal(json_get_u64(top, "derived_key_size", &v), 0);
	k->p.key_len = v;
	assert_int_equal(json_get_u64(top, "ciphertext_segment_size", &v), 0);
	k->p.segment_size = (uint32_t)v;
	s = json_get_str(top, "hkdf_hash");
	assert_non_null(s);
	assert_string_equal(s, "SHA1");
	k->p.hkdf = SEALED_HKDF_SHA1;

	k->key_len = hex_field(top, "key", k->key, sizeof(k->key));
	k->ct_len = hex_field(top, "ciphertext", k->ct, sizeof(k->ct));
	s = json_get_str(top, "associated_data");
	assert_non_null(s);
	assert_true(strlen(s) < sizeof(k->aad));
	memcpy(k->aad, s, strlen(s) + 1);
	s = json_get_str(top, "plaintext");
	assert_non_null(s);
	k->pt_len = strlen(s);
	assert_true(k->pt_len < sizeof(k->pt));
	memcpy(k->pt, s, k->pt_len);

	yajl_tree_free(top);
	free(buf);
}

static void
test_kat_decrypt(void **state)
{
	struct kat k;
	struct secret *key;
	unsigned char *pt = NULL;
	size_t pt_len = 0;
	uint64_t n = 0;

	(void)state;
	kat_load(&k);
	assert_int_equal(sealed_params_check(&k.p), SP_OK);
	assert_int_equal(sealed_header_len(&k.p), 0x18);
	assert_int_equal(k.ct[0], 0x18);
	assert_int_equal(sealed_plaintext_len(&k.p, k.ct_len, &n), 0);
	assert_int_equal(n, k.pt_len);
	key = secret_from(k.key, k.key_len);
	assert_non_null(key);

	assert_int_equal(sealed_decrypt_mem(&k.p, key, k.aad, strlen(k.aad),
					    k.ct, k.ct_len, KAT_BUF_MAX, &pt,
					    &pt_len),
			 SP_OK);
	assert_int_equal(pt_len, k.pt_len);
	assert_memory_equal(pt, k.pt, k.pt_len);
	free(pt);
	secret_free(key);
}

/* Same salt and nonce prefix must give Tink's exact bytes back. */
static void
test_kat_encrypt(void **state)
{
	unsigned char out[KAT_BUF_MAX];
	unsigned char hdr[SEALED_HEADER_MAX];
	struct sealed_ctx *c = NULL;
	struct secret *key;
	struct kat k;
	size_t hdr_len;
	size_t in = 0;
	size_t off;
	size_t n;
	uint32_t idx = 0;
	int last = 0;

	(void)state;
	kat_load(&k);
	key = secret_from(k.key, k.key_len);
	assert_non_null(key);
	hdr_len = sealed_header_len(&k.p);

	assert_int_equal(
	    sealed_encrypt_begin_kat(&k.p, key, k.aad, strlen(k.aad), k.ct + 1,
				     k.ct + 1 + k.p.key_len, hdr, &c),
	    SP_OK);
	memcpy(out, hdr, hdr_len);
	off = hdr_len;
	while (!last) {
		n = sealed_segment_plain_max(c, idx);
		if (n >= k.pt_len - in) {
			n = k.pt_len - in;
			last = 1;
		}
		assert_int_equal(sealed_seal_segment(c, idx, last,
						     (unsigned char *)k.pt + in,
						     n, out + off),
				 SP_OK);
		in += n;
		off += n + SEALED_TAG_LEN;
		idx++;
	}
	assert_int_equal(idx, 3);
	assert_int_equal(off, k.ct_len);
	assert_memory_equal(out, k.ct, k.ct_len);
	sealed_ctx_free(c);
	secret_free(key);
}

static void
test_params(void **state)
{
	struct sealed_params p;
	uint64_t n = 0;

	(void)state;
	sealed_params_default(&p);
	assert_int_equal(sealed_params_check(&p), SP_OK);
	assert_int_equal(p.key_len, 32);
	assert_int_equal(p.segment_size, 1048576);
	assert_int_equal(sealed_header_len(&p), 40);

	/* Empty plaintext: header plus one tag. */
	assert_int_equal(sealed_ciphertext_len(&p, 0, &n), 0);
	assert_int_equal(n, 56);
	/* Exactly one full first segment. */
	assert_int_equal(sealed_ciphertext_len(&p, 1048576 - 56, &n), 0);
	assert_int_equal(n, 1048576);
	assert_int_equal(sealed_ciphertext_len(&p, 1048576 - 55, &n), 0);
	assert_int_equal(n, 1048576 + 1 + 16);

	/* Too many segments. */
	assert_int_equal(sealed_ciphertext_len(&p, UINT64_MAX / 2, &n), -1);

	p.key_len = 24;
	assert_int_equal(sealed_params_check(&p), SP_E_USAGE);
	p.key_len = 16;
	p.segment_size = 16 + 1 + 7 + 16; /* no room for one byte */
	assert_int_equal(sealed_params_check(&p), SP_E_USAGE);
	p.segment_size++;
	assert_int_equal(sealed_params_check(&p), SP_OK);
	p.segment_size = SEALED_SEGMENT_MAX + 1;
	assert_int_equal(sealed_params_check(&p), SP_E_USAGE);
	p.segment_size = 4096;
	p.hkdf = (enum sealed_hkdf)7;
	assert_int_equal(sealed_params_check(&p), SP_E_USAGE);
}

/* ciphertext_len and plaintext_len are inverse; spans add up. */
static void
test_size_math(void **state)
{
	struct sealed_params p = {16, SEALED_HKDF_SHA256, 64};
	uint64_t ct = 0;
	uint64_t pt = 0;
	uint64_t sum;
	uint64_t i;
	uint64_t len;
	size_t seg = 0;
	int last = 0;

	(void)state;
	for (len = 0; len < 1000; len++) {
		assert_int_equal(sealed_ciphertext_len(&p, len, &ct), 0);
		assert_int_equal(sealed_plaintext_len(&p, ct, &pt), 0);
		assert_int_equal(pt, len);
		sum = 0;
		for (i = 0; !last || i == 0; i++) {
			assert_int_equal(
			    sealed_segment_span(&p, ct, i, &seg, &last), 0);
			sum += seg;
			if (last) {
				break;
			}
		}
		last = 0;
		assert_int_equal(sum, ct);
		assert_int_equal(
		    sealed_segment_span(&p, ct, i + 1, &seg, &last), -1);
	}

	/* Shorter than header + tag, or a last segment shorter than a tag. */
	assert_int_equal(sealed_plaintext_len(&p, 39, &pt), -1);
	assert_int_equal(sealed_plaintext_len(&p, 64 + 15, &pt), -1);
	assert_int_equal(sealed_plaintext_len(&p, 64 + 16, &pt), 0);
}

static void
round_trip(const struct sealed_params *p, const struct secret *key, size_t len)
{
	unsigned char *pt = malloc(len + 1);
	unsigned char *ct = NULL;
	unsigned char *back = NULL;
	size_t ct_len = 0;
	size_t back_len = 0;
	uint64_t want = 0;
	size_t i;

	assert_non_null(pt);
	for (i = 0; i < len; i++) {
		pt[i] = (unsigned char)(i * 7 + 3);
	}
	assert_int_equal(
	    sealed_encrypt_mem(p, key, "a/b", 3, pt, len, &ct, &ct_len), SP_OK);
	assert_int_equal(sealed_ciphertext_len(p, len, &want), 0);
	assert_int_equal(ct_len, want);
	assert_int_equal(sealed_decrypt_mem(p, key, "a/b", 3, ct, ct_len, len,
					    &back, &back_len),
			 SP_OK);
	assert_int_equal(back_len, len);
	assert_memory_equal(back, pt, len);
	free(back);

	/* A ceiling below the plaintext is refused before allocating. */
	if (len > 0) {
		assert_int_equal(sealed_decrypt_mem(p, key, "a/b", 3, ct,
						    ct_len, len - 1, &back,
						    &back_len),
				 SP_E_INTEGRITY);
	}
	free(ct);
	free(pt);
}

static void
test_round_trips(void **state)
{
	static const enum sealed_hkdf hashes[] = {
	    SEALED_HKDF_SHA1, SEALED_HKDF_SHA256, SEALED_HKDF_SHA512};
	static const size_t key_lens[] = {16, 32};
	struct sealed_params p;
	struct secret *key;
	unsigned char raw[32];
	size_t h;
	size_t k;
	size_t len;

	(void)state;
	memset(raw, 0x42, sizeof(raw));
	key = secret_from(raw, sizeof(raw));
	assert_non_null(key);
	for (h = 0; h < 3; h++) {
		for (k = 0; k < 2; k++) {
			p.hkdf = hashes[h];
			p.key_len = key_lens[k];
			p.segment_size = 100;
			for (len = 0; len < 400; len++) {
				round_trip(&p, key, len);
			}
		}
	}
	sealed_params_default(&p);
	round_trip(&p, key, 3 * 1048576 + 5);
	secret_free(key);
}

static void
seal_small(const struct sealed_params *p, const struct secret *key, size_t len,
	   unsigned char **ct, size_t *ct_len)
{
	unsigned char pt[512];

	assert_true(len <= sizeof(pt));
	memset(pt, 'x', len);
	assert_int_equal(
	    sealed_encrypt_mem(p, key, "f", 1, pt, len, ct, ct_len), SP_OK);
}

static enum sp_err
open_small(const struct sealed_params *p, const struct secret *key,
	   const char *aad, const unsigned char *ct, size_t ct_len)
{
	unsigned char *pt = NULL;
	size_t pt_len = 0;
	enum sp_err rc;

	rc = sealed_decrypt_mem(p, key, aad, strlen(aad), ct, ct_len, 4096, &pt,
				&pt_len);
	free(pt);
	return rc;
}

/* Every flipped bit, truncation, extension, wrong key or AAD fails. */
static void
test_tamper(void **state)
{
	struct sealed_params p = {32, SEALED_HKDF_SHA256, 80};
	unsigned char raw[32];
	struct secret *key;
	struct secret *other;
	unsigned char *ct = NULL;
	unsigned char big[1024];
	size_t ct_len = 0;
	size_t i;

	(void)state;
	memset(raw, 1, sizeof(raw));
	key = secret_from(raw, sizeof(raw));
	raw[0] ^= 1;
	other = secret_from(raw, sizeof(raw));
	assert_non_null(key);
	assert_non_null(other);
	seal_small(&p, key, 150, &ct, &ct_len);
	assert_int_equal(open_small(&p, key, "f", ct, ct_len), SP_OK);

	for (i = 0; i < ct_len * 8; i++) {
		ct[i / 8] ^= (unsigned char)(1u << (i % 8));
		assert_int_equal(open_small(&p, key, "f", ct, ct_len),
				 SP_E_INTEGRITY);
		ct[i / 8] ^= (unsigned char)(1u << (i % 8));
	}
	for (i = 0; i < ct_len; i++) {
		assert_int_not_equal(open_small(&p, key, "f", ct, i), SP_OK);
	}
	assert_true(ct_len + 10 <= sizeof(big));
	memcpy(big, ct, ct_len);
	memset(big + ct_len, 0, 10);
	for (i = 1; i <= 10; i++) {
		assert_int_not_equal(open_small(&p, key, "f", big, ct_len + i),
				     SP_OK);
	}
	assert_int_equal(open_small(&p, key, "g", ct, ct_len), SP_E_INTEGRITY);
	assert_int_equal(open_small(&p, other, "f", ct, ct_len),
			 SP_E_INTEGRITY);
	free(ct);
	secret_free(key);
	secret_free(other);
}

/* Segments swapped, or a stream cut at a segment boundary, fail. */
static void
test_reorder_and_cut(void **state)
{
	struct sealed_params p = {16, SEALED_HKDF_SHA256, 64};
	unsigned char raw[16];
	unsigned char tmp[64];
	struct secret *key;
	unsigned char *ct = NULL;
	size_t ct_len = 0;

	(void)state;
	memset(raw, 9, sizeof(raw));
	key = secret_from(raw, sizeof(raw));
	assert_non_null(key);
	seal_small(&p, key, 200, &ct, &ct_len);
	assert_true(ct_len > 3 * 64);

	/* Segments 1 and 2 swapped. */
	memcpy(tmp, ct + 64, 64);
	memcpy(ct + 64, ct + 128, 64);
	memcpy(ct + 128, tmp, 64);
	assert_int_equal(open_small(&p, key, "f", ct, ct_len), SP_E_INTEGRITY);
	memcpy(ct + 128, ct + 64, 64);
	memcpy(ct + 64, tmp, 64);
	assert_int_equal(open_small(&p, key, "f", ct, ct_len), SP_OK);

	/* Cut after two whole segments: segment 1 was not sealed as last. */
	assert_int_equal(open_small(&p, key, "f", ct, 128), SP_E_INTEGRITY);

	/* A wrong header length byte. */
	ct[0] ^= 1;
	assert_int_equal(open_small(&p, key, "f", ct, ct_len), SP_E_INTEGRITY);
	free(ct);
	secret_free(key);
}

/* Segments open in any order, from a duplicated context. */
static void
test_dup_random_access(void **state)
{
	struct sealed_params p = {32, SEALED_HKDF_SHA512, 64};
	unsigned char raw[32];
	unsigned char out[64];
	struct sealed_ctx *c = NULL;
	struct sealed_ctx *d = NULL;
	struct secret *key;
	unsigned char *ct = NULL;
	size_t ct_len = 0;
	size_t seg = 0;
	size_t off;
	int last = 0;
	int idx;

	(void)state;
	memset(raw, 5, sizeof(raw));
	key = secret_from(raw, sizeof(raw));
	assert_non_null(key);
	seal_small(&p, key, 300, &ct, &ct_len);
	assert_int_equal(sealed_decrypt_begin(&p, key, "f", 1, ct,
					      sealed_header_len(&p), &c),
			 SP_OK);
	d = sealed_ctx_dup(c);
	assert_non_null(d);
	for (idx = 5; idx >= 1; idx--) {
		assert_int_equal(
		    sealed_segment_span(&p, ct_len, (uint64_t)idx, &seg, &last),
		    0);
		off = (size_t)idx * 64;
		assert_int_equal(sealed_open_segment(idx % 2 ? c : d,
						     (uint32_t)idx, last,
						     ct + off, seg, out),
				 SP_OK);
		assert_int_equal(out[0], 'x');
		/* The wrong last flag fails. */
		assert_int_equal(sealed_open_segment(c, (uint32_t)idx, !last,
						     ct + off, seg, out),
				 SP_E_INTEGRITY);
	}
	/* Decrypt contexts do not seal. */
	assert_int_equal(sealed_seal_segment(c, 0, 1, out, 1, out), SP_E_USAGE);
	sealed_ctx_free(c);
	sealed_ctx_free(d);
	free(ct);
	secret_free(key);
}

static void
test_short_key(void **state)
{
	struct sealed_params p;
	unsigned char raw[16] = {0};
	unsigned char *ct = NULL;
	size_t ct_len = 0;
	struct secret *key;

	(void)state;
	sealed_params_default(&p);
	key = secret_from(raw, sizeof(raw));
	assert_non_null(key);
	assert_int_equal(
	    sealed_encrypt_mem(&p, key, "f", 1, raw, 1, &ct, &ct_len),
	    SP_E_USAGE);
	secret_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kat_decrypt),
	    cmocka_unit_test(test_kat_encrypt),
	    cmocka_unit_test(test_params),
	    cmocka_unit_test(test_size_math),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_tamper),
	    cmocka_unit_test(test_reorder_and_cut),
	    cmocka_unit_test(test_dup_random_access),
	    cmocka_unit_test(test_short_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
