/*
 * manifest.h: the list of sealed files (docs/sealed-format.md).
 *
 * The manifest is JSON, sealed like every other file with associated
 * data MANIFEST_AAD and stored as MANIFEST_NAME:
 *
 *	{"format": "sealpod/1", "version": N, "model": "<id>",
 *	 "files": [{"path": "dir/file", "size": N, "blob": "<sha256 hex>"}]}
 *
 * "size" is the plaintext length, "blob" the SHA-256 of the sealed bytes
 * (the blob's name under blobs/). A file entry may carry "segment_size"
 * when it was sealed with other than 1 MiB segments, and "header", the
 * blob's Tink header in base64 (seal and import-kserve write it; older
 * seals did not): it pins the salt and nonce prefix, so unseal can skip
 * the blob's SHA-256 (docs/sealed-format.md, "Why the header replaces
 * the digest"). "model" is optional: the owner's opaque model identity
 * (seal --model-id), which a pod can pin so that another model sealed
 * under the same key is refused. Unknown or repeated keys are refused.
 * After parsing, files are in canonical order (byte order with '/'
 * sorting before every other byte), which is also the order seal writes
 * them in.
 */
#ifndef SEALPOD_MANIFEST_H
#define SEALPOD_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "json.h"
#include "sealed.h"

#define MANIFEST_FORMAT	  "sealpod/1"
#define MANIFEST_AAD	  "sealpod-manifest"
#define MANIFEST_NAME	  "manifest.sealed"
#define MANIFEST_BLOB_DIR "blobs"
/* Ceilings on what a manifest may describe. */
#define MANIFEST_MAX	       (16 * 1024 * 1024) /* JSON bytes */
#define MANIFEST_FILES_MAX     65536
#define MANIFEST_PATH_MAX      4096 /* bytes of one path */
#define MANIFEST_COMPONENT_MAX 255  /* bytes of one path component */
#define MANIFEST_DEPTH_MAX     64   /* components of one path */
#define MANIFEST_BLOB_HEX      64   /* lower-case hex SHA-256 */
/* "model": 1 to MANIFEST_MODEL_ID_MAX of [A-Za-z0-9._-]. */
#define MANIFEST_MODEL_ID_MAX	  128
#define MANIFEST_MODEL_ID_STR_(n) #n
#define MANIFEST_MODEL_ID_STR(n)  MANIFEST_MODEL_ID_STR_(n)
/* The rule in words, for usage errors (follows MANIFEST_MODEL_ID_MAX). */
#define MANIFEST_MODEL_ID_RULE                                                 \
	"--model-id needs 1-" MANIFEST_MODEL_ID_STR(                           \
	    MANIFEST_MODEL_ID_MAX) " characters of A-Za-z0-9._-"
/* Top-level names starting with this are sealpod's own in the target. */
#define MANIFEST_RESERVED_PREFIX ".sealpod-"

struct manifest_file {
	char *path;			  /* relative, '/'-separated */
	uint64_t size;			  /* plaintext bytes */
	char blob[MANIFEST_BLOB_HEX + 1]; /* NUL-terminated */
	uint32_t segment_size;		  /* ciphertext segment size */
	/* The blob's first header_len bytes, as sealed; header_len 0: the
	 * manifest does not say (an older seal, or Tink by hand). */
	unsigned char header[SEALED_HEADER_MAX];
	size_t header_len;
};

struct manifest {
	uint64_t version;
	/* The owner's model identity, NUL-terminated; "": none given. */
	char model[MANIFEST_MODEL_ID_MAX + 1];
	size_t nfiles;
	size_t cap;
	struct manifest_file *files;
	uint64_t total_size; /* sum of sizes, set by manifest_check() */
};

/*
 * Check one relative path: non-empty, at most MANIFEST_PATH_MAX bytes and
 * MANIFEST_DEPTH_MAX components of at most MANIFEST_COMPONENT_MAX bytes,
 * no leading or trailing '/', no empty, "." or ".." component, valid
 * UTF-8 without control characters, not "sealpod-manifest" (the
 * manifest's own associated data) and no first component starting with
 * MANIFEST_RESERVED_PREFIX. Returns NULL when valid, else a stable reason
 * code naming the rule (safe to log: it never contains the path).
 */
const char *manifest_path_check(const char *path);

/*
 * Check a model identity: 1 to MANIFEST_MODEL_ID_MAX characters of
 * [A-Za-z0-9._-]. Returns NULL when valid, else "model_id_invalid"
 * (safe to log: it never contains the identity).
 */
const char *manifest_model_id_check(const char *id);

/*
 * Set the manifest's model identity (copied), or clear it with NULL.
 * Returns SP_OK, or SP_E_USAGE when id breaks manifest_model_id_check().
 */
SP_MUST_CHECK enum sp_err manifest_set_model(struct manifest *m,
					     const char *id);

/*
 * Whether m names the model want, for a pod that pins one: want NULL
 * accepts any manifest, with or without "model"; otherwise "model" must
 * be present and equal want byte for byte (not a secret, so a plain
 * compare). Returns 1 on a match, else 0.
 */
int manifest_model_matches(const struct manifest *m, const char *want);

/* A new empty manifest of the given version, or NULL. */
struct manifest *manifest_new(uint64_t version);

/*
 * Append a copy of an entry. segment_size 0 means the default. The entry
 * is validated by manifest_check(), not here. Returns SP_OK, SP_E_USAGE
 * beyond MANIFEST_FILES_MAX entries, or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err manifest_add(struct manifest *m, const char *path,
				       uint64_t size, const char *blob_hex,
				       uint32_t segment_size);

/*
 * Record the Tink header (len bytes, at most SEALED_HEADER_MAX) of the
 * entry added last, for "header". manifest_check() judges it against the
 * entry's parameters. Returns SP_OK, or SP_E_USAGE when there is no
 * entry or len is out of bounds.
 */
SP_MUST_CHECK enum sp_err
manifest_set_header(struct manifest *m, const unsigned char *hdr, size_t len);

/*
 * Validate the model identity when set, and every entry (path rules,
 * blob digest shape, segment size, a size the format can encode, a
 * header of the parameters' length whose length byte says so), put
 * files in canonical order, refuse
 * duplicate paths and a path that is also another's directory, and set
 * total_size. Returns SP_OK or SP_E_INTEGRITY with *reason set to a
 * stable code.
 */
SP_MUST_CHECK enum sp_err manifest_check(struct manifest *m,
					 const char **reason);

/*
 * Parse len bytes of manifest JSON (at most MANIFEST_MAX) and run
 * manifest_check(). Returns SP_OK with a new manifest in *out;
 * SP_E_INTEGRITY with *reason set when the document breaks a rule;
 * SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err manifest_parse(const char *buf, size_t len,
					 struct manifest **out,
					 const char **reason);

/*
 * Append the manifest as JSON to sb (whose ceiling should be
 * MANIFEST_MAX). Call manifest_check() first. Returns SP_OK, or
 * SP_E_INTERNAL when sb overflowed.
 */
SP_MUST_CHECK enum sp_err manifest_print(const struct manifest *m,
					 struct strbuf *sb);

/* Wipe the paths (model file names are confidential) and free. NULL ok. */
void manifest_free(struct manifest *m);

#endif
