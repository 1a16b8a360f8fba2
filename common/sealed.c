/*
 * sealed.c: Tink AES-GCM-HKDF streaming AEAD (see sealed.h and
 * docs/sealed-format.md).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "sealed.h"

struct sealed_ctx {
	struct sealed_params p;
	size_t hdr_len;
	int encrypt;
	unsigned char prefix[SEALED_PREFIX_LEN];
	struct secret *file_key;
	EVP_CIPHER_CTX *evp;
};

void
sealed_params_default(struct sealed_params *p)
{
	p->key_len = 32;
	p->hkdf = SEALED_HKDF_SHA256;
	p->segment_size = SEALED_SEGMENT_DEFAULT;
}

size_t
sealed_header_len(const struct sealed_params *p)
{
	return 1 + p->key_len + SEALED_PREFIX_LEN;
}

enum sp_err
sealed_params_check(const struct sealed_params *p)
{
	enum sp_err rc = SP_E_USAGE;

	if (p->key_len != 16 && p->key_len != 32) {
		goto out;
	}
	if (p->hkdf != SEALED_HKDF_SHA1 && p->hkdf != SEALED_HKDF_SHA256 &&
	    p->hkdf != SEALED_HKDF_SHA512) {
		goto out;
	}

	/* Segment 0 must hold the header, a tag and one plaintext byte. */
	if (p->segment_size < sealed_header_len(p) + SEALED_TAG_LEN + 1 ||
	    p->segment_size > SEALED_SEGMENT_MAX) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

static uint64_t
first_plain(const struct sealed_params *p)
{
	return p->segment_size - sealed_header_len(p) - SEALED_TAG_LEN;
}

int
sealed_ciphertext_len(const struct sealed_params *p, uint64_t pt_len,
		      uint64_t *out)
{
	uint64_t first = first_plain(p);
	uint64_t rest = p->segment_size - SEALED_TAG_LEN;
	uint64_t nseg = 1;
	int rc = -1;

	if (pt_len > first) {
		nseg += (pt_len - first) / rest;
		nseg += (pt_len - first) % rest != 0;
	}
	if (nseg > SEALED_SEGMENTS_MAX) {
		goto out;
	}
	*out = sealed_header_len(p) + pt_len + nseg * SEALED_TAG_LEN;
	rc = 0;
out:
	return rc;
}

/* Number of segments of a ct_len-byte ciphertext, or 0 if malformed. */
static uint64_t
segment_count(const struct sealed_params *p, uint64_t ct_len)
{
	uint64_t nseg = 0;
	uint64_t last_len;

	if (ct_len < sealed_header_len(p) + SEALED_TAG_LEN) {
		goto out;
	}
	nseg = ct_len / p->segment_size + (ct_len % p->segment_size != 0);
	last_len = ct_len - (nseg - 1) * p->segment_size;
	if (nseg > SEALED_SEGMENTS_MAX || last_len < SEALED_TAG_LEN) {
		nseg = 0;
	}
out:
	return nseg;
}

int
sealed_plaintext_len(const struct sealed_params *p, uint64_t ct_len,
		     uint64_t *out)
{
	uint64_t nseg = segment_count(p, ct_len);
	int rc = -1;

	if (nseg == 0) {
		goto out;
	}
	*out = ct_len - sealed_header_len(p) - nseg * SEALED_TAG_LEN;
	rc = 0;
out:
	return rc;
}

int
sealed_segment_span(const struct sealed_params *p, uint64_t ct_len,
		    uint64_t idx, size_t *seg_len, int *last)
{
	uint64_t nseg = segment_count(p, ct_len);
	int rc = -1;

	if (nseg == 0 || idx >= nseg) {
		goto out;
	}
	*last = idx == nseg - 1;
	if (*last) {
		*seg_len = (size_t)(ct_len - idx * p->segment_size);
	} else {
		*seg_len = p->segment_size;
	}
	rc = 0;
out:
	return rc;
}

size_t
sealed_segment_plain_max(const struct sealed_ctx *c, uint64_t idx)
{
	size_t cap = c->p.segment_size - SEALED_TAG_LEN;

	if (idx == 0) {
		cap = (size_t)first_plain(&c->p);
	}
	return cap;
}

