/*
 * seal.h: the model owner's command, `sealpod-init seal`.
 */
#ifndef SEALPOD_SEAL_H
#define SEALPOD_SEAL_H

#include <stdint.h>

#include "err.h"

struct seal_opts {
	const char *key_file;  /* 32 raw bytes; created (0600) when absent */
	const char *in_dir;    /* plaintext model directory */
	const char *out_dir;   /* receives manifest.sealed and blobs/ */
	uint64_t version;      /* manifest version, default 1 */
	uint64_t segment_size; /* ciphertext segment, default 1 MiB */
	const char *sign_key;  /* PEM P-256 private key: write manifest.sig;
				  NULL: none (a stale one is removed) */
	int follow_external;   /* 1: seal links that resolve outside in_dir
				  (counted in the log, never named); 0:
				  refuse them */
};

/*
 * Seal every regular file under in_dir. out_dir must be absent, empty,
 * or a store whose manifest.sealed opens with the key (an update: its
 * blobs are kept, the manifest replaced); anything else is refused
 * before the key is created. A link is sealed as its file when that
 * file lies inside in_dir (or opts->follow_external). On failure the
 * blobs, directories and key file this run created are removed.
 * Returns SP_OK or a category (SP_E_USAGE for refused input or output).
 */
SP_MUST_CHECK enum sp_err seal_run(const struct seal_opts *opts);

#endif
