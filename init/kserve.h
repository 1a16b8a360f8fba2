/*
 * kserve.h: `sealpod-init import-kserve`, moving a model encrypted for
 * KServe's confidential model serving into the sealed layout without
 * re-encrypting it by hand (docs/stores.md).
 *
 * KServe encrypts each model file as one JWE in compact serialization
 * (RFC 7516 §7.1): BASE64URL(header) "." BASE64URL(wrapped key) "."
 * BASE64URL(IV) "." BASE64URL(ciphertext) "." BASE64URL(tag), with alg
 * A256KW (the content key wrapped by the 32-byte key-encryption key,
 * RFC 7518 §4.4) and enc A256GCM (§5.3; AAD = the ASCII of the first
 * part). A file counts as encrypted when its name ends in ".jwe" (which
 * the target name drops) or it begins with "eyJ"; other files are plain
 * and are sealed as they are.
 *
 * GCM authenticates the whole file at once, so no plaintext byte may be
 * trusted before the tag at the end verifies. The import streams each
 * file in bounded memory (one sealed segment plus read buffers): the
 * base64url text is decoded and decrypted piece by piece and the
 * plaintext is sealed at once under the model key into a hidden
 * temporary blob; only when the GCM tag verifies is the blob renamed to
 * its digest and entered in the manifest. Otherwise it is removed. No
 * plaintext ever reaches the disk.
 */
#ifndef SEALPOD_KSERVE_H
#define SEALPOD_KSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define KSERVE_KEK_LEN	   32
#define KSERVE_WRAPPED_LEN 40 /* AES key wrap of a 32-byte content key */
#define KSERVE_IV_LEN	   12
#define KSERVE_TAG_LEN	   16
#define KSERVE_HEADER_MAX  8192 /* base64url characters of the header */
#define KSERVE_HEADER_JSON (KSERVE_HEADER_MAX / 4 * 3 + 3)
/* Header, wrapped key and IV with their dots all lie within this. */
#define KSERVE_PREFIX_MAX (KSERVE_HEADER_MAX + 128)
#define KSERVE_JWE_SUFFIX ".jwe"

struct kserve_opts {
	const char *kek_file; /* 32 raw bytes: KServe's key (A256KW KEK) */
	const char *in_dir;   /* the KServe model directory */
	const char *key_file; /* the model key; created (0600) when absent */
	const char *out_dir;  /* receives manifest.sealed and blobs/ */
	uint64_t version;     /* manifest version, default 1 */
	const char *model_id; /* the manifest's "model"; NULL: none */
};

/* The fixed-size parts in front of a JWE's ciphertext. */
struct kserve_jwe_head {
	size_t header_len; /* characters of part 1, the GCM AAD */
	unsigned char wrapped[KSERVE_WRAPPED_LEN];
	unsigned char iv[KSERVE_IV_LEN];
	size_t ct_off; /* where part 4 (the ciphertext) starts */
};

/*
 * Parse the first len bytes of a JWE (at least up to the third dot, at
 * most KSERVE_PREFIX_MAX looked at): a protected header that decodes to
 * a JSON object with "alg":"A256KW" and "enc":"A256GCM" and no "zip" or
 * "crit", a 40-byte wrapped key and a 12-byte IV. Returns SP_OK; or
 * SP_E_USAGE with *why set (a stable reason code).
 */
SP_MUST_CHECK enum sp_err kserve_jwe_head_parse(const char *buf, size_t len,
						struct kserve_jwe_head *h,
						const char **why);

/*
 * Import as described above. Returns SP_OK; SP_E_USAGE for bad options,
 * key files or a malformed or unsupported JWE; SP_E_INTEGRITY when the
 * key unwrap or a GCM tag fails (the wrong KEK, or a damaged file);
 * SP_E_INTERNAL. On failure the blobs written so far stay in out_dir
 * (sealed, harmless) but no manifest is written.
 */
SP_MUST_CHECK enum sp_err kserve_import(const struct kserve_opts *o);

/*
 * Run `import-kserve --kek FILE --in DIR --key KEYFILE --out DIR
 * [--version N] [--model-id ID]` with argv[0] the command name. Returns
 * the exit code.
 */
int kserve_cmd(int argc, char **argv);

#endif
