/*
 * sealed.h: Tink AES-GCM-HKDF streaming AEAD, segment by segment.
 *
 * One sealed file is one ciphertext in Tink's format (see
 * docs/sealed-format.md), so files sealed with Google Tink open here and
 * the other way round:
 *
 *	header    = header_len (1 byte) || salt (key_len) || nonce prefix (7)
 *	file key  = HKDF(hash, ikm = main key, salt, info = associated data)
 *	segment i = AES-GCM(file key, nonce = prefix || be32(i) || last,
 *	            no GCM AAD) with a 16-byte tag
 *
 * Every ciphertext segment is segment_size bytes except the last; the
 * first carries the header in front, so it holds header_len fewer bytes of
 * ciphertext. The last segment is found from the total ciphertext length,
 * never from the data. An empty plaintext is one final segment (a tag).
 *
 * A struct sealed_ctx holds the derived key and a reusable EVP context for
 * one file. It is not thread-safe; sealed_ctx_dup() gives each worker its
 * own context over the same file key, and segments are independent, so
 * they can be opened in any order and in parallel.
 */
#ifndef SEALPOD_SEALED_H
#define SEALPOD_SEALED_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "secret.h"

#define SEALED_TAG_LEN	       16
#define SEALED_NONCE_LEN       12
#define SEALED_PREFIX_LEN      7
#define SEALED_KEY_MAX	       32
#define SEALED_HEADER_MAX      (1 + SEALED_KEY_MAX + SEALED_PREFIX_LEN)
#define SEALED_SEGMENT_DEFAULT (1024 * 1024)
/* Ceiling on a segment: the unseal pipeline holds one per worker. */
#define SEALED_SEGMENT_MAX (64 * 1024 * 1024)
/* Tink's limit: segment indices are 32 bits. */
#define SEALED_SEGMENTS_MAX (UINT64_C(1) << 32)

enum sealed_hkdf { SEALED_HKDF_SHA1, SEALED_HKDF_SHA256, SEALED_HKDF_SHA512 };

struct sealed_params {
	size_t key_len;	       /* derived AES key: 16 or 32 bytes */
	enum sealed_hkdf hkdf; /* HKDF hash */
	uint32_t segment_size; /* ciphertext segment, tag included */
};

struct sealed_ctx;

/* sealpod's parameters: AES-256, HKDF-SHA256, 1 MiB segments. */
void sealed_params_default(struct sealed_params *p);

/*
 * Check p against the format's rules: key_len 16 or 32, a known hash,
 * segment_size large enough for the header, one tag and one byte, and at
 * most SEALED_SEGMENT_MAX. Returns SP_OK or SP_E_USAGE.
 */
SP_MUST_CHECK enum sp_err sealed_params_check(const struct sealed_params *p);

/* Header length for p: 1 + key_len + 7. p must be valid. */
size_t sealed_header_len(const struct sealed_params *p);

/*
 * Ciphertext length of a plaintext of pt_len bytes. Returns 0, or -1 when
 * it would need more than SEALED_SEGMENTS_MAX segments. p must be valid.
 */
int sealed_ciphertext_len(const struct sealed_params *p, uint64_t pt_len,
			  uint64_t *out);

/*
 * Plaintext length of a ciphertext of ct_len bytes. Returns 0, or -1 when
 * no well-formed ciphertext has that length. p must be valid.
 */
int sealed_plaintext_len(const struct sealed_params *p, uint64_t ct_len,
			 uint64_t *out);

/*
 * Bytes of ciphertext in segment idx of a ciphertext of ct_len bytes (the
 * header included for segment 0), and whether it is the last. Returns 0,
 * or -1 when idx is past the end or ct_len is malformed.
 */
int sealed_segment_span(const struct sealed_params *p, uint64_t ct_len,
			uint64_t idx, size_t *seg_len, int *last);