static const char *
hkdf_digest(enum sealed_hkdf h)
{
	const char *name = "";

	switch (h) {
	case SEALED_HKDF_SHA1:
		name = "SHA1";
		break;
	case SEALED_HKDF_SHA256:
		name = "SHA256";
		break;
	case SEALED_HKDF_SHA512:
		name = "SHA512";
		break;
	}
	return name;
}

/* file key = HKDF(hash, ikm = main key, salt, info = associated data). */
static enum sp_err
derive_file_key(const struct sealed_params *p, const struct secret *key,
		const unsigned char *salt, const void *aad, size_t aad_len,
		struct secret **out)
{
	static const unsigned char empty[1];
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	struct secret *fk = NULL;
	OSSL_PARAM params[5];
	enum sp_err rc = SP_E_INTERNAL;

	fk = secret_new(p->key_len);
	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	if (fk == NULL || kdf == NULL) {
		goto out;
	}
	kctx = EVP_KDF_CTX_new(kdf);
	if (kctx == NULL) {
		goto out;
	}

	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_KDF_PARAM_DIGEST, (char *)hkdf_digest(p->hkdf), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      key->data, key->len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						      (void *)salt, p->key_len);
	params[3] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_INFO, aad_len > 0 ? (void *)aad : (void *)empty,
	    aad_len);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, fk->data, p->key_len, params) != 1) {
		goto out;
	}
	fk->len = p->key_len;

	*out = fk;
	fk = NULL;
	rc = SP_OK;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	secret_free(fk);
	return rc;
}

/* Set up the reusable AES-GCM context; only the nonce changes later. */
static enum sp_err
cipher_init(struct sealed_ctx *c)
{
	const EVP_CIPHER *cipher;
	enum sp_err rc = SP_E_INTERNAL;

	cipher = c->p.key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
	c->evp = EVP_CIPHER_CTX_new();
	if (c->evp == NULL) {
		goto out;
	}
	if (EVP_CipherInit_ex(c->evp, cipher, NULL, c->file_key->data, NULL,
			      c->encrypt) != 1) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

void
sealed_ctx_free(struct sealed_ctx *c)
{
	if (c == NULL) {
		return;
	}
	EVP_CIPHER_CTX_free(c->evp);
	secret_free(c->file_key);
	secret_wipe_mem(c, sizeof(*c));
	free(c);
}

static enum sp_err
ctx_new(const struct sealed_params *p, const struct secret *key,
	const void *aad, size_t aad_len, const unsigned char *salt,
	const unsigned char *prefix, int encrypt, struct sealed_ctx **out)
{
	struct sealed_ctx *c = NULL;
	enum sp_err rc = SP_E_USAGE;

	if (sealed_params_check(p) != SP_OK || key == NULL ||
	    key->len < p->key_len || (aad == NULL && aad_len > 0)) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		goto out;
	}
	c->p = *p;
	c->hdr_len = sealed_header_len(p);
	c->encrypt = encrypt;
	memcpy(c->prefix, prefix, SEALED_PREFIX_LEN);

	rc = derive_file_key(p, key, salt, aad, aad_len, &c->file_key);
	if (rc != SP_OK) {
		goto out;
	}

	rc = cipher_init(c);
	if (rc != SP_OK) {
		goto out;
	}
	*out = c;
	c = NULL;
out:
	sealed_ctx_free(c);
	return rc;
}

static void
write_header(const struct sealed_params *p, const unsigned char *salt,
	     const unsigned char *prefix, unsigned char *hdr)
{
	hdr[0] = (unsigned char)sealed_header_len(p);
	memcpy(hdr + 1, salt, p->key_len);
	memcpy(hdr + 1 + p->key_len, prefix, SEALED_PREFIX_LEN);
}

enum sp_err
sealed_encrypt_begin_kat(const struct sealed_params *p,
			 const struct secret *key, const void *aad,
			 size_t aad_len, const unsigned char *salt,
			 const unsigned char *prefix, unsigned char *hdr,
			 struct sealed_ctx **out)
{
	enum sp_err rc;

	rc = ctx_new(p, key, aad, aad_len, salt, prefix, 1, out);
	if (rc != SP_OK) {
		goto out;
	}
	write_header(p, salt, prefix, hdr);
out:
	return rc;
}

