/*
 * seal.h: the model owner's command, `sealpod-init seal`.
 */
#ifndef SEALPOD_SEAL_H
#define SEALPOD_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct manifest;
struct secret;

#define SEAL_KEY_LEN	  32 /* the model key: raw bytes in its file */
#define SEAL_TMP_RAND	  16
#define SEAL_TMP_NAME_MAX (5 + 2 * SEAL_TMP_RAND + 1) /* ".tmp-" + hex */

struct seal_opts {
	const char *key_file;  /* 32 raw bytes; created (0600) when absent */
	const char *in_dir;    /* plaintext model directory */
	const char *out_dir;   /* receives manifest.sealed and blobs/ */
	uint64_t version;      /* manifest version, default 1 */
	const char *model_id;  /* the manifest's "model"; NULL: none */
	uint64_t segment_size; /* ciphertext segment, default 1 MiB */
	const char *sign_key;  /* PEM P-256 private key: write manifest.sig;
				  NULL: none (a stale one is removed) */
	int follow_external;   /* 1: seal links that resolve outside in_dir
				  (counted in the log, never named); 0:
				  refuse them */
	int allow_empty;       /* 1: an in_dir without a file seals an
				  empty store; 0: refused (input_empty) */
};

/*
 * Seal every regular file under in_dir. out_dir must be absent, empty,
 * or a store whose manifest.sealed opens with the key (an update: its
 * blobs are kept, the manifest replaced) and names no model other than
 * model_id; anything else is refused before the key is created. A link is
 * sealed as its file when that file lies inside in_dir (or
 * opts->follow_external). On failure the blobs, directories and key file this
 * run created are removed. Returns SP_OK or a category (SP_E_USAGE for refused
 * input or output).
 */
SP_MUST_CHECK enum sp_err seal_run(const struct seal_opts *opts);

/*
 * The pieces below are shared with other writers of a sealed store
 * (kserve.c). Each takes the stable log event name(s) of its caller, so
 * a failure is reported under the command that met it.
 */

/* Log events of the key steps: key_failed for a refused or unusable
 * key file, write_failed when writing a new one fails, key_created when
 * a new key was written. */
struct seal_key_events {
	const char *key_failed;
	const char *write_failed;
	const char *key_created;
};

/*
 * Write all len bytes to fd, retrying on EINTR. On failure logs event
 * with reason "write_failed". Returns SP_OK or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err seal_write_all(int fd, const void *buf, size_t len,
					 const char *event);

/*
 * Read the key in path: a private regular file (file_check_private) of
 * exactly SEAL_KEY_LEN bytes. On failure logs event (key_file_not_private
 * or key_file_invalid). Returns SP_OK with *out the caller's to
 * secret_free(), SP_E_USAGE or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err seal_key_read(const char *path, const char *event,
					struct secret **out);

/*
 * Use the key in path (seal_key_read), or create it when absent: O_EXCL,
 * mode 0600, SEAL_KEY_LEN random bytes, fsync; then *created is 1
 * (created may be NULL). A key file that could not be completed is
 * removed. Returns SP_OK, SP_E_USAGE or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err seal_key_load(const char *path,
					const struct seal_key_events *ev,
					struct secret **out, int *created);

/*
 * Create a hidden temporary blob ".tmp-<random hex>" in blobs_fd
 * (O_EXCL, no link followed, mode 0644); its name goes to tmp, which
 * holds SEAL_TMP_NAME_MAX + 1 bytes. On failure tmp is "", *fd is -1 and
 * event is logged (blob_create_failed). Returns SP_OK or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err seal_blob_tmp_open(int blobs_fd, const char *event,
					     char *tmp, int *fd);

/*
 * Check m, print it and seal it under key as manifest.sealed is sealed
 * (default parameters, MANIFEST_AAD). On failure logs event (the
 * manifest_check reason, or manifest_too_large). Returns SP_OK with *ct
 * the caller's to free(), SP_E_USAGE or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err
seal_manifest_encrypt(struct manifest *m, const struct secret *key,
		      const char *event, unsigned char **ct, size_t *ct_len);

/*
 * Write ct atomically as out_dir/manifest.sealed (mode 0644). On failure
 * logs event (manifest_write_failed). Returns SP_OK, SP_E_USAGE (path
 * too long), SP_E_TARGET or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err seal_manifest_store(const char *out_dir,
					      const unsigned char *ct,
					      size_t ct_len, const char *event);

#endif