/*
 * Start sealing one file under the main key (at least p->key_len bytes)
 * with associated data aad. A fresh random salt and nonce prefix are
 * drawn; the header (sealed_header_len bytes) is written to hdr, which
 * holds SEALED_HEADER_MAX bytes. Returns SP_OK and a context, SP_E_USAGE
 * for bad parameters or a short key, or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err sealed_encrypt_begin(const struct sealed_params *p,
					       const struct secret *key,
					       const void *aad, size_t aad_len,
					       unsigned char *hdr,
					       struct sealed_ctx **out);

/*
 * As sealed_encrypt_begin() with a caller-chosen salt (key_len bytes) and
 * nonce prefix. Reusing them under one key and associated data breaks
 * GCM: this exists for known-answer tests only.
 */
SP_MUST_CHECK enum sp_err sealed_encrypt_begin_kat(
    const struct sealed_params *p, const struct secret *key, const void *aad,
    size_t aad_len, const unsigned char *salt, const unsigned char *prefix,
    unsigned char *hdr, struct sealed_ctx **out);

/*
 * Start opening one file: hdr is the first sealed_header_len bytes of the
 * ciphertext. Returns SP_OK and a context; SP_E_INTEGRITY when the length
 * byte does not match p; SP_E_USAGE or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err
sealed_decrypt_begin(const struct sealed_params *p, const struct secret *key,
		     const void *aad, size_t aad_len, const unsigned char *hdr,
		     size_t hdr_len, struct sealed_ctx **out);

/*
 * Seal plaintext segment idx (pt_len bytes, at most the segment's
 * capacity) into ct, which receives pt_len + SEALED_TAG_LEN bytes. The
 * header is not part of segment 0's output. pt and ct may be the same
 * buffer. Returns SP_OK, SP_E_USAGE (wrong direction, too long) or
 * SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err sealed_seal_segment(struct sealed_ctx *c,
					      uint32_t idx, int last,
					      const unsigned char *pt,
					      size_t pt_len, unsigned char *ct);

/*
 * Open ciphertext segment idx (ct_len bytes including the tag, excluding
 * the header for segment 0) into pt, which receives ct_len -
 * SEALED_TAG_LEN bytes. ct and pt may be the same buffer. Returns SP_OK,
 * or SP_E_INTEGRITY when the tag does not verify (pt then holds garbage
 * the caller must discard), SP_E_USAGE or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err sealed_open_segment(struct sealed_ctx *c,
					      uint32_t idx, int last,
					      const unsigned char *ct,
					      size_t ct_len, unsigned char *pt);

/* Plaintext capacity of segment idx under c's parameters. */
size_t sealed_segment_plain_max(const struct sealed_ctx *c, uint64_t idx);

/*
 * A second context over the same file key, for another thread. Returns
 * NULL on failure.
 */
struct sealed_ctx *sealed_ctx_dup(const struct sealed_ctx *c);

/* Wipe the file key and free. NULL is allowed. */
void sealed_ctx_free(struct sealed_ctx *c);

/*
 * Seal pt_len bytes in memory into a new buffer *ct (*ct_len bytes, the
 * caller frees). Returns SP_OK, SP_E_USAGE or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err
sealed_encrypt_mem(const struct sealed_params *p, const struct secret *key,
		   const void *aad, size_t aad_len, const void *pt,
		   size_t pt_len, unsigned char **ct, size_t *ct_len);

/*
 * Open a whole ciphertext in memory, refusing plaintexts over max bytes
 * before allocating. *pt gets a new buffer with a NUL after the last byte
 * (not counted in *pt_len); the caller wipes and frees it. Returns SP_OK,
 * SP_E_INTEGRITY (malformed, too large, or not authentic), SP_E_USAGE or
 * SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err sealed_decrypt_mem(const struct sealed_params *p,
					     const struct secret *key,
					     const void *aad, size_t aad_len,
					     const void *ct, size_t ct_len,
					     size_t max, unsigned char **pt,
					     size_t *pt_len);

#endif