enum sp_err
sealed_encrypt_begin(const struct sealed_params *p, const struct secret *key,
		     const void *aad, size_t aad_len, unsigned char *hdr,
		     struct sealed_ctx **out)
{
	unsigned char salt[SEALED_KEY_MAX];
	unsigned char prefix[SEALED_PREFIX_LEN];
	enum sp_err rc = SP_E_USAGE;

	if (sealed_params_check(p) != SP_OK) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	if (RAND_bytes(salt, (int)p->key_len) != 1 ||
	    RAND_bytes(prefix, sizeof(prefix)) != 1) {
		goto out;
	}

	rc = sealed_encrypt_begin_kat(p, key, aad, aad_len, salt, prefix, hdr,
				      out);
out:
	return rc;
}

enum sp_err
sealed_decrypt_begin(const struct sealed_params *p, const struct secret *key,
		     const void *aad, size_t aad_len, const unsigned char *hdr,
		     size_t hdr_len, struct sealed_ctx **out)
{
	enum sp_err rc = SP_E_USAGE;

	if (sealed_params_check(p) != SP_OK) {
		goto out;
	}

	rc = SP_E_INTEGRITY;
	if (hdr_len != sealed_header_len(p) || hdr[0] != hdr_len) {
		goto out;
	}

	rc = ctx_new(p, key, aad, aad_len, hdr + 1, hdr + 1 + p->key_len, 0,
		     out);
out:
	return rc;
}

struct sealed_ctx *
sealed_ctx_dup(const struct sealed_ctx *c)
{
	struct sealed_ctx *d = NULL;
	struct sealed_ctx *ret = NULL;

	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		goto out;
	}
	d->p = c->p;
	d->hdr_len = c->hdr_len;
	d->encrypt = c->encrypt;
	memcpy(d->prefix, c->prefix, sizeof(d->prefix));
	d->file_key = secret_from(c->file_key->data, c->file_key->len);
	if (d->file_key == NULL || cipher_init(d) != SP_OK) {
		goto out;
	}
	ret = d;
	d = NULL;
out:
	sealed_ctx_free(d);
	return ret;
}

/* nonce = prefix (7) || be32(idx) || last (1). */
static void
segment_nonce(const struct sealed_ctx *c, uint32_t idx, int last,
	      unsigned char *nonce)
{
	memcpy(nonce, c->prefix, SEALED_PREFIX_LEN);
	nonce[7] = (unsigned char)(idx >> 24);
	nonce[8] = (unsigned char)(idx >> 16);
	nonce[9] = (unsigned char)(idx >> 8);
	nonce[10] = (unsigned char)idx;
	nonce[11] = last ? 1 : 0;
}

enum sp_err
sealed_seal_segment(struct sealed_ctx *c, uint32_t idx, int last,
		    const unsigned char *pt, size_t pt_len, unsigned char *ct)
{
	unsigned char nonce[SEALED_NONCE_LEN];
	int n = 0;
	enum sp_err rc = SP_E_USAGE;

	if (!c->encrypt || pt_len > sealed_segment_plain_max(c, idx)) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	segment_nonce(c, idx, last, nonce);
	if (EVP_CipherInit_ex(c->evp, NULL, NULL, NULL, nonce, 1) != 1) {
		goto out;
	}
	if (pt_len > 0 &&
	    EVP_CipherUpdate(c->evp, ct, &n, pt, (int)pt_len) != 1) {
		goto out;
	}
	if (EVP_CipherFinal_ex(c->evp, ct + n, &n) != 1) {
		goto out;
	}
	if (EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_GCM_GET_TAG, SEALED_TAG_LEN,
				ct + pt_len) != 1) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
sealed_open_segment(struct sealed_ctx *c, uint32_t idx, int last,
		    const unsigned char *ct, size_t ct_len, unsigned char *pt)
{
	unsigned char nonce[SEALED_NONCE_LEN];
	unsigned char tag[SEALED_TAG_LEN];
	size_t body;
	int n = 0;
	enum sp_err rc = SP_E_USAGE;

	if (c->encrypt || ct_len < SEALED_TAG_LEN ||
	    ct_len - SEALED_TAG_LEN > sealed_segment_plain_max(c, idx)) {
		goto out;
	}
	body = ct_len - SEALED_TAG_LEN;

	/* Keep the tag aside: decrypting in place overwrites nothing past
	 * body, but pt may alias ct. */
	memcpy(tag, ct + body, SEALED_TAG_LEN);

	rc = SP_E_INTERNAL;
	segment_nonce(c, idx, last, nonce);
	if (EVP_CipherInit_ex(c->evp, NULL, NULL, NULL, nonce, 0) != 1) {
		goto out;
	}
	if (body > 0 && EVP_CipherUpdate(c->evp, pt, &n, ct, (int)body) != 1) {
		goto out;
	}
	if (EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_GCM_SET_TAG, SEALED_TAG_LEN,
				tag) != 1) {
		goto out;
	}

	rc = SP_E_INTEGRITY;
	if (EVP_CipherFinal_ex(c->evp, pt + n, &n) != 1) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
sealed_encrypt_mem(const struct sealed_params *p, const struct secret *key,
		   const void *aad, size_t aad_len, const void *pt,
		   size_t pt_len, unsigned char **ct, size_t *ct_len)
{
	struct sealed_ctx *c = NULL;
	unsigned char *buf = NULL;
	uint64_t total = 0;
	size_t in = 0;
	size_t off;
	size_t n;
	uint32_t idx = 0;
	int last = 0;
	enum sp_err rc = SP_E_USAGE;

	if (sealed_params_check(p) != SP_OK ||
	    sealed_ciphertext_len(p, pt_len, &total) != 0 || total > SIZE_MAX) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	buf = malloc((size_t)total);
	if (buf == NULL) {
		goto out;
	}

	rc = sealed_encrypt_begin(p, key, aad, aad_len, buf, &c);
	if (rc != SP_OK) {
		goto out;
	}

	off = sealed_header_len(p);
	while (!last) {
		n = sealed_segment_plain_max(c, idx);
		if (n >= pt_len - in) {
			n = pt_len - in;
			last = 1;
		}
		rc = sealed_seal_segment(
		    c, idx, last, (const unsigned char *)pt + in, n, buf + off);
		if (rc != SP_OK) {
			goto out;
		}
		in += n;
		off += n + SEALED_TAG_LEN;
		idx++;
	}

	*ct = buf;
	*ct_len = off;
	buf = NULL;
	rc = SP_OK;
out:
	free(buf);
	sealed_ctx_free(c);
	return rc;
}

enum sp_err
sealed_decrypt_mem(const struct sealed_params *p, const struct secret *key,
		   const void *aad, size_t aad_len, const void *ct,
		   size_t ct_len, size_t max, unsigned char **pt,
		   size_t *pt_len)
{
	const unsigned char *in = ct;
	struct sealed_ctx *c = NULL;
	unsigned char *buf = NULL;
	uint64_t plain = 0;
	size_t hdr_len;
	size_t seg_len;
	size_t off;
	size_t out_off = 0;
	uint64_t idx;
	int last = 0;
	enum sp_err rc = SP_E_USAGE;

	if (sealed_params_check(p) != SP_OK) {
		goto out;
	}
	hdr_len = sealed_header_len(p);

	rc = SP_E_INTEGRITY;
	if (sealed_plaintext_len(p, ct_len, &plain) != 0 || plain > max) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	buf = malloc((size_t)plain + 1);
	if (buf == NULL) {
		goto out;
	}

	rc = sealed_decrypt_begin(p, key, aad, aad_len, in, hdr_len, &c);
	if (rc != SP_OK) {
		goto out;
	}

	off = hdr_len;
	for (idx = 0; !last; idx++) {
		if (sealed_segment_span(p, ct_len, idx, &seg_len, &last) != 0) {
			rc = SP_E_INTEGRITY;
			goto out;
		}
		if (idx == 0) {
			seg_len -= hdr_len;
		}
		rc = sealed_open_segment(c, (uint32_t)idx, last, in + off,
					 seg_len, buf + out_off);
		if (rc != SP_OK) {
			goto out;
		}
		off += seg_len;
		out_off += seg_len - SEALED_TAG_LEN;
	}
	buf[out_off] = '\0';

	*pt = buf;
	*pt_len = out_off;
	buf = NULL;
	rc = SP_OK;
out:
	if (buf != NULL) {
		secret_wipe_mem(buf, (size_t)plain + 1);
		free(buf);
	}
	sealed_ctx_free(c);
	return rc;
}
